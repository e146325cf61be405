/*
 * store_task.c - task rows: creation, placement, lifecycle updates and the
 * queries behind ListTasks, a node's desired set and the scheduler rebuild.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store_internal.h"

#define TASK_COLUMNS \
	"id, cluster, family, revision, node_id, last_status, desired_status, agent_status," \
	" pending_reason, stop_code, stopped_reason, health_status, cpu, memory, created_at," \
	" started_at, stopping_at, stopped_at, overrides_json, containers_json, placement_json," \
	" task_group, started_by, service_name, version, rowid, deployment_id"

static const char sql_task_insert[] =
	"INSERT INTO tasks(id, cluster, family, revision, node_id, last_status, desired_status,"
	" pending_reason, cpu, memory, created_at, overrides_json, containers_json,"
	" placement_json, task_group, started_by, service_name, deployment_id)"
	" VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'RUNNING', ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,"
	" ?17)";
static const char sql_task_by_id[] =
	"SELECT " TASK_COLUMNS " FROM tasks WHERE id = ?1 AND (?2 IS NULL OR cluster = ?2)";
static const char sql_task_set_node[] =
	"UPDATE tasks SET node_id = ?2, last_status = 'PENDING', pending_reason = NULL,"
	" version = version + 1 WHERE id = ?1 AND node_id IS NULL";
static const char sql_task_set_pending_reason[] =
	"UPDATE tasks SET pending_reason = ?2 WHERE id = ?1";
static const char sql_task_update[] =
	"UPDATE tasks SET last_status = ?2, desired_status = ?3, agent_status = ?4,"
	" pending_reason = ?5, stop_code = ?6, stopped_reason = ?7, health_status = ?8,"
	" started_at = ?9, stopping_at = ?10, stopped_at = ?11, containers_json = ?12,"
	" stopped_recorded_at = CASE WHEN ?2 = 'STOPPED' THEN coalesce(stopped_recorded_at, ?13) END,"
	" version = version + 1 WHERE id = ?1";
static const char sql_task_page[] =
	"SELECT " TASK_COLUMNS " FROM tasks WHERE cluster = ?1"
	" AND (?2 IS NULL OR family = ?2) AND (?3 IS NULL OR desired_status = ?3)"
	" AND (?4 IS NULL OR node_id = ?4) AND (?5 IS NULL OR started_by = ?5)"
	" AND (?6 IS NULL OR service_name = ?6) AND rowid > ?7 ORDER BY rowid LIMIT ?8";
static const char sql_task_desired[] =
	"SELECT " TASK_COLUMNS " FROM tasks WHERE node_id = ?1 AND node_id IS NOT NULL"
	" AND agent_status IS NOT 'STOPPED' ORDER BY rowid";
static const char sql_task_active[] =
	"SELECT " TASK_COLUMNS " FROM tasks WHERE last_status != 'STOPPED' ORDER BY rowid";
/* Through tasks_desired_on_node: a task whose agent reported STOPPED is STOPPED. */
static const char sql_task_active_on_node[] =
	"SELECT " TASK_COLUMNS " FROM tasks WHERE node_id = ?1 AND node_id IS NOT NULL"
	" AND agent_status IS NOT 'STOPPED' AND last_status != 'STOPPED' ORDER BY rowid";
static const char sql_task_of_service[] =
	"SELECT " TASK_COLUMNS " FROM tasks WHERE cluster = ?1 AND service_name = ?2"
	" AND service_name IS NOT NULL AND service_done = 0 ORDER BY rowid";
static const char sql_task_service_done[] = "UPDATE tasks SET service_done = 1 WHERE id = ?1";
/* INDEXED BY: to keep rowid order the planner would scan the whole table. */
static const char sql_task_unplaced[] =
	"SELECT " TASK_COLUMNS " FROM tasks INDEXED BY tasks_unplaced WHERE node_id IS NULL"
	" AND last_status = 'PROVISIONING' ORDER BY rowid LIMIT ?1";

/*
 * Stopped before ?1 (the server's clock) and of no node's concern any more:
 * never placed, the agent reported it STOPPED, or the node is deregistered
 * or gone.  A node that registers again under its old name gets its old ID
 * back; its agent stops any container of a task not in its set, pruned
 * ones included.
 */
static const char sql_task_prune[] =
	"DELETE FROM tasks WHERE rowid IN (SELECT t.rowid FROM tasks t"
	" WHERE t.last_status = 'STOPPED' AND t.stopped_recorded_at < ?1"
	" AND (t.service_name IS NULL OR t.service_done = 1)"
	" AND (t.node_id IS NULL OR t.agent_status IS 'STOPPED'"
	"      OR NOT EXISTS (SELECT 1 FROM nodes n WHERE n.id = t.node_id"
	"                     AND n.status != 'INACTIVE'))"
	" ORDER BY t.stopped_recorded_at LIMIT ?2)";
static const char sql_run_token_get[] =
	"SELECT request_sha256, task_ids FROM run_tokens WHERE cluster = ?1 AND token = ?2";
static const char sql_run_token_put[] =
	"INSERT INTO run_tokens(cluster, token, request_sha256, task_ids, created_at)"
	" VALUES (?1, ?2, ?3, ?4, ?5)";
static const char sql_run_token_prune[] =
	"DELETE FROM run_tokens WHERE (cluster, token) IN (SELECT cluster, token FROM run_tokens"
	" WHERE created_at < ?1 ORDER BY created_at LIMIT ?2)";

static const char *const task_status_order[] = {
	"PROVISIONING", "PENDING", "ACTIVATING", "RUNNING", "DEACTIVATING", "STOPPING",
	"DEPROVISIONING", "STOPPED",
};

int store_task_status_rank(const char *status)
{
	if (!status)
		return -1;
	for (size_t i = 0; i < sizeof(task_status_order) / sizeof(task_status_order[0]); i++)
		if (strcmp(status, task_status_order[i]) == 0)
			return (int)i;
	return -1;
}


void store_task_release(struct store_task *t)
{
	free(t->id);
	free(t->cluster);
	free(t->family);
	free(t->node_id);
	free(t->last_status);
	free(t->desired_status);
	free(t->agent_status);
	free(t->pending_reason);
	free(t->stop_code);
	free(t->stopped_reason);
	free(t->health_status);
	free(t->overrides);
	free(t->containers);
	free(t->placement);
	free(t->group);
	free(t->started_by);
	free(t->service_name);
	free(t->deployment_id);
	memset(t, 0, sizeof(*t));
}

void store_task_list_free(struct store_task *list, int count)
{
	for (int i = 0; i < count; i++)
		store_task_release(&list[i]);
	free(list);
}

static int task_from_row(sqlite3_stmt *stmt, void *record, orch_error *err)
{
	struct store_task *out = record;

	memset(out, 0, sizeof(*out));
	out->id = store_column_dup(stmt, 0);
	out->cluster = store_column_dup(stmt, 1);
	out->family = store_column_dup(stmt, 2);
	out->revision = sqlite3_column_int64(stmt, 3);
	out->node_id = store_column_dup(stmt, 4);
	out->last_status = store_column_dup(stmt, 5);
	out->desired_status = store_column_dup(stmt, 6);
	out->agent_status = store_column_dup(stmt, 7);
	out->pending_reason = store_column_dup(stmt, 8);
	out->stop_code = store_column_dup(stmt, 9);
	out->stopped_reason = store_column_dup(stmt, 10);
	out->health_status = store_column_dup(stmt, 11);
	out->cpu = sqlite3_column_int64(stmt, 12);
	out->memory = sqlite3_column_int64(stmt, 13);
	out->created_at = sqlite3_column_double(stmt, 14);
	out->started_at = sqlite3_column_double(stmt, 15);
	out->stopping_at = sqlite3_column_double(stmt, 16);
	out->stopped_at = sqlite3_column_double(stmt, 17);
	out->overrides = store_column_dup(stmt, 18);
	out->containers = store_column_dup(stmt, 19);
	out->placement = store_column_dup(stmt, 20);
	out->group = store_column_dup(stmt, 21);
	out->started_by = store_column_dup(stmt, 22);
	out->service_name = store_column_dup(stmt, 23);
	out->version = sqlite3_column_int64(stmt, 24);
	out->seq = sqlite3_column_int64(stmt, 25);
	out->deployment_id = store_column_dup(stmt, 26);
	if (!out->id || !out->cluster || !out->family || !out->last_status ||
	    !out->desired_status || !out->overrides || !out->containers || !out->placement ||
	    !out->group) {
		store_task_release(out);
		return orch_fail_errno(err, ENOMEM, "reading a task");
	}
	return 0;
}

static void bind_time_or_null(sqlite3_stmt *stmt, int col, double v)
{
	if (v > 0)
		sqlite3_bind_double(stmt, col, v);
	else
		sqlite3_bind_null(stmt, col);
}

int store_task_insert(struct store *s, const struct store_task *t, orch_error *err)
{
	sqlite3_stmt *stmt = store_prepare(s, STORE_WRITER, sql_task_insert, err);
	int rc;

	if (!stmt)
		return -1;
	sqlite3_bind_text(stmt, 1, t->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, t->cluster, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 3, t->family, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 4, t->revision);
	store_bind_text_or_null(stmt, 5, t->node_id);
	sqlite3_bind_text(stmt, 6, t->last_status, -1, SQLITE_STATIC);
	store_bind_text_or_null(stmt, 7, t->pending_reason);
	sqlite3_bind_int64(stmt, 8, t->cpu);
	sqlite3_bind_int64(stmt, 9, t->memory);
	sqlite3_bind_double(stmt, 10, t->created_at);
	sqlite3_bind_text(stmt, 11, t->overrides, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 12, t->containers, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 13, t->placement, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 14, t->group, -1, SQLITE_STATIC);
	store_bind_text_or_null(stmt, 15, t->started_by);
	store_bind_text_or_null(stmt, 16, t->service_name);
	store_bind_text_or_null(stmt, 17, t->deployment_id);
	rc = sqlite3_step(stmt);
	sqlite3_reset(stmt);
	return rc == SQLITE_DONE ? 0 : store_fail(s, err, "creating a task");
}

int store_task_get(struct store *s, enum store_conn conn, const char *cluster, const char *id,
		   struct store_task *out, orch_error *err)
{
	return store_get_by_id(s, conn, sql_task_by_id, "task", cluster, id, task_from_row, out, err);
}

int store_task_set_node(struct store *s, const char *id, const char *node_id, orch_error *err)
{
	sqlite3_stmt *stmt = store_prepare(s, STORE_WRITER, sql_task_set_node, err);
	int rc;

	if (!stmt)
		return -1;
	sqlite3_bind_text(stmt, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, node_id, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	sqlite3_reset(stmt);
	if (rc != SQLITE_DONE)
		return store_fail(s, err, "placing a task");
	if (sqlite3_changes(sqlite3_db_handle(stmt)) == 0)
		return orch_fail(err, ORCH_ERR_CONFLICT, "task '%s' is already placed", id);
	return 0;
}

int store_task_set_pending_reason(struct store *s, const char *id, const char *reason,
				  orch_error *err)
{
	sqlite3_stmt *stmt = store_prepare(s, STORE_WRITER, sql_task_set_pending_reason, err);
	int rc;

	if (!stmt)
		return -1;
	sqlite3_bind_text(stmt, 1, id, -1, SQLITE_STATIC);
	store_bind_text_or_null(stmt, 2, reason);
	rc = sqlite3_step(stmt);
	sqlite3_reset(stmt);
	return rc == SQLITE_DONE ? 0 : store_fail(s, err, "updating a task");
}

int store_task_update(struct store *s, struct store_task *t, orch_error *err)
{
	sqlite3_stmt *stmt = store_prepare(s, STORE_WRITER, sql_task_update, err);
	int rc;

	if (!stmt)
		return -1;
	sqlite3_bind_text(stmt, 1, t->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, t->last_status, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 3, t->desired_status, -1, SQLITE_STATIC);
	store_bind_text_or_null(stmt, 4, t->agent_status);
	store_bind_text_or_null(stmt, 5, t->pending_reason);
	store_bind_text_or_null(stmt, 6, t->stop_code);
	store_bind_text_or_null(stmt, 7, t->stopped_reason);
	store_bind_text_or_null(stmt, 8, t->health_status);
	bind_time_or_null(stmt, 9, t->started_at);
	bind_time_or_null(stmt, 10, t->stopping_at);
	bind_time_or_null(stmt, 11, t->stopped_at);
	sqlite3_bind_text(stmt, 12, t->containers, -1, SQLITE_STATIC);
	sqlite3_bind_double(stmt, 13, store_now());
	rc = sqlite3_step(stmt);
	sqlite3_reset(stmt);
	if (rc != SQLITE_DONE)
		return store_fail(s, err, "updating a task");
	t->version++;
	return 0;
}

static void task_release(void *record)
{
	store_task_release(record);
}

/* Steps stmt (bound by the caller) into a new array; at most limit rows (0: all). */
static int task_rows(sqlite3_stmt *stmt, int limit, struct store_task **out, int *count,
		     bool *more, orch_error *err)
{
	return store_rows(stmt, limit, sizeof(**out), task_from_row, task_release, "listing tasks",
			  (void **)out, count, more, err);
}

int store_task_list(struct store *s, const struct store_task_query *q,
		    struct store_task **out, int *count, bool *more, orch_error *err)
{
	sqlite3_stmt *stmt = store_prepare(s, STORE_READER, sql_task_page, err);

	if (!stmt)
		return -1;
	sqlite3_bind_text(stmt, 1, q->cluster, -1, SQLITE_STATIC);
	store_bind_text_or_null(stmt, 2, q->family);
	store_bind_text_or_null(stmt, 3, q->desired_status);
	store_bind_text_or_null(stmt, 4, q->node_id);
	store_bind_text_or_null(stmt, 5, q->started_by);
	store_bind_text_or_null(stmt, 6, q->service_name);
	sqlite3_bind_int64(stmt, 7, q->after_seq);
	sqlite3_bind_int(stmt, 8, q->limit + 1);
	return task_rows(stmt, q->limit, out, count, more, err);
}

int store_task_list_desired(struct store *s, enum store_conn conn, const char *node_id,
			    struct store_task **out, int *count, orch_error *err)
{
	sqlite3_stmt *stmt = store_prepare(s, conn, sql_task_desired, err);

	if (!stmt)
		return -1;
	sqlite3_bind_text(stmt, 1, node_id, -1, SQLITE_STATIC);
	return task_rows(stmt, 0, out, count, NULL, err);
}

int store_task_list_active(struct store *s, const char *node_id, struct store_task **out,
			   int *count, orch_error *err)
{
	sqlite3_stmt *stmt = store_prepare(s, STORE_WRITER,
					   node_id ? sql_task_active_on_node : sql_task_active, err);

	if (!stmt)
		return -1;
	if (node_id)
		sqlite3_bind_text(stmt, 1, node_id, -1, SQLITE_STATIC);
	return task_rows(stmt, 0, out, count, NULL, err);
}

int store_task_list_unplaced(struct store *s, int limit, struct store_task **out, int *count,
			     orch_error *err)
{
	sqlite3_stmt *stmt = store_prepare(s, STORE_WRITER, sql_task_unplaced, err);

	if (!stmt)
		return -1;
	sqlite3_bind_int(stmt, 1, limit);
	return task_rows(stmt, 0, out, count, NULL, err);
}

int store_task_list_service(struct store *s, const char *cluster, const char *service,
			    struct store_task **out, int *count, orch_error *err)
{
	sqlite3_stmt *stmt = store_prepare(s, STORE_WRITER, sql_task_of_service, err);

	if (!stmt)
		return -1;
	sqlite3_bind_text(stmt, 1, cluster, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, service, -1, SQLITE_STATIC);
	return task_rows(stmt, 0, out, count, NULL, err);
}

int store_task_set_service_done(struct store *s, const char *id, orch_error *err)
{
	sqlite3_stmt *stmt = store_prepare(s, STORE_WRITER, sql_task_service_done, err);
	int rc;

	if (!stmt)
		return -1;
	sqlite3_bind_text(stmt, 1, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	sqlite3_reset(stmt);
	return rc == SQLITE_DONE ? 0 : store_fail(s, err, "updating a task");
}

int store_task_prune(struct store *s, double stopped_before, int limit, orch_error *err)
{
	sqlite3_stmt *stmt = store_prepare(s, STORE_WRITER, sql_task_prune, err);
	int rc;

	if (!stmt)
		return -1;
	sqlite3_bind_double(stmt, 1, stopped_before);
	sqlite3_bind_int(stmt, 2, limit);
	rc = sqlite3_step(stmt);
	sqlite3_reset(stmt);
	if (rc != SQLITE_DONE)
		return store_fail(s, err, "pruning stopped tasks");
	return store_changes(s);
}

int store_run_token_get(struct store *s, const char *cluster, const char *token,
			char **request_sha256, char **task_ids, orch_error *err)
{
	sqlite3_stmt *stmt = store_prepare(s, STORE_WRITER, sql_run_token_get, err);
	int rc;

	*request_sha256 = *task_ids = NULL;
	if (!stmt)
		return -1;
	sqlite3_bind_text(stmt, 1, cluster, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, token, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_DONE) {
		sqlite3_reset(stmt);
		return 0;
	}
	if (rc != SQLITE_ROW) {
		store_fail_stmt(stmt, err, "reading a client token");
		sqlite3_reset(stmt);
		return -1;
	}
	*request_sha256 = store_column_dup(stmt, 0);
	*task_ids = store_column_dup(stmt, 1);
	sqlite3_reset(stmt);
	if (!*request_sha256 || !*task_ids) {
		free(*request_sha256);
		free(*task_ids);
		*request_sha256 = *task_ids = NULL;
		return orch_fail_errno(err, ENOMEM, "reading a client token");
	}
	return 1;
}

int store_run_token_put(struct store *s, const char *cluster, const char *token,
			const char *request_sha256, const char *task_ids, orch_error *err)
{
	sqlite3_stmt *stmt = store_prepare(s, STORE_WRITER, sql_run_token_put, err);
	int rc;

	if (!stmt)
		return -1;
	sqlite3_bind_text(stmt, 1, cluster, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, token, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 3, request_sha256, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 4, task_ids, -1, SQLITE_STATIC);
	sqlite3_bind_double(stmt, 5, store_now());
	rc = sqlite3_step(stmt);
	sqlite3_reset(stmt);
	return rc == SQLITE_DONE ? 0 : store_fail(s, err, "recording a client token");
}

int store_run_token_prune(struct store *s, double created_before, int limit, orch_error *err)
{
	sqlite3_stmt *stmt = store_prepare(s, STORE_WRITER, sql_run_token_prune, err);
	int rc;

	if (!stmt)
		return -1;
	sqlite3_bind_double(stmt, 1, created_before);
	sqlite3_bind_int(stmt, 2, limit);
	rc = sqlite3_step(stmt);
	sqlite3_reset(stmt);
	if (rc != SQLITE_DONE)
		return store_fail(s, err, "pruning client tokens");
	return store_changes(s);
}
