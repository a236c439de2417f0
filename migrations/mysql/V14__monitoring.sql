-- V14: monitoring and alerting: a monitor's connect address and trust bundle, its last probe
-- result and failure streak; acknowledgement and notification times of an alert; the
-- notification outbox (one row per alert event and channel, retried until sent); settings

ALTER TABLE monitors
  ADD COLUMN connect_address VARCHAR(255) NULL,
  ADD COLUMN trust_bundle_pem TEXT NULL,
  ADD COLUMN consecutive_failures INT NOT NULL DEFAULT 0,
  ADD COLUMN last_result JSON NULL;

ALTER TABLE alert_history
  ADD COLUMN acknowledged_at DATETIME NULL,
  ADD COLUMN acknowledged_by BIGINT NULL,
  ADD COLUMN last_notified_at DATETIME NULL,
  ADD INDEX idx_alert_monitor_open (alert_id, monitor_id, is_resolved);

CREATE TABLE alert_deliveries (
  id BIGINT NOT NULL AUTO_INCREMENT,
  history_id BIGINT NOT NULL,
  channel_id BIGINT NOT NULL,
  event ENUM('firing', 'reminder', 'resolved') NOT NULL,
  status ENUM('pending', 'sent', 'failed') NOT NULL DEFAULT 'pending',
  attempts INT NOT NULL DEFAULT 0,
  next_attempt_at DATETIME NOT NULL,
  response_excerpt VARCHAR(500),
  sent_at DATETIME,
  created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
  updated_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  PRIMARY KEY (id),
  KEY idx_status_next (status, next_attempt_at),
  KEY idx_history (history_id),
  KEY idx_channel (channel_id),
  CONSTRAINT fk_deliveries_history FOREIGN KEY (history_id) REFERENCES alert_history (id) ON DELETE CASCADE,
  CONSTRAINT fk_deliveries_channel FOREIGN KEY (channel_id) REFERENCES alert_channels (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

INSERT INTO settings (setting_key, setting_value, setting_type, description, is_system) VALUES
  ('alert.renotify_interval_hours', '24', 'number', 'Hours after which a still open alert is notified again (0 = never)', 1),
  ('monitor.probe_concurrency', '64', 'number', 'TLS probes one monitor_check task runs at the same time', 1);
