//! The bounds of a discovery and of what is stored of it.

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
