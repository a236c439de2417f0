//! Notification channels: e-mail (SMTP), webhooks (generic JSON and the chat vendors) and SMS
//! (an HTTP gateway or Aliyun SMS). Engines only: they get a decrypted [`ChannelConfig`] and a
//! [`Notification`], talk to the outside world and say how it went; they never touch the
//! database or the screen. The services send through a [`Notifier`] ([`ChannelNotifier`] for
//! real), so that the outbox can be tested with a fake.
//!
//! Errors ([`DeliveryError`]) say whether a retry may help (`transient`: network, timeout, 5xx,
//! 429, SMTP 4xx) or not (bad configuration, 4xx, SMTP 5xx). Secrets (passwords, signing
//! secrets, webhook URLs that carry a key, access keys) are never in error text or `Debug`
//! output: vendor URLs are shown as scheme + host only.

mod common;
pub mod email;
pub mod sms;
pub mod webhook;

use super::BoxFut;

pub use common::{AlertStatus, DeliveryError, DeliveryOutcome, Notification, Severity};
pub use email::{SmtpSecurity, SmtpSettings};
pub use sms::{AliyunSms, HttpMethod, SmsGateway, SmsSettings};
pub use webhook::{WebhookFlavor, WebhookSettings};

/// A channel's settings, secrets decrypted.
#[derive(Debug, Clone)]
pub enum ChannelConfig {
    Email(SmtpSettings),
    Webhook(WebhookSettings),
    Sms(SmsSettings),
}

/// Checks a channel's settings without sending anything.
pub fn validate(channel: &ChannelConfig) -> Result<(), DeliveryError> {
    match channel {
        ChannelConfig::Email(s) => s.validate(),
        ChannelConfig::Webhook(s) => s.validate().map(|_| ()),
        ChannelConfig::Sms(s) => s.validate(),
    }
}

/// Sends `n` over `channel` (one attempt; retries are the caller's business).
pub async fn deliver(channel: &ChannelConfig, n: &Notification) -> Result<DeliveryOutcome, DeliveryError> {
    match channel {
        ChannelConfig::Email(s) => s.send(n).await,
        ChannelConfig::Webhook(s) => s.send(n).await,
        ChannelConfig::Sms(s) => s.send(n).await,
    }
}

/// Delivers notifications over channels. The services hold one (`Services::notifier`): the
/// outbox and the channel test send through it, and tests give them a fake.
pub trait Notifier: Send + Sync {
    /// Sends `n` over `channel` (one attempt; retries are the caller's business).
    fn deliver<'a>(
        &'a self,
        channel: &'a ChannelConfig,
        n: &'a Notification,
    ) -> BoxFut<'a, Result<DeliveryOutcome, DeliveryError>>;
}

/// The real notifier: SMTP, webhooks and SMS gateways as [`deliver`] sends them.
#[derive(Debug, Clone, Copy, Default)]
pub struct ChannelNotifier;

impl Notifier for ChannelNotifier {
    fn deliver<'a>(
        &'a self,
        channel: &'a ChannelConfig,
        n: &'a Notification,
    ) -> BoxFut<'a, Result<DeliveryOutcome, DeliveryError>> {
        Box::pin(deliver(channel, n))
    }
}

// ------------------------------------------------------------------------------- helpers

#[cfg(test)]
mod tests {
    use super::common::*;
    use chrono::{DateTime, Utc};

    pub(crate) fn sample() -> Notification {
        Notification {
            title: "Certificate expires soon".into(),
            severity: Severity::Error,
            status: AlertStatus::Firing,
            certificate: Some("shop-cert".into()),
            host: Some("10.0.0.5:443".into()),
            domain: Some("example.com".into()),
            days_left: Some(3),
            what_to_do: "Renew it now".into(),
            details: vec![("Issuer".into(), "R3".into())],
            occurred_at: DateTime::parse_from_rfc3339("2026-01-02T03:04:05Z")
                .unwrap()
                .with_timezone(&Utc),
            alert_id: Some(7),
            history_id: Some(9),
            monitor: Some("expiry".into()),
            link: None,
        }
    }

    #[test]
    fn subjects() {
        let mut n = sample();
        assert_eq!(n.subject(), "[certdeck] ERROR example.com expires in 3 days");
        n.status = AlertStatus::Resolved;
        assert_eq!(n.subject(), "[certdeck] RESOLVED example.com expires in 3 days");
        n.status = AlertStatus::Firing;
        n.days_left = Some(-2);
        n.severity = Severity::Critical;
        assert_eq!(n.subject(), "[certdeck] CRITICAL example.com expired 2 days ago");
        n.days_left = None;
        n.title = "Handshake failed\non port 443".into();
        assert_eq!(
            n.subject(),
            "[certdeck] CRITICAL Handshake failed on port 443: example.com"
        );
    }

    #[test]
    fn short_text_is_bounded() {
        let mut n = sample();
        n.what_to_do = "x".repeat(1000);
        let s = n.short_text(300);
        assert_eq!(s.chars().count(), 300);
        assert!(s.starts_with("[certdeck] ERROR example.com expires in 3 days. xxx"));
    }

    #[test]
    fn redaction_and_urls() {
        assert_eq!(
            redact("key=abc+d/ef and abc+d/ef", &["abc+d/ef"]),
            "key=<redacted> and <redacted>"
        );
        assert_eq!(
            url_origin("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=SECRET"),
            "https://qyapi.weixin.qq.com"
        );
        assert!(check_url("WeCom", "http://example.com/x", true, false)
            .unwrap_err()
            .message
            .contains("requires an https://"));
        assert!(check_url("WeCom", "http://example.com/x", true, true)
            .unwrap_err()
            .message
            .contains("loopback"));
        assert!(check_url("WeCom", "http://127.0.0.1:9/x", true, true).is_ok());
        assert!(check_url("Generic", "http://example.com/x", false, false).is_ok());
        assert!(check_url("Generic", "ftp://example.com/x", false, false).is_err());
    }
}
