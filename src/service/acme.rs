//! Certificates from ACME: CA presets and custom CAs, accounts (one per CA and contact, sealed),
//! DNS providers (RFC 2136 for now; secrets sealed), certificate requests, and the
//! `certificate_issue` task that runs an order through the engine and stores the result.

use serde_json::{json, Value};
use zeroize::Zeroizing;

use super::runner::{RunFuture, TaskContext, TaskFailure, TaskRunner};
use super::tasks::enqueue::TaskInput;
use super::{opt_text, Actor, Services};
use crate::domain::{CertificateStatus, CertificateType, DomainName, Email, EncryptionType, LogLevel, TaskType};
use crate::engine::acme::{
    AcmeAccount, AcmeError, BoxFut, CertKey, Challenge, ChallengeKind, KeySpec, OrderOptions, Solver, Step,
};
use crate::engine::dns01::{Dns01Solver, ManualDns, Propagation};
use crate::engine::dnsapi::DnsRecords;
use crate::engine::http01::{StandaloneHttp01, WebrootOverSsh};
use crate::engine::rfc2136::Rfc2136;
use crate::errors::{ServiceError, ServiceResult};
use crate::store::acme::{self as store, AccountRow, CaRow, DnsProviderRow, IssuanceRow};
use crate::store::certificates::{self as certs, CertificateMaterial, CertificateRow, NewCertificate};
use crate::store::secrets::SealedColumn;
use crate::store::tasks::TaskRow;

/// A well-known CA.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CaPreset {
    /// Key used on the command line (`--ca`).
    pub key: &'static str,
    /// Display name.
    pub name: &'static str,
    /// ACME directory.
    pub directory_url: &'static str,
    /// Needs External Account Binding (kid + HMAC key from the CA's console).
    pub eab_required: bool,
}

/// The built-in CAs.
pub const CA_PRESETS: &[CaPreset] = &[
    CaPreset {
        key: "letsencrypt",
        name: "Let's Encrypt",
        directory_url: "https://acme-v02.api.letsencrypt.org/directory",
        eab_required: false,
    },
    CaPreset {
        key: "letsencrypt-staging",
        name: "Let's Encrypt (staging)",
        directory_url: "https://acme-staging-v02.api.letsencrypt.org/directory",
        eab_required: false,
    },
    CaPreset {
        key: "zerossl",
        name: "ZeroSSL",
        directory_url: "https://acme.zerossl.com/v2/DV90",
        eab_required: true,
    },
    CaPreset {
        key: "google",
        name: "Google Trust Services",
        directory_url: "https://dv.acme-v02.api.pki.goog/directory",
        eab_required: true,
    },
    CaPreset {
        key: "buypass",
        name: "Buypass Go SSL",
        directory_url: "https://api.buypass.com/acme/directory",
        eab_required: false,
    },
    CaPreset {
        key: "sslcom",
        name: "SSL.com",
        directory_url: "https://acme.ssl.com/sslcom-dv-ecc",
        eab_required: true,
    },
];

/// A CA as the list shows it: a preset or one of the user's own.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CaView {
    /// `--ca` value.
    pub key: String,
    /// Display name.
    pub name: String,
    /// Directory URL.
    pub directory_url: String,
    /// Needs EAB.
    pub eab_required: bool,
    /// Built in, or added by the user.
    pub custom: bool,
    /// Carries its own TLS trust root.
    pub has_trust_root: bool,
    /// EAB credentials are stored (key id shown, HMAC key sealed).
    pub eab_kid: Option<String>,
}

/// A CA resolved for an order: directory, TLS trust root, and EAB credentials if it needs them.
struct ResolvedCa {
    directory: String,
    trust_root: Option<String>,
    eab_required: bool,
    eab: Option<(String, Zeroizing<Vec<u8>>)>,
}

/// Decodes an EAB HMAC key as CAs print it (base64url without padding; padded or standard
/// base64 accepted).
fn decode_hmac(s: &str) -> Result<Vec<u8>, String> {
    use base64::Engine;
    let t = s.trim().trim_end_matches('=');
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(t)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(t))
        .map_err(|_| "the EAB HMAC key is not base64url".to_string())
        .and_then(|k| {
            if k.is_empty() {
                Err("the EAB HMAC key is empty".to_string())
            } else {
                Ok(k)
            }
        })
}

/// A certificate request.
#[derive(Debug, Clone, Default)]
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
    pub key_reuse: bool,
    /// ACME profile (the CA must offer it; checked when the order is placed).
    pub profile: Option<String>,
    /// Keep the alternate chain whose topmost certificate is issued by this name, if offered.
    pub preferred_chain: Option<String>,
    /// Display name.
    pub name: Option<String>,
}

/// Runs `certificate_issue` and `certificate_renew` tasks (a renewal is obtained exactly as the
/// first issuance: it reads only the certificate's issuance settings).
pub struct IssueRunner;

impl TaskRunner for IssueRunner {
    fn run<'a>(&'a self, ctx: &'a TaskContext) -> RunFuture<'a> {
        Box::pin(async move { ctx.services().issue_run(ctx).await })
    }
}

/// RFC 2136 settings of a DNS provider (plain part).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Rfc2136Settings {
    /// Primary server `host:port`.
    pub server: String,
    /// Zone apex.
    pub zone: String,
    /// TSIG key name.
    pub key_name: String,
    /// `hmac-sha256` / `hmac-sha384` / `hmac-sha512`.
    pub algorithm: String,
}

impl Services {
    /// The CAs the actor can use: presets, then the actor's own.
    pub async fn ca_list(&self, actor: &Actor) -> ServiceResult<Vec<CaView>> {
        let mut out: Vec<CaView> = CA_PRESETS
            .iter()
            .map(|p| CaView {
                key: p.key.into(),
                name: p.name.into(),
                directory_url: p.directory_url.into(),
                eab_required: p.eab_required,
                custom: false,
                has_trust_root: false,
                eab_kid: None,
            })
            .collect();
        for c in store::list_cas(self.db(), actor.user_id).await? {
            out.push(CaView {
                key: c.name.clone(),
                name: c.name,
                directory_url: c.directory_url,
                eab_required: c.eab_required,
                custom: true,
                has_trust_root: c.trust_root_pem.is_some(),
                eab_kid: c.eab_kid,
            });
        }
        Ok(out)
    }

    /// Adds a custom CA (private CA, step-ca, Pebble) with an optional TLS trust root (PEM).
    pub async fn ca_add(
        &self,
        actor: &Actor,
        name: &str,
        directory_url: &str,
        trust_root_pem: Option<&str>,
        eab_required: bool,
        eab: Option<(&str, &str)>,
    ) -> ServiceResult<CaView> {
        let name = opt_text("name", Some(name), 100)?.ok_or_else(|| ServiceError::invalid("name", "is required"))?;
        if CA_PRESETS.iter().any(|p| p.key == name) {
            return Err(ServiceError::invalid("name", format!("'{name}' is a built-in CA")));
        }
        let url = url::Url::parse(directory_url.trim())
            .map_err(|e| ServiceError::invalid("directory", format!("not a URL: {e}")))?;
        if url.scheme() != "https" {
            return Err(ServiceError::invalid(
                "directory",
                "an ACME directory is served over https",
            ));
        }
        crate::domain::check_len("directory", url.as_str(), 255)?;
        if let Some(pem) = trust_root_pem {
            let n = crate::domain::certpem::certificates_der(pem.as_bytes())
                .map_err(|e| ServiceError::invalid("trust_root", e))?
                .len();
            if n == 0 {
                return Err(ServiceError::invalid("trust_root", "holds no certificate"));
            }
        }
        let (eab_kid, eab_hmac_encrypted) = match eab {
            Some((kid, hmac)) => {
                let kid = opt_text("eab_kid", Some(kid), 255)?
                    .ok_or_else(|| ServiceError::invalid("eab_kid", "is required with an HMAC key"))?;
                let key = Zeroizing::new(decode_hmac(hmac).map_err(|e| ServiceError::invalid("eab_hmac", e))?);
                // Sealed for the new row's id by `insert_ca` (the id is bound into the envelope).
                let sealed = self.seal_on_insert(
                    SealedColumn::CaEabHmac,
                    "eab_hmac",
                    Zeroizing::new(hmac.trim().as_bytes().to_vec()),
                    65_535,
                )?;
                drop(key);
                (Some(kid), Some(sealed))
            }
            None => (None, None),
        };
        let eab_required = eab_required || eab_kid.is_some();
        let audit = self.audit(
            Some(actor),
            "acme_ca.create",
            "acme_ca",
            None,
            json!({"name": name, "directory_url": url.as_str()}),
        );
        let row = CaRow {
            id: 0,
            user_id: actor.user_id,
            name: name.clone(),
            directory_url: url.as_str().to_string(),
            eab_required,
            trust_root_pem: trust_root_pem.map(str::to_string),
            created_at: chrono::Utc::now(),
            eab_kid,
            eab_hmac_encrypted: None,
        };
        store::insert_ca(self.db(), &row, eab_hmac_encrypted.into_iter().collect(), &audit)
            .await
            .map_err(|e| match ServiceError::from(e) {
                ServiceError::Conflict(_) => ServiceError::Conflict(format!("you already have a CA named {name}")),
                other => other,
            })?;
        self.ca_list(actor)
            .await?
            .into_iter()
            .find(|c| c.custom && c.name == name)
            .ok_or_else(|| ServiceError::Internal("the CA vanished".into()))
    }

    /// The CA of a `--ca` key for a user: a preset, or one of the user's own (with its trust
    /// root and EAB credentials).
    async fn resolve_ca(&self, user_id: i64, key: &str) -> ServiceResult<ResolvedCa> {
        if let Some(p) = CA_PRESETS.iter().find(|p| p.key == key) {
            return Ok(ResolvedCa {
                directory: p.directory_url.to_string(),
                trust_root: None,
                eab_required: p.eab_required,
                eab: None,
            });
        }
        let c = store::list_cas(self.db(), user_id)
            .await?
            .into_iter()
            .find(|c| c.name == key)
            .ok_or_else(|| {
                let keys: Vec<&str> = CA_PRESETS.iter().map(|p| p.key).collect();
                ServiceError::invalid(
                    "ca",
                    format!(
                        "unknown CA '{key}': use {} or a CA added with `ca add`",
                        keys.join(", ")
                    ),
                )
            })?;
        let eab = match (&c.eab_kid, &c.eab_hmac_encrypted) {
            (Some(kid), Some(sealed)) => {
                let text = self
                    .open_at(SealedColumn::CaEabHmac, c.id, sealed)
                    .map_err(|e| ServiceError::Internal(e.to_string()))?;
                let key = decode_hmac(&text).map_err(ServiceError::Internal)?;
                Some((kid.clone(), Zeroizing::new(key)))
            }
            _ => None,
        };
        Ok(ResolvedCa {
            directory: c.directory_url,
            trust_root: c.trust_root_pem,
            eab_required: c.eab_required,
            eab,
        })
    }

    /// Adds an RFC 2136 DNS provider; the TSIG secret is sealed.
    pub async fn dns_provider_add_rfc2136(
        &self,
        actor: &Actor,
        name: &str,
        settings: &Rfc2136Settings,
        tsig_secret: &str,
    ) -> ServiceResult<DnsProviderRow> {
        let name = opt_text("name", Some(name), 100)?.ok_or_else(|| ServiceError::invalid("name", "is required"))?;
        settings
            .server
            .parse::<std::net::SocketAddr>()
            .map_err(|_| ServiceError::invalid("server", "must be an IP address and port, e.g. 192.0.2.53:53"))?;
        DomainName::parse(&settings.zone).map_err(|e| ServiceError::invalid("zone", e))?;
        if !["hmac-sha256", "hmac-sha384", "hmac-sha512"].contains(&settings.algorithm.as_str()) {
            return Err(ServiceError::invalid(
                "algorithm",
                "use hmac-sha256, hmac-sha384 or hmac-sha512",
            ));
        }
        {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD
                .decode(tsig_secret.trim())
                .map_err(|_| {
                    ServiceError::invalid("secret", "the TSIG secret must be base64 (as tsig-keygen prints it)")
                })?;
        }
        self.check_dns_provider_targets("rfc2136", &json!({"server": settings.server}))
            .await?;
        let secrets = json!({"tsig_secret": tsig_secret.trim()});
        self.insert_provider(
            actor,
            &name,
            "rfc2136",
            serde_json::to_value(settings).unwrap_or(Value::Null),
            Some(secrets),
        )
        .await
    }

    /// Adds a DNS provider of any type: `rfc2136` (settings server, zone, key_name, algorithm;
    /// secret `tsig_secret`), `manual` (no secret), or an HTTP API (`cloudflare`, `aliyun`,
    /// `dnspod`, `huaweicloud`: see [`crate::engine::dnsapi::PROVIDERS`]). Every type also
    /// takes the settings `zone` (where `dns-provider test` writes) and `delegation_zone`
    /// (`_acme-challenge` names must be CNAMEs into it). Secrets are sealed.
    pub async fn dns_provider_add(
        &self,
        actor: &Actor,
        name: &str,
        provider_type: &str,
        settings: &serde_json::Map<String, Value>,
        secrets: &serde_json::Map<String, Value>,
    ) -> ServiceResult<DnsProviderRow> {
        for key in ["zone", "delegation_zone"] {
            if let Some(v) = settings.get(key) {
                let text = v.as_str().unwrap_or_default();
                DomainName::parse(text).map_err(|e| ServiceError::invalid(key, e))?;
            }
        }
        let secret_text = |k: &str| secrets.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
        match provider_type {
            "rfc2136" => {
                let get = |k: &str| settings.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
                let s = Rfc2136Settings {
                    server: get("server"),
                    zone: get("zone"),
                    key_name: get("key_name"),
                    algorithm: Some(get("algorithm"))
                        .filter(|a| !a.is_empty())
                        .unwrap_or("hmac-sha256".into()),
                };
                return self
                    .dns_provider_add_rfc2136(actor, name, &s, &secret_text("tsig_secret"))
                    .await;
            }
            "manual" => {
                if let Some(k) = secrets.keys().next() {
                    return Err(ServiceError::invalid(k, "a manual provider keeps no secret"));
                }
                if let Some(k) = settings
                    .keys()
                    .find(|k| !["zone", "delegation_zone"].contains(&k.as_str()))
                {
                    return Err(ServiceError::invalid(
                        k,
                        "a manual provider takes only zone and delegation_zone",
                    ));
                }
            }
            other => {
                let spec = crate::engine::dnsapi::PROVIDERS
                    .iter()
                    .find(|p| p.provider_type == other)
                    .ok_or_else(|| {
                        ServiceError::invalid(
                            "type",
                            format!(
                                "unknown DNS provider type '{other}': use rfc2136, manual, {}",
                                crate::engine::dnsapi::PROVIDERS
                                    .iter()
                                    .map(|p| p.provider_type)
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        )
                    })?;
                if let Some(k) = settings.keys().find(|k| {
                    !spec.settings.contains(&k.as_str()) && !["zone", "delegation_zone"].contains(&k.as_str())
                }) {
                    return Err(ServiceError::invalid(
                        k,
                        format!(
                            "{} takes the settings {}, zone, delegation_zone",
                            spec.title,
                            spec.settings.join(", ")
                        ),
                    ));
                }
                if let Some(k) = secrets.keys().find(|k| !spec.secrets.contains(&k.as_str())) {
                    return Err(ServiceError::invalid(
                        k,
                        format!("{} takes the secrets {}", spec.title, spec.secrets.join(", ")),
                    ));
                }
                self.check_dns_provider_targets(other, &Value::Object(settings.clone()))
                    .await?;
                // Builds the client offline: a missing or empty secret is named here.
                crate::engine::dnsapi::build(other, &Value::Object(settings.clone()), &Value::Object(secrets.clone()))
                    .map_err(|e| ServiceError::invalid("secret", e))?;
            }
        }
        let name = opt_text("name", Some(name), 100)?.ok_or_else(|| ServiceError::invalid("name", "is required"))?;
        let sealed_secrets = (provider_type != "manual").then(|| Value::Object(secrets.clone()));
        self.insert_provider(
            actor,
            &name,
            provider_type,
            Value::Object(settings.clone()),
            sealed_secrets,
        )
        .await
    }

    async fn insert_provider(
        &self,
        actor: &Actor,
        name: &str,
        provider_type: &str,
        settings: Value,
        secrets: Option<Value>,
    ) -> ServiceResult<DnsProviderRow> {
        let name = name.to_string();
        // Sealed for the new row's id by `insert_provider` (the id is bound into the envelope).
        let sealed = match secrets {
            Some(v) => Some(self.seal_on_insert(
                SealedColumn::DnsProviderSecrets,
                "secret",
                Zeroizing::new(v.to_string().into_bytes()),
                65_535,
            )?),
            None => None,
        };
        // The audit row shows the plain settings only.
        let audit = self.audit(
            Some(actor),
            "dns_provider.create",
            "dns_provider",
            None,
            json!({"name": name, "type": provider_type, "settings": settings}),
        );
        let row = DnsProviderRow {
            id: 0,
            user_id: actor.user_id,
            name: name.clone(),
            provider_type: provider_type.into(),
            settings: Some(sqlx::types::Json(settings)),
            secrets_encrypted: None,
            created_at: chrono::Utc::now(),
        };
        let id = store::insert_provider(self.db(), &row, sealed.into_iter().collect(), &audit)
            .await
            .map_err(|e| match ServiceError::from(e) {
                ServiceError::Conflict(_) => {
                    ServiceError::Conflict(format!("you already have a DNS provider named {name}"))
                }
                other => other,
            })?;
        self.dns_provider_get(actor, id).await
    }

    /// A DNS provider the actor may use.
    pub async fn dns_provider_get(&self, actor: &Actor, id: i64) -> ServiceResult<DnsProviderRow> {
        let p = store::get_provider(self.db(), id)
            .await?
            .ok_or_else(|| ServiceError::not_found("dns provider", id))?;
        super::ensure_owner(actor, p.user_id, "dns provider", id)?;
        Ok(p)
    }

    /// The actor's DNS providers (all for an admin).
    pub async fn dns_provider_list(&self, actor: &Actor) -> ServiceResult<Vec<DnsProviderRow>> {
        Ok(store::list_providers(self.db(), (!actor.is_admin()).then_some(actor.user_id)).await?)
    }

    /// The DNS host of a provider, with its secret opened, and its delegation zone.
    async fn provider_records(&self, p: &DnsProviderRow) -> ServiceResult<(Box<dyn DnsRecords>, Option<String>)> {
        let settings = p.settings.as_ref().map(|j| j.0.clone()).unwrap_or(Value::Null);
        let delegation = settings["delegation_zone"].as_str().map(str::to_string);
        // Checked at each use too: the lists may have changed, names may resolve elsewhere.
        self.check_dns_provider_targets(&p.provider_type, &settings).await?;
        let secrets = || -> ServiceResult<Value> {
            let sealed = p
                .secrets_encrypted
                .as_deref()
                .ok_or_else(|| ServiceError::Internal(format!("DNS provider {} has no secret stored", p.id)))?;
            let plain = self
                .open_at(SealedColumn::DnsProviderSecrets, p.id, sealed)
                .map_err(|e| ServiceError::Internal(e.to_string()))?;
            serde_json::from_str(&plain).map_err(|e| ServiceError::Internal(e.to_string()))
        };
        let records: Box<dyn DnsRecords> = match p.provider_type.as_str() {
            "manual" => Box::new(ManualDns),
            "rfc2136" => {
                let s: Rfc2136Settings = serde_json::from_value(settings.clone())
                    .map_err(|e| ServiceError::Internal(format!("provider {} settings: {e}", p.id)))?;
                let v = secrets()?;
                Box::new(Rfc2136 {
                    server: s
                        .server
                        .parse()
                        .map_err(|_| ServiceError::Internal("bad server".into()))?,
                    zone: s.zone,
                    key_name: s.key_name,
                    algorithm: s.algorithm,
                    secret_b64: Zeroizing::new(v["tsig_secret"].as_str().unwrap_or_default().to_string()),
                    ttl: 60,
                })
            }
            other => crate::engine::dnsapi::build(other, &settings, &secrets()?)
                .map_err(|e| ServiceError::invalid("dns_provider", e))?,
        };
        Ok((records, delegation))
    }

    /// Where dns-01 looks for the records (system settings `acme.dns_*`).
    async fn propagation(&self) -> ServiceResult<Propagation> {
        let resolvers = crate::store::settings::get(self.db(), "acme.dns_resolvers")
            .await?
            .and_then(|r| r.setting_value)
            .unwrap_or_default()
            .split(',')
            .filter_map(|a| a.trim().parse().ok())
            .collect();
        Ok(Propagation {
            resolvers,
            authoritative_port: self
                .setting_number("acme.dns_authoritative_port")
                .await?
                .clamp(1, 65_535) as u16,
            timeout: std::time::Duration::from_secs(
                self.setting_number("acme.dns_propagation_timeout_seconds")
                    .await?
                    .clamp(5, 86_400) as u64,
            ),
            ..Propagation::default()
        })
    }

    /// Tests a DNS provider: writes a TXT record `_certdeck-test.<zone>`, waits until the
    /// zone's authoritative servers show it, and removes it.
    pub async fn dns_provider_test(&self, actor: &Actor, id: i64) -> ServiceResult<String> {
        let p = self.dns_provider_get(actor, id).await?;
        let (records, _) = self.provider_records(&p).await?;
        if records.is_manual() {
            return Err(ServiceError::Conflict(format!(
                "{} is a manual provider: there is nothing certdeck can write to test",
                p.name
            )));
        }
        let zone = p
            .settings
            .as_ref()
            .and_then(|j| j.0["zone"].as_str().map(str::to_string))
            .ok_or_else(|| ServiceError::invalid("zone", "the provider has no zone setting to test in"))?;
        let name = format!("_certdeck-test.{zone}");
        let value = format!("certdeck-{:08x}", rand::random::<u32>());
        let solver = Dns01Solver::new(records, self.propagation().await?, None);
        solver
            .records
            .add_txt(&name, &value)
            .await
            .map_err(ServiceError::Remote)?;
        let lines = std::sync::Mutex::new(Vec::new());
        let seen = solver
            .wait_visible(&[(name.clone(), value.clone())], &|l| {
                if let Ok(mut v) = lines.lock() {
                    v.push(l)
                }
            })
            .await;
        let removed = solver.records.delete_txt(&name, &value).await;
        seen.map_err(ServiceError::Remote)?;
        removed.map_err(ServiceError::Remote)?;
        Ok(format!(
            "wrote, saw and removed TXT {name} through {}{}",
            solver.records.describe(),
            lines
                .lock()
                .map(|v| v.iter().map(|l| format!("\n  {l}")).collect::<String>())
                .unwrap_or_default()
        ))
    }

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
        );
        crate::store::audit::insert(self.db(), &audit).await?;
        Ok(store::get_issuance(self.db(), id).await?.unwrap_or(row))
    }

    /// Requests a certificate: a `pending` certificate, how to obtain it, and a
    /// `certificate_issue` task.
    pub async fn cert_request(&self, actor: &Actor, input: &RequestInput) -> ServiceResult<(CertificateRow, TaskRow)> {
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
        );
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
            );
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

    async fn issue_run(&self, ctx: &TaskContext) -> Result<Value, TaskFailure> {
        let id = ctx
            .task()
            .target_id
            .ok_or_else(|| TaskFailure::permanent("certificate_issue needs a certificate"))?;
        let cert = certs::get(self.db(), id)
            .await?
            .ok_or_else(|| TaskFailure::permanent(format!("certificate {id} no longer exists")))?;
        let iss = store::get_issuance(self.db(), id).await?.ok_or_else(|| {
            TaskFailure::permanent(format!(
                "certificate {id} has no issuance settings (request it with `cert request`)"
            ))
        })?;
        let renewal = ctx.task().task_type == TaskType::CertificateRenew;
        if renewal {
            ctx.log(
                LogLevel::Info,
                &format!(
                    "renewing {} (expires {})",
                    cert.main_domain,
                    cert.expires_at
                        .map(|t| t.format("%Y-%m-%d").to_string())
                        .unwrap_or_default()
                ),
                None,
            )
            .await?;
        }
        let r = self.issue_with(ctx, &cert, &iss).await;
        if let Err(f) = &r {
            // Final: a permanent failure, or a transient one that used the last attempt. Both
            // end the same way: the certificate turns `error` (a failed renewal leaves a still
            // valid certificate `issued`) and its monitor's certificate_error rules fire.
            let last = ctx.is_last_attempt();
            let why = match f {
                TaskFailure::Permanent(why) => Some(why.clone()),
                TaskFailure::Transient { message, .. } if last => Some(message.clone()),
                _ => None,
            };
            if let Some(why) = why {
                for line in self.obtain_failed(&cert, renewal, &why).await? {
                    ctx.log(LogLevel::Warning, &line, None).await?;
                }
            }
        }
        r
    }

    /// The end of an issuance or renewal that failed for good (a permanent failure, the last
    /// attempt's transient one, or a worker lost on the last attempt): the certificate turns
    /// `error` — unless a renewal failed while it is still valid and `issued` — and its
    /// monitor's certificate_error rules fire. Returns the alert notes.
    pub(super) async fn obtain_failed(
        &self,
        cert: &CertificateRow,
        renewal: bool,
        why: &str,
    ) -> ServiceResult<Vec<String>> {
        let still_valid = renewal
            && cert.status == CertificateStatus::Issued
            && cert.expires_at.is_some_and(|t| t > chrono::Utc::now());
        if !still_valid {
            certs::set_status(self.db(), cert.id, CertificateStatus::Error).await?;
        }
        let what = if renewal { "renewal" } else { "issuance" };
        self.record_task_failure(cert.id, what, why).await
    }

    async fn issue_with(
        &self,
        ctx: &TaskContext,
        cert: &CertificateRow,
        iss: &IssuanceRow,
    ) -> Result<Value, TaskFailure> {
        let log = |m: String| async move { ctx.log(LogLevel::Info, &m, None).await };
        let ca = self.resolve_ca(cert.user_id, &iss.ca).await?;
        let account = self
            .account_for(ctx, cert.user_id, iss, ca.trust_root.as_deref(), ca.eab.as_ref())
            .await?;
        ctx.progress(15).await?;
        let spec = KeySpec::parse(&iss.key_type).map_err(TaskFailure::permanent)?;
        let renewal = ctx.task().task_type == TaskType::CertificateRenew;
        let material = certs::get_material(self.db(), cert.id).await?;
        let key = match material.as_ref().and_then(|m| m.private_key_encrypted.as_deref()) {
            Some(sealed) if iss.key_reuse && renewal => {
                let pem = self
                    .open_at(SealedColumn::CertificateKey, cert.id, sealed)
                    .map_err(|e| TaskFailure::permanent(e.to_string()))?;
                let der = crate::domain::certpem::pem_blocks(pem.as_bytes())
                    .map_err(TaskFailure::permanent)?
                    .into_iter()
                    .find(|b| b.label == "PRIVATE KEY")
                    .ok_or_else(|| {
                        TaskFailure::permanent("key reuse is on, but the stored key is not PKCS#8 (PRIVATE KEY)")
                    })?;
                log("reusing the certificate's key (key reuse is on)".into()).await?;
                CertKey {
                    spec,
                    pkcs8_der: Zeroizing::new(der.der.clone()),
                }
            }
            _ => {
                let k = CertKey::generate(spec).map_err(|e| TaskFailure::permanent(e.to_string()))?;
                log(format!("generated a {} key", spec.name())).await?;
                k
            }
        };
        let old_der = material
            .as_ref()
            .and_then(|m| m.certificate_pem.as_deref())
            .and_then(|p| crate::domain::certpem::certificates_der(p.as_bytes()).ok())
            .and_then(|v| v.into_iter().next());
        let options = OrderOptions {
            replaces: if renewal { old_der } else { None },
            profile: iss.profile.clone(),
            preferred_chain: iss.preferred_chain.clone(),
        };
        let domains: Vec<String> =
            serde_json::from_str(&cert.domains).unwrap_or_else(|_| vec![cert.main_domain.clone()]);
        let inner = self.solver_for(iss).await?;
        let solver = Recording {
            svc: self,
            certificate_id: cert.id,
            inner,
            rows: std::sync::Mutex::new(Vec::new()),
        };
        // Steps are logged as they happen (the console follows the task's log).
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        let order = async {
            let tx = tx;
            let step = |s: String| {
                let _ = tx.send(s);
            };
            let r = account.issue(&domains, &key, &solver, &options, &step).await;
            drop(tx);
            r
        };
        let logging = async {
            while let Some(line) = rx.recv().await {
                log(line).await?;
            }
            Ok::<(), TaskFailure>(())
        };
        let (res, logged) = tokio::join!(order, logging);
        logged?;
        let rows: Vec<i64> = solver.rows.lock().map(|v| v.clone()).unwrap_or_default();
        store::finish_challenges(self.db(), &rows, res.is_ok()).await?;
        let issued = res.map_err(|e| {
            let m = e.to_string();
            if e.is_transient() {
                TaskFailure::transient(m)
            } else {
                TaskFailure::permanent(m)
            }
        })?;
        ctx.progress(90).await?;
        let der = crate::domain::certpem::certificates_der(issued.cert_pem.as_bytes())
            .map_err(TaskFailure::permanent)?
            .into_iter()
            .next()
            .ok_or_else(|| TaskFailure::permanent("no certificate"))?;
        let facts = crate::domain::certpem::cert_facts(&der).map_err(TaskFailure::permanent)?;
        let sealed = self
            .keyring()
            .seal_for_column(
                &SealedColumn::CertificateKey.place(cert.id),
                key.pem().as_bytes(),
                65_535,
            )
            .map_err(|e| TaskFailure::permanent(e.to_string()))?;
        certs::set_issued(
            self.db(),
            cert.id,
            &CertificateMaterial {
                certificate_pem: Some(issued.cert_pem.clone()),
                private_key_encrypted: Some(sealed),
                chain_pem: Some(issued.chain_pem.clone()).filter(|c| !c.is_empty()),
                notes: None,
            },
            facts.issuer.as_deref(),
            facts.issued_at,
            facts.expires_at,
        )
        .await?;
        // The new certificate's renewal window is fetched by the next certificate check.
        store::set_ari(self.db(), cert.id, &store::AriState::default()).await?;
        log(format!(
            "issued by {} until {}",
            facts.issuer.as_deref().unwrap_or("?"),
            facts.expires_at.format("%Y-%m-%d")
        ))
        .await?;
        // Auto deploys of this certificate: one task for all of them.
        let autos = certs::list_deployments(self.db(), Some(cert.id), None)
            .await?
            .into_iter()
            .filter(|d| d.auto_deploy)
            .count();
        if autos > 0 {
            let t =
                crate::store::queue::NewTask::system(TaskType::CertificateDeploy, 6, Some(("certificate", cert.id)));
            // One open deploy per deployment: a queued one deploys this certificate too.
            let line = match self.task_enqueue_once(&t, &Default::default(), None).await? {
                crate::store::queue::Enqueued::New(tid) => {
                    format!("queued deploy task {tid} for {autos} auto-deploy deployment(s)")
                }
                crate::store::queue::Enqueued::Existing(tid) => {
                    format!("deploy task {tid}, already queued, deploys this certificate")
                }
            };
            log(line).await?;
        }
        ctx.progress(100).await?;
        Ok(json!({"expires_at": facts.expires_at, "issuer": facts.issuer, "domains": domains}))
    }

    /// The challenge solver of an issuance: the DNS provider (dns-01), the server's webroot over
    /// SSH or a listener here (http-01).
    async fn solver_for(&self, iss: &IssuanceRow) -> Result<Box<dyn Solver>, TaskFailure> {
        if iss.challenge_type == "dns-01" {
            let pid = iss
                .dns_provider_id
                .ok_or_else(|| TaskFailure::permanent("dns-01 without a DNS provider"))?;
            let p = store::get_provider(self.db(), pid)
                .await?
                .ok_or_else(|| TaskFailure::permanent(format!("DNS provider {pid} no longer exists")))?;
            let (records, delegation) = self.provider_records(&p).await?;
            return Ok(Box::new(Dns01Solver::new(
                records,
                self.propagation().await?,
                delegation,
            )));
        }
        if let Some(sid) = iss.http_server_id {
            let server = crate::store::servers::get_server(self.db(), sid)
                .await?
                .ok_or_else(|| TaskFailure::permanent(format!("server {sid} (http-01 webroot) no longer exists")))?;
            let webroot = iss
                .webroot
                .clone()
                .ok_or_else(|| TaskFailure::permanent("http-01 over SSH needs a webroot"))?;
            let session = self.ssh_connect(&server).await.map_err(TaskFailure::from)?;
            return Ok(Box::new(WebrootOverSsh {
                session,
                webroot,
                sudo: server.privilege_mode == crate::domain::PrivilegeMode::Sudo,
            }));
        }
        let addr = iss.http_listen.as_deref().unwrap_or("0.0.0.0:80");
        let a = addr
            .parse()
            .map_err(|_| TaskFailure::permanent(format!("bad http-01 listen address {addr}")))?;
        Ok(Box::new(
            StandaloneHttp01::bind(a).await.map_err(TaskFailure::transient)?,
        ))
    }

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

    /// Queues a renewal of a certificate obtained through ACME.
    pub async fn cert_renew(&self, actor: &Actor, id: i64) -> ServiceResult<TaskRow> {
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
        );
        crate::store::audit::insert(self.db(), &audit).await?;
        self.cert_get(actor, id).await
    }

    /// The account for (user, CA, contact): stored, or created now and stored sealed.
    async fn account_for(
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
        );
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

/// Accounts restored during one renewal-information sweep (or why the CA could not be reached).
type AccountCache = std::collections::HashMap<i64, Result<std::sync::Arc<AcmeAccount>, String>>;

/// Records every challenge as a `dns_challenges` row while the real solver works.
struct Recording<'a> {
    svc: &'a Services,
    certificate_id: i64,
    inner: Box<dyn Solver>,
    rows: std::sync::Mutex<Vec<i64>>,
}

impl Solver for Recording<'_> {
    fn kind(&self) -> ChallengeKind {
        self.inner.kind()
    }

    fn present<'a>(&'a self, challenges: &'a [Challenge], step: Step<'a>) -> BoxFut<'a, Result<(), String>> {
        Box::pin(async move {
            for c in challenges {
                let domain = if c.wildcard {
                    format!("*.{}", c.domain)
                } else {
                    c.domain.clone()
                };
                let (ct, name, rtype, value) = match self.inner.kind() {
                    ChallengeKind::Dns01 => ("dns-01", c.record_name(), "TXT", c.dns_value.clone()),
                    ChallengeKind::Http01 => ("http-01", c.http_path(), "HTTP", c.key_authorization.clone()),
                };
                let id = store::insert_challenge(self.svc.db(), self.certificate_id, &domain, ct, &name, rtype, &value)
                    .await
                    .map_err(|e| e.to_string())?;
                if let Ok(mut v) = self.rows.lock() {
                    v.push(id);
                }
            }
            self.inner.present(challenges, step).await
        })
    }

    fn cleanup<'a>(&'a self, challenges: &'a [Challenge], step: Step<'a>) -> BoxFut<'a, Result<(), String>> {
        self.inner.cleanup(challenges, step)
    }
}
