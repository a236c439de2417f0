//! `deployment …`: bindings of certificates to server paths.

use clap::Subcommand;

use crate::cli::context::Ctx;
use crate::cli::error::CliResult;
use crate::cli::views;
use crate::service::certificates::DeploymentInput;
use crate::service::{Actor, Services};

/// `deployment …`
#[derive(Debug, Subcommand)]
pub enum DeploymentCmd {
    /// List the deployments of a certificate or a server.
    List {
        /// Certificate id.
        #[arg(long)]
        cert: Option<i64>,
        /// Server id.
        #[arg(long)]
        server: Option<i64>,
    },
    /// Bind a certificate to a server path.
    Add {
        /// Certificate id.
        cert: i64,
        /// Server id.
        server: i64,
        /// Where the fullchain goes on the server.
        #[arg(long)]
        path: String,
        /// The web server config that uses it.
        #[arg(long)]
        config_path: Option<String>,
        /// Do not deploy again after each renewal.
        #[arg(long)]
        no_auto_deploy: bool,
        /// Where the private key goes (default: the path with `.key` for its extension).
        #[arg(long)]
        key_path: Option<String>,
        /// Host to verify the deploy against (default: the server's hostname).
        #[arg(long)]
        verify_host: Option<String>,
        /// SNI name of the verification (default: the certificate's main domain).
        #[arg(long)]
        sni: Option<String>,
        /// TLS port of the verification (default: the server's verify port, else 443).
        #[arg(long)]
        verify_port: Option<i64>,
        /// Replace the deployments on the same machine that write this certificate or key file
        /// (without it, such a deployment is refused).
        #[arg(long)]
        replace: bool,
    },
    /// Remove a deployment binding.
    Rm {
        /// Deployment id.
        id: i64,
    },
}
/// Runs a `deployment` command as `a`.
pub(crate) async fn run(ctx: &Ctx, s: &Services, a: &Actor, c: &DeploymentCmd) -> CliResult<()> {
    match c {
        DeploymentCmd::List { cert, server } => views::list(ctx.json, &s.deployment_list(a, *cert, *server).await?),
        DeploymentCmd::Add {
            cert,
            server,
            path,
            config_path,
            no_auto_deploy,
            key_path,
            verify_host,
            sni,
            verify_port,
            replace,
        } => {
            let input = DeploymentInput {
                deploy_path: path.clone(),
                config_path: config_path.clone(),
                key_path: key_path.clone(),
                verify_host: verify_host.clone(),
                verify_sni: sni.clone(),
                verify_port: *verify_port,
                auto_deploy: !no_auto_deploy,
                replace: *replace,
            };
            let d = s.deployment_create_with(a, *cert, *server, &input).await?;
            if ctx.json {
                views::print_json(&d);
                return Ok(());
            }
            println!(
                "certificate {} bound to server {} at {} (deployment {})",
                d.certificate_id, d.server_id, d.deploy_path, d.id
            );
        }
        DeploymentCmd::Rm { id } => {
            s.deployment_delete(a, *id).await?;
            println!("deleted deployment {id}");
        }
    }
    Ok(())
}
