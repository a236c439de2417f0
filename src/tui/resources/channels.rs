//! Notification channels: the table, the detail (secret settings never shown), create / edit
//! forms (plain settings as `key=value; …`, secrets typed apart), enable / disable, test,
//! delete.

use futures::future::BoxFuture;

use super::contract::{Cx, Resource};
use super::model::*;
use super::values::*;
use crate::domain::ChannelType;
use crate::errors::ServiceResult;
use crate::service::query::Watched;
use crate::tui::action::Action;
use crate::tui::effects::{Query, Reply};
use crate::tui::form::{names, yes_no, Field, Form, FormOp, YES_NO};
use crate::tui::model::Kind;
use crate::tui::state::{Detail, Link};

/// The channels pane.
pub struct Channels;

const COLUMNS: &[Column] = &[
    col("id", 6, 0),
    col("name", 16, 3),
    col("type", 8, 0),
    col("active", 6, 0),
    col("created", 16, 0),
];

/// How a stored secret setting is shown.
const SECRET_SET: &str = "•••••• (set)";

impl Resource for Channels {
    fn kind(&self) -> Kind {
        Kind::Channels
    }

    fn commands(&self) -> &'static [&'static str] {
        &["channels", "chan", "channel"]
    }

    fn title_key(&self) -> &'static str {
        "pane.channels"
    }

    fn columns(&self) -> &'static [Column] {
        COLUMNS
    }

    fn row_actions(&self) -> &'static [Action] {
        &[Action::Edit, Action::Toggle, Action::Delete, Action::TestChannel]
    }

    fn watched(&self) -> Watched {
        Watched::Channels
    }

    fn create_form(&self, _parent: Option<i64>) -> Option<Form> {
        Some(Form::new(
            Kind::Channels,
            FormOp::Create,
            "form.channel_create",
            vec![
                Field::text("name", "").required(),
                Field::picker("type", &names(ChannelType::ALL, ChannelType::as_str), "webhook"),
                Field::text("config", ""),
                Field::secret("config_secret"),
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
                .channel_list(cx.actor, id_page(start))
                .await?
                .iter()
                .map(|c| {
                    Row::new(
                        c.id,
                        vec![
                            text(c.id.to_string()),
                            text(c.name.clone()),
                            text(c.channel_type.as_str()),
                            Cell::Bool(c.is_active),
                            Cell::Time(Some(c.created_at)),
                        ],
                    )
                    .active(c.is_active)
                })
                .collect();
            Ok(finish(rows, q, true))
        })
    }

    fn load_detail<'a>(&'a self, cx: Cx<'a>, id: i64) -> BoxFuture<'a, ServiceResult<Detail>> {
        Box::pin(async move {
            let c = cx.svc.channel_get(cx.actor, id, false).await?;
            let mut fields = vec![
                field("id", text(c.id.to_string())),
                field("type", text(c.channel_type.as_str())),
                field("active", Cell::Bool(c.is_active)),
                field("created", Cell::Time(Some(c.created_at))),
            ];
            if let Some(m) = c.settings.as_object() {
                for (k, v) in m {
                    let shown = if c.secret_fields.contains(k) {
                        SECRET_SET.to_string()
                    } else {
                        v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())
                    };
                    fields.push((format!("config.{k}"), text(shown)));
                }
            }
            for k in &c.secret_fields {
                fields.push((format!("config.{k}"), text(SECRET_SET)));
            }
            if let Some(e) = &c.secrets_error {
                fields.push(("secrets".to_string(), text(e.clone())));
            }
            Ok(Detail {
                title: c.name.clone(),
                active: c.is_active,
                tabs: vec![overview(fields)],
            })
        })
    }

    fn edit_form<'a>(&'a self, cx: Cx<'a>, id: i64) -> BoxFuture<'a, ServiceResult<Form>> {
        Box::pin(async move {
            let c = cx.svc.channel_get(cx.actor, id, false).await?;
            // Plain settings as `key=value; …`; secrets are never shown and an empty secret
            // field keeps the stored ones.
            let plain = c
                .settings
                .as_object()
                .map(|m| {
                    m.iter()
                        .filter(|(k, _)| !c.secret_fields.contains(k))
                        .map(|(k, v)| {
                            format!(
                                "{k}={}",
                                v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("; ")
                })
                .unwrap_or_default();
            Ok(Form::new(
                Kind::Channels,
                FormOp::Edit(c.id),
                "form.channel_edit",
                vec![
                    Field::text("name", &c.name).required(),
                    Field::text("config", &plain),
                    Field::secret("config_secret"),
                    Field::picker("active", YES_NO, yes_no(c.is_active)),
                ],
            ))
        })
    }

    fn submit<'a>(&'a self, cx: Cx<'a>, op: FormOp, v: &'a Values) -> BoxFuture<'a, ServiceResult<Reply>> {
        Box::pin(async move {
            let (s, a) = (cx.svc, cx.actor);
            let mut fields = parse_pairs("config", get(v, "config")).map_err(|(f, m)| invalid(&f, m))?;
            let secrets = parse_pairs("config_secret", get(v, "config_secret")).map_err(|(f, m)| invalid(&f, m))?;
            fields.extend(secrets);
            match op {
                FormOp::Edit(id) => {
                    // Stored secrets (webhook URL, headers, keys) not typed again are kept by
                    // the service, without revealing them here.
                    let c = s
                        .channel_update(
                            a,
                            id,
                            Some(get(v, "name")),
                            Some(&serde_json::Value::Object(fields)),
                            Some(yes(v, "active")),
                        )
                        .await?;
                    done("done.updated", "noun.channel", &c.name)
                }
                FormOp::Create => {
                    let t: ChannelType = parse_enum(v, "type")?.ok_or_else(|| invalid("type", "is required"))?;
                    let c = s
                        .channel_create(a, get(v, "name"), t, &serde_json::Value::Object(fields))
                        .await?;
                    done("done.created", "noun.channel", &format!("{} (#{})", c.name, c.id))
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
                    s.channel_delete(a, id).await?;
                    done("done.deleted", "noun.channel", &format!("#{id}"))
                }
                (Action::Toggle, None) => {
                    let c = s.channel_get(a, id, false).await?;
                    let c = s.channel_update(a, id, None, None, Some(!c.is_active)).await?;
                    done(on_off(c.is_active), "noun.channel", &c.name)
                }
                (Action::TestChannel, None) => {
                    let said = s.channel_test(a, id).await?;
                    done("done.tested", "noun.channel", &said)
                }
                (other, _) => Err(self.not_applicable(other)),
            }
        })
    }
}
