//! Where a migration reads its files: this host, or a server over SFTP; bounded reads.

use crate::engine::ssh::Sftp;

/// Where the files are read: this host, or a server over SFTP.
pub(super) enum Files<'a> {
    Local,
    Remote { sftp: Sftp<'a>, who: String },
}

impl Files<'_> {
    pub(super) fn who(&self) -> String {
        match self {
            Files::Local => "the certdeck process user".into(),
            Files::Remote { who, .. } => who.clone(),
        }
    }

    /// A file's content; `Ok(None)` when it does not exist (a dangling link included).
    pub(super) async fn read(&self, path: &str, max: u64) -> Result<Option<Vec<u8>>, String> {
        match self {
            Files::Local => {
                let meta = match tokio::fs::metadata(path).await {
                    Ok(m) => m,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                    Err(e) => return Err(format!("cannot read {path} as {}: {e}", self.who())),
                };
                if meta.is_dir() {
                    return Err(format!("{path} is a directory"));
                }
                if meta.len() > max {
                    return Err(format!("{path} is larger than {max} bytes"));
                }
                tokio::fs::read(path)
                    .await
                    .map(Some)
                    .map_err(|e| format!("cannot read {path} as {}: {e}", self.who()))
            }
            Files::Remote { sftp, .. } => {
                let st = sftp
                    .stat(path)
                    .await
                    .map_err(|e| format!("cannot read {path} as {}: {e}", self.who()))?;
                match st {
                    None => Ok(None),
                    Some(s) if s.is_dir => Err(format!("{path} is a directory")),
                    Some(s) if s.size > max => Err(format!("{path} is larger than {max} bytes")),
                    Some(_) => sftp
                        .read(path, max)
                        .await
                        .map_err(|e| format!("cannot read {path} as {}: {e}", self.who()))?
                        .map(Some)
                        .ok_or_else(|| format!("{path} is larger than {max} bytes")),
                }
            }
        }
    }

    /// Whether `path` is a directory (false when missing).
    pub(super) async fn is_dir(&self, path: &str) -> bool {
        match self {
            Files::Local => tokio::fs::metadata(path).await.is_ok_and(|m| m.is_dir()),
            Files::Remote { sftp, .. } => matches!(sftp.stat(path).await, Ok(Some(s)) if s.is_dir),
        }
    }

    /// Names in a directory, sorted.
    pub(super) async fn list(&self, dir: &str) -> Result<Vec<String>, String> {
        match self {
            Files::Local => {
                let mut rd = tokio::fs::read_dir(dir)
                    .await
                    .map_err(|e| format!("cannot list {dir} as {}: {e}", self.who()))?;
                let mut names = Vec::new();
                while let Some(e) = rd
                    .next_entry()
                    .await
                    .map_err(|e| format!("cannot list {dir} as {}: {e}", self.who()))?
                {
                    names.push(e.file_name().to_string_lossy().into_owned());
                }
                names.sort();
                Ok(names)
            }
            Files::Remote { sftp, .. } => sftp
                .list(dir)
                .await
                .map_err(|e| format!("cannot list {dir} as {}: {e}", self.who())),
        }
    }

    pub(super) fn text(data: Vec<u8>) -> String {
        String::from_utf8_lossy(&data).into_owned()
    }
}

pub(super) fn join(dir: &str, name: &str) -> String {
    if dir.ends_with('/') {
        format!("{dir}{name}")
    } else {
        format!("{dir}/{name}")
    }
}

pub(super) fn basename(p: &str) -> &str {
    p.rsplit('/').next().unwrap_or(p)
}
