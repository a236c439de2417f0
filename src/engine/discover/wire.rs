//! [`Discovery`]: what `discover` found, as sent by an agent to the API, and its
//! validation against the bounds and the columns it is stored in.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::bounds::{
    CONFIG_CONTENT_MAX, MAX_FILES, MAX_NAMES, MAX_SITES, MAX_TOTAL_BYTES, MAX_WARNINGS, TEXT_COLUMN_MAX,
    WARNING_MAX_CHARS,
};
use crate::domain::ConfigType;

/// What a discovery found on a host.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Discovery {
    /// Every config file read, the main one first (at most [`MAX_FILES`]).
    pub configs: Vec<DiscoveredConfig>,
    /// The sites those files define (at most [`MAX_SITES`]).
    pub sites: Vec<DiscoveredSite>,
    /// What the operator should know (an unreadable file, no main config found).
    #[serde(default)]
    pub warnings: Vec<String>,
}

/// One config file as read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DiscoveredConfig {
    /// nginx or apache (system: a sudoers drop-in, from the SSH check only).
    pub config_type: ConfigType,
    /// Path on the host (at most 255 characters).
    pub path: String,
    /// The text, unless larger than [`CONFIG_CONTENT_MAX`] bytes.
    pub content: Option<String>,
    /// Why there is no content, if so (at most 255 characters).
    pub note: Option<String>,
}

/// A site as discovered, with the facts of the certificate it serves from disk.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DiscoveredSite {
    /// The config file the block is in (at most 255 characters).
    pub config_path: String,
    /// 1-based line of the block's start.
    pub line: u32,
    /// Its names (at most [`MAX_NAMES`]; their JSON at most [`TEXT_COLUMN_MAX`] bytes).
    pub names: Vec<String>,
    /// Listen values, space separated (at most 255 characters).
    pub listen: Option<String>,
    /// Port of the first TLS listen (else of the first listen).
    pub port: Option<u16>,
    /// Serves TLS.
    pub tls: bool,
    /// Certificate file (at most 255 characters).
    pub cert_path: Option<String>,
    /// Key file (at most 255 characters).
    pub key_path: Option<String>,
    /// Chain file (at most 255 characters).
    pub chain_path: Option<String>,
    /// Document root (at most 500 characters).
    pub document_root: Option<String>,
    /// The certificate at `cert_path`, when it could be read and parsed.
    pub cert: Option<SiteCert>,
    /// Why it could not be (at most 255 characters).
    pub cert_error: Option<String>,
}

/// The facts of a site's certificate (its leaf).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SiteCert {
    /// Subject (at most 255 characters).
    pub subject: String,
    /// DNS names, lowercase (at most [`MAX_NAMES`]; their JSON at most [`TEXT_COLUMN_MAX`] bytes).
    pub sans: Vec<String>,
    /// Issuer (at most 255 characters).
    pub issuer: String,
    /// Serial, lowercase hex (at most 100 characters).
    pub serial: String,
    /// Expiry.
    pub not_after: DateTime<Utc>,
    /// SHA-256 of the DER, lowercase hex (64 characters).
    pub sha256: String,
}

/// Keeps the names whose JSON array fits [`TEXT_COLUMN_MAX`] bytes, at most [`MAX_NAMES`].
pub(super) fn fit_names(names: Vec<String>) -> Vec<String> {
    let mut bytes = 2;
    let mut out = Vec::new();
    for n in names.into_iter().take(MAX_NAMES) {
        let len = serde_json::to_string(&n).map(|s| s.len()).unwrap_or(usize::MAX) + 1;
        if bytes + len > TEXT_COLUMN_MAX {
            break;
        }
        bytes += len;
        out.push(n);
    }
    out
}

/// Fails when `v` is longer than `max` characters.
fn fits(what: &str, v: Option<&str>, max: usize) -> Result<(), String> {
    match v {
        Some(s) if s.chars().count() > max => Err(format!("{what} is longer than {max} characters (its column)")),
        _ => Ok(()),
    }
}

/// Fails when `names` are more than [`MAX_NAMES`] or their JSON exceeds [`TEXT_COLUMN_MAX`].
fn names_fit(what: &str, names: &[String]) -> Result<(), String> {
    if names.len() > MAX_NAMES {
        return Err(format!(
            "{what}: {} names, more than {MAX_NAMES} (MAX_NAMES)",
            names.len()
        ));
    }
    let json = serde_json::to_string(names).map_err(|e| e.to_string())?;
    if json.len() > TEXT_COLUMN_MAX {
        return Err(format!(
            "{what}: {} bytes of names, more than the {TEXT_COLUMN_MAX}-byte column (TEXT_COLUMN_MAX)",
            json.len()
        ));
    }
    Ok(())
}

impl Discovery {
    /// Checks a discovery from an untrusted sender against the bounds of a discovery and the
    /// columns it is stored in: the counts ([`MAX_FILES`], [`MAX_SITES`], [`MAX_WARNINGS`],
    /// [`MAX_NAMES`]), the sizes ([`CONFIG_CONTENT_MAX`] per file, [`MAX_TOTAL_BYTES`] in all)
    /// and every string's length. The error names the bound and where it was passed.
    pub fn validate(&self) -> Result<(), String> {
        if self.configs.len() > MAX_FILES {
            return Err(format!(
                "{} config files, more than {MAX_FILES} (MAX_FILES)",
                self.configs.len()
            ));
        }
        if self.sites.len() > MAX_SITES {
            return Err(format!("{} sites, more than {MAX_SITES} (MAX_SITES)", self.sites.len()));
        }
        if self.warnings.len() > MAX_WARNINGS {
            return Err(format!(
                "{} warnings, more than {MAX_WARNINGS} (MAX_WARNINGS)",
                self.warnings.len()
            ));
        }
        for (i, w) in self.warnings.iter().enumerate() {
            fits(&format!("warning {i}"), Some(w), WARNING_MAX_CHARS)?;
        }
        let mut total: u64 = 0;
        for (i, c) in self.configs.iter().enumerate() {
            let at = format!("config {i}");
            if c.path.is_empty() {
                return Err(format!("{at}: the path is empty"));
            }
            fits(&format!("{at}: the path"), Some(&c.path), 255)?;
            fits(&format!("{at} ({}): the note", c.path), c.note.as_deref(), 255)?;
            if let Some(text) = &c.content {
                if text.len() > CONFIG_CONTENT_MAX {
                    return Err(format!(
                        "{at} ({}): {} bytes of content, more than {CONFIG_CONTENT_MAX} (CONFIG_CONTENT_MAX)",
                        c.path,
                        text.len()
                    ));
                }
                total += text.len() as u64;
            }
        }
        if total > MAX_TOTAL_BYTES {
            return Err(format!(
                "{total} bytes of config content, more than {MAX_TOTAL_BYTES} (MAX_TOTAL_BYTES)"
            ));
        }
        for (i, s) in self.sites.iter().enumerate() {
            let at = format!("site {i}");
            fits(&format!("{at}: config_path"), Some(&s.config_path), 255)?;
            if i32::try_from(s.line).is_err() {
                return Err(format!("{at}: line {} is out of range", s.line));
            }
            names_fit(&format!("{at}: names"), &s.names)?;
            fits(&format!("{at}: listen"), s.listen.as_deref(), 255)?;
            fits(&format!("{at}: cert_path"), s.cert_path.as_deref(), 255)?;
            fits(&format!("{at}: key_path"), s.key_path.as_deref(), 255)?;
            fits(&format!("{at}: chain_path"), s.chain_path.as_deref(), 255)?;
            fits(&format!("{at}: document_root"), s.document_root.as_deref(), 500)?;
            fits(&format!("{at}: cert_error"), s.cert_error.as_deref(), 255)?;
            if let Some(c) = &s.cert {
                fits(&format!("{at}: cert subject"), Some(&c.subject), 255)?;
                fits(&format!("{at}: cert issuer"), Some(&c.issuer), 255)?;
                fits(&format!("{at}: cert serial"), Some(&c.serial), 100)?;
                names_fit(&format!("{at}: cert sans"), &c.sans)?;
                if c.sha256.len() != 64
                    || !c
                        .sha256
                        .bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
                {
                    return Err(format!("{at}: cert sha256 is not 64 lowercase hex digits"));
                }
            }
        }
        Ok(())
    }
}
