-- V9: the console polls for rows changed by other processes (`updated_at >= last_seen`);
-- these indexes keep that poll an index range scan on the large tables.

CREATE INDEX certificates_idx_updated_at ON certificates (updated_at);
CREATE INDEX servers_idx_updated_at ON servers (updated_at);
CREATE INDEX monitors_idx_updated_at ON monitors (updated_at);
CREATE INDEX tasks_idx_updated_at ON tasks (updated_at);
CREATE INDEX alert_history_idx_updated_at ON alert_history (updated_at);
