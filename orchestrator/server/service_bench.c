/*
 * service_bench.c - `orch bench-services`: what the service reconciler
 * costs at scale, in one process, on the server's own modules.
 *
 * The control plane is built as server_control_plane_start builds it
 * (store, write batch, desired state, placement, service reconciler) on a
 * new SQLite store in a temporary directory: under --data if given, else
 * under /dev/shm (tmpfs) when it exists, else under $TMPDIR or /tmp; it is
 * removed at the end.  There is no HTTP and no agent: what a client or an
 * agent would cause is written the way api_service.c, api_agent.c and
 * api_node.c write it, then the event loop runs as the server's does.
 *
 * Phases, timed in CPU (getrusage RUSAGE_SELF, user + system) and wall
 * time (setup in wall time only):
 *   setup    --nodes nodes registered (16 CPUs, 64 GiB each), one task
 *            definition (256 CPU units, 512 MiB), --services REPLICA
 *            services of --tasks-per-service tasks created and marked;
 *   rollout  the loop until the reconciler launched every task (each one
 *            placed by the scheduler and stored PENDING);
 *   stable   every task reported RUNNING, the services marked, the loop
 *            until every service had its pass (every deployment COMPLETED,
 *            checked);
 *   events   --events times: a random RUNNING task of a random service
 *            reported STOPPED with stopCode UserInitiated (as after a
 *            StopTask: not a launch failure, so no launch back-off), the
 *            loop until its replacement was launched ("stop"); then the
 *            replacement reported RUNNING and the loop until the service's
 *            pass ran ("start").  Per event, CPU and wall time are measured
 *            around the loop only: the placement retry, the pass and the
 *            group commit, not the status write that precedes them;
 *   drain    the first registered node set DRAINING as
 *            UpdateContainerInstancesState does, which marks every service
 *            of the cluster: measured from that write to the end of the
 *            loop in which every service had its pass and each of the
 *            node's tasks got a replacement.
 * Also how the tasks spread (the nodes used, the most tasks on one node)
 * after the stable phase and after the events, VmRSS and VmHWM after the
 * stable phase and at the end, and the store's file sizes.  The store
 * keeps synchronous=FULL; on tmpfs an fsync costs next to nothing, so the
 * figures are the CPU's, not a disk's.
 *
 * Prints one figure a line ("name value"), or one JSON object with --json.
 * Hidden from --help; tests/bench/service_bench.sh runs it.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>

#include "service_bench.h"

#include "common/clock.h"
#include "common/log.h"
#include "common/str_util.h"
#include "desired_state.h"
#include "http_response.h"
#include "placement.h"
#include "server.h"
#include "service.h"
#include "store.h"
#include "taskdef_validate.h"
#include "write_batch.h"

#define BENCH_DEFAULT_SERVICES 500
#define BENCH_DEFAULT_TASKS_PER_SERVICE 20
#define BENCH_DEFAULT_NODES 1000
#define BENCH_DEFAULT_EVENTS 2000
#define BENCH_MAX_NODES 100000
#define BENCH_MAX_SERVICES 100000
#define BENCH_MAX_EVENTS 10000000
#define BENCH_NODE_CPU 16384		/* CPU units */
#define BENCH_NODE_MEMORY 65536		/* MiB */
#define BENCH_TASK_CPU 256
#define BENCH_TASK_MEMORY 512
/* A phase that has not converged by then fails the run. */
#define BENCH_PHASE_TIMEOUT_MS 120000
/* The loop never blocks longer than this, so a phase's deadline is seen. */
#define BENCH_TICK_MS 200
#define BENCH_TMPFS_DIR "/dev/shm"
#define BENCH_SERVICE_CONFIG \
	"{\"deploymentConfiguration\":{\"maximumPercent\":200,\"minimumHealthyPercent\":100," \
	"\"deploymentCircuitBreaker\":{\"enable\":false,\"rollback\":false}}}"

struct bench_options {
	long services, tasks_per_service, nodes, events;
	unsigned seed;
	const char *data_parent;	/* NULL: /dev/shm, else $TMPDIR or /tmp */
	bool json;
};

struct bench {
	struct bench_options opt;
	char dir[PATH_MAX];		/* the temporary data directory ("" if none) */
	char db_path[PATH_MAX + sizeof(SERVER_DB_FILE) + 1];
	struct event_base *base;
	struct event *tick;
	struct store *store;
	struct write_batch *writes;
	struct desired_state *desired;
	struct placement *placement;
	struct service_reconciler *services;
	char **node_ids;		/* --nodes IDs, registration order */
	uint64_t rng;
	json_t *figures;		/* name -> number, in report order */
};

/* CPU (user + system) and wall clock, in microseconds. */
struct bench_time {
	double cpu_us, wall_us;
};

static struct bench_time bench_now(void)
{
	struct rusage ru;
	struct bench_time t;

	getrusage(RUSAGE_SELF, &ru);
	t.cpu_us = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
		   (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
	t.wall_us = (double)clock_mono_ns() / 1e3;
	return t;
}

static struct bench_time bench_since(struct bench_time t0)
{
	struct bench_time t = bench_now();

	t.cpu_us -= t0.cpu_us;
	t.wall_us -= t0.wall_us;
	return t;
}

/* xorshift64*: the run's random choices, reproducible from --seed. */
static uint64_t bench_random(struct bench *b)
{
	b->rng ^= b->rng >> 12;
	b->rng ^= b->rng << 25;
	b->rng ^= b->rng >> 27;
	return b->rng * 2685821657736338717ULL;
}

static void figure(struct bench *b, const char *name, double value)
{
	bool whole = value == (double)(long long)value;

	json_object_set_new(b->figures, name, whole ? json_integer((json_int_t)value)
						    : json_real(value));
}

/* A rate: whole units are enough. */
static void figure_rate(struct bench *b, const char *name, double value)
{
	figure(b, name, (double)(long long)(value + 0.5));
}

/* One field of /proc/self/status in KiB ("VmRSS", "VmHWM"), or -1. */
static long proc_status_kib(const char *field)
{
	FILE *f = fopen("/proc/self/status", "r");
	size_t len = strlen(field);
	char line[256];
	long kib = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, field, len) == 0 && line[len] == ':') {
			kib = strtol(line + len + 1, NULL, 10);
			break;
		}
	fclose(f);
	return kib;
}

static double file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (double)st.st_size : 0;
}

/* ---- the control plane ------------------------------------------------- */

/* Nothing long-polls here; should something, it hears the server is busy. */
static void render_nothing(struct http_request *req, const char *node_id, uint64_t index,
			   void *arg)
{
	(void)node_id;
	(void)index;
	(void)arg;
	http_reply_error(req, 503, "ServerException", "benchmark: no assignments");
}

/* Only wakes the loop, so run_loop looks at its deadline. */
static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

static int make_data_dir(struct bench *b, orch_error *err)
{
	const char *parent = b->opt.data_parent;
	struct stat st;

	if (!parent)
		parent = stat(BENCH_TMPFS_DIR, &st) == 0 && S_ISDIR(st.st_mode) &&
				 access(BENCH_TMPFS_DIR, W_OK) == 0
			 ? BENCH_TMPFS_DIR
			 : getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	if (snprintf(b->dir, sizeof(b->dir), "%s/orch-bench-services-XXXXXX", parent) >=
	    (int)sizeof(b->dir)) {
		b->dir[0] = '\0';
		return orch_fail(err, ORCH_ERR_INVALID, "--data '%s': path too long", parent);
	}
	if (!mkdtemp(b->dir)) {
		int e = errno;

		b->dir[0] = '\0';
		return orch_fail_errno(err, e, "creating a directory in '%s'", parent);
	}
	snprintf(b->db_path, sizeof(b->db_path), "%s/" SERVER_DB_FILE, b->dir);
	return 0;
}

/* Removes the store's files and the directory. */
static void remove_data_dir(struct bench *b)
{
	static const char *const suffixes[] = { "", "-wal", "-shm", "-journal" };
	char path[sizeof(b->db_path) + 16];

	if (!b->dir[0])
		return;
	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		snprintf(path, sizeof(path), "%s%s", b->db_path, suffixes[i]);
		unlink(path);
	}
	if (rmdir(b->dir) < 0)
		fprintf(stderr, "bench-services: removing '%s': %s\n", b->dir, strerror(errno));
	b->dir[0] = '\0';
}

/* As server_control_plane_start, without the API, the node monitor and history. */
static int control_plane_start(struct bench *b, orch_error *err)
{
	static const struct timeval tick = { BENCH_TICK_MS / 1000, BENCH_TICK_MS % 1000 * 1000 };
	bool created = false;
	struct store_cluster cluster = { 0 };

	if (make_data_dir(b, err) < 0 || store_open(b->db_path, &b->store, err) < 0)
		return -1;
	b->base = event_base_new();
	b->tick = b->base ? event_new(b->base, -1, EV_PERSIST, on_tick, b) : NULL;
	b->writes = b->base ? write_batch_new(b->base, b->store) : NULL;
	b->desired = b->base ? desired_state_new(b->base, b->store, render_nothing, b) : NULL;
	b->placement = b->desired ? placement_new(b->base, b->store, b->writes, b->desired) : NULL;
	if (!b->tick || !b->writes || !b->placement || event_add(b->tick, &tick) < 0)
		return orch_fail(err, ORCH_ERR_INTERNAL, "creating the control plane");
	if (placement_load(b->placement, NULL, NULL, err) < 0)
		return -1;
	b->services = service_reconciler_new(b->base, b->store, b->writes, b->placement,
					     b->desired);
	if (!b->services)
		return orch_fail(err, ORCH_ERR_INTERNAL, "creating the service reconciler");
	placement_on_service_change(b->placement, service_reconciler_on_placement, b->services);
	if (service_reconciler_load(b->services, err) < 0)
		return -1;
	if (write_batch_begin(b->writes, err) < 0)
		return -1;
	if (store_cluster_create(b->store, STORE_DEFAULT_CLUSTER, &created, &cluster, err) < 0) {
		write_batch_abort(b->writes);
		return -1;
	}
	store_savepoint_release(b->store);
	store_cluster_release(&cluster);
	return 0;
}

/* Freed in server_release's order; the batch's last writes commit. */
static void control_plane_stop(struct bench *b)
{
	desired_state_free(b->desired);
	b->desired = NULL;
	write_batch_free(b->writes);
	b->writes = NULL;
	service_reconciler_free(b->services);
	b->services = NULL;
	placement_free(b->placement);
	b->placement = NULL;
	if (b->tick)
		event_free(b->tick);
	b->tick = NULL;
	if (b->base)
		event_base_free(b->base);
	b->base = NULL;
	store_close(b->store);
	b->store = NULL;
	remove_data_dir(b);
}

/*
 * Runs the event loop until the reconciler has made at least `passes`
 * passes and launched `launched` tasks in all, and the group commit ran.
 */
static int run_loop(struct bench *b, uint64_t passes, uint64_t launched, orch_error *err)
{
	int64_t deadline = clock_mono_ms() + BENCH_PHASE_TIMEOUT_MS;
	struct service_reconciler_stats st;

	for (;;) {
		if (event_base_loop(b->base, EVLOOP_ONCE) < 0)
			return orch_fail(err, ORCH_ERR_INTERNAL, "the event loop failed");
		service_reconciler_stats(b->services, &st);
		if (st.passes >= passes && st.launched >= launched && !store_in_transaction(b->store))
			return 0;
		if (clock_mono_ms() > deadline)
			return orch_fail(err, ORCH_ERR_INTERNAL,
					 "no convergence in %d s: %llu of %llu passes, %llu of %llu launches",
					 BENCH_PHASE_TIMEOUT_MS / 1000, (unsigned long long)st.passes,
					 (unsigned long long)passes, (unsigned long long)st.launched,
					 (unsigned long long)launched);
	}
}

static struct service_reconciler_stats stats_of(struct bench *b)
{
	struct service_reconciler_stats st;

	service_reconciler_stats(b->services, &st);
	return st;
}

/* ---- what clients and agents would do ---------------------------------- */

static void service_name(char *out, size_t size, long i)
{
	snprintf(out, size, "bench-svc-%05ld", i);
}

/* As api_agent_register: the node stored, the scheduler told, its set announced. */
static int register_nodes(struct bench *b, orch_error *err)
{
	b->node_ids = calloc((size_t)b->opt.nodes, sizeof(*b->node_ids));
	if (!b->node_ids)
		return orch_fail(err, ORCH_ERR_INTERNAL, "out of memory");
	for (long i = 0; i < b->opt.nodes; i++) {
		struct store_node in = { 0 }, node = { 0 };
		char name[32], address[32], attributes[64], id[STORE_ID_HEX_LEN + 1], hash[65];
		bool created = false;

		snprintf(name, sizeof(name), "bench-node-%05ld", i);
		snprintf(address, sizeof(address), "10.%ld.%ld.%ld:7070", i >> 16 & 255, i >> 8 & 255,
			 i & 255);
		snprintf(attributes, sizeof(attributes), "{\"zone\":\"%c\"}", (char)('a' + i % 3));
		snprintf(id, sizeof(id), "%032lx", (unsigned long)i + 1);
		snprintf(hash, sizeof(hash), "%064lx", (unsigned long)i + 1);
		in.cluster = STORE_DEFAULT_CLUSTER;
		in.name = name;
		in.advertise_address = address;
		in.attributes = attributes;
		in.cpu = BENCH_NODE_CPU;
		in.memory = BENCH_NODE_MEMORY;
		if (write_batch_begin(b->writes, err) < 0)
			return -1;
		if (store_node_register(b->store, &in, NULL, hash, id, &created, &node, err) < 0 ||
		    placement_node_changed(b->placement, &node, err) < 0) {
			write_batch_abort(b->writes);
			store_node_release(&node);
			return orch_error_prefix(err, "node '%s'", name);
		}
		store_savepoint_release(b->store);
		desired_state_changed(b->desired, node.id);
		b->node_ids[i] = node.id;
		node.id = NULL;
		store_node_release(&node);
	}
	return run_loop(b, 0, 0, err);
}

/* As RegisterTaskDefinition: validated, normalized, stored. */
static int register_taskdef(struct bench *b, char *family, size_t family_size, int64_t *revision,
			    orch_error *err)
{
	struct store_taskdef td = { 0 };
	json_t *input, *normalized = NULL, *ignored = NULL;
	char *body = NULL, *ignored_text = NULL;
	int rc = -1;

	input = json_pack("{s:s, s:[{s:s, s:s, s:i, s:i, s:b}]}", "family", "bench-web",
			  "containerDefinitions", "name", "web", "image", "nginx:latest", "cpu",
			  BENCH_TASK_CPU, "memory", BENCH_TASK_MEMORY, "essential", 1);
	if (!input)
		return orch_fail(err, ORCH_ERR_INTERNAL, "out of memory");
	if (taskdef_validate(input, &normalized, &ignored, err) < 0)
		goto out;
	body = json_dumps(normalized, JSON_COMPACT);
	ignored_text = json_dumps(ignored, JSON_COMPACT);
	if (!body || !ignored_text) {
		orch_fail(err, ORCH_ERR_INTERNAL, "out of memory");
		goto out;
	}
	if (write_batch_begin(b->writes, err) < 0)
		goto out;
	if (store_taskdef_register(b->store, json_string_value(json_object_get(normalized, "family")),
				   body, ignored_text, &td, err) < 0) {
		write_batch_abort(b->writes);
		goto out;
	}
	store_savepoint_release(b->store);
	snprintf(family, family_size, "%s", td.family);
	*revision = td.revision;
	rc = 0;
out:
	store_taskdef_release(&td);
	free(body);
	free(ignored_text);
	json_decref(input);
	json_decref(normalized);
	json_decref(ignored);
	return rc;
}

/* As CreateService: the row, its first deployment and event, then a mark. */
static int create_services(struct bench *b, const char *family, int64_t revision,
			   orch_error *err)
{
	for (long i = 0; i < b->opt.services; i++) {
		struct store_service sv = { 0 };
		char name[32], dep_id[SERVICE_DEPLOYMENT_ID_SIZE];

		service_name(name, sizeof(name), i);
		sv.cluster = STORE_DEFAULT_CLUSTER;
		sv.name = name;
		sv.status = "ACTIVE";
		sv.scheduling_strategy = "REPLICA";
		sv.desired_count = b->opt.tasks_per_service;
		sv.config = BENCH_SERVICE_CONFIG;
		sv.created_at = sv.updated_at = store_now();
		if (write_batch_begin(b->writes, err) < 0)
			return -1;
		if (store_service_create(b->store, &sv, err) < 0 ||
		    service_deployment_start(b->store, &sv, family, revision, NULL, dep_id,
					     sizeof(dep_id), err) < 0 ||
		    store_event_add(b->store, STORE_DEFAULT_CLUSTER, name, "(service created)",
				    SERVICE_EVENTS_KEPT, err) < 0) {
			write_batch_abort(b->writes);
			return orch_error_prefix(err, "service '%s'", name);
		}
		store_savepoint_release(b->store);
		service_reconciler_mark(b->services, STORE_DEFAULT_CLUSTER, name);
	}
	return 0;
}

/*
 * As an agent's status report applies it (status_apply_task): t, read in
 * the open write, becomes RUNNING or STOPPED (a STOPPED one keeps the stop
 * code it has, else gets stop_code), and its service is marked.
 */
static int report_status(struct bench *b, struct store_task *t, const char *status,
			 const char *stop_code, orch_error *err)
{
	double now = store_now();

	if (str_set_copy(&t->agent_status, status) < 0 || str_set_copy(&t->last_status, status) < 0)
		return orch_fail(err, ORCH_ERR_INTERNAL, "out of memory");
	if (strcmp(status, "RUNNING") == 0) {
		if (t->started_at <= 0)
			t->started_at = now;
	} else {
		t->stopped_at = now;
		if (t->stopping_at <= 0)
			t->stopping_at = now;
		if (str_set_copy(&t->desired_status, "STOPPED") < 0 ||
		    (!t->stop_code && (str_set_copy(&t->stop_code, stop_code) < 0 ||
				       str_set_copy(&t->stopped_reason, "Task stopped by the benchmark") < 0)))
			return orch_fail(err, ORCH_ERR_INTERNAL, "out of memory");
	}
	if (store_task_update(b->store, t, err) < 0)
		return -1;
	service_reconciler_mark(b->services, t->cluster, t->service_name);
	return 0;
}

/* Every PENDING task of every service reported RUNNING, every service marked, in one write. */
static int report_all_running(struct bench *b, orch_error *err)
{
	if (write_batch_begin(b->writes, err) < 0)
		return -1;
	for (long i = 0; i < b->opt.services; i++) {
		struct store_task *tasks = NULL;
		int count = 0;
		char name[32];

		service_name(name, sizeof(name), i);
		if (store_task_list_service(b->store, STORE_DEFAULT_CLUSTER, name, &tasks, &count,
					    err) < 0)
			goto fail;
		for (int k = 0; k < count; k++) {
			if (strcmp(tasks[k].last_status, "PENDING") != 0)
				continue;
			if (report_status(b, &tasks[k], "RUNNING", NULL, err) < 0) {
				store_task_list_free(tasks, count);
				goto fail;
			}
		}
		store_task_list_free(tasks, count);
		service_reconciler_mark(b->services, STORE_DEFAULT_CLUSTER, name);
	}
	store_savepoint_release(b->store);
	return 0;
fail:
	write_batch_abort(b->writes);
	return -1;
}

/* How many services have a COMPLETED primary deployment (committed state). */
static int count_stable(struct bench *b, long *stable, orch_error *err)
{
	*stable = 0;
	for (long i = 0; i < b->opt.services; i++) {
		struct store_deployment *deps = NULL;
		int count = 0;
		char name[32];

		service_name(name, sizeof(name), i);
		if (store_deployment_list(b->store, STORE_READER, STORE_DEFAULT_CLUSTER, name, false,
					  &deps, &count, err) < 0)
			return -1;
		for (int k = 0; k < count; k++)
			if (strcmp(deps[k].status, "PRIMARY") == 0 &&
			    strcmp(deps[k].rollout_state, "COMPLETED") == 0)
				++*stable;
		store_deployment_list_free(deps, count);
	}
	return 0;
}

/*
 * A random task in status (desired RUNNING, placed) of a random service:
 * its index in *tasks, which the caller frees.  -1 on error; *count tasks
 * are listed and none fits: an error too, the caller names it.
 */
static int pick_task(struct bench *b, const char *status, char *service, size_t service_size,
		     struct store_task **tasks, int *count, orch_error *err)
{
	int found = 0, chosen = -1;

	service_name(service, service_size, (long)(bench_random(b) % (uint64_t)b->opt.services));
	if (store_task_list_service(b->store, STORE_DEFAULT_CLUSTER, service, tasks, count, err) < 0)
		return orch_error_prefix(err, "listing the tasks of '%s'", service);
	for (int k = 0; k < *count; k++)
		if (strcmp((*tasks)[k].last_status, status) == 0 &&
		    strcmp((*tasks)[k].desired_status, "RUNNING") == 0 && (*tasks)[k].node_id &&
		    bench_random(b) % (uint64_t)++found == 0)
			chosen = k;	/* reservoir sampling: each equally likely */
	if (chosen < 0)
		return orch_fail(err, ORCH_ERR_INTERNAL, "service '%s' has no %s task", service, status);
	return chosen;
}

/* The newest task of the service in status (its replacement), or -1. */
static int newest_task(struct store_task *tasks, int count, const char *status)
{
	for (int k = count - 1; k >= 0; k--)
		if (strcmp(tasks[k].last_status, status) == 0 && tasks[k].node_id)
			return k;
	return -1;
}

/* ---- figures ----------------------------------------------------------- */

static int cmp_string_ptr(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * How evenly the tasks (not STOPPED) are spread: the most one node holds
 * and how many nodes hold any (figures NAME_busiest_node_tasks and
 * NAME_nodes_used).
 */
static int figure_spread(struct bench *b, const char *name, orch_error *err)
{
	struct store_task *tasks = NULL;
	char **ids, figure_name[64];
	int count = 0, n = 0;
	long run = 0, most = 0, used = 0;

	if (store_task_list_active(b->store, NULL, &tasks, &count, err) < 0)
		return -1;
	ids = calloc((size_t)count + 1, sizeof(*ids));
	if (!ids) {
		store_task_list_free(tasks, count);
		return orch_fail(err, ORCH_ERR_INTERNAL, "out of memory");
	}
	for (int k = 0; k < count; k++)
		if (tasks[k].node_id)
			ids[n++] = tasks[k].node_id;
	qsort(ids, (size_t)n, sizeof(*ids), cmp_string_ptr);
	for (int k = 0; k < n; k++) {
		bool same = k > 0 && strcmp(ids[k], ids[k - 1]) == 0;

		run = same ? run + 1 : 1;
		used += !same;
		if (run > most)
			most = run;
	}
	free(ids);
	store_task_list_free(tasks, count);
	snprintf(figure_name, sizeof(figure_name), "%s_busiest_node_tasks", name);
	figure(b, figure_name, (double)most);
	snprintf(figure_name, sizeof(figure_name), "%s_nodes_used", name);
	figure(b, figure_name, (double)used);
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The q-quantile of n sorted values (nearest rank). */
static double quantile(const double *sorted, long n, double q)
{
	long rank = (long)(q * (double)n + 0.999999);

	if (n == 0)
		return 0;
	if (rank < 1)
		rank = 1;
	return sorted[(rank > n ? n : rank) - 1];
}

static void figure_distribution(struct bench *b, const char *prefix, double *values, long n)
{
	char name[64];

	qsort(values, (size_t)n, sizeof(*values), cmp_double);
	snprintf(name, sizeof(name), "%s_median", prefix);
	figure(b, name, quantile(values, n, 0.5));
	snprintf(name, sizeof(name), "%s_p99", prefix);
	figure(b, name, quantile(values, n, 0.99));
}

/* ---- the phases -------------------------------------------------------- */

/* Every task found a node: the sizes asked for fit the nodes. */
static int check_all_placed(struct bench *b, orch_error *err)
{
	struct store_task *unplaced = NULL;
	int count = 0;

	if (store_task_list_unplaced(b->store, 1, &unplaced, &count, err) < 0)
		return -1;
	if (count > 0)
		orch_fail(err, ORCH_ERR_INVALID, "tasks do not fit the nodes (%s); use more --nodes",
			  unplaced[0].pending_reason ? unplaced[0].pending_reason : "no reason given");
	store_task_list_free(unplaced, count);
	return count > 0 ? -1 : 0;
}

static int phase_setup(struct bench *b, orch_error *err)
{
	struct bench_time t0 = bench_now();
	char family[256];
	int64_t revision = 0;
	long expected = b->opt.services * b->opt.tasks_per_service, stable = 0;
	struct service_reconciler_stats st;

	if (register_nodes(b, err) < 0)
		return orch_error_prefix(err, "registering nodes");
	figure(b, "nodes_register_s", bench_since(t0).wall_us / 1e6);
	if (register_taskdef(b, family, sizeof(family), &revision, err) < 0)
		return orch_error_prefix(err, "registering the task definition");
	t0 = bench_now();
	if (create_services(b, family, revision, err) < 0)
		return orch_error_prefix(err, "creating services");
	figure(b, "services_create_s", bench_since(t0).wall_us / 1e6);

	/* rollout: every service's first pass launches all its tasks. */
	st = stats_of(b);
	t0 = bench_now();
	if (run_loop(b, st.passes + (uint64_t)b->opt.services, st.launched + (uint64_t)expected,
		     err) < 0)
		return orch_error_prefix(err, "rollout");
	{
		struct bench_time d = bench_since(t0);
		struct service_reconciler_stats now = stats_of(b);

		figure(b, "rollout_tasks", (double)(now.launched - st.launched));
		figure(b, "rollout_passes", (double)(now.passes - st.passes));
		figure(b, "rollout_cpu_s", d.cpu_us / 1e6);
		figure(b, "rollout_wall_s", d.wall_us / 1e6);
		figure_rate(b, "rollout_tasks_per_s", d.wall_us > 0 ? (double)expected / (d.wall_us / 1e6) : 0);
		figure(b, "rollout_cpu_us_per_task", expected ? d.cpu_us / (double)expected : 0);
	}
	if (check_all_placed(b, err) < 0)
		return orch_error_prefix(err, "rollout");

	/* stable: the agents say RUNNING; each service's pass completes its deployment. */
	if (report_all_running(b, err) < 0)
		return orch_error_prefix(err, "reporting tasks RUNNING");
	st = stats_of(b);
	t0 = bench_now();
	if (run_loop(b, st.passes + (uint64_t)b->opt.services, 0, err) < 0)
		return orch_error_prefix(err, "completing deployments");
	{
		struct bench_time d = bench_since(t0);

		figure(b, "stable_cpu_s", d.cpu_us / 1e6);
		figure(b, "stable_wall_s", d.wall_us / 1e6);
	}
	if (count_stable(b, &stable, err) < 0)
		return -1;
	figure(b, "stable_services", (double)stable);
	if (stable != b->opt.services)
		return orch_fail(err, ORCH_ERR_INTERNAL, "%ld of %ld services reached a steady state",
				 stable, b->opt.services);
	if (figure_spread(b, "setup", err) < 0)
		return -1;
	figure(b, "rss_kib_setup", (double)proc_status_kib("VmRSS"));
	figure(b, "hwm_kib_setup", (double)proc_status_kib("VmHWM"));
	return 0;
}

/* One stopped task and its replacement's start; the loop's costs into stop_/start_. */
static int one_event(struct bench *b, struct bench_time *stop, struct bench_time *start,
		     orch_error *err)
{
	struct store_task *tasks = NULL;
	struct service_reconciler_stats st;
	struct bench_time t0;
	char service[32];
	int count = 0, k;

	if (write_batch_begin(b->writes, err) < 0)
		return -1;
	k = pick_task(b, "RUNNING", service, sizeof(service), &tasks, &count, err);
	if (k < 0)
		goto abort;
	if (report_status(b, &tasks[k], "STOPPED", "UserInitiated", err) < 0)
		goto abort;
	store_savepoint_release(b->store);
	/* What status_apply_task's caller does after the write. */
	placement_task_stopped(b->placement, tasks[k].id);
	desired_state_changed(b->desired, tasks[k].node_id);
	store_task_list_free(tasks, count);
	tasks = NULL;

	st = stats_of(b);
	t0 = bench_now();
	if (run_loop(b, st.passes + 1, st.launched + 1, err) < 0)
		return orch_error_prefix(err, "replacing a task of '%s'", service);
	*stop = bench_since(t0);

	/* The replacement's agent says RUNNING. */
	if (write_batch_begin(b->writes, err) < 0)
		return -1;
	if (store_task_list_service(b->store, STORE_DEFAULT_CLUSTER, service, &tasks, &count,
				    err) < 0)
		goto abort;
	k = newest_task(tasks, count, "PENDING");
	if (k < 0) {
		orch_fail(err, ORCH_ERR_INTERNAL, "service '%s': no placed replacement", service);
		goto abort;
	}
	if (report_status(b, &tasks[k], "RUNNING", NULL, err) < 0)
		goto abort;
	store_savepoint_release(b->store);
	store_task_list_free(tasks, count);
	st = stats_of(b);
	t0 = bench_now();
	if (run_loop(b, st.passes + 1, 0, err) < 0)
		return orch_error_prefix(err, "starting a task of '%s'", service);
	*start = bench_since(t0);
	return 0;
abort:
	write_batch_abort(b->writes);
	store_task_list_free(tasks, count);
	return -1;
}

static int phase_events(struct bench *b, orch_error *err)
{
	long n = b->opt.events;
	double *stop_cpu = calloc((size_t)n + 1, sizeof(double));
	double *stop_wall = calloc((size_t)n + 1, sizeof(double));
	double *start_cpu = calloc((size_t)n + 1, sizeof(double));
	double *start_wall = calloc((size_t)n + 1, sizeof(double));
	double stop_wall_total = 0, stop_cpu_total = 0;
	int rc = -1;

	if (!stop_cpu || !stop_wall || !start_cpu || !start_wall) {
		orch_fail(err, ORCH_ERR_INTERNAL, "out of memory");
		goto out;
	}
	for (long i = 0; i < n; i++) {
		struct bench_time stop = { 0, 0 }, start = { 0, 0 };

		if (one_event(b, &stop, &start, err) < 0) {
			orch_error_prefix(err, "event %ld", i + 1);
			goto out;
		}
		stop_cpu[i] = stop.cpu_us;
		stop_wall[i] = stop.wall_us;
		start_cpu[i] = start.cpu_us;
		start_wall[i] = start.wall_us;
		stop_cpu_total += stop.cpu_us;
		stop_wall_total += stop.wall_us;
	}
	figure(b, "events", (double)n);
	figure_distribution(b, "stop_event_cpu_us", stop_cpu, n);
	figure_distribution(b, "stop_event_wall_us", stop_wall, n);
	figure(b, "stop_event_cpu_us_mean", n ? stop_cpu_total / (double)n : 0);
	figure_distribution(b, "start_event_cpu_us", start_cpu, n);
	figure_distribution(b, "start_event_wall_us", start_wall, n);
	/* One placement per stop event: the replacement rate the loop sustains. */
	figure_rate(b, "replacements_per_s",
		    stop_wall_total > 0 ? (double)n / (stop_wall_total / 1e6) : 0);
	rc = 0;
out:
	free(stop_cpu);
	free(stop_wall);
	free(start_cpu);
	free(start_wall);
	return rc;
}

/* As UpdateContainerInstancesState to DRAINING (api_node_update). */
static int phase_drain(struct bench *b, orch_error *err)
{
	const char *id = b->node_ids[0];
	struct store_task *tasks = NULL;
	struct store_node node = { 0 };
	struct service_reconciler_stats st;
	struct bench_time t0, d;
	int on_node = 0;

	if (store_task_list_active(b->store, id, &tasks, &on_node, err) < 0)
		return -1;
	store_task_list_free(tasks, on_node);
	if (figure_spread(b, "events", err) < 0)
		return -1;
	st = stats_of(b);
	t0 = bench_now();
	if (write_batch_begin(b->writes, err) < 0)
		return -1;
	if (store_node_set_status(b->store, id, "DRAINING", NULL, err) < 0 ||
	    store_node_get(b->store, STORE_WRITER, STORE_DEFAULT_CLUSTER, id, &node, err) < 0 ||
	    placement_node_changed(b->placement, &node, err) < 0) {
		write_batch_abort(b->writes);
		store_node_release(&node);
		return orch_error_prefix(err, "draining node '%s'", id);
	}
	store_savepoint_release(b->store);
	desired_state_changed(b->desired, id);
	store_node_release(&node);
	/* Only the services with tasks there take a pass: wait for the replacements. */
	if (run_loop(b, st.passes + 1, st.launched + (uint64_t)on_node, err) < 0)
		return orch_error_prefix(err, "draining node '%s'", id);
	d = bench_since(t0);
	figure(b, "drain_node_tasks", (double)on_node);
	figure(b, "drain_passes", (double)(stats_of(b).passes - st.passes));
	figure(b, "drain_launched", (double)(stats_of(b).launched - st.launched));
	figure(b, "drain_cpu_ms", d.cpu_us / 1e3);
	figure(b, "drain_wall_ms", d.wall_us / 1e3);
	return 0;
}

/* ---- options and report ------------------------------------------------ */

static void usage(FILE *out)
{
	fprintf(out,
		"usage: orch bench-services [--services N] [--tasks-per-service N] [--nodes N]\n"
		"                           [--events N] [--seed N] [--data DIR] [--json]\n"
		"                           [--log-level LEVEL]\n"
		"  --services N           REPLICA services to create (default %d)\n"
		"  --tasks-per-service N  their desired count (default %d)\n"
		"  --nodes N              fake nodes, 16 CPUs and 64 GiB each (default %d)\n"
		"  --events N             single-task stop events measured (default %d)\n"
		"  --seed N               seed of the random choices (default 1)\n"
		"  --data DIR             make the temporary store under DIR (default %s if\n"
		"                         it exists, else $TMPDIR or /tmp); removed at the end\n"
		"  --json                 the figures as one JSON object\n"
		"  --log-level LEVEL      the server's log lines at LEVEL and above (default warn)\n",
		BENCH_DEFAULT_SERVICES, BENCH_DEFAULT_TASKS_PER_SERVICE, BENCH_DEFAULT_NODES,
		BENCH_DEFAULT_EVENTS, BENCH_TMPFS_DIR);
}

static int parse_count(const char *flag, const char *text, long min, long max, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(text, &end, 10);
	if (errno || end == text || *end || v < min || v > max) {
		fprintf(stderr, "orch bench-services: --%s: must be an integer from %ld to %ld\n",
			flag, min, max);
		return -1;
	}
	*out = v;
	return 0;
}

/* 0, 1 (--help: exit 0) or -1 (usage error). */
static int parse_options(int argc, char **argv, struct bench_options *o)
{
	enum { OPT_SERVICES = 1, OPT_TASKS, OPT_NODES, OPT_EVENTS, OPT_SEED, OPT_DATA, OPT_JSON,
	       OPT_LOG_LEVEL, OPT_HELP };
	static const struct option longopts[] = {
		{ "services", required_argument, NULL, OPT_SERVICES },
		{ "tasks-per-service", required_argument, NULL, OPT_TASKS },
		{ "nodes", required_argument, NULL, OPT_NODES },
		{ "events", required_argument, NULL, OPT_EVENTS },
		{ "seed", required_argument, NULL, OPT_SEED },
		{ "data", required_argument, NULL, OPT_DATA },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "log-level", required_argument, NULL, OPT_LOG_LEVEL },
		{ "help", no_argument, NULL, OPT_HELP },
		{ NULL, 0, NULL, 0 },
	};
	enum log_level level;
	long seed;
	int c;

	*o = (struct bench_options){ BENCH_DEFAULT_SERVICES, BENCH_DEFAULT_TASKS_PER_SERVICE,
				     BENCH_DEFAULT_NODES, BENCH_DEFAULT_EVENTS, 1, NULL, false };
	log_threshold = LOG_LEVEL_WARN;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_SERVICES:
			if (parse_count("services", optarg, 1, BENCH_MAX_SERVICES, &o->services) < 0)
				return -1;
			break;
		case OPT_TASKS:
			if (parse_count("tasks-per-service", optarg, 1, SERVICE_MAX_DESIRED,
					&o->tasks_per_service) < 0)
				return -1;
			break;
		case OPT_NODES:
			if (parse_count("nodes", optarg, 1, BENCH_MAX_NODES, &o->nodes) < 0)
				return -1;
			break;
		case OPT_EVENTS:
			if (parse_count("events", optarg, 0, BENCH_MAX_EVENTS, &o->events) < 0)
				return -1;
			break;
		case OPT_SEED:
			if (parse_count("seed", optarg, 0, UINT_MAX, &seed) < 0)
				return -1;
			o->seed = (unsigned)seed;
			break;
		case OPT_DATA:
			o->data_parent = optarg;
			break;
		case OPT_JSON:
			o->json = true;
			break;
		case OPT_LOG_LEVEL:
			if (log_level_parse(optarg, &level) < 0) {
				fprintf(stderr, "orch bench-services: --log-level: must be debug, info, warn or error\n");
				return -1;
			}
			log_threshold = level;
			break;
		case 'h':
		case OPT_HELP:
			usage(stdout);
			return 1;
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind < argc) {
		usage(stderr);
		return -1;
	}
	return 0;
}

static void report(struct bench *b)
{
	const char *name;
	json_t *v;

	if (b->opt.json) {
		json_dumpf(b->figures, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
		fputc('\n', stdout);
		return;
	}
	json_object_foreach(b->figures, name, v) {
		if (json_is_integer(v))
			printf("%-28s %lld\n", name, (long long)json_integer_value(v));
		else
			printf("%-28s %.3f\n", name, json_real_value(v));
	}
}

int bench_services_main(int argc, char **argv)
{
	struct bench b = { 0 };
	orch_error err = ORCH_ERROR_INIT;
	int rc;

	rc = parse_options(argc, argv, &b.opt);
	if (rc != 0)
		return rc < 0 ? 2 : 0;
	b.rng = 0x9e3779b97f4a7c15ULL ^ b.opt.seed;
	b.figures = json_object();
	if (!b.figures) {
		fprintf(stderr, "orch bench-services: out of memory\n");
		return 1;
	}
	figure(&b, "services", (double)b.opt.services);
	figure(&b, "tasks_per_service", (double)b.opt.tasks_per_service);
	figure(&b, "nodes", (double)b.opt.nodes);
	rc = 1;
	if (control_plane_start(&b, &err) < 0 || phase_setup(&b, &err) < 0 ||
	    phase_events(&b, &err) < 0 || phase_drain(&b, &err) < 0) {
		fprintf(stderr, "orch bench-services: %s\n", err.message);
		goto out;
	}
	figure(&b, "rss_kib_end", (double)proc_status_kib("VmRSS"));
	figure(&b, "hwm_kib_end", (double)proc_status_kib("VmHWM"));
	{
		char wal[sizeof(b.db_path) + 8];

		snprintf(wal, sizeof(wal), "%s-wal", b.db_path);
		figure(&b, "store_db_bytes", file_size(b.db_path));
		figure(&b, "store_wal_bytes", file_size(wal));
	}
	report(&b);
	rc = 0;
out:
	control_plane_stop(&b);
	if (b.node_ids)
		for (long i = 0; i < b.opt.nodes; i++)
			free(b.node_ids[i]);
	free(b.node_ids);
	json_decref(b.figures);
	return rc;
}
