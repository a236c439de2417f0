-- U8: undo V8, drops the scheduler heartbeats, the target locks and the queue columns of tasks

DROP TABLE IF EXISTS certdeck_schedulers;

DROP TABLE IF EXISTS task_target_locks;

DROP INDEX IF EXISTS tasks_idx_lease;
DROP INDEX IF EXISTS tasks_idx_claim;

ALTER TABLE tasks DROP COLUMN last_heartbeat_at;
ALTER TABLE tasks DROP COLUMN lease_expires_at;
ALTER TABLE tasks DROP COLUMN lease_generation;
ALTER TABLE tasks DROP COLUMN locked_by;
ALTER TABLE tasks DROP COLUMN max_attempts;
ALTER TABLE tasks DROP COLUMN attempts;
