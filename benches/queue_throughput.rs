//! Task queue throughput and latency: no-op tasks through claim → run → complete, with 1 and 3
//! scheduler processes on MariaDB and 1 on SQLite; and the delay from "due" to "started" on an
//! idle queue (in-process, Instant-based: DATETIME columns have 1-second resolution).
//!
//! ```text
//! scripts/testbed up && eval "$(scripts/testbed env)"
//! cargo bench --bench queue_throughput
//! CERTDECK_BENCH_TASKS=5000 cargo bench --bench queue_throughput
//! ```
//!
//! Worker processes are this binary again (`CERTDECK_BENCH_WORKER=<url>`), each a real
//! `Scheduler` with the default concurrency (2 × cores) and a runner that does nothing.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use certdeck::crypto::{Keyring, MasterKey};
use certdeck::domain::TaskType;
use certdeck::scheduler::{Scheduler, SchedulerConfig};
use certdeck::service::tasks::{RunFuture, Runners, TaskContext, TaskRunner};
use certdeck::service::{ClientInfo, Services};
use certdeck::store::queue::{self, NewTask};
use certdeck::store::{migrate, Db, PoolSettings};
use sqlx::AssertSqlSafe;

struct NoOp {
    done: Arc<AtomicUsize>,
    started: Arc<Mutex<Vec<(i64, Instant)>>>,
}

impl TaskRunner for NoOp {
    fn run<'a>(&'a self, ctx: &'a TaskContext) -> RunFuture<'a> {
        Box::pin(async move {
            self.started.lock().unwrap().push((ctx.task().id, Instant::now()));
            self.done.fetch_add(1, Ordering::SeqCst);
            Ok(serde_json::json!({}))
        })
    }
}

fn services(db: &Db) -> Services {
    Services::new(
        db.clone(),
        Keyring::single(MasterKey::generate()),
        ClientInfo::default(),
    )
}

fn scheduler(db: &Db, poll: Duration, runner: Arc<NoOp>) -> Scheduler {
    let mut cfg = SchedulerConfig::new("embedded");
    cfg.poll = poll;
    cfg.schedules = false;
    let r: Arc<dyn TaskRunner> = runner;
    Scheduler::new(services(db), Runners::builtin().with(TaskType::MonitorCheck, r), cfg)
}

async fn scalar(db: &Db, sql: &str) -> i64 {
    certdeck::on_db!(db, p => sqlx::query_scalar::<_, i64>(AssertSqlSafe(sql.to_string())).fetch_one(p).await).unwrap()
}

async fn enqueue(db: &Db, n: usize) {
    for i in 0..n {
        let t = NewTask::system(TaskType::MonitorCheck, (i % 10) as i32 + 1, None);
        queue::enqueue(db, &t, None).await.unwrap();
    }
}

/// Worker mode: run a scheduler until the queue has nothing pending or running.
async fn worker(url: &str) {
    let db = Db::connect(
        url,
        &PoolSettings {
            max_connections: 10,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let runner = Arc::new(NoOp {
        done: Arc::default(),
        started: Arc::default(),
    });
    let s = scheduler(&db, Duration::from_millis(50), runner.clone());
    let stats = s.stats();
    let (tx, rx) = tokio::sync::watch::channel(false);
    let run = tokio::spawn(async move { s.run(rx).await });
    // Wait for the go signal (tasks are enqueued before workers start), then until drained.
    loop {
        tokio::time::sleep(Duration::from_millis(20)).await;
        if scalar(&db, "SELECT COUNT(*) FROM tasks WHERE status IN ('pending', 'running')").await == 0 {
            break;
        }
    }
    tx.send(true).unwrap();
    run.await.unwrap().unwrap();
    eprintln!(
        "worker {}: {} done, {} empty claims",
        std::process::id(),
        runner.done.load(Ordering::SeqCst),
        stats.empty_claims.load(Ordering::Relaxed)
    );
    println!("{}", runner.done.load(Ordering::SeqCst));
}

async fn fresh(url_base: &str, name: &str) -> (Db, String) {
    if url_base.starts_with("mysql") {
        let Db::MySql(p) = Db::connect(url_base, &PoolSettings::default()).await.unwrap() else {
            unreachable!()
        };
        sqlx::query(AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name}")))
            .execute(&p)
            .await
            .unwrap();
        sqlx::query(AssertSqlSafe(format!(
            "CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
        )))
        .execute(&p)
        .await
        .unwrap();
        p.close().await;
        let url = format!("{url_base}/{name}");
        let db = Db::connect(&url, &PoolSettings::default()).await.unwrap();
        migrate::migrate(&db).await.unwrap();
        (db, url)
    } else {
        let url = format!("sqlite://{url_base}/{name}.db");
        let db = Db::connect(&url, &PoolSettings::default()).await.unwrap();
        migrate::migrate(&db).await.unwrap();
        (db, url)
    }
}

/// Throughput with `procs` worker processes; returns tasks per second.
async fn throughput(url_base: &str, name: &str, procs: usize, tasks: usize) -> f64 {
    let (db, url) = fresh(url_base, name).await;
    enqueue(&db, tasks).await;
    let exe = std::env::current_exe().unwrap();
    let t0 = Instant::now();
    let children: Vec<_> = (0..procs)
        .map(|_| {
            std::process::Command::new(&exe)
                .env("CERTDECK_BENCH_WORKER", &url)
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut per_proc = Vec::new();
    for c in children {
        let out = c.wait_with_output().unwrap();
        per_proc.push(String::from_utf8_lossy(&out.stdout).trim().to_string());
    }
    let secs = t0.elapsed().as_secs_f64();
    let completed = scalar(&db, "SELECT COUNT(*) FROM tasks WHERE status = 'completed'").await;
    assert_eq!(completed as usize, tasks, "every task completed");
    let rate = tasks as f64 / secs;
    println!(
        "  {procs} process(es): {tasks} tasks in {secs:.2} s = {rate:.0} tasks/s (per process: {})",
        per_proc.join(", ")
    );
    db.close().await;
    rate
}

/// Due-to-start latency on an idle queue with the default poll interval.
async fn latency(url_base: &str, name: &str, samples: usize) {
    let (db, _) = fresh(url_base, name).await;
    let runner = Arc::new(NoOp {
        done: Arc::default(),
        started: Arc::default(),
    });
    let s = scheduler(&db, SchedulerConfig::new("embedded").poll, runner.clone());
    let (tx, rx) = tokio::sync::watch::channel(false);
    let run = tokio::spawn(async move { s.run(rx).await });
    let mut lat = Vec::new();
    for i in 0..samples {
        // Spread enqueues over the poll cycle.
        tokio::time::sleep(Duration::from_millis(97 + (i as u64 * 37) % 200)).await;
        let t0 = Instant::now();
        enqueue(&db, 1).await;
        loop {
            if runner.done.load(Ordering::SeqCst) > i {
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let started = runner.started.lock().unwrap().last().unwrap().1;
        lat.push(started.duration_since(t0).as_secs_f64() * 1000.0);
    }
    tx.send(true).unwrap();
    run.await.unwrap().unwrap();
    lat.sort_by(f64::total_cmp);
    let q = |p: f64| lat[((lat.len() - 1) as f64 * p).round() as usize];
    println!(
        "  due → started, idle queue, {samples} samples (ms): median {:.1}, p95 {:.1}, p99 {:.1}, max {:.1}",
        q(0.5),
        q(0.95),
        q(0.99),
        lat[lat.len() - 1]
    );
    db.close().await;
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    if let Ok(url) = std::env::var("CERTDECK_BENCH_WORKER") {
        // Claim errors and lock waits show up here (stderr of the bench run).
        let _ = tracing_subscriber::fmt()
            .with_env_filter("warn")
            .with_writer(std::io::stderr)
            .try_init();
        worker(&url).await;
        return;
    }
    let tasks: usize = std::env::var("CERTDECK_BENCH_TASKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000);
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    println!(
        "queue throughput: {tasks} no-op tasks, worker concurrency {} per process ({cores} cores)",
        2 * cores
    );
    match std::env::var("CERTDECK_TEST_MYSQL_URL").ok().filter(|u| !u.is_empty()) {
        Some(url) => {
            let url = url.trim_end_matches('/').to_string();
            let Db::MySql(p) = Db::connect(&url, &PoolSettings::default()).await.unwrap() else { unreachable!() };
            let (flush, pool): (String, String) = sqlx::query_as(
                "SELECT CAST(@@innodb_flush_log_at_trx_commit AS CHAR), CAST(@@innodb_buffer_pool_size AS CHAR)",
            )
            .fetch_one(&p)
            .await
            .unwrap();
            let version: String = sqlx::query_scalar("SELECT VERSION()").fetch_one(&p).await.unwrap();
            p.close().await;
            println!(
                "MariaDB {version}: innodb_flush_log_at_trx_commit={flush}, innodb_buffer_pool_size={} MiB",
                pool.parse::<u64>().unwrap_or(0) / (1024 * 1024)
            );
            throughput(&url, "certdeck_t_bench_q1", 1, tasks).await;
            throughput(&url, "certdeck_t_bench_q3", 3, tasks).await;
            latency(&url, "certdeck_t_bench_lat", 100).await;
        }
        None => println!("MariaDB: CERTDECK_TEST_MYSQL_URL is not set (scripts/testbed up; eval \"$(scripts/testbed env)\"); skipped"),
    }
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().display().to_string();
    println!("SQLite (WAL, {base}):");
    throughput(&base, "q1", 1, tasks).await;
    latency(&base, "lat", 100).await;
}
