/*
 * cli_run.h - the local container verbs, a thin layer over runtime/
 * container.h that needs no server (as Podman's):
 *
 *   orch run [options] IMAGE [CMD ARGS...]   like docker run
 *   orch ps [-a] [--json]
 *   orch logs [-f] [--tail N] ID|NAME
 *   orch stop [-t SECS] ID|NAME...
 *   orch kill [-s SIGNAL] ID|NAME...
 *   orch rm [-f] ID|NAME...
 *
 * The data dir is --data DIR, else $ORCH_DATA, else /var/lib/orch
 * (cli_data_dir, cli_verbs.h).
 * Exit status: run exits with the container's code (128+N for signal N;
 * 125 if orch failed, 126/127 if the command could not be executed); the
 * other verbs 0, 1 on an error, 2 on a usage error.
 */
#ifndef ORCH_CLI_RUN_H
#define ORCH_CLI_RUN_H

#include <stdbool.h>

/* True if verb is one of run, ps, logs, stop, kill, rm. */
bool cli_run_handles(const char *verb);

/* argv[0] is the verb. */
int cli_run_main(int argc, char **argv);

#endif
