-- V14: monitoring and alerting: a monitor's connect address and trust bundle, its last probe
-- result and failure streak; acknowledgement and notification times of an alert; the
-- notification outbox (one row per alert event and channel, retried until sent); settings

ALTER TABLE monitors ADD COLUMN connect_address TEXT CHECK (length(connect_address) <= 255);
ALTER TABLE monitors ADD COLUMN trust_bundle_pem TEXT;
ALTER TABLE monitors ADD COLUMN consecutive_failures INTEGER NOT NULL DEFAULT 0;
ALTER TABLE monitors ADD COLUMN last_result TEXT CHECK (last_result IS NULL OR json_valid(last_result));

ALTER TABLE alert_history ADD COLUMN acknowledged_at TEXT;
ALTER TABLE alert_history ADD COLUMN acknowledged_by INTEGER;
ALTER TABLE alert_history ADD COLUMN last_notified_at TEXT;
CREATE INDEX alert_history_idx_alert_monitor_open ON alert_history (alert_id, monitor_id, is_resolved);

CREATE TABLE alert_deliveries (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  history_id INTEGER NOT NULL,
  channel_id INTEGER NOT NULL,
  event TEXT NOT NULL CHECK (event IN ('firing', 'reminder', 'resolved')),
  status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at TEXT NOT NULL,
  response_excerpt TEXT CHECK (length(response_excerpt) <= 500),
  sent_at TEXT,
  created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
  updated_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
  CONSTRAINT fk_deliveries_history FOREIGN KEY (history_id) REFERENCES alert_history (id) ON DELETE CASCADE,
  CONSTRAINT fk_deliveries_channel FOREIGN KEY (channel_id) REFERENCES alert_channels (id) ON DELETE CASCADE
);

CREATE INDEX alert_deliveries_idx_status_next ON alert_deliveries (status, next_attempt_at);
CREATE INDEX alert_deliveries_idx_history ON alert_deliveries (history_id);
CREATE INDEX alert_deliveries_idx_channel ON alert_deliveries (channel_id);

CREATE TRIGGER alert_deliveries_touch_updated_at AFTER UPDATE ON alert_deliveries FOR EACH ROW
WHEN NEW.updated_at IS OLD.updated_at
BEGIN
  UPDATE alert_deliveries SET updated_at = CURRENT_TIMESTAMP WHERE id = NEW.id;
END;

INSERT INTO settings (setting_key, setting_value, setting_type, description, is_system) VALUES
  ('alert.renotify_interval_hours', '24', 'number', 'Hours after which a still open alert is notified again (0 = never)', 1),
  ('monitor.probe_concurrency', '64', 'number', 'TLS probes one monitor_check task runs at the same time', 1);
