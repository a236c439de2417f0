//! The runner contract: what a task type's [`TaskRunner`] implements, the [`TaskContext`] it
//! reports through (fenced by the task's lease), the [`TaskScope`] it may touch and the
//! [`TaskFailure`] it ends with. The registry of runners is [`super::runners::Runners`]; the
//! execution that drives them is in [`super::tasks`].

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::{Actor, Services, WorkerEvent};
use crate::domain::LogLevel;
use crate::errors::ServiceError;
use crate::store::queue::{self, Claimed, Lease};
use crate::store::tasks::TaskRow;

/// The ids a task works on beyond its target, read from its `params` and authorized for the
/// task's actor (see [`Services::task_enqueue`] and [`TaskContext::scope`]). Runners read ids
/// from here, never from the raw `params`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskScope {
    /// `params.monitor_ids` of a `monitor_check`.
    pub monitor_ids: Vec<i64>,
    /// `params.deployments` of a `certificate_deploy` on a certificate.
    pub deployment_ids: Vec<i64>,
}

/// Why a run did not complete.
#[derive(Debug, Clone)]
pub enum TaskFailure {
    /// Worth another attempt (network, timeout, 5xx, rate limit), after at least `retry_after`.
    Transient {
        /// What went wrong.
        message: String,
        /// The peer's Retry-After, if it gave one.
        retry_after: Option<Duration>,
    },
    /// Will fail again (authentication refused, CA rejection, invalid input): fail at once.
    Permanent(String),
    /// The task was cancelled or its lease was lost: stop without writing.
    Stopped,
}

impl TaskFailure {
    /// A transient failure without Retry-After.
    pub fn transient(message: impl Into<String>) -> Self {
        TaskFailure::Transient {
            message: message.into(),
            retry_after: None,
        }
    }

    /// A permanent failure.
    pub fn permanent(message: impl Into<String>) -> Self {
        TaskFailure::Permanent(message.into())
    }
}

impl From<sqlx::Error> for TaskFailure {
    fn from(e: sqlx::Error) -> Self {
        TaskFailure::transient(format!("database error: {e}"))
    }
}

impl From<ServiceError> for TaskFailure {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Remote(m) => TaskFailure::transient(m),
            other => TaskFailure::permanent(other.to_string()),
        }
    }
}

/// A boxed future of a runner.
pub type RunFuture<'a> = Pin<Box<dyn Future<Output = Result<Value, TaskFailure>> + Send + 'a>>;

/// The work of one task type. Runners report through the [`TaskContext`] and call
/// [`TaskContext::checkpoint`] between steps; every step must be safe to repeat (a run may be
/// retried after a crash).
pub trait TaskRunner: Send + Sync {
    /// Runs the task; `Ok(result)` completes it.
    fn run<'a>(&'a self, ctx: &'a TaskContext) -> RunFuture<'a>;
}

/// What a runner sees: the task, and fenced ways to report. Every report fails with
/// [`TaskFailure::Stopped`] once the task was cancelled or the lease lost.
pub struct TaskContext {
    pub(crate) svc: Services,
    pub(crate) claimed: Claimed,
    pub(crate) lost: Arc<AtomicBool>,
    pub(crate) actor: Option<Actor>,
    pub(crate) scope: TaskScope,
}

impl TaskContext {
    /// The task as claimed.
    pub fn task(&self) -> &TaskRow {
        &self.claimed.task
    }

    /// Whom the task runs for: its creator as the users table says now (role, status), or
    /// `None` for the system (schedule-made tasks), which may touch every row.
    pub fn actor(&self) -> Option<&Actor> {
        self.actor.as_ref()
    }

    /// The ids of the task's parameters, each authorized for [`TaskContext::actor`] before the
    /// runner started (its target too). Runners read ids from here, never from `params`.
    pub fn scope(&self) -> &TaskScope {
        &self.scope
    }

    /// This run's number, from 1.
    pub fn attempt(&self) -> i32 {
        self.claimed.attempt
    }

    /// Whether this is the last run the task is allowed (a failure now is final).
    pub fn is_last_attempt(&self) -> bool {
        self.claimed.attempt >= self.claimed.max_attempts
    }

    /// The services, for the runner's own work.
    pub fn services(&self) -> &Services {
        &self.svc
    }

    fn lease(&self) -> &Lease {
        &self.claimed.lease
    }

    fn stopped(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }

    /// Between steps: stops the run when the task was cancelled or the lease lost.
    pub async fn checkpoint(&self) -> Result<(), TaskFailure> {
        if self.stopped() || !queue::holds(self.svc.db(), self.lease()).await? {
            self.lost.store(true, Ordering::SeqCst);
            return Err(TaskFailure::Stopped);
        }
        Ok(())
    }

    /// Sets the progress (0–100).
    pub async fn progress(&self, pct: i32) -> Result<(), TaskFailure> {
        if self.stopped() || !queue::set_progress(self.svc.db(), self.lease(), pct).await? {
            self.lost.store(true, Ordering::SeqCst);
            return Err(TaskFailure::Stopped);
        }
        self.svc.publish(WorkerEvent::Task(self.lease().task_id));
        Ok(())
    }

    /// Appends a log line (never put secrets in `message` or `data`).
    pub async fn log(&self, level: LogLevel, message: &str, data: Option<Value>) -> Result<(), TaskFailure> {
        if self.stopped() || !queue::append_log(self.svc.db(), self.lease(), level, message, data.as_ref()).await? {
            self.lost.store(true, Ordering::SeqCst);
            return Err(TaskFailure::Stopped);
        }
        self.svc.publish(WorkerEvent::Task(self.lease().task_id));
        Ok(())
    }
}
