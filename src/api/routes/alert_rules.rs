//! `/api/v1/alert-rules`: alert rules (conditions checked on each monitor result) — list (filter
//! term `type`), show with the channels the rule notifies, create, update, delete, and bind /
//! unbind a notification channel.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;

use crate::api::auth::Caller;
use crate::api::cursor::{paged, Paged};
use crate::api::list::ListQuery;
use crate::api::openapi::{Api, Op};
use crate::api::problem::{ApiResult, Body, Id, Params};
use crate::service::monitoring::AlertInput;
use crate::service::query::{AlertFilter, ListFilter};
use crate::service::views::{AlertRow, BindingRow};

const LIST: &str = "alert-rules";

/// Registers the routes.
pub fn routes(api: &mut Api) {
    api.add(
        Op::get("/api/v1/alert-rules", "listAlertRules")
            .tag("alert-rules")
            .summary("List alert rules (own; all for an admin), newest first")
            .query::<crate::api::list::ListParams>()
            .filter(AlertFilter::KEYS)
            .ok::<Paged<AlertRow>>(200, "A page of alert rules"),
        list,
    );
    api.add(
        Op::get("/api/v1/alert-rules/{id}", "getAlertRule")
            .tag("alert-rules")
            .summary("One alert rule with the channels it notifies")
            .ok::<AlertRuleView>(200, "The rule and its channel bindings"),
        show,
    );
    api.add(
        Op::post("/api/v1/alert-rules", "createAlertRule")
            .tag("alert-rules")
            .summary("Create an alert rule (on one monitor, or all of the owner's when `monitor_id` is left out)")
            .body::<AlertInput>()
            .ok::<AlertRow>(201, "The new rule"),
        create,
    );
    api.add(
        Op::patch("/api/v1/alert-rules/{id}", "updateAlertRule")
            .tag("alert-rules")
            .summary("Change an alert rule; fields left out keep their value")
            .body::<AlertInput>()
            .ok::<AlertRow>(200, "The changed rule"),
        update,
    );
    api.add(
        Op::delete("/api/v1/alert-rules/{id}", "deleteAlertRule")
            .tag("alert-rules")
            .summary("Delete an alert rule with its bindings and fired alerts")
            .empty(204, "Deleted"),
        delete,
    );
    api.add(
        Op::post("/api/v1/alert-rules/{id}/bind", "bindAlertRuleChannel")
            .tag("alert-rules")
            .summary("Notify a channel (of the same owner) when this rule fires")
            .body::<ChannelRef>()
            .ok::<AlertRuleView>(201, "The rule and its channel bindings"),
        bind,
    );
    api.add(
        Op::post("/api/v1/alert-rules/{id}/unbind", "unbindAlertRuleChannel")
            .tag("alert-rules")
            .summary("Stop notifying a channel")
            .body::<ChannelRef>()
            .empty(204, "Unbound"),
        unbind,
    );
}

/// An alert rule and the channels it notifies.
#[derive(serde::Serialize, schemars::JsonSchema)]
pub struct AlertRuleView {
    /// The rule.
    #[serde(flatten)]
    pub rule: AlertRow,
    /// Its channel bindings.
    pub bindings: Vec<BindingRow>,
}

/// A channel to bind or unbind.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelRef {
    /// The notification channel's id.
    pub channel_id: i64,
}

async fn list(c: Caller, Params(raw): Params<BTreeMap<String, String>>) -> ApiResult<Json<Paged<AlertRow>>> {
    let q = ListQuery::parse(LIST, raw, &[])?;
    let f: AlertFilter = q.filter()?;
    let rows = c.services.alert_list(&c.actor, f.alert_type, q.page).await?;
    Ok(Json(paged(LIST, &q.page, rows, |r| r.id)))
}

async fn view(c: &Caller, id: i64) -> ApiResult<AlertRuleView> {
    let rule = c.services.alert_get(&c.actor, id).await?;
    let bindings = c.services.binding_list(&c.actor, id).await?;
    Ok(AlertRuleView { rule, bindings })
}

async fn show(c: Caller, Id(id): Id) -> ApiResult<Json<AlertRuleView>> {
    Ok(Json(view(&c, id).await?))
}

async fn create(c: Caller, Body(input): Body<AlertInput>) -> ApiResult<(StatusCode, Json<AlertRow>)> {
    let row = c.services.alert_create(&c.actor, &input).await?;
    Ok((StatusCode::CREATED, Json(row)))
}

async fn update(c: Caller, Id(id): Id, Body(input): Body<AlertInput>) -> ApiResult<Json<AlertRow>> {
    Ok(Json(c.services.alert_update(&c.actor, id, &input).await?))
}

async fn delete(c: Caller, Id(id): Id) -> ApiResult<StatusCode> {
    c.services.alert_delete(&c.actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn bind(c: Caller, Id(id): Id, Body(b): Body<ChannelRef>) -> ApiResult<(StatusCode, Json<AlertRuleView>)> {
    c.services.binding_create(&c.actor, id, b.channel_id).await?;
    Ok((StatusCode::CREATED, Json(view(&c, id).await?)))
}

async fn unbind(c: Caller, Id(id): Id, Body(b): Body<ChannelRef>) -> ApiResult<StatusCode> {
    c.services.binding_delete(&c.actor, id, b.channel_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
