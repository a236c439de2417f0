//! `/api/v1/certificates`: list (the CLI's filter grammar), show, import, request, renew,
//! revoke, delete, and export (JSON or a PEM bundle).

use std::collections::BTreeMap;

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

use crate::api::auth::Caller;
use crate::api::cursor::{paged, paged_by_time, Paged};
use crate::api::list::ListQuery;
use crate::api::openapi::{Api, Op};
use crate::api::problem::{ApiResult, Body, Id, Params, Problem};
use crate::service::acme::RequestInput;
use crate::service::certificates::{Export, ImportInput};
use crate::service::query::{CertFilter, CertOrder, ListFilter};
use crate::service::views::{CertificateRow, TaskRow};

const LIST: &str = "certificates";

/// Registers the routes.
pub fn routes(api: &mut Api) {
    api.add(
        Op::get("/api/v1/certificates", "listCertificates")
            .tag("certificates")
            .summary("List certificates (own; all for an admin), newest first or by expiry")
            .query::<crate::api::list::ListParams>()
            .query::<CertListParams>()
            .filter(CertFilter::KEYS)
            .ok::<Paged<CertificateRow>>(200, "A page of certificates"),
        list,
    );
    api.add(
        Op::get("/api/v1/certificates/{id}", "getCertificate")
            .tag("certificates")
            .summary("One certificate (no PEM, no key)")
            .ok::<CertificateRow>(200, "The certificate"),
        show,
    );
    api.add(
        Op::post("/api/v1/certificates", "importCertificate")
            .tag("certificates")
            .summary("Import a certificate and its private key (PEM); the key is sealed at rest")
            .body::<ImportBody>()
            .ok::<CertificateRow>(201, "The imported certificate"),
        import,
    );
    api.add(
        Op::post("/api/v1/certificates/request", "requestCertificate")
            .tag("certificates")
            .summary("Request a certificate from an ACME CA: queues the order as a task")
            .body::<RequestInput>()
            .ok::<Requested>(202, "The new certificate row and the task that obtains it"),
        request,
    );
    api.add(
        Op::post("/api/v1/certificates/{id}/renew", "renewCertificate")
            .tag("certificates")
            .summary("Renew now: queues a renewal task")
            .ok::<TaskRow>(202, "The renewal task"),
        renew,
    );
    api.add(
        Op::post("/api/v1/certificates/{id}/revoke", "revokeCertificate")
            .tag("certificates")
            .summary("Revoke at the CA (a user session; API keys may not revoke)")
            .body::<RevokeBody>()
            .ok::<CertificateRow>(200, "The revoked certificate"),
        revoke,
    );
    api.add(
        Op::delete("/api/v1/certificates/{id}", "deleteCertificate")
            .tag("certificates")
            .summary("Delete a certificate (refused while it is deployed)")
            .empty(204, "Deleted"),
        delete,
    );
    api.add(
        Op::get("/api/v1/certificates/{id}/export", "exportCertificate")
            .tag("certificates")
            .summary("The PEM material as JSON; the private key only with `key=true` (a user session, audited)")
            .query::<ExportParams>()
            .ok::<Export>(200, "The PEM material"),
        export,
    );
    api.add(
        Op::get("/api/v1/certificates/{id}/bundle", "certificateBundle")
            .tag("certificates")
            .summary("The full chain as one PEM file (then the private key with `key=true`: a user session, audited)")
            .query::<ExportParams>()
            .ok_text(200, "application/x-pem-file", "The PEM bundle"),
        bundle,
    );
}

/// Parameters of the certificate list besides the filter terms.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct CertListParams {
    /// `newest` (default) or `expiry` (soonest first; rows without an expiry are left out).
    pub order: Option<String>,
}

async fn list(c: Caller, Params(raw): Params<BTreeMap<String, String>>) -> ApiResult<Json<Paged<CertificateRow>>> {
    let order = match raw.get("order").map(String::as_str) {
        None | Some("newest") => CertOrder::Newest,
        Some("expiry") => CertOrder::Expiry,
        Some(o) => return Err(Problem::invalid("order", format!("order `{o}`: use newest or expiry"))),
    };
    let q = ListQuery::parse(LIST, raw, &["order"])?;
    let mut f: CertFilter = q.filter()?;
    f.order = order;
    if order == CertOrder::Expiry {
        if let Some(k) = &q.key {
            let t = k.after_time.ok_or_else(|| {
                Problem::bad_request("this cursor belongs to the newest-first order").with_field("cursor")
            })?;
            f.after_expiry = Some((t, k.before_id));
        }
    }
    let mut page = q.page;
    if order == CertOrder::Expiry {
        page.before_id = None;
    }
    let rows = c.services.cert_list(&c.actor, &f, page).await?;
    Ok(Json(match order {
        CertOrder::Newest => paged(LIST, &page, rows, |r| r.id),
        CertOrder::Expiry => paged_by_time(LIST, &page, rows, |r| (r.expires_at, r.id)),
    }))
}

async fn show(c: Caller, Id(id): Id) -> ApiResult<Json<CertificateRow>> {
    Ok(Json(c.services.cert_get(&c.actor, id).await?))
}

/// An import: PEM text.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportBody {
    /// Display name.
    pub name: Option<String>,
    /// The certificate (leaf first; may carry its chain after it), PEM.
    pub certificate_pem: String,
    /// The private key, PEM.
    pub private_key_pem: String,
    /// The chain, PEM, when not after the leaf.
    pub chain_pem: Option<String>,
    /// Notes.
    pub notes: Option<String>,
}

async fn import(c: Caller, Body(b): Body<ImportBody>) -> ApiResult<(StatusCode, Json<CertificateRow>)> {
    let input = ImportInput {
        name: b.name,
        certificate: b.certificate_pem.into_bytes(),
        private_key: b.private_key_pem.into_bytes(),
        chain: b.chain_pem.map(String::into_bytes),
        notes: b.notes,
    };
    let row = c.services.cert_import(&c.actor, &input).await?;
    Ok((StatusCode::CREATED, Json(row)))
}

/// A requested certificate and the task that obtains it.
#[derive(serde::Serialize, schemars::JsonSchema)]
pub struct Requested {
    /// The certificate (status `pending` until the task finishes).
    pub certificate: CertificateRow,
    /// The issuance task; follow it at `/api/v1/tasks/{id}/logs/stream`.
    pub task: TaskRow,
}

async fn request(c: Caller, Body(input): Body<RequestInput>) -> ApiResult<(StatusCode, Json<Requested>)> {
    let (certificate, task) = c.services.cert_request(&c.actor, &input).await?;
    Ok((StatusCode::ACCEPTED, Json(Requested { certificate, task })))
}

async fn renew(c: Caller, Id(id): Id) -> ApiResult<(StatusCode, Json<TaskRow>)> {
    Ok((StatusCode::ACCEPTED, Json(c.services.cert_renew(&c.actor, id).await?)))
}

/// A revocation.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeBody {
    /// unspecified (default), keyCompromise, affiliationChanged, superseded or cessationOfOperation.
    #[serde(default)]
    pub reason: Option<String>,
}

async fn revoke(c: Caller, Id(id): Id, Body(b): Body<RevokeBody>) -> ApiResult<Json<CertificateRow>> {
    let reason = b.reason.unwrap_or_else(|| "unspecified".into());
    Ok(Json(c.services.cert_revoke(&c.actor, id, &reason).await?))
}

async fn delete(c: Caller, Id(id): Id) -> ApiResult<StatusCode> {
    c.services.cert_delete(&c.actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Export options.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportParams {
    /// Include the private key (a user session with the right to export keys; audited).
    #[serde(default)]
    pub key: bool,
}

async fn export(c: Caller, Id(id): Id, Params(p): Params<ExportParams>) -> ApiResult<Json<Export>> {
    Ok(Json(c.services.cert_export(&c.actor, id, p.key).await?))
}

async fn bundle(c: Caller, Id(id): Id, Params(p): Params<ExportParams>) -> ApiResult<Response> {
    let e = c.services.cert_export(&c.actor, id, p.key).await?;
    let mut body = e.fullchain_pem.clone();
    if !body.ends_with('\n') {
        body.push('\n');
    }
    if let Some(k) = &e.private_key_pem {
        body.push_str(k);
    }
    let mut res = (StatusCode::OK, body).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/x-pem-file"),
    );
    if p.key {
        res.headers_mut()
            .insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    }
    Ok(res)
}
