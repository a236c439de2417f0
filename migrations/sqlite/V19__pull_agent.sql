-- V19: the pull agent: one row per token server (its agent's check-ins and token display), and
-- the http-01 challenge files an agent places for a certificate request

CREATE TABLE server_agents (
  server_id INTEGER NOT NULL PRIMARY KEY,
  agent_version TEXT CHECK (length(agent_version) <= 50),
  interval_seconds INTEGER NOT NULL DEFAULT 300,
  last_checkin_at TEXT,
  last_address TEXT CHECK (length(last_address) <= 45),
  token_shown_at TEXT,
  CONSTRAINT fk_server_agents_server FOREIGN KEY (server_id) REFERENCES servers (id) ON DELETE CASCADE
);

CREATE TABLE agent_challenges (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  server_id INTEGER NOT NULL,
  webroot TEXT NOT NULL CHECK (length(webroot) <= 500),
  token TEXT NOT NULL CHECK (length(token) <= 256),
  key_authorization TEXT NOT NULL CHECK (length(key_authorization) <= 600),
  state TEXT NOT NULL DEFAULT 'place' CHECK (length(state) <= 16),
  error TEXT CHECK (length(error) <= 500),
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  CONSTRAINT fk_agent_challenges_server FOREIGN KEY (server_id) REFERENCES servers (id) ON DELETE CASCADE
);

CREATE INDEX agent_challenges_idx_server_state ON agent_challenges (server_id, state);
