-- V8: task queue: leases, attempts and fencing on tasks, per-target run locks, scheduler heartbeats

ALTER TABLE tasks
  ADD COLUMN attempts INT NOT NULL DEFAULT 0,
  ADD COLUMN max_attempts INT NOT NULL DEFAULT 5,
  ADD COLUMN locked_by VARCHAR(100),
  ADD COLUMN lease_generation BIGINT NOT NULL DEFAULT 0,
  ADD COLUMN lease_expires_at DATETIME,
  ADD COLUMN last_heartbeat_at DATETIME,
  ADD INDEX idx_claim (status, priority, scheduled_at),
  ADD INDEX idx_lease (status, lease_expires_at);

CREATE TABLE task_target_locks (
  target_type VARCHAR(50) NOT NULL,
  target_id BIGINT NOT NULL,
  task_id BIGINT NOT NULL,
  locked_by VARCHAR(100) NOT NULL,
  created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
  PRIMARY KEY (target_type, target_id),
  KEY idx_task_id (task_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE certdeck_schedulers (
  worker_id VARCHAR(100) NOT NULL,
  hostname VARCHAR(255) NOT NULL,
  pid INT NOT NULL,
  version VARCHAR(50) NOT NULL,
  mode VARCHAR(20) NOT NULL,
  concurrency INT NOT NULL,
  started_at DATETIME NOT NULL,
  heartbeat_at DATETIME NOT NULL,
  stopped_at DATETIME,
  PRIMARY KEY (worker_id),
  KEY idx_heartbeat_at (heartbeat_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
