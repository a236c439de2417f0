//! The user's own settings (language, timezone…): the table (whole, not paged), the detail, a
//! form that sets one, and removing one.

use futures::future::BoxFuture;

use super::contract::{Cx, Resource};
use super::model::*;
use super::values::*;
use crate::domain::SettingType;
use crate::errors::{ServiceError, ServiceResult};
use crate::service::query::Watched;
use crate::tui::action::Action;
use crate::tui::effects::{Query, Reply};
use crate::tui::form::{names, Field, Form, FormOp};
use crate::tui::model::Kind;
use crate::tui::state::{Detail, Link};

/// The preferences pane.
pub struct Preferences;

const COLUMNS: &[Column] = &[
    col("key", 20, 2),
    col("value", 20, 3),
    col("type", 7, 0),
    col("updated", 10, 0),
];

impl Resource for Preferences {
    fn kind(&self) -> Kind {
        Kind::Preferences
    }

    fn commands(&self) -> &'static [&'static str] {
        &["preferences", "prefs", "me"]
    }

    fn title_key(&self) -> &'static str {
        "pane.preferences"
    }

    fn columns(&self) -> &'static [Column] {
        COLUMNS
    }

    fn row_actions(&self) -> &'static [Action] {
        &[Action::Edit, Action::Delete]
    }

    fn watched(&self) -> Watched {
        Watched::UserSettings
    }

    fn unpaged(&self) -> bool {
        true
    }

    fn create_form(&self, _parent: Option<i64>) -> Option<Form> {
        Some(Form::new(
            Kind::Preferences,
            FormOp::Create,
            "form.preference_set",
            vec![
                Field::text("key", "").required(),
                Field::text("value", ""),
                Field::picker("setting_type", &names(SettingType::ALL, SettingType::as_str), "string"),
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
                .user_settings_list(cx.actor)
                .await?
                .iter()
                .map(|s| {
                    Row::new(
                        s.id,
                        vec![
                            text(s.setting_key.clone()),
                            opt(&s.setting_value),
                            text(s.setting_type.as_str()),
                            Cell::Rel(Some(s.updated_at), false),
                        ],
                    )
                })
                .collect();
            Ok(finish(rows, q, !self.unpaged()))
        })
    }

    fn load_detail<'a>(&'a self, cx: Cx<'a>, id: i64) -> BoxFuture<'a, ServiceResult<Detail>> {
        Box::pin(async move {
            let s = exact(cx.svc.user_settings_list(cx.actor).await?, id, |s| s.id, "setting")?;
            Ok(Detail {
                title: s.setting_key.clone(),
                active: true,
                tabs: vec![overview(vec![
                    field("key", text(s.setting_key.clone())),
                    field("value", or_dash(&s.setting_value)),
                    field("type", text(s.setting_type.as_str())),
                    field("updated", Cell::Time(Some(s.updated_at))),
                ])],
            })
        })
    }

    fn edit_form<'a>(&'a self, cx: Cx<'a>, id: i64) -> BoxFuture<'a, ServiceResult<Form>> {
        Box::pin(async move {
            let r = cx
                .svc
                .user_settings_list(cx.actor)
                .await?
                .into_iter()
                .find(|r| r.id == id)
                .ok_or_else(|| ServiceError::not_found("setting", id))?;
            Ok(Form::new(
                Kind::Preferences,
                FormOp::Edit(r.id),
                "form.preference_set",
                vec![
                    Field::text("key", &r.setting_key).locked(),
                    Field::text("value", r.setting_value.as_deref().unwrap_or("")),
                    Field::picker(
                        "setting_type",
                        &names(SettingType::ALL, SettingType::as_str),
                        r.setting_type.as_str(),
                    ),
                ],
            ))
        })
    }

    fn submit<'a>(&'a self, cx: Cx<'a>, op: FormOp, v: &'a Values) -> BoxFuture<'a, ServiceResult<Reply>> {
        Box::pin(async move {
            let (FormOp::Create | FormOp::Edit(_)) = op else {
                return Err(self.not_applicable(Action::Submit));
            };
            let ty = parse_enum::<SettingType>(v, "setting_type")?.unwrap_or(SettingType::String);
            cx.svc
                .user_setting_set(cx.actor, get(v, "key"), get(v, "value"), ty)
                .await?;
            done(
                "done.set",
                "noun.setting",
                &format!("{} = {}", get(v, "key"), get(v, "value")),
            )
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
                (Action::Delete, None) => {
                    let key = cx
                        .svc
                        .user_settings_list(cx.actor)
                        .await?
                        .into_iter()
                        .find(|r| r.id == id)
                        .map(|r| r.setting_key)
                        .ok_or_else(|| ServiceError::not_found("setting", id))?;
                    cx.svc.user_setting_delete(cx.actor, &key).await?;
                    done("done.removed", "noun.setting", &key)
                }
                (other, _) => Err(self.not_applicable(other)),
            }
        })
    }
}
