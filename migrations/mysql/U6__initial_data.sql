-- U6: undo V6, deletes the default scheduled_tasks and settings rows that V6 inserted

DELETE FROM scheduled_tasks
WHERE created_by IS NULL
  AND ((name = 'Daily certificate check' AND task_type = 'certificate_check')
    OR (name = 'Server check' AND task_type = 'server_check')
    OR (name = 'Nightly backup' AND task_type = 'backup')
    OR (name = 'Weekly cleanup' AND task_type = 'cleanup'));

DELETE FROM settings WHERE setting_key IN (
  'acme.default_directory_url',
  'acme.default_contact_email',
  'certificate.renew_before_days',
  'certificate.default_key_type',
  'monitor.default_check_interval',
  'monitor.default_port',
  'monitor.connect_timeout_seconds',
  'alert.expiry_warning_days',
  'alert.expiry_error_days',
  'alert.expiry_critical_days',
  'system.timezone',
  'retention.task_logs_days',
  'retention.audit_logs_days',
  'retention.alert_history_days',
  'auth.access_token_ttl_seconds',
  'auth.refresh_token_ttl_seconds',
  'auth.max_failed_logins',
  'backup.directory',
  'backup.keep_count',
  'task.worker_concurrency');
