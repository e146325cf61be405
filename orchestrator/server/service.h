/*
 * service.h - services: their configuration and the reconciler that keeps
 * each at its desired count of healthy tasks (ECS's service scheduler).
 *
 * The reconciler is level-triggered and event-driven.  Whatever may change
 * a service's picture marks it (service_reconciler_mark): a task of it
 * stopped, started or changed health (api_agent.c, placement.c), a node
 * joined, drained, came back or was lost (the DAEMON services and those
 * with tasks on it; others' waiting tasks are placement's to retry),
 * the service was created, updated or deleted (api_service.c).  Marked
 * services are reconciled later in the same loop turn, each in its own
 * savepoint of the write batch, so what a pass decides is durable with the
 * batch's commit; nothing polls.  The only timers are for times the
 * reconciler itself chose: the end of a launch back-off, of a task's
 * health-check grace period, of an autoscaling cooldown.  At start every
 * live service is marked, so a server killed mid-rollout carries on from
 * the stored state (tasks and deployments are written in the same
 * transaction, so nothing is launched twice).
 *
 * One pass over a service (service_reconciler.c):
 *   1. stopped tasks it has not accounted for yet: a task that failed
 *      (TaskFailedToStart, EssentialContainerExited, failed health checks)
 *      counts against the launch throttle (the first is replaced at once,
 *      each further consecutive one waits 1 s, 2 s, 4 s ... up to
 *      SERVICE_MAX_BACKOFF_S; reset once the service runs its desired count
 *      healthy) and, during a rollout, against the primary deployment's
 *      failedTasks;
 *   2. the circuit breaker: failedTasks >= clamp(ceil(desired / 2), 3, 200)
 *      (ECS's rule) turns the rollout FAILED; with rollback a new PRIMARY
 *      deployment of the last COMPLETED task definition replaces it;
 *   3. RUNNING tasks UNHEALTHY past the grace period are stopped;
 *   4. REPLICA: tasks of older deployments and tasks on DRAINING nodes are
 *      replaced under the deployment configuration (never more than
 *      maximumPercent of desired tasks alive, STOPPING ones included; never
 *      fewer than minimumHealthyPercent healthy while old tasks stop);
 *      DAEMON: one task per ACTIVE node that fits the task;
 *   4a. autoscaling (REPLICA, when configured): target tracking on the
 *      average CPU or memory use of the RUNNING tasks against their
 *      reservation, as agents report it (service_usage_record); the desired
 *      count times average / target, from samples taken after the last
 *      scaling action (scale-in only when at least half the running tasks
 *      reported), within min and max capacity, after the cooldowns (a
 *      scale-in also waits the scale-in cooldown after a scale-out),
 *      scale-in only below 90% of the target;
 *      with two targets the larger wish wins; every change is an event
 *      naming the metric;
 *   5. deployments' counts; an old deployment without tasks is INACTIVE;
 *      the primary is COMPLETED once it alone runs desiredCount healthy
 *      tasks.
 *
 * A task "counts as healthy" when it is RUNNING, desired RUNNING, HEALTHY if
 * its definition has a health check, RUNNING for at least the service's
 * healthCheckGracePeriodSeconds, and the healthy hook (the load balancer's
 * target health) does not object.  Before stopping a task that is serving,
 * the reconciler asks the before-stop hook; a hook that answers false
 * keeps the task until it marks the service again.
 */
#ifndef ORCH_SERVICE_H
#define ORCH_SERVICE_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/event.h>
#include <jansson.h>

#include "common/error.h"
#include "store.h"

#define SERVICE_MAX_DESIRED 10000
#define SERVICE_EVENTS_KEPT 100
#define SERVICE_DEPLOYMENTS_KEPT 5		/* INACTIVE ones, for history */
#define SERVICE_MAX_BACKOFF_S 300.0
#define SERVICE_LAUNCH_BATCH 100		/* tasks one pass launches */
#define SERVICE_TASKDEF_CACHE 512		/* parsed task definitions kept */
#define SERVICE_BREAKER_MIN 3
#define SERVICE_BREAKER_MAX 200
/* Target tracking looks at the use every this often (agents report every 3 s). */
#define SERVICE_AUTOSCALE_PERIOD_S 3.0
/* A task's reported use older than this is not counted. */
#define SERVICE_USAGE_MAX_AGE_S 15.0

struct placement;
struct desired_state;
struct write_batch;

/* What services.config holds, parsed (borrowed JSON from root). */
struct service_config {
	json_t *root;
	int64_t max_percent, min_healthy_percent;
	bool breaker_enable, breaker_rollback;
	int64_t grace_s;
	json_t *constraints, *strategy;		/* NULL when absent */
	/* Target tracking (orch's autoScaling); enabled when max_capacity > 0. */
	int64_t min_capacity, max_capacity;
	double target_cpu, target_memory;	/* percent of the reservation; 0: unused */
	int64_t scale_in_cooldown_s, scale_out_cooldown_s;
	bool scale_in_disabled;
};

int service_config_parse(const char *text, struct service_config *out, orch_error *err);
void service_config_release(struct service_config *c);

/* The circuit breaker's threshold for a desired count (ECS's rule). */
int64_t service_breaker_threshold(int64_t desired);

/* Deployment IDs: "ecs-svc/" and 19 digits, as ECS makes them. */
#define SERVICE_DEPLOYMENT_ID_SIZE 32

/*
 * In the open write: a new PRIMARY, IN_PROGRESS deployment of
 * family:revision for sv; the current primary becomes ACTIVE (its rollout,
 * if unfinished, FAILED as superseded).  id_out receives its ID.
 */
int service_deployment_start(struct store *store, struct store_service *sv, const char *family,
			     int64_t revision, const char *reason, char *id_out, size_t id_size,
			     orch_error *err);

struct service_reconciler;

/* May the task be stopped now (false: the hook marks the service later)? */
typedef bool service_before_stop_fn(const struct store_task *t, void *arg);
/* Does the task count as healthy beyond its own health (LB target health)? */
typedef bool service_healthy_fn(const struct store_task *t, void *arg);

struct service_reconciler *service_reconciler_new(struct event_base *base, struct store *store,
						  struct write_batch *writes,
						  struct placement *placement,
						  struct desired_state *desired);
void service_reconciler_free(struct service_reconciler *r);

void service_reconciler_set_hooks(struct service_reconciler *r, service_before_stop_fn *stop,
				  service_healthy_fn *healthy, void *arg);

/* placement_service_fn (placement.h) for arg = the reconciler: the right mark. */
void service_reconciler_on_placement(const char *cluster, const char *service, const char *node_id,
				     void *arg);

/* Marks every live service for a pass (server start, a failed commit). */
int service_reconciler_load(struct service_reconciler *r, orch_error *err);

/* The service changed. */
void service_reconciler_mark(struct service_reconciler *r, const char *cluster, const char *name);
/*
 * A node of cluster registered or changed status: marks the DAEMON
 * services and those with a task on the node (node_id NULL: every service
 * of the cluster).
 */
void service_reconciler_node_changed(struct service_reconciler *r, const char *cluster,
				     const char *node_id);

/*
 * Per-task resource use reported by agents (in memory only): cpuUnits
 * averaged over the agent's last interval and memory in MiB.
 */
void service_usage_record(struct service_reconciler *r, const char *task_id, double cpu_units,
			  double memory_mib);
/* 1 and the values if known, else 0. */
int service_usage_get(struct service_reconciler *r, const char *task_id, double *cpu_units,
		      double *memory_mib, double *at);
void service_usage_forget(struct service_reconciler *r, const char *task_id);

struct service_reconciler_stats {
	uint64_t passes;	/* services reconciled */
	uint64_t launched, stopped;
};
void service_reconciler_stats(struct service_reconciler *r, struct service_reconciler_stats *out);

#endif
