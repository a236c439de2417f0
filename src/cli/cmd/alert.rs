//! `alert …`: alert rules, fired alerts and channel bindings.

use clap::Subcommand;

use crate::cli::context::PageArgs;
use crate::cli::context::{page, parse, parse_opt, Ctx};
use crate::cli::error::CliResult;
use crate::cli::views;
use crate::cli::views::monitoring::AlertDetail;
use crate::service::monitoring::AlertInput;
use crate::service::{Actor, Services};

/// `alert …`
#[derive(Debug, Subcommand)]
pub enum AlertCmd {
    /// List alert rules.
    List {
        /// Only this type.
        #[arg(long = "type")]
        alert_type: Option<String>,
        #[command(flatten)]
        page: PageArgs,
    },
    /// Show an alert rule with its channels.
    Show {
        /// Alert id.
        id: i64,
    },
    /// Add an alert rule.
    Add {
        /// Name.
        name: String,
        /// certificate_expiry, server_down or certificate_error.
        #[arg(long = "type")]
        alert_type: String,
        /// days_before, status_change or value_threshold.
        #[arg(long)]
        condition: String,
        /// Condition value: days (days_before), warning|error (status_change), or
        /// `<metric><op><number>` with metric days_left|consecutive_failures and op < <= > >=
        /// (value_threshold, e.g. `days_left<=7`).
        #[arg(long)]
        value: String,
        /// info, warning, error or critical.
        #[arg(long, default_value = "warning")]
        severity: String,
        /// Only for this monitor.
        #[arg(long)]
        monitor: Option<i64>,
    },
    /// Change an alert rule.
    Update {
        /// Alert id.
        id: i64,
        /// Name.
        #[arg(long)]
        name: Option<String>,
        /// Condition type.
        #[arg(long)]
        condition: Option<String>,
        /// Condition value.
        #[arg(long)]
        value: Option<String>,
        /// Severity.
        #[arg(long)]
        severity: Option<String>,
        /// Enabled (true/false).
        #[arg(long)]
        active: Option<bool>,
    },
    /// Delete an alert rule.
    Rm {
        /// Alert id.
        id: i64,
    },
    /// Fired alerts.
    History {
        /// Only unresolved.
        #[arg(long)]
        open: bool,
        #[command(flatten)]
        page: PageArgs,
    },
    /// Mark a fired alert resolved.
    Resolve {
        /// History id.
        id: i64,
    },
    /// Acknowledge a fired alert (no more reminders; it still resolves by itself).
    Ack {
        /// History id.
        id: i64,
    },
    /// Notify a channel when this rule fires.
    Bind {
        /// Alert id.
        alert: i64,
        /// Channel id.
        channel: i64,
    },
    /// Stop notifying a channel.
    Unbind {
        /// Alert id.
        alert: i64,
        /// Channel id.
        channel: i64,
    },
}
/// Runs an `alert` command as `a`.
pub(crate) async fn run(ctx: &Ctx, s: &Services, a: &Actor, c: &AlertCmd) -> CliResult<()> {
    match c {
        AlertCmd::List { alert_type, page: p } => {
            views::list(ctx.json, &s.alert_list(a, parse_opt(alert_type)?, page(p)).await?)
        }
        AlertCmd::Show { id } => {
            let alert = s.alert_get(a, *id).await?;
            let bindings = s.binding_list(a, *id).await?;
            views::show(ctx.json, &AlertDetail { alert, bindings });
        }
        AlertCmd::Add {
            name,
            alert_type,
            condition,
            value,
            severity,
            monitor,
        } => {
            let input = AlertInput {
                name: Some(name.clone()),
                alert_type: Some(parse(alert_type)?),
                monitor_id: *monitor,
                condition_type: Some(parse(condition)?),
                condition_value: Some(value.clone()),
                severity: Some(parse(severity)?),
                is_active: Some(true),
            };
            let r = s.alert_create(a, &input).await?;
            println!("added alert rule {} (id {})", r.name, r.id);
        }
        AlertCmd::Update {
            id,
            name,
            condition,
            value,
            severity,
            active,
        } => {
            let input = AlertInput {
                name: name.clone(),
                condition_type: parse_opt(condition)?,
                condition_value: value.clone(),
                severity: parse_opt(severity)?,
                is_active: *active,
                ..Default::default()
            };
            let r = s.alert_update(a, *id, &input).await?;
            println!("updated alert rule {} (id {})", r.name, r.id);
        }
        AlertCmd::Rm { id } => {
            s.alert_delete(a, *id).await?;
            println!("deleted alert rule {id}");
        }
        AlertCmd::History { open, page: p } => views::list(ctx.json, &s.alert_history(a, *open, page(p)).await?),
        AlertCmd::Resolve { id } => {
            s.alert_resolve(a, *id).await?;
            println!("alert {id} resolved");
        }
        AlertCmd::Ack { id } => {
            s.alert_acknowledge(a, *id).await?;
            println!("alert {id} acknowledged: no more reminders");
        }
        AlertCmd::Bind { alert, channel } => {
            s.binding_create(a, *alert, *channel).await?;
            println!("alert {alert} now notifies channel {channel}");
        }
        AlertCmd::Unbind { alert, channel } => {
            s.binding_delete(a, *alert, *channel).await?;
            println!("alert {alert} no longer notifies channel {channel}");
        }
    }
    Ok(())
}
