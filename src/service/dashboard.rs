//! The dashboard's figures, scoped like every list: all rows for an admin, own rows otherwise.

use chrono::{DateTime, Utc};

use super::{Actor, Services};
use crate::errors::ServiceResult;
use crate::store::dashboard as store;
use crate::store::schedulers::SchedulerRow;

/// Everything the dashboard shows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Dashboard {
    /// When the figures were read.
    pub at: DateTime<Utc>,
    /// Certificates by status.
    pub certificates: Vec<(String, i64)>,
    /// Certificates expiring soon.
    pub expiries: store::Expiries,
    /// Monitors by status.
    pub monitors: Vec<(String, i64)>,
    /// Unresolved alerts by severity.
    pub open_alerts: Vec<(String, i64)>,
    /// Pending, running and failed tasks.
    pub tasks: Vec<(String, i64)>,
    /// Schedulers with a recent heartbeat, and all known ones.
    pub schedulers: Vec<SchedulerRow>,
    /// Active alert rules that notify no active channel.
    pub rules_without_channel: i64,
    /// Notification channels (0: the first-run hint offers an e-mail channel).
    pub channels: i64,
}

impl Services {
    /// Reads the dashboard's figures.
    pub async fn dashboard(&self, actor: &Actor) -> ServiceResult<Dashboard> {
        let now = Utc::now();
        let scope = actor.scope();
        let (rules_without_channel, channels) = store::notification_gaps(self.db(), scope).await?;
        Ok(Dashboard {
            rules_without_channel,
            channels,
            at: now,
            certificates: self.cert_counts(actor).await?,
            expiries: store::expiries(self.db(), scope, now).await?,
            monitors: store::monitors_by_status(self.db(), scope).await?,
            open_alerts: store::open_alerts_by_severity(self.db(), scope).await?,
            tasks: store::tasks_by_status(self.db(), scope).await?,
            schedulers: self.scheduler_list(actor).await?,
        })
    }
}

impl Services {
    /// A summary of rows of `w` changed at or after `since`, for live views that poll (another
    /// process may do the work). Non-admins see only their own rows counted.
    pub async fn changes_since(
        &self,
        actor: &Actor,
        w: crate::store::changes::Watched,
        since: DateTime<Utc>,
    ) -> ServiceResult<crate::store::changes::ChangeMark> {
        Ok(crate::store::changes::changed_since(self.db(), w, actor.scope(), since).await?)
    }
}
