//! Issue 14 §1 and §8 (tasks): authorization reaches the runner. User B cannot make a task touch
//! user A's rows — neither through the service (refused at enqueue, naming what is wrong) nor
//! through a task row written straight into the queue (refused when it runs, before any work) —
//! and nothing of A's changes: monitor status and next check, alert history, the notification
//! outbox, deployment status, certificate status, server status. A task runs for its creator as
//! the users table says now (an inactive creator's task fails), schedule-made tasks for the
//! system. Also: one open issue/renewal, deploy or server check per target (racing enqueuers
//! and the scheduler included); a transient failure that used the last attempt turns the
//! certificate `error`; a CLI command that runs its task now says what it waits for and gives
//! up after `CERTDECK_TASK_WAIT_SECONDS`, leaving no duplicate work. On SQLite and MariaDB.

mod common;

use std::process::{Command, Output};

use certdeck::domain::{
    AlertType, AuthType, CertificateStatus, ChannelType, ConditionType, MonitorType, Severity, TaskStatus, TaskType,
};
use certdeck::errors::ServiceError;
use certdeck::service::acme::RequestInput;
use certdeck::service::certificates::{DeploymentInput, ImportInput};
use certdeck::service::deploy::DeployTarget;
use certdeck::service::monitoring::{AlertInput, MonitorInput};
use certdeck::service::schedules::ScheduleInput;
use certdeck::service::servers::ServerInput;
use certdeck::service::tasks::{RunReport, Runners, TaskInput};
use certdeck::service::Actor;
use certdeck::store::queue::{self, NewTask};
use certdeck::store::{Db, PoolSettings};
use chrono::Utc;
use common::{count_with, World};
use serde_json::{json, Value};

// ------------------------------------------------------------------ fixtures

/// A port where nothing listens, or the bed's nginx when it is up (a real peer either way: a
/// check of it changes the monitor).
fn probe_port() -> i64 {
    std::env::var("CERTDECK_TEST_NGINX_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(1)
}

async fn certificate(w: &World, who: &Actor, name: &str) -> i64 {
    let kp = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec![name.to_string()]).unwrap();
    params.not_after = rcgen::date_time_ymd(2031, 1, 1);
    let cert = params.self_signed(&kp).unwrap();
    w.s.cert_import(
        who,
        &ImportInput {
            certificate: cert.pem().into_bytes(),
            private_key: kp.serialize_pem().into_bytes(),
            ..Default::default()
        },
    )
    .await
    .unwrap_or_else(|e| panic!("[{}] import {name}: {e}", w.label))
    .id
}

async fn server(w: &World, who: &Actor, name: &str) -> i64 {
    w.s.server_create(
        who,
        &ServerInput {
            name: Some(name.into()),
            hostname: Some("127.0.0.1".into()),
            // Nothing listens on port 1: a run that reached the server would fail and record it.
            port: Some(1),
            auth_type: Some(AuthType::Password),
            username: Some("deploy".into()),
            password: Some("unused-pw".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap_or_else(|e| panic!("[{}] server {name}: {e}", w.label))
    .id
}

async fn deployment(w: &World, who: &Actor, cert: i64, srv: i64, path: &str, auto: bool) -> i64 {
    w.s.deployment_create_with(
        who,
        cert,
        srv,
        &DeploymentInput {
            deploy_path: path.into(),
            auto_deploy: auto,
            ..Default::default()
        },
    )
    .await
    .unwrap_or_else(|e| panic!("[{}] deployment {path}: {e}", w.label))
    .id
}

/// A CA of `who` that cannot be reached (connection refused): every order fails transiently.
async fn dead_ca(w: &World, who: &Actor) {
    w.s.ca_add(who, "dead", "https://127.0.0.1:1/dir", None, false, None)
        .await
        .unwrap_or_else(|e| panic!("[{}] add CA: {e}", w.label));
}

fn dead_ca_request() -> RequestInput {
    RequestInput {
        ca: "dead".into(),
        email: Some("certs@example.test".into()),
        challenge: "http-01".into(),
        http_listen: Some("127.0.0.1:0".into()),
        ..Default::default()
    }
}

/// A's rows an attack aims at.
struct Victim {
    monitor: i64,
    cert: i64,
    server: i64,
    deployment: i64,
}

/// B's own rows, from which an attack starts.
struct Attacker {
    monitor: i64,
    cert: i64,
    deployment: i64,
}

async fn rows(w: &World) -> (Victim, Attacker) {
    let port = probe_port();
    let monitor = |who: &Actor, name: &str| {
        let input = MonitorInput {
            name: Some(name.into()),
            monitor_type: Some(MonitorType::Domain),
            domain: Some(format!("{name}.tasks-sec.test")),
            port: Some(port),
            connect_address: Some("127.0.0.1".into()),
            ..Default::default()
        };
        let (s, who) = (w.s.clone(), who.clone());
        async move { s.monitor_create(&who, &input).await.unwrap().id }
    };
    let a_mon = monitor(&w.alice, "alice-shop").await;
    let b_mon = monitor(&w.bob, "bob-shop").await;
    // A's rule on her monitor, bound to her channel: a check that fires it fills the outbox.
    let rule =
        w.s.alert_create(
            &w.alice,
            &AlertInput {
                name: Some("alice shop broken".into()),
                alert_type: Some(AlertType::CertificateError),
                monitor_id: Some(a_mon),
                condition_type: Some(ConditionType::StatusChange),
                condition_value: Some("error".into()),
                severity: Some(Severity::Critical),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let hook =
        w.s.channel_create(
            &w.alice,
            "alice hook",
            ChannelType::Webhook,
            &json!({"url": "http://127.0.0.1:9/alice-hook", "allow_http": true}),
        )
        .await
        .unwrap();
    w.s.binding_create(&w.alice, rule.id, hook.id).await.unwrap();
    let a_cert = certificate(w, &w.alice, "alice.tasks-sec.test").await;
    let a_srv = server(w, &w.alice, "alice-web").await;
    let a_dep = deployment(w, &w.alice, a_cert, a_srv, "/etc/ssl/tasks-sec-alice.pem", true).await;
    // A's certificate is renewable here (through a CA that never answers).
    dead_ca(w, &w.alice).await;
    w.s.cert_renewal_setup(
        &w.alice,
        a_cert,
        &RequestInput {
            domains: vec!["alice.tasks-sec.test".into()],
            ..dead_ca_request()
        },
    )
    .await
    .unwrap();
    let b_cert = certificate(w, &w.bob, "bob.tasks-sec.test").await;
    let b_srv = server(w, &w.bob, "bob-web").await;
    let b_dep = deployment(w, &w.bob, b_cert, b_srv, "/etc/ssl/tasks-sec-bob.pem", true).await;
    (
        Victim {
            monitor: a_mon,
            cert: a_cert,
            server: a_srv,
            deployment: a_dep,
        },
        Attacker {
            monitor: b_mon,
            cert: b_cert,
            deployment: b_dep,
        },
    )
}

/// Everything of A's an attack could change, as text.
async fn snapshot(w: &World, v: &Victim) -> String {
    let a = &w.alice;
    let mut out = String::new();
    let monitors =
        w.s.monitor_list(a, &Default::default(), certdeck::store::Page::first(100))
            .await
            .unwrap();
    for m in monitors {
        out.push_str(&format!(
            "monitor {} {:?} {:?} {:?} {:?} {}\n",
            m.id, m.status, m.status_message, m.last_check_at, m.next_check_at, m.consecutive_failures
        ));
    }
    let d = w.s.deployment_get(a, v.deployment).await.unwrap();
    out.push_str(&format!(
        "deployment {:?} {:?} {:?}\n",
        d.status, d.last_deploy_at, d.error_message
    ));
    let c = w.s.cert_get(a, v.cert).await.unwrap();
    out.push_str(&format!("certificate {:?} {:?}\n", c.status, c.expires_at));
    let s = w.s.server_get(a, v.server).await.unwrap();
    out.push_str(&format!("server {:?} {:?}\n", s.status, s.last_check_at));
    let history = count_with(
        w.db(),
        "SELECT COUNT(*) FROM alert_history h JOIN monitors m ON m.id = h.monitor_id WHERE m.user_id = ?",
        a.user_id,
    )
    .await;
    let outbox = count_with(
        w.db(),
        "SELECT COUNT(*) FROM alert_deliveries d JOIN alert_channels c ON c.id = d.channel_id WHERE c.user_id = ?",
        a.user_id,
    )
    .await;
    out.push_str(&format!("alert history {history}, outbox {outbox}\n"));
    out
}

/// A task row written straight into the queue, as if `who` had enqueued it (the bypass).
async fn forged(w: &World, who: Option<&Actor>, t: TaskType, target: (&str, i64), params: Option<Value>) -> i64 {
    queue::enqueue(
        w.db(),
        &NewTask {
            task_type: t,
            priority: 5,
            target_type: Some(target.0.into()),
            target_id: Some(target.1),
            params,
            scheduled_at: Utc::now(),
            created_by: who.map(|a| a.user_id),
            max_attempts: 1,
        },
        None,
    )
    .await
    .unwrap()
}

/// Runs task `id` now with the built-in runners (as the scheduler would) and returns how it
/// ended and its log.
async fn run(w: &World, id: i64) -> (RunReport, String) {
    let r =
        w.s.task_run_here(&w.admin, id, &Runners::builtin())
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("[{}] task {id} could not be claimed", w.label));
    let logs = w.s.task_logs(&w.admin, id, 0, 1000).await.unwrap();
    let text = logs.iter().map(|l| l.message.clone()).collect::<Vec<_>>().join("\n");
    (r, text)
}

fn refused(w: &World, what: &str, r: &RunReport, logs: &str, needle: &str) {
    match r {
        RunReport::Failed(m) => assert!(
            m.starts_with("refused:") && m.contains(needle) && m.contains("bob"),
            "[{}] {what}: {m}",
            w.label
        ),
        other => panic!("[{}] {what}: expected a refusal, got {other:?}; log:\n{logs}", w.label),
    }
    assert!(
        !logs.contains("alice"),
        "[{}] {what}: nothing of alice's reaches bob's task log:\n{logs}",
        w.label
    );
}

fn not_found(w: &World, what: &str, e: Result<impl std::fmt::Debug, ServiceError>) {
    match e {
        Err(ServiceError::NotFound { .. }) => {}
        other => panic!("[{}] {what}: expected not found, got {other:?}", w.label),
    }
}

fn monitor_check(target: i64, ids: &[i64]) -> TaskInput {
    TaskInput {
        task_type: Some(TaskType::MonitorCheck),
        target_id: Some(target),
        params: Some(json!({ "monitor_ids": ids })),
        ..Default::default()
    }
}

// ------------------------------------------------------------------ §1: per task type

#[tokio::test(flavor = "multi_thread")]
async fn monitor_check_params_never_reach_another_users_monitors() {
    for t in common::both().await {
        let w = World::new(&t).await;
        let (v, b) = rows(&w).await;
        let before = snapshot(&w, &v).await;
        // The attack of the issue: B's own monitor as target, A's in params.
        not_found(
            &w,
            "enqueue with A's monitor in params",
            w.s.task_enqueue(&w.bob, &monitor_check(b.monitor, &[v.monitor])).await,
        );
        not_found(
            &w,
            "enqueue with A's monitor as target",
            w.s.task_enqueue(&w.bob, &monitor_check(v.monitor, &[b.monitor])).await,
        );
        // The same rows written into the queue directly: refused when they run.
        for (what, target, ids) in [
            ("forged params", b.monitor, vec![b.monitor, v.monitor]),
            ("forged target", v.monitor, vec![]),
        ] {
            let params = (!ids.is_empty()).then(|| json!({ "monitor_ids": ids }));
            let id = forged(&w, Some(&w.bob), TaskType::MonitorCheck, ("monitor", target), params).await;
            let (r, logs) = run(&w, id).await;
            refused(&w, what, &r, &logs, &format!("monitor {} not found", v.monitor));
        }
        assert_eq!(snapshot(&w, &v).await, before, "[{}] nothing of A's changed", w.label);
        // B's own monitor is checked as before.
        let own =
            w.s.task_enqueue(&w.bob, &monitor_check(b.monitor, &[b.monitor]))
                .await
                .unwrap();
        let (r, _) = run(&w, own.id).await;
        assert_eq!(r, RunReport::Completed, "[{}]", w.label);
        // Control: the system (schedule-made tasks) may check A's monitor, and that check does
        // change what the assertions above watch.
        let sys = forged(
            &w,
            None,
            TaskType::MonitorCheck,
            ("monitor", v.monitor),
            Some(json!({ "monitor_ids": [v.monitor] })),
        )
        .await;
        let (r, _) = run(&w, sys).await;
        assert_eq!(r, RunReport::Completed, "[{}]", w.label);
        assert_ne!(
            snapshot(&w, &v).await,
            before,
            "[{}] the control check changed A's monitor",
            w.label
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn deploy_params_never_reach_another_users_deployments() {
    for t in common::both().await {
        let w = World::new(&t).await;
        let (v, b) = rows(&w).await;
        let before = snapshot(&w, &v).await;
        let deploy = |target_type: &str, target: i64, params: Option<Value>| TaskInput {
            task_type: Some(TaskType::CertificateDeploy),
            target_type: Some(target_type.into()),
            target_id: Some(target),
            params,
            ..Default::default()
        };
        not_found(
            &w,
            "deploy B's certificate to A's deployment",
            w.s.task_enqueue(
                &w.bob,
                &deploy("certificate", b.cert, Some(json!({"deployments": [v.deployment]}))),
            )
            .await,
        );
        not_found(
            &w,
            "deploy A's deployment",
            w.s.task_enqueue(&w.bob, &deploy("deployment", v.deployment, None))
                .await,
        );
        not_found(
            &w,
            "deploy A's certificate",
            w.s.task_enqueue(
                &w.bob,
                &deploy("certificate", v.cert, Some(json!({"deployments": [b.deployment]}))),
            )
            .await,
        );
        for (what, target, params, needle) in [
            (
                "forged params",
                ("certificate", b.cert),
                Some(json!({"deployments": [v.deployment]})),
                format!("deployment {} not found", v.deployment),
            ),
            (
                "forged certificate target",
                ("certificate", v.cert),
                None,
                format!("certificate {} not found", v.cert),
            ),
            (
                "forged deployment target",
                ("deployment", v.deployment),
                None,
                format!("deployment {} not found", v.deployment),
            ),
        ] {
            let id = forged(&w, Some(&w.bob), TaskType::CertificateDeploy, target, params).await;
            let (r, logs) = run(&w, id).await;
            refused(&w, what, &r, &logs, &needle);
        }
        assert_eq!(snapshot(&w, &v).await, before, "[{}] nothing of A's changed", w.label);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn server_checks_and_certificate_orders_of_another_users_rows_are_refused_at_run() {
    for t in common::both().await {
        let w = World::new(&t).await;
        let (v, _) = rows(&w).await;
        let before = snapshot(&w, &v).await;
        let on = |t: TaskType, kind: &str, id: i64| TaskInput {
            task_type: Some(t),
            target_type: Some(kind.into()),
            target_id: Some(id),
            ..Default::default()
        };
        not_found(
            &w,
            "check A's server",
            w.s.task_enqueue(&w.bob, &on(TaskType::ServerCheck, "server", v.server))
                .await,
        );
        for t in [TaskType::CertificateIssue, TaskType::CertificateRenew] {
            not_found(
                &w,
                "order A's certificate",
                w.s.task_enqueue(&w.bob, &on(t, "certificate", v.cert)).await,
            );
        }
        for (t, target, needle) in [
            (
                TaskType::ServerCheck,
                ("server", v.server),
                format!("server {} not found", v.server),
            ),
            (
                TaskType::CertificateIssue,
                ("certificate", v.cert),
                format!("certificate {} not found", v.cert),
            ),
            (
                TaskType::CertificateRenew,
                ("certificate", v.cert),
                format!("certificate {} not found", v.cert),
            ),
        ] {
            let id = forged(&w, Some(&w.bob), t, target, None).await;
            let (r, logs) = run(&w, id).await;
            refused(&w, t.as_str(), &r, &logs, &needle);
        }
        assert_eq!(snapshot(&w, &v).await, before, "[{}] nothing of A's changed", w.label);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_task_runs_for_its_creator_as_the_users_table_says_now() {
    for t in common::both().await {
        let w = World::new(&t).await;
        let (v, b) = rows(&w).await;
        // An admin's task may check A's monitor.
        let by_admin =
            w.s.task_enqueue(&w.admin, &monitor_check(v.monitor, &[v.monitor]))
                .await
                .unwrap();
        let (r, _) = run(&w, by_admin.id).await;
        assert_eq!(r, RunReport::Completed, "[{}]", w.label);
        // B queued a check of his own second monitor; before it ran, the monitor became A's.
        let moved =
            w.s.monitor_create(
                &w.bob,
                &MonitorInput {
                    name: Some("bob-moved".into()),
                    monitor_type: Some(MonitorType::Domain),
                    domain: Some("bob-moved.tasks-sec.test".into()),
                    port: Some(probe_port()),
                    connect_address: Some("127.0.0.1".into()),
                    ..Default::default()
                },
            )
            .await
            .unwrap()
            .id;
        let queued = w.s.task_enqueue(&w.bob, &monitor_check(moved, &[moved])).await.unwrap();
        common::exec_with(
            w.db(),
            "UPDATE monitors SET user_id = ? WHERE id = ?",
            (w.alice.user_id, moved),
        )
        .await;
        let (r, logs) = run(&w, queued.id).await;
        refused(
            &w,
            "a monitor that changed owner",
            &r,
            &logs,
            &format!("monitor {moved} not found"),
        );
        let m = w.s.monitor_get(&w.alice, moved).await.unwrap();
        assert!(m.last_check_at.is_none(), "[{}] now A's: not checked for B", w.label);
        // B queued a check of his own monitor, then was deactivated: it no longer runs.
        let own =
            w.s.task_enqueue(&w.bob, &monitor_check(b.monitor, &[b.monitor]))
                .await
                .unwrap();
        common::exec_with(
            w.db(),
            "UPDATE users SET status = 'inactive' WHERE id = ?",
            w.bob.user_id,
        )
        .await;
        let (r, _) = run(&w, own.id).await;
        match r {
            RunReport::Failed(m) => assert!(
                m.contains("bob, who queued this task, is inactive"),
                "[{}] {m}",
                w.label
            ),
            other => panic!("[{}] {other:?}", w.label),
        }
        let m = w.s.monitor_get(&w.admin, b.monitor).await.unwrap();
        assert!(m.last_check_at.is_none(), "[{}] B's monitor was not checked", w.label);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn parameters_a_task_type_does_not_take_are_refused_by_name() {
    for t in common::both().await {
        let w = World::new(&t).await;
        let (_, b) = rows(&w).await;
        let srv = server(&w, &w.bob, "bob-web2").await;
        let cases: Vec<(TaskInput, &str)> = vec![
            (
                TaskInput {
                    task_type: Some(TaskType::ServerCheck),
                    target_id: Some(srv),
                    params: Some(json!({"fail_attempts": 3})),
                    ..Default::default()
                },
                "params.fail_attempts",
            ),
            (
                TaskInput {
                    params: Some(json!({"monitor_ids": [b.monitor], "mode": "x"})),
                    ..monitor_check(b.monitor, &[])
                },
                "params.mode",
            ),
            (
                TaskInput {
                    params: Some(json!({"monitor_ids": "all"})),
                    ..monitor_check(b.monitor, &[])
                },
                "params.monitor_ids",
            ),
            (
                TaskInput {
                    task_type: Some(TaskType::CertificateDeploy),
                    target_type: Some("deployment".into()),
                    target_id: Some(b.deployment),
                    params: Some(json!({"deployments": [b.deployment]})),
                    ..Default::default()
                },
                "params.deployments",
            ),
            (
                TaskInput {
                    task_type: Some(TaskType::CertificateRenew),
                    target_id: Some(b.cert),
                    params: Some(json!({"directory_url": "https://evil.example/dir"})),
                    ..Default::default()
                },
                "params.directory_url",
            ),
        ];
        let before = common::count(w.db(), "SELECT COUNT(*) FROM tasks").await;
        for (input, field) in cases {
            match w.s.task_enqueue(&w.bob, &input).await {
                Err(ServiceError::Validation { field: f, reason }) => {
                    assert_eq!(f, field, "[{}] {reason}", w.label)
                }
                other => panic!("[{}] {field}: expected a validation error, got {other:?}", w.label),
            }
        }
        assert_eq!(
            common::count(w.db(), "SELECT COUNT(*) FROM tasks").await,
            before,
            "[{}] nothing queued",
            w.label
        );
        // Schedules too: a user's certificate check takes no parameters.
        let e =
            w.s.schedule_add(
                &w.bob,
                &ScheduleInput {
                    name: Some("certs".into()),
                    task_type: Some(certdeck::domain::ScheduleType::CertificateCheck),
                    cron_expression: Some("0 3 * * *".into()),
                    params: Some(json!({"dir": "/etc"})),
                    ..Default::default()
                },
            )
            .await
            .unwrap_err();
        assert_eq!(common::vfield(&e), "params.dir", "[{}] {e}", w.label);
    }
}

// ------------------------------------------------------------------ §8: one open task per target

async fn open_tasks(w: &World, kinds: &str, target_type: &str, id: i64) -> i64 {
    let sql = format!(
        "SELECT COUNT(*) FROM tasks WHERE status IN ('pending', 'running') AND task_type IN ({kinds}) \
         AND target_type = '{target_type}' AND target_id = ?"
    );
    count_with(w.db(), &sql, id).await
}

#[tokio::test(flavor = "multi_thread")]
async fn one_open_renewal_issue_deploy_and_check_per_target_even_when_enqueuers_race() {
    for t in common::both().await {
        let w = World::new(&t).await;
        let l = w.label;
        let (v, _) = rows(&w).await;
        let a = &w.alice;
        // Renewal and issuance: one open task per certificate, whichever asks.
        let first = w.s.cert_renew(a, v.cert).await.unwrap();
        let again = w.s.cert_renew(a, v.cert).await.unwrap();
        assert_eq!(again.id, first.id, "[{l}] a second renewal returns the open one");
        let issue =
            w.s.task_enqueue(
                a,
                &TaskInput {
                    task_type: Some(TaskType::CertificateIssue),
                    target_id: Some(v.cert),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(issue.id, first.id, "[{l}] an issue while a renewal is open returns it");
        let obtain = "'certificate_issue', 'certificate_renew'";
        assert_eq!(open_tasks(&w, obtain, "certificate", v.cert).await, 1, "[{l}]");
        // Once it ended, a renewal queues new work.
        w.s.task_cancel(a, first.id).await.unwrap();
        let next = w.s.cert_renew(a, v.cert).await.unwrap();
        assert_ne!(next.id, first.id, "[{l}]");
        w.s.task_cancel(a, next.id).await.unwrap();

        // Racing enqueuers: eight at once, one task.
        let mut handles = Vec::new();
        for _ in 0..8 {
            let (s, a, id) = (w.s.clone(), a.clone(), v.cert);
            handles.push(tokio::spawn(async move { s.cert_renew(&a, id).await.map(|t| t.id) }));
        }
        let mut ids = Vec::new();
        for h in handles {
            ids.push(h.await.unwrap().unwrap_or_else(|e| panic!("[{l}] racing renewal: {e}")));
        }
        ids.dedup();
        assert_eq!(ids.len(), 1, "[{l}] every racer got the same task: {ids:?}");
        assert_eq!(open_tasks(&w, obtain, "certificate", v.cert).await, 1, "[{l}]");
        // Retrying an ended renewal while another is open would double the work: refused.
        let e = w.s.task_retry(a, first.id).await.unwrap_err();
        assert!(
            matches!(&e, ServiceError::Conflict(m) if m.contains(&format!("task {} is open", ids[0]))),
            "[{l}] {e}"
        );
        assert_eq!(open_tasks(&w, obtain, "certificate", v.cert).await, 1, "[{l}]");

        // Deploys: one open deploy per deployment, whether it names the deployment or the
        // certificate (params.deployments); a deploy of several is narrowed to what is not queued.
        let srv2 = server(&w, a, "alice-web2").await;
        let d2 = deployment(&w, a, v.cert, srv2, "/etc/ssl/tasks-sec-alice2.pem", true).await;
        let one =
            w.s.task_enqueue(
                a,
                &TaskInput {
                    task_type: Some(TaskType::CertificateDeploy),
                    target_type: Some("deployment".into()),
                    target_id: Some(v.deployment),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let all = w.s.deploy_enqueue(a, v.cert, DeployTarget::All).await.unwrap();
        assert_ne!(all.id, one.id, "[{l}]");
        assert_eq!(
            all.params.as_ref().map(|p| p.0.clone()),
            Some(json!({"deployments": [d2]})),
            "[{l}] only the deployment not yet queued"
        );
        let same = w.s.deploy_enqueue(a, v.cert, DeployTarget::Server(srv2)).await.unwrap();
        assert_eq!(
            same.id, all.id,
            "[{l}] a deploy to a queued deployment returns its task"
        );
        let again = w.s.deploy_enqueue(a, v.cert, DeployTarget::All).await.unwrap();
        assert!([one.id, all.id].contains(&again.id), "[{l}] nothing new: {again:?}");
        let deploys = "'certificate_deploy'";
        assert_eq!(
            open_tasks(&w, deploys, "certificate", v.cert).await
                + open_tasks(&w, deploys, "deployment", v.deployment).await,
            2,
            "[{l}]"
        );

        // Server checks: one open check per server.
        let c1 =
            w.s.task_enqueue(
                a,
                &TaskInput {
                    task_type: Some(TaskType::ServerCheck),
                    target_id: Some(v.server),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let c2 =
            w.s.task_enqueue(
                a,
                &TaskInput {
                    task_type: Some(TaskType::ServerCheck),
                    target_id: Some(v.server),
                    priority: Some(9),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(c2.id, c1.id, "[{l}]");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn schedule_made_deploys_respect_the_open_deploy_of_a_face() {
    for t in common::both().await {
        let w = World::new(&t).await;
        let l = w.label;
        let a = &w.alice;
        let cert = certificate(&w, a, "sched.tasks-sec.test").await;
        let srv = server(&w, a, "sched-web").await;
        let dep = deployment(&w, a, cert, srv, "/etc/ssl/tasks-sec-sched.pem", true).await;
        // A deploy by hand names the certificate, with the deployment in params.
        let by_hand = w.s.deploy_enqueue(a, cert, DeployTarget::All).await.unwrap();
        assert_eq!(
            by_hand.params.as_ref().map(|p| p.0.clone()),
            Some(json!({"deployments": [dep]})),
            "[{l}]"
        );
        // The certificate check finds the deployment stale: it queues nothing new.
        let row =
            w.s.schedule_add(
                a,
                &ScheduleInput {
                    name: Some("certs".into()),
                    task_type: Some(certdeck::domain::ScheduleType::CertificateCheck),
                    cron_expression: Some("0 3 * * *".into()),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        w.s.schedule_run_now(a, row.id).await.unwrap();
        let fired = w.s.schedules_tick().await.unwrap();
        let mine = fired.iter().find(|f| f.schedule_id == row.id).unwrap();
        assert!(mine.ok, "[{l}] {mine:?}");
        assert_eq!(mine.details["deploys_queued"], json!(0), "[{l}] {mine:?}");
        assert_eq!(
            common::count(
                w.db(),
                "SELECT COUNT(*) FROM tasks WHERE task_type = 'certificate_deploy'"
            )
            .await,
            1,
            "[{l}] one deploy"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_waiting_task_says_which_task_holds_its_target() {
    for t in common::both().await {
        let w = World::new(&t).await;
        let l = w.label;
        let (v, _) = rows(&w).await;
        let a = &w.alice;
        // A renewal of the certificate runs on a worker that never finishes.
        let renew = w.s.cert_renew(a, v.cert).await.unwrap();
        assert!(queue::claim_task(w.db(), renew.id, "busy-worker", 3600)
            .await
            .unwrap()
            .is_some());
        let deploy = w.s.deploy_enqueue(a, v.cert, DeployTarget::All).await.unwrap();
        let step = w.s.task_wait_step(a, deploy.id, &Runners::builtin()).await.unwrap();
        match step {
            certdeck::service::tasks::WaitStep::Waiting(why) => assert!(
                why.contains(&format!(
                    "task {} waits for task {}, which works on the same certificate {} on worker busy-worker (lease until",
                    deploy.id, renew.id, v.cert
                )) && why.contains("no scheduler is running"),
                "[{l}] {why}"
            ),
            other => panic!("[{l}] {other:?}"),
        }
        assert_eq!(
            w.s.task_get(a, deploy.id).await.unwrap().task.status,
            TaskStatus::Pending,
            "[{l}] not run past the holder"
        );
        // The holder ended but its lock was left behind (a crash between the two writes): the
        // wait clears it and runs the deploy here.
        common::exec_with(
            w.db(),
            "UPDATE tasks SET status = 'failed', lease_expires_at = NULL WHERE id = ?",
            renew.id,
        )
        .await;
        let step = w.s.task_wait_step(a, deploy.id, &Runners::builtin()).await.unwrap();
        assert!(
            matches!(step, certdeck::service::tasks::WaitStep::Ran(_)),
            "[{l}] {step:?}"
        );
    }
}

// ------------------------------------------------------------------ §8: exhausted attempts

#[tokio::test(flavor = "multi_thread")]
async fn a_transient_failure_on_the_last_attempt_turns_the_certificate_error() {
    for t in common::both().await {
        let w = World::new(&t).await;
        let l = w.label;
        let a = &w.alice;
        // A's rows, her unreachable CA among them.
        let (v, _) = rows(&w).await;
        let (cert, task) =
            w.s.cert_request(
                a,
                &RequestInput {
                    domains: vec!["exhaust.tasks-sec.test".into()],
                    ..dead_ca_request()
                },
            )
            .await
            .unwrap();
        assert_eq!(cert.status, CertificateStatus::Pending, "[{l}]");
        let attempts = w.s.task_get(a, task.id).await.unwrap().queue.max_attempts;
        for n in 1..=attempts {
            // Due now (skip the backoff).
            common::exec_with(
                w.db(),
                "UPDATE tasks SET scheduled_at = '2000-01-01 00:00:00' WHERE id = ?",
                task.id,
            )
            .await;
            let r =
                w.s.task_run_here(a, task.id, &Runners::builtin())
                    .await
                    .unwrap()
                    .unwrap();
            let status = w.s.cert_get(a, cert.id).await.unwrap().status;
            if n < attempts {
                assert!(matches!(r, RunReport::Retrying(_)), "[{l}] attempt {n}: {r:?}");
                assert_eq!(status, CertificateStatus::Pending, "[{l}] attempt {n} of {attempts}");
            } else {
                assert!(
                    matches!(&r, RunReport::Failed(m) if m.contains(&format!("after {attempts} of {attempts} attempts"))),
                    "[{l}] {r:?}"
                );
                assert_eq!(
                    status,
                    CertificateStatus::Error,
                    "[{l}] exhausted: error, like a permanent failure"
                );
            }
        }
        // A renewal of a still valid certificate that exhausts its attempts leaves it issued.
        let renew = w.s.cert_renew(a, v.cert).await.unwrap();
        common::exec_with(w.db(), "UPDATE tasks SET max_attempts = 1 WHERE id = ?", renew.id).await;
        let r =
            w.s.task_run_here(a, renew.id, &Runners::builtin())
                .await
                .unwrap()
                .unwrap();
        assert!(matches!(r, RunReport::Failed(_)), "[{l}] {r:?}");
        assert_eq!(
            w.s.cert_get(a, v.cert).await.unwrap().status,
            CertificateStatus::Issued,
            "[{l}] still valid: stays issued"
        );
        assert_eq!(
            w.s.task_get(a, renew.id).await.unwrap().task.status,
            TaskStatus::Failed,
            "[{l}]"
        );

        // A worker lost on the last attempt (its lease ran out): the same end.
        let (lost, task) =
            w.s.cert_request(
                a,
                &RequestInput {
                    domains: vec!["lost.tasks-sec.test".into()],
                    ..dead_ca_request()
                },
            )
            .await
            .unwrap();
        common::exec_with(w.db(), "UPDATE tasks SET max_attempts = 1 WHERE id = ?", task.id).await;
        assert!(
            queue::claim_task(w.db(), task.id, "dies", 1).await.unwrap().is_some(),
            "[{l}]"
        );
        tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
        let reaped = w.s.task_reap().await.unwrap();
        assert!(
            reaped.iter().any(|r| r.task_id == task.id && !r.requeued),
            "[{l}] {reaped:?}"
        );
        assert_eq!(
            w.s.cert_get(a, lost.id).await.unwrap().status,
            CertificateStatus::Error,
            "[{l}] exhausted by a lost worker: error"
        );
    }
}

// ------------------------------------------------------------------ §8: the run-now CLI wait

fn certdeck(home: &std::path::Path, args: &[&str], stdin: Option<&str>, wait: &str) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_certdeck"));
    cmd.args(args)
        .env("CERTDECK_DATA_DIR", home.join("data"))
        .env("CERTDECK_CONFIG_DIR", home.join("config"))
        .env("CERTDECK_TASK_WAIT_SECONDS", wait)
        .env_remove("CERTDECK_DATABASE_URL")
        .env_remove("CERTDECK_API_KEY")
        .env_remove("CERTDECK_MASTER_KEY")
        .env_remove("CERTDECK_TESTKIT_COUNT_FILE");
    common::cli::output(&mut cmd, stdin)
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_now_command_says_what_it_waits_for_gives_up_and_leaves_no_duplicate() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    // First run: the admin's one-time password is replaced at the first login.
    let first = certdeck(h, &["server", "list"], None, "2");
    let one_time = common::cli::one_time_password(&text(&first));
    common::cli::first_login(&one_time, |args, stdin| certdeck(h, args, stdin, "2"));
    let add = certdeck(
        h,
        &[
            "server",
            "add",
            "127.0.0.1",
            "--port",
            "1",
            "--user",
            "deploy",
            "--password-stdin",
            "--json",
        ],
        Some("ssh-password\n"),
        "2",
    );
    assert!(add.status.success(), "{}", text(&add));
    let server: i64 = serde_json::from_slice::<Value>(&add.stdout).unwrap()["id"]
        .as_i64()
        .unwrap();
    let db = Db::connect(
        &format!("sqlite://{}", h.join("data/certdeck.db").display()),
        &PoolSettings::default(),
    )
    .await
    .unwrap();
    // A worker that died mid-check (no scheduler runs to notice): its check holds the server.
    let mut ghost = NewTask::system(TaskType::ServerCheck, 5, Some(("server", server)));
    ghost.max_attempts = 3;
    let ghost = queue::enqueue(&db, &ghost, None).await.unwrap();
    assert!(queue::claim_task(&db, ghost, "ghost-worker", 3600)
        .await
        .unwrap()
        .is_some());

    for _ in 0..2 {
        let started = std::time::Instant::now();
        let out = certdeck(h, &["server", "check", &server.to_string()], None, "2");
        let said = text(&out);
        assert!(!out.status.success(), "{said}");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "bounded: {said}"
        );
        assert!(
            said.contains(&format!(
                "waiting: task {ghost} is running on worker ghost-worker (lease until"
            )),
            "says what it waits for: {said}"
        );
        assert!(said.contains("no scheduler is running"), "{said}");
        assert!(said.contains("gave up after 2s"), "{said}");
        assert!(said.contains("CERTDECK_TASK_WAIT_SECONDS"), "{said}");
    }
    let checks: i64 = certdeck::on_db!(&db, p => sqlx::query_scalar(
        "SELECT COUNT(*) FROM tasks WHERE task_type = 'server_check' AND target_id = ?",
    ).bind(server).fetch_one(p).await)
    .unwrap();
    assert_eq!(
        checks, 1,
        "no duplicate work: the open check was returned, not queued again"
    );

    // The dead worker's lease runs out: the waiting command takes the task over and runs it.
    certdeck::on_db!(&db, p => sqlx::query("UPDATE tasks SET lease_expires_at = ? WHERE id = ?")
        .bind(certdeck::store::now() - chrono::Duration::seconds(5)).bind(ghost).execute(p).await.map(|_| ()))
    .unwrap();
    let out = certdeck(h, &["server", "check", &server.to_string()], None, "30");
    let said = text(&out);
    assert!(!said.contains("gave up"), "{said}");
    assert!(
        said.contains("127.0.0.1:1"),
        "it ran here and reached the (closed) port: {said}"
    );
    let (attempts, worker): (i32, Option<String>) = certdeck::on_db!(&db, p => sqlx::query_as(
        "SELECT attempts, locked_by FROM tasks WHERE id = ?",
    ).bind(ghost).fetch_one(p).await)
    .unwrap();
    assert_eq!(attempts, 2, "the dead worker's attempt, then this one");
    assert!(
        worker.is_some_and(|w| w.starts_with("here:")),
        "run in the command's process"
    );
    db.close().await;
}
