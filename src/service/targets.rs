//! Where certdeck may connect for the targets users configure: monitor connect addresses and
//! domains, deployment verify hosts, webhook and SMS URLs, SMTP hosts, DNS endpoints (RFC 2136
//! servers, custom API endpoints). An admin limits them with two system settings:
//!
//! - `security.target_deny_cidrs` (default `169.254.0.0/16, fe80::/10, 169.254.169.254/32,
//!   fd00:ec2::254/128`: link-local and the cloud metadata service): never connected to;
//! - `security.target_allow_cidrs` (default empty: anywhere not denied): when set, only there.
//!
//! A name is resolved and every address it resolves to must pass (deny wins over allow). The
//! check runs when a target is created or edited and again each time it is used, since DNS
//! answers change. It applies to every user's targets, admins' included (one rule, the same at
//! enqueue and in the scheduler): an admin who needs a denied range edits the list (audited).
//! A name that does not resolve passes the create-time check (it is checked again at use).

use std::net::IpAddr;
use std::time::Duration;

use super::Services;
use crate::domain::cidr::{canonical, CidrList};
use crate::engine::notify::{ChannelConfig, SmsSettings};
use crate::errors::{ServiceError, ServiceResult};

/// The setting with the allowed ranges.
pub const ALLOW_KEY: &str = "security.target_allow_cidrs";
/// The setting with the denied ranges.
pub const DENY_KEY: &str = "security.target_deny_cidrs";

/// How long a name is given to resolve for the check.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// The admin-set allow and deny lists.
#[derive(Debug, Clone, Default)]
pub struct TargetPolicy {
    /// Only these ranges (empty: any not denied).
    pub allow: CidrList,
    /// Never these ranges.
    pub deny: CidrList,
}

impl TargetPolicy {
    /// Why `ip` is refused, or `None` when it may be used.
    pub fn refusal(&self, ip: IpAddr) -> Option<String> {
        let ip = canonical(ip);
        if let Some(c) = self.deny.matching(ip) {
            return Some(format!("{ip} is in {DENY_KEY} ({c})"));
        }
        if !self.allow.is_empty() && self.allow.matching(ip).is_none() {
            return Some(format!("{ip} is not in {ALLOW_KEY} ({})", self.allow));
        }
        None
    }
}

/// Why a target cannot be used now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetError {
    /// Outside the target policy (the message names the setting and the range).
    Refused(String),
    /// The name resolves to nothing now (a retry may work).
    Unresolved(String),
}

impl TargetPolicy {
    /// Resolves `host` (unless it is an address) and checks every address: the addresses, or
    /// why they may not be used.
    pub async fn resolve(&self, what: &str, host: &str, port: u16) -> Result<Vec<IpAddr>, TargetError> {
        let host = host.trim().trim_start_matches('[').trim_end_matches(']');
        let literal = host.parse::<IpAddr>().ok();
        let addrs: Vec<IpAddr> = match literal {
            Some(ip) => vec![ip],
            None => match tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host((host, port))).await {
                Ok(Ok(it)) => it.map(|a| a.ip()).collect(),
                Ok(Err(e)) => return Err(TargetError::Unresolved(format!("{host} does not resolve: {e}"))),
                Err(_) => {
                    return Err(TargetError::Unresolved(format!(
                        "resolving {host} timed out after {} s",
                        RESOLVE_TIMEOUT.as_secs()
                    )))
                }
            },
        };
        for ip in &addrs {
            if let Some(why) = self.refusal(*ip) {
                let shown = match literal {
                    Some(_) => host.to_string(),
                    None => format!("{host} (resolves to {})", canonical(*ip)),
                };
                return Err(TargetError::Refused(format!(
                    "{what} {shown} is refused by the target policy: {why}; an admin can change {DENY_KEY} / {ALLOW_KEY}"
                )));
            }
        }
        Ok(addrs)
    }

    /// Why `host` is refused, or `None`. A name that does not resolve passes (nothing to
    /// connect to now; the check runs again at use).
    pub async fn check(&self, what: &str, host: &str, port: u16) -> Option<String> {
        if host.trim().is_empty() {
            return None;
        }
        match self.resolve(what, host, port).await {
            Err(TargetError::Refused(m)) => Some(m),
            _ => None,
        }
    }
}

/// Host and port of an http(s) URL, if it parses.
fn url_host_port(raw: &str) -> Option<(String, u16)> {
    let u = url::Url::parse(raw.trim()).ok()?;
    let host = u.host_str()?.trim_start_matches('[').trim_end_matches(']').to_string();
    Some((host, u.port_or_known_default().unwrap_or(443)))
}

impl Services {
    async fn cidr_setting(&self, key: &str) -> ServiceResult<CidrList> {
        let text = crate::store::settings::get(self.db(), key)
            .await?
            .and_then(|r| r.setting_value)
            .or_else(|| super::settings::definition(key).map(|d| d.default.to_string()))
            .unwrap_or_default();
        CidrList::parse(&text).map_err(|e| ServiceError::Internal(format!("setting {key}: {e}")))
    }

    /// The current allow and deny lists.
    pub async fn target_policy(&self) -> ServiceResult<TargetPolicy> {
        Ok(TargetPolicy {
            allow: self.cidr_setting(ALLOW_KEY).await?,
            deny: self.cidr_setting(DENY_KEY).await?,
        })
    }

    /// Refuses `host` (a name or an IP address) when it, or any address it resolves to, is
    /// outside the target policy. `what` names the target in the error (`monitor address`,
    /// `webhook URL`…).
    pub async fn check_target(&self, what: &str, host: &str, port: u16) -> ServiceResult<()> {
        let policy = self.target_policy().await?;
        match policy.check(what, host, port).await {
            Some(m) => Err(ServiceError::Forbidden(m)),
            None => Ok(()),
        }
    }

    /// [`Services::check_target`] for the host of an http(s) URL.
    pub async fn check_url_target(&self, what: &str, url: &str) -> ServiceResult<()> {
        match url_host_port(url) {
            Some((h, p)) => self.check_target(what, &h, p).await,
            None => Ok(()),
        }
    }

    /// [`Services::check_channel_targets`] for channel fields as typed (settings and secrets in
    /// one object); fields that do not make a channel are left to the channel's own validation.
    pub async fn check_channel_fields_targets(
        &self,
        t: crate::domain::ChannelType,
        fields: &serde_json::Value,
    ) -> ServiceResult<()> {
        let Some(map) = fields.as_object() else { return Ok(()) };
        match super::notifications::channel_config(t, map, map) {
            Ok(cfg) => self.check_channel_targets(&cfg).await,
            Err(_) => Ok(()),
        }
    }

    /// Checks where a DNS provider connects: the RFC 2136 server, or a custom API `endpoint`
    /// (the vendors' own endpoints are public names and are checked like any other).
    pub async fn check_dns_provider_targets(
        &self,
        provider_type: &str,
        settings: &serde_json::Value,
    ) -> ServiceResult<()> {
        match provider_type {
            "manual" => Ok(()),
            "rfc2136" => match settings["server"]
                .as_str()
                .and_then(|a| a.parse::<std::net::SocketAddr>().ok())
            {
                Some(a) => {
                    self.check_target("RFC 2136 server", &a.ip().to_string(), a.port())
                        .await
                }
                None => Ok(()),
            },
            _ => match settings["endpoint"].as_str() {
                Some(e) => self.check_url_target("DNS API endpoint", e).await,
                None => Ok(()),
            },
        }
    }

    /// At the moment of sending: checks every place the channel connects to and pins the
    /// checked addresses of an HTTP channel's host into it, so the request goes where the check
    /// looked (no second resolution). A refusal is [`ServiceError::Forbidden`]; a name that
    /// does not resolve now is [`ServiceError::Remote`] (a later attempt may work).
    pub async fn pin_channel_targets(&self, cfg: &mut ChannelConfig) -> ServiceResult<()> {
        let policy = self.target_policy().await?;
        let (what, pin) = match cfg {
            ChannelConfig::Email(s) => {
                return match policy.check("SMTP host", &s.host, s.port).await {
                    Some(m) => Err(ServiceError::Forbidden(m)),
                    None => Ok(()),
                }
            }
            ChannelConfig::Webhook(w) => ("webhook URL", (w.url.clone(), &mut w.pin)),
            ChannelConfig::Sms(SmsSettings::Gateway(g)) => ("SMS gateway URL", (g.url.clone(), &mut g.pin)),
            ChannelConfig::Sms(SmsSettings::Aliyun(a)) => ("SMS endpoint", (a.endpoint.clone(), &mut a.pin)),
        };
        let (url, slot) = pin;
        let Some((host, port)) = url_host_port(&url) else {
            return Ok(());
        };
        match policy.resolve(what, &host, port).await {
            Ok(addrs) => {
                if host.parse::<IpAddr>().is_err() {
                    *slot = Some(crate::engine::http::PinnedHost {
                        host,
                        addrs: addrs
                            .into_iter()
                            .map(|ip| std::net::SocketAddr::new(ip, port))
                            .collect(),
                    });
                }
                Ok(())
            }
            Err(TargetError::Refused(m)) => Err(ServiceError::Forbidden(m)),
            Err(TargetError::Unresolved(m)) => Err(ServiceError::Remote(m)),
        }
    }

    /// Checks every place a notification channel connects to.
    pub async fn check_channel_targets(&self, cfg: &ChannelConfig) -> ServiceResult<()> {
        match cfg {
            ChannelConfig::Email(s) => self.check_target("SMTP host", &s.host, s.port).await,
            ChannelConfig::Webhook(w) => self.check_url_target("webhook URL", &w.url).await,
            ChannelConfig::Sms(SmsSettings::Gateway(g)) => self.check_url_target("SMS gateway URL", &g.url).await,
            ChannelConfig::Sms(SmsSettings::Aliyun(a)) => self.check_url_target("SMS endpoint", &a.endpoint).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deny_wins_and_allow_limits() {
        let p = TargetPolicy {
            allow: CidrList::parse("10.0.0.0/8, 169.254.0.0/16").unwrap(),
            deny: CidrList::parse("169.254.0.0/16").unwrap(),
        };
        assert!(p.refusal("10.1.1.1".parse().unwrap()).is_none());
        assert!(p
            .refusal("169.254.169.254".parse().unwrap())
            .unwrap()
            .contains(DENY_KEY));
        assert!(p.refusal("192.0.2.1".parse().unwrap()).unwrap().contains(ALLOW_KEY));
        assert_eq!(url_host_port("https://[::1]:8443/x"), Some(("::1".into(), 8443)));
        assert_eq!(url_host_port("http://h.example/x"), Some(("h.example".into(), 80)));
    }
}
