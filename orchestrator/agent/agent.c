/*
 * agent.c - `orch agent`: flags, joining, and the loop.  See agent.h.
 *
 * The loop, one thread:
 *
 *   wait (curl_multi_poll on the long poll + shim pidfds + pull pipes +
 *         signalfd, until the next heartbeat or kill deadline)
 *   -> assignments answered: take the desired set, start the next poll
 *   -> read container exits (the fds that fired; all of them every
 *      AGENT_EXIT_SWEEP_MS)
 *   -> converge
 *   -> report status if anything changed or the heartbeat is due
 *   -> remove what the server no longer wants (after the report)
 *
 * A 401 anywhere means the credential was revoked: register again with
 * the join secret and the old credential (same node name: the server keeps
 * the node's identity).  That works after `orch node rm`; if another agent
 * holds the node now, the server answers 409 and this agent stops.
 */
#include "agent.h"
#include "agent_stream.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <ifaddrs.h>
#include <inttypes.h>
#include <net/if.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "agent_client.h"
#include "proto/agent_protocol.h"
#include "agent_task.h"
#include "runtime/cgroup.h"
#include "common/clock.h"
#include "common/cleanup.h"
#include "common/fs_util.h"
#include "common/log.h"
#include "proto/pki.h"

struct agent_options {
	const char *server;
	const char *token;
	const char *token_file;
	const char *data_dir;
	const char *runtime_dir;
	const char *node_name;
	const char *advertise;
	const char *cgroup_parent;
	const char *cluster;
	const char *attrs[AGENT_MAX_ATTRS];
	size_t attr_count;
	long cpu, memory;
};

struct agent {
	struct agent_options opt;
	char ca_sha256[PKI_SHA256_HEX_LEN + 1];
	char secret[PKI_JOIN_TOKEN_MAX];
	char node_name[256];
	char advertise[INET6_ADDRSTRLEN];
	char node_id[128];
	char credential[AGENT_CREDENTIAL_HEX_LEN + 64];
	long cpu, memory;
	struct agent_client client;
	struct agent_tasks tasks;
	uint64_t index;
	int signal_fd;
	int lock_fd;
	bool stop;
};

static void agent_usage(FILE *out)
{
	fprintf(out,
		"usage: orch agent --server URL --token-file FILE|--token TOKEN [options]\n"
		"\n"
		"Runs a worker node: joins the server and runs the tasks it assigns.\n"
		"\n"
		"  --server URL            the server, https://HOST:PORT (env ORCH_SERVER)\n"
		"  --token TOKEN           join token K10...::... from the server's data dir\n"
		"                          (env ORCH_JOIN_TOKEN); visible in ps, prefer:\n"
		"  --token-file FILE       read the join token from FILE, e.g. a copy of the\n"
		"                          server's DATA/join-token (env ORCH_TOKEN_FILE)\n"
		"  --data DIR              agent state: credential, CA (default %s)\n"
		"  --runtime-data DIR      containers and images (default: the --data dir)\n"
		"  --node-name NAME        node name (default: the host name)\n"
		"  --advertise IP          the node's address (default: first non-loopback IPv4)\n"
		"  --cgroup-parent NAME    parent cgroup of task containers (default %s)\n"
		"  --cluster NAME          cluster to join (default %s)\n"
		"  --attr KEY=VALUE        node attribute for placement constraints (repeatable)\n"
		"  --cpu UNITS             CPU to offer, 1024 per CPU (default: all CPUs)\n"
		"  --memory MIB            memory to offer (default: MemTotal minus a reserve of\n"
		"                          min(%d MiB, 10%%))\n"
		"  --log-level LEVEL       debug, info, warn or error (default info)\n",
		AGENT_DEFAULT_DATA_DIR, CGROUP_DEFAULT_PARENT, AGENT_DEFAULT_CLUSTER,
		AGENT_MEMORY_RESERVE_MIB);
}

static int parse_options(int argc, char **argv, struct agent_options *o)
{
	enum { OPT_SERVER = 256, OPT_TOKEN, OPT_TOKEN_FILE, OPT_DATA, OPT_RUNTIME, OPT_NAME,
	       OPT_ADVERTISE, OPT_CGROUP, OPT_CLUSTER, OPT_ATTR, OPT_CPU, OPT_MEMORY, OPT_LOG };
	static const struct option longopts[] = {
		{ "server", required_argument, NULL, OPT_SERVER },
		{ "token", required_argument, NULL, OPT_TOKEN },
		{ "token-file", required_argument, NULL, OPT_TOKEN_FILE },
		{ "data", required_argument, NULL, OPT_DATA },
		{ "runtime-data", required_argument, NULL, OPT_RUNTIME },
		{ "node-name", required_argument, NULL, OPT_NAME },
		{ "advertise", required_argument, NULL, OPT_ADVERTISE },
		{ "cgroup-parent", required_argument, NULL, OPT_CGROUP },
		{ "cluster", required_argument, NULL, OPT_CLUSTER },
		{ "attr", required_argument, NULL, OPT_ATTR },
		{ "cpu", required_argument, NULL, OPT_CPU },
		{ "memory", required_argument, NULL, OPT_MEMORY },
		{ "log-level", required_argument, NULL, OPT_LOG },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *token_flag = NULL, *token_file_flag = NULL;
	enum log_level level;
	char *end;
	int c;

	o->server = getenv("ORCH_SERVER");
	o->data_dir = AGENT_DEFAULT_DATA_DIR;
	o->cgroup_parent = CGROUP_DEFAULT_PARENT;
	o->cluster = AGENT_DEFAULT_CLUSTER;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_SERVER: o->server = optarg; break;
		case OPT_TOKEN: token_flag = optarg; break;
		case OPT_TOKEN_FILE: token_file_flag = optarg; break;
		case OPT_DATA: o->data_dir = optarg; break;
		case OPT_RUNTIME: o->runtime_dir = optarg; break;
		case OPT_NAME: o->node_name = optarg; break;
		case OPT_ADVERTISE: o->advertise = optarg; break;
		case OPT_CGROUP: o->cgroup_parent = optarg; break;
		case OPT_CLUSTER: o->cluster = optarg; break;
		case OPT_ATTR:
			if (o->attr_count >= AGENT_MAX_ATTRS || !strchr(optarg, '=') || optarg[0] == '=') {
				fprintf(stderr, "orch agent: --attr '%s': expected KEY=VALUE (at most %d)\n",
					optarg, AGENT_MAX_ATTRS);
				return -1;
			}
			o->attrs[o->attr_count++] = optarg;
			break;
		case OPT_CPU:
		case OPT_MEMORY: {
			long v = strtol(optarg, &end, 10);

			if (*end || v < 1 || v > 1L << 30) {
				fprintf(stderr, "orch agent: --%s '%s': must be a positive integer\n",
					c == OPT_CPU ? "cpu" : "memory", optarg);
				return -1;
			}
			if (c == OPT_CPU)
				o->cpu = v;
			else
				o->memory = v;
			break;
		}
		case OPT_LOG:
			if (log_level_parse(optarg, &level) < 0) {
				fprintf(stderr, "orch agent: --log-level: must be debug, info, warn or error\n");
				return -1;
			}
			log_threshold = level;
			break;
		case 'h': agent_usage(stdout); exit(0);
		default: agent_usage(stderr); return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "orch agent: unexpected argument '%s'\n", argv[optind]);
		return -1;
	}
	if (!o->server || !*o->server) {
		fprintf(stderr, "orch agent: --server URL is required (the server prints it at start)\n");
		return -1;
	}
	if (token_flag && token_file_flag) {
		fprintf(stderr, "orch agent: give --token or --token-file, not both\n");
		return -1;
	}
	/* A flag wins over the environment; a file over a token on either level. */
	if (token_file_flag || token_flag) {
		o->token_file = token_file_flag;
		o->token = token_flag;
	} else if (getenv("ORCH_TOKEN_FILE") && *getenv("ORCH_TOKEN_FILE")) {
		o->token_file = getenv("ORCH_TOKEN_FILE");
	} else {
		o->token = getenv("ORCH_JOIN_TOKEN");
	}
	if ((!o->token || !*o->token) && (!o->token_file || !*o->token_file)) {
		fprintf(stderr, "orch agent: --token-file FILE (a copy of the server's "
			"<data>/join-token) or --token TOKEN is required\n");
		return -1;
	}
	if (strncmp(o->server, "https://", 8) != 0) {
		fprintf(stderr, "orch agent: --server '%s': must be an https:// URL\n", o->server);
		return -1;
	}
	if (!o->runtime_dir)
		o->runtime_dir = o->data_dir;
	return 0;
}

/* ---- what this node offers ------------------------------------------------ */

static void detect_resources(struct agent *a)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	cleanup_fclose FILE *f = fopen("/proc/meminfo", "re");
	char line[256];
	long total_kib = 0;

	a->cpu = a->opt.cpu ? a->opt.cpu : (cpus > 0 ? cpus : 1) * CGROUP_CPU_UNITS_PER_CPU;
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "MemTotal: %ld kB", &total_kib) == 1)
			break;
	if (a->opt.memory) {
		a->memory = a->opt.memory;
	} else {
		long total = total_kib / 1024, reserve = total / 10;

		if (reserve > AGENT_MEMORY_RESERVE_MIB)
			reserve = AGENT_MEMORY_RESERVE_MIB;
		a->memory = total - reserve > 0 ? total - reserve : 1;
	}
}

static void detect_advertise(struct agent *a)
{
	struct ifaddrs *ifs = NULL;

	if (a->opt.advertise) {
		snprintf(a->advertise, sizeof(a->advertise), "%s", a->opt.advertise);
		return;
	}
	snprintf(a->advertise, sizeof(a->advertise), "127.0.0.1");
	if (getifaddrs(&ifs) < 0)
		return;
	for (struct ifaddrs *i = ifs; i; i = i->ifa_next)
		if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET &&
		    !(i->ifa_flags & IFF_LOOPBACK) && (i->ifa_flags & IFF_UP)) {
			inet_ntop(AF_INET, &((struct sockaddr_in *)i->ifa_addr)->sin_addr,
				  a->advertise, sizeof(a->advertise));
			break;
		}
	freeifaddrs(ifs);
}

static json_t *attributes_json(const struct agent *a)
{
	struct utsname u;
	const char *arch = "unknown";
	json_t *attrs = json_object();

	if (uname(&u) == 0) {
		arch = u.machine;
		if (strcmp(arch, "x86_64") == 0)
			arch = "amd64";
		else if (strcmp(arch, "aarch64") == 0)
			arch = "arm64";
	}
	json_object_set_new(attrs, "os", json_string("linux"));
	json_object_set_new(attrs, "arch", json_string(arch));
	for (size_t i = 0; i < a->opt.attr_count; i++) {
		const char *eq = strchr(a->opt.attrs[i], '=');
		char key[128];

		snprintf(key, sizeof(key), "%.*s", (int)(eq - a->opt.attrs[i]), a->opt.attrs[i]);
		json_object_set_new(attrs, key, json_string(eq + 1));
	}
	return attrs;
}

/* ---- agent.json ----------------------------------------------------------- */

static char *data_path(const struct agent *a, const char *file)
{
	char *p;

	if (asprintf(&p, "%s/%s", a->opt.data_dir, file) < 0)
		return NULL;
	return p;
}

/*
 * Loads the credential if it was issued by this server and CA for this
 * node.  Returns true if it was issued in the cluster asked for now: it is
 * used as it is; otherwise it only proves the node's identity when the agent
 * registers again (into the new cluster).
 */
static bool state_load(struct agent *a)
{
	cleanup_free char *path = data_path(a, AGENT_STATE_FILE);
	json_t *root = path ? json_load_file(path, 0, NULL) : NULL;
	const char *server = json_string_value(json_object_get(root, "server"));
	const char *ca = json_string_value(json_object_get(root, "caSha256"));
	const char *name = json_string_value(json_object_get(root, "nodeName"));
	const char *cluster = json_string_value(json_object_get(root, "cluster"));
	const char *id = json_string_value(json_object_get(root, "nodeId"));
	const char *cred = json_string_value(json_object_get(root, "credential"));
	bool same_cluster = false;

	if (server && ca && name && id && cred && cluster && strcmp(server, a->opt.server) == 0 &&
	    strcmp(ca, a->ca_sha256) == 0 && strcmp(name, a->node_name) == 0) {
		snprintf(a->node_id, sizeof(a->node_id), "%s", id);
		snprintf(a->credential, sizeof(a->credential), "%s", cred);
		same_cluster = strcmp(cluster, a->opt.cluster) == 0;
	}
	json_decref(root);
	return same_cluster;
}

static int state_save(struct agent *a, orch_error *err)
{
	cleanup_free char *path = data_path(a, AGENT_STATE_FILE);
	json_t *root = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "server", a->opt.server,
				 "caSha256", a->ca_sha256, "nodeName", a->node_name,
				 "cluster", a->opt.cluster, "nodeId", a->node_id,
				 "credential", a->credential);
	char *text = root ? json_dumps(root, JSON_INDENT(2)) : NULL;
	int rc;

	json_decref(root);
	if (!path || !text) {
		free(text);
		return orch_fail_errno(err, ENOMEM, "saving the agent state");
	}
	rc = fs_write_file_atomic(path, text, strlen(text), 0600, err);
	OPENSSL_cleanse(text, strlen(text));
	free(text);
	return rc;
}

/* ---- joining -------------------------------------------------------------- */

static bool signalled(struct agent *a)
{
	struct signalfd_siginfo si;

	while (read(a->signal_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		log_info("agent: signal %u, stopping (containers keep running)", si.ssi_signo);
		a->stop = true;
	}
	return a->stop;
}

/* The next wait of a retry: twice the last, at most AGENT_RETRY_MAX_MS. */
static int backoff_next(int ms)
{
	return ms * 2 > AGENT_RETRY_MAX_MS ? AGENT_RETRY_MAX_MS : ms * 2;
}

/* Sleeps ms unless a stop signal comes first; returns true if signalled. */
static bool pause_ms(struct agent *a, int ms)
{
	struct pollfd p = { .fd = a->signal_fd, .events = POLLIN };

	poll(&p, 1, ms);
	return signalled(a);
}

/*
 * The pinned CA: DIR/ca.pem if it is one certificate alone and matches the
 * token, else fetched and checked.  Either way the PEM trusted from here on
 * is re-encoded from the certificate whose hash was compared, so nothing
 * but that certificate is ever trusted.
 */
static int load_ca(struct agent *a, char **pem_out, orch_error *err)
{
	cleanup_free char *path = data_path(a, AGENT_CA_FILE);
	cleanup_free char *stored = NULL;
	char *pem = NULL;
	char hash[PKI_SHA256_HEX_LEN + 1];
	size_t len;
	int backoff = AGENT_RETRY_MIN_MS;

	if (!path)
		return orch_fail_errno(err, ENOMEM, "loading the CA");
	if (fs_read_file(path, PKI_CA_PEM_MAX, &stored, &len, NULL) == 0 &&
	    pki_ca_pem_canonical(stored, len, &pem, hash, NULL) == 0 &&
	    strcmp(hash, a->ca_sha256) == 0) {
		*pem_out = pem;
		return 0;
	}
	free(pem);
	pem = NULL;
	for (;;) {
		orch_error e = ORCH_ERROR_INIT;

		if (agent_client_fetch_ca(a->opt.server, a->ca_sha256, &pem, &e) == 0)
			break;
		if (e.kind == ORCH_ERR_INVALID) {
			*err = e;
			return -1;
		}
		log_warn("agent: %s (retrying)", e.message);
		if (pause_ms(a, backoff))
			return orch_fail(err, ORCH_ERR_INTERNAL, "stopped before joining");
		backoff = backoff_next(backoff);
	}
	if (fs_write_file_atomic(path, pem, strlen(pem), 0644, err) < 0) {
		free(pem);
		return -1;
	}
	*pem_out = pem;
	return 0;
}

static const char *reply_message(json_t *reply)
{
	const char *m = json_string_value(json_object_get(reply, "message"));

	return m ? m : "no message";
}

/*
 * POST /v1/agent/register with the join secret; retries transport failures.
 * The node's current credential, if this agent holds one, goes along as
 * "credential": the server lets a known node name register again only
 * with it (agent_protocol.h).
 */
static int agent_register(struct agent *a, orch_error *err)
{
	int backoff = AGENT_RETRY_MIN_MS;

	for (;;) {
		json_t *body = json_pack("{s:s, s:s, s:s, s:{s:I, s:I}, s:o}", "nodeName",
					 a->node_name, "cluster", a->opt.cluster, "advertiseAddress",
					 a->advertise, "resources", "cpu", (json_int_t)a->cpu,
					 "memory", (json_int_t)a->memory, "attributes",
					 attributes_json(a));
		orch_error e = ORCH_ERROR_INIT;
		json_t *reply = NULL;
		long status = 0;
		int rc;

		if (body && a->credential[0])
			json_object_set_new(body, "credential", json_string(a->credential));
		agent_client_set_bearer(&a->client, a->secret);
		rc = agent_client_call(&a->client, "POST", "/v1/agent/register", body, &status,
				       &reply, &e);
		json_decref(body);
		if (rc == 0 && (status == 200 || status == 201)) {
			const json_t *node = json_object_get(reply, "node");
			const char *cred = json_string_value(json_object_get(reply, "credential"));
			const char *id = json_string_value(json_object_get(node, "nodeId"));
			const char *arn = json_string_value(json_object_get(node, "containerInstanceArn"));

			if (!id)
				id = json_string_value(json_object_get(node, "id"));
			if (!id && arn && strrchr(arn, '/'))
				id = strrchr(arn, '/') + 1;
			if (!cred) {
				json_decref(reply);
				return orch_fail(err, ORCH_ERR_INTERNAL,
						 "the server's registration answer has no credential");
			}
			snprintf(a->node_id, sizeof(a->node_id), "%s", id ? id : "");
			snprintf(a->credential, sizeof(a->credential), "%s", cred);
			json_decref(reply);
			log_info("agent: registered node '%s' (%s) in cluster '%s' with %ld CPU units, "
				 "%ld MiB", a->node_name, a->node_id, a->opt.cluster, a->cpu, a->memory);
			agent_client_set_bearer(&a->client, a->credential);
			if (a->client.ca_pem)	/* log streams use the new credential */
				agent_streams_start(a->opt.server, a->client.ca_pem, a->credential,
						    a->opt.runtime_dir, err);
			return state_save(a, err);
		}
		if (rc == 0 && status == 401) {
			orch_fail(err, ORCH_ERR_INVALID, "the server refused the join token (401: %s): "
				  "check the secret after '::' against the server's <data>/join-token",
				  reply_message(reply));
			json_decref(reply);
			return -1;
		}
		if (rc == 0 && status == 409) {
			orch_fail(err, ORCH_ERR_CONFLICT, "registration as node '%s' refused (409): %s",
				  a->node_name, reply_message(reply));
			json_decref(reply);
			return -1;
		}
		if (rc == 0 && status >= 400 && status < 500) {
			orch_fail(err, ORCH_ERR_INVALID, "registration refused (%ld): %s", status,
				  reply_message(reply));
			json_decref(reply);
			return -1;
		}
		if (rc == 0)
			log_warn("agent: registration answered %ld: %s (retrying)", status,
				 reply_message(reply));
		else
			log_warn("agent: %s (retrying)", e.message);
		json_decref(reply);
		if (pause_ms(a, backoff))
			return orch_fail(err, ORCH_ERR_INTERNAL, "stopped before joining");
		backoff = backoff_next(backoff);
	}
}

/* ---- status --------------------------------------------------------------- */

/* Returns the HTTP status (0: no answer). */
static long send_status(struct agent *a)
{
	json_t *body = json_pack("{s:o, s:{s:I, s:I}}", "tasks",
				 agent_tasks_status_json(&a->tasks), "resources",
				 "cpu", (json_int_t)a->cpu, "memory", (json_int_t)a->memory);
	orch_error err = ORCH_ERROR_INIT;
	json_t *reply = NULL;
	long status = 0;

	if (agent_client_call(&a->client, "POST", "/v1/agent/status", body, &status, &reply,
			      &err) < 0)
		log_warn("agent: status report: %s", err.message);
	else if (status != 200 && status != 401)
		log_warn("agent: status report answered %ld: %s", status, reply_message(reply));
	json_decref(body);
	json_decref(reply);
	return status;
}

/* ---- the loop ------------------------------------------------------------- */

static int agent_loop(struct agent *a, orch_error *err)
{
	double next_heartbeat = 0, next_sweep = 0, next_scan = 0, poll_retry_at = 0;
	int poll_backoff = AGENT_RETRY_MIN_MS;
	int fds[AGENT_CLIENT_MAX_EXTRA_FDS];

	while (!a->stop) {
		double now = clock_mono_ms();
		int timeout, n, deadline;
		long status = 0;
		json_t *reply = NULL;
		orch_error e = ORCH_ERROR_INIT;

		if (!a->client.poll_active && now >= poll_retry_at &&
		    agent_client_poll_start(&a->client, a->index, AGENT_ASSIGNMENTS_DEFAULT_WAIT_S,
					    &e) < 0)
			log_warn("agent: %s", e.message);
		fds[0] = a->signal_fd;
		n = 1 + agent_tasks_wait_fds(&a->tasks, fds + 1, AGENT_CLIENT_MAX_EXTRA_FDS - 1);
		timeout = (int)(next_heartbeat - now);
		if (next_sweep - now < timeout)
			timeout = (int)(next_sweep - now);
		if (!a->client.poll_active && poll_retry_at - now < timeout)
			timeout = (int)(poll_retry_at - now);
		deadline = agent_tasks_next_deadline_ms(&a->tasks);
		if (deadline >= 0 && deadline < timeout)
			timeout = deadline;
		if (timeout < 0)
			timeout = 0;
		if (agent_client_poll_wait(&a->client, fds, n, timeout, &status, &reply, &e) == 1) {
			if (status == 200 && json_is_object(reply)) {
				json_t *idx = json_object_get(reply, "index");

				agent_tasks_set_desired(&a->tasks, json_object_get(reply, "tasks"));
				if (json_is_integer(idx))
					a->index = (uint64_t)json_integer_value(idx);
				poll_backoff = AGENT_RETRY_MIN_MS;
				poll_retry_at = 0;
				log_debug("agent: desired set at index %" PRIu64 ": %zu tasks", a->index,
					  json_array_size(json_object_get(reply, "tasks")));
			} else if (status == 401) {
				log_warn("agent: the credential was refused; registering again");
				if (agent_register(a, err) < 0) {
					json_decref(reply);
					return -1;
				}
			} else {
				if (status)
					log_warn("agent: assignments answered %ld: %s", status,
						 reply_message(reply));
				else
					log_warn("agent: %s", e.message);
				poll_retry_at = clock_mono_ms() + poll_backoff;
				poll_backoff = backoff_next(poll_backoff);
			}
			json_decref(reply);
			/* Ask again at once: the next change must not wait for converge. */
			if (!a->client.poll_active && poll_retry_at == 0 &&
			    agent_client_poll_start(&a->client, a->index,
						    AGENT_ASSIGNMENTS_DEFAULT_WAIT_S, &e) < 0)
				log_warn("agent: %s", e.message);
		}
		if (signalled(a))
			break;
		now = clock_mono_ms();
		agent_tasks_check_exits(&a->tasks, now >= next_sweep);
		if (now >= next_sweep)
			next_sweep = now + AGENT_EXIT_SWEEP_MS;
		if (now >= next_scan && a->tasks.have_desired) {
			if (agent_tasks_scan(&a->tasks, &e) < 0)
				log_warn("agent: scanning containers: %s", e.message);
			next_scan = now + AGENT_ORPHAN_SCAN_MS;
		}
		agent_tasks_health(&a->tasks);
		agent_tasks_converge(&a->tasks);
		if (a->tasks.changed || clock_mono_ms() >= next_heartbeat) {
			a->tasks.changed = false;
			status = send_status(a);
			next_heartbeat = clock_mono_ms() + AGENT_HEARTBEAT_INTERVAL_MS;
			if (status == 401) {
				log_warn("agent: the credential was refused; registering again");
				if (agent_register(a, err) < 0)
					return -1;
				a->tasks.changed = true;
			} else if (status != 200) {
				a->tasks.changed = true;	/* resend at the next heartbeat */
				next_heartbeat = clock_mono_ms() + AGENT_HEARTBEAT_INTERVAL_MS / 3;
			}
		}
		agent_tasks_collect(&a->tasks);
	}
	return 0;
}

/* ---- main ----------------------------------------------------------------- */

static int lock_data_dir(struct agent *a, orch_error *err)
{
	cleanup_free char *path = data_path(a, AGENT_LOCK_FILE);

	if (!path)
		return orch_fail_errno(err, ENOMEM, "locking the data dir");
	a->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (a->lock_fd < 0)
		return orch_fail_errno(err, errno, "opening '%s'", path);
	if (flock(a->lock_fd, LOCK_EX | LOCK_NB) < 0)
		return errno == EWOULDBLOCK
			? orch_fail(err, ORCH_ERR_CONFLICT, "another orch agent is using data dir '%s'",
				    a->opt.data_dir)
			: orch_fail_errno(err, errno, "locking '%s'", path);
	return 0;
}

static int read_token(struct agent *a, char *token, size_t size, orch_error *err)
{
	cleanup_free char *text = NULL;

	if (!a->opt.token_file) {
		snprintf(token, size, "%s", a->opt.token);
		return 0;
	}
	if (fs_read_file(a->opt.token_file, PKI_JOIN_TOKEN_MAX, &text, NULL, err) < 0)
		return -1;
	text[strcspn(text, "\r\n")] = '\0';
	snprintf(token, size, "%s", text);
	OPENSSL_cleanse(text, strlen(text));
	return 0;
}

static int agent_run(struct agent *a, orch_error *err)
{
	char token[PKI_JOIN_TOKEN_MAX];
	cleanup_free char *ca_pem = NULL;
	sigset_t mask;
	int rc;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	a->signal_fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (a->signal_fd < 0)
		return orch_fail_errno(err, errno, "signalfd");
	if (cgroup_parent_validate(a->opt.cgroup_parent, err) < 0)
		return orch_error_prefix(err, "--cgroup-parent");
	if (read_token(a, token, sizeof(token), err) < 0)
		return -1;
	rc = pki_join_token_parse(token, a->ca_sha256, a->secret, sizeof(a->secret), err);
	OPENSSL_cleanse(token, sizeof(token));
	if (rc < 0)
		return -1;
	if (fs_mkdir_p(a->opt.data_dir, 0700, err) < 0 ||
	    fs_mkdir_p(a->opt.runtime_dir, 0700, err) < 0 || lock_data_dir(a, err) < 0)
		return -1;
	if (a->opt.node_name) {
		snprintf(a->node_name, sizeof(a->node_name), "%s", a->opt.node_name);
	} else if (gethostname(a->node_name, sizeof(a->node_name)) < 0) {
		snprintf(a->node_name, sizeof(a->node_name), "node");
	}
	detect_resources(a);
	detect_advertise(a);
	if (agent_tasks_init(&a->tasks, a->opt.runtime_dir, a->opt.cgroup_parent, err) < 0 ||
	    agent_tasks_scan(&a->tasks, err) < 0)
		return -1;
	if (load_ca(a, &ca_pem, err) < 0)
		return -1;
	if (agent_client_init(&a->client, a->opt.server, ca_pem, err) < 0)
		return -1;
	if (state_load(a)) {
		agent_client_set_bearer(&a->client, a->credential);
		log_info("agent: node '%s' (%s) rejoining %s", a->node_name, a->node_id,
			 a->opt.server);
	} else if (agent_register(a, err) < 0) {
		return -1;
	}
	if (agent_streams_start(a->opt.server, ca_pem, a->credential, a->opt.runtime_dir, err) < 0)
		return -1;
	a->tasks.changed = true;
	return agent_loop(a, err);
}

int agent_main(int argc, char **argv)
{
	struct agent a = { .signal_fd = -1, .lock_fd = -1 };
	orch_error err = ORCH_ERROR_INIT;
	int rc = 0;

	if (parse_options(argc, argv, &a.opt) < 0)
		return 2;
	if (agent_run(&a, &err) < 0) {
		log_error("agent: %s", err.message);
		rc = 1;
	} else {
		log_info("agent: stopped");
	}
	agent_client_release(&a.client);
	agent_tasks_release(&a.tasks);
	OPENSSL_cleanse(a.secret, sizeof(a.secret));
	OPENSSL_cleanse(a.credential, sizeof(a.credential));
	if (a.signal_fd >= 0)
		close(a.signal_fd);
	if (a.lock_fd >= 0)
		close(a.lock_fd);
	return rc;
}
