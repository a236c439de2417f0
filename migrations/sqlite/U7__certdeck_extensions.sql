-- U7: undo V7, drops the extra indexes, certdeck_meta and users.failed_login_count

DROP INDEX IF EXISTS servers_idx_user_status;

DROP INDEX IF EXISTS audit_logs_idx_user_action;
DROP INDEX IF EXISTS audit_logs_idx_user_created;

DROP INDEX IF EXISTS certificates_idx_user_expires;
DROP INDEX IF EXISTS certificates_idx_user_status_expires;
DROP INDEX IF EXISTS certificates_idx_status_expires;

DROP TABLE IF EXISTS certdeck_meta;

DROP INDEX IF EXISTS user_tokens_idx_token_hash;

ALTER TABLE users DROP COLUMN failed_login_count;
