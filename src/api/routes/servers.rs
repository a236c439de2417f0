//! `/api/v1/servers`: list (the CLI's filter terms), show, create, update, delete; the SSH host
//! key (fetch what the server presents, trust exactly a confirmed fingerprint) and a server check
//! (probe and discover, queued as a task). Secrets (password, private key, passphrase, token) are
//! accepted on create and update and never returned: rows only say which ones are stored.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;

use crate::api::auth::Caller;
use crate::api::cursor::{paged, Paged};
use crate::api::list::ListQuery;
use crate::api::openapi::{Api, Op};
use crate::api::problem::{ApiResult, Body, Id, Params};
use crate::service::query::{ListFilter, ServerFilter};
use crate::service::remote::HostKeyCheck;
use crate::service::servers::ServerInput;
use crate::service::views::{ServerRow, TaskRow};

const LIST: &str = "servers";

/// Runs allowed for transient failures of a check queued over the API (nobody waits on it).
const CHECK_ATTEMPTS: i32 = 3;

/// Registers the routes.
pub fn routes(api: &mut Api) {
    api.add(
        Op::get("/api/v1/servers", "listServers")
            .tag("servers")
            .summary("List servers (own; all for an admin), newest first")
            .describe(
                "Filter terms: `status` (active, inactive, error), `type` (nginx, apache, …), `hostname` \
                 (exact, case-insensitive) and `group` (a group id: its member servers).",
            )
            .query::<crate::api::list::ListParams>()
            .filter(ServerFilter::KEYS)
            .ok::<Paged<ServerRow>>(200, "A page of servers (no secrets)"),
        list,
    );
    api.add(
        Op::get("/api/v1/servers/{id}", "getServer")
            .tag("servers")
            .summary("One server (no secrets: `has_password`, `has_private_key`, … say what is stored)")
            .ok::<ServerRow>(200, "The server"),
        show,
    );
    api.add(
        Op::post("/api/v1/servers", "createServer")
            .tag("servers")
            .summary("Add a server; its secrets are sealed at rest and never returned")
            .body::<ServerInput>()
            .ok::<ServerRow>(201, "The new server"),
        create,
    );
    api.add(
        Op::patch("/api/v1/servers/{id}", "updateServer")
            .tag("servers")
            .summary("Edit a server: only the members given change; a given secret replaces the stored one")
            .body::<ServerInput>()
            .ok::<ServerRow>(200, "The edited server"),
        update,
    );
    api.add(
        Op::delete("/api/v1/servers/{id}", "deleteServer")
            .tag("servers")
            .summary("Delete a server with its configs and group memberships (refused while deployments use it)")
            .empty(204, "Deleted"),
        delete,
    );
    api.add(
        Op::get("/api/v1/servers/{id}/host-key", "getServerHostKey")
            .tag("servers")
            .summary("Connect to the server and show the SSH host key it presents, with the trusted one")
            .ok::<HostKeyCheck>(200, "The presented and the trusted fingerprints"),
        host_key,
    );
    api.add(
        Op::post("/api/v1/servers/{id}/trust-host-key", "trustServerHostKey")
            .tag("servers")
            .summary("Trust exactly the confirmed host key, if the server presents it now (a user session)")
            .body::<TrustBody>()
            .ok::<HostKeyCheck>(
                200,
                "The key now trusted (`presented`) and the one trusted before (`stored`, null if none)",
            ),
        trust_host_key,
    );
    api.add(
        Op::post("/api/v1/servers/{id}/check", "checkServer")
            .tag("servers")
            .summary("Probe the server over SSH and discover its web server configuration: queues a task")
            .ok::<TaskRow>(202, "The server_check task"),
        check,
    );
}

async fn list(c: Caller, Params(raw): Params<BTreeMap<String, String>>) -> ApiResult<Json<Paged<ServerRow>>> {
    let q = ListQuery::parse(LIST, raw, &[])?;
    let f: ServerFilter = q.filter()?;
    let rows = c.services.server_list(&c.actor, &f, q.page).await?;
    Ok(Json(paged(LIST, &q.page, rows, |r| r.id)))
}

async fn show(c: Caller, Id(id): Id) -> ApiResult<Json<ServerRow>> {
    Ok(Json(c.services.server_get(&c.actor, id).await?))
}

async fn create(c: Caller, Body(input): Body<ServerInput>) -> ApiResult<(StatusCode, Json<ServerRow>)> {
    let row = c.services.server_create(&c.actor, &input).await?;
    Ok((StatusCode::CREATED, Json(row)))
}

async fn update(c: Caller, Id(id): Id, Body(input): Body<ServerInput>) -> ApiResult<Json<ServerRow>> {
    Ok(Json(c.services.server_update(&c.actor, id, &input).await?))
}

async fn delete(c: Caller, Id(id): Id) -> ApiResult<StatusCode> {
    c.services.server_delete(&c.actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn host_key(c: Caller, Id(id): Id) -> ApiResult<Json<HostKeyCheck>> {
    Ok(Json(c.services.server_host_key(&c.actor, id).await?))
}

/// The host key to trust.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TrustBody {
    /// The `SHA256:…` fingerprint you were shown (`GET …/host-key`) and checked on the server
    /// (`ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub`); refused if the server presents
    /// another key now.
    pub fingerprint: String,
}

async fn trust_host_key(c: Caller, Id(id): Id, Body(b): Body<TrustBody>) -> ApiResult<Json<HostKeyCheck>> {
    Ok(Json(
        c.services.server_trust_host_key(&c.actor, id, &b.fingerprint).await?,
    ))
}

async fn check(c: Caller, Id(id): Id) -> ApiResult<(StatusCode, Json<TaskRow>)> {
    let task = c.services.server_check_enqueue(&c.actor, id, CHECK_ATTEMPTS).await?;
    Ok((StatusCode::ACCEPTED, Json(task)))
}
