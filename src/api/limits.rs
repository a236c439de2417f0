//! The limits every request passes: the rate limit per source address (see [`super::rate`]) and
//! the time limit for producing a response.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::problem::Problem;
use super::state::ApiState;

/// Middleware: the per-address limit, then the request under the time limit.
pub async fn per_address(State(state): State<ApiState>, req: Request, next: Next) -> Response {
    if let Some(ConnectInfo(addr)) = req.extensions().get::<ConnectInfo<SocketAddr>>() {
        if let Err(p) = state.limiter.check_address(&addr.ip().to_canonical().to_string()) {
            return p.into_response();
        }
    }
    match tokio::time::timeout(state.config.request_timeout, next.run(req)).await {
        Ok(res) => res,
        Err(_) => Problem::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "timeout",
            "Request timed out",
            format!(
                "the request took longer than {} s; if it started a change, check its task before retrying",
                state.config.request_timeout.as_secs()
            ),
        )
        .into_response(),
    }
}
