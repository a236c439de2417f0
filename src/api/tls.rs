//! The API's own TLS identity: a certificate and key from files, or a certificate certdeck
//! manages (by id). Either is re-read periodically and swapped in when it changed (a renewal),
//! for new handshakes only: open connections are not dropped.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use crate::service::Services;

/// Where the API's certificate comes from.
#[derive(Debug, Clone)]
pub enum TlsSource {
    /// PEM files: the certificate (leaf first, then its chain) and the private key.
    Files {
        /// Certificate chain file.
        cert: PathBuf,
        /// Private key file.
        key: PathBuf,
    },
    /// A certificate in certdeck's own database, by id.
    Managed(i64),
}

impl std::fmt::Display for TlsSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TlsSource::Files { cert, .. } => write!(f, "{}", cert.display()),
            TlsSource::Managed(id) => write!(f, "certificate {id}"),
        }
    }
}

/// A loaded identity and the fingerprint of its leaf (to notice a change).
pub struct Identity {
    key: Arc<CertifiedKey>,
    leaf_sha256: String,
}

impl Identity {
    /// Parses a PEM chain and a PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub fn from_pem(chain_pem: &[u8], key_pem: &[u8]) -> Result<Identity, String> {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(chain_pem)
            .collect::<Result<_, _>>()
            .map_err(|e| format!("the certificate is not PEM: {e}"))?;
        let leaf = certs.first().ok_or("no certificate in the PEM")?;
        let leaf_sha256 = crate::domain::certpem::sha256_hex(leaf.as_ref());
        let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| format!("the private key is not PEM: {e}"))?;
        let provider = rustls::crypto::ring::default_provider();
        let signing = provider
            .key_provider
            .load_private_key(key)
            .map_err(|e| format!("unusable private key: {e}"))?;
        let ck = CertifiedKey::new(certs, signing);
        ck.keys_match()
            .map_err(|e| format!("the private key does not match the certificate: {e}"))?;
        Ok(Identity {
            key: Arc::new(ck),
            leaf_sha256,
        })
    }

    /// Loads the identity of `source`.
    pub async fn load(source: &TlsSource, services: &Services) -> Result<Identity, String> {
        match source {
            TlsSource::Files { cert, key } => {
                let c = read_bounded(cert).await?;
                let k = zeroize::Zeroizing::new(read_bounded(key).await?);
                Identity::from_pem(&c, &k)
            }
            TlsSource::Managed(id) => {
                let (chain, key) = services.tls_identity(*id).await.map_err(|e| e.to_string())?;
                Identity::from_pem(chain.as_bytes(), key.as_bytes())
            }
        }
    }

    /// The SHA-256 of the leaf certificate, hex.
    pub fn fingerprint(&self) -> &str {
        &self.leaf_sha256
    }
}

async fn read_bounded(path: &std::path::Path) -> Result<Vec<u8>, String> {
    const MAX: u64 = 1024 * 1024;
    let meta = tokio::fs::metadata(path)
        .await
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if meta.len() > MAX {
        return Err(format!("{}: larger than 1 MiB, not a PEM file", path.display()));
    }
    tokio::fs::read(path)
        .await
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// The resolver handshakes use: always the current identity.
#[derive(Debug)]
pub struct SwappableCert {
    current: RwLock<(Arc<CertifiedKey>, String)>,
}

impl SwappableCert {
    /// Starts with `id`.
    pub fn new(id: Identity) -> Self {
        SwappableCert {
            current: RwLock::new((id.key, id.leaf_sha256)),
        }
    }

    /// Swaps in `id` if its leaf differs; whether it did.
    pub fn swap(&self, id: Identity) -> bool {
        let mut cur = self.current.write().unwrap_or_else(|p| p.into_inner());
        if cur.1 == id.leaf_sha256 {
            return false;
        }
        *cur = (id.key, id.leaf_sha256);
        true
    }

    /// The current leaf fingerprint.
    pub fn fingerprint(&self) -> String {
        self.current.read().unwrap_or_else(|p| p.into_inner()).1.clone()
    }
}

impl ResolvesServerCert for SwappableCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.read().unwrap_or_else(|p| p.into_inner()).0.clone())
    }
}

/// The rustls server config over `cert` (HTTP/2 and HTTP/1.1 by ALPN).
pub fn server_config(cert: Arc<SwappableCert>) -> rustls::ServerConfig {
    let mut cfg = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("ring supports the default TLS versions")
        .with_no_client_auth()
        .with_cert_resolver(cert);
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    cfg
}

/// Re-reads `source` every `every` and swaps a changed identity in, until `stop` turns true.
pub async fn reload_loop(
    source: TlsSource,
    services: Services,
    cert: Arc<SwappableCert>,
    every: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => return,
        }
        match Identity::load(&source, &services).await {
            Ok(id) => {
                let fp = id.fingerprint().to_string();
                if cert.swap(id) {
                    tracing::info!(source = %source, sha256 = %fp, "API TLS certificate reloaded");
                }
            }
            Err(e) => {
                tracing::warn!(source = %source, error = %e, "API TLS certificate not reloaded; serving the previous one")
            }
        }
    }
}
