//! Servers: the table, the detail with discovered sites, groups, configs and deployments (and a
//! token server's agent: its check-ins, version and whether it is silent), the
//! create / edit forms (a key file on this host read through the service), joining a group,
//! binding a certificate to a discovered site, importing `~/.ssh/config`, and the row actions
//! (check, trust the host key, deploy, delete).

use futures::future::BoxFuture;

use super::contract::{Cx, Resource};
use super::model::*;
use super::values::*;
use crate::domain::agent::{silence, Silence};
use crate::domain::{AuthType, PrivilegeMode, ServerStatus, ServerType, TaskType};
use crate::errors::{ServiceError, ServiceResult};
use crate::service::deploy::DeployTarget;
use crate::service::onboarding::ImportDefaults;
use crate::service::query::Watched;
use crate::service::query::{ListFilter, ServerFilter};
use crate::service::servers::ServerInput;
use crate::service::tasks::TaskInput;
use crate::service::views::AgentRow;
use crate::tui::action::Action;
use crate::tui::effects::{Query, Reply};
use crate::tui::form::{names, Field, Form, FormOp};
use crate::tui::model::Kind;
use crate::tui::state::{Body, Detail, Link, Tab};
use crate::tui::theme::Tone;

/// The servers pane.
pub struct Servers;

const COLUMNS: &[Column] = &[
    col("id", 6, 0),
    col("name", 12, 2),
    col("hostname", 16, 3),
    col("port", 5, 0),
    col("type", 7, 0),
    col("auth", 8, 0),
    col("status", 8, 0),
    col("checked", 10, 0),
];

/// The overview's fields with a token server's agent facts after the last check: its state
/// (`silent` in the error tone when [`crate::domain::agent::silence`] says so), the last
/// check-in (age and time), the agent's version, interval and source address.
fn with_agent(agent: Option<&AgentRow>, mut fields: Vec<(String, Cell)>) -> Vec<(String, Cell)> {
    let Some(a) = agent else { return fields };
    let state = match silence(a.last_checkin_at, i64::from(a.interval_seconds), chrono::Utc::now()) {
        None => Cell::Status("checking in".into(), Tone::Ok),
        Some(Silence::Overdue { .. }) => Cell::Status("silent".into(), Tone::Error),
        Some(Silence::NotYetCheckedIn) => Cell::Status("not checked in yet".into(), Tone::Warn),
    };
    let at = fields
        .iter()
        .position(|(k, _)| k == "field.checked")
        .map_or(fields.len(), |i| i + 1);
    let tail = fields.split_off(at);
    fields.extend([
        field("agent", state),
        field("agent_checkin", Cell::Rel(a.last_checkin_at, false)),
        field("agent_checkin_at", Cell::Time(a.last_checkin_at)),
        field("agent_version", or_dash(&a.agent_version)),
        field("agent_interval", text(format!("{} s", a.interval_seconds))),
        field("agent_address", or_dash(&a.last_address)),
    ]);
    fields.extend(tail);
    fields
}

/// Binds a managed certificate to a site discovered on a server.
pub fn site_bind_form(site: i64) -> Form {
    Form::new(
        Kind::Servers,
        FormOp::OnLink(Link::Site, site),
        "form.site_bind",
        vec![Field::number("certificate_id", "").required()],
    )
}

/// Imports servers from the operator's `~/.ssh/config` and shows the per-line report.
pub async fn import_ssh_config(cx: Cx<'_>) -> ServiceResult<Reply> {
    let path = directories::BaseDirs::new()
        .map(|b| b.home_dir().join(".ssh/config"))
        .ok_or_else(|| ServiceError::invalid("file", "no home directory"))?;
    let text = std::fs::read_to_string(&path)
        .map_err(|e| ServiceError::invalid("file", format!("cannot read {}: {e}", path.display())))?;
    let lines = cx
        .svc
        .servers_import_ssh_config(cx.actor, &text, &ImportDefaults::default())
        .await?;
    let added = lines.iter().filter(|l| l.added.is_some()).count();
    let report = lines
        .iter()
        .map(|l| match (&l.added, &l.skipped) {
            (Some(id), _) => format!("{:>4}  {:<20} + server #{id}", l.line, l.name),
            (None, Some(why)) => format!("{:>4}  {:<20} - {why}", l.line, l.name),
            (None, None) => format!("{:>4}  {}", l.line, l.name),
        })
        .collect::<Vec<_>>()
        .join("\n");
    Ok(Reply::Report(
        "report.import",
        note("done.imported", "noun.servers", &format!("{added}/{}", lines.len())),
        if report.is_empty() {
            path.display().to_string()
        } else {
            report
        },
    ))
}

impl Resource for Servers {
    fn kind(&self) -> Kind {
        Kind::Servers
    }

    fn commands(&self) -> &'static [&'static str] {
        &["servers", "srv", "server"]
    }

    fn title_key(&self) -> &'static str {
        "pane.servers"
    }

    fn columns(&self) -> &'static [Column] {
        COLUMNS
    }

    fn sql_filters(&self) -> &'static [&'static str] {
        ServerFilter::KEYS
    }

    fn row_actions(&self) -> &'static [Action] {
        &[
            Action::Edit,
            Action::Delete,
            Action::Check,
            Action::TrustHostKey,
            Action::Deploy,
        ]
    }

    fn watched(&self) -> Watched {
        Watched::Servers
    }

    fn create_form(&self, parent: Option<i64>) -> Option<Form> {
        Some(match parent {
            Some(server) => Form::new(
                Kind::Servers,
                FormOp::Add(server),
                "form.server_join_group",
                vec![Field::number("group", "").required()],
            ),
            None => Form::new(
                Kind::Servers,
                FormOp::Create,
                "form.server_create",
                vec![
                    Field::text("name", ""),
                    Field::text("hostname", "").required(),
                    Field::number("port", "22"),
                    Field::picker("server_type", &names(ServerType::ALL, ServerType::as_str), "nginx"),
                    Field::picker("auth_type", &names(AuthType::ALL, AuthType::as_str), "password"),
                    Field::text("username", "root"),
                    Field::secret("password"),
                    Field::text("private_key", ""),
                    Field::secret("key_passphrase"),
                    Field::secret("token"),
                    Field::number("jump_server_id", ""),
                    Field::picker(
                        "privilege_mode",
                        &names(PrivilegeMode::ALL, PrivilegeMode::as_str),
                        "none",
                    ),
                    Field::text("test_command", ""),
                    Field::text("reload_command", ""),
                    Field::number("verify_port", ""),
                    Field::text("config_root", ""),
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
            let f = ServerFilter::from_terms(&q.terms, chrono::Utc::now())?;
            let servers = cx.svc.server_list(cx.actor, &f, id_page(start)).await?;
            let tokens: Vec<i64> = servers
                .iter()
                .filter(|s| s.auth_type == AuthType::Token)
                .map(|s| s.id)
                .collect();
            let agents = cx.svc.server_agents(cx.actor, &tokens).await?;
            let rows = servers
                .iter()
                .map(|s| {
                    // A token server was last heard of at its agent's check-in.
                    let checked = match agents.get(&s.id) {
                        Some(a) => a.last_checkin_at,
                        None => s.last_check_at,
                    };
                    Row::new(
                        s.id,
                        vec![
                            text(s.id.to_string()),
                            opt(&s.name),
                            text(s.hostname.clone()),
                            text(s.port.to_string()),
                            text(s.server_type.as_str()),
                            text(s.auth_type.as_str()),
                            status(s.status.as_str()),
                            Cell::Rel(checked, false),
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
            let s = svc.server_get(a, id).await?;
            let groups = svc.server_groups_of(a, id).await?;
            let configs = svc.server_configs(a, id).await?;
            let deps = svc.deployment_list(a, None, Some(id)).await?;
            let sites = svc.server_sites(a, id).await?;
            let agent = svc.server_agent(a, id).await?;
            Ok(Detail {
                title: s.name.clone().unwrap_or_else(|| s.hostname.clone()),
                active: s.status.as_str() == "active",
                tabs: vec![
                    overview(with_agent(
                        agent.as_ref(),
                        vec![
                            field("id", text(s.id.to_string())),
                            field("name", or_dash(&s.name)),
                            field("hostname", text(format!("{}:{}", s.hostname, s.port))),
                            field("server_type", text(s.server_type.as_str())),
                            field("auth_type", text(s.auth_type.as_str())),
                            field("username", or_dash(&s.username)),
                            field(
                                "secrets",
                                text(
                                    [
                                        (s.has_password, "password"),
                                        (s.has_private_key, "private key"),
                                        (s.has_token, "token"),
                                    ]
                                    .iter()
                                    .filter(|(h, _)| *h)
                                    .map(|(_, n)| *n)
                                    .collect::<Vec<_>>()
                                    .join(", "),
                                ),
                            ),
                            field("status", status(s.status.as_str())),
                            field(
                                "os",
                                text(format!(
                                    "{} {}",
                                    s.os_type.clone().unwrap_or_default(),
                                    s.os_version.clone().unwrap_or_default()
                                )),
                            ),
                            field("web_server", or_dash(&s.web_server_version)),
                            field("checked", Cell::Rel(s.last_check_at, false)),
                            field("host_key", or_dash(&s.host_key_fingerprint)),
                            field(
                                "jump_server_id",
                                text(s.jump_server_id.map(|j| format!("#{j}")).unwrap_or_default()),
                            ),
                            field("privilege_mode", text(s.privilege_mode.as_str())),
                            field("test_command", or_dash(&s.test_command)),
                            field("reload_command", or_dash(&s.reload_command)),
                            field(
                                "verify_port",
                                text(s.verify_port.map(|p| p.to_string()).unwrap_or_default()),
                            ),
                            field("config_root", or_dash(&s.config_root)),
                        ],
                    )),
                    Tab {
                        links: Some((Link::Site, sites.iter().map(|x| x.id).collect())),
                        key: "tab.sites",
                        body: Body::Table(
                            vec!["names", "listen", "tls", "cert_file", "serving", "expires", "managed"],
                            sites
                                .iter()
                                .map(|x| {
                                    vec![
                                        text(x.names().join(" ")),
                                        or_dash(&x.listen),
                                        Cell::Bool(x.tls),
                                        or_dash(&x.cert_path),
                                        text(match (&x.cert_subject, &x.cert_error) {
                                            (Some(subj), _) => {
                                                format!("{subj} #{}", x.cert_serial.clone().unwrap_or_default())
                                            }
                                            (None, Some(e)) => format!("({e})"),
                                            _ => String::new(),
                                        }),
                                        Cell::Rel(x.cert_not_after, true),
                                        text(x.certificate_id.map(|c| format!("#{c}")).unwrap_or_default()),
                                    ]
                                })
                                .collect(),
                        ),
                    },
                    Tab {
                        links: Some((Link::ServerGroup, groups.iter().map(|g| g.id).collect())),
                        key: "tab.groups",
                        body: Body::Table(
                            vec!["id", "name", "description"],
                            groups
                                .iter()
                                .map(|g| vec![text(g.id.to_string()), text(g.name.clone()), or_dash(&g.description)])
                                .collect(),
                        ),
                    },
                    tab(
                        "tab.configs",
                        Body::Table(
                            vec!["id", "type", "path", "active", "updated"],
                            configs
                                .iter()
                                .map(|c| {
                                    vec![
                                        text(c.id.to_string()),
                                        text(c.config_type.as_str()),
                                        text(c.config_path.clone()),
                                        Cell::Bool(c.is_active),
                                        Cell::Rel(Some(c.updated_at), false),
                                    ]
                                })
                                .collect(),
                        ),
                    ),
                    tab(
                        "tab.deployments",
                        Body::Table(
                            vec!["id", "certificate", "deploy_path", "status", "deployed", "error"],
                            deps.iter()
                                .map(|d| {
                                    vec![
                                        text(d.id.to_string()),
                                        text(format!("#{}", d.certificate_id)),
                                        text(d.deploy_path.clone()),
                                        status(d.status.as_str()),
                                        Cell::Rel(d.last_deploy_at, false),
                                        or_dash(&d.error_message),
                                    ]
                                })
                                .collect(),
                        ),
                    ),
                ],
            })
        })
    }

    fn edit_form<'a>(&'a self, cx: Cx<'a>, id: i64) -> BoxFuture<'a, ServiceResult<Form>> {
        Box::pin(async move {
            let r = cx.svc.server_get(cx.actor, id).await?;
            Ok(Form::new(
                Kind::Servers,
                FormOp::Edit(r.id),
                "form.server_edit",
                vec![
                    Field::text("name", r.name.as_deref().unwrap_or("")),
                    Field::text("hostname", &r.hostname).required(),
                    Field::number("port", &r.port.to_string()),
                    Field::picker(
                        "server_type",
                        &names(ServerType::ALL, ServerType::as_str),
                        r.server_type.as_str(),
                    ),
                    Field::picker(
                        "auth_type",
                        &names(AuthType::ALL, AuthType::as_str),
                        r.auth_type.as_str(),
                    ),
                    Field::text("username", r.username.as_deref().unwrap_or("")),
                    Field::secret("password"),
                    Field::text("private_key", ""),
                    Field::secret("key_passphrase"),
                    Field::secret("token"),
                    Field::picker(
                        "status",
                        &names(ServerStatus::ALL, ServerStatus::as_str),
                        r.status.as_str(),
                    ),
                    Field::number(
                        "jump_server_id",
                        &r.jump_server_id.map(|j| j.to_string()).unwrap_or_default(),
                    ),
                    Field::picker(
                        "privilege_mode",
                        &names(PrivilegeMode::ALL, PrivilegeMode::as_str),
                        r.privilege_mode.as_str(),
                    ),
                    Field::text("test_command", r.test_command.as_deref().unwrap_or("")),
                    Field::text("reload_command", r.reload_command.as_deref().unwrap_or("")),
                    Field::number("verify_port", &r.verify_port.map(|p| p.to_string()).unwrap_or_default()),
                    Field::text("config_root", r.config_root.as_deref().unwrap_or("")),
                ],
            ))
        })
    }

    fn submit<'a>(&'a self, cx: Cx<'a>, op: FormOp, v: &'a Values) -> BoxFuture<'a, ServiceResult<Reply>> {
        Box::pin(async move {
            let (s, a) = (cx.svc, cx.actor);
            match op {
                FormOp::Create | FormOp::Edit(_) => {
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
                    if let FormOp::Edit(id) = op {
                        let r = s.server_update(a, id, &input).await?;
                        done("done.updated", "noun.server", &r.hostname)
                    } else {
                        let r = s.server_create(a, &input).await?;
                        done("done.created", "noun.server", &format!("{} (#{})", r.hostname, r.id))
                    }
                }
                FormOp::Add(server) => {
                    let group = req_num(v, "group")?;
                    s.group_add_server(a, group, server).await?;
                    done("done.joined_group", "noun.server", &format!("#{server}"))
                }
                FormOp::OnLink(Link::Site, site) => {
                    let d = s.site_bind(a, site, req_num(v, "certificate_id")?).await?;
                    done("done.site_bound", "noun.deployment", &format!("#{}", d.id))
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
        arg: Option<String>,
    ) -> BoxFuture<'a, ServiceResult<Reply>> {
        Box::pin(async move {
            let (s, a) = (cx.svc, cx.actor);
            match (action, link) {
                (Action::ImportSite, Some((Link::Site, site))) => {
                    let (c, _) = s.site_import(a, site).await?;
                    return done(
                        "done.imported",
                        "noun.certificate",
                        &format!("{} (#{})", c.main_domain, c.id),
                    );
                }
                (_, Some((Link::Site, _))) => {
                    return Err(ServiceError::Conflict(
                        "a discovered site is not removed here: the next check finds the config files again".into(),
                    ))
                }
                (_, Some((Link::ServerGroup, group))) => {
                    s.group_remove_server(a, group, id).await?;
                    return done("done.left_group", "noun.server", &format!("#{id}"));
                }
                (_, Some(_)) => return Err(self.not_applicable(action)),
                (_, None) => {}
            }
            match action {
                Action::Delete => {
                    s.server_delete(a, id).await?;
                    done("done.deleted", "noun.server", &format!("#{id}"))
                }
                Action::Check => {
                    let t = s
                        .task_enqueue(
                            a,
                            &TaskInput {
                                task_type: Some(TaskType::ServerCheck),
                                priority: Some(8),
                                target_type: Some("server".into()),
                                target_id: Some(id),
                                max_attempts: Some(3),
                                ..Default::default()
                            },
                        )
                        .await?;
                    done("done.queued", "noun.server_check", &format!("#{}", t.id))
                }
                Action::TrustHostKey => match arg {
                    // Second step: the operator saw this fingerprint and confirmed it.
                    Some(fp) => {
                        s.server_trust_host_key(a, id, &fp).await?;
                        done("done.trusted", "noun.server", &fp)
                    }
                    None => {
                        let c = s.server_host_key(a, id).await?;
                        let label = match &c.stored {
                            Some(old) if *old == c.presented => format!("{} (already trusted)", c.presented),
                            Some(old) => format!("{} — CHANGED, was {old}", c.presented),
                            None => c.presented.clone(),
                        };
                        Ok(Reply::AskHostKey {
                            id,
                            label,
                            presented: c.presented,
                        })
                    }
                },
                Action::Deploy => {
                    let mut certs: Vec<i64> = s
                        .deployment_list(a, None, Some(id))
                        .await?
                        .into_iter()
                        .map(|d| d.certificate_id)
                        .collect();
                    certs.sort_unstable();
                    certs.dedup();
                    if certs.is_empty() {
                        return Err(ServiceError::invalid(
                            "server",
                            "no certificate is bound to this server: bind one from the certificate's deployments tab",
                        ));
                    }
                    let mut ids = Vec::new();
                    for c in certs {
                        ids.push(format!(
                            "#{}",
                            s.deploy_enqueue(a, c, DeployTarget::Server(id)).await?.id
                        ));
                    }
                    done("done.queued", "noun.deploy", &ids.join(", "))
                }
                other => Err(self.not_applicable(other)),
            }
        })
    }
}
