//! Enqueuing: a task row (with its audit row), guarded enqueues that keep one open task per
//! target or deployment, guarded retries.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::AssertSqlSafe;

use crate::domain::TaskType;
use crate::on_db;
use crate::store::audit::{insert_in, NewAudit};
use crate::store::users::LastId;
use crate::store::{now, ts, Db};

use super::control::{RETRY_FROM, RETRY_SET};

/// A task to enqueue (validated by the service).
#[derive(Debug, Clone)]
pub struct NewTask {
    /// Type.
    pub task_type: TaskType,
    /// 1 (lowest) to 10 (highest).
    pub priority: i32,
    /// certificate, server, deployment or monitor.
    pub target_type: Option<String>,
    /// The target's id.
    pub target_id: Option<i64>,
    /// Parameters.
    pub params: Option<Value>,
    /// Not before.
    pub scheduled_at: DateTime<Utc>,
    /// Who asked (None: the system).
    pub created_by: Option<i64>,
    /// Runs allowed for transient failures, at least 1.
    pub max_attempts: i32,
}

impl NewTask {
    /// A system task due now: no owner, no parameters, 5 attempts.
    pub fn system(task_type: TaskType, priority: i32, target: Option<(&str, i64)>) -> Self {
        NewTask {
            task_type,
            priority,
            target_type: target.map(|t| t.0.to_string()),
            target_id: target.map(|t| t.1),
            params: None,
            scheduled_at: Utc::now(),
            created_by: None,
            max_attempts: 5,
        }
    }
}

const INSERT_TASK: &str =
    "INSERT INTO tasks (task_type, status, priority, target_type, target_id, params, scheduled_at, created_by, \
     max_attempts, created_at, updated_at) VALUES (?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?, ?)";

/// Inserts `$t` on the transaction `$tx` (with its audit row), evaluating to its id.
macro_rules! insert_task {
    ($tx:expr, $t:expr, $audit:expr) => {{
        let t: &NewTask = $t;
        let id = sqlx::query(INSERT_TASK)
            .bind(t.task_type.as_str())
            .bind(t.priority)
            .bind(&t.target_type)
            .bind(t.target_id)
            .bind(t.params.as_ref().map(|v| v.to_string()))
            .bind(ts(t.scheduled_at))
            .bind(t.created_by)
            .bind(t.max_attempts)
            .bind(now())
            .bind(now())
            .execute(&mut **$tx)
            .await?
            .last_id();
        if let Some(a) = $audit {
            let mut a: NewAudit = a.clone();
            a.resource_id = Some(id);
            insert_in!(&mut **$tx, &a);
        }
        id
    }};
}

/// Enqueues a task (with its audit row when given, in one transaction); returns its id.
pub async fn enqueue(db: &Db, t: &NewTask, audit: Option<&NewAudit>) -> Result<i64, sqlx::Error> {
    crate::in_tx!(db, tx => {
        let id = insert_task!(tx, t, audit);
        Ok::<i64, sqlx::Error>(id)
    })
}

/// The open tasks of a guard scope on the transaction `$tx`, with what each deploy covers.
macro_rules! open_tasks {
    ($tx:expr, $open_sql:expr, $key:expr) => {{
        const AUTO: &str =
            "SELECT id FROM certificate_deployments WHERE certificate_id = ? AND auto_deploy = TRUE ORDER BY id";
        type Open = (
            i64,
            String,
            String,
            Option<String>,
            Option<i64>,
            Option<sqlx::types::Json<Value>>,
        );
        let rows: Vec<Open> = sqlx::query_as($open_sql)
            .bind($key)
            .bind($key)
            .fetch_all(&mut **$tx)
            .await?;
        let mut auto: Option<Vec<i64>> = None;
        let mut open = Vec::new();
        for (id, ty, status, target_type, target_id, params) in rows {
            let Ok(task_type) = TaskType::try_from(ty) else {
                continue;
            };
            let mut covers = Vec::new();
            if task_type == TaskType::CertificateDeploy {
                if target_type.as_deref() == Some("deployment") {
                    covers.extend(target_id);
                } else {
                    let listed: Vec<i64> = params
                        .as_ref()
                        .and_then(|p| p.0.get("deployments"))
                        .and_then(|v| serde_json::from_value(v.clone()).ok())
                        .unwrap_or_default();
                    if listed.is_empty() {
                        if auto.is_none() {
                            auto = Some(sqlx::query_scalar(AUTO).bind($key).fetch_all(&mut **$tx).await?);
                        }
                        covers = auto.clone().unwrap_or_default();
                    } else {
                        covers = listed;
                    }
                }
            }
            open.push(OpenTask {
                id,
                task_type,
                running: status == "running",
                covers,
            });
        }
        open
    }};
}

/// An open (pending or running) task that may already do the work of one being queued, as the
/// open-task guard of [`enqueue_guarded`] sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenTask {
    /// Task id.
    pub id: i64,
    /// Type.
    pub task_type: TaskType,
    /// Running (else pending).
    pub running: bool,
    /// The deployments a deploy task works on (its target deployment, its
    /// `params.deployments`, or else the certificate's auto-deploy bindings); empty for others.
    pub covers: Vec<i64>,
}

/// What the guard's caller decided, seeing the open tasks.
#[derive(Debug, Clone, PartialEq)]
pub enum Guard {
    /// An open task already does the work: queue nothing.
    Existing(i64),
    /// Queue the task, with these parameters (the caller may narrow them).
    Insert(Option<Value>),
}

/// What [`enqueue_guarded`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enqueued {
    /// A new task.
    New(i64),
    /// The open task that already does the work.
    Existing(i64),
}

/// Whose open tasks the guard reads (and whose row it locks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuardScope {
    /// A certificate: its open issue, renewal and deploy tasks (also those on its deployments).
    Certificate(i64),
    /// A server: its open checks.
    Server(i64),
}

/// Enqueues `t` unless an open task already does its work: with the open tasks of `scope` in
/// hand, `decide` says which. Two racing enqueuers never both insert: MySQL locks the scope's
/// row (`FOR UPDATE`) before reading the open tasks, and SQLite's `BEGIN IMMEDIATE` admits one
/// writer at a time.
pub async fn enqueue_guarded(
    db: &Db,
    t: &NewTask,
    audit: Option<&NewAudit>,
    scope: GuardScope,
    decide: impl FnOnce(&[OpenTask]) -> Guard,
) -> Result<Enqueued, sqlx::Error> {
    let (lock, open_sql, key) = guard_sql(scope);
    let mut decide = Some(decide);
    crate::in_tx!(db, tx => {
        if matches!(db, Db::MySql(_)) {
            sqlx::query(lock).bind(key).fetch_optional(&mut **tx).await?;
        }
        let open = open_tasks!(tx, open_sql, key);
        let decide = decide.take().ok_or(sqlx::Error::RowNotFound)?;
        match decide(&open) {
            Guard::Existing(id) => Ok::<Enqueued, sqlx::Error>(Enqueued::Existing(id)),
            Guard::Insert(params) => {
                let t = NewTask { params, ..t.clone() };
                let id = insert_task!(tx, &t, audit);
                Ok(Enqueued::New(id))
            }
        }
    })
}

/// What [`retry_guarded`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retried {
    /// Back in the queue.
    Queued,
    /// Not failed or cancelled: nothing changed.
    NotRetryable,
    /// This open task already does the work: nothing changed.
    Open(i64),
}

/// [`retry`] under the open-task guard of [`enqueue_guarded`]: `conflict` names an open task of
/// `scope` that already does the work of task `id`, and then nothing changes.
pub async fn retry_guarded(
    db: &Db,
    id: i64,
    audit: &NewAudit,
    scope: GuardScope,
    conflict: impl FnOnce(&[OpenTask]) -> Option<i64>,
) -> Result<Retried, sqlx::Error> {
    let (lock, open_sql, key) = guard_sql(scope);
    let mut conflict = Some(conflict);
    let n = now();
    let sql = format!("UPDATE tasks SET {RETRY_SET} WHERE id = ? AND {RETRY_FROM}");
    crate::in_tx!(db, tx => {
        if matches!(db, Db::MySql(_)) {
            sqlx::query(lock).bind(key).fetch_optional(&mut **tx).await?;
        }
        let open = open_tasks!(tx, open_sql, key);
        let conflict = conflict.take().ok_or(sqlx::Error::RowNotFound)?;
        if let Some(other) = conflict(&open) {
            return Ok(Retried::Open(other));
        }
        let r = sqlx::query(AssertSqlSafe(sql.clone())).bind(n).bind(n).bind(id).execute(&mut **tx).await?.rows_affected();
        if r == 0 {
            return Ok(Retried::NotRetryable);
        }
        insert_in!(&mut **tx, audit);
        Ok::<Retried, sqlx::Error>(Retried::Queued)
    })
}

/// The lock statement, the open-task query (two binds of the key) and the key of a guard scope.
fn guard_sql(scope: GuardScope) -> (&'static str, &'static str, i64) {
    const OPEN_CERT: &str = "SELECT id, task_type, status, target_type, target_id, params FROM tasks \
        WHERE status IN ('pending', 'running') \
        AND task_type IN ('certificate_issue', 'certificate_renew', 'certificate_deploy') \
        AND ((target_type = 'certificate' AND target_id = ?) OR (target_type = 'deployment' AND target_id IN \
             (SELECT id FROM certificate_deployments WHERE certificate_id = ?))) ORDER BY id";
    const OPEN_SERVER: &str = "SELECT id, task_type, status, target_type, target_id, params FROM tasks \
        WHERE status IN ('pending', 'running') AND task_type = 'server_check' \
        AND target_type = 'server' AND target_id = ? AND target_id = ? ORDER BY id";
    match scope {
        GuardScope::Certificate(id) => ("SELECT id FROM certificates WHERE id = ? FOR UPDATE", OPEN_CERT, id),
        GuardScope::Server(id) => ("SELECT id FROM servers WHERE id = ? FOR UPDATE", OPEN_SERVER, id),
    }
}

/// The deployments of certificate `certificate_id` that a deploy without a list works on.
pub async fn auto_deployments(db: &Db, certificate_id: i64) -> Result<Vec<i64>, sqlx::Error> {
    on_db!(db, p => sqlx::query_scalar(
        "SELECT id FROM certificate_deployments WHERE certificate_id = ? AND auto_deploy = TRUE ORDER BY id",
    ).bind(certificate_id).fetch_all(p).await)
}
