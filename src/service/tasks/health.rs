//! Scheduler liveness and queue health: heartbeats, the schedulers seen, and the verdict of
//! `certdeck health`.

use chrono::Utc;

use crate::errors::ServiceResult;
use crate::service::{Actor, Services};
use crate::store::queue;
use crate::store::schedulers::{self, SchedulerInfo, SchedulerRow};

/// A scheduler is alive when its heartbeat is at most this old.
pub const HEARTBEAT_STALE_SECS: i64 = 60;
/// The queue is lagging when a due task waited longer than this.
pub const DUE_LAG_SECS: i64 = 300;

/// The verdict of `certdeck health` (also its exit code).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum HealthLevel {
    /// Exit 0.
    Ok,
    /// Exit 1: working, but something needs a look.
    Degraded,
    /// Exit 2: no live scheduler.
    Down,
}

impl HealthLevel {
    /// The exit code for monitoring systems.
    pub fn exit_code(self) -> i32 {
        match self {
            HealthLevel::Ok => 0,
            HealthLevel::Degraded => 1,
            HealthLevel::Down => 2,
        }
    }
}

/// Scheduler liveness and queue state.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct Health {
    /// Verdict.
    pub level: HealthLevel,
    /// Why, when not ok.
    pub reasons: Vec<String>,
    /// Schedulers with a fresh heartbeat.
    pub live_schedulers: usize,
    /// Every scheduler seen.
    pub schedulers: Vec<SchedulerRow>,
    /// Queue counts.
    pub queue: queue::QueueStats,
}

impl Services {
    /// Records a scheduler's heartbeat.
    pub async fn scheduler_beat(&self, info: &SchedulerInfo) -> ServiceResult<()> {
        Ok(schedulers::beat(self.db(), info).await?)
    }

    /// Records a scheduler's clean stop.
    pub async fn scheduler_stopped(&self, worker_id: &str) -> ServiceResult<()> {
        Ok(schedulers::stopped(self.db(), worker_id).await?)
    }

    /// The schedulers seen on this database.
    pub async fn scheduler_list(&self, _actor: &Actor) -> ServiceResult<Vec<SchedulerRow>> {
        Ok(schedulers::list(self.db()).await?)
    }

    /// Scheduler liveness and queue state, with a verdict for monitoring systems. Needs no
    /// actor: it reveals counts only, to whoever can open the database.
    pub async fn health(&self) -> ServiceResult<Health> {
        let schedulers = schedulers::list(self.db()).await?;
        let queue = queue::stats(self.db()).await?;
        let now = Utc::now();
        let live = schedulers
            .iter()
            .filter(|s| {
                s.stopped_at.is_none() && now - s.heartbeat_at <= chrono::Duration::seconds(HEARTBEAT_STALE_SECS)
            })
            .count();
        let mut reasons = Vec::new();
        let mut level = HealthLevel::Ok;
        if live == 0 {
            level = HealthLevel::Down;
            reasons.push(format!(
                "no scheduler has sent a heartbeat in the last {HEARTBEAT_STALE_SECS}s: start `certdeck --serve-scheduler`"
            ));
        }
        let mut degraded = |r: String| {
            if level == HealthLevel::Ok {
                level = HealthLevel::Degraded;
            }
            reasons.push(r);
        };
        if let Some(t) = queue.oldest_due_at {
            let age = (now - t).num_seconds();
            if age > DUE_LAG_SECS {
                degraded(format!(
                    "the oldest due task has waited {age}s (more than {DUE_LAG_SECS}s)"
                ));
            }
        }
        if queue.expired_leases > 0 {
            degraded(format!(
                "{} running task(s) have an expired lease (a worker died)",
                queue.expired_leases
            ));
        }
        if queue.failed_24h > 0 {
            degraded(format!(
                "{} task(s) failed in the last 24 hours: `certdeck task list --status failed`",
                queue.failed_24h
            ));
        }
        Ok(Health {
            level,
            reasons,
            live_schedulers: live,
            schedulers,
            queue,
        })
    }
}
