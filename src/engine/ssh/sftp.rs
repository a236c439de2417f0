//! SFTP on an SSH connection: bounded reads that refuse non-regular files, stat, bounded
//! directory listings, writes with a mode, removal.

use russh_sftp::client::SftpSession;
use russh_sftp::protocol::{FileAttributes, OpenFlags};
use tokio::io::AsyncWriteExt;

use super::session::{timeout_err, SshSession};
use super::{SshError, Stage, DIR_ENTRIES_MAX};

impl SshSession {
    /// Opens an SFTP session on this connection.
    pub async fn sftp(&self) -> Result<Sftp<'_>, SshError> {
        let t = self.timeouts.command;
        let fut = async {
            let proto = |e: String| SshError::Protocol {
                label: self.label.clone(),
                stage: Stage::Sftp,
                reason: e,
            };
            let ch = self
                .handle
                .channel_open_session()
                .await
                .map_err(|e| proto(e.to_string()))?;
            ch.request_subsystem(true, "sftp")
                .await
                .map_err(|e| proto(e.to_string()))?;
            let s = SftpSession::new(ch.into_stream())
                .await
                .map_err(|e| proto(e.to_string()))?;
            Ok(Sftp {
                session: s,
                owner: self,
            })
        };
        tokio::time::timeout(t, fut)
            .await
            .map_err(|_| timeout_err(&self.label, Stage::Sftp, t, "opening the SFTP subsystem"))?
    }
}

/// Metadata of a remote file.
#[derive(Debug, Clone, Copy, Default)]
pub struct RemoteStat {
    /// Size in bytes.
    pub size: u64,
    /// Permission bits (lower 12 bits).
    pub mode: u32,
    /// Owner uid.
    pub uid: u32,
    /// Group gid.
    pub gid: u32,
    /// Whether it is a directory.
    pub is_dir: bool,
}

/// What [`Sftp::read_bounded`] found.
#[derive(Debug)]
pub enum Bounded {
    /// The whole file, at most the limit.
    Data(Vec<u8>),
    /// The file holds more than the limit (by its size or by what was read): not returned.
    TooLarge,
    /// Not a regular file (its type: "FIFO", "character device"…): neither opened nor read.
    NotRegular(&'static str),
}

/// The type of a non-regular file, `None` for a regular one. A reply without a type (no
/// permissions attribute) is not taken for a regular file.
fn not_regular(st: &russh_sftp::client::fs::Metadata) -> Option<&'static str> {
    match st.permissions.map(|p| p & 0o170_000) {
        Some(0o100_000) => None,
        Some(0o010_000) => Some("FIFO"),
        Some(0o020_000) => Some("character device"),
        Some(0o040_000) => Some("directory"),
        Some(0o060_000) => Some("block device"),
        Some(0o120_000) => Some("symbolic link"),
        Some(0o140_000) => Some("socket"),
        Some(_) => Some("unknown file type"),
        None => Some("no file type reported"),
    }
}

/// An SFTP session bound to its connection's label and timeouts.
pub struct Sftp<'a> {
    pub(super) session: SftpSession,
    pub(super) owner: &'a SshSession,
}

impl Sftp<'_> {
    fn err(&self, op: &'static str, path: &str, e: impl std::fmt::Display) -> SshError {
        SshError::Sftp {
            label: self.owner.label.clone(),
            op,
            path: path.to_string(),
            reason: e.to_string(),
        }
    }

    async fn timed<T>(
        &self,
        op: &'static str,
        path: &str,
        f: impl std::future::Future<Output = Result<T, SshError>>,
    ) -> Result<T, SshError> {
        let t = self.owner.timeouts.command;
        tokio::time::timeout(t, f)
            .await
            .map_err(|_| timeout_err(&self.owner.label, Stage::Sftp, t, &format!("{op} {path}")))?
    }

    /// Reads a whole regular file of at most `max` bytes: `Ok(None)` when it holds more. Anything
    /// else (a FIFO, a device such as `/dev/zero`, a socket, a directory) is refused with an
    /// error naming its type. See [`Sftp::read_bounded`].
    pub async fn read(&self, path: &str, max: u64) -> Result<Option<Vec<u8>>, SshError> {
        match self.read_bounded(path, max).await? {
            Bounded::Data(d) => Ok(Some(d)),
            Bounded::TooLarge => Ok(None),
            Bounded::NotRegular(kind) => Err(self.err(
                "read",
                path,
                format!("not a regular file ({kind}); only regular files are read"),
            )),
        }
    }

    /// Reads a regular file through a bounded reader: never more than `max + 1` bytes whatever
    /// the size the server reports (a server may lie, a file may grow), and only after `stat`
    /// (following symlinks) and `fstat` of the opened handle both say it is a regular file, so a
    /// FIFO is never opened and a device never read.
    pub async fn read_bounded(&self, path: &str, max: u64) -> Result<Bounded, SshError> {
        use tokio::io::AsyncReadExt;
        self.timed("read", path, async {
            let st = self
                .session
                .metadata(path)
                .await
                .map_err(|e| self.err("stat", path, e))?;
            if let Some(kind) = not_regular(&st) {
                return Ok(Bounded::NotRegular(kind));
            }
            if st.size.unwrap_or(0) > max {
                return Ok(Bounded::TooLarge);
            }
            let file = self.session.open(path).await.map_err(|e| self.err("open", path, e))?;
            // The path may have been swapped between the stat and the open.
            let st = file.metadata().await.map_err(|e| self.err("fstat", path, e))?;
            if let Some(kind) = not_regular(&st) {
                return Ok(Bounded::NotRegular(kind));
            }
            let mut data = Vec::new();
            let mut limited = file.take(max.saturating_add(1));
            limited
                .read_to_end(&mut data)
                .await
                .map_err(|e| self.err("read", path, e))?;
            let _ = limited.into_inner().close().await;
            if data.len() as u64 > max {
                return Ok(Bounded::TooLarge);
            }
            Ok(Bounded::Data(data))
        })
        .await
    }

    /// Metadata of `path` (following symlinks), `None` when it does not exist.
    pub async fn stat(&self, path: &str) -> Result<Option<RemoteStat>, SshError> {
        self.timed("stat", path, async {
            match self.session.metadata(path).await {
                Ok(m) => Ok(Some(RemoteStat {
                    size: m.size.unwrap_or(0),
                    mode: m.permissions.unwrap_or(0) & 0o7777,
                    uid: m.uid.unwrap_or(0),
                    gid: m.gid.unwrap_or(0),
                    is_dir: m.is_dir(),
                })),
                Err(russh_sftp::client::error::Error::Status(s))
                    if s.status_code == russh_sftp::protocol::StatusCode::NoSuchFile =>
                {
                    Ok(None)
                }
                Err(e) => Err(self.err("stat", path, e)),
            }
        })
        .await
    }

    /// Names in a directory (no `.`/`..`), sorted; at most [`DIR_ENTRIES_MAX`] of them, else
    /// [`SshError::Limit`] naming the directory.
    ///
    /// `SftpSession::read_dir` collects a whole listing (quadratically) before it returns, so
    /// listings go through a raw SFTP session on a channel of their own, read batch by batch.
    pub async fn list(&self, dir: &str) -> Result<Vec<String>, SshError> {
        self.timed("list", dir, async {
            let ch = self
                .owner
                .handle
                .channel_open_session()
                .await
                .map_err(|e| self.err("list", dir, e))?;
            ch.request_subsystem(true, "sftp")
                .await
                .map_err(|e| self.err("list", dir, e))?;
            let raw = russh_sftp::client::RawSftpSession::new(ch.into_stream());
            raw.init().await.map_err(|e| self.err("list", dir, e))?;
            let handle = raw.opendir(dir).await.map_err(|e| self.err("list", dir, e))?.handle;
            let mut names: Vec<String> = Vec::new();
            let result = loop {
                match raw.readdir(handle.as_str()).await {
                    Ok(batch) => {
                        names.extend(
                            batch
                                .files
                                .into_iter()
                                .map(|f| f.filename)
                                .filter(|n| n != "." && n != ".."),
                        );
                        if names.len() > DIR_ENTRIES_MAX {
                            break Err(SshError::Limit {
                                label: self.owner.label.clone(),
                                stage: Stage::Sftp,
                                what: format!(
                                    "directory {dir} holds more than {DIR_ENTRIES_MAX} entries, the limit of a listing \
                                     (DIR_ENTRIES_MAX); stopped reading it"
                                ),
                            });
                        }
                    }
                    Err(russh_sftp::client::error::Error::Status(st))
                        if st.status_code == russh_sftp::protocol::StatusCode::Eof =>
                    {
                        break Ok(());
                    }
                    Err(e) => break Err(self.err("list", dir, e)),
                }
            };
            let _ = raw.close(handle).await;
            result?;
            names.sort();
            Ok(names)
        })
        .await
    }

    /// Writes `data` to `path` (created or truncated) with permission bits `mode` from creation.
    pub async fn write(&self, path: &str, data: &[u8], mode: u32) -> Result<(), SshError> {
        self.timed("write", path, async {
            let attrs = FileAttributes {
                permissions: Some(mode),
                ..FileAttributes::empty()
            };
            let flags = OpenFlags::CREATE | OpenFlags::TRUNCATE | OpenFlags::WRITE;
            let mut f = self
                .session
                .open_with_flags_and_attributes(path, flags, attrs)
                .await
                .map_err(|e| self.err("create", path, e))?;
            f.write_all(data).await.map_err(|e| self.err("write", path, e))?;
            f.shutdown().await.map_err(|e| self.err("close", path, e))?;
            // The umask may have narrowed the mode given at creation: set it exactly.
            let attrs = FileAttributes {
                permissions: Some(mode),
                ..FileAttributes::empty()
            };
            self.session
                .set_metadata(path, attrs)
                .await
                .map_err(|e| self.err("chmod", path, e))?;
            Ok(())
        })
        .await
    }

    /// Removes a file; a missing file is not an error.
    pub async fn remove(&self, path: &str) -> Result<(), SshError> {
        self.timed("remove", path, async {
            match self.session.remove_file(path).await {
                Ok(()) => Ok(()),
                Err(russh_sftp::client::error::Error::Status(s))
                    if s.status_code == russh_sftp::protocol::StatusCode::NoSuchFile =>
                {
                    Ok(())
                }
                Err(e) => Err(self.err("remove", path, e)),
            }
        })
        .await
    }
}
