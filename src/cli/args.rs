//! The top-level clap definitions: the global options ([`Cli`]) and the command groups
//! ([`Command`]), each group's own arguments being in its `cmd/<group>.rs`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use super::cmd::alert::AlertCmd;
use super::cmd::apikey::ApikeyCmd;
use super::cmd::audit::AuditCmd;
use super::cmd::ca::CaCmd;
use super::cmd::cert::CertCmd;
use super::cmd::channel::ChannelCmd;
use super::cmd::db::DbCmd;
use super::cmd::deployment::DeploymentCmd;
use super::cmd::dns_provider::DnsProviderCmd;
use super::cmd::group::GroupCmd;
use super::cmd::monitor::MonitorCmd;
use super::cmd::schedule::ScheduleCmd;
use super::cmd::secrets::SecretsCmd;
use super::cmd::server_args::ServerCmd;
use super::cmd::setting::SettingCmd;
use super::cmd::task::TaskCmd;
use super::cmd::user::UserCmd;

/// The exit codes, as `certdeck --help` lists them after the options.
const EXIT_CODES_HELP: &str = "Exit codes: 0 ok, 1 failed (a task or check did not succeed, or an internal error), \
2 usage, 3 not found, 4 not logged in or forbidden, 5 conflict, 6 invalid input, \
7 remote failure (database server, SSH, ACME, DNS, network). `health`: 0 ok, 1 degraded, 2 down.";

/// certdeck: TLS certificates for a fleet of web servers, from a terminal.
#[derive(Debug, Parser)]
#[command(
    name = "certdeck",
    version,
    about,
    propagate_version = true,
    after_help = EXIT_CODES_HELP
)]
pub struct Cli {
    /// Config file (default: config.toml in the config dir).
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Database URL: sqlite://PATH or mysql://USER:PASS@HOST:PORT/DB[?ssl-mode=VERIFY_IDENTITY&ssl-ca=CA.pem].
    #[arg(long, global = true, value_name = "URL")]
    pub database_url: Option<String>,
    /// Do not apply pending migrations; refuse to run if any are pending.
    #[arg(long, global = true)]
    pub no_migrate: bool,
    /// Print JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    /// Run the headless task scheduler daemon.
    #[arg(long)]
    pub serve_scheduler: bool,
    /// Serve the HTTP API (/api/v1, /metrics) on this address, e.g. 0.0.0.0:8443 (TLS) or
    /// 127.0.0.1:8080 (plain HTTP, loopback only); with --serve-scheduler both run in one process.
    #[arg(long, value_name = "ADDR")]
    pub serve_api: Option<std::net::SocketAddr>,
    /// Flags of --serve-api.
    #[command(flatten)]
    pub api: ApiArgs,
    /// Console theme: default, light, high-contrast, or a file in <config dir>/themes.
    #[arg(long, value_name = "NAME")]
    pub theme: Option<String>,
    /// Console keymap: default (arrows + vim keys), emacs, or a file in <config dir>/keymaps.
    #[arg(long, value_name = "NAME")]
    pub keymap: Option<String>,
    /// Console language: en or zh-CN (default: the user's setting, else LANG).
    #[arg(long, value_name = "LANG")]
    pub lang: Option<String>,
    /// Username to prefill on the console's login screen.
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
    /// Console without any action that changes data.
    #[arg(long)]
    pub read_only: bool,
    /// The command (none: the console).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Initialise a database: migrate and create the first admin (prints its one-time password).
    Init {
        /// E-mail of the admin.
        #[arg(long, default_value = "admin@localhost")]
        admin_email: String,
    },
    /// Log in and keep the session in the config dir.
    Login {
        /// Username (prompted when missing).
        #[arg(long, short)]
        username: Option<String>,
        /// Read the password from standard input instead of prompting.
        #[arg(long)]
        password_stdin: bool,
        /// Set a new password in the same step (required when the password is one-time), read
        /// from standard input: with --password-stdin, the first line is the current password
        /// and the second the new one.
        #[arg(long)]
        new_password_stdin: bool,
    },
    /// Revoke and forget the session.
    Logout,
    /// Show who is logged in.
    Whoami,
    /// A summary of certificates and servers.
    Status,
    /// Users (admin).
    #[command(subcommand)]
    User(UserCmd),
    /// API keys for scripts (CERTDECK_API_KEY=<key>:<secret>).
    #[command(subcommand)]
    Apikey(ApikeyCmd),
    /// Servers.
    #[command(subcommand)]
    Server(ServerCmd),
    /// Server groups.
    #[command(subcommand)]
    Group(GroupCmd),
    /// Certificates.
    #[command(subcommand)]
    Cert(CertCmd),
    /// Deployment bindings of certificates to servers.
    #[command(subcommand)]
    Deployment(DeploymentCmd),
    /// Deploy a certificate to its servers over SSH (test, reload, verify; rolled back on failure).
    Deploy {
        /// Certificate id.
        cert: i64,
        /// Only the deployment on this server.
        #[arg(long, conflicts_with_all = ["group", "all"])]
        server: Option<i64>,
        /// The deployments on this group's servers.
        #[arg(long, conflicts_with = "all")]
        group: Option<i64>,
        /// Every deployment of the certificate.
        #[arg(long)]
        all: bool,
        /// Show the files, servers and commands it would touch, and change nothing.
        #[arg(long)]
        plan: bool,
        /// Queue the deploy for the scheduler and return at once.
        #[arg(long)]
        no_wait: bool,
    },
    /// ACME certificate authorities.
    #[command(subcommand)]
    Ca(CaCmd),
    /// DNS providers for dns-01 challenges.
    #[command(subcommand)]
    DnsProvider(DnsProviderCmd),
    /// TLS monitors.
    #[command(subcommand)]
    Monitor(MonitorCmd),
    /// Alert rules and fired alerts.
    #[command(subcommand)]
    Alert(AlertCmd),
    /// Notification channels.
    #[command(subcommand)]
    Channel(ChannelCmd),
    /// System and personal settings.
    #[command(subcommand)]
    Setting(SettingCmd),
    /// The audit log.
    #[command(subcommand)]
    Audit(AuditCmd),
    /// Scheduler liveness and queue state; exit 0 ok, 1 degraded, 2 down (for monitoring).
    Health,
    /// Print the HTTP API's OpenAPI 3.1 document (the one assets/openapi.json holds).
    Openapi,
    /// The pull agent, on a server with auth type token (no database, only the server's token).
    #[command(subcommand)]
    Agent(super::cmd::agent::AgentCmd),
    /// Tasks: the queue of issue, renew, deploy and check jobs.
    #[command(subcommand)]
    Task(TaskCmd),
    /// Cron schedules (certificate_check, server_check, backup, cleanup).
    #[command(subcommand)]
    Schedule(ScheduleCmd),
    /// Schema migrations.
    #[command(subcommand)]
    Db(DbCmd),
    /// The master key.
    #[command(subcommand)]
    Secrets(SecretsCmd),
}

/// Flags of `--serve-api`.
#[derive(Debug, Clone, Args)]
pub struct ApiArgs {
    /// TLS certificate chain file (PEM) of the API; re-read every minute (renewals).
    #[arg(
        long,
        value_name = "PATH",
        requires = "tls_key",
        conflicts_with = "tls_certificate_id"
    )]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key file (PEM) of the API.
    #[arg(long, value_name = "PATH", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Serve TLS with a certificate certdeck manages (by id); renewals are picked up within a minute.
    #[arg(long, value_name = "ID")]
    pub tls_certificate_id: Option<i64>,
    /// Seconds between re-reads of the API's TLS certificate (renewals are served from the next handshake).
    #[arg(long, value_name = "SECS", default_value_t = 60, hide = true)]
    pub tls_reload_secs: u64,
    /// Requests per second per credential (0 = no limit; bursts of twice that).
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub api_rate_per_key: u32,
    /// Requests per second per source address (0 = no limit; bursts of twice that).
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub api_rate_per_address: u32,
    /// Largest request body in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 1024 * 1024)]
    pub api_max_body: usize,
    /// Seconds a request may take to produce its response.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    pub api_timeout: u64,
    /// Serve /metrics without a credential (default: an admin's API key or session is needed).
    #[arg(long)]
    pub metrics_public: bool,
    /// At most this many per-certificate series on /metrics (soonest expiry first).
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    pub metrics_max_certificates: usize,
}
