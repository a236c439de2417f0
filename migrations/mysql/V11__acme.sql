-- V11: ACME: custom CAs, accounts (credentials sealed), DNS providers (secrets sealed), and how each certificate is obtained

CREATE TABLE acme_cas (
  id BIGINT NOT NULL AUTO_INCREMENT,
  user_id BIGINT NOT NULL,
  name VARCHAR(100) NOT NULL,
  directory_url VARCHAR(255) NOT NULL,
  eab_required BOOLEAN NOT NULL DEFAULT FALSE,
  trust_root_pem TEXT,
  created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
  PRIMARY KEY (id),
  UNIQUE KEY idx_user_name (user_id, name),
  CONSTRAINT fk_acme_cas_user FOREIGN KEY (user_id) REFERENCES users (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE acme_accounts (
  id BIGINT NOT NULL AUTO_INCREMENT,
  user_id BIGINT NOT NULL,
  directory_url VARCHAR(255) NOT NULL,
  contact_email VARCHAR(255) NOT NULL,
  account_url VARCHAR(500) NOT NULL,
  credentials_encrypted TEXT NOT NULL,
  eab_kid VARCHAR(255),
  tos_agreed_at DATETIME NOT NULL,
  created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
  PRIMARY KEY (id),
  UNIQUE KEY idx_user_directory_email (user_id, directory_url, contact_email),
  CONSTRAINT fk_acme_accounts_user FOREIGN KEY (user_id) REFERENCES users (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE dns_providers (
  id BIGINT NOT NULL AUTO_INCREMENT,
  user_id BIGINT NOT NULL,
  name VARCHAR(100) NOT NULL,
  provider_type VARCHAR(30) NOT NULL,
  settings JSON,
  secrets_encrypted TEXT,
  created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
  updated_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  PRIMARY KEY (id),
  UNIQUE KEY idx_user_name (user_id, name),
  CONSTRAINT fk_dns_providers_user FOREIGN KEY (user_id) REFERENCES users (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE certificate_issuance (
  certificate_id BIGINT NOT NULL,
  ca VARCHAR(100) NOT NULL,
  directory_url VARCHAR(255) NOT NULL,
  contact_email VARCHAR(255) NOT NULL,
  account_id BIGINT,
  challenge_type ENUM('dns-01', 'http-01') NOT NULL,
  dns_provider_id BIGINT,
  http_listen VARCHAR(100),
  key_type VARCHAR(10) NOT NULL,
  key_reuse BOOLEAN NOT NULL DEFAULT FALSE,
  profile VARCHAR(64),
  preferred_chain VARCHAR(255),
  created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
  updated_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  PRIMARY KEY (certificate_id),
  KEY idx_dns_provider (dns_provider_id),
  CONSTRAINT fk_issuance_certificate FOREIGN KEY (certificate_id) REFERENCES certificates (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
