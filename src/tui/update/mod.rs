//! `update(&mut State, Msg) -> Vec<Effect>`: every key, tick, reply and worker event goes through
//! here. Pure: no I/O, no clock, no terminal — so it is unit-tested key by key.

mod keys;
mod load;
mod replies;

use chrono::{DateTime, Utc};
use crossterm::event::KeyEvent;

use super::effects::{Effect, Reply};
use crate::service::WorkerEvent;
use crate::tui::resources::Kind;
use crate::tui::state::{Screen, State, View};

pub use keys::{completions, run_command};
pub use load::{follow_tail, load_view, refresh};

/// An input to `update`.
#[derive(Debug, Clone)]
pub enum Msg {
    /// A key press.
    Key(KeyEvent),
    /// Pasted text (goes to the focused text field).
    Paste(String),
    /// The terminal was resized.
    Resize(u16, u16),
    /// A second passed.
    Tick(DateTime<Utc>),
    /// An effect finished.
    Reply(u64, Reply),
    /// Background work in this process reported.
    Worker(WorkerEvent),
}

/// The first effects: check the saved session.
pub fn start(s: &mut State) -> Vec<Effect> {
    let req = s.request();
    s.screen = Screen::Starting;
    vec![Effect::Resume { req }]
}

/// Applies one message. Keys, pastes and resizes always mark the state changed
/// ([`State::touch`]); ticks, replies and worker events only when what they change shows.
pub fn update(s: &mut State, msg: Msg) -> Vec<Effect> {
    match msg {
        Msg::Key(k) => {
            s.touch();
            keys::on_key(s, k)
        }
        Msg::Paste(text) => {
            s.touch();
            keys::paste(s, &text);
            vec![]
        }
        Msg::Resize(w, h) => {
            s.touch();
            s.size = (w, h);
            let hgt = s.table_height();
            if let View::Table(t) = s.view_mut() {
                t.paged.scroll_into_view(hgt);
            }
            load_view(s)
        }
        Msg::Tick(now) => on_tick(s, now),
        Msg::Reply(req, r) => replies::on_reply(s, req, r),
        Msg::Worker(ev) => on_worker(s, ev),
    }
}

/// Seconds between change polls of a table.
const POLL_TICKS: u64 = 2;
/// Seconds between full re-reads of the visible pages.
const FULL_REFRESH_TICKS: u64 = 15;

/// A second passed: advance the clock, fade the flash, and poll what the top view shows (held
/// back while [`crate::tui::state::Backoff`] pauses after failed reads).
fn on_tick(s: &mut State, now: DateTime<Utc>) -> Vec<Effect> {
    s.now = now;
    s.ticks += 1;
    if let Some(f) = &mut s.flash {
        f.ttl = f.ttl.saturating_sub(1);
        if f.ttl == 0 {
            s.flash = None;
            s.touch();
        }
    }
    if !matches!(s.screen, Screen::Main) || !s.backoff.allows(s.ticks) {
        return vec![];
    }
    let mut out = follow_tail(s);
    out.extend(match s.view() {
        // Another process may do the work. Every 15 s the visible pages are read again (so
        // deletions show); in between, a cheap poll asks whether the table changed.
        View::Table(_) if s.ticks.is_multiple_of(FULL_REFRESH_TICKS) => refresh(s),
        View::Table(t) if s.ticks.is_multiple_of(POLL_TICKS) && t.poll_pending.is_none() && t.pending.is_empty() => {
            let kind = t.kind;
            let since = t
                .mark
                .map(|(since, m)| m.latest.unwrap_or(since))
                .unwrap_or(now - chrono::Duration::seconds(2));
            let req = s.request();
            if let View::Table(t) = s.view_mut() {
                t.poll_pending = Some(req);
            }
            vec![Effect::Poll { req, kind, since }]
        }
        View::Dashboard if s.ticks.is_multiple_of(5) => load_view(s),
        View::Detail(d) if d.kind == Kind::Tasks || s.ticks.is_multiple_of(3) => load_view(s),
        _ => vec![],
    });
    out
}

fn on_worker(s: &mut State, ev: WorkerEvent) -> Vec<Effect> {
    if !matches!(s.screen, Screen::Main) {
        return vec![];
    }
    let relevant = match (s.view(), ev) {
        (View::Dashboard, _) => true,
        (View::Table(t), WorkerEvent::Task(_)) => t.kind == Kind::Tasks,
        (View::Detail(d), WorkerEvent::Task(id)) => d.kind == Kind::Tasks && d.id == id,
        (_, WorkerEvent::Changed) => true,
    };
    if relevant {
        refresh(s)
    } else {
        vec![]
    }
}

#[cfg(test)]
mod tests;
