//! `GET /metrics`: the fleet's figures in the Prometheus text format (rendered by
//! [`crate::api::metrics`]). An admin's API key or session is needed, unless the server runs
//! with `--metrics-public`; at most `--metrics-max-certificates` certificates get series.

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::api::metrics::{render, CONTENT_TYPE};
use crate::api::openapi::{Api, Op};
use crate::api::problem::ApiResult;
use crate::api::{ApiState, Caller};

/// Registers the route.
pub fn routes(api: &mut Api) {
    api.add(
        Op::get("/metrics", "metrics")
            .tag("metrics")
            .summary("Prometheus metrics of the whole fleet (text exposition format 0.0.4)")
            .describe(
                "Needs an admin's API key or session, or no credential at all when the server runs with \
                 `--metrics-public`. Per-certificate series (`certdeck_certificate_not_after_seconds`, \
                 `certdeck_certificate_time_left_seconds`) are bounded by `--metrics-max-certificates` \
                 (soonest expiry first); `certdeck_certificate_series_dropped` counts the rest.",
            )
            .ok_text(200, CONTENT_TYPE, "The metrics"),
        metrics,
    );
}

async fn metrics(State(st): State<ApiState>, mut parts: Parts) -> ApiResult<Response> {
    let max = st.config.metrics_max_certificates;
    let snapshot = if st.config.metrics_public {
        st.services.metrics_snapshot(None, max).await?
    } else {
        let c = Caller::from_request_parts(&mut parts, &st).await?;
        c.services.metrics_snapshot(Some(&c.actor), max).await?
    };
    let mut res = (StatusCode::OK, render(&snapshot)).into_response();
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}
