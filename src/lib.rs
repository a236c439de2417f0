//! certdeck: the whole life of TLS certificates for a fleet of web servers, from a terminal.
//!
//! Layers, one direction of dependency, top to bottom (see DESIGN.md section 1):
//!
//! - faces: [`tui`] (the console), [`cli`] (clap, `--json` for scripts), [`scheduler`] (claims
//!   due tasks and schedules and runs them) and [`api`] (HTTP, `/api/v1` and `/metrics`); they
//!   reach everything through [`service`];
//! - [`service`]: the only entry for any operation: validation, authorization, audit rows, task
//!   rows and task logs, orchestration of the engines;
//! - below the service: [`store`] (sqlx, the only place with SQL; MySQL/MariaDB and SQLite),
//!   [`engine`] (leaf adapters to the outside world, no database: ACME, DNS, SSH, TLS probes,
//!   notifications), [`crypto`] (secret box, password and token hashing) and [`domain`]
//!   (newtypes, enums, parsing, certificate summary).
//!
//! Beside them: [`config`] (config file, `CERTDECK_*` variables, directories), [`errors`] (the
//! service error type), [`logging`] (rolling file logs) and [`fsutil`] (private files and
//! directories).

pub mod agent;
pub mod api;
pub mod cli;
pub mod config;
pub mod crypto;
pub mod domain;
pub mod engine;
pub mod errors;
pub mod fsutil;
pub mod logging;
pub mod scheduler;
pub mod service;
pub mod session;
pub mod store;
pub mod tui;
