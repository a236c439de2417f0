//! The pull agent's side of the service: its token (shown once, rotated), its authentication
//! (a token authorizes exactly its server), its check-ins, the deployments it installs (the
//! certificate and key of those only), its reports, and the http-01 challenge files it places.
//!
//! Every agent action that reads a secret or changes a row is audited as the server's owner
//! with the agent's source address; a plain check-in is recorded on `server_agents` (time,
//! address, version) and audited only when its address or version changes.

use std::time::Duration;

use serde_json::json;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::hosts::{key_path_of, privileged, server_commands, verify_target};
use super::remote::server_label;
use super::{Actor, Services};
use crate::domain::agent_wire::{
    compose_token, parse_token, AgentChallenge, AgentDeployment, AgentMaterial, AgentServer, AgentWork,
    ChallengeReport, Checkin, DeployReport, INTERVAL_RANGE, MAX_CHALLENGE_WAIT_SECS,
};
use crate::domain::{AuthType, CertificateStatus, DeploymentStatus, ServerStatus};
use crate::errors::{ServiceError, ServiceResult};
use crate::store::agents as store;
use crate::store::audit::NewAudit;
use crate::store::certificates as certs;
use crate::store::discovery::ProbeFacts;
use crate::store::secrets::SealedColumn;
use crate::store::servers::{self as servers, ServerRow};
use crate::store::Sets;

/// The `servers.token_encrypted` column's size.
const TOKEN_COLUMN: usize = 255;

/// An authenticated agent: the token server it speaks for.
#[derive(Debug, Clone)]
pub struct AgentPrincipal {
    /// The server (as read when the token was checked).
    pub server: ServerRow,
    /// The agent version of its last check-in.
    pub prior_version: Option<String>,
    /// The source address of its last check-in.
    pub prior_address: Option<String>,
}

/// A server's agent token, as shown to its owner (once).
pub struct AgentToken {
    /// The server.
    pub server_id: i64,
    /// `cdt_<server id>_<secret>`.
    pub token: Zeroizing<String>,
    /// A new token was made (the old one, if any, is refused from now on).
    pub rotated: bool,
}

impl std::fmt::Debug for AgentToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentToken")
            .field("server_id", &self.server_id)
            .field("rotated", &self.rotated)
            .finish_non_exhaustive()
    }
}

/// The answer to any token that does not authorize (one message: no oracle for which part failed).
fn refused() -> ServiceError {
    ServiceError::Unauthenticated(
        "the agent token is not valid: it was rotated, the server was deleted or is no longer a token server \
         (certdeck server token ID --rotate, then certdeck agent enroll again)"
            .into(),
    )
}

/// A deployment of another server, or none: the same 404 as a missing one.
fn not_this_servers(id: i64) -> ServiceError {
    ServiceError::not_found("deployment", id)
}

impl Services {
    /// Shows a token server's agent token — once: a second show is refused until the token is
    /// rotated (`rotate`), which makes a new one and refuses the old one from that moment. A
    /// token server without a token gets one.
    pub async fn server_token(&self, actor: &Actor, server_id: i64, rotate: bool) -> ServiceResult<AgentToken> {
        let server = self.server_get(actor, server_id).await?;
        if server.auth_type != AuthType::Token {
            return Err(ServiceError::invalid(
                "server",
                format!(
                    "server {server_id} uses auth type {}: only a token server has an agent token \
                     (certdeck server edit {server_id} --auth-type token)",
                    server.auth_type
                ),
            ));
        }
        if rotate || !server.has_token {
            actor.require_write("server.token_rotate")?;
            let secret = Zeroizing::new(crate::crypto::token::generate_token());
            let sealed = self.seal_at(
                SealedColumn::ServerToken,
                server_id,
                "token",
                secret.as_bytes(),
                TOKEN_COLUMN,
            )?;
            let audit = self.audit(
                Some(actor),
                "server.token_rotate",
                "server",
                Some(server_id),
                json!({"had_token": server.has_token}),
            )?;
            let mut sets = Sets::new();
            sets.set("token_encrypted", crate::store::Arg::Str(sealed));
            if !crate::store::audited::update_by_id(self.db(), "servers", server_id, &sets, &audit).await? {
                return Err(ServiceError::not_found("server", server_id));
            }
            store::set_token_shown(self.db(), server_id, true).await?;
            return Ok(AgentToken {
                server_id,
                token: Zeroizing::new(compose_token(server_id, &secret)),
                rotated: true,
            });
        }
        if !store::claim_token_display(self.db(), server_id).await? {
            let when = store::get(self.db(), server_id)
                .await?
                .and_then(|a| a.token_shown_at)
                .map(|t| format!(" on {}", t.format("%Y-%m-%d %H:%M UTC")))
                .unwrap_or_default();
            return Err(ServiceError::Conflict(format!(
                "the agent token of server {server_id} was already shown{when}: it is shown once; \
                 rotate it for a new one (certdeck server token {server_id} --rotate; the old one stops working at once)"
            )));
        }
        let secret = self
            .open_server_token(server_id)
            .await?
            .ok_or_else(|| ServiceError::Conflict(format!("server {server_id} has no token: rotate to make one")))?;
        let audit = self.audit_read(Some(actor), "server.token_show", "server", Some(server_id), json!({}));
        crate::store::audit::insert(self.db(), &audit).await?;
        Ok(AgentToken {
            server_id,
            token: Zeroizing::new(compose_token(server_id, &secret)),
            rotated: false,
        })
    }

    /// The server's token secret, opened.
    async fn open_server_token(&self, server_id: i64) -> ServiceResult<Option<Zeroizing<String>>> {
        let Some(sealed) = servers::get_server_secrets(self.db(), server_id)
            .await?
            .and_then(|s| s.token_encrypted)
        else {
            return Ok(None);
        };
        let plain = self
            .keyring()
            .open_string(&SealedColumn::ServerToken.place(server_id), &sealed)
            .map_err(|e| ServiceError::Internal(format!("cannot open the token of server {server_id}: {e}")))?;
        Ok(Some(plain))
    }

    /// The server a bearer token authorizes: a token server whose stored token equals it
    /// (compared in constant time). Checked on every request, so a rotated token is refused at once.
    pub async fn authenticate_agent(&self, credential: &str) -> ServiceResult<AgentPrincipal> {
        let (id, secret) = parse_token(credential).ok_or_else(refused)?;
        let row = store::auth_row(self.db(), id).await?.ok_or_else(refused)?;
        if row.server.auth_type != AuthType::Token {
            return Err(refused());
        }
        let sealed = row.token_encrypted.ok_or_else(refused)?;
        let stored = self
            .keyring()
            .open_string(&SealedColumn::ServerToken.place(id), &sealed)
            .map_err(|e| ServiceError::Internal(format!("cannot open the token of server {id}: {e}")))?;
        let same: bool = stored.as_bytes().ct_eq(secret.as_bytes()).into();
        if !same {
            return Err(refused());
        }
        Ok(AgentPrincipal {
            server: row.server,
            prior_version: row.prior_version,
            prior_address: row.prior_address,
        })
    }

    /// An audit entry of an agent action: the server's owner, the agent's address.
    fn agent_audit(&self, p: &AgentPrincipal, action: &str, details: serde_json::Value) -> NewAudit {
        let mut a = self.audit_read(None, action, "server", Some(p.server.id), details);
        a.user_id = Some(p.server.user_id);
        a
    }

    /// A check-in: records the agent (version, interval, address) and the host facts, marks the
    /// server active, and answers with the server entry and its waiting work.
    pub async fn agent_checkin(&self, p: &AgentPrincipal, c: &Checkin) -> ServiceResult<AgentWork> {
        let version = c.agent_version.trim();
        if version.is_empty() || version.len() > 50 {
            return Err(ServiceError::invalid("agent_version", "must be 1 to 50 characters"));
        }
        if !INTERVAL_RANGE.contains(&c.interval_seconds) {
            return Err(ServiceError::invalid(
                "interval_seconds",
                format!("must be {} to {} seconds", INTERVAL_RANGE.start(), INTERVAL_RANGE.end()),
            ));
        }
        let clip = |s: &Option<String>| s.as_deref().map(|v| v.chars().take(50).collect::<String>());
        let sid = p.server.id;
        let address = self.client.ip.clone();
        let facts = ProbeFacts {
            os_type: clip(&c.os_type),
            os_version: clip(&c.os_version),
            web_server_version: clip(&c.web_server_version),
            server_type: c.server_type,
        };
        // A server the operator set inactive stays so; any other turns active.
        let status = if p.server.status == ServerStatus::Inactive {
            ServerStatus::Inactive
        } else {
            ServerStatus::Active
        };
        store::checkin(
            self.db(),
            sid,
            version,
            c.interval_seconds,
            address.as_deref(),
            status,
            &facts,
        )
        .await?;
        let changed = p.prior_version.as_deref() != Some(version) || p.prior_address.as_deref() != address.as_deref();
        if changed {
            let audit = self.agent_audit(
                p,
                "agent.checkin",
                json!({"agent_version": version, "interval_seconds": c.interval_seconds,
                       "previous_version": p.prior_version, "previous_address": p.prior_address}),
            );
            crate::store::audit::insert(self.db(), &audit).await?;
        }
        let mut server = p.server.clone();
        if let Some(t) = c.server_type {
            server.server_type = t;
        }
        self.agent_work(&server).await
    }

    /// The server entry and the work waiting for its agent.
    async fn agent_work(&self, server: &ServerRow) -> ServiceResult<AgentWork> {
        let cmds = server_commands(server);
        let mut deployments = Vec::new();
        for d in certs::list_deployments(self.db(), None, Some(server.id)).await? {
            if d.status != DeploymentStatus::Pending {
                continue;
            }
            let Some(cert) = certs::get(self.db(), d.certificate_id).await? else {
                continue;
            };
            if cert.status != CertificateStatus::Issued {
                continue;
            }
            let (host, port, sni) = verify_target(&d, server, &cert.main_domain);
            // Verified on the agent's own host unless the deployment names where.
            let host = if d.verify_host.is_some() {
                host
            } else {
                "127.0.0.1".into()
            };
            deployments.push(AgentDeployment {
                id: d.id,
                certificate_id: d.certificate_id,
                domain: cert.main_domain.clone(),
                cert_path: d.deploy_path.clone(),
                key_path: key_path_of(&d),
                verify_host: host,
                verify_port: port,
                verify_sni: sni,
                deployed_serial: d.deployed_serial.clone(),
            });
        }
        let challenges = store::pending_challenges(self.db(), server.id)
            .await?
            .into_iter()
            .map(challenge_wire)
            .collect();
        Ok(AgentWork {
            server: AgentServer {
                id: server.id,
                label: server_label(server),
                server_type: server.server_type,
                config_root: server.config_root.clone(),
                test_command: cmds.test.map(|c| privileged(server, &c)),
                reload_command: cmds.reload.map(|c| privileged(server, &c)),
            },
            deployments,
            challenges,
        })
    }

    /// The agent's discovery: the host facts and what its web server's config holds, checked
    /// against the discovery bounds (an agent is untrusted input) and stored as an SSH check
    /// stores its own.
    pub async fn agent_discovery(
        &self,
        p: &AgentPrincipal,
        facts: &crate::engine::discover::HostFacts,
        d: &crate::engine::discover::Discovery,
    ) -> ServiceResult<()> {
        if let Some(c) = d
            .configs
            .iter()
            .find(|c| c.config_type == crate::domain::ConfigType::System)
        {
            return Err(ServiceError::invalid(
                "discovery",
                format!(
                    "{}: an agent reports web server configs only (system files come from an SSH check)",
                    c.path
                ),
            ));
        }
        let server = servers::get_server(self.db(), p.server.id).await?.ok_or_else(refused)?;
        self.store_discovery(&server, facts, Some(d), Vec::new()).await?;
        let audit = self.agent_audit(
            p,
            "agent.discovery",
            json!({"configs": d.configs.len(), "sites": d.sites.len(), "warnings": d.warnings.len()}),
        );
        crate::store::audit::insert(self.db(), &audit).await?;
        Ok(())
    }

    /// The certificate and key of one deployment of the agent's server (another server's, or a
    /// missing one: 404). Audited: it reads a private key.
    pub async fn agent_material(&self, p: &AgentPrincipal, deployment_id: i64) -> ServiceResult<AgentMaterial> {
        let d = certs::get_deployment(self.db(), deployment_id)
            .await?
            .filter(|d| d.server_id == p.server.id)
            .ok_or_else(|| not_this_servers(deployment_id))?;
        let (m, _) = self.deploy_material(d.certificate_id).await.map_err(|e| match e {
            super::runner::TaskFailure::Permanent(m) | super::runner::TaskFailure::Transient { message: m, .. } => {
                ServiceError::Conflict(m)
            }
            super::runner::TaskFailure::Stopped => ServiceError::Conflict("stopped".into()),
        })?;
        let audit = self.agent_audit(
            p,
            "agent.material",
            json!({"deployment_id": d.id, "certificate_id": d.certificate_id, "serial": m.serial}),
        );
        crate::store::audit::insert(self.db(), &audit).await?;
        let key_pem = String::from_utf8(m.key.to_vec())
            .map_err(|_| ServiceError::Internal("the stored private key is not PEM text".into()))?;
        Ok(AgentMaterial {
            deployment_id: d.id,
            serial: m.serial,
            fullchain_pem: String::from_utf8_lossy(&m.fullchain).into_owned(),
            key_pem,
        })
    }

    /// The agent's report of one install: the deployment turns `deployed` (with the serial) or
    /// `failed` (with the reason), and a failure fires the certificate's `certificate_error` rules.
    pub async fn agent_report(&self, p: &AgentPrincipal, deployment_id: i64, r: &DeployReport) -> ServiceResult<()> {
        let d = certs::get_deployment(self.db(), deployment_id)
            .await?
            .filter(|d| d.server_id == p.server.id)
            .ok_or_else(|| not_this_servers(deployment_id))?;
        let serial = r.serial.trim().to_ascii_lowercase();
        if serial.is_empty() || serial.len() > 100 || !serial.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(ServiceError::invalid(
                "serial",
                "must be the certificate's serial in hex",
            ));
        }
        let error: Option<String> = r.error.as_ref().map(|e| e.chars().take(2000).collect());
        let log: Vec<String> = r.log.iter().take(200).map(|l| l.chars().take(500).collect()).collect();
        let audit = self.agent_audit(
            p,
            "agent.deploy",
            json!({"deployment_id": d.id, "certificate_id": d.certificate_id, "serial": serial,
                   "status": if error.is_none() { "deployed" } else { "failed" },
                   "skipped": r.skipped, "error": error, "log": log}),
        );
        crate::store::audit::insert(self.db(), &audit).await?;
        match &error {
            None => {
                certs::set_deployment_outcome(self.db(), d.id, DeploymentStatus::Deployed, None, Some(&serial)).await?
            }
            Some(e) => {
                let label = server_label(&p.server);
                let msg = format!("{label} (agent): {e}");
                certs::set_deployment_outcome(self.db(), d.id, DeploymentStatus::Failed, Some(&msg), None).await?;
                self.record_task_failure(d.certificate_id, "deploy", &msg).await?;
            }
        }
        Ok(())
    }

    /// The challenge files waiting for the agent, waiting up to `wait` (at most
    /// [`MAX_CHALLENGE_WAIT_SECS`]) for one to appear: the agent's long poll.
    pub async fn agent_challenges(&self, p: &AgentPrincipal, wait: Duration) -> ServiceResult<Vec<AgentChallenge>> {
        let deadline = tokio::time::Instant::now() + wait.min(Duration::from_secs(MAX_CHALLENGE_WAIT_SECS));
        if !wait.is_zero() && !store::has_pending_challenges(self.db(), p.server.id).await? {
            // Wait on the process's one poll instead of querying per waiting agent.
            let mut rx = self.challenge_poll.subscribe(self.db());
            loop {
                if rx.borrow_and_update().contains(&p.server.id) {
                    break;
                }
                match tokio::time::timeout_at(deadline, rx.changed()).await {
                    Ok(Ok(())) => {}
                    _ => break,
                }
            }
        }
        Ok(store::pending_challenges(self.db(), p.server.id)
            .await?
            .into_iter()
            .map(challenge_wire)
            .collect())
    }

    /// The agent placed (or removed) a challenge file, or could not.
    pub async fn agent_challenge_report(
        &self,
        p: &AgentPrincipal,
        challenge_id: i64,
        r: &ChallengeReport,
    ) -> ServiceResult<()> {
        let row = store::challenges(self.db(), &[challenge_id])
            .await?
            .into_iter()
            .find(|c| c.server_id == p.server.id)
            .ok_or_else(|| ServiceError::not_found("challenge", challenge_id))?;
        let error: Option<String> = r.error.as_ref().map(|e| e.chars().take(500).collect());
        let (from, to): (&[&str], &str) = match (row.state.as_str(), &error) {
            ("place", None) => (&["place"], "placed"),
            ("place", Some(_)) => (&["place"], "failed"),
            ("remove", _) => (&["remove"], "removed"),
            (other, _) => {
                return Err(ServiceError::Conflict(format!(
                    "challenge {challenge_id} is {other}: nothing to report"
                )))
            }
        };
        let audit = self.agent_audit(
            p,
            "agent.challenge",
            json!({"challenge_id": challenge_id, "state": to, "webroot": row.webroot, "error": error}),
        );
        crate::store::audit::insert(self.db(), &audit).await?;
        store::set_challenge_state(self.db(), challenge_id, p.server.id, from, to, error.as_deref()).await?;
        Ok(())
    }
}

fn challenge_wire(c: crate::store::agents::ChallengeRow) -> AgentChallenge {
    AgentChallenge {
        id: c.id,
        action: if c.state == "remove" { "remove" } else { "place" }.into(),
        webroot: c.webroot,
        token: c.token,
        key_authorization: c.key_authorization,
    }
}
