/*
 * task_config.c - a container definition of an ECS task as the runtime's
 * container config.  See task_config.h.
 */
#include "task_config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_task_cgroup.h"
#include "common/cleanup.h"
#include "proto/ecs_defaults.h"
#include "runtime/container_image.h"
#include "runtime/spec.h"

/* The override object for container definition `name`, or NULL. */
static const json_t *container_override(const json_t *overrides, const char *name)
{
	const json_t *list = json_object_get(overrides, "containerOverrides");
	size_t i;
	json_t *o;

	json_array_foreach(list, i, o) {
		const char *n = json_string_value(json_object_get(o, "name"));

		if (n && strcmp(n, name) == 0)
			return o;
	}
	return NULL;
}

/* The override's value of key if it has one, else the definition's. */
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

/* dockerLabels as the container's labels. */
static int apply_labels(const json_t *def, struct container_config *cfg, orch_error *err)
{
	const json_t *labels = json_object_get(def, "dockerLabels");
	const char *key;
	json_t *value;

	if (json_object_size(labels) == 0)
		return 0;
	if (json_object_size(labels) > CONTAINER_LABELS_MAX)
		return orch_fail(err, ORCH_ERR_INVALID, "dockerLabels: more than %d entries",
				 CONTAINER_LABELS_MAX);
	cfg->labels = calloc(json_object_size(labels), sizeof(*cfg->labels));
	if (!cfg->labels)
		return orch_fail_errno(err, ENOMEM, "copying dockerLabels");
	json_object_foreach((json_t *)labels, key, value) {
		struct container_label *l = &cfg->labels[cfg->label_count];

		if (!json_is_string(value))
			return orch_fail(err, ORCH_ERR_INVALID, "dockerLabels.%s must be a string", key);
		l->key = strdup(key);
		l->value = strdup(json_string_value(value));
		cfg->label_count++;
		if (!l->key || !l->value)
			return orch_fail_errno(err, ENOMEM, "copying dockerLabels");
	}
	return 0;
}

int task_config_build(const struct task_config_input *in, struct container_config *cfg,
		      orch_error *err)
{
	const json_t *def = json_array_get(json_object_get(in->task_definition,
							   "containerDefinitions"), in->index);
	const char *name = json_string_value(json_object_get(def, "name")) ?: "";
	const json_t *ov = container_override(in->overrides, name);
	const char *image = json_string_value(json_object_get(def, "image"));
	const char *network = json_string_value(json_object_get(in->task_definition,
								 "networkMode")) ?: ECS_DEFAULT_NETWORK_MODE;
	const char *argv[SPEC_ARGV_MAX], *env[TASK_CONFIG_ENV_MAX];
	cleanup_free char **env_owned = NULL;
	struct spec_overrides sov;
	struct image_info info;
	size_t entry_count = 0, cmd_count = 0, env_count = 0;
	const json_t *entry_point = json_object_get(def, "entryPoint");
	const json_t *command = field(ov, def, "command");
	const json_t *v;
	char cgroup_parent[CGROUP_PATH_MAX];
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
	env_owned = calloc(TASK_CONFIG_ENV_MAX, sizeof(char *));
	if (!env_owned)
		return orch_fail_errno(err, ENOMEM, "building the environment");
	for (int pass = 0; pass < 2; pass++) {
		const json_t *list = json_object_get(pass == 0 ? def : ov, "environment");
		size_t k;
		json_t *e;

		json_array_foreach(list, k, e) {
			const char *key = json_string_value(json_object_get(e, "name"));
			const char *val = json_string_value(json_object_get(e, "value"));

			if (!key || env_count >= TASK_CONFIG_ENV_MAX)
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
	if (in->resolve(in->store, image, &info, err) < 0)
		goto out;
	if (spec_merge(info.config, &sov, &cfg->process, err) < 0)
		goto out;
	if (apply_ulimits(def, &cfg->process, err) < 0 ||
	    agent_task_cgroup_path(in->cgroup_parent, in->task_id, cgroup_parent,
				   sizeof(cgroup_parent), err) < 0)
		goto out;
	cfg->name = strdup(in->container_name);
	cfg->image = strdup(image);
	cfg->image_id = strdup(info.id);
	cfg->hostname = sov.hostname ? strdup(sov.hostname) : NULL;
	cfg->cgroup_parent = strdup(cgroup_parent);
	cfg->cgroup_parent_is_group = true;
	cfg->readonly_rootfs = json_is_true(json_object_get(def, "readonlyRootFilesystem"));
	cfg->init_process = json_is_true(json_object_get(json_object_get(def, "linuxParameters"),
							 "initProcessEnabled"));
	if (apply_labels(def, cfg, err) < 0)
		goto out;
	if (cfg->network == LINUX_NETWORK_NONE && in->network_from) {
		/* One network namespace per task: join a running sibling's. */
		cfg->network_from = strdup(in->network_from);
		if (!cfg->network_from)
			goto out_enomem;
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
	if (check_within_task(name, &cfg->limits, in->task_limits, err) < 0)
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
