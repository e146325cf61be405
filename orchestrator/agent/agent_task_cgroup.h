/*
 * agent_task_cgroup.h - the cgroup of one task on an agent.
 *
 * Every task gets a group cgroup PARENT/orch-TASKID (PARENT being the
 * agent's --cgroup-parent; cgroup.h), and its containers' cgroups are made
 * below it (their cgroup parent is that path).  The group carries the ECS
 * task size: task-level memory is a hard limit for all the task's
 * containers together (no swap past it), task-level cpu a CFS quota of
 * cpu/1024 CPUs for all of them together and their weight (shares) against
 * other tasks.  RunTask's overrides.cpu/memory replace the definition's.
 * Container-level limits apply inside it as usual.
 *
 * Lifetime, all on the agent's loop: the group is made (its limits written
 * again) before each of the task's containers is started; it is removed as
 * soon as nothing is in it, which the agent tries when the task stopped
 * (each shim removes its container's cgroup before recording the exit),
 * after it removed the task's containers, and in its periodic scan for
 * groups of tasks it no longer knows (an agent killed between making the
 * group and starting a container).  The runtime also removes the group
 * with the last container in it (container_config.cgroup_parent_is_group),
 * so `orch rm` of a task's containers while the agent is down leaves
 * nothing either.  Removal never kills anything: a group with a container
 * left in it stays until that container is removed.
 * Running containers keep their cgroups across an agent restart, and the
 * restarted agent adopts them where they are.
 */
#ifndef ORCH_AGENT_TASK_CGROUP_H
#define ORCH_AGENT_TASK_CGROUP_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "runtime/cgroup.h"
#include "common/error.h"

#define AGENT_TASK_CGROUP_PREFIX "orch-"	/* PARENT/orch-TASKID */
#define AGENT_TASK_CPU_MILLIS_MIN 10		/* the kernel's smallest quota is 1 ms per 100 ms */

/*
 * The limits of the task's group from its definition ("cpu": units,
 * "memory": MiB, as the validator normalises them) and the RunTask
 * overrides (integers or numeric strings; NULL for none).  A task without
 * a size gets no limit (zeros).
 */
int agent_task_cgroup_limits(const json_t *task_definition, const json_t *overrides,
			     struct cgroup_limits *out, orch_error *err);

/* "PARENT/orch-TASKID": the cgroup parent of the task's containers. */
int agent_task_cgroup_path(const char *parent, const char *task_id, char *buf, size_t len,
			   orch_error *err);

/* Makes the task's group (or writes its limits again). */
int agent_task_cgroup_make(const char *parent, const char *task_id,
			   const struct cgroup_limits *limits, orch_error *err);

/*
 * Removes the task's group if nothing is in it; true if it is gone (or was
 * never made).  Failures other than "still in use" are logged.
 */
bool agent_task_cgroup_release(const char *parent, const char *task_id);

/*
 * The task IDs of the groups below parent (lower-case hex names after
 * AGENT_TASK_CGROUP_PREFIX; other cgroups there are not the agent's to
 * judge).  Free with cgroup_names_free.
 */
int agent_task_cgroup_list(const char *parent, char ***task_ids, size_t *count,
			   orch_error *err);

#endif
