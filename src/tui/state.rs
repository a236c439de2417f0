//! The console's state: one owner (the loop), changed only by `update`, read by `ui`.

use chrono::{DateTime, Utc};
use tui_input::Input;

use super::action::Action;
use super::form::Form;
use super::i18n::Catalog;
use super::keymap::Keymap;
pub use super::model::{Body, Detail, Link, LogLine, Tab};
use super::model::{Kind, Order, Redacted};
use super::paged::Paged;
use super::theme::Tone;
use crate::service::dashboard::Dashboard;
use crate::service::Actor;

/// Rows of chrome around a table: header bar, breadcrumbs, borders, column header, flash, hints.
pub const TABLE_CHROME: u16 = 7;
/// The smallest usable terminal.
pub const MIN_SIZE: (u16, u16) = (80, 24);

/// The login screen.
#[derive(Clone, Default)]
pub struct Login {
    /// Username.
    pub username: Input,
    /// Password (masked when drawn).
    pub password: Input,
    /// A new password (asked when the password is one-time).
    pub new_password: Input,
    /// The new password again.
    pub repeat: Input,
    /// The password was right but is one-time: the form asks for a new one.
    pub must_change: bool,
    /// 0 = username, 1 = password, 2 = new password, 3 = repeat (2 and 3 only when `must_change`).
    pub focus: usize,
    /// Why the last attempt failed (wrong password, locked account…).
    pub error: Option<String>,
    /// The attempt in flight.
    pub pending: Option<u64>,
}

impl Login {
    /// How many fields the form shows.
    pub fn fields(&self) -> usize {
        if self.must_change {
            4
        } else {
            2
        }
    }

    /// The focused input.
    pub fn focused(&mut self) -> &mut Input {
        match self.focus {
            0 => &mut self.username,
            1 => &mut self.password,
            2 => &mut self.new_password,
            _ => &mut self.repeat,
        }
    }
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Login")
            .field("username", &self.username.value())
            .field("password", &"<redacted>")
            .field("must_change", &self.must_change)
            .field("focus", &self.focus)
            .field("error", &self.error)
            .field("pending", &self.pending)
            .finish()
    }
}

/// Which screen is up.
#[derive(Debug, Clone)]
pub enum Screen {
    /// Waiting for a session check at start.
    Starting,
    /// Asking for credentials.
    Login(Box<Login>),
    /// The console.
    Main,
}

/// Rows under the tasks table for the live log tail of the selected task.
pub const TAIL_ROWS: u16 = 10;
/// The smallest terminal height that shows the log tail under the tasks table.
pub const TAIL_MIN_HEIGHT: u16 = 30;

/// The live log tail of the task selected in the tasks pane.
#[derive(Debug, Clone, Default)]
pub struct LogTail {
    /// The task.
    pub task: i64,
    /// Its newest lines (at most a screenful is kept).
    pub lines: Vec<LogLine>,
    /// The fetch in flight.
    pub pending: Option<u64>,
}

/// A table pane.
#[derive(Debug, Clone)]
pub struct TableView {
    /// What it lists.
    pub kind: Kind,
    /// The order.
    pub order: Order,
    /// The filter as typed after `/`.
    pub filter: String,
    /// The rows.
    pub paged: Paged,
    /// Page fetches in flight: (page, request id).
    pub pending: Vec<(usize, u64)>,
    /// The last load error.
    pub error: Option<String>,
    /// The last change summary seen by polling, and the time polled from.
    pub mark: Option<(chrono::DateTime<Utc>, crate::service::query::ChangeMark)>,
    /// The change poll in flight.
    pub poll_pending: Option<u64>,
    /// The selected task's log (tasks pane on a tall enough terminal).
    pub tail: Option<LogTail>,
}

impl TableView {
    /// A fresh table of `kind`.
    pub fn new(kind: Kind) -> TableView {
        TableView {
            kind,
            order: Order::default(),
            filter: String::new(),
            paged: Paged::new(),
            pending: Vec::new(),
            error: None,
            mark: None,
            poll_pending: None,
            tail: None,
        }
    }
}

/// The detail pane of one row.
#[derive(Debug, Clone)]
pub struct DetailView {
    /// Kind of the row.
    pub kind: Kind,
    /// Its id.
    pub id: i64,
    /// The detail once loaded.
    pub data: Option<Detail>,
    /// The open tab.
    pub tab: usize,
    /// Scroll of the tab's content (the selected row of a table tab).
    pub scroll: u16,
    /// The load in flight.
    pub pending: Option<u64>,
    /// Task logs (tasks only), tailed live.
    pub logs: Vec<LogLine>,
    /// The log fetch in flight.
    pub logs_pending: Option<u64>,
    /// The last load error.
    pub error: Option<String>,
}

/// A view on the navigation stack.
#[derive(Debug, Clone)]
pub enum View {
    /// The dashboard.
    Dashboard,
    /// A table.
    Table(TableView),
    /// A row's detail.
    Detail(DetailView),
}

/// A dangerous action waiting for `confirm`.
#[derive(Debug, Clone, PartialEq)]
pub struct Confirm {
    /// A linked row of the detail (unlink) instead of the row itself: what, and its id.
    pub link: Option<(Link, i64)>,
    /// The action.
    pub action: Action,
    /// On what.
    pub kind: Kind,
    /// Which row.
    pub id: i64,
    /// The row's label, shown in the question.
    pub label: String,
    /// A value the action needs once confirmed (the host key fingerprint that was shown).
    pub arg: Option<String>,
}

/// What takes the keys besides the view.
#[derive(Debug, Clone)]
pub enum Mode {
    /// Keys go to the view.
    Normal,
    /// `:` command line; the selected completion.
    Command(Input, usize),
    /// `/` filter line.
    Filter(Input),
    /// The help overlay, scrolled.
    Help(u16),
    /// A form.
    Form(Form),
    /// A question before a dangerous action.
    Confirm(Confirm),
    /// A secret shown once (a new API key, a first password), with its title key.
    Reveal(&'static str, Redacted<String>),
}

/// The flash line: the result of the last action.
#[derive(Debug, Clone, PartialEq)]
pub struct Flash {
    /// Text.
    pub text: String,
    /// Colour.
    pub tone: Tone,
    /// Ticks left before it fades.
    pub ttl: u8,
}

/// The dashboard's data.
#[derive(Debug, Clone, Default)]
pub struct DashboardState {
    /// The figures once loaded.
    pub data: Option<Dashboard>,
    /// The load in flight.
    pub pending: Option<u64>,
}

/// The whole state.
#[derive(Debug, Clone)]
pub struct State {
    /// Messages.
    pub cat: Catalog,
    /// Keys.
    pub keymap: Keymap,
    /// The user's timezone.
    pub tz: chrono_tz::Tz,
    /// The clock (advanced by ticks, so drawing stays pure).
    pub now: DateTime<Utc>,
    /// `--read-only`: no action that changes data.
    pub read_only: bool,
    /// Which screen.
    pub screen: Screen,
    /// Who is logged in.
    pub actor: Option<Actor>,
    /// The navigation stack (never empty; the bottom is the dashboard).
    pub stack: Vec<View>,
    /// Overlay mode.
    pub mode: Mode,
    /// The flash line.
    pub flash: Option<Flash>,
    /// Dashboard data.
    pub dashboard: DashboardState,
    /// Terminal size.
    pub size: (u16, u16),
    /// Ticks since start (drives polling).
    pub ticks: u64,
    /// Set when the console should exit.
    pub quit: bool,
    /// A row action (or logout) in flight: its request id and action.
    pub action_pending: Option<(u64, Option<Action>)>,
    /// An edit form being loaded.
    pub edit_pending: Option<u64>,
    /// The user's preferences being read.
    pub prefs_pending: Option<u64>,
    /// Username to prefill on the login screen (`--user`).
    pub login_user: Option<String>,
    /// `--lang` was given: the user's `language` setting does not override it.
    pub lang_forced: bool,
    /// Counts changes that show on screen: the loop redraws when it moved (see [`State::touch`]).
    pub generation: u64,
    /// Timed polling's pause after failed reads.
    pub backoff: Backoff,
    next_request: u64,
}

/// Timed polling's pause after failures: exponential in the failures in a row (2, 4, 8… ticks),
/// capped at [`Backoff::MAX_TICKS`], cleared by the next successful read. Keys (refresh) and
/// worker events are not held back.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Backoff {
    /// Failed reads in a row.
    pub failures: u32,
    /// Timed polling resumes at this tick.
    pub until_tick: u64,
}

impl Backoff {
    /// The longest pause, in ticks (seconds).
    pub const MAX_TICKS: u64 = 60;

    /// The pause after `failures` failures in a row.
    pub fn delay(failures: u32) -> u64 {
        match failures {
            0 => 0,
            n => (1u64 << n.min(16)).min(Self::MAX_TICKS),
        }
    }

    /// A read failed at `tick`: pause longer.
    pub fn failed(&mut self, tick: u64) {
        self.failures = self.failures.saturating_add(1);
        self.until_tick = tick + Self::delay(self.failures);
    }

    /// A read succeeded: poll at the normal pace again.
    pub fn succeeded(&mut self) {
        *self = Backoff::default();
    }

    /// Whether timed polling may run at `tick`.
    pub fn allows(&self, tick: u64) -> bool {
        tick >= self.until_tick
    }
}

impl State {
    /// A state before the session check.
    pub fn new(cat: Catalog, keymap: Keymap, tz: chrono_tz::Tz, read_only: bool, now: DateTime<Utc>) -> State {
        State {
            cat,
            keymap,
            tz,
            now,
            read_only,
            screen: Screen::Starting,
            actor: None,
            stack: vec![View::Dashboard],
            mode: Mode::Normal,
            flash: None,
            dashboard: DashboardState::default(),
            size: (120, 40),
            ticks: 0,
            quit: false,
            action_pending: None,
            edit_pending: None,
            prefs_pending: None,
            login_user: None,
            lang_forced: false,
            generation: 0,
            backoff: Backoff::default(),
            next_request: 0,
        }
    }

    /// Marks a change that shows on screen (the loop redraws on the next frame).
    pub fn touch(&mut self) {
        self.generation = self.generation.wrapping_add(1);
    }

    /// A fresh request id.
    pub fn request(&mut self) -> u64 {
        self.next_request += 1;
        self.next_request
    }

    /// The top view.
    pub fn view(&self) -> &View {
        self.stack.last().unwrap_or(&View::Dashboard)
    }

    /// The top view, mutable.
    pub fn view_mut(&mut self) -> &mut View {
        if self.stack.is_empty() {
            self.stack.push(View::Dashboard);
        }
        let n = self.stack.len() - 1;
        &mut self.stack[n]
    }

    /// Rows of a table that fit on screen.
    pub fn table_height(&self) -> usize {
        let tail = if self.shows_tail() { TAIL_ROWS } else { 0 };
        self.size.1.saturating_sub(TABLE_CHROME + tail).max(1) as usize
    }

    /// Whether the tasks pane is up with room for the selected task's log under it.
    pub fn shows_tail(&self) -> bool {
        matches!(self.view(), View::Table(t) if t.kind == Kind::Tasks) && self.size.1 >= TAIL_MIN_HEIGHT
    }

    /// Shows a message on the flash line.
    pub fn flash(&mut self, text: impl Into<String>, tone: Tone) {
        self.touch();
        self.flash = Some(Flash {
            text: text.into(),
            tone,
            ttl: 8,
        });
    }

    /// Whether an action may run here (read-only mode hides those that change data).
    pub fn allowed(&self, a: Action) -> bool {
        !(self.read_only && a.mutates())
    }

    /// Breadcrumbs of the stack, as catalog-resolved titles.
    pub fn breadcrumbs(&self) -> Vec<String> {
        self.stack
            .iter()
            .map(|v| match v {
                View::Dashboard => self.cat.get("pane.dashboard").to_string(),
                View::Table(t) => self.cat.get(t.kind.title_key()).to_string(),
                View::Detail(d) => match &d.data {
                    Some(data) => data.title.clone(),
                    None => format!("#{}", d.id),
                },
            })
            .collect()
    }
}
