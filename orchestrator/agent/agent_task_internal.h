/*
 * agent_task_internal.h - what the files of the agent's task table share
 * (agent_task.h is the table's public interface):
 *
 *   agent_task.c    the lifecycle: adoption, the desired set, starting,
 *                   stopping, converging, exits and the status report
 *   task_config.c   a container definition as the runtime's container config
 *                   (task_config.h: it needs no task table, for its tests)
 *   task_pull.c     image pulls in a child process
 *   task_health.c   healthCheck probes and the health they report
 *
 * All of it runs on the agent's one loop; nothing here is thread-safe.
 */
#ifndef ORCH_AGENT_TASK_INTERNAL_H
#define ORCH_AGENT_TASK_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include <jansson.h>

#include "agent_task.h"

/* The task has news for the server (the next status report goes at once). */
static inline void task_changed(struct agent_tasks *t)
{
	t->changed = true;
}

static inline const json_t *task_definition(const struct agent_task *task)
{
	return json_object_get(task->entry, "taskDefinition");
}

static inline const json_t *container_definition(const struct agent_task *task, size_t i)
{
	return json_array_get(json_object_get(task_definition(task), "containerDefinitions"), i);
}

/* A pidfd of pid (readable once it exited), or -1. */
static inline int pidfd_open_pid(pid_t pid)
{
	if (pid <= 0)
		return -1;
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

/* ---- task_pull.c ---------------------------------------------------------- */

/* The first image of the task that is not in the local store, or NULL. */
const char *task_pull_missing_image(struct agent_tasks *t, struct agent_task *task);

/* Starts the pull of image for task; -1 (errno) without a pipe or a child. */
int task_pull_start(struct agent_tasks *t, struct agent_task *task, const char *image);

/*
 * Reads what the pull wrote; at its end reaps it and records why it failed
 * (task->pull_error) or that it succeeded (NULL), and marks the task changed.
 */
void task_pull_read(struct agent_tasks *t, struct agent_task *task);

/* Kills and reaps a pull in flight and forgets its output and error. */
void task_pull_cancel(struct agent_task *task);

/* ---- task_health.c -------------------------------------------------------- */

/* Kills and reaps a probe in flight. */
void task_health_cancel(struct agent_container *c);

/* ECS: UNHEALTHY if an essential container is; HEALTHY if all checked essentials are. */
enum agent_health task_health(const struct agent_task *task);

const char *task_health_name(enum agent_health h);

#endif
