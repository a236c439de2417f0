//! Replies of effects: each lands where its request id is waited for; others are stale and
//! dropped.

use tui_input::Input;

use super::load::{load_view, refresh};
use crate::service::dashboard::Dashboard;
use crate::tui::action::{Action, Danger};
use crate::tui::effects::{Effect, Reply};
use crate::tui::resources::{danger, Kind, Target};
use crate::tui::state::{Login, Mode, Screen, State, View};
use crate::tui::theme::Tone;

/// Log lines kept under the tasks table.
const TAIL_KEEP: usize = 200;

/// Whether two dashboards show the same (the time they were read is not shown).
fn same_dashboard(old: Option<&Dashboard>, new: &Dashboard) -> bool {
    old.is_some_and(|o| {
        Dashboard {
            at: o.at,
            ..new.clone()
        } == *o
    })
}

pub(super) fn on_reply(s: &mut State, req: u64, r: Reply) -> Vec<Effect> {
    // Reads repeated by polling mark the state changed only when what they bring differs.
    let quiet = matches!(
        r,
        Reply::Changes(_) | Reply::Logs(_) | Reply::Page { .. } | Reply::Detail(_) | Reply::Dashboard(_)
    );
    if !quiet {
        s.touch();
    }
    // Session replies.
    let login_req = match &s.screen {
        Screen::Login(l) => l.pending,
        _ => None,
    };
    match r {
        Reply::LoggedIn(actor) if matches!(s.screen, Screen::Starting) || login_req == Some(req) => {
            s.actor = Some(actor);
            s.screen = Screen::Main;
            s.stack = vec![View::Dashboard];
            s.dashboard = Default::default();
            let req = s.request();
            s.prefs_pending = Some(req);
            let mut out = vec![Effect::LoadPreferences { req }];
            out.extend(load_view(s));
            return out;
        }
        Reply::NeedLogin(prefill) if matches!(s.screen, Screen::Starting) => {
            let mut l = Login::default();
            if let Some(u) = prefill.or_else(|| s.login_user.clone()) {
                l.username = Input::new(u);
                l.focus = 1;
            }
            s.screen = Screen::Login(Box::new(l));
            return vec![];
        }
        Reply::LoginFailed(msg) if login_req == Some(req) => {
            if let Screen::Login(l) = &mut s.screen {
                l.pending = None;
                l.error = Some(msg);
                l.password = Input::default();
                l.new_password = Input::default();
                l.repeat = Input::default();
                l.focus = 1;
            }
            return vec![];
        }
        Reply::PasswordChangeRequired(_) if login_req == Some(req) => {
            // The password was right and is one-time: keep it, ask for the new one.
            let text = s.cat.get("login.must_change").to_string();
            if let Screen::Login(l) = &mut s.screen {
                l.pending = None;
                l.must_change = true;
                l.error = Some(text);
                l.new_password = Input::default();
                l.repeat = Input::default();
                l.focus = 2;
            }
            return vec![];
        }
        Reply::LoggedOut if s.action_pending.is_some_and(|(r, _)| r == req) => {
            s.action_pending = None;
            s.actor = None;
            s.stack = vec![View::Dashboard];
            s.mode = Mode::Normal;
            s.screen = Screen::Login(Box::default());
            return vec![];
        }
        _ => {}
    }
    if s.prefs_pending == Some(req) {
        s.prefs_pending = None;
        if let Reply::Preferences(lang, tz) = r {
            if let Some(l) = lang.as_deref().and_then(crate::tui::i18n::Lang::parse) {
                if !s.lang_forced {
                    s.cat = crate::tui::i18n::Catalog::load(l);
                }
            }
            if let Some(tz) = tz.and_then(|z| z.parse::<chrono_tz::Tz>().ok()) {
                s.tz = tz;
            }
        }
        return vec![];
    }
    // Forms.
    if let Mode::Form(f) = &mut s.mode {
        if f.pending == Some(req) {
            f.pending = None;
            match r {
                Reply::Done(note) => {
                    s.mode = Mode::Normal;
                    s.flash(note.render(&s.cat), Tone::Ok);
                    return refresh(s);
                }
                Reply::Secret(title, note, secret) => {
                    s.mode = Mode::Reveal(title, secret);
                    s.flash(note.render(&s.cat), Tone::Ok);
                    return refresh(s);
                }
                Reply::Failed(field, msg) => f.set_error(field.as_deref(), msg),
                _ => {}
            }
            return vec![];
        }
    }
    if s.edit_pending == Some(req) {
        s.edit_pending = None;
        match r {
            Reply::FormReady(f) => s.mode = Mode::Form(*f),
            Reply::Failed(_, msg) => s.flash(msg, Tone::Error),
            _ => {}
        }
        return vec![];
    }
    if let Some((_, action)) = s.action_pending.filter(|(r0, _)| *r0 == req) {
        s.action_pending = None;
        match r {
            Reply::Done(note) => {
                s.flash(note.render(&s.cat), Tone::Ok);
                // A deleted row's detail has nothing left to show.
                if action == Some(Action::Delete) && matches!(s.view(), View::Detail(_)) {
                    s.stack.pop();
                }
                return refresh(s);
            }
            Reply::Secret(title, note, text) => {
                s.flash(note.render(&s.cat), Tone::Info);
                s.mode = Mode::Reveal(title, text);
            }
            Reply::Report(title, note, text) => {
                s.flash(note.render(&s.cat), Tone::Ok);
                s.mode = Mode::Reveal(title, crate::tui::effects::Redacted(text));
                return refresh(s);
            }
            Reply::AskHostKey { id, label, presented } => {
                let confirm = crate::tui::state::Confirm {
                    action: Action::TrustHostKey,
                    kind: Kind::Servers,
                    id,
                    label,
                    link: None,
                    arg: Some(presented),
                };
                if danger(Action::TrustHostKey, Target::PresentedKey) == Danger::Safe {
                    return super::keys::confirmed(s, confirm);
                }
                s.mode = Mode::Confirm(confirm);
            }
            Reply::Failed(_, msg) => s.flash(msg, Tone::Error),
            _ => {}
        }
        return vec![];
    }
    if s.dashboard.pending == Some(req) {
        s.dashboard.pending = None;
        match r {
            Reply::Dashboard(d) => {
                s.backoff.succeeded();
                if !same_dashboard(s.dashboard.data.as_ref(), &d) {
                    s.touch();
                }
                s.dashboard.data = Some(*d);
            }
            Reply::Failed(_, msg) => {
                s.backoff.failed(s.ticks);
                s.flash(msg, Tone::Error);
            }
            _ => {}
        }
        return vec![];
    }
    // Tables and details anywhere on the stack (a reply may come after the user moved on).
    let h = s.table_height();
    let mut more = false;
    let mut poll_changed = false;
    let mut error = None;
    // Whether a read of a view came back (Some(true)) or failed (Some(false)), and whether
    // what it brought shows.
    let mut read_ok = None;
    let mut shows = false;
    for v in s.stack.iter_mut() {
        match v {
            View::Table(t) => {
                if t.poll_pending == Some(req) {
                    t.poll_pending = None;
                    read_ok = Some(matches!(r, Reply::Changes(_)));
                    if let Reply::Changes(m) = r {
                        let changed = match t.mark {
                            None => m.rows > 0,
                            Some((_, old)) => old != m,
                        };
                        let since = t.mark.map(|(since, _)| since).unwrap_or(s.now);
                        t.mark = Some((m.latest.unwrap_or(since), m));
                        if changed {
                            poll_changed = true;
                        }
                    }
                    break;
                }
                if let Some(tail) = t.tail.as_mut().filter(|x| x.pending == Some(req)) {
                    tail.pending = None;
                    read_ok = Some(matches!(r, Reply::Logs(_)));
                    if let Reply::Logs(lines) = r {
                        shows = !lines.is_empty();
                        tail.lines.extend(lines);
                        let n = tail.lines.len();
                        if n > TAIL_KEEP {
                            tail.lines.drain(..n - TAIL_KEEP);
                        }
                    }
                    break;
                }
                let Some(pos) = t.pending.iter().position(|(_, r)| *r == req) else {
                    continue;
                };
                let (page, _) = t.pending.remove(pos);
                match r {
                    Reply::Page {
                        page: p,
                        rows,
                        fetched,
                        end,
                    } if p == page => {
                        let before = (t.error.take().is_some(), t.paged.clone());
                        t.paged.apply(page, rows, fetched, end);
                        t.paged.scroll_into_view(h);
                        shows = before.0 || before.1 != t.paged;
                        read_ok = Some(true);
                        more = true;
                    }
                    Reply::Failed(_, msg) => {
                        t.error = Some(msg.clone());
                        read_ok = Some(false);
                        error = Some(msg);
                    }
                    _ => {}
                }
                break;
            }
            View::Detail(d) => {
                if d.pending == Some(req) {
                    d.pending = None;
                    match r {
                        Reply::Detail(x) => {
                            read_ok = Some(true);
                            shows = d.error.take().is_some() || d.data.as_ref() != Some(&*x);
                            if d.tab >= x.tabs.len() {
                                d.tab = 0;
                            }
                            d.data = Some(*x);
                        }
                        Reply::Failed(_, msg) => {
                            read_ok = Some(false);
                            d.error = Some(msg);
                        }
                        _ => {}
                    }
                    break;
                }
                if d.logs_pending == Some(req) {
                    d.logs_pending = None;
                    read_ok = Some(matches!(r, Reply::Logs(_)));
                    if let Reply::Logs(lines) = r {
                        shows = !lines.is_empty();
                        d.logs.extend(lines);
                        // Keep the tail only.
                        let n = d.logs.len();
                        if n > 2000 {
                            d.logs.drain(..n - 2000);
                        }
                    }
                    break;
                }
            }
            View::Dashboard => {}
        }
    }
    match read_ok {
        Some(true) => s.backoff.succeeded(),
        Some(false) => s.backoff.failed(s.ticks),
        None => {}
    }
    if shows {
        s.touch();
    }
    if let Some(msg) = error {
        s.flash(msg, Tone::Error);
    }
    if poll_changed {
        return refresh(s);
    }
    if more {
        // Filtered pages may hold few rows: keep reading until the screen is full.
        return load_view(s);
    }
    vec![]
}
