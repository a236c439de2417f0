//! DNS providers for dns-01: RFC 2136 (TSIG), manual, and the HTTP APIs of
//! [`crate::engine::dnsapi`]; their secrets sealed. Building a provider's record writer, where
//! dns-01 looks for propagation, and the `dns-provider test` round trip.

use serde_json::{json, Value};
use zeroize::Zeroizing;

use crate::domain::DomainName;
use crate::engine::dns01::{Dns01Solver, ManualDns, Propagation};
use crate::engine::dnsapi::DnsRecords;
use crate::engine::rfc2136::Rfc2136;
use crate::errors::{ServiceError, ServiceResult};
use crate::service::{opt_text, Actor, Services};
use crate::store::acme::{self as store, DnsProviderRow};
use crate::store::secrets::SealedColumn;

/// RFC 2136 settings of a DNS provider (plain part).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
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
    /// Adds an RFC 2136 DNS provider; the TSIG secret is sealed.
    pub async fn dns_provider_add_rfc2136(
        &self,
        actor: &Actor,
        name: &str,
        settings: &Rfc2136Settings,
        tsig_secret: &str,
    ) -> ServiceResult<DnsProviderRow> {
        actor.require_write("dns_provider.create")?;
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
        actor.require_write("dns_provider.create")?;
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
        )?;
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
        crate::service::ensure_owner(actor, p.user_id, "dns provider", id)?;
        Ok(p)
    }

    /// The actor's DNS providers (all for an admin).
    pub async fn dns_provider_list(&self, actor: &Actor) -> ServiceResult<Vec<DnsProviderRow>> {
        Ok(store::list_providers(self.db(), (!actor.is_admin()).then_some(actor.user_id)).await?)
    }

    /// The DNS host of a provider, with its secret opened, and its delegation zone.
    pub(super) async fn provider_records(
        &self,
        p: &DnsProviderRow,
    ) -> ServiceResult<(Box<dyn DnsRecords>, Option<String>)> {
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
    pub(super) async fn propagation(&self) -> ServiceResult<Propagation> {
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
        actor.require_write("dns_provider.test")?;
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
}
