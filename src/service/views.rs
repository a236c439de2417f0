//! The rows the service hands to its faces. They are the store's projections (no secret column
//! is in any of them: sealed values stay behind the service), re-exported here so that a face
//! names `service::views::CertificateRow` and never `store::…`.

pub use crate::store::acme::{AccountRow, CaRow, DnsProviderRow, IssuanceRow};
pub use crate::store::audit::AuditRow;
pub use crate::store::certificates::{CertificateRow, ChallengeRow, DeploymentRow};
pub use crate::store::dashboard::Expiries;
pub use crate::store::discovery::SiteRow;
pub use crate::store::monitoring::{AlertRow, BindingRow, ChannelRow, HistoryRow, MonitorRow};
pub use crate::store::queue::Lease;
pub use crate::store::redact_url;
pub use crate::store::schedulers::{SchedulerInfo, SchedulerRow};
pub use crate::store::schedules::ScheduleRow;
pub use crate::store::servers::{GroupRow, ServerConfigRow, ServerRow};
pub use crate::store::settings::{SettingRow, UserSettingRow};
pub use crate::store::tasks::{TaskLogRow, TaskRow};
pub use crate::store::users::{ApiKeyRow, UserRow};
