//! TLS endpoint probe: resolve, connect, handshake with SNI, record the presented chain (even an
//! invalid one), then classify what a browser or client would object to: expiry, host name,
//! trust, incomplete chain, self-signed, weak keys, old protocols, and network failures. Used by
//! monitoring; the service stores the reports. Never touches the database or the screen.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::StreamExt;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{AlertDescription, CertificateError, DigitallySignedStruct, SignatureScheme};
use sha2::Digest;
use x509_parser::prelude::*;
use x509_parser::public_key::PublicKey;

/// What to probe.
#[derive(Debug, Clone)]
pub struct ProbeTarget {
    /// Host name or IP literal to connect to (`::1` and `[::1]` both work).
    pub connect_host: String,
    /// TCP port.
    pub port: u16,
    /// Server name sent (SNI; not sent for an IP literal) and checked against the certificate.
    pub sni: String,
    /// Custom trust bundle (PEM); `None` = the public webpki roots.
    pub trust_pem: Option<String>,
    /// Per-address TCP connect timeout (also bounds the DNS lookup).
    pub connect_timeout: Duration,
    /// TLS handshake timeout.
    pub handshake_timeout: Duration,
    /// Fewer days left than this: a warning.
    pub warn_days: i64,
    /// Fewer days left than this: an error.
    pub error_days: i64,
    /// The addresses of `connect_host` as the caller resolved (and checked) them, used instead
    /// of resolving again; `Err` is why it did not resolve. `None`: resolve here.
    pub resolved: Option<Result<Vec<SocketAddr>, String>>,
}

/// One certificate as presented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertSummary {
    /// Subject DN, e.g. `CN=www.example.com`.
    pub subject: String,
    /// DNS and IP subject alternative names.
    pub sans: Vec<String>,
    /// Issuer DN.
    pub issuer: String,
    /// Serial, lowercase hex without leading zeros (as `service::discovery::serial_hex`).
    pub serial_hex: String,
    /// Not before.
    pub not_before: DateTime<Utc>,
    /// Not after.
    pub not_after: DateTime<Utc>,
    /// Whole days until not_after (negative once expired).
    pub days_left: i64,
    /// `RSA`, `EC P-256`, `EC P-384`, `EC P-521`, `Ed25519`, `Ed448`, or the key OID.
    pub key_type: String,
    /// Key size in bits (RSA modulus, curve size).
    pub key_bits: u32,
    /// e.g. `sha256WithRSAEncryption`, `ecdsa-with-SHA256`, or the OID.
    pub signature_algorithm: String,
    /// SHA-256 of the DER, lowercase hex.
    pub sha256_hex: String,
    /// Subject equals issuer.
    pub self_signed: bool,
}

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Works today, needs attention.
    Warning,
    /// Clients fail (or will).
    Error,
}

/// What was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FindingKind {
    /// A certificate of the chain is past its not-after.
    Expired,
    /// A certificate of the chain is before its not-before.
    NotYetValid,
    /// Fewer days left than the thresholds.
    Expiring,
    /// The leaf does not cover the SNI name.
    HostnameMismatch,
    /// The leaf's issuer was not sent (and is not a trusted root).
    IncompleteChain,
    /// The chain does not lead to a trusted root.
    Untrusted,
    /// The leaf is self-signed.
    SelfSigned,
    /// RSA < 2048 bits (or EC < 256).
    WeakKey,
    /// The server speaks only TLS < 1.2.
    OldProtocol,
    /// TCP connection refused (or otherwise impossible: unreachable network).
    ConnectionRefused,
    /// Connect or handshake timed out.
    Timeout,
    /// The host name does not resolve.
    DnsFailure,
    /// The TLS handshake failed for another reason.
    HandshakeFailed,
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// What.
    pub kind: FindingKind,
    /// How bad.
    pub severity: Severity,
    /// Specific, operator-readable, e.g. "certificate expired 3 days ago (2026-11-28)".
    pub message: String,
}

impl Finding {
    fn error(kind: FindingKind, message: impl Into<String>) -> Finding {
        Finding {
            kind,
            severity: Severity::Error,
            message: message.into(),
        }
    }

    fn warning(kind: FindingKind, message: impl Into<String>) -> Finding {
        Finding {
            kind,
            severity: Severity::Warning,
            message: message.into(),
        }
    }
}

/// The result of one probe.
#[derive(Debug, Clone)]
pub struct ProbeReport {
    /// The address connected to (None when nothing was reached).
    pub address: Option<SocketAddr>,
    /// Negotiated protocol, e.g. `TLSv1.3`.
    pub protocol: Option<String>,
    /// Negotiated cipher suite, e.g. `TLS13_AES_256_GCM_SHA384`.
    pub cipher: Option<String>,
    /// The presented chain, leaf first, in the order sent.
    pub chain: Vec<CertSummary>,
    /// Problems, most severe first.
    pub findings: Vec<Finding>,
    /// Wall time of the probe.
    pub elapsed: Duration,
}

impl ProbeReport {
    /// The most severe finding's severity, None when all is well.
    pub fn worst(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).max()
    }

    /// `"ok"`, `"warning"` or `"error"`.
    pub fn status(&self) -> &'static str {
        match self.worst() {
            None => "ok",
            Some(Severity::Warning) => "warning",
            Some(Severity::Error) => "error",
        }
    }

    /// Whether the report has a finding of `kind`.
    pub fn has(&self, kind: FindingKind) -> bool {
        self.findings.iter().any(|f| f.kind == kind)
    }

    /// One line for a status message: the findings (errors first), or protocol and expiry.
    pub fn summary(&self) -> String {
        if self.findings.is_empty() {
            let mut s = String::from("ok");
            if let Some(p) = &self.protocol {
                s.push_str(&format!(", {p}"));
            }
            if let Some(leaf) = self.chain.first() {
                s.push_str(&format!(
                    ", certificate valid for {} more days (until {})",
                    leaf.days_left,
                    leaf.not_after.format("%Y-%m-%d")
                ));
            }
            return s;
        }
        let msgs: Vec<&str> = self.findings.iter().map(|f| f.message.as_str()).collect();
        format!("{}: {}", self.status(), msgs.join("; "))
    }
}

/// Probes many targets, at most `concurrency` at once; the reports are in the targets' order.
pub async fn probe_many(targets: Vec<ProbeTarget>, concurrency: usize) -> Vec<ProbeReport> {
    futures::stream::iter(targets)
        .map(|t| async move { probe(&t).await })
        .buffered(concurrency.max(1))
        .collect()
        .await
}

/// Probes one endpoint. Never fails: every problem is a finding.
pub async fn probe(t: &ProbeTarget) -> ProbeReport {
    let start = Instant::now();
    let mut report = ProbeReport {
        address: None,
        protocol: None,
        cipher: None,
        chain: Vec::new(),
        findings: Vec::new(),
        elapsed: Duration::ZERO,
    };
    run(t, &mut report).await;
    report.findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
    report.elapsed = start.elapsed();
    report
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

/// Records the presented chain and accepts it; signatures are checked for real, except that a
/// weak RSA leaf key (which ring refuses to verify with) is accepted: it is reported as WeakKey.
#[derive(Debug)]
struct Recorder {
    provider: Arc<rustls::crypto::CryptoProvider>,
    chain: Mutex<Vec<CertificateDer<'static>>>,
}

impl Recorder {
    fn weak_rsa(cert: &CertificateDer<'_>) -> bool {
        parse_x509_certificate(cert.as_ref())
            .ok()
            .and_then(|(_, c)| match c.public_key().parsed() {
                Ok(PublicKey::RSA(k)) => Some(k.key_size() < 2048),
                _ => None,
            })
            .unwrap_or(false)
    }

    fn tolerate(
        r: Result<HandshakeSignatureValid, rustls::Error>,
        cert: &CertificateDer<'_>,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        match r {
            Err(_) if Self::weak_rsa(cert) => Ok(HandshakeSignatureValid::assertion()),
            other => other,
        }
    }
}

impl ServerCertVerifier for Recorder {
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
        Self::tolerate(
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
        Self::tolerate(
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

async fn run(t: &ProbeTarget, report: &mut ProbeReport) {
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
    static PROVIDER: std::sync::OnceLock<Arc<rustls::crypto::CryptoProvider>> = std::sync::OnceLock::new();
    let provider = PROVIDER
        .get_or_init(|| Arc::new(rustls::crypto::ring::default_provider()))
        .clone();
    let recorder = Arc::new(Recorder {
        provider: provider.clone(),
        chain: Mutex::new(Vec::new()),
    });
    let cfg = match rustls::ClientConfig::builder_with_provider(provider.clone()).with_safe_default_protocol_versions()
    {
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
    let captured = recorder.chain.lock().map(|g| g.clone()).unwrap_or_default();
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
    report.chain = captured.iter().filter_map(|c| summarize(c.as_ref(), now)).collect();
    report
        .findings
        .extend(classify(&captured, &report.chain, &name, &sni, t, &provider, now));
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

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn signature_name(oid: &str) -> String {
    match oid {
        "1.2.840.113549.1.1.5" => "sha1WithRSAEncryption",
        "1.2.840.113549.1.1.4" => "md5WithRSAEncryption",
        "1.2.840.113549.1.1.11" => "sha256WithRSAEncryption",
        "1.2.840.113549.1.1.12" => "sha384WithRSAEncryption",
        "1.2.840.113549.1.1.13" => "sha512WithRSAEncryption",
        "1.2.840.113549.1.1.10" => "RSASSA-PSS",
        "1.2.840.10045.4.1" => "ecdsa-with-SHA1",
        "1.2.840.10045.4.3.2" => "ecdsa-with-SHA256",
        "1.2.840.10045.4.3.3" => "ecdsa-with-SHA384",
        "1.2.840.10045.4.3.4" => "ecdsa-with-SHA512",
        "1.3.101.112" => "Ed25519",
        "1.3.101.113" => "Ed448",
        other => return other.to_string(),
    }
    .to_string()
}

fn key_info(spki: &SubjectPublicKeyInfo<'_>) -> (String, u32) {
    let alg = spki.algorithm.algorithm.to_id_string();
    match alg.as_str() {
        "1.3.101.112" => return ("Ed25519".into(), 256),
        "1.3.101.113" => return ("Ed448".into(), 456),
        _ => {}
    }
    match spki.parsed() {
        Ok(PublicKey::RSA(k)) => ("RSA".into(), k.key_size() as u32),
        Ok(PublicKey::EC(p)) => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|o| o.to_id_string());
            match curve.as_deref() {
                Some("1.2.840.10045.3.1.7") => ("EC P-256".into(), 256),
                Some("1.3.132.0.34") => ("EC P-384".into(), 384),
                Some("1.3.132.0.35") => ("EC P-521".into(), 521),
                Some(o) => (format!("EC {o}"), p.key_size() as u32),
                None => ("EC".into(), p.key_size() as u32),
            }
        }
        Ok(PublicKey::DSA(_)) => ("DSA".into(), 0),
        _ => (alg, 0),
    }
}

/// Whole days from `now` to `t` (rounded toward negative infinity: 1 h after expiry is -1).
pub fn days_until(t: DateTime<Utc>, now: DateTime<Utc>) -> i64 {
    (t - now).num_seconds().div_euclid(86_400)
}

/// The summary of one DER certificate (None if it does not parse).
pub fn summarize(der: &[u8], now: DateTime<Utc>) -> Option<CertSummary> {
    let (_, c) = parse_x509_certificate(der).ok()?;
    let mut sans = Vec::new();
    if let Ok(Some(san)) = c.subject_alternative_name() {
        for n in &san.value.general_names {
            match n {
                GeneralName::DNSName(d) => sans.push(d.to_string()),
                GeneralName::IPAddress(b) => {
                    if let Ok(a) = <[u8; 4]>::try_from(*b) {
                        sans.push(IpAddr::from(a).to_string());
                    } else if let Ok(a) = <[u8; 16]>::try_from(*b) {
                        sans.push(IpAddr::from(a).to_string());
                    }
                }
                _ => {}
            }
        }
    }
    let ts = |t: ASN1Time| DateTime::<Utc>::from_timestamp(t.timestamp(), 0).unwrap_or_default();
    let not_before = ts(c.validity().not_before);
    let not_after = ts(c.validity().not_after);
    let serial = c.raw_serial();
    let i = serial
        .iter()
        .position(|b| *b != 0)
        .unwrap_or(serial.len().saturating_sub(1));
    let (key_type, key_bits) = key_info(c.public_key());
    Some(CertSummary {
        subject: c.subject().to_string(),
        sans,
        issuer: c.issuer().to_string(),
        serial_hex: hex(&serial[i..]),
        not_before,
        not_after,
        days_left: days_until(not_after, now),
        key_type,
        key_bits,
        signature_algorithm: signature_name(&c.signature_algorithm.algorithm.to_id_string()),
        sha256_hex: hex(&sha2::Sha256::digest(der)),
        self_signed: c.subject().as_raw() == c.issuer().as_raw(),
    })
}

/// "1 day", "N days".
fn n_days(n: i64) -> String {
    if n == 1 {
        "1 day".into()
    } else {
        format!("{n} days")
    }
}

/// "within a day", "in 1 day", "in N days".
fn expires_in(days_left: i64) -> String {
    if days_left <= 0 {
        "within a day".into()
    } else {
        format!("in {}", n_days(days_left))
    }
}

/// Label of the i-th certificate of a chain for messages.
fn label(i: usize, s: &CertSummary) -> String {
    if i == 0 {
        "certificate".into()
    } else {
        format!("chain certificate #{} ({})", i + 1, s.subject)
    }
}

/// Findings from the dates and keys of the chain (pure: `now` is given).
pub fn date_and_key_findings(
    chain: &[CertSummary],
    now: DateTime<Utc>,
    warn_days: i64,
    error_days: i64,
) -> Vec<Finding> {
    let mut out = Vec::new();
    for (i, s) in chain.iter().enumerate() {
        let what = label(i, s);
        if now >= s.not_after {
            let ago = days_until(now, s.not_after).max(0);
            let when = match ago {
                0 => "today".to_string(),
                n => format!("{} ago", n_days(n)),
            };
            out.push(Finding::error(
                FindingKind::Expired,
                format!("{what} expired {when} ({})", s.not_after.format("%Y-%m-%d")),
            ));
        } else if now < s.not_before {
            let inn = days_until(s.not_before, now).max(0);
            out.push(Finding::error(
                FindingKind::NotYetValid,
                format!(
                    "{what} is not valid yet: valid from {} (in {})",
                    s.not_before.format("%Y-%m-%d %H:%M UTC"),
                    n_days(inn)
                ),
            ));
        } else if s.days_left < error_days {
            out.push(Finding::error(
                FindingKind::Expiring,
                format!(
                    "{what} expires {} ({}), under the error threshold of {}",
                    expires_in(s.days_left),
                    s.not_after.format("%Y-%m-%d"),
                    n_days(error_days)
                ),
            ));
        } else if s.days_left < warn_days {
            out.push(Finding::warning(
                FindingKind::Expiring,
                format!(
                    "{what} expires {} ({}), under the warning threshold of {}",
                    expires_in(s.days_left),
                    s.not_after.format("%Y-%m-%d"),
                    n_days(warn_days)
                ),
            ));
        }
        if s.key_type == "RSA" && s.key_bits < 2048 {
            out.push(Finding::error(
                FindingKind::WeakKey,
                format!("{what} has a {}-bit RSA key (at least 2048 bits needed)", s.key_bits),
            ));
        } else if s.key_type.starts_with("EC") && s.key_bits > 0 && s.key_bits < 256 {
            out.push(Finding::error(
                FindingKind::WeakKey,
                format!("{what} has a {}-bit EC key (at least 256 bits needed)", s.key_bits),
            ));
        }
    }
    out
}

/// The trust-chain classification after webpki's verdict at a fixed time (pure).
/// `verdict` is the webpki result; `chain` the presented summaries.
pub fn trust_finding(verdict: Result<(), &rustls::Error>, chain: &[CertSummary], trust_label: &str) -> Option<Finding> {
    let leaf = chain.first()?;
    if leaf.self_signed {
        return Some(Finding::error(
            FindingKind::SelfSigned,
            format!("the certificate is self-signed ({}): no client trusts it", leaf.subject),
        ));
    }
    let err = verdict.err()?;
    match err {
        rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer) => {
            let issuer_sent = chain.iter().skip(1).any(|c| c.subject == leaf.issuer);
            if !issuer_sent {
                Some(Finding::error(
                    FindingKind::IncompleteChain,
                    format!(
                        "incomplete chain: the issuer of the certificate ({}) was not sent and is not a trusted root ({trust_label}); serve the intermediate certificate(s) with the leaf",
                        leaf.issuer
                    ),
                ))
            } else {
                let top = chain.iter().rev().find(|c| c.subject != leaf.subject).unwrap_or(leaf);
                Some(Finding::error(
                    FindingKind::Untrusted,
                    format!(
                        "untrusted: the chain ends at {} (issued by {}), which is not in {trust_label}",
                        top.subject, top.issuer
                    ),
                ))
            }
        }
        rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        ) => None, // reported by the name check
        rustls::Error::InvalidCertificate(
            CertificateError::Expired
            | CertificateError::ExpiredContext { .. }
            | CertificateError::NotValidYet
            | CertificateError::NotValidYetContext { .. },
        ) => None, // reported from the dates
        other => Some(Finding::error(
            FindingKind::Untrusted,
            format!("the chain does not verify against {trust_label}: {other}"),
        )),
    }
}

fn roots(t: &ProbeTarget) -> Result<(rustls::RootCertStore, String), String> {
    match &t.trust_pem {
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

/// Verifiers built per trust bundle (the public roots or one custom PEM), shared by every probe:
/// thousands of monitors share a handful of bundles, and building the store and verifier is
/// most of a probe's own CPU time.
type VerifierCache = std::collections::HashMap<Option<String>, (Arc<rustls::client::WebPkiServerVerifier>, String)>;

fn verifier_for(
    t: &ProbeTarget,
    provider: &Arc<rustls::crypto::CryptoProvider>,
) -> Result<(Arc<rustls::client::WebPkiServerVerifier>, String), String> {
    static CACHE: std::sync::OnceLock<Mutex<VerifierCache>> = std::sync::OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(hit) = cache.lock().ok().and_then(|c| c.get(&t.trust_pem).cloned()) {
        return Ok(hit);
    }
    let (store, label) = roots(t).map_err(|e| format!("the custom trust bundle is unusable: {e}"))?;
    let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(store), provider.clone())
        .build()
        .map_err(|e| e.to_string())?;
    if let Ok(mut c) = cache.lock() {
        if c.len() >= 256 {
            c.clear();
        }
        c.insert(t.trust_pem.clone(), (verifier.clone(), label.clone()));
    }
    Ok((verifier, label))
}

fn classify(
    captured: &[CertificateDer<'static>],
    chain: &[CertSummary],
    name: &ServerName<'static>,
    sni: &str,
    t: &ProbeTarget,
    provider: &Arc<rustls::crypto::CryptoProvider>,
    now: DateTime<Utc>,
) -> Vec<Finding> {
    let mut out = date_and_key_findings(chain, now, t.warn_days, t.error_days);
    let Some(leaf_der) = captured.first() else {
        return out;
    };
    // Host name, independent of trust and dates.
    match rustls::server::ParsedCertificate::try_from(leaf_der) {
        Ok(parsed) => {
            if rustls::client::verify_server_name(&parsed, name).is_err() {
                let covers = chain.first().map(|s| s.sans.join(", ")).unwrap_or_default();
                out.push(Finding::error(
                    FindingKind::HostnameMismatch,
                    format!(
                        "the certificate is not valid for {sni}: it covers {}",
                        if covers.is_empty() {
                            "no names".to_string()
                        } else {
                            covers
                        }
                    ),
                ));
            }
        }
        Err(e) => out.push(Finding::error(
            FindingKind::HandshakeFailed,
            format!("the certificate cannot be parsed: {e}"),
        )),
    }
    // Trust, at a time inside the leaf's validity so that dates do not mask the chain's verdict.
    let (verifier, trust_label) = match verifier_for(t, provider) {
        Ok(v) => v,
        Err(e) => {
            out.push(Finding::error(
                FindingKind::Untrusted,
                format!("trust cannot be checked: {e}"),
            ));
            return out;
        }
    };
    let at = match chain.first() {
        Some(l) if now >= l.not_before && now < l.not_after => now,
        Some(l) => l.not_before + (l.not_after - l.not_before) / 2,
        None => now,
    };
    let unix = UnixTime::since_unix_epoch(Duration::from_secs(at.timestamp().max(0) as u64));
    // Verify with the DNS name of the leaf when the SNI mismatches, so the chain verdict is not
    // a name error.
    let verdict = verifier.verify_server_cert(leaf_der, &captured[1..], name, &[], unix);
    let verdict = match verdict {
        Err(rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        )) => Ok(ServerCertVerified::assertion()),
        v => v,
    };
    if let Some(f) = trust_finding(verdict.as_ref().map(|_| ()), chain, &trust_label) {
        out.push(f);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn cert(subject: &str, issuer: &str, nb: DateTime<Utc>, na: DateTime<Utc>, now: DateTime<Utc>) -> CertSummary {
        CertSummary {
            subject: subject.into(),
            sans: vec!["a.test".into()],
            issuer: issuer.into(),
            serial_hex: "01".into(),
            not_before: nb,
            not_after: na,
            days_left: days_until(na, now),
            key_type: "EC P-256".into(),
            key_bits: 256,
            signature_algorithm: "ecdsa-with-SHA256".into(),
            sha256_hex: String::new(),
            self_signed: subject == issuer,
        }
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap()
    }

    #[test]
    fn days_until_rounds_down() {
        let n = now();
        assert_eq!(days_until(n + chrono::Duration::hours(47), n), 1);
        assert_eq!(days_until(n + chrono::Duration::hours(48), n), 2);
        assert_eq!(days_until(n - chrono::Duration::hours(1), n), -1);
    }

    #[test]
    fn expired_names_days_and_date() {
        let n = now();
        let c = cert(
            "CN=a",
            "CN=ca",
            n - chrono::Duration::days(90),
            n - chrono::Duration::days(3),
            n,
        );
        let f = date_and_key_findings(&[c], n, 30, 7);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].kind, FindingKind::Expired);
        assert_eq!(f[0].severity, Severity::Error);
        assert_eq!(f[0].message, "certificate expired 3 days ago (2026-11-28)");
        let c = cert(
            "CN=a",
            "CN=ca",
            n - chrono::Duration::days(90),
            n - chrono::Duration::hours(30),
            n,
        );
        let f = date_and_key_findings(&[c], n, 30, 7);
        assert_eq!(f[0].message, "certificate expired 1 day ago (2026-11-30)");
        let c = cert(
            "CN=a",
            "CN=ca",
            n - chrono::Duration::days(90),
            n + chrono::Duration::hours(3),
            n,
        );
        let f = date_and_key_findings(&[c], n, 30, 7);
        assert_eq!(
            f[0].message,
            "certificate expires within a day (2026-12-01), under the error threshold of 7 days"
        );
    }

    #[test]
    fn not_yet_valid_and_thresholds() {
        let n = now();
        let future = cert(
            "CN=a",
            "CN=ca",
            n + chrono::Duration::days(2),
            n + chrono::Duration::days(90),
            n,
        );
        let f = date_and_key_findings(&[future], n, 30, 7);
        assert_eq!(f[0].kind, FindingKind::NotYetValid);
        assert!(f[0].message.contains("in 2 days"), "{}", f[0].message);

        let soon = cert(
            "CN=a",
            "CN=ca",
            n - chrono::Duration::days(2),
            n + chrono::Duration::days(20),
            n,
        );
        let f = date_and_key_findings(std::slice::from_ref(&soon), n, 30, 7);
        assert_eq!((f[0].kind, f[0].severity), (FindingKind::Expiring, Severity::Warning));
        assert!(f[0].message.contains("expires in 20 days"), "{}", f[0].message);
        let f = date_and_key_findings(std::slice::from_ref(&soon), n, 30, 21);
        assert_eq!((f[0].kind, f[0].severity), (FindingKind::Expiring, Severity::Error));
        assert!(date_and_key_findings(&[soon], n, 20, 7).is_empty());
    }

    #[test]
    fn weak_rsa_is_an_error_strong_is_not() {
        let n = now();
        let mut c = cert(
            "CN=a",
            "CN=ca",
            n - chrono::Duration::days(1),
            n + chrono::Duration::days(90),
            n,
        );
        c.key_type = "RSA".into();
        c.key_bits = 1024;
        let f = date_and_key_findings(std::slice::from_ref(&c), n, 30, 7);
        assert_eq!(f.len(), 1);
        assert_eq!((f[0].kind, f[0].severity), (FindingKind::WeakKey, Severity::Error));
        assert!(f[0].message.contains("1024-bit RSA"));
        c.key_bits = 2048;
        assert!(date_and_key_findings(&[c], n, 30, 7).is_empty());
    }

    #[test]
    fn trust_classification() {
        let n = now();
        let (nb, na) = (n - chrono::Duration::days(1), n + chrono::Duration::days(90));
        let unknown = rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer);
        let leaf = cert("CN=a", "CN=Int", nb, na, n);
        let int = cert("CN=Int", "CN=Root", nb, na, n);
        // leaf only: its issuer was not sent
        let f = trust_finding(Err(&unknown), std::slice::from_ref(&leaf), "roots").unwrap();
        assert_eq!(f.kind, FindingKind::IncompleteChain);
        assert!(f.message.contains("CN=Int"), "{}", f.message);
        // leaf + intermediate: complete-looking, unknown root
        let f = trust_finding(Err(&unknown), &[leaf.clone(), int.clone()], "roots").unwrap();
        assert_eq!(f.kind, FindingKind::Untrusted);
        assert!(
            f.message.contains("CN=Int") && f.message.contains("CN=Root"),
            "{}",
            f.message
        );
        // verified
        assert!(trust_finding(Ok(()), &[leaf.clone(), int], "roots").is_none());
        // self-signed wins
        let ss = cert("CN=a", "CN=a", nb, na, n);
        let f = trust_finding(Err(&unknown), &[ss], "roots").unwrap();
        assert_eq!(f.kind, FindingKind::SelfSigned);
        // dates are not trust findings
        let exp = rustls::Error::InvalidCertificate(CertificateError::Expired);
        assert!(trust_finding(Err(&exp), &[leaf], "roots").is_none());
    }

    #[test]
    fn status_and_summary() {
        let mut r = ProbeReport {
            address: None,
            protocol: Some("TLSv1.3".into()),
            cipher: None,
            chain: vec![],
            findings: vec![],
            elapsed: Duration::ZERO,
        };
        assert_eq!(r.status(), "ok");
        assert!(r.summary().starts_with("ok, TLSv1.3"), "{}", r.summary());
        r.findings
            .push(Finding::warning(FindingKind::Expiring, "expires in 5 days"));
        assert_eq!(r.status(), "warning");
        r.findings
            .push(Finding::error(FindingKind::HostnameMismatch, "not valid for x"));
        assert_eq!(r.status(), "error");
        assert_eq!(r.summary(), "error: expires in 5 days; not valid for x");
    }
}
