//! The deploy transport over SSH: commands on an [`SshSession`], files over its SFTP
//! subsystem ([`Sftp`]).

use super::contract::{BoxFut, CommandOutput, Files, RemoteStat, StepError, Transport};
use crate::engine::ssh::{Sftp, SshError, SshSession, Stage};

/// Whether another attempt may get past `e`: the network may come back (DNS, TCP, key
/// exchange, a timeout); a refused key or a failing command will not.
pub fn is_transient(e: &SshError) -> bool {
    matches!(e, SshError::Timeout { .. }) || matches!(e.stage(), Stage::Dns | Stage::Tcp | Stage::Handshake)
}

impl From<SshError> for StepError {
    fn from(e: SshError) -> StepError {
        StepError {
            transient: is_transient(&e),
            msg: e.to_string(),
        }
    }
}

impl Transport for SshSession {
    fn exec<'a>(&'a self, command: &'a str) -> BoxFut<'a, Result<CommandOutput, StepError>> {
        Box::pin(async move { Ok(SshSession::exec(self, command).await?) })
    }

    fn run<'a>(&'a self, command: &'a str) -> BoxFut<'a, Result<CommandOutput, StepError>> {
        Box::pin(async move { Ok(SshSession::run(self, command).await?) })
    }

    fn files(&self) -> BoxFut<'_, Result<Box<dyn Files + '_>, StepError>> {
        Box::pin(async move {
            let sftp = self.sftp().await?;
            Ok(Box::new(sftp) as Box<dyn Files + '_>)
        })
    }
}

impl Files for Sftp<'_> {
    fn stat<'a>(&'a self, path: &'a str) -> BoxFut<'a, Result<Option<RemoteStat>, StepError>> {
        Box::pin(async move { Ok(Sftp::stat(self, path).await?) })
    }

    fn read<'a>(&'a self, path: &'a str, max: u64) -> BoxFut<'a, Result<Option<Vec<u8>>, StepError>> {
        Box::pin(async move { Ok(Sftp::read(self, path, max).await?) })
    }

    fn write<'a>(&'a self, path: &'a str, data: &'a [u8], mode: u32) -> BoxFut<'a, Result<(), StepError>> {
        Box::pin(async move { Ok(Sftp::write(self, path, data, mode).await?) })
    }
}
