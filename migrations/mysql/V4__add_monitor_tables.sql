-- V4: monitoring tables monitors, alerts, alert_channels, alert_channel_bindings, alert_history (design 2.4)

CREATE TABLE monitors (
  id BIGINT NOT NULL AUTO_INCREMENT,
  user_id BIGINT NOT NULL,
  name VARCHAR(100) NOT NULL,
  monitor_type ENUM('certificate', 'server', 'domain') NOT NULL,
  target_id BIGINT,
  domain VARCHAR(255),
  port INT DEFAULT 443,
  check_interval INT NOT NULL DEFAULT 86400,
  is_active BOOLEAN NOT NULL DEFAULT TRUE,
  last_check_at DATETIME,
  next_check_at DATETIME,
  status ENUM('ok', 'warning', 'error', 'unknown') NOT NULL DEFAULT 'unknown',
  status_message TEXT,
  created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
  updated_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  PRIMARY KEY (id),
  KEY idx_monitor_type (monitor_type),
  KEY idx_target_id (target_id),
  KEY idx_domain (domain),
  KEY idx_is_active (is_active),
  KEY idx_status (status),
  KEY idx_next_check_at (next_check_at),
  KEY fk_monitors_user (user_id),
  CONSTRAINT fk_monitors_user FOREIGN KEY (user_id) REFERENCES users (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE alerts (
  id BIGINT NOT NULL AUTO_INCREMENT,
  user_id BIGINT NOT NULL,
  name VARCHAR(100) NOT NULL,
  alert_type ENUM('certificate_expiry', 'server_down', 'certificate_error') NOT NULL,
  monitor_id BIGINT,
  condition_type ENUM('days_before', 'status_change', 'value_threshold') NOT NULL,
  condition_value VARCHAR(50) NOT NULL,
  severity ENUM('info', 'warning', 'error', 'critical') NOT NULL DEFAULT 'warning',
  is_active BOOLEAN NOT NULL DEFAULT TRUE,
  created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
  updated_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  PRIMARY KEY (id),
  KEY idx_alert_type (alert_type),
  KEY idx_is_active (is_active),
  KEY fk_alerts_user (user_id),
  KEY fk_alerts_monitor (monitor_id),
  CONSTRAINT fk_alerts_user FOREIGN KEY (user_id) REFERENCES users (id),
  CONSTRAINT fk_alerts_monitor FOREIGN KEY (monitor_id) REFERENCES monitors (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE alert_channels (
  id BIGINT NOT NULL AUTO_INCREMENT,
  user_id BIGINT NOT NULL,
  name VARCHAR(100) NOT NULL,
  channel_type ENUM('email', 'sms', 'webhook', 'wechat', 'slack') NOT NULL,
  config JSON NOT NULL,
  is_active BOOLEAN NOT NULL DEFAULT TRUE,
  created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
  updated_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  PRIMARY KEY (id),
  KEY idx_channel_type (channel_type),
  KEY idx_is_active (is_active),
  KEY fk_alert_channels_user (user_id),
  CONSTRAINT fk_alert_channels_user FOREIGN KEY (user_id) REFERENCES users (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE alert_channel_bindings (
  id BIGINT NOT NULL AUTO_INCREMENT,
  alert_id BIGINT NOT NULL,
  channel_id BIGINT NOT NULL,
  created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
  PRIMARY KEY (id),
  UNIQUE KEY idx_alert_channel (alert_id, channel_id),
  KEY fk_bindings_channel (channel_id),
  CONSTRAINT fk_bindings_alert FOREIGN KEY (alert_id) REFERENCES alerts (id),
  CONSTRAINT fk_bindings_channel FOREIGN KEY (channel_id) REFERENCES alert_channels (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE alert_history (
  id BIGINT NOT NULL AUTO_INCREMENT,
  alert_id BIGINT NOT NULL,
  monitor_id BIGINT NOT NULL,
  severity ENUM('info', 'warning', 'error', 'critical') NOT NULL,
  message TEXT NOT NULL,
  data JSON,
  is_resolved BOOLEAN NOT NULL DEFAULT FALSE,
  resolved_at DATETIME,
  created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
  updated_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  PRIMARY KEY (id),
  KEY idx_severity (severity),
  KEY idx_is_resolved (is_resolved),
  KEY idx_created_at (created_at),
  KEY fk_history_alert (alert_id),
  KEY fk_history_monitor (monitor_id),
  CONSTRAINT fk_history_alert FOREIGN KEY (alert_id) REFERENCES alerts (id),
  CONSTRAINT fk_history_monitor FOREIGN KEY (monitor_id) REFERENCES monitors (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
