-- V18: api_keys.permissions, what a key may do ('read' = reads only, 'read-write' = everything its user may do)

ALTER TABLE api_keys ADD COLUMN permissions TEXT NOT NULL DEFAULT 'read-write' CHECK (length(permissions) <= 16);
