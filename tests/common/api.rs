//! The HTTP API as its clients meet it: a real `certdeck --serve-api` process over TLS (with a
//! test CA made here), on a SQLite file or a fresh MariaDB database of the bed, with an admin
//! whose password is [`ADMIN_PW`], a reqwest client that trusts the test CA and sends
//! [`UA`], and the CLI of the same installation for setting things up.
//!
//! ```ignore
//! for api in ApiServer::both(&[]).await {
//!     let (code, body) = api.call("GET", &api.admin, "/api/v1/certificates", None).await;
//! }
//! ```

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use certdeck::store::{Db, PoolSettings};
use serde_json::Value;

use super::cli::{first_login, one_time_password, output, ADMIN_PW};
use super::nginx_pki::{leaf, pki};
use super::TestDb;

/// The user agent the test client sends (audit rows must carry it).
pub const UA: &str = "certdeck-api-test/1.0";
/// The password [`ApiServer::user`] gives users after their first login.
pub const USER_PW: &str = "a user's own long password";

/// A running API server and what reaches it.
pub struct ApiServer {
    child: Option<Child>,
    /// `https://127.0.0.1:PORT` (or `http://` when started plain).
    pub base: String,
    /// The installation's home (data and config dirs).
    pub home: tempfile::TempDir,
    /// The database URL.
    pub db_url: String,
    /// The database, to check rows behind the API's back.
    pub db: Db,
    /// The test CA's root certificate (PEM), which signed the server's certificate.
    pub ca_pem: String,
    /// The same root, as a file (for `curl --cacert`).
    pub ca_path: PathBuf,
    /// An admin session's access token.
    pub admin: String,
    /// `sqlite` or `mariadb`.
    pub label: &'static str,
    extra: Vec<String>,
    _mysql: Option<TestDb>,
}

/// The backends to run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file in the home.
    Sqlite,
    /// A fresh MariaDB database of the bed.
    MariaDb,
}

impl ApiServer {
    /// One server per backend: SQLite always, MariaDB when the bed has it (a missing MariaDB
    /// fails the test when peers are required). `extra` are added to the server's command line.
    pub async fn both(extra: &[&str]) -> Vec<ApiServer> {
        let mut v = vec![ApiServer::start(Backend::Sqlite, extra).await.expect("SQLite server")];
        if let Some(m) = ApiServer::start(Backend::MariaDb, extra).await {
            v.push(m);
        }
        v
    }

    /// A server on `backend` over TLS, or None when MariaDB is not available (and not required).
    pub async fn start(backend: Backend, extra: &[&str]) -> Option<ApiServer> {
        super::init();
        let home = tempfile::tempdir().unwrap();
        let (db_url, mysql) = match backend {
            Backend::Sqlite => (format!("sqlite://{}", home.path().join("certdeck.db").display()), None),
            Backend::MariaDb => {
                let t = super::empty_mysql().await?;
                (t.url.clone(), Some(t))
            }
        };
        // The server's certificate, from a test CA.
        let p = pki();
        let (_, cert_pem, key_pem) = leaf(&p, &["localhost", "127.0.0.1"], -1, 30);
        let tls_dir = home.path().join("tls");
        std::fs::create_dir_all(&tls_dir).unwrap();
        std::fs::write(tls_dir.join("api.pem"), format!("{cert_pem}{}", p.int_pem)).unwrap();
        std::fs::write(tls_dir.join("api.key"), &key_pem).unwrap();
        let ca_path = tls_dir.join("ca.pem");
        std::fs::write(&ca_path, &p.root_pem).unwrap();

        // An installation with an admin whose password is ADMIN_PW (and a CLI session).
        let init = cli_in(home.path(), &db_url, &["init"], None);
        assert!(init.status.success(), "init: {}", String::from_utf8_lossy(&init.stderr));
        let one_time = one_time_password(&String::from_utf8_lossy(&init.stderr));
        first_login(&one_time, |args, stdin| cli_in(home.path(), &db_url, args, stdin));

        let db = Db::connect(&db_url, &PoolSettings::default()).await.unwrap();
        let mut server = ApiServer {
            child: None,
            base: String::new(),
            db_url,
            db,
            ca_pem: p.root_pem.clone(),
            ca_path,
            admin: String::new(),
            label: match backend {
                Backend::Sqlite => "sqlite",
                Backend::MariaDb => "mariadb",
            },
            extra: extra.iter().map(|s| s.to_string()).collect(),
            home,
            _mysql: mysql,
        };
        server.spawn(true);
        server.admin = server.login("admin", ADMIN_PW).await;
        Some(server)
    }

    /// Starts the process (TLS with the test certificate unless `tls` is false) and waits for
    /// its "listening on" line.
    fn spawn(&mut self, tls: bool) {
        let tls_dir = self.home.path().join("tls");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_certdeck"));
        cmd.arg("--serve-api").arg("127.0.0.1:0");
        if tls {
            cmd.arg("--tls-cert")
                .arg(tls_dir.join("api.pem"))
                .arg("--tls-key")
                .arg(tls_dir.join("api.key"));
        }
        cmd.args(&self.extra);
        env_in(&mut cmd, self.home.path(), &self.db_url);
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("start certdeck --serve-api");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if !sent {
                    if let Some(rest) = line.split("listening on ").nth(1) {
                        let url = rest.split("/api/v1/").next().unwrap_or_default().to_string();
                        let _ = tx.send(Ok(url));
                        sent = true;
                        continue;
                    }
                    if line.starts_with("error") {
                        let _ = tx.send(Err(line.clone()));
                        sent = true;
                    }
                }
                // Keep draining so the server never blocks on a full pipe.
            }
        });
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(Ok(url)) => self.base = url,
            Ok(Err(line)) => panic!("[{}] the API did not start: {line}", self.label),
            Err(_) => {
                let _ = child.kill();
                panic!("[{}] the API did not say where it listens within 30 s", self.label)
            }
        }
        self.child = Some(child);
    }

    /// Stops the server with SIGTERM and waits for it; its exit status.
    pub fn stop(&mut self) -> Option<std::process::ExitStatus> {
        let mut child = self.child.take()?;
        let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
        for _ in 0..300 {
            if let Ok(Some(st)) = child.try_wait() {
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = child.kill();
        child.wait().ok()
    }

    /// Restarts the server with other extra flags (plain HTTP when `tls` is false).
    pub fn restart(&mut self, extra: &[&str], tls: bool) {
        self.stop();
        self.extra = extra.iter().map(|s| s.to_string()).collect();
        self.spawn(tls);
    }

    /// A client that trusts the test CA and sends [`UA`].
    pub fn client(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(self.ca_pem.as_bytes()).unwrap())
            .user_agent(UA)
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap()
    }

    /// `METHOD path` with `token` (None: no credential) and a JSON body; the status and the
    /// body as JSON (`Value::String` when it is not JSON).
    pub async fn call(&self, method: &str, token: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let (code, _, v) = self.call_full(method, Some(token), path, body).await;
        (code, v)
    }

    /// Like [`ApiServer::call`], with the content type too and an optional credential.
    pub async fn call_full(
        &self,
        method: &str,
        token: Option<&str>,
        path: &str,
        body: Option<Value>,
    ) -> (u16, String, Value) {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self.client().request(m, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("[{}] {method} {path}: {e}", self.label));
        let code = res.status().as_u16();
        let ct = res
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let text = res.text().await.unwrap_or_default();
        let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (code, ct, v)
    }

    /// Logs `user` in over the API; the access token.
    pub async fn login(&self, user: &str, password: &str) -> String {
        let (code, v) = self
            .call_public(
                "POST",
                "/api/v1/login",
                Some(serde_json::json!({"username": user, "password": password})),
            )
            .await;
        assert_eq!(code, 200, "[{}] login of {user}: {v}", self.label);
        v["access_token"].as_str().unwrap().to_string()
    }

    /// A request without a credential.
    pub async fn call_public(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let (code, _, v) = self.call_full(method, None, path, body).await;
        (code, v)
    }

    /// Creates a user with `role` (by the admin, through the CLI) who then logs in over the API
    /// and sets [`USER_PW`]; its id and access token.
    pub async fn user(&self, name: &str, role: &str) -> (i64, String) {
        let one_time = "a one-time password 1";
        let o = self.cli(
            &[
                "--json",
                "user",
                "create",
                name,
                "--email",
                &format!("{name}@example.test"),
                "--role",
                role,
                "--password-stdin",
            ],
            Some(&format!("{one_time}\n")),
        );
        assert!(
            o.status.success(),
            "[{}] user create {name}: {}",
            self.label,
            String::from_utf8_lossy(&o.stderr)
        );
        let v: Value = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
        let id = v["id"]
            .as_i64()
            .unwrap_or_else(|| panic!("user create printed no id: {v}"));
        let (code, body) = self
            .call_public(
                "POST",
                "/api/v1/login",
                Some(serde_json::json!({"username": name, "password": one_time, "new_password": USER_PW})),
            )
            .await;
        assert_eq!(code, 200, "[{}] first login of {name}: {body}", self.label);
        (id, body["access_token"].as_str().unwrap().to_string())
    }

    /// An API key of the CLI's logged-in admin (or of `user` with `--user`): `<key>:<secret>`.
    /// `extra` are more `apikey create` flags.
    pub fn api_key(&self, name: &str, user: Option<&str>, extra: &[&str]) -> String {
        let mut args = vec!["--json", "apikey", "create", name];
        if let Some(u) = user {
            args.extend(["--user", u]);
        }
        args.extend(extra);
        let o = self.cli(&args, None);
        assert!(
            o.status.success(),
            "[{}] apikey create: {}",
            self.label,
            String::from_utf8_lossy(&o.stderr)
        );
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        v["credential"].as_str().unwrap().to_string()
    }

    /// Runs the CLI of this installation (logged in as the admin).
    pub fn cli(&self, args: &[&str], stdin: Option<&str>) -> Output {
        cli_in(self.home.path(), &self.db_url, args, stdin)
    }

    /// Imports a self-signed certificate for `name` through the API as `token`; its id.
    pub async fn import_cert(&self, token: &str, name: &str) -> i64 {
        let (cert, key) = self_signed(name);
        let (code, v) = self
            .call(
                "POST",
                token,
                "/api/v1/certificates",
                Some(serde_json::json!({"certificate_pem": cert, "private_key_pem": key})),
            )
            .await;
        assert_eq!(code, 201, "[{}] import {name}: {v}", self.label);
        v["id"].as_i64().unwrap()
    }

    /// Audit rows with `action`, newest first: (user_id, ip_address, user_agent).
    pub async fn audit_of(&self, action: &str) -> Vec<(Option<i64>, Option<String>, Option<String>)> {
        let rows: Vec<(Option<i64>, Option<String>, Option<String>)> = match &self.db {
            Db::Sqlite(p) => sqlx::query_as(
                "SELECT user_id, ip_address, user_agent FROM audit_logs WHERE action = ? ORDER BY id DESC",
            )
            .bind(action)
            .fetch_all(p)
            .await
            .unwrap(),
            Db::MySql(p) => sqlx::query_as(
                "SELECT user_id, ip_address, user_agent FROM audit_logs WHERE action = ? ORDER BY id DESC",
            )
            .bind(action)
            .fetch_all(p)
            .await
            .unwrap(),
        };
        rows
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A self-signed certificate and key for `name` (PEM), valid 90 days.
pub fn self_signed(name: &str) -> (String, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec![name.to_string()]).unwrap();
    let cert = params.self_signed(&key).unwrap();
    (cert.pem(), key.serialize_pem())
}

fn env_in(cmd: &mut Command, home: &Path, db_url: &str) {
    cmd.env("CERTDECK_DATA_DIR", home.join("data"))
        .env("CERTDECK_CONFIG_DIR", home.join("config"))
        .env("CERTDECK_DATABASE_URL", db_url)
        .env_remove("CERTDECK_API_KEY")
        .env_remove("CERTDECK_MASTER_KEY");
}

fn cli_in(home: &Path, db_url: &str, args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_certdeck"));
    cmd.args(args);
    env_in(&mut cmd, home, db_url);
    output(&mut cmd, stdin)
}
