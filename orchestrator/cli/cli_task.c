/*
 * cli_task.c - `orch task run|ls|show|stop`.
 *
 *   orch task run FAMILY[:REV] [--count N] [--cluster C] [--started-by S]
 *       [--group G] [--constraint 'memberOf:EXPR'|distinctInstance]...
 *       [--strategy binpack:memory|spread:attribute:zone|random]...
 *       [--container NAME] [--env K=V]... [--command 'CMD ARGS'] [-- CMD ARGS...]
 *   orch task ls [--cluster C] [--family F] [--desired-status S] [--node N]
 *   orch task show ID|ARN [--cluster C]
 *   orch task stop ID|ARN [--reason R] [--cluster C]
 *   orch task exec ID|ARN [-c NAME] [-i] [-t] [--cluster C] -- CMD ARGS...
 *
 * --env and --command override the container named by --container (the
 * first container by default).  Common options as in cli.c: --server,
 * --token, --data, --json.
 */
#include "cli_task.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "cli_task_exec.h"
#include "cli_task_logs.h"

#define TASK_MAX_LIST_ARGS 16

/* ---- shared helpers ------------------------------------------------------ */

void cli_table_row(struct cli_table *t, const char *const *values)
{
	char **grown = realloc(t->cells, sizeof(char *) * (size_t)(t->rows + 1) * (size_t)t->columns);

	if (!grown)
		return;
	t->cells = grown;
	for (int c = 0; c < t->columns; c++) {
		char *v = strdup(values[c] ? values[c] : "-");
		size_t len = v ? strlen(v) : 0;

		t->cells[t->rows * t->columns + c] = v;
		if (len > t->width[c])
			t->width[c] = len;
	}
	t->rows++;
}

void cli_table_print_release(struct cli_table *t)
{
	for (int r = 0; r < t->rows; r++)
		for (int c = 0; c < t->columns; c++) {
			const char *v = t->cells[r * t->columns + c];

			if (c == t->columns - 1)
				printf("%s\n", v ? v : "");
			else
				printf("%-*s  ", (int)t->width[c], v ? v : "");
		}
	for (int i = 0; i < t->rows * t->columns; i++)
		free(t->cells[i]);
	free(t->cells);
	t->cells = NULL;
	t->rows = 0;
}

void cli_print_json(json_t *value)
{
	json_dumpf(value, stdout, JSON_INDENT(2));
	putchar('\n');
}

const char *cli_str(json_t *v)
{
	return json_is_string(v) ? json_string_value(v) : "-";
}

const char *cli_arn_id(const char *arn)
{
	const char *slash = arn ? strrchr(arn, '/') : NULL;

	return slash ? slash + 1 : arn;
}

int cli_list_all(const struct cli_conn *conn, const char *path, const char *query,
		 const char *key, json_t **all, orch_error *err)
{
	cleanup_free char *token = NULL;

	*all = json_array();
	for (;;) {
		cleanup_free char *url = NULL;
		json_t *reply = NULL;
		const char *next;

		if (asprintf(&url, "%s?maxResults=100%s%s%s%s", path, query && *query ? "&" : "",
			     query ? query : "", token ? "&nextToken=" : "", token ? token : "") < 0) {
			url = NULL;
			return orch_fail_errno(err, ENOMEM, "listing");
		}
		if (cli_call(conn, "GET", url, NULL, 0, &reply, err) < 0) {
			json_decref(*all);
			*all = NULL;
			return -1;
		}
		json_array_extend(*all, json_object_get(reply, key));
		next = json_string_value(json_object_get(reply, "nextToken"));
		free(token);
		token = next ? cli_escape(next) : NULL;
		json_decref(reply);
		if (!token)
			return 0;
	}
}

/* ---- options ------------------------------------------------------------- */

struct task_options {
	const char *server, *token, *data, *cluster;
	bool json;
	long count;
	const char *started_by, *group, *container, *command, *reason;
	const char *family, *desired_status, *node;
	bool follow;		/* logs */
	bool interactive, tty;	/* exec */
	long tail;
	const char *constraints[TASK_MAX_LIST_ARGS];
	int constraint_count;
	const char *strategies[TASK_MAX_LIST_ARGS];
	int strategy_count;
	const char *env[TASK_MAX_LIST_ARGS];
	int env_count;
	int argc;
	char **argv;
	int cmd_argc;		/* after "--" */
	char **cmd_argv;
};

static int add_list(const char **list, int *count, const char *v, const char *flag)
{
	if (*count == TASK_MAX_LIST_ARGS) {
		fprintf(stderr, "orch task: at most %d %s\n", TASK_MAX_LIST_ARGS, flag);
		return -1;
	}
	list[(*count)++] = v;
	return 0;
}

static int parse_task_options(int argc, char **argv, struct task_options *o)
{
	enum { O_SERVER = 1, O_TOKEN, O_DATA, O_JSON, O_CLUSTER, O_COUNT, O_STARTED_BY, O_GROUP,
	       O_CONSTRAINT, O_STRATEGY, O_ENV, O_COMMAND, O_CONTAINER, O_REASON, O_FAMILY,
	       O_DESIRED, O_NODE, O_HELP, O_TAIL };
	static const struct option longopts[] = {
		{ "server", required_argument, NULL, O_SERVER },
		{ "token", required_argument, NULL, O_TOKEN },
		{ "data", required_argument, NULL, O_DATA },
		{ "json", no_argument, NULL, O_JSON },
		{ "cluster", required_argument, NULL, O_CLUSTER },
		{ "count", required_argument, NULL, O_COUNT },
		{ "started-by", required_argument, NULL, O_STARTED_BY },
		{ "group", required_argument, NULL, O_GROUP },
		{ "constraint", required_argument, NULL, O_CONSTRAINT },
		{ "strategy", required_argument, NULL, O_STRATEGY },
		{ "env", required_argument, NULL, O_ENV },
		{ "command", required_argument, NULL, O_COMMAND },
		{ "container", required_argument, NULL, O_CONTAINER },
		{ "reason", required_argument, NULL, O_REASON },
		{ "family", required_argument, NULL, O_FAMILY },
		{ "desired-status", required_argument, NULL, O_DESIRED },
		{ "node", required_argument, NULL, O_NODE },
		{ "help", no_argument, NULL, O_HELP },
		{ "follow", no_argument, NULL, 'f' },
		{ "tail", required_argument, NULL, O_TAIL },
		{ "interactive", no_argument, NULL, 'i' },
		{ "tty", no_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	int c, dashdash = argc;
	char *end;

	for (int i = 0; i < argc; i++)
		if (strcmp(argv[i], "--") == 0) {
			dashdash = i;
			break;
		}
	o->cmd_argc = dashdash < argc ? argc - dashdash - 1 : 0;
	o->cmd_argv = argv + dashdash + 1;
	o->cluster = "default";
	o->count = 1;
	o->tail = -1;
	optind = 1;
	while ((c = getopt_long(dashdash, argv, "fc:it", longopts, NULL)) != -1) {
		switch (c) {
		case O_SERVER: o->server = optarg; break;
		case O_TOKEN: o->token = optarg; break;
		case O_DATA: o->data = optarg; break;
		case O_JSON: o->json = true; break;
		case O_CLUSTER: o->cluster = optarg; break;
		case O_COUNT:
			errno = 0;
			o->count = strtol(optarg, &end, 10);
			if (errno || *end || o->count < 1 || o->count > 10) {
				fprintf(stderr, "orch task: --count: must be 1 to 10\n");
				return -1;
			}
			break;
		case O_STARTED_BY: o->started_by = optarg; break;
		case O_GROUP: o->group = optarg; break;
		case O_CONSTRAINT:
			if (add_list(o->constraints, &o->constraint_count, optarg, "--constraint") < 0)
				return -1;
			break;
		case O_STRATEGY:
			if (add_list(o->strategies, &o->strategy_count, optarg, "--strategy") < 0)
				return -1;
			break;
		case O_ENV:
			if (!strchr(optarg, '=')) {
				fprintf(stderr, "orch task: --env: expected K=V, got '%s'\n", optarg);
				return -1;
			}
			if (add_list(o->env, &o->env_count, optarg, "--env") < 0)
				return -1;
			break;
		case O_COMMAND: o->command = optarg; break;
		case 'c':
		case O_CONTAINER: o->container = optarg; break;
		case 'f': o->follow = true; break;
		case 'i': o->interactive = true; break;
		case 't': o->tty = true; break;
		case O_TAIL:
			errno = 0;
			o->tail = strtol(optarg, &end, 10);
			if (errno || *end || o->tail < 0) {
				fprintf(stderr, "orch task: --tail: must be a number of lines\n");
				return -1;
			}
			break;
		case O_REASON: o->reason = optarg; break;
		case O_FAMILY: o->family = optarg; break;
		case O_DESIRED: o->desired_status = optarg; break;
		case O_NODE: o->node = optarg; break;
		case O_HELP: return 1;
		default: return -1;
		}
	}
	o->argc = dashdash - optind;
	o->argv = argv + optind;
	return 0;
}

/* ---- task run ------------------------------------------------------------ */

/* 'memberOf:EXPR' or 'distinctInstance' -> ECS placementConstraint. */
static json_t *constraint_json(const char *s, orch_error *err)
{
	if (strcmp(s, "distinctInstance") == 0)
		return json_pack("{s:s}", "type", "distinctInstance");
	if (strncmp(s, "memberOf:", 9) == 0 && s[9])
		return json_pack("{s:s, s:s}", "type", "memberOf", "expression", s + 9);
	orch_fail(err, ORCH_ERR_INVALID,
		  "--constraint '%s': expected distinctInstance or memberOf:EXPRESSION", s);
	return NULL;
}

/* 'binpack:memory', 'spread:attribute:zone', 'random' -> ECS placementStrategy. */
static json_t *strategy_json(const char *s, orch_error *err)
{
	const char *colon = strchr(s, ':');
	size_t type_len = colon ? (size_t)(colon - s) : strlen(s);

	if (type_len == 6 && strncmp(s, "random", 6) == 0 && !colon)
		return json_pack("{s:s}", "type", "random");
	if (colon && colon[1] && ((type_len == 7 && strncmp(s, "binpack", 7) == 0) ||
				  (type_len == 6 && strncmp(s, "spread", 6) == 0)))
		return json_pack("{s:s%, s:s}", "type", s, type_len, "field", colon + 1);
	orch_fail(err, ORCH_ERR_INVALID,
		  "--strategy '%s': expected binpack:cpu|memory, spread:FIELD or random", s);
	return NULL;
}

static json_t *container_override(const struct task_options *o, orch_error *err)
{
	json_t *co, *cmd = NULL;

	if (o->env_count == 0 && !o->command && o->cmd_argc == 0)
		return NULL;
	co = json_object();
	if (o->container)
		json_object_set_new(co, "name", json_string(o->container));
	if (o->cmd_argc > 0) {
		cmd = json_array();
		for (int i = 0; i < o->cmd_argc; i++)
			json_array_append_new(cmd, json_string(o->cmd_argv[i]));
	} else if (o->command) {
		cleanup_free char *copy = strdup(o->command);
		char *save = NULL;

		cmd = json_array();
		for (char *w = copy ? strtok_r(copy, " \t", &save) : NULL; w;
		     w = strtok_r(NULL, " \t", &save))
			json_array_append_new(cmd, json_string(w));
	}
	if (cmd)
		json_object_set_new(co, "command", cmd);
	if (o->env_count) {
		json_t *env = json_array();

		for (int i = 0; i < o->env_count; i++) {
			const char *eq = strchr(o->env[i], '=');

			json_array_append_new(env, json_pack("{s:s%, s:s}", "name", o->env[i],
							     (size_t)(eq - o->env[i]), "value", eq + 1));
		}
		json_object_set_new(co, "environment", env);
	}
	(void)err;
	return co;
}

static void print_tasks(json_t *tasks)
{
	struct cli_table t = { .columns = 6 };
	json_t *task;
	size_t i;

	cli_table_row(&t, (const char *[]){ "TASK", "DEFINITION", "LAST", "DESIRED", "NODE",
					    "REASON" });
	json_array_foreach(tasks, i, task) {
		const char *reason = json_string_value(json_object_get(task, "pendingReason"));

		if (!reason)
			reason = json_string_value(json_object_get(task, "stoppedReason"));
		cli_table_row(&t, (const char *[]){
			cli_str(json_object_get(task, "taskId")),
			cli_arn_id(cli_str(json_object_get(task, "taskDefinitionArn"))),
			cli_str(json_object_get(task, "lastStatus")),
			cli_str(json_object_get(task, "desiredStatus")),
			json_is_string(json_object_get(task, "containerInstanceArn"))
			? cli_arn_id(json_string_value(json_object_get(task, "containerInstanceArn"))) : "-",
			reason ? reason : "-" });
	}
	cli_table_print_release(&t);
}

static int task_path(const struct task_options *o, const char *suffix, char **out,
		     orch_error *err)
{
	cleanup_free char *cluster = cli_escape(o->cluster);
	cleanup_free char *id = o->argc > 0 ? cli_escape(o->argv[0]) : NULL;

	if (!cluster || asprintf(out, "/v1/clusters/%s/tasks%s%s%s", cluster, id ? "/" : "",
				 id ? id : "", suffix) < 0) {
		*out = NULL;
		return orch_fail_errno(err, ENOMEM, "building the request");
	}
	return 0;
}

static int task_run(struct cli_conn *conn, const struct task_options *o, orch_error *err)
{
	json_t *body = json_pack("{s:s, s:i}", "taskDefinition", o->argv[0], "count", (int)o->count);
	json_t *reply = NULL, *co;
	cleanup_free char *text = NULL, *cluster = cli_escape(o->cluster), *path = NULL;
	int rc = -1;

	if (o->started_by)
		json_object_set_new(body, "startedBy", json_string(o->started_by));
	if (o->group)
		json_object_set_new(body, "group", json_string(o->group));
	if (o->constraint_count) {
		json_t *list = json_array();

		json_object_set_new(body, "placementConstraints", list);
		for (int i = 0; i < o->constraint_count; i++) {
			json_t *c = constraint_json(o->constraints[i], err);

			if (!c)
				goto out;
			json_array_append_new(list, c);
		}
	}
	if (o->strategy_count) {
		json_t *list = json_array();

		json_object_set_new(body, "placementStrategy", list);
		for (int i = 0; i < o->strategy_count; i++) {
			json_t *s = strategy_json(o->strategies[i], err);

			if (!s)
				goto out;
			json_array_append_new(list, s);
		}
	}
	co = container_override(o, err);
	if (co) {
		if (!json_object_get(co, "name")) {
			/* The first container of the definition, as the server names it. */
			cleanup_free char *ref = cli_escape(o->argv[0]), *tdpath = NULL;
			json_t *td = NULL;

			if (!ref || asprintf(&tdpath, "/v1/task-definitions/%s", ref) < 0) {
				tdpath = NULL;
				json_decref(co);
				orch_fail_errno(err, ENOMEM, "building the request");
				goto out;
			}
			if (cli_call(conn, "GET", tdpath, NULL, 0, &td, err) < 0) {
				json_decref(co);
				orch_error_prefix(err, "task definition '%s'", o->argv[0]);
				goto out;
			}
			json_object_set(co, "name", json_object_get(json_array_get(json_object_get(
				json_object_get(td, "taskDefinition"), "containerDefinitions"), 0), "name"));
			json_decref(td);
		}
		json_object_set_new(body, "overrides", json_pack("{s:[o]}", "containerOverrides", co));
	}
	text = json_dumps(body, JSON_COMPACT);
	if (!text || !cluster || asprintf(&path, "/v1/clusters/%s/tasks", cluster) < 0) {
		path = NULL;
		orch_fail_errno(err, ENOMEM, "building the request");
		goto out;
	}
	if (cli_call(conn, "POST", path, text, strlen(text), &reply, err) < 0) {
		orch_error_prefix(err, "running '%s'", o->argv[0]);
		goto out;
	}
	if (o->json)
		cli_print_json(reply);
	else
		print_tasks(json_object_get(reply, "tasks"));
	rc = 0;
out:
	json_decref(reply);
	json_decref(body);
	return rc;
}

static int task_ls(struct cli_conn *conn, const struct task_options *o, orch_error *err)
{
	cleanup_free char *path = NULL, *query = NULL;
	cleanup_free char *family = o->family ? cli_escape(o->family) : NULL;
	cleanup_free char *desired = o->desired_status ? cli_escape(o->desired_status) : NULL;
	cleanup_free char *node = o->node ? cli_escape(o->node) : NULL;
	json_t *tasks = NULL;

	if (task_path(o, "", &path, err) < 0)
		return -1;
	if (asprintf(&query, "%s%s%s%s%s%s%s%s", family ? "family=" : "", family ? family : "",
		     family && (desired || node) ? "&" : "",
		     desired ? "desiredStatus=" : "", desired ? desired : "",
		     desired && node ? "&" : "", node ? "node=" : "", node ? node : "") < 0) {
		query = NULL;
		return orch_fail_errno(err, ENOMEM, "listing");
	}
	if (cli_list_all(conn, path, query, "tasks", &tasks, err) < 0)
		return orch_error_prefix(err, "listing tasks in cluster '%s'", o->cluster);
	if (o->json) {
		json_t *arns = json_array(), *t, *out;
		size_t i;

		json_array_foreach(tasks, i, t)
			json_array_append(arns, json_object_get(t, "taskArn"));
		out = json_pack("{s:o, s:o}", "taskArns", arns, "tasks", tasks);
		cli_print_json(out);
		json_decref(out);
		return 0;
	}
	print_tasks(tasks);
	json_decref(tasks);
	return 0;
}

static void print_time(const char *label, json_t *v)
{
	if (json_is_number(v))
		printf("%-15s %.3f\n", label, json_number_value(v));
}

static int task_show_or_stop(struct cli_conn *conn, const struct task_options *o, bool stop,
			     orch_error *err)
{
	cleanup_free char *path = NULL, *text = NULL;
	json_t *reply = NULL, *t, *c;
	struct cli_table tbl = { .columns = 5 };
	size_t i;

	if (task_path(o, stop ? "/stop" : "", &path, err) < 0)
		return -1;
	if (stop && o->reason) {
		json_t *body = json_pack("{s:s}", "reason", o->reason);

		text = json_dumps(body, JSON_COMPACT);
		json_decref(body);
	}
	if (cli_call(conn, stop ? "POST" : "GET", path, text, text ? strlen(text) : 0, &reply, err) < 0)
		return orch_error_prefix(err, "task '%s'", o->argv[0]);
	if (o->json) {
		cli_print_json(reply);
		json_decref(reply);
		return 0;
	}
	t = json_object_get(reply, "task");
	if (stop) {
		printf("task %s: desired %s, last %s\n", cli_str(json_object_get(t, "taskId")),
		       cli_str(json_object_get(t, "desiredStatus")),
		       cli_str(json_object_get(t, "lastStatus")));
		json_decref(reply);
		return 0;
	}
	printf("%-15s %s\n", "task", cli_str(json_object_get(t, "taskArn")));
	printf("%-15s %s\n", "definition", cli_str(json_object_get(t, "taskDefinitionArn")));
	printf("%-15s %s\n", "node", cli_str(json_object_get(t, "containerInstanceArn")));
	printf("%-15s %s\n", "last status", cli_str(json_object_get(t, "lastStatus")));
	printf("%-15s %s\n", "desired status", cli_str(json_object_get(t, "desiredStatus")));
	printf("%-15s %s\n", "health", cli_str(json_object_get(t, "healthStatus")));
	printf("%-15s cpu %s, memory %s\n", "reserved", cli_str(json_object_get(t, "cpu")),
	       cli_str(json_object_get(t, "memory")));
	printf("%-15s %s\n", "group", cli_str(json_object_get(t, "group")));
	printf("%-15s %s\n", "started by", cli_str(json_object_get(t, "startedBy")));
	if (json_is_string(json_object_get(t, "pendingReason")))
		printf("%-15s %s\n", "pending reason", cli_str(json_object_get(t, "pendingReason")));
	if (json_is_string(json_object_get(t, "stopCode")))
		printf("%-15s %s: %s\n", "stopped", cli_str(json_object_get(t, "stopCode")),
		       cli_str(json_object_get(t, "stoppedReason")));
	print_time("created at", json_object_get(t, "createdAt"));
	print_time("started at", json_object_get(t, "startedAt"));
	print_time("stopping at", json_object_get(t, "stoppingAt"));
	print_time("stopped at", json_object_get(t, "stoppedAt"));
	putchar('\n');
	cli_table_row(&tbl, (const char *[]){ "CONTAINER", "STATUS", "EXIT", "HEALTH", "REASON" });
	json_array_foreach(json_object_get(t, "containers"), i, c) {
		char exit_code[24] = "-";

		if (json_is_integer(json_object_get(c, "exitCode")))
			snprintf(exit_code, sizeof(exit_code), "%lld",
				 (long long)json_integer_value(json_object_get(c, "exitCode")));
		cli_table_row(&tbl, (const char *[]){ cli_str(json_object_get(c, "name")),
			cli_str(json_object_get(c, "lastStatus")), exit_code,
			cli_str(json_object_get(c, "healthStatus")), cli_str(json_object_get(c, "reason")) });
	}
	cli_table_print_release(&tbl);
	json_decref(reply);
	return 0;
}

static int task_show(struct cli_conn *conn, const struct task_options *o, orch_error *err)
{
	return task_show_or_stop(conn, o, false, err);
}

static int task_stop(struct cli_conn *conn, const struct task_options *o, orch_error *err)
{
	return task_show_or_stop(conn, o, true, err);
}

/* ---- dispatch ------------------------------------------------------------ */

/* ---- task logs, exec ---------------------------------------------------- */

static int task_logs(struct cli_conn *conn, const struct task_options *o, orch_error *err)
{
	cleanup_free char *path = NULL, *container = o->container ? cli_escape(o->container) : NULL;
	char query[512];

	snprintf(query, sizeof(query), "/logs?format=text%s%s%s", o->follow ? "&follow=1" : "",
		 container ? "&container=" : "", container ? container : "");
	if (o->tail >= 0)
		snprintf(query + strlen(query), sizeof(query) - strlen(query), "&tail=%ld", o->tail);
	if (task_path(o, query, &path, err) < 0)
		return -1;
	return cli_task_logs_stream(conn, path, err);
}

/* Returns the command's exit code (cli_task_exec.h), which orch exits with. */
static int task_exec(struct cli_conn *conn, const struct task_options *o, orch_error *err)
{
	struct cli_exec_options x = { .container = o->container, .interactive = o->interactive,
				      .tty = o->tty, .argv = o->cmd_argv, .argc = o->cmd_argc };
	cleanup_free char *path = NULL;

	if (o->cmd_argc == 0)
		return orch_fail(err, ORCH_ERR_INVALID, "task exec: no command (after --)");
	if (task_path(o, "/exec", &path, err) < 0)
		return -1;
	return cli_task_exec_run(conn, path, &x, err);
}

struct task_verb {
	const char *verb;
	const char *usage;
	int min_args, max_args;
	int (*run)(struct cli_conn *conn, const struct task_options *o, orch_error *err);
};

static const struct task_verb task_verbs[] = {
	{ "run", "orch task run FAMILY[:REV] [--count N] [--cluster C] [--started-by S] [--group G]\n"
	  "        [--constraint distinctInstance|'memberOf:EXPR']... "
	  "[--strategy binpack:cpu|memory|spread:FIELD|random]...\n"
	  "        [--container NAME] [--env K=V]... [--command 'CMD ARGS' | -- CMD ARGS...]",
	  1, 1, task_run },
	{ "ls", "orch task ls [--cluster C] [--family F] [--desired-status RUNNING|STOPPED|ALL] [--node N]",
	  0, 0, task_ls },
	{ "show", "orch task show ID|ARN [--cluster C]", 1, 1, task_show },
	{ "stop", "orch task stop ID|ARN [--reason R] [--cluster C]", 1, 1, task_stop },
	{ "logs", "orch task logs ID|ARN [-f|--follow] [--tail N] [-c|--container NAME] [--cluster C]",
	  1, 1, task_logs },
	{ "exec", "orch task exec ID|ARN [-c|--container NAME] [-i|--interactive] [-t|--tty] "
	  "[--cluster C] -- CMD ARGS...\n"
	  "        runs CMD in the task's container (default: its first essential container);\n"
	  "        -i forwards stdin, -t gives it a terminal; exits with CMD's exit code",
	  1, 1, task_exec },
};

static void task_usage(FILE *out)
{
	fprintf(out, "usage:\n");
	for (size_t i = 0; i < sizeof(task_verbs) / sizeof(task_verbs[0]); i++)
		fprintf(out, "  %s\n", task_verbs[i].usage);
	fprintf(out, "\ncommon options: --server URL, --token TOKEN, --data DIR, --ca FILE, --json\n");
}

int cli_task_main(int argc, char **argv)
{
	struct task_options o = { 0 };
	const struct task_verb *verb = NULL;
	orch_error err = ORCH_ERROR_INIT;
	struct cli_conn conn;
	int rc;

	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
		task_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	for (size_t i = 0; i < sizeof(task_verbs) / sizeof(task_verbs[0]); i++)
		if (strcmp(task_verbs[i].verb, argv[1]) == 0)
			verb = &task_verbs[i];
	if (!verb) {
		fprintf(stderr, "orch task: unknown command '%s'\n", argv[1]);
		task_usage(stderr);
		return 2;
	}
	rc = parse_task_options(argc - 1, argv + 1, &o);
	if (rc > 0) {
		printf("usage: %s\n", verb->usage);
		return 0;
	}
	if (rc < 0 || o.argc < verb->min_args || o.argc > verb->max_args ||
	    (o.cmd_argc > 0 && verb->run != task_run && verb->run != task_exec)) {
		fprintf(stderr, "usage: %s\n", verb->usage);
		return 2;
	}
	if (cli_conn_resolve(o.server, o.token, o.data, &conn, &err) < 0) {
		fprintf(stderr, "orch: %s\n", err.message);
		return 1;
	}
	rc = verb->run(&conn, &o, &err);
	cli_conn_release(&conn);
	if (rc < 0) {
		fprintf(stderr, "orch: %s\n", err.message);
		return 1;
	}
	return rc;	/* 0, or exec's exit code */
}
