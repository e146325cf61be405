/*
 * store_migrations.h - the schema migrations compiled into the binary.
 *
 * Generated at build time from schema/NNN_*.sql (scripts/embed_schema.cmake),
 * in ascending version order.  Version N is recorded in PRAGMA user_version
 * once its SQL has run.
 */
#ifndef ORCH_STORE_MIGRATIONS_H
#define ORCH_STORE_MIGRATIONS_H

struct store_migration {
	int version;
	const char *name;
	const char *sql;
};

extern const struct store_migration store_migrations[];
extern const int store_migration_count;

#endif
