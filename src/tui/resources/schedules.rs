//! Cron schedules: the table (whole, not paged), the detail, create / edit forms, enable /
//! disable and run now.

use futures::future::BoxFuture;

use super::contract::{Cx, Resource};
use super::model::*;
use super::values::*;
use crate::domain::ScheduleType;
use crate::errors::ServiceResult;
use crate::service::query::Watched;
use crate::service::schedules::ScheduleInput;
use crate::tui::action::Action;
use crate::tui::effects::{Query, Reply};
use crate::tui::form::{names, Field, Form, FormOp};
use crate::tui::model::Kind;
use crate::tui::state::{Detail, Link};

/// The schedules pane.
pub struct Schedules;

const COLUMNS: &[Column] = &[
    col("id", 6, 0),
    col("name", 16, 3),
    col("type", 17, 0),
    col("cron", 14, 1),
    col("active", 6, 0),
    col("next_run", 10, 0),
    col("last_run", 10, 0),
];

impl Resource for Schedules {
    fn kind(&self) -> Kind {
        Kind::Schedules
    }

    fn commands(&self) -> &'static [&'static str] {
        &["schedules", "cron", "sched"]
    }

    fn title_key(&self) -> &'static str {
        "pane.schedules"
    }

    fn columns(&self) -> &'static [Column] {
        COLUMNS
    }

    fn row_actions(&self) -> &'static [Action] {
        &[Action::Edit, Action::Toggle, Action::RunNow]
    }

    fn watched(&self) -> Watched {
        Watched::Schedules
    }

    fn unpaged(&self) -> bool {
        true
    }

    fn create_form(&self, _parent: Option<i64>) -> Option<Form> {
        Some(Form::new(
            Kind::Schedules,
            FormOp::Create,
            "form.schedule_create",
            vec![
                Field::text("name", "").required(),
                Field::picker(
                    "type",
                    &names(ScheduleType::ALL, ScheduleType::as_str),
                    "certificate_check",
                ),
                Field::text("cron", "0 3 * * *").required(),
                Field::text("params", ""),
            ],
        ))
    }

    fn load_page<'a>(
        &'a self,
        cx: Cx<'a>,
        q: &'a Query,
        _start: Option<Cursor>,
    ) -> BoxFuture<'a, ServiceResult<Fetched>> {
        Box::pin(async move {
            let rows = cx
                .svc
                .schedule_list(cx.actor)
                .await?
                .iter()
                .map(|s| {
                    Row::new(
                        s.id,
                        vec![
                            text(s.id.to_string()),
                            text(s.name.clone()),
                            text(s.task_type.as_str()),
                            text(s.cron_expression.clone()),
                            Cell::Bool(s.is_active),
                            Cell::Rel(s.next_run_at, false),
                            Cell::Rel(s.last_run_at, false),
                        ],
                    )
                    .active(s.is_active)
                })
                .collect();
            Ok(finish(rows, q, !self.unpaged()))
        })
    }

    fn load_detail<'a>(&'a self, cx: Cx<'a>, id: i64) -> BoxFuture<'a, ServiceResult<Detail>> {
        Box::pin(async move {
            let s = cx.svc.schedule_get(cx.actor, id).await?;
            Ok(Detail {
                title: s.name.clone(),
                active: s.is_active,
                tabs: vec![overview(vec![
                    field("id", text(s.id.to_string())),
                    field("type", text(s.task_type.as_str())),
                    field("cron", text(s.cron_expression.clone())),
                    field("active", Cell::Bool(s.is_active)),
                    field("next_run", Cell::Time(s.next_run_at)),
                    field("last_run", Cell::Time(s.last_run_at)),
                    field("params", text(json(&s.params))),
                ])],
            })
        })
    }

    fn edit_form<'a>(&'a self, cx: Cx<'a>, id: i64) -> BoxFuture<'a, ServiceResult<Form>> {
        Box::pin(async move {
            let r = cx.svc.schedule_get(cx.actor, id).await?;
            Ok(Form::new(
                Kind::Schedules,
                FormOp::Edit(r.id),
                "form.schedule_edit",
                vec![
                    Field::text("name", &r.name).required(),
                    Field::text("cron", &r.cron_expression).required(),
                    Field::text(
                        "params",
                        &r.params.as_ref().map(|p| p.0.to_string()).unwrap_or_default(),
                    ),
                ],
            ))
        })
    }

    fn submit<'a>(&'a self, cx: Cx<'a>, op: FormOp, v: &'a Values) -> BoxFuture<'a, ServiceResult<Reply>> {
        Box::pin(async move {
            let (s, a) = (cx.svc, cx.actor);
            let params = match opt_s(v, "params") {
                Some(p) => Some(
                    serde_json::from_str::<serde_json::Value>(&p)
                        .map_err(|e| invalid("params", format!("is not JSON: {e}")))?,
                ),
                None => None,
            };
            let input = ScheduleInput {
                name: opt_s(v, "name"),
                task_type: parse_enum(v, "type")?,
                cron_expression: opt_s(v, "cron"),
                params,
                system: false,
            };
            match op {
                FormOp::Edit(id) => {
                    let r = s.schedule_edit(a, id, &input).await?;
                    done("done.updated", "noun.schedule", &r.name)
                }
                FormOp::Create => {
                    let r = s.schedule_add(a, &input).await?;
                    done("done.created", "noun.schedule", &format!("{} (#{})", r.name, r.id))
                }
                _ => Err(self.not_applicable(Action::Submit)),
            }
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
            let (s, a) = (cx.svc, cx.actor);
            match (action, link) {
                (Action::Toggle, None) => {
                    let r = s.schedule_get(a, id).await?;
                    let r = s.schedule_set_active(a, id, !r.is_active).await?;
                    done(on_off(r.is_active), "noun.schedule", &r.name)
                }
                (Action::RunNow, None) => {
                    let r = s.schedule_run_now(a, id).await?;
                    done("done.queued", "noun.schedule", &r.name)
                }
                (other, _) => Err(self.not_applicable(other)),
            }
        })
    }
}
