//! What every command runs in: the loaded config, the output mode, opening the services, and
//! who the caller is (API key, saved session, first run, or the local operator). Also the small
//! input helpers the handlers share: parsing flag values, reading secrets, asking to confirm.

use std::io::Read;
use std::path::Path;

use chrono::{DateTime, NaiveDate, Utc};

use super::error::{CliError, CliResult};
use crate::config::Config;
use crate::service::bootstrap::{self, KeySource, OpenError, OpenOptions};
use crate::service::query::Page;
use crate::service::{Actor, ClientInfo, Services};
use crate::session::{database_key, Resumed, SessionStore};

/// How to set the new password of an account with a one-time password from a script.
pub(crate) const NEW_PASSWORD_HINT: &str = "certdeck login -u NAME --password-stdin --new-password-stdin \
    (standard input: the one-time password, then the new password, one per line)";

/// The context of one command: config and global flags.
pub(crate) struct Ctx {
    /// The loaded configuration.
    pub(crate) config: Config,
    /// `--no-migrate`.
    pub(crate) no_migrate: bool,
    /// `--json`.
    pub(crate) json: bool,
}

impl Ctx {
    /// Where the master key comes from: `CERTDECK_MASTER_KEY`, else the key file.
    pub(crate) fn key_source(&self) -> KeySource {
        match std::env::var("CERTDECK_MASTER_KEY") {
            Ok(k) if !k.trim().is_empty() => KeySource::Env(k),
            _ => KeySource::File(self.config.master_key_path.clone()),
        }
    }

    /// Opens the services on the configured database (migrating unless `--no-migrate`).
    pub(crate) async fn open(&self) -> CliResult<Services> {
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
            .map_err(open_error)
    }

    /// The session file and this database's key in it.
    pub(crate) fn sessions(&self) -> (SessionStore, String) {
        (
            SessionStore::new(&self.config.config_dir),
            database_key(&self.config.database_url),
        )
    }

    /// Who runs this command: an API key, the saved session, or (first run on SQLite) the new admin.
    pub(crate) async fn actor(&self, s: &Services) -> CliResult<Actor> {
        if let Ok(cred) = std::env::var("CERTDECK_API_KEY") {
            if !cred.trim().is_empty() {
                return Ok(s.authenticate_api_key(&cred).await?);
            }
        }
        let (store, key) = self.sessions();
        match store
            .resume(s, &key)
            .await
            .map_err(|e| format!("cannot save the session: {e}"))?
        {
            Resumed::Actor(a) => return Ok(a),
            Resumed::Expired { reason, .. } => return Err(CliError::Denied(reason)),
            Resumed::None => {}
        }
        if !bootstrap::has_admin(s).await? {
            if self.config.is_sqlite() {
                return self.first_run(s, "admin@localhost").await?.ok_or_else(|| {
                    CliError::Denied("set the admin's password first (see above), then run this command again".into())
                });
            }
            return Err(CliError::Denied(
                "this database has no admin yet: run `certdeck init` first".into(),
            ));
        }
        Err(CliError::Denied(
            "not logged in: run `certdeck login` (scripts: set CERTDECK_API_KEY=<key>:<secret>)".into(),
        ))
    }

    /// Who runs an operator command (unlock, key rotation): a logged-in admin or, with no session
    /// and no API key, the local operator (`None`), whose authority is access to the database
    /// and its master key — the way back in for a locked sole admin. Anyone else is refused.
    pub(crate) async fn operator(&self, s: &Services) -> CliResult<Option<Actor>> {
        let api_key = std::env::var("CERTDECK_API_KEY").is_ok_and(|v| !v.trim().is_empty());
        let (store, key) = self.sessions();
        if !api_key && store.get(&key).is_none() {
            return Ok(None);
        }
        let a = self.actor(s).await?;
        if a.is_admin() {
            Ok(Some(a))
        } else {
            Err(CliError::Denied(format!(
                "{} acts as role {}: this needs an admin session, or the local operator with no session \
                 (`certdeck logout`) and no CERTDECK_API_KEY",
                a.username, a.role
            )))
        }
    }

    /// Creates the first admin and shows its one-time password once on stderr. On a terminal
    /// it asks for the admin's own password right away and logs in as admin (`Some`); otherwise
    /// the password must be changed with `certdeck login` first (`None`).
    pub(crate) async fn first_run(&self, s: &Services, email: &str) -> CliResult<Option<Actor>> {
        let Some(password) = bootstrap::create_initial_admin(s, email).await? else {
            return Err(CliError::Failed("an admin already exists: run `certdeck login`".into()));
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
                Ok(new) => s
                    .login_with_new_password("admin", &password, &new)
                    .await
                    .map_err(CliError::from),
                Err(e) => Err(e),
            };
            match attempt {
                Ok(done) => break done,
                Err(e) if tries < 3 => eprintln!("{e}; try again"),
                Err(e) => {
                    return Err(CliError::Failed(format!(
                        "{e}; log in later with `certdeck login -u admin` and the one-time password above"
                    )))
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

/// A database that cannot be opened: unreachable is a remote failure, anything else (pending
/// migrations with `--no-migrate`, a key problem) fails the command.
pub(crate) fn open_error(e: OpenError) -> CliError {
    match e {
        e @ OpenError::Connect { .. } => CliError::Service(crate::errors::ServiceError::Remote(e.to_string())),
        e => CliError::Failed(e.to_string()),
    }
}

/// Parses a flag value; a refusal is invalid input.
pub(crate) fn parse<T: std::str::FromStr>(v: &str) -> CliResult<T>
where
    T::Err: std::fmt::Display,
{
    v.parse::<T>().map_err(|e| CliError::Invalid(e.to_string()))
}

/// Parses an optional flag value.
pub(crate) fn parse_opt<T: std::str::FromStr>(v: &Option<String>) -> CliResult<Option<T>>
where
    T::Err: std::fmt::Display,
{
    v.as_deref().map(parse::<T>).transpose()
}

/// The page the paging flags ask for.
pub(crate) fn page(p: &PageArgs) -> Page {
    Page {
        before_id: p.before,
        limit: p.limit,
    }
}

/// A time flag: RFC 3339 or `YYYY-MM-DD` (UTC midnight).
pub(crate) fn parse_time(v: &str) -> CliResult<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(v) {
        return Ok(t.to_utc());
    }
    NaiveDate::parse_from_str(v, "%Y-%m-%d")
        .map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc())
        .map_err(|_| CliError::Invalid(format!("'{v}' is not a time (use RFC 3339 or YYYY-MM-DD)")))
}

/// A JSON flag value (`-` reads standard input).
pub(crate) fn json_arg(v: &str) -> CliResult<serde_json::Value> {
    let text = if v == "-" {
        read_stdin_secret("config")?
    } else {
        v.to_string()
    };
    serde_json::from_str(&text).map_err(|e| CliError::Invalid(format!("--config is not valid JSON: {e}")))
}

/// Reads a secret from standard input (trailing newline removed); empty is refused.
pub(crate) fn read_stdin_secret(what: &str) -> CliResult<String> {
    let mut s = String::new();
    std::io::stdin()
        .read_to_string(&mut s)
        .map_err(|e| format!("cannot read {what} from standard input: {e}"))?;
    let s = s.trim_end_matches(['\n', '\r']).to_string();
    if s.is_empty() {
        return Err(CliError::Invalid(format!("no {what} on standard input")));
    }
    Ok(s)
}

/// Asks for a secret on the terminal.
pub(crate) fn prompt_secret(prompt: &str) -> CliResult<String> {
    rpassword::prompt_password(prompt).map_err(|e| {
        CliError::Failed(format!(
            "cannot read the password from the terminal: {e} (use --password-stdin in scripts)"
        ))
    })
}

/// Whether a person is at the keyboard (stdin and stderr are a terminal).
pub(crate) fn interactive() -> bool {
    use std::io::IsTerminal;
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// Asks before a destructive operation: `--yes` skips the question; without a terminal and
/// without `--yes`, nothing is done (a usage error).
pub(crate) fn confirm(yes: bool, what: &str) -> CliResult<()> {
    if yes {
        return Ok(());
    }
    if !interactive() {
        return Err(CliError::Usage(format!(
            "{what}: this needs confirmation; run it on a terminal or pass --yes. Nothing was changed"
        )));
    }
    eprint!("{what}. Type 'yes' to go on: ");
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| format!("cannot read the answer: {e}"))?;
    if line.trim() == "yes" {
        Ok(())
    } else {
        Err(CliError::Failed("cancelled; nothing was changed".into()))
    }
}

/// Asks twice for a new password on the terminal.
pub(crate) fn prompt_new_password() -> CliResult<String> {
    let p1 = prompt_secret("New password: ")?;
    let p2 = prompt_secret("Repeat new password: ")?;
    if p1 != p2 {
        return Err(CliError::Invalid(
            "the two passwords differ; nothing was changed".into(),
        ));
    }
    Ok(p1)
}

/// Reads a file named on the command line.
pub(crate) fn read_file(path: &Path, what: &str) -> CliResult<Vec<u8>> {
    std::fs::read(path).map_err(|e| CliError::Failed(format!("cannot read {what} {}: {e}", path.display())))
}

/// Paging flags of list commands.
#[derive(Debug, clap::Args, Clone, Copy)]
pub struct PageArgs {
    /// Rows per page.
    #[arg(long, default_value_t = 50)]
    pub limit: i64,
    /// Show rows with an id below this (the next page).
    #[arg(long)]
    pub before: Option<i64>,
}
