-- 001_init.sql - clusters and task definitions, the first resources of the API.
--
-- task_definition_families.last_revision only ever grows, so a revision is
-- never handed out twice, also after deregistration.  tasks and services
-- start with only what cluster deletion needs to check; later migrations add
-- their columns.

CREATE TABLE clusters (
    name        TEXT PRIMARY KEY,
    created_at  REAL NOT NULL
) WITHOUT ROWID;

CREATE TABLE task_definition_families (
    family         TEXT PRIMARY KEY,
    last_revision  INTEGER NOT NULL CHECK (last_revision > 0)
) WITHOUT ROWID;

CREATE TABLE task_definitions (
    family           TEXT NOT NULL REFERENCES task_definition_families(family),
    revision         INTEGER NOT NULL CHECK (revision > 0),
    status           TEXT NOT NULL CHECK (status IN ('ACTIVE', 'INACTIVE')),
    registered_at    REAL NOT NULL,
    deregistered_at  REAL,
    body             TEXT NOT NULL,
    ignored_fields   TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (family, revision)
) WITHOUT ROWID;

CREATE TABLE services (
    cluster  TEXT NOT NULL REFERENCES clusters(name),
    name     TEXT NOT NULL,
    PRIMARY KEY (cluster, name)
) WITHOUT ROWID;

CREATE TABLE tasks (
    id       TEXT PRIMARY KEY,
    cluster  TEXT NOT NULL REFERENCES clusters(name)
);
CREATE INDEX tasks_by_cluster ON tasks(cluster);
