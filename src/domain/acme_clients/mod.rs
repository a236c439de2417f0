//! What other ACME clients recorded about their certificates, read from their own files: certbot
//! (`renewal/<name>.conf`, a configobj INI) and acme.sh (`<domain>[_ecc]/<domain>.conf`, shell
//! assignments), and the mapping of those settings onto certdeck's issuance settings (CA,
//! challenge, key type, key reuse, preferred chain), with a list of what does not carry over.
//!
//! Pure: no I/O. The service reads the files (locally or over SFTP) and hands the text here.
//!
//! - `certbot`, `acmesh`: reading each client's files into a [`Lineage`];
//! - `mapping`: a lineage onto certdeck's issuance settings.

mod acmesh;
mod certbot;
mod mapping;
#[cfg(test)]
mod tests;

pub use acmesh::{
    acmesh_account_email, acmesh_dir_domain, parse_acmesh_conf, parse_shell_assignments, saved_credential_names,
};
pub use certbot::{certbot_account_dir, certbot_regr_email, parse_certbot_renewal, ConfigObj};
pub use mapping::{ca_for_directory, check_webroot, dns_vendor, map_settings, MappedChallenge, MappedSettings};

use std::fmt;

/// The ACME client a directory belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
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
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
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
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
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
