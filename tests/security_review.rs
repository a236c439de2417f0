//! Issue 14 review: attacks a `user`-role account can play against what the other items
//! merged, each with the refusal (or the absence of harm) the victim would notice.

mod common;

use certdeck::domain::{AuthType, ServerType, UserRole};
use certdeck::errors::ServiceError;
use certdeck::service::certificates::{DeploymentInput, ImportInput};
use certdeck::service::servers::ServerInput;
use certdeck::service::{Actor, Services};
use common::{make_user, services_with};

fn server(host: &str) -> ServerInput {
    ServerInput {
        name: Some(format!("review-{host}")),
        hostname: Some(host.into()),
        port: Some(22),
        server_type: Some(ServerType::Nginx),
        auth_type: Some(AuthType::Password),
        username: Some("deploy".into()),
        password: Some("unused".into()),
        ..Default::default()
    }
}

async fn cert(s: &Services, a: &Actor, name: &str) -> i64 {
    let key = rcgen::KeyPair::generate().unwrap();
    let c = rcgen::CertificateParams::new(vec![name.to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    s.cert_import(
        a,
        &ImportInput {
            certificate: c.pem().into_bytes(),
            private_key: key.serialize_pem().into_bytes(),
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .id
}

/// User B types user A's machine into a server of B's own (no credentials needed) and binds a
/// certificate at the path A deploys to. A never-deployed row of another user must not reserve
/// A's paths; B cannot replace A's deployment either; only a deployment B really made (deployed
/// there) keeps A from writing the same file.
#[tokio::test(flavor = "multi_thread")]
async fn another_users_undeployed_row_does_not_reserve_my_paths() {
    common::init();
    for t in common::both().await {
        let s = services_with(&t, common::keyring());
        let (_, _admin) = make_user(&s, &t, None, "ops", UserRole::Admin).await;
        let (_, alice) = make_user(&s, &t, None, "alice", UserRole::User).await;
        let (_, bob) = make_user(&s, &t, None, "bob", UserRole::User).await;
        let host = "shop.review.example.test";
        let a_srv = s.server_create(&alice, &server(host)).await.unwrap();
        let b_srv = s.server_create(&bob, &server(&host.to_uppercase())).await.unwrap();
        let a_cert = cert(&s, &alice, host).await;
        let b_cert = cert(&s, &bob, host).await;
        let b_dep = s
            .deployment_create(&bob, b_cert, b_srv.id, "/etc/ssl/shop.pem", None, true)
            .await
            .expect("bob binds his own row");

        // Bob's row was never deployed: Alice's deployment on her machine goes ahead.
        let a_dep = s
            .deployment_create(&alice, a_cert, a_srv.id, "/etc/ssl/shop.pem", None, true)
            .await
            .unwrap_or_else(|e| panic!("[{}] a squatting row blocks alice: {e}", t.label()));

        // Bob cannot replace (delete) Alice's deployment through the duplicate check.
        let replace = DeploymentInput {
            deploy_path: "/etc/ssl/shop.pem".into(),
            replace: true,
            ..Default::default()
        };
        s.deployment_delete(&bob, b_dep.id).await.unwrap();
        common::exec_with(
            &t.db,
            "UPDATE certificate_deployments SET deployed_serial = 'aa' WHERE id = ?",
            a_dep.id,
        )
        .await;
        match s.deployment_create_with(&bob, b_cert, b_srv.id, &replace).await {
            Err(ServiceError::Conflict(m)) => assert!(m.contains("another user"), "{m}"),
            other => panic!("[{}] bob replaced alice's deployment: {other:?}", t.label()),
        }
        let still = s
            .deployment_get(&alice, a_dep.id)
            .await
            .expect("alice's deployment stays");
        assert_eq!(still.certificate_id, a_cert);
        assert_eq!(still.deploy_path, "/etc/ssl/shop.pem");
    }
}

/// A loopback HTTP service that answers each of `n` requests with `400` and a body quoting the
/// request line, as gateways that explain a refusal do ("unknown parameter in GET /send?…").
async fn echoing_receiver(n: usize) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        for _ in 0..n {
            let Ok((mut sock, _)) = l.accept().await else { return };
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            while !String::from_utf8_lossy(&buf).contains("\r\n\r\n") {
                match sock.read(&mut chunk).await {
                    Ok(0) | Err(_) => break,
                    Ok(k) => buf.extend_from_slice(&chunk[..k]),
                }
            }
            let text = String::from_utf8_lossy(&buf).to_string();
            let line = text.lines().next().unwrap_or_default().to_string();
            let body = format!("{{\"error\":\"bad request\",\"request\":\"{line}\"}}");
            let resp = format!(
                "HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = sock.write_all(resp.as_bytes()).await;
        }
    });
    port
}

/// A sealed gateway or webhook URL must not come back in plain text through the far side's
/// answer: a refusal that quotes the request line (with the key in its query or path) ends up
/// in the channel test's message and in a delivery's error message, which are stored and shown.
#[tokio::test(flavor = "multi_thread")]
async fn a_gateway_that_echoes_the_request_does_not_reveal_the_sealed_url() {
    use certdeck::domain::ChannelType;
    common::init();
    let t = common::sqlite().await;
    let s = services_with(&t, common::keyring());
    let (_, alice) = make_user(&s, &t, None, "alice", UserRole::User).await;
    let port = echoing_receiver(2).await;
    let sms_key = "reviewSmsKey7731";
    let hook_token = "reviewHookToken5520";
    let sms = s
        .channel_create(
            &alice,
            "sms-echo",
            ChannelType::Sms,
            &serde_json::json!({
                "gateway_url": format!("http://127.0.0.1:{port}/send?apikey={sms_key}&to={{phone}}"),
                "method": "GET",
                "phones": "+8613800000000",
            }),
        )
        .await
        .unwrap();
    let hook = s
        .channel_create(
            &alice,
            "hook-echo",
            ChannelType::Webhook,
            &serde_json::json!({"flavor": "generic", "url": format!("http://127.0.0.1:{port}/hooks/{hook_token}")}),
        )
        .await
        .unwrap();
    for (id, secret) in [(sms.id, sms_key), (hook.id, hook_token)] {
        match s.channel_test(&alice, id).await {
            Err(e) => {
                let m = e.to_string();
                assert!(m.contains("HTTP 400"), "the far side answered: {m}");
                assert!(!m.contains(secret), "the sealed URL's key is in the message: {m}");
            }
            Ok(m) => panic!("the receiver refuses, not {m}"),
        }
    }
}

/// User B deploys for real to a machine of B's own, then points that server at user A's
/// machine: B's row must not carry "deployed" (and so reserve A's path) to a machine where
/// nothing was deployed. Another address resets the server's deployments to pending.
#[tokio::test(flavor = "multi_thread")]
async fn moving_a_server_to_another_address_forgets_what_was_deployed() {
    use certdeck::domain::DeploymentStatus;
    common::init();
    for t in common::both().await {
        let s = services_with(&t, common::keyring());
        let (_, alice) = make_user(&s, &t, None, "alice", UserRole::User).await;
        let (_, bob) = make_user(&s, &t, None, "bob", UserRole::User).await;
        let a_host = "web.alice.review.example.test";
        let a_srv = s.server_create(&alice, &server(a_host)).await.unwrap();
        let b_srv = s
            .server_create(&bob, &server("web.bob.review.example.test"))
            .await
            .unwrap();
        let a_cert = cert(&s, &alice, a_host).await;
        let b_cert = cert(&s, &bob, a_host).await;
        let b_dep = s
            .deployment_create(&bob, b_cert, b_srv.id, "/etc/ssl/site.pem", None, true)
            .await
            .unwrap();
        // As a real deploy on bob's own machine records it.
        common::exec_with(
            &t.db,
            "UPDATE certificate_deployments SET status = 'deployed', deployed_serial = 'bb' WHERE id = ?",
            b_dep.id,
        )
        .await;
        // A port change alone is another machine too; the same address in another case is not.
        let same = ServerInput {
            hostname: Some("WEB.bob.review.example.test".into()),
            ..Default::default()
        };
        s.server_update(&bob, b_srv.id, &same).await.unwrap();
        let kept = s.deployment_get(&bob, b_dep.id).await.unwrap();
        assert_eq!(kept.status, DeploymentStatus::Deployed, "[{}] same machine", t.label());
        let moved = ServerInput {
            hostname: Some(a_host.into()),
            ..Default::default()
        };
        s.server_update(&bob, b_srv.id, &moved).await.unwrap();
        let d = s.deployment_get(&bob, b_dep.id).await.unwrap();
        assert_eq!(d.status, DeploymentStatus::Pending, "[{}]", t.label());
        assert_eq!(d.deployed_serial, None, "[{}]", t.label());
        s.deployment_create(&alice, a_cert, a_srv.id, "/etc/ssl/site.pem", None, true)
            .await
            .unwrap_or_else(|e| panic!("[{}] bob's moved row blocks alice: {e}", t.label()));

        let port_cert = cert(&s, &alice, a_host).await;
        let other = s
            .server_create(&alice, &server("port.alice.review.example.test"))
            .await
            .unwrap();
        let dep = s
            .deployment_create(&alice, port_cert, other.id, "/etc/ssl/p.pem", None, true)
            .await
            .unwrap();
        common::exec_with(
            &t.db,
            "UPDATE certificate_deployments SET status = 'deployed', deployed_serial = 'cc' WHERE id = ?",
            dep.id,
        )
        .await;
        let port = ServerInput {
            port: Some(2222),
            ..Default::default()
        };
        s.server_update(&alice, other.id, &port).await.unwrap();
        assert_eq!(
            s.deployment_get(&alice, dep.id).await.unwrap().status,
            DeploymentStatus::Pending,
            "[{}] another port",
            t.label()
        );
    }
}

/// The CLI with its data dir in `home/data` and its config (session) dir in `home/<cfg>`.
fn certdeck(home: &std::path::Path, cfg: &str, args: &[&str], stdin: Option<&str>) -> std::process::Output {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_certdeck"));
    cmd.args(args)
        .env("CERTDECK_DATA_DIR", home.join("data"))
        .env("CERTDECK_CONFIG_DIR", home.join(cfg))
        .env_remove("CERTDECK_DATABASE_URL")
        .env_remove("CERTDECK_MASTER_KEY")
        .env_remove("CERTDECK_API_KEY")
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("run certdeck");
    if let Some(text) = stdin {
        child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    }
    child.wait_with_output().unwrap()
}

fn said(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `cert import --key FILE` read any private key the certdeck process can read (a host's
/// `/etc/letsencrypt/live/*/privkey.pem`) for any user, who could then `cert export
/// --reveal-key` it: the same rule as a server's `--key-file` now applies (admins and listed
/// users, audited); a user gives the key on standard input (`--key -`).
#[test]
fn cli_a_user_cannot_import_a_private_key_file_of_the_host() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let init = certdeck(h, "config", &["init"], None);
    let err = String::from_utf8_lossy(&init.stderr).into_owned();
    assert!(init.status.success(), "init: {err}");
    let otp = err
        .lines()
        .find_map(|l| l.split("shown only now: ").nth(1))
        .unwrap_or_else(|| panic!("no one-time password in {err}"))
        .trim()
        .to_string();
    let login = |cfg: &str, user: &str, stdin: String| {
        let o = certdeck(
            h,
            cfg,
            &["login", "-u", user, "--password-stdin", "--new-password-stdin"],
            Some(&stdin),
        );
        assert!(o.status.success(), "{}", said(&o));
    };
    login("config", "admin", format!("{otp}\nthe admin's own password\n"));
    let create = certdeck(
        h,
        "config",
        &[
            "user",
            "create",
            "bob",
            "--email",
            "bob@example.com",
            "--password-stdin",
        ],
        Some("bob-one-time-1\n"),
    );
    assert!(create.status.success(), "{}", said(&create));
    login("bob", "bob", "bob-one-time-1\nbob-own-password\n".into());

    // A certificate and key of the host, readable by the process.
    let key = rcgen::KeyPair::generate().unwrap();
    let c = rcgen::CertificateParams::new(vec!["host.review.example.test".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let (cert_file, key_file) = (h.join("fullchain.pem"), h.join("privkey.pem"));
    std::fs::write(&cert_file, c.pem()).unwrap();
    std::fs::write(&key_file, key.serialize_pem()).unwrap();
    let (cert_s, key_s) = (cert_file.to_str().unwrap(), key_file.to_str().unwrap());

    let o = certdeck(h, "bob", &["cert", "import", "--cert", cert_s, "--key", key_s], None);
    assert_eq!(o.status.code(), Some(4), "forbidden: {}", said(&o));
    let m = said(&o);
    assert!(
        m.contains("ssh.operator_credentials_users") && m.contains("--key -"),
        "{m}"
    );
    let list = certdeck(h, "bob", &["--json", "cert", "list"], None);
    assert_eq!(String::from_utf8_lossy(&list.stdout).trim(), "[]", "nothing imported");

    // The key given on standard input works for the user; the admin may name the file.
    let o = certdeck(
        h,
        "bob",
        &["cert", "import", "--cert", cert_s, "--key", "-"],
        Some(&key.serialize_pem()),
    );
    assert!(o.status.success(), "{}", said(&o));
    let o = certdeck(h, "config", &["cert", "import", "--cert", cert_s, "--key", key_s], None);
    let m = said(&o);
    assert!(
        o.status.success() || m.contains("already"),
        "the admin reads the file: {m}"
    );
    let audit = certdeck(h, "config", &["--json", "audit", "list"], None);
    assert!(
        String::from_utf8_lossy(&audit.stdout).contains("certificate.key_file_read"),
        "the read is audited"
    );
}
