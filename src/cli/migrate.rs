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
