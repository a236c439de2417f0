//! Enqueueing with validation and ownership (one open task per target and work), the visible
//! list, logs, cancel and retry.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::domain::{LogLevel, TaskStatus, TaskType};
use crate::errors::{ServiceError, ServiceResult};
use crate::service::runner::TaskScope;
use crate::service::{Actor, Services, WorkerEvent};
use crate::store::audit::NewAudit;
use crate::store::queue::{self, Enqueued, Guard, GuardScope, NewTask, QueueState};
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
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct TaskDetail {
    /// The row.
    #[serde(flatten)]
    pub task: TaskRow,
    /// Attempts and lease.
    #[serde(flatten)]
    pub queue: QueueState,
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
        actor.require_write("task.enqueue")?;
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
        )?;
        let id = match self.task_enqueue_once(&new, &scope, Some(&audit)).await? {
            Enqueued::New(id) => {
                self.publish(WorkerEvent::Task(id));
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
        )?;
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
        )?;
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
