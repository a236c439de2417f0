//! `tasks` and `task_logs`, the read side (the queue itself is in `queue`).

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{AssertSqlSafe, FromRow};

use super::{Arg, Db, Page, Where};
use crate::domain::{LogLevel, TaskStatus, TaskType};
use crate::{bind_args, on_db};

/// A `tasks` row.
#[derive(Debug, Clone, FromRow, serde::Serialize, schemars::JsonSchema)]
pub struct TaskRow {
    /// Id.
    pub id: i64,
    /// Type.
    #[sqlx(try_from = "String")]
    pub task_type: TaskType,
    /// Status.
    #[sqlx(try_from = "String")]
    pub status: TaskStatus,
    /// Priority 1–10.
    pub priority: i32,
    /// Target kind.
    pub target_type: Option<String>,
    /// Target id.
    pub target_id: Option<i64>,
    /// Parameters.
    #[schemars(with = "Option<serde_json::Value>")]
    pub params: Option<Json<serde_json::Value>>,
    /// Result.
    #[schemars(with = "Option<serde_json::Value>")]
    pub result: Option<Json<serde_json::Value>>,
    /// Error.
    pub error_message: Option<String>,
    /// Progress 0–100.
    pub progress: i32,
    /// Due.
    pub scheduled_at: DateTime<Utc>,
    /// Started.
    pub started_at: Option<DateTime<Utc>>,
    /// Completed.
    pub completed_at: Option<DateTime<Utc>>,
    /// Creator.
    pub created_by: Option<i64>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Updated.
    pub updated_at: DateTime<Utc>,
}

const TASK_COLS: &str =
    "id, task_type, status, priority, target_type, target_id, params, result, error_message, progress, \
    scheduled_at, started_at, completed_at, created_by, created_at, updated_at";

/// A task is visible to user ? when it created it or the task targets one of its rows (five
/// binds of the user id).
const VISIBLE_TO: &str = "(created_by = ? \
    OR (target_type = 'certificate' AND target_id IN (SELECT id FROM certificates WHERE user_id = ?)) \
    OR (target_type = 'server' AND target_id IN (SELECT id FROM servers WHERE user_id = ?)) \
    OR (target_type = 'monitor' AND target_id IN (SELECT id FROM monitors WHERE user_id = ?)) \
    OR (target_type = 'deployment' AND target_id IN (SELECT d.id FROM certificate_deployments d \
        JOIN certificates c ON c.id = d.certificate_id WHERE c.user_id = ?)))";

/// Whether user `uid` may see task `id` (see the task list's rule).
pub async fn task_visible_to(db: &Db, id: i64, uid: i64) -> Result<bool, sqlx::Error> {
    let sql = format!("SELECT COUNT(*) FROM tasks WHERE id = ? AND {VISIBLE_TO}");
    let n: i64 = on_db!(db, p => sqlx::query_scalar(AssertSqlSafe(sql))
        .bind(id).bind(uid).bind(uid).bind(uid).bind(uid).bind(uid).fetch_one(p).await)?;
    Ok(n == 1)
}

/// Filters of the task list.
#[derive(Debug, Clone, Default)]
pub struct TaskFilter {
    /// Only tasks this user created or that target its certificates/servers/monitors.
    pub visible_to: Option<i64>,
    /// Status.
    pub status: Option<TaskStatus>,
    /// Type.
    pub task_type: Option<TaskType>,
}

/// A page of tasks, newest first.
pub async fn list_tasks(db: &Db, f: &TaskFilter, page: Page) -> Result<Vec<TaskRow>, sqlx::Error> {
    let mut w = Where::new();
    w.before("id", &page);
    if let Some(uid) = f.visible_to {
        w.and(VISIBLE_TO, std::iter::repeat_n(uid, 5).map(Arg::I64));
    }
    w.and_opt("status = ?", f.status, |v| Arg::Str(v.as_str().into()));
    w.and_opt("task_type = ?", f.task_type, |v| Arg::Str(v.as_str().into()));
    let sql = format!(
        "SELECT {TASK_COLS} FROM tasks{} ORDER BY id DESC LIMIT {}",
        w.sql(),
        page.size()
    );
    on_db!(db, p => bind_args!(sqlx::query_as::<_, TaskRow>(AssertSqlSafe(sql)), w.args.clone()).fetch_all(p).await)
}

/// A task by id.
pub async fn get_task(db: &Db, id: i64) -> Result<Option<TaskRow>, sqlx::Error> {
    let sql = format!("SELECT {TASK_COLS} FROM tasks WHERE id = ?");
    on_db!(db, p => sqlx::query_as::<_, TaskRow>(AssertSqlSafe(sql)).bind(id).fetch_optional(p).await)
}

/// A `task_logs` row.
#[derive(Debug, Clone, FromRow, serde::Serialize, schemars::JsonSchema)]
pub struct TaskLogRow {
    /// Id.
    pub id: i64,
    /// Task.
    pub task_id: i64,
    /// Level.
    #[sqlx(try_from = "String")]
    pub log_level: LogLevel,
    /// Message.
    pub message: String,
    /// Data.
    #[schemars(with = "Option<serde_json::Value>")]
    pub data: Option<Json<serde_json::Value>>,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// The log lines of a task after `after_id`, oldest first.
pub async fn task_logs(db: &Db, task_id: i64, after_id: i64, limit: i64) -> Result<Vec<TaskLogRow>, sqlx::Error> {
    let sql = format!(
        "SELECT id, task_id, log_level, message, data, created_at FROM task_logs WHERE task_id = ? AND id > ? ORDER BY id LIMIT {}",
        limit.clamp(1, 10_000)
    );
    on_db!(db, p => sqlx::query_as::<_, TaskLogRow>(AssertSqlSafe(sql)).bind(task_id).bind(after_id).fetch_all(p).await)
}
