//! What to probe ([`ProbeTarget`]) and what a probe reports: the presented chain (as [`CertSummary`]s), the findings and their
//! severities, and the one-line summary a monitor shows.

use std::net::SocketAddr;
use std::time::Duration;

pub use crate::domain::certpem::CertSummary;

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
    /// An error finding.
    pub fn error(kind: FindingKind, message: impl Into<String>) -> Finding {
        Finding {
            kind,
            severity: Severity::Error,
            message: message.into(),
        }
    }

    /// A warning finding.
    pub fn warning(kind: FindingKind, message: impl Into<String>) -> Finding {
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
    /// An empty report (nothing reached, nothing found yet).
    pub fn empty() -> ProbeReport {
        ProbeReport {
            address: None,
            protocol: None,
            cipher: None,
            chain: Vec::new(),
            findings: Vec::new(),
            elapsed: Duration::ZERO,
        }
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_and_summary() {
        let mut r = ProbeReport {
            protocol: Some("TLSv1.3".into()),
            ..ProbeReport::empty()
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
