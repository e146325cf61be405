/*
 * cli_task_logs.h - `orch task logs`: prints a task's container log as the
 * server streams it (task_stream.h), until the stream ends.
 */
#ifndef ORCH_CLI_TASK_LOGS_H
#define ORCH_CLI_TASK_LOGS_H

#include <stdbool.h>

#include "cli_http.h"
#include "common/error.h"

/*
 * GET path (…/tasks/ID/logs?…) and copies a 200 answer's body to stdout as
 * it arrives.  Returns 0 when the stream ended; -1 with err set on a
 * refusal (the server's message) or a broken connection.
 */
int cli_task_logs_stream(const struct cli_conn *conn, const char *path, orch_error *err);

#endif
