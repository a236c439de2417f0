//! Views of certificates, their deployments, exports and migration reports.

use chrono::{Duration, Utc};

use super::{countdown, opt, when, FieldsView, Table, TableView};
use crate::service::acme_migrate::{MigrateOutcome, MigrateReport};
use crate::service::certificates::Export;
use crate::service::views::{CertificateRow, DeploymentRow};

impl TableView for CertificateRow {
    const HEADERS: &'static [&'static str] = &[
        "ID",
        "MAIN DOMAIN",
        "DOMAINS",
        "TYPE",
        "KEY",
        "STATUS",
        "ISSUER",
        "EXPIRES",
        "IN",
    ];
    fn cells(&self) -> Vec<String> {
        vec![
            self.id.to_string(),
            self.main_domain.clone(),
            self.domain_list().len().to_string(),
            self.certificate_type.to_string(),
            self.encryption_type.to_string(),
            self.status.to_string(),
            opt(&self.issuer),
            when(self.expires_at),
            countdown(self.expires_at),
        ]
    }
}

/// The compact table of certificates expiring soon (`status`): id, domain, expiry, countdown.
pub fn expiring_table(rows: &[CertificateRow]) -> Table {
    let mut t = Table::new(&["ID", "DOMAIN", "EXPIRES", "IN"]);
    for c in rows {
        t.row(vec![
            c.id.to_string(),
            c.main_domain.clone(),
            when(c.expires_at),
            countdown(c.expires_at),
        ]);
    }
    t
}

/// `cert show`: a certificate, its notes and deployments, and (with `--pem`) its PEM.
pub struct CertDetail {
    /// The certificate.
    pub certificate: CertificateRow,
    /// Its notes.
    pub notes: Option<String>,
    /// Its deployments.
    pub deployments: Vec<DeploymentRow>,
    /// Its export, when the PEM was asked for.
    pub pem: Option<Export>,
}

impl serde::Serialize for CertDetail {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serde_json::json!({"certificate": self.certificate, "notes": self.notes, "deployments": self.deployments, "pem": self.pem})
            .serialize(s)
    }
}

impl FieldsView for CertDetail {
    fn fields(&self) -> Vec<(&'static str, String)> {
        let r = &self.certificate;
        vec![
            ("id", r.id.to_string()),
            ("name", opt(&r.name)),
            ("main domain", r.main_domain.clone()),
            ("domains", r.domain_list().join(", ")),
            ("type", r.certificate_type.to_string()),
            ("key", r.encryption_type.to_string()),
            ("status", r.status.to_string()),
            ("issuer", opt(&r.issuer)),
            ("issued", when(r.issued_at)),
            (
                "expires",
                format!("{} ({})", when(r.expires_at), countdown(r.expires_at)),
            ),
            (
                "auto renew",
                format!("{} ({} days before expiry)", r.auto_renew, r.renew_before_days),
            ),
            (
                "deployments",
                self.deployments
                    .iter()
                    .map(|d| format!("#{} server {} {} [{}]", d.id, d.server_id, d.deploy_path, d.status))
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            ("notes", opt(&self.notes)),
        ]
    }
}

impl CertDetail {
    /// The detail lines, then the PEM when asked for.
    pub fn render(&self) -> String {
        let mut out = super::render_fields(&self.fields());
        if let Some(e) = &self.pem {
            out.push_str(&format!("\n{}\n", e.fullchain_pem));
        }
        out
    }
}

/// An export on stdout: the full chain, then the key when revealed.
pub fn export_text(e: &Export) -> String {
    let mut out = e.fullchain_pem.clone();
    if let Some(k) = &e.private_key_pem {
        out.push_str(k);
    }
    out
}

/// A cut-off `days` from now, for `cert list --expiring-within`.
pub fn expiry_horizon(days: i64) -> chrono::DateTime<Utc> {
    Utc::now() + Duration::days(days)
}

impl TableView for DeploymentRow {
    const HEADERS: &'static [&'static str] =
        &["ID", "CERT", "SERVER", "PATH", "STATUS", "AUTO", "LAST DEPLOY", "ERROR"];
    fn cells(&self) -> Vec<String> {
        vec![
            self.id.to_string(),
            self.certificate_id.to_string(),
            self.server_id.to_string(),
            self.deploy_path.clone(),
            self.status.to_string(),
            self.auto_deploy.to_string(),
            when(self.last_deploy_at),
            opt(&self.error_message),
        ]
    }
}

/// The report as text: a summary table, then per lineage its renewal settings and to-dos.
pub fn migrate_report_text(r: &MigrateReport) -> String {
    let mut out = String::new();
    let place = match r.server_id {
        Some(id) => format!("{} on server {id}", r.dir),
        None => r.dir.clone(),
    };
    out.push_str(&format!("{} lineages in {place}\n", r.tool));
    let mut t = Table::new(&[
        "LINEAGE",
        "OUTCOME",
        "CERT",
        "MAIN DOMAIN",
        "EXPIRES",
        "CA",
        "CHALLENGE",
        "KEY",
        "RENEWABLE",
    ]);
    for l in &r.lineages {
        let m = l.renewal.as_ref();
        let s = |v: Option<&String>| v.cloned().unwrap_or_else(|| "-".into());
        t.row(vec![
            l.name.clone(),
            l.outcome.to_string(),
            l.certificate_id.map(|i| i.to_string()).unwrap_or_else(|| "-".into()),
            s(l.main_domain.as_ref()),
            when(l.expires_at),
            s(m.and_then(|m| m.ca.as_ref())),
            s(m.and_then(|m| m.challenge_type.as_ref())),
            s(m.and_then(|m| m.key_type.as_ref())),
            if l.renewable { "yes" } else { "no" }.into(),
        ]);
    }
    out.push_str(&t.render());
    for l in &r.lineages {
        out.push_str(&format!("\n{} ({}): {}\n", l.name, l.config_path, l.outcome));
        if let Some(e) = &l.error {
            out.push_str(&format!("  error: {e}\n"));
        }
        if let Some(m) = &l.renewal {
            if l.outcome == MigrateOutcome::Imported {
                out.push_str(&format!(
                    "  renewal settings {}: contact {} (from {}){}\n",
                    if m.stored { "stored" } else { "not stored" },
                    m.contact_email,
                    m.contact_source,
                    if m.webroots.is_empty() {
                        String::new()
                    } else {
                        format!(", webroot {} (recorded in the report only)", m.webroots.join(", "))
                    }
                ));
            }
        }
        if let Some(w) = &l.not_renewable_reason {
            out.push_str(&format!("  not renewable by certdeck: {w}\n"));
        }
        for u in &l.unmapped {
            out.push_str(&format!("  not migrated: {u}\n"));
        }
        for t in &l.todo {
            out.push_str(&format!("  to do: {t}\n"));
        }
    }
    out.push_str(&format!(
        "\n{} imported, {} already present, {} failed\n",
        r.count(MigrateOutcome::Imported),
        r.count(MigrateOutcome::AlreadyPresent),
        r.count(MigrateOutcome::Failed)
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::super::testing::t0;
    use super::*;
    use crate::domain::acme_clients::AcmeTool;
    use crate::domain::{CertificateStatus, CertificateType, DeploymentStatus, EncryptionType};
    use crate::service::acme_migrate::{LineageReport, MappedRenewal};

    fn cert() -> CertificateRow {
        CertificateRow {
            id: 5,
            user_id: 1,
            name: None,
            domains: r#"["example.com","www.example.com"]"#.into(),
            main_domain: "example.com".into(),
            issuer: Some("R3".into()),
            certificate_type: CertificateType::Single,
            encryption_type: EncryptionType::Ecc,
            status: CertificateStatus::Issued,
            issued_at: Some(t0()),
            expires_at: None,
            auto_renew: true,
            renew_before_days: 30,
            last_renewal_at: None,
            created_at: t0(),
            updated_at: t0(),
        }
    }

    fn deployment() -> DeploymentRow {
        DeploymentRow {
            id: 2,
            certificate_id: 5,
            server_id: 7,
            deploy_path: "/etc/ssl/a.pem".into(),
            config_path: None,
            status: DeploymentStatus::Pending,
            auto_deploy: true,
            last_deploy_at: None,
            error_message: None,
            created_at: t0(),
            updated_at: t0(),
            key_path: None,
            verify_host: None,
            verify_sni: None,
            verify_port: None,
            deployed_serial: None,
        }
    }

    #[test]
    fn the_certificate_table_and_detail() {
        assert_eq!(
            super::super::table(&[cert()]).render(),
            "ID  MAIN DOMAIN  DOMAINS  TYPE    KEY  STATUS  ISSUER  EXPIRES  IN\n\
             5   example.com  2        single  ECC  issued  R3      -        -\n"
        );
        let d = CertDetail {
            certificate: cert(),
            notes: None,
            deployments: vec![deployment()],
            pem: None,
        };
        let text = d.render();
        assert!(text.contains("domains      example.com, www.example.com\n"), "{text}");
        assert!(
            text.contains("deployments  #2 server 7 /etc/ssl/a.pem [pending]\n"),
            "{text}"
        );
        let v = serde_json::to_value(&d).unwrap();
        assert_eq!(v["certificate"]["main_domain"], "example.com");
        assert!(v["pem"].is_null() && v["notes"].is_null());
        assert_eq!(v["deployments"][0]["deploy_path"], "/etc/ssl/a.pem");
    }

    #[test]
    fn the_deployment_table_and_expiring_table() {
        assert_eq!(
            super::super::table(&[deployment()]).render(),
            "ID  CERT  SERVER  PATH            STATUS   AUTO  LAST DEPLOY  ERROR\n2   5     7       /etc/ssl/a.pem  pending  true  -            -\n"
        );
        assert_eq!(
            expiring_table(&[cert()]).render(),
            "ID  DOMAIN       EXPIRES  IN\n5   example.com  -        -\n"
        );
    }

    #[test]
    fn the_report_reads_as_a_table_with_details() {
        let ok = LineageReport {
            name: "example.com".into(),
            config_path: "/etc/letsencrypt/renewal/example.com.conf".into(),
            outcome: MigrateOutcome::Imported,
            certificate_id: Some(7),
            main_domain: Some("example.com".into()),
            domains: vec!["example.com".into()],
            expires_at: None,
            renewal: Some(MappedRenewal {
                ca: Some("letsencrypt".into()),
                directory_url: Some("https://acme-v02.api.letsencrypt.org/directory".into()),
                challenge_type: Some("http-01".into()),
                challenge: None,
                key_type: Some("ec256".into()),
                key_reuse: false,
                preferred_chain: None,
                contact_email: "ops@example.com".into(),
                contact_source: "certbot account abc".into(),
                webroots: vec!["/var/www/html".into()],
                stored: true,
            }),
            renewable: false,
            not_renewable_reason: Some("webroot".into()),
            unmapped: vec![],
            todo: vec!["route the challenges".into()],
            error: None,
        };
        let bad = LineageReport {
            name: "broken".into(),
            config_path: "/etc/letsencrypt/renewal/broken.conf".into(),
            outcome: MigrateOutcome::Failed,
            certificate_id: None,
            main_domain: None,
            domains: vec![],
            expires_at: None,
            renewal: None,
            renewable: false,
            not_renewable_reason: None,
            unmapped: vec![],
            todo: vec![],
            error: Some("the private key file is missing (/x/privkey.pem)".into()),
        };
        let text = migrate_report_text(&MigrateReport {
            tool: AcmeTool::Certbot,
            dir: "/etc/letsencrypt".into(),
            server_id: Some(3),
            lineages: vec![bad, ok],
        });
        assert!(
            text.starts_with("certbot lineages in /etc/letsencrypt on server 3\nLINEAGE"),
            "{text}"
        );
        assert!(text.contains("example.com  imported  7"), "{text}");
        assert!(text.contains("  error: the private key file is missing"), "{text}");
        assert!(text.contains("renewal settings stored: contact ops@example.com (from certbot account abc), webroot /var/www/html (recorded in the report only)"), "{text}");
        assert!(text.contains("  to do: route the challenges"), "{text}");
        assert!(text.ends_with("1 imported, 0 already present, 1 failed\n"), "{text}");
    }
}
