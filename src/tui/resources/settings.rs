//! System settings: the table (whole, not paged), the detail and the edit form of a value.

use futures::future::BoxFuture;

use super::contract::{Cx, Resource};
use super::model::*;
use super::values::*;
use crate::errors::{ServiceError, ServiceResult};
use crate::service::query::Watched;
use crate::tui::action::Action;
use crate::tui::effects::{Query, Reply};
use crate::tui::form::{Field, Form, FormOp};
use crate::tui::model::Kind;
use crate::tui::state::Detail;

/// The system settings pane.
pub struct Settings;

const COLUMNS: &[Column] = &[
    col("key", 26, 2),
    col("value", 16, 3),
    col("type", 7, 0),
    col("description", 20, 4),
];

impl Resource for Settings {
    fn kind(&self) -> Kind {
        Kind::Settings
    }

    fn commands(&self) -> &'static [&'static str] {
        &["settings", "set"]
    }

    fn title_key(&self) -> &'static str {
        "pane.settings"
    }

    fn columns(&self) -> &'static [Column] {
        COLUMNS
    }

    fn row_actions(&self) -> &'static [Action] {
        &[Action::Edit]
    }

    fn watched(&self) -> Watched {
        Watched::Settings
    }

    fn unpaged(&self) -> bool {
        true
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
                .settings_list(cx.actor)
                .await?
                .iter()
                .map(|s| {
                    Row::new(
                        s.id,
                        vec![
                            text(s.setting_key.clone()),
                            opt(&s.setting_value),
                            text(s.setting_type.as_str()),
                            opt(&s.description),
                        ],
                    )
                })
                .collect();
            Ok(finish(rows, q, !self.unpaged()))
        })
    }

    fn load_detail<'a>(&'a self, cx: Cx<'a>, id: i64) -> BoxFuture<'a, ServiceResult<Detail>> {
        Box::pin(async move {
            let s = exact(cx.svc.settings_list(cx.actor).await?, id, |s| s.id, "setting")?;
            Ok(Detail {
                title: s.setting_key.clone(),
                active: true,
                tabs: vec![overview(vec![
                    field("key", text(s.setting_key.clone())),
                    field("value", or_dash(&s.setting_value)),
                    field("type", text(s.setting_type.as_str())),
                    field("description", or_dash(&s.description)),
                    field("system", Cell::Bool(s.is_system)),
                ])],
            })
        })
    }

    fn edit_form<'a>(&'a self, cx: Cx<'a>, id: i64) -> BoxFuture<'a, ServiceResult<Form>> {
        Box::pin(async move {
            let r = cx
                .svc
                .settings_list(cx.actor)
                .await?
                .into_iter()
                .find(|r| r.id == id)
                .ok_or_else(|| ServiceError::not_found("setting", id))?;
            // The key is shown locked and travels with the values.
            Ok(Form::new(
                Kind::Settings,
                FormOp::Edit(r.id),
                "form.setting_edit",
                vec![
                    Field::text("key", &r.setting_key).locked(),
                    Field::text("value", r.setting_value.as_deref().unwrap_or("")),
                ],
            ))
        })
    }

    fn submit<'a>(&'a self, cx: Cx<'a>, op: FormOp, v: &'a Values) -> BoxFuture<'a, ServiceResult<Reply>> {
        Box::pin(async move {
            let FormOp::Edit(_) = op else {
                return Err(self.not_applicable(Action::Submit));
            };
            let r = cx
                .svc
                .setting_set(cx.actor, get(v, "key"), get(v, "value"), None)
                .await?;
            done(
                "done.set",
                "noun.setting",
                &format!("{} = {}", r.setting_key, r.setting_value.unwrap_or_default()),
            )
        })
    }
}
