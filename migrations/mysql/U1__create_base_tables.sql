-- U1: undo V1, drops audit_logs, user_settings, settings, user_tokens, api_keys, users
DROP TABLE IF EXISTS audit_logs;
DROP TABLE IF EXISTS user_settings;
DROP TABLE IF EXISTS settings;
DROP TABLE IF EXISTS user_tokens;
DROP TABLE IF EXISTS api_keys;
DROP TABLE IF EXISTS users;
