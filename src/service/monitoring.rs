//! Monitors, alert rules, notification channels, their bindings, and alert history.

use chrono::Utc;
use serde_json::{Map, Value};

use crate::domain::{
    AlertType, ChannelType, ConditionType, DomainName, Email, HttpUrl, MonitorStatus, MonitorType, Port, Severity,
};
use crate::errors::{ServiceError, ServiceResult};
use crate::store::monitoring::{
    self as store, AlertRow, ChannelRow, HistoryRow, MonitorFilter, MonitorRow, NewAlert, NewMonitor,
};
use crate::store::secrets::{SealOnInsert, SealedColumn};
use crate::store::{Arg, Page, Sets};

use super::{ensure_owner, ensure_same_owner, field, opt_text, Actor, Services};

/// Input of a monitor.
#[derive(Debug, Clone, Default)]
pub struct MonitorInput {
    /// Name.
    pub name: Option<String>,
    /// Type.
    pub monitor_type: Option<MonitorType>,
    /// Certificate or server id.
    pub target_id: Option<i64>,
    /// Domain (domain monitors).
    pub domain: Option<String>,
    /// Port.
    pub port: Option<i64>,
    /// Seconds between checks.
    pub check_interval: Option<i64>,
    /// Enabled.
    pub is_active: Option<bool>,
    /// Host name or IP to connect to instead of the domain (empty clears).
    pub connect_address: Option<String>,
    /// PEM bundle to verify the chain against instead of the public roots (empty clears).
    pub trust_bundle_pem: Option<String>,
}

/// Validates a connect address and a trust bundle (`Some("")` clears either).
/// A field to change: `None` keeps it, `Some(None)` clears it.
type Change = Option<Option<String>>;

fn probe_overrides(input: &MonitorInput) -> ServiceResult<(Change, Change)> {
    let addr = match input.connect_address.as_deref().map(str::trim) {
        None => None,
        Some("") => Some(None),
        Some(a) => {
            let host = a.trim_start_matches('[').trim_end_matches(']');
            if host.parse::<std::net::IpAddr>().is_err() && crate::domain::DomainName::parse(host).is_err() {
                return Err(ServiceError::invalid(
                    "connect_address",
                    format!("'{a}' is neither an IP address nor a host name"),
                ));
            }
            crate::domain::check_len("connect_address", a, 255)?;
            Some(Some(a.to_string()))
        }
    };
    let trust = match input.trust_bundle_pem.as_deref().map(str::trim) {
        None => None,
        Some("") => Some(None),
        Some(pem) => {
            crate::domain::check_len("trust_bundle", pem, 65_535)?;
            match crate::domain::certpem::certificates_der(pem.as_bytes()) {
                Ok(v) if !v.is_empty() => Some(Some(pem.to_string())),
                _ => {
                    return Err(ServiceError::invalid(
                        "trust_bundle",
                        "must hold one or more PEM certificates (-----BEGIN CERTIFICATE-----)",
                    ))
                }
            }
        }
    };
    Ok((addr, trust))
}

/// Input of an alert rule.
#[derive(Debug, Clone, Default)]
pub struct AlertInput {
    /// Name.
    pub name: Option<String>,
    /// Type.
    pub alert_type: Option<AlertType>,
    /// Monitor (None = all of the owner's).
    pub monitor_id: Option<i64>,
    /// Condition type.
    pub condition_type: Option<ConditionType>,
    /// Condition value.
    pub condition_value: Option<String>,
    /// Severity.
    pub severity: Option<Severity>,
    /// Enabled.
    pub is_active: Option<bool>,
}

/// A channel as shown: settings in clear, secrets only by name (values only when revealed).
#[derive(Debug, Clone, serde::Serialize)]
pub struct ChannelView {
    /// Id.
    pub id: i64,
    /// Owner.
    pub user_id: i64,
    /// Name.
    pub name: String,
    /// Kind.
    pub channel_type: ChannelType,
    /// Non-secret settings.
    pub settings: Value,
    /// Names of the stored secret fields.
    pub secret_fields: Vec<String>,
    /// Secret values (only with reveal).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secrets: Option<Value>,
    /// Why the sealed secrets cannot be opened (altered, copied from another row, another
    /// key): the channel is listed and can be edited or deleted, but not used or revealed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secrets_error: Option<String>,
    /// Enabled.
    pub is_active: bool,
    /// Created.
    pub created_at: chrono::DateTime<Utc>,
}

/// Fields that are secrets in every channel kind: credentials, every URL that may carry a token
/// (DingTalk `access_token`, Feishu hook, WeCom key, ServerChan key, Slack hook, an SMS gateway's
/// key in its query) and all webhook header values.
const SECRET_FIELDS: &[&str] = &[
    "password",
    "api_key",
    "api_secret",
    "secret",
    "token",
    "sign_secret",
    "webhook_url",
    "access_key_secret",
    "url",
    "gateway_url",
    "headers",
];

/// Whether a channel setting is sealed (kept in `config.secrets`, shown only with reveal).
pub(crate) fn is_channel_secret(field: &str) -> bool {
    SECRET_FIELDS.contains(&field)
}

/// Required settings per channel kind.
fn required_fields(t: ChannelType) -> &'static [&'static str] {
    match t {
        ChannelType::Email => &["to", "smtp_host"],
        // The generic gateway needs its URL, the Aliyun preset its keys (checked by the sender).
        ChannelType::Sms => &[],
        ChannelType::Webhook => &["url"],
        ChannelType::Wechat | ChannelType::Slack => &["webhook_url"],
    }
}

fn validate_channel_fields(t: ChannelType, fields: &Map<String, Value>) -> ServiceResult<()> {
    for f in required_fields(t) {
        if fields.get(*f).is_none_or(|v| v.is_null() || v.as_str() == Some("")) {
            return Err(ServiceError::invalid(
                format!("config.{f}"),
                format!("is required for a {t} channel"),
            ));
        }
    }
    let text = |k: &str| fields.get(k).and_then(Value::as_str);
    for k in ["url", "webhook_url", "gateway_url"] {
        if let Some(u) = text(k) {
            field(&format!("config.{k}"), HttpUrl::parse(u))?;
        }
    }
    if let Some(to) = fields.get("to") {
        let list: Vec<&str> = match to {
            Value::String(s) => s.split(',').map(str::trim).filter(|s| !s.is_empty()).collect(),
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => {
                return Err(ServiceError::invalid(
                    "config.to",
                    "must be an address or a list of addresses",
                ))
            }
        };
        if t == ChannelType::Email {
            for e in list {
                field("config.to", Email::parse(e))?;
            }
        }
    }
    if let Some(p) = fields.get("smtp_port") {
        let n = p
            .as_i64()
            .or_else(|| p.as_str().and_then(|s| s.parse().ok()))
            .unwrap_or(0);
        field("config.smtp_port", Port::new(n))?;
    }
    Ok(())
}

impl Services {
    // ------------------------------------------------------------ monitors

    async fn check_monitor_target(
        &self,
        actor: &Actor,
        owner: i64,
        t: MonitorType,
        target: Option<i64>,
        domain: Option<&str>,
    ) -> ServiceResult<Option<String>> {
        match t {
            MonitorType::Certificate => {
                let id = target.ok_or_else(|| {
                    ServiceError::invalid("target_id", "a certificate monitor needs a certificate id")
                })?;
                let c = self.cert_get(actor, id).await?;
                ensure_same_owner(owner, c.user_id, "a monitor cannot watch another user's certificate")?;
                domain.map(concrete_domain).transpose()
            }
            MonitorType::Server => {
                let id =
                    target.ok_or_else(|| ServiceError::invalid("target_id", "a server monitor needs a server id"))?;
                let s = self.server_get(actor, id).await?;
                ensure_same_owner(owner, s.user_id, "a monitor cannot watch another user's server")?;
                domain.map(concrete_domain).transpose()
            }
            MonitorType::Domain => {
                let d = domain.ok_or_else(|| ServiceError::invalid("domain", "a domain monitor needs a domain"))?;
                concrete_domain(d).map(Some)
            }
        }
    }

    /// Creates a monitor owned by the actor.
    pub async fn monitor_create(&self, actor: &Actor, input: &MonitorInput) -> ServiceResult<MonitorRow> {
        let name = opt_text("name", input.name.as_deref(), 100)?
            .ok_or_else(|| ServiceError::invalid("name", "is required"))?;
        let t = input
            .monitor_type
            .ok_or_else(|| ServiceError::invalid("type", "is required (certificate, server or domain)"))?;
        let domain = self
            .check_monitor_target(actor, actor.user_id, t, input.target_id, input.domain.as_deref())
            .await?;
        let port = match input.port {
            Some(p) => field("port", Port::new(p))?.get(),
            None => self.setting_number("monitor.default_port").await?.clamp(1, 65535) as u16,
        };
        let interval = match input.check_interval {
            Some(i) => i,
            None => self.setting_number("monitor.default_check_interval").await?,
        };
        if !(60..=31 * 86_400).contains(&interval) {
            return Err(ServiceError::invalid("check_interval", "must be 60 seconds to 31 days"));
        }
        let is_active = input.is_active.unwrap_or(true);
        let (connect_address, trust_bundle_pem) = probe_overrides(input)?;
        if t == MonitorType::Domain {
            let host = connect_address
                .clone()
                .flatten()
                .or_else(|| domain.clone())
                .unwrap_or_default();
            self.check_target("monitor address", &host, port).await?;
        }
        let new = NewMonitor {
            user_id: actor.user_id,
            name,
            monitor_type: t,
            target_id: if t == MonitorType::Domain {
                None
            } else {
                input.target_id
            },
            domain,
            port: Some(i32::from(port)),
            check_interval: interval as i32,
            is_active,
            next_check_at: is_active.then(Utc::now),
            connect_address: connect_address.flatten(),
            trust_bundle_pem: trust_bundle_pem.flatten(),
        };
        let audit = self.audit(
            Some(actor),
            "monitor.create",
            "monitor",
            None,
            serde_json::json!({
                "name": new.name, "type": t, "target_id": new.target_id, "domain": new.domain, "port": port,
            }),
        );
        let id = store::insert_monitor(self.db(), &new, &audit).await?;
        self.monitor_get(actor, id).await
    }

    /// A monitor visible to the actor.
    pub async fn monitor_get(&self, actor: &Actor, id: i64) -> ServiceResult<MonitorRow> {
        let row = store::get_monitor(self.db(), id)
            .await?
            .ok_or_else(|| ServiceError::not_found("monitor", id))?;
        ensure_owner(actor, row.user_id, "monitor", id)?;
        Ok(row)
    }

    /// A page of monitors.
    pub async fn monitor_list(
        &self,
        actor: &Actor,
        filter: &MonitorFilter,
        page: Page,
    ) -> ServiceResult<Vec<MonitorRow>> {
        let mut f = filter.clone();
        if !actor.is_admin() {
            f.user_id = Some(actor.user_id);
        }
        Ok(store::list_monitors(self.db(), &f, page).await?)
    }

    /// Edits a monitor (name, port, interval, enabled).
    pub async fn monitor_update(&self, actor: &Actor, id: i64, input: &MonitorInput) -> ServiceResult<MonitorRow> {
        let row = self.monitor_get(actor, id).await?;
        if input.monitor_type.is_some_and(|t| t != row.monitor_type)
            || input.target_id.is_some()
            || input.domain.is_some()
        {
            return Err(ServiceError::invalid(
                "type",
                "the type and target of a monitor cannot change; create a new monitor",
            ));
        }
        let mut sets = Sets::new();
        let (addr, trust) = probe_overrides(input)?;
        if let Some(Some(a)) = &addr {
            let port = input.port.or(row.port.map(i64::from)).unwrap_or(443).clamp(1, 65_535) as u16;
            self.check_target("monitor address", a, port).await?;
        }
        if let Some(a) = addr {
            sets.set("connect_address", a.map(Arg::Str).unwrap_or(Arg::Null));
        }
        if let Some(t) = trust {
            sets.set("trust_bundle_pem", t.map(Arg::Str).unwrap_or(Arg::Null));
        }
        if let Some(n) = &input.name {
            sets.set(
                "name",
                Arg::Str(
                    opt_text("name", Some(n), 100)?.ok_or_else(|| ServiceError::invalid("name", "cannot be empty"))?,
                ),
            );
        }
        if let Some(p) = input.port {
            sets.set("port", Arg::I64(field("port", Port::new(p))?.get().into()));
        }
        if let Some(i) = input.check_interval {
            if !(60..=31 * 86_400).contains(&i) {
                return Err(ServiceError::invalid("check_interval", "must be 60 seconds to 31 days"));
            }
            sets.set("check_interval", Arg::I64(i));
        }
        if let Some(a) = input.is_active {
            sets.set("is_active", Arg::Bool(a));
            if a && !row.is_active {
                sets.set("next_check_at", Arg::Time(crate::store::now()));
            }
        }
        let audit = self.audit(Some(actor), "monitor.update", "monitor", Some(id), serde_json::json!({
            "name": input.name, "port": input.port, "check_interval": input.check_interval, "is_active": input.is_active,
        }));
        crate::store::update_by_id(self.db(), "monitors", id, &sets, &audit).await?;
        self.monitor_get(actor, id).await
    }

    /// Deletes a monitor with its history; alert rules bound to it fall back to all monitors.
    pub async fn monitor_delete(&self, actor: &Actor, id: i64) -> ServiceResult<()> {
        let row = self.monitor_get(actor, id).await?;
        let audit = self.audit(
            Some(actor),
            "monitor.delete",
            "monitor",
            Some(id),
            serde_json::json!({"name": row.name}),
        );
        store::delete_monitor(self.db(), id, &audit).await?;
        Ok(())
    }

    // ------------------------------------------------------------ alert rules

    fn check_condition(t: AlertType, c: ConditionType, v: &str) -> ServiceResult<String> {
        let v = v.trim();
        crate::domain::check_len("condition_value", v, 50)?;
        match c {
            ConditionType::DaysBefore => {
                if t != AlertType::CertificateExpiry {
                    return Err(ServiceError::invalid(
                        "condition_type",
                        "days_before applies only to certificate_expiry alerts",
                    ));
                }
                match v.parse::<i64>() {
                    Ok(d) if (0..=365).contains(&d) => Ok(d.to_string()),
                    _ => Err(ServiceError::invalid(
                        "condition_value",
                        format!("'{v}' must be a number of days, 0 to 365"),
                    )),
                }
            }
            ConditionType::StatusChange => match v.parse::<MonitorStatus>() {
                Ok(s) => Ok(s.as_str().to_string()),
                Err(e) => Err(ServiceError::invalid("condition_value", e.to_string())),
            },
            ConditionType::ValueThreshold => crate::domain::alert_rules::Threshold::parse(v)
                .map(|t| t.canonical())
                .map_err(|e| ServiceError::invalid("condition_value", e)),
        }
    }

    /// Creates an alert rule owned by the actor.
    pub async fn alert_create(&self, actor: &Actor, input: &AlertInput) -> ServiceResult<AlertRow> {
        let name = opt_text("name", input.name.as_deref(), 100)?
            .ok_or_else(|| ServiceError::invalid("name", "is required"))?;
        let t = input
            .alert_type
            .ok_or_else(|| ServiceError::invalid("type", "is required"))?;
        let c = input
            .condition_type
            .ok_or_else(|| ServiceError::invalid("condition", "is required"))?;
        let v = Self::check_condition(t, c, input.condition_value.as_deref().unwrap_or_default())?;
        if let Some(m) = input.monitor_id {
            let mon = self.monitor_get(actor, m).await?;
            ensure_same_owner(
                actor.user_id,
                mon.user_id,
                "an alert rule cannot watch another user's monitor",
            )?;
        }
        let new = NewAlert {
            user_id: actor.user_id,
            name,
            alert_type: t,
            monitor_id: input.monitor_id,
            condition_type: c,
            condition_value: v,
            severity: input.severity.unwrap_or(Severity::Warning),
            is_active: input.is_active.unwrap_or(true),
        };
        let audit = self.audit(Some(actor), "alert.create", "alert", None, serde_json::json!({
            "name": new.name, "type": t, "condition": c, "value": new.condition_value, "severity": new.severity, "monitor_id": new.monitor_id,
        }));
        let id = store::insert_alert(self.db(), &new, &audit).await?;
        self.alert_get(actor, id).await
    }

    /// An alert rule visible to the actor.
    pub async fn alert_get(&self, actor: &Actor, id: i64) -> ServiceResult<AlertRow> {
        let row = store::get_alert(self.db(), id)
            .await?
            .ok_or_else(|| ServiceError::not_found("alert", id))?;
        ensure_owner(actor, row.user_id, "alert", id)?;
        Ok(row)
    }

    /// A page of alert rules.
    pub async fn alert_list(
        &self,
        actor: &Actor,
        alert_type: Option<AlertType>,
        page: Page,
    ) -> ServiceResult<Vec<AlertRow>> {
        Ok(store::list_alerts(self.db(), actor.scope(), alert_type, page).await?)
    }

    /// Edits an alert rule.
    pub async fn alert_update(&self, actor: &Actor, id: i64, input: &AlertInput) -> ServiceResult<AlertRow> {
        let row = self.alert_get(actor, id).await?;
        let t = input.alert_type.unwrap_or(row.alert_type);
        let c = input.condition_type.unwrap_or(row.condition_type);
        let v = Self::check_condition(t, c, input.condition_value.as_deref().unwrap_or(&row.condition_value))?;
        let mut sets = Sets::new();
        if let Some(n) = &input.name {
            sets.set(
                "name",
                Arg::Str(
                    opt_text("name", Some(n), 100)?.ok_or_else(|| ServiceError::invalid("name", "cannot be empty"))?,
                ),
            );
        }
        sets.set("alert_type", Arg::Str(t.as_str().into()))
            .set("condition_type", Arg::Str(c.as_str().into()))
            .set("condition_value", Arg::Str(v));
        if let Some(s) = input.severity {
            sets.set("severity", Arg::Str(s.as_str().into()));
        }
        if let Some(a) = input.is_active {
            sets.set("is_active", Arg::Bool(a));
        }
        if let Some(m) = input.monitor_id {
            let mon = self.monitor_get(actor, m).await?;
            ensure_same_owner(
                row.user_id,
                mon.user_id,
                "an alert rule cannot watch another user's monitor",
            )?;
            sets.set("monitor_id", Arg::I64(m));
        }
        let audit = self.audit(Some(actor), "alert.update", "alert", Some(id), serde_json::json!({
            "name": input.name, "type": t, "condition": c, "severity": input.severity, "is_active": input.is_active, "monitor_id": input.monitor_id,
        }));
        crate::store::update_by_id(self.db(), "alerts", id, &sets, &audit).await?;
        self.alert_get(actor, id).await
    }

    /// Deletes an alert rule with its bindings and history.
    pub async fn alert_delete(&self, actor: &Actor, id: i64) -> ServiceResult<()> {
        let row = self.alert_get(actor, id).await?;
        let audit = self.audit(
            Some(actor),
            "alert.delete",
            "alert",
            Some(id),
            serde_json::json!({"name": row.name}),
        );
        store::delete_alert(self.db(), id, &audit).await?;
        Ok(())
    }

    /// Fired alerts (the actor's), newest first.
    pub async fn alert_history(
        &self,
        actor: &Actor,
        unresolved_only: bool,
        page: Page,
    ) -> ServiceResult<Vec<HistoryRow>> {
        Ok(store::list_history(self.db(), actor.scope(), unresolved_only, page).await?)
    }

    /// Marks a fired alert resolved.
    pub async fn alert_resolve(&self, actor: &Actor, history_id: i64) -> ServiceResult<HistoryRow> {
        let h = store::get_history(self.db(), history_id)
            .await?
            .ok_or_else(|| ServiceError::not_found("alert history", history_id))?;
        self.alert_get(actor, h.alert_id)
            .await
            .map_err(|_| ServiceError::not_found("alert history", history_id))?;
        if h.is_resolved {
            return Err(ServiceError::Conflict(format!(
                "alert {history_id} is already resolved"
            )));
        }
        let audit = self.audit(
            Some(actor),
            "alert.resolve",
            "alert_history",
            Some(history_id),
            serde_json::json!({"alert_id": h.alert_id}),
        );
        store::resolve_history(self.db(), history_id, &audit).await?;
        store::get_history(self.db(), history_id)
            .await?
            .ok_or_else(|| ServiceError::not_found("alert history", history_id))
    }

    /// Acknowledges an open alert: someone is on it. It stays open (and resolves by itself when
    /// the condition clears) but sends no reminders.
    pub async fn alert_acknowledge(&self, actor: &Actor, history_id: i64) -> ServiceResult<HistoryRow> {
        actor.require_not_api("acknowledge alerts")?;
        let h = store::get_history(self.db(), history_id)
            .await?
            .ok_or_else(|| ServiceError::not_found("alert history", history_id))?;
        self.alert_get(actor, h.alert_id)
            .await
            .map_err(|_| ServiceError::not_found("alert history", history_id))?;
        if h.is_resolved {
            return Err(ServiceError::Conflict(format!(
                "alert {history_id} is already resolved"
            )));
        }
        let audit = self.audit(
            Some(actor),
            "alert.acknowledge",
            "alert_history",
            Some(history_id),
            serde_json::json!({"alert_id": h.alert_id}),
        );
        if !crate::store::monitor_checks::acknowledge(self.db(), history_id, actor.user_id, &audit).await? {
            return Err(ServiceError::Conflict(format!(
                "alert {history_id} is already acknowledged"
            )));
        }
        store::get_history(self.db(), history_id)
            .await?
            .ok_or_else(|| ServiceError::not_found("alert history", history_id))
    }

    // ------------------------------------------------------------ channels

    /// Validates a channel's fields and splits them into plain settings and secrets.
    fn split_channel_config(
        &self,
        t: ChannelType,
        fields: &Value,
    ) -> ServiceResult<(Map<String, Value>, Map<String, Value>)> {
        let Value::Object(map) = fields else {
            return Err(ServiceError::invalid("config", "must be a JSON object of settings"));
        };
        validate_channel_fields(t, map)?;
        // What the sender itself would refuse (addresses, https for vendors, missing secrets).
        let cfg = super::notifications::channel_config(t, map, map).map_err(|e| ServiceError::invalid("config", e))?;
        crate::engine::notify::validate(&cfg).map_err(|e| ServiceError::invalid("config", e.message))?;
        let (mut settings, mut secrets) = (Map::new(), Map::new());
        for (k, v) in map {
            if SECRET_FIELDS.contains(&k.as_str()) {
                secrets.insert(k.clone(), v.clone());
            } else {
                settings.insert(k.clone(), v.clone());
            }
        }
        Ok((settings, secrets))
    }

    pub(super) fn channel_view(&self, row: ChannelRow, reveal: bool) -> ServiceResult<ChannelView> {
        let config = row.config.0;
        let sealed = config.get("secrets").and_then(Value::as_str).unwrap_or_default();
        let opened: ServiceResult<Value> = if sealed.is_empty() {
            Ok(Value::Object(Map::new()))
        } else {
            self.open_at(SealedColumn::ChannelSecrets, row.id, sealed)
                .map_err(|e| ServiceError::Internal(format!("channel {}: {e}", row.id)))
                .and_then(|plain| serde_json::from_str(&plain).map_err(|e| ServiceError::Internal(e.to_string())))
        };
        // Revealing (or sending) needs the values; a listing only their names, so an unreadable
        // channel is still shown, with the reason, and can be fixed or deleted.
        let (secrets, secrets_error) = match opened {
            Ok(v) => (v, None),
            Err(e) if !reveal => (Value::Object(Map::new()), Some(e.to_string())),
            Err(e) => return Err(e),
        };
        let secret_fields = secrets
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        Ok(ChannelView {
            id: row.id,
            user_id: row.user_id,
            name: row.name,
            channel_type: row.channel_type,
            settings: config.get("settings").cloned().unwrap_or(Value::Object(Map::new())),
            secret_fields,
            secrets: reveal.then_some(secrets),
            secrets_error,
            is_active: row.is_active,
            created_at: row.created_at,
        })
    }

    /// Creates a notification channel; secret fields are sealed in `config.secrets`.
    pub async fn channel_create(
        &self,
        actor: &Actor,
        name: &str,
        t: ChannelType,
        fields: &Value,
    ) -> ServiceResult<ChannelView> {
        let name = opt_text("name", Some(name), 100)?.ok_or_else(|| ServiceError::invalid("name", "is required"))?;
        let (settings, secrets) = self.split_channel_config(t, fields)?;
        self.check_channel_fields_targets(t, fields).await?;
        let audit = self.audit(
            Some(actor),
            "channel.create",
            "alert_channel",
            None,
            serde_json::json!({
                "name": name, "type": t, "settings": settings, "secret_fields": secrets.keys().collect::<Vec<_>>(),
            }),
        );
        // The secrets are sealed for the new row's id, inside the INSERT's transaction.
        let config = serde_json::json!({"settings": settings, "secrets": Value::Null});
        let ring = self.keyring_arc();
        let sealed = SealOnInsert::new(SealedColumn::ChannelSecrets, move |id| {
            super::secrets::channel_config_sealed(&ring, id, &settings, &secrets)
        });
        let id = store::insert_channel(self.db(), actor.user_id, &name, t, &config, vec![sealed], true, &audit).await?;
        self.channel_get(actor, id, false).await
    }

    /// A channel visible to the actor; secrets only with `reveal`.
    pub async fn channel_get(&self, actor: &Actor, id: i64, reveal: bool) -> ServiceResult<ChannelView> {
        let row = store::get_channel(self.db(), id)
            .await?
            .ok_or_else(|| ServiceError::not_found("channel", id))?;
        ensure_owner(actor, row.user_id, "channel", id)?;
        if reveal {
            actor.require_not_api("reveal channel secrets")?;
        }
        let view = self.channel_view(row, reveal)?;
        if reveal {
            let audit = self.audit(
                Some(actor),
                "channel.reveal",
                "alert_channel",
                Some(id),
                serde_json::json!({"name": view.name}),
            );
            crate::store::audit::insert(self.db(), &audit).await?;
        }
        Ok(view)
    }

    /// A page of channels (secrets not revealed).
    pub async fn channel_list(&self, actor: &Actor, page: Page) -> ServiceResult<Vec<ChannelView>> {
        store::list_channels(self.db(), actor.scope(), page)
            .await?
            .into_iter()
            .map(|r| self.channel_view(r, false))
            .collect()
    }

    /// Replaces a channel's configuration and/or name, or enables/disables it. The given fields
    /// replace the plain settings; a sealed field (URL, headers, keys) left out keeps its stored
    /// value, so an edit need not reveal it, and one set to `null` is removed.
    pub async fn channel_update(
        &self,
        actor: &Actor,
        id: i64,
        name: Option<&str>,
        fields: Option<&Value>,
        is_active: Option<bool>,
    ) -> ServiceResult<ChannelView> {
        let row = store::get_channel(self.db(), id)
            .await?
            .ok_or_else(|| ServiceError::not_found("channel", id))?;
        ensure_owner(actor, row.user_id, "channel", id)?;
        let mut sets = Sets::new();
        let mut details = serde_json::json!({"name": name, "is_active": is_active});
        if let Some(n) = name {
            sets.set(
                "name",
                Arg::Str(
                    opt_text("name", Some(n), 100)?.ok_or_else(|| ServiceError::invalid("name", "cannot be empty"))?,
                ),
            );
        }
        if let Some(f) = fields {
            let mut merged = f
                .as_object()
                .cloned()
                .ok_or_else(|| ServiceError::invalid("config", "must be a JSON object of settings"))?;
            // Unreadable stored secrets are not kept: the given fields must then be complete.
            if let Ok(Some(Value::Object(stored))) = self.channel_view(row.clone(), true).map(|v| v.secrets) {
                for (k, v) in stored {
                    merged.entry(k).or_insert(v);
                }
            }
            merged.retain(|_, v| !v.is_null());
            let merged = Value::Object(merged);
            self.check_channel_fields_targets(row.channel_type, &merged).await?;
            let (settings, secrets) = self.split_channel_config(row.channel_type, &merged)?;
            details["settings"] = Value::Object(settings.clone());
            details["secret_fields"] = secrets.keys().cloned().collect();
            let config = super::secrets::channel_config_sealed(self.keyring(), id, &settings, &secrets)
                .map_err(ServiceError::Internal)?;
            sets.set("config", Arg::Str(config));
        }
        if let Some(a) = is_active {
            sets.set("is_active", Arg::Bool(a));
        }
        let audit = self.audit(Some(actor), "channel.update", "alert_channel", Some(id), details);
        crate::store::update_by_id(self.db(), "alert_channels", id, &sets, &audit).await?;
        self.channel_get(actor, id, false).await
    }

    /// Deletes a channel and its bindings.
    pub async fn channel_delete(&self, actor: &Actor, id: i64) -> ServiceResult<()> {
        let c = self.channel_get(actor, id, false).await?;
        let audit = self.audit(
            Some(actor),
            "channel.delete",
            "alert_channel",
            Some(id),
            serde_json::json!({"name": c.name}),
        );
        store::delete_channel(self.db(), id, &audit).await?;
        Ok(())
    }

    /// Sends an alert rule's notifications to a channel (same owner only).
    pub async fn binding_create(&self, actor: &Actor, alert_id: i64, channel_id: i64) -> ServiceResult<()> {
        let a = self.alert_get(actor, alert_id).await?;
        let c = self.channel_get(actor, channel_id, false).await?;
        ensure_same_owner(
            a.user_id,
            c.user_id,
            "an alert rule and a channel of different users cannot be bound",
        )?;
        let audit = self.audit(
            Some(actor),
            "binding.create",
            "alert_channel_binding",
            None,
            serde_json::json!({"alert_id": alert_id, "channel_id": channel_id}),
        );
        store::insert_binding(self.db(), alert_id, channel_id, &audit)
            .await
            .map_err(|e| match ServiceError::from(e) {
                ServiceError::Conflict(_) => {
                    ServiceError::Conflict(format!("alert {alert_id} is already bound to channel {channel_id}"))
                }
                other => other,
            })?;
        Ok(())
    }

    /// Removes a binding.
    pub async fn binding_delete(&self, actor: &Actor, alert_id: i64, channel_id: i64) -> ServiceResult<()> {
        self.alert_get(actor, alert_id).await?;
        let audit = self.audit(
            Some(actor),
            "binding.delete",
            "alert_channel_binding",
            None,
            serde_json::json!({"alert_id": alert_id, "channel_id": channel_id}),
        );
        if store::delete_binding(self.db(), alert_id, channel_id, &audit).await? {
            Ok(())
        } else {
            Err(ServiceError::not_found(
                "binding",
                format!("alert {alert_id} → channel {channel_id}"),
            ))
        }
    }

    /// The channels an alert rule notifies.
    pub async fn binding_list(
        &self,
        actor: &Actor,
        alert_id: i64,
    ) -> ServiceResult<Vec<crate::store::monitoring::BindingRow>> {
        self.alert_get(actor, alert_id).await?;
        Ok(store::bindings_of_alert(self.db(), alert_id).await?)
    }
}

/// A domain a monitor can connect to: valid (IDN allowed, stored as A-labels) and not a wildcard.
fn concrete_domain(d: &str) -> ServiceResult<String> {
    let d = field("domain", DomainName::parse(d))?;
    if d.is_wildcard() {
        return Err(ServiceError::invalid(
            "domain",
            "a wildcard cannot be connected to; monitor a concrete name",
        ));
    }
    Ok(d.as_str().to_string())
}
