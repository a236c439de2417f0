//! `update(&mut State, Msg) -> Vec<Effect>`: every key, tick, reply and worker event goes through
//! here. Pure: no I/O, no clock, no terminal — so it is unit-tested key by key.

use chrono::{DateTime, Utc};
use crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use tui_input::Input;

use super::action::{Action, Danger};
use super::effects::{Effect, Query, Reply};
use super::forms;
use super::keymap::Key;
use super::resources::{danger, Kind};
use super::state::{Confirm, DetailView, Link, Login, Mode, Screen, State, TableView, View};
use super::theme::Tone;
use crate::service::WorkerEvent;

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

/// Commands besides the panes, for `:` and its completion.
const COMMANDS: &[&str] = &["dashboard", "help", "logout", "quit"];

/// The first effects: check the saved session.
pub fn start(s: &mut State) -> Vec<Effect> {
    let req = s.request();
    s.screen = Screen::Starting;
    vec![Effect::Resume { req }]
}

/// Applies one message.
pub fn update(s: &mut State, msg: Msg) -> Vec<Effect> {
    match msg {
        Msg::Key(k) => on_key(s, k),
        Msg::Paste(text) => {
            paste(s, &text);
            vec![]
        }
        Msg::Resize(w, h) => {
            s.size = (w, h);
            let hgt = s.table_height();
            if let View::Table(t) = s.view_mut() {
                t.paged.scroll_into_view(hgt);
            }
            load_view(s)
        }
        Msg::Tick(now) => on_tick(s, now),
        Msg::Reply(req, r) => on_reply(s, req, r),
        Msg::Worker(ev) => on_worker(s, ev),
    }
}

/// The actions of a key in a text field: keys that type text stay text.
fn text_action(s: &State, key: &Key) -> Option<Action> {
    if key.is_text() {
        return None;
    }
    let actions = s.keymap.actions_for(key);
    if key.mods.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
        return Some(Action::Quit);
    }
    actions.into_iter().find(|a| a.works_in_text())
}

/// The action of a key outside text fields.
fn normal_action(s: &State, key: &Key) -> Option<Action> {
    s.keymap.actions_for(key).into_iter().find(|a| {
        !matches!(
            a,
            Action::Submit | Action::NextField | Action::PrevField | Action::Confirm
        )
    })
}

fn input_request(k: &KeyEvent) -> Option<tui_input::InputRequest> {
    tui_input::backend::crossterm::to_input_request(&Event::Key(*k))
}

fn paste(s: &mut State, text: &str) {
    let insert = |i: &mut Input| {
        for c in text.chars().filter(|c| !c.is_control()) {
            i.handle(tui_input::InputRequest::InsertChar(c));
        }
    };
    match (&mut s.screen, &mut s.mode) {
        (Screen::Login(l), _) => insert(if l.focus == 0 { &mut l.username } else { &mut l.password }),
        (_, Mode::Command(i, _)) | (_, Mode::Filter(i)) => insert(i),
        (_, Mode::Form(f)) => {
            if let Some(field) = f.focused() {
                for c in text.chars().filter(|c| !c.is_control()) {
                    field.edit(tui_input::InputRequest::InsertChar(c));
                }
            }
        }
        _ => {}
    }
}

fn on_key(s: &mut State, k: KeyEvent) -> Vec<Effect> {
    if k.kind == crossterm::event::KeyEventKind::Release {
        return vec![];
    }
    let key = Key::from_event(&k);
    if let Some(f) = &mut s.flash {
        f.ttl = f.ttl.min(2);
    }
    match s.screen {
        Screen::Starting => {
            if normal_action(s, &key) == Some(Action::Quit) || text_action(s, &key) == Some(Action::Quit) {
                s.quit = true;
            }
            return vec![];
        }
        Screen::Login(_) => return login_key(s, &key, &k),
        Screen::Main => {}
    }
    match std::mem::replace(&mut s.mode, Mode::Normal) {
        Mode::Normal => normal_key(s, &key),
        Mode::Help(scroll) => {
            match normal_action(s, &key) {
                Some(Action::Up) => s.mode = Mode::Help(scroll.saturating_sub(1)),
                Some(Action::Down) => s.mode = Mode::Help(scroll.saturating_add(1)),
                Some(Action::PageDown) => s.mode = Mode::Help(scroll.saturating_add(10)),
                Some(Action::PageUp) => s.mode = Mode::Help(scroll.saturating_sub(10)),
                Some(Action::Quit) => s.quit = true,
                _ => {}
            }
            vec![]
        }
        Mode::Reveal(title, text) => {
            match normal_action(s, &key) {
                Some(Action::Back | Action::Open | Action::Quit) => {}
                _ => s.mode = Mode::Reveal(title, text),
            }
            vec![]
        }
        Mode::Confirm(c) => {
            if s.keymap.actions_for(&key).contains(&Action::Confirm) {
                run_row_action(s, c.action, c.kind, c.id, c.link)
            } else {
                s.flash(s.cat.get("flash.cancelled").to_string(), Tone::Muted);
                vec![]
            }
        }
        Mode::Command(mut input, sel) => command_key(s, &key, &k, &mut input, sel),
        Mode::Filter(mut input) => filter_key(s, &key, &k, &mut input),
        Mode::Form(mut form) => {
            let mut effects = vec![];
            let picker = form
                .fields
                .get(form.focus)
                .is_some_and(|f| matches!(f.kind, super::form::FieldKind::Picker(_)));
            let action = text_action(s, &key).or_else(|| {
                if picker {
                    s.keymap
                        .actions_for(&key)
                        .into_iter()
                        .find(|a| matches!(a, Action::NextTab | Action::PrevTab))
                } else {
                    None
                }
            });
            match action {
                Some(Action::Back) => return vec![],
                Some(Action::Quit) => {
                    s.quit = true;
                    return vec![];
                }
                Some(Action::NextField | Action::Down) => form.move_focus(1),
                Some(Action::PrevField | Action::Up) => form.move_focus(-1),
                Some(Action::NextTab) => {
                    if let Some(f) = form.focused() {
                        f.cycle(1)
                    }
                }
                Some(Action::PrevTab) => {
                    if let Some(f) = form.focused() {
                        f.cycle(-1)
                    }
                }
                Some(Action::Submit) => {
                    if form.pending.is_none() && form.check_required(s.cat.get("form.required")) {
                        let req = s.request();
                        form.pending = Some(req);
                        form.error = None;
                        effects.push(Effect::Submit {
                            req,
                            form: form.kind.clone(),
                            values: form.values(),
                        });
                    }
                }
                _ if picker && key.code == KeyCode::Char(' ') => {
                    if let Some(f) = form.focused() {
                        f.cycle(1)
                    }
                }
                _ => {
                    if let (Some(req), Some(f)) = (input_request(&k), form.focused()) {
                        f.edit(req);
                    }
                }
            }
            s.mode = Mode::Form(form);
            effects
        }
    }
}

fn login_key(s: &mut State, key: &Key, k: &KeyEvent) -> Vec<Effect> {
    let action = text_action(s, key);
    let Screen::Login(l) = &mut s.screen else {
        return vec![];
    };
    match action {
        Some(Action::Quit) | Some(Action::Back) => {
            s.quit = true;
            vec![]
        }
        Some(Action::NextField | Action::PrevField | Action::Up | Action::Down) => {
            l.focus = 1 - l.focus;
            vec![]
        }
        Some(Action::Submit) => {
            if l.focus == 0 && l.password.value().is_empty() {
                l.focus = 1;
                return vec![];
            }
            if l.pending.is_some() {
                return vec![];
            }
            let username = l.username.value().trim().to_string();
            let password = l.password.value().to_string();
            if username.is_empty() {
                l.error = Some(s.cat.get("login.need_username").to_string());
                l.focus = 0;
                return vec![];
            }
            let req = s.request();
            if let Screen::Login(l) = &mut s.screen {
                l.pending = Some(req);
                l.error = None;
            }
            vec![Effect::Login {
                req,
                username,
                password,
            }]
        }
        _ => {
            if let Some(r) = input_request(k) {
                let i = if l.focus == 0 { &mut l.username } else { &mut l.password };
                i.handle(r);
            }
            vec![]
        }
    }
}

/// The completions of a `:` line.
pub fn completions(s: &State, typed: &str) -> Vec<String> {
    let t = typed.trim().to_ascii_lowercase();
    let admin = s.actor.as_ref().is_some_and(|a| a.is_admin());
    let mut out: Vec<String> = Kind::ALL
        .iter()
        .filter(|k| admin || !k.admin_only())
        .flat_map(|k| k.commands().iter())
        .chain(COMMANDS.iter())
        .filter(|c| c.starts_with(&t))
        .map(|c| c.to_string())
        .collect();
    out.sort_by_key(|c| (c.len(), c.clone()));
    out.dedup();
    out
}

fn command_key(s: &mut State, key: &Key, k: &KeyEvent, input: &mut Input, sel: usize) -> Vec<Effect> {
    let comps = completions(s, input.value());
    match text_action(s, key) {
        Some(Action::Back) => vec![],
        Some(Action::Quit) => {
            s.quit = true;
            vec![]
        }
        Some(Action::NextField) => {
            if let Some(c) = comps.get(sel) {
                *input = Input::new(c.clone());
            }
            s.mode = Mode::Command(input.clone(), 0);
            vec![]
        }
        Some(Action::Down | Action::PrevField) if !comps.is_empty() => {
            s.mode = Mode::Command(input.clone(), (sel + 1) % comps.len());
            vec![]
        }
        Some(Action::Up) if !comps.is_empty() => {
            s.mode = Mode::Command(input.clone(), (sel + comps.len() - 1) % comps.len());
            vec![]
        }
        Some(Action::Submit) => {
            let typed = input.value().trim().to_ascii_lowercase();
            let chosen = if is_command(&typed) {
                typed
            } else {
                comps.get(sel).cloned().unwrap_or(typed)
            };
            run_command(s, &chosen)
        }
        _ => {
            if let Some(r) = input_request(k) {
                input.handle(r);
            }
            s.mode = Mode::Command(input.clone(), 0);
            vec![]
        }
    }
}

fn is_command(c: &str) -> bool {
    COMMANDS.contains(&c) || Kind::from_command(c).is_some() || c == "q"
}

/// Runs a `:` command.
pub fn run_command(s: &mut State, cmd: &str) -> Vec<Effect> {
    match cmd {
        "" => vec![],
        "quit" | "q" => {
            s.quit = true;
            vec![]
        }
        "help" => {
            s.mode = Mode::Help(0);
            vec![]
        }
        "logout" => logout(s),
        "dashboard" => go_dashboard(s),
        other => match Kind::from_command(other) {
            Some(kind) => open_table(s, kind),
            None => {
                s.flash(s.cat.fmt("flash.unknown_command", &[("cmd", other)]), Tone::Error);
                vec![]
            }
        },
    }
}

fn filter_key(s: &mut State, key: &Key, k: &KeyEvent, input: &mut Input) -> Vec<Effect> {
    match text_action(s, key) {
        Some(Action::Back) => {
            // Esc clears the filter, like k9s.
            set_filter(s, String::new())
        }
        Some(Action::Quit) => {
            s.quit = true;
            vec![]
        }
        Some(Action::Submit) => set_filter(s, input.value().trim().to_string()),
        _ => {
            if let Some(r) = input_request(k) {
                input.handle(r);
            }
            s.mode = Mode::Filter(input.clone());
            vec![]
        }
    }
}

fn set_filter(s: &mut State, filter: String) -> Vec<Effect> {
    let View::Table(t) = s.view() else {
        return vec![];
    };
    if let Err(bad) = Query::parse(t.kind, t.order, &filter) {
        let allowed = t.kind.sql_filters().join(", ");
        let msg = s.cat.fmt(
            "flash.bad_filter",
            &[
                ("key", &bad),
                ("allowed", if allowed.is_empty() { "-" } else { &allowed }),
            ],
        );
        s.flash(msg, Tone::Error);
        s.mode = Mode::Filter(Input::new(filter));
        return vec![];
    }
    if let View::Table(t) = s.view_mut() {
        if t.filter == filter {
            return vec![];
        }
        let kind = t.kind;
        let order = t.order;
        *t = TableView::new(kind);
        t.order = order;
        t.filter = filter;
    }
    load_view(s)
}

fn open_table(s: &mut State, kind: Kind) -> Vec<Effect> {
    if kind.admin_only() && !s.actor.as_ref().is_some_and(|a| a.is_admin()) {
        s.flash(s.cat.get("flash.admin_only").to_string(), Tone::Error);
        return vec![];
    }
    // Opening a pane from the command line replaces the stack above the dashboard (k9s).
    s.stack.truncate(1);
    s.stack.push(View::Table(TableView::new(kind)));
    load_view(s)
}

fn go_dashboard(s: &mut State) -> Vec<Effect> {
    s.stack.truncate(1);
    load_view(s)
}

fn logout(s: &mut State) -> Vec<Effect> {
    let req = s.request();
    s.action_pending = Some((req, None));
    vec![Effect::Logout { req }]
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
            fetch_pages(s, kind, &query, needs)
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

/// Fetches pages of the top table, each marked in flight under its request id.
fn fetch_pages(s: &mut State, kind: Kind, query: &Query, needs: Vec<super::paged::Need>) -> Vec<Effect> {
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

fn selected(s: &State) -> Option<(Kind, i64, String, Option<bool>)> {
    match s.view() {
        View::Table(t) => t.paged.selected().map(|r| {
            let label = r
                .cells
                .iter()
                .skip(1)
                .find_map(|c| match c {
                    super::resources::Cell::Text(t) if !t.is_empty() => Some(t.clone()),
                    _ => None,
                })
                .unwrap_or_else(|| format!("#{}", r.id));
            (t.kind, r.id, label, r.active)
        }),
        View::Detail(d) => Some((
            d.kind,
            d.id,
            d.data
                .as_ref()
                .map(|x| x.title.clone())
                .unwrap_or_else(|| format!("#{}", d.id)),
            d.data.as_ref().map(|x| x.active),
        )),
        View::Dashboard => None,
    }
}

fn normal_key(s: &mut State, key: &Key) -> Vec<Effect> {
    let Some(action) = normal_action(s, key) else {
        return vec![];
    };
    if !s.allowed(action) {
        s.flash(s.cat.get("flash.read_only").to_string(), Tone::Warn);
        return vec![];
    }
    let h = s.table_height();
    match action {
        Action::Quit => {
            s.quit = true;
            vec![]
        }
        Action::Help => {
            s.mode = Mode::Help(0);
            vec![]
        }
        Action::Command => {
            s.mode = Mode::Command(Input::default(), 0);
            vec![]
        }
        Action::Filter => {
            if let View::Table(t) = s.view() {
                s.mode = Mode::Filter(Input::new(t.filter.clone()));
            }
            vec![]
        }
        Action::Back => {
            // Esc first clears a table's filter (k9s), then goes back.
            if let View::Table(t) = s.view() {
                if !t.filter.is_empty() {
                    return set_filter(s, String::new());
                }
            }
            if s.stack.len() > 1 {
                s.stack.pop();
                return refresh(s);
            }
            vec![]
        }
        Action::Dashboard => go_dashboard(s),
        Action::Refresh => {
            if let View::Dashboard = s.view() {
                s.dashboard.pending = None;
            }
            refresh(s)
        }
        Action::Logout => logout(s),
        Action::Up | Action::Down | Action::PageUp | Action::PageDown | Action::Top | Action::Bottom => {
            let delta: i64 = match action {
                Action::Up => -1,
                Action::Down => 1,
                Action::PageUp => -(h as i64),
                Action::PageDown => h as i64,
                _ => 0,
            };
            match s.view_mut() {
                View::Table(t) => {
                    match action {
                        Action::Top => t.paged.top(),
                        Action::Bottom => t.paged.bottom(h),
                        _ => t.paged.move_by(delta, h),
                    }
                    t.paged.evict();
                    load_view(s)
                }
                View::Detail(d) => {
                    // Table tabs select a row (clamped); other tabs scroll.
                    let max = match d.data.as_ref().and_then(|x| x.tabs.get(d.tab)).map(|t| &t.body) {
                        Some(super::state::Body::Table(_, rows)) => rows.len().saturating_sub(1) as i64,
                        _ => u16::MAX as i64 / 2,
                    };
                    d.scroll = match action {
                        Action::Top => 0,
                        Action::Bottom => max as u16,
                        _ => (d.scroll as i64 + delta).clamp(0, max) as u16,
                    };
                    vec![]
                }
                View::Dashboard => vec![],
            }
        }
        Action::Open => {
            let Some((kind, id, _, _)) = selected(s) else {
                return vec![];
            };
            if let View::Table(_) = s.view() {
                s.stack.push(View::Detail(DetailView {
                    kind,
                    id,
                    data: None,
                    tab: 0,
                    scroll: 0,
                    pending: None,
                    logs: Vec::new(),
                    logs_pending: None,
                    error: None,
                }));
                return load_view(s);
            }
            vec![]
        }
        Action::Sort => {
            if let View::Table(t) = s.view_mut() {
                let orders = t.kind.orders();
                if orders.len() < 2 {
                    let msg = s.cat.get("flash.no_sort").to_string();
                    s.flash(msg, Tone::Muted);
                    return vec![];
                }
                let i = orders.iter().position(|o| *o == t.order).unwrap_or(0);
                let next = orders[(i + 1) % orders.len()];
                let (kind, filter) = (t.kind, t.filter.clone());
                *t = TableView::new(kind);
                t.order = next;
                t.filter = filter;
                let msg = s.cat.fmt("flash.sorted", &[("order", s.cat.get(next.key()))]);
                s.flash(msg, Tone::Info);
                return load_view(s);
            }
            vec![]
        }
        Action::NextTab | Action::PrevTab => {
            if let View::Detail(d) = s.view_mut() {
                let n = d.data.as_ref().map(|x| x.tabs.len()).unwrap_or(1).max(1);
                d.tab = if action == Action::NextTab {
                    (d.tab + 1) % n
                } else {
                    (d.tab + n - 1) % n
                };
                d.scroll = 0;
            }
            vec![]
        }
        Action::Create => {
            let (kind, parent) = match s.view() {
                View::Table(t) => (t.kind, None),
                View::Detail(d) => (d.kind, Some(d.id)),
                View::Dashboard => return vec![],
            };
            match forms::create(kind, parent) {
                Some(f) => s.mode = Mode::Form(f),
                None => {
                    let msg = s.cat.get("flash.no_create").to_string();
                    s.flash(msg, Tone::Muted);
                }
            }
            vec![]
        }
        Action::Edit => {
            let Some((kind, id, _, _)) = selected(s) else {
                return vec![];
            };
            if !kind.row_actions().contains(&Action::Edit) {
                s.flash(s.cat.get("flash.not_here").to_string(), Tone::Muted);
                return vec![];
            }
            let req = s.request();
            s.edit_pending = Some(req);
            vec![Effect::OpenEdit { req, kind, id }]
        }
        Action::Delete
        | Action::Toggle
        | Action::RunNow
        | Action::Retry
        | Action::CancelTask
        | Action::Resolve
        | Action::ShowPem => {
            if action == Action::Delete {
                if let Some((link, link_id, label)) = selected_link(s) {
                    let (kind, id) = match s.view() {
                        View::Detail(d) => (d.kind, d.id),
                        _ => return vec![],
                    };
                    s.mode = Mode::Confirm(Confirm {
                        action,
                        kind,
                        id,
                        label,
                        link: Some((link, link_id)),
                    });
                    return vec![];
                }
            }
            let Some((kind, id, label, active)) = selected(s) else {
                return vec![];
            };
            if !kind.row_actions().contains(&action) {
                s.flash(s.cat.get("flash.not_here").to_string(), Tone::Muted);
                return vec![];
            }
            if danger(action, active.unwrap_or(true)) == Danger::Dangerous {
                s.mode = Mode::Confirm(Confirm {
                    action,
                    kind,
                    id,
                    label,
                    link: None,
                });
                return vec![];
            }
            run_row_action(s, action, kind, id, None)
        }
        Action::Submit | Action::NextField | Action::PrevField | Action::Confirm => vec![],
    }
}

fn run_row_action(s: &mut State, action: Action, kind: Kind, id: i64, link: Option<(Link, i64)>) -> Vec<Effect> {
    if !s.allowed(action) {
        return vec![];
    }
    let req = s.request();
    // Unlinking keeps the detail open; deleting the row itself closes it.
    let pending = if link.is_some() { None } else { Some(action) };
    s.action_pending = Some((req, pending));
    vec![Effect::RowAction {
        req,
        action,
        kind,
        id,
        link,
    }]
}

/// The linked row selected in the detail's current table tab, if that tab lists links.
fn selected_link(s: &State) -> Option<(Link, i64, String)> {
    let View::Detail(d) = s.view() else {
        return None;
    };
    let tab = d.data.as_ref()?.tabs.get(d.tab)?;
    let (link, ids) = tab.links.as_ref()?;
    let i = d.scroll as usize;
    let label = match &tab.body {
        super::state::Body::Table(_, rows) => rows
            .get(i)
            .map(|r| {
                r.iter()
                    .filter_map(|c| match c {
                        super::resources::Cell::Text(t) => Some(t.clone()),
                        _ => None,
                    })
                    .take(3)
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default(),
        _ => String::new(),
    };
    ids.get(i).map(|id| (*link, *id, label))
}

/// Seconds between change polls of a table.
const POLL_TICKS: u64 = 2;
/// Seconds between full re-reads of the visible pages.
const FULL_REFRESH_TICKS: u64 = 15;

fn on_tick(s: &mut State, now: DateTime<Utc>) -> Vec<Effect> {
    s.now = now;
    s.ticks += 1;
    if let Some(f) = &mut s.flash {
        f.ttl = f.ttl.saturating_sub(1);
        if f.ttl == 0 {
            s.flash = None;
        }
    }
    if !matches!(s.screen, Screen::Main) {
        return vec![];
    }
    match s.view() {
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
    }
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

fn on_reply(s: &mut State, req: u64, r: Reply) -> Vec<Effect> {
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
                l.focus = 1;
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
            if let Some(l) = lang.as_deref().and_then(super::i18n::Lang::parse) {
                if !s.lang_forced {
                    s.cat = super::i18n::Catalog::load(l);
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
            Reply::Failed(_, msg) => s.flash(msg, Tone::Error),
            _ => {}
        }
        return vec![];
    }
    if s.dashboard.pending == Some(req) {
        s.dashboard.pending = None;
        match r {
            Reply::Dashboard(d) => s.dashboard.data = Some(*d),
            Reply::Failed(_, msg) => s.flash(msg, Tone::Error),
            _ => {}
        }
        return vec![];
    }
    // Tables and details anywhere on the stack (a reply may come after the user moved on).
    let h = s.table_height();
    let mut more = false;
    let mut poll_changed = false;
    let mut error = None;
    for v in s.stack.iter_mut() {
        match v {
            View::Table(t) => {
                if t.poll_pending == Some(req) {
                    t.poll_pending = None;
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
                        t.error = None;
                        t.paged.apply(page, rows, fetched, end);
                        t.paged.scroll_into_view(h);
                        more = true;
                    }
                    Reply::Failed(_, msg) => {
                        t.error = Some(msg.clone());
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
                            d.error = None;
                            if d.tab >= x.tabs.len() {
                                d.tab = 0;
                            }
                            d.data = Some(*x);
                        }
                        Reply::Failed(_, msg) => d.error = Some(msg),
                        _ => {}
                    }
                    break;
                }
                if d.logs_pending == Some(req) {
                    d.logs_pending = None;
                    if let Reply::Logs(lines) = r {
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

#[cfg(test)]
#[path = "update_tests.rs"]
mod tests;
