/*
 * task_launch.c - a new task: ID, scheduler request, initial containers,
 * placement and the row (task_launch.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "task_launch.h"

#include "desired_state.h"
#include "json_text.h"
#include "common/log.h"
#include "placement.h"

void task_arn_format(char *out, size_t size, const char *cluster, const char *id)
{
	snprintf(out, size, ECS_ARN_PREFIX "task/%s/%s", cluster, id);
}


int64_t task_json_int(json_t *v, bool *ok)
{
	char *end;
	long long n;

	*ok = true;
	if (!v || json_is_null(v))
		return -1;
	if (json_is_integer(v))
		return json_integer_value(v);
	if (json_is_string(v)) {
		n = strtoll(json_string_value(v), &end, 10);
		if (end != json_string_value(v) && *end == '\0')
			return n;
	}
	*ok = false;
	return -1;
}


json_t *task_find_container(json_t *list, const char *name)
{
	json_t *c;
	size_t i;

	json_array_foreach(list, i, c)
		if (json_is_string(json_object_get(c, "name")) &&
		    strcmp(json_string_value(json_object_get(c, "name")), name) == 0)
			return c;
	return NULL;
}


static int64_t container_value(json_t *c, json_t *co, const char *key, const char *fallback)
{
	json_t *v = co ? json_object_get(co, key) : NULL;

	if (!json_is_integer(v))
		v = json_object_get(c, key);
	if (!json_is_integer(v) && fallback)
		return container_value(c, co, fallback, NULL);
	return json_is_integer(v) ? json_integer_value(v) : 0;
}


/*
 * The scheduler request of a task of td with overrides: cpu, memory, host
 * ports, group, constraints, strategy (the tasks.placement_json shape).
 */
json_t *task_placement_request(json_t *td, json_t *ov, const char *group, json_t *constraints,
			       json_t *strategy, const char *node)
{
	json_t *containers = json_object_get(td, "containerDefinitions"), *c, *pm;
	json_t *co_list = json_object_get(ov, "containerOverrides"), *ports = json_array();
	const char *mode = json_string_value(json_object_get(td, "networkMode"));
	int64_t cpu = 0, memory = 0, task_cpu, task_mem;
	bool ok;
	size_t i, j;

	json_array_foreach(containers, i, c) {
		const char *name = json_string_value(json_object_get(c, "name"));
		json_t *co = name ? task_find_container(co_list, name) : NULL;

		cpu += container_value(c, co, "cpu", NULL);
		memory += container_value(c, co, "memory", "memoryReservation");
		if (mode && (strcmp(mode, "awsvpc") == 0 || strcmp(mode, "none") == 0))
			continue;
		json_array_foreach(json_object_get(c, "portMappings"), j, pm) {
			json_t *hp = json_object_get(pm, "hostPort");
			const char *proto = json_string_value(json_object_get(pm, "protocol"));

			if (!json_is_integer(hp) || json_integer_value(hp) == 0)
				continue;	/* dynamic host port (bridge) */
			json_array_append_new(ports, json_pack("{s:I, s:s}", "port",
							       (json_int_t)json_integer_value(hp),
							       "protocol", proto ? proto : "tcp"));
		}
	}
	task_cpu = task_json_int(json_object_get(ov, "cpu"), &ok);
	if (task_cpu < 0)
		task_cpu = task_json_int(json_object_get(td, "cpu"), &ok);
	task_mem = task_json_int(json_object_get(ov, "memory"), &ok);
	if (task_mem < 0)
		task_mem = task_json_int(json_object_get(td, "memory"), &ok);
	if (task_cpu > 0)
		cpu = task_cpu;
	if (task_mem > 0)
		memory = task_mem;
	return json_pack("{s:I, s:I, s:o, s:s, s:O?, s:O?, s:s*}", "cpu", (json_int_t)cpu,
			 "memory", (json_int_t)memory, "ports", ports, "group", group,
			 "placementConstraints", constraints, "placementStrategy", strategy,
			 "node", node);
}


/*
 * A container's dockerLabels, as the definition has them (the agent sets the
 * same on its runtime container; no RunTask override changes them).
 */
static void put_labels(struct json_text *jt, json_t *labels)
{
	const char *key;
	json_t *value;
	bool first = true;

	if (json_object_size(labels) == 0)
		return;
	json_text_lit(jt, ",\"dockerLabels\":{");
	json_object_foreach(labels, key, value) {
		if (!first)
			json_text_lit(jt, ",");
		first = false;
		json_text_string(jt, key);
		json_text_lit(jt, ":");
		json_text_string(jt, json_string_value(value));
	}
	json_text_lit(jt, "}");
}


/* The containers of a new task, as stored: each PENDING, health UNKNOWN, its dockerLabels. */
char *task_containers_initial(json_t *td, const char *cluster, const char *task_id)
{
	struct json_text jt = JSON_TEXT_INIT;
	char tarn[TASK_ARN_BUF];
	json_t *c;
	size_t i;

	task_arn_format(tarn, sizeof(tarn), cluster, task_id);
	json_text_lit(&jt, "[");
	json_array_foreach(json_object_get(td, "containerDefinitions"), i, c) {
		const char *name = json_string_value(json_object_get(c, "name"));
		char arn[TASK_ARN_BUF];

		snprintf(arn, sizeof(arn), ECS_ARN_PREFIX "container/%s/%s/%s", cluster, task_id,
			 name ? name : "");
		if (i)
			json_text_lit(&jt, ",");
		json_text_lit(&jt, "{\"containerArn\":");
		json_text_string(&jt, arn);
		json_text_lit(&jt, ",\"taskArn\":");
		json_text_string(&jt, tarn);
		json_text_lit(&jt, ",\"name\":");
		json_text_string(&jt, name ? name : "");
		if (json_is_string(json_object_get(c, "image"))) {
			json_text_lit(&jt, ",\"image\":");
			json_text_string(&jt, json_string_value(json_object_get(c, "image")));
		}
		json_text_lit(&jt, ",\"lastStatus\":\"PENDING\",\"healthStatus\":\"UNKNOWN\",\"essential\":");
		json_text_bool(&jt, !json_is_false(json_object_get(c, "essential")));
		put_labels(&jt, json_object_get(c, "dockerLabels"));
		json_text_lit(&jt, "}");
	}
	json_text_lit(&jt, "]");
	return json_text_take(&jt);
}


/*
 * A new task ID: 12 hex digits of milliseconds since the epoch, then 20
 * random ones (80 bits).  IDs of new tasks sort after older ones, so
 * inserting them appends to the primary-key index instead of touching a
 * random page of it per task (fewer pages written per commit).
 */
void task_new_id(char out[STORE_ID_HEX_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char buf[(STORE_ID_HEX_LEN - 12) / 2];
	uint64_t ms = (uint64_t)(store_now() * 1000.0);

	if (RAND_bytes(buf, sizeof(buf)) != 1)
		abort();	/* no randomness: never hand out guessable IDs */
	for (int i = 11; i >= 0; i--, ms >>= 4)
		out[i] = hex[ms & 0xf];
	for (size_t i = 0; i < sizeof(buf); i++) {
		out[12 + 2 * i] = hex[buf[i] >> 4];
		out[13 + 2 * i] = hex[buf[i] & 0xf];
	}
	out[STORE_ID_HEX_LEN] = '\0';
}

int task_launch_one(struct store *store, struct placement *placement,
		    struct desired_state *desired, const struct task_spec *spec,
		    char id[STORE_ID_HEX_LEN + 1], struct store_task *out, orch_error *err)
{
	char node[PLACEMENT_NODE_ID_SIZE] = "", reason[PLACEMENT_REASON_SIZE] = "";
	struct store_task t = { 0 };
	char *containers;
	int rc;

	task_new_id(id);
	containers = task_containers_initial(spec->definition, spec->cluster, id);
	if (!containers)
		return orch_fail(err, ORCH_ERR_INTERNAL, "out of memory");
	rc = placement_place(placement, id, spec->cluster, spec->request, node, sizeof(node),
			     reason, sizeof(reason), err);
	if (rc < 0) {
		free(containers);
		return -1;
	}
	if (spec->reason && spec->reason_size)
		snprintf(spec->reason, spec->reason_size, "%s", rc == 0 ? "" : reason);
	if (rc == 1 && spec->only_if_placed) {
		free(containers);
		return 1;
	}
	t.id = id;
	t.cluster = (char *)spec->cluster;
	t.family = (char *)spec->family;
	t.revision = spec->revision;
	t.node_id = rc == 0 ? node : NULL;
	t.last_status = rc == 0 ? "PENDING" : "PROVISIONING";
	t.desired_status = "RUNNING";
	t.pending_reason = rc == 0 ? NULL : reason;
	t.cpu = json_integer_value(json_object_get(spec->request, "cpu"));
	t.memory = json_integer_value(json_object_get(spec->request, "memory"));
	t.created_at = store_now();
	t.overrides = (char *)spec->overrides_text;
	t.containers = containers;
	t.placement = (char *)spec->request_text;
	t.group = (char *)spec->group;
	t.started_by = (char *)spec->started_by;
	t.service_name = (char *)spec->service_name;
	t.deployment_id = (char *)spec->deployment_id;
	t.version = 1;
	t.seq = 0;
	if (store_task_insert(store, &t, err) < 0) {
		if (rc == 0)
			placement_unbind(placement, id);
		free(containers);
		return -1;
	}
	if (rc == 0)
		desired_state_changed(desired, node);
	else
		log_info("task %s (%s:%lld) waits for capacity: %s", id, spec->family,
			 (long long)spec->revision, reason);
	if (out) {
		/* The row as stored, owning its strings. */
		struct store_task copy = t;

		memset(out, 0, sizeof(*out));
		*out = copy;
		out->id = strdup(t.id);
		out->cluster = strdup(t.cluster);
		out->family = strdup(t.family);
		out->node_id = t.node_id ? strdup(t.node_id) : NULL;
		out->last_status = strdup(t.last_status);
		out->desired_status = strdup(t.desired_status);
		out->pending_reason = t.pending_reason ? strdup(t.pending_reason) : NULL;
		out->overrides = strdup(t.overrides);
		out->containers = containers;
		containers = NULL;
		out->placement = strdup(t.placement);
		out->group = strdup(t.group);
		out->started_by = t.started_by ? strdup(t.started_by) : NULL;
		out->service_name = t.service_name ? strdup(t.service_name) : NULL;
		out->deployment_id = t.deployment_id ? strdup(t.deployment_id) : NULL;
		if (!out->id || !out->cluster || !out->family || !out->last_status ||
		    !out->desired_status || !out->overrides || !out->placement || !out->group) {
			store_task_release(out);
			return orch_fail(err, ORCH_ERR_INTERNAL, "out of memory");
		}
	}
	free(containers);
	return 0;
}
