#!/bin/bash
# shim_rss.sh - memory of the shim supervising one running container
# (`orch run -d ... sleep`): VmRSS, and Pss/Private from smaps_rollup (what
# the shim really costs: most of its RSS is the static binary's shared text).
# Prints figures; asserts nothing.  Target: RSS below 1 MiB.
#
#   tests/bench/shim_rss.sh [ORCH_BIN]
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/common.sh"
orch_bin "${1:-}"
WORK=$(mktemp -d /tmp/orch-shim-rss-XXXXXX)
CID=
cleanup() {
	[ -n "$CID" ] && "$ORCH" rm -f --data "$WORK/data" "$CID" >/dev/null 2>&1 || true
	rm -rf "$WORK"
}
trap cleanup EXIT

LAYER=$WORK/layer
mkdir -p "$LAYER/bin" "$LAYER/etc" "$WORK/data"
cp /bin/busybox "$LAYER/bin/busybox"
for applet in sh sleep echo; do ln -s busybox "$LAYER/bin/$applet"; done
echo 'root:x:0:0:root:/root:/bin/sh' > "$LAYER/etc/passwd"

CID=$("$ORCH" run -d --data "$WORK/data" --rootfs-layer "$LAYER" busybox \
	sh -c 'while true; do echo tick; sleep 1; done')
sleep 2	# some output went through the shim's log path
SHIM=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["shimPid"])' \
	"$WORK/data/containers/$CID/state.json")
echo "shim pid $SHIM ($(tr '\0' ' ' < /proc/$SHIM/cmdline | cut -c1-40)...)"
grep -E '^(VmRSS|RssAnon|RssFile|VmHWM)' /proc/$SHIM/status
grep -E '^(Rss|Pss|Private_Clean|Private_Dirty|Shared_Clean)' /proc/$SHIM/smaps_rollup
RSS=$(awk '/^VmRSS/ {print $2}' /proc/$SHIM/status)
PSS=$(awk '/^Pss:/ {print $2}' /proc/$SHIM/smaps_rollup)
echo "shim RSS ${RSS} KiB ($(awk -v r="$RSS" 'BEGIN {printf "%.2f", r/1024}') MiB), PSS ${PSS} KiB; target < 1024 KiB RSS"
