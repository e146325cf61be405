/*
 * store.h - the server's durable state in SQLite.
 *
 * One struct store owns one database connection and is used only from the
 * control thread.  The database runs in WAL mode with synchronous=FULL, so a
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

#include "error.h"

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

enum store_conn { STORE_WRITER, STORE_READER };

/*
 * A cached prepared statement for sql on the given connection, reset and
 * with bindings cleared.  sql must be a string with static storage
 * duration: the cache is keyed by its address.  The statement belongs to
 * the store.
 */
sqlite3_stmt *store_prepare(struct store *s, enum store_conn conn, const char *sql,
			    orch_error *err);

/* Fill err from the writer's (or stmt's connection's) last error; returns -1. */
int store_fail(struct store *s, orch_error *err, const char *what);
int store_fail_stmt(sqlite3_stmt *stmt, orch_error *err, const char *what);

/* ---- clusters (store_cluster.c) ---------------------------------------- */

#define STORE_DEFAULT_CLUSTER "default"

struct store_cluster {
	char *name;
	double created_at;
	int64_t task_count;
	int64_t pending_task_count;
	int64_t running_task_count;
	int64_t service_count;
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

#endif
