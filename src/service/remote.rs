//! SSH connections to server entries: secrets decrypted only for the connection, jump chains,
//! host-key trust (fetch, show, accept) and the mapping of SSH failures to task failures.

use std::time::Duration;

use zeroize::Zeroizing;

use super::runner::TaskFailure;
use super::{Actor, Services};
use crate::domain::AuthType;
use crate::engine::ssh::{HostKeyPolicy, SshAuth, SshError, SshSession, SshTarget, SshTimeouts, Stage};
use crate::errors::{ServiceError, ServiceResult};
use crate::store::secrets::SealedColumn;
use crate::store::servers::{self as store, ServerRow};

/// A host key as presented and as stored.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct HostKeyCheck {
    /// Server id.
    pub server_id: i64,
    /// `host:port` reached.
    pub address: String,
    /// Fingerprint the server presents now.
    pub presented: String,
    /// Fingerprint stored (trusted), if any.
    pub stored: Option<String>,
}

impl HostKeyCheck {
    /// Whether the presented key is the trusted one.
    pub fn matches(&self) -> bool {
        self.stored.as_deref() == Some(self.presented.as_str())
    }
}

/// A failure to reach or use a server, kept as the engine's error for its stage.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// The server is not an SSH server entry.
    #[error("{0}")]
    NotSsh(String),
    /// Reading settings failed.
    #[error(transparent)]
    Service(#[from] ServiceError),
    /// SSH failed.
    #[error(transparent)]
    Ssh(#[from] SshError),
}

impl From<RemoteError> for TaskFailure {
    fn from(e: RemoteError) -> Self {
        match &e {
            RemoteError::Ssh(s) => match s.stage() {
                // The network may come back; a wrong key or password will not.
                Stage::Dns | Stage::Tcp | Stage::Handshake => TaskFailure::transient(e.to_string()),
                _ if matches!(s, SshError::Timeout { .. }) => TaskFailure::transient(e.to_string()),
                _ => TaskFailure::permanent(e.to_string()),
            },
            RemoteError::Service(ServiceError::Remote(m)) => TaskFailure::transient(m.clone()),
            _ => TaskFailure::permanent(e.to_string()),
        }
    }
}

impl From<RemoteError> for ServiceError {
    fn from(e: RemoteError) -> Self {
        match e {
            RemoteError::Service(s) => s,
            other => ServiceError::Remote(other.to_string()),
        }
    }
}

/// Label of a server in messages: `name (host:port)` or `host:port`.
pub fn server_label(s: &ServerRow) -> String {
    match s.name.as_deref().filter(|n| !n.is_empty()) {
        Some(n) => format!("server {} {n} ({}:{})", s.id, s.hostname, s.port),
        None => format!("server {} {}:{}", s.id, s.hostname, s.port),
    }
}

fn env_secs(name: &str, default: u64) -> Duration {
    Duration::from_secs(
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .filter(|v| *v > 0)
            .unwrap_or(default),
    )
}

/// SSH timeouts: `CERTDECK_SSH_CONNECT_TIMEOUT`, `CERTDECK_SSH_AUTH_TIMEOUT`,
/// `CERTDECK_SSH_COMMAND_TIMEOUT` (seconds) override 10 / 15 / 60.
pub fn ssh_timeouts() -> SshTimeouts {
    SshTimeouts {
        connect: env_secs("CERTDECK_SSH_CONNECT_TIMEOUT", 10),
        auth: env_secs("CERTDECK_SSH_AUTH_TIMEOUT", 15),
        command: env_secs("CERTDECK_SSH_COMMAND_TIMEOUT", 60),
    }
}

impl Services {
    /// The connection chain of a server (jump servers first), with secrets decrypted.
    pub(crate) async fn ssh_target(
        &self,
        server: &ServerRow,
        policy_override: Option<HostKeyPolicy>,
    ) -> Result<SshTarget, RemoteError> {
        let mut chain = vec![server.clone()];
        while let Some(j) = chain.last().and_then(|s| s.jump_server_id) {
            if chain.len() > 5 {
                return Err(RemoteError::NotSsh(format!(
                    "{}: more than 4 jump hops",
                    server_label(server)
                )));
            }
            let row = store::get_server(self.db(), j)
                .await
                .map_err(ServiceError::from)?
                .ok_or_else(|| {
                    RemoteError::NotSsh(format!("{}: jump server {j} no longer exists", server_label(server)))
                })?;
            chain.push(row);
        }
        let mut target: Option<SshTarget> = None;
        for (i, s) in chain.iter().enumerate().rev() {
            let policy = match (&policy_override, i) {
                (Some(p), 0) => p.clone(),
                _ => match &s.host_key_fingerprint {
                    Some(fp) => HostKeyPolicy::Pinned(fp.clone()),
                    None => HostKeyPolicy::Unknown,
                },
            };
            let t = SshTarget {
                label: server_label(s),
                host: s.hostname.clone(),
                port: u16::try_from(s.port).unwrap_or(22),
                user: s.username.clone().unwrap_or_else(|| "root".into()),
                auth: self.ssh_auth(s).await?,
                host_key: policy,
                jump: target.take().map(Box::new),
            };
            target = Some(t);
        }
        target.ok_or_else(|| RemoteError::NotSsh("empty jump chain".into()))
    }

    async fn ssh_auth(&self, s: &ServerRow) -> Result<SshAuth, RemoteError> {
        let secrets = store::get_server_secrets(self.db(), s.id)
            .await
            .map_err(ServiceError::from)?
            .ok_or_else(|| ServiceError::not_found("server", s.id))?;
        let open = |col: SealedColumn, v: &Option<String>| -> Result<Option<Zeroizing<String>>, RemoteError> {
            match v {
                Some(sealed) => Ok(Some(self.open_at(col, s.id, sealed).map_err(|e| {
                    ServiceError::Internal(format!("cannot decrypt a secret of {}: {e}", server_label(s)))
                })?)),
                None => Ok(None),
            }
        };
        match s.auth_type {
            AuthType::Token => Err(RemoteError::NotSsh(format!(
                "{} uses auth type token: it is reserved for the pull agent and is not reached over SSH \
                 (its facts, sites and deployments come through `certdeck agent run` on it)",
                server_label(s)
            ))),
            AuthType::Password => {
                let p = open(SealedColumn::ServerPassword, &secrets.password_encrypted)?
                    .ok_or_else(|| RemoteError::NotSsh(format!("{}: no password stored", server_label(s))))?;
                Ok(SshAuth::Password(p))
            }
            AuthType::Key => match open(SealedColumn::ServerPrivateKey, &secrets.private_key_encrypted)? {
                Some(pem) => Ok(SshAuth::Key {
                    pem,
                    passphrase: open(SealedColumn::ServerKeyPassphrase, &secrets.key_passphrase_encrypted)?,
                }),
                // The ssh-agent of this process belongs to whoever runs it (the daemon, an
                // admin's console): only for servers whose owner may use the host's credentials.
                None if self.host_credentials_allowed(s.user_id).await? => Ok(SshAuth::Agent),
                None => Err(RemoteError::NotSsh(format!(
                    "{} has no stored key and would authenticate with the ssh-agent of the certdeck host, which only \
                     admins (and users an admin lists in the setting {}) may use: store its key \
                     (`certdeck server update {} --key-stdin < KEY_FILE`)",
                    server_label(s),
                    super::servers::HOST_CREDENTIALS_SETTING,
                    s.id
                ))),
            },
        }
    }

    /// Connects to a server with its trusted host key and authenticates.
    pub async fn ssh_connect(&self, server: &ServerRow) -> Result<SshSession, RemoteError> {
        let target = self.ssh_target(server, None).await?;
        Ok(SshSession::connect(&target, ssh_timeouts()).await?)
    }

    /// Fetches the host key a server presents now (no authentication), with the stored one.
    pub async fn server_host_key(&self, actor: &Actor, id: i64) -> ServiceResult<HostKeyCheck> {
        actor.require_write("server.host_key")?;
        let s = self.server_get(actor, id).await?;
        let target = self.ssh_target(&s, Some(HostKeyPolicy::FetchOnly)).await?;
        let session = SshSession::connect(&target, ssh_timeouts())
            .await
            .map_err(|e| ServiceError::Remote(e.to_string()))?;
        let presented = session.host_key_fingerprint().to_string();
        session.close().await;
        Ok(HostKeyCheck {
            server_id: id,
            address: format!("{}:{}", s.hostname, s.port),
            presented,
            stored: s.host_key_fingerprint,
        })
    }

    /// Trusts exactly the host key `expected` (the fingerprint the operator was shown and
    /// confirmed, or checked out of band), and only if the server presents that key now; stored
    /// and audited. There is no way to trust an unseen key: a key that changed since it was
    /// shown is refused and nothing is stored.
    pub async fn server_trust_host_key(&self, actor: &Actor, id: i64, expected: &str) -> ServiceResult<HostKeyCheck> {
        actor.require_not_api("trust host keys")?;
        let want = expected.trim();
        if want.is_empty() {
            return Err(ServiceError::invalid(
                "fingerprint",
                "say which key to trust: the SHA256:… fingerprint you were shown",
            ));
        }
        let want = if want.starts_with("SHA256:") {
            want.to_string()
        } else {
            format!("SHA256:{want}")
        };
        let want = want.trim_end_matches('=').to_string();
        let check = self.server_host_key(actor, id).await?;
        if want != check.presented {
            return Err(ServiceError::Conflict(format!(
                "the server presents {} but you confirmed {want}: not trusted (if the key changed since it was shown, \
                 someone may be intercepting the connection; check the key on the server)",
                check.presented
            )));
        }
        let mut sets = crate::store::Sets::new();
        sets.set("host_key_fingerprint", crate::store::Arg::Str(check.presented.clone()));
        let audit = self.audit(
            Some(actor),
            "server.trust_host_key",
            "server",
            Some(id),
            serde_json::json!({"previous": check.stored, "fingerprint": check.presented}),
        )?;
        crate::store::audited::update_by_id(self.db(), "servers", id, &sets, &audit).await?;
        Ok(check)
    }
}
