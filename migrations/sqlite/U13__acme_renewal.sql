-- U13: undo V13

DELETE FROM settings WHERE setting_key IN ('acme.dns_resolvers', 'acme.dns_authoritative_port', 'acme.dns_propagation_timeout_seconds');

ALTER TABLE certificate_issuance DROP COLUMN ari_explanation_url;
ALTER TABLE certificate_issuance DROP COLUMN ari_next_check_at;
ALTER TABLE certificate_issuance DROP COLUMN ari_renew_at;
ALTER TABLE certificate_issuance DROP COLUMN ari_window_end;
ALTER TABLE certificate_issuance DROP COLUMN ari_window_start;
ALTER TABLE certificate_issuance DROP COLUMN webroot;
ALTER TABLE certificate_issuance DROP COLUMN http_server_id;

ALTER TABLE server_sites DROP COLUMN document_root;
