//! The service layer: the only entry for any operation, used alike by the CLI, the console and
//! the scheduler. It validates input with the domain newtypes, authorizes by role and owner,
//! writes an `audit_logs` row for every change (in the change's transaction), and opens secrets
//! only when an operation needs them.

use std::sync::Arc;

use crate::crypto::Keyring;
use crate::domain::UserRole;
use crate::engine::notify::{ChannelNotifier, Notifier};
use crate::engine::probe::{Prober, TlsProber};
use crate::errors::{ServiceError, ServiceResult};
use crate::store::audit::NewAudit;
use crate::store::Db;

pub mod acme;
pub mod acme_migrate;
pub mod agent_http01;
pub mod agent_watch;
pub mod agents;
pub mod audit;
pub mod auth;
pub mod backup;
pub mod bootstrap;
pub mod certificates;
pub mod challenge_poll;
pub mod dashboard;
pub mod deploy;
pub mod discovery;
pub mod hosts;
pub mod key_cache;
pub mod metrics;
pub mod monitor_check;
pub mod monitoring;
pub mod notifications;
pub mod onboarding;
pub mod query;
pub mod remote;
pub mod runner;
pub mod runners;
pub mod schedules;
pub mod schema;
pub mod secrets;
pub mod servers;
pub mod settings;
pub mod sites;
pub mod targets;
pub mod tasks;
pub mod users;
pub mod views;

/// Who is calling: the client's address and user agent, recorded in audit rows and sessions.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    /// Client IP (from `SSH_CLIENT` on a jump host).
    pub ip: Option<String>,
    /// `certdeck/<version> (<TERM>)`.
    pub user_agent: Option<String>,
}

impl ClientInfo {
    /// The client of this process: IP from `SSH_CLIENT`, agent from the version and `TERM`.
    pub fn from_env() -> Self {
        let ip = std::env::var("SSH_CLIENT")
            .ok()
            .and_then(|v| v.split_whitespace().next().map(str::to_string))
            .filter(|ip| ip.parse::<std::net::IpAddr>().is_ok());
        let term = std::env::var("TERM").unwrap_or_else(|_| "unknown".into());
        ClientInfo {
            ip,
            user_agent: Some(format!("certdeck/{} ({term})", env!("CARGO_PKG_VERSION"))),
        }
    }
}

/// An authenticated actor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// User id.
    pub user_id: i64,
    /// Username.
    pub username: String,
    /// Effective role: a user acting through an API key has the `api` role's limits.
    pub role: UserRole,
    /// The actor may only read: an API key with `read` permissions. False for user sessions,
    /// the local operator and read-write keys. Every write refuses such an actor before it
    /// changes anything (see [`Actor::require_write`] and the audit entry of each write).
    pub read_only: bool,
}

impl Actor {
    /// Whether the actor is an admin.
    pub fn is_admin(&self) -> bool {
        self.role == UserRole::Admin
    }

    /// The owner scope of lists: all rows for an admin, own rows otherwise.
    pub fn scope(&self) -> Option<i64> {
        if self.is_admin() {
            None
        } else {
            Some(self.user_id)
        }
    }

    /// Refuses unless the actor is an admin.
    pub fn require_admin(&self, what: &str) -> ServiceResult<()> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(ServiceError::Forbidden(format!("only an admin may {what}")))
        }
    }

    /// Refuses a read-only actor (an API key with `read` permissions) for a write. `action`
    /// names it the way the audit log does (`server.create`, `channel.test`).
    pub fn require_write(&self, action: &str) -> ServiceResult<()> {
        if self.read_only {
            Err(read_only_refusal(action))
        } else {
            Ok(())
        }
    }

    /// Refuses the api role (scripts) for interactive-only operations.
    pub fn require_not_api(&self, what: &str) -> ServiceResult<()> {
        if self.role == UserRole::Api {
            Err(ServiceError::Forbidden(format!(
                "an API key may not {what}; log in as a user"
            )))
        } else {
            Ok(())
        }
    }
}

/// What background work in this process reports as it happens, for live views.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkerEvent {
    /// A task was queued, progressed, logged or finished.
    Task(i64),
    /// Something else changed (schedules ran, monitors were queued).
    Changed,
}

/// The shared entry point: a database pool, the keyring and the client.
#[derive(Clone)]
pub struct Services {
    db: Db,
    keyring: Arc<Keyring>,
    client: ClientInfo,
    data_dir: Option<std::path::PathBuf>,
    events: tokio::sync::broadcast::Sender<WorkerEvent>,
    prober: Arc<dyn Prober>,
    notifier: Arc<dyn Notifier>,
    key_cache: Arc<key_cache::KeyCache>,
    challenge_poll: Arc<challenge_poll::ChallengePoll>,
}

impl std::fmt::Debug for Services {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Services")
            .field("backend", &self.db.backend())
            .finish_non_exhaustive()
    }
}

impl Services {
    /// Services over an open, migrated database with a verified keyring.
    pub fn new(db: Db, keyring: Keyring, client: ClientInfo) -> Self {
        Services {
            db,
            keyring: Arc::new(keyring),
            client,
            data_dir: None,
            events: tokio::sync::broadcast::channel(256).0,
            prober: Arc::new(TlsProber::new()),
            notifier: Arc::new(ChannelNotifier),
            key_cache: Arc::default(),
            challenge_poll: Arc::default(),
        }
    }

    /// The same services, probing TLS endpoints through `prober` (a fake in tests). Clones
    /// share it, and with it its verifier cache.
    pub fn with_prober(mut self, prober: Arc<dyn Prober>) -> Self {
        self.prober = prober;
        self
    }

    /// The same services, delivering notifications through `notifier` (a fake in tests).
    pub fn with_notifier(mut self, notifier: Arc<dyn Notifier>) -> Self {
        self.notifier = notifier;
        self
    }

    /// The same services acting for another client (its address and user agent go into the
    /// audit rows and sessions it writes): the HTTP API makes one per request.
    pub fn for_client(&self, client: ClientInfo) -> Services {
        let mut s = self.clone();
        s.client = client;
        s
    }

    /// The TLS prober monitors run through.
    pub(crate) fn prober(&self) -> &dyn Prober {
        self.prober.as_ref()
    }

    /// The notifier the outbox and channel tests send through.
    pub(crate) fn notifier(&self) -> &dyn Notifier {
        self.notifier.as_ref()
    }

    /// Live events of background work in this process (the console's in-process bus).
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<WorkerEvent> {
        self.events.subscribe()
    }

    /// Publishes an event; nobody listening is fine.
    pub(crate) fn publish(&self, ev: WorkerEvent) {
        let _ = self.events.send(ev);
    }

    /// The same services, knowing this host's data dir (default place for backups).
    pub fn with_data_dir(mut self, dir: std::path::PathBuf) -> Self {
        self.data_dir = Some(dir);
        self
    }

    /// This host's data dir, when the face gave it.
    pub fn data_dir(&self) -> Option<&std::path::Path> {
        self.data_dir.as_deref()
    }

    /// The database: for the service's own modules only (faces go through operations).
    #[cfg(not(feature = "testkit"))]
    pub(crate) fn db(&self) -> &Db {
        &self.db
    }

    /// The database, open to integration tests (the `testkit` feature, never in a release
    /// build) so they can check rows behind the service's back.
    #[cfg(feature = "testkit")]
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The keyring.
    pub fn keyring(&self) -> &Keyring {
        &self.keyring
    }

    /// The keyring, shared (for sealing that happens later, e.g. once a new row has its id).
    pub(crate) fn keyring_arc(&self) -> Arc<Keyring> {
        Arc::clone(&self.keyring)
    }

    /// The audit entry of a write by `actor` (None = the system), and the write gate: a
    /// read-only actor is refused here, so build the entry before changing anything.
    pub(crate) fn audit(
        &self,
        actor: Option<&Actor>,
        action: &str,
        resource_type: &str,
        resource_id: Option<i64>,
        details: serde_json::Value,
    ) -> ServiceResult<NewAudit> {
        if let Some(a) = actor {
            a.require_write(action)?;
        }
        Ok(self.audit_read(actor, action, resource_type, resource_id, details))
    }

    /// The audit entry of an audited read (exporting a private key, revealing a channel's
    /// secrets): no write gate, a read-only actor may do it if the operation allows it.
    pub(crate) fn audit_read(
        &self,
        actor: Option<&Actor>,
        action: &str,
        resource_type: &str,
        resource_id: Option<i64>,
        details: serde_json::Value,
    ) -> NewAudit {
        NewAudit {
            user_id: actor.map(|a| a.user_id),
            action: action.to_string(),
            resource_type: Some(resource_type.to_string()),
            resource_id,
            details: Some(details),
            ip_address: self.client.ip.clone(),
            user_agent: self.client.user_agent.clone(),
        }
    }
}

/// The refusal of a write by a read-only API key.
fn read_only_refusal(action: &str) -> ServiceError {
    ServiceError::Forbidden(format!(
        "this API key is read-only: {action} is a write and needs a read-write key or a user session; \
         nothing was changed"
    ))
}

/// Refuses everyone but an admin session (`Some(admin)`) and the local operator (`None`: no
/// session and no API key, whose authority is access to the database and its master key) for a
/// destructive operation. API keys and user sessions get a specific error; nothing is changed.
pub fn require_operator(actor: Option<&Actor>, what: &str) -> ServiceResult<()> {
    match actor {
        None => Ok(()),
        Some(a) if a.role == UserRole::Api => Err(ServiceError::Forbidden(format!(
            "an API key may not {what}: it needs an admin session (`certdeck login`), or the local operator \
             with no session and no CERTDECK_API_KEY; nothing was changed"
        ))),
        Some(a) if !a.is_admin() => Err(ServiceError::Forbidden(format!(
            "only an admin may {what} ({} has role {}); nothing was changed",
            a.username, a.role
        ))),
        Some(_) => Ok(()),
    }
}

/// Refuses access to a row owned by `owner` unless the actor owns it or is an admin. Rows the
/// actor may not see are reported as not found, so ids of others' rows leak nothing.
pub(crate) fn ensure_owner(actor: &Actor, owner: i64, resource: &'static str, id: i64) -> ServiceResult<()> {
    if actor.is_admin() || actor.user_id == owner {
        Ok(())
    } else {
        Err(ServiceError::not_found(resource, id))
    }
}

/// Refuses linking rows of two different owners.
pub(crate) fn ensure_same_owner(a_owner: i64, b_owner: i64, what: &str) -> ServiceResult<()> {
    if a_owner == b_owner {
        Ok(())
    } else {
        Err(ServiceError::Forbidden(format!(
            "{what}: both must belong to the same user"
        )))
    }
}

/// Maps a domain parse error to a validation error of `field`.
pub(crate) fn field<T>(name: &str, r: Result<T, String>) -> ServiceResult<T> {
    r.map_err(|reason| ServiceError::invalid(name, reason))
}

/// Trims an optional text and turns empty into None, checking its length.
pub(crate) fn opt_text(name: &str, v: Option<&str>, max: usize) -> ServiceResult<Option<String>> {
    match v.map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) => {
            crate::domain::check_len(name, s, max)?;
            Ok(Some(s.to_string()))
        }
        None => Ok(None),
    }
}
