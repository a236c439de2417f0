//! `/api/v1/monitors`: list (the CLI's filter terms `status`, `type`, `active`), show, create,
//! update, delete, and check now (the TLS probe run in the request; its result, alerts fired or
//! resolved by it).

use std::collections::BTreeMap;

use axum::http::StatusCode;
use axum::Json;

use crate::api::auth::Caller;
use crate::api::cursor::{paged, Paged};
use crate::api::list::ListQuery;
use crate::api::openapi::{Api, Op};
use crate::api::problem::{ApiResult, Body, Id, Params};
use crate::service::monitor_check::CheckOutcome;
use crate::service::monitoring::MonitorInput;
use crate::service::query::{ListFilter, MonitorFilter};
use crate::service::views::MonitorRow;

const LIST: &str = "monitors";

/// Registers the routes.
pub fn routes(api: &mut Api) {
    api.add(
        Op::get("/api/v1/monitors", "listMonitors")
            .tag("monitors")
            .summary("List monitors (own; all for an admin), newest first")
            .query::<crate::api::list::ListParams>()
            .filter(MonitorFilter::KEYS)
            .ok::<Paged<MonitorRow>>(200, "A page of monitors"),
        list,
    );
    api.add(
        Op::get("/api/v1/monitors/{id}", "getMonitor")
            .tag("monitors")
            .summary("One monitor with what its last check found")
            .ok::<MonitorRow>(200, "The monitor"),
        show,
    );
    api.add(
        Op::post("/api/v1/monitors", "createMonitor")
            .tag("monitors")
            .summary("Create a monitor of a certificate, a server or a domain")
            .body::<MonitorInput>()
            .ok::<MonitorRow>(201, "The new monitor"),
        create,
    );
    api.add(
        Op::patch("/api/v1/monitors/{id}", "updateMonitor")
            .tag("monitors")
            .summary("Change a monitor's name, port, interval, probe address, trust bundle or enabled flag")
            .describe("Fields left out keep their value; `\"\"` clears `connect_address` or `trust_bundle_pem`. The type and target of a monitor cannot change.")
            .body::<MonitorInput>()
            .ok::<MonitorRow>(200, "The changed monitor"),
        update,
    );
    api.add(
        Op::delete("/api/v1/monitors/{id}", "deleteMonitor")
            .tag("monitors")
            .summary("Delete a monitor with its history; rules bound to it fall back to all monitors")
            .empty(204, "Deleted"),
        delete,
    );
    api.add(
        Op::post("/api/v1/monitors/{id}/check", "checkMonitor")
            .tag("monitors")
            .summary("Check a monitor now (TLS probe, drift, rules) and answer what it found (a user session)")
            .ok::<CheckOutcome>(200, "What the check found"),
        check,
    );
}

async fn list(c: Caller, Params(raw): Params<BTreeMap<String, String>>) -> ApiResult<Json<Paged<MonitorRow>>> {
    let q = ListQuery::parse(LIST, raw, &[])?;
    let f: MonitorFilter = q.filter()?;
    let rows = c.services.monitor_list(&c.actor, &f, q.page).await?;
    Ok(Json(paged(LIST, &q.page, rows, |r| r.id)))
}

async fn show(c: Caller, Id(id): Id) -> ApiResult<Json<MonitorRow>> {
    Ok(Json(c.services.monitor_get(&c.actor, id).await?))
}

async fn create(c: Caller, Body(input): Body<MonitorInput>) -> ApiResult<(StatusCode, Json<MonitorRow>)> {
    let row = c.services.monitor_create(&c.actor, &input).await?;
    Ok((StatusCode::CREATED, Json(row)))
}

async fn update(c: Caller, Id(id): Id, Body(input): Body<MonitorInput>) -> ApiResult<Json<MonitorRow>> {
    Ok(Json(c.services.monitor_update(&c.actor, id, &input).await?))
}

async fn delete(c: Caller, Id(id): Id) -> ApiResult<StatusCode> {
    c.services.monitor_delete(&c.actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn check(c: Caller, Id(id): Id) -> ApiResult<Json<CheckOutcome>> {
    Ok(Json(c.services.monitor_check_now(&c.actor, id).await?))
}
