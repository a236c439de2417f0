//! Issue 16: API key permissions. A `read` key may read everything its user may (lists, shows,
//! public certificate export) and no write gets past the service: refused with a message naming
//! read-only, before anything is changed (no row, no audit entry). A `read-write` key keeps what
//! keys could always do. `last_used_at` is written at most once a minute. Both backends, through
//! the service and through the binary.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use certdeck::domain::{ApiKeyPermissions, AuthType, ChannelType, TaskStatus, TaskType};
use certdeck::errors::ServiceError;
use certdeck::service::certificates::{CertChanges, ImportInput};
use certdeck::service::servers::ServerInput;
use certdeck::service::tasks::TaskInput;
use certdeck::service::Actor;
use certdeck::store::users as user_store;
use certdeck::store::Db;
use common::cli::{first_login, one_time_password, output};
use common::{audit_count, count, exec, TestDb, World};

/// The rows every refused write could have touched, and the audit log.
const COUNTED: &[&str] = &[
    "servers",
    "server_groups",
    "certificates",
    "alert_channels",
    "monitors",
    "tasks",
    "user_settings",
    "audit_logs",
];

/// Row counts of [`COUNTED`], in order.
async fn counts(db: &Db) -> Vec<i64> {
    let mut v = Vec::new();
    for t in COUNTED {
        v.push(count(db, &format!("SELECT COUNT(*) FROM {t}")).await);
    }
    v
}

/// A self-signed certificate and its key (PEM).
fn self_signed(name: &str) -> (String, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let c = rcgen::CertificateParams::new(vec![name.to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    (c.pem(), key.serialize_pem())
}

/// The actor of a new key of `owner` with `permissions`, and the key's row id.
async fn key_actor(w: &World, owner: &Actor, name: &str, permissions: ApiKeyPermissions) -> (Actor, i64) {
    let (row, secret) =
        w.s.apikey_create(owner, name, None, permissions, None)
            .await
            .unwrap_or_else(|e| panic!("[{}] create key {name}: {e}", w.label));
    assert_eq!(row.permissions, permissions, "[{}]", w.label);
    let a =
        w.s.authenticate_api_key(&format!("{}:{secret}", row.api_key))
            .await
            .unwrap_or_else(|e| panic!("[{}] authenticate {name}: {e}", w.label));
    (a, row.id)
}

/// A refusal of a read-only key, naming read-only and saying nothing changed.
fn read_only_refusal<T: std::fmt::Debug>(r: Result<T, ServiceError>, what: &str, label: &str) {
    match r {
        Err(ServiceError::Forbidden(m)) => assert!(
            m.contains("read-only") && m.contains("nothing was changed"),
            "[{label}] {what}: {m}"
        ),
        other => panic!("[{label}] {what}: expected the read-only refusal, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_read_only_key_reads_but_every_write_is_refused_before_anything_changes() {
    for t in common::both().await {
        let w = World::new(&t).await;
        let l = w.label;
        let s = &w.s;

        // Alice's own data, made in her session: a server, a certificate, a pending task.
        let server = s
            .server_create(
                &w.alice,
                &ServerInput {
                    hostname: Some("web1.perm.example.test".into()),
                    auth_type: Some(AuthType::Password),
                    username: Some("deploy".into()),
                    password: Some("s3cret-pass".into()),
                    ..Default::default()
                },
            )
            .await
            .unwrap_or_else(|e| panic!("[{l}] server: {e}"));
        let (cert_pem, key_pem) = self_signed("shop.perm.example.test");
        let cert = s
            .cert_import(
                &w.alice,
                &ImportInput {
                    certificate: cert_pem.clone().into_bytes(),
                    private_key: key_pem.clone().into_bytes(),
                    ..Default::default()
                },
            )
            .await
            .unwrap_or_else(|e| panic!("[{l}] import: {e}"));
        let check = |target: i64| TaskInput {
            task_type: Some(TaskType::ServerCheck),
            target_id: Some(target),
            ..Default::default()
        };
        let task = s
            .task_enqueue(&w.alice, &check(server.id))
            .await
            .unwrap_or_else(|e| panic!("[{l}] enqueue: {e}"));

        let (ro, _) = key_actor(&w, &w.alice, "dashboards", ApiKeyPermissions::Read).await;
        assert!(ro.read_only, "[{l}] a read key makes a read-only actor");
        assert!(!w.alice.read_only, "[{l}] a session is never read-only");

        // Every read works: lists, shows, the public certificate export.
        let page = certdeck::store::Page::first(50);
        assert_eq!(
            s.server_list(&ro, &Default::default(), page).await.unwrap().len(),
            1,
            "[{l}]"
        );
        assert_eq!(
            common::ids(&s.cert_list(&ro, &Default::default(), page).await.unwrap(), |c| c.id),
            vec![cert.id],
            "[{l}]"
        );
        assert_eq!(s.task_get(&ro, task.id).await.unwrap().task.id, task.id, "[{l}]");
        let export = s.cert_export(&ro, cert.id, false).await.unwrap();
        assert_eq!(export.certificate_pem.trim(), cert_pem.trim(), "[{l}]");
        assert!(export.private_key_pem.is_none(), "[{l}]");

        let before = counts(w.db()).await;
        let audit_before = audit_count(w.db()).await;

        // The writes, each with input that a read-write key would get through.
        read_only_refusal(
            s.server_create(
                &ro,
                &ServerInput {
                    hostname: Some("web2.perm.example.test".into()),
                    auth_type: Some(AuthType::Password),
                    username: Some("deploy".into()),
                    password: Some("s3cret-pass".into()),
                    ..Default::default()
                },
            )
            .await,
            "server add",
            l,
        );
        let (other_pem, other_key) = self_signed("other.perm.example.test");
        read_only_refusal(
            s.cert_import(
                &ro,
                &ImportInput {
                    certificate: other_pem.into_bytes(),
                    private_key: other_key.into_bytes(),
                    ..Default::default()
                },
            )
            .await,
            "cert import",
            l,
        );
        read_only_refusal(
            s.cert_update(
                &ro,
                cert.id,
                &CertChanges {
                    name: Some("renamed".into()),
                    ..Default::default()
                },
            )
            .await,
            "cert update",
            l,
        );
        read_only_refusal(s.cert_delete(&ro, cert.id).await, "cert rm", l);
        read_only_refusal(
            s.channel_create(
                &ro,
                "ops hook",
                ChannelType::Webhook,
                &serde_json::json!({"url": "https://192.0.2.10/hook"}),
            )
            .await,
            "channel add",
            l,
        );
        read_only_refusal(s.task_cancel(&ro, task.id).await, "task cancel", l);
        read_only_refusal(s.task_enqueue(&ro, &check(server.id)).await, "task enqueue", l);
        read_only_refusal(s.group_create(&ro, "edge", None).await, "group create", l);
        read_only_refusal(s.server_delete(&ro, server.id).await, "server rm", l);
        read_only_refusal(s.cert_renew(&ro, cert.id).await, "cert renew", l);
        read_only_refusal(
            s.user_setting_set(&ro, "ui.theme", "dark", certdeck::domain::SettingType::String)
                .await,
            "user setting",
            l,
        );
        read_only_refusal(s.server_host_key(&ro, server.id).await, "fetch a host key", l);
        let runners = certdeck::service::tasks::Runners::builtin();
        read_only_refusal(s.task_run_here(&ro, task.id, &runners).await, "run a task here", l);

        assert_eq!(counts(w.db()).await, before, "[{l}] {COUNTED:?}: nothing written");
        assert_eq!(audit_count(w.db()).await, audit_before, "[{l}] no audit entry");
        assert_eq!(
            s.task_get(&w.alice, task.id).await.unwrap().task.status,
            TaskStatus::Pending,
            "[{l}] the task was not cancelled"
        );
        assert_eq!(s.cert_get(&w.alice, cert.id).await.unwrap().name, None, "[{l}]");

        // A read-write key of the same user does what keys always could.
        let (rw, _) = key_actor(&w, &w.alice, "deploys", ApiKeyPermissions::ReadWrite).await;
        assert!(!rw.read_only, "[{l}]");
        let g = s
            .group_create(&rw, "edge", None)
            .await
            .unwrap_or_else(|e| panic!("[{l}] {e}"));
        assert_eq!(g.name, "edge", "[{l}]");
        let cancelled = s
            .task_cancel(&rw, task.id)
            .await
            .unwrap_or_else(|e| panic!("[{l}] {e}"));
        assert_eq!(cancelled.status, TaskStatus::Cancelled, "[{l}]");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn last_used_at_is_written_on_first_use_and_then_at_most_once_a_minute() {
    for t in common::both().await {
        let w = World::new(&t).await;
        let l = w.label;
        let (row, secret) =
            w.s.apikey_create(&w.bob, "poller", None, ApiKeyPermissions::Read, None)
                .await
                .unwrap();
        let cred = format!("{}:{secret}", row.api_key);
        assert!(row.last_used_at.is_none(), "[{l}] never used yet");
        let last_used = |id: i64| {
            let db = w.db().clone();
            async move { user_store::get_api_key(&db, id).await.unwrap().unwrap().last_used_at }
        };

        // First use: set to now.
        w.s.authenticate_api_key(&cred).await.unwrap();
        let first = last_used(row.id)
            .await
            .unwrap_or_else(|| panic!("[{l}] set on first use"));
        assert!((chrono::Utc::now() - first).num_seconds().abs() <= 5, "[{l}] {first}");

        // Used 30 seconds ago: a request now leaves the row alone.
        set_last_used(&t, row.id, 30).await;
        let recent = last_used(row.id).await.unwrap();
        for _ in 0..3 {
            w.s.authenticate_api_key(&cred).await.unwrap();
        }
        assert_eq!(
            last_used(row.id).await,
            Some(recent),
            "[{l}] not rewritten within a minute"
        );

        // Used 90 seconds ago: the next request records it again.
        set_last_used(&t, row.id, 90).await;
        let old = last_used(row.id).await.unwrap();
        w.s.authenticate_api_key(&cred).await.unwrap();
        let now = last_used(row.id).await.unwrap();
        assert!(
            now > old && (chrono::Utc::now() - now).num_seconds().abs() <= 5,
            "[{l}] {old} -> {now}"
        );
    }
}

/// Sets a key's `last_used_at` to `secs` seconds ago, in the backend's own clock.
async fn set_last_used(t: &TestDb, id: i64, secs: i64) {
    let sql = match t.db {
        Db::MySql(_) => {
            format!("UPDATE api_keys SET last_used_at = UTC_TIMESTAMP() - INTERVAL {secs} SECOND WHERE id = {id}")
        }
        Db::Sqlite(_) => {
            format!("UPDATE api_keys SET last_used_at = datetime('now', '-{secs} seconds') WHERE id = {id}")
        }
    };
    assert_eq!(exec(&t.db, &sql).await, 1);
}

// ------------------------------------------------------------------ through the binary

/// The CLI on `url` with its data dir in `home/data`, config dir `home/<cfg>` and, when given,
/// `CERTDECK_API_KEY`.
fn certdeck(home: &Path, url: &str, cfg: &str, args: &[&str], stdin: Option<&str>, key: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_certdeck"));
    cmd.arg("--database-url")
        .arg(url)
        .args(args)
        .env("CERTDECK_DATA_DIR", home.join("data"))
        .env("CERTDECK_CONFIG_DIR", home.join(cfg))
        .env_remove("CERTDECK_DATABASE_URL")
        .env_remove("CERTDECK_MASTER_KEY");
    match key {
        Some(k) => cmd.env("CERTDECK_API_KEY", k),
        None => cmd.env_remove("CERTDECK_API_KEY"),
    };
    output(&mut cmd, stdin)
}

fn said(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn json(o: &Output) -> serde_json::Value {
    assert!(o.status.success(), "{}", said(o));
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", said(o)))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cli_with_a_read_only_key_lists_and_exports_but_refuses_writes_with_exit_4() {
    for t in common::both().await {
        let l = t.label();
        let dir = tempfile::tempdir().unwrap();
        let h = dir.path();
        let url = t.url.clone();
        let admin = |args: &[&str], stdin: Option<&str>| certdeck(h, &url, "config", args, stdin, None);
        let init = admin(&["init"], None);
        assert!(init.status.success(), "[{l}] init: {}", said(&init));
        first_login(&one_time_password(&String::from_utf8_lossy(&init.stderr)), |a, i| {
            admin(a, i)
        });

        // The admin's data: a server, a certificate, a pending task.
        let srv = json(&admin(
            &[
                "--json",
                "server",
                "add",
                "web1.cli.example.test",
                "--user",
                "deploy",
                "--password-stdin",
            ],
            Some("s3cret-pass\n"),
        ));
        let server_id = srv["id"].as_i64().unwrap().to_string();
        let (cert_pem, key_pem) = self_signed("shop.cli.example.test");
        let cert_file = h.join("cert.pem");
        std::fs::write(&cert_file, &cert_pem).unwrap();
        let cert_s = cert_file.to_str().unwrap();
        let imported = json(&admin(
            &["--json", "cert", "import", "--cert", cert_s, "--key", "-"],
            Some(&key_pem),
        ));
        let cert_id = imported["id"].as_i64().unwrap().to_string();
        let task = json(&admin(
            &[
                "--json",
                "task",
                "enqueue",
                "--type",
                "server_check",
                "--target",
                &server_id,
            ],
            None,
        ));
        let task_id = task["id"].as_i64().unwrap().to_string();

        // Keys: read-only and read-write; the list and the created view show which.
        let ro = json(&admin(
            &["--json", "apikey", "create", "dashboards", "--read-only"],
            None,
        ));
        assert_eq!(ro["permissions"], "read", "[{l}] {ro}");
        let ro_cred = ro["credential"].as_str().unwrap().to_string();
        let rw_text = admin(&["apikey", "create", "deploys"], None);
        let rw_said = said(&rw_text);
        assert!(
            rw_text.status.success() && rw_said.contains("read-write"),
            "[{l}] {rw_said}"
        );
        let rw_cred = rw_said
            .lines()
            .find_map(|x| x.strip_prefix("use it as: CERTDECK_API_KEY="))
            .unwrap_or_else(|| panic!("[{l}] {rw_said}"))
            .to_string();
        let listed = json(&admin(&["--json", "apikey", "list"], None));
        let perms: Vec<&str> = listed
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["permissions"].as_str().unwrap())
            .collect();
        assert_eq!(perms, vec!["read-write", "read"], "[{l}] newest first: {listed}");
        let table = said(&admin(&["apikey", "list"], None));
        assert!(
            table.contains("PERMISSIONS") && table.contains("read-write"),
            "[{l}] {table}"
        );

        let ro_run = |args: &[&str], stdin: Option<&str>| certdeck(h, &url, "ro-config", args, stdin, Some(&ro_cred));
        let ro_id = ro["id"].as_i64().unwrap();
        assert_eq!(
            user_store::get_api_key(&t.db, ro_id)
                .await
                .unwrap()
                .unwrap()
                .last_used_at,
            None,
            "[{l}] not used yet"
        );

        // Reads work, and whoami says what the key is.
        let who = json(&ro_run(&["--json", "whoami"], None));
        assert_eq!(
            (&who["role"], &who["read_only"]),
            (&"api".into(), &true.into()),
            "[{l}] {who}"
        );
        let certs = json(&ro_run(&["--json", "cert", "list"], None));
        assert_eq!(certs.as_array().unwrap().len(), 1, "[{l}] {certs}");
        let servers = json(&ro_run(&["--json", "server", "list"], None));
        assert_eq!(servers.as_array().unwrap().len(), 1, "[{l}] {servers}");
        let shown = ro_run(&["cert", "export", &cert_id], None);
        assert!(
            shown.status.success() && String::from_utf8_lossy(&shown.stdout).contains("BEGIN CERTIFICATE"),
            "[{l}] {}",
            said(&shown)
        );
        assert!(
            user_store::get_api_key(&t.db, ro_id)
                .await
                .unwrap()
                .unwrap()
                .last_used_at
                .is_some(),
            "[{l}] set on first use"
        );

        let before = counts(&t.db).await;
        let (other_pem, other_key) = self_signed("other.cli.example.test");
        let other_file = h.join("other.pem");
        std::fs::write(&other_file, other_pem).unwrap();
        let other_s = other_file.to_str().unwrap();
        let writes: Vec<(Vec<&str>, Option<&str>)> = vec![
            (
                vec![
                    "server",
                    "add",
                    "web2.cli.example.test",
                    "--user",
                    "deploy",
                    "--password-stdin",
                ],
                Some("s3cret-pass\n"),
            ),
            (
                vec!["cert", "import", "--cert", other_s, "--key", "-"],
                Some(&other_key),
            ),
            (
                vec![
                    "channel",
                    "add",
                    "ops hook",
                    "--type",
                    "webhook",
                    "--settings",
                    r#"{"url":"https://192.0.2.10/hook"}"#,
                ],
                None,
            ),
            (vec!["task", "cancel", &task_id], None),
            (
                vec!["task", "enqueue", "--type", "server_check", "--target", &server_id],
                None,
            ),
            (vec!["group", "create", "edge"], None),
            (vec!["cert", "rm", &cert_id], None),
        ];
        for (args, stdin) in &writes {
            let o = ro_run(args, *stdin);
            let m = said(&o);
            assert_eq!(o.status.code(), Some(4), "[{l}] {args:?}: {m}");
            assert!(
                m.contains("read-only") && m.contains("nothing was changed"),
                "[{l}] {args:?}: {m}"
            );
        }
        assert_eq!(counts(&t.db).await, before, "[{l}] {COUNTED:?}: nothing written");
        let status: String =
            common::text_with(&t.db, "SELECT status FROM tasks WHERE id = ?", task_id.parse().unwrap()).await;
        assert_eq!(status, "pending", "[{l}] the task was not cancelled");

        // The read-write key still writes.
        let rw_run = |args: &[&str]| certdeck(h, &url, "rw-config", args, None, Some(&rw_cred));
        let g = rw_run(&["group", "create", "edge"]);
        assert!(g.status.success(), "[{l}] {}", said(&g));
        let c = rw_run(&["task", "cancel", &task_id]);
        assert!(c.status.success(), "[{l}] {}", said(&c));
        assert_eq!(
            count(&t.db, "SELECT COUNT(*) FROM server_groups").await,
            before[1] + 1,
            "[{l}]"
        );
    }
}
