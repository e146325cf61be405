"""Fixtures and helpers of the container tests (tests/runtime/test_container_*.py).

A pytest plugin module kept apart from the generic conftest.py (which the
image side owns); the test modules import what they use from here.

  bb_layer      a one-layer rootfs directory built from Debian's busybox-static
                (/bin/busybox + applet symlinks, /etc/passwd and /etc/group with
                root, app (1000) in wheel and audio, nobody), used through the
                hidden `orch run --rootfs-layer DIR` stand-in for an image
  orch          an OrchRunner on a fresh data dir and a cgroup parent of its own;
                every container left is force-removed and its parent cgroup
                deleted at teardown
  leaks(...)    what a container left behind: mounts, cgroup dirs, processes,
                files
"""
import glob
import json
import os
import shutil
import signal
import subprocess
import time
import uuid

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CGROUP_ROOT = "/sys/fs/cgroup"

PASSWD = """root:x:0:0:root:/root:/bin/sh
app:x:1000:1000:app:/home/app:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
"""
GROUP = """root:x:0:
wheel:x:10:app,other
audio:x:29:app
app:x:1000:
nogroup:x:65534:
"""


def binary():
    path = os.environ.get("ORCH_BIN") or os.path.join(ROOT, "build-dev", "orch")
    if not os.access(path, os.X_OK):
        pytest.skip("no orch binary at %s (set ORCH_BIN)" % path)
    return path


def build_busybox_layer(path):
    if not os.path.exists("/bin/busybox"):
        pytest.skip("busybox-static is not installed")
    for d in ("bin", "etc", "tmp", "root", "home/app", "srv"):
        os.makedirs(os.path.join(path, d), exist_ok=True)
    os.chmod(os.path.join(path, "tmp"), 0o1777)
    shutil.copy2("/bin/busybox", os.path.join(path, "bin", "busybox"))
    applets = subprocess.run(["/bin/busybox", "--list"], capture_output=True, text=True,
                             check=True).stdout.split()
    for applet in applets:
        if applet != "busybox":
            os.symlink("busybox", os.path.join(path, "bin", applet))
    with open(os.path.join(path, "etc", "passwd"), "w") as f:
        f.write(PASSWD)
    with open(os.path.join(path, "etc", "group"), "w") as f:
        f.write(GROUP)
    os.chown(os.path.join(path, "home", "app"), 1000, 1000)
    return path


@pytest.fixture(scope="session")
def bb_layer(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("container tests need root")
    return build_busybox_layer(str(tmp_path_factory.mktemp("bb") / "layer"))


class OrchRunner:
    """Runs the local container verbs of one binary on one data dir."""

    def __init__(self, binary, data_dir, layer, cgroup_parent):
        self.binary = binary
        self.data_dir = data_dir
        self.layer = layer
        self.cgroup_parent = cgroup_parent

    def run_args(self, *args, image_config=None, layers=None):
        """argv of `orch run` with the test rootfs; args are run's own."""
        argv = [self.binary, "run", "--data", self.data_dir,
                "--cgroup-parent", self.cgroup_parent]
        for layer in (layers or [self.layer]):
            argv += ["--rootfs-layer", layer]
        if image_config is not None:
            path = os.path.join(self.data_dir, "image-config-%s.json" % uuid.uuid4().hex[:8])
            with open(path, "w") as f:
                json.dump({"config": image_config}, f)
            argv += ["--image-config", path]
        opts, rest = [], list(args)
        # Options before the image name, the command after it.
        while rest and rest[0].startswith("-") and rest[0] != "--":
            opt = rest.pop(0)
            opts.append(opt)
            if opt in ("-e", "-w", "-u", "-m", "--name", "--entrypoint", "--hostname",
                       "--memory-reservation", "--cpus", "--cpu-units", "--pids-limit",
                       "--network", "--stop-timeout", "--user", "--env", "--workdir"):
                opts.append(rest.pop(0))
        return argv + opts + ["test-image"] + rest

    def run(self, *args, image_config=None, layers=None, timeout=60, check=None):
        p = subprocess.run(self.run_args(*args, image_config=image_config, layers=layers),
                           capture_output=True, text=True, timeout=timeout)
        if check is not None and p.returncode != check:
            raise AssertionError("orch run exited %d, wanted %d\nstdout: %s\nstderr: %s" %
                                 (p.returncode, check, p.stdout, p.stderr))
        return p

    def popen(self, *args, **kw):
        return subprocess.Popen(self.run_args(*args), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, **kw)

    def verb(self, verb, *args, check=True, timeout=60):
        p = subprocess.run([self.binary, verb, "--data", self.data_dir] + list(args),
                           capture_output=True, text=True, timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError("orch %s %s failed (%d):\n%s%s" %
                                 (verb, " ".join(args), p.returncode, p.stdout, p.stderr))
        return p

    def detach(self, *args, **kw):
        p = self.run("-d", *args, check=0, **kw)
        cid = p.stdout.strip()
        assert len(cid) == 64, p.stdout + p.stderr
        return cid

    def ps(self, all_=True):
        out = self.verb("ps", "--json", *(["-a"] if all_ else [])).stdout
        return {c["id"]: c for c in json.loads(out)}

    def state(self, cid):
        return self.ps().get(cid)

    def wait_status(self, cid, status, timeout=15):
        deadline = time.time() + timeout
        while time.time() < deadline:
            st = self.state(cid)
            if st and st["status"] == status:
                return st
            time.sleep(0.05)
        raise AssertionError("container %s not %s: %r" % (cid, status, self.state(cid)))

    def container_dir(self, cid):
        return os.path.join(self.data_dir, "containers", cid)


def cgroup_dirs(parent, cid):
    """Every cgroup directory of the container, in any hierarchy."""
    found = []
    for base in [CGROUP_ROOT] + glob.glob(CGROUP_ROOT + "/*"):
        d = os.path.join(base, parent, cid)
        if os.path.isdir(d):
            found.append(d)
    return found


def cgroup_file(parent, cid, controller, name):
    """Path of a control file on v1 (controller hierarchy) or v2."""
    for base in (os.path.join(CGROUP_ROOT, controller), CGROUP_ROOT):
        path = os.path.join(base, parent, cid, name)
        if os.path.exists(path):
            return path
    return None


def processes_mentioning(text):
    """PIDs whose command line or cgroup mentions text (the shim, the container)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        for name in ("cmdline", "cgroup"):
            try:
                with open("/proc/%s/%s" % (entry, name), "rb") as f:
                    if text.encode() in f.read():
                        pids.append(int(entry))
                        break
            except OSError:
                pass
    return pids


def mounts_mentioning(text):
    with open("/proc/self/mountinfo") as f:
        return [line for line in f if text in line]


def leaks(orch, cid):
    """Everything a removed container must not have left; empty when clean."""
    found = {}
    if os.path.exists(orch.container_dir(cid)):
        found["dir"] = orch.container_dir(cid)
    if mounts_mentioning(cid):
        found["mounts"] = mounts_mentioning(cid)
    if cgroup_dirs(orch.cgroup_parent, cid):
        found["cgroups"] = cgroup_dirs(orch.cgroup_parent, cid)
    if processes_mentioning(cid):
        found["processes"] = processes_mentioning(cid)
    tmp = glob.glob(os.path.join(orch.data_dir, "containers", "*.tmp*"))
    if tmp:
        found["temp files"] = tmp
    return found


def wait_until(predicate, timeout=10, interval=0.05):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return predicate()


@pytest.fixture
def orch(tmp_path, bb_layer):
    data = tmp_path / "orchdata"
    data.mkdir()
    parent = "orch-test-%d-%s" % (os.getpid(), uuid.uuid4().hex[:6])
    runner = OrchRunner(binary(), str(data), bb_layer, parent)
    yield runner
    clean_up(runner)


def clean_up(runner):
    """Force-removes whatever a test left, then the test's parent cgroup."""
    try:
        for cid in runner.ps():
            runner.verb("rm", "-f", cid, check=False)
    except Exception:
        pass
    for base in [CGROUP_ROOT] + glob.glob(CGROUP_ROOT + "/*"):
        d = os.path.join(base, runner.cgroup_parent)
        if os.path.isdir(d):
            try:
                os.rmdir(d)
            except OSError:
                pass


def kill_quietly(proc, sig=signal.SIGKILL):
    try:
        proc.send_signal(sig)
    except ProcessLookupError:
        pass
