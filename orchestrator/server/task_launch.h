/*
 * task_launch.h - making a task: its ID, its scheduler request, its initial
 * containers, and the one write that places and stores it.  RunTask
 * (api_task.c) and the service reconciler (service_reconciler.c) both
 * create tasks through task_launch_one.
 */
#ifndef ORCH_TASK_LAUNCH_H
#define ORCH_TASK_LAUNCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/error.h"
#include "ecs_names.h"
#include "store.h"

/* Room for any ARN built here: prefix, two names and an ID. */
#define TASK_ARN_BUF (sizeof(ECS_ARN_PREFIX) + 3 * ECS_NAME_MAX + 128)

struct placement;
struct desired_state;

void task_arn_format(char *out, size_t size, const char *cluster, const char *id);
/* A fresh task ID: milliseconds then 80 random bits (sorts by creation). */
void task_new_id(char out[STORE_ID_HEX_LEN + 1]);

/* An integer given as a number or a decimal string; -1 when absent, *ok false when malformed. */
int64_t task_json_int(json_t *v, bool *ok);
/* The container called name in a containerDefinitions/containerOverrides list. */
json_t *task_find_container(json_t *list, const char *name);

/*
 * The scheduler request (tasks.placement_json) of a task of definition td
 * with overrides ov (may be NULL): cpu, memory, host ports, group,
 * constraints, strategy; node pins it to one node (DAEMON services) or is NULL.
 */
json_t *task_placement_request(json_t *td, json_t *ov, const char *group, json_t *constraints,
			       json_t *strategy, const char *node);
/* The containers of a new task, as stored: each PENDING, health UNKNOWN, its dockerLabels. */
char *task_containers_initial(json_t *td, const char *cluster, const char *task_id);

struct task_spec {
	const char *cluster;
	const char *family;
	int64_t revision;
	json_t *definition;		/* parsed body */
	json_t *request;		/* task_placement_request() */
	const char *request_text;	/* its JSON text */
	const char *overrides_text;	/* "{}" if none */
	const char *group;
	const char *started_by;		/* may be NULL */
	const char *service_name;	/* NULL for RunTask */
	const char *deployment_id;	/* NULL for RunTask */
	bool only_if_placed;		/* no node fits: store nothing, return 1 */
	char *reason;			/* receives why nothing fits (may be NULL) */
	size_t reason_size;
};

/*
 * In the open write: a new task of spec, placed now if a node fits
 * (PENDING, the node's desired set marked changed) or PROVISIONING with the
 * scheduler's reason (or, with only_if_placed, nothing stored and 1
 * returned).  id receives the task's ID; *out (may be NULL) the row as
 * stored (strings owned by *out).  On failure nothing stays bound.
 */
int task_launch_one(struct store *store, struct placement *placement,
		    struct desired_state *desired, const struct task_spec *spec,
		    char id[STORE_ID_HEX_LEN + 1], struct store_task *out, orch_error *err);

#endif
