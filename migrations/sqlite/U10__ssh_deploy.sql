-- U10: undo V10, drops discovered sites and the SSH deploy columns

DROP TABLE IF EXISTS server_sites;

DROP INDEX IF EXISTS server_configs_idx_server_path;
ALTER TABLE server_configs DROP COLUMN note;

ALTER TABLE certificate_deployments DROP COLUMN deployed_serial;
ALTER TABLE certificate_deployments DROP COLUMN verify_port;
ALTER TABLE certificate_deployments DROP COLUMN verify_sni;
ALTER TABLE certificate_deployments DROP COLUMN verify_host;
ALTER TABLE certificate_deployments DROP COLUMN key_path;

ALTER TABLE servers DROP COLUMN config_root;
ALTER TABLE servers DROP COLUMN verify_port;
ALTER TABLE servers DROP COLUMN reload_command;
ALTER TABLE servers DROP COLUMN test_command;
ALTER TABLE servers DROP COLUMN privilege_mode;
ALTER TABLE servers DROP COLUMN jump_server_id;
ALTER TABLE servers DROP COLUMN host_key_fingerprint;
ALTER TABLE servers DROP COLUMN key_passphrase_encrypted;
