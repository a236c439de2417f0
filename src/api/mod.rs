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
//! - [`rate`] and [`limits`]: rate limits per credential and per source address (429 with
//!   `Retry-After`), the time limit of a response;
//! - [`list`]: the query of a list (paging and the CLI's filter terms);
//! - [`state`]: what handlers reach ([`ApiState`], [`ApiConfig`]);
//! - [`openapi`]: the route table that registers each operation in the router and in the
//!   OpenAPI document at once, so the two cannot drift;
//! - [`routes`]: one module per resource;
//! - [`metrics`]: the Prometheus text rendering of `/metrics`;
//! - [`server`]: listener, TLS (files or a certificate certdeck manages, reloaded when renewed),
//!   connection handling and graceful shutdown.

pub mod agent_auth;
pub mod auth;
pub mod cursor;
pub mod limits;
pub mod list;
pub mod metrics;
pub mod openapi;
pub mod problem;
pub mod rate;
pub mod routes;
pub mod server;
pub mod state;
pub mod tls;

pub use auth::Caller;
pub use problem::Problem;
pub use state::{ApiConfig, ApiState};

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
    routes::document()
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
