/*
 * cli.h - the client verbs of `orch`: taskdef and cluster.
 *
 * Each verb makes API calls through cli_http.h and prints a table for
 * people, or the API's JSON with --json.  Errors go to stderr and the exit
 * status is 1 (2 for a usage error).
 */
#ifndef ORCH_CLI_H
#define ORCH_CLI_H

#include <stdbool.h>

/* True if argv[0] is a verb group cli_main handles. */
bool cli_handles(const char *group);

/* argv[0] is the group ("taskdef", "cluster"), argv[1] the verb. */
int cli_main(int argc, char **argv);

#endif
