//! `monitor …`: TLS monitors.

use clap::Subcommand;

use crate::cli::context::PageArgs;
use crate::cli::context::{page, parse, Ctx};
use crate::cli::error::{CliError, CliResult};
use crate::cli::views;
use crate::domain::MonitorStatus;
use crate::service::monitoring::MonitorInput;
use crate::service::query::{ListFilter, MonitorFilter, Terms};
use crate::service::{Actor, Services};

/// `monitor …`
#[derive(Debug, Subcommand)]
pub enum MonitorCmd {
    /// List monitors.
    List {
        /// Only this status.
        #[arg(long)]
        status: Option<String>,
        /// Only this type.
        #[arg(long = "type")]
        monitor_type: Option<String>,
        #[command(flatten)]
        page: PageArgs,
    },
    /// Show a monitor.
    Show {
        /// Monitor id.
        id: i64,
    },
    /// Add a monitor.
    Add {
        /// Name.
        name: String,
        /// certificate, server or domain.
        #[arg(long = "type")]
        monitor_type: String,
        /// Certificate or server id.
        #[arg(long)]
        target: Option<i64>,
        /// Domain (domain monitors).
        #[arg(long)]
        domain: Option<String>,
        /// TLS port.
        #[arg(long)]
        port: Option<i64>,
        /// Seconds between checks.
        #[arg(long)]
        interval: Option<i64>,
        /// Connect to this host or IP instead of the domain.
        #[arg(long)]
        connect_address: Option<String>,
        /// Verify the chain against the certificates in this PEM file instead of the public roots.
        #[arg(long)]
        trust_bundle: Option<std::path::PathBuf>,
    },
    /// Change a monitor.
    Update {
        /// Monitor id.
        id: i64,
        /// Name.
        #[arg(long)]
        name: Option<String>,
        /// TLS port.
        #[arg(long)]
        port: Option<i64>,
        /// Seconds between checks.
        #[arg(long)]
        interval: Option<i64>,
        /// Enabled (true/false).
        #[arg(long)]
        active: Option<bool>,
        /// Connect to this host or IP instead of the domain ("" clears).
        #[arg(long)]
        connect_address: Option<String>,
        /// Verify against the certificates in this PEM file ("" clears: public roots).
        #[arg(long)]
        trust_bundle: Option<std::path::PathBuf>,
    },
    /// Delete a monitor.
    Rm {
        /// Monitor id.
        id: i64,
    },
    /// Check a monitor now (TLS probe, drift, rules): prints what it found; exit 1 if not ok.
    Check {
        /// Monitor id.
        id: i64,
    },
}
/// Runs a `monitor` command as `a`.
pub(crate) async fn run(ctx: &Ctx, s: &Services, a: &Actor, c: &MonitorCmd) -> CliResult<()> {
    match c {
        MonitorCmd::List {
            status,
            monitor_type,
            page: p,
        } => {
            let terms = Terms::default()
                .with("status", status.as_ref())
                .with("type", monitor_type.as_ref());
            let f = MonitorFilter::from_terms(&terms, chrono::Utc::now())?;
            views::list(ctx.json, &s.monitor_list(a, &f, page(p)).await?);
        }
        MonitorCmd::Show { id } => views::show(ctx.json, &s.monitor_get(a, *id).await?),
        MonitorCmd::Add {
            name,
            monitor_type,
            target,
            domain,
            port,
            interval,
            connect_address,
            trust_bundle,
        } => {
            let input = MonitorInput {
                name: Some(name.clone()),
                monitor_type: Some(parse(monitor_type)?),
                target_id: *target,
                domain: domain.clone(),
                port: *port,
                check_interval: *interval,
                is_active: Some(true),
                connect_address: connect_address.clone(),
                trust_bundle_pem: read_bundle(trust_bundle.as_deref())?,
            };
            let m = s.monitor_create(a, &input).await?;
            println!("added monitor {} (id {})", m.name, m.id);
        }
        MonitorCmd::Update {
            id,
            name,
            port,
            interval,
            active,
            connect_address,
            trust_bundle,
        } => {
            let input = MonitorInput {
                name: name.clone(),
                port: *port,
                check_interval: *interval,
                is_active: *active,
                connect_address: connect_address.clone(),
                trust_bundle_pem: read_bundle(trust_bundle.as_deref())?,
                ..Default::default()
            };
            let m = s.monitor_update(a, *id, &input).await?;
            println!("updated monitor {} (id {})", m.name, m.id);
        }
        MonitorCmd::Rm { id } => {
            s.monitor_delete(a, *id).await?;
            println!("deleted monitor {id}");
        }
        MonitorCmd::Check { id } => {
            let o = s.monitor_check_now(a, *id).await?;
            if ctx.json {
                views::print_json(&o);
            } else {
                print!("{}", views::monitoring::check_text(*id, &o));
            }
            if o.status != MonitorStatus::Ok {
                return Err(CliError::Failed(format!("monitor {id} is {}", o.status.as_str())));
            }
        }
    }
    Ok(())
}

/// A trust bundle file's text (`""` as the path clears the bundle).
fn read_bundle(path: Option<&std::path::Path>) -> CliResult<Option<String>> {
    match path {
        None => Ok(None),
        Some(p) if p.as_os_str().is_empty() => Ok(Some(String::new())),
        Some(p) => std::fs::read_to_string(p)
            .map(Some)
            .map_err(|e| CliError::Failed(format!("cannot read the trust bundle {}: {e}", p.display()))),
    }
}
