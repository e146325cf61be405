/*
 * cli_cluster.c - `orch cluster create|ls|show|rm` (CreateCluster,
 * ListClusters, DescribeClusters, DeleteCluster).  Flags and dispatch:
 * cli_verbs.h.
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

static void cluster_row(struct cli_table *t, json_t *c)
{
	char running[32], pending[32], services[32];

	cli_format_int(running, sizeof(running), json_object_get(c, "runningTasksCount"));
	cli_format_int(pending, sizeof(pending), json_object_get(c, "pendingTasksCount"));
	cli_format_int(services, sizeof(services), json_object_get(c, "activeServicesCount"));
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

static int cluster_create(struct cli_conn *conn, const struct cli_args *a, orch_error *err)
{
	json_t *body = json_pack("{s:s}", "clusterName", a->argv[0]);
	cleanup_free char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_t *reply = NULL;

	json_decref(body);
	if (!text)
		return orch_fail_errno(err, ENOMEM, "building the request");
	if (cli_call(conn, "POST", "/v1/clusters", text, strlen(text), &reply, err) < 0)
		return orch_error_prefix(err, "creating cluster '%s'", a->argv[0]);
	if (a->json)
		cli_print_json(reply);
	else
		printf("cluster %s is ACTIVE\n", a->argv[0]);
	json_decref(reply);
	return 0;
}

static int cluster_ls(struct cli_conn *conn, const struct cli_args *a, orch_error *err)
{
	json_t *clusters = NULL;

	if (cli_list_all(conn, "/v1/clusters", NULL, "clusters", &clusters, err) < 0)
		return -1;
	if (a->json)
		cli_print_list_json(clusters, "clusters", "clusterArns", "clusterArn");
	else
		print_clusters(clusters);
	json_decref(clusters);
	return 0;
}

static int cluster_show_or_rm(struct cli_conn *conn, const struct cli_args *a,
			      const char *method, orch_error *err)
{
	json_t *reply = NULL;

	if (cli_call_named(conn, method, "/v1/clusters/", a->argv[0], NULL, 0, &reply, err) < 0)
		return orch_error_prefix(err, "cluster '%s'", a->argv[0]);
	if (a->json) {
		cli_print_json(reply);
	} else if (strcmp(method, "DELETE") == 0) {
		printf("deleted cluster %s\n", a->argv[0]);
	} else {
		json_t *list = json_pack("[O]", json_object_get(reply, "cluster"));

		print_clusters(list);
		json_decref(list);
	}
	json_decref(reply);
	return 0;
}

static int cluster_show(struct cli_conn *conn, const struct cli_args *a, orch_error *err)
{
	return cluster_show_or_rm(conn, a, "GET", err);
}

static int cluster_rm(struct cli_conn *conn, const struct cli_args *a, orch_error *err)
{
	return cluster_show_or_rm(conn, a, "DELETE", err);
}

static const struct cli_verb cluster_verbs[] = {
	{ "create", "orch cluster create NAME", 1, 1, false, cluster_create },
	{ "ls", "orch cluster ls", 0, 0, false, cluster_ls },
	{ "show", "orch cluster show NAME", 1, 1, false, cluster_show },
	{ "rm", "orch cluster rm NAME", 1, 1, false, cluster_rm },
};

const struct cli_noun cli_noun_cluster = {
	.name = "cluster",
	.summary = "create, list, show and delete clusters",
	.verbs = cluster_verbs,
	.verb_count = sizeof(cluster_verbs) / sizeof(cluster_verbs[0]),
};
