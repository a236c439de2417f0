//! `audit list`: the audit log.

use clap::Subcommand;

use crate::cli::context::PageArgs;
use crate::cli::context::{page, Ctx};
use crate::cli::error::CliResult;
use crate::cli::views;
use crate::service::query::Terms;
use crate::service::{Actor, Services};

/// `audit …`
#[derive(Debug, Subcommand)]
pub enum AuditCmd {
    /// List audit rows, newest first.
    List {
        /// Only this user (name or id).
        #[arg(long)]
        user: Option<String>,
        /// Only this action, e.g. server.create.
        #[arg(long)]
        action: Option<String>,
        /// Only this resource type, e.g. certificate.
        #[arg(long)]
        resource: Option<String>,
        /// Only this resource id.
        #[arg(long)]
        resource_id: Option<i64>,
        /// From this time (RFC 3339 or YYYY-MM-DD).
        #[arg(long)]
        since: Option<String>,
        /// Before this time.
        #[arg(long)]
        until: Option<String>,
        #[command(flatten)]
        page: PageArgs,
    },
}
/// Runs an `audit` command as `a`.
pub(crate) async fn run(ctx: &Ctx, s: &Services, a: &Actor, c: &AuditCmd) -> CliResult<()> {
    let AuditCmd::List {
        user,
        action,
        resource,
        resource_id,
        since,
        until,
        page: p,
    } = c;
    let terms = Terms::default()
        .with("user", user.as_ref())
        .with("action", action.as_ref())
        .with("resource", resource.as_ref())
        .with("id", resource_id.as_ref())
        .with("since", since.as_ref())
        .with("until", until.as_ref());
    let f = s.audit_filter(a, &terms, chrono::Utc::now()).await?;
    views::list(ctx.json, &s.audit_list(a, &f, page(p)).await?);
    Ok(())
}
