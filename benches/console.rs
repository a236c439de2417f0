//! The console at 100,000 certificates on SQLite. Prints, asserts nothing:
//!
//! (a) frame time: `ui::draw` of the certificates pane into a 160×48 `TestBackend` while the
//!     cursor moves down (pages fetched through the console's effect runner between frames,
//!     outside the timed section): p50 / p99 / max over the frames (target p99 < 4 ms);
//! (b) start-up: the release binary spawned in a 120×40 pty with a saved session, until the
//!     dashboard shows the certificate counts: median of 5 runs (target < 300 ms);
//! (c) memory: the console in the pty, `:certs`, 300 × pgdn (pages load as it goes), then
//!     VmRSS from /proc/<pid>/status (target < 60 MB).
//!
//! ```text
//! cargo bench --bench console
//! ```

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[path = "../tests/pty/mod.rs"]
mod pty;

use certdeck::crypto::{Keyring, MasterKey};
use certdeck::domain::UserRole;
use certdeck::service::{Actor, ClientInfo, Services};
use certdeck::store::{Db, PoolSettings};
use certdeck::tui::effects::Effect;
use certdeck::tui::exec::{Runner, SessionPlace};
use certdeck::tui::i18n::Lang;
use certdeck::tui::state::{Screen, State, View};
use certdeck::tui::theme::Theme;
use certdeck::tui::update::{self, Msg};
use certdeck::tui::{initial_state, ConsoleOptions, SchedulerMode};
use chrono::{Duration as Days, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use pty::Console;
use sqlx::AssertSqlSafe;

const CERTS: i64 = 100_000;
const FRAMES: usize = 3_000;
const STARTS: usize = 5;
const PGDN: usize = 300;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let home = tempfile::tempdir().expect("temp dir");
    let home = home.path();

    // `certdeck init` creates the database, the master key, the admin and its saved session.
    let out = certdeck(home).arg("init").output().expect("run certdeck init");
    assert!(out.status.success(), "init: {}", String::from_utf8_lossy(&out.stderr));
    let url = format!("sqlite://{}", home.join("data/certdeck.db").display());
    let db = Db::connect(&url, &PoolSettings::default()).await.expect("open SQLite");
    let admin_id = seed(&db).await;
    let svc = Services::new(
        db.clone(),
        Keyring::single(MasterKey::generate()),
        ClientInfo::from_env(),
    );
    let admin = Actor {
        user_id: admin_id,
        username: "admin".into(),
        role: UserRole::Admin,
        read_only: false,
    };
    let counts = svc.cert_counts(&admin).await.expect("counts");
    println!("seeded {CERTS} certificates: {counts:?}");

    frame_times(&svc, &admin, home).await;
    db.close().await;

    // The dashboard is drawn once the largest status count shows.
    let (status, n) = counts.iter().max_by_key(|(_, n)| *n).cloned().expect("counts");
    let drawn = move |s: &str| s.contains("admin@admin") && s.contains(&status) && s.contains(&format!(" {n}"));
    startup(home, &drawn);
    memory(home, &drawn);
}

fn certdeck(home: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_certdeck"));
    cmd.envs(pty::certdeck_env(home)).stdin(Stdio::null());
    for k in pty::CLEARED_ENV {
        cmd.env_remove(k);
    }
    cmd
}

// ---------------------------------------------------------------------------------------------
// Seeding (the approach of benches/list_latency.rs: multi-row INSERTs straight into the table).

async fn exec(db: &Db, sql: String) {
    match db {
        Db::MySql(p) => sqlx::query(AssertSqlSafe(sql)).execute(p).await.map(|_| ()),
        Db::Sqlite(p) => sqlx::query(AssertSqlSafe(sql)).execute(p).await.map(|_| ()),
    }
    .expect("seed statement");
}

/// A deterministic pseudo-random number for row `i` (splitmix64).
fn mix(i: i64, salt: u64) -> u64 {
    let mut z = (i as u64).wrapping_add(salt).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Inserts CERTS certificates owned by the admin; returns the admin's id.
async fn seed(db: &Db) -> i64 {
    let Db::Sqlite(pool) = db else {
        unreachable!("the bench runs on SQLite")
    };
    let admin: i64 = sqlx::query_scalar("SELECT id FROM users WHERE username = 'admin'")
        .fetch_one(pool)
        .await
        .expect("the admin made by init");
    let t0 = Instant::now();
    let now = Utc::now().naive_utc();
    let at = |secs: i64| (now + Days::seconds(secs)).format("'%Y-%m-%d %H:%M:%S'").to_string();
    const STATUSES: [&str; 5] = ["issued", "issued", "issued", "expired", "pending"];
    let mut i = 0;
    while i < CERTS {
        let end = (i + 1000).min(CERTS);
        let values: Vec<String> = (i..end)
            .map(|i| {
                let r = mix(i, 1);
                let status = STATUSES[(r % 5) as usize];
                // expiry spread over -60 .. +395 days
                let expires = -60 * 86_400 + (r >> 8) as i64 % (455 * 86_400);
                let domain = format!("www{i}.tenant{}.example.com", i % 100);
                format!(
                    "({admin}, 'cert {i}', '[\"{domain}\"]', '{domain}', 'Bench CA', 'single', 'ECC', '{status}', {}, {}, 1, 30, {})",
                    at(expires - 90 * 86_400),
                    at(expires),
                    at(-((r >> 20) as i64 % (365 * 86_400)))
                )
            })
            .collect();
        exec(
            db,
            format!(
                "INSERT INTO certificates (user_id, name, domains, main_domain, issuer, certificate_type, \
                 encryption_type, status, issued_at, expires_at, auto_renew, renew_before_days, created_at) VALUES {}",
                values.join(",")
            ),
        )
        .await;
        i = end;
    }
    exec(db, "ANALYZE".into()).await;
    println!("seeded in {:.1} s", t0.elapsed().as_secs_f64());
    admin
}

// ---------------------------------------------------------------------------------------------
// (a) Frame time.

/// Runs effects as the console's loop does (through the effect runner) and feeds the replies
/// back to `update` until nothing is left in flight.
async fn settle(runner: &Runner, s: &mut State, mut effects: Vec<Effect>) {
    while let Some(e) = effects.pop() {
        let (req, reply) = runner.run(e, s.actor.clone()).await;
        effects.extend(update::update(s, Msg::Reply(req, reply)));
    }
}

fn key(code: KeyCode) -> Msg {
    Msg::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

struct Stats {
    p50: f64,
    p99: f64,
    max: f64,
}

fn stats(mut ms: Vec<f64>) -> Stats {
    ms.sort_by(f64::total_cmp);
    let at = |q: f64| ms[((ms.len() - 1) as f64 * q).round() as usize];
    Stats {
        p50: at(0.5),
        p99: at(0.99),
        max: ms[ms.len() - 1],
    }
}

async fn frame_times(svc: &Services, admin: &Actor, home: &Path) {
    let (w, h) = (160, 48);
    let opts = ConsoleOptions {
        theme: "default".into(),
        keymap: "default".into(),
        lang: Some(Lang::En),
        user: None,
        read_only: false,
        scheduler: SchedulerMode::External,
        config_dir: home.join("config"),
        db_key: String::new(),
    };
    let (mut s, _) = initial_state(&opts, Lang::En, chrono_tz::UTC);
    s.actor = Some(admin.clone());
    s.screen = Screen::Main;
    s.size = (w, h);
    let (theme, _) = Theme::load("default", None, false);
    let (tx, _rx) = tokio::sync::mpsc::channel(1);
    let runner = Runner::new(
        svc.clone(),
        SessionPlace {
            config_dir: opts.config_dir.clone(),
            db_key: opts.db_key.clone(),
        },
        None,
        tx,
    );
    let opened = update::run_command(&mut s, "certs");
    settle(&runner, &mut s, opened).await;

    let mut terminal = ratatui::Terminal::new(ratatui::backend::TestBackend::new(w, h)).expect("test terminal");
    let mut ms = Vec::with_capacity(FRAMES);
    let mut resident_max = 0;
    for i in 0..50 + FRAMES {
        // Mostly row by row, a page down every eighth frame.
        let step = if i % 8 == 7 { KeyCode::PageDown } else { KeyCode::Down };
        let effects = update::update(&mut s, key(step));
        settle(&runner, &mut s, effects).await;
        let t = Instant::now();
        terminal.draw(|f| certdeck::tui::ui::draw(f, &s, &theme)).expect("draw");
        let took = t.elapsed().as_secs_f64() * 1000.0;
        if i >= 50 {
            ms.push(took);
        }
        if let View::Table(t) = s.view() {
            resident_max = resident_max.max(t.paged.resident_rows());
        }
    }
    let View::Table(t) = s.view() else {
        unreachable!("the certificates pane is open")
    };
    let st = stats(ms);
    println!(
        "\n(a) frame time, certificates pane, {w}x{h}, {CERTS} rows, {FRAMES} frames after 50 warm-up \
         (cursor ended at row {} of {}{}, at most {resident_max} rows resident)",
        t.paged.cursor + 1,
        t.paged.known_len(),
        if t.paged.is_complete() { "" } else { "+" },
    );
    println!(
        "    p50 {:.3} ms   p99 {:.3} ms   max {:.3} ms   (target p99 < 4 ms{})",
        st.p50,
        st.p99,
        st.max,
        if st.p99 < 4.0 { "" } else { ": MISSED" }
    );
}

// ---------------------------------------------------------------------------------------------
// The console in a pseudo-terminal.

// ---------------------------------------------------------------------------------------------
// (b) Start-up to the first dashboard.

fn startup(home: &Path, drawn: &dyn Fn(&str) -> bool) {
    let mut ms = Vec::new();
    for _ in 0..STARTS {
        let t0 = Instant::now();
        let c = Console::spawn(home, &["--lang", "en"]);
        c.wait_for("the dashboard with the certificate counts", drawn);
        ms.push(t0.elapsed().as_secs_f64() * 1000.0);
        c.quit();
    }
    let runs = ms.iter().map(|m| format!("{m:.0}")).collect::<Vec<_>>().join(", ");
    ms.sort_by(f64::total_cmp);
    let median = ms[ms.len() / 2];
    println!(
        "\n(b) start-up to the drawn dashboard ({CERTS} certificates, SQLite, {}x{} pty), {STARTS} runs: {runs} ms",
        pty::COLS,
        pty::ROWS
    );
    println!(
        "    median {median:.0} ms   (target < 300 ms{})",
        if median < 300.0 { "" } else { ": MISSED" }
    );
}

// ---------------------------------------------------------------------------------------------
// (c) Resident memory after paging through the certificates.

/// The "pos" of the breadcrumb line's "pos/total".
fn position(screen: &str) -> usize {
    screen
        .lines()
        .nth(1)
        .and_then(|l| l.split_whitespace().last())
        .and_then(|t| t.split('/').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or(0)
}

fn status_kb(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc/<pid>/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

fn memory(home: &Path, drawn: &dyn Fn(&str) -> bool) {
    let mut c = Console::spawn(home, &["--lang", "en"]);
    let pid = c.pid();
    c.wait_for("the dashboard", drawn);
    let rss_dashboard = status_kb(pid, "VmRSS:");
    c.send(":certs\r");
    c.wait_for("the certificates pane", |s| {
        s.contains("Dashboard › Certificates") && position(s) == 1 && s.contains("www")
    });
    let page = (pty::ROWS - certdeck::tui::state::TABLE_CHROME) as usize;
    let mut pos = 1;
    let mut short = 0;
    for _ in 0..PGDN {
        c.send("\x1b[6~");
        // A page down stops at the last loaded row when the next page is still on its way.
        match c.try_wait_for(Duration::from_secs(2), |s| position(s) >= pos + page) {
            Some(s) => pos = position(&s),
            None => {
                short += 1;
                pos = position(&c.contents());
            }
        }
    }
    // Let the last page fetches land.
    let end = c.wait_for("the table settled", |s| !s.contains("Loading…") && position(s) == pos);
    let rss = status_kb(pid, "VmRSS:");
    let hwm = status_kb(pid, "VmHWM:");
    let crumbs = end
        .lines()
        .nth(1)
        .unwrap_or_default()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    c.quit();
    println!(
        "\n(c) resident memory, console in a {}x{} pty on {CERTS} certificates:",
        pty::COLS,
        pty::ROWS
    );
    println!("    on the dashboard: VmRSS {:.1} MB", rss_dashboard as f64 / 1024.0);
    println!(
        "    after :certs and {PGDN} x pgdn ({crumbs}; {short} presses stopped short at a loading page): \
         VmRSS {:.1} MB, peak VmHWM {:.1} MB   (target < 60 MB{})",
        rss as f64 / 1024.0,
        hwm as f64 / 1024.0,
        if rss < 60 * 1024 { "" } else { ": MISSED" }
    );
}
