//! Submitted forms: the values of a form become the service call of its kind.

use std::path::PathBuf;

use super::{invalid_field as invalid, note, Runner};
use crate::domain::SettingType;
use crate::errors::ServiceError;
use crate::service::certificates::{CertChanges, ImportInput};
use crate::service::monitoring::{AlertInput, MonitorInput};
use crate::service::schedules::ScheduleInput;
use crate::service::servers::ServerInput;
use crate::service::users::UserEdit;
use crate::service::users::UserInput;
use crate::service::Actor;
use crate::tui::effects::{Note, Redacted, Reply};
use crate::tui::form::FormKind;
use crate::tui::forms;

type Values = Vec<(&'static str, String)>;

fn get<'a>(v: &'a Values, name: &str) -> &'a str {
    v.iter().find(|(k, _)| *k == name).map(|(_, v)| v.trim()).unwrap_or("")
}

fn opt_s(v: &Values, name: &str) -> Option<String> {
    Some(get(v, name).to_string()).filter(|s| !s.is_empty())
}

/// The field's value when the form has the field (empty included: it clears a setting).
fn present(v: &Values, name: &str) -> Option<String> {
    v.iter().find(|(k, _)| *k == name).map(|(_, v)| v.trim().to_string())
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
    pub(super) async fn submit(&self, a: &Actor, form: FormKind, v: &Values) -> Result<Reply, ServiceError> {
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
                    // A key file on this host: read through the service's check (admins and
                    // allowed users; audited).
                    private_key: match opt_s(v, "private_key") {
                        Some(p) => Some(s.read_host_key_file(a, &shellexpand_home(&p)).await?),
                        None => None,
                    },
                    token: opt_s(v, "token"),
                    status: parse_enum(v, "status")?,
                    key_passphrase: opt_s(v, "key_passphrase"),
                    jump_server_id: num(v, "jump_server_id")?,
                    privilege_mode: parse_enum(v, "privilege_mode")?,
                    test_command: present(v, "test_command"),
                    reload_command: present(v, "reload_command"),
                    verify_port: num(v, "verify_port")?,
                    config_root: present(v, "config_root"),
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
                    // A key file on this host: through the service's check (admins and
                    // allowed users; audited), like a server's key file.
                    private_key: s
                        .read_host_private_key_file(a, &shellexpand_home(get(v, "private_key")))
                        .await?
                        .into_bytes(),
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
            FormKind::CertRequest => {
                let input = crate::service::acme::RequestInput {
                    domains: get(v, "domains")
                        .split(|c: char| c == ',' || c.is_whitespace())
                        .filter(|d| !d.is_empty())
                        .map(str::to_string)
                        .collect(),
                    ca: get(v, "ca").to_string(),
                    email: opt_s(v, "email"),
                    key: opt_s(v, "key_type"),
                    challenge: get(v, "challenge").to_string(),
                    dns_provider_id: num(v, "dns_provider")?,
                    http_listen: opt_s(v, "http_listen"),
                    http_server_id: num(v, "http_server")?,
                    webroot: opt_s(v, "webroot"),
                    key_reuse: yes(v, "reuse_key"),
                    profile: opt_s(v, "profile"),
                    preferred_chain: opt_s(v, "preferred_chain"),
                    name: opt_s(v, "name"),
                };
                let (c, t) = s.cert_request(a, &input).await?;
                done(note(
                    "done.requested",
                    "noun.certificate",
                    &format!("{} (#{}, task #{})", c.main_domain, c.id, t.id),
                ))
            }
            FormKind::SiteBind(site) => {
                let d = s.site_bind(a, site, req_num(v, "certificate_id")?).await?;
                done(note("done.site_bound", "noun.deployment", &format!("#{}", d.id)))
            }
            FormKind::DeploymentCreate(cert) => {
                let input = crate::service::certificates::DeploymentInput {
                    deploy_path: get(v, "deploy_path").to_string(),
                    config_path: opt_s(v, "config_path"),
                    key_path: opt_s(v, "key_path"),
                    verify_sni: opt_s(v, "verify_sni"),
                    verify_port: num(v, "verify_port")?,
                    auto_deploy: yes(v, "auto_deploy"),
                    ..Default::default()
                };
                let d = s.deployment_create_with(a, cert, req_num(v, "server")?, &input).await?;
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
                    ..Default::default()
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
                fields.extend(secrets);
                if let FormKind::ChannelEdit(id) = form {
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
                        Redacted(pw),
                    )),
                    None => done(note(
                        "done.created",
                        "noun.user",
                        &format!("{} (#{})", u.username, u.id),
                    )),
                }
            }
            FormKind::UserEdit(id) => {
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
                done(note("done.updated", "noun.user", &u.username))
            }
            FormKind::ApiKeyCreate => {
                let (k, secret) = s
                    .apikey_create(a, get(v, "name"), num(v, "expires_in_days")?, None)
                    .await?;
                Ok(Reply::Secret(
                    "reveal.apikey",
                    note("done.created", "noun.apikey", &format!("{} (#{})", k.key_name, k.id)),
                    Redacted(format!("{}:{}", k.api_key, secret)),
                ))
            }
        }
    }
}
