//! The deploy transaction, over any transport: put a certificate and its key on a host —
//! upload to temporary names, back up the certificate and the key (each as it exists,
//! independently) and record what existed in a transaction record on the host
//! (`<cert>.certdeck-txn-<deployment>`), swap with `mv -f` (the key's failure puts the
//! certificate back in the same command), test the config, reload, verify by TLS handshake that
//! the new serial is served — and on any failure put back exactly what existed (a file that did
//! not exist is removed, nothing else), reload and check the old serial.
//!
//! A retry trusts the host, not the database: an entry recorded as deployed is skipped only
//! when a handshake shows its serial served, and a transaction record left by an interrupted
//! attempt is what a later failure restores to.
//!
//! The step logic is [`Deployer`]; it reaches a host through [`Hosts`] (connections and the
//! verifying handshake), each connection a [`Transport`] (commands with bounded output, and a
//! [`Files`] session to stat, read and write). [`ssh`] implements them over
//! [`crate::engine::ssh`] (the scheduler's way); [`local`] implements the same traits on the
//! machine certdeck runs on (the agent's way). Progress and outcomes go to a [`DeploySink`] the
//! caller gives: this module never touches the database.

mod contract;
mod deployer;
pub mod local;
mod manifest;
pub mod ssh;

pub use contract::*;

pub use deployer::{wait_for_serial, DeploySettings, Deployer};
