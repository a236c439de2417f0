//! `scheduled_tasks`: cron schedules, their firing (a compare-and-set on `next_run_at`, so a due
//! schedule fires once however many schedulers see it), and the scans their runs perform:
//! expiring certificates, due renewals, stale deployments, servers to check, and retention.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;
use sqlx::{AssertSqlSafe, FromRow};

use super::audit::{insert_in, NewAudit};
use super::users::LastId;
use super::{now, ts, Arg, Db, Where};
use crate::domain::ScheduleType;
use crate::{bind_args, on_db};

/// A `scheduled_tasks` row.
#[derive(Debug, Clone, FromRow, serde::Serialize, schemars::JsonSchema)]
pub struct ScheduleRow {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Kind.
    #[sqlx(try_from = "String")]
    pub task_type: ScheduleType,
    /// Cron expression.
    pub cron_expression: String,
    /// Parameters.
    #[schemars(with = "Option<serde_json::Value>")]
    pub params: Option<Json<Value>>,
    /// Enabled.
    pub is_active: bool,
    /// Last run.
    pub last_run_at: Option<DateTime<Utc>>,
    /// Next run.
    pub next_run_at: Option<DateTime<Utc>>,
    /// Creator (None = system).
    pub created_by: Option<i64>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Updated.
    pub updated_at: DateTime<Utc>,
}

const COLS: &str = "id, name, task_type, cron_expression, params, is_active, last_run_at, next_run_at, created_by, \
    created_at, updated_at";

/// Schedules of one creator, or all (None).
pub async fn list_schedules(db: &Db, created_by: Option<i64>) -> Result<Vec<ScheduleRow>, sqlx::Error> {
    let mut w = Where::new();
    w.and_opt("created_by = ?", created_by, Arg::I64);
    let sql = format!("SELECT {COLS} FROM scheduled_tasks{} ORDER BY id LIMIT 1000", w.sql());
    on_db!(db, p => bind_args!(sqlx::query_as::<_, ScheduleRow>(AssertSqlSafe(sql)), w.args.clone()).fetch_all(p).await)
}

/// A schedule by id.
pub async fn get_schedule(db: &Db, id: i64) -> Result<Option<ScheduleRow>, sqlx::Error> {
    let sql = format!("SELECT {COLS} FROM scheduled_tasks WHERE id = ?");
    on_db!(db, p => sqlx::query_as::<_, ScheduleRow>(AssertSqlSafe(sql)).bind(id).fetch_optional(p).await)
}

/// A new schedule (validated by the service).
#[derive(Debug, Clone)]
pub struct NewSchedule {
    /// Name.
    pub name: String,
    /// Kind.
    pub task_type: ScheduleType,
    /// Normalised cron expression.
    pub cron_expression: String,
    /// Parameters.
    pub params: Option<Value>,
    /// Enabled.
    pub is_active: bool,
    /// First run.
    pub next_run_at: Option<DateTime<Utc>>,
    /// Owner (None = system).
    pub created_by: Option<i64>,
}

/// Inserts a schedule with its audit row; returns its id.
pub async fn insert_schedule(db: &Db, s: &NewSchedule, audit: &NewAudit) -> Result<i64, sqlx::Error> {
    crate::in_tx!(db, tx => {
        let id = sqlx::query(
            "INSERT INTO scheduled_tasks (name, task_type, cron_expression, params, is_active, next_run_at, created_by, \
             created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&s.name)
        .bind(s.task_type.as_str())
        .bind(&s.cron_expression)
        .bind(s.params.as_ref().map(Value::to_string))
        .bind(s.is_active)
        .bind(s.next_run_at.map(ts))
        .bind(s.created_by)
        .bind(now())
        .bind(now())
        .execute(&mut **tx)
        .await?
        .last_id();
        let mut a = audit.clone();
        a.resource_id = Some(id);
        insert_in!(&mut **tx, &a);
        Ok::<i64, sqlx::Error>(id)
    })
}

/// Active schedules that have no next run yet (seeded rows, re-enabled ones).
pub async fn unplanned(db: &Db) -> Result<Vec<ScheduleRow>, sqlx::Error> {
    let sql = format!("SELECT {COLS} FROM scheduled_tasks WHERE is_active = TRUE AND next_run_at IS NULL LIMIT 1000");
    on_db!(db, p => sqlx::query_as::<_, ScheduleRow>(AssertSqlSafe(sql)).fetch_all(p).await)
}

/// Sets the next run of a schedule that has none (no-op when another scheduler did it first).
pub async fn plan(db: &Db, id: i64, next: DateTime<Utc>) -> Result<(), sqlx::Error> {
    on_db!(db, p => sqlx::query("UPDATE scheduled_tasks SET next_run_at = ? WHERE id = ? AND next_run_at IS NULL")
        .bind(ts(next)).bind(id).execute(p).await.map(|_| ()))
}

/// Active schedules due now.
pub async fn due(db: &Db) -> Result<Vec<ScheduleRow>, sqlx::Error> {
    let sql = format!(
        "SELECT {COLS} FROM scheduled_tasks WHERE is_active = TRUE AND next_run_at <= ? ORDER BY next_run_at LIMIT 100"
    );
    on_db!(db, p => sqlx::query_as::<_, ScheduleRow>(AssertSqlSafe(sql)).bind(now()).fetch_all(p).await)
}

/// Claims one firing of a due schedule: moves `next_run_at` from the value this scheduler read
/// to `next` and stamps `last_run_at`. Only one of several schedulers gets `true`.
pub async fn claim_firing(
    db: &Db,
    id: i64,
    seen_next: DateTime<Utc>,
    next: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let r = on_db!(db, p => sqlx::query(
        "UPDATE scheduled_tasks SET next_run_at = ?, last_run_at = ?, updated_at = ? \
         WHERE id = ? AND is_active = TRUE AND next_run_at = ?",
    )
    .bind(ts(next)).bind(now()).bind(now()).bind(id).bind(ts(seen_next))
    .execute(p).await.map(|r| r.rows_affected()))?;
    Ok(r == 1)
}

/// Changes of a schedule.
#[derive(Debug, Clone, Default)]
pub struct ScheduleChanges {
    /// Name.
    pub name: Option<String>,
    /// Cron expression (with its new next run).
    pub cron_expression: Option<String>,
    /// Parameters.
    pub params: Option<Value>,
    /// Enabled.
    pub is_active: Option<bool>,
    /// Next run (Some(None) clears it).
    pub next_run_at: Option<Option<DateTime<Utc>>>,
}

/// Applies changes with their audit row.
pub async fn update_schedule(db: &Db, id: i64, c: &ScheduleChanges, audit: &NewAudit) -> Result<bool, sqlx::Error> {
    let mut sets = super::Sets::default();
    if let Some(v) = &c.name {
        sets.set("name", Arg::Str(v.clone()));
    }
    if let Some(v) = &c.cron_expression {
        sets.set("cron_expression", Arg::Str(v.clone()));
    }
    if let Some(v) = &c.params {
        sets.set("params", Arg::Str(v.to_string()));
    }
    if let Some(v) = c.is_active {
        sets.set("is_active", Arg::Bool(v));
    }
    if let Some(v) = c.next_run_at {
        sets.set("next_run_at", v.map_or(Arg::Null, |t| Arg::Time(ts(t))));
    }
    super::audited::update_by_id(db, "scheduled_tasks", id, &sets, audit).await
}

// ------------------------------------------------------------------ what schedule runs do

/// Marks issued certificates past `expires_at` as expired (of one owner, or all); returns how many.
pub async fn mark_expired_certificates(db: &Db, owner: Option<i64>) -> Result<u64, sqlx::Error> {
    let mut w = Where::new();
    w.and("status = 'issued' AND expires_at < ?", [Arg::Time(now())]);
    w.and_opt("user_id = ?", owner, Arg::I64);
    let sql = format!("UPDATE certificates SET status = 'expired', updated_at = ?{}", w.sql());
    on_db!(db, p => bind_args!(sqlx::query(AssertSqlSafe(sql)).bind(now()), w.args.clone())
        .execute(p).await.map(|r| r.rows_affected()))
}

const NO_OPEN_TASK: &str = "NOT EXISTS (SELECT 1 FROM tasks t WHERE t.target_type = ? AND t.target_id = {id} \
    AND t.task_type = ? AND t.status IN ('pending', 'running'))";

/// Certificates obtained through ACME here (they have issuance settings) with auto_renew whose
/// renewal window (`renew_before_days` before expiry) has opened and that have no open renewal
/// task. Imported certificates are renewed by whatever obtained them.
pub async fn renewals_due(db: &Db, owner: Option<i64>, limit: i64) -> Result<Vec<i64>, sqlx::Error> {
    let window = match db {
        Db::MySql(_) => "c.expires_at <= DATE_ADD(?, INTERVAL c.renew_before_days DAY)",
        Db::Sqlite(_) => "c.expires_at <= datetime(?, '+' || c.renew_before_days || ' days')",
    };
    let mut w = Where::new();
    w.and(
        "c.auto_renew = TRUE AND c.status IN ('issued', 'expired') AND c.expires_at IS NOT NULL \
         AND EXISTS (SELECT 1 FROM certificate_issuance i WHERE i.certificate_id = c.id)",
        [],
    );
    // Due by date, or inside the CA's renewal window (RFC 9773) at the moment chosen in it.
    let ari = "EXISTS (SELECT 1 FROM certificate_issuance a WHERE a.certificate_id = c.id AND a.ari_renew_at <= ?)";
    w.and(&format!("({window} OR {ari})"), [Arg::Time(now()), Arg::Time(now())]);
    w.and(
        &NO_OPEN_TASK.replace("{id}", "c.id"),
        [Arg::Str("certificate".into()), Arg::Str("certificate_renew".into())],
    );
    w.and_opt("c.user_id = ?", owner, Arg::I64);
    let sql = format!(
        "SELECT c.id FROM certificates c{} ORDER BY c.expires_at LIMIT {}",
        w.sql(),
        limit.clamp(1, 10_000)
    );
    on_db!(db, p => bind_args!(sqlx::query_scalar::<_, i64>(AssertSqlSafe(sql)), w.args.clone()).fetch_all(p).await)
}

/// Auto-deploy bindings whose certificate is newer than the last deploy (or whose last deploy
/// failed), with no open deploy task.
pub async fn stale_deployments(db: &Db, owner: Option<i64>, limit: i64) -> Result<Vec<i64>, sqlx::Error> {
    let mut w = Where::new();
    w.and(
        "d.auto_deploy = TRUE AND c.status = 'issued' \
         AND (d.status = 'failed' OR d.last_deploy_at IS NULL OR d.last_deploy_at < c.issued_at)",
        [],
    );
    w.and(
        &NO_OPEN_TASK.replace("{id}", "d.id"),
        [Arg::Str("deployment".into()), Arg::Str("certificate_deploy".into())],
    );
    w.and_opt("c.user_id = ?", owner, Arg::I64);
    let sql = format!(
        "SELECT d.id FROM certificate_deployments d JOIN certificates c ON c.id = d.certificate_id{} ORDER BY d.id LIMIT {}",
        w.sql(),
        limit.clamp(1, 10_000)
    );
    on_db!(db, p => bind_args!(sqlx::query_scalar::<_, i64>(AssertSqlSafe(sql)), w.args.clone()).fetch_all(p).await)
}

/// Servers the operator has not disabled (status other than inactive) with no open check task.
pub async fn servers_to_check(db: &Db, owner: Option<i64>, limit: i64) -> Result<Vec<i64>, sqlx::Error> {
    let mut w = Where::new();
    // Token servers are reached by the pull agent, never over SSH.
    w.and("s.status <> 'inactive' AND s.auth_type <> 'token'", []);
    w.and(
        &NO_OPEN_TASK.replace("{id}", "s.id"),
        [Arg::Str("server".into()), Arg::Str("server_check".into())],
    );
    w.and_opt("s.user_id = ?", owner, Arg::I64);
    let sql = format!(
        "SELECT s.id FROM servers s{} ORDER BY s.id LIMIT {}",
        w.sql(),
        limit.clamp(1, 100_000)
    );
    on_db!(db, p => bind_args!(sqlx::query_scalar::<_, i64>(AssertSqlSafe(sql)), w.args.clone()).fetch_all(p).await)
}

/// Rows removed by a cleanup run.
#[derive(Debug, Clone, Default, serde::Serialize, PartialEq, Eq, schemars::JsonSchema)]
pub struct CleanupCounts {
    /// task_logs older than their retention.
    pub task_logs: u64,
    /// audit_logs older than their retention.
    pub audit_logs: u64,
    /// Resolved alert_history older than its retention.
    pub alert_history: u64,
    /// Expired or revoked user_tokens.
    pub user_tokens: u64,
}

/// Deletes what retention allows: task logs and audit rows older than their cutoffs, resolved
/// alert history resolved before its cutoff, and user tokens that expired or were revoked.
/// The audit row of the run itself is written after, so it is never deleted by it.
pub async fn cleanup(
    db: &Db,
    task_logs_before: DateTime<Utc>,
    audit_before: DateTime<Utc>,
    alerts_before: DateTime<Utc>,
) -> Result<CleanupCounts, sqlx::Error> {
    let run = |sql: &'static str, t: DateTime<Utc>| async move {
        on_db!(db, p => sqlx::query(sql).bind(ts(t)).execute(p).await.map(|r| r.rows_affected()))
    };
    Ok(CleanupCounts {
        task_logs: run("DELETE FROM task_logs WHERE created_at < ?", task_logs_before).await?,
        audit_logs: run("DELETE FROM audit_logs WHERE created_at < ?", audit_before).await?,
        alert_history: run(
            "DELETE FROM alert_history WHERE is_resolved = TRUE AND resolved_at < ?",
            alerts_before,
        )
        .await?,
        user_tokens: run(
            "DELETE FROM user_tokens WHERE is_revoked = TRUE OR expires_at < ?",
            Utc::now(),
        )
        .await?,
    })
}

/// Takes up to `per_task × max_tasks` monitors that are due (`next_check_at` passed or never
/// set, active), moves their `next_check_at` one `check_interval` ahead, and queues them as
/// `monitor_check` tasks of at most `per_task` monitors each (`params.monitor_ids`), all in one
/// transaction. Several schedulers never queue one monitor twice (MySQL: SKIP LOCKED; SQLite:
/// one writer). Returns the queued task ids.
pub async fn enqueue_due_monitors(db: &Db, per_task: usize, max_tasks: usize) -> Result<Vec<i64>, sqlx::Error> {
    let n = now();
    let limit = (per_task.clamp(1, 1000) * max_tasks.clamp(1, 100)) as i64;
    let advance = match db {
        Db::MySql(_) => "DATE_ADD(?, INTERVAL check_interval SECOND)",
        Db::Sqlite(_) => "datetime(?, '+' || check_interval || ' seconds')",
    };
    let lock = match db {
        Db::MySql(_) => " FOR UPDATE SKIP LOCKED",
        Db::Sqlite(_) => "",
    };
    let select = format!(
        "SELECT id FROM monitors WHERE is_active = TRUE AND (next_check_at IS NULL OR next_check_at <= ?) \
         ORDER BY next_check_at, id LIMIT ?{lock}"
    );
    let advance_sql = format!("UPDATE monitors SET next_check_at = {advance} WHERE id = ?");
    crate::in_tx!(db, tx => {
        let ids: Vec<i64> = sqlx::query_scalar(AssertSqlSafe(select)).bind(n).bind(limit).fetch_all(&mut **tx).await?;
        for id in &ids {
            sqlx::query(AssertSqlSafe(advance_sql.clone())).bind(n).bind(id).execute(&mut **tx).await?;
        }
        let mut tasks = Vec::new();
        for chunk in ids.chunks(per_task.max(1)) {
            let params = serde_json::json!({ "monitor_ids": chunk });
            let id = sqlx::query(
                "INSERT INTO tasks (task_type, status, priority, params, scheduled_at, max_attempts, created_at, updated_at) \
                 VALUES ('monitor_check', 'pending', 4, ?, ?, 3, ?, ?)",
            )
            .bind(params.to_string())
            .bind(n)
            .bind(n)
            .bind(n)
            .execute(&mut **tx)
            .await?
            .last_id();
            tasks.push(id);
        }
        Ok::<Vec<i64>, sqlx::Error>(tasks)
    })
}
