//! Alerts reach people: a monitor check against the bed's nginx fires a rule bound to three
//! channels — a signed webhook (a local HTTP receiver), e-mail to the bed's SMTP sink, and a
//! webhook that answers 500 — and the outbox sends each once, retries the failing one without
//! holding up the others, and sends the resolution when the site is fixed.

mod common;

use std::sync::{Arc, Mutex};

use certdeck::domain::{AlertType, ChannelType, ConditionType, MonitorStatus, MonitorType, Severity, UserRole};
use certdeck::service::monitoring::{AlertInput, MonitorInput};
use common::nginx_pki::*;
use common::{count, make_user, services};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What the local receiver got: (path, headers lower-cased, body).
type Seen = Arc<Mutex<Vec<(String, Vec<(String, String)>, String)>>>;

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
                    let mut lines = head.lines();
                    let path = lines.next().unwrap_or("").split(' ').nth(1).unwrap_or("").to_string();
                    let headers = lines
                        .filter_map(|l| l.split_once(':'))
                        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
                        .collect();
                    seen.lock().unwrap().push((path.clone(), headers, body));
                    let (code, text) = if path.starts_with("/fail") {
                        ("500 Internal Server Error", "down")
                    } else {
                        ("200 OK", "{\"ok\":true}")
                    };
                    let _ = sock
                        .write_all(format!("HTTP/1.1 {code}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}", text.len()).as_bytes())
                        .await;
                    return;
                }
            });
        }
    });
    (port, seen)
}

struct Smtp {
    host: String,
    port: String,
    user: String,
    password: String,
    maildir: std::path::PathBuf,
}

fn smtp() -> Option<Smtp> {
    Some(Smtp {
        host: env("CERTDECK_TEST_SMTP_HOST")?,
        port: env("CERTDECK_TEST_SMTP_PORT")?,
        user: env("CERTDECK_TEST_SMTP_USER")?,
        password: env("CERTDECK_TEST_SMTP_PASSWORD")?,
        maildir: env("CERTDECK_TEST_SMTP_MAILDIR")?.into(),
    })
}

/// The messages in the sink that mention `needle`.
fn mails_with(dir: &std::path::Path, needle: &str) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                .filter(|t| t.contains(needle))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fired_alert_is_delivered_once_per_channel_retried_where_it_failed_and_resolved() {
    let Some(bed) = bed() else { return };
    let Some(mail) = smtp() else {
        assert!(
            !common::peers_required(),
            "the SMTP sink is not up but peers are required"
        );
        return;
    };
    let t = common::sqlite().await;
    let s = services(&t);
    let (_, a) = make_user(&s, &t, None, "ops", UserRole::Admin).await;
    let pki = pki();
    let name = format!("n{:08x}.alerts.test", rand::random::<u32>());
    let expired = leaf(&pki, &[name.as_str()], -90, -2);
    let site = make_site(
        &bed,
        &name,
        &format!("{}{}", expired.1, pki.int_pem),
        &expired.2,
        None,
        "",
    );
    wait_served(&bed, &pki, &name, &expired.0).await;

    let (port, seen) = receiver().await;
    let hook = s
        .channel_create(
            &a,
            "ops hook",
            ChannelType::Webhook,
            &json!({"url": format!("http://127.0.0.1:{port}/hook"), "secret": "hook-secret", "allow_http": true}),
        )
        .await
        .unwrap();
    let email = s
        .channel_create(
            &a,
            "ops mail",
            ChannelType::Email,
            &json!({"smtp_host": mail.host, "smtp_port": mail.port, "security": "plain", "username": mail.user,
                    "password": mail.password, "from": "certdeck@example.test", "to": format!("oncall-{name}@example.test")}),
        )
        .await
        .unwrap();
    let broken = s
        .channel_create(
            &a,
            "broken hook",
            ChannelType::Webhook,
            &json!({"url": format!("http://127.0.0.1:{port}/fail"), "allow_http": true}),
        )
        .await
        .unwrap();
    // The channel test goes out at once.
    let said = s.channel_test(&a, hook.id).await.unwrap();
    assert!(said.contains("HTTP 200"), "{said}");
    assert_eq!(seen.lock().unwrap().len(), 1);
    assert!(s
        .channel_test(&a, broken.id)
        .await
        .unwrap_err()
        .to_string()
        .contains("500"));

    let m = s
        .monitor_create(
            &a,
            &MonitorInput {
                name: Some("shop".into()),
                monitor_type: Some(MonitorType::Domain),
                domain: Some(name.clone()),
                port: Some(i64::from(bed.port)),
                connect_address: Some("127.0.0.1".into()),
                trust_bundle_pem: Some(pki.root_pem.clone()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let rule = s
        .alert_create(
            &a,
            &AlertInput {
                name: Some("shop certificate broken".into()),
                alert_type: Some(AlertType::CertificateError),
                monitor_id: Some(m.id),
                condition_type: Some(ConditionType::StatusChange),
                condition_value: Some("error".into()),
                severity: Some(Severity::Critical),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    for c in [hook.id, email.id, broken.id] {
        s.binding_create(&a, rule.id, c).await.unwrap();
    }
    seen.lock().unwrap().clear();

    let o = s.monitor_check_now(&a, m.id).await.unwrap();
    assert_eq!(o.status, MonitorStatus::Error);
    assert!(
        o.alerts
            .iter()
            .any(|x| x.contains("'shop certificate broken' fired (3 notification(s) queued)")),
        "{o:?}"
    );
    let r = s.outbox_run(100).await.unwrap();
    assert_eq!((r.sent, r.retrying, r.failed), (2, 1, 0), "{r:?}");
    {
        let got = seen.lock().unwrap();
        let hooks: Vec<_> = got.iter().filter(|(p, _, _)| p == "/hook").collect();
        assert_eq!(hooks.len(), 1, "one firing notification: {got:?}");
        let (_, headers, body) = hooks[0];
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["event"], "firing", "{v}");
        assert_eq!(v["severity"], "critical", "{v}");
        assert!(
            v["message"].as_str().unwrap_or("").contains("expired") || body.contains("expired"),
            "{v}"
        );
        let sig = headers
            .iter()
            .find(|(k, _)| k == "x-certdeck-signature")
            .map(|(_, v)| v.clone())
            .unwrap();
        use hmac::Mac;
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"hook-secret").unwrap();
        mac.update(body.as_bytes());
        let want: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(sig, format!("sha256={want}"), "the receiver can verify the body");
        assert!(
            got.iter().any(|(p, _, _)| p == "/fail"),
            "the broken channel was tried too"
        );
    }
    let mails = mails_with(&mail.maildir, &format!("oncall-{name}@example.test"));
    assert_eq!(mails.len(), 1, "one e-mail to the on-call address");
    assert!(
        mails[0].contains(&name) && mails[0].contains("CRITICAL"),
        "{}",
        mails[0]
    );
    // The failing delivery waits for its retry; nothing is sent twice meanwhile.
    let r = s.outbox_run(100).await.unwrap();
    assert_eq!((r.sent, r.retrying, r.failed), (0, 0, 0), "{r:?}");
    assert_eq!(
        count(
            &t.db,
            "SELECT COUNT(*) FROM alert_deliveries WHERE status = 'pending' AND attempts = 1"
        )
        .await,
        1
    );
    assert_eq!(
        count(&t.db, "SELECT COUNT(*) FROM alert_deliveries WHERE status = 'sent'").await,
        2
    );

    // Fixed: the resolution goes out the same way.
    drop(site);
    let good = leaf(&pki, &[name.as_str()], -1, 60);
    let _site = make_site(&bed, &name, &format!("{}{}", good.1, pki.int_pem), &good.2, None, "");
    wait_served(&bed, &pki, &name, &good.0).await;
    let o = s.monitor_check_now(&a, m.id).await.unwrap();
    assert_eq!(o.status, MonitorStatus::Ok, "{o:?}");
    seen.lock().unwrap().clear();
    let r = s.outbox_run(100).await.unwrap();
    assert_eq!(r.sent, 2, "{r:?}");
    let got = seen.lock().unwrap();
    let resolved: Vec<_> = got
        .iter()
        .filter(|(p, _, b)| p == "/hook" && b.contains("\"resolved\""))
        .collect();
    assert_eq!(resolved.len(), 1, "{got:?}");
    assert_eq!(
        mails_with(&mail.maildir, &format!("oncall-{name}@example.test")).len(),
        2
    );
}
