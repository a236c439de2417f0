//! Aggregates for the console's dashboard: each one query over an index.

use chrono::{DateTime, Duration, Utc};
use sqlx::AssertSqlSafe;

use super::{ts, Arg, Db, Where};
use crate::{bind_args, on_db};

/// Certificates expiring in each of the 13 weeks from `now`, and within 7, 30 and 90 days.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expiries {
    /// Within 7, 30 and 90 days.
    pub within: [i64; 3],
    /// Per week, the first starting now.
    pub weekly: [i64; 13],
}

/// Counts certificates expiring soon, in one range scan of `idx_expires_at` (or
/// `idx_user_expires` for one user).
pub async fn expiries(db: &Db, user_id: Option<i64>, now: DateTime<Utc>) -> Result<Expiries, sqlx::Error> {
    let mut sums = Vec::new();
    let mut args = Vec::new();
    for d in [7, 30, 90] {
        sums.push("COUNT(CASE WHEN expires_at < ? THEN 1 END)".to_string());
        args.push(Arg::Time(ts(now + Duration::days(d))));
    }
    for w in 0..13 {
        sums.push("COUNT(CASE WHEN expires_at >= ? AND expires_at < ? THEN 1 END)".to_string());
        args.push(Arg::Time(ts(now + Duration::weeks(w))));
        args.push(Arg::Time(ts(now + Duration::weeks(w + 1))));
    }
    let mut w = Where::new();
    w.and_opt("user_id = ?", user_id, Arg::I64);
    w.and("expires_at >= ?", [Arg::Time(ts(now))]);
    w.and("expires_at < ?", [Arg::Time(ts(now + Duration::weeks(13)))]);
    args.extend(w.args.clone());
    let sql = format!("SELECT {} FROM certificates{}", sums.join(", "), w.sql());
    let row: Vec<i64> = on_db!(db, p => {
        use sqlx::Row;
        let r = bind_args!(sqlx::query(AssertSqlSafe(sql.clone())), args.clone()).fetch_one(p).await?;
        (0..16).map(|i| r.try_get::<i64, _>(i)).collect::<Result<Vec<i64>, _>>()
    })?;
    let mut e = Expiries::default();
    e.within.copy_from_slice(&row[..3]);
    e.weekly.copy_from_slice(&row[3..16]);
    Ok(e)
}

/// Monitors by status.
pub async fn monitors_by_status(db: &Db, user_id: Option<i64>) -> Result<Vec<(String, i64)>, sqlx::Error> {
    let mut w = Where::new();
    w.and_opt("user_id = ?", user_id, Arg::I64);
    let sql = format!(
        "SELECT status, COUNT(*) FROM monitors{} GROUP BY status ORDER BY status",
        w.sql()
    );
    on_db!(db, p => bind_args!(sqlx::query_as::<_, (String, i64)>(AssertSqlSafe(sql)), w.args.clone()).fetch_all(p).await)
}

/// Unresolved alerts by severity.
pub async fn open_alerts_by_severity(db: &Db, user_id: Option<i64>) -> Result<Vec<(String, i64)>, sqlx::Error> {
    let mut w = Where::new();
    w.and("h.is_resolved = ?", [Arg::Bool(false)]);
    w.and_opt("a.user_id = ?", user_id, Arg::I64);
    let sql = format!(
        "SELECT h.severity, COUNT(*) FROM alert_history h JOIN alerts a ON a.id = h.alert_id{} \
         GROUP BY h.severity ORDER BY h.severity",
        w.sql()
    );
    on_db!(db, p => bind_args!(sqlx::query_as::<_, (String, i64)>(AssertSqlSafe(sql)), w.args.clone()).fetch_all(p).await)
}

/// Active alert rules bound to no active channel, and the number of channels (one user's, or all).
pub async fn notification_gaps(db: &Db, user_id: Option<i64>) -> Result<(i64, i64), sqlx::Error> {
    let unbound = on_db!(db, p => sqlx::query_scalar::<_, i64>(
        "SELECT COUNT(*) FROM alerts a WHERE a.is_active = TRUE AND (? IS NULL OR a.user_id = ?) AND NOT EXISTS \
         (SELECT 1 FROM alert_channel_bindings b JOIN alert_channels c ON c.id = b.channel_id AND c.is_active = TRUE \
          WHERE b.alert_id = a.id)")
        .bind(user_id).bind(user_id).fetch_one(p).await)?;
    let channels = on_db!(db, p => sqlx::query_scalar::<_, i64>(
        "SELECT COUNT(*) FROM alert_channels WHERE ? IS NULL OR user_id = ?")
        .bind(user_id).bind(user_id).fetch_one(p).await)?;
    Ok((unbound, channels))
}

/// Pending, running and failed tasks (one user's own tasks, or all).
pub async fn tasks_by_status(db: &Db, created_by: Option<i64>) -> Result<Vec<(String, i64)>, sqlx::Error> {
    let mut w = Where::new();
    w.and(
        "status IN (?, ?, ?)",
        [
            Arg::Str("pending".into()),
            Arg::Str("running".into()),
            Arg::Str("failed".into()),
        ],
    );
    w.and_opt("created_by = ?", created_by, Arg::I64);
    let sql = format!(
        "SELECT status, COUNT(*) FROM tasks{} GROUP BY status ORDER BY status",
        w.sql()
    );
    on_db!(db, p => bind_args!(sqlx::query_as::<_, (String, i64)>(AssertSqlSafe(sql)), w.args.clone()).fetch_all(p).await)
}
