//! `group …`: server groups.

use clap::Subcommand;

use crate::cli::context::PageArgs;
use crate::cli::context::{page, Ctx};
use crate::cli::error::CliResult;
use crate::cli::views;
use crate::cli::views::servers::GroupDetail;
use crate::service::query::{Page, ServerFilter};
use crate::service::{Actor, Services};

/// `group …`
#[derive(Debug, Subcommand)]
pub enum GroupCmd {
    /// List groups.
    List {
        #[command(flatten)]
        page: PageArgs,
    },
    /// Show a group with its servers.
    Show {
        /// Group id.
        id: i64,
    },
    /// Create a group.
    Create {
        /// Name.
        name: String,
        /// Description.
        #[arg(long)]
        description: Option<String>,
    },
    /// Rename or describe a group.
    Update {
        /// Group id.
        id: i64,
        /// Name.
        #[arg(long)]
        name: Option<String>,
        /// Description ("" clears).
        #[arg(long)]
        description: Option<String>,
    },
    /// Delete a group (its servers stay).
    Rm {
        /// Group id.
        id: i64,
    },
    /// Add a server to a group.
    AddServer {
        /// Group id.
        group: i64,
        /// Server id.
        server: i64,
    },
    /// Remove a server from a group.
    RemoveServer {
        /// Group id.
        group: i64,
        /// Server id.
        server: i64,
    },
}
/// Runs a `group` command as `a`.
pub(crate) async fn run(ctx: &Ctx, s: &Services, a: &Actor, c: &GroupCmd) -> CliResult<()> {
    match c {
        GroupCmd::List { page: p } => views::list(ctx.json, &s.group_list(a, page(p)).await?),
        GroupCmd::Show { id } => {
            let group = s.group_get(a, *id).await?;
            let f = ServerFilter {
                group_id: Some(*id),
                ..Default::default()
            };
            let servers = s.server_list(a, &f, Page::first(1000)).await?;
            let d = GroupDetail { group, servers };
            if ctx.json {
                views::print_json(&d);
            } else {
                print!("{}", d.render());
            }
        }
        GroupCmd::Create { name, description } => {
            let g = s.group_create(a, name, description.as_deref()).await?;
            println!("created group {} (id {})", g.name, g.id);
        }
        GroupCmd::Update { id, name, description } => {
            let g = s.group_update(a, *id, name.as_deref(), description.as_deref()).await?;
            println!("updated group {} (id {})", g.name, g.id);
        }
        GroupCmd::Rm { id } => {
            s.group_delete(a, *id).await?;
            println!("deleted group {id}");
        }
        GroupCmd::AddServer { group, server } => {
            s.group_add_server(a, *group, *server).await?;
            println!("server {server} added to group {group}");
        }
        GroupCmd::RemoveServer { group, server } => {
            s.group_remove_server(a, *group, *server).await?;
            println!("server {server} removed from group {group}");
        }
    }
    Ok(())
}
