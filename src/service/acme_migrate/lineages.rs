//! Finding the lineages: certbot's `renewal/*.conf` (contacts from `accounts/…/regr.json`) and
//! acme.sh's `<domain>[_ecc]/<domain>.conf` (contact from `account.conf`).

use super::files::{join, Files};
use super::{LineageReport, MAX_CONF};
use crate::domain::acme_clients::{self as ac, Lineage};
use crate::errors::{ServiceError, ServiceResult};
use crate::service::Services;

/// A lineage with the contact its client recorded.
pub(super) struct Found {
    pub(super) lineage: Lineage,
    pub(super) contact: Option<(String, String)>,
    /// certbot's `live/<name>/` (where the files are when the recorded paths moved with a copy).
    pub(super) live_dir: Option<String>,
}

impl Services {
    /// certbot: `renewal/*.conf`, contacts from `accounts/…/regr.json`.
    pub(super) async fn certbot_lineages(
        &self,
        dir: &str,
        files: &Files<'_>,
    ) -> ServiceResult<(Vec<Found>, Vec<LineageReport>)> {
        let renewal = join(dir, "renewal");
        if !files.is_dir(&renewal).await {
            return Err(ServiceError::invalid(
                "dir",
                format!(
                    "{dir} has no renewal/ directory {} can read: is it certbot's config dir (/etc/letsencrypt)?",
                    files.who()
                ),
            ));
        }
        let names = files
            .list(&renewal)
            .await
            .map_err(|e| ServiceError::invalid("dir", e))?;
        let mut found = Vec::new();
        let mut failed = Vec::new();
        for n in names.iter().filter(|n| n.ends_with(".conf")) {
            let name = n.trim_end_matches(".conf");
            let path = join(&renewal, n);
            let text = match files.read(&path, MAX_CONF).await {
                Ok(Some(t)) => Files::text(t),
                Ok(None) => continue,
                Err(e) => {
                    let l = ac::parse_certbot_renewal(name, &path, "");
                    failed.push(LineageReport::new(&l).failed(e));
                    continue;
                }
            };
            let lineage = ac::parse_certbot_renewal(name, &path, &text);
            let mut contact = None;
            if let (Some(server), Some(account)) = (&lineage.server, &lineage.account) {
                if let Some(acc) = ac::certbot_account_dir(server, account) {
                    if let Ok(Some(regr)) = files.read(&join(dir, &format!("{acc}/regr.json")), MAX_CONF).await {
                        contact = ac::certbot_regr_email(&Files::text(regr))
                            .map(|e| (e, format!("certbot account {account}")));
                    }
                }
            }
            found.push(Found {
                live_dir: Some(join(dir, &format!("live/{name}"))),
                lineage,
                contact,
            });
        }
        Ok((found, failed))
    }

    /// acme.sh: `<dir>/<domain>[_ecc]/<domain>.conf`, contact and DNS credential names from
    /// `account.conf`.
    pub(super) async fn acmesh_lineages(
        &self,
        dir: &str,
        files: &Files<'_>,
    ) -> ServiceResult<(Vec<Found>, Vec<LineageReport>)> {
        let names = files.list(dir).await.map_err(|e| ServiceError::invalid("dir", e))?;
        let account = match files.read(&join(dir, "account.conf"), MAX_CONF).await {
            Ok(Some(t)) => Some(Files::text(t)),
            _ => None,
        };
        let contact = account
            .as_deref()
            .and_then(ac::acmesh_account_email)
            .map(|e| (e, "acme.sh account.conf".to_string()));
        let saved = account
            .as_deref()
            .map(|a| ac::saved_credential_names(&ac::parse_shell_assignments(a)))
            .unwrap_or_default();
        let mut found = Vec::new();
        let mut failed = Vec::new();
        for n in &names {
            if n.starts_with('.') || ["ca", "deploy", "dnsapi", "notify", "http.header"].contains(&n.as_str()) {
                continue;
            }
            let ldir = join(dir, n);
            if !files.is_dir(&ldir).await {
                continue;
            }
            let conf = join(&ldir, &format!("{}.conf", ac::acmesh_dir_domain(n)));
            let text = match files.read(&conf, MAX_CONF).await {
                Ok(Some(t)) => Files::text(t),
                Ok(None) => continue,
                Err(e) => {
                    let l = ac::parse_acmesh_conf(&ldir, "");
                    failed.push(LineageReport::new(&l).failed(e));
                    continue;
                }
            };
            let mut lineage = ac::parse_acmesh_conf(&ldir, &text);
            if lineage.authenticator.as_deref().is_some_and(|a| a.starts_with("dns_")) {
                for s in &saved {
                    if !lineage.dns_credentials.contains(s) {
                        lineage.dns_credentials.push(format!("{s} (account.conf)"));
                    }
                }
            }
            found.push(Found {
                lineage,
                contact: contact.clone(),
                live_dir: None,
            });
        }
        Ok((found, failed))
    }
}
