-- V19: the pull agent: one row per token server (its agent's check-ins and token display), and
-- the http-01 challenge files an agent places for a certificate request

CREATE TABLE server_agents (
  server_id BIGINT NOT NULL,
  agent_version VARCHAR(50) NULL,
  interval_seconds INT NOT NULL DEFAULT 300,
  last_checkin_at DATETIME NULL,
  last_address VARCHAR(45) NULL,
  token_shown_at DATETIME NULL,
  PRIMARY KEY (server_id),
  CONSTRAINT fk_server_agents_server FOREIGN KEY (server_id) REFERENCES servers (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE agent_challenges (
  id BIGINT NOT NULL AUTO_INCREMENT,
  server_id BIGINT NOT NULL,
  webroot VARCHAR(500) NOT NULL,
  token VARCHAR(256) NOT NULL,
  key_authorization VARCHAR(600) NOT NULL,
  state VARCHAR(16) NOT NULL DEFAULT 'place',
  error VARCHAR(500) NULL,
  created_at DATETIME NOT NULL,
  updated_at DATETIME NOT NULL,
  PRIMARY KEY (id),
  KEY idx_server_state (server_id, state),
  CONSTRAINT fk_agent_challenges_server FOREIGN KEY (server_id) REFERENCES servers (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
