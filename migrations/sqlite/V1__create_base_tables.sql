-- V1: base tables users, api_keys, user_tokens, settings, user_settings, audit_logs (design 2.1, 2.6)

-- SQLite dialect of the MySQL schema (see migrations/README.md): INTEGER for BIGINT/INT/BOOLEAN,
-- TEXT for VARCHAR/TEXT/DATETIME/JSON/ENUM with CHECKs for length, 0/1, json_valid and enum values.
-- DATETIME columns hold UTC text 'YYYY-MM-DD HH:MM:SS'. Index names are global in SQLite, so every
-- index is named <table>_<design index name>, and foreign-key columns that no design index covers
-- get an index <table>_<constraint name>. A trigger per table stands in for ON UPDATE CURRENT_TIMESTAMP.
-- users.username and users.email are COLLATE NOCASE: unique regardless of case, as under utf8mb4_unicode_ci.

CREATE TABLE users (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  username TEXT NOT NULL COLLATE NOCASE CHECK (length(username) <= 50),
  email TEXT NOT NULL COLLATE NOCASE CHECK (length(email) <= 100),
  password_hash TEXT NOT NULL CHECK (length(password_hash) <= 255),
  full_name TEXT CHECK (length(full_name) <= 100),
  phone TEXT CHECK (length(phone) <= 20),
  role TEXT NOT NULL DEFAULT 'user' CHECK (role IN ('admin', 'user', 'api')),
  status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'inactive', 'locked')),
  last_login_at TEXT,
  created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
  updated_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE UNIQUE INDEX users_idx_username ON users (username);
CREATE UNIQUE INDEX users_idx_email ON users (email);
CREATE INDEX users_idx_status ON users (status);

CREATE TRIGGER users_touch_updated_at AFTER UPDATE ON users FOR EACH ROW
WHEN NEW.updated_at IS OLD.updated_at
BEGIN
  UPDATE users SET updated_at = CURRENT_TIMESTAMP WHERE id = NEW.id;
END;

CREATE TABLE api_keys (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  user_id INTEGER NOT NULL,
  key_name TEXT NOT NULL CHECK (length(key_name) <= 50),
  api_key TEXT NOT NULL CHECK (length(api_key) <= 64),
  secret_hash TEXT NOT NULL CHECK (length(secret_hash) <= 255),
  status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'inactive', 'revoked')),
  expires_at TEXT,
  last_used_at TEXT,
  created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
  updated_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
  CONSTRAINT fk_api_keys_user FOREIGN KEY (user_id) REFERENCES users (id)
);

CREATE UNIQUE INDEX api_keys_idx_api_key ON api_keys (api_key);
CREATE INDEX api_keys_idx_status ON api_keys (status);
CREATE INDEX api_keys_fk_api_keys_user ON api_keys (user_id);

CREATE TRIGGER api_keys_touch_updated_at AFTER UPDATE ON api_keys FOR EACH ROW
WHEN NEW.updated_at IS OLD.updated_at
BEGIN
  UPDATE api_keys SET updated_at = CURRENT_TIMESTAMP WHERE id = NEW.id;
END;

CREATE TABLE user_tokens (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  user_id INTEGER NOT NULL,
  token_type TEXT NOT NULL CHECK (token_type IN ('access', 'refresh')),
  token_hash TEXT NOT NULL CHECK (length(token_hash) <= 255),
  expires_at TEXT NOT NULL,
  client_ip TEXT CHECK (length(client_ip) <= 45),
  user_agent TEXT CHECK (length(user_agent) <= 255),
  is_revoked INTEGER NOT NULL DEFAULT 0 CHECK (is_revoked IN (0, 1)),
  created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
  updated_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
  CONSTRAINT fk_user_tokens_user FOREIGN KEY (user_id) REFERENCES users (id)
);

CREATE INDEX user_tokens_idx_token_type_expires ON user_tokens (token_type, expires_at);
CREATE INDEX user_tokens_idx_is_revoked ON user_tokens (is_revoked);
CREATE INDEX user_tokens_fk_user_tokens_user ON user_tokens (user_id);

CREATE TRIGGER user_tokens_touch_updated_at AFTER UPDATE ON user_tokens FOR EACH ROW
WHEN NEW.updated_at IS OLD.updated_at
BEGIN
  UPDATE user_tokens SET updated_at = CURRENT_TIMESTAMP WHERE id = NEW.id;
END;

CREATE TABLE settings (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  setting_key TEXT NOT NULL CHECK (length(setting_key) <= 100),
  setting_value TEXT,
  setting_type TEXT NOT NULL DEFAULT 'string' CHECK (setting_type IN ('string', 'number', 'boolean', 'json')),
  description TEXT CHECK (length(description) <= 255),
  is_system INTEGER NOT NULL DEFAULT 0 CHECK (is_system IN (0, 1)),
  created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
  updated_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE UNIQUE INDEX settings_idx_setting_key ON settings (setting_key);
CREATE INDEX settings_idx_is_system ON settings (is_system);

CREATE TRIGGER settings_touch_updated_at AFTER UPDATE ON settings FOR EACH ROW
WHEN NEW.updated_at IS OLD.updated_at
BEGIN
  UPDATE settings SET updated_at = CURRENT_TIMESTAMP WHERE id = NEW.id;
END;

CREATE TABLE user_settings (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  user_id INTEGER NOT NULL,
  setting_key TEXT NOT NULL CHECK (length(setting_key) <= 100),
  setting_value TEXT,
  setting_type TEXT NOT NULL DEFAULT 'string' CHECK (setting_type IN ('string', 'number', 'boolean', 'json')),
  created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
  updated_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
  CONSTRAINT fk_user_settings_user FOREIGN KEY (user_id) REFERENCES users (id)
);

CREATE UNIQUE INDEX user_settings_idx_user_setting ON user_settings (user_id, setting_key);

CREATE TRIGGER user_settings_touch_updated_at AFTER UPDATE ON user_settings FOR EACH ROW
WHEN NEW.updated_at IS OLD.updated_at
BEGIN
  UPDATE user_settings SET updated_at = CURRENT_TIMESTAMP WHERE id = NEW.id;
END;

CREATE TABLE audit_logs (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  user_id INTEGER,
  action TEXT NOT NULL CHECK (length(action) <= 100),
  resource_type TEXT CHECK (length(resource_type) <= 50),
  resource_id INTEGER,
  details TEXT CHECK (details IS NULL OR json_valid(details)),
  ip_address TEXT CHECK (length(ip_address) <= 45),
  user_agent TEXT CHECK (length(user_agent) <= 255),
  created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
  CONSTRAINT fk_audit_logs_user FOREIGN KEY (user_id) REFERENCES users (id)
);

CREATE INDEX audit_logs_idx_action ON audit_logs (action);
CREATE INDEX audit_logs_idx_resource ON audit_logs (resource_type, resource_id);
CREATE INDEX audit_logs_idx_created_at ON audit_logs (created_at);
CREATE INDEX audit_logs_fk_audit_logs_user ON audit_logs (user_id);
