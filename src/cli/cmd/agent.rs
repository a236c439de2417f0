//! `certdeck agent enroll|run`: the pull agent on a token server. It opens no database and
//! needs no master key: only the server's token, kept in `agent.toml` (mode 0600).

use std::path::PathBuf;

use clap::Subcommand;

use crate::agent::config::{default_path, AgentConfig, DEFAULT_ALLOWED_DIRS, DEFAULT_INTERVAL_SECS};
use crate::agent::run::{Agent, RunSummary};
use crate::cli::context::read_stdin_secret;
use crate::cli::error::{CliError, CliResult};

/// Agent commands.
#[derive(Debug, Subcommand)]
pub enum AgentCmd {
    /// Write the agent's config (checked by a first check-in): the API's URL, how its TLS is
    /// trusted, and the server's token (from `certdeck server token ID`), read from standard input.
    Enroll {
        /// The API's URL (https://certdeck.example.net:8443).
        #[arg(long)]
        url: String,
        /// Trust only this CA (PEM file) for the API, instead of the system's roots.
        #[arg(long, value_name = "FILE")]
        ca: Option<PathBuf>,
        /// Read the token from standard input (required: a token is never a command-line argument).
        #[arg(long, required = true)]
        token_stdin: bool,
        /// Seconds between runs (default 300; report the timer's period when a timer runs it).
        #[arg(long, value_name = "SECS")]
        interval: Option<i32>,
        /// Also allow writing certificates, keys and challenge files under this directory
        /// (repeatable; the defaults are the usual TLS and web server directories).
        #[arg(long = "allow-dir", value_name = "DIR")]
        allow_dirs: Vec<String>,
        /// Pin the config test command here instead of using the server entry's.
        #[arg(long)]
        test_command: Option<String>,
        /// Pin the reload command here instead of using the server entry's.
        #[arg(long)]
        reload_command: Option<String>,
        /// The agent config file (default /etc/certdeck/agent.toml as root, else the config dir).
        #[arg(long, value_name = "FILE")]
        agent_config: Option<PathBuf>,
    },
    /// Check in, report the web server's sites, install waiting deployments: once (from a timer)
    /// or in a loop every interval with jitter, backing off after failures.
    Run {
        /// One run, then exit (exit 1 when the API could not be reached or an install failed).
        #[arg(long)]
        once: bool,
        /// The agent config file (default /etc/certdeck/agent.toml as root, else the config dir).
        #[arg(long, value_name = "FILE")]
        agent_config: Option<PathBuf>,
    },
}

/// Runs an agent command.
pub(crate) async fn run(c: &AgentCmd, json: bool) -> CliResult<()> {
    match c {
        AgentCmd::Enroll {
            url,
            ca,
            token_stdin: _,
            interval,
            allow_dirs,
            test_command,
            reload_command,
            agent_config,
        } => {
            let token = zeroize::Zeroizing::new(read_stdin_secret("token")?);
            let mut dirs: Vec<String> = DEFAULT_ALLOWED_DIRS.iter().map(|s| s.to_string()).collect();
            for d in allow_dirs {
                let d = d.trim_end_matches('/').to_string();
                if !dirs.contains(&d) {
                    dirs.push(d);
                }
            }
            let ca = match ca {
                Some(p) => Some(
                    std::fs::canonicalize(p).map_err(|e| CliError::Invalid(format!("--ca {}: {e}", p.display())))?,
                ),
                None => None,
            };
            let config = AgentConfig {
                url: url.trim_end_matches('/').to_string(),
                ca,
                token: token.trim().to_string(),
                interval_seconds: interval.unwrap_or(DEFAULT_INTERVAL_SECS),
                allowed_dirs: dirs,
                test_command: test_command.clone(),
                reload_command: reload_command.clone(),
            };
            config.validate().map_err(CliError::Invalid)?;
            let agent = Agent::new(config.clone()).map_err(CliError::Invalid)?;
            let work = agent
                .checkin()
                .await
                .map_err(|e| CliError::Failed(format!("the first check-in failed, nothing was written: {e}")))?;
            let path = agent_config.clone().unwrap_or_else(default_path);
            config.save(&path).map_err(CliError::Failed)?;
            if json {
                crate::cli::views::print_json(&serde_json::json!({
                    "config": path, "server_id": work.server.id, "server": work.server.label,
                    "deployments_waiting": work.deployments.len(),
                }));
            } else {
                println!(
                    "enrolled as server {} ({}); config written to {} (mode 0600); {} deployment(s) waiting; \
                     start it with `certdeck agent run` (or the certdeck-agent timer)",
                    work.server.id,
                    work.server.label,
                    path.display(),
                    work.deployments.len()
                );
            }
            Ok(())
        }
        AgentCmd::Run { once, agent_config } => {
            let path = agent_config.clone().unwrap_or_else(default_path);
            let config = AgentConfig::load(&path).map_err(CliError::Invalid)?;
            let agent = Agent::new(config).map_err(CliError::Invalid)?;
            if *once {
                let sum = agent.run_once().await.map_err(CliError::Failed)?;
                print_summary(json, &Ok(sum.clone()));
                if !sum.failed.is_empty() {
                    return Err(CliError::Failed(format!("{} install(s) failed", sum.failed.len())));
                }
                return Ok(());
            }
            let mut stop = super::scheduler::stop_signal();
            let stopped = async move {
                let _ = stop.wait_for(|s| *s).await;
            };
            agent.run_loop(stopped, |r| print_summary(json, r)).await;
            Ok(())
        }
    }
}

/// One line per run (a JSON object with `--json`), for the journal or the timer's log.
fn print_summary(json: bool, r: &Result<RunSummary, String>) {
    match r {
        Ok(s) if json => crate::cli::views::print_json(s),
        Ok(s) => {
            println!(
                "server {}: {} site(s) discovered, {} deployed, {} failed, {} challenge file(s)",
                s.server_id,
                s.sites,
                s.deployed,
                s.failed.len(),
                s.challenges
            );
            for f in &s.failed {
                println!("  failed: {f}");
            }
            for w in &s.warnings {
                println!("  warning: {w}");
            }
        }
        Err(e) if json => crate::cli::views::print_json(&serde_json::json!({"error": e})),
        Err(e) => println!("run failed: {e}"),
    }
}
