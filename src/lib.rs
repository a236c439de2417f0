//! certdeck: the whole life of TLS certificates for a fleet of web servers, from a terminal.
//!
//! Layers, top to bottom (see DESIGN.md): faces (`cli`, console, scheduler) call `service`,
//! the only entry for any operation; `service` uses `store` (SQL), `crypto` and `domain`.

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
