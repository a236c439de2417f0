//! TLS monitors: the table, the detail, create / edit forms, and the row actions (enable /
//! disable, check now, delete).

use futures::future::BoxFuture;

use super::contract::{Cx, Resource};
use super::model::*;
use super::values::*;
use crate::domain::{MonitorType, TaskType};
use crate::errors::ServiceResult;
use crate::service::monitoring::MonitorInput;
use crate::service::query::Watched;
use crate::service::query::{ListFilter, MonitorFilter};
use crate::service::tasks::TaskInput;
use crate::tui::action::Action;
use crate::tui::effects::{Query, Reply};
use crate::tui::form::{names, yes_no, Field, Form, FormOp, YES_NO};
use crate::tui::model::Kind;
use crate::tui::state::{Detail, Link};

/// The monitors pane.
pub struct Monitors;

const COLUMNS: &[Column] = &[
    col("id", 6, 0),
    col("name", 14, 2),
    col("type", 11, 0),
    col("target", 16, 3),
    col("status", 8, 0),
    col("active", 6, 0),
    col("checked", 10, 0),
    col("message", 12, 3),
];

impl Resource for Monitors {
    fn kind(&self) -> Kind {
        Kind::Monitors
    }

    fn commands(&self) -> &'static [&'static str] {
        &["monitors", "mon", "monitor"]
    }

    fn title_key(&self) -> &'static str {
        "pane.monitors"
    }

    fn columns(&self) -> &'static [Column] {
        COLUMNS
    }

    fn sql_filters(&self) -> &'static [&'static str] {
        MonitorFilter::KEYS
    }

    fn row_actions(&self) -> &'static [Action] {
        &[Action::Edit, Action::Toggle, Action::Delete, Action::Check]
    }

    fn watched(&self) -> Watched {
        Watched::Monitors
    }

    fn create_form(&self, _parent: Option<i64>) -> Option<Form> {
        Some(Form::new(
            Kind::Monitors,
            FormOp::Create,
            "form.monitor_create",
            vec![
                Field::text("name", "").required(),
                Field::picker("type", &names(MonitorType::ALL, MonitorType::as_str), "domain"),
                Field::text("domain", ""),
                Field::number("target", ""),
                Field::number("port", "443"),
                Field::number("check_interval", "3600"),
            ],
        ))
    }

    fn load_page<'a>(
        &'a self,
        cx: Cx<'a>,
        q: &'a Query,
        start: Option<Cursor>,
    ) -> BoxFuture<'a, ServiceResult<Fetched>> {
        Box::pin(async move {
            let f = MonitorFilter::from_terms(&q.terms, chrono::Utc::now())?;
            let rows = cx
                .svc
                .monitor_list(cx.actor, &f, id_page(start))
                .await?
                .iter()
                .map(|m| {
                    let tgt = match (&m.domain, m.target_id) {
                        (Some(d), _) => format!("{d}:{}", m.port.unwrap_or(443)),
                        (None, Some(id)) => format!("#{id}"),
                        _ => String::new(),
                    };
                    Row::new(
                        m.id,
                        vec![
                            text(m.id.to_string()),
                            text(m.name.clone()),
                            text(m.monitor_type.as_str()),
                            text(tgt),
                            status(m.status.as_str()),
                            Cell::Bool(m.is_active),
                            Cell::Rel(m.last_check_at, false),
                            opt(&m.status_message),
                        ],
                    )
                    .active(m.is_active)
                })
                .collect();
            Ok(finish(rows, q, true))
        })
    }

    fn load_detail<'a>(&'a self, cx: Cx<'a>, id: i64) -> BoxFuture<'a, ServiceResult<Detail>> {
        Box::pin(async move {
            let m = cx.svc.monitor_get(cx.actor, id).await?;
            Ok(Detail {
                title: m.name.clone(),
                active: m.is_active,
                tabs: vec![overview(vec![
                    field("id", text(m.id.to_string())),
                    field("type", text(m.monitor_type.as_str())),
                    field("domain", or_dash(&m.domain)),
                    field(
                        "target",
                        text(m.target_id.map(|x| format!("#{x}")).unwrap_or_else(|| "-".into())),
                    ),
                    field(
                        "port",
                        text(m.port.map(|p| p.to_string()).unwrap_or_else(|| "-".into())),
                    ),
                    field("check_interval", text(format!("{} s", m.check_interval))),
                    field("status", status(m.status.as_str())),
                    field("message", or_dash(&m.status_message)),
                    field("active", Cell::Bool(m.is_active)),
                    field("checked", Cell::Rel(m.last_check_at, false)),
                    field("next_check", Cell::Rel(m.next_check_at, false)),
                ])],
            })
        })
    }

    fn edit_form<'a>(&'a self, cx: Cx<'a>, id: i64) -> BoxFuture<'a, ServiceResult<Form>> {
        Box::pin(async move {
            let r = cx.svc.monitor_get(cx.actor, id).await?;
            Ok(Form::new(
                Kind::Monitors,
                FormOp::Edit(r.id),
                "form.monitor_edit",
                vec![
                    Field::text("name", &r.name).required(),
                    Field::number("port", &r.port.map(|p| p.to_string()).unwrap_or_default()),
                    Field::number("check_interval", &r.check_interval.to_string()),
                    Field::picker("active", YES_NO, yes_no(r.is_active)),
                ],
            ))
        })
    }

    fn submit<'a>(&'a self, cx: Cx<'a>, op: FormOp, v: &'a Values) -> BoxFuture<'a, ServiceResult<Reply>> {
        Box::pin(async move {
            let (s, a) = (cx.svc, cx.actor);
            match op {
                FormOp::Create => {
                    let input = MonitorInput {
                        name: opt_s(v, "name"),
                        monitor_type: parse_enum(v, "type")?,
                        target_id: num(v, "target")?,
                        domain: opt_s(v, "domain"),
                        port: num(v, "port")?,
                        check_interval: num(v, "check_interval")?,
                        is_active: Some(true),
                        ..Default::default()
                    };
                    let m = s.monitor_create(a, &input).await?;
                    done("done.created", "noun.monitor", &format!("{} (#{})", m.name, m.id))
                }
                FormOp::Edit(id) => {
                    let input = MonitorInput {
                        name: opt_s(v, "name"),
                        port: num(v, "port")?,
                        check_interval: num(v, "check_interval")?,
                        is_active: Some(yes(v, "active")),
                        ..Default::default()
                    };
                    let m = s.monitor_update(a, id, &input).await?;
                    done("done.updated", "noun.monitor", &m.name)
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
                (Action::Delete, None) => {
                    s.monitor_delete(a, id).await?;
                    done("done.deleted", "noun.monitor", &format!("#{id}"))
                }
                (Action::Toggle, None) => {
                    let m = s.monitor_get(a, id).await?;
                    let input = MonitorInput {
                        is_active: Some(!m.is_active),
                        ..Default::default()
                    };
                    let m = s.monitor_update(a, id, &input).await?;
                    done(on_off(m.is_active), "noun.monitor", &m.name)
                }
                (Action::Check, None) => {
                    let t = s
                        .task_enqueue(
                            a,
                            &TaskInput {
                                task_type: Some(TaskType::MonitorCheck),
                                priority: Some(8),
                                target_type: Some("monitor".into()),
                                target_id: Some(id),
                                max_attempts: Some(1),
                                ..Default::default()
                            },
                        )
                        .await?;
                    done("done.queued", "noun.monitor_check", &format!("#{}", t.id))
                }
                (other, _) => Err(self.not_applicable(other)),
            }
        })
    }
}
