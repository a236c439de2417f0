//! Detail views: one row with its related rows (a server's groups, configs and deployments; a
//! certificate's deployments and DNS challenges; an alert rule's channel bindings…).

use super::resources::{status_tone, Cell, Kind};
use super::state::{Body, Detail, Link, Tab};
use crate::errors::{ServiceError, ServiceResult};
use crate::service::{Actor, Services};
use crate::store::certificates::CertFilter;
use crate::store::servers::ServerFilter;
use crate::store::Page;

fn f(label: &str, c: Cell) -> (String, Cell) {
    (format!("field.{label}"), c)
}

fn t(s: impl Into<String>) -> Cell {
    Cell::Text(s.into())
}

fn o(s: &Option<String>) -> Cell {
    Cell::Text(s.clone().unwrap_or_else(|| "-".into()))
}

fn st(s: &str) -> Cell {
    Cell::Status(s.to_string(), status_tone(s))
}

fn json(v: &Option<sqlx::types::Json<serde_json::Value>>) -> String {
    v.as_ref()
        .map(|j| serde_json::to_string_pretty(&j.0).unwrap_or_default())
        .unwrap_or_default()
}

fn overview(fields: Vec<(String, Cell)>) -> Tab {
    Tab {
        links: None,
        key: "tab.overview",
        body: Body::Fields(fields),
    }
}

/// The row with this id among a page fetched just below it (lists without a get by id).
fn exact<T>(rows: Vec<T>, id: i64, get_id: impl Fn(&T) -> i64, what: &'static str) -> ServiceResult<T> {
    rows.into_iter()
        .find(|r| get_id(r) == id)
        .ok_or_else(|| ServiceError::not_found(what, id))
}

fn one(id: i64) -> Page {
    Page {
        before_id: Some(id.saturating_add(1)),
        limit: 1,
    }
}

/// Loads the detail of one row.
pub async fn load(svc: &Services, a: &Actor, kind: Kind, id: i64) -> ServiceResult<Detail> {
    Ok(match kind {
        Kind::Certificates => {
            let c = svc.cert_get(a, id).await?;
            let deps = svc.deployment_list(a, Some(id), None).await?;
            let chal = svc.cert_challenges(a, id, Page::first(100)).await?;
            let notes = svc.cert_notes(a, id).await?.unwrap_or_default();
            let domains: Vec<String> = serde_json::from_str(&c.domains).unwrap_or_default();
            Detail {
                title: c.main_domain.clone(),
                active: true,
                tabs: vec![
                    overview(vec![
                        f("id", t(c.id.to_string())),
                        f("name", o(&c.name)),
                        f("domains", t(domains.join(", "))),
                        f("issuer", o(&c.issuer)),
                        f("status", st(c.status.as_str())),
                        f("type", t(c.certificate_type.as_str())),
                        f("key_type", t(c.encryption_type.as_str())),
                        f("issued", Cell::Time(c.issued_at)),
                        f("expires", Cell::Time(c.expires_at)),
                        f("left", Cell::Rel(c.expires_at, true)),
                        f("auto_renew", Cell::Bool(c.auto_renew)),
                        f("renew_before_days", t(c.renew_before_days.to_string())),
                        f("last_renewal", Cell::Time(c.last_renewal_at)),
                        f("owner", t(format!("#{}", c.user_id))),
                    ]),
                    Tab {
                        links: Some((Link::Deployment, deps.iter().map(|d| d.id).collect())),
                        key: "tab.deployments",
                        body: Body::Table(
                            vec![
                                "id",
                                "server",
                                "deploy_path",
                                "status",
                                "auto_deploy",
                                "deployed",
                                "error",
                            ],
                            deps.iter()
                                .map(|d| {
                                    vec![
                                        t(d.id.to_string()),
                                        t(format!("#{}", d.server_id)),
                                        t(d.deploy_path.clone()),
                                        st(d.status.as_str()),
                                        Cell::Bool(d.auto_deploy),
                                        Cell::Rel(d.last_deploy_at, false),
                                        o(&d.error_message),
                                    ]
                                })
                                .collect(),
                        ),
                    },
                    Tab {
                        links: None,
                        key: "tab.challenges",
                        body: Body::Table(
                            vec!["id", "domain", "type", "record", "status", "verified"],
                            chal.iter()
                                .map(|ch| {
                                    vec![
                                        t(ch.id.to_string()),
                                        t(ch.domain.clone()),
                                        t(ch.challenge_type.as_str()),
                                        t(format!("{} {}", ch.record_type, ch.record_name)),
                                        st(ch.status.as_str()),
                                        Cell::Rel(ch.verified_at, false),
                                    ]
                                })
                                .collect(),
                        ),
                    },
                    Tab {
                        links: None,
                        key: "tab.notes",
                        body: Body::Text(notes),
                    },
                ],
            }
        }
        Kind::Servers => {
            let s = svc.server_get(a, id).await?;
            let groups = svc.server_groups_of(a, id).await?;
            let configs = svc.server_configs(a, id).await?;
            let deps = svc.deployment_list(a, None, Some(id)).await?;
            let sites = svc.server_sites(a, id).await?;
            Detail {
                title: s.name.clone().unwrap_or_else(|| s.hostname.clone()),
                active: s.status.as_str() == "active",
                tabs: vec![
                    overview(vec![
                        f("id", t(s.id.to_string())),
                        f("name", o(&s.name)),
                        f("hostname", t(format!("{}:{}", s.hostname, s.port))),
                        f("server_type", t(s.server_type.as_str())),
                        f("auth_type", t(s.auth_type.as_str())),
                        f("username", o(&s.username)),
                        f(
                            "secrets",
                            t([
                                (s.has_password, "password"),
                                (s.has_private_key, "private key"),
                                (s.has_token, "token"),
                            ]
                            .iter()
                            .filter(|(h, _)| *h)
                            .map(|(_, n)| *n)
                            .collect::<Vec<_>>()
                            .join(", ")),
                        ),
                        f("status", st(s.status.as_str())),
                        f(
                            "os",
                            t(format!(
                                "{} {}",
                                s.os_type.clone().unwrap_or_default(),
                                s.os_version.clone().unwrap_or_default()
                            )),
                        ),
                        f("web_server", o(&s.web_server_version)),
                        f("checked", Cell::Rel(s.last_check_at, false)),
                        f("host_key", o(&s.host_key_fingerprint)),
                        f(
                            "jump_server_id",
                            t(s.jump_server_id.map(|j| format!("#{j}")).unwrap_or_default()),
                        ),
                        f("privilege_mode", t(s.privilege_mode.as_str())),
                        f("test_command", o(&s.test_command)),
                        f("reload_command", o(&s.reload_command)),
                        f(
                            "verify_port",
                            t(s.verify_port.map(|p| p.to_string()).unwrap_or_default()),
                        ),
                        f("config_root", o(&s.config_root)),
                    ]),
                    Tab {
                        links: Some((Link::Site, sites.iter().map(|x| x.id).collect())),
                        key: "tab.sites",
                        body: Body::Table(
                            vec!["names", "listen", "tls", "cert_file", "serving", "expires", "managed"],
                            sites
                                .iter()
                                .map(|x| {
                                    vec![
                                        t(x.names().join(" ")),
                                        o(&x.listen),
                                        Cell::Bool(x.tls),
                                        o(&x.cert_path),
                                        t(match (&x.cert_subject, &x.cert_error) {
                                            (Some(subj), _) => {
                                                format!("{subj} #{}", x.cert_serial.clone().unwrap_or_default())
                                            }
                                            (None, Some(e)) => format!("({e})"),
                                            _ => String::new(),
                                        }),
                                        Cell::Rel(x.cert_not_after, true),
                                        t(x.certificate_id.map(|c| format!("#{c}")).unwrap_or_default()),
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
                                .map(|g| vec![t(g.id.to_string()), t(g.name.clone()), o(&g.description)])
                                .collect(),
                        ),
                    },
                    Tab {
                        links: None,
                        key: "tab.configs",
                        body: Body::Table(
                            vec!["id", "type", "path", "active", "updated"],
                            configs
                                .iter()
                                .map(|c| {
                                    vec![
                                        t(c.id.to_string()),
                                        t(c.config_type.as_str()),
                                        t(c.config_path.clone()),
                                        Cell::Bool(c.is_active),
                                        Cell::Rel(Some(c.updated_at), false),
                                    ]
                                })
                                .collect(),
                        ),
                    },
                    Tab {
                        links: None,
                        key: "tab.deployments",
                        body: Body::Table(
                            vec!["id", "certificate", "deploy_path", "status", "deployed", "error"],
                            deps.iter()
                                .map(|d| {
                                    vec![
                                        t(d.id.to_string()),
                                        t(format!("#{}", d.certificate_id)),
                                        t(d.deploy_path.clone()),
                                        st(d.status.as_str()),
                                        Cell::Rel(d.last_deploy_at, false),
                                        o(&d.error_message),
                                    ]
                                })
                                .collect(),
                        ),
                    },
                ],
            }
        }
        Kind::Groups => {
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
            Detail {
                title: g.name.clone(),
                active: true,
                tabs: vec![
                    overview(vec![
                        f("id", t(g.id.to_string())),
                        f("name", t(g.name.clone())),
                        f("description", o(&g.description)),
                        f("servers", t(g.server_count.to_string())),
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
                                        t(s.id.to_string()),
                                        o(&s.name),
                                        t(s.hostname.clone()),
                                        st(s.status.as_str()),
                                    ]
                                })
                                .collect(),
                        ),
                    },
                ],
            }
        }
        Kind::Monitors => {
            let m = svc.monitor_get(a, id).await?;
            Detail {
                title: m.name.clone(),
                active: m.is_active,
                tabs: vec![overview(vec![
                    f("id", t(m.id.to_string())),
                    f("type", t(m.monitor_type.as_str())),
                    f("domain", o(&m.domain)),
                    f(
                        "target",
                        t(m.target_id.map(|x| format!("#{x}")).unwrap_or_else(|| "-".into())),
                    ),
                    f("port", t(m.port.map(|p| p.to_string()).unwrap_or_else(|| "-".into()))),
                    f("check_interval", t(format!("{} s", m.check_interval))),
                    f("status", st(m.status.as_str())),
                    f("message", o(&m.status_message)),
                    f("active", Cell::Bool(m.is_active)),
                    f("checked", Cell::Rel(m.last_check_at, false)),
                    f("next_check", Cell::Rel(m.next_check_at, false)),
                ])],
            }
        }
        Kind::Alerts => {
            let r = svc.alert_get(a, id).await?;
            let bindings = svc.binding_list(a, id).await?;
            Detail {
                title: r.name.clone(),
                active: r.is_active,
                tabs: vec![
                    overview(vec![
                        f("id", t(r.id.to_string())),
                        f("type", t(r.alert_type.as_str())),
                        f(
                            "condition",
                            t(format!("{} {}", r.condition_type.as_str(), r.condition_value)),
                        ),
                        f(
                            "monitor",
                            t(r.monitor_id.map(|x| format!("#{x}")).unwrap_or_else(|| "*".into())),
                        ),
                        f("severity", st(r.severity.as_str())),
                        f("active", Cell::Bool(r.is_active)),
                    ]),
                    Tab {
                        links: Some((Link::Binding, bindings.iter().map(|b| b.channel_id).collect())),
                        key: "tab.bindings",
                        body: Body::Table(
                            vec!["id", "channel", "created"],
                            bindings
                                .iter()
                                .map(|b| {
                                    vec![
                                        t(b.id.to_string()),
                                        t(format!("#{}", b.channel_id)),
                                        Cell::Time(Some(b.created_at)),
                                    ]
                                })
                                .collect(),
                        ),
                    },
                ],
            }
        }
        Kind::History => {
            let h = exact(
                svc.alert_history(a, false, one(id)).await?,
                id,
                |h| h.id,
                "alert history",
            )?;
            Detail {
                title: h.message.clone(),
                active: !h.is_resolved,
                tabs: vec![
                    overview(vec![
                        f("id", t(h.id.to_string())),
                        f("rule", t(format!("#{}", h.alert_id))),
                        f("monitor", t(format!("#{}", h.monitor_id))),
                        f("severity", st(h.severity.as_str())),
                        f("message", t(h.message.clone())),
                        f("state", st(if h.is_resolved { "resolved" } else { "open" })),
                        f("fired", Cell::Time(Some(h.created_at))),
                        f("resolved", Cell::Time(h.resolved_at)),
                    ]),
                    Tab {
                        links: None,
                        key: "tab.data",
                        body: Body::Text(json(&h.data)),
                    },
                ],
            }
        }
        Kind::Channels => {
            let c = svc.channel_get(a, id, false).await?;
            let mut fields = vec![
                f("id", t(c.id.to_string())),
                f("type", t(c.channel_type.as_str())),
                f("active", Cell::Bool(c.is_active)),
                f("created", Cell::Time(Some(c.created_at))),
            ];
            if let Some(m) = c.settings.as_object() {
                for (k, v) in m {
                    let shown = if c.secret_fields.contains(k) {
                        "•••••• (set)".to_string()
                    } else {
                        v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())
                    };
                    fields.push((format!("config.{k}"), t(shown)));
                }
            }
            for k in &c.secret_fields {
                fields.push((format!("config.{k}"), t("•••••• (set)")));
            }
            if let Some(e) = &c.secrets_error {
                fields.push(("secrets".to_string(), t(e.clone())));
            }
            Detail {
                title: c.name.clone(),
                active: c.is_active,
                tabs: vec![overview(fields)],
            }
        }
        Kind::Tasks => {
            let d = svc.task_get(a, id).await?;
            let tk = &d.task;
            Detail {
                title: format!("{} #{}", tk.task_type.as_str(), tk.id),
                active: matches!(tk.status.as_str(), "pending" | "running"),
                tabs: vec![
                    overview(vec![
                        f("id", t(tk.id.to_string())),
                        f("type", t(tk.task_type.as_str())),
                        f("status", st(tk.status.as_str())),
                        f("progress", Cell::Progress(tk.progress)),
                        f(
                            "target",
                            t(match (&tk.target_type, tk.target_id) {
                                (Some(k), Some(i)) => format!("{k} #{i}"),
                                _ => "-".into(),
                            }),
                        ),
                        f("priority", t(tk.priority.to_string())),
                        f(
                            "attempts",
                            t(format!("{} / {}", d.queue.attempts, d.queue.max_attempts)),
                        ),
                        f("worker", o(&d.queue.locked_by)),
                        f("scheduled", Cell::Time(Some(tk.scheduled_at))),
                        f("started", Cell::Time(tk.started_at)),
                        f("completed", Cell::Time(tk.completed_at)),
                        f("error", o(&tk.error_message)),
                    ]),
                    Tab {
                        links: None,
                        key: "tab.logs",
                        body: Body::Text(String::new()),
                    },
                    Tab {
                        links: None,
                        key: "tab.params",
                        body: Body::Text(format!("{}\n{}", json(&tk.params), json(&tk.result))),
                    },
                ],
            }
        }
        Kind::Schedules => {
            let s = svc.schedule_get(a, id).await?;
            Detail {
                title: s.name.clone(),
                active: s.is_active,
                tabs: vec![overview(vec![
                    f("id", t(s.id.to_string())),
                    f("type", t(s.task_type.as_str())),
                    f("cron", t(s.cron_expression.clone())),
                    f("active", Cell::Bool(s.is_active)),
                    f("next_run", Cell::Time(s.next_run_at)),
                    f("last_run", Cell::Time(s.last_run_at)),
                    f("params", t(json(&s.params))),
                ])],
            }
        }
        Kind::Settings => {
            let s = exact(svc.settings_list(a).await?, id, |s| s.id, "setting")?;
            Detail {
                title: s.setting_key.clone(),
                active: true,
                tabs: vec![overview(vec![
                    f("key", t(s.setting_key.clone())),
                    f("value", o(&s.setting_value)),
                    f("type", t(s.setting_type.as_str())),
                    f("description", o(&s.description)),
                    f("system", Cell::Bool(s.is_system)),
                ])],
            }
        }
        Kind::Preferences => {
            let s = exact(svc.user_settings_list(a).await?, id, |s| s.id, "setting")?;
            Detail {
                title: s.setting_key.clone(),
                active: true,
                tabs: vec![overview(vec![
                    f("key", t(s.setting_key.clone())),
                    f("value", o(&s.setting_value)),
                    f("type", t(s.setting_type.as_str())),
                    f("updated", Cell::Time(Some(s.updated_at))),
                ])],
            }
        }
        Kind::Users => {
            let u = svc.user_get(a, &id.to_string()).await?;
            let certs = svc
                .cert_list(
                    a,
                    &CertFilter {
                        user_id: Some(u.id),
                        ..Default::default()
                    },
                    Page::first(1),
                )
                .await?;
            Detail {
                title: u.username.clone(),
                active: u.status.as_str() == "active",
                tabs: vec![overview(vec![
                    f("id", t(u.id.to_string())),
                    f("username", t(u.username.clone())),
                    f("email", t(u.email.clone())),
                    f("full_name", o(&u.full_name)),
                    f("role", t(u.role.as_str())),
                    f("status", st(u.status.as_str())),
                    f("failed_logins", t(u.failed_login_count.to_string())),
                    f("last_login", Cell::Time(u.last_login_at)),
                    f("has_certificates", Cell::Bool(!certs.is_empty())),
                ])],
            }
        }
        Kind::ApiKeys => {
            let k = exact(svc.apikey_list(a, one(id)).await?, id, |k| k.id, "api key")?;
            Detail {
                title: k.key_name.clone(),
                active: k.status.as_str() == "active",
                tabs: vec![overview(vec![
                    f("id", t(k.id.to_string())),
                    f("name", t(k.key_name.clone())),
                    f("key", t(k.api_key.clone())),
                    f("owner", t(format!("#{}", k.user_id))),
                    f("status", st(k.status.as_str())),
                    f("expires", Cell::Time(k.expires_at)),
                    f("last_used", Cell::Time(k.last_used_at)),
                ])],
            }
        }
        Kind::Audit => {
            let e = exact(
                svc.audit_list(a, &Default::default(), one(id)).await?,
                id,
                |e| e.id,
                "audit entry",
            )?;
            Detail {
                title: e.action.clone(),
                active: true,
                tabs: vec![
                    overview(vec![
                        f("time", Cell::Time(Some(e.created_at))),
                        f(
                            "user",
                            t(e.user_id.map(|u| format!("#{u}")).unwrap_or_else(|| "system".into())),
                        ),
                        f("action", t(e.action.clone())),
                        f(
                            "resource",
                            t(format!(
                                "{} {}",
                                e.resource_type.clone().unwrap_or_default(),
                                e.resource_id.map(|i| format!("#{i}")).unwrap_or_default()
                            )),
                        ),
                        f("ip", o(&e.ip_address)),
                        f("user_agent", o(&e.user_agent)),
                    ]),
                    Tab {
                        links: None,
                        key: "tab.data",
                        body: Body::Text(json(&e.details)),
                    },
                ],
            }
        }
    })
}
