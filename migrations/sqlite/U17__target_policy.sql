-- U17: undo V17

DELETE FROM settings WHERE setting_key IN ('security.target_allow_cidrs', 'security.target_deny_cidrs');
