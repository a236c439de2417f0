//! Logging to a daily-rolling file in the data dir (14 files kept); never to the terminal. The
//! headless scheduler also logs to stderr when stderr is not a terminal (systemd/journald).

use std::io::IsTerminal;
use std::path::Path;

use tracing_appender::non_blocking::WorkerGuard;
use tracing_appender::rolling::{RollingFileAppender, Rotation};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Where log lines go besides the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sink {
    /// The file only (console and CLI: the terminal belongs to the user).
    FileOnly,
    /// The file, and stderr when stderr is not a terminal (the daemon under systemd).
    FileAndJournal,
}

/// Starts logging; keep the guards alive until exit so buffered lines are written.
pub fn init(data_dir: &Path, level: &str, sink: Sink) -> Result<Vec<WorkerGuard>, String> {
    // The data dir holds the database, the key file and the logs: private (0700) from its
    // creation, whatever the umask. Logging starts first, so it creates both.
    crate::fsutil::private_dir(data_dir).map_err(|e| format!("cannot create data dir {}: {e}", data_dir.display()))?;
    let dir = data_dir.join("logs");
    crate::fsutil::private_dir(&dir).map_err(|e| format!("cannot create log dir {}: {e}", dir.display()))?;
    let appender = RollingFileAppender::builder()
        .rotation(Rotation::DAILY)
        .filename_prefix("certdeck")
        .filename_suffix("log")
        .max_log_files(14)
        .build(&dir)
        .map_err(|e| format!("cannot open log file in {}: {e}", dir.display()))?;
    let (writer, guard) = tracing_appender::non_blocking(appender);
    let filter = || EnvFilter::try_new(level).unwrap_or_else(|_| EnvFilter::new("info"));
    let file = tracing_subscriber::fmt::layer()
        .with_writer(writer)
        .with_ansi(false)
        .with_filter(filter());
    let mut guards = vec![guard];
    let journal = if sink == Sink::FileAndJournal && !std::io::stderr().is_terminal() {
        let (w, g) = tracing_appender::non_blocking(std::io::stderr());
        guards.push(g);
        // journald stamps each line itself: no time, no colours.
        Some(
            tracing_subscriber::fmt::layer()
                .with_writer(w)
                .with_ansi(false)
                .without_time()
                .with_filter(filter()),
        )
    } else {
        None
    };
    let _ = tracing_subscriber::registry().with(file).with(journal).try_init();
    Ok(guards)
}
