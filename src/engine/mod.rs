//! Engines: talk to the outside world (SSH servers, TLS endpoints). They never touch the
//! database or the screen; the service layer feeds them decrypted settings and stores results.

pub mod acme;
pub mod acme_chains;
pub mod deploy;
pub mod dns01;
pub mod dnsapi;
pub mod http;
pub mod http01;
pub mod notify;
pub mod rfc2136;
pub mod ssh;
pub mod tls_peek;
pub mod tls_probe;
