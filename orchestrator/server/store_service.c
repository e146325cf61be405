/*
 * store_service.c - service rows, their deployments and their events
 * (schema/004_services.sql).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store_internal.h"

#define SERVICE_COLUMNS \
	"cluster, name, status, scheduling_strategy, desired_count, config, stable_family," \
	" stable_revision, launch_failures, next_launch_at, placement_reason, created_at," \
	" updated_at, version"

static const char sql_service_by_name[] =
	"SELECT " SERVICE_COLUMNS " FROM services WHERE name = ?1 AND cluster = ?2";
static const char sql_service_status[] =
	"SELECT status FROM services WHERE cluster = ?1 AND name = ?2";
static const char sql_service_forget_events[] =
	"DELETE FROM service_events WHERE cluster = ?1 AND service = ?2";
static const char sql_service_forget_deployments[] =
	"DELETE FROM service_deployments WHERE cluster = ?1 AND service = ?2";
static const char sql_service_upsert[] =
	"INSERT OR REPLACE INTO services(" SERVICE_COLUMNS ")"
	" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, 1)";
static const char sql_service_update[] =
	"UPDATE services SET status = ?3, desired_count = ?4, config = ?5, stable_family = ?6,"
	" stable_revision = ?7, launch_failures = ?8, next_launch_at = ?9,"
	" placement_reason = ?10, updated_at = ?11, version = version + 1"
	" WHERE cluster = ?1 AND name = ?2";
static const char sql_service_page[] =
	"SELECT " SERVICE_COLUMNS " FROM services WHERE cluster = ?1"
	" AND (?2 IS NULL OR name > ?2) AND (?3 OR status != 'INACTIVE')"
	" ORDER BY name LIMIT ?4";
static const char sql_service_live[] =
	"SELECT " SERVICE_COLUMNS " FROM services WHERE status != 'INACTIVE'"
	" ORDER BY cluster, name";

/* Names only: a cluster's live services, or those a node change concerns. */
static const char sql_service_names[] =
	"SELECT name FROM services WHERE cluster = ?1 AND status != 'INACTIVE'"
	" AND (?2 IS NULL OR scheduling_strategy = 'DAEMON' OR name IN"
	"  (SELECT service_name FROM tasks WHERE node_id = ?2 AND node_id IS NOT NULL"
	"   AND agent_status IS NOT 'STOPPED' AND service_name IS NOT NULL))";

#define DEPLOYMENT_COLUMNS \
	"id, cluster, service, seq, status, family, revision, desired_count, running_count," \
	" pending_count, failed_tasks, rollout_state, rollout_state_reason, created_at, updated_at"

static const char sql_deployment_insert[] =
	"INSERT INTO service_deployments(" DEPLOYMENT_COLUMNS ")"
	" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)";
static const char sql_deployment_update[] =
	"UPDATE service_deployments SET status = ?2, desired_count = ?3, running_count = ?4,"
	" pending_count = ?5, failed_tasks = ?6, rollout_state = ?7, rollout_state_reason = ?8,"
	" updated_at = ?9 WHERE id = ?1";
static const char sql_deployment_list[] =
	"SELECT " DEPLOYMENT_COLUMNS " FROM service_deployments WHERE cluster = ?1 AND service = ?2"
	" AND (?3 OR status != 'INACTIVE') ORDER BY seq DESC";
static const char sql_deployment_next_seq[] =
	"SELECT coalesce(max(seq), 0) + 1 FROM service_deployments WHERE cluster = ?1 AND service = ?2";
static const char sql_deployment_prune[] =
	"DELETE FROM service_deployments WHERE cluster = ?1 AND service = ?2 AND status = 'INACTIVE'"
	" AND seq < (SELECT coalesce(min(seq), 0) FROM (SELECT seq FROM service_deployments"
	"  WHERE cluster = ?1 AND service = ?2 AND status = 'INACTIVE' ORDER BY seq DESC LIMIT ?3))";

static const char sql_event_insert[] =
	"INSERT INTO service_events(cluster, service, created_at, message) VALUES (?1, ?2, ?3, ?4)";
static const char sql_event_prune[] =
	"DELETE FROM service_events WHERE cluster = ?1 AND service = ?2 AND id <= coalesce("
	" (SELECT id FROM service_events WHERE cluster = ?1 AND service = ?2"
	"  ORDER BY id DESC LIMIT 1 OFFSET ?3), 0)";
static const char sql_event_page[] =
	"SELECT id, created_at, message FROM service_events WHERE cluster = ?1 AND service = ?2"
	" AND (?3 = 0 OR id < ?3) ORDER BY id DESC LIMIT ?4";
static const char sql_event_after[] =
	"SELECT id, created_at, message FROM service_events WHERE cluster = ?1 AND service = ?2"
	" AND id > ?3 ORDER BY id LIMIT ?4";

/* Runs a bound statement that returns no rows. */
static int step_done(struct store *s, sqlite3_stmt *stmt, const char *what, orch_error *err)
{
	int rc = sqlite3_step(stmt);

	sqlite3_reset(stmt);
	return rc == SQLITE_DONE ? 0 : store_fail(s, err, what);
}

/* ---- services ------------------------------------------------------------ */

void store_service_release(struct store_service *sv)
{
	free(sv->cluster);
	free(sv->name);
	free(sv->status);
	free(sv->scheduling_strategy);
	free(sv->config);
	free(sv->stable_family);
	free(sv->placement_reason);
	memset(sv, 0, sizeof(*sv));
}

void store_service_list_free(struct store_service *list, int count)
{
	for (int i = 0; i < count; i++)
		store_service_release(&list[i]);
	free(list);
}

static int service_from_row(sqlite3_stmt *stmt, void *record, orch_error *err)
{
	struct store_service *out = record;

	memset(out, 0, sizeof(*out));
	out->cluster = store_column_dup(stmt, 0);
	out->name = store_column_dup(stmt, 1);
	out->status = store_column_dup(stmt, 2);
	out->scheduling_strategy = store_column_dup(stmt, 3);
	out->desired_count = sqlite3_column_int64(stmt, 4);
	out->config = store_column_dup(stmt, 5);
	out->stable_family = store_column_dup(stmt, 6);
	out->stable_revision = sqlite3_column_int64(stmt, 7);
	out->launch_failures = sqlite3_column_int64(stmt, 8);
	out->next_launch_at = sqlite3_column_double(stmt, 9);
	out->placement_reason = store_column_dup(stmt, 10);
	out->created_at = sqlite3_column_double(stmt, 11);
	out->updated_at = sqlite3_column_double(stmt, 12);
	out->version = sqlite3_column_int64(stmt, 13);
	if (!out->cluster || !out->name || !out->status || !out->scheduling_strategy ||
	    !out->config) {
		store_service_release(out);
		return orch_fail_errno(err, ENOMEM, "reading a service");
	}
	return 0;
}

static void service_release(void *record)
{
	store_service_release(record);
}

int store_service_get(struct store *s, enum store_conn conn, const char *cluster,
		      const char *name, struct store_service *out, orch_error *err)
{
	return store_get_by_id(s, conn, sql_service_by_name, "service", cluster, name,
			       service_from_row, out, err);
}

/* Deletes what an INACTIVE service of the same name left behind. */
static int service_forget(struct store *s, const char *cluster, const char *name, orch_error *err)
{
	static const char *const sqls[] = { sql_service_forget_events,
					    sql_service_forget_deployments };

	for (size_t i = 0; i < sizeof(sqls) / sizeof(sqls[0]); i++) {
		sqlite3_stmt *stmt = store_prepare(s, STORE_WRITER, sqls[i], err);

		if (!stmt)
			return -1;
		sqlite3_bind_text(stmt, 1, cluster, -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 2, name, -1, SQLITE_STATIC);
		if (step_done(s, stmt, "re-creating a service", err) < 0)
			return -1;
	}
	return 0;
}

int store_service_create(struct store *s, const struct store_service *sv, orch_error *err)
{
	sqlite3_stmt *stmt = store_prepare(s, STORE_WRITER, sql_service_status, err);
	int rc;

	if (!stmt)
		return -1;
	sqlite3_bind_text(stmt, 1, sv->cluster, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, sv->name, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		bool inactive = strcmp((const char *)sqlite3_column_text(stmt, 0), "INACTIVE") == 0;

		sqlite3_reset(stmt);
		if (!inactive)
			return orch_fail(err, ORCH_ERR_CONFLICT,
					 "serviceName: a service named '%s' exists in cluster '%s' and is not INACTIVE yet",
					 sv->name, sv->cluster);
		if (service_forget(s, sv->cluster, sv->name, err) < 0)
			return -1;
	} else {
		sqlite3_reset(stmt);
		if (rc != SQLITE_DONE)
			return store_fail(s, err, "reading a service");
	}
	stmt = store_prepare(s, STORE_WRITER, sql_service_upsert, err);
	if (!stmt)
		return -1;
	sqlite3_bind_text(stmt, 1, sv->cluster, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, sv->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 3, sv->status, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 4, sv->scheduling_strategy, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 5, sv->desired_count);
	sqlite3_bind_text(stmt, 6, sv->config, -1, SQLITE_STATIC);
	store_bind_text_or_null(stmt, 7, sv->stable_family);
	sqlite3_bind_int64(stmt, 8, sv->stable_revision);
	sqlite3_bind_int64(stmt, 9, sv->launch_failures);
	sqlite3_bind_double(stmt, 10, sv->next_launch_at);
	store_bind_text_or_null(stmt, 11, sv->placement_reason);
	sqlite3_bind_double(stmt, 12, sv->created_at);
	sqlite3_bind_double(stmt, 13, sv->updated_at);
	return step_done(s, stmt, "creating a service", err);
}

int store_service_update(struct store *s, struct store_service *sv, orch_error *err)
{
	sqlite3_stmt *stmt = store_prepare(s, STORE_WRITER, sql_service_update, err);

	if (!stmt)
		return -1;
	sqlite3_bind_text(stmt, 1, sv->cluster, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, sv->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 3, sv->status, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 4, sv->desired_count);
	sqlite3_bind_text(stmt, 5, sv->config, -1, SQLITE_STATIC);
	store_bind_text_or_null(stmt, 6, sv->stable_family);
	sqlite3_bind_int64(stmt, 7, sv->stable_revision);
	sqlite3_bind_int64(stmt, 8, sv->launch_failures);
	sqlite3_bind_double(stmt, 9, sv->next_launch_at);
	store_bind_text_or_null(stmt, 10, sv->placement_reason);
	sqlite3_bind_double(stmt, 11, sv->updated_at);
	if (step_done(s, stmt, "updating a service", err) < 0)
		return -1;
	sv->version++;
	return 0;
}

int store_service_list(struct store *s, enum store_conn conn, const char *cluster,
		       const char *after, bool include_inactive, int limit,
		       struct store_service **out, int *count, bool *more, orch_error *err)
{
	sqlite3_stmt *stmt = store_prepare(s, conn, cluster ? sql_service_page : sql_service_live,
					   err);

	if (!stmt)
		return -1;
	if (cluster) {
		sqlite3_bind_text(stmt, 1, cluster, -1, SQLITE_STATIC);
		store_bind_text_or_null(stmt, 2, after);
		sqlite3_bind_int(stmt, 3, include_inactive);
		sqlite3_bind_int(stmt, 4, limit > 0 ? limit + 1 : -1);
	}
	return store_rows(stmt, limit, sizeof(**out), service_from_row, service_release,
			  "listing services", (void **)out, count, more, err);
}

static int name_from_row(sqlite3_stmt *stmt, void *record, orch_error *err)
{
	char **out = record;

	*out = store_column_dup(stmt, 0);
	return *out ? 0 : orch_fail_errno(err, ENOMEM, "reading a service name");
}

static void name_release(void *record)
{
	char **name = record;

	free(*name);
	*name = NULL;
}

int store_service_names(struct store *s, const char *cluster, const char *node_id, char ***out,
			int *count, orch_error *err)
{
	sqlite3_stmt *stmt = store_prepare(s, STORE_WRITER, sql_service_names, err);

	if (!stmt)
		return -1;
	sqlite3_bind_text(stmt, 1, cluster, -1, SQLITE_STATIC);
	store_bind_text_or_null(stmt, 2, node_id);
	return store_rows(stmt, 0, sizeof(**out), name_from_row, name_release,
			  "listing service names", (void **)out, count, NULL, err);
}

void store_service_names_free(char **names, int count)
{
	for (int i = 0; i < count; i++)
		free(names[i]);
	free(names);
}

/* ---- deployments --------------------------------------------------------- */

void store_deployment_release(struct store_deployment *d)
{
	free(d->id);
	free(d->cluster);
	free(d->service);
	free(d->status);
	free(d->family);
	free(d->rollout_state);
	free(d->rollout_state_reason);
	memset(d, 0, sizeof(*d));
}

void store_deployment_list_free(struct store_deployment *list, int count)
{
	for (int i = 0; i < count; i++)
		store_deployment_release(&list[i]);
	free(list);
}

static int deployment_from_row(sqlite3_stmt *stmt, void *record, orch_error *err)
{
	struct store_deployment *out = record;

	memset(out, 0, sizeof(*out));
	out->id = store_column_dup(stmt, 0);
	out->cluster = store_column_dup(stmt, 1);
	out->service = store_column_dup(stmt, 2);
	out->seq = sqlite3_column_int64(stmt, 3);
	out->status = store_column_dup(stmt, 4);
	out->family = store_column_dup(stmt, 5);
	out->revision = sqlite3_column_int64(stmt, 6);
	out->desired_count = sqlite3_column_int64(stmt, 7);
	out->running_count = sqlite3_column_int64(stmt, 8);
	out->pending_count = sqlite3_column_int64(stmt, 9);
	out->failed_tasks = sqlite3_column_int64(stmt, 10);
	out->rollout_state = store_column_dup(stmt, 11);
	out->rollout_state_reason = store_column_dup(stmt, 12);
	out->created_at = sqlite3_column_double(stmt, 13);
	out->updated_at = sqlite3_column_double(stmt, 14);
	if (!out->id || !out->cluster || !out->service || !out->status || !out->family ||
	    !out->rollout_state || !out->rollout_state_reason) {
		store_deployment_release(out);
		return orch_fail_errno(err, ENOMEM, "reading a deployment");
	}
	return 0;
}

static void deployment_release(void *record)
{
	store_deployment_release(record);
}

int store_deployment_insert(struct store *s, const struct store_deployment *d, orch_error *err)
{
	sqlite3_stmt *stmt = store_prepare(s, STORE_WRITER, sql_deployment_insert, err);

	if (!stmt)
		return -1;
	sqlite3_bind_text(stmt, 1, d->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, d->cluster, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 3, d->service, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 4, d->seq);
	sqlite3_bind_text(stmt, 5, d->status, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 6, d->family, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 7, d->revision);
	sqlite3_bind_int64(stmt, 8, d->desired_count);
	sqlite3_bind_int64(stmt, 9, d->running_count);
	sqlite3_bind_int64(stmt, 10, d->pending_count);
	sqlite3_bind_int64(stmt, 11, d->failed_tasks);
	sqlite3_bind_text(stmt, 12, d->rollout_state, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 13, d->rollout_state_reason ? d->rollout_state_reason : "", -1,
			  SQLITE_STATIC);
	sqlite3_bind_double(stmt, 14, d->created_at);
	sqlite3_bind_double(stmt, 15, d->updated_at);
	return step_done(s, stmt, "creating a deployment", err);
}

int store_deployment_update(struct store *s, const struct store_deployment *d, orch_error *err)
{
	sqlite3_stmt *stmt = store_prepare(s, STORE_WRITER, sql_deployment_update, err);

	if (!stmt)
		return -1;
	sqlite3_bind_text(stmt, 1, d->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, d->status, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 3, d->desired_count);
	sqlite3_bind_int64(stmt, 4, d->running_count);
	sqlite3_bind_int64(stmt, 5, d->pending_count);
	sqlite3_bind_int64(stmt, 6, d->failed_tasks);
	sqlite3_bind_text(stmt, 7, d->rollout_state, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 8, d->rollout_state_reason ? d->rollout_state_reason : "", -1,
			  SQLITE_STATIC);
	sqlite3_bind_double(stmt, 9, d->updated_at);
	return step_done(s, stmt, "updating a deployment", err);
}

int store_deployment_list(struct store *s, enum store_conn conn, const char *cluster,
			  const char *service, bool include_inactive,
			  struct store_deployment **out, int *count, orch_error *err)
{
	sqlite3_stmt *stmt = store_prepare(s, conn, sql_deployment_list, err);

	if (!stmt)
		return -1;
	sqlite3_bind_text(stmt, 1, cluster, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, service, -1, SQLITE_STATIC);
	sqlite3_bind_int(stmt, 3, include_inactive);
	return store_rows(stmt, 0, sizeof(**out), deployment_from_row, deployment_release,
			  "listing deployments", (void **)out, count, NULL, err);
}

int64_t store_deployment_next_seq(struct store *s, const char *cluster, const char *service,
				  orch_error *err)
{
	sqlite3_stmt *stmt = store_prepare(s, STORE_WRITER, sql_deployment_next_seq, err);
	int64_t seq;

	if (!stmt)
		return -1;
	sqlite3_bind_text(stmt, 1, cluster, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, service, -1, SQLITE_STATIC);
	if (sqlite3_step(stmt) != SQLITE_ROW) {
		store_fail(s, err, "numbering a deployment");
		sqlite3_reset(stmt);
		return -1;
	}
	seq = sqlite3_column_int64(stmt, 0);
	sqlite3_reset(stmt);
	return seq;
}

int store_deployment_prune(struct store *s, const char *cluster, const char *service, int keep,
			   orch_error *err)
{
	sqlite3_stmt *stmt = store_prepare(s, STORE_WRITER, sql_deployment_prune, err);

	if (!stmt)
		return -1;
	sqlite3_bind_text(stmt, 1, cluster, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, service, -1, SQLITE_STATIC);
	sqlite3_bind_int(stmt, 3, keep);
	return step_done(s, stmt, "pruning deployments", err);
}

/* ---- events -------------------------------------------------------------- */

void store_event_list_free(struct store_service_event *list, int count)
{
	for (int i = 0; i < count; i++)
		free(list[i].message);
	free(list);
}

static int event_from_row(sqlite3_stmt *stmt, void *record, orch_error *err)
{
	struct store_service_event *out = record;

	out->id = sqlite3_column_int64(stmt, 0);
	out->created_at = sqlite3_column_double(stmt, 1);
	out->message = store_column_dup(stmt, 2);
	return out->message ? 0 : orch_fail_errno(err, ENOMEM, "reading an event");
}

static void event_release(void *record)
{
	struct store_service_event *e = record;

	free(e->message);
	e->message = NULL;
}

int store_event_add(struct store *s, const char *cluster, const char *service,
		    const char *message, int keep, orch_error *err)
{
	sqlite3_stmt *stmt = store_prepare(s, STORE_WRITER, sql_event_insert, err);
	if (!stmt)
		return -1;
	sqlite3_bind_text(stmt, 1, cluster, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, service, -1, SQLITE_STATIC);
	sqlite3_bind_double(stmt, 3, store_now());
	sqlite3_bind_text(stmt, 4, message, -1, SQLITE_STATIC);
	if (step_done(s, stmt, "recording a service event", err) < 0)
		return -1;
	stmt = store_prepare(s, STORE_WRITER, sql_event_prune, err);
	if (!stmt)
		return -1;
	sqlite3_bind_text(stmt, 1, cluster, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, service, -1, SQLITE_STATIC);
	sqlite3_bind_int(stmt, 3, keep);
	return step_done(s, stmt, "pruning service events", err);
}

int store_event_list(struct store *s, enum store_conn conn, const char *cluster,
		     const char *service, int64_t before_id, int limit,
		     struct store_service_event **out, int *count, orch_error *err)
{
	sqlite3_stmt *stmt = store_prepare(s, conn, sql_event_page, err);

	if (!stmt)
		return -1;
	sqlite3_bind_text(stmt, 1, cluster, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, service, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 3, before_id);
	sqlite3_bind_int(stmt, 4, limit);
	return store_rows(stmt, 0, sizeof(**out), event_from_row, event_release,
			  "listing service events", (void **)out, count, NULL, err);
}

int store_event_list_after(struct store *s, const char *cluster, const char *service,
			   int64_t after_id, int limit, struct store_service_event **out,
			   int *count, orch_error *err)
{
	sqlite3_stmt *stmt = store_prepare(s, STORE_READER, sql_event_after, err);

	if (!stmt)
		return -1;
	sqlite3_bind_text(stmt, 1, cluster, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, service, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 3, after_id);
	sqlite3_bind_int(stmt, 4, limit);
	return store_rows(stmt, 0, sizeof(**out), event_from_row, event_release,
			  "listing service events", (void **)out, count, NULL, err);
}
