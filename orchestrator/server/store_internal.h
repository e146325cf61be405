/*
 * store_internal.h - what the store_*.c files share and nothing else uses:
 * the statement cache, error reporting, and the row helpers that read one
 * record by ID or step a query into an array.
 */
#ifndef ORCH_STORE_INTERNAL_H
#define ORCH_STORE_INTERNAL_H

#include <stddef.h>

#include "store.h"

/*
 * A cached prepared statement for sql on the given connection, reset and
 * with bindings cleared.  sql must be a string with static storage
 * duration: the cache is keyed by its address.  The statement belongs to
 * the store.
 */
sqlite3_stmt *store_prepare(struct store *s, enum store_conn conn, const char *sql,
			    orch_error *err);

/* Rows changed by the writer's last INSERT, UPDATE or DELETE. */
int store_changes(struct store *s);

/* Fill err from the writer's (or stmt's connection's) last error; returns -1. */
int store_fail(struct store *s, orch_error *err, const char *what);
int store_fail_stmt(sqlite3_stmt *stmt, orch_error *err, const char *what);

/* A text column as a new string; NULL for SQL NULL (or no memory). */
char *store_column_dup(sqlite3_stmt *stmt, int col);

/* Binds v as text (static: it must outlive the step), or NULL. */
static inline void store_bind_text_or_null(sqlite3_stmt *stmt, int col, const char *v)
{
	if (v)
		sqlite3_bind_text(stmt, col, v, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(stmt, col);
}

/* Fills *out (a record of the caller's type) from the current row. */
typedef int (*store_row_fn)(sqlite3_stmt *stmt, void *out, orch_error *err);
/* Releases the contents of one record. */
typedef void (*store_release_fn)(void *record);

/*
 * Runs sql with ?1 = id and, when cluster is non-NULL, ?2 = cluster, and
 * reads its one row into *out with from_row.  No row is ORCH_ERR_NOT_FOUND
 * naming the kind ("node", "task") and, if given, the cluster.
 */
int store_get_by_id(struct store *s, enum store_conn conn, const char *sql, const char *kind,
		    const char *cluster, const char *id, store_row_fn from_row, void *out,
		    orch_error *err);

/*
 * Steps stmt (bound by the caller) into a new array of records of
 * record_size bytes: at most limit rows (0: all); *more (may be NULL) says
 * whether a row beyond limit exists.  On failure the records read so far
 * are released and the statement is reset; what names the listing in the
 * error ("listing tasks").
 */
int store_rows(sqlite3_stmt *stmt, int limit, size_t record_size, store_row_fn from_row,
	       store_release_fn release, const char *what, void **out, int *count, bool *more,
	       orch_error *err);

#endif
