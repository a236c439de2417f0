//! Engines: leaf adapters that talk to the outside world (ACME CAs, DNS servers and provider
//! APIs, SSH servers, TLS endpoints, mail, webhook and SMS gateways). They never touch the
//! database or the screen; the service layer feeds them decrypted settings and stores results.

pub mod acme;
pub mod acme_chains;
pub mod deploy;
pub mod discover;
pub mod dns01;
pub mod dnsapi;
pub mod http;
pub mod http01;
pub mod notify;
pub mod probe;
pub mod rfc2136;
pub mod ssh;
pub mod tls_peek;

/// A boxed future, as the object-safe engine traits (`Prober`, `Notifier`, `Solver`,
/// `DnsRecords`) return them.
pub type BoxFut<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;
