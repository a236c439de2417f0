//! The schema as a service operation: its status, migrating it forward (audited), and rolling it
//! back (audited, destructive). Status and migrate work on a database opened for schema work
//! only ([`SchemaAdmin`]: no master key, possibly no schema yet); rollback, like restore and
//! master-key rotation, is for an admin session or the local operator only, and a backup of
//! every table is written before anything is undone.

use std::path::{Path, PathBuf};

use super::bootstrap::OpenError;
use super::{Actor, ClientInfo, Services};
use crate::errors::{ServiceError, ServiceResult};
use crate::store::audit::NewAudit;
use crate::store::{migrate, Db, PoolSettings};

pub use crate::store::migrate::MigrationStatus;

/// The schema's state: every shipped migration with its state, and what is wrong, if anything.
#[derive(Debug, Clone)]
pub struct SchemaStatus {
    /// Every known migration, oldest first.
    pub migrations: Vec<MigrationStatus>,
    /// Why the schema cannot be used as it is (pending, changed, dirty, newer), if so.
    pub problem: Option<String>,
}

/// What `migrate` did.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct MigrateReport {
    /// The versions applied, oldest first (empty when the schema was up to date).
    pub applied: Vec<i64>,
    /// The version now.
    pub version: i64,
}

/// A database opened for schema work by the local operator (whose authority is access to the
/// database): no master key is needed and the schema may not exist yet.
pub struct SchemaAdmin {
    db: Db,
    client: ClientInfo,
}

impl SchemaAdmin {
    /// Connects to `url` (refusing an unverified remote MySQL transport as every open does).
    pub async fn connect(url: &str, pool: &PoolSettings, client: ClientInfo) -> Result<SchemaAdmin, OpenError> {
        let db = Db::connect(url, pool).await.map_err(|source| OpenError::Connect {
            url: crate::store::redact_url(url),
            source,
        })?;
        Ok(SchemaAdmin { db, client })
    }

    /// Every migration's state, and the problem that stops certdeck from using the schema.
    pub async fn status(&self) -> Result<SchemaStatus, OpenError> {
        let migrations = migrate::status(&self.db).await?;
        let problem = migrate::check(&self.db, false).await.err().map(|e| e.to_string());
        Ok(SchemaStatus { migrations, problem })
    }

    /// Applies every pending migration; when any was applied, an audit row `schema.migrate`
    /// records the versions (by the local operator).
    pub async fn migrate(&self) -> Result<MigrateReport, OpenError> {
        let before = migrate::current_version(&self.db).await?;
        let applied = migrate::migrate(&self.db).await?;
        let version = migrate::current_version(&self.db).await?;
        if !applied.is_empty() {
            let audit = NewAudit {
                user_id: None,
                action: "schema.migrate".into(),
                resource_type: Some("schema".into()),
                resource_id: None,
                details: Some(serde_json::json!({"from": before, "to": version, "applied": applied, "local": true})),
                ip_address: self.client.ip.clone(),
                user_agent: self.client.user_agent.clone(),
            };
            crate::store::audit::insert(&self.db, &audit).await?;
        }
        Ok(MigrateReport { applied, version })
    }

    /// Closes the connections.
    pub async fn close(self) {
        self.db.close().await;
    }
}

impl Services {
    /// The schema version of the open database.
    pub async fn schema_version(&self) -> ServiceResult<i64> {
        migrate::current_version(self.db())
            .await
            .map_err(|e| ServiceError::Internal(e.to_string()))
    }
}

pub use super::require_operator;

/// What a schema rollback did.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
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
        )?;
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
