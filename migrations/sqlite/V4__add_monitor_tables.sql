-- V4: monitoring tables monitors, alerts, alert_channels, alert_channel_bindings, alert_history (design 2.4)

CREATE TABLE monitors (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  user_id INTEGER NOT NULL,
  name TEXT NOT NULL CHECK (length(name) <= 100),
  monitor_type TEXT NOT NULL CHECK (monitor_type IN ('certificate', 'server', 'domain')),
  target_id INTEGER,
  domain TEXT CHECK (length(domain) <= 255),
  port INTEGER DEFAULT 443,
  check_interval INTEGER NOT NULL DEFAULT 86400,
  is_active INTEGER NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),
  last_check_at TEXT,
  next_check_at TEXT,
  status TEXT NOT NULL DEFAULT 'unknown' CHECK (status IN ('ok', 'warning', 'error', 'unknown')),
  status_message TEXT,
  created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
  updated_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
  CONSTRAINT fk_monitors_user FOREIGN KEY (user_id) REFERENCES users (id)
);

CREATE INDEX monitors_idx_monitor_type ON monitors (monitor_type);
CREATE INDEX monitors_idx_target_id ON monitors (target_id);
CREATE INDEX monitors_idx_domain ON monitors (domain);
CREATE INDEX monitors_idx_is_active ON monitors (is_active);
CREATE INDEX monitors_idx_status ON monitors (status);
CREATE INDEX monitors_idx_next_check_at ON monitors (next_check_at);
CREATE INDEX monitors_fk_monitors_user ON monitors (user_id);

CREATE TRIGGER monitors_touch_updated_at AFTER UPDATE ON monitors FOR EACH ROW
WHEN NEW.updated_at IS OLD.updated_at
BEGIN
  UPDATE monitors SET updated_at = CURRENT_TIMESTAMP WHERE id = NEW.id;
END;

CREATE TABLE alerts (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  user_id INTEGER NOT NULL,
  name TEXT NOT NULL CHECK (length(name) <= 100),
  alert_type TEXT NOT NULL CHECK (alert_type IN ('certificate_expiry', 'server_down', 'certificate_error')),
  monitor_id INTEGER,
  condition_type TEXT NOT NULL CHECK (condition_type IN ('days_before', 'status_change', 'value_threshold')),
  condition_value TEXT NOT NULL CHECK (length(condition_value) <= 50),
  severity TEXT NOT NULL DEFAULT 'warning' CHECK (severity IN ('info', 'warning', 'error', 'critical')),
  is_active INTEGER NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),
  created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
  updated_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
  CONSTRAINT fk_alerts_user FOREIGN KEY (user_id) REFERENCES users (id),
  CONSTRAINT fk_alerts_monitor FOREIGN KEY (monitor_id) REFERENCES monitors (id)
);

CREATE INDEX alerts_idx_alert_type ON alerts (alert_type);
CREATE INDEX alerts_idx_is_active ON alerts (is_active);
CREATE INDEX alerts_fk_alerts_user ON alerts (user_id);
CREATE INDEX alerts_fk_alerts_monitor ON alerts (monitor_id);

CREATE TRIGGER alerts_touch_updated_at AFTER UPDATE ON alerts FOR EACH ROW
WHEN NEW.updated_at IS OLD.updated_at
BEGIN
  UPDATE alerts SET updated_at = CURRENT_TIMESTAMP WHERE id = NEW.id;
END;

CREATE TABLE alert_channels (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  user_id INTEGER NOT NULL,
  name TEXT NOT NULL CHECK (length(name) <= 100),
  channel_type TEXT NOT NULL CHECK (channel_type IN ('email', 'sms', 'webhook', 'wechat', 'slack')),
  config TEXT NOT NULL CHECK (config IS NULL OR json_valid(config)),
  is_active INTEGER NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),
  created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
  updated_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
  CONSTRAINT fk_alert_channels_user FOREIGN KEY (user_id) REFERENCES users (id)
);

CREATE INDEX alert_channels_idx_channel_type ON alert_channels (channel_type);
CREATE INDEX alert_channels_idx_is_active ON alert_channels (is_active);
CREATE INDEX alert_channels_fk_alert_channels_user ON alert_channels (user_id);

CREATE TRIGGER alert_channels_touch_updated_at AFTER UPDATE ON alert_channels FOR EACH ROW
WHEN NEW.updated_at IS OLD.updated_at
BEGIN
  UPDATE alert_channels SET updated_at = CURRENT_TIMESTAMP WHERE id = NEW.id;
END;

CREATE TABLE alert_channel_bindings (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  alert_id INTEGER NOT NULL,
  channel_id INTEGER NOT NULL,
  created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
  CONSTRAINT fk_bindings_alert FOREIGN KEY (alert_id) REFERENCES alerts (id),
  CONSTRAINT fk_bindings_channel FOREIGN KEY (channel_id) REFERENCES alert_channels (id)
);

CREATE UNIQUE INDEX alert_channel_bindings_idx_alert_channel ON alert_channel_bindings (alert_id, channel_id);
CREATE INDEX alert_channel_bindings_fk_bindings_channel ON alert_channel_bindings (channel_id);

CREATE TABLE alert_history (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  alert_id INTEGER NOT NULL,
  monitor_id INTEGER NOT NULL,
  severity TEXT NOT NULL CHECK (severity IN ('info', 'warning', 'error', 'critical')),
  message TEXT NOT NULL,
  data TEXT CHECK (data IS NULL OR json_valid(data)),
  is_resolved INTEGER NOT NULL DEFAULT 0 CHECK (is_resolved IN (0, 1)),
  resolved_at TEXT,
  created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
  updated_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
  CONSTRAINT fk_history_alert FOREIGN KEY (alert_id) REFERENCES alerts (id),
  CONSTRAINT fk_history_monitor FOREIGN KEY (monitor_id) REFERENCES monitors (id)
);

CREATE INDEX alert_history_idx_severity ON alert_history (severity);
CREATE INDEX alert_history_idx_is_resolved ON alert_history (is_resolved);
CREATE INDEX alert_history_idx_created_at ON alert_history (created_at);
CREATE INDEX alert_history_fk_history_alert ON alert_history (alert_id);
CREATE INDEX alert_history_fk_history_monitor ON alert_history (monitor_id);

CREATE TRIGGER alert_history_touch_updated_at AFTER UPDATE ON alert_history FOR EACH ROW
WHEN NEW.updated_at IS OLD.updated_at
BEGIN
  UPDATE alert_history SET updated_at = CURRENT_TIMESTAMP WHERE id = NEW.id;
END;
