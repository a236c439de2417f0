//! `apikey …`: API keys for scripts.

use clap::Subcommand;

use crate::cli::context::PageArgs;
use crate::cli::context::{page, Ctx};
use crate::cli::error::CliResult;
use crate::cli::views;
use crate::domain::{ApiKeyPermissions, ApiKeyStatus};
use crate::service::{Actor, Services};

/// `apikey …`
#[derive(Debug, Subcommand)]
pub enum ApikeyCmd {
    /// List API keys.
    List {
        #[command(flatten)]
        page: PageArgs,
    },
    /// Create an API key; its secret is shown once.
    Create {
        /// Name.
        name: String,
        /// Expires after this many days.
        #[arg(long)]
        expires_days: Option<i64>,
        /// For another user (admin).
        #[arg(long)]
        user: Option<String>,
        /// The key may only read (lists, shows, public certificate export); every write is
        /// refused. Default: read-write, everything the key's user may do.
        #[arg(long)]
        read_only: bool,
    },
    /// Disable a key (can be enabled again).
    Disable {
        /// Key id or api key.
        key: String,
    },
    /// Enable a disabled key.
    Enable {
        /// Key id or api key.
        key: String,
    },
    /// Revoke a key for good.
    Revoke {
        /// Key id or api key.
        key: String,
    },
}
/// Runs an `apikey` command as `a`.
pub(crate) async fn run(ctx: &Ctx, s: &Services, a: &Actor, c: &ApikeyCmd) -> CliResult<()> {
    let (key, status) = match c {
        ApikeyCmd::List { page: p } => {
            views::list(ctx.json, &s.apikey_list(a, page(p)).await?);
            return Ok(());
        }
        ApikeyCmd::Create {
            name,
            expires_days,
            user,
            read_only,
        } => {
            let permissions = if *read_only {
                ApiKeyPermissions::Read
            } else {
                ApiKeyPermissions::ReadWrite
            };
            let (row, secret) = s
                .apikey_create(a, name, *expires_days, permissions, user.as_deref())
                .await?;
            print!("{}", views::users::apikey_created(ctx.json, &row, &secret));
            return Ok(());
        }
        ApikeyCmd::Disable { key } => (key, ApiKeyStatus::Inactive),
        ApikeyCmd::Enable { key } => (key, ApiKeyStatus::Active),
        ApikeyCmd::Revoke { key } => (key, ApiKeyStatus::Revoked),
    };
    let r = s.apikey_set_status(a, key, status).await?;
    println!("API key {} is {}", r.api_key, r.status);
    Ok(())
}
