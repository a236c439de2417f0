//! SSH sessions to managed servers (russh + russh-sftp): host-key pinning, password / key / agent
//! authentication, jump hosts, commands with timeouts and SFTP file transfer.
//!
//! Every error names the stage that failed (DNS, TCP, host key, auth, command, SFTP) so the
//! operator knows where to look. Secrets arrive already decrypted and live only as long as the
//! connection attempt.
//!
//! - `session`: connecting (jump hosts, host key, authentication) and running commands;
//! - `command`: command output, bounded and tail-kept, and shell quoting;
//! - `sftp`: bounded SFTP reads, stat, listing, writes.

mod command;
mod session;
mod sftp;
#[cfg(test)]
mod tests;

pub(crate) use command::Tail;
pub use command::{shell_quote, CommandOutput, COMMAND_OUTPUT_KEEP, COMMAND_OUTPUT_MAX, DIR_ENTRIES_MAX};
pub use session::{fingerprint, SshSession};
pub use sftp::{Bounded, RemoteStat, Sftp};

use std::time::Duration;

use zeroize::Zeroizing;

/// How to authenticate as the SSH user.
pub enum SshAuth {
    /// Password authentication.
    Password(Zeroizing<String>),
    /// A private key (OpenSSH or PEM text), with its passphrase when encrypted.
    Key {
        /// The key file's text.
        pem: Zeroizing<String>,
        /// Passphrase for an encrypted key.
        passphrase: Option<Zeroizing<String>>,
    },
    /// The operator's ssh-agent (`SSH_AUTH_SOCK`).
    Agent,
}

/// What the host key must be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostKeyPolicy {
    /// Only this SHA256 fingerprint (`SHA256:…`) is accepted.
    Pinned(String),
    /// No key stored yet: the connection stops after the key exchange and reports the key.
    Unknown,
    /// Accept whatever is presented (only to fetch the key for the operator to trust).
    FetchOnly,
}

/// One hop of a connection.
pub struct SshTarget {
    /// Label for messages (server name or id).
    pub label: String,
    /// Host name or address.
    pub host: String,
    /// SSH port.
    pub port: u16,
    /// Login user.
    pub user: String,
    /// Authentication.
    pub auth: SshAuth,
    /// Host-key expectation.
    pub host_key: HostKeyPolicy,
    /// Reach this target through that one first (ProxyJump).
    pub jump: Option<Box<SshTarget>>,
}

impl SshTarget {
    /// What makes two targets the same connection: address, user, credentials (hashed), host
    /// key expectation and jump chain. Entries with equal identities may share one session.
    pub fn identity(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        let mut add = |part: &[u8]| {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part);
        };
        add(self.host.to_ascii_lowercase().as_bytes());
        add(&self.port.to_be_bytes());
        add(self.user.as_bytes());
        match &self.auth {
            SshAuth::Password(p) => {
                add(b"password");
                add(p.as_bytes());
            }
            SshAuth::Key { pem, passphrase } => {
                add(b"key");
                add(pem.as_bytes());
                add(passphrase.as_ref().map_or(&b""[..], |p| p.as_bytes()));
            }
            SshAuth::Agent => add(b"agent"),
        }
        add(format!("{:?}", self.host_key).as_bytes());
        add(self.jump.as_ref().map(|j| j.identity()).unwrap_or_default().as_bytes());
        crate::domain::certpem::hex(&h.finalize())
    }
}

/// Timeouts of each stage.
#[derive(Debug, Clone, Copy)]
pub struct SshTimeouts {
    /// DNS + TCP connect + key exchange.
    pub connect: Duration,
    /// Authentication.
    pub auth: Duration,
    /// Each remote command or SFTP operation.
    pub command: Duration,
}

impl Default for SshTimeouts {
    fn default() -> Self {
        SshTimeouts {
            connect: Duration::from_secs(10),
            auth: Duration::from_secs(15),
            command: Duration::from_secs(60),
        }
    }
}

/// Stage of an SSH operation, as named in errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Resolving the host name.
    Dns,
    /// Opening the TCP connection.
    Tcp,
    /// SSH key exchange.
    Handshake,
    /// Host-key verification.
    HostKey,
    /// Authentication.
    Auth,
    /// A remote command.
    Command,
    /// An SFTP operation.
    Sftp,
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Stage::Dns => "DNS",
            Stage::Tcp => "TCP connect",
            Stage::Handshake => "SSH handshake",
            Stage::HostKey => "host key",
            Stage::Auth => "authentication",
            Stage::Command => "command",
            Stage::Sftp => "SFTP",
        })
    }
}

/// A failed SSH operation; the message names the stage and the target.
#[derive(Debug, thiserror::Error)]
pub enum SshError {
    /// Name resolution failed.
    #[error("[{label}] DNS: cannot resolve {host}: {reason}")]
    Dns {
        /// Target label.
        label: String,
        /// Host that did not resolve.
        host: String,
        /// Resolver message.
        reason: String,
    },
    /// TCP connect failed.
    #[error("[{label}] TCP connect to {addr} failed: {reason}")]
    Tcp {
        /// Target label.
        label: String,
        /// Address tried.
        addr: String,
        /// OS message.
        reason: String,
    },
    /// A stage did not finish in time.
    #[error("[{label}] {stage}: timed out after {secs} s{what}")]
    Timeout {
        /// Target label.
        label: String,
        /// Stage that timed out.
        stage: Stage,
        /// Seconds waited.
        secs: u64,
        /// What was running (a command), with a leading ": ".
        what: String,
    },
    /// No host key is stored yet.
    #[error("[{label}] host key: not trusted yet; the server presents {presented} - check it out of band, then trust it (certdeck server trust-hostkey)")]
    UnknownHostKey {
        /// Target label.
        label: String,
        /// Presented fingerprint.
        presented: String,
    },
    /// The host key differs from the stored one.
    #[error("[{label}] host key: REMOTE HOST KEY CHANGED - possible man-in-the-middle attack! stored {stored}, presented {presented}; refusing to connect. If the change is expected, trust the new key (certdeck server trust-hostkey)")]
    HostKeyChanged {
        /// Target label.
        label: String,
        /// Stored fingerprint.
        stored: String,
        /// Presented fingerprint.
        presented: String,
    },
    /// Authentication was refused or could not be tried.
    #[error("[{label}] authentication as {user} failed: {reason}")]
    Auth {
        /// Target label.
        label: String,
        /// Login user.
        user: String,
        /// Why.
        reason: String,
    },
    /// A command exited non-zero.
    #[error("[{label}] command `{command}` exited with {code}: {stderr}")]
    Command {
        /// Target label.
        label: String,
        /// Command line.
        command: String,
        /// Exit status (-1: no status, killed by a signal).
        code: i64,
        /// Excerpt of stderr (or stdout when stderr is empty).
        stderr: String,
    },
    /// An SFTP operation failed.
    #[error("[{label}] SFTP {op} {path}: {reason}")]
    Sftp {
        /// Target label.
        label: String,
        /// Operation.
        op: &'static str,
        /// Remote path.
        path: String,
        /// Server message.
        reason: String,
    },
    /// SSH protocol or channel error at a stage.
    #[error("[{label}] {stage}: {reason}")]
    Protocol {
        /// Target label.
        label: String,
        /// Stage.
        stage: Stage,
        /// Message.
        reason: String,
    },
    /// A server sent more than certdeck reads from it (see [`COMMAND_OUTPUT_MAX`],
    /// [`Sftp::read_bounded`]): the operation was stopped.
    #[error("[{label}] {stage}: {what}")]
    Limit {
        /// Target label.
        label: String,
        /// Stage (command or SFTP).
        stage: Stage,
        /// What was refused, naming the limit.
        what: String,
    },
}

impl SshError {
    /// The stage that failed.
    pub fn stage(&self) -> Stage {
        match self {
            SshError::Dns { .. } => Stage::Dns,
            SshError::Tcp { .. } => Stage::Tcp,
            SshError::Timeout { stage, .. } | SshError::Protocol { stage, .. } | SshError::Limit { stage, .. } => {
                *stage
            }
            SshError::UnknownHostKey { .. } | SshError::HostKeyChanged { .. } => Stage::HostKey,
            SshError::Auth { .. } => Stage::Auth,
            SshError::Command { .. } => Stage::Command,
            SshError::Sftp { .. } => Stage::Sftp,
        }
    }
}
