//! `deploy CERT --server|--group|--all [--plan] [--no-wait]`: a deploy task over SSH.

use super::task::run_task;
use crate::cli::error::{CliError, CliResult};
use crate::cli::views;
use crate::service::deploy::DeployTarget;
use crate::service::{Actor, Services};

/// Where `deploy` goes, from its flags (one is needed).
pub(crate) fn target(server: Option<i64>, group: Option<i64>, all: bool) -> CliResult<DeployTarget> {
    match (server, group, all) {
        (Some(id), _, _) => Ok(DeployTarget::Server(id)),
        (_, Some(id), _) => Ok(DeployTarget::Group(id)),
        (_, _, true) => Ok(DeployTarget::All),
        _ => Err(CliError::Usage("say where: --server ID, --group ID or --all".into())),
    }
}

/// Plans, queues or runs a deploy of `cert` to `target`.
pub(crate) async fn run(
    json: bool,
    s: &Services,
    a: &Actor,
    cert: i64,
    target: DeployTarget,
    plan: bool,
    no_wait: bool,
) -> CliResult<()> {
    if plan {
        let p = s.deploy_plan(a, cert, target).await?;
        if json {
            views::print_json(&p);
            return Ok(());
        }
        if p.is_empty() {
            return Err(CliError::Failed(format!("certificate {cert} has no deployment there")));
        }
        print!("{}", views::servers::plan_text(&p));
        return Ok(());
    }
    let t = s.deploy_enqueue(a, cert, target).await?;
    if no_wait {
        println!("queued certificate_deploy task {}", t.id);
        return Ok(());
    }
    let r = run_task(json, s, a, t.id).await;
    if !json {
        if let Ok(d) = s.task_get(a, t.id).await {
            if let Some(res) = d.task.result.as_ref() {
                print!("{}", views::servers::deploy_hosts_text(&res.0));
            }
        }
    }
    r
}
