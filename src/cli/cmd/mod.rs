//! One module per command group: each holds its clap arguments (the `…Cmd` enum) and its
//! handlers, which parse flags, call the service and hand the result to a view
//! ([`crate::cli::views`]). To add a group: a file here with its `…Cmd` enum and `run`, a
//! variant in [`crate::cli::Command`], a line in `dispatch.rs`, and its views.

pub(crate) mod agent;
pub(crate) mod alert;
pub(crate) mod apikey;
pub(crate) mod audit;
pub(crate) mod auth;
pub(crate) mod ca;
pub(crate) mod cert;
pub(crate) mod channel;
pub(crate) mod db;
pub(crate) mod deploy;
pub(crate) mod deployment;
pub(crate) mod dns_provider;
pub(crate) mod group;
pub(crate) mod monitor;
pub(crate) mod schedule;
pub(crate) mod scheduler;
pub(crate) mod secrets;
pub(crate) mod serve;
pub(crate) mod server;
pub(crate) mod server_args;
pub(crate) mod server_ssh;
pub(crate) mod setting;
pub(crate) mod status;
pub(crate) mod task;
pub(crate) mod user;
