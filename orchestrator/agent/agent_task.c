/*
 * agent_task.c - the lifecycle of the agent's tasks and their containers:
 * adoption, the desired set, starting, stopping, converging, exits and the
 * status report.  See agent_task.h; the container config, image pulls and
 * health checks have their own files (agent_task_internal.h).
 *
 * Everything here runs on the agent's one loop and must not block for
 * long: container_create and container_start return within the runtime's
 * start timeout (the container's command is running or failed), stops only
 * send signals (the kill deadline is a field the loop waits for), image
 * pulls run in a child process.
 */
#include "agent_task.h"

#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent_stream.h"
#include "agent_task_cgroup.h"
#include "agent_task_internal.h"
#include "task_config.h"
#include "task_usage.h"
#include "common/clock.h"
#include "common/cleanup.h"
#include "common/hash_map.h"
#include "common/log.h"
#include "runtime/container_image.h"

/* "orch-<32 hex>-<index>" -> id and index. */
static bool container_name_parse(const char *name, char id[AGENT_TASK_ID_HEX_LEN + 1],
				 size_t *index)
{
	size_t plen = strlen(AGENT_CONTAINER_NAME_PREFIX);
	const char *p = name + plen;
	char *end;
	unsigned long n;

	if (strncmp(name, AGENT_CONTAINER_NAME_PREFIX, plen) != 0)
		return false;
	for (size_t i = 0; i < AGENT_TASK_ID_HEX_LEN; i++)
		if (!isxdigit((unsigned char)p[i]) || isupper((unsigned char)p[i]))
			return false;
	if (p[AGENT_TASK_ID_HEX_LEN] != '-' || !isdigit((unsigned char)p[AGENT_TASK_ID_HEX_LEN + 1]))
		return false;
	n = strtoul(p + AGENT_TASK_ID_HEX_LEN + 1, &end, 10);
	if (*end || n >= ECS_MAX_CONTAINERS_PER_TASK)
		return false;
	memcpy(id, p, AGENT_TASK_ID_HEX_LEN);
	id[AGENT_TASK_ID_HEX_LEN] = '\0';
	*index = n;
	return true;
}

static void container_name_format(const struct agent_task *task, size_t i, char *out,
				  size_t size)
{
	snprintf(out, size, AGENT_CONTAINER_NAME_PREFIX "%s-%zu", task->id, i);
}

/* ---- the table ------------------------------------------------------------ */

/*
 * The CPU and memory readings of running tasks by task ID (task_usage.h):
 * the status report measures a task's CPU rate against its previous
 * reading, so each running task has a tracker from its first report until
 * it stops or leaves the table.
 */
static struct hash_map usage_trackers = HASH_MAP_INIT(&hash_map_leading_string);

static void usage_forget(const char *task_id)
{
	free(hash_map_remove(&usage_trackers, task_id));
}

static struct agent_task *task_find(struct agent_tasks *t, const char *id)
{
	for (struct agent_task *task = t->head; task; task = task->next)
		if (strcmp(task->id, id) == 0)
			return task;
	return NULL;
}

static struct agent_task *task_new(struct agent_tasks *t, const char *id)
{
	struct agent_task *task = calloc(1, sizeof(*task));

	if (!task)
		return NULL;
	snprintf(task->id, sizeof(task->id), "%s", id);
	task->pull_fd = -1;
	for (size_t i = 0; i < ECS_MAX_CONTAINERS_PER_TASK; i++) {
		task->containers[i].shim_pidfd = -1;
		task->containers[i].health_pidfd = -1;
	}
	task->next = t->head;
	t->head = task;
	return task;
}

static void task_free(struct agent_task *task)
{
	for (size_t i = 0; i < ECS_MAX_CONTAINERS_PER_TASK; i++) {
		if (task->containers[i].shim_pidfd >= 0)
			close(task->containers[i].shim_pidfd);
		task_health_cancel(&task->containers[i]);
	}
	task_pull_cancel(task);
	usage_forget(task->id);
	json_decref(task->entry);
	free(task);
}

int agent_tasks_init(struct agent_tasks *t, const char *runtime_dir, const char *cgroup_parent,
		     orch_error *err)
{
	memset(t, 0, sizeof(*t));
	t->runtime_dir = strdup(runtime_dir);
	t->cgroup_parent = strdup(cgroup_parent);
	if (!t->runtime_dir || !t->cgroup_parent) {
		agent_tasks_release(t);
		return orch_fail_errno(err, ENOMEM, "initialising the task table");
	}
	return 0;
}

void agent_tasks_release(struct agent_tasks *t)
{
	while (t->head) {
		struct agent_task *next = t->head->next;

		task_free(t->head);
		t->head = next;
	}
	hash_map_release(&usage_trackers, free);
	free(t->runtime_dir);
	free(t->cgroup_parent);
	memset(t, 0, sizeof(*t));
}

/* ---- container records ------------------------------------------------------ */

static void container_record_exit(struct agent_container *c, const struct container_state *st)
{
	c->status = AGENT_CONTAINER_STOPPED;
	c->has_exit_code = true;
	c->exit_code = st->exit_code;
	c->finished_ns = st->finished_ns;
	if (st->oom_killed)
		snprintf(c->reason, sizeof(c->reason),
			 "OutOfMemoryError: Container killed due to memory usage");
	else if (st->error[0])
		snprintf(c->reason, sizeof(c->reason), "%s", st->error);
	else if (st->status == CONTAINER_DEAD)
		snprintf(c->reason, sizeof(c->reason),
			 "the container's supervisor vanished without recording an exit");
	if (c->shim_pidfd >= 0) {
		close(c->shim_pidfd);
		c->shim_pidfd = -1;
	}
	task_health_cancel(c);
	c->health = AGENT_HEALTH_UNKNOWN;
}

/* Applies a runtime state to a record; true if it changed. */
static bool container_apply_state(struct agent_container *c, const struct container_state *st)
{
	switch (st->status) {
	case CONTAINER_RUNNING:
		c->started_ns = st->started_ns;
		if (c->shim_pidfd < 0)
			c->shim_pidfd = pidfd_open_pid(st->shim_pid);
		if (c->status != AGENT_CONTAINER_RUNNING) {
			c->status = AGENT_CONTAINER_RUNNING;
			return true;
		}
		return false;
	case CONTAINER_CREATED:
		return false;
	case CONTAINER_EXITED:
	case CONTAINER_DEAD:
		if (c->status == AGENT_CONTAINER_STOPPED)
			return false;
		if (st->started_ns)
			c->started_ns = st->started_ns;
		container_record_exit(c, st);
		return true;
	}
	return false;
}

static bool container_refresh(struct agent_tasks *t, struct agent_container *c)
{
	orch_error err = ORCH_ERROR_INIT;
	struct container_state st;

	if (!c->runtime_id[0] || c->status == AGENT_CONTAINER_STOPPED)
		return false;
	if (container_state_get(t->runtime_dir, c->runtime_id, &st, &err) < 0) {
		if (err.kind != ORCH_ERR_NOT_FOUND)
			return false;
		/* Removed behind our back: it is not running any more. */
		c->status = AGENT_CONTAINER_STOPPED;
		snprintf(c->reason, sizeof(c->reason), "the container was removed");
		if (c->shim_pidfd >= 0) {
			close(c->shim_pidfd);
			c->shim_pidfd = -1;
		}
		return true;
	}
	return container_apply_state(c, &st);
}

/* ---- adoption ------------------------------------------------------------- */

/* Removes a container that belongs to no slot of ours (a duplicate, a stray). */
static void remove_stray(struct agent_tasks *t, const struct container_state *st)
{
	orch_error err = ORCH_ERROR_INIT;

	log_warn("agent: removing container %s (%s): not one this node runs", st->name, st->id);
	/* Its task's cgroup goes with it if it was the last one in there. */
	if (container_remove(t->runtime_dir, st->id, true, &err) < 0)
		log_warn("agent: removing container %s: %s", st->id, err.message);
}

/*
 * Removes the empty cgroups of tasks the table does not know or knows as
 * stopped: an agent killed between making a task's cgroup and creating its
 * first container, or containers removed behind its back.
 */
static void sweep_task_cgroups(struct agent_tasks *t)
{
	orch_error err = ORCH_ERROR_INIT;
	char **ids = NULL;
	size_t count = 0;

	if (agent_task_cgroup_list(t->cgroup_parent, &ids, &count, &err) < 0) {
		log_warn("agent: listing task cgroups: %s", err.message);
		return;
	}
	for (size_t i = 0; i < count; i++) {
		struct agent_task *task = task_find(t, ids[i]);

		if (!task || task->status == AGENT_TASK_STOPPED)
			agent_task_cgroup_release(t->cgroup_parent, ids[i]);
	}
	cgroup_names_free(ids, count);
}

int agent_tasks_scan(struct agent_tasks *t, orch_error *err)
{
	cleanup_free struct container_state *list = NULL;
	size_t count = 0;

	if (container_list(t->runtime_dir, &list, &count, err) < 0)
		return -1;
	for (size_t i = 0; i < count; i++) {
		char id[AGENT_TASK_ID_HEX_LEN + 1];
		struct agent_container *c;
		struct agent_task *task;
		size_t index;
		bool fresh = false;

		if (strncmp(list[i].name, AGENT_CONTAINER_NAME_PREFIX,
			    strlen(AGENT_CONTAINER_NAME_PREFIX)) != 0)
			continue;	/* not a task container: `orch run` and the like */
		if (!container_name_parse(list[i].name, id, &index)) {
			if (t->have_desired)
				remove_stray(t, &list[i]);
			continue;
		}
		task = task_find(t, id);
		if (task && strcmp(task->containers[index].runtime_id, list[i].id) == 0)
			continue;	/* known */
		if (task && task->containers[index].runtime_id[0]) {
			remove_stray(t, &list[i]);	/* a second copy of a slot */
			continue;
		}
		if (task && t->have_desired && task->status != AGENT_TASK_NONE) {
			remove_stray(t, &list[i]);	/* not started by us */
			continue;
		}
		if (!task) {
			task = task_new(t, id);
			fresh = true;
		}
		if (!task)
			return orch_fail_errno(err, ENOMEM, "adopting containers");
		c = &task->containers[index];
		snprintf(c->runtime_id, sizeof(c->runtime_id), "%s", list[i].id);
		if (index + 1 > task->container_count)
			task->container_count = index + 1;
		container_apply_state(c, &list[i]);
		if (list[i].status == CONTAINER_CREATED)
			c->status = AGENT_CONTAINER_PENDING;	/* a start cut short */
		log_info("agent: adopted container %s (%s)", list[i].name,
			 container_status_name(list[i].status));
		if (fresh) {
			bool any_running = false;

			for (size_t k = 0; k < task->container_count; k++)
				if (task->containers[k].status == AGENT_CONTAINER_RUNNING) {
					any_running = true;
					if (!task->started_at)
						task->started_at = task->containers[k].started_ns / 1e9;
				}
			task->status = any_running ? AGENT_TASK_RUNNING : AGENT_TASK_STOPPED;
		} else if (c->status == AGENT_CONTAINER_RUNNING && task->status != AGENT_TASK_RUNNING &&
			   task->status != AGENT_TASK_STOPPING) {
			task->status = AGENT_TASK_RUNNING;
		}
	}
	/* A fresh record's status follows all its containers, not just the first. */
	for (struct agent_task *task = t->head; task; task = task->next) {
		bool any_running = false, any = false;

		if (task->entry)
			continue;
		for (size_t k = 0; k < task->container_count; k++) {
			if (!task->containers[k].runtime_id[0])
				continue;
			any = true;
			if (task->containers[k].status == AGENT_CONTAINER_RUNNING)
				any_running = true;
		}
		if (any)
			task->status = any_running ? AGENT_TASK_RUNNING : AGENT_TASK_STOPPED;
	}
	if (t->have_desired)
		sweep_task_cgroups(t);
	return 0;
}

/* ---- the desired set ------------------------------------------------------ */

/* Container names, essential flags and stop timeouts from the definition. */
static void task_fill_containers(struct agent_task *task)
{
	const json_t *defs = json_object_get(task_definition(task), "containerDefinitions");
	size_t n = json_array_size(defs);

	if (n > ECS_MAX_CONTAINERS_PER_TASK)
		n = ECS_MAX_CONTAINERS_PER_TASK;
	for (size_t i = 0; i < n; i++) {
		const json_t *def = json_array_get(defs, i);
		const json_t *essential = json_object_get(def, "essential");
		const json_t *stop = json_object_get(def, "stopTimeout");
		struct agent_container *c = &task->containers[i];

		snprintf(c->name, sizeof(c->name), "%s",
			 json_string_value(json_object_get(def, "name")) ?: "");
		c->essential = essential ? json_is_true(essential) : true;
		c->stop_timeout_s = json_is_integer(stop) ? (int)json_integer_value(stop)
			: ECS_DEFAULT_STOP_TIMEOUT_S;
	}
	if (n > task->container_count)
		task->container_count = n;
}

void agent_tasks_set_desired(struct agent_tasks *t, const json_t *tasks)
{
	size_t i;
	json_t *entry;

	for (struct agent_task *task = t->head; task; task = task->next)
		task->in_set = false;
	json_array_foreach(tasks, i, entry) {
		const char *id = json_string_value(json_object_get(entry, "taskId"));
		const char *desired = json_string_value(json_object_get(entry, "desiredStatus"));
		struct agent_task *task;

		if (!id || strlen(id) != AGENT_TASK_ID_HEX_LEN)
			continue;
		task = task_find(t, id);
		if (!task) {
			task = task_new(t, id);
			if (!task)
				continue;
			task_changed(t);
		}
		task->in_set = true;
		task->desired_running = !desired || strcmp(desired, "RUNNING") == 0;
		if (!task->entry || !json_equal(task->entry, entry)) {
			json_decref(task->entry);
			task->entry = json_deep_copy(entry);
			task_fill_containers(task);
		}
	}
	t->have_desired = true;
}

/* ---- starting ------------------------------------------------------------- */

/* The task size as limits of its cgroup (agent_task_cgroup.h). */
static int task_limits(const struct agent_task *task, struct cgroup_limits *out, orch_error *err)
{
	return agent_task_cgroup_limits(task_definition(task),
					json_object_get(task->entry, "overrides"), out, err);
}

/* The runtime ID of a running container of the task other than i, or NULL. */
static const char *running_sibling(const struct agent_task *task, size_t i)
{
	for (size_t j = 0; j < task->container_count; j++) {
		const struct agent_container *sib = &task->containers[j];

		if (j != i && sib->status == AGENT_CONTAINER_RUNNING && sib->runtime_id[0])
			return sib->runtime_id;
	}
	return NULL;
}

/* The runtime config of the task's container i (task_config.h). */
static int container_config_of(struct agent_tasks *t, const struct agent_task *task, size_t i,
			       const struct cgroup_limits *task_lim, struct container_config *cfg,
			       orch_error *err)
{
	char name[CONTAINER_NAME_MAX];
	struct task_config_input in = {
		.task_definition = task_definition(task),
		.overrides = json_object_get(task->entry, "overrides"),
		.index = i,
		.task_id = task->id,
		.container_name = name,
		.cgroup_parent = t->cgroup_parent,
		.task_limits = task_lim,
		.network_from = running_sibling(task, i),
		.resolve = container_image_resolve,
		.store = t->runtime_dir,
	};

	container_name_format(task, i, name, sizeof(name));
	return task_config_build(&in, cfg, err);
}

static void task_stop(struct agent_task *task, const char *code, const char *reason);
static void task_signal(struct agent_tasks *t, struct agent_task *task, int signo);

/* Marks a task that could not start: TaskFailedToStart, others stopped. */
static void task_fail_start(struct agent_tasks *t, struct agent_task *task, const char *why)
{
	log_warn("agent: task %s failed to start: %s", task->id, why);
	task_stop(task, "TaskFailedToStart", why);
	task_signal(t, task, SIGTERM);
	task_changed(t);
}

/*
 * The dependency's startTimeout (ECS: how long a dependent waits for it to
 * reach its condition) ran out: it started that many seconds ago and is
 * not there yet.  Without a startTimeout it is waited for as long as it
 * runs.  Checked whenever the loop converges (at least every heartbeat).
 */
static bool start_timeout_passed(const struct agent_task *task, const struct agent_container *dep,
				 int *timeout_s)
{
	const json_t *limit = json_object_get(
		container_definition(task, (size_t)(dep - task->containers)), "startTimeout");

	if (!json_is_integer(limit) || dep->started_ns <= 0)
		return false;
	*timeout_s = (int)json_integer_value(limit);
	return clock_wall_s() - (double)dep->started_ns / 1e9 >= *timeout_s;
}

/*
 * Whether container i's dependsOn conditions hold: 1 yes, 0 not yet, -1
 * never (why says which).  START: the dependency started; COMPLETE: it
 * exited; SUCCESS: it exited 0; HEALTHY: its healthCheck (task_health.c)
 * reported HEALTHY.  HEALTHY on a dependency without a healthCheck is
 * refused, one that exited fails the task, and an UNHEALTHY one is waited
 * for (a later probe may pass) until the dependency's startTimeout, if
 * any, runs out; so are COMPLETE and SUCCESS.
 */
static int depends_ready(const struct agent_task *task, size_t i, char *why, size_t why_size)
{
	const json_t *deps = json_object_get(container_definition(task, i), "dependsOn");
	size_t k;
	json_t *d;

	json_array_foreach(deps, k, d) {
		const char *name = json_string_value(json_object_get(d, "containerName"));
		const char *cond = json_string_value(json_object_get(d, "condition"));
		const struct agent_container *dep = NULL;
		int timeout_s = 0;

		for (size_t j = 0; name && j < task->container_count; j++)
			if (strcmp(task->containers[j].name, name) == 0)
				dep = &task->containers[j];
		if (!dep || !cond)
			continue;	/* the validator checked the names */
		if (strcmp(cond, "START") == 0) {
			if (dep->status == AGENT_CONTAINER_PENDING)
				return 0;
		} else if (strcmp(cond, "COMPLETE") == 0 || strcmp(cond, "SUCCESS") == 0) {
			if (dep->status != AGENT_CONTAINER_STOPPED)
				goto not_yet;
			if (strcmp(cond, "SUCCESS") == 0 && (!dep->has_exit_code || dep->exit_code != 0)) {
				snprintf(why, why_size, "DependencyFailed: container %s depends on %s "
					 "exiting successfully; it exited with %d", task->containers[i].name,
					 name, dep->exit_code);
				return -1;
			}
		} else if (strcmp(cond, "HEALTHY") == 0) {
			if (!json_object_get(container_definition(task, (size_t)(dep - task->containers)),
					     "healthCheck")) {
				snprintf(why, why_size, "container %s depends on %s being HEALTHY, which "
					 "has no healthCheck", task->containers[i].name, name);
				return -1;
			}
			if (dep->status == AGENT_CONTAINER_STOPPED) {
				snprintf(why, why_size, "DependencyFailed: container %s depends on %s "
					 "being HEALTHY; it exited", task->containers[i].name, name);
				return -1;
			}
			if (dep->health != AGENT_HEALTH_HEALTHY)
				goto not_yet;
		} else {
			snprintf(why, why_size, "dependsOn condition %s is not supported", cond);
			return -1;
		}
		continue;
not_yet:
		if (start_timeout_passed(task, dep, &timeout_s)) {
			snprintf(why, why_size, "DependencyTimeout: container %s gave up waiting for "
				 "%s to be %s within its startTimeout of %d s",
				 task->containers[i].name, name, cond, timeout_s);
			return -1;
		}
		return 0;
	}
	return 1;
}

/* Creates and starts every container not created yet (definition order). */
static void task_start(struct agent_tasks *t, struct agent_task *task)
{
	const char *image;
	bool started = false;

	if (task->pull_pid > 0)
		return;		/* the pull's end brings us back */
	if (task->pull_error) {
		char why[AGENT_REASON_MAX];

		snprintf(why, sizeof(why), "CannotPullContainerError: %s", task->pull_error);
		task_fail_start(t, task, why);
		return;
	}
	image = task_pull_missing_image(t, task);
	if (image) {
		if (task_pull_start(t, task, image) < 0) {
			task_fail_start(t, task, "CannotPullContainerError: cannot fork a pull");
			return;
		}
		if (task->status != AGENT_TASK_PULLING) {
			task->status = AGENT_TASK_PULLING;
			task_changed(t);
		}
		return;
	}
	for (size_t i = 0; i < task->container_count; i++) {
		struct agent_container *c = &task->containers[i];
		orch_error err = ORCH_ERROR_INIT;
		struct container_config cfg;
		struct container_state st;
		struct cgroup_limits task_lim;
		int fail_code = CONTAINER_EXIT_RUNTIME_ERROR;
		char why[AGENT_REASON_MAX];

		if (c->status != AGENT_CONTAINER_PENDING)
			continue;
		switch (depends_ready(task, i, why, sizeof(why))) {
		case 0:
			continue;	/* a later exit or start brings us back */
		case -1:
			task_fail_start(t, task, why);
			return;
		}
		started = true;
		/* The task's cgroup first: the container's is made inside it. */
		if (task_limits(task, &task_lim, &err) < 0 ||
		    agent_task_cgroup_make(t->cgroup_parent, task->id, &task_lim, &err) < 0) {
			snprintf(why, sizeof(why), "CannotCreateContainerError: %.200s", err.message);
			task_fail_start(t, task, why);
			return;
		}
		task->cgroup_gone = false;
		if (!c->runtime_id[0]) {
			if (container_config_of(t, task, i, &task_lim, &cfg, &err) < 0) {
				snprintf(why, sizeof(why), "%s%.200s",
					 err.kind == ORCH_ERR_UNSUPPORTED ? "" : "CannotCreateContainerError: ",
					 err.message);
				task_fail_start(t, task, why);
				return;
			}
			if (container_create(t->runtime_dir, &cfg, c->runtime_id, &err) < 0) {
				container_config_release(&cfg);
				c->runtime_id[0] = '\0';
				snprintf(why, sizeof(why), "CannotCreateContainerError: %.200s", err.message);
				task_fail_start(t, task, why);
				return;
			}
			container_config_release(&cfg);
		}
		if (container_start(t->runtime_dir, c->runtime_id, NULL, &fail_code, &err) < 0) {
			c->status = AGENT_CONTAINER_STOPPED;
			c->has_exit_code = true;
			c->exit_code = fail_code;
			snprintf(c->reason, sizeof(c->reason), "%.200s", err.message);
			snprintf(why, sizeof(why), "CannotStartContainerError: %.200s", err.message);
			task_fail_start(t, task, why);
			return;
		}
		if (container_state_get(t->runtime_dir, c->runtime_id, &st, NULL) == 0)
			container_apply_state(c, &st);
		else
			c->status = AGENT_CONTAINER_RUNNING;
	}
	if (started && task->status != AGENT_TASK_RUNNING) {
		task->status = AGENT_TASK_RUNNING;
		task->started_at = clock_wall_s();
		log_info("agent: task %s running", task->id);
		task_changed(t);
	}
}

/* ---- stopping ------------------------------------------------------------- */

/*
 * Records why the task stops and sets each running container's SIGKILL
 * deadline (its own stopTimeout from now); the caller sends the SIGTERM
 * (task_signal) and the loop each container its SIGKILL at its kill_at.
 */
static void task_stop(struct agent_task *task, const char *code, const char *reason)
{
	double now = clock_mono_s();
	bool any_running = false;

	if (!task->stop_code[0] && code)
		snprintf(task->stop_code, sizeof(task->stop_code), "%s", code);
	if (!task->stopped_reason[0] && reason)
		snprintf(task->stopped_reason, sizeof(task->stopped_reason), "%s", reason);
	if (task->status == AGENT_TASK_STOPPED)
		return;
	for (size_t i = 0; i < task->container_count; i++) {
		struct agent_container *c = &task->containers[i];

		if (c->status == AGENT_CONTAINER_PENDING && !c->runtime_id[0]) {
			c->status = AGENT_CONTAINER_STOPPED;
			continue;
		}
		if (c->status != AGENT_CONTAINER_RUNNING)
			continue;
		any_running = true;
		if (!c->kill_at)
			c->kill_at = now + c->stop_timeout_s;
	}
	task->status = any_running ? AGENT_TASK_STOPPING : AGENT_TASK_STOPPED;
	if (!any_running && !task->stopped_at)
		task->stopped_at = clock_wall_s();
}

/* The signals task_stop asks for, sent with the runtime dir at hand. */
static void task_signal(struct agent_tasks *t, struct agent_task *task, int signo)
{
	for (size_t i = 0; i < task->container_count; i++) {
		struct agent_container *c = &task->containers[i];
		orch_error err = ORCH_ERROR_INIT;

		if (c->status != AGENT_CONTAINER_RUNNING || !c->runtime_id[0])
			continue;
		if (container_kill(t->runtime_dir, c->runtime_id, signo, &err) < 0)
			log_debug("agent: signal %d to %s: %s", signo, c->runtime_id, err.message);
	}
}

/* SIGKILL to each running container past its own stopTimeout. */
static void task_kill_overdue(struct agent_tasks *t, struct agent_task *task, double now)
{
	for (size_t i = 0; i < task->container_count; i++) {
		struct agent_container *c = &task->containers[i];
		orch_error err = ORCH_ERROR_INIT;

		if (c->status != AGENT_CONTAINER_RUNNING || !c->runtime_id[0] || !c->kill_at ||
		    now < c->kill_at)
			continue;
		log_info("agent: task %s: container %s: stop timeout, SIGKILL", task->id, c->name);
		if (container_kill(t->runtime_dir, c->runtime_id, SIGKILL, &err) < 0)
			log_debug("agent: signal %d to %s: %s", SIGKILL, c->runtime_id, err.message);
		c->kill_at = now + 1;	/* and again, if it takes longer */
	}
}

static void task_remove_containers(struct agent_tasks *t, struct agent_task *task)
{
	for (size_t i = 0; i < task->container_count; i++) {
		struct agent_container *c = &task->containers[i];
		orch_error err = ORCH_ERROR_INIT;

		if (!c->runtime_id[0])
			continue;
		agent_stream_archive_log(t->runtime_dir, c->runtime_id);	/* orch task logs */
		if (container_remove(t->runtime_dir, c->runtime_id, true, &err) < 0 &&
		    err.kind != ORCH_ERR_NOT_FOUND)
			log_warn("agent: removing container %s: %s", c->runtime_id, err.message);
		c->runtime_id[0] = '\0';
	}
}

/* Task status from its containers after exits were recorded. */
static void task_follow_containers(struct agent_tasks *t, struct agent_task *task)
{
	bool any_running = false;

	for (size_t i = 0; i < task->container_count; i++) {
		struct agent_container *c = &task->containers[i];

		if (c->status == AGENT_CONTAINER_RUNNING)
			any_running = true;
		if (task->status == AGENT_TASK_RUNNING && c->status == AGENT_CONTAINER_STOPPED &&
		    c->essential) {
			log_info("agent: task %s: essential container %s exited (%d)", task->id,
				 c->name, c->exit_code);
			task_stop(task, "EssentialContainerExited",
				  "Essential container in task exited");
			task_signal(t, task, SIGTERM);
			task_changed(t);
		}
	}
	if ((task->status == AGENT_TASK_STOPPING || task->status == AGENT_TASK_RUNNING) &&
	    !any_running && task->container_count > 0) {
		bool all_stopped = true;

		for (size_t i = 0; i < task->container_count; i++)
			if (task->containers[i].status != AGENT_CONTAINER_STOPPED)
				all_stopped = false;
		if (all_stopped) {
			task->status = AGENT_TASK_STOPPED;
			task->stopped_at = clock_wall_s();
			for (size_t i = 0; i < task->container_count; i++)
				task->containers[i].kill_at = 0;
			log_info("agent: task %s stopped (%s)", task->id,
				 task->stop_code[0] ? task->stop_code : "exited");
			task_changed(t);
		}
	}
	/*
	 * A stopped task's containers have left their cgroups (the shim removes
	 * its container's before it records the exit): the task's goes now,
	 * not when the server forgets the task.
	 */
	if (task->status == AGENT_TASK_STOPPED && !task->cgroup_gone)
		task->cgroup_gone = agent_task_cgroup_release(t->cgroup_parent, task->id);
}

/* ---- converge ------------------------------------------------------------- */

void agent_tasks_converge(struct agent_tasks *t)
{
	struct agent_task **link = &t->head;
	double now = clock_mono_s();

	if (!t->have_desired)
		return;		/* adopted containers wait for the server's word */
	while (*link) {
		struct agent_task *task = *link;
		bool wanted = task->in_set && task->entry;

		if (task->pull_fd >= 0) {
			struct pollfd p = { .fd = task->pull_fd, .events = POLLIN };

			if (poll(&p, 1, 0) > 0)
				task_pull_read(t, task);
		}
		if (wanted && task->desired_running) {
			if (task->status == AGENT_TASK_NONE || task->status == AGENT_TASK_PULLING)
				task_start(t, task);
			else if (task->status == AGENT_TASK_RUNNING) {
				/* Adopted mid-start: finish starting what is missing. */
				bool pending = false;

				for (size_t i = 0; i < task->container_count; i++)
					if (task->containers[i].status == AGENT_CONTAINER_PENDING)
						pending = true;
				if (pending)
					task_start(t, task);
			}
		} else if (task->status != AGENT_TASK_STOPPED) {
			const char *reason = json_string_value(json_object_get(task->entry, "stopReason"));
			const char *code = json_string_value(json_object_get(task->entry, "stopCode"));

			if (task->status != AGENT_TASK_STOPPING) {
				task_stop(task, code ? code : "UserInitiated",
					  reason ? reason : wanted ? "Task stopped by the server"
					  : "Task is not assigned to this node");
				task_signal(t, task, SIGTERM);
				task_changed(t);
			}
		}
		task_follow_containers(t, task);
		if (task->status == AGENT_TASK_STOPPING)
			task_kill_overdue(t, task, now);
		link = &task->next;
	}
}

void agent_tasks_collect(struct agent_tasks *t)
{
	struct agent_task **link = &t->head;

	if (!t->have_desired)
		return;
	while (*link) {
		struct agent_task *task = *link;

		if (!task->in_set && task->status == AGENT_TASK_STOPPED && task->pull_pid <= 0) {
			/* Not wanted and stopped: nothing of it may remain. */
			task_remove_containers(t, task);
			if (!agent_task_cgroup_release(t->cgroup_parent, task->id))
				log_warn("agent: task %s: its cgroup is still in use after its "
					 "containers were removed", task->id);
			log_info("agent: task %s removed", task->id);
			*link = task->next;
			task_free(task);
			continue;
		}
		link = &task->next;
	}
}

void agent_tasks_check_exits(struct agent_tasks *t, bool sweep)
{
	for (struct agent_task *task = t->head; task; task = task->next) {
		for (size_t i = 0; i < task->container_count; i++) {
			struct agent_container *c = &task->containers[i];
			bool check = sweep;

			if (c->status != AGENT_CONTAINER_RUNNING)
				continue;
			if (!check && c->shim_pidfd >= 0) {
				struct pollfd p = { .fd = c->shim_pidfd, .events = POLLIN };

				check = poll(&p, 1, 0) > 0;
				if (check) {
					/* The shim is gone: never wait on this fd again
					 * (a state not yet readable is left to the sweeps). */
					close(c->shim_pidfd);
					c->shim_pidfd = -1;
				}
			}
			if (check && container_refresh(t, c))
				task_changed(t);
		}
		task_follow_containers(t, task);
	}
}

int agent_tasks_wait_fds(const struct agent_tasks *t, int *fds, int max)
{
	int n = 0;

	for (const struct agent_task *task = t->head; task; task = task->next) {
		if (task->pull_fd >= 0 && n < max)
			fds[n++] = task->pull_fd;
		for (size_t i = 0; i < task->container_count; i++) {
			if (task->containers[i].shim_pidfd >= 0 &&
			    task->containers[i].status == AGENT_CONTAINER_RUNNING && n < max)
				fds[n++] = task->containers[i].shim_pidfd;
			if (task->containers[i].health_pidfd >= 0 && n < max)
				fds[n++] = task->containers[i].health_pidfd;
		}
	}
	return n;
}

int agent_tasks_next_deadline_ms(const struct agent_tasks *t)
{
	double now = clock_mono_s(), next = -1;

	for (const struct agent_task *task = t->head; task; task = task->next) {
		for (size_t i = 0; i < task->container_count; i++) {
			const struct agent_container *c = &task->containers[i];
			double at = c->health_pid > 0 ? c->health_deadline : c->health_next_at;

			if (task->status == AGENT_TASK_STOPPING && c->status == AGENT_CONTAINER_RUNNING &&
			    c->kill_at && (next < 0 || c->kill_at < next))
				next = c->kill_at;
			if (c->status == AGENT_CONTAINER_RUNNING && c->health_since && at > 0 &&
			    (next < 0 || at < next))
				next = at;
		}
	}
	if (next < 0)
		return -1;
	return next <= now ? 0 : (int)((next - now) * 1000) + 1;
}

/* ---- status --------------------------------------------------------------- */

static const char *task_status_name(enum agent_task_status s)
{
	switch (s) {
	case AGENT_TASK_NONE:
	case AGENT_TASK_PULLING: return "PENDING";
	case AGENT_TASK_RUNNING:
	case AGENT_TASK_STOPPING: return "RUNNING";
	case AGENT_TASK_STOPPED: return "STOPPED";
	}
	return "PENDING";
}


static const char *container_status_label(enum agent_container_status s)
{
	switch (s) {
	case AGENT_CONTAINER_PENDING: return "PENDING";
	case AGENT_CONTAINER_RUNNING: return "RUNNING";
	case AGENT_CONTAINER_STOPPED: return "STOPPED";
	}
	return "PENDING";
}

/*
 * The tracker of a running task, made at its first report; NULL only when
 * out of memory.
 */
static struct task_usage_tracker *usage_tracker_of(const struct agent_task *task)
{
	struct task_usage_tracker *tr = hash_map_find(&usage_trackers, task->id);

	if (tr)
		return tr;
	tr = malloc(sizeof(*tr));
	if (!tr)
		return NULL;
	task_usage_tracker_init(tr, task->id);
	if (hash_map_insert(&usage_trackers, tr->task_id, tr) < 0) {
		free(tr);
		return NULL;
	}
	return tr;
}

/*
 * The "usage" of a running task's status entry (agent_protocol.h): a new
 * reading of its group cgroup if the last is TASK_USAGE_MIN_INTERVAL_MS
 * old, else the last one's numbers again.  NULL when nothing was read.
 */
static json_t *task_usage_json(const struct agent_tasks *t, const struct agent_task *task)
{
	struct task_usage_tracker *tr = usage_tracker_of(task);
	int64_t now = clock_mono_ns();
	json_t *usage;

	if (!tr)
		return NULL;
	if (task_usage_tracker_due(tr, now)) {
		orch_error err = ORCH_ERROR_INIT;
		char path[CGROUP_PATH_MAX];
		struct task_usage_reading reading;
		enum cgroup_mode mode;

		if (cgroup_detect_mode(&mode, &err) < 0 ||
		    agent_task_cgroup_path(t->cgroup_parent, task->id, path, sizeof(path), &err) < 0 ||
		    task_usage_read(TASK_USAGE_CGROUP_ROOT, mode, path, now, &reading, &err) < 0) {
			log_debug("agent: task %s: no usage: %s", task->id, err.message);
			memset(&reading, 0, sizeof(reading));
			reading.taken_ns = now;
		}
		task_usage_tracker_advance(tr, &reading);
		if (tr->report.has_cpu_units || tr->report.has_memory)
			log_debug("agent: task %s: usage cpu %.0f units, memory %.1f MiB%s", task->id,
				  tr->report.cpu_units, tr->report.memory_mib,
				  tr->report.has_cpu_units ? "" : " (no CPU rate yet)");
	}
	if (!tr->report.has_cpu_units && !tr->report.has_memory)
		return NULL;
	usage = json_object();
	/* Whole units; MiB to a tenth (a status report is no place for noise digits). */
	if (tr->report.has_cpu_units)
		json_object_set_new(usage, "cpuUnits",
				    json_integer((json_int_t)(tr->report.cpu_units + 0.5)));
	if (tr->report.has_memory)
		json_object_set_new(usage, "memoryMiB",
				    json_real((double)(int64_t)(tr->report.memory_mib * 10 + 0.5) / 10));
	return usage;
}

json_t *agent_tasks_status_json(const struct agent_tasks *t)
{
	json_t *array = json_array();

	for (const struct agent_task *task = t->head; task; task = task->next) {
		json_t *containers, *o;

		if (!task->in_set)
			continue;	/* the server no longer asks about it */
		containers = json_array();
		for (size_t i = 0; i < task->container_count; i++) {
			const struct agent_container *c = &task->containers[i];
			json_t *co = json_pack("{s:s, s:s, s:s}", "name", c->name,
					       "runtimeId", c->runtime_id,
					       "lastStatus", container_status_label(c->status));

			if (c->has_exit_code)
				json_object_set_new(co, "exitCode", json_integer(c->exit_code));
			if (c->reason[0])
				json_object_set_new(co, "reason", json_string(c->reason));
			json_object_set_new(co, "healthStatus", json_string(task_health_name(c->health)));
			json_array_append_new(containers, co);
		}
		o = json_pack("{s:s, s:s, s:o}", "taskId", task->id, "lastStatus",
			      task_status_name(task->status), "containers", containers);
		if (task->started_at)
			json_object_set_new(o, "startedAt", json_real(task->started_at));
		json_object_set_new(o, "healthStatus", json_string(task_health_name(task_health(task))));
		if (task->status == AGENT_TASK_RUNNING || task->status == AGENT_TASK_STOPPING) {
			json_t *usage = task_usage_json(t, task);

			if (usage)
				json_object_set_new(o, "usage", usage);
		} else {
			usage_forget(task->id);
		}
		if (task->status == AGENT_TASK_STOPPED) {
			json_object_set_new(o, "stoppedAt",
					    json_real(task->stopped_at ? task->stopped_at : clock_wall_s()));
			if (task->stop_code[0])
				json_object_set_new(o, "stopCode", json_string(task->stop_code));
			else
				json_object_set_new(o, "stopCode",
						    json_string("EssentialContainerExited"));
			json_object_set_new(o, "stoppedReason",
					    json_string(task->stopped_reason[0] ? task->stopped_reason
							: "Essential container in task exited"));
		}
		json_array_append_new(array, o);
	}
	return array;
}
