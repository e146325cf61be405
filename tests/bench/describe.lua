-- describe.lua - wrk script: GET a task definition with the bearer token.
-- The token comes from $ORCH_TOKEN, the path from $ORCH_BENCH_PATH.
wrk.method = "GET"
wrk.path = os.getenv("ORCH_BENCH_PATH") or "/v1/task-definitions/web:1"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("ORCH_TOKEN")

dofile(os.getenv("ORCH_BENCH_DIR") .. "/report.lua")
