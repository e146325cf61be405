-- 003_history.sql - bounded history and idempotent RunTask.
--
-- Stopped tasks are deleted once they have been stopped longer than the
-- server's --task-retention, if no node still has to hear about them (the
-- agent reported them STOPPED, they were never placed, or their node is
-- gone).  The age counts from tasks.stopped_recorded_at, the server's clock
-- when the task became STOPPED (stopped_at may be an agent's clock).
-- tasks_stopped_by_age finds them without a scan; it holds only stopped
-- tasks, so creating a task does not touch it.
--
-- run_tokens remembers RunTask's clientToken per cluster for 24 hours:
-- request_sha256 is the SHA-256 (hex) of the request without the token, so
-- a retry with the same parameters gets the original tasks back and one with
-- other parameters is refused; task_ids lists the created task IDs,
-- space-separated, in creation order.
--
-- Three indexes go, each written by every task insert: ListTasks pages a
-- cluster's tasks in rowid order with optional filters, which only
-- tasks_by_cluster (cluster, rowid) serves without sorting the whole
-- cluster, so tasks_by_cluster_desired and tasks_by_cluster_family only
-- cost; and the tasks of a node that are not stopped are a subset of its
-- desired set (tasks_desired_on_node), since a task whose agent reported
-- STOPPED is STOPPED.

DROP INDEX tasks_by_cluster_desired;
DROP INDEX tasks_by_cluster_family;
DROP INDEX tasks_not_stopped;

ALTER TABLE tasks ADD COLUMN stopped_recorded_at REAL;
UPDATE tasks SET stopped_recorded_at = coalesce(stopped_at, created_at)
    WHERE last_status = 'STOPPED';
CREATE INDEX tasks_stopped_by_age ON tasks(stopped_recorded_at) WHERE last_status = 'STOPPED';

CREATE TABLE run_tokens (
    cluster         TEXT NOT NULL,
    token           TEXT NOT NULL,
    request_sha256  TEXT NOT NULL,
    task_ids        TEXT NOT NULL,
    created_at      REAL NOT NULL,
    PRIMARY KEY (cluster, token)
) WITHOUT ROWID;
CREATE INDEX run_tokens_by_age ON run_tokens(created_at);
