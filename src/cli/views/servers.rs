//! Views of servers, groups, discovered sites, server imports and deploy plans.

use super::{opt, render_fields, when, FieldsView, Table, TableView};
use crate::service::deploy::PlannedHost;
use crate::service::onboarding::ImportLine;
use crate::service::views::{DeploymentRow, GroupRow, ServerConfigRow, ServerRow, SiteRow};

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

/// `server show`: a server with its groups, stored configs and deployments.
pub struct ServerDetail {
    /// The server.
    pub server: ServerRow,
    /// Its groups.
    pub groups: Vec<GroupRow>,
    /// Configs stored by the last check.
    pub configs: Vec<ServerConfigRow>,
    /// Deployments to it.
    pub deployments: Vec<DeploymentRow>,
}

impl serde::Serialize for ServerDetail {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serde_json::json!({"server": self.server, "groups": self.groups, "configs": self.configs, "deployments": self.deployments})
            .serialize(s)
    }
}

impl FieldsView for ServerDetail {
    fn fields(&self) -> Vec<(&'static str, String)> {
        let r = &self.server;
        vec![
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
        ]
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
        };
        let v = serde_json::to_value(&d).unwrap();
        assert_eq!(v["server"]["hostname"], "web1.example.com");
        assert_eq!(v["server"]["has_password"], true);
        assert_eq!(v["groups"][0]["name"], "edge");
        assert!(v["deployments"].as_array().unwrap().is_empty());
        let f = d.fields();
        assert!(f.contains(&("secrets stored", "password".to_string())), "{f:?}");
        assert!(f.contains(&("groups", "edge (#3)".to_string())), "{f:?}");
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
