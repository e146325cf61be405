#!/bin/bash
# lb_vs_haproxy.sh - `orch lb` against HAProxy (Debian's 2.6) in front of the
# same nginx backend on loopback, measured with wrk in one run, alternating.
#
#   ORCH_BIN=build/orch tests/bench/lb_vs_haproxy.sh [ROUNDS] [SECONDS]
#
# For each thread count (1, then one per core) it runs ROUNDS rounds (default
# 5) of SECONDS seconds (default 10) for each proxy, alternating orch and
# HAProxy so drift on a shared machine hits both alike, then prints the
# median requests/s and p50/p99 latency of each and the ratios, and the
# rounds compared pairwise (how many each proxy won).  Both proxies
# get the same thread count, keep-alive on both sides and pooled upstream
# connections (HAProxy: http-reuse always), no health checks, no logging.
# The direct backend is measured once for reference.  Each run also reports
# the proxy's CPU time per request (all threads, user+system), which a busy
# machine disturbs far less than requests/s.  Prints; never fails on
# speed (this is a benchmark, not a test).
set -euo pipefail

ROUNDS=${1:-5}
SECONDS_PER_RUN=${2:-10}
CONNS=${WRK_CONNECTIONS:-50}
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
orch_bin
CORES=$(nproc)

for tool in nginx haproxy wrk; do
	command -v "$tool" >/dev/null || { echo "lb_vs_haproxy: $tool is not installed (apt-get install $tool)" >&2; exit 2; }
done

WORK=$(mktemp -d /tmp/lb-bench.XXXXXX)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_port() {
	for _ in $(seq 100); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.05
	done
	echo "lb_vs_haproxy: port $1 never opened" >&2
	exit 1
}

BACKEND_PORT=$(free_port)
mkdir -p "$WORK/nginx"
cat > "$WORK/nginx/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 100000000;
  keepalive_timeout 300s;
  client_body_temp_path $WORK/nginx/body;
  proxy_temp_path $WORK/nginx/proxy;
  fastcgi_temp_path $WORK/nginx/fcgi;
  uwsgi_temp_path $WORK/nginx/uwsgi;
  scgi_temp_path $WORK/nginx/scgi;
  server {
    listen 127.0.0.1:$BACKEND_PORT backlog=4096;
    location / { return 200 "hello from the benchmark backend\n"; }
  }
}
EOF
nginx -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" &
PIDS+=($!)
wait_port "$BACKEND_PORT"

# CPU time (user+system, all threads) of a process, in clock ticks.
cpu_ticks() {
	awk '{print $14 + $15}' "/proc/$1/stat"
}

# wrk_run URL [PID] -> "rps p50_ms p99_ms cpu_us_per_request"
# CPU per request is the steadier figure on a machine shared with other work:
# it does not depend on how much of the CPU the proxy was given.
wrk_run() {
	local out rps p50 p99 t0=0 t1=0 reqs cpu=0
	[ -n "${2:-}" ] && t0=$(cpu_ticks "$2")
	out=$(wrk -t1 -c"$CONNS" -d"${SECONDS_PER_RUN}s" --latency "$1")
	[ -n "${2:-}" ] && t1=$(cpu_ticks "$2")
	if grep -q "Non-2xx" <<<"$out"; then
		echo "lb_vs_haproxy: non-2xx answers from $1:" >&2
		echo "$out" >&2
	fi
	rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
	p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
	p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
	reqs=$(awk '/requests in/ {print $1}' <<<"$out")
	if [ -n "${2:-}" ] && [ "${reqs:-0}" -gt 0 ]; then
		cpu=$(awk -v d=$((t1 - t0)) -v hz="$(getconf CLK_TCK)" -v n="$reqs" \
			'BEGIN {printf "%.2f", d * 1e6 / hz / n}')
	fi
	echo "$rps $(to_ms "$p50") $(to_ms "$p99") $cpu"
}

to_ms() {
	python3 -c '
import sys, re
v = sys.argv[1]
m = re.match(r"([0-9.]+)(us|ms|s)$", v)
n, u = float(m.group(1)), m.group(2)
print("%.3f" % (n / 1000 if u == "us" else n * 1000 if u == "s" else n))' "$1"
}

echo "backend direct (nginx, 1 worker): $(wrk_run "http://127.0.0.1:$BACKEND_PORT/") (rps p50_ms p99_ms)"

bench_threads() {
	local threads=$1 orch_port hap_port orch_pid hap_pid
	orch_port=$(free_port)
	hap_port=$(free_port)
	cat > "$WORK/routes.json" <<EOF
{"listeners": [{"address": "127.0.0.1:$orch_port"}],
 "rules": [{"pathPrefix": "/", "targetGroup": "bench"}],
 "targetGroups": {"bench": {"targets": [{"address": "127.0.0.1:$BACKEND_PORT"}]}},
 "limits": {"maxIdleUpstreamPerTarget": 256}}
EOF
	cat > "$WORK/haproxy.cfg" <<EOF
global
  nbthread $threads
  maxconn 4096
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  timeout http-request 10s
  timeout http-keep-alive 60s
  option http-keep-alive
  http-reuse always
frontend fe
  bind 127.0.0.1:$hap_port
  default_backend be
backend be
  server s1 127.0.0.1:$BACKEND_PORT
EOF
	"$ORCH" lb --config "$WORK/routes.json" --threads "$threads" --log-level warn &
	orch_pid=$!
	PIDS+=($orch_pid)
	haproxy -f "$WORK/haproxy.cfg" -q &
	hap_pid=$!
	PIDS+=($hap_pid)
	wait_port "$orch_port"
	wait_port "$hap_port"
	# warm both
	wrk -t1 -c"$CONNS" -d2s "http://127.0.0.1:$orch_port/" >/dev/null
	wrk -t1 -c"$CONNS" -d2s "http://127.0.0.1:$hap_port/" >/dev/null

	local o_rps=() o_p50=() o_p99=() o_cpu=() h_rps=() h_p50=() h_p99=() h_cpu=()
	for r in $(seq "$ROUNDS"); do
		read -r a b c d < <(wrk_run "http://127.0.0.1:$orch_port/" "$orch_pid")
		o_rps+=("$a"); o_p50+=("$b"); o_p99+=("$c"); o_cpu+=("$d")
		read -r a b c d < <(wrk_run "http://127.0.0.1:$hap_port/" "$hap_pid")
		h_rps+=("$a"); h_p50+=("$b"); h_p99+=("$c"); h_cpu+=("$d")
		printf "  threads=%d round %d: orch %8.0f rps p50 %6.3fms p99 %6.3fms %5.2fus/req | haproxy %8.0f rps p50 %6.3fms p99 %6.3fms %5.2fus/req\n" \
			"$threads" "$r" "${o_rps[-1]}" "${o_p50[-1]}" "${o_p99[-1]}" "${o_cpu[-1]}" \
			"${h_rps[-1]}" "${h_p50[-1]}" "${h_p99[-1]}" "${h_cpu[-1]}"
	done
	# Medians of each, then the rounds compared pairwise: each orch round ran
	# right before its HAProxy round, so a pair shares the machine's mood.
	python3 - "$threads" "${o_rps[*]}" "${h_rps[*]}" "${o_p50[*]}" "${h_p50[*]}" \
		"${o_p99[*]}" "${h_p99[*]}" "${o_cpu[*]}" "${h_cpu[*]}" <<'EOF'
import statistics, sys
t = sys.argv[1]
o_rps, h_rps, o_p50, h_p50, o_p99, h_p99, o_cpu, h_cpu = (
    [float(x) for x in a.split()] for a in sys.argv[2:])
med = statistics.median
mo, mh, mo99, mh99, moc, mhc = med(o_rps), med(h_rps), med(o_p99), med(h_p99), med(o_cpu), med(h_cpu)
n = len(o_rps)
rps_ratios = [a / b for a, b in zip(o_rps, h_rps)]
p99_ratios = [a / b for a, b in zip(o_p99, h_p99)]
print(f"threads={t} median: orch {mo:.0f} rps (p50 {med(o_p50):.3f} ms, p99 {mo99:.3f} ms, {moc:.2f} us CPU/req) | "
      f"haproxy {mh:.0f} rps (p50 {med(h_p50):.3f} ms, p99 {mh99:.3f} ms, {mhc:.2f} us CPU/req) | "
      f"rps ratio orch/haproxy {mo / mh:.2f}x, p99 ratio {mo99 / mh99:.2f}x, "
      f"CPU/req ratio {moc / mhc if mhc else float('nan'):.2f}x")
print(f"threads={t} paired rounds: rps ratio median {med(rps_ratios):.2f}x "
      f"(range {min(rps_ratios):.2f}-{max(rps_ratios):.2f}), orch ahead in "
      f"{sum(r >= 1 for r in rps_ratios)}/{n}; p99 ratio median {med(p99_ratios):.2f}x "
      f"(range {min(p99_ratios):.2f}-{max(p99_ratios):.2f}), orch no worse in "
      f"{sum(r <= 1 for r in p99_ratios)}/{n}")
EOF
	kill "$orch_pid" "$hap_pid"
	wait "$orch_pid" "$hap_pid" 2>/dev/null || true
}

echo "wrk: 1 thread, $CONNS connections, $SECONDS_PER_RUN s per run, $ROUNDS rounds alternating"
bench_threads 1
if [ "$CORES" -gt 1 ]; then
	bench_threads "$CORES"
fi
