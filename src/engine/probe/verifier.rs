//! Certificate verifiers of the prober and of `tls_peek`.
//!
//! - [`AcceptAnyVerifier`]: the one handshake verifier. It accepts any presented chain (we
//!   want to see what a server sends, also when it is invalid) and records it; the handshake
//!   signatures are checked for real. For the prober it also accepts a weak RSA leaf key
//!   (which ring refuses to verify with): that is reported as a finding instead.
//! - [`VerifierCache`]: webpki verifiers per trust bundle (the public roots or one custom
//!   PEM), used after the handshake to judge the recorded chain. Owned by a prober.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

/// Accepts every presented chain and records it; checks the handshake signatures.
#[derive(Debug)]
pub struct AcceptAnyVerifier {
    provider: Arc<CryptoProvider>,
    tolerate_weak_rsa: bool,
    chain: Mutex<Vec<CertificateDer<'static>>>,
}

impl AcceptAnyVerifier {
    /// For the prober: a handshake signature made with a weak RSA leaf key (< 2048 bits, which
    /// ring refuses) is accepted, so that the chain can be seen and reported as WeakKey.
    pub fn tolerant(provider: Arc<CryptoProvider>) -> Self {
        AcceptAnyVerifier {
            provider,
            tolerate_weak_rsa: true,
            chain: Mutex::new(Vec::new()),
        }
    }

    /// For a peek at the served certificate: every handshake signature must verify.
    pub fn strict(provider: Arc<CryptoProvider>) -> Self {
        AcceptAnyVerifier {
            provider,
            tolerate_weak_rsa: false,
            chain: Mutex::new(Vec::new()),
        }
    }

    /// The chain the server presented in the last handshake, leaf first (empty before one).
    pub fn recorded(&self) -> Vec<CertificateDer<'static>> {
        self.chain.lock().map(|g| g.clone()).unwrap_or_default()
    }

    fn tolerate(
        &self,
        r: Result<HandshakeSignatureValid, rustls::Error>,
        cert: &CertificateDer<'_>,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        match r {
            Err(_) if self.tolerate_weak_rsa && crate::domain::certpem::is_weak_rsa(cert.as_ref()) => {
                Ok(HandshakeSignatureValid::assertion())
            }
            other => other,
        }
    }
}

impl ServerCertVerifier for AcceptAnyVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let mut chain = vec![end_entity.clone().into_owned()];
        chain.extend(intermediates.iter().map(|c| c.clone().into_owned()));
        if let Ok(mut g) = self.chain.lock() {
            *g = chain;
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.tolerate(
            rustls::crypto::verify_tls12_signature(
                message,
                cert,
                dss,
                &self.provider.signature_verification_algorithms,
            ),
            cert,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.tolerate(
            rustls::crypto::verify_tls13_signature(
                message,
                cert,
                dss,
                &self.provider.signature_verification_algorithms,
            ),
            cert,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

/// A webpki verifier and the words that name its trust anchors in findings.
pub type TrustVerifier = (Arc<WebPkiServerVerifier>, String);

/// Most bundles kept; past it the cache starts over.
const CACHE_MAX: usize = 256;

/// Webpki verifiers built per trust bundle (`None`: the public webpki roots), shared by every
/// probe of one prober: thousands of monitors share a handful of bundles, and building the
/// store and verifier is most of a probe's own CPU time.
#[derive(Debug, Default)]
pub struct VerifierCache {
    by_bundle: Mutex<HashMap<Option<String>, TrustVerifier>>,
}

impl VerifierCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many bundles have a verifier now.
    pub fn len(&self) -> usize {
        self.by_bundle.lock().map(|c| c.len()).unwrap_or(0)
    }

    /// Whether no bundle has a verifier yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The verifier for `trust_pem` (built and kept on first use).
    pub fn get(&self, trust_pem: &Option<String>, provider: &Arc<CryptoProvider>) -> Result<TrustVerifier, String> {
        if let Some(hit) = self.by_bundle.lock().ok().and_then(|c| c.get(trust_pem).cloned()) {
            return Ok(hit);
        }
        let (store, label) = roots(trust_pem).map_err(|e| format!("the custom trust bundle is unusable: {e}"))?;
        let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(store), provider.clone())
            .build()
            .map_err(|e| e.to_string())?;
        if let Ok(mut c) = self.by_bundle.lock() {
            if c.len() >= CACHE_MAX {
                c.clear();
            }
            c.insert(trust_pem.clone(), (verifier.clone(), label.clone()));
        }
        Ok((verifier, label))
    }
}

fn roots(trust_pem: &Option<String>) -> Result<(rustls::RootCertStore, String), String> {
    match trust_pem {
        None => Ok((
            rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            },
            "the public (webpki) roots".to_string(),
        )),
        Some(pem) => {
            let ders = crate::domain::certpem::certificates_der(pem.as_bytes())?;
            let mut store = rustls::RootCertStore::empty();
            let (added, ignored) = store.add_parsable_certificates(ders.into_iter().map(CertificateDer::from));
            if added == 0 {
                return Err(format!(
                    "none of its {ignored} certificates is usable as a trust anchor"
                ));
            }
            Ok((
                store,
                format!(
                    "the custom trust bundle ({added} certificate{})",
                    if added == 1 { "" } else { "s" }
                ),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_builds_one_verifier_per_bundle() {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let cache = VerifierCache::new();
        assert!(cache.is_empty());
        let (a, label) = cache.get(&None, &provider).unwrap();
        assert_eq!(label, "the public (webpki) roots");
        let (b, _) = cache.get(&None, &provider).unwrap();
        assert!(Arc::ptr_eq(&a, &b), "the second probe reuses the verifier");
        assert_eq!(cache.len(), 1);
        let e = cache.get(&Some("not a pem".into()), &provider).unwrap_err();
        assert!(e.starts_with("the custom trust bundle is unusable"), "{e}");
        assert_eq!(cache.len(), 1, "a refused bundle is not kept");
        // Another cache (another prober) has its own verifiers: nothing is process-wide.
        let (c, _) = VerifierCache::new().get(&None, &provider).unwrap();
        assert!(!Arc::ptr_eq(&a, &c));
    }
}
