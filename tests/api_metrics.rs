//! Prometheus metrics: the service's fleet snapshot on both backends (every aggregate against
//! rows made for it, the per-certificate bound, admin only), and `/metrics` of a real
//! `certdeck --serve-api` process checked by the real `promtool` and scraped by a real
//! `prometheus` (Debian's, from `scripts/testbed up`).

mod common;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration as StdDuration, Instant};

use certdeck::domain::UserRole;
use certdeck::errors::ServiceError;
use certdeck::service::certificates::ImportInput;
use certdeck::service::metrics::{MetricsSnapshot, TaskCount};
use certdeck::service::Actor;
use certdeck::store::schedulers::{self, SchedulerInfo};
use chrono::{DateTime, Duration, Utc};
use common::{assert_err, exec, World};

/// A self-signed ECDSA certificate for `name` valid from `from` to `to`: (certificate, key).
fn material(name: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> (String, String) {
    let kp = rcgen::KeyPair::generate().expect("generate key");
    let mut params = rcgen::CertificateParams::new(vec![name.to_string()]).expect("params");
    let epoch = rcgen::date_time_ymd(1970, 1, 1);
    params.not_before = epoch + std::time::Duration::from_secs(from.timestamp() as u64);
    params.not_after = epoch + std::time::Duration::from_secs(to.timestamp() as u64);
    let cert = params.self_signed(&kp).expect("self-sign");
    (cert.pem(), kp.serialize_pem())
}

/// Imports a certificate for `name` that expires `days` from now (negative: expired).
async fn import(w: &World, actor: &Actor, name: &str, days: i64) -> (i64, DateTime<Utc>) {
    let now = Utc::now();
    let (cert, key) = material(name, now - Duration::days(400), now + Duration::days(days));
    let row =
        w.s.cert_import(
            actor,
            &ImportInput {
                name: None,
                certificate: cert.into_bytes(),
                private_key: key.into_bytes(),
                chain: None,
                notes: None,
            },
        )
        .await
        .unwrap_or_else(|e| panic!("[{}] import {name}: {e}", w.label));
    (row.id, row.expires_at.expect("an imported certificate has an expiry"))
}

fn sql_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

fn label_count(rows: &[(String, u64)], label: &str) -> u64 {
    rows.iter()
        .find(|(l, _)| l == label)
        .unwrap_or_else(|| panic!("{label} is listed (zeros included): {rows:?}"))
        .1
}

fn task_counts(s: &MetricsSnapshot) -> HashMap<(String, String), u64> {
    s.tasks
        .iter()
        .map(
            |TaskCount {
                 status,
                 task_type,
                 count,
             }| ((status.clone(), task_type.clone()), *count),
        )
        .collect()
}

/// Inserts a finished task of `task_type` with `status` that ran `secs` seconds, an hour ago.
async fn finished_task(w: &World, task_type: &str, status: &str, secs: i64) {
    let start = Utc::now() - Duration::hours(1);
    exec(
        w.db(),
        &format!(
            "INSERT INTO tasks (task_type, status, scheduled_at, started_at, completed_at) \
             VALUES ('{task_type}', '{status}', '{}', '{}', '{}')",
            sql_time(start),
            sql_time(start),
            sql_time(start + Duration::seconds(secs))
        ),
    )
    .await;
}

#[tokio::test]
async fn the_snapshot_counts_the_fleet_on_both_backends() {
    for t in common::both().await {
        let w = World::new(&t).await;
        let l = w.label;

        // Certificates of three users: one expired, one revoked (no series), three valid.
        let (expired, expired_at) = import(&w, &w.bob, "gone.metrics.test", -2).await;
        let (soon, soon_at) = import(&w, &w.alice, "soon.metrics.test", 10).await;
        let (mid, _) = import(&w, &w.admin, "mid.metrics.test", 50).await;
        let (revoked, _) = import(&w, &w.bob, "revoked.metrics.test", 70).await;
        let (late, _) = import(&w, &w.bob, "late.metrics.test", 100).await;
        exec(
            w.db(),
            &format!("UPDATE certificates SET status = 'revoked' WHERE id = {revoked}"),
        )
        .await;

        // Only an admin (or a scrape the server lets in without a key) reads the fleet.
        for who in [&w.alice, &w.bob] {
            let e = assert_err!(
                w.s.metrics_snapshot(Some(who), 100).await,
                ServiceError::Forbidden(_),
                "[{l}] {} reads the fleet's metrics",
                who.username
            );
            assert!(e.to_string().contains("admin"), "[{l}] says who may: {e}");
        }
        let (_, api) = common::make_user(&w.s, &t, Some(&w.admin), "scraper", UserRole::Api).await;
        assert_err!(
            w.s.metrics_snapshot(Some(&api), 100).await,
            ServiceError::Forbidden(_),
            "[{l}] an api user reads the fleet's metrics"
        );

        // An admin's API key acts with the api role, and may read them.
        let admin_key = Actor {
            role: UserRole::Api,
            ..w.admin.clone()
        };
        w.s.metrics_snapshot(Some(&admin_key), 1)
            .await
            .unwrap_or_else(|e| panic!("[{l}] an admin's API key reads the metrics: {e}"));

        let before = w.s.metrics_snapshot(Some(&w.admin), 100).await.unwrap();
        assert_eq!(
            before.certificates.iter().map(|c| c.id).collect::<Vec<_>>(),
            vec![expired, soon, mid, late],
            "[{l}] every certificate with an expiry, revoked ones left out, soonest first"
        );
        assert_eq!(before.certificate_series_dropped, 0, "[{l}]");

        // The bound: the two that expire first get series, the other two are counted.
        let s = w.s.metrics_snapshot(None, 2).await.unwrap();
        assert_eq!(s.certificate_series_limit, 2, "[{l}]");
        assert_eq!(s.certificates.len(), 2, "[{l}] {:?}", s.certificates);
        assert_eq!(s.certificate_series_dropped, 2, "[{l}]");
        let first = &s.certificates[0];
        assert_eq!(
            (first.id, first.domain.as_str(), first.status.as_str(), first.not_after),
            (expired, "gone.metrics.test", "expired", expired_at),
            "[{l}]"
        );
        let second = &s.certificates[1];
        assert_eq!(
            (
                second.id,
                second.domain.as_str(),
                second.status.as_str(),
                second.not_after
            ),
            (soon, "soon.metrics.test", "issued", soon_at),
            "[{l}]"
        );
        let none = w.s.metrics_snapshot(None, 0).await.unwrap();
        assert!(none.certificates.is_empty(), "[{l}] a bound of 0 lists none");
        assert_eq!(none.certificate_series_dropped, 4, "[{l}]");

        assert_eq!(label_count(&s.certificates_by_status, "issued"), 3, "[{l}]");
        assert_eq!(label_count(&s.certificates_by_status, "expired"), 1, "[{l}]");
        assert_eq!(label_count(&s.certificates_by_status, "revoked"), 1, "[{l}]");
        assert_eq!(label_count(&s.certificates_by_status, "pending"), 0, "[{l}]");
        assert_eq!(label_count(&s.certificates_by_status, "error"), 0, "[{l}]");

        // Monitors (imports made one per certificate): all ok but one in error.
        let monitors = common::count(w.db(), "SELECT COUNT(*) FROM monitors").await as u64;
        assert!(monitors >= 1, "[{l}] imports make monitors");
        exec(w.db(), "UPDATE monitors SET status = 'ok'").await;
        let monitor: i64 = common::scalar(w.db(), "SELECT MIN(id) FROM monitors", ()).await;
        exec(
            w.db(),
            &format!("UPDATE monitors SET status = 'error' WHERE id = {monitor}"),
        )
        .await;

        // Fired alerts: two open (critical, warning), one resolved; a pending delivery queued
        // two minutes ago and a sent one.
        let owner = w.admin.user_id;
        exec(
            w.db(),
            &format!(
                "INSERT INTO alerts (user_id, name, alert_type, monitor_id, condition_type, condition_value, severity) \
                 VALUES ({owner}, 'expiry', 'certificate_expiry', {monitor}, 'days_before', '14', 'critical')"
            ),
        )
        .await;
        let alert: i64 = common::scalar(w.db(), "SELECT MAX(id) FROM alerts", ()).await;
        for (severity, resolved) in [("critical", "FALSE"), ("warning", "FALSE"), ("critical", "TRUE")] {
            exec(
                w.db(),
                &format!(
                    "INSERT INTO alert_history (alert_id, monitor_id, severity, message, is_resolved) \
                     VALUES ({alert}, {monitor}, '{severity}', 'm', {resolved})"
                ),
            )
            .await;
        }
        let history: i64 = common::scalar(w.db(), "SELECT MIN(id) FROM alert_history", ()).await;
        exec(
            w.db(),
            &format!(
                "INSERT INTO alert_channels (user_id, name, channel_type, config) VALUES ({owner}, 'hook', 'webhook', '{{}}')"
            ),
        )
        .await;
        let channel: i64 = common::scalar(w.db(), "SELECT MAX(id) FROM alert_channels", ()).await;
        let queued = Utc::now() - Duration::seconds(120);
        for (status, at) in [("pending", queued), ("sent", queued - Duration::hours(5))] {
            exec(
                w.db(),
                &format!(
                    "INSERT INTO alert_deliveries (history_id, channel_id, event, status, attempts, next_attempt_at, created_at) \
                     VALUES ({history}, {channel}, 'firing', '{status}', 0, '{}', '{}')",
                    sql_time(at),
                    sql_time(at)
                ),
            )
            .await;
        }

        // Deployments: one deployed, one failed.
        exec(
            w.db(),
            &format!("INSERT INTO servers (user_id, hostname) VALUES ({owner}, 'web1.metrics.test')"),
        )
        .await;
        let server: i64 = common::scalar(w.db(), "SELECT MAX(id) FROM servers", ()).await;
        for (cert, status) in [(soon, "deployed"), (mid, "failed")] {
            exec(
                w.db(),
                &format!(
                    "INSERT INTO certificate_deployments (certificate_id, server_id, deploy_path, status) \
                     VALUES ({cert}, {server}, '/etc/ssl/{cert}', '{status}')"
                ),
            )
            .await;
        }

        // Finished tasks with known run times, and a pending one.
        for secs in [0, 3, 45] {
            finished_task(&w, "monitor_check", "completed", secs).await;
        }
        finished_task(&w, "certificate_issue", "failed", 700).await;
        finished_task(&w, "certificate_renew", "completed", 20).await;
        finished_task(&w, "certificate_issue", "cancelled", 1).await;
        exec(
            w.db(),
            &format!(
                "INSERT INTO tasks (task_type, status, scheduled_at) VALUES ('server_check', 'pending', '{}')",
                sql_time(Utc::now())
            ),
        )
        .await;

        // Schedulers: one alive, one stopped cleanly.
        for (worker, stop) in [("h1:1:aa", false), ("h2:2:bb", true)] {
            schedulers::beat(
                w.db(),
                &SchedulerInfo {
                    worker_id: worker.into(),
                    hostname: worker[..2].into(),
                    pid: 1,
                    mode: "daemon".into(),
                    concurrency: 4,
                },
            )
            .await
            .unwrap();
            if stop {
                schedulers::stopped(w.db(), worker).await.unwrap();
            }
        }

        let s = w.s.metrics_snapshot(Some(&w.admin), 100).await.unwrap();
        assert!(s.at >= before.at, "[{l}]");
        assert_eq!(label_count(&s.monitors_by_status, "ok"), monitors - 1, "[{l}]");
        assert_eq!(label_count(&s.monitors_by_status, "error"), 1, "[{l}]");
        assert_eq!(label_count(&s.monitors_by_status, "unknown"), 0, "[{l}]");
        assert_eq!(label_count(&s.open_alerts_by_severity, "critical"), 1, "[{l}]");
        assert_eq!(label_count(&s.open_alerts_by_severity, "warning"), 1, "[{l}]");
        assert_eq!(label_count(&s.open_alerts_by_severity, "info"), 0, "[{l}]");
        assert_eq!(label_count(&s.deployments_by_status, "deployed"), 1, "[{l}]");
        assert_eq!(label_count(&s.deployments_by_status, "failed"), 1, "[{l}]");
        assert_eq!(label_count(&s.deployments_by_status, "pending"), 0, "[{l}]");
        assert_eq!(s.outbox_pending, 1, "[{l}]");
        let age = (s.at - s.outbox_oldest_pending.expect("a pending delivery")).num_seconds();
        assert!(
            (119..=180).contains(&age),
            "[{l}] the oldest pending delivery is ~120 s old: {age}"
        );

        // Tasks: the new rows on top of what the imports queued.
        let (was, now) = (task_counts(&before), task_counts(&s));
        assert_eq!(now.len(), 25, "[{l}] every status × type pair: {now:?}");
        for ((status, ty), added) in [
            (("completed", "monitor_check"), 3),
            (("failed", "certificate_issue"), 1),
            (("completed", "certificate_renew"), 1),
            (("cancelled", "certificate_issue"), 1),
            (("pending", "server_check"), 1),
            (("running", "server_check"), 0),
        ] {
            let k = (status.to_string(), ty.to_string());
            assert_eq!(now[&k], was[&k] + added, "[{l}] tasks {status} {ty}");
        }

        // Durations: monitor_check ran 0, 3 and 45 s; certificate_issue 700 s (the cancelled
        // one is not a finished run).
        let hist = |snap: &MetricsSnapshot, ty: &str| {
            snap.task_durations
                .iter()
                .find(|h| h.task_type == ty)
                .unwrap_or_else(|| panic!("[{l}] a histogram for {ty}"))
                .clone()
        };
        let (mc0, mc) = (hist(&before, "monitor_check"), hist(&s, "monitor_check"));
        let bounds: Vec<f64> = mc.buckets.iter().map(|(le, _)| *le).collect();
        assert_eq!(
            bounds,
            vec![0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0],
            "[{l}]"
        );
        let added: Vec<u64> = mc.buckets.iter().zip(&mc0.buckets).map(|(a, b)| a.1 - b.1).collect();
        assert_eq!(added, vec![1, 1, 1, 1, 2, 2, 2, 3, 3, 3, 3], "[{l}] cumulative buckets");
        assert_eq!(mc.count - mc0.count, 3, "[{l}]");
        assert_eq!(mc.sum - mc0.sum, 48.0, "[{l}]");
        let (ci0, ci) = (hist(&before, "certificate_issue"), hist(&s, "certificate_issue"));
        assert_eq!(ci.count - ci0.count, 1, "[{l}]");
        assert_eq!(ci.sum - ci0.sum, 700.0, "[{l}]");
        assert_eq!(
            ci.buckets.last().unwrap().1,
            ci0.buckets.last().unwrap().1,
            "[{l}] 700 s is above the last bound: only in +Inf"
        );
        assert_eq!(s.task_durations.len(), 5, "[{l}] every task type has a histogram");

        // Issuance outcomes.
        let outcome = |snap: &MetricsSnapshot, ty: &str, o: &str| {
            snap.issuance
                .iter()
                .find(|i| i.task_type == ty && i.outcome == o)
                .unwrap_or_else(|| panic!("[{l}] {ty} {o} listed"))
                .count
        };
        assert_eq!(s.issuance.len(), 6, "[{l}]");
        for (ty, o, added) in [
            ("certificate_issue", "failed", 1),
            ("certificate_issue", "cancelled", 1),
            ("certificate_issue", "completed", 0),
            ("certificate_renew", "completed", 1),
        ] {
            assert_eq!(outcome(&s, ty, o), outcome(&before, ty, o) + added, "[{l}] {ty} {o}");
        }

        // Scheduler heartbeats.
        let beat = |worker: &str| {
            s.schedulers
                .iter()
                .find(|b| b.worker == worker)
                .unwrap_or_else(|| panic!("[{l}] scheduler {worker} listed: {:?}", s.schedulers))
                .clone()
        };
        assert!(!beat("h1:1:aa").stopped, "[{l}]");
        assert!(beat("h2:2:bb").stopped, "[{l}]");
        assert!((s.at - beat("h1:1:aa").last_heartbeat).num_seconds() < 60, "[{l}]");
    }
}

// ------------------------------------------------------------------ a real server, promtool, prometheus

/// A certdeck home (data and config dirs) on one database, driving the binary like an operator.
struct Home {
    dir: tempfile::TempDir,
    url: String,
}

impl Home {
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_certdeck"));
        c.arg("--database-url")
            .arg(&self.url)
            .args(args)
            .env("CERTDECK_DATA_DIR", self.dir.path().join("data"))
            .env("CERTDECK_CONFIG_DIR", self.dir.path().join("config"))
            .env_remove("CERTDECK_DATABASE_URL")
            .env_remove("CERTDECK_API_KEY")
            .env_remove("CERTDECK_MASTER_KEY");
        c
    }

    /// Runs a command that must succeed; what it printed on stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = common::cli::output(&mut self.cmd(args), None);
        assert!(
            out.status.success(),
            "certdeck {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs a command with `--json` that must succeed; its output parsed.
    fn json(&self, args: &[&str]) -> serde_json::Value {
        let out = common::cli::output(&mut self.cmd(&[&["--json"], args].concat()), None);
        assert!(
            out.status.success(),
            "certdeck {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("certdeck {args:?} prints JSON: {e}"))
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// Child processes of the test, killed (by their own handle) however the test ends.
struct Children(Vec<(&'static str, Child)>);

impl Drop for Children {
    fn drop(&mut self) {
        for (_, c) in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Whether `prometheus` and `promtool` run; a missing one fails the test when peers are
/// required (CI), else skips it.
fn prometheus_installed() -> bool {
    for bin in ["prometheus", "promtool", "curl"] {
        let ok = Command::new(bin)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            assert!(
                !common::peers_required(),
                "`{bin}` is not installed but peers are required: run scripts/testbed up (it installs prometheus and curl)"
            );
            eprintln!("SKIP: `{bin}` is not installed (scripts/testbed up installs the prometheus and curl packages)");
            return false;
        }
    }
    true
}

/// A free TCP port on 127.0.0.1 (for Prometheus' own listener).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `curl` (a real client): status code, response head and body.
fn curl(url: &str, bearer: Option<&str>) -> (u16, String, String) {
    try_curl(url, bearer).unwrap_or_else(|| panic!("curl {url} got no HTTP answer"))
}

/// [`curl`], or None when no HTTP answer came (nothing listens yet).
fn try_curl(url: &str, bearer: Option<&str>) -> Option<(u16, String, String)> {
    let mut c = Command::new("curl");
    c.args(["-q", "-s", "--noproxy", "*", "--max-time", "10", "-D", "-", url]);
    if let Some(b) = bearer {
        c.arg("-H").arg(format!("Authorization: Bearer {b}"));
    }
    let out = c.output().expect("run curl");
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("curl {url}: no status line in {head}"));
    Some((code, head.to_string(), body.to_string()))
}

/// Waits for `file` to hold `needle`; returns its text.
fn wait_for_text(file: &std::path::Path, needle: &str, limit: StdDuration, child: &mut Child) -> String {
    let start = Instant::now();
    loop {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        if text.contains(needle) {
            return text;
        }
        if let Some(s) = child.try_wait().unwrap() {
            panic!("the process exited ({s}) before saying `{needle}`: {text}");
        }
        assert!(start.elapsed() < limit, "no `{needle}` within {limit:?}: {text}");
        std::thread::sleep(StdDuration::from_millis(100));
    }
}

/// The alert rules the README shows (its YAML block that starts with `groups:`).
fn readme_rules() -> String {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let start = readme.find("```yaml\ngroups:").expect("the README shows alert rules") + "```yaml\n".len();
    let len = readme[start..].find("```").expect("the rules block ends");
    readme[start..start + len].to_string()
}

/// Asks Prometheus (on `port`) `promql` every half second until `pick` finds what it waits
/// for in the result, for at most 30 s.
fn prom_until(
    port: u16,
    promql: &str,
    label: &str,
    prom: &mut Child,
    prom_log: &std::path::Path,
    pick: impl Fn(&[serde_json::Value]) -> Option<serde_json::Value>,
) -> serde_json::Value {
    let enc: String = promql
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    let url = format!("http://127.0.0.1:{port}/api/v1/query?query={enc}");
    let start = Instant::now();
    loop {
        if let Some(s) = prom.try_wait().unwrap() {
            panic!(
                "[{label}] prometheus exited ({s}): {}",
                std::fs::read_to_string(prom_log).unwrap_or_default()
            );
        }
        let (code, _, body) = try_curl(&url, None).unwrap_or((0, String::new(), "nothing listens yet".into()));
        if code == 200 {
            let v: serde_json::Value = serde_json::from_str(&body).unwrap();
            if let Some(hit) = v["data"]["result"].as_array().and_then(|r| pick(r)) {
                return hit;
            }
        }
        assert!(
            start.elapsed() < StdDuration::from_secs(30),
            "[{label}] Prometheus has no answer to `{promql}` within 30 s (last answer {code}: {body}); its log: {}",
            std::fs::read_to_string(prom_log).unwrap_or_default()
        );
        std::thread::sleep(StdDuration::from_millis(500));
    }
}

/// `certdeck --serve-api` on one backend: `/metrics` needs an admin's credential (unless
/// `public`: `--metrics-public`, and a bound of 1 series by `--metrics-max-certificates`),
/// passes `promtool check metrics`, and a real Prometheus scraping it shows the seeded
/// certificate and raises the README's expiry alert for it.
async fn serve_and_scrape(home: Home, label: &str, public: bool) {
    // Seed as the operator does: init, first login, a certificate (and its monitor), a domain
    // monitor, a task for later, an admin's API key.
    let init = common::cli::output(&mut home.cmd(&["init"]), None);
    assert!(
        init.status.success(),
        "[{label}] init: {}",
        String::from_utf8_lossy(&init.stderr)
    );
    let password = common::cli::one_time_password(&String::from_utf8_lossy(&init.stderr));
    common::cli::first_login(&password, |args, stdin| common::cli::output(&mut home.cmd(args), stdin));
    let domain = "scrape.metrics.test";
    let now = Utc::now();
    let (cert, key) = material(domain, now - Duration::days(1), now + Duration::days(9));
    std::fs::write(home.path("cert.pem"), cert).unwrap();
    std::fs::write(home.path("key.pem"), key).unwrap();
    let cert_path = home.path("cert.pem").display().to_string();
    let key_path = home.path("key.pem").display().to_string();
    let c = home.json(&["cert", "import", "--cert", &cert_path, "--key", &key_path]);
    let cert_id = c["id"].as_i64().expect("the certificate's id");
    // `monitor add` answers in words, with the new id.
    let said = home.ok(&[
        "monitor",
        "add",
        "web",
        "--type",
        "domain",
        "--domain",
        "web.metrics.test",
    ]);
    let monitor_id = said
        .split("(id ")
        .nth(1)
        .and_then(|r| r.split(')').next())
        .unwrap_or_else(|| panic!("[{label}] no id in: {said}"))
        .to_string();
    home.json(&[
        "task",
        "enqueue",
        "--type",
        "monitor_check",
        "--target",
        &monitor_id,
        "--at",
        "2099-01-01T00:00:00Z",
    ]);
    let k = home.json(&["apikey", "create", "prometheus"]);
    let credential = k["credential"].as_str().expect("the key's credential").to_string();

    // The server, on a port of its choosing (it says which).
    let log = home.path("api.log");
    let mut children = Children(Vec::new());
    let server = home
        .cmd(if public {
            &[
                "--serve-api",
                "127.0.0.1:0",
                "--metrics-public",
                "--metrics-max-certificates",
                "1",
            ]
        } else {
            &["--serve-api", "127.0.0.1:0"]
        })
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(home.path("api.out")).unwrap())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("start certdeck --serve-api");
    children.0.push(("certdeck", server));
    let said = wait_for_text(
        &log,
        "listening on http://",
        StdDuration::from_secs(30),
        &mut children.0[0].1,
    );
    let base = said
        .split("listening on ")
        .nth(1)
        .and_then(|r| r.split("/api/v1/").next())
        .unwrap_or_else(|| panic!("[{label}] no address in {said}"))
        .to_string();
    let metrics_url = format!("{base}/metrics");

    // A credential is needed (an admin's key is let in), unless the metrics are public.
    let scrape_key = (!public).then_some(credential.as_str());
    if !public {
        let (code, _, body) = curl(&metrics_url, None);
        assert_eq!(code, 401, "[{label}] without a credential: {body}");
        // Another user's key (an api user's) is refused: the figures cover every user's rows.
        home.ok(&["user", "create", "ci-bot", "--email", "ci@example.com", "--role", "api"]);
        let k = home.json(&["apikey", "create", "ci-key", "--user", "ci-bot"]);
        let other = k["credential"].as_str().expect("the key's credential");
        let (code, head, body) = curl(&metrics_url, Some(other));
        assert_eq!(code, 403, "[{label}] an api user's key: {body}");
        assert!(
            head.to_ascii_lowercase().contains("application/problem+json"),
            "[{label}] {head}"
        );
        assert!(body.contains("admin"), "[{label}] says who may: {body}");
    }
    let (code, head, text) = curl(&metrics_url, scrape_key);
    assert_eq!(code, 200, "[{label}] with the admin's key, or public: {text}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/plain; version=0.0.4; charset=utf-8"),
        "[{label}] {head}"
    );
    let series = format!("id=\"{cert_id}\",domain=\"{domain}\",status=\"issued\"");
    assert!(
        text.contains(&format!("certdeck_certificate_time_left_seconds{{{series}}} ")),
        "[{label}] the seeded certificate has a series: {text}"
    );
    assert!(
        text.contains("certdeck_certificates{status=\"issued\"} 1\n"),
        "[{label}] {text}"
    );
    assert!(
        text.contains("certdeck_monitors{status=\"unknown\"} 2\n"),
        "[{label}] two monitors: {text}"
    );
    assert!(
        text.contains("certdeck_tasks{status=\"pending\",type=\"monitor_check\"} 1\n"),
        "[{label}] the queued task: {text}"
    );
    let bound = if public { 1 } else { 10_000 };
    assert!(
        text.contains(&format!("certdeck_certificate_series_limit {bound}\n")),
        "[{label}] the bound of --metrics-max-certificates: {text}"
    );
    assert!(text.contains("certdeck_certificate_series_dropped 0\n"), "[{label}]");

    // promtool: no error and no lint finding.
    std::fs::write(home.path("scrape.prom"), &text).unwrap();
    let check = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(home.path("scrape.prom")).unwrap())
        .output()
        .expect("run promtool");
    assert!(
        check.status.success() && check.stdout.is_empty() && check.stderr.is_empty(),
        "[{label}] promtool check metrics ({}): {}{}",
        check.status,
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );

    // A real Prometheus scraping it every second (with the key as its bearer credential), and
    // evaluating the README's alert rules.
    let hostport = base.trim_start_matches("http://");
    std::fs::write(home.path("prom-key"), &credential).unwrap();
    std::fs::write(home.path("rules.yml"), readme_rules()).unwrap();
    let auth = if public {
        String::new()
    } else {
        format!(
            "    authorization:\n      type: Bearer\n      credentials_file: {}\n",
            home.path("prom-key").display()
        )
    };
    let config = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {}\n\
         scrape_configs:\n  - job_name: certdeck\n    scrape_interval: 1s\n    metrics_path: /metrics\n{auth}\
         \x20   static_configs:\n      - targets: [\"{hostport}\"]\n",
        home.path("rules.yml").display()
    );
    std::fs::write(home.path("prometheus.yml"), config).unwrap();
    let check = Command::new("promtool")
        .args(["check", "config"])
        .arg(home.path("prometheus.yml"))
        .output()
        .expect("run promtool");
    assert!(
        check.status.success(),
        "[{label}] promtool check config (with the README's rules): {}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    let prom_port = free_port();
    let prom_log = home.path("prometheus.log");
    let prom = Command::new("prometheus")
        .arg(format!("--config.file={}", home.path("prometheus.yml").display()))
        .arg(format!("--storage.tsdb.path={}", home.path("tsdb").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(home.path("prometheus.out")).unwrap())
        .stderr(std::fs::File::create(&prom_log).unwrap())
        .spawn()
        .expect("start prometheus");
    children.0.push(("prometheus", prom));

    let id = cert_id.to_string();
    let of_cert = |r: &[serde_json::Value]| {
        r.iter()
            .find(|s| s["metric"]["id"] == id.as_str() && s["metric"]["domain"] == domain)
            .cloned()
    };
    let prom = &mut children.0[1].1;
    let found = prom_until(
        prom_port,
        "certdeck_certificate_time_left_seconds",
        label,
        prom,
        &prom_log,
        of_cert,
    );
    assert_eq!(found["metric"]["job"], "certdeck", "[{label}] {found}");
    assert_eq!(found["metric"]["status"], "issued", "[{label}] {found}");
    let left: f64 = found["value"][1].as_str().unwrap().parse().unwrap();
    assert!(
        (8.0 * 86_400.0..=9.0 * 86_400.0).contains(&left),
        "[{label}] about 9 days left: {left}"
    );
    // The scrape itself is healthy.
    let up = prom_until(prom_port, "up{job=\"certdeck\"}", label, prom, &prom_log, |r| {
        r.first().cloned()
    });
    assert_eq!(up["value"][1], "1", "[{label}] up: {up}");
    // The README's rule sees the certificate that expires in 9 days (pending: it has a `for`).
    let alert = prom_until(
        prom_port,
        "ALERTS{alertname=\"CertificateExpiringSoon\"}",
        label,
        prom,
        &prom_log,
        of_cert,
    );
    assert_eq!(alert["metric"]["alertstate"], "pending", "[{label}] {alert}");
    assert_eq!(alert["metric"]["severity"], "warning", "[{label}] {alert}");

    // The server stops cleanly on SIGTERM.
    let pid = children.0[0].1.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let start = Instant::now();
    let status = loop {
        if let Some(s) = children.0[0].1.try_wait().unwrap() {
            break s;
        }
        assert!(
            start.elapsed() < StdDuration::from_secs(30),
            "[{label}] still running 30 s after SIGTERM"
        );
        std::thread::sleep(StdDuration::from_millis(100));
    };
    assert!(
        status.success(),
        "[{label}] exit after SIGTERM: {status}: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_real_prometheus_scrapes_serve_api_on_sqlite() {
    if !prometheus_installed() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("certdeck.db").display());
    serve_and_scrape(Home { dir, url }, "sqlite", false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_real_prometheus_scrapes_serve_api_on_mariadb_with_public_bounded_metrics() {
    if !prometheus_installed() {
        return;
    }
    let Some(t) = common::empty_mysql().await else { return };
    let home = Home {
        dir: tempfile::tempdir().unwrap(),
        url: t.url.clone(),
    };
    serve_and_scrape(home, "mariadb", true).await;
}
