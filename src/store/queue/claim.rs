//! Claiming due tasks atomically with a lease (one, a batch, or one task by id).

use sqlx::{AssertSqlSafe, Connection};

use crate::store::tasks::TaskRow;
use crate::store::{now, Db};

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
