//! `cert migrate --from certbot|acme.sh --dir PATH [--server ID]`: the migration report as a
//! table with the details of each lineage below it, or `--json`.

use super::output::{print_json, when, Table};
use crate::domain::acme_clients::AcmeTool;
use crate::service::acme_migrate::{MigrateOutcome, MigrateReport, MigrateSource};
use crate::service::{Actor, Services};

type R<T> = Result<T, String>;

/// Runs a migration and prints its report; fails (exit 1) when a lineage failed.
pub(super) async fn cert_migrate(
    json: bool,
    s: &Services,
    a: &Actor,
    tool: AcmeTool,
    dir: &str,
    server_id: Option<i64>,
) -> R<()> {
    let source = MigrateSource {
        tool,
        dir: dir.to_string(),
        server_id,
    };
    let report = s.acme_migrate(a, &source).await.map_err(|e| e.to_string())?;
    if json {
        print_json(&report);
    } else {
        print!("{}", render(&report));
    }
    match report.count(MigrateOutcome::Failed) {
        0 => Ok(()),
        n => Err(format!("{n} lineage(s) could not be migrated (see above)")),
    }
}

/// The report as text: a summary table, then per lineage its renewal settings and to-dos.
pub(super) fn render(r: &MigrateReport) -> String {
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
    use super::*;
    use crate::service::acme_migrate::{LineageReport, MappedRenewal};

    #[test]
    fn the_command_line_parses() {
        use clap::Parser;
        let c = crate::cli::Cli::try_parse_from([
            "certdeck",
            "cert",
            "migrate",
            "--from",
            "acme.sh",
            "--dir",
            "/root/.acme.sh",
            "--server",
            "3",
        ])
        .unwrap();
        let s = format!("{:?}", c.command);
        assert!(
            s.contains("Migrate") && s.contains("AcmeSh") && s.contains("Some(3)"),
            "{s}"
        );
        let e = crate::cli::Cli::try_parse_from(["certdeck", "cert", "migrate", "--from", "lego", "--dir", "/x"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("use certbot or acme.sh"), "{e}");
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
        let text = render(&MigrateReport {
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
