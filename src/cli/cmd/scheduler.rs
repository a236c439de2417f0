//! `health` (the scheduler's liveness, with its own exit codes) and `--serve-scheduler`.

use crate::cli::context::Ctx;
use crate::cli::error::{CliError, CliResult};
use crate::cli::views;
use crate::scheduler::{Scheduler, SchedulerConfig};
use crate::service::Services;

/// `certdeck health`: prints the verdict and returns its exit code (a database that cannot be
/// opened is "down").
pub(crate) async fn health(ctx: &Ctx) -> CliResult<i32> {
    let s = ctx.open().await?;
    let h = s.health().await?;
    if ctx.json {
        views::print_json(&h);
    } else {
        print!("{}", views::tasks::health_text(&h));
    }
    Ok(h.level.exit_code())
}

/// `--serve-scheduler`: the headless scheduler until SIGTERM or SIGINT.
pub(crate) async fn serve(s: &Services) -> CliResult<()> {
    serve_until(s, stop_signal()).await
}

/// The headless scheduler until `rx` turns true.
pub(crate) async fn serve_until(s: &Services, rx: tokio::sync::watch::Receiver<bool>) -> CliResult<()> {
    let mut cfg = SchedulerConfig::new("daemon");
    let knob = |name: &str, range: std::ops::RangeInclusive<u64>| -> CliResult<Option<u64>> {
        match std::env::var(name) {
            Ok(v) if !v.trim().is_empty() => v
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|n| range.contains(n))
                .map(Some)
                .ok_or_else(|| {
                    CliError::Invalid(format!(
                        "{name}={v}: must be a number from {} to {}",
                        range.start(),
                        range.end()
                    ))
                }),
            _ => Ok(None),
        }
    };
    match knob("CERTDECK_SCHEDULER_CONCURRENCY", 1..=256)? {
        Some(n) => cfg.concurrency = n as usize,
        // The setting (0 = the default, 2 × cores).
        None => {
            if let n @ 1..=256 = s.setting_number("task.worker_concurrency").await? {
                cfg.concurrency = n as usize;
            }
        }
    }
    if let Some(secs) = knob("CERTDECK_SCHEDULER_LEASE_SECS", 2..=3600)? {
        cfg.exec.lease = std::time::Duration::from_secs(secs);
    }
    // Reap and beat often enough that a dead worker's task returns within about one lease.
    cfg.housekeeping = (cfg.exec.lease / 3).clamp(std::time::Duration::from_secs(1), std::time::Duration::from_secs(5));
    let runners = crate::scheduler::runners_for_this_build();
    let scheduler = Scheduler::new(s.clone(), runners, cfg);
    eprintln!(
        "certdeck scheduler {} running with {} worker slot(s); stop with SIGTERM or Ctrl-C",
        scheduler.config().worker_id,
        scheduler.config().concurrency
    );
    Ok(scheduler.run(rx).await?)
}

/// A watch that turns true on SIGTERM or SIGINT.
pub(crate) fn stop_signal() -> tokio::sync::watch::Receiver<bool> {
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(t) => t,
            Err(e) => {
                tracing::error!("cannot listen for SIGTERM: {e}");
                return;
            }
        };
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
            _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: shutting down"),
        }
        let _ = tx.send(true);
    });
    rx
}
