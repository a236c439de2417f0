//! Revocation at the CA, with the account that obtained the certificate.

use serde_json::json;

use crate::domain::CertificateStatus;
use crate::engine::acme::{AcmeAccount, AcmeError};
use crate::errors::{ServiceError, ServiceResult};
use crate::service::{Actor, Services};
use crate::store::acme as store;
use crate::store::certificates::{self as certs, CertificateRow};
use crate::store::secrets::SealedColumn;

impl Services {
    /// Revokes a certificate at its CA (with the account that obtained it) and marks it
    /// `revoked`. Inline: no task.
    pub async fn cert_revoke(&self, actor: &Actor, id: i64, reason: &str) -> ServiceResult<CertificateRow> {
        actor.require_not_api("revoke certificates")?;
        let cert = self.cert_get(actor, id).await?;
        let reason =
            crate::engine::acme::RevokeReason::parse(reason).map_err(|e| ServiceError::invalid("reason", e))?;
        if cert.status == CertificateStatus::Revoked {
            return Err(ServiceError::Conflict(format!("certificate {id} is already revoked")));
        }
        let iss = store::get_issuance(self.db(), id).await?.ok_or_else(|| {
            ServiceError::Conflict(format!(
                "certificate {id} was not obtained through ACME here: revoke it with the tool that obtained it"
            ))
        })?;
        let acct = store::find_account(self.db(), cert.user_id, &iss.directory_url, &iss.contact_email)
            .await?
            .ok_or_else(|| ServiceError::Conflict(format!("no ACME account for certificate {id}")))?;
        let pem = certs::get_material(self.db(), id)
            .await?
            .and_then(|m| m.certificate_pem)
            .ok_or_else(|| ServiceError::Conflict(format!("certificate {id} has no certificate to revoke")))?;
        let der = crate::domain::certpem::certificates_der(pem.as_bytes())
            .map_err(ServiceError::Internal)?
            .into_iter()
            .next()
            .ok_or_else(|| ServiceError::Internal("no certificate block".into()))?;
        let ca = self.resolve_ca(cert.user_id, &iss.ca).await?;
        let creds = self
            .open_at(SealedColumn::AcmeAccount, acct.id, &acct.credentials_encrypted)
            .map_err(|e| ServiceError::Internal(e.to_string()))?;
        let account = AcmeAccount::restore(&creds, ca.trust_root.as_deref())
            .await
            .map_err(|e| ServiceError::Remote(e.to_string()))?;
        account.revoke(&der, reason).await.map_err(|e| match e {
            AcmeError::Problem { .. } => ServiceError::Conflict(e.to_string()),
            other => ServiceError::Remote(other.to_string()),
        })?;
        certs::set_status(self.db(), id, CertificateStatus::Revoked).await?;
        let audit = self.audit(
            Some(actor),
            "certificate.revoke",
            "certificate",
            Some(id),
            json!({"main_domain": cert.main_domain, "reason": format!("{reason:?}")}),
        )?;
        crate::store::audit::insert(self.db(), &audit).await?;
        self.cert_get(actor, id).await
    }
}
