//! The `certificate_deploy` task: authorization, the deployments and certificate material it
//! works on, task logs, deployment statuses and the task result; the transaction itself (upload,
//! back up, swap, test, reload, verify, roll back exactly what existed) is
//! [`crate::engine::deploy::Deployer`], reached here over SSH ([`SshAccess`]) or, in tests,
//! through any other [`ServerAccess`].
//!
//! Entries that are the same physical host (address and SSH port) are deployed one after the
//! other; among them, those with the same config test and reload commands share one test and
//! one reload (an nginx and an Apache entry of one machine each get their own). Different hosts
//! run concurrently (bounded).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde_json::{json, Value};
use tokio::sync::{Mutex, Semaphore};

use super::hosts::{key_path_of, privileged, server_commands, verify_target};
use super::remote::{server_label, ssh_timeouts, RemoteError};
use super::runner::{RunFuture, TaskContext, TaskFailure, TaskRunner};
use super::tasks::enqueue::TaskInput;
use super::{Actor, Services};
use crate::domain::certpem::{certificates_der, serial_hex};
use crate::domain::{DeploymentStatus, LogLevel, TaskType};
use crate::engine::deploy::{
    same_path_refusal, BoxFut, DeploySettings, DeploySink, Deployer, Entry, HostCommand, Hosts, Material, Outcome,
    StepError, Transport,
};
use crate::engine::ssh::SshSession;
use crate::errors::{ServiceError, ServiceResult};
use crate::store::certificates::{self as certs, DeploymentRow};
use crate::store::secrets::SealedColumn;
use crate::store::servers::{self as servers, ServerRow};
use crate::store::tasks::TaskRow;

/// Hosts deployed to at once.
const HOST_CONCURRENCY: usize = 16;

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
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
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

/// Runs `certificate_deploy` tasks, reaching servers through its [`ServerAccess`] (SSH by
/// default).
#[derive(Clone)]
pub struct DeployRunner {
    access: Arc<dyn ServerAccess>,
}

impl Default for DeployRunner {
    fn default() -> Self {
        DeployRunner::with_access(Arc::new(SshAccess))
    }
}

impl DeployRunner {
    /// A runner that reaches servers through `access` (a fake in tests).
    pub fn with_access(access: Arc<dyn ServerAccess>) -> Self {
        DeployRunner { access }
    }
}

impl TaskRunner for DeployRunner {
    fn run<'a>(&'a self, ctx: &'a TaskContext) -> RunFuture<'a> {
        Box::pin(async move { ctx.services().deploy_run(ctx, &*self.access).await })
    }
}

/// How a deploy reaches the servers of one physical host: [`SshAccess`] in the product.
pub trait ServerAccess: Send + Sync {
    /// The connections for one host's transaction; `servers` are its entries' server rows.
    /// [`Hosts::close`] is called when the transaction ends.
    fn open<'a>(&'a self, svc: &'a Services, servers: Vec<ServerRow>) -> Box<dyn Hosts + 'a>;
}

/// Reaches servers over SSH with their stored credentials and trusted host keys.
pub struct SshAccess;

impl ServerAccess for SshAccess {
    fn open<'a>(&'a self, svc: &'a Services, servers: Vec<ServerRow>) -> Box<dyn Hosts + 'a> {
        Box::new(SshHosts {
            svc,
            servers: servers.into_iter().map(|s| (s.id, s)).collect(),
            conns: Mutex::default(),
        })
    }
}

/// The SSH connections of one host's transaction: entries with the same target (host, port,
/// user, credentials, host key, jump chain) share one.
struct SshHosts<'a> {
    svc: &'a Services,
    servers: HashMap<i64, ServerRow>,
    conns: Mutex<Pool>,
}

/// Open sessions, and which one serves each target identity.
#[derive(Default)]
struct Pool {
    list: Vec<Arc<SshSession>>,
    by_identity: HashMap<String, usize>,
}

impl Hosts for SshHosts<'_> {
    fn connect<'a>(&'a self, entry: &'a Entry) -> BoxFut<'a, Result<Arc<dyn Transport>, StepError>> {
        Box::pin(async move {
            let fail = |e: RemoteError| StepError {
                transient: remote_transient(&e),
                msg: e.to_string(),
            };
            let server = self
                .servers
                .get(&entry.server_id)
                .ok_or_else(|| StepError::new(format!("server {} is not part of this host", entry.server_id)))?;
            let target = self.svc.ssh_target(server, None).await.map_err(fail)?;
            let identity = target.identity();
            let mut conns = self.conns.lock().await;
            let s = match conns.by_identity.get(&identity) {
                Some(i) => conns.list[*i].clone(),
                None => {
                    let s = Arc::new(
                        SshSession::connect(&target, ssh_timeouts())
                            .await
                            .map_err(|e| fail(e.into()))?,
                    );
                    conns.list.push(s.clone());
                    let i = conns.list.len() - 1;
                    conns.by_identity.insert(identity, i);
                    s
                }
            };
            Ok(s as Arc<dyn Transport>)
        })
    }

    fn close(&self) -> BoxFut<'_, ()> {
        Box::pin(async move {
            let list = std::mem::take(&mut self.conns.lock().await.list);
            for s in list {
                if let Ok(s) = Arc::try_unwrap(s) {
                    s.close().await;
                }
            }
        })
    }
}

fn remote_transient(e: &RemoteError) -> bool {
    match e {
        RemoteError::Ssh(s) => crate::engine::deploy::ssh::is_transient(s),
        RemoteError::Service(ServiceError::Remote(_)) => true,
        _ => false,
    }
}

/// Where the deployer reports for a task: its log, its cancellation, and each deployment's
/// status as it is settled.
struct TaskSink<'a> {
    ctx: &'a TaskContext,
    serial: &'a str,
}

impl DeploySink for TaskSink<'_> {
    type Error = TaskFailure;

    fn log<'a>(&'a self, level: LogLevel, message: &'a str) -> BoxFut<'a, Result<(), TaskFailure>> {
        Box::pin(self.ctx.log(level, message, None))
    }

    fn checkpoint(&self) -> BoxFut<'_, Result<(), TaskFailure>> {
        Box::pin(self.ctx.checkpoint())
    }

    fn finished<'a>(&'a self, o: &'a Outcome) -> BoxFut<'a, Result<(), TaskFailure>> {
        Box::pin(async move {
            let db = self.ctx.services().db();
            let (e, label) = (&o.entry, &o.entry.label);
            match &o.error {
                None => {
                    certs::set_deployment_outcome(db, e.id, DeploymentStatus::Deployed, None, Some(self.serial))
                        .await?;
                    let how = if o.skipped { " (by an earlier attempt)" } else { "" };
                    self.ctx
                        .log(
                            LogLevel::Info,
                            &format!(
                                "{label}: deployed {} and {}{how}; serial {} is served",
                                e.cert_path, e.key_path, self.serial
                            ),
                            None,
                        )
                        .await?;
                }
                Some(err) => {
                    let err: String = err.chars().take(2000).collect();
                    certs::set_deployment_outcome(db, e.id, DeploymentStatus::Failed, Some(&err), None).await?;
                    self.ctx.log(LogLevel::Error, &format!("{label}: {err}"), None).await?;
                }
            }
            Ok(())
        })
    }
}

/// Result of one deployment, for the task result and the CLI.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
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
                (crate::domain::AuthType::Token, _) => None,
                (_, None) => Some("host key not trusted yet (certdeck server trust-hostkey)".to_string()),
                _ => None,
            };
            let agent = s.auth_type == crate::domain::AuthType::Token;
            out.push(PlannedHost {
                deployment_id: d.id,
                server: if agent {
                    format!("{} (through its agent, at its next check-in)", server_label(&s))
                } else {
                    server_label(&s)
                },
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
        actor.require_write("deploy.run")?;
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

    async fn deploy_run(&self, ctx: &TaskContext, access: &dyn ServerAccess) -> Result<Value, TaskFailure> {
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
        let (material, main_domain) = self.deploy_material(first.certificate_id).await?;
        ctx.log(
            LogLevel::Info,
            &format!(
                "deploying certificate {main_domain} (serial {}) to {} deployment(s)",
                material.serial,
                deployments.len()
            ),
            None,
        )
        .await?;
        // Group by physical host (address and SSH port): its entries run one after the other,
        // and those that share config test and reload commands share one test and one reload.
        let mut hosts: BTreeMap<(String, i32), (Vec<ServerRow>, Vec<Entry>)> = BTreeMap::new();
        let cert_of_task = deployments.first().map(|d| d.certificate_id);
        let policy = self.target_policy().await?;
        let mut handed = Vec::new();
        for d in deployments {
            let Some(server) = servers::get_server(self.db(), d.server_id).await? else {
                continue;
            };
            // A token server is not reached from here: its agent installs the deployment (the
            // same transaction, run on the server) at its next check-in and reports the outcome.
            if server.auth_type == crate::domain::AuthType::Token {
                certs::set_deployment_pending(self.db(), d.id).await?;
                ctx.log(
                    LogLevel::Info,
                    &format!(
                        "{}: handed to its pull agent ({}): installed at its next check-in",
                        server_label(&server),
                        d.deploy_path
                    ),
                    None,
                )
                .await?;
                handed.push(HostResult {
                    deployment_id: d.id,
                    server_id: server.id,
                    server: server_label(&server),
                    status: DeploymentStatus::Pending,
                    error: None,
                    ms: 0,
                    step_ms: 0,
                });
                continue;
            }
            let key_path = key_path_of(&d);
            let mut refused = (key_path == d.deploy_path).then(|| same_path_refusal(&d.deploy_path));
            let verify = verify_target(&d, &server, &main_domain);
            // An explicit verify host is a user-configured target: checked again at use (DNS
            // can change since it was added), before anything on the server changes.
            if let (None, Some(vh)) = (&refused, d.verify_host.as_deref()) {
                if let Some(why) = policy.check("deployment verify host", vh, verify.1).await {
                    refused = Some(format!("refused: {why}; nothing was changed"));
                }
            }
            let cmds = server_commands(&server);
            let command = |c: Option<String>| {
                c.map(|c| HostCommand {
                    run: privileged(&server, &c),
                    shown: c,
                })
            };
            let entry = Entry {
                id: d.id,
                server_id: server.id,
                label: server_label(&server),
                cert_path: d.deploy_path.clone(),
                key_path,
                test: command(cmds.test),
                reload: command(cmds.reload),
                verify,
                recorded_deployed: ctx.attempt() > 1
                    && d.status == DeploymentStatus::Deployed
                    && d.deployed_serial.as_deref() == Some(&material.serial),
                refused,
            };
            let host = hosts
                .entry((server.hostname.to_ascii_lowercase(), server.port))
                .or_default();
            if !host.0.iter().any(|s| s.id == server.id) {
                host.0.push(server);
            }
            host.1.push(entry);
        }
        let total = hosts.len();
        let done = Arc::new(Mutex::new(0usize));
        let sem = Arc::new(Semaphore::new(HOST_CONCURRENCY));
        let deployer = Deployer::new(DeploySettings::from_env());
        let sink = TaskSink {
            ctx,
            serial: &material.serial,
        };
        let mut futs = Vec::new();
        for (_, (rows, entries)) in hosts {
            let (sem, done, deployer, sink, material) = (sem.clone(), done.clone(), &deployer, &sink, &material);
            futs.push(async move {
                let _permit = sem.acquire().await;
                let conns = access.open(self, rows);
                let r = deployer.deploy_host(&*conns, sink, entries, material).await;
                conns.close().await;
                let mut n = done.lock().await;
                *n += 1;
                let _ = ctx.progress(((*n * 100) / total.max(1)).min(99) as i32).await;
                r
            });
        }
        let mut results = handed;
        let mut transient = false;
        for r in futures::future::join_all(futs).await {
            for o in r? {
                transient |= o.error.is_some() && o.transient;
                results.push(HostResult {
                    deployment_id: o.entry.id,
                    server_id: o.entry.server_id,
                    server: o.entry.label.clone(),
                    status: if o.error.is_some() {
                        DeploymentStatus::Failed
                    } else {
                        DeploymentStatus::Deployed
                    },
                    error: o.error.clone(),
                    ms: o.started.elapsed().as_millis() as u64,
                    step_ms: o.step_ms,
                });
            }
        }
        let failed: Vec<&HostResult> = results.iter().filter(|r| r.error.is_some()).collect();
        let to_agents = results.iter().filter(|r| r.status == DeploymentStatus::Pending).count();
        let summary = json!({
            "serial": material.serial,
            "deployed": results.len() - failed.len() - to_agents,
            "failed": failed.len(),
            "to_agents": to_agents,
            "hosts": results,
        });
        if failed.is_empty() {
            ctx.progress(100).await?;
            ctx.log(
                LogLevel::Info,
                &if to_agents > 0 {
                    format!(
                        "deployed to {} host entr(ies); {to_agents} handed to pull agents",
                        results.len() - to_agents
                    )
                } else {
                    format!("deployed to {} host entr(ies)", results.len())
                },
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

    /// The pair to put on disk (the key opened only for this), and the certificate's main domain.
    pub(super) async fn deploy_material(&self, cert_id: i64) -> Result<(Material, String), TaskFailure> {
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
        let der = certificates_der(cert.as_bytes())
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
        let material = Material {
            fullchain: fullchain.into_bytes(),
            key,
            serial: serial_hex(&der).unwrap_or_default(),
        };
        Ok((material, row.main_domain))
    }
}
