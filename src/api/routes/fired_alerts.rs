//! `/api/v1/fired-alerts`: the alert history — list (filter term `open`: `yes` for unresolved,
//! `no` for resolved), show, acknowledge (no more reminders) and resolve.

use std::collections::BTreeMap;

use axum::Json;

use crate::api::auth::Caller;
use crate::api::cursor::{paged, Paged};
use crate::api::list::ListQuery;
use crate::api::openapi::{Api, Op};
use crate::api::problem::{ApiResult, Id, Params};
use crate::service::query::{HistoryFilter, ListFilter};
use crate::service::views::HistoryRow;

const LIST: &str = "fired-alerts";

/// Registers the routes.
pub fn routes(api: &mut Api) {
    api.add(
        Op::get("/api/v1/fired-alerts", "listFiredAlerts")
            .tag("fired-alerts")
            .summary("List fired alerts (of own rules; all for an admin), newest first")
            .query::<crate::api::list::ListParams>()
            .filter(HistoryFilter::KEYS)
            .ok::<Paged<HistoryRow>>(200, "A page of fired alerts"),
        list,
    );
    api.add(
        Op::get("/api/v1/fired-alerts/{id}", "getFiredAlert")
            .tag("fired-alerts")
            .summary("One fired alert with its data")
            .ok::<HistoryRow>(200, "The fired alert"),
        show,
    );
    api.add(
        Op::post("/api/v1/fired-alerts/{id}/acknowledge", "acknowledgeFiredAlert")
            .tag("fired-alerts")
            .summary("Acknowledge an open alert: it stays open but sends no reminders (a user session)")
            .ok::<HistoryRow>(200, "The acknowledged alert"),
        acknowledge,
    );
    api.add(
        Op::post("/api/v1/fired-alerts/{id}/resolve", "resolveFiredAlert")
            .tag("fired-alerts")
            .summary("Mark an open alert resolved")
            .ok::<HistoryRow>(200, "The resolved alert"),
        resolve,
    );
}

async fn list(c: Caller, Params(raw): Params<BTreeMap<String, String>>) -> ApiResult<Json<Paged<HistoryRow>>> {
    let q = ListQuery::parse(LIST, raw, &[])?;
    let f: HistoryFilter = q.filter()?;
    let rows = c.services.alert_history_list(&c.actor, &f, q.page).await?;
    Ok(Json(paged(LIST, &q.page, rows, |r| r.id)))
}

async fn show(c: Caller, Id(id): Id) -> ApiResult<Json<HistoryRow>> {
    Ok(Json(c.services.alert_history_get(&c.actor, id).await?))
}

async fn acknowledge(c: Caller, Id(id): Id) -> ApiResult<Json<HistoryRow>> {
    Ok(Json(c.services.alert_acknowledge(&c.actor, id).await?))
}

async fn resolve(c: Caller, Id(id): Id) -> ApiResult<Json<HistoryRow>> {
    Ok(Json(c.services.alert_resolve(&c.actor, id).await?))
}
