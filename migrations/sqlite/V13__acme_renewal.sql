-- V13: ACME renewal information (RFC 9773) per certificate, http-01 through a server's webroot
-- over SSH (and the document root of each discovered site), and the dns-01 propagation settings

ALTER TABLE certificate_issuance ADD COLUMN http_server_id INTEGER;
ALTER TABLE certificate_issuance ADD COLUMN webroot TEXT CHECK (length(webroot) <= 500);
ALTER TABLE certificate_issuance ADD COLUMN ari_window_start TEXT;
ALTER TABLE certificate_issuance ADD COLUMN ari_window_end TEXT;
ALTER TABLE certificate_issuance ADD COLUMN ari_renew_at TEXT;
ALTER TABLE certificate_issuance ADD COLUMN ari_next_check_at TEXT;
ALTER TABLE certificate_issuance ADD COLUMN ari_explanation_url TEXT CHECK (length(ari_explanation_url) <= 500);

ALTER TABLE server_sites ADD COLUMN document_root TEXT CHECK (length(document_root) <= 500);

INSERT INTO settings (setting_key, setting_value, setting_type, description, is_system) VALUES
  ('acme.dns_resolvers', '', 'string', 'Resolvers (ip:port, comma separated) used to find a zone''s name servers and CNAMEs for dns-01; empty = /etc/resolv.conf', 1),
  ('acme.dns_authoritative_port', '53', 'number', 'Port on which the zone''s authoritative name servers are asked for the challenge records', 1),
  ('acme.dns_propagation_timeout_seconds', '120', 'number', 'How long dns-01 waits for every authoritative server to show the challenge records', 1);
