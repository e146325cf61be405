/*
 * cli_node.c - `orch node ls|show|drain|activate|rm`: the cluster's nodes
 * (ECS container instances).
 *
 *   orch node ls [--cluster C] [--status ACTIVE|DRAINING|LOST|INACTIVE]
 *   orch node show ID|ARN [--cluster C]
 *   orch node drain ID|ARN [--cluster C]      nothing new is placed on it
 *   orch node activate ID|ARN [--cluster C]
 *   orch node rm ID|ARN [--force] [--cluster C]   deregister (revokes its credential)
 */
#include "cli_task.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"

struct node_options {
	const char *server, *token, *data, *cluster, *status;
	bool json, force;
	int argc;
	char **argv;
};

static int parse_node_options(int argc, char **argv, struct node_options *o)
{
	enum { O_SERVER = 1, O_TOKEN, O_DATA, O_JSON, O_CLUSTER, O_STATUS, O_FORCE, O_HELP };
	static const struct option longopts[] = {
		{ "server", required_argument, NULL, O_SERVER },
		{ "token", required_argument, NULL, O_TOKEN },
		{ "data", required_argument, NULL, O_DATA },
		{ "json", no_argument, NULL, O_JSON },
		{ "cluster", required_argument, NULL, O_CLUSTER },
		{ "status", required_argument, NULL, O_STATUS },
		{ "force", no_argument, NULL, O_FORCE },
		{ "help", no_argument, NULL, O_HELP },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	o->cluster = "default";
	optind = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case O_SERVER: o->server = optarg; break;
		case O_TOKEN: o->token = optarg; break;
		case O_DATA: o->data = optarg; break;
		case O_JSON: o->json = true; break;
		case O_CLUSTER: o->cluster = optarg; break;
		case O_STATUS: o->status = optarg; break;
		case O_FORCE: o->force = true; break;
		case O_HELP: return 1;
		default: return -1;
		}
	}
	o->argc = argc - optind;
	o->argv = argv + optind;
	return 0;
}

static int64_t resource(json_t *list, const char *name)
{
	json_t *r;
	size_t i;

	json_array_foreach(list, i, r)
		if (strcmp(cli_str(json_object_get(r, "name")), name) == 0)
			return json_integer_value(json_object_get(r, "integerValue"));
	return 0;
}

static void print_nodes(json_t *nodes)
{
	struct cli_table t = { .columns = 7 };
	json_t *n;
	size_t i;

	cli_table_row(&t, (const char *[]){ "NODE", "NAME", "STATUS", "CONNECTED", "CPU FREE/TOTAL",
					    "MEMORY FREE/TOTAL", "TASKS" });
	json_array_foreach(nodes, i, n) {
		char cpu[64], mem[64], tasks[32];
		json_t *reg = json_object_get(n, "registeredResources");
		json_t *rem = json_object_get(n, "remainingResources");

		snprintf(cpu, sizeof(cpu), "%lld/%lld", (long long)resource(rem, "CPU"),
			 (long long)resource(reg, "CPU"));
		snprintf(mem, sizeof(mem), "%lld/%lld", (long long)resource(rem, "MEMORY"),
			 (long long)resource(reg, "MEMORY"));
		snprintf(tasks, sizeof(tasks), "%lld",
			 (long long)(json_integer_value(json_object_get(n, "runningTasksCount")) +
				     json_integer_value(json_object_get(n, "pendingTasksCount"))));
		cli_table_row(&t, (const char *[]){ cli_str(json_object_get(n, "nodeId")),
			cli_str(json_object_get(n, "nodeName")), cli_str(json_object_get(n, "status")),
			json_is_true(json_object_get(n, "agentConnected")) ? "yes" : "no",
			cpu, mem, tasks });
	}
	cli_table_print_release(&t);
}

static int node_path(const struct node_options *o, char **out, orch_error *err)
{
	cleanup_free char *cluster = cli_escape(o->cluster);
	cleanup_free char *id = o->argc > 0 ? cli_escape(o->argv[0]) : NULL;

	if (!cluster || asprintf(out, "/v1/clusters/%s/nodes%s%s%s", cluster, id ? "/" : "",
				 id ? id : "", o->force ? "?force=true" : "") < 0) {
		*out = NULL;
		return orch_fail_errno(err, ENOMEM, "building the request");
	}
	return 0;
}

static int node_ls(struct cli_conn *conn, const struct node_options *o, orch_error *err)
{
	cleanup_free char *path = NULL, *query = NULL, *status = o->status ? cli_escape(o->status) : NULL;
	json_t *nodes = NULL;

	if (node_path(o, &path, err) < 0)
		return -1;
	if (status && asprintf(&query, "status=%s", status) < 0) {
		query = NULL;
		return orch_fail_errno(err, ENOMEM, "listing");
	}
	if (cli_list_all(conn, path, query, "containerInstances", &nodes, err) < 0)
		return orch_error_prefix(err, "listing nodes of cluster '%s'", o->cluster);
	if (o->json) {
		json_t *arns = json_array(), *n, *out;
		size_t i;

		json_array_foreach(nodes, i, n)
			json_array_append(arns, json_object_get(n, "containerInstanceArn"));
		out = json_pack("{s:o, s:o}", "containerInstanceArns", arns, "containerInstances", nodes);
		cli_print_json(out);
		json_decref(out);
		return 0;
	}
	print_nodes(nodes);
	json_decref(nodes);
	return 0;
}

static int node_call(struct cli_conn *conn, const struct node_options *o, const char *method,
		     const char *status, orch_error *err)
{
	cleanup_free char *path = NULL, *text = NULL;
	json_t *reply = NULL, *n, *attr;
	size_t i;

	if (node_path(o, &path, err) < 0)
		return -1;
	if (status) {
		json_t *body = json_pack("{s:s}", "status", status);

		text = json_dumps(body, JSON_COMPACT);
		json_decref(body);
	}
	if (cli_call(conn, method, path, text, text ? strlen(text) : 0, &reply, err) < 0)
		return orch_error_prefix(err, "node '%s'", o->argv[0]);
	n = json_object_get(reply, "containerInstance");
	if (o->json) {
		cli_print_json(reply);
	} else if (strcmp(method, "GET") != 0) {
		printf("node %s (%s) is %s\n", cli_str(json_object_get(n, "nodeId")),
		       cli_str(json_object_get(n, "nodeName")), cli_str(json_object_get(n, "status")));
	} else {
		json_t *list = json_pack("[O]", n);

		print_nodes(list);
		json_decref(list);
		printf("\narn        %s\naddress    %s\nattributes",
		       cli_str(json_object_get(n, "containerInstanceArn")),
		       cli_str(json_object_get(n, "advertiseAddress")));
		json_array_foreach(json_object_get(n, "attributes"), i, attr)
			printf(" %s=%s", cli_str(json_object_get(attr, "name")),
			       cli_str(json_object_get(attr, "value")));
		putchar('\n');
	}
	json_decref(reply);
	return 0;
}

static int node_show(struct cli_conn *c, const struct node_options *o, orch_error *err)
{
	return node_call(c, o, "GET", NULL, err);
}

static int node_drain(struct cli_conn *c, const struct node_options *o, orch_error *err)
{
	return node_call(c, o, "PATCH", "DRAINING", err);
}

static int node_activate(struct cli_conn *c, const struct node_options *o, orch_error *err)
{
	return node_call(c, o, "PATCH", "ACTIVE", err);
}

static int node_rm(struct cli_conn *c, const struct node_options *o, orch_error *err)
{
	return node_call(c, o, "DELETE", NULL, err);
}

struct node_verb {
	const char *verb;
	const char *usage;
	int args;
	int (*run)(struct cli_conn *conn, const struct node_options *o, orch_error *err);
};

static const struct node_verb node_verbs[] = {
	{ "ls", "orch node ls [--cluster C] [--status ACTIVE|DRAINING|LOST|INACTIVE]", 0, node_ls },
	{ "show", "orch node show ID|ARN [--cluster C]", 1, node_show },
	{ "drain", "orch node drain ID|ARN [--cluster C]", 1, node_drain },
	{ "activate", "orch node activate ID|ARN [--cluster C]", 1, node_activate },
	{ "rm", "orch node rm ID|ARN [--force] [--cluster C]", 1, node_rm },
};

static void node_usage(FILE *out)
{
	fprintf(out, "usage:\n");
	for (size_t i = 0; i < sizeof(node_verbs) / sizeof(node_verbs[0]); i++)
		fprintf(out, "  %s\n", node_verbs[i].usage);
	fprintf(out, "\ncommon options: --server URL, --token TOKEN, --data DIR, --ca FILE, --json\n");
}

int cli_node_main(int argc, char **argv)
{
	struct node_options o = { 0 };
	const struct node_verb *verb = NULL;
	orch_error err = ORCH_ERROR_INIT;
	struct cli_conn conn;
	int rc;

	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
		node_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	for (size_t i = 0; i < sizeof(node_verbs) / sizeof(node_verbs[0]); i++)
		if (strcmp(node_verbs[i].verb, argv[1]) == 0)
			verb = &node_verbs[i];
	if (!verb) {
		fprintf(stderr, "orch node: unknown command '%s'\n", argv[1]);
		node_usage(stderr);
		return 2;
	}
	rc = parse_node_options(argc - 1, argv + 1, &o);
	if (rc > 0) {
		printf("usage: %s\n", verb->usage);
		return 0;
	}
	if (rc < 0 || o.argc != verb->args) {
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
	return 0;
}
