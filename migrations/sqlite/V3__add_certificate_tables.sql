-- V3: certificate tables certificates, certificate_deployments, dns_challenges (design 2.3)

CREATE TABLE certificates (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  user_id INTEGER NOT NULL,
  name TEXT CHECK (length(name) <= 100),
  domains TEXT NOT NULL,
  main_domain TEXT NOT NULL CHECK (length(main_domain) <= 255),
  issuer TEXT CHECK (length(issuer) <= 100),
  certificate_type TEXT NOT NULL CHECK (certificate_type IN ('single', 'wildcard', 'multi-domain')),
  encryption_type TEXT NOT NULL DEFAULT 'RSA' CHECK (encryption_type IN ('RSA', 'ECC')),
  status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'issued', 'expired', 'revoked', 'error')),
  certificate_pem TEXT,
  private_key_encrypted TEXT,
  chain_pem TEXT,
  issued_at TEXT,
  expires_at TEXT,
  auto_renew INTEGER NOT NULL DEFAULT 1 CHECK (auto_renew IN (0, 1)),
  renew_before_days INTEGER NOT NULL DEFAULT 30,
  last_renewal_at TEXT,
  notes TEXT,
  created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
  updated_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
  CONSTRAINT fk_certificates_user FOREIGN KEY (user_id) REFERENCES users (id)
);

CREATE INDEX certificates_idx_main_domain ON certificates (main_domain);
CREATE INDEX certificates_idx_status ON certificates (status);
CREATE INDEX certificates_idx_expires_at ON certificates (expires_at);
CREATE INDEX certificates_idx_certificate_type ON certificates (certificate_type);
CREATE INDEX certificates_fk_certificates_user ON certificates (user_id);

CREATE TRIGGER certificates_touch_updated_at AFTER UPDATE ON certificates FOR EACH ROW
WHEN NEW.updated_at IS OLD.updated_at
BEGIN
  UPDATE certificates SET updated_at = CURRENT_TIMESTAMP WHERE id = NEW.id;
END;

CREATE TABLE certificate_deployments (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  certificate_id INTEGER NOT NULL,
  server_id INTEGER NOT NULL,
  deploy_path TEXT NOT NULL CHECK (length(deploy_path) <= 255),
  config_path TEXT CHECK (length(config_path) <= 255),
  status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'deployed', 'failed')),
  auto_deploy INTEGER NOT NULL DEFAULT 1 CHECK (auto_deploy IN (0, 1)),
  last_deploy_at TEXT,
  error_message TEXT,
  created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
  updated_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
  CONSTRAINT fk_deployments_certificate FOREIGN KEY (certificate_id) REFERENCES certificates (id),
  CONSTRAINT fk_deployments_server FOREIGN KEY (server_id) REFERENCES servers (id)
);

CREATE INDEX certificate_deployments_idx_status ON certificate_deployments (status);
CREATE INDEX certificate_deployments_idx_auto_deploy ON certificate_deployments (auto_deploy);
CREATE UNIQUE INDEX certificate_deployments_idx_cert_server ON certificate_deployments (certificate_id, server_id);
CREATE INDEX certificate_deployments_fk_deployments_server ON certificate_deployments (server_id);

CREATE TRIGGER certificate_deployments_touch_updated_at AFTER UPDATE ON certificate_deployments FOR EACH ROW
WHEN NEW.updated_at IS OLD.updated_at
BEGIN
  UPDATE certificate_deployments SET updated_at = CURRENT_TIMESTAMP WHERE id = NEW.id;
END;

CREATE TABLE dns_challenges (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  certificate_id INTEGER NOT NULL,
  domain TEXT NOT NULL CHECK (length(domain) <= 255),
  challenge_type TEXT NOT NULL DEFAULT 'dns-01' CHECK (challenge_type IN ('dns-01', 'http-01')),
  record_name TEXT NOT NULL CHECK (length(record_name) <= 255),
  record_type TEXT NOT NULL CHECK (length(record_type) <= 10),
  record_value TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'verified', 'failed')),
  verified_at TEXT,
  created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
  updated_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
  CONSTRAINT fk_dns_challenges_certificate FOREIGN KEY (certificate_id) REFERENCES certificates (id)
);

CREATE INDEX dns_challenges_idx_domain ON dns_challenges (domain);
CREATE INDEX dns_challenges_idx_status ON dns_challenges (status);
CREATE INDEX dns_challenges_fk_dns_challenges_certificate ON dns_challenges (certificate_id);

CREATE TRIGGER dns_challenges_touch_updated_at AFTER UPDATE ON dns_challenges FOR EACH ROW
WHEN NEW.updated_at IS OLD.updated_at
BEGIN
  UPDATE dns_challenges SET updated_at = CURRENT_TIMESTAMP WHERE id = NEW.id;
END;
