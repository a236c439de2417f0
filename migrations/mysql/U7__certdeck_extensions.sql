-- U7: undo V7, drops the extra indexes, certdeck_meta and users.failed_login_count

ALTER TABLE servers
  DROP INDEX idx_user_status;

ALTER TABLE audit_logs
  DROP INDEX idx_user_action,
  DROP INDEX idx_user_created;

ALTER TABLE certificates
  DROP INDEX idx_user_expires,
  DROP INDEX idx_user_status_expires,
  DROP INDEX idx_status_expires;

DROP TABLE IF EXISTS certdeck_meta;

ALTER TABLE user_tokens
  DROP INDEX idx_token_hash;

ALTER TABLE users
  DROP COLUMN failed_login_count;
