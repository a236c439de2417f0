//! `update(&mut State, Msg) -> Vec<Effect>`: every key, tick, reply and worker event goes through
//! here. Pure: no I/O, no clock, no terminal — so it is unit-tested key by key.

mod keys;
mod replies;

use chrono::{DateTime, Utc};
use crossterm::event::KeyEvent;

use super::effects::{Effect, Query, Reply};
use crate::service::WorkerEvent;
use crate::tui::resources::Kind;
use crate::tui::state::{Screen, State, View};

pub use keys::{completions, run_command};

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

/// Fetches what the top view is missing.
pub fn load_view(s: &mut State) -> Vec<Effect> {
    let h = s.table_height();
    match s.view() {
        View::Dashboard => {
            if s.dashboard.pending.is_none() {
                let req = s.request();
                s.dashboard.pending = Some(req);
                return vec![Effect::LoadDashboard { req }];
            }
            vec![]
        }
        View::Table(t) => {
            let Ok(query) = Query::parse(t.kind, t.order, &t.filter) else {
                return vec![];
            };
            let kind = t.kind;
            let needs: Vec<_> = t
                .paged
                .needed(h)
                .into_iter()
                .filter(|n| !t.pending.iter().any(|(p, _)| *p == n.page))
                .collect();
            let mut out = fetch_pages(s, kind, &query, needs);
            out.extend(follow_tail(s));
            out
        }
        View::Detail(d) => {
            if d.pending.is_some() {
                return vec![];
            }
            let (kind, id) = (d.kind, d.id);
            let tail = (d.logs_pending.is_none()).then(|| d.logs.last().map(|l| l.id).unwrap_or(0));
            let req = s.request();
            let mut out = vec![Effect::LoadDetail { req, kind, id }];
            let mut log_req = None;
            if let (Kind::Tasks, Some(after)) = (kind, tail) {
                let r = s.request();
                out.push(Effect::LoadLogs {
                    req: r,
                    task: id,
                    after,
                });
                log_req = Some(r);
            }
            if let View::Detail(d) = s.view_mut() {
                d.pending = Some(req);
                if log_req.is_some() {
                    d.logs_pending = log_req;
                }
            }
            out
        }
    }
}

/// Follows the log of the task selected in the tasks pane: a new selection starts a new tail;
/// otherwise the lines after the last one seen are fetched (one fetch at a time).
pub fn follow_tail(s: &mut State) -> Vec<Effect> {
    if !s.shows_tail() {
        return vec![];
    }
    let View::Table(t) = s.view() else {
        return vec![];
    };
    let Some(task) = t.paged.selected().map(|r| r.id) else {
        return vec![];
    };
    let after = match &t.tail {
        Some(tail) if tail.task == task => {
            if tail.pending.is_some() {
                return vec![];
            }
            tail.lines.last().map(|l| l.id).unwrap_or(0)
        }
        _ => 0,
    };
    let req = s.request();
    if let View::Table(t) = s.view_mut() {
        match &mut t.tail {
            Some(tail) if tail.task == task => tail.pending = Some(req),
            _ => {
                t.tail = Some(crate::tui::state::LogTail {
                    task,
                    lines: Vec::new(),
                    pending: Some(req),
                })
            }
        }
    }
    vec![Effect::LoadLogs { req, task, after }]
}

/// Fetches pages of the top table, each marked in flight under its request id.
fn fetch_pages(s: &mut State, kind: Kind, query: &Query, needs: Vec<crate::tui::paged::Need>) -> Vec<Effect> {
    let mut out = Vec::new();
    for n in needs {
        let req = s.request();
        if let View::Table(t) = s.view_mut() {
            t.pending.push((n.page, req));
        }
        out.push(Effect::LoadPage {
            req,
            kind,
            query: query.clone(),
            page: n.page,
            start: n.start,
        });
    }
    out
}

/// Re-reads what the top view shows (polling and `refresh`): the loaded pages of a table, a
/// detail, the dashboard. Skipped while a read of the same view is in flight.
pub fn refresh(s: &mut State) -> Vec<Effect> {
    match s.view() {
        View::Table(t) => {
            if !t.pending.is_empty() {
                return vec![];
            }
            let Ok(query) = Query::parse(t.kind, t.order, &t.filter) else {
                return vec![];
            };
            let kind = t.kind;
            let mut loaded = t.paged.loaded();
            if loaded.is_empty() {
                return load_view(s);
            }
            loaded.sort_by_key(|n| n.page);
            fetch_pages(s, kind, &query, loaded)
        }
        _ => load_view(s),
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
