"""Every task-definition field the validator acts on has an effect that can
be seen: in a running container, on its node (cgroups, reserved ports, the
runtime's records) or in DescribeTasks and DescribeTaskDefinition.

The fields come from the binary itself (`orch taskdef-fields`, printed from
the validator's own tables), so a field that becomes acted on shows up here
at once.  EFFECTS maps each to the check of its effect; an acted-on field
with no entry fails ("no effect check for field X"), as does an entry for a
field that is no longer acted on.  An object or array of objects is
covered by the checks of the fields below it (COVERED_BELOW), and must
have some.

Four tasks, run side by side, hold every field:
  main    host network, task cpu and memory; "app" sets nearly every
          container field and prints what it sees; "side" (not essential)
          exits 3 while the task keeps running; "stubborn" ignores SIGTERM
          and is killed after its stopTimeout
  health  one container per healthCheck field, each with a probe whose
          outcome depends on that field
  waits   "app" waits for "dep" to become HEALTHY, which it never does:
          after dep's startTimeout the task stops, naming both
  chain   network none; "app" (essential) waits for "first" to succeed,
          then prints its interfaces and exits, which stops the task
"""

import glob
import json
import os
import subprocess
import threading
import time
import uuid

import pytest

from orch_test.binary import orch_bin
from orch_test.wait import wait_for


def field_catalog():
    r = subprocess.run([orch_bin(), "taskdef-fields"], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("orch taskdef-fields failed (%d): %s" % (r.returncode, r.stderr))
    return json.loads(r.stdout)


FIELDS = field_catalog()
COVERED_BELOW = "covered by the checks of the fields below it"


def statically_linked(path):
    out = subprocess.run(["file", "-L", path], capture_output=True, text=True).stdout
    return "statically linked" in out or "static-pie linked" in out


# The init runs inside the container, whose root has none of the host's
# libraries: a dynamically linked build (build-asan/) cannot run it.
INIT = statically_linked(orch_bin())
DOCKER_CAPS = "00000000a80425fb"
PORT_TCP, PORT_UDP = 18311, 18312

# The script's own argv is printed a line at a time: the script is one of
# its arguments and has newlines.
APP_SCRIPT = r"""# fields-app
echo "argv0=$(tr '\0' '\n' </proc/$$/cmdline | sed -n 1p)"
echo "argv1=$(tr '\0' '\n' </proc/$$/cmdline | sed -n 2p)"
echo "argv2=$(tr '\0' '\n' </proc/$$/cmdline | sed -n 3p)"
echo "env=$FIELD_ENV"
echo "cwd=$(pwd)"
echo "uid=$(id -u)"
echo "gid=$(id -g)"
echo "host=$(hostname)"
echo "nofile=$(ulimit -n)/$(ulimit -Hn)"
touch /probe 2>/dev/shm/touch; echo "touch=$(cat /dev/shm/touch)"
echo "pid1=$(tr '\0' ' ' </proc/1/cmdline)"
echo "capbnd=$(awk '/^CapBnd/ {print $2}' /proc/self/status)"
echo "ifaces=$(sed -n '3,$s/:.*//p' /proc/net/dev | tr -d ' ' | sort | tr '\n' ,)"
echo ready=1
exec sleep 300
"""

IFACES = r"""echo "ifaces=$(sed -n '3,$s/:.*//p' /proc/net/dev | tr -d ' ' | sort | tr '\n' ,)" """


def container(name, command, **extra):
    c = {"name": name, "image": "busybox", "memory": 16, "command": command,
         "stopTimeout": 1}
    c.update(extra)
    return c


def sleeper(name, **extra):
    return container(name, ["sleep", "300"], **extra)


def main_td(family):
    app = {
        "name": "app", "image": "busybox", "essential": True,
        "cpu": 128, "memory": 64, "memoryReservation": 32,
        "portMappings": [{"containerPort": PORT_TCP},
                         {"containerPort": PORT_UDP, "hostPort": PORT_UDP, "protocol": "udp"}],
        "entryPoint": ["sh", "-c"], "command": [APP_SCRIPT],
        "environment": [{"name": "FIELD_ENV", "value": "from-definition"}],
        "workingDirectory": "/tmp/field-wd", "user": "1000:1000",
        "hostname": "fields-host",
        "ulimits": [{"name": "nofile", "softLimit": 1111, "hardLimit": 2222}],
        "dockerLabels": {"fields.test": "yes"},
        "readonlyRootFilesystem": True,
        "linuxParameters": {"initProcessEnabled": INIT, "capabilities": {}},
        "stopTimeout": 1,
    }
    return {"family": family, "networkMode": "host", "cpu": "512", "memory": "256",
            "containerDefinitions": [
                app,
                container("side", ["sh", "-c", "exit 3"], essential=False),
                container("stubborn", ["sh", "-c", "echo ready=1; while true; do sleep 1; done"],
                          essential=False, stopTimeout=2)]}


def probe(command, **fields):
    hc = {"command": ["CMD-SHELL", command]}
    hc.update(fields)
    return hc


def health_td(family):
    failing = "echo probe=ran >>/proc/1/fd/1; exit 1"
    return {"family": family, "networkMode": "host", "containerDefinitions": [
        sleeper("keeper"),
        # Would pass with the default timeout (5 s).
        sleeper("timeout", essential=False, healthCheck=probe("sleep 3", timeout=2, retries=1)),
        # UNHEALTHY after one failure; the default (3) would take minutes.
        sleeper("retries", essential=False, healthCheck=probe(failing, retries=1)),
        # The same, but its failures do not count yet.
        sleeper("start", essential=False,
                healthCheck=probe(failing, retries=1, startPeriod=300)),
        # A probe every 5 s; the default is every 30 s.
        sleeper("interval", essential=False,
                healthCheck=probe("echo stamp=$(date +%s) >>/proc/1/fd/1", interval=5))]}


def waits_td(family):
    return {"family": family, "networkMode": "host", "containerDefinitions": [
        sleeper("dep", essential=False, startTimeout=2,
                healthCheck=probe("false", interval=5, retries=10)),
        sleeper("app", dependsOn=[{"containerName": "dep", "condition": "HEALTHY"}])]}


def chain_td(family):
    return {"family": family, "networkMode": "none", "containerDefinitions": [
        container("first", ["sh", "-c", "sleep 3; exit 0"], essential=False),
        container("app", ["sh", "-c", IFACES],
                  dependsOn=[{"containerName": "first", "condition": "SUCCESS"}])]}


# --- what a node shows -------------------------------------------------------------

def output_of(cluster, task, name):
    """{key: value, or [values] for a repeated key} of the key=value lines
    the task's container name printed, from its log through the server."""
    r = cluster.client.get("/v1/clusters/default/tasks/%s/logs?container=%s" %
                           (task["taskId"], name))
    assert r.status == 200, r
    out = {}
    for line in r.body.decode().splitlines():
        if "=" in line:
            key, value = line.split("=", 1)
            out.setdefault(key, []).append(value)
    return {k: v[0] if len(v) == 1 else v for k, v in out.items()}


def cgroup_read(rel, v1, v2):
    """A cgroup file of the group at rel (below the hierarchy's root): v1 is
    (controller, file), v2 the unified file; the v1 one when there is one."""
    controller, name = v1
    # The controller's own hierarchy, or one it shares ("cpu,cpuacct").
    for pattern in ("%s", "%s,*", "*,%s"):
        for path in glob.glob("/sys/fs/cgroup/%s/%s/%s" % (pattern % controller, rel, name)):
            with open(path) as f:
                return "v1", f.read().strip()
    with open("/sys/fs/cgroup/%s/%s" % (rel, v2)) as f:
        return "v2", f.read().strip()


def shares_to_weight(shares):
    return 1 + ((shares - 2) * 9999) // 262142


def node_ports(cluster, task):
    node = cluster.node(cluster.node_of(task).name)
    return {r["name"]: set(r.get("stringSetValue") or [])
            for r in node["remainingResources"] if r["name"].startswith("PORTS")}


class Observed:
    """Everything the checks look at, gathered once for the module."""


def by_name(task):
    return {c["name"]: c for c in task["containers"]}


def watch_chain(cluster, tid, snapshots, stop):
    while not stop.is_set():
        t = cluster.task(tid)
        snapshots.append({n: c["lastStatus"] for n, c in by_name(t).items()})
        if t["lastStatus"] == "STOPPED":
            return
        time.sleep(0.2)


@pytest.fixture(scope="module")
def observed(cluster):
    o = Observed()
    tag = uuid.uuid4().hex[:8]
    tds = {"main": main_td("fields-main-" + tag), "health": health_td("fields-health-" + tag),
           "waits": waits_td("fields-waits-" + tag), "chain": chain_td("fields-chain-" + tag)}
    o.registered = {k: cluster.register(td) for k, td in tds.items()}
    o.tds = tds
    tids = {k: cluster.run_task(td["family"])[0]["taskId"] for k, td in tds.items()}
    o.tids = tids
    chain_snapshots, stop_watch = [], threading.Event()
    watcher = threading.Thread(target=watch_chain,
                               args=(cluster, tids["chain"], chain_snapshots, stop_watch))
    watcher.start()
    try:
        observe_main(cluster, o, tids["main"])
        o.waits = cluster.wait_task(tids["waits"], "STOPPED", timeout=40)
        observe_health(cluster, o, tids["health"])
        o.chain = cluster.wait_task(tids["chain"], "STOPPED", timeout=40)
        o.chain_app = output_of(cluster, o.chain, "app")
    finally:
        stop_watch.set()
        watcher.join(30)
        cluster.stop_all_tasks()
    o.chain_snapshots = chain_snapshots
    return o


def observe_main(cluster, o, tid):
    t = cluster.wait_task(tid, "RUNNING", timeout=30)
    wait_for(lambda: "ready" in output_of(cluster, t, "app"), timeout=20, what="app's output")
    o.main_running = t = cluster.wait_task(tid, "RUNNING")
    o.app = output_of(cluster, t, "app")
    agent = cluster.node_of(t)
    o.runtime = {c["id"]: c for c in agent.task_containers(tid)}
    group = "%s/orch-%s" % (agent.cgroup_parent, tid)
    app = "%s/%s" % (group, by_name(t)["app"]["runtimeId"])
    o.cgroup = {
        "memory": cgroup_read(app, ("memory", "memory.limit_in_bytes"), "memory.max"),
        "reservation": cgroup_read(app, ("memory", "memory.soft_limit_in_bytes"), "memory.low"),
        "cpu": cgroup_read(app, ("cpu", "cpu.shares"), "cpu.weight"),
        "task_memory": cgroup_read(group, ("memory", "memory.limit_in_bytes"), "memory.max"),
        "task_quota": cgroup_read(group, ("cpu", "cpu.cfs_quota_us"), "cpu.max"),
        "task_period": cgroup_read(group, ("cpu", "cpu.cfs_period_us"), "cpu.max"),
    }
    o.ports = node_ports(cluster, t)
    o.side = wait_for(lambda: (lambda c: c if c["lastStatus"] == "STOPPED" else None)(
        by_name(cluster.task(tid))["side"]), timeout=15, what="side stopped")
    o.main_while_side_stopped = cluster.task(tid)
    stop_sent = time.monotonic()
    cluster.stop_task(tid)
    stubborn = wait_for(lambda: (lambda c: c if c["lastStatus"] == "STOPPED" else None)(
        by_name(cluster.task(tid))["stubborn"]), timeout=30, what="stubborn stopped")
    o.stubborn_stop_s = time.monotonic() - stop_sent
    o.stubborn = stubborn


def observe_health(cluster, o, tid):
    t = cluster.wait_task(tid, "RUNNING", timeout=30)

    def settled():
        t = cluster.task(tid)
        health = {n: c.get("healthStatus") for n, c in by_name(t).items()}
        stamps = output_of(cluster, t, "interval").get("stamp", [])
        started = output_of(cluster, t, "start").get("probe")
        if (health["timeout"] == "UNHEALTHY" and health["retries"] == "UNHEALTHY" and
                isinstance(stamps, list) and len(stamps) >= 2 and started):
            return t
        return None
    o.health = wait_for(settled, timeout=40, what="the health checks settled")
    o.health_out = {n: output_of(cluster, o.health, n) for n in ("interval", "start", "retries")}


# --- the checks, one per field -------------------------------------------------------

def check_family(o):
    family = o.tds["main"]["family"]
    assert o.main_running["taskDefinitionArn"].endswith(
        "task-definition/%s:%d" % (family, o.registered["main"]["revision"])), o.main_running
    r = o.cluster.client.get("/v1/task-definitions/" + family)
    assert r.status == 200 and r.json["taskDefinition"]["family"] == family, r


def check_network_mode(o):
    # host: the node's own interfaces; none: only the loopback.
    assert set(o.app["ifaces"].strip(",").split(",")) - {"lo"}, o.app
    assert o.chain_app["ifaces"] == "lo,", o.chain_app


def check_task_cpu(o):
    version, quota = o.cgroup["task_quota"]
    if version == "v1":
        period = int(o.cgroup["task_period"][1])
        assert int(quota) * 1000 // period == 500, o.cgroup   # 512 units: 0.5 CPU
    else:
        q, p = quota.split()
        assert int(q) * 1000 // int(p) == 500, o.cgroup


def check_task_memory(o):
    assert int(o.cgroup["task_memory"][1]) == 256 << 20, o.cgroup


def check_container_definitions(o):
    names = [c["name"] for c in o.tds["main"]["containerDefinitions"]]
    assert [c["name"] for c in o.main_running["containers"]] == names, o.main_running
    assert len(o.runtime) == len(names), o.runtime


def check_name(o):
    rids = {c["name"]: c.get("runtimeId") for c in o.main_running["containers"]}
    assert set(rids) == {"app", "side", "stubborn"}, rids
    assert all(rid in o.runtime for rid in rids.values()), (rids, o.runtime)


def check_image(o):
    assert {c["image"] for c in o.runtime.values()} <= {"busybox", "busybox:latest"}, o.runtime
    assert o.app["argv0"] == "sh", o.app     # busybox's sh ran the script


def check_essential(o):
    # A container that is not essential exits and the task runs on ...
    assert o.side.get("exitCode") == 3, o.side
    assert o.main_while_side_stopped["lastStatus"] == "RUNNING", o.main_while_side_stopped
    # ... an essential one exits and the task stops.
    assert o.chain["stopCode"] == "EssentialContainerExited", o.chain


def check_cpu(o):
    version, value = o.cgroup["cpu"]
    assert int(value) == (128 if version == "v1" else shares_to_weight(128)), o.cgroup


def check_memory(o):
    assert int(o.cgroup["memory"][1]) == 64 << 20, o.cgroup


def check_memory_reservation(o):
    assert int(o.cgroup["reservation"][1]) == 32 << 20, o.cgroup


def check_container_port(o):
    # No hostPort given: in host mode the containerPort is reserved on the node.
    assert str(PORT_TCP) in o.ports["PORTS"], o.ports


def check_host_port(o):
    assert str(PORT_UDP) in o.ports["PORTS_UDP"], o.ports


def check_protocol(o):
    assert str(PORT_UDP) not in o.ports["PORTS"], o.ports
    assert str(PORT_TCP) not in o.ports["PORTS_UDP"], o.ports


def check_entry_point(o):
    assert (o.app["argv0"], o.app["argv1"]) == ("sh", "-c"), o.app


def check_command(o):
    assert o.app["argv2"] == "# fields-app", o.app
    assert o.app["ready"] == "1", o.app


def check_environment(o):
    assert o.app["env"] == "from-definition", o.app


def check_working_directory(o):
    assert o.app["cwd"] == "/tmp/field-wd", o.app


def check_user(o):
    assert (o.app["uid"], o.app["gid"]) == ("1000", "1000"), o.app


def check_hostname(o):
    assert o.app["host"] == "fields-host", o.app


def check_depends_on(o):
    # chain: "app" never ran while "first" did, and ran once it succeeded.
    assert o.chain_snapshots, "no snapshot of the chain task"
    waited = [s for s in o.chain_snapshots if s["first"] == "RUNNING"]
    assert waited, o.chain_snapshots
    assert all(s["app"] not in ("RUNNING", "STOPPED") for s in waited), o.chain_snapshots
    chain = by_name(o.chain)
    assert chain["first"].get("exitCode") == 0 and chain["app"].get("exitCode") == 0, o.chain
    # waits: HEALTHY never came, "app" never started, and the reason names "dep".
    assert o.waits["stopCode"] == "TaskFailedToStart", o.waits
    assert "dep" in o.waits.get("stoppedReason", ""), o.waits
    assert "exitCode" not in by_name(o.waits)["app"], o.waits


def check_start_timeout(o):
    assert "startTimeout" in o.waits.get("stoppedReason", ""), o.waits
    assert "exitCode" not in by_name(o.waits)["app"], o.waits


def check_stop_timeout(o):
    # SIGTERM is ignored (PID 1 without a handler): SIGKILL after its 2 s,
    # not after the default 30 s.
    assert o.stubborn.get("exitCode") == 137, o.stubborn
    assert 1.5 <= o.stubborn_stop_s < 10, o.stubborn_stop_s


def health_of(o, name):
    return by_name(o.health)[name].get("healthStatus")


def check_health_command(o):
    assert o.health_out["retries"].get("probe"), o.health_out   # it ran in the container
    assert health_of(o, "interval") == "HEALTHY", o.health


def check_health_interval(o):
    stamps = [int(s) for s in o.health_out["interval"]["stamp"]]
    assert 4 <= stamps[1] - stamps[0] <= 7, stamps


def check_health_timeout(o):
    assert health_of(o, "timeout") == "UNHEALTHY", o.health


def check_health_retries(o):
    assert health_of(o, "retries") == "UNHEALTHY", o.health


def check_health_start_period(o):
    assert o.health_out["start"].get("probe"), o.health_out
    assert health_of(o, "start") not in ("UNHEALTHY", "HEALTHY"), o.health


def check_ulimits(o):
    assert o.app["nofile"] == "1111/2222", o.app


def check_docker_labels(o):
    labels = {"fields.test": "yes"}
    assert by_name(o.main_running)["app"].get("dockerLabels") == labels, o.main_running
    rid = by_name(o.main_running)["app"]["runtimeId"]
    assert o.runtime[rid].get("labels") == labels, o.runtime


def check_readonly_root(o):
    assert "Read-only file system" in o.app["touch"], o.app


def check_init_process(o):
    if not INIT:
        pytest.skip("the init needs the statically linked orch")
    assert o.app["pid1"].startswith("orch init "), o.app


def check_capabilities(o):
    # Only empty add/drop are accepted: Docker's default set, nothing more.
    assert o.app["capbnd"] == DOCKER_CAPS, o.app
    td = main_td("fields-caps-" + uuid.uuid4().hex[:8])
    td["containerDefinitions"][0]["linuxParameters"]["capabilities"] = {"add": ["NET_ADMIN"]}
    r = o.cluster.client.post("/v1/task-definitions", td)
    assert 400 <= r.status < 500 and "capabilities.add" in r.json["message"], r


C = "containerDefinitions[]."
EFFECTS = {
    "family": check_family,
    "networkMode": check_network_mode,
    "cpu": check_task_cpu,
    "memory": check_task_memory,
    "containerDefinitions": check_container_definitions,
    C + "name": check_name,
    C + "image": check_image,
    C + "essential": check_essential,
    C + "cpu": check_cpu,
    C + "memory": check_memory,
    C + "memoryReservation": check_memory_reservation,
    C + "portMappings": COVERED_BELOW,
    C + "portMappings[].containerPort": check_container_port,
    C + "portMappings[].hostPort": check_host_port,
    C + "portMappings[].protocol": check_protocol,
    C + "entryPoint": check_entry_point,
    C + "command": check_command,
    C + "environment": COVERED_BELOW,
    C + "environment[].name": check_environment,
    C + "environment[].value": check_environment,
    C + "workingDirectory": check_working_directory,
    C + "user": check_user,
    C + "hostname": check_hostname,
    C + "dependsOn": COVERED_BELOW,
    C + "dependsOn[].containerName": check_depends_on,
    C + "dependsOn[].condition": check_depends_on,
    C + "startTimeout": check_start_timeout,
    C + "stopTimeout": check_stop_timeout,
    C + "healthCheck": COVERED_BELOW,
    C + "healthCheck.command": check_health_command,
    C + "healthCheck.interval": check_health_interval,
    C + "healthCheck.timeout": check_health_timeout,
    C + "healthCheck.retries": check_health_retries,
    C + "healthCheck.startPeriod": check_health_start_period,
    C + "ulimits": COVERED_BELOW,
    C + "ulimits[].name": check_ulimits,
    C + "ulimits[].softLimit": check_ulimits,
    C + "ulimits[].hardLimit": check_ulimits,
    C + "dockerLabels": check_docker_labels,
    C + "readonlyRootFilesystem": check_readonly_root,
    C + "linuxParameters": COVERED_BELOW,
    C + "linuxParameters.initProcessEnabled": check_init_process,
    C + "linuxParameters.capabilities": check_capabilities,
}


def fields_below(field):
    return [f for f in FIELDS["acted"] if f.startswith(field + ".") or f.startswith(field + "[].")]


def test_every_acted_field_has_an_effect_check():
    missing = [f for f in FIELDS["acted"] if f not in EFFECTS]
    assert not missing, "no effect check for field %s" % ", ".join(missing)
    stale = [f for f in EFFECTS if f not in FIELDS["acted"]]
    assert not stale, "checks for fields the validator does not act on: %s" % ", ".join(stale)
    empty = [f for f, check in EFFECTS.items() if check == COVERED_BELOW and not fields_below(f)]
    assert not empty, "no field acted on below %s, and no check of its own" % ", ".join(empty)


@pytest.mark.parametrize("field", FIELDS["acted"])
def test_acted_field_has_its_effect(request, field):
    check = EFFECTS.get(field)
    if check is None:
        pytest.fail("no effect check for field %s" % field)
    if check == COVERED_BELOW:
        assert fields_below(field), "no field acted on below %s and no check of its own" % field
        return
    o = request.getfixturevalue("observed")
    o.cluster = request.getfixturevalue("cluster")
    check(o)
