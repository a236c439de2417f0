//! Writes of the worker holding a lease, fenced by its generation: renewal, progress, logs,
//! completion, giving the task back; reaping expired leases.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::AssertSqlSafe;

use crate::domain::LogLevel;
use crate::on_db;

use super::claim::Lease;
use crate::store::{now, ts, Db};

/// The fence of a lease holder's writes: the task, its holder and the generation of its claim.
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
