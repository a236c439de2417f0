//! `/api/v1/api-keys`: list (own; all for an admin), create (the secret is in the create
//! response and nowhere else, ever), disable, enable and revoke (final: the key is refused at
//! once). Keys are managed from a user session; an API key cannot manage keys.

use std::collections::BTreeMap;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};

use crate::api::auth::Caller;
use crate::api::cursor::{paged, Paged};
use crate::api::list::ListQuery;
use crate::api::openapi::{Api, Op};
use crate::api::problem::{ApiResult, Body, Id, Params};
use crate::domain::{ApiKeyPermissions, ApiKeyStatus};
use crate::service::views::ApiKeyRow;

const LIST: &str = "api-keys";

/// Registers the routes.
pub fn routes(api: &mut Api) {
    api.add(
        Op::get("/api/v1/api-keys", "listApiKeys")
            .tag("api-keys")
            .summary("List API keys (own; all for an admin), newest first; secrets are never listed")
            .query::<PageParams>()
            .ok::<Paged<ApiKeyRow>>(200, "A page of API keys"),
        list,
    );
    api.add(
        Op::post("/api/v1/api-keys", "createApiKey")
            .tag("api-keys")
            .summary("Create an API key (a user session); the secret is returned once, in this response")
            .describe(
                "Authenticate with `Authorization: Bearer <api_key>:<secret>` (the `credential` member). \
                 The secret is stored only as a hash: it cannot be shown again. An admin may create a key \
                 for another user (`user`: a username or id).",
            )
            .body::<CreateBody>()
            .ok::<CreatedKey>(201, "The new key and its secret"),
        create,
    );
    api.add(
        Op::post("/api/v1/api-keys/{id}/disable", "disableApiKey")
            .tag("api-keys")
            .summary("Disable a key (refused until enabled again)")
            .ok::<ApiKeyRow>(200, "The key"),
        disable,
    );
    api.add(
        Op::post("/api/v1/api-keys/{id}/enable", "enableApiKey")
            .tag("api-keys")
            .summary("Enable a disabled key (a revoked key stays revoked)")
            .ok::<ApiKeyRow>(200, "The key"),
        enable,
    );
    api.add(
        Op::post("/api/v1/api-keys/{id}/revoke", "revokeApiKey")
            .tag("api-keys")
            .summary("Revoke a key: refused from the next request on, for good")
            .ok::<ApiKeyRow>(200, "The key"),
        revoke,
    );
}

/// Paging of the key list (it takes no filter terms).
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct PageParams {
    /// Rows per page, 1 to 500 (default 50).
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

async fn list(c: Caller, Params(raw): Params<BTreeMap<String, String>>) -> ApiResult<Json<Paged<ApiKeyRow>>> {
    let q = ListQuery::parse(LIST, raw, &[])?;
    q.terms.check_keys(&[])?;
    let rows = c.services.apikey_list(&c.actor, q.page).await?;
    Ok(Json(paged(LIST, &q.page, rows, |r| r.id)))
}

/// A new key.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    /// Name (1–50 characters).
    pub name: String,
    /// Days until it expires (1–3650); none: it does not expire.
    pub expires_in_days: Option<i64>,
    /// `read` (it may only read: list, show, export public material) or `read-write` (default:
    /// everything its user may).
    pub permissions: Option<ApiKeyPermissions>,
    /// The owner, for an admin creating a key for another user (username or id); default: the
    /// caller.
    pub user: Option<String>,
}

/// A created key: the only response that ever holds its secret.
#[derive(Serialize, schemars::JsonSchema)]
pub struct CreatedKey {
    /// The key.
    pub key: ApiKeyRow,
    /// The secret (shown once).
    pub secret: String,
    /// `<api_key>:<secret>`, what `Authorization: Bearer` takes.
    pub credential: String,
}

async fn create(c: Caller, Body(b): Body<CreateBody>) -> ApiResult<Response> {
    let (key, secret) = c
        .services
        .apikey_create(
            &c.actor,
            &b.name,
            b.expires_in_days,
            b.permissions.unwrap_or(ApiKeyPermissions::ReadWrite),
            b.user.as_deref(),
        )
        .await?;
    let credential = format!("{}:{secret}", key.api_key);
    let mut res = (
        StatusCode::CREATED,
        Json(CreatedKey {
            key,
            secret,
            credential,
        }),
    )
        .into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}

async fn set_status(c: Caller, id: i64, status: ApiKeyStatus) -> ApiResult<Json<ApiKeyRow>> {
    Ok(Json(
        c.services.apikey_set_status(&c.actor, &id.to_string(), status).await?,
    ))
}

async fn disable(c: Caller, Id(id): Id) -> ApiResult<Json<ApiKeyRow>> {
    set_status(c, id, ApiKeyStatus::Inactive).await
}

async fn enable(c: Caller, Id(id): Id) -> ApiResult<Json<ApiKeyRow>> {
    set_status(c, id, ApiKeyStatus::Active).await
}

async fn revoke(c: Caller, Id(id): Id) -> ApiResult<Json<ApiKeyRow>> {
    set_status(c, id, ApiKeyStatus::Revoked).await
}
