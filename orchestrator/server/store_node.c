/*
 * store_node.c - node rows (ECS container instances): registration, status,
 * credentials (kept only as SHA-256) and the task counts shown with them.
 *
 * A node's name is its identity.  Registering a name that holds a
 * credential needs that credential's hash as proof (compared in constant
 * time, in the same write as the update, so nothing can slip in between);
 * only a deregistered node (credential NULL) or a new name joins without.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "store_internal.h"

/*
 * Implied by any task status but STOPPED (a task whose agent reported
 * STOPPED is STOPPED); stated so the counts below search the node's
 * entries of the partial index tasks_desired_on_node instead of scanning
 * every task.
 */
#define NODE_TASK_HELD "t.node_id IS NOT NULL AND t.agent_status IS NOT 'STOPPED'"

#define NODE_COLUMNS \
	"id, cluster, name, status, status_before_lost, advertise_address, attributes," \
	" cpu, memory, registered_at, updated_at, last_seen_at, version," \
	" (SELECT count(*) FROM tasks t WHERE t.node_id = n.id AND " NODE_TASK_HELD \
	"  AND t.last_status = 'RUNNING')," \
	" (SELECT count(*) FROM tasks t WHERE t.node_id = n.id AND " NODE_TASK_HELD \
	"  AND t.last_status = 'PENDING')"

static const char sql_node_by_id[] =
	"SELECT " NODE_COLUMNS " FROM nodes n WHERE id = ?1 AND (?2 IS NULL OR cluster = ?2)";
static const char sql_node_by_name[] =
	"SELECT id, cluster, (SELECT count(*) FROM tasks t WHERE t.node_id = n.id"
	" AND " NODE_TASK_HELD " AND t.last_status != 'STOPPED'), credential_sha256"
	" FROM nodes n WHERE name = ?1";
static const char sql_node_insert[] =
	"INSERT INTO nodes(id, cluster, name, status, credential_sha256, advertise_address,"
	" attributes, cpu, memory, registered_at, updated_at, last_seen_at)"
	" VALUES (?1, ?2, ?3, 'ACTIVE', ?4, ?5, ?6, ?7, ?8, ?9, ?9, ?9)";
static const char sql_node_reregister[] =
	"UPDATE nodes SET cluster = ?2, status = CASE status WHEN 'DRAINING' THEN 'DRAINING'"
	" WHEN 'LOST' THEN coalesce(status_before_lost, 'ACTIVE') ELSE 'ACTIVE' END,"
	" status_before_lost = NULL, credential_sha256 = ?3, advertise_address = ?4,"
	" attributes = ?5, cpu = ?6, memory = ?7, updated_at = ?8, last_seen_at = ?8,"
	" version = version + 1 WHERE id = ?1";
static const char sql_node_status[] = "SELECT status FROM nodes WHERE id = ?1";
static const char sql_node_by_credential[] =
	"SELECT id FROM nodes WHERE credential_sha256 = ?1 AND status != 'INACTIVE'";
static const char sql_node_set_status[] =
	"UPDATE nodes SET status = ?2, status_before_lost = ?3, updated_at = ?4,"
	" version = version + 1 WHERE id = ?1";
static const char sql_node_deregister[] =
	"UPDATE nodes SET status = 'INACTIVE', status_before_lost = NULL,"
	" credential_sha256 = NULL, updated_at = ?2, version = version + 1 WHERE id = ?1";
static const char sql_node_touch[] = "UPDATE nodes SET last_seen_at = ?2 WHERE id = ?1";
static const char sql_node_page[] =
	"SELECT " NODE_COLUMNS " FROM nodes n WHERE (?1 IS NULL OR cluster = ?1)"
	" AND (CASE WHEN ?2 IS NULL THEN status != 'INACTIVE' ELSE status = ?2 END)"
	" AND (?3 IS NULL OR id > ?3) ORDER BY id LIMIT ?4";


void store_node_release(struct store_node *n)
{
	free(n->id);
	free(n->cluster);
	free(n->name);
	free(n->status);
	free(n->status_before_lost);
	free(n->advertise_address);
	free(n->attributes);
	memset(n, 0, sizeof(*n));
}

void store_node_list_free(struct store_node *list, int count)
{
	for (int i = 0; i < count; i++)
		store_node_release(&list[i]);
	free(list);
}

static int node_from_row(sqlite3_stmt *stmt, void *record, orch_error *err)
{
	struct store_node *out = record;

	memset(out, 0, sizeof(*out));
	out->id = store_column_dup(stmt, 0);
	out->cluster = store_column_dup(stmt, 1);
	out->name = store_column_dup(stmt, 2);
	out->status = store_column_dup(stmt, 3);
	out->status_before_lost = store_column_dup(stmt, 4);
	out->advertise_address = store_column_dup(stmt, 5);
	out->attributes = store_column_dup(stmt, 6);
	out->cpu = sqlite3_column_int64(stmt, 7);
	out->memory = sqlite3_column_int64(stmt, 8);
	out->registered_at = sqlite3_column_double(stmt, 9);
	out->updated_at = sqlite3_column_double(stmt, 10);
	out->last_seen_at = sqlite3_column_double(stmt, 11);
	out->version = sqlite3_column_int64(stmt, 12);
	out->running_tasks = sqlite3_column_int64(stmt, 13);
	out->pending_tasks = sqlite3_column_int64(stmt, 14);
	if (!out->id || !out->cluster || !out->name || !out->status || !out->advertise_address ||
	    !out->attributes) {
		store_node_release(out);
		return orch_fail_errno(err, ENOMEM, "reading a node");
	}
	return 0;
}

int store_node_get(struct store *s, enum store_conn conn, const char *cluster, const char *id,
		   struct store_node *out, orch_error *err)
{
	return store_get_by_id(s, conn, sql_node_by_id, "node", cluster, id, node_from_row, out, err);
}

/* True if the stored hash is there and proof_sha256 is it (constant time). */
static bool node_credential_proven(const char *held_sha256, const char *proof_sha256)
{
	size_t len = held_sha256 ? strlen(held_sha256) : 0;

	return len > 0 && proof_sha256 && strlen(proof_sha256) == len &&
	       CRYPTO_memcmp(held_sha256, proof_sha256, len) == 0;
}

int store_node_register(struct store *s, const struct store_node *in,
			const char *proof_sha256, const char *credential_sha256,
			const char *new_id, bool *created, struct store_node *out, orch_error *err)
{
	sqlite3_stmt *stmt = store_prepare(s, STORE_WRITER, sql_node_by_name, err);
	char id[STORE_ID_HEX_LEN + 1];
	double now = store_now();
	int rc;

	if (!stmt)
		return -1;
	sqlite3_bind_text(stmt, 1, in->name, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		bool moves = strcmp((const char *)sqlite3_column_text(stmt, 1), in->cluster) != 0;
		int64_t active = sqlite3_column_int64(stmt, 2);
		const char *held = (const char *)sqlite3_column_text(stmt, 3);
		bool proven = node_credential_proven(held, proof_sha256);

		snprintf(id, sizeof(id), "%s", (const char *)sqlite3_column_text(stmt, 0));
		if (held && !proven) {
			sqlite3_reset(stmt);
			return orch_fail(err, ORCH_ERR_CONFLICT,
					 "node '%.255s' (%s) is registered and the request does not "
					 "prove its current credential; a node whose credential is "
					 "lost must be removed by an operator (orch node rm %s) "
					 "before it can join again", in->name, id, id);
		}
		sqlite3_reset(stmt);
		if (moves && active > 0)
			return orch_fail(err, ORCH_ERR_CONFLICT,
					 "node '%.255s' has %lld tasks that are not stopped in another "
					 "cluster; stop them or deregister the node first", in->name,
					 (long long)active);
		stmt = store_prepare(s, STORE_WRITER, sql_node_reregister, err);
		if (!stmt)
			return -1;
		sqlite3_bind_text(stmt, 1, id, -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 2, in->cluster, -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 3, credential_sha256, -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 4, in->advertise_address, -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 5, in->attributes, -1, SQLITE_STATIC);
		sqlite3_bind_int64(stmt, 6, in->cpu);
		sqlite3_bind_int64(stmt, 7, in->memory);
		sqlite3_bind_double(stmt, 8, now);
		*created = false;
	} else if (rc == SQLITE_DONE) {
		sqlite3_reset(stmt);
		snprintf(id, sizeof(id), "%s", new_id);
		stmt = store_prepare(s, STORE_WRITER, sql_node_insert, err);
		if (!stmt)
			return -1;
		sqlite3_bind_text(stmt, 1, id, -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 2, in->cluster, -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 3, in->name, -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 4, credential_sha256, -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 5, in->advertise_address, -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 6, in->attributes, -1, SQLITE_STATIC);
		sqlite3_bind_int64(stmt, 7, in->cpu);
		sqlite3_bind_int64(stmt, 8, in->memory);
		sqlite3_bind_double(stmt, 9, now);
		*created = true;
	} else {
		store_fail_stmt(stmt, err, "looking up a node");
		sqlite3_reset(stmt);
		return -1;
	}
	rc = sqlite3_step(stmt);
	sqlite3_reset(stmt);
	if (rc != SQLITE_DONE)
		return store_fail(s, err, "registering a node");
	return store_node_get(s, STORE_WRITER, NULL, id, out, err);
}

int store_node_status(struct store *s, const char *id, char *buf, size_t size, orch_error *err)
{
	sqlite3_stmt *stmt = store_prepare(s, STORE_WRITER, sql_node_status, err);
	int rc;

	if (!stmt)
		return -1;
	sqlite3_bind_text(stmt, 1, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		snprintf(buf, size, "%s", (const char *)sqlite3_column_text(stmt, 0));
	sqlite3_reset(stmt);
	if (rc == SQLITE_DONE)
		return orch_fail(err, ORCH_ERR_NOT_FOUND, "node '%.64s' not found", id);
	if (rc != SQLITE_ROW)
		return orch_fail(err, ORCH_ERR_INTERNAL, "reading a node's status");
	return 0;
}

int store_node_by_credential(struct store *s, const char *credential_sha256,
			     char *id_out, size_t id_size, orch_error *err)
{
	sqlite3_stmt *stmt = store_prepare(s, STORE_READER, sql_node_by_credential, err);
	int rc;

	if (!stmt)
		return -1;
	sqlite3_bind_text(stmt, 1, credential_sha256, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		snprintf(id_out, id_size, "%s", (const char *)sqlite3_column_text(stmt, 0));
	sqlite3_reset(stmt);
	if (rc == SQLITE_DONE)
		return orch_fail(err, ORCH_ERR_NOT_FOUND, "unknown node credential");
	if (rc != SQLITE_ROW)
		return orch_fail(err, ORCH_ERR_INTERNAL, "looking up a node credential");
	return 0;
}

static int node_exec(struct store *s, const char *sql, const char *id, const char *a,
		     const char *b, bool with_time, orch_error *err)
{
	sqlite3_stmt *stmt = store_prepare(s, STORE_WRITER, sql, err);
	int rc, arg = 2;

	if (!stmt)
		return -1;
	sqlite3_bind_text(stmt, 1, id, -1, SQLITE_STATIC);
	if (a) {
		sqlite3_bind_text(stmt, arg++, a, -1, SQLITE_STATIC);
		if (b)
			sqlite3_bind_text(stmt, arg, b, -1, SQLITE_STATIC);
		arg++;
	}
	if (with_time)
		sqlite3_bind_double(stmt, arg, store_now());
	rc = sqlite3_step(stmt);
	sqlite3_reset(stmt);
	if (rc != SQLITE_DONE)
		return store_fail(s, err, "updating a node");
	if (sqlite3_changes(sqlite3_db_handle(stmt)) == 0)
		return orch_fail(err, ORCH_ERR_NOT_FOUND, "node '%.64s' not found", id);
	return 0;
}

int store_node_set_status(struct store *s, const char *id, const char *status,
			  const char *status_before_lost, orch_error *err)
{
	return node_exec(s, sql_node_set_status, id, status, status_before_lost, true, err);
}

int store_node_deregister(struct store *s, const char *id, orch_error *err)
{
	return node_exec(s, sql_node_deregister, id, NULL, NULL, true, err);
}

int store_node_touch(struct store *s, const char *id, double now, orch_error *err)
{
	sqlite3_stmt *stmt = store_prepare(s, STORE_WRITER, sql_node_touch, err);
	int rc;

	if (!stmt)
		return -1;
	sqlite3_bind_text(stmt, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_double(stmt, 2, now);
	rc = sqlite3_step(stmt);
	sqlite3_reset(stmt);
	return rc == SQLITE_DONE ? 0 : store_fail(s, err, "updating a node");
}

static void node_release(void *record)
{
	store_node_release(record);
}

int store_node_list(struct store *s, enum store_conn conn, const struct store_node_query *q,
		    struct store_node **out, int *count, bool *more, orch_error *err)
{
	sqlite3_stmt *stmt = store_prepare(s, conn, sql_node_page, err);

	if (!stmt)
		return -1;
	if (q->cluster)
		sqlite3_bind_text(stmt, 1, q->cluster, -1, SQLITE_STATIC);
	if (q->status)
		sqlite3_bind_text(stmt, 2, q->status, -1, SQLITE_STATIC);
	if (q->after_id)
		sqlite3_bind_text(stmt, 3, q->after_id, -1, SQLITE_STATIC);
	sqlite3_bind_int(stmt, 4, q->limit + 1);
	return store_rows(stmt, q->limit, sizeof(**out), node_from_row, node_release, "listing nodes",
			  (void **)out, count, more, err);
}
