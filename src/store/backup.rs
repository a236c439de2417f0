//! Logical backup and restore of every table, portable between MySQL/MariaDB and SQLite.
//!
//! Format: gzip-compressed JSON lines. A header `{"certdeck_backup":1,"schema_version":N,…}`,
//! then per table `{"table":NAME,"columns":[…]}` followed by one JSON array per row (every value
//! as text or null, as `CAST(… AS CHAR)` gives it), and a trailer `{"end":true,"rows":{…}}`.
//! The export reads one consistent snapshot; secrets stay sealed as they are stored.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};

use serde_json::{json, Value};
use sqlx::{AssertSqlSafe, Row};

use super::Db;

/// Tables in foreign-key order (parents first), the way a restore inserts them.
pub const TABLES: &[&str] = &[
    "users",
    "api_keys",
    "user_tokens",
    "settings",
    "user_settings",
    "audit_logs",
    "servers",
    "server_configs",
    "server_groups",
    "server_group_mappings",
    "certificates",
    "certificate_deployments",
    "dns_challenges",
    "monitors",
    "alerts",
    "alert_channels",
    "alert_channel_bindings",
    "alert_history",
    "tasks",
    "task_logs",
    "scheduled_tasks",
    "certdeck_meta",
];

/// Rows read per page (keyset on `id`).
const PAGE: i64 = 2000;
/// Rows per INSERT on restore.
const INSERT_ROWS: usize = 200;

/// What a backup or restore moved, per table.
pub type RowCounts = BTreeMap<String, u64>;

/// Backup and restore errors.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// Database.
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    /// File.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// Not a certdeck backup, or damaged.
    #[error("not a usable certdeck backup: {0}")]
    Format(String),
}

async fn columns(db: &Db, table: &str) -> Result<Vec<String>, sqlx::Error> {
    match db {
        Db::MySql(p) => {
            sqlx::query_scalar(
                "SELECT CAST(COLUMN_NAME AS CHAR) FROM information_schema.COLUMNS \
                 WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
            )
            .bind(table)
            .fetch_all(p)
            .await
        }
        Db::Sqlite(p) => {
            sqlx::query_scalar("SELECT name FROM pragma_table_info(?) ORDER BY cid")
                .bind(table)
                .fetch_all(p)
                .await
        }
    }
}

/// Writes every table of `TABLES` to `out` from one snapshot; returns the rows per table.
pub async fn export(db: &Db, schema_version: i64, out: &mut impl Write) -> Result<RowCounts, BackupError> {
    let mut counts = RowCounts::new();
    let header = json!({
        "certdeck_backup": 1,
        "schema_version": schema_version,
        "created_at": chrono::Utc::now().to_rfc3339(),
        "source": match db { Db::MySql(_) => "mysql", Db::Sqlite(_) => "sqlite" },
    });
    writeln!(out, "{header}")?;
    let mut plans = Vec::new();
    for t in TABLES {
        plans.push((*t, columns(db, t).await?));
    }
    macro_rules! dump {
        ($conn:expr, $cast:literal) => {{
            for (table, cols) in &plans {
                writeln!(out, "{}", json!({"table": table, "columns": cols}))?;
                let select = cols.iter().map(|c| format!("CAST({c} AS {})", $cast)).collect::<Vec<_>>().join(", ");
                let keyed = cols.iter().any(|c| c == "id");
                let mut after = i64::MIN;
                let mut n = 0u64;
                loop {
                    let sql = if keyed {
                        format!("SELECT {select}, id FROM {table} WHERE id > ? ORDER BY id LIMIT {PAGE}")
                    } else {
                        format!("SELECT {select} FROM {table}")
                    };
                    let mut q = sqlx::query(AssertSqlSafe(sql));
                    if keyed {
                        q = q.bind(after);
                    }
                    let rows = q.fetch_all(&mut *$conn).await?;
                    for r in &rows {
                        let vals: Vec<Option<String>> =
                            (0..cols.len()).map(|i| r.try_get::<Option<String>, _>(i)).collect::<Result<_, _>>()?;
                        writeln!(out, "{}", Value::from(vals.into_iter().map(|v| v.map_or(Value::Null, Value::String)).collect::<Vec<_>>()))?;
                        if keyed {
                            after = r.try_get::<i64, _>(cols.len())?;
                        }
                    }
                    n += rows.len() as u64;
                    if !keyed || (rows.len() as i64) < PAGE {
                        break;
                    }
                }
                counts.insert(table.to_string(), n);
            }
        }};
    }
    match db {
        Db::MySql(p) => {
            let mut conn = p.acquire().await?;
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                .execute(&mut *conn)
                .await?;
            sqlx::query("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
                .execute(&mut *conn)
                .await?;
            let r: Result<(), BackupError> = async {
                dump!(conn, "CHAR");
                Ok(())
            }
            .await;
            let _ = sqlx::query("COMMIT").execute(&mut *conn).await;
            r?;
        }
        Db::Sqlite(p) => {
            // A read transaction on one connection: WAL gives it a stable snapshot.
            let mut tx = p.begin().await?;
            let r: Result<(), BackupError> = async {
                dump!(tx, "TEXT");
                Ok(())
            }
            .await;
            tx.rollback().await?;
            r?;
        }
    }
    writeln!(out, "{}", json!({"end": true, "rows": counts}))?;
    Ok(counts)
}

/// A backup's header.
#[derive(Debug, Clone)]
pub struct Header {
    /// The schema version it was taken at.
    pub schema_version: i64,
    /// Where it came from (`mysql` or `sqlite`).
    pub source: String,
}

/// One table of a backup file.
#[derive(Debug, Clone)]
pub struct TableData {
    /// Table name (one of [`TABLES`]).
    pub name: String,
    /// Column names, in file order.
    pub columns: Vec<String>,
    /// Rows: text or null per column.
    pub rows: Vec<Vec<Value>>,
}

/// Reads the header line.
pub fn read_header(input: &mut impl BufRead) -> Result<Header, BackupError> {
    let mut line = String::new();
    input.read_line(&mut line)?;
    let v: Value = serde_json::from_str(&line).map_err(|e| BackupError::Format(format!("header: {e}")))?;
    if v["certdeck_backup"] != json!(1) {
        return Err(BackupError::Format("no certdeck_backup header".into()));
    }
    Ok(Header {
        schema_version: v["schema_version"]
            .as_i64()
            .ok_or_else(|| BackupError::Format("no schema_version".into()))?,
        source: v["source"].as_str().unwrap_or("?").to_string(),
    })
}

/// The rows of every table in the rest of the file (after [`read_header`]), checked against
/// the trailer's counts.
pub fn read_tables(input: &mut impl BufRead) -> Result<Vec<TableData>, BackupError> {
    let mut tables: Vec<TableData> = Vec::new();
    let mut ended = None;
    for line in input.lines() {
        let line = line?;
        let v: Value = serde_json::from_str(&line).map_err(|e| BackupError::Format(format!("line: {e}")))?;
        match v {
            Value::Array(row) => {
                let t = tables
                    .last_mut()
                    .ok_or_else(|| BackupError::Format("row before table".into()))?;
                if row.len() != t.columns.len() {
                    return Err(BackupError::Format("a row does not match its table's columns".into()));
                }
                t.rows.push(row);
            }
            Value::Object(o) if o.contains_key("table") => {
                let name = o["table"].as_str().unwrap_or_default().to_string();
                if !TABLES.contains(&name.as_str()) {
                    return Err(BackupError::Format(format!("unknown table {name}")));
                }
                let cols: Vec<String> = serde_json::from_value(o["columns"].clone())
                    .map_err(|e| BackupError::Format(format!("columns of {name}: {e}")))?;
                if cols
                    .iter()
                    .any(|c| !c.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_'))
                {
                    return Err(BackupError::Format(format!("bad column name in {name}")));
                }
                tables.push(TableData {
                    name,
                    columns: cols,
                    rows: Vec::new(),
                });
            }
            Value::Object(o) if o.contains_key("end") => ended = Some(o["rows"].clone()),
            _ => return Err(BackupError::Format("unexpected line".into())),
        }
    }
    let rows = ended.ok_or_else(|| BackupError::Format("truncated: no end marker".into()))?;
    for t in &tables {
        let name = &t.name;
        if rows[name].as_u64() != Some(t.rows.len() as u64) {
            return Err(BackupError::Format(format!(
                "{name}: row count differs from the trailer"
            )));
        }
    }
    Ok(tables)
}

/// Loads tables into a migrated database whose design tables hold only the seed rows, in one
/// transaction: the seed rows of `settings` and `scheduled_tasks` and the `certdeck_meta` rows
/// are replaced by the backup's. Nothing is written when anything fails.
pub async fn import(db: &Db, tables: &[TableData]) -> Result<RowCounts, BackupError> {
    let mut counts = RowCounts::new();
    crate::in_tx!(db, tx => {
        let r: Result<(), BackupError> = async {
            if let Db::MySql(_) = db {
                sqlx::query("SET FOREIGN_KEY_CHECKS = 0").execute(&mut **tx).await?;
            }
            for t in ["scheduled_tasks", "settings", "certdeck_meta"] {
                sqlx::query(AssertSqlSafe(format!("DELETE FROM {t}"))).execute(&mut **tx).await?;
            }
            for TableData { name: table, columns: cols, rows } in tables {
                for chunk in rows.chunks(INSERT_ROWS) {
                    let one = format!("({})", vec!["?"; cols.len()].join(", "));
                    let sql = format!(
                        "INSERT INTO {table} ({}) VALUES {}",
                        cols.join(", "),
                        vec![one; chunk.len()].join(", ")
                    );
                    let mut q = sqlx::query(AssertSqlSafe(sql)).persistent(false);
                    for row in chunk {
                        for v in row {
                            q = q.bind(v.as_str().map(str::to_string));
                        }
                    }
                    q.execute(&mut **tx).await?;
                }
                counts.insert(table.clone(), rows.len() as u64);
            }
            if let Db::MySql(_) = db {
                sqlx::query("SET FOREIGN_KEY_CHECKS = 1").execute(&mut **tx).await?;
            }
            Ok(())
        }
        .await;
        r
    })?;
    Ok(counts)
}
