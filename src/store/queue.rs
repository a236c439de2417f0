//! The task queue on `tasks` (V8 columns): enqueue, atomic claim with a lease, fenced progress /
//! log / completion writes, lease renewal, expiry reaping, cancel and retry.
//!
//! A claim bumps `lease_generation`; every later write of the worker names the task, its
//! `locked_by` and that generation, and changes nothing once another claim, a reap or a cancel
//! took the task away (the write reports `false`: the worker has lost the task and must stop).
//! `task_target_locks` (primary key target_type + target_id) keeps two tasks off one target at
//! once, across processes.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{AssertSqlSafe, Connection};

use super::audit::{insert_in, NewAudit};
use super::tasks::TaskRow;
use super::users::LastId;
use super::{now, ts, Db};
use crate::domain::{LogLevel, TaskType};
use crate::on_db;

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

/// The right to write a claimed task: who holds it and under which generation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// Task id.
    pub task_id: i64,
    /// The worker's id.
    pub worker: String,
    /// The claim's generation.
    pub generation: i64,
    /// Whether the claim took a target lock (released when the run ends).
    pub target_lock: bool,
}

/// A claimed task.
#[derive(Debug, Clone)]
pub struct Claimed {
    /// The row as claimed (status running).
    pub task: TaskRow,
    /// This run's number, from 1.
    pub attempt: i32,
    /// Runs allowed.
    pub max_attempts: i32,
    /// The lease to write under.
    pub lease: Lease,
}

/// A claimable row: the task and its queue columns as they were before the claim.
#[derive(sqlx::FromRow)]
struct ClaimRow {
    #[sqlx(flatten)]
    task: TaskRow,
    attempts: i32,
    max_attempts: i32,
    lease_generation: i64,
}

impl ClaimRow {
    /// The row as the claim's UPDATE left it (computed here to spare a round trip).
    fn claimed(mut self, worker: &str, at: chrono::NaiveDateTime) -> Claimed {
        let at = at.and_utc();
        self.task.status = crate::domain::TaskStatus::Running;
        self.task.started_at = self.task.started_at.or(Some(at));
        self.task.error_message = None;
        self.task.updated_at = at;
        Claimed {
            attempt: self.attempts + 1,
            max_attempts: self.max_attempts,
            lease: Lease {
                task_id: self.task.id,
                worker: worker.to_string(),
                generation: self.lease_generation + 1,
                target_lock: self.task.target_id.is_some(),
            },
            task: self.task,
        }
    }
}

const CLAIM_COLS: &str = "id, task_type, status, priority, target_type, target_id, params, result, error_message, \
    progress, scheduled_at, started_at, completed_at, created_by, created_at, updated_at, attempts, max_attempts, \
    lease_generation";

const DUE: &str = "status = 'pending' AND scheduled_at <= ? \
    AND (target_id IS NULL OR NOT EXISTS (SELECT 1 FROM task_target_locks l \
         WHERE l.target_type = t.target_type AND l.target_id = t.target_id))";

const CLAIM_SET: &str = "status = 'running', locked_by = ?, lease_generation = lease_generation + 1, \
    lease_expires_at = ?, last_heartbeat_at = ?, attempts = attempts + 1, started_at = COALESCE(started_at, ?), \
    error_message = NULL, updated_at = ?";

/// Ids per claim UPDATE statement.
const CLAIM_CHUNK: usize = 8;

/// Claims the due task with the highest priority (oldest `scheduled_at`, then id, first) whose
/// target is free, for `lease_secs`. `None` when nothing is due.
pub async fn claim(db: &Db, worker: &str, lease_secs: i64) -> Result<Option<Claimed>, sqlx::Error> {
    Ok(claim_batch(db, worker, lease_secs, 1).await?.pop())
}

/// Claims up to `max` due tasks in claim order (see [`claim`]), at most one per target, in
/// one transaction.
pub async fn claim_batch(db: &Db, worker: &str, lease_secs: i64, max: usize) -> Result<Vec<Claimed>, sqlx::Error> {
    let n = now();
    let expires = n + chrono::Duration::seconds(lease_secs);
    let max = max.clamp(1, 100);
    match db {
        Db::MySql(pool) => {
            // The locking read walks idx_claim in index order, one priority at a time (MariaDB 10.6
            // has no descending index), so SKIP LOCKED locks the rows it returns, not every due
            // row as a filesort would. READ COMMITTED: no gap locks that would stall enqueues.
            let priorities: Vec<i32> = sqlx::query_scalar(
                "SELECT DISTINCT priority FROM tasks WHERE status = 'pending' AND scheduled_at <= ? ORDER BY priority DESC",
            )
            .bind(n)
            .fetch_all(pool)
            .await?;
            if priorities.is_empty() {
                return Ok(Vec::new());
            }
            let mut conn = pool.acquire().await?;
            sqlx::query("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")
                .execute(&mut *conn)
                .await?;
            let mut tx = conn.begin().await?;
            let mut picked: Vec<ClaimRow> = Vec::new();
            for p in priorities {
                if picked.len() >= max {
                    break;
                }
                // One statement text for every call (LIMIT and ids bound, not formatted): sqlx
                // caches prepared statements per connection, and a new text per claim churns
                // that cache.
                let sql = format!(
                    "SELECT {CLAIM_COLS} FROM tasks t FORCE INDEX (idx_claim) WHERE priority = ? AND {DUE} \
                     ORDER BY scheduled_at, id LIMIT ? FOR UPDATE SKIP LOCKED"
                );
                let rows: Vec<ClaimRow> = sqlx::query_as(AssertSqlSafe(sql))
                    .bind(p)
                    .bind(n)
                    .bind((max - picked.len()) as i64)
                    .fetch_all(&mut *tx)
                    .await?;
                for row in rows {
                    if let (Some(tt), Some(tid)) = (&row.task.target_type, row.task.target_id) {
                        // 0 rows: another worker (or an earlier row of this batch) has the target.
                        let locked = sqlx::query(
                            "INSERT IGNORE INTO task_target_locks (target_type, target_id, task_id, locked_by, created_at) \
                             VALUES (?, ?, ?, ?, ?)",
                        )
                        .bind(tt)
                        .bind(tid)
                        .bind(row.task.id)
                        .bind(worker)
                        .bind(n)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                        if locked == 0 {
                            continue;
                        }
                    }
                    picked.push(row);
                }
            }
            if picked.is_empty() {
                tx.rollback().await?;
                return Ok(Vec::new());
            }
            for chunk in picked.chunks(CLAIM_CHUNK) {
                // Always CLAIM_CHUNK placeholders (the last id repeated): one statement text.
                let marks = ["?"; CLAIM_CHUNK].join(", ");
                let sql = format!("UPDATE tasks SET {CLAIM_SET} WHERE id IN ({marks})");
                let mut q = sqlx::query(AssertSqlSafe(sql))
                    .bind(worker)
                    .bind(expires)
                    .bind(n)
                    .bind(n)
                    .bind(n);
                for i in 0..CLAIM_CHUNK {
                    q = q.bind(chunk[i.min(chunk.len() - 1)].task.id);
                }
                q.execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(picked.into_iter().map(|r| r.claimed(worker, n)).collect())
        }
        Db::Sqlite(pool) => {
            // SQLite has one writer at a time: each UPDATE … RETURNING is a claim, and the
            // target lock goes in with it (so a batch never holds two tasks of one target).
            let mut tx = pool.begin().await?;
            let mut out = Vec::new();
            for _ in 0..max {
                let sql = format!(
                    "UPDATE tasks SET {CLAIM_SET} WHERE id = (SELECT id FROM tasks t WHERE {DUE} \
                     ORDER BY priority DESC, scheduled_at, id LIMIT 1) RETURNING {CLAIM_COLS}"
                );
                let row: Option<ClaimRow> = sqlx::query_as(AssertSqlSafe(sql))
                    .bind(worker)
                    .bind(expires)
                    .bind(n)
                    .bind(n)
                    .bind(n)
                    .bind(n)
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some(mut row) = row else { break };
                if let (Some(tt), Some(tid)) = (&row.task.target_type, row.task.target_id) {
                    sqlx::query(
                        "INSERT INTO task_target_locks (target_type, target_id, task_id, locked_by, created_at) \
                         VALUES (?, ?, ?, ?, ?)",
                    )
                    .bind(tt)
                    .bind(tid)
                    .bind(row.task.id)
                    .bind(worker)
                    .bind(n)
                    .execute(&mut *tx)
                    .await?;
                }
                // RETURNING gives the new values: step back to "before the claim" for claimed().
                row.attempts -= 1;
                row.lease_generation -= 1;
                out.push(row.claimed(worker, n));
            }
            tx.commit().await?;
            Ok(out)
        }
    }
}

/// Claims one given task if it is due and its target free (for a face that runs the task it
/// just enqueued in its own process); `None` when it is not claimable (another worker has it).
pub async fn claim_task(db: &Db, id: i64, worker: &str, lease_secs: i64) -> Result<Option<Claimed>, sqlx::Error> {
    let n = now();
    let expires = n + chrono::Duration::seconds(lease_secs);
    crate::in_tx!(db, tx => {
        let sql = format!("SELECT {CLAIM_COLS} FROM tasks t WHERE t.id = ? AND {DUE}");
        let row: Option<ClaimRow> = sqlx::query_as(AssertSqlSafe(sql)).bind(id).bind(n).fetch_optional(&mut **tx).await?;
        let Some(row) = row else { return Ok(None) };
        if let (Some(tt), Some(tid)) = (&row.task.target_type, row.task.target_id) {
            let ignore = match db { Db::MySql(_) => "INSERT IGNORE", Db::Sqlite(_) => "INSERT OR IGNORE" };
            let sql = format!("{ignore} INTO task_target_locks (target_type, target_id, task_id, locked_by, created_at) VALUES (?, ?, ?, ?, ?)");
            let locked = sqlx::query(AssertSqlSafe(sql))
                .bind(tt).bind(tid).bind(row.task.id).bind(worker).bind(n)
                .execute(&mut **tx).await?.rows_affected();
            if locked == 0 {
                return Ok(None);
            }
        }
        let sql = format!("UPDATE tasks SET {CLAIM_SET} WHERE id = ? AND status = 'pending' AND lease_generation = ?");
        let done = sqlx::query(AssertSqlSafe(sql))
            .bind(worker).bind(expires).bind(n).bind(n).bind(n).bind(id).bind(row.lease_generation)
            .execute(&mut **tx).await?.rows_affected();
        if done == 0 {
            return Err(sqlx::Error::RowNotFound);
        }
        Ok::<Option<Claimed>, sqlx::Error>(Some(row.claimed(worker, n)))
    })
    .or_else(|e| match e {
        sqlx::Error::RowNotFound => Ok(None),
        e => Err(e),
    })
}

const FENCE: &str = "id = ? AND status = 'running' AND locked_by = ? AND lease_generation = ?";

/// Extends a lease; `false` when the worker no longer holds the task (reaped, cancelled).
pub async fn renew_lease(db: &Db, l: &Lease, lease_secs: i64) -> Result<bool, sqlx::Error> {
    let n = now();
    let sql = format!("UPDATE tasks SET lease_expires_at = ?, last_heartbeat_at = ? WHERE {FENCE}");
    let r = on_db!(db, p => sqlx::query(AssertSqlSafe(sql))
        .bind(n + chrono::Duration::seconds(lease_secs)).bind(n)
        .bind(l.task_id).bind(&l.worker).bind(l.generation)
        .execute(p).await.map(|r| r.rows_affected()))?;
    Ok(r == 1)
}

/// Whether the worker still holds the task (not cancelled, not reaped).
pub async fn holds(db: &Db, l: &Lease) -> Result<bool, sqlx::Error> {
    let sql = format!("SELECT COUNT(*) FROM tasks WHERE {FENCE}");
    let n: i64 = on_db!(db, p => sqlx::query_scalar(AssertSqlSafe(sql))
        .bind(l.task_id).bind(&l.worker).bind(l.generation).fetch_one(p).await)?;
    Ok(n == 1)
}

/// Sets `progress` (0–100); `false` when the lease is lost.
pub async fn set_progress(db: &Db, l: &Lease, progress: i32) -> Result<bool, sqlx::Error> {
    let sql = format!("UPDATE tasks SET progress = ?, updated_at = ? WHERE {FENCE}");
    let r = on_db!(db, p => sqlx::query(AssertSqlSafe(sql))
        .bind(progress.clamp(0, 100)).bind(now())
        .bind(l.task_id).bind(&l.worker).bind(l.generation)
        .execute(p).await.map(|r| r.rows_affected()))?;
    Ok(r == 1)
}

/// Appends a `task_logs` line; `false` (and nothing written) when the lease is lost.
pub async fn append_log(
    db: &Db,
    l: &Lease,
    level: LogLevel,
    message: &str,
    data: Option<&Value>,
) -> Result<bool, sqlx::Error> {
    let sql = format!(
        "INSERT INTO task_logs (task_id, log_level, message, data, created_at) \
         SELECT id, ?, ?, ?, ? FROM tasks WHERE {FENCE}"
    );
    let r = on_db!(db, p => sqlx::query(AssertSqlSafe(sql))
        .bind(level.as_str()).bind(message).bind(data.map(Value::to_string)).bind(now())
        .bind(l.task_id).bind(&l.worker).bind(l.generation)
        .execute(p).await.map(|r| r.rows_affected()))?;
    Ok(r == 1)
}

/// A log line written by the queue itself (reaper, cancel), outside any lease.
pub async fn system_log(db: &Db, task_id: i64, level: LogLevel, message: &str) -> Result<(), sqlx::Error> {
    on_db!(db, p => sqlx::query("INSERT INTO task_logs (task_id, log_level, message, created_at) VALUES (?, ?, ?, ?)")
        .bind(task_id).bind(level.as_str()).bind(message).bind(now()).execute(p).await.map(|_| ()))?;
    Ok(())
}

/// How a run ended, as the worker reports it.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Done, with its result.
    Completed(Value),
    /// Failed for good.
    Failed(String),
    /// Failed transiently: run again at `retry_at` (the caller already checked attempts).
    Retry {
        /// The error of this run.
        error: String,
        /// When to run again.
        retry_at: DateTime<Utc>,
    },
}

/// Records the end of a run and frees the task's target; `false` when the lease was lost (then
/// nothing is written, but the worker's own target lock is still released).
pub async fn finish(db: &Db, l: &Lease, outcome: &Outcome) -> Result<bool, sqlx::Error> {
    let n = now();
    let (set, text, at) = match outcome {
        Outcome::Completed(result) => (
            "status = 'completed', result = ?, progress = 100, completed_at = ?",
            result.to_string(),
            n,
        ),
        Outcome::Failed(error) => (
            "status = 'failed', error_message = ?, completed_at = ?",
            error.clone(),
            n,
        ),
        Outcome::Retry { error, retry_at } => (
            "status = 'pending', error_message = ?, scheduled_at = ?",
            error.clone(),
            ts(*retry_at),
        ),
    };
    let sql = format!("UPDATE tasks SET {set}, lease_expires_at = NULL, updated_at = ? WHERE {FENCE}");
    let won = on_db!(db, p => sqlx::query(AssertSqlSafe(sql))
        .bind(text).bind(at).bind(n).bind(l.task_id).bind(&l.worker).bind(l.generation)
        .execute(p).await.map(|r| r.rows_affected()))?
        == 1;
    // No transaction needed: a lock left by a crash right here belongs to a task that no longer
    // runs, and the reaper drops those.
    release_target_lock(db, l).await?;
    Ok(won)
}

async fn release_target_lock(db: &Db, l: &Lease) -> Result<(), sqlx::Error> {
    if l.target_lock {
        on_db!(db, p => sqlx::query("DELETE FROM task_target_locks WHERE task_id = ? AND locked_by = ?")
            .bind(l.task_id).bind(&l.worker).execute(p).await.map(|_| ()))?;
    }
    Ok(())
}

/// A task whose lease ran out, as the reaper handled it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reaped {
    /// Task id.
    pub task_id: i64,
    /// The worker that stopped answering.
    pub worker: Option<String>,
    /// Back to pending (else failed: no attempts left).
    pub requeued: bool,
}

/// Puts running tasks whose lease expired back to pending (or failed when their attempts are
/// spent), frees their targets and logs why. Also drops target locks of tasks that no longer run.
pub async fn reap_expired(db: &Db, limit: i64) -> Result<Vec<Reaped>, sqlx::Error> {
    let n = now();
    let sql = format!(
        "SELECT id, locked_by, attempts, max_attempts FROM tasks WHERE status = 'running' AND lease_expires_at < ? \
         ORDER BY lease_expires_at LIMIT {}",
        limit.clamp(1, 1000)
    );
    let rows: Vec<(i64, Option<String>, i32, i32)> =
        on_db!(db, p => sqlx::query_as(AssertSqlSafe(sql)).bind(n).fetch_all(p).await)?;
    let mut out = Vec::new();
    for (id, worker, attempts, max) in rows {
        let requeued = attempts < max;
        let who = worker.clone().unwrap_or_else(|| "?".into());
        let msg = if requeued {
            format!("the lease of worker {who} expired (it stopped or lost the database): the task runs again")
        } else {
            format!("the lease of worker {who} expired after {attempts} of {max} attempts: the task failed")
        };
        let done = crate::in_tx!(db, tx => {
            let r = sqlx::query(
                "UPDATE tasks SET status = CASE WHEN attempts >= max_attempts THEN 'failed' ELSE 'pending' END, \
                 completed_at = CASE WHEN attempts >= max_attempts THEN ? ELSE NULL END, \
                 error_message = ?, scheduled_at = ?, lease_expires_at = NULL, updated_at = ? \
                 WHERE id = ? AND status = 'running' AND lease_expires_at < ?",
            )
            .bind(n)
            .bind(&msg)
            .bind(n)
            .bind(n)
            .bind(id)
            .bind(n)
            .execute(&mut **tx)
            .await?
            .rows_affected();
            if r == 1 {
                sqlx::query("DELETE FROM task_target_locks WHERE task_id = ?").bind(id).execute(&mut **tx).await?;
                sqlx::query("INSERT INTO task_logs (task_id, log_level, message, created_at) VALUES (?, 'warning', ?, ?)")
                    .bind(id)
                    .bind(&msg)
                    .bind(n)
                    .execute(&mut **tx)
                    .await?;
            }
            Ok::<bool, sqlx::Error>(r == 1)
        })?;
        if done {
            out.push(Reaped {
                task_id: id,
                worker,
                requeued,
            });
        }
    }
    // Locks left by a cancelled task whose worker never came back.
    on_db!(db, p => sqlx::query(
        "DELETE FROM task_target_locks WHERE task_id IN \
         (SELECT id FROM tasks WHERE status <> 'running' AND (lease_expires_at IS NULL OR lease_expires_at < ?))",
    ).bind(n).execute(p).await.map(|_| ()))?;
    Ok(out)
}

/// Cancels a pending or running task (a running one stops at its next step); returns whether
/// it changed.
pub async fn cancel(db: &Db, id: i64, audit: &NewAudit) -> Result<bool, sqlx::Error> {
    transition(
        db,
        id,
        "status = 'cancelled', completed_at = ?, updated_at = ?",
        "status IN ('pending', 'running')",
        audit,
    )
    .await
}

/// Puts a failed or cancelled task back in the queue with fresh attempts; returns whether it
/// changed.
pub async fn retry(db: &Db, id: i64, audit: &NewAudit) -> Result<bool, sqlx::Error> {
    transition(db, id, RETRY_SET, RETRY_FROM, audit).await
}

/// What a retry sets (two `?` for now).
const RETRY_SET: &str = "status = 'pending', attempts = 0, progress = 0, result = NULL, scheduled_at = ?, \
    started_at = NULL, completed_at = NULL, lease_expires_at = NULL, updated_at = ?";
/// Which tasks a retry applies to.
const RETRY_FROM: &str = "status IN ('failed', 'cancelled')";

/// A status change by hand: `set` (with two `?` for now) applies only when `from` holds, and
/// the audit row goes in with it.
async fn transition(db: &Db, id: i64, set: &str, from: &str, audit: &NewAudit) -> Result<bool, sqlx::Error> {
    let n = now();
    let sql = format!("UPDATE tasks SET {set} WHERE id = ? AND {from}");
    crate::in_tx!(db, tx => {
        let r = sqlx::query(AssertSqlSafe(sql))
            .bind(n)
            .bind(n)
            .bind(id)
            .execute(&mut **tx)
            .await?
            .rows_affected();
        if r == 1 {
            insert_in!(&mut **tx, audit);
        }
        Ok::<bool, sqlx::Error>(r == 1)
    })
}

/// The queue fields of a task (attempts, lease) for `task show`.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct QueueState {
    /// Runs so far.
    pub attempts: i32,
    /// Runs allowed.
    pub max_attempts: i32,
    /// The worker holding (or that last held) it.
    pub locked_by: Option<String>,
    /// Lease end while running.
    pub lease_expires_at: Option<DateTime<Utc>>,
    /// The worker's last sign of life.
    pub last_heartbeat_at: Option<DateTime<Utc>>,
}

/// The task that holds a target's lock (and so keeps other tasks of that target waiting).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TargetHolder {
    /// Its id.
    pub task_id: i64,
    /// Its status (a lock of a task that no longer runs is left over, for the reaper).
    pub status: String,
    /// Its worker.
    pub locked_by: Option<String>,
    /// Its lease end.
    pub lease_expires_at: Option<DateTime<Utc>>,
}

/// The task that holds a target's lock, if any.
pub async fn target_holder(db: &Db, target_type: &str, target_id: i64) -> Result<Option<TargetHolder>, sqlx::Error> {
    on_db!(db, p => sqlx::query_as::<_, TargetHolder>(
        "SELECT t.id AS task_id, t.status, t.locked_by, t.lease_expires_at \
         FROM task_target_locks l JOIN tasks t ON t.id = l.task_id WHERE l.target_type = ? AND l.target_id = ?",
    ).bind(target_type).bind(target_id).fetch_optional(p).await)
}

/// The queue fields of a task.
pub async fn queue_state(db: &Db, id: i64) -> Result<Option<QueueState>, sqlx::Error> {
    on_db!(db, p => sqlx::query_as::<_, QueueState>(
        "SELECT attempts, max_attempts, locked_by, lease_expires_at, last_heartbeat_at FROM tasks WHERE id = ?",
    ).bind(id).fetch_optional(p).await)
}

/// Gives a running task back to the queue at once (graceful shutdown): this attempt does not
/// count. `false` when the lease was already lost.
pub async fn release(db: &Db, l: &Lease) -> Result<bool, sqlx::Error> {
    let n = now();
    let sql = format!(
        "UPDATE tasks SET status = 'pending', attempts = attempts - 1, lease_expires_at = NULL, scheduled_at = ?, \
         updated_at = ? WHERE {FENCE}"
    );
    let won = on_db!(db, p => sqlx::query(AssertSqlSafe(sql))
        .bind(n).bind(n).bind(l.task_id).bind(&l.worker).bind(l.generation)
        .execute(p).await.map(|r| r.rows_affected()))?
        == 1;
    release_target_lock(db, l).await?;
    if won {
        system_log(
            db,
            l.task_id,
            LogLevel::Warning,
            &format!(
                "worker {} shut down mid-task: the task goes back to the queue",
                l.worker
            ),
        )
        .await?;
    }
    Ok(won)
}

/// The queue's state for `certdeck health`.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct QueueStats {
    /// Pending and due now.
    pub due: i64,
    /// Pending, due later.
    pub scheduled: i64,
    /// Running.
    pub running: i64,
    /// Running with an expired lease (a worker died; the reaper will return them).
    pub expired_leases: i64,
    /// Failed in the last 24 hours.
    pub failed_24h: i64,
    /// When the oldest due task became due.
    pub oldest_due_at: Option<DateTime<Utc>>,
}

/// Counts of the queue, each from an index.
pub async fn stats(db: &Db) -> Result<QueueStats, sqlx::Error> {
    let n = now();
    let day_ago = n - chrono::Duration::hours(24);
    let one = |sql: &'static str, t: chrono::NaiveDateTime| async move {
        on_db!(db, p => sqlx::query_scalar::<_, i64>(sql).bind(t).fetch_one(p).await)
    };
    Ok(QueueStats {
        due: one(
            "SELECT COUNT(*) FROM tasks WHERE status = 'pending' AND scheduled_at <= ?",
            n,
        )
        .await?,
        scheduled: one(
            "SELECT COUNT(*) FROM tasks WHERE status = 'pending' AND scheduled_at > ?",
            n,
        )
        .await?,
        running: one(
            "SELECT COUNT(*) FROM tasks WHERE status = 'running' AND ? IS NOT NULL",
            n,
        )
        .await?,
        expired_leases: one(
            "SELECT COUNT(*) FROM tasks WHERE status = 'running' AND lease_expires_at < ?",
            n,
        )
        .await?,
        failed_24h: one(
            "SELECT COUNT(*) FROM tasks WHERE status = 'failed' AND completed_at >= ?",
            day_ago,
        )
        .await?,
        oldest_due_at: on_db!(db, p => sqlx::query_scalar::<_, Option<DateTime<Utc>>>(
            "SELECT MIN(scheduled_at) FROM tasks WHERE status = 'pending' AND scheduled_at <= ?",
        ).bind(n).fetch_one(p).await)?,
    })
}
