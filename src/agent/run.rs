//! One agent run, and the loop: check in with the host's facts, report the local web server's
//! sites (the same discovery and bounds as over SSH), place or remove http-01 challenge files,
//! and install each waiting deployment with the same transaction as an SSH deploy
//! ([`crate::engine::deploy::Deployer`] over [`LocalHosts`]), reporting each outcome.
//!
//! The agent runs no command it receives other than the server entry's own config test and
//! reload (or the ones pinned in its config), and writes only where its web server's config
//! points or under its `allowed_dirs`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::Duration;

use super::client::{ApiClient, CallError};
use super::config::AgentConfig;
use crate::domain::agent_wire::{AgentChallenge, AgentDeployment, AgentWork, ChallengeReport, Checkin, DeployReport};
use crate::domain::webconf::Flavor;
use crate::domain::{LogLevel, ServerType};
use crate::engine::deploy::local::{LocalFiles, LocalHosts, LocalTransport};
use crate::engine::deploy::{BoxFut, DeploySettings, DeploySink, Deployer, Entry, HostCommand, Material, Outcome};
use crate::engine::discover::{self, Discovery, HostFacts, LocalConfigFs};

/// Seconds a local command (config test, reload, probe) may run.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
/// Seconds of one API request (the long poll adds its wait).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Seconds the loop's long poll waits for a challenge file on each request.
const LONG_POLL: Duration = Duration::from_secs(20);

/// What one run did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RunSummary {
    /// The server this agent speaks for.
    pub server_id: i64,
    /// Sites the discovery found (none when the web server has no config found).
    pub sites: usize,
    /// Deployments installed and served.
    pub deployed: usize,
    /// Deployments that failed (rolled back), with their reasons.
    pub failed: Vec<String>,
    /// Challenge files placed or removed.
    pub challenges: usize,
    /// Warnings (discovery could not read a file, a report could not be sent).
    pub warnings: Vec<String>,
}

/// The agent's state through runs.
pub struct Agent {
    config: AgentConfig,
    client: ApiClient,
    /// Paths the web server's own config names (certificates, keys, document roots), from the
    /// last discovery: the agent may write these besides its allowed dirs.
    known: Mutex<BTreeSet<String>>,
}

impl Agent {
    /// An agent for `config`.
    pub fn new(config: AgentConfig) -> Result<Agent, String> {
        let client = ApiClient::new(&config, REQUEST_TIMEOUT)?;
        Ok(Agent {
            config,
            client,
            known: Mutex::default(),
        })
    }

    /// The check-in alone (what `agent enroll` does to test the config): the server entry and
    /// its waiting work.
    pub async fn checkin(&self) -> Result<AgentWork, CallError> {
        self.checkin_with_facts().await.map(|(w, _)| w)
    }

    async fn checkin_with_facts(&self) -> Result<(AgentWork, HostFacts), CallError> {
        let facts = discover::probe_host(&LocalTransport::new(COMMAND_TIMEOUT), ServerType::Other)
            .await
            .unwrap_or_default();
        let work = self
            .client
            .checkin(&Checkin {
                agent_version: env!("CARGO_PKG_VERSION").into(),
                interval_seconds: self.config.interval_seconds,
                server_type: facts.server_type,
                web_server_version: facts.web_server_version.clone(),
                os_type: facts.os_type.clone(),
                os_version: facts.os_version.clone(),
            })
            .await?;
        Ok((work, facts))
    }

    /// One run: check in, discover and report, handle challenge files, install deployments.
    /// `Err` when the API could not be reached for the check-in (nothing was done).
    pub async fn run_once(&self) -> Result<RunSummary, String> {
        let (work, mut facts) = self.checkin_with_facts().await.map_err(|e| e.msg)?;
        if work.server.server_type != ServerType::Other {
            // With both nginx and Apache installed, the version reported is the entry's type's.
            if let Ok(f) = discover::probe_host(&LocalTransport::new(COMMAND_TIMEOUT), work.server.server_type).await {
                facts = f;
            }
        }
        let mut sum = RunSummary {
            server_id: work.server.id,
            ..Default::default()
        };
        match self.discover(&work).await {
            Ok(Some(d)) => {
                sum.sites = d.sites.len();
                sum.warnings
                    .extend(d.warnings.iter().map(|w| format!("discovery: {w}")));
                let report = crate::api::routes::agent::DiscoveryReport {
                    facts: facts.clone(),
                    discovery: d.clone(),
                };
                if let Err(e) = self.client.discovery(&report).await {
                    sum.warnings.push(format!("discovery report: {e}"));
                }
            }
            Ok(None) => {}
            Err(e) => sum.warnings.push(format!("discovery: {e}")),
        }
        sum.challenges += self.handle_challenges(&work.challenges, &mut sum.warnings).await;
        self.install(&work, &mut sum).await;
        Ok(sum)
    }

    /// Discovers the local web server's config (the server entry's type and config root).
    async fn discover(&self, work: &AgentWork) -> Result<Option<Discovery>, String> {
        let flavor = match work.server.server_type {
            ServerType::Nginx => Flavor::Nginx,
            ServerType::Apache => Flavor::Apache,
            ServerType::Other => return Ok(None),
        };
        let d = discover::discover(
            &LocalConfigFs::new(COMMAND_TIMEOUT),
            flavor,
            work.server.config_root.as_deref(),
        )
        .await
        .map_err(|e| e.to_string())?;
        let mut known = BTreeSet::new();
        for s in &d.sites {
            for p in [&s.cert_path, &s.key_path, &s.chain_path, &s.document_root]
                .into_iter()
                .flatten()
            {
                known.insert(p.trim_end_matches('/').to_string());
            }
        }
        if let Ok(mut k) = self.known.lock() {
            *k = known;
        }
        Ok(Some(d))
    }

    /// Whether the agent may write `path`: absolute, no `..`, and named by the web server's own
    /// config or under an allowed dir.
    fn may_write(&self, path: &str, what: &str) -> Result<(), String> {
        let known = self.known.lock().map(|k| k.clone()).unwrap_or_default();
        write_allowed(path, what, &known, &self.config.allowed_dirs)
    }

    /// Places or removes challenge files; returns how many were handled.
    async fn handle_challenges(&self, list: &[AgentChallenge], warnings: &mut Vec<String>) -> usize {
        let mut n = 0;
        for c in list {
            let error = self.challenge_file(c).await.err();
            if let Some(e) = &error {
                warnings.push(format!("challenge {}: {e}", c.id));
            }
            match self.client.challenge_report(c.id, &ChallengeReport { error }).await {
                Ok(()) => n += 1,
                Err(e) => warnings.push(format!("challenge {} report: {e}", c.id)),
            }
        }
        n
    }

    async fn challenge_file(&self, c: &AgentChallenge) -> Result<(), String> {
        crate::engine::http01::check_token(&c.token)?;
        let root =
            crate::domain::acme_clients::check_webroot(&c.webroot).map_err(|e| format!("webroot refused: {e}"))?;
        let root = root.trim_end_matches('/').to_string();
        let known = self.known.lock().map(|k| k.contains(&root)).unwrap_or(false);
        if !known {
            self.may_write(&format!("{root}/.well-known"), "webroot")?;
        }
        let dir = format!("{root}/.well-known/acme-challenge");
        let file = format!("{dir}/{}", c.token);
        match c.action.as_str() {
            "place" => {
                tokio::fs::create_dir_all(&dir)
                    .await
                    .map_err(|e| format!("{dir}: {e}"))?;
                LocalFiles::new(COMMAND_TIMEOUT)
                    .write(&file, c.key_authorization.as_bytes(), 0o644)
                    .await
                    .map_err(|e| e.msg)
            }
            "remove" => match tokio::fs::remove_file(&file).await {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(format!("{file}: {e}")),
            },
            other => Err(format!("unknown challenge action '{other}'")),
        }
    }

    /// Installs the waiting deployments, one certificate after the other, and reports each.
    async fn install(&self, work: &AgentWork, sum: &mut RunSummary) {
        let mut by_cert: BTreeMap<i64, Vec<&AgentDeployment>> = BTreeMap::new();
        for d in &work.deployments {
            by_cert.entry(d.certificate_id).or_default().push(d);
        }
        let command = |own: &Option<String>, given: &Option<String>| {
            own.clone().or_else(|| given.clone()).map(|c| HostCommand {
                shown: c.clone(),
                run: c,
            })
        };
        let test = command(&self.config.test_command, &work.server.test_command);
        let reload = command(&self.config.reload_command, &work.server.reload_command);
        let deployer = Deployer::new(DeploySettings::from_env());
        for (_, ds) in by_cert {
            let m = match self.client.material(ds[0].id).await {
                Ok(m) => m,
                Err(e) => {
                    sum.warnings.push(format!("certificate {}: {e}", ds[0].certificate_id));
                    continue;
                }
            };
            let material = Material {
                fullchain: m.fullchain_pem.clone().into_bytes(),
                key: zeroize::Zeroizing::new(m.key_pem.clone().into_bytes()),
                serial: m.serial.clone(),
            };
            let entries: Vec<Entry> = ds
                .iter()
                .map(|d| Entry {
                    id: d.id,
                    server_id: work.server.id,
                    label: work.server.label.clone(),
                    cert_path: d.cert_path.clone(),
                    key_path: d.key_path.clone(),
                    test: test.clone(),
                    reload: reload.clone(),
                    verify: (d.verify_host.clone(), d.verify_port, d.verify_sni.clone()),
                    recorded_deployed: d.deployed_serial.as_deref() == Some(m.serial.as_str()),
                    refused: self
                        .may_write(&d.cert_path, "certificate")
                        .and_then(|_| self.may_write(&d.key_path, "key"))
                        .err(),
                })
                .collect();
            let sink = LogSink::default();
            let hosts = LocalHosts::new(COMMAND_TIMEOUT);
            let Ok(outcomes) = deployer.deploy_host(&hosts, &sink, entries, &material).await;
            for o in outcomes {
                let log = sink.take_for(&o);
                match &o.error {
                    None => sum.deployed += 1,
                    Some(e) => sum.failed.push(format!("deployment {}: {e}", o.entry.id)),
                }
                let report = DeployReport {
                    serial: material.serial.clone(),
                    error: o.error.clone(),
                    skipped: o.skipped,
                    log,
                };
                if let Err(e) = self.client.report(o.entry.id, &report).await {
                    sum.warnings.push(format!(
                        "deployment {}: the outcome could not be reported ({e}); the next run checks the host again",
                        o.entry.id
                    ));
                }
            }
        }
    }

    /// The loop: a run every `interval_seconds` (with up to a tenth of it as random jitter,
    /// so a fleet does not check in at once), a long poll for challenge files in between, and
    /// on failure a backoff from 5 s doubling up to the interval. Ends when `stop` resolves.
    pub async fn run_loop<F: std::future::Future<Output = ()>>(
        &self,
        stop: F,
        mut report: impl FnMut(&Result<RunSummary, String>),
    ) {
        tokio::pin!(stop);
        let interval = Duration::from_secs(u64::try_from(self.config.interval_seconds.max(5)).unwrap_or(300));
        let mut failures: u32 = 0;
        loop {
            let r = self.run_once().await;
            report(&r);
            let pause = match &r {
                Ok(_) => {
                    failures = 0;
                    interval + jitter(interval / 10)
                }
                Err(_) => {
                    failures = failures.saturating_add(1);
                    (Duration::from_secs(5) * 2u32.saturating_pow(failures.min(16) - 1)).min(interval)
                }
            };
            let poll = self.poll_challenges(pause);
            tokio::select! {
                _ = &mut stop => return,
                _ = poll => {}
            }
        }
    }

    /// Long-polls for challenge files for `total`, handling each as it comes.
    async fn poll_challenges(&self, total: Duration) {
        let end = tokio::time::Instant::now() + total;
        loop {
            let left = end.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return;
            }
            match self.client.challenges(left.min(LONG_POLL)).await {
                Ok(list) if !list.is_empty() => {
                    let mut w = Vec::new();
                    self.handle_challenges(&list, &mut w).await;
                    for line in w {
                        tracing::warn!(target: "certdeck::agent", "{line}");
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(target: "certdeck::agent", error = %e, "challenge poll failed");
                    tokio::time::sleep(left.min(Duration::from_secs(5))).await;
                }
            }
        }
    }
}

/// Whether the agent may write `path`: an absolute file path without `.` or `..` parts, that
/// the web server's own config names (`known`) or that lies under one of `allowed_dirs`.
pub fn write_allowed(path: &str, what: &str, known: &BTreeSet<String>, allowed_dirs: &[String]) -> Result<(), String> {
    if !path.starts_with('/') || path.split('/').any(|p| p == ".." || p == ".") || path.ends_with('/') {
        return Err(format!(
            "refused: the {what} path {path} is not an absolute file path without '..'"
        ));
    }
    let allowed = allowed_dirs
        .iter()
        .any(|d| path.starts_with(&format!("{}/", d.trim_end_matches('/'))));
    if known.contains(path) || allowed {
        Ok(())
    } else {
        Err(format!(
            "refused: the {what} path {path} is neither named by this server's web server config nor under \
             the agent's allowed_dirs ({}); add its directory to allowed_dirs in the agent's config; nothing was changed",
            allowed_dirs.join(", ")
        ))
    }
}

/// Up to `max` of random delay.
fn jitter(max: Duration) -> Duration {
    use rand::RngExt;
    let ms = u64::try_from(max.as_millis()).unwrap_or(0);
    if ms == 0 {
        return Duration::ZERO;
    }
    Duration::from_millis(rand::rng().random_range(0..ms))
}

/// The deployer's log lines of one run, kept for the reports (and written to the log file).
#[derive(Default)]
struct LogSink {
    lines: Mutex<Vec<String>>,
}

impl LogSink {
    /// The lines that name the entry's host label (all of this run's lines: one host).
    fn take_for(&self, _o: &Outcome) -> Vec<String> {
        self.lines.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

impl DeploySink for LogSink {
    type Error = std::convert::Infallible;

    fn log<'a>(&'a self, level: LogLevel, message: &'a str) -> BoxFut<'a, Result<(), Self::Error>> {
        Box::pin(async move {
            tracing::info!(target: "certdeck::agent", level = %level, "{message}");
            if let Ok(mut l) = self.lines.lock() {
                l.push(format!("{level}: {message}"));
            }
            Ok(())
        })
    }

    fn checkpoint(&self) -> BoxFut<'_, Result<(), Self::Error>> {
        Box::pin(async { Ok(()) })
    }

    fn finished<'a>(&'a self, _outcome: &'a Outcome) -> BoxFut<'a, Result<(), Self::Error>> {
        Box::pin(async { Ok(()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_agent_writes_only_where_its_config_points_or_it_is_allowed() {
        let known: BTreeSet<String> = ["/srv/site/tls/cert.pem".to_string()].into();
        let allowed = vec!["/etc/ssl".to_string(), "/opt/tls/".to_string()];
        for ok in ["/srv/site/tls/cert.pem", "/etc/ssl/a/b.pem", "/opt/tls/x.key"] {
            assert!(write_allowed(ok, "key", &known, &allowed).is_ok(), "{ok}");
        }
        for bad in [
            "/srv/site/tls/other.pem",
            "/etc/ssl",
            "/etc/sslx/a.pem",
            "/etc/shadow",
            "/etc/ssl/../shadow",
            "/etc/ssl/./a.pem",
            "etc/ssl/a.pem",
            "/etc/ssl/dir/",
        ] {
            let e = write_allowed(bad, "key", &known, &allowed).unwrap_err();
            assert!(e.starts_with("refused: the key path"), "{bad}: {e}");
        }
    }
}
