//! What every DNS provider implements ([`DnsRecords`]) and the wire helpers the vendor clients
//! share (zone matching, names, signing, encoding, errors). The registry in `mod.rs` and each
//! provider build on this module; it imports none of them.

use crate::engine::acme::BoxFut;

/// Adds and removes TXT records at a DNS host.
pub trait DnsRecords: Send + Sync {
    /// What this is, for logs and errors (e.g. `Cloudflare`, `RFC 2136 at 192.0.2.53:53`).
    fn describe(&self) -> String;
    /// Adds a TXT record `fqdn` (no trailing dot) with `value`, next to any existing ones.
    fn add_txt<'a>(&'a self, fqdn: &'a str, value: &'a str) -> BoxFut<'a, Result<(), String>>;
    /// Removes the TXT record `fqdn` with exactly `value` (absent is not an error).
    fn delete_txt<'a>(&'a self, fqdn: &'a str, value: &'a str) -> BoxFut<'a, Result<(), String>>;
    /// The operator creates the records by hand (nothing is written; the solver shows them).
    fn is_manual(&self) -> bool {
        false
    }
    /// A server known to be authoritative for the records (an RFC 2136 primary): asked when
    /// the zone's name servers cannot be found through the resolvers.
    fn primary_server(&self) -> Option<std::net::SocketAddr> {
        None
    }
}

/// A DNS name in the form used for comparisons: lowercase, no trailing dot.
pub(crate) fn norm(name: &str) -> String {
    name.trim().trim_end_matches('.').to_ascii_lowercase()
}

/// Of `zones` (`(name, id)`), the one with the longest name that is `fqdn` or a parent of it.
pub(crate) fn longest_zone<'a>(fqdn: &str, zones: &'a [(String, String)]) -> Option<&'a (String, String)> {
    let fqdn = norm(fqdn);
    zones
        .iter()
        .filter(|(name, _)| {
            let z = norm(name);
            !z.is_empty() && (fqdn == z || fqdn.ends_with(&format!(".{z}")))
        })
        .max_by_key(|(name, _)| norm(name).len())
}

/// The part of `fqdn` left of `zone` (`@` at the apex).
pub(crate) fn relative_name(fqdn: &str, zone: &str) -> String {
    let (fqdn, zone) = (norm(fqdn), norm(zone));
    if fqdn == zone {
        "@".to_string()
    } else {
        fqdn.strip_suffix(&format!(".{zone}")).unwrap_or(&fqdn).to_string()
    }
}

/// A TXT value as a vendor may return it, without the surrounding quotes.
pub(crate) fn unquote(value: &str) -> &str {
    let v = value.trim();
    v.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(v)
}

/// `host[:port]` of a base URL, as an HTTP client sends it in `Host` (the port only when it is
/// not the scheme's default).
pub(crate) fn host_header(url: &reqwest::Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    }
}

/// A base URL without trailing slash.
pub(crate) fn base_url(endpoint: Option<String>, default: &str) -> String {
    endpoint
        .unwrap_or_else(|| default.to_string())
        .trim_end_matches('/')
        .to_string()
}

pub(crate) use crate::domain::certpem::{hex, sha256_hex};

pub(crate) fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// RFC 3986 percent-encoding: only `A-Z a-z 0-9 - _ . ~` stay literal (Aliyun's and Huawei's rule).
pub(crate) fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A transport error, without the URL (a signed query carries the access key id).
pub(crate) fn transport(vendor: &str, e: reqwest::Error) -> String {
    format!("{vendor}: {}", e.without_url())
}
