//! Notification channels end to end: e-mail to the test bed's SMTP sink (plain + AUTH,
//! STARTTLS with the bed's CA), webhooks and SMS against a local HTTP/1.1 receiver (vendor wire
//! formats and signatures), and the errors for bad input and refusals.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use certdeck::engine::notify::{
    deliver, AlertStatus, AliyunSms, ChannelConfig, HttpMethod, Notification, Severity, SmsGateway, SmsSettings,
    SmtpSecurity, SmtpSettings, WebhookFlavor, WebhookSettings,
};
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn note(cert: &str) -> Notification {
    Notification {
        title: "Certificate expires soon".into(),
        severity: Severity::Error,
        status: AlertStatus::Firing,
        certificate: Some(cert.into()),
        host: Some("10.0.0.5:443".into()),
        domain: Some("shop.example.com".into()),
        days_left: Some(3),
        what_to_do: "Renew the certificate and deploy it to shop".into(),
        details: vec![("Issuer".into(), "Test CA <R3>".into())],
        occurred_at: DateTime::parse_from_rfc3339("2026-01-02T03:04:05Z")
            .unwrap()
            .with_timezone(&Utc),
        alert_id: Some(41),
        history_id: Some(42),
        monitor: Some("expiry".into()),
        link: Some("https://certdeck.example/alerts/41".into()),
    }
}

// ------------------------------------------------------------------------------- SMTP sink

struct Sink {
    host: String,
    port: u16,
    starttls_port: u16,
    user: String,
    password: String,
    maildir: String,
    ca_pem: String,
}

fn sink() -> Option<Sink> {
    common::init();
    let v = |k: &str| std::env::var(k).ok().filter(|s| !s.is_empty());
    let got = (|| {
        Some(Sink {
            host: v("CERTDECK_TEST_SMTP_HOST")?,
            port: v("CERTDECK_TEST_SMTP_PORT")?.parse().ok()?,
            starttls_port: v("CERTDECK_TEST_SMTP_STARTTLS_PORT")?.parse().ok()?,
            user: v("CERTDECK_TEST_SMTP_USER")?,
            password: v("CERTDECK_TEST_SMTP_PASSWORD")?,
            maildir: v("CERTDECK_TEST_SMTP_MAILDIR")?,
            ca_pem: std::fs::read_to_string(v("CERTDECK_TEST_SMTP_CA")?).ok()?,
        })
    })();
    if got.is_none() {
        assert!(
            !common::peers_required(),
            "the SMTP sink is not up but peers are required: run the suite with scripts/test (scripts/testbed up smtp)"
        );
        eprintln!("SKIP: SMTP sink not up (scripts/testbed up smtp && eval \"$(scripts/testbed env)\")");
    }
    got
}

/// The .eml whose envelope names `rcpt` (waits up to 5 s).
async fn find_mail(maildir: &str, rcpt: &str) -> String {
    for _ in 0..50 {
        for e in std::fs::read_dir(maildir).unwrap().flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "eml") {
                let s = std::fs::read_to_string(&p).unwrap_or_default();
                if header(&s, "X-Envelope-To").is_some_and(|h| h.contains(rcpt)) {
                    return s;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no message for {rcpt} in {maildir}");
}

/// A top-level header (unfolded).
fn header(msg: &str, name: &str) -> Option<String> {
    let head = msg
        .split("\r\n\r\n")
        .next()
        .unwrap_or(msg)
        .replace("\r\n ", " ")
        .replace("\r\n\t", " ");
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
    })
}

/// The decoded body of the MIME part with `content_type` (7bit, quoted-printable or base64).
fn part(msg: &str, content_type: &str) -> String {
    let i = msg
        .find(&format!("Content-Type: {content_type}"))
        .unwrap_or_else(|| panic!("no {content_type} part in\n{msg}"));
    let rest = &msg[i..];
    let (head, body) = rest.split_once("\r\n\r\n").unwrap();
    let body = body.split("\r\n--").next().unwrap();
    if head.contains("quoted-printable") {
        let joined = body.replace("=\r\n", "");
        let b = joined.as_bytes();
        let mut out = Vec::new();
        let mut j = 0;
        while j < b.len() {
            if b[j] == b'=' && j + 2 < b.len() {
                out.push(u8::from_str_radix(std::str::from_utf8(&b[j + 1..j + 3]).unwrap(), 16).unwrap());
                j += 3;
            } else {
                out.push(b[j]);
                j += 1;
            }
        }
        String::from_utf8(out).unwrap()
    } else if head.contains("base64") {
        let clean: String = body.split_whitespace().collect();
        String::from_utf8(base64::engine::general_purpose::STANDARD.decode(clean).unwrap()).unwrap()
    } else {
        body.to_string()
    }
}

fn smtp(s: &Sink, port: u16, security: SmtpSecurity, tag: &str) -> (SmtpSettings, [String; 3]) {
    let to1 = format!("ops-{tag}@example.test");
    let to2 = format!("oncall-{tag}@example.test");
    let cc = format!("boss-{tag}@example.test");
    let mut st = SmtpSettings::new(&s.host, port, security, "certdeck <alerts@example.test>", &[&to1, &to2]);
    st.cc = vec![cc.clone()];
    st.username = Some(s.user.clone());
    st.password = Some(s.password.clone());
    st.timeout = Duration::from_secs(10);
    (st, [to1, to2, cc])
}

fn check_mail(msg: &str, rcpts: &[String; 3], cert: &str) {
    let env_to = header(msg, "X-Envelope-To").unwrap();
    for r in rcpts {
        assert!(
            env_to.contains(r.as_str()),
            "{r} not among the envelope recipients: {env_to}"
        );
    }
    assert_eq!(header(msg, "X-Envelope-From").unwrap(), "alerts@example.test");
    assert_eq!(
        header(msg, "Subject").unwrap(),
        "[certdeck] ERROR shop.example.com expires in 3 days"
    );
    assert!(header(msg, "Cc").unwrap().contains(&rcpts[2]));
    assert!(
        header(msg, "Content-Type")
            .unwrap()
            .starts_with("multipart/alternative"),
        "{msg}"
    );
    let text = part(msg, "text/plain");
    let html = part(msg, "text/html");
    for body in [&text, &html] {
        assert!(body.contains(cert), "certificate name missing:\n{body}");
        assert!(body.contains("expires in 3 days"), "days left missing:\n{body}");
        assert!(
            body.contains("Renew the certificate and deploy it to shop"),
            "what to do missing:\n{body}"
        );
    }
    assert!(
        text.contains("Days left:") && text.contains("Issuer:") && text.contains("Test CA <R3>"),
        "{text}"
    );
    assert!(html.contains("<table") && html.contains("Test CA &lt;R3&gt;"), "{html}");
}

#[tokio::test]
async fn notify_email_plain_with_auth_reaches_the_sink() {
    let Some(s) = sink() else { return };
    let tag = common::unique_name("plain");
    let (st, rcpts) = smtp(&s, s.port, SmtpSecurity::Plain, &tag);
    let cert = format!("cert-{tag}");
    let out = deliver(&ChannelConfig::Email(st), &note(&cert)).await.unwrap();
    assert_eq!(out.status_code, Some(250));
    let msg = find_mail(&s.maildir, &rcpts[0]).await;
    check_mail(&msg, &rcpts, &cert);
    assert_eq!(header(&msg, "X-Envelope-Auth").unwrap(), s.user);
    assert_eq!(header(&msg, "X-Envelope-TLS").unwrap(), "no");
}

#[tokio::test]
async fn notify_email_starttls_with_the_bed_ca() {
    let Some(s) = sink() else { return };
    let tag = common::unique_name("tls");
    let (mut st, rcpts) = smtp(&s, s.starttls_port, SmtpSecurity::StartTls, &tag);
    st.trust_pem = Some(s.ca_pem.clone());
    let cert = format!("cert-{tag}");
    deliver(&ChannelConfig::Email(st.clone()), &note(&cert)).await.unwrap();
    let msg = find_mail(&s.maildir, &rcpts[0]).await;
    check_mail(&msg, &rcpts, &cert);
    assert_eq!(header(&msg, "X-Envelope-TLS").unwrap(), "yes");
    assert_eq!(header(&msg, "X-Envelope-Auth").unwrap(), s.user);

    // without the private CA the server's certificate is not trusted: permanent
    st.trust_pem = None;
    let e = deliver(&ChannelConfig::Email(st.clone()), &note(&cert))
        .await
        .unwrap_err();
    assert!(!e.transient, "{e}");
    // no STARTTLS on a port that requires it: the server refuses MAIL (530), permanent
    st.security = SmtpSecurity::Plain;
    let e = deliver(&ChannelConfig::Email(st), &note(&cert)).await.unwrap_err();
    assert!(!e.transient, "{e}");
}

#[tokio::test]
async fn notify_email_wrong_password_is_permanent_and_not_echoed() {
    let Some(s) = sink() else { return };
    let (mut st, _) = smtp(&s, s.port, SmtpSecurity::Plain, "badpw");
    st.password = Some("wrong-Pa55word-xyz".into());
    let e = deliver(&ChannelConfig::Email(st.clone()), &note("c"))
        .await
        .unwrap_err();
    assert!(!e.transient, "{e}");
    assert!(!e.message.contains("wrong-Pa55word-xyz") && !format!("{st:?}").contains("wrong-Pa55word-xyz"));
}

#[tokio::test]
async fn notify_email_bad_addresses_and_refused_connections() {
    common::init();
    let mut st = SmtpSettings::new(
        "127.0.0.1",
        1,
        SmtpSecurity::Plain,
        "alerts@example.test",
        &["ops@example.test", "ops at example"],
    );
    let e = deliver(&ChannelConfig::Email(st.clone()), &note("c"))
        .await
        .unwrap_err();
    assert!(e.message.starts_with("invalid To address 'ops at example'"), "{e}");
    assert!(!e.transient);
    st.to = vec!["ops@example.test".into()];
    st.timeout = Duration::from_secs(3);
    // nothing listens on port 1: transient
    let e = deliver(&ChannelConfig::Email(st), &note("c")).await.unwrap_err();
    assert!(e.transient, "{e}");
}

// --------------------------------------------------------------------- HTTP receiver

#[derive(Debug, Clone)]
struct Req {
    method: String,
    target: String,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

impl Req {
    fn path(&self) -> &str {
        self.target.split('?').next().unwrap()
    }
    fn query(&self) -> BTreeMap<String, String> {
        let q = self.target.split_once('?').map(|(_, q)| q).unwrap_or("");
        url::form_urlencoded::parse(q.as_bytes()).into_owned().collect()
    }
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
    fn form(&self) -> BTreeMap<String, String> {
        url::form_urlencoded::parse(&self.body).into_owned().collect()
    }
}

/// A tiny HTTP/1.1 server on 127.0.0.1: records each request, answers `status` + `body`.
struct Receiver {
    base: String,
    reqs: Arc<Mutex<Vec<Req>>>,
}

async fn receiver(status: u16, answer: &'static str) -> Receiver {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://127.0.0.1:{}", l.local_addr().unwrap().port());
    let reqs = Arc::new(Mutex::new(Vec::new()));
    let r2 = reqs.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = l.accept().await else { return };
            let reqs = r2.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut tmp = [0u8; 4096];
                let head_end = loop {
                    let n = sock.read(&mut tmp).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&tmp[..n]);
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break i;
                    }
                };
                let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                let mut lines = head.split("\r\n");
                let mut first = lines.next().unwrap().split(' ');
                let method = first.next().unwrap().to_string();
                let target = first.next().unwrap().to_string();
                let headers: HashMap<String, String> = lines
                    .filter_map(|l| l.split_once(':'))
                    .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
                    .collect();
                let len: usize = headers.get("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
                let mut body = buf[head_end + 4..].to_vec();
                while body.len() < len {
                    let n = sock.read(&mut tmp).await.unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    body.extend_from_slice(&tmp[..n]);
                }
                reqs.lock().unwrap().push(Req {
                    method,
                    target,
                    headers,
                    body,
                });
                let resp = format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                    answer.len()
                );
                let _ = sock.write_all(resp.as_bytes()).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    Receiver { base, reqs }
}

impl Receiver {
    fn only(&self) -> Req {
        let r = self.reqs.lock().unwrap();
        assert_eq!(r.len(), 1, "expected one request, got {r:?}");
        r[0].clone()
    }
}

fn hook(flavor: WebhookFlavor, url: String) -> ChannelConfig {
    let mut w = WebhookSettings::new(flavor, &url);
    w.allow_http = true;
    w.timeout = Duration::from_secs(5);
    ChannelConfig::Webhook(w)
}

fn with_secret(c: ChannelConfig, secret: &str) -> ChannelConfig {
    let ChannelConfig::Webhook(mut w) = c else {
        unreachable!()
    };
    w.secret = Some(secret.into());
    ChannelConfig::Webhook(w)
}

fn hmac256(key: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut m = Hmac::<Sha256>::new_from_slice(key).unwrap();
    m.update(msg);
    m.finalize().into_bytes().to_vec()
}

#[tokio::test]
async fn notify_webhook_generic_payload_and_signature() {
    common::init();
    let r = receiver(200, r#"{"ok":true}"#).await;
    let ChannelConfig::Webhook(mut w) = hook(WebhookFlavor::Generic, format!("{}/hooks/certdeck?team=ops", r.base))
    else {
        unreachable!()
    };
    w.secret = Some("generic-hmac-secret".into());
    w.headers = vec![("Authorization".into(), "Bearer rcv-token".into())];
    let out = deliver(&ChannelConfig::Webhook(w), &note("shop-cert")).await.unwrap();
    assert_eq!(out.status_code, Some(200));
    assert_eq!(out.response_excerpt, r#"{"ok":true}"#);
    let q = r.only();
    assert_eq!(q.method, "POST");
    assert_eq!(q.target, "/hooks/certdeck?team=ops");
    assert_eq!(q.headers["content-type"], "application/json");
    assert_eq!(q.headers["authorization"], "Bearer rcv-token");
    assert_eq!(q.headers["x-certdeck-event"], "firing");
    let ts: i64 = q.headers["x-certdeck-timestamp"].parse().unwrap();
    assert!((Utc::now().timestamp() - ts).abs() < 60);
    let hex: String = hmac256(b"generic-hmac-secret", &q.body)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(q.headers["x-certdeck-signature"], format!("sha256={hex}"));
    let v = q.json();
    assert_eq!(v["version"], 1);
    assert_eq!(v["event"], "firing");
    assert_eq!(v["severity"], "error");
    assert_eq!(v["title"], "Certificate expires soon");
    assert_eq!(v["certificate"], "shop-cert");
    assert_eq!(v["host"], "10.0.0.5:443");
    assert_eq!(v["domain"], "shop.example.com");
    assert_eq!(v["days_left"], 3);
    assert_eq!(v["occurred_at"], "2026-01-02T03:04:05Z");
    assert_eq!(v["alert_id"], 41);
    assert_eq!(v["history_id"], 42);
    assert_eq!(v["details"]["Issuer"], "Test CA <R3>");
    assert!(v["message"].as_str().unwrap().contains("Renew the certificate"));

    // resolved, unsigned
    let r = receiver(204, "").await;
    let mut n = note("shop-cert");
    n.status = AlertStatus::Resolved;
    deliver(&hook(WebhookFlavor::Generic, format!("{}/h", r.base)), &n)
        .await
        .unwrap();
    let q = r.only();
    assert_eq!(q.json()["event"], "resolved");
    assert!(!q.headers.contains_key("x-certdeck-signature"));
}

#[tokio::test]
async fn notify_webhook_wecom_serverchan_slack_wire_formats() {
    common::init();
    let r = receiver(200, r#"{"errcode":0,"errmsg":"ok"}"#).await;
    deliver(
        &hook(
            WebhookFlavor::WeCom,
            format!("{}/cgi-bin/webhook/send?key=wecom-key-1", r.base),
        ),
        &note("shop-cert"),
    )
    .await
    .unwrap();
    let q = r.only();
    assert_eq!((q.method.as_str(), q.path()), ("POST", "/cgi-bin/webhook/send"));
    assert_eq!(q.query()["key"], "wecom-key-1");
    let v = q.json();
    assert_eq!(v["msgtype"], "markdown");
    let md = v["markdown"]["content"].as_str().unwrap();
    assert!(
        md.contains("shop-cert") && md.contains("expires in 3 days") && md.contains("Renew the certificate"),
        "{md}"
    );

    // WeCom answers 200 with an error code: permanent, the key not in the message
    let r = receiver(200, r#"{"errcode":93000,"errmsg":"invalid webhook url"}"#).await;
    let e = deliver(
        &hook(
            WebhookFlavor::WeCom,
            format!("{}/cgi-bin/webhook/send?key=wecom-key-2", r.base),
        ),
        &note("c"),
    )
    .await
    .unwrap_err();
    assert!(!e.transient && e.message.contains("93000"), "{e}");
    assert!(!e.message.contains("wecom-key-2"), "{e}");

    let r = receiver(200, r#"{"code":0,"message":"","data":{}}"#).await;
    deliver(
        &hook(WebhookFlavor::ServerChan, format!("{}/SCT12345abcdef.send", r.base)),
        &note("shop-cert"),
    )
    .await
    .unwrap();
    let q = r.only();
    assert_eq!(q.path(), "/SCT12345abcdef.send");
    assert_eq!(q.headers["content-type"], "application/x-www-form-urlencoded");
    let f = q.form();
    assert!(
        f["title"].chars().count() <= 32 && f["title"].starts_with("[certdeck] ERROR"),
        "{f:?}"
    );
    assert!(f["desp"].contains("shop-cert") && f["desp"].contains("Renew the certificate"));

    let r = receiver(200, "ok").await;
    deliver(
        &hook(WebhookFlavor::Slack, format!("{}/services/T0/B0/xyz", r.base)),
        &note("shop-cert"),
    )
    .await
    .unwrap();
    let v = r.only().json();
    assert_eq!(v["text"], "[certdeck] ERROR shop.example.com expires in 3 days");
    assert_eq!(v["blocks"][0]["type"], "header");
    assert_eq!(v["blocks"][0]["text"]["type"], "plain_text");
    assert!(v["blocks"][1]["text"]["text"]
        .as_str()
        .unwrap()
        .contains("Renew the certificate"));
    let fields = v["blocks"][2]["fields"].as_array().unwrap();
    assert!(fields.iter().any(|f| f["text"].as_str().unwrap().contains("shop-cert")));
    assert!(v["blocks"][3]["elements"][0]["text"]
        .as_str()
        .unwrap()
        .contains("https://certdeck.example/alerts/41"));
}

#[tokio::test]
async fn notify_webhook_dingtalk_and_feishu_signatures() {
    common::init();
    let r = receiver(200, r#"{"errcode":0,"errmsg":"ok"}"#).await;
    let before = Utc::now().timestamp_millis();
    let c = with_secret(
        hook(
            WebhookFlavor::DingTalk,
            format!("{}/robot/send?access_token=ding-tok", r.base),
        ),
        "SECding+/=secret",
    );
    deliver(&c, &note("shop-cert")).await.unwrap();
    let q = r.only();
    assert_eq!(q.path(), "/robot/send");
    let qs = q.query();
    assert_eq!(qs["access_token"], "ding-tok");
    let ts: i64 = qs["timestamp"].parse().unwrap();
    assert!(ts >= before && ts <= Utc::now().timestamp_millis(), "timestamp in ms");
    // vendor algorithm: base64(HMAC-SHA256(key=secret, ts + "\n" + secret)), URL-encoded in the query
    let want = base64::engine::general_purpose::STANDARD.encode(hmac256(
        b"SECding+/=secret",
        format!("{ts}\nSECding+/=secret").as_bytes(),
    ));
    assert_eq!(qs["sign"], want);
    assert!(
        q.target.contains("&sign=") && !q.target.contains('+'),
        "sign must be URL-encoded: {}",
        q.target
    );
    let v = q.json();
    assert_eq!(v["msgtype"], "markdown");
    assert!(v["markdown"]["title"].as_str().unwrap().starts_with("[certdeck] ERROR"));
    assert!(v["markdown"]["text"].as_str().unwrap().contains("shop-cert"));

    let r = receiver(200, r#"{"code":0,"msg":"success","data":{}}"#).await;
    let c = with_secret(
        hook(
            WebhookFlavor::Feishu,
            format!("{}/open-apis/bot/v2/hook/abc-def", r.base),
        ),
        "feishu-secret",
    );
    deliver(&c, &note("shop-cert")).await.unwrap();
    let q = r.only();
    assert_eq!(q.path(), "/open-apis/bot/v2/hook/abc-def");
    let v = q.json();
    let ts: i64 = v["timestamp"].as_str().unwrap().parse().unwrap();
    assert!((Utc::now().timestamp() - ts).abs() < 60, "timestamp in seconds");
    // vendor algorithm: HMAC-SHA256 keyed by ts + "\n" + secret over an empty message, base64
    let want =
        base64::engine::general_purpose::STANDARD.encode(hmac256(format!("{ts}\nfeishu-secret").as_bytes(), b""));
    assert_eq!(v["sign"], want);
    assert_eq!(v["msg_type"], "post");
    let post = &v["content"]["post"]["zh_cn"];
    assert_eq!(post["title"], "[certdeck] ERROR shop.example.com expires in 3 days");
    assert!(post["content"].to_string().contains("shop-cert"));

    // Feishu refuses a bad signature with code 19021 inside a 200: permanent
    let r = receiver(
        200,
        r#"{"code":19021,"msg":"sign match fail or timestamp is not within one hour from current time"}"#,
    )
    .await;
    let c = with_secret(
        hook(WebhookFlavor::Feishu, format!("{}/open-apis/bot/v2/hook/x", r.base)),
        "s",
    );
    let e = deliver(&c, &note("c")).await.unwrap_err();
    assert!(!e.transient && e.message.contains("19021"), "{e}");
}

#[tokio::test]
async fn notify_webhook_status_classification() {
    common::init();
    for (status, transient) in [(500u16, true), (503, true), (429, true), (400, false), (404, false)] {
        let r = receiver(status, r#"{"error":"nope"}"#).await;
        let e = deliver(&hook(WebhookFlavor::Generic, format!("{}/h", r.base)), &note("c"))
            .await
            .unwrap_err();
        assert_eq!(e.transient, transient, "HTTP {status}: {e}");
        assert!(e.message.contains(&status.to_string()), "{e}");
    }
    // the vendor key stays out of the error text, also for transient errors
    let r = receiver(502, "bad gateway").await;
    let e = deliver(
        &hook(
            WebhookFlavor::WeCom,
            format!("{}/cgi-bin/webhook/send?key=wecom-key-zz9", r.base),
        ),
        &note("c"),
    )
    .await
    .unwrap_err();
    assert!(e.transient && !e.message.contains("wecom-key-zz9"), "{e}");
    // nothing listens: transient, no URL in the message
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    let e = deliver(
        &hook(
            WebhookFlavor::WeCom,
            format!("http://127.0.0.1:{port}/cgi-bin/webhook/send?key=wecom-key-qq7"),
        ),
        &note("c"),
    )
    .await
    .unwrap_err();
    assert!(e.transient && !e.message.contains("wecom-key-qq7"), "{e}");
}

#[tokio::test]
async fn notify_bad_input_gives_specific_errors() {
    common::init();
    // http:// where the vendor requires https (no allow_http)
    for f in [
        WebhookFlavor::WeCom,
        WebhookFlavor::DingTalk,
        WebhookFlavor::Feishu,
        WebhookFlavor::Slack,
        WebhookFlavor::ServerChan,
    ] {
        let w = WebhookSettings::new(
            f,
            "http://127.0.0.1:9/cgi-bin/webhook/send/SCT1.send?key=k&access_token=t",
        );
        let e = deliver(&ChannelConfig::Webhook(w), &note("c")).await.unwrap_err();
        assert!(
            e.message.contains("requires an https:// URL") && !e.transient,
            "{f:?}: {e}"
        );
    }
    // allow_http does not open plain http to a remote host
    let mut w = WebhookSettings::new(WebhookFlavor::Slack, "http://hooks.slack.example/services/x");
    w.allow_http = true;
    let e = deliver(&ChannelConfig::Webhook(w), &note("c")).await.unwrap_err();
    assert!(e.message.contains("loopback"), "{e}");
    // missing secrets / keys
    let e = deliver(
        &with_secret(
            hook(
                WebhookFlavor::DingTalk,
                "http://127.0.0.1:9/robot/send?access_token=t".into(),
            ),
            "",
        ),
        &note("c"),
    )
    .await
    .unwrap_err();
    assert!(e.message.contains("signing secret is empty"), "{e}");
    let e = deliver(
        &hook(WebhookFlavor::WeCom, "http://127.0.0.1:9/cgi-bin/webhook/send".into()),
        &note("c"),
    )
    .await
    .unwrap_err();
    assert!(e.message.contains("no key="), "{e}");
    let a = AliyunSms::new("LTAI-id", "", "certdeck", "SMS_1", &["13800000000"]);
    let e = deliver(&ChannelConfig::Sms(SmsSettings::Aliyun(a)), &note("c"))
        .await
        .unwrap_err();
    assert_eq!(e.message, "Aliyun SMS: the AccessKey secret is missing");
    // invalid e-mail address
    let st = SmtpSettings::new("127.0.0.1", 25, SmtpSecurity::Plain, "alerts@", &["ops@example.test"]);
    let e = deliver(&ChannelConfig::Email(st), &note("c")).await.unwrap_err();
    assert!(e.message.starts_with("invalid From address 'alerts@'"), "{e}");
}

// ------------------------------------------------------------------------------------ SMS

#[tokio::test]
async fn notify_sms_gateway_templates() {
    common::init();
    let r = receiver(200, r#"{"status":"queued"}"#).await;
    let g = SmsGateway {
        url: format!("{}/sms/send", r.base),
        method: HttpMethod::Post,
        body_template: r#"{"to":"{phone}","text":"{message}","title":"{title}","level":"{severity}"}"#.into(),
        content_type: None,
        auth_header: Some(("X-Api-Key".into(), "sms-gw-key".into())),
        phones: vec!["+8613800000001".into(), "13800000002".into()],
        timeout: Duration::from_secs(5),
        pin: None,
    };
    let mut n = note("shop-cert");
    n.what_to_do = format!("Renew \"now\" {}", "x".repeat(400));
    let out = deliver(&ChannelConfig::Sms(SmsSettings::Gateway(g.clone())), &n)
        .await
        .unwrap();
    assert_eq!(out.status_code, Some(200));
    let reqs = r.reqs.lock().unwrap().clone();
    assert_eq!(reqs.len(), 2, "one request per phone");
    for (q, phone) in reqs.iter().zip(["+8613800000001", "13800000002"]) {
        assert_eq!((q.method.as_str(), q.path()), ("POST", "/sms/send"));
        assert_eq!(q.headers["x-api-key"], "sms-gw-key");
        let v = q.json();
        assert_eq!(v["to"], phone);
        assert_eq!(v["level"], "error");
        assert_eq!(v["title"], "shop.example.com expires in 3 days");
        let text = v["text"].as_str().unwrap();
        assert!(
            text.starts_with("[certdeck] ERROR shop.example.com expires in 3 days. Renew \"now\""),
            "{text}"
        );
        assert_eq!(text.chars().count(), 300, "the text is cut at 300 characters");
    }
    assert!(!format!("{g:?}").contains("sms-gw-key"));

    // GET with the placeholders in the query (percent-encoded)
    let r = receiver(200, "OK").await;
    let g = SmsGateway {
        url: format!("{}/send?to={{phone}}&msg={{message}}", r.base),
        method: HttpMethod::Get,
        body_template: String::new(),
        content_type: None,
        auth_header: None,
        phones: vec!["+441234567890".into()],
        timeout: Duration::from_secs(5),
        pin: None,
    };
    deliver(&ChannelConfig::Sms(SmsSettings::Gateway(g)), &note("shop-cert"))
        .await
        .unwrap();
    let q = r.only();
    assert_eq!(q.method, "GET");
    let qs = q.query();
    assert_eq!(qs["to"], "+441234567890");
    assert!(qs["msg"].starts_with("[certdeck] ERROR shop.example.com expires in 3 days. Renew the certificate"));

    // a 500 from the gateway is transient
    let r = receiver(500, "down").await;
    let g = SmsGateway {
        url: format!("{}/x", r.base),
        method: HttpMethod::Post,
        body_template: "{message}".into(),
        content_type: Some("text/plain".into()),
        auth_header: None,
        phones: vec!["13800000001".into()],
        timeout: Duration::from_secs(5),
        pin: None,
    };
    assert!(
        deliver(&ChannelConfig::Sms(SmsSettings::Gateway(g)), &note("c"))
            .await
            .unwrap_err()
            .transient
    );
}

#[tokio::test]
async fn notify_sms_aliyun_signed_request() {
    common::init();
    let r = receiver(200, r#"{"Code":"OK","Message":"OK","BizId":"9006","RequestId":"F655"}"#).await;
    let mut a = AliyunSms::new(
        "LTAI-test-id",
        "aliyun-secret-key",
        "certdeck",
        "SMS_123",
        &["13800000001", "13800000002"],
    );
    a.endpoint = r.base.clone();
    let out = deliver(&ChannelConfig::Sms(SmsSettings::Aliyun(a.clone())), &note("shop-cert"))
        .await
        .unwrap();
    assert!(out.response_excerpt.contains("\"Code\":\"OK\""));
    let q = r.only();
    assert_eq!((q.method.as_str(), q.path()), ("GET", "/"));
    let mut p = q.query();
    assert_eq!(p["Action"], "SendSms");
    assert_eq!(p["Version"], "2017-05-25");
    assert_eq!(p["AccessKeyId"], "LTAI-test-id");
    assert_eq!(p["SignatureMethod"], "HMAC-SHA1");
    assert_eq!(p["SignatureVersion"], "1.0");
    assert_eq!(p["PhoneNumbers"], "13800000001,13800000002");
    assert_eq!(p["SignName"], "certdeck");
    assert_eq!(p["TemplateCode"], "SMS_123");
    let tp: Value = serde_json::from_str(&p["TemplateParam"]).unwrap();
    assert!(tp["message"]
        .as_str()
        .unwrap()
        .starts_with("[certdeck] ERROR shop.example.com expires in 3 days"));
    assert!(!q.target.contains("aliyun-secret-key"));
    // recompute the RPC v1 signature over what arrived
    let sig = p.remove("Signature").unwrap();
    assert_eq!(
        sig,
        certdeck::engine::dnsapi::aliyun::signature("GET", &p, "aliyun-secret-key")
    );

    // throttled: transient; bad template: permanent
    let r = receiver(200, r#"{"Code":"isv.BUSINESS_LIMIT_CONTROL","Message":"limit"}"#).await;
    a.endpoint = r.base.clone();
    let e = deliver(&ChannelConfig::Sms(SmsSettings::Aliyun(a.clone())), &note("c"))
        .await
        .unwrap_err();
    assert!(e.transient, "{e}");
    let r = receiver(200, r#"{"Code":"isv.SMS_TEMPLATE_ILLEGAL","Message":"bad template"}"#).await;
    a.endpoint = r.base.clone();
    let e = deliver(&ChannelConfig::Sms(SmsSettings::Aliyun(a)), &note("c"))
        .await
        .unwrap_err();
    assert!(!e.transient && e.message.contains("SMS_TEMPLATE_ILLEGAL"), "{e}");
}
