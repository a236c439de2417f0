//! The binary as an operator runs it: first run on SQLite, exit codes (one per kind of failure),
//! `--json`, bad input,
//! `init` + `login` on MariaDB, `--no-migrate`, and the daemon's refusal without an admin.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::cli::{first_login, one_time_password, output, ADMIN_PW};

fn certdeck(home: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_certdeck"));
    cmd.args(args)
        .env("CERTDECK_DATA_DIR", home.join("data"))
        .env("CERTDECK_CONFIG_DIR", home.join("config"))
        .env_remove("CERTDECK_DATABASE_URL")
        .env_remove("CERTDECK_API_KEY")
        .env_remove("CERTDECK_MASTER_KEY");
    output(&mut cmd, stdin)
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Initialises a database (`pre` come before the command, e.g. `--database-url`) and logs in as
/// its admin, replacing the one-time password as the first login must. Returns the one-time
/// password.
fn first_admin(home: &Path, pre: &[&str]) -> String {
    let init = certdeck(home, &[pre, &["init"]].concat(), None);
    let (out, err) = text(&init);
    assert!(init.status.success(), "init: {out}{err}");
    let password = one_time_password(&err);
    first_login(&password, |args, stdin| certdeck(home, &[pre, args].concat(), stdin));
    password
}

#[test]
fn first_run_on_sqlite_prints_the_admin_password_once_and_it_only_sets_a_new_one() {
    let home = tempfile::tempdir().unwrap();
    let first = certdeck(home.path(), &["server", "list"], None);
    let (out, err) = text(&first);
    // Not on a terminal: the admin is created, but its one-time password must be replaced first
    // (exit 4: not logged in).
    assert_eq!(first.status.code(), Some(4), "{out}{err}");
    assert!(
        err.contains("one-time password") && err.contains("--new-password-stdin"),
        "first run must show the admin password and how to replace it: {err}"
    );
    let password = one_time_password(&err);
    assert_eq!(password.len(), 20);

    let second = certdeck(home.path(), &["server", "list"], None);
    let (_, err2) = text(&second);
    assert_eq!(second.status.code(), Some(4));
    assert!(!err2.contains(&password), "the password is shown only once: {err2}");
    assert!(err2.contains("certdeck login"), "{err2}");

    // The one-time password alone does not log in, and nothing is saved.
    let only = certdeck(
        home.path(),
        &["login", "-u", "admin", "--password-stdin"],
        Some(&format!("{password}\n")),
    );
    let (_, err3) = text(&only);
    assert_eq!(only.status.code(), Some(4));
    assert!(
        err3.contains("one-time password") && err3.contains("--new-password-stdin"),
        "{err3}"
    );
    assert!(
        !home.path().join("config/session.json").exists(),
        "no session was saved"
    );
    // It sets a new password once; then it is gone.
    first_login(&password, |args, stdin| certdeck(home.path(), args, stdin));
    let list = certdeck(home.path(), &["server", "list"], None);
    assert!(text(&list).0.contains("(0 rows)"), "{:?}", text(&list));
    assert!(certdeck(home.path(), &["logout"], None).status.success());
    let again = certdeck(
        home.path(),
        &["login", "-u", "admin", "--password-stdin"],
        Some(&format!("{password}\n")),
    );
    assert_eq!(again.status.code(), Some(4), "the one-time password works once");

    // The password is never in the log files.
    for entry in std::fs::read_dir(home.path().join("data/logs")).unwrap() {
        let log = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        assert!(!log.contains(&password), "the admin password reached a log file");
    }
    // Key file and session file are private.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for f in ["data/master.key", "config/session.json"] {
            let mode = std::fs::metadata(home.path().join(f)).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{f}");
        }
    }
    // The own password works.
    let login = certdeck(
        home.path(),
        &["login", "-u", "admin", "--password-stdin"],
        Some(&format!("{ADMIN_PW}\n")),
    );
    assert!(login.status.success(), "{:?}", text(&login));
}

#[test]
fn bad_input_exits_6_with_a_specific_message_and_usage_errors_exit_2() {
    let home = tempfile::tempdir().unwrap();
    first_admin(home.path(), &[]);
    assert!(certdeck(home.path(), &["whoami"], None).status.success());

    let port = certdeck(
        home.path(),
        &[
            "server",
            "add",
            "web1.example.com",
            "--user",
            "deploy",
            "--port",
            "0",
            "--password-stdin",
        ],
        Some("pw\n"),
    );
    assert_eq!(port.status.code(), Some(6));
    assert!(text(&port).1.contains("port 0 is out of range"), "{:?}", text(&port));

    let enum_value = certdeck(home.path(), &["server", "list", "--type", "iis"], None);
    assert_eq!(enum_value.status.code(), Some(6));
    assert!(
        text(&enum_value)
            .1
            .contains("unknown server type 'iis' (expected one of: nginx, apache, other)"),
        "{:?}",
        text(&enum_value)
    );

    let host = certdeck(
        home.path(),
        &["server", "add", "bad host!", "--user", "x", "--password-stdin"],
        Some("pw\n"),
    );
    assert_eq!(host.status.code(), Some(6));
    assert!(text(&host).1.contains("invalid hostname"), "{:?}", text(&host));

    let usage = certdeck(home.path(), &["server", "frobnicate"], None);
    assert_eq!(usage.status.code(), Some(2));

    // None of the refusals created a server.
    let list = certdeck(home.path(), &["--json", "server", "list"], None);
    let rows: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 0);
}

#[test]
fn json_output_is_machine_readable_and_matches_what_was_added() {
    let home = tempfile::tempdir().unwrap();
    first_admin(home.path(), &[]);
    let add = certdeck(
        home.path(),
        &[
            "server",
            "add",
            "Web1.Example.com",
            "--user",
            "deploy",
            "--name",
            "web one",
            "--password-stdin",
        ],
        Some("s3cret-pass\n"),
    );
    assert!(add.status.success(), "{:?}", text(&add));
    let list = certdeck(home.path(), &["--json", "server", "list"], None);
    let rows: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    let row = &rows[0];
    assert_eq!(row["hostname"], "web1.example.com");
    assert_eq!(row["name"], "web one");
    assert_eq!(row["has_password"], true);
    assert!(
        !String::from_utf8_lossy(&list.stdout).contains("s3cret-pass"),
        "a secret reached the output"
    );
    let audit = certdeck(home.path(), &["audit", "list", "--action", "server.create"], None);
    let (out, _) = text(&audit);
    assert!(out.contains("server.create") && !out.contains("s3cret-pass"), "{out}");
}

#[test]
fn server_show_gives_a_token_servers_agent_and_null_for_an_ssh_server() {
    let home = tempfile::tempdir().unwrap();
    first_admin(home.path(), &[]);
    let add = |args: &[&str], stdin: &str| {
        let o = certdeck(home.path(), &[&["--json", "server", "add"], args].concat(), Some(stdin));
        assert!(o.status.success(), "{:?}", text(&o));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        v["id"].as_i64().unwrap().to_string()
    };
    let edge = add(
        &["edge.example.com", "--auth", "token", "--token-stdin"],
        "agent-token-0123456789abcdef\n",
    );
    let web = add(
        &["web.example.com", "--user", "deploy", "--password-stdin"],
        "ssh-pass\n",
    );

    let show = certdeck(home.path(), &["server", "show", &edge], None);
    let (out, err) = text(&show);
    assert!(show.status.success(), "{out}{err}");
    for line in [
        "agent           not checked in yet since the server was added",
        "last check-in   -",
        "check-in every  300 s",
    ] {
        assert!(out.contains(line), "{line:?} in {out}");
    }
    let json = certdeck(home.path(), &["--json", "server", "show", &edge], None);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["agent"]["state"], "not_checked_in", "{v}");
    assert_eq!(v["agent"]["silent"], false, "{v}");
    assert_eq!(v["agent"]["interval_seconds"], 300, "{v}");
    assert_eq!(v["agent"]["last_checkin_at"], serde_json::Value::Null, "{v}");

    let show = certdeck(home.path(), &["server", "show", &web], None);
    assert!(!text(&show).0.contains("agent"), "{:?}", text(&show));
    let json = certdeck(home.path(), &["--json", "server", "show", &web], None);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["agent"], serde_json::Value::Null, "{v}");
    assert_eq!(v["server"]["hostname"], "web.example.com", "{v}");
}

#[test]
fn db_status_rollback_and_no_migrate() {
    let home = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", home.path().join("x.db").display());
    let st = certdeck(home.path(), &["--database-url", &url, "db", "status"], None);
    assert!(text(&st).0.contains("pending"), "{:?}", text(&st));
    // --no-migrate refuses a database with pending migrations and names the command.
    let refused = certdeck(
        home.path(),
        &["--database-url", &url, "--no-migrate", "server", "list"],
        None,
    );
    assert_eq!(refused.status.code(), Some(1));
    assert!(text(&refused).1.contains("certdeck db migrate"), "{:?}", text(&refused));
    let mig = certdeck(home.path(), &["--database-url", &url, "db", "migrate"], None);
    assert!(text(&mig).0.contains("applied V1"), "{:?}", text(&mig));
    let rb = certdeck(
        home.path(),
        &["--database-url", &url, "db", "rollback", "--to", "5", "--yes"],
        None,
    );
    let (out, err) = text(&rb);
    assert!(
        out.contains("rolled back V19, V18, V17, V16, V15, V14, V13, V12, V11, V10, V9, V8, V7, V6")
            && out.contains("backup written: "),
        "{out}{err}"
    );
    let st2 = certdeck(home.path(), &["--database-url", &url, "db", "status"], None);
    let (out, _) = text(&st2);
    assert!(
        out.contains("V5") && out.lines().filter(|l| l.contains("pending")).count() == 14,
        "{out}"
    );
}

#[test]
fn daemon_refuses_a_database_without_admin_and_names_the_command() {
    let home = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", home.path().join("d.db").display());
    let d = certdeck(home.path(), &["--database-url", &url, "--serve-scheduler"], None);
    assert_eq!(d.status.code(), Some(1));
    assert!(text(&d).1.contains("certdeck init"), "{:?}", text(&d));
}

#[tokio::test]
async fn mariadb_needs_init_then_login_and_the_same_binary_works() {
    let Some(t) = common::empty_mysql().await else { return };
    let home = tempfile::tempdir().unwrap();
    let url = t.url.clone();
    let before = certdeck(home.path(), &["--database-url", &url, "server", "list"], None);
    assert_eq!(before.status.code(), Some(4));
    assert!(text(&before).1.contains("certdeck init"), "{:?}", text(&before));

    let init = certdeck(
        home.path(),
        &["--database-url", &url, "init", "--admin-email", "ops@example.com"],
        None,
    );
    let (_, err) = text(&init);
    assert!(init.status.success(), "{err}");
    let password = one_time_password(&err);

    let out = certdeck(home.path(), &["--database-url", &url, "logout"], None);
    assert!(out.status.success());
    let denied = certdeck(home.path(), &["--database-url", &url, "server", "list"], None);
    assert!(text(&denied).1.contains("certdeck login"), "{:?}", text(&denied));

    let wrong = certdeck(
        home.path(),
        &["--database-url", &url, "login", "-u", "admin", "--password-stdin"],
        Some("nope-nope-nope\n"),
    );
    assert_eq!(wrong.status.code(), Some(4));
    let once = certdeck(
        home.path(),
        &["--database-url", &url, "login", "-u", "admin", "--password-stdin"],
        Some(&format!("{password}\n")),
    );
    assert_eq!(once.status.code(), Some(4), "a one-time password must be replaced");
    first_login(&password, |args, stdin| {
        certdeck(home.path(), &[&["--database-url", &url], args].concat(), stdin)
    });
    let list = certdeck(home.path(), &["--database-url", &url, "server", "list"], None);
    assert!(list.status.success(), "{:?}", text(&list));

    // An API key for scripts.
    let key = certdeck(
        home.path(),
        &["--database-url", &url, "--json", "apikey", "create", "ci"],
        None,
    );
    let v: serde_json::Value = serde_json::from_slice(&key.stdout).unwrap();
    let cred = v["credential"].as_str().unwrap().to_string();
    // Run with the key and a config dir of its own (so no saved session).
    let with_key = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_certdeck"))
            .args(args)
            .env("CERTDECK_DATA_DIR", home.path().join("data"))
            .env("CERTDECK_CONFIG_DIR", home.path().join("other-config"))
            .env("CERTDECK_API_KEY", &cred)
            .output()
            .unwrap()
    };
    let o = with_key(&["--database-url", &url, "--json", "whoami"]);
    let who: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(who["role"], "api");
    let o = with_key(&["--database-url", &url, "user", "list"]);
    assert_eq!(o.status.code(), Some(4));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("API key may not"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn operator_commands_refuse_a_non_admin_session_and_channels_take_settings_json() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    first_admin(h, &[]);

    // Channels: --settings (not the global --config) carries the JSON; a reveal is audited.
    let add = certdeck(
        h,
        &[
            "channel",
            "add",
            "ops-hook",
            "--type",
            "webhook",
            "--settings",
            r#"{"url":"https://hooks.example.net/certdeck","secret":"s3cret-value"}"#,
            "--json",
        ],
        None,
    );
    let (out, err) = text(&add);
    assert!(add.status.success(), "{out}{err}");
    assert!(!out.contains("s3cret-value"), "the secret is not printed on add: {out}");
    let id = serde_json::from_str::<serde_json::Value>(&out).unwrap()["id"]
        .as_i64()
        .unwrap()
        .to_string();
    let shown = certdeck(h, &["channel", "show", &id, "--reveal"], None);
    assert!(text(&shown).0.contains("s3cret-value"), "{:?}", text(&shown));
    let audit = certdeck(h, &["audit", "list", "--json"], None);
    assert!(text(&audit).0.contains("channel.reveal"), "{:?}", text(&audit));

    // A plain user's session may neither unlock accounts nor rotate the master key.
    let create = certdeck(
        h,
        &[
            "user",
            "create",
            "bob",
            "--email",
            "bob@example.com",
            "--password-stdin",
        ],
        Some("bob-password-123\n"),
    );
    assert!(create.status.success(), "{:?}", text(&create));
    let key_before = std::fs::read(h.join("data/master.key")).unwrap();
    let login = certdeck(
        h,
        &["login", "-u", "bob", "--password-stdin", "--new-password-stdin"],
        Some("bob-password-123\nbob-own-password-1\n"),
    );
    assert!(login.status.success(), "{:?}", text(&login));
    for args in [&["user", "unlock", "admin"][..], &["secrets", "rotate", "--yes"][..]] {
        let o = certdeck(h, args, None);
        let (out, err) = text(&o);
        assert_eq!(o.status.code(), Some(4), "{args:?} as bob: {out}{err}");
        assert!(err.contains("needs an admin session"), "{args:?}: {err}");
    }
    assert_eq!(
        std::fs::read(h.join("data/master.key")).unwrap(),
        key_before,
        "the key was not rotated"
    );

    // With no session at all, the local operator may (the way back in for a locked sole admin).
    assert!(certdeck(h, &["logout"], None).status.success());
    let wrong = certdeck(
        h,
        &["login", "-u", "bob", "--password-stdin"],
        Some("not-his-password\n"),
    );
    assert_eq!(wrong.status.code(), Some(4), "{:?}", text(&wrong));
    let o = certdeck(h, &["user", "unlock", "bob"], None);
    assert!(o.status.success(), "{:?}", text(&o));
}

#[test]
fn tasks_schedules_and_health_from_the_command_line() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    // No scheduler has ever run: down, exit 2, and it says what to start.
    let health = certdeck(h, &["health"], None);
    let (out, err) = text(&health);
    assert_eq!(health.status.code(), Some(2), "{out}{err}");
    assert!(
        out.contains("status") && out.contains("down") && out.contains("--serve-scheduler"),
        "{out}"
    );
    let json = certdeck(h, &["health", "--json"], None);
    let v: serde_json::Value = serde_json::from_str(&text(&json).0).unwrap();
    assert_eq!(v["level"], "down");
    first_admin(h, &[]);

    // Bad task input: a specific error, exit 6 (invalid) or 3 (no such target), nothing queued.
    for (args, needle, code) in [
        (
            &[
                "task",
                "enqueue",
                "--type",
                "server_check",
                "--target",
                "1",
                "--priority",
                "11",
            ][..],
            "priority",
            6,
        ),
        (
            &["task", "enqueue", "--type", "frobnicate", "--target", "1"][..],
            "frobnicate",
            6,
        ),
        (
            &["task", "enqueue", "--type", "server_check", "--target", "999"][..],
            "999",
            3,
        ),
        (
            &["schedule", "add", "x", "--type", "server_check", "--cron", "61 * * * *"][..],
            "cron",
            6,
        ),
    ] {
        let o = certdeck(h, args, None);
        let (out, err) = text(&o);
        assert_eq!(o.status.code(), Some(code), "{args:?}: {out}{err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    let list = certdeck(h, &["task", "list", "--json"], None);
    assert_eq!(text(&list).0.trim(), "[]", "nothing queued");

    // The seeded system schedules, and a new one of the admin's.
    let sched = certdeck(h, &["schedule", "list", "--json"], None);
    let rows: Vec<serde_json::Value> = serde_json::from_str(&text(&sched).0).unwrap();
    let kinds: Vec<&str> = rows.iter().map(|r| r["task_type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        ["certificate_check", "server_check", "backup", "cleanup"],
        "{rows:?}"
    );
    let add = certdeck(
        h,
        &[
            "schedule",
            "add",
            "hourly",
            "--type",
            "server_check",
            "--cron",
            "0 * * * *",
        ],
        None,
    );
    let (out, err) = text(&add);
    assert!(add.status.success(), "{out}{err}");
    assert!(out.contains("active, next run"), "{out}");
}

#[test]
fn the_daemon_runs_a_queued_task_and_task_logs_follows_it_to_the_end() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    first_admin(h, &[]);
    let add = certdeck(
        h,
        &[
            "server",
            "add",
            "127.0.0.1",
            // Nothing listens on port 1: the check fails at once, at the TCP stage.
            "--port",
            "1",
            "--user",
            "deploy",
            "--password-stdin",
            "--json",
        ],
        Some("ssh-password\n"),
    );
    let (out, err) = text(&add);
    assert!(add.status.success(), "{out}{err}");
    let server = serde_json::from_str::<serde_json::Value>(&out).unwrap()["id"]
        .as_i64()
        .unwrap()
        .to_string();
    let q = certdeck(
        h,
        &[
            "task",
            "enqueue",
            "--type",
            "server_check",
            "--target",
            &server,
            "--max-attempts",
            "1",
            "--json",
        ],
        None,
    );
    let (out, err) = text(&q);
    assert!(q.status.success(), "{out}{err}");
    let id = serde_json::from_str::<serde_json::Value>(&out).unwrap()["id"]
        .as_i64()
        .unwrap()
        .to_string();

    // The daemon picks it up; the server refuses the connection and the check fails, clearly.
    let mut daemon = Command::new(env!("CARGO_BIN_EXE_certdeck"))
        .arg("--serve-scheduler")
        .env("CERTDECK_DATA_DIR", h.join("data"))
        .env("CERTDECK_CONFIG_DIR", h.join("config"))
        .env_remove("CERTDECK_DATABASE_URL")
        .env_remove("CERTDECK_TESTKIT_COUNT_FILE")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let follow = certdeck(h, &["task", "logs", &id, "-f"], None);
    let _ = Command::new("kill").arg("-TERM").arg(daemon.id().to_string()).status();
    let _ = daemon.wait();
    let (out, err) = text(&follow);
    assert!(follow.status.success(), "{out}{err}");
    assert!(
        out.contains("TCP connect to 127.0.0.1:1 failed"),
        "the failure, with its stage, is in the log: {out}"
    );
    assert!(
        err.contains(&format!("task {id} is failed")),
        "-f stops when the task ends: {err}"
    );
    let show = certdeck(h, &["task", "show", &id, "--json"], None);
    let v: serde_json::Value = serde_json::from_str(&text(&show).0).unwrap();
    assert_eq!(
        (v["status"].as_str(), v["attempts"].as_i64()),
        (Some("failed"), Some(1)),
        "{v}"
    );
}

/// Each kind of failure has its own exit code (README, "Exit codes"): 2 usage, 3 not found,
/// 4 not logged in or forbidden, 5 conflict, 6 invalid input; 0 and the message otherwise.
#[test]
fn exit_codes_name_the_kind_of_failure() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    first_admin(h, &[]);
    let code = |args: &[&str], stdin: Option<&str>| {
        let o = certdeck(h, args, stdin);
        let (out, err) = text(&o);
        (o.status.code(), format!("{out}{err}"))
    };

    // Not found: a row that does not exist.
    let (c, said) = code(&["server", "show", "999"], None);
    assert_eq!(c, Some(3), "{said}");
    assert!(said.contains("server 999 not found"), "{said}");
    let (c, said) = code(&["cert", "show", "4242"], None);
    assert_eq!(c, Some(3), "{said}");

    // Invalid input: a value the service refuses, and one the command line cannot parse.
    let (c, said) = code(
        &["server", "add", "bad host!", "--user", "x", "--password-stdin"],
        Some("pw\n"),
    );
    assert_eq!(c, Some(6), "{said}");
    assert!(said.contains("invalid hostname"), "{said}");
    let (c, said) = code(&["task", "list", "--status", "sleeping"], None);
    assert_eq!(c, Some(6), "{said}");

    // Conflict: a name that is taken.
    let (c, said) = code(&["apikey", "create", "ci"], None);
    assert_eq!(c, Some(0), "{said}");
    let (c, said) = code(
        &[
            "user",
            "create",
            "admin",
            "--email",
            "other@example.com",
            "--password-stdin",
        ],
        Some("another-password-1\n"),
    );
    assert_eq!(c, Some(5), "{said}");
    assert!(said.contains("conflict"), "{said}");

    // Usage: a deploy that does not say where; a clap error.
    let (c, said) = code(&["deploy", "1"], None);
    assert_eq!(c, Some(2), "{said}");
    assert!(said.contains("--server ID, --group ID or --all"), "{said}");
    assert_eq!(code(&["cert", "frobnicate"], None).0, Some(2));

    // Forbidden: a plain user asks for an admin's list.
    let (c, said) = code(
        &[
            "user",
            "create",
            "carol",
            "--email",
            "carol@example.com",
            "--password-stdin",
        ],
        Some("carol-password-1\n"),
    );
    assert_eq!(c, Some(0), "{said}");
    assert!(certdeck(h, &["logout"], None).status.success());
    let login = certdeck(
        h,
        &["login", "-u", "carol", "--password-stdin", "--new-password-stdin"],
        Some("carol-password-1\ncarol-own-password-1\n"),
    );
    assert!(login.status.success(), "{:?}", text(&login));
    let (c, said) = code(&["user", "list"], None);
    assert_eq!(c, Some(4), "{said}");
    assert!(said.contains("forbidden"), "{said}");

    // Unauthenticated: no session, and a wrong password.
    assert!(certdeck(h, &["logout"], None).status.success());
    let (c, said) = code(&["server", "list"], None);
    assert_eq!(c, Some(4), "{said}");
    assert!(said.contains("not logged in"), "{said}");
    let (c, said) = code(
        &["login", "-u", "carol", "--password-stdin"],
        Some("not-her-password\n"),
    );
    assert_eq!(c, Some(4), "{said}");

    // The codes are listed in the help.
    let (c, said) = code(&["--help"], None);
    assert_eq!(c, Some(0), "{said}");
    assert!(
        said.contains("3 not found") && said.contains("6 invalid input"),
        "{said}"
    );
}
