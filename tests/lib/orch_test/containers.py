"""`orch run` and the local container verbs on one data dir, and what a
container may leave behind (tests/runtime/test_container_*.py; the
fixtures bb_layer and orch are in tests/runtime/conftest.py).

  OrchRunner    runs the local container verbs of one binary on one data dir
                and a cgroup parent of its own, with the test rootfs layer
                (the hidden `orch run --rootfs-layer DIR` stand-in for an
                image)
  clean_up      force-removes what a runner left, and its parent cgroup
  leaks(...)    what a container left behind: mounts, cgroup dirs, processes,
                files
"""
import glob
import json
import os
import signal
import subprocess
import time
import uuid

CGROUP_ROOT = "/sys/fs/cgroup"


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
