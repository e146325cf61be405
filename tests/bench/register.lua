-- register.lua - wrk script: POST /v1/task-definitions (a durable write:
-- every 201 is a committed revision).  The token comes from $ORCH_TOKEN;
-- the body is the repository's examples/web.json with family "bench".
local f = assert(io.open(os.getenv("ORCH_BENCH_BODY"), "r"))
local body = f:read("*a")
f:close()

wrk.method = "POST"
wrk.path = "/v1/task-definitions"
wrk.body = body
wrk.headers["Authorization"] = "Bearer " .. os.getenv("ORCH_TOKEN")
wrk.headers["Content-Type"] = "application/json"

dofile(os.getenv("ORCH_BENCH_DIR") .. "/report.lua")
