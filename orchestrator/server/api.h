/*
 * api.h - the REST API: routing, authentication, request bodies.
 *
 * api_handle_request is the evhttp callback for every request.  It checks
 * the bearer token (all paths but /healthz), matches the path against the
 * route table (404 for an unknown path, 405 with Allow for a known path and
 * another method), decodes path parameters and hands the request to one
 * handler in api_<resource>.c.  Handlers answer through http_response.h.
 */
#ifndef ORCH_API_H
#define ORCH_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "http_server.h"
#include <jansson.h>

#include "auth.h"
#include "store.h"
#include "write_batch.h"

struct api_context {
	struct store *store;
	struct write_batch *writes;	/* group commit of this loop's writes */
	char admin_token[AUTH_TOKEN_HEX_LEN + 1];
	char *ca_pem;			/* the cluster CA (pki.h), for GET /v1/agent/ca */
	double started_at;
	/* The cluster control plane: see placement.h, desired_state.h. */
	const char *data_dir;
	struct placement *placement;
	struct desired_state *desired;
	struct node_monitor *nodes;
	struct task_streams *streams;	/* task logs piped from agents (task_stream.h) */
	struct service_reconciler *services;	/* service.h */
};

#define API_MAX_PATH_PARAMS 4

struct api_request {
	struct http_request *req;
	struct api_context *ctx;
	const char *params[API_MAX_PATH_PARAMS];	/* decoded path parameters */
	int param_count;
	struct evkeyvalq query;				/* decoded query parameters */
	char agent_node_id[40];				/* agent calls: the caller's node */
};

/* The http_server handlers: every request, and the ones the server refused. */
void api_handle_request(struct http_request *req, void *arg);
void api_refuse_request(struct http_request *req, int status, const char *why, void *arg);

/*
 * Parses the request body as one JSON object.  On failure the 4xx reply has
 * been sent and NULL is returned.
 */
json_t *api_read_json_object(struct api_request *ar);

/*
 * Reads query parameter `name` as an integer in [min, max].  Returns 0 and
 * leaves *out alone when absent; on a bad value replies 400 and returns -1.
 */
int api_query_int(struct api_request *ar, const char *name, int64_t min, int64_t max,
		  int64_t *out);

/* Page tokens: opaque hex of the last key of the previous page. */
char *api_page_token_encode(const char *key);
/* NULL (and a 400 sent) if the token is malformed. */
char *api_page_token_decode(struct api_request *ar, const char *token);

/*
 * The ID a path or query names: ref itself when it is a store ID
 * (STORE_ID_HEX_LEN lower-case hex digits), or the part after the last '/'
 * of an ARN ("arn:...").  NULL when it is neither.  Points into ref.
 */
const char *api_id_of(const char *ref);

/*
 * Copies the ID of ref (api_id_of) into out; otherwise answers 400
 * "FIELD: 'REF' is not a KIND ID (32 hex digits) or ARN" and returns false.
 */
bool api_id_checked(struct api_request *ar, const char *ref, const char *field, const char *kind,
		    char out[STORE_ID_HEX_LEN + 1]);

/*
 * The task of the path (params[1], an ID or ARN) for the stream endpoints
 * (logs, exec), copied into out; a malformed one is answered as a task that
 * does not exist (404) and false returned.
 */
bool api_stream_task_id(struct api_request *ar, char out[STORE_ID_HEX_LEN + 1]);

/*
 * The cluster of the path (params[0]) is a valid name of a cluster that
 * exists; otherwise 400 or 404 ClusterNotFoundException is answered and
 * false returned.
 */
bool api_cluster_checked(struct api_request *ar);

/* Answers err; ORCH_ERR_NOT_FOUND as 404 ClusterNotFoundException. */
void api_reply_cluster_error(struct api_request *ar, const orch_error *err);

/*
 * A list answer in ECS's shape: {ARNS_KEY: [each item's ARN_FIELD],
 * ITEMS_KEY: items} and, when last_key is non-NULL (a further page exists),
 * "nextToken" encoding it.  Takes items.
 */
json_t *api_list_reply(json_t *items, const char *arn_field, const char *arns_key,
		       const char *items_key, const char *last_key);

/* ---- handlers ---------------------------------------------------------- */
void api_info(struct api_request *ar);
void api_cluster_create(struct api_request *ar);
void api_cluster_list(struct api_request *ar);
void api_cluster_describe(struct api_request *ar);
void api_cluster_delete(struct api_request *ar);
void api_taskdef_register(struct api_request *ar);
void api_taskdef_list(struct api_request *ar);
void api_taskdef_describe(struct api_request *ar);
void api_taskdef_deregister(struct api_request *ar);
/* Nodes (api_node.c), tasks (api_task.c), the agent side (api_agent.c). */
void api_node_list(struct api_request *ar);
void api_node_describe(struct api_request *ar);
void api_node_update(struct api_request *ar);
void api_node_deregister(struct api_request *ar);
void api_service_create(struct api_request *ar);
void api_service_list(struct api_request *ar);
void api_service_describe(struct api_request *ar);
void api_service_update(struct api_request *ar);
void api_service_delete(struct api_request *ar);
void api_service_events(struct api_request *ar);
void api_task_run(struct api_request *ar);
void api_task_list(struct api_request *ar);
void api_task_describe(struct api_request *ar);
void api_task_stop(struct api_request *ar);
void api_agent_register(struct api_request *ar);
void api_agent_status(struct api_request *ar);
void api_agent_assignments(struct api_request *ar);
/*
 * Authenticates a node credential (Authorization: Bearer <credential>) for
 * /v1/agent/ calls other than register and ca; fills ar->agent_node_id.  On
 * failure the 401 was sent and false is returned.
 */
bool api_agent_authenticate(struct api_request *ar);
/* The long-poll answer: the node's whole desired set (desired_state.h). */
void api_agent_render_assignments(struct http_request *req, const char *node_id,
				  uint64_t index, void *arg);
/* node_monitor.h callback: mark the node LOST and stop its tasks. */
void api_agent_node_lost(const char *node_id, void *arg);
/* The node's JSON as DescribeContainerInstances shows it (api_node.c). */
json_t *api_node_to_json(struct api_context *ctx, const struct store_node *n);
/* GET /v1/agent/ca: the cluster CA PEM, no auth (api_pki.c; agent_protocol.h). */
void api_agent_ca(struct http_request *req, struct api_context *ctx);

#endif
