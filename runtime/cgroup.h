/*
 * cgroup.h - resource limits of one container through whichever cgroup
 * layout the host has: pure v2 (unified), pure v1, or hybrid (controllers on
 * v1, an almost empty cgroup2 at /sys/fs/cgroup/unified; handled by the v1
 * manager).  One manager per file (cgroup_v1.c, cgroup_v2.c) behind the
 * table of operations in cgroup_internal.h, as crun's cgroup-*.c.
 *
 * A container's cgroup is PARENT/ID below each hierarchy's root, PARENT
 * being --cgroup-parent (default "orch") so several agents can share a host.
 * The cgroup is created before the container's first process runs, the
 * process is moved in before it execs, and the cgroup is removed (killing
 * leftovers) once the container exited.
 *
 * A group cgroup (cgroup_create_group) sits between PARENT and containers
 * that share limits: the agent makes PARENT/orch-TASKID for a task and uses
 * it as the cgroup parent of the task's containers, so the task's memory
 * and CPU bound all of them together (hierarchical limits, both versions).
 * It holds no process of its own; whoever made it removes it once its last
 * container is gone (cgroup_remove_if_empty).
 */
#ifndef ORCH_RUNTIME_CGROUP_H
#define ORCH_RUNTIME_CGROUP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/error.h"

#define CGROUP_DEFAULT_PARENT "orch"
#define CGROUP_CPU_PERIOD_US 100000	/* CFS period for --cpus, as Docker */
#define CGROUP_CPU_UNITS_PER_CPU 1024	/* ECS: 1024 units = one CPU */
#define CGROUP_PATH_MAX 512

enum cgroup_mode {
	CGROUP_MODE_V1,
	CGROUP_MODE_HYBRID,
	CGROUP_MODE_V2,
};

/* Zero (or a negative value) means "no limit" for each field. */
struct cgroup_limits {
	int64_t memory_max;		/* bytes, hard limit; swap is not allowed past it */
	int64_t memory_reservation;	/* bytes, soft limit (v1) / memory.low (v2) */
	int64_t cpu_millis;		/* --cpus in thousandths: quota over CGROUP_CPU_PERIOD_US */
	int64_t cpu_units;		/* ECS cpu units: shares (v1) / weight (v2) */
	int64_t pids_max;
};

/* Where one container's cgroup lives. */
struct cgroup {
	enum cgroup_mode mode;
	char path[CGROUP_PATH_MAX];	/* "PARENT/ID", relative to each hierarchy root */
};

/* Detects the host's layout (cached after the first call). */
int cgroup_detect_mode(enum cgroup_mode *out, orch_error *err);

/* Checks a --cgroup-parent value: relative, no "..", [A-Za-z0-9._/-]. */
int cgroup_parent_validate(const char *parent, orch_error *err);

/* Fills cg for PARENT/ID on this host. */
int cgroup_init(struct cgroup *cg, const char *parent, const char *id, orch_error *err);

/* Fills cg for a group cgroup at path ("PARENT/NAME"), checked as a parent is. */
int cgroup_init_group(struct cgroup *cg, const char *path, orch_error *err);

/*
 * Creates the cgroup, applies limits and puts the device allow-list on it
 * (cgroup_devices.c: the v1 devices controller, else an eBPF program on the
 * container's cgroup2 directory).  Fails with "no device control: ..." when
 * the host offers neither: a container never runs without.
 */
int cgroup_create(const struct cgroup *cg, const struct cgroup_limits *limits, orch_error *err);

/*
 * Creates a group cgroup (see the top of this file) and applies limits to
 * the sum of what runs below it.  On v2 the memory, cpu and pids
 * controllers are also enabled in its own cgroup.subtree_control, so the
 * containers below can have limits of their own.  Idempotent: an existing
 * group keeps its children and gets the limits written again.
 */
int cgroup_create_group(const struct cgroup *cg, const struct cgroup_limits *limits,
			orch_error *err);

/*
 * Removes a group cgroup unless something is still in it (a child cgroup
 * or a process): 1 removed or absent, 0 still in use (nothing killed), -1
 * on another failure.
 */
int cgroup_remove_if_empty(const struct cgroup *cg, orch_error *err);

/*
 * The names of the cgroups directly below parent ("orch" lists "orch/X"
 * as "X"), in any hierarchy, each once; none if parent does not exist.
 * Free with cgroup_names_free.
 */
int cgroup_list_children(const char *parent, char ***names, size_t *count, orch_error *err);
void cgroup_names_free(char **names, size_t count);

/* Moves pid into the cgroup (every controller). */
int cgroup_enter(const struct cgroup *cg, pid_t pid, orch_error *err);

/* Number of OOM kills in the cgroup so far. */
int cgroup_oom_kill_count(const struct cgroup *cg, uint64_t *out, orch_error *err);

/*
 * Kills whatever still runs in the cgroup and removes it; a cgroup that does
 * not exist is fine (idempotent, so rm can retry after a crash).
 */
int cgroup_destroy(const struct cgroup *cg, orch_error *err);

/* ECS cpu units -> cgroup v2 cpu.weight (runc's shares->weight mapping). */
uint64_t cgroup_units_to_weight(int64_t units);

#endif
