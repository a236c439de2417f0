//! ACME accounts: one per (user, CA directory, contact), restored from its sealed credentials or
//! created (with External Account Binding when the CA needs it) and stored sealed.

use serde_json::json;
use zeroize::Zeroizing;

use crate::domain::LogLevel;
use crate::engine::acme::{AcmeAccount, AcmeError};
use crate::service::runner::{TaskContext, TaskFailure};
use crate::service::Services;
use crate::store::acme::{self as store, AccountRow, IssuanceRow};
use crate::store::secrets::SealedColumn;

impl Services {
    /// The account for (user, CA, contact): stored, or created now and stored sealed.
    pub(super) async fn account_for(
        &self,
        ctx: &TaskContext,
        user_id: i64,
        iss: &IssuanceRow,
        trust: Option<&str>,
        eab: Option<&(String, Zeroizing<Vec<u8>>)>,
    ) -> Result<AcmeAccount, TaskFailure> {
        let acme_err = |e: AcmeError| {
            if e.is_transient() {
                TaskFailure::transient(e.to_string())
            } else {
                TaskFailure::permanent(e.to_string())
            }
        };
        if let Some(a) = store::find_account(self.db(), user_id, &iss.directory_url, &iss.contact_email).await? {
            let creds = self
                .open_at(SealedColumn::AcmeAccount, a.id, &a.credentials_encrypted)
                .map_err(|e| TaskFailure::permanent(e.to_string()))?;
            store::set_issuance_account(self.db(), iss.certificate_id, a.id).await?;
            return AcmeAccount::restore(&creds, trust).await.map_err(acme_err);
        }
        let binding = eab.map(|(kid, key)| (kid.as_str(), key.as_slice()));
        let (acct, creds) = AcmeAccount::create(
            &iss.directory_url,
            std::slice::from_ref(&iss.contact_email),
            binding,
            trust,
        )
        .await
        .map_err(acme_err)?;
        // Sealed for the new row's id by `insert_account` (the id is bound into the envelope).
        let sealed = self
            .seal_on_insert(
                SealedColumn::AcmeAccount,
                "credentials",
                Zeroizing::new(creds.as_bytes().to_vec()),
                65_535,
            )
            .map_err(|e| TaskFailure::permanent(e.to_string()))?;
        let row = AccountRow {
            id: 0,
            user_id,
            directory_url: iss.directory_url.clone(),
            contact_email: iss.contact_email.clone(),
            account_url: acct.id().to_string(),
            credentials_encrypted: String::new(),
        };
        let audit = self.audit(
            None,
            "acme_account.create",
            "acme_account",
            None,
            json!({"directory_url": iss.directory_url, "contact_email": iss.contact_email, "tos_agreed": true, "eab_kid": eab.map(|(k, _)| k)}),
        )?;
        if let Some(id) =
            store::insert_account(self.db(), &row, eab.map(|(k, _)| k.as_str()), vec![sealed], &audit).await?
        {
            store::set_issuance_account(self.db(), iss.certificate_id, id).await?;
        }
        ctx.log(
            LogLevel::Info,
            &format!(
                "created the ACME account {} for {} (terms of service agreed)",
                acct.id(),
                iss.contact_email
            ),
            None,
        )
        .await?;
        Ok(acct)
    }
}
