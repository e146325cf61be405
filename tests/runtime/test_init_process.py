"""orch's init as a container's PID 1 (runtime/init_process.h; the agent
sets it for ECS's linuxParameters.initProcessEnabled): the command runs as
its child, orphans are reaped, signals reach the command, the command's
exit status is the container's, the init's binary is a sealed in-memory
copy (never the host's file), and a command that cannot be executed fails
the start as it does without an init.  Without it, PID 1 is the command.

`orch run` has no flag for the init, so a container is made by `orch run`
(which runs it once), given the init and a command in its config.json,
set back to "created" and started by its own `orch shim`, as
container_start would start it.

The init runs inside the container, whose root has none of the host's
shared libraries: it needs the statically linked build (build/).  A
dynamically linked orch (build-asan/) must refuse such a container with a
clear reason instead, and against one only that is tested (the tests of
the init itself are not collected there: they have nothing to run)."""
import hashlib
import json
import os
import subprocess
import time
import uuid

import pytest

from orch_test.binary import orch_bin
from orch_test.wait import wait_until


def statically_linked(path):
    out = subprocess.run(["file", "-L", path], capture_output=True, text=True).stdout
    return "statically linked" in out or "static-pie linked" in out


STATIC = statically_linked(orch_bin())


@pytest.fixture
def shims():
    """Shim processes a test started; reaped at the end."""
    started = []
    yield started
    for p in started:
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def start(orch, shims, *command, init=True, wait_running=True):
    """A container running command, with orch's init as PID 1 when init;
    returns its ID once it runs (or has ended)."""
    name = "init-" + uuid.uuid4().hex[:8]
    orch.run("--name", name, "true", check=0)
    cid = next(c for c, st in orch.ps().items() if st["name"] == name)
    d = orch.container_dir(cid)
    with open(os.path.join(d, "config.json")) as f:
        config = json.load(f)
    config["process"]["args"] = list(command)
    config["initProcess"] = init
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(config, f)
    with open(os.path.join(d, "state.json")) as f:
        state = json.load(f)
    state.update(status="created", pid=0, shimPid=0, exitCode=0, exitSignal=0, error="")
    with open(os.path.join(d, "state.json"), "w") as f:
        json.dump(state, f)
    shim_log = open(os.path.join(orch.data_dir, "shim-%s.log" % name), "w")
    shims.append(subprocess.Popen([orch.binary, "shim", "--data", orch.data_dir, cid],
                                  stdin=subprocess.DEVNULL, stdout=shim_log, stderr=shim_log,
                                  start_new_session=True))
    shim_log.close()
    if wait_running:
        assert wait_until(lambda: orch.state(cid)["status"] != "created", timeout=15), \
            orch.state(cid)
    return cid


def run_to_end(orch, shims, *command, init=True):
    """(final state, stdout) of a container that runs command to its end."""
    cid = start(orch, shims, *command, init=init)
    st = orch.wait_status(cid, "exited", timeout=30)
    return st, orch.verb("logs", cid).stdout


def children(pid):
    """{pid: state letter} of the host processes whose parent is pid."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found[int(entry)] = fields[0]
    return found


# PID 1's descriptors are listed into a file first: inside $(...) the
# listing would be the subshell's.
SHOW = ('echo self=$$; echo "cmdline=$(tr "\\0" " " </proc/1/cmdline)"; '
        'echo exe=$(readlink /proc/1/exe); ls /proc/1/fd >/dev/shm/fd1; '
        'echo fd1=$(cat /dev/shm/fd1)')


def test_pid1_is_the_init_and_the_command_its_child(orch, shims):
    st, out = run_to_end(orch, shims, "sh", "-c", SHOW)
    lines = dict(line.split("=", 1) for line in out.splitlines())
    assert st["exitCode"] == 0, (st, out)
    assert lines["self"] == "2", out
    assert lines["cmdline"].startswith("orch init "), out
    assert lines["cmdline"].rstrip().endswith(" -- sh -c " + SHOW), out
    assert lines["exe"].startswith("/memfd:orch"), out
    # Only stdio in the init (the CVE-2024-21626 rule).
    assert lines["fd1"].split() == ["0", "1", "2"], out


def test_without_the_init_pid1_is_the_command(orch, shims):
    st, out = run_to_end(orch, shims, "sh", "-c", SHOW, init=False)
    lines = dict(line.split("=", 1) for line in out.splitlines())
    assert lines["self"] == "1", out
    assert lines["cmdline"].startswith("sh -c "), out
    assert lines["exe"] == "/bin/busybox", out


# An orphan (the subshell's background sleep) goes to PID 1, which here
# would be `sleep 30` itself without the init: it never reaps it.
ORPHAN = "(sleep 0.2 &); exec sleep 30"


def test_orphans_are_reaped(orch, shims):
    cid = start(orch, shims, "sh", "-c", ORPHAN)
    init_pid = orch.state(cid)["pid"]
    time.sleep(1.5)
    kids = children(init_pid)
    # The command (sleep 30) is left, and no zombie.
    assert list(kids.values()) == ["S"], kids
    command_pid = list(kids)[0]
    assert children(command_pid) == {}, children(command_pid)
    orch.verb("stop", "-t", "5", cid)


def test_without_the_init_an_orphan_stays_a_zombie(orch, shims):
    """The control: the same command as PID 1 leaves the orphan a zombie."""
    cid = start(orch, shims, "sh", "-c", ORPHAN, init=False)
    pid = orch.state(cid)["pid"]
    assert wait_until(lambda: "Z" in children(pid).values(), timeout=5), children(pid)
    orch.verb("stop", "-t", "5", cid)


TRAPS = ("trap 'echo got-usr1' USR1; trap 'echo got-term; exit 42' TERM; "
         "echo ready; while true; do sleep 0.1; done")


def test_signals_reach_the_command(orch, shims):
    cid = start(orch, shims, "sh", "-c", TRAPS)
    assert wait_until(lambda: "ready" in orch.verb("logs", cid).stdout)
    orch.verb("kill", "-s", "USR1", cid)
    assert wait_until(lambda: "got-usr1" in orch.verb("logs", cid).stdout), \
        orch.verb("logs", cid).stdout
    assert orch.state(cid)["status"] == "running"
    started = time.monotonic()
    orch.verb("stop", "-t", "10", cid)
    # The command's trap ran: no SIGKILL after the 10 s.
    assert time.monotonic() - started < 5
    st = orch.state(cid)
    assert (st["status"], st["exitCode"]) == ("exited", 42), st
    assert "got-term" in orch.verb("logs", cid).stdout


@pytest.mark.parametrize("command, code", [
    ("exit 7", 7),
    ("exit 0", 0),
    ("kill -KILL $$", 137),     # 128 + the signal that ended the command
    ("kill -TERM $$", 143),
])
def test_the_exit_status_is_the_commands(orch, shims, command, code):
    st, _ = run_to_end(orch, shims, "sh", "-c", command)
    assert st["exitCode"] == code, st


def test_the_init_binary_is_a_sealed_copy(orch, shims):
    with open(orch.binary, "rb") as f:
        before = hashlib.sha256(f.read()).hexdigest()
    cid = start(orch, shims, "sh", "-c",
                "echo x >/proc/1/exe && echo wrote-from-inside; exec sleep 30")
    pid = orch.state(cid)["pid"]
    exe = os.readlink("/proc/%d/exe" % pid)
    assert exe.startswith("/memfd:orch"), exe
    assert os.path.realpath(orch.binary) not in exe
    assert os.stat("/proc/%d/exe" % pid).st_ino != os.stat(orch.binary).st_ino
    with pytest.raises(OSError):
        with open("/proc/%d/exe" % pid, "r+b", buffering=0) as f:
            f.write(b"\x7fELF-overwritten")
    # Only stdio in the init and in the command (the CVE-2024-21626 rule).
    assert sorted(os.listdir("/proc/%d/fd" % pid)) == ["0", "1", "2"]
    assert wait_until(lambda: children(pid))
    for command_pid in children(pid):
        assert sorted(os.listdir("/proc/%d/fd" % command_pid)) == ["0", "1", "2"]
    orch.verb("stop", "-t", "5", cid)
    assert "wrote-from-inside" not in orch.verb("logs", cid).stdout
    with open(orch.binary, "rb") as f:
        assert hashlib.sha256(f.read()).hexdigest() == before


def test_a_missing_command_fails_the_start(orch, shims):
    cid = start(orch, shims, "no-such-command")
    st = orch.wait_status(cid, "exited")
    assert st["exitCode"] == 127, st
    assert "executable file not found" in st.get("error", ""), st


def test_orch_run_init_makes_the_init_pid1(orch, shims):
    p = orch.run("--rm", "--init", "sh", "-c", "echo self=$$; tr '\\0' ' ' </proc/1/cmdline",
                 check=0)
    assert "self=2" in p.stdout, p.stdout
    assert "orch init " in p.stdout, p.stdout
    p = orch.run("--rm", "sh", "-c", "echo self=$$", check=0)
    assert "self=1" in p.stdout, p.stdout


def test_a_dynamic_orch_refuses_the_init(orch, shims):
    cid = start(orch, shims, "sh", "-c", "echo ran")
    st = orch.wait_status(cid, "exited", timeout=30)
    assert st["exitCode"] != 0, st
    assert "needs a statically linked orch" in st.get("error", ""), st
    assert "ran" not in orch.verb("logs", cid).stdout
    p = orch.run("--rm", "--init", "sh", "-c", "echo ran")
    assert p.returncode != 0 and "ran" not in p.stdout, p
    assert "needs a statically linked orch" in p.stderr, p.stderr


# Each build runs what it can do: the static one the init, a dynamic one the refusal.
for _name in [n for n in list(globals()) if n.startswith("test_")]:
    if STATIC == (_name == "test_a_dynamic_orch_refuses_the_init"):
        del globals()[_name]
del _name
