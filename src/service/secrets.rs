//! Secrets at rest, across the service: sealing a value bound to its place (table, column, row
//! id), sealing the secrets of a row about to be inserted, the one-time re-seal of values
//! written before the place binding existed, and master key rotation (every sealed value is
//! re-encrypted under a new key in one transaction, together with the key check value).

use serde_json::{Map, Value};
use zeroize::Zeroizing;

use crate::crypto::{secretbox, Keyring, MasterKey, SecretError};
use crate::errors::{ServiceError, ServiceResult};
use crate::store::meta;
use crate::store::secrets::{self as store, SealOnInsert, SealedColumn};

use super::{Actor, Services};

/// The `certdeck_meta` key recording that every stored secret is bound to its place (value
/// [`BOUND_VERSION`]): the start-up re-seal runs until it is set.
pub const SECRETS_BOUND: &str = "secrets_bound";
/// The value of [`SECRETS_BOUND`] once the re-seal is done.
pub const BOUND_VERSION: &str = "v2";

/// What a rotation did.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct RotationReport {
    /// The new key's id.
    pub new_key_id: String,
    /// The old key's id.
    pub old_key_id: String,
    /// Values re-encrypted.
    pub values: usize,
}

/// What the start-up re-seal did.
#[derive(Debug, Clone, Default, serde::Serialize, schemars::JsonSchema)]
pub struct ResealReport {
    /// Unbound (`v1`) envelopes re-sealed bound to their place.
    pub rebound: usize,
    /// Channels whose plaintext secret settings (token-bearing URLs, header values) were sealed.
    pub channels_sealed: usize,
    /// Audit entries whose details held such settings, now redacted.
    pub audit_redacted: usize,
    /// Values that could not be opened (left as they are; enter those secrets again).
    pub unreadable: Vec<String>,
}

/// A value re-sealed by [`bind_one`].
struct Bound {
    stored: String,
    rebound: bool,
    moved: bool,
}

/// The re-sealed text of one stored value, or None when it is already bound.
fn bind_one(ring: &Keyring, col: SealedColumn, id: i64, stored: &str) -> Result<Option<Bound>, String> {
    if !col.in_json() {
        if !Keyring::is_legacy(stored) {
            return Ok(None);
        }
        let plain = ring.open_legacy(stored).map_err(|e| e.to_string())?;
        return Ok(Some(Bound {
            stored: ring.seal(&col.place(id), &plain),
            rebound: true,
            moved: false,
        }));
    }
    let config: Value = serde_json::from_str(stored).map_err(|e| format!("not JSON: {e}"))?;
    let rebound = config
        .get("secrets")
        .and_then(Value::as_str)
        .is_some_and(Keyring::is_legacy);
    let mut settings = config
        .get("settings")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let moving: Vec<String> = settings.keys().filter(|k| is_channel_secret(k)).cloned().collect();
    if !rebound && moving.is_empty() {
        return Ok(None);
    }
    let mut secrets = channel_secrets(ring, id, &config, true)?;
    for k in &moving {
        if let Some(val) = settings.remove(k) {
            secrets.entry(k.clone()).or_insert(val);
        }
    }
    Ok(Some(Bound {
        stored: channel_config_sealed(ring, id, &settings, &secrets)?,
        rebound,
        moved: !moving.is_empty(),
    }))
}

/// What an audit entry shows instead of a secret value.
pub const REDACTED: &str = "(sealed)";

/// Fields that are secrets in every channel kind: credentials, every URL that may carry a token
/// (DingTalk `access_token`, Feishu hook, WeCom key, ServerChan key, Slack hook, an SMS gateway's
/// key in its query) and all webhook header values.
const SECRET_FIELDS: &[&str] = &[
    "password",
    "api_key",
    "api_secret",
    "secret",
    "token",
    "sign_secret",
    "webhook_url",
    "access_key_secret",
    "url",
    "gateway_url",
    "headers",
];

/// Whether a channel setting is sealed (kept in `config.secrets`, shown only with reveal).
pub(crate) fn is_channel_secret(field: &str) -> bool {
    SECRET_FIELDS.contains(&field)
}

fn internal(e: SecretError) -> ServiceError {
    ServiceError::Internal(format!("cannot open a stored secret: {e}"))
}

/// The channel config JSON of row `id` with its secrets (a JSON object) sealed for that row.
pub(crate) fn channel_config_sealed(
    ring: &Keyring,
    id: i64,
    settings: &Map<String, Value>,
    secrets: &Map<String, Value>,
) -> Result<String, String> {
    let plain = Zeroizing::new(serde_json::to_vec(secrets).map_err(|e| e.to_string())?);
    let env = ring.seal(&SealedColumn::ChannelSecrets.place(id), &plain);
    Ok(serde_json::json!({"settings": settings, "secrets": env}).to_string())
}

/// Opens the `secrets` envelope of a channel config (an absent or empty one is no secrets).
/// `legacy`: also accept an unbound `v1` envelope (the re-seal only).
fn channel_secrets(ring: &Keyring, id: i64, config: &Value, legacy: bool) -> Result<Map<String, Value>, String> {
    let env = config.get("secrets").and_then(Value::as_str).unwrap_or_default();
    if env.is_empty() {
        return Ok(Map::new());
    }
    let plain = if legacy && Keyring::is_legacy(env) {
        ring.open_legacy(env)
    } else {
        ring.open(&SealedColumn::ChannelSecrets.place(id), env)
    }
    .map_err(|e| e.to_string())?;
    match serde_json::from_slice(&plain) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(format!(
            "alert_channels.config.secrets of row {id} is not a JSON object"
        )),
    }
}

fn reseal(old: &Keyring, new: &Keyring, col: SealedColumn, id: i64, stored: &str) -> ServiceResult<String> {
    if col.in_json() {
        let config: Value = serde_json::from_str(stored).map_err(|e| ServiceError::Internal(e.to_string()))?;
        if config.get("secrets").and_then(Value::as_str).is_none_or(str::is_empty) {
            return Ok(stored.to_string());
        }
        let secrets = channel_secrets(old, id, &config, false).map_err(ServiceError::Internal)?;
        let settings = config
            .get("settings")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        channel_config_sealed(new, id, &settings, &secrets).map_err(ServiceError::Internal)
    } else {
        let place = col.place(id);
        let plain = old.open(&place, stored).map_err(internal)?;
        Ok(new.seal(&place, &plain))
    }
}

impl Services {
    /// Seals `plain` for `col` of row `id`; a value too long for a column of `max` characters
    /// is refused as invalid input named `field`.
    pub(crate) fn seal_at(
        &self,
        col: SealedColumn,
        id: i64,
        field: &str,
        plain: &[u8],
        max: usize,
    ) -> ServiceResult<String> {
        self.keyring()
            .seal_for_column(&col.place(id), plain, max)
            .map_err(|e| too_long(field, e))
    }

    /// A secret of a row not inserted yet: checked against the column now, sealed for the row
    /// inside the INSERT's transaction.
    pub(crate) fn seal_on_insert(
        &self,
        col: SealedColumn,
        field: &str,
        plain: Zeroizing<Vec<u8>>,
        max: usize,
    ) -> ServiceResult<SealOnInsert> {
        secretbox::check_fits(plain.len(), max).map_err(|e| too_long(field, e))?;
        let ring = self.keyring_arc();
        Ok(SealOnInsert::new(col, move |id| Ok(ring.seal(&col.place(id), &plain))))
    }

    /// Opens the envelope stored in `col` of row `id` as text.
    pub(crate) fn open_at(&self, col: SealedColumn, id: i64, envelope: &str) -> Result<Zeroizing<String>, SecretError> {
        self.keyring().open_string(&col.place(id), envelope)
    }

    /// Binds every stored secret to its place once per database (recorded in `certdeck_meta`):
    /// unbound `v1` envelopes are re-sealed as `v2` for their row, token-bearing channel
    /// settings (webhook and SMS gateway URLs, header values) written in plain text by older
    /// versions move into the channel's sealed secrets, and audit entries that recorded them
    /// are redacted. Idempotent: a value already bound is left alone; rows changed meanwhile are
    /// picked up by the next start.
    pub async fn secrets_bind_places(&self) -> ServiceResult<Option<ResealReport>> {
        if meta::get(self.db(), SECRETS_BOUND).await?.as_deref() == Some(BOUND_VERSION) {
            return Ok(None);
        }
        let ring = self.keyring();
        let mut report = ResealReport::default();
        let mut updates = Vec::new();
        for col in SealedColumn::ALL {
            for v in store::read_all(self.db(), col).await? {
                match bind_one(ring, col, v.id, &v.value) {
                    Ok(None) => {}
                    Ok(Some(b)) => {
                        report.rebound += usize::from(b.rebound);
                        report.channels_sealed += usize::from(b.moved);
                        updates.push((col, v.id, v.value, b.stored));
                    }
                    // One unreadable value must not keep every host from starting: it stays as it
                    // is and its use fails with this error until the secret is entered again.
                    Err(e) => {
                        tracing::warn!(place = %col.place(v.id), error = %e, "cannot re-seal a stored secret");
                        report.unreadable.push(format!("{}: {e}", col.place(v.id)));
                    }
                }
            }
        }
        let written = store::write_resealed(self.db(), &updates).await?;
        report.audit_redacted = store::redact_audit_details(
            self.db(),
            &["channel.create", "channel.update"],
            &|details: &mut Value| redact_channel_settings(details),
        )
        .await?;
        if written as usize == updates.len() {
            meta::set(self.db(), SECRETS_BOUND, BOUND_VERSION).await?;
        } else {
            tracing::warn!("some secrets changed while they were re-sealed; the next start finishes the re-seal");
        }
        if report.rebound + report.channels_sealed + report.audit_redacted + report.unreadable.len() > 0 {
            tracing::info!(
                rebound = report.rebound,
                channels = report.channels_sealed,
                audit = report.audit_redacted,
                "stored secrets bound to their place"
            );
        }
        Ok(Some(report))
    }

    /// Re-encrypts every secret under `new_key` (admin only). The caller persists the new
    /// keyring (new key first, old key kept) BEFORE calling, so a crash never loses a key.
    pub async fn secrets_rotate(&self, actor: Option<&Actor>, new_key: &MasterKey) -> ServiceResult<RotationReport> {
        super::require_operator(actor, "rotate the master key")?;
        let old = self.keyring().clone();
        let new = Keyring::single(new_key.clone());
        let mut updates = Vec::new();
        for col in SealedColumn::ALL {
            for v in store::read_all(self.db(), col).await? {
                let resealed = reseal(&old, &new, col, v.id, &v.value)?;
                updates.push((col, v.id, v.value, resealed));
            }
        }
        let report = RotationReport {
            new_key_id: new_key.key_id(),
            old_key_id: old.primary().key_id(),
            values: updates.len(),
        };
        let audit = self.audit(
            actor,
            "secrets.rotate",
            "master_key",
            None,
            serde_json::json!({
                "old_key_id": report.old_key_id, "new_key_id": report.new_key_id, "values": report.values,
            }),
        )?;
        store::write_all(
            self.db(),
            &updates,
            &new_key.check_value(),
            &old.primary().check_value(),
            &audit,
        )
        .await?
        .map_err(ServiceError::Conflict)?;
        Ok(report)
    }
}

fn too_long(field: &str, e: SecretError) -> ServiceError {
    match e {
        SecretError::TooLong { plain_max, len, .. } => ServiceError::invalid(
            field,
            format!("is {len} bytes; at most {plain_max} bytes fit once encrypted"),
        ),
        other => ServiceError::Internal(other.to_string()),
    }
}

/// Replaces secret channel settings in audit details (`settings.<field>`) by [`REDACTED`];
/// true when something changed.
fn redact_channel_settings(details: &mut Value) -> bool {
    let Some(settings) = details.get_mut("settings").and_then(Value::as_object_mut) else {
        return false;
    };
    let mut changed = false;
    for (k, v) in settings.iter_mut() {
        if is_channel_secret(k) && v.as_str() != Some(REDACTED) {
            *v = Value::String(REDACTED.into());
            changed = true;
        }
    }
    changed
}
