//! The deploy transport on the machine certdeck runs on (the agent's way): commands through
//! `/bin/sh -c` with the same output bounds as over SSH and a timeout that kills the command's
//! whole process group, and files through the file system with the semantics of the SFTP
//! session ([`crate::engine::ssh::Sftp`]): `stat` follows symlinks, reads are bounded and
//! refuse anything but regular files, writes set the mode exactly.
//!
//! [`LocalHosts`] hands the [`Deployer`](super::Deployer) one shared [`LocalTransport`] for
//! every entry; the verifying handshake is the default one (a TLS handshake with SNI).

use std::io::{Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::time::Instant;
use zeroize::Zeroizing;

use super::contract::{BoxFut, CommandOutput, Entry, Files, Hosts, RemoteStat, StepError, Transport};
use crate::engine::ssh::{Bounded, Tail, COMMAND_OUTPUT_MAX, DIR_ENTRIES_MAX};

/// How the local machine is named in messages (where SSH names the server).
const LABEL: &str = "local";
/// Directories appended to `PATH` for commands, as the SSH path does for a non-root login.
const SBIN_DIRS: [&str; 3] = ["/usr/sbin", "/sbin", "/usr/local/sbin"];
/// How long output is still read after the shell exited (a background process that keeps the
/// pipes open does not hold the command until its timeout).
const DRAIN_AFTER_EXIT: Duration = Duration::from_millis(500);

/// `PATH` for commands: the agent's own, with the sbin directories appended.
fn command_path() -> String {
    let own = std::env::var("PATH").unwrap_or_else(|_| "/usr/local/bin:/usr/bin:/bin".into());
    let mut parts: Vec<&str> = own.split(':').filter(|p| !p.is_empty()).collect();
    for d in SBIN_DIRS {
        if !parts.contains(&d) {
            parts.push(d);
        }
    }
    parts.join(":")
}

/// Commands and files on the local machine (see the [module](self) docs).
#[derive(Debug, Clone)]
pub struct LocalTransport {
    command_timeout: Duration,
}

impl LocalTransport {
    /// A transport whose commands (and file operations) are stopped after `command_timeout`.
    pub fn new(command_timeout: Duration) -> Self {
        LocalTransport { command_timeout }
    }

    /// Runs `command` through `/bin/sh -c` (stdin empty, `PATH` with the sbin directories) and
    /// returns its output whatever the exit code. The output is bounded like a command over SSH:
    /// the tail of each stream is kept, and past [`COMMAND_OUTPUT_MAX`] bytes the command is
    /// killed and an error names the limit. Past the timeout the command's process group is
    /// killed and the error names the command and the timeout.
    pub async fn exec(&self, command: &str) -> Result<CommandOutput, StepError> {
        let mut cmd = tokio::process::Command::new("/bin/sh");
        cmd.arg("-c")
            .arg(command)
            .env("PATH", command_path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .process_group(0);
        let mut child = cmd
            .spawn()
            .map_err(|e| StepError::new(format!("[{LABEL}] command `{command}`: cannot start /bin/sh: {e}")))?;
        let group = child.id();
        let t = self.command_timeout;
        match tokio::time::timeout(t, collect(&mut child, command)).await {
            Ok(Ok(out)) => Ok(out),
            Ok(Err(e)) => {
                kill_group(group);
                Err(e)
            }
            Err(_) => {
                kill_group(group);
                let _ = child.start_kill();
                Err(StepError {
                    msg: format!("[{LABEL}] command: timed out after {} s: {command}", t.as_secs().max(1)),
                    transient: true,
                })
            }
        }
    }

    /// Runs `command` and fails unless it exits 0 (the error names the command, its exit status
    /// and the end of its output, as over SSH).
    pub async fn run(&self, command: &str) -> Result<CommandOutput, StepError> {
        let out = self.exec(command).await?;
        if out.code != 0 {
            return Err(StepError::new(format!(
                "[{LABEL}] command `{command}` exited with {}: {}",
                out.code,
                out.excerpt(400)
            )));
        }
        Ok(out)
    }

    /// A file session with this transport's timeout.
    pub fn local_files(&self) -> LocalFiles {
        LocalFiles::new(self.command_timeout)
    }
}

/// Kills the process group `group` (the shell and everything it started), if it still exists.
fn kill_group(group: Option<u32>) {
    let Some(g) = group.and_then(|g| libc::pid_t::try_from(g).ok()).filter(|g| *g > 1) else {
        return;
    };
    // SAFETY: killpg takes plain integers and touches no memory of this process; `g` is the
    // group of a child started with `process_group(0)` (its own pid), never 0 or 1. A group
    // already gone gives ESRCH, which is fine here.
    unsafe {
        libc::killpg(g, libc::SIGKILL);
    }
}

/// One read from an optional pipe: the bytes, empty at its end (a read error ends it too);
/// never ready once the pipe is gone.
async fn read_some<R: tokio::io::AsyncRead + Unpin>(pipe: &mut Option<R>) -> Vec<u8> {
    match pipe {
        Some(r) => {
            let mut buf = vec![0u8; 16 * 1024];
            let n = r.read(&mut buf).await.unwrap_or(0);
            buf.truncate(n);
            buf
        }
        None => std::future::pending().await,
    }
}

/// Reads both output streams (bounded) and waits for the shell.
async fn collect(child: &mut tokio::process::Child, command: &str) -> Result<CommandOutput, StepError> {
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let (mut out, mut err) = (Tail::default(), Tail::default());
    let mut received: u64 = 0;
    let mut status = None;
    let mut drain_until: Option<Instant> = None;
    while stdout.is_some() || stderr.is_some() {
        let drained = async {
            match drain_until {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            data = read_some(&mut stdout) => {
                if data.is_empty() {
                    stdout = None;
                }
                received += data.len() as u64;
                out.push(&data);
            }
            data = read_some(&mut stderr) => {
                if data.is_empty() {
                    stderr = None;
                }
                received += data.len() as u64;
                err.push(&data);
            }
            st = child.wait(), if status.is_none() => {
                status = Some(st);
                drain_until = Some(Instant::now() + DRAIN_AFTER_EXIT);
            }
            _ = drained => break,
        }
        if received > COMMAND_OUTPUT_MAX {
            let partial = CommandOutput {
                code: -1,
                stdout: out.text(),
                stderr: err.text(),
                truncated: true,
            };
            return Err(StepError::new(format!(
                "[{LABEL}] command: `{command}` printed more than {} MiB, the limit of output read from a command \
                 (COMMAND_OUTPUT_MAX); stopped it. Last output: {}",
                COMMAND_OUTPUT_MAX >> 20,
                partial.excerpt(200)
            )));
        }
    }
    let status = match status {
        Some(s) => s,
        None => child.wait().await,
    }
    .map_err(|e| StepError::new(format!("[{LABEL}] command `{command}`: {e}")))?;
    let truncated = out.dropped || err.dropped;
    Ok(CommandOutput {
        code: status.code().map(i64::from).unwrap_or(-1),
        stdout: out.text(),
        stderr: err.text(),
        truncated,
    })
}

impl Transport for LocalTransport {
    fn exec<'a>(&'a self, command: &'a str) -> BoxFut<'a, Result<CommandOutput, StepError>> {
        Box::pin(LocalTransport::exec(self, command))
    }

    fn run<'a>(&'a self, command: &'a str) -> BoxFut<'a, Result<CommandOutput, StepError>> {
        Box::pin(LocalTransport::run(self, command))
    }

    fn files(&self) -> BoxFut<'_, Result<Box<dyn Files + '_>, StepError>> {
        Box::pin(async move { Ok(Box::new(self.local_files()) as Box<dyn Files + '_>) })
    }
}

/// The local file system as a [`Files`] session, each operation bounded by a timeout (a hung
/// network mount cannot hold a deploy forever).
#[derive(Debug, Clone)]
pub struct LocalFiles {
    timeout: Duration,
}

/// The error of a file operation, named like the SFTP session's.
fn fs_err(op: &str, path: &str, e: impl std::fmt::Display) -> StepError {
    StepError::new(format!("[{LABEL}] {op} {path}: {e}"))
}

/// Whether an error means "no such file" the way an SFTP server reports it (OpenSSH maps
/// `ENOENT`, `ENOTDIR` and `ELOOP` to `SSH_FX_NO_SUCH_FILE`).
fn is_missing(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
    ) || e.raw_os_error() == Some(libc::ELOOP)
}

/// The type of a non-regular file, `None` for a regular one (as [`Bounded::NotRegular`] names it).
fn not_regular(t: std::fs::FileType) -> Option<&'static str> {
    if t.is_file() {
        None
    } else if t.is_dir() {
        Some("directory")
    } else if t.is_fifo() {
        Some("FIFO")
    } else if t.is_char_device() {
        Some("character device")
    } else if t.is_block_device() {
        Some("block device")
    } else if t.is_socket() {
        Some("socket")
    } else if t.is_symlink() {
        Some("symbolic link")
    } else {
        Some("unknown file type")
    }
}

/// `stat` following symlinks: `None` when the path does not exist (a dangling symlink included).
fn stat_blocking(path: &str) -> Result<Option<RemoteStat>, StepError> {
    match std::fs::metadata(path) {
        Ok(m) => Ok(Some(RemoteStat {
            size: m.len(),
            mode: m.mode() & 0o7777,
            uid: m.uid(),
            gid: m.gid(),
            is_dir: m.is_dir(),
        })),
        Err(e) if is_missing(&e) => Ok(None),
        Err(e) => Err(fs_err("stat", path, e)),
    }
}

/// Reads a regular file through a bounded reader (never more than `max + 1` bytes, whatever
/// its size says), after `stat` (following symlinks) and `fstat` of the opened file both say it
/// is a regular file. The open is non-blocking, so a FIFO swapped in after the `stat` cannot
/// hold it.
fn read_bounded_blocking(path: &str, max: u64) -> Result<Bounded, StepError> {
    let st = std::fs::metadata(path).map_err(|e| fs_err("stat", path, e))?;
    if let Some(kind) = not_regular(st.file_type()) {
        return Ok(Bounded::NotRegular(kind));
    }
    if st.len() > max {
        return Ok(Bounded::TooLarge);
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| fs_err("open", path, e))?;
    let st = file.metadata().map_err(|e| fs_err("fstat", path, e))?;
    if let Some(kind) = not_regular(st.file_type()) {
        return Ok(Bounded::NotRegular(kind));
    }
    let mut data = Vec::new();
    file.take(max.saturating_add(1))
        .read_to_end(&mut data)
        .map_err(|e| fs_err("read", path, e))?;
    if data.len() as u64 > max {
        return Ok(Bounded::TooLarge);
    }
    Ok(Bounded::Data(data))
}

/// Creates or truncates `path` with `mode`, writes `data`, sets `mode` exactly (the umask and
/// an existing file's mode do not count) and flushes it to disk.
fn write_blocking(path: &str, data: &[u8], mode: u32) -> Result<(), StepError> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .map_err(|e| fs_err("create", path, e))?;
    f.set_permissions(std::fs::Permissions::from_mode(mode))
        .map_err(|e| fs_err("chmod", path, e))?;
    f.write_all(data).map_err(|e| fs_err("write", path, e))?;
    f.sync_all().map_err(|e| fs_err("fsync", path, e))?;
    Ok(())
}

/// Names in a directory (no `.`/`..`), sorted; more than [`DIR_ENTRIES_MAX`] is `Err(Ok(msg))`
/// naming the limit (the listing is read entry by entry and stopped), any other failure
/// `Err(Err(error))`.
fn list_blocking(dir: &str) -> Result<Vec<String>, Result<String, StepError>> {
    let rd = std::fs::read_dir(dir).map_err(|e| Err(fs_err("list", dir, e)))?;
    let mut names = Vec::new();
    for e in rd {
        let e = e.map_err(|e| Err(fs_err("list", dir, e)))?;
        names.push(e.file_name().to_string_lossy().into_owned());
        if names.len() > DIR_ENTRIES_MAX {
            return Err(Ok(format!(
                "[{LABEL}] directory {dir} holds more than {DIR_ENTRIES_MAX} entries, the limit of a listing \
                 (DIR_ENTRIES_MAX); stopped reading it"
            )));
        }
    }
    names.sort();
    Ok(names)
}

impl LocalFiles {
    /// A session whose operations fail after `timeout`.
    pub fn new(timeout: Duration) -> Self {
        LocalFiles { timeout }
    }

    /// Runs a blocking file operation off the async workers, within the timeout.
    async fn blocking<T: Send + 'static>(
        &self,
        op: &str,
        path: &str,
        f: impl FnOnce() -> Result<T, StepError> + Send + 'static,
    ) -> Result<T, StepError> {
        match tokio::time::timeout(self.timeout, tokio::task::spawn_blocking(f)).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => Err(fs_err(op, path, e)),
            Err(_) => Err(StepError {
                msg: format!(
                    "[{LABEL}] {op} {path}: timed out after {} s",
                    self.timeout.as_secs().max(1)
                ),
                transient: true,
            }),
        }
    }

    /// Metadata of `path` (following symlinks), `None` when it does not exist.
    pub async fn stat(&self, path: &str) -> Result<Option<RemoteStat>, StepError> {
        let p = path.to_string();
        self.blocking("stat", path, move || stat_blocking(&p)).await
    }

    /// Reads a regular file of at most `max` bytes (see [`Bounded`]); the same checks as
    /// [`crate::engine::ssh::Sftp::read_bounded`].
    pub async fn read_bounded(&self, path: &str, max: u64) -> Result<Bounded, StepError> {
        let p = path.to_string();
        self.blocking("read", path, move || read_bounded_blocking(&p, max))
            .await
    }

    /// Reads a whole regular file of at most `max` bytes: `Ok(None)` when it holds more; any
    /// other type of file is refused with an error naming it.
    pub async fn read(&self, path: &str, max: u64) -> Result<Option<Vec<u8>>, StepError> {
        match self.read_bounded(path, max).await? {
            Bounded::Data(d) => Ok(Some(d)),
            Bounded::TooLarge => Ok(None),
            Bounded::NotRegular(kind) => Err(fs_err(
                "read",
                path,
                format!("not a regular file ({kind}); only regular files are read"),
            )),
        }
    }

    /// Writes `data` to `path` (created or truncated) with permission bits exactly `mode`,
    /// flushed to disk before it returns.
    pub async fn write(&self, path: &str, data: &[u8], mode: u32) -> Result<(), StepError> {
        let p = path.to_string();
        let data = Zeroizing::new(data.to_vec());
        self.blocking("write", path, move || write_blocking(&p, &data, mode))
            .await
    }

    /// Names in a directory (no `.`/`..`), sorted; at most [`DIR_ENTRIES_MAX`] of them.
    /// `Err(Ok(message))` when the directory holds more (the message names the limit), any
    /// other failure `Err(Err(error))`.
    pub async fn list(&self, dir: &str) -> Result<Vec<String>, Result<String, StepError>> {
        let d = dir.to_string();
        match tokio::time::timeout(self.timeout, tokio::task::spawn_blocking(move || list_blocking(&d))).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => Err(Err(fs_err("list", dir, e))),
            Err(_) => Err(Err(StepError {
                msg: format!(
                    "[{LABEL}] list {dir}: timed out after {} s",
                    self.timeout.as_secs().max(1)
                ),
                transient: true,
            })),
        }
    }
}

impl Files for LocalFiles {
    fn stat<'a>(&'a self, path: &'a str) -> BoxFut<'a, Result<Option<RemoteStat>, StepError>> {
        Box::pin(LocalFiles::stat(self, path))
    }

    fn read<'a>(&'a self, path: &'a str, max: u64) -> BoxFut<'a, Result<Option<Vec<u8>>, StepError>> {
        Box::pin(LocalFiles::read(self, path, max))
    }

    fn write<'a>(&'a self, path: &'a str, data: &'a [u8], mode: u32) -> BoxFut<'a, Result<(), StepError>> {
        Box::pin(LocalFiles::write(self, path, data, mode))
    }
}

/// The local machine as the deployer's only host: every entry gets the one shared
/// [`LocalTransport`]; the served certificate is checked by the default TLS handshake.
#[derive(Debug, Clone)]
pub struct LocalHosts {
    transport: Arc<LocalTransport>,
}

impl LocalHosts {
    /// Hosts whose commands and file operations time out after `command_timeout`.
    pub fn new(command_timeout: Duration) -> Self {
        LocalHosts {
            transport: Arc::new(LocalTransport::new(command_timeout)),
        }
    }

    /// The shared transport.
    pub fn transport(&self) -> Arc<LocalTransport> {
        self.transport.clone()
    }
}

impl Hosts for LocalHosts {
    fn connect<'a>(&'a self, _entry: &'a Entry) -> BoxFut<'a, Result<Arc<dyn Transport>, StepError>> {
        Box::pin(async move { Ok(self.transport.clone() as Arc<dyn Transport>) })
    }
}

#[cfg(test)]
#[path = "local_tests.rs"]
mod tests;
