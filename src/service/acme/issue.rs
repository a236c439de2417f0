//! The `certificate_issue` / `certificate_renew` task: runs an order through the ACME engine with
//! the issuance's challenge solver (recording each challenge), stores the certificate and its
//! sealed key, queues the auto deploys, and ends a failed issuance.

use serde_json::{json, Value};
use zeroize::Zeroizing;

use crate::domain::{CertificateStatus, LogLevel, TaskType};
use crate::engine::acme::{BoxFut, CertKey, Challenge, ChallengeKind, KeySpec, OrderOptions, Solver, Step};
use crate::engine::dns01::Dns01Solver;
use crate::engine::http01::{StandaloneHttp01, WebrootOverSsh};
use crate::errors::ServiceResult;
use crate::service::runner::{RunFuture, TaskContext, TaskFailure, TaskRunner};
use crate::service::Services;
use crate::store::acme::{self as store, IssuanceRow};
use crate::store::certificates::{self as certs, CertificateMaterial, CertificateRow};
use crate::store::secrets::SealedColumn;

/// Runs `certificate_issue` and `certificate_renew` tasks (a renewal is obtained exactly as the
/// first issuance: it reads only the certificate's issuance settings).
pub struct IssueRunner;

impl TaskRunner for IssueRunner {
    fn run<'a>(&'a self, ctx: &'a TaskContext) -> RunFuture<'a> {
        Box::pin(async move { ctx.services().issue_run(ctx).await })
    }
}

impl Services {
    async fn issue_run(&self, ctx: &TaskContext) -> Result<Value, TaskFailure> {
        let id = ctx
            .task()
            .target_id
            .ok_or_else(|| TaskFailure::permanent("certificate_issue needs a certificate"))?;
        let cert = certs::get(self.db(), id)
            .await?
            .ok_or_else(|| TaskFailure::permanent(format!("certificate {id} no longer exists")))?;
        let iss = store::get_issuance(self.db(), id).await?.ok_or_else(|| {
            TaskFailure::permanent(format!(
                "certificate {id} has no issuance settings (request it with `cert request`)"
            ))
        })?;
        let renewal = ctx.task().task_type == TaskType::CertificateRenew;
        if renewal {
            ctx.log(
                LogLevel::Info,
                &format!(
                    "renewing {} (expires {})",
                    cert.main_domain,
                    cert.expires_at
                        .map(|t| t.format("%Y-%m-%d").to_string())
                        .unwrap_or_default()
                ),
                None,
            )
            .await?;
        }
        let r = self.issue_with(ctx, &cert, &iss).await;
        if let Err(f) = &r {
            // Final: a permanent failure, or a transient one that used the last attempt. Both
            // end the same way: the certificate turns `error` (a failed renewal leaves a still
            // valid certificate `issued`) and its monitor's certificate_error rules fire.
            let last = ctx.is_last_attempt();
            let why = match f {
                TaskFailure::Permanent(why) => Some(why.clone()),
                TaskFailure::Transient { message, .. } if last => Some(message.clone()),
                _ => None,
            };
            if let Some(why) = why {
                for line in self.obtain_failed(&cert, renewal, &why).await? {
                    ctx.log(LogLevel::Warning, &line, None).await?;
                }
            }
        }
        r
    }

    /// The end of an issuance or renewal that failed for good (a permanent failure, the last
    /// attempt's transient one, or a worker lost on the last attempt): the certificate turns
    /// `error` — unless a renewal failed while it is still valid and `issued` — and its
    /// monitor's certificate_error rules fire. Returns the alert notes.
    pub(in crate::service) async fn obtain_failed(
        &self,
        cert: &CertificateRow,
        renewal: bool,
        why: &str,
    ) -> ServiceResult<Vec<String>> {
        let still_valid = renewal
            && cert.status == CertificateStatus::Issued
            && cert.expires_at.is_some_and(|t| t > chrono::Utc::now());
        if !still_valid {
            certs::set_status(self.db(), cert.id, CertificateStatus::Error).await?;
        }
        let what = if renewal { "renewal" } else { "issuance" };
        self.record_task_failure(cert.id, what, why).await
    }

    async fn issue_with(
        &self,
        ctx: &TaskContext,
        cert: &CertificateRow,
        iss: &IssuanceRow,
    ) -> Result<Value, TaskFailure> {
        let log = |m: String| async move { ctx.log(LogLevel::Info, &m, None).await };
        let ca = self.resolve_ca(cert.user_id, &iss.ca).await?;
        let account = self
            .account_for(ctx, cert.user_id, iss, ca.trust_root.as_deref(), ca.eab.as_ref())
            .await?;
        ctx.progress(15).await?;
        let spec = KeySpec::parse(&iss.key_type).map_err(TaskFailure::permanent)?;
        let renewal = ctx.task().task_type == TaskType::CertificateRenew;
        let material = certs::get_material(self.db(), cert.id).await?;
        let key = match material.as_ref().and_then(|m| m.private_key_encrypted.as_deref()) {
            Some(sealed) if iss.key_reuse && renewal => {
                let pem = self
                    .open_at(SealedColumn::CertificateKey, cert.id, sealed)
                    .map_err(|e| TaskFailure::permanent(e.to_string()))?;
                let der = crate::domain::certpem::pem_blocks(pem.as_bytes())
                    .map_err(TaskFailure::permanent)?
                    .into_iter()
                    .find(|b| b.label == "PRIVATE KEY")
                    .ok_or_else(|| {
                        TaskFailure::permanent("key reuse is on, but the stored key is not PKCS#8 (PRIVATE KEY)")
                    })?;
                log("reusing the certificate's key (key reuse is on)".into()).await?;
                CertKey {
                    spec,
                    pkcs8_der: Zeroizing::new(der.der.clone()),
                }
            }
            _ => {
                let k = CertKey::generate(spec).map_err(|e| TaskFailure::permanent(e.to_string()))?;
                log(format!("generated a {} key", spec.name())).await?;
                k
            }
        };
        let old_der = material
            .as_ref()
            .and_then(|m| m.certificate_pem.as_deref())
            .and_then(|p| crate::domain::certpem::certificates_der(p.as_bytes()).ok())
            .and_then(|v| v.into_iter().next());
        let options = OrderOptions {
            replaces: if renewal { old_der } else { None },
            profile: iss.profile.clone(),
            preferred_chain: iss.preferred_chain.clone(),
        };
        let domains: Vec<String> =
            serde_json::from_str(&cert.domains).unwrap_or_else(|_| vec![cert.main_domain.clone()]);
        let inner = self.solver_for(iss).await?;
        let solver = Recording {
            svc: self,
            certificate_id: cert.id,
            inner,
            rows: std::sync::Mutex::new(Vec::new()),
        };
        // Steps are logged as they happen (the console follows the task's log).
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        let order = async {
            let tx = tx;
            let step = |s: String| {
                let _ = tx.send(s);
            };
            let r = account.issue(&domains, &key, &solver, &options, &step).await;
            drop(tx);
            r
        };
        let logging = async {
            while let Some(line) = rx.recv().await {
                log(line).await?;
            }
            Ok::<(), TaskFailure>(())
        };
        let (res, logged) = tokio::join!(order, logging);
        logged?;
        let rows: Vec<i64> = solver.rows.lock().map(|v| v.clone()).unwrap_or_default();
        store::finish_challenges(self.db(), &rows, res.is_ok()).await?;
        let issued = res.map_err(|e| {
            let m = e.to_string();
            if e.is_transient() {
                TaskFailure::transient(m)
            } else {
                TaskFailure::permanent(m)
            }
        })?;
        ctx.progress(90).await?;
        let der = crate::domain::certpem::certificates_der(issued.cert_pem.as_bytes())
            .map_err(TaskFailure::permanent)?
            .into_iter()
            .next()
            .ok_or_else(|| TaskFailure::permanent("no certificate"))?;
        let facts = crate::domain::certpem::cert_facts(&der).map_err(TaskFailure::permanent)?;
        let sealed = self
            .keyring()
            .seal_for_column(
                &SealedColumn::CertificateKey.place(cert.id),
                key.pem().as_bytes(),
                65_535,
            )
            .map_err(|e| TaskFailure::permanent(e.to_string()))?;
        certs::set_issued(
            self.db(),
            cert.id,
            &CertificateMaterial {
                certificate_pem: Some(issued.cert_pem.clone()),
                private_key_encrypted: Some(sealed),
                chain_pem: Some(issued.chain_pem.clone()).filter(|c| !c.is_empty()),
                notes: None,
            },
            facts.issuer.as_deref(),
            facts.issued_at,
            facts.expires_at,
        )
        .await?;
        // The new certificate's renewal window is fetched by the next certificate check.
        store::set_ari(self.db(), cert.id, &store::AriState::default()).await?;
        log(format!(
            "issued by {} until {}",
            facts.issuer.as_deref().unwrap_or("?"),
            facts.expires_at.format("%Y-%m-%d")
        ))
        .await?;
        // Auto deploys of this certificate: one task for all of them.
        let autos = certs::list_deployments(self.db(), Some(cert.id), None)
            .await?
            .into_iter()
            .filter(|d| d.auto_deploy)
            .count();
        if autos > 0 {
            let t =
                crate::store::queue::NewTask::system(TaskType::CertificateDeploy, 6, Some(("certificate", cert.id)));
            // One open deploy per deployment: a queued one deploys this certificate too.
            let line = match self.task_enqueue_once(&t, &Default::default(), None).await? {
                crate::store::queue::Enqueued::New(tid) => {
                    format!("queued deploy task {tid} for {autos} auto-deploy deployment(s)")
                }
                crate::store::queue::Enqueued::Existing(tid) => {
                    format!("deploy task {tid}, already queued, deploys this certificate")
                }
            };
            log(line).await?;
        }
        ctx.progress(100).await?;
        Ok(json!({"expires_at": facts.expires_at, "issuer": facts.issuer, "domains": domains}))
    }

    /// The challenge solver of an issuance: the DNS provider (dns-01), the server's webroot over
    /// SSH or a listener here (http-01).
    async fn solver_for(&self, iss: &IssuanceRow) -> Result<Box<dyn Solver>, TaskFailure> {
        if iss.challenge_type == "dns-01" {
            let pid = iss
                .dns_provider_id
                .ok_or_else(|| TaskFailure::permanent("dns-01 without a DNS provider"))?;
            let p = store::get_provider(self.db(), pid)
                .await?
                .ok_or_else(|| TaskFailure::permanent(format!("DNS provider {pid} no longer exists")))?;
            let (records, delegation) = self.provider_records(&p).await?;
            return Ok(Box::new(Dns01Solver::new(
                records,
                self.propagation().await?,
                delegation,
            )));
        }
        if let Some(sid) = iss.http_server_id {
            let server = crate::store::servers::get_server(self.db(), sid)
                .await?
                .ok_or_else(|| TaskFailure::permanent(format!("server {sid} (http-01 webroot) no longer exists")))?;
            let webroot = iss
                .webroot
                .clone()
                .ok_or_else(|| TaskFailure::permanent("http-01 over SSH needs a webroot"))?;
            if server.auth_type == crate::domain::AuthType::Token {
                let solver = crate::service::agent_http01::WebrootViaAgent::new(
                    self,
                    sid,
                    crate::service::remote::server_label(&server),
                    webroot,
                )
                .await
                .map_err(TaskFailure::transient)?;
                return Ok(Box::new(solver));
            }
            let session = self.ssh_connect(&server).await.map_err(TaskFailure::from)?;
            return Ok(Box::new(WebrootOverSsh {
                session,
                webroot,
                sudo: server.privilege_mode == crate::domain::PrivilegeMode::Sudo,
            }));
        }
        let addr = iss.http_listen.as_deref().unwrap_or("0.0.0.0:80");
        let a = addr
            .parse()
            .map_err(|_| TaskFailure::permanent(format!("bad http-01 listen address {addr}")))?;
        Ok(Box::new(
            StandaloneHttp01::bind(a).await.map_err(TaskFailure::transient)?,
        ))
    }
}

/// Records every challenge as a `dns_challenges` row while the real solver works.
struct Recording<'a> {
    svc: &'a Services,
    certificate_id: i64,
    inner: Box<dyn Solver>,
    rows: std::sync::Mutex<Vec<i64>>,
}

impl Solver for Recording<'_> {
    fn kind(&self) -> ChallengeKind {
        self.inner.kind()
    }

    fn present<'a>(&'a self, challenges: &'a [Challenge], step: Step<'a>) -> BoxFut<'a, Result<(), String>> {
        Box::pin(async move {
            for c in challenges {
                let domain = if c.wildcard {
                    format!("*.{}", c.domain)
                } else {
                    c.domain.clone()
                };
                let (ct, name, rtype, value) = match self.inner.kind() {
                    ChallengeKind::Dns01 => ("dns-01", c.record_name(), "TXT", c.dns_value.clone()),
                    ChallengeKind::Http01 => ("http-01", c.http_path(), "HTTP", c.key_authorization.clone()),
                };
                let id = store::insert_challenge(self.svc.db(), self.certificate_id, &domain, ct, &name, rtype, &value)
                    .await
                    .map_err(|e| e.to_string())?;
                if let Ok(mut v) = self.rows.lock() {
                    v.push(id);
                }
            }
            self.inner.present(challenges, step).await
        })
    }

    fn cleanup<'a>(&'a self, challenges: &'a [Challenge], step: Step<'a>) -> BoxFut<'a, Result<(), String>> {
        self.inner.cleanup(challenges, step)
    }
}
