//! certbot: `renewal/<name>.conf` (configobj) and the account directory with its `regr.json`.

use super::{AcmeTool, Lineage, LineageFiles};

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
