//! The HTTP API against a real `certdeck --serve-api` process over TLS, on SQLite and MariaDB:
//! authentication (API keys, sessions, refresh, logout, lockout, revoked and expired
//! credentials), owner isolation (another user's rows are 404), problem documents for bad
//! input with nothing written, keyset paging, the CLI's filter grammar, audit rows with the
//! client's address and agent, `curl` as a real client, limits, plain HTTP only on loopback,
//! SIGTERM, and TLS with a certificate certdeck manages, renewed and reloaded live.

mod common;

use std::process::Command;

use common::api::{ApiServer, Backend, UA, USER_PW};
use serde_json::{json, Value};

async fn count(api: &ApiServer, sql: &str) -> i64 {
    common::count(&api.db, sql).await
}

fn ids(v: &Value) -> Vec<i64> {
    let items = v["items"].as_array().unwrap_or_else(|| panic!("not a page: {v}"));
    items.iter().map(|r| r["id"].as_i64().unwrap()).collect()
}

fn curl(api: &ApiServer, args: &[&str]) -> (bool, String) {
    let o = Command::new("curl")
        .arg("-sS")
        .arg("--cacert")
        .arg(&api.ca_path)
        .args(args)
        .output();
    match o {
        Ok(o) => (o.status.success(), String::from_utf8_lossy(&o.stdout).into_owned()),
        Err(e) => {
            assert!(
                !common::peers_required(),
                "curl is not installed but peers are required: {e}"
            );
            (false, String::new())
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sessions_keys_owners_problems_and_paging_over_tls_on_both_backends() {
    for api in ApiServer::both(&[]).await {
        let l = api.label;
        assert!(api.base.starts_with("https://"), "TLS by default: {}", api.base);

        // Public routes; everything else needs a credential, answered as a problem document.
        let (code, v) = api.call_public("GET", "/api/v1/health", None).await;
        assert_eq!((code, v["status"].as_str()), (200, Some("ok")), "[{l}] {v}");
        let (code, doc) = api.call_public("GET", "/api/v1/openapi.json", None).await;
        assert_eq!(code, 200);
        assert_eq!(doc["openapi"], "3.1.0");
        assert!(
            doc["paths"]["/api/v1/certificates"]["get"].is_object(),
            "[{l}] the document lists the routes"
        );
        let (code, ct, v) = api.call_full("GET", None, "/api/v1/certificates", None).await;
        assert_eq!((code, ct.as_str()), (401, "application/problem+json"), "[{l}] {v}");
        assert_eq!(v["status"], 401);
        let (code, _) = api.call("GET", "not-a-token", "/api/v1/certificates", None).await;
        assert_eq!(code, 401);
        let (code, v) = api.call("GET", &api.admin, "/api/v1/no-such-thing", None).await;
        assert_eq!(
            (code, v["type"].as_str()),
            (404, Some("urn:certdeck:problem:not-found"))
        );

        // Two owners.
        let a1 = api.import_cert(&api.admin, "a1.example.test").await;
        let a2 = api.import_cert(&api.admin, "a2.example.test").await;
        let a3 = api.import_cert(&api.admin, "a3.example.test").await;
        let (uid, user) = api.user("ursula", "user").await;
        let u1 = api.import_cert(&user, "u1.example.test").await;

        // The user sees only their own rows; another's are 404 for read, export and change.
        let (code, v) = api.call("GET", &user, "/api/v1/certificates", None).await;
        assert_eq!((code, ids(&v)), (200, vec![u1]), "[{l}] {v}");
        let (code, v) = api.call("GET", &api.admin, "/api/v1/certificates", None).await;
        assert_eq!((code, ids(&v)), (200, vec![u1, a3, a2, a1]), "[{l}] an admin sees all");
        for (m, path) in [
            ("GET", format!("/api/v1/certificates/{a1}")),
            ("GET", format!("/api/v1/certificates/{a1}/export")),
            ("GET", format!("/api/v1/certificates/{a1}/bundle")),
            ("DELETE", format!("/api/v1/certificates/{a1}")),
            ("POST", format!("/api/v1/certificates/{a1}/renew")),
        ] {
            let (code, v) = api.call(m, &user, &path, None).await;
            assert_eq!(code, 404, "[{l}] {m} {path} of another user's row: {v}");
            assert_eq!(v["type"], "urn:certdeck:problem:not-found");
        }
        assert_eq!(
            count(&api, "SELECT COUNT(*) FROM certificates").await,
            4,
            "[{l}] nothing deleted"
        );

        // Keyset paging with an opaque cursor, and the CLI's filter grammar.
        let (code, p1) = api.call("GET", &api.admin, "/api/v1/certificates?limit=3", None).await;
        assert_eq!((code, ids(&p1)), (200, vec![u1, a3, a2]));
        let cursor = p1["next_cursor"]
            .as_str()
            .expect("a full page has a next cursor")
            .to_string();
        let (_, p2) = api
            .call(
                "GET",
                &api.admin,
                &format!("/api/v1/certificates?limit=3&cursor={cursor}"),
                None,
            )
            .await;
        assert_eq!(ids(&p2), vec![a1]);
        assert!(p2["next_cursor"].is_null(), "the last page has none: {p2}");
        let (code, v) = api
            .call("GET", &api.admin, "/api/v1/certificates?cursor=bm9wZQ", None)
            .await;
        assert_eq!((code, v["field"].as_str()), (400, Some("cursor")), "[{l}] {v}");
        let (code, v) = api
            .call("GET", &api.admin, "/api/v1/certificates?limit=100000", None)
            .await;
        assert_eq!((code, v["field"].as_str()), (422, Some("limit")));
        let (_, v) = api
            .call("GET", &api.admin, "/api/v1/certificates?q=domain:A2.example.test", None)
            .await;
        assert_eq!(ids(&v), vec![a2], "[{l}] a term in q");
        let (_, v) = api
            .call(
                "GET",
                &api.admin,
                "/api/v1/certificates?domain=a3.example.test&status=issued",
                None,
            )
            .await;
        assert_eq!(ids(&v), vec![a3], "[{l}] terms as parameters: {v}");
        let (code, v) = api
            .call("GET", &api.admin, "/api/v1/certificates?colour=red", None)
            .await;
        assert_eq!((code, v["field"].as_str()), (422, Some("filter")), "[{l}] {v}");
        assert!(v["detail"].as_str().unwrap().contains("colour"), "{v}");
        let (code, v) = api
            .call("GET", &api.admin, "/api/v1/certificates?status=shiny", None)
            .await;
        assert_eq!(code, 422, "[{l}] {v}");
        let (_, v) = api
            .call("GET", &api.admin, "/api/v1/certificates?order=expiry&limit=2", None)
            .await;
        assert_eq!(v["items"].as_array().unwrap().len(), 2);
        let c = v["next_cursor"].as_str().unwrap().to_string();
        let (code, v2) = api
            .call(
                "GET",
                &api.admin,
                &format!("/api/v1/certificates?order=expiry&limit=2&cursor={c}"),
                None,
            )
            .await;
        assert_eq!((code, v2["items"].as_array().unwrap().len()), (200, 2), "[{l}] {v2}");
        let mut all = ids(&v);
        all.extend(ids(&v2));
        all.sort();
        assert_eq!(
            all,
            vec![a1, a2, a3, u1],
            "[{l}] expiry order pages cover every row once"
        );

        // Bad input: a problem naming the field, and nothing written.
        let before = count(&api, "SELECT COUNT(*) FROM certificates").await;
        let audits = count(&api, "SELECT COUNT(*) FROM audit_logs").await;
        let client = api.client();
        let url = format!("{}/api/v1/certificates", api.base);
        let send = |body: String| {
            client
                .post(&url)
                .bearer_auth(&api.admin)
                .header("content-type", "application/json")
                .body(body)
                .send()
        };
        let r = send("{\"certificate_pem\": ".into()).await.unwrap();
        assert_eq!(r.status(), 400);
        assert_eq!(r.headers()["content-type"], "application/problem+json");
        let r = send(json!({"certificate_pem": 5, "private_key_pem": "x"}).to_string())
            .await
            .unwrap();
        assert_eq!(r.status(), 422);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["field"], "certificate_pem", "[{l}] {v}");
        let r = send(json!({"certificate_pem": "x", "private_key_pem": "y", "colour": 1}).to_string())
            .await
            .unwrap();
        let v: Value = r.json().await.unwrap();
        assert_eq!(
            (v["status"].as_i64(), v["field"].as_str()),
            (Some(422), Some("colour")),
            "[{l}] {v}"
        );
        let r = send(json!({"certificate_pem": "not a PEM", "private_key_pem": "y"}).to_string())
            .await
            .unwrap();
        assert_eq!(r.status(), 422, "[{l}] the service refuses what does not parse");
        let huge = json!({"certificate_pem": "A".repeat(2 * 1024 * 1024), "private_key_pem": "y"}).to_string();
        let r = send(huge).await.unwrap();
        assert_eq!(r.status(), 413, "[{l}] bodies over the limit are refused");
        let (code, v) = api.call("GET", &api.admin, "/api/v1/certificates/abc", None).await;
        assert_eq!((code, v["field"].as_str()), (422, Some("id")));
        assert_eq!(
            count(&api, "SELECT COUNT(*) FROM certificates").await,
            before,
            "[{l}] nothing written"
        );
        assert_eq!(
            count(&api, "SELECT COUNT(*) FROM audit_logs").await,
            audits,
            "[{l}] nothing audited"
        );

        // Writes are audited with the client's address and user agent.
        let rows = api.audit_of("certificate.import").await;
        assert_eq!(rows.len(), 4);
        for (who, ip, ua) in &rows {
            assert!(who.is_some());
            assert_eq!((ip.as_deref(), ua.as_deref()), (Some("127.0.0.1"), Some(UA)), "[{l}]");
        }
        assert_eq!(rows[0].0, Some(uid));

        // curl, a real client, fetches a bundle with an API key (a CI job).
        let key = api.api_key("ci", None, &[]);
        let auth = format!("Authorization: Bearer {key}");
        let (ok, pem) = curl(
            &api,
            &[
                "-f",
                "-H",
                &auth,
                &format!("{}/api/v1/certificates/{a2}/bundle", api.base),
            ],
        );
        assert!(ok && pem.starts_with("-----BEGIN CERTIFICATE-----"), "[{l}] {pem}");
        assert!(!pem.contains("PRIVATE KEY"), "no key unless asked for");
        let (_, v) = curl(
            &api,
            &[
                "-H",
                &auth,
                &format!("{}/api/v1/certificates/{a2}/bundle?key=true", api.base),
            ],
        );
        let v: Value = serde_json::from_str(&v).unwrap();
        assert_eq!(v["status"], 403, "[{l}] an API key may not export private keys: {v}");
        let (code, ct, body) = api
            .call_full(
                "GET",
                Some(&api.admin),
                &format!("/api/v1/certificates/{a2}/bundle?key=true"),
                None,
            )
            .await;
        assert_eq!((code, ct.as_str()), (200, "application/x-pem-file"));
        assert!(
            body.as_str().unwrap().contains("PRIVATE KEY"),
            "a session may, when asked"
        );
        assert_eq!(
            api.audit_of("certificate.export_key").await.len(),
            1,
            "[{l}] and it is audited"
        );
        let (code, v) = api.call("GET", &key, "/api/v1/whoami", None).await;
        assert_eq!((code, v["role"].as_str()), (200, Some("api")), "[{l}] {v}");
        assert!(
            count(&api, "SELECT COUNT(*) FROM api_keys WHERE last_used_at IS NOT NULL").await == 1,
            "[{l}] last_used_at is recorded"
        );

        // A revoked key is refused at once; so is a wrong secret.
        let (public, _) = key.split_once(':').unwrap();
        let (code, _) = api
            .call("GET", &format!("{public}:wrong"), "/api/v1/whoami", None)
            .await;
        assert_eq!(code, 401);
        let o = api.cli(&["apikey", "revoke", public], None);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let (code, v) = api.call("GET", &key, "/api/v1/whoami", None).await;
        assert_eq!(code, 401, "[{l}] revoked: {v}");
        assert!(v["detail"].as_str().unwrap().contains("revoked"), "{v}");

        // Sessions: refresh replaces the pair; logout and expiry end them.
        let (code, s1) = api
            .call_public(
                "POST",
                "/api/v1/login",
                Some(json!({"username": "ursula", "password": USER_PW})),
            )
            .await;
        assert_eq!(code, 200);
        let (code, s2) = api
            .call_public(
                "POST",
                "/api/v1/refresh",
                Some(json!({"refresh_token": s1["refresh_token"], "access_token": s1["access_token"]})),
            )
            .await;
        assert_eq!(code, 200, "[{l}] {s2}");
        let old = s1["access_token"].as_str().unwrap();
        let new = s2["access_token"].as_str().unwrap();
        assert_eq!(
            api.call("GET", old, "/api/v1/whoami", None).await.0,
            401,
            "the old pair is revoked"
        );
        assert_eq!(api.call("GET", new, "/api/v1/whoami", None).await.0, 200);
        let (code, _) = api
            .call(
                "POST",
                new,
                "/api/v1/logout",
                Some(json!({"refresh_token": s2["refresh_token"]})),
            )
            .await;
        assert_eq!(code, 204);
        assert_eq!(
            api.call("GET", new, "/api/v1/whoami", None).await.0,
            401,
            "[{l}] logged out"
        );
        common::exec(
            &api.db,
            &format!("UPDATE user_tokens SET expires_at = '2001-01-01 00:00:00' WHERE user_id = {uid}"),
        )
        .await;
        assert_eq!(
            api.call("GET", &user, "/api/v1/whoami", None).await.0,
            401,
            "[{l}] expired"
        );
        assert!(!api.audit_of("auth.login").await.is_empty());

        // Lockout, as for the CLI: five failures lock the account, even for the right password.
        let _ = api.user("lou", "user").await;
        for _ in 0..5 {
            let (code, _) = api
                .call_public(
                    "POST",
                    "/api/v1/login",
                    Some(json!({"username": "lou", "password": "wrong"})),
                )
                .await;
            assert_eq!(code, 401);
        }
        let (code, v) = api
            .call_public(
                "POST",
                "/api/v1/login",
                Some(json!({"username": "lou", "password": USER_PW})),
            )
            .await;
        assert_eq!(code, 401, "[{l}] locked: {v}");
        assert!(v["detail"].as_str().unwrap().contains("locked"), "{v}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn rate_limits_plain_http_only_on_loopback_and_a_clean_stop() {
    let mut api = ApiServer::start(Backend::Sqlite, &["--api-rate-per-key", "1"])
        .await
        .unwrap();
    let mut codes = Vec::new();
    let mut retry_after = None;
    for _ in 0..4 {
        let res = api
            .client()
            .get(format!("{}/api/v1/whoami", api.base))
            .bearer_auth(&api.admin)
            .send()
            .await
            .unwrap();
        codes.push(res.status().as_u16());
        if res.status() == 429 {
            retry_after = res
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_string());
        }
    }
    assert_eq!(codes, vec![200, 200, 429, 429], "a burst of twice the rate, then 429");
    assert_eq!(retry_after.as_deref(), Some("1"));

    // Plain HTTP works on loopback ...
    api.restart(&[], false);
    assert!(api.base.starts_with("http://127.0.0.1:"), "{}", api.base);
    let res = reqwest::get(format!("{}/api/v1/health", api.base)).await.unwrap();
    assert_eq!(res.status(), 200);
    // ... and nowhere else.
    let o = api.cli(&["--serve-api", "0.0.0.0:0"], None);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("only allowed on a loopback"),
        "{err}"
    );

    // SIGTERM stops it cleanly.
    let st = api.stop().expect("it was running");
    assert!(st.success(), "exit status {st:?}");
}

/// One HTTP/1.1 keep-alive connection over TLS that accepts any certificate and remembers the
/// leaf it was shown: to prove an open connection survives a certificate swap.
struct KeepAlive {
    tls: tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
}

impl KeepAlive {
    async fn open(port: u16, sni: &str) -> KeepAlive {
        use certdeck::engine::probe::verifier::AcceptAnyVerifier;
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let cfg = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap()
            .dangerous()
            .with_custom_certificate_verifier(std::sync::Arc::new(AcceptAnyVerifier::strict(provider)))
            .with_no_client_auth();
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let name = rustls::pki_types::ServerName::try_from(sni.to_string()).unwrap();
        let tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(cfg))
            .connect(name, tcp)
            .await
            .unwrap();
        KeepAlive { tls }
    }

    fn leaf_serial(&self) -> String {
        let der = self.tls.get_ref().1.peer_certificates().unwrap()[0].as_ref().to_vec();
        certdeck::domain::certpem::serial_hex(&der).unwrap()
    }

    /// `GET /api/v1/health` on this connection; the status code.
    async fn health(&mut self) -> u16 {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        self.tls
            .write_all(b"GET /api/v1/health HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .await
            .unwrap();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let n = self.tls.read(&mut chunk).await.unwrap();
            assert!(n > 0, "the connection was closed");
            buf.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&buf).to_string();
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let len: usize = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse().unwrap())
                    })
                    .unwrap_or(0);
                if body.len() >= len {
                    return head.split_whitespace().nth(1).unwrap().parse().unwrap();
                }
            }
        }
    }
}

/// Runs the CLI of `api`, which must succeed; its standard output.
fn run(api: &ApiServer, args: &[&str], stdin: Option<&str>) -> String {
    let o = api.cli(args, stdin);
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    );
    assert!(o.status.success(), "{args:?}: {out}{err}");
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn a_managed_certificate_is_served_and_its_renewal_is_picked_up_without_dropping_connections() {
    let Some(b) = common::pebble_bind::bed() else { return };
    let mut api = ApiServer::start(Backend::Sqlite, &[]).await.unwrap();
    let ca_file = std::env::var("CERTDECK_TEST_PEBBLE_CA").unwrap();
    run(
        &api,
        &[
            "ca",
            "add",
            "pebble",
            "--directory",
            &b.directory,
            "--trust-root",
            &ca_file,
        ],
        None,
    );
    run(
        &api,
        &[
            "dns-provider",
            "add",
            "bind",
            "--server",
            &b.settings.server,
            "--zone",
            &b.settings.zone,
            "--key-name",
            &b.settings.key_name,
            "--algorithm",
            &b.settings.algorithm,
        ],
        Some(&format!("{}\n", b.secret)),
    );
    let name = format!("api{:08x}.{}", rand::random::<u32>(), b.settings.zone);
    run(
        &api,
        &[
            "cert",
            "request",
            "--domain",
            &name,
            "--ca",
            "pebble",
            "--dns-provider",
            "1",
        ],
        None,
    );
    let list: Value = serde_json::from_str(&run(&api, &["--json", "cert", "list"], None)).unwrap();
    let id = list[0]["id"].as_i64().unwrap().to_string();
    let pem_serial = |api: &ApiServer| {
        let o = api.cli(&["--json", "cert", "show", &id, "--pem"], None);
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        common::bed::pem_serial(v["pem"]["certificate_pem"].as_str().unwrap())
    };
    let first = pem_serial(&api);

    // Served by id, re-read every second.
    api.restart(&["--tls-certificate-id", &id, "--tls-reload-secs", "1"], false);
    assert!(api.base.starts_with("https://"), "{}", api.base);
    let port: u16 = api.base.rsplit(':').next().unwrap().parse().unwrap();
    let mut open = KeepAlive::open(port, &name).await;
    assert_eq!(open.leaf_serial(), first, "the managed certificate is served");
    assert_eq!(open.health().await, 200);

    // Renewed: new handshakes get the new certificate, the open connection goes on.
    run(&api, &["cert", "renew", &id], None);
    let second = pem_serial(&api);
    assert_ne!(first, second, "the renewal issued a new certificate");
    let mut served = String::new();
    for _ in 0..100 {
        served = common::bed::served_serial(port, &name).await;
        if served == second {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(served, second, "the renewal is served within the reload interval");
    assert_eq!(
        open.health().await,
        200,
        "the connection opened before the swap still works"
    );
    assert_eq!(open.leaf_serial(), first);
}
