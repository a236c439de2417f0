//! `/api/v1/deployments`: bindings of a certificate to a path on a server — list (by
//! certificate and/or server), show, create, delete. Deploying them is `deploy`'s
//! (`/api/v1/certificates/{id}/deploy`).

use std::collections::BTreeMap;

use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;

use crate::api::auth::Caller;
use crate::api::cursor::{paged, Paged};
use crate::api::list::ListQuery;
use crate::api::openapi::{Api, Op};
use crate::api::problem::{ApiResult, Body, Id, Params};
use crate::service::certificates::DeploymentInput;
use crate::service::views::DeploymentRow;

const LIST: &str = "deployments";

/// The terms of the deployment list (also accepted in `q`).
const TERMS: &[&str] = &["certificate_id", "server_id"];

/// Registers the routes.
pub fn routes(api: &mut Api) {
    api.add(
        Op::get("/api/v1/deployments", "listDeployments")
            .tag("deployments")
            .summary("List the deployments of a certificate and/or a server, newest first")
            .describe("Give `certificate_id`, `server_id` or both; each must be yours (an admin's: any).")
            .query::<crate::api::list::ListParams>()
            .query::<DeploymentListParams>()
            .ok::<Paged<DeploymentRow>>(200, "A page of deployments"),
        list,
    );
    api.add(
        Op::get("/api/v1/deployments/{id}", "getDeployment")
            .tag("deployments")
            .summary("One deployment")
            .ok::<DeploymentRow>(200, "The deployment"),
        show,
    );
    api.add(
        Op::post("/api/v1/deployments", "createDeployment")
            .tag("deployments")
            .summary("Bind a certificate to a path on a server (both of the same owner)")
            .body::<DeploymentBody>()
            .ok::<DeploymentRow>(201, "The new deployment"),
        create,
    );
    api.add(
        Op::delete("/api/v1/deployments/{id}", "deleteDeployment")
            .tag("deployments")
            .summary("Remove a deployment binding (the files on the server stay)")
            .empty(204, "Deleted"),
        delete,
    );
}

/// What the deployment list is of.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct DeploymentListParams {
    /// The deployments of this certificate.
    pub certificate_id: Option<i64>,
    /// The deployments to this server.
    pub server_id: Option<i64>,
}

async fn list(c: Caller, Params(raw): Params<BTreeMap<String, String>>) -> ApiResult<Json<Paged<DeploymentRow>>> {
    let q = ListQuery::parse(LIST, raw, &[])?;
    q.terms.check_keys(TERMS)?;
    let (cert, server) = (q.terms.get::<i64>("certificate_id")?, q.terms.get::<i64>("server_id")?);
    let rows = c.services.deployment_page(&c.actor, cert, server, q.page).await?;
    Ok(Json(paged(LIST, &q.page, rows, |r| r.id)))
}

async fn show(c: Caller, Id(id): Id) -> ApiResult<Json<DeploymentRow>> {
    Ok(Json(c.services.deployment_get(&c.actor, id).await?))
}

fn yes() -> bool {
    true
}

/// A new deployment binding.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeploymentBody {
    /// Certificate id.
    pub certificate_id: i64,
    /// Server id.
    pub server_id: i64,
    /// Absolute path of the fullchain file on the server.
    pub deploy_path: String,
    /// The web server config that uses it.
    pub config_path: Option<String>,
    /// Absolute path of the key file (default: the certificate path with its extension replaced by `.key`).
    pub key_path: Option<String>,
    /// Host to verify the deploy against (default: the server's hostname).
    pub verify_host: Option<String>,
    /// SNI name of the verification (default: the certificate's main domain).
    pub verify_sni: Option<String>,
    /// TLS port of the verification (default: the server's verify port, else 443).
    pub verify_port: Option<i64>,
    /// Deploy again after each renewal (default true).
    #[serde(default = "yes")]
    pub auto_deploy: bool,
    /// Replace the deployments on the same machine that write this certificate or key file
    /// (without it, such a deployment is refused with 409).
    #[serde(default)]
    pub replace: bool,
}

async fn create(c: Caller, Body(b): Body<DeploymentBody>) -> ApiResult<(StatusCode, Json<DeploymentRow>)> {
    let input = DeploymentInput {
        deploy_path: b.deploy_path,
        config_path: b.config_path,
        key_path: b.key_path,
        verify_host: b.verify_host,
        verify_sni: b.verify_sni,
        verify_port: b.verify_port,
        auto_deploy: b.auto_deploy,
        replace: b.replace,
    };
    let d = c
        .services
        .deployment_create_with(&c.actor, b.certificate_id, b.server_id, &input)
        .await?;
    Ok((StatusCode::CREATED, Json(d)))
}

async fn delete(c: Caller, Id(id): Id) -> ApiResult<StatusCode> {
    c.services.deployment_delete(&c.actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
