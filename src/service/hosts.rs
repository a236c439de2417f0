//! What the deploy and the server check both know of a server entry: the config test and
//! reload commands of its type, how a command runs with its privilege mode, where a
//! deployment's key goes, and where a deploy is verified. Both import this module; neither
//! imports the other.

use crate::domain::{PrivilegeMode, ServerType};
use crate::store::certificates::DeploymentRow;
use crate::store::servers::ServerRow;

/// The config test and reload commands of a server (before privilege is applied).
#[derive(Debug, Clone, Default, serde::Serialize, schemars::JsonSchema)]
pub struct ServerCommands {
    /// Config test, if any.
    pub test: Option<String>,
    /// Reload, if any.
    pub reload: Option<String>,
}

/// The commands a server uses: its own, else the defaults of its type (none for `other`).
pub fn server_commands(s: &ServerRow) -> ServerCommands {
    let (t, r) = match s.server_type {
        ServerType::Nginx => ("nginx -t", "nginx -s reload"),
        ServerType::Apache => ("apachectl -t", "apachectl -k graceful"),
        ServerType::Other => ("", ""),
    };
    let pick = |own: &Option<String>, def: &str| {
        own.clone()
            .filter(|c| !c.trim().is_empty())
            .or_else(|| Some(def.to_string()).filter(|d| !d.is_empty()))
    };
    ServerCommands {
        test: pick(&s.test_command, t),
        reload: pick(&s.reload_command, r),
    }
}

/// The command line as run on the server (with `sudo -n` in privilege mode sudo).
pub fn privileged(s: &ServerRow, cmd: &str) -> String {
    match s.privilege_mode {
        PrivilegeMode::Sudo => format!("sudo -n {cmd}"),
        PrivilegeMode::None => format!("PATH=\"$PATH:/usr/sbin:/sbin:/usr/local/sbin\"; export PATH; {cmd}"),
    }
}

/// The key path of a deployment: its own, else the certificate path with `.key` for its extension.
pub fn key_path_of(d: &DeploymentRow) -> String {
    key_path_for(&d.deploy_path, d.key_path.as_deref())
}

/// The key path for a certificate path and an optional own key path: the own one, else the
/// certificate path with `.key` for its extension (which is the certificate path itself when
/// that already ends in `.key`: refused where deployments are made and deployed).
pub fn key_path_for(deploy_path: &str, key_path: Option<&str>) -> String {
    if let Some(k) = key_path {
        return k.to_string();
    }
    let p = deploy_path;
    let (dir, file) = p.rsplit_once('/').unwrap_or(("", p));
    let stem = file
        .rsplit_once('.')
        .map(|(s, _)| s)
        .filter(|s| !s.is_empty())
        .unwrap_or(file);
    format!("{dir}/{stem}.key")
}

/// Where a deploy is verified: (host, port, SNI).
pub fn verify_target(d: &DeploymentRow, s: &ServerRow, main_domain: &str) -> (String, u16, String) {
    let host = d.verify_host.clone().unwrap_or_else(|| s.hostname.clone());
    let port = d
        .verify_port
        .or(s.verify_port)
        .and_then(|p| u16::try_from(p).ok())
        .unwrap_or(443);
    let sni = d
        .verify_sni
        .clone()
        .unwrap_or_else(|| main_domain.trim_start_matches("*.").to_string());
    (host, port, sni)
}
