/*
 * cli.c - `orch taskdef ...` and `orch cluster ...`.
 *
 * Common options, accepted anywhere after the group: --server URL,
 * --token TOKEN, --data DIR, --json.  Lists follow nextToken until the
 * server has no more pages.
 */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "cli_http.h"
#include "cli_task.h"
#include "common/error.h"
#include "common/fs_util.h"

/* Largest task definition file the CLI reads (the server's body limit is 1 MiB). */
#define CLI_MAX_INPUT_BYTES (1024 * 1024)

struct cli_options {
	const char *server;
	const char *token;
	const char *data;
	const char *family_prefix;
	const char *status;
	bool json;
	int argc;		/* positional arguments after the verb */
	char **argv;
};

struct cli_verb {
	const char *group;
	const char *verb;
	const char *usage;
	int min_args, max_args;
	int (*run)(struct cli_conn *conn, const struct cli_options *opt, orch_error *err);
};

/* ---- output (tables: cli_task.h) ----------------------------------------- */

static void format_int(char *buf, size_t size, json_t *v)
{
	if (json_is_integer(v))
		snprintf(buf, size, "%lld", (long long)json_integer_value(v));
	else if (json_is_string(v))
		snprintf(buf, size, "%s", json_string_value(v));
	else
		snprintf(buf, size, "-");
}

/* ---- taskdef ----------------------------------------------------------- */

static int read_input(const char *path, char **out, size_t *len, orch_error *err)
{
	size_t cap = 0, used = 0;
	char *buf = NULL;
	FILE *f;

	if (strcmp(path, "-") != 0)
		return fs_read_file(path, CLI_MAX_INPUT_BYTES, out, len, err);
	f = stdin;
	for (;;) {
		size_t n;

		if (used == cap) {
			char *grown;

			cap = cap ? cap * 2 : 8192;
			if (cap > CLI_MAX_INPUT_BYTES + 1)
				cap = CLI_MAX_INPUT_BYTES + 1;
			grown = realloc(buf, cap + 1);
			if (!grown) {
				free(buf);
				return orch_fail_errno(err, ENOMEM, "reading standard input");
			}
			buf = grown;
		}
		n = fread(buf + used, 1, cap - used, f);
		used += n;
		if (used > CLI_MAX_INPUT_BYTES) {
			free(buf);
			return orch_fail(err, ORCH_ERR_INVALID, "standard input is larger than %d bytes",
					 CLI_MAX_INPUT_BYTES);
		}
		if (n == 0)
			break;
	}
	if (ferror(f)) {
		free(buf);
		return orch_fail_errno(err, errno, "reading standard input");
	}
	buf[used] = '\0';
	*out = buf;
	*len = used;
	return 0;
}

static int taskdef_register(struct cli_conn *conn, const struct cli_options *opt, orch_error *err)
{
	cleanup_free char *body = NULL;
	json_t *reply = NULL, *td, *ignored;
	size_t len = 0, i;
	json_t *field;

	if (read_input(opt->argv[0], &body, &len, err) < 0)
		return -1;
	if (cli_call(conn, "POST", "/v1/task-definitions", body, len, &reply, err) < 0)
		return orch_error_prefix(err, "registering '%s'", opt->argv[0]);
	if (opt->json) {
		cli_print_json(reply);
	} else {
		td = json_object_get(reply, "taskDefinition");
		printf("registered %s:%lld\n", cli_str(json_object_get(td, "family")),
		       (long long)json_integer_value(json_object_get(td, "revision")));
		printf("arn        %s\n", cli_str(json_object_get(td, "taskDefinitionArn")));
	}
	ignored = json_object_get(reply, "ignoredFields");
	json_array_foreach(ignored, i, field)
		fprintf(stderr, "note: %s is accepted but not acted on by orch\n",
			cli_str(field));
	json_decref(reply);
	return 0;
}

static int taskdef_ls(struct cli_conn *conn, const struct cli_options *opt, orch_error *err)
{
	cleanup_free char *query = NULL, *prefix = NULL, *status = NULL;
	struct cli_table t = { .columns = 3 };
	json_t *arns = NULL, *arn;
	size_t i;

	prefix = opt->family_prefix ? cli_escape(opt->family_prefix) : NULL;
	status = opt->status ? cli_escape(opt->status) : NULL;
	if (asprintf(&query, "%s%s%s%s%s", prefix ? "familyPrefix=" : "", prefix ? prefix : "",
		     prefix && status ? "&" : "", status ? "status=" : "", status ? status : "") < 0) {
		query = NULL;
		return orch_fail_errno(err, ENOMEM, "listing");
	}
	if (cli_list_all(conn, "/v1/task-definitions", *query ? query : NULL, "taskDefinitionArns",
		     &arns, err) < 0)
		return -1;
	if (opt->json) {
		json_t *out = json_pack("{s:o}", "taskDefinitionArns", arns);

		cli_print_json(out);
		json_decref(out);
		return 0;
	}
	cli_table_row(&t, (const char *[]){ "FAMILY", "REVISION", "ARN" });
	json_array_foreach(arns, i, arn) {
		const char *s = json_string_value(arn);
		const char *slash = s ? strrchr(s, '/') : NULL;
		const char *colon = slash ? strrchr(slash, ':') : NULL;
		cleanup_free char *family = slash && colon ? strndup(slash + 1, (size_t)(colon - slash - 1)) : NULL;

		cli_table_row(&t, (const char *[]){ family, colon ? colon + 1 : NULL, s });
	}
	cli_table_print_release(&t);
	json_decref(arns);
	return 0;
}

static void print_taskdef(json_t *td)
{
	struct cli_table t = { .columns = 6 };
	json_t *containers = json_object_get(td, "containerDefinitions");
	json_t *c;
	size_t i;

	printf("arn          %s\n", cli_str(json_object_get(td, "taskDefinitionArn")));
	printf("status       %s\n", cli_str(json_object_get(td, "status")));
	printf("network mode %s\n", cli_str(json_object_get(td, "networkMode")));
	printf("cpu          %s\n", cli_str(json_object_get(td, "cpu")));
	printf("memory       %s\n\n", cli_str(json_object_get(td, "memory")));
	cli_table_row(&t, (const char *[]){ "CONTAINER", "IMAGE", "CPU", "MEMORY", "ESSENTIAL", "PORTS" });
	json_array_foreach(containers, i, c) {
		char cpu[32], mem[32], ports[256] = "";
		json_t *pm;
		size_t j;

		format_int(cpu, sizeof(cpu), json_object_get(c, "cpu"));
		format_int(mem, sizeof(mem), json_object_get(c, "memory"));
		json_array_foreach(json_object_get(c, "portMappings"), j, pm) {
			size_t used = strlen(ports);

			snprintf(ports + used, sizeof(ports) - used, "%s%lld/%s", used ? "," : "",
				 (long long)json_integer_value(json_object_get(pm, "containerPort")),
				 json_is_string(json_object_get(pm, "protocol"))
				 ? json_string_value(json_object_get(pm, "protocol")) : "tcp");
		}
		cli_table_row(&t, (const char *[]){
			cli_str(json_object_get(c, "name")), cli_str(json_object_get(c, "image")),
			cpu, mem, json_is_false(json_object_get(c, "essential")) ? "false" : "true",
			*ports ? ports : "-" });
	}
	cli_table_print_release(&t);
}

static int taskdef_show_or_rm(struct cli_conn *conn, const struct cli_options *opt,
			      const char *method, orch_error *err)
{
	cleanup_free char *ref = cli_escape(opt->argv[0]), *path = NULL;
	json_t *reply = NULL;

	if (!ref || asprintf(&path, "/v1/task-definitions/%s", ref) < 0) {
		path = NULL;
		return orch_fail_errno(err, ENOMEM, "building the request");
	}
	if (cli_call(conn, method, path, NULL, 0, &reply, err) < 0)
		return orch_error_prefix(err, "task definition '%s'", opt->argv[0]);
	if (opt->json)
		cli_print_json(reply);
	else if (strcmp(method, "DELETE") == 0)
		printf("deregistered %s\n", opt->argv[0]);
	else
		print_taskdef(json_object_get(reply, "taskDefinition"));
	json_decref(reply);
	return 0;
}

static int taskdef_show(struct cli_conn *conn, const struct cli_options *opt, orch_error *err)
{
	return taskdef_show_or_rm(conn, opt, "GET", err);
}

static int taskdef_rm(struct cli_conn *conn, const struct cli_options *opt, orch_error *err)
{
	if (!strchr(opt->argv[0], ':'))
		return orch_fail(err, ORCH_ERR_INVALID,
				 "'%s': name the revision to deregister as FAMILY:REVISION", opt->argv[0]);
	return taskdef_show_or_rm(conn, opt, "DELETE", err);
}

/* ---- cluster ----------------------------------------------------------- */

static void cluster_row(struct cli_table *t, json_t *c)
{
	char running[32], pending[32], services[32];

	format_int(running, sizeof(running), json_object_get(c, "runningTasksCount"));
	format_int(pending, sizeof(pending), json_object_get(c, "pendingTasksCount"));
	format_int(services, sizeof(services), json_object_get(c, "activeServicesCount"));
	cli_table_row(t, (const char *[]){ cli_str(json_object_get(c, "clusterName")),
		cli_str(json_object_get(c, "status")), running, pending, services });
}

static void print_clusters(json_t *clusters)
{
	struct cli_table t = { .columns = 5 };
	json_t *c;
	size_t i;

	cli_table_row(&t, (const char *[]){ "NAME", "STATUS", "RUNNING", "PENDING", "SERVICES" });
	json_array_foreach(clusters, i, c)
		cluster_row(&t, c);
	cli_table_print_release(&t);
}

static int cluster_create(struct cli_conn *conn, const struct cli_options *opt, orch_error *err)
{
	json_t *body = json_pack("{s:s}", "clusterName", opt->argv[0]);
	cleanup_free char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_t *reply = NULL;

	json_decref(body);
	if (!text)
		return orch_fail_errno(err, ENOMEM, "building the request");
	if (cli_call(conn, "POST", "/v1/clusters", text, strlen(text), &reply, err) < 0)
		return orch_error_prefix(err, "creating cluster '%s'", opt->argv[0]);
	if (opt->json)
		cli_print_json(reply);
	else
		printf("cluster %s is ACTIVE\n", opt->argv[0]);
	json_decref(reply);
	return 0;
}

static int cluster_ls(struct cli_conn *conn, const struct cli_options *opt, orch_error *err)
{
	json_t *clusters = NULL;

	if (cli_list_all(conn, "/v1/clusters", NULL, "clusters", &clusters, err) < 0)
		return -1;
	if (opt->json) {
		json_t *arns = json_array(), *c;
		json_t *out;
		size_t i;

		json_array_foreach(clusters, i, c)
			json_array_append(arns, json_object_get(c, "clusterArn"));
		out = json_pack("{s:o, s:o}", "clusterArns", arns, "clusters", clusters);

		cli_print_json(out);
		json_decref(out);
		return 0;
	}
	print_clusters(clusters);
	json_decref(clusters);
	return 0;
}

static int cluster_show_or_rm(struct cli_conn *conn, const struct cli_options *opt,
			      const char *method, orch_error *err)
{
	cleanup_free char *name = cli_escape(opt->argv[0]), *path = NULL;
	json_t *reply = NULL;

	if (!name || asprintf(&path, "/v1/clusters/%s", name) < 0) {
		path = NULL;
		return orch_fail_errno(err, ENOMEM, "building the request");
	}
	if (cli_call(conn, method, path, NULL, 0, &reply, err) < 0)
		return orch_error_prefix(err, "cluster '%s'", opt->argv[0]);
	if (opt->json) {
		cli_print_json(reply);
	} else if (strcmp(method, "DELETE") == 0) {
		printf("deleted cluster %s\n", opt->argv[0]);
	} else {
		json_t *list = json_pack("[O]", json_object_get(reply, "cluster"));

		print_clusters(list);
		json_decref(list);
	}
	json_decref(reply);
	return 0;
}

static int cluster_show(struct cli_conn *conn, const struct cli_options *opt, orch_error *err)
{
	return cluster_show_or_rm(conn, opt, "GET", err);
}

static int cluster_rm(struct cli_conn *conn, const struct cli_options *opt, orch_error *err)
{
	return cluster_show_or_rm(conn, opt, "DELETE", err);
}

/* ---- dispatch ---------------------------------------------------------- */

static const struct cli_verb cli_verbs[] = {
	{ "taskdef", "register", "orch taskdef register FILE|-", 1, 1, taskdef_register },
	{ "taskdef", "ls", "orch taskdef ls [--family-prefix P] [--status ACTIVE|INACTIVE|ALL]", 0, 0, taskdef_ls },
	{ "taskdef", "show", "orch taskdef show FAMILY[:REVISION]|ARN", 1, 1, taskdef_show },
	{ "taskdef", "rm", "orch taskdef rm FAMILY:REVISION", 1, 1, taskdef_rm },
	{ "cluster", "create", "orch cluster create NAME", 1, 1, cluster_create },
	{ "cluster", "ls", "orch cluster ls", 0, 0, cluster_ls },
	{ "cluster", "show", "orch cluster show NAME", 1, 1, cluster_show },
	{ "cluster", "rm", "orch cluster rm NAME", 1, 1, cluster_rm },
};

#define CLI_VERB_COUNT (sizeof(cli_verbs) / sizeof(cli_verbs[0]))

bool cli_handles(const char *group)
{
	for (size_t i = 0; i < CLI_VERB_COUNT; i++)
		if (strcmp(cli_verbs[i].group, group) == 0)
			return true;
	return false;
}

static void cli_usage(FILE *out, const char *group)
{
	fprintf(out, "usage:\n");
	for (size_t i = 0; i < CLI_VERB_COUNT; i++)
		if (!group || strcmp(cli_verbs[i].group, group) == 0)
			fprintf(out, "  %s\n", cli_verbs[i].usage);
	fprintf(out, "\ncommon options:\n"
		"  --server URL    API address (env ORCH_SERVER; default: the local server's)\n"
		"  --token TOKEN   bearer token (env ORCH_TOKEN; default: the local admin token)\n"
		"  --data DIR      data dir of a local server to find both in (env ORCH_DATA)\n"
		"  --json          print the API's JSON instead of a table\n");
}

static int parse_cli_options(int argc, char **argv, struct cli_options *opt)
{
	enum { OPT_SERVER = 1, OPT_TOKEN, OPT_DATA, OPT_JSON, OPT_PREFIX, OPT_STATUS, OPT_HELP };
	static const struct option longopts[] = {
		{ "server", required_argument, NULL, OPT_SERVER },
		{ "token", required_argument, NULL, OPT_TOKEN },
		{ "data", required_argument, NULL, OPT_DATA },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "family-prefix", required_argument, NULL, OPT_PREFIX },
		{ "status", required_argument, NULL, OPT_STATUS },
		{ "help", no_argument, NULL, OPT_HELP },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_SERVER: opt->server = optarg; break;
		case OPT_TOKEN: opt->token = optarg; break;
		case OPT_DATA: opt->data = optarg; break;
		case OPT_JSON: opt->json = true; break;
		case OPT_PREFIX: opt->family_prefix = optarg; break;
		case OPT_STATUS: opt->status = optarg; break;
		case OPT_HELP: return 1;
		default: return -1;
		}
	}
	opt->argc = argc - optind;
	opt->argv = argv + optind;
	return 0;
}

int cli_main(int argc, char **argv)
{
	const char *group = argv[0];
	struct cli_options opt = { 0 };
	const struct cli_verb *verb = NULL;
	orch_error err = ORCH_ERROR_INIT;
	struct cli_conn conn;
	int rc;

	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
		cli_usage(argc < 2 ? stderr : stdout, group);
		return argc < 2 ? 2 : 0;
	}
	for (size_t i = 0; i < CLI_VERB_COUNT; i++)
		if (strcmp(cli_verbs[i].group, group) == 0 && strcmp(cli_verbs[i].verb, argv[1]) == 0)
			verb = &cli_verbs[i];
	if (!verb) {
		fprintf(stderr, "orch %s: unknown command '%s'\n", group, argv[1]);
		cli_usage(stderr, group);
		return 2;
	}
	/* GNU getopt permutes: options may come before or after the arguments. */
	rc = parse_cli_options(argc - 1, argv + 1, &opt);
	if (rc > 0) {
		printf("usage: %s\n", verb->usage);
		return 0;
	}
	if (rc < 0 || opt.argc < verb->min_args || opt.argc > verb->max_args) {
		fprintf(stderr, "usage: %s\n", verb->usage);
		return 2;
	}
	if (cli_conn_resolve(opt.server, opt.token, opt.data, &conn, &err) < 0) {
		fprintf(stderr, "orch: %s\n", err.message);
		return 1;
	}
	rc = verb->run(&conn, &opt, &err);
	cli_conn_release(&conn);
	if (rc < 0) {
		fprintf(stderr, "orch: %s\n", err.message);
		return 1;
	}
	return 0;
}
