/*
 * task_config.h - one container definition of an ECS task as the runtime's
 * container config (runtime/container.h): what the agent hands
 * container_create for each container of a task.
 *
 * The translation, field by field ("override": a RunTask containerOverride
 * of the container's name replaces the definition's value):
 *
 *   image                the reference, resolved in the local store (a pull
 *                        came first); the image's config supplies what the
 *                        definition leaves out, by Docker's rules (spec.h)
 *   entryPoint           Docker's --entrypoint (its first element) and the
 *                        leading arguments (the rest): the image's
 *                        Entrypoint and Cmd are both replaced
 *   command (override)   the arguments after the entry point; without an
 *                        entryPoint they replace only the image's Cmd
 *   environment          over the image's Env: the definition's entries,
 *                        then the override's (a later entry of a name wins)
 *   workingDirectory, user, hostname   Docker's -w, -u, --hostname
 *   ulimits              as `orch run --ulimit` (spec_rlimit_from_values)
 *   readonlyRootFilesystem   the root read-only (readonly_rootfs); nothing
 *                        is made writable for it, not /tmp
 *   dockerLabels         the container's labels (kept and shown, not read)
 *   linuxParameters.initProcessEnabled   orch's init as PID 1 (init_process)
 *   memory, memoryReservation (override)   MiB: the container's hard limit
 *                        and reservation; each must fit in the task's memory
 *                        (a RunTask override can lower the task below them)
 *   cpu (override)       CPU units, the container's weight; below 2 none
 *   networkMode          the task's: host shares the host's namespace; none
 *                        gives the task one namespace with only lo (the
 *                        first container makes it, the others join a running
 *                        sibling's: network_from); bridge and awsvpc are
 *                        refused with ORCH_ERR_UNSUPPORTED
 *
 * Every container also gets the runtime's default pids limit, and its
 * cgroup below the task's (PARENT/orch-TASKID, agent_task_cgroup.h).  A
 * field not named here is not translated.
 */
#ifndef ORCH_AGENT_TASK_CONFIG_H
#define ORCH_AGENT_TASK_CONFIG_H

#include <stddef.h>

#include <jansson.h>

#include "common/error.h"
#include "runtime/cgroup.h"
#include "runtime/container.h"
#include "runtime/image_store.h"

/* Environment entries a container gets from its definition and override. */
#define TASK_CONFIG_ENV_MAX 1024

/*
 * How an image reference becomes a local image (container_image_resolve on
 * the runtime's data dir; a table in the tests).  *out is released with
 * container_image_info_release.
 */
typedef int (*task_config_resolve_fn)(const char *store, const char *ref,
				      struct image_info *out, orch_error *err);

struct task_config_input {
	const json_t *task_definition;	/* as the server's validator normalised it */
	const json_t *overrides;	/* RunTask's "overrides" object, or NULL */
	size_t index;			/* the container: containerDefinitions[index] */
	const char *task_id;
	const char *container_name;	/* the runtime container's name */
	const char *cgroup_parent;	/* the agent's; the task's group is below it */
	const struct cgroup_limits *task_limits;	/* the task size */
	const char *network_from;	/* a running sibling's runtime ID, or NULL */
	task_config_resolve_fn resolve;
	const char *store;		/* resolve's first argument */
};

/*
 * Fills *cfg (release it with container_config_release).  A definition the
 * runtime cannot run is ORCH_ERR_INVALID, a feature the agent does not have
 * ORCH_ERR_UNSUPPORTED, an image not in the store resolve's error; *cfg is
 * then left released.
 */
int task_config_build(const struct task_config_input *in, struct container_config *cfg,
		      orch_error *err);

#endif
