/*
 * service_reconciler.c - converging services to their desired state
 * (service.h has the rules).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdarg.h>

#include <openssl/rand.h>

#include "service.h"

#include "common/hash_map.h"
#include "common/log.h"
#include "common/str_util.h"
#include "desired_state.h"
#include "placement.h"
#include "task_launch.h"
#include "write_batch.h"

#define KEY_MAX (2 * 256 + 2)
#define HEALTH_KILL_REASON "Task failed container health checks"

/* A marked service, or a service's wake-up time. */
struct service_key {
	char key[KEY_MAX];	/* "cluster/name" */
	double wake_at;		/* timers: when */
};

/* A parsed task definition, by "family:revision". */
struct taskdef_entry {
	char key[KEY_MAX];
	json_t *def;
};

static void taskdef_entry_free(void *value)
{
	struct taskdef_entry *e = value;

	json_decref(e->def);
	free(e);
}

/* A service's last scaling actions (memory only: a restart starts a cooldown). */
struct scaling_state {
	char key[KEY_MAX];
	double last_out, last_in;
};

struct task_usage {
	char id[STORE_ID_HEX_LEN + 1];
	double cpu_units, memory_mib, at;
};

struct service_reconciler {
	struct event_base *base;
	struct store *store;
	struct write_batch *writes;
	struct placement *placement;
	struct desired_state *desired;
	struct hash_map marked;		/* struct service_key */
	struct hash_map wakes;		/* struct service_key with wake_at */
	struct hash_map usage;		/* struct task_usage */
	double usage_swept;		/* when stale usage was last forgotten */
	struct hash_map scaling;	/* struct scaling_state */
	struct hash_map taskdefs;	/* struct taskdef_entry */
	struct event *run_event, *timer;
	double timer_at;		/* 0: not armed */
	char current[KEY_MAX];		/* the service being reconciled ("" between) */
	bool current_marked;		/* and something marked it meanwhile */
	service_before_stop_fn *before_stop;
	service_healthy_fn *healthy;
	void *hook_arg;
	struct service_reconciler_stats stats;
};

static uint64_t key_hash(const void *key)
{
	return hash_map_hash_string(key);
}

static bool key_equal(const void *value, const void *key)
{
	return strcmp(((const struct service_key *)value)->key, key) == 0;
}

static const struct hash_map_type key_type = { key_hash, key_equal };

static bool usage_equal(const void *value, const void *key)
{
	return strcmp(((const struct task_usage *)value)->id, key) == 0;
}

static const struct hash_map_type usage_type = { key_hash, usage_equal };

static bool taskdef_equal(const void *value, const void *key)
{
	return strcmp(((const struct taskdef_entry *)value)->key, key) == 0;
}

static const struct hash_map_type taskdef_type = { key_hash, taskdef_equal };

/* ---- configuration ------------------------------------------------------- */

static int64_t int_or(json_t *obj, const char *key, int64_t dflt)
{
	json_t *v = json_object_get(obj, key);

	return json_is_integer(v) ? json_integer_value(v) : dflt;
}

static double number_or(json_t *obj, const char *key, double dflt)
{
	json_t *v = json_object_get(obj, key);

	return json_is_number(v) ? json_number_value(v) : dflt;
}

int service_config_parse(const char *text, struct service_config *out, orch_error *err)
{
	json_t *dc, *cb, *as;

	memset(out, 0, sizeof(*out));
	out->root = json_loads(text, 0, NULL);
	if (!json_is_object(out->root)) {
		json_decref(out->root);
		out->root = NULL;
		return orch_fail(err, ORCH_ERR_INTERNAL, "stored service configuration is not JSON");
	}
	dc = json_object_get(out->root, "deploymentConfiguration");
	out->max_percent = int_or(dc, "maximumPercent", 200);
	out->min_healthy_percent = int_or(dc, "minimumHealthyPercent", 100);
	cb = json_object_get(dc, "deploymentCircuitBreaker");
	out->breaker_enable = json_is_true(json_object_get(cb, "enable"));
	out->breaker_rollback = json_is_true(json_object_get(cb, "rollback"));
	out->grace_s = int_or(out->root, "healthCheckGracePeriodSeconds", 0);
	out->constraints = json_object_get(out->root, "placementConstraints");
	out->strategy = json_object_get(out->root, "placementStrategy");
	if (json_array_size(out->constraints) == 0)
		out->constraints = NULL;
	if (json_array_size(out->strategy) == 0)
		out->strategy = NULL;
	as = json_object_get(out->root, "autoScaling");
	if (json_is_object(as)) {
		out->min_capacity = int_or(as, "minCapacity", 0);
		out->max_capacity = int_or(as, "maxCapacity", 0);
		out->target_cpu = number_or(as, "targetCpuPercent", 0);
		out->target_memory = number_or(as, "targetMemoryPercent", 0);
		out->scale_in_cooldown_s = int_or(as, "scaleInCooldownSeconds", 300);
		out->scale_out_cooldown_s = int_or(as, "scaleOutCooldownSeconds", 300);
		out->scale_in_disabled = json_is_true(json_object_get(as, "disableScaleIn"));
	}
	return 0;
}

void service_config_release(struct service_config *c)
{
	json_decref(c->root);
	memset(c, 0, sizeof(*c));
}

int64_t service_breaker_threshold(int64_t desired)
{
	int64_t t = (desired + 1) / 2;

	if (t < SERVICE_BREAKER_MIN)
		t = SERVICE_BREAKER_MIN;
	if (t > SERVICE_BREAKER_MAX)
		t = SERVICE_BREAKER_MAX;
	return t;
}

/* ---- marking and timers -------------------------------------------------- */

static void make_key(char out[KEY_MAX], const char *cluster, const char *name)
{
	snprintf(out, KEY_MAX, "%s/%s", cluster, name);
}

static void key_split(char *key, const char **cluster, const char **name)
{
	char *slash = strchr(key, '/');

	*cluster = key;
	*name = "";
	if (slash) {
		*slash = '\0';
		*name = slash + 1;
	}
}

static int mark_key(struct service_reconciler *r, const char *key)
{
	struct service_key *k;

	if (hash_map_find(&r->marked, key))
		return 0;
	k = calloc(1, sizeof(*k));
	if (!k)
		return -1;
	snprintf(k->key, sizeof(k->key), "%s", key);
	if (hash_map_insert(&r->marked, k->key, k) < 0) {
		free(k);
		return -1;
	}
	event_active(r->run_event, EV_TIMEOUT, 0);
	return 0;
}

void service_reconciler_mark(struct service_reconciler *r, const char *cluster, const char *name)
{
	char key[KEY_MAX];

	if (!r || !cluster || !name)
		return;
	make_key(key, cluster, name);
	/* The pass itself stops tasks of the service it works on: look again after it. */
	if (strcmp(key, r->current) == 0) {
		r->current_marked = true;
		return;
	}
	if (mark_key(r, key) < 0)
		log_error("services: out of memory marking %s", key);
}

void service_reconciler_on_placement(const char *cluster, const char *service, const char *node_id,
				     void *arg)
{
	orch_error err = ORCH_ERROR_INIT;

	if (!cluster) {
		if (service_reconciler_load(arg, &err) < 0)
			log_error("services: %s", err.message);
	} else if (service) {
		service_reconciler_mark(arg, cluster, service);
	} else {
		service_reconciler_node_changed(arg, cluster, node_id);
	}
}

void service_reconciler_node_changed(struct service_reconciler *r, const char *cluster,
				     const char *node_id)
{
	orch_error err = ORCH_ERROR_INIT;
	char **names = NULL;
	int count = 0;

	if (!r || !cluster)
		return;
	if (store_service_names(r->store, cluster, node_id, &names, &count, &err) < 0) {
		log_error("services: listing cluster %s: %s", cluster, err.message);
		return;
	}
	for (int i = 0; i < count; i++)
		service_reconciler_mark(r, cluster, names[i]);
	store_service_names_free(names, count);
}

static void arm_timer(struct service_reconciler *r)
{
	struct hash_map_iter it = HASH_MAP_ITER_INIT;
	struct service_key *k;
	double first = 0, now = store_now();
	struct timeval tv;

	while ((k = hash_map_next(&r->wakes, &it)))
		if (first == 0 || k->wake_at < first)
			first = k->wake_at;
	if (first == 0) {
		evtimer_del(r->timer);
		r->timer_at = 0;
		return;
	}
	if (r->timer_at == first)
		return;
	r->timer_at = first;
	first = first > now ? first - now : 0;
	tv.tv_sec = (time_t)first;
	tv.tv_usec = (suseconds_t)((first - (double)tv.tv_sec) * 1e6) + 1000;
	evtimer_add(r->timer, &tv);
}

/* The service wants another pass at `at` (the earliest such time is kept). */
static void wake_at(struct service_reconciler *r, const char *key, double at)
{
	struct service_key *k = hash_map_find(&r->wakes, key);

	if (k) {
		if (k->wake_at <= at)
			return;
		k->wake_at = at;
		return;
	}
	k = calloc(1, sizeof(*k));
	if (!k)
		return;
	snprintf(k->key, sizeof(k->key), "%s", key);
	k->wake_at = at;
	if (hash_map_insert(&r->wakes, k->key, k) < 0)
		free(k);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct service_reconciler *r = arg;
	struct hash_map_iter it = HASH_MAP_ITER_INIT;
	struct service_key *k;
	double now = store_now() + 0.001;

	(void)fd;
	(void)what;
	r->timer_at = 0;
	while ((k = hash_map_next(&r->wakes, &it))) {
		if (k->wake_at > now)
			continue;
		mark_key(r, k->key);
		hash_map_remove(&r->wakes, k->key);
		free(k);
	}
	arm_timer(r);
}

/* ---- one pass ------------------------------------------------------------ */

/* What one pass knows about a deployment. */
struct dep_view {
	struct store_deployment *d;
	json_t *def;			/* its task definition, parsed */
	bool health_check;		/* an essential container has one */
	int64_t alive, running, pending, healthy;
	bool changed;
};

/* A node as one pass sees it: its status, and for DAEMON its tasks. */
struct node_view {
	char id[PLACEMENT_NODE_ID_SIZE];
	char status[16];
	struct store_task *current;	/* DAEMON: the primary's task on it */
	bool has_old, busy;		/* an older deployment's task; one stopping */
};

static bool node_view_equal(const void *value, const void *key)
{
	return strcmp(((const struct node_view *)value)->id, key) == 0;
}

static const struct hash_map_type node_view_type = { key_hash, node_view_equal };

struct pass {
	struct service_reconciler *r;
	struct store_service *sv;
	struct service_config cfg;
	struct dep_view *deps;
	int dep_count;
	struct dep_view *primary;
	/*
	 * Where launches go: the primary, or, once its rollout FAILED (no
	 * rollback, or nothing to roll back to), the newest COMPLETED
	 * deployment still listed, so the service keeps its count with the
	 * last definition that worked.  NULL without a deployment.
	 */
	struct dep_view *target;
	struct store_task *tasks;
	int task_count;
	struct hash_map nodes;		/* struct node_view by node ID */
	double now, wake;		/* wake: 0 or when to look again */
	bool sv_changed;
	char key[KEY_MAX];
	/* started and stopped task IDs, for the events */
	char started[10 * 48], stopped[10 * 48];
	int nstarted, nstopped;
	/* tasks launched (bound in the scheduler) by this pass, for an abort */
	char (*launched)[STORE_ID_HEX_LEN + 1];
	int launched_count, launched_cap;
};

static bool task_is(const struct store_task *t, const char *status)
{
	return strcmp(t->last_status, status) == 0;
}

static bool desired_running(const struct store_task *t)
{
	return strcmp(t->desired_status, "RUNNING") == 0;
}

/* The pass's view of a node, its status read once per pass; NULL without memory. */
static struct node_view *node_view_of(struct pass *p, const char *node_id)
{
	orch_error err = ORCH_ERROR_INIT;
	struct node_view *nv = hash_map_find(&p->nodes, node_id);

	if (nv)
		return nv;
	nv = calloc(1, sizeof(*nv));
	if (!nv)
		return NULL;
	snprintf(nv->id, sizeof(nv->id), "%s", node_id);
	if (store_node_status(p->r->store, node_id, nv->status, sizeof(nv->status), &err) < 0)
		snprintf(nv->status, sizeof(nv->status), "INACTIVE");
	if (hash_map_insert(&p->nodes, nv->id, nv) < 0) {
		free(nv);
		return NULL;
	}
	return nv;
}

static const char *node_status(struct pass *p, const char *node_id)
{
	struct node_view *nv = node_id ? node_view_of(p, node_id) : NULL;

	return nv ? nv->status : "";
}

static struct dep_view *dep_of(struct pass *p, const struct store_task *t)
{
	for (int i = 0; i < p->dep_count; i++)
		if (t->deployment_id && strcmp(p->deps[i].d->id, t->deployment_id) == 0)
			return &p->deps[i];
	return NULL;
}

static bool def_has_health_check(json_t *def)
{
	json_t *c;
	size_t i;

	json_array_foreach(json_object_get(def, "containerDefinitions"), i, c)
		if (!json_is_false(json_object_get(c, "essential")) &&
		    json_is_object(json_object_get(c, "healthCheck")))
			return true;
	return false;
}

static void note_wake(struct pass *p, double at)
{
	if (at > p->now && (p->wake == 0 || at < p->wake))
		p->wake = at;
}

/* RUNNING, HEALTHY where checked, past the grace period, and the hook agrees. */
static bool counts_healthy(struct pass *p, const struct store_task *t)
{
	struct dep_view *dv = dep_of(p, t);

	if (!desired_running(t) || !task_is(t, "RUNNING"))
		return false;
	if (dv && dv->health_check && (!t->health_status || strcmp(t->health_status, "HEALTHY") != 0))
		return false;
	if (p->cfg.grace_s > 0 && t->started_at > 0 && t->started_at + (double)p->cfg.grace_s > p->now) {
		note_wake(p, t->started_at + (double)p->cfg.grace_s);
		return false;
	}
	if (p->r->healthy && !p->r->healthy(t, p->r->hook_arg))
		return false;
	return true;
}

static int service_event(struct pass *p, orch_error *err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int service_event(struct pass *p, orch_error *err, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_info("service %s/%s: %s", p->sv->cluster, p->sv->name, msg);
	return store_event_add(p->r->store, p->sv->cluster, p->sv->name, msg, SERVICE_EVENTS_KEPT, err);
}

/* Appends " (task ID)" to an event's task list. */
static void list_add(char *list, size_t size, const char *id)
{
	size_t len = strlen(list);

	snprintf(list + len, size - len, " (task %s)", id);
}

/* Stops t (scheduler-initiated) unless the before-stop hook holds it; 1 if held. */
static int stop_task(struct pass *p, struct store_task *t, const char *reason, orch_error *err)
{
	struct service_reconciler *r = p->r;

	if (task_is(t, "RUNNING") && r->before_stop && !r->before_stop(t, r->hook_arg))
		return 1;
	if (placement_stop_task(r->placement, t, "ServiceSchedulerInitiated", reason, err) < 0)
		return -1;
	r->stats.stopped++;
	if (p->nstopped++ < 10)
		list_add(p->stopped, sizeof(p->stopped), t->id);
	return 0;
}

static bool failed_task(const struct store_task *t)
{
	if (!t->stop_code)
		return false;
	if (strcmp(t->stop_code, "TaskFailedToStart") == 0 ||
	    strcmp(t->stop_code, "EssentialContainerExited") == 0)
		return true;
	return t->stopped_reason && strcmp(t->stopped_reason, HEALTH_KILL_REASON) == 0;
}

/* 1: accounts for the tasks that stopped since the last pass. */
static int account_stopped(struct pass *p, orch_error *err)
{
	struct store_service *sv = p->sv;

	for (int i = 0; i < p->task_count; i++) {
		struct store_task *t = &p->tasks[i];
		struct dep_view *dv;

		if (!task_is(t, "STOPPED"))
			continue;
		dv = dep_of(p, t);
		if (failed_task(t)) {
			double delay;

			sv->launch_failures++;
			/* The first failure is replaced at once; repeated ones back off. */
			delay = sv->launch_failures < 2 ? 0
				: (double)(1L << (sv->launch_failures > 13 ? 11 : sv->launch_failures - 2));
			if (delay > SERVICE_MAX_BACKOFF_S)
				delay = SERVICE_MAX_BACKOFF_S;
			sv->next_launch_at = p->now + delay;
			p->sv_changed = true;
			if (dv && dv == p->primary && strcmp(dv->d->rollout_state, "IN_PROGRESS") == 0) {
				dv->d->failed_tasks++;
				dv->changed = true;
			}
			if (service_event(p, err, "(service %s) task %s failed: %s%s%s; next launch in %.0f s",
				      sv->name, t->id, t->stop_code,
				      t->stopped_reason ? ": " : "",
				      t->stopped_reason ? t->stopped_reason : "", delay) < 0)
				return -1;
		} else if (t->stop_code && strcmp(t->stop_code, "ServiceSchedulerInitiated") != 0 &&
			   desired_running(t) == false && strcmp(sv->status, "ACTIVE") == 0) {
			if (service_event(p, err, "(service %s) task %s stopped (%s%s%s); replacing it",
				      sv->name, t->id, t->stop_code,
				      t->stopped_reason ? ": " : "",
				      t->stopped_reason ? t->stopped_reason : "") < 0)
				return -1;
		}
		if (store_task_set_service_done(p->r->store, t->id, err) < 0)
			return -1;
	}
	return 0;
}

/* n random decimal digits and a NUL. */
static void random_digits(char *out, size_t n)
{
	unsigned char b[32];

	if (n > sizeof(b))
		n = sizeof(b);
	if (RAND_bytes(b, (int)n) != 1)
		abort();	/* no randomness: never hand out guessable IDs */
	for (size_t i = 0; i < n; i++)
		out[i] = (char)('0' + b[i] % 10);
	out[n] = '\0';
}

int service_deployment_start(struct store *store, struct store_service *sv, const char *family,
			     int64_t revision, const char *reason, char *id_out, size_t id_size,
			     orch_error *err)
{
	struct store_deployment *list = NULL, d = { 0 };
	char digits[20];
	char id[32];
	int count = 0, rc = -1;
	int64_t seq;
	double now = store_now();

	if (store_deployment_list(store, STORE_WRITER, sv->cluster, sv->name, false, &list, &count,
				  err) < 0)
		return -1;
	for (int i = 0; i < count; i++) {
		if (strcmp(list[i].status, "PRIMARY") != 0)
			continue;
		if (str_set_copy(&list[i].status, "ACTIVE") < 0) {
			orch_fail(err, ORCH_ERR_INTERNAL, "out of memory");
			goto out;
		}
		if (strcmp(list[i].rollout_state, "IN_PROGRESS") == 0 &&
		    (str_set_copy(&list[i].rollout_state, "FAILED") < 0 ||
		     str_set_copy(&list[i].rollout_state_reason,
				  "replaced by a newer deployment before it completed") < 0)) {
			orch_fail(err, ORCH_ERR_INTERNAL, "out of memory");
			goto out;
		}
		list[i].updated_at = now;
		if (store_deployment_update(store, &list[i], err) < 0)
			goto out;
	}
	seq = store_deployment_next_seq(store, sv->cluster, sv->name, err);
	if (seq < 0)
		goto out;
	random_digits(digits, 19);
	snprintf(id, sizeof(id), "ecs-svc/%s", digits);
	d.id = id;
	d.cluster = sv->cluster;
	d.service = sv->name;
	d.seq = seq;
	d.status = "PRIMARY";
	d.family = (char *)family;
	d.revision = revision;
	d.desired_count = sv->desired_count;
	d.rollout_state = "IN_PROGRESS";
	d.rollout_state_reason = (char *)(reason ? reason : "ECS deployment in progress.");
	d.created_at = d.updated_at = now;
	if (store_deployment_insert(store, &d, err) < 0)
		goto out;
	snprintf(id_out, id_size, "%s", id);
	rc = 0;
out:
	store_deployment_list_free(list, count);
	return rc;
}

/* The circuit breaker: the primary's rollout FAILED, and the rollback if asked. */
static int check_breaker(struct pass *p, orch_error *err)
{
	struct dep_view *pr = p->primary;
	struct store_service *sv = p->sv;
	int64_t threshold = service_breaker_threshold(sv->desired_count);
	char id[32], reason[256];

	if (!pr || !p->cfg.breaker_enable || strcmp(pr->d->rollout_state, "IN_PROGRESS") != 0 ||
	    pr->d->failed_tasks < threshold)
		return 0;
	snprintf(reason, sizeof(reason),
		 "ECS deployment circuit breaker: %lld tasks failed to start or stay healthy"
		 " (threshold %lld).", (long long)pr->d->failed_tasks, (long long)threshold);
	if (str_set_copy(&pr->d->rollout_state, "FAILED") < 0 ||
	    str_set_copy(&pr->d->rollout_state_reason, reason) < 0)
		return orch_fail(err, ORCH_ERR_INTERNAL, "out of memory");
	pr->d->updated_at = p->now;
	if (store_deployment_update(p->r->store, pr->d, err) < 0)
		return -1;
	if (service_event(p, err, "(service %s) deployment %s failed: %s", sv->name, pr->d->id,
		      reason) < 0)
		return -1;
	if (!p->cfg.breaker_rollback)
		return 0;
	if (!sv->stable_family || (strcmp(sv->stable_family, pr->d->family) == 0 &&
				   sv->stable_revision == pr->d->revision)) {
		return service_event(p, err, "(service %s) no earlier COMPLETED deployment to roll back to",
				 sv->name);
	}
	snprintf(reason, sizeof(reason), "ECS deployment circuit breaker: rolling back to %s:%lld.",
		 sv->stable_family, (long long)sv->stable_revision);
	if (service_deployment_start(p->r->store, sv, sv->stable_family, sv->stable_revision, reason,
				     id, sizeof(id), err) < 0)
		return -1;
	sv->launch_failures = 0;
	sv->next_launch_at = 0;
	p->sv_changed = true;
	if (service_event(p, err, "(service %s) rolling back to %s:%lld in deployment %s", sv->name,
		      sv->stable_family, (long long)sv->stable_revision, id) < 0)
		return -1;
	return 1;	/* the deployments changed: load again */
}

/* Writes the deployments whose counters this pass changed. */
static int flush_deployments(struct pass *p, orch_error *err)
{
	for (int i = 0; i < p->dep_count; i++) {
		if (!p->deps[i].changed)
			continue;
		p->deps[i].d->updated_at = p->now;
		if (store_deployment_update(p->r->store, p->deps[i].d, err) < 0)
			return -1;
		p->deps[i].changed = false;
	}
	return 0;
}

/*
 * A deployment's task definition, parsed once: definitions never change
 * after they are registered (deregistering one changes only its status).
 * A new reference, or NULL when it is gone.
 */
static json_t *taskdef_of(struct service_reconciler *r, const char *family, int64_t revision)
{
	orch_error err = ORCH_ERROR_INIT;
	struct store_taskdef td = { 0 };
	struct taskdef_entry *e;
	char key[KEY_MAX];

	snprintf(key, sizeof(key), "%s:%lld", family, (long long)revision);
	e = hash_map_find(&r->taskdefs, key);
	if (e)
		return json_incref(e->def);
	if (store_taskdef_get(r->store, family, revision, &td, &err) < 0)
		return NULL;
	if (hash_map_count(&r->taskdefs) >= SERVICE_TASKDEF_CACHE)
		hash_map_release(&r->taskdefs, taskdef_entry_free);	/* start over: rare */
	e = calloc(1, sizeof(*e));
	if (e) {
		snprintf(e->key, sizeof(e->key), "%s", key);
		e->def = json_loads(td.body, 0, NULL);
		if (!e->def || hash_map_insert(&r->taskdefs, e->key, e) < 0) {
			json_decref(e->def);
			free(e);
			e = NULL;
		}
	}
	store_taskdef_release(&td);
	return e ? json_incref(e->def) : NULL;
}

static int load_pass(struct pass *p, const char *cluster, const char *name, orch_error *err)
{
	struct service_reconciler *r = p->r;
	struct store_deployment *list = NULL;
	int count = 0;

	if (store_deployment_list(r->store, STORE_WRITER, cluster, name, false, &list, &count, err) < 0)
		return -1;
	p->deps = calloc((size_t)count + 1, sizeof(*p->deps));
	if (!p->deps) {
		store_deployment_list_free(list, count);
		return orch_fail(err, ORCH_ERR_INTERNAL, "out of memory");
	}
	/* The pass owns the array through deps[0].d (the list's base). */
	for (int i = 0; i < count; i++) {
		p->deps[i].d = &list[i];
		p->deps[i].def = taskdef_of(r, list[i].family, list[i].revision);
		p->deps[i].health_check = def_has_health_check(p->deps[i].def);
		if (strcmp(list[i].status, "PRIMARY") == 0 && !p->primary)
			p->primary = &p->deps[i];
	}
	p->dep_count = count;
	p->target = p->primary;
	if (p->primary && strcmp(p->primary->d->rollout_state, "FAILED") == 0)
		for (int i = 0; i < count; i++)
			if (strcmp(list[i].status, "ACTIVE") == 0 &&
			    strcmp(list[i].rollout_state, "COMPLETED") == 0 && p->deps[i].def) {
				p->target = &p->deps[i];
				break;
			}
	if (store_task_list_service(r->store, cluster, name, &p->tasks, &p->task_count, err) < 0)
		return -1;
	return 0;
}

static void unload_pass(struct pass *p)
{
	struct hash_map_iter it = HASH_MAP_ITER_INIT;
	struct node_view *nv;

	/* Node views outlive a reload; what they point at in the task list does not. */
	while ((nv = hash_map_next(&p->nodes, &it))) {
		nv->current = NULL;
		nv->has_old = nv->busy = false;
	}
	for (int i = 0; i < p->dep_count; i++)
		json_decref(p->deps[i].def);
	if (p->dep_count)
		store_deployment_list_free(p->deps[0].d, p->dep_count);
	free(p->deps);
	p->deps = NULL;
	p->dep_count = 0;
	p->primary = NULL;
	p->target = NULL;
	store_task_list_free(p->tasks, p->task_count);
	p->tasks = NULL;
	p->task_count = 0;
}

/* Launches one task of the primary deployment (pinned to node for DAEMON); 1 if it did not fit. */
static int launch(struct pass *p, const char *node, orch_error *err)
{
	struct service_reconciler *r = p->r;
	struct dep_view *pr = p->target;
	char group[300], id[STORE_ID_HEX_LEN + 1], reason[PLACEMENT_REASON_SIZE];
	struct task_spec spec = { 0 };
	json_t *request;
	char *request_text;
	int rc;

	if (!pr->def)
		return orch_fail(err, ORCH_ERR_NOT_FOUND, "task definition %s:%lld is gone",
				 pr->d->family, (long long)pr->d->revision);
	snprintf(group, sizeof(group), "service:%s", p->sv->name);
	request = task_placement_request(pr->def, NULL, group, p->cfg.constraints, p->cfg.strategy,
					 node);
	request_text = request ? json_dumps(request, JSON_COMPACT) : NULL;
	if (!request_text) {
		json_decref(request);
		return orch_fail(err, ORCH_ERR_INTERNAL, "out of memory");
	}
	spec.cluster = p->sv->cluster;
	spec.family = pr->d->family;
	spec.revision = pr->d->revision;
	spec.definition = pr->def;
	spec.request = request;
	spec.request_text = request_text;
	spec.overrides_text = "{}";
	spec.group = group;
	spec.started_by = pr->d->id;
	spec.service_name = p->sv->name;
	spec.deployment_id = pr->d->id;
	spec.only_if_placed = node != NULL;
	spec.reason = reason;
	spec.reason_size = sizeof(reason);
	rc = task_launch_one(r->store, r->placement, r->desired, &spec, id, NULL, err);
	json_decref(request);
	free(request_text);
	if (rc == 0 && p->launched_count == p->launched_cap) {
		int cap = p->launched_cap ? p->launched_cap * 2 : 16;
		void *grown = realloc(p->launched, (size_t)cap * sizeof(*p->launched));

		if (!grown) {
			placement_unbind(r->placement, id);
			return orch_fail(err, ORCH_ERR_INTERNAL, "out of memory");
		}
		p->launched = grown;
		p->launched_cap = cap;
	}
	if (rc == 0) {
		memcpy(p->launched[p->launched_count++], id, sizeof(p->launched[0]));
		r->stats.launched++;
		if (p->nstarted++ < 10)
			list_add(p->started, sizeof(p->started), id);
		pr->alive++;
		pr->pending++;
		if (reason[0] && (!p->sv->placement_reason ||
				  strcmp(p->sv->placement_reason, reason) != 0)) {
			if (str_set_copy(&p->sv->placement_reason, reason) < 0)
				return orch_fail(err, ORCH_ERR_INTERNAL, "out of memory");
			p->sv_changed = true;
			if (service_event(p, err, "(service %s) was unable to place a task. Reason: %s",
				      p->sv->name, reason) < 0)
				return -1;
		}
	}
	return rc;
}

/* Order of victims when scaling in: unplaced, pending, unhealthy, then newest. */
static int victim_rank(struct pass *p, const struct store_task *t)
{
	if (!t->node_id)
		return 0;
	if (!task_is(t, "RUNNING"))
		return 1;
	if (!counts_healthy(p, t))
		return 2;
	return 3;
}

static int reconcile_replica(struct pass *p, orch_error *err)
{
	struct store_service *sv = p->sv;
	struct dep_view *pr = p->primary;
	int64_t desired = sv->desired_count, keep = 0, alive = 0, healthy = 0;
	int64_t max_total = desired * p->cfg.max_percent / 100;
	int64_t min_healthy = (desired * p->cfg.min_healthy_percent + 99) / 100;
	int n = p->task_count;
	char *role = calloc((size_t)n + 1, 1);	/* 'k' keep, 'r' replace, 's' stopped/ignored */

	if (!role)
		return orch_fail(err, ORCH_ERR_INTERNAL, "out of memory");
	for (int i = 0; i < n; i++) {
		struct store_task *t = &p->tasks[i];
		const char *ns;

		role[i] = 's';
		if (task_is(t, "STOPPED"))
			continue;
		alive++;
		if (!desired_running(t))
			continue;
		ns = node_status(p, t->node_id);
		if (counts_healthy(p, t))
			healthy++;
		/* Kept: the primary's and, after it FAILED, the launch target's. */
		if (pr && (dep_of(p, t) == pr || dep_of(p, t) == p->target) &&
		    strcmp(ns, "DRAINING") != 0) {
			role[i] = 'k';
			keep++;
		} else {
			role[i] = 'r';
		}
	}
	/* Scale in: the primary's surplus goes, least useful first. */
	for (int rank = 0; rank <= 3 && keep > desired; rank++) {
		for (int i = n - 1; i >= 0 && keep > desired; i--) {
			struct store_task *t = &p->tasks[i];
			bool was_healthy;
			int rc;

			if (role[i] != 'k' || victim_rank(p, t) != rank)
				continue;
			was_healthy = counts_healthy(p, t);
			rc = stop_task(p, t, "Scaling activity initiated by deployment", err);
			if (rc < 0)
				goto fail;
			if (rc == 0) {
				role[i] = 's';
				keep--;
				healthy -= was_healthy;
			}
		}
	}
	/* Replace: old deployments' tasks and tasks on draining nodes. */
	for (int pass_healthy = 0; pass_healthy <= 1; pass_healthy++) {
		for (int i = 0; i < n; i++) {
			struct store_task *t = &p->tasks[i];
			bool h;
			int rc;

			if (role[i] != 'r')
				continue;
			h = counts_healthy(p, t);
			if (h != (pass_healthy == 1))
				continue;
			if (h && healthy - 1 < min_healthy)
				continue;
			rc = stop_task(p, t, strcmp(node_status(p, t->node_id), "DRAINING") == 0
					     ? "Container instance is draining"
					     : "Replaced by a newer deployment", err);
			if (rc < 0)
				goto fail;
			if (rc == 0) {
				role[i] = 's';
				healthy -= h;
			}
		}
	}
	/* Launch what is lacking, within maximumPercent and the throttle. */
	if (p->target && keep < desired) {
		int64_t want = desired - keep, room = max_total - alive;

		if (room < want)
			want = room;
		if (want > SERVICE_LAUNCH_BATCH) {
			want = SERVICE_LAUNCH_BATCH;
			note_wake(p, p->now + 0.001);
		}
		if (want > 0 && sv->next_launch_at > p->now) {
			note_wake(p, sv->next_launch_at);
			want = 0;
		}
		for (int64_t i = 0; i < want; i++)
			if (launch(p, NULL, err) < 0)
				goto fail;
	}
	free(role);
	return 0;
fail:
	free(role);
	return -1;
}

static int reconcile_daemon(struct pass *p, orch_error *err)
{
	struct store_service *sv = p->sv;
	struct dep_view *pr = p->primary;
	struct store_node *nodes = NULL;
	struct store_node_query q = { .cluster = sv->cluster, .status = "ACTIVE", .limit = 1 << 20 };
	int node_count = 0, rc = -1;
	int64_t desired = 0, healthy = 0, min_healthy;
	bool throttled = sv->next_launch_at > p->now;

	if (store_node_list(p->r->store, STORE_WRITER, &q, &nodes, &node_count, NULL, err) < 0)
		return -1;
	/* Tasks on nodes that are not ACTIVE stop; extras on one node stop. */
	for (int i = 0; i < p->task_count; i++) {
		struct store_task *t = &p->tasks[i];
		struct node_view *nv;

		if (task_is(t, "STOPPED") || !t->node_id)
			continue;
		nv = node_view_of(p, t->node_id);
		if (!nv) {
			orch_fail(err, ORCH_ERR_INTERNAL, "out of memory");
			goto out;
		}
		if (!desired_running(t)) {
			nv->busy = true;	/* still stopping: wait for it */
			continue;
		}
		if (strcmp(nv->status, "ACTIVE") != 0) {
			if (stop_task(p, t, "Container instance is not ACTIVE", err) < 0)
				goto out;
			continue;
		}
		if (pr && (dep_of(p, t) == pr || dep_of(p, t) == p->target)) {
			if (nv->current) {
				if (stop_task(p, t, "More than one daemon task on the node", err) < 0)
					goto out;
				continue;
			}
			nv->current = t;
		} else {
			nv->has_old = true;
		}
		if (counts_healthy(p, t))
			healthy++;
	}
	for (int k = 0; k < node_count; k++) {
		struct store_node *nd = &nodes[k];
		struct node_view *nv = node_view_of(p, nd->id);

		if (!nv) {
			orch_fail(err, ORCH_ERR_INTERNAL, "out of memory");
			goto out;
		}
		if (strcmp(nd->status, "ACTIVE") != 0)
			continue;
		if (nv->current || nv->has_old) {
			desired++;
		} else if (p->target && !nv->busy && !throttled) {
			int lrc = launch(p, nd->id, err);

			if (lrc < 0)
				goto out;
			if (lrc == 0)
				desired++;
		} else if (throttled) {
			note_wake(p, sv->next_launch_at);
			desired++;
		}
	}
	min_healthy = (desired * p->cfg.min_healthy_percent + 99) / 100;
	/* Old deployment's tasks: replaced node by node within minimumHealthyPercent. */
	for (int i = 0; i < p->task_count; i++) {
		struct store_task *t = &p->tasks[i];
		bool h;
		int src;

		if (task_is(t, "STOPPED") || !desired_running(t) || !pr || dep_of(p, t) == pr ||
		    dep_of(p, t) == p->target)
			continue;
		h = counts_healthy(p, t);
		if (h && healthy - 1 < min_healthy)
			continue;
		src = stop_task(p, t, "Replaced by a newer deployment", err);
		if (src < 0)
			goto out;
		if (src == 0)
			healthy -= h;
	}
	if (sv->desired_count != desired) {
		sv->desired_count = desired;
		p->sv_changed = true;
	}
	rc = 0;
out:
	store_node_list_free(nodes, node_count);
	return rc;
}

/* Counts, INACTIVE old deployments, COMPLETED primaries, steady state. */
static int bookkeeping(struct pass *p, orch_error *err)
{
	struct store_service *sv = p->sv;
	struct dep_view *pr = p->primary;
	bool others = false;
	const char *reason = NULL;

	for (int i = 0; i < p->dep_count; i++) {
		p->deps[i].alive = p->deps[i].running = p->deps[i].pending = p->deps[i].healthy = 0;
	}
	for (int i = 0; i < p->task_count; i++) {
		struct store_task *t = &p->tasks[i];
		struct dep_view *dv = dep_of(p, t);

		if (!dv || task_is(t, "STOPPED"))
			continue;
		dv->alive++;
		if (!desired_running(t))
			continue;
		if (task_is(t, "RUNNING"))
			dv->running++;
		else if (store_task_status_rank(t->last_status) < store_task_status_rank("RUNNING"))
			dv->pending++;
		if (counts_healthy(p, t))
			dv->healthy++;
		if (dv == pr && !t->node_id && t->pending_reason)
			reason = t->pending_reason;
	}
	for (int i = 0; i < p->dep_count; i++) {
		struct dep_view *dv = &p->deps[i];
		struct store_deployment *d = dv->d;
		int64_t want = dv == pr ? sv->desired_count : 0;
		bool changed = dv->changed;

		if (d->running_count != dv->running || d->pending_count != dv->pending ||
		    d->desired_count != want) {
			d->running_count = dv->running;
			d->pending_count = dv->pending;
			d->desired_count = want;
			changed = true;
		}
		if (dv != pr && dv->alive == 0) {
			if (str_set_copy(&d->status, "INACTIVE") < 0)
				return orch_fail(err, ORCH_ERR_INTERNAL, "out of memory");
			changed = true;
		} else if (dv != pr) {
			others = true;
		}
		if (changed) {
			d->updated_at = p->now;
			if (store_deployment_update(p->r->store, d, err) < 0)
				return -1;
			dv->changed = false;
		}
	}
	if (pr && !others && strcmp(pr->d->rollout_state, "IN_PROGRESS") == 0 &&
	    pr->healthy >= sv->desired_count && pr->running == sv->desired_count &&
	    pr->pending == 0 && pr->alive == sv->desired_count) {
		char msg[128];

		snprintf(msg, sizeof(msg), "ECS deployment %s completed.", pr->d->id);
		if (str_set_copy(&pr->d->rollout_state, "COMPLETED") < 0 ||
		    str_set_copy(&pr->d->rollout_state_reason, msg) < 0 ||
		    str_set_copy(&sv->stable_family, pr->d->family) < 0)
			return orch_fail(err, ORCH_ERR_INTERNAL, "out of memory");
		sv->stable_revision = pr->d->revision;
		sv->launch_failures = 0;
		sv->next_launch_at = 0;
		p->sv_changed = true;
		pr->d->updated_at = p->now;
		if (store_deployment_update(p->r->store, pr->d, err) < 0 ||
		    service_event(p, err, "(service %s) deployment %s completed.", sv->name, pr->d->id) < 0 ||
		    service_event(p, err, "(service %s) has reached a steady state.", sv->name) < 0)
			return -1;
	}
	if (pr && pr->healthy >= sv->desired_count && sv->launch_failures > 0) {
		sv->launch_failures = 0;
		sv->next_launch_at = 0;
		p->sv_changed = true;
	}
	if (!reason && sv->placement_reason) {
		free(sv->placement_reason);
		sv->placement_reason = NULL;
		p->sv_changed = true;
	} else if (reason && (!sv->placement_reason || strcmp(reason, sv->placement_reason) != 0)) {
		if (str_set_copy(&sv->placement_reason, reason) < 0)
			return orch_fail(err, ORCH_ERR_INTERNAL, "out of memory");
		p->sv_changed = true;
		if (service_event(p, err, "(service %s) was unable to place a task. Reason: %s", sv->name,
			      reason) < 0)
			return -1;
	}
	return store_deployment_prune(p->r->store, sv->cluster, sv->name, SERVICE_DEPLOYMENTS_KEPT,
				      err);
}

/* A deleted service: stop everything, then INACTIVE. */
static int reconcile_deleted(struct pass *p, orch_error *err)
{
	int alive = 0;

	for (int i = 0; i < p->task_count; i++) {
		struct store_task *t = &p->tasks[i];

		if (task_is(t, "STOPPED"))
			continue;
		if (desired_running(t) && stop_task(p, t, "Service deleted", err) < 0)
			return -1;
		/* One never placed is STOPPED now; the others wait for their agent. */
		alive += !task_is(t, "STOPPED");
	}
	if (alive > 0)
		return 0;
	for (int i = 0; i < p->dep_count; i++) {
		if (str_set_copy(&p->deps[i].d->status, "INACTIVE") < 0)
			return orch_fail(err, ORCH_ERR_INTERNAL, "out of memory");
		p->deps[i].d->updated_at = p->now;
		if (store_deployment_update(p->r->store, p->deps[i].d, err) < 0)
			return -1;
	}
	if (str_set_copy(&p->sv->status, "INACTIVE") < 0)
		return orch_fail(err, ORCH_ERR_INTERNAL, "out of memory");
	free(hash_map_remove(&p->r->scaling, p->key));
	p->sv_changed = true;
	return service_event(p, err, "(service %s) was deleted; all its tasks stopped.", p->sv->name);
}

/* The scaling state of the pass's service, made on first use. */
static struct scaling_state *scaling_of(struct pass *p)
{
	struct scaling_state *st = hash_map_find(&p->r->scaling, p->key);

	if (st)
		return st;
	st = calloc(1, sizeof(*st));
	if (!st)
		return NULL;
	snprintf(st->key, sizeof(st->key), "%s", p->key);
	/* Known since now: a restarted server waits a cooldown before acting. */
	st->last_out = st->last_in = p->now;
	if (hash_map_insert(&p->r->scaling, st->key, st) < 0) {
		free(st);
		return NULL;
	}
	return st;
}

/* The smallest integer not below x (x >= 0). */
static int64_t ceil_pos(double x)
{
	int64_t i = (int64_t)x;

	return (double)i < x ? i + 1 : i;
}

/*
 * One metric's wish: the desired count that brings the service's average
 * use (percent of the tasks' reservation) to target, or -1 without data.
 * Scale-in is wished only below 90% of the target (a dead band, so the
 * count does not flap around it).
 */
static int64_t metric_wish(struct pass *p, bool cpu, double target, double since,
			   double *avg_out, int *n_out)
{
	int64_t capacity = p->sv->desired_count;
	double sum = 0;
	int n = 0, running = 0;

	*avg_out = 0;
	*n_out = 0;
	if (target <= 0)
		return -1;
	for (int i = 0; i < p->task_count; i++) {
		struct store_task *t = &p->tasks[i];
		double cu, mem, at, reserved = (double)(cpu ? t->cpu : t->memory);

		if (!desired_running(t) || !task_is(t, "RUNNING"))
			continue;
		running++;
		/* Only what was measured after the last scaling speaks for the new size. */
		if (reserved <= 0 || !service_usage_get(p->r, t->id, &cu, &mem, &at) ||
		    p->now - at > SERVICE_USAGE_MAX_AGE_S || at <= since)
			continue;
		sum += 100.0 * (cpu ? cu : mem) / reserved;
		n++;
	}
	if (n == 0)
		return -1;
	*avg_out = sum / n;
	*n_out = n;
	/* The service's size times the ratio, as the average stands for every task. */
	if (*avg_out > target)
		return ceil_pos((double)capacity * *avg_out / target);
	/* Scale in only on what most of the running tasks reported. */
	if (*avg_out < 0.9 * target && 2 * n >= running)
		return ceil_pos((double)capacity * *avg_out / target);
	return capacity;
}

/* Target tracking on the average CPU and memory use (service.h). */
static int autoscale(struct pass *p, orch_error *err)
{
	struct service_config *c = &p->cfg;
	struct store_service *sv = p->sv;
	struct scaling_state *st;
	double cpu_avg, mem_avg, since;
	int cpu_n, mem_n;
	int64_t want, w_cpu, w_mem, from = sv->desired_count;
	const char *why;
	char detail[256];

	if (c->max_capacity <= 0 || strcmp(sv->scheduling_strategy, "REPLICA") != 0)
		return 0;
	note_wake(p, p->now + SERVICE_AUTOSCALE_PERIOD_S);
	st = scaling_of(p);
	if (!st)
		return orch_fail(err, ORCH_ERR_INTERNAL, "out of memory");
	since = st->last_out > st->last_in ? st->last_out : st->last_in;
	w_cpu = metric_wish(p, true, c->target_cpu, since, &cpu_avg, &cpu_n);
	w_mem = metric_wish(p, false, c->target_memory, since, &mem_avg, &mem_n);
	want = w_cpu > w_mem ? w_cpu : w_mem;
	why = w_cpu >= w_mem ? "CPU" : "memory";
	snprintf(detail, sizeof(detail), "average %s %.0f%% of the reservation (target %.0f%%) over %d tasks",
		 why, w_cpu >= w_mem ? cpu_avg : mem_avg, w_cpu >= w_mem ? c->target_cpu : c->target_memory,
		 w_cpu >= w_mem ? cpu_n : mem_n);
	if (want < 0)
		want = from;	/* no data: only the bounds apply */
	if (want < c->min_capacity)
		want = c->min_capacity;
	if (want > c->max_capacity)
		want = c->max_capacity;
	if (from < c->min_capacity || from > c->max_capacity) {
		snprintf(detail, sizeof(detail), "bounds %lld-%lld", (long long)c->min_capacity,
			 (long long)c->max_capacity);
	} else if (want > from) {
		if (p->now < st->last_out + (double)c->scale_out_cooldown_s) {
			note_wake(p, st->last_out + (double)c->scale_out_cooldown_s);
			return 0;
		}
	} else if (want < from) {
		if (c->scale_in_disabled)
			return 0;
		if (p->now < st->last_in + (double)c->scale_in_cooldown_s ||
		    p->now < st->last_out + (double)c->scale_in_cooldown_s) {
			note_wake(p, (st->last_in > st->last_out ? st->last_in : st->last_out) +
					     (double)c->scale_in_cooldown_s);
			return 0;
		}
	}
	if (want == from)
		return 0;
	if (want > from)
		st->last_out = p->now;
	else
		st->last_in = p->now;
	sv->desired_count = want;
	p->sv_changed = true;
	return service_event(p, err, "(service %s) autoscaling: %s; desired count %lld -> %lld",
			     sv->name, detail, (long long)from, (long long)want);
}

static int reconcile(struct pass *p, const char *cluster, const char *name, orch_error *err)
{
	struct service_reconciler *r = p->r;
	int rc;

	if (store_service_get(r->store, STORE_WRITER, cluster, name, p->sv, err) < 0)
		return err->kind == ORCH_ERR_NOT_FOUND ? 0 : -1;
	if (strcmp(p->sv->status, "INACTIVE") == 0)
		return 0;
	if (service_config_parse(p->sv->config, &p->cfg, err) < 0)
		return -1;
	if (load_pass(p, cluster, name, err) < 0)
		return -1;
	if (account_stopped(p, err) < 0 || flush_deployments(p, err) < 0)
		return -1;
	if (strcmp(p->sv->status, "DRAINING") == 0) {
		rc = reconcile_deleted(p, err);
		goto done;
	}
	rc = check_breaker(p, err);
	if (rc < 0)
		return -1;
	if (rc == 1) {
		unload_pass(p);
		if (load_pass(p, cluster, name, err) < 0)
			return -1;
	}
	/* Tasks that turned UNHEALTHY past their grace period are replaced. */
	for (int i = 0; i < p->task_count; i++) {
		struct store_task *t = &p->tasks[i];

		if (!desired_running(t) || !task_is(t, "RUNNING") || !t->health_status ||
		    strcmp(t->health_status, "UNHEALTHY") != 0)
			continue;
		if (p->cfg.grace_s > 0 && t->started_at + (double)p->cfg.grace_s > p->now) {
			note_wake(p, t->started_at + (double)p->cfg.grace_s);
			continue;
		}
		if (placement_stop_task(r->placement, t, "ServiceSchedulerInitiated",
					HEALTH_KILL_REASON, err) < 0)
			return -1;
		if (service_event(p, err, "(service %s) task %s is UNHEALTHY; replacing it",
			      p->sv->name, t->id) < 0)
			return -1;
	}
	if (autoscale(p, err) < 0)
		return -1;
	rc = strcmp(p->sv->scheduling_strategy, "DAEMON") == 0 ? reconcile_daemon(p, err)
							      : reconcile_replica(p, err);
	if (rc < 0)
		return -1;
	/* The launches and stops above are in the task list only as counts: reload. */
	unload_pass(p);
	if (load_pass(p, cluster, name, err) < 0)
		return -1;
	rc = bookkeeping(p, err);
done:
	if (rc < 0)
		return -1;
	if (p->nstarted && service_event(p, err, "(service %s) has started %d tasks:%s%s.", p->sv->name,
				     p->nstarted, p->started,
				     p->nstarted > 10 ? " ..." : "") < 0)
		return -1;
	if (p->nstopped && service_event(p, err, "(service %s) has stopped %d running tasks:%s%s.",
				     p->sv->name, p->nstopped, p->stopped,
				     p->nstopped > 10 ? " ..." : "") < 0)
		return -1;
	if (p->sv_changed) {
		p->sv->updated_at = p->now;
		if (store_service_update(r->store, p->sv, err) < 0)
			return -1;
	}
	return 0;
}

static void reconcile_key(struct service_reconciler *r, char *key)
{
	orch_error err = ORCH_ERROR_INIT;
	struct store_service sv = { 0 };
	struct pass p = { .r = r, .sv = &sv, .now = store_now(),
			  .nodes = HASH_MAP_INIT(&node_view_type) };
	struct scaling_state *st = hash_map_find(&r->scaling, key), saved = { 0 };
	const char *cluster, *name;
	char keep[KEY_MAX];

	snprintf(keep, sizeof(keep), "%s", key);
	snprintf(p.key, sizeof(p.key), "%s", key);
	snprintf(r->current, sizeof(r->current), "%s", key);
	r->current_marked = false;
	if (st)
		saved = *st;
	key_split(key, &cluster, &name);
	if (write_batch_begin(r->writes, &err) < 0) {
		log_error("services: %s/%s: %s", cluster, name, err.message);
		r->current[0] = '\0';
		wake_at(r, keep, store_now() + 1.0);
		arm_timer(r);
		return;
	}
	if (reconcile(&p, cluster, name, &err) < 0) {
		log_error("services: %s/%s: %s", cluster, name, err.message);
		write_batch_abort(r->writes);
		/* The rollback took the pass's tasks back: so must the scheduler. */
		for (int i = 0; i < p.launched_count; i++)
			placement_unbind(r->placement, p.launched[i]);
		if (st && hash_map_find(&r->scaling, keep) == st)
			*st = saved;
		p.wake = store_now() + 1.0;
	} else {
		store_savepoint_release(r->store);
	}
	r->stats.passes++;
	r->current[0] = '\0';
	/* Stops made by the pass (a task never placed stops at once) need a look. */
	if (r->current_marked)
		mark_key(r, keep);
	if (p.wake > 0)
		wake_at(r, keep, p.wake);
	unload_pass(&p);
	service_config_release(&p.cfg);
	store_service_release(&sv);
	hash_map_release(&p.nodes, free);
	free(p.launched);
}

static void on_run(evutil_socket_t fd, short what, void *arg)
{
	struct service_reconciler *r = arg;
	struct hash_map work = r->marked;
	struct hash_map_iter it = HASH_MAP_ITER_INIT;
	struct service_key *k;

	(void)fd;
	(void)what;
	/* Take the marked set as it is now; marks made while working wait a turn. */
	hash_map_init(&r->marked, &key_type);
	while ((k = hash_map_next(&work, &it)))
		reconcile_key(r, k->key);
	hash_map_release(&work, free);
	arm_timer(r);
}

/* ---- life ---------------------------------------------------------------- */

struct service_reconciler *service_reconciler_new(struct event_base *base, struct store *store,
						  struct write_batch *writes,
						  struct placement *placement,
						  struct desired_state *desired)
{
	struct service_reconciler *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->base = base;
	r->store = store;
	r->writes = writes;
	r->placement = placement;
	r->desired = desired;
	hash_map_init(&r->marked, &key_type);
	hash_map_init(&r->wakes, &key_type);
	hash_map_init(&r->usage, &usage_type);
	hash_map_init(&r->scaling, &key_type);
	hash_map_init(&r->taskdefs, &taskdef_type);
	r->run_event = event_new(base, -1, 0, on_run, r);
	r->timer = evtimer_new(base, on_timer, r);
	if (!r->run_event || !r->timer) {
		service_reconciler_free(r);
		return NULL;
	}
	return r;
}

void service_reconciler_free(struct service_reconciler *r)
{
	if (!r)
		return;
	if (r->run_event)
		event_free(r->run_event);
	if (r->timer)
		event_free(r->timer);
	hash_map_release(&r->marked, free);
	hash_map_release(&r->wakes, free);
	hash_map_release(&r->usage, free);
	hash_map_release(&r->scaling, free);
	hash_map_release(&r->taskdefs, taskdef_entry_free);
	free(r);
}

void service_reconciler_set_hooks(struct service_reconciler *r, service_before_stop_fn *stop,
				  service_healthy_fn *healthy, void *arg)
{
	r->before_stop = stop;
	r->healthy = healthy;
	r->hook_arg = arg;
}

int service_reconciler_load(struct service_reconciler *r, orch_error *err)
{
	struct store_service *list = NULL;
	int count = 0;

	if (store_service_list(r->store, STORE_READER, NULL, NULL, false, 0, &list, &count, NULL,
			       err) < 0)
		return -1;
	for (int i = 0; i < count; i++)
		service_reconciler_mark(r, list[i].cluster, list[i].name);
	if (count)
		log_info("services: %d to reconcile", count);
	store_service_list_free(list, count);
	return 0;
}

void service_usage_record(struct service_reconciler *r, const char *task_id, double cpu_units,
			  double memory_mib)
{
	struct task_usage *u = hash_map_find(&r->usage, task_id);

	if (!u) {
		u = calloc(1, sizeof(*u));
		if (!u)
			return;
		snprintf(u->id, sizeof(u->id), "%s", task_id);
		if (hash_map_insert(&r->usage, u->id, u) < 0) {
			free(u);
			return;
		}
	}
	u->cpu_units = cpu_units;
	u->memory_mib = memory_mib;
	u->at = store_now();
	/* Tasks that stopped without their agent saying so (node lost, pruned). */
	if (u->at - r->usage_swept > SERVICE_USAGE_MAX_AGE_S) {
		struct hash_map_iter it = HASH_MAP_ITER_INIT;

		r->usage_swept = u->at;
		while ((u = hash_map_next(&r->usage, &it)))
			if (r->usage_swept - u->at > 4 * SERVICE_USAGE_MAX_AGE_S)
				free(hash_map_remove(&r->usage, u->id));
	}
}

int service_usage_get(struct service_reconciler *r, const char *task_id, double *cpu_units,
		      double *memory_mib, double *at)
{
	struct task_usage *u = r ? hash_map_find(&r->usage, task_id) : NULL;

	if (!u)
		return 0;
	*cpu_units = u->cpu_units;
	*memory_mib = u->memory_mib;
	*at = u->at;
	return 1;
}

void service_usage_forget(struct service_reconciler *r, const char *task_id)
{
	free(hash_map_remove(&r->usage, task_id));
}

void service_reconciler_stats(struct service_reconciler *r, struct service_reconciler_stats *out)
{
	*out = r->stats;
}
