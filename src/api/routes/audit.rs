//! `/api/v1/audit`: the audit log, newest first. Filter terms `user` (id or name), `action`,
//! `resource`, `id`, `since`, `until`; the service decides who sees what (an admin every row, a
//! user their own actions).

use std::collections::BTreeMap;

use axum::Json;
use chrono::Utc;

use crate::api::auth::Caller;
use crate::api::cursor::{paged, Paged};
use crate::api::list::ListQuery;
use crate::api::openapi::{Api, Op};
use crate::api::problem::{ApiResult, Params};
use crate::service::query::{AuditFilter, ListFilter};
use crate::service::views::AuditRow;

const LIST: &str = "audit";

/// Registers the routes.
pub fn routes(api: &mut Api) {
    api.add(
        Op::get("/api/v1/audit", "listAudit")
            .tag("audit")
            .summary("List audit entries (own actions; all for an admin), newest first")
            .query::<crate::api::list::ListParams>()
            .filter(AuditFilter::KEYS)
            .ok::<Paged<AuditRow>>(200, "A page of audit entries"),
        list,
    );
}

async fn list(c: Caller, Params(raw): Params<BTreeMap<String, String>>) -> ApiResult<Json<Paged<AuditRow>>> {
    let q = ListQuery::parse(LIST, raw, &[])?;
    let f = c.services.audit_filter(&c.actor, &q.terms, Utc::now()).await?;
    let rows = c.services.audit_list(&c.actor, &f, q.page).await?;
    Ok(Json(paged(LIST, &q.page, rows, |r| r.id)))
}
