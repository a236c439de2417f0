//! The console end to end: the real binary in a pseudo-terminal (120×40, xterm-256color), read
//! through a vt100 parser. Logs in on the login screen, opens the servers pane, creates a server
//! through the form, filters the table, quits, and checks through the CLI that the row and its
//! audit entry exist and that the terminal was restored.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use portable_pty::{Child, CommandBuilder, MasterPty, PtySize};

const ROWS: u16 = 40;
const COLS: u16 = 120;
const WAIT: Duration = Duration::from_secs(20);

/// Environment for every certdeck process of a test: its own data and config dirs, nothing
/// inherited that could change which database or identity it uses.
fn certdeck_env(home: &Path) -> Vec<(&'static str, String)> {
    vec![
        ("CERTDECK_DATA_DIR", home.join("data").display().to_string()),
        ("CERTDECK_CONFIG_DIR", home.join("config").display().to_string()),
        ("TERM", "xterm-256color".into()),
        ("LANG", "C.UTF-8".into()),
    ]
}

const CLEARED_ENV: &[&str] = &[
    "CERTDECK_DATABASE_URL",
    "CERTDECK_API_KEY",
    "CERTDECK_MASTER_KEY",
    "CERTDECK_MASTER_KEY_FILE",
    "CERTDECK_CONFIG",
    "CERTDECK_LANG",
    "CERTDECK_THEME",
    "CERTDECK_KEYMAP",
    "CERTDECK_SCHEDULER",
    "NO_COLOR",
];

/// Runs a CLI command (no terminal); returns (success, stdout, stderr).
fn cli(home: &Path, args: &[&str]) -> (bool, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_certdeck"));
    cmd.args(args)
        .envs(certdeck_env(home))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for k in CLEARED_ENV {
        cmd.env_remove(k);
    }
    let out = cmd.output().expect("run certdeck");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The screen as the terminal shows it, updated by a reader thread; `changed` wakes waiters.
struct Screen {
    parser: Mutex<vt100::Parser>,
    changed: Condvar,
}

/// The console running in a pseudo-terminal.
struct Console {
    child: Box<dyn Child + Send + Sync>,
    writer: Box<dyn Write + Send>,
    screen: Arc<Screen>,
    reader: Option<JoinHandle<()>>,
    _master: Box<dyn MasterPty + Send>,
}

impl Console {
    fn spawn(home: &Path, args: &[&str]) -> Console {
        let pair = portable_pty::native_pty_system()
            .openpty(PtySize {
                rows: ROWS,
                cols: COLS,
                pixel_width: 0,
                pixel_height: 0,
            })
            .expect("open a pty");
        let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_certdeck"));
        cmd.args(args);
        cmd.cwd(home);
        for k in CLEARED_ENV {
            cmd.env_remove(k);
        }
        for (k, v) in certdeck_env(home) {
            cmd.env(k, v);
        }
        let child = pair.slave.spawn_command(cmd).expect("spawn certdeck in the pty");
        drop(pair.slave);
        let screen = Arc::new(Screen {
            parser: Mutex::new(vt100::Parser::new(ROWS, COLS, 0)),
            changed: Condvar::new(),
        });
        let mut from_pty = pair.master.try_clone_reader().expect("pty reader");
        let feed = Arc::clone(&screen);
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            // Ends at EOF (or EIO on Linux) once the child closed the terminal.
            while let Ok(n @ 1..) = from_pty.read(&mut buf) {
                feed.parser.lock().unwrap().process(&buf[..n]);
                feed.changed.notify_all();
            }
        });
        let writer = pair.master.take_writer().expect("pty writer");
        Console {
            child,
            writer,
            screen,
            reader: Some(reader),
            _master: pair.master,
        }
    }

    /// Types raw bytes ("\r" enter, "\t" tab, "\x1b" esc).
    fn send(&mut self, keys: &str) {
        self.writer.write_all(keys.as_bytes()).expect("write to the pty");
        self.writer.flush().expect("flush the pty");
    }

    fn contents(&self) -> String {
        self.screen.parser.lock().unwrap().screen().contents()
    }

    /// Waits until the screen satisfies `ok`; fails with the screen after WAIT.
    fn wait_for(&self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + WAIT;
        let mut parser = self.screen.parser.lock().unwrap();
        loop {
            let text = parser.screen().contents();
            if ok(&text) {
                return text;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "timed out after {WAIT:?} waiting for {what}; the screen shows:\n{}",
                frame(&text)
            );
            parser = self.screen.changed.wait_timeout(parser, left).unwrap().0;
        }
    }

    /// Waits until the screen shows every one of `texts`.
    fn wait_text(&self, texts: &[&str]) -> String {
        self.wait_for(&format!("{texts:?}"), |s| texts.iter().all(|t| s.contains(t)))
    }

    /// Waits for the process to end and for the reader to drain the terminal; its exit code.
    fn wait_exit(&mut self, within: Duration) -> u32 {
        let deadline = Instant::now() + within;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("poll the console") {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                panic!(
                    "the console did not exit within {within:?}; the screen shows:\n{}",
                    frame(&self.contents())
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        if let Some(r) = self.reader.take() {
            r.join().expect("pty reader thread");
        }
        status.exit_code()
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The screen with a border, for failure messages.
fn frame(text: &str) -> String {
    let rule = "-".repeat(COLS as usize);
    format!("{rule}\n{text}\n{rule}")
}

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
    let password = err
        .lines()
        .find_map(|l| l.split("shown only now: ").nth(1))
        .unwrap_or_else(|| panic!("no one-time password in: {err}"))
        .trim()
        .to_string();
    let (ok, _, err) = cli(home, &["logout"]);
    assert!(ok, "logout failed: {err}");

    let mut c = Console::spawn(home, &["--user", "admin", "--lang", "en"]);

    // Login: the username is prefilled and the focus is on the password.
    c.wait_text(&["certdeck — log in", "Username", "admin", "Password"]);
    c.send(&password);
    c.send("\r");
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
    assert!(
        !c.screen.parser.lock().unwrap().screen().alternate_screen(),
        "the console left the alternate screen on"
    );

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
