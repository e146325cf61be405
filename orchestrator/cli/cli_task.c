/*
 * cli_task.c - `orch task run|ls|show|stop|logs|exec`.
 *
 *   orch task run FAMILY[:REV] [--count N] [--cluster C] [--started-by S]
 *       [--group G] [--constraint 'memberOf:EXPR'|distinctInstance]...
 *       [--strategy binpack:memory|spread:attribute:zone|random]...
 *       [--container NAME] [--env K=V]... [--command 'CMD ARGS'] [-- CMD ARGS...]
 *   orch task ls [--cluster C] [--family F] [--desired-status S] [--node N]
 *   orch task show ID|ARN [--cluster C]
 *   orch task stop ID|ARN [--reason R] [--cluster C]
 *   orch task logs ID|ARN [-f] [--tail N] [-c NAME] [--cluster C]
 *   orch task exec ID|ARN [-c NAME] [-i] [-t] [--cluster C] -- CMD ARGS...
 *
 * --env and --command override the container named by --container (the
 * first container by default).  The global flags (--server, --token, --ca,
 * --data, --json, --cluster) and the dispatch are cli_verbs.h's.
 */
#include "cli_verbs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_http.h"
#include "cli_output.h"
#include "cli_task_exec.h"
#include "cli_task_logs.h"
#include "common/cleanup.h"

#define TASK_MAX_LIST_ARGS 16
/* RunTask's count when --count is not given, and its limit. */
#define TASK_RUN_DEFAULT_COUNT 1
#define TASK_RUN_MAX_COUNT 10

/* task's own flags (each verb reads those its usage line names). */
struct task_options {
	long count;		/* 0: TASK_RUN_DEFAULT_COUNT */
	const char *started_by, *group, *container, *command, *reason;
	const char *family, *desired_status, *node;
	bool follow;		/* logs */
	bool tail_given;	/* logs: --tail */
	long tail;
	bool interactive, tty;	/* exec */
	const char *constraints[TASK_MAX_LIST_ARGS];
	int constraint_count;
	const char *strategies[TASK_MAX_LIST_ARGS];
	int strategy_count;
	const char *env[TASK_MAX_LIST_ARGS];
	int env_count;
};

enum {
	TASK_OPT_COUNT = CLI_OPTION_NOUN,
	TASK_OPT_STARTED_BY,
	TASK_OPT_GROUP,
	TASK_OPT_CONSTRAINT,
	TASK_OPT_STRATEGY,
	TASK_OPT_ENV,
	TASK_OPT_COMMAND,
	TASK_OPT_REASON,
	TASK_OPT_FAMILY,
	TASK_OPT_DESIRED_STATUS,
	TASK_OPT_NODE,
	TASK_OPT_TAIL,
	TASK_OPT_CONTAINER = 'c',
	TASK_OPT_FOLLOW = 'f',
	TASK_OPT_INTERACTIVE = 'i',
	TASK_OPT_TTY = 't',
};

static const struct option task_flags[] = {
	{ "count", required_argument, NULL, TASK_OPT_COUNT },
	{ "started-by", required_argument, NULL, TASK_OPT_STARTED_BY },
	{ "group", required_argument, NULL, TASK_OPT_GROUP },
	{ "constraint", required_argument, NULL, TASK_OPT_CONSTRAINT },
	{ "strategy", required_argument, NULL, TASK_OPT_STRATEGY },
	{ "env", required_argument, NULL, TASK_OPT_ENV },
	{ "command", required_argument, NULL, TASK_OPT_COMMAND },
	{ "container", required_argument, NULL, TASK_OPT_CONTAINER },
	{ "reason", required_argument, NULL, TASK_OPT_REASON },
	{ "family", required_argument, NULL, TASK_OPT_FAMILY },
	{ "desired-status", required_argument, NULL, TASK_OPT_DESIRED_STATUS },
	{ "node", required_argument, NULL, TASK_OPT_NODE },
	{ "follow", no_argument, NULL, TASK_OPT_FOLLOW },
	{ "tail", required_argument, NULL, TASK_OPT_TAIL },
	{ "interactive", no_argument, NULL, TASK_OPT_INTERACTIVE },
	{ "tty", no_argument, NULL, TASK_OPT_TTY },
	{ NULL, 0, NULL, 0 },
};

static int task_option(void *options, int code, const char *arg)
{
	struct task_options *o = options;
	char *end;

	switch (code) {
	case TASK_OPT_COUNT:
		errno = 0;
		o->count = strtol(arg, &end, 10);
		if (errno || *end || o->count < 1 || o->count > TASK_RUN_MAX_COUNT) {
			fprintf(stderr, "orch task: --count: must be 1 to %d\n", TASK_RUN_MAX_COUNT);
			return -1;
		}
		return 0;
	case TASK_OPT_STARTED_BY: o->started_by = arg; return 0;
	case TASK_OPT_GROUP: o->group = arg; return 0;
	case TASK_OPT_CONSTRAINT:
		return cli_flag_list_add(o->constraints, &o->constraint_count, TASK_MAX_LIST_ARGS, arg,
					 "task", "--constraint");
	case TASK_OPT_STRATEGY:
		return cli_flag_list_add(o->strategies, &o->strategy_count, TASK_MAX_LIST_ARGS, arg,
					 "task", "--strategy");
	case TASK_OPT_ENV:
		if (!strchr(arg, '=')) {
			fprintf(stderr, "orch task: --env: expected K=V, got '%s'\n", arg);
			return -1;
		}
		return cli_flag_list_add(o->env, &o->env_count, TASK_MAX_LIST_ARGS, arg, "task",
					 "--env");
	case TASK_OPT_COMMAND: o->command = arg; return 0;
	case TASK_OPT_CONTAINER: o->container = arg; return 0;
	case TASK_OPT_FOLLOW: o->follow = true; return 0;
	case TASK_OPT_INTERACTIVE: o->interactive = true; return 0;
	case TASK_OPT_TTY: o->tty = true; return 0;
	case TASK_OPT_TAIL:
		errno = 0;
		o->tail = strtol(arg, &end, 10);
		if (errno || *end || o->tail < 0) {
			fprintf(stderr, "orch task: --tail: must be a number of lines\n");
			return -1;
		}
		o->tail_given = true;
		return 0;
	case TASK_OPT_REASON: o->reason = arg; return 0;
	case TASK_OPT_FAMILY: o->family = arg; return 0;
	case TASK_OPT_DESIRED_STATUS: o->desired_status = arg; return 0;
	case TASK_OPT_NODE: o->node = arg; return 0;
	}
	return -1;
}

/* ---- task run ------------------------------------------------------------ */

static json_t *container_override(const struct cli_args *a)
{
	const struct task_options *o = a->options;
	json_t *co, *cmd = NULL;

	if (o->env_count == 0 && !o->command && a->cmd_argc == 0)
		return NULL;
	co = json_object();
	if (o->container)
		json_object_set_new(co, "name", json_string(o->container));
	if (a->cmd_argc > 0) {
		cmd = json_array();
		for (int i = 0; i < a->cmd_argc; i++)
			json_array_append_new(cmd, json_string(a->cmd_argv[i]));
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

static int task_path(const struct cli_args *a, const char *suffix, char **out,
		     orch_error *err)
{
	cleanup_free char *cluster = cli_escape(a->cluster);
	cleanup_free char *id = a->argc > 0 ? cli_escape(a->argv[0]) : NULL;

	if (!cluster || asprintf(out, "/v1/clusters/%s/tasks%s%s%s", cluster, id ? "/" : "",
				 id ? id : "", suffix) < 0) {
		*out = NULL;
		return orch_fail_errno(err, ENOMEM, "building the request");
	}
	return 0;
}

static int task_run(struct cli_conn *conn, const struct cli_args *a, orch_error *err)
{
	const struct task_options *o = a->options;
	json_t *body = json_pack("{s:s, s:i}", "taskDefinition", a->argv[0], "count",
				 (int)(o->count ? o->count : TASK_RUN_DEFAULT_COUNT));
	json_t *reply = NULL, *co;
	cleanup_free char *text = NULL, *cluster = cli_escape(a->cluster), *path = NULL;
	int rc = -1;

	if (o->started_by)
		json_object_set_new(body, "startedBy", json_string(o->started_by));
	if (o->group)
		json_object_set_new(body, "group", json_string(o->group));
	if (cli_set_placement(body, "placementConstraints", o->constraints, o->constraint_count,
			      cli_placement_constraint, err) < 0 ||
	    cli_set_placement(body, "placementStrategy", o->strategies, o->strategy_count,
			      cli_placement_strategy, err) < 0)
		goto out;
	co = container_override(a);
	if (co) {
		if (!json_object_get(co, "name")) {
			/* The first container of the definition, as the server names it. */
			json_t *td = NULL;

			if (cli_call_named(conn, "GET", "/v1/task-definitions/", a->argv[0], NULL, 0,
					   &td, err) < 0) {
				json_decref(co);
				orch_error_prefix(err, "task definition '%s'", a->argv[0]);
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
		orch_error_prefix(err, "running '%s'", a->argv[0]);
		goto out;
	}
	if (a->json)
		cli_print_json(reply);
	else
		print_tasks(json_object_get(reply, "tasks"));
	rc = 0;
out:
	json_decref(reply);
	json_decref(body);
	return rc;
}

static int task_ls(struct cli_conn *conn, const struct cli_args *a, orch_error *err)
{
	const struct task_options *o = a->options;
	cleanup_free char *path = NULL, *query = NULL;
	cleanup_free char *family = o->family ? cli_escape(o->family) : NULL;
	cleanup_free char *desired = o->desired_status ? cli_escape(o->desired_status) : NULL;
	cleanup_free char *node = o->node ? cli_escape(o->node) : NULL;
	json_t *tasks = NULL;

	if (task_path(a, "", &path, err) < 0)
		return -1;
	if (asprintf(&query, "%s%s%s%s%s%s%s%s", family ? "family=" : "", family ? family : "",
		     family && (desired || node) ? "&" : "",
		     desired ? "desiredStatus=" : "", desired ? desired : "",
		     desired && node ? "&" : "", node ? "node=" : "", node ? node : "") < 0) {
		query = NULL;
		return orch_fail_errno(err, ENOMEM, "listing");
	}
	if (cli_list_all(conn, path, query, "tasks", &tasks, err) < 0)
		return orch_error_prefix(err, "listing tasks in cluster '%s'", a->cluster);
	if (a->json)
		cli_print_list_json(tasks, "tasks", "taskArns", "taskArn");
	else
		print_tasks(tasks);
	json_decref(tasks);
	return 0;
}

static void print_time(const char *label, json_t *v)
{
	if (json_is_number(v))
		printf("%-15s %.3f\n", label, json_number_value(v));
}

/*
 * A task size value: DescribeTasks gives "cpu" and "memory" as strings of
 * digits ("256"); 0 when absent or not a positive number.
 */
static double reserved_value(json_t *v)
{
	const char *s = json_string_value(v);
	char *end;
	double n;

	if (json_is_number(v))
		return json_number_value(v) > 0 ? json_number_value(v) : 0;
	if (!s || !*s)
		return 0;
	n = strtod(s, &end);
	return *end || n <= 0 ? 0 : n;
}

/*
 * The "usage" line of a running task (agent_protocol.h): CPU in units and
 * memory in MiB as its agent last measured them, each with its share of
 * what the task reserved when it has a task size.
 */
static void print_usage(json_t *task)
{
	json_t *usage = json_object_get(task, "usage");
	json_t *cpu = json_object_get(usage, "cpuUnits"), *mem = json_object_get(usage, "memoryMiB");
	double cpu_reserved = reserved_value(json_object_get(task, "cpu"));
	double mem_reserved = reserved_value(json_object_get(task, "memory"));
	char cpu_text[96] = "-", mem_text[96] = "-";

	if (!json_is_number(cpu) && !json_is_number(mem))
		return;
	if (json_is_number(cpu) && cpu_reserved > 0)
		snprintf(cpu_text, sizeof(cpu_text), "%.0f units (%.0f%% of %.0f reserved)",
			 json_number_value(cpu), json_number_value(cpu) * 100 / cpu_reserved,
			 cpu_reserved);
	else if (json_is_number(cpu))
		snprintf(cpu_text, sizeof(cpu_text), "%.0f units", json_number_value(cpu));
	if (json_is_number(mem) && mem_reserved > 0)
		snprintf(mem_text, sizeof(mem_text), "%.1f MiB (%.0f%% of %.0f)",
			 json_number_value(mem), json_number_value(mem) * 100 / mem_reserved,
			 mem_reserved);
	else if (json_is_number(mem))
		snprintf(mem_text, sizeof(mem_text), "%.1f MiB", json_number_value(mem));
	printf("%-15s CPU: %s  Memory: %s\n", "usage", cpu_text, mem_text);
}

static int task_show_or_stop(struct cli_conn *conn, const struct cli_args *a, bool stop,
			     orch_error *err)
{
	const struct task_options *o = a->options;
	cleanup_free char *path = NULL, *text = NULL;
	json_t *reply = NULL, *t, *c;
	struct cli_table tbl = { .columns = 5 };
	size_t i;

	if (task_path(a, stop ? "/stop" : "", &path, err) < 0)
		return -1;
	if (stop && o->reason) {
		json_t *body = json_pack("{s:s}", "reason", o->reason);

		text = json_dumps(body, JSON_COMPACT);
		json_decref(body);
	}
	if (cli_call(conn, stop ? "POST" : "GET", path, text, text ? strlen(text) : 0, &reply, err) < 0)
		return orch_error_prefix(err, "task '%s'", a->argv[0]);
	if (a->json) {
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
	print_usage(t);
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

static int task_show(struct cli_conn *conn, const struct cli_args *a, orch_error *err)
{
	return task_show_or_stop(conn, a, false, err);
}

static int task_stop(struct cli_conn *conn, const struct cli_args *a, orch_error *err)
{
	return task_show_or_stop(conn, a, true, err);
}

/* ---- task logs, exec ---------------------------------------------------- */

static int task_logs(struct cli_conn *conn, const struct cli_args *a, orch_error *err)
{
	const struct task_options *o = a->options;
	cleanup_free char *path = NULL, *container = o->container ? cli_escape(o->container) : NULL;
	char query[512];

	snprintf(query, sizeof(query), "/logs?format=text%s%s%s", o->follow ? "&follow=1" : "",
		 container ? "&container=" : "", container ? container : "");
	if (o->tail_given)
		snprintf(query + strlen(query), sizeof(query) - strlen(query), "&tail=%ld", o->tail);
	if (task_path(a, query, &path, err) < 0)
		return -1;
	return cli_task_logs_stream(conn, path, err);
}

/* Returns the command's exit code (cli_task_exec.h), which orch exits with. */
static int task_exec(struct cli_conn *conn, const struct cli_args *a, orch_error *err)
{
	const struct task_options *o = a->options;
	struct cli_exec_options x = { .container = o->container, .interactive = o->interactive,
				      .tty = o->tty, .argv = a->cmd_argv, .argc = a->cmd_argc };
	cleanup_free char *path = NULL;

	if (a->cmd_argc == 0)
		return orch_fail(err, ORCH_ERR_INVALID, "task exec: no command (after --)");
	if (task_path(a, "/exec", &path, err) < 0)
		return -1;
	return cli_task_exec_run(conn, path, &x, err);
}

static const struct cli_verb task_verbs[] = {
	{ "run", "orch task run FAMILY[:REV] [--count N] [--cluster C] [--started-by S] [--group G]\n"
	  "        [--constraint distinctInstance|'memberOf:EXPR']... "
	  "[--strategy binpack:cpu|memory|spread:FIELD|random]...\n"
	  "        [--container NAME] [--env K=V]... [--command 'CMD ARGS' | -- CMD ARGS...]",
	  1, 1, true, task_run },
	{ "ls", "orch task ls [--cluster C] [--family F] [--desired-status RUNNING|STOPPED|ALL] [--node N]",
	  0, 0, false, task_ls },
	{ "show", "orch task show ID|ARN [--cluster C]", 1, 1, false, task_show },
	{ "stop", "orch task stop ID|ARN [--reason R] [--cluster C]", 1, 1, false, task_stop },
	{ "logs", "orch task logs ID|ARN [-f|--follow] [--tail N] [-c|--container NAME] [--cluster C]",
	  1, 1, false, task_logs },
	{ "exec", "orch task exec ID|ARN [-c|--container NAME] [-i|--interactive] [-t|--tty] "
	  "[--cluster C] -- CMD ARGS...\n"
	  "        runs CMD in the task's container (default: its first essential container);\n"
	  "        -i forwards stdin, -t gives it a terminal; exits with CMD's exit code",
	  1, 1, true, task_exec },
};

const struct cli_noun cli_noun_task = {
	.name = "task",
	.summary = "run, list, show and stop tasks (orch task --help)",
	.verbs = task_verbs,
	.verb_count = sizeof(task_verbs) / sizeof(task_verbs[0]),
	.has_cluster = true,
	.short_options = "fc:it",
	.options = task_flags,
	.options_size = sizeof(struct task_options),
	.option = task_option,
};
