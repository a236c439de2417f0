-- U16: undo V16, drops users.must_change_password and the setting ssh.operator_credentials_users

DELETE FROM settings WHERE setting_key = 'ssh.operator_credentials_users';

ALTER TABLE users DROP COLUMN must_change_password;
