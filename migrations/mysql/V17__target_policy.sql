-- V17: the target policy (where user-configured targets may connect): two system settings.

INSERT INTO settings (setting_key, setting_value, setting_type, description, is_system) VALUES
  ('security.target_allow_cidrs', '', 'string', 'Only these ranges (CIDR, comma separated) may be targets users configure: monitors, verify hosts, webhooks, SMS, SMTP, DNS endpoints (empty = any not denied)', 1),
  ('security.target_deny_cidrs', '169.254.0.0/16, fe80::/10, 169.254.169.254/32, fd00:ec2::254/128', 'string', 'Ranges (CIDR, comma separated) that targets users configure may never reach (default: link-local and cloud metadata)', 1);
