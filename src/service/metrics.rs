//! The fleet's figures for Prometheus (`/metrics`): one snapshot the API face renders in the
//! text exposition format. Fleet-wide, so only an admin (or a scrape the server lets in without
//! a key) reads it.

use chrono::{DateTime, Duration, Utc};

use super::{Actor, Services};
use crate::domain::{
    CertificateStatus, DeploymentStatus, MonitorStatus, Severity, TaskStatus, TaskType, UserRole, UserStatus,
};
use crate::errors::{ServiceError, ServiceResult};
use crate::store::metrics as store;

/// The default bound of per-certificate series (`--metrics-max-certificates`).
pub const DEFAULT_MAX_CERTIFICATE_SERIES: usize = 10_000;

/// Schedulers whose last heartbeat is older than this are left out of the snapshot (every
/// restart is a new worker id; old ones would pile up as series).
pub const SCHEDULER_WINDOW_HOURS: i64 = 24;

/// At most this many schedulers are reported.
pub const MAX_SCHEDULER_SERIES: i64 = 100;

/// A label value and how many rows have it.
pub type LabelCount = (String, u64);

/// One certificate's expiry (a per-certificate series).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateExpiry {
    /// Certificate id.
    pub id: i64,
    /// Its main domain.
    pub domain: String,
    /// Its status (`issued`, `expired`, `error`, `pending`).
    pub status: String,
    /// Its not-after time.
    pub not_after: DateTime<Utc>,
}

/// Tasks of one status and type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskCount {
    /// Task status (`pending`, `running`, `completed`, `failed`, `cancelled`).
    pub status: String,
    /// Task type (`certificate_issue`, …).
    pub task_type: String,
    /// How many.
    pub count: u64,
}

/// The duration histogram of one task type's finished tasks.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskDurations {
    /// Task type.
    pub task_type: String,
    /// `(upper bound in seconds, cumulative count)` per bucket, ascending bounds; the `+Inf`
    /// bucket is [`TaskDurations::count`].
    pub buckets: Vec<(f64, u64)>,
    /// Sum of the durations, in seconds.
    pub sum: f64,
    /// Number of finished tasks.
    pub count: u64,
}

/// Finished issuances (or renewals) with one outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuanceCount {
    /// `certificate_issue` or `certificate_renew`.
    pub task_type: String,
    /// The task's final status: `completed`, `failed` or `cancelled`.
    pub outcome: String,
    /// How many.
    pub count: u64,
}

/// A scheduler's last sign of life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchedulerBeat {
    /// Worker id (`<host>:<pid>:<random>`).
    pub worker: String,
    /// Its last heartbeat.
    pub last_heartbeat: DateTime<Utc>,
    /// Whether it stopped cleanly (a scheduler that died keeps `false` and an old heartbeat).
    pub stopped: bool,
}

/// Everything `/metrics` shows, read at [`MetricsSnapshot::at`].
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsSnapshot {
    /// When the figures were read (time left and ages are relative to it).
    pub at: DateTime<Utc>,
    /// Per-certificate expiries: at most [`MetricsSnapshot::certificate_series_limit`] of the
    /// certificates that have an expiry and are not revoked, soonest expiry first.
    pub certificates: Vec<CertificateExpiry>,
    /// The bound on [`MetricsSnapshot::certificates`].
    pub certificate_series_limit: usize,
    /// Certificates left out by that bound.
    pub certificate_series_dropped: u64,
    /// Certificates by status (every status, zeros included).
    pub certificates_by_status: Vec<LabelCount>,
    /// Monitors by status (every status, zeros included).
    pub monitors_by_status: Vec<LabelCount>,
    /// Unresolved fired alerts by severity (every severity, zeros included).
    pub open_alerts_by_severity: Vec<LabelCount>,
    /// Tasks by status and type (every pair, zeros included).
    pub tasks: Vec<TaskCount>,
    /// Duration histograms of finished (`completed` or `failed`) tasks, per type (every type).
    pub task_durations: Vec<TaskDurations>,
    /// Deployments by status (every status, zeros included).
    pub deployments_by_status: Vec<LabelCount>,
    /// Finished issuances and renewals by outcome (every pair, zeros included).
    pub issuance: Vec<IssuanceCount>,
    /// Schedulers seen within the last [`SCHEDULER_WINDOW_HOURS`] hours, latest first.
    pub schedulers: Vec<SchedulerBeat>,
    /// Pending notification deliveries (the outbox).
    pub outbox_pending: u64,
    /// When the oldest pending delivery was queued.
    pub outbox_oldest_pending: Option<DateTime<Utc>>,
}

/// The outcomes an issuance task ends with.
const ISSUANCE_OUTCOMES: [TaskStatus; 3] = [TaskStatus::Completed, TaskStatus::Failed, TaskStatus::Cancelled];

/// The issuance task types.
const ISSUANCE_TYPES: [TaskType; 2] = [TaskType::CertificateIssue, TaskType::CertificateRenew];

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// Every value of `all` with its count in `rows` (0 when absent); values the enum does not know
/// (none, with the seed's ENUM columns) are kept after them.
fn fill(all: impl IntoIterator<Item = &'static str>, rows: Vec<(String, i64)>) -> Vec<LabelCount> {
    let mut out: Vec<LabelCount> = all.into_iter().map(|v| (v.to_string(), 0)).collect();
    for (label, n) in rows {
        match out.iter_mut().find(|(l, _)| *l == label) {
            Some(slot) => slot.1 += count(n),
            None => out.push((label, count(n))),
        }
    }
    out
}

impl Services {
    /// Refuses all but an admin's session and an admin's API key: a key acts with the `api`
    /// role's limits, but the fleet's figures are read-only, so the key's owner decides.
    async fn require_fleet_reader(&self, a: &Actor) -> ServiceResult<()> {
        if a.is_admin() {
            return Ok(());
        }
        if a.role == UserRole::Api {
            let owner = crate::store::users::get_user(self.db(), a.user_id).await?;
            if owner.is_some_and(|u| u.role == UserRole::Admin && u.status == UserStatus::Active) {
                return Ok(());
            }
        }
        Err(ServiceError::Forbidden(format!(
            "only an admin (a session or an admin's API key) may read the fleet's metrics; {} may not",
            a.username
        )))
    }

    /// The fleet's figures for `/metrics`. `actor` is `None` when the server face lets a scrape
    /// in without a key; a caller with a session must be an admin, one with an API key must
    /// hold an admin's key (the figures cover every user's rows). At most `max_certificate_series` certificates get a series of their
    /// own (soonest expiry first); the rest are counted in
    /// [`MetricsSnapshot::certificate_series_dropped`].
    pub async fn metrics_snapshot(
        &self,
        actor: Option<&Actor>,
        max_certificate_series: usize,
    ) -> ServiceResult<MetricsSnapshot> {
        if let Some(a) = actor {
            self.require_fleet_reader(a).await?;
        }
        let db = self.db();
        let at = Utc::now();
        let limit = i64::try_from(max_certificate_series).unwrap_or(i64::MAX);
        let (certs, dropped) = store::cert_expiries(db, limit).await?;

        let mut tasks: Vec<TaskCount> = Vec::new();
        for s in TaskStatus::ALL {
            for t in TaskType::ALL {
                tasks.push(TaskCount {
                    status: s.as_str().into(),
                    task_type: t.as_str().into(),
                    count: 0,
                });
            }
        }
        for r in store::tasks_by_status_and_type(db).await? {
            match tasks
                .iter_mut()
                .find(|c| c.status == r.status && c.task_type == r.task_type)
            {
                Some(c) => c.count += count(r.count),
                None => tasks.push(TaskCount {
                    status: r.status,
                    task_type: r.task_type,
                    count: count(r.count),
                }),
            }
        }

        let measured = store::task_durations(db).await?;
        let task_durations = TaskType::ALL
            .iter()
            .map(|t| t.as_str().to_string())
            .chain(
                measured
                    .iter()
                    .map(|h| h.task_type.clone())
                    .filter(|t| TaskType::ALL.iter().all(|k| k.as_str() != t)),
            )
            .map(|task_type| {
                let h = measured.iter().find(|h| h.task_type == task_type);
                TaskDurations {
                    buckets: store::TASK_DURATION_BUCKETS
                        .iter()
                        .enumerate()
                        .map(|(i, le)| (*le, h.and_then(|h| h.buckets.get(i).copied()).unwrap_or(0)))
                        .collect(),
                    sum: h.map_or(0.0, |h| h.sum),
                    count: h.map_or(0, |h| h.count),
                    task_type,
                }
            })
            .collect();

        let finished = store::issuance_outcomes(db).await?;
        let issuance = ISSUANCE_TYPES
            .iter()
            .flat_map(|t| ISSUANCE_OUTCOMES.iter().map(move |o| (*t, *o)))
            .map(|(t, o)| IssuanceCount {
                task_type: t.as_str().into(),
                outcome: o.as_str().into(),
                count: finished
                    .iter()
                    .filter(|r| r.task_type == t.as_str() && r.status == o.as_str())
                    .map(|r| count(r.count))
                    .sum(),
            })
            .collect();

        let beats = store::heartbeats(db, at - Duration::hours(SCHEDULER_WINDOW_HOURS), MAX_SCHEDULER_SERIES).await?;
        let outbox = store::outbox(db).await?;

        Ok(MetricsSnapshot {
            at,
            certificates: certs
                .into_iter()
                .map(|c| CertificateExpiry {
                    id: c.id,
                    domain: c.main_domain,
                    status: c.status,
                    not_after: c.expires_at,
                })
                .collect(),
            certificate_series_limit: max_certificate_series,
            certificate_series_dropped: count(dropped),
            certificates_by_status: fill(
                CertificateStatus::ALL.iter().map(|s| s.as_str()),
                store::certificates_by_status(db).await?,
            ),
            monitors_by_status: fill(
                MonitorStatus::ALL.iter().map(|s| s.as_str()),
                store::monitors_by_status(db).await?,
            ),
            open_alerts_by_severity: fill(
                Severity::ALL.iter().map(|s| s.as_str()),
                store::open_alerts_by_severity(db).await?,
            ),
            tasks,
            task_durations,
            deployments_by_status: fill(
                DeploymentStatus::ALL.iter().map(|s| s.as_str()),
                store::deployments_by_status(db).await?,
            ),
            issuance,
            schedulers: beats
                .into_iter()
                .map(|b| SchedulerBeat {
                    worker: b.worker_id,
                    last_heartbeat: b.heartbeat_at,
                    stopped: b.stopped_at.is_some(),
                })
                .collect(),
            outbox_pending: count(outbox.pending),
            outbox_oldest_pending: outbox.oldest_pending,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_lists_every_value_with_zeros_and_keeps_unknown_ones() {
        let got = fill(
            ["ok", "warning", "error"],
            vec![("error".into(), 2), ("other".into(), 1), ("ok".into(), -1)],
        );
        assert_eq!(
            got,
            vec![
                ("ok".to_string(), 0),
                ("warning".to_string(), 0),
                ("error".to_string(), 2),
                ("other".to_string(), 1)
            ]
        );
    }
}
