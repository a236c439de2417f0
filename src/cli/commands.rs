//! Running CLI commands against the service layer.

use std::io::Read;
use std::path::Path;

use chrono::{DateTime, Duration, NaiveDate, Utc};

use super::output::{countdown, opt, print_fields, print_json, when, Table};
use super::*;
use crate::config::{Config, Overrides};
use crate::crypto::{Keyring, MasterKey};
use crate::domain::*;
use crate::errors::ServiceError;
use crate::scheduler::{Scheduler, SchedulerConfig};
use crate::service::bootstrap::{self, KeySource, OpenOptions};
use crate::service::certificates::{CertChanges, ImportInput};
use crate::service::monitoring::{AlertInput, MonitorInput};
use crate::service::schedules::ScheduleInput;
use crate::service::schema::SchemaAdmin;
use crate::service::servers::ServerInput;
use crate::service::tasks::TaskInput;
use crate::service::users::UserEdit;
use crate::service::users::UserInput;
use crate::service::{Actor, ClientInfo, Services};
use crate::session::{database_key, Resumed, SessionStore};
use crate::store::audit::AuditFilter;
use crate::store::certificates::{CertFilter, CertOrder};
use crate::store::monitoring::MonitorFilter;
use crate::store::servers::ServerFilter;
use crate::store::tasks::TaskFilter;
use crate::store::users::UserFilter;
use crate::store::Page;

/// A CLI failure: the message printed after `error: `.
type R<T> = Result<T, String>;

fn svc<T>(r: Result<T, ServiceError>) -> R<T> {
    r.map_err(|e| e.to_string())
}

fn parse<T: std::str::FromStr>(v: &str) -> R<T>
where
    T::Err: std::fmt::Display,
{
    v.parse::<T>().map_err(|e| e.to_string())
}

fn parse_opt<T: std::str::FromStr>(v: &Option<String>) -> R<Option<T>>
where
    T::Err: std::fmt::Display,
{
    v.as_deref().map(parse::<T>).transpose()
}

fn page(p: &PageArgs) -> Page {
    Page {
        before_id: p.before,
        limit: p.limit,
    }
}

fn read_stdin_secret(what: &str) -> R<String> {
    let mut s = String::new();
    std::io::stdin()
        .read_to_string(&mut s)
        .map_err(|e| format!("cannot read {what} from standard input: {e}"))?;
    let s = s.trim_end_matches(['\n', '\r']).to_string();
    if s.is_empty() {
        return Err(format!("no {what} on standard input"));
    }
    Ok(s)
}

fn prompt_secret(prompt: &str) -> R<String> {
    rpassword::prompt_password(prompt)
        .map_err(|e| format!("cannot read the password from the terminal: {e} (use --password-stdin in scripts)"))
}

/// Whether a person is at the keyboard (stdin and stderr are a terminal).
fn interactive() -> bool {
    use std::io::IsTerminal;
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// Asks before a destructive operation: `--yes` skips the question; without a terminal and
/// without `--yes`, nothing is done.
fn confirm(yes: bool, what: &str) -> R<()> {
    if yes {
        return Ok(());
    }
    if !interactive() {
        return Err(format!(
            "{what}: this needs confirmation; run it on a terminal or pass --yes. Nothing was changed"
        ));
    }
    eprint!("{what}. Type 'yes' to go on: ");
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| format!("cannot read the answer: {e}"))?;
    if line.trim() == "yes" {
        Ok(())
    } else {
        Err("cancelled; nothing was changed".into())
    }
}

/// Asks twice for a new password on the terminal.
fn prompt_new_password() -> R<String> {
    let p1 = prompt_secret("New password: ")?;
    let p2 = prompt_secret("Repeat new password: ")?;
    if p1 != p2 {
        return Err("the two passwords differ; nothing was changed".into());
    }
    Ok(p1)
}

/// How to set the new password of an account with a one-time password from a script.
const NEW_PASSWORD_HINT: &str = "certdeck login -u NAME --password-stdin --new-password-stdin \
    (standard input: the one-time password, then the new password, one per line)";

fn read_file(path: &Path, what: &str) -> R<Vec<u8>> {
    std::fs::read(path).map_err(|e| format!("cannot read {what} {}: {e}", path.display()))
}

struct Ctx {
    config: Config,
    no_migrate: bool,
    json: bool,
}

impl Ctx {
    fn key_source(&self) -> KeySource {
        match std::env::var("CERTDECK_MASTER_KEY") {
            Ok(k) if !k.trim().is_empty() => KeySource::Env(k),
            _ => KeySource::File(self.config.master_key_path.clone()),
        }
    }

    async fn open(&self) -> R<Services> {
        if self.config.is_sqlite() && !self.config.data_dir.exists() {
            std::fs::create_dir_all(&self.config.data_dir)
                .map_err(|e| format!("cannot create data dir {}: {e}", self.config.data_dir.display()))?;
            // The database holds sealed secrets and password hashes: keep the directory private.
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let _ = std::fs::set_permissions(&self.config.data_dir, std::fs::Permissions::from_mode(0o700));
            }
        }
        let opts = OpenOptions {
            database_url: self.config.database_url.clone(),
            migrate: !self.no_migrate,
            key: self.key_source(),
            pool: self.config.pool_settings(),
            client: ClientInfo::from_env(),
        };
        bootstrap::open(&opts)
            .await
            .map(|s| s.with_data_dir(self.config.data_dir.clone()))
            .map_err(|e| e.to_string())
    }

    fn sessions(&self) -> (SessionStore, String) {
        (
            SessionStore::new(&self.config.config_dir),
            database_key(&self.config.database_url),
        )
    }

    /// Who runs this command: an API key, the saved session, or (first run on SQLite) the new admin.
    async fn actor(&self, s: &Services) -> R<Actor> {
        if let Ok(cred) = std::env::var("CERTDECK_API_KEY") {
            if !cred.trim().is_empty() {
                return svc(s.authenticate_api_key(&cred).await);
            }
        }
        let (store, key) = self.sessions();
        match store
            .resume(s, &key)
            .await
            .map_err(|e| format!("cannot save the session: {e}"))?
        {
            Resumed::Actor(a) => return Ok(a),
            Resumed::Expired { reason, .. } => return Err(reason),
            Resumed::None => {}
        }
        if !svc(bootstrap::has_admin(s).await)? {
            if self.config.is_sqlite() {
                return self.first_run(s, "admin@localhost").await?.ok_or_else(|| {
                    "set the admin's password first (see above), then run this command again".to_string()
                });
            }
            return Err("this database has no admin yet: run `certdeck init` first".into());
        }
        Err("not logged in: run `certdeck login` (scripts: set CERTDECK_API_KEY=<key>:<secret>)".into())
    }

    /// Who runs an operator command (unlock, key rotation): a logged-in admin or, with no session
    /// and no API key, the local operator (`None`), whose authority is access to the database
    /// and its master key — the way back in for a locked sole admin. Anyone else is refused.
    async fn operator(&self, s: &Services) -> R<Option<Actor>> {
        let api_key = std::env::var("CERTDECK_API_KEY").is_ok_and(|v| !v.trim().is_empty());
        let (store, key) = self.sessions();
        if !api_key && store.get(&key).is_none() {
            return Ok(None);
        }
        let a = self.actor(s).await?;
        if a.is_admin() {
            Ok(Some(a))
        } else {
            Err(format!(
                "{} acts as role {}: this needs an admin session, or the local operator with no session \
                 (`certdeck logout`) and no CERTDECK_API_KEY",
                a.username, a.role
            ))
        }
    }

    /// Creates the first admin and shows its one-time password once on stderr. On a terminal
    /// it asks for the admin's own password right away and logs in as admin (`Some`); otherwise
    /// the password must be changed with `certdeck login` first (`None`).
    async fn first_run(&self, s: &Services, email: &str) -> R<Option<Actor>> {
        let Some(password) = svc(bootstrap::create_initial_admin(s, email).await)? else {
            return Err("an admin already exists: run `certdeck login`".into());
        };
        eprintln!("Created the admin account 'admin' (e-mail {email}).");
        eprintln!("Its one-time password, shown only now: {password}");
        if !interactive() {
            eprintln!(
                "It works once: log in with `certdeck login -u admin`, which asks for a new password \
                 (scripts: {NEW_PASSWORD_HINT})."
            );
            return Ok(None);
        }
        eprintln!("Choose the admin's own password now (the one-time password then stops working).");
        let mut tries = 0;
        let (actor, session) = loop {
            tries += 1;
            let attempt = match prompt_new_password() {
                Ok(new) => svc(s.login_with_new_password("admin", &password, &new).await),
                Err(e) => Err(e),
            };
            match attempt {
                Ok(done) => break done,
                Err(e) if tries < 3 => eprintln!("{e}; try again"),
                Err(e) => {
                    return Err(format!(
                        "{e}; log in later with `certdeck login -u admin` and the one-time password above"
                    ))
                }
            }
        };
        let (store, key) = self.sessions();
        store
            .put(&key, &session)
            .map_err(|e| format!("cannot save the session: {e}"))?;
        eprintln!("You are logged in as admin on this machine.");
        Ok(Some(actor))
    }
}

/// Parses the command line and runs it; returns the process exit code.
pub async fn run(cli: Cli) -> i32 {
    let overrides = Overrides {
        config_path: cli.config.clone(),
        database_url: cli.database_url.clone(),
    };
    let config = match Config::load(&overrides) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return 1;
        }
    };
    let sink = if cli.serve_scheduler {
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
    let ctx = Ctx {
        config,
        no_migrate: cli.no_migrate,
        json: cli.json,
    };
    if matches!(cli.command, Some(Command::Health)) && !cli.serve_scheduler {
        return match health(&ctx).await {
            Ok(code) => code,
            Err(msg) => {
                eprintln!("error: {msg}");
                2
            }
        };
    }
    let result = dispatch(&ctx, &cli).await;
    match result {
        Ok(()) => 0,
        Err(msg) => {
            tracing::warn!(error = %msg, "command failed");
            eprintln!("error: {msg}");
            1
        }
    }
}

async fn dispatch(ctx: &Ctx, cli: &Cli) -> R<()> {
    if cli.serve_scheduler {
        let s = ctx.open().await?;
        if !svc(bootstrap::has_admin(&s).await)? {
            return Err("this database has no admin yet: run `certdeck init` before starting the scheduler".into());
        }
        return serve_scheduler(&s).await;
    }
    let Some(cmd) = &cli.command else {
        use std::io::IsTerminal;
        let s = ctx.open().await?;
        if !(std::io::stdout().is_terminal() && std::io::stdin().is_terminal()) || ctx.json {
            // Not a terminal (a script, a pipe): the summary instead of the console.
            let a = ctx.actor(&s).await?;
            return status(ctx, &s, &a).await;
        }
        return console(ctx, cli, s).await;
    };
    match cmd {
        Command::Db(DbCmd::Backup { out, dir, keep }) => {
            let s = ctx.open().await?;
            ctx.operator(&s).await?;
            let r = match (out, dir) {
                (Some(file), _) => svc(s.backup_to_file(file).await)?,
                (None, Some(d)) => svc(s.backup_to_dir(d, *keep).await)?,
                (None, None) => svc(s.backup_to_dir(&ctx.config.data_dir.join("backups"), *keep).await)?,
            };
            if ctx.json {
                print_json(&r);
            } else {
                let rows: u64 = r.rows.values().sum();
                println!(
                    "backup written: {} ({} bytes, {rows} rows in {} tables)",
                    r.path.display(),
                    r.bytes,
                    r.rows.len()
                );
                for p in &r.pruned {
                    println!("removed old backup {}", p.display());
                }
            }
            Ok(())
        }
        Command::Db(DbCmd::Restore { file, yes }) => {
            let s = ctx.open().await?;
            let actor = ctx.operator(&s).await?;
            svc(crate::service::schema::require_operator(
                actor.as_ref(),
                "restore backups",
            ))?;
            confirm(
                *yes,
                &format!(
                    "Load the backup {} into {}",
                    file.display(),
                    crate::store::redact_url(&ctx.config.database_url)
                ),
            )?;
            let rows = svc(s.restore_from_file(actor.as_ref(), file).await)?;
            if ctx.json {
                print_json(&rows);
            } else {
                let total: u64 = rows.values().sum();
                println!(
                    "restored {total} rows into {} tables from {}",
                    rows.len(),
                    file.display()
                );
            }
            Ok(())
        }
        Command::Db(DbCmd::Rollback { to, yes, backup_dir }) => {
            let s = ctx.open().await?;
            let actor = ctx.operator(&s).await?;
            svc(crate::service::schema::require_operator(
                actor.as_ref(),
                "roll back the schema",
            ))?;
            let from = migrate_version(&s).await?;
            if *to >= from {
                println!("nothing to roll back: the schema is at version {from}");
                return Ok(());
            }
            let dir = backup_dir
                .clone()
                .unwrap_or_else(|| ctx.config.data_dir.join("backups"));
            confirm(
                *yes,
                &format!(
                    "Roll the schema of {} back from version {from} to {to}: this DROPS tables and their data \
                     (a backup is written to {} first)",
                    crate::store::redact_url(&ctx.config.database_url),
                    dir.display()
                ),
            )?;
            let r = svc(s.schema_rollback(actor.as_ref(), *to, &dir).await)?;
            if ctx.json {
                print_json(&r);
            } else {
                if let Some(b) = &r.backup {
                    println!("backup written: {}", b.display());
                }
                println!(
                    "rolled back {}",
                    r.undone.iter().map(|v| format!("V{v}")).collect::<Vec<_>>().join(", ")
                );
            }
            Ok(())
        }
        Command::Db(c) => db(ctx, c).await,
        Command::Init { admin_email } => {
            let s = ctx.open().await?;
            if svc(bootstrap::has_admin(&s).await)? {
                println!(
                    "certdeck is already initialised (an admin exists); schema at version {}",
                    migrate_version(&s).await?
                );
                return Ok(());
            }
            svc(Email::parse(admin_email).map_err(|r| ServiceError::invalid("admin-email", r)))?;
            let logged_in = ctx.first_run(&s, admin_email).await?.is_some();
            println!("initialised: schema at version {}", migrate_version(&s).await?);
            if !logged_in {
                println!("next: `certdeck login -u admin` with the one-time password, to set the admin's password");
            }
            Ok(())
        }
        Command::Login {
            username,
            password_stdin,
            new_password_stdin,
        } => {
            let s = ctx.open().await?;
            let user = match username {
                Some(u) => u.clone(),
                None => {
                    eprint!("Username: ");
                    let mut u = String::new();
                    std::io::stdin().read_line(&mut u).map_err(|e| e.to_string())?;
                    u.trim().to_string()
                }
            };
            let (pw, new_pw) = match (*password_stdin, *new_password_stdin) {
                (true, true) => {
                    let both = read_stdin_secret("password")?;
                    let mut lines = both.lines();
                    let current = lines.next().unwrap_or_default().trim_end_matches('\r').to_string();
                    let new = lines
                        .next()
                        .map(|l| l.trim_end_matches('\r').to_string())
                        .filter(|l| !l.is_empty())
                        .ok_or("--new-password-stdin: standard input needs a second line, the new password")?;
                    (current, Some(new))
                }
                (true, false) => (read_stdin_secret("password")?, None),
                (false, true) => (prompt_secret("Password: ")?, Some(read_stdin_secret("new password")?)),
                (false, false) => (prompt_secret("Password: ")?, None),
            };
            let result = match &new_pw {
                Some(new) => s.login_with_new_password(&user, &pw, new).await,
                None => s.login(&user, &pw).await,
            };
            let (actor, session) = match result {
                Err(ServiceError::PasswordChangeRequired(msg)) if !*password_stdin && interactive() => {
                    eprintln!("{msg}");
                    let new = prompt_new_password()?;
                    svc(s.login_with_new_password(&user, &pw, &new).await)?
                }
                Err(ServiceError::PasswordChangeRequired(msg)) => {
                    return Err(format!(
                        "{msg}; nothing was changed. From a script: {NEW_PASSWORD_HINT}"
                    ))
                }
                other => svc(other)?,
            };
            let (store, key) = ctx.sessions();
            store
                .put(&key, &session)
                .map_err(|e| format!("cannot save the session: {e}"))?;
            println!("logged in as {} ({})", actor.username, actor.role);
            Ok(())
        }
        Command::Logout => {
            let s = ctx.open().await?;
            let (store, key) = ctx.sessions();
            match store.get(&key) {
                Some(session) => {
                    svc(s.logout(&session).await)?;
                    store.remove(&key).map_err(|e| e.to_string())?;
                    println!("logged out");
                }
                None => println!("not logged in"),
            }
            Ok(())
        }
        Command::Whoami => {
            let s = ctx.open().await?;
            let a = ctx.actor(&s).await?;
            if ctx.json {
                print_json(&serde_json::json!({"user_id": a.user_id, "username": a.username, "role": a.role}));
            } else {
                println!("{} ({}, id {})", a.username, a.role, a.user_id);
            }
            Ok(())
        }
        Command::Status => {
            let s = ctx.open().await?;
            let a = ctx.actor(&s).await?;
            status(ctx, &s, &a).await
        }
        Command::User(c) => {
            let s = ctx.open().await?;
            if let UserCmd::Unlock { user } = c {
                let actor = ctx.operator(&s).await?;
                let row = svc(s.user_unlock(actor.as_ref(), user).await)?;
                println!("unlocked {} (status {})", row.username, row.status);
                return Ok(());
            }
            let a = ctx.actor(&s).await?;
            user(ctx, &s, &a, c).await
        }
        Command::Secrets(c) => secrets(ctx, c).await,
        other => {
            let s = ctx.open().await?;
            let a = ctx.actor(&s).await?;
            match other {
                Command::Apikey(c) => apikey(ctx, &s, &a, c).await,
                Command::Server(c) => server(ctx, &s, &a, c).await,
                Command::Group(c) => group(ctx, &s, &a, c).await,
                Command::Cert(c) => cert(ctx, &s, &a, c).await,
                Command::Ca(c) => super::remote::ca(ctx.json, &s, &a, c).await,
                Command::DnsProvider(c) => super::remote::dns_provider(ctx.json, &s, &a, c).await,
                Command::Deployment(c) => deployment(ctx, &s, &a, c).await,
                Command::Deploy {
                    cert,
                    server,
                    group,
                    all,
                    plan,
                    no_wait,
                } => {
                    let target = match (server, group, all) {
                        (Some(id), _, _) => crate::service::deploy::DeployTarget::Server(*id),
                        (_, Some(id), _) => crate::service::deploy::DeployTarget::Group(*id),
                        (_, _, true) => crate::service::deploy::DeployTarget::All,
                        _ => return Err("say where: --server ID, --group ID or --all".into()),
                    };
                    super::remote::deploy(ctx.json, &s, &a, *cert, target, *plan, *no_wait).await
                }
                Command::Monitor(c) => monitor(ctx, &s, &a, c).await,
                Command::Alert(c) => alert(ctx, &s, &a, c).await,
                Command::Channel(c) => channel(ctx, &s, &a, c).await,
                Command::Setting(c) => setting(ctx, &s, &a, c).await,
                Command::Audit(c) => audit(ctx, &s, &a, c).await,
                Command::Task(c) => task(ctx, &s, &a, c).await,
                Command::Schedule(c) => schedule(ctx, &s, &a, c).await,
                _ => Err("unhandled command".into()),
            }
        }
    }
}

/// Opens the console on this database.
async fn console(ctx: &Ctx, cli: &Cli, s: Services) -> R<()> {
    if !svc(bootstrap::has_admin(&s).await)? {
        if ctx.config.is_sqlite() {
            // First run: create the admin and log in, then open the console once the operator
            // has had time to copy the one-time password (the console clears the screen).
            if ctx.first_run(&s, "admin@localhost").await?.is_none() {
                return Err("set the admin's password first (see above), then open the console again".into());
            }
            eprintln!("Press Enter to open the console.");
            let mut line = String::new();
            std::io::stdin().read_line(&mut line).map_err(|e| e.to_string())?;
        } else {
            return Err("this database has no admin yet: run `certdeck init` first".into());
        }
    }
    let lang = match cli.lang.as_deref().or(ctx.config.language.as_deref()) {
        Some(l) => Some(crate::tui::i18n::Lang::parse(l).ok_or_else(|| format!("--lang {l}: use en or zh-CN"))?),
        None => None,
    };
    let scheduler = crate::tui::SchedulerMode::parse(&ctx.config.scheduler)?;
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
    crate::tui::run(s, opts).await
}

async fn migrate_version(s: &Services) -> R<i64> {
    svc(s.schema_version().await)
}

async fn status(ctx: &Ctx, s: &Services, a: &Actor) -> R<()> {
    let counts = svc(s.cert_counts(a).await)?;
    let soon = CertFilter {
        order: CertOrder::Expiry,
        expires_to: Some(Utc::now() + Duration::days(30)),
        ..Default::default()
    };
    let expiring = svc(s.cert_list(a, &soon, Page::first(10)).await)?;
    let servers = svc(s.server_list(a, &ServerFilter::default(), Page::first(1000)).await)?;
    if ctx.json {
        print_json(&serde_json::json!({
            "user": a.username, "certificates_by_status": counts.iter().map(|(k, v)| (k.clone(), *v)).collect::<std::collections::BTreeMap<_, _>>(),
            "expiring_within_30_days": expiring, "servers": servers.len(),
        }));
        return Ok(());
    }
    println!(
        "certdeck {} — logged in as {} ({})",
        env!("CARGO_PKG_VERSION"),
        a.username,
        a.role
    );
    println!();
    let total: i64 = counts.iter().map(|(_, n)| n).sum();
    let by = counts
        .iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect::<Vec<_>>()
        .join(", ");
    println!(
        "certificates: {total}{}",
        if by.is_empty() {
            String::new()
        } else {
            format!(" ({by})")
        }
    );
    println!(
        "servers: {}{}",
        servers.len(),
        if servers.len() == 1000 { "+" } else { "" }
    );
    if expiring.is_empty() {
        println!("no certificate expires within 30 days");
    } else {
        println!("\nexpiring within 30 days:");
        let mut t = Table::new(&["ID", "DOMAIN", "EXPIRES", "IN"]);
        for c in &expiring {
            t.row(vec![
                c.id.to_string(),
                c.main_domain.clone(),
                when(c.expires_at),
                countdown(c.expires_at),
            ]);
        }
        t.print();
    }
    Ok(())
}

async fn db(ctx: &Ctx, c: &DbCmd) -> R<()> {
    let schema = SchemaAdmin::connect(
        &ctx.config.database_url,
        &ctx.config.pool_settings(),
        ClientInfo::from_env(),
    )
    .await
    .map_err(|e| e.to_string())?;
    match c {
        DbCmd::Status => {
            let st = schema.status().await.map_err(|e| e.to_string())?;
            if ctx.json {
                print_json(&st.migrations);
            } else {
                let mut t = Table::new(&["VERSION", "DESCRIPTION", "STATE", "INSTALLED", "CHECKSUM"]);
                for r in &st.migrations {
                    let state = if r.dirty {
                        "DIRTY"
                    } else if r.applied {
                        "applied"
                    } else {
                        "pending"
                    };
                    let ck = match r.checksum_ok {
                        Some(true) => "ok",
                        Some(false) => "CHANGED",
                        None => "-",
                    };
                    t.row(vec![
                        format!("V{}", r.version),
                        r.description.clone(),
                        state.into(),
                        opt(&r.installed_on),
                        ck.into(),
                    ]);
                }
                t.print();
                if let Some(e) = &st.problem {
                    println!("\nproblem: {e}");
                }
            }
        }
        DbCmd::Migrate => {
            let report = schema.migrate().await.map_err(|e| e.to_string())?;
            if report.applied.is_empty() {
                println!("the schema is up to date (version {})", report.version);
            } else {
                println!(
                    "applied {}",
                    report
                        .applied
                        .iter()
                        .map(|v| format!("V{v}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
        }
        DbCmd::Backup { .. } | DbCmd::Restore { .. } | DbCmd::Rollback { .. } => {
            return Err("internal: backup, restore and rollback run through the service layer".into());
        }
    }
    schema.close().await;
    Ok(())
}

async fn task(ctx: &Ctx, s: &Services, a: &Actor, c: &TaskCmd) -> R<()> {
    match c {
        TaskCmd::List {
            status,
            task_type,
            page: p,
        } => {
            let f = TaskFilter {
                visible_to: None,
                status: parse_opt(status)?,
                task_type: parse_opt(task_type)?,
            };
            let rows = svc(s.task_list(a, &f, page(p)).await)?;
            if ctx.json {
                print_json(&rows);
            } else {
                let mut t = Table::new(&[
                    "ID",
                    "TYPE",
                    "STATUS",
                    "PRI",
                    "TARGET",
                    "PROGRESS",
                    "SCHEDULED",
                    "ERROR",
                ]);
                for r in &rows {
                    let target = match (&r.target_type, r.target_id) {
                        (Some(tt), Some(id)) => format!("{tt} #{id}"),
                        _ => "-".into(),
                    };
                    t.row(vec![
                        r.id.to_string(),
                        r.task_type.to_string(),
                        r.status.to_string(),
                        r.priority.to_string(),
                        target,
                        format!("{}%", r.progress),
                        when(Some(r.scheduled_at)),
                        opt(&r.error_message),
                    ]);
                }
                t.print();
            }
        }
        TaskCmd::Show { id } => {
            let d = svc(s.task_get(a, *id).await)?;
            if ctx.json {
                print_json(&d);
            } else {
                let r = &d.task;
                print_fields(&[
                    ("id", r.id.to_string()),
                    ("type", r.task_type.to_string()),
                    ("status", r.status.to_string()),
                    ("priority", r.priority.to_string()),
                    (
                        "target",
                        format!(
                            "{} {}",
                            opt(&r.target_type),
                            r.target_id.map_or("-".into(), |t| format!("#{t}"))
                        ),
                    ),
                    ("progress", format!("{}%", r.progress)),
                    ("attempts", format!("{} of {}", d.queue.attempts, d.queue.max_attempts)),
                    ("scheduled", when(Some(r.scheduled_at))),
                    ("started", when(r.started_at)),
                    ("completed", when(r.completed_at)),
                    ("worker", opt(&d.queue.locked_by)),
                    ("lease until", when(d.queue.lease_expires_at)),
                    ("params", r.params.as_ref().map_or("-".into(), |p| p.0.to_string())),
                    ("result", r.result.as_ref().map_or("-".into(), |p| p.0.to_string())),
                    ("error", opt(&r.error_message)),
                ]);
            }
        }
        TaskCmd::Logs { id, follow } => {
            let mut after = 0;
            loop {
                let lines = svc(s.task_logs(a, *id, after, 1000).await)?;
                for l in &lines {
                    after = l.id;
                    if ctx.json {
                        println!("{}", serde_json::to_string(l).unwrap_or_default());
                    } else {
                        let data = l.data.as_ref().map_or(String::new(), |d| format!("  {}", d.0));
                        println!(
                            "{}  {:<7}  {}{data}",
                            l.created_at.format("%Y-%m-%d %H:%M:%S"),
                            l.log_level,
                            l.message
                        );
                    }
                }
                if lines.len() == 1000 {
                    continue; // more already written
                }
                if !*follow {
                    break;
                }
                let status = svc(s.task_get(a, *id).await)?.task.status;
                if matches!(
                    status,
                    TaskStatus::Completed | TaskStatus::Failed | TaskStatus::Cancelled
                ) {
                    // Lines written just before the end.
                    for l in svc(s.task_logs(a, *id, after, 1000).await)? {
                        println!(
                            "{}  {:<7}  {}",
                            l.created_at.format("%Y-%m-%d %H:%M:%S"),
                            l.log_level,
                            l.message
                        );
                    }
                    eprintln!("task {id} is {status}");
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            }
        }
        TaskCmd::Cancel { id } => {
            let r = svc(s.task_cancel(a, *id).await)?;
            println!("task {} is now {}", r.id, r.status);
        }
        TaskCmd::Retry { id } => {
            let r = svc(s.task_retry(a, *id).await)?;
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
            let r = svc(s.task_enqueue(a, &input).await)?;
            if ctx.json {
                print_json(&r);
            } else {
                println!(
                    "queued task {} ({} on {} #{})",
                    r.id,
                    r.task_type,
                    opt(&r.target_type),
                    *target
                );
            }
        }
    }
    Ok(())
}

async fn schedule(ctx: &Ctx, s: &Services, a: &Actor, c: &ScheduleCmd) -> R<()> {
    let row = match c {
        ScheduleCmd::List => {
            let rows = svc(s.schedule_list(a).await)?;
            if ctx.json {
                print_json(&rows);
            } else {
                let tz = svc(s.schedule_timezone().await)?;
                let mut t = Table::new(&["ID", "NAME", "TYPE", "CRON", "ACTIVE", "OWNER", "LAST RUN", "NEXT RUN"]);
                for r in &rows {
                    t.row(vec![
                        r.id.to_string(),
                        r.name.clone(),
                        r.task_type.to_string(),
                        r.cron_expression.clone(),
                        r.is_active.to_string(),
                        r.created_by.map_or("system".into(), |u| format!("user #{u}")),
                        when(r.last_run_at),
                        when(r.next_run_at),
                    ]);
                }
                t.print();
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
            svc(s.schedule_add(a, &input).await)?
        }
        ScheduleCmd::Edit { id, name, cron, params } => {
            let input = ScheduleInput {
                name: name.clone(),
                cron_expression: cron.clone(),
                params: params.as_deref().map(json_arg).transpose()?,
                ..Default::default()
            };
            svc(s.schedule_edit(a, *id, &input).await)?
        }
        ScheduleCmd::Enable { id } => svc(s.schedule_set_active(a, *id, true).await)?,
        ScheduleCmd::Disable { id } => svc(s.schedule_set_active(a, *id, false).await)?,
        ScheduleCmd::RunNow { id } => svc(s.schedule_run_now(a, *id).await)?,
    };
    if ctx.json {
        print_json(&row);
    } else {
        println!(
            "schedule {} '{}' ({}, {}): {}, next run {}",
            row.id,
            row.name,
            row.task_type,
            row.cron_expression,
            if row.is_active { "active" } else { "disabled" },
            when(row.next_run_at)
        );
    }
    Ok(())
}

/// `certdeck health`: prints the verdict and returns its exit code (a database that cannot be
/// opened is "down").
async fn health(ctx: &Ctx) -> R<i32> {
    let s = ctx.open().await?;
    let h = svc(s.health().await)?;
    if ctx.json {
        print_json(&h);
    } else {
        let q = &h.queue;
        print_fields(&[
            ("status", format!("{:?}", h.level).to_lowercase()),
            (
                "schedulers",
                format!("{} live of {} seen", h.live_schedulers, h.schedulers.len()),
            ),
            ("due tasks", q.due.to_string()),
            ("oldest due", when(q.oldest_due_at)),
            ("scheduled later", q.scheduled.to_string()),
            ("running", q.running.to_string()),
            ("expired leases", q.expired_leases.to_string()),
            ("failed (24 h)", q.failed_24h.to_string()),
        ]);
        for r in &h.reasons {
            println!("- {r}");
        }
        if !h.schedulers.is_empty() {
            let mut t = Table::new(&["WORKER", "MODE", "SLOTS", "VERSION", "STARTED", "HEARTBEAT", "STOPPED"]);
            for r in &h.schedulers {
                t.row(vec![
                    r.worker_id.clone(),
                    r.mode.clone(),
                    r.concurrency.to_string(),
                    r.version.clone(),
                    when(Some(r.started_at)),
                    r.heartbeat_at.format("%Y-%m-%d %H:%M:%S").to_string(),
                    when(r.stopped_at),
                ]);
            }
            t.print();
        }
    }
    Ok(h.level.exit_code())
}

/// `--serve-scheduler`: the headless scheduler until SIGTERM or SIGINT.
async fn serve_scheduler(s: &Services) -> R<()> {
    let mut cfg = SchedulerConfig::new("daemon");
    let knob = |name: &str, range: std::ops::RangeInclusive<u64>| -> R<Option<u64>> {
        match std::env::var(name) {
            Ok(v) if !v.trim().is_empty() => v
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|n| range.contains(n))
                .map(Some)
                .ok_or_else(|| format!("{name}={v}: must be a number from {} to {}", range.start(), range.end())),
            _ => Ok(None),
        }
    };
    match knob("CERTDECK_SCHEDULER_CONCURRENCY", 1..=256)? {
        Some(n) => cfg.concurrency = n as usize,
        // The setting (0 = the default, 2 × cores).
        None => {
            if let n @ 1..=256 = svc(s.setting_number("task.worker_concurrency").await)? {
                cfg.concurrency = n as usize;
            }
        }
    }
    if let Some(secs) = knob("CERTDECK_SCHEDULER_LEASE_SECS", 2..=3600)? {
        cfg.exec.lease = std::time::Duration::from_secs(secs);
    }
    // Reap and beat often enough that a dead worker's task returns within about one lease.
    cfg.housekeeping = (cfg.exec.lease / 3).clamp(std::time::Duration::from_secs(1), std::time::Duration::from_secs(5));
    let runners = crate::scheduler::runners_for_this_build();
    let scheduler = Scheduler::new(s.clone(), runners, cfg);
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(t) => t,
            Err(e) => {
                tracing::error!("cannot listen for SIGTERM: {e}");
                return;
            }
        };
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
            _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: shutting down"),
        }
        let _ = tx.send(true);
    });
    eprintln!(
        "certdeck scheduler {} running with {} worker slot(s); stop with SIGTERM or Ctrl-C",
        scheduler.config().worker_id,
        scheduler.config().concurrency
    );
    svc(scheduler.run(rx).await)
}

async fn secrets(ctx: &Ctx, c: &SecretsCmd) -> R<()> {
    let s = ctx.open().await?;
    match c {
        SecretsCmd::KeyId => {
            println!("{}", s.keyring().primary().key_id());
            Ok(())
        }
        SecretsCmd::Rotate { yes } => {
            let actor = ctx.operator(&s).await?;
            svc(crate::service::schema::require_operator(
                actor.as_ref(),
                "rotate the master key",
            ))?;
            confirm(
                *yes,
                &format!(
                    "Re-encrypt every secret of {} under a new master key (every host then needs the new key)",
                    crate::store::redact_url(&ctx.config.database_url)
                ),
            )?;
            let new_key = MasterKey::generate();
            let next = s.keyring().with_new_primary(new_key.clone());
            match ctx.key_source() {
                KeySource::File(path) => {
                    // Persist old + new first: a crash mid-rotation never loses the key in use.
                    next.write_file(&path).map_err(|e| e.to_string())?;
                    let report = svc(s.secrets_rotate(actor.as_ref(), &new_key).await)?;
                    let only_new = Keyring::single(new_key);
                    only_new.write_file(&path).map_err(|e| e.to_string())?;
                    println!(
                        "rotated {} secret(s) from key {} to key {}; key file {} updated",
                        report.values,
                        report.old_key_id,
                        report.new_key_id,
                        path.display()
                    );
                    println!("copy the new key file to every host that uses this database (mode 0600)");
                }
                KeySource::Env(_) => {
                    let path = ctx.config.data_dir.join("master.key.new");
                    next.write_file(&path).map_err(|e| e.to_string())?;
                    let report = svc(s.secrets_rotate(actor.as_ref(), &new_key).await)?;
                    println!(
                        "rotated {} secret(s) from key {} to key {}",
                        report.values, report.old_key_id, report.new_key_id
                    );
                    println!(
                        "the new key is in {} (the line after the comment); set CERTDECK_MASTER_KEY to it on every host",
                        path.display()
                    );
                }
            }
            Ok(())
        }
    }
}

async fn user(ctx: &Ctx, s: &Services, a: &Actor, c: &UserCmd) -> R<()> {
    match c {
        UserCmd::List { status, role, page: p } => {
            let f = UserFilter {
                status: parse_opt(status)?,
                role: parse_opt(role)?,
            };
            let rows = svc(s.user_list(a, &f, page(p)).await)?;
            if ctx.json {
                print_json(&rows);
            } else {
                let mut t = Table::new(&["ID", "USERNAME", "EMAIL", "ROLE", "STATUS", "LAST LOGIN"]);
                for u in &rows {
                    t.row(vec![
                        u.id.to_string(),
                        u.username.clone(),
                        u.email.clone(),
                        u.role.to_string(),
                        u.status.to_string(),
                        when(u.last_login_at),
                    ]);
                }
                t.print();
            }
        }
        UserCmd::Show { user } => {
            let u = svc(s.user_get(a, user).await)?;
            if ctx.json {
                print_json(&u);
            } else {
                print_fields(&[
                    ("id", u.id.to_string()),
                    ("username", u.username.clone()),
                    ("email", u.email.clone()),
                    ("full name", opt(&u.full_name)),
                    ("phone", opt(&u.phone)),
                    ("role", u.role.to_string()),
                    ("status", u.status.to_string()),
                    ("failed logins", u.failed_login_count.to_string()),
                    ("last login", when(u.last_login_at)),
                    ("created", when(Some(u.created_at))),
                ]);
            }
        }
        UserCmd::Create {
            username,
            email,
            role,
            full_name,
            phone,
            password_stdin,
        } => {
            let input = UserInput {
                username: username.clone(),
                email: email.clone(),
                password: if *password_stdin {
                    Some(read_stdin_secret("password")?)
                } else {
                    None
                },
                full_name: full_name.clone(),
                phone: phone.clone(),
                role: parse(role)?,
            };
            let (u, pw) = svc(s.user_create(Some(a), &input).await)?;
            println!("created user {} (id {}, {})", u.username, u.id, u.role);
            if let Some(pw) = pw {
                eprintln!("one-time password, shown only now: {pw}");
                eprintln!(
                    "it works once: the first `certdeck login` asks {} for a new password",
                    u.username
                );
            } else if u.role == UserRole::Api {
                eprintln!(
                    "api users have no password: give it API keys (`certdeck apikey create NAME --user {}`)",
                    u.username
                );
            } else {
                eprintln!(
                    "the password is one-time: the first `certdeck login` asks {} for a new one",
                    u.username
                );
            }
        }
        UserCmd::Update {
            user,
            email,
            full_name,
            phone,
            role,
            status,
        } => {
            let nullable = |v: &Option<String>| v.as_ref().map(|x| Some(x.clone()).filter(|s| !s.is_empty()));
            let ch = UserEdit {
                email: email.clone(),
                full_name: nullable(full_name),
                phone: nullable(phone),
                role: parse_opt(role)?,
                status: parse_opt(status)?,
            };
            let u = svc(s.user_update(a, user, &ch).await)?;
            println!("updated user {} ({}, {})", u.username, u.role, u.status);
        }
        UserCmd::Passwd { user, password_stdin } => {
            let target = svc(s.user_get(a, user).await)?;
            let current = if !a.is_admin() && !*password_stdin {
                Some(prompt_secret("Current password: ")?)
            } else {
                None
            };
            let new = if *password_stdin {
                read_stdin_secret("password")?
            } else {
                let p1 = prompt_secret("New password: ")?;
                let p2 = prompt_secret("Repeat new password: ")?;
                if p1 != p2 {
                    return Err("the two passwords differ; nothing was changed".into());
                }
                p1
            };
            svc(s.user_set_password(a, &target.username, current.as_deref(), &new).await)?;
            println!("password of {} changed; its sessions were ended", target.username);
        }
        UserCmd::Unlock { .. } => unreachable!("handled before authentication"),
        UserCmd::Rm { user } => {
            svc(s.user_delete(a, user).await)?;
            println!("deleted user {user}");
        }
    }
    Ok(())
}

async fn apikey(ctx: &Ctx, s: &Services, a: &Actor, c: &ApikeyCmd) -> R<()> {
    match c {
        ApikeyCmd::List { page: p } => {
            let rows = svc(s.apikey_list(a, page(p)).await)?;
            if ctx.json {
                print_json(&rows);
            } else {
                let mut t = Table::new(&["ID", "NAME", "API KEY", "USER", "STATUS", "EXPIRES", "LAST USED"]);
                for k in &rows {
                    t.row(vec![
                        k.id.to_string(),
                        k.key_name.clone(),
                        k.api_key.clone(),
                        k.user_id.to_string(),
                        k.status.to_string(),
                        when(k.expires_at),
                        when(k.last_used_at),
                    ]);
                }
                t.print();
            }
        }
        ApikeyCmd::Create {
            name,
            expires_days,
            user,
        } => {
            let (row, secret) = svc(s.apikey_create(a, name, *expires_days, user.as_deref()).await)?;
            if ctx.json {
                print_json(
                    &serde_json::json!({"id": row.id, "api_key": row.api_key, "secret": secret, "credential": format!("{}:{secret}", row.api_key)}),
                );
            } else {
                println!("created API key {} (id {})", row.api_key, row.id);
                println!("secret, shown only now: {secret}");
                println!("use it as: CERTDECK_API_KEY={}:{secret}", row.api_key);
            }
        }
        ApikeyCmd::Disable { key } => {
            let r = svc(s.apikey_set_status(a, key, ApiKeyStatus::Inactive).await)?;
            println!("API key {} is {}", r.api_key, r.status);
        }
        ApikeyCmd::Enable { key } => {
            let r = svc(s.apikey_set_status(a, key, ApiKeyStatus::Active).await)?;
            println!("API key {} is {}", r.api_key, r.status);
        }
        ApikeyCmd::Revoke { key } => {
            let r = svc(s.apikey_set_status(a, key, ApiKeyStatus::Revoked).await)?;
            println!("API key {} is {}", r.api_key, r.status);
        }
    }
    Ok(())
}

async fn server_input(s: &Services, a: &Actor, args: &ServerArgs) -> R<ServerInput> {
    let from_stdin = [
        args.password_stdin,
        args.token_stdin,
        args.key_stdin,
        args.key_passphrase_stdin,
    ]
    .iter()
    .filter(|b| **b)
    .count();
    if from_stdin > 1 {
        return Err(
            "only one of --password-stdin, --token-stdin, --key-stdin and --key-passphrase-stdin can read standard input \
             (give the key first, then the passphrase with `server update`)"
                .into(),
        );
    }
    let password = if args.password_stdin {
        Some(read_stdin_secret("password")?)
    } else {
        None
    };
    let token = if args.token_stdin {
        Some(read_stdin_secret("token")?)
    } else {
        None
    };
    let private_key = match (&args.key_file, args.key_stdin) {
        (Some(_), true) => return Err("give the key either with --key-file or with --key-stdin".into()),
        // A file on this host: read through the service (admins and allowed users; audited).
        (Some(p), false) => Some(svc(s.read_host_key_file(a, p).await)?),
        (None, true) => Some(read_stdin_secret("private key")?),
        (None, false) => None,
    };
    Ok(ServerInput {
        name: args.name.clone(),
        hostname: None,
        port: args.port,
        server_type: parse_opt(&args.server_type)?,
        auth_type: parse_opt(&args.auth)?,
        username: args.user.clone(),
        password,
        private_key,
        token,
        status: None,
        key_passphrase: if args.key_passphrase_stdin {
            Some(read_stdin_secret("key passphrase")?)
        } else {
            None
        },
        jump_server_id: args.jump,
        privilege_mode: parse_opt(&args.privilege)?,
        test_command: args.test_command.clone(),
        reload_command: args.reload_command.clone(),
        verify_port: args.verify_port,
        config_root: args.config_root.clone(),
    })
}

async fn server(ctx: &Ctx, s: &Services, a: &Actor, c: &ServerCmd) -> R<()> {
    match c {
        ServerCmd::List {
            status,
            server_type,
            hostname,
            group,
            page: p,
        } => {
            let f = ServerFilter {
                user_id: None,
                status: parse_opt(status)?,
                server_type: parse_opt(server_type)?,
                hostname: hostname.clone(),
                group_id: *group,
            };
            let rows = svc(s.server_list(a, &f, page(p)).await)?;
            if ctx.json {
                print_json(&rows);
            } else {
                let mut t = Table::new(&[
                    "ID", "NAME", "HOST", "PORT", "TYPE", "AUTH", "USER", "STATUS", "CHECKED",
                ]);
                for r in &rows {
                    t.row(vec![
                        r.id.to_string(),
                        opt(&r.name),
                        r.hostname.clone(),
                        r.port.to_string(),
                        r.server_type.to_string(),
                        r.auth_type.to_string(),
                        opt(&r.username),
                        r.status.to_string(),
                        when(r.last_check_at),
                    ]);
                }
                t.print();
            }
        }
        ServerCmd::Show { id } => {
            let r = svc(s.server_get(a, *id).await)?;
            let groups = svc(s.server_groups_of(a, *id).await)?;
            let configs = svc(s.server_configs(a, *id).await)?;
            let deployments = svc(s.deployment_list(a, None, Some(*id)).await)?;
            if ctx.json {
                print_json(
                    &serde_json::json!({"server": r, "groups": groups, "configs": configs, "deployments": deployments}),
                );
            } else {
                print_fields(&[
                    ("id", r.id.to_string()),
                    ("name", opt(&r.name)),
                    ("host", format!("{}:{}", r.hostname, r.port)),
                    ("type", r.server_type.to_string()),
                    ("auth", format!("{} as {}", r.auth_type, opt(&r.username))),
                    (
                        "secrets stored",
                        [
                            ("password", r.has_password),
                            ("private key", r.has_private_key),
                            ("token", r.has_token),
                        ]
                        .iter()
                        .filter(|(_, h)| *h)
                        .map(|(n, _)| *n)
                        .collect::<Vec<_>>()
                        .join(", "),
                    ),
                    ("status", r.status.to_string()),
                    ("os", format!("{} {}", opt(&r.os_type), opt(&r.os_version))),
                    ("web server", opt(&r.web_server_version)),
                    ("last check", when(r.last_check_at)),
                    (
                        "groups",
                        groups
                            .iter()
                            .map(|g| format!("{} (#{})", g.name, g.id))
                            .collect::<Vec<_>>()
                            .join(", "),
                    ),
                    ("configs", configs.len().to_string()),
                    (
                        "deployments",
                        deployments
                            .iter()
                            .map(|d| format!("cert #{} → {} [{}]", d.certificate_id, d.deploy_path, d.status))
                            .collect::<Vec<_>>()
                            .join("; "),
                    ),
                ]);
            }
        }
        ServerCmd::Add { hostname, args } => {
            let mut input = server_input(s, a, args).await?;
            input.hostname = Some(hostname.clone());
            let r = svc(s.server_create(a, &input).await)?;
            if ctx.json {
                print_json(&r);
            } else {
                println!("added server {} ({}:{}, id {})", opt(&r.name), r.hostname, r.port, r.id);
            }
        }
        ServerCmd::Update {
            id,
            hostname,
            status,
            args,
        } => {
            let mut input = server_input(s, a, args).await?;
            input.hostname = hostname.clone();
            input.status = parse_opt(status)?;
            let r = svc(s.server_update(a, *id, &input).await)?;
            println!("updated server {} ({}:{})", r.id, r.hostname, r.port);
        }
        ServerCmd::Rm { id } => {
            svc(s.server_delete(a, *id).await)?;
            println!("deleted server {id}");
        }
        other => return super::remote::server(ctx.json, s, a, other).await,
    }
    Ok(())
}

async fn group(ctx: &Ctx, s: &Services, a: &Actor, c: &GroupCmd) -> R<()> {
    match c {
        GroupCmd::List { page: p } => {
            let rows = svc(s.group_list(a, page(p)).await)?;
            if ctx.json {
                print_json(&rows);
            } else {
                let mut t = Table::new(&["ID", "NAME", "SERVERS", "DESCRIPTION"]);
                for g in &rows {
                    t.row(vec![
                        g.id.to_string(),
                        g.name.clone(),
                        g.server_count.to_string(),
                        opt(&g.description),
                    ]);
                }
                t.print();
            }
        }
        GroupCmd::Show { id } => {
            let g = svc(s.group_get(a, *id).await)?;
            let f = ServerFilter {
                group_id: Some(*id),
                ..Default::default()
            };
            let servers = svc(s.server_list(a, &f, Page::first(1000)).await)?;
            if ctx.json {
                print_json(&serde_json::json!({"group": g, "servers": servers}));
            } else {
                print_fields(&[
                    ("id", g.id.to_string()),
                    ("name", g.name.clone()),
                    ("description", opt(&g.description)),
                ]);
                let mut t = Table::new(&["ID", "HOST", "STATUS"]);
                for r in &servers {
                    t.row(vec![r.id.to_string(), r.hostname.clone(), r.status.to_string()]);
                }
                t.print();
            }
        }
        GroupCmd::Create { name, description } => {
            let g = svc(s.group_create(a, name, description.as_deref()).await)?;
            println!("created group {} (id {})", g.name, g.id);
        }
        GroupCmd::Update { id, name, description } => {
            let g = svc(s.group_update(a, *id, name.as_deref(), description.as_deref()).await)?;
            println!("updated group {} (id {})", g.name, g.id);
        }
        GroupCmd::Rm { id } => {
            svc(s.group_delete(a, *id).await)?;
            println!("deleted group {id}");
        }
        GroupCmd::AddServer { group, server } => {
            svc(s.group_add_server(a, *group, *server).await)?;
            println!("server {server} added to group {group}");
        }
        GroupCmd::RemoveServer { group, server } => {
            svc(s.group_remove_server(a, *group, *server).await)?;
            println!("server {server} removed from group {group}");
        }
    }
    Ok(())
}

async fn cert(ctx: &Ctx, s: &Services, a: &Actor, c: &CertCmd) -> R<()> {
    match c {
        CertCmd::Request {
            domains,
            how,
            name,
            no_wait,
        } => {
            let input = crate::service::acme::RequestInput {
                domains: domains.clone(),
                name: name.clone(),
                ..how.input()
            };
            super::remote::cert_request(ctx.json, s, a, &input, *no_wait).await?;
        }
        CertCmd::RenewalSetup { id, how } => {
            let input = how.input();
            let r = svc(s.cert_renewal_setup(a, *id, &input).await)?;
            if ctx.json {
                print_json(&r);
            } else {
                println!(
                    "certificate {id} renews through {} ({}, {} key); turn renewal on with `certdeck cert update {id} --auto-renew true` once the old tool is stopped",
                    r.ca, r.challenge_type, r.key_type
                );
            }
        }
        CertCmd::Renew { id, no_wait } => {
            super::remote::cert_renew(ctx.json, s, a, *id, *no_wait).await?;
        }
        CertCmd::Revoke { id, reason } => {
            let c = svc(s.cert_revoke(a, *id, reason).await)?;
            if ctx.json {
                print_json(&c);
            } else {
                println!("certificate {} ({}) is revoked at its CA", c.id, c.main_domain);
            }
        }
        CertCmd::List {
            status,
            certificate_type,
            domain,
            expiring_within,
            page: p,
        } => {
            let mut f = CertFilter {
                status: parse_opt(status)?,
                certificate_type: parse_opt(certificate_type)?,
                main_domain: domain.clone(),
                ..Default::default()
            };
            if let Some(d) = expiring_within {
                f.order = CertOrder::Expiry;
                f.expires_to = Some(Utc::now() + Duration::days(*d));
            }
            let rows = svc(s.cert_list(a, &f, page(p)).await)?;
            if ctx.json {
                print_json(&rows);
            } else {
                let mut t = Table::new(&[
                    "ID",
                    "MAIN DOMAIN",
                    "DOMAINS",
                    "TYPE",
                    "KEY",
                    "STATUS",
                    "ISSUER",
                    "EXPIRES",
                    "IN",
                ]);
                for r in &rows {
                    t.row(vec![
                        r.id.to_string(),
                        r.main_domain.clone(),
                        r.domain_list().len().to_string(),
                        r.certificate_type.to_string(),
                        r.encryption_type.to_string(),
                        r.status.to_string(),
                        opt(&r.issuer),
                        when(r.expires_at),
                        countdown(r.expires_at),
                    ]);
                }
                t.print();
            }
        }
        CertCmd::Show { id, pem } => {
            let r = svc(s.cert_get(a, *id).await)?;
            let deployments = svc(s.deployment_list(a, Some(*id), None).await)?;
            let notes = svc(s.cert_notes(a, *id).await)?;
            let export = if *pem {
                Some(svc(s.cert_export(a, *id, false).await)?)
            } else {
                None
            };
            if ctx.json {
                print_json(
                    &serde_json::json!({"certificate": r, "notes": notes, "deployments": deployments, "pem": export}),
                );
            } else {
                print_fields(&[
                    ("id", r.id.to_string()),
                    ("name", opt(&r.name)),
                    ("main domain", r.main_domain.clone()),
                    ("domains", r.domain_list().join(", ")),
                    ("type", r.certificate_type.to_string()),
                    ("key", r.encryption_type.to_string()),
                    ("status", r.status.to_string()),
                    ("issuer", opt(&r.issuer)),
                    ("issued", when(r.issued_at)),
                    (
                        "expires",
                        format!("{} ({})", when(r.expires_at), countdown(r.expires_at)),
                    ),
                    (
                        "auto renew",
                        format!("{} ({} days before expiry)", r.auto_renew, r.renew_before_days),
                    ),
                    (
                        "deployments",
                        deployments
                            .iter()
                            .map(|d| format!("#{} server {} {} [{}]", d.id, d.server_id, d.deploy_path, d.status))
                            .collect::<Vec<_>>()
                            .join("; "),
                    ),
                    ("notes", opt(&notes)),
                ]);
                if let Some(e) = export {
                    println!("\n{}", e.fullchain_pem);
                }
            }
        }
        CertCmd::Import {
            cert,
            key,
            chain,
            name,
            notes,
        } => {
            let input = ImportInput {
                name: name.clone(),
                certificate: read_file(cert, "certificate")?,
                // The key file is read through the service's rule (admins and allowed users,
                // audited); anyone may give it on standard input.
                private_key: if key.as_os_str() == "-" {
                    read_stdin_secret("private key")?.into_bytes()
                } else {
                    svc(s.read_host_private_key_file(a, key).await)?.into_bytes()
                },
                chain: chain.as_deref().map(|p| read_file(p, "chain")).transpose()?,
                notes: notes.clone(),
            };
            let r = svc(s.cert_import(a, &input).await)?;
            if ctx.json {
                print_json(&r);
            } else {
                println!(
                    "imported certificate {} for {} ({} domain(s), expires {}, id {})",
                    opt(&r.name),
                    r.main_domain,
                    r.domain_list().len(),
                    when(r.expires_at),
                    r.id
                );
            }
        }
        CertCmd::Export {
            id,
            out_dir,
            reveal_key,
        } => {
            let e = svc(s.cert_export(a, *id, *reveal_key).await)?;
            match out_dir {
                Some(dir) => write_export(dir, &e)?,
                None if ctx.json => print_json(&e),
                None => {
                    print!("{}", e.fullchain_pem);
                    if let Some(k) = &e.private_key_pem {
                        print!("{k}");
                    }
                }
            }
        }
        CertCmd::Update {
            id,
            name,
            notes,
            auto_renew,
            renew_before_days,
        } => {
            let ch = CertChanges {
                name: name.clone(),
                notes: notes.clone(),
                auto_renew: *auto_renew,
                renew_before_days: *renew_before_days,
            };
            let r = svc(s.cert_update(a, *id, &ch).await)?;
            println!("updated certificate {} ({})", r.id, r.main_domain);
        }
        CertCmd::Rm { id } => {
            svc(s.cert_delete(a, *id).await)?;
            println!("deleted certificate {id}");
        }
        CertCmd::Migrate { from, dir, server } => {
            super::migrate::cert_migrate(ctx.json, s, a, *from, dir, *server).await?;
        }
    }
    Ok(())
}

fn write_export(dir: &Path, e: &crate::service::certificates::Export) -> R<()> {
    std::fs::create_dir_all(dir).map_err(|err| format!("cannot create {}: {err}", dir.display()))?;
    let write = |name: &str, text: &str, private: bool| -> R<()> {
        let path = dir.join(name);
        let mut o = std::fs::OpenOptions::new();
        o.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            o.mode(if private { 0o600 } else { 0o644 });
        }
        use std::io::Write;
        o.open(&path)
            .and_then(|mut f| {
                // An existing file keeps its mode on open: tighten it before the key goes in.
                #[cfg(unix)]
                if private {
                    use std::os::unix::fs::PermissionsExt;
                    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
                }
                f.write_all(text.as_bytes())
            })
            .map_err(|err| format!("cannot write {}: {err}", path.display()))
    };
    write("cert.pem", &e.certificate_pem, false)?;
    write("chain.pem", e.chain_pem.as_deref().unwrap_or_default(), false)?;
    write("fullchain.pem", &e.fullchain_pem, false)?;
    if let Some(k) = &e.private_key_pem {
        write("privkey.pem", k, true)?;
    }
    println!("wrote {}", dir.display());
    Ok(())
}

async fn deployment(ctx: &Ctx, s: &Services, a: &Actor, c: &DeploymentCmd) -> R<()> {
    match c {
        DeploymentCmd::List { cert, server } => {
            let rows = svc(s.deployment_list(a, *cert, *server).await)?;
            if ctx.json {
                print_json(&rows);
            } else {
                let mut t = Table::new(&["ID", "CERT", "SERVER", "PATH", "STATUS", "AUTO", "LAST DEPLOY", "ERROR"]);
                for d in &rows {
                    t.row(vec![
                        d.id.to_string(),
                        d.certificate_id.to_string(),
                        d.server_id.to_string(),
                        d.deploy_path.clone(),
                        d.status.to_string(),
                        d.auto_deploy.to_string(),
                        when(d.last_deploy_at),
                        opt(&d.error_message),
                    ]);
                }
                t.print();
            }
        }
        DeploymentCmd::Add {
            cert,
            server,
            path,
            config_path,
            no_auto_deploy,
            key_path,
            verify_host,
            sni,
            verify_port,
            replace,
        } => {
            let input = crate::service::certificates::DeploymentInput {
                deploy_path: path.clone(),
                config_path: config_path.clone(),
                key_path: key_path.clone(),
                verify_host: verify_host.clone(),
                verify_sni: sni.clone(),
                verify_port: *verify_port,
                auto_deploy: !no_auto_deploy,
                replace: *replace,
            };
            let d = svc(s.deployment_create_with(a, *cert, *server, &input).await)?;
            if ctx.json {
                print_json(&d);
                return Ok(());
            }
            println!(
                "certificate {} bound to server {} at {} (deployment {})",
                d.certificate_id, d.server_id, d.deploy_path, d.id
            );
        }
        DeploymentCmd::Rm { id } => {
            svc(s.deployment_delete(a, *id).await)?;
            println!("deleted deployment {id}");
        }
    }
    Ok(())
}

async fn monitor(ctx: &Ctx, s: &Services, a: &Actor, c: &MonitorCmd) -> R<()> {
    match c {
        MonitorCmd::List {
            status,
            monitor_type,
            page: p,
        } => {
            let f = MonitorFilter {
                user_id: None,
                status: parse_opt(status)?,
                monitor_type: parse_opt(monitor_type)?,
                is_active: None,
            };
            let rows = svc(s.monitor_list(a, &f, page(p)).await)?;
            if ctx.json {
                print_json(&rows);
            } else {
                let mut t = Table::new(&[
                    "ID",
                    "NAME",
                    "TYPE",
                    "TARGET",
                    "PORT",
                    "EVERY",
                    "ACTIVE",
                    "STATUS",
                    "NEXT CHECK",
                ]);
                for m in &rows {
                    let target = m
                        .domain
                        .clone()
                        .or(m.target_id.map(|t| format!("#{t}")))
                        .unwrap_or_else(|| "-".into());
                    t.row(vec![
                        m.id.to_string(),
                        m.name.clone(),
                        m.monitor_type.to_string(),
                        target,
                        m.port.map(|p| p.to_string()).unwrap_or_default(),
                        format!("{}s", m.check_interval),
                        m.is_active.to_string(),
                        m.status.to_string(),
                        when(m.next_check_at),
                    ]);
                }
                t.print();
            }
        }
        MonitorCmd::Show { id } => {
            let m = svc(s.monitor_get(a, *id).await)?;
            if ctx.json {
                print_json(&m);
            } else {
                print_fields(&[
                    ("id", m.id.to_string()),
                    ("name", m.name.clone()),
                    ("type", m.monitor_type.to_string()),
                    (
                        "target",
                        m.target_id.map(|t| t.to_string()).unwrap_or_else(|| "-".into()),
                    ),
                    ("domain", opt(&m.domain)),
                    ("port", m.port.map(|p| p.to_string()).unwrap_or_else(|| "-".into())),
                    ("interval", format!("{}s", m.check_interval)),
                    ("active", m.is_active.to_string()),
                    ("status", format!("{} {}", m.status, opt(&m.status_message))),
                    ("last check", when(m.last_check_at)),
                    ("next check", when(m.next_check_at)),
                ]);
            }
        }
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
            let m = svc(s.monitor_create(a, &input).await)?;
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
            let m = svc(s.monitor_update(a, *id, &input).await)?;
            println!("updated monitor {} (id {})", m.name, m.id);
        }
        MonitorCmd::Rm { id } => {
            svc(s.monitor_delete(a, *id).await)?;
            println!("deleted monitor {id}");
        }
        MonitorCmd::Check { id } => {
            let o = svc(s.monitor_check_now(a, *id).await)?;
            if ctx.json {
                print_json(&o);
            } else {
                println!("monitor {id}: {} — {}", o.status.as_str(), o.message);
                for line in &o.alerts {
                    println!("  {line}");
                }
            }
            if o.status != crate::domain::MonitorStatus::Ok {
                return Err(format!("monitor {id} is {}", o.status.as_str()));
            }
        }
    }
    Ok(())
}

/// A trust bundle file's text (`""` as the path clears the bundle).
fn read_bundle(path: Option<&std::path::Path>) -> R<Option<String>> {
    match path {
        None => Ok(None),
        Some(p) if p.as_os_str().is_empty() => Ok(Some(String::new())),
        Some(p) => std::fs::read_to_string(p)
            .map(Some)
            .map_err(|e| format!("cannot read the trust bundle {}: {e}", p.display())),
    }
}

async fn alert(ctx: &Ctx, s: &Services, a: &Actor, c: &AlertCmd) -> R<()> {
    match c {
        AlertCmd::List { alert_type, page: p } => {
            let rows = svc(s.alert_list(a, parse_opt(alert_type)?, page(p)).await)?;
            if ctx.json {
                print_json(&rows);
            } else {
                let mut t = Table::new(&["ID", "NAME", "TYPE", "CONDITION", "SEVERITY", "MONITOR", "ACTIVE"]);
                for r in &rows {
                    t.row(vec![
                        r.id.to_string(),
                        r.name.clone(),
                        r.alert_type.to_string(),
                        format!("{} {}", r.condition_type, r.condition_value),
                        r.severity.to_string(),
                        r.monitor_id.map(|m| m.to_string()).unwrap_or_else(|| "all".into()),
                        r.is_active.to_string(),
                    ]);
                }
                t.print();
            }
        }
        AlertCmd::Show { id } => {
            let r = svc(s.alert_get(a, *id).await)?;
            let b = svc(s.binding_list(a, *id).await)?;
            if ctx.json {
                print_json(&serde_json::json!({"alert": r, "bindings": b}));
            } else {
                print_fields(&[
                    ("id", r.id.to_string()),
                    ("name", r.name.clone()),
                    ("type", r.alert_type.to_string()),
                    ("condition", format!("{} {}", r.condition_type, r.condition_value)),
                    ("severity", r.severity.to_string()),
                    (
                        "monitor",
                        r.monitor_id.map(|m| m.to_string()).unwrap_or_else(|| "all".into()),
                    ),
                    ("active", r.is_active.to_string()),
                    (
                        "channels",
                        b.iter()
                            .map(|x| x.channel_id.to_string())
                            .collect::<Vec<_>>()
                            .join(", "),
                    ),
                ]);
            }
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
            let r = svc(s.alert_create(a, &input).await)?;
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
            let r = svc(s.alert_update(a, *id, &input).await)?;
            println!("updated alert rule {} (id {})", r.name, r.id);
        }
        AlertCmd::Rm { id } => {
            svc(s.alert_delete(a, *id).await)?;
            println!("deleted alert rule {id}");
        }
        AlertCmd::History { open, page: p } => {
            let rows = svc(s.alert_history(a, *open, page(p)).await)?;
            if ctx.json {
                print_json(&rows);
            } else {
                let mut t = Table::new(&["ID", "ALERT", "MONITOR", "SEVERITY", "WHEN", "RESOLVED", "MESSAGE"]);
                for h in &rows {
                    t.row(vec![
                        h.id.to_string(),
                        h.alert_id.to_string(),
                        h.monitor_id.to_string(),
                        h.severity.to_string(),
                        when(Some(h.created_at)),
                        if h.is_resolved {
                            when(h.resolved_at)
                        } else {
                            "open".into()
                        },
                        h.message.clone(),
                    ]);
                }
                t.print();
            }
        }
        AlertCmd::Resolve { id } => {
            svc(s.alert_resolve(a, *id).await)?;
            println!("alert {id} resolved");
        }
        AlertCmd::Ack { id } => {
            svc(s.alert_acknowledge(a, *id).await)?;
            println!("alert {id} acknowledged: no more reminders");
        }
        AlertCmd::Bind { alert, channel } => {
            svc(s.binding_create(a, *alert, *channel).await)?;
            println!("alert {alert} now notifies channel {channel}");
        }
        AlertCmd::Unbind { alert, channel } => {
            svc(s.binding_delete(a, *alert, *channel).await)?;
            println!("alert {alert} no longer notifies channel {channel}");
        }
    }
    Ok(())
}

fn json_arg(v: &str) -> R<serde_json::Value> {
    let text = if v == "-" {
        read_stdin_secret("config")?
    } else {
        v.to_string()
    };
    serde_json::from_str(&text).map_err(|e| format!("--config is not valid JSON: {e}"))
}

async fn channel(ctx: &Ctx, s: &Services, a: &Actor, c: &ChannelCmd) -> R<()> {
    match c {
        ChannelCmd::List { page: p } => {
            let rows = svc(s.channel_list(a, page(p)).await)?;
            if ctx.json {
                print_json(&rows);
            } else {
                let mut t = Table::new(&["ID", "NAME", "TYPE", "ACTIVE", "SECRETS"]);
                for r in &rows {
                    t.row(vec![
                        r.id.to_string(),
                        r.name.clone(),
                        r.channel_type.to_string(),
                        r.is_active.to_string(),
                        match &r.secrets_error {
                            Some(_) => "(unreadable: see channel show)".to_string(),
                            None => r.secret_fields.join(", "),
                        },
                    ]);
                }
                t.print();
            }
        }
        ChannelCmd::Show { id, reveal } => {
            let r = svc(s.channel_get(a, *id, *reveal).await)?;
            if ctx.json {
                print_json(&r);
            } else {
                let mut f = vec![
                    ("id", r.id.to_string()),
                    ("name", r.name.clone()),
                    ("type", r.channel_type.to_string()),
                    ("active", r.is_active.to_string()),
                    ("settings", r.settings.to_string()),
                    ("secret fields", r.secret_fields.join(", ")),
                ];
                if let Some(e) = &r.secrets_error {
                    f.push(("secrets error", e.clone()));
                }
                if let Some(sec) = &r.secrets {
                    f.push(("secrets", sec.to_string()));
                }
                print_fields(&f);
            }
        }
        ChannelCmd::Add {
            name,
            channel_type,
            settings,
        } => {
            let r = svc(s
                .channel_create(a, name, parse(channel_type)?, &json_arg(settings)?)
                .await)?;
            if ctx.json {
                print_json(&r);
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
            let r = svc(s.channel_update(a, *id, name.as_deref(), cfg.as_ref(), *active).await)?;
            println!("updated channel {} (id {})", r.name, r.id);
        }
        ChannelCmd::Rm { id } => {
            svc(s.channel_delete(a, *id).await)?;
            println!("deleted channel {id}");
        }
        ChannelCmd::Test { id } => {
            println!("{}", svc(s.channel_test(a, *id).await)?);
        }
    }
    Ok(())
}

async fn setting(ctx: &Ctx, s: &Services, a: &Actor, c: &SettingCmd) -> R<()> {
    match c {
        SettingCmd::List { mine: true } => {
            let rows = svc(s.user_settings_list(a).await)?;
            if ctx.json {
                print_json(&rows);
            } else {
                let mut t = Table::new(&["KEY", "VALUE", "TYPE"]);
                for r in &rows {
                    t.row(vec![
                        r.setting_key.clone(),
                        opt(&r.setting_value),
                        r.setting_type.to_string(),
                    ]);
                }
                t.print();
            }
        }
        SettingCmd::List { mine: false } => {
            let rows = svc(s.settings_list(a).await)?;
            if ctx.json {
                print_json(&rows);
            } else {
                let mut t = Table::new(&["KEY", "VALUE", "TYPE", "SYSTEM", "DESCRIPTION"]);
                for r in &rows {
                    t.row(vec![
                        r.setting_key.clone(),
                        opt(&r.setting_value),
                        r.setting_type.to_string(),
                        r.is_system.to_string(),
                        opt(&r.description),
                    ]);
                }
                t.print();
            }
        }
        SettingCmd::Get { key } => {
            let r = svc(s.setting_get(a, key).await)?;
            if ctx.json {
                print_json(&r);
            } else {
                println!("{}", r.setting_value.unwrap_or_default());
            }
        }
        SettingCmd::Set {
            key,
            value,
            mine,
            setting_type,
        } => {
            let ty: Option<SettingType> = parse_opt(setting_type)?;
            if *mine {
                svc(s
                    .user_setting_set(a, key, value, ty.unwrap_or(SettingType::String))
                    .await)?;
                println!("your setting {key} = {value}");
            } else {
                let r = svc(s.setting_set(a, key, value, ty).await)?;
                println!("{} = {}", r.setting_key, r.setting_value.unwrap_or_default());
            }
        }
        SettingCmd::Rm { key, mine } => {
            if *mine {
                svc(s.user_setting_delete(a, key).await)?;
            } else {
                svc(s.setting_delete(a, key).await)?;
            }
            println!("deleted setting {key}");
        }
    }
    Ok(())
}

fn parse_time(v: &str) -> R<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(v) {
        return Ok(t.to_utc());
    }
    NaiveDate::parse_from_str(v, "%Y-%m-%d")
        .map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc())
        .map_err(|_| format!("'{v}' is not a time (use RFC 3339 or YYYY-MM-DD)"))
}

async fn audit(ctx: &Ctx, s: &Services, a: &Actor, c: &AuditCmd) -> R<()> {
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
        Some(u) => Some(svc(s.user_get(a, u).await)?.id),
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
    let rows = svc(s.audit_list(a, &f, page(p)).await)?;
    if ctx.json {
        print_json(&rows);
    } else {
        let mut t = Table::new(&["ID", "WHEN", "USER", "ACTION", "RESOURCE", "IP", "DETAILS"]);
        for r in &rows {
            t.row(vec![
                r.id.to_string(),
                when(Some(r.created_at)),
                r.user_id.map(|u| u.to_string()).unwrap_or_else(|| "-".into()),
                r.action.clone(),
                format!(
                    "{}{}",
                    opt(&r.resource_type),
                    r.resource_id.map(|i| format!(" #{i}")).unwrap_or_default()
                ),
                opt(&r.ip_address),
                r.details.as_ref().map(|d| d.0.to_string()).unwrap_or_default(),
            ]);
        }
        t.print();
    }
    Ok(())
}
