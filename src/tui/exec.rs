//! Runs effects on tokio tasks against the service layer and sends the replies back to the
//! loop. Nothing here touches the terminal or the state.

use std::path::PathBuf;

use tokio::sync::mpsc;

use super::action::Action;
use super::details;
use super::effects::{Effect, Note, Reply};
use super::form::{Form, FormKind};
use super::forms;
use super::resources::Kind;
use super::rows;
use super::state::{Link, LogLine};
use crate::cli::session::SessionStore;
use crate::domain::{ApiKeyStatus, SettingType};
use crate::errors::ServiceError;
use crate::service::certificates::{CertChanges, ImportInput};
use crate::service::monitoring::{AlertInput, MonitorInput};
use crate::service::schedules::ScheduleInput;
use crate::service::servers::ServerInput;
use crate::service::users::UserInput;
use crate::service::{Actor, Services};
use crate::store::users::UserChanges;

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

fn invalid(field: &str, reason: impl Into<String>) -> ServiceError {
    ServiceError::invalid(field, reason.into())
}

type Values = Vec<(&'static str, String)>;

fn get<'a>(v: &'a Values, name: &str) -> &'a str {
    v.iter().find(|(k, _)| *k == name).map(|(_, v)| v.trim()).unwrap_or("")
}

fn opt_s(v: &Values, name: &str) -> Option<String> {
    Some(get(v, name).to_string()).filter(|s| !s.is_empty())
}

fn num(v: &Values, name: &str) -> Result<Option<i64>, ServiceError> {
    let s = get(v, name);
    if s.is_empty() {
        return Ok(None);
    }
    s.parse::<i64>()
        .map(Some)
        .map_err(|_| invalid(name, format!("'{s}' is not a whole number")))
}

fn req_num(v: &Values, name: &str) -> Result<i64, ServiceError> {
    num(v, name)?.ok_or_else(|| invalid(name, "is required"))
}

fn parse_enum<T: std::str::FromStr>(v: &Values, name: &str) -> Result<Option<T>, ServiceError>
where
    T::Err: std::fmt::Display,
{
    let s = get(v, name);
    if s.is_empty() {
        return Ok(None);
    }
    s.parse::<T>().map(Some).map_err(|e| invalid(name, e.to_string()))
}

fn yes(v: &Values, name: &str) -> bool {
    get(v, name) == "yes"
}

fn read_file(field: &str, path: &str) -> Result<Vec<u8>, ServiceError> {
    let p = shellexpand_home(path);
    std::fs::read(&p).map_err(|e| invalid(field, format!("cannot read {}: {e}", p.display())))
}

fn shellexpand_home(p: &str) -> PathBuf {
    match (p.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(p),
    }
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
            } => (req, self.login(&username, &password).await),
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
        let store = self.store();
        let Some(session) = store.get(&self.session.db_key) else {
            return Reply::NeedLogin(self.login_user.clone());
        };
        if let Ok(actor) = self.svc.authenticate(&session.access_token).await {
            return Reply::LoggedIn(actor);
        }
        match self.svc.refresh_session(&session).await {
            Ok((actor, fresh)) => {
                let _ = store.put(&self.session.db_key, &fresh);
                Reply::LoggedIn(actor)
            }
            Err(_) => {
                let _ = store.remove(&self.session.db_key);
                Reply::NeedLogin(self.login_user.clone().or(Some(session.username)))
            }
        }
    }

    async fn login(&self, username: &str, password: &str) -> Reply {
        match self.svc.login(username, password).await {
            Ok((actor, session)) => match self.store().put(&self.session.db_key, &session) {
                Ok(()) => Reply::LoggedIn(actor),
                Err(e) => Reply::LoginFailed(format!("cannot save the session: {e}")),
            },
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
            Effect::Submit { form, values, .. } => self.submit(a, form, &values).await?,
            Effect::RowAction {
                link: Some((link, other)),
                id,
                ..
            } => self.unlink(a, link, id, other).await?,
            Effect::RowAction { action, kind, id, .. } => self.row_action(a, action, kind, id).await?,
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

    async fn submit(&self, a: &Actor, form: FormKind, v: &Values) -> Result<Reply, ServiceError> {
        let s = &self.svc;
        let done = |n: Note| Ok(Reply::Done(n));
        match form {
            FormKind::ServerCreate | FormKind::ServerEdit(_) => {
                let input = ServerInput {
                    name: opt_s(v, "name"),
                    hostname: opt_s(v, "hostname"),
                    port: num(v, "port")?,
                    server_type: parse_enum(v, "server_type")?,
                    auth_type: parse_enum(v, "auth_type")?,
                    username: opt_s(v, "username"),
                    password: opt_s(v, "password"),
                    private_key: match opt_s(v, "private_key") {
                        Some(p) => Some(
                            String::from_utf8(read_file("private_key", &p)?)
                                .map_err(|_| invalid("private_key", "is not a text key file"))?,
                        ),
                        None => None,
                    },
                    token: opt_s(v, "token"),
                    status: parse_enum(v, "status")?,
                };
                if let FormKind::ServerEdit(id) = form {
                    let r = s.server_update(a, id, &input).await?;
                    done(note("done.updated", "noun.server", &r.hostname))
                } else {
                    let r = s.server_create(a, &input).await?;
                    done(note(
                        "done.created",
                        "noun.server",
                        &format!("{} (#{})", r.hostname, r.id),
                    ))
                }
            }
            FormKind::GroupCreate => {
                let g = s
                    .group_create(a, get(v, "name"), opt_s(v, "description").as_deref())
                    .await?;
                done(note("done.created", "noun.group", &format!("{} (#{})", g.name, g.id)))
            }
            FormKind::GroupEdit(id) => {
                let g = s
                    .group_update(a, id, Some(get(v, "name")), Some(get(v, "description")))
                    .await?;
                done(note("done.updated", "noun.group", &g.name))
            }
            FormKind::GroupMemberAdd(group) => {
                let server = req_num(v, "server")?;
                s.group_add_server(a, group, server).await?;
                done(note("done.joined_group", "noun.server", &format!("#{server}")))
            }
            FormKind::ServerJoinGroup(server) => {
                let group = req_num(v, "group")?;
                s.group_add_server(a, group, server).await?;
                done(note("done.joined_group", "noun.server", &format!("#{server}")))
            }
            FormKind::CertImport => {
                let input = ImportInput {
                    name: opt_s(v, "name"),
                    certificate: read_file("certificate", get(v, "certificate"))?,
                    private_key: read_file("private_key", get(v, "private_key"))?,
                    chain: match opt_s(v, "chain") {
                        Some(p) => Some(read_file("chain", &p)?),
                        None => None,
                    },
                    notes: opt_s(v, "notes"),
                };
                let c = s.cert_import(a, &input).await?;
                done(note(
                    "done.imported",
                    "noun.certificate",
                    &format!("{} (#{})", c.main_domain, c.id),
                ))
            }
            FormKind::CertEdit(id) => {
                let c = CertChanges {
                    name: Some(get(v, "name").to_string()),
                    notes: Some(get(v, "notes").to_string()),
                    auto_renew: Some(yes(v, "auto_renew")),
                    renew_before_days: num(v, "renew_before_days")?,
                };
                let r = s.cert_update(a, id, &c).await?;
                done(note("done.updated", "noun.certificate", &r.main_domain))
            }
            FormKind::DeploymentCreate(cert) => {
                let d = s
                    .deployment_create(
                        a,
                        cert,
                        req_num(v, "server")?,
                        get(v, "deploy_path"),
                        opt_s(v, "config_path").as_deref(),
                        yes(v, "auto_deploy"),
                    )
                    .await?;
                done(note("done.created", "noun.deployment", &format!("#{}", d.id)))
            }
            FormKind::MonitorCreate => {
                let input = MonitorInput {
                    name: opt_s(v, "name"),
                    monitor_type: parse_enum(v, "type")?,
                    target_id: num(v, "target")?,
                    domain: opt_s(v, "domain"),
                    port: num(v, "port")?,
                    check_interval: num(v, "check_interval")?,
                    is_active: Some(true),
                };
                let m = s.monitor_create(a, &input).await?;
                done(note("done.created", "noun.monitor", &format!("{} (#{})", m.name, m.id)))
            }
            FormKind::MonitorEdit(id) => {
                let input = MonitorInput {
                    name: opt_s(v, "name"),
                    port: num(v, "port")?,
                    check_interval: num(v, "check_interval")?,
                    is_active: Some(yes(v, "active")),
                    ..Default::default()
                };
                let m = s.monitor_update(a, id, &input).await?;
                done(note("done.updated", "noun.monitor", &m.name))
            }
            FormKind::AlertCreate | FormKind::AlertEdit(_) => {
                let input = AlertInput {
                    name: opt_s(v, "name"),
                    alert_type: parse_enum(v, "type")?,
                    monitor_id: num(v, "monitor")?,
                    condition_type: parse_enum(v, "condition")?,
                    condition_value: opt_s(v, "value"),
                    severity: parse_enum(v, "severity")?,
                    is_active: if let FormKind::AlertEdit(_) = form {
                        Some(yes(v, "active"))
                    } else {
                        Some(true)
                    },
                };
                if let FormKind::AlertEdit(id) = form {
                    let r = s.alert_update(a, id, &input).await?;
                    done(note("done.updated", "noun.alert", &r.name))
                } else {
                    let r = s.alert_create(a, &input).await?;
                    done(note("done.created", "noun.alert", &format!("{} (#{})", r.name, r.id)))
                }
            }
            FormKind::BindingCreate(rule) => {
                s.binding_create(a, rule, req_num(v, "channel")?).await?;
                done(note("done.bound", "noun.alert", &format!("#{rule}")))
            }
            FormKind::ChannelCreate | FormKind::ChannelEdit(_) => {
                let mut fields = forms::parse_pairs("config", get(v, "config")).map_err(|(f, m)| invalid(&f, m))?;
                let secrets =
                    forms::parse_pairs("config_secret", get(v, "config_secret")).map_err(|(f, m)| invalid(&f, m))?;
                let has_secrets = !secrets.is_empty();
                fields.extend(secrets);
                if let FormKind::ChannelEdit(id) = form {
                    // Keep stored secrets unless new ones were typed.
                    let current = s.channel_get(a, id, true).await?;
                    if !has_secrets {
                        if let Some(serde_json::Value::Object(old)) = current.secrets {
                            for (k, val) in old {
                                fields.entry(k).or_insert(val);
                            }
                        }
                    }
                    let c = s
                        .channel_update(
                            a,
                            id,
                            Some(get(v, "name")),
                            Some(&serde_json::Value::Object(fields)),
                            Some(yes(v, "active")),
                        )
                        .await?;
                    done(note("done.updated", "noun.channel", &c.name))
                } else {
                    let t = parse_enum(v, "type")?.ok_or_else(|| invalid("type", "is required"))?;
                    let c = s
                        .channel_create(a, get(v, "name"), t, &serde_json::Value::Object(fields))
                        .await?;
                    done(note("done.created", "noun.channel", &format!("{} (#{})", c.name, c.id)))
                }
            }
            FormKind::ScheduleCreate | FormKind::ScheduleEdit(_) => {
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
                if let FormKind::ScheduleEdit(id) = form {
                    let r = s.schedule_edit(a, id, &input).await?;
                    done(note("done.updated", "noun.schedule", &r.name))
                } else {
                    let r = s.schedule_add(a, &input).await?;
                    done(note(
                        "done.created",
                        "noun.schedule",
                        &format!("{} (#{})", r.name, r.id),
                    ))
                }
            }
            FormKind::SettingEdit(key) => {
                let r = s.setting_set(a, &key, get(v, "value"), None).await?;
                done(note(
                    "done.set",
                    "noun.setting",
                    &format!("{} = {}", r.setting_key, r.setting_value.unwrap_or_default()),
                ))
            }
            FormKind::PreferenceSet => {
                let ty = parse_enum::<SettingType>(v, "setting_type")?.unwrap_or(SettingType::String);
                s.user_setting_set(a, get(v, "key"), get(v, "value"), ty).await?;
                done(note(
                    "done.set",
                    "noun.setting",
                    &format!("{} = {}", get(v, "key"), get(v, "value")),
                ))
            }
            FormKind::UserCreate => {
                let input = UserInput {
                    username: get(v, "username").to_string(),
                    email: get(v, "email").to_string(),
                    password: opt_s(v, "password"),
                    full_name: opt_s(v, "full_name"),
                    phone: None,
                    role: parse_enum(v, "role")?.unwrap_or(crate::domain::UserRole::User),
                };
                let (u, generated) = s.user_create(Some(a), &input).await?;
                match generated {
                    Some(pw) => Ok(Reply::Secret(
                        "reveal.password",
                        note("done.created", "noun.user", &format!("{} (#{})", u.username, u.id)),
                        pw,
                    )),
                    None => done(note(
                        "done.created",
                        "noun.user",
                        &format!("{} (#{})", u.username, u.id),
                    )),
                }
            }
            FormKind::UserEdit(id) => {
                let changes = UserChanges {
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
                done(note("done.updated", "noun.user", &u.username))
            }
            FormKind::ApiKeyCreate => {
                let (k, secret) = s
                    .apikey_create(a, get(v, "name"), num(v, "expires_in_days")?, None)
                    .await?;
                Ok(Reply::Secret(
                    "reveal.apikey",
                    note("done.created", "noun.apikey", &format!("{} (#{})", k.key_name, k.id)),
                    format!("{}:{}", k.api_key, secret),
                ))
            }
        }
    }

    async fn unlink(&self, a: &Actor, link: Link, id: i64, other: i64) -> Result<Reply, ServiceError> {
        let s = &self.svc;
        match link {
            Link::Deployment => {
                s.deployment_delete(a, other).await?;
                Ok(Reply::Done(note(
                    "done.deleted",
                    "noun.deployment",
                    &format!("#{other}"),
                )))
            }
            Link::Binding => {
                s.binding_delete(a, id, other).await?;
                Ok(Reply::Done(note("done.unbound", "noun.channel", &format!("#{other}"))))
            }
            Link::GroupMember => {
                s.group_remove_server(a, id, other).await?;
                Ok(Reply::Done(note(
                    "done.left_group",
                    "noun.server",
                    &format!("#{other}"),
                )))
            }
            Link::ServerGroup => {
                s.group_remove_server(a, other, id).await?;
                Ok(Reply::Done(note("done.left_group", "noun.server", &format!("#{id}"))))
            }
        }
    }

    async fn row_action(&self, a: &Actor, action: Action, kind: Kind, id: i64) -> Result<Reply, ServiceError> {
        let s = &self.svc;
        let done = |n: Note| Ok(Reply::Done(n));
        match (action, kind) {
            (Action::Delete, Kind::Certificates) => {
                s.cert_delete(a, id).await?;
                done(note("done.deleted", "noun.certificate", &format!("#{id}")))
            }
            (Action::Delete, Kind::Servers) => {
                s.server_delete(a, id).await?;
                done(note("done.deleted", "noun.server", &format!("#{id}")))
            }
            (Action::Delete, Kind::Groups) => {
                s.group_delete(a, id).await?;
                done(note("done.deleted", "noun.group", &format!("#{id}")))
            }
            (Action::Delete, Kind::Monitors) => {
                s.monitor_delete(a, id).await?;
                done(note("done.deleted", "noun.monitor", &format!("#{id}")))
            }
            (Action::Delete, Kind::Alerts) => {
                s.alert_delete(a, id).await?;
                done(note("done.deleted", "noun.alert", &format!("#{id}")))
            }
            (Action::Delete, Kind::Channels) => {
                s.channel_delete(a, id).await?;
                done(note("done.deleted", "noun.channel", &format!("#{id}")))
            }
            (Action::Delete, Kind::Users) => {
                s.user_delete(a, &id.to_string()).await?;
                done(note("done.deleted", "noun.user", &format!("#{id}")))
            }
            (Action::Delete, Kind::ApiKeys) => {
                s.apikey_set_status(a, &id.to_string(), ApiKeyStatus::Revoked).await?;
                done(note("done.revoked", "noun.apikey", &format!("#{id}")))
            }
            (Action::Delete, Kind::Preferences) => {
                let key = s
                    .user_settings_list(a)
                    .await?
                    .into_iter()
                    .find(|r| r.id == id)
                    .map(|r| r.setting_key)
                    .ok_or_else(|| ServiceError::not_found("setting", id))?;
                s.user_setting_delete(a, &key).await?;
                done(note("done.removed", "noun.setting", &key))
            }
            (Action::Toggle, Kind::Monitors) => {
                let m = s.monitor_get(a, id).await?;
                let input = MonitorInput {
                    is_active: Some(!m.is_active),
                    ..Default::default()
                };
                let m = s.monitor_update(a, id, &input).await?;
                done(note(on_off(m.is_active), "noun.monitor", &m.name))
            }
            (Action::Toggle, Kind::Alerts) => {
                let r = s.alert_get(a, id).await?;
                let input = AlertInput {
                    is_active: Some(!r.is_active),
                    ..Default::default()
                };
                let r = s.alert_update(a, id, &input).await?;
                done(note(on_off(r.is_active), "noun.alert", &r.name))
            }
            (Action::Toggle, Kind::Channels) => {
                let c = s.channel_get(a, id, false).await?;
                let c = s.channel_update(a, id, None, None, Some(!c.is_active)).await?;
                done(note(on_off(c.is_active), "noun.channel", &c.name))
            }
            (Action::Toggle, Kind::Schedules) => {
                let r = s.schedule_get(a, id).await?;
                let r = s.schedule_set_active(a, id, !r.is_active).await?;
                done(note(on_off(r.is_active), "noun.schedule", &r.name))
            }
            (Action::Toggle, Kind::Users) => {
                let u = s.user_get(a, &id.to_string()).await?;
                let status = if u.status.as_str() == "active" {
                    crate::domain::UserStatus::Inactive
                } else {
                    crate::domain::UserStatus::Active
                };
                let changes = UserChanges {
                    status: Some(status),
                    reset_failed_logins: status == crate::domain::UserStatus::Active,
                    ..Default::default()
                };
                let u = s.user_update(a, &id.to_string(), &changes).await?;
                done(note(on_off(u.status.as_str() == "active"), "noun.user", &u.username))
            }
            (Action::Toggle, Kind::ApiKeys) => {
                let k = s
                    .apikey_list(
                        a,
                        crate::store::Page {
                            before_id: Some(id + 1),
                            limit: 1,
                        },
                    )
                    .await?
                    .into_iter()
                    .find(|k| k.id == id)
                    .ok_or_else(|| ServiceError::not_found("api key", id))?;
                let to = if k.status == ApiKeyStatus::Active {
                    ApiKeyStatus::Inactive
                } else {
                    ApiKeyStatus::Active
                };
                let k = s.apikey_set_status(a, &id.to_string(), to).await?;
                done(note(
                    on_off(k.status == ApiKeyStatus::Active),
                    "noun.apikey",
                    &k.key_name,
                ))
            }
            (Action::RunNow, Kind::Schedules) => {
                let r = s.schedule_run_now(a, id).await?;
                done(note("done.queued", "noun.schedule", &r.name))
            }
            (Action::Retry, Kind::Tasks) => {
                s.task_retry(a, id).await?;
                done(note("done.queued", "noun.task", &format!("#{id}")))
            }
            (Action::CancelTask, Kind::Tasks) => {
                s.task_cancel(a, id).await?;
                done(note("done.cancelled", "noun.task", &format!("#{id}")))
            }
            (Action::Resolve, Kind::History) => {
                s.alert_resolve(a, id).await?;
                done(note("done.resolved", "noun.history", &format!("#{id}")))
            }
            (Action::ShowPem, Kind::Certificates) => {
                let e = s.cert_export(a, id, false).await?;
                Ok(Reply::Secret(
                    "reveal.pem",
                    note("done.shown", "noun.certificate", &format!("#{id}")),
                    e.fullchain_pem,
                ))
            }
            (action, kind) => Err(ServiceError::Conflict(format!(
                "{} does not apply to {kind:?}",
                action.name()
            ))),
        }
    }
}

fn on_off(active: bool) -> &'static str {
    if active {
        "done.enabled"
    } else {
        "done.disabled"
    }
}

fn note(key: &'static str, what: &'static str, name: &str) -> Note {
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
        | Effect::RowAction { req, .. } => *req,
    }
}
