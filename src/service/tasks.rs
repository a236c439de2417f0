//! Tasks: enqueueing with validation and ownership, the visible list, logs, cancel and retry;
//! and the execution side the scheduler drives — claim, run a [`TaskRunner`] under a renewed,
//! fenced lease, and record the outcome with retries for transient failures only.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{Actor, Services};
use crate::domain::{LogLevel, TaskStatus, TaskType, UserStatus};
use crate::errors::{ServiceError, ServiceResult};
use crate::store::audit::NewAudit;
use crate::store::queue::{self, Claimed, Enqueued, Guard, GuardScope, Lease, NewTask, Outcome, QueueState};
use crate::store::schedulers::{self, SchedulerInfo, SchedulerRow};
use crate::store::tasks::{self as store, TaskFilter, TaskLogRow, TaskRow};
use crate::store::Page;

/// What can be enqueued.
#[derive(Debug, Clone, Default)]
pub struct TaskInput {
    /// Type.
    pub task_type: Option<TaskType>,
    /// 1 (lowest) to 10 (highest); default 5.
    pub priority: Option<i32>,
    /// certificate, server, deployment or monitor.
    pub target_type: Option<String>,
    /// Target id.
    pub target_id: Option<i64>,
    /// Parameters (a JSON object).
    pub params: Option<Value>,
    /// Not before (default now).
    pub scheduled_at: Option<DateTime<Utc>>,
    /// Runs allowed for transient failures (1–20, default 5).
    pub max_attempts: Option<i32>,
}

/// A task with its queue state, for `task show`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TaskDetail {
    /// The row.
    #[serde(flatten)]
    pub task: TaskRow,
    /// Attempts and lease.
    #[serde(flatten)]
    pub queue: QueueState,
}

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

/// What a task wants done, for the one-open-task rule.
#[derive(Debug, Clone)]
enum Work {
    /// Issue or renew the certificate.
    Obtain,
    /// Check the server.
    Check,
    /// Deploy to these deployments.
    Deploy(Vec<i64>),
}

impl Work {
    /// The first open task that already does (some of) this work. A running deploy does not
    /// count: it may have read the certificate before a renewal that the new deploy is for.
    fn first_open(&self, open: &[queue::OpenTask]) -> Option<i64> {
        open.iter().find(|o| self.done_by(o)).map(|o| o.id)
    }

    /// Whether open task `o` does (some of) this work.
    fn done_by(&self, o: &queue::OpenTask) -> bool {
        match self {
            Work::Obtain => matches!(o.task_type, TaskType::CertificateIssue | TaskType::CertificateRenew),
            Work::Check => o.task_type == TaskType::ServerCheck,
            Work::Deploy(wants) => {
                o.task_type == TaskType::CertificateDeploy && !o.running && o.covers.iter().any(|c| wants.contains(c))
            }
        }
    }
}

/// At most this many ids in one parameter list.
const MAX_PARAM_IDS: usize = 1000;

/// The parameters a task type takes (a face may set no other): `target` is the kind of its
/// target.
fn params_of(t: TaskType, target: &str) -> &'static [&'static str] {
    match (t, target) {
        (TaskType::MonitorCheck, _) => &["monitor_ids"],
        (TaskType::CertificateDeploy, "certificate") => &["deployments"],
        _ => &[],
    }
}

/// The ids of list parameter `key`, without repeats (empty when absent).
fn param_ids(params: Option<&Value>, key: &str) -> ServiceResult<Vec<i64>> {
    let field = format!("params.{key}");
    let Some(v) = params.and_then(|p| p.get(key)) else {
        return Ok(Vec::new());
    };
    let ids: Vec<i64> =
        serde_json::from_value(v.clone()).map_err(|_| ServiceError::invalid(&field, "must be a list of ids"))?;
    if ids.len() > MAX_PARAM_IDS {
        return Err(ServiceError::invalid(&field, format!("at most {MAX_PARAM_IDS} ids")));
    }
    let mut out: Vec<i64> = Vec::with_capacity(ids.len());
    for id in ids {
        if !out.contains(&id) {
            out.push(id);
        }
    }
    Ok(out)
}

/// The target kind each task type works on.
fn target_kind(t: TaskType) -> &'static str {
    match t {
        TaskType::CertificateIssue | TaskType::CertificateRenew => "certificate",
        TaskType::CertificateDeploy => "deployment",
        TaskType::ServerCheck => "server",
        TaskType::MonitorCheck => "monitor",
    }
}

impl Services {
    /// Enqueues a task after checking its input and that the actor owns its target.
    pub async fn task_enqueue(&self, actor: &Actor, input: &TaskInput) -> ServiceResult<TaskRow> {
        let task_type = input
            .task_type
            .ok_or_else(|| ServiceError::invalid("task_type", "is required"))?;
        let priority = input.priority.unwrap_or(5);
        if !(1..=10).contains(&priority) {
            return Err(ServiceError::invalid("priority", "must be 1 (lowest) to 10 (highest)"));
        }
        let max_attempts = input.max_attempts.unwrap_or(5);
        if !(1..=20).contains(&max_attempts) {
            return Err(ServiceError::invalid("max_attempts", "must be 1 to 20"));
        }
        if let Some(p) = &input.params {
            if !p.is_object() {
                return Err(ServiceError::invalid("params", "must be a JSON object"));
            }
        }
        let kind = match (task_type, input.target_type.as_deref()) {
            // A deploy runs on one deployment, or on several of one certificate (params.deployments).
            (TaskType::CertificateDeploy, Some("certificate")) => "certificate",
            _ => target_kind(task_type),
        };
        if let Some(tt) = input.target_type.as_deref() {
            if tt != kind {
                return Err(ServiceError::invalid(
                    "target_type",
                    format!("a {task_type} task works on a {kind}, not a {tt}"),
                ));
            }
        }
        let target_id = input.target_id.ok_or_else(|| {
            ServiceError::invalid("target_id", format!("a {task_type} task needs the id of its {kind}"))
        })?;
        let scope = self
            .task_scope(
                Some(actor),
                task_type,
                Some(kind),
                Some(target_id),
                input.params.as_ref(),
                true,
            )
            .await?;
        let new = NewTask {
            task_type,
            priority,
            target_type: Some(kind.to_string()),
            target_id: Some(target_id),
            params: input.params.clone(),
            scheduled_at: input.scheduled_at.unwrap_or_else(Utc::now),
            created_by: Some(actor.user_id),
            max_attempts,
        };
        let audit = self.audit(
            Some(actor),
            "task.enqueue",
            "task",
            None,
            serde_json::json!({"type": task_type, "priority": priority, "target_type": kind, "target_id": target_id}),
        );
        let id = match self.task_enqueue_once(&new, &scope, Some(&audit)).await? {
            Enqueued::New(id) => {
                self.publish(super::WorkerEvent::Task(id));
                id
            }
            Enqueued::Existing(id) => id,
        };
        store::get_task(self.db(), id)
            .await?
            .ok_or_else(|| ServiceError::Internal(format!("task {id} vanished after enqueue")))
    }

    /// What a task may touch when it runs for `actor` (None: the system, which may touch every
    /// row): its target and every id its `params` name, each through the same `*_get(actor, id)`
    /// check the faces use. `strict` (at enqueue) also refuses parameters its type does not
    /// take; at run time those are ignored (no runner reads them).
    pub(crate) async fn task_scope(
        &self,
        actor: Option<&Actor>,
        task_type: TaskType,
        kind: Option<&str>,
        target_id: Option<i64>,
        params: Option<&Value>,
        strict: bool,
    ) -> ServiceResult<TaskScope> {
        let allowed = params_of(task_type, kind.unwrap_or(""));
        if strict {
            if let Some(obj) = params.and_then(Value::as_object) {
                if let Some(k) = obj.keys().find(|k| !allowed.contains(&k.as_str())) {
                    let takes = if allowed.is_empty() {
                        "it takes no parameters".to_string()
                    } else {
                        format!("it takes {}", allowed.join(", "))
                    };
                    return Err(ServiceError::invalid(
                        format!("params.{k}"),
                        format!("is not a parameter a {task_type} task accepts ({takes})"),
                    ));
                }
            }
        }
        let mut scope = TaskScope::default();
        if allowed.contains(&"monitor_ids") {
            scope.monitor_ids = param_ids(params, "monitor_ids")?;
        }
        if allowed.contains(&"deployments") {
            scope.deployment_ids = param_ids(params, "deployments")?;
        }
        let Some(actor) = actor else {
            return Ok(scope);
        };
        if let (Some(kind), Some(id)) = (kind, target_id) {
            match kind {
                "certificate" => drop(self.cert_get(actor, id).await?),
                "deployment" => drop(self.deployment_get(actor, id).await?),
                "server" => drop(self.server_get(actor, id).await?),
                "monitor" => drop(self.monitor_get(actor, id).await?),
                other => {
                    return Err(ServiceError::invalid(
                        "target_type",
                        format!("unknown target kind {other}"),
                    ))
                }
            }
        }
        for &id in &scope.monitor_ids {
            self.monitor_get(actor, id).await?;
        }
        for &id in &scope.deployment_ids {
            let d = self.deployment_get(actor, id).await?;
            if kind == Some("certificate") && target_id != Some(d.certificate_id) {
                return Err(ServiceError::invalid(
                    "params.deployments",
                    format!(
                        "deployment {id} belongs to certificate {}, not to certificate {}",
                        d.certificate_id,
                        target_id.unwrap_or_default()
                    ),
                ));
            }
        }
        Ok(scope)
    }

    /// The work a task does, for the one-open-task rule: whose open tasks to look at, and what
    /// it wants done there. `None`: the rule does not apply (monitor checks, no target).
    async fn task_work(
        &self,
        task_type: TaskType,
        target_type: Option<&str>,
        target_id: Option<i64>,
        deployment_ids: &[i64],
    ) -> ServiceResult<Option<(GuardScope, Work)>> {
        Ok(match (task_type, target_type, target_id) {
            (TaskType::CertificateIssue | TaskType::CertificateRenew, Some("certificate"), Some(c)) => {
                Some((GuardScope::Certificate(c), Work::Obtain))
            }
            (TaskType::CertificateDeploy, Some("certificate"), Some(c)) => {
                let wants = if deployment_ids.is_empty() {
                    queue::auto_deployments(self.db(), c).await?
                } else {
                    deployment_ids.to_vec()
                };
                Some((GuardScope::Certificate(c), Work::Deploy(wants)))
            }
            (TaskType::CertificateDeploy, Some("deployment"), Some(d)) => {
                crate::store::certificates::get_deployment(self.db(), d)
                    .await?
                    .map(|row| (GuardScope::Certificate(row.certificate_id), Work::Deploy(vec![d])))
            }
            (TaskType::ServerCheck, Some("server"), Some(s)) => Some((GuardScope::Server(s), Work::Check)),
            _ => None,
        })
    }

    /// Queues `new` unless an open task already does its work: one open issue or renewal per
    /// certificate, one open deploy per deployment (a deploy some of whose deployments are
    /// already queued is narrowed to the others), one open check per server. The check and the
    /// insert are one atomic step (see [`queue::enqueue_guarded`]); monitor checks are queued
    /// as they come.
    pub(crate) async fn task_enqueue_once(
        &self,
        new: &NewTask,
        scope: &TaskScope,
        audit: Option<&NewAudit>,
    ) -> ServiceResult<Enqueued> {
        let work = self
            .task_work(
                new.task_type,
                new.target_type.as_deref(),
                new.target_id,
                &scope.deployment_ids,
            )
            .await?;
        let Some((guard, work)) = work else {
            return Ok(Enqueued::New(queue::enqueue(self.db(), new, audit).await?));
        };
        let params = new.params.clone();
        Ok(queue::enqueue_guarded(self.db(), new, audit, guard, move |open| {
            let Work::Deploy(wants) = &work else {
                return match work.first_open(open) {
                    Some(id) => Guard::Existing(id),
                    None => Guard::Insert(params),
                };
            };
            let deploys: Vec<_> = open.iter().filter(|o| work.done_by(o)).collect();
            if let Some(o) = deploys.iter().find(|o| wants.iter().all(|w| o.covers.contains(w))) {
                return Guard::Existing(o.id);
            }
            let rest: Vec<i64> = wants
                .iter()
                .copied()
                .filter(|w| !deploys.iter().any(|o| o.covers.contains(w)))
                .collect();
            match work.first_open(open) {
                Some(id) if rest.is_empty() => Guard::Existing(id),
                Some(_) => Guard::Insert(Some(serde_json::json!({ "deployments": rest }))),
                None => Guard::Insert(params),
            }
        })
        .await?)
    }

    /// A task the actor may see (it created it or owns its target; admins all).
    pub async fn task_get(&self, actor: &Actor, id: i64) -> ServiceResult<TaskDetail> {
        let task = store::get_task(self.db(), id)
            .await?
            .ok_or_else(|| ServiceError::not_found("task", id))?;
        if !actor.is_admin() && !store::task_visible_to(self.db(), id, actor.user_id).await? {
            return Err(ServiceError::not_found("task", id));
        }
        let queue = queue::queue_state(self.db(), id)
            .await?
            .ok_or_else(|| ServiceError::not_found("task", id))?;
        Ok(TaskDetail { task, queue })
    }

    /// A page of the tasks the actor may see, newest first.
    pub async fn task_list(&self, actor: &Actor, filter: &TaskFilter, page: Page) -> ServiceResult<Vec<TaskRow>> {
        let mut f = filter.clone();
        if !actor.is_admin() {
            f.visible_to = Some(actor.user_id);
        }
        Ok(store::list_tasks(self.db(), &f, page).await?)
    }

    /// The log lines of a task after `after_id`, oldest first.
    pub async fn task_logs(&self, actor: &Actor, id: i64, after_id: i64, limit: i64) -> ServiceResult<Vec<TaskLogRow>> {
        self.task_get(actor, id).await?;
        Ok(store::task_logs(self.db(), id, after_id, limit).await?)
    }

    /// Cancels a pending task, or asks a running one to stop at its next step.
    pub async fn task_cancel(&self, actor: &Actor, id: i64) -> ServiceResult<TaskRow> {
        let before = self.task_get(actor, id).await?.task;
        let audit = self.audit(
            Some(actor),
            "task.cancel",
            "task",
            Some(id),
            serde_json::json!({"type": before.task_type, "status_before": before.status}),
        );
        if !queue::cancel(self.db(), id, &audit).await? {
            return Err(ServiceError::Conflict(format!(
                "task {id} is {}: only pending or running tasks can be cancelled",
                before.status
            )));
        }
        if before.status == TaskStatus::Running {
            queue::system_log(
                self.db(),
                id,
                LogLevel::Warning,
                &format!("cancelled by {}", actor.username),
            )
            .await?;
        }
        Ok(self.task_get(actor, id).await?.task)
    }

    /// Puts a failed or cancelled task back in the queue with fresh attempts.
    pub async fn task_retry(&self, actor: &Actor, id: i64) -> ServiceResult<TaskRow> {
        let before = self.task_get(actor, id).await?.task;
        let audit = self.audit(
            Some(actor),
            "task.retry",
            "task",
            Some(id),
            serde_json::json!({"type": before.task_type, "status_before": before.status}),
        );
        // One open task per target here too: a retry never doubles work that is queued again.
        let deployments = if before.target_type.as_deref() == Some("certificate") {
            param_ids(before.params.as_ref().map(|p| &p.0), "deployments").unwrap_or_default()
        } else {
            Vec::new()
        };
        let work = self
            .task_work(
                before.task_type,
                before.target_type.as_deref(),
                before.target_id,
                &deployments,
            )
            .await?;
        let retried = match work {
            None => {
                if queue::retry(self.db(), id, &audit).await? {
                    queue::Retried::Queued
                } else {
                    queue::Retried::NotRetryable
                }
            }
            Some((guard, work)) => {
                queue::retry_guarded(self.db(), id, &audit, guard, move |open| work.first_open(open)).await?
            }
        };
        match retried {
            queue::Retried::Queued => Ok(self.task_get(actor, id).await?.task),
            queue::Retried::NotRetryable => Err(ServiceError::Conflict(format!(
                "task {id} is {}: only failed or cancelled tasks can be retried",
                before.status
            ))),
            queue::Retried::Open(other) => Err(ServiceError::Conflict(format!(
                "task {other} is open and already does this work: follow it (`certdeck task show {other}`) instead of retrying task {id}"
            ))),
        }
    }
}

/// A scheduler is alive when its heartbeat is at most this old.
pub const HEARTBEAT_STALE_SECS: i64 = 60;
/// The queue is lagging when a due task waited longer than this.
pub const DUE_LAG_SECS: i64 = 300;

/// The verdict of `certdeck health` (also its exit code).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthLevel {
    /// Exit 0.
    Ok,
    /// Exit 1: working, but something needs a look.
    Degraded,
    /// Exit 2: no live scheduler.
    Down,
}

impl HealthLevel {
    /// The exit code for monitoring systems.
    pub fn exit_code(self) -> i32 {
        match self {
            HealthLevel::Ok => 0,
            HealthLevel::Degraded => 1,
            HealthLevel::Down => 2,
        }
    }
}

/// Scheduler liveness and queue state.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Health {
    /// Verdict.
    pub level: HealthLevel,
    /// Why, when not ok.
    pub reasons: Vec<String>,
    /// Schedulers with a fresh heartbeat.
    pub live_schedulers: usize,
    /// Every scheduler seen.
    pub schedulers: Vec<SchedulerRow>,
    /// Queue counts.
    pub queue: queue::QueueStats,
}

// ------------------------------------------------------------------ execution

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

/// The runners of this build, by task type. A type without a runner fails with a clear
/// "not available in this build" — never a fake success.
#[derive(Clone, Default)]
pub struct Runners {
    map: HashMap<TaskType, Arc<dyn TaskRunner>>,
}

impl Runners {
    /// The runners this build has (the engines arrive in later releases).
    pub fn builtin() -> Self {
        Runners::default()
            .with(TaskType::ServerCheck, Arc::new(super::discovery::ServerCheckRunner))
            .with(TaskType::CertificateDeploy, Arc::new(super::deploy::DeployRunner))
            .with(TaskType::CertificateIssue, Arc::new(super::acme::IssueRunner))
            .with(TaskType::CertificateRenew, Arc::new(super::acme::IssueRunner))
            .with(
                TaskType::MonitorCheck,
                Arc::new(super::monitor_check::MonitorCheckRunner),
            )
    }

    /// Sets the runner of a task type.
    pub fn with(mut self, t: TaskType, r: Arc<dyn TaskRunner>) -> Self {
        self.map.insert(t, r);
        self
    }

    /// Whether this build can run tasks of type `t`.
    pub fn has(&self, t: TaskType) -> bool {
        self.map.contains_key(&t)
    }

    fn get(&self, t: TaskType) -> Option<Arc<dyn TaskRunner>> {
        self.map.get(&t).cloned()
    }
}

/// The engine each task type needs, for the "not available" message.
fn engine_of(t: TaskType) -> &'static str {
    match t {
        TaskType::CertificateIssue | TaskType::CertificateRenew => "the ACME engine",
        TaskType::CertificateDeploy => "the SSH deploy engine",
        TaskType::ServerCheck => "the SSH server check",
        TaskType::MonitorCheck => "the TLS probe",
    }
}

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

/// What a runner sees: the task, and fenced ways to report. Every report fails with
/// [`TaskFailure::Stopped`] once the task was cancelled or the lease lost.
pub struct TaskContext {
    svc: Services,
    claimed: Claimed,
    lost: Arc<AtomicBool>,
    actor: Option<Actor>,
    scope: TaskScope,
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
        self.svc.publish(super::WorkerEvent::Task(self.lease().task_id));
        Ok(())
    }

    /// Appends a log line (never put secrets in `message` or `data`).
    pub async fn log(&self, level: LogLevel, message: &str, data: Option<Value>) -> Result<(), TaskFailure> {
        if self.stopped() || !queue::append_log(self.svc.db(), self.lease(), level, message, data.as_ref()).await? {
            self.lost.store(true, Ordering::SeqCst);
            return Err(TaskFailure::Stopped);
        }
        self.svc.publish(super::WorkerEvent::Task(self.lease().task_id));
        Ok(())
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
        self.publish(super::WorkerEvent::Task(lease.task_id));
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

    /// Records a scheduler's heartbeat.
    pub async fn scheduler_beat(&self, info: &SchedulerInfo) -> ServiceResult<()> {
        Ok(schedulers::beat(self.db(), info).await?)
    }

    /// Records a scheduler's clean stop.
    pub async fn scheduler_stopped(&self, worker_id: &str) -> ServiceResult<()> {
        Ok(schedulers::stopped(self.db(), worker_id).await?)
    }

    /// The schedulers seen on this database.
    pub async fn scheduler_list(&self, _actor: &Actor) -> ServiceResult<Vec<SchedulerRow>> {
        Ok(schedulers::list(self.db()).await?)
    }

    /// Scheduler liveness and queue state, with a verdict for monitoring systems. Needs no
    /// actor: it reveals counts only, to whoever can open the database.
    pub async fn health(&self) -> ServiceResult<Health> {
        let schedulers = schedulers::list(self.db()).await?;
        let queue = queue::stats(self.db()).await?;
        let now = Utc::now();
        let live = schedulers
            .iter()
            .filter(|s| {
                s.stopped_at.is_none() && now - s.heartbeat_at <= chrono::Duration::seconds(HEARTBEAT_STALE_SECS)
            })
            .count();
        let mut reasons = Vec::new();
        let mut level = HealthLevel::Ok;
        if live == 0 {
            level = HealthLevel::Down;
            reasons.push(format!(
                "no scheduler has sent a heartbeat in the last {HEARTBEAT_STALE_SECS}s: start `certdeck --serve-scheduler`"
            ));
        }
        let mut degraded = |r: String| {
            if level == HealthLevel::Ok {
                level = HealthLevel::Degraded;
            }
            reasons.push(r);
        };
        if let Some(t) = queue.oldest_due_at {
            let age = (now - t).num_seconds();
            if age > DUE_LAG_SECS {
                degraded(format!(
                    "the oldest due task has waited {age}s (more than {DUE_LAG_SECS}s)"
                ));
            }
        }
        if queue.expired_leases > 0 {
            degraded(format!(
                "{} running task(s) have an expired lease (a worker died)",
                queue.expired_leases
            ));
        }
        if queue.failed_24h > 0 {
            degraded(format!(
                "{} task(s) failed in the last 24 hours: `certdeck task list --status failed`",
                queue.failed_24h
            ));
        }
        Ok(Health {
            level,
            reasons,
            live_schedulers: live,
            schedulers,
            queue,
        })
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
