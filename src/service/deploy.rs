//! The `certificate_deploy` task: put a certificate and its key on servers over SSH as a
//! transaction — upload to temporary names, back up the certificate and the key (each as it
//! exists, independently) and record what existed in a transaction record on the server
//! (`<cert>.certdeck-txn-<deployment>`), swap with `mv -f` (the key's failure puts the
//! certificate back in the same remote command), test the config, reload, verify by TLS
//! handshake that the new serial is served — and on any failure put back exactly what existed
//! (a file that did not exist is removed, nothing else), reload and check the old serial.
//!
//! A retry trusts the server, not the database: an entry recorded as deployed is skipped only
//! when a handshake shows its serial served, and a transaction record left by an interrupted
//! attempt is what a later failure restores to.
//!
//! Entries that are the same physical host (address and SSH port) are deployed one after the
//! other; among them, those with the same config test and reload commands share one test and
//! one reload (an nginx and an Apache entry of one machine each get their own). Different hosts
//! run concurrently (bounded).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::sync::{Mutex, Semaphore};
use zeroize::Zeroizing;

use super::discovery::q;
use super::remote::{server_label, RemoteError};
use super::tasks::{RunFuture, TaskContext, TaskFailure, TaskInput, TaskRunner};
use super::{Actor, Services};
use crate::domain::certpem::serial_hex;
use crate::domain::{DeploymentStatus, LogLevel, PrivilegeMode, ServerType, TaskType};
use crate::engine::ssh::{Sftp, SshError, SshSession};
use crate::engine::tls_peek;
use crate::errors::{ServiceError, ServiceResult};
use crate::store::certificates::{self as certs, DeploymentRow};
use crate::store::secrets::SealedColumn;
use crate::store::servers::{self as servers, ServerRow};
use crate::store::tasks::TaskRow;

/// Hosts deployed to at once.
const HOST_CONCURRENCY: usize = 16;

/// The config test and reload commands of a server (before privilege is applied).
#[derive(Debug, Clone, Default, serde::Serialize)]
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

/// How long to wait for a reload to serve the new certificate: `CERTDECK_DEPLOY_VERIFY_TIMEOUT`
/// seconds, default 20.
fn verify_timeout() -> Duration {
    Duration::from_secs(
        std::env::var("CERTDECK_DEPLOY_VERIFY_TIMEOUT")
            .ok()
            .and_then(|v| v.parse().ok())
            .filter(|v| *v > 0)
            .unwrap_or(20),
    )
}

/// What to deploy to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeployTarget {
    /// Every deployment of the certificate.
    All,
    /// The certificate's deployment on this server.
    Server(i64),
    /// The certificate's deployments on the servers of this group.
    Group(i64),
    /// Only auto-deploy deployments (after a renewal).
    Auto,
}

/// One step of a plan.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PlannedHost {
    /// Deployment id.
    pub deployment_id: i64,
    /// Server.
    pub server: String,
    /// Files written: (path, mode).
    pub files: Vec<(String, String)>,
    /// Commands run on the server (after the swap).
    pub commands: Vec<String>,
    /// Verification handshake `host:port` and SNI.
    pub verify: String,
    /// Why this host cannot be deployed to now, if so.
    pub blocked: Option<String>,
}

/// Runs `certificate_deploy` tasks.
pub struct DeployRunner;

impl TaskRunner for DeployRunner {
    fn run<'a>(&'a self, ctx: &'a TaskContext) -> RunFuture<'a> {
        Box::pin(async move { ctx.services().deploy_run(ctx).await })
    }
}

/// The material to put on disk.
struct Material {
    fullchain: Vec<u8>,
    key: Zeroizing<Vec<u8>>,
    serial: String,
    main_domain: String,
}

/// One deployment's state through the transaction.
struct Job {
    d: DeploymentRow,
    server: ServerRow,
    cert_path: String,
    key_path: String,
    /// What existed before the transaction (the backup of each file that existed), once known:
    /// recorded by this attempt, or by an interrupted earlier one (its transaction record).
    prior: Option<Prior>,
    /// The files on disk may differ from [`Prior`]: a restore is needed on failure.
    swapped: bool,
    /// The files were put back to [`Prior`] during this run (the server needs a reload).
    restored: bool,
    /// An earlier attempt's deploy was found served (by a handshake): nothing was redone.
    skipped: bool,
    error: Option<String>,
    transient: bool,
    started: Instant,
    step_ms: u64,
}

impl Job {
    fn new(d: DeploymentRow, server: ServerRow) -> Job {
        let key_path = key_path_of(&d);
        let mut j = Job {
            cert_path: d.deploy_path.clone(),
            key_path,
            d,
            server,
            prior: None,
            swapped: false,
            restored: false,
            skipped: false,
            error: None,
            transient: false,
            started: Instant::now(),
            step_ms: 0,
        };
        if j.key_path == j.cert_path {
            j.error = Some(same_path_refusal(&j.cert_path));
        }
        j
    }

    fn tmp_cert(&self) -> String {
        format!("{}.certdeck-new-{}", self.cert_path, self.d.id)
    }

    fn tmp_key(&self) -> String {
        format!("{}.certdeck-new-{}", self.key_path, self.d.id)
    }

    /// The transaction record on the server: what existed before, written before the swap and
    /// removed once the deploy is served or the old files are back.
    fn manifest(&self) -> String {
        format!("{}.certdeck-txn-{}", self.cert_path, self.d.id)
    }
}

/// The refusal of a deployment whose key path is its certificate path.
fn same_path_refusal(path: &str) -> String {
    format!(
        "refused: the key path is the certificate path {path} (the key would overwrite the certificate); \
         set another key path (certdeck deployment add … --key-path); nothing was changed"
    )
}

/// What a deployment's paths held before a deploy: the backup of each file that existed
/// (`None`: the file did not exist and is removed again on rollback), and the old serial.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
struct Prior {
    /// Backup of the certificate file.
    cert: Option<String>,
    /// Backup of the key file.
    key: Option<String>,
    /// Serial of the certificate that was there.
    serial: Option<String>,
}

/// A failed step of one entry.
struct StepError {
    msg: String,
    transient: bool,
}

impl StepError {
    fn new(msg: impl Into<String>) -> StepError {
        StepError {
            msg: msg.into(),
            transient: false,
        }
    }
}

impl From<SshError> for StepError {
    fn from(e: SshError) -> StepError {
        StepError {
            transient: is_transient(&e),
            msg: e.to_string(),
        }
    }
}

/// The shell command that puts `path` back as it was: copied back from its backup, or removed
/// when it did not exist. Backups and restores copy a symbolic link as the link (`cp -P`): a
/// path that linked to a shared file (certbot's `live/` links) links to it again, instead of
/// becoming a stale copy that the link's owner no longer updates. The copy's name is removed
/// first: `cp` writes through a link left there (a backup that is a link) into its target.
fn put_back(path: &str, backup: Option<&str>) -> String {
    match backup {
        Some(b) => format!(
            "rm -f {r} && cp -P -p {b} {r} && mv -f {r} {p}",
            b = q(b),
            r = q(&format!("{path}.certdeck-restore")),
            p = q(path)
        ),
        None => format!("rm -f {}", q(path)),
    }
}

/// Result of one deployment, for the task result and the CLI.
#[derive(Debug, Clone, serde::Serialize)]
pub struct HostResult {
    /// Deployment id.
    pub deployment_id: i64,
    /// Server id.
    pub server_id: i64,
    /// Server label.
    pub server: String,
    /// deployed or failed.
    pub status: DeploymentStatus,
    /// Error, when failed.
    pub error: Option<String>,
    /// Milliseconds from this entry's start to the end of its host's transaction (entries of
    /// one host wait for each other and share the test, reload and verification).
    pub ms: u64,
    /// Milliseconds of this entry's own step: connect, upload, backup and swap.
    pub step_ms: u64,
}

impl Services {
    /// The deployments a target selects (created on the fly for `Server`/`Group` when a path is given).
    async fn select_deployments(
        &self,
        actor: &Actor,
        cert_id: i64,
        target: DeployTarget,
    ) -> ServiceResult<Vec<DeploymentRow>> {
        self.cert_get(actor, cert_id).await?;
        let all = certs::list_deployments(self.db(), Some(cert_id), None).await?;
        let picked: Vec<DeploymentRow> = match target {
            DeployTarget::All => all,
            DeployTarget::Auto => all.into_iter().filter(|d| d.auto_deploy).collect(),
            DeployTarget::Server(sid) => {
                self.server_get(actor, sid).await?;
                all.into_iter().filter(|d| d.server_id == sid).collect()
            }
            DeployTarget::Group(gid) => {
                self.group_get(actor, gid).await?;
                let f = servers::ServerFilter {
                    group_id: Some(gid),
                    ..Default::default()
                };
                let members = servers::list_servers(self.db(), &f, crate::store::Page::first(1000)).await?;
                all.into_iter()
                    .filter(|d| members.iter().any(|m| m.id == d.server_id))
                    .collect()
            }
        };
        Ok(picked)
    }

    /// A dry run: which files, servers and commands a deploy would touch.
    pub async fn deploy_plan(
        &self,
        actor: &Actor,
        cert_id: i64,
        target: DeployTarget,
    ) -> ServiceResult<Vec<PlannedHost>> {
        let cert = self.cert_get(actor, cert_id).await?;
        let mut out = Vec::new();
        for d in self.select_deployments(actor, cert_id, target).await? {
            let s = servers::get_server(self.db(), d.server_id)
                .await?
                .ok_or_else(|| ServiceError::not_found("server", d.server_id))?;
            let cmds = server_commands(&s);
            let key = key_path_of(&d);
            let (h, p, sni) = verify_target(&d, &s, &cert.main_domain);
            let blocked = match (s.auth_type, &s.host_key_fingerprint) {
                _ if key == d.deploy_path => Some(same_path_refusal(&key)),
                (crate::domain::AuthType::Token, _) => Some("auth type token: not reached over SSH".to_string()),
                (_, None) => Some("host key not trusted yet (certdeck server trust-hostkey)".to_string()),
                _ => None,
            };
            out.push(PlannedHost {
                deployment_id: d.id,
                server: server_label(&s),
                files: vec![(d.deploy_path.clone(), "0644".into()), (key, "0600".into())],
                commands: [cmds.test, cmds.reload]
                    .into_iter()
                    .flatten()
                    .map(|c| privileged(&s, &c))
                    .collect(),
                verify: format!("{h}:{p} SNI {sni}"),
                blocked,
            });
        }
        Ok(out)
    }

    /// Queues a deploy of a certificate to the selected deployments (one task for all).
    pub async fn deploy_enqueue(&self, actor: &Actor, cert_id: i64, target: DeployTarget) -> ServiceResult<TaskRow> {
        let cert = self.cert_get(actor, cert_id).await?;
        if cert.status != crate::domain::CertificateStatus::Issued {
            return Err(ServiceError::Conflict(format!(
                "certificate {cert_id} is {}: only an issued certificate can be deployed",
                cert.status
            )));
        }
        let ds = self.select_deployments(actor, cert_id, target).await?;
        if ds.is_empty() {
            return Err(ServiceError::invalid(
                "target",
                format!(
                    "certificate {cert_id} has no deployment there: bind it to a server first (certdeck deployment add)"
                ),
            ));
        }
        let ids: Vec<i64> = ds.iter().map(|d| d.id).collect();
        let input = TaskInput {
            task_type: Some(TaskType::CertificateDeploy),
            priority: Some(7),
            target_type: Some("certificate".into()),
            target_id: Some(cert_id),
            params: Some(json!({"deployments": ids})),
            max_attempts: Some(3),
            ..Default::default()
        };
        self.task_enqueue(actor, &input).await
    }

    async fn deploy_run(&self, ctx: &TaskContext) -> Result<Value, TaskFailure> {
        let task = ctx.task();
        let tid = task
            .target_id
            .ok_or_else(|| TaskFailure::permanent("certificate_deploy needs a target"))?;
        let deployments: Vec<DeploymentRow> = if task.target_type.as_deref() == Some("certificate") {
            // params.deployments, authorized for the task's actor before the run.
            let ids = ctx.scope().deployment_ids.clone();
            let all = certs::list_deployments(self.db(), Some(tid), None).await?;
            if ids.is_empty() {
                all.into_iter().filter(|d| d.auto_deploy).collect()
            } else {
                all.into_iter().filter(|d| ids.contains(&d.id)).collect()
            }
        } else {
            vec![certs::get_deployment(self.db(), tid)
                .await?
                .ok_or_else(|| TaskFailure::permanent(format!("deployment {tid} no longer exists")))?]
        };
        let Some(first) = deployments.first() else {
            return Err(TaskFailure::permanent("no deployment to deploy to"));
        };
        let material = Arc::new(self.deploy_material(first.certificate_id).await?);
        ctx.log(
            LogLevel::Info,
            &format!(
                "deploying certificate {} (serial {}) to {} deployment(s)",
                material.main_domain,
                material.serial,
                deployments.len()
            ),
            None,
        )
        .await?;
        // Group by physical host (address and SSH port): its entries run one after the other,
        // and those that share config test and reload commands share one test and one reload.
        let mut hosts: BTreeMap<(String, i32), Vec<Job>> = BTreeMap::new();
        let cert_of_task = deployments.first().map(|d| d.certificate_id);
        let policy = self.target_policy().await?;
        for d in deployments {
            let Some(server) = servers::get_server(self.db(), d.server_id).await? else {
                continue;
            };
            let mut job = Job::new(d, server);
            // An explicit verify host is a user-configured target: checked again at use (DNS
            // can change since it was added), before anything on the server changes.
            if let (None, Some(vh)) = (&job.error, job.d.verify_host.as_deref()) {
                let (_, port, _) = verify_target(&job.d, &job.server, &material.main_domain);
                if let Some(why) = policy.check("deployment verify host", vh, port).await {
                    job.error = Some(format!("refused: {why}; nothing was changed"));
                }
            }
            hosts
                .entry((job.server.hostname.to_ascii_lowercase(), job.server.port))
                .or_default()
                .push(job);
        }
        let total = hosts.len();
        let done = Arc::new(Mutex::new(0usize));
        let sem = Arc::new(Semaphore::new(HOST_CONCURRENCY));
        let mut futs = Vec::new();
        for (_, jobs) in hosts {
            let (sem, material, done) = (sem.clone(), material.clone(), done.clone());
            futs.push(async move {
                let _permit = sem.acquire().await;
                let r = self.deploy_host(ctx, jobs, &material).await;
                let mut n = done.lock().await;
                *n += 1;
                let _ = ctx.progress(((*n * 100) / total.max(1)).min(99) as i32).await;
                r
            });
        }
        let mut results = Vec::new();
        let mut transient = false;
        for r in futures::future::join_all(futs).await {
            let jobs = r?;
            for j in jobs {
                transient |= j.error.is_some() && j.transient;
                results.push(HostResult {
                    deployment_id: j.d.id,
                    server_id: j.server.id,
                    server: server_label(&j.server),
                    status: if j.error.is_some() {
                        DeploymentStatus::Failed
                    } else {
                        DeploymentStatus::Deployed
                    },
                    error: j.error.clone(),
                    ms: j.started.elapsed().as_millis() as u64,
                    step_ms: j.step_ms,
                });
            }
        }
        let failed: Vec<&HostResult> = results.iter().filter(|r| r.error.is_some()).collect();
        let summary = json!({
            "serial": material.serial,
            "deployed": results.len() - failed.len(),
            "failed": failed.len(),
            "hosts": results,
        });
        if failed.is_empty() {
            ctx.progress(100).await?;
            ctx.log(
                LogLevel::Info,
                &format!("deployed to {} host entr(ies)", results.len()),
                None,
            )
            .await?;
            return Ok(summary);
        }
        let msg = format!(
            "{} of {} deployment(s) failed: {}",
            failed.len(),
            results.len(),
            failed
                .iter()
                .map(|f| format!("{}: {}", f.server, f.error.as_deref().unwrap_or("")))
                .collect::<Vec<_>>()
                .join("; ")
        );
        ctx.log(LogLevel::Error, &msg, Some(summary)).await?;
        if !transient || ctx.is_last_attempt() {
            if let Some(cert_id) = cert_of_task {
                for line in self.record_task_failure(cert_id, "deploy", &msg).await? {
                    ctx.log(LogLevel::Warning, &line, None).await?;
                }
            }
        }
        Err(if transient {
            TaskFailure::transient(msg)
        } else {
            TaskFailure::permanent(msg)
        })
    }

    async fn deploy_material(&self, cert_id: i64) -> Result<Material, TaskFailure> {
        let row = certs::get(self.db(), cert_id)
            .await?
            .ok_or_else(|| TaskFailure::permanent(format!("certificate {cert_id} no longer exists")))?;
        let m = certs::get_material(self.db(), cert_id)
            .await?
            .ok_or_else(|| TaskFailure::permanent(format!("certificate {cert_id} no longer exists")))?;
        let cert = m
            .certificate_pem
            .ok_or_else(|| TaskFailure::permanent(format!("certificate {cert_id} has no certificate yet")))?;
        let sealed = m
            .private_key_encrypted
            .ok_or_else(|| TaskFailure::permanent(format!("certificate {cert_id} has no private key")))?;
        let key = self
            .keyring()
            .open(&SealedColumn::CertificateKey.place(cert_id), &sealed)
            .map_err(|e| TaskFailure::permanent(format!("cannot decrypt the private key: {e}")))?;
        let der = crate::domain::certpem::certificates_der(cert.as_bytes())
            .map_err(TaskFailure::permanent)?
            .into_iter()
            .next()
            .ok_or_else(|| TaskFailure::permanent("the stored certificate has no PEM block"))?;
        let mut fullchain = cert.trim_end().to_string();
        fullchain.push('\n');
        if let Some(chain) = m.chain_pem.as_deref().filter(|c| !c.trim().is_empty()) {
            fullchain.push_str(chain.trim_end());
            fullchain.push('\n');
        }
        Ok(Material {
            fullchain: fullchain.into_bytes(),
            key,
            serial: serial_hex(&der).unwrap_or_default(),
            main_domain: row.main_domain,
        })
    }

    /// Deploys every job of one physical host, one unit after the other: a unit is the entries
    /// that share config test and reload commands (an nginx and an Apache entry of one machine
    /// are two units, each tested and reloaded with its own commands).
    async fn deploy_host(&self, ctx: &TaskContext, jobs: Vec<Job>, m: &Material) -> Result<Vec<Job>, TaskFailure> {
        let mut units: Vec<(UnitKey, Vec<Job>)> = Vec::new();
        for j in jobs {
            let k = unit_key(&j.server);
            match units.iter_mut().find(|(uk, _)| *uk == k) {
                Some((_, v)) => v.push(j),
                None => units.push((k, vec![j])),
            }
        }
        let mut sessions = Conns::default();
        let mut out = Vec::new();
        let mut result = Ok(());
        for (_, unit) in units {
            match self.deploy_unit(ctx, unit, &mut sessions, m).await {
                Ok(done) => out.extend(done),
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        for s in sessions.list {
            s.close().await;
        }
        result.map(|()| out)
    }

    /// Deploys the entries of one unit: swap each, then one test and one reload, then verify
    /// each; on failure puts back what existed before, reloads, and checks the old serial.
    async fn deploy_unit(
        &self,
        ctx: &TaskContext,
        mut jobs: Vec<Job>,
        sessions: &mut Conns,
        m: &Material,
    ) -> Result<Vec<Job>, TaskFailure> {
        let mut any_changed = false;
        for j in jobs.iter_mut() {
            // Stop for a cancel only before this unit's files change: once one entry is swapped,
            // the transaction (test, reload, verify or roll back) runs to its end.
            if !any_changed {
                ctx.checkpoint().await?;
            }
            j.started = Instant::now();
            if j.error.is_some() {
                continue;
            }
            if let Err(e) = self.connect_shared(sessions, &j.server).await {
                j.transient = remote_transient(&e);
                j.error = Some(e.to_string());
                continue;
            }
            let s = sessions.of(j.server.id);
            if ctx.attempt() > 1
                && j.d.status == DeploymentStatus::Deployed
                && j.d.deployed_serial.as_deref() == Some(&m.serial)
                && self.earlier_attempt_served(ctx, s, j, m).await?
            {
                continue;
            }
            let swap = self.stage_and_swap(ctx, s, j, m).await;
            j.step_ms = j.started.elapsed().as_millis() as u64;
            if let Err(e) = swap {
                j.transient = e.transient;
                j.error = Some(e.msg);
                self.restore_files(ctx, s, j).await;
            }
            any_changed |= j.swapped || j.restored;
        }
        let swapped: Vec<usize> = (0..jobs.len())
            .filter(|i| jobs[*i].swapped && jobs[*i].error.is_none())
            .collect();
        let Some(lead_i) = swapped
            .first()
            .copied()
            .or_else(|| jobs.iter().position(|j| j.restored))
        else {
            return self.finish_jobs(ctx, jobs, sessions, m).await;
        };
        let lead = jobs[lead_i].server.clone();
        let cmds = server_commands(&lead);
        let label = server_label(&lead);
        // Test, then reload, once for the unit.
        let mut failure: Option<(String, bool)> = None;
        if !swapped.is_empty() {
            let session = sessions.of(lead.id);
            for (what, cmd) in [("config test", &cmds.test), ("reload", &cmds.reload)] {
                let Some(cmd) = cmd else {
                    ctx.log(
                        LogLevel::Warning,
                        &format!("{label}: no {what} command (server type other without one): skipped"),
                        None,
                    )
                    .await?;
                    continue;
                };
                match session.run(&privileged(&lead, cmd)).await {
                    Ok(_) => {
                        ctx.log(LogLevel::Info, &format!("{label}: {what} ok: {cmd}"), None)
                            .await?
                    }
                    Err(e) => {
                        failure = Some((format!("{what} failed: {e}"), is_transient(&e)));
                        break;
                    }
                }
            }
        }
        // Verify each swapped entry serves the new serial.
        if failure.is_none() && !swapped.is_empty() {
            let checks = swapped.iter().map(|&i| {
                let j = &jobs[i];
                let (h, p, sni) = verify_target(&j.d, &j.server, &m.main_domain);
                async move { (i, wait_for_serial(&h, p, &sni, &m.serial, verify_timeout()).await) }
            });
            for (i, r) in futures::future::join_all(checks).await {
                if let Err(e) = r {
                    jobs[i].error = Some(format!("verify failed: {e}"));
                }
            }
            let culprits: Vec<String> = swapped
                .iter()
                .filter_map(|&i| {
                    let j = &jobs[i];
                    j.error
                        .as_ref()
                        .map(|e| format!("{} ({}): {e}", server_label(&j.server), j.cert_path))
                })
                .collect();
            if !culprits.is_empty() {
                failure = Some((
                    format!(
                        "rolled back with the other entries sharing its reload, because {}",
                        culprits.join("; ")
                    ),
                    false,
                ));
            }
        }
        if let Some((why, transient)) = &failure {
            ctx.log(LogLevel::Error, &format!("{label}: {why}; rolling back"), None)
                .await?;
            for &i in &swapped {
                let j = &mut jobs[i];
                if j.error.is_none() {
                    j.error = Some(why.clone());
                }
                j.transient = *transient;
                let s = sessions.of(j.server.id);
                self.restore_files(ctx, s, j).await;
            }
        }
        if jobs.iter().any(|j| j.restored) {
            // Reload what was restored, then check the old certificate is back.
            let session = sessions.of(lead.id);
            let mut rolled = String::from("old files restored");
            if let Some(t) = &cmds.test {
                if let Err(e) = session.run(&privileged(&lead, t)).await {
                    rolled = format!("old files restored but the config test still fails: {e}");
                }
            }
            if let Some(r) = &cmds.reload {
                if let Err(e) = session.run(&privileged(&lead, r)).await {
                    rolled = format!("{rolled}; reload after rollback failed: {e}");
                }
            }
            for j in jobs.iter_mut().filter(|j| j.restored) {
                let (h, p, sni) = verify_target(&j.d, &j.server, &m.main_domain);
                let served = match j.prior.as_ref().and_then(|p| p.serial.clone()) {
                    Some(old) => match wait_for_serial(&h, p, &sni, &old, verify_timeout()).await {
                        Ok(()) => format!("; the old certificate (serial {old}) is served again"),
                        Err(e) => format!("; the old certificate is NOT served: {e}"),
                    },
                    None => String::new(),
                };
                let e = j.error.take().unwrap_or_default();
                j.error = Some(format!("{e} — rolled back: {rolled}{served}"));
            }
        }
        self.finish_jobs(ctx, jobs, sessions, m).await
    }

    /// On a retry of an entry the database records as deployed with this serial: whether the
    /// endpoint really serves it (a TLS handshake decides, never the row alone). When it does,
    /// an interrupted attempt's transaction record is adopted for the cleanup and nothing is
    /// redone; when it does not, the entry is deployed again (which also reloads the server
    /// when an earlier attempt swapped the files but never reloaded).
    async fn earlier_attempt_served(
        &self,
        ctx: &TaskContext,
        s: &SshSession,
        j: &mut Job,
        m: &Material,
    ) -> Result<bool, TaskFailure> {
        let label = server_label(&j.server);
        let (h, p, sni) = verify_target(&j.d, &j.server, &m.main_domain);
        match wait_for_serial(&h, p, &sni, &m.serial, RETRY_CHECK_TIMEOUT).await {
            Ok(()) => {
                if let Ok(sftp) = s.sftp().await {
                    if let Ok(Some(prior)) = read_manifest(&sftp, &j.manifest()).await {
                        j.prior = Some(prior);
                    }
                }
                j.skipped = true;
                ctx.log(
                    LogLevel::Info,
                    &format!(
                        "{label}: {h}:{p} (SNI {sni}) already serves serial {} (deployed by an earlier attempt; checked by a TLS handshake)",
                        m.serial
                    ),
                    None,
                )
                .await?;
                Ok(true)
            }
            Err(e) => {
                ctx.log(
                    LogLevel::Warning,
                    &format!(
                        "{label}: the database records serial {} as deployed by an earlier attempt, but the server does not serve it ({e}): deploying again",
                        m.serial
                    ),
                    None,
                )
                .await?;
                Ok(false)
            }
        }
    }

    async fn finish_jobs(
        &self,
        ctx: &TaskContext,
        jobs: Vec<Job>,
        sessions: &Conns,
        m: &Material,
    ) -> Result<Vec<Job>, TaskFailure> {
        for j in &jobs {
            let label = server_label(&j.server);
            match &j.error {
                None => {
                    if let (Some(s), Some(prior)) = (sessions.get(j.server.id), &j.prior) {
                        self.prune_backups(s, j, prior).await;
                    }
                    certs::set_deployment_outcome(self.db(), j.d.id, DeploymentStatus::Deployed, None, Some(&m.serial))
                        .await?;
                    let how = if j.skipped { " (by an earlier attempt)" } else { "" };
                    ctx.log(
                        LogLevel::Info,
                        &format!(
                            "{label}: deployed {} and {}{how}; serial {} is served",
                            j.cert_path, j.key_path, m.serial
                        ),
                        None,
                    )
                    .await?;
                }
                Some(e) => {
                    let e: String = e.chars().take(2000).collect();
                    certs::set_deployment_outcome(self.db(), j.d.id, DeploymentStatus::Failed, Some(&e), None).await?;
                    ctx.log(LogLevel::Error, &format!("{label}: {e}"), None).await?;
                }
            }
        }
        Ok(jobs)
    }

    /// Connects for a server entry, reusing an open connection with the same target (host,
    /// port, user, credentials, host key, jump chain): entries of one machine share one.
    async fn connect_shared(&self, conns: &mut Conns, server: &ServerRow) -> Result<(), RemoteError> {
        if conns.by_server.contains_key(&server.id) {
            return Ok(());
        }
        let target = self.ssh_target(server, None).await?;
        let identity = target.identity();
        let idx = match conns.by_identity.get(&identity) {
            Some(i) => *i,
            None => {
                let s = SshSession::connect(&target, super::remote::ssh_timeouts()).await?;
                conns.list.push(s);
                conns.by_identity.insert(identity, conns.list.len() - 1);
                conns.list.len() - 1
            }
        };
        conns.by_server.insert(server.id, idx);
        Ok(())
    }

    /// Steps 1–3 for one job: upload to temporary names, back up the certificate and the key
    /// (each as it exists, independently) and record that on the server, then swap both in one
    /// remote command that puts the certificate back when the key cannot follow.
    async fn stage_and_swap(
        &self,
        ctx: &TaskContext,
        s: &SshSession,
        j: &mut Job,
        m: &Material,
    ) -> Result<(), StepError> {
        let label = server_label(&j.server);
        let id = j.d.id;
        let (tmp_cert, tmp_key, manifest) = (j.tmp_cert(), j.tmp_key(), j.manifest());
        let sftp = s.sftp().await?;
        let old_cert = sftp.stat(&j.cert_path).await?;
        let old_key = sftp.stat(&j.key_path).await?;
        for (what, p, st) in [("certificate", &j.cert_path, old_cert), ("key", &j.key_path, old_key)] {
            if st.is_some_and(|st| st.is_dir) {
                return Err(StepError::new(format!(
                    "refused: the {what} path {p} is a directory; nothing was changed"
                )));
            }
        }
        // A transaction record left by an interrupted attempt says what existed before it: the
        // files on disk may be that attempt's, so they are never taken for the old ones.
        let inherited = read_manifest(&sftp, &manifest).await?;
        if let Some(prior) = &inherited {
            for b in [&prior.cert, &prior.key].into_iter().flatten() {
                if sftp.stat(b).await?.is_none() {
                    return Err(StepError::new(format!(
                        "an interrupted earlier deploy recorded the backup {b} in {manifest}, but it is gone: \
                         check {} and {} by hand, then remove {manifest}; nothing was changed",
                        j.cert_path, j.key_path
                    )));
                }
            }
            j.prior = inherited.clone();
            j.swapped = true;
            let _ = ctx
                .log(
                    LogLevel::Warning,
                    &format!(
                        "{label}: an earlier attempt was interrupted after its backup ({manifest}): \
                         its record of the files before it is kept and restored on any failure"
                    ),
                    None,
                )
                .await;
        }
        // 1. upload
        sftp.write(&tmp_cert, &m.fullchain, 0o644).await?;
        sftp.write(&tmp_key, &m.key, 0o600).await?;
        let mut chown = Vec::new();
        for (tmp, old) in [(&tmp_cert, old_cert), (&tmp_key, old_key)] {
            if let Some(o) = old {
                chown.push(format!("chown {}:{} {} 2>/dev/null", o.uid, o.gid, q(tmp)));
            }
        }
        if !chown.is_empty() {
            let out = s.exec(&chown.join("; ")).await?;
            if out.code != 0 {
                let _ = ctx
                    .log(
                        LogLevel::Warning,
                        &format!(
                            "{label}: could not keep the files' owner (not privileged); the SSH user owns them now"
                        ),
                        None,
                    )
                    .await;
            }
        }
        let _ = ctx
            .log(
                LogLevel::Info,
                &format!("{label}: uploaded {tmp_cert} (0644) and {tmp_key} (0600)"),
                None,
            )
            .await;
        // 2. back up each file that exists, named by deployment and the serial it holds, and
        //    record what existed (written under a temporary name, put in place by the swap)
        let part = format!("{manifest}.part");
        let prior = match inherited {
            Some(p) => p,
            None => {
                let old_serial = match old_cert {
                    Some(_) => match sftp.read(&j.cert_path, 1024 * 1024).await? {
                        Some(d) => crate::domain::certpem::certificates_der(&d)
                            .ok()
                            .and_then(|v| v.into_iter().next())
                            .and_then(|der| serial_hex(&der)),
                        None => None,
                    },
                    None => None,
                };
                let tag = old_serial
                    .clone()
                    .unwrap_or_else(|| if old_cert.is_some() { "unknown" } else { "none" }.into());
                let prior = Prior {
                    cert: old_cert.map(|_| format!("{}.certdeck-bak-{id}-{tag}", j.cert_path)),
                    key: old_key.map(|_| format!("{}.certdeck-bak-{id}-{tag}", j.key_path)),
                    serial: old_serial,
                };
                let copies: Vec<String> = [(&j.cert_path, &prior.cert), (&j.key_path, &prior.key)]
                    .into_iter()
                    .filter_map(|(p, b)| {
                        b.as_ref()
                            .map(|b| format!("rm -f {b} && cp -P -p {} {b}", q(p), b = q(b)))
                    })
                    .collect();
                if !copies.is_empty() {
                    s.run(&copies.join(" && ")).await?;
                }
                let record = serde_json::to_vec(&prior).map_err(|e| StepError::new(e.to_string()))?;
                sftp.write(&part, &record, 0o600).await?;
                let said = |b: &Option<String>, p: &str| match b {
                    Some(b) => format!("{p} to {b}"),
                    None => format!("{p} did not exist"),
                };
                let _ = ctx
                    .log(
                        LogLevel::Info,
                        &format!(
                            "{label}: backed up the current files (serial {tag}): {}; {}",
                            said(&prior.cert, &j.cert_path),
                            said(&prior.key, &j.key_path)
                        ),
                        None,
                    )
                    .await;
                prior
            }
        };
        let fresh = j.prior.is_none();
        j.prior = Some(prior.clone());
        drop(sftp);
        // 3. swap both in one remote command, so a lost connection cannot leave half a pair:
        //    when the key cannot follow the certificate, the certificate is put back at once.
        let record = if fresh {
            format!("mv -f {} {} || exit 6; ", q(&part), q(&manifest))
        } else {
            String::new()
        };
        let cmd = format!(
            "{record}mv -f {tc} {c} || exit 3; if mv -f {tk} {k}; then exit 0; fi; {undo} && exit 4; exit 5",
            tc = q(&tmp_cert),
            c = q(&j.cert_path),
            tk = q(&tmp_key),
            k = q(&j.key_path),
            undo = put_back(&j.cert_path, prior.cert.as_deref()),
        );
        let out = match s.exec(&cmd).await {
            Ok(out) => out,
            Err(e) => {
                // Unknown how far it got: restore on the way out.
                j.swapped = true;
                return Err(e.into());
            }
        };
        let why = out.excerpt(400);
        match out.code {
            0 => j.swapped = true,
            6 => {
                return Err(StepError::new(format!(
                    "could not record the backup in {manifest}: {why}"
                )))
            }
            3 => {
                return Err(StepError::new(format!(
                    "could not put the certificate in place at {}: {why}",
                    j.cert_path
                )))
            }
            4 => {
                return Err(StepError::new(format!(
                    "could not put the key in place at {}: {why}; the certificate was put back",
                    j.key_path
                )))
            }
            5 => {
                j.swapped = true;
                return Err(StepError::new(format!(
                    "could not put the key in place at {}, and putting the certificate back failed: {why}",
                    j.key_path
                )));
            }
            code => {
                j.swapped = true;
                return Err(StepError::new(format!("the swap ended with status {code}: {why}")));
            }
        }
        let _ = ctx
            .log(
                LogLevel::Info,
                &format!("{label}: swapped into {} and {}", j.cert_path, j.key_path),
                None,
            )
            .await;
        #[cfg(feature = "testkit")]
        if let Ok(ms) = std::env::var("CERTDECK_TESTKIT_PAUSE_AFTER_SWAP_MS") {
            tokio::time::sleep(Duration::from_millis(ms.parse().unwrap_or(0))).await;
        }
        Ok(())
    }

    /// Puts back exactly what existed before: each file from its backup, or removed when it
    /// did not exist; removes the temporary files and, once the old files are back, the
    /// transaction record.
    async fn restore_files(&self, ctx: &TaskContext, s: &SshSession, j: &mut Job) {
        let label = server_label(&j.server);
        let manifest = j.manifest();
        let mut cmds = vec![format!(
            "rm -f {} {} {}",
            q(&j.tmp_cert()),
            q(&j.tmp_key()),
            q(&format!("{manifest}.part"))
        )];
        let mut what = Vec::new();
        let changed = j.swapped && j.prior.is_some();
        if let (true, Some(p)) = (changed, &j.prior) {
            for (path, b) in [(&j.cert_path, &p.cert), (&j.key_path, &p.key)] {
                cmds.push(put_back(path, b.as_deref()));
                what.push(match b {
                    Some(_) => format!("{path} put back"),
                    None => format!("{path} removed (it did not exist before)"),
                });
            }
        }
        if j.prior.is_some() {
            cmds.push(format!("rm -f {}", q(&manifest)));
        }
        match s.run(&cmds.join(" && ")).await {
            Ok(_) if changed => {
                let _ = ctx
                    .log(
                        LogLevel::Warning,
                        &format!("{label}: restored the previous files: {}", what.join("; ")),
                        None,
                    )
                    .await;
                j.swapped = false;
                j.restored = true;
            }
            Ok(_) => {}
            Err(e) => {
                let msg = format!(
                    "RESTORE FAILED, check {} and {} by hand ({manifest} records what existed): {e}",
                    j.cert_path, j.key_path
                );
                let _ = ctx.log(LogLevel::Error, &format!("{label}: {msg}"), None).await;
                let before = j.error.take().unwrap_or_default();
                j.error = Some(format!("{before}; {msg}"));
                j.swapped = false;
            }
        }
    }

    /// Keeps only the backups of what existed before this deploy (the previous pair); removes
    /// the transaction record.
    async fn prune_backups(&self, s: &SshSession, j: &Job, prior: &Prior) {
        let id = j.d.id;
        let keep: Vec<&str> = [&prior.cert, &prior.key]
            .into_iter()
            .flatten()
            .map(String::as_str)
            .collect();
        let mut cmd = format!("rm -f {}; ", q(&j.manifest()));
        for base in [&j.cert_path, &j.key_path] {
            let pattern = format!("{}.certdeck-bak-{id}-*", q(base));
            cmd.push_str(&format!(
                "for f in {pattern}; do [ -e \"$f\" ] || continue; case \"$f\" in "
            ));
            for k in &keep {
                cmd.push_str(&format!("{}) ;; ", q(k)));
            }
            cmd.push_str("*) rm -f \"$f\";; esac; done; ");
        }
        let _ = s.exec(&cmd).await;
    }
}

/// How long a retry looks for an earlier attempt's certificate on the endpoint.
const RETRY_CHECK_TIMEOUT: Duration = Duration::from_secs(3);

/// The commands a unit shares: config test and reload as run on the server.
type UnitKey = (Option<String>, Option<String>);

fn unit_key(s: &ServerRow) -> UnitKey {
    let c = server_commands(s);
    (c.test.map(|t| privileged(s, &t)), c.reload.map(|r| privileged(s, &r)))
}

/// Reads an interrupted attempt's transaction record, if there is one.
async fn read_manifest(sftp: &Sftp<'_>, path: &str) -> Result<Option<Prior>, StepError> {
    if sftp.stat(path).await?.is_none() {
        return Ok(None);
    }
    let text = sftp
        .read(path, 64 * 1024)
        .await?
        .ok_or_else(|| StepError::new(format!("the transaction record {path} is too large")))?;
    serde_json::from_slice(&text).map(Some).map_err(|e| {
        StepError::new(format!(
            "the transaction record {path} is unreadable ({e}): check the files by hand, then remove it"
        ))
    })
}

/// The open connections of one host's transaction, shared by entries with the same target.
#[derive(Default)]
struct Conns {
    list: Vec<SshSession>,
    by_identity: std::collections::HashMap<String, usize>,
    by_server: BTreeMap<i64, usize>,
}

impl Conns {
    fn get(&self, server: i64) -> Option<&SshSession> {
        self.by_server.get(&server).map(|i| &self.list[*i])
    }

    /// The connection of an entry that connected (the caller checked).
    fn of(&self, server: i64) -> &SshSession {
        &self.list[self.by_server[&server]]
    }
}

fn remote_transient(e: &RemoteError) -> bool {
    match e {
        RemoteError::Ssh(s) => is_transient(s),
        RemoteError::Service(ServiceError::Remote(_)) => true,
        _ => false,
    }
}

fn is_transient(e: &SshError) -> bool {
    matches!(e, SshError::Timeout { .. })
        || matches!(
            e.stage(),
            crate::engine::ssh::Stage::Dns | crate::engine::ssh::Stage::Tcp | crate::engine::ssh::Stage::Handshake
        )
}

/// Handshakes in a row that must serve the expected serial, over at least [`VERIFY_WINDOW`]:
/// after a reload the old workers may still accept connections while they shut down.
const VERIFY_STREAK: u32 = 3;
/// See [`VERIFY_STREAK`].
const VERIFY_WINDOW: Duration = Duration::from_millis(300);

/// Polls the endpoint until it serves `serial` on every handshake for [`VERIFY_WINDOW`] (and at
/// least [`VERIFY_STREAK`] handshakes), or `timeout` passes.
async fn wait_for_serial(host: &str, port: u16, sni: &str, serial: &str, timeout: Duration) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    let mut last;
    let mut pause = Duration::from_millis(25);
    let mut streak = 0;
    let mut since = Instant::now();
    loop {
        last = match tls_peek::served_leaf(host, port, sni, Duration::from_secs(5)).await {
            Ok(der) => {
                let got = serial_hex(&der).unwrap_or_default();
                if got == serial {
                    if streak == 0 {
                        since = Instant::now();
                    }
                    streak += 1;
                    if streak >= VERIFY_STREAK && since.elapsed() >= VERIFY_WINDOW {
                        return Ok(());
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
                format!("{host}:{port} (SNI {sni}) still serves serial {got}, expected {serial}")
            }
            Err(e) => e,
        };
        streak = 0;
        if Instant::now() >= deadline {
            return Err(format!("{last} after {} s", timeout.as_secs()));
        }
        tokio::time::sleep(pause).await;
        // Short pauses: an nginx reload overlaps old and new workers for about 0.1 s.
        pause = (pause * 2).min(Duration::from_millis(100));
    }
}
