/*
 * store_taskdef.c - task definition revisions.
 *
 * A family's last_revision only grows: registering takes last_revision + 1
 * in the same transaction that stores the definition, so revisions are
 * never reused, also after deregistration or a restart.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store_internal.h"

static const char sql_family_bump[] =
	"INSERT INTO task_definition_families(family, last_revision) VALUES (?1, 1)"
	" ON CONFLICT(family) DO UPDATE SET last_revision = last_revision + 1"
	" RETURNING last_revision";
static const char sql_taskdef_insert[] =
	"INSERT INTO task_definitions(family, revision, status, registered_at, body, ignored_fields)"
	" VALUES (?1, ?2, 'ACTIVE', ?3, ?4, ?5)";
#define TASKDEF_COLUMNS "family, revision, status, registered_at, deregistered_at, body, ignored_fields"
static const char sql_taskdef_select[] =
	"SELECT " TASKDEF_COLUMNS " FROM task_definitions WHERE family = ?1 AND revision = ?2";
static const char sql_taskdef_select_latest[] =
	"SELECT " TASKDEF_COLUMNS " FROM task_definitions"
	" WHERE family = ?1 AND status = 'ACTIVE' ORDER BY revision DESC LIMIT 1";
static const char sql_taskdef_deregister[] =
	"UPDATE task_definitions SET status = 'INACTIVE', deregistered_at = ?3"
	" WHERE family = ?1 AND revision = ?2 AND status = 'ACTIVE'";
/* ?1 prefix, ?2 status filter, ?3/?4 cursor, ?5 limit */
#define TASKDEF_PAGE_FILTER \
	" WHERE (?1 IS NULL OR substr(family, 1, length(?1)) = ?1)" \
	" AND (?2 IS NULL OR status = ?2)"
static const char sql_taskdef_page_asc[] =
	"SELECT family, revision FROM task_definitions" TASKDEF_PAGE_FILTER
	" AND (?3 IS NULL OR family > ?3 OR (family = ?3 AND revision > ?4))"
	" ORDER BY family, revision LIMIT ?5";
static const char sql_taskdef_page_desc[] =
	"SELECT family, revision FROM task_definitions" TASKDEF_PAGE_FILTER
	" AND (?3 IS NULL OR family < ?3 OR (family = ?3 AND revision < ?4))"
	" ORDER BY family DESC, revision DESC LIMIT ?5";
static const char sql_taskdef_counts[] =
	"SELECT (SELECT count(*) FROM task_definitions),"
	" (SELECT count(*) FROM task_definition_families)";

void store_taskdef_release(struct store_taskdef *td)
{
	free(td->family);
	td->family = NULL;
	free(td->body);
	td->body = NULL;
	free(td->ignored_fields);
	td->ignored_fields = NULL;
}

static int taskdef_from_row(sqlite3_stmt *stmt, struct store_taskdef *out, orch_error *err)
{
	memset(out, 0, sizeof(*out));
	out->family = strdup((const char *)sqlite3_column_text(stmt, 0));
	out->revision = sqlite3_column_int64(stmt, 1);
	out->active = strcmp((const char *)sqlite3_column_text(stmt, 2), "ACTIVE") == 0;
	out->registered_at = sqlite3_column_double(stmt, 3);
	out->deregistered_at = sqlite3_column_double(stmt, 4);
	out->body = strdup((const char *)sqlite3_column_text(stmt, 5));
	out->ignored_fields = strdup((const char *)sqlite3_column_text(stmt, 6));
	if (!out->family || !out->body || !out->ignored_fields) {
		store_taskdef_release(out);
		return orch_fail_errno(err, ENOMEM, "reading a task definition");
	}
	return 0;
}

int store_taskdef_register(struct store *s, const char *family, const char *body,
			   const char *ignored_fields, struct store_taskdef *out,
			   orch_error *err)
{
	sqlite3_stmt *stmt = store_prepare(s, STORE_WRITER, sql_family_bump, err);
	int64_t revision;
	double now = store_now();

	if (!stmt)
		return -1;
	sqlite3_bind_text(stmt, 1, family, -1, SQLITE_STATIC);
	if (sqlite3_step(stmt) != SQLITE_ROW)
		return store_fail(s, err, "allocating a revision");
	revision = sqlite3_column_int64(stmt, 0);
	sqlite3_reset(stmt);

	stmt = store_prepare(s, STORE_WRITER, sql_taskdef_insert, err);
	if (!stmt)
		return -1;
	sqlite3_bind_text(stmt, 1, family, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 2, revision);
	sqlite3_bind_double(stmt, 3, now);
	sqlite3_bind_text(stmt, 4, body, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 5, ignored_fields, -1, SQLITE_STATIC);
	if (sqlite3_step(stmt) != SQLITE_DONE)
		return store_fail(s, err, "storing a task definition");

	memset(out, 0, sizeof(*out));
	out->family = strdup(family);
	out->revision = revision;
	out->active = true;
	out->registered_at = now;
	out->body = strdup(body);
	out->ignored_fields = strdup(ignored_fields);
	if (!out->family || !out->body || !out->ignored_fields) {
		store_taskdef_release(out);
		return orch_fail_errno(err, ENOMEM, "registering a task definition");
	}
	return 0;
}

static int taskdef_select(struct store *s, enum store_conn conn, const char *family,
			  int64_t revision, struct store_taskdef *out, orch_error *err)
{
	sqlite3_stmt *stmt = store_prepare(s, conn, revision ? sql_taskdef_select
					   : sql_taskdef_select_latest, err);
	int rc;

	if (!stmt)
		return -1;
	sqlite3_bind_text(stmt, 1, family, -1, SQLITE_STATIC);
	if (revision)
		sqlite3_bind_int64(stmt, 2, revision);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_DONE) {
		sqlite3_reset(stmt);
		if (revision)
			return orch_fail(err, ORCH_ERR_NOT_FOUND,
					 "task definition '%s:%lld' not found", family,
					 (long long)revision);
		return orch_fail(err, ORCH_ERR_NOT_FOUND,
				 "task definition family '%s' has no ACTIVE revision", family);
	}
	if (rc != SQLITE_ROW)
		return store_fail_stmt(stmt, err, "reading a task definition");
	rc = taskdef_from_row(stmt, out, err);
	sqlite3_reset(stmt);	/* end the read so checkpoints can proceed */
	return rc;
}

int store_taskdef_get(struct store *s, const char *family, int64_t revision,
		      struct store_taskdef *out, orch_error *err)
{
	return taskdef_select(s, STORE_READER, family, revision, out, err);
}

int store_taskdef_deregister(struct store *s, const char *family, int64_t revision,
			     struct store_taskdef *out, orch_error *err)
{
	sqlite3_stmt *stmt = store_prepare(s, STORE_WRITER, sql_taskdef_deregister, err);

	if (!stmt)
		return -1;
	sqlite3_bind_text(stmt, 1, family, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 2, revision);
	sqlite3_bind_double(stmt, 3, store_now());
	if (sqlite3_step(stmt) != SQLITE_DONE)
		return store_fail(s, err, "deregistering a task definition");
	/* Deregistering an INACTIVE revision again changes nothing and is fine. */
	return taskdef_select(s, STORE_WRITER, family, revision, out, err);
}

void store_taskdef_list_free(char **families, int64_t *revisions, int count)
{
	for (int i = 0; i < count; i++)
		free(families[i]);
	free(families);
	free(revisions);
}

int store_taskdef_list(struct store *s, const struct store_taskdef_query *q,
		       char ***families_out, int64_t **revisions_out, int *count, bool *more,
		       orch_error *err)
{
	sqlite3_stmt *stmt = store_prepare(s, STORE_READER, q->descending ? sql_taskdef_page_desc
					   : sql_taskdef_page_asc, err);
	char **families;
	int64_t *revisions;
	int n = 0, rc;

	if (!stmt)
		return -1;
	families = calloc((size_t)q->limit + 1, sizeof(*families));
	revisions = calloc((size_t)q->limit + 1, sizeof(*revisions));
	if (!families || !revisions) {
		free(families);
		free(revisions);
		return orch_fail_errno(err, ENOMEM, "listing task definitions");
	}
	if (q->family_prefix && *q->family_prefix)
		sqlite3_bind_text(stmt, 1, q->family_prefix, -1, SQLITE_STATIC);
	if (q->status != STORE_TASKDEF_ANY)
		sqlite3_bind_text(stmt, 2, q->status == STORE_TASKDEF_ACTIVE ? "ACTIVE" : "INACTIVE",
				  -1, SQLITE_STATIC);
	if (q->after_family) {
		sqlite3_bind_text(stmt, 3, q->after_family, -1, SQLITE_STATIC);
		sqlite3_bind_int64(stmt, 4, q->after_revision);
	}
	sqlite3_bind_int(stmt, 5, q->limit + 1);
	*more = false;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		if (n == q->limit) {
			*more = true;
			break;
		}
		families[n] = strdup((const char *)sqlite3_column_text(stmt, 0));
		if (!families[n]) {
			orch_fail_errno(err, ENOMEM, "listing task definitions");
			goto fail;
		}
		revisions[n] = sqlite3_column_int64(stmt, 1);
		n++;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		store_fail_stmt(stmt, err, "listing task definitions");
		goto fail;
	}
	sqlite3_reset(stmt);
	*families_out = families;
	*revisions_out = revisions;
	*count = n;
	return 0;
fail:
	sqlite3_reset(stmt);
	store_taskdef_list_free(families, revisions, n);
	return -1;
}

int store_taskdef_counts(struct store *s, int64_t *definitions, int64_t *families,
			 orch_error *err)
{
	sqlite3_stmt *stmt = store_prepare(s, STORE_READER, sql_taskdef_counts, err);

	if (!stmt)
		return -1;
	if (sqlite3_step(stmt) != SQLITE_ROW)
		return store_fail_stmt(stmt, err, "counting task definitions");
	*definitions = sqlite3_column_int64(stmt, 0);
	*families = sqlite3_column_int64(stmt, 1);
	sqlite3_reset(stmt);
	return 0;
}
