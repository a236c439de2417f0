-- V16: roles, users.must_change_password (a one-time password is replaced at the first login) and the setting ssh.operator_credentials_users

ALTER TABLE users
  ADD COLUMN must_change_password BOOLEAN NOT NULL DEFAULT FALSE;

INSERT INTO settings (setting_key, setting_value, setting_type, description, is_system) VALUES
  ('ssh.operator_credentials_users', '[]', 'json', 'Non-admin users (JSON list of usernames) whose servers may use the ssh-agent or key files of the certdeck host', 1);
