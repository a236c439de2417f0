//! `certdeck_schedulers` (V8): one row per scheduler process, its heartbeat, so consoles and
//! `certdeck health` can tell which schedulers are alive.

use chrono::{DateTime, Utc};
use sqlx::FromRow;

use super::{now, Db};
use crate::on_db;

/// A scheduler's row.
#[derive(Debug, Clone, PartialEq, FromRow, serde::Serialize, schemars::JsonSchema)]
pub struct SchedulerRow {
    /// `<host>:<pid>:<random>`.
    pub worker_id: String,
    /// Host name.
    pub hostname: String,
    /// Process id.
    pub pid: i32,
    /// certdeck version.
    pub version: String,
    /// `daemon` or `embedded`.
    pub mode: String,
    /// Worker slots.
    pub concurrency: i32,
    /// Start.
    pub started_at: DateTime<Utc>,
    /// Last sign of life.
    pub heartbeat_at: DateTime<Utc>,
    /// Clean stop, if it stopped cleanly.
    pub stopped_at: Option<DateTime<Utc>>,
}

/// What a scheduler says about itself.
#[derive(Debug, Clone)]
pub struct SchedulerInfo {
    /// Its id (also `tasks.locked_by`).
    pub worker_id: String,
    /// Host name.
    pub hostname: String,
    /// Process id.
    pub pid: i32,
    /// `daemon` or `embedded`.
    pub mode: String,
    /// Worker slots.
    pub concurrency: i32,
}

/// Records a heartbeat (creating the row on the first one).
pub async fn beat(db: &Db, s: &SchedulerInfo) -> Result<(), sqlx::Error> {
    let n = now();
    let upsert = match db {
        Db::MySql(_) => "ON DUPLICATE KEY UPDATE heartbeat_at = VALUES(heartbeat_at), stopped_at = NULL",
        Db::Sqlite(_) => {
            "ON CONFLICT (worker_id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at, stopped_at = NULL"
        }
    };
    let sql = format!(
        "INSERT INTO certdeck_schedulers (worker_id, hostname, pid, version, mode, concurrency, started_at, heartbeat_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?) {upsert}"
    );
    on_db!(db, p => sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(&s.worker_id).bind(&s.hostname).bind(s.pid).bind(env!("CARGO_PKG_VERSION")).bind(&s.mode)
        .bind(s.concurrency).bind(n).bind(n)
        .execute(p).await.map(|_| ()))
}

/// Marks a clean stop.
pub async fn stopped(db: &Db, worker_id: &str) -> Result<(), sqlx::Error> {
    on_db!(db, p => sqlx::query("UPDATE certdeck_schedulers SET stopped_at = ?, heartbeat_at = ? WHERE worker_id = ?")
        .bind(now()).bind(now()).bind(worker_id).execute(p).await.map(|_| ()))
}

/// Every scheduler seen, latest heartbeat first.
pub async fn list(db: &Db) -> Result<Vec<SchedulerRow>, sqlx::Error> {
    on_db!(db, p => sqlx::query_as::<_, SchedulerRow>(
        "SELECT worker_id, hostname, pid, version, mode, concurrency, started_at, heartbeat_at, stopped_at \
         FROM certdeck_schedulers ORDER BY heartbeat_at DESC LIMIT 200",
    ).fetch_all(p).await)
}
