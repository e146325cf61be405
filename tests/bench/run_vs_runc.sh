#!/bin/bash
# run_vs_runc.sh - container start latency: `orch run --rm IMAGE true` against
# `runc run` of the same busybox rootfs with an equivalent config.json (new
# pid/mount/uts/ipc/net namespaces, masked and read-only paths, a pids limit),
# measured in one run on this machine.  Prints figures; asserts nothing.
#
#   tests/bench/run_vs_runc.sh [ORCH_BIN] [RUNS]
#
# Two measurements: hyperfine over both commands (its own order: all runs of
# one, then the other), and a strictly alternating loop (orch, runc, orch,
# ...) so that drift on a shared machine hits both sides equally.  Needs root,
# runc and hyperfine (Debian: apt-get install runc hyperfine busybox-static).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/common.sh"
orch_bin "${1:-}"
RUNS=${2:-40}
WORK=$(mktemp -d /tmp/orch-bench-XXXXXX)
trap 'runc delete -f "orch-bench-$$" >/dev/null 2>&1 || true; rm -rf "$WORK"' EXIT

for tool in runc hyperfine; do
	command -v $tool >/dev/null || { echo "$tool is not installed" >&2; exit 1; }
done

# The rootfs: busybox-static and its applets, as the test images have.
LAYER=$WORK/layer
mkdir -p "$LAYER/bin" "$LAYER/etc" "$LAYER/tmp" "$LAYER/root"
cp /bin/busybox "$LAYER/bin/busybox"
for applet in $(/bin/busybox --list); do
	[ "$applet" = busybox ] || ln -s busybox "$LAYER/bin/$applet"
done
echo 'root:x:0:0:root:/root:/bin/sh' > "$LAYER/etc/passwd"
echo 'root:x:0:' > "$LAYER/etc/group"

# runc's bundle: the same rootfs, `runc spec` defaults (namespaces, masked
# and read-only paths), made equivalent to orch's: no terminal, `true`, the
# pids limit orch sets by default, hostname.
BUNDLE=$WORK/bundle
mkdir -p "$BUNDLE"
# runc wants the rootfs itself, not a symlink: point config.json at it.
(cd "$BUNDLE" && runc spec)
python3 - "$BUNDLE/config.json" "$LAYER" <<'PY'
import json, sys
path = sys.argv[1]
c = json.load(open(path))
c["process"]["terminal"] = False
c["process"]["args"] = ["true"]
c["root"] = {"path": sys.argv[2], "readonly": False}
c["hostname"] = "bench"
c["linux"].setdefault("resources", {})["pids"] = {"limit": 4096}
json.dump(c, open(path, "w"), indent=1)
PY

DATA=$WORK/orchdata
mkdir -p "$DATA"
ORCH_CMD="$ORCH run --rm --data $DATA --rootfs-layer $LAYER busybox true"
RUNC_CMD="runc run --bundle $BUNDLE orch-bench-$$"

# Sanity: both work.
$ORCH_CMD
$RUNC_CMD

echo "== hyperfine ($RUNS runs each, 3 warm-up) =="
hyperfine -N --warmup 3 --runs "$RUNS" --export-json "$WORK/hf.json" \
	-n orch "$ORCH_CMD" -n runc "$RUNC_CMD" >/dev/null 2>&1 || \
hyperfine --warmup 3 --runs "$RUNS" --export-json "$WORK/hf.json" \
	-n orch "$ORCH_CMD" -n runc "$RUNC_CMD" >/dev/null
python3 - "$WORK/hf.json" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
o, u = r["orch"], r["runc"]
for name, x in (("orch", o), ("runc", u)):
    print("%-5s median %6.2f ms  mean %6.2f ms  +- %5.2f ms  min %6.2f ms" %
          (name, x["median"] * 1e3, x["mean"] * 1e3, x["stddev"] * 1e3, x["min"] * 1e3))
print("runc/orch median ratio: %.2fx (>1: orch is faster)" % (u["median"] / o["median"]))
PY

echo "== strictly alternating ($RUNS pairs) =="
: > "$WORK/alt.txt"
for i in $(seq 1 "$RUNS"); do
	t0=$(date +%s%N); $ORCH_CMD; t1=$(date +%s%N)
	$RUNC_CMD; t2=$(date +%s%N)
	echo "$(( (t1 - t0) / 1000 )) $(( (t2 - t1) / 1000 ))" >> "$WORK/alt.txt"
done
python3 - "$WORK/alt.txt" <<'PY'
import statistics, sys
pairs = [tuple(map(int, l.split())) for l in open(sys.argv[1])]
o = statistics.median(p[0] for p in pairs) / 1000
u = statistics.median(p[1] for p in pairs) / 1000
print("orch  median %6.2f ms" % o)
print("runc  median %6.2f ms" % u)
print("runc/orch median ratio: %.2fx (>1: orch is faster)" % (u / o))
PY
