-- U18: undo V18, drops api_keys.permissions

ALTER TABLE api_keys DROP COLUMN permissions;
