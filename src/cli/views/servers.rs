//! Views of servers, groups, discovered sites, server imports and deploy plans.

use chrono::{DateTime, Utc};

use super::{opt, render_fields, when, FieldsView, Table, TableView};
use crate::domain::agent::{silence, state_key, Silence};
use crate::service::deploy::PlannedHost;
use crate::service::onboarding::ImportLine;
use crate::service::views::{AgentRow, DeploymentRow, GroupRow, ServerConfigRow, ServerRow, SiteRow};

impl TableView for ServerRow {
    const HEADERS: &'static [&'static str] = &[
        "ID", "NAME", "HOST", "PORT", "TYPE", "AUTH", "USER", "STATUS", "CHECKED",
    ];
    fn cells(&self) -> Vec<String> {
        vec![
            self.id.to_string(),
            opt(&self.name),
            self.hostname.clone(),
            self.port.to_string(),
            self.server_type.to_string(),
            self.auth_type.to_string(),
            opt(&self.username),
            self.status.to_string(),
            when(self.last_check_at),
        ]
    }
}

/// `server show`: a server with its groups, stored configs and deployments, and for a token
/// server its agent.
pub struct ServerDetail {
    /// The server.
    pub server: ServerRow,
    /// Its groups.
    pub groups: Vec<GroupRow>,
    /// Configs stored by the last check.
    pub configs: Vec<ServerConfigRow>,
    /// Deployments to it.
    pub deployments: Vec<DeploymentRow>,
    /// Its agent (`None`: not a token server).
    pub agent: Option<AgentRow>,
    /// The time the agent's silence is judged at.
    pub now: DateTime<Utc>,
}

/// The silence of an agent at `now` ([`crate::domain::agent::silence`]).
fn agent_silence(a: &AgentRow, now: DateTime<Utc>) -> Option<Silence> {
    silence(a.last_checkin_at, i64::from(a.interval_seconds), now)
}

/// An agent as JSON: its row, `state` (`checking_in`, `silent`, `not_checked_in`), `silent`
/// and the time it is due again by (`due_by`, null before its first check-in).
pub fn agent_json(a: &AgentRow, now: DateTime<Utc>) -> serde_json::Value {
    let s = agent_silence(a, now);
    let mut v = serde_json::to_value(a).unwrap_or_default();
    v["state"] = serde_json::json!(state_key(s));
    v["silent"] = serde_json::json!(s.is_some_and(|s| s.is_down()));
    v["due_by"] = serde_json::json!(a
        .last_checkin_at
        .map(|t| crate::domain::agent::deadline(t, i64::from(a.interval_seconds))));
    v
}

/// The `server show` lines of an agent.
fn agent_fields(a: &AgentRow, now: DateTime<Utc>) -> Vec<(&'static str, String)> {
    let state = match agent_silence(a, now) {
        None => "checking in".to_string(),
        Some(Silence::NotYetCheckedIn) => "not checked in yet since the server was added".to_string(),
        Some(Silence::Overdue { deadline, .. }) => format!("SILENT (was due by {})", when(Some(deadline))),
    };
    let last = match a.last_checkin_at {
        Some(t) => format!("{} ({})", when(Some(t)), ago(t, now)),
        None => "-".into(),
    };
    vec![
        ("agent", state),
        ("last check-in", last),
        ("agent version", opt(&a.agent_version)),
        ("check-in every", format!("{} s", a.interval_seconds)),
        ("agent address", opt(&a.last_address)),
    ]
}

/// How long before `now` `t` was: "42 s ago", "5 min ago", "3 h ago", "2 d ago".
fn ago(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let s = (now - t).num_seconds().max(0);
    match s {
        0..60 => format!("{s} s ago"),
        60..3600 => format!("{} min ago", s / 60),
        3600..86_400 => format!("{} h ago", s / 3600),
        _ => format!("{} d ago", s / 86_400),
    }
}

impl serde::Serialize for ServerDetail {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serde_json::json!({
            "server": self.server, "groups": self.groups, "configs": self.configs, "deployments": self.deployments,
            "agent": self.agent.as_ref().map(|a| agent_json(a, self.now)),
        })
        .serialize(s)
    }
}

impl FieldsView for ServerDetail {
    fn fields(&self) -> Vec<(&'static str, String)> {
        let r = &self.server;
        let mut f = vec![
            ("id", r.id.to_string()),
            ("name", opt(&r.name)),
            ("host", format!("{}:{}", r.hostname, r.port)),
            ("type", r.server_type.to_string()),
            ("auth", format!("{} as {}", r.auth_type, opt(&r.username))),
            (
                "secrets stored",
                [
                    ("password", r.has_password),
                    ("private key", r.has_private_key),
                    ("token", r.has_token),
                ]
                .iter()
                .filter(|(_, h)| *h)
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(", "),
            ),
            ("status", r.status.to_string()),
            ("os", format!("{} {}", opt(&r.os_type), opt(&r.os_version))),
            ("web server", opt(&r.web_server_version)),
            ("last check", when(r.last_check_at)),
        ];
        if let Some(a) = &self.agent {
            f.extend(agent_fields(a, self.now));
        }
        f.extend([
            (
                "groups",
                self.groups
                    .iter()
                    .map(|g| format!("{} (#{})", g.name, g.id))
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
            ("configs", self.configs.len().to_string()),
            (
                "deployments",
                self.deployments
                    .iter()
                    .map(|d| format!("cert #{} → {} [{}]", d.certificate_id, d.deploy_path, d.status))
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
        ]);
        f
    }
}

/// What `server check` found, after the task's log.
pub fn check_summary(r: &ServerRow) -> Vec<(&'static str, String)> {
    vec![
        ("server", format!("{} ({}:{})", r.id, r.hostname, r.port)),
        ("status", r.status.to_string()),
        ("os", format!("{} {}", opt(&r.os_type), opt(&r.os_version))),
        ("type", r.server_type.to_string()),
        ("web server", opt(&r.web_server_version)),
        ("checked", when(r.last_check_at)),
    ]
}

impl TableView for GroupRow {
    const HEADERS: &'static [&'static str] = &["ID", "NAME", "SERVERS", "DESCRIPTION"];
    fn cells(&self) -> Vec<String> {
        vec![
            self.id.to_string(),
            self.name.clone(),
            self.server_count.to_string(),
            opt(&self.description),
        ]
    }
}

/// `group show`: a group and its member servers.
pub struct GroupDetail {
    /// The group.
    pub group: GroupRow,
    /// Its servers.
    pub servers: Vec<ServerRow>,
}

impl serde::Serialize for GroupDetail {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serde_json::json!({"group": self.group, "servers": self.servers}).serialize(s)
    }
}

impl GroupDetail {
    /// The group's lines, then its members as a compact table (id, host, status).
    pub fn render(&self) -> String {
        let g = &self.group;
        let mut out = render_fields(&[
            ("id", g.id.to_string()),
            ("name", g.name.clone()),
            ("description", opt(&g.description)),
        ]);
        let mut t = Table::new(&["ID", "HOST", "STATUS"]);
        for r in &self.servers {
            t.row(vec![r.id.to_string(), r.hostname.clone(), r.status.to_string()]);
        }
        out.push_str(&t.render_counted());
        out
    }
}

impl TableView for SiteRow {
    const HEADERS: &'static [&'static str] = &[
        "ID",
        "NAMES",
        "LISTEN",
        "TLS",
        "CERTIFICATE FILE",
        "SERVES",
        "EXPIRES",
        "MANAGED",
    ];
    fn cells(&self) -> Vec<String> {
        vec![
            self.id.to_string(),
            self.names().join(" "),
            opt(&self.listen),
            if self.tls { "yes".into() } else { "no".into() },
            opt(&self.cert_path),
            match (&self.cert_subject, &self.cert_error) {
                (Some(subj), _) => format!("{subj} (serial {})", opt(&self.cert_serial)),
                (None, Some(e)) => format!("({e})"),
                _ => String::new(),
            },
            when(self.cert_not_after),
            self.certificate_id.map(|c| format!("cert #{c}")).unwrap_or_default(),
        ]
    }
}

/// The sites of a server as text: a table, or a line saying there are none.
pub fn sites_text(sites: &[SiteRow]) -> String {
    if sites.is_empty() {
        return "no sites found\n".into();
    }
    super::table(sites).render_counted()
}

/// The lines of a server import (stdout) and its summary line (stderr).
pub fn import_text(lines: &[ImportLine]) -> (String, String) {
    let mut out = String::new();
    for l in lines {
        match (&l.added, &l.skipped) {
            (Some(id), _) => out.push_str(&format!("line {:>4}  {:<24}  added (server {id})\n", l.line, l.name)),
            (None, Some(why)) => out.push_str(&format!("line {:>4}  {:<24}  not added: {why}\n", l.line, l.name)),
            (None, None) => out.push_str(&format!("line {:>4}  {:<24}  would be added\n", l.line, l.name)),
        }
    }
    let added = lines.iter().filter(|l| l.added.is_some()).count();
    let skipped = lines.iter().filter(|l| l.skipped.is_some()).count();
    (out, format!("{added} added, {skipped} not added\n"))
}

/// `deploy --plan` as text: per host the files written, the commands run and the check.
pub fn plan_text(plan: &[PlannedHost]) -> String {
    let mut out = String::new();
    for h in plan {
        out.push_str(&format!("deployment {} → {}\n", h.deployment_id, h.server));
        for (f, mode) in &h.files {
            out.push_str(&format!("  write  {f} ({mode}; previous file backed up)\n"));
        }
        for c in &h.commands {
            out.push_str(&format!("  run    {c}\n"));
        }
        out.push_str(&format!("  verify {}\n", h.verify));
        if let Some(b) = &h.blocked {
            out.push_str(&format!("  BLOCKED: {b}\n"));
        }
    }
    out
}

/// The per-host outcome lines of a deploy task's result (`{"hosts": [...]}`).
pub fn deploy_hosts_text(result: &serde_json::Value) -> String {
    let mut out = String::new();
    if let Some(hosts) = result.get("hosts").and_then(|h| h.as_array()) {
        for h in hosts {
            out.push_str(&format!(
                "{:<10} {}  (own step {} ms, host done after {} ms)\n",
                h["status"].as_str().unwrap_or(""),
                h["server"].as_str().unwrap_or(""),
                h["step_ms"],
                h["ms"]
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::testing::t0;
    use super::*;
    use crate::domain::{AuthType, PrivilegeMode, ServerStatus, ServerType};

    pub(crate) fn server() -> ServerRow {
        ServerRow {
            id: 7,
            user_id: 1,
            name: Some("web one".into()),
            hostname: "web1.example.com".into(),
            port: 22,
            server_type: ServerType::Nginx,
            os_type: None,
            os_version: None,
            web_server_version: None,
            auth_type: AuthType::Password,
            username: Some("deploy".into()),
            status: ServerStatus::Active,
            last_check_at: Some(t0()),
            created_at: t0(),
            updated_at: t0(),
            has_password: true,
            has_private_key: false,
            has_token: false,
            has_key_passphrase: false,
            host_key_fingerprint: None,
            jump_server_id: None,
            privilege_mode: PrivilegeMode::None,
            test_command: None,
            reload_command: None,
            verify_port: None,
            config_root: None,
        }
    }

    fn group() -> GroupRow {
        GroupRow {
            id: 3,
            user_id: 1,
            name: "edge".into(),
            description: None,
            created_at: t0(),
            updated_at: t0(),
            server_count: 1,
        }
    }

    #[test]
    fn the_server_table_has_one_line_per_server() {
        assert_eq!(
            super::super::table(&[server()]).render_counted(),
            "ID  NAME     HOST              PORT  TYPE   AUTH      USER    STATUS  CHECKED\n\
             7   web one  web1.example.com  22    nginx  password  deploy  active  2026-01-02 03:04\n\
             (1 row)\n"
        );
    }

    #[test]
    fn server_json_carries_no_secret_and_show_names_what_is_stored() {
        let d = ServerDetail {
            server: server(),
            groups: vec![group()],
            configs: vec![],
            deployments: vec![],
            agent: None,
            now: t0(),
        };
        let v = serde_json::to_value(&d).unwrap();
        assert_eq!(v["agent"], serde_json::Value::Null, "not a token server");
        assert!(!d.fields().iter().any(|(k, _)| k.starts_with("agent")));
        assert_eq!(v["server"]["hostname"], "web1.example.com");
        assert_eq!(v["server"]["has_password"], true);
        assert_eq!(v["groups"][0]["name"], "edge");
        assert!(v["deployments"].as_array().unwrap().is_empty());
        let f = d.fields();
        assert!(f.contains(&("secrets stored", "password".to_string())), "{f:?}");
        assert!(f.contains(&("groups", "edge (#3)".to_string())), "{f:?}");
    }

    #[test]
    fn a_token_server_shows_its_agent_and_says_when_it_is_silent() {
        let mut srv = server();
        srv.auth_type = AuthType::Token;
        let agent = AgentRow {
            server_id: 7,
            agent_version: Some("0.4.0".into()),
            interval_seconds: 300,
            last_checkin_at: Some(t0()),
            last_address: Some("10.0.0.5".into()),
            token_shown_at: None,
        };
        let mut d = ServerDetail {
            server: srv,
            groups: vec![],
            configs: vec![],
            deployments: vec![],
            agent: Some(agent.clone()),
            now: t0() + chrono::Duration::seconds(200),
        };
        let f = d.fields();
        for want in [
            ("agent", "checking in"),
            ("last check-in", "2026-01-02 03:04 (3 min ago)"),
            ("agent version", "0.4.0"),
            ("check-in every", "300 s"),
            ("agent address", "10.0.0.5"),
        ] {
            assert!(f.contains(&(want.0, want.1.to_string())), "{want:?} in {f:?}");
        }
        let v = serde_json::to_value(&d).unwrap();
        assert_eq!(v["agent"]["agent_version"], "0.4.0");
        assert_eq!(v["agent"]["interval_seconds"], 300);
        assert_eq!(v["agent"]["last_address"], "10.0.0.5");
        assert_eq!(v["agent"]["state"], "checking_in");
        assert_eq!(v["agent"]["silent"], false);
        assert_eq!(v["agent"]["due_by"], "2026-01-02T03:11:35Z");

        // Past 300 s + 150 s of grace: silent.
        d.now = t0() + chrono::Duration::seconds(451);
        assert!(d
            .fields()
            .contains(&("agent", "SILENT (was due by 2026-01-02 03:11)".to_string())));
        let v = serde_json::to_value(&d).unwrap();
        assert_eq!(
            (v["agent"]["state"].as_str(), v["agent"]["silent"].as_bool()),
            (Some("silent"), Some(true))
        );

        // Never checked in: said so, not silent.
        d.agent = Some(AgentRow {
            last_checkin_at: None,
            agent_version: None,
            last_address: None,
            ..agent
        });
        let f = d.fields();
        assert!(
            f.contains(&("agent", "not checked in yet since the server was added".to_string())),
            "{f:?}"
        );
        assert!(f.contains(&("last check-in", "-".to_string())), "{f:?}");
        let v = serde_json::to_value(&d).unwrap();
        assert_eq!(v["agent"]["state"], "not_checked_in");
        assert_eq!(v["agent"]["silent"], false);
        assert_eq!(v["agent"]["due_by"], serde_json::Value::Null);
    }

    #[test]
    fn group_views() {
        assert_eq!(
            super::super::table(&[group()]).render(),
            "ID  NAME  SERVERS  DESCRIPTION\n3   edge  1        -\n"
        );
        let d = GroupDetail {
            group: group(),
            servers: vec![server()],
        };
        assert_eq!(
            d.render(),
            "id           3\nname         edge\ndescription  -\nID  HOST              STATUS\n7   web1.example.com  active\n(1 row)\n"
        );
        assert_eq!(serde_json::to_value(&d).unwrap()["servers"][0]["id"], 7);
    }

    #[test]
    fn no_sites_is_said_in_words() {
        assert_eq!(sites_text(&[]), "no sites found\n");
        let site = SiteRow {
            id: 4,
            tls: true,
            ..Default::default()
        };
        let text = sites_text(&[site]);
        assert!(text.starts_with("ID  NAMES  LISTEN  TLS  CERTIFICATE FILE"), "{text}");
        assert!(text.contains("\n4          -       yes  -"), "{text}");
    }

    #[test]
    fn deploy_host_lines() {
        let v = serde_json::json!({"hosts": [{"status": "deployed", "server": "web1", "step_ms": 5, "ms": 9}]});
        assert_eq!(
            deploy_hosts_text(&v),
            "deployed   web1  (own step 5 ms, host done after 9 ms)\n"
        );
    }
}
