//! Certificate authorities: the built-in presets and the user's own CAs (a directory, an
//! optional TLS trust root, External Account Binding credentials sealed), and how a `--ca` key
//! resolves for an order.

use serde_json::json;
use zeroize::Zeroizing;

use crate::errors::{ServiceError, ServiceResult};
use crate::service::{opt_text, Actor, Services};
use crate::store::acme::{self as store, CaRow};
use crate::store::secrets::SealedColumn;

/// A well-known CA.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
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
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
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
pub(super) struct ResolvedCa {
    pub(super) directory: String,
    pub(super) trust_root: Option<String>,
    pub(super) eab_required: bool,
    pub(super) eab: Option<(String, Zeroizing<Vec<u8>>)>,
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
        )?;
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
    pub(super) async fn resolve_ca(&self, user_id: i64, key: &str) -> ServiceResult<ResolvedCa> {
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
}
