//! The console end to end: the real binary in a pseudo-terminal (120×40, xterm-256color), read
//! through a vt100 parser. Logs in on the login screen, opens the servers pane, creates a server
//! through the form, filters the table, quits, and checks through the CLI that the row and its
//! audit entry exist and that the terminal was restored.

mod common;
mod pty;

use std::path::Path;
use std::time::Duration;

use pty::{cli, frame, Console, ROWS};

/// The number in "Server web1.example.com (#12) created."
fn created_id(screen: &str, host: &str) -> i64 {
    let head = format!("Server {host} (#");
    let at = screen.find(&head).expect("the created flash") + head.len();
    let digits: String = screen[at..].chars().take_while(char::is_ascii_digit).collect();
    digits.parse().expect("an id in the created flash")
}

fn json(home: &Path, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let (ok, out, err) = cli(home, &all);
    assert!(ok, "certdeck {args:?} failed: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("certdeck {args:?}: not JSON ({e}): {out}"))
}

#[test]
fn log_in_create_a_server_filter_and_quit_in_a_real_terminal() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();

    let (ok, _, err) = cli(home, &["init"]);
    assert!(ok, "init failed: {err}");
    let password = common::cli::one_time_password(&err);
    let (ok, _, err) = cli(home, &["logout"]);
    assert!(ok, "logout failed: {err}");

    let mut c = Console::spawn(home, &["--user", "admin", "--lang", "en"]);

    // Login: the username is prefilled and the focus is on the password.
    c.wait_text(&["certdeck — log in", "Username", "admin", "Password"]);
    c.send(&password);
    c.send("\r");
    // The password is one-time: the form asks for the admin's own before anything else.
    c.wait_text(&["New password", "Repeat", "one-time password"]);
    c.send("the console admin pw\r");
    c.send("the console admin pw\r");
    c.wait_text(&["admin@admin", "Dashboard", "Certificates", "Expiring"]);

    // The servers pane, empty.
    c.send(":srv");
    c.wait_text(&[":srv"]);
    c.send("\r");
    c.wait_text(&["Dashboard › Servers", "Nothing here yet."]);

    // The form: name, hostname; auth type password (the default), the prefilled user root, a
    // password.
    c.send("n");
    c.wait_text(&["New server", "Host name", "◂ password ▸"]);
    c.send("web-e2e\tweb1.example.com");
    c.send("\t\t\t"); // port, server_type, auth_type
    c.wait_text(&["◂ password ▸", "web1.example.com", "web-e2e"]);
    c.send("\t\t"); // username (root), password
    c.send("e2e-secret-pw\r");
    let shown = c.wait_for("the created flash and the new row", |s| {
        s.contains("Server web1.example.com (#") && s.contains(") created.") && s.contains("web-e2e")
    });
    assert!(!shown.contains("New server"), "the form closed:\n{}", frame(&shown));
    assert!(!shown.contains("e2e-secret-pw"), "the password is never shown");
    let id = created_id(&shown, "web1.example.com");

    // A filter that matches nothing, then esc in the filter line clears it.
    c.send("/nomatch\r");
    c.wait_text(&["No row matches the filter.", "/nomatch"]);
    c.send("/");
    c.wait_for("the filter line", |s| {
        s.lines()
            .nth(ROWS as usize - 2)
            .is_some_and(|l| l.starts_with("/nomatch"))
    });
    c.send("\x1b");
    c.wait_for("the filter cleared", |s| {
        !s.contains("/nomatch") && s.contains("web-e2e")
    });

    // A filter that keeps the row.
    c.send("/web1\r");
    c.wait_text(&["/web1", "web-e2e", "web1.example.com", "1/1"]);
    c.send("/");
    c.wait_for("the filter line", |s| {
        s.lines().nth(ROWS as usize - 2).is_some_and(|l| l.starts_with("/web1"))
    });
    c.send("\x1b");
    c.wait_for("the filter cleared", |s| !s.contains("/web1") && s.contains("web-e2e"));

    c.send("q");
    let code = c.wait_exit(Duration::from_secs(10));
    assert_eq!(code, 0, "the console's exit code; screen:\n{}", frame(&c.contents()));
    assert!(!c.alternate_screen(), "the console left the alternate screen on");

    // What the console did, seen through the CLI (the console saved the session on login).
    let servers = json(home, &["server", "list"]);
    let row = servers
        .as_array()
        .expect("a list of servers")
        .iter()
        .find(|r| r["id"] == id)
        .unwrap_or_else(|| panic!("no server #{id} in {servers:#}"));
    assert_eq!(row["hostname"], "web1.example.com");
    assert_eq!(row["name"], "web-e2e");
    assert_eq!(row["auth_type"], "password");
    assert_eq!(row["username"], "root");

    let audit = json(home, &["audit", "list", "--action", "server.create"]);
    let entries = audit.as_array().expect("a list of audit rows");
    assert!(
        entries
            .iter()
            .any(|e| e["action"] == "server.create" && e["resource_id"] == id),
        "no server.create audit row for server #{id}: {audit:#}"
    );
}
