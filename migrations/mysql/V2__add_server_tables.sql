-- V2: server tables servers, server_configs, server_groups, server_group_mappings (design 2.2)

CREATE TABLE servers (
  id BIGINT NOT NULL AUTO_INCREMENT,
  user_id BIGINT NOT NULL,
  name VARCHAR(100),
  hostname VARCHAR(255) NOT NULL,
  port INT NOT NULL DEFAULT 22,
  server_type ENUM('nginx', 'apache', 'other') NOT NULL DEFAULT 'nginx',
  os_type VARCHAR(50),
  os_version VARCHAR(50),
  web_server_version VARCHAR(50),
  auth_type ENUM('password', 'key', 'token') NOT NULL DEFAULT 'password',
  username VARCHAR(50),
  password_encrypted VARCHAR(255),
  private_key_encrypted TEXT,
  token_encrypted VARCHAR(255),
  status ENUM('active', 'inactive', 'error') NOT NULL DEFAULT 'active',
  last_check_at DATETIME,
  created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
  updated_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  PRIMARY KEY (id),
  KEY idx_hostname (hostname),
  KEY idx_server_type (server_type),
  KEY idx_status (status),
  KEY fk_servers_user (user_id),
  CONSTRAINT fk_servers_user FOREIGN KEY (user_id) REFERENCES users (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE server_configs (
  id BIGINT NOT NULL AUTO_INCREMENT,
  server_id BIGINT NOT NULL,
  config_type ENUM('nginx', 'apache', 'system') NOT NULL,
  config_path VARCHAR(255) NOT NULL,
  config_content TEXT,
  is_active BOOLEAN NOT NULL DEFAULT TRUE,
  created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
  updated_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  PRIMARY KEY (id),
  KEY idx_config_type (config_type),
  KEY idx_is_active (is_active),
  KEY fk_server_configs_server (server_id),
  CONSTRAINT fk_server_configs_server FOREIGN KEY (server_id) REFERENCES servers (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE server_groups (
  id BIGINT NOT NULL AUTO_INCREMENT,
  user_id BIGINT NOT NULL,
  name VARCHAR(100) NOT NULL,
  description VARCHAR(255),
  created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
  updated_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  PRIMARY KEY (id),
  KEY idx_name (name),
  KEY fk_server_groups_user (user_id),
  CONSTRAINT fk_server_groups_user FOREIGN KEY (user_id) REFERENCES users (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE server_group_mappings (
  id BIGINT NOT NULL AUTO_INCREMENT,
  server_id BIGINT NOT NULL,
  group_id BIGINT NOT NULL,
  created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
  PRIMARY KEY (id),
  UNIQUE KEY idx_server_group (server_id, group_id),
  KEY fk_mappings_group (group_id),
  CONSTRAINT fk_mappings_server FOREIGN KEY (server_id) REFERENCES servers (id),
  CONSTRAINT fk_mappings_group FOREIGN KEY (group_id) REFERENCES server_groups (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
