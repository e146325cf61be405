/*
 * store.h - the server's durable state in SQLite.
 *
 * One struct store owns two database connections, a writer and a read-only
 * reader, and is used only from the control thread.  The database runs in WAL mode with synchronous=FULL, so a
 * write whose transaction committed survives kill -9 and power loss; callers
 * acknowledge a request only after store_commit() returned 0.
 *
 * Schema migrations compiled from schema/NNN_*.sql are applied at open, each
 * in its own transaction, and recorded in PRAGMA user_version.  A database
 * written by a newer orch is refused and left untouched.
 *
 * Writes are grouped by the caller: store_begin() opens a write transaction
 * (IMMEDIATE), the store_*_create/_register/... calls run inside it, and
 * store_commit() makes them durable.  Several requests may share one
 * transaction (group commit, see write_batch.h); each runs inside its own
 * savepoint so one failing request does not undo the others.
 *
 * Reads (store_*_get, _list, _count) run on a second, read-only connection,
 * so they see only committed state: nothing a client is shown can vanish in
 * a crash before its transaction commits.
 */
#ifndef ORCH_STORE_H
#define ORCH_STORE_H

#include <stdbool.h>
#include <stdint.h>
#include <sqlite3.h>

#include "common/error.h"

struct store;

/* Largest schema version this binary knows. */
int store_known_schema_version(void);

int store_open(const char *path, struct store **out, orch_error *err);
void store_close(struct store *s);

int store_begin(struct store *s, orch_error *err);
int store_commit(struct store *s, orch_error *err);
void store_rollback(struct store *s);
bool store_in_transaction(struct store *s);

/* A named savepoint inside the open write transaction. */
int store_savepoint(struct store *s, orch_error *err);
void store_savepoint_release(struct store *s);
void store_savepoint_rollback(struct store *s);

/* Wall-clock seconds since the epoch with millisecond precision. */
double store_now(void);

/* Which connection a read runs on: the reader sees only committed state;
 * the writer also sees the open transaction's own writes. */
enum store_conn { STORE_WRITER, STORE_READER };

/* ---- clusters (store_cluster.c) ---------------------------------------- */

#define STORE_DEFAULT_CLUSTER "default"

struct store_cluster {
	char *name;
	double created_at;
	int64_t task_count;
	int64_t pending_task_count;
	int64_t running_task_count;
	int64_t service_count;
	int64_t node_count;		/* registered, not INACTIVE */
};

void store_cluster_release(struct store_cluster *c);

/*
 * Creates the cluster if missing; *created says whether it was new and out
 * describes it as the open transaction sees it.
 */
int store_cluster_create(struct store *s, const char *name, bool *created,
			 struct store_cluster *out, orch_error *err);
/* ORCH_ERR_NOT_FOUND if there is no such cluster. */
int store_cluster_get(struct store *s, const char *name, struct store_cluster *out, orch_error *err);
/*
 * 0 if the cluster exists, else -1 (ORCH_ERR_NOT_FOUND if it does not).
 * Unlike store_cluster_get it counts nothing: the check on every task call.
 */
int store_cluster_exists(struct store *s, const char *name, orch_error *err);
/*
 * Lists up to limit clusters ordered by name, after the name `after` (NULL
 * for the start).  *out is a new array of *count entries; free with
 * store_cluster_list_free.  *more says whether more follow.
 */
int store_cluster_list(struct store *s, const char *after, int limit,
		       struct store_cluster **out, int *count, bool *more, orch_error *err);
void store_cluster_list_free(struct store_cluster *list, int count);
/*
 * Removes a cluster that has no tasks and no services.  ORCH_ERR_NOT_FOUND
 * if it does not exist, ORCH_ERR_CONFLICT if it is in use; *out describes
 * it as it was (also on CONFLICT, with the counts that prevented it).
 */
int store_cluster_delete(struct store *s, const char *name, struct store_cluster *out,
			 orch_error *err);
int64_t store_cluster_count(struct store *s);

/* ---- task definitions (store_taskdef.c) -------------------------------- */

enum store_taskdef_status_filter {
	STORE_TASKDEF_ACTIVE,
	STORE_TASKDEF_INACTIVE,
	STORE_TASKDEF_ANY,
};

struct store_taskdef {
	char *family;
	int64_t revision;
	bool active;
	double registered_at;
	double deregistered_at;	/* 0 while active */
	char *body;		/* the normalized definition, JSON text */
	char *ignored_fields;	/* JSON array text */
};

void store_taskdef_release(struct store_taskdef *td);

/* Assigns the next revision of the family and stores the definition. */
int store_taskdef_register(struct store *s, const char *family, const char *body,
			   const char *ignored_fields, struct store_taskdef *out,
			   orch_error *err);
/* revision 0 means the latest ACTIVE revision. */
int store_taskdef_get(struct store *s, const char *family, int64_t revision,
		      struct store_taskdef *out, orch_error *err);
int store_taskdef_deregister(struct store *s, const char *family, int64_t revision,
			     struct store_taskdef *out, orch_error *err);

struct store_taskdef_query {
	const char *family_prefix;	/* NULL or "" for all */
	enum store_taskdef_status_filter status;
	bool descending;
	const char *after_family;	/* page cursor; NULL for the first page */
	int64_t after_revision;
	int limit;
};

/* Lists (family, revision) keys; *families and *revisions are new arrays. */
int store_taskdef_list(struct store *s, const struct store_taskdef_query *q,
		       char ***families, int64_t **revisions, int *count, bool *more,
		       orch_error *err);
void store_taskdef_list_free(char **families, int64_t *revisions, int count);

int store_taskdef_counts(struct store *s, int64_t *definitions, int64_t *families,
			 orch_error *err);

/* ---- nodes: ECS container instances (store_node.c) -------------------- */

#define STORE_ID_HEX_LEN 32	/* node and task IDs: 32 lower-case hex digits */

struct store_node {
	char *id;
	char *cluster;
	char *name;
	char *status;			/* ACTIVE, DRAINING, LOST, INACTIVE */
	char *status_before_lost;	/* NULL unless LOST */
	char *advertise_address;
	char *attributes;		/* JSON object text */
	int64_t cpu, memory;		/* registered: CPU units, MiB */
	double registered_at, updated_at, last_seen_at;
	int64_t version;
	int64_t running_tasks, pending_tasks;	/* filled by get and list */
};

void store_node_release(struct store_node *n);
void store_node_list_free(struct store_node *list, int count);

/*
 * Registers nodeName, or re-registers it: a known name keeps its ID (also
 * after deregistration) and gets the new credential_sha256, which revokes
 * the old one.  Re-registering a node that holds a credential (any status
 * but deregistered) needs proof_sha256, the SHA-256 of that credential;
 * without it, or with another, nothing changes and the answer is
 * ORCH_ERR_CONFLICT saying the node must be removed (orch node rm) before
 * it can join again.  A deregistered node or a new name needs no proof
 * (proof_sha256 may be NULL).  new_id is used only for a new name.
 * *created says which.
 */
int store_node_register(struct store *s, const struct store_node *in,
			const char *proof_sha256, const char *credential_sha256,
			const char *new_id, bool *created, struct store_node *out, orch_error *err);
/* ORCH_ERR_NOT_FOUND if unknown or in another cluster (cluster NULL: any). */
int store_node_get(struct store *s, enum store_conn conn, const char *cluster, const char *id,
		   struct store_node *out, orch_error *err);
/* Only the node's status (writer), into buf; ORCH_ERR_NOT_FOUND if unknown. */
int store_node_status(struct store *s, const char *id, char *buf, size_t size, orch_error *err);
/* The node a credential hash belongs to (committed state); NOT_FOUND if none. */
int store_node_by_credential(struct store *s, const char *credential_sha256,
			     char *id_out, size_t id_size, orch_error *err);
/* Sets status (and status_before_lost when going LOST; cleared otherwise). */
int store_node_set_status(struct store *s, const char *id, const char *status,
			  const char *status_before_lost, orch_error *err);
/* INACTIVE and credential revoked. */
int store_node_deregister(struct store *s, const char *id, orch_error *err);
int store_node_touch(struct store *s, const char *id, double now, orch_error *err);

struct store_node_query {
	const char *cluster;		/* NULL: every cluster */
	const char *status;		/* NULL: all but INACTIVE */
	const char *after_id;		/* page cursor */
	int limit;
};
int store_node_list(struct store *s, enum store_conn conn, const struct store_node_query *q,
		    struct store_node **out, int *count, bool *more, orch_error *err);

/* ---- tasks (store_task.c) ---------------------------------------------- */

struct store_task {
	char *id;
	char *cluster;
	char *family;
	int64_t revision;
	char *node_id;			/* NULL until placed */
	char *last_status, *desired_status, *agent_status;
	char *pending_reason, *stop_code, *stopped_reason, *health_status;
	int64_t cpu, memory;
	double created_at, started_at, stopping_at, stopped_at;	/* 0: not yet */
	char *overrides;		/* JSON texts */
	char *containers;
	char *placement;
	char *group;
	char *started_by;
	char *service_name;
	char *deployment_id;		/* service tasks: their deployment */
	int64_t version;
	int64_t seq;			/* creation order (rowid) */
};

void store_task_release(struct store_task *t);
void store_task_list_free(struct store_task *list, int count);

/* Lifecycle order; -1 for an unknown name.  Status never moves backwards. */
int store_task_status_rank(const char *status);

/* Inserts a new task (id, cluster, family, revision, ... as given). */
int store_task_insert(struct store *s, const struct store_task *t, orch_error *err);
/* ORCH_ERR_NOT_FOUND if unknown or in another cluster (cluster NULL: any). */
int store_task_get(struct store *s, enum store_conn conn, const char *cluster, const char *id,
		   struct store_task *out, orch_error *err);
/* Placed: node set, lastStatus PENDING, pending_reason cleared. */
int store_task_set_node(struct store *s, const char *id, const char *node_id, orch_error *err);
int store_task_set_pending_reason(struct store *s, const char *id, const char *reason,
				  orch_error *err);
/*
 * Writes every mutable field of t (statuses, reasons, times, containers,
 * health) and bumps version.  The caller read t in the same transaction.
 */
int store_task_update(struct store *s, struct store_task *t, orch_error *err);

struct store_task_query {
	const char *cluster;
	const char *family;
	const char *desired_status;
	const char *node_id;
	const char *started_by;
	const char *service_name;
	int64_t after_seq;		/* page cursor; 0 for the first page */
	int limit;
};
int store_task_list(struct store *s, const struct store_task_query *q,
		    struct store_task **out, int *count, bool *more, orch_error *err);
/* A node's desired set: its tasks whose agent has not reported them STOPPED. */
int store_task_list_desired(struct store *s, enum store_conn conn, const char *node_id,
			    struct store_task **out, int *count, orch_error *err);
/* Tasks not STOPPED on a node (node_id) or everywhere (NULL), on the writer. */
int store_task_list_active(struct store *s, const char *node_id, struct store_task **out,
			   int *count, orch_error *err);
/* Unplaced (PROVISIONING) tasks, oldest first, on the writer. */
int store_task_list_unplaced(struct store *s, int limit, struct store_task **out, int *count,
			     orch_error *err);
/*
 * Deletes up to limit tasks that became STOPPED (server clock) before
 * stopped_before, oldest first, that no node still has to be told about;
 * returns how many, or -1.
 */
int store_task_prune(struct store *s, double stopped_before, int limit, orch_error *err);

/*
 * RunTask client tokens (per cluster).  get: 1 and the stored request hash
 * and space-separated task IDs (caller frees), 0 if unknown, -1 on error;
 * on the writer, so a token of the open transaction is seen.
 */
int store_run_token_get(struct store *s, const char *cluster, const char *token,
			char **request_sha256, char **task_ids, orch_error *err);
int store_run_token_put(struct store *s, const char *cluster, const char *token,
			const char *request_sha256, const char *task_ids, orch_error *err);
/* Deletes up to limit tokens recorded before created_before; returns how many, or -1. */
int store_run_token_prune(struct store *s, double created_before, int limit, orch_error *err);

/* ---- services, deployments, events (store_service.c) ------------------- */

struct store_service {
	char *cluster;
	char *name;
	char *status;			/* ACTIVE, DRAINING, INACTIVE */
	char *scheduling_strategy;	/* REPLICA, DAEMON */
	int64_t desired_count;
	char *config;			/* JSON object text (schema/004_services.sql) */
	char *stable_family;		/* last COMPLETED deployment's definition, or NULL */
	int64_t stable_revision;
	int64_t launch_failures;
	double next_launch_at;
	char *placement_reason;
	double created_at, updated_at;
	int64_t version;
};

void store_service_release(struct store_service *sv);
void store_service_list_free(struct store_service *list, int count);

/*
 * Creates the service, or re-creates one whose row is INACTIVE (its old
 * deployments and events go).  ORCH_ERR_CONFLICT if an ACTIVE or DRAINING
 * service has the name.
 */
int store_service_create(struct store *s, const struct store_service *sv, orch_error *err);
/* ORCH_ERR_NOT_FOUND if there is no row (any status). */
int store_service_get(struct store *s, enum store_conn conn, const char *cluster,
		      const char *name, struct store_service *out, orch_error *err);
/* Writes every mutable field and bumps version. */
int store_service_update(struct store *s, struct store_service *sv, orch_error *err);
/*
 * A cluster's services ordered by name after `after` (NULL: from the
 * start), not INACTIVE unless include_inactive; limit 0: all.
 * cluster NULL: every cluster's live services (the reconciler's start).
 */
int store_service_list(struct store *s, enum store_conn conn, const char *cluster,
		       const char *after, bool include_inactive, int limit,
		       struct store_service **out, int *count, bool *more, orch_error *err);

/*
 * Names of a cluster's live services (writer): all of them, or with node_id
 * the DAEMON ones and those with a task in that node's desired set.
 */
int store_service_names(struct store *s, const char *cluster, const char *node_id, char ***out,
			int *count, orch_error *err);
void store_service_names_free(char **names, int count);

struct store_deployment {
	char *id;
	char *cluster, *service;
	int64_t seq;
	char *status;			/* PRIMARY, ACTIVE, INACTIVE */
	char *family;
	int64_t revision;
	int64_t desired_count, running_count, pending_count, failed_tasks;
	char *rollout_state;		/* IN_PROGRESS, COMPLETED, FAILED */
	char *rollout_state_reason;
	double created_at, updated_at;
};

void store_deployment_release(struct store_deployment *d);
void store_deployment_list_free(struct store_deployment *list, int count);
int store_deployment_insert(struct store *s, const struct store_deployment *d, orch_error *err);
int store_deployment_update(struct store *s, const struct store_deployment *d, orch_error *err);
/* A service's deployments, newest first; INACTIVE ones only if asked. */
int store_deployment_list(struct store *s, enum store_conn conn, const char *cluster,
			  const char *service, bool include_inactive,
			  struct store_deployment **out, int *count, orch_error *err);
/* The next deployment seq of a service (1 for the first). */
int64_t store_deployment_next_seq(struct store *s, const char *cluster, const char *service,
				  orch_error *err);
/* Deletes INACTIVE deployments of a service beyond the newest keep. */
int store_deployment_prune(struct store *s, const char *cluster, const char *service, int keep,
			   orch_error *err);

struct store_service_event {
	int64_t id;
	double created_at;
	char *message;
};

void store_event_list_free(struct store_service_event *list, int count);
/* Appends an event and deletes the service's events beyond the newest keep. */
int store_event_add(struct store *s, const char *cluster, const char *service,
		    const char *message, int keep, orch_error *err);
/* Newest first, ids below before_id (0: from the newest), at most limit. */
int store_event_list(struct store *s, enum store_conn conn, const char *cluster,
		     const char *service, int64_t before_id, int limit,
		     struct store_service_event **out, int *count, orch_error *err);
/* Events with ids above after_id, oldest first (following). */
int store_event_list_after(struct store *s, const char *cluster, const char *service,
			   int64_t after_id, int limit, struct store_service_event **out,
			   int *count, orch_error *err);

/* A service's tasks the reconciler has not finished with (writer), in creation order. */
int store_task_list_service(struct store *s, const char *cluster, const char *service,
			    struct store_task **out, int *count, orch_error *err);
/* The reconciler has accounted for this stopped task. */
int store_task_set_service_done(struct store *s, const char *id, orch_error *err);

#endif
