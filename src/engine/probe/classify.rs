//! Classification of a recorded chain: what a browser or client would object to (expiry and
//! the thresholds, not-yet-valid, weak keys, host name, trust: incomplete chain, untrusted root,
//! self-signed). The date, key and trust rules are pure (`now` and the verdict are given).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rustls::client::danger::{ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::CertificateError;

use super::report::{CertSummary, Finding, FindingKind, ProbeTarget};
use super::verifier::VerifierCache;
use crate::domain::certpem::days_until;

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

/// Every finding about a recorded chain: dates and keys, the host name, and trust (judged by
/// the verifier `verifiers` keeps for the target's bundle).
#[allow(clippy::too_many_arguments)]
pub(super) fn classify(
    captured: &[CertificateDer<'static>],
    chain: &[CertSummary],
    name: &ServerName<'static>,
    sni: &str,
    t: &ProbeTarget,
    provider: &Arc<CryptoProvider>,
    verifiers: &VerifierCache,
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
    let (verifier, trust_label) = match verifiers.get(&t.trust_pem, provider) {
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
    use crate::domain::certpem::KeyPublic;
    use crate::engine::probe::report::Severity;
    use chrono::TimeZone;

    fn cert(subject: &str, issuer: &str, nb: DateTime<Utc>, na: DateTime<Utc>, now: DateTime<Utc>) -> CertSummary {
        CertSummary {
            subject: subject.into(),
            subject_cn: None,
            sans: vec!["a.test".into()],
            dns_names: vec!["a.test".into()],
            issuer: issuer.into(),
            issuer_cn: None,
            issuer_org: None,
            serial_hex: "01".into(),
            not_before: nb,
            not_after: na,
            days_left: days_until(na, now),
            key_type: "EC P-256".into(),
            key_bits: 256,
            public_key: Ok(KeyPublic::Ec(Vec::new())),
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
}
