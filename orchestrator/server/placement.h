/*
 * placement.h - the glue between RunTask, the scheduler and the store.
 *
 * Owns the scheduler (scheduler.h) and keeps it equal to the store: rebuilt
 * at start from the nodes and the tasks that are not STOPPED, then updated
 * by every write that registers or changes a node or places, stops or frees
 * a task.  All calls run on the control thread inside an open write (a
 * write_batch savepoint); nothing here commits or answers a request.
 *
 * A task that fits nowhere is stored PROVISIONING with the scheduler's
 * reason in pending_reason.  Unplaced tasks are retried, oldest first, as
 * soon as capacity may have freed: when a task stops, a node registers,
 * returns from LOST or becomes ACTIVE again (placement_capacity_changed
 * activates a retry event for the same loop turn; there is no polling
 * interval).  Placing marks the node's desired set changed, which reaches
 * the agent after the commit (desired_state.h).
 *
 * A task's scheduler request is stored with it (tasks.placement_json):
 *   {"cpu": 256, "memory": 512, "ports": [{"port": 80, "protocol": "tcp"}],
 *    "group": "family:web", "placementConstraints": [...],
 *    "placementStrategy": [...]}
 *
 * If a group commit fails (disk full, I/O error) after the scheduler was
 * updated, the rollback leaves the store as it was before the batch, and
 * write_batch_on_failure (write_batch.h) calls back here: the scheduler is
 * rebuilt from the store, so it keeps no binding the store lost, and the
 * waiting tasks are retried a second later rather than at once.  Should the
 * rebuild itself fail, the old scheduler is kept and the error logged.
 */
#ifndef ORCH_PLACEMENT_H
#define ORCH_PLACEMENT_H

#include <stddef.h>

#include <event2/event.h>
#include <jansson.h>

#include "common/error.h"
#include "scheduler.h"
#include "store.h"

/* Most unplaced tasks one retry pass looks at (the next pass continues). */
#define PLACEMENT_RETRY_BATCH 2000
/* Host ports one task may hold. */
#define PLACEMENT_MAX_PORTS 64
/* Node ID buffer size for scheduler_place. */
#define PLACEMENT_NODE_ID_SIZE 64
#define PLACEMENT_REASON_SIZE 512

struct placement;
struct write_batch;
struct desired_state;

struct placement *placement_new(struct event_base *base, struct store *store,
				struct write_batch *writes, struct desired_state *desired);
void placement_free(struct placement *p);

/*
 * Rebuilds the scheduler from the store and schedules a retry of unplaced
 * tasks; on_node (may be NULL) sees every node that is not INACTIVE.
 */
int placement_load(struct placement *p, void (*on_node)(const struct store_node *n, void *arg),
		   void *arg, orch_error *err);

struct scheduler *placement_scheduler(struct placement *p);

/*
 * The service reconciler's trigger (service.h), called when a service's
 * task is placed or stopped here (service is its name), when a node of
 * cluster registered or changed status (service NULL, node_id set), and
 * after a failed commit rolled back what every service decided (all NULL).
 */
typedef void placement_service_fn(const char *cluster, const char *service, const char *node_id,
				  void *arg);
void placement_on_service_change(struct placement *p, placement_service_fn *fn, void *arg);

/*
 * Checks a placement request (JSON as stored in tasks.placement_json) for
 * the cluster; the message names the field.
 */
int placement_request_check(const json_t *request, const char *cluster, orch_error *err);

/*
 * Places one task (request as stored in tasks.placement_json).  Returns 0
 * with node_out set and the binding made, 1 when nothing fits (reason_out
 * set), -1 on a malformed request.  The caller writes the result to the store.
 */
int placement_place(struct placement *p, const char *task_id, const char *cluster,
		    const json_t *request, char *node_out, size_t node_size, char *reason_out,
		    size_t reason_size, orch_error *err);
/* Undoes a binding whose write was aborted. */
void placement_unbind(struct placement *p, const char *task_id);

/* The task is STOPPED: free what it held and retry unplaced tasks. */
void placement_task_stopped(struct placement *p, const char *task_id);
/* Retry unplaced tasks later in this loop turn. */
void placement_capacity_changed(struct placement *p);

/* A node registered or changed status: update the scheduler (INACTIVE removes). */
int placement_node_changed(struct placement *p, const struct store_node *node, orch_error *err);

/*
 * Node went silent: LOST in the store, its tasks that are not STOPPED become
 * STOPPED ("Node lost", stopCode InfrastructureHealth) and free their
 * resources; its desired set changes (the tasks stay in it as STOPPED until
 * the agent reports them stopped: fencing).  Runs its own write.
 */
int placement_node_lost(struct placement *p, const char *node_id, orch_error *err);

/*
 * In the open write: every task of the node that is not STOPPED becomes
 * STOPPED now with stop_code and reason (node lost, forced deregistration),
 * freeing its resources.  Returns how many, or -1.
 */
int placement_stop_node_tasks(struct placement *p, const char *node_id, const char *stop_code,
			      const char *reason, orch_error *err);

/* Stops one task in the open write (user, deregistration); stop_code/reason as ECS. */
int placement_stop_task(struct placement *p, struct store_task *t, const char *stop_code,
			const char *reason, orch_error *err);

#endif
