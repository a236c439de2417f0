-- V7: certdeck extensions, users.failed_login_count, certdeck_meta and extra indexes for list filters

ALTER TABLE users ADD COLUMN failed_login_count INTEGER NOT NULL DEFAULT 0;

CREATE INDEX user_tokens_idx_token_hash ON user_tokens (token_hash);

CREATE TABLE certdeck_meta (
  meta_key TEXT NOT NULL PRIMARY KEY CHECK (length(meta_key) <= 100),
  meta_value TEXT,
  updated_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE TRIGGER certdeck_meta_touch_updated_at AFTER UPDATE ON certdeck_meta FOR EACH ROW
WHEN NEW.updated_at IS OLD.updated_at
BEGIN
  UPDATE certdeck_meta SET updated_at = CURRENT_TIMESTAMP WHERE meta_key = NEW.meta_key;
END;

CREATE INDEX certificates_idx_status_expires ON certificates (status, expires_at);
CREATE INDEX certificates_idx_user_status_expires ON certificates (user_id, status, expires_at);
CREATE INDEX certificates_idx_user_expires ON certificates (user_id, expires_at);

CREATE INDEX audit_logs_idx_user_created ON audit_logs (user_id, created_at);
CREATE INDEX audit_logs_idx_user_action ON audit_logs (user_id, action);

CREATE INDEX servers_idx_user_status ON servers (user_id, status);
