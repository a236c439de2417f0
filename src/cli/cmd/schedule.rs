//! `schedule …`: cron schedules.

use clap::Subcommand;

use crate::cli::context::{json_arg, parse, Ctx};
use crate::cli::error::CliResult;
use crate::cli::views;
use crate::service::schedules::ScheduleInput;
use crate::service::{Actor, Services};

/// `schedule …`
#[derive(Debug, Subcommand)]
pub enum ScheduleCmd {
    /// List schedules with their next run (times in UTC; cron fields read in system.timezone).
    List,
    /// Add a schedule.
    Add {
        /// Name.
        name: String,
        /// certificate_check, server_check, backup or cleanup.
        #[arg(long = "type")]
        task_type: String,
        /// Cron expression, 5 fields (min hour dom month dow) or 6 (with seconds first).
        #[arg(long)]
        cron: String,
        /// Parameters, a JSON object.
        #[arg(long, value_name = "JSON")]
        params: Option<String>,
        /// A system schedule over every user's rows (admin); backup and cleanup must be.
        #[arg(long)]
        system: bool,
    },
    /// Change a schedule.
    Edit {
        /// Schedule id.
        id: i64,
        /// New name.
        #[arg(long)]
        name: Option<String>,
        /// New cron expression (replans the next run).
        #[arg(long)]
        cron: Option<String>,
        /// New parameters, a JSON object.
        #[arg(long, value_name = "JSON")]
        params: Option<String>,
    },
    /// Enable a schedule (plans its next run).
    Enable {
        /// Schedule id.
        id: i64,
    },
    /// Disable a schedule.
    Disable {
        /// Schedule id.
        id: i64,
    },
    /// Make a schedule due now: the next scheduler tick runs it once.
    RunNow {
        /// Schedule id.
        id: i64,
    },
}
/// Runs a `schedule` command as `a`.
pub(crate) async fn run(ctx: &Ctx, s: &Services, a: &Actor, c: &ScheduleCmd) -> CliResult<()> {
    let row = match c {
        ScheduleCmd::List => {
            let rows = s.schedule_list(a).await?;
            if ctx.json {
                views::print_json(&rows);
            } else {
                let tz = s.schedule_timezone().await?;
                views::table(&rows).print();
                println!("cron fields are read in {}; times shown in UTC", tz.name());
            }
            return Ok(());
        }
        ScheduleCmd::Add {
            name,
            task_type,
            cron,
            params,
            system,
        } => {
            let input = ScheduleInput {
                name: Some(name.clone()),
                task_type: Some(parse(task_type)?),
                cron_expression: Some(cron.clone()),
                params: params.as_deref().map(json_arg).transpose()?,
                system: *system,
            };
            s.schedule_add(a, &input).await?
        }
        ScheduleCmd::Edit { id, name, cron, params } => {
            let input = ScheduleInput {
                name: name.clone(),
                cron_expression: cron.clone(),
                params: params.as_deref().map(json_arg).transpose()?,
                ..Default::default()
            };
            s.schedule_edit(a, *id, &input).await?
        }
        ScheduleCmd::Enable { id } => s.schedule_set_active(a, *id, true).await?,
        ScheduleCmd::Disable { id } => s.schedule_set_active(a, *id, false).await?,
        ScheduleCmd::RunNow { id } => s.schedule_run_now(a, *id).await?,
    };
    if ctx.json {
        views::print_json(&row);
    } else {
        println!("{}", views::tasks::schedule_line(&row));
    }
    Ok(())
}
