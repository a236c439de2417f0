-- V10: SSH deploy: per-server connection and deploy settings, deployment key path and verify target, one server_configs row per file, discovered sites

ALTER TABLE servers ADD COLUMN key_passphrase_encrypted TEXT CHECK (length(key_passphrase_encrypted) <= 255);
ALTER TABLE servers ADD COLUMN host_key_fingerprint TEXT CHECK (length(host_key_fingerprint) <= 100);
ALTER TABLE servers ADD COLUMN jump_server_id INTEGER;
ALTER TABLE servers ADD COLUMN privilege_mode TEXT NOT NULL DEFAULT 'none' CHECK (privilege_mode IN ('none', 'sudo'));
ALTER TABLE servers ADD COLUMN test_command TEXT CHECK (length(test_command) <= 500);
ALTER TABLE servers ADD COLUMN reload_command TEXT CHECK (length(reload_command) <= 500);
ALTER TABLE servers ADD COLUMN verify_port INTEGER;
ALTER TABLE servers ADD COLUMN config_root TEXT CHECK (length(config_root) <= 255);

ALTER TABLE certificate_deployments ADD COLUMN key_path TEXT CHECK (length(key_path) <= 255);
ALTER TABLE certificate_deployments ADD COLUMN verify_host TEXT CHECK (length(verify_host) <= 255);
ALTER TABLE certificate_deployments ADD COLUMN verify_sni TEXT CHECK (length(verify_sni) <= 255);
ALTER TABLE certificate_deployments ADD COLUMN verify_port INTEGER;
ALTER TABLE certificate_deployments ADD COLUMN deployed_serial TEXT CHECK (length(deployed_serial) <= 100);

DELETE FROM server_configs
  WHERE id NOT IN (SELECT MAX(id) FROM server_configs GROUP BY server_id, config_path);

ALTER TABLE server_configs ADD COLUMN note TEXT CHECK (length(note) <= 255);
CREATE UNIQUE INDEX server_configs_idx_server_path ON server_configs (server_id, config_path);

CREATE TABLE server_sites (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  server_id INTEGER NOT NULL,
  config_path TEXT NOT NULL CHECK (length(config_path) <= 255),
  line INTEGER NOT NULL,
  server_names TEXT NOT NULL,
  listen TEXT CHECK (length(listen) <= 255),
  port INTEGER,
  tls INTEGER NOT NULL DEFAULT 0 CHECK (tls IN (0, 1)),
  cert_path TEXT CHECK (length(cert_path) <= 255),
  key_path TEXT CHECK (length(key_path) <= 255),
  chain_path TEXT CHECK (length(chain_path) <= 255),
  cert_subject TEXT CHECK (length(cert_subject) <= 255),
  cert_sans TEXT,
  cert_issuer TEXT CHECK (length(cert_issuer) <= 255),
  cert_serial TEXT CHECK (length(cert_serial) <= 100),
  cert_not_after TEXT,
  cert_sha256 TEXT CHECK (length(cert_sha256) <= 64),
  cert_error TEXT CHECK (length(cert_error) <= 255),
  certificate_id INTEGER,
  discovered_at TEXT NOT NULL,
  CONSTRAINT fk_server_sites_server FOREIGN KEY (server_id) REFERENCES servers (id) ON DELETE CASCADE
);

CREATE INDEX server_sites_idx_server ON server_sites (server_id);
