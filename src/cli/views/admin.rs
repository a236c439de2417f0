//! Views of settings, the audit log, the schema, backups, ACME CAs, DNS providers and the
//! `status` summary.

use std::collections::BTreeMap;

use super::{opt, when, TableView};
use crate::service::acme::CaView;
use crate::service::backup::BackupReport;
use crate::service::schema::{MigrationStatus, RollbackReport};
use crate::service::views::{AuditRow, CertificateRow, DnsProviderRow, SettingRow, UserSettingRow};
use crate::service::Actor;

impl TableView for SettingRow {
    const HEADERS: &'static [&'static str] = &["KEY", "VALUE", "TYPE", "SYSTEM", "DESCRIPTION"];
    fn cells(&self) -> Vec<String> {
        vec![
            self.setting_key.clone(),
            opt(&self.setting_value),
            self.setting_type.to_string(),
            self.is_system.to_string(),
            opt(&self.description),
        ]
    }
}

impl TableView for UserSettingRow {
    const HEADERS: &'static [&'static str] = &["KEY", "VALUE", "TYPE"];
    fn cells(&self) -> Vec<String> {
        vec![
            self.setting_key.clone(),
            opt(&self.setting_value),
            self.setting_type.to_string(),
        ]
    }
}

impl TableView for AuditRow {
    const HEADERS: &'static [&'static str] = &["ID", "WHEN", "USER", "ACTION", "RESOURCE", "IP", "DETAILS"];
    fn cells(&self) -> Vec<String> {
        vec![
            self.id.to_string(),
            when(Some(self.created_at)),
            self.user_id.map(|u| u.to_string()).unwrap_or_else(|| "-".into()),
            self.action.clone(),
            format!(
                "{}{}",
                opt(&self.resource_type),
                self.resource_id.map(|i| format!(" #{i}")).unwrap_or_default()
            ),
            opt(&self.ip_address),
            self.details.as_ref().map(|d| d.0.to_string()).unwrap_or_default(),
        ]
    }
}

impl TableView for MigrationStatus {
    const HEADERS: &'static [&'static str] = &["VERSION", "DESCRIPTION", "STATE", "INSTALLED", "CHECKSUM"];
    fn cells(&self) -> Vec<String> {
        let state = if self.dirty {
            "DIRTY"
        } else if self.applied {
            "applied"
        } else {
            "pending"
        };
        let ck = match self.checksum_ok {
            Some(true) => "ok",
            Some(false) => "CHANGED",
            None => "-",
        };
        vec![
            format!("V{}", self.version),
            self.description.clone(),
            state.into(),
            opt(&self.installed_on),
            ck.into(),
        ]
    }
}

/// A written backup as text: the file, its size and rows, and the old backups removed.
pub fn backup_text(r: &BackupReport) -> String {
    let rows: u64 = r.rows.values().sum();
    let mut out = format!(
        "backup written: {} ({} bytes, {rows} rows in {} tables)\n",
        r.path.display(),
        r.bytes,
        r.rows.len()
    );
    for p in &r.pruned {
        out.push_str(&format!("removed old backup {}\n", p.display()));
    }
    out
}

/// A rollback as text: the backup written first, then the versions undone.
pub fn rollback_text(r: &RollbackReport) -> String {
    let mut out = String::new();
    if let Some(b) = &r.backup {
        out.push_str(&format!("backup written: {}\n", b.display()));
    }
    out.push_str(&format!(
        "rolled back {}\n",
        r.undone.iter().map(|v| format!("V{v}")).collect::<Vec<_>>().join(", ")
    ));
    out
}

impl TableView for CaView {
    const HEADERS: &'static [&'static str] = &["CA", "NAME", "DIRECTORY", "EAB", "OWN"];
    fn cells(&self) -> Vec<String> {
        // EAB column: "required" (no credentials yet) or empty.
        vec![
            self.key.clone(),
            self.name.clone(),
            self.directory_url.clone(),
            if self.eab_required {
                "required".into()
            } else {
                String::new()
            },
            if self.custom { "yes".into() } else { String::new() },
        ]
    }
}

impl TableView for DnsProviderRow {
    const HEADERS: &'static [&'static str] = &["ID", "NAME", "TYPE", "SETTINGS"];
    fn cells(&self) -> Vec<String> {
        vec![
            self.id.to_string(),
            self.name.clone(),
            self.provider_type.clone(),
            self.settings.as_ref().map(|j| j.0.to_string()).unwrap_or_default(),
        ]
    }
}

/// `certdeck status`: certificates by status, those expiring within 30 days, and servers.
pub struct Summary {
    /// Who asked.
    pub actor: Actor,
    /// Certificates by status.
    pub counts: Vec<(String, i64)>,
    /// Certificates expiring within 30 days, soonest first.
    pub expiring: Vec<CertificateRow>,
    /// Servers seen (up to 1000).
    pub servers: usize,
}

impl serde::Serialize for Summary {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serde_json::json!({
            "user": self.actor.username, "certificates_by_status": self.counts.iter().map(|(k, v)| (k.clone(), *v)).collect::<BTreeMap<_, _>>(),
            "expiring_within_30_days": self.expiring, "servers": self.servers,
        })
        .serialize(s)
    }
}

impl Summary {
    /// The summary as text.
    pub fn render(&self) -> String {
        let a = &self.actor;
        let mut out = format!(
            "certdeck {} — logged in as {} ({})\n\n",
            env!("CARGO_PKG_VERSION"),
            a.username,
            a.role
        );
        let total: i64 = self.counts.iter().map(|(_, n)| n).sum();
        let by = self
            .counts
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect::<Vec<_>>()
            .join(", ");
        out.push_str(&format!(
            "certificates: {total}{}\n",
            if by.is_empty() {
                String::new()
            } else {
                format!(" ({by})")
            }
        ));
        out.push_str(&format!(
            "servers: {}{}\n",
            self.servers,
            if self.servers == 1000 { "+" } else { "" }
        ));
        if self.expiring.is_empty() {
            out.push_str("no certificate expires within 30 days\n");
        } else {
            out.push_str("\nexpiring within 30 days:\n");
            out.push_str(&super::certs::expiring_table(&self.expiring).render_counted());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::t0;
    use super::*;
    use crate::domain::{SettingType, UserRole};

    #[test]
    fn settings_and_audit_tables() {
        let s = SettingRow {
            id: 1,
            setting_key: "system.timezone".into(),
            setting_value: Some("UTC".into()),
            setting_type: SettingType::String,
            description: None,
            is_system: true,
            created_at: t0(),
            updated_at: t0(),
        };
        assert_eq!(
            super::super::table(&[s]).render(),
            "KEY              VALUE  TYPE    SYSTEM  DESCRIPTION\nsystem.timezone  UTC    string  true    -\n"
        );
        let a = AuditRow {
            id: 8,
            user_id: Some(1),
            action: "server.create".into(),
            resource_type: Some("server".into()),
            resource_id: Some(7),
            details: None,
            ip_address: None,
            user_agent: None,
            created_at: t0(),
        };
        assert_eq!(
            super::super::table(std::slice::from_ref(&a)).render(),
            "ID  WHEN              USER  ACTION         RESOURCE   IP  DETAILS\n\
             8   2026-01-02 03:04  1     server.create  server #7  -\n"
        );
        assert_eq!(serde_json::to_value([a]).unwrap()[0]["action"], "server.create");
    }

    #[test]
    fn schema_status_rows() {
        let rows = [
            MigrationStatus {
                version: 1,
                description: "create base tables".into(),
                applied: true,
                installed_on: Some("2026-01-02".into()),
                checksum_ok: Some(true),
                dirty: false,
            },
            MigrationStatus {
                version: 2,
                description: "x".into(),
                applied: false,
                installed_on: None,
                checksum_ok: None,
                dirty: false,
            },
        ];
        assert_eq!(
            super::super::table(&rows).render(),
            "VERSION  DESCRIPTION         STATE    INSTALLED   CHECKSUM\n\
             V1       create base tables  applied  2026-01-02  ok\n\
             V2       x                   pending  -           -\n"
        );
    }

    #[test]
    fn the_summary_without_certificates() {
        let s = Summary {
            actor: Actor {
                user_id: 1,
                username: "admin".into(),
                role: UserRole::Admin,
                read_only: false,
            },
            counts: vec![],
            expiring: vec![],
            servers: 2,
        };
        let text = s.render();
        assert!(
            text.ends_with("\n\ncertificates: 0\nservers: 2\nno certificate expires within 30 days\n"),
            "{text}"
        );
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!((v["user"].as_str(), v["servers"].as_i64()), (Some("admin"), Some(2)));
        assert!(v["certificates_by_status"].as_object().unwrap().is_empty());
    }
}
