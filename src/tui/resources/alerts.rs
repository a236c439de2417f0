//! Alert rules: the table, the detail with channel bindings, create / edit forms, binding a
//! channel from the detail and unbinding one, enable / disable, delete.

use futures::future::BoxFuture;

use super::contract::{Cx, Resource};
use super::model::*;
use super::values::*;
use crate::domain::{AlertType, ConditionType, Severity};
use crate::errors::ServiceResult;
use crate::service::monitoring::AlertInput;
use crate::service::query::Watched;
use crate::service::query::ALERT_KEYS;
use crate::tui::action::Action;
use crate::tui::effects::{Query, Reply};
use crate::tui::form::{names, yes_no, Field, Form, FormOp, YES_NO};
use crate::tui::model::Kind;
use crate::tui::state::{Body, Detail, Link, Tab};

/// The alert rules pane.
pub struct Alerts;

const COLUMNS: &[Column] = &[
    col("id", 6, 0),
    col("name", 14, 3),
    col("type", 17, 0),
    col("condition", 14, 1),
    col("monitor", 7, 0),
    col("severity", 8, 0),
    col("active", 6, 0),
];

impl Resource for Alerts {
    fn kind(&self) -> Kind {
        Kind::Alerts
    }

    fn commands(&self) -> &'static [&'static str] {
        &["alerts", "rules", "alert"]
    }

    fn title_key(&self) -> &'static str {
        "pane.alerts"
    }

    fn columns(&self) -> &'static [Column] {
        COLUMNS
    }

    fn sql_filters(&self) -> &'static [&'static str] {
        ALERT_KEYS
    }

    fn row_actions(&self) -> &'static [Action] {
        &[Action::Edit, Action::Toggle, Action::Delete]
    }

    fn creates_in_detail(&self) -> bool {
        true
    }

    fn watched(&self) -> Watched {
        Watched::Alerts
    }

    fn create_form(&self, parent: Option<i64>) -> Option<Form> {
        Some(match parent {
            Some(rule) => Form::new(
                Kind::Alerts,
                FormOp::Add(rule),
                "form.binding_create",
                vec![Field::number("channel", "").required()],
            ),
            None => Form::new(
                Kind::Alerts,
                FormOp::Create,
                "form.alert_create",
                vec![
                    Field::text("name", "").required(),
                    Field::picker("type", &names(AlertType::ALL, AlertType::as_str), "certificate_expiry"),
                    Field::picker(
                        "condition",
                        &names(ConditionType::ALL, ConditionType::as_str),
                        "days_before",
                    ),
                    Field::text("value", "30").required(),
                    Field::number("monitor", ""),
                    Field::picker("severity", &names(Severity::ALL, Severity::as_str), "warning"),
                ],
            ),
        })
    }

    fn load_page<'a>(
        &'a self,
        cx: Cx<'a>,
        q: &'a Query,
        start: Option<Cursor>,
    ) -> BoxFuture<'a, ServiceResult<Fetched>> {
        Box::pin(async move {
            let t = q.terms.get("type")?;
            let rows = cx
                .svc
                .alert_list(cx.actor, t, id_page(start))
                .await?
                .iter()
                .map(|a| {
                    Row::new(
                        a.id,
                        vec![
                            text(a.id.to_string()),
                            text(a.name.clone()),
                            text(a.alert_type.as_str()),
                            text(format!("{} {}", a.condition_type.as_str(), a.condition_value)),
                            text(a.monitor_id.map(|m| format!("#{m}")).unwrap_or_else(|| "*".into())),
                            status(a.severity.as_str()),
                            Cell::Bool(a.is_active),
                        ],
                    )
                    .active(a.is_active)
                })
                .collect();
            Ok(finish(rows, q, true))
        })
    }

    fn load_detail<'a>(&'a self, cx: Cx<'a>, id: i64) -> BoxFuture<'a, ServiceResult<Detail>> {
        Box::pin(async move {
            let r = cx.svc.alert_get(cx.actor, id).await?;
            let bindings = cx.svc.binding_list(cx.actor, id).await?;
            Ok(Detail {
                title: r.name.clone(),
                active: r.is_active,
                tabs: vec![
                    overview(vec![
                        field("id", text(r.id.to_string())),
                        field("type", text(r.alert_type.as_str())),
                        field(
                            "condition",
                            text(format!("{} {}", r.condition_type.as_str(), r.condition_value)),
                        ),
                        field(
                            "monitor",
                            text(r.monitor_id.map(|x| format!("#{x}")).unwrap_or_else(|| "*".into())),
                        ),
                        field("severity", status(r.severity.as_str())),
                        field("active", Cell::Bool(r.is_active)),
                    ]),
                    Tab {
                        links: Some((Link::Binding, bindings.iter().map(|b| b.channel_id).collect())),
                        key: "tab.bindings",
                        body: Body::Table(
                            vec!["id", "channel", "created"],
                            bindings
                                .iter()
                                .map(|b| {
                                    vec![
                                        text(b.id.to_string()),
                                        text(format!("#{}", b.channel_id)),
                                        Cell::Time(Some(b.created_at)),
                                    ]
                                })
                                .collect(),
                        ),
                    },
                ],
            })
        })
    }

    fn edit_form<'a>(&'a self, cx: Cx<'a>, id: i64) -> BoxFuture<'a, ServiceResult<Form>> {
        Box::pin(async move {
            let r = cx.svc.alert_get(cx.actor, id).await?;
            Ok(Form::new(
                Kind::Alerts,
                FormOp::Edit(r.id),
                "form.alert_edit",
                vec![
                    Field::text("name", &r.name).required(),
                    Field::picker(
                        "condition",
                        &names(ConditionType::ALL, ConditionType::as_str),
                        r.condition_type.as_str(),
                    ),
                    Field::text("value", &r.condition_value).required(),
                    Field::picker("severity", &names(Severity::ALL, Severity::as_str), r.severity.as_str()),
                    Field::picker("active", YES_NO, yes_no(r.is_active)),
                ],
            ))
        })
    }

    fn submit<'a>(&'a self, cx: Cx<'a>, op: FormOp, v: &'a Values) -> BoxFuture<'a, ServiceResult<Reply>> {
        Box::pin(async move {
            let (s, a) = (cx.svc, cx.actor);
            match op {
                FormOp::Create | FormOp::Edit(_) => {
                    let input = AlertInput {
                        name: opt_s(v, "name"),
                        alert_type: parse_enum(v, "type")?,
                        monitor_id: num(v, "monitor")?,
                        condition_type: parse_enum(v, "condition")?,
                        condition_value: opt_s(v, "value"),
                        severity: parse_enum(v, "severity")?,
                        is_active: if let FormOp::Edit(_) = op {
                            Some(yes(v, "active"))
                        } else {
                            Some(true)
                        },
                    };
                    if let FormOp::Edit(id) = op {
                        let r = s.alert_update(a, id, &input).await?;
                        done("done.updated", "noun.alert", &r.name)
                    } else {
                        let r = s.alert_create(a, &input).await?;
                        done("done.created", "noun.alert", &format!("{} (#{})", r.name, r.id))
                    }
                }
                FormOp::Add(rule) => {
                    s.binding_create(a, rule, req_num(v, "channel")?).await?;
                    done("done.bound", "noun.alert", &format!("#{rule}"))
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
                (_, Some((Link::Binding, channel))) => {
                    s.binding_delete(a, id, channel).await?;
                    done("done.unbound", "noun.channel", &format!("#{channel}"))
                }
                (Action::Delete, None) => {
                    s.alert_delete(a, id).await?;
                    done("done.deleted", "noun.alert", &format!("#{id}"))
                }
                (Action::Toggle, None) => {
                    let r = s.alert_get(a, id).await?;
                    let input = AlertInput {
                        is_active: Some(!r.is_active),
                        ..Default::default()
                    };
                    let r = s.alert_update(a, id, &input).await?;
                    done(on_off(r.is_active), "noun.alert", &r.name)
                }
                (other, _) => Err(self.not_applicable(other)),
            }
        })
    }
}
