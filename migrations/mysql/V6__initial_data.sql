-- V6: initial data, the default settings rows and the default scheduled_tasks (no users, no alerts)

INSERT INTO settings (setting_key, setting_value, setting_type, description, is_system) VALUES
  ('acme.default_directory_url', 'https://acme-v02.api.letsencrypt.org/directory', 'string', 'Default ACME directory URL for new certificates', 1),
  ('acme.default_contact_email', '', 'string', 'Contact e-mail used for new ACME accounts when none is given', 0),
  ('certificate.renew_before_days', '30', 'number', 'Days before expiry when automatic renewal starts', 0),
  ('certificate.default_key_type', 'ECC', 'string', 'Key type for new certificates (RSA or ECC)', 0),
  ('monitor.default_check_interval', '86400', 'number', 'Default seconds between checks of a new monitor', 0),
  ('monitor.default_port', '443', 'number', 'Default TLS port of a new domain monitor', 0),
  ('monitor.connect_timeout_seconds', '10', 'number', 'Timeout of one monitor TLS handshake', 0),
  ('alert.expiry_warning_days', '30', 'number', 'Days before expiry for a warning alert', 0),
  ('alert.expiry_error_days', '7', 'number', 'Days before expiry for an error alert', 0),
  ('alert.expiry_critical_days', '1', 'number', 'Days before expiry for a critical alert', 0),
  ('system.timezone', 'UTC', 'string', 'Timezone used to evaluate cron schedules', 1),
  ('retention.task_logs_days', '30', 'number', 'Days to keep task logs', 1),
  ('retention.audit_logs_days', '365', 'number', 'Days to keep audit log rows', 1),
  ('retention.alert_history_days', '180', 'number', 'Days to keep resolved alert history', 1),
  ('auth.access_token_ttl_seconds', '3600', 'number', 'Lifetime of an access token', 1),
  ('auth.refresh_token_ttl_seconds', '2592000', 'number', 'Lifetime of a refresh token', 1),
  ('auth.max_failed_logins', '5', 'number', 'Failed logins in a row that lock an account', 1),
  ('backup.directory', '', 'string', 'Directory for nightly backups (empty = data dir/backups)', 1),
  ('backup.keep_count', '7', 'number', 'Number of backups to keep', 1),
  ('task.worker_concurrency', '0', 'number', 'Worker pool size (0 = 2 x CPU cores)', 1);

-- Cron expressions have 6 fields, seconds first. next_run_at stays NULL: the scheduler computes it.
INSERT INTO scheduled_tasks (name, task_type, cron_expression, params, is_active, created_by) VALUES
  ('Daily certificate check', 'certificate_check', '0 0 3 * * *', '{}', 1, NULL),
  ('Server check', 'server_check', '0 30 */6 * * *', '{}', 1, NULL),
  ('Nightly backup', 'backup', '0 0 2 * * *', '{}', 1, NULL),
  ('Weekly cleanup', 'cleanup', '0 0 4 * * 0', '{}', 1, NULL);
