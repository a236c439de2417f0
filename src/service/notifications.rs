//! The notification outbox: `alert_deliveries` rows (one per alert event and bound channel) are
//! sent through the services' [`Notifier`](crate::engine::notify::Notifier) (the channel
//! engines), retried with backoff while the failure is transient, and their outcome recorded,
//! so a pending delivery survives a crash and is sent by the next scheduler tick. Also the
//! channel's "send test" (inline).
//!
//! Channel settings (`alert_channels.config`, secrets sealed) per type:
//! - email: `smtp_host`, `smtp_port` (587), `security` (`starttls` | `tls` | `plain`), `username`,
//!   `password` (secret), `from`, `to` and `cc` (address or list), `trust_pem` (private CA),
//!   `allow_plaintext_auth` (AUTH without TLS to a host that is not the loopback; default false).
//! - webhook: `url` (secret: it may carry a token), `flavor` (`generic` | `dingtalk` | `feishu`),
//!   `secret` (secret: HMAC or the vendor's sign secret), `headers` (object, secret), `allow_http`
//!   (loopback only).
//! - wechat: `webhook_url` (secret: the WeCom bot URL, or ServerChan's `…/<SendKey>.send`),
//!   `flavor` (`wecom` | `serverchan`).
//! - slack: `webhook_url` (secret).
//! - sms: `gateway_url` (secret), `method` (`POST` | `GET`), `body_template` ({phone} {message} {title}
//!   {severity}), `content_type`, `auth_header` (secret `api_key` as its value), `phones`; or
//!   `flavor: aliyun` with `access_key_id`, `access_key_secret` (secret), `sign_name`,
//!   `template_code`, `template_param`, `region_id`, `endpoint`, `phones`.

use std::time::Duration;

use chrono::Utc;
use serde_json::{Map, Value};

use super::{Actor, Services};
use crate::domain::{AlertType, ChannelType};
use crate::engine::notify::{
    self, AlertStatus, ChannelConfig, HttpMethod, Notification, SmsGateway, SmsSettings, SmtpSecurity, SmtpSettings,
    WebhookFlavor, WebhookSettings,
};
use crate::errors::{ServiceError, ServiceResult};
use crate::store::notifications as store;

/// Attempts before a delivery is given up.
const MAX_ATTEMPTS: i32 = 8;

/// What one outbox run did.
#[derive(Debug, Clone, Default, serde::Serialize, schemars::JsonSchema)]
pub struct OutboxReport {
    /// Delivered now.
    pub sent: usize,
    /// Failed now, to be retried.
    pub retrying: usize,
    /// Given up (permanent failure or attempts used up).
    pub failed: usize,
}

fn text(m: &Map<String, Value>, k: &str) -> Option<String> {
    m.get(k)
        .and_then(|v| match v {
            Value::String(s) => Some(s.trim().to_string()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
        .filter(|s| !s.is_empty())
}

fn list(m: &Map<String, Value>, k: &str) -> Vec<String> {
    match m.get(k) {
        Some(Value::String(s)) => s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).map(str::to_string).collect(),
        _ => Vec::new(),
    }
}

/// A channel's engine configuration from its stored settings and opened secrets.
pub fn channel_config(
    t: ChannelType,
    settings: &Map<String, Value>,
    secrets: &Map<String, Value>,
) -> Result<ChannelConfig, String> {
    let get = |k: &str| text(secrets, k).or_else(|| text(settings, k));
    Ok(match t {
        ChannelType::Email => {
            let host = get("smtp_host").ok_or("the channel has no smtp_host")?;
            let port: u16 = get("smtp_port").and_then(|p| p.parse().ok()).unwrap_or(587);
            let security = match get("security").as_deref().unwrap_or("starttls") {
                "plain" | "none" => SmtpSecurity::Plain,
                "tls" | "ssl" | "implicit" => SmtpSecurity::ImplicitTls,
                "starttls" => SmtpSecurity::StartTls,
                other => return Err(format!("security '{other}': use starttls, tls or plain")),
            };
            let from = get("from").unwrap_or_else(|| "certdeck@localhost".into());
            let to = list(settings, "to");
            let mut s = SmtpSettings::new(
                &host,
                port,
                security,
                &from,
                &to.iter().map(String::as_str).collect::<Vec<_>>(),
            );
            s.cc = list(settings, "cc");
            s.username = get("username");
            s.password = get("password");
            s.trust_pem = get("trust_pem");
            s.allow_plaintext_auth = settings
                .get("allow_plaintext_auth")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            ChannelConfig::Email(s)
        }
        ChannelType::Webhook => {
            let flavor = match get("flavor").as_deref().unwrap_or("generic") {
                "generic" => WebhookFlavor::Generic,
                "dingtalk" => WebhookFlavor::DingTalk,
                "feishu" | "lark" => WebhookFlavor::Feishu,
                other => return Err(format!("webhook flavor '{other}': use generic, dingtalk or feishu")),
            };
            let mut w = WebhookSettings::new(flavor, &get("url").ok_or("the channel has no url")?);
            w.secret = get("secret");
            w.allow_http = settings.get("allow_http").and_then(Value::as_bool).unwrap_or(false);
            if let Some(Value::Object(h)) = secrets.get("headers").or_else(|| settings.get("headers")) {
                w.headers = h
                    .iter()
                    .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                    .collect();
            }
            ChannelConfig::Webhook(w)
        }
        ChannelType::Wechat | ChannelType::Slack => {
            let flavor = match (t, get("flavor").as_deref()) {
                (ChannelType::Slack, _) => WebhookFlavor::Slack,
                (_, Some("serverchan")) => WebhookFlavor::ServerChan,
                (_, None | Some("wecom")) => WebhookFlavor::WeCom,
                (_, Some(other)) => return Err(format!("wechat flavor '{other}': use wecom or serverchan")),
            };
            let mut w = WebhookSettings::new(flavor, &get("webhook_url").ok_or("the channel has no webhook_url")?);
            w.allow_http = settings.get("allow_http").and_then(Value::as_bool).unwrap_or(false);
            ChannelConfig::Webhook(w)
        }
        ChannelType::Sms if get("flavor").as_deref() == Some("aliyun") => {
            let phones = list(settings, "phones");
            let mut sms = notify::AliyunSms::new(
                &get("access_key_id").unwrap_or_default(),
                &get("access_key_secret").unwrap_or_default(),
                &get("sign_name").unwrap_or_default(),
                &get("template_code").unwrap_or_default(),
                &phones.iter().map(String::as_str).collect::<Vec<_>>(),
            );
            if let Some(e) = get("endpoint") {
                sms.endpoint = e;
            }
            if let Some(r) = get("region_id") {
                sms.region_id = r;
            }
            if let Some(t) = get("template_param") {
                sms.template_param = t;
            }
            ChannelConfig::Sms(SmsSettings::Aliyun(sms))
        }
        ChannelType::Sms => {
            let method = match get("method").as_deref().unwrap_or("POST").to_ascii_uppercase().as_str() {
                "GET" => HttpMethod::Get,
                "POST" => HttpMethod::Post,
                other => return Err(format!("method '{other}': use GET or POST")),
            };
            ChannelConfig::Sms(SmsSettings::Gateway(SmsGateway {
                url: get("gateway_url").ok_or("the channel has no gateway_url")?,
                method,
                body_template: get("body_template")
                    .unwrap_or_else(|| "{\"phone\":\"{phone}\",\"message\":\"{message}\"}".into()),
                content_type: get("content_type"),
                auth_header: get("auth_header").map(|h| (h, text(secrets, "api_key").unwrap_or_default())),
                phones: list(settings, "phones"),
                timeout: Duration::from_secs(15),
                pin: None,
            }))
        }
    })
}

fn what_to_do(t: AlertType) -> &'static str {
    match t {
        AlertType::CertificateExpiry => {
            "Renew the certificate (certdeck cert renew ID, or W in the console) and deploy it; check why automatic renewal did not happen in the task log."
        }
        AlertType::CertificateError => {
            "Open the monitor to see the findings; deploy the current certificate to the hosts named (certdeck deploy CERT), or fix the server's TLS configuration."
        }
        AlertType::ServerDown => "Check that the server is up and that SSH and the web server answer on their ports.",
    }
}

impl Services {
    /// A channel's engine configuration, secrets opened.
    async fn channel_engine_config(&self, channel_id: i64) -> ServiceResult<(String, ChannelConfig)> {
        let row = crate::store::monitoring::get_channel(self.db(), channel_id)
            .await?
            .ok_or_else(|| ServiceError::not_found("channel", channel_id))?;
        let name = row.name.clone();
        let t = row.channel_type;
        let view = self.channel_view(row, true)?;
        let settings = view.settings.as_object().cloned().unwrap_or_default();
        let secrets = view.secrets.and_then(|s| s.as_object().cloned()).unwrap_or_default();
        let mut cfg = channel_config(t, &settings, &secrets).map_err(|e| ServiceError::invalid("config", e))?;
        // Checked again at each use (names may resolve elsewhere now, the lists may have
        // changed), and the checked addresses are the ones connected to.
        self.pin_channel_targets(&mut cfg).await?;
        Ok((name, cfg))
    }

    /// Sends a test notification through a channel now and says what the far side answered.
    /// The attempt is audited (`channel.test`) whether or not the far side accepts it.
    pub async fn channel_test(&self, actor: &Actor, id: i64) -> ServiceResult<String> {
        actor.require_not_api("send test notifications")?;
        let view = self.channel_get(actor, id, false).await?;
        let audit = self.audit(
            Some(actor),
            "channel.test",
            "alert_channel",
            Some(id),
            serde_json::json!({"name": view.name}),
        )?;
        crate::store::audit::insert(self.db(), &audit).await?;
        let (name, cfg) = self.channel_engine_config(id).await?;
        notify::validate(&cfg).map_err(|e| ServiceError::invalid("config", e.message))?;
        let n = Notification {
            title: format!("certdeck test notification for channel {name}"),
            severity: notify::Severity::Info,
            status: AlertStatus::Firing,
            certificate: None,
            host: None,
            domain: Some("test.certdeck.invalid".into()),
            days_left: None,
            what_to_do: "Nothing: this message tests the channel.".into(),
            details: vec![("channel".into(), name.clone())],
            occurred_at: Utc::now(),
            alert_id: None,
            history_id: None,
            monitor: None,
            link: None,
        };
        match self.notifier().deliver(&cfg, &n).await {
            Ok(o) => Ok(format!(
                "sent through {name}{}",
                o.status_code.map(|c| format!(" (HTTP {c})")).unwrap_or_default()
            )),
            Err(e) => Err(ServiceError::Remote(format!("{name}: {}", e.message))),
        }
    }

    /// Sends the due deliveries of the outbox (at most `limit`).
    pub async fn outbox_run(&self, limit: i64) -> ServiceResult<OutboxReport> {
        let mut report = OutboxReport::default();
        for d in store::due_deliveries(self.db(), limit).await? {
            if !store::claim_delivery(self.db(), d.id, d.next_attempt_at).await? {
                continue;
            }
            let attempt = d.attempts + 1;
            let outcome = match self.channel_engine_config(d.channel_id).await {
                Ok((_, cfg)) => {
                    let n = self.notification_of(&d).await?;
                    self.notifier()
                        .deliver(&cfg, &n)
                        .await
                        .map_err(|e| (e.transient, e.message))
                }
                // A name that does not resolve now may resolve later; anything else is final.
                Err(e @ ServiceError::Remote(_)) => Err((true, e.to_string())),
                Err(e) => Err((false, e.to_string())),
            };
            match outcome {
                Ok(o) => {
                    store::delivery_done(self.db(), d.id, attempt, &o.response_excerpt).await?;
                    report.sent += 1;
                }
                Err((transient, msg)) if transient && attempt < MAX_ATTEMPTS => {
                    let wait = chrono::Duration::seconds(30 * 2_i64.pow(attempt.clamp(0, 10) as u32))
                        .min(chrono::Duration::hours(6));
                    store::delivery_retry(self.db(), d.id, attempt, Utc::now() + wait, &msg).await?;
                    report.retrying += 1;
                }
                Err((_, msg)) => {
                    store::delivery_failed(self.db(), d.id, attempt, &msg).await?;
                    report.failed += 1;
                }
            }
        }
        Ok(report)
    }

    async fn notification_of(&self, d: &store::DueDelivery) -> ServiceResult<Notification> {
        let data = d.data.as_ref().map(|j| j.0.clone()).unwrap_or(Value::Null);
        let leaf = &data["hosts"][0]["leaf"];
        let mut details = vec![
            ("monitor".to_string(), d.monitor_name.clone()),
            ("finding".into(), d.message.clone()),
        ];
        if let Some(hosts) = data["hosts"].as_array() {
            for h in hosts {
                if let (Some(t), Some(s)) = (h["target"].as_str(), h["status"].as_str()) {
                    details.push((t.to_string(), s.to_string()));
                }
            }
        }
        Ok(Notification {
            title: d.alert_name.clone(),
            severity: match d.severity.as_str() {
                "critical" => notify::Severity::Critical,
                "error" => notify::Severity::Error,
                "warning" => notify::Severity::Warning,
                _ => notify::Severity::Info,
            },
            status: if d.event == "resolved" {
                AlertStatus::Resolved
            } else {
                AlertStatus::Firing
            },
            certificate: leaf["subject"].as_str().map(str::to_string),
            host: data["hosts"][0]["target"].as_str().map(str::to_string),
            domain: d.monitor_domain.clone(),
            days_left: leaf["days_left"].as_i64(),
            what_to_do: if d.event == "resolved" {
                "Nothing: the condition cleared.".into()
            } else {
                what_to_do(d.alert_type).to_string()
            },
            details,
            occurred_at: d.created_at,
            alert_id: Some(d.alert_id),
            history_id: Some(d.history_id),
            monitor: Some(d.monitor_name.clone()),
            link: None,
        })
    }
}
