//! Fired alerts: the table (`open:yes` unresolved, `open:no` resolved), the detail with the alert's data, and
//! acknowledge / resolve.

use futures::future::BoxFuture;

use super::contract::{Cx, Resource};
use super::model::*;
use crate::errors::ServiceResult;
use crate::service::query::Watched;
use crate::service::query::{HistoryFilter, ListFilter, HISTORY_KEYS};
use crate::tui::action::Action;
use crate::tui::effects::{Query, Reply};
use crate::tui::model::Kind;
use crate::tui::state::{Body, Detail, Link};

/// The fired alerts pane.
pub struct History;

const COLUMNS: &[Column] = &[
    col("id", 6, 0),
    col("rule", 6, 0),
    col("monitor", 7, 0),
    col("severity", 8, 0),
    col("message", 20, 5),
    col("state", 9, 0),
    col("fired", 10, 0),
];

fn state_word(resolved: bool) -> &'static str {
    if resolved {
        "resolved"
    } else {
        "open"
    }
}

impl Resource for History {
    fn kind(&self) -> Kind {
        Kind::History
    }

    fn commands(&self) -> &'static [&'static str] {
        &["history", "fired", "hist"]
    }

    fn title_key(&self) -> &'static str {
        "pane.history"
    }

    fn columns(&self) -> &'static [Column] {
        COLUMNS
    }

    fn sql_filters(&self) -> &'static [&'static str] {
        HISTORY_KEYS
    }

    fn row_actions(&self) -> &'static [Action] {
        &[Action::Resolve, Action::Acknowledge]
    }

    fn can_create(&self) -> bool {
        false
    }

    fn watched(&self) -> Watched {
        Watched::AlertHistory
    }

    fn load_page<'a>(
        &'a self,
        cx: Cx<'a>,
        q: &'a Query,
        start: Option<Cursor>,
    ) -> BoxFuture<'a, ServiceResult<Fetched>> {
        Box::pin(async move {
            let f = HistoryFilter::from_terms(&q.terms, chrono::Utc::now())?;
            let rows = cx
                .svc
                .alert_history_list(cx.actor, &f, id_page(start))
                .await?
                .iter()
                .map(|h| {
                    Row::new(
                        h.id,
                        vec![
                            text(h.id.to_string()),
                            text(format!("#{}", h.alert_id)),
                            text(format!("#{}", h.monitor_id)),
                            status(h.severity.as_str()),
                            text(h.message.clone()),
                            status(state_word(h.is_resolved)),
                            Cell::Rel(Some(h.created_at), false),
                        ],
                    )
                    .active(!h.is_resolved)
                })
                .collect();
            Ok(finish(rows, q, true))
        })
    }

    fn load_detail<'a>(&'a self, cx: Cx<'a>, id: i64) -> BoxFuture<'a, ServiceResult<Detail>> {
        Box::pin(async move {
            let h = exact(
                cx.svc.alert_history(cx.actor, false, one(id)).await?,
                id,
                |h| h.id,
                "alert history",
            )?;
            Ok(Detail {
                title: h.message.clone(),
                active: !h.is_resolved,
                tabs: vec![
                    overview(vec![
                        field("id", text(h.id.to_string())),
                        field("rule", text(format!("#{}", h.alert_id))),
                        field("monitor", text(format!("#{}", h.monitor_id))),
                        field("severity", status(h.severity.as_str())),
                        field("message", text(h.message.clone())),
                        field("state", status(state_word(h.is_resolved))),
                        field("fired", Cell::Time(Some(h.created_at))),
                        field("resolved", Cell::Time(h.resolved_at)),
                    ]),
                    tab("tab.data", Body::Text(json(&h.data))),
                ],
            })
        })
    }

    fn row_action<'a>(
        &'a self,
        cx: Cx<'a>,
        action: Action,
        id: i64,
        link: Option<(Link, i64)>,
        _arg: Option<String>,
    ) -> BoxFuture<'a, ServiceResult<Reply>> {
        Box::pin(async move {
            match (action, link) {
                (Action::Acknowledge, None) => {
                    cx.svc.alert_acknowledge(cx.actor, id).await?;
                    done("done.acknowledged", "noun.history", &format!("#{id}"))
                }
                (Action::Resolve, None) => {
                    cx.svc.alert_resolve(cx.actor, id).await?;
                    done("done.resolved", "noun.history", &format!("#{id}"))
                }
                (other, _) => Err(self.not_applicable(other)),
            }
        })
    }
}
