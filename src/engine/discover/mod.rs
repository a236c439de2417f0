//! Server discovery over any transport: what a host runs ([`probe_host`]: OS, web server and
//! its version) and what its web server serves ([`discover`]: every config file reached from
//! the main one through includes, the sites they define and the certificate each TLS site
//! serves from disk). The SSH server check reads the host over SFTP, the agent reads its own
//! file system ([`LocalConfigFs`]); both go through [`ConfigFs`] with the same parsers
//! ([`crate::domain::webconf`]) and the same bounds.
//!
//! The result is a wire type ([`Discovery`]) that the agent sends to the API; the API checks it
//! with [`Discovery::validate`] (the same bounds, and every string fitting its column) before
//! the service stores it. No database here.
//!
//! - `bounds`: the bounds of a discovery;
//! - `fs`: the [`ConfigFs`] trait and its SFTP and local implementations;
//! - `probe`: [`probe_host`] and the parsing of its command output;
//! - `walk`: [`discover`] (the include walk, glob expansion, certificate reads);
//! - `wire`: [`Discovery`] and its validation.

mod bounds;
mod fs;
mod probe;
mod walk;
mod wire;

pub use bounds::{
    CONFIG_CONTENT_MAX, MAX_CERT_BYTES, MAX_CERT_FILES, MAX_FILES, MAX_FILE_BYTES, MAX_NAMES, MAX_PATTERNS, MAX_SITES,
    MAX_TOTAL_BYTES, MAX_WARNINGS, TEXT_COLUMN_MAX, WARNING_MAX_CHARS,
};
pub use fs::{ConfigFs, ListError, LocalConfigFs};
pub use probe::{parse_os_release, parse_web_version, probe_host, HostFacts, PROBE_PATH_PREFIX};
pub use walk::{discover, flavor_for, DiscoverError};
pub use wire::{DiscoveredConfig, DiscoveredSite, Discovery, SiteCert};

#[cfg(test)]
mod tests;
