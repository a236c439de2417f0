-- V7: certdeck extensions, users.failed_login_count, certdeck_meta and extra indexes for list filters

ALTER TABLE users
  ADD COLUMN failed_login_count INT NOT NULL DEFAULT 0;

ALTER TABLE user_tokens
  ADD INDEX idx_token_hash (token_hash);

CREATE TABLE certdeck_meta (
  meta_key VARCHAR(100) NOT NULL,
  meta_value TEXT,
  updated_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  PRIMARY KEY (meta_key)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

ALTER TABLE certificates
  ADD INDEX idx_status_expires (status, expires_at),
  ADD INDEX idx_user_status_expires (user_id, status, expires_at),
  ADD INDEX idx_user_expires (user_id, expires_at);

ALTER TABLE audit_logs
  ADD INDEX idx_user_created (user_id, created_at),
  ADD INDEX idx_user_action (user_id, action);

ALTER TABLE servers
  ADD INDEX idx_user_status (user_id, status);
