//! Runs effects on tokio tasks against the service layer and sends the replies back to the
//! loop. Nothing here touches the terminal or the state.

mod actions;
mod submit;

use std::path::PathBuf;

use tokio::sync::mpsc;

use super::action::Action;
use super::details;
use super::effects::{Effect, Note, Reply};
use super::form::Form;
use super::forms;
use super::resources::Kind;
use super::rows;
use super::state::{Link, LogLine};
use crate::errors::ServiceError;
use crate::service::{Actor, Services};
use crate::session::{Resumed, SessionStore};

/// Where the console keeps its session (the same file as `certdeck login`).
#[derive(Debug, Clone)]
pub struct SessionPlace {
    /// The config dir holding `session.json`.
    pub config_dir: PathBuf,
    /// The database's key in it.
    pub db_key: String,
}

/// The effect runner.
#[derive(Clone)]
pub struct Runner {
    svc: Services,
    session: SessionPlace,
    login_user: Option<String>,
    tx: mpsc::Sender<(u64, Reply)>,
}

fn failed(e: ServiceError) -> Reply {
    match e {
        ServiceError::Validation { field, reason } => Reply::Failed(Some(field.clone()), format!("{field}: {reason}")),
        other => Reply::Failed(None, other.to_string()),
    }
}

pub(super) fn invalid_field(field: &str, reason: impl Into<String>) -> ServiceError {
    ServiceError::invalid(field, reason.into())
}

impl Runner {
    /// A runner that sends replies on `tx`.
    pub fn new(
        svc: Services,
        session: SessionPlace,
        login_user: Option<String>,
        tx: mpsc::Sender<(u64, Reply)>,
    ) -> Self {
        Runner {
            svc,
            session,
            login_user,
            tx,
        }
    }

    /// Starts an effect on its own task; its reply comes back on the channel.
    pub fn spawn(&self, effect: Effect, actor: Option<Actor>) {
        let me = self.clone();
        tokio::spawn(async move {
            let (req, reply) = me.run(effect, actor).await;
            let _ = me.tx.send((req, reply)).await;
        });
    }

    /// Runs an effect to its reply (tests call this directly).
    pub async fn run(&self, effect: Effect, actor: Option<Actor>) -> (u64, Reply) {
        match effect {
            Effect::Resume { req } => (req, self.resume().await),
            Effect::Login {
                req,
                username,
                password,
                new_password,
            } => (
                req,
                self.login(&username, &password.0, new_password.as_ref().map(|p| p.0.as_str()))
                    .await,
            ),
            Effect::Logout { req } => (req, self.logout().await),
            other => {
                let req = request_of(&other);
                let Some(actor) = actor else {
                    return (req, Reply::Failed(None, "not logged in".into()));
                };
                let reply = match self.with_actor(other, &actor).await {
                    Ok(r) => r,
                    Err(e) => failed(e),
                };
                (req, reply)
            }
        }
    }

    fn store(&self) -> SessionStore {
        SessionStore::new(&self.session.config_dir)
    }

    async fn resume(&self) -> Reply {
        match self.store().resume(&self.svc, &self.session.db_key).await {
            Ok(Resumed::Actor(actor)) => Reply::LoggedIn(actor),
            Ok(Resumed::Expired { username, .. }) => Reply::NeedLogin(self.login_user.clone().or(Some(username))),
            Ok(Resumed::None) => Reply::NeedLogin(self.login_user.clone()),
            Err(e) => {
                // The refreshed session could not be saved: log in again.
                tracing::warn!(error = %e, "cannot save the refreshed session");
                Reply::NeedLogin(self.login_user.clone())
            }
        }
    }

    async fn login(&self, username: &str, password: &str, new_password: Option<&str>) -> Reply {
        let result = match new_password {
            Some(new) => self.svc.login_with_new_password(username, password, new).await,
            None => self.svc.login(username, password).await,
        };
        match result {
            Ok((actor, session)) => match self.store().put(&self.session.db_key, &session) {
                Ok(()) => Reply::LoggedIn(actor),
                Err(e) => {
                    // The refreshed session could not be saved: log in again.
                    tracing::warn!(error = %e, "cannot save the refreshed session");
                    Reply::NeedLogin(self.login_user.clone())
                }
            },
            Err(crate::errors::ServiceError::PasswordChangeRequired(m)) => Reply::PasswordChangeRequired(m),
            Err(e) => Reply::LoginFailed(e.to_string()),
        }
    }

    async fn logout(&self) -> Reply {
        let store = self.store();
        if let Some(s) = store.get(&self.session.db_key) {
            if let Err(e) = self.svc.logout(&s).await {
                tracing::warn!(error = %e, "logout: revoking the session failed");
            }
            if let Err(e) = store.remove(&self.session.db_key) {
                return Reply::Failed(None, format!("cannot remove the session file: {e}"));
            }
        }
        Reply::LoggedOut
    }

    async fn with_actor(&self, effect: Effect, a: &Actor) -> Result<Reply, ServiceError> {
        let s = &self.svc;
        Ok(match effect {
            Effect::LoadPage {
                kind,
                query,
                page,
                start,
                ..
            } => {
                let (rows, fetched, end) = rows::load(s, a, kind, &query, start).await?;
                Reply::Page {
                    page,
                    rows,
                    fetched,
                    end,
                }
            }
            Effect::Poll { kind, since, .. } => Reply::Changes(s.changes_since(a, kind.watched(), since).await?),
            Effect::LoadDetail { kind, id, .. } => Reply::Detail(Box::new(details::load(s, a, kind, id).await?)),
            Effect::LoadLogs { task, after, .. } => Reply::Logs(
                s.task_logs(a, task, after, 500)
                    .await?
                    .into_iter()
                    .map(|l| LogLine {
                        id: l.id,
                        at: l.created_at,
                        level: l.log_level.as_str().to_string(),
                        message: l.message,
                    })
                    .collect(),
            ),
            Effect::LoadPreferences { .. } => {
                let prefs = s.user_settings_list(a).await?;
                let get = |k: &str| {
                    prefs
                        .iter()
                        .find(|p| p.setting_key == k)
                        .and_then(|p| p.setting_value.clone())
                };
                Reply::Preferences(get("language"), get("timezone"))
            }
            Effect::LoadDashboard { .. } => Reply::Dashboard(Box::new(s.dashboard(a).await?)),
            Effect::OpenEdit { kind, id, .. } => Reply::FormReady(Box::new(self.edit_form(a, kind, id).await?)),
            Effect::Submit { form, values, .. } => self.submit(a, form, &values.0).await?,
            Effect::RowAction {
                action: Action::ImportSite,
                link: Some((Link::Site, site)),
                ..
            } => self.import_site(a, site).await?,
            Effect::RowAction {
                link: Some((link, other)),
                id,
                ..
            } => self.unlink(a, link, id, other).await?,
            Effect::RowAction {
                action, kind, id, arg, ..
            } => self.row_action(a, action, kind, id, arg).await?,
            Effect::ImportSsh { .. } => self.import_ssh(a).await?,
            Effect::Resume { .. } | Effect::Login { .. } | Effect::Logout { .. } => Reply::Failed(None, String::new()),
        })
    }

    async fn edit_form(&self, a: &Actor, kind: Kind, id: i64) -> Result<Form, ServiceError> {
        let s = &self.svc;
        Ok(match kind {
            Kind::Servers => forms::server_edit(&s.server_get(a, id).await?),
            Kind::Groups => forms::group_edit(&s.group_get(a, id).await?),
            Kind::Certificates => {
                let mut f = forms::cert_edit(&s.cert_get(a, id).await?);
                if let Some(notes) = s.cert_notes(a, id).await? {
                    if let Some(field) = f.fields.iter_mut().find(|f| f.name == "notes") {
                        field.input = tui_input::Input::new(notes);
                    }
                }
                f
            }
            Kind::Monitors => forms::monitor_edit(&s.monitor_get(a, id).await?),
            Kind::Alerts => forms::alert_edit(&s.alert_get(a, id).await?),
            Kind::Channels => forms::channel_edit(&s.channel_get(a, id, false).await?),
            Kind::Schedules => forms::schedule_edit(&s.schedule_get(a, id).await?),
            Kind::Settings => {
                let row = s
                    .settings_list(a)
                    .await?
                    .into_iter()
                    .find(|r| r.id == id)
                    .ok_or_else(|| ServiceError::not_found("setting", id))?;
                forms::setting_edit(&row)
            }
            Kind::Preferences => {
                let row = s
                    .user_settings_list(a)
                    .await?
                    .into_iter()
                    .find(|r| r.id == id)
                    .ok_or_else(|| ServiceError::not_found("setting", id))?;
                forms::preference_edit(&row)
            }
            Kind::Users => forms::user_edit(&s.user_get(a, &id.to_string()).await?),
            _ => return Err(ServiceError::Conflict(format!("{kind:?} rows cannot be edited"))),
        })
    }
}

pub(super) fn on_off(active: bool) -> &'static str {
    if active {
        "done.enabled"
    } else {
        "done.disabled"
    }
}

pub(super) fn note(key: &'static str, what: &'static str, name: &str) -> Note {
    Note {
        key,
        what,
        name: name.to_string(),
    }
}

fn request_of(e: &Effect) -> u64 {
    match e {
        Effect::Resume { req }
        | Effect::Login { req, .. }
        | Effect::Logout { req }
        | Effect::LoadPage { req, .. }
        | Effect::LoadDetail { req, .. }
        | Effect::Poll { req, .. }
        | Effect::LoadLogs { req, .. }
        | Effect::LoadDashboard { req }
        | Effect::LoadPreferences { req }
        | Effect::OpenEdit { req, .. }
        | Effect::Submit { req, .. }
        | Effect::RowAction { req, .. }
        | Effect::ImportSsh { req } => *req,
    }
}
