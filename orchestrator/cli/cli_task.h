/*
 * cli_task.h - `orch task ...` (cli_task.c) and `orch node ...` (cli_node.c):
 * RunTask, ListTasks, DescribeTasks, StopTask and the node verbs, in the
 * style of cli.c (tables for people, --json for scripts, errors on stderr,
 * exit status 1, 2 for usage).  Also the few table and JSON helpers both
 * files share.
 */
#ifndef ORCH_CLI_TASK_H
#define ORCH_CLI_TASK_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "cli_http.h"

int cli_task_main(int argc, char **argv);	/* argv[0] = "task" */
int cli_node_main(int argc, char **argv);	/* argv[0] = "node" */

/* ---- shared by cli_task.c and cli_node.c ------------------------------- */

#define CLI_TABLE_MAX_COLUMNS 8

struct cli_table {
	int columns;
	size_t width[CLI_TABLE_MAX_COLUMNS];
	char **cells;
	int rows;
};

void cli_table_row(struct cli_table *t, const char *const *values);
void cli_table_print_release(struct cli_table *t);
void cli_print_json(json_t *value);
const char *cli_str(json_t *v);		/* the string, or "-" */
/* Fetches every page of path?query, appending the `key` arrays. */
int cli_list_all(const struct cli_conn *conn, const char *path, const char *query,
		 const char *key, json_t **all, orch_error *err);
/* The part after the last '/' of an ARN (the ID), or the string itself. */
const char *cli_arn_id(const char *arn);

#endif
