//! TLS endpoint probe: resolve, connect, handshake with SNI, record the presented chain (even an
//! invalid one), then classify what a browser or client would object to: expiry, host name,
//! trust, incomplete chain, self-signed, weak keys, old protocols, and network failures. Used by
//! monitoring (through the [`Prober`] the services hold); the service stores the reports. Never
//! touches the database or the screen.
//!
//! - [`report`]: the report, its findings and the certificate summaries of the chain;
//! - [`verifier`]: the accept-any recording verifier (shared with `tls_peek`) and the cache of
//!   trust verifiers a [`TlsProber`] owns;
//! - [`classify`]: dates, keys, host name and trust findings.

pub mod classify;
pub mod report;
pub mod verifier;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use futures::StreamExt;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::ServerName;
use rustls::AlertDescription;

use super::BoxFut;
pub use classify::{date_and_key_findings, trust_finding};
pub use report::{CertSummary, Finding, FindingKind, ProbeReport, ProbeTarget, Severity};
use verifier::{AcceptAnyVerifier, VerifierCache};

/// Probes TLS endpoints. The services hold one (`Services::prober`); tests give them a fake.
pub trait Prober: Send + Sync {
    /// Probes one endpoint. Never fails: every problem is a finding.
    fn probe<'a>(&'a self, target: &'a ProbeTarget) -> BoxFut<'a, ProbeReport>;

    /// Probes many targets, at most `concurrency` at once; the reports are in the targets' order.
    fn probe_many(&self, targets: Vec<ProbeTarget>, concurrency: usize) -> BoxFut<'_, Vec<ProbeReport>> {
        Box::pin(async move {
            futures::stream::iter(targets)
                .map(|t| async move { self.probe(&t).await })
                .buffered(concurrency.max(1))
                .collect()
                .await
        })
    }
}

/// The real prober: rustls (ring) handshakes, webpki trust. It owns its crypto provider and
/// the trust verifiers built per bundle, so probes through one prober share them.
#[derive(Debug)]
pub struct TlsProber {
    provider: Arc<CryptoProvider>,
    verifiers: VerifierCache,
}

impl Default for TlsProber {
    fn default() -> Self {
        Self::new()
    }
}

impl TlsProber {
    /// A prober with the ring provider and an empty verifier cache.
    pub fn new() -> Self {
        TlsProber {
            provider: Arc::new(rustls::crypto::ring::default_provider()),
            verifiers: VerifierCache::new(),
        }
    }

    /// The trust verifiers built so far (one per bundle probed with).
    pub fn verifiers(&self) -> &VerifierCache {
        &self.verifiers
    }

    /// Probes one endpoint. Never fails: every problem is a finding.
    pub async fn probe_target(&self, t: &ProbeTarget) -> ProbeReport {
        let start = Instant::now();
        let mut report = ProbeReport::empty();
        self.run(t, &mut report).await;
        report.findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
        report.elapsed = start.elapsed();
        report
    }
}

impl Prober for TlsProber {
    fn probe<'a>(&'a self, target: &'a ProbeTarget) -> BoxFut<'a, ProbeReport> {
        Box::pin(self.probe_target(target))
    }
}

fn secs(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms} ms")
    } else {
        format!("{} s", d.as_secs())
    }
}

async fn resolve(t: &ProbeTarget) -> Result<Vec<SocketAddr>, Finding> {
    let host = t.connect_host.trim();
    let bare = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, t.port)]);
    }
    if bare.is_empty() {
        return Err(Finding::error(FindingKind::DnsFailure, "no host name to connect to"));
    }
    match &t.resolved {
        Some(Ok(v)) if !v.is_empty() => {
            return Ok(v.iter().map(|a| SocketAddr::new(a.ip(), t.port)).collect());
        }
        Some(Ok(_)) => {
            return Err(Finding::error(
                FindingKind::DnsFailure,
                format!("{bare} resolves to no address"),
            ))
        }
        Some(Err(e)) => return Err(Finding::error(FindingKind::DnsFailure, e.clone())),
        None => {}
    }
    match tokio::time::timeout(t.connect_timeout, tokio::net::lookup_host((bare, t.port))).await {
        Err(_) => Err(Finding::error(
            FindingKind::DnsFailure,
            format!("resolving {bare} timed out after {}", secs(t.connect_timeout)),
        )),
        Ok(Err(e)) => Err(Finding::error(
            FindingKind::DnsFailure,
            format!("{bare} does not resolve: {e}"),
        )),
        Ok(Ok(addrs)) => {
            let mut v: Vec<SocketAddr> = Vec::new();
            for a in addrs {
                if !v.contains(&a) {
                    v.push(a);
                }
            }
            if v.is_empty() {
                Err(Finding::error(
                    FindingKind::DnsFailure,
                    format!("{bare} resolves to no address"),
                ))
            } else {
                Ok(v)
            }
        }
    }
}

/// Tries each address in turn; the error of the last attempt classifies the failure (a refusal
/// anywhere wins over timeouts: the host is up, nothing listens).
async fn connect(t: &ProbeTarget, addrs: &[SocketAddr]) -> Result<(tokio::net::TcpStream, SocketAddr), Finding> {
    let mut refused: Option<String> = None;
    let mut timed_out: Option<String> = None;
    let mut other: Option<String> = None;
    for a in addrs {
        match tokio::time::timeout(t.connect_timeout, tokio::net::TcpStream::connect(a)).await {
            Ok(Ok(s)) => return Ok((s, *a)),
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                refused = Some(format!(
                    "connection to {a} refused (nothing listens on port {})",
                    t.port
                ))
            }
            Ok(Err(e)) => other = Some(format!("cannot connect to {a}: {e}")),
            Err(_) => timed_out = Some(format!("connecting to {a} timed out after {}", secs(t.connect_timeout))),
        }
    }
    Err(match (refused, timed_out, other) {
        (Some(m), _, _) => Finding::error(FindingKind::ConnectionRefused, m),
        (None, Some(m), _) => Finding::error(FindingKind::Timeout, m),
        (None, None, Some(m)) => Finding::error(FindingKind::ConnectionRefused, m),
        (None, None, None) => Finding::error(FindingKind::DnsFailure, "no address to connect to"),
    })
}

impl TlsProber {
    async fn run(&self, t: &ProbeTarget, report: &mut ProbeReport) {
        let addrs = match resolve(t).await {
            Ok(a) => a,
            Err(f) => return report.findings.push(f),
        };
        let (tcp, addr) = match connect(t, &addrs).await {
            Ok(x) => x,
            Err(f) => return report.findings.push(f),
        };
        report.address = Some(addr);

        let sni = t.sni.trim().trim_start_matches('[').trim_end_matches(']').to_string();
        let name = match ServerName::try_from(sni.clone()) {
            Ok(n) => n,
            Err(e) => {
                return report.findings.push(Finding::error(
                    FindingKind::HandshakeFailed,
                    format!("'{}' is not a valid server name: {e}", t.sni),
                ))
            }
        };
        let provider = self.provider.clone();
        let recorder = Arc::new(AcceptAnyVerifier::tolerant(provider.clone()));
        let cfg =
            match rustls::ClientConfig::builder_with_provider(provider.clone()).with_safe_default_protocol_versions() {
                Ok(b) => b
                    .dangerous()
                    .with_custom_certificate_verifier(recorder.clone())
                    .with_no_client_auth(),
                Err(e) => {
                    return report.findings.push(Finding::error(
                        FindingKind::HandshakeFailed,
                        format!("TLS configuration: {e}"),
                    ))
                }
            };
        let hs = tokio::time::timeout(
            t.handshake_timeout,
            tokio_rustls::TlsConnector::from(Arc::new(cfg)).connect(name.clone(), tcp),
        )
        .await;
        let captured = recorder.recorded();
        match hs {
            Err(_) => report.findings.push(Finding::error(
                FindingKind::Timeout,
                format!(
                    "TLS handshake with {addr} timed out after {}",
                    secs(t.handshake_timeout)
                ),
            )),
            Ok(Err(e)) => report.findings.push(handshake_error(&e, addr)),
            Ok(Ok(tls)) => {
                let (_, conn) = tls.get_ref();
                report.protocol = conn.protocol_version().map(protocol_name);
                report.cipher = conn.negotiated_cipher_suite().map(|s| format!("{:?}", s.suite()));
                if let Some(p) = &report.protocol {
                    if p != "TLSv1.2" && p != "TLSv1.3" {
                        report.findings.push(Finding::error(
                            FindingKind::OldProtocol,
                            format!("the server negotiated {p} (older than TLS 1.2)"),
                        ));
                    }
                }
            }
        }
        if captured.is_empty() {
            return;
        }
        let now = Utc::now();
        report.chain = captured
            .iter()
            .filter_map(|c| crate::domain::certpem::summarize(c.as_ref(), now).ok())
            .collect();
        report.findings.extend(classify::classify(
            &captured,
            &report.chain,
            &name,
            &sni,
            t,
            &provider,
            &self.verifiers,
            now,
        ));
    }
}

fn handshake_error(e: &std::io::Error, addr: SocketAddr) -> Finding {
    let tls = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>());
    match tls {
        Some(rustls::Error::AlertReceived(AlertDescription::ProtocolVersion)) => Finding::error(
            FindingKind::OldProtocol,
            "the server offers only TLS < 1.2 (protocol_version alert)",
        ),
        Some(rustls::Error::PeerIncompatible(
            rustls::PeerIncompatible::ServerDoesNotSupportTls12Or13
            | rustls::PeerIncompatible::ServerTlsVersionIsDisabledByOurConfig,
        )) => Finding::error(
            FindingKind::OldProtocol,
            "the server offers only TLS < 1.2 (it answered with an older protocol version)",
        ),
        Some(other) => Finding::error(
            FindingKind::HandshakeFailed,
            format!("TLS handshake with {addr} failed: {other}"),
        ),
        None if e.kind() == std::io::ErrorKind::UnexpectedEof => Finding::error(
            FindingKind::HandshakeFailed,
            format!("TLS handshake with {addr} failed: the server closed the connection ({e})"),
        ),
        None => Finding::error(
            FindingKind::HandshakeFailed,
            format!("TLS handshake with {addr} failed: {e}"),
        ),
    }
}

fn protocol_name(v: rustls::ProtocolVersion) -> String {
    match v {
        rustls::ProtocolVersion::TLSv1_3 => "TLSv1.3".into(),
        rustls::ProtocolVersion::TLSv1_2 => "TLSv1.2".into(),
        rustls::ProtocolVersion::TLSv1_1 => "TLSv1.1".into(),
        rustls::ProtocolVersion::TLSv1_0 => "TLSv1.0".into(),
        other => format!("{other:?}"),
    }
}
