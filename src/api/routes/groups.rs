//! `/api/v1/groups`: server groups — list, show, create, update, delete — and their membership
//! (add or remove a server; the members are listed by `GET /api/v1/servers?group=ID`).

use std::collections::BTreeMap;

use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;

use crate::api::auth::Caller;
use crate::api::cursor::{paged, Paged};
use crate::api::list::ListQuery;
use crate::api::openapi::{Api, Op};
use crate::api::problem::{ApiResult, Body, Id, Params};
use crate::service::views::GroupRow;

const LIST: &str = "groups";

/// Registers the routes.
pub fn routes(api: &mut Api) {
    api.add(
        Op::get("/api/v1/groups", "listGroups")
            .tag("groups")
            .summary("List server groups (own; all for an admin), newest first")
            .query::<crate::api::list::ListParams>()
            .ok::<Paged<GroupRow>>(200, "A page of groups"),
        list,
    );
    api.add(
        Op::get("/api/v1/groups/{id}", "getGroup")
            .tag("groups")
            .summary("One group with its member count (members: `GET /api/v1/servers?group={id}`)")
            .ok::<GroupRow>(200, "The group"),
        show,
    );
    api.add(
        Op::post("/api/v1/groups", "createGroup")
            .tag("groups")
            .summary("Create a group")
            .body::<GroupBody>()
            .ok::<GroupRow>(201, "The new group"),
        create,
    );
    api.add(
        Op::patch("/api/v1/groups/{id}", "updateGroup")
            .tag("groups")
            .summary("Rename or re-describe a group (only the members given change)")
            .body::<GroupChanges>()
            .ok::<GroupRow>(200, "The edited group"),
        update,
    );
    api.add(
        Op::delete("/api/v1/groups/{id}", "deleteGroup")
            .tag("groups")
            .summary("Delete a group (its servers stay)")
            .empty(204, "Deleted"),
        delete,
    );
    api.add(
        Op::post("/api/v1/groups/{id}/add-server", "addServerToGroup")
            .tag("groups")
            .summary("Add a server to the group (both of the same owner)")
            .body::<MemberBody>()
            .ok::<GroupRow>(200, "The group with its new member count"),
        add_server,
    );
    api.add(
        Op::post("/api/v1/groups/{id}/remove-server", "removeServerFromGroup")
            .tag("groups")
            .summary("Remove a server from the group (the server stays)")
            .body::<MemberBody>()
            .ok::<GroupRow>(200, "The group with its new member count"),
        remove_server,
    );
}

async fn list(c: Caller, Params(raw): Params<BTreeMap<String, String>>) -> ApiResult<Json<Paged<GroupRow>>> {
    let q = ListQuery::parse(LIST, raw, &[])?;
    // Groups have no filter terms.
    q.terms.check_keys(&[])?;
    let rows = c.services.group_list(&c.actor, q.page).await?;
    Ok(Json(paged(LIST, &q.page, rows, |r| r.id)))
}

async fn show(c: Caller, Id(id): Id) -> ApiResult<Json<GroupRow>> {
    Ok(Json(c.services.group_get(&c.actor, id).await?))
}

/// A new group.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupBody {
    /// Name (1 to 100 characters).
    pub name: String,
    /// Description (at most 255 characters).
    pub description: Option<String>,
}

async fn create(c: Caller, Body(b): Body<GroupBody>) -> ApiResult<(StatusCode, Json<GroupRow>)> {
    let g = c
        .services
        .group_create(&c.actor, &b.name, b.description.as_deref())
        .await?;
    Ok((StatusCode::CREATED, Json(g)))
}

/// Changes to a group; absent members stay as they are.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupChanges {
    /// New name.
    pub name: Option<String>,
    /// New description (`""` clears it).
    pub description: Option<String>,
}

async fn update(c: Caller, Id(id): Id, Body(b): Body<GroupChanges>) -> ApiResult<Json<GroupRow>> {
    Ok(Json(
        c.services
            .group_update(&c.actor, id, b.name.as_deref(), b.description.as_deref())
            .await?,
    ))
}

async fn delete(c: Caller, Id(id): Id) -> ApiResult<StatusCode> {
    c.services.group_delete(&c.actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A member server.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberBody {
    /// Server id.
    pub server_id: i64,
}

async fn add_server(c: Caller, Id(id): Id, Body(b): Body<MemberBody>) -> ApiResult<Json<GroupRow>> {
    c.services.group_add_server(&c.actor, id, b.server_id).await?;
    Ok(Json(c.services.group_get(&c.actor, id).await?))
}

async fn remove_server(c: Caller, Id(id): Id, Body(b): Body<MemberBody>) -> ApiResult<Json<GroupRow>> {
    c.services.group_remove_server(&c.actor, id, b.server_id).await?;
    Ok(Json(c.services.group_get(&c.actor, id).await?))
}
