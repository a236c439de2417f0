//! Importing one lineage exactly like `cert import`, with its renewal settings mapped onto
//! certdeck's issuance settings where they map, and the report of what is left to do by hand.

use serde_json::json;

use super::files::{basename, join, Files};
use super::lineages::Found;
use super::{LineageReport, MappedRenewal, MigrateOutcome, HTTP_LISTEN, MAX_PEM};
use crate::domain::acme_clients::{self as ac, AcmeTool, Lineage, MappedChallenge, MappedSettings};
use crate::domain::certpem;
use crate::errors::{ServiceError, ServiceResult};
use crate::service::acme::CA_PRESETS;
use crate::service::certificates::ImportInput;
use crate::service::{Actor, Services};
use crate::store::acme::{self as acme_store, IssuanceRow};

impl Services {
    /// Reads a lineage's file: the recorded path, else the same name in certbot's `live/<name>/`.
    async fn lineage_file(
        files: &Files<'_>,
        recorded: Option<&str>,
        fallback: Option<String>,
    ) -> Result<Option<(String, Vec<u8>)>, String> {
        if let Some(p) = recorded {
            if let Some(d) = files.read(p, MAX_PEM).await? {
                return Ok(Some((p.to_string(), d)));
            }
        }
        if let Some(p) = fallback {
            if Some(p.as_str()) != recorded {
                if let Some(d) = files.read(&p, MAX_PEM).await? {
                    return Ok(Some((p, d)));
                }
            }
        }
        Ok(None)
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) async fn migrate_lineage(
        &self,
        actor: &Actor,
        files: &Files<'_>,
        f: &Found,
        cas: &[(String, String)],
        contact: (String, String),
        server_id: Option<i64>,
        server: Option<&str>,
    ) -> LineageReport {
        let l = &f.lineage;
        let mut r = LineageReport::new(l);
        let fb = |recorded: &Option<String>, default: &str| {
            f.live_dir.as_ref().map(|d| {
                let name = recorded.as_deref().map(basename).unwrap_or(default);
                join(d, name)
            })
        };
        let read = |recorded: Option<String>, fallback: Option<String>| async move {
            Self::lineage_file(files, recorded.as_deref(), fallback).await
        };
        // Certificate: the leaf file (+ chain), else the fullchain.
        let (cert, chain) = match read(l.files.cert.clone(), fb(&l.files.cert, "cert.pem")).await {
            Err(e) => return r.failed(e),
            Ok(Some((_, c))) => match read(l.files.chain.clone(), fb(&l.files.chain, "chain.pem")).await {
                Err(e) => return r.failed(e),
                Ok(chain) => (c, chain.map(|(_, d)| d)),
            },
            Ok(None) => match read(l.files.fullchain.clone(), fb(&l.files.fullchain, "fullchain.pem")).await {
                Err(e) => return r.failed(e),
                Ok(Some((_, c))) => (c, None),
                Ok(None) => {
                    return r.failed(format!(
                        "the certificate file is missing ({})",
                        l.files.cert.as_deref().unwrap_or("no cert path recorded")
                    ))
                }
            },
        };
        let key = match read(l.files.key.clone(), fb(&l.files.key, "privkey.pem")).await {
            Err(e) => return r.failed(e),
            Ok(Some((_, k))) => zeroize::Zeroizing::new(k),
            Ok(None) => {
                return r.failed(format!(
                    "the private key file is missing ({})",
                    l.files.key.as_deref().unwrap_or("no privkey path recorded")
                ))
            }
        };
        let mapped = ac::map_settings(l, cas);
        r.unmapped = mapped.unmapped.clone();
        r.renewal = Some(renewal_of(&mapped, contact));
        // Already here?
        let leaf = match certpem::certificates_der(&cert) {
            Ok(v) if !v.is_empty() => v[0].clone(),
            Ok(_) => return r.failed("the certificate file holds no certificate"),
            Err(e) => return r.failed(format!("the certificate file: {e}")),
        };
        match self.same_certificate(actor.user_id, &leaf).await {
            Ok(Some(id)) => {
                r.outcome = MigrateOutcome::AlreadyPresent;
                r.certificate_id = Some(id);
                if let Ok(c) = self.cert_get(actor, id).await {
                    r.main_domain = Some(c.main_domain.clone());
                    r.domains = c.domain_list();
                    r.expires_at = c.expires_at;
                }
                r.renewable = matches!(acme_store::get_issuance(self.db(), id).await, Ok(Some(_)));
                r.todo.push(format!(
                    "already stored as certificate {id}: nothing changed (delete it first to migrate it again)"
                ));
                return r;
            }
            Ok(None) => {}
            Err(e) => return r.failed(e.to_string()),
        }
        let origin = match server {
            Some(s) => format!("{} on {s}", l.config_path),
            None => l.config_path.clone(),
        };
        let imported = match self
            .cert_import(
                actor,
                &ImportInput {
                    name: Some(l.name.chars().take(100).collect()),
                    certificate: cert,
                    private_key: key.to_vec(),
                    chain,
                    notes: Some(format!("migrated from {} lineage {} ({origin})", l.tool, l.name)),
                },
            )
            .await
        {
            Ok(c) => c,
            Err(e) => return r.failed(e.to_string()),
        };
        let id = imported.id;
        r.outcome = MigrateOutcome::Imported;
        r.certificate_id = Some(id);
        r.main_domain = Some(imported.main_domain.clone());
        r.domains = imported.domain_list();
        r.expires_at = imported.expires_at;
        // Renewal settings.
        let (renewable, reason) = renewability(&mapped, l, server_id);
        r.renewable = renewable;
        r.not_renewable_reason = reason;
        if mapped.complete() {
            let challenge = mapped
                .challenge
                .as_ref()
                .map(|c| c.challenge_type())
                .unwrap_or("http-01");
            let row = IssuanceRow {
                certificate_id: id,
                ca: mapped.ca.clone().unwrap_or_default(),
                directory_url: mapped.directory_url.clone().unwrap_or_default(),
                contact_email: r.renewal.as_ref().map(|m| m.contact_email.clone()).unwrap_or_default(),
                account_id: None,
                challenge_type: challenge.to_string(),
                dns_provider_id: None,
                http_listen: (challenge == "http-01" && webroot_on_server(&mapped, server_id).is_none())
                    .then(|| HTTP_LISTEN.to_string()),
                key_type: mapped.key_type.clone().unwrap_or_default(),
                key_reuse: mapped.key_reuse,
                profile: None,
                preferred_chain: mapped.preferred_chain.clone().map(|c| c.chars().take(255).collect()),
                http_server_id: webroot_on_server(&mapped, server_id).map(|_| server_id.unwrap_or_default()),
                webroot: webroot_on_server(&mapped, server_id),
            };
            if let Err(e) = acme_store::upsert_issuance(self.db(), &row).await {
                // Leave nothing half done: the certificate goes again.
                // No read-only actor gets here: `acme_migrate` refuses every API key first.
                let audit = self.audit_read(
                    Some(actor),
                    "certificate.delete",
                    "certificate",
                    Some(id),
                    json!({"main_domain": imported.main_domain, "why": "migration could not store its renewal settings"}),
                );
                let _ = self.cert_remove(actor, id, &audit).await;
                return LineageReport::new(l).failed(format!("storing the renewal settings failed: {e}"));
            }
            if let Some(m) = r.renewal.as_mut() {
                m.stored = true;
            }
        }
        r.todo = todo_of(l, &mapped, id, r.renewable, server_id);
        // No read-only actor gets here: `acme_migrate` refuses every API key first.
        let audit = self.audit_read(
            Some(actor),
            "certificate.migrate",
            "certificate",
            Some(id),
            json!({
                "tool": l.tool, "lineage": l.name, "config_path": l.config_path, "server_id": server_id,
                "issuance_stored": mapped.complete(), "renewable": r.renewable, "unmapped": r.unmapped,
            }),
        );
        if let Err(e) = crate::store::audit::insert(self.db(), &audit).await {
            r.todo
                .push(format!("the audit entry of this migration could not be written: {e}"));
        }
        r
    }

    /// The actor's certificate with exactly this leaf (by SHA-256), if stored.
    async fn same_certificate(&self, user_id: i64, leaf_der: &[u8]) -> ServiceResult<Option<i64>> {
        let facts = certpem::cert_facts(leaf_der).map_err(|e| ServiceError::invalid("certificate", e))?;
        let want = certpem::sha256_hex(leaf_der);
        let mut names = facts.domains;
        names.truncate(50);
        let rows = crate::store::discovery::certs_for_names(self.db(), user_id, &names).await?;
        Ok(rows.into_iter().find_map(|(id, pem)| {
            let der = certpem::certificates_der(pem?.as_bytes()).ok()?.into_iter().next()?;
            (certpem::sha256_hex(&der) == want).then_some(id)
        }))
    }
}

fn renewal_of(m: &MappedSettings, contact: (String, String)) -> MappedRenewal {
    MappedRenewal {
        ca: m.ca.clone(),
        directory_url: m.directory_url.clone(),
        challenge_type: m.challenge.as_ref().map(|c| c.challenge_type().to_string()),
        challenge: m.challenge.clone(),
        key_type: m.key_type.clone(),
        key_reuse: m.key_reuse,
        preferred_chain: m.preferred_chain.clone(),
        contact_email: contact.0,
        contact_source: contact.1,
        webroots: match &m.challenge {
            Some(MappedChallenge::Http01Webroot { webroots }) => webroots.clone(),
            _ => Vec::new(),
        },
        stored: false,
    }
}

/// Whether certdeck can renew with the mapped settings as they are, and why not.
/// The one webroot of a lineage read from a server: certdeck answers http-01 there over SSH.
fn webroot_on_server(m: &MappedSettings, server_id: Option<i64>) -> Option<String> {
    match (&m.challenge, server_id) {
        // The same checks as a typed webroot: a renewal file is input like any other.
        (Some(MappedChallenge::Http01Webroot { webroots }), Some(_)) if webroots.len() == 1 => {
            crate::domain::acme_clients::check_webroot(&webroots[0]).ok()
        }
        _ => None,
    }
}

fn renewability(m: &MappedSettings, l: &Lineage, server_id: Option<i64>) -> (bool, Option<String>) {
    if !m.complete() {
        return (
            false,
            Some(format!(
                "its renewal settings did not map ({}), so no issuance settings were stored",
                m.unmapped.join("; ")
            )),
        );
    }
    let ca = m.ca.as_deref().unwrap_or_default();
    let mut why = Vec::new();
    if !m.ca_known {
        why.push(format!("the CA {ca} is not one you have added"));
    } else if let Some(p) = CA_PRESETS.iter().find(|p| p.key == ca && p.eab_required) {
        // An own CA with this directory (carrying the credentials) would have matched first.
        why.push(format!("{} needs External Account Binding credentials", p.name));
    }
    match &m.challenge {
        Some(MappedChallenge::Http01Standalone) | None => {}
        Some(MappedChallenge::Http01Webroot { .. }) if webroot_on_server(m, server_id).is_some() => {}
        Some(MappedChallenge::Http01Webroot { webroots }) if server_id.is_some() && webroots.len() == 1 => {
            let e = crate::domain::acme_clients::check_webroot(&webroots[0])
                .err()
                .unwrap_or_default();
            why.push(format!(
                "the webroot in its renewal configuration is refused ({e}): certdeck writes challenge files only \
                 under an absolute path without '..'"
            ))
        }
        Some(MappedChallenge::Http01Webroot { webroots }) => why.push(format!(
            "{} answered http-01 by writing into the webroot {} on this host or several webroots, while certdeck \
             writes into one webroot on a server over SSH (migrate with --server) or answers with its own listener \
             ({HTTP_LISTEN}); the webroot is recorded in this report only",
            l.tool,
            webroots.join(", ")
        )),
        Some(MappedChallenge::Http01WebServer { server }) => why.push(format!(
            "{} answered http-01 through {server} while certdeck answers with its own listener ({HTTP_LISTEN})",
            l.tool
        )),
        Some(MappedChallenge::Dns01 { plugin, vendor }) => why.push(format!(
            "dns-01 needs a certdeck DNS provider: {}'s {plugin} ({vendor}) credentials are not migrated",
            l.tool
        )),
    }
    if why.is_empty() {
        (true, None)
    } else {
        (false, Some(why.join("; ")))
    }
}

/// What the operator has to do by hand.
fn todo_of(l: &Lineage, m: &MappedSettings, id: i64, renewable: bool, server_id: Option<i64>) -> Vec<String> {
    let mut t = Vec::new();
    if m.complete() && !m.ca_known {
        let url = m.directory_url.as_deref().unwrap_or_default();
        t.push(format!(
            "add the CA under the name its settings use: certdeck ca add '{url}' --directory '{url}'"
        ));
    }
    if let Some(p) =
        m.ca.as_deref()
            .and_then(|ca| CA_PRESETS.iter().find(|p| p.key == ca && p.eab_required))
    {
        t.push(format!(
            "{} needs External Account Binding: add it as your own CA with the key id and HMAC key from its console \
             (certdeck ca add NAME --directory {} --eab-kid KID --eab-hmac-stdin)",
            p.name, p.directory_url
        ));
    }
    match &m.challenge {
        Some(MappedChallenge::Dns01 { plugin, vendor }) => {
            let creds = if l.dns_credentials.is_empty() {
                String::new()
            } else {
                format!(" ({} not migrated: {})", l.tool, l.dns_credentials.join(", "))
            };
            t.push(format!(
                "create a certdeck DNS provider for {vendor} to replace {plugin}{creds} (certdeck dns-provider add …) \
                 and attach it: certdeck cert renewal-setup {id} --ca {} --challenge dns-01 --dns-provider ID",
                m.ca.as_deref().unwrap_or("CA")
            ));
        }
        Some(MappedChallenge::Http01Webroot { .. }) if webroot_on_server(m, server_id).is_some() => {}
        Some(MappedChallenge::Http01Webroot { webroots }) => t.push(format!(
            "webroot {} recorded in the report only: route http://DOMAIN/.well-known/acme-challenge/ to certdeck's \
             http-01 listener ({HTTP_LISTEN}) or move certificate {id} to dns-01",
            webroots.join(", ")
        )),
        Some(MappedChallenge::Http01WebServer { server }) => t.push(format!(
            "{server} answered the challenges for {}: route http://DOMAIN/.well-known/acme-challenge/ to certdeck's \
             http-01 listener ({HTTP_LISTEN}) or move certificate {id} to dns-01",
            l.tool
        )),
        _ => {}
    }
    if let Some(i) = &l.installer {
        t.push(format!(
            "certbot's {i} installer put it into the web server: bind it with certdeck deployment add {id} SERVER --path …"
        ));
    }
    for (k, p) in &l.installed_copies {
        t.push(format!(
            "acme.sh installs a copy at {p} ({k}): bind it with certdeck deployment add {id} SERVER --path {p}"
        ));
    }
    if !l.hooks.is_empty() {
        t.push(format!(
            "{} runs {} around renewals; certdeck deploys and reloads through deployments instead",
            l.tool,
            l.hooks.join(", ")
        ));
    }
    let stop = match l.tool {
        AcmeTool::Certbot => format!("autorenew = False under [renewalparams] in {}", l.config_path),
        AcmeTool::AcmeSh => format!("acme.sh --remove -d {}", l.name),
    };
    if renewable {
        t.push(format!(
            "stop {} renewing it ({stop}), then let certdeck renew it: certdeck cert update {id} --auto-renew true",
            l.tool
        ));
    } else if m.complete() {
        t.push(format!(
            "once the above is done, stop {} renewing it ({stop}) and turn on renewal here: certdeck cert update {id} --auto-renew true",
            l.tool
        ));
    }
    t
}
