#!/usr/bin/env bash
# tests/bench/service_latency.sh - a service's end-to-end latencies on a warm
# node, in one run: how long a rolling update takes, how long a killed
# container is down, and a plain RunTask launch beside them.
#
# Starts `orch server` (with its embedded agent: a one-node cluster) on a
# fresh data dir, imports the offline busybox image there, registers a task
# definition (host networking, busybox `sleep 3600`, memory 32, stopTimeout
# 1), creates a REPLICA service of 10 tasks (maximumPercent 200,
# minimumHealthyPercent 100), waits until it is stable, then measures:
#   update    PATCH of the service to a new task-definition revision -> the
#             first DescribeServices that shows it stable again (one
#             deployment, PRIMARY, COMPLETED, on the new revision,
#             runningCount == desiredCount); UPDATES times, median and max;
#             beside it the time until the new deployment first had all its
#             tasks RUNNING (the rest is the old tasks' stop, stopTimeout 1)
#   kill      `orch kill -s KILL` of a RUNNING task's container (the time
#             is taken when the command has returned: the signal is sent) ->
#             a new task of the service RUNNING and runningCount back at
#             desiredCount; KILLS rounds, p50 and p99
#   runtask   RunTask of the same task definition -> DescribeTasks RUNNING,
#             one round after each kill round (alternated), p50 and p99
# Every wait polls every 2 ms on one keep-alive HTTPS connection (a curl
# process per poll would add its own start and TLS handshake to figures of
# a few tens of ms).  The server's time stamps split each kill round into
# noticing the death (killed task's stoppedAt), the launch throttle
# (replacement's createdAt) and the launch (its startedAt).
#
# The kill rounds are sequential and each starts from a stable service
# after a SETTLE_S pause: a killed container is a failed task, and a
# service delays its next launch 1 s after a failure, doubling per
# consecutive failure until it is back at its desired healthy count.  Kills
# in quick succession would measure the doubling back-off; these measure
# the 1 s throttle of an isolated failure plus the replacement's launch.
# The delay the server applied to each kill (its service event "next launch
# in N s") is read back and reported, so a doubled one would show.
#
# Each RunTask task is stopped once RUNNING and waited for until STOPPED
# (stopTimeout 1) so that it does not overlap the next kill round.  Asserts
# nothing: a benchmark prints figures (a table, then one JSON line).
#
# Usage: tests/bench/service_latency.sh [KILLS (default 50)] [UPDATES (default 5)]
#   ORCH_BIN=path/to/orch (default build/orch); needs root.
#   SETTLE_S: pause between a stable service and the next kill (default 0.5)
set -euo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
KILLS=${1:-50}
UPDATES=${2:-5}
SETTLE_S=${SETTLE_S:-0.5}
BUDGET_S=280		# the measuring part gives up after this; the whole run stays under 5 min
PY=/usr/bin/python3
WORK=$(mktemp -d /tmp/orch-service-bench.XXXXXX)
DATA=$WORK/data
PORT=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
SERVER_PID=

cleanup() {
  if [ -n "$SERVER_PID" ]; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  # Every container of the run (the service's and RunTask's), then the dir.
  if [ -d "$DATA/containers" ]; then
    for id in $(ls "$DATA/containers"); do "$ORCH" rm -f --data "$DATA" "$id" >/dev/null 2>&1 || true; done
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

say() { printf 'service_latency: %s\n' "$*" >&2; }

orch_bin
[ "$(id -u)" = 0 ] || { say "needs root (the embedded agent runs containers)"; exit 1; }
[ -x /bin/busybox ] || { say "busybox-static is not installed"; exit 1; }

say "building and importing the busybox image"
$PY "$ROOT/tests/images/build_images.py" "$WORK/images" >/dev/null
mkdir -p "$DATA"
"$ORCH" image import --data "$DATA" --name busybox:latest "$WORK/images/busybox" >/dev/null

say "starting orch server on 127.0.0.1:$PORT (embedded agent)"
"$ORCH" server --data "$DATA" --listen "127.0.0.1:$PORT" --log-level warn >"$WORK/server.log" 2>&1 &
SERVER_PID=$!

status=0
$PY - "$ORCH" "$PORT" "$DATA" "$KILLS" "$UPDATES" "$SETTLE_S" "$BUDGET_S" <<'EOF' || status=$?
import http.client, json, os, random, ssl, statistics, subprocess, sys, time

orch, port, data = sys.argv[1], int(sys.argv[2]), sys.argv[3]
kills, updates, settle_s, budget_s = int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6]), float(sys.argv[7])
FAMILY, SERVICE, DESIRED = "svcbench", "svcbench", 10
POLL_S = 0.002
WAIT_S = 60		# any one wait
C = "/v1/clusters/default"
budget_end = time.monotonic() + budget_s

def say(msg):
    print("service_latency: " + msg, file=sys.stderr, flush=True)

def deadline(seconds):
    return min(time.monotonic() + seconds, budget_end)

def check(end, what):
    if time.monotonic() > end:
        sys.exit("service_latency: gave up waiting for %s%s" %
                 (what, " (the run's %.0f s budget is spent)" % budget_s
                  if time.monotonic() > budget_end else ""))

end = deadline(30)
while not os.path.exists(os.path.join(data, "pki", "ca.pem")) or \
        not os.path.exists(os.path.join(data, "admin-token")):
    check(end, "the server to start")
    time.sleep(0.05)
ctx = ssl.create_default_context(cafile=os.path.join(data, "pki", "ca.pem"))
token = open(os.path.join(data, "admin-token")).read().strip()
conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=30)
H = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}

def call(method, path, body=None):
    global conn
    for attempt in range(2):
        try:
            conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=H)
            r = conn.getresponse()
            return r.status, json.loads(r.read() or b"null")
        except (ConnectionError, http.client.HTTPException, OSError):
            conn.close()
            conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=30)
            if attempt:
                raise

def ok(st, body, what):
    if st not in (200, 201):
        sys.exit("service_latency: %s: HTTP %d %s" % (what, st, json.dumps(body)))
    return body

end = deadline(30)
while True:
    try:
        st, body = call("GET", C + "/nodes")
        if st == 200 and any(x["status"] == "ACTIVE" for x in body["containerInstances"]):
            break
    except OSError:
        pass
    check(end, "an ACTIVE node")
    time.sleep(0.05)

def register(rev_note):
    td = {"family": FAMILY, "networkMode": "host",
          "containerDefinitions": [{"name": "app", "image": "busybox", "memory": 32,
                                    "command": ["sleep", "3600"], "stopTimeout": 1,
                                    "environment": [{"name": "BENCH_REVISION", "value": rev_note}]}]}
    body = ok(*call("POST", "/v1/task-definitions", td), "RegisterTaskDefinition")
    return body["taskDefinition"]["revision"]

def service():
    return ok(*call("GET", C + "/services/" + SERVICE), "DescribeServices")["service"]

def stable(sv, revision):
    deps = sv["deployments"]
    return (len(deps) == 1 and deps[0]["status"] == "PRIMARY" and
            deps[0]["rolloutState"] == "COMPLETED" and
            deps[0]["taskDefinition"].endswith(":%d" % revision) and
            sv["runningCount"] == sv["desiredCount"] == DESIRED)

def wait_stable(revision, what, t0=None):
    """Polls until the service is stable on revision; with t0, returns the
    ms from t0 until the PRIMARY deployment first had desired RUNNING tasks."""
    end, running_ms = deadline(WAIT_S), None
    while True:
        sv = service()
        if t0 is not None and running_ms is None and any(
                d["status"] == "PRIMARY" and d["taskDefinition"].endswith(":%d" % revision) and
                d["runningCount"] == DESIRED for d in sv["deployments"]):
            running_ms = (time.monotonic() - t0) * 1000
        if stable(sv, revision):
            return running_ms
        check(end, what)
        time.sleep(POLL_S)

def service_tasks():
    body = ok(*call("GET", C + "/tasks?serviceName=%s&desiredStatus=RUNNING" % SERVICE), "ListTasks")
    return body["tasks"]

def task(tid):
    return ok(*call("GET", C + "/tasks/" + tid), "DescribeTasks")["task"]

def wait_task(tid, status, what):
    end = deadline(WAIT_S)
    while True:
        t = task(tid)
        if t["lastStatus"] == status:
            return t
        if t["lastStatus"] == "STOPPED":
            sys.exit("service_latency: task %s stopped: %s" % (tid, t.get("stoppedReason")))
        check(end, what)
        time.sleep(POLL_S)

def run_task():
    """RunTask -> RUNNING in ms; the task is stopped and waited for."""
    t0 = time.monotonic()
    body = ok(*call("POST", C + "/tasks", {"taskDefinition": FAMILY}), "RunTask")
    if not body["tasks"]:
        sys.exit("service_latency: RunTask placed nothing: %s" % json.dumps(body))
    tid = body["tasks"][0]["taskId"]
    end = deadline(WAIT_S)
    while True:
        t = task(tid)
        if t["lastStatus"] == "RUNNING":
            ms = (time.monotonic() - t0) * 1000
            break
        if t["lastStatus"] == "STOPPED":
            sys.exit("service_latency: task %s stopped: %s" % (tid, t.get("stoppedReason")))
        check(end, "RunTask task %s RUNNING" % tid)
        time.sleep(POLL_S)
    ok(*call("POST", C + "/tasks/%s/stop" % tid, {"reason": "bench"}), "StopTask")
    end = deadline(WAIT_S)
    while task(tid)["lastStatus"] != "STOPPED":
        check(end, "RunTask task %s STOPPED" % tid)
        time.sleep(0.02)
    return ms

def container_of(tid):
    """The runtime id of task tid's container orch-TASKID-0, from `orch ps`."""
    out = subprocess.run([orch, "ps", "--data", data, "--json"], check=True,
                         capture_output=True, text=True).stdout
    for c in json.loads(out):
        if c["name"] == "orch-%s-0" % tid and c["status"] == "running":
            return c["id"]
    sys.exit("service_latency: no running container orch-%s-0 in `orch ps`" % tid)

def applied_delay(tid):
    """The launch delay (s) the service applied for its failed task tid."""
    events = ok(*call("GET", C + "/services/%s/events?maxResults=20" % SERVICE), "events")["events"]
    for e in events:
        if tid in e["message"] and "next launch in" in e["message"]:
            return float(e["message"].rsplit("next launch in", 1)[1].split()[0])
    return None

rng = random.Random(1)

def kill_round():
    """Kill a RUNNING task's container -> a replacement RUNNING, runningCount
    back at desired; ms, plus the server-stamped split."""
    tasks = [t for t in service_tasks() if t["lastStatus"] == "RUNNING"]
    victim = rng.choice(tasks)["taskId"]
    before = {t["taskId"] for t in service_tasks()}
    cid = container_of(victim)
    subprocess.run([orch, "kill", "-s", "KILL", "--data", data, cid], check=True,
                   stdout=subprocess.DEVNULL)
    t0, wall0 = time.monotonic(), time.time()
    end = deadline(WAIT_S)
    while True:
        new = [t for t in service_tasks() if t["taskId"] not in before and t["lastStatus"] == "RUNNING"]
        if new:
            sv = service()
            if sv["runningCount"] == sv["desiredCount"] == DESIRED:
                ms = (time.monotonic() - t0) * 1000
                break
        check(end, "a replacement of killed task %s" % victim)
        time.sleep(POLL_S)
    dead, repl = task(victim), new[0]
    split = ((dead["stoppedAt"] - wall0) * 1000,               # the server notices
             (repl["createdAt"] - dead["stoppedAt"]) * 1000,    # the throttle
             (repl["startedAt"] - repl["createdAt"]) * 1000)    # the launch
    return ms, split, dead.get("stopCode"), applied_delay(victim)

say("warming up: 3 RunTask launches, then the service (%d tasks)" % DESIRED)
revision = register("1")
for _ in range(3):
    run_task()
body = ok(*call("POST", C + "/services", {
    "serviceName": SERVICE, "taskDefinition": "%s:%d" % (FAMILY, revision),
    "desiredCount": DESIRED,
    "deploymentConfiguration": {"maximumPercent": 200, "minimumHealthyPercent": 100}}),
    "CreateService")
t0 = time.monotonic()
wait_stable(revision, "the new service to be stable")
create_ms = (time.monotonic() - t0) * 1000

say("%d updates" % updates)
update_ms, update_running_ms = [], []
for i in range(updates):
    revision = register(str(i + 2))
    t0 = time.monotonic()
    ok(*call("PATCH", C + "/services/" + SERVICE,
             {"taskDefinition": "%s:%d" % (FAMILY, revision)}), "UpdateService")
    update_running_ms.append(wait_stable(revision, "update %d to be COMPLETED" % (i + 1), t0))
    update_ms.append((time.monotonic() - t0) * 1000)

say("%d kill rounds alternated with %d RunTask launches (%.1f s settle)" % (kills, kills, settle_s))
kill_ms, splits, codes, delays, launch_ms = [], [], set(), [], []
for i in range(kills):
    wait_stable(revision, "the service to be stable before kill %d" % (i + 1))
    time.sleep(settle_s)
    ms, split, code, delay = kill_round()
    kill_ms.append(ms)
    splits.append(split)
    codes.add(code)
    delays.append(delay)
    wait_stable(revision, "the service to be stable after kill %d" % (i + 1))
    launch_ms.append(run_task())

ok(*call("DELETE", C + "/services/%s?force=true" % SERVICE), "DeleteService")

def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]

med = statistics.median
known = [d for d in delays if d is not None]
print("service latency, one node (warm, cached image), %d-task service, maximumPercent 200, "
      "minimumHealthyPercent 100:" % DESIRED)
print("  %-44s %5s %9s %9s" % ("", "n", "p50 ms", "p99/max"))
print("  %-44s %5d %9.1f %9.1f" % ("update -> deployment COMPLETED (max)", len(update_ms),
                                    med(update_ms), max(update_ms)))
print("  %-44s %5d %9.1f %9.1f" % ("  new revision's tasks all RUNNING (max)", len(update_running_ms),
                                    med(update_running_ms), max(update_running_ms)))
print("  %-44s %5d %9.1f %9.1f" % ("container kill -> replacement RUNNING", len(kill_ms),
                                    pct(kill_ms, 50), pct(kill_ms, 99)))
print("  %-44s %5d %9.1f %9.1f" % ("  server notices the exit (stoppedAt)", len(splits),
                                    pct([s[0] for s in splits], 50), pct([s[0] for s in splits], 99)))
print("  %-44s %5d %9.1f %9.1f" % ("  launch throttle (replacement createdAt)", len(splits),
                                    pct([s[1] for s in splits], 50), pct([s[1] for s in splits], 99)))
print("  %-44s %5d %9.1f %9.1f" % ("  replacement launch (startedAt)", len(splits),
                                    pct([s[2] for s in splits], 50), pct([s[2] for s in splits], 99)))
print("  %-44s %5d %9.1f %9.1f" % ("RunTask -> RUNNING (alternated with kills)", len(launch_ms),
                                    pct(launch_ms, 50), pct(launch_ms, 99)))
print("  first create -> stable: %.1f ms; kills sequential, each from a stable service + %.1f s;"
      % (create_ms, settle_s))
print("  stop codes of killed tasks: %s; throttle applied per kill: %s s (%d of %d found)"
      % (", ".join(sorted(str(c) for c in codes)),
         "/".join("%g" % d for d in sorted(set(known))) or "?", len(known), len(delays)))
print(json.dumps({
    "bench": "service_latency", "desired": DESIRED, "maximumPercent": 200,
    "minimumHealthyPercent": 100, "settle_s": settle_s,
    "update_n": len(update_ms), "update_median_ms": round(med(update_ms), 1),
    "update_max_ms": round(max(update_ms), 1),
    "update_new_running_median_ms": round(med(update_running_ms), 1),
    "kill_n": len(kill_ms), "kill_p50_ms": round(pct(kill_ms, 50), 1),
    "kill_p99_ms": round(pct(kill_ms, 99), 1),
    "kill_notice_p50_ms": round(pct([s[0] for s in splits], 50), 1),
    "kill_throttle_p50_ms": round(pct([s[1] for s in splits], 50), 1),
    "kill_launch_p50_ms": round(pct([s[2] for s in splits], 50), 1),
    "throttle_applied_s": sorted(set(known)),
    "runtask_n": len(launch_ms), "runtask_p50_ms": round(pct(launch_ms, 50), 1),
    "runtask_p99_ms": round(pct(launch_ms, 99), 1)}))
EOF
# The server logs at warn and above: a run that logged anything says so.
if [ "$status" != 0 ]; then
  say "failed (status $status); the server's log:"
  tail -n 40 "$WORK/server.log" >&2
elif [ -s "$WORK/server.log" ]; then
  say "the server logged $(wc -l <"$WORK/server.log") lines at warn or above; the last ones:"
  tail -n 20 "$WORK/server.log" >&2
fi
exit "$status"
