//! Who is calling: the `Authorization: Bearer` credential of a request, checked by the service
//! on every request (so a revoked key or token is refused at once).
//!
//! - `Bearer <api_key>:<secret>`: an API key (the secret verified against its argon2 hash); the
//!   key's user with the `api` role's limits, read-only if the key is.
//! - `Bearer <access token>`: a session from `POST /api/v1/login` or `certdeck login`.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header;
use axum::http::request::Parts;

use super::problem::Problem;
use super::ApiState;
use crate::service::{Actor, ClientInfo, Services};

/// The authenticated caller of a request, and the services acting for it (audit rows get the
/// client's address and user agent).
#[derive(Clone)]
pub struct Caller {
    /// Who.
    pub actor: Actor,
    /// The services, carrying this request's client.
    pub services: Services,
    /// The session's access token, when the credential is one (logout revokes it).
    pub access_token: Option<String>,
}

/// The client of a request: the peer address and the `User-Agent` header (at most 255 bytes,
/// the column's size).
pub fn client_info(parts: &Parts) -> ClientInfo {
    let ip = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(a)| a.ip().to_canonical().to_string());
    let user_agent = parts
        .headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|ua| {
            let mut end = ua.len().min(255);
            while !ua.is_char_boundary(end) {
                end -= 1;
            }
            ua[..end].to_string()
        });
    ClientInfo { ip, user_agent }
}

/// The bearer credential of a request, if any.
pub fn bearer(parts: &Parts) -> Result<Option<&str>, Problem> {
    let Some(v) = parts.headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let v = v
        .to_str()
        .map_err(|_| Problem::unauthenticated("the Authorization header is not readable text"))?;
    match v.split_once(' ') {
        Some((scheme, cred)) if scheme.eq_ignore_ascii_case("bearer") && !cred.trim().is_empty() => {
            Ok(Some(cred.trim()))
        }
        _ => Err(Problem::unauthenticated(
            "use `Authorization: Bearer <api_key>:<secret>` or `Bearer <access token>`",
        )),
    }
}

/// Authenticates `credential` with `services`: an API key when it holds a `:`, else an access token.
pub async fn authenticate(services: &Services, credential: &str) -> Result<Actor, Problem> {
    let actor = if credential.contains(':') {
        services.authenticate_api_key(credential).await?
    } else {
        services.authenticate(credential).await?
    };
    Ok(actor)
}

impl FromRequestParts<ApiState> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, Problem> {
        let services = state.services.for_client(client_info(parts));
        let credential = bearer(parts)?.ok_or_else(|| {
            Problem::unauthenticated(
                "this route needs a credential: `Authorization: Bearer <api_key>:<secret>` or a session's access token (POST /api/v1/login)",
            )
        })?;
        let actor = authenticate(&services, credential).await?;
        state
            .limiter
            .check_key(&format!("user:{}:{}", actor.user_id, credential_id(credential)))?;
        let access_token = (!credential.contains(':')).then(|| credential.to_string());
        Ok(Caller {
            actor,
            services,
            access_token,
        })
    }
}

/// The part of a credential that names it without its secret (an API key's public half, or a
/// short hash of a token), for rate-limit buckets.
fn credential_id(credential: &str) -> String {
    match credential.split_once(':') {
        Some((key, _)) => key.to_string(),
        None => crate::crypto::token::token_hash(credential).chars().take(16).collect(),
    }
}
