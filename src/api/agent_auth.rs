//! Who is calling an agent route: `Authorization: Bearer cdt_<server id>_<secret>`, a token
//! server's agent token, checked by the service on every request (a rotated token is refused
//! at once). A token authorizes exactly its server.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::auth::{bearer, client_info};
use super::problem::Problem;
use super::state::ApiState;
use crate::service::agents::AgentPrincipal;
use crate::service::Services;

/// The authenticated agent of a request, and the services carrying its client (audit rows get
/// its source address).
pub struct AgentCaller {
    /// The token server it speaks for.
    pub principal: AgentPrincipal,
    /// The services, carrying this request's client.
    pub services: Services,
}

impl FromRequestParts<ApiState> for AgentCaller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, Problem> {
        let services = state.services.for_client(client_info(parts));
        let credential = bearer(parts)?.ok_or_else(|| {
            Problem::unauthenticated(
                "an agent route needs the server's token: `Authorization: Bearer cdt_<id>_<secret>`",
            )
        })?;
        let principal = services.authenticate_agent(credential).await?;
        state.limiter.check_key(&format!("agent:{}", principal.server.id))?;
        Ok(AgentCaller { principal, services })
    }
}
