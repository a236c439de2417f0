//! DNS hosting APIs that publish dns-01 TXT records: each provider implements [`DnsRecords`]
//! over its vendor's HTTP API (or RFC 2136). Zone lookup, signing and errors are the
//! provider's business; propagation checks and CNAME delegation live in the dns-01 solver.

use std::time::Duration;

use zeroize::Zeroizing;

pub mod aliyun;
pub mod cloudflare;
mod common;
pub mod dnspod;
pub mod huaweicloud;

pub(crate) use common::percent_encode;
pub use common::DnsRecords;
#[cfg(test)]
use common::{longest_zone, relative_name, unquote};

/// The HTTP client every vendor API (and notification channel) uses: [`super::http::client`].
pub fn http_client(timeout: Duration) -> Result<reqwest::Client, String> {
    super::http::client(timeout)
}

/// Provider types that need an HTTP API, and the settings/secret keys each takes.
#[derive(Debug, Clone, Copy)]
pub struct ProviderSpec {
    /// The `provider_type` stored with a DNS provider (`cloudflare`, `aliyun`…).
    pub provider_type: &'static str,
    /// What an operator reads.
    pub title: &'static str,
    /// Non-secret settings keys (all optional): `endpoint` overrides the vendor's API base URL.
    pub settings: &'static [&'static str],
    /// Secret keys, all required.
    pub secrets: &'static [&'static str],
}

/// Every HTTP-API DNS provider [`build`] knows.
pub const PROVIDERS: &[ProviderSpec] = &[
    ProviderSpec {
        provider_type: "cloudflare",
        title: "Cloudflare",
        settings: &["endpoint", "ttl"],
        secrets: &["api_token"],
    },
    ProviderSpec {
        provider_type: "aliyun",
        title: "Alibaba Cloud DNS (Aliyun)",
        settings: &["endpoint", "ttl"],
        secrets: &["access_key_id", "access_key_secret"],
    },
    ProviderSpec {
        provider_type: "dnspod",
        title: "Tencent Cloud DNSPod",
        settings: &["endpoint", "ttl"],
        secrets: &["secret_id", "secret_key"],
    },
    ProviderSpec {
        provider_type: "huaweicloud",
        title: "Huawei Cloud DNS",
        settings: &["endpoint", "region", "ttl"],
        secrets: &["access_key_id", "secret_access_key"],
    },
];

/// How long one vendor API call may take.
const API_TIMEOUT: Duration = Duration::from_secs(30);

/// Builds a provider from its settings (JSON object, non-secret: e.g. `region`, `ttl`, and
/// `endpoint`, an override of the vendor's API base URL) and secrets (JSON object).
pub fn build(
    provider_type: &str,
    settings: &serde_json::Value,
    secrets: &serde_json::Value,
) -> Result<Box<dyn DnsRecords>, String> {
    let client = || http_client(API_TIMEOUT);
    match provider_type {
        "cloudflare" => Ok(Box::new(cloudflare::Cloudflare::new(
            client()?,
            setting(settings, "endpoint"),
            secret(secrets, "Cloudflare", "api_token")?,
            ttl(settings)?,
        ))),
        "aliyun" => Ok(Box::new(aliyun::Aliyun::new(
            client()?,
            setting(settings, "endpoint"),
            secret(secrets, "Aliyun", "access_key_id")?,
            secret(secrets, "Aliyun", "access_key_secret")?,
            ttl(settings)?,
        ))),
        "dnspod" => Ok(Box::new(dnspod::Dnspod::new(
            client()?,
            setting(settings, "endpoint"),
            secret(secrets, "DNSPod", "secret_id")?,
            secret(secrets, "DNSPod", "secret_key")?,
            ttl(settings)?,
        ))),
        "huaweicloud" => {
            let endpoint = setting(settings, "endpoint")
                .or_else(|| setting(settings, "region").map(|r| format!("https://dns.{r}.myhuaweicloud.com")));
            Ok(Box::new(huaweicloud::HuaweiCloud::new(
                client()?,
                endpoint,
                secret(secrets, "Huawei Cloud", "access_key_id")?,
                secret(secrets, "Huawei Cloud", "secret_access_key")?,
                ttl(settings)?,
            )))
        }
        other => Err(format!(
            "unknown DNS provider type {other:?} (known: {})",
            PROVIDERS.iter().map(|p| p.provider_type).collect::<Vec<_>>().join(", ")
        )),
    }
}

/// A non-empty string setting (numbers are accepted as their text).
fn setting(settings: &serde_json::Value, key: &str) -> Option<String> {
    match settings.get(key)? {
        serde_json::Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The optional `ttl` setting.
fn ttl(settings: &serde_json::Value) -> Result<Option<u32>, String> {
    match setting(settings, "ttl") {
        None => Ok(None),
        Some(t) => t
            .parse::<u32>()
            .ok()
            .filter(|t| *t > 0)
            .map(Some)
            .ok_or_else(|| format!("ttl must be a positive number of seconds, not {t:?}")),
    }
}

/// A required secret: missing or empty is an error naming the field (never its value).
fn secret(secrets: &serde_json::Value, vendor: &str, key: &str) -> Result<Zeroizing<String>, String> {
    match secrets.get(key) {
        Some(serde_json::Value::String(s)) if !s.trim().is_empty() => Ok(Zeroizing::new(s.trim().to_string())),
        Some(serde_json::Value::String(_)) => Err(format!("{vendor}: the secret {key} is empty")),
        Some(_) => Err(format!("{vendor}: the secret {key} must be a string")),
        None => Err(format!("{vendor}: the secret {key} is missing")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zones(names: &[&str]) -> Vec<(String, String)> {
        names.iter().map(|n| (n.to_string(), format!("id-{n}"))).collect()
    }

    #[test]
    fn longest_zone_wins_and_labels_must_match_whole() {
        let z = zones(&["example.com", "sub.example.com.", "other.org"]);
        assert_eq!(
            longest_zone("_acme-challenge.sub.example.com", &z).unwrap().1,
            "id-sub.example.com."
        );
        assert_eq!(
            longest_zone("_acme-challenge.xsub.example.com", &z).unwrap().1,
            "id-example.com"
        );
        assert_eq!(longest_zone("Example.COM.", &z).unwrap().1, "id-example.com");
        assert!(longest_zone("example.net", &z).is_none());
        assert!(longest_zone("notexample.com", &z).is_none());
    }

    #[test]
    fn relative_names() {
        assert_eq!(
            relative_name("_acme-challenge.www.example.com", "example.com."),
            "_acme-challenge.www"
        );
        assert_eq!(relative_name("example.com", "example.com"), "@");
    }

    #[test]
    fn unquoting() {
        assert_eq!(unquote("\"abc\""), "abc");
        assert_eq!(unquote("abc"), "abc");
        assert_eq!(unquote("\""), "\"");
    }

    #[test]
    fn secrets_missing_or_empty_name_the_field() {
        let s = serde_json::json!({"api_token": "  "});
        assert_eq!(
            secret(&s, "Cloudflare", "api_token").unwrap_err(),
            "Cloudflare: the secret api_token is empty"
        );
        assert_eq!(
            secret(&serde_json::json!({}), "Cloudflare", "api_token").unwrap_err(),
            "Cloudflare: the secret api_token is missing"
        );
        assert!(build("nope", &serde_json::json!({}), &serde_json::json!({})).is_err());
        assert!(ttl(&serde_json::json!({"ttl": "0"})).is_err());
        assert_eq!(ttl(&serde_json::json!({"ttl": 120})).unwrap(), Some(120));
    }

    #[test]
    fn percent_encoding_is_rfc3986() {
        assert_eq!(percent_encode("a b*c~d/é+=:"), "a%20b%2Ac~d%2F%C3%A9%2B%3D%3A");
    }

    #[test]
    fn debug_redacts_secrets() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let c = || http_client(API_TIMEOUT).unwrap();
        let z = |s: &str| Zeroizing::new(s.to_string());
        let shown = [
            format!("{:?}", cloudflare::Cloudflare::new(c(), None, z("SECRET-1"), None)),
            format!(
                "{:?}",
                aliyun::Aliyun::new(c(), None, z("KEYID-2"), z("SECRET-2"), None)
            ),
            format!(
                "{:?}",
                dnspod::Dnspod::new(c(), None, z("KEYID-3"), z("SECRET-3"), None)
            ),
            format!(
                "{:?}",
                huaweicloud::HuaweiCloud::new(c(), None, z("KEYID-4"), z("SECRET-4"), None)
            ),
        ];
        for s in shown {
            assert!(
                !s.contains("SECRET") && !s.contains("KEYID") && s.contains("<redacted>"),
                "{s}"
            );
        }
    }
}
