//! Deploying a certificate to its deployments, as `certdeck deploy CERT --server|--group|--all
//! [--plan]`: `POST /api/v1/certificates/{id}/deploy/plan` says which files, servers and
//! commands a deploy would touch (changing nothing); `POST /api/v1/certificates/{id}/deploy`
//! queues the `certificate_deploy` task (follow it at `/api/v1/tasks/{id}`).

use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};

use crate::api::auth::Caller;
use crate::api::openapi::{Api, Op};
use crate::api::problem::{ApiResult, Body, Id, Problem};
use crate::service::deploy::{DeployTarget, PlannedHost};
use crate::service::views::TaskRow;

/// Registers the routes.
pub fn routes(api: &mut Api) {
    api.add(
        Op::post("/api/v1/certificates/{id}/deploy/plan", "planDeploy")
            .tag("deploy")
            .summary("A dry run: the files, servers and commands a deploy would touch (nothing changes)")
            .body::<DeployBody>()
            .ok::<DeployPlan>(200, "The plan, one entry per deployment"),
        plan,
    );
    api.add(
        Op::post("/api/v1/certificates/{id}/deploy", "runDeploy")
            .tag("deploy")
            .summary("Deploy an issued certificate to the chosen deployments: queues one certificate_deploy task")
            .body::<DeployBody>()
            .ok::<TaskRow>(202, "The deploy task"),
        run,
    );
}

/// Where to deploy: exactly one of `server_id`, `group_id` or `all: true`.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeployBody {
    /// The certificate's deployment on this server.
    pub server_id: Option<i64>,
    /// The certificate's deployments on the servers of this group.
    pub group_id: Option<i64>,
    /// Every deployment of the certificate.
    #[serde(default)]
    pub all: bool,
}

impl DeployBody {
    /// The service's target; none or more than one is a problem naming `target`.
    fn target(&self) -> ApiResult<DeployTarget> {
        match (self.server_id, self.group_id, self.all) {
            (Some(s), None, false) => Ok(DeployTarget::Server(s)),
            (None, Some(g), false) => Ok(DeployTarget::Group(g)),
            (None, None, true) => Ok(DeployTarget::All),
            _ => Err(Problem::invalid(
                "target",
                "say where, with exactly one of: `server_id`, `group_id` or `\"all\": true`",
            )),
        }
    }
}

/// What a deploy would do.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct DeployPlan {
    /// The certificate.
    pub certificate_id: i64,
    /// One entry per deployment chosen: its server, the files written (path and mode), the
    /// commands run after the swap, the verification, and what blocks it now if anything.
    /// Empty when the certificate has no deployment there.
    pub hosts: Vec<PlannedHost>,
}

async fn plan(c: Caller, Id(id): Id, Body(b): Body<DeployBody>) -> ApiResult<Json<DeployPlan>> {
    let hosts = c.services.deploy_plan(&c.actor, id, b.target()?).await?;
    Ok(Json(DeployPlan {
        certificate_id: id,
        hosts,
    }))
}

async fn run(c: Caller, Id(id): Id, Body(b): Body<DeployBody>) -> ApiResult<(StatusCode, Json<TaskRow>)> {
    let task = c.services.deploy_enqueue(&c.actor, id, b.target()?).await?;
    Ok((StatusCode::ACCEPTED, Json(task)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deploy_names_exactly_one_target() {
        let b = |s, g, all| DeployBody {
            server_id: s,
            group_id: g,
            all,
        };
        assert_eq!(b(Some(3), None, false).target().unwrap(), DeployTarget::Server(3));
        assert_eq!(b(None, Some(4), false).target().unwrap(), DeployTarget::Group(4));
        assert_eq!(b(None, None, true).target().unwrap(), DeployTarget::All);
        for bad in [b(None, None, false), b(Some(1), Some(2), false), b(Some(1), None, true)] {
            assert_eq!(bad.target().unwrap_err().field.as_deref(), Some("target"));
        }
    }
}
