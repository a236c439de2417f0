//! Popups over the view: help, forms, confirmation, secrets shown once, `:` completions; and the
//! login screen.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

use super::widgets::{block, center, clear, context_actions, input_line};
use crate::tui::action::Action;
use crate::tui::form::{FieldKind, Form};
use crate::tui::state::{Mode, Screen, State};
use crate::tui::text;
use crate::tui::theme::{Theme, Tone};
use crate::tui::update::completions;

/// Draws the overlay of the current mode.
pub fn draw(f: &mut Frame, s: &State, theme: &Theme, area: Rect) {
    match &s.mode {
        Mode::Normal | Mode::Filter(_) => {}
        Mode::Command(input, sel) => command(f, s, theme, area, input.value(), *sel),
        Mode::Help(scroll) => help(f, s, theme, area, *scroll),
        Mode::Form(form) => form_popup(f, s, theme, area, form),
        Mode::Confirm(c) => {
            let q = s.cat.fmt(
                "confirm.question",
                &[("action", s.cat.get(&c.action.desc_key())), ("name", &c.label)],
            );
            let keys = s.cat.fmt(
                "confirm.keys",
                &[
                    ("yes", &s.keymap.hint(Action::Confirm)),
                    ("no", &s.keymap.hint(Action::Back)),
                ],
            );
            let w = (text::width(&q).max(text::width(&keys)) as u16 + 4).clamp(30, area.width);
            // A long question (a host key fingerprint) wraps: grow the box so the keys stay visible.
            let inner_w = usize::from(w.saturating_sub(2)).max(1);
            let q_lines = text::width(&q).div_ceil(inner_w).max(1) as u16 + 1;
            let r = center(area, w, (q_lines + 4).min(area.height));
            clear(f, r);
            let b = block(theme, s.cat.get("confirm.title").to_string()).border_style(theme.tone(Tone::Error));
            let inner = b.inner(r);
            f.render_widget(b, r);
            let p = Paragraph::new(vec![
                Line::from(Span::styled(q, theme.tone(Tone::Warn))),
                Line::default(),
                Line::from(Span::styled(keys, theme.muted())),
            ])
            .wrap(Wrap { trim: true });
            f.render_widget(p, inner);
        }
        Mode::Reveal(title, secret) => {
            let lines: Vec<&str> = secret.0.lines().collect();
            let w = (lines.iter().map(|l| text::width(l)).max().unwrap_or(20) as u16 + 4).clamp(40, area.width);
            let h = (lines.len() as u16 + 5).min(area.height);
            let r = center(area, w, h);
            clear(f, r);
            let b = block(theme, s.cat.get(title).to_string());
            let inner = b.inner(r);
            f.render_widget(b, r);
            // Secrets (`reveal.*`) are shown once; reports (`report.*`) are just text to read.
            let mut out = Vec::new();
            if title.starts_with("reveal.") {
                out.push(Line::from(Span::styled(
                    s.cat.get("reveal.once").to_string(),
                    theme.tone(Tone::Warn),
                )));
                out.push(Line::default());
            }
            out.extend(
                lines
                    .iter()
                    .map(|l| Line::from(Span::styled(l.to_string(), theme.accent()))),
            );
            f.render_widget(Paragraph::new(out), inner);
        }
    }
}

fn command(f: &mut Frame, s: &State, theme: &Theme, area: Rect, typed: &str, sel: usize) {
    let comps = completions(s, typed);
    if comps.is_empty() {
        return;
    }
    let n = comps.len().min(8) as u16;
    let r = Rect {
        x: area.x + 1,
        y: area.y + area.height.saturating_sub(2 + n + 2),
        width: 30.min(area.width),
        height: n + 2,
    };
    clear(f, r);
    let b = block(theme, s.cat.get("command.title").to_string());
    let inner = b.inner(r);
    f.render_widget(b, r);
    let lines: Vec<Line> = comps
        .iter()
        .take(8)
        .enumerate()
        .map(|(i, c)| {
            Line::from(Span::styled(
                format!(" {c}"),
                if i == sel { theme.selected() } else { theme.base() },
            ))
        })
        .collect();
    f.render_widget(Paragraph::new(lines), inner);
}

/// The help lines: keys and descriptions of the actions of this view, then the commands.
pub fn help_lines(s: &State) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut seen = Vec::new();
    let mut actions = context_actions(s);
    let rest: Vec<Action> = Action::ALL
        .iter()
        .copied()
        .filter(|a| s.allowed(*a) && !actions.contains(a))
        .collect();
    actions.extend(rest);
    for a in actions {
        if seen.contains(&a) {
            continue;
        }
        seen.push(a);
        let keys: Vec<String> = s.keymap.keys_of(a).iter().map(|k| k.label()).collect();
        out.push((keys.join(" "), s.cat.get(&a.desc_key()).to_string()));
    }
    out
}

fn help(f: &mut Frame, s: &State, theme: &Theme, area: Rect, scroll: u16) {
    let r = center(
        area,
        area.width.saturating_sub(8).min(100),
        area.height.saturating_sub(4),
    );
    clear(f, r);
    let b = block(theme, s.cat.fmt("help.title", &[("keymap", &s.keymap.name)]));
    let inner = b.inner(r);
    f.render_widget(b, r);
    let key_w = 22;
    let mut lines: Vec<Line> = help_lines(s)
        .into_iter()
        .map(|(k, d)| {
            Line::from(vec![
                Span::styled(format!(" {}", text::fit(&k, key_w)), theme.accent()),
                Span::styled(d, theme.base()),
            ])
        })
        .collect();
    lines.push(Line::default());
    lines.push(Line::from(Span::styled(
        s.cat.get("help.commands").to_string(),
        theme.accent(),
    )));
    for k in crate::tui::resources::Kind::ALL {
        lines.push(Line::from(vec![
            Span::styled(
                format!(" :{}", text::fit(&k.commands().join(" :"), key_w + 20)),
                theme.accent(),
            ),
            Span::styled(s.cat.get(k.title_key()).to_string(), theme.base()),
        ]));
    }
    lines.push(Line::default());
    lines.push(Line::from(Span::styled(
        s.cat.get("help.filter").to_string(),
        theme.muted(),
    )));
    if let crate::tui::state::View::Table(t) = s.view() {
        let keys = t.kind.sql_filters().join(", ");
        if !keys.is_empty() {
            lines.push(Line::from(Span::styled(
                s.cat.fmt("help.filter_keys", &[("keys", &keys)]),
                theme.muted(),
            )));
        }
    }
    f.render_widget(Paragraph::new(lines).scroll((scroll, 0)), inner);
}

fn form_popup(f: &mut Frame, s: &State, theme: &Theme, area: Rect, form: &Form) {
    let label_w = form
        .fields
        .iter()
        .map(|x| text::width(s.cat.get(&x.label)))
        .max()
        .unwrap_or(10)
        .min(24) as u16;
    let w = area.width.saturating_sub(6).min(90);
    let rows: u16 = form.fields.iter().map(|x| if x.error.is_some() { 2 } else { 1 }).sum();
    let h = (rows + 4 + u16::from(form.error.is_some())).min(area.height);
    let r = center(area, w, h);
    clear(f, r);
    let b = block(theme, s.cat.get(form.title).to_string());
    let inner = b.inner(r);
    f.render_widget(b, r);
    let mut y = inner.y;
    let value_w = inner.width.saturating_sub(label_w + 3);
    // Taller than the screen: scroll so the focused field stays visible.
    let visible = usize::from(inner.height).max(1);
    let skip = (form.focus + 1).saturating_sub(visible);
    for (i, field) in form.fields.iter().enumerate().skip(skip) {
        if y >= inner.y + inner.height {
            break;
        }
        let focused = i == form.focus;
        let mut label = s.cat.get(&field.label).to_string();
        if field.required {
            label.push('*');
        }
        let label_area = Rect {
            x: inner.x,
            y,
            width: label_w + 2,
            height: 1,
        };
        let style = if focused { theme.accent() } else { theme.muted() };
        f.render_widget(
            Paragraph::new(Span::styled(format!(" {}", text::fit(&label, label_w as usize)), style)),
            label_area,
        );
        let value_area = Rect {
            x: inner.x + label_w + 3,
            y,
            width: value_w,
            height: 1,
        };
        if focused && !field.locked && !matches!(field.kind, FieldKind::Picker(_)) {
            input_line(f, theme, value_area, "", &field.input, field.kind == FieldKind::Secret);
        } else {
            let style = if field.locked {
                theme.muted()
            } else if focused {
                theme.selected()
            } else {
                theme.base()
            };
            f.render_widget(
                Paragraph::new(Span::styled(text::truncate(&field.display(), value_w as usize), style)),
                value_area,
            );
        }
        y += 1;
        if let Some(e) = &field.error {
            if y < inner.y + inner.height {
                let err_area = Rect { y, ..value_area };
                f.render_widget(
                    Paragraph::new(Span::styled(
                        text::truncate(e, value_w as usize),
                        theme.tone(Tone::Error),
                    )),
                    err_area,
                );
                y += 1;
            }
        }
    }
    let foot_y = inner.y + inner.height.saturating_sub(1);
    if let Some(e) = &form.error {
        let a = Rect {
            x: inner.x + 1,
            y: foot_y.saturating_sub(1),
            width: inner.width.saturating_sub(1),
            height: 1,
        };
        f.render_widget(Paragraph::new(Span::styled(e.clone(), theme.tone(Tone::Error))), a);
    }
    let hint = if form.pending.is_some() {
        s.cat.get("form.saving").to_string()
    } else {
        s.cat.fmt(
            "form.keys",
            &[
                ("submit", &s.keymap.hint(Action::Submit)),
                ("next", &s.keymap.hint(Action::NextField)),
                ("back", &s.keymap.hint(Action::Back)),
            ],
        )
    };
    let a = Rect {
        x: inner.x + 1,
        y: foot_y,
        width: inner.width.saturating_sub(1),
        height: 1,
    };
    f.render_widget(Paragraph::new(Span::styled(hint, theme.muted())), a);
}

/// The login screen.
pub fn login(f: &mut Frame, s: &State, theme: &Theme, area: Rect) {
    let Screen::Login(l) = &s.screen else {
        return;
    };
    let fields: &[(&str, &tui_input::Input, bool)] = &[
        ("login.username", &l.username, false),
        ("login.password", &l.password, true),
        ("login.new_password", &l.new_password, true),
        ("login.repeat_password", &l.repeat, true),
    ];
    let fields = &fields[..l.fields()];
    let r = center(area, 56, 7 + 2 * fields.len() as u16);
    let b = block(theme, s.cat.get("login.title").to_string());
    let inner = b.inner(r);
    f.render_widget(b, r);
    let label_w = fields
        .iter()
        .map(|(k, _, _)| text::width(s.cat.get(k)))
        .max()
        .unwrap_or(10) as u16;
    let row = |i: u16| Rect {
        x: inner.x + 1,
        y: inner.y + 1 + i * 2,
        width: inner.width.saturating_sub(2),
        height: 1,
    };
    for (i, &(key, input, mask)) in fields.iter().enumerate() {
        let a = row(i as u16);
        let style = if l.focus == i { theme.accent() } else { theme.muted() };
        f.render_widget(
            Paragraph::new(Span::styled(text::fit(s.cat.get(key), label_w as usize), style)),
            a,
        );
        let va = Rect {
            x: a.x + label_w + 2,
            width: a.width.saturating_sub(label_w + 2),
            ..a
        };
        if l.focus == i {
            input_line(f, theme, va, "", input, mask);
        } else {
            let shown = if mask {
                "•".repeat(input.value().chars().count())
            } else {
                input.value().to_string()
            };
            f.render_widget(Paragraph::new(shown), va);
        }
    }
    let msg = match (&l.error, l.pending) {
        (_, Some(_)) => Span::styled(s.cat.get("login.checking").to_string(), theme.muted()),
        (Some(e), None) => Span::styled(e.clone(), theme.tone(Tone::Error)),
        (None, None) => Span::styled(
            s.cat.fmt(
                "login.keys",
                &[
                    ("submit", &s.keymap.hint(Action::Submit)),
                    ("quit", &s.keymap.hint(Action::Back)),
                ],
            ),
            theme.muted(),
        ),
    };
    let a = row(fields.len() as u16 + 1);
    f.render_widget(Paragraph::new(msg).wrap(Wrap { trim: true }), Rect { height: 2, ..a });
}
