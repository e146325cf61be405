/*
 * cli_taskdef.c - `orch taskdef register|ls|show|rm`: task definitions
 * (RegisterTaskDefinition, ListTaskDefinitions, DescribeTaskDefinition,
 * DeregisterTaskDefinition).  Lists follow nextToken until the server has
 * no more pages.  Flags and dispatch: cli_verbs.h.
 */
#include "cli_verbs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_http.h"
#include "cli_output.h"
#include "common/cleanup.h"
#include "common/error.h"
#include "common/fs_util.h"

/* Largest task definition file the CLI reads (the server's body limit is 1 MiB). */
#define CLI_MAX_INPUT_BYTES (1024 * 1024)

/* taskdef's own flags (taskdef ls). */
struct taskdef_options {
	const char *family_prefix;
	const char *status;
};

enum { TASKDEF_OPT_FAMILY_PREFIX = CLI_OPTION_NOUN, TASKDEF_OPT_STATUS };

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

static int taskdef_register(struct cli_conn *conn, const struct cli_args *a, orch_error *err)
{
	cleanup_free char *body = NULL;
	json_t *reply = NULL, *td, *ignored;
	size_t len = 0, i;
	json_t *field;

	if (read_input(a->argv[0], &body, &len, err) < 0)
		return -1;
	if (cli_call(conn, "POST", "/v1/task-definitions", body, len, &reply, err) < 0)
		return orch_error_prefix(err, "registering '%s'", a->argv[0]);
	if (a->json) {
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

static int taskdef_ls(struct cli_conn *conn, const struct cli_args *a, orch_error *err)
{
	const struct taskdef_options *o = a->options;
	cleanup_free char *query = NULL, *prefix = NULL, *status = NULL;
	struct cli_table t = { .columns = 3 };
	json_t *arns = NULL, *arn;
	size_t i;

	prefix = o->family_prefix ? cli_escape(o->family_prefix) : NULL;
	status = o->status ? cli_escape(o->status) : NULL;
	if (asprintf(&query, "%s%s%s%s%s", prefix ? "familyPrefix=" : "", prefix ? prefix : "",
		     prefix && status ? "&" : "", status ? "status=" : "", status ? status : "") < 0) {
		query = NULL;
		return orch_fail_errno(err, ENOMEM, "listing");
	}
	if (cli_list_all(conn, "/v1/task-definitions", *query ? query : NULL, "taskDefinitionArns",
		     &arns, err) < 0)
		return -1;
	if (a->json) {
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

		cli_format_int(cpu, sizeof(cpu), json_object_get(c, "cpu"));
		cli_format_int(mem, sizeof(mem), json_object_get(c, "memory"));
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

static int taskdef_show_or_rm(struct cli_conn *conn, const struct cli_args *a,
			      const char *method, orch_error *err)
{
	json_t *reply = NULL;

	if (cli_call_named(conn, method, "/v1/task-definitions/", a->argv[0], NULL, 0, &reply,
			   err) < 0)
		return orch_error_prefix(err, "task definition '%s'", a->argv[0]);
	if (a->json)
		cli_print_json(reply);
	else if (strcmp(method, "DELETE") == 0)
		printf("deregistered %s\n", a->argv[0]);
	else
		print_taskdef(json_object_get(reply, "taskDefinition"));
	json_decref(reply);
	return 0;
}

static int taskdef_show(struct cli_conn *conn, const struct cli_args *a, orch_error *err)
{
	return taskdef_show_or_rm(conn, a, "GET", err);
}

static int taskdef_rm(struct cli_conn *conn, const struct cli_args *a, orch_error *err)
{
	if (!strchr(a->argv[0], ':'))
		return orch_fail(err, ORCH_ERR_INVALID,
				 "'%s': name the revision to deregister as FAMILY:REVISION", a->argv[0]);
	return taskdef_show_or_rm(conn, a, "DELETE", err);
}

static int taskdef_option(void *options, int code, const char *arg)
{
	struct taskdef_options *o = options;

	switch (code) {
	case TASKDEF_OPT_FAMILY_PREFIX: o->family_prefix = arg; return 0;
	case TASKDEF_OPT_STATUS: o->status = arg; return 0;
	}
	return -1;
}

static const struct option taskdef_flags[] = {
	{ "family-prefix", required_argument, NULL, TASKDEF_OPT_FAMILY_PREFIX },
	{ "status", required_argument, NULL, TASKDEF_OPT_STATUS },
	{ NULL, 0, NULL, 0 },
};

static const struct cli_verb taskdef_verbs[] = {
	{ "register", "orch taskdef register FILE|-", 1, 1, false, taskdef_register },
	{ "ls", "orch taskdef ls [--family-prefix P] [--status ACTIVE|INACTIVE|ALL]", 0, 0, false,
	  taskdef_ls },
	{ "show", "orch taskdef show FAMILY[:REVISION]|ARN", 1, 1, false, taskdef_show },
	{ "rm", "orch taskdef rm FAMILY:REVISION", 1, 1, false, taskdef_rm },
};

const struct cli_noun cli_noun_taskdef = {
	.name = "taskdef",
	.summary = "register, list, show and deregister task definitions",
	.verbs = taskdef_verbs,
	.verb_count = sizeof(taskdef_verbs) / sizeof(taskdef_verbs[0]),
	.options = taskdef_flags,
	.options_size = sizeof(struct taskdef_options),
	.option = taskdef_option,
};
