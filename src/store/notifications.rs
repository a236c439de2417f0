//! The notification outbox (`alert_deliveries`, V14): due rows with what a message needs, and
//! the outcome of each attempt.

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::FromRow;

use super::{now, Db};
use crate::domain::AlertType;
use crate::on_db;

/// A delivery to attempt, with its alert, history row and monitor.
#[derive(Debug, Clone, FromRow)]
pub struct DueDelivery {
    /// Delivery id.
    pub id: i64,
    /// The alert event (history row).
    pub history_id: i64,
    /// The channel.
    pub channel_id: i64,
    /// `firing`, `reminder` or `resolved`.
    pub event: String,
    /// Attempts so far.
    pub attempts: i32,
    /// When it became due (the claim compares it).
    pub next_attempt_at: DateTime<Utc>,
    /// The rule.
    pub alert_id: i64,
    /// The rule's name.
    pub alert_name: String,
    /// The rule's type.
    #[sqlx(try_from = "String")]
    pub alert_type: AlertType,
    /// The event's severity.
    pub severity: String,
    /// The event's message.
    pub message: String,
    /// The findings.
    pub data: Option<Json<serde_json::Value>>,
    /// When the alert opened.
    pub created_at: DateTime<Utc>,
    /// The monitor's name.
    pub monitor_name: String,
    /// The monitor's domain.
    pub monitor_domain: Option<String>,
}

/// Pending deliveries whose time has come, oldest first.
pub async fn due_deliveries(db: &Db, limit: i64) -> Result<Vec<DueDelivery>, sqlx::Error> {
    on_db!(db, p => sqlx::query_as::<_, DueDelivery>(
        "SELECT d.id, d.history_id, d.channel_id, d.event, d.attempts, d.next_attempt_at, h.alert_id, a.name AS alert_name, a.alert_type, \
         h.severity, h.message, h.data, h.created_at, m.name AS monitor_name, m.domain AS monitor_domain \
         FROM alert_deliveries d JOIN alert_history h ON h.id = d.history_id JOIN alerts a ON a.id = h.alert_id \
         JOIN monitors m ON m.id = h.monitor_id \
         WHERE d.status = 'pending' AND d.next_attempt_at <= ? ORDER BY d.next_attempt_at, d.id LIMIT ?")
        .bind(now()).bind(limit.clamp(1, 1000)).fetch_all(p).await)
}

/// Claims a due delivery for one sender: moves its time 5 minutes ahead unless another
/// scheduler did first (then false). A sender that dies leaves it due again after that.
pub async fn claim_delivery(db: &Db, id: i64, due_at: DateTime<Utc>) -> Result<bool, sqlx::Error> {
    let lease = super::ts(Utc::now() + chrono::Duration::minutes(5));
    on_db!(db, p => sqlx::query(
        "UPDATE alert_deliveries SET next_attempt_at = ? WHERE id = ? AND status = 'pending' AND next_attempt_at = ?")
        .bind(lease).bind(id).bind(super::ts(due_at)).execute(p).await.map(|r| r.rows_affected() == 1))
}

fn excerpt(s: &str) -> String {
    s.chars().take(500).collect()
}

/// The channel accepted the delivery.
pub async fn delivery_done(db: &Db, id: i64, attempts: i32, response: &str) -> Result<(), sqlx::Error> {
    let n = now();
    on_db!(db, p => sqlx::query(
        "UPDATE alert_deliveries SET status = 'sent', attempts = ?, response_excerpt = ?, sent_at = ?, updated_at = ? WHERE id = ?")
        .bind(attempts).bind(excerpt(response)).bind(n).bind(n).bind(id).execute(p).await.map(|_| ()))
}

/// A transient failure: try again at `next`.
pub async fn delivery_retry(
    db: &Db,
    id: i64,
    attempts: i32,
    next: DateTime<Utc>,
    error: &str,
) -> Result<(), sqlx::Error> {
    on_db!(db, p => sqlx::query(
        "UPDATE alert_deliveries SET attempts = ?, next_attempt_at = ?, response_excerpt = ?, updated_at = ? WHERE id = ?")
        .bind(attempts).bind(super::ts(next)).bind(excerpt(error)).bind(now()).bind(id).execute(p).await.map(|_| ()))
}

/// Given up.
pub async fn delivery_failed(db: &Db, id: i64, attempts: i32, error: &str) -> Result<(), sqlx::Error> {
    on_db!(db, p => sqlx::query(
        "UPDATE alert_deliveries SET status = 'failed', attempts = ?, response_excerpt = ?, updated_at = ? WHERE id = ?")
        .bind(attempts).bind(excerpt(error)).bind(now()).bind(id).execute(p).await.map(|_| ()))
}
