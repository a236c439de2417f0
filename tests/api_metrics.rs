//! Prometheus metrics: the service's fleet snapshot on both backends (every aggregate against
//! rows made for it, the per-certificate bound, admin only), and `/metrics` of a real
//! `certdeck --serve-api` process checked by the real `promtool` and scraped by a real
//! `prometheus` (Debian's, from `scripts/testbed up`).

mod common;

use std::collections::HashMap;

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
