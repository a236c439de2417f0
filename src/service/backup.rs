//! Backups: a consistent logical export of every table to a gzip file (mode 0600; secrets stay
//! sealed), pruning to the newest N, and `restore` into an empty database on either backend.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use serde_json::{json, Value};

use super::{Actor, Services};
use crate::errors::{ServiceError, ServiceResult};
use crate::store::backup::{self as store, BackupError, RowCounts};
use crate::store::meta::{self, MASTER_KEY_CHECK};
use crate::store::migrate;

/// File names of backups this module writes (and prunes).
const PREFIX: &str = "certdeck-backup-";
const SUFFIX: &str = ".jsonl.gz";

/// What a backup wrote.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct BackupReport {
    /// The file.
    pub path: PathBuf,
    /// Its size.
    pub bytes: u64,
    /// Rows per table.
    pub rows: RowCounts,
    /// Older backups removed to keep the newest N.
    pub pruned: Vec<PathBuf>,
}

fn backup_err(e: BackupError) -> ServiceError {
    match e {
        BackupError::Db(e) => ServiceError::from(e),
        BackupError::Io(e) => ServiceError::Internal(format!("backup file: {e}")),
        BackupError::Format(m) => ServiceError::invalid("file", m),
    }
}

/// Errors while reading a backup: an unreadable file is bad input, not an internal fault.
fn read_err(e: BackupError) -> ServiceError {
    match e {
        BackupError::Io(e) => ServiceError::invalid("file", format!("not a readable certdeck backup (gzip): {e}")),
        other => backup_err(other),
    }
}

fn private_file(path: &Path) -> std::io::Result<File> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o.open(path)
}

/// `dir`, created with mode 0700 (an existing, wider one is narrowed).
pub(crate) fn private_dir(dir: &Path) -> ServiceResult<&Path> {
    crate::fsutil::private_dir(dir)
        .map_err(|e| ServiceError::Internal(format!("cannot create {}: {e}", dir.display())))?;
    Ok(dir)
}

impl Services {
    /// Writes a backup file at `path` (which must not exist yet).
    pub async fn backup_to_file(&self, path: &Path) -> ServiceResult<BackupReport> {
        let version = migrate::current_version(self.db())
            .await
            .map_err(|e| ServiceError::Internal(e.to_string()))?;
        let file = private_file(path)
            .map_err(|e| ServiceError::invalid("out", format!("cannot create {}: {e}", path.display())))?;
        let mut gz = GzEncoder::new(BufWriter::new(file), flate2::Compression::default());
        let result = store::export(self.db(), version, &mut gz).await;
        let finished = gz.finish().and_then(|mut w| w.flush());
        let rows = match (result, finished) {
            (Ok(rows), Ok(())) => rows,
            (Err(e), _) => {
                let _ = std::fs::remove_file(path);
                return Err(backup_err(e));
            }
            (_, Err(e)) => {
                let _ = std::fs::remove_file(path);
                return Err(ServiceError::Internal(format!("writing {}: {e}", path.display())));
            }
        };
        let bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        Ok(BackupReport {
            path: path.to_path_buf(),
            bytes,
            rows,
            pruned: Vec::new(),
        })
    }

    /// A timestamped backup in `dir` (created 0700 if missing), keeping the newest `keep`.
    pub async fn backup_to_dir(&self, dir: &Path, keep: usize) -> ServiceResult<BackupReport> {
        private_dir(dir)?;
        let name = format!("{PREFIX}{}{SUFFIX}", chrono::Utc::now().format("%Y%m%dT%H%M%SZ"));
        let mut report = self.backup_to_file(&dir.join(name)).await?;
        let mut existing: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| ServiceError::Internal(format!("cannot list {}: {e}", dir.display())))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(PREFIX) && n.ends_with(SUFFIX))
            })
            .collect();
        existing.sort();
        let excess = existing.len().saturating_sub(keep.max(1));
        for old in existing.into_iter().take(excess) {
            if std::fs::remove_file(&old).is_ok() {
                report.pruned.push(old);
            }
        }
        Ok(report)
    }

    /// The scheduled `backup`: `params.dir`, else the `backup.directory` setting, else
    /// `<data dir>/backups`; keeps `params.keep`, else `backup.keep_count`.
    pub(crate) async fn backup_scheduled(&self, params: Option<&Value>) -> ServiceResult<Value> {
        let setting_dir = crate::store::settings::get(self.db(), "backup.directory")
            .await?
            .and_then(|r| r.setting_value)
            .filter(|d| !d.trim().is_empty());
        let dir = params
            .and_then(|p| p["dir"].as_str())
            .map(PathBuf::from)
            .or(setting_dir.map(PathBuf::from))
            .or(self.data_dir().map(|d| d.join("backups")))
            .ok_or_else(|| ServiceError::invalid("dir", "no backup directory: set the backup.directory setting"))?;
        let keep = match params.and_then(|p| p["keep"].as_u64()) {
            Some(k) => k as usize,
            None => self.setting_number("backup.keep_count").await?.max(1) as usize,
        };
        let r = self.backup_to_dir(&dir, keep).await?;
        Ok(json!({"file": r.path, "bytes": r.bytes, "rows": r.rows, "pruned": r.pruned}))
    }

    /// Loads a backup into this database, which must be empty (migrated, no users) and at the
    /// backup's schema version, and hold the same master key (or none yet). All or nothing.
    /// `actor`: an admin, or None for the local operator.
    pub async fn restore_from_file(&self, actor: Option<&Actor>, path: &Path) -> ServiceResult<RowCounts> {
        super::require_operator(actor, "restore backups")?;
        let file = File::open(path)
            .map_err(|e| ServiceError::invalid("file", format!("cannot open {}: {e}", path.display())))?;
        let mut input = BufReader::new(GzDecoder::new(file));
        let header = store::read_header(&mut input).map_err(read_err)?;
        let ours = migrate::current_version(self.db())
            .await
            .map_err(|e| ServiceError::Internal(e.to_string()))?;
        if header.schema_version != ours {
            return Err(ServiceError::Conflict(format!(
                "the backup is at schema version {}, this database at {ours}: restore with the certdeck version that made it, \
                 or migrate a database to {} first",
                header.schema_version, header.schema_version
            )));
        }
        let users = crate::store::users::count_users(self.db()).await?;
        if users > 0 {
            return Err(ServiceError::Conflict(format!(
                "restore needs an empty database: this one has {users} user(s); create a new database and point \
                 --database-url at it"
            )));
        }
        let tables = store::read_tables(&mut input).map_err(read_err)?;
        let backup_kcv = tables.iter().find(|t| t.name == "certdeck_meta").and_then(|t| {
            let k = t.columns.iter().position(|c| c == "meta_key")?;
            let v = t.columns.iter().position(|c| c == "meta_value")?;
            t.rows
                .iter()
                .find(|r| r[k].as_str() == Some(MASTER_KEY_CHECK))
                .and_then(|r| r[v].as_str().map(str::to_string))
        });
        if let (Some(theirs), Some(mine)) = (backup_kcv, meta::get(self.db(), MASTER_KEY_CHECK).await?) {
            if theirs != mine {
                return Err(ServiceError::Conflict(
                    "the backup's secrets are sealed under another master key than this host's: use the key of the \
                     database the backup came from (key file or CERTDECK_MASTER_KEY)"
                        .into(),
                ));
            }
        }
        let rows = store::import(self.db(), &tables).await.map_err(backup_err)?;
        tracing::info!(file = %path.display(), source = %header.source, "backup restored");
        Ok(rows)
    }
}
