//! DNS hosting APIs that publish dns-01 TXT records: each provider implements [`DnsRecords`]
//! over its vendor's HTTP API (or RFC 2136). Zone lookup, signing and errors are the
//! provider's business; propagation checks and CNAME delegation live in the dns-01 solver.

use std::time::Duration;

use super::acme::BoxFut;

/// Adds and removes TXT records at a DNS host.
pub trait DnsRecords: Send + Sync {
    /// What this is, for logs and errors (e.g. `Cloudflare`, `RFC 2136 at 192.0.2.53:53`).
    fn describe(&self) -> String;
    /// Adds a TXT record `fqdn` (no trailing dot) with `value`, next to any existing ones.
    fn add_txt<'a>(&'a self, fqdn: &'a str, value: &'a str) -> BoxFut<'a, Result<(), String>>;
    /// Removes the TXT record `fqdn` with exactly `value` (absent is not an error).
    fn delete_txt<'a>(&'a self, fqdn: &'a str, value: &'a str) -> BoxFut<'a, Result<(), String>>;
    /// The operator creates the records by hand (nothing is written; the solver shows them).
    fn is_manual(&self) -> bool {
        false
    }
    /// A server known to be authoritative for the records (an RFC 2136 primary): asked when
    /// the zone's name servers cannot be found through the resolvers.
    fn primary_server(&self) -> Option<std::net::SocketAddr> {
        None
    }
}

/// The HTTP client every vendor API uses: rustls (the process-wide ring provider), timeouts.
pub fn http_client(timeout: Duration) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(Duration::from_secs(10))
        .user_agent(concat!("certdeck/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("HTTP client: {e}"))
}
