/*
 * api_taskdef.c - RegisterTaskDefinition, ListTaskDefinitions,
 * DescribeTaskDefinition and DeregisterTaskDefinition.
 *
 * The stored body is the validator's normalized definition; the fields the
 * server assigns (ARN, revision, status, times) are added when it is shown.
 */
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "common/cleanup.h"
#include "ecs_names.h"
#include "http_response.h"
#include "taskdef_validate.h"

#define TASKDEF_PAGE_DEFAULT 100
#define TASKDEF_PAGE_MAX 100

static json_t *taskdef_to_json(const struct store_taskdef *td)
{
	char arn[sizeof(ECS_ARN_PREFIX) + 32 + ECS_NAME_MAX];
	json_t *obj = json_loads(td->body, 0, NULL);
	json_t *ignored = json_loads(td->ignored_fields, 0, NULL);

	if (!obj || !json_is_object(obj) || !ignored) {
		json_decref(obj);
		json_decref(ignored);
		return NULL;
	}
	snprintf(arn, sizeof(arn), ECS_ARN_PREFIX "task-definition/%s:%lld", td->family,
		 (long long)td->revision);
	json_object_set_new(obj, "taskDefinitionArn", json_string(arn));
	json_object_set_new(obj, "revision", json_integer(td->revision));
	json_object_set_new(obj, "status", json_string(td->active ? "ACTIVE" : "INACTIVE"));
	json_object_set_new(obj, "registeredAt", json_real(td->registered_at));
	if (!td->active)
		json_object_set_new(obj, "deregisteredAt", json_real(td->deregistered_at));
	return json_pack("{s:o, s:o}", "taskDefinition", obj, "ignoredFields", ignored);
}

void api_taskdef_register(struct api_request *ar)
{
	orch_error err = ORCH_ERROR_INIT;
	struct store_taskdef td = { 0 };
	json_t *normalized = NULL, *ignored = NULL;
	cleanup_free char *body_text = NULL, *ignored_text = NULL;
	json_t *body = api_read_json_object(ar);

	if (!body)
		return;
	if (taskdef_validate(body, &normalized, &ignored, &err) < 0) {
		http_reply_orch_error(ar->req, &err);
		goto out;
	}
	body_text = json_dumps(normalized, JSON_COMPACT);
	ignored_text = json_dumps(ignored, JSON_COMPACT);
	if (!body_text || !ignored_text) {
		http_reply_error(ar->req, 500, "ServerException", "out of memory");
		goto out;
	}
	if (write_batch_begin(ar->ctx->writes, &err) < 0) {
		http_reply_orch_error(ar->req, &err);
		goto out;
	}
	if (store_taskdef_register(ar->ctx->store,
				   json_string_value(json_object_get(normalized, "family")),
				   body_text, ignored_text, &td, &err) < 0) {
		write_batch_abort(ar->ctx->writes);
		http_reply_orch_error(ar->req, &err);
		goto out;
	}
	write_batch_reply(ar->ctx->writes, ar->req, 201, taskdef_to_json(&td));
out:
	store_taskdef_release(&td);
	json_decref(normalized);
	json_decref(ignored);
	json_decref(body);
}

static int parse_status_filter(struct api_request *ar, enum store_taskdef_status_filter *out)
{
	const char *status = evhttp_find_header(&ar->query, "status");

	if (!status || strcmp(status, "ACTIVE") == 0)
		*out = STORE_TASKDEF_ACTIVE;
	else if (strcmp(status, "INACTIVE") == 0)
		*out = STORE_TASKDEF_INACTIVE;
	else if (strcmp(status, "ALL") == 0)
		*out = STORE_TASKDEF_ANY;
	else {
		http_reply_error(ar->req, 400, "ClientException",
				 "status: must be ACTIVE, INACTIVE or ALL");
		return -1;
	}
	return 0;
}

/* A page token carries "family:revision" of the last entry shown. */
static int parse_page_cursor(struct api_request *ar, char *family, int64_t *revision)
{
	const char *token = evhttp_find_header(&ar->query, "nextToken");
	cleanup_free char *key = NULL;
	orch_error err = ORCH_ERROR_INIT;

	if (!token)
		return 0;
	key = api_page_token_decode(ar, token);
	if (!key)
		return -1;
	if (!strchr(key, ':') || ecs_taskdef_ref_parse(key, family, revision, &err) < 0 ||
	    strncmp(key, "arn:", 4) == 0) {
		http_reply_error(ar->req, 400, "ClientException", "nextToken: invalid page token");
		return -1;
	}
	return 1;
}

void api_taskdef_list(struct api_request *ar)
{
	orch_error err = ORCH_ERROR_INIT;
	struct store_taskdef_query q = { .limit = TASKDEF_PAGE_DEFAULT };
	const char *prefix = evhttp_find_header(&ar->query, "familyPrefix");
	const char *sort = evhttp_find_header(&ar->query, "sort");
	char after_family[ECS_NAME_MAX + 1];
	int64_t limit = TASKDEF_PAGE_DEFAULT;
	char **families = NULL;
	int64_t *revisions = NULL;
	json_t *arns, *reply;
	bool more = false;
	int count = 0, has_cursor;

	if (prefix && *prefix && !ecs_name_valid(prefix)) {
		http_reply_error(ar->req, 400, "ClientException",
				 "familyPrefix: must be 1 to %d letters, digits, '-' or '_'",
				 ECS_NAME_MAX);
		return;
	}
	if (sort && strcmp(sort, "ASC") != 0 && strcmp(sort, "DESC") != 0) {
		http_reply_error(ar->req, 400, "ClientException", "sort: must be ASC or DESC");
		return;
	}
	if (parse_status_filter(ar, &q.status) < 0 ||
	    api_query_int(ar, "maxResults", 1, TASKDEF_PAGE_MAX, &limit) < 0)
		return;
	has_cursor = parse_page_cursor(ar, after_family, &q.after_revision);
	if (has_cursor < 0)
		return;
	q.family_prefix = prefix;
	q.descending = sort && strcmp(sort, "DESC") == 0;
	q.after_family = has_cursor ? after_family : NULL;
	q.limit = (int)limit;
	if (store_taskdef_list(ar->ctx->store, &q, &families, &revisions, &count, &more, &err) < 0) {
		http_reply_orch_error(ar->req, &err);
		return;
	}
	arns = json_array();
	for (int i = 0; i < count; i++)
		json_array_append_new(arns, json_sprintf(ECS_ARN_PREFIX "task-definition/%s:%lld",
							 families[i], (long long)revisions[i]));
	reply = json_pack("{s:o}", "taskDefinitionArns", arns);
	if (more && count > 0) {
		char key[ECS_PAGE_KEY_MAX + 1];
		cleanup_free char *next = NULL;

		snprintf(key, sizeof(key), "%s:%lld", families[count - 1],
			 (long long)revisions[count - 1]);
		next = api_page_token_encode(key);
		json_object_set_new(reply, "nextToken", next ? json_string(next) : NULL);
	}
	store_taskdef_list_free(families, revisions, count);
	http_reply_json(ar->req, 200, reply);
}

static void reply_taskdef(struct api_request *ar, int status, struct store_taskdef *td)
{
	json_t *reply = taskdef_to_json(td);

	store_taskdef_release(td);
	if (!reply) {
		http_reply_error(ar->req, 500, "ServerException",
				 "stored task definition could not be read");
		return;
	}
	http_reply_json(ar->req, status, reply);
}

/*
 * Parses the path's task definition reference.  Only an ARN may contain a
 * '/'; any other path below /v1/task-definitions/ names no resource.
 */
static int parse_ref(struct api_request *ar, char *family, int64_t *revision)
{
	orch_error err = ORCH_ERROR_INIT;
	const char *ref = ar->params[0];

	if (strncmp(ref, "arn:", 4) != 0 && strchr(ref, '/')) {
		http_reply_error(ar->req, 404, "ClientException", "no such resource: %.200s",
				 http_request_path(ar->req));
		return -1;
	}
	if (ecs_taskdef_ref_parse(ref, family, revision, &err) < 0) {
		http_reply_orch_error(ar->req, &err);
		return -1;
	}
	return 0;
}

void api_taskdef_describe(struct api_request *ar)
{
	orch_error err = ORCH_ERROR_INIT;
	char family[ECS_NAME_MAX + 1];
	struct store_taskdef td;
	int64_t revision;

	if (parse_ref(ar, family, &revision) < 0)
		return;
	if (store_taskdef_get(ar->ctx->store, family, revision, &td, &err) < 0) {
		http_reply_orch_error(ar->req, &err);
		return;
	}
	reply_taskdef(ar, 200, &td);
}

void api_taskdef_deregister(struct api_request *ar)
{
	orch_error err = ORCH_ERROR_INIT;
	char family[ECS_NAME_MAX + 1];
	struct store_taskdef td;
	int64_t revision;
	json_t *reply;

	if (parse_ref(ar, family, &revision) < 0)
		return;
	if (revision == 0) {
		http_reply_error(ar->req, 400, "ClientException",
				 "taskDefinition: deregistering needs FAMILY:REVISION, got '%s'", family);
		return;
	}
	if (write_batch_begin(ar->ctx->writes, &err) < 0) {
		http_reply_orch_error(ar->req, &err);
		return;
	}
	if (store_taskdef_deregister(ar->ctx->store, family, revision, &td, &err) < 0) {
		write_batch_abort(ar->ctx->writes);
		http_reply_orch_error(ar->req, &err);
		return;
	}
	reply = taskdef_to_json(&td);
	store_taskdef_release(&td);
	write_batch_reply(ar->ctx->writes, ar->req, 200, reply);
}
