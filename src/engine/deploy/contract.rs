//! The deploy engine's contract: the traits a transport implements ([`Hosts`], [`Transport`],
//! [`Files`]), the sink the caller gives ([`DeploySink`]), and the plain types of a deploy
//! (entries, material, outcomes, step errors). The step logic in `deployer.rs` and every
//! transport build on this module; it imports none of them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use zeroize::Zeroizing;

use crate::domain::LogLevel;
pub use crate::engine::acme::BoxFut;
pub use crate::engine::ssh::{CommandOutput, RemoteStat};

/// A failed step: what went wrong, and whether another attempt may succeed (the network may
/// come back; a refusal or a failing config test will not).
#[derive(Debug, Clone)]
pub struct StepError {
    /// What went wrong, naming the host and the path or command.
    pub msg: String,
    /// Worth another attempt.
    pub transient: bool,
}

impl StepError {
    /// A failure another attempt would repeat.
    pub fn new(msg: impl Into<String>) -> StepError {
        StepError {
            msg: msg.into(),
            transient: false,
        }
    }
}

impl std::fmt::Display for StepError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.msg)
    }
}

/// A file session on a host (SFTP over SSH; the file system itself for a local transport).
pub trait Files: Send + Sync {
    /// Metadata of `path`, `None` when it does not exist.
    fn stat<'a>(&'a self, path: &'a str) -> BoxFut<'a, Result<Option<RemoteStat>, StepError>>;
    /// The contents of `path` when it holds at most `max` bytes (`None`: too large).
    fn read<'a>(&'a self, path: &'a str, max: u64) -> BoxFut<'a, Result<Option<Vec<u8>>, StepError>>;
    /// Writes `data` to `path` with permission bits `mode` (replacing what was there).
    fn write<'a>(&'a self, path: &'a str, data: &'a [u8], mode: u32) -> BoxFut<'a, Result<(), StepError>>;
}

/// One connection to a host: shell commands (their output bounded by the transport) and file
/// sessions. A rename over an existing file is a `mv -f` command (SFTP cannot do it on OpenSSH).
pub trait Transport: Send + Sync {
    /// Runs `command` through the shell and returns its output whatever the exit code.
    fn exec<'a>(&'a self, command: &'a str) -> BoxFut<'a, Result<CommandOutput, StepError>>;
    /// Runs `command` and fails unless it exits 0 (the error names the command and its output).
    fn run<'a>(&'a self, command: &'a str) -> BoxFut<'a, Result<CommandOutput, StepError>>;
    /// Opens a file session (closed when dropped).
    fn files(&self) -> BoxFut<'_, Result<Box<dyn Files + '_>, StepError>>;
}

/// How the deployer reaches hosts: a connection per entry (entries of one host may share
/// one), and the TLS handshake that verifies what an endpoint serves.
pub trait Hosts: Send + Sync {
    /// The connection for `entry` (opened on first use).
    fn connect<'a>(&'a self, entry: &'a Entry) -> BoxFut<'a, Result<Arc<dyn Transport>, StepError>>;
    /// The DER of the leaf certificate `host:port` presents for `sni`.
    fn served_leaf<'a>(
        &'a self,
        host: &'a str,
        port: u16,
        sni: &'a str,
        timeout: Duration,
    ) -> BoxFut<'a, Result<Vec<u8>, String>> {
        Box::pin(crate::engine::tls_peek::served_leaf(host, port, sni, timeout))
    }
    /// Closes the connections opened (the transaction of this host is over).
    fn close(&self) -> BoxFut<'_, ()> {
        Box::pin(async {})
    }
}

/// Where the deployer reports: task log lines, cancellation between steps, and each entry's
/// outcome as it is settled. `Error` stops the deploy (a cancelled task, a lost lease).
pub trait DeploySink: Send + Sync {
    /// Why the caller stops the deploy.
    type Error: Send;
    /// Appends a log line (never secrets).
    fn log<'a>(&'a self, level: LogLevel, message: &'a str) -> BoxFut<'a, Result<(), Self::Error>>;
    /// Between steps, before any file of a unit changed: fails when the deploy must stop.
    fn checkpoint(&self) -> BoxFut<'_, Result<(), Self::Error>>;
    /// An entry's outcome is settled (deployed and served, or failed after its rollback).
    fn finished<'a>(&'a self, outcome: &'a Outcome) -> BoxFut<'a, Result<(), Self::Error>>;
}

/// A command as shown in logs and as run on the host (with its privilege applied).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostCommand {
    /// As configured (for logs).
    pub shown: String,
    /// As run (e.g. with `sudo -n`).
    pub run: String,
}

/// One deployment to carry out: where the pair goes on its host, the commands of its web
/// server, and where the result is verified.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Deployment id (names the temporary files, backups and the transaction record).
    pub id: i64,
    /// The host entry (server) id: entries with one id share a connection.
    pub server_id: i64,
    /// The host, for messages.
    pub label: String,
    /// Certificate (full chain) path.
    pub cert_path: String,
    /// Private key path.
    pub key_path: String,
    /// Config test, if any.
    pub test: Option<HostCommand>,
    /// Reload, if any.
    pub reload: Option<HostCommand>,
    /// Verification handshake: host, port, SNI.
    pub verify: (String, u16, String),
    /// An earlier attempt of this deploy was recorded as having deployed this serial here:
    /// a handshake decides whether it is skipped.
    pub recorded_deployed: bool,
    /// Refused before any step (nothing is changed), with the reason.
    pub refused: Option<String>,
}

impl Entry {
    /// The temporary name of the uploaded certificate.
    pub fn tmp_cert(&self) -> String {
        format!("{}.certdeck-new-{}", self.cert_path, self.id)
    }

    /// The temporary name of the uploaded key.
    pub fn tmp_key(&self) -> String {
        format!("{}.certdeck-new-{}", self.key_path, self.id)
    }

    /// The transaction record on the host: what existed before, written before the swap and
    /// removed once the deploy is served or the old files are back.
    pub fn manifest(&self) -> String {
        format!("{}.certdeck-txn-{}", self.cert_path, self.id)
    }

    /// The config test and reload commands as run: entries of one host with equal ones share
    /// one test and one reload.
    pub(super) fn unit_key(&self) -> UnitKey {
        (
            self.test.as_ref().map(|c| c.run.clone()),
            self.reload.as_ref().map(|c| c.run.clone()),
        )
    }
}

/// The config test and reload commands as run, which make entries one unit.
pub(super) type UnitKey = (Option<String>, Option<String>);

/// The refusal of a deployment whose key path is its certificate path.
pub fn same_path_refusal(path: &str) -> String {
    format!(
        "refused: the key path is the certificate path {path} (the key would overwrite the certificate); \
         set another key path (certdeck deployment add … --key-path); nothing was changed"
    )
}

/// The material to put on disk.
pub struct Material {
    /// Certificate and chain, PEM.
    pub fullchain: Vec<u8>,
    /// Private key, PEM.
    pub key: Zeroizing<Vec<u8>>,
    /// Serial of the certificate, lowercase hex.
    pub serial: String,
}

/// How one entry ended.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The entry.
    pub entry: Entry,
    /// Why it failed (with what the rollback did), `None` when the serial is served.
    pub error: Option<String>,
    /// The failure may pass on another attempt.
    pub transient: bool,
    /// An earlier attempt's deploy was found served: nothing was redone.
    pub skipped: bool,
    /// When this entry's turn started.
    pub started: Instant,
    /// Milliseconds of this entry's own step: connect, upload, backup and swap.
    pub step_ms: u64,
}
