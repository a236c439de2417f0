-- U9: undo V9, drops the console's polling indexes

DROP INDEX IF EXISTS alert_history_idx_updated_at;
DROP INDEX IF EXISTS tasks_idx_updated_at;
DROP INDEX IF EXISTS monitors_idx_updated_at;
DROP INDEX IF EXISTS servers_idx_updated_at;
DROP INDEX IF EXISTS certificates_idx_updated_at;
