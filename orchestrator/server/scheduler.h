/*
 * scheduler.h - task placement: which node runs a task.
 *
 * The scheduler keeps an in-memory picture of the cluster's nodes (their
 * registered resources, attributes, status) and of the tasks placed on them
 * (the resources and host ports those hold).  The control thread owns it:
 * the server rebuilds it from the store at start and updates it as nodes
 * register, change status or go away and as tasks are placed or stop.  It
 * does no I/O; placing and recording in the store are the caller's.
 *
 * Requests use ECS's shapes:
 *   placementConstraints: [{"type": "distinctInstance"},
 *                          {"type": "memberOf", "expression": "attribute:arch == amd64"}]
 *   placementStrategy:    [{"type": "binpack", "field": "cpu"|"memory"},
 *                          {"type": "spread", "field": "instanceId"|"attribute:NAME"},
 *                          {"type": "random"}]
 * Strategies apply in order (ties of the first broken by the next, then by
 * node ID).  memberOf expressions follow ECS's cluster query language:
 * attribute:NAME OP VALUE with ==, !=, in (a, b), not in, exists, !exists,
 * =~ and the orderings, task:group == NAME, joined by and / or, not and
 * parentheses (scheduler_expr.h has the grammar).
 *
 * Choices where ECS is silent or orch differs:
 *   - No strategy (absent or []) means spread by instanceId; among the
 *     nodes that hold fewest of the group's tasks, up to 16 are compared
 *     by their task count (fewest first), taken in ID order from a place
 *     the group's name picks, so several services' groups spread over the
 *     cluster rather than all starting on the lowest node IDs, at a cost
 *     that does not grow with the cluster.  "host" is an alias of
 *     instanceId.  random's field is ignored, as ECS does.
 *   - spread counts tasks of the request's group; a request without a group
 *     counts all tasks of the cluster.  distinctInstance without a group
 *     applies among the tasks that have no group.
 *   - spread by attribute: nodes without the attribute form one more value.
 *   - Binds from the store (scheduler_task_bind) are recorded even when they
 *     over-commit: the store is the truth; remaining resources then go
 *     negative and nothing more is placed there.
 *   - Node IDs are at most 63 bytes (node_id_out holds 64).  A node that
 *     runs tasks cannot move to another cluster (CONFLICT).  Removing a node
 *     forgets its tasks.
 *
 * The files behind this interface are listed in scheduler_internal.h.
 */
#ifndef ORCH_SCHEDULER_H
#define ORCH_SCHEDULER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/error.h"

struct scheduler;

enum sched_node_status { SCHED_NODE_ACTIVE, SCHED_NODE_DRAINING, SCHED_NODE_LOST };

struct sched_node_info {
	const char *node_id;
	const char *cluster;
	enum sched_node_status status;
	int64_t cpu;			/* registered CPU units (1024 = one CPU) */
	int64_t memory;			/* registered MiB */
	const json_t *attributes;	/* {"os": "linux", "arch": "amd64", ...}; copied */
};

/* A port a task holds on its node's host (networkMode host, or bridge hostPort). */
struct sched_port {
	uint16_t port;
	bool udp;
};

struct sched_request {
	const char *cluster;
	int64_t cpu;			/* CPU units the task reserves */
	int64_t memory;			/* MiB */
	const struct sched_port *ports;
	size_t port_count;
	const char *group;		/* distinctInstance applies within a group ("family:web") */
	const json_t *constraints;	/* ECS placementConstraints, or NULL */
	const json_t *strategy;		/* ECS placementStrategy, or NULL */
	const char *node_id;		/* only this node (DAEMON services), or NULL */
};

struct scheduler *scheduler_new(void);
void scheduler_free(struct scheduler *s);

/* Adds a node or updates its status, resources and attributes. */
int scheduler_node_upsert(struct scheduler *s, const struct sched_node_info *node,
			  orch_error *err);
void scheduler_node_remove(struct scheduler *s, const char *node_id);

/* Records that task_id holds req's resources and ports on node_id. */
int scheduler_task_bind(struct scheduler *s, const char *task_id, const char *node_id,
			const struct sched_request *req, orch_error *err);
/* Releases what task_id held (no-op for an unknown task). */
void scheduler_task_release(struct scheduler *s, const char *task_id);

/*
 * Checks constraints and strategy for well-formedness (the API refuses a bad
 * RunTask with this message, naming the field).
 */
int scheduler_request_validate(const struct sched_request *req, orch_error *err);

/*
 * Chooses a node for one task and binds it (as scheduler_task_bind).  On
 * success copies the node ID into node_id_out (at least 64 bytes) and
 * returns 0.  When no node fits returns 1 with a reason a user can act on
 * in reason_out, the filter that left no node and numbers ("no ACTIVE
 * node in cluster 'c' has 512 CPU units free (most free: ...)", "no ACTIVE
 * node in cluster 'c' matches memberOf(attribute:arch == arm64) (3
 * checked)", "port 80/tcp is in use on every node with the CPU and memory
 * free (2 nodes)"...).  -1 for a malformed request, a task already placed
 * (CONFLICT) or out of memory.
 */
int scheduler_place(struct scheduler *s, const char *task_id, const struct sched_request *req,
		    char *node_id_out, size_t node_id_size, char *reason_out,
		    size_t reason_size, orch_error *err);

/*
 * Seeds the generator behind the random strategy and the treaps' balance
 * (scheduler_new seeds from the clock); for reproducible tests and benchmarks.
 */
void scheduler_seed(struct scheduler *s, uint64_t seed);

/* Remaining resources of a node, as ECS's remainingResources reports them. */
int scheduler_node_remaining(struct scheduler *s, const char *node_id, int64_t *cpu,
			     int64_t *memory, orch_error *err);

#endif
