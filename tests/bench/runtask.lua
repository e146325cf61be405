-- runtask.lua - wrk script for cluster_scale.sh: POST RunTask count=10 on
-- cluster "default" until each thread's share of ORCH_BENCH_TASKS tasks is
-- acknowledged (200, placed: each task carries a containerInstanceArn).
-- Prints "RESULT placed=N acked=N non200=N seconds=S" from done().
-- wrk keeps running until -d after every thread stopped, so the elapsed
-- time is measured here: first request to the ack that completed the quota.
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } orch_timespec;
int clock_gettime(int clk, orch_timespec *ts);
]]
local function now()
	local ts = ffi.new("orch_timespec")
	ffi.C.clock_gettime(1, ts)	-- CLOCK_MONOTONIC
	return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) / 1e9
end
local per_thread = 0
local threads = {}

function setup(thread)
	thread:set("id", #threads)
	table.insert(threads, thread)
end

function init(args)
	local total = tonumber(os.getenv("ORCH_BENCH_TASKS") or "100000")
	local nthreads = tonumber(os.getenv("ORCH_BENCH_THREADS") or "2")
	per_thread = math.ceil(total / nthreads)
	placed, acked, non200 = 0, 0, 0
	t_start, t_end = now(), 0
	wrk.method = "POST"
	wrk.path = "/v1/clusters/default/tasks"
	wrk.body = '{"taskDefinition":"scale","count":10}'
	wrk.headers["Authorization"] = "Bearer " .. os.getenv("ORCH_TOKEN")
	wrk.headers["Content-Type"] = "application/json"
end

function response(status, headers, body)
	if status ~= 200 then
		non200 = non200 + 1
		return
	end
	local _, n = string.gsub(body, '"containerInstanceArn"', "")
	placed = placed + n
	acked = acked + 10
	if acked >= per_thread then
		t_end = now()
		local flag = os.getenv("ORCH_BENCH_DONE")
		if flag then	-- tells cluster_scale.sh to end wrk (SIGINT) now
			local f = io.open(flag .. "." .. tostring(id), "w")
			if f then f:close() end
		end
		wrk.thread:stop()
	end
end

function done(summary, latency, requests)
	local p, a, e, t0, t1 = 0, 0, 0, math.huge, 0
	for _, t in ipairs(threads) do
		p = p + t:get("placed")
		a = a + t:get("acked")
		e = e + t:get("non200")
		t0 = math.min(t0, t:get("t_start"))
		t1 = math.max(t1, t:get("t_end"))
	end
	if t1 == 0 then
		t1 = t0 + summary.duration / 1e6	-- quota not reached within -d
	end
	io.write(string.format("RESULT placed=%d acked=%d non200=%d seconds=%.3f p99_ms=%.1f\n",
		p, a, e, t1 - t0, latency:percentile(99) / 1000))
end
