-- V8: task queue: leases, attempts and fencing on tasks, per-target run locks, scheduler heartbeats

ALTER TABLE tasks ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tasks ADD COLUMN max_attempts INTEGER NOT NULL DEFAULT 5;
ALTER TABLE tasks ADD COLUMN locked_by TEXT CHECK (length(locked_by) <= 100);
ALTER TABLE tasks ADD COLUMN lease_generation INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tasks ADD COLUMN lease_expires_at TEXT;
ALTER TABLE tasks ADD COLUMN last_heartbeat_at TEXT;

CREATE INDEX tasks_idx_claim ON tasks (status, priority, scheduled_at);
CREATE INDEX tasks_idx_lease ON tasks (status, lease_expires_at);

CREATE TABLE task_target_locks (
  target_type TEXT NOT NULL CHECK (length(target_type) <= 50),
  target_id INTEGER NOT NULL,
  task_id INTEGER NOT NULL,
  locked_by TEXT NOT NULL CHECK (length(locked_by) <= 100),
  created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
  PRIMARY KEY (target_type, target_id)
);

CREATE INDEX task_target_locks_idx_task_id ON task_target_locks (task_id);

CREATE TABLE certdeck_schedulers (
  worker_id TEXT NOT NULL PRIMARY KEY CHECK (length(worker_id) <= 100),
  hostname TEXT NOT NULL CHECK (length(hostname) <= 255),
  pid INTEGER NOT NULL,
  version TEXT NOT NULL CHECK (length(version) <= 50),
  mode TEXT NOT NULL CHECK (length(mode) <= 20),
  concurrency INTEGER NOT NULL,
  started_at TEXT NOT NULL,
  heartbeat_at TEXT NOT NULL,
  stopped_at TEXT
);

CREATE INDEX certdeck_schedulers_idx_heartbeat_at ON certdeck_schedulers (heartbeat_at);
