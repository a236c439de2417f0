//! Mapping a lineage's settings onto certdeck's issuance settings (CA, challenge, key type, key
//! reuse, preferred chain), with what does not carry over; the webroot check.

use super::{AcmeTool, Lineage};

/// How certdeck would answer the challenge.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MappedChallenge {
    /// http-01 with certdeck's own listener (the client used a standalone server too).
    Http01Standalone,
    /// http-01; the client wrote the token into a webroot.
    Http01Webroot {
        /// The webroot(s).
        webroots: Vec<String>,
    },
    /// http-01; the client had nginx or apache answer.
    Http01WebServer {
        /// `nginx` or `apache`.
        server: String,
    },
    /// dns-01 through a DNS plugin whose credentials stay with the client.
    Dns01 {
        /// The client's plugin (`dns-cloudflare`, `dns_cf`).
        plugin: String,
        /// The DNS host it talks to, in words.
        vendor: String,
    },
}

impl MappedChallenge {
    /// `http-01` or `dns-01`.
    pub fn challenge_type(&self) -> &'static str {
        match self {
            MappedChallenge::Dns01 { .. } => "dns-01",
            _ => "http-01",
        }
    }
}

/// A lineage's settings as certdeck issuance settings, and what did not carry over.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct MappedSettings {
    /// CA: a preset key or custom CA name that has this directory, else the directory URL.
    pub ca: Option<String>,
    /// Whether `ca` names a known CA (else it is the URL, to be added with `ca add`).
    pub ca_known: bool,
    /// ACME directory URL.
    pub directory_url: Option<String>,
    /// Challenge.
    pub challenge: Option<MappedChallenge>,
    /// certdeck key type (`ec256`, `rsa2048`, …).
    pub key_type: Option<String>,
    /// Keep the key on renewal.
    pub key_reuse: bool,
    /// Preferred chain.
    pub preferred_chain: Option<String>,
    /// What did not map, one sentence each.
    pub unmapped: Vec<String>,
}

impl MappedSettings {
    /// Whether CA, challenge and key type all mapped (enough for an issuance row).
    pub fn complete(&self) -> bool {
        self.ca.is_some() && self.directory_url.is_some() && self.challenge.is_some() && self.key_type.is_some()
    }
}

/// The DNS host a client's DNS plugin talks to, in words (`dns_cf` → Cloudflare).
pub fn dns_vendor(plugin: &str) -> String {
    let p = plugin.trim().to_ascii_lowercase().replace('_', "-");
    let key = p.strip_prefix("dns-").unwrap_or(&p);
    let name = match key {
        "cf" | "cloudflare" => "Cloudflare",
        "ali" => "Alibaba Cloud DNS",
        "dp" | "dnspod" => "DNSPod",
        "huaweicloud" => "Huawei Cloud DNS",
        "nsupdate" | "rfc2136" => "RFC 2136 (nsupdate/TSIG)",
        "aws" | "route53" => "Amazon Route 53",
        "gd" | "godaddy" => "GoDaddy",
        "dgon" | "digitalocean" => "DigitalOcean",
        "gcloud" | "google" => "Google Cloud DNS",
        "ovh" => "OVH",
        "linode" | "linode-v4" => "Linode",
        "gandi" | "gandi-livedns" | "gandi-live" => "Gandi",
        "azure" => "Azure DNS",
        "he" => "Hurricane Electric",
        "namecheap" => "Namecheap",
        "hetzner" => "Hetzner DNS",
        "ionos" => "IONOS",
        "porkbun" => "Porkbun",
        "duckdns" => "Duck DNS",
        "desec" => "deSEC",
        "powerdns" | "pdns" => "PowerDNS",
        "dnsimple" => "DNSimple",
        "luadns" => "LuaDNS",
        "nsone" => "NS1",
        "sakuracloud" => "Sakura Cloud",
        _ => return plugin.to_string(),
    };
    name.to_string()
}

fn norm_url(u: &str) -> String {
    u.trim().trim_end_matches('/').to_ascii_lowercase()
}

/// The CA of a directory URL among `cas` (`(key, directory)`, first match wins), else None.
pub fn ca_for_directory<'a>(directory: &str, cas: &'a [(String, String)]) -> Option<&'a str> {
    let want = norm_url(directory);
    cas.iter().find(|(_, d)| norm_url(d) == want).map(|(k, _)| k.as_str())
}

/// ACME v1 endpoints are gone: their v2 successors.
fn v2_directory(url: &str) -> Option<&'static str> {
    let u = norm_url(url);
    if u.contains("acme-staging.api.letsencrypt.org") {
        Some("https://acme-staging-v02.api.letsencrypt.org/directory")
    } else if u.contains("acme-v01.api.letsencrypt.org") {
        Some("https://acme-v02.api.letsencrypt.org/directory")
    } else {
        None
    }
}

/// Maps a lineage onto certdeck's issuance settings. `cas` are the CAs the user can name, as
/// `(key, directory URL)`, own CAs first (they carry EAB and trust roots), then the presets.
pub fn map_settings(l: &Lineage, cas: &[(String, String)]) -> MappedSettings {
    let mut unmapped = Vec::new();
    // CA
    let server = match (&l.server, l.tool) {
        (Some(s), _) => Some(s.clone()),
        // certbot writes the server it used; an old file without one used Let's Encrypt.
        (None, AcmeTool::Certbot) => Some("https://acme-v02.api.letsencrypt.org/directory".to_string()),
        (None, AcmeTool::AcmeSh) => None,
    };
    let server = server.map(|s| match v2_directory(&s) {
        Some(v2) => {
            unmapped.push(format!(
                "the ACME v1 endpoint {s} no longer exists: mapped to its v2 directory {v2}"
            ));
            v2.to_string()
        }
        None => s,
    });
    let (ca, ca_known, directory_url) = match &server {
        Some(s) if url::Url::parse(s).is_ok_and(|u| u.scheme() == "https") => match ca_for_directory(s, cas) {
            Some(k) => (Some(k.to_string()), true, Some(s.clone())),
            None if s.chars().count() <= 100 => (Some(s.clone()), false, Some(s.clone())),
            None => {
                unmapped.push(format!(
                        "the ACME directory {s} matches no CA and is too long to serve as a CA name: add it with `certdeck ca add NAME --directory URL`"
                    ));
                (None, false, Some(s.clone()))
            }
        },
        Some(s) => {
            unmapped.push(format!("the ACME server '{s}' is not an https directory URL"));
            (None, false, None)
        }
        None => {
            unmapped.push("no ACME directory is recorded (Le_API)".into());
            (None, false, None)
        }
    };
    // challenge
    let auth = l.authenticator.as_deref().unwrap_or("").trim();
    let challenge = match (l.tool, auth) {
        (_, "webroot") => Some(MappedChallenge::Http01Webroot {
            webroots: l.webroots.clone(),
        }),
        (AcmeTool::Certbot, "standalone") | (AcmeTool::AcmeSh, "no") => Some(MappedChallenge::Http01Standalone),
        (_, a) if a == "nginx" || a == "apache" || a.starts_with("nginx:") || a.starts_with("apache:") => {
            Some(MappedChallenge::Http01WebServer {
                server: a.split(':').next().unwrap_or(a).to_string(),
            })
        }
        (AcmeTool::Certbot, a) if a.starts_with("dns-") => Some(MappedChallenge::Dns01 {
            plugin: a.to_string(),
            vendor: dns_vendor(a),
        }),
        (AcmeTool::AcmeSh, a) if a.starts_with("dns_") => Some(MappedChallenge::Dns01 {
            plugin: a.to_string(),
            vendor: dns_vendor(a),
        }),
        (_, "") => {
            unmapped.push("no authenticator is recorded: the challenge type is unknown".into());
            None
        }
        (AcmeTool::Certbot, "manual") => {
            unmapped.push(
                "authenticator manual (records or files placed by hand or by hooks) has no certdeck equivalent".into(),
            );
            None
        }
        (AcmeTool::AcmeSh, "dns") => {
            unmapped.push("manual DNS mode (Le_Webroot='dns') has no certdeck equivalent".into());
            None
        }
        (AcmeTool::AcmeSh, "alpn") => {
            unmapped.push("tls-alpn-01 (Le_Webroot='alpn') is not a challenge certdeck answers".into());
            None
        }
        (_, a) => {
            unmapped.push(format!("authenticator '{a}' has no certdeck equivalent"));
            None
        }
    };
    // key
    let key_type = match map_key(l) {
        Ok(k) => Some(k),
        Err(e) => {
            unmapped.push(e);
            None
        }
    };
    MappedSettings {
        ca,
        ca_known,
        directory_url,
        challenge,
        key_type,
        key_reuse: l.reuse_key.unwrap_or(false),
        preferred_chain: l.preferred_chain.clone(),
        unmapped,
    }
}

/// certdeck's key type for a lineage's recorded key settings.
pub(super) fn map_key(l: &Lineage) -> Result<String, String> {
    let ok = |bits: &str| -> Result<String, String> {
        match bits.trim() {
            b @ ("2048" | "3072" | "4096") => Ok(format!("rsa{b}")),
            b => Err(format!(
                "RSA {b}-bit keys are not a key type certdeck issues (2048, 3072 or 4096)"
            )),
        }
    };
    match l.tool {
        AcmeTool::Certbot => match l.key_type.as_deref().map(str::to_ascii_lowercase).as_deref() {
            None | Some("rsa") => ok(l.rsa_key_size.as_deref().unwrap_or("2048")),
            Some("ecdsa") => match l.elliptic_curve.as_deref().unwrap_or("secp256r1") {
                "secp256r1" | "prime256v1" | "P-256" => Ok("ec256".into()),
                "secp384r1" | "P-384" => Ok("ec384".into()),
                c => Err(format!(
                    "elliptic curve {c} is not a key type certdeck issues (P-256 or P-384)"
                )),
            },
            Some(o) => Err(format!("key type '{o}' is not one certdeck knows")),
        },
        AcmeTool::AcmeSh => match l.key_type.as_deref().map(str::trim) {
            None => ok("2048"),
            Some("ec-256") => Ok("ec256".into()),
            Some("ec-384") => Ok("ec384".into()),
            Some(k) if k.starts_with("ec-") => Err(format!(
                "key length {k} is not a key type certdeck issues (ec-256 or ec-384)"
            )),
            Some(k) => ok(k),
        },
    }
}

/// Checks a webroot (the document root certdeck writes http-01 challenge files under), typed
/// by an operator or read from a migrated certbot/acme.sh configuration: an absolute path of
/// at most 500 bytes, no `..` component, no control characters. Returns it without trailing
/// slashes.
pub fn check_webroot(raw: &str) -> Result<String, String> {
    let root = raw.trim();
    if !root.starts_with('/') {
        return Err(format!("'{}' is not an absolute path", root.escape_debug()));
    }
    if root.split('/').any(|c| c == "..") || root.contains("..") {
        return Err(format!("'{}' contains '..'", root.escape_debug()));
    }
    if root.chars().any(char::is_control) {
        return Err(format!("'{}' contains a control character", root.escape_debug()));
    }
    if root.len() > 500 {
        return Err(format!("is {} bytes long; at most 500", root.len()));
    }
    Ok(root.trim_end_matches('/').to_string())
}
