//! What existed before a deploy, as recorded on the host (the transaction record), and the
//! shell commands that put it back.

use super::contract::{Files, StepError};
use crate::engine::ssh::shell_quote as q;

/// What a deployment's paths held before a deploy: the backup of each file that existed
/// (`None`: the file did not exist and is removed again on rollback), and the old serial.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub(super) struct Prior {
    /// Backup of the certificate file.
    pub(super) cert: Option<String>,
    /// Backup of the key file.
    pub(super) key: Option<String>,
    /// Serial of the certificate that was there.
    pub(super) serial: Option<String>,
}

/// The shell command that puts `path` back as it was: copied back from its backup, or removed
/// when it did not exist. Backups and restores copy a symbolic link as the link (`cp -P`): a
/// path that linked to a shared file (certbot's `live/` links) links to it again, instead of
/// becoming a stale copy that the link's owner no longer updates. The copy's name is removed
/// first: `cp` writes through a link left there (a backup that is a link) into its target.
pub(super) fn put_back(path: &str, backup: Option<&str>) -> String {
    match backup {
        Some(b) => format!(
            "rm -f {r} && cp -P -p {b} {r} && mv -f {r} {p}",
            b = q(b),
            r = q(&format!("{path}.certdeck-restore")),
            p = q(path)
        ),
        None => format!("rm -f {}", q(path)),
    }
}

/// Reads an interrupted attempt's transaction record, if there is one.
pub(super) async fn read_manifest(files: &dyn Files, path: &str) -> Result<Option<Prior>, StepError> {
    if files.stat(path).await?.is_none() {
        return Ok(None);
    }
    let text = files
        .read(path, 64 * 1024)
        .await?
        .ok_or_else(|| StepError::new(format!("the transaction record {path} is too large")))?;
    serde_json::from_slice(&text).map(Some).map_err(|e| {
        StepError::new(format!(
            "the transaction record {path} is unreadable ({e}): check the files by hand, then remove it"
        ))
    })
}
