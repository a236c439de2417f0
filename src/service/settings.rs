//! System and per-user settings: every system key is registered here with its type, default and
//! description (the rows come from `V6__initial_data.sql`; a test holds the two together).

use crate::domain::SettingType;
use crate::errors::{ServiceError, ServiceResult};
use crate::store::settings::{self as store, SettingRow, UserSettingRow};

use super::{Actor, Services};

/// A registered system setting.
#[derive(Debug, Clone, Copy)]
pub struct SettingDef {
    /// Key.
    pub key: &'static str,
    /// Type.
    pub setting_type: SettingType,
    /// Default value (as seeded).
    pub default: &'static str,
    /// Only admins change it; never deleted.
    pub is_system: bool,
    /// What it does.
    pub description: &'static str,
}

macro_rules! defs {
    ($($key:literal $ty:ident $default:literal $sys:literal $desc:literal;)+) => {
        &[$(SettingDef { key: $key, setting_type: SettingType::$ty, default: $default, is_system: $sys, description: $desc }),+]
    };
}

/// Every system setting certdeck knows.
pub const REGISTRY: &[SettingDef] = defs! {
    "acme.default_directory_url" String "https://acme-v02.api.letsencrypt.org/directory" true "Default ACME directory URL for new certificates";
    "acme.default_contact_email" String "" false "Contact e-mail used for new ACME accounts when none is given";
    "acme.dns_resolvers" String "" true "Resolvers (ip:port, comma separated) used to find a zone's name servers and CNAMEs for dns-01; empty = /etc/resolv.conf";
    "acme.dns_authoritative_port" Number "53" true "Port on which the zone's authoritative name servers are asked for the challenge records";
    "acme.dns_propagation_timeout_seconds" Number "120" true "How long dns-01 waits for every authoritative server to show the challenge records";
    "certificate.renew_before_days" Number "30" false "Days before expiry when automatic renewal starts";
    "certificate.default_key_type" String "ECC" false "Key type for new certificates (RSA or ECC)";
    "monitor.default_check_interval" Number "86400" false "Default seconds between checks of a new monitor";
    "monitor.default_port" Number "443" false "Default TLS port of a new domain monitor";
    "monitor.connect_timeout_seconds" Number "10" false "Timeout of one monitor TLS handshake";
    "alert.expiry_warning_days" Number "30" false "Days before expiry for a warning alert";
    "alert.expiry_error_days" Number "7" false "Days before expiry for an error alert";
    "alert.expiry_critical_days" Number "1" false "Days before expiry for a critical alert";
    "alert.renotify_interval_hours" Number "24" true "Hours after which a still open alert is notified again (0 = never)";
    "monitor.probe_concurrency" Number "64" true "TLS probes one monitor_check task runs at the same time";
    "system.timezone" String "UTC" true "Timezone used to evaluate cron schedules";
    "retention.task_logs_days" Number "30" true "Days to keep task logs";
    "retention.audit_logs_days" Number "365" true "Days to keep audit log rows";
    "retention.alert_history_days" Number "180" true "Days to keep resolved alert history";
    "auth.access_token_ttl_seconds" Number "3600" true "Lifetime of an access token";
    "auth.refresh_token_ttl_seconds" Number "2592000" true "Lifetime of a refresh token";
    "auth.max_failed_logins" Number "5" true "Failed logins in a row that lock an account";
    "backup.directory" String "" true "Directory for nightly backups (empty = data dir/backups)";
    "backup.keep_count" Number "7" true "Number of backups to keep";
    "task.worker_concurrency" Number "0" true "Worker pool size (0 = 2 x CPU cores)";
    "ssh.operator_credentials_users" Json "[]" true "Non-admin users (JSON list of usernames) whose servers may use the ssh-agent or key files of the certdeck host";
    "security.target_allow_cidrs" String "" true "Only these ranges (CIDR, comma separated) may be targets users configure: monitors, verify hosts, webhooks, SMS, SMTP, DNS endpoints (empty = any not denied)";
    "security.target_deny_cidrs" String "169.254.0.0/16, fe80::/10, 169.254.169.254/32, fd00:ec2::254/128" true "Ranges (CIDR, comma separated) that targets users configure may never reach (default: link-local and cloud metadata)";
};

/// The registered definition of a key.
pub fn definition(key: &str) -> Option<&'static SettingDef> {
    REGISTRY.iter().find(|d| d.key == key)
}

/// Checks that `value` is a valid value of type `ty` (and of the key's own rules).
pub fn validate_value(key: &str, ty: SettingType, value: &str) -> ServiceResult<()> {
    let bad = |reason: String| Err(ServiceError::invalid(key, reason));
    match ty {
        SettingType::String => crate::domain::check_len(key, value, 65_535)?,
        SettingType::Number => {
            if value.trim().parse::<f64>().map(|f| !f.is_finite()).unwrap_or(true) {
                return bad(format!("'{value}' is not a number"));
            }
        }
        SettingType::Boolean => {
            if !matches!(value, "true" | "false") {
                return bad(format!("'{value}' is not a boolean (use true or false)"));
            }
        }
        SettingType::Json => {
            if serde_json::from_str::<serde_json::Value>(value).is_err() {
                return bad(format!("'{value}' is not valid JSON"));
            }
        }
    }
    match key {
        "acme.default_directory_url" => super::field(key, crate::domain::HttpUrl::parse(value).map(|_| ()))?,
        "acme.default_contact_email" if !value.is_empty() => {
            super::field(key, crate::domain::Email::parse(value).map(|_| ()))?
        }
        "acme.dns_resolvers" if !value.trim().is_empty() => {
            for r in value.split(',') {
                if r.trim().parse::<std::net::SocketAddr>().is_err() {
                    return bad(format!("'{}' is not ip:port (e.g. 192.0.2.53:53)", r.trim()));
                }
            }
        }
        "acme.dns_authoritative_port" if !matches!(value.parse::<u32>(), Ok(1..=65_535)) => {
            return bad("must be a port, 1 to 65535".into())
        }
        "ssh.operator_credentials_users" if serde_json::from_str::<Vec<String>>(value).is_err() => {
            return bad("must be a JSON list of usernames, e.g. [\"alice\", \"bob\"]".into())
        }
        "security.target_allow_cidrs" | "security.target_deny_cidrs" => {
            if let Err(e) = crate::domain::cidr::CidrList::parse(value) {
                return bad(e);
            }
        }
        "certificate.default_key_type" if !matches!(value, "RSA" | "ECC") => return bad("must be RSA or ECC".into()),
        "monitor.default_port" => super::field(
            key,
            crate::domain::Port::new(value.parse::<i64>().unwrap_or(0)).map(|_| ()),
        )?,
        "system.timezone" | "timezone" => super::field(key, crate::domain::TimeZoneName::parse(value).map(|_| ()))?,
        "language" if !matches!(value, "en" | "zh-CN") => return bad("must be en or zh-CN".into()),
        k if ty == SettingType::Number
            && (k.ends_with("_days")
                || k.ends_with("_seconds")
                || k.ends_with("_interval")
                || k.ends_with("_count")
                || k.ends_with("_logins")) =>
        {
            let n: f64 = value.trim().parse().unwrap_or(-1.0);
            if n < 0.0 || n.fract() != 0.0 {
                return bad(format!("'{value}' must be a whole number of 0 or more"));
            }
        }
        _ => {}
    }
    Ok(())
}

impl Services {
    /// All system settings.
    pub async fn settings_list(&self, _actor: &Actor) -> ServiceResult<Vec<SettingRow>> {
        Ok(store::list(self.db()).await?)
    }

    /// One system setting.
    pub async fn setting_get(&self, _actor: &Actor, key: &str) -> ServiceResult<SettingRow> {
        store::get(self.db(), key)
            .await?
            .ok_or_else(|| ServiceError::not_found("setting", key))
    }

    /// A number setting's value, or its registered default.
    pub async fn setting_number(&self, key: &str) -> ServiceResult<i64> {
        let row = store::get(self.db(), key).await?;
        let text = row
            .and_then(|r| r.setting_value)
            .or_else(|| definition(key).map(|d| d.default.to_string()))
            .unwrap_or_default();
        text.trim()
            .parse::<f64>()
            .map(|f| f as i64)
            .map_err(|_| ServiceError::Internal(format!("setting {key} holds '{text}', not a number")))
    }

    /// Sets a system-wide setting. Only an admin changes them (users keep their own values in
    /// user settings; the api role never). A key that does not exist yet is created when
    /// `create_as` gives its type.
    pub async fn setting_set(
        &self,
        actor: &Actor,
        key: &str,
        value: &str,
        create_as: Option<SettingType>,
    ) -> ServiceResult<SettingRow> {
        actor.require_not_api("change system settings")?;
        let existing = store::get(self.db(), key).await?;
        match existing {
            Some(row) => {
                actor.require_admin(&format!("change the system setting {key}"))?;
                validate_value(key, row.setting_type, value)?;
                let audit = self.audit(
                    Some(actor),
                    "setting.update",
                    "setting",
                    Some(row.id),
                    serde_json::json!({"key": key, "old": row.setting_value, "new": value}),
                )?;
                store::set_value(self.db(), key, value, &audit).await?;
            }
            None => {
                actor.require_admin("create system settings")?;
                let ty = create_as.ok_or_else(|| ServiceError::not_found("setting", key))?;
                if key.is_empty() || key.len() > 100 {
                    return Err(ServiceError::invalid("key", "must be 1 to 100 characters"));
                }
                validate_value(key, ty, value)?;
                let audit = self.audit(
                    Some(actor),
                    "setting.create",
                    "setting",
                    None,
                    serde_json::json!({"key": key, "value": value, "type": ty}),
                )?;
                store::insert(self.db(), key, value, ty, None, &audit).await?;
            }
        }
        self.setting_get(actor, key).await
    }

    /// Deletes a non-system setting (admin only); system settings are never deleted.
    pub async fn setting_delete(&self, actor: &Actor, key: &str) -> ServiceResult<()> {
        actor.require_admin("delete settings")?;
        let row = store::get(self.db(), key)
            .await?
            .ok_or_else(|| ServiceError::not_found("setting", key))?;
        if row.is_system || definition(key).is_some() {
            return Err(ServiceError::Forbidden(format!(
                "{key} is a built-in setting and cannot be deleted; set its value instead"
            )));
        }
        let audit = self.audit(
            Some(actor),
            "setting.delete",
            "setting",
            Some(row.id),
            serde_json::json!({"key": key}),
        )?;
        store::delete_non_system(self.db(), key, &audit).await?;
        Ok(())
    }

    /// The actor's own settings.
    pub async fn user_settings_list(&self, actor: &Actor) -> ServiceResult<Vec<UserSettingRow>> {
        Ok(store::list_user(self.db(), actor.user_id).await?)
    }

    /// Sets one of the actor's own settings.
    pub async fn user_setting_set(&self, actor: &Actor, key: &str, value: &str, ty: SettingType) -> ServiceResult<()> {
        let key = key.trim();
        if key.is_empty() || key.len() > 100 {
            return Err(ServiceError::invalid("key", "must be 1 to 100 characters"));
        }
        validate_value(key, ty, value)?;
        let audit = self.audit(
            Some(actor),
            "user_setting.set",
            "user_setting",
            None,
            serde_json::json!({"key": key, "value": value}),
        )?;
        Ok(store::upsert_user(self.db(), actor.user_id, key, value, ty, &audit).await?)
    }

    /// Deletes one of the actor's own settings.
    pub async fn user_setting_delete(&self, actor: &Actor, key: &str) -> ServiceResult<()> {
        let audit = self.audit(
            Some(actor),
            "user_setting.delete",
            "user_setting",
            None,
            serde_json::json!({"key": key}),
        )?;
        if store::delete_user(self.db(), actor.user_id, key, &audit).await? {
            Ok(())
        } else {
            Err(ServiceError::not_found("user setting", key))
        }
    }
}
