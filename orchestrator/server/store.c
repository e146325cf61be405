/*
 * store.c - opening the SQLite database, migrations, transactions and the
 * prepared-statement cache.  Resource-specific queries live in store_*.c.
 */
#include "store_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "store_migrations.h"

/* How long a statement waits for a lock held by another connection. */
#define STORE_BUSY_TIMEOUT_MS 5000
/* Distinct statements the cache holds; the whole program uses fewer. */
#define STORE_STMT_CACHE_SIZE 128
/*
 * The WAL file is cut back to this size after a checkpoint resets it, so a
 * burst of writes does not leave a large file behind.
 */
#define STORE_WAL_SIZE_LIMIT 67108864
/* orch.db and its -wal and -shm files: the server's user only. */
#define STORE_FILE_MODE 0600
/* Page cache of the writer, KiB (SQLite's default is 2 MiB). */
#define STORE_CACHE_KIB 16384
#define STORE_STR_(x) #x
#define STORE_STR(x) STORE_STR_(x)

struct store_stmt_entry {
	const char *sql;
	enum store_conn conn;
	sqlite3_stmt *stmt;
};

struct store {
	sqlite3 *db;		/* the one writer */
	sqlite3 *reader;	/* read-only: sees committed state only */
	struct store_stmt_entry stmts[STORE_STMT_CACHE_SIZE];
	int stmt_count;
};

int store_known_schema_version(void)
{
	return store_migration_count > 0 ? store_migrations[store_migration_count - 1].version : 0;
}

double store_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)(ts.tv_nsec / 1000000) / 1000.0;
}

int store_fail(struct store *s, orch_error *err, const char *what)
{
	return orch_fail(err, ORCH_ERR_INTERNAL, "%s: %s", what, sqlite3_errmsg(s->db));
}

int store_fail_stmt(sqlite3_stmt *stmt, orch_error *err, const char *what)
{
	return orch_fail(err, ORCH_ERR_INTERNAL, "%s: %s", what,
			 sqlite3_errmsg(sqlite3_db_handle(stmt)));
}

char *store_column_dup(sqlite3_stmt *stmt, int col)
{
	const unsigned char *v = sqlite3_column_text(stmt, col);

	return v ? strdup((const char *)v) : NULL;
}

int store_get_by_id(struct store *s, enum store_conn conn, const char *sql, const char *kind,
		    const char *cluster, const char *id, store_row_fn from_row, void *out,
		    orch_error *err)
{
	sqlite3_stmt *stmt = store_prepare(s, conn, sql, err);
	int rc;

	if (!stmt)
		return -1;
	sqlite3_bind_text(stmt, 1, id, -1, SQLITE_STATIC);
	if (cluster)
		sqlite3_bind_text(stmt, 2, cluster, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_DONE) {
		sqlite3_reset(stmt);
		return orch_fail(err, ORCH_ERR_NOT_FOUND, "%s '%.64s' not found%s%.255s%s", kind, id,
				 cluster ? " in cluster '" : "", cluster ? cluster : "",
				 cluster ? "'" : "");
	}
	if (rc != SQLITE_ROW) {
		orch_fail(err, ORCH_ERR_INTERNAL, "reading a %s: %s", kind,
			  sqlite3_errmsg(sqlite3_db_handle(stmt)));
		sqlite3_reset(stmt);
		return -1;
	}
	rc = from_row(stmt, out, err);
	sqlite3_reset(stmt);
	return rc;
}

int store_rows(sqlite3_stmt *stmt, int limit, size_t record_size, store_row_fn from_row,
	       store_release_fn release, const char *what, void **out, int *count, bool *more,
	       orch_error *err)
{
	char *list = NULL;
	int n = 0, cap = 0, rc;

	if (more)
		*more = false;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		if (limit > 0 && n == limit) {
			if (more)
				*more = true;
			break;
		}
		if (n == cap) {
			char *grown;

			cap = cap ? cap * 2 : 16;
			grown = realloc(list, record_size * (size_t)cap);
			if (!grown) {
				orch_fail_errno(err, ENOMEM, "%s", what);
				goto fail;
			}
			list = grown;
		}
		if (from_row(stmt, list + record_size * (size_t)n, err) < 0)
			goto fail;
		n++;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		store_fail_stmt(stmt, err, what);
		goto fail;
	}
	sqlite3_reset(stmt);
	*out = list;
	*count = n;
	return 0;
fail:
	sqlite3_reset(stmt);
	for (int i = 0; i < n; i++)
		release(list + record_size * (size_t)i);
	free(list);
	return -1;
}

static int store_exec(struct store *s, const char *sql, orch_error *err)
{
	char *msg = NULL;

	if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		orch_fail(err, ORCH_ERR_INTERNAL, "%s", msg ? msg : sqlite3_errmsg(s->db));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

static int store_user_version(struct store *s, int *version, orch_error *err)
{
	sqlite3_stmt *stmt;
	int rc;

	if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &stmt, NULL) != SQLITE_OK)
		return store_fail(s, err, "reading the schema version");
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		*version = sqlite3_column_int(stmt, 0);
	sqlite3_finalize(stmt);
	if (rc != SQLITE_ROW)
		return store_fail(s, err, "reading the schema version");
	return 0;
}

/* Applies every migration above the database's current version. */
static int store_migrate(struct store *s, int version, orch_error *err)
{
	for (int i = 0; i < store_migration_count; i++) {
		const struct store_migration *m = &store_migrations[i];
		char pragma[64];

		if (m->version <= version)
			continue;
		snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", m->version);
		if (store_exec(s, "BEGIN IMMEDIATE", err) < 0)
			return orch_error_prefix(err, "migration '%s'", m->name);
		if (store_exec(s, m->sql, err) < 0 || store_exec(s, pragma, err) < 0 ||
		    store_exec(s, "COMMIT", err) < 0) {
			sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
			return orch_error_prefix(err, "migration '%s'", m->name);
		}
		log_info("store: applied migration %s", m->name);
	}
	return 0;
}

/*
 * The database holds node credential hashes, secrets and task environments:
 * only the server's user may read it.  The file is created (or tightened)
 * 0600 before SQLite opens it, and SQLite gives the -wal and -shm files it
 * creates the database file's mode; files of those left by an older orch
 * are tightened too.
 */
static int store_files_private(const char *path, orch_error *err)
{
	static const char *const suffixes[] = { "-wal", "-shm" };
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, STORE_FILE_MODE);

	if (fd < 0)
		return orch_fail_errno(err, errno, "opening database '%s'", path);
	if (fchmod(fd, STORE_FILE_MODE) < 0) {
		orch_fail_errno(err, errno, "chmod '%s'", path);
		close(fd);
		return -1;
	}
	close(fd);
	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		char side[PATH_MAX];

		if (snprintf(side, sizeof(side), "%s%s", path, suffixes[i]) >= (int)sizeof(side))
			return orch_fail(err, ORCH_ERR_INVALID, "database path '%s' is too long", path);
		if (chmod(side, STORE_FILE_MODE) < 0 && errno != ENOENT)
			return orch_fail_errno(err, errno, "chmod '%s'", side);
	}
	return 0;
}

int store_open(const char *path, struct store **out, orch_error *err)
{
	struct store *s;
	int version = 0;

	if (store_files_private(path, err) < 0)
		return -1;
	s = calloc(1, sizeof(*s));
	if (!s)
		return orch_fail_errno(err, ENOMEM, "allocating the store");
	if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
			    SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		orch_fail(err, ORCH_ERR_INTERNAL, "opening database '%s': %s", path,
			  s->db ? sqlite3_errmsg(s->db) : "out of memory");
		store_close(s);
		return -1;
	}
	sqlite3_extended_result_codes(s->db, 1);
	sqlite3_busy_timeout(s->db, STORE_BUSY_TIMEOUT_MS);

	/* Refuse a newer database before any pragma could write to it. */
	if (store_user_version(s, &version, err) < 0)
		goto fail;
	if (version > store_known_schema_version()) {
		orch_fail(err, ORCH_ERR_CONFLICT,
			  "database '%s' has schema version %d, newer than this orch supports (%d); "
			  "run a newer orch, the database was not modified",
			  path, version, store_known_schema_version());
		goto fail;
	}
	if (store_exec(s, "PRAGMA journal_mode = WAL", err) < 0 ||
	    store_exec(s, "PRAGMA synchronous = FULL", err) < 0 ||
	    store_exec(s, "PRAGMA foreign_keys = ON", err) < 0 ||
	    store_exec(s, "PRAGMA journal_size_limit = " STORE_STR(STORE_WAL_SIZE_LIMIT), err) < 0 ||
	    store_exec(s, "PRAGMA cache_size = -" STORE_STR(STORE_CACHE_KIB), err) < 0)
		goto fail;
	if (store_migrate(s, version, err) < 0)
		goto fail;
	if (store_exec(s, "INSERT OR IGNORE INTO clusters(name, created_at) "
		       "VALUES ('" STORE_DEFAULT_CLUSTER "', (julianday('now') - 2440587.5) * 86400.0)", err) < 0)
		goto fail;
	if (sqlite3_open_v2(path, &s->reader, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX,
			    NULL) != SQLITE_OK) {
		orch_fail(err, ORCH_ERR_INTERNAL, "opening a reader: %s",
			  s->reader ? sqlite3_errmsg(s->reader) : "out of memory");
		goto fail;
	}
	sqlite3_busy_timeout(s->reader, STORE_BUSY_TIMEOUT_MS);
	*out = s;
	return 0;
fail:
	orch_error_prefix(err, "store '%s'", path);
	store_close(s);
	return -1;
}

int store_changes(struct store *s)
{
	return sqlite3_changes(s->db);
}

void store_close(struct store *s)
{
	if (!s)
		return;
	for (int i = 0; i < s->stmt_count; i++)
		sqlite3_finalize(s->stmts[i].stmt);
	if (s->reader && sqlite3_close(s->reader) != SQLITE_OK)
		log_warn("store: closing the reader: %s", sqlite3_errmsg(s->reader));
	/* The writer closes last: closing the last connection checkpoints the WAL. */
	if (s->db && sqlite3_close(s->db) != SQLITE_OK)
		log_warn("store: closing the database: %s", sqlite3_errmsg(s->db));
	free(s);
}

sqlite3_stmt *store_prepare(struct store *s, enum store_conn conn, const char *sql,
			    orch_error *err)
{
	sqlite3 *db = conn == STORE_READER ? s->reader : s->db;
	sqlite3_stmt *stmt;

	for (int i = 0; i < s->stmt_count; i++) {
		if (s->stmts[i].sql == sql && s->stmts[i].conn == conn) {
			stmt = s->stmts[i].stmt;
			sqlite3_reset(stmt);
			sqlite3_clear_bindings(stmt);
			return stmt;
		}
	}
	if (s->stmt_count == STORE_STMT_CACHE_SIZE) {
		orch_fail(err, ORCH_ERR_INTERNAL, "statement cache full");
		return NULL;
	}
	if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, NULL) != SQLITE_OK) {
		orch_fail(err, ORCH_ERR_INTERNAL, "preparing a statement: %s", sqlite3_errmsg(db));
		return NULL;
	}
	s->stmts[s->stmt_count].sql = sql;
	s->stmts[s->stmt_count].conn = conn;
	s->stmts[s->stmt_count].stmt = stmt;
	s->stmt_count++;
	return stmt;
}

int store_begin(struct store *s, orch_error *err)
{
	return store_exec(s, "BEGIN IMMEDIATE", err);
}

int store_commit(struct store *s, orch_error *err)
{
	if (store_exec(s, "COMMIT", err) < 0) {
		store_rollback(s);
		return orch_error_prefix(err, "commit");
	}
	return 0;
}

void store_rollback(struct store *s)
{
	if (!sqlite3_get_autocommit(s->db))
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

bool store_in_transaction(struct store *s)
{
	return !sqlite3_get_autocommit(s->db);
}

int store_savepoint(struct store *s, orch_error *err)
{
	return store_exec(s, "SAVEPOINT request", err);
}

void store_savepoint_release(struct store *s)
{
	sqlite3_exec(s->db, "RELEASE request", NULL, NULL, NULL);
}

void store_savepoint_rollback(struct store *s)
{
	sqlite3_exec(s->db, "ROLLBACK TO request", NULL, NULL, NULL);
	sqlite3_exec(s->db, "RELEASE request", NULL, NULL, NULL);
}
