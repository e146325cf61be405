/*
 * scheduler_bench.c - `orch bench-scheduler`: the scheduler's in-memory
 * throughput and footprint, without the store or the network.
 *
 * Registers --nodes fake nodes (16 CPUs, 64 GiB, os/arch/zone/rack
 * attributes) in one cluster and places --tasks tasks with a mix of
 * requests seen in practice:
 *   40%  binpack memory, group family:batch-N (10 groups)
 *   30%  spread attribute:zone then instanceId, group service:web-N (20
 *        groups), a third of them holding host port 8000+N
 *   30%  memberOf(attribute:arch == amd64 and attribute:zone in [a, b]) with
 *        binpack cpu, group family:ml
 * With --mix default every task uses ECS's default (spread by instanceId,
 * no constraint), in 50 groups family:app-N.
 * Each request is compiled from its JSON per placement, as the server does.
 * Prints placements per second overall and per kind, then VmRSS and VmHWM
 * of the process, then releases everything (timed too).  Hidden from --help.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "scheduler_bench.h"
#include "scheduler.h"

#define BENCH_DEFAULT_NODES 5000
#define BENCH_DEFAULT_TASKS 100000

static double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* VmRSS and VmHWM of this process in KiB, from /proc/self/status. */
static void read_rss(long *rss_kb, long *hwm_kb)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];

	*rss_kb = *hwm_kb = -1;
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "VmRSS:", 6) == 0)
			*rss_kb = strtol(line + 6, NULL, 10);
		else if (strncmp(line, "VmHWM:", 6) == 0)
			*hwm_kb = strtol(line + 6, NULL, 10);
	}
	fclose(f);
}

static void usage(FILE *out)
{
	fprintf(out,
		"usage: orch bench-scheduler [--nodes N] [--tasks N] [--seed N] [--mix realistic|default]\n"
		"  --nodes N   fake nodes to register (default %d)\n"
		"  --tasks N   tasks to place (default %d)\n"
		"  --seed N    seed of the random choices (default 1)\n"
		"  --mix M     realistic (binpack, spread by zone, memberOf; the default)\n"
		"              or default (ECS's default spread by instanceId only)\n",
		BENCH_DEFAULT_NODES, BENCH_DEFAULT_TASKS);
}

enum bench_kind { KIND_BINPACK, KIND_SPREAD, KIND_MEMBER, KIND_DEFAULT, KIND_COUNT };

static const char *kind_names[KIND_COUNT] = {
	"binpack-memory", "spread-zone+instance", "memberOf+binpack-cpu", "default-spread",
};

int bench_scheduler_main(int argc, char **argv)
{
	long nodes = BENCH_DEFAULT_NODES, tasks = BENCH_DEFAULT_TASKS;
	unsigned seed = 1;
	bool default_mix = false;
	struct scheduler *s;
	orch_error err = ORCH_ERROR_INIT;
	json_t *strategy[KIND_COUNT], *constraints[KIND_COUNT];
	double kind_seconds[KIND_COUNT] = { 0 };
	long kind_count[KIND_COUNT] = { 0 };
	long placed = 0, unplaced = 0, rss0, hwm0, rss1, hwm1;
	char first_reason[512] = "";
	double t0, t1, t2;
	int rc = 1;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(argv[i], "--nodes") == 0 && i + 1 < argc) {
			nodes = strtol(argv[++i], NULL, 10);
		} else if (strcmp(argv[i], "--tasks") == 0 && i + 1 < argc) {
			tasks = strtol(argv[++i], NULL, 10);
		} else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc) {
			seed = (unsigned)strtoul(argv[++i], NULL, 10);
		} else if (strcmp(argv[i], "--mix") == 0 && i + 1 < argc &&
			   (strcmp(argv[i + 1], "realistic") == 0 || strcmp(argv[i + 1], "default") == 0)) {
			default_mix = strcmp(argv[++i], "default") == 0;
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (nodes <= 0 || tasks < 0) {
		usage(stderr);
		return 2;
	}
	s = scheduler_new();
	if (!s) {
		fprintf(stderr, "bench-scheduler: out of memory\n");
		return 1;
	}
	scheduler_seed(s, seed);
	strategy[KIND_BINPACK] = json_pack("[{s:s, s:s}]", "type", "binpack", "field", "memory");
	constraints[KIND_BINPACK] = NULL;
	strategy[KIND_SPREAD] = json_pack("[{s:s, s:s}, {s:s, s:s}]", "type", "spread", "field",
					  "attribute:zone", "type", "spread", "field", "instanceId");
	constraints[KIND_SPREAD] = NULL;
	strategy[KIND_MEMBER] = json_pack("[{s:s, s:s}]", "type", "binpack", "field", "cpu");
	constraints[KIND_MEMBER] = json_pack(
		"[{s:s, s:s}]", "type", "memberOf", "expression",
		"attribute:arch == amd64 and attribute:zone in [a, b]");
	strategy[KIND_DEFAULT] = NULL;
	constraints[KIND_DEFAULT] = NULL;

	read_rss(&rss0, &hwm0);
	t0 = now_seconds();
	for (long i = 0; i < nodes; i++) {
		char id[32], zone[2] = { (char)('a' + i % 3), 0 }, rack[32];
		json_t *attrs;
		struct sched_node_info info;

		snprintf(id, sizeof(id), "node-%05ld", i);
		snprintf(rack, sizeof(rack), "r%ld", i / 40);
		attrs = json_pack("{s:s, s:s, s:s, s:s}", "os", "linux", "arch",
				  i % 10 == 9 ? "arm64" : "amd64", "zone", zone, "rack", rack);
		info = (struct sched_node_info){ id, "default", SCHED_NODE_ACTIVE, 16384, 65536,
						 attrs };
		if (scheduler_node_upsert(s, &info, &err) < 0) {
			fprintf(stderr, "bench-scheduler: %s\n", err.message);
			json_decref(attrs);
			goto out;
		}
		json_decref(attrs);
	}
	t1 = now_seconds();
	printf("nodes %ld registered in %.3f s\n", nodes, t1 - t0);

	srand(seed);
	t1 = now_seconds();
	for (long i = 0; i < tasks; i++) {
		long r = rand() % 10;
		enum bench_kind kind = default_mix ? KIND_DEFAULT
				       : r < 4 ? KIND_BINPACK : r < 7 ? KIND_SPREAD : KIND_MEMBER;
		char id[40], group[40], node[64], reason[512];
		struct sched_port port = { 0, false };
		struct sched_request req = { .cluster = "default" };
		double k0;
		int prc;

		snprintf(id, sizeof(id), "task-%08ld", i);
		switch (kind) {
		case KIND_BINPACK:
			snprintf(group, sizeof(group), "family:batch-%ld", i % 10);
			req.cpu = 256;
			req.memory = 256 + rand() % 1793;
			break;
		case KIND_SPREAD:
			snprintf(group, sizeof(group), "service:web-%ld", i % 20);
			req.cpu = 512;
			req.memory = 512;
			if (rand() % 3 == 0) {
				port.port = (uint16_t)(8000 + i % 20);
				req.ports = &port;
				req.port_count = 1;
			}
			break;
		case KIND_MEMBER:
			snprintf(group, sizeof(group), "family:ml");
			req.cpu = 1024;
			req.memory = 2048;
			break;
		default:
			snprintf(group, sizeof(group), "family:app-%ld", i % 50);
			req.cpu = 512;
			req.memory = 1024;
			break;
		}
		req.group = group;
		req.constraints = constraints[kind];
		req.strategy = strategy[kind];
		k0 = now_seconds();
		prc = scheduler_place(s, id, &req, node, sizeof(node), reason, sizeof(reason), &err);
		kind_seconds[kind] += now_seconds() - k0;
		kind_count[kind]++;
		if (prc < 0) {
			fprintf(stderr, "bench-scheduler: %s\n", err.message);
			goto out;
		}
		if (prc == 0) {
			placed++;
		} else {
			if (!unplaced)
				snprintf(first_reason, sizeof(first_reason), "%s", reason);
			unplaced++;
		}
	}
	t2 = now_seconds();
	read_rss(&rss1, &hwm1);
	printf("tasks %ld placed %ld unplaced %ld in %.3f s\n", tasks, placed, unplaced, t2 - t1);
	if (unplaced)
		printf("first unplaced: %s\n", first_reason);
	printf("placements_per_sec %.0f\n", t2 > t1 ? (double)tasks / (t2 - t1) : 0.0);
	for (int k = 0; k < KIND_COUNT; k++)
		if (kind_count[k])
			printf("  %-22s %7ld tasks  %6.2f us/placement\n", kind_names[k], kind_count[k],
			       kind_seconds[k] / (double)kind_count[k] * 1e6);
	printf("rss_kb_before %ld rss_kb_after %ld hwm_kb %ld (scheduler ~%ld KiB)\n", rss0,
	       rss1, hwm1, rss1 - rss0);

	t1 = now_seconds();
	for (long i = 0; i < tasks; i++) {
		char id[40];

		snprintf(id, sizeof(id), "task-%08ld", i);
		scheduler_task_release(s, id);
	}
	t2 = now_seconds();
	printf("releases_per_sec %.0f\n", t2 > t1 ? (double)tasks / (t2 - t1) : 0.0);
	rc = 0;
out:
	for (int k = 0; k < KIND_COUNT; k++) {
		json_decref(strategy[k]);
		json_decref(constraints[k]);
	}
	scheduler_free(s);
	return rc;
}
