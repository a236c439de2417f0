//! ACME Renewal Information (RFC 9773): the sweep that fetches each issued certificate's
//! renewal window from its CA and picks the moment renewal is due.

use crate::engine::acme::AcmeAccount;
use crate::errors::ServiceResult;
use crate::service::Services;
use crate::store::acme as store;
use crate::store::certificates as certs;
use crate::store::secrets::SealedColumn;

impl Services {
    /// Fetches the CA's renewal window (RFC 9773) of issued ACME certificates whose window is
    /// due to be checked, choosing a random moment in a new window (renewal is due from then on,
    /// see `store::schedules::renewals_due`). A CA without renewal information is asked again a
    /// week later. Returns how many certificates were checked.
    pub async fn ari_refresh(&self, owner: Option<i64>, limit: i64) -> ServiceResult<usize> {
        let ids = store::ari_checks_due(self.db(), owner, limit).await?;
        let mut accounts: AccountCache = Default::default();
        let now = chrono::Utc::now();
        // The sweep runs inside the scheduler's certificate check: it stops after a minute and
        // leaves the rest (still due) to the next run.
        let budget = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let mut checked = 0;
        for id in &ids {
            if std::time::Instant::now() >= budget {
                break;
            }
            checked += 1;
            let state = match self.ari_fetch(*id, &mut accounts).await {
                Ok(Some(w)) => {
                    let old = store::get_ari(self.db(), *id).await?.unwrap_or_default();
                    let same = old.ari_window_start == Some(w.start) && old.ari_window_end == Some(w.end);
                    store::AriState {
                        ari_window_start: Some(w.start),
                        ari_window_end: Some(w.end),
                        ari_renew_at: if same && old.ari_renew_at.is_some() {
                            old.ari_renew_at
                        } else {
                            Some(w.choose(rand::random::<f64>()))
                        },
                        ari_next_check_at: Some(w.next_check(now)),
                        // The CA's text: one that does not fit the column (500) is dropped, so
                        // it cannot fail the store and stop the sweep.
                        ari_explanation_url: w.explanation_url.clone().filter(|u| u.chars().count() <= 500),
                    }
                }
                Ok(None) => store::AriState {
                    ari_next_check_at: Some(now + chrono::Duration::days(7)),
                    ..Default::default()
                },
                Err(e) => {
                    tracing::warn!(certificate = id, error = %e, "renewal information not fetched");
                    store::AriState {
                        ari_next_check_at: Some(now + chrono::Duration::hours(1)),
                        ..store::get_ari(self.db(), *id).await?.unwrap_or_default()
                    }
                }
            };
            store::set_ari(self.db(), *id, &state).await?;
        }
        Ok(checked)
    }

    async fn ari_fetch(
        &self,
        id: i64,
        accounts: &mut AccountCache,
    ) -> Result<Option<crate::engine::acme::RenewalWindow>, String> {
        let cert = certs::get(self.db(), id)
            .await
            .map_err(|e| e.to_string())?
            .ok_or("gone")?;
        let iss = store::get_issuance(self.db(), id)
            .await
            .map_err(|e| e.to_string())?
            .ok_or("no issuance")?;
        let pem = certs::get_material(self.db(), id)
            .await
            .map_err(|e| e.to_string())?
            .and_then(|m| m.certificate_pem)
            .ok_or("no certificate")?;
        let der = crate::domain::certpem::certificates_der(pem.as_bytes())?
            .into_iter()
            .next()
            .ok_or("no certificate block")?;
        let acct = store::find_account(self.db(), cert.user_id, &iss.directory_url, &iss.contact_email)
            .await
            .map_err(|e| e.to_string())?
            .ok_or("no ACME account")?;
        let account = match accounts.get(&acct.id) {
            Some(Ok(a)) => a.clone(),
            // The CA already failed for this account in this sweep: do not wait for it again.
            Some(Err(e)) => return Err(e.clone()),
            None => {
                let ca = self
                    .resolve_ca(cert.user_id, &iss.ca)
                    .await
                    .map_err(|e| e.to_string())?;
                let creds = self
                    .open_at(SealedColumn::AcmeAccount, acct.id, &acct.credentials_encrypted)
                    .map_err(|e| e.to_string())?;
                let restored = tokio::time::timeout(
                    std::time::Duration::from_secs(15),
                    AcmeAccount::restore(&creds, ca.trust_root.as_deref()),
                )
                .await
                .map_err(|_| "the CA did not answer in 15 s".to_string())
                .and_then(|r| r.map_err(|e| e.to_string()))
                .map(std::sync::Arc::new);
                accounts.insert(acct.id, restored.clone());
                restored?
            }
        };
        tokio::time::timeout(std::time::Duration::from_secs(15), account.renewal_info(&der))
            .await
            .map_err(|_| "the CA did not answer in 15 s".to_string())?
            .map_err(|e| e.to_string())
    }
}

/// Accounts restored during one renewal-information sweep (or why the CA could not be reached).
type AccountCache = std::collections::HashMap<i64, Result<std::sync::Arc<AcmeAccount>, String>>;
