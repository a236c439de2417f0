//! `task …`: the queue; and [`run_task`], how commands that queue work run it here and wait.

use clap::Subcommand;

use crate::cli::context::PageArgs;
use crate::cli::context::{json_arg, page, parse, parse_time, Ctx};
use crate::cli::error::{CliError, CliResult};
use crate::cli::views;
use crate::cli::views::tasks::{log_line, log_line_final, log_line_short};
use crate::domain::TaskStatus;
use crate::service::query::{ListFilter, TaskFilter, Terms};
use crate::service::tasks::{RunReport, TaskInput, WaitStep};
use crate::service::{Actor, Services};

/// `task …`
#[derive(Debug, Subcommand)]
pub enum TaskCmd {
    /// List tasks, newest first.
    List {
        /// Only this status: pending, running, completed, failed or cancelled.
        #[arg(long)]
        status: Option<String>,
        /// Only this type.
        #[arg(long = "type")]
        task_type: Option<String>,
        #[command(flatten)]
        page: PageArgs,
    },
    /// Show a task with its attempts and lease.
    Show {
        /// Task id.
        id: i64,
    },
    /// Print a task's log; -f follows it until the task ends.
    Logs {
        /// Task id.
        id: i64,
        /// Follow: keep printing new lines until the task is completed, failed or cancelled.
        #[arg(short, long)]
        follow: bool,
    },
    /// Cancel a pending task, or stop a running one at its next step.
    Cancel {
        /// Task id.
        id: i64,
    },
    /// Queue a failed or cancelled task again.
    Retry {
        /// Task id.
        id: i64,
    },
    /// Queue a task.
    Enqueue {
        /// certificate_issue, certificate_renew, certificate_deploy, server_check or monitor_check.
        #[arg(long = "type")]
        task_type: String,
        /// The id of its target (certificate, deployment, server or monitor, by type).
        #[arg(long)]
        target: i64,
        /// 1 (lowest) to 10 (highest).
        #[arg(long, default_value_t = 5)]
        priority: i32,
        /// Parameters, a JSON object.
        #[arg(long, value_name = "JSON")]
        params: Option<String>,
        /// Not before (RFC 3339 or YYYY-MM-DD HH:MM, UTC).
        #[arg(long)]
        at: Option<String>,
        /// Runs allowed for transient failures (1-20).
        #[arg(long, default_value_t = 5)]
        max_attempts: i32,
    },
}
/// Runs a `task` command as `a`.
pub(crate) async fn run(ctx: &Ctx, s: &Services, a: &Actor, c: &TaskCmd) -> CliResult<()> {
    match c {
        TaskCmd::List {
            status,
            task_type,
            page: p,
        } => {
            let terms = Terms::default()
                .with("status", status.as_ref())
                .with("type", task_type.as_ref());
            let f = TaskFilter::from_terms(&terms, chrono::Utc::now())?;
            views::list(ctx.json, &s.task_list(a, &f, page(p)).await?);
        }
        TaskCmd::Show { id } => views::show(ctx.json, &s.task_get(a, *id).await?),
        TaskCmd::Logs { id, follow } => {
            let mut after = 0;
            loop {
                let lines = s.task_logs(a, *id, after, 1000).await?;
                for l in &lines {
                    after = l.id;
                    println!("{}", log_line(ctx.json, l));
                }
                if lines.len() == 1000 {
                    continue; // more already written
                }
                if !*follow {
                    break;
                }
                let status = s.task_get(a, *id).await?.task.status;
                if matches!(
                    status,
                    TaskStatus::Completed | TaskStatus::Failed | TaskStatus::Cancelled
                ) {
                    // Lines written just before the end.
                    for l in s.task_logs(a, *id, after, 1000).await? {
                        println!("{}", log_line_final(&l));
                    }
                    eprintln!("task {id} is {status}");
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            }
        }
        TaskCmd::Cancel { id } => {
            let r = s.task_cancel(a, *id).await?;
            println!("task {} is now {}", r.id, r.status);
        }
        TaskCmd::Retry { id } => {
            let r = s.task_retry(a, *id).await?;
            println!("task {} is queued again ({})", r.id, r.status);
        }
        TaskCmd::Enqueue {
            task_type,
            target,
            priority,
            params,
            at,
            max_attempts,
        } => {
            let input = TaskInput {
                task_type: Some(parse(task_type)?),
                priority: Some(*priority),
                target_type: None,
                target_id: Some(*target),
                params: params.as_deref().map(json_arg).transpose()?,
                scheduled_at: at.as_deref().map(parse_time).transpose()?,
                max_attempts: Some(*max_attempts),
            };
            let r = s.task_enqueue(a, &input).await?;
            if ctx.json {
                views::print_json(&r);
            } else {
                println!(
                    "queued task {} ({} on {} #{})",
                    r.id,
                    r.task_type,
                    views::opt(&r.target_type),
                    *target
                );
            }
        }
    }
    Ok(())
}

/// How long a command that runs its task now waits for a task it cannot run here (another
/// worker has it, or a task of the same target holds it back): `CERTDECK_TASK_WAIT_SECONDS`,
/// default 300.
pub const TASK_WAIT_ENV: &str = "CERTDECK_TASK_WAIT_SECONDS";
const TASK_WAIT_DEFAULT_SECS: u64 = 300;

fn task_wait_bound() -> CliResult<std::time::Duration> {
    match std::env::var(TASK_WAIT_ENV) {
        Err(_) => Ok(std::time::Duration::from_secs(TASK_WAIT_DEFAULT_SECS)),
        Ok(v) => v
            .trim()
            .parse::<u64>()
            .map(std::time::Duration::from_secs)
            .map_err(|_| CliError::Invalid(format!("{TASK_WAIT_ENV}={v}: give a number of seconds"))),
    }
}

/// Runs a queued task here (or follows it), prints its log, and fails unless it completed.
/// While it cannot run here it says what it waits for; after the bound ([`TASK_WAIT_ENV`]) it
/// gives up, leaving the one task queued (enqueueing the same work again returns that task).
pub(crate) async fn run_task(json: bool, s: &Services, a: &Actor, id: i64) -> CliResult<()> {
    let runners = crate::scheduler::runners_for_this_build();
    let bound = task_wait_bound()?;
    let started = std::time::Instant::now();
    let mut said = String::new();
    let report = loop {
        match s.task_wait_step(a, id, &runners).await? {
            WaitStep::Ran(r) => break Some(r),
            WaitStep::Ended => break None,
            WaitStep::Waiting(why) => {
                if started.elapsed() >= bound {
                    return Err(CliError::Failed(format!(
                        "gave up after {}s waiting: {why}. The task stays queued and runs when a worker gets it \
                         (follow it with `certdeck task show {id}`, or cancel it with `certdeck task cancel {id}`); \
                         the same request again returns it instead of queuing the work twice. \
                         {TASK_WAIT_ENV} sets how long to wait.",
                        bound.as_secs()
                    )));
                }
                if why != said {
                    eprintln!("waiting: {why}");
                    said = why;
                }
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            }
        }
    };
    let detail = s.task_get(a, id).await?;
    let logs = s.task_logs(a, id, 0, 1000).await?;
    if json {
        views::print_json(&serde_json::json!({"task": detail, "logs": logs}));
    } else {
        for l in &logs {
            eprintln!("{}", log_line_short(l));
        }
    }
    match (report, detail.task.status) {
        (_, TaskStatus::Completed) => Ok(()),
        (Some(RunReport::Retrying(m)), _) => Err(CliError::Failed(format!(
            "task {id} failed and will be retried by the scheduler (attempt {} of {}): {m}",
            detail.queue.attempts, detail.queue.max_attempts
        ))),
        (_, st) => Err(CliError::Failed(format!(
            "task {id} is {st}: {}",
            detail.task.error_message.as_deref().unwrap_or("no message")
        ))),
    }
}
