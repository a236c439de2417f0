//! CLI faces of the SSH work: `server check | trust-hostkey | sites | config | import-*` and
//! `deploy`. Checks and deploys are tasks: the CLI queues one and, unless `--no-wait`, runs it in
//! this process at once (or follows it when a scheduler got it first), printing its log. When
//! it cannot run the task here it says what the task waits for and gives up after
//! `CERTDECK_TASK_WAIT_SECONDS` (default 300), leaving the one open task queued.

use std::io::IsTerminal;

use super::output::{opt, print_fields, print_json, when, Table};
use super::ServerCmd;
use crate::domain::{TaskStatus, TaskType};
use crate::errors::ServiceError;
use crate::service::deploy::DeployTarget;
use crate::service::onboarding::{ImportDefaults, ImportLine};
use crate::service::tasks::{RunReport, TaskInput};
use crate::service::{Actor, Services};

type R<T> = Result<T, String>;

fn svc<T>(r: Result<T, ServiceError>) -> R<T> {
    r.map_err(|e| e.to_string())
}

/// How long a command that runs its task now waits for a task it cannot run here (another
/// worker has it, or a task of the same target holds it back): `CERTDECK_TASK_WAIT_SECONDS`,
/// default 300.
pub const TASK_WAIT_ENV: &str = "CERTDECK_TASK_WAIT_SECONDS";
const TASK_WAIT_DEFAULT_SECS: u64 = 300;

fn task_wait_bound() -> R<std::time::Duration> {
    match std::env::var(TASK_WAIT_ENV) {
        Err(_) => Ok(std::time::Duration::from_secs(TASK_WAIT_DEFAULT_SECS)),
        Ok(v) => v
            .trim()
            .parse::<u64>()
            .map(std::time::Duration::from_secs)
            .map_err(|_| format!("{TASK_WAIT_ENV}={v}: give a number of seconds")),
    }
}

/// Runs a queued task here (or follows it), prints its log, and fails unless it completed.
/// While it cannot run here it says what it waits for; after the bound ([`TASK_WAIT_ENV`]) it
/// gives up, leaving the one task queued (enqueueing the same work again returns that task).
async fn run_task(json: bool, s: &Services, a: &Actor, id: i64) -> R<()> {
    use crate::service::tasks::WaitStep;
    let runners = crate::scheduler::runners_for_this_build();
    let bound = task_wait_bound()?;
    let started = std::time::Instant::now();
    let mut said = String::new();
    let report = loop {
        match svc(s.task_wait_step(a, id, &runners).await)? {
            WaitStep::Ran(r) => break Some(r),
            WaitStep::Ended => break None,
            WaitStep::Waiting(why) => {
                if started.elapsed() >= bound {
                    return Err(format!(
                        "gave up after {}s waiting: {why}. The task stays queued and runs when a worker gets it \
                         (follow it with `certdeck task show {id}`, or cancel it with `certdeck task cancel {id}`); \
                         the same request again returns it instead of queuing the work twice. \
                         {TASK_WAIT_ENV} sets how long to wait.",
                        bound.as_secs()
                    ));
                }
                if why != said {
                    eprintln!("waiting: {why}");
                    said = why;
                }
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            }
        }
    };
    let detail = svc(s.task_get(a, id).await)?;
    let logs = svc(s.task_logs(a, id, 0, 1000).await)?;
    if json {
        print_json(&serde_json::json!({"task": detail, "logs": logs}));
    } else {
        for l in &logs {
            eprintln!("{}  {:<7}  {}", l.created_at.format("%H:%M:%S"), l.log_level, l.message);
        }
    }
    match (report, detail.task.status) {
        (_, TaskStatus::Completed) => Ok(()),
        (Some(RunReport::Retrying(m)), _) => Err(format!(
            "task {id} failed and will be retried by the scheduler (attempt {} of {}): {m}",
            detail.queue.attempts, detail.queue.max_attempts
        )),
        (_, st) => Err(format!(
            "task {id} is {st}: {}",
            detail.task.error_message.as_deref().unwrap_or("no message")
        )),
    }
}

fn print_import(json: bool, lines: &[ImportLine]) -> R<()> {
    if json {
        print_json(lines);
        return Ok(());
    }
    for l in lines {
        match (&l.added, &l.skipped) {
            (Some(id), _) => println!("line {:>4}  {:<24}  added (server {id})", l.line, l.name),
            (None, Some(why)) => println!("line {:>4}  {:<24}  not added: {why}", l.line, l.name),
            (None, None) => println!("line {:>4}  {:<24}  would be added", l.line, l.name),
        }
    }
    let added = lines.iter().filter(|l| l.added.is_some()).count();
    let skipped = lines.iter().filter(|l| l.skipped.is_some()).count();
    eprintln!("{added} added, {skipped} not added");
    Ok(())
}

fn import_defaults(o: &super::ImportArgs) -> R<ImportDefaults> {
    Ok(ImportDefaults {
        server_type: o
            .server_type
            .as_deref()
            .map(str::parse)
            .transpose()
            .map_err(|e| format!("{e}"))?,
        privilege_mode: o
            .privilege
            .as_deref()
            .map(str::parse)
            .transpose()
            .map_err(|e| format!("{e}"))?,
        dry_run: o.dry_run,
    })
}

/// `server check | trust-hostkey | sites | config | import-ssh-config | import-csv`.
pub(super) async fn server(json: bool, s: &Services, a: &Actor, c: &ServerCmd) -> R<()> {
    match c {
        ServerCmd::Check { id, no_wait } => {
            let input = TaskInput {
                task_type: Some(TaskType::ServerCheck),
                priority: Some(8),
                target_type: Some("server".into()),
                target_id: Some(*id),
                // Interactive: report a failure now rather than retry in the background.
                max_attempts: Some(if *no_wait { 3 } else { 1 }),
                ..Default::default()
            };
            let t = svc(s.task_enqueue(a, &input).await)?;
            if *no_wait {
                println!("queued server_check task {}", t.id);
                return Ok(());
            }
            run_task(json, s, a, t.id).await?;
            if !json {
                let r = svc(s.server_get(a, *id).await)?;
                print_fields(&[
                    ("server", format!("{} ({}:{})", r.id, r.hostname, r.port)),
                    ("status", r.status.to_string()),
                    ("os", format!("{} {}", opt(&r.os_type), opt(&r.os_version))),
                    ("type", r.server_type.to_string()),
                    ("web server", opt(&r.web_server_version)),
                    ("checked", when(r.last_check_at)),
                ]);
                print_sites(&svc(s.server_sites(a, *id).await)?);
            }
        }
        ServerCmd::TrustHostkey { id, fingerprint, yes } => {
            let check = svc(s.server_host_key(a, *id).await)?;
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
                    return Err("not trusted: give --fingerprint SHA256:… (checked out of band) or --yes".into());
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
            let r = svc(s.server_trust_host_key(a, *id, confirmed).await)?;
            if json {
                print_json(&r);
            } else {
                println!("trusted {} for server {id}", r.presented);
            }
        }
        ServerCmd::Sites { id } => {
            let sites = svc(s.server_sites(a, *id).await)?;
            if json {
                print_json(&sites);
            } else {
                print_sites(&sites);
            }
        }
        ServerCmd::SiteImport { site_id } => {
            let (c, d) = svc(s.site_import(a, *site_id).await)?;
            if json {
                print_json(&serde_json::json!({"certificate": c, "deployment": d}));
            } else {
                println!(
                    "imported certificate {} ({}, expires {}) and bound it to server {} at {} (deployment {})",
                    c.id,
                    c.main_domain,
                    when(c.expires_at),
                    d.server_id,
                    d.deploy_path,
                    d.id
                );
            }
        }
        ServerCmd::SiteBind { site_id, cert } => {
            let d = svc(s.site_bind(a, *site_id, *cert).await)?;
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
            let c = svc(s.server_config_get(a, *config_id).await)?;
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
            let lines = svc(s.servers_import_ssh_config(a, &text, &import_defaults(opts)?).await)?;
            print_import(json, &lines)?;
        }
        ServerCmd::ImportCsv { file, opts } => {
            let text = std::fs::read_to_string(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
            let lines = svc(s.servers_import_csv(a, &text, &import_defaults(opts)?).await)?;
            print_import(json, &lines)?;
        }
        _ => unreachable!("handled in commands::server"),
    }
    Ok(())
}

fn print_sites(sites: &[crate::store::discovery::SiteRow]) {
    if sites.is_empty() {
        println!("no sites found");
        return;
    }
    let mut t = Table::new(&[
        "ID",
        "NAMES",
        "LISTEN",
        "TLS",
        "CERTIFICATE FILE",
        "SERVES",
        "EXPIRES",
        "MANAGED",
    ]);
    for x in sites {
        t.row(vec![
            x.id.to_string(),
            x.names().join(" "),
            opt(&x.listen),
            if x.tls { "yes".into() } else { "no".into() },
            opt(&x.cert_path),
            match (&x.cert_subject, &x.cert_error) {
                (Some(subj), _) => format!("{subj} (serial {})", opt(&x.cert_serial)),
                (None, Some(e)) => format!("({e})"),
                _ => String::new(),
            },
            when(x.cert_not_after),
            x.certificate_id.map(|c| format!("cert #{c}")).unwrap_or_default(),
        ]);
    }
    t.print();
}

/// `deploy CERT --server|--group|--all [--plan] [--no-wait]`.
pub(super) async fn deploy(
    json: bool,
    s: &Services,
    a: &Actor,
    cert: i64,
    target: DeployTarget,
    plan: bool,
    no_wait: bool,
) -> R<()> {
    if plan {
        let p = svc(s.deploy_plan(a, cert, target).await)?;
        if json {
            print_json(&p);
            return Ok(());
        }
        if p.is_empty() {
            return Err(format!("certificate {cert} has no deployment there"));
        }
        for h in &p {
            println!("deployment {} → {}", h.deployment_id, h.server);
            for (f, mode) in &h.files {
                println!("  write  {f} ({mode}; previous file backed up)");
            }
            for c in &h.commands {
                println!("  run    {c}");
            }
            println!("  verify {}", h.verify);
            if let Some(b) = &h.blocked {
                println!("  BLOCKED: {b}");
            }
        }
        return Ok(());
    }
    let t = svc(s.deploy_enqueue(a, cert, target).await)?;
    if no_wait {
        println!("queued certificate_deploy task {}", t.id);
        return Ok(());
    }
    let r = run_task(json, s, a, t.id).await;
    if !json {
        if let Ok(d) = s.task_get(a, t.id).await {
            if let Some(res) = d.task.result.as_ref().and_then(|v| v.0.get("hosts").cloned()) {
                if let Some(hosts) = res.as_array() {
                    for h in hosts {
                        println!(
                            "{:<10} {}  (own step {} ms, host done after {} ms)",
                            h["status"].as_str().unwrap_or(""),
                            h["server"].as_str().unwrap_or(""),
                            h["step_ms"],
                            h["ms"]
                        );
                    }
                }
            }
        }
    }
    r
}

/// `cert request …`: queue the order and (unless `--no-wait`) run it here.
pub(super) async fn cert_request(
    json: bool,
    s: &Services,
    a: &Actor,
    input: &crate::service::acme::RequestInput,
    no_wait: bool,
) -> R<()> {
    let (c, t) = svc(s.cert_request(a, input).await)?;
    if no_wait {
        println!("certificate {} requested; certificate_issue task {} queued", c.id, t.id);
        return Ok(());
    }
    run_task(json, s, a, t.id).await?;
    if !json {
        let c = svc(s.cert_get(a, c.id).await)?;
        println!(
            "certificate {} ({}) is {}: issued by {}, expires {}",
            c.id,
            c.main_domain,
            c.status,
            opt(&c.issuer),
            when(c.expires_at)
        );
    }
    Ok(())
}

/// `cert renew ID [--no-wait]`.
pub(super) async fn cert_renew(json: bool, s: &Services, a: &Actor, id: i64, no_wait: bool) -> R<()> {
    let t = svc(s.cert_renew(a, id).await)?;
    if no_wait {
        println!("certificate_renew task {} queued", t.id);
        return Ok(());
    }
    run_task(json, s, a, t.id).await?;
    if !json {
        let c = svc(s.cert_get(a, id).await)?;
        println!(
            "certificate {} ({}) renewed: expires {}",
            c.id,
            c.main_domain,
            when(c.expires_at)
        );
    }
    Ok(())
}

/// `ca list | add`.
pub(super) async fn ca(json: bool, s: &Services, a: &Actor, c: &super::CaCmd) -> R<()> {
    match c {
        super::CaCmd::List => {
            let rows = svc(s.ca_list(a).await)?;
            if json {
                print_json(&rows);
                return Ok(());
            }
            let mut t = Table::new(&["CA", "NAME", "DIRECTORY", "EAB", "OWN"]);
            // EAB column: "required" (no credentials yet) or the stored key id.
            for r in rows {
                t.row(vec![
                    r.key,
                    r.name,
                    r.directory_url,
                    if r.eab_required {
                        "required".into()
                    } else {
                        String::new()
                    },
                    if r.custom { "yes".into() } else { String::new() },
                ]);
            }
            t.print();
        }
        super::CaCmd::Add {
            name,
            directory,
            trust_root,
            eab,
            eab_kid,
            eab_hmac_stdin,
        } => {
            let hmac = if *eab_hmac_stdin {
                let mut t = String::new();
                std::io::Read::read_to_string(&mut std::io::stdin(), &mut t)
                    .map_err(|e| format!("cannot read the EAB HMAC key from standard input: {e}"))?;
                Some(zeroize::Zeroizing::new(t.trim().to_string()))
            } else {
                None
            };
            let pem = match trust_root {
                Some(p) => Some(std::fs::read_to_string(p).map_err(|e| format!("cannot read {}: {e}", p.display()))?),
                None => None,
            };
            let binding = match (eab_kid, &hmac) {
                (Some(k), Some(h)) => Some((k.as_str(), h.as_str())),
                _ => None,
            };
            let r = svc(s.ca_add(a, name, directory, pem.as_deref(), *eab, binding).await)?;
            if json {
                print_json(&r);
            } else {
                println!("added CA {} ({})", r.name, r.directory_url);
            }
        }
    }
    Ok(())
}

/// `dns-provider list | add | test`.
pub(super) async fn dns_provider(json: bool, s: &Services, a: &Actor, c: &super::DnsProviderCmd) -> R<()> {
    match c {
        super::DnsProviderCmd::List => {
            let rows = svc(s.dns_provider_list(a).await)?;
            if json {
                print_json(&rows);
                return Ok(());
            }
            let mut t = Table::new(&["ID", "NAME", "TYPE", "SETTINGS"]);
            for r in rows {
                t.row(vec![
                    r.id.to_string(),
                    r.name.clone(),
                    r.provider_type.clone(),
                    r.settings.as_ref().map(|j| j.0.to_string()).unwrap_or_default(),
                ]);
            }
            t.print();
        }
        super::DnsProviderCmd::Add {
            name,
            provider_type,
            server,
            zone,
            key_name,
            algorithm,
            delegation_zone,
            settings,
        } => {
            use serde_json::{Map, Value};
            let mut set = Map::new();
            for kv in settings {
                let (k, v) = kv
                    .split_once('=')
                    .ok_or_else(|| format!("--setting {kv}: write KEY=VALUE"))?;
                let v = match k.trim() {
                    "ttl" => Value::from(
                        v.trim()
                            .parse::<u64>()
                            .map_err(|_| format!("--setting {kv}: ttl is a number"))?,
                    ),
                    _ => Value::from(v.trim()),
                };
                set.insert(k.trim().to_string(), v);
            }
            for (k, v) in [
                ("server", server),
                ("zone", zone),
                ("key_name", key_name),
                ("delegation_zone", delegation_zone),
            ] {
                if let Some(v) = v {
                    set.insert(k.into(), Value::from(v.as_str()));
                }
            }
            if provider_type == "rfc2136" {
                set.insert("algorithm".into(), Value::from(algorithm.as_str()));
            }
            let mut input = zeroize::Zeroizing::new(String::new());
            if provider_type != "manual" {
                std::io::Read::read_to_string(&mut std::io::stdin(), &mut input)
                    .map_err(|e| format!("cannot read the secret from standard input: {e}"))?;
            }
            let mut secrets = Map::new();
            if provider_type == "rfc2136" {
                secrets.insert("tsig_secret".into(), Value::from(input.trim()));
            } else {
                for line in input
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty() && !l.starts_with('#'))
                {
                    let (k, v) = line
                        .split_once('=')
                        .ok_or_else(|| "secrets on standard input are KEY=VALUE lines".to_string())?;
                    secrets.insert(k.trim().to_string(), Value::from(v.trim()));
                }
            }
            let r = svc(s.dns_provider_add(a, name, provider_type, &set, &secrets).await)?;
            if json {
                print_json(&r);
            } else {
                println!("added DNS provider {} (id {}, {})", r.name, r.id, r.provider_type);
            }
        }
        super::DnsProviderCmd::Test { id } => {
            println!("{}", svc(s.dns_provider_test(a, *id).await)?);
        }
    }
    Ok(())
}
