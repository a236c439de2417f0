//! Keys: the login screen, the overlays (command line, filter, help, forms, confirmation) and
//! the views' own actions.

use crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use tui_input::Input;

use super::load::{load_view, refresh};
use crate::tui::action::{Action, Danger};
use crate::tui::effects::{Effect, Query, Redacted};
use crate::tui::keymap::Key;
use crate::tui::resources::{certificates, danger, servers, Kind, Target};
use crate::tui::state::{Confirm, DetailView, Link, Mode, Screen, State, TableView, View};
use crate::tui::theme::Tone;

/// Commands besides the panes, for `:` and its completion.
const COMMANDS: &[&str] = &["dashboard", "help", "logout", "quit"];
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

pub(super) fn paste(s: &mut State, text: &str) {
    let insert = |i: &mut Input| {
        for c in text.chars().filter(|c| !c.is_control()) {
            i.handle(tui_input::InputRequest::InsertChar(c));
        }
    };
    match (&mut s.screen, &mut s.mode) {
        (Screen::Login(l), _) => insert(l.focused()),
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

pub(super) fn on_key(s: &mut State, k: KeyEvent) -> Vec<Effect> {
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
                confirmed(s, c)
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
                .is_some_and(|f| matches!(f.kind, crate::tui::form::FieldKind::Picker(_)));
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
                            values: Redacted(form.values()),
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
        Some(Action::NextField | Action::Down) => {
            l.focus = (l.focus + 1) % l.fields();
            vec![]
        }
        Some(Action::PrevField | Action::Up) => {
            l.focus = (l.focus + l.fields() - 1) % l.fields();
            vec![]
        }
        Some(Action::Submit) => {
            if l.focus == 0 && l.password.value().is_empty() {
                l.focus = 1;
                return vec![];
            }
            if l.must_change && l.focus < 3 && l.repeat.value().is_empty() {
                l.focus += 1;
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
            let new_password = if l.must_change {
                if l.new_password.value() != l.repeat.value() || l.new_password.value().is_empty() {
                    l.error = Some(s.cat.get("login.mismatch").to_string());
                    l.new_password = Input::default();
                    l.repeat = Input::default();
                    l.focus = 2;
                    return vec![];
                }
                Some(Redacted(l.new_password.value().to_string()))
            } else {
                None
            };
            let req = s.request();
            if let Screen::Login(l) = &mut s.screen {
                l.pending = Some(req);
                l.error = None;
            }
            vec![Effect::Login {
                req,
                username,
                password: Redacted(password),
                new_password,
            }]
        }
        _ => {
            if let Some(r) = input_request(k) {
                l.focused().handle(r);
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

fn selected(s: &State) -> Option<(Kind, i64, String, Option<bool>)> {
    match s.view() {
        View::Table(t) => t.paged.selected().map(|r| {
            let label = r
                .cells
                .iter()
                .skip(1)
                .find_map(|c| match c {
                    crate::tui::resources::Cell::Text(t) if !t.is_empty() => Some(t.clone()),
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
                        Some(crate::tui::state::Body::Table(_, rows)) => rows.len().saturating_sub(1) as i64,
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
            match kind.resource().create_form(parent) {
                Some(f) => s.mode = Mode::Form(f),
                None => {
                    let msg = s.cat.get("flash.no_create").to_string();
                    s.flash(msg, Tone::Muted);
                }
            }
            vec![]
        }
        Action::RequestCert => {
            if !matches!(s.view(), View::Table(t) if t.kind == Kind::Certificates) {
                s.flash(s.cat.get("flash.not_here").to_string(), Tone::Muted);
                return vec![];
            }
            if !s.allowed(action) {
                return vec![];
            }
            s.mode = Mode::Form(certificates::request_form());
            vec![]
        }
        Action::ImportSite | Action::BindSite => {
            let site = selected_link(s).filter(|(link, _, _)| *link == Link::Site);
            let (Some((_, site, _)), View::Detail(d)) = (site, s.view()) else {
                s.flash(s.cat.get("flash.not_here").to_string(), Tone::Muted);
                return vec![];
            };
            let server = d.id;
            if !s.allowed(action) {
                return vec![];
            }
            if action == Action::BindSite {
                s.mode = Mode::Form(servers::site_bind_form(site));
                return vec![];
            }
            run_row_action(s, action, Kind::Servers, server, Some((Link::Site, site)), None)
        }
        Action::ImportSsh => {
            if !matches!(s.view(), View::Table(t) if t.kind == Kind::Servers) {
                s.flash(s.cat.get("flash.not_here").to_string(), Tone::Muted);
                return vec![];
            }
            if !s.allowed(action) {
                return vec![];
            }
            let req = s.request();
            s.action_pending = Some((req, None));
            vec![Effect::ImportSsh { req }]
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
        | Action::Acknowledge
        | Action::TestChannel
        | Action::ShowPem
        | Action::Check
        | Action::TrustHostKey
        | Action::Deploy
        | Action::Renew
        | Action::Revoke => {
            if action == Action::Delete {
                if let Some((link, link_id, label)) = selected_link(s) {
                    let (kind, id) = match s.view() {
                        View::Detail(d) => (d.kind, d.id),
                        _ => return vec![],
                    };
                    if danger(action, Target::Link) == Danger::Safe {
                        return run_row_action(s, action, kind, id, Some((link, link_id)), None);
                    }
                    s.mode = Mode::Confirm(Confirm {
                        action,
                        kind,
                        id,
                        label,
                        link: Some((link, link_id)),
                        arg: None,
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
            if danger(
                action,
                Target::Row {
                    active: active.unwrap_or(true),
                },
            ) == Danger::Dangerous
            {
                s.mode = Mode::Confirm(Confirm {
                    action,
                    kind,
                    id,
                    label,
                    link: None,
                    arg: None,
                });
                return vec![];
            }
            run_row_action(s, action, kind, id, None, None)
        }
        Action::Submit | Action::NextField | Action::PrevField | Action::Confirm => vec![],
    }
}

/// Runs an action the operator confirmed (or that needs no confirmation).
pub(super) fn confirmed(s: &mut State, c: Confirm) -> Vec<Effect> {
    run_row_action(s, c.action, c.kind, c.id, c.link, c.arg)
}

fn run_row_action(
    s: &mut State,
    action: Action,
    kind: Kind,
    id: i64,
    link: Option<(Link, i64)>,
    arg: Option<String>,
) -> Vec<Effect> {
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
        arg,
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
        crate::tui::state::Body::Table(_, rows) => rows
            .get(i)
            .map(|r| {
                r.iter()
                    .filter_map(|c| match c {
                        crate::tui::resources::Cell::Text(t) => Some(t.clone()),
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
