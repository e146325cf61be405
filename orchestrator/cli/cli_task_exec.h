/*
 * cli_task_exec.h - `orch task exec`: a command in a running task's
 * container, its output on our stdout and stderr, our stdin forwarded with
 * -i, a terminal with -t, and our exit code the command's (128+N when a
 * signal N ended it).  The channel is exec_protocol.h's.
 *
 * With -t and a terminal on our stdin, the terminal is put in raw mode
 * (keys, Ctrl-C included, go to the remote terminal) and restored on every
 * way out, signals included; window size changes (SIGWINCH) are sent on.
 * SIGINT, SIGTERM or SIGHUP end the CLI with 128+N, which closes the
 * channel: the agent then kills the command.
 */
#ifndef ORCH_CLI_TASK_EXEC_H
#define ORCH_CLI_TASK_EXEC_H

#include <stdbool.h>

#include "cli_http.h"

/* Input read ahead of what the server took, before we stop reading stdin. */
#define CLI_EXEC_HIGH_WATER (256 * 1024)
/* Connecting plus the wait for the task's agent (the server's is 10 s). */
#define CLI_EXEC_OPEN_TIMEOUT_MS 60000

struct cli_exec_options {
	const char *container;		/* NULL: the first essential container */
	bool interactive;		/* -i */
	bool tty;			/* -t */
	char **argv;
	int argc;
};

/*
 * Runs the command of o in the task at path (".../tasks/{id}/exec").
 * Returns its exit code (0-255), or -1 with err when it did not run or the
 * channel broke before it ended.
 */
int cli_task_exec_run(const struct cli_conn *conn, const char *path,
		      const struct cli_exec_options *o, orch_error *err);

#endif
