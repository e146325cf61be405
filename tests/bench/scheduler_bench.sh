#!/bin/bash
# scheduler_bench.sh - in-memory placement throughput and footprint of the
# scheduler (`orch bench-scheduler`): 5,000 fake nodes, 100,000 tasks with a
# mix of binpack memory, spread attribute:zone and a memberOf constraint.
# Runs it 3 times and prints the medians.  No store, no network: the durable
# end-to-end figure comes from the server benchmark.  Asserts nothing.
# Targets: >= 100,000 placements/s in memory (>= 20,000/s durable end to end).
#
#   tests/bench/scheduler_bench.sh [ORCH_BIN] [--nodes N] [--tasks N] [--mix default]
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
[ ${#ARGS[@]} -gt 0 ] || ARGS=(--nodes 5000 --tasks 100000)
RUNS=3

if ! "$ORCH" bench-scheduler --help >/dev/null 2>&1; then
	echo "scheduler_bench: '$ORCH bench-scheduler' is not available" >&2
	exit 1
fi

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

OUT=$(mktemp /tmp/orch-sched-bench-XXXXXX)
trap 'rm -f "$OUT"' EXIT
for i in $(seq 1 $RUNS); do
	"$ORCH" bench-scheduler "${ARGS[@]}" --seed "$i" > "$OUT.$i"
	echo "run $i: $(grep -E '^placements_per_sec' "$OUT.$i") $(grep -E '^rss_kb' "$OUT.$i")"
done

echo "--- medians over $RUNS runs (${ARGS[*]}) ---"
cat "$OUT".[0-9]* | awk '/^placements_per_sec/ {print $2}' | median | \
	xargs printf 'placements/s          %s (target >= 100000 in memory)\n'
cat "$OUT".[0-9]* | awk '/^releases_per_sec/ {print $2}' | median | \
	xargs printf 'releases/s            %s\n'
for kind in binpack-memory spread-zone+instance memberOf+binpack-cpu default-spread; do
	v=$(cat "$OUT".[0-9]* | awk -v k="$kind" '$1 == k {print $4}' | median)
	[ -z "$v" ] || printf '  %-20s %s us/placement\n' "$kind" "$v"
done
cat "$OUT".[0-9]* | awk '/^rss_kb/ {print $4}' | median | \
	xargs printf 'VmRSS after placing  %s KiB\n'
cat "$OUT".[0-9]* | awk '/^rss_kb/ {print $6}' | median | \
	xargs printf 'VmHWM                %s KiB\n'
cat "$OUT".[0-9]* | awk '/^rss_kb/ {print $4 - $2}' | median | \
	xargs printf 'scheduler state      %s KiB (RSS after - before)\n'
rm -f "$OUT".[0-9]*
