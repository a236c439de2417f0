//! Which certificate does an endpoint serve? A TLS handshake with SNI that accepts any chain and
//! returns the leaf, used to verify a deploy (the new serial is served) and its rollback. The
//! verifier is the prober's [`AcceptAnyVerifier`], strict about handshake signatures.

use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;

use super::probe::verifier::AcceptAnyVerifier;

/// Connects to `host:port`, sends `sni`, and returns the served leaf certificate (DER).
pub async fn served_leaf(host: &str, port: u16, sni: &str, timeout: Duration) -> Result<Vec<u8>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAnyVerifier::strict(provider)))
        .with_no_client_auth();
    let name = ServerName::try_from(sni.to_string()).map_err(|e| format!("bad SNI name {sni}: {e}"))?;
    let host_only = host.trim_start_matches('[').trim_end_matches(']').to_string();
    let fut = async move {
        let tcp = tokio::net::TcpStream::connect((host_only.as_str(), port))
            .await
            .map_err(|e| format!("TCP connect to {host_only}:{port}: {e}"))?;
        let tls = tokio_rustls::TlsConnector::from(Arc::new(cfg))
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS handshake with {host_only}:{port}: {e}"))?;
        let (_, conn) = tls.get_ref();
        conn.peer_certificates()
            .and_then(|c| c.first())
            .map(|c| c.as_ref().to_vec())
            .ok_or_else(|| "the server sent no certificate".to_string())
    };
    tokio::time::timeout(timeout, fut).await.map_err(|_| {
        format!(
            "TLS handshake with {host}:{port} timed out after {} s",
            timeout.as_secs().max(1)
        )
    })?
}
