#!/bin/bash
# service_bench.sh - what the service reconciler costs at scale
# (`orch bench-services`): 500 REPLICA services of 20 tasks on 1,000 fake
# nodes, on the real store (tmpfs), placement and reconciler in one process.
# Figures: the rollout of the 10,000 tasks, the CPU of one task's stop and
# replacement (median, p99), one node DRAINING (every service reconciled),
# VmRSS/VmHWM and the store's size.
#
# There is no peer for a reconciler; the nearest figure is the scheduler
# alone on the same sizes (`orch bench-scheduler --nodes 1000 --tasks 10000
# --mix default`, ECS's default spread as the services' tasks use), run
# alternately with it, so the two placement rates show what the store and
# the reconciler add over bare placement.  Each is run 3 times; the medians
# are printed.  Builds nothing; asserts nothing.
#
#   tests/bench/service_bench.sh [ORCH_BIN] [bench-services flags...]
#   e.g. tests/bench/service_bench.sh --services 50 --nodes 100 --events 200
#
# ORCH_BIN (default build/orch) when no binary is given.  The scheduler's
# sizes follow --nodes and --services x --tasks-per-service.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/common.sh"
if [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; then
	orch_bin "$1"
	shift
else
	orch_bin
fi
ARGS=("$@")
RUNS=3

# The scheduler's sizes from the same flags (defaults as bench-services').
services=500 per_service=20 nodes=1000
set -- "${ARGS[@]}"
while [ $# -gt 1 ]; do
	case "$1" in
	--services) services=$2 ;;
	--tasks-per-service) per_service=$2 ;;
	--nodes) nodes=$2 ;;
	esac
	shift
done
SCHED_ARGS=(--nodes "$nodes" --tasks $((services * per_service)) --mix default)

for verb in bench-services bench-scheduler; do
	if ! "$ORCH" "$verb" --help >/dev/null 2>&1; then
		echo "service_bench: '$ORCH $verb' is not available" >&2
		exit 1
	fi
done

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

OUT=$(mktemp -d /tmp/orch-service-bench-XXXXXX)
trap 'rm -rf "$OUT"' EXIT
for i in $(seq 1 $RUNS); do
	"$ORCH" bench-services "${ARGS[@]}" --seed "$i" > "$OUT/services.$i"
	"$ORCH" bench-scheduler "${SCHED_ARGS[@]}" --seed "$i" > "$OUT/scheduler.$i"
	echo "run $i: $(awk '$1 == "rollout_tasks_per_s" || $1 == "stop_event_cpu_us_median" \
		|| $1 == "drain_cpu_ms" {printf "%s %s  ", $1, $2}' "$OUT/services.$i")" \
		"scheduler $(awk '/^placements_per_sec/ {print $2}' "$OUT/scheduler.$i")/s"
done

# fig NAME: the median of bench-services' figure NAME over the runs.
fig() { cat "$OUT"/services.* | awk -v k="$1" '$1 == k {print $2}' | median; }

echo "--- medians over $RUNS runs (bench-services ${ARGS[*]:-(defaults)}) ---"
printf 'size                    %s services x %s tasks on %s nodes\n' \
	"$(fig services)" "$(fig tasks_per_service)" "$(fig nodes)"
printf 'rollout                 %s tasks in %s s CPU, %s s wall\n' \
	"$(fig rollout_tasks)" "$(fig rollout_cpu_s)" "$(fig rollout_wall_s)"
printf 'rollout placements/s    %s (%s us CPU per task)\n' \
	"$(fig rollout_tasks_per_s)" "$(fig rollout_cpu_us_per_task)"
printf 'spread                  %s of %s nodes used, the busiest holds %s tasks\n' \
	"$(fig setup_nodes_used)" "$(fig nodes)" "$(fig setup_busiest_node_tasks)"
printf 'deployments completed   %s s CPU (one pass per service)\n' "$(fig stable_cpu_s)"
printf 'stop event CPU          median %s us, p99 %s us (%s events)\n' \
	"$(fig stop_event_cpu_us_median)" "$(fig stop_event_cpu_us_p99)" "$(fig events)"
printf 'start event CPU         median %s us, p99 %s us\n' \
	"$(fig start_event_cpu_us_median)" "$(fig start_event_cpu_us_p99)"
printf 'replacements/s          %s (one stop event each)\n' "$(fig replacements_per_s)"
printf 'node DRAINING           %s ms CPU, %s ms wall (%s passes, %s tasks replaced)\n' \
	"$(fig drain_cpu_ms)" "$(fig drain_wall_ms)" "$(fig drain_passes)" "$(fig drain_launched)"
printf 'VmRSS                   %s KiB after setup, %s KiB at the end\n' \
	"$(fig rss_kib_setup)" "$(fig rss_kib_end)"
printf 'VmHWM                   %s KiB\n' "$(fig hwm_kib_end)"
printf 'store                   %s bytes + %s bytes WAL\n' \
	"$(fig store_db_bytes)" "$(fig store_wal_bytes)"
sched=$(cat "$OUT"/scheduler.* | awk '/^placements_per_sec/ {print $2}' | median)
printf 'scheduler alone         %s placements/s (bench-scheduler %s)\n' "$sched" "${SCHED_ARGS[*]}"
awk -v s="$sched" -v r="$(fig rollout_tasks_per_s)" -v e="$(fig replacements_per_s)" 'BEGIN {
	if (r > 0 && e > 0)
		printf "reconciler + store      %.0fx slower than bare placement at rollout, %.0fx per replacement\n", s / r, s / e
}'
