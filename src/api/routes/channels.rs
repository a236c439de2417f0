//! `/api/v1/channels`: notification channels — list, show, create, update, delete, and test
//! (send a test message now). Secret fields (passwords, tokens, webhook URLs and secrets,
//! header values) are accepted and sealed at rest but never returned: a channel shows only
//! their names in `secret_fields`, as the CLI and the console do without `--reveal`.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;

use crate::api::auth::Caller;
use crate::api::cursor::{paged, Paged};
use crate::api::list::ListQuery;
use crate::api::openapi::{Api, Op};
use crate::api::problem::{ApiResult, Body, Id, Params};
use crate::domain::ChannelType;
use crate::service::monitoring::ChannelView;

const LIST: &str = "channels";

/// Registers the routes.
pub fn routes(api: &mut Api) {
    api.add(
        Op::get("/api/v1/channels", "listChannels")
            .tag("channels")
            .summary("List notification channels (own; all for an admin), newest first; secrets only by name")
            .query::<crate::api::list::ListParams>()
            .ok::<Paged<ChannelView>>(200, "A page of channels"),
        list,
    );
    api.add(
        Op::get("/api/v1/channels/{id}", "getChannel")
            .tag("channels")
            .summary("One channel: its settings, and its secret fields by name only")
            .ok::<ChannelView>(200, "The channel"),
        show,
    );
    api.add(
        Op::post("/api/v1/channels", "createChannel")
            .tag("channels")
            .summary("Create a channel; secret fields of `config` are sealed and never returned")
            .describe(CONFIG_DOC)
            .body::<ChannelCreate>()
            .ok::<ChannelView>(201, "The new channel"),
        create,
    );
    api.add(
        Op::patch("/api/v1/channels/{id}", "updateChannel")
            .tag("channels")
            .summary("Change a channel's name, config or enabled flag")
            .describe("`config` replaces the plain settings; a secret field left out keeps its stored value, one set to `null` is removed.")
            .body::<ChannelUpdate>()
            .ok::<ChannelView>(200, "The changed channel"),
        update,
    );
    api.add(
        Op::delete("/api/v1/channels/{id}", "deleteChannel")
            .tag("channels")
            .summary("Delete a channel and its bindings")
            .empty(204, "Deleted"),
        delete,
    );
    api.add(
        Op::post("/api/v1/channels/{id}/test", "testChannel")
            .tag("channels")
            .summary("Send a test notification through the channel now (a user session); a refusal by the far side is a 502 problem")
            .ok::<TestResult>(200, "What the far side answered"),
        test,
    );
}

const CONFIG_DOC: &str = "Settings per type — email: `smtp_host`, `smtp_port`, `security` (starttls|tls|plain), `username`, \
`password` (secret), `from`, `to`, `cc`; webhook: `url` (secret), `flavor` (generic|dingtalk|feishu), `secret` (secret), \
`headers` (secret), `allow_http`; wechat: `webhook_url` (secret), `flavor` (wecom|serverchan); slack: `webhook_url` \
(secret); sms: `gateway_url` (secret), `method`, `body_template`, `content_type`, `auth_header`, `api_key` (secret), \
`phones`, or `flavor: aliyun` with `access_key_id`, `access_key_secret` (secret), `sign_name`, `template_code`.";

/// A new channel.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelCreate {
    /// Name.
    pub name: String,
    /// email, sms, webhook, wechat or slack.
    pub channel_type: ChannelType,
    /// The settings, secrets included (a JSON object; see the operation's description).
    pub config: serde_json::Value,
}

/// A change to a channel; members left out are kept.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelUpdate {
    /// Name.
    pub name: Option<String>,
    /// New settings (a JSON object): replace the plain ones; a secret left out is kept, `null` removes it.
    pub config: Option<serde_json::Value>,
    /// Enabled.
    pub is_active: Option<bool>,
}

/// The outcome of a test notification.
#[derive(serde::Serialize, schemars::JsonSchema)]
pub struct TestResult {
    /// What happened, e.g. `sent through ops hook (HTTP 200)`.
    pub message: String,
}

async fn list(c: Caller, Params(raw): Params<BTreeMap<String, String>>) -> ApiResult<Json<Paged<ChannelView>>> {
    let q = ListQuery::parse(LIST, raw, &[])?;
    q.terms.check_keys(&[])?;
    let rows = c.services.channel_list(&c.actor, q.page).await?;
    Ok(Json(paged(LIST, &q.page, rows, |r| r.id)))
}

async fn show(c: Caller, Id(id): Id) -> ApiResult<Json<ChannelView>> {
    Ok(Json(c.services.channel_get(&c.actor, id, false).await?))
}

async fn create(c: Caller, Body(b): Body<ChannelCreate>) -> ApiResult<(StatusCode, Json<ChannelView>)> {
    let view = c
        .services
        .channel_create(&c.actor, &b.name, b.channel_type, &b.config)
        .await?;
    Ok((StatusCode::CREATED, Json(view)))
}

async fn update(c: Caller, Id(id): Id, Body(b): Body<ChannelUpdate>) -> ApiResult<Json<ChannelView>> {
    let view = c
        .services
        .channel_update(&c.actor, id, b.name.as_deref(), b.config.as_ref(), b.is_active)
        .await?;
    Ok(Json(view))
}

async fn delete(c: Caller, Id(id): Id) -> ApiResult<StatusCode> {
    c.services.channel_delete(&c.actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn test(c: Caller, Id(id): Id) -> ApiResult<Json<TestResult>> {
    let message = c.services.channel_test(&c.actor, id).await?;
    Ok(Json(TestResult { message }))
}
