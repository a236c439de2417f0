-- U4: undo V4, drops alert_history, alert_channel_bindings, alert_channels, alerts, monitors
DROP TABLE IF EXISTS alert_history;
DROP TABLE IF EXISTS alert_channel_bindings;
DROP TABLE IF EXISTS alert_channels;
DROP TABLE IF EXISTS alerts;
DROP TABLE IF EXISTS monitors;
