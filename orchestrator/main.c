/*
 * main.c - the one orch binary: argv[1] picks the role.
 *
 *   orch server ...                 control plane (server.c)
 *   orch agent ...                  one worker node (agent.c)
 *   orch lb ...                     standalone load balancer (lb/)
 *   orch taskdef|cluster ...        API client verbs (cli.c)
 *   orch task|node ...              tasks and nodes (cli_task.c, cli_node.c)
 *   orch image ...                  local images (cli_image.c)
 *   orch run|ps|logs|stop|kill|rm   local containers (cli_run.c)
 *   orch shim ...                   one container's supervisor (runtime/shim.c)
 *   orch --version                  versions of orch and its libraries
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "agent/agent.h"
#include "cli/cli.h"
#include "server/scheduler_bench.h"
#include "cli/cli_image.h"
#include "cli/cli_run.h"
#include "cli/cli_task.h"
#include "runtime/container_exec.h"
#include "lb/lb.h"
#include "server/server.h"
#include "runtime/shim.h"
#include "proto/version.h"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: orch COMMAND [options]\n"
		"\n"
		"commands:\n"
		"  server     run the control plane (orch server --help)\n"
		"  agent      run a worker node that joins a server (orch agent --help)\n"
		"  lb         run the load balancer from a routes file (orch lb --help)\n"
		"  taskdef    register, list, show and deregister task definitions\n"
		"  cluster    create, list, show and delete clusters\n"
		"  task       run, list, show and stop tasks (orch task --help)\n"
		"  node       list, show, drain and activate nodes (orch node --help)\n"
		"  image      pull, import, list and remove local images (orch image --help)\n"
		"  run        run a local container, like docker run (orch run --help)\n"
		"  ps         list local containers\n"
		"  logs       print a local container's output\n"
		"  stop|kill|rm  stop, signal or remove local containers\n"
		"  version    print versions (also --version)\n");
}

/*
 * `--ca FILE` / `--ca=FILE` of the API client verbs: the CA to verify a
 * remote server with.  Passed on as ORCH_CA (cli_http.h) and removed from
 * argv, so each verb's parser need not know it.
 */
static int take_ca_flag(int argc, char **argv)
{
	int out = 0;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0) {
			while (i < argc)
				argv[out++] = argv[i++];
			break;
		}
		if (strcmp(argv[i], "--ca") == 0 && i + 1 < argc) {
			setenv("ORCH_CA", argv[++i], 1);
			continue;
		}
		if (strncmp(argv[i], "--ca=", 5) == 0) {
			setenv("ORCH_CA", argv[i] + 5, 1);
			continue;
		}
		argv[out++] = argv[i];
	}
	argv[out] = NULL;
	return out;
}

int main(int argc, char **argv)
{
	int rc;

	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
		orch_print_version(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "server") == 0)
		return server_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "agent") == 0) {
		curl_global_init(CURL_GLOBAL_DEFAULT);
		rc = agent_main(argc - 1, argv + 1);
		curl_global_cleanup();
		return rc;
	}
	if (strcmp(argv[1], "lb") == 0)
		return lb_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "image") == 0)
		return cli_image_main(argc - 1, argv + 1);
	if (cli_run_handles(argv[1]))
		return cli_run_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "shim") == 0)
		return shim_main(argc - 1, argv + 1);
	if (strcmp(argv[1], CONTAINER_EXEC_HELPER_COMMAND) == 0)
		container_exec_helper_main(argc - 1, argv + 1);
	/* Not in the usage text: a benchmark, see tests/bench/scheduler_bench.sh. */
	if (strcmp(argv[1], "bench-scheduler") == 0)
		return bench_scheduler_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "task") == 0 || strcmp(argv[1], "node") == 0) {
		argc = take_ca_flag(argc, argv);
		curl_global_init(CURL_GLOBAL_DEFAULT);
		rc = strcmp(argv[1], "task") == 0 ? cli_task_main(argc - 1, argv + 1)
			: cli_node_main(argc - 1, argv + 1);
		curl_global_cleanup();
		return rc;
	}
	if (cli_handles(argv[1])) {
		argc = take_ca_flag(argc, argv);
		curl_global_init(CURL_GLOBAL_DEFAULT);
		rc = cli_main(argc - 1, argv + 1);
		curl_global_cleanup();
		return rc;
	}
	fprintf(stderr, "orch: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
