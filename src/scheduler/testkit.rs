//! Test-only task runner (cargo feature `testkit`; release builds never contain it): counts its
//! executions in a file so multi-process tests can check that every task ran exactly once.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::json;

use crate::domain::LogLevel;
use crate::service::tasks::{RunFuture, TaskContext, TaskFailure, TaskRunner};

/// Appends `<task id> <attempt> <pid>` to a file per run after `steps` checkpoints of
/// `step_ms` each. `params.fail_attempts = N` fails the first N attempts transiently. With
/// `log_steps`, each step also writes a log line (`testkit step I of N`), for tests that follow
/// a task's log live.
pub struct CountingRunner {
    file: PathBuf,
    steps: u32,
    step_ms: u64,
    log_steps: bool,
}

impl CountingRunner {
    /// From `CERTDECK_TESTKIT_COUNT_FILE`, `CERTDECK_TESTKIT_STEPS` (default 1),
    /// `CERTDECK_TESTKIT_STEP_MS` (default 0) and `CERTDECK_TESTKIT_LOG_STEPS` (`1`: log each step).
    pub fn from_env() -> Option<Self> {
        let file = std::env::var("CERTDECK_TESTKIT_COUNT_FILE")
            .ok()
            .filter(|f| !f.is_empty())?;
        let num = |k: &str, d: u64| std::env::var(k).ok().and_then(|v| v.parse().ok()).unwrap_or(d);
        Some(CountingRunner {
            file: file.into(),
            steps: num("CERTDECK_TESTKIT_STEPS", 1) as u32,
            step_ms: num("CERTDECK_TESTKIT_STEP_MS", 0),
            log_steps: num("CERTDECK_TESTKIT_LOG_STEPS", 0) == 1,
        })
    }
}

impl TaskRunner for CountingRunner {
    fn run<'a>(&'a self, ctx: &'a TaskContext) -> RunFuture<'a> {
        Box::pin(async move {
            let fail_attempts = ctx
                .task()
                .params
                .as_ref()
                .and_then(|p| p.0.get("fail_attempts"))
                .and_then(|v| v.as_i64())
                .unwrap_or(0);
            for i in 0..self.steps {
                ctx.checkpoint().await?;
                if self.step_ms > 0 {
                    tokio::time::sleep(Duration::from_millis(self.step_ms)).await;
                }
                ctx.progress(((i + 1) * 100 / self.steps.max(1)) as i32).await?;
                if self.log_steps {
                    ctx.log(
                        LogLevel::Info,
                        &format!("testkit step {} of {}", i + 1, self.steps),
                        None,
                    )
                    .await?;
                }
            }
            if i64::from(ctx.attempt()) <= fail_attempts {
                return Err(TaskFailure::transient(format!(
                    "testkit: attempt {} fails on purpose",
                    ctx.attempt()
                )));
            }
            // Every fallible database step comes before the count: a transient database error
            // (a lock wait on a busy MariaDB) retries the run, and a run counted before such an
            // error would be counted twice although its work never completed.
            ctx.log(LogLevel::Info, "testkit run counted", None).await?;
            ctx.checkpoint().await?;
            let line = format!("{} {} {}\n", ctx.task().id, ctx.attempt(), std::process::id());
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.file)
                .and_then(|mut f| f.write_all(line.as_bytes()))
                .map_err(|e| TaskFailure::permanent(format!("testkit: cannot write {}: {e}", self.file.display())))?;
            Ok(json!({"counted": true, "attempt": ctx.attempt()}))
        })
    }
}
