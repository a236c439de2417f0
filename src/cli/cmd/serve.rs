//! `--serve-api ADDR` (the HTTP API) and its flags; with `--serve-scheduler` both run in one
//! process and stop together on SIGTERM or SIGINT.

use std::time::Duration;

use crate::api::server::{ServeOptions, Server};
use crate::api::tls::TlsSource;
use crate::api::ApiConfig;
use crate::cli::args::ApiArgs;
use crate::cli::error::{CliError, CliResult};
use crate::service::Services;

/// The server options of `args` for `addr`.
fn options(args: &ApiArgs, addr: std::net::SocketAddr) -> CliResult<ServeOptions> {
    if args.api_max_body == 0 || args.api_timeout == 0 {
        return Err(CliError::Invalid(
            "--api-max-body and --api-timeout must be above 0".into(),
        ));
    }
    let tls = match (&args.tls_cert, &args.tls_key, args.tls_certificate_id) {
        (Some(cert), Some(key), None) => Some(TlsSource::Files {
            cert: cert.clone(),
            key: key.clone(),
        }),
        (None, None, Some(id)) => Some(TlsSource::Managed(id)),
        _ => None,
    };
    Ok(ServeOptions {
        addr,
        tls,
        tls_reload_every: Duration::from_secs(args.tls_reload_secs.max(1)),
        config: ApiConfig {
            max_body_bytes: args.api_max_body,
            request_timeout: Duration::from_secs(args.api_timeout),
            rate_per_key: args.api_rate_per_key,
            rate_per_address: args.api_rate_per_address,
            metrics_public: args.metrics_public,
            metrics_max_certificates: args.metrics_max_certificates,
        },
    })
}

/// A watch that turns true on SIGTERM or SIGINT.
pub(crate) fn stop_signal() -> tokio::sync::watch::Receiver<bool> {
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(t) => t,
            Err(e) => {
                tracing::error!("cannot listen for SIGTERM: {e}");
                return;
            }
        };
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
            _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: shutting down"),
        }
        let _ = tx.send(true);
    });
    rx
}

/// Runs the API on `addr` (and the scheduler too when `with_scheduler`) until a stop signal.
pub(crate) async fn serve(
    s: &Services,
    addr: std::net::SocketAddr,
    args: &ApiArgs,
    with_scheduler: bool,
) -> CliResult<()> {
    let stop = stop_signal();
    let server = Server::bind(s.clone(), options(args, addr)?)
        .await
        .map_err(|e| CliError::Failed(e.to_string()))?;
    let bound = server.local_addr().map_err(|e| CliError::Failed(e.to_string()))?;
    let scheme = if server.is_tls() { "https" } else { "http" };
    eprintln!("certdeck API listening on {scheme}://{bound}/api/v1/ ; stop with SIGTERM or Ctrl-C");
    tracing::info!(%bound, scheme, "API listening");
    let api = tokio::spawn(server.run(stop.clone()));
    let scheduler = if with_scheduler {
        super::scheduler::serve_until(s, stop).await
    } else {
        Ok(())
    };
    let _ = api.await;
    scheduler
}
