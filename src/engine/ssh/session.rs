//! An authenticated SSH connection: the jump chain, host-key check, authentication, commands
//! with timeouts and output bounds, and opening SFTP.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use russh::client::{self, Handle};
use russh::keys::{HashAlg, PrivateKeyWithHashAlg, PublicKeyOrCertificate};
use russh::ChannelMsg;
use tokio::io::AsyncWriteExt;

use super::command::Tail;
use super::{CommandOutput, HostKeyPolicy, SshAuth, SshError, SshTarget, SshTimeouts, Stage, COMMAND_OUTPUT_MAX};

/// SHA256 fingerprint of a host key, as `ssh-keygen -l` prints it.
pub fn fingerprint(key: &PublicKeyOrCertificate) -> String {
    match key {
        PublicKeyOrCertificate::PublicKey { key, .. } => key.fingerprint(HashAlg::Sha256).to_string(),
        PublicKeyOrCertificate::Certificate(c) => c.public_key().fingerprint(HashAlg::Sha256).to_string(),
    }
}

pub(super) struct Checker {
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
    pub(super) label: String,
    pub(super) handle: Handle<Checker>,
    presented: String,
    pub(super) timeouts: SshTimeouts,
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

pub(super) fn timeout_err(label: &str, stage: Stage, d: Duration, what: &str) -> SshError {
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
