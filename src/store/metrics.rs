//! Fleet-wide aggregates for the Prometheus exposition (`/metrics`): each one query, each over an
//! index where the seed or a migration has one. Nothing here is scoped to a user: the service
//! decides who may read the fleet's figures.

use chrono::{DateTime, Utc};
use sqlx::{AssertSqlSafe, FromRow};

use super::{ts, Db};
use crate::on_db;

/// Upper bounds (seconds, inclusive) of the task duration histogram's buckets, ascending; the
/// `+Inf` bucket is the count. Timestamps have whole-second resolution, so a task that took
/// under a second counts as 0 s (in every bucket).
pub const TASK_DURATION_BUCKETS: [f64; 11] = [0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0];

/// One certificate's expiry, for a per-certificate series.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct CertExpiry {
    /// Id.
    pub id: i64,
    /// Main domain.
    pub main_domain: String,
    /// Status (`certificates.status`).
    pub status: String,
    /// Not-after time.
    pub expires_at: DateTime<Utc>,
}

/// The condition that selects the certificates with a per-certificate series: those with an
/// expiry that are not revoked (a revoked certificate's expiry calls for no action).
const SERIES_WHERE: &str = "expires_at IS NOT NULL AND status <> 'revoked'";

/// At most `limit` certificates with an expiry (revoked ones left out), soonest expiry first
/// (ties by id), in one range scan of `idx_expires_at`; and how many more there are.
pub async fn cert_expiries(db: &Db, limit: i64) -> Result<(Vec<CertExpiry>, i64), sqlx::Error> {
    let limit = limit.max(0);
    let rows = if limit == 0 {
        Vec::new()
    } else {
        let sql = format!(
            "SELECT id, main_domain, status, expires_at FROM certificates WHERE {SERIES_WHERE} \
             ORDER BY expires_at, id LIMIT {limit}"
        );
        on_db!(db, p => sqlx::query_as::<_, CertExpiry>(AssertSqlSafe(sql)).fetch_all(p).await)?
    };
    let total: i64 = on_db!(db, p => sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT COUNT(*) FROM certificates WHERE {SERIES_WHERE}"
    ))).fetch_one(p).await)?;
    let dropped = (total - rows.len() as i64).max(0);
    Ok((rows, dropped))
}

/// `(value, count)` of one `GROUP BY` column.
async fn grouped(db: &Db, sql: &'static str) -> Result<Vec<(String, i64)>, sqlx::Error> {
    on_db!(db, p => sqlx::query_as::<_, (String, i64)>(sql).fetch_all(p).await)
}

/// Certificates by status (`idx_status`).
pub async fn certificates_by_status(db: &Db) -> Result<Vec<(String, i64)>, sqlx::Error> {
    grouped(
        db,
        "SELECT status, COUNT(*) FROM certificates GROUP BY status ORDER BY status",
    )
    .await
}

/// Monitors by status (`idx_status`).
pub async fn monitors_by_status(db: &Db) -> Result<Vec<(String, i64)>, sqlx::Error> {
    grouped(
        db,
        "SELECT status, COUNT(*) FROM monitors GROUP BY status ORDER BY status",
    )
    .await
}

/// Fired alerts not yet resolved (`alert_history`), by severity (`idx_is_resolved`).
pub async fn open_alerts_by_severity(db: &Db) -> Result<Vec<(String, i64)>, sqlx::Error> {
    grouped(
        db,
        "SELECT severity, COUNT(*) FROM alert_history WHERE is_resolved = FALSE GROUP BY severity ORDER BY severity",
    )
    .await
}

/// Deployments (`certificate_deployments`) by status (`idx_status`).
pub async fn deployments_by_status(db: &Db) -> Result<Vec<(String, i64)>, sqlx::Error> {
    grouped(
        db,
        "SELECT status, COUNT(*) FROM certificate_deployments GROUP BY status ORDER BY status",
    )
    .await
}

/// A count of tasks with one status and type.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct TaskCount {
    /// `tasks.status`.
    pub status: String,
    /// `tasks.task_type`.
    pub task_type: String,
    /// How many.
    pub count: i64,
}

/// Tasks by status and type.
pub async fn tasks_by_status_and_type(db: &Db) -> Result<Vec<TaskCount>, sqlx::Error> {
    on_db!(db, p => sqlx::query_as::<_, TaskCount>(
        "SELECT status, task_type, COUNT(*) AS count FROM tasks GROUP BY status, task_type ORDER BY status, task_type",
    ).fetch_all(p).await)
}

/// Finished issuances and renewals: `certificate_issue` and `certificate_renew` tasks by final
/// status (`completed`, `failed`, `cancelled`; over `idx_task_type`). Every issuance or renewal
/// runs as one such task, so the task's final status is the issuance's outcome.
pub async fn issuance_outcomes(db: &Db) -> Result<Vec<TaskCount>, sqlx::Error> {
    on_db!(db, p => sqlx::query_as::<_, TaskCount>(
        "SELECT status, task_type, COUNT(*) AS count FROM tasks \
         WHERE task_type IN ('certificate_issue', 'certificate_renew') AND status IN ('completed', 'failed', 'cancelled') \
         GROUP BY status, task_type ORDER BY status, task_type",
    ).fetch_all(p).await)
}

/// The duration histogram of one task type's finished tasks.
#[derive(Debug, Clone, PartialEq)]
pub struct DurationHistogram {
    /// `tasks.task_type`.
    pub task_type: String,
    /// Cumulative counts, one per bound of [`TASK_DURATION_BUCKETS`] (tasks that took at most
    /// that long).
    pub buckets: Vec<u64>,
    /// Sum of the durations, in seconds.
    pub sum: f64,
    /// Number of tasks (the `+Inf` bucket).
    pub count: u64,
}

/// Durations (`completed_at - started_at`) of finished tasks (`completed` or `failed`, with both
/// times, `idx_status`), per task type, as cumulative bucket counts, sum and count.
pub async fn task_durations(db: &Db) -> Result<Vec<DurationHistogram>, sqlx::Error> {
    let (dur, int) = match db {
        Db::MySql(_) => ("TIMESTAMPDIFF(SECOND, started_at, completed_at)", "SIGNED"),
        Db::Sqlite(_) => (
            "(CAST(strftime('%s', completed_at) AS INTEGER) - CAST(strftime('%s', started_at) AS INTEGER))",
            "INTEGER",
        ),
    };
    let mut cols = vec!["task_type".to_string()];
    for b in TASK_DURATION_BUCKETS {
        cols.push(format!("COUNT(CASE WHEN {dur} <= {b} THEN 1 END)"));
    }
    cols.push(format!("CAST(COALESCE(SUM({dur}), 0) AS {int})"));
    cols.push("COUNT(*)".into());
    let sql = format!(
        "SELECT {} FROM tasks WHERE status IN ('completed', 'failed') AND started_at IS NOT NULL \
         AND completed_at IS NOT NULL AND completed_at >= started_at GROUP BY task_type ORDER BY task_type",
        cols.join(", ")
    );
    let n = TASK_DURATION_BUCKETS.len();
    on_db!(db, p => {
        use sqlx::Row;
        let rows = sqlx::query(AssertSqlSafe(sql)).fetch_all(p).await?;
        rows.iter()
            .map(|r| {
                let count = |i: usize| r.try_get::<i64, _>(i).map(|v| v.max(0) as u64);
                Ok(DurationHistogram {
                    task_type: r.try_get(0)?,
                    buckets: (1..=n).map(count).collect::<Result<Vec<u64>, _>>()?,
                    sum: r.try_get::<i64, _>(n + 1)? as f64,
                    count: count(n + 2)?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()
    })
}

/// A scheduler's last sign of life.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct Heartbeat {
    /// `<host>:<pid>:<random>`.
    pub worker_id: String,
    /// Last heartbeat.
    pub heartbeat_at: DateTime<Utc>,
    /// Clean stop, if it stopped cleanly.
    pub stopped_at: Option<DateTime<Utc>>,
}

/// Schedulers with a heartbeat at or after `since` (`idx_heartbeat_at`), latest first, at most
/// `limit`: every restart is a new worker id, so old rows are left out to bound the series.
pub async fn heartbeats(db: &Db, since: DateTime<Utc>, limit: i64) -> Result<Vec<Heartbeat>, sqlx::Error> {
    on_db!(db, p => sqlx::query_as::<_, Heartbeat>(
        "SELECT worker_id, heartbeat_at, stopped_at FROM certdeck_schedulers WHERE heartbeat_at >= ? \
         ORDER BY heartbeat_at DESC, worker_id LIMIT ?",
    ).bind(ts(since)).bind(limit.clamp(1, 10_000)).fetch_all(p).await)
}

/// The notification outbox's backlog.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Outbox {
    /// Deliveries still pending (due or waiting to be retried).
    pub pending: i64,
    /// When the oldest pending delivery was queued.
    pub oldest_pending: Option<DateTime<Utc>>,
}

/// Pending rows of the notification outbox (`alert_deliveries`, over `idx_status_next`) and the
/// queue time of the oldest.
pub async fn outbox(db: &Db) -> Result<Outbox, sqlx::Error> {
    let (pending, oldest_pending): (i64, Option<DateTime<Utc>>) = on_db!(db, p => sqlx::query_as(
        "SELECT COUNT(*), MIN(created_at) FROM alert_deliveries WHERE status = 'pending'",
    ).fetch_one(p).await)?;
    Ok(Outbox {
        pending,
        oldest_pending,
    })
}
