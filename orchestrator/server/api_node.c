/*
 * api_node.c - ListContainerInstances, DescribeContainerInstances, drain
 * (UpdateContainerInstancesState) and DeregisterContainerInstance, under
 * /v1/clusters/{c}/nodes.
 *
 * Node status is ECS's ACTIVE, DRAINING and INACTIVE (deregistered) plus
 * orch's LOST: the node has been silent for longer than --node-grace; its
 * tasks were stopped (stopCode InfrastructureHealth, "Node lost") and it
 * returns to ACTIVE (or DRAINING) when it reports again.  A DRAINING node
 * gets nothing new; its plain tasks keep running, as in ECS.  PATCH on a
 * LOST node records the status it returns to.  Lists show every status but
 * INACTIVE unless ?status= names one.
 */
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "common/cleanup.h"
#include "desired_state.h"
#include "ecs_names.h"
#include "http_response.h"
#include "common/log.h"
#include "node_monitor.h"
#include "placement.h"

/* Room for any ARN built here: prefix, two names and an ID. */
#define API_ARN_BUF (sizeof(ECS_ARN_PREFIX) + 3 * ECS_NAME_MAX + 128)

#define NODE_PAGE_DEFAULT 100
#define NODE_PAGE_MAX 100

static json_t *resource_int(const char *name, int64_t value)
{
	return json_pack("{s:s, s:s, s:I, s:f, s:I}", "name", name, "type", "INTEGER",
			 "integerValue", (json_int_t)value, "doubleValue", 0.0,
			 "longValue", (json_int_t)0);
}

static json_t *resource_set(const char *name, json_t *values)
{
	return json_pack("{s:s, s:s, s:o}", "name", name, "type", "STRINGSET",
			 "stringSetValue", values);
}

/* Host ports held by the node's tasks that are not STOPPED, from the committed state. */
static void node_ports_in_use(struct api_context *ctx, const char *node_id, json_t *tcp,
			      json_t *udp)
{
	orch_error err = ORCH_ERROR_INIT;
	struct store_task *tasks = NULL;
	int count = 0;

	if (store_task_list_desired(ctx->store, STORE_READER, node_id, &tasks, &count, &err) < 0)
		return;
	for (int i = 0; i < count; i++) {
		json_t *req, *port;
		size_t j;

		if (strcmp(tasks[i].last_status, "STOPPED") == 0)
			continue;
		req = json_loads(tasks[i].placement, 0, NULL);
		json_array_foreach(json_object_get(req, "ports"), j, port) {
			const char *proto = json_string_value(json_object_get(port, "protocol"));
			char buf[16];

			snprintf(buf, sizeof(buf), "%lld",
				 (long long)json_integer_value(json_object_get(port, "port")));
			json_array_append_new(proto && strcmp(proto, "udp") == 0 ? udp : tcp,
					      json_string(buf));
		}
		json_decref(req);
	}
	store_task_list_free(tasks, count);
}

json_t *api_node_to_json(struct api_context *ctx, const struct store_node *n)
{
	char arn[API_ARN_BUF];
	int64_t cpu_left = 0, mem_left = 0;
	orch_error err = ORCH_ERROR_INIT;
	json_t *attrs = json_loads(n->attributes, 0, NULL), *attr_list = json_array();
	json_t *tcp = json_array(), *udp = json_array(), *obj;
	const char *key;
	json_t *v;

	if (strcmp(n->status, "INACTIVE") != 0 &&
	    scheduler_node_remaining(placement_scheduler(ctx->placement), n->id, &cpu_left,
				     &mem_left, &err) < 0) {
		cpu_left = 0;
		mem_left = 0;
	}
	json_object_foreach(attrs, key, v)
		json_array_append_new(attr_list, json_pack("{s:s, s:O}", "name", key, "value", v));
	json_decref(attrs);
	if (strcmp(n->status, "INACTIVE") != 0)
		node_ports_in_use(ctx, n->id, tcp, udp);
	snprintf(arn, sizeof(arn), ECS_ARN_PREFIX "container-instance/%s/%s", n->cluster, n->id);
	obj = json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:[o,o,o,o], s:[o,o,o,o], s:o,"
			" s:I, s:I, s:f, s:s, s:I}",
			"containerInstanceArn", arn,
			"nodeId", n->id,
			"ec2InstanceId", n->name,
			"nodeName", n->name,
			"status", n->status,
			"agentConnected", strcmp(n->status, "INACTIVE") != 0 &&
				node_monitor_connected(ctx->nodes, n->id),
			"registeredResources",
			resource_int("CPU", n->cpu), resource_int("MEMORY", n->memory),
			resource_set("PORTS", json_array()), resource_set("PORTS_UDP", json_array()),
			"remainingResources",
			resource_int("CPU", cpu_left), resource_int("MEMORY", mem_left),
			resource_set("PORTS", tcp), resource_set("PORTS_UDP", udp),
			"attributes", attr_list,
			"runningTasksCount", (json_int_t)n->running_tasks,
			"pendingTasksCount", (json_int_t)n->pending_tasks,
			"registeredAt", n->registered_at,
			"advertiseAddress", n->advertise_address,
			"version", (json_int_t)n->version);
	if (obj && n->last_seen_at > 0)
		json_object_set_new(obj, "lastSeenAt", json_real(n->last_seen_at));
	if (obj && strcmp(n->status, "LOST") == 0)
		json_object_set_new(obj, "statusReason",
				    json_string("node silent for longer than the grace period"));
	if (obj && n->status_before_lost)
		json_object_set_new(obj, "statusAfterReturn", json_string(n->status_before_lost));
	return obj;
}

static const char *node_status_filter(const char *s)
{
	static const char *const ok[] = { "ACTIVE", "DRAINING", "LOST", "INACTIVE" };

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (strcmp(s, ok[i]) == 0)
			return ok[i];
	return NULL;
}

void api_node_list(struct api_request *ar)
{
	orch_error err = ORCH_ERROR_INIT;
	const char *token = evhttp_find_header(&ar->query, "nextToken");
	const char *status = evhttp_find_header(&ar->query, "status");
	cleanup_free char *after = NULL;
	struct store_node_query q = { 0 };
	struct store_node *list = NULL;
	int64_t limit = NODE_PAGE_DEFAULT;
	json_t *nodes, *reply;
	bool more = false;
	int count = 0;

	if (!api_cluster_checked(ar))
		return;
	if (api_query_int(ar, "maxResults", 1, NODE_PAGE_MAX, &limit) < 0)
		return;
	if (status && !(q.status = node_status_filter(status))) {
		http_reply_error(ar->req, 400, "ClientException",
				 "status: must be ACTIVE, DRAINING, LOST or INACTIVE");
		return;
	}
	if (token && !(after = api_page_token_decode(ar, token)))
		return;
	q.cluster = ar->params[0];
	q.after_id = after;
	q.limit = (int)limit;
	if (store_node_list(ar->ctx->store, STORE_READER, &q, &list, &count, &more, &err) < 0) {
		http_reply_orch_error(ar->req, &err);
		return;
	}
	nodes = json_array();
	for (int i = 0; i < count; i++)
		json_array_append_new(nodes, api_node_to_json(ar->ctx, &list[i]));
	reply = api_list_reply(nodes, "containerInstanceArn", "containerInstanceArns",
			       "containerInstances", more && count > 0 ? list[count - 1].id : NULL);
	store_node_list_free(list, count);
	http_reply_json(ar->req, 200, reply);
}

static void reply_node_error(struct api_request *ar, const orch_error *err)
{
	if (err->kind == ORCH_ERR_NOT_FOUND)
		http_reply_error(ar->req, 404, "ClientException", "%s", err->message);
	else
		http_reply_orch_error(ar->req, err);
}

void api_node_describe(struct api_request *ar)
{
	orch_error err = ORCH_ERROR_INIT;
	char id[STORE_ID_HEX_LEN + 1];
	struct store_node node = { 0 };

	if (!api_cluster_checked(ar) ||
	    !api_id_checked(ar, ar->params[1], "containerInstance", "node", id))
		return;
	if (store_node_get(ar->ctx->store, STORE_READER, ar->params[0], id, &node, &err) < 0) {
		reply_node_error(ar, &err);
		return;
	}
	http_reply_json(ar->req, 200, json_pack("{s:o}", "containerInstance",
						 api_node_to_json(ar->ctx, &node)));
	store_node_release(&node);
}

void api_node_update(struct api_request *ar)
{
	orch_error err = ORCH_ERROR_INIT;
	char id[STORE_ID_HEX_LEN + 1];
	struct store_node node = { 0 };
	json_t *body, *v;
	const char *status, *key;

	if (!api_cluster_checked(ar) ||
	    !api_id_checked(ar, ar->params[1], "containerInstance", "node", id))
		return;
	body = api_read_json_object(ar);
	if (!body)
		return;
	json_object_foreach(body, key, v)
		if (strcmp(key, "status") != 0) {
			http_reply_error(ar->req, 400, "ClientException", "%.200s: unknown field", key);
			goto out;
		}
	v = json_object_get(body, "status");
	status = json_string_value(v);
	if (!status || (strcmp(status, "ACTIVE") != 0 && strcmp(status, "DRAINING") != 0)) {
		http_reply_error(ar->req, 400, "ClientException", "status: must be ACTIVE or DRAINING");
		goto out;
	}
	if (write_batch_begin(ar->ctx->writes, &err) < 0) {
		http_reply_orch_error(ar->req, &err);
		goto out;
	}
	if (store_node_get(ar->ctx->store, STORE_WRITER, ar->params[0], id, &node, &err) < 0)
		goto fail;
	if (strcmp(node.status, "INACTIVE") == 0) {
		orch_fail(&err, ORCH_ERR_CONFLICT, "node '%s' is deregistered", id);
		goto fail;
	}
	if (strcmp(node.status, "LOST") == 0) {
		/* Stays LOST; this is what it becomes when it reports again. */
		if (store_node_set_status(ar->ctx->store, id, "LOST", status, &err) < 0)
			goto fail;
	} else if (strcmp(node.status, status) != 0) {
		if (store_node_set_status(ar->ctx->store, id, status, NULL, &err) < 0)
			goto fail;
		log_info("node %s (%s): %s -> %s", id, node.name, node.status, status);
	}
	store_node_release(&node);
	if (store_node_get(ar->ctx->store, STORE_WRITER, ar->params[0], id, &node, &err) < 0 ||
	    placement_node_changed(ar->ctx->placement, &node, &err) < 0)
		goto fail;
	desired_state_changed(ar->ctx->desired, id);	/* nodeStatus is in the answer */
	write_batch_reply(ar->ctx->writes, ar->req, 200,
			  json_pack("{s:o}", "containerInstance", api_node_to_json(ar->ctx, &node)));
	goto out;
fail:
	write_batch_abort(ar->ctx->writes);
	reply_node_error(ar, &err);
out:
	store_node_release(&node);
	json_decref(body);
}

void api_node_deregister(struct api_request *ar)
{
	orch_error err = ORCH_ERROR_INIT;
	char id[STORE_ID_HEX_LEN + 1];
	struct store_node node = { 0 };
	const char *force = evhttp_find_header(&ar->query, "force");
	bool forced = force && (strcmp(force, "true") == 0 || strcmp(force, "1") == 0);
	int stopped;

	if (force && !forced && strcmp(force, "false") != 0 && strcmp(force, "0") != 0) {
		http_reply_error(ar->req, 400, "ClientException", "force: must be true or false");
		return;
	}
	if (!api_cluster_checked(ar) ||
	    !api_id_checked(ar, ar->params[1], "containerInstance", "node", id))
		return;
	if (write_batch_begin(ar->ctx->writes, &err) < 0) {
		http_reply_orch_error(ar->req, &err);
		return;
	}
	if (store_node_get(ar->ctx->store, STORE_WRITER, ar->params[0], id, &node, &err) < 0)
		goto fail;
	if (!forced && node.running_tasks + node.pending_tasks > 0) {
		write_batch_abort(ar->ctx->writes);
		http_reply_error(ar->req, 409, "ClientException",
				 "node '%s' still has %lld running and %lld pending tasks; stop them or "
				 "deregister with ?force=true", id, (long long)node.running_tasks,
				 (long long)node.pending_tasks);
		store_node_release(&node);
		return;
	}
	stopped = placement_stop_node_tasks(ar->ctx->placement, id, "UserInitiated",
					    "Node deregistered", &err);
	if (stopped < 0 || store_node_deregister(ar->ctx->store, id, &err) < 0)
		goto fail;
	store_node_release(&node);
	if (store_node_get(ar->ctx->store, STORE_WRITER, ar->params[0], id, &node, &err) < 0 ||
	    placement_node_changed(ar->ctx->placement, &node, &err) < 0)
		goto fail;
	node_monitor_forget(ar->ctx->nodes, id);
	desired_state_changed(ar->ctx->desired, id);
	log_info("node %s (%s) deregistered; %d tasks stopped", id, node.name, stopped);
	write_batch_reply(ar->ctx->writes, ar->req, 200,
			  json_pack("{s:o}", "containerInstance", api_node_to_json(ar->ctx, &node)));
	store_node_release(&node);
	return;
fail:
	write_batch_abort(ar->ctx->writes);
	reply_node_error(ar, &err);
	store_node_release(&node);
}
