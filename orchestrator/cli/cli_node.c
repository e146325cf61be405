/*
 * cli_node.c - `orch node ls|show|drain|activate|rm`: the cluster's nodes
 * (ECS container instances).
 *
 *   orch node ls [--cluster C] [--status ACTIVE|DRAINING|LOST|INACTIVE]
 *   orch node show ID|ARN [--cluster C]
 *   orch node drain ID|ARN [--cluster C]      nothing new is placed on it
 *   orch node activate ID|ARN [--cluster C]
 *   orch node rm ID|ARN [--force] [--cluster C]   deregister (revokes its credential)
 *
 * Flags and dispatch: cli_verbs.h.
 */
#include "cli_verbs.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_http.h"
#include "cli_output.h"
#include "common/cleanup.h"

/* node's own flags. */
struct node_options {
	const char *status;	/* ls */
	bool force;		/* rm */
};

enum { NODE_OPT_STATUS = CLI_OPTION_NOUN, NODE_OPT_FORCE };

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

static int node_path(const struct cli_args *a, char **out, orch_error *err)
{
	const struct node_options *o = a->options;
	cleanup_free char *cluster = cli_escape(a->cluster);
	cleanup_free char *id = a->argc > 0 ? cli_escape(a->argv[0]) : NULL;

	if (!cluster || asprintf(out, "/v1/clusters/%s/nodes%s%s%s", cluster, id ? "/" : "",
				 id ? id : "", o->force ? "?force=true" : "") < 0) {
		*out = NULL;
		return orch_fail_errno(err, ENOMEM, "building the request");
	}
	return 0;
}

static int node_ls(struct cli_conn *conn, const struct cli_args *a, orch_error *err)
{
	const struct node_options *o = a->options;
	cleanup_free char *path = NULL, *query = NULL, *status = o->status ? cli_escape(o->status) : NULL;
	json_t *nodes = NULL;

	if (node_path(a, &path, err) < 0)
		return -1;
	if (status && asprintf(&query, "status=%s", status) < 0) {
		query = NULL;
		return orch_fail_errno(err, ENOMEM, "listing");
	}
	if (cli_list_all(conn, path, query, "containerInstances", &nodes, err) < 0)
		return orch_error_prefix(err, "listing nodes of cluster '%s'", a->cluster);
	if (a->json)
		cli_print_list_json(nodes, "containerInstances", "containerInstanceArns",
				    "containerInstanceArn");
	else
		print_nodes(nodes);
	json_decref(nodes);
	return 0;
}

static int node_call(struct cli_conn *conn, const struct cli_args *a, const char *method,
		     const char *status, orch_error *err)
{
	cleanup_free char *path = NULL, *text = NULL;
	json_t *reply = NULL, *n, *attr;
	size_t i;

	if (node_path(a, &path, err) < 0)
		return -1;
	if (status) {
		json_t *body = json_pack("{s:s}", "status", status);

		text = json_dumps(body, JSON_COMPACT);
		json_decref(body);
	}
	if (cli_call(conn, method, path, text, text ? strlen(text) : 0, &reply, err) < 0)
		return orch_error_prefix(err, "node '%s'", a->argv[0]);
	n = json_object_get(reply, "containerInstance");
	if (a->json) {
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

static int node_show(struct cli_conn *c, const struct cli_args *a, orch_error *err)
{
	return node_call(c, a, "GET", NULL, err);
}

static int node_drain(struct cli_conn *c, const struct cli_args *a, orch_error *err)
{
	return node_call(c, a, "PATCH", "DRAINING", err);
}

static int node_activate(struct cli_conn *c, const struct cli_args *a, orch_error *err)
{
	return node_call(c, a, "PATCH", "ACTIVE", err);
}

static int node_rm(struct cli_conn *c, const struct cli_args *a, orch_error *err)
{
	return node_call(c, a, "DELETE", NULL, err);
}

static int node_option(void *options, int code, const char *arg)
{
	struct node_options *o = options;

	switch (code) {
	case NODE_OPT_STATUS: o->status = arg; return 0;
	case NODE_OPT_FORCE: o->force = true; return 0;
	}
	return -1;
}

static const struct option node_flags[] = {
	{ "status", required_argument, NULL, NODE_OPT_STATUS },
	{ "force", no_argument, NULL, NODE_OPT_FORCE },
	{ NULL, 0, NULL, 0 },
};

static const struct cli_verb node_verbs[] = {
	{ "ls", "orch node ls [--cluster C] [--status ACTIVE|DRAINING|LOST|INACTIVE]", 0, 0, false,
	  node_ls },
	{ "show", "orch node show ID|ARN [--cluster C]", 1, 1, false, node_show },
	{ "drain", "orch node drain ID|ARN [--cluster C]", 1, 1, false, node_drain },
	{ "activate", "orch node activate ID|ARN [--cluster C]", 1, 1, false, node_activate },
	{ "rm", "orch node rm ID|ARN [--force] [--cluster C]", 1, 1, false, node_rm },
};

const struct cli_noun cli_noun_node = {
	.name = "node",
	.summary = "list, show, drain and activate nodes (orch node --help)",
	.verbs = node_verbs,
	.verb_count = sizeof(node_verbs) / sizeof(node_verbs[0]),
	.has_cluster = true,
	.options = node_flags,
	.options_size = sizeof(struct node_options),
	.option = node_option,
};
