#!/usr/bin/env bash
# tests/bench/pull_vs_skopeo_umoci.sh — pull + unpack of a multi-layer image
# from a local registry: `orch image pull` against `skopeo copy` followed by
# `umoci unpack` of the same image, alternating, in one run on one machine.
#
# The image (tests/images/build_images.py --only big) is busybox plus LAYERS
# gzip layers of random, incompressible data, SIZE_MB in total; it is pushed
# to Debian's docker-registry on 127.0.0.1 once.  Each round starts from
# empty stores for both sides (the registry and the page cache stay warm for
# both alike).  orch verifies every blob and diff ID, fsyncs every blob and
# unpacks each layer into its own overlayfs lowerdir; skopeo verifies blobs,
# umoci verifies and applies the layers into one rootfs.
#
# Usage: sudo tests/bench/pull_vs_skopeo_umoci.sh [ROUNDS]
#   env: ORCH_BIN (default build/orch), SIZE_MB (default 64), LAYERS (default 4)
# Prints each round, then the medians and the ratio skopeo+umoci / orch.
set -euo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
ROUNDS=${1:-5}
SIZE_MB=${SIZE_MB:-64}
LAYERS=${LAYERS:-4}

die() { echo "bench: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "needs root (layer ownership, whiteout devices)"
orch_bin
for t in docker-registry skopeo umoci python3; do
  command -v "$t" >/dev/null || die "$t is not installed"
done

WORK=$(mktemp -d /tmp/orch-pull-bench.XXXXXX)
REG_PID=
cleanup() {
  [ -n "$REG_PID" ] && kill "$REG_PID" 2>/dev/null && wait "$REG_PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

echo "bench: building a ${SIZE_MB} MB image in $((LAYERS + 1)) layers (offline)"
python3 "$ROOT/tests/images/build_images.py" "$WORK/images" --only big \
  --big-mb "$SIZE_MB" --big-layers "$LAYERS"

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
ADDR=127.0.0.1:$PORT
cat >"$WORK/registry.yml" <<YML
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $WORK/registry
http:
  addr: $ADDR
YML
docker-registry serve "$WORK/registry.yml" >"$WORK/registry.log" 2>&1 &
REG_PID=$!
for _ in $(seq 100); do
  curl -fs "http://$ADDR/v2/" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fs "http://$ADDR/v2/" >/dev/null || die "registry did not start: $(cat "$WORK/registry.log")"
skopeo copy --quiet --dest-tls-verify=false "oci:$WORK/images/big:latest" "docker://$ADDR/big:latest"
echo "bench: pushed $ADDR/big:latest ($(du -sh "$WORK/images/big/blobs" | cut -f1) of blobs)"

now_ms() { date +%s%3N; }

run_orch() {
  rm -rf "$WORK/orch-data"
  local t0 t1
  t0=$(now_ms)
  "$ORCH" image pull -q --data "$WORK/orch-data" --insecure-registry "$ADDR" "$ADDR/big:latest" >/dev/null
  t1=$(now_ms)
  echo $((t1 - t0))
}

run_peer() {
  rm -rf "$WORK/peer-oci" "$WORK/peer-bundle"
  local t0 t1
  t0=$(now_ms)
  skopeo copy --quiet --src-tls-verify=false "docker://$ADDR/big:latest" "oci:$WORK/peer-oci:latest"
  umoci unpack --image "$WORK/peer-oci:latest" "$WORK/peer-bundle" >/dev/null
  t1=$(now_ms)
  echo $((t1 - t0))
}

# one warm-up of each, not counted
run_orch >/dev/null
run_peer >/dev/null

orch_times=()
peer_times=()
for r in $(seq "$ROUNDS"); do
  if [ $((r % 2)) -eq 1 ]; then
    o=$(run_orch); p=$(run_peer)
  else
    p=$(run_peer); o=$(run_orch)
  fi
  orch_times+=("$o")
  peer_times+=("$p")
  printf 'round %d: orch %6d ms   skopeo+umoci %6d ms\n' "$r" "$o" "$p"
done

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
mo=$(median "${orch_times[@]}")
mp=$(median "${peer_times[@]}")
echo "median: orch ${mo} ms, skopeo copy + umoci unpack ${mp} ms"
awk -v o="$mo" -v p="$mp" 'BEGIN { printf "ratio: orch is %.2fx faster (target >= 2x)\n", p / o }'
