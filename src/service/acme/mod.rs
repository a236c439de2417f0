//! Certificates from ACME: CA presets and custom CAs, accounts (one per CA and contact, sealed),
//! DNS providers (RFC 2136, manual, and the HTTP APIs of [`crate::engine::dnsapi`]; secrets
//! sealed), certificate requests, the `certificate_issue` task that runs an order through the
//! engine and stores the result, renewal information (ARI), renewal and revocation.
//!
//! - `cas`: presets, custom CAs, resolving a `--ca` key;
//! - `dns_providers`: adding, listing and testing DNS providers, their record writers;
//! - `request`: the issuance plan, `cert request`, renewal set-up, queuing a renewal;
//! - `issue`: the `certificate_issue` / `certificate_renew` task;
//! - `ari`: the renewal-information sweep (RFC 9773);
//! - `revoke`: revocation at the CA;
//! - `accounts`: the ACME account an order runs under.

mod accounts;
mod ari;
mod cas;
mod dns_providers;
mod issue;
mod request;
mod revoke;

pub use cas::{CaPreset, CaView, CA_PRESETS};
pub use dns_providers::Rfc2136Settings;
pub use issue::IssueRunner;
pub use request::RequestInput;
