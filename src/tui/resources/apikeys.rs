//! API keys: the table, the detail, creating one (the secret is shown once), enable / disable,
//! and revoking one (delete).

use futures::future::BoxFuture;

use super::contract::{Cx, Resource};
use super::model::*;
use super::values::*;
use crate::domain::{ApiKeyPermissions, ApiKeyStatus};
use crate::errors::ServiceResult;
use crate::service::query::Watched;
use crate::tui::action::Action;
use crate::tui::effects::{Query, Redacted, Reply};
use crate::tui::form::names;
use crate::tui::form::{Field, Form, FormOp};
use crate::tui::model::Kind;
use crate::tui::state::{Detail, Link};

/// The API keys pane.
pub struct ApiKeys;

const COLUMNS: &[Column] = &[
    col("id", 6, 0),
    col("name", 14, 2),
    col("key", 20, 2),
    col("owner", 6, 0),
    col("status", 8, 0),
    col("permissions", 10, 0),
    col("expires", 10, 0),
    col("last_used", 10, 0),
];

impl Resource for ApiKeys {
    fn kind(&self) -> Kind {
        Kind::ApiKeys
    }

    fn commands(&self) -> &'static [&'static str] {
        &["apikeys", "keys", "apikey"]
    }

    fn title_key(&self) -> &'static str {
        "pane.apikeys"
    }

    fn columns(&self) -> &'static [Column] {
        COLUMNS
    }

    fn row_actions(&self) -> &'static [Action] {
        &[Action::Toggle, Action::Delete]
    }

    fn watched(&self) -> Watched {
        Watched::ApiKeys
    }

    fn create_form(&self, _parent: Option<i64>) -> Option<Form> {
        Some(Form::new(
            Kind::ApiKeys,
            FormOp::Create,
            "form.apikey_create",
            vec![
                Field::text("name", "").required(),
                Field::number("expires_in_days", "365"),
                Field::picker(
                    "permissions",
                    &names(ApiKeyPermissions::ALL, ApiKeyPermissions::as_str),
                    ApiKeyPermissions::ReadWrite.as_str(),
                ),
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
            let rows = cx
                .svc
                .apikey_list(cx.actor, id_page(start))
                .await?
                .iter()
                .map(|k| {
                    Row::new(
                        k.id,
                        vec![
                            text(k.id.to_string()),
                            text(k.key_name.clone()),
                            text(k.api_key.clone()),
                            text(format!("#{}", k.user_id)),
                            status(k.status.as_str()),
                            text(k.permissions.as_str()),
                            Cell::Rel(k.expires_at, true),
                            Cell::Rel(k.last_used_at, false),
                        ],
                    )
                    .active(k.status.as_str() == "active")
                })
                .collect();
            Ok(finish(rows, q, true))
        })
    }

    fn load_detail<'a>(&'a self, cx: Cx<'a>, id: i64) -> BoxFuture<'a, ServiceResult<Detail>> {
        Box::pin(async move {
            let k = exact(cx.svc.apikey_list(cx.actor, one(id)).await?, id, |k| k.id, "api key")?;
            Ok(Detail {
                title: k.key_name.clone(),
                active: k.status.as_str() == "active",
                tabs: vec![overview(vec![
                    field("id", text(k.id.to_string())),
                    field("name", text(k.key_name.clone())),
                    field("key", text(k.api_key.clone())),
                    field("owner", text(format!("#{}", k.user_id))),
                    field("status", status(k.status.as_str())),
                    field("permissions", text(k.permissions.as_str())),
                    field("expires", Cell::Time(k.expires_at)),
                    field("last_used", Cell::Time(k.last_used_at)),
                ])],
            })
        })
    }

    fn submit<'a>(&'a self, cx: Cx<'a>, op: FormOp, v: &'a Values) -> BoxFuture<'a, ServiceResult<Reply>> {
        Box::pin(async move {
            let FormOp::Create = op else {
                return Err(self.not_applicable(Action::Submit));
            };
            let (k, secret) = cx
                .svc
                .apikey_create(
                    cx.actor,
                    get(v, "name"),
                    num(v, "expires_in_days")?,
                    parse_enum(v, "permissions")?.unwrap_or(ApiKeyPermissions::ReadWrite),
                    None,
                )
                .await?;
            Ok(Reply::Secret(
                "reveal.apikey",
                note("done.created", "noun.apikey", &format!("{} (#{})", k.key_name, k.id)),
                Redacted(format!("{}:{}", k.api_key, secret)),
            ))
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
                    s.apikey_set_status(a, &id.to_string(), ApiKeyStatus::Revoked).await?;
                    done("done.revoked", "noun.apikey", &format!("#{id}"))
                }
                (Action::Toggle, None) => {
                    let k = exact(s.apikey_list(a, one(id)).await?, id, |k| k.id, "api key")?;
                    let to = if k.status == ApiKeyStatus::Active {
                        ApiKeyStatus::Inactive
                    } else {
                        ApiKeyStatus::Active
                    };
                    let k = s.apikey_set_status(a, &id.to_string(), to).await?;
                    done(on_off(k.status == ApiKeyStatus::Active), "noun.apikey", &k.key_name)
                }
                (other, _) => Err(self.not_applicable(other)),
            }
        })
    }
}
