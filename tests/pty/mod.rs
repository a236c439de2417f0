//! The console in a pseudo-terminal, shared by the end-to-end test and the console benchmark:
//! the real binary under portable-pty, its output fed to a vt100 parser by a reader thread, and
//! waits that poll the screen against a deadline.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use portable_pty::{Child, CommandBuilder, MasterPty, PtySize};

pub const ROWS: u16 = 40;
pub const COLS: u16 = 120;
pub const WAIT: Duration = Duration::from_secs(20);

/// Environment for every certdeck process of a test: its own data and config dirs, nothing
/// inherited that could change which database or identity it uses.
pub fn certdeck_env(home: &Path) -> Vec<(&'static str, String)> {
    vec![
        ("CERTDECK_DATA_DIR", home.join("data").display().to_string()),
        ("CERTDECK_CONFIG_DIR", home.join("config").display().to_string()),
        ("TERM", "xterm-256color".into()),
        ("LANG", "C.UTF-8".into()),
    ]
}

pub const CLEARED_ENV: &[&str] = &[
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
pub fn cli(home: &Path, args: &[&str]) -> (bool, String, String) {
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
pub struct Screen {
    parser: Mutex<vt100::Parser>,
    changed: Condvar,
}

/// The console running in a pseudo-terminal.
pub struct Console {
    child: Box<dyn Child + Send + Sync>,
    writer: Box<dyn Write + Send>,
    screen: Arc<Screen>,
    reader: Option<JoinHandle<()>>,
    _master: Box<dyn MasterPty + Send>,
}

impl Console {
    pub fn spawn(home: &Path, args: &[&str]) -> Console {
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
    pub fn send(&mut self, keys: &str) {
        self.writer.write_all(keys.as_bytes()).expect("write to the pty");
        self.writer.flush().expect("flush the pty");
    }

    pub fn contents(&self) -> String {
        self.screen.parser.lock().unwrap().screen().contents()
    }

    /// Waits up to `within` for the screen to satisfy `ok`; the screen when it did.
    pub fn try_wait_for(&self, within: Duration, ok: impl Fn(&str) -> bool) -> Option<String> {
        let deadline = Instant::now() + within;
        let mut parser = self.screen.parser.lock().unwrap();
        loop {
            let text = parser.screen().contents();
            if ok(&text) {
                return Some(text);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            parser = self.screen.changed.wait_timeout(parser, left).unwrap().0;
        }
    }

    /// Waits until the screen satisfies `ok`; fails with the screen after WAIT.
    pub fn wait_for(&self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        self.try_wait_for(WAIT, ok).unwrap_or_else(|| {
            panic!(
                "timed out after {WAIT:?} waiting for {what}; the screen shows:\n{}",
                frame(&self.contents())
            )
        })
    }

    /// Whether the terminal is on the alternate screen (the console's own).
    pub fn alternate_screen(&self) -> bool {
        self.screen.parser.lock().unwrap().screen().alternate_screen()
    }

    /// The console's process id.
    pub fn pid(&self) -> u32 {
        self.child.process_id().expect("console pid")
    }

    /// Presses `q` and waits for a clean exit.
    pub fn quit(mut self) {
        self.send("q");
        assert_eq!(self.wait_exit(WAIT), 0, "the console exits 0 after q");
    }

    /// Waits until the screen shows every one of `texts`.
    pub fn wait_text(&self, texts: &[&str]) -> String {
        self.wait_for(&format!("{texts:?}"), |s| texts.iter().all(|t| s.contains(t)))
    }

    /// Waits for the process to end and for the reader to drain the terminal; its exit code.
    pub fn wait_exit(&mut self, within: Duration) -> u32 {
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
pub fn frame(text: &str) -> String {
    let rule = "-".repeat(COLS as usize);
    format!("{rule}\n{text}\n{rule}")
}
