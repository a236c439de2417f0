-- U10: undo V10, drops discovered sites and the SSH deploy columns

DROP TABLE IF EXISTS server_sites;

ALTER TABLE server_configs
  DROP INDEX idx_server_path,
  DROP COLUMN note;

ALTER TABLE certificate_deployments
  DROP COLUMN deployed_serial,
  DROP COLUMN verify_port,
  DROP COLUMN verify_sni,
  DROP COLUMN verify_host,
  DROP COLUMN key_path;

ALTER TABLE servers
  DROP COLUMN config_root,
  DROP COLUMN verify_port,
  DROP COLUMN reload_command,
  DROP COLUMN test_command,
  DROP COLUMN privilege_mode,
  DROP COLUMN jump_server_id,
  DROP COLUMN host_key_fingerprint,
  DROP COLUMN key_passphrase_encrypted;
