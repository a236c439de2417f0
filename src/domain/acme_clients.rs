//! What other ACME clients recorded about their certificates, read from their own files: certbot
//! (`renewal/<name>.conf`, a configobj INI) and acme.sh (`<domain>[_ecc]/<domain>.conf`, shell
//! assignments), and the mapping of those settings onto certdeck's issuance settings (CA,
//! challenge, key type, key reuse, preferred chain), with a list of what does not carry over.
//!
//! Pure: no I/O. The service reads the files (locally or over SFTP) and hands the text here.

use std::fmt;

/// The ACME client a directory belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum AcmeTool {
    /// certbot (`/etc/letsencrypt`).
    #[serde(rename = "certbot")]
    Certbot,
    /// acme.sh (`~/.acme.sh`).
    #[serde(rename = "acme.sh")]
    AcmeSh,
}

impl AcmeTool {
    /// `certbot` or `acme.sh`.
    pub fn as_str(self) -> &'static str {
        match self {
            AcmeTool::Certbot => "certbot",
            AcmeTool::AcmeSh => "acme.sh",
        }
    }
}

impl fmt::Display for AcmeTool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for AcmeTool {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "certbot" | "letsencrypt" => Ok(AcmeTool::Certbot),
            "acme.sh" | "acmesh" | "acme-sh" | "acme_sh" => Ok(AcmeTool::AcmeSh),
            other => Err(format!("unknown ACME client '{other}': use certbot or acme.sh")),
        }
    }
}

/// Where a lineage keeps its PEM files (paths as the tool recorded them, or as its layout puts them).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct LineageFiles {
    /// The leaf certificate.
    pub cert: Option<String>,
    /// The intermediates.
    pub chain: Option<String>,
    /// Leaf followed by the intermediates.
    pub fullchain: Option<String>,
    /// The private key.
    pub key: Option<String>,
}

/// One certificate ("lineage") as its ACME client recorded it. Secrets are never read: only the
/// names of settings that hold them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Lineage {
    /// The client.
    pub tool: AcmeTool,
    /// certbot's lineage name, or acme.sh's main domain.
    pub name: String,
    /// The renewal configuration file.
    pub config_path: String,
    /// Names the client requests (acme.sh records them; certbot: empty, the certificate says).
    pub domains: Vec<String>,
    /// PEM files.
    pub files: LineageFiles,
    /// ACME directory URL.
    pub server: Option<String>,
    /// How the challenge is answered: certbot's `authenticator`, acme.sh's `Le_Webroot`.
    pub authenticator: Option<String>,
    /// Webroot paths (certbot `webroot_path` / `[[webroot_map]]`, acme.sh path in `Le_Webroot`).
    pub webroots: Vec<String>,
    /// Key type as recorded: `rsa`/`ecdsa` (certbot) or `Le_Keylength` (acme.sh).
    pub key_type: Option<String>,
    /// certbot `rsa_key_size`.
    pub rsa_key_size: Option<String>,
    /// certbot `elliptic_curve`.
    pub elliptic_curve: Option<String>,
    /// Keep the key on renewal.
    pub reuse_key: Option<bool>,
    /// Preferred chain (issuer CN).
    pub preferred_chain: Option<String>,
    /// certbot account id.
    pub account: Option<String>,
    /// certbot installer (`nginx`, `apache`), if it installed the certificate.
    pub installer: Option<String>,
    /// Hooks the client runs (names only: `deploy_hook`, `Le_ReloadCmd`, …).
    pub hooks: Vec<String>,
    /// Where acme.sh installed copies (`Le_RealCertPath`, …): name and path.
    pub installed_copies: Vec<(String, String)>,
    /// Settings that hold DNS plugin credentials (certbot: the credentials file path; acme.sh:
    /// the names of the `SAVED_*` variables, never their values).
    pub dns_credentials: Vec<String>,
}

impl Lineage {
    fn new(tool: AcmeTool, name: &str, config_path: &str) -> Self {
        Lineage {
            tool,
            name: name.to_string(),
            config_path: config_path.to_string(),
            domains: Vec::new(),
            files: LineageFiles::default(),
            server: None,
            authenticator: None,
            webroots: Vec::new(),
            key_type: None,
            rsa_key_size: None,
            elliptic_curve: None,
            reuse_key: None,
            preferred_chain: None,
            account: None,
            installer: None,
            hooks: Vec::new(),
            installed_copies: Vec::new(),
            dns_credentials: Vec::new(),
        }
    }
}

// ------------------------------------------------------------------------------ certbot

/// A configobj file as certbot writes it: top-level `key = value` pairs, `[section]`s and
/// `[[subsection]]`s (kept as `section/subsection`).
#[derive(Debug, Default, Clone)]
pub struct ConfigObj {
    /// `(section path, key, value)`; the top level has an empty section path.
    pub entries: Vec<(String, String, String)>,
}

impl ConfigObj {
    /// Parses configobj text (comments, quotes, sections; lists stay as written).
    pub fn parse(text: &str) -> ConfigObj {
        let mut out = ConfigObj::default();
        let mut path: Vec<String> = Vec::new();
        for raw in text.lines() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if line.starts_with('[') {
                let depth = line.chars().take_while(|c| *c == '[').count();
                let name = line.trim_start_matches('[').trim_end_matches(']').trim().to_string();
                path.truncate(depth.saturating_sub(1));
                path.push(name);
                continue;
            }
            let Some((k, v)) = line.split_once('=') else { continue };
            out.entries
                .push((path.join("/"), k.trim().to_string(), configobj_value(v.trim())));
        }
        out
    }

    /// A value of a section (`""` = top level).
    pub fn get(&self, section: &str, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(s, k, _)| s == section && k == key)
            .map(|(_, _, v)| v.as_str())
    }

    /// Every `(key, value)` of a section.
    pub fn section<'a>(&'a self, section: &'a str) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        self.entries
            .iter()
            .filter(move |(s, _, _)| s == section)
            .map(|(_, k, v)| (k.as_str(), v.as_str()))
    }
}

/// A configobj value without its quotes or trailing inline comment.
fn configobj_value(v: &str) -> String {
    for q in ['"', '\''] {
        if v.len() >= 2 && v.starts_with(q) {
            if let Some(end) = v[1..].find(q) {
                return v[1..1 + end].to_string();
            }
        }
    }
    match v.find(" #") {
        Some(i) => v[..i].trim().to_string(),
        None => v.to_string(),
    }
}

/// A configobj list (`a, b,` → `[a, b]`).
fn configobj_list(v: &str) -> Vec<String> {
    v.split(',')
        .map(|s| configobj_value(s.trim()))
        .filter(|s| !s.is_empty())
        .collect()
}

fn opt(v: Option<&str>) -> Option<String> {
    v.map(str::trim)
        .filter(|s| !s.is_empty() && *s != "None")
        .map(str::to_string)
}

fn truthy(v: &str) -> bool {
    matches!(v.trim().to_ascii_lowercase().as_str(), "true" | "1" | "yes" | "on")
}

/// Parses certbot's `renewal/<name>.conf`; `name` is the lineage (the file name without `.conf`).
pub fn parse_certbot_renewal(name: &str, config_path: &str, text: &str) -> Lineage {
    let c = ConfigObj::parse(text);
    let mut l = Lineage::new(AcmeTool::Certbot, name, config_path);
    l.files = LineageFiles {
        cert: opt(c.get("", "cert")),
        chain: opt(c.get("", "chain")),
        fullchain: opt(c.get("", "fullchain")),
        key: opt(c.get("", "privkey")),
    };
    let p = "renewalparams";
    l.server = opt(c.get(p, "server"));
    // Old plugin names are `certbot-dns-cloudflare:dns-cloudflare`.
    l.authenticator = opt(c.get(p, "authenticator")).map(|a| a.rsplit(':').next().unwrap_or(&a).to_string());
    l.installer = opt(c.get(p, "installer")).map(|a| a.rsplit(':').next().unwrap_or(&a).to_string());
    l.key_type = opt(c.get(p, "key_type"));
    l.rsa_key_size = opt(c.get(p, "rsa_key_size"));
    l.elliptic_curve = opt(c.get(p, "elliptic_curve"));
    l.reuse_key = c.get(p, "reuse_key").map(truthy);
    l.preferred_chain = opt(c.get(p, "preferred_chain"));
    l.account = opt(c.get(p, "account"));
    let mut webroots: Vec<String> = c.get(p, "webroot_path").map(configobj_list).unwrap_or_default();
    for (_, v) in c.section("renewalparams/webroot_map") {
        webroots.push(v.to_string());
    }
    let mut seen = std::collections::HashSet::new();
    webroots.retain(|w| seen.insert(w.clone()));
    l.webroots = webroots;
    for (k, v) in c.section(p) {
        if [
            "pre_hook",
            "post_hook",
            "deploy_hook",
            "renew_hook",
            "manual_auth_hook",
            "manual_cleanup_hook",
        ]
        .contains(&k)
            && !v.trim().is_empty()
            && v.trim() != "None"
        {
            l.hooks.push(k.to_string());
        }
        if k.starts_with("dns_") && k.ends_with("_credentials") && !v.trim().is_empty() {
            l.dns_credentials.push(format!("{k} = {v}"));
        }
    }
    l
}

/// certbot's account id directory under `accounts/`: `<server host>/<server path>/<account>`.
pub fn certbot_account_dir(server: &str, account: &str) -> Option<String> {
    let u = url::Url::parse(server).ok()?;
    let host = u.host_str()?;
    let host = match u.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    };
    let path = u.path().trim_matches('/');
    if account.is_empty() || account.contains('/') || account.contains("..") {
        return None;
    }
    Some(if path.is_empty() {
        format!("accounts/{host}/{account}")
    } else {
        format!("accounts/{host}/{path}/{account}")
    })
}

/// The contact e-mail of a certbot `regr.json` (`body.contact: ["mailto:…"]`).
pub fn certbot_regr_email(json: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(json).ok()?;
    v["body"]["contact"]
        .as_array()?
        .iter()
        .filter_map(|c| c.as_str())
        .find_map(|c| c.strip_prefix("mailto:").map(|e| e.trim().to_string()))
        .filter(|e| !e.is_empty())
}

// ------------------------------------------------------------------------------ acme.sh

/// `KEY='value'` assignments of an acme.sh conf file (quotes removed).
pub fn parse_shell_assignments(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for raw in text.lines() {
        let line = raw.trim();
        let line = line.strip_prefix("export ").unwrap_or(line);
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else { continue };
        let k = k.trim();
        if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        let v = v.trim();
        let v = if v.len() >= 2 && v.starts_with('\'') && v.ends_with('\'') {
            v[1..v.len() - 1].replace(r"'\''", "'")
        } else if v.len() >= 2 && v.starts_with('"') && v.ends_with('"') {
            v[1..v.len() - 1].replace("\\\"", "\"")
        } else {
            v.to_string()
        };
        out.push((k.to_string(), v));
    }
    out
}

fn get<'a>(a: &'a [(String, String)], key: &str) -> Option<&'a str> {
    a.iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

/// The acme.sh lineage directory's domain: `example.com_ecc` → `example.com`.
pub fn acmesh_dir_domain(dir_name: &str) -> &str {
    dir_name.strip_suffix("_ecc").unwrap_or(dir_name)
}

/// Parses acme.sh's `<home>/<dir>/<domain>.conf`; `dir` is the lineage directory (absolute, no
/// trailing slash), whose name ends in `_ecc` for ECDSA lineages.
pub fn parse_acmesh_conf(dir: &str, text: &str) -> Lineage {
    let a = parse_shell_assignments(text);
    let dir_name = dir.rsplit('/').next().unwrap_or(dir);
    let file_domain = acmesh_dir_domain(dir_name);
    let domain = get(&a, "Le_Domain").unwrap_or(file_domain).to_string();
    let mut l = Lineage::new(AcmeTool::AcmeSh, &domain, &format!("{dir}/{file_domain}.conf"));
    l.domains.push(domain.clone());
    if let Some(alt) = get(&a, "Le_Alt").filter(|v| *v != "no") {
        for d in alt.split(',').map(str::trim).filter(|d| !d.is_empty()) {
            if !l.domains.iter().any(|x| x == d) {
                l.domains.push(d.to_string());
            }
        }
    }
    l.files = LineageFiles {
        cert: Some(format!("{dir}/{file_domain}.cer")),
        chain: Some(format!("{dir}/ca.cer")),
        fullchain: Some(format!("{dir}/fullchain.cer")),
        key: Some(format!("{dir}/{file_domain}.key")),
    };
    l.server = get(&a, "Le_API").map(str::to_string);
    if let Some(w) = get(&a, "Le_Webroot") {
        let parts: Vec<&str> = w.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
        let paths: Vec<String> = parts
            .iter()
            .filter(|p| p.starts_with('/'))
            .map(|p| p.to_string())
            .collect();
        l.authenticator = Some(if !paths.is_empty() {
            "webroot".to_string()
        } else {
            parts.first().copied().unwrap_or("no").to_string()
        });
        l.webroots = paths;
    }
    l.key_type = get(&a, "Le_Keylength").map(str::to_string).or_else(|| {
        // Before Le_Keylength was always written, the directory suffix told ECDSA apart.
        (dir_name.ends_with("_ecc")).then(|| "ec-256".to_string())
    });
    // acme.sh keeps the domain key on renewal unless told to make a new one every time.
    l.reuse_key = Some(get(&a, "Le_ForceNewDomainKey") != Some("1"));
    l.preferred_chain = get(&a, "Le_PreferredChain").map(str::to_string);
    for k in [
        "Le_PreHook",
        "Le_PostHook",
        "Le_RenewHook",
        "Le_ReloadCmd",
        "Le_DeployHook",
    ] {
        if get(&a, k).is_some() {
            l.hooks.push(k.to_string());
        }
    }
    for k in [
        "Le_RealCertPath",
        "Le_RealCACertPath",
        "Le_RealKeyPath",
        "Le_RealFullChainPath",
    ] {
        if let Some(p) = get(&a, k) {
            l.installed_copies.push((k.to_string(), p.to_string()));
        }
    }
    l.dns_credentials = saved_credential_names(&a);
    l
}

/// Names of the `SAVED_*` settings (DNS API credentials acme.sh keeps), values never kept.
pub fn saved_credential_names(a: &[(String, String)]) -> Vec<String> {
    let mut names: Vec<String> = a
        .iter()
        .filter(|(k, v)| k.starts_with("SAVED_") && !v.is_empty())
        .map(|(k, _)| k.clone())
        .collect();
    names.sort();
    names.dedup();
    names
}

/// acme.sh's `account.conf` contact (`ACCOUNT_EMAIL`).
pub fn acmesh_account_email(account_conf: &str) -> Option<String> {
    get(&parse_shell_assignments(account_conf), "ACCOUNT_EMAIL").map(str::to_string)
}

// ------------------------------------------------------------------------------ mapping

/// How certdeck would answer the challenge.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
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
fn map_key(l: &Lineage) -> Result<String, String> {
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

#[cfg(test)]
mod tests {
    use super::*;

    const CERTBOT_WEBROOT: &str = "\
# renew_before_expiry = 30 days
version = 2.11.0
archive_dir = /etc/letsencrypt/archive/example.com
cert = /etc/letsencrypt/live/example.com/cert.pem
privkey = /etc/letsencrypt/live/example.com/privkey.pem
chain = /etc/letsencrypt/live/example.com/chain.pem
fullchain = /etc/letsencrypt/live/example.com/fullchain.pem

# Options used in the renewal process
[renewalparams]
account = 0123456789abcdef0123456789abcdef
authenticator = webroot
webroot_path = /var/www/html,
server = https://acme-staging-v02.api.letsencrypt.org/directory
key_type = ecdsa
reuse_key = True
preferred_chain = \"ISRG Root X1\"
deploy_hook = systemctl reload nginx
[[webroot_map]]
example.com = /var/www/html
www.example.com = /var/www/www
";

    fn presets() -> Vec<(String, String)> {
        [
            ("letsencrypt", "https://acme-v02.api.letsencrypt.org/directory"),
            (
                "letsencrypt-staging",
                "https://acme-staging-v02.api.letsencrypt.org/directory",
            ),
            ("zerossl", "https://acme.zerossl.com/v2/DV90"),
        ]
        .iter()
        .map(|(k, u)| (k.to_string(), u.to_string()))
        .collect()
    }

    #[test]
    fn certbot_webroot_lineage_parses_and_maps() {
        let l = parse_certbot_renewal(
            "example.com",
            "/etc/letsencrypt/renewal/example.com.conf",
            CERTBOT_WEBROOT,
        );
        assert_eq!(
            l.files.cert.as_deref(),
            Some("/etc/letsencrypt/live/example.com/cert.pem")
        );
        assert_eq!(
            l.files.key.as_deref(),
            Some("/etc/letsencrypt/live/example.com/privkey.pem")
        );
        assert_eq!(l.authenticator.as_deref(), Some("webroot"));
        assert_eq!(l.webroots, vec!["/var/www/html", "/var/www/www"]);
        assert_eq!(l.account.as_deref(), Some("0123456789abcdef0123456789abcdef"));
        assert_eq!(l.reuse_key, Some(true));
        assert_eq!(l.preferred_chain.as_deref(), Some("ISRG Root X1"));
        assert_eq!(l.hooks, vec!["deploy_hook"]);
        let m = map_settings(&l, &presets());
        assert!(m.complete(), "{m:?}");
        assert_eq!(m.ca.as_deref(), Some("letsencrypt-staging"));
        assert!(m.ca_known);
        assert_eq!(m.challenge.as_ref().unwrap().challenge_type(), "http-01");
        assert!(matches!(&m.challenge, Some(MappedChallenge::Http01Webroot { webroots }) if webroots.len() == 2));
        assert_eq!(m.key_type.as_deref(), Some("ec256"));
        assert!(m.key_reuse);
        assert!(m.unmapped.is_empty(), "{:?}", m.unmapped);
    }

    #[test]
    fn certbot_dns_rsa_and_unknown_server() {
        let text = "cert = /x/cert.pem\nprivkey = /x/privkey.pem\n[renewalparams]\n\
            authenticator = certbot-dns-cloudflare:dns-cloudflare\n\
            dns_cloudflare_credentials = /root/.secrets/cf.ini\n\
            server = https://ca.internal.example/acme/directory\nrsa_key_size = 4096\nreuse_key = False\n";
        let l = parse_certbot_renewal("a", "/r/a.conf", text);
        assert_eq!(l.authenticator.as_deref(), Some("dns-cloudflare"));
        assert_eq!(
            l.dns_credentials,
            vec!["dns_cloudflare_credentials = /root/.secrets/cf.ini"]
        );
        let m = map_settings(&l, &presets());
        assert_eq!(m.key_type.as_deref(), Some("rsa4096"));
        assert!(!m.key_reuse);
        assert_eq!(m.ca.as_deref(), Some("https://ca.internal.example/acme/directory"));
        assert!(!m.ca_known);
        assert_eq!(
            m.challenge,
            Some(MappedChallenge::Dns01 {
                plugin: "dns-cloudflare".into(),
                vendor: "Cloudflare".into()
            })
        );
        // An own CA with that directory is preferred.
        let mut cas = vec![(
            "internal".to_string(),
            "https://ca.internal.example/acme/directory/".to_string(),
        )];
        cas.extend(presets());
        assert_eq!(map_settings(&l, &cas).ca.as_deref(), Some("internal"));
    }

    #[test]
    fn certbot_unmappable_settings_are_listed() {
        let text = "[renewalparams]\nauthenticator = manual\nkey_type = ecdsa\nelliptic_curve = secp521r1\n\
            server = http://insecure.example/dir\n";
        let m = map_settings(&parse_certbot_renewal("a", "/r/a.conf", text), &presets());
        assert!(!m.complete());
        assert!(m.ca.is_none() && m.challenge.is_none() && m.key_type.is_none());
        assert_eq!(m.unmapped.len(), 3, "{:?}", m.unmapped);
        assert!(m.unmapped.iter().any(|u| u.contains("secp521r1")));
        assert!(m.unmapped.iter().any(|u| u.contains("manual")));
        // Standalone; no server means Let's Encrypt; RSA 1024 refused.
        let m = map_settings(
            &parse_certbot_renewal(
                "b",
                "/r/b.conf",
                "[renewalparams]\nauthenticator = standalone\nrsa_key_size = 1024\n",
            ),
            &presets(),
        );
        assert_eq!(m.ca.as_deref(), Some("letsencrypt"));
        assert_eq!(m.challenge, Some(MappedChallenge::Http01Standalone));
        assert!(m.key_type.is_none() && m.unmapped[0].contains("1024"));
    }

    #[test]
    fn certbot_accounts_and_regr() {
        assert_eq!(
            certbot_account_dir("https://acme-staging-v02.api.letsencrypt.org/directory", "abc").as_deref(),
            Some("accounts/acme-staging-v02.api.letsencrypt.org/directory/abc")
        );
        assert_eq!(
            certbot_account_dir("https://localhost:14000/dir", "x").as_deref(),
            Some("accounts/localhost:14000/dir/x")
        );
        assert!(certbot_account_dir("https://a.example/d", "../x").is_none());
        let regr = r#"{"body": {"contact": ["tel:+1", "mailto:ops@example.com"], "status": "valid"}, "uri": "https://x/acct/1"}"#;
        assert_eq!(certbot_regr_email(regr).as_deref(), Some("ops@example.com"));
        assert!(certbot_regr_email(r#"{"body": {}}"#).is_none());
        assert!(certbot_regr_email("not json").is_none());
    }

    const ACMESH_ECC: &str = "\
Le_Domain='example.org'
Le_Alt='www.example.org,api.example.org'
Le_Webroot='dns_cf'
Le_PreHook=''
Le_PostHook=''
Le_RenewHook=''
Le_API='https://acme-v02.api.letsencrypt.org/directory'
Le_Keylength='ec-256'
Le_OrderFinalize='https://acme-v02.api.letsencrypt.org/acme/finalize/1/2'
Le_LinkCert='https://acme-v02.api.letsencrypt.org/acme/cert/abc'
Le_RealFullChainPath='/etc/nginx/ssl/example.org.pem'
Le_ReloadCmd='__ACME_BASE64__START_c3lzdGVtY3RsIHJlbG9hZCBuZ2lueA==__ACME_BASE64__END_'
SAVED_CF_Token='secret-token-value'
Le_NextRenewTime='1735689600'
";

    #[test]
    fn acmesh_ecc_dns_lineage_parses_and_maps() {
        let l = parse_acmesh_conf("/root/.acme.sh/example.org_ecc", ACMESH_ECC);
        assert_eq!(l.name, "example.org");
        assert_eq!(l.config_path, "/root/.acme.sh/example.org_ecc/example.org.conf");
        assert_eq!(l.domains, vec!["example.org", "www.example.org", "api.example.org"]);
        assert_eq!(
            l.files.cert.as_deref(),
            Some("/root/.acme.sh/example.org_ecc/example.org.cer")
        );
        assert_eq!(
            l.files.key.as_deref(),
            Some("/root/.acme.sh/example.org_ecc/example.org.key")
        );
        assert_eq!(l.files.chain.as_deref(), Some("/root/.acme.sh/example.org_ecc/ca.cer"));
        assert_eq!(l.hooks, vec!["Le_ReloadCmd"]);
        assert_eq!(l.installed_copies.len(), 1);
        assert_eq!(l.dns_credentials, vec!["SAVED_CF_Token"]);
        assert!(
            !format!("{l:?}").contains("secret-token-value"),
            "credential values are never kept"
        );
        let m = map_settings(&l, &presets());
        assert!(m.complete());
        assert_eq!(m.ca.as_deref(), Some("letsencrypt"));
        assert_eq!(m.key_type.as_deref(), Some("ec256"));
        assert!(m.key_reuse);
        assert_eq!(
            m.challenge,
            Some(MappedChallenge::Dns01 {
                plugin: "dns_cf".into(),
                vendor: "Cloudflare".into()
            })
        );
    }

    #[test]
    fn acmesh_variants() {
        let m = |conf: &str, dir: &str| map_settings(&parse_acmesh_conf(dir, conf), &presets());
        let r = m("Le_Domain='a.example'\nLe_Alt='no'\nLe_Webroot='/var/www/a'\nLe_API='https://acme.zerossl.com/v2/DV90'\nLe_Keylength='3072'\nLe_ForceNewDomainKey='1'\n", "/h/a.example");
        assert_eq!(r.ca.as_deref(), Some("zerossl"));
        assert_eq!(r.key_type.as_deref(), Some("rsa3072"));
        assert!(!r.key_reuse);
        assert_eq!(
            r.challenge,
            Some(MappedChallenge::Http01Webroot {
                webroots: vec!["/var/www/a".into()]
            })
        );
        let r = m("Le_Domain='b.example'\nLe_Webroot='no'\nLe_API='https://acme-v01.api.letsencrypt.org/directory'\nLe_Keylength='ec-384'\n", "/h/b.example_ecc");
        assert_eq!(r.challenge, Some(MappedChallenge::Http01Standalone));
        assert_eq!(r.key_type.as_deref(), Some("ec384"));
        assert_eq!(r.ca.as_deref(), Some("letsencrypt"));
        assert!(r.unmapped[0].contains("v1"));
        let r = m(
            "Le_Domain='c.example'\nLe_Webroot='alpn'\nLe_Keylength='ec-521'\n",
            "/h/c.example_ecc",
        );
        assert!(r.ca.is_none() && r.challenge.is_none() && r.key_type.is_none());
        assert_eq!(r.unmapped.len(), 3, "{:?}", r.unmapped);
        // No Le_Keylength: the _ecc suffix means P-256.
        let l = parse_acmesh_conf("/h/d.example_ecc", "Le_Domain='d.example'\n");
        assert_eq!(map_key(&l).unwrap(), "ec256");
        assert_eq!(
            acmesh_account_email("#x\nACCOUNT_EMAIL='me@example.net'\nAUTO_UPGRADE='1'\n").as_deref(),
            Some("me@example.net")
        );
        assert_eq!(
            parse_shell_assignments("A='it'\\''s'\nB=\"q\"\nexport C=plain\n# D=x\n"),
            vec![
                ("A".to_string(), "it's".to_string()),
                ("B".into(), "q".into()),
                ("C".into(), "plain".into())
            ]
        );
    }

    #[test]
    fn tool_names_and_vendors() {
        assert_eq!("acme.sh".parse::<AcmeTool>().unwrap(), AcmeTool::AcmeSh);
        assert_eq!("Certbot".parse::<AcmeTool>().unwrap(), AcmeTool::Certbot);
        assert!("lego".parse::<AcmeTool>().is_err());
        assert_eq!(dns_vendor("dns_ali"), "Alibaba Cloud DNS");
        assert_eq!(dns_vendor("dns-rfc2136"), "RFC 2136 (nsupdate/TSIG)");
        assert_eq!(dns_vendor("dns_unknownhost"), "dns_unknownhost");
    }
}
