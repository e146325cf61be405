#!/usr/bin/env bash
# scripts/demo.sh - the README's first command: a one-machine orch.
#
# Sets the machine up (scripts/setup.sh: packages, static build), starts
# `orch server` on the data dir (default /var/lib/orch) unless one already
# runs there, builds a busybox image offline and imports it, runs one
# container from it, registers examples/web.json and runs it as a task on
# the server's embedded agent (a one-node cluster), waits until it is
# RUNNING and fetches its page on 127.0.0.1:8080.  The server and the task
# keep running; the script prints how to use and stop them.  Run again, it
# reuses the running server and task.
#
# Usage: scripts/demo.sh [--data DIR] [--listen ADDR:PORT]
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DATA=${ORCH_DATA:-/var/lib/orch}
LISTEN=127.0.0.1:7070

while [ $# -gt 0 ]; do
  case "$1" in
    --data) DATA=${2:?--data needs a directory}; shift ;;
    --listen) LISTEN=${2:?--listen needs ADDR:PORT}; shift ;;
    -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "demo: unknown argument '$1'" >&2; exit 2 ;;
  esac
  shift
done

bash "$ROOT/scripts/setup.sh" --no-asan
ORCH="$ROOT/build/orch"
mkdir -p "$DATA"
export ORCH_DATA="$DATA"

healthy() {
  [ -f "$DATA/api-address" ] && [ -f "$DATA/pki/ca.pem" ] &&
    curl -fsS --cacert "$DATA/pki/ca.pem" "$(cat "$DATA/api-address")/healthz" >/dev/null 2>&1
}

if healthy && [ -f "$DATA/server.pid" ] && kill -0 "$(cat "$DATA/server.pid")" 2>/dev/null; then
  echo "demo: orch server already running on $DATA (pid $(cat "$DATA/server.pid"))"
else
  rm -f "$DATA/api-address"
  nohup "$ORCH" server --data "$DATA" --listen "$LISTEN" >>"$DATA/server.log" 2>&1 &
  echo $! >"$DATA/server.pid"
  for _ in $(seq 1 100); do
    healthy && break
    kill -0 "$(cat "$DATA/server.pid")" 2>/dev/null || { cat "$DATA/server.log" >&2; exit 1; }
    sleep 0.1
  done
  healthy || { echo "demo: server did not become healthy" >&2; cat "$DATA/server.log" >&2; exit 1; }
  echo "demo: orch server started (pid $(cat "$DATA/server.pid"), log $DATA/server.log)"
fi

# The example names busybox:latest; build it offline from Debian's
# busybox-static and import it, so the demo needs no registry.
if ! "$ORCH" image ls -q 2>/dev/null | grep -q .; then
  images=$(mktemp -d)
  /usr/bin/python3 "$ROOT/tests/images/build_images.py" "$images" --only busybox >/dev/null
  "$ORCH" image import "$images/busybox" --name busybox:latest
  rm -rf "$images"
fi
"$ORCH" image ls
echo
"$ORCH" run --rm busybox:latest sh -c 'echo "hello from a container on $(hostname)"'
echo

"$ORCH" taskdef register "$ROOT/examples/web.json"
echo
"$ORCH" taskdef show web
echo
"$ORCH" taskdef ls
echo

# web as a task (ECS RunTask) unless one is already wanted: host networking,
# so a second copy would only wait for port 8080.
web_task() {
  "$ORCH" task ls --family web --json |
    /usr/bin/python3 -c 'import json, sys
tasks = json.load(sys.stdin).get("tasks", [])
want = [t for t in tasks if t["desiredStatus"] == "RUNNING"]
print(want[0]["taskId"] + " " + want[0]["lastStatus"] if want else "")'
}
read -r TASK STATUS <<<"$(web_task)" || true
if [ -z "${TASK:-}" ]; then
  "$ORCH" task run web --count 1
  read -r TASK STATUS <<<"$(web_task)" || true
fi
[ -n "${TASK:-}" ] || { echo "demo: no web task was created" >&2; exit 1; }
for _ in $(seq 1 150); do	# at most 30 s
  [ "$STATUS" = RUNNING ] && break
  [ "$STATUS" = STOPPED ] && break
  sleep 0.2
  read -r TASK STATUS <<<"$(web_task)" || true
  [ -n "${TASK:-}" ] || STATUS=STOPPED
done
echo
"$ORCH" task ls
echo
if [ "$STATUS" != RUNNING ]; then
  echo "demo: task ${TASK:-?} is ${STATUS:-gone}, not RUNNING:" >&2
  [ -z "${TASK:-}" ] || "$ORCH" task show "$TASK" >&2 || true
  exit 1
fi
page=
for _ in $(seq 1 50); do	# httpd may need a moment after RUNNING
  page=$(curl -fsS --max-time 2 http://127.0.0.1:8080/ 2>/dev/null) && break
  sleep 0.1
done
[ -n "$page" ] || { echo "demo: http://127.0.0.1:8080/ did not answer" >&2; exit 1; }
echo "curl http://127.0.0.1:8080/  ->  $page"
cat <<MSG

The API is at $(cat "$DATA/api-address"); the admin token is in $DATA/admin-token.
Try:   ORCH_DATA=$DATA $ORCH cluster ls
       ORCH_DATA=$DATA $ORCH task logs $TASK
Stop the task:    ORCH_DATA=$DATA $ORCH task stop $TASK
Stop the server:  kill \$(cat $DATA/server.pid)
MSG
