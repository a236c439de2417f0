//! The HTTP API face: JSON REST under `/api/v1`, the OpenAPI 3.1 document, `/metrics`, served
//! by axum over rustls (`certdeck --serve-api ADDR`).
//!
//! Like the CLI and the console, this face only translates: a route module per resource turns a
//! request into one [`Services`] call made as the authenticated [`Caller`], and the result (or the
//! [`ServiceError`](crate::errors::ServiceError)) into a JSON body or an RFC 9457 problem document.
//! No SQL and no business rule live here. The pieces:
//!
//! - [`auth`]: the `Authorization: Bearer` credential (API key `<key>:<secret>` or a session's
//!   access token) → [`Caller`]; read-only keys may only read;
//! - [`problem`]: errors as `application/problem+json`, and extractors whose rejections are problems;
//! - [`cursor`]: opaque keyset cursors and the paged list envelope;
//! - [`limits`]: rate limits per credential and per source address, with `Retry-After`;
//! - [`openapi`]: the route table that registers each operation in the router and in the
//!   OpenAPI document at once, so the two cannot drift;
//! - [`routes`]: one module per resource;
//! - [`metrics`]: the Prometheus text rendering of `/metrics`;
//! - [`server`]: listener, TLS (files or a certificate certdeck manages, reloaded when renewed),
//!   connection handling and graceful shutdown.

use std::sync::Arc;
use std::time::Duration;

use crate::service::Services;

pub mod auth;
pub mod cursor;
pub mod limits;
pub mod metrics;
pub mod openapi;
pub mod problem;
pub mod routes;
pub mod server;
pub mod tls;

pub use auth::Caller;
pub use problem::Problem;

/// The API's own knobs (command-line flags of `--serve-api`).
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Largest accepted request body in bytes.
    pub max_body_bytes: usize,
    /// Time limit for producing a response (streams, once started, are not cut by it).
    pub request_timeout: Duration,
    /// Requests per second allowed per credential (0 = no limit); bursts of twice that.
    pub rate_per_key: u32,
    /// Requests per second allowed per source address (0 = no limit); bursts of twice that.
    pub rate_per_address: u32,
    /// Whether `/metrics` answers without a credential (else an admin's credential is needed).
    pub metrics_public: bool,
    /// At most this many per-certificate series on `/metrics` (soonest expiry first).
    pub metrics_max_certificates: usize,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            max_body_bytes: 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            rate_per_key: 50,
            rate_per_address: 100,
            metrics_public: false,
            metrics_max_certificates: 10_000,
        }
    }
}

/// What every handler can reach: the services (as the server process, before a caller is
/// known), the limits and the config.
#[derive(Clone)]
pub struct ApiState {
    /// The services of this process; handlers use [`Caller::services`] instead (it carries the
    /// client's address and user agent into audit rows).
    pub services: Services,
    /// Rate limits.
    pub limiter: Arc<limits::RateLimiter>,
    /// Config.
    pub config: Arc<ApiConfig>,
}

impl ApiState {
    /// State over `services` with `config`.
    pub fn new(services: Services, config: ApiConfig) -> Self {
        ApiState {
            limiter: Arc::new(limits::RateLimiter::new(config.rate_per_key, config.rate_per_address)),
            services,
            config: Arc::new(config),
        }
    }
}

/// The whole application: every route of [`routes`], the OpenAPI document, the limits.
pub fn app(state: ApiState) -> axum::Router {
    let api = routes::all();
    let max_body = state.config.max_body_bytes;
    api.into_router()
        .layer(axum::middleware::from_fn_with_state(state.clone(), limits::per_address))
        .layer(axum::extract::DefaultBodyLimit::max(max_body))
        .with_state(state)
}

/// The OpenAPI 3.1 document of this build (what `/api/v1/openapi.json` serves and
/// `assets/openapi.json` holds).
pub fn openapi_document() -> serde_json::Value {
    routes::all().document()
}

#[cfg(test)]
mod tests {
    /// The committed document (`assets/openapi.json`) is the one this build serves. After a
    /// change of routes or types, regenerate it: `UPDATE_OPENAPI=1 cargo test --lib api::tests`
    /// (or `certdeck openapi > assets/openapi.json`).
    #[test]
    fn the_committed_openapi_document_matches_the_code() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/openapi.json");
        let now = serde_json::to_string_pretty(&super::openapi_document()).unwrap() + "\n";
        if std::env::var("UPDATE_OPENAPI").is_ok_and(|v| v == "1") {
            std::fs::write(path, &now).unwrap();
        }
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == now,
            "assets/openapi.json is out of date with the code: regenerate it with \
             `UPDATE_OPENAPI=1 cargo test --lib api::tests` and commit it"
        );
    }
}
