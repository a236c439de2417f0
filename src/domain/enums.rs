//! One enum per ENUM column of the design, with the design's values in the design's order.
//!
//! sqlx's derived enums do not decode MySQL ENUM columns, so rows decode the column as `String`
//! and convert through `TryFrom<String>` (`#[sqlx(try_from = "String")]`).

use std::fmt;
use std::str::FromStr;

/// The error of parsing an enum value: names the accepted values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} '{value}' (expected one of: {expected})")]
pub struct UnknownVariant {
    /// The enum's name in words, e.g. `server type`.
    pub kind: &'static str,
    /// The refused input.
    pub value: String,
    /// The accepted values, comma separated.
    pub expected: String,
}

macro_rules! db_enum {
    ($(#[$meta:meta])* $name:ident, $kind:literal, { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every value, in the design's order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The value as stored in the database.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownVariant;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(UnknownVariant {
                        kind: $kind,
                        value: s.to_string(),
                        expected: [$($text),+].join(", "),
                    }),
                }
            }
        }

        impl TryFrom<String> for $name {
            type Error = UnknownVariant;
            fn try_from(s: String) -> Result<Self, UnknownVariant> {
                s.parse()
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl schemars::JsonSchema for $name {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }

            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!({"type": "string", "enum": [$($text),+]})
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

db_enum!(
    /// `users.role`.
    UserRole, "role", { Admin => "admin", User => "user", Api => "api" });
db_enum!(
    /// `users.status`.
    UserStatus, "user status", { Active => "active", Inactive => "inactive", Locked => "locked" });
db_enum!(
    /// `api_keys.status`: `inactive` can be re-enabled, `revoked` is final.
    ApiKeyStatus, "api key status", { Active => "active", Inactive => "inactive", Revoked => "revoked" });
db_enum!(
    /// `api_keys.permissions` (V18): `read` keys may only read (lists, shows, public certificate
    /// export); `read-write` keys may do everything their user may.
    ApiKeyPermissions, "api key permissions", { Read => "read", ReadWrite => "read-write" });
db_enum!(
    /// `user_tokens.token_type`.
    TokenType, "token type", { Access => "access", Refresh => "refresh" });
db_enum!(
    /// `servers.server_type`.
    ServerType, "server type", { Nginx => "nginx", Apache => "apache", Other => "other" });
db_enum!(
    /// `servers.auth_type`.
    AuthType, "auth type", { Password => "password", Key => "key", Token => "token" });
db_enum!(
    /// `servers.privilege_mode` (V10): how test and reload commands are run.
    PrivilegeMode, "privilege mode", { None => "none", Sudo => "sudo" });
db_enum!(
    /// `servers.status`.
    ServerStatus, "server status", { Active => "active", Inactive => "inactive", Error => "error" });
db_enum!(
    /// `server_configs.config_type`.
    ConfigType, "config type", { Nginx => "nginx", Apache => "apache", System => "system" });
db_enum!(
    /// `certificates.certificate_type`.
    CertificateType, "certificate type", { Single => "single", Wildcard => "wildcard", MultiDomain => "multi-domain" });
db_enum!(
    /// `certificates.encryption_type`.
    EncryptionType, "encryption type", { Rsa => "RSA", Ecc => "ECC" });
db_enum!(
/// `certificates.status`.
CertificateStatus, "certificate status", {
    Pending => "pending", Issued => "issued", Expired => "expired", Revoked => "revoked", Error => "error"
});
db_enum!(
    /// `certificate_deployments.status`.
    DeploymentStatus, "deployment status", { Pending => "pending", Deployed => "deployed", Failed => "failed" });
db_enum!(
    /// `dns_challenges.challenge_type`.
    ChallengeType, "challenge type", { Dns01 => "dns-01", Http01 => "http-01" });
db_enum!(
    /// `dns_challenges.status`.
    ChallengeStatus, "challenge status", { Pending => "pending", Verified => "verified", Failed => "failed" });
db_enum!(
    /// `monitors.monitor_type`.
    MonitorType, "monitor type", { Certificate => "certificate", Server => "server", Domain => "domain" });
db_enum!(
    /// `monitors.status`.
    MonitorStatus, "monitor status", { Ok => "ok", Warning => "warning", Error => "error", Unknown => "unknown" });
db_enum!(
/// `alerts.alert_type`.
AlertType, "alert type", {
    CertificateExpiry => "certificate_expiry", ServerDown => "server_down", CertificateError => "certificate_error"
});
db_enum!(
/// `alerts.condition_type`.
ConditionType, "condition type", {
    DaysBefore => "days_before", StatusChange => "status_change", ValueThreshold => "value_threshold"
});
db_enum!(
    /// `alerts.severity` and `alert_history.severity`.
    Severity, "severity", { Info => "info", Warning => "warning", Error => "error", Critical => "critical" });
db_enum!(
/// `alert_channels.channel_type`.
ChannelType, "channel type", {
    Email => "email", Sms => "sms", Webhook => "webhook", Wechat => "wechat", Slack => "slack"
});
db_enum!(
/// `tasks.task_type`.
TaskType, "task type", {
    CertificateIssue => "certificate_issue", CertificateRenew => "certificate_renew",
    CertificateDeploy => "certificate_deploy", ServerCheck => "server_check", MonitorCheck => "monitor_check"
});
db_enum!(
/// `tasks.status`.
TaskStatus, "task status", {
    Pending => "pending", Running => "running", Completed => "completed", Failed => "failed", Cancelled => "cancelled"
});
db_enum!(
    /// `task_logs.log_level`.
    LogLevel, "log level", { Debug => "debug", Info => "info", Warning => "warning", Error => "error" });
db_enum!(
/// `scheduled_tasks.task_type`.
ScheduleType, "schedule type", {
    CertificateCheck => "certificate_check", ServerCheck => "server_check", Backup => "backup", Cleanup => "cleanup"
});
db_enum!(
    /// `settings.setting_type` and `user_settings.setting_type`.
    SettingType, "setting type", { String => "string", Number => "number", Boolean => "boolean", Json => "json" });

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_value_and_names_the_choices_on_error() {
        for v in CertificateType::ALL {
            assert_eq!(v.as_str().parse::<CertificateType>().unwrap(), *v);
        }
        let err = "multi".parse::<CertificateType>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown certificate type 'multi' (expected one of: single, wildcard, multi-domain)"
        );
        assert_eq!(
            EncryptionType::try_from("ECC".to_string()).unwrap(),
            EncryptionType::Ecc
        );
        assert!(EncryptionType::try_from("ecc".to_string()).is_err());
    }
}
