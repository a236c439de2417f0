//! The task queue: the table (with the selected task's log tailed under it), the detail with
//! logs and parameters, retry and cancel.

use futures::future::BoxFuture;

use super::contract::{Cx, Resource};
use super::model::*;
use crate::errors::ServiceResult;
use crate::service::query::Watched;
use crate::service::query::{ListFilter, TaskFilter};
use crate::tui::action::Action;
use crate::tui::effects::{Query, Reply};
use crate::tui::model::Kind;
use crate::tui::state::{Body, Detail, Link};

/// The tasks pane.
pub struct Tasks;

const COLUMNS: &[Column] = &[
    col("id", 6, 0),
    col("type", 18, 1),
    col("status", 9, 0),
    col("progress", 12, 1),
    col("target", 12, 1),
    col("scheduled", 10, 0),
    col("error", 12, 4),
];

impl Resource for Tasks {
    fn kind(&self) -> Kind {
        Kind::Tasks
    }

    fn commands(&self) -> &'static [&'static str] {
        &["tasks", "task", "queue"]
    }

    fn title_key(&self) -> &'static str {
        "pane.tasks"
    }

    fn columns(&self) -> &'static [Column] {
        COLUMNS
    }

    fn sql_filters(&self) -> &'static [&'static str] {
        TaskFilter::KEYS
    }

    fn row_actions(&self) -> &'static [Action] {
        &[Action::Retry, Action::CancelTask]
    }

    fn can_create(&self) -> bool {
        false
    }

    fn watched(&self) -> Watched {
        Watched::Tasks
    }

    fn load_page<'a>(
        &'a self,
        cx: Cx<'a>,
        q: &'a Query,
        start: Option<Cursor>,
    ) -> BoxFuture<'a, ServiceResult<Fetched>> {
        Box::pin(async move {
            let f = TaskFilter::from_terms(&q.terms, chrono::Utc::now())?;
            let rows = cx
                .svc
                .task_list(cx.actor, &f, id_page(start))
                .await?
                .iter()
                .map(|t| {
                    Row::new(
                        t.id,
                        vec![
                            text(t.id.to_string()),
                            text(t.task_type.as_str()),
                            status(t.status.as_str()),
                            Cell::Progress(t.progress),
                            target(&t.target_type, t.target_id),
                            Cell::Rel(Some(t.scheduled_at), false),
                            opt(&t.error_message),
                        ],
                    )
                })
                .collect();
            Ok(finish(rows, q, true))
        })
    }

    fn load_detail<'a>(&'a self, cx: Cx<'a>, id: i64) -> BoxFuture<'a, ServiceResult<Detail>> {
        Box::pin(async move {
            let d = cx.svc.task_get(cx.actor, id).await?;
            let tk = &d.task;
            Ok(Detail {
                title: format!("{} #{}", tk.task_type.as_str(), tk.id),
                active: matches!(tk.status.as_str(), "pending" | "running"),
                tabs: vec![
                    overview(vec![
                        field("id", text(tk.id.to_string())),
                        field("type", text(tk.task_type.as_str())),
                        field("status", status(tk.status.as_str())),
                        field("progress", Cell::Progress(tk.progress)),
                        field(
                            "target",
                            text(match (&tk.target_type, tk.target_id) {
                                (Some(k), Some(i)) => format!("{k} #{i}"),
                                _ => "-".into(),
                            }),
                        ),
                        field("priority", text(tk.priority.to_string())),
                        field(
                            "attempts",
                            text(format!("{} / {}", d.queue.attempts, d.queue.max_attempts)),
                        ),
                        field("worker", or_dash(&d.queue.locked_by)),
                        field("scheduled", Cell::Time(Some(tk.scheduled_at))),
                        field("started", Cell::Time(tk.started_at)),
                        field("completed", Cell::Time(tk.completed_at)),
                        field("error", or_dash(&tk.error_message)),
                    ]),
                    tab("tab.logs", Body::Text(String::new())),
                    tab(
                        "tab.params",
                        Body::Text(format!("{}\n{}", json(&tk.params), json(&tk.result))),
                    ),
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
                (Action::Retry, None) => {
                    cx.svc.task_retry(cx.actor, id).await?;
                    done("done.queued", "noun.task", &format!("#{id}"))
                }
                (Action::CancelTask, None) => {
                    cx.svc.task_cancel(cx.actor, id).await?;
                    done("done.cancelled", "noun.task", &format!("#{id}"))
                }
                (other, _) => Err(self.not_applicable(other)),
            }
        })
    }
}
