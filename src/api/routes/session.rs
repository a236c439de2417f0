//! Sessions over HTTP: `POST /api/v1/login` (the same login as `certdeck login`: lockout,
//! one-time passwords), `POST /api/v1/refresh`, `POST /api/v1/logout`, `GET /api/v1/whoami`.

use axum::extract::State;
use axum::http::request::Parts;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::api::auth::client_info;
use crate::api::openapi::{Api, Op};
use crate::api::problem::{ApiResult, Body};
use crate::api::{ApiState, Caller};
use crate::domain::UserRole;
use crate::service::auth::Session;
use crate::service::Actor;

/// Registers the routes.
pub fn routes(api: &mut Api) {
    api.add(
        Op::post("/api/v1/login", "login")
            .tag("session")
            .summary("Log in with a password; returns access and refresh tokens")
            .describe("Five failed logins in a row lock the account (setting `auth.max_failed_logins`). An account with a one-time password must send `new_password` too.")
            .public()
            .body::<LoginRequest>()
            .ok::<SessionTokens>(200, "The session"),
        login,
    );
    api.add(
        Op::post("/api/v1/refresh", "refresh")
            .tag("session")
            .summary("Exchange a refresh token for a new session (the old one is revoked)")
            .public()
            .body::<RefreshRequest>()
            .ok::<SessionTokens>(200, "The new session"),
        refresh,
    );
    api.add(
        Op::post("/api/v1/logout", "logout")
            .tag("session")
            .summary("Revoke a session: the refresh token given and the access token used (or given)")
            .body::<RefreshRequest>()
            .empty(204, "Revoked"),
        logout,
    );
    api.add(
        Op::get("/api/v1/whoami", "whoami")
            .tag("session")
            .summary("The caller")
            .ok::<Whoami>(200, "Who the credential belongs to"),
        whoami,
    );
}

/// A login.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// Username.
    pub username: String,
    /// Password.
    pub password: String,
    /// A new password, required when the current one is a one-time password.
    #[serde(default)]
    pub new_password: Option<String>,
}

/// A refresh or a logout.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// The session's refresh token.
    pub refresh_token: String,
    /// The session's access token (revoked too when given).
    #[serde(default)]
    pub access_token: Option<String>,
}

/// A session's tokens.
#[derive(Serialize, schemars::JsonSchema)]
pub struct SessionTokens {
    /// User id.
    pub user_id: i64,
    /// Username.
    pub username: String,
    /// Send as `Authorization: Bearer <access_token>`.
    pub access_token: String,
    /// When the access token expires.
    pub access_expires_at: DateTime<Utc>,
    /// Exchange at `/api/v1/refresh` for a new session.
    pub refresh_token: String,
    /// When the refresh token expires.
    pub refresh_expires_at: DateTime<Utc>,
}

impl From<Session> for SessionTokens {
    fn from(s: Session) -> Self {
        SessionTokens {
            user_id: s.user_id,
            username: s.username,
            access_token: s.access_token,
            access_expires_at: s.access_expires_at,
            refresh_token: s.refresh_token,
            refresh_expires_at: s.refresh_expires_at,
        }
    }
}

/// The caller.
#[derive(Serialize, schemars::JsonSchema)]
pub struct Whoami {
    /// User id.
    pub user_id: i64,
    /// Username.
    pub username: String,
    /// The effective role (`api` for an API key).
    pub role: UserRole,
}

async fn login(
    State(st): State<ApiState>,
    parts: Parts,
    Body(req): Body<LoginRequest>,
) -> ApiResult<Json<SessionTokens>> {
    let s = st.services.for_client(client_info(&parts));
    let (_, session) = match &req.new_password {
        Some(new) => s.login_with_new_password(&req.username, &req.password, new).await?,
        None => s.login(&req.username, &req.password).await?,
    };
    Ok(Json(session.into()))
}

fn session_of(req: &RefreshRequest, actor: Option<&Actor>) -> Session {
    Session {
        user_id: actor.map_or(0, |a| a.user_id),
        username: actor.map(|a| a.username.clone()).unwrap_or_default(),
        access_token: req.access_token.as_deref().map(|t| t.to_string()).unwrap_or_default(),
        access_expires_at: Utc::now(),
        refresh_token: req.refresh_token.to_string(),
        refresh_expires_at: Utc::now(),
    }
}

async fn refresh(
    State(st): State<ApiState>,
    parts: Parts,
    Body(req): Body<RefreshRequest>,
) -> ApiResult<Json<SessionTokens>> {
    let s = st.services.for_client(client_info(&parts));
    let (_, session) = s.refresh_session(&session_of(&req, None)).await?;
    Ok(Json(session.into()))
}

async fn logout(c: Caller, Body(mut req): Body<RefreshRequest>) -> ApiResult<axum::http::StatusCode> {
    if req.access_token.is_none() {
        req.access_token = c.access_token.clone();
    }
    c.services.logout(&session_of(&req, Some(&c.actor))).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

async fn whoami(c: Caller) -> Json<Whoami> {
    let Actor {
        user_id,
        username,
        role,
        ..
    } = c.actor;
    Json(Whoami {
        user_id,
        username,
        role,
    })
}
