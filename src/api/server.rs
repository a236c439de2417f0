//! The listener: TLS (or plain HTTP on loopback only), one task per connection serving the
//! router with HTTP/1.1 and HTTP/2, bounded handshakes, and a graceful stop that lets open
//! requests finish.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tower::Service;

use super::app;
use super::state::{ApiConfig, ApiState};
use super::tls::{Identity, SwappableCert, TlsSource};
use crate::service::Services;

/// A TLS handshake must finish within this.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Open requests get this long to finish after a stop signal.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(20);

/// How to serve.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Address to listen on.
    pub addr: SocketAddr,
    /// TLS identity; `None` = plain HTTP, allowed on loopback addresses only.
    pub tls: Option<TlsSource>,
    /// How often the TLS identity is re-read for a renewal.
    pub tls_reload_every: Duration,
    /// Limits and metrics settings.
    pub config: ApiConfig,
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Plain HTTP asked for on a non-loopback address.
    #[error("plain HTTP is only allowed on a loopback address ({0} is not): give --tls-cert and --tls-key, or --tls-certificate-id")]
    PlainOffLoopback(SocketAddr),
    /// The TLS identity could not be loaded.
    #[error("TLS identity {origin}: {reason}")]
    Tls {
        /// Where it was read from.
        origin: String,
        /// Why it failed.
        reason: String,
    },
    /// Binding failed.
    #[error("cannot listen on {addr}: {reason}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        reason: String,
    },
}

/// A bound server, ready to run.
pub struct Server {
    listener: tokio::net::TcpListener,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    reload: Option<(TlsSource, Arc<SwappableCert>)>,
    reload_every: Duration,
    state: ApiState,
}

impl Server {
    /// Loads the TLS identity and binds; nothing is served until [`Server::run`].
    pub async fn bind(services: Services, opts: ServeOptions) -> Result<Server, ServeError> {
        let (acceptor, reload) = match &opts.tls {
            None if !opts.addr.ip().is_loopback() => return Err(ServeError::PlainOffLoopback(opts.addr)),
            None => (None, None),
            Some(src) => {
                let id = Identity::load(src, &services).await.map_err(|reason| ServeError::Tls {
                    origin: src.to_string(),
                    reason,
                })?;
                let cert = Arc::new(SwappableCert::new(id));
                let cfg = super::tls::server_config(Arc::clone(&cert));
                (
                    Some(tokio_rustls::TlsAcceptor::from(Arc::new(cfg))),
                    Some((src.clone(), cert)),
                )
            }
        };
        let listener = tokio::net::TcpListener::bind(opts.addr)
            .await
            .map_err(|e| ServeError::Bind {
                addr: opts.addr,
                reason: e.to_string(),
            })?;
        Ok(Server {
            listener,
            acceptor,
            reload,
            reload_every: opts.tls_reload_every,
            state: ApiState::new(services, opts.config),
        })
    }

    /// The address actually bound (port 0 picks one).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Whether the server speaks TLS.
    pub fn is_tls(&self) -> bool {
        self.acceptor.is_some()
    }

    /// Serves until `stop` turns true, then stops accepting and lets open requests finish (at
    /// most 20 s).
    pub async fn run(self, mut stop: tokio::sync::watch::Receiver<bool>) {
        let Server {
            listener,
            acceptor,
            reload,
            reload_every,
            state,
        } = self;
        if let Some((src, cert)) = reload {
            tokio::spawn(super::tls::reload_loop(
                src,
                state.services.clone(),
                cert,
                reload_every,
                stop.clone(),
            ));
        }
        let router = app(state);
        let graceful = hyper_util::server::graceful::GracefulShutdown::new();
        let builder = auto::Builder::new(TokioExecutor::new());
        loop {
            let (tcp, peer) = tokio::select! {
                r = listener.accept() => match r {
                    Ok(x) => x,
                    Err(e) => {
                        // Out of descriptors and the like: wait a moment instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
                _ = stop.changed() => break,
            };
            let _ = tcp.set_nodelay(true);
            let router = router.clone();
            let svc = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                router.clone().call(req)
            });
            match &acceptor {
                None => {
                    let conn = builder
                        .serve_connection_with_upgrades(TokioIo::new(tcp), svc)
                        .into_owned();
                    let conn = graceful.watch(conn);
                    tokio::spawn(async move {
                        if let Err(e) = conn.await {
                            tracing::debug!(%peer, error = %e, "connection ended with an error");
                        }
                    });
                }
                Some(acceptor) => {
                    let acceptor = acceptor.clone();
                    let builder = builder.clone();
                    let watcher = graceful.watcher();
                    tokio::spawn(async move {
                        let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                            Ok(Ok(s)) => s,
                            Ok(Err(e)) => {
                                tracing::debug!(%peer, error = %e, "TLS handshake failed");
                                return;
                            }
                            Err(_) => {
                                tracing::debug!(%peer, "TLS handshake timed out");
                                return;
                            }
                        };
                        let conn = builder
                            .serve_connection_with_upgrades(TokioIo::new(tls), svc)
                            .into_owned();
                        if let Err(e) = watcher.watch(conn).await {
                            tracing::debug!(%peer, error = %e, "connection ended with an error");
                        }
                    });
                }
            }
        }
        drop(listener);
        tracing::info!("API: stop requested; letting open requests finish");
        if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown()).await.is_err() {
            tracing::warn!("API: open connections did not finish in time; closing them");
        }
    }
}
