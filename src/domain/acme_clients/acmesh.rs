//! acme.sh: `<domain>[_ecc]/<domain>.conf` shell assignments and `account.conf`.

use super::{AcmeTool, Lineage, LineageFiles};

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
