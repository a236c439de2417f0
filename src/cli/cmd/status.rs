//! `status` (and no command off a terminal): the summary; no command on a terminal: the console.

use crate::cli::args::Cli;
use crate::cli::context::Ctx;
use crate::cli::error::{CliError, CliResult};
use crate::cli::views;
use crate::cli::views::admin::Summary;
use crate::service::bootstrap;
use crate::service::query::{CertFilter, CertOrder, Page, ServerFilter};
use crate::service::{Actor, Services};

/// Prints the summary of certificates and servers `a` sees.
pub(crate) async fn status(ctx: &Ctx, s: &Services, a: &Actor) -> CliResult<()> {
    let counts = s.cert_counts(a).await?;
    let soon = CertFilter {
        order: CertOrder::Expiry,
        expires_to: Some(views::certs::expiry_horizon(30)),
        ..Default::default()
    };
    let expiring = s.cert_list(a, &soon, Page::first(10)).await?;
    let servers = s.server_list(a, &ServerFilter::default(), Page::first(1000)).await?;
    let summary = Summary {
        actor: a.clone(),
        counts,
        expiring,
        servers: servers.len(),
    };
    if ctx.json {
        views::print_json(&summary);
    } else {
        print!("{}", summary.render());
    }
    Ok(())
}

/// Opens the console on this database.
pub(crate) async fn console(ctx: &Ctx, cli: &Cli, s: Services) -> CliResult<()> {
    if !bootstrap::has_admin(&s).await? {
        if ctx.config.is_sqlite() {
            // First run: create the admin and log in, then open the console once the operator
            // has had time to copy the one-time password (the console clears the screen).
            if ctx.first_run(&s, "admin@localhost").await?.is_none() {
                return Err(CliError::Denied(
                    "set the admin's password first (see above), then open the console again".into(),
                ));
            }
            eprintln!("Press Enter to open the console.");
            let mut line = String::new();
            std::io::stdin().read_line(&mut line).map_err(|e| e.to_string())?;
        } else {
            return Err(CliError::Denied(
                "this database has no admin yet: run `certdeck init` first".into(),
            ));
        }
    }
    let lang = match cli.lang.as_deref().or(ctx.config.language.as_deref()) {
        Some(l) => Some(
            crate::tui::i18n::Lang::parse(l)
                .ok_or_else(|| CliError::Invalid(format!("--lang {l}: use en or zh-CN")))?,
        ),
        None => None,
    };
    let scheduler = crate::tui::SchedulerMode::parse(&ctx.config.scheduler).map_err(CliError::Invalid)?;
    let (_, db_key) = ctx.sessions();
    let opts = crate::tui::ConsoleOptions {
        theme: cli.theme.clone().unwrap_or_else(|| ctx.config.theme.clone()),
        keymap: cli.keymap.clone().unwrap_or_else(|| ctx.config.keymap.clone()),
        lang,
        user: cli.user.clone(),
        read_only: cli.read_only,
        scheduler,
        config_dir: ctx.config.config_dir.clone(),
        db_key,
    };
    Ok(crate::tui::run(s, opts).await?)
}
