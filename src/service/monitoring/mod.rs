//! Monitors, alert rules, notification channels, their bindings, and alert history.
//!
//! - `monitors`: monitors and their probe settings;
//! - `alerts`: alert rules and alert history;
//! - `channels`: notification channels and alert → channel bindings.

mod alerts;
mod channels;
mod monitors;

pub use alerts::AlertInput;
pub use channels::ChannelView;
pub use monitors::MonitorInput;
