//! Server groups: the table, the detail with member servers, create / edit forms, adding a
//! member from the detail and removing one, delete.

use futures::future::BoxFuture;

use super::contract::{Cx, Resource};
use super::model::*;
use super::values::*;
use crate::errors::ServiceResult;
use crate::service::query::ServerFilter;
use crate::service::query::Watched;
use crate::tui::action::Action;
use crate::tui::effects::{Query, Reply};
use crate::tui::form::{Field, Form, FormOp};
use crate::tui::model::Kind;
use crate::tui::state::{Body, Detail, Link, Tab};

/// The groups pane.
pub struct Groups;

const COLUMNS: &[Column] = &[
    col("id", 6, 0),
    col("name", 16, 2),
    col("description", 20, 4),
    col("servers", 8, 0),
];

impl Resource for Groups {
    fn kind(&self) -> Kind {
        Kind::Groups
    }

    fn commands(&self) -> &'static [&'static str] {
        &["groups", "grp", "group"]
    }

    fn title_key(&self) -> &'static str {
        "pane.groups"
    }

    fn columns(&self) -> &'static [Column] {
        COLUMNS
    }

    fn row_actions(&self) -> &'static [Action] {
        &[Action::Edit, Action::Delete]
    }

    fn watched(&self) -> Watched {
        Watched::Groups
    }

    fn create_form(&self, parent: Option<i64>) -> Option<Form> {
        Some(match parent {
            Some(group) => Form::new(
                Kind::Groups,
                FormOp::Add(group),
                "form.group_member_add",
                vec![Field::number("server", "").required()],
            ),
            None => Form::new(
                Kind::Groups,
                FormOp::Create,
                "form.group_create",
                vec![Field::text("name", "").required(), Field::text("description", "")],
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
            let rows = cx
                .svc
                .group_list(cx.actor, id_page(start))
                .await?
                .iter()
                .map(|g| {
                    Row::new(
                        g.id,
                        vec![
                            text(g.id.to_string()),
                            text(g.name.clone()),
                            opt(&g.description),
                            text(g.server_count.to_string()),
                        ],
                    )
                })
                .collect();
            Ok(finish(rows, q, true))
        })
    }

    fn load_detail<'a>(&'a self, cx: Cx<'a>, id: i64) -> BoxFuture<'a, ServiceResult<Detail>> {
        Box::pin(async move {
            let (svc, a) = (cx.svc, cx.actor);
            let g = svc.group_get(a, id).await?;
            let members = svc
                .server_list(
                    a,
                    &ServerFilter {
                        group_id: Some(id),
                        ..Default::default()
                    },
                    Page::first(200),
                )
                .await?;
            Ok(Detail {
                title: g.name.clone(),
                active: true,
                tabs: vec![
                    overview(vec![
                        field("id", text(g.id.to_string())),
                        field("name", text(g.name.clone())),
                        field("description", or_dash(&g.description)),
                        field("servers", text(g.server_count.to_string())),
                    ]),
                    Tab {
                        links: Some((Link::GroupMember, members.iter().map(|m| m.id).collect())),
                        key: "tab.servers",
                        body: Body::Table(
                            vec!["id", "name", "hostname", "status"],
                            members
                                .iter()
                                .map(|s| {
                                    vec![
                                        text(s.id.to_string()),
                                        or_dash(&s.name),
                                        text(s.hostname.clone()),
                                        status(s.status.as_str()),
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
            let r = cx.svc.group_get(cx.actor, id).await?;
            Ok(Form::new(
                Kind::Groups,
                FormOp::Edit(r.id),
                "form.group_edit",
                vec![
                    Field::text("name", &r.name).required(),
                    Field::text("description", r.description.as_deref().unwrap_or("")),
                ],
            ))
        })
    }

    fn submit<'a>(&'a self, cx: Cx<'a>, op: FormOp, v: &'a Values) -> BoxFuture<'a, ServiceResult<Reply>> {
        Box::pin(async move {
            let (s, a) = (cx.svc, cx.actor);
            match op {
                FormOp::Create => {
                    let g = s
                        .group_create(a, get(v, "name"), opt_s(v, "description").as_deref())
                        .await?;
                    done("done.created", "noun.group", &format!("{} (#{})", g.name, g.id))
                }
                FormOp::Edit(id) => {
                    let g = s
                        .group_update(a, id, Some(get(v, "name")), Some(get(v, "description")))
                        .await?;
                    done("done.updated", "noun.group", &g.name)
                }
                FormOp::Add(group) => {
                    let server = req_num(v, "server")?;
                    s.group_add_server(a, group, server).await?;
                    done("done.joined_group", "noun.server", &format!("#{server}"))
                }
                FormOp::Request | FormOp::OnLink(..) => Err(self.not_applicable(Action::Submit)),
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
                (_, Some((Link::GroupMember, server))) => {
                    s.group_remove_server(a, id, server).await?;
                    done("done.left_group", "noun.server", &format!("#{server}"))
                }
                (Action::Delete, None) => {
                    s.group_delete(a, id).await?;
                    done("done.deleted", "noun.group", &format!("#{id}"))
                }
                (other, _) => Err(self.not_applicable(other)),
            }
        })
    }
}
