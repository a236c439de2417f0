//! `user …`: list, show, create, update, passwd, unlock (operator), rm.

use clap::Subcommand;

use crate::cli::context::PageArgs;
use crate::cli::context::{page, parse, parse_opt, prompt_secret, read_stdin_secret, Ctx};
use crate::cli::error::{CliError, CliResult};
use crate::cli::views;
use crate::domain::UserRole;
use crate::service::query::{ListFilter, Terms, UserFilter};
use crate::service::users::{UserEdit, UserInput};
use crate::service::{Actor, Services};

/// `user …`
#[derive(Debug, Subcommand)]
pub enum UserCmd {
    /// List users.
    List {
        /// Only this status.
        #[arg(long)]
        status: Option<String>,
        /// Only this role.
        #[arg(long)]
        role: Option<String>,
        #[command(flatten)]
        page: PageArgs,
    },
    /// Show a user.
    Show {
        /// Username or id.
        user: String,
    },
    /// Create a user (a password is generated and shown once unless --password-stdin).
    Create {
        /// Username.
        username: String,
        /// E-mail.
        #[arg(long)]
        email: String,
        /// Role: admin, user or api.
        #[arg(long, default_value = "user")]
        role: String,
        /// Full name.
        #[arg(long)]
        full_name: Option<String>,
        /// Phone (SMS alerts).
        #[arg(long)]
        phone: Option<String>,
        /// Read the password from standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Change a user's profile, role or status.
    Update {
        /// Username or id.
        user: String,
        /// E-mail.
        #[arg(long)]
        email: Option<String>,
        /// Full name ("" clears).
        #[arg(long)]
        full_name: Option<String>,
        /// Phone ("" clears).
        #[arg(long)]
        phone: Option<String>,
        /// Role.
        #[arg(long)]
        role: Option<String>,
        /// Status: active, inactive or locked.
        #[arg(long)]
        status: Option<String>,
    },
    /// Set a password (prompted, or --password-stdin).
    Passwd {
        /// Username.
        user: String,
        /// Read the new password from standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Unlock a user locked by failed logins (works locally for a locked sole admin).
    Unlock {
        /// Username.
        user: String,
    },
    /// Delete a user.
    Rm {
        /// Username or id.
        user: String,
    },
}
/// `user unlock`: by the operator (an admin session, or the local operator with no session).
pub(crate) async fn unlock(ctx: &Ctx, s: &Services, user: &str) -> CliResult<()> {
    let actor = ctx.operator(s).await?;
    let row = s.user_unlock(actor.as_ref(), user).await?;
    println!("unlocked {} (status {})", row.username, row.status);
    Ok(())
}

/// Runs a `user` command (all but `unlock`) as `a`.
pub(crate) async fn run(ctx: &Ctx, s: &Services, a: &Actor, c: &UserCmd) -> CliResult<()> {
    match c {
        UserCmd::List { status, role, page: p } => {
            let terms = Terms::default()
                .with("status", status.as_ref())
                .with("role", role.as_ref());
            let f = UserFilter::from_terms(&terms, chrono::Utc::now())?;
            views::list(ctx.json, &s.user_list(a, &f, page(p)).await?);
        }
        UserCmd::Show { user } => views::show(ctx.json, &s.user_get(a, user).await?),
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
            let (u, pw) = s.user_create(Some(a), &input).await?;
            if ctx.json {
                views::print_json(&u);
            } else {
                println!("created user {} (id {}, {})", u.username, u.id, u.role);
            }
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
            let u = s.user_update(a, user, &ch).await?;
            println!("updated user {} ({}, {})", u.username, u.role, u.status);
        }
        UserCmd::Passwd { user, password_stdin } => {
            let target = s.user_get(a, user).await?;
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
                    return Err(CliError::Invalid(
                        "the two passwords differ; nothing was changed".into(),
                    ));
                }
                p1
            };
            s.user_set_password(a, &target.username, current.as_deref(), &new)
                .await?;
            println!("password of {} changed; its sessions were ended", target.username);
        }
        UserCmd::Unlock { user } => unlock(ctx, s, user).await?,
        UserCmd::Rm { user } => {
            s.user_delete(a, user).await?;
            println!("deleted user {user}");
        }
    }
    Ok(())
}
