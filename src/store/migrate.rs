//! Schema migrations with Flyway names (`V1__create_base_tables.sql`, undo `U1__…`), embedded
//! in the binary and run through sqlx's `Migrator`, which records each applied version with a
//! SHA-384 checksum in `certdeck_schema_history`.

use std::borrow::Cow;

use sqlx::migrate::{MigrateError, Migration, MigrationType, Migrator};
use sqlx::{AssertSqlSafe, SqlSafeStr};

use super::{Backend, Db};

/// The history table.
pub const HISTORY_TABLE: &str = "certdeck_schema_history";

/// One migration as shipped: version, description and the up/undo scripts.
#[derive(Debug, Clone, Copy)]
pub struct Script {
    /// Version number (the `N` in `V<N>__`).
    pub version: i64,
    /// The file name's description part, e.g. `create_base_tables`.
    pub description: &'static str,
    /// The `V` file.
    pub up: &'static str,
    /// The `U` file.
    pub down: &'static str,
}

macro_rules! scripts {
    ($dir:literal: $($v:literal $name:literal),+ $(,)?) => {
        &[$(Script {
            version: $v,
            description: $name,
            up: include_str!(concat!("../../migrations/", $dir, "/V", $v, "__", $name, ".sql")),
            down: include_str!(concat!("../../migrations/", $dir, "/U", $v, "__", $name, ".sql")),
        }),+]
    };
}

const MYSQL: &[Script] = scripts!("mysql":
    1 "create_base_tables", 2 "add_server_tables", 3 "add_certificate_tables",
    4 "add_monitor_tables", 5 "add_task_tables", 6 "initial_data", 7 "certdeck_extensions",
    8 "task_queue", 9 "console_polling", 10 "ssh_deploy", 11 "acme", 12 "acme_eab", 13 "acme_renewal", 14 "monitoring", 15 "bound_secrets", 16 "roles",
    17 "target_policy", 18 "api_key_permissions", 19 "pull_agent");
const SQLITE: &[Script] = scripts!("sqlite":
    1 "create_base_tables", 2 "add_server_tables", 3 "add_certificate_tables",
    4 "add_monitor_tables", 5 "add_task_tables", 6 "initial_data", 7 "certdeck_extensions",
    8 "task_queue", 9 "console_polling", 10 "ssh_deploy", 11 "acme", 12 "acme_eab", 13 "acme_renewal", 14 "monitoring", 15 "bound_secrets", 16 "roles",
    17 "target_policy", 18 "api_key_permissions", 19 "pull_agent");

/// The scripts shipped for a backend, in version order.
pub fn scripts(backend: Backend) -> &'static [Script] {
    match backend {
        Backend::MySql => MYSQL,
        Backend::Sqlite => SQLITE,
    }
}

/// The newest schema version this binary knows.
pub fn latest_version(backend: Backend) -> i64 {
    scripts(backend).iter().map(|s| s.version).max().unwrap_or(0)
}

fn migrator_from(scripts: &[Script]) -> Migrator {
    let mut migrations = Vec::new();
    for s in scripts {
        migrations.push(Migration::new(
            s.version,
            Cow::Borrowed(s.description),
            MigrationType::ReversibleUp,
            AssertSqlSafe(s.up).into_sql_str(),
            false,
        ));
        migrations.push(Migration::new(
            s.version,
            Cow::Borrowed(s.description),
            MigrationType::ReversibleDown,
            AssertSqlSafe(s.down).into_sql_str(),
            false,
        ));
    }
    let mut m = Migrator::with_migrations(migrations);
    m.dangerous_set_table_name(HISTORY_TABLE);
    m
}

/// Errors of the migration runner, each saying what to do.
#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    /// The database was migrated by a newer certdeck.
    #[error("the database schema is at version {db}, but this certdeck knows only up to version {ours}: it was migrated by a newer certdeck. Upgrade this binary (or roll the database back with the newer one: `certdeck db rollback --to {ours}`)")]
    NewerDatabase {
        /// The database's version.
        db: i64,
        /// This binary's latest version.
        ours: i64,
    },
    /// An applied migration's file was changed after it ran.
    #[error("migration V{0} was applied to this database but its script has changed since (checksum mismatch): never edit an applied migration; add a new one instead, or restore the original file")]
    Edited(i64),
    /// A migration failed half-way (MySQL DDL is not transactional).
    #[error("migration V{0} failed part-way and the database is marked dirty: inspect the schema, repair it by hand, then delete that version's row from {HISTORY_TABLE}")]
    Dirty(i64),
    /// Pending migrations exist but migration was disabled.
    #[error("the database schema is at version {db} but this certdeck needs version {ours}: run `certdeck db migrate` (or start without --no-migrate)")]
    Pending {
        /// The database's version.
        db: i64,
        /// This binary's latest version.
        ours: i64,
    },
    /// A rollback target that does not exist.
    #[error("cannot roll back to version {0}: choose a version between 0 and the current one")]
    BadTarget(i64),
    /// Another database error.
    #[error("migration failed: {0}")]
    Other(String),
}

impl From<MigrateError> for MigrationError {
    fn from(e: MigrateError) -> Self {
        match e {
            MigrateError::VersionMismatch(v) => MigrationError::Edited(v),
            MigrateError::Dirty(v) => MigrationError::Dirty(v),
            other => MigrationError::Other(other.to_string()),
        }
    }
}

impl From<sqlx::Error> for MigrationError {
    fn from(e: sqlx::Error) -> Self {
        MigrationError::Other(e.to_string())
    }
}

/// One row of `db status`.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct MigrationStatus {
    /// Version.
    pub version: i64,
    /// Description.
    pub description: String,
    /// Whether applied.
    pub applied: bool,
    /// When it was applied (text as stored).
    pub installed_on: Option<String>,
    /// Whether the applied checksum matches the shipped script.
    pub checksum_ok: Option<bool>,
    /// Whether the run failed part-way.
    pub dirty: bool,
}

#[derive(sqlx::FromRow)]
struct HistoryRow {
    version: i64,
    success: bool,
    checksum: Vec<u8>,
    installed_on: Option<String>,
}

async fn history(db: &Db) -> Result<Vec<HistoryRow>, sqlx::Error> {
    let exists: i64 = match db {
        Db::MySql(p) => {
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?",
            )
            .bind(HISTORY_TABLE)
            .fetch_one(p)
            .await?
        }
        Db::Sqlite(p) => {
            sqlx::query_scalar("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?")
                .bind(HISTORY_TABLE)
                .fetch_one(p)
                .await?
        }
    };
    if exists == 0 {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT version, success, checksum, CAST(installed_on AS CHAR) AS installed_on FROM {HISTORY_TABLE} ORDER BY version"
    );
    crate::on_db!(db, p => sqlx::query_as::<_, HistoryRow>(AssertSqlSafe(sql)).fetch_all(p).await)
}

/// The version the database is at (0 for an empty database).
pub async fn current_version(db: &Db) -> Result<i64, MigrationError> {
    Ok(history(db)
        .await?
        .iter()
        .filter(|h| h.success)
        .map(|h| h.version)
        .max()
        .unwrap_or(0))
}

/// Every shipped migration with its state in this database.
pub async fn status(db: &Db) -> Result<Vec<MigrationStatus>, MigrationError> {
    let hist = history(db).await?;
    let shipped = scripts(db.backend());
    let mut out: Vec<MigrationStatus> = shipped
        .iter()
        .map(|s| {
            let h = hist.iter().find(|h| h.version == s.version);
            MigrationStatus {
                version: s.version,
                description: s.description.to_string(),
                applied: h.is_some_and(|h| h.success),
                installed_on: h.and_then(|h| h.installed_on.clone()),
                checksum_ok: h.map(|h| h.checksum == checksum(s.up)),
                dirty: h.is_some_and(|h| !h.success),
            }
        })
        .collect();
    for h in hist.iter().filter(|h| !shipped.iter().any(|s| s.version == h.version)) {
        out.push(MigrationStatus {
            version: h.version,
            description: "(unknown to this certdeck)".into(),
            applied: h.success,
            installed_on: h.installed_on.clone(),
            checksum_ok: None,
            dirty: !h.success,
        });
    }
    Ok(out)
}

/// Checks that the database is usable by this binary without changing it: not newer, no
/// edited or dirty migration, and (if `require_current`) nothing pending.
pub async fn check(db: &Db, require_current: bool) -> Result<(), MigrationError> {
    let ours = latest_version(db.backend());
    let rows = status(db).await?;
    let db_version = rows.iter().filter(|r| r.applied).map(|r| r.version).max().unwrap_or(0);
    if db_version > ours {
        return Err(MigrationError::NewerDatabase { db: db_version, ours });
    }
    if let Some(r) = rows.iter().find(|r| r.dirty) {
        return Err(MigrationError::Dirty(r.version));
    }
    if let Some(r) = rows.iter().find(|r| r.checksum_ok == Some(false)) {
        return Err(MigrationError::Edited(r.version));
    }
    if require_current && db_version < ours {
        return Err(MigrationError::Pending { db: db_version, ours });
    }
    Ok(())
}

/// Applies every pending migration; returns the versions applied.
pub async fn migrate(db: &Db) -> Result<Vec<i64>, MigrationError> {
    check(db, false).await?;
    let before = current_version(db).await?;
    let m = migrator_from(scripts(db.backend()));
    crate::on_db!(db, p => m.run(p).await)?;
    let after = current_version(db).await?;
    Ok(scripts(db.backend())
        .iter()
        .map(|s| s.version)
        .filter(|v| *v > before && *v <= after)
        .collect())
}

/// Reverts migrations above `target` through the undo scripts; returns the versions reverted.
pub async fn rollback(db: &Db, target: i64) -> Result<Vec<i64>, MigrationError> {
    check(db, false).await?;
    let before = current_version(db).await?;
    if target < 0 || target > before {
        return Err(MigrationError::BadTarget(target));
    }
    let m = migrator_from(scripts(db.backend()));
    crate::on_db!(db, p => m.undo(p, target).await)?;
    Ok(scripts(db.backend())
        .iter()
        .map(|s| s.version)
        .filter(|v| *v > target && *v <= before)
        .rev()
        .collect())
}

/// A migrator over custom scripts (tests of the runner itself).
#[doc(hidden)]
pub async fn migrate_scripts(db: &Db, scripts: &[Script]) -> Result<(), MigrationError> {
    let m = migrator_from(scripts);
    crate::on_db!(db, p => m.run(p).await)?;
    Ok(())
}

fn checksum(sql: &str) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha384::digest(sql.as_bytes()).to_vec()
}
