//! The HTTP API's fleet routes — servers, groups, deployments and deploy — against a real
//! `certdeck --serve-api` process over TLS, on SQLite and on the test bed's MariaDB: each route
//! works; another (non-admin) user's rows are neither listed, read nor changed (404) and nothing
//! is written; bad input is a problem document naming its field, nothing written; every write
//! leaves an audit row with the client's address and user agent; server secrets never come back.
//!
//! One server process per backend. Users, sessions and API keys are made in-process over the
//! same database (with the process's master key), and the audit log is read there too.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use certdeck::crypto::{Keyring, MasterKey};
use certdeck::domain::{ApiKeyPermissions, UserRole};
use certdeck::service::{bootstrap, Actor, ClientInfo, Services};
use common::*;
use reqwest::Method;
use serde_json::{json, Value};

/// The User-Agent every request of these tests sends (checked in audit rows).
const UA: &str = "certdeck-api-fleet-test/1";

/// Secrets given to servers: none may ever appear in a response.
const SECRETS: &[&str] = &[
    "pw-never-returned-7Q",
    "tok-never-returned-9Z",
    "pass-never-returned-3K",
];

/// A running `certdeck --serve-api` over one test database, stopped when dropped.
struct Server {
    child: Child,
    base: String,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A response: status, content type and JSON body (`Null` when empty).
#[derive(Debug)]
struct Res {
    status: u16,
    content_type: String,
    body: Value,
    text: String,
}

impl Res {
    /// Asserts a problem document with `status` naming `field`.
    fn problem(&self, status: u16, field: &str, what: &str) {
        assert_eq!(self.status, status, "{what}: {}", self.text);
        assert_eq!(self.content_type, "application/problem+json", "{what}: {}", self.text);
        assert_eq!(self.body["status"], status, "{what}: {}", self.text);
        assert_eq!(self.body["field"], field, "{what}: {}", self.text);
    }

    fn ok(&self, status: u16, what: &str) -> &Value {
        assert_eq!(self.status, status, "{what}: {}", self.text);
        &self.body
    }

    fn id(&self) -> i64 {
        self.body["id"]
            .as_i64()
            .unwrap_or_else(|| panic!("no id in {}", self.text))
    }
}

impl Server {
    async fn start(t: &TestDb, key_b64: &str) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let ck = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
        let (cert, key) = (dir.path().join("api.pem"), dir.path().join("api.key"));
        std::fs::write(&cert, ck.cert.pem()).unwrap();
        std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_certdeck"))
            .args(["--serve-api", "127.0.0.1:0", "--tls-cert"])
            .arg(&cert)
            .arg("--tls-key")
            .arg(&key)
            .args(["--api-rate-per-key", "0", "--api-rate-per-address", "0"])
            .env("CERTDECK_DATABASE_URL", &t.url)
            .env("CERTDECK_MASTER_KEY", key_b64)
            .env("CERTDECK_DATA_DIR", dir.path().join("data"))
            .env("CERTDECK_CONFIG_DIR", dir.path().join("config"))
            .env_remove("CERTDECK_API_KEY")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start certdeck --serve-api");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if !sent {
                    if let Some(rest) = line.split("listening on ").nth(1) {
                        let url = rest.split_whitespace().next().unwrap_or("").to_string();
                        let _ = tx.send(url);
                        sent = true;
                    } else if line.contains("error") {
                        let _ = tx.send(format!("ERROR {line}"));
                    }
                }
            }
        });
        let url = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("[{}] the API did not start", t.label()));
        assert!(!url.starts_with("ERROR"), "[{}] {url}", t.label());
        let base = url.trim_end_matches('/').trim_end_matches("/api/v1").to_string();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ck.cert.der().clone()).unwrap();
        let tls = rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .user_agent(UA)
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        Server {
            child,
            base,
            http,
            _dir: dir,
        }
    }

    /// `method path` with `cred` and a JSON `body`.
    async fn call(&self, cred: &str, method: Method, path: &str, body: Option<Value>) -> Res {
        let raw = body.map(|b| b.to_string());
        self.raw(cred, method, path, raw.as_deref()).await
    }

    /// `method path` with `cred` and a raw JSON `body` text.
    async fn raw(&self, cred: &str, method: Method, path: &str, body: Option<&str>) -> Res {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(cred);
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b.to_string());
        }
        let res = req.send().await.expect("request");
        let status = res.status().as_u16();
        let content_type = res
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let text = res.text().await.unwrap();
        for s in SECRETS {
            assert!(!text.contains(s), "a secret came back in a response: {text}");
        }
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::Null)
        };
        Res {
            status,
            content_type,
            body,
            text,
        }
    }

    async fn get(&self, cred: &str, path: &str) -> Res {
        self.call(cred, Method::GET, path, None).await
    }

    async fn post(&self, cred: &str, path: &str, body: Value) -> Res {
        self.call(cred, Method::POST, path, Some(body)).await
    }

    async fn patch(&self, cred: &str, path: &str, body: Value) -> Res {
        self.call(cred, Method::PATCH, path, Some(body)).await
    }

    async fn delete(&self, cred: &str, path: &str) -> Res {
        self.call(cred, Method::DELETE, path, None).await
    }
}

/// The people of a test: in-process services over the database, the admin and two users with
/// their sessions' access tokens, and an API key of alice's.
struct People {
    s: Services,
    label: &'static str,
    admin: Actor,
    alice: Actor,
    alice_tok: String,
    bob_tok: String,
    alice_key: String,
}

async fn people(t: &TestDb, key_b64: &str) -> People {
    let label = t.label();
    let keyring = Keyring::single(MasterKey::from_base64(key_b64).unwrap());
    let s = Services::new(t.db.clone(), keyring, ClientInfo::default());
    let pw = bootstrap::create_initial_admin(&s, "admin@example.com")
        .await
        .unwrap()
        .expect("a first admin");
    let admin = first_login(&s, label, "admin", &pw, PW).await;
    let mut toks = Vec::new();
    for name in ["alice", "bob"] {
        make_user(&s, t, Some(&admin), name, UserRole::User).await;
        let (_, session) = s.login(name, PW).await.unwrap();
        toks.push(session.access_token);
    }
    let alice = login(&s, label, "alice", PW).await;
    let (row, secret) = s
        .apikey_create(&alice, "ci", None, ApiKeyPermissions::ReadWrite, None)
        .await
        .unwrap();
    People {
        label,
        admin,
        alice,
        alice_tok: toks[0].clone(),
        bob_tok: toks[1].clone(),
        alice_key: format!("{}:{secret}", row.api_key),
        s,
    }
}

/// What a refused request must leave alone: the audit log and the fleet's tables.
async fn written(t: &TestDb) -> Vec<i64> {
    let mut v = vec![audit_count(&t.db).await];
    for table in [
        "servers",
        "server_groups",
        "server_group_mappings",
        "certificate_deployments",
        "tasks",
    ] {
        v.push(count(&t.db, &format!("SELECT COUNT(*) FROM {table}")).await);
    }
    v.push(
        count(
            &t.db,
            "SELECT COUNT(*) FROM servers WHERE host_key_fingerprint IS NOT NULL OR name LIKE 'bob%'",
        )
        .await,
    );
    v
}

/// The newest audit row of `action`: it is the client's (address and user agent) and by `who`.
async fn audited(p: &People, action: &str, who: &Actor, resource_id: Option<i64>) {
    let rows = audit_all(&p.s, &p.admin).await;
    let row = rows
        .iter()
        .find(|r| r.action == action)
        .unwrap_or_else(|| panic!("[{}] no audit row {action}", p.label));
    assert_eq!(row.user_id, Some(who.user_id), "[{}] {action} by", p.label);
    assert_eq!(
        row.ip_address.as_deref(),
        Some("127.0.0.1"),
        "[{}] {action} ip",
        p.label
    );
    assert_eq!(row.user_agent.as_deref(), Some(UA), "[{}] {action} user agent", p.label);
    if resource_id.is_some() {
        assert_eq!(row.resource_id, resource_id, "[{}] {action} resource", p.label);
    }
    if let Some(d) = &row.details {
        let text = d.0.to_string();
        for s in SECRETS {
            assert!(
                !text.contains(s),
                "[{}] a secret in the audit row {action}: {text}",
                p.label
            );
        }
    }
}

/// A self-signed certificate and key for `name`, as PEM.
fn make_cert(name: &str) -> (String, String) {
    let kp = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec![name.to_string()])
        .unwrap()
        .self_signed(&kp)
        .unwrap();
    (cert.pem(), kp.serialize_pem())
}

#[tokio::test(flavor = "multi_thread")]
async fn fleet_routes_over_tls_on_both_backends() {
    init();
    for t in both().await {
        let key = MasterKey::generate().to_base64().to_string();
        let p = people(&t, &key).await;
        let api = Server::start(&t, &key).await;
        let ids = servers(&t, &p, &api).await;
        let group = groups(&t, &p, &api, &ids).await;
        deployments_and_deploy(&t, &p, &api, &ids, group).await;
        host_keys(&t, &p, &api).await;
    }
}

/// Server ids made by [`servers`]: alice's password server, alice's token server, bob's server.
struct Ids {
    web: i64,
    token: i64,
    bobs: i64,
}

async fn servers(t: &TestDb, p: &People, api: &Server) -> Ids {
    let l = p.label;
    let (a, b) = (p.alice_tok.as_str(), p.bob_tok.as_str());

    // Create: the secret is accepted, sealed, and only `has_password` says so.
    let r = api
        .post(
            a,
            "/api/v1/servers",
            json!({"hostname": "Web1.Example.NET", "username": "deploy", "password": SECRETS[0], "name": "web1",
                   "server_type": "nginx", "privilege_mode": "sudo"}),
        )
        .await;
    let web = r.ok(201, &format!("[{l}] create")).clone();
    assert_eq!(web["hostname"], "web1.example.net", "[{l}] {web}");
    assert_eq!(web["has_password"], true, "[{l}] {web}");
    assert_eq!(web["status"], "active", "[{l}] {web}");
    assert!(
        web.get("password").is_none() && web.get("password_encrypted").is_none(),
        "[{l}] {web}"
    );
    let web_id = r.id();
    audited(p, "server.create", &p.alice, Some(web_id)).await;

    let r = api
        .post(
            a,
            "/api/v1/servers",
            json!({"hostname": "tok.example.net", "auth_type": "token", "token": SECRETS[1], "status": "inactive"}),
        )
        .await;
    let tok = r.ok(201, &format!("[{l}] create token server")).clone();
    assert_eq!(
        (tok["has_token"].as_bool(), tok["status"].as_str()),
        (Some(true), Some("inactive")),
        "[{l}] {tok}"
    );
    let token_id = r.id();
    let bobs = api
        .post(
            b,
            "/api/v1/servers",
            json!({"hostname": "bob.example.net", "username": "b", "password": "bob's", "name": "bob-web"}),
        )
        .await;
    bobs.ok(201, &format!("[{l}] bob creates"));
    let bobs_id = bobs.id();

    // Show and list, with the CLI's filter terms as parameters or in `q`.
    let r = api.get(a, &format!("/api/v1/servers/{web_id}")).await;
    assert_eq!(r.ok(200, &format!("[{l}] show"))["name"], "web1");
    let ids_of = |v: &Value| -> Vec<i64> {
        v["items"]
            .as_array()
            .unwrap_or_else(|| panic!("no items in {v}"))
            .iter()
            .map(|s| s["id"].as_i64().unwrap())
            .collect()
    };
    let r = api.get(a, "/api/v1/servers").await;
    assert_eq!(
        ids_of(r.ok(200, &format!("[{l}] list"))),
        vec![token_id, web_id],
        "[{l}] alice sees her own"
    );
    let r = api.get(a, "/api/v1/servers?status=active").await;
    assert_eq!(ids_of(r.ok(200, "status")), vec![web_id], "[{l}] status filter");
    let r = api
        .get(a, "/api/v1/servers?q=hostname:WEB1.example.net%20type:nginx")
        .await;
    assert_eq!(ids_of(r.ok(200, "q")), vec![web_id], "[{l}] q filter");
    // Pages: one row, then the next with the cursor, then the end.
    let r = api.get(a, "/api/v1/servers?limit=1").await;
    assert_eq!(ids_of(r.ok(200, "page 1")), vec![token_id]);
    let cursor = r.body["next_cursor"].as_str().expect("a next cursor").to_string();
    let r = api.get(a, &format!("/api/v1/servers?limit=1&cursor={cursor}")).await;
    assert_eq!(ids_of(r.ok(200, "page 2")), vec![web_id], "[{l}] page 2");
    let r = api.get(p.admin_tok(api).await.as_str(), "/api/v1/servers").await;
    assert_eq!(ids_of(r.ok(200, "admin list")).len(), 3, "[{l}] an admin sees all");
    // An API key reads the same.
    let r = api.get(&p.alice_key, &format!("/api/v1/servers/{web_id}")).await;
    r.ok(200, &format!("[{l}] show with an API key"));

    // Update: only what is given changes; a new secret replaces the stored one, unseen.
    let r = api
        .patch(
            a,
            &format!("/api/v1/servers/{web_id}"),
            json!({"name": "web-one", "key_passphrase": SECRETS[2], "auth_type": "key", "private_key": null}),
        )
        .await;
    // A key server without a stored key would use the host's ssh-agent: refused for alice.
    r.problem(422, "private_key", &format!("[{l}] key auth without a key"));
    let r = api
        .patch(
            a,
            &format!("/api/v1/servers/{web_id}"),
            json!({"name": "web-one", "password": "pw-never-returned-7Q-2", "verify_port": 8443}),
        )
        .await;
    let upd = r.ok(200, &format!("[{l}] update")).clone();
    assert_eq!(
        (upd["name"].as_str(), upd["verify_port"].as_i64()),
        (Some("web-one"), Some(8443)),
        "[{l}] {upd}"
    );
    assert_eq!(upd["username"], "deploy", "[{l}] untouched members stay");
    audited(p, "server.update", &p.alice, Some(web_id)).await;
    let audit = audit_all(&p.s, &p.admin).await;
    let changed = audit.iter().find(|r| r.action == "server.update").unwrap();
    assert_eq!(
        changed.details.as_ref().unwrap().0["password"],
        "(changed)",
        "[{l}] the audit says a secret changed, not what to"
    );

    // Another user's server: not listed, not read, not changed, not deleted — 404, nothing written.
    let before = written(t).await;
    let r = api.get(b, "/api/v1/servers").await;
    assert_eq!(ids_of(r.ok(200, "bob lists")), vec![bobs_id], "[{l}] bob sees only his");
    let r = api.get(b, "/api/v1/servers?hostname=web1.example.net").await;
    assert!(
        ids_of(r.ok(200, "bob filters")).is_empty(),
        "[{l}] bob's filter finds nothing of alice's"
    );
    for (m, body) in [
        (Method::GET, None),
        (Method::PATCH, Some(json!({"name": "bob-took-it"}))),
        (Method::DELETE, None),
    ] {
        let r = api.call(b, m.clone(), &format!("/api/v1/servers/{web_id}"), body).await;
        assert_eq!(r.status, 404, "[{l}] bob {m} alice's server: {}", r.text);
        assert_eq!(r.content_type, "application/problem+json");
    }
    for path in ["check", "trust-host-key"] {
        let r = api
            .post(
                b,
                &format!("/api/v1/servers/{web_id}/{path}"),
                json!({"fingerprint": "SHA256:x"}),
            )
            .await;
        assert_eq!(r.status, 404, "[{l}] bob {path}: {}", r.text);
    }
    let r = api.get(b, &format!("/api/v1/servers/{web_id}/host-key")).await;
    assert_eq!(r.status, 404, "[{l}] bob host-key: {}", r.text);
    // Bob cannot point a jump at alice's server either.
    let r = api
        .patch(
            b,
            &format!("/api/v1/servers/{bobs_id}"),
            json!({"jump_server_id": web_id}),
        )
        .await;
    r.problem(422, "jump_server_id", &format!("[{l}] bob jumps through alice's"));
    assert_eq!(written(t).await, before, "[{l}] bob's attempts wrote nothing");
    let r = api.get(a, &format!("/api/v1/servers/{web_id}")).await;
    assert_eq!(r.ok(200, "still"), &upd, "[{l}] alice's server is as she left it");

    // Bad input: problem documents naming the field, nothing written.
    let before = written(t).await;
    let cases: Vec<(Method, String, Option<&str>, u16, &str)> = vec![
        (
            Method::POST,
            "/api/v1/servers".into(),
            Some(r#"{"hostname":"x.example","username":"u","password":"p","colour":"red"}"#),
            422,
            "colour",
        ),
        (
            Method::POST,
            "/api/v1/servers".into(),
            Some(r#"{"hostname":"x.example","username":"u","password":"p","port":"twenty-two"}"#),
            422,
            "port",
        ),
        (
            Method::POST,
            "/api/v1/servers".into(),
            Some(r#"{"hostname":"x.example","username":"u","password":"p","port":70000}"#),
            422,
            "port",
        ),
        (
            Method::POST,
            "/api/v1/servers".into(),
            Some(r#"{"hostname":"x.example","username":"u","password":"p","server_type":"iis"}"#),
            422,
            "server_type",
        ),
        (
            Method::POST,
            "/api/v1/servers".into(),
            Some(r#"{"hostname":"x.example","username":"u"}"#),
            422,
            "password",
        ),
        (
            Method::POST,
            "/api/v1/servers".into(),
            Some(r#"{"hostname":"not a host","username":"u","password":"p"}"#),
            422,
            "hostname",
        ),
        (
            Method::POST,
            "/api/v1/servers".into(),
            Some(r#"{"hostname":"x.example","#),
            400,
            "body",
        ),
        (
            Method::PATCH,
            format!("/api/v1/servers/{web_id}"),
            Some(r#"{"config_root":"relative/path"}"#),
            422,
            "config_root",
        ),
        (
            Method::PATCH,
            format!("/api/v1/servers/{web_id}"),
            Some(r#"{"private_key":"not a key"}"#),
            422,
            "private_key",
        ),
        (Method::GET, "/api/v1/servers/abc".into(), None, 422, "id"),
        (Method::DELETE, "/api/v1/servers/-4".into(), None, 422, "id"),
        (Method::GET, "/api/v1/servers?colour=red".into(), None, 422, "filter"),
        (Method::GET, "/api/v1/servers?status=bogus".into(), None, 422, "status"),
        (Method::GET, "/api/v1/servers?group=first".into(), None, 422, "group"),
        (
            Method::GET,
            "/api/v1/servers?cursor=not-a-cursor".into(),
            None,
            400,
            "cursor",
        ),
        (Method::GET, "/api/v1/servers?limit=0".into(), None, 422, "limit"),
        (
            Method::POST,
            format!("/api/v1/servers/{web_id}/trust-host-key"),
            Some(r#"{"fingerprint":7}"#),
            422,
            "fingerprint",
        ),
    ];
    // A cursor of another list is refused too.
    let groups_cursor = {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"list":"groups","before_id":9}"#)
    };
    let r = api.get(a, &format!("/api/v1/servers?cursor={groups_cursor}")).await;
    r.problem(400, "cursor", &format!("[{l}] another list's cursor"));
    for (m, path, body, status, field) in cases {
        let r = api.raw(a, m.clone(), &path, body).await;
        r.problem(status, field, &format!("[{l}] {m} {path} {body:?}"));
    }
    assert_eq!(written(t).await, before, "[{l}] bad input wrote nothing");

    // A check is queued as a task (202, the task row).
    let r = api.post(a, &format!("/api/v1/servers/{web_id}/check"), json!({})).await;
    let task = r.ok(202, &format!("[{l}] check")).clone();
    assert_eq!(
        (
            task["task_type"].as_str(),
            task["target_type"].as_str(),
            task["target_id"].as_i64(),
            task["status"].as_str()
        ),
        (Some("server_check"), Some("server"), Some(web_id), Some("pending")),
        "[{l}] {task}"
    );
    let seen = p.s.task_get(&p.alice, task["id"].as_i64().unwrap()).await.unwrap();
    assert_eq!(seen.task.created_by, Some(p.alice.user_id), "[{l}] queued as alice");

    // Delete: 204, then gone (and the token server goes too).
    let r = api.delete(a, &format!("/api/v1/servers/{token_id}")).await;
    assert_eq!((r.status, r.text.as_str()), (204, ""), "[{l}] delete");
    audited(p, "server.delete", &p.alice, Some(token_id)).await;
    assert_eq!(
        api.get(a, &format!("/api/v1/servers/{token_id}")).await.status,
        404,
        "[{l}] deleted"
    );
    Ids {
        web: web_id,
        token: token_id,
        bobs: bobs_id,
    }
}

impl People {
    /// A fresh session of the admin.
    async fn admin_tok(&self, _api: &Server) -> String {
        self.s.login("admin", PW).await.unwrap().1.access_token
    }
}

async fn groups(t: &TestDb, p: &People, api: &Server, ids: &Ids) -> i64 {
    let l = p.label;
    let (a, b) = (p.alice_tok.as_str(), p.bob_tok.as_str());
    let r = api
        .post(a, "/api/v1/groups", json!({"name": "front", "description": "web tier"}))
        .await;
    let g = r.ok(201, &format!("[{l}] create group")).clone();
    assert_eq!(
        (g["name"].as_str(), g["server_count"].as_i64()),
        (Some("front"), Some(0)),
        "[{l}] {g}"
    );
    let gid = r.id();
    audited(p, "group.create", &p.alice, Some(gid)).await;
    let bob_g = api.post(b, "/api/v1/groups", json!({"name": "bob's"})).await;
    let bob_gid = bob_g.id();

    let r = api.get(a, "/api/v1/groups").await;
    let listed: Vec<i64> = r.ok(200, "groups")["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["id"].as_i64().unwrap())
        .collect();
    assert_eq!(listed, vec![gid], "[{l}] alice lists her groups only");
    assert_eq!(
        api.get(a, &format!("/api/v1/groups/{gid}")).await.ok(200, "show")["description"],
        "web tier"
    );

    // Membership, seen from the group (count) and from the server list's `group` term.
    let r = api
        .post(
            a,
            &format!("/api/v1/groups/{gid}/add-server"),
            json!({"server_id": ids.web}),
        )
        .await;
    assert_eq!(r.ok(200, &format!("[{l}] add"))["server_count"], 1, "[{l}] {}", r.text);
    audited(p, "group.add_server", &p.alice, Some(gid)).await;
    let r = api.get(a, &format!("/api/v1/servers?group={gid}")).await;
    assert_eq!(r.ok(200, "members")["items"][0]["id"], ids.web, "[{l}] members");
    let r = api
        .post(
            a,
            &format!("/api/v1/groups/{gid}/add-server"),
            json!({"server_id": ids.web}),
        )
        .await;
    assert_eq!(r.status, 409, "[{l}] already a member: {}", r.text);

    let r = api
        .patch(a, &format!("/api/v1/groups/{gid}"), json!({"name": "front-end"}))
        .await;
    let g2 = r.ok(200, &format!("[{l}] rename")).clone();
    assert_eq!(
        (g2["name"].as_str(), g2["description"].as_str()),
        (Some("front-end"), Some("web tier")),
        "[{l}] {g2}"
    );
    audited(p, "group.update", &p.alice, Some(gid)).await;

    // Bob: alice's group is not his to see or change, nor can he join his server to it, nor
    // alice's server to his group; a deleted server is nobody's.
    let before = written(t).await;
    let r = api.get(b, "/api/v1/groups").await;
    assert_eq!(
        r.ok(200, "bob groups")["items"].as_array().unwrap().len(),
        1,
        "[{l}] bob sees his own group"
    );
    for (m, path, body) in [
        (Method::GET, format!("/api/v1/groups/{gid}"), None),
        (
            Method::PATCH,
            format!("/api/v1/groups/{gid}"),
            Some(json!({"name": "mine"})),
        ),
        (Method::DELETE, format!("/api/v1/groups/{gid}"), None),
        (
            Method::POST,
            format!("/api/v1/groups/{gid}/add-server"),
            Some(json!({"server_id": ids.bobs})),
        ),
        (
            Method::POST,
            format!("/api/v1/groups/{gid}/remove-server"),
            Some(json!({"server_id": ids.web})),
        ),
        (
            Method::POST,
            format!("/api/v1/groups/{bob_gid}/add-server"),
            Some(json!({"server_id": ids.web})),
        ),
        (
            Method::POST,
            format!("/api/v1/groups/{bob_gid}/add-server"),
            Some(json!({"server_id": ids.token})),
        ),
    ] {
        let r = api.call(b, m.clone(), &path, body.clone()).await;
        assert_eq!(r.status, 404, "[{l}] bob {m} {path} {body:?}: {}", r.text);
    }
    // Bad input.
    for (m, path, body, status, field) in [
        (
            Method::POST,
            "/api/v1/groups".to_string(),
            r#"{"name":""}"#,
            422,
            "name",
        ),
        (
            Method::POST,
            "/api/v1/groups".to_string(),
            r#"{"description":"no name"}"#,
            422,
            "name",
        ),
        (
            Method::POST,
            "/api/v1/groups".to_string(),
            r#"{"name":"x","owner":1}"#,
            422,
            "owner",
        ),
        (
            Method::POST,
            format!("/api/v1/groups/{gid}/add-server"),
            r#"{"server_id":"web1"}"#,
            422,
            "server_id",
        ),
        (
            Method::PATCH,
            format!("/api/v1/groups/{gid}"),
            r#"{"name":""}"#,
            422,
            "name",
        ),
    ] {
        let r = api.raw(a, m.clone(), &path, Some(body)).await;
        r.problem(status, field, &format!("[{l}] {m} {path} {body}"));
    }
    api.get(a, "/api/v1/groups?status=x")
        .await
        .problem(422, "filter", &format!("[{l}] groups take no terms"));
    api.get(a, "/api/v1/groups/0")
        .await
        .problem(422, "id", &format!("[{l}] id 0"));
    assert_eq!(written(t).await, before, "[{l}] refused group requests wrote nothing");

    let r = api
        .post(
            a,
            &format!("/api/v1/groups/{gid}/remove-server"),
            json!({"server_id": ids.web}),
        )
        .await;
    assert_eq!(
        r.ok(200, &format!("[{l}] remove"))["server_count"],
        0,
        "[{l}] {}",
        r.text
    );
    audited(p, "group.remove_server", &p.alice, Some(gid)).await;
    let r = api
        .post(
            a,
            &format!("/api/v1/groups/{gid}/remove-server"),
            json!({"server_id": ids.web}),
        )
        .await;
    assert_eq!(r.status, 404, "[{l}] not a member any more: {}", r.text);
    // Back in, for the deploy to a group below.
    api.post(
        a,
        &format!("/api/v1/groups/{gid}/add-server"),
        json!({"server_id": ids.web}),
    )
    .await
    .ok(200, "re-add");
    let r = api.delete(b, &format!("/api/v1/groups/{bob_gid}")).await;
    assert_eq!(r.status, 204, "[{l}] bob deletes his group: {}", r.text);
    audited(p, "group.delete", &p.admin_actor_of("bob", &p.s).await, Some(bob_gid)).await;
    gid
}

impl People {
    /// The actor of user `name` (as the audit records it).
    async fn admin_actor_of(&self, name: &str, s: &Services) -> Actor {
        let u = s.user_get(&self.admin, name).await.unwrap();
        actor_of(&u)
    }
}

async fn deployments_and_deploy(t: &TestDb, p: &People, api: &Server, ids: &Ids, gid: i64) {
    let l = p.label;
    let (a, b) = (p.alice_tok.as_str(), p.bob_tok.as_str());
    let (cert, key) = make_cert("site.example.net");
    let r = api
        .post(
            a,
            "/api/v1/certificates",
            json!({"certificate_pem": cert, "private_key_pem": key}),
        )
        .await;
    let cert_id = r.ok(201, &format!("[{l}] import")).clone()["id"].as_i64().unwrap();
    let (bcert, bkey) = make_cert("bob.example.net");
    let bob_cert = api
        .post(
            b,
            "/api/v1/certificates",
            json!({"certificate_pem": bcert, "private_key_pem": bkey}),
        )
        .await
        .id();

    // Create, show, list by certificate, by server, by both.
    let r = api
        .post(
            a,
            "/api/v1/deployments",
            json!({"certificate_id": cert_id, "server_id": ids.web, "deploy_path": "/etc/ssl/site.pem",
                   "config_path": "/etc/nginx/sites-enabled/site"}),
        )
        .await;
    let d = r.ok(201, &format!("[{l}] bind")).clone();
    assert_eq!(
        (
            d["auto_deploy"].as_bool(),
            d["status"].as_str(),
            d["key_path"].is_null()
        ),
        (Some(true), Some("pending"), true),
        "[{l}] {d}"
    );
    let did = r.id();
    audited(p, "deployment.create", &p.alice, Some(did)).await;
    assert_eq!(
        api.get(a, &format!("/api/v1/deployments/{did}")).await.ok(200, "show")["deploy_path"],
        "/etc/ssl/site.pem"
    );
    for q in [
        format!("certificate_id={cert_id}"),
        format!("server_id={}", ids.web),
        format!("certificate_id={cert_id}&server_id={}", ids.web),
        format!("q=certificate_id:{cert_id}"),
    ] {
        let r = api.get(a, &format!("/api/v1/deployments?{q}")).await;
        let items = r.ok(200, &q)["items"].as_array().unwrap().clone();
        assert_eq!(items.len(), 1, "[{l}] {q}: {}", r.text);
        assert_eq!(items[0]["id"], did, "[{l}] {q}");
    }
    let r = api
        .post(
            a,
            "/api/v1/deployments",
            json!({"certificate_id": cert_id, "server_id": ids.web, "deploy_path": "/etc/ssl/site.pem"}),
        )
        .await;
    assert_eq!(r.status, 409, "[{l}] a second binding of the same pair: {}", r.text);

    // Bob: not his, 404 everywhere, nothing written; he cannot bind his certificate to alice's
    // server or alice's certificate to his server.
    let before = written(t).await;
    for (m, path, body) in [
        (Method::GET, format!("/api/v1/deployments/{did}"), None),
        (Method::DELETE, format!("/api/v1/deployments/{did}"), None),
        (
            Method::GET,
            format!("/api/v1/deployments?certificate_id={cert_id}"),
            None,
        ),
        (Method::GET, format!("/api/v1/deployments?server_id={}", ids.web), None),
        (
            Method::GET,
            format!("/api/v1/deployments?certificate_id={bob_cert}&server_id={}", ids.web),
            None,
        ),
        (
            Method::POST,
            "/api/v1/deployments".to_string(),
            Some(json!({"certificate_id": bob_cert, "server_id": ids.web, "deploy_path": "/etc/ssl/b.pem"})),
        ),
        (
            Method::POST,
            "/api/v1/deployments".to_string(),
            Some(json!({"certificate_id": cert_id, "server_id": ids.bobs, "deploy_path": "/etc/ssl/b.pem"})),
        ),
        (
            Method::POST,
            format!("/api/v1/certificates/{cert_id}/deploy/plan"),
            Some(json!({"all": true})),
        ),
        (
            Method::POST,
            format!("/api/v1/certificates/{cert_id}/deploy"),
            Some(json!({"all": true})),
        ),
        (
            Method::POST,
            format!("/api/v1/certificates/{bob_cert}/deploy/plan"),
            Some(json!({"group_id": gid})),
        ),
        (
            Method::POST,
            format!("/api/v1/certificates/{bob_cert}/deploy"),
            Some(json!({"server_id": ids.web})),
        ),
    ] {
        let r = api.call(b, m.clone(), &path, body.clone()).await;
        assert_eq!(r.status, 404, "[{l}] bob {m} {path} {body:?}: {}", r.text);
    }
    // Bad input.
    for (m, path, body, status, field) in [
        (
            Method::GET,
            "/api/v1/deployments".to_string(),
            None,
            422,
            "certificate_id",
        ),
        (
            Method::GET,
            "/api/v1/deployments?certificate_id=one".to_string(),
            None,
            422,
            "certificate_id",
        ),
        (
            Method::GET,
            "/api/v1/deployments?path=/etc".to_string(),
            None,
            422,
            "filter",
        ),
        (
            Method::GET,
            format!("/api/v1/deployments?certificate_id={cert_id}&cursor=AAAA"),
            None,
            400,
            "cursor",
        ),
        (Method::GET, "/api/v1/deployments/x1".to_string(), None, 422, "id"),
        (
            Method::POST,
            "/api/v1/deployments".to_string(),
            Some(r#"{"certificate_id":1,"server_id":1}"#),
            422,
            "deploy_path",
        ),
        (
            Method::POST,
            "/api/v1/deployments".to_string(),
            Some(r#"{"certificate_id":1,"server_id":1,"deploy_path":"/a","sni":"x"}"#),
            422,
            "sni",
        ),
        (
            Method::POST,
            "/api/v1/deployments".to_string(),
            Some(r#"{"certificate_id":"1","server_id":1,"deploy_path":"/a"}"#),
            422,
            "certificate_id",
        ),
        (
            Method::POST,
            format!("/api/v1/certificates/{cert_id}/deploy/plan"),
            Some(r#"{}"#),
            422,
            "target",
        ),
        (
            Method::POST,
            format!("/api/v1/certificates/{cert_id}/deploy"),
            Some(r#"{"server_id":1,"all":true}"#),
            422,
            "target",
        ),
        (
            Method::POST,
            format!("/api/v1/certificates/{cert_id}/deploy"),
            Some(r#"{"everywhere":true}"#),
            422,
            "everywhere",
        ),
        (
            Method::POST,
            format!("/api/v1/certificates/{cert_id}/deploy"),
            Some(r#"{"all":"yes"}"#),
            422,
            "all",
        ),
    ] {
        let r = api.raw(a, m.clone(), &path, body).await;
        r.problem(status, field, &format!("[{l}] {m} {path} {body:?}"));
    }
    let r = api
        .post(
            a,
            "/api/v1/deployments",
            json!({"certificate_id": cert_id, "server_id": ids.web, "deploy_path": "etc/ssl/x.pem"}),
        )
        .await;
    r.problem(422, "deploy_path", &format!("[{l}] relative path"));
    assert_eq!(
        written(t).await,
        before,
        "[{l}] refused deployment requests wrote nothing"
    );

    // The plan: files, server and commands, for a server, a group and all; nothing changes.
    for target in [
        json!({"server_id": ids.web}),
        json!({"group_id": gid}),
        json!({"all": true}),
    ] {
        let before = written(t).await;
        let r = api
            .post(
                a,
                &format!("/api/v1/certificates/{cert_id}/deploy/plan"),
                target.clone(),
            )
            .await;
        let plan = r.ok(200, &format!("[{l}] plan {target}")).clone();
        assert_eq!(plan["certificate_id"], cert_id);
        let host = &plan["hosts"][0];
        assert_eq!(plan["hosts"].as_array().unwrap().len(), 1, "[{l}] {plan}");
        assert_eq!(host["deployment_id"], did, "[{l}] {plan}");
        assert!(
            host["server"].as_str().unwrap().contains("web1.example.net:22"),
            "[{l}] {plan}"
        );
        assert_eq!(
            host["files"],
            json!([["/etc/ssl/site.pem", "0644"], ["/etc/ssl/site.key", "0600"]]),
            "[{l}] {plan}"
        );
        let cmds: Vec<&str> = host["commands"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();
        assert!(
            cmds.len() == 2
                && cmds[0].contains("sudo -n")
                && cmds[0].contains("nginx -t")
                && cmds[1].contains("reload"),
            "[{l}] the privileged test and reload: {cmds:?}"
        );
        assert_eq!(
            host["verify"], "web1.example.net:8443 SNI site.example.net",
            "[{l}] {plan}"
        );
        assert!(
            host["blocked"].as_str().unwrap().contains("host key"),
            "[{l}] not trusted yet: {plan}"
        );
        assert_eq!(written(t).await, before, "[{l}] a plan writes nothing");
    }
    // A server with no binding of this certificate: an empty plan; a deploy there is refused.
    let r = api
        .post(
            a,
            "/api/v1/servers",
            json!({"hostname": "spare.example.net", "username": "u", "password": SECRETS[0]}),
        )
        .await;
    let spare = r.id();
    let r = api
        .post(
            a,
            &format!("/api/v1/certificates/{cert_id}/deploy/plan"),
            json!({"server_id": spare}),
        )
        .await;
    assert_eq!(r.ok(200, "empty plan")["hosts"], json!([]), "[{l}] {}", r.text);
    let before = written(t).await;
    let r = api
        .post(
            a,
            &format!("/api/v1/certificates/{cert_id}/deploy"),
            json!({"server_id": spare}),
        )
        .await;
    r.problem(422, "target", &format!("[{l}] nothing to deploy there"));
    assert_eq!(written(t).await, before, "[{l}] a refused deploy wrote nothing");

    // Run: one certificate_deploy task for the chosen deployments, 202 with its row.
    let r = api
        .post(
            a,
            &format!("/api/v1/certificates/{cert_id}/deploy"),
            json!({"group_id": gid}),
        )
        .await;
    let task = r.ok(202, &format!("[{l}] deploy")).clone();
    assert_eq!(
        (
            task["task_type"].as_str(),
            task["target_type"].as_str(),
            task["target_id"].as_i64(),
            task["status"].as_str()
        ),
        (
            Some("certificate_deploy"),
            Some("certificate"),
            Some(cert_id),
            Some("pending")
        ),
        "[{l}] {task}"
    );
    assert_eq!(task["params"]["deployments"], json!([did]), "[{l}] {task}");
    let tid = task["id"].as_i64().unwrap();
    let r = api.get(a, &format!("/api/v1/tasks/{tid}")).await;
    if r.status == 200 {
        assert_eq!(r.body["id"], tid, "[{l}] the task route shows it: {}", r.text);
    } else {
        // The tasks routes are another module's; the queue has the task all the same.
        let seen = p.s.task_get(&p.alice, tid).await.unwrap();
        assert_eq!(seen.task.task_type.as_str(), "certificate_deploy", "[{l}]");
    }
    assert_eq!(
        api.get(b, &format!("/api/v1/tasks/{tid}")).await.status,
        404,
        "[{l}] not bob's task"
    );

    // Delete the binding: 204, then the server can go.
    let r = api.delete(a, &format!("/api/v1/deployments/{did}")).await;
    assert_eq!(r.status, 204, "[{l}] unbind: {}", r.text);
    audited(p, "deployment.delete", &p.alice, Some(did)).await;
    assert_eq!(
        api.get(a, &format!("/api/v1/deployments/{did}")).await.status,
        404,
        "[{l}] unbound"
    );
    let r = api.delete(a, &format!("/api/v1/servers/{spare}")).await;
    assert_eq!(r.status, 204, "[{l}] {}", r.text);
}

/// The host key of the test bed's sshd: shown, trusted only as confirmed, and not by an API key.
async fn host_keys(t: &TestDb, p: &People, api: &Server) {
    let Some(sshd) = common::bed::sshd() else {
        return;
    };
    let l = p.label;
    let a = p.alice_tok.as_str();
    let r = api
        .post(
            a,
            "/api/v1/servers",
            json!({"hostname": sshd.host, "port": sshd.port, "username": sshd.user, "password": SECRETS[0]}),
        )
        .await;
    let sid = r.ok(201, &format!("[{l}] the bed's sshd")).clone()["id"]
        .as_i64()
        .unwrap();
    let r = api.get(a, &format!("/api/v1/servers/{sid}/host-key")).await;
    let hk = r.ok(200, &format!("[{l}] host key")).clone();
    assert_eq!(
        (hk["presented"].as_str(), hk["stored"].as_str()),
        (Some(sshd.host_fp.as_str()), None),
        "[{l}] {hk}"
    );

    let before = written(t).await;
    let r = api
        .post(
            a,
            &format!("/api/v1/servers/{sid}/trust-host-key"),
            json!({"fingerprint": "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}),
        )
        .await;
    assert_eq!(r.status, 409, "[{l}] another key is not trusted: {}", r.text);
    let r = api
        .post(
            &p.alice_key,
            &format!("/api/v1/servers/{sid}/trust-host-key"),
            json!({"fingerprint": sshd.host_fp}),
        )
        .await;
    assert_eq!(r.status, 403, "[{l}] an API key may not trust host keys: {}", r.text);
    assert_eq!(written(t).await, before, "[{l}] refused trusts wrote nothing");

    let r = api
        .post(
            a,
            &format!("/api/v1/servers/{sid}/trust-host-key"),
            json!({"fingerprint": sshd.host_fp}),
        )
        .await;
    assert_eq!(r.ok(200, &format!("[{l}] trust"))["presented"], sshd.host_fp.as_str());
    audited(p, "server.trust_host_key", &p.alice, Some(sid)).await;
    let r = api.get(a, &format!("/api/v1/servers/{sid}")).await;
    assert_eq!(
        r.ok(200, "trusted")["host_key_fingerprint"],
        sshd.host_fp.as_str(),
        "[{l}]"
    );
    let r = api.get(a, &format!("/api/v1/servers/{sid}/host-key")).await;
    assert_eq!(r.ok(200, "again")["stored"], sshd.host_fp.as_str(), "[{l}]");
}
