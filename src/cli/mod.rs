//! The scriptable face: clap subcommands for every service operation, each `list`/`show` with a
//! readable table and `--json`.
//!
//! - `args.rs`: the top-level clap definitions ([`Cli`], [`Command`]); [`PageArgs`] is in
//!   [`context`] with the paging helper;
//! - [`context`]: config, opening the services, who the caller is, input helpers;
//! - `dispatch.rs`: [`run`], from a parsed command line to an exit code;
//! - `cmd/<group>.rs`: one module per command group, with its clap arguments and handlers
//!   (parse → call the service → hand the result to a view);
//! - [`views`]: one table view and one JSON view per type;
//! - [`error`]: [`error::CliError`] and the exit codes (0 ok, 1 failed, 2 usage, 3 not found,
//!   4 unauthenticated or forbidden, 5 conflict, 6 invalid input, 7 remote failure).

mod args;
mod cmd;
pub(crate) mod context;
mod dispatch;
pub mod error;
pub mod views;

pub use args::{Cli, Command};
pub use cmd::alert::AlertCmd;
pub use cmd::apikey::ApikeyCmd;
pub use cmd::audit::AuditCmd;
pub use cmd::ca::CaCmd;
pub use cmd::cert::{CertCmd, IssuanceArgs};
pub use cmd::channel::ChannelCmd;
pub use cmd::db::DbCmd;
pub use cmd::deployment::DeploymentCmd;
pub use cmd::dns_provider::DnsProviderCmd;
pub use cmd::group::GroupCmd;
pub use cmd::monitor::MonitorCmd;
pub use cmd::schedule::ScheduleCmd;
pub use cmd::secrets::SecretsCmd;
pub use cmd::server_args::{ImportArgs, ServerArgs, ServerCmd};
pub use cmd::setting::SettingCmd;
pub use cmd::task::TaskCmd;
pub use cmd::user::UserCmd;
pub use context::PageArgs;
pub use dispatch::run;
