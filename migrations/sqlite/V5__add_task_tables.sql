-- V5: task tables tasks, task_logs, scheduled_tasks (design 2.5)

CREATE TABLE tasks (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  task_type TEXT NOT NULL CHECK (task_type IN ('certificate_issue', 'certificate_renew', 'certificate_deploy', 'server_check', 'monitor_check')),
  status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'running', 'completed', 'failed', 'cancelled')),
  priority INTEGER NOT NULL DEFAULT 5,
  target_type TEXT CHECK (length(target_type) <= 50),
  target_id INTEGER,
  params TEXT CHECK (params IS NULL OR json_valid(params)),
  result TEXT CHECK (result IS NULL OR json_valid(result)),
  error_message TEXT,
  progress INTEGER NOT NULL DEFAULT 0,
  scheduled_at TEXT NOT NULL,
  started_at TEXT,
  completed_at TEXT,
  created_by INTEGER,
  created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
  updated_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
  CONSTRAINT fk_tasks_user FOREIGN KEY (created_by) REFERENCES users (id)
);

CREATE INDEX tasks_idx_task_type ON tasks (task_type);
CREATE INDEX tasks_idx_status ON tasks (status);
CREATE INDEX tasks_idx_priority ON tasks (priority);
CREATE INDEX tasks_idx_target ON tasks (target_type, target_id);
CREATE INDEX tasks_idx_scheduled_at ON tasks (scheduled_at);
CREATE INDEX tasks_fk_tasks_user ON tasks (created_by);

CREATE TRIGGER tasks_touch_updated_at AFTER UPDATE ON tasks FOR EACH ROW
WHEN NEW.updated_at IS OLD.updated_at
BEGIN
  UPDATE tasks SET updated_at = CURRENT_TIMESTAMP WHERE id = NEW.id;
END;

CREATE TABLE task_logs (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  task_id INTEGER NOT NULL,
  log_level TEXT NOT NULL DEFAULT 'info' CHECK (log_level IN ('debug', 'info', 'warning', 'error')),
  message TEXT NOT NULL,
  data TEXT CHECK (data IS NULL OR json_valid(data)),
  created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
  CONSTRAINT fk_task_logs_task FOREIGN KEY (task_id) REFERENCES tasks (id)
);

CREATE INDEX task_logs_idx_log_level ON task_logs (log_level);
CREATE INDEX task_logs_idx_created_at ON task_logs (created_at);
CREATE INDEX task_logs_fk_task_logs_task ON task_logs (task_id);

CREATE TABLE scheduled_tasks (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL CHECK (length(name) <= 100),
  task_type TEXT NOT NULL CHECK (task_type IN ('certificate_check', 'server_check', 'backup', 'cleanup')),
  cron_expression TEXT NOT NULL CHECK (length(cron_expression) <= 100),
  params TEXT CHECK (params IS NULL OR json_valid(params)),
  is_active INTEGER NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),
  last_run_at TEXT,
  next_run_at TEXT,
  created_by INTEGER,
  created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
  updated_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
  CONSTRAINT fk_scheduled_tasks_user FOREIGN KEY (created_by) REFERENCES users (id)
);

CREATE INDEX scheduled_tasks_idx_task_type ON scheduled_tasks (task_type);
CREATE INDEX scheduled_tasks_idx_is_active ON scheduled_tasks (is_active);
CREATE INDEX scheduled_tasks_idx_next_run_at ON scheduled_tasks (next_run_at);
CREATE INDEX scheduled_tasks_fk_scheduled_tasks_user ON scheduled_tasks (created_by);

CREATE TRIGGER scheduled_tasks_touch_updated_at AFTER UPDATE ON scheduled_tasks FOR EACH ROW
WHEN NEW.updated_at IS OLD.updated_at
BEGIN
  UPDATE scheduled_tasks SET updated_at = CURRENT_TIMESTAMP WHERE id = NEW.id;
END;
