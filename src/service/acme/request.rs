//! Certificate requests: validating how a certificate is to be obtained (the issuance plan),
//! the webroot a server's discovered sites give for http-01, `cert request`, renewal set-up for
//! certificates obtained elsewhere, and queuing a renewal.

use serde_json::json;

use crate::domain::{CertificateStatus, CertificateType, DomainName, Email, EncryptionType, TaskType};
use crate::engine::acme::{ChallengeKind, KeySpec};
use crate::errors::{ServiceError, ServiceResult};
use crate::service::tasks::enqueue::TaskInput;
use crate::service::{opt_text, Actor, Services};
use crate::store::acme::{self as store, IssuanceRow};
use crate::store::certificates::{self as certs, CertificateMaterial, CertificateRow, NewCertificate};
use crate::store::tasks::TaskRow;

/// A certificate request.
#[derive(Debug, Clone, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestInput {
    /// Domains (first = subject); IDN converted; `*.` needs dns-01.
    pub domains: Vec<String>,
    /// CA preset key or custom CA name.
    pub ca: String,
    /// Account contact (default: the user's e-mail).
    pub email: Option<String>,
    /// `ec256`, `ec384`, `rsa2048`, `rsa3072`, `rsa4096` (default ec256).
    pub key: Option<String>,
    /// `dns-01` or `http-01`.
    pub challenge: String,
    /// DNS provider for dns-01.
    pub dns_provider_id: Option<i64>,
    /// Standalone http-01 listener address (`0.0.0.0:80`…).
    pub http_listen: Option<String>,
    /// http-01 through this server's webroot over SSH (instead of a listener here).
    pub http_server_id: Option<i64>,
    /// The document root on that server.
    pub webroot: Option<String>,
    /// Keep the private key on renewal.
    #[serde(default)]
    pub key_reuse: bool,
    /// ACME profile (the CA must offer it; checked when the order is placed).
    pub profile: Option<String>,
    /// Keep the alternate chain whose topmost certificate is issued by this name, if offered.
    pub preferred_chain: Option<String>,
    /// Display name.
    pub name: Option<String>,
}

impl Services {
    /// Validates how a certificate is to be obtained (CA, challenge, key, DNS provider or http-01
    /// target, contact) and returns the key type and the issuance settings (certificate id 0).
    async fn issuance_plan(
        &self,
        actor: &Actor,
        input: &RequestInput,
        domains: &[String],
    ) -> ServiceResult<(KeySpec, IssuanceRow)> {
        let wildcard = domains.iter().any(|d| d.starts_with("*."));
        let challenge = match input.challenge.as_str() {
            "dns-01" => ChallengeKind::Dns01,
            "http-01" => ChallengeKind::Http01,
            other => {
                return Err(ServiceError::invalid(
                    "challenge",
                    format!("'{other}': use dns-01 or http-01"),
                ))
            }
        };
        if wildcard && challenge != ChallengeKind::Dns01 {
            return Err(ServiceError::invalid("challenge", "a wildcard name needs dns-01"));
        }
        let key =
            KeySpec::parse(input.key.as_deref().unwrap_or("ec256")).map_err(|e| ServiceError::invalid("key", e))?;
        let ca = self.resolve_ca(actor.user_id, &input.ca).await?;
        if ca.eab_required && ca.eab.is_none() {
            return Err(ServiceError::invalid(
                "ca",
                format!(
                    "{} needs External Account Binding: add it as your own CA with its key id and HMAC key \
                     (certdeck ca add NAME --directory URL --eab-kid KID --eab-hmac-stdin)",
                    input.ca
                ),
            ));
        }
        let directory = ca.directory;
        let provider = match (challenge, input.dns_provider_id) {
            (ChallengeKind::Dns01, Some(id)) => Some(self.dns_provider_get(actor, id).await?.id),
            (ChallengeKind::Dns01, None) => {
                return Err(ServiceError::invalid(
                    "dns_provider",
                    "dns-01 needs --dns-provider (see `dns-provider list`)",
                ))
            }
            (ChallengeKind::Http01, _) => None,
        };
        let (http_server_id, webroot) = match (challenge, input.http_server_id) {
            (ChallengeKind::Http01, Some(sid)) => {
                let server = self.server_get(actor, sid).await?;
                let discovered;
                let root = match input.webroot.as_deref().map(str::trim).filter(|w| !w.is_empty()) {
                    Some(r) => r,
                    None => {
                        discovered = self.discovered_webroot(&server, domains).await?;
                        discovered.as_str()
                    }
                };
                let root = crate::domain::acme_clients::check_webroot(root).map_err(|e| {
                    ServiceError::invalid("webroot", format!("must be an absolute path without '..': {e}"))
                })?;
                (Some(server.id), Some(root))
            }
            (ChallengeKind::Http01, None) if input.webroot.is_some() => {
                return Err(ServiceError::invalid(
                    "server",
                    "a webroot is on a server: give the server too",
                ))
            }
            _ => (None, None),
        };
        let profile = opt_text("profile", input.profile.as_deref(), 64)?;
        let preferred_chain = opt_text("preferred_chain", input.preferred_chain.as_deref(), 255)?;
        let http_listen = match challenge {
            ChallengeKind::Http01 if http_server_id.is_some() => None,
            ChallengeKind::Http01 => {
                let a = input.http_listen.as_deref().unwrap_or("0.0.0.0:80");
                a.parse::<std::net::SocketAddr>()
                    .map_err(|_| ServiceError::invalid("http_listen", format!("'{a}' is not an address:port")))?;
                Some(a.to_string())
            }
            ChallengeKind::Dns01 => None,
        };
        let email = match &input.email {
            Some(e) => Email::parse(e)
                .map_err(|e| ServiceError::invalid("email", e))?
                .as_str()
                .to_string(),
            None => self.user_get(actor, &actor.user_id.to_string()).await?.email,
        };
        Ok((
            key,
            IssuanceRow {
                certificate_id: 0,
                ca: input.ca.clone(),
                directory_url: directory,
                contact_email: email,
                account_id: None,
                challenge_type: input.challenge.clone(),
                dns_provider_id: provider,
                http_listen,
                key_type: key.name(),
                key_reuse: input.key_reuse,
                profile,
                preferred_chain,
                http_server_id,
                webroot,
            },
        ))
    }

    /// The document root that serves every one of `domains` on `server`, from the sites its
    /// last check discovered (plain-HTTP sites first: that is where the CA connects).
    async fn discovered_webroot(
        &self,
        server: &crate::store::servers::ServerRow,
        domains: &[String],
    ) -> ServiceResult<String> {
        let sites = crate::store::discovery::list_sites(self.db(), server.id).await?;
        let serves = |names: &[String], d: &str| {
            names.iter().any(|n| {
                n.eq_ignore_ascii_case(d)
                    || n.strip_prefix("*.").is_some_and(|base| {
                        d.split_once('.')
                            .is_some_and(|(_, rest)| rest.eq_ignore_ascii_case(base))
                    })
            })
        };
        let mut roots: Vec<String> = Vec::new();
        for d in domains {
            let mut found: Vec<(bool, String)> = sites
                .iter()
                .filter_map(|s| {
                    let names: Vec<String> = serde_json::from_str(&s.server_names).unwrap_or_default();
                    let root = s.document_root.clone()?;
                    serves(&names, d).then_some((s.tls, root))
                })
                .collect();
            found.sort();
            let Some((_, root)) = found.into_iter().next() else {
                return Err(ServiceError::invalid(
                    "webroot",
                    format!(
                        "no discovered site on server {} serves {d} with a document root: run `certdeck server check {}` \
                         or give --webroot",
                        server.name.as_deref().unwrap_or(&server.hostname),
                        server.id
                    ),
                ));
            };
            if !roots.contains(&root) {
                roots.push(root);
            }
        }
        match roots.len() {
            1 => Ok(roots.remove(0)),
            _ => Err(ServiceError::invalid(
                "webroot",
                format!(
                    "the names are served from different document roots on {} ({}): request them separately or give --webroot",
                    server.name.as_deref().unwrap_or(&server.hostname),
                    roots.join(", ")
                ),
            )),
        }
    }

    /// Sets up renewal for a certificate that was not requested here (imported or migrated):
    /// how it is to be obtained from now on, for exactly its names. Replaces earlier settings.
    pub async fn cert_renewal_setup(&self, actor: &Actor, id: i64, input: &RequestInput) -> ServiceResult<IssuanceRow> {
        actor.require_not_api("set up certificate renewal")?;
        let cert = self.cert_get(actor, id).await?;
        if cert.status == CertificateStatus::Revoked {
            return Err(ServiceError::Conflict(format!(
                "certificate {id} is revoked: request a new one"
            )));
        }
        let domains: Vec<String> =
            serde_json::from_str(&cert.domains).unwrap_or_else(|_| vec![cert.main_domain.clone()]);
        let (_, plan) = self.issuance_plan(actor, input, &domains).await?;
        let row = IssuanceRow {
            certificate_id: id,
            ..plan
        };
        store::upsert_issuance(self.db(), &row).await?;
        let audit = self.audit(
            Some(actor),
            "certificate.renewal_setup",
            "certificate",
            Some(id),
            json!({"ca": row.ca, "challenge": row.challenge_type, "key": row.key_type, "dns_provider_id": row.dns_provider_id,
                   "http_server_id": row.http_server_id}),
        )?;
        crate::store::audit::insert(self.db(), &audit).await?;
        Ok(store::get_issuance(self.db(), id).await?.unwrap_or(row))
    }

    /// Requests a certificate: a `pending` certificate, how to obtain it, and a
    /// `certificate_issue` task.
    pub async fn cert_request(&self, actor: &Actor, input: &RequestInput) -> ServiceResult<(CertificateRow, TaskRow)> {
        actor.require_write("certificate.request")?;
        if input.domains.is_empty() {
            return Err(ServiceError::invalid("domain", "give at least one --domain"));
        }
        let mut domains: Vec<String> = Vec::new();
        let mut wildcard = false;
        for d in &input.domains {
            let n = DomainName::parse(d).map_err(|e| ServiceError::invalid("domain", e))?;
            wildcard |= n.is_wildcard();
            if !domains.contains(&n.as_str().to_string()) {
                domains.push(n.as_str().to_string());
            }
        }
        if domains.len() > 100 {
            return Err(ServiceError::invalid("domain", "at most 100 names per certificate"));
        }
        let (key, plan) = self.issuance_plan(actor, input, &domains).await?;
        let certificate_type = if wildcard {
            CertificateType::Wildcard
        } else if domains.len() > 1 {
            CertificateType::MultiDomain
        } else {
            CertificateType::Single
        };
        let new = NewCertificate {
            user_id: actor.user_id,
            name: opt_text("name", input.name.as_deref(), 100)?,
            domains: serde_json::to_string(&domains).unwrap_or_default(),
            main_domain: domains[0].clone(),
            issuer: None,
            certificate_type,
            encryption_type: match key {
                KeySpec::Rsa(_) => EncryptionType::Rsa,
                _ => EncryptionType::Ecc,
            },
            status: CertificateStatus::Pending,
            material: CertificateMaterial {
                certificate_pem: None,
                private_key_encrypted: None,
                chain_pem: None,
                notes: None,
            },
            issued_at: None,
            expires_at: None,
            auto_renew: true,
            renew_before_days: 30,
        };
        let audit = self.audit(
            Some(actor),
            "certificate.request",
            "certificate",
            None,
            json!({"domains": domains, "ca": input.ca, "challenge": input.challenge, "key": key.name()}),
        )?;
        let id = certs::insert(self.db(), &new, Vec::new(), &audit).await?;
        self.ensure_auto_monitor(actor, crate::domain::MonitorType::Certificate, id, &domains[0])
            .await?;
        if let Err(e) = store::upsert_issuance(
            self.db(),
            &IssuanceRow {
                certificate_id: id,
                ..plan
            },
        )
        .await
        {
            // No pending certificate without its issuance settings.
            let undo = self.audit(
                Some(actor),
                "certificate.delete",
                "certificate",
                Some(id),
                json!({"reason": "its issuance settings could not be stored"}),
            )?;
            let _ = self.cert_remove(actor, id, &undo).await;
            return Err(e.into());
        }
        let task = self
            .task_enqueue(
                actor,
                &TaskInput {
                    task_type: Some(TaskType::CertificateIssue),
                    priority: Some(8),
                    target_type: Some("certificate".into()),
                    target_id: Some(id),
                    max_attempts: Some(3),
                    ..Default::default()
                },
            )
            .await?;
        Ok((self.cert_get(actor, id).await?, task))
    }

    /// Queues a renewal of a certificate obtained through ACME.
    pub async fn cert_renew(&self, actor: &Actor, id: i64) -> ServiceResult<TaskRow> {
        actor.require_write("certificate.renew")?;
        self.cert_get(actor, id).await?;
        if store::get_issuance(self.db(), id).await?.is_none() {
            return Err(ServiceError::Conflict(format!(
                "certificate {id} was not obtained through ACME here: request it with `cert request` to renew it automatically"
            )));
        }
        self.task_enqueue(
            actor,
            &TaskInput {
                task_type: Some(TaskType::CertificateRenew),
                priority: Some(8),
                target_type: Some("certificate".into()),
                target_id: Some(id),
                max_attempts: Some(3),
                ..Default::default()
            },
        )
        .await
    }
}
