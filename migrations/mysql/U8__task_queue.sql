-- U8: undo V8, drops the scheduler heartbeats, the target locks and the queue columns of tasks

DROP TABLE IF EXISTS certdeck_schedulers;

DROP TABLE IF EXISTS task_target_locks;

ALTER TABLE tasks
  DROP INDEX idx_lease,
  DROP INDEX idx_claim,
  DROP COLUMN last_heartbeat_at,
  DROP COLUMN lease_expires_at,
  DROP COLUMN lease_generation,
  DROP COLUMN locked_by,
  DROP COLUMN max_attempts,
  DROP COLUMN attempts;
