-- U18: undo V18

DELETE FROM settings WHERE setting_key IN ('security.target_allow_cidrs', 'security.target_deny_cidrs');
