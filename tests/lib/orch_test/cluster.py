"""The multi-host cluster of tests/cluster (DESIGN.md section 7).

One `orch server --no-agent` listening on 0.0.0.0 (agents reach it at the
test bridge address 10.99.0.1), and N agents, each in its own network
namespace (netns.py) with its own data dir and cgroup parent
(orchtest-<node>), and the offline busybox image imported into each agent's
store.  Faults: Agent.kill9(), TestNetwork.link_down(i).

Teardown leaves nothing behind: agents are stopped, every container in
every agent data dir is removed (orch rm -f), the server is stopped, the
namespaces, veths and the bridge are deleted, the cgroup parents removed,
and `cluster_leftovers()` lists whatever survived (asserted empty).

Needs root, ip(8) and busybox-static; tests/cluster/conftest.py holds the
fixtures built on this.
"""

import glob
import json
import os
import subprocess

from orch_test import netns, server
from orch_test.binary import orch_bin
from orch_test.net import free_port
from orch_test.process import LoggedProcess
from orch_test.wait import wait_for

AGENT_COUNT = int(os.environ.get("ORCH_TEST_AGENTS", "3"))
NODE_GRACE_S = 4
READY_TIMEOUT = 30


def cli_env(env=None):
    """The environment of a CLI run: none of the test runner's ORCH_*
    settings (ORCH_BIN, ORCH_DATA, ...) leak into it."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("ORCH_")}
    full_env.update(env or {})
    return full_env


def orch(*args, timeout=60, env=None):
    """Runs `orch ARGS` and returns the CompletedProcess (text)."""
    return subprocess.run([orch_bin()] + [str(a) for a in args],
                          capture_output=True, text=True, timeout=timeout,
                          env=cli_env(env))


class Agent(LoggedProcess):
    """One `orch agent` in host i's namespace."""

    def __init__(self, net, i, server_port, token, workdir, name=None):
        self.name = name or "w%d" % i
        super().__init__(os.path.join(workdir, "agent-%s.log" % self.name))
        self.what = "agent " + self.name
        self.net = net
        self.i = i
        self.server_url = "https://%s:%d" % (netns.BRIDGE_ADDR, server_port)
        self.token = token
        self.data = os.path.join(workdir, "agent-" + self.name)
        self.cgroup_parent = "orchtest-" + self.name
        self.env = None     # extra environment for every start

    def start(self, token=None, extra=(), env=None):
        if self.alive():
            raise RuntimeError("agent %s already running" % self.name)
        os.makedirs(self.data, exist_ok=True)
        args = self.net.exec_prefix(self.i) + [
            orch_bin(), "agent", "--server", self.server_url,
            "--token", token or self.token, "--data", self.data,
            "--node-name", self.name, "--cgroup-parent", self.cgroup_parent,
            "--attr", "host=%d" % self.i, "--log-level", "debug"] + list(extra)
        full_env = dict(os.environ)
        full_env.update(env or self.env or {})
        self._popen(args, env=full_env)
        return self

    def wait_exit(self, timeout=20):
        return self.proc.wait(timeout=timeout)

    # --- the node's runtime, as `orch ps` sees it ---------------------------

    def containers(self):
        r = orch("ps", "-a", "--json", "--data", self.data)
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout or "[]")

    def task_containers(self, task_id):
        """The containers of one task (named orch-TASKID-N)."""
        return [c for c in self.containers()
                if c["name"].startswith("orch-%s-" % task_id)]

    def import_image(self, layout, name="busybox:latest"):
        r = orch("image", "import", "--data", self.data, "--name", name, layout,
                 timeout=120)
        assert r.returncode == 0, r.stderr

    def remove_all_containers(self):
        if not os.path.isdir(os.path.join(self.data, "containers")):
            return
        for c in self.containers():
            orch("rm", "-f", "--data", self.data, c["id"])


class Cluster:
    """The server, its client and the agents of one test module."""

    def __init__(self, server, net, agents, workdir):
        self.server = server
        self.net = net
        self.agents = agents
        self.workdir = workdir

    @property
    def client(self):
        return self.server.client

    @property
    def join_token(self):
        with open(os.path.join(self.server.data_dir, "join-token")) as f:
            return f.read().strip()

    def agent(self, name):
        return next(a for a in self.agents if a.name == name)

    # --- API shortcuts --------------------------------------------------------

    def nodes(self, cluster="default"):
        r = self.client.get("/v1/clusters/%s/nodes" % cluster)
        assert r.status == 200, r
        return r.json["containerInstances"]

    def node(self, name, cluster="default"):
        for n in self.nodes(cluster):
            if n["nodeName"] == name:
                return n
        return None

    def wait_nodes_active(self, names=None, timeout=READY_TIMEOUT):
        names = set(names or [a.name for a in self.agents])

        def ready():
            active = {n["nodeName"] for n in self.nodes()
                      if n["status"] == "ACTIVE"}
            return names <= active
        wait_for(ready, timeout, what="nodes %s ACTIVE" % sorted(names))

    def register(self, td):
        r = self.client.post("/v1/task-definitions", td)
        assert r.status in (200, 201), r
        return r.json["taskDefinition"]

    def run_task(self, family, count=1, cluster="default", **extra):
        body = dict(taskDefinition=family, count=count, **extra)
        r = self.client.post("/v1/clusters/%s/tasks" % cluster, body)
        assert r.status in (200, 201), r
        assert not r.json.get("failures"), r.json
        return r.json["tasks"]

    def task(self, task_id, cluster="default"):
        r = self.client.get("/v1/clusters/%s/tasks/%s" % (cluster, task_id))
        assert r.status == 200, r
        return r.json["task"]

    def stop_task(self, task_id, reason="test", cluster="default"):
        r = self.client.post("/v1/clusters/%s/tasks/%s/stop" % (cluster, task_id),
                             {"reason": reason})
        assert r.status == 200, r
        return r.json["task"]

    def wait_task(self, task_id, status, timeout=20, cluster="default"):
        def reached():
            t = self.task(task_id, cluster)
            return t if t["lastStatus"] == status else None
        return wait_for(reached, timeout, what="task %s %s" % (task_id, status))

    def run_to_stop(self, td, timeout=20, **run):
        """Registers td, runs one task of it (run: RunTask's fields) and
        waits until it is STOPPED: (the task, its containers by name)."""
        self.register(td)
        t = self.run_task(td["family"], **run)[0]
        t = self.wait_task(t["taskId"], "STOPPED", timeout=timeout)
        return t, {c["name"]: c for c in t["containers"]}

    def node_of(self, task):
        """The Agent that runs task (by its containerInstanceArn)."""
        arn = task.get("containerInstanceArn") or ""
        for a in self.agents:
            n = self.node(a.name)
            if n and n["containerInstanceArn"] == arn:
                return a
        return None

    def stop_all_tasks(self, timeout=30):
        r = self.client.get("/v1/clusters/default/tasks?desiredStatus=RUNNING")
        if r.status != 200:
            return
        ids = [arn.rsplit("/", 1)[1] for arn in r.json.get("taskArns", [])]
        for tid in ids:
            self.stop_task(tid, "test cleanup")
        for tid in ids:
            try:
                self.wait_task(tid, "STOPPED", timeout)
            except AssertionError:
                pass


def cluster_leftovers(workdir, agents):
    """Processes, mounts and cgroups a cluster left behind."""
    left = netns.TestNetwork(0).leftovers()
    with open("/proc/mounts") as f:
        left += ["mount " + line.split()[1] for line in f
                 if workdir in line.split()[1]]
    for a in agents:
        left += ["cgroup " + d for d in
                 glob.glob("/sys/fs/cgroup/*/%s" % a.cgroup_parent) +
                 glob.glob("/sys/fs/cgroup/%s" % a.cgroup_parent)]
    r = subprocess.run(["pgrep", "-f", "orch (agent|shim) .*%s" % workdir],
                       capture_output=True, text=True)
    left += ["process " + p for p in r.stdout.split()]
    return left


def remove_cgroup_parents(agents):
    for a in agents:
        for d in sorted(glob.glob("/sys/fs/cgroup/*/%s" % a.cgroup_parent) +
                        glob.glob("/sys/fs/cgroup/%s" % a.cgroup_parent),
                        key=len, reverse=True):
            # Bottom-up as os.walk gives it: children before their parents.
            for sub, dirs, _ in os.walk(d, topdown=False):
                try:
                    os.rmdir(sub)
                except OSError:
                    pass


_live = []


def live_agent_logs(limit=6000):
    """(title, log tail) of every agent of a cluster not yet destroyed."""
    return [("agent %s log" % a.name, a.log_tail(limit))
            for cl in list(_live) for a in cl.agents]


def make_cluster(workdir, busybox_layout, count=AGENT_COUNT, server_args=(),
                 before_agents=None):
    """Network, server, agents (started, ACTIVE); returns a Cluster.

    before_agents(cluster) runs once the network and server are up and
    before any agent starts (a registry on the bridge, agent env)."""
    workdir = str(workdir)
    net = netns.TestNetwork(count).setup()
    port = free_port()
    srv = server.new_server(workdir, ["--listen", "0.0.0.0:%d" % port,
                                      "--no-agent", "--node-grace",
                                      str(NODE_GRACE_S)] + list(server_args),
                            port=port)
    agents = []
    cl = Cluster(srv, net, agents, workdir)
    _live.append(cl)
    try:
        srv.start()
        token = cl.join_token
        for i in range(1, count + 1):
            a = Agent(net, i, port, token, workdir)
            os.makedirs(a.data, exist_ok=True)
            a.import_image(busybox_layout)
            agents.append(a)
        if before_agents:
            before_agents(cl)
        for a in agents:
            a.start()
        cl.wait_nodes_active()
    except BaseException:
        destroy_cluster(cl)
        net.teardown()
        raise
    return cl


def destroy_cluster(cl):
    try:
        for a in cl.agents:
            a.stop()
        for a in cl.agents:
            a.remove_all_containers()
        server.release(cl.server)
    finally:
        cl.net.teardown(unlock=False)  # the caller checks leftovers, then unlocks
        remove_cgroup_parents(cl.agents)
        if cl in _live:
            _live.remove(cl)


def release_cluster(cl, workdir):
    """Stops everything, checks for leftovers, and always gives the network
    lock back (a teardown that raised must not hang the next test)."""
    try:
        destroy_cluster(cl)
        left = cluster_leftovers(str(workdir), cl.agents)
    finally:
        cl.net.teardown()
    assert not left, "the cluster left %s" % left


def sleeper_td(family, command=("sleep", "300"), network="host", **extra):
    """A one-container definition ("app", busybox, stopTimeout 1); container=
    updates the container, other keywords the definition."""
    container = {"name": "app", "image": "busybox", "memory": 32,
                 "command": list(command), "stopTimeout": 1}
    container.update(extra.pop("container", {}))
    td = {"family": family, "networkMode": network,
          "containerDefinitions": [container]}
    td.update(extra)
    return td
