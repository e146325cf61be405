-- report.lua - shared by the wrk scripts: count answers by status class
-- and print one machine-readable RESULT line when the run ends.
local threads = {}

function setup(thread)
	table.insert(threads, thread)
end

function init(args)
	ok_count = 0
	bad_count = 0
end

function response(status, headers, body)
	if status >= 200 and status < 300 then
		ok_count = ok_count + 1
	else
		bad_count = bad_count + 1
	end
end

function done(summary, latency, requests)
	local ok, bad = 0, 0
	for _, t in ipairs(threads) do
		ok = ok + t:get("ok_count")
		bad = bad + t:get("bad_count")
	end
	local seconds = summary.duration / 1e6
	local e = summary.errors
	io.write(string.format(
		"RESULT rps=%.1f ok_rps=%.1f p50_ms=%.3f p99_ms=%.3f max_ms=%.3f " ..
		"requests=%d ok=%d non2xx=%d connect_err=%d read_err=%d " ..
		"write_err=%d timeouts=%d\n",
		summary.requests / seconds, ok / seconds,
		latency:percentile(50) / 1000, latency:percentile(99) / 1000,
		latency.max / 1000, summary.requests, ok, bad,
		e.connect, e.read, e.write, e.timeout))
end
