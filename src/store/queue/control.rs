//! Cancel and retry by hand, and what the queue shows: a task's queue fields, who holds a
//! target, the queue's counts for `certdeck health`.

use chrono::{DateTime, Utc};
use sqlx::AssertSqlSafe;

use crate::on_db;
use crate::store::audit::{insert_in, NewAudit};
use crate::store::{now, Db};

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

/// What a retry sets (its two `?` are bound to the current time).
pub(super) const RETRY_SET: &str = "status = 'pending', attempts = 0, progress = 0, result = NULL, scheduled_at = ?, \
    started_at = NULL, completed_at = NULL, lease_expires_at = NULL, updated_at = ?";
/// Which tasks a retry applies to.
pub(super) const RETRY_FROM: &str = "status IN ('failed', 'cancelled')";

/// A status change by hand: `set` (whose two `?` are bound to the current time) applies only when `from` holds, and
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
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize, schemars::JsonSchema)]
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

/// The queue's state for `certdeck health`.
#[derive(Debug, Clone, Default, serde::Serialize, schemars::JsonSchema)]
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
