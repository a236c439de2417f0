//! `/api/v1/users` (an admin's session): list (the CLI's filter terms), show, create, update,
//! delete and unlock. A user may read and edit its own profile; every other user is a 404 to
//! it. Password hashes are never serialised; a generated one-time password is returned once,
//! in the response that creates the user.

use std::collections::BTreeMap;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Deserializer, Serialize};

use crate::api::auth::Caller;
use crate::api::cursor::{paged, Paged};
use crate::api::list::ListQuery;
use crate::api::openapi::{Api, Op};
use crate::api::problem::{ApiResult, Body, Id, Params};
use crate::domain::{UserRole, UserStatus};
use crate::service::query::{ListFilter, UserFilter};
use crate::service::users::{UserEdit, UserInput};
use crate::service::views::UserRow;

const LIST: &str = "users";

/// Registers the routes.
pub fn routes(api: &mut Api) {
    api.add(
        Op::get("/api/v1/users", "listUsers")
            .tag("users")
            .summary("List users (an admin's session), newest first")
            .query::<crate::api::list::ListParams>()
            .filter(UserFilter::KEYS)
            .ok::<Paged<UserRow>>(200, "A page of users"),
        list,
    );
    api.add(
        Op::get("/api/v1/users/{id}", "getUser")
            .tag("users")
            .summary("One user (an admin: anyone; a user: itself)")
            .ok::<UserRow>(200, "The user"),
        show,
    );
    api.add(
        Op::post("/api/v1/users", "createUser")
            .tag("users")
            .summary("Create a user (an admin's session)")
            .describe(
                "Without `password` a one-time password is generated and returned once, in this response \
                 (`one_time_password`); with one, it is one-time too: the user replaces it at the first login. \
                 `api` users have no password (they use API keys). The user starts with the default alert rules.",
            )
            .body::<UserInput>()
            .ok::<CreatedUser>(201, "The new user"),
        create,
    );
    api.add(
        Op::patch("/api/v1/users/{id}", "updateUser")
            .tag("users")
            .summary("Change a user's profile; role and status by an admin (never leaving no active admin)")
            .body::<UserPatch>()
            .ok::<UserRow>(200, "The changed user"),
        update,
    );
    api.add(
        Op::delete("/api/v1/users/{id}", "deleteUser")
            .tag("users")
            .summary("Delete a user (an admin; not oneself, not the last admin, not while it owns rows)")
            .empty(204, "Deleted"),
        delete,
    );
    api.add(
        Op::post("/api/v1/users/{id}/unlock", "unlockUser")
            .tag("users")
            .summary("Unlock a user locked by failed logins (an admin)")
            .ok::<UserRow>(200, "The user, active again"),
        unlock,
    );
}

async fn list(c: Caller, Params(raw): Params<BTreeMap<String, String>>) -> ApiResult<Json<Paged<UserRow>>> {
    let q = ListQuery::parse(LIST, raw, &[])?;
    let f: UserFilter = q.filter()?;
    let rows = c.services.user_list(&c.actor, &f, q.page).await?;
    Ok(Json(paged(LIST, &q.page, rows, |r| r.id)))
}

async fn show(c: Caller, Id(id): Id) -> ApiResult<Json<UserRow>> {
    Ok(Json(c.services.user_get(&c.actor, &id.to_string()).await?))
}

/// A created user.
#[derive(Serialize, schemars::JsonSchema)]
pub struct CreatedUser {
    /// The user.
    pub user: UserRow,
    /// The generated one-time password, when none was given (shown this once; never stored in
    /// clear).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub one_time_password: Option<String>,
}

async fn create(c: Caller, Body(input): Body<UserInput>) -> ApiResult<Response> {
    let (user, one_time_password) = c.services.user_create(Some(&c.actor), &input).await?;
    let mut res = (
        StatusCode::CREATED,
        Json(CreatedUser {
            user,
            one_time_password,
        }),
    )
        .into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}

/// What an update may change; absent members are left as they are, `null` clears
/// `full_name` and `phone`. Passwords do not change here.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    /// E-mail.
    pub email: Option<String>,
    /// Full name (`null` clears it).
    #[serde(default, deserialize_with = "present")]
    pub full_name: Option<Option<String>>,
    /// Phone (`null` clears it).
    #[serde(default, deserialize_with = "present")]
    pub phone: Option<Option<String>>,
    /// Role (an admin).
    pub role: Option<UserRole>,
    /// Status (an admin; `active` also clears the failed-login count).
    pub status: Option<UserStatus>,
}

/// A member that is present: `Some(None)` for `null`, `Some(Some(v))` for a value (absent
/// members are `None` through `#[serde(default)]`).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

async fn update(c: Caller, Id(id): Id, Body(b): Body<UserPatch>) -> ApiResult<Json<UserRow>> {
    let edit = UserEdit {
        email: b.email,
        full_name: b.full_name,
        phone: b.phone,
        role: b.role,
        status: b.status,
    };
    Ok(Json(c.services.user_update(&c.actor, &id.to_string(), &edit).await?))
}

async fn delete(c: Caller, Id(id): Id) -> ApiResult<StatusCode> {
    c.services.user_delete(&c.actor, &id.to_string()).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn unlock(c: Caller, Id(id): Id) -> ApiResult<Json<UserRow>> {
    let user = c.services.user_get(&c.actor, &id.to_string()).await?;
    Ok(Json(c.services.user_unlock(Some(&c.actor), &user.username).await?))
}
