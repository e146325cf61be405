/*
 * placement.c - RunTask -> scheduler -> store, the retry of unplaced tasks,
 * node loss and task stops.  See placement.h.
 */
#include "placement.h"

#include <stdlib.h>
#include <string.h>

#include "desired_state.h"
#include "common/log.h"
#include "common/str_util.h"
#include "write_batch.h"

#define PLACEMENT_NODE_PAGE 1000
/* After a failed commit, waiting tasks are retried this much later. */
#define PLACEMENT_RETRY_AFTER_FAILURE_MS 1000

struct placement {
	struct event_base *base;
	struct store *store;
	struct write_batch *writes;
	struct desired_state *desired;
	struct scheduler *sched;
	struct event *retry;
	bool retry_pending;
	placement_service_fn *service_changed;
	void *service_arg;
};

void placement_on_service_change(struct placement *p, placement_service_fn *fn, void *arg)
{
	p->service_changed = fn;
	p->service_arg = arg;
}

/* A task of a service changed. */
static void service_touched(struct placement *p, const char *cluster, const char *service)
{
	if (p->service_changed && cluster)
		p->service_changed(cluster, service, NULL, p->service_arg);
}

/* A node of cluster registered or changed status. */
static void service_node_touched(struct placement *p, const char *cluster, const char *node_id)
{
	if (p->service_changed && cluster)
		p->service_changed(cluster, NULL, node_id, p->service_arg);
}

struct parsed_request {
	struct sched_request req;
	struct sched_port ports[PLACEMENT_MAX_PORTS];
};

static void on_retry(evutil_socket_t fd, short what, void *arg);
static void on_commit_failed(void *arg);

struct placement *placement_new(struct event_base *base, struct store *store,
				struct write_batch *writes, struct desired_state *desired)
{
	struct placement *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->base = base;
	p->store = store;
	p->writes = writes;
	p->desired = desired;
	p->sched = scheduler_new();
	p->retry = event_new(base, -1, 0, on_retry, p);
	if (!p->sched || !p->retry) {
		placement_free(p);
		return NULL;
	}
	write_batch_on_failure(writes, on_commit_failed, p);
	return p;
}

void placement_free(struct placement *p)
{
	if (!p)
		return;
	if (p->retry)
		event_free(p->retry);
	if (p->sched)
		scheduler_free(p->sched);
	free(p);
}

struct scheduler *placement_scheduler(struct placement *p)
{
	return p->sched;
}

static int request_parse(const json_t *j, const char *cluster, struct parsed_request *out,
			 orch_error *err)
{
	json_t *v, *port;
	size_t i;

	memset(out, 0, sizeof(*out));
	out->req.cluster = cluster;
	if (!json_is_object(j))
		return orch_fail(err, ORCH_ERR_INVALID, "placement: must be an object");
	v = json_object_get(j, "cpu");
	if (v && (!json_is_integer(v) || json_integer_value(v) < 0))
		return orch_fail(err, ORCH_ERR_INVALID, "cpu: must be a non-negative integer");
	out->req.cpu = v ? json_integer_value(v) : 0;
	v = json_object_get(j, "memory");
	if (v && (!json_is_integer(v) || json_integer_value(v) < 0))
		return orch_fail(err, ORCH_ERR_INVALID, "memory: must be a non-negative integer");
	out->req.memory = v ? json_integer_value(v) : 0;
	v = json_object_get(j, "ports");
	if (v && !json_is_array(v))
		return orch_fail(err, ORCH_ERR_INVALID, "ports: must be an array");
	if (json_array_size(v) > PLACEMENT_MAX_PORTS)
		return orch_fail(err, ORCH_ERR_INVALID, "ports: at most %d host ports per task",
				 PLACEMENT_MAX_PORTS);
	json_array_foreach(v, i, port) {
		json_t *num = json_object_get(port, "port");
		const char *proto = json_string_value(json_object_get(port, "protocol"));

		if (!json_is_integer(num) || json_integer_value(num) < 1 ||
		    json_integer_value(num) > 65535)
			return orch_fail(err, ORCH_ERR_INVALID, "ports[%zu].port: must be 1-65535", i);
		out->ports[i].port = (uint16_t)json_integer_value(num);
		out->ports[i].udp = proto && strcmp(proto, "udp") == 0;
	}
	out->req.ports = out->ports;
	out->req.port_count = json_array_size(v);
	v = json_object_get(j, "group");
	if (v && !json_is_string(v))
		return orch_fail(err, ORCH_ERR_INVALID, "group: must be a string");
	out->req.group = v ? json_string_value(v) : "";
	v = json_object_get(j, "node");
	if (v && !json_is_string(v))
		return orch_fail(err, ORCH_ERR_INVALID, "node: must be a string");
	out->req.node_id = v ? json_string_value(v) : NULL;
	v = json_object_get(j, "placementConstraints");
	out->req.constraints = v && !json_is_null(v) ? v : NULL;
	v = json_object_get(j, "placementStrategy");
	out->req.strategy = v && !json_is_null(v) ? v : NULL;
	return 0;
}

int placement_request_check(const json_t *request, const char *cluster, orch_error *err)
{
	struct parsed_request pr;

	if (request_parse(request, cluster, &pr, err) < 0)
		return -1;
	return scheduler_request_validate(&pr.req, err);
}

static enum sched_node_status node_status_of(const char *status)
{
	if (strcmp(status, "DRAINING") == 0)
		return SCHED_NODE_DRAINING;
	if (strcmp(status, "LOST") == 0)
		return SCHED_NODE_LOST;
	return SCHED_NODE_ACTIVE;
}

int placement_node_changed(struct placement *p, const struct store_node *node, orch_error *err)
{
	struct sched_node_info info;
	json_t *attrs;
	int rc;

	if (strcmp(node->status, "INACTIVE") == 0) {
		scheduler_node_remove(p->sched, node->id);
		service_node_touched(p, node->cluster, node->id);
		return 0;
	}
	attrs = json_loads(node->attributes, 0, NULL);
	info.node_id = node->id;
	info.cluster = node->cluster;
	info.status = node_status_of(node->status);
	info.cpu = node->cpu;
	info.memory = node->memory;
	info.attributes = json_is_object(attrs) ? attrs : NULL;
	rc = scheduler_node_upsert(p->sched, &info, err);
	json_decref(attrs);
	service_node_touched(p, node->cluster, node->id);
	if (rc == 0 && info.status == SCHED_NODE_ACTIVE)
		placement_capacity_changed(p);
	return rc;
}

static int bind_loaded_task(struct placement *p, const struct store_task *t)
{
	orch_error err = ORCH_ERROR_INIT;
	struct parsed_request pr;
	json_t *j = json_loads(t->placement, 0, NULL);
	int rc = request_parse(j, t->cluster, &pr, &err);

	if (rc == 0)
		rc = scheduler_task_bind(p->sched, t->id, t->node_id, &pr.req, &err);
	if (rc < 0)
		log_warn("placement: task %s on node %s not bound at start: %s", t->id, t->node_id,
			 err.message);
	json_decref(j);
	return rc;
}

int placement_load(struct placement *p, void (*on_node)(const struct store_node *n, void *arg),
		   void *arg, orch_error *err)
{
	struct store_node_query q = { .limit = PLACEMENT_NODE_PAGE };
	struct store_task *tasks = NULL;
	int count = 0, nodes = 0, bound = 0;
	char after[STORE_ID_HEX_LEN + 1] = "";
	bool more = true;

	while (more) {
		struct store_node *list = NULL;
		int n = 0;

		q.after_id = *after ? after : NULL;
		if (store_node_list(p->store, STORE_READER, &q, &list, &n, &more, err) < 0)
			return orch_error_prefix(err, "loading nodes");
		for (int i = 0; i < n; i++) {
			if (placement_node_changed(p, &list[i], err) < 0) {
				orch_error_prefix(err, "loading node '%s'", list[i].id);
				store_node_list_free(list, n);
				return -1;
			}
			if (on_node)
				on_node(&list[i], arg);
			nodes++;
		}
		if (n > 0)
			snprintf(after, sizeof(after), "%s", list[n - 1].id);
		store_node_list_free(list, n);
	}
	if (store_task_list_active(p->store, NULL, &tasks, &count, err) < 0)
		return orch_error_prefix(err, "loading tasks");
	for (int i = 0; i < count; i++)
		if (tasks[i].node_id && bind_loaded_task(p, &tasks[i]) == 0)
			bound++;
	store_task_list_free(tasks, count);
	log_info("placement: loaded %d nodes and %d placed tasks", nodes, bound);
	placement_capacity_changed(p);
	return 0;
}

/*
 * A batch's commit failed: its tasks were bound (or released) in the
 * scheduler but not stored.  Rebuild the scheduler from the store, which
 * the rollback left as it was before the batch.
 */
static void on_commit_failed(void *arg)
{
	static const struct timeval retry_after_failure = { PLACEMENT_RETRY_AFTER_FAILURE_MS / 1000,
							    PLACEMENT_RETRY_AFTER_FAILURE_MS % 1000 * 1000 };
	struct placement *p = arg;
	struct scheduler *old = p->sched;
	orch_error err = ORCH_ERROR_INIT;

	p->sched = scheduler_new();
	if (!p->sched || placement_load(p, NULL, NULL, &err) < 0) {
		log_error("placement: rebuilding the scheduler after a failed commit: %s; "
			  "keeping the old one", p->sched ? err.message : "out of memory");
		if (p->sched)
			scheduler_free(p->sched);
		p->sched = old;
		return;
	}
	scheduler_free(old);
	log_warn("placement: scheduler rebuilt from the store after a failed commit");
	/* What services decided in the lost batch is gone too: they look again. */
	if (p->service_changed)
		p->service_changed(NULL, NULL, NULL, p->service_arg);
	/* The load asked for a retry of waiting tasks at once; while the disk
	 * is full that would fail again at once, so give it a moment. */
	event_del(p->retry);
	event_add(p->retry, &retry_after_failure);
	p->retry_pending = true;
}

int placement_place(struct placement *p, const char *task_id, const char *cluster,
		    const json_t *request, char *node_out, size_t node_size, char *reason_out,
		    size_t reason_size, orch_error *err)
{
	struct parsed_request pr;

	if (request_parse(request, cluster, &pr, err) < 0)
		return -1;
	return scheduler_place(p->sched, task_id, &pr.req, node_out, node_size, reason_out,
			       reason_size, err);
}

void placement_unbind(struct placement *p, const char *task_id)
{
	scheduler_task_release(p->sched, task_id);
}

void placement_capacity_changed(struct placement *p)
{
	if (p->retry_pending)
		return;
	p->retry_pending = true;
	event_active(p->retry, EV_TIMEOUT, 0);
}

void placement_task_stopped(struct placement *p, const char *task_id)
{
	scheduler_task_release(p->sched, task_id);
	placement_capacity_changed(p);
}

/* One pass over the unplaced tasks, oldest first, in its own write. */
static void on_retry(evutil_socket_t fd, short what, void *arg)
{
	struct placement *p = arg;
	orch_error err = ORCH_ERROR_INIT;
	struct store_task *tasks = NULL;
	char **bound = NULL;
	int count = 0, nbound = 0, placed = 0;

	p->retry_pending = false;
	if (write_batch_begin(p->writes, &err) < 0) {
		log_error("placement: retry: %s", err.message);
		return;
	}
	if (store_task_list_unplaced(p->store, PLACEMENT_RETRY_BATCH, &tasks, &count, &err) < 0)
		goto fail;
	bound = calloc((size_t)count + 1, sizeof(*bound));
	if (!bound)
		goto fail;
	for (int i = 0; i < count; i++) {
		struct store_task *t = &tasks[i];
		char node[PLACEMENT_NODE_ID_SIZE], reason[PLACEMENT_REASON_SIZE] = "";
		json_t *req;
		int rc;

		if (strcmp(t->desired_status, "RUNNING") != 0 || !*t->family)
			continue;
		req = json_loads(t->placement, 0, NULL);
		rc = placement_place(p, t->id, t->cluster, req, node, sizeof(node), reason,
				     sizeof(reason), &err);
		json_decref(req);
		if (rc < 0) {
			/* A stored request the scheduler refuses: say so, keep it waiting. */
			snprintf(reason, sizeof(reason), "%s", err.message);
			rc = 1;
		}
		if (rc == 0) {
			bound[nbound++] = t->id;
			if (store_task_set_node(p->store, t->id, node, &err) < 0)
				goto fail;
			desired_state_changed(p->desired, node);
			if (t->service_name)
				service_touched(p, t->cluster, t->service_name);
			placed++;
		} else if (!t->pending_reason || strcmp(t->pending_reason, reason) != 0) {
			if (store_task_set_pending_reason(p->store, t->id, reason, &err) < 0)
				goto fail;
		}
	}
	store_savepoint_release(p->store);
	if (placed)
		log_debug("placement: placed %d of %d waiting tasks", placed, count);
	free(bound);
	store_task_list_free(tasks, count);
	return;
fail:
	log_error("placement: retry: %s", err.message);
	write_batch_abort(p->writes);
	for (int i = 0; i < nbound; i++)
		scheduler_task_release(p->sched, bound[i]);
	free(bound);
	store_task_list_free(tasks, count);
}

/* Marks every container that is not STOPPED as STOPPED with reason. */
static char *containers_stopped(const char *containers_json, const char *reason)
{
	json_t *list = json_loads(containers_json, 0, NULL);
	json_t *c;
	size_t i;
	char *out;

	if (!json_is_array(list)) {
		json_decref(list);
		return strdup(containers_json);
	}
	json_array_foreach(list, i, c) {
		const char *status = json_string_value(json_object_get(c, "lastStatus"));

		if (!status || strcmp(status, "STOPPED") != 0) {
			json_object_set_new(c, "lastStatus", json_string("STOPPED"));
			if (reason && !json_object_get(c, "reason"))
				json_object_set_new(c, "reason", json_string(reason));
		}
	}
	out = json_dumps(list, JSON_COMPACT);
	json_decref(list);
	return out;
}

int placement_stop_task(struct placement *p, struct store_task *t, const char *stop_code,
			const char *reason, orch_error *err)
{
	double now = store_now();

	if (strcmp(t->last_status, "STOPPED") == 0 && strcmp(t->desired_status, "STOPPED") == 0)
		return 0;
	if (str_set_copy(&t->desired_status, "STOPPED") < 0)
		return orch_fail(err, ORCH_ERR_INTERNAL, "out of memory");
	if (!t->stop_code && (str_set_copy(&t->stop_code, stop_code) < 0 ||
			      str_set_copy(&t->stopped_reason, reason) < 0))
		return orch_fail(err, ORCH_ERR_INTERNAL, "out of memory");
	if (strcmp(t->last_status, "STOPPED") == 0) {
		/* Already stopped: only the desired status was behind. */
	} else if (!t->node_id) {
		char *containers = containers_stopped(t->containers, NULL);

		if (!containers || str_set_copy(&t->last_status, "STOPPED") < 0) {
			free(containers);
			return orch_fail(err, ORCH_ERR_INTERNAL, "out of memory");
		}
		free(t->containers);
		t->containers = containers;
		free(t->pending_reason);
		t->pending_reason = NULL;
		t->stopping_at = now;
		t->stopped_at = now;
	} else {
		if (store_task_status_rank(t->last_status) < store_task_status_rank("STOPPING") &&
		    str_set_copy(&t->last_status, "STOPPING") < 0)
			return orch_fail(err, ORCH_ERR_INTERNAL, "out of memory");
		if (t->stopping_at <= 0)
			t->stopping_at = now;
		desired_state_changed(p->desired, t->node_id);
	}
	if (t->service_name)
		service_touched(p, t->cluster, t->service_name);
	return store_task_update(p->store, t, err);
}

int placement_stop_node_tasks(struct placement *p, const char *node_id, const char *stop_code,
			       const char *reason, orch_error *err)
{
	struct store_task *tasks = NULL;
	int count = 0;
	double now = store_now();

	if (store_task_list_active(p->store, node_id, &tasks, &count, err) < 0)
		return -1;
	for (int i = 0; i < count; i++) {
		struct store_task *t = &tasks[i];
		char *containers = containers_stopped(t->containers, reason);

		if (!containers || str_set_copy(&t->last_status, "STOPPED") < 0 ||
		    str_set_copy(&t->desired_status, "STOPPED") < 0) {
			free(containers);
			orch_fail(err, ORCH_ERR_INTERNAL, "out of memory");
			goto fail;
		}
		free(t->containers);
		t->containers = containers;
		if (!t->stop_code && (str_set_copy(&t->stop_code, stop_code) < 0 ||
				      str_set_copy(&t->stopped_reason, reason) < 0)) {
			orch_fail(err, ORCH_ERR_INTERNAL, "out of memory");
			goto fail;
		}
		if (t->stopping_at <= 0)
			t->stopping_at = now;
		t->stopped_at = now;
		if (store_task_update(p->store, t, err) < 0)
			goto fail;
	}
	for (int i = 0; i < count; i++) {
		placement_task_stopped(p, tasks[i].id);
		if (tasks[i].service_name)
			service_touched(p, tasks[i].cluster, tasks[i].service_name);
	}
	if (count > 0)
		desired_state_changed(p->desired, node_id);
	store_task_list_free(tasks, count);
	return count;
fail:
	store_task_list_free(tasks, count);
	return -1;
}

int placement_node_lost(struct placement *p, const char *node_id, orch_error *err)
{
	struct store_node node = { 0 };
	int stopped;

	if (write_batch_begin(p->writes, err) < 0)
		return -1;
	if (store_node_get(p->store, STORE_WRITER, NULL, node_id, &node, err) < 0)
		goto fail;
	if (strcmp(node.status, "ACTIVE") != 0 && strcmp(node.status, "DRAINING") != 0) {
		store_node_release(&node);
		store_savepoint_release(p->store);
		return 0;
	}
	if (store_node_set_status(p->store, node_id, "LOST", node.status, err) < 0)
		goto fail;
	stopped = placement_stop_node_tasks(p, node_id, "InfrastructureHealth", "Node lost", err);
	if (stopped < 0)
		goto fail;
	store_savepoint_release(p->store);
	if (str_set_copy(&node.status, "LOST") == 0)
		placement_node_changed(p, &node, err);
	desired_state_changed(p->desired, node_id);
	log_warn("node %s (%s) is LOST: silent past the grace period; %d tasks stopped",
		 node_id, node.name, stopped);
	store_node_release(&node);
	return 0;
fail:
	write_batch_abort(p->writes);
	store_node_release(&node);
	return -1;
}
