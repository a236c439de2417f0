-- V11: ACME: custom CAs, accounts (credentials sealed), DNS providers (secrets sealed), and how each certificate is obtained

CREATE TABLE acme_cas (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  user_id INTEGER NOT NULL,
  name TEXT NOT NULL CHECK (length(name) <= 100),
  directory_url TEXT NOT NULL CHECK (length(directory_url) <= 255),
  eab_required INTEGER NOT NULL DEFAULT 0 CHECK (eab_required IN (0, 1)),
  trust_root_pem TEXT,
  created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
  CONSTRAINT fk_acme_cas_user FOREIGN KEY (user_id) REFERENCES users (id)
);
CREATE UNIQUE INDEX acme_cas_idx_user_name ON acme_cas (user_id, name);

CREATE TABLE acme_accounts (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  user_id INTEGER NOT NULL,
  directory_url TEXT NOT NULL CHECK (length(directory_url) <= 255),
  contact_email TEXT NOT NULL CHECK (length(contact_email) <= 255),
  account_url TEXT NOT NULL CHECK (length(account_url) <= 500),
  credentials_encrypted TEXT NOT NULL,
  eab_kid TEXT CHECK (length(eab_kid) <= 255),
  tos_agreed_at TEXT NOT NULL,
  created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
  CONSTRAINT fk_acme_accounts_user FOREIGN KEY (user_id) REFERENCES users (id)
);
CREATE UNIQUE INDEX acme_accounts_idx_user_directory_email ON acme_accounts (user_id, directory_url, contact_email);

CREATE TABLE dns_providers (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  user_id INTEGER NOT NULL,
  name TEXT NOT NULL CHECK (length(name) <= 100),
  provider_type TEXT NOT NULL CHECK (length(provider_type) <= 30),
  settings TEXT CHECK (settings IS NULL OR json_valid(settings)),
  secrets_encrypted TEXT,
  created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
  updated_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
  CONSTRAINT fk_dns_providers_user FOREIGN KEY (user_id) REFERENCES users (id)
);
CREATE UNIQUE INDEX dns_providers_idx_user_name ON dns_providers (user_id, name);

CREATE TRIGGER dns_providers_touch_updated_at AFTER UPDATE ON dns_providers FOR EACH ROW
WHEN NEW.updated_at IS OLD.updated_at
BEGIN
  UPDATE dns_providers SET updated_at = CURRENT_TIMESTAMP WHERE id = NEW.id;
END;

CREATE TABLE certificate_issuance (
  certificate_id INTEGER NOT NULL PRIMARY KEY,
  ca TEXT NOT NULL CHECK (length(ca) <= 100),
  directory_url TEXT NOT NULL CHECK (length(directory_url) <= 255),
  contact_email TEXT NOT NULL CHECK (length(contact_email) <= 255),
  account_id INTEGER,
  challenge_type TEXT NOT NULL CHECK (challenge_type IN ('dns-01', 'http-01')),
  dns_provider_id INTEGER,
  http_listen TEXT CHECK (length(http_listen) <= 100),
  key_type TEXT NOT NULL CHECK (length(key_type) <= 10),
  key_reuse INTEGER NOT NULL DEFAULT 0 CHECK (key_reuse IN (0, 1)),
  profile TEXT CHECK (length(profile) <= 64),
  preferred_chain TEXT CHECK (length(preferred_chain) <= 255),
  created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
  updated_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
  CONSTRAINT fk_issuance_certificate FOREIGN KEY (certificate_id) REFERENCES certificates (id) ON DELETE CASCADE
);
CREATE INDEX certificate_issuance_idx_dns_provider ON certificate_issuance (dns_provider_id);

CREATE TRIGGER certificate_issuance_touch_updated_at AFTER UPDATE ON certificate_issuance FOR EACH ROW
WHEN NEW.updated_at IS OLD.updated_at
BEGIN
  UPDATE certificate_issuance SET updated_at = CURRENT_TIMESTAMP WHERE certificate_id = NEW.certificate_id;
END;
