/*
 * agent_task.h - the agent's tasks: the desired set from the server, the
 * runtime containers that realise it, converging one onto the other, and
 * the status report built from them (agent_protocol.h).
 *
 * Task life on the agent:
 *
 *   NONE --images local--> (start containers) --> RUNNING --essential exit /
 *     |                        |                    desired STOPPED--> STOPPING
 *     +--image missing--> PULLING (reported PENDING)                   |
 *                              | pull failed / start failed            v
 *                              +----------------------------------> STOPPED
 *
 * Containers are runtime containers named orch-TASKID-INDEX (one per
 * container definition); a restarted agent finds them by that name
 * (agent_tasks_scan) and never starts a second copy.  A task missing from
 * the desired set, and any orch-* container that belongs to no task of the
 * set, is stopped and removed once the first answer of the server arrived:
 * no orphans.  Stops are SIGTERM, then SIGKILL after the container's
 * stopTimeout (ECS_DEFAULT_STOP_TIMEOUT_S), without blocking the loop.
 * Images missing locally are pulled by a child process (AGENT_PULL_*), so
 * the loop keeps heart-beating while a pull runs.
 *
 * Each task's containers live in the task's own cgroup, which carries the
 * task size (task-level cpu and memory) and goes once the task stopped or
 * its containers were removed (agent_task_cgroup.h).  Container ulimits are
 * applied by the runtime as `orch run --ulimit` does (spec.h).
 */
#ifndef ORCH_AGENT_TASK_H
#define ORCH_AGENT_TASK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "proto/agent_protocol.h"
#include "proto/ecs_defaults.h"
#include "runtime/container.h"

#define AGENT_EXIT_SWEEP_MS 2000		/* re-read every container's state */
#define AGENT_ORPHAN_SCAN_MS 5000		/* look for containers we do not know */
#define AGENT_REASON_MAX 256
#define AGENT_PULL_OUTPUT_MAX 2048		/* kept of an image pull's stderr */

enum agent_task_status {
	AGENT_TASK_NONE,	/* known, nothing started yet */
	AGENT_TASK_PULLING,	/* waiting for an image pull (reported PENDING) */
	AGENT_TASK_RUNNING,
	AGENT_TASK_STOPPING,
	AGENT_TASK_STOPPED,
};

enum agent_health {
	AGENT_HEALTH_UNKNOWN,
	AGENT_HEALTH_HEALTHY,
	AGENT_HEALTH_UNHEALTHY,
};

enum agent_container_status {
	AGENT_CONTAINER_PENDING,
	AGENT_CONTAINER_RUNNING,
	AGENT_CONTAINER_STOPPED,
};

struct agent_container {
	char name[256];			/* the container definition's name */
	char runtime_id[CONTAINER_ID_LEN + 1];	/* "" until created */
	enum agent_container_status status;
	bool essential;
	int stop_timeout_s;
	double kill_at;			/* monotonic seconds: SIGKILL it if still running; 0 none */
	bool has_exit_code;
	int exit_code;
	char reason[AGENT_REASON_MAX];
	int shim_pidfd;			/* readable when the shim exited; -1 */
	int64_t started_ns, finished_ns;
	/* healthCheck (ECS semantics; the first probe runs at once) */
	enum agent_health health;
	double health_since;		/* monotonic s the checks began; 0 not yet */
	double health_next_at;		/* next probe */
	double health_deadline;		/* the probe in flight times out */
	pid_t health_pid;		/* probe in flight (container_exec.h), 0 none */
	int health_pidfd;
	int health_fails;		/* consecutive, counted after startPeriod */
};

struct agent_task {
	char id[AGENT_TASK_ID_HEX_LEN + 1];
	json_t *entry;			/* the desired-set entry, NULL if only adopted */
	bool in_set;			/* in the latest desired set */
	bool desired_running;
	enum agent_task_status status;
	char stop_code[64];
	char stopped_reason[AGENT_REASON_MAX];
	double started_at, stopped_at;	/* epoch seconds, 0 = not yet */
	struct agent_container containers[ECS_MAX_CONTAINERS_PER_TASK];
	size_t container_count;
	pid_t pull_pid;			/* image pull child, 0 none */
	int pull_fd;			/* its stderr, -1 none */
	char pull_output[AGENT_PULL_OUTPUT_MAX];	/* the last of what it wrote there */
	size_t pull_output_len;
	bool pull_output_trimmed;	/* its start was dropped to keep the rest */
	char *pull_error;		/* why it failed, NULL when it did not */
	bool cgroup_gone;		/* its cgroup was removed (agent_task_cgroup.h) */
	struct agent_task *next;
};

struct agent_tasks {
	char *runtime_dir;		/* the runtime's data dir (containers, images) */
	char *cgroup_parent;
	struct agent_task *head;
	bool have_desired;		/* a first desired set arrived */
	bool changed;			/* something to report */
};

int agent_tasks_init(struct agent_tasks *t, const char *runtime_dir, const char *cgroup_parent,
		     orch_error *err);
void agent_tasks_release(struct agent_tasks *t);

/*
 * Finds containers named orch-* that the table does not know: at start
 * those of a previous run (adopted by name), later any that appeared behind
 * the agent's back.  Once the desired set is known, a malformed name or a
 * second container for a slot is removed at once; an unknown task's
 * containers become a record that converge stops and removes unless the
 * set wants it.
 */
int agent_tasks_scan(struct agent_tasks *t, orch_error *err);

/* Takes a desired set ({"tasks": [...]}) from the server. */
void agent_tasks_set_desired(struct agent_tasks *t, const json_t *tasks);

/* Starts, stops and kills what the desired set asks for. */
void agent_tasks_converge(struct agent_tasks *t);

/*
 * Removes the containers of stopped tasks the set no longer holds and
 * forgets them (after the status report: removal is slow I/O that must not
 * delay the report of a start).
 */
void agent_tasks_collect(struct agent_tasks *t);

/* Runs due health-check probes and takes the results of finished ones. */
void agent_tasks_health(struct agent_tasks *t);

/* Re-reads container states (all when sweep, else those whose fd fired). */
void agent_tasks_check_exits(struct agent_tasks *t, bool sweep);

/* The fds the loop should wait on (shim pidfds, pull pipes); returns count. */
int agent_tasks_wait_fds(const struct agent_tasks *t, int *fds, int max);

/* Milliseconds until the next kill deadline (-1: none). */
int agent_tasks_next_deadline_ms(const struct agent_tasks *t);

/* The "tasks" array of POST /v1/agent/status (a new reference). */
json_t *agent_tasks_status_json(const struct agent_tasks *t);

#endif
