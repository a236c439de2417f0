//! `monitors`, `alerts`, `alert_channels`, `alert_channel_bindings` and `alert_history`.

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{AssertSqlSafe, FromRow};

use super::audit::{insert_in, NewAudit};
use super::users::LastId;
use super::{ts_opt, Arg, Db, Page, Where};
use crate::domain::{AlertType, ChannelType, ConditionType, MonitorStatus, MonitorType, Severity};
use crate::{bind_args, on_db};

/// A `monitors` row.
#[derive(Debug, Clone, FromRow, serde::Serialize, schemars::JsonSchema)]
pub struct MonitorRow {
    /// Id.
    pub id: i64,
    /// Owner.
    pub user_id: i64,
    /// Name.
    pub name: String,
    /// What is watched.
    #[sqlx(try_from = "String")]
    pub monitor_type: MonitorType,
    /// Certificate or server id.
    pub target_id: Option<i64>,
    /// Domain (domain monitors).
    pub domain: Option<String>,
    /// TLS port.
    pub port: Option<i32>,
    /// Seconds between checks.
    pub check_interval: i32,
    /// Enabled.
    pub is_active: bool,
    /// Last check.
    pub last_check_at: Option<DateTime<Utc>>,
    /// Next check.
    pub next_check_at: Option<DateTime<Utc>>,
    /// Status.
    #[sqlx(try_from = "String")]
    pub status: MonitorStatus,
    /// Status text.
    pub status_message: Option<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Updated.
    pub updated_at: DateTime<Utc>,
    /// Address to connect to instead of the domain (V14).
    pub connect_address: Option<String>,
    /// PEM bundle the chain is verified against instead of the public roots (V14).
    pub trust_bundle_pem: Option<String>,
    /// Failed checks in a row (V14).
    pub consecutive_failures: i32,
    /// What the last check found (V14): findings and the presented chain.
    #[schemars(with = "Option<serde_json::Value>")]
    pub last_result: Option<Json<serde_json::Value>>,
}

const MONITOR_COLS: &str = "id, user_id, name, monitor_type, target_id, domain, port, check_interval, is_active, \
    last_check_at, next_check_at, status, status_message, created_at, updated_at, connect_address, trust_bundle_pem, \
    consecutive_failures, last_result";

/// Values of a new monitor.
#[derive(Debug, Clone)]
pub struct NewMonitor {
    /// Owner.
    pub user_id: i64,
    /// Name.
    pub name: String,
    /// Type.
    pub monitor_type: MonitorType,
    /// Target id.
    pub target_id: Option<i64>,
    /// Domain.
    pub domain: Option<String>,
    /// Port.
    pub port: Option<i32>,
    /// Interval.
    pub check_interval: i32,
    /// Enabled.
    pub is_active: bool,
    /// First check time.
    pub next_check_at: Option<DateTime<Utc>>,
    /// Address to connect to instead of the domain.
    pub connect_address: Option<String>,
    /// Trust bundle (PEM) instead of the public roots.
    pub trust_bundle_pem: Option<String>,
}

/// Inserts a monitor; returns its id.
pub async fn insert_monitor(db: &Db, m: &NewMonitor, audit: &NewAudit) -> Result<i64, sqlx::Error> {
    crate::in_tx!(db, tx => {
        let id = sqlx::query("INSERT INTO monitors (user_id, name, monitor_type, target_id, domain, port, check_interval, is_active, next_check_at, \
                              connect_address, trust_bundle_pem) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
            .bind(m.user_id).bind(&m.name).bind(m.monitor_type.as_str()).bind(m.target_id).bind(&m.domain)
            .bind(m.port).bind(m.check_interval).bind(m.is_active).bind(ts_opt(m.next_check_at))
            .bind(&m.connect_address).bind(&m.trust_bundle_pem)
            .execute(&mut **tx).await?.last_id();
        insert_in!(&mut **tx, &audit.clone().with_resource_id(id));
        Ok::<i64, sqlx::Error>(id)
    })
}

/// A monitor by id.
pub async fn get_monitor(db: &Db, id: i64) -> Result<Option<MonitorRow>, sqlx::Error> {
    let sql = format!("SELECT {MONITOR_COLS} FROM monitors WHERE id = ?");
    on_db!(db, p => sqlx::query_as::<_, MonitorRow>(AssertSqlSafe(sql)).bind(id).fetch_optional(p).await)
}

/// Filters of the monitor list.
#[derive(Debug, Clone, Default)]
pub struct MonitorFilter {
    /// Owner scope.
    pub user_id: Option<i64>,
    /// Status.
    pub status: Option<MonitorStatus>,
    /// Type.
    pub monitor_type: Option<MonitorType>,
    /// Enabled or not.
    pub is_active: Option<bool>,
}

/// A page of monitors, newest first.
pub async fn list_monitors(db: &Db, f: &MonitorFilter, page: Page) -> Result<Vec<MonitorRow>, sqlx::Error> {
    let mut w = Where::new();
    w.before("id", &page);
    w.and_opt("user_id = ?", f.user_id, Arg::I64);
    w.and_opt("status = ?", f.status, |v| Arg::Str(v.as_str().into()));
    w.and_opt("monitor_type = ?", f.monitor_type, |v| Arg::Str(v.as_str().into()));
    w.and_opt("is_active = ?", f.is_active, Arg::Bool);
    let sql = format!(
        "SELECT {MONITOR_COLS} FROM monitors{} ORDER BY id DESC LIMIT {}",
        w.sql(),
        page.size()
    );
    on_db!(db, p => bind_args!(sqlx::query_as::<_, MonitorRow>(AssertSqlSafe(sql)), w.args.clone()).fetch_all(p).await)
}

/// Deletes a monitor, its history and detaches alerts that reference it.
pub async fn delete_monitor(db: &Db, id: i64, audit: &NewAudit) -> Result<bool, sqlx::Error> {
    super::audited::delete_by_id(
        db,
        "monitors",
        id,
        &[
            "DELETE FROM alert_history WHERE monitor_id = ?",
            "UPDATE alerts SET monitor_id = NULL WHERE monitor_id = ?",
        ],
        audit,
    )
    .await
}

// ---------------------------------------------------------------- alerts

/// An `alerts` row (a rule).
#[derive(Debug, Clone, FromRow, serde::Serialize, schemars::JsonSchema)]
pub struct AlertRow {
    /// Id.
    pub id: i64,
    /// Owner.
    pub user_id: i64,
    /// Name.
    pub name: String,
    /// Type.
    #[sqlx(try_from = "String")]
    pub alert_type: AlertType,
    /// Monitor it applies to (None = all of the owner's).
    pub monitor_id: Option<i64>,
    /// Condition type.
    #[sqlx(try_from = "String")]
    pub condition_type: ConditionType,
    /// Condition value.
    pub condition_value: String,
    /// Severity.
    #[sqlx(try_from = "String")]
    pub severity: Severity,
    /// Enabled.
    pub is_active: bool,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Updated.
    pub updated_at: DateTime<Utc>,
}

const ALERT_COLS: &str = "id, user_id, name, alert_type, monitor_id, condition_type, condition_value, severity, is_active, created_at, updated_at";

/// Values of a new alert rule.
#[derive(Debug, Clone)]
pub struct NewAlert {
    /// Owner.
    pub user_id: i64,
    /// Name.
    pub name: String,
    /// Type.
    pub alert_type: AlertType,
    /// Monitor.
    pub monitor_id: Option<i64>,
    /// Condition type.
    pub condition_type: ConditionType,
    /// Condition value.
    pub condition_value: String,
    /// Severity.
    pub severity: Severity,
    /// Enabled.
    pub is_active: bool,
}

/// Inserts an alert rule; returns its id.
pub async fn insert_alert(db: &Db, a: &NewAlert, audit: &NewAudit) -> Result<i64, sqlx::Error> {
    crate::in_tx!(db, tx => {
        let id = sqlx::query("INSERT INTO alerts (user_id, name, alert_type, monitor_id, condition_type, condition_value, severity, is_active) \
                              VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
            .bind(a.user_id).bind(&a.name).bind(a.alert_type.as_str()).bind(a.monitor_id).bind(a.condition_type.as_str())
            .bind(&a.condition_value).bind(a.severity.as_str()).bind(a.is_active)
            .execute(&mut **tx).await?.last_id();
        insert_in!(&mut **tx, &audit.clone().with_resource_id(id));
        Ok::<i64, sqlx::Error>(id)
    })
}

/// An alert rule by id.
pub async fn get_alert(db: &Db, id: i64) -> Result<Option<AlertRow>, sqlx::Error> {
    let sql = format!("SELECT {ALERT_COLS} FROM alerts WHERE id = ?");
    on_db!(db, p => sqlx::query_as::<_, AlertRow>(AssertSqlSafe(sql)).bind(id).fetch_optional(p).await)
}

/// A page of alert rules, newest first.
pub async fn list_alerts(
    db: &Db,
    user_id: Option<i64>,
    alert_type: Option<AlertType>,
    page: Page,
) -> Result<Vec<AlertRow>, sqlx::Error> {
    let mut w = Where::new();
    w.before("id", &page);
    w.and_opt("user_id = ?", user_id, Arg::I64);
    w.and_opt("alert_type = ?", alert_type, |v| Arg::Str(v.as_str().into()));
    let sql = format!(
        "SELECT {ALERT_COLS} FROM alerts{} ORDER BY id DESC LIMIT {}",
        w.sql(),
        page.size()
    );
    on_db!(db, p => bind_args!(sqlx::query_as::<_, AlertRow>(AssertSqlSafe(sql)), w.args.clone()).fetch_all(p).await)
}

/// Deletes an alert rule with its bindings and history.
pub async fn delete_alert(db: &Db, id: i64, audit: &NewAudit) -> Result<bool, sqlx::Error> {
    super::audited::delete_by_id(
        db,
        "alerts",
        id,
        &[
            "DELETE FROM alert_channel_bindings WHERE alert_id = ?",
            "DELETE FROM alert_history WHERE alert_id = ?",
        ],
        audit,
    )
    .await
}

// ---------------------------------------------------------------- alert_channels

/// An `alert_channels` row; `config` is `{"settings": {…}, "secrets": "<envelope>"}`.
#[derive(Clone, FromRow)]
pub struct ChannelRow {
    /// Id.
    pub id: i64,
    /// Owner.
    pub user_id: i64,
    /// Name.
    pub name: String,
    /// Kind.
    #[sqlx(try_from = "String")]
    pub channel_type: ChannelType,
    /// Config JSON (its secrets are sealed).
    pub config: Json<serde_json::Value>,
    /// Enabled.
    pub is_active: bool,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Updated.
    pub updated_at: DateTime<Utc>,
}

impl std::fmt::Debug for ChannelRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelRow")
            .field("id", &self.id)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

const CHANNEL_COLS: &str = "id, user_id, name, channel_type, config, is_active, created_at, updated_at";

/// Inserts a channel; returns its id. `sealed` fills `config` (settings and sealed secrets)
/// once the row has its id, which the secrets' envelope is bound to.
#[allow(clippy::too_many_arguments)]
pub async fn insert_channel(
    db: &Db,
    user_id: i64,
    name: &str,
    channel_type: ChannelType,
    config: &serde_json::Value,
    sealed: Vec<super::secrets::SealOnInsert>,
    is_active: bool,
    audit: &NewAudit,
) -> Result<i64, sqlx::Error> {
    crate::in_tx!(db, tx => {
        let id = sqlx::query("INSERT INTO alert_channels (user_id, name, channel_type, config, is_active) VALUES (?, ?, ?, ?, ?)")
            .bind(user_id).bind(name).bind(channel_type.as_str()).bind(Json(config)).bind(is_active)
            .execute(&mut **tx).await?.last_id();
        super::secrets::seal_inserted!(&mut **tx, id, sealed);
        insert_in!(&mut **tx, &audit.clone().with_resource_id(id));
        Ok::<i64, sqlx::Error>(id)
    })
}

/// A channel by id.
pub async fn get_channel(db: &Db, id: i64) -> Result<Option<ChannelRow>, sqlx::Error> {
    let sql = format!("SELECT {CHANNEL_COLS} FROM alert_channels WHERE id = ?");
    on_db!(db, p => sqlx::query_as::<_, ChannelRow>(AssertSqlSafe(sql)).bind(id).fetch_optional(p).await)
}

/// A page of channels, newest first.
pub async fn list_channels(db: &Db, user_id: Option<i64>, page: Page) -> Result<Vec<ChannelRow>, sqlx::Error> {
    let mut w = Where::new();
    w.before("id", &page);
    w.and_opt("user_id = ?", user_id, Arg::I64);
    let sql = format!(
        "SELECT {CHANNEL_COLS} FROM alert_channels{} ORDER BY id DESC LIMIT {}",
        w.sql(),
        page.size()
    );
    on_db!(db, p => bind_args!(sqlx::query_as::<_, ChannelRow>(AssertSqlSafe(sql)), w.args.clone()).fetch_all(p).await)
}

/// Deletes a channel with its bindings.
pub async fn delete_channel(db: &Db, id: i64, audit: &NewAudit) -> Result<bool, sqlx::Error> {
    super::audited::delete_by_id(
        db,
        "alert_channels",
        id,
        &["DELETE FROM alert_channel_bindings WHERE channel_id = ?"],
        audit,
    )
    .await
}

// ---------------------------------------------------------------- alert_channel_bindings

/// An `alert_channel_bindings` row.
#[derive(Debug, Clone, FromRow, serde::Serialize, schemars::JsonSchema)]
pub struct BindingRow {
    /// Id.
    pub id: i64,
    /// Alert rule.
    pub alert_id: i64,
    /// Channel.
    pub channel_id: i64,
    /// Created.
    pub created_at: DateTime<Utc>,
}

/// Binds an alert to a channel.
pub async fn insert_binding(db: &Db, alert_id: i64, channel_id: i64, audit: &NewAudit) -> Result<i64, sqlx::Error> {
    crate::in_tx!(db, tx => {
        let id = sqlx::query("INSERT INTO alert_channel_bindings (alert_id, channel_id) VALUES (?, ?)")
            .bind(alert_id).bind(channel_id).execute(&mut **tx).await?.last_id();
        insert_in!(&mut **tx, &audit.clone().with_resource_id(id));
        Ok::<i64, sqlx::Error>(id)
    })
}

/// Removes a binding; returns whether it existed.
pub async fn delete_binding(db: &Db, alert_id: i64, channel_id: i64, audit: &NewAudit) -> Result<bool, sqlx::Error> {
    crate::in_tx!(db, tx => {
        let n = sqlx::query("DELETE FROM alert_channel_bindings WHERE alert_id = ? AND channel_id = ?")
            .bind(alert_id).bind(channel_id).execute(&mut **tx).await?.rows_affected();
        if n > 0 {
            insert_in!(&mut **tx, audit);
        }
        Ok::<bool, sqlx::Error>(n > 0)
    })
}

/// The bindings of an alert rule.
pub async fn bindings_of_alert(db: &Db, alert_id: i64) -> Result<Vec<BindingRow>, sqlx::Error> {
    on_db!(db, p => sqlx::query_as::<_, BindingRow>("SELECT id, alert_id, channel_id, created_at FROM alert_channel_bindings WHERE alert_id = ? ORDER BY id")
        .bind(alert_id).fetch_all(p).await)
}

// ---------------------------------------------------------------- alert_history

/// An `alert_history` row.
#[derive(Debug, Clone, FromRow, serde::Serialize, schemars::JsonSchema)]
pub struct HistoryRow {
    /// Id.
    pub id: i64,
    /// Alert rule.
    pub alert_id: i64,
    /// Monitor.
    pub monitor_id: i64,
    /// Severity.
    #[sqlx(try_from = "String")]
    pub severity: Severity,
    /// Message.
    pub message: String,
    /// Data.
    #[schemars(with = "Option<serde_json::Value>")]
    pub data: Option<Json<serde_json::Value>>,
    /// Resolved.
    pub is_resolved: bool,
    /// Resolved at.
    pub resolved_at: Option<DateTime<Utc>>,
    /// When someone acknowledged it (V14): no reminders since.
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// Who acknowledged it (V14).
    pub acknowledged_by: Option<i64>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Updated.
    pub updated_at: DateTime<Utc>,
}

const HISTORY_COLS: &str =
    "h.id, h.alert_id, h.monitor_id, h.severity, h.message, h.data, h.is_resolved, h.resolved_at, \
    h.acknowledged_at, h.acknowledged_by, h.created_at, h.updated_at";

/// A page of alert history, newest first; `user_id` scopes through the alert's owner; `open`
/// keeps only unresolved (`Some(true)`) or only resolved (`Some(false)`) rows.
pub async fn list_history(
    db: &Db,
    user_id: Option<i64>,
    open: Option<bool>,
    page: Page,
) -> Result<Vec<HistoryRow>, sqlx::Error> {
    let mut w = Where::new();
    w.before("h.id", &page);
    w.and_opt(
        "h.alert_id IN (SELECT id FROM alerts WHERE user_id = ?)",
        user_id,
        Arg::I64,
    );
    if let Some(open) = open {
        w.and(
            if open {
                "h.is_resolved = FALSE"
            } else {
                "h.is_resolved = TRUE"
            },
            [],
        );
    }
    let sql = format!(
        "SELECT {HISTORY_COLS} FROM alert_history h{} ORDER BY h.id DESC LIMIT {}",
        w.sql(),
        page.size()
    );
    on_db!(db, p => bind_args!(sqlx::query_as::<_, HistoryRow>(AssertSqlSafe(sql)), w.args.clone()).fetch_all(p).await)
}

/// A history row by id.
pub async fn get_history(db: &Db, id: i64) -> Result<Option<HistoryRow>, sqlx::Error> {
    let sql = format!("SELECT {HISTORY_COLS} FROM alert_history h WHERE h.id = ?");
    on_db!(db, p => sqlx::query_as::<_, HistoryRow>(AssertSqlSafe(sql))
        .bind(id).fetch_optional(p).await)
}

/// Marks a history row resolved now.
pub async fn resolve_history(db: &Db, id: i64, audit: &NewAudit) -> Result<bool, sqlx::Error> {
    let mut sets = super::Sets::new();
    sets.set("is_resolved", Arg::Bool(true))
        .set("resolved_at", Arg::Time(super::now()));
    super::audited::update_by_id(db, "alert_history", id, &sets, audit).await
}
