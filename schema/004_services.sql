-- 004_services.sql - services, their deployments and events.
--
-- services: one row per (cluster, name).  status follows ECS: ACTIVE, then
-- DRAINING once deleted while tasks still stop, then INACTIVE; a name whose
-- service is INACTIVE can be created again (the row is reused).  config is
-- the JSON of what the user set that the reconciler reads as a whole:
--   {"deploymentConfiguration": {...}, "placementConstraints": [...],
--    "placementStrategy": [...], "healthCheckGracePeriodSeconds": N,
--    "loadBalancers": [...], "autoScaling": {...} or absent}
-- stable_family/stable_revision: the task definition of the last deployment
-- that COMPLETED (where a circuit breaker rolls back to).  launch_failures
-- and next_launch_at are the launch throttle (consecutive failed tasks and
-- the earliest time the next task may be launched); placement_reason is the
-- last "unable to place" reason recorded as an event, so it is said once
-- per change.
--
-- service_deployments: seq orders a service's deployments (newest highest);
-- status PRIMARY (exactly one per live service), ACTIVE (older ones still
-- holding tasks), INACTIVE (done, kept a little for history).
--
-- service_events: newest first by id, bounded per service.
--
-- The CHECKs spell their lists with OR: SQLite builds a temporary index for
-- an IN list on every row it checks, and deployments are updated often.
--
-- tasks.deployment_id names the deployment a service task belongs to.
-- tasks.service_done is 1 once the reconciler has accounted for the task
-- after it stopped (failure counts, throttle, events); tasks_of_service
-- holds exactly a service's tasks it still has to look at.

DROP TABLE services;
CREATE TABLE services (
    cluster              TEXT NOT NULL REFERENCES clusters(name),
    name                 TEXT NOT NULL,
    status               TEXT NOT NULL CHECK (status = 'ACTIVE' OR status = 'DRAINING' OR status = 'INACTIVE'),
    scheduling_strategy  TEXT NOT NULL CHECK (scheduling_strategy = 'REPLICA' OR scheduling_strategy = 'DAEMON'),
    desired_count        INTEGER NOT NULL CHECK (desired_count >= 0),
    config               TEXT NOT NULL DEFAULT '{}',
    stable_family        TEXT,
    stable_revision      INTEGER,
    launch_failures      INTEGER NOT NULL DEFAULT 0,
    next_launch_at       REAL NOT NULL DEFAULT 0,
    placement_reason     TEXT,
    created_at           REAL NOT NULL,
    updated_at           REAL NOT NULL,
    version              INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (cluster, name)
) WITHOUT ROWID;

CREATE TABLE service_deployments (
    id                    TEXT PRIMARY KEY,
    cluster               TEXT NOT NULL,
    service               TEXT NOT NULL,
    seq                   INTEGER NOT NULL,
    status                TEXT NOT NULL CHECK (status = 'PRIMARY' OR status = 'ACTIVE' OR status = 'INACTIVE'),
    family                TEXT NOT NULL,
    revision              INTEGER NOT NULL,
    desired_count         INTEGER NOT NULL DEFAULT 0,
    running_count         INTEGER NOT NULL DEFAULT 0,
    pending_count         INTEGER NOT NULL DEFAULT 0,
    failed_tasks          INTEGER NOT NULL DEFAULT 0,
    rollout_state         TEXT NOT NULL CHECK (rollout_state = 'IN_PROGRESS' OR rollout_state = 'COMPLETED' OR rollout_state = 'FAILED'),
    rollout_state_reason  TEXT NOT NULL DEFAULT '',
    created_at            REAL NOT NULL,
    updated_at            REAL NOT NULL,
    FOREIGN KEY (cluster, service) REFERENCES services(cluster, name)
) WITHOUT ROWID;
CREATE INDEX deployments_of_service ON service_deployments(cluster, service, seq);

CREATE TABLE service_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    cluster     TEXT NOT NULL,
    service     TEXT NOT NULL,
    created_at  REAL NOT NULL,
    message     TEXT NOT NULL
);
CREATE INDEX events_of_service ON service_events(cluster, service, id);

ALTER TABLE tasks ADD COLUMN deployment_id TEXT;
ALTER TABLE tasks ADD COLUMN service_done INTEGER NOT NULL DEFAULT 0;
CREATE INDEX tasks_of_service ON tasks(cluster, service_name)
    WHERE service_name IS NOT NULL AND service_done = 0;
