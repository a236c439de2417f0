//! The rows the service hands to its faces, re-exported here so that a face names
//! `service::views::CertificateRow` and never `store::…`. They are the store's list projections:
//! no PEM or private key is in them, and a sealed column that a row carries (a DNS provider's
//! secrets, an API key's hash) is never serialised into a face's JSON.

pub use crate::store::acme::DnsProviderRow;
pub use crate::store::agents::AgentRow;
pub use crate::store::audit::AuditRow;
pub use crate::store::certificates::{CertificateRow, DeploymentRow};
pub use crate::store::dashboard::Expiries;
pub use crate::store::discovery::SiteRow;
pub use crate::store::monitoring::{AlertRow, BindingRow, HistoryRow, MonitorRow};
pub use crate::store::queue::Lease;
pub use crate::store::redact_url;
pub use crate::store::schedulers::{SchedulerInfo, SchedulerRow};
pub use crate::store::schedules::ScheduleRow;
pub use crate::store::servers::{GroupRow, ServerConfigRow, ServerRow};
pub use crate::store::settings::{SettingRow, UserSettingRow};
pub use crate::store::tasks::{TaskLogRow, TaskRow};
pub use crate::store::users::{ApiKeyRow, UserRow};
