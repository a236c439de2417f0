-- U14: undo V14

DELETE FROM settings WHERE setting_key IN ('alert.renotify_interval_hours', 'monitor.probe_concurrency');

DROP TABLE alert_deliveries;

DROP INDEX alert_history_idx_alert_monitor_open;
ALTER TABLE alert_history DROP COLUMN last_notified_at;
ALTER TABLE alert_history DROP COLUMN acknowledged_by;
ALTER TABLE alert_history DROP COLUMN acknowledged_at;

ALTER TABLE monitors DROP COLUMN last_result;
ALTER TABLE monitors DROP COLUMN consecutive_failures;
ALTER TABLE monitors DROP COLUMN trust_bundle_pem;
ALTER TABLE monitors DROP COLUMN connect_address;
