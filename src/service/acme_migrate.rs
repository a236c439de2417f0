//! Migration from other ACME clients: every certificate certbot or acme.sh manages in a
//! directory (on this host, or on a server read over SFTP) is imported exactly like `cert
//! import` (key sealed, facts parsed), with its renewal settings mapped onto certdeck's issuance
//! settings where they map, and a report per lineage of what was done and what is left to do by
//! hand. Certificates already present (same SHA-256) are skipped; nothing is written for a
//! lineage whose files cannot be read or do not fit together.

use serde_json::json;

use super::acme::CA_PRESETS;
use super::certificates::ImportInput;
use super::remote::server_label;
use super::{Actor, Services};
use crate::domain::acme_clients::{self as ac, AcmeTool, Lineage, MappedChallenge, MappedSettings};
use crate::domain::certpem;
use crate::engine::ssh::Sftp;
use crate::errors::{ServiceError, ServiceResult};
use crate::store::acme::{self as acme_store, IssuanceRow};

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
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
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
#[derive(Debug, Clone, serde::Serialize)]
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
#[derive(Debug, Clone, serde::Serialize)]
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
#[derive(Debug, Clone, serde::Serialize)]
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

/// Where the files are read: this host, or a server over SFTP.
enum Files<'a> {
    Local,
    Remote { sftp: Sftp<'a>, who: String },
}

impl Files<'_> {
    fn who(&self) -> String {
        match self {
            Files::Local => "the certdeck process user".into(),
            Files::Remote { who, .. } => who.clone(),
        }
    }

    /// A file's content; `Ok(None)` when it does not exist (a dangling link included).
    async fn read(&self, path: &str, max: u64) -> Result<Option<Vec<u8>>, String> {
        match self {
            Files::Local => {
                let meta = match tokio::fs::metadata(path).await {
                    Ok(m) => m,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                    Err(e) => return Err(format!("cannot read {path} as {}: {e}", self.who())),
                };
                if meta.is_dir() {
                    return Err(format!("{path} is a directory"));
                }
                if meta.len() > max {
                    return Err(format!("{path} is larger than {max} bytes"));
                }
                tokio::fs::read(path)
                    .await
                    .map(Some)
                    .map_err(|e| format!("cannot read {path} as {}: {e}", self.who()))
            }
            Files::Remote { sftp, .. } => {
                let st = sftp
                    .stat(path)
                    .await
                    .map_err(|e| format!("cannot read {path} as {}: {e}", self.who()))?;
                match st {
                    None => Ok(None),
                    Some(s) if s.is_dir => Err(format!("{path} is a directory")),
                    Some(s) if s.size > max => Err(format!("{path} is larger than {max} bytes")),
                    Some(_) => sftp
                        .read(path, max)
                        .await
                        .map_err(|e| format!("cannot read {path} as {}: {e}", self.who()))?
                        .map(Some)
                        .ok_or_else(|| format!("{path} is larger than {max} bytes")),
                }
            }
        }
    }

    /// Whether `path` is a directory (false when missing).
    async fn is_dir(&self, path: &str) -> bool {
        match self {
            Files::Local => tokio::fs::metadata(path).await.is_ok_and(|m| m.is_dir()),
            Files::Remote { sftp, .. } => matches!(sftp.stat(path).await, Ok(Some(s)) if s.is_dir),
        }
    }

    /// Names in a directory, sorted.
    async fn list(&self, dir: &str) -> Result<Vec<String>, String> {
        match self {
            Files::Local => {
                let mut rd = tokio::fs::read_dir(dir)
                    .await
                    .map_err(|e| format!("cannot list {dir} as {}: {e}", self.who()))?;
                let mut names = Vec::new();
                while let Some(e) = rd
                    .next_entry()
                    .await
                    .map_err(|e| format!("cannot list {dir} as {}: {e}", self.who()))?
                {
                    names.push(e.file_name().to_string_lossy().into_owned());
                }
                names.sort();
                Ok(names)
            }
            Files::Remote { sftp, .. } => sftp
                .list(dir)
                .await
                .map_err(|e| format!("cannot list {dir} as {}: {e}", self.who())),
        }
    }

    fn text(data: Vec<u8>) -> String {
        String::from_utf8_lossy(&data).into_owned()
    }
}

fn join(dir: &str, name: &str) -> String {
    if dir.ends_with('/') {
        format!("{dir}{name}")
    } else {
        format!("{dir}/{name}")
    }
}

fn basename(p: &str) -> &str {
    p.rsplit('/').next().unwrap_or(p)
}

/// A lineage with the contact its client recorded.
struct Found {
    lineage: Lineage,
    contact: Option<(String, String)>,
    /// certbot's `live/<name>/` (where the files are when the recorded paths moved with a copy).
    live_dir: Option<String>,
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

    /// certbot: `renewal/*.conf`, contacts from `accounts/…/regr.json`.
    async fn certbot_lineages(&self, dir: &str, files: &Files<'_>) -> ServiceResult<(Vec<Found>, Vec<LineageReport>)> {
        let renewal = join(dir, "renewal");
        if !files.is_dir(&renewal).await {
            return Err(ServiceError::invalid(
                "dir",
                format!(
                    "{dir} has no renewal/ directory {} can read: is it certbot's config dir (/etc/letsencrypt)?",
                    files.who()
                ),
            ));
        }
        let names = files
            .list(&renewal)
            .await
            .map_err(|e| ServiceError::invalid("dir", e))?;
        let mut found = Vec::new();
        let mut failed = Vec::new();
        for n in names.iter().filter(|n| n.ends_with(".conf")) {
            let name = n.trim_end_matches(".conf");
            let path = join(&renewal, n);
            let text = match files.read(&path, MAX_CONF).await {
                Ok(Some(t)) => Files::text(t),
                Ok(None) => continue,
                Err(e) => {
                    let l = ac::parse_certbot_renewal(name, &path, "");
                    failed.push(LineageReport::new(&l).failed(e));
                    continue;
                }
            };
            let lineage = ac::parse_certbot_renewal(name, &path, &text);
            let mut contact = None;
            if let (Some(server), Some(account)) = (&lineage.server, &lineage.account) {
                if let Some(acc) = ac::certbot_account_dir(server, account) {
                    if let Ok(Some(regr)) = files.read(&join(dir, &format!("{acc}/regr.json")), MAX_CONF).await {
                        contact = ac::certbot_regr_email(&Files::text(regr))
                            .map(|e| (e, format!("certbot account {account}")));
                    }
                }
            }
            found.push(Found {
                live_dir: Some(join(dir, &format!("live/{name}"))),
                lineage,
                contact,
            });
        }
        Ok((found, failed))
    }

    /// acme.sh: `<dir>/<domain>[_ecc]/<domain>.conf`, contact and DNS credential names from
    /// `account.conf`.
    async fn acmesh_lineages(&self, dir: &str, files: &Files<'_>) -> ServiceResult<(Vec<Found>, Vec<LineageReport>)> {
        let names = files.list(dir).await.map_err(|e| ServiceError::invalid("dir", e))?;
        let account = match files.read(&join(dir, "account.conf"), MAX_CONF).await {
            Ok(Some(t)) => Some(Files::text(t)),
            _ => None,
        };
        let contact = account
            .as_deref()
            .and_then(ac::acmesh_account_email)
            .map(|e| (e, "acme.sh account.conf".to_string()));
        let saved = account
            .as_deref()
            .map(|a| ac::saved_credential_names(&ac::parse_shell_assignments(a)))
            .unwrap_or_default();
        let mut found = Vec::new();
        let mut failed = Vec::new();
        for n in &names {
            if n.starts_with('.') || ["ca", "deploy", "dnsapi", "notify", "http.header"].contains(&n.as_str()) {
                continue;
            }
            let ldir = join(dir, n);
            if !files.is_dir(&ldir).await {
                continue;
            }
            let conf = join(&ldir, &format!("{}.conf", ac::acmesh_dir_domain(n)));
            let text = match files.read(&conf, MAX_CONF).await {
                Ok(Some(t)) => Files::text(t),
                Ok(None) => continue,
                Err(e) => {
                    let l = ac::parse_acmesh_conf(&ldir, "");
                    failed.push(LineageReport::new(&l).failed(e));
                    continue;
                }
            };
            let mut lineage = ac::parse_acmesh_conf(&ldir, &text);
            if lineage.authenticator.as_deref().is_some_and(|a| a.starts_with("dns_")) {
                for s in &saved {
                    if !lineage.dns_credentials.contains(s) {
                        lineage.dns_credentials.push(format!("{s} (account.conf)"));
                    }
                }
            }
            found.push(Found {
                lineage,
                contact: contact.clone(),
                live_dir: None,
            });
        }
        Ok((found, failed))
    }

    /// Reads a lineage's file: the recorded path, else the same name in certbot's `live/<name>/`.
    async fn lineage_file(
        files: &Files<'_>,
        recorded: Option<&str>,
        fallback: Option<String>,
    ) -> Result<Option<(String, Vec<u8>)>, String> {
        if let Some(p) = recorded {
            if let Some(d) = files.read(p, MAX_PEM).await? {
                return Ok(Some((p.to_string(), d)));
            }
        }
        if let Some(p) = fallback {
            if Some(p.as_str()) != recorded {
                if let Some(d) = files.read(&p, MAX_PEM).await? {
                    return Ok(Some((p, d)));
                }
            }
        }
        Ok(None)
    }

    #[allow(clippy::too_many_arguments)]
    async fn migrate_lineage(
        &self,
        actor: &Actor,
        files: &Files<'_>,
        f: &Found,
        cas: &[(String, String)],
        contact: (String, String),
        server_id: Option<i64>,
        server: Option<&str>,
    ) -> LineageReport {
        let l = &f.lineage;
        let mut r = LineageReport::new(l);
        let fb = |recorded: &Option<String>, default: &str| {
            f.live_dir.as_ref().map(|d| {
                let name = recorded.as_deref().map(basename).unwrap_or(default);
                join(d, name)
            })
        };
        let read = |recorded: Option<String>, fallback: Option<String>| async move {
            Self::lineage_file(files, recorded.as_deref(), fallback).await
        };
        // Certificate: the leaf file (+ chain), else the fullchain.
        let (cert, chain) = match read(l.files.cert.clone(), fb(&l.files.cert, "cert.pem")).await {
            Err(e) => return r.failed(e),
            Ok(Some((_, c))) => match read(l.files.chain.clone(), fb(&l.files.chain, "chain.pem")).await {
                Err(e) => return r.failed(e),
                Ok(chain) => (c, chain.map(|(_, d)| d)),
            },
            Ok(None) => match read(l.files.fullchain.clone(), fb(&l.files.fullchain, "fullchain.pem")).await {
                Err(e) => return r.failed(e),
                Ok(Some((_, c))) => (c, None),
                Ok(None) => {
                    return r.failed(format!(
                        "the certificate file is missing ({})",
                        l.files.cert.as_deref().unwrap_or("no cert path recorded")
                    ))
                }
            },
        };
        let key = match read(l.files.key.clone(), fb(&l.files.key, "privkey.pem")).await {
            Err(e) => return r.failed(e),
            Ok(Some((_, k))) => zeroize::Zeroizing::new(k),
            Ok(None) => {
                return r.failed(format!(
                    "the private key file is missing ({})",
                    l.files.key.as_deref().unwrap_or("no privkey path recorded")
                ))
            }
        };
        let mapped = ac::map_settings(l, cas);
        r.unmapped = mapped.unmapped.clone();
        r.renewal = Some(renewal_of(&mapped, contact));
        // Already here?
        let leaf = match certpem::certificates_der(&cert) {
            Ok(v) if !v.is_empty() => v[0].clone(),
            Ok(_) => return r.failed("the certificate file holds no certificate"),
            Err(e) => return r.failed(format!("the certificate file: {e}")),
        };
        match self.same_certificate(actor.user_id, &leaf).await {
            Ok(Some(id)) => {
                r.outcome = MigrateOutcome::AlreadyPresent;
                r.certificate_id = Some(id);
                if let Ok(c) = self.cert_get(actor, id).await {
                    r.main_domain = Some(c.main_domain.clone());
                    r.domains = c.domain_list();
                    r.expires_at = c.expires_at;
                }
                r.renewable = matches!(acme_store::get_issuance(self.db(), id).await, Ok(Some(_)));
                r.todo.push(format!(
                    "already stored as certificate {id}: nothing changed (delete it first to migrate it again)"
                ));
                return r;
            }
            Ok(None) => {}
            Err(e) => return r.failed(e.to_string()),
        }
        let origin = match server {
            Some(s) => format!("{} on {s}", l.config_path),
            None => l.config_path.clone(),
        };
        let imported = match self
            .cert_import(
                actor,
                &ImportInput {
                    name: Some(l.name.chars().take(100).collect()),
                    certificate: cert,
                    private_key: key.to_vec(),
                    chain,
                    notes: Some(format!("migrated from {} lineage {} ({origin})", l.tool, l.name)),
                },
            )
            .await
        {
            Ok(c) => c,
            Err(e) => return r.failed(e.to_string()),
        };
        let id = imported.id;
        r.outcome = MigrateOutcome::Imported;
        r.certificate_id = Some(id);
        r.main_domain = Some(imported.main_domain.clone());
        r.domains = imported.domain_list();
        r.expires_at = imported.expires_at;
        // Renewal settings.
        let (renewable, reason) = renewability(&mapped, l, server_id);
        r.renewable = renewable;
        r.not_renewable_reason = reason;
        if mapped.complete() {
            let challenge = mapped
                .challenge
                .as_ref()
                .map(|c| c.challenge_type())
                .unwrap_or("http-01");
            let row = IssuanceRow {
                certificate_id: id,
                ca: mapped.ca.clone().unwrap_or_default(),
                directory_url: mapped.directory_url.clone().unwrap_or_default(),
                contact_email: r.renewal.as_ref().map(|m| m.contact_email.clone()).unwrap_or_default(),
                account_id: None,
                challenge_type: challenge.to_string(),
                dns_provider_id: None,
                http_listen: (challenge == "http-01" && webroot_on_server(&mapped, server_id).is_none())
                    .then(|| HTTP_LISTEN.to_string()),
                key_type: mapped.key_type.clone().unwrap_or_default(),
                key_reuse: mapped.key_reuse,
                profile: None,
                preferred_chain: mapped.preferred_chain.clone().map(|c| c.chars().take(255).collect()),
                http_server_id: webroot_on_server(&mapped, server_id).map(|_| server_id.unwrap_or_default()),
                webroot: webroot_on_server(&mapped, server_id),
            };
            if let Err(e) = acme_store::upsert_issuance(self.db(), &row).await {
                // Leave nothing half done: the certificate goes again.
                let audit = self.audit(
                    Some(actor),
                    "certificate.delete",
                    "certificate",
                    Some(id),
                    json!({"main_domain": imported.main_domain, "why": "migration could not store its renewal settings"}),
                );
                let _ = self.cert_remove(actor, id, &audit).await;
                return LineageReport::new(l).failed(format!("storing the renewal settings failed: {e}"));
            }
            if let Some(m) = r.renewal.as_mut() {
                m.stored = true;
            }
        }
        r.todo = todo_of(l, &mapped, id, r.renewable, server_id);
        let audit = self.audit(
            Some(actor),
            "certificate.migrate",
            "certificate",
            Some(id),
            json!({
                "tool": l.tool, "lineage": l.name, "config_path": l.config_path, "server_id": server_id,
                "issuance_stored": mapped.complete(), "renewable": r.renewable, "unmapped": r.unmapped,
            }),
        );
        if let Err(e) = crate::store::audit::insert(self.db(), &audit).await {
            r.todo
                .push(format!("the audit entry of this migration could not be written: {e}"));
        }
        r
    }

    /// The actor's certificate with exactly this leaf (by SHA-256), if stored.
    async fn same_certificate(&self, user_id: i64, leaf_der: &[u8]) -> ServiceResult<Option<i64>> {
        let facts = certpem::cert_facts(leaf_der).map_err(|e| ServiceError::invalid("certificate", e))?;
        let want = certpem::sha256_hex(leaf_der);
        let mut names = facts.domains;
        names.truncate(50);
        let rows = crate::store::discovery::certs_for_names(self.db(), user_id, &names).await?;
        Ok(rows.into_iter().find_map(|(id, pem)| {
            let der = certpem::certificates_der(pem?.as_bytes()).ok()?.into_iter().next()?;
            (certpem::sha256_hex(&der) == want).then_some(id)
        }))
    }
}

fn renewal_of(m: &MappedSettings, contact: (String, String)) -> MappedRenewal {
    MappedRenewal {
        ca: m.ca.clone(),
        directory_url: m.directory_url.clone(),
        challenge_type: m.challenge.as_ref().map(|c| c.challenge_type().to_string()),
        challenge: m.challenge.clone(),
        key_type: m.key_type.clone(),
        key_reuse: m.key_reuse,
        preferred_chain: m.preferred_chain.clone(),
        contact_email: contact.0,
        contact_source: contact.1,
        webroots: match &m.challenge {
            Some(MappedChallenge::Http01Webroot { webroots }) => webroots.clone(),
            _ => Vec::new(),
        },
        stored: false,
    }
}

/// Whether certdeck can renew with the mapped settings as they are, and why not.
/// The one webroot of a lineage read from a server: certdeck answers http-01 there over SSH.
fn webroot_on_server(m: &MappedSettings, server_id: Option<i64>) -> Option<String> {
    match (&m.challenge, server_id) {
        // The same checks as a typed webroot: a renewal file is input like any other.
        (Some(MappedChallenge::Http01Webroot { webroots }), Some(_)) if webroots.len() == 1 => {
            crate::domain::acme_clients::check_webroot(&webroots[0]).ok()
        }
        _ => None,
    }
}

fn renewability(m: &MappedSettings, l: &Lineage, server_id: Option<i64>) -> (bool, Option<String>) {
    if !m.complete() {
        return (
            false,
            Some(format!(
                "its renewal settings did not map ({}), so no issuance settings were stored",
                m.unmapped.join("; ")
            )),
        );
    }
    let ca = m.ca.as_deref().unwrap_or_default();
    let mut why = Vec::new();
    if !m.ca_known {
        why.push(format!("the CA {ca} is not one you have added"));
    } else if let Some(p) = CA_PRESETS.iter().find(|p| p.key == ca && p.eab_required) {
        // An own CA with this directory (carrying the credentials) would have matched first.
        why.push(format!("{} needs External Account Binding credentials", p.name));
    }
    match &m.challenge {
        Some(MappedChallenge::Http01Standalone) | None => {}
        Some(MappedChallenge::Http01Webroot { .. }) if webroot_on_server(m, server_id).is_some() => {}
        Some(MappedChallenge::Http01Webroot { webroots }) if server_id.is_some() && webroots.len() == 1 => {
            let e = crate::domain::acme_clients::check_webroot(&webroots[0])
                .err()
                .unwrap_or_default();
            why.push(format!(
                "the webroot in its renewal configuration is refused ({e}): certdeck writes challenge files only \
                 under an absolute path without '..'"
            ))
        }
        Some(MappedChallenge::Http01Webroot { webroots }) => why.push(format!(
            "{} answered http-01 by writing into the webroot {} on this host or several webroots, while certdeck \
             writes into one webroot on a server over SSH (migrate with --server) or answers with its own listener \
             ({HTTP_LISTEN}); the webroot is recorded in this report only",
            l.tool,
            webroots.join(", ")
        )),
        Some(MappedChallenge::Http01WebServer { server }) => why.push(format!(
            "{} answered http-01 through {server} while certdeck answers with its own listener ({HTTP_LISTEN})",
            l.tool
        )),
        Some(MappedChallenge::Dns01 { plugin, vendor }) => why.push(format!(
            "dns-01 needs a certdeck DNS provider: {}'s {plugin} ({vendor}) credentials are not migrated",
            l.tool
        )),
    }
    if why.is_empty() {
        (true, None)
    } else {
        (false, Some(why.join("; ")))
    }
}

/// What the operator has to do by hand.
fn todo_of(l: &Lineage, m: &MappedSettings, id: i64, renewable: bool, server_id: Option<i64>) -> Vec<String> {
    let mut t = Vec::new();
    if m.complete() && !m.ca_known {
        let url = m.directory_url.as_deref().unwrap_or_default();
        t.push(format!(
            "add the CA under the name its settings use: certdeck ca add '{url}' --directory '{url}'"
        ));
    }
    if let Some(p) =
        m.ca.as_deref()
            .and_then(|ca| CA_PRESETS.iter().find(|p| p.key == ca && p.eab_required))
    {
        t.push(format!(
            "{} needs External Account Binding: add it as your own CA with the key id and HMAC key from its console \
             (certdeck ca add NAME --directory {} --eab-kid KID --eab-hmac-stdin)",
            p.name, p.directory_url
        ));
    }
    match &m.challenge {
        Some(MappedChallenge::Dns01 { plugin, vendor }) => {
            let creds = if l.dns_credentials.is_empty() {
                String::new()
            } else {
                format!(" ({} not migrated: {})", l.tool, l.dns_credentials.join(", "))
            };
            t.push(format!(
                "create a certdeck DNS provider for {vendor} to replace {plugin}{creds} (certdeck dns-provider add …) \
                 and attach it: certdeck cert renewal-setup {id} --ca {} --challenge dns-01 --dns-provider ID",
                m.ca.as_deref().unwrap_or("CA")
            ));
        }
        Some(MappedChallenge::Http01Webroot { .. }) if webroot_on_server(m, server_id).is_some() => {}
        Some(MappedChallenge::Http01Webroot { webroots }) => t.push(format!(
            "webroot {} recorded in the report only: route http://DOMAIN/.well-known/acme-challenge/ to certdeck's \
             http-01 listener ({HTTP_LISTEN}) or move certificate {id} to dns-01",
            webroots.join(", ")
        )),
        Some(MappedChallenge::Http01WebServer { server }) => t.push(format!(
            "{server} answered the challenges for {}: route http://DOMAIN/.well-known/acme-challenge/ to certdeck's \
             http-01 listener ({HTTP_LISTEN}) or move certificate {id} to dns-01",
            l.tool
        )),
        _ => {}
    }
    if let Some(i) = &l.installer {
        t.push(format!(
            "certbot's {i} installer put it into the web server: bind it with certdeck deployment add {id} SERVER --path …"
        ));
    }
    for (k, p) in &l.installed_copies {
        t.push(format!(
            "acme.sh installs a copy at {p} ({k}): bind it with certdeck deployment add {id} SERVER --path {p}"
        ));
    }
    if !l.hooks.is_empty() {
        t.push(format!(
            "{} runs {} around renewals; certdeck deploys and reloads through deployments instead",
            l.tool,
            l.hooks.join(", ")
        ));
    }
    let stop = match l.tool {
        AcmeTool::Certbot => format!("autorenew = False under [renewalparams] in {}", l.config_path),
        AcmeTool::AcmeSh => format!("acme.sh --remove -d {}", l.name),
    };
    if renewable {
        t.push(format!(
            "stop {} renewing it ({stop}), then let certdeck renew it: certdeck cert update {id} --auto-renew true",
            l.tool
        ));
    } else if m.complete() {
        t.push(format!(
            "once the above is done, stop {} renewing it ({stop}) and turn on renewal here: certdeck cert update {id} --auto-renew true",
            l.tool
        ));
    }
    t
}
