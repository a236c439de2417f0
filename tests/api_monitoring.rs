//! The monitoring part of the HTTP API against a real `certdeck --serve-api` process over TLS,
//! on SQLite and MariaDB: monitors (and check now), alert rules (and their channel bindings),
//! fired alerts (acknowledge, resolve), notification channels (test: a real delivery to a local
//! webhook receiver and to the bed's SMTP sink; secrets never returned) and the audit log.
//! For each: the owner's operations work; another user's rows are neither listed, read nor
//! changed (404) and nothing is written; bad input is a problem document naming the field, with
//! nothing written; every write is audited with the client's address and user agent.

mod common;

use std::sync::{Arc, Mutex};

use common::api::{ApiServer, UA};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Secret values given to channels; no response may contain them.
const HOOK_TOKEN: &str = "tok3n-in-the-hook-path";
const HOOK_SECRET: &str = "the-hmac-secret-of-the-hook";
const HEADER_SECRET: &str = "the-header-secret-value";

/// What the local receiver got: (path, body).
type Seen = Arc<Mutex<Vec<(String, String)>>>;

/// A tiny HTTP/1.1 receiver: `/fail…` answers 500, everything else 200 `{"ok":true}`.
async fn receiver() -> (u16, Seen) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let seen: Seen = Arc::default();
    let s2 = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = l.accept().await else { return };
            let seen = s2.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let n = sock.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).to_string();
                    let Some(end) = text.find("\r\n\r\n") else { continue };
                    let head = &text[..end];
                    let len: usize = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if buf.len() < end + 4 + len {
                        continue;
                    }
                    let body = String::from_utf8_lossy(&buf[end + 4..end + 4 + len]).to_string();
                    let path = head
                        .lines()
                        .next()
                        .unwrap_or("")
                        .split(' ')
                        .nth(1)
                        .unwrap_or("")
                        .to_string();
                    seen.lock().unwrap().push((path.clone(), body));
                    let (code, text) = if path.starts_with("/fail") {
                        ("500 Internal Server Error", "down")
                    } else {
                        ("200 OK", "{\"ok\":true}")
                    };
                    let _ = sock
                        .write_all(
                            format!(
                                "HTTP/1.1 {code}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
                                text.len()
                            )
                            .as_bytes(),
                        )
                        .await;
                    return;
                }
            });
        }
    });
    (port, seen)
}

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

async fn count(api: &ApiServer, sql: &str) -> i64 {
    common::count(&api.db, sql).await
}

async fn audit_rows(api: &ApiServer) -> i64 {
    count(api, "SELECT COUNT(*) FROM audit_logs").await
}

fn ids(v: &Value) -> Vec<i64> {
    v["items"]
        .as_array()
        .unwrap_or_else(|| panic!("not a page: {v}"))
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect()
}

/// Asserts a problem document with `status` naming `field`.
fn problem(l: &str, what: &str, got: (u16, Value), status: u16, field: &str) {
    let (code, v) = got;
    assert_eq!(code, status, "[{l}] {what}: {v}");
    assert_eq!(v["status"], status, "[{l}] {what}: a problem document: {v}");
    assert_eq!(v["field"].as_str(), Some(field), "[{l}] {what}: names the field: {v}");
}

/// The newest audit row of `action` was written by `user` from the test client.
async fn audited(api: &ApiServer, action: &str, user: i64) {
    let rows = api.audit_of(action).await;
    let (who, ip, ua) = rows
        .first()
        .unwrap_or_else(|| panic!("[{}] no audit row {action}", api.label))
        .clone();
    assert_eq!(who, Some(user), "[{}] {action} by", api.label);
    assert_eq!(ip.as_deref(), Some("127.0.0.1"), "[{}] {action} ip", api.label);
    assert_eq!(ua.as_deref(), Some(UA), "[{}] {action} user agent", api.label);
}

/// No secret value anywhere in `v`.
fn no_secrets(l: &str, what: &str, v: &Value) {
    let text = v.to_string();
    for s in [HOOK_TOKEN, HOOK_SECRET, HEADER_SECRET] {
        assert!(!text.contains(s), "[{l}] {what} shows a secret: {text}");
    }
    if let Ok(pw) = std::env::var("CERTDECK_TEST_SMTP_PASSWORD") {
        assert!(!text.contains(&pw), "[{l}] {what} shows the SMTP password");
    }
}

struct People {
    alice_id: i64,
    alice: String,
    bob_id: i64,
    bob: String,
    /// An API key of alice's.
    alice_key: String,
}

#[tokio::test(flavor = "multi_thread")]
async fn monitors_alerts_channels_and_audit_over_tls_on_both_backends() {
    let (hook_port, seen) = receiver().await;
    for api in ApiServer::both(&["--api-rate-per-key", "0", "--api-rate-per-address", "0"]).await {
        let (alice_id, alice) = api.user("alice", "user").await;
        let (bob_id, bob) = api.user("bob", "user").await;
        let alice_key = api.api_key("alice ci", Some("alice"), &[]);
        let p = People {
            alice_id,
            alice,
            bob_id,
            bob,
            alice_key,
        };
        let monitor = monitors(&api, &p).await;
        let channel = channels(&api, &p, hook_port, &seen).await;
        let rule = alert_rules(&api, &p, monitor, channel).await;
        fired_alerts(&api, &p, monitor, rule).await;
        audit(&api, &p).await;

        // Deleting: another user cannot, the owner can (204, then 404), audited.
        let l = api.label;
        for (path, action) in [
            (format!("/api/v1/alert-rules/{rule}"), "alert.delete"),
            (format!("/api/v1/channels/{channel}"), "channel.delete"),
            (format!("/api/v1/monitors/{monitor}"), "monitor.delete"),
        ] {
            let before = audit_rows(&api).await;
            let (code, v) = api.call("DELETE", &p.bob, &path, None).await;
            assert_eq!(code, 404, "[{l}] bob deletes {path}: {v}");
            assert_eq!(audit_rows(&api).await, before, "[{l}] nothing written");
            let (code, v) = api.call("DELETE", &p.alice, &path, None).await;
            assert_eq!(code, 204, "[{l}] delete {path}: {v}");
            audited(&api, action, p.alice_id).await;
            let (code, _) = api.call("GET", &p.alice, &path, None).await;
            assert_eq!(code, 404, "[{l}] {path} is gone");
        }
        assert_eq!(
            count(
                &api,
                &format!("SELECT COUNT(*) FROM alert_history WHERE monitor_id = {monitor}")
            )
            .await,
            0,
            "[{l}] the monitor's history went with it"
        );
    }
}

/// Monitors: create, list with filter terms and paging, show, update, check now; another
/// user's view; bad input. Returns alice's domain monitor (checked: error, nothing listens).
async fn monitors(api: &ApiServer, p: &People) -> i64 {
    let l = api.label;
    let port = closed_port();
    let (code, m) = api
        .call(
            "POST",
            &p.alice,
            "/api/v1/monitors",
            Some(
                json!({"name": "shop", "monitor_type": "domain", "domain": "Shop.Example.TEST", "port": port,
                        "connect_address": "127.0.0.1", "check_interval": 300}),
            ),
        )
        .await;
    assert_eq!(code, 201, "[{l}] create monitor: {m}");
    let id = m["id"].as_i64().unwrap();
    assert_eq!(m["user_id"], p.alice_id, "[{l}] owned by the caller");
    assert_eq!(m["domain"], "shop.example.test", "[{l}] {m}");
    assert_eq!(
        (m["status"].as_str(), m["is_active"].as_bool()),
        (Some("unknown"), Some(true))
    );
    audited(api, "monitor.create", p.alice_id).await;
    // A certificate monitor (the import gave the certificate one already; a second is allowed).
    let cert = api.import_cert(&p.alice, "watched.example.test").await;
    let (code, cm) = api
        .call(
            "POST",
            &p.alice,
            "/api/v1/monitors",
            Some(json!({"name": "watched", "monitor_type": "certificate", "target_id": cert})),
        )
        .await;
    assert_eq!(code, 201, "[{l}] certificate monitor: {cm}");
    let cert_monitor = cm["id"].as_i64().unwrap();

    // Lists: own rows, the CLI's terms as parameters or as `q`, keyset pages.
    let (code, v) = api.call("GET", &p.alice, "/api/v1/monitors", None).await;
    assert_eq!(code, 200, "[{l}] {v}");
    let mine = ids(&v);
    assert!(mine.contains(&id) && mine.contains(&cert_monitor), "[{l}] {mine:?}");
    let (_, v) = api.call("GET", &p.alice, "/api/v1/monitors?type=domain", None).await;
    assert_eq!(ids(&v), vec![id], "[{l}] type=domain");
    let (_, v) = api
        .call(
            "GET",
            &p.alice,
            "/api/v1/monitors?q=type:certificate%20status:unknown",
            None,
        )
        .await;
    assert!(
        ids(&v).contains(&cert_monitor) && !ids(&v).contains(&id),
        "[{l}] q terms: {v}"
    );
    let (_, v) = api.call("GET", &p.alice, "/api/v1/monitors?active=no", None).await;
    assert!(ids(&v).is_empty(), "[{l}] active=no: {v}");
    let (_, p1) = api.call("GET", &p.alice, "/api/v1/monitors?limit=1", None).await;
    let cursor = p1["next_cursor"]
        .as_str()
        .expect("a full page has a next cursor")
        .to_string();
    let (code, p2) = api
        .call(
            "GET",
            &p.alice,
            &format!("/api/v1/monitors?limit=1&cursor={cursor}"),
            None,
        )
        .await;
    assert_eq!(code, 200, "[{l}] {p2}");
    assert_eq!(ids(&p1).len() + ids(&p2).len(), 2);
    assert_ne!(ids(&p1), ids(&p2), "[{l}] the second page goes on");
    problem(
        l,
        "bad cursor",
        api.call("GET", &p.alice, "/api/v1/monitors?cursor=xyz", None).await,
        400,
        "cursor",
    );
    problem(
        l,
        "another list's cursor",
        api.call("GET", &p.alice, &format!("/api/v1/channels?cursor={cursor}"), None)
            .await,
        400,
        "cursor",
    );
    problem(
        l,
        "unknown term",
        api.call("GET", &p.alice, "/api/v1/monitors?colour=red", None).await,
        422,
        "filter",
    );
    problem(
        l,
        "bad status",
        api.call("GET", &p.alice, "/api/v1/monitors?status=shiny", None).await,
        422,
        "status",
    );
    problem(
        l,
        "bad limit",
        api.call("GET", &p.alice, "/api/v1/monitors?limit=0", None).await,
        422,
        "limit",
    );

    // Show, bad ids.
    let (code, v) = api.call("GET", &p.alice, &format!("/api/v1/monitors/{id}"), None).await;
    assert_eq!((code, v["name"].as_str()), (200, Some("shop")), "[{l}] {v}");
    problem(
        l,
        "id abc",
        api.call("GET", &p.alice, "/api/v1/monitors/abc", None).await,
        422,
        "id",
    );
    problem(
        l,
        "id 0",
        api.call("GET", &p.alice, "/api/v1/monitors/0", None).await,
        422,
        "id",
    );

    // Bad input: nothing written.
    let before = (audit_rows(api).await, count(api, "SELECT COUNT(*) FROM monitors").await);
    let path = format!("/api/v1/monitors/{id}");
    for (what, method, path, body, status, field) in [
        (
            "wrong type",
            "PATCH",
            path.as_str(),
            json!({"check_interval": "often"}),
            422,
            "check_interval",
        ),
        (
            "unknown field",
            "PATCH",
            path.as_str(),
            json!({"colour": "red"}),
            422,
            "colour",
        ),
        (
            "interval too short",
            "PATCH",
            path.as_str(),
            json!({"check_interval": 59}),
            422,
            "check_interval",
        ),
        (
            "type change",
            "PATCH",
            path.as_str(),
            json!({"monitor_type": "server"}),
            422,
            "monitor_type",
        ),
        (
            "bad enum",
            "POST",
            "/api/v1/monitors",
            json!({"name": "x", "monitor_type": "radar"}),
            422,
            "monitor_type",
        ),
        (
            "no type",
            "POST",
            "/api/v1/monitors",
            json!({"name": "x", "domain": "x.example.test"}),
            422,
            "monitor_type",
        ),
        (
            "bad port",
            "POST",
            "/api/v1/monitors",
            json!({"name": "x", "monitor_type": "domain", "domain": "x.example.test", "port": 0}),
            422,
            "port",
        ),
        (
            "wildcard",
            "POST",
            "/api/v1/monitors",
            json!({"name": "x", "monitor_type": "domain", "domain": "*.example.test"}),
            422,
            "domain",
        ),
        (
            "bad trust bundle",
            "PATCH",
            path.as_str(),
            json!({"trust_bundle_pem": "not pem"}),
            422,
            "trust_bundle_pem",
        ),
    ] {
        problem(
            l,
            what,
            api.call(method, &p.alice, path, Some(body)).await,
            status,
            field,
        );
    }
    let r = api
        .client()
        .patch(format!("{}{path}", api.base))
        .bearer_auth(&p.alice)
        .header("content-type", "application/json")
        .body("{\"name\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "[{l}] malformed JSON");
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["field"], "body", "[{l}] {v}");
    let after = (audit_rows(api).await, count(api, "SELECT COUNT(*) FROM monitors").await);
    assert_eq!(before, after, "[{l}] bad input writes nothing");

    // Update.
    let (code, v) = api
        .call(
            "PATCH",
            &p.alice,
            &path,
            Some(json!({"name": "shop front", "check_interval": 600})),
        )
        .await;
    assert_eq!(code, 200, "[{l}] update: {v}");
    assert_eq!(
        (v["name"].as_str(), v["check_interval"].as_i64()),
        (Some("shop front"), Some(600))
    );
    assert_eq!(v["domain"], "shop.example.test", "[{l}] untouched fields kept");
    audited(api, "monitor.update", p.alice_id).await;

    // Another user: not listed, not readable, not changeable, not checkable; nothing written.
    let before = audit_rows(api).await;
    let (_, v) = api.call("GET", &p.bob, "/api/v1/monitors", None).await;
    assert!(!ids(&v).contains(&id), "[{l}] bob does not list alice's monitors: {v}");
    for (method, path, body) in [
        ("GET", path.clone(), None),
        ("PATCH", path.clone(), Some(json!({"name": "mine now"}))),
        ("POST", format!("{path}/check"), None),
    ] {
        let (code, v) = api.call(method, &p.bob, &path, body).await;
        assert_eq!(code, 404, "[{l}] bob {method} {path}: {v}");
        assert_eq!(v["status"], 404);
    }
    assert_eq!(audit_rows(api).await, before, "[{l}] nothing written for bob");
    let (_, v) = api.call("GET", &p.alice, &path, None).await;
    assert_eq!(v["name"], "shop front", "[{l}] unchanged by bob");
    // The admin sees every user's monitors.
    let (_, v) = api.call("GET", &api.admin, "/api/v1/monitors?type=domain", None).await;
    assert!(ids(&v).contains(&id), "[{l}] admin lists all: {v}");

    // Check now needs a user session: an API key is refused and nothing is checked.
    let (code, v) = api.call("POST", &p.alice_key, &format!("{path}/check"), None).await;
    assert_eq!(code, 403, "[{l}] API key check: {v}");
    let (_, v) = api.call("GET", &p.alice_key, &path, None).await;
    assert_eq!(v["status"], "unknown", "[{l}] the key can read; nothing was checked");
    id
}

/// Channels: create (secrets sealed, never shown), list, show, update (secrets kept), test
/// (a real delivery, to the local receiver and to the SMTP sink); another user's view; bad
/// input. Returns alice's webhook channel.
async fn channels(api: &ApiServer, p: &People, hook_port: u16, seen: &Seen) -> i64 {
    let l = api.label;
    let hook_url = format!("http://127.0.0.1:{hook_port}/hook/{HOOK_TOKEN}");
    let (code, c) = api
        .call(
            "POST",
            &p.alice,
            "/api/v1/channels",
            Some(json!({"name": "ops hook", "channel_type": "webhook", "config": {
                "url": hook_url, "secret": HOOK_SECRET, "headers": {"X-Token": HEADER_SECRET}, "allow_http": true}})),
        )
        .await;
    assert_eq!(code, 201, "[{l}] create channel: {c}");
    no_secrets(l, "created channel", &c);
    let id = c["id"].as_i64().unwrap();
    let mut fields: Vec<&str> = c["secret_fields"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        vec!["headers", "secret", "url"],
        "[{l}] secrets shown by name: {c}"
    );
    assert_eq!(
        c["settings"],
        json!({"allow_http": true}),
        "[{l}] plain settings shown: {c}"
    );
    assert!(c.get("secrets").is_none(), "[{l}] no secret values: {c}");
    audited(api, "channel.create", p.alice_id).await;
    let stored = count(
        api,
        &format!("SELECT COUNT(*) FROM alert_channels WHERE id = {id} AND config LIKE '%{HOOK_SECRET}%'"),
    )
    .await;
    assert_eq!(stored, 0, "[{l}] the secret is sealed at rest");

    let (code, v) = api.call("GET", &p.alice, "/api/v1/channels", None).await;
    assert_eq!(code, 200);
    assert!(ids(&v).contains(&id), "[{l}] {v}");
    no_secrets(l, "channel list", &v);
    let path = format!("/api/v1/channels/{id}");
    let (code, v) = api.call("GET", &p.alice, &path, None).await;
    assert_eq!((code, v["name"].as_str()), (200, Some("ops hook")), "[{l}] {v}");
    no_secrets(l, "channel", &v);

    // Test: a real delivery to the receiver, at the secret URL.
    let sent_before = seen.lock().unwrap().len();
    let (code, v) = api.call("POST", &p.alice, &format!("{path}/test"), None).await;
    assert_eq!(code, 200, "[{l}] test: {v}");
    assert!(v["message"].as_str().unwrap().contains("HTTP 200"), "[{l}] {v}");
    no_secrets(l, "test result", &v);
    {
        let got = seen.lock().unwrap();
        assert_eq!(got.len(), sent_before + 1, "[{l}] one message sent");
        let (at, body) = got.last().unwrap();
        assert_eq!(at, &format!("/hook/{HOOK_TOKEN}"), "[{l}] sent to the sealed URL");
        assert!(body.contains("test notification"), "[{l}] {body}");
    }
    audited(api, "channel.test", p.alice_id).await;

    // Update: the plain settings replaced, the secrets kept (the next test reaches the same URL).
    let (code, v) = api
        .call(
            "PATCH",
            &p.alice,
            &path,
            Some(json!({"name": "ops hook 2", "config": {"allow_http": true, "flavor": "generic"}})),
        )
        .await;
    assert_eq!(code, 200, "[{l}] update channel: {v}");
    no_secrets(l, "updated channel", &v);
    assert_eq!(v["name"], "ops hook 2");
    assert_eq!(v["settings"]["flavor"], "generic", "[{l}] {v}");
    audited(api, "channel.update", p.alice_id).await;
    let (code, v) = api.call("POST", &p.alice, &format!("{path}/test"), None).await;
    assert_eq!(code, 200, "[{l}] test after update: {v}");
    assert_eq!(
        seen.lock().unwrap().last().unwrap().0,
        format!("/hook/{HOOK_TOKEN}"),
        "[{l}] the sealed URL was kept"
    );

    // A far side that refuses: 502, what it said.
    let (code, broken) = api
        .call(
            "POST",
            &p.alice,
            "/api/v1/channels",
            Some(json!({"name": "broken", "channel_type": "webhook",
                        "config": {"url": format!("http://127.0.0.1:{hook_port}/fail"), "allow_http": true}})),
        )
        .await;
    assert_eq!(code, 201, "[{l}] {broken}");
    let broken = broken["id"].as_i64().unwrap();
    let (code, v) = api
        .call("POST", &p.alice, &format!("/api/v1/channels/{broken}/test"), None)
        .await;
    assert_eq!(code, 502, "[{l}] refused test: {v}");
    assert!(v["detail"].as_str().unwrap().contains("500"), "[{l}] {v}");
    let (code, _) = api
        .call("DELETE", &p.alice, &format!("/api/v1/channels/{broken}"), None)
        .await;
    assert_eq!(code, 204);

    // E-mail through the bed's SMTP sink (password sealed, never shown).
    match (
        std::env::var("CERTDECK_TEST_SMTP_HOST"),
        std::env::var("CERTDECK_TEST_SMTP_PORT"),
        std::env::var("CERTDECK_TEST_SMTP_USER"),
        std::env::var("CERTDECK_TEST_SMTP_PASSWORD"),
        std::env::var("CERTDECK_TEST_SMTP_MAILDIR"),
    ) {
        (Ok(host), Ok(port), Ok(user), Ok(password), Ok(maildir)) => {
            let to = format!("api-{}-{:08x}@example.test", l, rand::random::<u32>());
            let (code, v) = api
                .call(
                    "POST",
                    &p.alice,
                    "/api/v1/channels",
                    Some(json!({"name": "ops mail", "channel_type": "email", "config": {
                        "smtp_host": host, "smtp_port": port, "security": "plain", "username": user,
                        "password": password, "from": "certdeck@example.test", "to": to}})),
                )
                .await;
            assert_eq!(code, 201, "[{l}] e-mail channel: {v}");
            no_secrets(l, "e-mail channel", &v);
            assert_eq!(v["secret_fields"], json!(["password"]), "[{l}] {v}");
            let mail = v["id"].as_i64().unwrap();
            let (code, v) = api
                .call("POST", &p.alice, &format!("/api/v1/channels/{mail}/test"), None)
                .await;
            assert_eq!(code, 200, "[{l}] e-mail test: {v}");
            let mut found = false;
            for _ in 0..50 {
                found = std::fs::read_dir(&maildir)
                    .map(|rd| {
                        rd.flatten()
                            .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                            .any(|t| t.contains(&to))
                    })
                    .unwrap_or(false);
                if found {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            assert!(found, "[{l}] the test mail to {to} reached the sink");
            let (code, _) = api
                .call("DELETE", &p.alice, &format!("/api/v1/channels/{mail}"), None)
                .await;
            assert_eq!(code, 204);
        }
        _ => assert!(
            !common::peers_required(),
            "the SMTP sink is not up but peers are required"
        ),
    }

    // An API key may read channels but not send tests.
    let (code, v) = api.call("GET", &p.alice_key, &path, None).await;
    assert_eq!(code, 200, "[{l}] {v}");
    no_secrets(l, "channel read by a key", &v);
    let (code, v) = api.call("POST", &p.alice_key, &format!("{path}/test"), None).await;
    assert_eq!(code, 403, "[{l}] key test: {v}");

    // Bad input: nothing written.
    let before = (
        audit_rows(api).await,
        count(api, "SELECT COUNT(*) FROM alert_channels").await,
    );
    for (what, method, path, body, field) in [
        (
            "bad kind",
            "POST",
            "/api/v1/channels",
            json!({"name": "x", "channel_type": "pigeon", "config": {}}),
            "channel_type",
        ),
        (
            "no url",
            "POST",
            "/api/v1/channels",
            json!({"name": "x", "channel_type": "webhook", "config": {}}),
            "config.url",
        ),
        (
            "bad url",
            "POST",
            "/api/v1/channels",
            json!({"name": "x", "channel_type": "webhook", "config": {"url": "not a url"}}),
            "config.url",
        ),
        (
            "no config",
            "POST",
            "/api/v1/channels",
            json!({"name": "x", "channel_type": "webhook"}),
            "config",
        ),
        (
            "config not an object",
            "PATCH",
            path.as_str(),
            json!({"config": "url=x"}),
            "config",
        ),
        (
            "wrong type",
            "PATCH",
            path.as_str(),
            json!({"is_active": "yes"}),
            "is_active",
        ),
        (
            "unknown field",
            "PATCH",
            path.as_str(),
            json!({"reveal": true}),
            "reveal",
        ),
    ] {
        problem(l, what, api.call(method, &p.alice, path, Some(body)).await, 422, field);
    }
    problem(
        l,
        "unknown term",
        api.call("GET", &p.alice, "/api/v1/channels?type=webhook", None).await,
        422,
        "filter",
    );
    assert_eq!(
        before,
        (
            audit_rows(api).await,
            count(api, "SELECT COUNT(*) FROM alert_channels").await
        ),
        "[{l}] bad input writes nothing"
    );

    // Another user: not listed, read, changed or tested; nothing written or sent.
    let before = audit_rows(api).await;
    let sent = seen.lock().unwrap().len();
    let (_, v) = api.call("GET", &p.bob, "/api/v1/channels", None).await;
    assert!(!ids(&v).contains(&id), "[{l}] {v}");
    for (method, path, body) in [
        ("GET", path.clone(), None),
        ("PATCH", path.clone(), Some(json!({"name": "mine"}))),
        ("POST", format!("{path}/test"), None),
    ] {
        let (code, v) = api.call(method, &p.bob, &path, body).await;
        assert_eq!(code, 404, "[{l}] bob {method} {path}: {v}");
    }
    assert_eq!(audit_rows(api).await, before, "[{l}] nothing written for bob");
    assert_eq!(seen.lock().unwrap().len(), sent, "[{l}] nothing sent for bob");
    id
}

/// Alert rules: create, list (`type`), show with bindings, update, bind/unbind a channel;
/// another user's view; bad input. Returns alice's rule on `monitor` (status error, critical),
/// bound to `channel`.
async fn alert_rules(api: &ApiServer, p: &People, monitor: i64, channel: i64) -> i64 {
    let l = api.label;
    let (code, r) = api
        .call(
            "POST",
            &p.alice,
            "/api/v1/alert-rules",
            Some(
                json!({"name": "shop broken", "alert_type": "certificate_error", "monitor_id": monitor,
                        "condition_type": "status_change", "condition_value": "error", "severity": "warning"}),
            ),
        )
        .await;
    assert_eq!(code, 201, "[{l}] create rule: {r}");
    let id = r["id"].as_i64().unwrap();
    assert_eq!(
        (r["user_id"].as_i64(), r["is_active"].as_bool()),
        (Some(p.alice_id), Some(true))
    );
    audited(api, "alert.create", p.alice_id).await;
    let (code, other) = api
        .call(
            "POST",
            &p.alice,
            "/api/v1/alert-rules",
            Some(json!({"name": "soon", "alert_type": "certificate_expiry", "condition_type": "days_before", "condition_value": "14"})),
        )
        .await;
    assert_eq!(code, 201, "[{l}] {other}");
    let other = other["id"].as_i64().unwrap();

    // (A new user starts with the default rules; these two are the newest.)
    let (_, v) = api.call("GET", &p.alice, "/api/v1/alert-rules", None).await;
    assert_eq!(ids(&v)[..2], [other, id], "[{l}] newest first: {v}");
    let (_, v) = api
        .call("GET", &p.alice, "/api/v1/alert-rules?type=certificate_expiry", None)
        .await;
    assert!(
        ids(&v).contains(&other) && !ids(&v).contains(&id),
        "[{l}] type filter: {v}"
    );
    assert!(v["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["alert_type"] == "certificate_expiry"));
    problem(
        l,
        "bad type",
        api.call("GET", &p.alice, "/api/v1/alert-rules?type=fire", None).await,
        422,
        "type",
    );
    let (_, p1) = api.call("GET", &p.alice, "/api/v1/alert-rules?limit=1", None).await;
    let c = p1["next_cursor"].as_str().unwrap();
    let (_, p2) = api
        .call(
            "GET",
            &p.alice,
            &format!("/api/v1/alert-rules?limit=1&cursor={c}"),
            None,
        )
        .await;
    assert_eq!(ids(&p2), vec![id], "[{l}] page 2");
    let path = format!("/api/v1/alert-rules/{id}");

    // Update.
    let (code, v) = api
        .call("PATCH", &p.alice, &path, Some(json!({"severity": "critical"})))
        .await;
    assert_eq!((code, v["severity"].as_str()), (200, Some("critical")), "[{l}] {v}");
    assert_eq!(v["condition_value"], "error", "[{l}] kept");
    audited(api, "alert.update", p.alice_id).await;

    // Bindings.
    let (code, v) = api
        .call(
            "POST",
            &p.alice,
            &format!("{path}/bind"),
            Some(json!({"channel_id": channel})),
        )
        .await;
    assert_eq!(code, 201, "[{l}] bind: {v}");
    assert_eq!(v["bindings"][0]["channel_id"], channel, "[{l}] {v}");
    audited(api, "binding.create", p.alice_id).await;
    let (code, v) = api
        .call(
            "POST",
            &p.alice,
            &format!("{path}/bind"),
            Some(json!({"channel_id": channel})),
        )
        .await;
    assert_eq!(code, 409, "[{l}] bound twice: {v}");
    let (code, v) = api
        .call(
            "POST",
            &p.alice,
            &format!("/api/v1/alert-rules/{other}/bind"),
            Some(json!({"channel_id": channel})),
        )
        .await;
    assert_eq!(code, 201, "[{l}] {v}");
    let (code, v) = api
        .call(
            "POST",
            &p.alice,
            &format!("/api/v1/alert-rules/{other}/unbind"),
            Some(json!({"channel_id": channel})),
        )
        .await;
    assert_eq!(code, 204, "[{l}] unbind: {v}");
    audited(api, "binding.delete", p.alice_id).await;
    let (code, v) = api.call("GET", &p.alice, &path, None).await;
    assert_eq!(code, 200, "[{l}] {v}");
    assert_eq!(
        (v["name"].as_str(), v["bindings"].as_array().map(Vec::len)),
        (Some("shop broken"), Some(1))
    );
    let (_, v) = api
        .call("GET", &p.alice, &format!("/api/v1/alert-rules/{other}"), None)
        .await;
    assert_eq!(v["bindings"], json!([]), "[{l}] unbound: {v}");

    // Bad input: nothing written.
    let before = (audit_rows(api).await, count(api, "SELECT COUNT(*) FROM alerts").await);
    for (what, method, path, body, field) in [
        (
            "no type",
            "POST",
            "/api/v1/alert-rules",
            json!({"name": "x", "condition_type": "days_before", "condition_value": "3"}),
            "alert_type",
        ),
        (
            "no condition",
            "POST",
            "/api/v1/alert-rules",
            json!({"name": "x", "alert_type": "certificate_expiry", "condition_value": "3"}),
            "condition_type",
        ),
        (
            "bad days",
            "POST",
            "/api/v1/alert-rules",
            json!({"name": "x", "alert_type": "certificate_expiry", "condition_type": "days_before", "condition_value": "soon"}),
            "condition_value",
        ),
        (
            "bad severity",
            "PATCH",
            path.as_str(),
            json!({"severity": "apocalyptic"}),
            "severity",
        ),
        (
            "wrong type",
            "PATCH",
            path.as_str(),
            json!({"monitor_id": "the shop"}),
            "monitor_id",
        ),
        (
            "unknown field",
            "PATCH",
            path.as_str(),
            json!({"channels": [1]}),
            "channels",
        ),
        (
            "bind: no channel",
            "POST",
            &format!("{path}/bind"),
            json!({}),
            "channel_id",
        ),
    ] {
        problem(l, what, api.call(method, &p.alice, path, Some(body)).await, 422, field);
    }
    assert_eq!(
        before,
        (audit_rows(api).await, count(api, "SELECT COUNT(*) FROM alerts").await),
        "[{l}] bad input writes nothing"
    );

    // Another user: not listed, read, changed or (un)bound, and cannot bind alice's channel to
    // a rule of theirs; nothing written.
    let (code, bobs) = api
        .call(
            "POST",
            &p.bob,
            "/api/v1/alert-rules",
            Some(json!({"name": "bob's", "alert_type": "certificate_expiry", "condition_type": "days_before", "condition_value": "7"})),
        )
        .await;
    assert_eq!(code, 201, "[{l}] {bobs}");
    let bobs = bobs["id"].as_i64().unwrap();
    let (code, v) = api
        .call(
            "POST",
            &p.bob,
            "/api/v1/alert-rules",
            Some(json!({"name": "spy", "alert_type": "certificate_error",
              "monitor_id": monitor, "condition_type": "status_change", "condition_value": "error"})),
        )
        .await;
    assert_eq!(code, 404, "[{l}] bob's rule on alice's monitor: {v}");
    let before = audit_rows(api).await;
    let (_, v) = api.call("GET", &p.bob, "/api/v1/alert-rules", None).await;
    assert!(ids(&v).contains(&bobs), "[{l}] {v}");
    assert!(
        !ids(&v).contains(&id) && !ids(&v).contains(&other),
        "[{l}] bob lists his own only: {v}"
    );
    for (method, path, body) in [
        ("GET", path.clone(), None),
        ("PATCH", path.clone(), Some(json!({"is_active": false}))),
        ("POST", format!("{path}/unbind"), Some(json!({"channel_id": channel}))),
        (
            "POST",
            format!("/api/v1/alert-rules/{bobs}/bind"),
            Some(json!({"channel_id": channel})),
        ),
    ] {
        let (code, v) = api.call(method, &p.bob, &path, body).await;
        assert_eq!(code, 404, "[{l}] bob {method} {path}: {v}");
    }
    assert_eq!(audit_rows(api).await, before, "[{l}] nothing written for bob");
    let (_, v) = api.call("GET", &p.alice, &path, None).await;
    assert_eq!(
        (v["is_active"].as_bool(), v["bindings"].as_array().map(Vec::len)),
        (Some(true), Some(1))
    );
    let (code, _) = api
        .call("DELETE", &p.alice, &format!("/api/v1/alert-rules/{other}"), None)
        .await;
    assert_eq!(code, 204);
    id
}

/// Fired alerts: check now fires the rule; list (`open`), show, acknowledge, resolve; another
/// user's view; API keys may not acknowledge.
async fn fired_alerts(api: &ApiServer, p: &People, monitor: i64, rule: i64) {
    let l = api.label;
    let (code, o) = api
        .call("POST", &p.alice, &format!("/api/v1/monitors/{monitor}/check"), None)
        .await;
    assert_eq!(code, 200, "[{l}] check now: {o}");
    assert_eq!(
        (o["monitor_id"].as_i64(), o["status"].as_str()),
        (Some(monitor), Some("error")),
        "[{l}] {o}"
    );
    assert!(
        o["alerts"].as_array().unwrap().iter().any(|a| a
            .as_str()
            .unwrap_or_default()
            .starts_with("alert 'shop broken' fired (1 notification(s) queued)")),
        "[{l}] the rule fired: {o}"
    );
    audited(api, "monitor.check", p.alice_id).await;
    let (_, m) = api
        .call("GET", &p.alice, &format!("/api/v1/monitors/{monitor}"), None)
        .await;
    assert_eq!(m["status"], "error", "[{l}] the result is recorded: {m}");

    let (code, v) = api.call("GET", &p.alice, "/api/v1/fired-alerts", None).await;
    assert_eq!(code, 200, "[{l}] {v}");
    // (The default "Certificate error" rule of a new user fires too.)
    let h = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["alert_id"] == rule)
        .unwrap_or_else(|| panic!("[{l}] the rule's alert is listed: {v}"));
    let id = h["id"].as_i64().unwrap();
    assert_eq!(
        (
            h["alert_id"].as_i64(),
            h["monitor_id"].as_i64(),
            h["severity"].as_str(),
            h["is_resolved"].as_bool()
        ),
        (Some(rule), Some(monitor), Some("critical"), Some(false)),
        "[{l}] {h}"
    );
    assert!(h["acknowledged_at"].is_null(), "[{l}] {h}");
    let (_, v) = api.call("GET", &p.alice, "/api/v1/fired-alerts?open=yes", None).await;
    assert!(ids(&v).contains(&id), "[{l}] open=yes: {v}");
    let (_, v) = api.call("GET", &p.alice, "/api/v1/fired-alerts?q=open:no", None).await;
    assert!(ids(&v).is_empty(), "[{l}] open:no: {v}");
    problem(
        l,
        "open=maybe",
        api.call("GET", &p.alice, "/api/v1/fired-alerts?open=maybe", None).await,
        422,
        "open",
    );
    problem(
        l,
        "unknown term",
        api.call("GET", &p.alice, "/api/v1/fired-alerts?severity=critical", None)
            .await,
        422,
        "filter",
    );
    problem(
        l,
        "bad cursor",
        api.call("GET", &p.alice, "/api/v1/fired-alerts?cursor=e30", None).await,
        400,
        "cursor",
    );
    let path = format!("/api/v1/fired-alerts/{id}");
    let (code, v) = api.call("GET", &p.alice, &path, None).await;
    assert_eq!((code, v["id"].as_i64()), (200, Some(id)), "[{l}] {v}");
    problem(
        l,
        "bad id",
        api.call("POST", &p.alice, "/api/v1/fired-alerts/x/resolve", None).await,
        422,
        "id",
    );

    // Another user, and an API key: nothing changes.
    let before = audit_rows(api).await;
    let (_, v) = api.call("GET", &p.bob, "/api/v1/fired-alerts", None).await;
    assert!(ids(&v).is_empty(), "[{l}] bob sees no fired alerts of alice: {v}");
    for (method, path) in [
        ("GET", path.clone()),
        ("POST", format!("{path}/acknowledge")),
        ("POST", format!("{path}/resolve")),
    ] {
        let (code, v) = api.call(method, &p.bob, &path, None).await;
        assert_eq!(code, 404, "[{l}] bob {method} {path}: {v}");
    }
    let (code, v) = api
        .call("POST", &p.alice_key, &format!("{path}/acknowledge"), None)
        .await;
    assert_eq!(code, 403, "[{l}] key acknowledge: {v}");
    assert_eq!(audit_rows(api).await, before, "[{l}] nothing written");
    let (_, v) = api.call("GET", &p.alice, &path, None).await;
    assert_eq!(
        (v["is_resolved"].as_bool(), v["acknowledged_at"].is_null()),
        (Some(false), true)
    );
    let (_, v) = api.call("GET", &api.admin, "/api/v1/fired-alerts", None).await;
    assert!(ids(&v).contains(&id), "[{l}] the admin sees it: {v}");

    // Acknowledge, then resolve; each once.
    let (code, v) = api.call("POST", &p.alice, &format!("{path}/acknowledge"), None).await;
    assert_eq!(code, 200, "[{l}] acknowledge: {v}");
    assert_eq!(
        (v["acknowledged_by"].as_i64(), v["is_resolved"].as_bool()),
        (Some(p.alice_id), Some(false))
    );
    assert!(v["acknowledged_at"].is_string(), "[{l}] {v}");
    audited(api, "alert.acknowledge", p.alice_id).await;
    let (code, v) = api.call("POST", &p.alice, &format!("{path}/acknowledge"), None).await;
    assert_eq!(code, 409, "[{l}] acknowledged twice: {v}");
    let (code, v) = api.call("POST", &p.alice, &format!("{path}/resolve"), None).await;
    assert_eq!(
        (code, v["is_resolved"].as_bool()),
        (200, Some(true)),
        "[{l}] resolve: {v}"
    );
    assert!(v["resolved_at"].is_string(), "[{l}] {v}");
    audited(api, "alert.resolve", p.alice_id).await;
    let (code, v) = api.call("POST", &p.alice, &format!("{path}/resolve"), None).await;
    assert_eq!(code, 409, "[{l}] resolved twice: {v}");
    let (_, v) = api.call("GET", &p.alice, "/api/v1/fired-alerts?open=no", None).await;
    assert_eq!(ids(&v), vec![id], "[{l}] open=no");
    let (_, v) = api.call("GET", &p.alice, "/api/v1/fired-alerts?open=yes", None).await;
    assert!(!ids(&v).contains(&id), "[{l}] open=yes: {v}");
}

/// The audit log: a user sees their own actions (whatever `user` says), an admin everyone's
/// with the filter terms; rows carry the client's address and agent; no secret in them.
async fn audit(api: &ApiServer, p: &People) {
    let l = api.label;
    let (code, v) = api.call("GET", &p.alice, "/api/v1/audit?limit=500", None).await;
    assert_eq!(code, 200, "[{l}] {v}");
    let rows = v["items"].as_array().unwrap();
    assert!(!rows.is_empty());
    assert!(
        rows.iter().all(|r| r["user_id"] == p.alice_id),
        "[{l}] only alice's own rows"
    );
    no_secrets(l, "audit rows", &v);
    let create = rows
        .iter()
        .find(|r| r["action"] == "channel.create")
        .expect("channel.create row");
    assert_eq!(
        (create["ip_address"].as_str(), create["user_agent"].as_str()),
        (Some("127.0.0.1"), Some(UA))
    );
    let (_, v) = api
        .call("GET", &p.alice, &format!("/api/v1/audit?user={}", p.bob_id), None)
        .await;
    assert!(
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["user_id"] == p.alice_id),
        "[{l}] a user cannot read another's actions: {v}"
    );
    let (_, v) = api
        .call("GET", &p.bob, "/api/v1/audit?action=channel.create", None)
        .await;
    assert!(ids(&v).is_empty(), "[{l}] bob created no channel: {v}");

    // The admin: any user, by name or id, and the other terms.
    let (_, by_name) = api
        .call(
            "GET",
            &api.admin,
            "/api/v1/audit?user=alice&action=monitor.create",
            None,
        )
        .await;
    let (_, by_id) = api
        .call(
            "GET",
            &api.admin,
            &format!("/api/v1/audit?q=user:{}%20action:monitor.create", p.alice_id),
            None,
        )
        .await;
    assert_eq!(ids(&by_name), ids(&by_id), "[{l}]");
    assert_eq!(
        ids(&by_name).len(),
        3,
        "[{l}] alice created two monitors, the import one more: {by_name}"
    );
    let (_, v) = api
        .call(
            "GET",
            &api.admin,
            "/api/v1/audit?resource=alert_history&since=2000-01-01",
            None,
        )
        .await;
    let actions: Vec<&str> = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["action"].as_str())
        .collect();
    assert_eq!(actions, vec!["alert.resolve", "alert.acknowledge"], "[{l}] {v}");
    let (_, v) = api
        .call("GET", &api.admin, "/api/v1/audit?until=2000-01-01", None)
        .await;
    assert!(ids(&v).is_empty(), "[{l}] until: {v}");
    let (_, p1) = api.call("GET", &api.admin, "/api/v1/audit?limit=2", None).await;
    let c = p1["next_cursor"].as_str().unwrap();
    let (_, p2) = api
        .call("GET", &api.admin, &format!("/api/v1/audit?limit=2&cursor={c}"), None)
        .await;
    assert!(ids(&p2)[0] < ids(&p1)[1], "[{l}] keyset pages go back in time");
    problem(
        l,
        "bad since",
        api.call("GET", &api.admin, "/api/v1/audit?since=yesterday", None).await,
        422,
        "since",
    );
    problem(
        l,
        "unknown term",
        api.call("GET", &api.admin, "/api/v1/audit?ip=127.0.0.1", None).await,
        422,
        "filter",
    );
    problem(
        l,
        "free text",
        api.call("GET", &api.admin, "/api/v1/audit?q=alice", None).await,
        422,
        "q",
    );
    problem(
        l,
        "bad id term",
        api.call("GET", &api.admin, "/api/v1/audit?id=seven", None).await,
        422,
        "id",
    );
}
