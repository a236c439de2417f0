//! The forms of each resource: which fields a create form has, and edit forms filled from a row.
//! Field names are the names the service layer reports validation errors under.

use super::form::{Field, Form, FormKind};
use super::resources::Kind;
use crate::domain::{
    AlertType, AuthType, ChannelType, ConditionType, MonitorType, PrivilegeMode, ScheduleType, ServerStatus,
    ServerType, SettingType, Severity, UserRole, UserStatus,
};
use crate::service::monitoring::ChannelView;
use crate::store::certificates::CertificateRow;
use crate::store::monitoring::{AlertRow, MonitorRow};
use crate::store::schedules::ScheduleRow;
use crate::store::servers::{GroupRow, ServerRow};
use crate::store::settings::{SettingRow, UserSettingRow};
use crate::store::users::UserRow;

fn names<T: Copy>(all: &[T], f: impl Fn(T) -> &'static str) -> Vec<&'static str> {
    all.iter().map(|v| f(*v)).collect()
}

const YES_NO: &[&str] = &["yes", "no"];

fn yes_no(v: bool) -> &'static str {
    if v {
        "yes"
    } else {
        "no"
    }
}

/// The create form of a pane; `parent` is the row whose detail is open (deployments of a
/// certificate, channel bindings of an alert rule). None when the pane has no create.
pub fn create(kind: Kind, parent: Option<i64>) -> Option<Form> {
    let f = match (kind, parent) {
        (Kind::Certificates, Some(cert)) => Form::new(
            FormKind::DeploymentCreate(cert),
            vec![
                Field::number("server", "").required(),
                Field::text("deploy_path", "").required(),
                Field::text("key_path", ""),
                Field::text("config_path", ""),
                Field::text("verify_sni", ""),
                Field::number("verify_port", ""),
                Field::picker("auto_deploy", YES_NO, "yes"),
            ],
        ),
        (Kind::Certificates, None) => Form::new(
            FormKind::CertImport,
            vec![
                Field::text("certificate", "").required(),
                Field::text("private_key", "").required(),
                Field::text("chain", ""),
                Field::text("name", ""),
                Field::text("notes", ""),
            ],
        ),
        (Kind::Servers, Some(server)) => Form::new(
            FormKind::ServerJoinGroup(server),
            vec![Field::number("group", "").required()],
        ),
        (Kind::Groups, Some(group)) => Form::new(
            FormKind::GroupMemberAdd(group),
            vec![Field::number("server", "").required()],
        ),
        (Kind::Servers, _) => Form::new(
            FormKind::ServerCreate,
            vec![
                Field::text("name", ""),
                Field::text("hostname", "").required(),
                Field::number("port", "22"),
                Field::picker("server_type", &names(ServerType::ALL, ServerType::as_str), "nginx"),
                Field::picker("auth_type", &names(AuthType::ALL, AuthType::as_str), "password"),
                Field::text("username", "root"),
                Field::secret("password"),
                Field::text("private_key", ""),
                Field::secret("key_passphrase"),
                Field::secret("token"),
                Field::number("jump_server_id", ""),
                Field::picker(
                    "privilege_mode",
                    &names(PrivilegeMode::ALL, PrivilegeMode::as_str),
                    "none",
                ),
                Field::text("test_command", ""),
                Field::text("reload_command", ""),
                Field::number("verify_port", ""),
                Field::text("config_root", ""),
            ],
        ),
        (Kind::Groups, _) => Form::new(
            FormKind::GroupCreate,
            vec![Field::text("name", "").required(), Field::text("description", "")],
        ),
        (Kind::Monitors, _) => Form::new(
            FormKind::MonitorCreate,
            vec![
                Field::text("name", "").required(),
                Field::picker("type", &names(MonitorType::ALL, MonitorType::as_str), "domain"),
                Field::text("domain", ""),
                Field::number("target", ""),
                Field::number("port", "443"),
                Field::number("check_interval", "3600"),
            ],
        ),
        (Kind::Alerts, Some(rule)) => Form::new(
            FormKind::BindingCreate(rule),
            vec![Field::number("channel", "").required()],
        ),
        (Kind::Alerts, None) => Form::new(
            FormKind::AlertCreate,
            vec![
                Field::text("name", "").required(),
                Field::picker("type", &names(AlertType::ALL, AlertType::as_str), "certificate_expiry"),
                Field::picker(
                    "condition",
                    &names(ConditionType::ALL, ConditionType::as_str),
                    "days_before",
                ),
                Field::text("value", "30").required(),
                Field::number("monitor", ""),
                Field::picker("severity", &names(Severity::ALL, Severity::as_str), "warning"),
            ],
        ),
        (Kind::Channels, _) => Form::new(
            FormKind::ChannelCreate,
            vec![
                Field::text("name", "").required(),
                Field::picker("type", &names(ChannelType::ALL, ChannelType::as_str), "webhook"),
                Field::text("config", ""),
                Field::secret("config_secret"),
            ],
        ),
        (Kind::Schedules, _) => Form::new(
            FormKind::ScheduleCreate,
            vec![
                Field::text("name", "").required(),
                Field::picker(
                    "type",
                    &names(ScheduleType::ALL, ScheduleType::as_str),
                    "certificate_check",
                ),
                Field::text("cron", "0 3 * * *").required(),
                Field::text("params", ""),
            ],
        ),
        (Kind::Preferences, _) => Form::new(
            FormKind::PreferenceSet,
            vec![
                Field::text("key", "").required(),
                Field::text("value", ""),
                Field::picker("setting_type", &names(SettingType::ALL, SettingType::as_str), "string"),
            ],
        ),
        (Kind::Users, _) => Form::new(
            FormKind::UserCreate,
            vec![
                Field::text("username", "").required(),
                Field::text("email", "").required(),
                Field::secret("password"),
                Field::text("full_name", ""),
                Field::picker("role", &names(UserRole::ALL, UserRole::as_str), "user"),
            ],
        ),
        (Kind::ApiKeys, _) => Form::new(
            FormKind::ApiKeyCreate,
            vec![
                Field::text("name", "").required(),
                Field::number("expires_in_days", "365"),
            ],
        ),
        _ => return None,
    };
    Some(f)
}

/// Requests a certificate from an ACME CA (the order runs as a `certificate_issue` task).
pub fn cert_request() -> Form {
    Form::new(
        FormKind::CertRequest,
        vec![
            Field::text("domains", "").required(),
            Field::text("ca", "letsencrypt").required(),
            Field::text("email", ""),
            Field::picker(
                "key_type",
                &["ec256", "ec384", "rsa2048", "rsa3072", "rsa4096"],
                "ec256",
            ),
            Field::picker("challenge", &["dns-01", "http-01"], "dns-01"),
            Field::number("dns_provider", ""),
            Field::text("http_listen", "0.0.0.0:80"),
            Field::number("http_server", ""),
            Field::text("webroot", ""),
            Field::picker("reuse_key", YES_NO, "no"),
            Field::text("profile", ""),
            Field::text("preferred_chain", ""),
            Field::text("name", ""),
        ],
    )
}

/// Binds a managed certificate to a discovered site.
pub fn site_bind(site: i64) -> Form {
    Form::new(
        FormKind::SiteBind(site),
        vec![Field::number("certificate_id", "").required()],
    )
}

/// Edit form of a server (secrets left empty keep the stored ones).
pub fn server_edit(r: &ServerRow) -> Form {
    Form::new(
        FormKind::ServerEdit(r.id),
        vec![
            Field::text("name", r.name.as_deref().unwrap_or("")),
            Field::text("hostname", &r.hostname).required(),
            Field::number("port", &r.port.to_string()),
            Field::picker(
                "server_type",
                &names(ServerType::ALL, ServerType::as_str),
                r.server_type.as_str(),
            ),
            Field::picker(
                "auth_type",
                &names(AuthType::ALL, AuthType::as_str),
                r.auth_type.as_str(),
            ),
            Field::text("username", r.username.as_deref().unwrap_or("")),
            Field::secret("password"),
            Field::text("private_key", ""),
            Field::secret("key_passphrase"),
            Field::secret("token"),
            Field::picker(
                "status",
                &names(ServerStatus::ALL, ServerStatus::as_str),
                r.status.as_str(),
            ),
            Field::number(
                "jump_server_id",
                &r.jump_server_id.map(|j| j.to_string()).unwrap_or_default(),
            ),
            Field::picker(
                "privilege_mode",
                &names(PrivilegeMode::ALL, PrivilegeMode::as_str),
                r.privilege_mode.as_str(),
            ),
            Field::text("test_command", r.test_command.as_deref().unwrap_or("")),
            Field::text("reload_command", r.reload_command.as_deref().unwrap_or("")),
            Field::number("verify_port", &r.verify_port.map(|p| p.to_string()).unwrap_or_default()),
            Field::text("config_root", r.config_root.as_deref().unwrap_or("")),
        ],
    )
}

/// Edit form of a group.
pub fn group_edit(r: &GroupRow) -> Form {
    Form::new(
        FormKind::GroupEdit(r.id),
        vec![
            Field::text("name", &r.name).required(),
            Field::text("description", r.description.as_deref().unwrap_or("")),
        ],
    )
}

/// Edit form of a certificate.
pub fn cert_edit(r: &CertificateRow) -> Form {
    Form::new(
        FormKind::CertEdit(r.id),
        vec![
            Field::text("name", r.name.as_deref().unwrap_or("")),
            Field::picker("auto_renew", YES_NO, yes_no(r.auto_renew)),
            Field::number("renew_before_days", &r.renew_before_days.to_string()),
            Field::text("notes", ""),
        ],
    )
}

/// Edit form of a monitor.
pub fn monitor_edit(r: &MonitorRow) -> Form {
    Form::new(
        FormKind::MonitorEdit(r.id),
        vec![
            Field::text("name", &r.name).required(),
            Field::number("port", &r.port.map(|p| p.to_string()).unwrap_or_default()),
            Field::number("check_interval", &r.check_interval.to_string()),
            Field::picker("active", YES_NO, yes_no(r.is_active)),
        ],
    )
}

/// Edit form of an alert rule.
pub fn alert_edit(r: &AlertRow) -> Form {
    Form::new(
        FormKind::AlertEdit(r.id),
        vec![
            Field::text("name", &r.name).required(),
            Field::picker(
                "condition",
                &names(ConditionType::ALL, ConditionType::as_str),
                r.condition_type.as_str(),
            ),
            Field::text("value", &r.condition_value).required(),
            Field::picker("severity", &names(Severity::ALL, Severity::as_str), r.severity.as_str()),
            Field::picker("active", YES_NO, yes_no(r.is_active)),
        ],
    )
}

/// Edit form of a channel: plain settings as `key=value; …`; secrets are never shown and an
/// empty secret field keeps the stored ones.
pub fn channel_edit(c: &ChannelView) -> Form {
    let plain = c
        .settings
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(k, _)| !c.secret_fields.contains(k))
                .map(|(k, v)| {
                    format!(
                        "{k}={}",
                        v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())
                    )
                })
                .collect::<Vec<_>>()
                .join("; ")
        })
        .unwrap_or_default();
    Form::new(
        FormKind::ChannelEdit(c.id),
        vec![
            Field::text("name", &c.name).required(),
            Field::text("config", &plain),
            Field::secret("config_secret"),
            Field::picker("active", YES_NO, yes_no(c.is_active)),
        ],
    )
}

/// Edit form of a schedule.
pub fn schedule_edit(r: &ScheduleRow) -> Form {
    Form::new(
        FormKind::ScheduleEdit(r.id),
        vec![
            Field::text("name", &r.name).required(),
            Field::text("cron", &r.cron_expression).required(),
            Field::text(
                "params",
                &r.params.as_ref().map(|p| p.0.to_string()).unwrap_or_default(),
            ),
        ],
    )
}

/// Edit form of a system setting.
pub fn setting_edit(r: &SettingRow) -> Form {
    Form::new(
        FormKind::SettingEdit(r.setting_key.clone()),
        vec![
            Field::text("key", &r.setting_key).locked(),
            Field::text("value", r.setting_value.as_deref().unwrap_or("")),
        ],
    )
}

/// Edit form of one of the user's settings.
pub fn preference_edit(r: &UserSettingRow) -> Form {
    Form::new(
        FormKind::PreferenceSet,
        vec![
            Field::text("key", &r.setting_key).locked(),
            Field::text("value", r.setting_value.as_deref().unwrap_or("")),
            Field::picker(
                "setting_type",
                &names(SettingType::ALL, SettingType::as_str),
                r.setting_type.as_str(),
            ),
        ],
    )
}

/// Edit form of a user.
pub fn user_edit(r: &UserRow) -> Form {
    Form::new(
        FormKind::UserEdit(r.id),
        vec![
            Field::text("username", &r.username).locked(),
            Field::text("email", &r.email).required(),
            Field::text("full_name", r.full_name.as_deref().unwrap_or("")),
            Field::picker("role", &names(UserRole::ALL, UserRole::as_str), r.role.as_str()),
            Field::picker("status", &names(UserStatus::ALL, UserStatus::as_str), r.status.as_str()),
            Field::secret("password"),
        ],
    )
}

/// Parses `key=value; key=value` into a JSON object (values that read as numbers or booleans
/// become those).
pub fn parse_pairs(field: &str, text: &str) -> Result<serde_json::Map<String, serde_json::Value>, (String, String)> {
    let mut m = serde_json::Map::new();
    for part in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((k, v)) = part.split_once('=') else {
            return Err((field.to_string(), format!("'{part}' is not key=value")));
        };
        let v = v.trim();
        let value = if let Ok(n) = v.parse::<i64>() {
            serde_json::Value::from(n)
        } else if v == "true" || v == "false" {
            serde_json::Value::Bool(v == "true")
        } else {
            serde_json::Value::String(v.to_string())
        };
        m.insert(k.trim().to_string(), value);
    }
    Ok(m)
}
