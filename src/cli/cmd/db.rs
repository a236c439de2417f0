//! `db …`: schema status, migrate and rollback, backups and restores.

use std::path::PathBuf;

use clap::Subcommand;

use crate::cli::context::{confirm, Ctx};
use crate::cli::error::{CliError, CliResult};
use crate::cli::views;
use crate::service::Services;
use crate::store::{migrate, redact_url, Db};

/// `db …`
#[derive(Debug, Subcommand)]
pub enum DbCmd {
    /// Show every migration and whether it is applied.
    Status,
    /// Apply pending migrations.
    Migrate,
    /// Undo migrations down to version N (0 = empty database).
    Rollback {
        /// Target version.
        #[arg(long)]
        to: i64,
        /// Do not ask (required when not on a terminal).
        #[arg(long)]
        yes: bool,
        /// Where the backup written first goes (default: <data dir>/backups).
        #[arg(long)]
        backup_dir: Option<PathBuf>,
    },
    /// Write a backup now: every table from one snapshot, gzip JSON lines, mode 0600 (secrets
    /// stay encrypted: keep the master key to restore it).
    Backup {
        /// This file (must not exist).
        #[arg(long, conflicts_with = "dir")]
        out: Option<PathBuf>,
        /// A timestamped file in this directory (default: <data dir>/backups).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Backups to keep in the directory (older ones are removed).
        #[arg(long, default_value_t = 7)]
        keep: usize,
    },
    /// Load a backup into an empty database (same schema version and master key; on either
    /// backend). All or nothing.
    Restore {
        /// The backup file.
        file: PathBuf,
        /// Do not ask (required when not on a terminal).
        #[arg(long)]
        yes: bool,
    },
}
/// The schema version of the open database.
pub(crate) async fn schema_version(s: &Services) -> CliResult<i64> {
    migrate::current_version(s.db())
        .await
        .map_err(|e| CliError::Failed(e.to_string()))
}

/// Runs a `db` command (each authorizes itself: the operator, or no one for status/migrate).
pub(crate) async fn run(ctx: &Ctx, c: &DbCmd) -> CliResult<()> {
    match c {
        DbCmd::Backup { out, dir, keep } => {
            let s = ctx.open().await?;
            ctx.operator(&s).await?;
            let r = match (out, dir) {
                (Some(file), _) => s.backup_to_file(file).await?,
                (None, Some(d)) => s.backup_to_dir(d, *keep).await?,
                (None, None) => s.backup_to_dir(&ctx.config.data_dir.join("backups"), *keep).await?,
            };
            if ctx.json {
                views::print_json(&r);
            } else {
                print!("{}", views::admin::backup_text(&r));
            }
        }
        DbCmd::Restore { file, yes } => {
            let s = ctx.open().await?;
            let actor = ctx.operator(&s).await?;
            crate::service::schema::require_operator(actor.as_ref(), "restore backups")?;
            confirm(
                *yes,
                &format!(
                    "Load the backup {} into {}",
                    file.display(),
                    redact_url(&ctx.config.database_url)
                ),
            )?;
            let rows = s.restore_from_file(actor.as_ref(), file).await?;
            if ctx.json {
                views::print_json(&rows);
            } else {
                let total: u64 = rows.values().sum();
                println!(
                    "restored {total} rows into {} tables from {}",
                    rows.len(),
                    file.display()
                );
            }
        }
        DbCmd::Rollback { to, yes, backup_dir } => {
            let s = ctx.open().await?;
            let actor = ctx.operator(&s).await?;
            crate::service::schema::require_operator(actor.as_ref(), "roll back the schema")?;
            let from = schema_version(&s).await?;
            if *to >= from {
                println!("nothing to roll back: the schema is at version {from}");
                return Ok(());
            }
            let dir = backup_dir
                .clone()
                .unwrap_or_else(|| ctx.config.data_dir.join("backups"));
            confirm(
                *yes,
                &format!(
                    "Roll the schema of {} back from version {from} to {to}: this DROPS tables and their data \
                     (a backup is written to {} first)",
                    redact_url(&ctx.config.database_url),
                    dir.display()
                ),
            )?;
            let r = s.schema_rollback(actor.as_ref(), *to, &dir).await?;
            if ctx.json {
                views::print_json(&r);
            } else {
                print!("{}", views::admin::rollback_text(&r));
            }
        }
        DbCmd::Status | DbCmd::Migrate => schema(ctx, c).await?,
    }
    Ok(())
}

/// `db status` and `db migrate`, on the database without opening the services.
async fn schema(ctx: &Ctx, c: &DbCmd) -> CliResult<()> {
    let db = Db::connect(&ctx.config.database_url, &ctx.config.pool_settings())
        .await
        .map_err(|e| {
            CliError::Service(crate::errors::ServiceError::Remote(format!(
                "cannot open database {}: {e}",
                redact_url(&ctx.config.database_url)
            )))
        })?;
    let failed = |e: migrate::MigrationError| CliError::Failed(e.to_string());
    match c {
        DbCmd::Status => {
            let rows = migrate::status(&db).await.map_err(failed)?;
            if ctx.json {
                views::print_json(&rows);
            } else {
                views::table(&rows).print();
                if let Err(e) = migrate::check(&db, false).await {
                    println!("\nproblem: {e}");
                }
            }
        }
        DbCmd::Migrate => {
            let applied = migrate::migrate(&db).await.map_err(failed)?;
            if applied.is_empty() {
                println!(
                    "the schema is up to date (version {})",
                    migrate::current_version(&db).await.map_err(failed)?
                );
            } else {
                println!(
                    "applied {}",
                    applied.iter().map(|v| format!("V{v}")).collect::<Vec<_>>().join(", ")
                );
            }
        }
        _ => return Err(CliError::Failed("internal: only status and migrate run here".into())),
    }
    db.close().await;
    Ok(())
}
