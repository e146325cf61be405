# common.sh - sourced by the benchmarks: ROOT, the repository root, and
# orch_bin, which sets ORCH to the binary under test the way every test
# suite finds it: the script's own argument if it takes one, else $ORCH_BIN,
# else build/orch (the static build scripts/setup.sh makes).
#
#   . "$(dirname "${BASH_SOURCE[0]}")/common.sh"
#   orch_bin ["$1"]     ORCH=...; exits 1 unless it is executable

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

orch_bin() {
	ORCH=${1:-${ORCH_BIN:-$ROOT/build/orch}}
	if [ ! -x "$ORCH" ]; then
		echo "$(basename "$0"): no orch binary at $ORCH" \
			"(build it with scripts/setup.sh, or set ORCH_BIN)" >&2
		exit 1
	fi
}
