/*
 * agent_task.c - the agent's tasks and their containers.  See agent_task.h.
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
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent_stream.h"
#include "agent_task_cgroup.h"
#include "common/clock.h"
#include "common/cleanup.h"
#include "runtime/container_exec.h"
#include "runtime/container_image.h"
#include "common/log.h"
#include "runtime/spec.h"

#define AGENT_ENV_MAX 1024

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
	if (*end || n >= AGENT_MAX_CONTAINERS_PER_TASK)
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
	for (size_t i = 0; i < AGENT_MAX_CONTAINERS_PER_TASK; i++) {
		task->containers[i].shim_pidfd = -1;
		task->containers[i].health_pidfd = -1;
	}
	task->next = t->head;
	t->head = task;
	return task;
}

static void health_cancel(struct agent_container *c);

static void task_free(struct agent_task *task)
{
	for (size_t i = 0; i < AGENT_MAX_CONTAINERS_PER_TASK; i++) {
		if (task->containers[i].shim_pidfd >= 0)
			close(task->containers[i].shim_pidfd);
		health_cancel(&task->containers[i]);
	}
	if (task->pull_fd >= 0)
		close(task->pull_fd);
	if (task->pull_pid > 0) {
		kill(task->pull_pid, SIGKILL);
		waitpid(task->pull_pid, NULL, 0);
	}
	free(task->pull_error);
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
	free(t->runtime_dir);
	free(t->cgroup_parent);
	memset(t, 0, sizeof(*t));
}

static void task_changed(struct agent_tasks *t)
{
	t->changed = true;
}

/* ---- container records ------------------------------------------------------ */

static int pidfd_open_pid(pid_t pid)
{
	if (pid <= 0)
		return -1;
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

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
	health_cancel(c);
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

static const json_t *task_definition(const struct agent_task *task)
{
	return json_object_get(task->entry, "taskDefinition");
}

static const json_t *container_definition(const struct agent_task *task, size_t i)
{
	return json_array_get(json_object_get(task_definition(task), "containerDefinitions"), i);
}

/* Container names, essential flags and stop timeouts from the definition. */
static void task_fill_containers(struct agent_task *task)
{
	const json_t *defs = json_object_get(task_definition(task), "containerDefinitions");
	size_t n = json_array_size(defs);

	if (n > AGENT_MAX_CONTAINERS_PER_TASK)
		n = AGENT_MAX_CONTAINERS_PER_TASK;
	for (size_t i = 0; i < n; i++) {
		const json_t *def = json_array_get(defs, i);
		const json_t *essential = json_object_get(def, "essential");
		const json_t *stop = json_object_get(def, "stopTimeout");
		struct agent_container *c = &task->containers[i];

		snprintf(c->name, sizeof(c->name), "%s",
			 json_string_value(json_object_get(def, "name")) ?: "");
		c->essential = essential ? json_is_true(essential) : true;
		c->stop_timeout_s = json_is_integer(stop) ? (int)json_integer_value(stop)
			: AGENT_DEFAULT_STOP_TIMEOUT_S;
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

/* The override object for container definition `name`, or NULL. */
static const json_t *container_override(const struct agent_task *task, const char *name)
{
	const json_t *list = json_object_get(json_object_get(task->entry, "overrides"),
					     "containerOverrides");
	size_t i;
	json_t *o;

	json_array_foreach(list, i, o) {
		const char *n = json_string_value(json_object_get(o, "name"));

		if (n && strcmp(n, name) == 0)
			return o;
	}
	return NULL;
}

static const json_t *field(const json_t *override, const json_t *def, const char *key)
{
	const json_t *v = override ? json_object_get(override, key) : NULL;

	return v ? v : json_object_get(def, key);
}

/* Strings of a JSON array into argv-style storage; false if not all strings. */
static bool string_array(const json_t *array, const char **out, size_t max, size_t *count)
{
	size_t i;
	json_t *v;

	*count = 0;
	json_array_foreach(array, i, v) {
		if (!json_is_string(v) || *count >= max)
			return false;
		out[(*count)++] = json_string_value(v);
	}
	return true;
}

/* The task size as limits of its cgroup (agent_task_cgroup.h). */
static int task_limits(const struct agent_task *task, struct cgroup_limits *out, orch_error *err)
{
	return agent_task_cgroup_limits(task_definition(task),
					json_object_get(task->entry, "overrides"), out, err);
}

/* The definition's ulimits into the process (the same rules as `orch run --ulimit`). */
static int apply_ulimits(const json_t *def, struct spec_process *proc, orch_error *err)
{
	size_t k;
	json_t *u;

	json_array_foreach(json_object_get(def, "ulimits"), k, u) {
		const char *uname = json_string_value(json_object_get(u, "name"));
		const json_t *soft = json_object_get(u, "softLimit");
		const json_t *hard = json_object_get(u, "hardLimit");
		struct spec_rlimit r;

		if (!uname || !json_is_integer(soft) || !json_is_integer(hard))
			return orch_fail(err, ORCH_ERR_INVALID,
					 "ulimits[%zu] needs name, softLimit and hardLimit", k);
		if (spec_rlimit_from_values(uname, json_integer_value(soft),
					    json_integer_value(hard), &r, err) < 0 ||
		    spec_rlimit_put(proc, &r, err) < 0)
			return -1;
	}
	return 0;
}

/*
 * Container limits must fit in the task's (ECS: a container's memory and
 * memoryReservation are at most the task memory).  The validator checks
 * the definition; RunTask overrides can still lower the task size below a
 * container's limit, which is refused here rather than left to the kernel.
 */
static int check_within_task(const char *name, const struct cgroup_limits *container,
			     const struct cgroup_limits *task, orch_error *err)
{
	if (task->memory_max <= 0)
		return 0;
	if (container->memory_max > task->memory_max)
		return orch_fail(err, ORCH_ERR_INVALID,
				 "container %s: memory %lld MiB exceeds the task memory of %lld MiB",
				 name, (long long)(container->memory_max >> 20),
				 (long long)(task->memory_max >> 20));
	if (container->memory_reservation > task->memory_max)
		return orch_fail(err, ORCH_ERR_INVALID,
				 "container %s: memoryReservation %lld MiB exceeds the task memory of "
				 "%lld MiB", name, (long long)(container->memory_reservation >> 20),
				 (long long)(task->memory_max >> 20));
	return 0;
}

/*
 * The runtime config of container definition i: image, argv (ECS's
 * entryPoint is Docker's --entrypoint plus leading arguments), environment
 * (definition, then override), ulimits, limits, network, and the task's
 * cgroup as its cgroup parent.
 */
static int build_config(struct agent_tasks *t, struct agent_task *task, size_t i,
			struct container_config *cfg, orch_error *err)
{
	const json_t *def = container_definition(task, i);
	const char *name = json_string_value(json_object_get(def, "name")) ?: "";
	const json_t *ov = container_override(task, name);
	const char *image = json_string_value(json_object_get(def, "image"));
	const char *network = json_string_value(json_object_get(task_definition(task),
								 "networkMode")) ?: "bridge";
	const char *argv[SPEC_ARGV_MAX], *env[AGENT_ENV_MAX];
	cleanup_free char **env_owned = NULL;
	struct spec_overrides sov;
	struct image_info info;
	size_t entry_count = 0, cmd_count = 0, env_count = 0;
	const json_t *entry_point = json_object_get(def, "entryPoint");
	const json_t *command = field(ov, def, "command");
	const json_t *v;
	char cname[CONTAINER_NAME_MAX], cgroup_parent[CGROUP_PATH_MAX];
	struct cgroup_limits task_lim;
	int rc = -1;

	memset(cfg, 0, sizeof(*cfg));
	memset(&sov, 0, sizeof(sov));
	memset(&info, 0, sizeof(info));
	if (!image)
		return orch_fail(err, ORCH_ERR_INVALID, "container '%s' has no image", name);
	if (strcmp(network, "host") == 0)
		cfg->network = LINUX_NETWORK_HOST;
	else if (strcmp(network, "none") == 0)
		cfg->network = LINUX_NETWORK_NONE;
	else
		return orch_fail(err, ORCH_ERR_UNSUPPORTED,
				 "network mode %s is not supported yet", network);
	if (json_array_size(entry_point) > 0) {
		if (!string_array(entry_point, argv, SPEC_ARGV_MAX, &entry_count))
			return orch_fail(err, ORCH_ERR_INVALID, "entryPoint must be strings");
		sov.entrypoint_set = true;
		sov.entrypoint = argv[0];
	}
	if (command && !string_array(command, argv + entry_count, SPEC_ARGV_MAX - entry_count,
				     &cmd_count))
		return orch_fail(err, ORCH_ERR_INVALID, "command must be strings");
	if (entry_count > 0) {
		sov.cmd = argv + 1;
		sov.cmd_count = entry_count - 1 + cmd_count;
	} else {
		sov.cmd = argv;
		sov.cmd_count = cmd_count;
	}
	env_owned = calloc(AGENT_ENV_MAX, sizeof(char *));
	if (!env_owned)
		return orch_fail_errno(err, ENOMEM, "building the environment");
	for (int pass = 0; pass < 2; pass++) {
		const json_t *list = json_object_get(pass == 0 ? def : ov, "environment");
		size_t k;
		json_t *e;

		json_array_foreach(list, k, e) {
			const char *key = json_string_value(json_object_get(e, "name"));
			const char *val = json_string_value(json_object_get(e, "value"));

			if (!key || env_count >= AGENT_ENV_MAX)
				continue;
			if (asprintf(&env_owned[env_count], "%s=%s", key, val ? val : "") < 0) {
				env_owned[env_count] = NULL;
				goto out_enomem;
			}
			env[env_count] = env_owned[env_count];
			env_count++;
		}
	}
	sov.env = env;
	sov.env_count = env_count;
	sov.workdir = json_string_value(json_object_get(def, "workingDirectory"));
	sov.user = json_string_value(json_object_get(def, "user"));
	sov.hostname = json_string_value(json_object_get(def, "hostname"));
	if (container_image_resolve(t->runtime_dir, image, &info, err) < 0)
		goto out;
	if (spec_merge(info.config, &sov, &cfg->process, err) < 0)
		goto out;
	if (apply_ulimits(def, &cfg->process, err) < 0 ||
	    task_limits(task, &task_lim, err) < 0 ||
	    agent_task_cgroup_path(t->cgroup_parent, task->id, cgroup_parent, sizeof(cgroup_parent),
				   err) < 0)
		goto out;
	container_name_format(task, i, cname, sizeof(cname));
	cfg->name = strdup(cname);
	cfg->image = strdup(image);
	cfg->image_id = strdup(info.id);
	cfg->hostname = sov.hostname ? strdup(sov.hostname) : NULL;
	cfg->cgroup_parent = strdup(cgroup_parent);
	cfg->cgroup_parent_is_group = true;
	if (cfg->network == LINUX_NETWORK_NONE) {
		/* One network namespace per task: join a running sibling's. */
		for (size_t j = 0; j < task->container_count; j++) {
			const struct agent_container *sib = &task->containers[j];

			if (j != i && sib->status == AGENT_CONTAINER_RUNNING && sib->runtime_id[0]) {
				cfg->network_from = strdup(sib->runtime_id);
				if (!cfg->network_from)
					goto out_enomem;
				break;
			}
		}
	}
	cfg->limits.pids_max = CONTAINER_DEFAULT_PIDS_LIMIT;
	v = field(ov, def, "memory");
	if (json_is_integer(v) && json_integer_value(v) > 0)
		cfg->limits.memory_max = json_integer_value(v) << 20;
	v = field(ov, def, "memoryReservation");
	if (json_is_integer(v) && json_integer_value(v) > 0)
		cfg->limits.memory_reservation = json_integer_value(v) << 20;
	v = field(ov, def, "cpu");
	if (json_is_integer(v) && json_integer_value(v) >= 2)
		cfg->limits.cpu_units = json_integer_value(v);
	if (check_within_task(name, &cfg->limits, &task_lim, err) < 0)
		goto out;
	cfg->layer_dirs = info.layer_dirs;
	cfg->layer_count = info.layer_count;
	info.layer_dirs = NULL;
	info.layer_count = 0;
	if (!cfg->name || !cfg->image || !cfg->image_id || !cfg->cgroup_parent)
		goto out_enomem;
	rc = 0;
	goto out;
out_enomem:
	orch_fail_errno(err, ENOMEM, "building container '%s'", name);
out:
	if (rc < 0)
		container_config_release(cfg);
	container_image_info_release(&info);
	for (size_t k = 0; k < env_count; k++)
		free(env_owned[k]);
	return rc;
}

/* The first image of the task that is not in the local store, or NULL. */
static const char *missing_image(struct agent_tasks *t, struct agent_task *task)
{
	for (size_t i = 0; i < task->container_count; i++) {
		const char *image = json_string_value(json_object_get(container_definition(task, i),
								      "image"));
		struct image_info info;

		if (!image || task->containers[i].runtime_id[0])
			continue;
		memset(&info, 0, sizeof(info));
		if (container_image_resolve(t->runtime_dir, image, &info, NULL) == 0) {
			container_image_info_release(&info);
			continue;
		}
		return image;
	}
	return NULL;
}

/*
 * Starts `orch image pull` on image into the runtime's store; what it says
 * (warnings, then its error) comes through a pipe on its stderr.  A fresh
 * process, not a forked copy of the agent: the agent has threads (exec
 * sessions, log uploads) that may hold a lock (the allocator's, OpenSSL's, a
 * stream's) at the fork, and a pull takes all of them.
 */
static int pull_start(struct agent_tasks *t, struct agent_task *task, const char *image)
{
	char *argv[] = { "orch", "image", "pull", "--data", t->runtime_dir, "--quiet",
			 "--log-level", "warn", "--", (char *)image, NULL };
	int fds[2];
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) < 0)
		return -1;
	pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (pid == 0) {
		/* Async-signal-safe calls only until the exec.  The pipe moves
		 * above stdio first, in case the agent runs without some of it. */
		int err_fd = fcntl(fds[1], F_DUPFD, 3);
		int null_fd = open("/dev/null", O_RDWR);
		sigset_t none;

		if (err_fd < 0 || null_fd < 0 || dup2(null_fd, STDIN_FILENO) < 0 ||
		    dup2(null_fd, STDOUT_FILENO) < 0 || dup2(err_fd, STDERR_FILENO) < 0)
			_exit(2);
		syscall(SYS_close_range, 3U, ~0U, 0U);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		execv("/proc/self/exe", argv);
		_exit(127);
	}
	close(fds[1]);
	task->pull_pid = pid;
	task->pull_fd = fds[0];
	task->pull_output_len = 0;
	task->pull_output_trimmed = false;
	free(task->pull_error);
	task->pull_error = NULL;
	log_info("agent: task %s: pulling %s", task->id, image);
	return 0;
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
 * Whether container i's dependsOn conditions hold: 1 yes, 0 not yet, -1
 * never (why says which).  START: the dependency started; COMPLETE: it
 * exited; SUCCESS: it exited 0; HEALTHY needs health checks, which this
 * agent does not run yet (refused with a message).
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
				return 0;
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
				return 0;
		} else {
			snprintf(why, why_size, "dependsOn condition %s is not supported", cond);
			return -1;
		}
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
	image = missing_image(t, task);
	if (image) {
		if (pull_start(t, task, image) < 0) {
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
			if (build_config(t, task, i, &cfg, &err) < 0) {
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
 * Records why the task stops and sets the SIGKILL deadline (the longest
 * stopTimeout of its running containers); the caller sends the SIGTERM
 * (task_signal) and the loop the SIGKILL at kill_at.
 */
static void task_stop(struct agent_task *task, const char *code, const char *reason)
{
	int longest = 0;
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
		if (c->stop_timeout_s > longest)
			longest = c->stop_timeout_s;
	}
	task->status = any_running ? AGENT_TASK_STOPPING : AGENT_TASK_STOPPED;
	if (any_running && !task->kill_at)
		task->kill_at = clock_mono_s() + longest;
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
			task->kill_at = 0;
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

/*
 * The puller's stderr, once it ended: lines other than its error are
 * logged; the error ("orch: error: ..."), or else its last line, is why a
 * failed pull failed (after the signal, if one killed it).
 */
static void pull_conclude(struct agent_task *task, int status)
{
	static const char prefix[] = "orch: error: ";
	static const size_t stamp_len = sizeof("2026-01-01T00:00:00.000Z warn  ") - 1;
	const char *error = NULL, *last = NULL;
	char *p = task->pull_output, *stop = p + task->pull_output_len;
	char text[AGENT_PULL_OUTPUT_MAX + 64];

	/* A NUL in it ends a line as a newline does. */
	for (char *c = p; c < stop; c++)
		if (*c == '\n')
			*c = '\0';
	*stop = '\0';
	if (task->pull_output_trimmed)	/* its first line lost its start */
		p += strlen(p) + 1;
	for (char *line = p; line < stop; line += strlen(line) + 1) {
		if (!*line)
			continue;
		if (strncmp(line, prefix, sizeof(prefix) - 1) == 0) {
			error = line + sizeof(prefix) - 1;
			continue;
		}
		/* Its log lines (log.h) lose their own time and level. */
		if (strlen(line) > stamp_len && line[10] == 'T' && line[23] == 'Z' &&
		    line[24] == ' ')
			line += stamp_len;
		last = line;
		log_warn("agent: task %s: image pull: %s", task->id, line);
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return;
	if (WIFSIGNALED(status))
		snprintf(text, sizeof(text), "the image pull was killed by signal %d%s%s",
			 WTERMSIG(status), last ? "; its last line: " : "", last ? last : "");
	else if (error || last)
		snprintf(text, sizeof(text), "%s", error ? error : last);
	else
		snprintf(text, sizeof(text), "the image pull failed (exit %d)", WEXITSTATUS(status));
	free(task->pull_error);
	task->pull_error = strdup(text);
}

static void pull_finish(struct agent_tasks *t, struct agent_task *task)
{
	char buf[1024];
	ssize_t n = read(task->pull_fd, buf, sizeof(buf));
	size_t room = sizeof(task->pull_output) - 1;
	int status = 0;

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n > 0) {	/* keep the last of it: the error comes at the end */
		size_t add = (size_t)n, keep = task->pull_output_len;

		_Static_assert(sizeof(buf) < AGENT_PULL_OUTPUT_MAX, "a read fits the buffer");
		if (keep + add > room) {
			memmove(task->pull_output, task->pull_output + (keep + add - room),
				room - add);
			keep = room - add;
			task->pull_output_trimmed = true;
		}
		memcpy(task->pull_output + keep, buf, add);
		task->pull_output_len = keep + add;
		return;
	}
	close(task->pull_fd);
	task->pull_fd = -1;
	waitpid(task->pull_pid, &status, 0);
	task->pull_pid = 0;
	pull_conclude(task, status);
	task_changed(t);
}

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
				pull_finish(t, task);
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
		if (task->status == AGENT_TASK_STOPPING && task->kill_at && now >= task->kill_at) {
			log_info("agent: task %s: stop timeout, SIGKILL", task->id);
			task_signal(t, task, SIGKILL);
			task->kill_at = now + 1;	/* and again, if it takes longer */
		}
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
		if (task->kill_at && (next < 0 || task->kill_at < next))
			next = task->kill_at;
		for (size_t i = 0; i < task->container_count; i++) {
			const struct agent_container *c = &task->containers[i];
			double at = c->health_pid > 0 ? c->health_deadline : c->health_next_at;

			if (c->status == AGENT_CONTAINER_RUNNING && c->health_since && at > 0 &&
			    (next < 0 || at < next))
				next = at;
		}
	}
	if (next < 0)
		return -1;
	return next <= now ? 0 : (int)((next - now) * 1000) + 1;
}

/* ---- health checks -------------------------------------------------------- */

static void health_cancel(struct agent_container *c)
{
	if (c->health_pid > 0) {
		kill(-c->health_pid, SIGKILL);
		waitpid(c->health_pid, NULL, 0);
		c->health_pid = 0;
	}
	if (c->health_pidfd >= 0) {
		close(c->health_pidfd);
		c->health_pidfd = -1;
	}
}

static int health_field(const json_t *hc, const char *key, int dflt)
{
	const json_t *v = json_object_get(hc, key);

	return json_is_integer(v) ? (int)json_integer_value(v) : dflt;
}

/* Starts one probe: CMD runs argv, CMD-SHELL runs sh -c. */
static void health_probe_start(struct agent_tasks *t, struct agent_container *c,
			       const json_t *hc, double now)
{
	const json_t *cmd = json_object_get(hc, "command");
	const char *kind = json_string_value(json_array_get(cmd, 0));
	char *argv[SPEC_ARGV_MAX];
	size_t n = 0;
	struct container_exec_options o = { .argv = argv, .stdin_fd = -1, .stdout_fd = -1,
					    .stderr_fd = -1 };
	orch_error err = ORCH_ERROR_INIT;

	if (kind && strcmp(kind, "CMD-SHELL") == 0) {
		argv[n++] = "/bin/sh";
		argv[n++] = "-c";
		argv[n++] = (char *)(json_string_value(json_array_get(cmd, 1)) ?: "false");
	} else {
		for (size_t i = kind && strcmp(kind, "CMD") == 0 ? 1 : 0;
		     i < json_array_size(cmd) && n < SPEC_ARGV_MAX - 1; i++)
			argv[n++] = (char *)(json_string_value(json_array_get(cmd, i)) ?: "");
	}
	argv[n] = NULL;
	c->health_deadline = now + health_field(hc, "timeout", AGENT_HEALTH_TIMEOUT_S);
	c->health_pid = n ? container_exec_start(t->runtime_dir, c->runtime_id, &o, &err) : -1;
	if (c->health_pid < 0) {
		log_debug("agent: health check of %s: %s", c->runtime_id, err.message);
		c->health_pid = 0;
		return;
	}
	c->health_pidfd = pidfd_open_pid(c->health_pid);
}

/* Records one probe's result; true if the health status changed. */
static bool health_result(struct agent_container *c, const json_t *hc, bool ok, double now)
{
	enum agent_health before = c->health;

	if (ok) {
		c->health = AGENT_HEALTH_HEALTHY;
		c->health_fails = 0;
	} else if (now - c->health_since >= health_field(hc, "startPeriod", 0)) {
		if (++c->health_fails >= health_field(hc, "retries", AGENT_HEALTH_RETRIES))
			c->health = AGENT_HEALTH_UNHEALTHY;
	}
	c->health_next_at = now + health_field(hc, "interval", AGENT_HEALTH_INTERVAL_S);
	return c->health != before;
}

void agent_tasks_health(struct agent_tasks *t)
{
	double now = clock_mono_s();

	for (struct agent_task *task = t->head; task; task = task->next) {
		for (size_t i = 0; i < task->container_count; i++) {
			struct agent_container *c = &task->containers[i];
			const json_t *hc = json_object_get(container_definition(task, i),
							   "healthCheck");
			int status;
			pid_t r;

			if (!hc || c->status != AGENT_CONTAINER_RUNNING || !c->runtime_id[0])
				continue;
			if (!c->health_since) {
				c->health_since = now;
				c->health_next_at = now;
			}
			if (c->health_pid > 0) {
				r = waitpid(c->health_pid, &status, WNOHANG);
				if (r == 0 && now < c->health_deadline)
					continue;
				if (r == 0) {	/* timed out: the probe and its child */
					kill(-c->health_pid, SIGKILL);
					waitpid(c->health_pid, &status, 0);
					status = -1;
				}
				c->health_pid = 0;
				if (c->health_pidfd >= 0) {
					close(c->health_pidfd);
					c->health_pidfd = -1;
				}
				if (health_result(c, hc, status != -1 && WIFEXITED(status) &&
						  WEXITSTATUS(status) == 0, now))
					task_changed(t);
				continue;
			}
			if (now >= c->health_next_at) {
				health_probe_start(t, c, hc, now);
				if (!c->health_pid && health_result(c, hc, false, now))
					task_changed(t);
			}
		}
	}
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

static const char *health_name(enum agent_health h)
{
	return h == AGENT_HEALTH_HEALTHY ? "HEALTHY" : h == AGENT_HEALTH_UNHEALTHY ? "UNHEALTHY"
		: "UNKNOWN";
}

/* ECS: UNHEALTHY if an essential container is; HEALTHY if all checked essentials are. */
static enum agent_health task_health(const struct agent_task *task)
{
	bool any_checked = false, all_healthy = true;

	for (size_t i = 0; i < task->container_count; i++) {
		const struct agent_container *c = &task->containers[i];

		if (!c->essential || !json_object_get(container_definition(task, i), "healthCheck"))
			continue;
		any_checked = true;
		if (c->health == AGENT_HEALTH_UNHEALTHY)
			return AGENT_HEALTH_UNHEALTHY;
		if (c->health != AGENT_HEALTH_HEALTHY)
			all_healthy = false;
	}
	return any_checked && all_healthy ? AGENT_HEALTH_HEALTHY : AGENT_HEALTH_UNKNOWN;
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
			json_object_set_new(co, "healthStatus", json_string(health_name(c->health)));
			json_array_append_new(containers, co);
		}
		o = json_pack("{s:s, s:s, s:o}", "taskId", task->id, "lastStatus",
			      task_status_name(task->status), "containers", containers);
		if (task->started_at)
			json_object_set_new(o, "startedAt", json_real(task->started_at));
		json_object_set_new(o, "healthStatus", json_string(health_name(task_health(task))));
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
