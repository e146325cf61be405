/*
 * api_task.c - RunTask, StopTask, DescribeTasks and ListTasks under
 * /v1/clusters/{c}/tasks.
 *
 * RunTask creates `count` (1-10) tasks in one write and answers after the
 * commit.  Each is placed at once if a node fits (lastStatus PENDING, the
 * node's agent is told after the commit) or stored PROVISIONING with the
 * scheduler's reason in "pendingReason" (an orch field) and placed as soon
 * as capacity frees; such tasks are in "tasks", not in "failures" (ECS's
 * capacity-provider behaviour).  "failures" lists only what was not created.
 *
 * Resources a task reserves: the task-level cpu/memory (overrides first,
 * then the definition), else the sum over its containers (container
 * overrides first; memory falls back to memoryReservation).  Host ports:
 * every portMapping's hostPort in host mode, the static (non-zero) ones in
 * bridge mode, none in awsvpc and none.
 *
 * ListTasks follows ECS: without desiredStatus it lists tasks desired
 * RUNNING; desiredStatus=STOPPED lists stopped ones (orch adds ALL).
 * Pages are in creation order.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "api.h"
#include "common/cleanup.h"
#include "common/str_util.h"
#include "desired_state.h"
#include "ecs_names.h"
#include "http_response.h"
#include "json_text.h"
#include "common/log.h"
#include "placement.h"
#include "service.h"
#include "task_launch.h"


#define RUNTASK_MAX_COUNT 10
#define TASK_PAGE_DEFAULT 100
#define TASK_PAGE_MAX 100
#define TASK_STARTED_BY_MAX 128
#define TASK_GROUP_MAX 255
#define TASK_REASON_MAX 1024
#define TASK_MAX_CONSTRAINTS 10
#define TASK_MAX_STRATEGIES 5
#define TASK_DEFAULT_STOP_REASON "Task stopped by user"
/* ECS: up to 64 ASCII characters 33-126, remembered for 24 hours. */
#define RUNTASK_CLIENT_TOKEN_MAX 64

/* RunTask fields orch accepts without acting on them (AWS-side). */
static const char *const runtask_ignored_fields[] = {
	"launchType", "platformVersion", "networkConfiguration", "tags", "propagateTags",
	"enableECSManagedTags", "enableExecuteCommand", "referenceId", "capacityProviderStrategy",
	"volumeConfigurations",
};
static const char *const runtask_fields[] = {
	"taskDefinition", "count", "overrides", "startedBy", "group", "placementConstraints",
	"placementStrategy", "cluster", "clientToken",
};

static void put_string(struct json_text *jt, const char *key, const char *v)
{
	if (!v)
		return;
	json_text_lit(jt, ",\"");
	json_text_raw(jt, key, strlen(key));
	json_text_lit(jt, "\":");
	json_text_string(jt, v);
}

static void put_time(struct json_text *jt, const char *key, double t)
{
	if (t <= 0)
		return;
	json_text_lit(jt, ",\"");
	json_text_raw(jt, key, strlen(key));
	json_text_lit(jt, "\":");
	json_text_real(jt, t);
}

/*
 * A JSON text the server stored itself (containers, overrides), spliced in
 * as it is; a value that does not even look like one is shown as fallback.
 */
static void put_stored(struct json_text *jt, const char *text, char open, char close,
		       const char *fallback)
{
	size_t n = text ? strlen(text) : 0;

	if (n >= 2 && text[0] == open && text[n - 1] == close)
		json_text_raw(jt, text, n);
	else
		json_text_raw(jt, fallback, strlen(fallback));
}

/* Appends the task object (ECS's Task shape) of row t. */
static void task_text(struct json_text *jt, const struct store_task *t,
		      struct service_reconciler *usage)
{
	double cpu_units, memory_mib, at;
	char arn[TASK_ARN_BUF];

	task_arn_format(arn, sizeof(arn), t->cluster, t->id);
	json_text_lit(jt, "{\"taskArn\":");
	json_text_string(jt, arn);
	put_string(jt, "taskId", t->id);
	snprintf(arn, sizeof(arn), ECS_ARN_PREFIX "cluster/%s", t->cluster);
	put_string(jt, "clusterArn", arn);
	snprintf(arn, sizeof(arn), ECS_ARN_PREFIX "task-definition/%s:%lld", t->family,
		 (long long)t->revision);
	put_string(jt, "taskDefinitionArn", arn);
	if (t->node_id) {
		snprintf(arn, sizeof(arn), ECS_ARN_PREFIX "container-instance/%s/%s", t->cluster,
			 t->node_id);
		put_string(jt, "containerInstanceArn", arn);
	}
	put_string(jt, "lastStatus", t->last_status);
	put_string(jt, "desiredStatus", t->desired_status);
	/* ECS reports task cpu and memory as strings. */
	json_text_lit(jt, ",\"cpu\":\"");
	json_text_int(jt, t->cpu);
	json_text_lit(jt, "\",\"memory\":\"");
	json_text_int(jt, t->memory);
	json_text_lit(jt, "\",\"containers\":");
	put_stored(jt, t->containers, '[', ']', "[]");
	json_text_lit(jt, ",\"overrides\":");
	put_stored(jt, t->overrides, '{', '}', "{}");
	put_time(jt, "createdAt", t->created_at);
	put_string(jt, "group", t->group);
	json_text_lit(jt, ",\"version\":");
	json_text_int(jt, t->version);
	json_text_lit(jt, ",\"launchType\":\"EC2\"");
	put_string(jt, "healthStatus", t->health_status ? t->health_status : "UNKNOWN");
	put_time(jt, "startedAt", t->started_at);
	put_time(jt, "stoppingAt", t->stopping_at);
	put_time(jt, "stoppedAt", t->stopped_at);
	put_time(jt, "executionStoppedAt", t->stopped_at);
	put_string(jt, "stopCode", t->stop_code);
	put_string(jt, "stoppedReason", t->stopped_reason);
	put_string(jt, "pendingReason", t->pending_reason);
	put_string(jt, "startedBy", t->started_by);
	put_string(jt, "serviceName", t->service_name);
	/* orch: the task's use as its agent last measured it. */
	if (service_usage_get(usage, t->id, &cpu_units, &memory_mib, &at)) {
		json_text_lit(jt, ",\"usage\":{\"cpuUnits\":");
		json_text_real(jt, cpu_units);
		json_text_lit(jt, ",\"memoryMiB\":");
		json_text_real(jt, memory_mib);
		json_text_lit(jt, ",\"sampledAt\":");
		json_text_real(jt, at);
		json_text_lit(jt, "}");
	}
	json_text_lit(jt, "}");
}

/* ---- RunTask ------------------------------------------------------------- */

static int check_string_array(json_t *v, const char *path, orch_error *err)
{
	json_t *e;
	size_t i;

	if (!json_is_array(v))
		return orch_fail(err, ORCH_ERR_INVALID, "%s: must be an array of strings", path);
	json_array_foreach(v, i, e)
		if (!json_is_string(e))
			return orch_fail(err, ORCH_ERR_INVALID, "%s[%zu]: must be a string", path, i);
	return 0;
}

/* Validates overrides against the definition's containers. */
static int overrides_check(json_t *ov, json_t *containers, orch_error *err)
{
	json_t *co, *v;
	const char *key;
	size_t i, j;
	bool ok;

	if (!json_is_object(ov))
		return orch_fail(err, ORCH_ERR_INVALID, "overrides: must be an object");
	json_object_foreach(ov, key, v) {
		if (strcmp(key, "containerOverrides") == 0 || strcmp(key, "cpu") == 0 ||
		    strcmp(key, "memory") == 0)
			continue;
		if (strcmp(key, "taskRoleArn") == 0 || strcmp(key, "executionRoleArn") == 0 ||
		    strcmp(key, "ephemeralStorage") == 0 || strcmp(key, "inferenceAcceleratorOverrides") == 0)
			continue;	/* AWS-side; accepted and not acted on */
		return orch_fail(err, ORCH_ERR_INVALID, "overrides.%.200s: unknown field", key);
	}
	v = json_object_get(ov, "cpu");
	if (v && (task_json_int(v, &ok) < 1 || !ok))
		return orch_fail(err, ORCH_ERR_INVALID, "overrides.cpu: must be a positive integer");
	v = json_object_get(ov, "memory");
	if (v && (task_json_int(v, &ok) < 1 || !ok))
		return orch_fail(err, ORCH_ERR_INVALID, "overrides.memory: must be a positive integer (MiB)");
	co = json_object_get(ov, "containerOverrides");
	if (co && !json_is_array(co))
		return orch_fail(err, ORCH_ERR_INVALID, "overrides.containerOverrides: must be an array");
	json_array_foreach(co, i, v) {
		json_t *name = json_object_get(v, "name"), *f, *env;
		char path[96];

		if (!json_is_object(v))
			return orch_fail(err, ORCH_ERR_INVALID, "overrides.containerOverrides[%zu]: must be an object", i);
		if (!json_is_string(name))
			return orch_fail(err, ORCH_ERR_INVALID, "overrides.containerOverrides[%zu].name: required", i);
		if (!task_find_container(containers, json_string_value(name)))
			return orch_fail(err, ORCH_ERR_INVALID,
					 "overrides.containerOverrides[%zu].name: no container '%.200s' in the task definition",
					 i, json_string_value(name));
		json_object_foreach(v, key, f) {
			if (strcmp(key, "name") == 0)
				continue;
			snprintf(path, sizeof(path), "overrides.containerOverrides[%zu].%s", i, key);
			if (strcmp(key, "command") == 0) {
				if (check_string_array(f, path, err) < 0)
					return -1;
			} else if (strcmp(key, "environment") == 0) {
				if (!json_is_array(f))
					return orch_fail(err, ORCH_ERR_INVALID, "%s: must be an array", path);
				json_array_foreach(f, j, env)
					if (!json_is_object(env) || !json_is_string(json_object_get(env, "name")) ||
					    !json_is_string(json_object_get(env, "value")))
						return orch_fail(err, ORCH_ERR_INVALID,
								 "%s[%zu]: must be {\"name\": string, \"value\": string}", path, j);
			} else if (strcmp(key, "cpu") == 0) {
				if (!json_is_integer(f) || json_integer_value(f) < 0)
					return orch_fail(err, ORCH_ERR_INVALID, "%s: must be a non-negative integer", path);
			} else if (strcmp(key, "memory") == 0 || strcmp(key, "memoryReservation") == 0) {
				if (!json_is_integer(f) || json_integer_value(f) < 1)
					return orch_fail(err, ORCH_ERR_INVALID, "%s: must be a positive integer (MiB)", path);
			} else {
				return orch_fail(err, ORCH_ERR_UNSUPPORTED, "%s: not supported by orch", path);
			}
		}
	}
	return 0;
}

/*
 * With overrides applied, each container's memory limit must fit the task
 * memory (the definition's validator checked this without overrides).
 */
static int overrides_fit_task(json_t *td, json_t *ov, orch_error *err)
{
	json_t *co_list = json_object_get(ov, "containerOverrides"), *c;
	int64_t task_mem;
	bool ok;
	size_t i;

	task_mem = task_json_int(json_object_get(ov, "memory"), &ok);
	if (task_mem < 0)
		task_mem = task_json_int(json_object_get(td, "memory"), &ok);
	if (task_mem <= 0)
		return 0;
	json_array_foreach(json_object_get(td, "containerDefinitions"), i, c) {
		const char *name = json_string_value(json_object_get(c, "name"));
		json_t *co = name ? task_find_container(co_list, name) : NULL;
		json_t *mv = co ? json_object_get(co, "memory") : NULL;
		int64_t mem;

		if (!json_is_integer(mv))
			mv = json_object_get(c, "memory");
		mem = json_is_integer(mv) ? json_integer_value(mv) : 0;

		if (mem > task_mem)
			return orch_fail(err, ORCH_ERR_INVALID,
					 "overrides: container '%s' memory %lld MiB exceeds the task memory of %lld MiB",
					 name ? name : "", (long long)mem, (long long)task_mem);
	}
	return 0;
}

/* Appends ,"ignoredFields":[...] */
static void put_ignored(struct json_text *jt, json_t *ignored)
{
	json_t *v;
	size_t i;

	json_text_lit(jt, ",\"ignoredFields\":[");
	json_array_foreach(ignored, i, v) {
		if (i)
			json_text_lit(jt, ",");
		json_text_string(jt, json_string_value(v));
	}
	json_text_lit(jt, "]");
}

struct runtask_args {
	char family[ECS_NAME_MAX + 1];
	int64_t revision;
	int64_t count;
	json_t *overrides;	/* borrowed */
	const char *started_by;
	const char *group;
	json_t *constraints, *strategy;	/* borrowed or NULL */
	char client_token[RUNTASK_CLIENT_TOKEN_MAX + 1];	/* "" if none */
	char request_sha256[65];	/* of the request without the token */
};

/*
 * RunTask's clientToken: checked, copied, and taken out of body; the
 * request's fingerprint is the SHA-256 of what remains (keys sorted).
 */
static int client_token_parse(json_t *body, struct runtask_args *a, orch_error *err)
{
	json_t *v = json_object_get(body, "clientToken");
	unsigned char md[32];
	unsigned int md_len = 0;
	char *text;
	const char *s;

	if (!v)
		return 0;
	s = json_string_value(v);
	if (!s || !*s || strlen(s) > RUNTASK_CLIENT_TOKEN_MAX)
		return orch_fail(err, ORCH_ERR_INVALID,
				 "clientToken: must be a string of 1 to %d characters",
				 RUNTASK_CLIENT_TOKEN_MAX);
	for (const char *c = s; *c; c++)
		if (*c < 33 || *c > 126)
			return orch_fail(err, ORCH_ERR_INVALID,
					 "clientToken: only ASCII characters 33 to 126 are allowed");
	snprintf(a->client_token, sizeof(a->client_token), "%s", s);
	json_object_del(body, "clientToken");
	text = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
	if (!text || EVP_Digest(text, strlen(text), md, &md_len, EVP_sha256(), NULL) != 1) {
		free(text);
		return orch_fail(err, ORCH_ERR_INTERNAL, "out of memory");
	}
	free(text);
	for (unsigned i = 0; i < md_len; i++)
		snprintf(a->request_sha256 + 2 * i, 3, "%02x", md[i]);
	return 0;
}

static int runtask_parse(json_t *body, struct runtask_args *a, json_t *ignored, orch_error *err)
{
	const char *key;
	json_t *v;

	json_object_foreach(body, key, v) {
		if (str_in_list(key, runtask_fields, sizeof(runtask_fields) / sizeof(char *)))
			continue;
		if (str_in_list(key, runtask_ignored_fields, sizeof(runtask_ignored_fields) / sizeof(char *))) {
			json_array_append_new(ignored, json_string(key));
			continue;
		}
		return orch_fail(err, ORCH_ERR_INVALID, "%.200s: unknown field", key);
	}
	v = json_object_get(body, "taskDefinition");
	if (!json_is_string(v))
		return orch_fail(err, ORCH_ERR_INVALID, "taskDefinition: required string (FAMILY[:REVISION] or ARN)");
	if (ecs_taskdef_ref_parse(json_string_value(v), a->family, &a->revision, err) < 0)
		return orch_error_prefix(err, "taskDefinition");
	v = json_object_get(body, "count");
	a->count = 1;
	if (v && (!json_is_integer(v) || json_integer_value(v) < 1 ||
		  json_integer_value(v) > RUNTASK_MAX_COUNT))
		return orch_fail(err, ORCH_ERR_INVALID, "count: must be an integer between 1 and %d",
				 RUNTASK_MAX_COUNT);
	if (v)
		a->count = json_integer_value(v);
	v = json_object_get(body, "startedBy");
	if (v && (!json_is_string(v) || strlen(json_string_value(v)) > TASK_STARTED_BY_MAX))
		return orch_fail(err, ORCH_ERR_INVALID, "startedBy: must be a string of at most %d characters",
				 TASK_STARTED_BY_MAX);
	a->started_by = json_string_value(v);
	v = json_object_get(body, "group");
	if (v && (!json_is_string(v) || strlen(json_string_value(v)) == 0 ||
		  strlen(json_string_value(v)) > TASK_GROUP_MAX))
		return orch_fail(err, ORCH_ERR_INVALID, "group: must be a string of 1 to %d characters",
				 TASK_GROUP_MAX);
	a->group = json_string_value(v);
	v = json_object_get(body, "cluster");
	if (v && !json_is_string(v))
		return orch_fail(err, ORCH_ERR_INVALID, "cluster: must be a string");
	a->overrides = json_object_get(body, "overrides");
	a->constraints = json_object_get(body, "placementConstraints");
	if (a->constraints && !json_is_null(a->constraints) &&
	    (!json_is_array(a->constraints) || json_array_size(a->constraints) > TASK_MAX_CONSTRAINTS))
		return orch_fail(err, ORCH_ERR_INVALID, "placementConstraints: must be an array of at most %d",
				 TASK_MAX_CONSTRAINTS);
	a->strategy = json_object_get(body, "placementStrategy");
	if (a->strategy && !json_is_null(a->strategy) &&
	    (!json_is_array(a->strategy) || json_array_size(a->strategy) > TASK_MAX_STRATEGIES))
		return orch_fail(err, ORCH_ERR_INVALID, "placementStrategy: must be an array of at most %d",
				 TASK_MAX_STRATEGIES);
	if (json_is_null(a->constraints))
		a->constraints = NULL;
	if (json_is_null(a->strategy))
		a->strategy = NULL;
	return client_token_parse(body, a, err);
}

/*
 * A RunTask whose clientToken was seen in this cluster: the tasks it
 * created (as they are now), or 409 if the parameters differ.  Answered
 * through the write batch, so a retry never hears of tasks before the
 * original request's commit.  Returns 0 if the token is new (nothing
 * sent), 1 if answered.
 */
static int runtask_replay(struct api_request *ar, struct runtask_args *a, json_t *ignored)
{
	orch_error err = ORCH_ERROR_INIT;
	cleanup_free char *sha = NULL, *ids = NULL;
	const char *cluster = ar->params[0];
	struct json_text tasks = JSON_TEXT_INIT, failures = JSON_TEXT_INIT;
	char *save = NULL, *text;
	int rc, found = 0, missing = 0;

	if (write_batch_begin(ar->ctx->writes, &err) < 0) {
		http_reply_orch_error(ar->req, &err);
		return 1;
	}
	rc = store_run_token_get(ar->ctx->store, cluster, a->client_token, &sha, &ids, &err);
	if (rc <= 0) {
		write_batch_abort(ar->ctx->writes);
		if (rc < 0)
			http_reply_orch_error(ar->req, &err);
		return rc < 0;
	}
	if (strcmp(sha, a->request_sha256) != 0) {
		/* Through the batch: the token may be of a write not committed yet. */
		char message[RUNTASK_CLIENT_TOKEN_MAX + 128];

		snprintf(message, sizeof(message),
			 "clientToken: '%s' was already used by a RunTask with other parameters",
			 a->client_token);
		write_batch_reply(ar->ctx->writes, ar->req, 409,
				  json_pack("{s:s, s:s}", "__type", "ConflictException",
					    "message", message));
		return 1;
	}
	json_text_lit(&tasks, "{\"tasks\":[");
	json_text_lit(&failures, "],\"failures\":[");
	for (char *id = strtok_r(ids, " ", &save); id; id = strtok_r(NULL, " ", &save)) {
		struct store_task t = { 0 };
		char arn[TASK_ARN_BUF];

		if (store_task_get(ar->ctx->store, STORE_WRITER, cluster, id, &t, &err) == 0) {
			if (found++)
				json_text_lit(&tasks, ",");
			task_text(&tasks, &t, ar->ctx->services);
			store_task_release(&t);
			continue;
		}
		if (err.kind != ORCH_ERR_NOT_FOUND) {
			json_text_release(&tasks);
			json_text_release(&failures);
			write_batch_abort(ar->ctx->writes);
			http_reply_orch_error(ar->req, &err);
			return 1;
		}
		/* Pruned since (stopped longer than the retention). */
		task_arn_format(arn, sizeof(arn), cluster, id);
		if (missing++)
			json_text_lit(&failures, ",");
		json_text_lit(&failures, "{\"arn\":");
		json_text_string(&failures, arn);
		json_text_lit(&failures, ",\"reason\":\"MISSING\","
			      "\"detail\":\"the task was stopped and pruned\"}");
	}
	if (failures.failed)
		tasks.failed = true;
	json_text_raw(&tasks, failures.buf ? failures.buf : "", failures.len);
	json_text_lit(&tasks, "]");
	put_ignored(&tasks, ignored);
	json_text_lit(&tasks, "}");
	json_text_release(&failures);
	text = json_text_take(&tasks);
	if (!text) {
		write_batch_abort(ar->ctx->writes);
		orch_fail(&err, ORCH_ERR_INTERNAL, "out of memory");
		http_reply_orch_error(ar->req, &err);
		return 1;
	}
	write_batch_reply_text(ar->ctx->writes, ar->req, 200, text);
	return 1;
}

/* Records the token of a RunTask that created tasks ids (in its transaction). */
static int runtask_remember(struct api_request *ar, const struct runtask_args *a,
			    char ids[][STORE_ID_HEX_LEN + 1], orch_error *err)
{
	char list[RUNTASK_MAX_COUNT * (STORE_ID_HEX_LEN + 1)];
	size_t off = 0;

	for (int64_t i = 0; i < a->count; i++)
		off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%s", i ? " " : "", ids[i]);
	return store_run_token_put(ar->ctx->store, ar->params[0], a->client_token,
				   a->request_sha256, list, err);
}

void api_task_run(struct api_request *ar)
{
	orch_error err = ORCH_ERROR_INIT;
	struct runtask_args a = { 0 };
	struct store_taskdef td = { 0 };
	json_t *body = NULL, *ignored = json_array(), *def = NULL, *request = NULL;
	cleanup_free char *group_default = NULL, *overrides_text = NULL, *request_text = NULL;
	struct json_text reply = JSON_TEXT_INIT;
	char *reply_text;
	char ids[RUNTASK_MAX_COUNT][STORE_ID_HEX_LEN + 1];
	struct task_spec spec = { 0 };
	int launched = 0;
	const char *cluster = ar->params[0];

	if (!api_cluster_checked(ar))
		goto out;
	body = api_read_json_object(ar);
	if (!body)
		goto out;
	if (runtask_parse(body, &a, ignored, &err) < 0) {
		http_reply_orch_error(ar->req, &err);
		goto out;
	}
	if (a.client_token[0] && runtask_replay(ar, &a, ignored) != 0)
		goto out;
	if (store_taskdef_get(ar->ctx->store, a.family, a.revision, &td, &err) < 0) {
		if (err.kind == ORCH_ERR_NOT_FOUND)
			http_reply_error(ar->req, 400, "ClientException", "taskDefinition: %s", err.message);
		else
			http_reply_orch_error(ar->req, &err);
		goto out;
	}
	if (!td.active) {
		http_reply_error(ar->req, 400, "ClientException",
				 "taskDefinition: %s:%lld is INACTIVE; register a new revision", td.family,
				 (long long)td.revision);
		goto out;
	}
	def = json_loads(td.body, 0, NULL);
	if (!json_is_object(def)) {
		orch_fail(&err, ORCH_ERR_INTERNAL, "stored task definition %s:%lld is not JSON",
			  td.family, (long long)td.revision);
		http_reply_orch_error(ar->req, &err);
		goto out;
	}
	if (a.overrides && !json_is_null(a.overrides) &&
	    (overrides_check(a.overrides, json_object_get(def, "containerDefinitions"), &err) < 0 ||
	     overrides_fit_task(def, a.overrides, &err) < 0)) {
		http_reply_orch_error(ar->req, &err);
		goto out;
	}
	if (!a.group) {
		if (asprintf(&group_default, "family:%s", td.family) < 0) {
			group_default = NULL;
			goto oom;
		}
		a.group = group_default;
	}
	overrides_text = a.overrides && !json_is_null(a.overrides)
		? json_dumps(a.overrides, JSON_COMPACT) : strdup("{}");
	request = task_placement_request(def, a.overrides, a.group, a.constraints, a.strategy, NULL);
	request_text = request ? json_dumps(request, JSON_COMPACT) : NULL;
	if (!overrides_text || !request_text)
		goto oom;
	if (placement_request_check(request, cluster, &err) < 0) {
		http_reply_orch_error(ar->req, &err);
		goto out;
	}
	if (write_batch_begin(ar->ctx->writes, &err) < 0) {
		http_reply_orch_error(ar->req, &err);
		goto out;
	}
	spec.cluster = cluster;
	spec.family = td.family;
	spec.revision = td.revision;
	spec.definition = def;
	spec.request = request;
	spec.request_text = request_text;
	spec.overrides_text = overrides_text;
	spec.group = a.group;
	spec.started_by = a.started_by;
	json_text_lit(&reply, "{\"tasks\":[");
	for (int64_t i = 0; i < a.count; i++) {
		struct store_task t = { 0 };

		if (task_launch_one(ar->ctx->store, ar->ctx->placement, ar->ctx->desired, &spec,
				    ids[i], &t, &err) < 0)
			goto fail;
		launched = (int)i + 1;
		if (i)
			json_text_lit(&reply, ",");
		task_text(&reply, &t, ar->ctx->services);
		store_task_release(&t);
	}
	if (a.client_token[0] && runtask_remember(ar, &a, ids, &err) < 0)
		goto fail;
	json_text_lit(&reply, "],\"failures\":[]");
	put_ignored(&reply, ignored);
	json_text_lit(&reply, "}");
	reply_text = json_text_take(&reply);
	if (!reply_text) {
		orch_fail(&err, ORCH_ERR_INTERNAL, "out of memory");
		goto fail;
	}
	write_batch_reply_text(ar->ctx->writes, ar->req, 200, reply_text);
	goto out;
fail:
	write_batch_abort(ar->ctx->writes);
	for (int i = 0; i < launched; i++)
		placement_unbind(ar->ctx->placement, ids[i]);
	http_reply_orch_error(ar->req, &err);
	goto out;
oom:
	orch_fail(&err, ORCH_ERR_INTERNAL, "out of memory");
	http_reply_orch_error(ar->req, &err);
out:
	json_text_release(&reply);
	json_decref(request);
	json_decref(def);
	json_decref(ignored);
	json_decref(body);
	store_taskdef_release(&td);
}

/* ---- StopTask, DescribeTasks, ListTasks ---------------------------------- */

void api_task_stop(struct api_request *ar)
{
	orch_error err = ORCH_ERROR_INIT;
	char id[STORE_ID_HEX_LEN + 1];
	struct store_task t = { 0 };
	const char *reason = TASK_DEFAULT_STOP_REASON;
	struct json_text jt = JSON_TEXT_INIT;
	json_t *body = NULL, *v;
	const char *key;
	char *text;
	size_t len = 0;

	if (!api_cluster_checked(ar) || !api_id_checked(ar, ar->params[1], "task", "task", id))
		return;
	http_request_body(ar->req, &len);
	if (len > 0) {
		body = api_read_json_object(ar);
		if (!body)
			return;
		json_object_foreach(body, key, v)
			if (strcmp(key, "reason") != 0 && strcmp(key, "task") != 0 &&
			    strcmp(key, "cluster") != 0) {
				http_reply_error(ar->req, 400, "ClientException", "%.200s: unknown field", key);
				goto out;
			}
		v = json_object_get(body, "reason");
		if (v && (!json_is_string(v) || strlen(json_string_value(v)) > TASK_REASON_MAX)) {
			http_reply_error(ar->req, 400, "ClientException",
					 "reason: must be a string of at most %d characters", TASK_REASON_MAX);
			goto out;
		}
		if (v && *json_string_value(v))
			reason = json_string_value(v);
	}
	if (write_batch_begin(ar->ctx->writes, &err) < 0) {
		http_reply_orch_error(ar->req, &err);
		goto out;
	}
	if (store_task_get(ar->ctx->store, STORE_WRITER, ar->params[0], id, &t, &err) < 0 ||
	    placement_stop_task(ar->ctx->placement, &t, "UserInitiated", reason, &err) < 0) {
		write_batch_abort(ar->ctx->writes);
		http_reply_orch_error(ar->req, &err);
		goto out;
	}
	json_text_lit(&jt, "{\"task\":");
	task_text(&jt, &t, ar->ctx->services);
	json_text_lit(&jt, "}");
	text = json_text_take(&jt);
	if (!text) {
		write_batch_abort(ar->ctx->writes);
		orch_fail(&err, ORCH_ERR_INTERNAL, "out of memory");
		http_reply_orch_error(ar->req, &err);
		goto out;
	}
	write_batch_reply_text(ar->ctx->writes, ar->req, 200, text);
out:
	store_task_release(&t);
	json_decref(body);
}

void api_task_describe(struct api_request *ar)
{
	orch_error err = ORCH_ERROR_INIT;
	char id[STORE_ID_HEX_LEN + 1];
	struct store_task t = { 0 };
	struct json_text jt = JSON_TEXT_INIT;

	if (!api_cluster_checked(ar) || !api_id_checked(ar, ar->params[1], "task", "task", id))
		return;
	if (store_task_get(ar->ctx->store, STORE_READER, ar->params[0], id, &t, &err) < 0) {
		http_reply_orch_error(ar->req, &err);
		return;
	}
	json_text_lit(&jt, "{\"task\":");
	task_text(&jt, &t, ar->ctx->services);
	json_text_lit(&jt, ",\"failures\":[]}");
	store_task_release(&t);
	http_reply_json_text(ar->req, 200, json_text_take(&jt));
}

void api_task_list(struct api_request *ar)
{
	orch_error err = ORCH_ERROR_INIT;
	const char *token = evhttp_find_header(&ar->query, "nextToken");
	const char *desired = evhttp_find_header(&ar->query, "desiredStatus");
	const char *node = evhttp_find_header(&ar->query, "node");
	cleanup_free char *after = NULL;
	char node_id[STORE_ID_HEX_LEN + 1];
	struct store_task_query q = { 0 };
	struct store_task *list = NULL;
	int64_t limit = TASK_PAGE_DEFAULT;
	struct json_text jt = JSON_TEXT_INIT;
	bool more = false;
	int count = 0;

	if (!api_cluster_checked(ar))
		return;
	if (api_query_int(ar, "maxResults", 1, TASK_PAGE_MAX, &limit) < 0)
		return;
	if (!desired) {
		q.desired_status = "RUNNING";
	} else if (strcmp(desired, "RUNNING") == 0 || strcmp(desired, "STOPPED") == 0) {
		q.desired_status = desired;
	} else if (strcmp(desired, "PENDING") == 0) {
		q.desired_status = "RUNNING";	/* ECS: PENDING tasks are desired RUNNING */
	} else if (strcmp(desired, "ALL") != 0) {
		http_reply_error(ar->req, 400, "ClientException",
				 "desiredStatus: must be RUNNING, PENDING, STOPPED or ALL");
		return;
	}
	if (node) {
		const char *id = api_id_of(node);

		if (!id) {
			http_reply_error(ar->req, 400, "ClientException",
					 "node: must be a node ID (%d hex digits) or containerInstanceArn",
					 STORE_ID_HEX_LEN);
			return;
		}
		snprintf(node_id, sizeof(node_id), "%s", id);
		q.node_id = node_id;
	}
	q.family = evhttp_find_header(&ar->query, "family");
	q.started_by = evhttp_find_header(&ar->query, "startedBy");
	q.service_name = evhttp_find_header(&ar->query, "serviceName");
	if (token) {
		char *end;

		if (!(after = api_page_token_decode(ar, token)))
			return;
		q.after_seq = strtoll(after, &end, 10);
		if (*end || q.after_seq < 0) {
			http_reply_error(ar->req, 400, "ClientException", "nextToken: invalid page token");
			return;
		}
	}
	q.cluster = ar->params[0];
	q.limit = (int)limit;
	if (store_task_list(ar->ctx->store, &q, &list, &count, &more, &err) < 0) {
		http_reply_orch_error(ar->req, &err);
		return;
	}
	json_text_lit(&jt, "{\"taskArns\":[");
	for (int i = 0; i < count; i++) {
		char arn[TASK_ARN_BUF];

		task_arn_format(arn, sizeof(arn), list[i].cluster, list[i].id);
		if (i)
			json_text_lit(&jt, ",");
		json_text_string(&jt, arn);
	}
	json_text_lit(&jt, "],\"tasks\":[");
	for (int i = 0; i < count; i++) {
		if (i)
			json_text_lit(&jt, ",");
		task_text(&jt, &list[i], ar->ctx->services);
	}
	json_text_lit(&jt, "]");
	if (more && count > 0) {
		char key[32];
		cleanup_free char *next = NULL;

		snprintf(key, sizeof(key), "%lld", (long long)list[count - 1].seq);
		next = api_page_token_encode(key);
		if (!next)
			jt.failed = true;
		json_text_lit(&jt, ",\"nextToken\":");
		json_text_string(&jt, next ? next : "");
	}
	json_text_lit(&jt, "}");
	store_task_list_free(list, count);
	http_reply_json_text(ar->req, 200, json_text_take(&jt));
}
