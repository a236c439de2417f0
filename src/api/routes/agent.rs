//! `/api/v1/agent/…`: what a token server's pull agent calls (`certdeck agent run`), with the
//! server's token as its bearer credential — check in (host facts in, the server entry and its
//! waiting work out), report its discovery, fetch the certificate and key of one of its own
//! deployments, report an install, long-poll for http-01 challenge files and report them.
//! A token authorizes exactly its server: another server's deployment is a 404.
//!
//! And for users: `POST /api/v1/servers/{id}/token` shows a token server's token once, or
//! rotates it.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};

use crate::api::agent_auth::AgentCaller;
use crate::api::auth::Caller;
use crate::api::openapi::{Api, Op};
use crate::api::problem::{ApiResult, Body, Id, Params, Problem};
use crate::api::state::ApiState;
use crate::domain::agent_wire::{
    AgentChallenge, AgentMaterial, AgentWork, ChallengeReport, Checkin, DeployReport, MAX_CHALLENGE_WAIT_SECS,
};
use crate::engine::discover::{Discovery, HostFacts};
use crate::service::views::AgentRow;

/// Registers the routes.
pub fn routes(api: &mut Api) {
    api.add(
        Op::post("/api/v1/agent/checkin", "agentCheckin")
            .tag("agent")
            .summary(
                "An agent checks in (its server's token): host facts in; the server entry and its waiting work out",
            )
            .body::<Checkin>()
            .ok::<AgentWork>(
                200,
                "The server entry, the deployments to install and the challenge files",
            ),
        checkin,
    );
    api.add(
        Op::post("/api/v1/agent/discovery", "agentDiscovery")
            .tag("agent")
            .summary("What the agent's discovery found on its host: checked against the discovery bounds, stored like an SSH check")
            .body::<DiscoveryReport>()
            .body_limit(DISCOVERY_BODY_MAX)
            .empty(204, "Stored"),
        discovery,
    );
    api.add(
        Op::get("/api/v1/agent/deployments/{id}/material", "agentDeploymentMaterial")
            .tag("agent")
            .summary("The certificate and private key of one deployment of the agent's own server (audited)")
            .ok::<AgentMaterial>(200, "The full chain and the key, PEM (not cached)"),
        material,
    );
    api.add(
        Op::post("/api/v1/agent/deployments/{id}/report", "agentDeploymentReport")
            .tag("agent")
            .summary("How an install ended: the deployment turns deployed or failed")
            .body::<DeployReport>()
            .empty(204, "Recorded"),
        report,
    );
    api.add(
        Op::get("/api/v1/agent/challenges", "agentChallenges")
            .tag("agent")
            .summary("http-01 challenge files to place or remove; waits up to `wait` seconds for one (long poll)")
            .query::<WaitQuery>()
            .ok::<Vec<AgentChallenge>>(200, "The waiting challenge files (empty when none came in time)"),
        challenges,
    );
    api.add(
        Op::post("/api/v1/agent/challenges/{id}/report", "agentChallengeReport")
            .tag("agent")
            .summary("A challenge file was placed (or removed), or could not be")
            .body::<ChallengeReport>()
            .empty(204, "Recorded"),
        challenge_report,
    );
    api.add(
        Op::get("/api/v1/servers/{id}/agent", "getServerAgent")
            .tag("servers")
            .summary(
                "A token server's agent: last check-in, its address, version and interval (null for an SSH server)",
            )
            .ok::<Option<AgentRow>>(200, "The agent, or null"),
        agent,
    );
    api.add(
        Op::post("/api/v1/servers/{id}/token", "serverToken")
            .tag("servers")
            .summary("Show a token server's agent token once, or rotate it (the old one is refused at once)")
            .body::<TokenBody>()
            .ok::<ShownToken>(200, "The token (shown this once)"),
        token,
    );
}

async fn checkin(a: AgentCaller, Body(c): Body<Checkin>) -> ApiResult<Json<AgentWork>> {
    Ok(Json(a.services.agent_checkin(&a.principal, &c).await?))
}

/// The largest discovery report: the discovery's own byte bound, with room for the JSON.
const DISCOVERY_BODY_MAX: usize = 40 * 1024 * 1024;

/// A discovery report: the host's facts and what its web server's config holds.
#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DiscoveryReport {
    /// OS, web server and version.
    pub facts: HostFacts,
    /// Config files and sites.
    pub discovery: Discovery,
}

async fn discovery(a: AgentCaller, Body(r): Body<DiscoveryReport>) -> ApiResult<StatusCode> {
    a.services.agent_discovery(&a.principal, &r.facts, &r.discovery).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn material(a: AgentCaller, Id(id): Id) -> ApiResult<Response> {
    let m = a.services.agent_material(&a.principal, id).await?;
    let mut res = Json(m).into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}

async fn report(a: AgentCaller, Id(id): Id, Body(r): Body<DeployReport>) -> ApiResult<StatusCode> {
    a.services.agent_report(&a.principal, id, &r).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The long poll's wait.
#[derive(Deserialize, schemars::JsonSchema)]
pub struct WaitQuery {
    /// Seconds to wait for a challenge file to come (0 to 30; capped below the request timeout).
    pub wait: Option<u64>,
}

async fn challenges(
    State(st): State<ApiState>,
    a: AgentCaller,
    Params(raw): Params<BTreeMap<String, String>>,
) -> ApiResult<Json<Vec<AgentChallenge>>> {
    let wait = match raw.get("wait") {
        None => 0,
        Some(w) => w
            .parse::<u64>()
            .map_err(|_| Problem::invalid("wait", format!("invalid wait: '{w}' is not a number of seconds")))?,
    };
    if let Some(k) = raw.keys().find(|k| *k != "wait") {
        return Err(Problem::invalid(k.clone(), format!("unknown query parameter '{k}'")));
    }
    let cap = st
        .config
        .request_timeout
        .saturating_sub(Duration::from_secs(2))
        .min(Duration::from_secs(MAX_CHALLENGE_WAIT_SECS));
    let wait = Duration::from_secs(wait).min(cap);
    Ok(Json(a.services.agent_challenges(&a.principal, wait).await?))
}

async fn challenge_report(a: AgentCaller, Id(id): Id, Body(r): Body<ChallengeReport>) -> ApiResult<StatusCode> {
    a.services.agent_challenge_report(&a.principal, id, &r).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn agent(c: Caller, Id(id): Id) -> ApiResult<Json<Option<AgentRow>>> {
    Ok(Json(c.services.server_agent(&c.actor, id).await?))
}

/// Show the token, or rotate it.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenBody {
    /// Make a new token (the old one is refused from now on); without it the current token is
    /// shown if it has not been shown before.
    #[serde(default)]
    pub rotate: bool,
}

/// A token server's agent token.
#[derive(Serialize, schemars::JsonSchema)]
pub struct ShownToken {
    /// The server.
    pub server_id: i64,
    /// `cdt_<server id>_<secret>`: give it to `certdeck agent enroll --token-stdin`.
    pub token: String,
    /// A new token was made.
    pub rotated: bool,
}

async fn token(c: Caller, Id(id): Id, Body(b): Body<TokenBody>) -> ApiResult<Response> {
    let t = c.services.server_token(&c.actor, id, b.rotate).await?;
    let mut res = Json(ShownToken {
        server_id: t.server_id,
        token: t.token.to_string(),
        rotated: t.rotated,
    })
    .into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}
