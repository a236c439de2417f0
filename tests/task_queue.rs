//! The task queue through the service layer on both backends: claim order, priorities, future
//! tasks, the per-target guard, cancel, transient retries with backoff, permanent failures,
//! missing engines, lease expiry with fencing, graceful release, bad input, and many workers
//! running every task exactly once.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use certdeck::domain::{LogLevel, TaskStatus, TaskType};
use certdeck::errors::ServiceError;
use certdeck::scheduler::{Scheduler, SchedulerConfig};
use certdeck::service::servers::ServerInput;
use certdeck::service::tasks::{
    step, ExecSettings, RunFuture, RunReport, Runners, TaskContext, TaskFailure, TaskInput, TaskRunner,
};
use certdeck::service::{Actor, Services};
use certdeck::store::queue::{self, Outcome};
use certdeck::store::tasks::get_task;
use certdeck::store::Db;
use chrono::{Duration as Secs, Utc};
use common::TestDb;
use serde_json::json;
use sqlx::AssertSqlSafe;

/// The common world (admin, alice, bob) plus three servers of alice.
struct World {
    s: Services,
    label: &'static str,
    admin: Actor,
    alice: Actor,
    bob: Actor,
    servers: Vec<i64>,
}

async fn world(t: &TestDb) -> World {
    let w = common::World::new(t).await;
    let mut servers = Vec::new();
    for i in 0..3 {
        let input = ServerInput {
            hostname: Some(format!("web{i}.example.com")),
            username: Some("deploy".into()),
            password: Some("ssh-password".into()),
            ..Default::default()
        };
        servers.push(w.s.server_create(&w.alice, &input).await.unwrap().id);
    }
    World {
        s: w.s,
        label: w.label,
        admin: w.admin,
        alice: w.alice,
        bob: w.bob,
        servers,
    }
}

fn check(target: i64, priority: i32) -> TaskInput {
    TaskInput {
        task_type: Some(TaskType::ServerCheck),
        priority: Some(priority),
        target_id: Some(target),
        ..Default::default()
    }
}

/// A server_check of `server` by `who`, written through the queue as it stores it (past the
/// service's parameter check and its one-open-check-per-server rule).
async fn raw(
    db: &Db,
    who: &Actor,
    server: i64,
    priority: i32,
    params: Option<serde_json::Value>,
    max_attempts: i32,
) -> certdeck::store::tasks::TaskRow {
    let id = queue::enqueue(
        db,
        &queue::NewTask {
            task_type: TaskType::ServerCheck,
            priority,
            target_type: Some("server".into()),
            target_id: Some(server),
            params,
            scheduled_at: Utc::now(),
            created_by: Some(who.user_id),
            max_attempts,
        },
        None,
    )
    .await
    .unwrap();
    get_task(db, id).await.unwrap().unwrap()
}

/// A server_check with the test runner's `params.mode` (no parameter a face may set).
async fn with_mode(
    db: &Db,
    who: &Actor,
    server: i64,
    mode: &str,
    max_attempts: i32,
) -> certdeck::store::tasks::TaskRow {
    raw(db, who, server, 5, Some(json!({ "mode": mode })), max_attempts).await
}

/// A second open check of one server.
async fn raw_check(db: &Db, who: &Actor, server: i64, priority: i32) -> certdeck::store::tasks::TaskRow {
    raw(db, who, server, priority, None, 5).await
}

/// Fast retries for tests.
fn exec() -> ExecSettings {
    ExecSettings {
        lease: Duration::from_secs(30),
        retry_base: Duration::from_secs(60),
        retry_max: Duration::from_secs(600),
    }
}

/// A runner that records which tasks ran and does what the task's params say.
#[derive(Default)]
struct Recorder {
    runs: Mutex<Vec<i64>>,
}

impl TaskRunner for Recorder {
    fn run<'a>(&'a self, ctx: &'a TaskContext) -> RunFuture<'a> {
        Box::pin(async move {
            self.runs.lock().unwrap().push(ctx.task().id);
            let p = ctx.task().params.as_ref().map(|p| p.0.clone()).unwrap_or_default();
            ctx.log(LogLevel::Info, "step 1", Some(json!({"attempt": ctx.attempt()})))
                .await?;
            ctx.progress(50).await?;
            match p.get("mode").and_then(|m| m.as_str()) {
                Some("transient") => Err(TaskFailure::Transient {
                    message: "connection reset by peer".into(),
                    retry_after: None,
                }),
                Some("permanent") => Err(TaskFailure::permanent("authentication refused")),
                _ => Ok(json!({"ok": true})),
            }
        })
    }
}

fn runners(r: &Arc<Recorder>) -> Runners {
    let r: Arc<dyn TaskRunner> = r.clone();
    Runners::builtin()
        .with(TaskType::ServerCheck, r.clone())
        .with(TaskType::MonitorCheck, r)
}

async fn count(db: &Db, sql: &str) -> i64 {
    certdeck::on_db!(db, p => sqlx::query_scalar::<_, i64>(AssertSqlSafe(sql.to_string())).fetch_one(p).await).unwrap()
}

async fn status(db: &Db, id: i64) -> TaskStatus {
    get_task(db, id).await.unwrap().unwrap().status
}

#[tokio::test(flavor = "multi_thread")]
async fn due_tasks_run_highest_priority_first_and_future_ones_wait() {
    for t in common::both().await {
        let w = world(&t).await;
        let l = w.label;
        let [a, b, c] = [w.servers[0], w.servers[1], w.servers[2]];
        let low = w.s.task_enqueue(&w.alice, &check(a, 2)).await.unwrap();
        let high = w.s.task_enqueue(&w.alice, &check(b, 9)).await.unwrap();
        let later =
            w.s.task_enqueue(
                &w.alice,
                &TaskInput {
                    scheduled_at: Some(Utc::now() + Secs::hours(1)),
                    ..check(c, 10)
                },
            )
            .await
            .unwrap();
        let rec = Arc::new(Recorder::default());
        let r = runners(&rec);
        let mut order = Vec::new();
        while let Some((id, report)) = step(&w.s, "w1", &r, &exec()).await.unwrap() {
            assert_eq!(report, RunReport::Completed, "[{l}]");
            order.push(id);
        }
        assert_eq!(
            order,
            vec![high.id, low.id],
            "[{l}] priority 9 before 2; the future task waits"
        );
        assert_eq!(status(&t.db, later.id).await, TaskStatus::Pending, "[{l}]");
        let done = get_task(&t.db, high.id).await.unwrap().unwrap();
        assert_eq!(done.progress, 100, "[{l}]");
        assert_eq!(done.result.unwrap().0, json!({"ok": true}), "[{l}]");
        assert!(done.started_at.is_some() && done.completed_at.is_some(), "[{l}]");
        let logs = w.s.task_logs(&w.alice, high.id, 0, 100).await.unwrap();
        assert_eq!(logs.len(), 1, "[{l}] {logs:?}");
        assert_eq!(logs[0].message, "step 1");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_is_refused_with_the_field_and_writes_nothing() {
    for t in common::both().await {
        let w = world(&t).await;
        let l = w.label;
        let before = count(&t.db, "SELECT COUNT(*) FROM tasks").await;
        for (input, field) in [
            (check(w.servers[0], 0), "priority"),
            (check(w.servers[0], 11), "priority"),
            (
                TaskInput {
                    task_type: None,
                    ..check(w.servers[0], 5)
                },
                "task_type",
            ),
            (
                TaskInput {
                    target_id: None,
                    ..check(w.servers[0], 5)
                },
                "target_id",
            ),
            (
                TaskInput {
                    target_type: Some("certificate".into()),
                    ..check(w.servers[0], 5)
                },
                "target_type",
            ),
            (
                TaskInput {
                    params: Some(json!([1, 2])),
                    ..check(w.servers[0], 5)
                },
                "params",
            ),
            (
                TaskInput {
                    max_attempts: Some(0),
                    ..check(w.servers[0], 5)
                },
                "max_attempts",
            ),
        ] {
            match w.s.task_enqueue(&w.alice, &input).await {
                Err(ServiceError::Validation { field: f, .. }) => assert_eq!(f, field, "[{l}]"),
                other => panic!("[{l}] {field}: expected a validation error, got {other:?}"),
            }
        }
        // Another user's server, and one that does not exist: not found.
        let e = w.s.task_enqueue(&w.bob, &check(w.servers[0], 5)).await.unwrap_err();
        assert!(matches!(e, ServiceError::NotFound { .. }), "[{l}] {e:?}");
        let e = w.s.task_enqueue(&w.admin, &check(999_999, 5)).await.unwrap_err();
        assert!(matches!(e, ServiceError::NotFound { .. }), "[{l}] {e:?}");
        // An unknown task type does not parse.
        assert!("certificate_frobnicate".parse::<TaskType>().is_err());
        assert_eq!(
            count(&t.db, "SELECT COUNT(*) FROM tasks").await,
            before,
            "[{l}] no row written"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn tasks_are_visible_to_their_owner_and_admins_only() {
    for t in common::both().await {
        let w = world(&t).await;
        let l = w.label;
        let task = w.s.task_enqueue(&w.alice, &check(w.servers[0], 5)).await.unwrap();
        assert!(w.s.task_get(&w.alice, task.id).await.is_ok(), "[{l}]");
        assert!(w.s.task_get(&w.admin, task.id).await.is_ok(), "[{l}]");
        assert!(
            matches!(w.s.task_get(&w.bob, task.id).await, Err(ServiceError::NotFound { .. })),
            "[{l}]"
        );
        assert!(
            w.s.task_cancel(&w.bob, task.id).await.is_err(),
            "[{l}] bob cannot cancel"
        );
        let f = Default::default();
        assert_eq!(
            w.s.task_list(&w.bob, &f, Default::default()).await.unwrap().len(),
            0,
            "[{l}]"
        );
        assert_eq!(
            w.s.task_list(&w.alice, &f, Default::default()).await.unwrap().len(),
            1,
            "[{l}]"
        );
        let audit = count(&t.db, "SELECT COUNT(*) FROM audit_logs WHERE action = 'task.enqueue'").await;
        assert_eq!(audit, 1, "[{l}] enqueue is audited");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn two_tasks_never_work_on_one_target_at_once() {
    for t in common::both().await {
        let w = world(&t).await;
        let l = w.label;
        // A face gets one open check per server (the second enqueue returns the first task):
        // two on one server are written as the queue stores them.
        let first = w.s.task_enqueue(&w.alice, &check(w.servers[0], 5)).await.unwrap();
        let again = w.s.task_enqueue(&w.alice, &check(w.servers[0], 9)).await.unwrap();
        assert_eq!(again.id, first.id, "[{l}] one open check per server");
        let second = raw_check(&t.db, &w.alice, w.servers[0], 9).await;
        let other = w.s.task_enqueue(&w.alice, &check(w.servers[1], 1)).await.unwrap();
        let c1 = w.s.task_claim("w1", &exec()).await.unwrap().unwrap();
        assert_eq!(c1.task.id, second.id, "[{l}] highest priority first");
        let c2 = w.s.task_claim("w2", &exec()).await.unwrap().unwrap();
        assert_eq!(
            c2.task.id, other.id,
            "[{l}] the same server is busy: the other server's task is next"
        );
        assert!(
            w.s.task_claim("w3", &exec()).await.unwrap().is_none(),
            "[{l}] first waits for its server"
        );
        queue::finish(&t.db, &c1.lease, &Outcome::Completed(json!({})))
            .await
            .unwrap();
        let c3 = w.s.task_claim("w3", &exec()).await.unwrap().unwrap();
        assert_eq!(c3.task.id, first.id, "[{l}] the server is free again");
        // A batch claim takes at most one task per target.
        for p in [3, 4, 5] {
            raw_check(&t.db, &w.alice, w.servers[2], p).await;
        }
        let batch = w.s.task_claim_batch("w4", &exec(), 8).await.unwrap();
        assert_eq!(batch.len(), 1, "[{l}] three tasks on one server: one claimed");
        assert_eq!(batch[0].task.priority, 5, "[{l}] the highest priority of them");
        assert_eq!(batch[0].attempt, 1, "[{l}]");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn cancel_stops_pending_and_running_tasks() {
    for t in common::both().await {
        let w = world(&t).await;
        let l = w.label;
        let pending = w.s.task_enqueue(&w.alice, &check(w.servers[0], 5)).await.unwrap();
        w.s.task_cancel(&w.alice, pending.id).await.unwrap();
        assert_eq!(status(&t.db, pending.id).await, TaskStatus::Cancelled, "[{l}]");
        let rec = Arc::new(Recorder::default());
        assert!(
            step(&w.s, "w1", &runners(&rec), &exec()).await.unwrap().is_none(),
            "[{l}] not claimed"
        );

        // A running task: cancelled between its steps, its later writes refused.
        let running = w.s.task_enqueue(&w.alice, &check(w.servers[1], 5)).await.unwrap();
        let c = w.s.task_claim("w1", &exec()).await.unwrap().unwrap();
        w.s.task_cancel(&w.alice, running.id).await.unwrap();
        assert!(
            !queue::append_log(&t.db, &c.lease, LogLevel::Info, "late", None)
                .await
                .unwrap(),
            "[{l}]"
        );
        assert!(!queue::set_progress(&t.db, &c.lease, 80).await.unwrap(), "[{l}]");
        let report = w.s.task_execute(c, &runners(&rec), &exec()).await.unwrap();
        assert_eq!(report, RunReport::Stopped, "[{l}]");
        assert_eq!(
            status(&t.db, running.id).await,
            TaskStatus::Cancelled,
            "[{l}] stays cancelled"
        );
        let e = w.s.task_cancel(&w.alice, running.id).await.unwrap_err();
        assert!(matches!(e, ServiceError::Conflict(_)), "[{l}] {e:?}");
        // Its server is free for the next task.
        let next = w.s.task_enqueue(&w.alice, &check(w.servers[1], 5)).await.unwrap();
        let (id, _) = step(&w.s, "w2", &runners(&rec), &exec()).await.unwrap().unwrap();
        assert_eq!(id, next.id, "[{l}]");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn transient_failures_retry_with_backoff_and_permanent_ones_fail_at_once() {
    for t in common::both().await {
        let w = world(&t).await;
        let l = w.label;
        let rec = Arc::new(Recorder::default());
        let r = runners(&rec);
        // The test runner's `mode` is no parameter a face may set: written as the queue stores it.
        let flaky = with_mode(&t.db, &w.alice, w.servers[0], "transient", 2).await;
        let (_, report) = step(&w.s, "w1", &r, &exec()).await.unwrap().unwrap();
        assert!(matches!(report, RunReport::Retrying(_)), "[{l}] {report:?}");
        let row = get_task(&t.db, flaky.id).await.unwrap().unwrap();
        assert_eq!(row.status, TaskStatus::Pending, "[{l}]");
        let wait = (row.scheduled_at - Utc::now()).num_seconds();
        assert!(
            (40..=75).contains(&wait),
            "[{l}] retry in about 60 s ± 20 %, got {wait}s"
        );
        assert_eq!(row.error_message.as_deref(), Some("connection reset by peer"), "[{l}]");
        assert!(
            step(&w.s, "w1", &r, &exec()).await.unwrap().is_none(),
            "[{l}] not due before its backoff"
        );

        // Due again: the second (last) attempt fails for good.
        certdeck::on_db!(&t.db, p => sqlx::query("UPDATE tasks SET scheduled_at = ? WHERE id = ?")
            .bind(certdeck::store::now() - Secs::seconds(1)).bind(flaky.id).execute(p).await.map(|_| ()))
        .unwrap();
        let (_, report) = step(&w.s, "w1", &r, &exec()).await.unwrap().unwrap();
        assert!(
            matches!(report, RunReport::Failed(ref m) if m.contains("after 2 of 2 attempts")),
            "[{l}] {report:?}"
        );
        let d = w.s.task_get(&w.alice, flaky.id).await.unwrap();
        assert_eq!((d.task.status, d.queue.attempts), (TaskStatus::Failed, 2), "[{l}]");

        // Permanent: one attempt, failed.
        let bad = with_mode(&t.db, &w.alice, w.servers[1], "permanent", 5).await;
        let (_, report) = step(&w.s, "w1", &r, &exec()).await.unwrap().unwrap();
        assert_eq!(report, RunReport::Failed("authentication refused".into()), "[{l}]");
        let d = w.s.task_get(&w.alice, bad.id).await.unwrap();
        assert_eq!((d.task.status, d.queue.attempts), (TaskStatus::Failed, 1), "[{l}]");
        assert_eq!(d.task.error_message.as_deref(), Some("authentication refused"), "[{l}]");

        // Retry by hand: pending again with fresh attempts, then it can run.
        w.s.task_retry(&w.alice, bad.id).await.unwrap();
        let d = w.s.task_get(&w.alice, bad.id).await.unwrap();
        assert_eq!((d.task.status, d.queue.attempts), (TaskStatus::Pending, 0), "[{l}]");
        assert!(
            w.s.task_retry(&w.alice, bad.id).await.is_err(),
            "[{l}] a pending task cannot be retried"
        );
        assert_eq!(rec.runs.lock().unwrap().len(), 3, "[{l}]");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_task_without_an_engine_in_this_build_fails_clearly() {
    for t in common::both().await {
        let w = world(&t).await;
        let l = w.label;
        let task = w.s.task_enqueue(&w.alice, &check(w.servers[0], 5)).await.unwrap();
        let (_, report) = step(&w.s, "w1", &Runners::default(), &exec()).await.unwrap().unwrap();
        let RunReport::Failed(m) = report else {
            panic!("[{l}] {report:?}")
        };
        assert!(m.contains("not available in this build"), "[{l}] {m}");
        let d = w.s.task_get(&w.alice, task.id).await.unwrap();
        assert_eq!(
            (d.task.status, d.queue.attempts),
            (TaskStatus::Failed, 1),
            "[{l}] never a fake success"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_lease_returns_the_task_and_fences_the_old_worker() {
    for t in common::both().await {
        let w = world(&t).await;
        let l = w.label;
        let task = w.s.task_enqueue(&w.alice, &check(w.servers[0], 5)).await.unwrap();
        // Worker "dead" claims with a 1-second lease and never renews it.
        let dead = queue::claim(&t.db, "dead", 1).await.unwrap().unwrap();
        assert!(w.s.task_reap().await.unwrap().is_empty(), "[{l}] not expired yet");
        tokio::time::sleep(Duration::from_millis(2100)).await;
        let reaped = w.s.task_reap().await.unwrap();
        assert_eq!(reaped.len(), 1, "[{l}]");
        assert!(reaped[0].requeued, "[{l}]");
        assert_eq!(status(&t.db, task.id).await, TaskStatus::Pending, "[{l}]");
        // Another worker takes it over; the dead one's late writes change nothing.
        let rec = Arc::new(Recorder::default());
        let (id, report) = step(&w.s, "alive", &runners(&rec), &exec()).await.unwrap().unwrap();
        assert_eq!((id, report), (task.id, RunReport::Completed), "[{l}]");
        assert!(
            !queue::finish(&t.db, &dead.lease, &Outcome::Failed("late".into()))
                .await
                .unwrap(),
            "[{l}]"
        );
        assert!(!queue::renew_lease(&t.db, &dead.lease, 60).await.unwrap(), "[{l}]");
        let d = w.s.task_get(&w.alice, task.id).await.unwrap();
        assert_eq!((d.task.status, d.queue.attempts), (TaskStatus::Completed, 2), "[{l}]");
        assert_eq!(d.queue.locked_by.as_deref(), Some("alive"), "[{l}]");
        let logs = w.s.task_logs(&w.alice, task.id, 0, 100).await.unwrap();
        assert!(
            logs.iter().any(|x| x.message.contains("lease of worker dead expired")),
            "[{l}] {logs:?}"
        );
    }
}

/// Counts executions per task and sleeps a little, to overlap workers.
#[derive(Default)]
struct Counter {
    runs: Mutex<HashMap<i64, usize>>,
    total: AtomicUsize,
}

impl TaskRunner for Counter {
    fn run<'a>(&'a self, ctx: &'a TaskContext) -> RunFuture<'a> {
        Box::pin(async move {
            ctx.checkpoint().await?;
            tokio::time::sleep(Duration::from_millis(2)).await;
            *self.runs.lock().unwrap().entry(ctx.task().id).or_default() += 1;
            self.total.fetch_add(1, Ordering::SeqCst);
            Ok(json!({}))
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_schedulers_run_every_task_exactly_once() {
    for t in common::both().await {
        let w = world(&t).await;
        let l = w.label;
        const N: usize = 300;
        for i in 0..N {
            queue::enqueue(
                &t.db,
                &queue::NewTask::system(TaskType::MonitorCheck, (i % 10) as i32 + 1, None),
                None,
            )
            .await
            .unwrap();
        }
        // Only the queued tasks count: the world's own monitors are not due meanwhile.
        common::exec(&t.db, "UPDATE monitors SET is_active = FALSE").await;
        let counter = Arc::new(Counter::default());
        let r: Arc<dyn TaskRunner> = counter.clone();
        let (tx, rx) = tokio::sync::watch::channel(false);
        let mut handles = Vec::new();
        for n in 0..3 {
            let mut cfg = SchedulerConfig::new("embedded");
            cfg.worker_id = format!("test-{n}");
            cfg.concurrency = 4;
            cfg.poll = Duration::from_millis(20);
            let sched = Scheduler::new(
                w.s.clone(),
                Runners::builtin().with(TaskType::MonitorCheck, r.clone()),
                cfg,
            );
            let rx = rx.clone();
            handles.push(tokio::spawn(async move { sched.run(rx).await }));
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
        while counter.total.load(Ordering::SeqCst) < N && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tx.send(true).unwrap();
        for h in handles {
            h.await.unwrap().unwrap();
        }
        let runs = counter.runs.lock().unwrap().clone();
        assert_eq!(runs.len(), N, "[{l}] every task ran");
        assert!(
            runs.values().all(|&n| n == 1),
            "[{l}] some task ran twice: {:?}",
            runs.iter().filter(|(_, &n)| n > 1).collect::<Vec<_>>()
        );
        assert_eq!(
            count(&t.db, "SELECT COUNT(*) FROM tasks WHERE status = 'completed'").await,
            N as i64,
            "[{l}]"
        );
        let stopped = count(
            &t.db,
            "SELECT COUNT(*) FROM certdeck_schedulers WHERE stopped_at IS NOT NULL",
        )
        .await;
        assert_eq!(stopped, 3, "[{l}] every scheduler marked its clean stop");
    }
}
