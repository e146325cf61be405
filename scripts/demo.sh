#!/usr/bin/env bash
# scripts/demo.sh - the README's first command: a one-machine orch.
#
# Sets the machine up (scripts/setup.sh: packages, static build), starts
# `orch server` on the data dir (default /var/lib/orch) unless one already
# runs there, builds a busybox image offline and imports it, runs one
# container from it, registers examples/web.json and shows it.  The server
# keeps running; the script prints how to use and stop it.
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
  [ -f "$DATA/api-address" ] && curl -fsS "$(cat "$DATA/api-address")/healthz" >/dev/null 2>&1
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
cat <<MSG

The API is at $(cat "$DATA/api-address"); the admin token is in $DATA/admin-token.
Try:   ORCH_DATA=$DATA $ORCH cluster ls
Stop:  kill \$(cat $DATA/server.pid)
MSG
