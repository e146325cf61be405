#!/bin/bash
# cluster_scale.sh - durable scheduler throughput end to end, and footprint.
#
# Per run: starts `orch server --no-agent` on a fresh data dir (HTTPS on a
# free loopback port, --node-grace long enough that fake nodes stay ACTIVE),
# registers NODES fake nodes through POST /v1/agent/register (they never
# poll: an agent that acknowledges instantly), registers a small task
# definition, then drives RunTask count=10 with wrk (CONNECTIONS connections)
# until TASKS tasks are acknowledged.  Every 200 is after the group commit,
# so placements/s counts durably committed, placed tasks (each carries a
# containerInstanceArn).  Then reads the server's VmRSS/VmHWM from /proc.
# After the last run, joins one real `orch agent` and reads its VmRSS idle.
# Also prints the server's CPU time per placement (user + system over the
# RunTask phase).  Runs 3 times and prints medians.  Asserts nothing.
# Targets: >= 20,000 placements/s; server RSS < 200 MB; idle agent < 10 MB.
#
#   tests/bench/cluster_scale.sh [ORCH_BIN]   (env NODES, TASKS, CONNECTIONS, RUNS)
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/common.sh"
orch_bin "${1:-}"
NODES=${NODES:-5000}
TASKS=${TASKS:-100000}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=2
RUNS=${RUNS:-3}

for tool in wrk curl python3; do
	command -v "$tool" >/dev/null || { echo "cluster_scale: $tool is required" >&2; exit 2; }
done

WORK=$(mktemp -d /tmp/orch-cluster-scale.XXXXXX)
server_pid= agent_pid=
stop_all() {
	[ -z "$agent_pid" ] || { kill -TERM "$agent_pid" 2>/dev/null || true; wait "$agent_pid" 2>/dev/null || true; }
	[ -z "$server_pid" ] || { kill -TERM "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; }
	agent_pid= server_pid=
}
trap 'stop_all; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM

kib() { awk -v k="$2" '$1 == k":" {print $2}' "/proc/$1/status"; }
# CPU time (user + system) a process used so far, in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

start_server() {
	local data=$1
	PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	"$ORCH" server --data "$data" --listen "127.0.0.1:$PORT" --no-agent --node-grace 86400 \
		--log-level warn >"$data.log" 2>&1 &
	server_pid=$!
	for _ in $(seq 1 300); do
		[ -f "$data/pki/ca.pem" ] && curl -fsS --cacert "$data/pki/ca.pem" \
			"https://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && return 0
		kill -0 "$server_pid" 2>/dev/null || break
		sleep 0.1
	done
	echo "cluster_scale: server did not start:" >&2
	cat "$data.log" >&2
	exit 1
}

echo "cluster_scale: $NODES nodes, $TASKS tasks, RunTask count=10 over $CONNECTIONS connections, $(nproc) CPUs"
for run in $(seq 1 "$RUNS"); do
	data=$WORK/data$run
	start_server "$data"
	base=https://127.0.0.1:$PORT
	token=$(cat "$data/admin-token")
	python3 "$HERE/cluster_scale_register.py" "$base" "$(cat "$data/join-token")" "$NODES" \
		--cacert "$data/pki/ca.pem" >"$WORK/register.out"
	curl -fsS --cacert "$data/pki/ca.pem" -H "Authorization: Bearer $token" \
		-H 'Content-Type: application/json' -o /dev/null "$base/v1/task-definitions" \
		--data-binary '{"family":"scale","networkMode":"none","containerDefinitions":[{"name":"c","image":"busybox:latest","cpu":64,"memory":64}]}'
	rm -f "$WORK"/done.*
	ticks0=$(cpu_ticks "$server_pid")
	ORCH_TOKEN=$token ORCH_BENCH_TASKS=$TASKS ORCH_BENCH_THREADS=$THREADS ORCH_BENCH_DONE=$WORK/done \
		wrk -t"$THREADS" -c"$CONNECTIONS" -d600s -s "$HERE/runtask.lua" "$base" >"$WORK/wrk.out" 2>&1 &
	wrk_pid=$!
	# wrk waits out -d after its threads stopped; end it once each thread is done.
	while kill -0 "$wrk_pid" 2>/dev/null; do
		[ "$(ls "$WORK"/done.* 2>/dev/null | wc -l)" -ge "$THREADS" ] && kill -INT "$wrk_pid"
		sleep 0.2
	done
	wait "$wrk_pid" || true
	ticks1=$(cpu_ticks "$server_pid")
	grep -q '^RESULT' "$WORK/wrk.out" || { cat "$WORK/wrk.out" >&2; exit 1; }
	result=$(grep '^RESULT' "$WORK/wrk.out")
	placed=$(sed -n 's/.* placed=\([0-9]*\).*/\1/p' <<<"$result")
	secs=$(sed -n 's/.* seconds=\([0-9.]*\).*/\1/p' <<<"$result")
	rate=$(awk -v p="$placed" -v s="$secs" 'BEGIN {printf "%d", p / s}')
	# Server CPU per placement: steadier than the rate on a shared machine.
	us_per=$(awk -v t=$((ticks1 - ticks0)) -v hz="$(getconf CLK_TCK)" -v p="$placed" \
		'BEGIN {printf "%.1f", t / hz * 1e6 / p}')
	stored=$(curl -fsS --cacert "$data/pki/ca.pem" -H "Authorization: Bearer $token" \
		"$base/v1/clusters/default" | python3 -c 'import json,sys; c=json.load(sys.stdin)["cluster"]; print(c.get("taskCount", c.get("runningTasksCount", 0)) if False else json.dumps({k: v for k, v in c.items() if k.endswith("Count")}))')
	rss=$(kib "$server_pid" VmRSS) hwm=$(kib "$server_pid" VmHWM)
	echo "run $run: $(cat "$WORK/register.out"); $result; placements/s=$rate; server CPU/placement=${us_per} us; server VmRSS=${rss} KiB VmHWM=${hwm} KiB; cluster $stored"
	echo "$rate $rss $hwm $us_per" >>"$WORK/figures"
	if [ "$run" -lt "$RUNS" ]; then
		stop_all
		rm -rf "$data"
	fi
done

# An idle agent: joined to the last run's server, runtime data in WORK.
agent_data=$WORK/agent
mkdir -p "$agent_data"
"$ORCH" agent --server "https://127.0.0.1:$PORT" --token-file "$data/join-token" \
	--data "$agent_data" --node-name scale-idle-agent --cgroup-parent orch-scale-bench \
	--log-level warn >"$WORK/agent.log" 2>&1 &
agent_pid=$!
agent_rss=
for _ in $(seq 1 100); do	# joined once agent.json holds its credential
	if [ -s "$agent_data/agent.json" ]; then
		sleep 2
		kill -0 "$agent_pid" 2>/dev/null && agent_rss=$(kib "$agent_pid" VmRSS)
		break
	fi
	kill -0 "$agent_pid" 2>/dev/null || break
	sleep 0.1
done
[ -n "$agent_rss" ] || { echo "cluster_scale: agent did not join:" >&2; cat "$WORK/agent.log" >&2; }

echo "--- medians over $RUNS runs ---"
printf 'placements/s (durable)  %s (target >= 20000)\n' "$(awk '{print $1}' "$WORK/figures" | median)"
printf 'server CPU/placement    %s us\n' "$(awk '{print $4}' "$WORK/figures" | median)"
printf 'server VmRSS            %s KiB (target < 204800)\n' "$(awk '{print $2}' "$WORK/figures" | median)"
printf 'server VmHWM            %s KiB\n' "$(awk '{print $3}' "$WORK/figures" | median)"
printf 'idle agent VmRSS        %s KiB (target < 10240)\n' "${agent_rss:-n/a}"
