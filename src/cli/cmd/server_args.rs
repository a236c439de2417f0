//! The clap definitions of `server …` (shared by the local commands in `server.rs` and the
//! remote ones in `server_ssh.rs`).

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::cli::context::PageArgs;

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
    /// Show a token server's agent token once (for `certdeck agent enroll`), or rotate it: the
    /// old token is refused from that moment.
    Token {
        /// Server id.
        id: i64,
        /// Make a new token (the old one stops working at once).
        #[arg(long)]
        rotate: bool,
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
