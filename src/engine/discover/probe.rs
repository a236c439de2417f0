//! [`probe_host`]: the OS, the web server and its version, from three commands on any
//! [`Transport`].

use serde::{Deserialize, Serialize};

use super::bounds::clip;
use crate::domain::ServerType;
use crate::engine::deploy::{StepError, Transport};

/// PATH for probe commands: a non-root login shell often lacks the sbin directories.
pub const PROBE_PATH_PREFIX: &str =
    "PATH=\"$PATH:/usr/sbin:/sbin:/usr/local/sbin:/usr/local/nginx/sbin\"; export PATH; ";

/// What a probe found on a host (each at most 50 characters, the columns' width).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct HostFacts {
    /// OS name (`NAME`, else `ID`, of `/etc/os-release`).
    pub os_type: Option<String>,
    /// OS version (`VERSION_ID`).
    pub os_version: Option<String>,
    /// The web server found: the only one installed, or the configured type when both nginx and
    /// Apache are; `None` when none is (or both are and the configured type is `other`).
    pub server_type: Option<ServerType>,
    /// Version line of the web server of [`HostFacts::kind`] (`nginx/1.22.1`,
    /// `Apache/2.4.62 (Debian)`).
    pub web_server_version: Option<String>,
}

impl HostFacts {
    /// The web server type discovery reads: the detected one, else the configured one.
    pub fn kind(&self, configured: ServerType) -> ServerType {
        self.server_type.unwrap_or(configured)
    }

    /// Whether every string fits its column (50 characters): checked on facts from an agent.
    pub fn validate(&self) -> Result<(), String> {
        for (what, v) in [
            ("os_type", &self.os_type),
            ("os_version", &self.os_version),
            ("web_server_version", &self.web_server_version),
        ] {
            if v.as_ref().is_some_and(|v| v.chars().count() > 50) {
                return Err(format!("host facts: {what} is longer than 50 characters (its column)"));
            }
        }
        Ok(())
    }
}

/// `/etc/os-release` → (name, version), each at most 50 characters.
pub fn parse_os_release(text: &str) -> (Option<String>, Option<String>) {
    let mut name = None;
    let mut id = None;
    let mut version = None;
    for line in text.lines() {
        let Some((k, v)) = line.split_once('=') else { continue };
        let v = v.trim().trim_matches('"').trim_matches('\'').to_string();
        match k.trim() {
            "NAME" => name = Some(v),
            "ID" => id = Some(v),
            "VERSION_ID" => version = Some(v),
            _ => {}
        }
    }
    (name.or(id).map(|s| clip(&s, 50)), version.map(|s| clip(&s, 50)))
}

/// The version token of `nginx -v` / `apache2 -v` output (`nginx/1.22.1`, `Apache/2.4.62 (Debian)`).
pub fn parse_web_version(text: &str) -> Option<String> {
    for line in text.lines() {
        let l = line.trim();
        if let Some(rest) = l.strip_prefix("nginx version:") {
            return Some(clip(rest.trim(), 50));
        }
        if let Some(rest) = l.strip_prefix("Server version:") {
            return Some(clip(rest.trim(), 50));
        }
    }
    None
}

/// Probes a host: `/etc/os-release`, `nginx -v`, and `apache2 -v` (or `apachectl`, `httpd`,
/// `apache2ctl`). When both web servers answer, `configured` (the server's configured type)
/// decides which one is the host's. An `Err` is the transport's (a command could not run).
pub async fn probe_host(t: &dyn Transport, configured: ServerType) -> Result<HostFacts, StepError> {
    let os = t.exec("cat /etc/os-release 2>/dev/null").await?;
    let (os_type, os_version) = parse_os_release(&os.stdout);
    let nginx = t.exec(&format!("{PROBE_PATH_PREFIX}nginx -v 2>&1")).await?;
    let apache = t
        .exec(&format!(
            "{PROBE_PATH_PREFIX}(apache2 -v || apachectl -v || httpd -v || apache2ctl -v) 2>/dev/null"
        ))
        .await?;
    let nginx_v = (nginx.code == 0).then(|| parse_web_version(&nginx.stdout)).flatten();
    let apache_v = (apache.code == 0).then(|| parse_web_version(&apache.stdout)).flatten();
    let detected = match (&nginx_v, &apache_v, configured) {
        (Some(_), Some(_), t) if t != ServerType::Other => Some(t),
        (Some(_), None, _) => Some(ServerType::Nginx),
        (None, Some(_), _) => Some(ServerType::Apache),
        _ => None,
    };
    let web_server_version = match detected.unwrap_or(configured) {
        ServerType::Nginx => nginx_v,
        ServerType::Apache => apache_v,
        ServerType::Other => nginx_v.or(apache_v),
    };
    Ok(HostFacts {
        os_type,
        os_version,
        server_type: detected,
        web_server_version,
    })
}
