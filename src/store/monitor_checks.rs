//! What monitor checks write: a monitor's result, and the alert lifecycle of each rule against
//! it (one open `alert_history` row per rule and monitor, re-notified, resolved), with the
//! notification outbox rows (`alert_deliveries`, V14) each event queues.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::AssertSqlSafe;

use super::monitoring::{AlertRow, MonitorRow};
use super::users::LastId;
use super::{now, ts_opt, Db};
use crate::domain::{MonitorStatus, Severity};
use crate::on_db;

/// Monitors by id (missing ids are skipped), in id order.
pub async fn monitors_by_ids(db: &Db, ids: &[i64]) -> Result<Vec<MonitorRow>, sqlx::Error> {
    let mut out = Vec::new();
    for id in ids {
        if let Some(m) = super::monitoring::get_monitor(db, *id).await? {
            out.push(m);
        }
    }
    out.sort_by_key(|m| m.id);
    Ok(out)
}

/// The (oldest) monitor of a certificate or server.
pub async fn monitor_of(db: &Db, t: crate::domain::MonitorType, target_id: i64) -> Result<Option<i64>, sqlx::Error> {
    on_db!(db, p => sqlx::query_scalar::<_, i64>(
        "SELECT id FROM monitors WHERE monitor_type = ? AND target_id = ? ORDER BY id LIMIT 1")
        .bind(t.as_str()).bind(target_id).fetch_optional(p).await)
}

/// The outcome of one check of a monitor.
#[derive(Debug, Clone)]
pub struct CheckRecord {
    /// ok / warning / error / unknown.
    pub status: MonitorStatus,
    /// One line for the operator.
    pub message: String,
    /// Findings and chain (JSON).
    pub result: Value,
    /// Failed checks in a row, this one included.
    pub consecutive_failures: i32,
    /// When to check next (None: leave as the scheduler set it).
    pub next_check_at: Option<DateTime<Utc>>,
}

/// Stores a check's outcome on its monitor.
pub async fn record_check(db: &Db, id: i64, r: &CheckRecord) -> Result<(), sqlx::Error> {
    let msg: String = r.message.chars().take(2000).collect();
    let sql = if r.next_check_at.is_some() {
        "UPDATE monitors SET status = ?, status_message = ?, last_result = ?, consecutive_failures = ?, last_check_at = ?, \
         updated_at = ?, next_check_at = ? WHERE id = ?"
    } else {
        "UPDATE monitors SET status = ?, status_message = ?, last_result = ?, consecutive_failures = ?, last_check_at = ?, \
         updated_at = ?, next_check_at = COALESCE(next_check_at, ?) WHERE id = ?"
    };
    let n = now();
    on_db!(db, p => sqlx::query(AssertSqlSafe(sql))
        .bind(r.status.as_str()).bind(&msg).bind(r.result.to_string()).bind(r.consecutive_failures).bind(n).bind(n)
        .bind(ts_opt(r.next_check_at)).bind(id)
        .execute(p).await.map(|_| ()))
}

/// The active rules that apply to a monitor: its own, and its owner's rules for every monitor.
pub async fn rules_for(db: &Db, m: &MonitorRow) -> Result<Vec<AlertRow>, sqlx::Error> {
    on_db!(db, p => sqlx::query_as::<_, AlertRow>(
        "SELECT id, user_id, name, alert_type, monitor_id, condition_type, condition_value, severity, is_active, created_at, updated_at \
         FROM alerts WHERE is_active = TRUE AND (monitor_id = ? OR (monitor_id IS NULL AND user_id = ?)) ORDER BY id")
        .bind(m.id).bind(m.user_id).fetch_all(p).await)
}

/// The open alert of a rule on a monitor: (history id, last notified, acknowledged).
pub async fn open_alert(
    db: &Db,
    alert_id: i64,
    monitor_id: i64,
) -> Result<Option<(i64, Option<DateTime<Utc>>, bool)>, sqlx::Error> {
    on_db!(db, p => sqlx::query_as::<_, (i64, Option<DateTime<Utc>>, bool)>(
        "SELECT id, last_notified_at, acknowledged_at IS NOT NULL FROM alert_history \
         WHERE alert_id = ? AND monitor_id = ? AND is_resolved = FALSE ORDER BY id DESC LIMIT 1")
        .bind(alert_id).bind(monitor_id).fetch_optional(p).await)
}

/// Marks an open, unacknowledged alert acknowledged by `user_id` (false when it was not).
pub async fn acknowledge(db: &Db, id: i64, user_id: i64, audit: &super::audit::NewAudit) -> Result<bool, sqlx::Error> {
    let n = now();
    crate::in_tx!(db, tx => {
        let r = sqlx::query(
            "UPDATE alert_history SET acknowledged_at = ?, acknowledged_by = ?, updated_at = ? \
             WHERE id = ? AND is_resolved = FALSE AND acknowledged_at IS NULL")
            .bind(n).bind(user_id).bind(n).bind(id).execute(&mut **tx).await?;
        if r.rows_affected() == 1 {
            super::audit::insert_in!(&mut **tx, audit);
        }
        Ok::<bool, sqlx::Error>(r.rows_affected() == 1)
    })
}

/// Opens an alert (notified now); returns the history id.
pub async fn open_alert_insert(
    db: &Db,
    alert_id: i64,
    monitor_id: i64,
    severity: Severity,
    message: &str,
    data: &Value,
) -> Result<i64, sqlx::Error> {
    let n = now();
    on_db!(db, p => sqlx::query(
        "INSERT INTO alert_history (alert_id, monitor_id, severity, message, data, last_notified_at, created_at, updated_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
        .bind(alert_id).bind(monitor_id).bind(severity.as_str()).bind(message).bind(data.to_string()).bind(n).bind(n).bind(n)
        .execute(p).await.map(|r| r.last_id()))
}

/// Refreshes an open alert's message and findings; `notified` moves its last notification to now.
pub async fn open_alert_update(
    db: &Db,
    id: i64,
    message: &str,
    data: &Value,
    notified: bool,
) -> Result<(), sqlx::Error> {
    let n = now();
    on_db!(db, p => sqlx::query(
        "UPDATE alert_history SET message = ?, data = ?, updated_at = ?, \
         last_notified_at = CASE WHEN ? THEN ? ELSE last_notified_at END WHERE id = ?")
        .bind(message).bind(data.to_string()).bind(n).bind(notified).bind(n).bind(id)
        .execute(p).await.map(|_| ()))
}

/// Resolves an open alert because its condition cleared.
pub async fn resolve_cleared(db: &Db, id: i64) -> Result<(), sqlx::Error> {
    let n = now();
    on_db!(db, p => sqlx::query(
        "UPDATE alert_history SET is_resolved = TRUE, resolved_at = ?, updated_at = ?, last_notified_at = ? WHERE id = ?")
        .bind(n).bind(n).bind(n).bind(id).execute(p).await.map(|_| ()))
}

/// Queues one delivery per active channel bound to the history row's rule; returns how many.
pub async fn enqueue_deliveries(db: &Db, history_id: i64, event: &str) -> Result<u64, sqlx::Error> {
    let n = now();
    on_db!(db, p => sqlx::query(
        "INSERT INTO alert_deliveries (history_id, channel_id, event, status, attempts, next_attempt_at, created_at, updated_at) \
         SELECT h.id, b.channel_id, ?, 'pending', 0, ?, ?, ? FROM alert_history h \
         JOIN alert_channel_bindings b ON b.alert_id = h.alert_id \
         JOIN alert_channels c ON c.id = b.channel_id AND c.is_active = TRUE WHERE h.id = ?")
        .bind(event).bind(n).bind(n).bind(n).bind(history_id)
        .execute(p).await.map(|r| r.rows_affected()))
}
