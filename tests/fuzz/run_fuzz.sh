#!/usr/bin/env bash
# tests/fuzz/run_fuzz.sh — one bounded libFuzzer run: ctest's fuzz_NAME.
#
# Usage: run_fuzz.sh FUZZER SEED_CORPUS ARTIFACT_DIR [LIBFUZZER-OPTIONS...]
#
# The seed corpus is only read: libFuzzer writes the inputs it finds to its
# first directory, here a fresh temporary one removed afterwards, so a run
# never changes the tree.  Every seed runs first, so an input kept in the
# corpus after a fix is a regression test.  A crash, leak or timeout fails
# the run and leaves the input in ARTIFACT_DIR (crash-*, leak-*, timeout-*);
# `FUZZER FILE` replays it.
set -euo pipefail

if [ $# -lt 3 ]; then
  echo "usage: run_fuzz.sh FUZZER SEED_CORPUS ARTIFACT_DIR [LIBFUZZER-OPTIONS...]" >&2
  exit 2
fi
fuzzer=$1 seeds=$2 artifacts=$3
shift 3

if [ -z "$(ls -A "$seeds" 2>/dev/null)" ]; then
  echo "run_fuzz: no seed corpus in '$seeds'" >&2
  exit 1
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/orch-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$artifacts"

status=0
"$fuzzer" -artifact_prefix="$artifacts/" "$@" "$work" "$seeds" || status=$?
if [ "$status" -ne 0 ]; then
  echo "run_fuzz: $(basename "$fuzzer") failed ($status); the input is in $artifacts/" >&2
  ls -t "$artifacts" | head -3 >&2
fi
exit "$status"
