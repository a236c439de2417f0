//! The TLS probe against the test bed's real nginx: each case is a site (its own server_name on
//! the bed's TLS port, or its own 127.0.0.1 / ::1 port when the protocol or cipher settings must
//! differ) serving certificates made here by a test CA that is passed as the trust bundle.
//! Sites are removed afterwards. The tests reload the shared nginx, so they hold [`BED_LOCK`]
//! (and nextest runs this binary in the one-thread `webservers` group).

mod common;

use common::nginx_pki::*;

use std::time::Duration;

use certdeck::domain::certpem::serial_hex;
use certdeck::engine::probe::{FindingKind, ProbeReport, ProbeTarget, Prober, Severity, TlsProber};
use rcgen::{KeyPair, PublicKeyData};
use sha2::Digest;

static BED_LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// One prober for the whole binary (it keeps the trust verifiers it builds).
fn prober() -> &'static TlsProber {
    static P: std::sync::OnceLock<TlsProber> = std::sync::OnceLock::new();
    P.get_or_init(TlsProber::new)
}

/// Ports of the protocol/cipher-specific sites (127.0.0.1 unless noted) and a closed one.
const PORT_RSA1024: u16 = 18461;
const PORT_TLS12: u16 = 18462;
const PORT_TLS10: u16 = 18463;
const PORT_IPV6: u16 = 18464;
const PORT_CLOSED: u16 = 18469;

fn target(host: &str, port: u16, sni: &str, trust: Option<&str>) -> ProbeTarget {
    ProbeTarget {
        connect_host: host.into(),
        port,
        sni: sni.into(),
        trust_pem: trust.map(str::to_string),
        connect_timeout: Duration::from_secs(3),
        handshake_timeout: Duration::from_secs(5),
        warn_days: 30,
        error_days: 7,
        resolved: None,
    }
}

/// Probes until `ready` holds (nginx's old workers answer for a moment after a reload), for at
/// most 10 s; returns the last report either way (the assertions then say what is wrong).
async fn probe_until(t: &ProbeTarget, ready: impl Fn(&ProbeReport) -> bool) -> ProbeReport {
    let mut last = prober().probe(t).await;
    for _ in 0..100 {
        if ready(&last) {
            // and once more: a second worker generation must not disagree
            tokio::time::sleep(Duration::from_millis(200)).await;
            let again = prober().probe(t).await;
            if ready(&again) {
                return again;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        last = prober().probe(t).await;
    }
    last
}

fn serves(leaf_der: &[u8]) -> impl Fn(&ProbeReport) -> bool {
    let sha = sha_hex(leaf_der);
    move |r: &ProbeReport| r.chain.first().is_some_and(|c| c.sha256_hex == sha)
}

fn sha_hex(der: &[u8]) -> String {
    sha2::Sha256::digest(der).iter().map(|b| format!("{b:02x}")).collect()
}

fn kinds(r: &ProbeReport) -> Vec<FindingKind> {
    r.findings.iter().map(|f| f.kind).collect()
}

fn only(r: &ProbeReport, kind: FindingKind, severity: Severity, fragment: &str) {
    assert_eq!(kinds(r), vec![kind], "{r:#?}");
    assert_eq!(r.findings[0].severity, severity, "{r:#?}");
    assert!(
        r.findings[0].message.contains(fragment),
        "message {:?} lacks {fragment:?}",
        r.findings[0].message
    );
    let status = match severity {
        Severity::Warning => "warning",
        Severity::Error => "error",
    };
    assert_eq!(r.status(), status);
    assert!(r.summary().contains(fragment), "{}", r.summary());
}

/// Serves `leaf_pem` + the intermediate for `name` on the bed's port and waits for it.
async fn served(bed: &Nginx, pki: &Pki, name: &str, leaf: &(Vec<u8>, String, String)) -> (Site, ProbeReport) {
    let site = make_site(bed, name, &format!("{}{}", leaf.1, pki.int_pem), &leaf.2, None, "");
    let r = probe_until(
        &target("127.0.0.1", bed.port, name, Some(&pki.root_pem)),
        serves(&leaf.0),
    )
    .await;
    (site, r)
}

#[tokio::test]
async fn tls_probe_valid_chain_is_ok_and_recorded() {
    let Some(bed) = bed() else { return };
    let _g = BED_LOCK.lock().await;
    let pki = pki();
    let name = "valid.probe.test";
    let l = leaf(&pki, &[name, "www.valid.probe.test"], -1, 60);
    let (_site, r) = served(&bed, &pki, name, &l).await;
    assert_eq!(r.status(), "ok", "{r:#?}");
    assert!(r.findings.is_empty(), "{r:#?}");
    assert_eq!(r.address, Some(format!("127.0.0.1:{}", bed.port).parse().unwrap()));
    assert_eq!(r.protocol.as_deref(), Some("TLSv1.3"));
    assert!(
        r.cipher.as_deref().is_some_and(|c| c.starts_with("TLS13_")),
        "{:?}",
        r.cipher
    );
    assert_eq!(r.chain.len(), 2, "{r:#?}");
    let (lf, int) = (&r.chain[0], &r.chain[1]);
    assert_eq!(lf.subject, format!("CN={name}"));
    assert_eq!(lf.sans, vec![name.to_string(), "www.valid.probe.test".to_string()]);
    assert_eq!(lf.issuer, format!("CN={INT_CN}"));
    assert_eq!(lf.serial_hex, serial_hex(&l.0).unwrap());
    assert_eq!(lf.sha256_hex, sha_hex(&l.0));
    assert!((59..=60).contains(&lf.days_left), "{}", lf.days_left);
    assert!(lf.not_after > chrono::Utc::now() + chrono::Duration::days(59));
    assert!(lf.not_before < chrono::Utc::now());
    assert_eq!((lf.key_type.as_str(), lf.key_bits), ("EC P-256", 256));
    assert_eq!(lf.signature_algorithm, "ecdsa-with-SHA256");
    assert!(!lf.self_signed);
    assert_eq!(int.subject, format!("CN={INT_CN}"));
    assert_eq!(int.issuer, format!("CN={ROOT_CN}"));
    assert!(
        r.summary().starts_with("ok, TLSv1.3, certificate valid for"),
        "{}",
        r.summary()
    );

    // The same site against thresholds: 60 days left is a warning under 90, an error under 61.
    let mut t = target("127.0.0.1", bed.port, name, Some(&pki.root_pem));
    t.warn_days = 90;
    let w = prober().probe(&t).await;
    only(
        &w,
        FindingKind::Expiring,
        Severity::Warning,
        "warning threshold of 90 days",
    );
    assert!(
        w.findings[0].message.contains("expires in"),
        "{}",
        w.findings[0].message
    );
    t.error_days = 61;
    let e = prober().probe(&t).await;
    only(&e, FindingKind::Expiring, Severity::Error, "error threshold of 61 days");

    // The public webpki roots do not know the test CA: untrusted, the chain still recorded.
    let u = prober().probe(&target("127.0.0.1", bed.port, name, None)).await;
    only(&u, FindingKind::Untrusted, Severity::Error, "public (webpki) roots");
    assert!(u.findings[0].message.contains(INT_CN), "{}", u.findings[0].message);
    assert_eq!(u.chain.len(), 2);
    assert_eq!(u.chain[0].sha256_hex, sha_hex(&l.0));

    // probe_many keeps the order and probes each.
    let many = prober()
        .probe_many(
            vec![
                target("nonexistent.invalid", 443, "nonexistent.invalid", None),
                target("127.0.0.1", bed.port, name, Some(&pki.root_pem)),
                target("127.0.0.1", PORT_CLOSED, name, None),
                target("127.0.0.1", bed.port, name, None),
            ],
            2,
        )
        .await;
    assert_eq!(
        many.iter().map(|r| r.status()).collect::<Vec<_>>(),
        vec!["error", "ok", "error", "error"]
    );
    assert_eq!(kinds(&many[0]), vec![FindingKind::DnsFailure]);
    assert_eq!(kinds(&many[2]), vec![FindingKind::ConnectionRefused]);
    assert_eq!(kinds(&many[3]), vec![FindingKind::Untrusted]);
}

#[tokio::test]
async fn tls_probe_expired_and_not_yet_valid() {
    let Some(bed) = bed() else { return };
    let _g = BED_LOCK.lock().await;
    let pki = pki();
    let name = "expired.probe.test";
    let l = leaf(&pki, &[name], -90, -3);
    let (site, r) = served(&bed, &pki, name, &l).await;
    let date = (chrono::Utc::now() - chrono::Duration::days(3))
        .format("%Y-%m-%d")
        .to_string();
    only(
        &r,
        FindingKind::Expired,
        Severity::Error,
        &format!("certificate expired 3 days ago ({date})"),
    );
    assert!(r.chain[0].days_left < 0, "{}", r.chain[0].days_left);
    drop(site);

    let name = "future.probe.test";
    // 2 days + 1 hour ahead, so the day count does not depend on the seconds the test takes
    let key = KeyPair::generate().unwrap();
    let mut p = leaf_params(&[name], 2, 90);
    p.not_before += time::Duration::hours(1);
    let c = p.signed_by(&key, &pki.int_issuer).unwrap();
    let l = (c.der().to_vec(), c.pem(), key.serialize_pem());
    let (_site, r) = served(&bed, &pki, name, &l).await;
    only(&r, FindingKind::NotYetValid, Severity::Error, "not valid yet");
    assert!(
        r.findings[0].message.contains("(in 2 days)"),
        "{}",
        r.findings[0].message
    );
}

#[tokio::test]
async fn tls_probe_wrong_host_name() {
    let Some(bed) = bed() else { return };
    let _g = BED_LOCK.lock().await;
    let pki = pki();
    let name = "mismatch.probe.test";
    let l = leaf(&pki, &["other.probe.test", "*.other.probe.test"], -1, 60);
    let (_site, r) = served(&bed, &pki, name, &l).await;
    only(
        &r,
        FindingKind::HostnameMismatch,
        Severity::Error,
        "not valid for mismatch.probe.test: it covers other.probe.test, *.other.probe.test",
    );
    assert_eq!(r.chain.len(), 2);
}

#[tokio::test]
async fn tls_probe_self_signed() {
    let Some(bed) = bed() else { return };
    let _g = BED_LOCK.lock().await;
    let pki = pki();
    let name = "selfsigned.probe.test";
    let key = KeyPair::generate().unwrap();
    let c = leaf_params(&[name], -1, 60).self_signed(&key).unwrap();
    let site = make_site(&bed, name, &c.pem(), &key.serialize_pem(), None, "");
    let r = probe_until(
        &target("127.0.0.1", bed.port, name, Some(&pki.root_pem)),
        serves(c.der()),
    )
    .await;
    only(
        &r,
        FindingKind::SelfSigned,
        Severity::Error,
        "self-signed (CN=selfsigned.probe.test)",
    );
    assert_eq!(r.chain.len(), 1);
    assert!(r.chain[0].self_signed);
    assert_eq!(r.chain[0].issuer, r.chain[0].subject);
    drop(site);
}

#[tokio::test]
async fn tls_probe_missing_intermediate() {
    let Some(bed) = bed() else { return };
    let _g = BED_LOCK.lock().await;
    let pki = pki();
    let name = "incomplete.probe.test";
    let l = leaf(&pki, &[name], -1, 60);
    let _site = make_site(&bed, name, &l.1, &l.2, None, "");
    let r = probe_until(&target("127.0.0.1", bed.port, name, Some(&pki.root_pem)), serves(&l.0)).await;
    only(&r, FindingKind::IncompleteChain, Severity::Error, "incomplete chain");
    assert!(
        r.findings[0].message.contains(&format!("CN={INT_CN}")),
        "{}",
        r.findings[0].message
    );
    assert_eq!(r.chain.len(), 1);
}

#[tokio::test]
async fn tls_probe_rsa_1024_leaf_is_weak() {
    let Some(bed) = bed() else { return };
    let _g = BED_LOCK.lock().await;
    let pki = pki();
    let name = "rsa1024.probe.test";
    use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey};
    let key = rsa::RsaPrivateKey::new(&mut rand::rng(), 1024).unwrap();
    let spki = key.to_public_key().to_public_key_der().unwrap();
    let pubkey = rcgen::SubjectPublicKeyInfo::from_der(spki.as_bytes()).unwrap();
    assert!(!pubkey.der_bytes().is_empty());
    let c = leaf_params(&[name], -1, 60)
        .signed_by(&pubkey, &pki.int_issuer)
        .unwrap();
    let key_pem = key.to_pkcs8_pem(rsa::pkcs8::LineEnding::LF).unwrap().to_string();
    let listen = format!("127.0.0.1:{PORT_RSA1024}");
    let _site = make_site(
        &bed,
        name,
        &format!("{}{}", c.pem(), pki.int_pem),
        &key_pem,
        Some(&listen),
        "  ssl_ciphers DEFAULT:@SECLEVEL=0;",
    );
    let r = probe_until(
        &target("127.0.0.1", PORT_RSA1024, name, Some(&pki.root_pem)),
        serves(c.der()),
    )
    .await;
    only(&r, FindingKind::WeakKey, Severity::Error, "1024-bit RSA key");
    assert_eq!((r.chain[0].key_type.as_str(), r.chain[0].key_bits), ("RSA", 1024));
    assert!(r.protocol.is_some(), "the handshake completes: {r:#?}");
}

#[tokio::test]
async fn tls_probe_tls12_only_site_is_ok() {
    let Some(bed) = bed() else { return };
    let _g = BED_LOCK.lock().await;
    let pki = pki();
    let name = "tls12.probe.test";
    let l = leaf(&pki, &[name], -1, 60);
    let listen = format!("127.0.0.1:{PORT_TLS12}");
    let _site = make_site(
        &bed,
        name,
        &format!("{}{}", l.1, pki.int_pem),
        &l.2,
        Some(&listen),
        "  ssl_protocols TLSv1.2;",
    );
    let r = probe_until(
        &target("127.0.0.1", PORT_TLS12, name, Some(&pki.root_pem)),
        serves(&l.0),
    )
    .await;
    assert_eq!(r.status(), "ok", "{r:#?}");
    assert_eq!(r.protocol.as_deref(), Some("TLSv1.2"));
    assert!(
        r.cipher.as_deref().is_some_and(|c| c.starts_with("TLS_ECDHE_ECDSA_")),
        "{:?}",
        r.cipher
    );
    assert_eq!(r.chain.len(), 2);
}

#[tokio::test]
async fn tls_probe_tls10_only_site_is_old_protocol() {
    let Some(bed) = bed() else { return };
    let _g = BED_LOCK.lock().await;
    let pki = pki();
    let name = "tls10.probe.test";
    let l = leaf(&pki, &[name], -1, 60);
    let listen = format!("127.0.0.1:{PORT_TLS10}");
    let _site = make_site(
        &bed,
        name,
        &format!("{}{}", l.1, pki.int_pem),
        &l.2,
        Some(&listen),
        "  ssl_protocols TLSv1;\n  ssl_ciphers DEFAULT:@SECLEVEL=0;",
    );
    let r = probe_until(&target("127.0.0.1", PORT_TLS10, name, Some(&pki.root_pem)), |r| {
        !r.has(FindingKind::ConnectionRefused)
    })
    .await;
    only(&r, FindingKind::OldProtocol, Severity::Error, "only TLS < 1.2");
    assert!(r.chain.is_empty());
    assert_eq!(r.protocol, None);
    assert_eq!(r.address, Some(listen.parse().unwrap()));
}

#[tokio::test]
async fn tls_probe_ipv6_loopback() {
    let Some(bed) = bed() else { return };
    let _g = BED_LOCK.lock().await;
    let pki = pki();
    let name = "ipv6.probe.test";
    let l = leaf(&pki, &[name], -1, 60);
    let listen = format!("[::1]:{PORT_IPV6}");
    let _site = make_site(&bed, name, &format!("{}{}", l.1, pki.int_pem), &l.2, Some(&listen), "");
    let r = probe_until(&target("::1", PORT_IPV6, name, Some(&pki.root_pem)), serves(&l.0)).await;
    assert_eq!(r.status(), "ok", "{r:#?}");
    assert_eq!(r.address, Some(listen.parse().unwrap()));
    assert_eq!(r.chain.len(), 2);
    // the bracketed form works too
    let r = prober()
        .probe(&target("[::1]", PORT_IPV6, name, Some(&pki.root_pem)))
        .await;
    assert_eq!(r.status(), "ok", "{r:#?}");
}

#[tokio::test]
async fn tls_probe_closed_port_is_refused() {
    common::init();
    let r = prober()
        .probe(&target("127.0.0.1", PORT_CLOSED, "closed.probe.test", None))
        .await;
    only(
        &r,
        FindingKind::ConnectionRefused,
        Severity::Error,
        "127.0.0.1:18469 refused",
    );
    assert_eq!(r.address, None);
    assert!(r.chain.is_empty());
}

#[tokio::test]
async fn tls_probe_unresolvable_name_is_dns_failure() {
    common::init();
    let r = prober()
        .probe(&target("nonexistent.invalid", 443, "nonexistent.invalid", None))
        .await;
    only(
        &r,
        FindingKind::DnsFailure,
        Severity::Error,
        "nonexistent.invalid does not resolve",
    );
    assert_eq!(r.address, None);
}

#[tokio::test]
async fn tls_probe_silent_server_times_out() {
    common::init();
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let hold = tokio::spawn(async move {
        let (s, _) = l.accept().await.unwrap();
        tokio::time::sleep(Duration::from_secs(10)).await;
        drop(s);
    });
    let mut t = target("127.0.0.1", port, "silent.probe.test", None);
    t.handshake_timeout = Duration::from_millis(500);
    let r = prober().probe(&t).await;
    only(
        &r,
        FindingKind::Timeout,
        Severity::Error,
        "TLS handshake with 127.0.0.1:",
    );
    assert!(
        r.findings[0].message.ends_with("timed out after 500 ms"),
        "{}",
        r.findings[0].message
    );
    assert!(
        r.elapsed >= Duration::from_millis(500) && r.elapsed < Duration::from_secs(5),
        "{:?}",
        r.elapsed
    );
    hold.abort();
}

#[tokio::test]
async fn tls_probe_non_tls_server_is_handshake_failure() {
    common::init();
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let serve = tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        let (mut s, _) = l.accept().await.unwrap();
        let _ = s
            .write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            .await;
        tokio::time::sleep(Duration::from_secs(2)).await;
    });
    let r = prober()
        .probe(&target("127.0.0.1", port, "plain.probe.test", None))
        .await;
    only(
        &r,
        FindingKind::HandshakeFailed,
        Severity::Error,
        &format!("TLS handshake with 127.0.0.1:{port} failed"),
    );
    assert!(r.chain.is_empty());
    serve.abort();
}
