//! [`Deployer`]: the steps of the deploy transaction for the entries of one host.

use std::collections::{hash_map, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::contract::{DeploySink, Entry, Hosts, Material, Outcome, StepError, Transport};
use super::manifest::{put_back, read_manifest, Prior};
use crate::domain::certpem::{certificates_der, serial_hex};
use crate::domain::LogLevel;
use crate::engine::ssh::shell_quote as q;

/// Timing of the verification handshakes.
#[derive(Debug, Clone, Copy)]
pub struct DeploySettings {
    /// How long to wait for a reload to serve the new (or, after a rollback, the old) certificate.
    pub verify_timeout: Duration,
    /// How long a retry looks for an earlier attempt's certificate on the endpoint.
    pub retry_check_timeout: Duration,
}

impl Default for DeploySettings {
    fn default() -> Self {
        DeploySettings {
            verify_timeout: Duration::from_secs(20),
            retry_check_timeout: Duration::from_secs(3),
        }
    }
}

impl DeploySettings {
    /// The defaults, with `CERTDECK_DEPLOY_VERIFY_TIMEOUT` (seconds, default 20) applied.
    pub fn from_env() -> Self {
        let verify_timeout = std::env::var("CERTDECK_DEPLOY_VERIFY_TIMEOUT")
            .ok()
            .and_then(|v| v.parse().ok())
            .filter(|v| *v > 0)
            .map(Duration::from_secs)
            .unwrap_or(Duration::from_secs(20));
        DeploySettings {
            verify_timeout,
            ..Default::default()
        }
    }
}

/// The step logic of the deploy transaction (see the [module](super) docs).
#[derive(Debug, Clone, Default)]
pub struct Deployer {
    settings: DeploySettings,
}

/// A test's stop in the middle of a transaction (testkit builds only): when
/// `CERTDECK_TESTKIT_PAUSE_AT` names `step`, creates the file `CERTDECK_TESTKIT_PAUSE_MARK`
/// and waits there, so a test can `kill -9` the process at exactly that step.
#[cfg(feature = "testkit")]
async fn failpoint(step: &str) {
    if std::env::var("CERTDECK_TESTKIT_PAUSE_AT").ok().as_deref() == Some(step) {
        if let Ok(mark) = std::env::var("CERTDECK_TESTKIT_PAUSE_MARK") {
            let _ = std::fs::write(mark, step);
        }
        tokio::time::sleep(Duration::from_secs(120)).await;
    }
}

#[cfg(not(feature = "testkit"))]
async fn failpoint(_step: &str) {}

/// One entry's state through the transaction.
struct Job {
    e: Entry,
    /// What existed before the transaction (the backup of each file that existed), once known:
    /// recorded by this attempt, or by an interrupted earlier one (its transaction record).
    prior: Option<Prior>,
    /// The files on disk may differ from [`Prior`]: a restore is needed on failure.
    swapped: bool,
    /// The files were put back to [`Prior`] during this run (the host needs a reload).
    restored: bool,
    /// An earlier attempt's deploy was found served (by a handshake): nothing was redone.
    skipped: bool,
    error: Option<String>,
    transient: bool,
    started: Instant,
    step_ms: u64,
}

impl Job {
    fn new(e: Entry) -> Job {
        let mut error = e.refused.clone();
        if error.is_none() && e.key_path == e.cert_path {
            error = Some(super::contract::same_path_refusal(&e.cert_path));
        }
        Job {
            e,
            prior: None,
            swapped: false,
            restored: false,
            skipped: false,
            error,
            transient: false,
            started: Instant::now(),
            step_ms: 0,
        }
    }
}

/// The connections of one host's transaction, by host entry.
type Conns = HashMap<i64, Arc<dyn Transport>>;

/// Handshakes in a row that must serve the expected serial, over at least [`VERIFY_WINDOW`]:
/// after a reload the old workers may still accept connections while they shut down.
const VERIFY_STREAK: u32 = 3;
/// See [`VERIFY_STREAK`].
const VERIFY_WINDOW: Duration = Duration::from_millis(300);

/// Polls the endpoint until it serves `serial` on every handshake for [`VERIFY_WINDOW`] (and at
/// least [`VERIFY_STREAK`] handshakes), or `timeout` passes.
pub async fn wait_for_serial(
    hosts: &dyn Hosts,
    host: &str,
    port: u16,
    sni: &str,
    serial: &str,
    timeout: Duration,
) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    let mut last;
    let mut pause = Duration::from_millis(25);
    let mut streak = 0;
    let mut since = Instant::now();
    loop {
        last = match hosts.served_leaf(host, port, sni, Duration::from_secs(5)).await {
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

impl Deployer {
    /// A deployer with these timings.
    pub fn new(settings: DeploySettings) -> Self {
        Deployer { settings }
    }

    /// Deploys every entry of one physical host, one unit after the other: a unit is the
    /// entries that share config test and reload commands (an nginx and an Apache entry of one
    /// machine are two units, each tested and reloaded with its own commands). Each entry's
    /// outcome goes to [`DeploySink::finished`] as its unit ends; all are returned. An `Err`
    /// is the sink's (the deploy was stopped).
    pub async fn deploy_host<S: DeploySink>(
        &self,
        hosts: &dyn Hosts,
        sink: &S,
        entries: Vec<Entry>,
        m: &Material,
    ) -> Result<Vec<Outcome>, S::Error> {
        let mut units: Vec<(super::contract::UnitKey, Vec<Job>)> = Vec::new();
        for e in entries {
            let k = e.unit_key();
            let j = Job::new(e);
            match units.iter_mut().find(|(uk, _)| *uk == k) {
                Some((_, v)) => v.push(j),
                None => units.push((k, vec![j])),
            }
        }
        let mut conns = Conns::new();
        let mut out = Vec::new();
        for (_, unit) in units {
            out.extend(self.deploy_unit(hosts, sink, unit, &mut conns, m).await?);
        }
        Ok(out)
    }

    /// Deploys the entries of one unit: swap each, then one test and one reload, then verify
    /// each; on failure puts back what existed before, reloads, and checks the old serial.
    async fn deploy_unit<S: DeploySink>(
        &self,
        hosts: &dyn Hosts,
        sink: &S,
        mut jobs: Vec<Job>,
        conns: &mut Conns,
        m: &Material,
    ) -> Result<Vec<Outcome>, S::Error> {
        let mut any_changed = false;
        for j in jobs.iter_mut() {
            // Stop for a cancel only before this unit's files change: once one entry is swapped,
            // the transaction (test, reload, verify or roll back) runs to its end.
            if !any_changed {
                sink.checkpoint().await?;
            }
            j.started = Instant::now();
            if j.error.is_some() {
                continue;
            }
            if let hash_map::Entry::Vacant(slot) = conns.entry(j.e.server_id) {
                match hosts.connect(&j.e).await {
                    Ok(t) => {
                        slot.insert(t);
                    }
                    Err(e) => {
                        j.transient = e.transient;
                        j.error = Some(e.msg);
                        continue;
                    }
                }
            }
            let s = conns[&j.e.server_id].clone();
            if j.e.recorded_deployed && self.earlier_attempt_served(hosts, sink, &*s, j, m).await? {
                continue;
            }
            let swap = self.stage_and_swap(sink, &*s, j, m).await;
            j.step_ms = j.started.elapsed().as_millis() as u64;
            if let Err(e) = swap {
                j.transient = e.transient;
                j.error = Some(e.msg);
                restore_files(sink, &*s, j).await;
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
            return finish_jobs(sink, jobs, conns).await;
        };
        let lead = jobs[lead_i].e.clone();
        let label = lead.label.clone();
        // Test, then reload, once for the unit.
        let mut failure: Option<(String, bool)> = None;
        if !swapped.is_empty() {
            let session = conns[&lead.server_id].clone();
            failpoint("swapped").await;
            for (what, cmd) in [("config test", &lead.test), ("reload", &lead.reload)] {
                let Some(cmd) = cmd else {
                    sink.log(
                        LogLevel::Warning,
                        &format!("{label}: no {what} command (server type other without one): skipped"),
                    )
                    .await?;
                    continue;
                };
                match session.run(&cmd.run).await {
                    Ok(_) => {
                        sink.log(LogLevel::Info, &format!("{label}: {what} ok: {}", cmd.shown))
                            .await?;
                        failpoint(if what == "reload" { "reloaded" } else { "tested" }).await;
                    }
                    Err(e) => {
                        failure = Some((format!("{what} failed: {e}"), e.transient));
                        break;
                    }
                }
            }
        }
        // Verify each swapped entry serves the new serial.
        if failure.is_none() && !swapped.is_empty() {
            let timeout = self.settings.verify_timeout;
            let checks = swapped.iter().map(|&i| {
                let (h, p, sni) = jobs[i].e.verify.clone();
                async move { (i, wait_for_serial(hosts, &h, p, &sni, &m.serial, timeout).await) }
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
                        .map(|e| format!("{} ({}): {e}", j.e.label, j.e.cert_path))
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
            sink.log(LogLevel::Error, &format!("{label}: {why}; rolling back"))
                .await?;
            for &i in &swapped {
                let j = &mut jobs[i];
                if j.error.is_none() {
                    j.error = Some(why.clone());
                }
                j.transient = *transient;
                let s = conns[&j.e.server_id].clone();
                restore_files(sink, &*s, j).await;
            }
        }
        if jobs.iter().any(|j| j.restored) {
            // Reload what was restored, then check the old certificate is back.
            let session = conns[&lead.server_id].clone();
            let mut rolled = String::from("old files restored");
            if let Some(t) = &lead.test {
                if let Err(e) = session.run(&t.run).await {
                    rolled = format!("old files restored but the config test still fails: {e}");
                }
            }
            if let Some(r) = &lead.reload {
                if let Err(e) = session.run(&r.run).await {
                    rolled = format!("{rolled}; reload after rollback failed: {e}");
                }
            }
            for j in jobs.iter_mut().filter(|j| j.restored) {
                let (h, p, sni) = j.e.verify.clone();
                let served = match j.prior.as_ref().and_then(|p| p.serial.clone()) {
                    Some(old) => match wait_for_serial(hosts, &h, p, &sni, &old, self.settings.verify_timeout).await {
                        Ok(()) => format!("; the old certificate (serial {old}) is served again"),
                        Err(e) => format!("; the old certificate is NOT served: {e}"),
                    },
                    None => String::new(),
                };
                let e = j.error.take().unwrap_or_default();
                j.error = Some(format!("{e} — rolled back: {rolled}{served}"));
            }
        }
        finish_jobs(sink, jobs, conns).await
    }

    /// On a retry of an entry recorded as deployed with this serial: whether the endpoint
    /// really serves it (a TLS handshake decides, never the record alone). When it does, an
    /// interrupted attempt's transaction record is adopted for the cleanup and nothing is
    /// redone; when it does not, the entry is deployed again (which also reloads the server
    /// when an earlier attempt swapped the files but never reloaded).
    async fn earlier_attempt_served<S: DeploySink>(
        &self,
        hosts: &dyn Hosts,
        sink: &S,
        s: &dyn Transport,
        j: &mut Job,
        m: &Material,
    ) -> Result<bool, S::Error> {
        let label = j.e.label.clone();
        let (h, p, sni) = j.e.verify.clone();
        match wait_for_serial(hosts, &h, p, &sni, &m.serial, self.settings.retry_check_timeout).await {
            Ok(()) => {
                if let Ok(files) = s.files().await {
                    if let Ok(Some(prior)) = read_manifest(&*files, &j.e.manifest()).await {
                        j.prior = Some(prior);
                    }
                }
                j.skipped = true;
                sink.log(
                    LogLevel::Info,
                    &format!(
                        "{label}: {h}:{p} (SNI {sni}) already serves serial {} (deployed by an earlier attempt; checked by a TLS handshake)",
                        m.serial
                    ),
                )
                .await?;
                Ok(true)
            }
            Err(e) => {
                sink.log(
                    LogLevel::Warning,
                    &format!(
                        "{label}: the database records serial {} as deployed by an earlier attempt, but the server does not serve it ({e}): deploying again",
                        m.serial
                    ),
                )
                .await?;
                Ok(false)
            }
        }
    }

    /// Steps 1–3 for one job: upload to temporary names, back up the certificate and the key
    /// (each as it exists, independently) and record that on the host, then swap both in one
    /// command that puts the certificate back when the key cannot follow.
    async fn stage_and_swap<S: DeploySink>(
        &self,
        sink: &S,
        s: &dyn Transport,
        j: &mut Job,
        m: &Material,
    ) -> Result<(), StepError> {
        let label = j.e.label.clone();
        let id = j.e.id;
        let (cert_path, key_path) = (j.e.cert_path.clone(), j.e.key_path.clone());
        let (tmp_cert, tmp_key, manifest) = (j.e.tmp_cert(), j.e.tmp_key(), j.e.manifest());
        let files = s.files().await?;
        let old_cert = files.stat(&cert_path).await?;
        let old_key = files.stat(&key_path).await?;
        for (what, p, st) in [("certificate", &cert_path, old_cert), ("key", &key_path, old_key)] {
            if st.is_some_and(|st| st.is_dir) {
                return Err(StepError::new(format!(
                    "refused: the {what} path {p} is a directory; nothing was changed"
                )));
            }
        }
        // A transaction record left by an interrupted attempt says what existed before it: the
        // files on disk may be that attempt's, so they are never taken for the old ones.
        let inherited = read_manifest(&*files, &manifest).await?;
        if let Some(prior) = &inherited {
            for b in [&prior.cert, &prior.key].into_iter().flatten() {
                if files.stat(b).await?.is_none() {
                    return Err(StepError::new(format!(
                        "an interrupted earlier deploy recorded the backup {b} in {manifest}, but it is gone: \
                         check {cert_path} and {key_path} by hand, then remove {manifest}; nothing was changed"
                    )));
                }
            }
            j.prior = inherited.clone();
            j.swapped = true;
            let _ = sink
                .log(
                    LogLevel::Warning,
                    &format!(
                        "{label}: an earlier attempt was interrupted after its backup ({manifest}): \
                         its record of the files before it is kept and restored on any failure"
                    ),
                )
                .await;
        }
        // 1. upload
        files.write(&tmp_cert, &m.fullchain, 0o644).await?;
        files.write(&tmp_key, &m.key, 0o600).await?;
        let mut chown = Vec::new();
        for (tmp, old) in [(&tmp_cert, old_cert), (&tmp_key, old_key)] {
            if let Some(o) = old {
                chown.push(format!("chown {}:{} {} 2>/dev/null", o.uid, o.gid, q(tmp)));
            }
        }
        if !chown.is_empty() {
            let out = s.exec(&chown.join("; ")).await?;
            if out.code != 0 {
                let _ = sink
                    .log(
                        LogLevel::Warning,
                        &format!(
                            "{label}: could not keep the files' owner (not privileged); the SSH user owns them now"
                        ),
                    )
                    .await;
            }
        }
        let _ = sink
            .log(
                LogLevel::Info,
                &format!("{label}: uploaded {tmp_cert} (0644) and {tmp_key} (0600)"),
            )
            .await;
        failpoint("uploaded").await;
        // 2. back up each file that exists, named by deployment and the serial it holds, and
        //    record what existed (written under a temporary name, put in place by the swap)
        let part = format!("{manifest}.part");
        let prior = match inherited {
            Some(p) => p,
            None => {
                let old_serial = match old_cert {
                    Some(_) => match files.read(&cert_path, 1024 * 1024).await? {
                        Some(d) => certificates_der(&d)
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
                    cert: old_cert.map(|_| format!("{cert_path}.certdeck-bak-{id}-{tag}")),
                    key: old_key.map(|_| format!("{key_path}.certdeck-bak-{id}-{tag}")),
                    serial: old_serial,
                };
                let copies: Vec<String> = [(&cert_path, &prior.cert), (&key_path, &prior.key)]
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
                files.write(&part, &record, 0o600).await?;
                let said = |b: &Option<String>, p: &str| match b {
                    Some(b) => format!("{p} to {b}"),
                    None => format!("{p} did not exist"),
                };
                let _ = sink
                    .log(
                        LogLevel::Info,
                        &format!(
                            "{label}: backed up the current files (serial {tag}): {}; {}",
                            said(&prior.cert, &cert_path),
                            said(&prior.key, &key_path)
                        ),
                    )
                    .await;
                failpoint("backed-up").await;
                prior
            }
        };
        let fresh = j.prior.is_none();
        j.prior = Some(prior.clone());
        drop(files);
        // 3. swap both in one command, so a lost connection cannot leave half a pair: when the
        //    key cannot follow the certificate, the certificate is put back at once.
        let record = if fresh {
            format!("mv -f {} {} || exit 6; ", q(&part), q(&manifest))
        } else {
            String::new()
        };
        let cmd = format!(
            "{record}mv -f {tc} {c} || exit 3; if mv -f {tk} {k}; then exit 0; fi; {undo} && exit 4; exit 5",
            tc = q(&tmp_cert),
            c = q(&cert_path),
            tk = q(&tmp_key),
            k = q(&key_path),
            undo = put_back(&cert_path, prior.cert.as_deref()),
        );
        let out = match s.exec(&cmd).await {
            Ok(out) => out,
            Err(e) => {
                // Unknown how far it got: restore on the way out.
                j.swapped = true;
                return Err(e);
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
                    "could not put the certificate in place at {cert_path}: {why}"
                )))
            }
            4 => {
                return Err(StepError::new(format!(
                    "could not put the key in place at {key_path}: {why}; the certificate was put back"
                )))
            }
            5 => {
                j.swapped = true;
                return Err(StepError::new(format!(
                    "could not put the key in place at {key_path}, and putting the certificate back failed: {why}"
                )));
            }
            code => {
                j.swapped = true;
                return Err(StepError::new(format!("the swap ended with status {code}: {why}")));
            }
        }
        let _ = sink
            .log(
                LogLevel::Info,
                &format!("{label}: swapped into {cert_path} and {key_path}"),
            )
            .await;
        #[cfg(feature = "testkit")]
        if let Ok(ms) = std::env::var("CERTDECK_TESTKIT_PAUSE_AFTER_SWAP_MS") {
            tokio::time::sleep(Duration::from_millis(ms.parse().unwrap_or(0))).await;
        }
        Ok(())
    }
}

/// Puts back exactly what existed before: each file from its backup, or removed when it did
/// not exist; removes the temporary files and, once the old files are back, the transaction
/// record.
async fn restore_files<S: DeploySink>(sink: &S, s: &dyn Transport, j: &mut Job) {
    let label = j.e.label.clone();
    let manifest = j.e.manifest();
    let mut cmds = vec![format!(
        "rm -f {} {} {}",
        q(&j.e.tmp_cert()),
        q(&j.e.tmp_key()),
        q(&format!("{manifest}.part"))
    )];
    let mut what = Vec::new();
    let changed = j.swapped && j.prior.is_some();
    if let (true, Some(p)) = (changed, &j.prior) {
        for (path, b) in [(&j.e.cert_path, &p.cert), (&j.e.key_path, &p.key)] {
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
            let _ = sink
                .log(
                    LogLevel::Warning,
                    &format!("{label}: restored the previous files: {}", what.join("; ")),
                )
                .await;
            j.swapped = false;
            j.restored = true;
        }
        Ok(_) => {}
        Err(e) => {
            let msg = format!(
                "RESTORE FAILED, check {} and {} by hand ({manifest} records what existed): {e}",
                j.e.cert_path, j.e.key_path
            );
            let _ = sink.log(LogLevel::Error, &format!("{label}: {msg}")).await;
            let before = j.error.take().unwrap_or_default();
            j.error = Some(format!("{before}; {msg}"));
            j.swapped = false;
        }
    }
}

/// Keeps only the backups of what existed before this deploy (the previous pair); removes the
/// transaction record.
async fn prune_backups(s: &dyn Transport, e: &Entry, prior: &Prior) {
    let id = e.id;
    let keep: Vec<&str> = [&prior.cert, &prior.key]
        .into_iter()
        .flatten()
        .map(String::as_str)
        .collect();
    let mut cmd = format!("rm -f {}; ", q(&e.manifest()));
    for base in [&e.cert_path, &e.key_path] {
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

/// Settles a unit: prunes the backups of each deployed entry, and hands every outcome to the
/// sink.
async fn finish_jobs<S: DeploySink>(sink: &S, jobs: Vec<Job>, conns: &Conns) -> Result<Vec<Outcome>, S::Error> {
    let mut out = Vec::with_capacity(jobs.len());
    for j in jobs {
        if let (None, Some(s), Some(prior)) = (&j.error, conns.get(&j.e.server_id), &j.prior) {
            prune_backups(&**s, &j.e, prior).await;
        }
        let o = Outcome {
            entry: j.e,
            error: j.error,
            transient: j.transient,
            skipped: j.skipped,
            started: j.started,
            step_ms: j.step_ms,
        };
        sink.finished(&o).await?;
        out.push(o);
    }
    Ok(out)
}
