//! `monitor_check`: runs monitors through the services' TLS prober
//! ([`Prober`](crate::engine::probe::Prober)) and records what each found, then evaluates the
//! alert rules against it (one open alert per rule and monitor; re-notified after
//! `alert.renotify_interval_hours`; resolved when the condition clears), queueing one
//! notification per bound channel and event in the outbox.
//!
//! - `domain`: the domain (or the monitor's connect address) on its port, with the domain as SNI.
//! - `certificate`: every deployment of the certificate, at the deployment's verify host (or its
//!   server's address) and port; the served leaf must be the one certdeck holds, else the host
//!   is reported as drift ("renewed but not deployed"). With no deployment, the held
//!   certificate's own expiry is checked.
//! - `server`: SSH reachable on its port (for a token server instead: its agent checking in,
//!   see [`super::agent_watch`]), and the web server completing a TLS handshake on its verify
//!   port (443).

use std::time::Duration;

use serde_json::{json, Value};

use super::agent_watch::{ssh_reach, worse, Reach};
use super::runner::{RunFuture, TaskContext, TaskFailure, TaskRunner};
use super::{Actor, Services};
use crate::domain::alert_rules::{self, Observation};
use crate::domain::certpem::days_until;
use crate::domain::{AuthType, LogLevel, MonitorStatus, MonitorType};
use crate::engine::probe::{FindingKind, ProbeReport, ProbeTarget};
use crate::errors::{ServiceError, ServiceResult};
use crate::store::monitor_checks::{self as store, CheckRecord};
use crate::store::monitoring::MonitorRow;

/// Runs `monitor_check` tasks (`params.monitor_ids`, or the task's target monitor).
pub struct MonitorCheckRunner;

impl TaskRunner for MonitorCheckRunner {
    fn run<'a>(&'a self, ctx: &'a TaskContext) -> RunFuture<'a> {
        Box::pin(async move { ctx.services().monitor_check_run(ctx).await })
    }
}

/// What checking one monitor found.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct CheckOutcome {
    /// The monitor.
    pub monitor_id: i64,
    /// Its status now.
    pub status: MonitorStatus,
    /// One line.
    pub message: String,
    /// Alerts opened, re-notified or resolved by this check (`fired: …`, `resolved: …`).
    pub alerts: Vec<String>,
}

/// Probe settings read once per batch.
struct ProbeSettings {
    warn_days: i64,
    error_days: i64,
    timeout: Duration,
    concurrency: usize,
    renotify: Option<chrono::Duration>,
}

/// One probe to make for a monitor, and what to compare the served leaf with.
struct Planned {
    monitor: usize,
    target: ProbeTarget,
    label: String,
    expect_sha256: Option<String>,
}

impl Services {
    /// Gives a certificate or a server its monitor (created with it, removable like any other),
    /// so every failure has a monitor to be recorded against. Does nothing when one exists.
    pub(super) async fn ensure_auto_monitor(
        &self,
        actor: &Actor,
        t: MonitorType,
        target_id: i64,
        label: &str,
    ) -> ServiceResult<i64> {
        if let Some(id) = crate::store::monitor_checks::monitor_of(self.db(), t, target_id).await? {
            return Ok(id);
        }
        let name: String = format!("{} {label}", t.as_str()).chars().take(100).collect();
        let m = self
            .monitor_create(
                actor,
                &crate::service::monitoring::MonitorInput {
                    name: Some(name),
                    monitor_type: Some(t),
                    target_id: Some(target_id),
                    ..Default::default()
                },
            )
            .await?;
        Ok(m.id)
    }

    /// Removes the monitors of a deleted certificate or server (with their alert history).
    pub(super) async fn delete_monitors_of(&self, actor: &Actor, t: MonitorType, target_id: i64) -> ServiceResult<()> {
        while let Some(id) = crate::store::monitor_checks::monitor_of(self.db(), t, target_id).await? {
            self.monitor_delete(actor, id).await?;
        }
        Ok(())
    }

    /// The (oldest) monitor of a certificate: failures of its tasks are recorded against it.
    pub(super) async fn certificate_monitor(&self, certificate_id: i64) -> ServiceResult<Option<MonitorRow>> {
        let Some(id) =
            crate::store::monitor_checks::monitor_of(self.db(), MonitorType::Certificate, certificate_id).await?
        else {
            return Ok(None);
        };
        Ok(crate::store::monitoring::get_monitor(self.db(), id).await?)
    }

    /// A failed issue, renewal or deploy: the certificate's monitor turns `error` with `why`, and
    /// its `certificate_error` rules fire (recorded, notified through the outbox).
    pub(super) async fn record_task_failure(
        &self,
        certificate_id: i64,
        what: &str,
        why: &str,
    ) -> ServiceResult<Vec<String>> {
        let Some(m) = self.certificate_monitor(certificate_id).await? else {
            return Ok(Vec::new());
        };
        let message = format!("{what} failed: {why}");
        let failures = m.consecutive_failures.saturating_add(1);
        let result = json!({"task_failure": {"what": what, "error": why}});
        store::record_check(
            self.db(),
            m.id,
            &CheckRecord {
                status: MonitorStatus::Error,
                message: message.clone(),
                result: result.clone(),
                consecutive_failures: failures,
                next_check_at: None,
            },
        )
        .await?;
        let o = Observation {
            monitor_type: m.monitor_type,
            status: MonitorStatus::Error,
            days_left: None,
            consecutive_failures: i64::from(failures),
            summary: message,
        };
        let renotify = self.probe_settings().await?.renotify;
        self.evaluate_rules(&m, &o, &result, renotify).await
    }

    async fn probe_settings(&self) -> ServiceResult<ProbeSettings> {
        let hours = self.setting_number("alert.renotify_interval_hours").await?;
        Ok(ProbeSettings {
            warn_days: self.setting_number("alert.expiry_warning_days").await?,
            error_days: self.setting_number("alert.expiry_error_days").await?,
            timeout: Duration::from_secs(
                self.setting_number("monitor.connect_timeout_seconds")
                    .await?
                    .clamp(1, 120) as u64,
            ),
            concurrency: self.setting_number("monitor.probe_concurrency").await?.clamp(1, 1024) as usize,
            renotify: (hours > 0).then(|| chrono::Duration::hours(hours)),
        })
    }

    async fn monitor_check_run(&self, ctx: &TaskContext) -> Result<Value, TaskFailure> {
        let task = ctx.task();
        // Authorized for the task's actor before the run (TaskContext::scope), like its target.
        let ids: Vec<i64> = if ctx.scope().monitor_ids.is_empty() {
            task.target_id.into_iter().collect()
        } else {
            ctx.scope().monitor_ids.clone()
        };
        if ids.is_empty() {
            return Err(TaskFailure::permanent(
                "monitor_check needs params.monitor_ids or a target monitor",
            ));
        }
        let monitors = store::monitors_by_ids(self.db(), &ids).await?;
        let outcomes = self.check_monitors(&monitors).await?;
        let mut counts = std::collections::BTreeMap::<&str, usize>::new();
        for o in &outcomes {
            *counts.entry(o.status.as_str()).or_default() += 1;
            let level = match o.status {
                MonitorStatus::Error => LogLevel::Error,
                MonitorStatus::Warning => LogLevel::Warning,
                _ => LogLevel::Info,
            };
            ctx.log(level, &format!("monitor {}: {}", o.monitor_id, o.message), None)
                .await?;
            for a in &o.alerts {
                ctx.log(LogLevel::Info, &format!("monitor {}: {a}", o.monitor_id), None)
                    .await?;
            }
        }
        ctx.progress(100).await?;
        Ok(json!({"checked": outcomes.len(), "statuses": counts}))
    }

    /// Checks one monitor now, in this process (no task), and returns what it found. The request
    /// is audited (`monitor.check`): it records a result and may fire or resolve alerts.
    pub async fn monitor_check_now(&self, actor: &Actor, id: i64) -> ServiceResult<CheckOutcome> {
        actor.require_not_api("run monitor checks")?;
        let m = self.monitor_get(actor, id).await?;
        let audit = self.audit(
            Some(actor),
            "monitor.check",
            "monitor",
            Some(id),
            json!({"name": m.name}),
        )?;
        crate::store::audit::insert(self.db(), &audit).await?;
        let mut out = self.check_monitors(std::slice::from_ref(&m)).await?;
        out.pop()
            .ok_or_else(|| ServiceError::Internal(format!("monitor {id} was not checked")))
    }

    /// Probes `monitors` (bounded concurrency), records each result and evaluates the rules.
    pub async fn check_monitors(&self, monitors: &[MonitorRow]) -> ServiceResult<Vec<CheckOutcome>> {
        let cfg = self.probe_settings().await?;
        let mut planned: Vec<Planned> = Vec::new();
        // Findings known before probing (no deployment, a target gone…): monitor → (status, message, days_left).
        let mut direct: Vec<Option<(MonitorStatus, String, Option<i64>)>> = vec![None; monitors.len()];
        // How the server is reached (SSH port or agent), for server monitors.
        let mut reach: Vec<Option<Reach>> = vec![None; monitors.len()];
        let started = chrono::Utc::now();
        for (i, m) in monitors.iter().enumerate() {
            let target = |host: String, port: u16, sni: String| ProbeTarget {
                connect_host: host,
                port,
                sni,
                trust_pem: m.trust_bundle_pem.clone(),
                connect_timeout: cfg.timeout,
                handshake_timeout: cfg.timeout,
                warn_days: cfg.warn_days,
                error_days: cfg.error_days,
                resolved: None,
            };
            match m.monitor_type {
                MonitorType::Domain => {
                    let Some(domain) = m.domain.clone() else {
                        direct[i] = Some((MonitorStatus::Unknown, "the monitor has no domain".into(), None));
                        continue;
                    };
                    let host = m.connect_address.clone().unwrap_or_else(|| domain.clone());
                    let port = m.port.unwrap_or(443).clamp(1, 65_535) as u16;
                    planned.push(Planned {
                        monitor: i,
                        target: target(host, port, domain.clone()),
                        label: format!("{domain}:{port}"),
                        expect_sha256: None,
                    });
                }
                MonitorType::Certificate => {
                    let Some(cert) = (match m.target_id {
                        Some(c) => crate::store::certificates::get(self.db(), c).await?,
                        None => None,
                    }) else {
                        direct[i] = Some((MonitorStatus::Unknown, "the certificate no longer exists".into(), None));
                        continue;
                    };
                    let held = crate::store::certificates::get_material(self.db(), cert.id)
                        .await?
                        .and_then(|mat| mat.certificate_pem)
                        .and_then(|pem| crate::domain::certpem::certificates_der(pem.as_bytes()).ok())
                        .and_then(|v| v.into_iter().next());
                    let deployments =
                        crate::store::certificates::list_deployments(self.db(), Some(cert.id), None).await?;
                    if deployments.is_empty() {
                        let days = cert.expires_at.map(|t| days_until(t, chrono::Utc::now()));
                        let (status, message) = match days {
                            None => (
                                MonitorStatus::Unknown,
                                format!("{}: no certificate held yet", cert.main_domain),
                            ),
                            Some(d) if d < 0 => (
                                MonitorStatus::Error,
                                format!(
                                    "{}: the certificate expired {} day(s) ago (not deployed anywhere)",
                                    cert.main_domain, -d
                                ),
                            ),
                            Some(d) if d < cfg.error_days => (
                                MonitorStatus::Error,
                                format!(
                                    "{}: the certificate expires in {d} day(s) (not deployed anywhere)",
                                    cert.main_domain
                                ),
                            ),
                            Some(d) if d < cfg.warn_days => (
                                MonitorStatus::Warning,
                                format!(
                                    "{}: the certificate expires in {d} day(s) (not deployed anywhere)",
                                    cert.main_domain
                                ),
                            ),
                            Some(d) => (
                                MonitorStatus::Ok,
                                format!("{}: valid for {d} more day(s); not deployed anywhere", cert.main_domain),
                            ),
                        };
                        direct[i] = Some((status, message, days));
                        continue;
                    }
                    for d in deployments {
                        let server = crate::store::servers::get_server(self.db(), d.server_id).await?;
                        let host = d
                            .verify_host
                            .clone()
                            .or_else(|| server.as_ref().map(|s| s.hostname.clone()))
                            .unwrap_or_else(|| cert.main_domain.clone());
                        let port = d
                            .verify_port
                            .or(server.as_ref().and_then(|s| s.verify_port))
                            .unwrap_or(443)
                            .clamp(1, 65_535) as u16;
                        let sni = d
                            .verify_sni
                            .clone()
                            .unwrap_or_else(|| cert.main_domain.trim_start_matches("*.").to_string());
                        let name = server
                            .as_ref()
                            .and_then(|s| s.name.clone())
                            .unwrap_or_else(|| host.clone());
                        planned.push(Planned {
                            monitor: i,
                            target: target(host.clone(), port, sni),
                            label: format!("{name} ({host}:{port})"),
                            expect_sha256: held.as_deref().map(crate::domain::certpem::sha256_hex),
                        });
                    }
                }
                MonitorType::Server => {
                    let Some(server) = (match m.target_id {
                        Some(s) => crate::store::servers::get_server(self.db(), s).await?,
                        None => None,
                    }) else {
                        direct[i] = Some((MonitorStatus::Unknown, "the server no longer exists".into(), None));
                        continue;
                    };
                    if server.auth_type == AuthType::Token {
                        // No SSH: the agent's check-ins say whether the server is there.
                        reach[i] = Some(self.agent_reach(&server, started).await?);
                    } else {
                        reach[i] = ssh_reach(&server, cfg.timeout).await;
                    }
                    let port = server.verify_port.unwrap_or(443).clamp(1, 65_535) as u16;
                    planned.push(Planned {
                        monitor: i,
                        target: target(server.hostname.clone(), port, server.hostname.clone()),
                        label: format!("{}:{port}", server.hostname),
                        expect_sha256: None,
                    });
                }
            }
        }
        // Every host a probe would connect to, resolved and checked against the target policy
        // now (names may resolve elsewhere than when the monitor was made): a refused one is
        // the monitor's finding and none of its hosts is probed; the others are probed at
        // exactly the addresses checked (no second resolution).
        use crate::service::targets::TargetError;
        let policy = self.target_policy().await?;
        let hosts: std::collections::BTreeSet<(String, u16)> = planned
            .iter()
            .map(|p| (p.target.connect_host.clone(), p.target.port))
            .collect();
        let resolved: std::collections::HashMap<(String, u16), Result<Vec<std::net::IpAddr>, TargetError>> =
            futures::future::join_all(hosts.into_iter().map(|(h, port)| {
                let policy = &policy;
                async move {
                    let r = policy.resolve("monitor target", &h, port).await;
                    ((h, port), r)
                }
            }))
            .await
            .into_iter()
            .collect();
        for p in &mut planned {
            let port = p.target.port;
            match resolved.get(&(p.target.connect_host.clone(), port)) {
                Some(Err(TargetError::Refused(why))) => {
                    direct[p.monitor].get_or_insert_with(|| (MonitorStatus::Error, why.clone(), None));
                }
                Some(Err(TargetError::Unresolved(e))) => p.target.resolved = Some(Err(e.clone())),
                Some(Ok(addrs)) => {
                    p.target.resolved = Some(Ok(addrs
                        .iter()
                        .map(|ip| std::net::SocketAddr::new(*ip, port))
                        .collect()))
                }
                None => {}
            }
        }
        planned.retain(|p| direct[p.monitor].is_none());
        let reports = self
            .prober()
            .probe_many(planned.iter().map(|p| p.target.clone()).collect(), cfg.concurrency)
            .await;
        let mut per_monitor: Vec<Vec<(&Planned, ProbeReport)>> = (0..monitors.len()).map(|_| Vec::new()).collect();
        for (p, r) in planned.iter().zip(reports) {
            per_monitor[p.monitor].push((p, r));
        }
        let now = chrono::Utc::now();
        let mut outcomes = Vec::new();
        for (i, m) in monitors.iter().enumerate() {
            let (status, message, days_left, result) = match (direct[i].clone(), &reach[i]) {
                // A token server whose web port is not probed still reports its agent.
                (Some((s, msg, d)), Some(r)) if r.key == "agent" => (
                    worse(s, r.status),
                    format!("{} | {msg}", r.line),
                    d,
                    json!({"findings": [], "note": msg, "agent": r.detail}),
                ),
                (Some((s, msg, d)), _) => {
                    let note = json!({"findings": [], "note": msg});
                    (s, msg, d, note)
                }
                (None, r) => self.judge(m, &per_monitor[i], r.as_ref()),
            };
            let failures = if status == MonitorStatus::Error {
                m.consecutive_failures.saturating_add(1)
            } else {
                0
            };
            store::record_check(
                self.db(),
                m.id,
                &CheckRecord {
                    status,
                    message: message.clone(),
                    result: result.clone(),
                    consecutive_failures: failures,
                    next_check_at: Some(now + chrono::Duration::seconds(i64::from(m.check_interval.max(60)))),
                },
            )
            .await?;
            let obs = Observation {
                monitor_type: m.monitor_type,
                status,
                days_left,
                consecutive_failures: i64::from(failures),
                summary: message.clone(),
            };
            let alerts = self.evaluate_rules(m, &obs, &result, cfg.renotify).await?;
            outcomes.push(CheckOutcome {
                monitor_id: m.id,
                status,
                message,
                alerts,
            });
        }
        Ok(outcomes)
    }

    /// A monitor's status, message, days left and result JSON from its probes.
    fn judge(
        &self,
        m: &MonitorRow,
        probes: &[(&Planned, ProbeReport)],
        reach: Option<&Reach>,
    ) -> (MonitorStatus, String, Option<i64>, Value) {
        let mut worst = MonitorStatus::Ok;
        let bump = |w: &mut MonitorStatus, s: MonitorStatus| *w = worse(*w, s);
        let mut lines = Vec::new();
        let mut hosts = Vec::new();
        let mut days_left: Option<i64> = None;
        if let Some(r) = reach {
            bump(&mut worst, r.status);
            lines.push(r.line.clone());
        }
        for (p, r) in probes {
            let mut status = match r.status() {
                "error" => MonitorStatus::Error,
                "warning" => MonitorStatus::Warning,
                _ => MonitorStatus::Ok,
            };
            let mut line = r.summary();
            if m.monitor_type == MonitorType::Server {
                // A server monitor asks "is it up": certificate findings are the other monitors'.
                let down = r.findings.iter().any(|f| {
                    matches!(
                        f.kind,
                        FindingKind::ConnectionRefused
                            | FindingKind::Timeout
                            | FindingKind::DnsFailure
                            | FindingKind::HandshakeFailed
                    )
                });
                status = if down { MonitorStatus::Error } else { MonitorStatus::Ok };
                line = if down {
                    format!("web server: {}", r.summary())
                } else {
                    format!("web server answers TLS ({})", r.protocol.as_deref().unwrap_or("?"))
                };
            }
            let served = r.chain.first();
            if let (Some(want), Some(leaf)) = (p.expect_sha256.as_deref(), served) {
                if leaf.sha256_hex != want {
                    bump(&mut status, MonitorStatus::Warning);
                    line = format!(
                        "drift: serves serial {} (until {}), not the certificate certdeck holds: renewed but not deployed; {line}",
                        leaf.serial_hex,
                        leaf.not_after.format("%Y-%m-%d")
                    );
                }
            }
            if let Some(leaf) = served {
                days_left = Some(days_left.map_or(leaf.days_left, |d| d.min(leaf.days_left)));
            }
            bump(&mut worst, status);
            lines.push(if probes.len() > 1 || m.monitor_type == MonitorType::Certificate {
                format!("{}: {line}", p.label)
            } else {
                line
            });
            hosts.push(json!({
                "target": p.label,
                "address": r.address.map(|a| a.to_string()),
                "protocol": r.protocol,
                "status": status.as_str(),
                "findings": r.findings.iter().map(|f| json!({"kind": format!("{:?}", f.kind), "severity": format!("{:?}", f.severity), "message": f.message})).collect::<Vec<_>>(),
                "leaf": served.map(|l| json!({"subject": l.subject, "sans": l.sans, "issuer": l.issuer, "serial": l.serial_hex,
                    "not_after": l.not_after, "days_left": l.days_left, "key": format!("{} {}", l.key_type, l.key_bits),
                    "signature": l.signature_algorithm, "sha256": l.sha256_hex})),
                "chain_length": r.chain.len(),
            }));
        }
        if probes.is_empty() && reach.is_none() {
            worst = MonitorStatus::Unknown;
            lines.push("nothing to probe".into());
        }
        let message = lines.join(" | ");
        let mut result = json!({"hosts": hosts, "ssh": null});
        if let Some(r) = reach {
            result[r.key] = r.detail.clone();
        }
        (worst, message, days_left, result)
    }

    /// Opens, re-notifies or resolves the alerts of every rule that applies to `m`.
    async fn evaluate_rules(
        &self,
        m: &MonitorRow,
        o: &Observation,
        data: &Value,
        renotify: Option<chrono::Duration>,
    ) -> ServiceResult<Vec<String>> {
        let subject = m.domain.clone().unwrap_or_else(|| m.name.clone());
        let mut notes = Vec::new();
        for rule in store::rules_for(self.db(), m).await? {
            let firing = alert_rules::fires(rule.alert_type, rule.condition_type, &rule.condition_value, &subject, o);
            let open = store::open_alert(self.db(), rule.id, m.id).await?;
            match (firing, open) {
                (Some(msg), None) => {
                    let h = store::open_alert_insert(self.db(), rule.id, m.id, rule.severity, &msg, data).await?;
                    let n = store::enqueue_deliveries(self.db(), h, "firing").await?;
                    notes.push(format!(
                        "alert '{}' fired ({n} notification(s) queued): {msg}",
                        rule.name
                    ));
                }
                (Some(msg), Some((h, last, acknowledged))) => {
                    // Acknowledged: someone is on it; no reminders.
                    let due = !acknowledged
                        && renotify.is_some_and(|every| last.is_none_or(|t| chrono::Utc::now() - t >= every));
                    store::open_alert_update(self.db(), h, &msg, data, due).await?;
                    if due {
                        let n = store::enqueue_deliveries(self.db(), h, "reminder").await?;
                        notes.push(format!(
                            "alert '{}' still open: reminder ({n} notification(s) queued)",
                            rule.name
                        ));
                    }
                }
                (None, Some((h, _, _))) => {
                    store::resolve_cleared(self.db(), h).await?;
                    let n = store::enqueue_deliveries(self.db(), h, "resolved").await?;
                    notes.push(format!("alert '{}' resolved ({n} notification(s) queued)", rule.name));
                }
                (None, None) => {}
            }
        }
        Ok(notes)
    }
}
