//! `server …`: the servers themselves (list, show, add, update, rm); the SSH work on them
//! (check, host keys, sites, configs, imports) is in [`super::server_ssh`].

use crate::cli::context::{page, parse_opt, read_stdin_secret, Ctx};
use crate::cli::error::{CliError, CliResult};
use crate::cli::views;
use crate::cli::views::servers::ServerDetail;
use crate::service::query::{ListFilter, ServerFilter, Terms};
use crate::service::servers::ServerInput;
use crate::service::{Actor, Services};

use super::server_args::{ServerArgs, ServerCmd};

/// The service's server input from the shared flags (secrets read from stdin or a key file).
async fn server_input(s: &Services, a: &Actor, args: &ServerArgs) -> CliResult<ServerInput> {
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
        return Err(CliError::Usage(
            "only one of --password-stdin, --token-stdin, --key-stdin and --key-passphrase-stdin can read standard input \
             (give the key first, then the passphrase with `server update`)"
                .into(),
        ));
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
        (Some(_), true) => {
            return Err(CliError::Usage(
                "give the key either with --key-file or with --key-stdin".into(),
            ))
        }
        // A file on this host: read through the service (admins and allowed users; audited).
        (Some(p), false) => Some(s.read_host_key_file(a, p).await?),
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

/// Runs a `server` command as `a`.
pub(crate) async fn run(ctx: &Ctx, s: &Services, a: &Actor, c: &ServerCmd) -> CliResult<()> {
    match c {
        ServerCmd::List {
            status,
            server_type,
            hostname,
            group,
            page: p,
        } => {
            let terms = Terms::default()
                .with("status", status.as_ref())
                .with("type", server_type.as_ref())
                .with("hostname", hostname.as_ref())
                .with("group", group.as_ref());
            let f = ServerFilter::from_terms(&terms, chrono::Utc::now())?;
            views::list(ctx.json, &s.server_list(a, &f, page(p)).await?);
        }
        ServerCmd::Show { id } => {
            let d = ServerDetail {
                server: s.server_get(a, *id).await?,
                groups: s.server_groups_of(a, *id).await?,
                configs: s.server_configs(a, *id).await?,
                deployments: s.deployment_list(a, None, Some(*id)).await?,
                agent: s.server_agent(a, *id).await?,
                now: chrono::Utc::now(),
            };
            views::show(ctx.json, &d);
        }
        ServerCmd::Add { hostname, args } => {
            let mut input = server_input(s, a, args).await?;
            input.hostname = Some(hostname.clone());
            let r = s.server_create(a, &input).await?;
            if ctx.json {
                views::print_json(&r);
            } else {
                println!(
                    "added server {} ({}:{}, id {})",
                    views::opt(&r.name),
                    r.hostname,
                    r.port,
                    r.id
                );
                if r.auth_type == crate::domain::AuthType::Token {
                    println!(
                        "its pull agent's token is shown once by `certdeck server token {}`; then, on the server:                          certdeck agent enroll --url https://… --token-stdin",
                        r.id
                    );
                }
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
            let r = s.server_update(a, *id, &input).await?;
            println!("updated server {} ({}:{})", r.id, r.hostname, r.port);
        }
        ServerCmd::Token { id, rotate } => {
            let t = s.server_token(a, *id, *rotate).await?;
            if ctx.json {
                views::print_json(&serde_json::json!({
                    "server_id": t.server_id, "token": t.token.as_str(), "rotated": t.rotated,
                }));
            } else {
                if t.rotated {
                    eprintln!(
                        "a new token for server {} (the old one, if any, is refused from now on):",
                        t.server_id
                    );
                } else {
                    eprintln!(
                        "the token of server {} (shown this once; --rotate makes a new one):",
                        t.server_id
                    );
                }
                println!("{}", t.token.as_str());
            }
        }
        ServerCmd::Rm { id } => {
            s.server_delete(a, *id).await?;
            println!("deleted server {id}");
        }
        other => super::server_ssh::run(ctx.json, s, a, other).await?,
    }
    Ok(())
}
