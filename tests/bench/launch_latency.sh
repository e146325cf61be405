#!/usr/bin/env bash
# tests/bench/launch_latency.sh — RunTask → RUNNING latency on a warm node.
#
# Starts `orch server` (with its embedded agent: a one-node cluster) on a
# fresh data dir, imports the offline busybox image there, warms up, then
# runs N tasks one after the other and measures for each:
#   client   POST RunTask → the first DescribeTasks that says RUNNING
#            (polled every 1 ms on one keep-alive HTTPS connection)
#   server   the task's startedAt − createdAt (both stamped by the server)
# and prints p50/p99 of both beside the raw `orch run --rm busybox true` time
# and the detached start `orch run -d` of the same machine in the same run
# (the orchestration overhead is the difference to the latter).  Each task is stopped (stopTimeout 0) once it ran.
# Asserts nothing: a benchmark prints figures.
#
# Usage: tests/bench/launch_latency.sh [N (default 200)] [RAW_RUNS (default 20)]
#   ORCH_BIN=path/to/orch (default build/orch)
set -euo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
N=${1:-200}
RAW_RUNS=${2:-20}
PY=/usr/bin/python3
WORK=$(mktemp -d /tmp/orch-launch-bench.XXXXXX)
DATA=$WORK/data
PORT=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
SERVER_PID=

cleanup() {
  if [ -n "$SERVER_PID" ]; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  # Every container of the run (task containers and raw runs), then the dir.
  if [ -d "$DATA/containers" ]; then
    for id in $(ls "$DATA/containers"); do "$ORCH" rm -f --data "$DATA" "$id" >/dev/null 2>&1 || true; done
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

say() { printf 'launch_latency: %s\n' "$*" >&2; }

orch_bin
[ -x /bin/busybox ] || { say "busybox-static is not installed"; exit 1; }

say "building and importing the busybox image"
$PY "$ROOT/tests/images/build_images.py" "$WORK/images" >/dev/null
mkdir -p "$DATA"
"$ORCH" image import --data "$DATA" --name busybox:latest "$WORK/images/busybox" >/dev/null

say "starting orch server on 127.0.0.1:$PORT (embedded agent)"
"$ORCH" server --data "$DATA" --listen "127.0.0.1:$PORT" --log-level warn >"$WORK/server.log" 2>&1 &
SERVER_PID=$!

# The raw runtime beside it, same machine, same run: `orch run --rm`.
raw_ms=()
for _ in $(seq "$RAW_RUNS"); do
  t0=$(date +%s%N)
  "$ORCH" run --rm --data "$DATA" busybox true >/dev/null
  t1=$(date +%s%N)
  raw_ms+=($(( (t1 - t0) / 1000 )))
done
RAW=$(printf '%s\n' "${raw_ms[@]}" | sort -n | awk '{a[NR]=$1} END {printf "%.1f", a[int((NR+1)/2)]/1000}')
# And a detached start (`orch run -d`: returns once the command runs), the
# runtime's share of a task launch.
start_ms=()
for _ in $(seq "$RAW_RUNS"); do
  t0=$(date +%s%N)
  id=$("$ORCH" run -d --data "$DATA" busybox sleep 3600)
  t1=$(date +%s%N)
  start_ms+=($(( (t1 - t0) / 1000 )))
  "$ORCH" rm -f --data "$DATA" "$id" >/dev/null
done
START=$(printf '%s\n' "${start_ms[@]}" | sort -n | awk '{a[NR]=$1} END {printf "%.1f", a[int((NR+1)/2)]/1000}')

$PY - "$PORT" "$DATA" "$N" "$RAW" "$START" <<'EOF'
import http.client, json, os, ssl, sys, time

port, data, n, raw_ms = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
start_ms = float(sys.argv[5])
deadline = time.monotonic() + 30
while not os.path.exists(os.path.join(data, "pki", "ca.pem")) or \
        not os.path.exists(os.path.join(data, "admin-token")):
    if time.monotonic() > deadline:
        sys.exit("server did not start")
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

deadline = time.monotonic() + 30
while True:
    try:
        st, body = call("GET", "/v1/clusters/default/nodes")
        if st == 200 and any(x["status"] == "ACTIVE" for x in body["containerInstances"]):
            break
    except OSError:
        pass
    if time.monotonic() > deadline:
        sys.exit("no ACTIVE node after 30 s")
    time.sleep(0.05)

td = {"family": "launchbench", "networkMode": "none",
      "containerDefinitions": [{"name": "app", "image": "busybox", "memory": 16,
                                "command": ["sleep", "3600"], "stopTimeout": 0}]}
st, body = call("POST", "/v1/task-definitions", td)
assert st in (200, 201), body

def one():
    t0 = time.monotonic()
    st, body = call("POST", "/v1/clusters/default/tasks", {"taskDefinition": "launchbench"})
    assert st in (200, 201) and body["tasks"], body
    tid = body["tasks"][0]["taskId"]
    while True:
        st, body = call("GET", "/v1/clusters/default/tasks/" + tid)
        t = body["task"]
        if t["lastStatus"] == "RUNNING":
            client = (time.monotonic() - t0) * 1000
            server = (t["startedAt"] - t["createdAt"]) * 1000
            break
        if t["lastStatus"] == "STOPPED":
            sys.exit("task stopped: %s" % t.get("stoppedReason"))
        if time.monotonic() - t0 > 60:
            sys.exit("task not RUNNING after 60 s")
        time.sleep(0.001)
    call("POST", "/v1/clusters/default/tasks/%s/stop" % tid, {"reason": "bench"})
    return client, server

for _ in range(5):   # warm-up: page cache, first connection, first cgroups
    one()
client, server = [], []
for _ in range(n):
    c, s = one()
    client.append(c)
    server.append(s)

def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]

print("launch latency over %d tasks (warm node, cached image):" % n)
print("  RunTask -> RUNNING, client-observed: p50 %7.1f ms   p99 %7.1f ms" % (pct(client, 50), pct(client, 99)))
print("  RunTask -> RUNNING, server stamps:   p50 %7.1f ms   p99 %7.1f ms" % (pct(server, 50), pct(server, 99)))
print("  raw `orch run --rm busybox true`:    p50 %7.1f ms (start, exit, removal)" % raw_ms)
print("  raw `orch run -d busybox sleep`:     p50 %7.1f ms (start only)" % start_ms)
print("  orchestration overhead (client p50 - run -d p50): %.1f ms; target p99 < 50 ms"
      % (pct(client, 50) - start_ms))
EOF
