//! Running the binary in tests: a prepared command with its stdin, and the admin's first
//! login, which replaces the one-time password a first run or `init` prints.

use std::io::Write;
use std::process::{Command, Output, Stdio};

/// The password the tests give the admin at its first login ([`first_login`]).
pub const ADMIN_PW: &str = "the admin's own password";

/// Runs `cmd` with `stdin` written to it (no stdin when `None`) and returns what it printed.
pub fn output(cmd: &mut Command, stdin: Option<&str>) -> Output {
    cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("run certdeck");
    if let Some(text) = stdin {
        child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    }
    child.wait_with_output().unwrap()
}

/// The one-time admin password in what a first run or `init` printed ("… shown only now: …").
pub fn one_time_password(printed: &str) -> String {
    printed
        .lines()
        .find_map(|l| l.split("shown only now: ").nth(1))
        .unwrap_or_else(|| panic!("no one-time password in: {printed}"))
        .trim()
        .to_string()
}

/// The admin's first login: `login -u admin` with `one_time`, replaced by [`ADMIN_PW`].
/// `run(args, stdin)` runs the binary the way the test does (its own environment); the login
/// must succeed.
pub fn first_login(one_time: &str, run: impl FnOnce(&[&str], Option<&str>) -> Output) {
    let login = run(
        &["login", "-u", "admin", "--password-stdin", "--new-password-stdin"],
        Some(&format!("{one_time}\n{ADMIN_PW}\n")),
    );
    assert!(
        login.status.success(),
        "first login: {}{}",
        String::from_utf8_lossy(&login.stdout),
        String::from_utf8_lossy(&login.stderr)
    );
}
