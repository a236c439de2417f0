//! The scheduler face: claims due tasks through the service layer and runs them with bounded
//! concurrency, reaps expired leases, and keeps a heartbeat row. Runs headless
//! (`certdeck --serve-scheduler`) or embedded in a console. Nothing below it knows it exists.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Mutex, Semaphore};
use tokio::task::JoinSet;

use crate::errors::ServiceResult;
use crate::service::tasks::{ExecSettings, RunReport, Runners};
use crate::service::views::Lease;
use crate::service::views::SchedulerInfo;
use crate::service::Services;

/// Monitors one `monitor_check` task covers.
pub const MONITORS_PER_TASK: usize = 100;

/// Most tasks one claim transaction takes.
const CLAIM_BATCH: usize = 8;

/// How a scheduler runs.
#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// This process's id: `<host>:<pid>:<random>` by default.
    pub worker_id: String,
    /// `daemon` or `embedded`.
    pub mode: String,
    /// Tasks run at once (default 2 × cores).
    pub concurrency: usize,
    /// Wait between polls of an empty queue.
    pub poll: Duration,
    /// Leases and retries.
    pub exec: ExecSettings,
    /// How often expired leases are reaped and the heartbeat written.
    pub housekeeping: Duration,
    /// How long running tasks may finish after shutdown is asked before they are given back.
    pub grace: Duration,
    /// Fire due cron schedules (off for pure worker processes).
    pub schedules: bool,
}

impl SchedulerConfig {
    /// Defaults for this machine, in `mode`.
    pub fn new(mode: &str) -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        SchedulerConfig {
            worker_id: default_worker_id(),
            mode: mode.to_string(),
            concurrency: 2 * cores,
            poll: Duration::from_millis(250),
            exec: ExecSettings::default(),
            housekeeping: Duration::from_secs(5),
            grace: Duration::from_secs(20),
            schedules: true,
        }
    }
}

/// `<host>:<pid>:<4 random hex bytes>`.
pub fn default_worker_id() -> String {
    let host = hostname();
    format!("{host}:{}:{:08x}", std::process::id(), rand::random::<u32>())
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into())
        .chars()
        .take(60)
        .collect()
}

/// Counters of a scheduler's life, for logs and tests.
#[derive(Debug, Default)]
pub struct Stats {
    /// Tasks claimed.
    pub claimed: AtomicU64,
    /// Completed.
    pub completed: AtomicU64,
    /// Failed for good.
    pub failed: AtomicU64,
    /// Put back for a retry.
    pub retried: AtomicU64,
    /// Cancelled or lease lost mid-run.
    pub stopped: AtomicU64,
    /// Given back at shutdown.
    pub released: AtomicU64,
    /// Claims that found nothing due (each followed by a poll wait).
    pub empty_claims: AtomicU64,
}

/// A scheduler over one database.
pub struct Scheduler {
    svc: Services,
    runners: Runners,
    cfg: SchedulerConfig,
    stats: Arc<Stats>,
}

impl Scheduler {
    /// A scheduler running `runners`.
    pub fn new(svc: Services, runners: Runners, cfg: SchedulerConfig) -> Self {
        Scheduler {
            svc,
            runners,
            cfg,
            stats: Arc::new(Stats::default()),
        }
    }

    /// Its counters.
    pub fn stats(&self) -> Arc<Stats> {
        self.stats.clone()
    }

    /// Its configuration.
    pub fn config(&self) -> &SchedulerConfig {
        &self.cfg
    }

    fn info(&self) -> SchedulerInfo {
        SchedulerInfo {
            worker_id: self.cfg.worker_id.clone(),
            hostname: hostname(),
            pid: std::process::id() as i32,
            mode: self.cfg.mode.clone(),
            concurrency: self.cfg.concurrency as i32,
        }
    }

    /// Runs until `shutdown` turns true: then stops claiming, lets running tasks finish for
    /// the grace period, gives the rest back to the queue, and marks itself stopped.
    pub async fn run(&self, mut shutdown: watch::Receiver<bool>) -> ServiceResult<()> {
        let info = self.info();
        self.svc.scheduler_beat(&info).await?;
        tracing::info!(worker = %self.cfg.worker_id, concurrency = self.cfg.concurrency, "scheduler started");
        let slots = Arc::new(Semaphore::new(self.cfg.concurrency.max(1)));
        let running: Arc<Mutex<Vec<Lease>>> = Arc::default();
        let mut jobs = JoinSet::new();
        // Heartbeat, reaping and cron run beside the claim loop, so a long cleanup never
        // stalls claiming.
        let housekeeping = {
            let (svc, every, schedules, mut stop) = (
                self.svc.clone(),
                self.cfg.housekeeping,
                self.cfg.schedules,
                shutdown.clone(),
            );
            // Monitors are queued only by a scheduler that can check them: without the TLS
            // probe every check would just fail "not available in this build".
            let monitors = schedules && self.runners.has(crate::domain::TaskType::MonitorCheck);
            let info = info.clone();
            tokio::spawn(async move {
                loop {
                    housekeeping(&svc, &info, schedules, monitors).await;
                    tokio::select! {
                        _ = tokio::time::sleep(every) => {}
                        _ = stop.changed() => if *stop.borrow() { break },
                    }
                }
            })
        };
        loop {
            if *shutdown.borrow() {
                break;
            }
            while jobs.try_join_next().is_some() {}
            let first = tokio::select! {
                p = slots.clone().acquire_owned() => p.expect("semaphore never closed"),
                _ = shutdown.changed() => continue,
            };
            // Claim for every free slot at once (one transaction), up to CLAIM_BATCH.
            let mut permits = vec![first];
            while permits.len() < CLAIM_BATCH {
                match slots.clone().try_acquire_owned() {
                    Ok(p) => permits.push(p),
                    Err(_) => break,
                }
            }
            let claimed = match self
                .svc
                .task_claim_batch(&self.cfg.worker_id, &self.cfg.exec, permits.len())
                .await
            {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!("claiming tasks failed: {e}");
                    Vec::new()
                }
            };
            if claimed.is_empty() {
                self.stats.empty_claims.fetch_add(1, Ordering::Relaxed);
                drop(permits);
                tokio::select! {
                    _ = tokio::time::sleep(self.cfg.poll) => {}
                    _ = shutdown.changed() => {}
                }
                continue;
            }
            permits.truncate(claimed.len());
            for (c, permit) in claimed.into_iter().zip(permits) {
                self.stats.claimed.fetch_add(1, Ordering::Relaxed);
                let (svc, runners, exec, stats, running) = (
                    self.svc.clone(),
                    self.runners.clone(),
                    self.cfg.exec.clone(),
                    self.stats.clone(),
                    running.clone(),
                );
                running.lock().await.push(c.lease.clone());
                jobs.spawn(async move {
                    let lease = c.lease.clone();
                    let (id, ty) = (c.task.id, c.task.task_type);
                    let report = svc.task_execute(c, &runners, &exec).await;
                    running.lock().await.retain(|l| l != &lease);
                    match report {
                        Ok(RunReport::Completed) => {
                            stats.completed.fetch_add(1, Ordering::Relaxed);
                            tracing::info!(task = id, r#type = %ty, "task completed");
                        }
                        Ok(RunReport::Failed(m)) => {
                            stats.failed.fetch_add(1, Ordering::Relaxed);
                            tracing::warn!(task = id, r#type = %ty, "task failed: {m}");
                        }
                        Ok(RunReport::Retrying(m)) => {
                            stats.retried.fetch_add(1, Ordering::Relaxed);
                            tracing::info!(task = id, r#type = %ty, "task will be retried: {m}");
                        }
                        Ok(RunReport::Stopped) => {
                            stats.stopped.fetch_add(1, Ordering::Relaxed);
                            tracing::info!(task = id, r#type = %ty, "task stopped (cancelled or lease lost)");
                        }
                        Err(e) => tracing::error!(task = id, "recording the task's outcome failed: {e}"),
                    }
                    drop(permit);
                });
            }
        }
        tracing::info!(worker = %self.cfg.worker_id, running = jobs.len(), "scheduler stopping");
        let _ = housekeeping.await;
        let drained = tokio::time::timeout(self.cfg.grace, async { while jobs.join_next().await.is_some() {} }).await;
        if drained.is_err() {
            jobs.abort_all();
            while jobs.join_next().await.is_some() {}
            for lease in running.lock().await.drain(..) {
                match self.svc.task_release(&lease).await {
                    Ok(true) => {
                        self.stats.released.fetch_add(1, Ordering::Relaxed);
                        tracing::info!(task = lease.task_id, "task given back to the queue");
                    }
                    Ok(false) => {}
                    Err(e) => tracing::warn!(
                        task = lease.task_id,
                        "giving the task back failed (its lease will expire): {e}"
                    ),
                }
            }
        }
        self.svc.scheduler_stopped(&self.cfg.worker_id).await?;
        tracing::info!(worker = %self.cfg.worker_id, "scheduler stopped");
        Ok(())
    }
}

/// One round of housekeeping: heartbeat, expired leases, due cron schedules.
async fn housekeeping(svc: &Services, info: &SchedulerInfo, schedules: bool, monitors: bool) {
    if let Err(e) = svc.scheduler_beat(info).await {
        tracing::warn!("scheduler heartbeat failed: {e}");
    }
    match svc.task_reap().await {
        Ok(reaped) => {
            for r in reaped {
                tracing::warn!(task = r.task_id, worker = ?r.worker, requeued = r.requeued, "reaped an expired lease");
            }
        }
        Err(e) => tracing::warn!("reaping expired leases failed: {e}"),
    }
    if schedules {
        if let Err(e) = svc.schedules_tick().await {
            tracing::warn!("firing due schedules failed: {e}");
        }
    }
    if monitors {
        match svc.monitors_tick(MONITORS_PER_TASK, 20).await {
            Ok(t) if !t.is_empty() => tracing::info!(tasks = t.len(), "queued due monitors"),
            Ok(_) => {}
            Err(e) => tracing::warn!("queueing due monitors failed: {e}"),
        }
        // Notifications of the alerts those checks open (the outbox survives restarts).
        match svc.outbox_run(100).await {
            Ok(r) if r.sent + r.retrying + r.failed > 0 => {
                tracing::info!(sent = r.sent, retrying = r.retrying, failed = r.failed, "notifications")
            }
            Ok(_) => {}
            Err(e) => tracing::warn!("sending notifications failed: {e}"),
        }
    }
}

/// The runners of this binary: the built-in engines, plus — only in a `testkit` build, when
/// `CERTDECK_TESTKIT_COUNT_FILE` is set — the counting test runner for every task type.
pub fn runners_for_this_build() -> Runners {
    #[cfg(feature = "testkit")]
    if let Some(r) = testkit::CountingRunner::from_env() {
        let r: Arc<dyn crate::service::tasks::TaskRunner> = Arc::new(r);
        let mut runners = Runners::builtin();
        for t in [
            crate::domain::TaskType::CertificateIssue,
            crate::domain::TaskType::CertificateRenew,
            crate::domain::TaskType::CertificateDeploy,
            crate::domain::TaskType::ServerCheck,
            crate::domain::TaskType::MonitorCheck,
        ] {
            runners = runners.with(t, r.clone());
        }
        return runners;
    }
    Runners::builtin()
}

#[cfg(feature = "testkit")]
pub mod testkit;
