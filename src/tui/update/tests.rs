//! Unit tests of `update`: navigation, filter, command mode, forms and confirm flows — keys in,
//! state and effects out, no terminal and no database.

use chrono::{TimeZone, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::*;
use crate::domain::UserRole;
use crate::service::Actor;
use crate::tui::action::Action;
use crate::tui::effects::Note;
use crate::tui::form::{FormKind, FormOp};
use crate::tui::i18n::{Catalog, Lang};
use crate::tui::keymap::Keymap;
use crate::tui::resources::{Cell, Cursor, Row};
use crate::tui::state::{Mode, TableView};
use crate::tui::theme::Tone;

fn state() -> State {
    let (km, _) = Keymap::load("default", None);
    let now = Utc.with_ymd_and_hms(2026, 11, 30, 12, 0, 0).unwrap();
    let mut s = State::new(Catalog::load(Lang::En), km, chrono_tz::UTC, false, now);
    s.size = (120, 40);
    s
}

fn admin() -> Actor {
    Actor {
        user_id: 1,
        username: "admin".into(),
        role: UserRole::Admin,
        read_only: false,
    }
}

/// A logged-in state on the dashboard, with its load answered.
fn main_state() -> State {
    let mut s = state();
    let fx = start(&mut s);
    let Effect::Resume { req } = fx[0] else {
        panic!("{fx:?}")
    };
    update(&mut s, Msg::Reply(req, Reply::LoggedIn(admin())));
    s
}

fn key(c: char) -> Msg {
    Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
}

fn code(c: KeyCode) -> Msg {
    Msg::Key(KeyEvent::new(c, KeyModifiers::NONE))
}

fn ctrl(c: char) -> Msg {
    Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL))
}

fn typed(s: &mut State, text: &str) -> Vec<Effect> {
    let mut out = vec![];
    for c in text.chars() {
        out.extend(update(s, key(c)));
    }
    out
}

fn rows(ids: std::ops::RangeInclusive<i64>) -> Vec<Row> {
    ids.rev()
        .map(|i| {
            Row::new(
                i,
                vec![Cell::Text(i.to_string()), Cell::Text(format!("host{i}.example.com"))],
            )
            .active(true)
        })
        .collect()
}

/// Answers every page load with `n` rows (newest first, ids n..1).
fn answer_pages(s: &mut State, fx: Vec<Effect>, n: i64) {
    let mut queue = fx;
    while let Some(e) = queue.pop() {
        if let Effect::LoadPage { req, page, start, .. } = e {
            let top = match start {
                None => n,
                Some(Cursor::Id(id)) => id - 1,
                Some(_) => unreachable!(),
            };
            let lo = (top - crate::tui::paged::PAGE_SIZE + 1).max(1);
            let r = if top >= 1 { rows(lo..=top) } else { vec![] };
            let fetched = r.len();
            let end = r.last().map(|r| r.cursor);
            queue.extend(update(
                s,
                Msg::Reply(
                    req,
                    Reply::Page {
                        page,
                        rows: r,
                        fetched,
                        end,
                    },
                ),
            ));
        }
    }
}

fn table(s: &State) -> &TableView {
    match s.view() {
        View::Table(t) => t,
        v => panic!("not a table: {v:?}"),
    }
}

#[test]
fn start_resumes_the_session_or_asks_to_log_in_with_the_prefilled_user() {
    let mut s = state();
    s.login_user = Some("alice".into());
    let fx = start(&mut s);
    let Effect::Resume { req } = fx[0] else { panic!() };
    update(&mut s, Msg::Reply(req, Reply::NeedLogin(None)));
    let Screen::Login(l) = &s.screen else {
        panic!("{:?}", s.screen)
    };
    assert_eq!(l.username.value(), "alice");
    assert_eq!(l.focus, 1, "focus goes to the password when the user is prefilled");
}

#[test]
fn a_one_time_password_makes_the_login_form_ask_for_a_new_one() {
    let mut s = state();
    let fx = start(&mut s);
    let Effect::Resume { req } = fx[0] else { panic!() };
    update(&mut s, Msg::Reply(req, Reply::NeedLogin(Some("carol".into()))));
    typed(&mut s, "one-time-pw");
    let fx = update(&mut s, code(KeyCode::Enter));
    let [Effect::Login { req, .. }] = &fx[..] else {
        panic!("{fx:?}")
    };
    update(
        &mut s,
        Msg::Reply(*req, Reply::PasswordChangeRequired("one-time".into())),
    );
    let Screen::Login(l) = &s.screen else { panic!() };
    assert!(l.must_change && l.focus == 2, "{l:?}");
    assert_eq!(l.password.value(), "one-time-pw", "the one-time password is kept");
    assert_eq!(l.error.as_deref(), Some(s.cat.get("login.must_change")));
    // Two different new passwords: refused here, nothing sent.
    typed(&mut s, "carol's own pw");
    update(&mut s, code(KeyCode::Tab));
    typed(&mut s, "carol's other pw");
    assert!(update(&mut s, code(KeyCode::Enter)).is_empty());
    let Screen::Login(l) = &s.screen else { panic!() };
    assert_eq!(l.error.as_deref(), Some(s.cat.get("login.mismatch")));
    assert_eq!((l.focus, l.new_password.value(), l.repeat.value()), (2, "", ""));
    // The same twice: one login that sets it.
    typed(&mut s, "carol's own pw");
    let fx = update(&mut s, code(KeyCode::Enter));
    assert!(fx.is_empty(), "enter on the new password moves to the repeat field");
    typed(&mut s, "carol's own pw");
    let fx = update(&mut s, code(KeyCode::Enter));
    let [Effect::Login {
        username,
        password,
        new_password: Some(new),
        ..
    }] = &fx[..]
    else {
        panic!("{fx:?}")
    };
    assert_eq!(
        (username.as_str(), password.0.as_str(), new.0.as_str()),
        ("carol", "one-time-pw", "carol's own pw")
    );
}

#[test]
fn login_sends_credentials_and_shows_the_refusal() {
    let mut s = state();
    let fx = start(&mut s);
    let Effect::Resume { req } = fx[0] else { panic!() };
    update(&mut s, Msg::Reply(req, Reply::NeedLogin(None)));
    typed(&mut s, "bob");
    update(&mut s, code(KeyCode::Tab));
    typed(&mut s, "hunter2 q");
    let fx = update(&mut s, code(KeyCode::Enter));
    let [Effect::Login {
        req,
        username,
        password,
        new_password: None,
    }] = &fx[..]
    else {
        panic!("{fx:?}")
    };
    assert_eq!(
        (username.as_str(), password.0.as_str()),
        ("bob", "hunter2 q"),
        "q is text in a field, not quit"
    );
    assert!(!s.quit);
    update(
        &mut s,
        Msg::Reply(*req, Reply::LoginFailed("account locked until 12:30".into())),
    );
    let Screen::Login(l) = &s.screen else { panic!() };
    assert_eq!(l.error.as_deref(), Some("account locked until 12:30"));
    assert_eq!(l.password.value(), "", "the password is cleared after a refusal");
}

#[test]
fn command_mode_completes_aliases_and_opens_panes() {
    let mut s = main_state();
    update(&mut s, key(':'));
    typed(&mut s, "ce");
    assert_eq!(completions(&s, "ce"), vec!["cert", "certs", "certificates"]);
    update(&mut s, code(KeyCode::Tab));
    let Mode::Command(input, _) = &s.mode else { panic!() };
    assert_eq!(input.value(), "cert");
    let fx = update(&mut s, code(KeyCode::Enter));
    assert_eq!(table(&s).kind, Kind::Certificates);
    assert!(
        matches!(
            fx[..],
            [Effect::LoadPage {
                page: 0,
                start: None,
                ..
            }]
        ),
        "{fx:?}"
    );
    assert_eq!(s.breadcrumbs(), vec!["Dashboard", "Certificates"]);
    // An unknown command says so and changes nothing.
    update(&mut s, key(':'));
    typed(&mut s, "nope");
    update(&mut s, code(KeyCode::Enter));
    assert!(s.flash.as_ref().unwrap().text.contains(":nope"));
    assert_eq!(table(&s).kind, Kind::Certificates);
}

#[test]
fn users_pane_is_refused_to_non_admins() {
    let mut s = main_state();
    s.actor = Some(Actor {
        role: UserRole::User,
        ..admin()
    });
    assert!(!completions(&s, "us").iter().any(|c| c.starts_with("user")));
    run_command(&mut s, "users");
    assert!(matches!(s.view(), View::Dashboard));
    assert_eq!(s.flash.as_ref().unwrap().tone, Tone::Error);
}

#[test]
fn scrolling_loads_pages_on_demand_and_back_pops_the_stack() {
    let mut s = main_state();
    let fx = run_command(&mut s, "srv");
    answer_pages(&mut s, fx, 1000);
    assert_eq!(table(&s).paged.selected().map(|r| r.id), Some(1000));
    for _ in 0..5 {
        let fx = update(&mut s, key('j'));
        answer_pages(&mut s, fx, 1000);
    }
    assert_eq!(table(&s).paged.selected().map(|r| r.id), Some(995));
    for _ in 0..10 {
        let fx = update(&mut s, code(KeyCode::PageDown));
        answer_pages(&mut s, fx, 1000);
    }
    assert_eq!(table(&s).paged.selected().map(|r| r.id), Some(995 - 10 * 33));
    // Open the row, then go back.
    let fx = update(&mut s, code(KeyCode::Enter));
    assert!(
        matches!(
            fx[..],
            [Effect::LoadDetail {
                kind: Kind::Servers,
                id: 665,
                ..
            }]
        ),
        "{fx:?}"
    );
    update(&mut s, code(KeyCode::Esc));
    assert_eq!(table(&s).kind, Kind::Servers);
}

#[test]
fn filter_pushes_indexed_terms_to_sql_and_refuses_unknown_keys() {
    let mut s = main_state();
    let fx = run_command(&mut s, "certs");
    answer_pages(&mut s, fx, 10);
    update(&mut s, key('/'));
    typed(&mut s, "status:issued !example");
    let fx = update(&mut s, code(KeyCode::Enter));
    let [Effect::LoadPage { query, .. }] = &fx[..] else {
        panic!("{fx:?}")
    };
    assert_eq!(query.term("status"), Some("issued"));
    assert_eq!(query.terms.text(), Some(("example", true)));
    assert_eq!(table(&s).filter, "status:issued !example");
    // A key without an index is refused and the filter line stays open.
    update(&mut s, key('/'));
    typed(&mut s, " colour:red");
    let fx = update(&mut s, code(KeyCode::Enter));
    assert!(fx.is_empty());
    assert!(matches!(s.mode, Mode::Filter(_)));
    assert!(s.flash.as_ref().unwrap().text.contains("colour"));
    // Esc clears the filter.
    let fx = update(&mut s, code(KeyCode::Esc));
    assert_eq!(table(&s).filter, "");
    assert!(!fx.is_empty(), "clearing reloads");
}

#[test]
fn substring_filter_keeps_reading_pages_until_the_screen_fills() {
    let mut s = main_state();
    let fx = run_command(&mut s, "srv");
    answer_pages(&mut s, fx, 300);
    update(&mut s, key('/'));
    typed(&mut s, "host7");
    let fx = update(&mut s, code(KeyCode::Enter));
    // The test's pages carry every row; keep only matching ones as the runner does.
    let mut queue = fx;
    let mut pages = 0;
    while let Some(Effect::LoadPage {
        req,
        page,
        start,
        query,
        ..
    }) = queue.pop()
    {
        pages += 1;
        let top = match start {
            None => 300,
            Some(Cursor::Id(id)) => id - 1,
            _ => unreachable!(),
        };
        let all = rows((top - 99).max(1)..=top);
        let fetched = all.len();
        let end = all.last().map(|r| r.cursor);
        let kept: Vec<Row> = all.into_iter().filter(|r| query.keeps(r)).collect();
        queue.extend(update(
            &mut s,
            Msg::Reply(
                req,
                Reply::Page {
                    page,
                    rows: kept,
                    fetched,
                    end,
                },
            ),
        ));
    }
    // Three full pages, then an empty fourth that ends the list.
    assert_eq!(pages, 4, "pages are read until the screen is full or the list ends");
    let t = table(&s);
    assert!(t.paged.is_complete());
    // host7 and host70–79, all on the last page read.
    assert_eq!(t.paged.known_len(), 11);
    assert_eq!(t.paged.selected().map(|r| r.id), Some(79));
}

#[test]
fn stale_replies_are_dropped() {
    let mut s = main_state();
    let fx = run_command(&mut s, "srv");
    let [Effect::LoadPage { req: old, .. }] = fx[..] else {
        panic!()
    };
    // The user changes the filter before the first page arrives.
    update(&mut s, key('/'));
    typed(&mut s, "x");
    let fx = update(&mut s, code(KeyCode::Enter));
    let [Effect::LoadPage { req: new, .. }] = fx[..] else {
        panic!("{fx:?}")
    };
    assert_ne!(old, new);
    let r = rows(1..=3);
    update(
        &mut s,
        Msg::Reply(
            old,
            Reply::Page {
                page: 0,
                rows: r,
                fetched: 3,
                end: None,
            },
        ),
    );
    assert!(
        !table(&s).paged.has_data(),
        "the old page must not land in the filtered table"
    );
}

#[test]
fn dangerous_actions_ask_first_and_read_only_hides_them() {
    let mut s = main_state();
    let fx = run_command(&mut s, "srv");
    answer_pages(&mut s, fx, 3);
    let fx = update(&mut s, ctrl('d'));
    assert!(fx.is_empty());
    let Mode::Confirm(c) = &s.mode else {
        panic!("{:?}", s.mode)
    };
    assert_eq!((c.action, c.kind, c.id), (Action::Delete, Kind::Servers, 3));
    // Anything but confirm cancels.
    let fx = update(&mut s, key('n'));
    assert!(fx.is_empty());
    assert!(matches!(s.mode, Mode::Normal));
    update(&mut s, ctrl('d'));
    let fx = update(&mut s, key('y'));
    let [Effect::RowAction {
        req,
        action: Action::Delete,
        kind: Kind::Servers,
        id: 3,
        link: None,
        arg: None,
    }] = fx[..]
    else {
        panic!("{fx:?}")
    };
    let fx = update(
        &mut s,
        Msg::Reply(
            req,
            Reply::Done(Note {
                key: "done.deleted",
                what: "noun.server",
                name: "#3".into(),
            }),
        ),
    );
    assert_eq!(s.flash.as_ref().unwrap().text, "Server #3 deleted.");
    assert!(!fx.is_empty(), "the list reloads after a change");

    let mut ro = main_state();
    ro.read_only = true;
    let fx = run_command(&mut ro, "srv");
    answer_pages(&mut ro, fx, 3);
    assert!(update(&mut ro, ctrl('d')).is_empty());
    assert!(matches!(ro.mode, Mode::Normal));
    assert!(update(&mut ro, key('n')).is_empty());
    assert!(matches!(ro.mode, Mode::Normal), "no create form in read-only mode");
}

#[test]
fn enabling_is_safe_disabling_asks() {
    let mut s = main_state();
    let fx = run_command(&mut s, "mon");
    answer_pages(&mut s, fx, 2);
    if let View::Table(t) = s.view_mut() {
        t.paged.apply(
            0,
            vec![Row::new(2, vec![]).active(false), Row::new(1, vec![]).active(true)],
            2,
            None,
        );
    }
    let fx = update(&mut s, key('t'));
    assert!(
        matches!(
            fx[..],
            [Effect::RowAction {
                action: Action::Toggle,
                id: 2,
                ..
            }]
        ),
        "{fx:?}"
    );
    update(&mut s, key('j'));
    assert!(update(&mut s, key('t')).is_empty());
    assert!(matches!(s.mode, Mode::Confirm(_)));
}

#[test]
fn forms_move_between_fields_cycle_pickers_and_show_service_errors_inline() {
    let mut s = main_state();
    let fx = run_command(&mut s, "srv");
    answer_pages(&mut s, fx, 1);
    update(&mut s, key('n'));
    let Mode::Form(f) = &s.mode else { panic!() };
    assert_eq!(
        f.kind,
        FormKind {
            kind: Kind::Servers,
            op: FormOp::Create
        }
    );
    // Submitting without the required host marks it and sends nothing.
    assert!(update(&mut s, code(KeyCode::Enter)).is_empty());
    let Mode::Form(f) = &s.mode else { panic!() };
    assert_eq!(f.fields[f.focus].name, "hostname");
    assert!(f.fields[f.focus].error.is_some());
    typed(&mut s, "bad_host!");
    // Down three fields to the server type picker; right cycles it.
    for _ in 0..2 {
        update(&mut s, code(KeyCode::Tab));
    }
    update(&mut s, code(KeyCode::Right));
    let fx = update(&mut s, code(KeyCode::Enter));
    let [Effect::Submit { req, values, .. }] = &fx[..] else {
        panic!("{fx:?}")
    };
    let v = |n: &str| values.0.iter().find(|(k, _)| *k == n).unwrap().1.clone();
    assert_eq!(v("hostname"), "bad_host!");
    assert_eq!(v("server_type"), "apache");
    assert_eq!(v("port"), "22");
    update(
        &mut s,
        Msg::Reply(
            *req,
            Reply::Failed(Some("hostname".into()), "hostname: not a host name".into()),
        ),
    );
    let Mode::Form(f) = &s.mode else {
        panic!("the form stays open on an error")
    };
    assert_eq!(f.fields[f.focus].name, "hostname");
    assert_eq!(f.fields[f.focus].error.as_deref(), Some("hostname: not a host name"));
    // Esc discards the form.
    update(&mut s, code(KeyCode::Esc));
    assert!(matches!(s.mode, Mode::Normal));
}

#[test]
fn secrets_are_masked_and_numbers_take_digits_only() {
    let mut s = main_state();
    let fx = run_command(&mut s, "srv");
    answer_pages(&mut s, fx, 1);
    update(&mut s, key('n'));
    // To the port: name → hostname → port.
    update(&mut s, code(KeyCode::Tab));
    update(&mut s, code(KeyCode::Tab));
    typed(&mut s, "x1");
    for _ in 0..4 {
        update(&mut s, code(KeyCode::Tab));
    }
    typed(&mut s, "s3cret");
    let Mode::Form(f) = &s.mode else { panic!() };
    assert_eq!(f.fields[2].value(), "221");
    assert_eq!(f.fields[6].name, "password");
    assert_eq!(f.fields[6].display(), "••••••");
    assert_eq!(f.fields[6].value(), "s3cret");
}

#[test]
fn worker_events_refresh_the_tasks_pane_without_a_key() {
    let mut s = main_state();
    let fx = run_command(&mut s, "tasks");
    answer_pages(&mut s, fx, 3);
    let fx = update(&mut s, Msg::Worker(crate::service::WorkerEvent::Task(3)));
    assert!(matches!(fx[..], [Effect::LoadPage { page: 0, .. }]), "{fx:?}");
    // While that refresh is in flight another event does not pile up requests.
    assert!(update(&mut s, Msg::Worker(crate::service::WorkerEvent::Task(3))).is_empty());
}

#[test]
fn polling_asks_for_changes_and_rereads_the_page_only_when_something_changed() {
    use crate::service::query::ChangeMark;
    let mut s = main_state();
    let fx = run_command(&mut s, "srv");
    answer_pages(&mut s, fx, 3);
    let now = s.now;
    let poll = |s: &mut State, mark: ChangeMark| {
        let mut fx = update(s, Msg::Tick(now));
        if fx.is_empty() {
            fx = update(s, Msg::Tick(now));
        }
        let [Effect::Poll {
            req,
            kind: Kind::Servers,
            since,
        }] = fx[..]
        else {
            panic!("{fx:?}")
        };
        (since, update(s, Msg::Reply(req, Reply::Changes(mark))))
    };
    let t1 = now - chrono::Duration::seconds(1);
    let seen = ChangeMark {
        latest: Some(t1),
        rows: 1,
        max_id: Some(3),
    };
    let (_, fx) = poll(&mut s, seen);
    assert!(
        matches!(fx[..], [Effect::LoadPage { page: 0, .. }]),
        "a change since loading rereads: {fx:?}"
    );
    let [Effect::LoadPage { req, .. }] = fx[..] else {
        unreachable!()
    };
    let r = rows(1..=3);
    update(
        &mut s,
        Msg::Reply(
            req,
            Reply::Page {
                page: 0,
                rows: r,
                fetched: 3,
                end: None,
            },
        ),
    );
    // The same mark again: nothing to read; the next poll starts from the change's second.
    let (since, fx) = poll(&mut s, seen);
    assert_eq!(since, t1);
    assert!(fx.is_empty(), "{fx:?}");
    // Another row changed in that same second: the count tells.
    let (_, fx) = poll(&mut s, ChangeMark { rows: 2, ..seen });
    assert!(matches!(fx[..], [Effect::LoadPage { .. }]), "{fx:?}");
}

#[test]
fn every_fifteen_seconds_the_visible_page_is_read_again_so_deletions_show() {
    let mut s = main_state();
    let fx = run_command(&mut s, "srv");
    answer_pages(&mut s, fx, 3);
    s.ticks = 14;
    let now = s.now;
    let fx = update(&mut s, Msg::Tick(now));
    let [Effect::LoadPage { req, page: 0, .. }] = fx[..] else {
        panic!("{fx:?}")
    };
    // Row 2 was deleted by another process.
    let r: Vec<Row> = rows(1..=3).into_iter().filter(|r| r.id != 2).collect();
    update(
        &mut s,
        Msg::Reply(
            req,
            Reply::Page {
                page: 0,
                rows: r,
                fetched: 2,
                end: None,
            },
        ),
    );
    assert_eq!(table(&s).paged.known_len(), 2);
    assert_eq!(table(&s).paged.row(1).map(|r| r.id), Some(1));
}

#[test]
fn help_lists_every_action_with_its_keys() {
    let mut s = main_state();
    update(&mut s, key('?'));
    assert!(matches!(s.mode, Mode::Help(_)));
    let lines = crate::tui::ui::help_lines(&s);
    for a in Action::ALL {
        let desc = s.cat.get(&a.desc_key()).to_string();
        assert!(lines.iter().any(|(_, d)| *d == desc), "help lacks {}", a.name());
    }
    update(&mut s, code(KeyCode::Esc));
    assert!(matches!(s.mode, Mode::Normal));
}

#[test]
fn logout_returns_to_the_login_screen() {
    let mut s = main_state();
    let fx = update(&mut s, ctrl('o'));
    let [Effect::Logout { req }] = fx[..] else {
        panic!("{fx:?}")
    };
    update(&mut s, Msg::Reply(req, Reply::LoggedOut));
    assert!(matches!(s.screen, Screen::Login(_)));
    assert!(s.actor.is_none());
}

#[test]
fn delete_in_a_detail_table_tab_unlinks_the_selected_row_and_keeps_the_detail() {
    use crate::tui::state::{Body, Detail, Link, Tab};
    let mut s = main_state();
    let fx = run_command(&mut s, "certs");
    answer_pages(&mut s, fx, 1);
    let fx = update(&mut s, code(KeyCode::Enter));
    let [Effect::LoadDetail { req, .. }] = fx[..] else {
        panic!("{fx:?}")
    };
    let detail = Detail {
        title: "shop.example.com".into(),
        active: true,
        tabs: vec![
            Tab {
                links: None,
                key: "tab.overview",
                body: Body::Fields(vec![]),
            },
            Tab {
                links: Some((Link::Deployment, vec![7, 9])),
                key: "tab.deployments",
                body: Body::Table(
                    vec!["id", "deploy_path"],
                    vec![
                        vec![Cell::Text("7".into()), Cell::Text("/a.pem".into())],
                        vec![Cell::Text("9".into()), Cell::Text("/b.pem".into())],
                    ],
                ),
            },
        ],
    };
    update(&mut s, Msg::Reply(req, Reply::Detail(Box::new(detail))));
    update(&mut s, code(KeyCode::Tab));
    update(&mut s, key('j'));
    update(&mut s, key('j'));
    update(&mut s, ctrl('d'));
    let Mode::Confirm(c) = &s.mode else {
        panic!("{:?}", s.mode)
    };
    assert_eq!(
        c.link,
        Some((Link::Deployment, 9)),
        "the second deployment, clamped at the last row"
    );
    let fx = update(&mut s, key('y'));
    let [Effect::RowAction {
        req,
        link: Some((Link::Deployment, 9)),
        id: 1,
        ..
    }] = fx[..]
    else {
        panic!("{fx:?}")
    };
    update(
        &mut s,
        Msg::Reply(
            req,
            Reply::Done(Note {
                key: "done.deleted",
                what: "noun.deployment",
                name: "#9".into(),
            }),
        ),
    );
    assert!(
        matches!(s.view(), View::Detail(_)),
        "unlinking keeps the certificate open"
    );
}

#[test]
fn esc_clears_an_active_filter_before_going_back() {
    let mut s = main_state();
    let fx = run_command(&mut s, "srv");
    answer_pages(&mut s, fx, 3);
    update(&mut s, key('/'));
    typed(&mut s, "host1");
    let fx = update(&mut s, code(KeyCode::Enter));
    answer_pages(&mut s, fx, 3);
    assert_eq!(table(&s).filter, "host1");
    let fx = update(&mut s, code(KeyCode::Esc));
    assert!(!fx.is_empty());
    assert_eq!(table(&s).filter, "", "first esc clears the filter");
    answer_pages(&mut s, fx, 3);
    update(&mut s, code(KeyCode::Esc));
    assert!(matches!(s.view(), View::Dashboard), "second esc goes back");
}

#[test]
fn the_tasks_pane_tails_the_selected_tasks_log_and_follows_the_selection() {
    use crate::tui::state::LogLine;
    let mut s = main_state();
    let fx = run_command(&mut s, "tasks");
    let [Effect::LoadPage { req, page, .. }] = fx[..] else {
        panic!("{fx:?}")
    };
    let r = rows(1..=3);
    let fx = update(
        &mut s,
        Msg::Reply(
            req,
            Reply::Page {
                page,
                rows: r,
                fetched: 3,
                end: None,
            },
        ),
    );
    let [Effect::LoadLogs {
        req: first,
        task: 3,
        after: 0,
    }] = fx[..]
    else {
        panic!("{fx:?}")
    };
    let line = |id: i64, msg: &str| LogLine {
        id,
        at: s.now,
        level: "info".into(),
        message: msg.into(),
    };
    let lines = vec![line(10, "claimed"), line(11, "step 1 of 3")];
    // The selection moves on before the lines arrive: they belong to a tail no longer shown.
    let fx = update(&mut s, key('j'));
    let [Effect::LoadLogs {
        req: second,
        task: 2,
        after: 0,
    }] = fx[..]
    else {
        panic!("{fx:?}")
    };
    update(&mut s, Msg::Reply(first, Reply::Logs(lines.clone())));
    assert!(
        table(&s).tail.as_ref().unwrap().lines.is_empty(),
        "task 3's lines are stale"
    );
    update(&mut s, Msg::Reply(second, Reply::Logs(lines)));
    assert_eq!(table(&s).tail.as_ref().unwrap().lines.len(), 2);
    // Each second the tail asks for what came after the last line.
    let now = s.now;
    let fx = update(&mut s, Msg::Tick(now));
    assert!(
        fx.iter()
            .any(|e| matches!(e, Effect::LoadLogs { task: 2, after: 11, .. })),
        "{fx:?}"
    );
    // On a short terminal there is no room for the tail: none is fetched.
    s.size = (80, 24);
    assert!(!update(&mut s, key('j'))
        .iter()
        .any(|e| matches!(e, Effect::LoadLogs { .. })));
}

#[test]
fn debug_output_never_shows_a_password_or_form_secret() {
    let mut s = state();
    let fx = start(&mut s);
    let Effect::Resume { req } = fx[0] else { panic!() };
    update(&mut s, Msg::Reply(req, Reply::NeedLogin(Some("bob".into()))));
    typed(&mut s, "hunter2-secret");
    let before = format!("{s:?}");
    let fx = update(&mut s, code(KeyCode::Enter));
    let dbg = format!("{before} {s:?} {fx:?}");
    assert!(dbg.contains("Login"), "{dbg}");
    assert!(!dbg.contains("hunter2-secret"), "{dbg}");

    let mut s = main_state();
    let fx = run_command(&mut s, "srv");
    answer_pages(&mut s, fx, 1);
    update(&mut s, key('n'));
    for _ in 0..6 {
        update(&mut s, code(KeyCode::Tab));
    }
    typed(&mut s, "ssh-pass-123");
    let fx = update(&mut s, code(KeyCode::Enter));
    let dbg = format!("{:?} {:?}", s, fx);
    assert!(dbg.contains("Submit"), "{dbg}");
    assert!(!dbg.contains("ssh-pass-123"), "{dbg}");
}

#[test]
fn trusting_a_host_key_shows_the_fingerprint_first_and_trusts_exactly_that_one() {
    let mut s = main_state();
    let fx = run_command(&mut s, "srv");
    answer_pages(&mut s, fx, 3);
    // `K` fetches the presented key: no trust yet.
    let fx = update(&mut s, key('K'));
    let [Effect::RowAction {
        req,
        action: Action::TrustHostKey,
        kind: Kind::Servers,
        id: 3,
        arg: None,
        ..
    }] = fx[..]
    else {
        panic!("{fx:?}")
    };
    let fp = "SHA256:abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
    update(
        &mut s,
        Msg::Reply(
            req,
            Reply::AskHostKey {
                id: 3,
                label: format!("{fp} — CHANGED, was SHA256:old"),
                presented: fp.into(),
            },
        ),
    );
    let Mode::Confirm(c) = &s.mode else {
        panic!("{:?}", s.mode)
    };
    assert!(c.label.contains("CHANGED"), "{c:?}");
    // Anything but confirm leaves the key untrusted.
    assert!(update(&mut s, key('n')).is_empty());
    assert!(matches!(s.mode, Mode::Normal));
    let fx = update(&mut s, key('K'));
    let [Effect::RowAction { req, .. }] = fx[..] else {
        panic!("{fx:?}")
    };
    update(
        &mut s,
        Msg::Reply(
            req,
            Reply::AskHostKey {
                id: 3,
                label: fp.into(),
                presented: fp.into(),
            },
        ),
    );
    let fx = update(&mut s, key('y'));
    assert!(
        matches!(&fx[..], [Effect::RowAction { action: Action::TrustHostKey, id: 3, arg: Some(a), .. }] if a == fp),
        "{fx:?}"
    );
}

#[test]
fn deploy_asks_first_and_check_runs_at_once_and_read_only_refuses_both() {
    let mut s = main_state();
    let fx = run_command(&mut s, "certs");
    answer_pages(&mut s, fx, 2);
    assert!(update(&mut s, key('D')).is_empty());
    let Mode::Confirm(c) = &s.mode else {
        panic!("{:?}", s.mode)
    };
    assert_eq!((c.action, c.kind), (Action::Deploy, Kind::Certificates));
    let fx = update(&mut s, key('y'));
    assert!(
        matches!(
            fx[..],
            [Effect::RowAction {
                action: Action::Deploy,
                ..
            }]
        ),
        "{fx:?}"
    );
    // `c` (check) does not apply to certificates.
    assert!(update(&mut s, key('c')).is_empty());

    let fx = run_command(&mut s, "srv");
    answer_pages(&mut s, fx, 2);
    let fx = update(&mut s, key('c'));
    assert!(
        matches!(
            fx[..],
            [Effect::RowAction {
                action: Action::Check,
                kind: Kind::Servers,
                ..
            }]
        ),
        "{fx:?}"
    );
    let fx = update(&mut s, key('I'));
    assert!(matches!(fx[..], [Effect::ImportSsh { .. }]), "{fx:?}");

    let mut ro = main_state();
    ro.read_only = true;
    let fx = run_command(&mut ro, "srv");
    answer_pages(&mut ro, fx, 2);
    for k in ['c', 'K', 'D', 'I'] {
        assert!(update(&mut ro, key(k)).is_empty(), "{k} in read-only mode");
        assert!(matches!(ro.mode, Mode::Normal));
    }
}

#[test]
fn renew_and_revoke_ask_first_on_certificates_and_do_not_apply_elsewhere() {
    let mut s = main_state();
    let fx = run_command(&mut s, "certs");
    answer_pages(&mut s, fx, 2);
    for (k, action) in [('W', Action::Renew), ('X', Action::Revoke)] {
        assert!(update(&mut s, key(k)).is_empty(), "{action:?} asks first");
        let Mode::Confirm(c) = &s.mode else {
            panic!("{:?}", s.mode)
        };
        assert_eq!((c.action, c.kind), (action, Kind::Certificates));
        let fx = update(&mut s, key('y'));
        assert!(
            matches!(&fx[..], [Effect::RowAction { action: a, kind: Kind::Certificates, .. }] if *a == action),
            "{fx:?}"
        );
        s.action_pending = None;
    }
    let fx = run_command(&mut s, "srv");
    answer_pages(&mut s, fx, 2);
    assert!(update(&mut s, key('X')).is_empty());
    assert!(matches!(s.mode, Mode::Normal), "revoke does not apply to servers");
}

#[test]
fn monitors_are_checked_and_channels_tested_from_their_panes() {
    let mut s = main_state();
    let fx = run_command(&mut s, "mon");
    answer_pages(&mut s, fx, 2);
    let fx = update(&mut s, key('c'));
    assert!(
        matches!(
            &fx[..],
            [Effect::RowAction {
                action: Action::Check,
                kind: Kind::Monitors,
                ..
            }]
        ),
        "{fx:?}"
    );
    s.action_pending = None;
    let fx = run_command(&mut s, "chan");
    answer_pages(&mut s, fx, 2);
    let fx = update(&mut s, key('T'));
    assert!(
        matches!(
            &fx[..],
            [Effect::RowAction {
                action: Action::TestChannel,
                kind: Kind::Channels,
                ..
            }]
        ),
        "{fx:?}"
    );
}

#[test]
fn an_idle_console_does_not_ask_for_a_redraw_every_second() {
    use crate::service::query::ChangeMark;
    let mut s = main_state();
    let fx = run_command(&mut s, "srv");
    answer_pages(&mut s, fx, 3);
    let mut shown = crate::tui::Shown::default();
    shown.mark(&s);
    s.flash = None;
    let start = s.now;
    // Ticks within the same minute, polls that saw nothing new, a re-read that brought the same
    // rows: nothing on screen changed.
    let mark = ChangeMark {
        latest: None,
        rows: 0,
        max_id: None,
    };
    for i in 1..=14 {
        let fx = update(&mut s, Msg::Tick(start + chrono::Duration::seconds(i)));
        for e in fx {
            match e {
                Effect::Poll { req, .. } => {
                    update(&mut s, Msg::Reply(req, Reply::Changes(mark)));
                }
                Effect::LoadPage { req, page, .. } => {
                    update(
                        &mut s,
                        Msg::Reply(
                            req,
                            Reply::Page {
                                page,
                                rows: rows(1..=3),
                                fetched: 3,
                                end: None,
                            },
                        ),
                    );
                }
                other => panic!("{other:?}"),
            }
        }
        if (start + chrono::Duration::seconds(i)).format("%M").to_string() == start.format("%M").to_string() {
            assert!(!shown.stale(&s), "tick {i} redraws an unchanged screen");
        }
    }
    // A key, or a row that changed, does.
    update(&mut s, code(KeyCode::Down));
    assert!(shown.stale(&s));
    shown.mark(&s);
    let fx = update(&mut s, Msg::Tick(start + chrono::Duration::seconds(15)));
    for e in fx {
        if let Effect::LoadPage { req, page, .. } = e {
            update(
                &mut s,
                Msg::Reply(
                    req,
                    Reply::Page {
                        page,
                        rows: rows(1..=4),
                        fetched: 4,
                        end: None,
                    },
                ),
            );
        }
    }
    assert!(shown.stale(&s), "a new row shows");
}

#[test]
fn the_clock_redraws_only_when_its_minute_changes() {
    let mut s = main_state();
    s.flash = None;
    let t0 = Utc.with_ymd_and_hms(2026, 11, 30, 12, 0, 5).unwrap();
    update(&mut s, Msg::Tick(t0));
    let mut shown = crate::tui::Shown::default();
    shown.mark(&s);
    update(&mut s, Msg::Tick(t0 + chrono::Duration::seconds(30)));
    assert!(!shown.stale(&s));
    update(&mut s, Msg::Tick(t0 + chrono::Duration::seconds(60)));
    assert!(shown.stale(&s), "12:01 shows");
}

#[test]
fn polling_backs_off_after_failures_and_resumes_on_success() {
    use crate::tui::state::Backoff;
    assert_eq!(
        (0..8).map(Backoff::delay).collect::<Vec<_>>(),
        [0, 2, 4, 8, 16, 32, 60, 60],
        "exponential, capped"
    );
    let mut s = main_state();
    let fx = run_command(&mut s, "srv");
    answer_pages(&mut s, fx, 3);
    let now = s.now;
    // Ticks until a poll goes out; it fails.
    let next_poll = |s: &mut State| -> (u64, u64) {
        for _ in 0..200 {
            let fx = update(s, Msg::Tick(now));
            for e in fx {
                match e {
                    Effect::Poll { req, .. } => return (s.ticks, req),
                    // The periodic full re-read fails too.
                    Effect::LoadPage { req, .. } => {
                        update(s, Msg::Reply(req, Reply::Failed(None, "database is down".into())));
                    }
                    other => panic!("{other:?}"),
                }
            }
        }
        panic!("no poll in 200 ticks")
    };
    let (t1, req) = next_poll(&mut s);
    update(&mut s, Msg::Reply(req, Reply::Failed(None, "database is down".into())));
    let (t2, req) = next_poll(&mut s);
    update(&mut s, Msg::Reply(req, Reply::Failed(None, "database is down".into())));
    let (t3, req) = next_poll(&mut s);
    update(&mut s, Msg::Reply(req, Reply::Failed(None, "database is down".into())));
    let (t4, req) = next_poll(&mut s);
    assert!(t2 - t1 >= 2 && t3 - t2 >= 4 && t4 - t3 >= 8, "{t1} {t2} {t3} {t4}");
    update(&mut s, Msg::Reply(req, Reply::Failed(None, "database is down".into())));
    for _ in 0..10 {
        s.backoff.failed(s.ticks);
    }
    assert_eq!(s.backoff.until_tick - s.ticks, Backoff::MAX_TICKS);
    // A refresh key is not held back, and its success resets the pace.
    let fx = update(&mut s, ctrl('r'));
    let [Effect::LoadPage { req, page, .. }] = fx[..] else {
        panic!("{fx:?}")
    };
    update(
        &mut s,
        Msg::Reply(
            req,
            Reply::Page {
                page,
                rows: rows(1..=3),
                fetched: 3,
                end: None,
            },
        ),
    );
    assert_eq!(s.backoff, Backoff::default());
    let before = s.ticks;
    let (t5, _) = next_poll(&mut s);
    assert!(t5 - before <= 2, "normal pace again");
}
