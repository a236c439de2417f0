//! `db …`: schema status, migrate and rollback, backups and restores.

use std::path::PathBuf;

use clap::Subcommand;

use crate::cli::context::{confirm, open_error, Ctx};
use crate::cli::error::{CliError, CliResult};
use crate::cli::views;
use crate::service::schema::SchemaAdmin;
use crate::service::views::redact_url;
use crate::service::{ClientInfo, Services};

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
    Ok(s.schema_version().await?)
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

/// `db status` and `db migrate`, through the service's schema administration (without the
/// services, which would migrate on open); a migration is audited.
async fn schema(ctx: &Ctx, c: &DbCmd) -> CliResult<()> {
    let schema = SchemaAdmin::connect(
        &ctx.config.database_url,
        &ctx.config.pool_settings(),
        ClientInfo::from_env(),
    )
    .await
    .map_err(open_error)?;
    match c {
        DbCmd::Status => {
            let st = schema.status().await.map_err(open_error)?;
            if ctx.json {
                views::print_json(&st.migrations);
            } else {
                views::table(&st.migrations).print();
                if let Some(e) = &st.problem {
                    println!("\nproblem: {e}");
                }
            }
        }
        DbCmd::Migrate => {
            let report = schema.migrate().await.map_err(open_error)?;
            if report.applied.is_empty() {
                println!("the schema is up to date (version {})", report.version);
            } else {
                println!(
                    "applied {}",
                    report
                        .applied
                        .iter()
                        .map(|v| format!("V{v}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
        }
        _ => return Err(CliError::Failed("internal: only status and migrate run here".into())),
    }
    schema.close().await;
    Ok(())
}
