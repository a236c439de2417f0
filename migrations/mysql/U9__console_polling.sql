-- U9: undo V9, drops the console's polling indexes

ALTER TABLE alert_history DROP INDEX idx_updated_at;
ALTER TABLE tasks DROP INDEX idx_updated_at;
ALTER TABLE monitors DROP INDEX idx_updated_at;
ALTER TABLE servers DROP INDEX idx_updated_at;
ALTER TABLE certificates DROP INDEX idx_updated_at;
