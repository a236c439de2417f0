//! Issue 14, §7 (files and transports), each attack played against the real binary and peers:
//! private files under umask 022, a MySQL URL to another host without verified TLS, the ACME
//! trust root on disk, SMTP AUTH in clear text, redirects to another host or scheme, hostile
//! ACME tokens, and user-made targets aimed at link-local / the cloud metadata service (the
//! target policy), on SQLite and MariaDB where the database is involved.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use certdeck::domain::{ChannelType, MonitorStatus, MonitorType};
use certdeck::engine::acme::{Challenge, Solver};
use certdeck::engine::http01::StandaloneHttp01;
use certdeck::engine::notify::{
    deliver, AlertStatus, ChannelConfig, Notification, Severity, SmtpSecurity, SmtpSettings, WebhookFlavor,
    WebhookSettings,
};
use certdeck::errors::ServiceError;
use certdeck::service::monitoring::MonitorInput;
use certdeck::store::{check_mysql_transport, Db, PoolSettings};
use common::World;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

// ------------------------------------------------------------------------ helpers

fn certdeck(home: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    certdeck_with_stdin(home, args, env, None)
}

/// [`certdeck`] with `stdin` written to the binary.
fn certdeck_with_stdin(home: &Path, args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Output {
    // The shell sets the umask most installs have; certdeck must not depend on it.
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg("umask 022 && exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_certdeck"))
        .args(args)
        .env("CERTDECK_DATA_DIR", home.join("data"))
        .env("CERTDECK_CONFIG_DIR", home.join("config"))
        .env_remove("CERTDECK_DATABASE_URL")
        .env_remove("CERTDECK_API_KEY")
        .env_remove("CERTDECK_MASTER_KEY")
        .env_remove("CERTDECK_DATABASE_ALLOW_UNVERIFIED_TLS");
    for (k, v) in env {
        cmd.env(k, v);
    }
    common::cli::output(&mut cmd, stdin)
}

/// The first run (the admin is made with a one-time password) and the first login that
/// replaces it, both under umask 022 like [`certdeck`].
fn first_run_and_login(home: &Path) {
    let first = certdeck(home, &["server", "list"], &[]);
    let one_time = common::cli::one_time_password(&String::from_utf8_lossy(&first.stderr));
    common::cli::first_login(&one_time, |args, stdin| certdeck_with_stdin(home, args, &[], stdin));
}

fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o777
}

/// This host's address on its default route (no packet is sent), if it has one.
fn non_loopback_ip() -> Option<std::net::IpAddr> {
    let s = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    s.connect("192.0.2.1:9").ok()?;
    let ip = s.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

fn note() -> Notification {
    Notification {
        title: "security test".into(),
        severity: Severity::Info,
        status: AlertStatus::Firing,
        certificate: None,
        host: None,
        domain: Some("test.certdeck.invalid".into()),
        days_left: None,
        what_to_do: "nothing".into(),
        details: Vec::new(),
        occurred_at: chrono::Utc::now(),
        alert_id: None,
        history_id: None,
        monitor: None,
        link: None,
    }
}

fn forbidden(r: Result<impl std::fmt::Debug, ServiceError>, what: &str) -> String {
    match r {
        Err(ServiceError::Forbidden(m)) => m,
        other => panic!("{what}: expected a refusal by the target policy, got {other:?}"),
    }
}

/// A tiny HTTP server: `/hook` answers `307 Location: <location>`, anything else 200; it
/// records every request line.
struct Http {
    port: u16,
    seen: Arc<Mutex<Vec<String>>>,
}

async fn http_server(location: Option<String>) -> Http {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let log = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = l.accept().await else { continue };
            let log = log.clone();
            let location = location.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let mut n = 0;
                while n < buf.len() {
                    match sock.read(&mut buf[n..]).await {
                        Ok(0) | Err(_) => break,
                        Ok(k) => {
                            n += k;
                            if buf[..n].windows(4).any(|w| w == b"\r\n\r\n") {
                                break;
                            }
                        }
                    }
                }
                let head = String::from_utf8_lossy(&buf[..n]).to_string();
                let line = head.lines().next().unwrap_or_default().to_string();
                log.lock().unwrap().push(line.clone());
                let resp = match (&location, line.split_whitespace().nth(1)) {
                    (Some(loc), Some("/hook")) => {
                        format!("HTTP/1.1 307 Temporary Redirect\r\nLocation: {loc}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    }
                    _ => "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok".to_string(),
                };
                let _ = sock.write_all(resp.as_bytes()).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    Http { port, seen }
}

fn hook(url: String) -> ChannelConfig {
    let mut w = WebhookSettings::new(WebhookFlavor::Generic, &url);
    w.allow_http = true;
    ChannelConfig::Webhook(w)
}

// ------------------------------------------------------------ 1. private files

#[test]
fn data_dir_logs_database_key_and_session_are_private_under_umask_022() {
    let home = tempfile::tempdir().unwrap();
    first_run_and_login(home.path());
    let out = certdeck(home.path(), &["server", "list"], &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let data = home.path().join("data");
    let config = home.path().join("config");
    assert_eq!(mode(&data), 0o700, "data dir");
    assert_eq!(mode(&data.join("logs")), 0o700, "logs dir");
    assert_eq!(mode(&data.join("certdeck.db")), 0o600, "database");
    assert_eq!(mode(&data.join("master.key")), 0o600, "key file");
    assert_eq!(mode(&config), 0o700, "config dir made for the session");
    assert_eq!(mode(&config.join("session.json")), 0o600, "session file");
    for side in ["certdeck.db-wal", "certdeck.db-shm"] {
        if data.join(side).exists() {
            assert_eq!(mode(&data.join(side)), 0o600, "{side}");
        }
    }
    // No temporary file of the atomic writes is left behind.
    for dir in [&data, &config] {
        for e in std::fs::read_dir(dir).unwrap() {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            assert!(!name.ends_with(".tmp"), "left behind: {name}");
        }
    }

    // An older install (755 / 644) is narrowed on the next run.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(data.join("logs"), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(data.join("certdeck.db"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let again = certdeck(home.path(), &["server", "list"], &[]);
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("logs")), 0o700);
    assert_eq!(mode(&data.join("certdeck.db")), 0o600);
}

#[tokio::test]
async fn sqlite_wal_and_shm_files_are_made_with_the_database_mode() {
    common::init();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("wal.db");
    let db = Db::connect(&format!("sqlite://{}", file.display()), &PoolSettings::default())
        .await
        .unwrap();
    let Db::Sqlite(pool) = &db else { panic!("sqlite") };
    sqlx::query("CREATE TABLE t (x INTEGER)").execute(pool).await.unwrap();
    sqlx::query("INSERT INTO t VALUES (1)").execute(pool).await.unwrap();
    // While the pool is open the WAL and the shared-memory index exist.
    for f in ["wal.db", "wal.db-wal", "wal.db-shm"] {
        assert_eq!(mode(&dir.path().join(f)), 0o600, "{f}");
    }
    db.close().await;
}

// ------------------------------------------------------------ 2. MySQL transport

#[tokio::test]
async fn a_mysql_url_to_another_host_without_verified_tls_is_refused_before_connecting() {
    common::init();
    let far = non_loopback_ip()
        .map(|ip| ip.to_string())
        .unwrap_or_else(|| "192.0.2.10".into());
    let host = if far.contains(':') {
        format!("[{far}]")
    } else {
        far.clone()
    };
    let quick = PoolSettings {
        acquire_timeout: Duration::from_secs(3),
        ..Default::default()
    };
    for query in [
        "",
        "?ssl-mode=REQUIRED",
        "?ssl-mode=PREFERRED&ssl-ca=/etc/ssl/certs/ca-certificates.crt",
    ] {
        let url = format!("mysql://certdeck:s3cret-pw@{host}:13306/certdeck{query}");
        let t0 = Instant::now();
        let e = Db::connect(&url, &quick).await.expect_err("refused").to_string();
        assert!(
            t0.elapsed() < Duration::from_secs(1),
            "refused before connecting ({query})"
        );
        assert!(
            e.contains("ssl-mode=VERIFY_IDENTITY") && e.contains("database_allow_unverified_tls"),
            "{e}"
        );
        assert!(!e.contains("s3cret-pw"), "the password is not shown: {e}");
    }
    // The operator's explicit opt-out: the connection is attempted (it may fail: no server).
    let url = format!("mysql://certdeck:pw@{host}:1/certdeck");
    let r = Db::connect(
        &url,
        &PoolSettings {
            allow_unverified_tls: true,
            ..quick.clone()
        },
    )
    .await;
    if let Err(e) = r {
        assert!(!e.to_string().contains("database_allow_unverified_tls"), "{e}");
    }
    // Verified TLS to another host, and anything on this host, pass the check.
    for ok in [
        "mysql://u:p@db.example.test:3306/x?ssl-mode=VERIFY_IDENTITY&ssl-ca=/ca.pem",
        "mysql://u:p@203.0.113.5/x?sslmode=verify_ca",
        "mysql://u:p@127.0.0.1:13306/x",
        "mysql://u:p@127.8.9.10/x",
        "mysql://u:p@[::1]:3306/x",
        "mysql://u:p@localhost/x",
        "mysql://u:p@db.example.test/x?socket=/run/mysqld/mysqld.sock",
    ] {
        check_mysql_transport(ok, false).unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
    for bad in [
        "mysql://u:p@db.example.test/x",
        "mysql://u:p@[::ffff:10.0.0.1]/x",
        "mysql://u:p@localhost.example.test/x",
    ] {
        assert!(check_mysql_transport(bad, false).is_err(), "{bad}");
    }
    // The bed's TLS MariaDB with VERIFY_IDENTITY connects.
    if let (Ok(tls), Ok(ca)) = (
        std::env::var("CERTDECK_TEST_MYSQL_TLS_URL"),
        std::env::var("CERTDECK_TEST_MYSQL_CA"),
    ) {
        if !tls.is_empty() {
            let db = Db::connect(&format!("{tls}/?ssl-mode=VERIFY_IDENTITY&ssl-ca={ca}"), &quick)
                .await
                .expect("verified TLS connects");
            db.close().await;
        }
    }
}

#[test]
fn the_binary_refuses_the_url_and_names_the_fix_and_the_config_key_opts_out() {
    let home = tempfile::tempdir().unwrap();
    let url = "mysql://certdeck:pw@192.0.2.10:3306/certdeck";
    let out = certdeck(home.path(), &["db", "status"], &[("CERTDECK_DATABASE_URL", url)]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("ssl-mode=VERIFY_IDENTITY") && err.contains("database_allow_unverified_tls"),
        "{err}"
    );
    // Opted out in config.toml: the refusal is gone (the connection itself fails: port 1).
    let Some(ip) = non_loopback_ip() else { return };
    let host = if ip.is_ipv6() {
        format!("[{ip}]")
    } else {
        ip.to_string()
    };
    std::fs::create_dir_all(home.path().join("config")).unwrap();
    std::fs::write(
        home.path().join("config/config.toml"),
        format!("database_url = \"mysql://certdeck:pw@{host}:1/certdeck\"\ndatabase_allow_unverified_tls = true\n"),
    )
    .unwrap();
    let out = certdeck(home.path(), &["db", "status"], &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(!err.contains("database_allow_unverified_tls"), "{err}");
    assert!(err.contains("cannot open database"), "{err}");
    // The environment variable overrides the file.
    let out = certdeck(
        home.path(),
        &["db", "status"],
        &[("CERTDECK_DATABASE_ALLOW_UNVERIFIED_TLS", "false")],
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("database_allow_unverified_tls"));
}

// ------------------------------------------------------------ 3. ACME trust root

#[tokio::test(flavor = "multi_thread")]
async fn a_private_ca_trust_root_is_never_written_to_the_temp_dir() {
    let Some(b) = common::pebble_bind::bed() else { return };
    // This process's temp dir is a fresh one (nextest runs each test in its own process).
    let tmp = tempfile::tempdir().unwrap();
    std::env::set_var("TMPDIR", tmp.path());
    assert_eq!(std::env::temp_dir(), tmp.path());

    let t = common::sqlite().await;
    let (s, a, p) = common::pebble_bind::world(&t, &b).await;
    let zone = &b.settings.zone;
    let (c, task) = s
        .cert_request(
            &a,
            &certdeck::service::acme::RequestInput {
                domains: vec![format!("tr{:08x}.{zone}", rand::random::<u32>())],
                ca: "pebble".into(),
                challenge: "dns-01".into(),
                dns_provider_id: Some(p.id),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    s.task_run_here(&a, task.id, &certdeck::service::tasks::Runners::builtin())
        .await
        .unwrap();
    let d = s.task_get(&a, task.id).await.unwrap();
    assert_eq!(
        d.task.status,
        certdeck::domain::TaskStatus::Completed,
        "{:?}",
        d.task.error_message
    );
    assert_eq!(
        s.cert_get(&a, c.id).await.unwrap().status,
        certdeck::domain::CertificateStatus::Issued
    );
    let left: Vec<String> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("certdeck-ca-"))
        .collect();
    assert!(left.is_empty(), "trust root written to the temp dir: {left:?}");
}

// ------------------------------------------------------------ 4. SMTP AUTH in clear

#[tokio::test(flavor = "multi_thread")]
async fn smtp_auth_in_clear_text_is_refused_off_the_loopback_at_add_and_at_send() {
    for t in common::both().await {
        let w = World::new(&t).await;
        let l = w.label;
        let fields = |host: &str, security: &str, extra: serde_json::Value| {
            let mut f = json!({"smtp_host": host, "smtp_port": 25, "security": security, "username": "ops",
                               "password": "mail-pw", "from": "certdeck@example.test", "to": "ops@example.test"});
            for (k, v) in extra.as_object().unwrap() {
                f[k] = v.clone();
            }
            f
        };
        let e =
            w.s.channel_create(
                &w.alice,
                "relay",
                ChannelType::Email,
                &fields("mail.example.test", "plain", json!({})),
            )
            .await
            .expect_err("AUTH in clear to another host");
        let msg = e.to_string();
        assert!(
            msg.contains("in clear text") && msg.contains("allow_plaintext_auth") && !msg.contains("mail-pw"),
            "[{l}] {msg}"
        );
        assert_eq!(
            common::count(w.db(), "SELECT COUNT(*) FROM alert_channels").await,
            0,
            "[{l}]"
        );
        // STARTTLS protects the password; the explicit allowance is the operator's choice.
        w.s.channel_create(
            &w.alice,
            "tls relay",
            ChannelType::Email,
            &fields("mail.example.test", "starttls", json!({})),
        )
        .await
        .unwrap_or_else(|e| panic!("[{l}] starttls: {e}"));
        w.s.channel_create(
            &w.alice,
            "trusted relay",
            ChannelType::Email,
            &fields("mail.example.test", "plain", json!({"allow_plaintext_auth": true})),
        )
        .await
        .unwrap_or_else(|e| panic!("[{l}] allowed: {e}"));
        // The loopback needs no allowance.
        w.s.channel_create(
            &w.alice,
            "local relay",
            ChannelType::Email,
            &fields("127.0.0.1", "plain", json!({})),
        )
        .await
        .unwrap_or_else(|e| panic!("[{l}] loopback: {e}"));
    }

    // At send: refused before any connection (a routable address that would otherwise be dialled).
    let mut st = SmtpSettings::new(
        "192.0.2.25",
        25,
        SmtpSecurity::Plain,
        "certdeck@example.test",
        &["ops@example.test"],
    );
    st.username = Some("ops".into());
    st.password = Some("mail-pw".into());
    let t0 = Instant::now();
    let e = deliver(&ChannelConfig::Email(st), &note()).await.unwrap_err();
    assert!(t0.elapsed() < Duration::from_secs(1), "refused before connecting");
    assert!(!e.transient && e.message.contains("allow_plaintext_auth"), "{e}");

    // The bed's sink (plain + AUTH on the loopback) still gets the mail.
    let v = |k: &str| std::env::var(k).ok().filter(|s| !s.is_empty());
    let (Some(host), Some(port), Some(user), Some(pw)) = (
        v("CERTDECK_TEST_SMTP_HOST"),
        v("CERTDECK_TEST_SMTP_PORT"),
        v("CERTDECK_TEST_SMTP_USER"),
        v("CERTDECK_TEST_SMTP_PASSWORD"),
    ) else {
        assert!(
            !common::peers_required(),
            "the SMTP sink is not up but peers are required"
        );
        return;
    };
    let mut st = SmtpSettings::new(
        &host,
        port.parse().unwrap(),
        SmtpSecurity::Plain,
        "certdeck@example.test",
        &[&format!("{}@example.test", common::unique_name("transport"))],
    );
    st.username = Some(user);
    st.password = Some(pw);
    let out = deliver(&ChannelConfig::Email(st), &note())
        .await
        .expect("loopback AUTH works");
    assert_eq!(out.status_code, Some(250));
}

// ------------------------------------------------------------ 5. redirects

#[tokio::test]
async fn http_clients_follow_no_redirect_to_another_host_or_scheme() {
    common::init();
    let elsewhere = http_server(None).await;
    // Same scheme and port, another host name (localhost is not 127.0.0.1 to the policy).
    let to_host = http_server(Some(format!("http://localhost:{}/steal", elsewhere.port))).await;
    let e = deliver(&hook(format!("http://127.0.0.1:{}/hook", to_host.port)), &note())
        .await
        .expect_err("redirect to another host");
    assert!(e.message.contains("refused a redirect"), "{e}");
    assert!(elsewhere.seen.lock().unwrap().is_empty(), "the other host was reached");

    // Same host and port, another scheme.
    let to_https = http_server(None).await;
    let port = to_https.port;
    let to_scheme = http_server(Some(format!("https://127.0.0.1:{port}/x"))).await;
    let e = deliver(&hook(format!("http://127.0.0.1:{}/hook", to_scheme.port)), &note())
        .await
        .expect_err("redirect to another scheme");
    assert!(e.message.contains("refused a redirect"), "{e}");
    assert!(to_https.seen.lock().unwrap().is_empty());

    // A redirect within the same origin is followed.
    let same = http_server(Some("/landing".into())).await;
    deliver(&hook(format!("http://127.0.0.1:{}/hook", same.port)), &note())
        .await
        .expect("same-origin redirect");
    let seen = same.seen.lock().unwrap().clone();
    assert!(seen.iter().any(|l| l.contains("/landing")), "{seen:?}");

    // The DNS vendor clients share the constructor.
    let client = certdeck::engine::dnsapi::http_client(Duration::from_secs(5)).unwrap();
    let e = client
        .get(format!("http://127.0.0.1:{}/hook", to_host.port))
        .send()
        .await
        .expect_err("redirect to another host");
    let mut chain = e.to_string();
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        chain.push_str(&format!(": {s}"));
        src = s.source();
    }
    assert!(chain.contains("refused a redirect"), "{chain}");
    assert!(elsewhere.seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_pinned_client_connects_to_the_checked_addresses_without_resolving_again() {
    common::init();
    let server = http_server(None).await;
    // The name does not resolve at all: only the pin can lead the request to the server.
    let pin = certdeck::engine::http::PinnedHost {
        host: "pinned.certdeck.invalid".into(),
        addrs: vec![std::net::SocketAddr::from(([127, 0, 0, 1], 9))],
    };
    let client = certdeck::engine::http::client_pinned(Duration::from_secs(5), Some(&pin)).unwrap();
    let r = client
        .get(format!("http://pinned.certdeck.invalid:{}/pinned", server.port))
        .send()
        .await
        .expect("the pinned address is used (with the URL's port)");
    assert_eq!(r.status(), 200);
    assert_eq!(server.seen.lock().unwrap().len(), 1);
    let unpinned = certdeck::engine::http::client_pinned(Duration::from_secs(5), None).unwrap();
    assert!(unpinned
        .get(format!("http://pinned.certdeck.invalid:{}/pinned", server.port))
        .send()
        .await
        .is_err());
}

// ------------------------------------------------------------ 6. ACME tokens

#[tokio::test]
async fn acme_tokens_outside_base64url_are_refused_before_use() {
    let http = StandaloneHttp01::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let step = |_: String| {};
    let step: certdeck::engine::acme::Step<'_> = &step;
    for token in ["../../../../etc/cron.d/x", "a/b", "tok en", ""] {
        let c = Challenge {
            domain: "example.test".into(),
            wildcard: false,
            token: token.into(),
            key_authorization: "ka".into(),
            dns_value: String::new(),
        };
        let e = http.present(std::slice::from_ref(&c), step).await.unwrap_err();
        assert!(e.contains("challenge token"), "{token:?}: {e}");
    }
    let good = Challenge {
        domain: "example.test".into(),
        wildcard: false,
        token: "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0".into(),
        key_authorization: "ka".into(),
        dns_value: String::new(),
    };
    http.present(std::slice::from_ref(&good), step).await.unwrap();
    let mut s = tokio::net::TcpStream::connect(http.addr()).await.unwrap();
    s.write_all(
        format!(
            "GET /.well-known/acme-challenge/{} HTTP/1.1\r\nHost: x\r\n\r\n",
            good.token
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let mut body = String::new();
    s.read_to_string(&mut body).await.unwrap();
    assert!(body.ends_with("ka"), "{body}");
}

// ------------------------------------------------------------ 7. target policy

fn domain_monitor(domain: &str, connect: Option<&str>, port: i64) -> MonitorInput {
    MonitorInput {
        name: Some(format!("m {domain}")),
        monitor_type: Some(MonitorType::Domain),
        domain: Some(domain.into()),
        port: Some(port),
        connect_address: connect.map(str::to_string),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn targets_aimed_at_link_local_and_the_metadata_service_are_refused_by_default() {
    for t in common::both().await {
        let w = World::new(&t).await;
        let l = w.label;
        for (who, actor) in [("alice", &w.alice), ("admin", &w.admin)] {
            for addr in ["169.254.169.254", "::ffff:169.254.169.254", "fe80::1", "169.254.10.1"] {
                let m = forbidden(
                    w.s.monitor_create(actor, &domain_monitor("meta.example.test", Some(addr), 80))
                        .await,
                    &format!("[{l}] {who} monitor at {addr}"),
                );
                assert!(m.contains("security.target_deny_cidrs"), "[{l}] {m}");
            }
            let m = forbidden(
                w.s.channel_create(
                    actor,
                    "meta hook",
                    ChannelType::Webhook,
                    &json!({"url": "http://169.254.169.254/latest/meta-data/iam/", "allow_http": true}),
                )
                .await,
                &format!("[{l}] {who} webhook"),
            );
            assert!(
                m.contains("webhook URL 169.254.169.254") && m.contains("169.254.0.0/16"),
                "[{l}] {m}"
            );
            forbidden(
                w.s.channel_create(
                    actor,
                    "meta sms",
                    ChannelType::Sms,
                    &json!({"gateway_url": "http://[fe80::1]/send", "phones": "+15550100"}),
                )
                .await,
                &format!("[{l}] {who} sms"),
            );
            forbidden(
                w.s.channel_create(
                    actor,
                    "meta mail",
                    ChannelType::Email,
                    &json!({"smtp_host": "169.254.169.254", "security": "starttls", "to": "a@example.test"}),
                )
                .await,
                &format!("[{l}] {who} smtp"),
            );
            forbidden(
                w.s.dns_provider_add_rfc2136(
                    actor,
                    "meta dns",
                    &certdeck::service::acme::Rfc2136Settings {
                        server: "169.254.169.254:53".into(),
                        zone: "example.test".into(),
                        key_name: "k".into(),
                        algorithm: "hmac-sha256".into(),
                    },
                    "c2VjcmV0",
                )
                .await,
                &format!("[{l}] {who} rfc2136"),
            );
            let mut settings = serde_json::Map::new();
            settings.insert("endpoint".into(), json!("http://169.254.169.254/client/v4"));
            let mut secrets = serde_json::Map::new();
            secrets.insert("api_token".into(), json!("tok"));
            forbidden(
                w.s.dns_provider_add(actor, "meta api", "cloudflare", &settings, &secrets)
                    .await,
                &format!("[{l}] {who} dns endpoint"),
            );
        }
        for table in ["monitors", "alert_channels", "dns_providers"] {
            assert_eq!(
                common::count(w.db(), &format!("SELECT COUNT(*) FROM {table}")).await,
                0,
                "[{l}] nothing stored in {table}"
            );
        }
        // A deployment's verify host (the handshake after a deploy, and certificate monitors).
        let kp = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["shop.example.test".to_string()])
            .unwrap()
            .self_signed(&kp)
            .unwrap();
        let c =
            w.s.cert_import(
                &w.alice,
                &certdeck::service::certificates::ImportInput {
                    certificate: cert.pem().into_bytes(),
                    private_key: kp.serialize_pem().into_bytes(),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let srv =
            w.s.server_create(
                &w.alice,
                &certdeck::service::servers::ServerInput {
                    name: Some("web".into()),
                    hostname: Some("web.example.test".into()),
                    port: Some(22),
                    auth_type: Some(certdeck::domain::AuthType::Password),
                    username: Some("deploy".into()),
                    password: Some("pw-pw-pw".into()),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let m = forbidden(
            w.s.deployment_create_with(
                &w.alice,
                c.id,
                srv.id,
                &certdeck::service::certificates::DeploymentInput {
                    deploy_path: "/etc/ssl/shop.pem".into(),
                    verify_host: Some("169.254.169.254".into()),
                    ..Default::default()
                },
            )
            .await,
            &format!("[{l}] verify host"),
        );
        assert!(m.contains("deployment verify host 169.254.169.254"), "[{l}] {m}");
        assert_eq!(
            common::count(w.db(), "SELECT COUNT(*) FROM certificate_deployments").await,
            0,
            "[{l}]"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_admin_set_deny_and_allow_list_limit_targets_at_create_and_at_use() {
    for t in common::both().await {
        let w = World::new(&t).await;
        let l = w.label;
        let receiver = http_server(None).await;
        let m =
            w.s.monitor_create(&w.alice, &domain_monitor("local.example.test", Some("127.0.0.2"), 1))
                .await
                .unwrap_or_else(|e| panic!("[{l}] {e}"));
        let ch =
            w.s.channel_create(
                &w.alice,
                "local hook",
                ChannelType::Webhook,
                &json!({"url": format!("http://127.0.0.1:{}/ok", receiver.port), "allow_http": true}),
            )
            .await
            .unwrap_or_else(|e| panic!("[{l}] {e}"));
        w.s.channel_test(&w.alice, ch.id).await.unwrap();
        assert_eq!(receiver.seen.lock().unwrap().len(), 1);

        // Only an admin sets the lists, and only valid ones.
        assert!(w
            .s
            .setting_set(&w.alice, "security.target_deny_cidrs", "", None)
            .await
            .is_err());
        let e =
            w.s.setting_set(&w.admin, "security.target_deny_cidrs", "10.0.0.1/8", None)
                .await
                .unwrap_err();
        assert!(e.to_string().contains("10.0.0.0/8"), "[{l}] {e}");
        w.s.setting_set(
            &w.admin,
            "security.target_deny_cidrs",
            "169.254.0.0/16, 127.0.0.0/8",
            None,
        )
        .await
        .unwrap();

        // At create: an address and a name that resolves into the range.
        let e = forbidden(
            w.s.monitor_create(&w.alice, &domain_monitor("x.example.test", Some("127.0.0.3"), 443))
                .await,
            &format!("[{l}] denied range"),
        );
        assert!(e.contains("127.0.0.0/8"), "[{l}] {e}");
        let e = forbidden(
            w.s.channel_create(
                &w.alice,
                "named hook",
                ChannelType::Webhook,
                &json!({"url": format!("http://localhost:{}/ok", receiver.port), "allow_http": true}),
            )
            .await,
            &format!("[{l}] name into the range"),
        );
        assert!(e.contains("localhost (resolves to 127.0.0.1)"), "[{l}] {e}");
        // At use: the monitor made before is not probed, and the channel sends nothing.
        let out = w.s.monitor_check_now(&w.alice, m.id).await.unwrap();
        assert_eq!(out.status, MonitorStatus::Error, "[{l}]");
        assert!(out.message.contains("target policy"), "[{l}] {}", out.message);
        let e = forbidden(
            w.s.channel_test(&w.alice, ch.id).await,
            &format!("[{l}] channel at use"),
        );
        assert!(e.contains("webhook URL 127.0.0.1"), "[{l}] {e}");
        assert_eq!(receiver.seen.lock().unwrap().len(), 1, "[{l}] nothing sent");

        // An allow list: only its ranges (the deny list back to its default).
        w.s.setting_set(
            &w.admin,
            "security.target_deny_cidrs",
            "169.254.0.0/16, fe80::/10, 169.254.169.254/32, fd00:ec2::254/128",
            None,
        )
        .await
        .unwrap();
        w.s.setting_set(&w.admin, "security.target_allow_cidrs", "10.0.0.0/8", None)
            .await
            .unwrap();
        let e = forbidden(
            w.s.monitor_create(&w.alice, &domain_monitor("y.example.test", Some("127.0.0.4"), 443))
                .await,
            &format!("[{l}] outside the allow list"),
        );
        assert!(e.contains("security.target_allow_cidrs (10.0.0.0/8)"), "[{l}] {e}");
        w.s.monitor_create(&w.alice, &domain_monitor("z.example.test", Some("10.1.2.3"), 443))
            .await
            .unwrap_or_else(|e| panic!("[{l}] inside the allow list: {e}"));
        w.s.setting_set(&w.admin, "security.target_allow_cidrs", "127.0.0.0/8, ::1", None)
            .await
            .unwrap();
        w.s.channel_test(&w.alice, ch.id).await.unwrap();
        assert_eq!(receiver.seen.lock().unwrap().len(), 2, "[{l}] allowed again");
        let names: BTreeSet<String> = common::strings(w.db(), "SELECT name FROM monitors")
            .await
            .into_iter()
            .collect();
        assert_eq!(names.len(), 2, "[{l}] {names:?}");
    }
}
