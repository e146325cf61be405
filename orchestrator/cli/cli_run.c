/*
 * cli_run.c - `orch run|ps|logs|stop|kill|rm` for local containers.  See
 * cli_run.h.
 *
 * `orch run` in the foreground stays attached to the shim's stream: output
 * goes to this process's stdout/stderr as it comes, a first Ctrl-C or
 * SIGTERM asks the shim to stop the container (SIGTERM, SIGKILL after
 * --stop-timeout), a second one kills it, and the exit code is the
 * container's.  If this process is killed the container runs on; `orch
 * ps`, `orch logs -f` and `orch stop` find it again.
 *
 * Hidden flags for tests until images come from the store:
 *   --rootfs-layer DIR (repeatable, bottom first) and --image-config FILE
 * run IMAGE from plain directories instead of resolving it.
 */
#include "cli_run.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cli_verbs.h"
#include "common/clock.h"
#include "common/cleanup.h"
#include "runtime/container.h"
#include "runtime/container_attach.h"
#include "runtime/container_image.h"
#include "runtime/container_log.h"
#include "common/log.h"
#include "runtime/spec.h"
#include "common/io_util.h"

#define CLI_RUN_MEMORY_MIN (6 << 20)	/* Docker's minimum for --memory */
#define CLI_RUN_ENV_MAX 1024

/* "64m", "1g", "512k", "100" (bytes) -> bytes; -1 if malformed. */
static int64_t parse_size(const char *text)
{
	char *end;
	double v = strtod(text, &end);
	double mult = 1;

	if (end == text || v < 0)
		return -1;
	switch (*end) {
	case '\0': case 'b': case 'B': break;
	case 'k': case 'K': mult = 1024.0; break;
	case 'm': case 'M': mult = 1024.0 * 1024; break;
	case 'g': case 'G': mult = 1024.0 * 1024 * 1024; break;
	default: return -1;
	}
	if (*end && end[1] && !((end[1] == 'b' || end[1] == 'B') && !end[2]))
		return -1;
	return (int64_t)(v * mult);
}

static int usage_error(const char *verb, const char *fmt, const char *arg)
{
	fprintf(stderr, "orch %s: ", verb);
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nSee 'orch %s --help'.\n", verb);
	return 2;
}

/* ---- run ------------------------------------------------------------------- */

static void run_usage(FILE *out)
{
	fprintf(out,
		"usage: orch run [options] IMAGE [CMD ARGS...]\n"
		"\n"
		"Run a command in a new container, like docker run.\n"
		"\n"
		"  -d, --detach              run in the background and print the container ID\n"
		"      --rm                  remove the container when it exits\n"
		"      --read-only           mount the container's root read-only (/tmp too)\n"
		"      --init                run orch's init as PID 1 (reaps, forwards signals)\n"
		"      --name NAME           name the container\n"
		"  -e, --env KEY[=VALUE]     set an environment variable (KEY alone: from here)\n"
		"  -w, --workdir DIR         working directory inside the container\n"
		"  -u, --user USER[:GROUP]   user (name or uid) from the container's /etc/passwd\n"
		"      --entrypoint CMD      override the image's entrypoint ('' clears it)\n"
		"      --hostname NAME       container hostname (default: short ID)\n"
		"  -m, --memory SIZE         hard memory limit (e.g. 64m; no swap beyond it)\n"
		"      --memory-reservation SIZE  soft limit (memory.low / soft_limit_in_bytes)\n"
		"      --cpus N              CPU quota in CPUs (e.g. 0.5)\n"
		"      --cpu-units N         ECS CPU units, 1024 = one CPU (weight/shares)\n"
		"      --pids-limit N        process limit (default %d; 0 = unlimited)\n"
		"      --ulimit NAME=SOFT[:HARD]  resource limit (repeatable; e.g. nofile=1024:2048,\n"
		"                            -1 = unlimited; nofile defaults to %d)\n"
		"      --network MODE        none (own namespace with lo, default) or host\n"
		"      --cgroup-parent NAME  parent cgroup (default \"%s\")\n"
		"      --stop-timeout SECS   SIGTERM to SIGKILL on Ctrl-C (default %d)\n"
		"      --data DIR            data dir (default $ORCH_DATA or %s)\n",
		CONTAINER_DEFAULT_PIDS_LIMIT, CONTAINER_NOFILE_LIMIT, CGROUP_DEFAULT_PARENT,
		CONTAINER_DEFAULT_STOP_TIMEOUT,
		CONTAINER_DEFAULT_DATA_DIR);
}

struct run_options {
	bool detach, auto_remove, entrypoint_set, read_only, init;
	const char *name, *workdir, *user, *entrypoint, *hostname, *network, *cgroup_parent;
	const char *data_dir, *image_config_file;
	const char *env[CLI_RUN_ENV_MAX];
	size_t env_count;
	char *env_owned[CLI_RUN_ENV_MAX];	/* "-e KEY" filled from our environment */
	const char *layers[64];
	size_t layer_count;
	struct cgroup_limits limits;
	struct spec_rlimit rlimits[SPEC_RLIMIT_MAX];	/* --ulimit, the last per name wins */
	size_t rlimit_count;
	int stop_timeout;
};

enum {
	OPT_RM = 256, OPT_NAME, OPT_ENTRYPOINT, OPT_HOSTNAME, OPT_MEMRES, OPT_CPUS, OPT_CPU_UNITS,
	OPT_PIDS, OPT_NETWORK, OPT_CGROUP_PARENT, OPT_STOP_TIMEOUT, OPT_DATA, OPT_LAYER,
	OPT_IMAGE_CONFIG, OPT_ULIMIT, OPT_READ_ONLY, OPT_INIT,
};

static int run_parse(int argc, char **argv, struct run_options *o)
{
	static const struct option options[] = {
		{ "detach", no_argument, NULL, 'd' },
		{ "rm", no_argument, NULL, OPT_RM },
		{ "read-only", no_argument, NULL, OPT_READ_ONLY },
		{ "init", no_argument, NULL, OPT_INIT },
		{ "name", required_argument, NULL, OPT_NAME },
		{ "env", required_argument, NULL, 'e' },
		{ "workdir", required_argument, NULL, 'w' },
		{ "user", required_argument, NULL, 'u' },
		{ "entrypoint", required_argument, NULL, OPT_ENTRYPOINT },
		{ "hostname", required_argument, NULL, OPT_HOSTNAME },
		{ "memory", required_argument, NULL, 'm' },
		{ "memory-reservation", required_argument, NULL, OPT_MEMRES },
		{ "cpus", required_argument, NULL, OPT_CPUS },
		{ "cpu-units", required_argument, NULL, OPT_CPU_UNITS },
		{ "cpu-shares", required_argument, NULL, OPT_CPU_UNITS },
		{ "pids-limit", required_argument, NULL, OPT_PIDS },
		{ "ulimit", required_argument, NULL, OPT_ULIMIT },
		{ "network", required_argument, NULL, OPT_NETWORK },
		{ "cgroup-parent", required_argument, NULL, OPT_CGROUP_PARENT },
		{ "stop-timeout", required_argument, NULL, OPT_STOP_TIMEOUT },
		{ "data", required_argument, NULL, OPT_DATA },
		{ "rootfs-layer", required_argument, NULL, OPT_LAYER },
		{ "image-config", required_argument, NULL, OPT_IMAGE_CONFIG },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;
	char *end;

	o->limits.pids_max = CONTAINER_DEFAULT_PIDS_LIMIT;
	o->stop_timeout = CONTAINER_DEFAULT_STOP_TIMEOUT;
	o->network = "none";
	o->cgroup_parent = CGROUP_DEFAULT_PARENT;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "+de:w:u:m:h", options, NULL)) != -1) {
		switch (opt) {
		case 'd': o->detach = true; break;
		case OPT_RM: o->auto_remove = true; break;
		case OPT_READ_ONLY: o->read_only = true; break;
		case OPT_INIT: o->init = true; break;
		case OPT_NAME: o->name = optarg; break;
		case 'e':
			if (o->env_count >= CLI_RUN_ENV_MAX)
				return usage_error("run", "too many -e flags%s", "");
			if (!strchr(optarg, '=')) {
				const char *v = getenv(optarg);
				char *entry;

				if (!v)
					break;	/* docker: an unset KEY is left out */
				if (asprintf(&entry, "%s=%s", optarg, v) < 0)
					return 1;
				o->env_owned[o->env_count] = entry;
				o->env[o->env_count++] = entry;
			} else {
				o->env[o->env_count++] = optarg;
			}
			break;
		case 'w': o->workdir = optarg; break;
		case 'u': o->user = optarg; break;
		case OPT_ENTRYPOINT: o->entrypoint = optarg; o->entrypoint_set = true; break;
		case OPT_HOSTNAME: o->hostname = optarg; break;
		case 'm':
			o->limits.memory_max = parse_size(optarg);
			if (o->limits.memory_max < CLI_RUN_MEMORY_MIN)
				return usage_error("run", "invalid --memory '%s' (at least 6m)", optarg);
			break;
		case OPT_MEMRES:
			o->limits.memory_reservation = parse_size(optarg);
			if (o->limits.memory_reservation <= 0)
				return usage_error("run", "invalid --memory-reservation '%s'", optarg);
			break;
		case OPT_CPUS: {
			double cpus = strtod(optarg, &end);

			if (*end || cpus <= 0 || cpus > 1024)
				return usage_error("run", "invalid --cpus '%s'", optarg);
			o->limits.cpu_millis = (int64_t)(cpus * 1000 + 0.5);
			if (o->limits.cpu_millis < 10)
				return usage_error("run", "--cpus '%s' is below 0.01", optarg);
			break;
		}
		case OPT_CPU_UNITS:
			o->limits.cpu_units = strtoll(optarg, &end, 10);
			if (*end || o->limits.cpu_units < 2 || o->limits.cpu_units > 262144)
				return usage_error("run", "invalid --cpu-units '%s' (2..262144)", optarg);
			break;
		case OPT_PIDS:
			o->limits.pids_max = strtoll(optarg, &end, 10);
			if (*end || o->limits.pids_max < -1)
				return usage_error("run", "invalid --pids-limit '%s'", optarg);
			break;
		case OPT_ULIMIT: {
			orch_error err = ORCH_ERROR_INIT;
			struct spec_rlimit r;
			size_t i;

			if (spec_rlimit_parse(optarg, &r, &err) < 0)
				return usage_error("run", "%s", err.message);
			for (i = 0; i < o->rlimit_count && o->rlimits[i].resource != r.resource; i++)
				;
			if (i == SPEC_RLIMIT_MAX)
				return usage_error("run", "too many --ulimit flags%s", "");
			o->rlimits[i] = r;
			if (i == o->rlimit_count)
				o->rlimit_count++;
			break;
		}
		case OPT_NETWORK: o->network = optarg; break;
		case OPT_CGROUP_PARENT: o->cgroup_parent = optarg; break;
		case OPT_STOP_TIMEOUT:
			o->stop_timeout = (int)strtol(optarg, &end, 10);
			if (*end || o->stop_timeout < 0)
				return usage_error("run", "invalid --stop-timeout '%s'", optarg);
			break;
		case OPT_DATA: o->data_dir = optarg; break;
		case OPT_LAYER:
			if (o->layer_count >= sizeof(o->layers) / sizeof(o->layers[0]))
				return usage_error("run", "too many --rootfs-layer flags%s", "");
			o->layers[o->layer_count++] = optarg;
			break;
		case OPT_IMAGE_CONFIG: o->image_config_file = optarg; break;
		case 'h': run_usage(stdout); exit(0);
		default: run_usage(stderr); return 2;
		}
	}
	if (optind >= argc)
		return usage_error("run", "requires an IMAGE argument%s", "");
	o->data_dir = cli_data_dir(o->data_dir);
	return 0;
}

/* Loads the test stand-in image config: the OCI config or its "config" object. */
static json_t *load_image_config(const char *path, orch_error *err)
{
	json_error_t jerr;
	json_t *json = json_load_file(path, 0, &jerr), *inner;

	if (!json) {
		orch_fail(err, ORCH_ERR_INVALID, "reading '%s': %s", path, jerr.text);
		return NULL;
	}
	inner = json_object_get(json, "config");
	if (json_is_object(inner)) {
		json_incref(inner);
		json_decref(json);
		return inner;
	}
	return json;
}

/* Builds the container config from the options and the image. */
static int run_build_config(struct run_options *o, const char *image, int cmd_argc,
			    char **cmd_argv, struct container_config *cfg, orch_error *err)
{
	struct image_info info;
	json_t *image_config = NULL;
	struct spec_overrides ov = {
		.env = o->env, .env_count = o->env_count,
		.entrypoint_set = o->entrypoint_set, .entrypoint = o->entrypoint,
		.cmd = (const char *const *)cmd_argv, .cmd_count = (size_t)cmd_argc,
		.workdir = o->workdir, .user = o->user, .hostname = o->hostname,
	};
	int rc = -1;

	memset(cfg, 0, sizeof(*cfg));
	memset(&info, 0, sizeof(info));
	if (linux_network_mode_parse(o->network, &cfg->network) < 0)
		return orch_fail(err, ORCH_ERR_INVALID, "unknown network mode '%s' (none, host)",
				 o->network);
	if (o->layer_count > 0) {
		info.layer_count = o->layer_count;
		info.layer_dirs = calloc(o->layer_count, sizeof(char *));
		if (!info.layer_dirs)
			return orch_fail_errno(err, ENOMEM, "building the config");
		for (size_t i = 0; i < o->layer_count; i++)
			info.layer_dirs[i] = realpath(o->layers[i], NULL);
		for (size_t i = 0; i < o->layer_count; i++)
			if (!info.layer_dirs[i]) {
				orch_fail_errno(err, errno, "layer '%s'", o->layers[i]);
				goto out;
			}
		if (o->image_config_file) {
			image_config = load_image_config(o->image_config_file, err);
			if (!image_config)
				goto out;
		}
	} else {
		if (container_image_resolve(o->data_dir, image, &info, err) < 0)
			goto out;
		image_config = json_incref(info.config);
	}
	if (spec_merge(image_config, &ov, &cfg->process, err) < 0)
		goto out;
	for (size_t i = 0; i < o->rlimit_count; i++) {
		if (spec_rlimit_put(&cfg->process, &o->rlimits[i], err) < 0) {
			spec_process_release(&cfg->process);
			goto out;
		}
	}
	cfg->name = o->name ? strdup(o->name) : NULL;
	cfg->image = strdup(image);
	cfg->image_id = strdup(info.id);
	cfg->hostname = o->hostname ? strdup(o->hostname) : NULL;
	cfg->cgroup_parent = strdup(o->cgroup_parent);
	cfg->limits = o->limits;
	if (cfg->limits.pids_max <= 0)
		cfg->limits.pids_max = 0;
	cfg->auto_remove = o->auto_remove;
	cfg->readonly_rootfs = o->read_only;
	cfg->init_process = o->init;
	cfg->layer_dirs = info.layer_dirs;
	cfg->layer_count = info.layer_count;
	info.layer_dirs = NULL;
	info.layer_count = 0;
	rc = 0;
out:
	json_decref(image_config);
	if (o->layer_count > 0) {
		for (size_t i = 0; i < info.layer_count; i++)
			free(info.layer_dirs[i]);
		free(info.layer_dirs);
	} else {
		container_image_info_release(&info);
	}
	return rc;
}

/*
 * Pumps the attach stream to stdout/stderr until the 'X' frame; relays
 * SIGINT/SIGTERM/SIGHUP as a stop (then a kill).  Returns the exit code.
 */
static int run_attached(const char *data_dir, const char *id, int attach_fd, int stop_timeout)
{
	cleanup_free char *frame = malloc(ATTACH_PAYLOAD_MAX + 1);
	orch_error err = ORCH_ERROR_INIT;
	struct container_state st;
	int signals_seen = 0;
	sigset_t mask;
	int sig_fd;

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	sig_fd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (!frame || sig_fd < 0) {
		fprintf(stderr, "orch: %s\n", strerror(errno));
		return CONTAINER_EXIT_RUNTIME_ERROR;
	}
	for (;;) {
		struct pollfd fds[2] = { { .fd = attach_fd, .events = POLLIN },
					 { .fd = sig_fd, .events = POLLIN } };
		char type;
		size_t len;
		int rc;

		if (poll(fds, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (fds[1].revents) {
			struct signalfd_siginfo si;
			char payload[16];

			if (read(sig_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
				if (signals_seen++ == 0) {
					snprintf(payload, sizeof(payload), "%d", stop_timeout);
					container_attach_send(attach_fd, ATTACH_STOP, payload,
							      strlen(payload), NULL);
				} else {
					snprintf(payload, sizeof(payload), "%d", SIGKILL);
					container_attach_send(attach_fd, ATTACH_SIGNAL, payload,
							      strlen(payload), NULL);
				}
			}
		}
		if (!fds[0].revents)
			continue;
		rc = container_attach_recv(attach_fd, &type, frame, &len, &err);
		if (rc <= 0)
			break;
		if (type == ATTACH_STDOUT)
			io_write_all(STDOUT_FILENO, frame, len);
		else if (type == ATTACH_STDERR)
			io_write_all(STDERR_FILENO, frame, len);
		else if (type == ATTACH_EXITED) {
			struct container_exit ex;

			close(sig_fd);
			if (container_exit_parse(frame, &ex) < 0)
				return CONTAINER_EXIT_RUNTIME_ERROR;
			return ex.exit_code;
		}
	}
	close(sig_fd);
	/* The stream broke without an exit frame (shim gone): ask the records. */
	if (container_wait(data_dir, id, -1, &st, &err) < 0) {
		fprintf(stderr, "orch: %s\n", err.message);
		return CONTAINER_EXIT_RUNTIME_ERROR;
	}
	return st.exit_code;
}

static int cmd_run(int argc, char **argv)
{
	struct run_options o;
	struct container_config cfg;
	orch_error err = ORCH_ERROR_INIT;
	char id[CONTAINER_ID_LEN + 1];
	int rc, attach_fd = -1, fail_code = CONTAINER_EXIT_RUNTIME_ERROR;

	memset(&o, 0, sizeof(o));
	rc = run_parse(argc, argv, &o);
	if (rc != 0)
		return rc == 2 ? CONTAINER_EXIT_RUNTIME_ERROR : rc;
	rc = run_build_config(&o, argv[optind], argc - optind - 1, argv + optind + 1, &cfg, &err);
	for (size_t i = 0; i < o.env_count; i++)
		free(o.env_owned[i]);
	if (rc < 0) {
		fprintf(stderr, "orch: %s\n", err.message);
		return CONTAINER_EXIT_RUNTIME_ERROR;
	}
	rc = container_create(o.data_dir, &cfg, id, &err);
	container_config_release(&cfg);
	if (rc < 0) {
		fprintf(stderr, "orch: %s\n", err.message);
		return CONTAINER_EXIT_RUNTIME_ERROR;
	}
	if (container_start(o.data_dir, id, o.detach ? NULL : &attach_fd, &fail_code, &err) < 0) {
		fprintf(stderr, "orch: %s\n", err.message);
		return fail_code;
	}
	if (o.detach) {
		printf("%s\n", id);
		return 0;
	}
	rc = run_attached(o.data_dir, id, attach_fd, o.stop_timeout);
	close(attach_fd);
	return rc;
}

/* ---- ps -------------------------------------------------------------------- */

static void format_ago(int64_t ns, char *buf, size_t len)
{
	int64_t secs = (clock_wall_ns() - ns) / 1000000000LL;

	if (secs < 60)
		snprintf(buf, len, "%" PRId64 " seconds", secs < 1 ? 1 : secs);
	else if (secs < 3600)
		snprintf(buf, len, "%" PRId64 " minutes", secs / 60);
	else if (secs < 86400)
		snprintf(buf, len, "%" PRId64 " hours", secs / 3600);
	else
		snprintf(buf, len, "%" PRId64 " days", secs / 86400);
}

static void format_rfc3339(int64_t ns, char *buf, size_t len)
{
	time_t secs = (time_t)(ns / 1000000000LL);
	struct tm tm;
	char date[32];

	if (ns <= 0) {
		snprintf(buf, len, "%s", "");
		return;
	}
	gmtime_r(&secs, &tm);
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, len, "%s.%09lldZ", date, (long long)(ns % 1000000000LL));
}

static json_t *state_to_json(const struct container_state *st)
{
	char created[48], started[48], finished[48];

	format_rfc3339(st->created_ns, created, sizeof(created));
	format_rfc3339(st->started_ns, started, sizeof(started));
	format_rfc3339(st->finished_ns, finished, sizeof(finished));
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:i, s:i, s:b, s:s, s:s, s:s, s:s, s:s}",
			 "id", st->id, "name", st->name, "image", st->image, "command", st->command,
			 "status", container_status_name(st->status), "pid",
			 st->status == CONTAINER_RUNNING ? (int)st->pid : 0,
			 "exitCode", st->exit_code, "exitSignal", st->exit_signal,
			 "oomKilled", st->oom_killed, "reason", container_state_reason(st),
			 "error", st->error, "createdAt", created, "startedAt", started,
			 "finishedAt", finished);
}

/* The labels a container was created with ({} when none or unreadable). */
static json_t *labels_to_json(const char *data_dir, const char *id)
{
	struct container_config cfg;
	json_t *labels = json_object();

	if (container_config_get(data_dir, id, &cfg, NULL) < 0)
		return labels;
	for (size_t i = 0; labels && i < cfg.label_count; i++)
		json_object_set_new(labels, cfg.labels[i].key, json_string(cfg.labels[i].value));
	container_config_release(&cfg);
	return labels;
}

static int cmd_ps(int argc, char **argv)
{
	static const struct option options[] = {
		{ "all", no_argument, NULL, 'a' },
		{ "json", no_argument, NULL, 'j' },
		{ "data", required_argument, NULL, OPT_DATA },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	cleanup_free struct container_state *list = NULL;
	orch_error err = ORCH_ERROR_INIT;
	const char *data_dir = NULL;
	bool all = false, as_json = false;
	size_t count;
	int opt;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "+aqh", options, NULL)) != -1) {
		switch (opt) {
		case 'a': all = true; break;
		case 'j': as_json = true; break;
		case OPT_DATA: data_dir = optarg; break;
		case 'h':
			printf("usage: orch ps [-a|--all] [--json] [--data DIR]\n"
			       "List local containers (running ones without -a).\n");
			return 0;
		default: return 2;
		}
	}
	if (container_list(cli_data_dir(data_dir), &list, &count, &err) < 0) {
		fprintf(stderr, "orch: %s\n", err.message);
		return 1;
	}
	if (as_json) {
		json_t *array = json_array();
		char *text;

		for (size_t i = 0; i < count; i++)
			if (all || list[i].status == CONTAINER_RUNNING) {
				json_t *o = state_to_json(&list[i]);

				json_object_set_new(o, "labels",
						    labels_to_json(cli_data_dir(data_dir), list[i].id));
				json_array_append_new(array, o);
			}
		text = json_dumps(array, JSON_INDENT(2));
		printf("%s\n", text ? text : "[]");
		free(text);
		json_decref(array);
		return 0;
	}
	printf("%-12s  %-20s  %-24s  %-14s  %-28s  %s\n", "CONTAINER ID", "IMAGE", "COMMAND",
	       "CREATED", "STATUS", "NAMES");
	for (size_t i = 0; i < count; i++) {
		const struct container_state *st = &list[i];
		char created[48], status[80], ago[32], command[32];

		if (!all && st->status != CONTAINER_RUNNING)
			continue;
		format_ago(st->created_ns, ago, sizeof(ago));
		snprintf(created, sizeof(created), "%s ago", ago);
		switch (st->status) {
		case CONTAINER_CREATED: snprintf(status, sizeof(status), "Created"); break;
		case CONTAINER_RUNNING:
			format_ago(st->started_ns, ago, sizeof(ago));
			snprintf(status, sizeof(status), "Up %s", ago);
			break;
		case CONTAINER_EXITED:
			format_ago(st->finished_ns, ago, sizeof(ago));
			snprintf(status, sizeof(status), "Exited (%d)%s %s ago", st->exit_code,
				 st->oom_killed ? " OOMKilled" : "", ago);
			break;
		case CONTAINER_DEAD: snprintf(status, sizeof(status), "Dead"); break;
		}
		snprintf(command, sizeof(command), "\"%.20s%s\"", st->command,
			 strlen(st->command) > 20 ? "..." : "");
		printf("%-12.12s  %-20.20s  %-24s  %-14s  %-28s  %s\n", st->id, st->image, command,
		       created, status, st->name);
	}
	return 0;
}

/* ---- logs ------------------------------------------------------------------ */

struct follow_ctx {
	const char *data_dir;
	const char *id;
};

static bool still_running(void *p)
{
	struct follow_ctx *ctx = p;
	struct container_state st;

	return container_state_get(ctx->data_dir, ctx->id, &st, NULL) == 0 &&
	       (st.status == CONTAINER_RUNNING || st.status == CONTAINER_CREATED);
}

static int cmd_logs(int argc, char **argv)
{
	static const struct option options[] = {
		{ "follow", no_argument, NULL, 'f' },
		{ "tail", required_argument, NULL, 'n' },
		{ "data", required_argument, NULL, OPT_DATA },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct container_log_read_options lo = { .tail = -1, .stdout_fd = STDOUT_FILENO,
						 .stderr_fd = STDERR_FILENO };
	orch_error err = ORCH_ERROR_INIT;
	char id[CONTAINER_ID_LEN + 1], dir[4200];
	const char *data_dir = NULL;
	struct follow_ctx ctx;
	int opt;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "+fn:h", options, NULL)) != -1) {
		switch (opt) {
		case 'f': lo.follow = true; break;
		case 'n':
			lo.tail = strcmp(optarg, "all") == 0 ? -1 : atol(optarg);
			break;
		case OPT_DATA: data_dir = optarg; break;
		case 'h':
			printf("usage: orch logs [-f|--follow] [--tail N] [--data DIR] ID|NAME\n"
			       "Print a local container's output (stdout to stdout, stderr to stderr).\n");
			return 0;
		default: return 2;
		}
	}
	if (optind + 1 != argc)
		return usage_error("logs", "requires exactly one container%s", "");
	data_dir = cli_data_dir(data_dir);
	if (container_resolve(data_dir, argv[optind], id, &err) < 0) {
		fprintf(stderr, "orch: %s\n", err.message);
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	ctx = (struct follow_ctx){ data_dir, id };
	lo.keep_following = still_running;
	lo.ctx = &ctx;
	container_dir_path(data_dir, id, dir, sizeof(dir));
	if (container_log_read(dir, &lo, &err) < 0) {
		fprintf(stderr, "orch: %s\n", err.message);
		return 1;
	}
	return 0;
}

/* ---- stop, kill, rm -------------------------------------------------------- */

static int parse_signal(const char *name)
{
	static const struct { const char *name; int signo; } table[] = {
		{ "HUP", SIGHUP }, { "INT", SIGINT }, { "QUIT", SIGQUIT }, { "KILL", SIGKILL },
		{ "USR1", SIGUSR1 }, { "USR2", SIGUSR2 }, { "TERM", SIGTERM }, { "STOP", SIGSTOP },
		{ "CONT", SIGCONT },
	};
	char *end;
	long n = strtol(name, &end, 10);

	if (!*end && n > 0 && n < 65)
		return (int)n;
	if (strncmp(name, "SIG", 3) == 0)
		name += 3;
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (strcmp(table[i].name, name) == 0)
			return table[i].signo;
	return -1;
}

/* stop, kill and rm share their shape: options, then one or more containers. */
static int cmd_each(const char *verb, int argc, char **argv)
{
	static const struct option options[] = {
		{ "time", required_argument, NULL, 't' },
		{ "signal", required_argument, NULL, 's' },
		{ "force", no_argument, NULL, 'f' },
		{ "data", required_argument, NULL, OPT_DATA },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *data_dir = NULL;
	int timeout = CONTAINER_DEFAULT_STOP_TIMEOUT, signo = SIGKILL, rc = 0, opt;
	bool force = false;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "+t:s:fh", options, NULL)) != -1) {
		switch (opt) {
		case 't': timeout = atoi(optarg); break;
		case 's':
			signo = parse_signal(optarg);
			if (signo < 0)
				return usage_error(verb, "unknown signal '%s'", optarg);
			break;
		case 'f': force = true; break;
		case OPT_DATA: data_dir = optarg; break;
		case 'h':
			if (strcmp(verb, "stop") == 0)
				printf("usage: orch stop [-t SECS] [--data DIR] ID|NAME...\n"
				       "SIGTERM, then SIGKILL after SECS (default %d).\n",
				       CONTAINER_DEFAULT_STOP_TIMEOUT);
			else if (strcmp(verb, "kill") == 0)
				printf("usage: orch kill [-s SIGNAL] [--data DIR] ID|NAME...\n");
			else
				printf("usage: orch rm [-f] [--data DIR] ID|NAME...\n"
				       "Remove stopped containers (-f: kill running ones first).\n");
			return 0;
		default: return 2;
		}
	}
	if (optind >= argc)
		return usage_error(verb, "requires at least one container%s", "");
	data_dir = cli_data_dir(data_dir);
	for (int i = optind; i < argc; i++) {
		orch_error err = ORCH_ERROR_INIT;
		char id[CONTAINER_ID_LEN + 1];
		int r;

		if (container_resolve(data_dir, argv[i], id, &err) < 0)
			r = -1;
		else if (strcmp(verb, "stop") == 0)
			r = container_stop(data_dir, id, timeout, &err);
		else if (strcmp(verb, "kill") == 0)
			r = container_kill(data_dir, id, signo, &err);
		else
			r = container_remove(data_dir, id, force, &err);
		if (r < 0) {
			fprintf(stderr, "orch: %s\n", err.message);
			rc = 1;
		} else {
			printf("%s\n", argv[i]);
		}
	}
	return rc;
}

bool cli_run_handles(const char *verb)
{
	static const char *const verbs[] = { "run", "ps", "logs", "stop", "kill", "rm" };

	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (strcmp(verb, verbs[i]) == 0)
			return true;
	return false;
}

int cli_run_main(int argc, char **argv)
{
	if (strcmp(argv[0], "run") == 0)
		return cmd_run(argc, argv);
	if (strcmp(argv[0], "ps") == 0)
		return cmd_ps(argc, argv);
	if (strcmp(argv[0], "logs") == 0)
		return cmd_logs(argc, argv);
	return cmd_each(argv[0], argc, argv);
}
