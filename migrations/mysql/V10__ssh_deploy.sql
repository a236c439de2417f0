-- V10: SSH deploy: per-server connection and deploy settings, deployment key path and verify target, one server_configs row per file, discovered sites

ALTER TABLE servers
  ADD COLUMN key_passphrase_encrypted VARCHAR(255) NULL,
  ADD COLUMN host_key_fingerprint VARCHAR(100) NULL,
  ADD COLUMN jump_server_id BIGINT NULL,
  ADD COLUMN privilege_mode ENUM('none', 'sudo') NOT NULL DEFAULT 'none',
  ADD COLUMN test_command VARCHAR(500) NULL,
  ADD COLUMN reload_command VARCHAR(500) NULL,
  ADD COLUMN verify_port INT NULL,
  ADD COLUMN config_root VARCHAR(255) NULL;

ALTER TABLE certificate_deployments
  ADD COLUMN key_path VARCHAR(255) NULL,
  ADD COLUMN verify_host VARCHAR(255) NULL,
  ADD COLUMN verify_sni VARCHAR(255) NULL,
  ADD COLUMN verify_port INT NULL,
  ADD COLUMN deployed_serial VARCHAR(100) NULL;

DELETE c1 FROM server_configs c1
  JOIN server_configs c2 ON c1.server_id = c2.server_id AND c1.config_path = c2.config_path AND c1.id < c2.id;

ALTER TABLE server_configs
  ADD COLUMN note VARCHAR(255) NULL,
  ADD UNIQUE INDEX idx_server_path (server_id, config_path);

CREATE TABLE server_sites (
  id BIGINT NOT NULL AUTO_INCREMENT,
  server_id BIGINT NOT NULL,
  config_path VARCHAR(255) NOT NULL,
  line INT NOT NULL,
  server_names TEXT NOT NULL,
  listen VARCHAR(255),
  port INT,
  tls BOOLEAN NOT NULL DEFAULT FALSE,
  cert_path VARCHAR(255),
  key_path VARCHAR(255),
  chain_path VARCHAR(255),
  cert_subject VARCHAR(255),
  cert_sans TEXT,
  cert_issuer VARCHAR(255),
  cert_serial VARCHAR(100),
  cert_not_after DATETIME,
  cert_sha256 VARCHAR(64),
  cert_error VARCHAR(255),
  certificate_id BIGINT NULL,
  discovered_at DATETIME NOT NULL,
  PRIMARY KEY (id),
  KEY idx_server (server_id),
  CONSTRAINT fk_server_sites_server FOREIGN KEY (server_id) REFERENCES servers (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
