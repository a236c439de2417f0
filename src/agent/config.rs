//! The agent's configuration file (`agent.toml`, mode 0600): where the API is, how its TLS is
//! trusted, the server's token, the run interval, and what the agent may write and run.
//! `/etc/certdeck/agent.toml` when run as root, else `agent.toml` in the user's config dir.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// Directories the agent may write certificates and keys under by default, besides the paths
/// its own web server config names (the usual places of TLS files).
pub const DEFAULT_ALLOWED_DIRS: &[&str] = &[
    "/etc/ssl",
    "/etc/pki",
    "/etc/nginx",
    "/etc/apache2",
    "/etc/httpd",
    "/etc/letsencrypt",
    "/usr/local/nginx/conf",
];

/// Default seconds between runs.
pub const DEFAULT_INTERVAL_SECS: i32 = 300;

/// `agent.toml`.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    /// The API's base URL (`https://certdeck.example.net:8443`).
    pub url: String,
    /// Trust only this CA (PEM file) for the API's certificate, instead of the system's roots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<PathBuf>,
    /// The server's agent token (`cdt_<id>_<secret>`).
    pub token: String,
    /// Seconds between runs (also reported to certdeck, which calls the agent silent past it).
    #[serde(default = "default_interval")]
    pub interval_seconds: i32,
    /// Directories certificates, keys and challenge files may be written under, besides the
    /// files and document roots the web server's own config names.
    #[serde(default = "default_allowed")]
    pub allowed_dirs: Vec<String>,
    /// Use this config test command instead of the server entry's (pins it locally).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_command: Option<String>,
    /// Use this reload command instead of the server entry's (pins it locally).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reload_command: Option<String>,
}

fn default_interval() -> i32 {
    DEFAULT_INTERVAL_SECS
}

fn default_allowed() -> Vec<String> {
    DEFAULT_ALLOWED_DIRS.iter().map(|s| s.to_string()).collect()
}

impl std::fmt::Debug for AgentConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentConfig")
            .field("url", &self.url)
            .field("ca", &self.ca)
            .field("interval_seconds", &self.interval_seconds)
            .field("allowed_dirs", &self.allowed_dirs)
            .finish_non_exhaustive()
    }
}

/// The default config path: `/etc/certdeck/agent.toml` as root, else the user's config dir.
pub fn default_path() -> PathBuf {
    if is_root() {
        return PathBuf::from("/etc/certdeck/agent.toml");
    }
    directories::ProjectDirs::from("", "", "certdeck")
        .map(|d| d.config_dir().join("agent.toml"))
        .unwrap_or_else(|| PathBuf::from("agent.toml"))
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false)
}

impl AgentConfig {
    /// Checks the values: an https URL (plain http only to a loopback address), a token of the
    /// agent form, an interval in range, absolute allowed dirs without `..`.
    pub fn validate(&self) -> Result<(), String> {
        let u = url::Url::parse(&self.url).map_err(|e| format!("url '{}': {e}", self.url))?;
        let loopback = match u.host() {
            Some(url::Host::Ipv4(a)) => a.is_loopback(),
            Some(url::Host::Ipv6(a)) => a.is_loopback(),
            Some(url::Host::Domain(d)) => d == "localhost",
            None => false,
        };
        match u.scheme() {
            "https" => {}
            "http" if loopback => {}
            "http" => {
                return Err(format!(
                    "url '{}': use https (plain http only to a loopback address)",
                    self.url
                ))
            }
            s => return Err(format!("url '{}': scheme {s} is not http(s)", self.url)),
        }
        if crate::domain::agent_wire::parse_token(&self.token).is_none() {
            return Err("token: not an agent token (cdt_<server id>_<secret>, from `certdeck server token ID`)".into());
        }
        if !crate::domain::agent_wire::INTERVAL_RANGE.contains(&self.interval_seconds) {
            let r = crate::domain::agent_wire::INTERVAL_RANGE;
            return Err(format!("interval_seconds: must be {} to {}", r.start(), r.end()));
        }
        for d in &self.allowed_dirs {
            if !d.starts_with('/') || d.split('/').any(|p| p == "..") {
                return Err(format!("allowed_dirs: '{d}' must be an absolute path without '..'"));
            }
        }
        Ok(())
    }

    /// Reads and checks `path`; refuses a file others may read (it holds the token).
    pub fn load(path: &Path) -> Result<AgentConfig, String> {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(path).map_err(|e| {
            format!(
                "{}: {e} (enroll first: certdeck agent enroll --url … --token-stdin)",
                path.display()
            )
        })?;
        if meta.permissions().mode() & 0o077 != 0 {
            return Err(format!(
                "{} is readable by others (mode {:o}): it holds the server's token; chmod 600 it",
                path.display(),
                meta.permissions().mode() & 0o777
            ));
        }
        if meta.len() > 64 * 1024 {
            return Err(format!("{}: larger than 64 KiB, not an agent config", path.display()));
        }
        let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?);
        let c: AgentConfig = toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        c.validate().map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(c)
    }

    /// Writes the config to `path` with mode 0600 (its directory made 0700 if new), replacing
    /// the file in one rename.
    pub fn save(&self, path: &Path) -> Result<(), String> {
        use std::io::Write;
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        self.validate()?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if !dir.exists() {
                std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
                let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
            }
        }
        let text = Zeroizing::new(toml::to_string_pretty(self).map_err(|e| e.to_string())?);
        let tmp = path.with_extension("toml.tmp");
        let _ = std::fs::remove_file(&tmp);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| format!("{}: {e}", tmp.display()))?;
        f.write_all(text.as_bytes())
            .and_then(|_| f.sync_all())
            .map_err(|e| format!("{}: {e}", tmp.display()))?;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| format!("{}: {e}", tmp.display()))?;
        std::fs::rename(&tmp, path).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// The server id the token names.
    pub fn server_id(&self) -> i64 {
        crate::domain::agent_wire::parse_token(&self.token)
            .map(|(id, _)| id)
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> AgentConfig {
        AgentConfig {
            url: "https://certdeck.example.net:8443".into(),
            ca: None,
            token: "cdt_7_abcdef".into(),
            interval_seconds: 300,
            allowed_dirs: default_allowed(),
            test_command: None,
            reload_command: None,
        }
    }

    #[test]
    fn saved_configs_are_private_and_read_back() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/agent.toml");
        sample().save(&p).unwrap();
        assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600);
        let back = AgentConfig::load(&p).unwrap();
        assert_eq!(back.server_id(), 7);
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(AgentConfig::load(&p).unwrap_err().contains("readable by others"));
    }

    #[test]
    fn bad_values_are_refused_by_name() {
        let mut c = sample();
        c.url = "http://certdeck.example.net".into();
        assert!(c.validate().unwrap_err().contains("use https"));
        c.url = "http://127.0.0.1:8080".into();
        assert!(c.validate().is_ok());
        c.token = "cdk_x:y".into();
        assert!(c.validate().unwrap_err().starts_with("token"));
        let mut c = sample();
        c.allowed_dirs = vec!["etc/ssl".into()];
        assert!(c.validate().unwrap_err().starts_with("allowed_dirs"));
        let mut c = sample();
        c.interval_seconds = 1;
        assert!(c.validate().unwrap_err().starts_with("interval_seconds"));
    }
}
