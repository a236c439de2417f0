//! Users (admins only): the table, the detail, create (a generated first password is shown
//! once) and edit forms, enable / disable, delete.

use futures::future::BoxFuture;

use super::contract::{Cx, Resource};
use super::model::*;
use super::values::*;
use crate::domain::{UserRole, UserStatus};
use crate::errors::ServiceResult;
use crate::service::query::Watched;
use crate::service::query::{CertFilter, ListFilter, UserFilter};
use crate::service::users::{UserEdit, UserInput};
use crate::tui::action::Action;
use crate::tui::effects::{Query, Redacted, Reply};
use crate::tui::form::{names, Field, Form, FormOp};
use crate::tui::model::Kind;
use crate::tui::state::{Detail, Link};

/// The users pane.
pub struct Users;

const COLUMNS: &[Column] = &[
    col("id", 6, 0),
    col("username", 12, 2),
    col("email", 18, 3),
    col("role", 6, 0),
    col("status", 8, 0),
    col("last_login", 10, 0),
];

impl Resource for Users {
    fn kind(&self) -> Kind {
        Kind::Users
    }

    fn commands(&self) -> &'static [&'static str] {
        &["users", "user", "usr"]
    }

    fn title_key(&self) -> &'static str {
        "pane.users"
    }

    fn admin_only(&self) -> bool {
        true
    }

    fn columns(&self) -> &'static [Column] {
        COLUMNS
    }

    fn sql_filters(&self) -> &'static [&'static str] {
        UserFilter::KEYS
    }

    fn row_actions(&self) -> &'static [Action] {
        &[Action::Edit, Action::Toggle, Action::Delete]
    }

    fn watched(&self) -> Watched {
        Watched::Users
    }

    fn create_form(&self, _parent: Option<i64>) -> Option<Form> {
        Some(Form::new(
            Kind::Users,
            FormOp::Create,
            "form.user_create",
            vec![
                Field::text("username", "").required(),
                Field::text("email", "").required(),
                Field::secret("password"),
                Field::text("full_name", ""),
                Field::picker("role", &names(UserRole::ALL, UserRole::as_str), "user"),
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
            let f = UserFilter::from_terms(&q.terms, chrono::Utc::now())?;
            let rows = cx
                .svc
                .user_list(cx.actor, &f, id_page(start))
                .await?
                .iter()
                .map(|u| {
                    Row::new(
                        u.id,
                        vec![
                            text(u.id.to_string()),
                            text(u.username.clone()),
                            text(u.email.clone()),
                            text(u.role.as_str()),
                            status(u.status.as_str()),
                            Cell::Rel(u.last_login_at, false),
                        ],
                    )
                    .active(u.status.as_str() == "active")
                })
                .collect();
            Ok(finish(rows, q, true))
        })
    }

    fn load_detail<'a>(&'a self, cx: Cx<'a>, id: i64) -> BoxFuture<'a, ServiceResult<Detail>> {
        Box::pin(async move {
            let u = cx.svc.user_get(cx.actor, &id.to_string()).await?;
            let certs = cx
                .svc
                .cert_list(
                    cx.actor,
                    &CertFilter {
                        user_id: Some(u.id),
                        ..Default::default()
                    },
                    Page::first(1),
                )
                .await?;
            Ok(Detail {
                title: u.username.clone(),
                active: u.status.as_str() == "active",
                tabs: vec![overview(vec![
                    field("id", text(u.id.to_string())),
                    field("username", text(u.username.clone())),
                    field("email", text(u.email.clone())),
                    field("full_name", or_dash(&u.full_name)),
                    field("role", text(u.role.as_str())),
                    field("status", status(u.status.as_str())),
                    field("failed_logins", text(u.failed_login_count.to_string())),
                    field("last_login", Cell::Time(u.last_login_at)),
                    field("has_certificates", Cell::Bool(!certs.is_empty())),
                ])],
            })
        })
    }

    fn edit_form<'a>(&'a self, cx: Cx<'a>, id: i64) -> BoxFuture<'a, ServiceResult<Form>> {
        Box::pin(async move {
            let r = cx.svc.user_get(cx.actor, &id.to_string()).await?;
            Ok(Form::new(
                Kind::Users,
                FormOp::Edit(r.id),
                "form.user_edit",
                vec![
                    Field::text("username", &r.username).locked(),
                    Field::text("email", &r.email).required(),
                    Field::text("full_name", r.full_name.as_deref().unwrap_or("")),
                    Field::picker("role", &names(UserRole::ALL, UserRole::as_str), r.role.as_str()),
                    Field::picker("status", &names(UserStatus::ALL, UserStatus::as_str), r.status.as_str()),
                    Field::secret("password"),
                ],
            ))
        })
    }

    fn submit<'a>(&'a self, cx: Cx<'a>, op: FormOp, v: &'a Values) -> BoxFuture<'a, ServiceResult<Reply>> {
        Box::pin(async move {
            let (s, a) = (cx.svc, cx.actor);
            match op {
                FormOp::Create => {
                    let input = UserInput {
                        username: get(v, "username").to_string(),
                        email: get(v, "email").to_string(),
                        password: opt_s(v, "password"),
                        full_name: opt_s(v, "full_name"),
                        phone: None,
                        role: parse_enum(v, "role")?.unwrap_or(UserRole::User),
                    };
                    let (u, generated) = s.user_create(Some(a), &input).await?;
                    let what = format!("{} (#{})", u.username, u.id);
                    match generated {
                        Some(pw) => Ok(Reply::Secret(
                            "reveal.password",
                            note("done.created", "noun.user", &what),
                            Redacted(pw),
                        )),
                        None => done("done.created", "noun.user", &what),
                    }
                }
                FormOp::Edit(id) => {
                    let changes = UserEdit {
                        email: opt_s(v, "email"),
                        full_name: Some(opt_s(v, "full_name")),
                        role: parse_enum(v, "role")?,
                        status: parse_enum(v, "status")?,
                        ..Default::default()
                    };
                    let u = s.user_update(a, &id.to_string(), &changes).await?;
                    if let Some(pw) = opt_s(v, "password") {
                        s.user_set_password(a, &id.to_string(), None, &pw).await?;
                    }
                    done("done.updated", "noun.user", &u.username)
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
                    s.user_delete(a, &id.to_string()).await?;
                    done("done.deleted", "noun.user", &format!("#{id}"))
                }
                (Action::Toggle, None) => {
                    let u = s.user_get(a, &id.to_string()).await?;
                    let status = if u.status.as_str() == "active" {
                        UserStatus::Inactive
                    } else {
                        UserStatus::Active
                    };
                    // Activating also clears the failed-login count (the service does it).
                    let changes = UserEdit {
                        status: Some(status),
                        ..Default::default()
                    };
                    let u = s.user_update(a, &id.to_string(), &changes).await?;
                    done(on_off(u.status.as_str() == "active"), "noun.user", &u.username)
                }
                (other, _) => Err(self.not_applicable(other)),
            }
        })
    }
}
