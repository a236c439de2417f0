-- U13: undo V13

DELETE FROM settings WHERE setting_key IN ('acme.dns_resolvers', 'acme.dns_authoritative_port', 'acme.dns_propagation_timeout_seconds');

ALTER TABLE certificate_issuance
  DROP COLUMN ari_explanation_url,
  DROP COLUMN ari_next_check_at,
  DROP COLUMN ari_renew_at,
  DROP COLUMN ari_window_end,
  DROP COLUMN ari_window_start,
  DROP COLUMN webroot,
  DROP COLUMN http_server_id;

ALTER TABLE server_sites DROP COLUMN document_root;
