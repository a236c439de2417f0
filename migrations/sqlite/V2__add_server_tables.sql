-- V2: server tables servers, server_configs, server_groups, server_group_mappings (design 2.2)

CREATE TABLE servers (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  user_id INTEGER NOT NULL,
  name TEXT CHECK (length(name) <= 100),
  hostname TEXT NOT NULL CHECK (length(hostname) <= 255),
  port INTEGER NOT NULL DEFAULT 22,
  server_type TEXT NOT NULL DEFAULT 'nginx' CHECK (server_type IN ('nginx', 'apache', 'other')),
  os_type TEXT CHECK (length(os_type) <= 50),
  os_version TEXT CHECK (length(os_version) <= 50),
  web_server_version TEXT CHECK (length(web_server_version) <= 50),
  auth_type TEXT NOT NULL DEFAULT 'password' CHECK (auth_type IN ('password', 'key', 'token')),
  username TEXT CHECK (length(username) <= 50),
  password_encrypted TEXT CHECK (length(password_encrypted) <= 255),
  private_key_encrypted TEXT,
  token_encrypted TEXT CHECK (length(token_encrypted) <= 255),
  status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'inactive', 'error')),
  last_check_at TEXT,
  created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
  updated_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
  CONSTRAINT fk_servers_user FOREIGN KEY (user_id) REFERENCES users (id)
);

CREATE INDEX servers_idx_hostname ON servers (hostname);
CREATE INDEX servers_idx_server_type ON servers (server_type);
CREATE INDEX servers_idx_status ON servers (status);
CREATE INDEX servers_fk_servers_user ON servers (user_id);

CREATE TRIGGER servers_touch_updated_at AFTER UPDATE ON servers FOR EACH ROW
WHEN NEW.updated_at IS OLD.updated_at
BEGIN
  UPDATE servers SET updated_at = CURRENT_TIMESTAMP WHERE id = NEW.id;
END;

CREATE TABLE server_configs (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  server_id INTEGER NOT NULL,
  config_type TEXT NOT NULL CHECK (config_type IN ('nginx', 'apache', 'system')),
  config_path TEXT NOT NULL CHECK (length(config_path) <= 255),
  config_content TEXT,
  is_active INTEGER NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),
  created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
  updated_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
  CONSTRAINT fk_server_configs_server FOREIGN KEY (server_id) REFERENCES servers (id)
);

CREATE INDEX server_configs_idx_config_type ON server_configs (config_type);
CREATE INDEX server_configs_idx_is_active ON server_configs (is_active);
CREATE INDEX server_configs_fk_server_configs_server ON server_configs (server_id);

CREATE TRIGGER server_configs_touch_updated_at AFTER UPDATE ON server_configs FOR EACH ROW
WHEN NEW.updated_at IS OLD.updated_at
BEGIN
  UPDATE server_configs SET updated_at = CURRENT_TIMESTAMP WHERE id = NEW.id;
END;

CREATE TABLE server_groups (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  user_id INTEGER NOT NULL,
  name TEXT NOT NULL CHECK (length(name) <= 100),
  description TEXT CHECK (length(description) <= 255),
  created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
  updated_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
  CONSTRAINT fk_server_groups_user FOREIGN KEY (user_id) REFERENCES users (id)
);

CREATE INDEX server_groups_idx_name ON server_groups (name);
CREATE INDEX server_groups_fk_server_groups_user ON server_groups (user_id);

CREATE TRIGGER server_groups_touch_updated_at AFTER UPDATE ON server_groups FOR EACH ROW
WHEN NEW.updated_at IS OLD.updated_at
BEGIN
  UPDATE server_groups SET updated_at = CURRENT_TIMESTAMP WHERE id = NEW.id;
END;

CREATE TABLE server_group_mappings (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  server_id INTEGER NOT NULL,
  group_id INTEGER NOT NULL,
  created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
  CONSTRAINT fk_mappings_server FOREIGN KEY (server_id) REFERENCES servers (id),
  CONSTRAINT fk_mappings_group FOREIGN KEY (group_id) REFERENCES server_groups (id)
);

CREATE UNIQUE INDEX server_group_mappings_idx_server_group ON server_group_mappings (server_id, group_id);
CREATE INDEX server_group_mappings_fk_mappings_group ON server_group_mappings (group_id);
