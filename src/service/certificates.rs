//! Certificates: import of PEM material (parsed and checked), export, listing, editing, deletion,
//! and deployment bindings to servers.

use zeroize::Zeroizing;

use crate::domain::certpem::{self, ParsedBundle};
use crate::domain::CertificateStatus;
use crate::errors::{ServiceError, ServiceResult};
use crate::store::certificates::{
    self as store, CertFilter, CertificateMaterial, CertificateRow, ChallengeRow, DeploymentRow, NewCertificate,
};
use crate::store::secrets::SealedColumn;
use crate::store::{Arg, Page, Sets};

use super::{ensure_owner, ensure_same_owner, opt_text, Actor, Services};

/// The TEXT column limit for the PEM and sealed key columns.
const TEXT_COLUMN: usize = 65_535;

/// Input of an import.
#[derive(Clone, Default)]
pub struct ImportInput {
    /// Display name.
    pub name: Option<String>,
    /// Certificate file contents (leaf first; may carry the chain after it).
    pub certificate: Vec<u8>,
    /// Private key file contents.
    pub private_key: Vec<u8>,
    /// Optional separate chain file contents.
    pub chain: Option<Vec<u8>>,
    /// Notes.
    pub notes: Option<String>,
}

impl std::fmt::Debug for ImportInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImportInput")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// Settings of a new deployment binding.
#[derive(Debug, Clone, Default)]
pub struct DeploymentInput {
    /// Absolute path of the fullchain file on the server.
    pub deploy_path: String,
    /// The web server config that references it.
    pub config_path: Option<String>,
    /// Absolute path of the key file (default: the certificate path with its extension replaced by `.key`).
    pub key_path: Option<String>,
    /// Host to verify against (default: the server's hostname).
    pub verify_host: Option<String>,
    /// SNI name to verify with (default: the certificate's main domain).
    pub verify_sni: Option<String>,
    /// Port to verify (default: the server's verify port, else 443).
    pub verify_port: Option<i64>,
    /// Deploy again after every renewal.
    pub auto_deploy: bool,
    /// Replace the deployments on the same machine whose certificate or key file is one of
    /// this one's (audited as `deployment.replace`); without it such a deployment is refused.
    pub replace: bool,
}

/// An exported certificate; the key only when asked for.
#[derive(Clone, serde::Serialize, schemars::JsonSchema)]
pub struct Export {
    /// Leaf PEM.
    pub certificate_pem: String,
    /// Chain PEM.
    pub chain_pem: Option<String>,
    /// Leaf followed by the chain.
    pub fullchain_pem: String,
    /// Private key PEM (only with reveal).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub private_key_pem: Option<String>,
}

impl std::fmt::Debug for Export {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Export")
            .field("has_key", &self.private_key_pem.is_some())
            .finish_non_exhaustive()
    }
}

/// Editable fields.
#[derive(Debug, Clone, Default)]
pub struct CertChanges {
    /// Name (`Some("")` clears).
    pub name: Option<String>,
    /// Notes (`Some("")` clears).
    pub notes: Option<String>,
    /// Auto renew.
    pub auto_renew: Option<bool>,
    /// Renew window in days.
    pub renew_before_days: Option<i64>,
}

fn status_now(b: &ParsedBundle) -> CertificateStatus {
    if b.expires_at <= chrono::Utc::now() {
        CertificateStatus::Expired
    } else {
        CertificateStatus::Issued
    }
}

impl Services {
    /// Imports a certificate with its key (and chain). Nothing is stored unless the material
    /// parses and the key matches. Imported certificates do not auto-renew (no issuance settings).
    pub async fn cert_import(&self, actor: &Actor, input: &ImportInput) -> ServiceResult<CertificateRow> {
        actor.require_write("certificate.import")?;
        let bundle = certpem::parse_bundle(&input.certificate, &input.private_key, input.chain.as_deref())
            .map_err(|(f, m)| ServiceError::invalid(f, m))?;
        let name = opt_text("name", input.name.as_deref(), 100)?;
        let notes = opt_text("notes", input.notes.as_deref(), TEXT_COLUMN)?;
        let domains = serde_json::to_string(&bundle.domains).map_err(|e| ServiceError::Internal(e.to_string()))?;
        if domains.len() > TEXT_COLUMN {
            return Err(ServiceError::invalid("certificate", "names too many domains to store"));
        }
        // Sealed for the new row's id by `insert` (the id is bound into the envelope).
        let sealed_key = self.seal_on_insert(
            SealedColumn::CertificateKey,
            "private_key",
            Zeroizing::new(bundle.private_key_pem.as_bytes().to_vec()),
            TEXT_COLUMN,
        )?;
        let renew_before_days = self
            .setting_number("certificate.renew_before_days")
            .await?
            .clamp(1, 365) as i32;
        let new = NewCertificate {
            user_id: actor.user_id,
            name,
            domains,
            main_domain: bundle.main_domain.clone(),
            issuer: bundle.issuer.clone(),
            certificate_type: bundle.certificate_type,
            encryption_type: bundle.encryption_type,
            status: status_now(&bundle),
            material: CertificateMaterial {
                certificate_pem: Some(bundle.certificate_pem.clone()),
                private_key_encrypted: None,
                chain_pem: bundle.chain_pem.clone(),
                notes,
            },
            issued_at: Some(bundle.issued_at),
            expires_at: Some(bundle.expires_at),
            auto_renew: false,
            renew_before_days,
        };
        let audit = self.audit(
            Some(actor),
            "certificate.import",
            "certificate",
            None,
            serde_json::json!({
                "main_domain": new.main_domain, "domains": bundle.domains, "issuer": new.issuer,
                "expires_at": bundle.expires_at, "certificate_type": new.certificate_type,
            }),
        )?;
        let id = store::insert(self.db(), &new, vec![sealed_key], &audit).await?;
        self.ensure_auto_monitor(actor, crate::domain::MonitorType::Certificate, id, &new.main_domain)
            .await?;
        self.cert_get(actor, id).await
    }

    /// A certificate visible to the actor.
    pub async fn cert_get(&self, actor: &Actor, id: i64) -> ServiceResult<CertificateRow> {
        let row = store::get(self.db(), id)
            .await?
            .ok_or_else(|| ServiceError::not_found("certificate", id))?;
        ensure_owner(actor, row.user_id, "certificate", id)?;
        Ok(row)
    }

    /// A page of certificates (the actor's, all for an admin).
    pub async fn cert_list(
        &self,
        actor: &Actor,
        filter: &CertFilter,
        page: Page,
    ) -> ServiceResult<Vec<CertificateRow>> {
        let mut f = filter.clone();
        if !actor.is_admin() {
            f.user_id = Some(actor.user_id);
        }
        // Names are stored lower-cased; every face matches them so.
        f.main_domain = f.main_domain.map(|d| d.trim().to_ascii_lowercase());
        Ok(store::list(self.db(), &f, page).await?)
    }

    /// Certificate counts by status.
    pub async fn cert_counts(&self, actor: &Actor) -> ServiceResult<Vec<(String, i64)>> {
        Ok(store::count_by_status(self.db(), actor.scope()).await?)
    }

    /// The PEM material; the private key only with `reveal` (audited).
    pub async fn cert_export(&self, actor: &Actor, id: i64, reveal_key: bool) -> ServiceResult<Export> {
        let row = self.cert_get(actor, id).await?;
        let m = store::get_material(self.db(), id)
            .await?
            .ok_or_else(|| ServiceError::not_found("certificate", id))?;
        let cert = m.certificate_pem.clone().ok_or_else(|| {
            ServiceError::Conflict(format!(
                "certificate {id} has no certificate yet (status {})",
                row.status
            ))
        })?;
        let private_key_pem = if reveal_key {
            actor.require_not_api("export private keys")?;
            let sealed = m
                .private_key_encrypted
                .as_deref()
                .ok_or_else(|| ServiceError::Conflict(format!("certificate {id} has no private key")))?;
            let key: Zeroizing<String> = self
                .open_at(SealedColumn::CertificateKey, id, sealed)
                .map_err(|e| ServiceError::Internal(e.to_string()))?;
            let audit = self.audit_read(
                Some(actor),
                "certificate.export_key",
                "certificate",
                Some(id),
                serde_json::json!({"main_domain": row.main_domain}),
            );
            crate::store::audit::insert(self.db(), &audit).await?;
            Some(key.to_string())
        } else {
            None
        };
        let fullchain_pem = format!("{cert}{}", m.chain_pem.clone().unwrap_or_default());
        Ok(Export {
            certificate_pem: cert,
            chain_pem: m.chain_pem,
            fullchain_pem,
            private_key_pem,
        })
    }

    /// The full chain and private key of certificate `id`, for this process to serve its own TLS
    /// with (`--serve-api --tls-certificate-id`, reloaded when the certificate is renewed). An act
    /// of the local operator, whose authority is the master key; the key never leaves the process.
    pub async fn tls_identity(&self, id: i64) -> ServiceResult<(String, Zeroizing<String>)> {
        let m = store::get_material(self.db(), id)
            .await?
            .ok_or_else(|| ServiceError::not_found("certificate", id))?;
        let cert = m
            .certificate_pem
            .ok_or_else(|| ServiceError::Conflict(format!("certificate {id} has no certificate yet")))?;
        let sealed = m
            .private_key_encrypted
            .as_deref()
            .ok_or_else(|| ServiceError::Conflict(format!("certificate {id} has no private key")))?;
        let key = self
            .open_at(SealedColumn::CertificateKey, id, sealed)
            .map_err(|e| ServiceError::Internal(e.to_string()))?;
        Ok((format!("{cert}{}", m.chain_pem.unwrap_or_default()), key))
    }

    /// The notes of a certificate.
    pub async fn cert_notes(&self, actor: &Actor, id: i64) -> ServiceResult<Option<String>> {
        self.cert_get(actor, id).await?;
        Ok(store::get_material(self.db(), id).await?.and_then(|m| m.notes))
    }

    /// Edits name, notes, auto-renew and the renewal window.
    pub async fn cert_update(&self, actor: &Actor, id: i64, c: &CertChanges) -> ServiceResult<CertificateRow> {
        let row = self.cert_get(actor, id).await?;
        let mut sets = Sets::new();
        if let Some(n) = &c.name {
            sets.set("name", opt_text("name", Some(n), 100)?.into());
        }
        if let Some(n) = &c.notes {
            sets.set("notes", opt_text("notes", Some(n), TEXT_COLUMN)?.into());
        }
        if let Some(d) = c.renew_before_days {
            if !(1..=365).contains(&d) {
                return Err(ServiceError::invalid("renew_before_days", "must be 1 to 365 days"));
            }
            sets.set("renew_before_days", Arg::I64(d));
        }
        if let Some(a) = c.auto_renew {
            if a && !row.auto_renew && crate::store::acme::get_issuance(self.db(), id).await?.is_none() {
                return Err(ServiceError::Conflict(format!(
                    "certificate {id} has no ACME issuance settings (it was imported), so it cannot renew itself; \
                     automatic renewal becomes available once ACME issuance is configured for it"
                )));
            }
            sets.set("auto_renew", Arg::Bool(a));
        }
        let audit = self.audit(Some(actor), "certificate.update", "certificate", Some(id), serde_json::json!({
            "name": c.name, "auto_renew": c.auto_renew, "renew_before_days": c.renew_before_days, "notes_changed": c.notes.is_some(),
        }))?;
        crate::store::audited::update_by_id(self.db(), "certificates", id, &sets, &audit).await?;
        self.cert_get(actor, id).await
    }

    /// Deletes a certificate with its DNS challenge records; refused while deployments use it.
    pub async fn cert_delete(&self, actor: &Actor, id: i64) -> ServiceResult<()> {
        let row = self.cert_get(actor, id).await?;
        let deployments = store::list_deployments(self.db(), Some(id), None).await?;
        if !deployments.is_empty() {
            return Err(ServiceError::Conflict(format!(
                "certificate {id} is deployed to {} server(s): remove those deployments first (certdeck deployment rm ID)",
                deployments.len()
            )));
        }
        let audit = self.audit(
            Some(actor),
            "certificate.delete",
            "certificate",
            Some(id),
            serde_json::json!({"main_domain": row.main_domain}),
        )?;
        self.cert_remove(actor, id, &audit).await
    }

    /// Removes a certificate row with everything that exists only for it (challenges, issuance
    /// settings, its monitors): the one way a certificate goes, also when a creation is undone.
    pub(super) async fn cert_remove(
        &self,
        actor: &Actor,
        id: i64,
        audit: &crate::store::audit::NewAudit,
    ) -> ServiceResult<()> {
        store::delete(self.db(), id, audit).await?;
        self.delete_monitors_of(actor, crate::domain::MonitorType::Certificate, id)
            .await
    }

    /// The DNS challenges recorded for a certificate.
    pub async fn cert_challenges(&self, actor: &Actor, id: i64, page: Page) -> ServiceResult<Vec<ChallengeRow>> {
        self.cert_get(actor, id).await?;
        Ok(store::list_challenges(self.db(), id, page).await?)
    }

    // ------------------------------------------------------------ deployments

    /// Binds a certificate to a server at a path (both must belong to the same user).
    pub async fn deployment_create(
        &self,
        actor: &Actor,
        cert_id: i64,
        server_id: i64,
        deploy_path: &str,
        config_path: Option<&str>,
        auto_deploy: bool,
    ) -> ServiceResult<DeploymentRow> {
        let input = DeploymentInput {
            deploy_path: deploy_path.to_string(),
            config_path: config_path.map(str::to_string),
            auto_deploy,
            ..Default::default()
        };
        self.deployment_create_with(actor, cert_id, server_id, &input).await
    }

    /// Binds a certificate to a server with every deploy setting.
    pub async fn deployment_create_with(
        &self,
        actor: &Actor,
        cert_id: i64,
        server_id: i64,
        input: &DeploymentInput,
    ) -> ServiceResult<DeploymentRow> {
        actor.require_write("deployment.create")?;
        let c = self.cert_get(actor, cert_id).await?;
        let s = self.server_get(actor, server_id).await?;
        ensure_same_owner(
            c.user_id,
            s.user_id,
            "a certificate and a server of different users cannot be linked",
        )?;
        let abs = |field: &str, v: Option<&str>| -> ServiceResult<Option<String>> {
            let v = opt_text(field, v, 255)?;
            if v.as_deref().is_some_and(|p| !p.starts_with('/')) {
                return Err(ServiceError::invalid(field, "must be an absolute path on the server"));
            }
            Ok(v)
        };
        let path = abs("deploy_path", Some(input.deploy_path.trim()))?
            .ok_or_else(|| ServiceError::invalid("deploy_path", "must be an absolute path on the server"))?;
        let config_path = abs("config_path", input.config_path.as_deref())?;
        let key_path = abs("key_path", input.key_path.as_deref())?;
        if key_path.as_deref() == Some(path.as_str()) {
            return Err(ServiceError::invalid(
                "key_path",
                "must differ from the certificate path (the key would overwrite the certificate)",
            ));
        }
        let key_file = super::hosts::key_path_for(&path, key_path.as_deref());
        if key_file == path {
            return Err(ServiceError::invalid(
                "key_path",
                format!(
                    "the key path derived from {path} (its extension replaced by .key) is the certificate path itself: \
                     give the key its own path (--key-path)"
                ),
            ));
        }
        let replaced = self
            .deployment_path_conflicts(actor, cert_id, &s, &path, &key_file, input.replace)
            .await?;
        let verify_host = opt_text("verify_host", input.verify_host.as_deref(), 255)?;
        let verify_sni = opt_text("verify_sni", input.verify_sni.as_deref(), 255)?;
        let verify_port = match input.verify_port {
            Some(p) => Some(i32::from(
                crate::domain::Port::new(p)
                    .map_err(|e| ServiceError::invalid("verify_port", e.to_string()))?
                    .get(),
            )),
            None => None,
        };
        if let Some(h) = &verify_host {
            let port = verify_port.or(s.verify_port).unwrap_or(443).clamp(1, 65_535) as u16;
            self.check_target("deployment verify host", h, port).await?;
        }
        let audit = self.audit(
            Some(actor),
            "deployment.create",
            "deployment",
            None,
            serde_json::json!({"certificate_id": cert_id, "server_id": server_id, "deploy_path": path, "key_path": key_path, "replace": input.replace}),
        )?;
        let new = store::NewDeployment {
            certificate_id: cert_id,
            server_id,
            deploy_path: path,
            config_path,
            key_path,
            verify_host,
            verify_sni,
            verify_port,
            auto_deploy: input.auto_deploy,
        };
        for old in &replaced {
            let audit = self.audit(
                Some(actor),
                "deployment.replace",
                "deployment",
                Some(old.id),
                serde_json::json!({
                    "certificate_id": old.certificate_id,
                    "server_id": old.server_id,
                    "deploy_path": old.deploy_path,
                    "key_path": super::hosts::key_path_of(old),
                    "replaced_by_certificate_id": cert_id,
                    "replaced_by_server_id": server_id,
                }),
            )?;
            store::delete_deployment(self.db(), old.id, &audit).await?;
        }
        let id = store::insert_deployment(self.db(), &new, &audit)
            .await
            .map_err(|e| match ServiceError::from(e) {
                ServiceError::Conflict(_) => ServiceError::Conflict(format!(
                    "certificate {cert_id} already has a deployment to server {server_id}"
                )),
                other => other,
            })?;
        self.deployment_get(actor, id).await
    }

    /// Refuses, before anything is created, a new deployment on `server` whose files another
    /// deployment on that machine already writes (as [`Services::deployment_create_with`] would).
    pub(crate) async fn deployment_paths_free(
        &self,
        actor: &Actor,
        server: &crate::store::servers::ServerRow,
        input: &DeploymentInput,
    ) -> ServiceResult<()> {
        let path = input.deploy_path.trim();
        let key = super::hosts::key_path_for(path, input.key_path.as_deref());
        self.deployment_path_conflicts(actor, 0, server, path, &key, false)
            .await
            .map(|_| ())
    }

    /// The deployments on the same machine (address and SSH port) whose certificate or key
    /// file is `cert_path` or `key_path`: two deployments writing one file would overwrite each
    /// other's certificate, or pair one certificate with the other's key. Refused unless
    /// `replace` is set and the actor may see each of them; then they are returned, to be
    /// removed by the caller. Also refused: a second deployment of the certificate to the server.
    /// Another user's deployment counts only once it has been deployed (see the loop).
    async fn deployment_path_conflicts(
        &self,
        actor: &Actor,
        cert_id: i64,
        server: &crate::store::servers::ServerRow,
        cert_path: &str,
        key_path: &str,
        replace: bool,
    ) -> ServiceResult<Vec<DeploymentRow>> {
        let on_host = store::list_deployments_on_host(self.db(), &server.hostname, server.port).await?;
        let mut replaced = Vec::new();
        for e in on_host {
            let e_key = super::hosts::key_path_of(&e);
            let clash = [(cert_path, "certificate"), (key_path, "key")]
                .into_iter()
                .find_map(|(mine, my_role)| {
                    [(e.deploy_path.as_str(), "certificate"), (e_key.as_str(), "key")]
                        .into_iter()
                        .find(|(theirs, _)| *theirs == mine)
                        .map(|(_, their_role)| (mine, my_role, their_role))
                });
            let same_binding = e.certificate_id == cert_id && e.server_id == server.id;
            let Some((file, my_role, their_role)) = clash else {
                if same_binding && !replace {
                    return Err(ServiceError::Conflict(format!(
                        "certificate {cert_id} already has a deployment to server {} (deployment {}, at {}): \
                         remove it first (certdeck deployment rm {}) or replace it (--replace)",
                        server.id, e.id, e.deploy_path, e.id
                    )));
                }
                if same_binding {
                    replaced.push(e);
                }
                continue;
            };
            if self.deployment_get(actor, e.id).await.is_err() {
                // Another user's row names this machine by its address only, which anyone can
                // type: it blocks the path only once it has been deployed there (proof its owner
                // really writes that file). A never-deployed row must not let one user reserve
                // the paths of another user's machine.
                if e.deployed_serial.is_none() {
                    continue;
                }
                return Err(ServiceError::Conflict(format!(
                    "{file} on this machine is already written by a deployment of another user: choose another path"
                )));
            }
            if !replace {
                let what = if my_role == "certificate" && their_role == "certificate" {
                    format!(
                        "server {} already has certificate {} at {file} (deployment {})",
                        e.server_id, e.certificate_id, e.id
                    )
                } else {
                    format!(
                        "the {my_role} file {file} is already the {their_role} file of deployment {} (certificate {}, server {})",
                        e.id, e.certificate_id, e.server_id
                    )
                };
                return Err(ServiceError::Conflict(format!(
                    "{what}: two deployments writing one file overwrite each other; remove that deployment first \
                     (certdeck deployment rm {}) or replace it (certdeck deployment add … --replace)",
                    e.id
                )));
            }
            replaced.push(e);
        }
        Ok(replaced)
    }

    /// A deployment visible to the actor (through its certificate's owner).
    pub async fn deployment_get(&self, actor: &Actor, id: i64) -> ServiceResult<DeploymentRow> {
        let d = store::get_deployment(self.db(), id)
            .await?
            .ok_or_else(|| ServiceError::not_found("deployment", id))?;
        let c = store::get(self.db(), d.certificate_id)
            .await?
            .ok_or_else(|| ServiceError::not_found("deployment", id))?;
        ensure_owner(actor, c.user_id, "deployment", id)?;
        Ok(d)
    }

    /// Deployments of a certificate or a server.
    pub async fn deployment_list(
        &self,
        actor: &Actor,
        cert_id: Option<i64>,
        server_id: Option<i64>,
    ) -> ServiceResult<Vec<DeploymentRow>> {
        match (cert_id, server_id) {
            (Some(c), _) => {
                self.cert_get(actor, c).await?;
            }
            (None, Some(s)) => {
                self.server_get(actor, s).await?;
            }
            (None, None) => return Err(ServiceError::invalid("filter", "give a certificate or a server")),
        }
        Ok(store::list_deployments(self.db(), cert_id, server_id).await?)
    }

    /// A page of the deployments of a certificate and/or a server (newest first); each one given
    /// must be visible to the actor.
    pub async fn deployment_page(
        &self,
        actor: &Actor,
        cert_id: Option<i64>,
        server_id: Option<i64>,
        page: Page,
    ) -> ServiceResult<Vec<DeploymentRow>> {
        if cert_id.is_none() && server_id.is_none() {
            return Err(ServiceError::invalid(
                "certificate_id",
                "give a certificate (certificate_id) or a server (server_id)",
            ));
        }
        if let Some(c) = cert_id {
            self.cert_get(actor, c).await?;
        }
        if let Some(s) = server_id {
            self.server_get(actor, s).await?;
        }
        Ok(store::list_deployments_page(self.db(), cert_id, server_id, page).await?)
    }

    /// Removes a deployment binding (the files on the server stay).
    pub async fn deployment_delete(&self, actor: &Actor, id: i64) -> ServiceResult<()> {
        let d = self.deployment_get(actor, id).await?;
        let audit = self.audit(
            Some(actor),
            "deployment.delete",
            "deployment",
            Some(id),
            serde_json::json!({"certificate_id": d.certificate_id, "server_id": d.server_id}),
        )?;
        store::delete_deployment(self.db(), id, &audit).await?;
        Ok(())
    }
}
