/*
 * main.c - the one orch binary: argv[1] picks the role.
 *
 *   orch server ...                 control plane (server/server.c)
 *   orch agent ...                  one worker node (agent/agent.c)
 *   orch lb ...                     standalone load balancer (lb/)
 *   orch taskdef|cluster|task|node  API client verbs (cli/cli_verbs.h)
 *   orch image ...                  local images (cli/cli_image.c)
 *   orch run|ps|logs|stop|kill|rm   local containers (cli/cli_run.c)
 *   orch shim ...                   one container's supervisor (runtime/shim.c)
 *   orch init -- CMD...             a container's PID 1 (runtime/init_process.c)
 *   orch --version                  versions of orch and its libraries
 */
#include <stdio.h>
#include <string.h>

#include <curl/curl.h>

#include "agent/agent.h"
#include "cli/cli_image.h"
#include "cli/cli_run.h"
#include "cli/cli_verbs.h"
#include "lb/lb.h"
#include "proto/version.h"
#include "runtime/container_exec.h"
#include "runtime/init_process.h"
#include "runtime/shim.h"
#include "server/scheduler_bench.h"
#include "server/service_bench.h"
#include "server/server.h"
#include "server/taskdef_validate.h"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: orch COMMAND [options]\n"
		"\n"
		"commands:\n"
		"  server     run the control plane (orch server --help)\n"
		"  agent      run a worker node that joins a server (orch agent --help)\n"
		"  lb         run the load balancer from a routes file (orch lb --help)\n");
	cli_client_usage_lines(out);
	fprintf(out,
		"  image      pull, import, list and remove local images (orch image --help)\n"
		"  run        run a local container, like docker run (orch run --help)\n"
		"  ps         list local containers\n"
		"  logs       print a local container's output\n"
		"  stop|kill|rm  stop, signal or remove local containers\n"
		"  version    print versions (also --version)\n");
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
	if (strcmp(argv[1], INIT_PROCESS_COMMAND) == 0)
		init_process_main(argc - 1, argv + 1);
	/* Not in the usage text: the validator's fields by policy, for tests. */
	if (strcmp(argv[1], "taskdef-fields") == 0)
		return taskdef_fields_main(argc - 1, argv + 1);
	/* Not in the usage text: a benchmark, see tests/bench/scheduler_bench.sh. */
	if (strcmp(argv[1], "bench-scheduler") == 0)
		return bench_scheduler_main(argc - 1, argv + 1);
	/* Not in the usage text: a benchmark, see tests/bench/service_bench.sh. */
	if (strcmp(argv[1], "bench-services") == 0)
		return bench_services_main(argc - 1, argv + 1);
	if (cli_client_handles(argv[1]))
		return cli_client_main(argc - 1, argv + 1);
	fprintf(stderr, "orch: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
