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
//! - `fs`: the [`ConfigFs`] trait and its SFTP and local implementations;
//! - `probe`: [`probe_host`] and the parsing of its command output;
//! - `walk`: [`discover`] (the include walk, glob expansion, certificate reads);
//! - `wire`: [`Discovery`] and its validation.

mod fs;
mod probe;
mod walk;
mod wire;

pub use fs::{ConfigFs, ListError, LocalConfigFs};
pub use probe::{parse_os_release, parse_web_version, probe_host, HostFacts, PROBE_PATH_PREFIX};
pub use walk::{discover, flavor_for, DiscoverError};
pub use wire::{DiscoveredConfig, DiscoveredSite, Discovery, SiteCert};

/// The `server_configs.config_content` TEXT column holds at most this many bytes.
pub const CONFIG_CONTENT_MAX: usize = 65_535;

// Bounds of one discovery. A managed server's files are untrusted input: past any of these the
// discovery fails with a message naming the bound and the file, and the server's stored configs
// and sites stay as the last good check left them. Parsing has its own bounds,
// `webconf::Limits::DEFAULT` (1024 file loads, includes 16 deep, 32 MiB parsed, 200 000
// directives, 20 s), counted per load: a file included twice counts twice.

/// Distinct config files read per discovery.
pub const MAX_FILES: usize = 400;
/// Bytes of one config file (read through a bounded reader, whatever size the host reports).
pub const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;
/// Bytes of one certificate file; a larger one is not a certificate (the site gets an error).
pub const MAX_CERT_BYTES: u64 = 1024 * 1024;
/// Distinct certificate files read per discovery.
pub const MAX_CERT_FILES: usize = 1000;
/// Sites stored per discovery.
pub const MAX_SITES: usize = 5000;
/// Bytes read per discovery: config and certificate files together.
pub const MAX_TOTAL_BYTES: u64 = 32 * 1024 * 1024;
/// Distinct include patterns expanded per discovery (each costs round trips over SFTP).
pub const MAX_PATTERNS: usize = 2000;
/// Names kept of one site (`server_name` / `ServerName` + `ServerAlias` values), and SANs kept
/// of one certificate; the JSON of either also fits [`TEXT_COLUMN_MAX`].
pub const MAX_NAMES: usize = 1000;
/// Bytes of a TEXT column (`server_sites.server_names`, `server_sites.cert_sans`).
pub const TEXT_COLUMN_MAX: usize = 65_535;
/// Warnings a discovery reports (one per unreadable file, and one when no main config is found).
pub const MAX_WARNINGS: usize = MAX_FILES + 1;
/// Characters of one warning.
pub const WARNING_MAX_CHARS: usize = 2000;

/// The first `max` characters of `s`.
pub(crate) fn clip(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

#[cfg(test)]
mod tests;
