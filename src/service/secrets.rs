//! Master key rotation: every sealed value is re-encrypted under a new key in one transaction,
//! together with the database's key check value.

use crate::crypto::{Keyring, MasterKey};
use crate::errors::{ServiceError, ServiceResult};
use crate::store::secrets::{self as store, SealedColumn};

use super::{Actor, Services};

/// What a rotation did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RotationReport {
    /// The new key's id.
    pub new_key_id: String,
    /// The old key's id.
    pub old_key_id: String,
    /// Values re-encrypted.
    pub values: usize,
}

fn reseal(old: &Keyring, new: &Keyring, col: SealedColumn, stored: &str) -> ServiceResult<String> {
    let bad = |e: crate::crypto::SecretError| ServiceError::Internal(format!("cannot open a stored secret: {e}"));
    if col == SealedColumn::ChannelSecrets {
        let mut config: serde_json::Value =
            serde_json::from_str(stored).map_err(|e| ServiceError::Internal(e.to_string()))?;
        if let Some(env) = config.get("secrets").and_then(|v| v.as_str()) {
            let plain = old.open(env).map_err(bad)?;
            config["secrets"] = serde_json::Value::String(new.seal(&plain));
        }
        Ok(config.to_string())
    } else {
        let plain = old.open(stored).map_err(bad)?;
        Ok(new.seal(&plain))
    }
}

impl Services {
    /// Re-encrypts every secret under `new_key` (admin only). The caller persists the new
    /// keyring (new key first, old key kept) BEFORE calling, so a crash never loses a key.
    pub async fn secrets_rotate(&self, actor: Option<&Actor>, new_key: &MasterKey) -> ServiceResult<RotationReport> {
        super::schema::require_operator(actor, "rotate the master key")?;
        let old = self.keyring().clone();
        let new = Keyring::single(new_key.clone());
        let mut updates = Vec::new();
        for col in SealedColumn::ALL {
            for v in store::read_all(self.db(), col).await? {
                let resealed = reseal(&old, &new, col, &v.value)?;
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
        );
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
