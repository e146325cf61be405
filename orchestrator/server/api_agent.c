/*
 * api_agent.c - the server side of agent_protocol.h: registration with the
 * join secret, node-credential authentication, status reports (heartbeats)
 * and the long-polled desired set.  GET /v1/agent/ca lives in api_pki.c.
 *
 * The join secret lets a machine join; it does not make it any node it
 * names.  Registering a name the store knows needs that node's current
 * credential in the body ("credential"), checked against the stored hash
 * by store_node_register; otherwise 409 and nothing changes (the node's
 * assignments, environment values and streams stay with its agent).  A
 * node whose credential is lost is removed by an operator (orch node rm),
 * which clears its credential, and then joins like a new one.
 *
 * Status reports move a task's lastStatus only forward (PROVISIONING <
 * PENDING < RUNNING < STOPPING < STOPPED; STOPPED is final); a report
 * about a task that is not assigned to the reporting node is ignored.
 * Stop codes and reasons set by the server (StopTask, node loss) win over
 * the agent's.  A report from a LOST node makes it ACTIVE again (DRAINING
 * if it was draining) and changes its desired set, which still holds its
 * old tasks as STOPPED until it reports them stopped (fencing).
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "proto/agent_protocol.h"
#include "api.h"
#include "common/cleanup.h"
#include "desired_state.h"
#include "ecs_names.h"
#include "common/fs_util.h"
#include "http_response.h"
#include "common/log.h"
#include "common/str_util.h"
#include "node_monitor.h"
#include "proto/pki.h"
#include "placement.h"
#include "service.h"

/* Room for any ARN built here: prefix, two names and an ID. */
#define API_ARN_BUF (sizeof(ECS_ARN_PREFIX) + 3 * ECS_NAME_MAX + 128)

#define AGENT_NODE_NAME_MAX 255
#define AGENT_MAX_ATTRIBUTES 64
#define AGENT_ATTRIBUTE_NAME_MAX 128
#define AGENT_ATTRIBUTE_VALUE_MAX 256
#define AGENT_REASON_MAX 1024
#define AGENT_MAX_REPORTED_TASKS 4096
/* nodes.last_seen_at is written at most this often (heartbeats stay cheap). */
#define AGENT_LAST_SEEN_PERSIST_S 30.0

static void random_hex(char *out, size_t bytes)
{
	unsigned char buf[64];

	if (RAND_bytes(buf, (int)bytes) != 1)
		abort();	/* no randomness: never hand out guessable IDs */
	for (size_t i = 0; i < bytes; i++)
		snprintf(out + 2 * i, 3, "%02x", buf[i]);
}

static void sha256_hex(const char *s, char out[65])
{
	unsigned char md[32];
	unsigned int len = 0;

	EVP_Digest(s, strlen(s), md, &len, EVP_sha256(), NULL);
	for (unsigned i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static bool is_hex(const char *s, size_t len)
{
	size_t i;

	for (i = 0; s[i]; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return i == len;
}

static void reply_unauthorized(struct http_request *req, const char *why)
{
	http_reply_error_headers(req, 401, "AccessDeniedException",
				 "WWW-Authenticate: Bearer realm=\"orch-agent\"\r\n", "%s", why);
}

bool api_agent_authenticate(struct api_request *ar)
{
	const char *h = http_request_header(ar->req, "Authorization");
	orch_error err = ORCH_ERROR_INIT;
	char hash[65];

	if (!h || strncmp(h, "Bearer ", 7) != 0 || !is_hex(h + 7, AGENT_CREDENTIAL_HEX_LEN)) {
		reply_unauthorized(ar->req, "missing or invalid node credential");
		return false;
	}
	sha256_hex(h + 7, hash);
	if (store_node_by_credential(ar->ctx->store, hash, ar->agent_node_id,
				     sizeof(ar->agent_node_id), &err) < 0) {
		if (err.kind == ORCH_ERR_NOT_FOUND)
			reply_unauthorized(ar->req, "unknown or revoked node credential");
		else
			http_reply_orch_error(ar->req, &err);
		return false;
	}
	return true;
}

static bool join_secret_ok(struct api_request *ar)
{
	const char *h = http_request_header(ar->req, "Authorization");
	cleanup_free char *path = NULL, *token = NULL;
	orch_error err = ORCH_ERROR_INIT;
	size_t len = 0;
	bool ok;

	if (!h || asprintf(&path, "%s/%s", ar->ctx->data_dir, PKI_JOIN_TOKEN_FILE) < 0) {
		path = NULL;
		return false;
	}
	if (fs_read_file(path, PKI_JOIN_TOKEN_MAX, &token, &len, &err) < 0) {
		log_warn("agent: registration refused: no join token: %s", err.message);
		return false;
	}
	while (len > 0 && (token[len - 1] == '\n' || token[len - 1] == '\r' || token[len - 1] == ' '))
		token[--len] = '\0';
	ok = pki_join_secret_matches(token, h);
	OPENSSL_cleanse(token, len);
	return ok;
}

static bool node_name_valid(const char *s)
{
	size_t n = 0;

	for (; s[n]; n++) {
		char c = s[n];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.'))
			return false;
	}
	return n >= 1 && n <= AGENT_NODE_NAME_MAX;
}

/*
 * Checks the register body; fills in (borrowed strings), a new attributes
 * text and *credential (borrowed; NULL if absent): the node's current
 * credential, its proof of identity when it registers again.
 */
static int register_parse(json_t *body, struct store_node *in, char **attributes,
			  const char **credential, orch_error *err)
{
	static const char *const known[] = { "nodeName", "cluster", "advertiseAddress",
					     "resources", "attributes", "agentVersion",
					     "credential" };
	json_t *v, *res, *attrs;
	const char *key;

	json_object_foreach(body, key, v) {
		bool ok = false;

		for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
			ok = ok || strcmp(key, known[i]) == 0;
		if (!ok)
			return orch_fail(err, ORCH_ERR_INVALID, "%.200s: unknown field", key);
	}
	v = json_object_get(body, "nodeName");
	if (!json_is_string(v) || !node_name_valid(json_string_value(v)))
		return orch_fail(err, ORCH_ERR_INVALID,
				 "nodeName: required, 1 to %d letters, digits, '.', '-' or '_'",
				 AGENT_NODE_NAME_MAX);
	in->name = (char *)json_string_value(v);
	v = json_object_get(body, "credential");
	if (v && (!json_is_string(v) || !is_hex(json_string_value(v), AGENT_CREDENTIAL_HEX_LEN)))
		return orch_fail(err, ORCH_ERR_INVALID,
				 "credential: must be the node's credential, %d lower-case hex digits",
				 AGENT_CREDENTIAL_HEX_LEN);
	*credential = v ? json_string_value(v) : NULL;
	v = json_object_get(body, "cluster");
	if (v && (!json_is_string(v) || !ecs_name_valid(json_string_value(v))))
		return orch_fail(err, ORCH_ERR_INVALID, "cluster: must be a cluster name");
	in->cluster = (char *)(v ? json_string_value(v) : STORE_DEFAULT_CLUSTER);
	v = json_object_get(body, "advertiseAddress");
	if (v && (!json_is_string(v) || strlen(json_string_value(v)) > 255))
		return orch_fail(err, ORCH_ERR_INVALID, "advertiseAddress: must be a string");
	in->advertise_address = (char *)(v ? json_string_value(v) : "");
	res = json_object_get(body, "resources");
	if (!json_is_object(res))
		return orch_fail(err, ORCH_ERR_INVALID, "resources: required object {cpu, memory}");
	v = json_object_get(res, "cpu");
	if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > (1 << 24))
		return orch_fail(err, ORCH_ERR_INVALID, "resources.cpu: must be a positive integer (CPU units)");
	in->cpu = json_integer_value(v);
	v = json_object_get(res, "memory");
	if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > (1LL << 32))
		return orch_fail(err, ORCH_ERR_INVALID, "resources.memory: must be a positive integer (MiB)");
	in->memory = json_integer_value(v);
	attrs = json_object_get(body, "attributes");
	if (attrs && !json_is_object(attrs))
		return orch_fail(err, ORCH_ERR_INVALID, "attributes: must be an object of strings");
	if (json_object_size(attrs) > AGENT_MAX_ATTRIBUTES)
		return orch_fail(err, ORCH_ERR_INVALID, "attributes: at most %d", AGENT_MAX_ATTRIBUTES);
	json_object_foreach(attrs, key, v) {
		if (strlen(key) == 0 || strlen(key) > AGENT_ATTRIBUTE_NAME_MAX)
			return orch_fail(err, ORCH_ERR_INVALID, "attributes: names are 1 to %d characters",
					 AGENT_ATTRIBUTE_NAME_MAX);
		if (!json_is_string(v) || strlen(json_string_value(v)) > AGENT_ATTRIBUTE_VALUE_MAX)
			return orch_fail(err, ORCH_ERR_INVALID,
					 "attributes.%.128s: must be a string of at most %d characters",
					 key, AGENT_ATTRIBUTE_VALUE_MAX);
	}
	*attributes = json_dumps(attrs ? attrs : json_object(), JSON_COMPACT | JSON_SORT_KEYS);
	if (!*attributes)
		return orch_fail(err, ORCH_ERR_INTERNAL, "out of memory");
	return 0;
}

void api_agent_register(struct api_request *ar)
{
	orch_error err = ORCH_ERROR_INIT;
	struct store_node in = { 0 }, node = { 0 };
	struct store_cluster cluster = { 0 };
	cleanup_free char *attributes = NULL;
	char credential[AGENT_CREDENTIAL_HEX_LEN + 1], hash[65], new_id[STORE_ID_HEX_LEN + 1];
	char proof[65];
	const char *presented = NULL;
	bool created = false;
	json_t *body;

	if (!join_secret_ok(ar)) {
		reply_unauthorized(ar->req, "missing or invalid join secret");
		return;
	}
	body = api_read_json_object(ar);
	if (!body)
		return;
	if (register_parse(body, &in, &attributes, &presented, &err) < 0) {
		http_reply_orch_error(ar->req, &err);
		goto out;
	}
	in.attributes = attributes;
	if (store_cluster_get(ar->ctx->store, in.cluster, &cluster, &err) < 0) {
		api_reply_cluster_error(ar, &err);
		goto out;
	}
	random_hex(credential, AGENT_CREDENTIAL_HEX_LEN / 2);
	random_hex(new_id, STORE_ID_HEX_LEN / 2);
	sha256_hex(credential, hash);
	if (presented)
		sha256_hex(presented, proof);
	if (write_batch_begin(ar->ctx->writes, &err) < 0) {
		http_reply_orch_error(ar->req, &err);
		goto out;
	}
	if (store_node_register(ar->ctx->store, &in, presented ? proof : NULL, hash, new_id,
				&created, &node, &err) < 0 ||
	    placement_node_changed(ar->ctx->placement, &node, &err) < 0) {
		write_batch_abort(ar->ctx->writes);
		if (err.kind == ORCH_ERR_CONFLICT)
			log_warn("agent: registration as node '%s' refused: %s", in.name,
				 err.message);
		if (err.kind == ORCH_ERR_INTERNAL && strstr(err.message, "FOREIGN KEY"))
			http_reply_error(ar->req, 404, "ClusterNotFoundException", "cluster '%s' not found",
					 in.cluster);
		else
			http_reply_orch_error(ar->req, &err);
		goto out;
	}
	node_monitor_seen(ar->ctx->nodes, node.id);
	/* A re-registered node's old polls (old credential) get their answer now. */
	desired_state_changed(ar->ctx->desired, node.id);
	log_info("agent: node %s (%s) %s in cluster %s", node.id, node.name,
		 created ? "registered" : "re-registered", node.cluster);
	write_batch_reply(ar->ctx->writes, ar->req, created ? 201 : 200,
			  json_pack("{s:o, s:s}", "node", api_node_to_json(ar->ctx, &node),
				    "credential", credential));
out:
	OPENSSL_cleanse(credential, sizeof(credential));
	OPENSSL_cleanse(proof, sizeof(proof));
	store_node_release(&node);
	store_cluster_release(&cluster);
	json_decref(body);
}

/* ---- status reports ------------------------------------------------------ */

static const char *const reportable_status[] = {
	"PENDING", "ACTIVATING", "RUNNING", "DEACTIVATING", "STOPPING", "STOPPED",
};

static bool status_reportable(const char *s)
{
	for (size_t i = 0; i < sizeof(reportable_status) / sizeof(reportable_status[0]); i++)
		if (strcmp(s, reportable_status[i]) == 0)
			return true;
	return false;
}

static int check_optional_string(json_t *obj, const char *key, const char *path, size_t i,
				 orch_error *err)
{
	json_t *v = json_object_get(obj, key);

	if (v && !json_is_null(v) && (!json_is_string(v) || strlen(json_string_value(v)) > AGENT_REASON_MAX))
		return orch_fail(err, ORCH_ERR_INVALID, "%s[%zu].%s: must be a string", path, i, key);
	return 0;
}

static int check_number(json_t *obj, const char *key, const char *path, size_t i, orch_error *err)
{
	json_t *v = json_object_get(obj, key);

	if (v && !json_is_null(v) && !json_is_number(v))
		return orch_fail(err, ORCH_ERR_INVALID, "%s[%zu].%s: must be a number", path, i, key);
	return 0;
}

/* Validates the whole report before anything is written. */
static int status_check(json_t *body, orch_error *err)
{
	json_t *tasks = json_object_get(body, "tasks"), *t, *res;
	const char *key;
	json_t *v;
	size_t i, j;

	json_object_foreach(body, key, v)
		if (strcmp(key, "tasks") != 0 && strcmp(key, "resources") != 0)
			return orch_fail(err, ORCH_ERR_INVALID, "%.200s: unknown field", key);
	res = json_object_get(body, "resources");
	if (res && !json_is_object(res) && !json_is_null(res))
		return orch_fail(err, ORCH_ERR_INVALID, "resources: must be an object");
	if (tasks && !json_is_array(tasks))
		return orch_fail(err, ORCH_ERR_INVALID, "tasks: must be an array");
	if (json_array_size(tasks) > AGENT_MAX_REPORTED_TASKS)
		return orch_fail(err, ORCH_ERR_INVALID, "tasks: at most %d", AGENT_MAX_REPORTED_TASKS);
	json_array_foreach(tasks, i, t) {
		json_t *id = json_object_get(t, "taskId");
		json_t *st = json_object_get(t, "lastStatus");
		json_t *containers = json_object_get(t, "containers"), *c;

		if (!json_is_object(t))
			return orch_fail(err, ORCH_ERR_INVALID, "tasks[%zu]: must be an object", i);
		if (!json_is_string(id) || !is_hex(json_string_value(id), AGENT_TASK_ID_HEX_LEN))
			return orch_fail(err, ORCH_ERR_INVALID, "tasks[%zu].taskId: must be %d hex digits",
					 i, AGENT_TASK_ID_HEX_LEN);
		if (!json_is_string(st) || !status_reportable(json_string_value(st)))
			return orch_fail(err, ORCH_ERR_INVALID,
					 "tasks[%zu].lastStatus: must be PENDING, RUNNING, STOPPING or STOPPED", i);
		if (check_optional_string(t, "stopCode", "tasks", i, err) < 0 ||
		    check_optional_string(t, "stoppedReason", "tasks", i, err) < 0 ||
		    check_optional_string(t, "healthStatus", "tasks", i, err) < 0 ||
		    check_number(t, "startedAt", "tasks", i, err) < 0 ||
		    check_number(t, "stoppedAt", "tasks", i, err) < 0)
			return -1;
		v = json_object_get(t, "usage");
		if (v && !json_is_null(v)) {
			json_t *cpu = json_object_get(v, "cpuUnits"), *mem = json_object_get(v, "memoryMiB");

			if (!json_is_object(v) || (cpu && (!json_is_number(cpu) || json_number_value(cpu) < 0 ||
							  json_number_value(cpu) > 1e9)) ||
			    (mem && (!json_is_number(mem) || json_number_value(mem) < 0 ||
				     json_number_value(mem) > 1e12)))
				return orch_fail(err, ORCH_ERR_INVALID,
						 "tasks[%zu].usage: must be {\"cpuUnits\": number >= 0, \"memoryMiB\": number >= 0}", i);
		}
		if (containers && !json_is_array(containers))
			return orch_fail(err, ORCH_ERR_INVALID, "tasks[%zu].containers: must be an array", i);
		json_array_foreach(containers, j, c) {
			json_t *ec = json_object_get(c, "exitCode");

			if (!json_is_object(c) || !json_is_string(json_object_get(c, "name")))
				return orch_fail(err, ORCH_ERR_INVALID,
						 "tasks[%zu].containers[%zu].name: required string", i, j);
			if (ec && !json_is_null(ec) && !json_is_integer(ec))
				return orch_fail(err, ORCH_ERR_INVALID,
						 "tasks[%zu].containers[%zu].exitCode: must be an integer", i, j);
			if (check_optional_string(c, "lastStatus", "containers", j, err) < 0 ||
			    check_optional_string(c, "reason", "containers", j, err) < 0 ||
			    check_optional_string(c, "healthStatus", "containers", j, err) < 0 ||
			    check_optional_string(c, "runtimeId", "containers", j, err) < 0)
				return -1;
			v = json_object_get(c, "networkBindings");
			if (v && !json_is_array(v) && !json_is_null(v))
				return orch_fail(err, ORCH_ERR_INVALID,
						 "tasks[%zu].containers[%zu].networkBindings: must be an array", i, j);
		}
	}
	return 0;
}

/* Merges the agent's container reports (by name) into the stored list. */
static char *containers_merge(const char *stored, json_t *reported)
{
	static const char *const fields[] = { "lastStatus", "exitCode", "reason", "healthStatus",
					      "runtimeId", "networkBindings" };
	json_t *list = json_loads(stored, 0, NULL), *r, *c;
	size_t i, j;
	char *out;

	if (!json_is_array(list)) {
		json_decref(list);
		list = json_array();
	}
	json_array_foreach(reported, i, r) {
		const char *name = json_string_value(json_object_get(r, "name"));
		json_t *target = NULL;

		json_array_foreach(list, j, c)
			if (name && json_is_string(json_object_get(c, "name")) &&
			    strcmp(json_string_value(json_object_get(c, "name")), name) == 0)
				target = c;
		if (!target)
			continue;	/* not a container of this task definition */
		for (size_t k = 0; k < sizeof(fields) / sizeof(fields[0]); k++) {
			json_t *v = json_object_get(r, fields[k]);

			if (v && !json_is_null(v))
				json_object_set(target, fields[k], v);
		}
	}
	out = json_dumps(list, JSON_COMPACT);
	json_decref(list);
	return out;
}

/* Remembers a RUNNING task's reported use (in memory); forgets a stopped one's. */
static void usage_apply(struct api_request *ar, const struct store_task *t, json_t *usage)
{
	json_t *cpu = json_object_get(usage, "cpuUnits"), *mem = json_object_get(usage, "memoryMiB");

	if (strcmp(t->last_status, "STOPPED") == 0) {
		service_usage_forget(ar->ctx->services, t->id);
		return;
	}
	if (json_is_number(cpu) && json_is_number(mem))
		service_usage_record(ar->ctx->services, t->id, json_number_value(cpu),
				     json_number_value(mem));
}

/*
 * Applies one task report of the node.  *stopped says the task reached
 * STOPPED now; *left_set that the agent now says STOPPED, so the task
 * leaves the node's desired set.  Unknown tasks and other nodes' tasks are
 * skipped.
 */
static int status_apply_task(struct api_request *ar, json_t *report, bool *stopped,
			     bool *left_set, orch_error *err)
{
	const char *id = json_string_value(json_object_get(report, "taskId"));
	const char *status = json_string_value(json_object_get(report, "lastStatus"));
	const char *code = json_string_value(json_object_get(report, "stopCode"));
	const char *reason = json_string_value(json_object_get(report, "stoppedReason"));
	const char *health = json_string_value(json_object_get(report, "healthStatus"));
	json_t *containers = json_object_get(report, "containers");
	struct store_task t = { 0 };
	bool changed = false, was_stopped;
	double now = store_now();
	int rc;

	*stopped = false;
	*left_set = false;
	if (store_task_get(ar->ctx->store, STORE_WRITER, NULL, id, &t, err) < 0) {
		if (err->kind == ORCH_ERR_NOT_FOUND)
			return 0;
		return -1;
	}
	if (!t.node_id || strcmp(t.node_id, ar->agent_node_id) != 0) {
		log_debug("agent: node %s reported task %s it does not hold", ar->agent_node_id, id);
		store_task_release(&t);
		return 0;
	}
	was_stopped = strcmp(t.last_status, "STOPPED") == 0;
	/* What the agent last said (fencing: the set keeps tasks until it says STOPPED). */
	if (store_task_status_rank(status) > store_task_status_rank(t.agent_status)) {
		if (str_set_copy(&t.agent_status, status) < 0)
			goto oom;
		changed = true;
		*left_set = strcmp(status, "STOPPED") == 0;
	}
	if (!was_stopped) {
		if (store_task_status_rank(status) > store_task_status_rank(t.last_status)) {
			if (str_set_copy(&t.last_status, status) < 0)
				goto oom;
			changed = true;
		}
		if (store_task_status_rank(t.last_status) >= store_task_status_rank("RUNNING") &&
		    t.started_at <= 0 && strcmp(status, "STOPPED") != 0) {
			json_t *at = json_object_get(report, "startedAt");

			t.started_at = json_is_number(at) ? json_number_value(at) : now;
			changed = true;
		}
		if (strcmp(t.last_status, "STOPPED") == 0) {
			json_t *at = json_object_get(report, "stoppedAt");

			t.stopped_at = json_is_number(at) ? json_number_value(at) : now;
			if (t.stopping_at <= 0)
				t.stopping_at = t.stopped_at;
			if (str_set_copy(&t.desired_status, "STOPPED") < 0)
				goto oom;
			if (!t.stop_code && (str_set_copy(&t.stop_code, code ? code : "TaskFailedToStart") < 0 ||
					     str_set_copy(&t.stopped_reason, reason) < 0))
				goto oom;
			*stopped = true;
		}
		if (health && str_differs(health, t.health_status)) {
			if (str_set_copy(&t.health_status, health) < 0)
				goto oom;
			changed = true;
		}
		if (json_array_size(containers) > 0) {
			char *merged = containers_merge(t.containers, containers);

			if (!merged)
				goto oom;
			if (strcmp(merged, t.containers) != 0) {
				free(t.containers);
				t.containers = merged;
				changed = true;
			} else {
				free(merged);
			}
		}
	}
	rc = changed || *stopped ? store_task_update(ar->ctx->store, &t, err) : 0;
	if (rc == 0 && t.service_name && (changed || *stopped))
		service_reconciler_mark(ar->ctx->services, t.cluster, t.service_name);
	usage_apply(ar, &t, json_object_get(report, "usage"));
	store_task_release(&t);
	return rc;
oom:
	store_task_release(&t);
	return orch_fail(err, ORCH_ERR_INTERNAL, "out of memory");
}

void api_agent_status(struct api_request *ar)
{
	orch_error err = ORCH_ERROR_INIT;
	struct store_node node = { 0 };
	json_t *body = api_read_json_object(ar), *report;
	char **stopped_ids = NULL;
	bool set_changed = false;
	int nstopped = 0;
	size_t i;

	if (!body)
		return;
	if (status_check(body, &err) < 0) {
		http_reply_orch_error(ar->req, &err);
		goto out;
	}
	node_monitor_seen(ar->ctx->nodes, ar->agent_node_id);
	if (write_batch_begin(ar->ctx->writes, &err) < 0) {
		http_reply_orch_error(ar->req, &err);
		goto out;
	}
	if (store_node_get(ar->ctx->store, STORE_WRITER, NULL, ar->agent_node_id, &node, &err) < 0)
		goto fail;
	if (store_now() - node.last_seen_at > AGENT_LAST_SEEN_PERSIST_S &&
	    store_node_touch(ar->ctx->store, node.id, store_now(), &err) < 0)
		goto fail;
	if (strcmp(node.status, "LOST") == 0) {
		const char *back = node.status_before_lost ? node.status_before_lost : "ACTIVE";

		if (store_node_set_status(ar->ctx->store, node.id, back, NULL, &err) < 0 ||
		    str_set_copy(&node.status, back) < 0)
			goto fail;
		log_info("agent: node %s (%s) reports again: %s", node.id, node.name, back);
		if (placement_node_changed(ar->ctx->placement, &node, &err) < 0)
			goto fail;
		desired_state_changed(ar->ctx->desired, node.id);
	}
	stopped_ids = calloc(json_array_size(json_object_get(body, "tasks")) + 1, sizeof(char *));
	if (!stopped_ids) {
		orch_fail(&err, ORCH_ERR_INTERNAL, "out of memory");
		goto fail;
	}
	json_array_foreach(json_object_get(body, "tasks"), i, report) {
		bool stopped = false, left_set = false;

		if (status_apply_task(ar, report, &stopped, &left_set, &err) < 0)
			goto fail;
		if (left_set)
			set_changed = true;
		if (stopped)
			stopped_ids[nstopped++] = (char *)json_string_value(json_object_get(report, "taskId"));
	}
	for (int k = 0; k < nstopped; k++)
		placement_task_stopped(ar->ctx->placement, stopped_ids[k]);
	/* A task the agent reported STOPPED leaves its set: tell the agent, so
	 * it removes the task's containers now rather than at the next change. */
	if (set_changed)
		desired_state_changed(ar->ctx->desired, ar->agent_node_id);
	write_batch_reply(ar->ctx->writes, ar->req, 200,
			  json_pack("{s:I}", "index",
				    (json_int_t)desired_state_index(ar->ctx->desired, ar->agent_node_id)));
	goto out;
fail:
	write_batch_abort(ar->ctx->writes);
	http_reply_orch_error(ar->req, &err);
out:
	free(stopped_ids);
	store_node_release(&node);
	json_decref(body);
}

/* ---- the desired set ----------------------------------------------------- */

struct taskdef_cache_entry {
	char *family;
	int64_t revision;
	json_t *body;		/* normalized definition with taskDefinitionArn */
};

static json_t *taskdef_cached(struct store *store, struct taskdef_cache_entry *cache, int *count,
			      int cap, const char *family, int64_t revision)
{
	struct store_taskdef td;
	orch_error err = ORCH_ERROR_INIT;
	char arn[API_ARN_BUF];
	json_t *body;

	for (int i = 0; i < *count; i++)
		if (cache[i].revision == revision && strcmp(cache[i].family, family) == 0)
			return cache[i].body;
	if (store_taskdef_get(store, family, revision, &td, &err) < 0) {
		log_warn("agent: task definition %s:%lld: %s", family, (long long)revision, err.message);
		return NULL;
	}
	body = json_loads(td.body, 0, NULL);
	store_taskdef_release(&td);
	if (!json_is_object(body)) {
		json_decref(body);
		return NULL;
	}
	snprintf(arn, sizeof(arn), ECS_ARN_PREFIX "task-definition/%s:%lld", family, (long long)revision);
	json_object_set_new(body, "taskDefinitionArn", json_string(arn));
	json_object_set_new(body, "revision", json_integer(revision));
	if (*count < cap) {
		cache[*count].family = strdup(family);
		cache[*count].revision = revision;
		cache[*count].body = body;
		if (cache[*count].family) {
			(*count)++;
			return body;
		}
	}
	json_object_set_new(body, "__uncached", json_true());
	return body;
}

#define RENDER_TASKDEF_CACHE 32

void api_agent_render_assignments(struct http_request *req, const char *node_id, uint64_t index,
				  void *arg)
{
	struct api_context *ctx = arg;
	orch_error err = ORCH_ERROR_INIT;
	struct store_node node = { 0 };
	struct store_task *tasks = NULL;
	struct taskdef_cache_entry cache[RENDER_TASKDEF_CACHE];
	int count = 0, cached = 0;
	const char *status = "INACTIVE";
	json_t *list;

	if (store_node_get(ctx->store, STORE_READER, NULL, node_id, &node, &err) == 0)
		status = node.status;
	if (store_task_list_desired(ctx->store, STORE_READER, node_id, &tasks, &count, &err) < 0) {
		store_node_release(&node);
		http_reply_orch_error(req, &err);
		return;
	}
	list = json_array();
	for (int i = 0; i < count; i++) {
		struct store_task *t = &tasks[i];
		char arn[API_ARN_BUF];
		json_t *td = taskdef_cached(ctx->store, cache, &cached, RENDER_TASKDEF_CACHE,
					    t->family, t->revision);
		json_t *overrides = json_loads(t->overrides, 0, NULL);
		bool stop = strcmp(t->desired_status, "STOPPED") == 0 ||
			strcmp(t->last_status, "STOPPED") == 0;
		json_t *entry;

		snprintf(arn, sizeof(arn), ECS_ARN_PREFIX "task/%s/%s", t->cluster, t->id);
		entry = json_pack("{s:s, s:s, s:s, s:s, s:O?, s:o}",
				  "taskArn", arn, "taskId", t->id, "cluster", t->cluster,
				  "desiredStatus", stop ? "STOPPED" : "RUNNING",
				  "taskDefinition", td,
				  "overrides", overrides ? overrides : json_object());
		if (td && json_object_get(td, "__uncached")) {
			json_object_del(td, "__uncached");
			json_decref(td);
		}
		if (t->stopped_reason)
			json_object_set_new(entry, "stopReason", json_string(t->stopped_reason));
		json_array_append_new(list, entry);
	}
	for (int i = 0; i < cached; i++) {
		free(cache[i].family);
		json_decref(cache[i].body);
	}
	http_reply_json(req, 200, json_pack("{s:I, s:s, s:o}", "index", (json_int_t)index,
					     "nodeStatus", status, "tasks", list));
	store_task_list_free(tasks, count);
	store_node_release(&node);
}

void api_agent_assignments(struct api_request *ar)
{
	int64_t since = 0, wait = AGENT_ASSIGNMENTS_DEFAULT_WAIT_S;
	uint64_t index;

	if (api_query_int(ar, "index", 0, INT64_MAX, &since) < 0 ||
	    api_query_int(ar, "wait", 0, AGENT_ASSIGNMENTS_MAX_WAIT_S, &wait) < 0)
		return;
	node_monitor_seen(ar->ctx->nodes, ar->agent_node_id);
	index = desired_state_index(ar->ctx->desired, ar->agent_node_id);
	if (wait > 0 && desired_state_wait(ar->ctx->desired, ar->agent_node_id, ar->req,
					   (uint64_t)since, (int)wait * 1000))
		return;
	api_agent_render_assignments(ar->req, ar->agent_node_id, index, ar->ctx);
}

void api_agent_node_lost(const char *node_id, void *arg)
{
	struct api_context *ctx = arg;
	orch_error err = ORCH_ERROR_INIT;

	if (placement_node_lost(ctx->placement, node_id, &err) < 0)
		log_error("node %s: marking it LOST: %s", node_id, err.message);
}
