//! `init`, `login`, `logout` and `whoami`.

use crate::cli::context::{interactive, prompt_new_password, prompt_secret, read_stdin_secret, Ctx, NEW_PASSWORD_HINT};
use crate::cli::error::{CliError, CliResult};
use crate::cli::views;
use crate::domain::Email;
use crate::errors::ServiceError;
use crate::service::bootstrap;

/// `init`: migrate and create the first admin (its one-time password on stderr).
pub(crate) async fn init(ctx: &Ctx, admin_email: &str) -> CliResult<()> {
    let s = ctx.open().await?;
    if bootstrap::has_admin(&s).await? {
        println!(
            "certdeck is already initialised (an admin exists); schema at version {}",
            super::db::schema_version(&s).await?
        );
        return Ok(());
    }
    Email::parse(admin_email).map_err(|r| ServiceError::invalid("admin-email", r))?;
    let logged_in = ctx.first_run(&s, admin_email).await?.is_some();
    println!(
        "initialised: schema at version {}",
        super::db::schema_version(&s).await?
    );
    if !logged_in {
        println!("next: `certdeck login -u admin` with the one-time password, to set the admin's password");
    }
    Ok(())
}

/// `login`: checks the password (setting a new one when asked to) and saves the session.
pub(crate) async fn login(
    ctx: &Ctx,
    username: &Option<String>,
    password_stdin: bool,
    new_password_stdin: bool,
) -> CliResult<()> {
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
    let (pw, new_pw) = match (password_stdin, new_password_stdin) {
        (true, true) => {
            let both = read_stdin_secret("password")?;
            let mut lines = both.lines();
            let current = lines.next().unwrap_or_default().trim_end_matches('\r').to_string();
            let new = lines
                .next()
                .map(|l| l.trim_end_matches('\r').to_string())
                .filter(|l| !l.is_empty())
                .ok_or_else(|| {
                    CliError::Invalid(
                        "--new-password-stdin: standard input needs a second line, the new password".into(),
                    )
                })?;
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
        Err(ServiceError::PasswordChangeRequired(msg)) if !password_stdin && interactive() => {
            eprintln!("{msg}");
            let new = prompt_new_password()?;
            s.login_with_new_password(&user, &pw, &new).await?
        }
        Err(ServiceError::PasswordChangeRequired(msg)) => {
            return Err(CliError::Denied(format!(
                "{msg}; nothing was changed. From a script: {NEW_PASSWORD_HINT}"
            )))
        }
        other => other?,
    };
    let (store, key) = ctx.sessions();
    store
        .put(&key, &session)
        .map_err(|e| format!("cannot save the session: {e}"))?;
    println!("logged in as {} ({})", actor.username, actor.role);
    Ok(())
}

/// `logout`: revokes the saved session and forgets it.
pub(crate) async fn logout(ctx: &Ctx) -> CliResult<()> {
    let s = ctx.open().await?;
    let (store, key) = ctx.sessions();
    match store.get(&key) {
        Some(session) => {
            s.logout(&session).await?;
            store.remove(&key).map_err(|e| e.to_string())?;
            println!("logged out");
        }
        None => println!("not logged in"),
    }
    Ok(())
}

/// `whoami`.
pub(crate) async fn whoami(ctx: &Ctx) -> CliResult<()> {
    let s = ctx.open().await?;
    let a = ctx.actor(&s).await?;
    print!("{}", views::users::whoami(ctx.json, &a));
    Ok(())
}
