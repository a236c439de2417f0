//! The API server a bench runs in its own process: TLS with a throwaway self-signed certificate
//! for `localhost`, no rate limits (the load comes from one address).

use std::path::PathBuf;
use std::time::Duration;

use certdeck::api::server::{ServeOptions, Server};
use certdeck::api::tls::TlsSource;
use certdeck::api::ApiConfig;
use certdeck::service::Services;

/// A running bench server.
pub struct BenchServer {
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// Its certificate (PEM file): trust it as a CA to reach the server as `localhost`.
    #[allow(dead_code)] // each bench includes this module; not every one reads this field
    pub cert_path: PathBuf,
    stop: tokio::sync::watch::Sender<bool>,
    handle: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

/// Starts the API over `services`.
pub async fn start(services: Services) -> BenchServer {
    let dir = tempfile::tempdir().expect("temp dir");
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
        .expect("params")
        .self_signed(&key)
        .expect("self-signed");
    let cert_path = dir.path().join("c.pem");
    std::fs::write(&cert_path, cert.pem()).expect("write");
    std::fs::write(dir.path().join("k.pem"), key.serialize_pem()).expect("write");
    let opts = ServeOptions {
        addr: "127.0.0.1:0".parse().expect("addr"),
        tls: Some(TlsSource::Files {
            cert: cert_path.clone(),
            key: dir.path().join("k.pem"),
        }),
        tls_reload_every: Duration::from_secs(3600),
        config: ApiConfig {
            rate_per_key: 0,
            rate_per_address: 0,
            ..ApiConfig::default()
        },
    };
    let server = Server::bind(services, opts).await.expect("bind");
    let port = server.local_addr().expect("addr").port();
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let handle = tokio::spawn(async move {
        let _ = server.run(stop_rx).await;
    });
    BenchServer {
        port,
        cert_path,
        stop,
        handle,
        _dir: dir,
    }
}

impl BenchServer {
    /// Stops the server and waits for it.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.handle.await;
    }
}
