"""Several "hosts" on one machine for the cluster tests (DESIGN.md section 7).

A bridge orchtest0 (10.99.0.1/24) in the host's network namespace, and for
host i (1..N) a network namespace orchtest-nI holding eth0 = 10.99.0.(10+i)/24,
the inside end of a veth pair whose outside end otvI is a bridge port.  The
server listens on the bridge address; each agent runs in its namespace
(`ip netns exec`).  Node loss is `ip link set otvI down`.

Everything is torn down by TestNetwork.teardown (also anything left by a
crashed earlier run, at setup): namespaces (their veth ends go with them),
the bridge.  Only ip(8) is used; the tests run as root.
"""

import fcntl
import os
import subprocess
import time

BRIDGE = "orchtest0"
BRIDGE_ADDR = "10.99.0.1"
PREFIX_LEN = 24
NS_PREFIX = "orchtest-n"
VETH_PREFIX = "otv"
# The names above are fixed: one test network per machine at a time.  Test
# runs in other processes (another build tree's ctest) wait for this lock.
LOCK_PATH = "/run/lock/orch-cluster-tests.lock"
LOCK_WAIT_S = 1800


def ip(*args, check=True):
    r = subprocess.run(["ip"] + [str(a) for a in args], capture_output=True,
                       text=True, timeout=30)
    if check and r.returncode != 0:
        raise RuntimeError("ip %s: %s" % (" ".join(map(str, args)),
                                          r.stderr.strip()))
    return r


def host_addr(i):
    return "10.99.0.%d" % (10 + i)


def ns_name(i):
    return "%s%d" % (NS_PREFIX, i)


def existing_namespaces():
    r = ip("netns", "list", check=False)
    return [line.split()[0] for line in r.stdout.splitlines()
            if line.split() and line.split()[0].startswith(NS_PREFIX)]


def link_exists(name):
    return ip("link", "show", name, check=False).returncode == 0


class TestNetwork:
    """The bridge and count namespaces; hosts are numbered from 1."""

    __test__ = False  # not a pytest class

    def __init__(self, count):
        self.count = count
        self._lock_fd = None

    def _lock(self):
        os.makedirs(os.path.dirname(LOCK_PATH), exist_ok=True)
        fd = os.open(LOCK_PATH, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        deadline = time.monotonic() + LOCK_WAIT_S
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                self._lock_fd = fd
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    os.close(fd)
                    raise RuntimeError("another cluster test run holds %s"
                                       % LOCK_PATH)
                time.sleep(0.5)

    def setup(self):
        """Builds the network; one TestNetwork per machine at a time."""
        self._lock()
        self.teardown(unlock=False)  # leftovers of a crashed run
        ip("link", "add", BRIDGE, "type", "bridge")
        ip("addr", "add", "%s/%d" % (BRIDGE_ADDR, PREFIX_LEN), "dev", BRIDGE)
        ip("link", "set", BRIDGE, "up")
        for i in range(1, self.count + 1):
            ns, veth = ns_name(i), "%s%d" % (VETH_PREFIX, i)
            ip("netns", "add", ns)
            ip("link", "add", veth, "type", "veth", "peer", "name", "eth0",
               "netns", ns)
            ip("link", "set", veth, "master", BRIDGE)
            ip("link", "set", veth, "up")
            ip("-n", ns, "addr", "add", "%s/%d" % (host_addr(i), PREFIX_LEN),
               "dev", "eth0")
            ip("-n", ns, "link", "set", "lo", "up")
            ip("-n", ns, "link", "set", "eth0", "up")
            ip("-n", ns, "route", "add", "default", "via", BRIDGE_ADDR)
        return self

    def exec_prefix(self, i):
        """argv prefix that runs a command in host i's network namespace.

        nsenter --net, not `ip netns exec`: the latter also unshares the
        mount namespace and mounts a new /sys, which hides the cgroup
        hierarchies from the agent and its containers."""
        return ["nsenter", "--net=/run/netns/" + ns_name(i), "--"]

    def link_down(self, i):
        ip("link", "set", "%s%d" % (VETH_PREFIX, i), "down")

    def link_up(self, i):
        ip("link", "set", "%s%d" % (VETH_PREFIX, i), "up")

    def teardown(self, unlock=True):
        for ns in existing_namespaces():
            ip("netns", "delete", ns, check=False)
        for i in range(1, 64):
            veth = "%s%d" % (VETH_PREFIX, i)
            if link_exists(veth):
                ip("link", "delete", veth, check=False)
        if link_exists(BRIDGE):
            ip("link", "delete", BRIDGE, check=False)
        if unlock and self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def leftovers(self):
        """What teardown should have removed and did not (for assertions)."""
        left = ["netns " + ns for ns in existing_namespaces()]
        if link_exists(BRIDGE):
            left.append("bridge " + BRIDGE)
        left += ["veth %s%d" % (VETH_PREFIX, i) for i in range(1, 64)
                 if link_exists("%s%d" % (VETH_PREFIX, i))]
        return left
