//! The `server_check` task: probe a server over SSH (OS, web server and version) and discover its
//! web server configuration — every config file reached from the main one through includes, the
//! sites they define and the certificate each TLS site serves from disk. The probe and the walk
//! are the engine's ([`crate::engine::discover`], shared with the agent, which reads its own
//! host); `Services::store_discovery` stores what either found.

use serde_json::{json, Value};

use super::remote::{server_label, RemoteError};
use super::runner::{RunFuture, TaskContext, TaskFailure, TaskRunner};
use super::tasks::enqueue::TaskInput;
use super::{Actor, Services};
use crate::domain::{ConfigType, LogLevel, ServerStatus, TaskType};
use crate::engine::deploy::StepError;
use crate::engine::discover::{self, DiscoverError, Discovery, HostFacts};
use crate::engine::ssh::{Sftp, SshSession};
use crate::errors::{ServiceError, ServiceResult};
use crate::store::discovery::{self as store, FoundConfig, ProbeFacts, SiteRow};
use crate::store::servers::ServerRow;
use crate::store::tasks::TaskRow;

pub use crate::engine::discover::{
    parse_os_release, parse_web_version, CONFIG_CONTENT_MAX, MAX_CERT_BYTES, MAX_CERT_FILES, MAX_FILES, MAX_FILE_BYTES,
    MAX_PATTERNS, MAX_SITES, MAX_TOTAL_BYTES,
};

/// Sudoers drop-ins are checked for the reload rule when privilege mode is sudo.
const SUDOERS_DIR: &str = "/etc/sudoers.d";

/// Runs `server_check` tasks.
pub struct ServerCheckRunner;

impl TaskRunner for ServerCheckRunner {
    fn run<'a>(&'a self, ctx: &'a TaskContext) -> RunFuture<'a> {
        Box::pin(async move { ctx.services().server_check_run(ctx).await })
    }
}

/// PATH for probe commands: a non-root login shell often lacks the sbin directories.
const PATH_PREFIX: &str = discover::PROBE_PATH_PREFIX;

/// A failed transport step as a task failure (transient when another attempt may pass).
fn step_failure(e: StepError) -> TaskFailure {
    if e.transient {
        TaskFailure::transient(e.msg)
    } else {
        TaskFailure::permanent(e.msg)
    }
}

/// What `Services::store_discovery` stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredDiscovery {
    /// Config files stored (the discovery's and the extra ones).
    pub configs: usize,
    /// Sites stored.
    pub sites: usize,
    /// Of which serve TLS.
    pub tls_sites: usize,
}

impl Services {
    /// Queues a `server_check` of a server the actor may see: probe it over SSH and discover its
    /// web server configuration. `max_attempts` is the runs allowed for transient failures (an
    /// interactive caller that waits for the result gives 1, to hear of a failure at once).
    pub async fn server_check_enqueue(
        &self,
        actor: &Actor,
        server_id: i64,
        max_attempts: i32,
    ) -> ServiceResult<TaskRow> {
        let input = TaskInput {
            task_type: Some(TaskType::ServerCheck),
            priority: Some(8),
            target_type: Some("server".into()),
            target_id: Some(server_id),
            max_attempts: Some(max_attempts),
            ..Default::default()
        };
        self.task_enqueue(actor, &input).await
    }

    async fn server_check_run(&self, ctx: &TaskContext) -> Result<Value, TaskFailure> {
        let id = ctx
            .task()
            .target_id
            .ok_or_else(|| TaskFailure::permanent("server_check needs a server id"))?;
        let server = crate::store::servers::get_server(self.db(), id)
            .await?
            .ok_or_else(|| TaskFailure::permanent(format!("server {id} no longer exists")))?;
        let label = server_label(&server);
        ctx.log(
            LogLevel::Info,
            &format!(
                "connecting to {label} as {}",
                server.username.as_deref().unwrap_or("root")
            ),
            None,
        )
        .await?;
        let session = match self.ssh_connect(&server).await {
            Ok(s) => s,
            // A token server is not broken, just not ours to reach: leave its status alone.
            Err(e @ RemoteError::NotSsh(_)) if server.auth_type == crate::domain::AuthType::Token => {
                return Err(e.into());
            }
            Err(e) => {
                store::record_check(self.db(), id, ServerStatus::Error, None).await?;
                return Err(e.into());
            }
        };
        ctx.log(
            LogLevel::Info,
            &format!("connected; host key {}", session.host_key_fingerprint()),
            None,
        )
        .await?;
        ctx.progress(20).await?;
        let out = self.check_with(ctx, &server, &session).await;
        session.close().await;
        match out {
            Ok(v) => Ok(v),
            Err(e) => {
                if !matches!(e, TaskFailure::Stopped) {
                    store::record_check(self.db(), id, ServerStatus::Error, None).await?;
                }
                Err(e)
            }
        }
    }

    async fn check_with(
        &self,
        ctx: &TaskContext,
        server: &ServerRow,
        session: &SshSession,
    ) -> Result<Value, TaskFailure> {
        let facts = discover::probe_host(session, server.server_type)
            .await
            .map_err(step_failure)?;
        let kind = facts.kind(server.server_type);
        ctx.log(
            LogLevel::Info,
            &format!(
                "{} {}; web server: {}",
                facts.os_type.as_deref().unwrap_or("unknown OS"),
                facts.os_version.as_deref().unwrap_or(""),
                match (&facts.server_type, &facts.web_server_version) {
                    (Some(t), Some(v)) => format!("{t} ({v})"),
                    _ => "none found (nginx -v / apache2 -v / httpd -v)".into(),
                }
            ),
            None,
        )
        .await?;
        ctx.progress(40).await?;
        ctx.checkpoint().await?;

        let sftp = session.sftp().await.map_err(RemoteError::from)?;
        let mut found = None;
        if let Some(flavor) = discover::flavor_for(kind) {
            let label = server_label(server);
            let d = discover::discover(&sftp, flavor, server.config_root.as_deref())
                .await
                .map_err(|e| match e {
                    DiscoverError::Stopped(what) => {
                        TaskFailure::permanent(format!("discovery on {label} stopped: {what}"))
                    }
                    DiscoverError::Fs(e) => step_failure(e),
                })?;
            for w in &d.warnings {
                ctx.log(LogLevel::Warning, w, None).await?;
            }
            found = Some(d);
        }
        ctx.progress(80).await?;
        let mut extra = Vec::new();
        if server.privilege_mode == crate::domain::PrivilegeMode::Sudo {
            extra = self.check_sudo(ctx, server, session, &sftp).await?;
        }
        let stored = self.store_discovery(server, &facts, found.as_ref(), extra).await?;
        ctx.log(
            LogLevel::Info,
            &format!(
                "found {} config files, {} sites ({} with TLS)",
                stored.configs, stored.sites, stored.tls_sites
            ),
            None,
        )
        .await?;
        ctx.progress(100).await?;
        Ok(json!({
            "os_type": facts.os_type, "os_version": facts.os_version, "web_server_version": facts.web_server_version,
            "server_type": kind, "configs": stored.configs, "sites": stored.sites, "tls_sites": stored.tls_sites,
            "host_key": session.host_key_fingerprint(),
        }))
    }

    /// Stores what a check of `server` found, whichever way it was read (over SSH, or sent by
    /// the server's agent): the probe facts and status `active` on the server, every config file
    /// of the discovery and `extra_configs` (upserted by path; files no longer found marked
    /// inactive), and its sites (replacing the server's), each linked to the managed
    /// certificate it serves, if any. `None` for the discovery stores no configs but the extra
    /// ones and no sites (nothing to discover: server type other). The discovery and the facts
    /// are validated first (they may come from an untrusted agent): a refusal changes nothing.
    pub(crate) async fn store_discovery(
        &self,
        server: &ServerRow,
        facts: &HostFacts,
        d: Option<&Discovery>,
        extra_configs: Vec<FoundConfig>,
    ) -> ServiceResult<StoredDiscovery> {
        facts.validate().map_err(|e| ServiceError::invalid("host facts", e))?;
        let mut configs = Vec::new();
        let mut sites = Vec::new();
        if let Some(d) = d {
            d.validate().map_err(|e| ServiceError::invalid("discovery", e))?;
            configs.extend(d.configs.iter().map(|c| FoundConfig {
                config_type: c.config_type,
                path: c.path.clone(),
                content: c.content.clone(),
                note: c.note.clone(),
            }));
            let now = chrono::Utc::now();
            for s in &d.sites {
                let mut row = SiteRow {
                    server_id: server.id,
                    config_path: s.config_path.clone(),
                    line: i32::try_from(s.line).unwrap_or(i32::MAX),
                    server_names: serde_json::to_string(&s.names).unwrap_or_else(|_| "[]".into()),
                    listen: s.listen.clone(),
                    port: s.port.map(i32::from),
                    tls: s.tls,
                    cert_path: s.cert_path.clone(),
                    key_path: s.key_path.clone(),
                    chain_path: s.chain_path.clone(),
                    document_root: s.document_root.clone(),
                    cert_error: s.cert_error.clone(),
                    discovered_at: now,
                    ..Default::default()
                };
                if let Some(c) = &s.cert {
                    row.cert_subject = Some(c.subject.clone());
                    row.cert_sans = serde_json::to_string(&c.sans).ok();
                    row.cert_issuer = Some(c.issuer.clone());
                    row.cert_serial = Some(c.serial.clone());
                    row.cert_not_after = Some(c.not_after);
                    row.cert_sha256 = Some(c.sha256.clone());
                    row.certificate_id = self.managed_match(server.user_id, &c.sans, &c.sha256).await;
                }
                sites.push(row);
            }
        }
        configs.extend(extra_configs);
        store::save_discovery(self.db(), server.id, &configs, &sites).await?;
        let probe = ProbeFacts {
            os_type: facts.os_type.clone(),
            os_version: facts.os_version.clone(),
            web_server_version: facts.web_server_version.clone(),
            server_type: facts.server_type,
        };
        store::record_check(self.db(), server.id, ServerStatus::Active, Some(&probe)).await?;
        Ok(StoredDiscovery {
            configs: configs.len(),
            sites: sites.len(),
            tls_sites: sites.iter().filter(|s| s.tls).count(),
        })
    }

    /// The managed certificate of `user_id` whose DER has this SHA-256 (looked up by its first
    /// 20 names).
    async fn managed_match(&self, user_id: i64, sans: &[String], sha256: &str) -> Option<i64> {
        let names: Vec<String> = sans.iter().take(20).cloned().collect();
        let rows = store::certs_for_names(self.db(), user_id, &names).await.ok()?;
        rows.into_iter().find_map(|(id, pem)| {
            let der = crate::domain::certpem::certificates_der(pem?.as_bytes())
                .ok()?
                .into_iter()
                .next()?;
            (crate::domain::certpem::sha256_hex(&der) == sha256).then_some(id)
        })
    }

    /// With privilege mode sudo: records readable sudoers drop-ins and checks, with `sudo -n -l`,
    /// that the test and reload commands may run without a password.
    async fn check_sudo(
        &self,
        ctx: &TaskContext,
        server: &ServerRow,
        session: &SshSession,
        sftp: &Sftp<'_>,
    ) -> Result<Vec<FoundConfig>, TaskFailure> {
        let mut out = Vec::new();
        for name in sftp
            .list(SUDOERS_DIR)
            .await
            .unwrap_or_default()
            .into_iter()
            .take(MAX_FILES)
        {
            let path = format!("{SUDOERS_DIR}/{name}");
            if let Ok(Some(d)) = sftp.read(&path, CONFIG_CONTENT_MAX as u64).await {
                out.push(FoundConfig {
                    config_type: ConfigType::System,
                    path,
                    content: Some(String::from_utf8_lossy(&d).into_owned()),
                    note: None,
                });
            }
        }
        let cmds = super::hosts::server_commands(server);
        for (what, cmd) in [("test", &cmds.test), ("reload", &cmds.reload)] {
            let Some(cmd) = cmd else { continue };
            let r = session
                .exec(&format!("{PATH_PREFIX}sudo -n -l {cmd}"))
                .await
                .map_err(RemoteError::from)?;
            let (level, msg) = if r.code == 0 {
                (
                    LogLevel::Info,
                    format!("sudo allows the {what} command without a password: {cmd}"),
                )
            } else {
                (
                    LogLevel::Warning,
                    format!(
                        "sudo does NOT allow the {what} command without a password ({}): add a NOPASSWD rule for `{cmd}`",
                        r.excerpt(200)
                    ),
                )
            };
            ctx.log(level, &msg, None).await?;
        }
        Ok(out)
    }
}
