//! `audit_logs`: one row per change, written in the same transaction as the change.

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{AssertSqlSafe, FromRow};

use super::{ts, Arg, Db, Page, Where};
use crate::{bind_args, on_db};

/// An audit entry to write.
#[derive(Debug, Clone, Default)]
pub struct NewAudit {
    /// Acting user (None for the system).
    pub user_id: Option<i64>,
    /// Action, e.g. `server.create`.
    pub action: String,
    /// Resource type, e.g. `server`.
    pub resource_type: Option<String>,
    /// Resource id.
    pub resource_id: Option<i64>,
    /// Details (never secrets).
    pub details: Option<serde_json::Value>,
    /// Client IP (from `SSH_CLIENT`).
    pub ip_address: Option<String>,
    /// `certdeck/<version> (<TERM>)`.
    pub user_agent: Option<String>,
}

impl NewAudit {
    /// Sets the resource id (known only after an insert).
    pub fn with_resource_id(mut self, id: i64) -> Self {
        self.resource_id = Some(id);
        self
    }

    /// Sets the acting user when none is set (a user creating itself at init).
    pub fn with_user_if_none(mut self, id: i64) -> Self {
        if self.user_id.is_none() {
            self.user_id = Some(id);
        }
        self
    }

    /// The details as a bindable JSON value.
    pub fn details_json(&self) -> Option<Json<serde_json::Value>> {
        self.details.clone().map(Json)
    }
}

/// Inserts an audit row on a connection or transaction of either backend.
macro_rules! insert_in {
    ($conn:expr, $audit:expr) => {{
        let a: &$crate::store::audit::NewAudit = $audit;
        sqlx::query(
            "INSERT INTO audit_logs (user_id, action, resource_type, resource_id, details, ip_address, user_agent) \
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(a.user_id)
        .bind(&a.action)
        .bind(&a.resource_type)
        .bind(a.resource_id)
        .bind(a.details_json())
        .bind(&a.ip_address)
        .bind(&a.user_agent)
        .execute($conn)
        .await?;
    }};
}
pub(crate) use insert_in;

/// Writes an audit row on its own (for events that change no other row, e.g. a failed login).
pub async fn insert(db: &Db, audit: &NewAudit) -> Result<(), sqlx::Error> {
    on_db!(db, p => { insert_in!(p, audit); });
    Ok(())
}

/// An `audit_logs` row.
#[derive(Debug, Clone, FromRow, serde::Serialize, schemars::JsonSchema)]
pub struct AuditRow {
    /// Id.
    pub id: i64,
    /// Acting user.
    pub user_id: Option<i64>,
    /// Action.
    pub action: String,
    /// Resource type.
    pub resource_type: Option<String>,
    /// Resource id.
    pub resource_id: Option<i64>,
    /// Details.
    #[schemars(with = "Option<serde_json::Value>")]
    pub details: Option<Json<serde_json::Value>>,
    /// IP.
    pub ip_address: Option<String>,
    /// User agent.
    pub user_agent: Option<String>,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// Filters of the audit list (each backed by an index).
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Only this user's actions.
    pub user_id: Option<i64>,
    /// Only this action.
    pub action: Option<String>,
    /// Only this resource type.
    pub resource_type: Option<String>,
    /// Only this resource id (with resource_type).
    pub resource_id: Option<i64>,
    /// At or after.
    pub since: Option<DateTime<Utc>>,
    /// Before.
    pub until: Option<DateTime<Utc>>,
}

/// A page of audit rows, newest first.
pub async fn list(db: &Db, f: &AuditFilter, page: Page) -> Result<Vec<AuditRow>, sqlx::Error> {
    let mut w = Where::new();
    w.before("id", &page);
    w.and_opt("user_id = ?", f.user_id, Arg::I64);
    w.and_opt("action = ?", f.action.clone(), Arg::Str);
    w.and_opt("resource_type = ?", f.resource_type.clone(), Arg::Str);
    w.and_opt("resource_id = ?", f.resource_id, Arg::I64);
    w.and_opt("created_at >= ?", f.since, |t| Arg::Time(ts(t)));
    w.and_opt("created_at < ?", f.until, |t| Arg::Time(ts(t)));
    let sql = format!(
        "SELECT id, user_id, action, resource_type, resource_id, details, ip_address, user_agent, created_at \
         FROM audit_logs{} ORDER BY id DESC LIMIT {}",
        w.sql(),
        page.size()
    );
    on_db!(db, p => bind_args!(sqlx::query_as::<_, AuditRow>(AssertSqlSafe(sql)), w.args.clone()).fetch_all(p).await)
}
