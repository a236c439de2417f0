//! `GET /api/v1/health` (public: is the API up and its database reachable) and
//! `GET /api/v1/health/details` (the scheduler and queue verdict of `certdeck health`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;

use crate::api::auth::Caller;
use crate::api::openapi::{Api, Op};
use crate::api::problem::ApiResult;
use crate::api::state::ApiState;
use crate::service::tasks::health::{Health, HealthLevel};

/// Registers the routes.
pub fn routes(api: &mut Api) {
    api.add(
        Op::get("/api/v1/health", "health")
            .tag("health")
            .summary("Liveness: the API answers and its database is reachable (no credential)")
            .public()
            .ok::<Liveness>(200, "Up")
            .ok::<Liveness>(503, "The database is unreachable"),
        liveness,
    );
    api.add(
        Op::get("/api/v1/health/details", "healthDetails")
            .tag("health")
            .summary("The scheduler and queue verdict of `certdeck health`")
            .ok::<Health>(200, "The verdict, schedulers and queue counts"),
        details,
    );
}

/// Whether the API and its database answer.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Liveness {
    /// `ok`, or `down` when the database does not answer.
    pub status: String,
    /// certdeck's version.
    pub version: String,
}

async fn liveness(State(st): State<ApiState>) -> (StatusCode, Json<Liveness>) {
    let up = st.services.schema_version().await.is_ok();
    let body = Liveness {
        status: if up { "ok" } else { "down" }.into(),
        version: env!("CARGO_PKG_VERSION").into(),
    };
    let code = if up {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(body))
}

async fn details(c: Caller) -> ApiResult<(StatusCode, Json<Health>)> {
    let h = c.services.health().await?;
    let code = if h.level == HealthLevel::Down {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    Ok((code, Json(h)))
}
