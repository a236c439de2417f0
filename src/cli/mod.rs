//! The scriptable face: clap subcommands for every service operation, each `list`/`show` with a
//! readable table and `--json`. Exit codes: 0 ok, 1 error, 2 usage.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

mod commands;
mod migrate;
pub mod output;
mod remote;

pub use commands::run;

/// certdeck: TLS certificates for a fleet of web servers, from a terminal.
#[derive(Debug, Parser)]
#[command(name = "certdeck", version, about, propagate_version = true)]
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

/// Paging flags of list commands.
#[derive(Debug, Args, Clone, Copy)]
pub struct PageArgs {
    /// Rows per page.
    #[arg(long, default_value_t = 50)]
    pub limit: i64,
    /// Show rows with an id below this (the next page).
    #[arg(long)]
    pub before: Option<i64>,
}

/// `schedule …`
#[derive(Debug, Subcommand)]
pub enum ScheduleCmd {
    /// List schedules with their next run (times in UTC; cron fields read in system.timezone).
    List,
    /// Add a schedule.
    Add {
        /// Name.
        name: String,
        /// certificate_check, server_check, backup or cleanup.
        #[arg(long = "type")]
        task_type: String,
        /// Cron expression, 5 fields (min hour dom month dow) or 6 (with seconds first).
        #[arg(long)]
        cron: String,
        /// Parameters, a JSON object.
        #[arg(long, value_name = "JSON")]
        params: Option<String>,
        /// A system schedule over every user's rows (admin); backup and cleanup must be.
        #[arg(long)]
        system: bool,
    },
    /// Change a schedule.
    Edit {
        /// Schedule id.
        id: i64,
        /// New name.
        #[arg(long)]
        name: Option<String>,
        /// New cron expression (replans the next run).
        #[arg(long)]
        cron: Option<String>,
        /// New parameters, a JSON object.
        #[arg(long, value_name = "JSON")]
        params: Option<String>,
    },
    /// Enable a schedule (plans its next run).
    Enable {
        /// Schedule id.
        id: i64,
    },
    /// Disable a schedule.
    Disable {
        /// Schedule id.
        id: i64,
    },
    /// Make a schedule due now: the next scheduler tick runs it once.
    RunNow {
        /// Schedule id.
        id: i64,
    },
}

/// `task …`
#[derive(Debug, Subcommand)]
pub enum TaskCmd {
    /// List tasks, newest first.
    List {
        /// Only this status: pending, running, completed, failed or cancelled.
        #[arg(long)]
        status: Option<String>,
        /// Only this type.
        #[arg(long = "type")]
        task_type: Option<String>,
        #[command(flatten)]
        page: PageArgs,
    },
    /// Show a task with its attempts and lease.
    Show {
        /// Task id.
        id: i64,
    },
    /// Print a task's log; -f follows it until the task ends.
    Logs {
        /// Task id.
        id: i64,
        /// Follow: keep printing new lines until the task is completed, failed or cancelled.
        #[arg(short, long)]
        follow: bool,
    },
    /// Cancel a pending task, or stop a running one at its next step.
    Cancel {
        /// Task id.
        id: i64,
    },
    /// Queue a failed or cancelled task again.
    Retry {
        /// Task id.
        id: i64,
    },
    /// Queue a task.
    Enqueue {
        /// certificate_issue, certificate_renew, certificate_deploy, server_check or monitor_check.
        #[arg(long = "type")]
        task_type: String,
        /// The id of its target (certificate, deployment, server or monitor, by type).
        #[arg(long)]
        target: i64,
        /// 1 (lowest) to 10 (highest).
        #[arg(long, default_value_t = 5)]
        priority: i32,
        /// Parameters, a JSON object.
        #[arg(long, value_name = "JSON")]
        params: Option<String>,
        /// Not before (RFC 3339 or YYYY-MM-DD HH:MM, UTC).
        #[arg(long)]
        at: Option<String>,
        /// Runs allowed for transient failures (1-20).
        #[arg(long, default_value_t = 5)]
        max_attempts: i32,
    },
}

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

/// `apikey …`
#[derive(Debug, Subcommand)]
pub enum ApikeyCmd {
    /// List API keys.
    List {
        #[command(flatten)]
        page: PageArgs,
    },
    /// Create an API key; its secret is shown once.
    Create {
        /// Name.
        name: String,
        /// Expires after this many days.
        #[arg(long)]
        expires_days: Option<i64>,
        /// For another user (admin).
        #[arg(long)]
        user: Option<String>,
    },
    /// Disable a key (can be enabled again).
    Disable {
        /// Key id or api key.
        key: String,
    },
    /// Enable a disabled key.
    Enable {
        /// Key id or api key.
        key: String,
    },
    /// Revoke a key for good.
    Revoke {
        /// Key id or api key.
        key: String,
    },
}

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

/// `ca …`
#[derive(Debug, Subcommand)]
pub enum CaCmd {
    /// The built-in CAs and yours.
    List,
    /// Add a CA by its ACME directory URL (private CA, step-ca, Pebble).
    Add {
        /// Name (used as `--ca`).
        name: String,
        /// ACME directory URL (https).
        #[arg(long)]
        directory: String,
        /// PEM file of a root that signs the directory's TLS certificate.
        #[arg(long, value_name = "FILE")]
        trust_root: Option<PathBuf>,
        /// The CA requires External Account Binding.
        #[arg(long)]
        eab: bool,
        /// EAB key id from the CA's console (with --eab-hmac-stdin).
        #[arg(long, requires = "eab_hmac_stdin")]
        eab_kid: Option<String>,
        /// Read the EAB HMAC key (base64url) from standard input.
        #[arg(long, requires = "eab_kid")]
        eab_hmac_stdin: bool,
    },
}

/// `dns-provider …`
#[derive(Debug, Subcommand)]
pub enum DnsProviderCmd {
    /// Your DNS providers.
    List,
    /// Add a DNS provider. Secrets are read from standard input: the TSIG secret for rfc2136,
    /// `key=value` lines for an HTTP API (cloudflare: api_token; aliyun: access_key_id,
    /// access_key_secret; dnspod: secret_id, secret_key; huaweicloud: access_key_id,
    /// secret_access_key), nothing for manual.
    Add {
        /// Name.
        name: String,
        /// rfc2136, manual, cloudflare, aliyun, dnspod or huaweicloud.
        #[arg(long = "type", default_value = "rfc2136")]
        provider_type: String,
        /// rfc2136: primary server, IP:port.
        #[arg(long)]
        server: Option<String>,
        /// Zone apex (rfc2136: the zone updated; others: where `dns-provider test` writes).
        #[arg(long)]
        zone: Option<String>,
        /// rfc2136: TSIG key name.
        #[arg(long)]
        key_name: Option<String>,
        /// rfc2136: hmac-sha256, hmac-sha384 or hmac-sha512.
        #[arg(long, default_value = "hmac-sha256")]
        algorithm: String,
        /// `_acme-challenge.<name>` must be a CNAME into this zone (CNAME delegation).
        #[arg(long)]
        delegation_zone: Option<String>,
        /// Another setting, KEY=VALUE (e.g. endpoint=https://…, region=cn-north-4, ttl=600).
        #[arg(long = "setting", value_name = "KEY=VALUE")]
        settings: Vec<String>,
    },
    /// Write, read back and remove a test TXT record.
    Test {
        /// Provider id.
        id: i64,
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

/// `group …`
#[derive(Debug, Subcommand)]
pub enum GroupCmd {
    /// List groups.
    List {
        #[command(flatten)]
        page: PageArgs,
    },
    /// Show a group with its servers.
    Show {
        /// Group id.
        id: i64,
    },
    /// Create a group.
    Create {
        /// Name.
        name: String,
        /// Description.
        #[arg(long)]
        description: Option<String>,
    },
    /// Rename or describe a group.
    Update {
        /// Group id.
        id: i64,
        /// Name.
        #[arg(long)]
        name: Option<String>,
        /// Description ("" clears).
        #[arg(long)]
        description: Option<String>,
    },
    /// Delete a group (its servers stay).
    Rm {
        /// Group id.
        id: i64,
    },
    /// Add a server to a group.
    AddServer {
        /// Group id.
        group: i64,
        /// Server id.
        server: i64,
    },
    /// Remove a server from a group.
    RemoveServer {
        /// Group id.
        group: i64,
        /// Server id.
        server: i64,
    },
}

/// `cert …`
/// How a certificate is obtained from an ACME CA (`cert request`, `cert renewal-setup`).
#[derive(Debug, Args)]
pub struct IssuanceArgs {
    /// CA: a preset (see `ca list`) or a CA added with `ca add`.
    #[arg(long, default_value = "letsencrypt")]
    pub ca: String,
    /// Account contact (default: your user's e-mail).
    #[arg(long)]
    pub email: Option<String>,
    /// ec256, ec384, rsa2048, rsa3072 or rsa4096.
    #[arg(long, default_value = "ec256")]
    pub key: String,
    /// dns-01 or http-01.
    #[arg(long, default_value = "dns-01")]
    pub challenge: String,
    /// DNS provider id for dns-01 (see `dns-provider list`).
    #[arg(long)]
    pub dns_provider: Option<i64>,
    /// http-01: address of the standalone responder on this host.
    #[arg(long, default_value = "0.0.0.0:80")]
    pub http_listen: String,
    /// http-01 through this server's document root over SSH (server id; the root of the
    /// discovered site serving the names unless --webroot).
    #[arg(long = "http-server")]
    pub http_server: Option<i64>,
    /// http-01 over SSH: the document root serving the names on that server.
    #[arg(long)]
    pub webroot: Option<String>,
    /// Keep the private key when renewing.
    #[arg(long)]
    pub reuse_key: bool,
    /// ACME profile to ask for (the CA must offer it, e.g. Let's Encrypt's `shortlived`).
    #[arg(long)]
    pub profile: Option<String>,
    /// Keep the alternate chain whose top certificate is issued by this name (e.g. "ISRG Root X1").
    #[arg(long)]
    pub preferred_chain: Option<String>,
}

impl IssuanceArgs {
    /// The service's request input (names added by the caller).
    pub fn input(&self) -> crate::service::acme::RequestInput {
        crate::service::acme::RequestInput {
            ca: self.ca.clone(),
            email: self.email.clone(),
            key: Some(self.key.clone()),
            challenge: self.challenge.clone(),
            dns_provider_id: self.dns_provider,
            http_listen: Some(self.http_listen.clone()),
            http_server_id: self.http_server,
            webroot: self.webroot.clone(),
            key_reuse: self.reuse_key,
            profile: self.profile.clone(),
            preferred_chain: self.preferred_chain.clone(),
            ..Default::default()
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum CertCmd {
    /// Request a certificate from an ACME CA (a certificate_issue task; runs now unless --no-wait).
    Request {
        /// A name for the certificate (repeat: the first is the subject; `*.` needs dns-01).
        #[arg(long = "domain", required = true)]
        domains: Vec<String>,
        #[command(flatten)]
        how: IssuanceArgs,
        /// Display name.
        #[arg(long)]
        name: Option<String>,
        /// Queue the request for the scheduler and return at once.
        #[arg(long)]
        no_wait: bool,
    },
    /// Set up renewal through ACME for a certificate obtained elsewhere (imported or migrated):
    /// how it is obtained from now on, for exactly its names.
    RenewalSetup {
        /// Certificate id.
        id: i64,
        #[command(flatten)]
        how: IssuanceArgs,
    },
    /// Renew a certificate obtained here, exactly as it was obtained (runs now unless --no-wait).
    Renew {
        /// Certificate id.
        id: i64,
        /// Queue the renewal for the scheduler and return at once.
        #[arg(long)]
        no_wait: bool,
    },
    /// Revoke a certificate at its CA and mark it revoked.
    Revoke {
        /// Certificate id.
        id: i64,
        /// unspecified, keyCompromise, affiliationChanged, superseded or cessationOfOperation.
        #[arg(long, default_value = "unspecified")]
        reason: String,
    },
    /// List certificates.
    List {
        /// Only this status.
        #[arg(long)]
        status: Option<String>,
        /// Only this type.
        #[arg(long = "type")]
        certificate_type: Option<String>,
        /// Only this main domain.
        #[arg(long)]
        domain: Option<String>,
        /// Only those expiring within this many days, soonest first.
        #[arg(long)]
        expiring_within: Option<i64>,
        #[command(flatten)]
        page: PageArgs,
    },
    /// Show a certificate.
    Show {
        /// Certificate id.
        id: i64,
        /// Also print the certificate PEM.
        #[arg(long)]
        pem: bool,
    },
    /// Import a certificate with its private key.
    Import {
        /// Certificate PEM (leaf first; may include the chain).
        #[arg(long, value_name = "PATH")]
        cert: PathBuf,
        /// Private key PEM; `-` reads it from standard input. A file on the certdeck host is
        /// read only for admins and the users listed in ssh.operator_credentials_users.
        #[arg(long, value_name = "PATH")]
        key: PathBuf,
        /// Separate chain PEM.
        #[arg(long, value_name = "PATH")]
        chain: Option<PathBuf>,
        /// Display name.
        #[arg(long)]
        name: Option<String>,
        /// Notes.
        #[arg(long)]
        notes: Option<String>,
    },
    /// Export a certificate (and, with --reveal-key, its private key).
    Export {
        /// Certificate id.
        id: i64,
        /// Write files into this directory (cert.pem, chain.pem, fullchain.pem[, privkey.pem]).
        #[arg(long, value_name = "DIR")]
        out_dir: Option<PathBuf>,
        /// Include the private key.
        #[arg(long)]
        reveal_key: bool,
    },
    /// Change name, notes, auto-renew or the renewal window.
    Update {
        /// Certificate id.
        id: i64,
        /// Name ("" clears).
        #[arg(long)]
        name: Option<String>,
        /// Notes ("" clears).
        #[arg(long)]
        notes: Option<String>,
        /// Renew automatically (true/false).
        #[arg(long)]
        auto_renew: Option<bool>,
        /// Days before expiry to renew.
        #[arg(long)]
        renew_before_days: Option<i64>,
    },
    /// Delete a certificate.
    Rm {
        /// Certificate id.
        id: i64,
    },
    /// Import every certificate certbot or acme.sh manages, with its renewal settings where they map.
    Migrate {
        /// certbot or acme.sh.
        #[arg(long, value_name = "TOOL")]
        from: crate::domain::acme_clients::AcmeTool,
        /// certbot's config dir (/etc/letsencrypt) or acme.sh's home (~/.acme.sh); this host's
        /// directories are for admins only.
        #[arg(long, value_name = "PATH")]
        dir: String,
        /// Read the directory on this server (over SFTP, as its SSH user) instead of this host.
        #[arg(long, value_name = "ID")]
        server: Option<i64>,
    },
}

/// `deployment …`
#[derive(Debug, Subcommand)]
pub enum DeploymentCmd {
    /// List the deployments of a certificate or a server.
    List {
        /// Certificate id.
        #[arg(long)]
        cert: Option<i64>,
        /// Server id.
        #[arg(long)]
        server: Option<i64>,
    },
    /// Bind a certificate to a server path.
    Add {
        /// Certificate id.
        cert: i64,
        /// Server id.
        server: i64,
        /// Where the fullchain goes on the server.
        #[arg(long)]
        path: String,
        /// The web server config that uses it.
        #[arg(long)]
        config_path: Option<String>,
        /// Do not deploy again after each renewal.
        #[arg(long)]
        no_auto_deploy: bool,
        /// Where the private key goes (default: the path with `.key` for its extension).
        #[arg(long)]
        key_path: Option<String>,
        /// Host to verify the deploy against (default: the server's hostname).
        #[arg(long)]
        verify_host: Option<String>,
        /// SNI name of the verification (default: the certificate's main domain).
        #[arg(long)]
        sni: Option<String>,
        /// TLS port of the verification (default: the server's verify port, else 443).
        #[arg(long)]
        verify_port: Option<i64>,
        /// Replace the deployments on the same machine that write this certificate or key file
        /// (without it, such a deployment is refused).
        #[arg(long)]
        replace: bool,
    },
    /// Remove a deployment binding.
    Rm {
        /// Deployment id.
        id: i64,
    },
}

/// `monitor …`
#[derive(Debug, Subcommand)]
pub enum MonitorCmd {
    /// List monitors.
    List {
        /// Only this status.
        #[arg(long)]
        status: Option<String>,
        /// Only this type.
        #[arg(long = "type")]
        monitor_type: Option<String>,
        #[command(flatten)]
        page: PageArgs,
    },
    /// Show a monitor.
    Show {
        /// Monitor id.
        id: i64,
    },
    /// Add a monitor.
    Add {
        /// Name.
        name: String,
        /// certificate, server or domain.
        #[arg(long = "type")]
        monitor_type: String,
        /// Certificate or server id.
        #[arg(long)]
        target: Option<i64>,
        /// Domain (domain monitors).
        #[arg(long)]
        domain: Option<String>,
        /// TLS port.
        #[arg(long)]
        port: Option<i64>,
        /// Seconds between checks.
        #[arg(long)]
        interval: Option<i64>,
        /// Connect to this host or IP instead of the domain.
        #[arg(long)]
        connect_address: Option<String>,
        /// Verify the chain against the certificates in this PEM file instead of the public roots.
        #[arg(long)]
        trust_bundle: Option<std::path::PathBuf>,
    },
    /// Change a monitor.
    Update {
        /// Monitor id.
        id: i64,
        /// Name.
        #[arg(long)]
        name: Option<String>,
        /// TLS port.
        #[arg(long)]
        port: Option<i64>,
        /// Seconds between checks.
        #[arg(long)]
        interval: Option<i64>,
        /// Enabled (true/false).
        #[arg(long)]
        active: Option<bool>,
        /// Connect to this host or IP instead of the domain ("" clears).
        #[arg(long)]
        connect_address: Option<String>,
        /// Verify against the certificates in this PEM file ("" clears: public roots).
        #[arg(long)]
        trust_bundle: Option<std::path::PathBuf>,
    },
    /// Delete a monitor.
    Rm {
        /// Monitor id.
        id: i64,
    },
    /// Check a monitor now (TLS probe, drift, rules): prints what it found; exit 1 if not ok.
    Check {
        /// Monitor id.
        id: i64,
    },
}

/// `alert …`
#[derive(Debug, Subcommand)]
pub enum AlertCmd {
    /// List alert rules.
    List {
        /// Only this type.
        #[arg(long = "type")]
        alert_type: Option<String>,
        #[command(flatten)]
        page: PageArgs,
    },
    /// Show an alert rule with its channels.
    Show {
        /// Alert id.
        id: i64,
    },
    /// Add an alert rule.
    Add {
        /// Name.
        name: String,
        /// certificate_expiry, server_down or certificate_error.
        #[arg(long = "type")]
        alert_type: String,
        /// days_before, status_change or value_threshold.
        #[arg(long)]
        condition: String,
        /// Condition value: days (days_before), warning|error (status_change), or
        /// `<metric><op><number>` with metric days_left|consecutive_failures and op < <= > >=
        /// (value_threshold, e.g. `days_left<=7`).
        #[arg(long)]
        value: String,
        /// info, warning, error or critical.
        #[arg(long, default_value = "warning")]
        severity: String,
        /// Only for this monitor.
        #[arg(long)]
        monitor: Option<i64>,
    },
    /// Change an alert rule.
    Update {
        /// Alert id.
        id: i64,
        /// Name.
        #[arg(long)]
        name: Option<String>,
        /// Condition type.
        #[arg(long)]
        condition: Option<String>,
        /// Condition value.
        #[arg(long)]
        value: Option<String>,
        /// Severity.
        #[arg(long)]
        severity: Option<String>,
        /// Enabled (true/false).
        #[arg(long)]
        active: Option<bool>,
    },
    /// Delete an alert rule.
    Rm {
        /// Alert id.
        id: i64,
    },
    /// Fired alerts.
    History {
        /// Only unresolved.
        #[arg(long)]
        open: bool,
        #[command(flatten)]
        page: PageArgs,
    },
    /// Mark a fired alert resolved.
    Resolve {
        /// History id.
        id: i64,
    },
    /// Acknowledge a fired alert (no more reminders; it still resolves by itself).
    Ack {
        /// History id.
        id: i64,
    },
    /// Notify a channel when this rule fires.
    Bind {
        /// Alert id.
        alert: i64,
        /// Channel id.
        channel: i64,
    },
    /// Stop notifying a channel.
    Unbind {
        /// Alert id.
        alert: i64,
        /// Channel id.
        channel: i64,
    },
}

/// `channel …`
#[derive(Debug, Subcommand)]
pub enum ChannelCmd {
    /// List channels.
    List {
        #[command(flatten)]
        page: PageArgs,
    },
    /// Show a channel (secrets only with --reveal).
    Show {
        /// Channel id.
        id: i64,
        /// Print secret fields.
        #[arg(long)]
        reveal: bool,
    },
    /// Add a channel; --settings is a JSON object (secret fields are encrypted).
    Add {
        /// Name.
        name: String,
        /// email, sms, webhook, wechat or slack.
        #[arg(long = "type")]
        channel_type: String,
        /// JSON settings, e.g. '{"url":"https://hooks.example/x","secret":"…"}'; "-" reads stdin.
        /// (Not `--config`: that is the global config-file flag.)
        #[arg(long, value_name = "JSON")]
        settings: String,
    },
    /// Change a channel.
    Update {
        /// Channel id.
        id: i64,
        /// Name.
        #[arg(long)]
        name: Option<String>,
        /// New JSON settings (replace the plain ones; a sealed field left out keeps its value,
        /// `null` removes it); "-" reads stdin.
        #[arg(long, value_name = "JSON")]
        settings: Option<String>,
        /// Enabled (true/false).
        #[arg(long)]
        active: Option<bool>,
    },
    /// Delete a channel.
    Rm {
        /// Channel id.
        id: i64,
    },
    /// Send a test notification through a channel now.
    Test {
        /// Channel id.
        id: i64,
    },
}

/// `setting …`
#[derive(Debug, Subcommand)]
pub enum SettingCmd {
    /// List system settings (or, with --mine, your own).
    List {
        /// Your personal settings.
        #[arg(long)]
        mine: bool,
    },
    /// Show one system setting.
    Get {
        /// Key.
        key: String,
    },
    /// Set a setting (system: admin for is_system keys; --mine: your own).
    Set {
        /// Key.
        key: String,
        /// Value.
        value: String,
        /// Your personal setting.
        #[arg(long)]
        mine: bool,
        /// Type of a new key: string, number, boolean or json.
        #[arg(long = "type")]
        setting_type: Option<String>,
    },
    /// Delete a setting (non-system ones; --mine: your own).
    Rm {
        /// Key.
        key: String,
        /// Your personal setting.
        #[arg(long)]
        mine: bool,
    },
}

/// `audit …`
#[derive(Debug, Subcommand)]
pub enum AuditCmd {
    /// List audit rows, newest first.
    List {
        /// Only this user (name or id).
        #[arg(long)]
        user: Option<String>,
        /// Only this action, e.g. server.create.
        #[arg(long)]
        action: Option<String>,
        /// Only this resource type, e.g. certificate.
        #[arg(long)]
        resource: Option<String>,
        /// Only this resource id.
        #[arg(long)]
        resource_id: Option<i64>,
        /// From this time (RFC 3339 or YYYY-MM-DD).
        #[arg(long)]
        since: Option<String>,
        /// Before this time.
        #[arg(long)]
        until: Option<String>,
        #[command(flatten)]
        page: PageArgs,
    },
}

/// `db …`
#[derive(Debug, Subcommand)]
pub enum DbCmd {
    /// Show every migration and whether it is applied.
    Status,
    /// Apply pending migrations.
    Migrate,
    /// Undo migrations down to version N (0 = empty database).
    Rollback {
        /// Target version.
        #[arg(long)]
        to: i64,
        /// Do not ask (required when not on a terminal).
        #[arg(long)]
        yes: bool,
        /// Where the backup written first goes (default: <data dir>/backups).
        #[arg(long)]
        backup_dir: Option<PathBuf>,
    },
    /// Write a backup now: every table from one snapshot, gzip JSON lines, mode 0600 (secrets
    /// stay encrypted: keep the master key to restore it).
    Backup {
        /// This file (must not exist).
        #[arg(long, conflicts_with = "dir")]
        out: Option<PathBuf>,
        /// A timestamped file in this directory (default: <data dir>/backups).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Backups to keep in the directory (older ones are removed).
        #[arg(long, default_value_t = 7)]
        keep: usize,
    },
    /// Load a backup into an empty database (same schema version and master key; on either
    /// backend). All or nothing.
    Restore {
        /// The backup file.
        file: PathBuf,
        /// Do not ask (required when not on a terminal).
        #[arg(long)]
        yes: bool,
    },
}

/// `secrets …`
#[derive(Debug, Subcommand)]
pub enum SecretsCmd {
    /// Re-encrypt every secret under a new master key (one transaction).
    Rotate {
        /// Do not ask (required when not on a terminal).
        #[arg(long)]
        yes: bool,
    },
    /// Show the id of the master key in use (never the key).
    KeyId,
}
