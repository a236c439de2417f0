//! The ACME engine against the test bed's real Pebble: dns-01 answered through Pebble's mock
//! DNS (challtestsrv) and http-01 answered by the standalone responder; ECDSA and RSA keys;
//! wildcard + apex and multi-domain orders; the chain verified against Pebble's root; a name
//! the CA refuses becomes its problem document.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use certdeck::engine::acme::{
    AcmeAccount, AcmeError, BoxFut, CertKey, Challenge, ChallengeKind, KeySpec, OrderOptions, Solver, Step,
};
use certdeck::engine::dns01::{Dns01Solver, ManualDns, Propagation};
use certdeck::engine::http01::StandaloneHttp01;
use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct Pebble {
    directory: String,
    mgmt: String,
    ca: String,
    /// The CA's trust root, PEM (the engine keeps it in memory).
    ca_pem: String,
    challtestsrv: String,
}

fn pebble() -> Option<Pebble> {
    common::init();
    let get = |n: &str| std::env::var(n).ok().filter(|v| !v.is_empty());
    let p = (|| {
        Some(Pebble {
            directory: get("CERTDECK_TEST_PEBBLE_DIRECTORY")?,
            mgmt: get("CERTDECK_TEST_PEBBLE_MGMT")?,
            ca: get("CERTDECK_TEST_PEBBLE_CA")?,
            ca_pem: std::fs::read_to_string(get("CERTDECK_TEST_PEBBLE_CA")?).ok()?,
            challtestsrv: get("CERTDECK_TEST_CHALLTESTSRV_MGMT")?,
        })
    })();
    if p.is_none() {
        assert!(
            !common::peers_required(),
            "Pebble is not up but peers are required: run the suite with scripts/test"
        );
        eprintln!("SKIP: Pebble not up (scripts/testbed up; eval \"$(scripts/testbed env)\")");
    }
    p
}

fn fresh(prefix: &str) -> String {
    format!("{prefix}{:08x}.test", rand::random::<u32>())
}

/// A plain-HTTP POST (challtestsrv's management API).
async fn post(base: &str, path: &str, body: &str) {
    let hostport = base.trim_start_matches("http://").trim_end_matches('/');
    let mut s = tokio::net::TcpStream::connect(hostport).await.expect("challtestsrv");
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: {hostport}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    assert!(out.starts_with("HTTP/1.1 200"), "{path}: {out}");
}

/// dns-01 through Pebble's mock DNS server (a stand-in for a DNS provider in this test).
struct MockDns {
    mgmt: String,
    seen: Mutex<Vec<String>>,
}

impl Solver for MockDns {
    fn kind(&self) -> ChallengeKind {
        ChallengeKind::Dns01
    }

    fn present<'a>(&'a self, cs: &'a [Challenge], _step: Step<'a>) -> BoxFut<'a, Result<(), String>> {
        Box::pin(async move {
            for c in cs {
                let body = format!(r#"{{"host":"{}.","value":"{}"}}"#, c.record_name(), c.dns_value);
                post(&self.mgmt, "/set-txt", &body).await;
                self.seen.lock().unwrap().push(format!("set {}", c.record_name()));
            }
            Ok(())
        })
    }

    fn cleanup<'a>(&'a self, cs: &'a [Challenge], _step: Step<'a>) -> BoxFut<'a, Result<(), String>> {
        Box::pin(async move {
            for c in cs {
                post(
                    &self.mgmt,
                    "/clear-txt",
                    &format!(r#"{{"host":"{}."}}"#, c.record_name()),
                )
                .await;
                self.seen.lock().unwrap().push(format!("clear {}", c.record_name()));
            }
            Ok(())
        })
    }
}

/// The leaf and chain verify against Pebble's current root for `name`.
async fn verify_chain(p: &Pebble, cert_pem: &str, chain_pem: &str, name: &str) {
    verify_chain_to(p, 0, cert_pem, chain_pem, name).await
}

/// The leaf and chain verify against Pebble's root number `root` (0: the default chain's).
async fn verify_chain_to(p: &Pebble, root: u32, cert_pem: &str, chain_pem: &str, name: &str) {
    let root_pem = common::https_get(&format!("{}/roots/{root}", p.mgmt), &p.ca).await;
    let mut roots = rustls::RootCertStore::empty();
    for der in certdeck::domain::certpem::certificates_der(root_pem.as_bytes()).unwrap() {
        roots.add(CertificateDer::from(der)).unwrap();
    }
    let verifier = rustls::client::WebPkiServerVerifier::builder(Arc::new(roots))
        .build()
        .unwrap();
    let leaf = CertificateDer::from(
        certdeck::domain::certpem::certificates_der(cert_pem.as_bytes())
            .unwrap()
            .remove(0),
    );
    let chain: Vec<CertificateDer> = certdeck::domain::certpem::certificates_der(chain_pem.as_bytes())
        .unwrap()
        .into_iter()
        .map(CertificateDer::from)
        .collect();
    verifier
        .verify_server_cert(
            &leaf,
            &chain,
            &ServerName::try_from(name.to_string()).unwrap(),
            &[],
            UnixTime::now(),
        )
        .unwrap_or_else(|e| panic!("the chain does not verify for {name}: {e}"));
}

async fn account(p: &Pebble) -> AcmeAccount {
    let (a, creds) = AcmeAccount::create(
        &p.directory,
        &["ops@example.test".into()],
        None,
        Some(p.ca_pem.as_str()),
    )
    .await
    .expect("account");
    assert!(creds.contains("key_pkcs8"), "credentials hold the account key");
    // Restoring from the stored credentials gives the same account.
    let again = AcmeAccount::restore(&creds, Some(p.ca_pem.as_str())).await.unwrap();
    assert_eq!(again.id(), a.id());
    a
}

#[tokio::test(flavor = "multi_thread")]
async fn dns01_issues_a_wildcard_and_apex_certificate_with_an_ecdsa_p384_key() {
    let Some(p) = pebble() else { return };
    let a = account(&p).await;
    let apex = fresh("w");
    let domains = vec![format!("*.{apex}"), apex.clone()];
    let key = CertKey::generate(KeySpec::EcP384).unwrap();
    let dns = MockDns {
        mgmt: p.challtestsrv.clone(),
        seen: Mutex::default(),
    };
    let steps = Mutex::new(Vec::new());
    let issued = a
        .issue(&domains, &key, &dns, &OrderOptions::default(), &|s| {
            steps.lock().unwrap().push(s)
        })
        .await
        .expect("issued");
    verify_chain(&p, &issued.cert_pem, &issued.chain_pem, &apex).await;
    verify_chain(&p, &issued.cert_pem, &issued.chain_pem, &format!("x.{apex}")).await;
    let facts = certdeck::domain::certpem::cert_facts(
        &certdeck::domain::certpem::certificates_der(issued.cert_pem.as_bytes()).unwrap()[0],
    )
    .unwrap();
    assert_eq!(facts.encryption_type, certdeck::domain::EncryptionType::Ecc);
    let blocks = certdeck::domain::certpem::pem_blocks(key.pem().as_bytes()).unwrap();
    assert_eq!(
        certdeck::domain::certpem::key_public_part(&blocks[0].label, &blocks[0].der).unwrap(),
        facts.public_key,
        "the certificate is for our key"
    );
    // Both authorizations use one record name (wildcard and apex); both were set and removed.
    let seen = dns.seen.lock().unwrap().clone();
    assert_eq!(seen.iter().filter(|s| s.starts_with("set ")).count(), 2, "{seen:?}");
    assert_eq!(seen.iter().filter(|s| s.starts_with("clear ")).count(), 2, "{seen:?}");
    let steps = steps.lock().unwrap().join("\n");
    for s in [
        "order created",
        "in place",
        "validate",
        "ready",
        "finalized",
        "downloaded",
        "removed",
    ] {
        assert!(steps.contains(s), "step '{s}' reported:\n{steps}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn http01_issues_a_multi_domain_certificate_with_an_rsa_3072_key_through_the_standalone_responder() {
    let Some(p) = pebble() else { return };
    let a = account(&p).await;
    // Pebble validates http-01 on port 5002 of what the name resolves to (challtestsrv: 127.0.0.1).
    let responder = match StandaloneHttp01::bind("127.0.0.1:5002".parse().unwrap()).await {
        Ok(r) => r,
        Err(e) => panic!("{e} (another http-01 test holds the port?)"),
    };
    let base = fresh("m");
    let domains = vec![format!("a.{base}"), format!("b.{base}")];
    let key = CertKey::generate(KeySpec::Rsa(3072)).unwrap();
    let issued = a
        .issue(&domains, &key, &responder, &OrderOptions::default(), &|_| {})
        .await
        .expect("issued");
    verify_chain(&p, &issued.cert_pem, &issued.chain_pem, &domains[1]).await;
    let facts = certdeck::domain::certpem::cert_facts(
        &certdeck::domain::certpem::certificates_der(issued.cert_pem.as_bytes()).unwrap()[0],
    )
    .unwrap();
    assert_eq!(facts.encryption_type, certdeck::domain::EncryptionType::Rsa);
    assert_eq!(facts.domains, domains);
    drop(responder);
    tokio::time::sleep(Duration::from_millis(50)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_name_the_ca_refuses_comes_back_as_its_problem_document() {
    let Some(p) = pebble() else { return };
    let a = account(&p).await;
    let dns = MockDns {
        mgmt: p.challtestsrv.clone(),
        seen: Mutex::default(),
    };
    // Pebble refuses an IP address given as a DNS name.
    let e = a
        .issue(
            &["127.0.0.1".into()],
            &CertKey::generate(KeySpec::EcP256).unwrap(),
            &dns,
            &OrderOptions::default(),
            &|_| {},
        )
        .await
        .expect_err("refused");
    match &e {
        AcmeError::Problem { kind, detail, .. } => {
            assert!(kind.starts_with("urn:ietf:params:acme:error:"), "{e}");
            assert!(detail.contains("IP address"), "the CA's own words: {e}");
        }
        other => panic!("expected the CA's problem document, got {other:?}"),
    }
    assert!(!e.is_transient());
    assert!(
        dns.seen.lock().unwrap().is_empty(),
        "nothing was published for a refused order"
    );
}

struct Bind {
    directory: String,
    mgmt: String,
    ca: String,
    ca_pem: String,
    rfc: certdeck::engine::rfc2136::Rfc2136,
}

impl Bind {
    /// Resolvers and authoritative port: the test bed's BIND (NS ns.example.test → 127.0.0.1).
    fn propagation(&self) -> Propagation {
        Propagation {
            resolvers: vec![self.rfc.server],
            authoritative_port: self.rfc.server.port(),
            timeout: Duration::from_secs(20),
            ..Propagation::default()
        }
    }

    async fn account(&self) -> AcmeAccount {
        AcmeAccount::create(
            &self.directory,
            &["ops@example.test".into()],
            None,
            Some(self.ca_pem.as_str()),
        )
        .await
        .expect("account at the BIND-backed Pebble")
        .0
    }

    /// A record added with nsupdate (TSIG), as an operator would.
    fn nsupdate(&self, line: &str) {
        let script = format!(
            "server {} {}\nzone {}\nupdate {line}\nsend\n",
            self.rfc.server.ip(),
            self.rfc.server.port(),
            self.rfc.zone
        );
        let key = format!(
            "{}:{}:{}",
            self.rfc.algorithm,
            self.rfc.key_name,
            self.rfc.secret_b64.as_str()
        );
        let mut child = std::process::Command::new("nsupdate")
            .args(["-y", &key])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("nsupdate (bind9-dnsutils) is installed with the test bed");
        use std::io::Write;
        child.stdin.take().unwrap().write_all(script.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "nsupdate {line}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn bind() -> Option<Bind> {
    common::init();
    let get = |n: &str| std::env::var(n).ok().filter(|v| !v.is_empty());
    let b = (|| {
        Some(Bind {
            directory: get("CERTDECK_TEST_PEBBLE_BIND_DIRECTORY")?,
            mgmt: get("CERTDECK_TEST_PEBBLE_BIND_MGMT")?,
            ca: get("CERTDECK_TEST_PEBBLE_CA")?,
            ca_pem: std::fs::read_to_string(get("CERTDECK_TEST_PEBBLE_CA")?).ok()?,
            rfc: certdeck::engine::rfc2136::Rfc2136 {
                server: get("CERTDECK_TEST_BIND_ADDR")?.parse().ok()?,
                zone: get("CERTDECK_TEST_BIND_ZONE")?,
                key_name: get("CERTDECK_TEST_TSIG_NAME")?,
                algorithm: get("CERTDECK_TEST_TSIG_ALGORITHM")?,
                secret_b64: zeroize::Zeroizing::new(get("CERTDECK_TEST_TSIG_SECRET")?),
                ttl: 60,
            },
        })
    })();
    if b.is_none() {
        assert!(
            !common::peers_required(),
            "BIND and its Pebble are not up but peers are required: run the suite with scripts/test"
        );
        eprintln!("SKIP: BIND / pebble-bind not up");
    }
    b
}

#[tokio::test(flavor = "multi_thread")]
async fn dns01_through_rfc2136_to_bind_issues_a_wildcard_and_apex_certificate_and_removes_the_records() {
    let Some(b) = bind() else { return };
    let (a, _) = AcmeAccount::create(
        &b.directory,
        &["ops@example.test".into()],
        None,
        Some(b.ca_pem.as_str()),
    )
    .await
    .expect("account at the BIND-backed Pebble");
    let apex = format!("r{:08x}.{}", rand::random::<u32>(), b.rfc.zone);
    let domains = vec![format!("*.{apex}"), apex.clone()];
    let key = CertKey::generate(KeySpec::EcP256).unwrap();
    let solver = Dns01Solver::new(Box::new(b.rfc.clone()), b.propagation(), None);
    let steps = Mutex::new(Vec::new());
    let issued = a
        .issue(&domains, &key, &solver, &OrderOptions::default(), &|s| {
            steps.lock().unwrap().push(s)
        })
        .await
        .expect("issued through BIND");
    let steps = steps.lock().unwrap().join("\n");
    assert!(
        steps.contains(&format!(
            "at the authoritative servers of {}: ns.{} ({})",
            b.rfc.zone, b.rfc.zone, b.rfc.server
        )),
        "the records were checked at the zone's own name server, found through NS:\n{steps}"
    );
    let p = Pebble {
        directory: b.directory.clone(),
        mgmt: b.mgmt.clone(),
        ca: b.ca.clone(),
        ca_pem: b.ca_pem.clone(),
        challtestsrv: String::new(),
    };
    verify_chain(&p, &issued.cert_pem, &issued.chain_pem, &format!("www.{apex}")).await;
    // Both values were removed from the zone after validation.
    assert!(
        b.rfc
            .txt_values(&format!("_acme-challenge.{apex}"))
            .await
            .unwrap()
            .is_empty(),
        "the challenge records are gone"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bind_refuses_an_update_signed_with_the_wrong_key_and_the_error_says_so() {
    let Some(b) = bind() else { return };
    let wrong = certdeck::engine::rfc2136::Rfc2136 {
        secret_b64: zeroize::Zeroizing::new("d3Jvbmcgc2VjcmV0IHdyb25nIHNlY3JldCB3cm9uZw==".into()),
        ..b.rfc
    };
    let name = format!("_acme-challenge.x{:08x}.{}", rand::random::<u32>(), wrong.zone);
    let e = wrong.add_txt(&name, "v").await.expect_err("refused");
    assert!(
        e.contains("did not accept the TSIG signature of key acme-key") || e.contains("refused the update"),
        "{e}"
    );
    assert!(wrong.txt_values(&name).await.unwrap().is_empty(), "nothing was written");
    let outside = wrong
        .add_txt("_acme-challenge.example.org", "v")
        .await
        .expect_err("outside the zone");
    assert!(outside.contains("not in the zone"), "{outside}");
}

#[tokio::test(flavor = "multi_thread")]
async fn dns01_follows_a_cname_delegation_writes_at_its_target_and_removes_it_afterwards() {
    let Some(b) = bind() else { return };
    let a = b.account().await;
    let tag = format!("{:08x}", rand::random::<u32>());
    let domain = format!("c{tag}.{}", b.rfc.zone);
    let target = format!("c{tag}.acme-delegate.{}", b.rfc.zone);
    // The operator's one-time CNAME, as httpsok asks for it.
    b.nsupdate(&format!("add _acme-challenge.{domain}. 60 CNAME {target}."));
    let solver = Dns01Solver::new(Box::new(b.rfc.clone()), b.propagation(), None);
    let steps = Mutex::new(Vec::new());
    a.issue(
        std::slice::from_ref(&domain),
        &CertKey::generate(KeySpec::EcP256).unwrap(),
        &solver,
        &OrderOptions::default(),
        &|s| steps.lock().unwrap().push(s),
    )
    .await
    .expect("issued through the delegated name");
    let steps = steps.lock().unwrap().join("\n");
    assert!(
        steps.contains(&format!(
            "_acme-challenge.{domain} is a CNAME: writing the TXT record at {target}"
        )),
        "{steps}"
    );
    assert!(
        b.rfc.txt_values(&target).await.unwrap().is_empty(),
        "the delegated record is removed"
    );
    assert!(
        b.rfc
            .txt_values(&format!("_acme-challenge.{domain}"))
            .await
            .unwrap()
            .is_empty(),
        "nothing was written at the CNAME itself"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_delegation_zone_without_the_cname_tells_the_operator_the_exact_record_to_create() {
    let Some(b) = bind() else { return };
    let a = b.account().await;
    let domain = format!("n{:08x}.{}", rand::random::<u32>(), b.rfc.zone);
    let solver = Dns01Solver::new(
        Box::new(b.rfc.clone()),
        b.propagation(),
        Some("acme.delegated.example.net".into()),
    );
    let e = a
        .issue(
            std::slice::from_ref(&domain),
            &CertKey::generate(KeySpec::EcP256).unwrap(),
            &solver,
            &OrderOptions::default(),
            &|_| {},
        )
        .await
        .expect_err("not delegated");
    assert!(
        e.to_string().contains(&format!(
            "`_acme-challenge.{domain}. CNAME {domain}.acme.delegated.example.net.`"
        )),
        "{e}"
    );
    assert!(b
        .rfc
        .txt_values(&format!("_acme-challenge.{domain}"))
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn manual_dns01_shows_the_record_waits_for_the_operator_to_create_it_and_then_issues() {
    let Some(b) = bind() else { return };
    let a = b.account().await;
    let domain = format!("m{:08x}.{}", rand::random::<u32>(), b.rfc.zone);
    let solver = Dns01Solver::new(Box::new(ManualDns), b.propagation(), None);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let key = CertKey::generate(KeySpec::EcP256).unwrap();
    let order = async {
        let tx = tx;
        let step = |s: String| {
            let _ = tx.send(s);
        };
        let r = a
            .issue(
                std::slice::from_ref(&domain),
                &key,
                &solver,
                &OrderOptions::default(),
                &step,
            )
            .await;
        // The channel closes with the order, which ends the operator's loop.
        drop(tx);
        r
    };
    // The operator reads the instruction from the live steps and creates the record by hand.
    let operator = async {
        let mut created = None;
        while let Some(line) = rx.recv().await {
            if let Some(rest) = line.strip_prefix("create the TXT record ") {
                let (name, value) = rest.split_once(" with the value ").expect("name and value");
                b.nsupdate(&format!("add {name}. 60 TXT {value}"));
                created = Some(name.to_string());
            }
        }
        created
    };
    let (issued, created) = tokio::join!(order, operator);
    issued.expect("issued once the operator created the record");
    let created = created.expect("the operator was told which record to create");
    assert_eq!(created, format!("_acme-challenge.{domain}"));
    // Manual records are the operator's to remove; clean up for the next run.
    b.nsupdate(&format!("delete {created}. TXT"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_preferred_chain_is_taken_from_the_cas_alternates_and_verifies_to_its_own_root() {
    let Some(b) = bind() else { return };
    let p = Pebble {
        directory: b.directory.clone(),
        mgmt: b.mgmt.clone(),
        ca: b.ca.clone(),
        ca_pem: b.ca_pem.clone(),
        challtestsrv: String::new(),
    };
    let subject_cn = |pem: &str| {
        let der = certdeck::domain::certpem::certificates_der(pem.as_bytes())
            .unwrap()
            .remove(0);
        let (_, c) = x509_parser::parse_x509_certificate(&der).unwrap();
        let cn = c
            .subject()
            .iter_common_name()
            .next()
            .unwrap()
            .as_str()
            .unwrap()
            .to_string();
        cn
    };
    let default_root = subject_cn(&common::https_get(&format!("{}/roots/0", p.mgmt), &p.ca).await);
    let alt_pem = common::https_get(&format!("{}/roots/1", p.mgmt), &p.ca).await;
    assert!(
        alt_pem.contains("BEGIN CERTIFICATE"),
        "Pebble offers no alternate root (the test bed starts it with PEBBLE_ALTERNATE_ROOTS=1): {alt_pem}"
    );
    let alt_root = subject_cn(&alt_pem);
    assert_ne!(alt_root, default_root);
    let a = b.account().await;
    let solver = Dns01Solver::new(Box::new(b.rfc.clone()), b.propagation(), None);
    for (want, expect_root, root_index, note) in [
        (alt_root.clone(), alt_root.clone(), 1, "using the alternate chain"),
        (
            "Nobody's Root".to_string(),
            default_root.clone(),
            0,
            "no chain issued by Nobody's Root",
        ),
    ] {
        let domain = format!("p{:08x}.{}", rand::random::<u32>(), b.rfc.zone);
        let steps = Mutex::new(Vec::new());
        let issued = a
            .issue(
                std::slice::from_ref(&domain),
                &CertKey::generate(KeySpec::EcP256).unwrap(),
                &solver,
                &OrderOptions {
                    preferred_chain: Some(want.clone()),
                    ..Default::default()
                },
                &|s| steps.lock().unwrap().push(s),
            )
            .await
            .expect("issued");
        let steps = steps.lock().unwrap().join("\n");
        assert!(steps.contains(note), "{want}: {steps}");
        let full = format!("{}{}", issued.cert_pem, issued.chain_pem);
        assert_eq!(
            certdeck::engine::acme_chains::top_issuer_cn(&full).as_deref(),
            Some(expect_root.as_str()),
            "{want}"
        );
        verify_chain_to(&p, root_index, &issued.cert_pem, &issued.chain_pem, &domain).await;
    }
}
