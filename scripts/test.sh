#!/usr/bin/env bash
# scripts/test.sh — the one test command (CI's .ci/run calls it).
#
# Runs scripts/setup.sh (install what is missing, build the trees), then
# ctest in build/ (the static binary), in build-asan/ (AddressSanitizer
# and UBSan, errors fatal) and in build-fuzz/ (the fuzz_NAME tests: each
# libFuzzer target of tests/fuzz/ for a few seconds from its seed corpus).
# Exits non-zero if setup or any test fails.
#
# Usage: scripts/test.sh [--no-asan] [--no-fuzz] [-- CTEST-ARGS...]
#   e.g. scripts/test.sh -- -R unit_      (only the unit tests)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

setup_args=()
ctest_args=()
run_asan=1
run_fuzz=1
while [ $# -gt 0 ]; do
  case "$1" in
    --no-asan) run_asan=0; setup_args+=(--no-asan) ;;
    --no-fuzz) run_fuzz=0; setup_args+=(--no-fuzz) ;;
    --) shift; ctest_args=("$@"); break ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "test: unknown option '$1'" >&2; exit 2 ;;
  esac
  shift
done

say() { printf 'test: %s\n' "$*"; }

bash "$ROOT/scripts/setup.sh" ${setup_args[@]+"${setup_args[@]}"}

# Sanitizer reports end the process with a stack; leaks count as failures.
export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:abort_on_error=1:print_stacktrace=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:abort_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
export LSAN_OPTIONS="print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"

failed=()
# run_ctest DIR [ARGS...]: ctest in DIR with ARGS, then the CTEST-ARGS.
run_ctest() {
  local dir=$1; shift
  say "ctest in $dir"
  if ! (cd "$ROOT/$dir" && ctest --output-on-failure "$@" ${ctest_args[@]+"${ctest_args[@]}"}); then
    failed+=("$dir")
  fi
}

run_ctest build --no-tests=error
if [ "$run_asan" -eq 1 ]; then run_ctest build-asan --no-tests=error; fi
# build-fuzz holds only the fuzz targets: run the tests labelled fuzz, and
# let CTEST-ARGS that select none of them (-R unit_) select nothing there.
if [ "$run_fuzz" -eq 1 ]; then
  if [ ${#ctest_args[@]} -gt 0 ]; then
    run_ctest build-fuzz -L fuzz --no-tests=ignore
  else
    run_ctest build-fuzz -L fuzz --no-tests=error
  fi
fi

if [ ${#failed[@]} -gt 0 ]; then
  say "FAILED in: ${failed[*]}"
  exit 1
fi
say "all passed"
