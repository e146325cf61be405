"""Leaving the container's root through a descriptor the runtime left open
(the runc CVE-2024-21626 class) or through a working directory the image
controls: every route ends in a clear start failure or in a working
directory inside the container, never on the host.

A canary file in the data dir (which holds the container's own directory)
must never be listed, and the host's /etc/shadow must never be read."""
import os
import uuid

import pytest

# The shim's descriptors (container dir, signalfd, timerfd, log, sockets)
# were numbered from 3 up: try them all and some more.
FD_NUMBERS = range(3, 16)
# From a host directory, enough ".." to reach the host's root.
ESCAPE = "pwd; cd ../../../../../../../../..; ls -a; head -c 64 etc/shadow; true"


@pytest.fixture
def canary(orch):
    name = "HOST-CANARY-" + uuid.uuid4().hex
    with open(os.path.join(orch.data_dir, name), "w"):
        pass
    return name


def host_shadow_head():
    try:
        with open("/etc/shadow") as f:
            return f.read(64)
    except OSError:
        return None


def assert_contained(p, canary, what):
    assert canary not in p.stdout, "%s: the host's data dir is visible:\n%s" % (what, p.stdout)
    shadow = host_shadow_head()
    if shadow:
        assert shadow not in p.stdout, "%s: the host's /etc/shadow was read" % what
    assert "(unreachable)" not in p.stdout, what
    if p.returncode != 0:
        assert "working directory" in p.stderr, "%s: no clear reason: %r" % (what, p.stderr)
    else:
        # It started: then only inside the container.
        assert p.stdout.startswith("/"), "%s: %r" % (what, p.stdout)


@pytest.mark.parametrize("fd", FD_NUMBERS)
def test_workdir_flag_through_proc_self_fd(orch, canary, fd):
    p = orch.run("--rm", "-w", "/proc/self/fd/%d" % fd, "sh", "-c", ESCAPE)
    assert_contained(p, canary, "-w /proc/self/fd/%d" % fd)
    assert p.returncode != 0, "a /proc/self/fd working directory started: %r" % p.stdout


@pytest.mark.parametrize("fd", FD_NUMBERS)
def test_image_workdir_through_proc_self_fd(orch, canary, fd):
    p = orch.run("--rm", "sh", "-c", ESCAPE,
                 image_config={"WorkingDir": "/proc/self/fd/%d" % fd,
                               "Env": ["PATH=/bin:/usr/bin"]})
    assert_contained(p, canary, "WorkingDir /proc/self/fd/%d" % fd)
    assert p.returncode != 0


def _symlink_layer(tmp_path, links):
    layer = tmp_path / ("links-" + uuid.uuid4().hex[:8])
    layer.mkdir()
    for name, target in links.items():
        os.symlink(target, str(layer / name))
    return str(layer)


@pytest.mark.parametrize("target", ["/proc/self/fd/5", "/proc/self/cwd", "/proc/1/cwd",
                                    "/proc/self/root/../../..", "../../../../../.."])
def test_image_symlink_as_workdir(orch, canary, tmp_path, target):
    """A symlink in the image used as the working directory resolves inside
    the container (or fails); magic links are never followed."""
    layer = _symlink_layer(tmp_path, {"wd": target})
    p = orch.run("--rm", "-w", "/wd", "sh", "-c", ESCAPE, layers=[orch.layer, layer])
    assert_contained(p, canary, "/wd -> %s" % target)


def test_missing_workdir_below_a_symlink_is_created_inside(orch, canary, tmp_path):
    """The workdir is created when missing, as Docker does, and a symlinked
    parent cannot place it outside the root."""
    layer = _symlink_layer(tmp_path, {"up": "../../../../../.."})
    p = orch.run("--rm", "-w", "/up/made/here", "sh", "-c", "pwd; ls -a /; ls -a /made",
                 layers=[orch.layer, layer])
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines()[0] == "/made/here", p.stdout
    assert canary not in p.stdout


def test_container_has_only_stdio_open(orch):
    """PID 1 and its children inherit nothing of the runtime's descriptors."""
    p = orch.run("--rm", "sh", "-c", "ls /proc/1/fd; echo ---; ls /proc/$$/fd; true")
    assert p.returncode == 0, p.stderr
    init_fds, shell_fds = p.stdout.split("---")
    assert init_fds.split() == ["0", "1", "2"], p.stdout
    assert shell_fds.split() == ["0", "1", "2"], p.stdout


def test_ordinary_workdirs_still_work(orch):
    for workdir, want in (("/tmp", "/tmp"), ("/", "/"), ("/new/dir", "/new/dir"),
                          ("/tmp/../etc", "/etc")):
        p = orch.run("--rm", "-w", workdir, "pwd")
        assert p.returncode == 0 and p.stdout.strip() == want, (workdir, p.stdout, p.stderr)
