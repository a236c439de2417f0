//! The console: a keyboard-driven ratatui TUI over every table, live.
//!
//! One task reads the terminal (crossterm `EventStream`); the loop `select!`s over terminal
//! events, service replies, the in-process worker bus, a one-second tick (polling, for work done
//! by other processes, paused longer after failed reads) and a frame deadline. Keys become
//! `Action`s through the keymap; `update::update` changes the state and returns effects, which
//! `exec::Runner` runs on tokio tasks; replies come back by request id and stale ones are
//! dropped. Drawing only reads state, and happens only when what it would show changed (the
//! state's generation, or clock-dependent text such as "3 min ago"), at most once a frame.

pub mod action;
pub mod effects;
pub mod exec;
pub mod form;
pub mod i18n;
pub mod keymap;
pub mod model;
pub mod paged;
pub mod resources;
pub mod state;
pub mod text;
pub mod theme;
pub mod ui;
pub mod update;

use std::time::{Duration, Instant};

use crossterm::event::{Event, EventStream};
use futures::StreamExt;
use tokio::sync::{broadcast, mpsc};

use crate::service::{Services, WorkerEvent};
use exec::{Runner, SessionPlace};
use i18n::{Catalog, Lang};
use keymap::Keymap;
use state::State;
use theme::Theme;
use update::Msg;

/// Where the console's work runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchedulerMode {
    /// The console runs a scheduler in-process (one operator, SQLite).
    Embedded,
    /// Another process (`--serve-scheduler`) runs tasks; the console only polls.
    External,
}

impl SchedulerMode {
    /// Parses `embedded` or `external`.
    pub fn parse(s: &str) -> Result<SchedulerMode, String> {
        match s {
            "embedded" => Ok(SchedulerMode::Embedded),
            "external" => Ok(SchedulerMode::External),
            other => Err(format!("scheduler = '{other}': use embedded or external")),
        }
    }
}

/// How the console starts.
#[derive(Debug, Clone)]
pub struct ConsoleOptions {
    /// Theme name.
    pub theme: String,
    /// Keymap name.
    pub keymap: String,
    /// Language (`--lang`), before the user's setting and `LANG`.
    pub lang: Option<Lang>,
    /// Username to prefill on the login screen.
    pub user: Option<String>,
    /// Hide and refuse every action that changes data.
    pub read_only: bool,
    /// Where tasks run.
    pub scheduler: SchedulerMode,
    /// Config dir (user themes/keymaps, session file).
    pub config_dir: std::path::PathBuf,
    /// The session file key of this database.
    pub db_key: String,
}

/// Builds the initial state: keymap, catalog, timezone; returns it with the keymap's load
/// warnings.
pub fn initial_state(opts: &ConsoleOptions, lang: Lang, tz: chrono_tz::Tz) -> (State, Vec<String>) {
    let (km, warnings) = Keymap::load(&opts.keymap, Some(&opts.config_dir));
    let mut s = State::new(Catalog::load(lang), km, tz, opts.read_only, chrono::Utc::now());
    s.login_user = opts.user.clone();
    s.lang_forced = opts.lang.is_some();
    (s, warnings)
}

async fn user_preferences(svc: &Services) -> (Option<Lang>, Option<chrono_tz::Tz>) {
    // Before login the user is unknown: the language and zone come from the saved session's
    // user once resumed (see `apply_preferences`); the system timezone is the default.
    let tz = svc
        .schedule_timezone()
        .await
        .ok()
        .and_then(|z| z.name().parse::<chrono_tz::Tz>().ok());
    (None, tz)
}

/// Runs the console until the user quits. The terminal is restored on exit, error and panic.
pub async fn run(svc: Services, opts: ConsoleOptions) -> Result<(), String> {
    let (_, system_tz) = user_preferences(&svc).await;
    let lang = opts.lang.unwrap_or_else(Lang::from_env);
    let tz = system_tz.unwrap_or(chrono_tz::UTC);
    let (mut state, mut warnings) = initial_state(&opts, lang, tz);
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let (theme, theme_warnings) = Theme::load(&opts.theme, Some(&opts.config_dir), no_color);
    warnings.extend(theme_warnings);
    for w in &warnings {
        tracing::warn!(warning = %w, "console configuration");
    }
    if let Some(first) = warnings.first() {
        let more = match warnings.len() {
            1 => String::new(),
            n => format!(" (+{} more in the log)", n - 1),
        };
        let msg = state.cat.fmt("flash.config", &[("problem", &format!("{first}{more}"))]);
        state.flash(msg, theme::Tone::Warn);
    }

    let (tx, mut rx) = mpsc::channel(1024);
    let runner = Runner::new(
        svc.clone(),
        SessionPlace {
            config_dir: opts.config_dir.clone(),
            db_key: opts.db_key.clone(),
        },
        opts.user.clone(),
        tx,
    );
    let mut bus = svc.subscribe();

    // The embedded scheduler runs tasks in this process; it stops with the console.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let scheduler = match opts.scheduler {
        SchedulerMode::Embedded => {
            let sched = crate::scheduler::Scheduler::new(
                svc.clone(),
                crate::scheduler::runners_for_this_build(),
                crate::scheduler::SchedulerConfig::new("embedded"),
            );
            Some(tokio::spawn(async move {
                if let Err(e) = sched.run(stop_rx).await {
                    tracing::error!(error = %e, "embedded scheduler stopped");
                }
            }))
        }
        SchedulerMode::External => None,
    };

    let mut terminal = ratatui::try_init().map_err(|e| format!("cannot open the terminal: {e}"))?;
    let _ = crossterm::execute!(std::io::stdout(), crossterm::event::EnableBracketedPaste);
    if let Ok(size) = terminal.size() {
        state.size = (size.width, size.height);
    }
    let result = event_loop(&mut terminal, &mut state, &theme, &runner, &mut rx, &mut bus).await;
    let _ = crossterm::execute!(std::io::stdout(), crossterm::event::DisableBracketedPaste);
    ratatui::restore();
    let _ = stop_tx.send(true);
    if let Some(h) = scheduler {
        let _ = tokio::time::timeout(Duration::from_secs(5), h).await;
    }
    result
}

const FRAME: Duration = Duration::from_millis(16);

async fn event_loop(
    terminal: &mut ratatui::DefaultTerminal,
    state: &mut State,
    theme: &Theme,
    runner: &Runner,
    rx: &mut mpsc::Receiver<(u64, effects::Reply)>,
    bus: &mut broadcast::Receiver<WorkerEvent>,
) -> Result<(), String> {
    let mut events = EventStream::new();
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    for e in update::start(state) {
        runner.spawn(e, state.actor.clone());
    }
    let mut shown = Shown::default();
    let mut last_draw = Instant::now() - FRAME;
    loop {
        let mut dirty = shown.stale(state);
        if dirty && last_draw.elapsed() >= FRAME {
            terminal
                .draw(|f| ui::draw(f, state, theme))
                .map_err(|e| format!("cannot draw: {e}"))?;
            last_draw = Instant::now();
            shown.mark(state);
            dirty = false;
        }
        if state.quit {
            return Ok(());
        }
        let frame_due = tokio::time::sleep(FRAME.saturating_sub(last_draw.elapsed()));
        let msg = tokio::select! {
            ev = events.next() => match ev {
                Some(Ok(Event::Key(k))) => Msg::Key(k),
                Some(Ok(Event::Resize(w, h))) => Msg::Resize(w, h),
                Some(Ok(Event::Paste(p))) => Msg::Paste(p),
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(format!("cannot read the terminal: {e}")),
                None => return Ok(()),
            },
            Some((req, reply)) = rx.recv() => Msg::Reply(req, reply),
            ev = bus.recv() => match ev {
                Ok(e) => Msg::Worker(e),
                Err(broadcast::error::RecvError::Lagged(_)) => Msg::Worker(WorkerEvent::Changed),
                Err(broadcast::error::RecvError::Closed) => continue,
            },
            _ = ticker.tick() => Msg::Tick(chrono::Utc::now()),
            _ = frame_due, if dirty => continue,
        };
        for e in update::update(state, msg) {
            runner.spawn(e, state.actor.clone());
        }
    }
}

/// What the screen last showed: the state's generation and the digest of its clock-dependent
/// text ([`ui::time_key`]). The loop draws only when either moved, at most once a frame.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Shown(Option<(u64, u64)>);

impl Shown {
    /// Whether the screen no longer shows `state`.
    pub fn stale(&self, state: &State) -> bool {
        self.0 != Some((state.generation, ui::time_key(state)))
    }

    /// Records that `state` was drawn.
    pub fn mark(&mut self, state: &State) {
        self.0 = Some((state.generation, ui::time_key(state)));
    }
}
