//! Migration from other ACME clients: every certificate certbot or acme.sh manages in a
//! directory (on this host, or on a server read over SFTP) is imported exactly like `cert
//! import` (key sealed, facts parsed), with its renewal settings mapped onto certdeck's issuance
//! settings where they map, and a report per lineage of what was done and what is left to do by
//! hand. Certificates already present (same SHA-256) are skipped; nothing is written for a
//! lineage whose files cannot be read or do not fit together.
//!
//! - `files`: reading this host's or a server's files (SFTP), bounded;
//! - `lineages`: finding certbot's and acme.sh's lineages and the contacts they recorded;
//! - `import`: importing one lineage, mapping its renewal settings, and what is left to do.

mod files;
mod import;
mod lineages;

use self::files::Files;
use super::acme::CA_PRESETS;
use super::remote::server_label;
use super::{Actor, Services};
use crate::domain::acme_clients::{AcmeTool, Lineage, MappedChallenge};
use crate::errors::{ServiceError, ServiceResult};
use crate::store::acme as acme_store;

/// Largest PEM file read.
const MAX_PEM: u64 = 1024 * 1024;
/// Largest configuration file read.
const MAX_CONF: u64 = 256 * 1024;
/// Where certdeck's own http-01 responder listens by default.
const HTTP_LISTEN: &str = "0.0.0.0:80";

/// What to migrate.
#[derive(Debug, Clone)]
pub struct MigrateSource {
    /// The client whose files these are.
    pub tool: AcmeTool,
    /// certbot's config dir (`/etc/letsencrypt`) or acme.sh's home (`~/.acme.sh`).
    pub dir: String,
    /// Read the directory on this server over SFTP (as its SSH user); `None`: on this host.
    pub server_id: Option<i64>,
}

/// What happened to one lineage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MigrateOutcome {
    /// Imported as a new certificate.
    Imported,
    /// The same certificate is already stored: nothing changed.
    AlreadyPresent,
    /// Not imported (files missing, unreadable or inconsistent): nothing changed.
    Failed,
}

impl std::fmt::Display for MigrateOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            MigrateOutcome::Imported => "imported",
            MigrateOutcome::AlreadyPresent => "already present",
            MigrateOutcome::Failed => "failed",
        })
    }
}

/// The renewal settings a lineage maps to.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct MappedRenewal {
    /// CA preset key, custom CA name, or the directory URL.
    pub ca: Option<String>,
    /// ACME directory.
    pub directory_url: Option<String>,
    /// `http-01` / `dns-01`.
    pub challenge_type: Option<String>,
    /// How the client answered it.
    pub challenge: Option<MappedChallenge>,
    /// certdeck key type.
    pub key_type: Option<String>,
    /// Keep the key on renewal.
    pub key_reuse: bool,
    /// Preferred chain.
    pub preferred_chain: Option<String>,
    /// Account contact.
    pub contact_email: String,
    /// Where the contact came from (`certbot account`, `acme.sh account.conf`, `your user`).
    pub contact_source: String,
    /// Webroot(s) the client used: stored for http-01 over SSH when the lineage came from a
    /// server and has one webroot, otherwise recorded in this report only.
    pub webroots: Vec<String>,
    /// Whether a `certificate_issuance` row was stored.
    pub stored: bool,
}

/// One lineage's outcome.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct LineageReport {
    /// certbot lineage name or acme.sh main domain.
    pub name: String,
    /// The client's renewal configuration file.
    pub config_path: String,
    /// What happened.
    pub outcome: MigrateOutcome,
    /// The certificate (new, or the one already present).
    pub certificate_id: Option<i64>,
    /// Main domain of the certificate.
    pub main_domain: Option<String>,
    /// Every name on it.
    pub domains: Vec<String>,
    /// Not after.
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Renewal settings (None when the configuration could not be read).
    pub renewal: Option<MappedRenewal>,
    /// Whether certdeck has everything it needs to renew it (`cert renew` would work).
    pub renewable: bool,
    /// Why not, when not.
    pub not_renewable_reason: Option<String>,
    /// Settings of the client that did not carry over.
    pub unmapped: Vec<String>,
    /// What is left to do by hand.
    pub todo: Vec<String>,
    /// Why it failed.
    pub error: Option<String>,
}

impl LineageReport {
    fn new(l: &Lineage) -> Self {
        LineageReport {
            name: l.name.clone(),
            config_path: l.config_path.clone(),
            outcome: MigrateOutcome::Failed,
            certificate_id: None,
            main_domain: None,
            domains: Vec::new(),
            expires_at: None,
            renewal: None,
            renewable: false,
            not_renewable_reason: None,
            unmapped: Vec::new(),
            todo: Vec::new(),
            error: None,
        }
    }

    fn failed(mut self, why: impl Into<String>) -> Self {
        self.outcome = MigrateOutcome::Failed;
        self.error = Some(why.into());
        self
    }
}

/// The outcome of a migration.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct MigrateReport {
    /// The client.
    pub tool: AcmeTool,
    /// The directory read.
    pub dir: String,
    /// The server it was read on (None: this host).
    pub server_id: Option<i64>,
    /// One entry per lineage found, in path order.
    pub lineages: Vec<LineageReport>,
}

impl MigrateReport {
    /// Lineages with this outcome.
    pub fn count(&self, o: MigrateOutcome) -> usize {
        self.lineages.iter().filter(|l| l.outcome == o).count()
    }
}

impl Services {
    /// Imports every certificate certbot or acme.sh manages in `source.dir` (see the module
    /// doc). Reading this host's files needs an admin (they are read as the certdeck process);
    /// with a server, the files are read over SFTP as its SSH user.
    pub async fn acme_migrate(&self, actor: &Actor, source: &MigrateSource) -> ServiceResult<MigrateReport> {
        actor.require_not_api("migrate certificates from another ACME client")?;
        let dir = source.dir.trim();
        if dir.is_empty() {
            return Err(ServiceError::invalid("dir", "give the directory to read"));
        }
        let dir = if dir.len() > 1 { dir.trim_end_matches('/') } else { dir };
        match source.server_id {
            None => {
                actor.require_admin(
                    "migrate from a directory of the certdeck host (give --server to read a server's)",
                )?;
                self.migrate_with(actor, source.tool, dir, source.server_id, &Files::Local, None)
                    .await
            }
            Some(id) => {
                let server = self.server_get(actor, id).await?;
                let session = self.ssh_connect(&server).await?;
                let sftp = match session.sftp().await {
                    Ok(s) => s,
                    Err(e) => {
                        session.close().await;
                        return Err(ServiceError::Remote(e.to_string()));
                    }
                };
                let label = server_label(&server);
                let files = Files::Remote {
                    sftp,
                    who: format!("SSH user {} on {label}", server.username.as_deref().unwrap_or("root")),
                };
                let r = self
                    .migrate_with(actor, source.tool, dir, Some(id), &files, Some(&label))
                    .await;
                drop(files);
                session.close().await;
                r
            }
        }
    }

    async fn migrate_with(
        &self,
        actor: &Actor,
        tool: AcmeTool,
        dir: &str,
        server_id: Option<i64>,
        files: &Files<'_>,
        server: Option<&str>,
    ) -> ServiceResult<MigrateReport> {
        if !files.is_dir(dir).await {
            return Err(ServiceError::invalid(
                "dir",
                format!("{dir} is not a directory {} can read", files.who()),
            ));
        }
        let (found, mut failed) = match tool {
            AcmeTool::Certbot => self.certbot_lineages(dir, files).await?,
            AcmeTool::AcmeSh => self.acmesh_lineages(dir, files).await?,
        };
        let mut cas: Vec<(String, String)> = acme_store::list_cas(self.db(), actor.user_id)
            .await?
            .into_iter()
            .map(|c| (c.name, c.directory_url))
            .collect();
        cas.extend(
            CA_PRESETS
                .iter()
                .map(|p| (p.key.to_string(), p.directory_url.to_string())),
        );
        let user_email = self.user_get(actor, &actor.user_id.to_string()).await?.email;
        let mut lineages = Vec::new();
        for f in found {
            let contact = f
                .contact
                .clone()
                .unwrap_or_else(|| (user_email.clone(), "your user".to_string()));
            lineages.push(
                self.migrate_lineage(actor, files, &f, &cas, contact, server_id, server)
                    .await,
            );
        }
        lineages.append(&mut failed);
        lineages.sort_by(|a, b| a.config_path.cmp(&b.config_path));
        Ok(MigrateReport {
            tool,
            dir: dir.to_string(),
            server_id,
            lineages,
        })
    }
}
