//! `/api/v1/schedules`: list, show, create, update, enable, disable and run now. A user sees and
//! changes its own schedules; system schedules (no owner) are an admin's. There is no delete:
//! the service has no operation to delete a schedule yet (disable it instead).

use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};

use crate::api::auth::Caller;
use crate::api::openapi::{Api, Op};
use crate::api::problem::{ApiResult, Body, Id};
use crate::service::schedules::ScheduleInput;
use crate::service::views::ScheduleRow;

/// Registers the routes.
pub fn routes(api: &mut Api) {
    api.add(
        Op::get("/api/v1/schedules", "listSchedules")
            .tag("schedules")
            .summary("Every schedule the caller may see (own; all for an admin, system ones included), oldest first")
            .ok::<Schedules>(200, "The schedules (at most 1000; not paged)"),
        list,
    );
    api.add(
        Op::get("/api/v1/schedules/{id}", "getSchedule")
            .tag("schedules")
            .summary("One schedule")
            .ok::<ScheduleRow>(200, "The schedule"),
        show,
    );
    api.add(
        Op::post("/api/v1/schedules", "createSchedule")
            .tag("schedules")
            .summary("Add a schedule (a user session; `system: true` for an admin only)")
            .describe(
                "`task_type` is certificate_check or server_check (or, as a system schedule, cleanup or backup); \
                 `cron_expression` has 5 or 6 fields and is read in the `system.timezone` setting's zone.",
            )
            .body::<ScheduleInput>()
            .ok::<ScheduleRow>(201, "The new schedule, with its next run"),
        create,
    );
    api.add(
        Op::patch("/api/v1/schedules/{id}", "updateSchedule")
            .tag("schedules")
            .summary("Change a schedule's name, cron expression or parameters (a new expression replans it)")
            .body::<ScheduleEdit>()
            .ok::<ScheduleRow>(200, "The changed schedule"),
        update,
    );
    api.add(
        Op::post("/api/v1/schedules/{id}/enable", "enableSchedule")
            .tag("schedules")
            .summary("Enable a schedule (plans its next run)")
            .ok::<ScheduleRow>(200, "The schedule"),
        enable,
    );
    api.add(
        Op::post("/api/v1/schedules/{id}/disable", "disableSchedule")
            .tag("schedules")
            .summary("Disable a schedule")
            .ok::<ScheduleRow>(200, "The schedule"),
        disable,
    );
    api.add(
        Op::post("/api/v1/schedules/{id}/run", "runSchedule")
            .tag("schedules")
            .summary("Run an active schedule now: the next scheduler tick fires it once")
            .ok::<ScheduleRow>(200, "The schedule, due now"),
        run_now,
    );
}

/// The schedules list.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Schedules {
    /// The schedules, oldest first.
    pub items: Vec<ScheduleRow>,
}

async fn list(c: Caller) -> ApiResult<Json<Schedules>> {
    Ok(Json(Schedules {
        items: c.services.schedule_list(&c.actor).await?,
    }))
}

async fn show(c: Caller, Id(id): Id) -> ApiResult<Json<ScheduleRow>> {
    Ok(Json(c.services.schedule_get(&c.actor, id).await?))
}

async fn create(c: Caller, Body(input): Body<ScheduleInput>) -> ApiResult<(StatusCode, Json<ScheduleRow>)> {
    Ok((
        StatusCode::CREATED,
        Json(c.services.schedule_add(&c.actor, &input).await?),
    ))
}

/// What an update may change; absent members are left as they are. The kind and whether it is a
/// system schedule never change.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleEdit {
    /// Name (1–100 characters).
    pub name: Option<String>,
    /// 5- or 6-field cron expression.
    pub cron_expression: Option<String>,
    /// Parameters (a JSON object).
    pub params: Option<serde_json::Value>,
}

async fn update(c: Caller, Id(id): Id, Body(b): Body<ScheduleEdit>) -> ApiResult<Json<ScheduleRow>> {
    let input = ScheduleInput {
        name: b.name,
        task_type: None,
        cron_expression: b.cron_expression,
        params: b.params,
        system: false,
    };
    Ok(Json(c.services.schedule_edit(&c.actor, id, &input).await?))
}

async fn enable(c: Caller, Id(id): Id) -> ApiResult<Json<ScheduleRow>> {
    Ok(Json(c.services.schedule_set_active(&c.actor, id, true).await?))
}

async fn disable(c: Caller, Id(id): Id) -> ApiResult<Json<ScheduleRow>> {
    Ok(Json(c.services.schedule_set_active(&c.actor, id, false).await?))
}

async fn run_now(c: Caller, Id(id): Id) -> ApiResult<Json<ScheduleRow>> {
    Ok(Json(c.services.schedule_run_now(&c.actor, id).await?))
}
