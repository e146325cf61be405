"""A fake `orch agent` for the control-plane tests.

FakeAgent speaks the server side of orchestrator/agent_protocol.h over the
API (registration with the join secret, the long-polled desired set, status
reports) without running anything, so the control plane is tested without
the real agent, containers or root.  HTTPS, the CA and the scheme live in
orch_test.api (api.Client): this module never builds a URL.

The fixtures (cp_server, cp, fresh_cp, agents, placed) are in
tests/cluster/conftest.py; SERVER_ARGS are the flags of their servers.
"""

import itertools
import os
import threading
import time

from orch_test import api

NODE_GRACE_S = 2
SERVER_ARGS = ["--no-agent", "--node-grace", str(NODE_GRACE_S)]
_family_counter = itertools.count(1)


def join_secret(server):
    """The secret half of <data>/join-token (K10<cahash>::<secret>)."""
    with open(os.path.join(server.data_dir, "join-token")) as f:
        token = f.read().strip()
    assert "::" in token, token
    return token.split("::", 1)[1]


def unique_family(prefix="f"):
    return "%s%d_%d" % (prefix, os.getpid(), next(_family_counter))


def register_taskdef(client, family, memory=128, cpu=None, host_port=None,
                     containers=None, network_mode="host"):
    """Registers a one-container definition (or the given containers)."""
    if containers is None:
        c = {"name": "app", "image": "busybox", "memory": memory,
             "command": ["sleep", "3600"]}
        if cpu is not None:
            c["cpu"] = cpu
        if host_port is not None:
            c["portMappings"] = [{"containerPort": host_port,
                                  "hostPort": host_port}]
        containers = [c]
    r = client.post("/v1/task-definitions", {
        "family": family, "networkMode": network_mode,
        "containerDefinitions": containers})
    assert r.status == 201, r
    return r.json["taskDefinition"]


def run_task(client, family, count=1, cluster="default", **extra):
    body = dict(taskDefinition=family, count=count, **extra)
    return client.post("/v1/clusters/%s/tasks" % cluster, body)


def describe_task(client, task_id, cluster="default"):
    r = client.get("/v1/clusters/%s/tasks/%s" % (cluster, task_id))
    assert r.status == 200, r
    return r.json["task"]


class FakeAgent:
    """One registered node that does what the test tells it to."""

    def __init__(self, server, name, cpu=2048, memory=4096, attributes=None,
                 cluster=None):
        self.server = server
        self.name = name
        self.cpu = cpu
        self.memory = memory
        self.attributes = attributes if attributes is not None else {
            "os": "linux", "arch": "amd64"}
        self.cluster = cluster
        self.node_id = None
        self.credential = None
        self.index = 0
        self._beat = None
        self._stop = threading.Event()

    # -- protocol ----------------------------------------------------------

    def register_body(self):
        body = {"nodeName": self.name,
                "resources": {"cpu": self.cpu, "memory": self.memory},
                "attributes": self.attributes,
                "advertiseAddress": "127.0.0.1"}
        if self.cluster:
            body["cluster"] = self.cluster
        return body

    def register(self, secret=None, body=None):
        """POST /v1/agent/register with the join secret (or the given one)."""
        secret = join_secret(self.server) if secret is None else secret
        r = api.Client(self.server.port, secret).post(
            "/v1/agent/register", body or self.register_body())
        if r.status in (200, 201):
            self.node_id = r.json["node"]["nodeId"]
            self.credential = r.json["credential"]
            self.index = 0
        return r

    @property
    def client(self):
        return api.Client(self.server.port, self.credential, timeout=60)

    def poll(self, wait=0, index=None, timeout=None):
        """GET /v1/agent/assignments; remembers the index it answered."""
        idx = self.index if index is None else index
        c = api.Client(self.server.port, self.credential,
                        timeout=timeout or wait + 10)
        r = c.get("/v1/agent/assignments?index=%d&wait=%d" % (idx, wait))
        if r.status == 200:
            self.index = r.json["index"]
        return r

    def desired(self):
        """The current desired set as {taskId: entry} (answers at once)."""
        r = self.poll(wait=0, index=0)
        assert r.status == 200, r
        return {t["taskId"]: t for t in r.json["tasks"]}

    def report(self, tasks=(), **extra):
        """POST /v1/agent/status with the given task reports."""
        body = {"tasks": list(tasks),
                "resources": {"cpu": self.cpu, "memory": self.memory}}
        body.update(extra)
        return self.client.post("/v1/agent/status", body)

    def report_status(self, task_id, status, containers=None, **fields):
        entry = {"taskId": task_id, "lastStatus": status}
        if status == "RUNNING":
            entry.setdefault("startedAt", time.time())
        if status == "STOPPED":
            entry.setdefault("stoppedAt", time.time())
        if containers is not None:
            entry["containers"] = containers
        entry.update(fields)
        r = self.report([entry])
        assert r.status == 200, r
        return r

    # -- heartbeats ----------------------------------------------------------

    def start_heartbeats(self, interval=0.3):
        """Reports (with no task changes) every interval until stopped."""
        self._stop.clear()

        def beat():
            while not self._stop.wait(interval):
                try:
                    self.report()
                except OSError:
                    pass

        self._beat = threading.Thread(target=beat, daemon=True)
        self._beat.start()

    def stop_heartbeats(self):
        self._stop.set()
        if self._beat:
            self._beat.join(timeout=5)
            self._beat = None


def new_cluster(client, prefix="c"):
    """A cluster of the test's own, so nodes of other tests do not interfere."""
    name = unique_family(prefix)
    r = client.post("/v1/clusters", {"clusterName": name})
    assert r.status == 201, r
    return name


def cluster_and_family(client, prefix, **taskdef):
    """A new ECS cluster and a new family registered in it by
    register_taskdef(**taskdef), for one test: (cluster name, family)."""
    name = new_cluster(client)
    fam = unique_family(prefix)
    register_taskdef(client, fam, **taskdef)
    return name, fam


class AutoAgent(FakeAgent):
    """A FakeAgent that runs its desired set as a real agent would, by
    reports only: a new task is reported RUNNING (with `health` as its
    healthStatus), one desired STOPPED is reported STOPPED.  behave(entry)
    may override per task with a dict of report fields, e.g.
    {"lastStatus": "STOPPED", "stopCode": "TaskFailedToStart",
    "stoppedReason": "CannotPullContainerError"} for an image that does not
    exist.  `running` is the set of task IDs it runs now."""

    def __init__(self, server, name, health=None, behave=None, delay=0.05, **kw):
        super().__init__(server, name, **kw)
        self.health = health
        self.behave = behave
        self.delay = delay
        self.running = set()
        self.done = set()
        self._lock = threading.Lock()
        self._loop = None

    def start(self):
        self._stop.clear()

        def loop():
            while not self._stop.is_set():
                try:
                    r = self.poll(wait=1)
                    if r.status != 200:
                        time.sleep(0.2)
                        continue
                    self.converge(r.json["tasks"])
                except OSError:
                    time.sleep(0.2)

        self._loop = threading.Thread(target=loop, daemon=True)
        self._loop.start()
        self.start_heartbeats()
        return self

    def converge(self, tasks):
        reports = []
        with self._lock:
            for t in tasks:
                tid = t["taskId"]
                if t["desiredStatus"] == "STOPPED":
                    if tid not in self.done:
                        self.done.add(tid)
                        self.running.discard(tid)
                        reports.append({"taskId": tid, "lastStatus": "STOPPED",
                                        "stoppedAt": time.time(),
                                        "stopCode": "ServiceSchedulerInitiated"})
                    continue
                if tid in self.running or tid in self.done:
                    continue
                entry = {"taskId": tid, "lastStatus": "RUNNING",
                         "startedAt": time.time()}
                if self.health:
                    entry["healthStatus"] = self.health
                if self.behave:
                    entry.update(self.behave(t) or {})
                if entry["lastStatus"] == "STOPPED":
                    self.done.add(tid)
                    entry.setdefault("stoppedAt", time.time())
                else:
                    self.running.add(tid)
                reports.append(entry)
        if reports:
            time.sleep(self.delay)
            self.report(reports)

    def report_usage(self, cpu_units, memory_mib):
        """Reports the same use for every task it runs (as a real agent's
        heartbeat would, from the tasks' cgroups)."""
        with self._lock:
            ids = list(self.running)
        self.report([{"taskId": tid, "lastStatus": "RUNNING",
                      "usage": {"cpuUnits": cpu_units, "memoryMiB": memory_mib}}
                     for tid in ids])

    def set_health(self, task_id, health):
        self.report_status(task_id, "RUNNING", healthStatus=health)

    def stop(self):
        self._stop.set()
        self.stop_heartbeats()
        if self._loop:
            self._loop.join(timeout=5)
            self._loop = None
