//! One module per resource. Each has a `routes(&mut Api)` that registers its operations (see
//! [`super::openapi::Op`]); handlers take the [`Caller`](super::auth::Caller), parse the request with the
//! extractors of [`super::problem`], make one service call and return JSON.

use axum::Json;

use super::openapi::{Api, Op};

pub mod agent;
pub mod alert_rules;
pub mod api_keys;
pub mod audit;
pub mod certificates;
pub mod channels;
pub mod deploy;
pub mod deployments;
pub mod fired_alerts;
pub mod groups;
pub mod health;
pub mod metrics;
pub mod monitors;
pub mod schedules;
pub mod servers;
pub mod session;
pub mod settings;
pub mod tasks;
pub mod users;

/// Every route of the API.
pub fn all() -> Api {
    let mut api = Api::new();
    health::routes(&mut api);
    session::routes(&mut api);
    certificates::routes(&mut api);
    servers::routes(&mut api);
    groups::routes(&mut api);
    deployments::routes(&mut api);
    deploy::routes(&mut api);
    metrics::routes(&mut api);
    monitors::routes(&mut api);
    alert_rules::routes(&mut api);
    fired_alerts::routes(&mut api);
    channels::routes(&mut api);
    audit::routes(&mut api);
    tasks::routes(&mut api);
    schedules::routes(&mut api);
    settings::routes(&mut api);
    users::routes(&mut api);
    api_keys::routes(&mut api);
    agent::routes(&mut api);
    api.add(
        Op::get("/api/v1/openapi.json", "openapi")
            .tag("health")
            .summary("This document (OpenAPI 3.1)")
            .public()
            .ok::<serde_json::Value>(200, "The OpenAPI document"),
        openapi,
    );
    api
}

/// The OpenAPI document of every route.
pub fn document() -> serde_json::Value {
    all().document()
}

async fn openapi() -> Json<serde_json::Value> {
    static DOC: std::sync::OnceLock<serde_json::Value> = std::sync::OnceLock::new();
    Json(DOC.get_or_init(document).clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_documented_once_and_the_table_builds() {
        let api = all();
        let mut seen = std::collections::HashSet::new();
        for (method, path, id) in api.ops() {
            assert!(seen.insert(id), "operation id {id} used twice");
            assert!(path.starts_with("/api/v1/") || path == "/metrics", "{method} {path}");
        }
        let doc = api.document();
        assert_eq!(doc["openapi"], "3.1.0");
        let _router = api.into_router();
    }
}
