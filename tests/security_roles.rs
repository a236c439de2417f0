//! Issue 14, sections 0, 3 and 4 played as attacks: destructive operations by api keys and user
//! sessions, one-time passwords that keep working, a user borrowing the operator's ssh-agent or
//! key files, and a host key that changes between the connection shown and the one pinned.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use certdeck::crypto::MasterKey;
use certdeck::domain::{ApiKeyPermissions, AuthType, UserRole};
use certdeck::errors::ServiceError;
use certdeck::service::onboarding::ImportDefaults;
use certdeck::service::servers::{ServerInput, HOST_CREDENTIALS_SETTING};
use certdeck::service::users::UserInput;
use certdeck::service::Actor;
use certdeck::store::{meta, migrate};
use common::bed::sshd;
use common::cli::{first_login, one_time_password, output};
use common::{audit_rows, count, count_with, World, PW};

// ------------------------------------------------------------------ helpers

/// An api-role actor: the admin's own API key.
async fn admin_api_key(w: &World) -> Actor {
    let (key, secret) =
        w.s.apikey_create(&w.admin, "ci", None, ApiKeyPermissions::ReadWrite, None)
            .await
            .unwrap();
    let api =
        w.s.authenticate_api_key(&format!("{}:{secret}", key.api_key))
            .await
            .unwrap();
    assert_eq!(api.role, UserRole::Api);
    api
}

fn forbidden(r: Result<impl std::fmt::Debug, ServiceError>, needle: &str, what: &str) {
    match r {
        Err(ServiceError::Forbidden(m)) => assert!(m.contains(needle), "{what}: {m}"),
        other => panic!("{what}: expected a refusal, got {other:?}"),
    }
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default()
}

/// The CLI with its data dir in `home/data` and its config (session) dir in `home/<cfg>`.
fn certdeck(home: &Path, cfg: &str, args: &[&str], stdin: Option<&str>, api_key: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_certdeck"));
    cmd.args(args)
        .env("CERTDECK_DATA_DIR", home.join("data"))
        .env("CERTDECK_CONFIG_DIR", home.join(cfg))
        .env_remove("CERTDECK_DATABASE_URL")
        .env_remove("CERTDECK_MASTER_KEY");
    match api_key {
        Some(k) => cmd.env("CERTDECK_API_KEY", k),
        None => cmd.env_remove("CERTDECK_API_KEY"),
    };
    output(&mut cmd, stdin)
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// `init` and the admin's first login (its one-time password replaced) in config dir `cfg`.
fn first_admin(home: &Path, cfg: &str) {
    let init = certdeck(home, cfg, &["init"], None, None);
    let (_, err) = text(&init);
    assert!(init.status.success(), "init: {err}");
    first_login(&one_time_password(&err), |args, stdin| {
        certdeck(home, cfg, args, stdin, None)
    });
}

fn applied_versions(home: &Path) -> usize {
    let st = certdeck(home, "config", &["--json", "db", "status"], None, None);
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&st.stdout).unwrap_or_default();
    rows.iter().filter(|r| r["applied"] == true).count()
}

// ------------------------------------------------------------------ §0 destructive operations

#[tokio::test(flavor = "multi_thread")]
async fn schema_rollback_is_for_admins_and_the_local_operator_and_backs_up_first() {
    for t in common::both().await {
        let w = World::new(&t).await;
        let l = w.label;
        let api = admin_api_key(&w).await;
        let dir = tempfile::tempdir().unwrap();
        let backups = dir.path().join("backups");
        let latest = migrate::latest_version(w.db().backend());
        let users = count(w.db(), "SELECT COUNT(*) FROM users").await;

        // The attack: `db rollback --to 0` with an api key, or by a user session.
        forbidden(
            w.s.schema_rollback(Some(&api), 0, &backups).await,
            "an API key may not roll back the schema",
            l,
        );
        forbidden(
            w.s.schema_rollback(Some(&w.alice), 0, &backups).await,
            "only an admin may roll back the schema",
            l,
        );
        assert_eq!(
            migrate::current_version(w.db()).await.unwrap(),
            latest,
            "[{l}] nothing undone"
        );
        assert_eq!(count(w.db(), "SELECT COUNT(*) FROM users").await, users, "[{l}]");
        assert!(files_in(&backups).is_empty(), "[{l}] nothing written");

        // An admin session: a backup first, then the undo.
        let r = w.s.schema_rollback(Some(&w.admin), 14, &backups).await.unwrap();
        assert_eq!((r.from, r.to), (latest, 14), "[{l}]");
        assert!(
            r.undone.contains(&16) && !r.undone.contains(&14),
            "[{l}] {:?}",
            r.undone
        );
        let backup = r.backup.expect("a backup is written first");
        assert_eq!(backup.parent(), Some(backups.as_path()), "[{l}]");
        let meta_data = std::fs::metadata(&backup).unwrap();
        assert!(meta_data.len() > 0, "[{l}]");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(meta_data.permissions().mode() & 0o777, 0o600, "[{l}] backup mode");
        }
        assert_eq!(migrate::current_version(w.db()).await.unwrap(), 14, "[{l}]");

        // The local operator (no session, no api key): allowed, and backed up again.
        let r = w.s.schema_rollback(None, 0, &backups).await.unwrap();
        assert!(r.backup.is_some(), "[{l}]");
        assert_eq!(files_in(&backups).len(), 2, "[{l}] one backup per rollback");
        assert_eq!(migrate::current_version(w.db()).await.unwrap(), 0, "[{l}]");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn restore_and_key_rotation_refuse_api_keys_and_users_and_change_nothing() {
    for t in common::both().await {
        let w = World::new(&t).await;
        let l = w.label;
        let api = admin_api_key(&w).await;
        let kcv = meta::get(w.db(), meta::MASTER_KEY_CHECK).await.unwrap();
        for (who, needle) in [(&api, "an API key may not"), (&w.alice, "only an admin may")] {
            forbidden(
                w.s.secrets_rotate(Some(who), &MasterKey::generate()).await,
                &format!("{needle} rotate the master key"),
                l,
            );
            // Refused before the file is even opened.
            forbidden(
                w.s.restore_from_file(Some(who), Path::new("/nonexistent/backup.jsonl.gz"))
                    .await,
                &format!("{needle} restore backups"),
                l,
            );
        }
        assert_eq!(
            meta::get(w.db(), meta::MASTER_KEY_CHECK).await.unwrap(),
            kcv,
            "[{l}] the key was not rotated"
        );
        // An admin and the local operator get past the check (restore then wants an empty database).
        for who in [Some(&w.admin), None] {
            let dir = tempfile::tempdir().unwrap();
            let file = dir.path().join("b.jsonl.gz");
            w.s.backup_to_file(&file).await.unwrap();
            match w.s.restore_from_file(who, &file).await {
                Err(ServiceError::Conflict(m)) => assert!(m.contains("empty database"), "[{l}] {m}"),
                other => panic!("[{l}] {other:?}"),
            }
        }
        for who in [Some(&w.admin), None] {
            let r = w.s.secrets_rotate(who, &MasterKey::generate()).await;
            assert!(
                !matches!(r, Err(ServiceError::Forbidden(_))),
                "[{l}] {who:?} may rotate: {r:?}"
            );
        }
    }
}

#[test]
fn cli_rollback_restore_and_rotate_ask_first_and_refuse_api_keys_and_user_sessions() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    first_admin(h, "config");
    let all = applied_versions(h);
    assert!(all >= 15, "{all}");
    // bob (a user, own config dir) and an api key of the admin.
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
        None,
    );
    assert!(create.status.success(), "{:?}", text(&create));
    let bob = certdeck(
        h,
        "bob",
        &["login", "-u", "bob", "--password-stdin", "--new-password-stdin"],
        Some("bob-one-time-1\nbob-own-password\n"),
        None,
    );
    assert!(bob.status.success(), "{:?}", text(&bob));
    let key = certdeck(h, "config", &["--json", "apikey", "create", "ci"], None, None);
    let v: serde_json::Value = serde_json::from_slice(&key.stdout).unwrap();
    let cred = v["credential"].as_str().unwrap().to_string();
    let master_key = std::fs::read(h.join("data/master.key")).unwrap();
    let backups = h.join("data/backups");

    let backup = certdeck(
        h,
        "config",
        &["db", "backup", "--out", h.join("b.gz").to_str().unwrap()],
        None,
        None,
    );
    assert!(backup.status.success(), "{:?}", text(&backup));
    let b_path = h.join("b.gz");
    let b = b_path.to_str().unwrap();
    let attacks: [&[&str]; 3] = [
        &["db", "rollback", "--to", "0", "--yes"],
        &["db", "restore", b, "--yes"],
        &["secrets", "rotate", "--yes"],
    ];
    for args in attacks {
        // An api key: refused, exit 4, nothing done.
        let o = certdeck(h, "nokey", args, None, Some(&cred));
        let (out, err) = text(&o);
        assert_eq!(o.status.code(), Some(4), "{args:?} with an api key: {out}{err}");
        assert!(
            err.contains("role api") && err.contains("admin session"),
            "{args:?}: {err}"
        );
        // A user session: refused the same way.
        let o = certdeck(h, "bob", args, None, None);
        let (out, err) = text(&o);
        assert_eq!(o.status.code(), Some(4), "{args:?} as bob: {out}{err}");
        assert!(
            err.contains("role user") && err.contains("admin session"),
            "{args:?}: {err}"
        );
        // An admin session, not on a terminal, without --yes: asks for --yes and does nothing
        // (a usage error, exit 2).
        let no_yes: Vec<&str> = args.iter().copied().filter(|a| *a != "--yes").collect();
        let o = certdeck(h, "config", &no_yes, None, None);
        let (out, err) = text(&o);
        assert_eq!(o.status.code(), Some(2), "{no_yes:?} without --yes: {out}{err}");
        assert!(
            err.contains("--yes") && err.contains("Nothing was changed"),
            "{no_yes:?}: {err}"
        );
    }
    assert_eq!(applied_versions(h), all, "no migration was undone");
    assert_eq!(
        std::fs::read(h.join("data/master.key")).unwrap(),
        master_key,
        "the key was not rotated"
    );
    assert!(files_in(&backups).is_empty(), "no rollback backup was written");

    // The admin, with --yes: a backup first, named, then the undo.
    let o = certdeck(h, "config", &["db", "rollback", "--to", "14", "--yes"], None, None);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}{err}");
    let written = out
        .lines()
        .find_map(|l| l.strip_prefix("backup written: "))
        .unwrap_or_else(|| panic!("where the backup went: {out}"));
    assert!(
        Path::new(written).exists() && written.starts_with(backups.to_str().unwrap()),
        "{out}"
    );
    assert!(out.contains("rolled back V19, V18, V17, V16"), "{out}");

    // The local operator (no session, no api key) may too.
    assert!(certdeck(h, "config", &["logout"], None, None).status.success());
    let o = certdeck(h, "config", &["db", "rollback", "--to", "13", "--yes"], None, None);
    assert!(o.status.success(), "{:?}", text(&o));
    assert_eq!(files_in(&backups).len(), 2);
}

// ------------------------------------------------------------------ §0 one-time passwords

#[tokio::test(flavor = "multi_thread")]
async fn one_time_passwords_must_be_replaced_before_anything_else_works() {
    for t in common::both().await {
        let w = World::new(&t).await;
        let l = w.label;
        let s = &w.s;
        // `user create` without a password: a generated one-time password.
        let (carol, otp) = s
            .user_create(
                Some(&w.admin),
                &UserInput {
                    username: "carol".into(),
                    email: "carol@example.com".into(),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let otp = otp.expect("a generated password");
        assert!(carol.must_change_password, "[{l}]");
        match s.login("carol", &otp).await {
            Err(ServiceError::PasswordChangeRequired(m)) => assert!(m.contains("one-time"), "[{l}] {m}"),
            other => panic!("[{l}] the one-time password alone logged in: {other:?}"),
        }
        let tokens = "SELECT COUNT(*) FROM user_tokens WHERE user_id = ?";
        assert_eq!(
            count_with(w.db(), tokens, carol.id).await,
            0,
            "[{l}] no session for carol"
        );
        // A wrong current password counts as a failed login; the same password is no new one.
        assert!(matches!(
            s.login_with_new_password("carol", "wrong password", "carol's own password")
                .await,
            Err(ServiceError::Unauthenticated(_))
        ));
        assert!(matches!(
            s.login_with_new_password("carol", &otp, &otp).await,
            Err(ServiceError::Validation { .. })
        ));
        let (actor, session) = s
            .login_with_new_password("carol", &otp, "carol's own password")
            .await
            .unwrap();
        assert_eq!(s.authenticate(&session.access_token).await.unwrap(), actor, "[{l}]");
        assert!(
            s.login("carol", &otp).await.is_err(),
            "[{l}] the one-time password works once"
        );
        s.login("carol", "carol's own password").await.unwrap();

        // An admin's reset is one-time again, and the service refuses the user's tokens until
        // the new password is set (here: a session that outlived the reset's revocation).
        let (_, live) = s.login("carol", "carol's own password").await.unwrap();
        s.user_set_password(&w.admin, "carol", None, "reset by the admin")
            .await
            .unwrap();
        assert!(matches!(
            s.login("carol", "reset by the admin").await,
            Err(ServiceError::PasswordChangeRequired(_))
        ));
        common::exec_with(
            w.db(),
            "UPDATE user_tokens SET is_revoked = FALSE WHERE user_id = ?",
            carol.id,
        )
        .await;
        assert!(matches!(
            s.authenticate(&live.access_token).await,
            Err(ServiceError::PasswordChangeRequired(_))
        ));
        assert!(s.refresh_session(&live).await.is_err(), "[{l}] no refresh either");
        s.login_with_new_password("carol", "reset by the admin", "carol's second password")
            .await
            .unwrap();

        // A user's own change is not one-time.
        s.user_set_password(&w.alice, "alice", Some(PW), "alice's new password")
            .await
            .unwrap();
        s.login("alice", "alice's new password").await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_first_admins_password_is_one_time_too() {
    let t = common::sqlite().await;
    let s = common::services(&t);
    let otp = certdeck::service::bootstrap::create_initial_admin(&s, "admin@example.com")
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(
        s.login("admin", &otp).await,
        Err(ServiceError::PasswordChangeRequired(_))
    ));
    assert_eq!(count(&t.db, "SELECT COUNT(*) FROM user_tokens").await, 0);
    s.login_with_new_password("admin", &otp, "the admin's own one")
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn api_users_have_no_password_at_all() {
    for t in common::both().await {
        let w = World::new(&t).await;
        let l = w.label;
        let input = |password: Option<&str>| UserInput {
            username: "robot".into(),
            email: "robot@example.com".into(),
            password: password.map(str::to_string),
            role: UserRole::Api,
            ..Default::default()
        };
        match w
            .s
            .user_create(Some(&w.admin), &input(Some("a password for a robot")))
            .await
        {
            Err(ServiceError::Validation { field, reason }) => {
                assert_eq!(field, "password", "[{l}]");
                assert!(reason.contains("API keys"), "[{l}] {reason}");
            }
            other => panic!("[{l}] {other:?}"),
        }
        let (robot, generated) = w.s.user_create(Some(&w.admin), &input(None)).await.unwrap();
        assert!(generated.is_none(), "[{l}] no password is generated or shown");
        assert!(!robot.must_change_password, "[{l}]");
        let hash = common::text_with(w.db(), "SELECT password_hash FROM users WHERE id = ?", robot.id).await;
        assert!(!hash.starts_with("$argon2"), "[{l}] no password hash: {hash}");
        assert!(w.s.login("robot", "").await.is_err(), "[{l}]");
        assert!(
            w.s.user_set_password(&w.admin, "robot", None, "a password for a robot")
                .await
                .is_err(),
            "[{l}] an api user gets no password later either"
        );
        // It works through API keys.
        let (key, secret) =
            w.s.apikey_create(&w.admin, "robot-key", None, ApiKeyPermissions::ReadWrite, Some("robot"))
                .await
                .unwrap();
        let a =
            w.s.authenticate_api_key(&format!("{}:{secret}", key.api_key))
                .await
                .unwrap();
        assert_eq!(a.username, "robot", "[{l}]");
        // A user made api loses its password and its sessions.
        let (_, alice_session) = w.s.login("alice", PW).await.unwrap();
        let to_api = certdeck::service::users::UserEdit {
            role: Some(UserRole::Api),
            ..Default::default()
        };
        w.s.user_update(&w.admin, "alice", &to_api).await.unwrap();
        assert!(w.s.authenticate(&alice_session.access_token).await.is_err(), "[{l}]");
        assert!(w.s.login("alice", PW).await.is_err(), "[{l}]");
    }
}

// ------------------------------------------------------------------ §3 operator credentials

/// A running ssh-agent holding the bed's key, exported as this process's SSH_AUTH_SOCK (each
/// test runs in its own process under nextest; only this test reads it).
struct Agent {
    child: std::process::Child,
    _dir: tempfile::TempDir,
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn agent_with(key: &str) -> Agent {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("agent.sock");
    let child = Command::new("ssh-agent")
        .args(["-D", "-a"])
        .arg(&sock)
        .stdout(Stdio::null())
        .spawn()
        .expect("ssh-agent");
    for _ in 0..50 {
        if sock.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let added = Command::new("ssh-add")
        .arg(key)
        .env("SSH_AUTH_SOCK", &sock)
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(added.success());
    std::env::set_var("SSH_AUTH_SOCK", &sock);
    Agent { child, _dir: dir }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_user_cannot_borrow_the_operators_ssh_agent_unless_an_admin_allows_it() {
    let Some(bed) = sshd() else { return };
    let t = common::sqlite().await;
    let w = World::new(&t).await;
    let _agent = agent_with(&bed.key).await;
    let agent_server = ServerInput {
        hostname: Some(bed.host.clone()),
        port: Some(i64::from(bed.port)),
        auth_type: Some(AuthType::Key),
        username: Some(bed.user.clone()),
        ..Default::default()
    };
    // The attack: alice adds a key server without a key, to run commands through the agent of
    // whoever claims her tasks.
    match w.s.server_create(&w.alice, &agent_server).await {
        Err(ServiceError::Validation { reason, .. }) => {
            assert!(
                reason.contains("ssh-agent") && reason.contains("--key-stdin"),
                "{reason}"
            )
        }
        other => panic!("a user's agent server was accepted: {other:?}"),
    }
    assert_eq!(count(w.db(), "SELECT COUNT(*) FROM servers").await, 0);
    // Nor by switching an existing password server to key auth without a key.
    let pw_server =
        w.s.server_create(
            &w.alice,
            &ServerInput {
                auth_type: Some(AuthType::Password),
                password: Some(bed.password.clone()),
                ..agent_server.clone()
            },
        )
        .await
        .unwrap();
    let switch = ServerInput {
        auth_type: Some(AuthType::Key),
        ..Default::default()
    };
    assert!(w.s.server_update(&w.alice, pw_server.id, &switch).await.is_err());

    // An admin allows alice explicitly (audited): her agent server works.
    w.s.setting_set(&w.admin, HOST_CREDENTIALS_SETTING, r#"["alice"]"#, None)
        .await
        .unwrap();
    let rows = audit_rows(&w, "setting.update").await;
    assert!(
        rows.iter().any(|r| r
            .details
            .as_ref()
            .is_some_and(|d| d.0["key"] == HOST_CREDENTIALS_SETTING)),
        "the allowance is audited"
    );
    let srv = w.s.server_create(&w.alice, &agent_server).await.unwrap();
    w.s.server_trust_host_key(&w.alice, srv.id, &bed.host_fp).await.unwrap();
    let srv = w.s.server_get(&w.alice, srv.id).await.unwrap();
    let session = w.s.ssh_connect(&srv).await.expect("allowed: agent auth");
    assert_eq!(session.run("id -un").await.unwrap().stdout.trim(), bed.user);
    session.close().await;

    // The allowance is withdrawn: the existing server is refused at the moment of use, before
    // anything is sent, with what to do instead.
    w.s.setting_set(&w.admin, HOST_CREDENTIALS_SETTING, "[]", None)
        .await
        .unwrap();
    let e = w.s.ssh_connect(&srv).await.err().expect("refused");
    let msg = e.to_string();
    assert!(msg.contains("ssh-agent") && msg.contains("store its key"), "{msg}");

    // An admin's own agent server keeps working.
    let own = w.s.server_create(&w.admin, &agent_server).await.unwrap();
    w.s.server_trust_host_key(&w.admin, own.id, &bed.host_fp).await.unwrap();
    let own = w.s.server_get(&w.admin, own.id).await.unwrap();
    w.s.ssh_connect(&own).await.expect("admin agent").close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn key_files_on_the_certdeck_host_are_read_only_for_admins_and_allowed_users() {
    let Some(bed) = sshd() else { return };
    let t = common::sqlite().await;
    let w = World::new(&t).await;
    let key = Path::new(&bed.key);

    forbidden(
        w.s.read_host_key_file(&w.alice, key).await,
        "store the key",
        "alice reads the operator's key file",
    );
    // The same through an ssh-config import and a CSV import: every line refused, nothing added.
    let cfg = format!(
        "Host stolen\n  HostName {}\n  Port {}\n  User {}\n  IdentityFile {}\n",
        bed.host, bed.port, bed.user, bed.key
    );
    let lines =
        w.s.servers_import_ssh_config(&w.alice, &cfg, &ImportDefaults::default())
            .await
            .unwrap();
    assert!(
        lines.iter().all(|l| l.added.is_none())
            && lines
                .iter()
                .any(|l| l.skipped.as_deref().is_some_and(|s| s.contains("store the key"))),
        "{lines:?}"
    );
    let csv = format!(
        "hostname,port,username,key_file\n{},{},{},{}\n",
        bed.host, bed.port, bed.user, bed.key
    );
    let lines =
        w.s.servers_import_csv(&w.alice, &csv, &ImportDefaults::default())
            .await
            .unwrap();
    assert!(
        lines.iter().all(|l| l.added.is_none())
            && lines
                .iter()
                .any(|l| l.skipped.as_deref().is_some_and(|s| s.contains("store the key"))),
        "{lines:?}"
    );
    assert_eq!(count(w.db(), "SELECT COUNT(*) FROM servers").await, 0);
    assert!(audit_rows(&w, "server.key_file_read").await.is_empty());

    // An admin may, audited with the path.
    let pem = w.s.read_host_key_file(&w.admin, key).await.unwrap();
    assert!(pem.contains("PRIVATE KEY"));
    // A user an admin lists may too.
    w.s.setting_set(&w.admin, HOST_CREDENTIALS_SETTING, r#"["alice"]"#, None)
        .await
        .unwrap();
    let lines =
        w.s.servers_import_csv(&w.alice, &csv, &ImportDefaults::default())
            .await
            .unwrap();
    assert!(lines.iter().all(|l| l.added.is_some()), "{lines:?}");
    let reads = audit_rows(&w, "server.key_file_read").await;
    assert_eq!(reads.len(), 2, "each read is audited");
    assert!(reads
        .iter()
        .all(|r| r.details.as_ref().is_some_and(|d| d.0["path"] == bed.key.as_str())));
    // A bad list is refused.
    assert!(w
        .s
        .setting_set(&w.admin, HOST_CREDENTIALS_SETTING, r#"{"alice": true}"#, None)
        .await
        .is_err());
}

// ------------------------------------------------------------------ §4 host keys

/// A TCP forwarder on a free port: the first connection goes to `first`, every later one to
/// `later` while `switch` is set (else to `first` too).
async fn forwarder(first: u16, later: u16, switch: Arc<AtomicBool>) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut n = 0u32;
        loop {
            let Ok((mut inbound, _)) = listener.accept().await else {
                return;
            };
            let to = if n > 0 && switch.load(Ordering::SeqCst) {
                later
            } else {
                first
            };
            n += 1;
            tokio::spawn(async move {
                if let Ok(mut out) = tokio::net::TcpStream::connect(("127.0.0.1", to)).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                }
            });
        }
    });
    port
}

/// A second sshd on the loopback with a host key of its own; killed on drop.
struct OtherSshd {
    child: std::process::Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for OtherSshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn other_sshd() -> OtherSshd {
    let dir = tempfile::tempdir().unwrap();
    let hk = dir.path().join("hostkey");
    let ok = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&hk)
        .status()
        .expect("ssh-keygen");
    assert!(ok.success());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cfg = dir.path().join("sshd_config");
    std::fs::write(
        &cfg,
        format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nPidFile {}\nUsePAM no\n",
            hk.display(),
            dir.path().join("pid").display()
        ),
    )
    .unwrap();
    let child = Command::new("/usr/sbin/sshd")
        .arg("-D")
        .arg("-f")
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start a second sshd");
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    OtherSshd { child, port, _dir: dir }
}

#[tokio::test(flavor = "multi_thread")]
async fn trust_hostkey_pins_the_key_it_showed_not_the_one_a_second_connection_presents() {
    let Some(bed) = sshd() else { return };
    let other = other_sshd().await;
    let switch = Arc::new(AtomicBool::new(true));
    let port = forwarder(bed.port, other.port, switch.clone()).await;
    let home = tempfile::tempdir().unwrap();
    let h = home.path().to_path_buf();
    let run = {
        let h = h.clone();
        move |args: Vec<String>, stdin: Option<String>| {
            let h = h.clone();
            tokio::task::spawn_blocking(move || {
                let a: Vec<&str> = args.iter().map(String::as_str).collect();
                certdeck(&h, "config", &a, stdin.as_deref(), None)
            })
        }
    };
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let hh = h.clone();
    tokio::task::spawn_blocking(move || first_admin(&hh, "config"))
        .await
        .unwrap();
    let add = run(
        s(&[
            "server",
            "add",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--user",
            &bed.user,
            "--password-stdin",
        ]),
        Some(format!("{}\n", bed.password)),
    )
    .await
    .unwrap();
    assert!(add.status.success(), "{:?}", text(&add));

    // The attack: the key shown (the bed's) is not the key the second connection presents.
    let o = run(s(&["server", "trust-hostkey", "1", "--yes"]), None).await.unwrap();
    let (out, err) = text(&o);
    // A conflict between the key shown and the key presented: exit 5.
    assert_eq!(o.status.code(), Some(5), "a key that changed was pinned: {out}{err}");
    assert!(err.contains(&bed.host_fp), "the shown key: {err}");
    assert!(err.contains("not trusted"), "{err}");
    let show = run(s(&["--json", "server", "show", "1"]), None).await.unwrap();
    let v: serde_json::Value = serde_json::from_slice(&show.stdout).unwrap();
    assert!(
        v["server"]["id"] == 1 && v["server"]["host_key_fingerprint"].is_null(),
        "nothing stored: {v}"
    );

    // A stable key: exactly the one shown is pinned.
    switch.store(false, Ordering::SeqCst);
    let o = run(s(&["server", "trust-hostkey", "1", "--yes"]), None).await.unwrap();
    assert!(o.status.success(), "{:?}", text(&o));
    let show = run(s(&["--json", "server", "show", "1"]), None).await.unwrap();
    let v: serde_json::Value = serde_json::from_slice(&show.stdout).unwrap();
    assert_eq!(v["server"]["host_key_fingerprint"], bed.host_fp.as_str(), "{v}");
}

#[test]
fn cli_a_user_stores_a_key_instead_of_reading_key_files_or_the_agent_of_the_host() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    first_admin(h, "config");
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
        None,
    );
    assert!(create.status.success(), "{:?}", text(&create));
    let login = certdeck(
        h,
        "bob",
        &["login", "-u", "bob", "--password-stdin", "--new-password-stdin"],
        Some("bob-one-time-1\nbob-own-password\n"),
        None,
    );
    assert!(login.status.success(), "{:?}", text(&login));
    // A key file of the operator's (here: a fresh one in the test's dir).
    let key = h.join("operator_key");
    let made = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .status()
        .expect("ssh-keygen");
    assert!(made.success());
    let key = key.to_str().unwrap();
    let add = |cfg: &str, name: &str, extra: &[&str], stdin: Option<&str>| {
        let mut args = vec![
            "server",
            "add",
            "192.0.2.10",
            "--name",
            name,
            "--user",
            "deploy",
            "--auth",
            "key",
        ];
        args.extend_from_slice(extra);
        certdeck(h, cfg, &args, stdin, None)
    };
    let o = add("bob", "b1", &["--key-file", key], None);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(4), "forbidden: {out}{err}");
    assert!(err.contains("store the key") && err.contains("--key-stdin"), "{err}");
    let o = add("bob", "b2", &[], None);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(6), "invalid input: {out}{err}");
    assert!(err.contains("ssh-agent"), "{err}");
    let list = certdeck(h, "bob", &["--json", "server", "list"], None, None);
    assert_eq!(text(&list).0.trim(), "[]", "nothing added");
    // Storing the key itself works.
    let pem = std::fs::read_to_string(key).unwrap();
    let o = add("bob", "b3", &["--key-stdin"], Some(&pem));
    assert!(o.status.success(), "{:?}", text(&o));
    // The admin may name a key file on this host.
    let o = add("config", "a1", &["--key-file", key], None);
    assert!(o.status.success(), "{:?}", text(&o));
    let list = certdeck(h, "config", &["--json", "server", "list"], None, None);
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r["has_private_key"] == true), "{rows:?}");
}
