//! `secrets …`: the master key (rotation by the operator, and its id).

use clap::Subcommand;

use crate::cli::context::{confirm, Ctx};
use crate::cli::error::CliResult;
use crate::crypto::{Keyring, MasterKey};
use crate::service::bootstrap::KeySource;
use crate::service::views::redact_url;

/// `secrets …`
#[derive(Debug, Subcommand)]
pub enum SecretsCmd {
    /// Re-encrypt every secret under a new master key (one transaction).
    Rotate {
        /// Do not ask (required when not on a terminal).
        #[arg(long)]
        yes: bool,
    },
    /// Show the id of the master key in use (never the key).
    KeyId,
}
/// Runs a `secrets` command.
pub(crate) async fn run(ctx: &Ctx, c: &SecretsCmd) -> CliResult<()> {
    let s = ctx.open().await?;
    match c {
        SecretsCmd::KeyId => {
            println!("{}", s.keyring().primary().key_id());
            Ok(())
        }
        SecretsCmd::Rotate { yes } => {
            let actor = ctx.operator(&s).await?;
            crate::service::schema::require_operator(actor.as_ref(), "rotate the master key")?;
            confirm(
                *yes,
                &format!(
                    "Re-encrypt every secret of {} under a new master key (every host then needs the new key)",
                    redact_url(&ctx.config.database_url)
                ),
            )?;
            let new_key = MasterKey::generate();
            let next = s.keyring().with_new_primary(new_key.clone());
            match ctx.key_source() {
                KeySource::File(path) => {
                    // Persist old + new first: a crash mid-rotation never loses the key in use.
                    next.write_file(&path).map_err(|e| e.to_string())?;
                    let report = s.secrets_rotate(actor.as_ref(), &new_key).await?;
                    let only_new = Keyring::single(new_key);
                    only_new.write_file(&path).map_err(|e| e.to_string())?;
                    println!(
                        "rotated {} secret(s) from key {} to key {}; key file {} updated",
                        report.values,
                        report.old_key_id,
                        report.new_key_id,
                        path.display()
                    );
                    println!("copy the new key file to every host that uses this database (mode 0600)");
                }
                KeySource::Env(_) => {
                    let path = ctx.config.data_dir.join("master.key.new");
                    next.write_file(&path).map_err(|e| e.to_string())?;
                    let report = s.secrets_rotate(actor.as_ref(), &new_key).await?;
                    println!(
                        "rotated {} secret(s) from key {} to key {}",
                        report.values, report.old_key_id, report.new_key_id
                    );
                    println!(
                        "the new key is in {} (the line after the comment); set CERTDECK_MASTER_KEY to it on every host",
                        path.display()
                    );
                }
            }
            Ok(())
        }
    }
}
