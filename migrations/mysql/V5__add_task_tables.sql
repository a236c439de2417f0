-- V5: task tables tasks, task_logs, scheduled_tasks (design 2.5)

CREATE TABLE tasks (
  id BIGINT NOT NULL AUTO_INCREMENT,
  task_type ENUM('certificate_issue', 'certificate_renew', 'certificate_deploy', 'server_check', 'monitor_check') NOT NULL,
  status ENUM('pending', 'running', 'completed', 'failed', 'cancelled') NOT NULL DEFAULT 'pending',
  priority INT NOT NULL DEFAULT 5,
  target_type VARCHAR(50),
  target_id BIGINT,
  params JSON,
  result JSON,
  error_message TEXT,
  progress INT NOT NULL DEFAULT 0,
  scheduled_at DATETIME NOT NULL,
  started_at DATETIME,
  completed_at DATETIME,
  created_by BIGINT,
  created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
  updated_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  PRIMARY KEY (id),
  KEY idx_task_type (task_type),
  KEY idx_status (status),
  KEY idx_priority (priority),
  KEY idx_target (target_type, target_id),
  KEY idx_scheduled_at (scheduled_at),
  KEY fk_tasks_user (created_by),
  CONSTRAINT fk_tasks_user FOREIGN KEY (created_by) REFERENCES users (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE task_logs (
  id BIGINT NOT NULL AUTO_INCREMENT,
  task_id BIGINT NOT NULL,
  log_level ENUM('debug', 'info', 'warning', 'error') NOT NULL DEFAULT 'info',
  message TEXT NOT NULL,
  data JSON,
  created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
  PRIMARY KEY (id),
  KEY idx_log_level (log_level),
  KEY idx_created_at (created_at),
  KEY fk_task_logs_task (task_id),
  CONSTRAINT fk_task_logs_task FOREIGN KEY (task_id) REFERENCES tasks (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE scheduled_tasks (
  id BIGINT NOT NULL AUTO_INCREMENT,
  name VARCHAR(100) NOT NULL,
  task_type ENUM('certificate_check', 'server_check', 'backup', 'cleanup') NOT NULL,
  cron_expression VARCHAR(100) NOT NULL,
  params JSON,
  is_active BOOLEAN NOT NULL DEFAULT TRUE,
  last_run_at DATETIME,
  next_run_at DATETIME,
  created_by BIGINT,
  created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
  updated_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  PRIMARY KEY (id),
  KEY idx_task_type (task_type),
  KEY idx_is_active (is_active),
  KEY idx_next_run_at (next_run_at),
  KEY fk_scheduled_tasks_user (created_by),
  CONSTRAINT fk_scheduled_tasks_user FOREIGN KEY (created_by) REFERENCES users (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
