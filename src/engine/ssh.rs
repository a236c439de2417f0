//! SSH sessions to managed servers (russh + russh-sftp): host-key pinning, password / key / agent
//! authentication, jump hosts, commands with timeouts and SFTP file transfer.
//!
//! Every error names the stage that failed (DNS, TCP, host key, auth, command, SFTP) so the
//! operator knows where to look. Secrets arrive already decrypted and live only as long as the
//! connection attempt.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use russh::client::{self, Handle};
use russh::keys::{HashAlg, PrivateKeyWithHashAlg, PublicKeyOrCertificate};
use russh::ChannelMsg;
use russh_sftp::client::SftpSession;
use russh_sftp::protocol::{FileAttributes, OpenFlags};
use tokio::io::AsyncWriteExt;
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

/// Bytes a remote command may print (stdout and stderr together) before certdeck stops reading,
/// closes its channel and fails with [`SshError::Limit`]: a command that prints forever (or a
/// hostile server) cannot fill the scheduler's memory nor hold a worker until the timeout.
pub const COMMAND_OUTPUT_MAX: u64 = 4 * 1024 * 1024;

/// Entries a directory listing may hold before certdeck stops reading it and fails with
/// [`SshError::Limit`]: a directory of millions of names (or a server that never sends the end
/// of a listing) cannot fill the scheduler's memory.
pub const DIR_ENTRIES_MAX: usize = 10_000;
/// Bytes kept of each output stream: its tail, which is what error messages show
/// ([`CommandOutput::truncated`] says when the head was dropped).
pub const COMMAND_OUTPUT_KEEP: usize = 64 * 1024;

/// Output of a remote command.
#[derive(Debug, Clone, Default)]
pub struct CommandOutput {
    /// Exit status (-1 when the command ended without one, e.g. by a signal).
    pub code: i64,
    /// Standard output (its last [`COMMAND_OUTPUT_KEEP`] bytes).
    pub stdout: String,
    /// Standard error (its last [`COMMAND_OUTPUT_KEEP`] bytes).
    pub stderr: String,
    /// Whether the head of stdout or stderr was dropped to keep [`COMMAND_OUTPUT_KEEP`] bytes.
    pub truncated: bool,
}

/// The tail of one output stream: at most [`COMMAND_OUTPUT_KEEP`] bytes are kept.
#[derive(Default)]
struct Tail {
    buf: std::collections::VecDeque<u8>,
    dropped: bool,
}

impl Tail {
    fn push(&mut self, data: &[u8]) {
        let data = if data.len() > COMMAND_OUTPUT_KEEP {
            self.dropped = true;
            self.buf.clear();
            &data[data.len() - COMMAND_OUTPUT_KEEP..]
        } else {
            data
        };
        let over = (self.buf.len() + data.len()).saturating_sub(COMMAND_OUTPUT_KEEP);
        if over > 0 {
            self.dropped = true;
            self.buf.drain(..over);
        }
        self.buf.extend(data);
    }

    fn text(self) -> String {
        let (buf, dropped) = (Vec::from(self.buf), self.dropped);
        let text = String::from_utf8_lossy(&buf).into_owned();
        if dropped {
            // A multi-byte character cut at the start shows as U+FFFD: drop it.
            format!("…{}", text.trim_start_matches('\u{FFFD}'))
        } else {
            text
        }
    }
}

impl CommandOutput {
    /// Last lines of stderr (or stdout), at most `max` characters, for error messages.
    pub fn excerpt(&self, max: usize) -> String {
        let text = if self.stderr.trim().is_empty() {
            &self.stdout
        } else {
            &self.stderr
        };
        let t = text.trim();
        if t.chars().count() <= max {
            return t.replace('\n', " | ");
        }
        let skip = t.chars().count() - max;
        format!("…{}", t.chars().skip(skip).collect::<String>().replace('\n', " | "))
    }
}

/// SHA256 fingerprint of a host key, as `ssh-keygen -l` prints it.
pub fn fingerprint(key: &PublicKeyOrCertificate) -> String {
    match key {
        PublicKeyOrCertificate::PublicKey { key, .. } => key.fingerprint(HashAlg::Sha256).to_string(),
        PublicKeyOrCertificate::Certificate(c) => c.public_key().fingerprint(HashAlg::Sha256).to_string(),
    }
}

struct Checker {
    policy: HostKeyPolicy,
    presented: Arc<Mutex<Option<String>>>,
}

impl client::Handler for Checker {
    type Error = russh::Error;

    async fn check_server_key(&mut self, key: &PublicKeyOrCertificate) -> Result<bool, Self::Error> {
        let fp = fingerprint(key);
        let ok = match &self.policy {
            HostKeyPolicy::Pinned(want) => want == &fp,
            HostKeyPolicy::Unknown => false,
            HostKeyPolicy::FetchOnly => true,
        };
        if let Ok(mut p) = self.presented.lock() {
            *p = Some(fp);
        }
        Ok(ok)
    }
}

/// An authenticated SSH connection (and the jump connections it runs through).
pub struct SshSession {
    label: String,
    handle: Handle<Checker>,
    presented: String,
    timeouts: SshTimeouts,
    _jump: Option<Box<SshSession>>,
}

fn config(t: &SshTimeouts) -> Arc<client::Config> {
    Arc::new(client::Config {
        inactivity_timeout: Some(t.command + Duration::from_secs(30)),
        keepalive_interval: Some(Duration::from_secs(15)),
        keepalive_max: 3,
        nodelay: true,
        ..Default::default()
    })
}

fn timeout_err(label: &str, stage: Stage, d: Duration, what: &str) -> SshError {
    SshError::Timeout {
        label: label.to_string(),
        stage,
        secs: d.as_secs().max(1),
        what: if what.is_empty() {
            String::new()
        } else {
            format!(": {what}")
        },
    }
}

impl SshSession {
    /// Connects (through the jump chain, if any), checks the host key and authenticates.
    pub fn connect<'a>(
        target: &'a SshTarget,
        timeouts: SshTimeouts,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<SshSession, SshError>> + Send + 'a>> {
        Box::pin(async move {
            let jump = match &target.jump {
                Some(j) => Some(Box::new(SshSession::connect(j, timeouts).await?)),
                None => None,
            };
            let label = target.label.clone();
            let presented = Arc::new(Mutex::new(None));
            let checker = Checker {
                policy: target.host_key.clone(),
                presented: presented.clone(),
            };
            let cfg = config(&timeouts);
            let t = timeouts.connect;
            let addr_text = format!("{}:{}", target.host, target.port);
            let handle = match &jump {
                Some(j) => {
                    let ch = tokio::time::timeout(
                        t,
                        j.handle
                            .channel_open_direct_tcpip(target.host.clone(), u32::from(target.port), "127.0.0.1", 0),
                    )
                    .await
                    .map_err(|_| timeout_err(&label, Stage::Tcp, t, &format!("{addr_text} via {}", j.label)))?
                    .map_err(|e| SshError::Tcp {
                        label: label.clone(),
                        addr: format!("{addr_text} (via {})", j.label),
                        reason: e.to_string(),
                    })?;
                    tokio::time::timeout(t, client::connect_stream(cfg, ch.into_stream(), checker))
                        .await
                        .map_err(|_| timeout_err(&label, Stage::Handshake, t, &addr_text))?
                }
                None => {
                    let addr = tokio::time::timeout(t, resolve(&label, &target.host, target.port))
                        .await
                        .map_err(|_| timeout_err(&label, Stage::Dns, t, &target.host))??;
                    let sock = tokio::time::timeout(t, tokio::net::TcpStream::connect(addr))
                        .await
                        .map_err(|_| timeout_err(&label, Stage::Tcp, t, &addr.to_string()))?
                        .map_err(|e| SshError::Tcp {
                            label: label.clone(),
                            addr: addr.to_string(),
                            reason: e.to_string(),
                        })?;
                    let _ = sock.set_nodelay(true);
                    tokio::time::timeout(t, client::connect_stream(cfg, sock, checker))
                        .await
                        .map_err(|_| timeout_err(&label, Stage::Handshake, t, &addr_text))?
                }
            }
            .map_err(|e| handshake_error(&label, &target.host_key, &presented, e))?;
            let fp = presented.lock().ok().and_then(|p| p.clone()).unwrap_or_default();
            let mut s = SshSession {
                label: label.clone(),
                handle,
                presented: fp,
                timeouts,
                _jump: jump,
            };
            if target.host_key == HostKeyPolicy::FetchOnly {
                return Ok(s);
            }
            tokio::time::timeout(timeouts.auth, s.authenticate(&target.user, &target.auth))
                .await
                .map_err(|_| timeout_err(&label, Stage::Auth, timeouts.auth, ""))??;
            Ok(s)
        })
    }

    async fn authenticate(&mut self, user: &str, auth: &SshAuth) -> Result<(), SshError> {
        let label = self.label.clone();
        let fail = |reason: String| SshError::Auth {
            label: label.clone(),
            user: user.to_string(),
            reason,
        };
        let proto = |e: russh::Error| fail(e.to_string());
        let ok = match auth {
            SshAuth::Password(p) => self
                .handle
                .authenticate_password(user, p.as_str())
                .await
                .map_err(proto)?
                .success(),
            SshAuth::Key { pem, passphrase } => {
                let key = russh::keys::decode_secret_key(pem, passphrase.as_ref().map(|p| p.as_str()))
                    .map_err(|e| fail(format!("cannot read the private key: {e}")))?;
                let hash = self.handle.best_supported_rsa_hash().await.map_err(proto)?.flatten();
                self.handle
                    .authenticate_publickey(user, PrivateKeyWithHashAlg::new(Arc::new(key), hash))
                    .await
                    .map_err(proto)?
                    .success()
            }
            SshAuth::Agent => {
                let mut agent = russh::keys::agent::client::AgentClient::connect_env()
                    .await
                    .map_err(|e| fail(format!("no ssh-agent (SSH_AUTH_SOCK): {e}")))?;
                let ids = agent
                    .request_identities()
                    .await
                    .map_err(|e| fail(format!("ssh-agent: {e}")))?;
                if ids.is_empty() {
                    return Err(fail("the ssh-agent holds no keys".into()));
                }
                let hash = self.handle.best_supported_rsa_hash().await.map_err(proto)?.flatten();
                let mut ok = false;
                for id in ids {
                    let key = id.public_key().into_owned();
                    match self
                        .handle
                        .authenticate_publickey_with(user, key, hash, &mut agent)
                        .await
                    {
                        Ok(r) if r.success() => {
                            ok = true;
                            break;
                        }
                        Ok(_) => {}
                        Err(e) => tracing::debug!(target: "ssh", "agent key refused: {e:?}"),
                    }
                }
                ok
            }
        };
        if ok {
            Ok(())
        } else {
            Err(fail(match auth {
                SshAuth::Password(_) => "the server refused the password".into(),
                SshAuth::Key { .. } => "the server refused the key".into(),
                SshAuth::Agent => "the server refused every key in the ssh-agent".into(),
            }))
        }
    }

    /// The presented host key's SHA256 fingerprint.
    pub fn host_key_fingerprint(&self) -> &str {
        &self.presented
    }

    /// Label used in messages.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Runs `command` (through the login shell) and returns its output whatever the exit code.
    pub async fn exec(&self, command: &str) -> Result<CommandOutput, SshError> {
        self.exec_with_input(command, None).await
    }

    /// Runs `command`, feeding `input` on stdin.
    pub async fn exec_with_input(&self, command: &str, input: Option<&[u8]>) -> Result<CommandOutput, SshError> {
        let t = self.timeouts.command;
        tokio::time::timeout(t, self.exec_inner(command, input))
            .await
            .map_err(|_| timeout_err(&self.label, Stage::Command, t, command))?
    }

    async fn exec_inner(&self, command: &str, input: Option<&[u8]>) -> Result<CommandOutput, SshError> {
        let proto = |e: russh::Error| SshError::Protocol {
            label: self.label.clone(),
            stage: Stage::Command,
            reason: format!("`{command}`: {e}"),
        };
        let mut ch = self.handle.channel_open_session().await.map_err(proto)?;
        ch.exec(true, command).await.map_err(proto)?;
        if let Some(data) = input {
            let mut w = ch.make_writer();
            w.write_all(data).await.map_err(|e| proto(russh::Error::from(e)))?;
            w.shutdown().await.ok();
            drop(w);
            ch.eof().await.map_err(proto)?;
        }
        let mut out = Tail::default();
        let mut err = Tail::default();
        let mut received: u64 = 0;
        let mut code = None;
        while let Some(msg) = ch.wait().await {
            let data = match msg {
                ChannelMsg::Data { data } => {
                    out.push(&data);
                    data.len()
                }
                ChannelMsg::ExtendedData { data, .. } => {
                    err.push(&data);
                    data.len()
                }
                ChannelMsg::ExitStatus { exit_status } => {
                    code = Some(i64::from(exit_status));
                    0
                }
                _ => 0,
            };
            received += data as u64;
            if received > COMMAND_OUTPUT_MAX {
                // Stop reading: closing the channel ends the command (SIGPIPE on its output).
                let _ = ch.close().await;
                let partial = CommandOutput {
                    code: -1,
                    stdout: out.text(),
                    stderr: err.text(),
                    truncated: true,
                };
                return Err(SshError::Limit {
                    label: self.label.clone(),
                    stage: Stage::Command,
                    what: format!(
                        "`{command}` printed more than {} MiB, the limit of output read from a command (COMMAND_OUTPUT_MAX); stopped it. Last output: {}",
                        COMMAND_OUTPUT_MAX >> 20,
                        partial.excerpt(200)
                    ),
                });
            }
        }
        let truncated = out.dropped || err.dropped;
        Ok(CommandOutput {
            code: code.unwrap_or(-1),
            stdout: out.text(),
            stderr: err.text(),
            truncated,
        })
    }

    /// Runs `command` and fails unless it exits 0.
    pub async fn run(&self, command: &str) -> Result<CommandOutput, SshError> {
        let out = self.exec(command).await?;
        if out.code != 0 {
            return Err(SshError::Command {
                label: self.label.clone(),
                command: command.to_string(),
                code: out.code,
                stderr: out.excerpt(400),
            });
        }
        Ok(out)
    }

    /// Opens an SFTP session on this connection.
    pub async fn sftp(&self) -> Result<Sftp<'_>, SshError> {
        let t = self.timeouts.command;
        let fut = async {
            let proto = |e: String| SshError::Protocol {
                label: self.label.clone(),
                stage: Stage::Sftp,
                reason: e,
            };
            let ch = self
                .handle
                .channel_open_session()
                .await
                .map_err(|e| proto(e.to_string()))?;
            ch.request_subsystem(true, "sftp")
                .await
                .map_err(|e| proto(e.to_string()))?;
            let s = SftpSession::new(ch.into_stream())
                .await
                .map_err(|e| proto(e.to_string()))?;
            Ok(Sftp {
                session: s,
                owner: self,
            })
        };
        tokio::time::timeout(t, fut)
            .await
            .map_err(|_| timeout_err(&self.label, Stage::Sftp, t, "opening the SFTP subsystem"))?
    }

    /// Closes the connection politely.
    pub async fn close(self) {
        let _ = self
            .handle
            .disconnect(russh::Disconnect::ByApplication, "bye", "en")
            .await;
    }
}

fn handshake_error(
    label: &str,
    policy: &HostKeyPolicy,
    presented: &Arc<Mutex<Option<String>>>,
    e: russh::Error,
) -> SshError {
    let fp = presented.lock().ok().and_then(|p| p.clone());
    if let (russh::Error::UnknownKey, Some(presented)) = (&e, fp) {
        return match policy {
            HostKeyPolicy::Pinned(stored) => SshError::HostKeyChanged {
                label: label.to_string(),
                stored: stored.clone(),
                presented,
            },
            _ => SshError::UnknownHostKey {
                label: label.to_string(),
                presented,
            },
        };
    }
    SshError::Protocol {
        label: label.to_string(),
        stage: Stage::Handshake,
        reason: e.to_string(),
    }
}

async fn resolve(label: &str, host: &str, port: u16) -> Result<SocketAddr, SshError> {
    let host_only = host.trim_start_matches('[').trim_end_matches(']');
    let mut addrs = tokio::net::lookup_host((host_only, port))
        .await
        .map_err(|e| SshError::Dns {
            label: label.to_string(),
            host: host.to_string(),
            reason: e.to_string(),
        })?;
    addrs.next().ok_or_else(|| SshError::Dns {
        label: label.to_string(),
        host: host.to_string(),
        reason: "no address".into(),
    })
}

/// Metadata of a remote file.
#[derive(Debug, Clone, Copy, Default)]
pub struct RemoteStat {
    /// Size in bytes.
    pub size: u64,
    /// Permission bits (lower 12 bits).
    pub mode: u32,
    /// Owner uid.
    pub uid: u32,
    /// Group gid.
    pub gid: u32,
    /// Whether it is a directory.
    pub is_dir: bool,
}

/// What [`Sftp::read_bounded`] found.
#[derive(Debug)]
pub enum Bounded {
    /// The whole file, at most the limit.
    Data(Vec<u8>),
    /// The file holds more than the limit (by its size or by what was read): not returned.
    TooLarge,
    /// Not a regular file (its type: "FIFO", "character device"…): neither opened nor read.
    NotRegular(&'static str),
}

/// The type of a non-regular file, `None` for a regular one. A reply without a type (no
/// permissions attribute) is not taken for a regular file.
fn not_regular(st: &russh_sftp::client::fs::Metadata) -> Option<&'static str> {
    match st.permissions.map(|p| p & 0o170_000) {
        Some(0o100_000) => None,
        Some(0o010_000) => Some("FIFO"),
        Some(0o020_000) => Some("character device"),
        Some(0o040_000) => Some("directory"),
        Some(0o060_000) => Some("block device"),
        Some(0o120_000) => Some("symbolic link"),
        Some(0o140_000) => Some("socket"),
        Some(_) => Some("unknown file type"),
        None => Some("no file type reported"),
    }
}

/// An SFTP session bound to its connection's label and timeouts.
pub struct Sftp<'a> {
    session: SftpSession,
    owner: &'a SshSession,
}

impl Sftp<'_> {
    fn err(&self, op: &'static str, path: &str, e: impl std::fmt::Display) -> SshError {
        SshError::Sftp {
            label: self.owner.label.clone(),
            op,
            path: path.to_string(),
            reason: e.to_string(),
        }
    }

    async fn timed<T>(
        &self,
        op: &'static str,
        path: &str,
        f: impl std::future::Future<Output = Result<T, SshError>>,
    ) -> Result<T, SshError> {
        let t = self.owner.timeouts.command;
        tokio::time::timeout(t, f)
            .await
            .map_err(|_| timeout_err(&self.owner.label, Stage::Sftp, t, &format!("{op} {path}")))?
    }

    /// Reads a whole regular file of at most `max` bytes: `Ok(None)` when it holds more. Anything
    /// else (a FIFO, a device such as `/dev/zero`, a socket, a directory) is refused with an
    /// error naming its type. See [`Sftp::read_bounded`].
    pub async fn read(&self, path: &str, max: u64) -> Result<Option<Vec<u8>>, SshError> {
        match self.read_bounded(path, max).await? {
            Bounded::Data(d) => Ok(Some(d)),
            Bounded::TooLarge => Ok(None),
            Bounded::NotRegular(kind) => Err(self.err(
                "read",
                path,
                format!("not a regular file ({kind}); only regular files are read"),
            )),
        }
    }

    /// Reads a regular file through a bounded reader: never more than `max + 1` bytes whatever
    /// the size the server reports (a server may lie, a file may grow), and only after `stat`
    /// (following symlinks) and `fstat` of the opened handle both say it is a regular file, so a
    /// FIFO is never opened and a device never read.
    pub async fn read_bounded(&self, path: &str, max: u64) -> Result<Bounded, SshError> {
        use tokio::io::AsyncReadExt;
        self.timed("read", path, async {
            let st = self
                .session
                .metadata(path)
                .await
                .map_err(|e| self.err("stat", path, e))?;
            if let Some(kind) = not_regular(&st) {
                return Ok(Bounded::NotRegular(kind));
            }
            if st.size.unwrap_or(0) > max {
                return Ok(Bounded::TooLarge);
            }
            let file = self.session.open(path).await.map_err(|e| self.err("open", path, e))?;
            // The path may have been swapped between the stat and the open.
            let st = file.metadata().await.map_err(|e| self.err("fstat", path, e))?;
            if let Some(kind) = not_regular(&st) {
                return Ok(Bounded::NotRegular(kind));
            }
            let mut data = Vec::new();
            let mut limited = file.take(max.saturating_add(1));
            limited
                .read_to_end(&mut data)
                .await
                .map_err(|e| self.err("read", path, e))?;
            let _ = limited.into_inner().close().await;
            if data.len() as u64 > max {
                return Ok(Bounded::TooLarge);
            }
            Ok(Bounded::Data(data))
        })
        .await
    }

    /// Metadata of `path` (following symlinks), `None` when it does not exist.
    pub async fn stat(&self, path: &str) -> Result<Option<RemoteStat>, SshError> {
        self.timed("stat", path, async {
            match self.session.metadata(path).await {
                Ok(m) => Ok(Some(RemoteStat {
                    size: m.size.unwrap_or(0),
                    mode: m.permissions.unwrap_or(0) & 0o7777,
                    uid: m.uid.unwrap_or(0),
                    gid: m.gid.unwrap_or(0),
                    is_dir: m.is_dir(),
                })),
                Err(russh_sftp::client::error::Error::Status(s))
                    if s.status_code == russh_sftp::protocol::StatusCode::NoSuchFile =>
                {
                    Ok(None)
                }
                Err(e) => Err(self.err("stat", path, e)),
            }
        })
        .await
    }

    /// Names in a directory (no `.`/`..`), sorted; at most [`DIR_ENTRIES_MAX`] of them, else
    /// [`SshError::Limit`] naming the directory.
    ///
    /// `SftpSession::read_dir` collects a whole listing (quadratically) before it returns, so
    /// listings go through a raw SFTP session on a channel of their own, read batch by batch.
    pub async fn list(&self, dir: &str) -> Result<Vec<String>, SshError> {
        self.timed("list", dir, async {
            let ch = self
                .owner
                .handle
                .channel_open_session()
                .await
                .map_err(|e| self.err("list", dir, e))?;
            ch.request_subsystem(true, "sftp")
                .await
                .map_err(|e| self.err("list", dir, e))?;
            let raw = russh_sftp::client::RawSftpSession::new(ch.into_stream());
            raw.init().await.map_err(|e| self.err("list", dir, e))?;
            let handle = raw.opendir(dir).await.map_err(|e| self.err("list", dir, e))?.handle;
            let mut names: Vec<String> = Vec::new();
            let result = loop {
                match raw.readdir(handle.as_str()).await {
                    Ok(batch) => {
                        names.extend(
                            batch
                                .files
                                .into_iter()
                                .map(|f| f.filename)
                                .filter(|n| n != "." && n != ".."),
                        );
                        if names.len() > DIR_ENTRIES_MAX {
                            break Err(SshError::Limit {
                                label: self.owner.label.clone(),
                                stage: Stage::Sftp,
                                what: format!(
                                    "directory {dir} holds more than {DIR_ENTRIES_MAX} entries, the limit of a listing \
                                     (DIR_ENTRIES_MAX); stopped reading it"
                                ),
                            });
                        }
                    }
                    Err(russh_sftp::client::error::Error::Status(st))
                        if st.status_code == russh_sftp::protocol::StatusCode::Eof =>
                    {
                        break Ok(());
                    }
                    Err(e) => break Err(self.err("list", dir, e)),
                }
            };
            let _ = raw.close(handle).await;
            result?;
            names.sort();
            Ok(names)
        })
        .await
    }

    /// Writes `data` to `path` (created or truncated) with permission bits `mode` from creation.
    pub async fn write(&self, path: &str, data: &[u8], mode: u32) -> Result<(), SshError> {
        self.timed("write", path, async {
            let attrs = FileAttributes {
                permissions: Some(mode),
                ..FileAttributes::empty()
            };
            let flags = OpenFlags::CREATE | OpenFlags::TRUNCATE | OpenFlags::WRITE;
            let mut f = self
                .session
                .open_with_flags_and_attributes(path, flags, attrs)
                .await
                .map_err(|e| self.err("create", path, e))?;
            f.write_all(data).await.map_err(|e| self.err("write", path, e))?;
            f.shutdown().await.map_err(|e| self.err("close", path, e))?;
            // The umask may have narrowed the mode given at creation: set it exactly.
            let attrs = FileAttributes {
                permissions: Some(mode),
                ..FileAttributes::empty()
            };
            self.session
                .set_metadata(path, attrs)
                .await
                .map_err(|e| self.err("chmod", path, e))?;
            Ok(())
        })
        .await
    }

    /// Removes a file; a missing file is not an error.
    pub async fn remove(&self, path: &str) -> Result<(), SshError> {
        self.timed("remove", path, async {
            match self.session.remove_file(path).await {
                Ok(()) => Ok(()),
                Err(russh_sftp::client::error::Error::Status(s))
                    if s.status_code == russh_sftp::protocol::StatusCode::NoSuchFile =>
                {
                    Ok(())
                }
                Err(e) => Err(self.err("remove", path, e)),
            }
        })
        .await
    }
}

/// Quotes `s` for a POSIX shell.
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "/._-:=@%+,".contains(c)) {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_quote_leaves_plain_paths_and_quotes_the_rest() {
        assert_eq!(shell_quote("/etc/nginx/ssl/a.crt"), "/etc/nginx/ssl/a.crt");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("$(rm -rf /)"), "'$(rm -rf /)'");
    }

    #[test]
    fn targets_share_a_connection_only_when_everything_that_reaches_the_host_is_equal() {
        let t = |host: &str, pw: &str| SshTarget {
            label: format!("{host}-{pw}"),
            host: host.into(),
            port: 22,
            user: "deploy".into(),
            auth: SshAuth::Password(Zeroizing::new(pw.into())),
            host_key: HostKeyPolicy::Pinned("SHA256:x".into()),
            jump: None,
        };
        assert_eq!(
            t("Web1", "a").identity(),
            t("web1", "a").identity(),
            "labels and case do not matter"
        );
        assert_ne!(t("web1", "a").identity(), t("web1", "b").identity());
        assert_ne!(t("web1", "a").identity(), t("web2", "a").identity());
        let mut via = t("web1", "a");
        via.jump = Some(Box::new(t("bastion", "a")));
        assert_ne!(via.identity(), t("web1", "a").identity());
    }

    #[test]
    fn command_output_keeps_only_the_tail_of_each_stream() {
        let mut t = Tail::default();
        t.push(b"head ");
        for _ in 0..(COMMAND_OUTPUT_KEEP / 4) {
            t.push(b"yyy\n");
        }
        t.push(b"the end");
        assert!(t.dropped);
        assert!(t.buf.len() <= COMMAND_OUTPUT_KEEP);
        let text = t.text();
        assert!(
            text.starts_with('…') && text.ends_with("yyy\nthe end"),
            "{}",
            &text[..20]
        );
        assert!(!text.contains("head"));
        // One chunk larger than what is kept.
        let mut t = Tail::default();
        t.push(&vec![b'x'; COMMAND_OUTPUT_KEEP * 2]);
        assert_eq!(t.buf.len(), COMMAND_OUTPUT_KEEP);
        let mut t = Tail::default();
        t.push(b"short");
        assert!(!t.dropped);
        assert_eq!(t.text(), "short");
    }

    #[test]
    fn excerpt_keeps_the_tail() {
        let o = CommandOutput {
            code: 1,
            stdout: String::new(),
            stderr: "line one\nline two\n".into(),
            truncated: false,
        };
        assert_eq!(o.excerpt(100), "line one | line two");
        assert_eq!(o.excerpt(4), "… two");
    }
}
