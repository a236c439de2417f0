//! Issue 14 §6, every credential sealed in every copy, played on both backends (SQLite always,
//! the bed's MariaDB through `common::both()`):
//! - token-bearing channel URLs (DingTalk, Feishu, WeCom, ServerChan, Slack, an SMS gateway) and
//!   webhook header values never appear in the database row, `channel list/show --json`, `audit
//!   list --json` or a backup file; `--reveal` shows them and is audited;
//! - a sealed value copied by SQL into another row or column does not open (a clear error);
//! - rows written by the previous version (plaintext channel settings, unbound `v1` envelopes,
//!   audit details holding URLs) are sealed by the one-time migration at open;
//! - a key rotation re-seals every sealed column bound to its place.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use aes_gcm::aead::{Aead, Generate, KeyInit};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine;
use certdeck::crypto::{Keyring, MasterKey};
use certdeck::domain::{AuthType, ChannelType, UserRole};
use certdeck::errors::ServiceError;
use certdeck::service::acme::Rfc2136Settings;
use certdeck::service::bootstrap::{self, KeySource, OpenOptions};
use certdeck::service::certificates::ImportInput;
use certdeck::service::secrets::{BOUND_VERSION, SECRETS_BOUND};
use certdeck::service::servers::ServerInput;
use certdeck::service::{Actor, Services};
use certdeck::store::secrets::SealedColumn;
use certdeck::store::{meta, Page, PoolSettings};
use common::{audit_all, exec_with, make_user, services_with, squash, text_with, TestDb, PW};
use serde_json::{json, Value};

/// Every token the channels below carry; none may appear outside a reveal.
const DING_TOKEN: &str = "dingtok5e7a1c0ffee0ddba11";
const FEISHU_TOKEN: &str = "feishuhook-3b9e2d7c-41aa";
const WECOM_KEY: &str = "wecomkey-7f3c9a51-2b64";
const SENDKEY: &str = "SCT271828sendkeyXYZ";
const SLACK_TOKEN: &str = "slackB0GUSt0kenQ9w8e7";
const SMS_KEY: &str = "smsgatewaykey0451";
const HEADER_TOKEN: &str = "hdr-bearer-9c8d7e6f5a4b";
const HEADER_TOKEN2: &str = "hdr-rotated-1a2b3c4d5e";
const SIGN_SECRET: &str = "SECsignsecret31415926";
const ALL_TOKENS: [&str; 9] = [
    DING_TOKEN,
    FEISHU_TOKEN,
    WECOM_KEY,
    SENDKEY,
    SLACK_TOKEN,
    SMS_KEY,
    HEADER_TOKEN,
    HEADER_TOKEN2,
    SIGN_SECRET,
];

fn b64(key: &MasterKey) -> String {
    key.to_base64().to_string()
}

/// Services whose key check value is stored, the way `open` does it (so the CLI accepts the key).
async fn keyed_services(t: &TestDb, key: &MasterKey) -> Services {
    let ring = bootstrap::load_keyring(&t.db, &KeySource::Env(b64(key)))
        .await
        .unwrap_or_else(|e| panic!("[{}] load_keyring: {e}", t.label()));
    services_with(t, ring)
}

fn leaks(text: &str) -> Vec<&'static str> {
    ALL_TOKENS.iter().copied().filter(|t| text.contains(t)).collect()
}

/// One channel of every token-bearing kind, owned by `owner`; returns (name, id) pairs.
async fn token_channels(s: &Services, owner: &Actor, l: &str) -> Vec<(&'static str, i64)> {
    let specs: Vec<(&str, ChannelType, Value)> = vec![
        (
            "dingtalk",
            ChannelType::Webhook,
            json!({"flavor": "dingtalk", "secret": SIGN_SECRET,
                   "url": format!("https://oapi.dingtalk.com/robot/send?access_token={DING_TOKEN}"),
                   "headers": {"X-Auth-Token": HEADER_TOKEN}}),
        ),
        (
            "feishu",
            ChannelType::Webhook,
            json!({"flavor": "feishu", "url": format!("https://open.feishu.cn/open-apis/bot/v2/hook/{FEISHU_TOKEN}")}),
        ),
        (
            "wecom",
            ChannelType::Wechat,
            json!({"flavor": "wecom", "webhook_url": format!("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={WECOM_KEY}")}),
        ),
        (
            "serverchan",
            ChannelType::Wechat,
            json!({"flavor": "serverchan", "webhook_url": format!("https://sctapi.ftqq.com/{SENDKEY}.send")}),
        ),
        (
            "slack",
            ChannelType::Slack,
            json!({"webhook_url": format!("https://hooks.slack.com/services/T0001/B0001/{SLACK_TOKEN}")}),
        ),
        (
            "sms",
            ChannelType::Sms,
            json!({"gateway_url": format!("https://sms.example.com/send?apikey={SMS_KEY}"), "phones": "+8613800000000"}),
        ),
    ];
    let mut out = Vec::new();
    for (name, t, cfg) in specs {
        let c = s
            .channel_create(owner, name, t, &cfg)
            .await
            .unwrap_or_else(|e| panic!("[{l}] channel {name}: {e}"));
        out.push((name, c.id));
    }
    out
}

fn certdeck(home: &Path, url: &str, key: &MasterKey, args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_certdeck"));
    cmd.arg("--database-url")
        .arg(url)
        .args(args)
        .env("CERTDECK_DATA_DIR", home.join("data"))
        .env("CERTDECK_CONFIG_DIR", home.join("config"))
        .env("CERTDECK_MASTER_KEY", b64(key))
        .env_remove("CERTDECK_DATABASE_URL")
        .env_remove("CERTDECK_API_KEY");
    common::cli::output(&mut cmd, stdin)
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn all_out(o: &Output) -> String {
    format!("{}{}", out(o), String::from_utf8_lossy(&o.stderr))
}

#[tokio::test(flavor = "multi_thread")]
async fn token_urls_and_header_values_never_leave_the_seal_without_an_audited_reveal() {
    for t in common::both().await {
        let l = t.label();
        let key = MasterKey::generate();
        let s = keyed_services(&t, &key).await;
        let (_, admin) = make_user(&s, &t, None, "root", UserRole::Admin).await;
        let (_, carol) = make_user(&s, &t, Some(&admin), "carol", UserRole::User).await;
        let channels = token_channels(&s, &carol, l).await;
        let ding = channels[0].1;
        // An edit that replaces a header value is audited too.
        s.channel_update(
            &carol,
            ding,
            None,
            Some(&json!({"flavor": "dingtalk", "secret": SIGN_SECRET,
                         "url": format!("https://oapi.dingtalk.com/robot/send?access_token={DING_TOKEN}"),
                         "headers": {"X-Auth-Token": HEADER_TOKEN2}})),
            None,
        )
        .await
        .unwrap_or_else(|e| panic!("[{l}] update: {e}"));

        // An edit that leaves the sealed fields out keeps them (no reveal needed to edit);
        // `null` removes one.
        let feishu_url = format!("https://open.feishu.cn/open-apis/bot/v2/hook/{FEISHU_TOKEN}");
        for (fields, expected, what) in [
            (
                json!({"flavor": "feishu", "secret": "fs-sign-1"}),
                json!({"url": feishu_url, "secret": "fs-sign-1"}),
                "the URL is kept, the new secret added",
            ),
            (
                json!({"flavor": "feishu", "secret": null}),
                json!({"url": feishu_url}),
                "null removed the secret, the URL is still kept",
            ),
        ] {
            s.channel_update(&carol, channels[1].1, None, Some(&fields), None)
                .await
                .unwrap_or_else(|e| panic!("[{l}] update {fields}: {e}"));
            let feishu = s.channel_get(&carol, channels[1].1, true).await.unwrap();
            assert_eq!(feishu.secrets, Some(expected), "[{l}] {what}");
        }

        // The rows.
        for (name, id) in &channels {
            let raw = text_with(
                &t.db,
                "SELECT CAST(config AS CHAR) FROM alert_channels WHERE id = ?",
                *id,
            )
            .await;
            assert!(
                leaks(&raw).is_empty(),
                "[{l}] {name}: the row holds {:?}: {raw}",
                leaks(&raw)
            );
            let v: Value = serde_json::from_str(&raw).unwrap();
            assert!(
                v["secrets"].as_str().is_some_and(|e| e.starts_with("v2:")),
                "[{l}] {name}: a bound envelope: {raw}"
            );
        }

        // The service views (what `--json` prints) without reveal.
        let listed = serde_json::to_string(&s.channel_list(&carol, Page::default()).await.unwrap()).unwrap();
        assert!(leaks(&listed).is_empty(), "[{l}] list leaks {:?}", leaks(&listed));
        let shown = s.channel_get(&carol, ding, false).await.unwrap();
        let mut names = shown.secret_fields.clone();
        names.sort();
        assert_eq!(
            names,
            vec!["headers", "secret", "url"],
            "[{l}] names of the sealed fields"
        );
        assert!(
            leaks(&serde_json::to_string(&shown).unwrap()).is_empty(),
            "[{l}] show leaks"
        );
        assert!(leaks(&format!("{shown:?}")).is_empty(), "[{l}] Debug leaks");

        // The audit trail.
        let audit = serde_json::to_string(&audit_all(&s, &admin).await).unwrap();
        assert!(leaks(&audit).is_empty(), "[{l}] audit leaks {:?}", leaks(&audit));

        // A backup file, all of it (the plain part holds sealed envelopes only).
        let dir = tempfile::tempdir().unwrap();
        let report = s.backup_to_file(&dir.path().join("b.jsonl.gz")).await.unwrap();
        let mut text = String::new();
        std::io::Read::read_to_string(
            &mut flate2::read::GzDecoder::new(std::fs::File::open(&report.path).unwrap()),
            &mut text,
        )
        .unwrap();
        assert!(text.contains("alert_channels"), "[{l}] the backup has the channels");
        assert!(leaks(&text).is_empty(), "[{l}] the backup leaks {:?}", leaks(&text));

        // The CLI, as carol and as the admin: list/show --json and audit list --json hide them;
        // show --reveal shows them and leaves an audit row.
        let home = tempfile::tempdir().unwrap();
        let h = home.path();
        let login = certdeck(
            h,
            &t.url,
            &key,
            &["login", "-u", "carol", "--password-stdin"],
            Some(&format!("{PW}\n")),
        );
        assert!(login.status.success(), "[{l}] login: {}", all_out(&login));
        for args in [
            vec!["channel", "list", "--json"],
            vec!["channel", "show", &ding.to_string(), "--json"],
            vec!["channel", "show", &ding.to_string()],
            vec!["channel", "list"],
        ] {
            let o = certdeck(h, &t.url, &key, &args, None);
            assert!(o.status.success(), "[{l}] {args:?}: {}", all_out(&o));
            assert!(
                leaks(&all_out(&o)).is_empty(),
                "[{l}] {args:?} prints {:?}",
                leaks(&all_out(&o))
            );
        }
        let before = count_reveals(&t).await;
        let o = certdeck(
            h,
            &t.url,
            &key,
            &["channel", "show", &ding.to_string(), "--reveal", "--json"],
            None,
        );
        assert!(o.status.success(), "[{l}] reveal: {}", all_out(&o));
        let revealed: Value = serde_json::from_str(&out(&o)).unwrap();
        assert_eq!(
            revealed["secrets"]["url"],
            format!("https://oapi.dingtalk.com/robot/send?access_token={DING_TOKEN}"),
            "[{l}] the reveal shows the URL"
        );
        assert_eq!(
            revealed["secrets"]["headers"]["X-Auth-Token"], HEADER_TOKEN2,
            "[{l}] and the header value"
        );
        assert_eq!(count_reveals(&t).await, before + 1, "[{l}] the reveal is audited");

        let admin_home = tempfile::tempdir().unwrap();
        let ah = admin_home.path();
        let login = certdeck(
            ah,
            &t.url,
            &key,
            &["login", "-u", "root", "--password-stdin"],
            Some(&format!("{PW}\n")),
        );
        assert!(login.status.success(), "[{l}] admin login: {}", all_out(&login));
        let o = certdeck(ah, &t.url, &key, &["audit", "list", "--json"], None);
        assert!(o.status.success(), "[{l}] audit list: {}", all_out(&o));
        assert!(out(&o).contains("channel.reveal"), "[{l}] the reveal is listed");
        assert!(out(&o).contains("channel.update"), "[{l}] the update is listed");
        assert!(
            leaks(&out(&o)).is_empty(),
            "[{l}] audit list --json prints {:?}",
            leaks(&out(&o))
        );
    }
}

async fn count_reveals(t: &TestDb) -> i64 {
    common::count(&t.db, "SELECT COUNT(*) FROM audit_logs WHERE action = 'channel.reveal'").await
}

const SSH_PW_A: &str = "ssh-pw-of-server-a-1";
const SSH_PW_B: &str = "ssh-pw-of-server-b-2";

async fn password_server(s: &Services, owner: &Actor, host: &str, pw: &str) -> i64 {
    s.server_create(
        owner,
        &ServerInput {
            hostname: Some(host.into()),
            username: Some("deploy".into()),
            password: Some(pw.into()),
            auth_type: Some(AuthType::Password),
            ..Default::default()
        },
    )
    .await
    .unwrap_or_else(|e| panic!("server {host}: {e}"))
    .id
}

async fn import_cert(s: &Services, owner: &Actor, name: &str) -> (i64, String) {
    let ck = rcgen::generate_simple_self_signed(vec![name.into()]).unwrap();
    let key_pem = ck.signing_key.serialize_pem();
    let id = s
        .cert_import(
            owner,
            &ImportInput {
                certificate: ck.cert.pem().into_bytes(),
                private_key: key_pem.clone().into_bytes(),
                ..Default::default()
            },
        )
        .await
        .unwrap_or_else(|e| panic!("import {name}: {e}"))
        .id;
    (id, key_pem)
}

fn assert_copied_error(l: &str, what: &str, e: &str) {
    assert!(
        e.contains("failed authentication") && e.contains("copied"),
        "[{l}] {what}: expected the clear 'copied from another row or column' error, got: {e}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sealed_value_copied_into_another_row_or_column_does_not_open() {
    for t in common::both().await {
        let l = t.label();
        let key = MasterKey::generate();
        let s = keyed_services(&t, &key).await;
        let (_, admin) = make_user(&s, &t, None, "root", UserRole::Admin).await;
        let (_, mallory) = make_user(&s, &t, Some(&admin), "mallory", UserRole::User).await;
        let (_, victim) = make_user(&s, &t, Some(&admin), "victim", UserRole::User).await;

        // Another row: the victim's server password copied onto mallory's server, whose
        // connection would then log in with it.
        let a = password_server(&s, &victim, "a.seal.example.com", SSH_PW_A).await;
        let b = password_server(&s, &mallory, "b.seal.example.com", SSH_PW_B).await;
        let a_env = text_with(&t.db, "SELECT password_encrypted FROM servers WHERE id = ?", a).await;
        exec_with(
            &t.db,
            "UPDATE servers SET password_encrypted = ? WHERE id = ?",
            (&a_env, b),
        )
        .await;
        let row = s.server_get(&mallory, b).await.unwrap();
        let e = match s.ssh_connect(&row).await {
            Ok(_) => panic!("[{l}] a copied password must not open"),
            Err(e) => e.to_string(),
        };
        assert_copied_error(l, "server password from another row", &e);
        assert!(!e.contains(SSH_PW_A), "[{l}] the error shows no secret");

        // Another column of the same row: the password as the token.
        let keyring = s.keyring();
        let stored_a = text_with(&t.db, "SELECT password_encrypted FROM servers WHERE id = ?", a).await;
        assert_eq!(
            &*keyring
                .open_string(&SealedColumn::ServerPassword.place(a), &stored_a)
                .unwrap(),
            SSH_PW_A,
            "[{l}] the original opens at its place"
        );
        exec_with(
            &t.db,
            "UPDATE servers SET token_encrypted = password_encrypted WHERE id = ?",
            a,
        )
        .await;
        let tok = text_with(&t.db, "SELECT token_encrypted FROM servers WHERE id = ?", a).await;
        let e = keyring
            .open(&SealedColumn::ServerToken.place(a), &tok)
            .unwrap_err()
            .to_string();
        assert_copied_error(l, "password as token", &e);

        // A certificate key copied onto another certificate: export refuses it, never garbage.
        let (ca, _) = import_cert(&s, &victim, "victim.seal.example.com").await;
        let (cb, mallory_key) = import_cert(&s, &mallory, "mallory.seal.example.com").await;
        let env = text_with(&t.db, "SELECT private_key_encrypted FROM certificates WHERE id = ?", ca).await;
        exec_with(
            &t.db,
            "UPDATE certificates SET private_key_encrypted = ? WHERE id = ?",
            (&env, cb),
        )
        .await;
        let e = match s.cert_export(&mallory, cb, true).await {
            Ok(x) => panic!(
                "[{l}] a copied key exported: {}",
                x.private_key_pem.as_deref().map(squash).unwrap_or_default() == squash(&mallory_key)
            ),
            Err(e) => e,
        };
        assert!(matches!(e, ServiceError::Internal(_)), "[{l}] {e:?}");
        assert_copied_error(l, "certificate key", &e.to_string());
        // A server's sealed password pasted into a certificate's key column.
        exec_with(
            &t.db,
            "UPDATE certificates SET private_key_encrypted = ? WHERE id = ?",
            (&a_env, cb),
        )
        .await;
        assert_copied_error(
            l,
            "password as certificate key",
            &s.cert_export(&mallory, cb, true).await.unwrap_err().to_string(),
        );

        // A channel's sealed secrets copied onto another channel: the reveal and the sender refuse.
        let chans = token_channels(&s, &victim, l).await;
        let mine = s
            .channel_create(
                &mallory,
                "mine",
                ChannelType::Webhook,
                &json!({"url": "https://hooks.example.com/m"}),
            )
            .await
            .unwrap();
        let cfg = text_with(
            &t.db,
            "SELECT CAST(config AS CHAR) FROM alert_channels WHERE id = ?",
            chans[0].1,
        )
        .await;
        exec_with(
            &t.db,
            "UPDATE alert_channels SET config = ? WHERE id = ?",
            (&cfg, mine.id),
        )
        .await;
        let e = s.channel_get(&mallory, mine.id, true).await.unwrap_err().to_string();
        assert_copied_error(l, "channel secrets", &e);
        assert!(leaks(&e).is_empty(), "[{l}] {e}");
        let e = s.channel_test(&mallory, mine.id).await.unwrap_err().to_string();
        assert_copied_error(l, "channel test", &e);
        // The list still shows the channel, with the reason and no value; a full edit repairs it.
        let listed = s.channel_list(&mallory, Page::default()).await.unwrap();
        let broken = listed.iter().find(|c| c.id == mine.id).unwrap();
        assert_copied_error(l, "listed channel", broken.secrets_error.as_deref().unwrap_or_default());
        assert!(
            broken.secret_fields.is_empty() && broken.secrets.is_none(),
            "[{l}] {broken:?}"
        );
        assert!(leaks(&serde_json::to_string(&listed).unwrap()).is_empty(), "[{l}]");
        s.channel_update(
            &mallory,
            mine.id,
            None,
            Some(&json!({"url": "https://hooks.example.com/m2"})),
            None,
        )
        .await
        .unwrap_or_else(|e| panic!("[{l}] repair: {e}"));
        let repaired = s.channel_get(&mallory, mine.id, true).await.unwrap();
        assert_eq!(
            repaired.secrets,
            Some(json!({"url": "https://hooks.example.com/m2"})),
            "[{l}] nothing of the victim's secrets carried over"
        );
        // The victim's channel still works: nothing of theirs changed.
        assert!(s.channel_get(&victim, chans[0].1, true).await.is_ok(), "[{l}]");
    }
}

/// A `v1` envelope, as certdeck sealed values before the place binding.
fn legacy_seal(key: &MasterKey, plaintext: &[u8]) -> String {
    let raw = base64::engine::general_purpose::STANDARD.decode(b64(key)).unwrap();
    let k: Key<Aes256Gcm> = <[u8; 32]>::try_from(raw.as_slice()).unwrap().into();
    let nonce = Nonce::generate();
    let ct = Aes256Gcm::new(&k).encrypt(&nonce, plaintext).unwrap();
    let mut body = nonce.to_vec();
    body.extend_from_slice(&ct);
    format!(
        "v1:{}:{}",
        key.key_id(),
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(body)
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn rows_of_the_previous_version_are_sealed_and_bound_by_the_migration_at_open() {
    for t in common::both().await {
        let l = t.label();
        let key = MasterKey::generate();
        let s = keyed_services(&t, &key).await;
        let (_, admin) = make_user(&s, &t, None, "root", UserRole::Admin).await;
        let (_, carol) = make_user(&s, &t, Some(&admin), "carol", UserRole::User).await;
        let server = password_server(&s, &carol, "old.seal.example.com", SSH_PW_A).await;
        let (cert, cert_key) = import_cert(&s, &carol, "old.seal.example.com").await;
        let ding = s
            .channel_create(
                &carol,
                "old ding",
                ChannelType::Webhook,
                &json!({"url": "https://hooks.example.com/x"}),
            )
            .await
            .unwrap()
            .id;

        // Rewrite them as the previous version stored them: unbound v1 envelopes, a channel whose
        // URL and headers are plain settings, and an audit entry that recorded them.
        let url = format!("https://oapi.dingtalk.com/robot/send?access_token={DING_TOKEN}");
        exec_with(
            &t.db,
            "UPDATE servers SET password_encrypted = ? WHERE id = ?",
            (&legacy_seal(&key, SSH_PW_A.as_bytes()), server),
        )
        .await;
        exec_with(
            &t.db,
            "UPDATE certificates SET private_key_encrypted = ? WHERE id = ?",
            (&legacy_seal(&key, cert_key.as_bytes()), cert),
        )
        .await;
        let old_cfg = json!({
            "settings": {"flavor": "dingtalk", "url": url, "headers": {"X-Auth-Token": HEADER_TOKEN}},
            "secrets": legacy_seal(&key, json!({"secret": SIGN_SECRET}).to_string().as_bytes()),
        });
        exec_with(
            &t.db,
            "UPDATE alert_channels SET config = ? WHERE id = ?",
            (&old_cfg.to_string(), ding),
        )
        .await;
        let old_details = json!({"name": "old ding", "type": "webhook", "settings": old_cfg["settings"]}).to_string();
        exec_with(
            &t.db,
            "INSERT INTO audit_logs (user_id, action, resource_type, resource_id, details) VALUES (?, 'channel.create', 'alert_channel', NULL, ?)",
            (carol.user_id, &old_details),
        )
        .await;
        // A damaged old value (fails authentication) must not keep the database from opening.
        let damaged = format!("v1:{}:{}", key.key_id(), "A".repeat(60));
        exec_with(
            &t.db,
            "UPDATE servers SET token_encrypted = ? WHERE id = ?",
            (&damaged, server),
        )
        .await;
        exec_with(&t.db, "DELETE FROM certdeck_meta WHERE meta_key = ?", SECRETS_BOUND).await;
        // Before the migration the current code refuses the unbound values (never opens them).
        assert!(
            matches!(s.channel_get(&carol, ding, true).await, Err(ServiceError::Internal(ref m)) if m.contains("unbound")),
            "[{l}] an unbound v1 value is refused"
        );

        // Opening the database (as every command does) runs the re-seal once.
        let opened = bootstrap::open(&OpenOptions {
            database_url: t.url.clone(),
            migrate: true,
            key: KeySource::Env(b64(&key)),
            pool: PoolSettings::default(),
            client: Default::default(),
        })
        .await
        .unwrap_or_else(|e| panic!("[{l}] open: {e}"));
        assert_eq!(
            meta::get(&t.db, SECRETS_BOUND).await.unwrap().as_deref(),
            Some(BOUND_VERSION),
            "[{l}] the re-seal is recorded"
        );

        let pw = text_with(&t.db, "SELECT password_encrypted FROM servers WHERE id = ?", server).await;
        assert!(pw.starts_with("v2:"), "[{l}] server password re-sealed: {pw}");
        assert_eq!(
            &*opened
                .keyring()
                .open_string(&SealedColumn::ServerPassword.place(server), &pw)
                .unwrap(),
            SSH_PW_A,
            "[{l}]"
        );
        let exported = opened.cert_export(&carol, cert, true).await.unwrap();
        assert_eq!(
            squash(exported.private_key_pem.as_deref().unwrap()),
            squash(&cert_key),
            "[{l}] certificate key re-sealed and bound"
        );
        let raw = text_with(
            &t.db,
            "SELECT CAST(config AS CHAR) FROM alert_channels WHERE id = ?",
            ding,
        )
        .await;
        assert!(
            leaks(&raw).is_empty(),
            "[{l}] the channel row still holds {:?}: {raw}",
            leaks(&raw)
        );
        let ch = opened.channel_get(&carol, ding, true).await.unwrap();
        assert_eq!(ch.settings, json!({"flavor": "dingtalk"}), "[{l}] plain settings only");
        assert_eq!(
            ch.secrets,
            Some(json!({"secret": SIGN_SECRET, "url": url, "headers": {"X-Auth-Token": HEADER_TOKEN}})),
            "[{l}] the URL and headers moved into the sealed secrets"
        );
        let audit = serde_json::to_string(&audit_all(&opened, &admin).await).unwrap();
        assert!(
            leaks(&audit).is_empty(),
            "[{l}] the old audit entry is redacted: {:?}",
            leaks(&audit)
        );

        // Idempotent: a second open changes nothing.
        let before = text_with(
            &t.db,
            "SELECT CAST(config AS CHAR) FROM alert_channels WHERE id = ?",
            ding,
        )
        .await;
        exec_with(&t.db, "DELETE FROM certdeck_meta WHERE meta_key = ?", SECRETS_BOUND).await;
        let report = opened.secrets_bind_places().await.unwrap().unwrap();
        assert_eq!(
            (report.rebound, report.channels_sealed, report.audit_redacted),
            (0, 0, 0),
            "[{l}] nothing left to do"
        );
        assert_eq!(report.unreadable.len(), 1, "[{l}] {:?}", report.unreadable);
        assert!(
            report.unreadable[0].contains(&format!("servers.token_encrypted of row {server}")),
            "[{l}] the damaged value is named: {:?}",
            report.unreadable
        );
        assert_eq!(
            text_with(&t.db, "SELECT token_encrypted FROM servers WHERE id = ?", server).await,
            damaged,
            "[{l}] and left as it was"
        );
        let after = text_with(
            &t.db,
            "SELECT CAST(config AS CHAR) FROM alert_channels WHERE id = ?",
            ding,
        )
        .await;
        assert_eq!(before, after, "[{l}] bound values are left alone");
        assert!(
            opened.secrets_bind_places().await.unwrap().is_none(),
            "[{l}] recorded: skipped"
        );
        opened.db().close().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn rotation_reseals_every_sealed_column_bound_to_its_place() {
    for t in common::both().await {
        let l = t.label();
        let old = MasterKey::generate();
        let s = keyed_services(&t, &old).await;
        let (_, admin) = make_user(&s, &t, None, "root", UserRole::Admin).await;
        let (_, carol) = make_user(&s, &t, Some(&admin), "carol", UserRole::User).await;

        // One value in every sealed column.
        let key_pem = rcgen::KeyPair::generate().unwrap().serialize_pem();
        let server = s
            .server_create(
                &carol,
                &ServerInput {
                    hostname: Some("rot.seal.example.com".into()),
                    username: Some("deploy".into()),
                    password: Some(SSH_PW_A.into()),
                    private_key: Some(key_pem.clone()),
                    key_passphrase: Some("pass-phrase-1".into()),
                    token: Some("agent-token-1".into()),
                    auth_type: Some(AuthType::Key),
                    ..Default::default()
                },
            )
            .await
            .unwrap_or_else(|e| panic!("[{l}] server: {e}"))
            .id;
        let (cert, cert_key) = import_cert(&s, &carol, "rot.seal.example.com").await;
        let hmac = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([7u8; 32]);
        s.ca_add(
            &carol,
            "private-ca",
            "https://acme.example.com/directory",
            None,
            true,
            Some(("kid-1", &hmac)),
        )
        .await
        .unwrap_or_else(|e| panic!("[{l}] ca: {e}"));
        let tsig = base64::engine::general_purpose::STANDARD.encode([9u8; 32]);
        let provider = s
            .dns_provider_add_rfc2136(
                &carol,
                "bind",
                &Rfc2136Settings {
                    server: "192.0.2.53:53".into(),
                    zone: "seal.example.com".into(),
                    key_name: "certdeck".into(),
                    algorithm: "hmac-sha256".into(),
                },
                &tsig,
            )
            .await
            .unwrap_or_else(|e| panic!("[{l}] dns provider: {e}"))
            .id;
        let channels = token_channels(&s, &carol, l).await;
        // An ACME account row, as the issuer stores it (sealed for its id).
        exec_with(
            &t.db,
            "INSERT INTO acme_accounts (user_id, directory_url, contact_email, account_url, credentials_encrypted, tos_agreed_at) \
             VALUES (?, 'https://acme.example.com/directory', 'ops@example.com', 'https://acme.example.com/acct/1', '', \
             '2026-01-01 00:00:00')",
            carol.user_id,
        )
        .await;
        let account: i64 = common::scalar(&t.db, "SELECT MAX(id) FROM acme_accounts", ()).await;
        let creds = r#"{"id":"https://acme.example.com/acct/1","key_pkcs8":"secret-account-key"}"#;
        let sealed = s
            .keyring()
            .seal(&SealedColumn::AcmeAccount.place(account), creds.as_bytes());
        exec_with(
            &t.db,
            "UPDATE acme_accounts SET credentials_encrypted = ? WHERE id = ?",
            (&sealed, account),
        )
        .await;
        let ca: i64 = common::scalar(&t.db, "SELECT MAX(id) FROM acme_cas", ()).await;

        let places: Vec<(SealedColumn, i64, Vec<u8>)> = vec![
            (SealedColumn::ServerPassword, server, SSH_PW_A.as_bytes().to_vec()),
            (SealedColumn::ServerPrivateKey, server, key_pem.as_bytes().to_vec()),
            (SealedColumn::ServerToken, server, b"agent-token-1".to_vec()),
            (SealedColumn::ServerKeyPassphrase, server, b"pass-phrase-1".to_vec()),
            (SealedColumn::CertificateKey, cert, cert_key.as_bytes().to_vec()),
            (SealedColumn::CaEabHmac, ca, hmac.as_bytes().to_vec()),
            (SealedColumn::AcmeAccount, account, creds.as_bytes().to_vec()),
            (
                SealedColumn::DnsProviderSecrets,
                provider,
                json!({"tsig_secret": tsig}).to_string().into_bytes(),
            ),
        ];
        let read = |col: SealedColumn, id: i64| {
            let (table, column) = col.table_column();
            let db = t.db.clone();
            async move {
                text_with(
                    &db,
                    &format!("SELECT CAST({column} AS CHAR) FROM {table} WHERE id = ?"),
                    id,
                )
                .await
            }
        };
        // Every column is covered by the list rotation walks.
        for col in SealedColumn::ALL {
            assert!(
                col == SealedColumn::ChannelSecrets || places.iter().any(|(c, _, _)| *c == col),
                "[{l}] the test covers {col:?}"
            );
        }

        let new = MasterKey::generate();
        let report = s
            .secrets_rotate(Some(&admin), &new)
            .await
            .unwrap_or_else(|e| panic!("[{l}] rotate: {e}"));
        assert_eq!(
            report.values,
            places.len() + channels.len(),
            "[{l}] every sealed value rotated"
        );

        let only_new = Keyring::single(new.clone());
        let only_old = Keyring::single(old.clone());
        let prefix = format!("v2:{}:", new.key_id());
        for (col, id, plain) in &places {
            let stored = read(*col, *id).await;
            assert!(stored.starts_with(&prefix), "[{l}] {col:?} under the new key: {stored}");
            let opened = only_new
                .open(&col.place(*id), &stored)
                .unwrap_or_else(|e| panic!("[{l}] {col:?} opens with the new key: {e}"));
            let opened_text = String::from_utf8(opened.to_vec()).unwrap();
            let expected = String::from_utf8(plain.clone()).unwrap();
            if *col == SealedColumn::DnsProviderSecrets {
                let got: Value = serde_json::from_str(&opened_text).unwrap();
                assert_eq!(got["tsig_secret"], json!(tsig), "[{l}] {col:?}");
            } else {
                assert_eq!(squash(&opened_text), squash(&expected), "[{l}] {col:?}");
            }
            assert!(
                only_old.open(&col.place(*id), &stored).is_err(),
                "[{l}] {col:?} not under the old key"
            );
            // Still bound: the rotated value does not open at another row.
            assert!(
                only_new.open(&col.place(*id + 1000), &stored).is_err(),
                "[{l}] {col:?} stays bound to its row"
            );
        }
        // The services on the new key use them: certificate export, channel reveal, the sender's view.
        let s_new = services_with(&t, only_new);
        let exported = s_new.cert_export(&carol, cert, true).await.unwrap();
        assert_eq!(
            squash(exported.private_key_pem.as_deref().unwrap()),
            squash(&cert_key),
            "[{l}]"
        );
        for (name, id) in &channels {
            let c = s_new
                .channel_get(&carol, *id, true)
                .await
                .unwrap_or_else(|e| panic!("[{l}] channel {name} after rotation: {e}"));
            assert!(c.secrets.is_some(), "[{l}] {name}");
        }
        let ding = s_new.channel_get(&carol, channels[0].1, true).await.unwrap();
        assert_eq!(ding.secrets.unwrap()["headers"]["X-Auth-Token"], HEADER_TOKEN, "[{l}]");
    }
}

/// A one-request HTTP receiver on loopback: returns the port and, once served, the request head.
async fn one_request_receiver() -> (u16, tokio::task::JoinHandle<String>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let (mut sock, _) = l.accept().await.unwrap();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let n = sock.read(&mut chunk).await.unwrap_or(0);
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&buf).to_string();
            let Some(end) = text.find("\r\n\r\n") else { continue };
            let len: usize = text[..end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap_or(0))
                })
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                break;
            }
        }
        let _ = sock
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 11\r\nconnection: close\r\n\r\n{\"ok\":true}")
            .await;
        let text = String::from_utf8_lossy(&buf).to_string();
        text.split("\r\n\r\n").next().unwrap_or_default().to_string()
    });
    (port, task)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sender_still_uses_the_sealed_url_and_header_values() {
    for t in common::both().await {
        let l = t.label();
        let key = MasterKey::generate();
        let s = keyed_services(&t, &key).await;
        let (_, admin) = make_user(&s, &t, None, "root", UserRole::Admin).await;
        let (_, carol) = make_user(&s, &t, Some(&admin), "carol", UserRole::User).await;
        let (port, seen) = one_request_receiver().await;
        let ch = s
            .channel_create(
                &carol,
                "local hook",
                ChannelType::Webhook,
                &json!({"url": format!("http://127.0.0.1:{port}/hook/{FEISHU_TOKEN}?access_token={DING_TOKEN}"),
                        "allow_http": true, "headers": {"X-Auth-Token": HEADER_TOKEN}}),
            )
            .await
            .unwrap_or_else(|e| panic!("[{l}] channel: {e}"));
        let raw = text_with(
            &t.db,
            "SELECT CAST(config AS CHAR) FROM alert_channels WHERE id = ?",
            ch.id,
        )
        .await;
        assert!(leaks(&raw).is_empty(), "[{l}] {raw}");
        let said = s
            .channel_test(&carol, ch.id)
            .await
            .unwrap_or_else(|e| panic!("[{l}] test send: {e}"));
        assert!(leaks(&said).is_empty(), "[{l}] the result names no token: {said}");
        let head = tokio::time::timeout(std::time::Duration::from_secs(10), seen)
            .await
            .expect("the receiver got a request")
            .unwrap();
        let request_line = head.lines().next().unwrap_or_default();
        assert!(
            request_line.contains(&format!("/hook/{FEISHU_TOKEN}?access_token={DING_TOKEN}")),
            "[{l}] the sealed URL is used: {request_line}"
        );
        assert!(
            head.to_ascii_lowercase()
                .contains(&format!("x-auth-token: {}", HEADER_TOKEN.to_ascii_lowercase())),
            "[{l}] the sealed header is sent: {head}"
        );
    }
}

/// Two hosts opening the same database at once both run the one-time re-seal: whichever writes
/// a row first wins it (each write is guarded by the value it read), neither fails to open, no
/// value ends up unreadable or unbound, and the re-seal is recorded.
#[tokio::test(flavor = "multi_thread")]
async fn two_hosts_re_sealing_at_once_leave_every_value_readable() {
    for t in common::both().await {
        let l = t.label();
        let key = MasterKey::generate();
        let s = keyed_services(&t, &key).await;
        let (_, admin) = make_user(&s, &t, None, "root", UserRole::Admin).await;
        let mut servers = Vec::new();
        for i in 0..40 {
            let pw = format!("race-pw-{i:03}");
            let id = password_server(&s, &admin, &format!("race{i}.seal.example.com"), &pw).await;
            exec_with(
                &t.db,
                "UPDATE servers SET password_encrypted = ? WHERE id = ?",
                (&legacy_seal(&key, pw.as_bytes()), id),
            )
            .await;
            servers.push((id, pw));
        }
        exec_with(&t.db, "DELETE FROM certdeck_meta WHERE meta_key = ?", SECRETS_BOUND).await;
        let opts = OpenOptions {
            database_url: t.url.clone(),
            migrate: true,
            key: KeySource::Env(b64(&key)),
            pool: PoolSettings::default(),
            client: Default::default(),
        };
        let (a, b) = tokio::join!(bootstrap::open(&opts), bootstrap::open(&opts));
        let a = a.unwrap_or_else(|e| panic!("[{l}] host A: {e}"));
        b.unwrap_or_else(|e| panic!("[{l}] host B: {e}"));
        // A later start finishes whatever a lost race left.
        let _ = bootstrap::open(&opts).await.unwrap();
        assert_eq!(
            meta::get(&t.db, SECRETS_BOUND).await.unwrap().as_deref(),
            Some(BOUND_VERSION),
            "[{l}] the re-seal is recorded"
        );
        for (id, pw) in &servers {
            let stored = text_with(&t.db, "SELECT password_encrypted FROM servers WHERE id = ?", *id).await;
            assert!(stored.starts_with("v2:"), "[{l}] server {id}: {stored}");
            assert_eq!(
                &*a.keyring()
                    .open_string(&SealedColumn::ServerPassword.place(*id), &stored)
                    .unwrap_or_else(|e| panic!("[{l}] server {id}: {e}")),
                pw.as_str()
            );
        }
    }
}
