//! Destructive operator operations on the schema: rolling migrations back. Like restore and
//! master-key rotation, only an admin session or the local operator may do it, and a backup of
//! every table is written before anything is undone.

use std::path::{Path, PathBuf};

use super::{Actor, Services};
use crate::domain::UserRole;
use crate::errors::{ServiceError, ServiceResult};
use crate::store::migrate;

/// Refuses everyone but an admin session (`Some(admin)`) and the local operator (`None`: no
/// session and no API key, whose authority is access to the database and its master key) for a
/// destructive operation. API keys and user sessions get a specific error; nothing is changed.
pub fn require_operator(actor: Option<&Actor>, what: &str) -> ServiceResult<()> {
    match actor {
        None => Ok(()),
        Some(a) if a.role == UserRole::Api => Err(ServiceError::Forbidden(format!(
            "an API key may not {what}: it needs an admin session (`certdeck login`), or the local operator \
             with no session and no CERTDECK_API_KEY; nothing was changed"
        ))),
        Some(a) if !a.is_admin() => Err(ServiceError::Forbidden(format!(
            "only an admin may {what} ({} has role {}); nothing was changed",
            a.username, a.role
        ))),
        Some(_) => Ok(()),
    }
}

/// What a schema rollback did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RollbackReport {
    /// The version before.
    pub from: i64,
    /// The version asked for.
    pub to: i64,
    /// The versions undone, newest first.
    pub undone: Vec<i64>,
    /// The backup written before anything was undone (none when there was nothing to undo).
    pub backup: Option<PathBuf>,
}

impl Services {
    /// Undoes migrations down to version `to` (0 = an empty database), after writing a backup of
    /// every table into `backup_dir` (created 0700). `actor`: an admin, or None for the local
    /// operator; anyone else is refused before anything is read or written.
    pub async fn schema_rollback(
        &self,
        actor: Option<&Actor>,
        to: i64,
        backup_dir: &Path,
    ) -> ServiceResult<RollbackReport> {
        require_operator(actor, "roll back the schema")?;
        if to < 0 {
            return Err(ServiceError::invalid("to", "must be a version, 0 or more"));
        }
        let from = migrate::current_version(self.db())
            .await
            .map_err(|e| ServiceError::Internal(e.to_string()))?;
        if to >= from {
            return Ok(RollbackReport {
                from,
                to,
                undone: Vec::new(),
                backup: None,
            });
        }
        let name = format!(
            "certdeck-backup-{}-before-rollback-to-{to}.jsonl.gz",
            chrono::Utc::now().format("%Y%m%dT%H%M%SZ")
        );
        let backup = self
            .backup_to_file(&super::backup::private_dir(backup_dir)?.join(name))
            .await?;
        let audit = self.audit(
            actor,
            "schema.rollback",
            "schema",
            None,
            serde_json::json!({"from": from, "to": to, "backup": backup.path, "local": actor.is_none()}),
        );
        // Recorded before the undo: a rollback below V1 drops the audit table (the backup keeps it).
        crate::store::audit::insert(self.db(), &audit).await?;
        let undone = migrate::rollback(self.db(), to).await.map_err(|e| {
            ServiceError::Internal(format!(
                "rollback failed (the backup {} holds every table from before): {e}",
                backup.path.display()
            ))
        })?;
        tracing::warn!(from, to, backup = %backup.path.display(), "schema rolled back");
        Ok(RollbackReport {
            from,
            to,
            undone,
            backup: Some(backup.path),
        })
    }
}
