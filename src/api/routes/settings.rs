//! `/api/v1/settings`: the system settings — list, show, set (an admin; the service refuses
//! others) and delete a non-built-in key (an admin). Settings are named by key
//! (`/api/v1/settings/system.timezone`).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};

use crate::api::auth::Caller;
use crate::api::openapi::{Api, Op};
use crate::api::problem::{ApiResult, Body, Problem};
use crate::domain::SettingType;
use crate::service::views::SettingRow;

/// Registers the routes.
pub fn routes(api: &mut Api) {
    api.add(
        Op::get("/api/v1/settings", "listSettings")
            .tag("settings")
            .summary("Every system setting, by key")
            .ok::<Settings>(200, "The settings (not paged)"),
        list,
    );
    api.add(
        Op::get("/api/v1/settings/{key}", "getSetting")
            .tag("settings")
            .summary("One system setting")
            .ok::<SettingRow>(200, "The setting"),
        show,
    );
    api.add(
        Op::put("/api/v1/settings/{key}", "setSetting")
            .tag("settings")
            .summary("Set a system setting's value (an admin's session); a new key needs its `type`")
            .body::<SetBody>()
            .ok::<SettingRow>(200, "The setting with its new value"),
        set,
    );
    api.add(
        Op::delete("/api/v1/settings/{key}", "deleteSetting")
            .tag("settings")
            .summary("Delete a setting an admin added (built-in settings are never deleted)")
            .empty(204, "Deleted"),
        delete,
    );
}

/// A setting's key from the path (1 to 100 characters).
#[derive(Debug, Clone)]
pub struct Key(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Key {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        let axum::extract::Path(raw) = axum::extract::Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e| Problem::bad_request(e.body_text()).with_field("key"))?;
        let key = raw.trim();
        if key.is_empty() || key.len() > 100 {
            return Err(Problem::invalid("key", "a setting key has 1 to 100 characters"));
        }
        Ok(Key(key.to_string()))
    }
}

/// The settings list.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Settings {
    /// The settings, by key.
    pub items: Vec<SettingRow>,
}

async fn list(c: Caller) -> ApiResult<Json<Settings>> {
    Ok(Json(Settings {
        items: c.services.settings_list(&c.actor).await?,
    }))
}

async fn show(c: Caller, Key(key): Key) -> ApiResult<Json<SettingRow>> {
    Ok(Json(c.services.setting_get(&c.actor, &key).await?))
}

/// A new value.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SetBody {
    /// The value as text (`"30"`, `"true"`, `"[\"alice\"]"`), checked against the setting's type
    /// and rules.
    pub value: String,
    /// The type of a key that does not exist yet (creates it); ignored for an existing key.
    #[serde(rename = "type")]
    pub setting_type: Option<SettingType>,
}

async fn set(c: Caller, Key(key): Key, Body(b): Body<SetBody>) -> ApiResult<Json<SettingRow>> {
    Ok(Json(
        c.services.setting_set(&c.actor, &key, &b.value, b.setting_type).await?,
    ))
}

async fn delete(c: Caller, Key(key): Key) -> ApiResult<StatusCode> {
    c.services.setting_delete(&c.actor, &key).await?;
    Ok(StatusCode::NO_CONTENT)
}
