//! The SSH work on servers: `server check | trust-hostkey | sites | site-import | site-bind |
//! config | import-ssh-config | import-csv`. A check is a task: the CLI queues one and, unless
//! `--no-wait`, runs it in this process at once (see [`super::task::run_task`]).

use std::io::IsTerminal;

use super::server_args::{ImportArgs, ServerCmd};
use super::task::run_task;
use crate::cli::error::{CliError, CliResult};
use crate::cli::views;
use crate::cli::views::{print_fields, print_json};
use crate::service::onboarding::{ImportDefaults, ImportLine};
use crate::service::{Actor, Services};

fn print_import(json: bool, lines: &[ImportLine]) {
    if json {
        print_json(lines);
        return;
    }
    let (out, summary) = views::servers::import_text(lines);
    print!("{out}");
    eprint!("{summary}");
}

fn import_defaults(o: &ImportArgs) -> CliResult<ImportDefaults> {
    Ok(ImportDefaults {
        server_type: o
            .server_type
            .as_deref()
            .map(str::parse)
            .transpose()
            .map_err(|e| CliError::Invalid(format!("{e}")))?,
        privilege_mode: o
            .privilege
            .as_deref()
            .map(str::parse)
            .transpose()
            .map_err(|e| CliError::Invalid(format!("{e}")))?,
        dry_run: o.dry_run,
    })
}

/// Runs the SSH subcommands of `server`.
pub(crate) async fn run(json: bool, s: &Services, a: &Actor, c: &ServerCmd) -> CliResult<()> {
    match c {
        ServerCmd::Check { id, no_wait } => {
            // Interactive: report a failure now rather than retry in the background.
            let t = s.server_check_enqueue(a, *id, if *no_wait { 3 } else { 1 }).await?;
            if *no_wait {
                println!("queued server_check task {}", t.id);
                return Ok(());
            }
            run_task(json, s, a, t.id).await?;
            if !json {
                let r = s.server_get(a, *id).await?;
                print_fields(&views::servers::check_summary(&r));
                print!("{}", views::servers::sites_text(&s.server_sites(a, *id).await?));
            }
        }
        ServerCmd::TrustHostkey { id, fingerprint, yes } => {
            let check = s.server_host_key(a, *id).await?;
            if check.matches() && fingerprint.is_none() {
                println!(
                    "server {id} ({}) already presents its trusted key {}",
                    check.address, check.presented
                );
                return Ok(());
            }
            match &check.stored {
                Some(old) if *old != check.presented => eprintln!(
                    "WARNING: the host key of {} CHANGED.\n  trusted:   {old}\n  presented: {}\nThis is expected after a reinstall or key rotation; otherwise someone may be intercepting the connection.",
                    check.address, check.presented
                ),
                _ => eprintln!("{} presents host key {}", check.address, check.presented),
            }
            if fingerprint.is_none() && !yes {
                if !std::io::stdin().is_terminal() {
                    return Err(CliError::Usage(
                        "not trusted: give --fingerprint SHA256:… (checked out of band) or --yes".into(),
                    ));
                }
                eprint!("Trust this key? Compare it with `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` on the server. [y/N] ");
                let mut answer = String::new();
                std::io::stdin().read_line(&mut answer).map_err(|e| e.to_string())?;
                if !matches!(answer.trim(), "y" | "Y" | "yes") {
                    return Err("not trusted".into());
                }
            }
            // Pin exactly the key shown above (or the one checked out of band), never whatever
            // a second connection presents.
            let confirmed = fingerprint.as_deref().unwrap_or(&check.presented);
            let r = s.server_trust_host_key(a, *id, confirmed).await?;
            if json {
                print_json(&r);
            } else {
                println!("trusted {} for server {id}", r.presented);
            }
        }
        ServerCmd::Sites { id } => {
            let sites = s.server_sites(a, *id).await?;
            if json {
                print_json(&sites);
            } else {
                print!("{}", views::servers::sites_text(&sites));
            }
        }
        ServerCmd::SiteImport { site_id } => {
            let (c, d) = s.site_import(a, *site_id).await?;
            if json {
                print_json(&serde_json::json!({"certificate": c, "deployment": d}));
            } else {
                println!(
                    "imported certificate {} ({}, expires {}) and bound it to server {} at {} (deployment {})",
                    c.id,
                    c.main_domain,
                    views::when(c.expires_at),
                    d.server_id,
                    d.deploy_path,
                    d.id
                );
            }
        }
        ServerCmd::SiteBind { site_id, cert } => {
            let d = s.site_bind(a, *site_id, *cert).await?;
            if json {
                print_json(&d);
            } else {
                println!(
                    "certificate {} bound to server {} at {} (deployment {}); deploy it with `certdeck deploy {} --server {}`",
                    d.certificate_id, d.server_id, d.deploy_path, d.id, d.certificate_id, d.server_id
                );
            }
        }
        ServerCmd::Config { config_id } => {
            let c = s.server_config_get(a, *config_id).await?;
            if json {
                print_json(&c);
            } else {
                match &c.config_content {
                    Some(text) => print!("{text}"),
                    None => eprintln!(
                        "{}: stored without content: {}",
                        c.config_path,
                        c.note.as_deref().unwrap_or("no content")
                    ),
                }
            }
        }
        ServerCmd::ImportSshConfig { file, opts } => {
            let path = match file {
                Some(p) => p.clone(),
                None => directories::BaseDirs::new()
                    .map(|b| b.home_dir().join(".ssh/config"))
                    .ok_or("no home directory: give --file")?,
            };
            let text = std::fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            let lines = s.servers_import_ssh_config(a, &text, &import_defaults(opts)?).await?;
            print_import(json, &lines);
        }
        ServerCmd::ImportCsv { file, opts } => {
            let text = std::fs::read_to_string(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
            let lines = s.servers_import_csv(a, &text, &import_defaults(opts)?).await?;
            print_import(json, &lines);
        }
        _ => unreachable!("handled in cmd::server"),
    }
    Ok(())
}
