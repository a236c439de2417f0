-- V9: the console polls for rows changed by other processes (`updated_at >= last_seen`);
-- these indexes keep that poll an index range scan on the large tables.

ALTER TABLE certificates ADD INDEX idx_updated_at (updated_at);
ALTER TABLE servers ADD INDEX idx_updated_at (updated_at);
ALTER TABLE monitors ADD INDEX idx_updated_at (updated_at);
ALTER TABLE tasks ADD INDEX idx_updated_at (updated_at);
ALTER TABLE alert_history ADD INDEX idx_updated_at (updated_at);
