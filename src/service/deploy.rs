//! The `certificate_deploy` task: put a certificate and its key on servers over SSH as a
//! transaction — upload to temporary names, back up, swap with `mv -f`, test the config, reload,
//! verify by TLS handshake that the new serial is served — and roll back on any failure.
//!
//! Entries that are the same physical host (address and SSH port) are deployed one after the
//! other and share one config test and one reload; different hosts run concurrently (bounded).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::sync::{Mutex, Semaphore};
use zeroize::Zeroizing;

use super::discovery::{q, serial_hex};
use super::remote::{server_label, RemoteError};
use super::tasks::{RunFuture, TaskContext, TaskFailure, TaskInput, TaskRunner};
use super::{Actor, Services};
use crate::domain::{DeploymentStatus, LogLevel, PrivilegeMode, ServerType, TaskType};
use crate::engine::ssh::{SshError, SshSession};
use crate::engine::tls_peek;
use crate::errors::{ServiceError, ServiceResult};
use crate::store::certificates::{self as certs, DeploymentRow};
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
    if let Some(k) = &d.key_path {
        return k.clone();
    }
    let p = &d.deploy_path;
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
    /// Backups made by this run: (backup of cert, backup of key), None when the target did not exist.
    backup: Option<(String, String)>,
    old_serial: Option<String>,
    swapped: bool,
    error: Option<String>,
    transient: bool,
    started: Instant,
    step_ms: u64,
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
        // Group by physical host: same address and SSH port.
        let mut hosts: BTreeMap<(String, i32), Vec<Job>> = BTreeMap::new();
        let cert_of_task = deployments.first().map(|d| d.certificate_id);
        for d in deployments {
            let Some(server) = servers::get_server(self.db(), d.server_id).await? else {
                continue;
            };
            let key_path = key_path_of(&d);
            let job = Job {
                cert_path: d.deploy_path.clone(),
                key_path,
                d,
                backup: None,
                old_serial: None,
                swapped: false,
                error: None,
                transient: false,
                started: Instant::now(),
                step_ms: 0,
                server,
            };
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
            .open(&sealed)
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

    /// Deploys every job of one physical host: swap each, then one test and one reload, then
    /// verify each; rolls back the swapped ones on failure.
    async fn deploy_host(&self, ctx: &TaskContext, mut jobs: Vec<Job>, m: &Material) -> Result<Vec<Job>, TaskFailure> {
        let mut sessions = Conns::default();
        let mut any_swapped = false;
        for j in jobs.iter_mut() {
            // Stop for a cancel only before this host's files change: once one entry is swapped,
            // the transaction (test, reload, verify or roll back) runs to its end.
            if !any_swapped {
                ctx.checkpoint().await?;
            }
            j.started = Instant::now();
            if ctx.attempt() > 1
                && j.d.status == DeploymentStatus::Deployed
                && j.d.deployed_serial.as_deref() == Some(&m.serial)
            {
                ctx.log(
                    LogLevel::Info,
                    &format!(
                        "{}: already serves serial {} (earlier attempt)",
                        server_label(&j.server),
                        m.serial
                    ),
                    None,
                )
                .await?;
                continue;
            }
            if let Err(e) = self.connect_shared(&mut sessions, &j.server).await {
                j.transient = remote_transient(&e);
                j.error = Some(e.to_string());
                continue;
            }
            let s = sessions.of(j.server.id);
            let swap = self.stage_and_swap(ctx, s, j, m).await;
            j.step_ms = j.started.elapsed().as_millis() as u64;
            if let Err(e) = swap {
                j.transient = is_transient(&e);
                j.error = Some(e.to_string());
                if j.swapped || j.backup.is_some() {
                    self.restore_files(ctx, s, j).await;
                }
            }
            any_swapped |= j.swapped;
        }
        let swapped: Vec<usize> = (0..jobs.len())
            .filter(|i| jobs[*i].swapped && jobs[*i].error.is_none())
            .collect();
        if swapped.is_empty() {
            return self.finish_jobs(ctx, jobs, sessions, m).await;
        }
        let lead = jobs[swapped[0]].server.clone();
        let session = sessions.of(lead.id);
        let cmds = server_commands(&lead);
        let label = server_label(&lead);
        // Test, then reload, once for the host.
        let mut failure: Option<(String, bool)> = None;
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
            let line = privileged(&lead, cmd);
            match session.run(&line).await {
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
        // Verify each swapped job serves the new serial.
        if failure.is_none() {
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
            if swapped.iter().any(|&i| jobs[i].error.is_some()) {
                failure = Some(("verify failed".into(), false));
            }
        }
        if let Some((why, transient)) = failure {
            ctx.log(LogLevel::Error, &format!("{label}: {why}; rolling back"), None)
                .await?;
            for &i in &swapped {
                let j = &mut jobs[i];
                if j.error.is_none() {
                    j.error = Some(why.clone());
                }
                j.transient = transient;
                let s = sessions.of(j.server.id);
                self.restore_files(ctx, s, j).await;
            }
            // Reload what was restored, then check the old certificate is back.
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
            for &i in &swapped {
                let j = &mut jobs[i];
                let (h, p, sni) = verify_target(&j.d, &j.server, &m.main_domain);
                let served = match &j.old_serial {
                    Some(old) => match wait_for_serial(&h, p, &sni, old, verify_timeout()).await {
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

    async fn finish_jobs(
        &self,
        ctx: &TaskContext,
        jobs: Vec<Job>,
        sessions: Conns,
        m: &Material,
    ) -> Result<Vec<Job>, TaskFailure> {
        for j in &jobs {
            let label = server_label(&j.server);
            match &j.error {
                None => {
                    if let Some(s) = sessions.get(j.server.id) {
                        self.prune_backups(s, j).await;
                    }
                    certs::set_deployment_outcome(self.db(), j.d.id, DeploymentStatus::Deployed, None, Some(&m.serial))
                        .await?;
                    ctx.log(
                        LogLevel::Info,
                        &format!(
                            "{label}: deployed {} and {}; serial {} is served",
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
        for s in sessions.list {
            s.close().await;
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

    /// Steps 1–3 for one job: upload to temporary names, back up, swap.
    async fn stage_and_swap(
        &self,
        ctx: &TaskContext,
        s: &SshSession,
        j: &mut Job,
        m: &Material,
    ) -> Result<(), SshError> {
        let label = server_label(&j.server);
        let id = j.d.id;
        let tmp_cert = format!("{}.certdeck-new-{id}", j.cert_path);
        let tmp_key = format!("{}.certdeck-new-{id}", j.key_path);
        let sftp = s.sftp().await?;
        let old_cert = sftp.stat(&j.cert_path).await?;
        let old_key = sftp.stat(&j.key_path).await?;
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
        // 2. back up what is there now, named by deployment and the serial it holds
        if old_cert.is_some() {
            let old_serial = match sftp.read(&j.cert_path, 1024 * 1024).await? {
                Some(d) => crate::domain::certpem::certificates_der(&d)
                    .ok()
                    .and_then(|v| v.into_iter().next())
                    .and_then(|der| serial_hex(&der)),
                None => None,
            };
            let tag = old_serial.clone().unwrap_or_else(|| "unknown".into());
            let bak_cert = format!("{}.certdeck-bak-{id}-{tag}", j.cert_path);
            let bak_key = format!("{}.certdeck-bak-{id}-{tag}", j.key_path);
            // Never overwrite a backup: an earlier attempt's backup of the same serial is the same file.
            let mut cmd = format!("[ -e {bc} ] || cp -p {c} {bc}", bc = q(&bak_cert), c = q(&j.cert_path));
            if old_key.is_some() {
                cmd.push_str(&format!(
                    " && {{ [ -e {bk} ] || cp -p {k} {bk}; }}",
                    bk = q(&bak_key),
                    k = q(&j.key_path)
                ));
            }
            s.run(&cmd).await?;
            j.backup = Some((bak_cert, if old_key.is_some() { bak_key } else { String::new() }));
            j.old_serial = old_serial;
            let _ = ctx
                .log(
                    LogLevel::Info,
                    &format!("{label}: backed up the current files (serial {tag})"),
                    None,
                )
                .await;
        }
        drop(sftp);
        // 3. swap both in one remote command, so a lost connection cannot leave half a pair
        s.run(&format!(
            "mv -f {} {} && mv -f {} {}",
            q(&tmp_cert),
            q(&j.cert_path),
            q(&tmp_key),
            q(&j.key_path)
        ))
        .await?;
        j.swapped = true;
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

    /// Puts the backed-up files back (or removes files that did not exist before).
    async fn restore_files(&self, ctx: &TaskContext, s: &SshSession, j: &mut Job) {
        let label = server_label(&j.server);
        let id = j.d.id;
        let mut cmds = vec![format!(
            "rm -f {} {}",
            q(&format!("{}.certdeck-new-{id}", j.cert_path)),
            q(&format!("{}.certdeck-new-{id}", j.key_path))
        )];
        if j.swapped {
            match &j.backup {
                Some((bc, bk)) => {
                    cmds.push(format!(
                        "cp -p {bc} {c}.certdeck-restore && mv -f {c}.certdeck-restore {c}",
                        bc = q(bc),
                        c = q(&j.cert_path)
                    ));
                    if bk.is_empty() {
                        cmds.push(format!("rm -f {}", q(&j.key_path)));
                    } else {
                        cmds.push(format!(
                            "cp -p {bk} {k}.certdeck-restore && mv -f {k}.certdeck-restore {k}",
                            bk = q(bk),
                            k = q(&j.key_path)
                        ));
                    }
                }
                None => cmds.push(format!("rm -f {} {}", q(&j.cert_path), q(&j.key_path))),
            }
        }
        let r = s.run(&cmds.join(" && ")).await;
        let msg = match r {
            Ok(_) => format!("{label}: restored the previous files"),
            Err(e) => format!("{label}: RESTORE FAILED, check {} by hand: {e}", j.cert_path),
        };
        let _ = ctx.log(LogLevel::Warning, &msg, None).await;
        j.swapped = false;
    }

    /// Keeps only this run's backup of a deployment.
    async fn prune_backups(&self, s: &SshSession, j: &Job) {
        let id = j.d.id;
        let keep: Vec<&str> = match &j.backup {
            Some((c, k)) => vec![c.as_str(), k.as_str()],
            None => vec![],
        };
        let mut cmd = String::new();
        for base in [&j.cert_path, &j.key_path] {
            let pattern = format!("{}.certdeck-bak-{id}-*", q(base));
            cmd.push_str(&format!(
                "for f in {pattern}; do [ -e \"$f\" ] || continue; case \"$f\" in "
            ));
            for k in keep.iter().filter(|k| !k.is_empty()) {
                cmd.push_str(&format!("{}) ;; ", q(k)));
            }
            cmd.push_str("*) rm -f \"$f\";; esac; done; ");
        }
        let _ = s.exec(&cmd).await;
    }
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
