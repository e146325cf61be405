/*
 * api_cluster.c - CreateCluster, ListClusters, DescribeClusters and
 * DeleteCluster.  The cluster "default" always exists and cannot be deleted;
 * a cluster that still has tasks or services cannot be deleted either.
 */
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "common/cleanup.h"
#include "ecs_names.h"
#include "http_response.h"

#define CLUSTER_PAGE_DEFAULT 100
#define CLUSTER_PAGE_MAX 100

/* CreateCluster fields orch accepts without acting on them. */
static const char *const cluster_ignored_fields[] = {
	"tags", "settings", "configuration", "capacityProviders",
	"defaultCapacityProviderStrategy", "serviceConnectDefaults",
};

static json_t *cluster_to_json(const struct store_cluster *c, const char *status)
{
	char arn[sizeof(ECS_ARN_PREFIX) + 16 + ECS_NAME_MAX];

	snprintf(arn, sizeof(arn), ECS_ARN_PREFIX "cluster/%s", c->name);
	return json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:f}",
			 "clusterArn", arn,
			 "clusterName", c->name,
			 "status", status,
			 "registeredContainerInstancesCount", (json_int_t)c->node_count,
			 "runningTasksCount", (json_int_t)c->running_task_count,
			 "pendingTasksCount", (json_int_t)c->pending_task_count,
			 "activeServicesCount", (json_int_t)c->service_count,
			 "createdAt", c->created_at);
}

static bool cluster_name_checked(struct api_request *ar, const char *name)
{
	if (ecs_name_valid(name))
		return true;
	http_reply_error(ar->req, 400, "ClientException",
			 "clusterName: must be 1 to %d letters, digits, '-' or '_'", ECS_NAME_MAX);
	return false;
}

void api_cluster_create(struct api_request *ar)
{
	orch_error err = ORCH_ERROR_INIT;
	struct store_cluster cluster = { 0 };
	json_t *body = api_read_json_object(ar);
	json_t *ignored, *value;
	const char *key, *name;
	bool created = false;

	if (!body)
		return;
	ignored = json_array();
	json_object_foreach(body, key, value) {
		bool known = strcmp(key, "clusterName") == 0;

		for (size_t i = 0; !known && i < sizeof(cluster_ignored_fields) / sizeof(char *); i++)
			if (strcmp(key, cluster_ignored_fields[i]) == 0) {
				json_array_append_new(ignored, json_string(key));
				known = true;
			}
		if (!known) {
			http_reply_error(ar->req, 400, "ClientException", "%.200s: unknown field", key);
			goto out;
		}
	}
	value = json_object_get(body, "clusterName");
	if (!value) {
		http_reply_error(ar->req, 400, "ClientException", "clusterName: required");
		goto out;
	}
	if (!json_is_string(value)) {
		http_reply_error(ar->req, 400, "ClientException", "clusterName: must be a string");
		goto out;
	}
	name = json_string_value(value);
	if (!cluster_name_checked(ar, name))
		goto out;
	if (write_batch_begin(ar->ctx->writes, &err) < 0) {
		http_reply_orch_error(ar->req, &err);
		goto out;
	}
	if (store_cluster_create(ar->ctx->store, name, &created, &cluster, &err) < 0) {
		write_batch_abort(ar->ctx->writes);
		http_reply_orch_error(ar->req, &err);
		goto out;
	}
	write_batch_reply(ar->ctx->writes, ar->req, created ? 201 : 200,
			  json_pack("{s:o, s:O}", "cluster", cluster_to_json(&cluster, "ACTIVE"),
				    "ignoredFields", ignored));
out:
	store_cluster_release(&cluster);
	json_decref(ignored);
	json_decref(body);
}

void api_cluster_list(struct api_request *ar)
{
	orch_error err = ORCH_ERROR_INIT;
	const char *token = evhttp_find_header(&ar->query, "nextToken");
	cleanup_free char *after = NULL;
	struct store_cluster *list = NULL;
	int64_t limit = CLUSTER_PAGE_DEFAULT;
	json_t *clusters, *reply;
	bool more = false;
	int count = 0;

	if (api_query_int(ar, "maxResults", 1, CLUSTER_PAGE_MAX, &limit) < 0)
		return;
	if (token && !(after = api_page_token_decode(ar, token)))
		return;
	if (store_cluster_list(ar->ctx->store, after, (int)limit, &list, &count, &more, &err) < 0) {
		http_reply_orch_error(ar->req, &err);
		return;
	}
	clusters = json_array();
	for (int i = 0; i < count; i++)
		json_array_append_new(clusters, cluster_to_json(&list[i], "ACTIVE"));
	reply = api_list_reply(clusters, "clusterArn", "clusterArns", "clusters",
			       more && count > 0 ? list[count - 1].name : NULL);
	store_cluster_list_free(list, count);
	http_reply_json(ar->req, 200, reply);
}

void api_cluster_describe(struct api_request *ar)
{
	orch_error err = ORCH_ERROR_INIT;
	struct store_cluster cluster;

	if (!cluster_name_checked(ar, ar->params[0]))
		return;
	if (store_cluster_get(ar->ctx->store, ar->params[0], &cluster, &err) < 0) {
		api_reply_cluster_error(ar, &err);
		return;
	}
	http_reply_json(ar->req, 200, json_pack("{s:o}", "cluster", cluster_to_json(&cluster, "ACTIVE")));
	store_cluster_release(&cluster);
}

void api_cluster_delete(struct api_request *ar)
{
	orch_error err = ORCH_ERROR_INIT;
	struct store_cluster cluster = { 0 };
	const char *name = ar->params[0];

	if (!cluster_name_checked(ar, name))
		return;
	if (strcmp(name, STORE_DEFAULT_CLUSTER) == 0) {
		http_reply_error(ar->req, 400, "ClientException",
				 "cluster '" STORE_DEFAULT_CLUSTER "' always exists and cannot be deleted");
		return;
	}
	if (write_batch_begin(ar->ctx->writes, &err) < 0) {
		http_reply_orch_error(ar->req, &err);
		return;
	}
	if (store_cluster_delete(ar->ctx->store, name, &cluster, &err) < 0) {
		write_batch_abort(ar->ctx->writes);
		if (err.kind == ORCH_ERR_NOT_FOUND)
			http_reply_error(ar->req, 404, "ClusterNotFoundException", "%s", err.message);
		else if (err.kind == ORCH_ERR_CONFLICT)
			http_reply_error(ar->req, 409,
					 cluster.service_count > 0 ? "ClusterContainsServicesException"
					 : "ClusterContainsTasksException",
					 "%s; remove them first", err.message);
		else
			http_reply_orch_error(ar->req, &err);
		store_cluster_release(&cluster);
		return;
	}
	write_batch_reply(ar->ctx->writes, ar->req, 200,
			  json_pack("{s:o}", "cluster", cluster_to_json(&cluster, "INACTIVE")));
	store_cluster_release(&cluster);
}
