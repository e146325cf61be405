"""Device control on every cgroup layout (DESIGN.md section 4): a container's
root may mknod any device, but may open only the nodes its /dev has (null,
zero, full, random, urandom, tty, ptmx, pts); /dev is nodev; and a container
never starts without device control.

Each test runs on each layout orch can meet, made for orch alone in a private
mount namespace (`unshare --mount`, one per orch command, set up the same way
each time; the shim of `orch run` stays in the namespace of its run):

  host          the machine as it is (here hybrid: the v1 devices controller)
  hybrid-ebpf   a hybrid host whose v1 devices controller is not mounted: the
                v1 hierarchies are used for limits and the container gets an
                eBPF device program on its cgroup in the cgroup2 hierarchy
  v2            cgroup2 mounted at /sys/fs/cgroup, so orch's layout
                detection (statfs of /sys/fs/cgroup) picks the unified
                manager and its eBPF device program.  On a hybrid host the
                memory, cpu and pids controllers stay bound to v1, so the
                cgroup2 hierarchy has none of them: these containers run
                without limits (--pids-limit 0), device control needs no
                controller
  none          neither the devices controller nor any cgroup2 mount: orch
                must refuse to start the container

Inside a container /tmp is on the overlay rootfs, so a denied open there may
be refused by nodev (EACCES) as well as by the device control (EPERM);
test_the_cgroup_itself_refuses_the_open pins the device control alone by
opening nodes from a host process moved into the container's cgroup.
"""
import os
import stat
import subprocess

import pytest

from orch_test import require
from orch_test.containers import CGROUP_ROOT, OrchRunner, clean_up

LAYOUTS = ("host", "hybrid-ebpf", "v2")
DENIED = ("Operation not permitted", "Permission denied")

# Nodes a container must never open: (name, type, major, minor).  The host
# console (c 5:1) was on the v1 list once.
FORBIDDEN = [("sda", "b", 8, 0), ("loop0", "b", 7, 0), ("mem", "c", 1, 1),
             ("kmsg", "c", 1, 11), ("console", "c", 5, 1)]
# The host's own disk: the block device of its root file system, if it has one.
_ROOT_DEV = os.stat("/").st_dev
if os.major(_ROOT_DEV) != 0:
    FORBIDDEN.append(("hostdisk", "b", os.major(_ROOT_DEV), os.minor(_ROOT_DEV)))
# Read from where an open is allowed by mistake: reading the others could block.
READ_BACK = ("sda", "loop0", "mem", "hostdisk")


def cgroup_mounts():
    """[(mount point, fstype, super options)] of the cgroup file systems here."""
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, right = line.split(" - ", 1)
            fstype, _source, options = right.split()[:3]
            if fstype in ("cgroup", "cgroup2"):
                found.append((left.split()[4], fstype, options.split(",")))
    return found


def devices_mounts():
    return [m for m, t, o in cgroup_mounts() if t == "cgroup" and "devices" in o]


def cgroup2_mounts():
    return [m for m, t, _ in cgroup_mounts() if t == "cgroup2"]


def layout_setup(layout):
    """Shell commands that make the layout in a fresh private mount namespace."""
    if layout == "hybrid-ebpf":
        require.require(devices_mounts() and cgroup2_mounts(),
                        "a hybrid layout needs the v1 devices controller and a cgroup2 mount")
        return ["umount -l %s" % m for m in devices_mounts()]
    if layout == "v2":
        return ["mount -t cgroup2 cgroup2 %s" % CGROUP_ROOT]
    if layout == "none":
        # The v1 controllers orch needs for limits stay: only device
        # control is missing.  On a pure v2 host the cgroup2 mount is
        # /sys/fs/cgroup itself, and without it orch sees a v1 host with
        # nothing mounted.
        return ["umount -l %s" % m for m in devices_mounts() + cgroup2_mounts()]
    return []


def write_wrapper(path, orch_bin, setup):
    """An executable that runs orch_bin in a new private mount namespace after setup."""
    script = " && ".join(setup + ['exec "$0" "$@"'])
    with open(path, "w") as f:
        f.write("#!/bin/sh\n"
                "exec unshare --mount --propagation private -- /bin/sh -c '%s' %s \"$@\"\n"
                % (script, orch_bin))
    os.chmod(path, 0o755)
    return path


def cgroup2_root():
    """The cgroup2 hierarchy as the host sees it (where v2 and hybrid-ebpf put containers)."""
    mounts = cgroup2_mounts()
    return mounts[0] if mounts else None


def unified_has(controller):
    root = cgroup2_root()
    try:
        with open(os.path.join(root, "cgroup.controllers")) as f:
            return controller in f.read().split()
    except (OSError, TypeError):
        return False


class LayoutRunner(OrchRunner):
    """An OrchRunner whose `orch run` passes extra options first."""

    def __init__(self, *args, extra_run_args=(), **kw):
        super().__init__(*args, **kw)
        self.extra_run_args = list(extra_run_args)

    def run_args(self, *args, **kw):
        return super().run_args(*(self.extra_run_args + list(args)), **kw)


def make_runner(layout, orch_bin, tmp_path, bb_layer):
    require.require_tools("unshare")
    setup = layout_setup(layout)
    data = tmp_path / ("orchdata-" + layout)
    data.mkdir()
    parent = "orch-test-dev-%d-%s" % (os.getpid(), os.urandom(3).hex())
    binary = orch_bin
    extra = []
    if setup:
        binary = write_wrapper(str(tmp_path / ("orch-" + layout)), orch_bin, setup)
    if layout == "v2" and not unified_has("pids"):
        extra = ["--pids-limit", "0"]
    runner = LayoutRunner(binary, str(data), bb_layer, parent, extra_run_args=extra)
    runner.layout = layout
    return runner


@pytest.fixture(params=LAYOUTS)
def orch_on(request, orch_bin, tmp_path, bb_layer):
    runner = make_runner(request.param, orch_bin, tmp_path, bb_layer)
    yield runner
    clean_up(runner)


def device_cgroup_dir(runner, cid):
    """The container's cgroup directory that carries its device control, host view."""
    if runner.layout == "host" and devices_mounts():
        return os.path.join(devices_mounts()[0], runner.cgroup_parent, cid)
    return os.path.join(cgroup2_root(), runner.cgroup_parent, cid)


def test_default_nodes_work(orch_on):
    script = ("echo x > /dev/null && echo null-ok; "
              "head -c 4 /dev/zero | wc -c; head -c 4 /dev/random | wc -c; "
              "head -c 4 /dev/urandom | wc -c; "
              "echo x 2>&1 > /dev/full | grep -q 'No space left' && echo full-ok; "
              "exec 3<>/dev/ptmx && echo ptmx-ok && ls /dev/pts; "
              "(exec 4</dev/pts/0); (exec 5</dev/tty); "
              "[ -e /dev/console ] || echo no-console")
    p = orch_on.run("--rm", "sh", "-c", script, check=0)
    out = p.stdout.split()
    assert out[:4] == ["null-ok", "4", "4", "4"], p.stdout + p.stderr
    assert "full-ok" in out and "ptmx-ok" in out and "0" in out and "no-console" in out
    # /dev/tty without a controlling terminal and the locked pts slave fail
    # in their drivers, not in the device control.
    assert "Operation not permitted" not in p.stderr, p.stderr


def test_mknod_is_allowed_but_opening_is_refused(orch_on):
    lines = []
    for name, kind, major, minor in FORBIDDEN:
        node = "/tmp/" + name
        lines.append("mknod %s %s %d %d && echo %s-mknod" % (node, kind, major, minor, name))
        if name in READ_BACK:
            lines.append("head -c 1 %s > /dev/null && echo %s-READ" % (node, name))
        lines.append("(exec 3<%s) && echo %s-OPENED" % (node, name))
        lines.append("(exec 3>%s) && echo %s-WRITABLE" % (node, name))
    p = orch_on.run("--rm", "sh", "-c", "; ".join(lines) + "; exit 0", check=0)
    for name, _, _, _ in FORBIDDEN:
        assert name + "-mknod" in p.stdout.split(), p.stdout + p.stderr
        for verb in ("READ", "OPENED", "WRITABLE"):
            assert "%s-%s" % (name, verb) not in p.stdout, p.stdout + p.stderr
    errors = [line for line in p.stderr.splitlines() if line.strip()]
    reads = [n for n, _, _, _ in FORBIDDEN if n in READ_BACK]
    assert len(errors) == 2 * len(FORBIDDEN) + len(reads), p.stderr
    assert all(any(d in line for d in DENIED) for line in errors), p.stderr


def test_the_cgroup_itself_refuses_the_open(orch_on, tmp_path):
    """A host process (every capability, a node on a mount that allows
    devices) moved into the container's cgroup: only the device control
    stands between it and the device."""
    cid = orch_on.detach("sleep", "60")
    cgdir = device_cgroup_dir(orch_on, cid)
    assert os.path.isdir(cgdir), cgdir
    nodes = tmp_path / "nodes"
    nodes.mkdir()
    for name, kind, major, minor in FORBIDDEN + [("null", "c", 1, 3)]:
        mode = (stat.S_IFBLK if kind == "b" else stat.S_IFCHR) | 0o600
        os.mknod(str(nodes / name), mode, os.makedev(major, minor))
    script = ['echo $$ > %s/cgroup.procs || exit 9' % cgdir,
              "mknod %s/made c 1 1 && echo mknod-ok" % nodes]
    for name, _, _, _ in FORBIDDEN:
        script.append("(exec 3<%s/%s) && echo %s-OPENED" % (nodes, name, name))
    script.append("echo x > %s/null && echo null-ok" % nodes)
    p = subprocess.run(["sh", "-c", "; ".join(script)], capture_output=True, text=True,
                       timeout=30)
    assert p.returncode != 9, p.stderr
    assert "mknod-ok" in p.stdout and "null-ok" in p.stdout, p.stdout + p.stderr
    assert "OPENED" not in p.stdout, p.stdout + p.stderr
    refused = [line for line in p.stderr.splitlines() if "Operation not permitted" in line]
    assert len(refused) == len(FORBIDDEN), p.stderr
    orch_on.verb("rm", "-f", cid)


def test_dev_is_nodev_and_its_nodes_still_work(orch_on):
    p = orch_on.run("--rm", "sh", "-c",
                    "cat /proc/self/mountinfo; mknod /dev/null2 c 1 3 && echo mknod-ok; "
                    "echo x > /dev/null2 && echo NULL2-WROTE; echo x > /dev/null && echo null-ok",
                    check=0)
    options = {}
    for line in p.stdout.splitlines():
        fields = line.split()
        if len(fields) > 5 and fields[4].startswith("/dev"):
            options[fields[4]] = fields[5].split(",")
    for target in ("/dev", "/dev/shm", "/dev/mqueue"):
        assert "nodev" in options[target], (target, options)
    assert "mknod-ok" in p.stdout and "null-ok" in p.stdout
    # A node made in /dev after the start cannot be used, even an allowed one.
    assert "NULL2-WROTE" not in p.stdout
    assert "Permission denied" in p.stderr


def test_no_device_control_refuses_to_start(orch_bin, tmp_path, bb_layer):
    runner = make_runner("none", orch_bin, tmp_path, bb_layer)
    try:
        p = runner.run("--name", "nodevctl", "sh", "-c", "echo RAN", check=None)
        assert p.returncode != 0 and "RAN" not in p.stdout, p.stdout + p.stderr
        assert "no device control" in p.stderr, p.stderr
        st = [c for c in runner.ps().values() if c["name"] == "nodevctl"]
        assert st and st[0]["status"] == "exited", st
        # Nothing was left in any hierarchy.
        for base in [CGROUP_ROOT] + [os.path.join(CGROUP_ROOT, d) for d in os.listdir(CGROUP_ROOT)]:
            parent = os.path.join(base, runner.cgroup_parent)
            if os.path.isdir(parent):
                assert not [e for e in os.listdir(parent)
                            if os.path.isdir(os.path.join(parent, e))], parent
    finally:
        clean_up(runner)
