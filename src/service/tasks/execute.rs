//! The execution side the scheduler drives: claim, run a
//! [`TaskRunner`](crate::service::runner::TaskRunner) under a renewed,
//! fenced lease, and record the outcome with retries for transient failures only; run a task
//! here for a face that wants it now; return expired leases to the queue.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::health::HEARTBEAT_STALE_SECS;
use crate::domain::{LogLevel, TaskStatus, TaskType, UserStatus};
use crate::errors::{ServiceError, ServiceResult};
use crate::service::runner::{TaskContext, TaskFailure, TaskScope};
use crate::service::runners::{engine_of, Runners};
use crate::service::{Actor, Services, WorkerEvent};
use crate::store::queue::{self, Claimed, Lease, Outcome};
use crate::store::schedulers;
use crate::store::tasks::{self as store, TaskRow};

/// Timing of execution: lease length and retry backoff.
#[derive(Debug, Clone)]
pub struct ExecSettings {
    /// Lease length; renewed every third of it.
    pub lease: Duration,
    /// First retry delay; doubles per attempt, with ±20 % jitter.
    pub retry_base: Duration,
    /// Longest retry delay.
    pub retry_max: Duration,
}

impl Default for ExecSettings {
    fn default() -> Self {
        ExecSettings {
            lease: Duration::from_secs(60),
            retry_base: Duration::from_secs(10),
            retry_max: Duration::from_secs(3600),
        }
    }
}

impl ExecSettings {
    /// The delay before attempt `attempt + 1`: base × 2^(attempt−1), capped, ±20 % jitter, and
    /// never less than the peer's Retry-After.
    pub fn backoff(&self, attempt: i32, retry_after: Option<Duration>) -> Duration {
        let exp = self
            .retry_base
            .saturating_mul(1u32 << (attempt.clamp(1, 20) - 1) as u32);
        let capped = exp.min(self.retry_max);
        let jitter = 0.8 + rand::random::<f64>() * 0.4;
        let d = capped.mul_f64(jitter);
        retry_after.map_or(d, |r| d.max(r))
    }
}

/// What [`Services::task_wait_step`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaitStep {
    /// It ran here, with this outcome.
    Ran(RunReport),
    /// Another worker finished it (completed, failed or cancelled).
    Ended,
    /// Not runnable here yet: what it waits for, in words.
    Waiting(String),
}

/// How a claimed task's run ended, for the scheduler's log and counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunReport {
    /// Completed.
    Completed,
    /// Failed for good.
    Failed(String),
    /// Back in the queue after a transient failure.
    Retrying(String),
    /// Cancelled or lease lost: nothing recorded by this worker.
    Stopped,
}

impl Services {
    /// Claims the next due task for `worker`, if any.
    pub async fn task_claim(&self, worker: &str, exec: &ExecSettings) -> ServiceResult<Option<Claimed>> {
        Ok(queue::claim(self.db(), worker, exec.lease.as_secs().max(1) as i64).await?)
    }

    /// Claims up to `max` due tasks for `worker` in one transaction.
    pub async fn task_claim_batch(&self, worker: &str, exec: &ExecSettings, max: usize) -> ServiceResult<Vec<Claimed>> {
        Ok(queue::claim_batch(self.db(), worker, exec.lease.as_secs().max(1) as i64, max).await?)
    }

    /// Runs the given task in this process now, if it is due and no worker has it (a face that
    /// enqueued it and wants the result at once). `None`: another worker has it, or it is not due.
    pub async fn task_run_here(&self, actor: &Actor, id: i64, runners: &Runners) -> ServiceResult<Option<RunReport>> {
        actor.require_write("task.run")?;
        self.task_get(actor, id).await?;
        let exec = ExecSettings::default();
        let worker = format!("here:{}:{:08x}", std::process::id(), rand::random::<u32>());
        let Some(c) = queue::claim_task(self.db(), id, &worker, exec.lease.as_secs().max(1) as i64).await? else {
            return Ok(None);
        };
        Ok(Some(self.task_execute(c, runners, &exec).await?))
    }

    /// One step of a face waiting for a task it wants done now: runs it here when it can be
    /// claimed (due, its target free), else says what it waits for. A lease that ran out (its
    /// worker died, and maybe no scheduler runs to notice) is reaped first, so the task can run
    /// here. Call again after a pause while it returns [`WaitStep::Waiting`].
    pub async fn task_wait_step(&self, actor: &Actor, id: i64, runners: &Runners) -> ServiceResult<WaitStep> {
        actor.require_write("task.run")?;
        let d = self.task_get(actor, id).await?;
        let now = Utc::now();
        let expired = |t: Option<DateTime<Utc>>| t.is_some_and(|t| t < now);
        let holder = match (d.task.target_type.as_deref(), d.task.target_id) {
            (Some(tt), Some(tid)) => queue::target_holder(self.db(), tt, tid)
                .await?
                .filter(|h| h.task_id != id),
            _ => None,
        };
        let stale = (d.task.status == TaskStatus::Running && expired(d.queue.lease_expires_at))
            || holder
                .as_ref()
                .is_some_and(|h| h.status != "running" || expired(h.lease_expires_at));
        if stale {
            self.task_reap().await?;
        }
        if let Some(report) = self.task_run_here(actor, id, runners).await? {
            return Ok(WaitStep::Ran(report));
        }
        let d = self.task_get(actor, id).await?;
        if matches!(
            d.task.status,
            TaskStatus::Completed | TaskStatus::Failed | TaskStatus::Cancelled
        ) {
            return Ok(WaitStep::Ended);
        }
        let lease = |who: Option<&str>, until: Option<DateTime<Utc>>| {
            let who = who.unwrap_or("?");
            match until {
                Some(t) if t < now => format!("worker {who}, whose lease ran out at {} UTC", t.format("%H:%M:%S")),
                Some(t) => format!("worker {who} (lease until {} UTC)", t.format("%H:%M:%S")),
                None => format!("worker {who}"),
            }
        };
        let mut why = match (d.task.status, holder) {
            (TaskStatus::Running, _) => format!(
                "task {id} is running on {}",
                lease(d.queue.locked_by.as_deref(), d.queue.lease_expires_at)
            ),
            (_, _) if d.task.scheduled_at > now => format!(
                "task {id} is pending until {} UTC{}",
                d.task.scheduled_at.format("%H:%M:%S"),
                d.task
                    .error_message
                    .as_deref()
                    .map(|e| format!(" (retry after: {e})"))
                    .unwrap_or_default()
            ),
            (_, Some(h)) => format!(
                "task {id} waits for task {}, which works on the same {} {} on {}",
                h.task_id,
                d.task.target_type.as_deref().unwrap_or("target"),
                d.task.target_id.unwrap_or_default(),
                lease(h.locked_by.as_deref(), h.lease_expires_at)
            ),
            (_, None) => format!("task {id} is {} and not yet claimed", d.task.status),
        };
        let live = schedulers::list(self.db())
            .await?
            .iter()
            .filter(|s| {
                s.stopped_at.is_none() && now - s.heartbeat_at <= chrono::Duration::seconds(HEARTBEAT_STALE_SECS)
            })
            .count();
        if live == 0 {
            why.push_str("; no scheduler is running (`certdeck --serve-scheduler`)");
        }
        Ok(WaitStep::Waiting(why))
    }

    /// Runs a claimed task to its end: renews the lease while the runner works, and records the
    /// outcome (retrying transient failures with backoff while attempts remain).
    pub async fn task_execute(
        &self,
        claimed: Claimed,
        runners: &Runners,
        exec: &ExecSettings,
    ) -> ServiceResult<RunReport> {
        let lease = claimed.lease.clone();
        let task_type = claimed.task.task_type;
        let (attempt, max) = (claimed.attempt, claimed.max_attempts);
        let lost = Arc::new(AtomicBool::new(false));
        let heartbeat = {
            let (db, lease, lost) = (self.db().clone(), lease.clone(), lost.clone());
            let secs = exec.lease.as_secs().max(1) as i64;
            let every = (exec.lease / 3).max(Duration::from_millis(200));
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(every).await;
                    match queue::renew_lease(&db, &lease, secs).await {
                        Ok(true) => {}
                        Ok(false) => {
                            lost.store(true, Ordering::SeqCst);
                            break;
                        }
                        // A blip: the next beat tries again; the lease outlives two missed beats.
                        Err(e) => tracing::warn!(task = lease.task_id, "lease renewal failed: {e}"),
                    }
                }
            })
        };
        let mut ctx = TaskContext {
            svc: self.clone(),
            claimed,
            lost: lost.clone(),
            actor: None,
            scope: TaskScope::default(),
        };
        let result = match (runners.get(task_type), self.task_authorize(&ctx.claimed.task).await) {
            (_, Err(f)) => Err(f),
            (Some(r), Ok((actor, scope))) => {
                ctx.actor = actor;
                ctx.scope = scope;
                r.run(&ctx).await
            }
            (None, Ok(_)) => Err(TaskFailure::permanent(format!(
                "{task_type} is not available in this build: {} is not part of it yet",
                engine_of(task_type)
            ))),
        };
        heartbeat.abort();
        let (outcome, report) = match result {
            Ok(v) => (Some(Outcome::Completed(v)), RunReport::Completed),
            Err(TaskFailure::Stopped) => (None, RunReport::Stopped),
            Err(TaskFailure::Permanent(m)) => (Some(Outcome::Failed(m.clone())), RunReport::Failed(m)),
            Err(TaskFailure::Transient { message, retry_after }) if attempt < max => {
                let delay = exec.backoff(attempt, retry_after);
                let retry_at = Utc::now() + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::hours(1));
                let _ = queue::append_log(
                    self.db(),
                    &lease,
                    LogLevel::Warning,
                    &format!(
                        "attempt {attempt} of {max} failed: {message}; next attempt in {}s",
                        delay.as_secs()
                    ),
                    None,
                )
                .await;
                (
                    Some(Outcome::Retry {
                        error: message.clone(),
                        retry_at,
                    }),
                    RunReport::Retrying(message),
                )
            }
            Err(TaskFailure::Transient { message, .. }) => {
                let m = format!("{message} (after {attempt} of {max} attempts)");
                (Some(Outcome::Failed(m.clone())), RunReport::Failed(m))
            }
        };
        match outcome {
            Some(o) => {
                if let Outcome::Failed(m) = &o {
                    let _ = queue::append_log(self.db(), &lease, LogLevel::Error, m, None).await;
                }
                if !queue::finish(self.db(), &lease, &o).await? {
                    return Ok(RunReport::Stopped);
                }
            }
            None => {
                // Free our target lock; the row is someone else's now (or cancelled).
                queue::finish(self.db(), &lease, &Outcome::Failed(String::new())).await?;
            }
        }
        self.publish(WorkerEvent::Task(lease.task_id));
        Ok(report)
    }

    /// Whom a claimed task runs for and what it may touch: `created_by` loaded as an actor
    /// with its current role (an inactive or deleted creator fails the task), or the system
    /// when the task has no creator; then its target and the ids of its params, authorized
    /// through [`Services::task_scope`]. A refusal fails the task for good, before any work.
    async fn task_authorize(&self, task: &TaskRow) -> Result<(Option<Actor>, TaskScope), TaskFailure> {
        let actor = match task.created_by {
            None => None,
            Some(uid) => {
                let user = crate::store::users::get_user(self.db(), uid).await?.ok_or_else(|| {
                    TaskFailure::permanent(format!(
                        "refused: the user who queued this task (id {uid}) no longer exists; nothing was done"
                    ))
                })?;
                if user.status == UserStatus::Inactive {
                    return Err(TaskFailure::permanent(format!(
                        "refused: {}, who queued this task, is {}; nothing was done",
                        user.username, user.status
                    )));
                }
                Some(Actor {
                    user_id: user.id,
                    username: user.username,
                    role: user.role,
                    read_only: false,
                })
            }
        };
        let params = task.params.as_ref().map(|p| &p.0);
        let scope = self
            .task_scope(
                actor.as_ref(),
                task.task_type,
                task.target_type.as_deref(),
                task.target_id,
                params,
                false,
            )
            .await
            .map_err(|e| match (&e, &actor) {
                (
                    ServiceError::NotFound { .. } | ServiceError::Forbidden(_) | ServiceError::Validation { .. },
                    Some(a),
                ) => TaskFailure::permanent(format!(
                    "refused: {e} (checked for {}, who queued this task); nothing was done",
                    a.username
                )),
                (ServiceError::Validation { .. }, None) => TaskFailure::permanent(format!("refused: {e}")),
                _ => TaskFailure::from(e),
            })?;
        Ok((actor, scope))
    }

    /// Gives a running task back to the queue at once (graceful shutdown).
    pub async fn task_release(&self, lease: &Lease) -> ServiceResult<bool> {
        Ok(queue::release(self.db(), lease).await?)
    }

    /// Returns expired leases to the queue (see [`queue::reap_expired`]).
    ///
    /// An issuance or renewal whose worker was lost on its last attempt ends like any other
    /// final failure: the certificate turns `error` (a renewal of a still valid one stays
    /// `issued`) and its monitor records why.
    pub async fn task_reap(&self) -> ServiceResult<Vec<queue::Reaped>> {
        let reaped = queue::reap_expired(self.db(), 100).await?;
        for r in reaped.iter().filter(|r| !r.requeued) {
            let Some(task) = store::get_task(self.db(), r.task_id).await? else {
                continue;
            };
            let renewal = match task.task_type {
                TaskType::CertificateIssue => false,
                TaskType::CertificateRenew => true,
                _ => continue,
            };
            let (Some("certificate"), Some(id)) = (task.target_type.as_deref(), task.target_id) else {
                continue;
            };
            let Some(cert) = crate::store::certificates::get(self.db(), id).await? else {
                continue;
            };
            let why = task
                .error_message
                .unwrap_or_else(|| "its worker stopped answering".into());
            self.obtain_failed(&cert, renewal, &why).await?;
        }
        Ok(reaped)
    }
}

/// Runs one due task with `runners`, if there is one: the test entry point of the engine.
pub async fn step(
    svc: &Services,
    worker: &str,
    runners: &Runners,
    exec: &ExecSettings,
) -> ServiceResult<Option<(i64, RunReport)>> {
    let Some(c) = svc.task_claim(worker, exec).await? else {
        return Ok(None);
    };
    let id = c.task.id;
    let report = svc.task_execute(c, runners, exec).await?;
    Ok(Some((id, report)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_caps_and_respects_retry_after() {
        let e = ExecSettings {
            lease: Duration::from_secs(30),
            retry_base: Duration::from_secs(10),
            retry_max: Duration::from_secs(100),
        };
        for _ in 0..50 {
            let d1 = e.backoff(1, None).as_secs_f64();
            assert!((8.0..=12.0).contains(&d1), "{d1}");
            let d3 = e.backoff(3, None).as_secs_f64();
            assert!((32.0..=48.0).contains(&d3), "{d3}");
            let d9 = e.backoff(9, None).as_secs_f64();
            assert!((80.0..=120.0).contains(&d9), "capped: {d9}");
            assert!(e.backoff(1, Some(Duration::from_secs(300))) >= Duration::from_secs(300));
        }
    }
}
