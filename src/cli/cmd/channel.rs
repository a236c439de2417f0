//! `channel …`: notification channels.

use clap::Subcommand;

use crate::cli::context::PageArgs;
use crate::cli::context::{json_arg, page, parse, Ctx};
use crate::cli::error::CliResult;
use crate::cli::views;
use crate::service::{Actor, Services};

/// `channel …`
#[derive(Debug, Subcommand)]
pub enum ChannelCmd {
    /// List channels.
    List {
        #[command(flatten)]
        page: PageArgs,
    },
    /// Show a channel (secrets only with --reveal).
    Show {
        /// Channel id.
        id: i64,
        /// Print secret fields.
        #[arg(long)]
        reveal: bool,
    },
    /// Add a channel; --settings is a JSON object (secret fields are encrypted).
    Add {
        /// Name.
        name: String,
        /// email, sms, webhook, wechat or slack.
        #[arg(long = "type")]
        channel_type: String,
        /// JSON settings, e.g. '{"url":"https://hooks.example/x","secret":"…"}'; "-" reads stdin.
        /// (Not `--config`: that is the global config-file flag.)
        #[arg(long, value_name = "JSON")]
        settings: String,
    },
    /// Change a channel.
    Update {
        /// Channel id.
        id: i64,
        /// Name.
        #[arg(long)]
        name: Option<String>,
        /// New JSON settings (replace the plain ones; a sealed field left out keeps its value,
        /// `null` removes it); "-" reads stdin.
        #[arg(long, value_name = "JSON")]
        settings: Option<String>,
        /// Enabled (true/false).
        #[arg(long)]
        active: Option<bool>,
    },
    /// Delete a channel.
    Rm {
        /// Channel id.
        id: i64,
    },
    /// Send a test notification through a channel now.
    Test {
        /// Channel id.
        id: i64,
    },
}
/// Runs a `channel` command as `a`.
pub(crate) async fn run(ctx: &Ctx, s: &Services, a: &Actor, c: &ChannelCmd) -> CliResult<()> {
    match c {
        ChannelCmd::List { page: p } => views::list(ctx.json, &s.channel_list(a, page(p)).await?),
        ChannelCmd::Show { id, reveal } => views::show(ctx.json, &s.channel_get(a, *id, *reveal).await?),
        ChannelCmd::Add {
            name,
            channel_type,
            settings,
        } => {
            let r = s
                .channel_create(a, name, parse(channel_type)?, &json_arg(settings)?)
                .await?;
            if ctx.json {
                views::print_json(&r);
            } else {
                println!("added channel {} (id {})", r.name, r.id);
            }
        }
        ChannelCmd::Update {
            id,
            name,
            settings,
            active,
        } => {
            let cfg = settings.as_deref().map(json_arg).transpose()?;
            let r = s.channel_update(a, *id, name.as_deref(), cfg.as_ref(), *active).await?;
            println!("updated channel {} (id {})", r.name, r.id);
        }
        ChannelCmd::Rm { id } => {
            s.channel_delete(a, *id).await?;
            println!("deleted channel {id}");
        }
        ChannelCmd::Test { id } => {
            println!("{}", s.channel_test(a, *id).await?);
        }
    }
    Ok(())
}
