#!/bin/sh
# api_bench.sh - requests per second and p99 latency of the REST API.
#
# Starts `orch server` on a temporary data dir and a free loopback port,
# registers examples/web.json (family "web"), then drives it with wrk
# (50 connections, 2 threads, 10 s per run, --latency):
#
#   describe  GET  /v1/task-definitions/web:1
#   register  POST /v1/task-definitions   (durable: each 201 is a committed
#                                          revision of family "bench")
#
# Each is run 3 times, alternating, and the medians are printed.  Prints
# figures only; asserts nothing about speed.  Targets for context, on the
# 2-core build machine: 20,000 describes/s, 2,000 durable registrations/s.
#
# Environment: ORCH_BIN (default build/orch),
# BENCH_DURATION (default 10s), BENCH_CONNECTIONS (50), BENCH_THREADS (2),
# BENCH_ROUNDS (3).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"
orch_bin
duration=${BENCH_DURATION:-10s}
connections=${BENCH_CONNECTIONS:-50}
threads=${BENCH_THREADS:-2}
rounds=${BENCH_ROUNDS:-3}

for tool in wrk curl python3; do
	command -v "$tool" >/dev/null 2>&1 || {
		echo "api_bench: $tool is required (apt-get install $tool)" >&2
		exit 2
	}
done

work=$(mktemp -d /tmp/orch-api-bench.XXXXXX)
server_pid=
cleanup() {
	if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
		kill -TERM "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
base="https://127.0.0.1:$port"

"$ORCH" server --data "$work/data" --listen "127.0.0.1:$port" --no-agent \
	--log-level warn >"$work/server.log" 2>&1 &
server_pid=$!

tries=0
# The API is HTTPS with the cluster CA the server creates on first start.
ca="$work/data/pki/ca.pem"
until [ -f "$ca" ] && curl -fsS --cacert "$ca" "$base/healthz" >/dev/null 2>&1; do
	tries=$((tries + 1))
	if [ $tries -gt 300 ] || ! kill -0 "$server_pid" 2>/dev/null; then
		echo "api_bench: server did not become ready; log:" >&2
		cat "$work/server.log" >&2
		exit 1
	fi
	sleep 0.1
done

ORCH_TOKEN=$(cat "$work/data/admin-token")
export ORCH_TOKEN
export ORCH_BENCH_DIR="$here"
export ORCH_BENCH_PATH="/v1/task-definitions/web:1"
sed 's/"family": *"web"/"family": "bench"/' "$ROOT/examples/web.json" \
	>"$work/bench.json"
export ORCH_BENCH_BODY="$work/bench.json"

status=$(curl -sS --cacert "$ca" -o "$work/web.out" -w '%{http_code}' \
	-H "Authorization: Bearer $ORCH_TOKEN" \
	-H 'Content-Type: application/json' \
	--data-binary @"$ROOT/examples/web.json" "$base/v1/task-definitions")
if [ "$status" != 201 ]; then
	echo "api_bench: registering examples/web.json answered $status:" >&2
	cat "$work/web.out" >&2
	exit 1
fi

# run NAME SCRIPT: one wrk run; appends its RESULT line to $work/NAME.
run() {
	wrk -t"$threads" -c"$connections" -d"$duration" --latency \
		-s "$here/$2" "$base" >"$work/wrk.out" 2>&1 || {
		echo "api_bench: wrk failed:" >&2
		cat "$work/wrk.out" >&2
		exit 1
	}
	line=$(grep '^RESULT' "$work/wrk.out")
	echo "$line" >>"$work/$1"
	printf '  %-9s %s\n' "$1" "${line#RESULT }"
}

echo "orch API benchmark: $("$ORCH" --version 2>/dev/null | head -n1)"
echo "wrk -t$threads -c$connections -d$duration --latency, $rounds rounds," \
	"alternating; $(nproc) CPUs"
i=1
while [ $i -le "$rounds" ]; do
	echo "round $i"
	run describe describe.lua
	run register register.lua
	i=$((i + 1))
done

# median NAME FIELD: the median of FIELD=value over NAME's runs.
median() {
	sed -n "s/.* $2=\\([0-9.]*\\).*/\\1/p" "$work/$1" | sort -n |
		awk '{ v[NR] = $1 } END {
			if (NR % 2) print v[(NR + 1) / 2];
			else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

registered=$(curl -fsS --cacert "$ca" -H "Authorization: Bearer $ORCH_TOKEN" "$base/v1/info" |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["counts"]["taskDefinitions"])')

echo
echo "medians of $rounds runs:"
printf '  %-30s %12s %12s %10s %10s\n' benchmark "requests/s" "2xx/s" "p99 ms" \
	"non-2xx"
printf '  %-30s %12s %12s %10s %10s\n' \
	"describe-task-definition" "$(median describe rps)" \
	"$(median describe ok_rps)" "$(median describe p99_ms)" \
	"$(median describe non2xx)"
printf '  %-30s %12s %12s %10s %10s\n' \
	"register-task-definition" "$(median register rps)" \
	"$(median register ok_rps)" "$(median register p99_ms)" \
	"$(median register non2xx)"
echo "targets: 20000 describes/s, 2000 durable registrations/s"
echo "task definitions stored at the end: $registered"
