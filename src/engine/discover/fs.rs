//! [`ConfigFs`]: how discovery reads a host's config tree — stat, bounded reads of regular
//! files, bounded listings — over SFTP ([`Sftp`]) or on the local file system
//! ([`LocalConfigFs`]).

use std::time::Duration;

use crate::engine::deploy::local::LocalFiles;
use crate::engine::deploy::{BoxFut, RemoteStat, StepError};
use crate::engine::ssh::{Bounded, Sftp, SshError};

/// Why a directory could not be listed.
#[derive(Debug, Clone)]
pub enum ListError {
    /// The directory holds more than [`crate::engine::ssh::DIR_ENTRIES_MAX`] entries: the
    /// message names the directory and the limit. Fails the discovery.
    Limit(String),
    /// Missing, unreadable, or the transport failed: an include of it matches nothing.
    Failed(StepError),
}

impl std::fmt::Display for ListError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ListError::Limit(m) => f.write_str(m),
            ListError::Failed(e) => write!(f, "{e}"),
        }
    }
}

/// A host's file tree as discovery reads it.
pub trait ConfigFs: Send + Sync {
    /// Metadata of `path` (following symlinks), `None` when it does not exist.
    fn stat<'a>(&'a self, path: &'a str) -> BoxFut<'a, Result<Option<RemoteStat>, StepError>>;
    /// A regular file of at most `max` bytes, read through a bounded reader; anything else is
    /// [`Bounded::TooLarge`] or [`Bounded::NotRegular`] (never opened for reading).
    fn read_bounded<'a>(&'a self, path: &'a str, max: u64) -> BoxFut<'a, Result<Bounded, StepError>>;
    /// Names in a directory (no `.`/`..`), sorted, at most
    /// [`crate::engine::ssh::DIR_ENTRIES_MAX`] of them.
    fn list<'a>(&'a self, dir: &'a str) -> BoxFut<'a, Result<Vec<String>, ListError>>;
}

impl ConfigFs for Sftp<'_> {
    fn stat<'a>(&'a self, path: &'a str) -> BoxFut<'a, Result<Option<RemoteStat>, StepError>> {
        Box::pin(async move { Ok(Sftp::stat(self, path).await?) })
    }

    fn read_bounded<'a>(&'a self, path: &'a str, max: u64) -> BoxFut<'a, Result<Bounded, StepError>> {
        Box::pin(async move { Ok(Sftp::read_bounded(self, path, max).await?) })
    }

    fn list<'a>(&'a self, dir: &'a str) -> BoxFut<'a, Result<Vec<String>, ListError>> {
        Box::pin(async move {
            Sftp::list(self, dir).await.map_err(|e| match e {
                e @ SshError::Limit { .. } => ListError::Limit(e.to_string()),
                e => ListError::Failed(e.into()),
            })
        })
    }
}

/// The local file system as a [`ConfigFs`] (the agent's): the same semantics and bounds as
/// over SFTP — `stat` follows symlinks, only regular files are read, through a bounded reader,
/// listings stop past [`crate::engine::ssh::DIR_ENTRIES_MAX`] entries.
#[derive(Debug, Clone)]
pub struct LocalConfigFs {
    files: LocalFiles,
}

impl LocalConfigFs {
    /// The local file system, each operation failing after `timeout`.
    pub fn new(timeout: Duration) -> Self {
        LocalConfigFs {
            files: LocalFiles::new(timeout),
        }
    }
}

impl ConfigFs for LocalConfigFs {
    fn stat<'a>(&'a self, path: &'a str) -> BoxFut<'a, Result<Option<RemoteStat>, StepError>> {
        Box::pin(self.files.stat(path))
    }

    fn read_bounded<'a>(&'a self, path: &'a str, max: u64) -> BoxFut<'a, Result<Bounded, StepError>> {
        Box::pin(self.files.read_bounded(path, max))
    }

    fn list<'a>(&'a self, dir: &'a str) -> BoxFut<'a, Result<Vec<String>, ListError>> {
        Box::pin(async move {
            self.files.list(dir).await.map_err(|e| match e {
                Ok(limit) => ListError::Limit(limit),
                Err(e) => ListError::Failed(e),
            })
        })
    }
}
