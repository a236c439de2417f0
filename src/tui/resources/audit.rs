//! The audit log: the table (filtered by user, action, resource and time) and the detail of one
//! entry. Read only.

use futures::future::BoxFuture;

use super::contract::{Cx, Resource};
use super::model::*;
use crate::errors::ServiceResult;
use crate::service::query::Watched;
use crate::service::query::{AuditFilter, ListFilter};
use crate::tui::effects::Query;
use crate::tui::model::Kind;
use crate::tui::state::{Body, Detail};

/// The audit pane.
pub struct Audit;

const COLUMNS: &[Column] = &[
    col("time", 16, 0),
    col("user", 6, 0),
    col("action", 18, 2),
    col("resource", 14, 1),
    col("ip", 12, 0),
    col("details", 16, 4),
];

fn user_cell(user_id: Option<i64>) -> Cell {
    text(user_id.map(|u| format!("#{u}")).unwrap_or_else(|| "system".into()))
}

impl Resource for Audit {
    fn kind(&self) -> Kind {
        Kind::Audit
    }

    fn commands(&self) -> &'static [&'static str] {
        &["audit", "log", "audits"]
    }

    fn title_key(&self) -> &'static str {
        "pane.audit"
    }

    fn columns(&self) -> &'static [Column] {
        COLUMNS
    }

    fn sql_filters(&self) -> &'static [&'static str] {
        AuditFilter::KEYS
    }

    fn can_create(&self) -> bool {
        false
    }

    fn watched(&self) -> Watched {
        Watched::Audit
    }

    fn load_page<'a>(
        &'a self,
        cx: Cx<'a>,
        q: &'a Query,
        start: Option<Cursor>,
    ) -> BoxFuture<'a, ServiceResult<Fetched>> {
        Box::pin(async move {
            // `user:` takes an id or a name.
            let f = cx.svc.audit_filter(cx.actor, &q.terms, chrono::Utc::now()).await?;
            let rows = cx
                .svc
                .audit_list(cx.actor, &f, id_page(start))
                .await?
                .iter()
                .map(|a| {
                    Row::new(
                        a.id,
                        vec![
                            Cell::Time(Some(a.created_at)),
                            user_cell(a.user_id),
                            text(a.action.clone()),
                            target(&a.resource_type, a.resource_id),
                            opt(&a.ip_address),
                            text(a.details.as_ref().map(|d| d.0.to_string()).unwrap_or_default()),
                        ],
                    )
                })
                .collect();
            Ok(finish(rows, q, true))
        })
    }

    fn load_detail<'a>(&'a self, cx: Cx<'a>, id: i64) -> BoxFuture<'a, ServiceResult<Detail>> {
        Box::pin(async move {
            let e = exact(
                cx.svc.audit_list(cx.actor, &Default::default(), one(id)).await?,
                id,
                |e| e.id,
                "audit entry",
            )?;
            Ok(Detail {
                title: e.action.clone(),
                active: true,
                tabs: vec![
                    overview(vec![
                        field("time", Cell::Time(Some(e.created_at))),
                        field("user", user_cell(e.user_id)),
                        field("action", text(e.action.clone())),
                        field(
                            "resource",
                            text(format!(
                                "{} {}",
                                e.resource_type.clone().unwrap_or_default(),
                                e.resource_id.map(|i| format!("#{i}")).unwrap_or_default()
                            )),
                        ),
                        field("ip", or_dash(&e.ip_address)),
                        field("user_agent", or_dash(&e.user_agent)),
                    ]),
                    tab("tab.data", Body::Text(json(&e.details))),
                ],
            })
        })
    }
}
