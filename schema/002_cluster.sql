-- 002_cluster.sql - nodes (ECS container instances) and the columns a task
-- needs to be placed, run, stopped and described.
--
-- nodes.status: ACTIVE, DRAINING, LOST (silent past the server's grace; orch's
-- addition to ECS's set) and INACTIVE (deregistered).  status_before_lost keeps
-- ACTIVE or DRAINING so a node that reports again returns to what it was.
-- credential_sha256 is the SHA-256 (hex) of the node's current credential;
-- NULL once revoked (deregistration).
--
-- tasks.last_status follows ECS: PROVISIONING (not placed yet; pending_reason
-- says why), PENDING (placed, the agent is starting it), RUNNING, STOPPING
-- (desired STOPPED, the agent is stopping it), STOPPED (final).
-- tasks.agent_status is the last lifecycle status the node's agent reported:
-- a task stays in its node's desired set until the agent reported it STOPPED
-- (fencing after LOST, stops across restarts).  tasks.placement is the
-- scheduler request (cpu, memory, host ports, group, constraints, strategy)
-- so placement can be redone after a restart.

CREATE TABLE nodes (
    id                  TEXT PRIMARY KEY,
    cluster             TEXT NOT NULL REFERENCES clusters(name),
    name                TEXT NOT NULL UNIQUE,
    status              TEXT NOT NULL
                        CHECK (status IN ('ACTIVE', 'DRAINING', 'LOST', 'INACTIVE')),
    status_before_lost  TEXT,
    credential_sha256   TEXT UNIQUE,
    advertise_address   TEXT NOT NULL DEFAULT '',
    cpu                 INTEGER NOT NULL CHECK (cpu >= 0),
    memory              INTEGER NOT NULL CHECK (memory >= 0),
    attributes          TEXT NOT NULL DEFAULT '{}',
    registered_at       REAL NOT NULL,
    updated_at          REAL NOT NULL,
    last_seen_at        REAL,
    version             INTEGER NOT NULL DEFAULT 1
) WITHOUT ROWID;
CREATE INDEX nodes_by_cluster ON nodes(cluster, id);

ALTER TABLE tasks ADD COLUMN family TEXT NOT NULL DEFAULT '';
ALTER TABLE tasks ADD COLUMN revision INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tasks ADD COLUMN node_id TEXT;
ALTER TABLE tasks ADD COLUMN last_status TEXT NOT NULL DEFAULT 'PROVISIONING';
ALTER TABLE tasks ADD COLUMN desired_status TEXT NOT NULL DEFAULT 'RUNNING';
ALTER TABLE tasks ADD COLUMN agent_status TEXT;
ALTER TABLE tasks ADD COLUMN pending_reason TEXT;
ALTER TABLE tasks ADD COLUMN stop_code TEXT;
ALTER TABLE tasks ADD COLUMN stopped_reason TEXT;
ALTER TABLE tasks ADD COLUMN health_status TEXT;
ALTER TABLE tasks ADD COLUMN cpu INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tasks ADD COLUMN memory INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tasks ADD COLUMN created_at REAL NOT NULL DEFAULT 0;
ALTER TABLE tasks ADD COLUMN started_at REAL;
ALTER TABLE tasks ADD COLUMN stopping_at REAL;
ALTER TABLE tasks ADD COLUMN stopped_at REAL;
ALTER TABLE tasks ADD COLUMN overrides_json TEXT NOT NULL DEFAULT '{}';
ALTER TABLE tasks ADD COLUMN containers_json TEXT NOT NULL DEFAULT '[]';
ALTER TABLE tasks ADD COLUMN placement_json TEXT NOT NULL DEFAULT '{}';
ALTER TABLE tasks ADD COLUMN task_group TEXT NOT NULL DEFAULT '';
ALTER TABLE tasks ADD COLUMN started_by TEXT;
ALTER TABLE tasks ADD COLUMN service_name TEXT;
ALTER TABLE tasks ADD COLUMN version INTEGER NOT NULL DEFAULT 1;

-- A node's desired set: its tasks the agent has not reported STOPPED.
CREATE INDEX tasks_desired_on_node ON tasks(node_id)
    WHERE node_id IS NOT NULL AND agent_status IS NOT 'STOPPED';
-- Tasks waiting for capacity, oldest first (rowid is creation order).
CREATE INDEX tasks_unplaced ON tasks(cluster)
    WHERE node_id IS NULL AND last_status = 'PROVISIONING';
-- Tasks holding resources (scheduler rebuild at start).
CREATE INDEX tasks_not_stopped ON tasks(node_id) WHERE last_status != 'STOPPED';
CREATE INDEX tasks_by_cluster_desired ON tasks(cluster, desired_status);
CREATE INDEX tasks_by_cluster_family ON tasks(cluster, family);
