//! ACME Renewal Information (RFC 9773) and profiles through the real code paths (service → task
//! → engine → instant-acme → store), against a small fake ACME CA served here over HTTPS:
//! Pebble has no ARI. The fake speaks just enough RFC 8555 for instant-acme (orders are born
//! `ready`, so no challenge is solved), records what it is sent, and answers renewal
//! information with the window the test chooses.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use certdeck::domain::{CertificateStatus, TaskStatus, UserRole};
use certdeck::service::acme::RequestInput;
use certdeck::service::tasks::Runners;
use certdeck::service::{Actor, Services};
use chrono::{DateTime, Duration, Utc};
use common::{make_user, services};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const NAME: &str = "www.ari.test";

/// What the fake CA was sent, and what it will answer.
#[derive(Default)]
struct Seen {
    /// Every request, as `METHOD /path`.
    requests: Vec<String>,
    /// newOrder payloads.
    new_orders: Vec<Value>,
    /// Certificate ids asked for at the renewal-information endpoint.
    ari_ids: Vec<String>,
    /// Certificates issued (DER), with their serial number bytes.
    issued: Vec<(Vec<u8>, Vec<u8>)>,
    /// The window to answer (start, end).
    window: Option<(DateTime<Utc>, DateTime<Utc>)>,
    /// The explanation URL to answer (default `{base}/why`).
    explanation: Option<String>,
    orders: HashMap<usize, Value>,
    chains: HashMap<usize, String>,
    nonce: u64,
}

struct Fake {
    base: String,
    root_pem: String,
    /// The issuing CA's key identifier (the AKI of every certificate issued).
    key_id: Vec<u8>,
    seen: Arc<Mutex<Seen>>,
    ari: bool,
    profiles: bool,
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
}

impl Fake {
    async fn start(ari: bool, profiles: bool) -> Arc<Fake> {
        common::init();
        let key_id: Vec<u8> = (0..20).map(|_| rand::random::<u8>()).collect();
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.distinguished_name.push(rcgen::DnType::CommonName, "Fake ARI CA");
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        ca.key_identifier_method = rcgen::KeyIdMethod::PreSpecified(key_id.clone());
        let root_pem = ca.self_signed(&ca_key).unwrap().pem();
        let issuer = rcgen::Issuer::new(ca, ca_key);

        let tls_key = rcgen::KeyPair::generate().unwrap();
        let mut tls = rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
        tls.use_authority_key_identifier_extension = true;
        let tls_cert = tls.signed_by(&tls_key, &issuer).unwrap();
        let cfg = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(
                vec![tls_cert.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(tls_key.serialize_der().into()),
            )
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("https://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let fake = Arc::new(Fake {
            base,
            root_pem,
            key_id,
            seen: Arc::new(Mutex::new(Seen::default())),
            ari,
            profiles,
            issuer,
        });
        let f = fake.clone();
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else { return };
                let (f, acceptor) = (f.clone(), acceptor.clone());
                tokio::spawn(async move {
                    if let Ok(tls) = acceptor.accept(tcp).await {
                        f.serve(tls).await;
                    }
                });
            }
        });
        fake
    }

    fn directory(&self) -> String {
        format!("{}/dir", self.base)
    }

    fn set_window(&self, start: DateTime<Utc>, end: DateTime<Utc>) {
        self.seen.lock().unwrap().window = Some((start, end));
    }

    fn seen<T>(&self, f: impl FnOnce(&Seen) -> T) -> T {
        f(&self.seen.lock().unwrap())
    }

    /// HTTP/1.1 with keep-alive: request line, headers, Content-Length body.
    async fn serve(&self, mut s: tokio_rustls::server::TlsStream<tokio::net::TcpStream>) {
        let mut buf: Vec<u8> = Vec::new();
        loop {
            let head_end = loop {
                if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    break i;
                }
                let mut chunk = [0u8; 4096];
                match s.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            };
            let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
            let mut lines = head.split("\r\n");
            let mut first = lines.next().unwrap_or_default().split(' ');
            let method = first.next().unwrap_or_default().to_string();
            let path = first.next().unwrap_or_default().to_string();
            let len: usize = lines
                .filter_map(|l| l.split_once(':'))
                .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
                .and_then(|(_, v)| v.trim().parse().ok())
                .unwrap_or(0);
            let body_start = head_end + 4;
            while buf.len() < body_start + len {
                let mut chunk = [0u8; 4096];
                match s.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            let body = buf[body_start..body_start + len].to_vec();
            buf.drain(..body_start + len);
            let (status, headers, out) = self.handle(&method, &path, &body);
            let nonce = {
                let mut g = self.seen.lock().unwrap();
                g.nonce += 1;
                format!("nonce{}", g.nonce)
            };
            let mut resp = format!(
                "HTTP/1.1 {status} X\r\nReplay-Nonce: {nonce}\r\nContent-Length: {}\r\n",
                if method == "HEAD" { 0 } else { out.len() }
            );
            for (k, v) in headers {
                resp.push_str(&format!("{k}: {v}\r\n"));
            }
            resp.push_str("\r\n");
            let mut bytes = resp.into_bytes();
            if method != "HEAD" {
                bytes.extend_from_slice(&out);
            }
            if s.write_all(&bytes).await.is_err() || s.flush().await.is_err() {
                return;
            }
        }
    }

    fn handle(&self, method: &str, path: &str, body: &[u8]) -> (u16, Vec<(String, String)>, Vec<u8>) {
        let base = &self.base;
        let json_h = || vec![("Content-Type".to_string(), "application/json".to_string())];
        let payload: Value = serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|jws| {
                let p = jws.get("payload")?.as_str()?.to_string();
                if p.is_empty() {
                    return Some(Value::Null);
                }
                serde_json::from_slice(&B64.decode(p).ok()?).ok()
            })
            .unwrap_or(Value::Null);
        let mut g = self.seen.lock().unwrap();
        g.requests.push(format!("{method} {path}"));
        let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        match (method, segs.as_slice()) {
            ("GET", ["dir"]) => {
                let mut d = json!({
                    "newNonce": format!("{base}/nonce"),
                    "newAccount": format!("{base}/account"),
                    "newOrder": format!("{base}/order"),
                    "revokeCert": format!("{base}/revoke"),
                    "keyChange": format!("{base}/key-change"),
                });
                if self.ari {
                    d["renewalInfo"] = json!(format!("{base}/ari"));
                }
                if self.profiles {
                    d["meta"] = json!({"profiles": {
                        "classic": "the usual 90 days",
                        "shortlived": "a few days"
                    }});
                }
                (200, json_h(), d.to_string().into_bytes())
            }
            ("HEAD" | "GET", ["nonce"]) => (200, vec![], vec![]),
            ("POST", ["account"]) => {
                let mut h = json_h();
                h.push(("Location".into(), format!("{base}/account/1")));
                (201, h, json!({"status": "valid"}).to_string().into_bytes())
            }
            ("POST", ["order"]) => {
                g.new_orders.push(payload.clone());
                let n = g.orders.len() + 1;
                let mut o = json!({
                    "status": "ready",
                    "identifiers": payload["identifiers"],
                    "authorizations": [],
                    "finalize": format!("{base}/finalize/{n}"),
                });
                for k in ["replaces", "profile"] {
                    if let Some(v) = payload.get(k) {
                        o[k] = v.clone();
                    }
                }
                g.orders.insert(n, o.clone());
                let mut h = json_h();
                h.push(("Location".into(), format!("{base}/order/{n}")));
                (201, h, o.to_string().into_bytes())
            }
            ("POST", ["order", n]) => match n.parse().ok().and_then(|n: usize| g.orders.get(&n)) {
                Some(o) => (200, json_h(), o.to_string().into_bytes()),
                None => (404, json_h(), b"{}".to_vec()),
            },
            ("POST", ["finalize", n]) => {
                let n: usize = n.parse().unwrap_or(0);
                let csr = payload["csr"]
                    .as_str()
                    .and_then(|c| B64.decode(c).ok())
                    .unwrap_or_default();
                let params = rcgen::CertificateSigningRequestParams::from_der(&csr.into()).unwrap();
                let mut p = params.params.clone();
                let mut serial: Vec<u8> = (0..16).map(|_| rand::random::<u8>()).collect();
                serial[0] = 1 + serial[0] % 0x7e;
                p.serial_number = Some(rcgen::SerialNumber::from_slice(&serial));
                p.use_authority_key_identifier_extension = true;
                p.is_ca = rcgen::IsCa::ExplicitNoCa;
                p.not_before = time::OffsetDateTime::now_utc() - time::Duration::hours(1);
                p.not_after = time::OffsetDateTime::now_utc() + time::Duration::days(90);
                let leaf = p.signed_by(&params.public_key, &self.issuer).unwrap();
                g.issued.push((leaf.der().to_vec(), serial));
                g.chains.insert(n, format!("{}{}", leaf.pem(), self.root_pem));
                let Some(o) = g.orders.get_mut(&n) else {
                    return (404, json_h(), b"{}".to_vec());
                };
                o["status"] = json!("valid");
                o["certificate"] = json!(format!("{base}/cert/{n}"));
                (200, json_h(), o.to_string().into_bytes())
            }
            ("POST", ["cert", n]) => match n.parse().ok().and_then(|n: usize| g.chains.get(&n)) {
                Some(c) => (
                    200,
                    vec![("Content-Type".into(), "application/pem-certificate-chain".into())],
                    c.clone().into_bytes(),
                ),
                None => (404, json_h(), b"{}".to_vec()),
            },
            ("GET", ["ari", id]) if self.ari => {
                g.ari_ids.push(id.to_string());
                let Some((start, end)) = g.window else {
                    return (404, json_h(), b"{}".to_vec());
                };
                let f = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
                let mut h = json_h();
                h.push(("Retry-After".into(), "3600".into()));
                let b = json!({
                    "suggestedWindow": {"start": f(start), "end": f(end)},
                    "explanationURL": g.explanation.clone().unwrap_or_else(|| format!("{base}/why")),
                });
                (200, h, b.to_string().into_bytes())
            }
            _ => (
                404,
                vec![("Content-Type".into(), "application/problem+json".into())],
                json!({"type": "urn:ietf:params:acme:error:malformed", "detail": format!("no {method} {path}")})
                    .to_string()
                    .into_bytes(),
            ),
        }
    }

    /// The RFC 9773 certificate identifier of the `i`th certificate issued, from what the fake
    /// put in it: base64url(AKI key identifier) "." base64url(serial).
    fn cert_id(&self, i: usize) -> String {
        let serial = self.seen(|s| s.issued[i].1.clone());
        format!("{}.{}", B64.encode(&self.key_id), B64.encode(serial))
    }
}

/// The RFC 9773 identifier read back from a certificate PEM with x509-parser.
fn cert_id_of(pem: &str) -> String {
    let der = certdeck::domain::certpem::certificates_der(pem.as_bytes())
        .unwrap()
        .remove(0);
    let (_, c) = x509_parser::parse_x509_certificate(&der).unwrap();
    let aki = c
        .extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            x509_parser::extensions::ParsedExtension::AuthorityKeyIdentifier(a) => {
                a.key_identifier.as_ref().map(|k| k.0.to_vec())
            }
            _ => None,
        })
        .expect("an AKI");
    let mut serial = c.tbs_certificate.serial.to_bytes_be();
    if serial[0] & 0x80 != 0 {
        serial.insert(0, 0);
    }
    format!("{}.{}", B64.encode(aki), B64.encode(serial))
}

async fn world(t: &common::TestDb, fake: &Fake) -> (Services, Actor) {
    let s = services(t);
    let (_, a) = make_user(&s, t, None, "ops", UserRole::Admin).await;
    s.ca_add(&a, "fake", &fake.directory(), Some(&fake.root_pem), false, None)
        .await
        .unwrap();
    (s, a)
}

fn request(profile: Option<&str>) -> RequestInput {
    RequestInput {
        domains: vec![NAME.into()],
        ca: "fake".into(),
        email: Some("certs@example.test".into()),
        challenge: "http-01".into(),
        http_listen: Some("127.0.0.1:0".into()),
        profile: profile.map(str::to_string),
        ..Default::default()
    }
}

/// Runs a task here; returns its status, error and log.
async fn run(s: &Services, a: &Actor, task: i64) -> (TaskStatus, String, String) {
    s.task_run_here(a, task, &Runners::builtin()).await.unwrap();
    let d = s.task_get(a, task).await.unwrap();
    let logs: Vec<String> = s
        .task_logs(a, task, 0, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|x| x.message)
        .collect();
    (d.task.status, d.task.error_message.unwrap_or_default(), logs.join("\n"))
}

fn near(t: Option<DateTime<Utc>>, want: DateTime<Utc>, slack: Duration) -> bool {
    t.is_some_and(|t| (t - want).abs() <= slack)
}

async fn pem_of(s: &Services, a: &Actor, id: i64) -> String {
    s.cert_export(a, id, false).await.unwrap().certificate_pem
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cas_renewal_window_is_fetched_for_the_issued_certificate_and_a_renewal_in_it_replaces_it() {
    for t in common::both().await {
        let l = t.label();
        let fake = Fake::start(true, false).await;
        let (s, a) = world(&t, &fake).await;

        // 1. Issued through the fake CA.
        let (cert, task) = s.cert_request(&a, &request(None)).await.unwrap();
        let (st, err, log) = run(&s, &a, task.id).await;
        assert_eq!(st, TaskStatus::Completed, "[{l}] {err}\n{log}");
        let c = s.cert_get(&a, cert.id).await.unwrap();
        assert_eq!(c.status, CertificateStatus::Issued, "[{l}]");
        assert!(
            near(c.expires_at, Utc::now() + Duration::days(90), Duration::minutes(5)),
            "[{l}] {:?}",
            c.expires_at
        );
        let first_pem = pem_of(&s, &a, cert.id).await;
        let (orders, issued) = fake.seen(|f| (f.new_orders.clone(), f.issued.clone()));
        assert_eq!(orders.len(), 1, "[{l}]");
        assert_eq!(
            orders[0]["identifiers"],
            json!([{"type": "dns", "value": NAME}]),
            "[{l}]"
        );
        assert!(
            orders[0].get("replaces").is_none() && orders[0].get("profile").is_none(),
            "[{l}] {}",
            orders[0]
        );
        let stored_der = certdeck::domain::certpem::certificates_der(first_pem.as_bytes()).unwrap();
        assert_eq!(
            stored_der[0], issued[0].0,
            "[{l}] the stored certificate is the one issued"
        );
        let first_id = fake.cert_id(0);
        assert_eq!(cert_id_of(&first_pem), first_id, "[{l}]");
        let ari = certdeck::store::acme::get_ari(&t.db, cert.id).await.unwrap().unwrap();
        assert!(
            ari.ari_window_start.is_none() && ari.ari_next_check_at.is_none(),
            "[{l}] {ari:?}"
        );
        assert!(
            fake.seen(|f| f.ari_ids.is_empty()),
            "[{l}] no ARI asked for at issuance"
        );

        // 2. A window far ahead: stored, a moment chosen in it, asked again after Retry-After.
        let (ws, we) = (Utc::now() + Duration::days(60), Utc::now() + Duration::days(62));
        let (ws, we) = (trunc(ws), trunc(we));
        fake.set_window(ws, we);
        assert_eq!(s.ari_refresh(None, 100).await.unwrap(), 1, "[{l}]");
        assert_eq!(fake.seen(|f| f.ari_ids.clone()), vec![first_id.clone()], "[{l}]");
        let ari = certdeck::store::acme::get_ari(&t.db, cert.id).await.unwrap().unwrap();
        assert_eq!(
            (ari.ari_window_start, ari.ari_window_end),
            (Some(ws), Some(we)),
            "[{l}]"
        );
        let at = ari.ari_renew_at.expect("a moment chosen");
        assert!(at >= ws && at <= we, "[{l}] {at} not in {ws}..{we}");
        assert!(
            near(
                ari.ari_next_check_at,
                Utc::now() + Duration::hours(1),
                Duration::minutes(2)
            ),
            "[{l}] {:?}",
            ari.ari_next_check_at
        );
        assert_eq!(
            ari.ari_explanation_url.as_deref(),
            Some(format!("{}/why", fake.base).as_str()),
            "[{l}]"
        );
        let due = certdeck::store::schedules::renewals_due(&t.db, None, 100)
            .await
            .unwrap();
        assert!(!due.contains(&cert.id), "[{l}] not due: {due:?}");
        // Not asked again before the next check.
        assert_eq!(s.ari_refresh(None, 100).await.unwrap(), 0, "[{l}]");
        assert_eq!(fake.seen(|f| f.ari_ids.len()), 1, "[{l}]");

        // 3. The CA moves the window into the past: renewal is due now.
        let (ps, pe) = (
            trunc(Utc::now() - Duration::days(2)),
            trunc(Utc::now() - Duration::hours(1)),
        );
        fake.set_window(ps, pe);
        common::exec_with(
            &t.db,
            "UPDATE certificate_issuance SET ari_next_check_at = NULL WHERE certificate_id = ?",
            cert.id,
        )
        .await;
        assert_eq!(s.ari_refresh(None, 100).await.unwrap(), 1, "[{l}]");
        let ari = certdeck::store::acme::get_ari(&t.db, cert.id).await.unwrap().unwrap();
        assert_eq!(
            (ari.ari_window_start, ari.ari_window_end),
            (Some(ps), Some(pe)),
            "[{l}]"
        );
        let at = ari.ari_renew_at.expect("a moment chosen");
        assert!(at >= ps && at <= pe, "[{l}] a new moment, in the new window: {at}");
        let due = certdeck::store::schedules::renewals_due(&t.db, None, 100)
            .await
            .unwrap();
        assert!(due.contains(&cert.id), "[{l}] due in the CA's window: {due:?}");

        let rt = s.cert_renew(&a, cert.id).await.unwrap();
        let (st, err, log) = run(&s, &a, rt.id).await;
        assert_eq!(st, TaskStatus::Completed, "[{l}] {err}\n{log}");
        assert!(log.contains(&format!("replacing {first_id}")), "[{l}] {log}");
        let orders = fake.seen(|f| f.new_orders.clone());
        assert_eq!(orders.len(), 2, "[{l}]");
        assert_eq!(orders[1]["replaces"], json!(first_id), "[{l}] {}", orders[1]);
        let second_pem = pem_of(&s, &a, cert.id).await;
        assert_ne!(second_pem, first_pem, "[{l}]");
        assert_eq!(
            cert_id_of(&second_pem),
            fake.cert_id(1),
            "[{l}] the renewed certificate is stored"
        );
        let ari = certdeck::store::acme::get_ari(&t.db, cert.id).await.unwrap().unwrap();
        assert!(
            ari.ari_window_start.is_none()
                && ari.ari_window_end.is_none()
                && ari.ari_renew_at.is_none()
                && ari.ari_next_check_at.is_none(),
            "[{l}] reset for the new certificate: {ari:?}"
        );
        let due = certdeck::store::schedules::renewals_due(&t.db, None, 100)
            .await
            .unwrap();
        assert!(!due.contains(&cert.id), "[{l}] no longer due: {due:?}");
        // The next check asks about the new certificate.
        fake.set_window(ws, we);
        assert_eq!(s.ari_refresh(None, 100).await.unwrap(), 1, "[{l}]");
        assert_eq!(fake.seen(|f| f.ari_ids.last().cloned()), Some(fake.cert_id(1)), "[{l}]");
    }
}

/// Whole seconds (the CA's window is given in seconds).
fn trunc(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(t.timestamp(), 0).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_ca_without_renewal_information_renews_without_replaces_and_is_asked_again_in_a_week() {
    for t in common::both().await {
        let l = t.label();
        let fake = Fake::start(false, false).await;
        let (s, a) = world(&t, &fake).await;
        let (cert, task) = s.cert_request(&a, &request(None)).await.unwrap();
        let (st, err, log) = run(&s, &a, task.id).await;
        assert_eq!(st, TaskStatus::Completed, "[{l}] {err}\n{log}");
        let first_pem = pem_of(&s, &a, cert.id).await;

        assert_eq!(s.ari_refresh(None, 100).await.unwrap(), 1, "[{l}]");
        let ari = certdeck::store::acme::get_ari(&t.db, cert.id).await.unwrap().unwrap();
        assert!(
            ari.ari_window_start.is_none() && ari.ari_renew_at.is_none(),
            "[{l}] {ari:?}"
        );
        assert!(
            near(
                ari.ari_next_check_at,
                Utc::now() + Duration::days(7),
                Duration::minutes(2)
            ),
            "[{l}] {:?}",
            ari.ari_next_check_at
        );
        let reqs = fake.seen(|f| f.requests.clone());
        assert!(!reqs.iter().any(|r| r.contains("/ari")), "[{l}] {reqs:?}");
        let due = certdeck::store::schedules::renewals_due(&t.db, None, 100)
            .await
            .unwrap();
        assert!(!due.contains(&cert.id), "[{l}] {due:?}");

        let rt = s.cert_renew(&a, cert.id).await.unwrap();
        let (st, err, log) = run(&s, &a, rt.id).await;
        assert_eq!(st, TaskStatus::Completed, "[{l}] {err}\n{log}");
        assert!(log.contains("no renewal information"), "[{l}] {log}");
        let orders = fake.seen(|f| f.new_orders.clone());
        assert_eq!(orders.len(), 2, "[{l}]");
        assert!(orders[1].get("replaces").is_none(), "[{l}] {}", orders[1]);
        let second_pem = pem_of(&s, &a, cert.id).await;
        assert_ne!(second_pem, first_pem, "[{l}]");
        assert_eq!(cert_id_of(&second_pem), fake.cert_id(1), "[{l}]");

        // A profile at a CA that offers none: refused before an order is placed.
        let (c2, t2) = s.cert_request(&a, &request(Some("classic"))).await.unwrap();
        let (st, err, _) = run(&s, &a, t2.id).await;
        assert_eq!(st, TaskStatus::Failed, "[{l}]");
        assert!(err.contains("offers no profiles"), "[{l}] {err}");
        assert_eq!(
            s.cert_get(&a, c2.id).await.unwrap().status,
            CertificateStatus::Error,
            "[{l}]"
        );
        assert_eq!(fake.seen(|f| f.new_orders.len()), 2, "[{l}]");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_offered_profile_is_asked_for_in_the_order_and_an_unknown_one_fails_listing_the_offered() {
    for t in common::both().await {
        let l = t.label();
        let fake = Fake::start(true, true).await;
        let (s, a) = world(&t, &fake).await;
        let (cert, task) = s.cert_request(&a, &request(Some("shortlived"))).await.unwrap();
        let (st, err, log) = run(&s, &a, task.id).await;
        assert_eq!(st, TaskStatus::Completed, "[{l}] {err}\n{log}");
        assert_eq!(
            s.cert_get(&a, cert.id).await.unwrap().status,
            CertificateStatus::Issued,
            "[{l}]"
        );
        let orders = fake.seen(|f| f.new_orders.clone());
        assert_eq!(orders.len(), 1, "[{l}]");
        assert_eq!(orders[0]["profile"], json!("shortlived"), "[{l}] {}", orders[0]);
        assert!(log.contains("profile shortlived"), "[{l}] {log}");
        // The profile is kept for the renewal.
        let rt = s.cert_renew(&a, cert.id).await.unwrap();
        let (st, err, log) = run(&s, &a, rt.id).await;
        assert_eq!(st, TaskStatus::Completed, "[{l}] {err}\n{log}");
        let orders = fake.seen(|f| f.new_orders.clone());
        assert_eq!(orders[1]["profile"], json!("shortlived"), "[{l}] {}", orders[1]);

        let (c2, t2) = s.cert_request(&a, &request(Some("nope"))).await.unwrap();
        let (st, err, _) = run(&s, &a, t2.id).await;
        assert_eq!(st, TaskStatus::Failed, "[{l}]");
        assert!(
            err.contains("'nope'") && err.contains("classic") && err.contains("shortlived"),
            "[{l}] {err}"
        );
        assert_eq!(
            s.cert_get(&a, c2.id).await.unwrap().status,
            CertificateStatus::Error,
            "[{l}]"
        );
        assert_eq!(fake.seen(|f| f.new_orders.len()), 2, "[{l}] no order placed");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_overlong_explanation_url_from_the_ca_does_not_stop_the_renewal_information_sweep() {
    for t in common::both().await {
        let l = t.label();
        let fake = Fake::start(true, false).await;
        let (s, a) = world(&t, &fake).await;
        let mut ids = Vec::new();
        for _ in 0..2 {
            let (cert, task) = s.cert_request(&a, &request(None)).await.unwrap();
            let (st, err, log) = run(&s, &a, task.id).await;
            assert_eq!(st, TaskStatus::Completed, "[{l}] {err}\n{log}");
            ids.push(cert.id);
        }
        let (ws, we) = (
            trunc(Utc::now() + Duration::days(60)),
            trunc(Utc::now() + Duration::days(61)),
        );
        fake.set_window(ws, we);
        // Longer than the column (500): the CA's window is still kept, the URL is dropped.
        fake.seen.lock().unwrap().explanation = Some(format!("{}/{}", fake.base, "x".repeat(600)));
        let n = s.ari_refresh(None, 100).await;
        assert_eq!(n.as_ref().ok(), Some(&2), "[{l}] {n:?}");
        assert_eq!(fake.seen(|f| f.ari_ids.len()), 2, "[{l}]");
        for id in ids {
            let ari = certdeck::store::acme::get_ari(&t.db, id).await.unwrap().unwrap();
            assert_eq!(
                (
                    ari.ari_window_start,
                    ari.ari_window_end,
                    ari.ari_explanation_url.as_deref()
                ),
                (Some(ws), Some(we), None),
                "[{l}] certificate {id}"
            );
            assert!(ari.ari_next_check_at.is_some(), "[{l}] {ari:?}");
        }
    }
}
