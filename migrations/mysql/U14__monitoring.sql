-- U14: undo V14

DELETE FROM settings WHERE setting_key IN ('alert.renotify_interval_hours', 'monitor.probe_concurrency');

DROP TABLE alert_deliveries;

ALTER TABLE alert_history
  DROP INDEX idx_alert_monitor_open,
  DROP COLUMN last_notified_at,
  DROP COLUMN acknowledged_by,
  DROP COLUMN acknowledged_at;

ALTER TABLE monitors
  DROP COLUMN last_result,
  DROP COLUMN consecutive_failures,
  DROP COLUMN trust_bundle_pem,
  DROP COLUMN connect_address;
