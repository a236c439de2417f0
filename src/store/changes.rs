//! Change marks for the console's polling: what changed in a table since a time, as a summary
//! (latest `updated_at`, rows at or after it, largest id) that reveals no row content.

use chrono::{DateTime, Utc};
use sqlx::AssertSqlSafe;

use super::{ts, Arg, Db, Where};
use crate::{bind_args, on_db};

/// A table the console watches, with its owner column when rows have one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Watched {
    /// certificates (idx_updated_at).
    Certificates,
    /// servers (idx_updated_at).
    Servers,
    /// monitors (idx_updated_at).
    Monitors,
    /// tasks (idx_updated_at).
    Tasks,
    /// alert_history (idx_updated_at).
    AlertHistory,
    /// alerts (small).
    Alerts,
    /// alert_channels (small).
    Channels,
    /// server_groups (small).
    Groups,
    /// scheduled_tasks (small).
    Schedules,
    /// users (small).
    Users,
    /// api_keys (small).
    ApiKeys,
    /// settings (small).
    Settings,
    /// user_settings (small).
    UserSettings,
    /// audit_logs: append-only, watched by `created_at` (idx_created_at).
    Audit,
}

impl Watched {
    fn table(self) -> &'static str {
        match self {
            Watched::Certificates => "certificates",
            Watched::Servers => "servers",
            Watched::Monitors => "monitors",
            Watched::Tasks => "tasks",
            Watched::AlertHistory => "alert_history",
            Watched::Alerts => "alerts",
            Watched::Channels => "alert_channels",
            Watched::Groups => "server_groups",
            Watched::Schedules => "scheduled_tasks",
            Watched::Users => "users",
            Watched::ApiKeys => "api_keys",
            Watched::Settings => "settings",
            Watched::UserSettings => "user_settings",
            Watched::Audit => "audit_logs",
        }
    }

    fn time_column(self) -> &'static str {
        match self {
            Watched::Audit => "created_at",
            _ => "updated_at",
        }
    }

    /// The column that scopes rows to their owner (None: not scoped by owner).
    pub fn owner_column(self) -> Option<&'static str> {
        match self {
            Watched::Certificates
            | Watched::Servers
            | Watched::Monitors
            | Watched::Alerts
            | Watched::Channels
            | Watched::Groups
            | Watched::ApiKeys
            | Watched::UserSettings
            | Watched::Audit => Some("user_id"),
            Watched::Tasks | Watched::Schedules => Some("created_by"),
            Watched::Users => Some("id"),
            Watched::AlertHistory | Watched::Settings => None,
        }
    }
}

/// What a poll saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ChangeMark {
    /// The newest change time at or after `since`.
    pub latest: Option<DateTime<Utc>>,
    /// Rows changed at or after `since` (same-second changes show as a new count).
    pub rows: i64,
    /// The largest id among them.
    pub max_id: Option<i64>,
}

/// Summarises rows of `w` changed at or after `since` (seconds resolution: the caller passes
/// the last `latest` it saw, so rows of that same second are counted again and a new one in it
/// changes the count).
pub async fn changed_since(
    db: &Db,
    w: Watched,
    owner: Option<i64>,
    since: DateTime<Utc>,
) -> Result<ChangeMark, sqlx::Error> {
    let col = w.time_column();
    let mut q = Where::new();
    q.and(&format!("{col} >= ?"), [Arg::Time(ts(since))]);
    if let (Some(uid), Some(owner_col)) = (owner, w.owner_column()) {
        q.and(&format!("{owner_col} = ?"), [Arg::I64(uid)]);
    }
    let sql = format!("SELECT MAX({col}), COUNT(*), MAX(id) FROM {}{}", w.table(), q.sql());
    let (latest, rows, max_id): (Option<chrono::NaiveDateTime>, i64, Option<i64>) = on_db!(db, p => {
        bind_args!(sqlx::query_as(AssertSqlSafe(sql.clone())), q.args.clone()).fetch_one(p).await
    })?;
    Ok(ChangeMark {
        latest: latest.map(|t| t.and_utc()),
        rows,
        max_id,
    })
}
