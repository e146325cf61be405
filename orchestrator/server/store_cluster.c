/* store_cluster.c - cluster rows and the counts shown with them. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store_internal.h"

/*
 * ECS's counts: runningTasksCount is lastStatus RUNNING, pendingTasksCount
 * every task on its way there (PROVISIONING, PENDING, ACTIVATING), and
 * registeredContainerInstancesCount every node that is not deregistered.
 * They are computed when asked (index scans of the cluster's rows); the
 * task calls check existence only (store_cluster_exists).
 */
#define CLUSTER_STATUS_COUNTS \
	" (SELECT count(*) FROM tasks t WHERE t.cluster = c.name AND t.last_status = 'RUNNING')," \
	" (SELECT count(*) FROM tasks t WHERE t.cluster = c.name" \
	"  AND t.last_status IN ('PROVISIONING', 'PENDING', 'ACTIVATING'))," \
	" (SELECT count(*) FROM nodes n WHERE n.cluster = c.name AND n.status != 'INACTIVE')"

static const char sql_cluster_insert[] =
	"INSERT OR IGNORE INTO clusters(name, created_at) VALUES (?1, ?2)";
static const char sql_cluster_select[] =
	"SELECT name, created_at,"
	" (SELECT count(*) FROM tasks t WHERE t.cluster = c.name),"
	" (SELECT count(*) FROM services v WHERE v.cluster = c.name AND v.status != 'INACTIVE'),"
	CLUSTER_STATUS_COUNTS
	" FROM clusters c WHERE name = ?1";
static const char sql_cluster_page[] =
	"SELECT name, created_at,"
	" (SELECT count(*) FROM tasks t WHERE t.cluster = c.name),"
	" (SELECT count(*) FROM services v WHERE v.cluster = c.name AND v.status != 'INACTIVE'),"
	CLUSTER_STATUS_COUNTS
	" FROM clusters c WHERE ?1 IS NULL OR name > ?1 ORDER BY name LIMIT ?2";
static const char sql_cluster_delete[] = "DELETE FROM clusters WHERE name = ?1";
static const char sql_cluster_delete_tokens[] = "DELETE FROM run_tokens WHERE cluster = ?1";
/* What deleted (INACTIVE) services left: their events, deployments, rows. */
static const char sql_cluster_delete_events[] = "DELETE FROM service_events WHERE cluster = ?1";
static const char sql_cluster_delete_deployments[] =
	"DELETE FROM service_deployments WHERE cluster = ?1";
static const char sql_cluster_delete_services[] = "DELETE FROM services WHERE cluster = ?1";
static const char *const cluster_leftovers[] = {
	sql_cluster_delete_tokens, sql_cluster_delete_events, sql_cluster_delete_deployments,
	sql_cluster_delete_services,
};
static const char sql_cluster_count[] = "SELECT count(*) FROM clusters";
static const char sql_cluster_exists[] = "SELECT 1 FROM clusters WHERE name = ?1";

void store_cluster_release(struct store_cluster *c)
{
	free(c->name);
	c->name = NULL;
}

void store_cluster_list_free(struct store_cluster *list, int count)
{
	for (int i = 0; i < count; i++)
		store_cluster_release(&list[i]);
	free(list);
}

static int cluster_from_row(sqlite3_stmt *stmt, struct store_cluster *out, orch_error *err)
{
	memset(out, 0, sizeof(*out));
	out->name = strdup((const char *)sqlite3_column_text(stmt, 0));
	if (!out->name)
		return orch_fail_errno(err, ENOMEM, "reading a cluster");
	out->created_at = sqlite3_column_double(stmt, 1);
	out->task_count = sqlite3_column_int64(stmt, 2);
	out->service_count = sqlite3_column_int64(stmt, 3);
	out->running_task_count = sqlite3_column_int64(stmt, 4);
	out->pending_task_count = sqlite3_column_int64(stmt, 5);
	out->node_count = sqlite3_column_int64(stmt, 6);
	return 0;
}

/* Reads one cluster on the given connection. */
static int cluster_select(struct store *s, enum store_conn conn, const char *name,
			  struct store_cluster *out, orch_error *err)
{
	sqlite3_stmt *stmt = store_prepare(s, conn, sql_cluster_select, err);
	int rc;

	if (!stmt)
		return -1;
	sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_DONE) {
		sqlite3_reset(stmt);
		return orch_fail(err, ORCH_ERR_NOT_FOUND, "cluster '%s' not found", name);
	}
	if (rc != SQLITE_ROW)
		return store_fail_stmt(stmt, err, "reading a cluster");
	rc = cluster_from_row(stmt, out, err);
	sqlite3_reset(stmt);	/* end the read so checkpoints can proceed */
	return rc;
}

int store_cluster_create(struct store *s, const char *name, bool *created,
			 struct store_cluster *out, orch_error *err)
{
	sqlite3_stmt *stmt = store_prepare(s, STORE_WRITER, sql_cluster_insert, err);

	if (!stmt)
		return -1;
	sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_double(stmt, 2, store_now());
	if (sqlite3_step(stmt) != SQLITE_DONE)
		return store_fail(s, err, "creating a cluster");
	*created = sqlite3_changes(sqlite3_db_handle(stmt)) > 0;
	return cluster_select(s, STORE_WRITER, name, out, err);
}

int store_cluster_get(struct store *s, const char *name, struct store_cluster *out, orch_error *err)
{
	return cluster_select(s, STORE_READER, name, out, err);
}

int store_cluster_exists(struct store *s, const char *name, orch_error *err)
{
	sqlite3_stmt *stmt = store_prepare(s, STORE_READER, sql_cluster_exists, err);
	int rc;

	if (!stmt)
		return -1;
	sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		store_fail_stmt(stmt, err, "reading a cluster");
		sqlite3_reset(stmt);
		return -1;
	}
	sqlite3_reset(stmt);
	if (rc == SQLITE_DONE)
		return orch_fail(err, ORCH_ERR_NOT_FOUND, "cluster '%s' not found", name);
	return 0;
}

int store_cluster_list(struct store *s, const char *after, int limit,
		       struct store_cluster **out, int *count, bool *more, orch_error *err)
{
	sqlite3_stmt *stmt = store_prepare(s, STORE_READER, sql_cluster_page, err);
	struct store_cluster *list;
	int n = 0, rc;

	if (!stmt)
		return -1;
	list = calloc((size_t)limit + 1, sizeof(*list));
	if (!list)
		return orch_fail_errno(err, ENOMEM, "listing clusters");
	if (after)
		sqlite3_bind_text(stmt, 1, after, -1, SQLITE_STATIC);
	sqlite3_bind_int(stmt, 2, limit + 1);
	*more = false;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		if (n == limit) {
			*more = true;
			break;
		}
		if (cluster_from_row(stmt, &list[n], err) < 0)
			goto fail;
		n++;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		store_fail_stmt(stmt, err, "listing clusters");
		goto fail;
	}
	sqlite3_reset(stmt);
	*out = list;
	*count = n;
	return 0;
fail:
	sqlite3_reset(stmt);
	store_cluster_list_free(list, n);
	return -1;
}

int store_cluster_delete(struct store *s, const char *name, struct store_cluster *out,
			 orch_error *err)
{
	sqlite3_stmt *stmt;

	if (cluster_select(s, STORE_WRITER, name, out, err) < 0)
		return -1;
	if (out->task_count > 0 || out->service_count > 0)
		return orch_fail(err, ORCH_ERR_CONFLICT, "cluster '%s' still has %lld services and %lld tasks",
				 name, (long long)out->service_count, (long long)out->task_count);
	/* A cluster created later under the same name starts without tokens or history. */
	for (size_t i = 0; i < sizeof(cluster_leftovers) / sizeof(cluster_leftovers[0]); i++) {
		int rc;

		stmt = store_prepare(s, STORE_WRITER, cluster_leftovers[i], err);
		if (!stmt)
			return -1;
		sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC);
		rc = sqlite3_step(stmt);
		sqlite3_reset(stmt);
		if (rc != SQLITE_DONE)
			return store_fail(s, err, "deleting what a cluster's services left");
	}
	stmt = store_prepare(s, STORE_WRITER, sql_cluster_delete, err);
	if (!stmt)
		return -1;
	sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC);
	if (sqlite3_step(stmt) != SQLITE_DONE) {
		sqlite3_reset(stmt);
		return store_fail(s, err, "deleting a cluster");
	}
	sqlite3_reset(stmt);
	return 0;
}

int64_t store_cluster_count(struct store *s)
{
	sqlite3_stmt *stmt = store_prepare(s, STORE_READER, sql_cluster_count, NULL);
	int64_t count;

	if (!stmt || sqlite3_step(stmt) != SQLITE_ROW)
		return -1;
	count = sqlite3_column_int64(stmt, 0);
	sqlite3_reset(stmt);
	return count;
}
