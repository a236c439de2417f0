//! From a parsed command line to an exit code: load the config, start logging, open the
//! services, find the caller, and hand the command to its group's module in [`super::cmd`].

use super::args::{Cli, Command};
use super::cmd;
use super::cmd::user::UserCmd;
use super::context::Ctx;
use super::error::{CliError, CliResult};
use crate::config::{Config, Overrides};
use crate::service::bootstrap;

/// Parses the command line and runs it; returns the process exit code (see [`super::error`]).
pub async fn run(cli: Cli) -> i32 {
    let overrides = Overrides {
        config_path: cli.config.clone(),
        database_url: cli.database_url.clone(),
    };
    let config = match Config::load(&overrides) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return super::error::EXIT_FAILURE;
        }
    };
    if matches!(cli.command, Some(Command::Openapi)) {
        println!(
            "{}",
            serde_json::to_string_pretty(&crate::api::openapi_document()).unwrap_or_default()
        );
        return 0;
    }
    let agent_loop = matches!(
        &cli.command,
        Some(Command::Agent(cmd::agent::AgentCmd::Run { once: false, .. }))
    );
    let sink = if cli.serve_scheduler || cli.serve_api.is_some() || agent_loop {
        crate::logging::Sink::FileAndJournal
    } else {
        crate::logging::Sink::FileOnly
    };
    let _guard = match crate::logging::init(&config.data_dir, &config.log_level, sink) {
        Ok(g) => Some(g),
        Err(e) => {
            eprintln!("warning: {e}; logging is off");
            None
        }
    };
    // The agent runs on a managed server: no database, only its token.
    if let Some(Command::Agent(c)) = &cli.command {
        return match cmd::agent::run(c, cli.json).await {
            Ok(()) => 0,
            Err(e) => {
                tracing::warn!(error = %e, code = e.exit_code(), "agent command failed");
                eprintln!("error: {e}");
                e.exit_code()
            }
        };
    }
    let ctx = Ctx {
        config,
        no_migrate: cli.no_migrate,
        json: cli.json,
    };
    if matches!(cli.command, Some(Command::Health)) && !cli.serve_scheduler {
        return match cmd::scheduler::health(&ctx).await {
            Ok(code) => code,
            Err(msg) => {
                eprintln!("error: {msg}");
                2
            }
        };
    }
    match dispatch(&ctx, &cli).await {
        Ok(()) => 0,
        Err(e) => {
            tracing::warn!(error = %e, code = e.exit_code(), "command failed");
            eprintln!("error: {e}");
            e.exit_code()
        }
    }
}

async fn dispatch(ctx: &Ctx, cli: &Cli) -> CliResult<()> {
    if cli.serve_scheduler || cli.serve_api.is_some() {
        let s = ctx.open().await?;
        if !bootstrap::has_admin(&s).await? {
            return Err(CliError::Failed(
                "this database has no admin yet: run `certdeck init` before starting the scheduler or the API".into(),
            ));
        }
        return match cli.serve_api {
            Some(addr) => cmd::serve::serve(&s, addr, &cli.api, cli.serve_scheduler).await,
            None => cmd::scheduler::serve(&s).await,
        };
    }
    let Some(command) = &cli.command else {
        use std::io::IsTerminal;
        let s = ctx.open().await?;
        if !(std::io::stdout().is_terminal() && std::io::stdin().is_terminal()) || ctx.json {
            // Not a terminal (a script, a pipe): the summary instead of the console.
            let a = ctx.actor(&s).await?;
            return cmd::status::status(ctx, &s, &a).await;
        }
        return cmd::status::console(ctx, cli, s).await;
    };
    // Commands that open the database themselves and authorize on their own.
    match command {
        Command::Db(c) => return cmd::db::run(ctx, c).await,
        Command::Init { admin_email } => return cmd::auth::init(ctx, admin_email).await,
        Command::Login {
            username,
            password_stdin,
            new_password_stdin,
        } => return cmd::auth::login(ctx, username, *password_stdin, *new_password_stdin).await,
        Command::Logout => return cmd::auth::logout(ctx).await,
        Command::Whoami => return cmd::auth::whoami(ctx).await,
        Command::Secrets(c) => return cmd::secrets::run(ctx, c).await,
        _ => {}
    }
    let s = ctx.open().await?;
    if let Command::User(UserCmd::Unlock { user }) = command {
        // The operator's way back in: before (and instead of) the usual authentication.
        return cmd::user::unlock(ctx, &s, user).await;
    }
    let a = ctx.actor(&s).await?;
    let (s, a) = (&s, &a);
    match command {
        Command::Status => cmd::status::status(ctx, s, a).await,
        Command::User(c) => cmd::user::run(ctx, s, a, c).await,
        Command::Apikey(c) => cmd::apikey::run(ctx, s, a, c).await,
        Command::Server(c) => cmd::server::run(ctx, s, a, c).await,
        Command::Group(c) => cmd::group::run(ctx, s, a, c).await,
        Command::Cert(c) => cmd::cert::run(ctx, s, a, c).await,
        Command::Ca(c) => cmd::ca::run(ctx.json, s, a, c).await,
        Command::DnsProvider(c) => cmd::dns_provider::run(ctx.json, s, a, c).await,
        Command::Deployment(c) => cmd::deployment::run(ctx, s, a, c).await,
        Command::Deploy {
            cert,
            server,
            group,
            all,
            plan,
            no_wait,
        } => {
            let target = cmd::deploy::target(*server, *group, *all)?;
            cmd::deploy::run(ctx.json, s, a, *cert, target, *plan, *no_wait).await
        }
        Command::Monitor(c) => cmd::monitor::run(ctx, s, a, c).await,
        Command::Alert(c) => cmd::alert::run(ctx, s, a, c).await,
        Command::Channel(c) => cmd::channel::run(ctx, s, a, c).await,
        Command::Setting(c) => cmd::setting::run(ctx, s, a, c).await,
        Command::Audit(c) => cmd::audit::run(ctx, s, a, c).await,
        Command::Task(c) => cmd::task::run(ctx, s, a, c).await,
        Command::Schedule(c) => cmd::schedule::run(ctx, s, a, c).await,
        Command::Agent(_) => Err(CliError::Failed("internal: agent runs before dispatch".into())),
        Command::Openapi => Err(CliError::Failed("internal: openapi runs before dispatch".into())),
        Command::Health => Err(CliError::Failed("internal: health runs before dispatch".into())),
        Command::Db(_)
        | Command::Init { .. }
        | Command::Login { .. }
        | Command::Logout
        | Command::Whoami
        | Command::Secrets(_) => Err(CliError::Failed("internal: handled above".into())),
    }
}
