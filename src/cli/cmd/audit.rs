//! `audit list`: the audit log.

use clap::Subcommand;

use crate::cli::context::{page, parse_time, Ctx};
use crate::cli::error::CliResult;
use crate::cli::views;
use crate::cli::PageArgs;
use crate::service::query::AuditFilter;
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
    let user_id = match user {
        Some(u) => Some(s.user_get(a, u).await?.id),
        None => None,
    };
    let f = AuditFilter {
        user_id,
        action: action.clone(),
        resource_type: resource.clone(),
        resource_id: *resource_id,
        since: since.as_deref().map(parse_time).transpose()?,
        until: until.as_deref().map(parse_time).transpose()?,
    };
    views::list(ctx.json, &s.audit_list(a, &f, page(p)).await?);
    Ok(())
}
