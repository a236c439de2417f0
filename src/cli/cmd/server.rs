//! `server …`: the servers themselves (list, show, add, update, rm); the SSH work on them
//! (check, host keys, sites, configs, imports) is in [`super::server_ssh`].

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::cli::context::{page, parse_opt, read_stdin_secret, Ctx};
use crate::cli::error::{CliError, CliResult};
use crate::cli::views;
use crate::cli::views::servers::ServerDetail;
use crate::cli::PageArgs;
use crate::service::query::{ListFilter, ServerFilter, Terms};
use crate::service::servers::ServerInput;
use crate::service::{Actor, Services};

/// Server fields shared by add and update.
#[derive(Debug, Args, Clone, Default)]
pub struct ServerArgs {
    /// Display name.
    #[arg(long)]
    pub name: Option<String>,
    /// SSH port.
    #[arg(long)]
    pub port: Option<i64>,
    /// nginx, apache or other.
    #[arg(long = "type")]
    pub server_type: Option<String>,
    /// password, key or token.
    #[arg(long)]
    pub auth: Option<String>,
    /// SSH user.
    #[arg(long)]
    pub user: Option<String>,
    /// Read the SSH password from standard input.
    #[arg(long)]
    pub password_stdin: bool,
    /// SSH private key file on this host (admins, and users listed in the setting
    /// ssh.operator_credentials_users; others use --key-stdin).
    #[arg(long, value_name = "PATH")]
    pub key_file: Option<PathBuf>,
    /// Read the SSH private key (OpenSSH or PEM text) from standard input.
    #[arg(long)]
    pub key_stdin: bool,
    /// Read the agent token from standard input.
    #[arg(long)]
    pub token_stdin: bool,
    /// Read the private key's passphrase from standard input.
    #[arg(long)]
    pub key_passphrase_stdin: bool,
    /// Reach the server through this server entry (ProxyJump); 0 clears it.
    #[arg(long, value_name = "SERVER_ID")]
    pub jump: Option<i64>,
    /// none or sudo: run the test and reload commands with `sudo -n`.
    #[arg(long)]
    pub privilege: Option<String>,
    /// Config test command (default by type: `nginx -t`, `apachectl -t`); empty clears it.
    #[arg(long, value_name = "COMMAND")]
    pub test_command: Option<String>,
    /// Reload command (default by type: `nginx -s reload`, `apachectl -k graceful`); empty clears it.
    #[arg(long, value_name = "COMMAND")]
    pub reload_command: Option<String>,
    /// TLS port that deploy verification connects to (default 443); 0 clears it.
    #[arg(long, value_name = "PORT")]
    pub verify_port: Option<i64>,
    /// Main web server config file (default /etc/nginx/nginx.conf, /etc/apache2/apache2.conf…); empty clears it.
    #[arg(long, value_name = "PATH")]
    pub config_root: Option<String>,
}
/// `server …`
#[derive(Debug, Subcommand)]
pub enum ServerCmd {
    /// List servers.
    List {
        /// Only this status.
        #[arg(long)]
        status: Option<String>,
        /// Only this type.
        #[arg(long = "type")]
        server_type: Option<String>,
        /// Only this hostname.
        #[arg(long)]
        hostname: Option<String>,
        /// Only members of this group.
        #[arg(long)]
        group: Option<i64>,
        #[command(flatten)]
        page: PageArgs,
    },
    /// Show a server with its groups, configs and deployments.
    Show {
        /// Server id.
        id: i64,
    },
    /// Add a server.
    Add {
        /// Host name or IP.
        hostname: String,
        #[command(flatten)]
        args: ServerArgs,
    },
    /// Change a server.
    Update {
        /// Server id.
        id: i64,
        /// New host name.
        #[arg(long)]
        hostname: Option<String>,
        /// Status: active, inactive or error.
        #[arg(long)]
        status: Option<String>,
        #[command(flatten)]
        args: ServerArgs,
    },
    /// Delete a server.
    Rm {
        /// Server id.
        id: i64,
    },
    /// Probe a server over SSH and discover its web server's sites (a server_check task).
    Check {
        /// Server id.
        id: i64,
        /// Queue the check for the scheduler and return at once.
        #[arg(long)]
        no_wait: bool,
    },
    /// Show the SSH host key a server presents and trust it (first use, or after a change).
    TrustHostkey {
        /// Server id.
        id: i64,
        /// The fingerprint you checked out of band (SHA256:…): trusted only if it is the one presented.
        #[arg(long)]
        fingerprint: Option<String>,
        /// Trust the presented key without asking.
        #[arg(long)]
        yes: bool,
    },
    /// The sites found by the last check, with the certificate each serves.
    Sites {
        /// Server id.
        id: i64,
    },
    /// Import the certificate a discovered site serves (read over SFTP) and bind it to the site.
    SiteImport {
        /// Site id (see `server sites`).
        site_id: i64,
    },
    /// Bind a managed certificate to a discovered site (its certificate and key paths).
    SiteBind {
        /// Site id (see `server sites`).
        site_id: i64,
        /// Certificate id.
        #[arg(long)]
        cert: i64,
    },
    /// Print a config file stored by the last check.
    Config {
        /// Config id (see `server show`).
        config_id: i64,
    },
    /// Add servers from an OpenSSH client config (Host, HostName, Port, User, IdentityFile, ProxyJump).
    ImportSshConfig {
        /// The config file (default ~/.ssh/config).
        #[arg(long, value_name = "PATH")]
        file: Option<PathBuf>,
        #[command(flatten)]
        opts: ImportArgs,
    },
    /// Add servers from a CSV file with a header row (hostname, name, port, username, auth_type,
    /// key_file, server_type, privilege_mode, jump, verify_port, test_command, reload_command, config_root).
    ImportCsv {
        /// The CSV file.
        file: PathBuf,
        #[command(flatten)]
        opts: ImportArgs,
    },
}
/// Options of the server imports.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Web server type for the imported servers (nginx, apache, other).
    #[arg(long = "type")]
    pub server_type: Option<String>,
    /// Privilege mode for the imported servers (none, sudo).
    #[arg(long)]
    pub privilege: Option<String>,
    /// Report what would be added without adding.
    #[arg(long)]
    pub dry_run: bool,
}
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
        ServerCmd::Rm { id } => {
            s.server_delete(a, *id).await?;
            println!("deleted server {id}");
        }
        other => super::server_ssh::run(ctx.json, s, a, other).await?,
    }
    Ok(())
}
