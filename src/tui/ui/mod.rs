//! Drawing: reads the state, never changes it. Layout: a header line, breadcrumbs with the row
//! count, the view, the flash line (or the `:`/`/` line) and a hint bar made from the keymap.

mod dashboard;
mod overlay;
pub use overlay::help_lines;
mod table;
mod widgets;
pub use widgets::{block, cell_style, cell_text, center, clear, context_actions, input_line};

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};
use ratatui::Frame;

use super::resources::Cell;
use super::state::{Mode, Screen, State, View, MIN_SIZE};
use super::text;
use super::theme::{Theme, Tone};

/// Draws the whole console.
pub fn draw(f: &mut Frame, s: &State, theme: &Theme) {
    let area = f.area();
    f.render_widget(Block::default().style(theme.base()), area);
    if area.width < MIN_SIZE.0 || area.height < MIN_SIZE.1 {
        too_small(f, s, theme, area);
        return;
    }
    match &s.screen {
        Screen::Starting => {
            let p = Paragraph::new(s.cat.get("app.starting")).style(theme.muted());
            f.render_widget(p, center(area, 40, 1));
        }
        Screen::Login(_) => overlay::login(f, s, theme, area),
        Screen::Main => main(f, s, theme, area),
    }
}

/// A digest of everything on screen that changes with the clock alone: the header clock, the
/// relative times and expiry tones of the visible rows, which schedulers count as alive. The
/// loop redraws on a tick only when this (or the state's generation) moved, so an idle console
/// does not redraw every second.
pub fn time_key(s: &State) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    text::local_time(s.now, s.tz).hash(&mut h);
    let mut cell = |c: &Cell| {
        if let Cell::Rel(Some(t), expiry) = c {
            text::relative(*t, s.now, &s.cat).hash(&mut h);
            if *expiry {
                (*t - s.now).num_days().hash(&mut h);
            }
        }
    };
    match s.view() {
        View::Table(t) => {
            let start = t.paged.offset;
            for abs in start..start + s.table_height() {
                match t.paged.row(abs) {
                    Some(r) => r.cells.iter().for_each(&mut cell),
                    None => break,
                }
            }
        }
        View::Detail(d) => {
            if let Some(tab) = d.data.as_ref().and_then(|x| x.tabs.get(d.tab)) {
                match &tab.body {
                    super::state::Body::Fields(fields) => fields.iter().for_each(|(_, c)| cell(c)),
                    super::state::Body::Table(_, rows) => rows.iter().flatten().for_each(&mut cell),
                    super::state::Body::Text(_) => {}
                }
            }
        }
        View::Dashboard => {
            if let Some(d) = &s.dashboard.data {
                let alive_after = s.now - chrono::Duration::seconds(90);
                for r in &d.schedulers {
                    (r.heartbeat_at >= alive_after).hash(&mut h);
                    text::relative(r.heartbeat_at, s.now, &s.cat).hash(&mut h);
                }
            }
        }
    }
    h.finish()
}

fn too_small(f: &mut Frame, s: &State, theme: &Theme, area: Rect) {
    let w = area.width.to_string();
    let h = area.height.to_string();
    let need_w = MIN_SIZE.0.to_string();
    let need_h = MIN_SIZE.1.to_string();
    let msg = s.cat.fmt(
        "app.too_small",
        &[("w", &w), ("h", &h), ("need_w", &need_w), ("need_h", &need_h)],
    );
    let p = Paragraph::new(msg)
        .style(theme.tone(Tone::Warn))
        .wrap(Wrap { trim: true });
    f.render_widget(p, area);
}

fn main(f: &mut Frame, s: &State, theme: &Theme, area: Rect) {
    let [header, crumbs, body, flash, hints] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area);
    header_line(f, s, theme, header);
    crumbs_line(f, s, theme, crumbs);
    match s.view() {
        View::Dashboard => dashboard::draw(f, s, theme, body),
        View::Table(t) => table::draw_table(f, s, theme, t, body),
        View::Detail(d) => table::draw_detail(f, s, theme, d, body),
    }
    bottom_line(f, s, theme, flash);
    hint_line(f, s, theme, hints);
    overlay::draw(f, s, theme, area);
}

fn header_line(f: &mut Frame, s: &State, theme: &Theme, area: Rect) {
    let who = s
        .actor
        .as_ref()
        .map(|a| format!("{}@{}", a.username, a.role))
        .unwrap_or_default();
    let mut spans = vec![
        Span::styled(" certdeck ", theme.selected()),
        Span::raw(" "),
        Span::styled(who, theme.accent()),
    ];
    if s.read_only {
        spans.push(Span::raw("  "));
        spans.push(Span::styled(s.cat.get("app.read_only"), theme.tone(Tone::Warn)));
    }
    let clock = text::local_time(s.now, s.tz);
    let used: usize = spans.iter().map(|sp| text::width(&sp.content)).sum();
    let pad = (area.width as usize).saturating_sub(used + text::width(&clock) + 1);
    spans.push(Span::raw(" ".repeat(pad)));
    spans.push(Span::styled(clock, theme.muted()));
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn crumbs_line(f: &mut Frame, s: &State, theme: &Theme, area: Rect) {
    let crumbs = s.breadcrumbs().join(" › ");
    let right = match s.view() {
        View::Table(t) => {
            let n = t.paged.known_len();
            let pos = if n == 0 { 0 } else { t.paged.cursor + 1 };
            let total = if t.paged.is_complete() {
                n.to_string()
            } else {
                format!("{n}+")
            };
            let mut r = s.cat.fmt("table.rows", &[("pos", &pos.to_string()), ("total", &total)]);
            if !t.filter.is_empty() {
                r = format!("/{}  {r}", t.filter);
            }
            r
        }
        _ => String::new(),
    };
    let left_w = (area.width as usize).saturating_sub(text::width(&right) + 2);
    let line = Line::from(vec![
        Span::styled(format!(" {}", text::fit(&crumbs, left_w)), theme.accent()),
        Span::styled(format!("{right} "), theme.muted()),
    ]);
    f.render_widget(Paragraph::new(line), area);
}

fn bottom_line(f: &mut Frame, s: &State, theme: &Theme, area: Rect) {
    match &s.mode {
        Mode::Command(input, _) => input_line(f, theme, area, ":", input, false),
        Mode::Filter(input) => input_line(f, theme, area, "/", input, false),
        _ => {
            if let Some(fl) = &s.flash {
                let p = Paragraph::new(format!(" {}", fl.text)).style(theme.tone(fl.tone));
                f.render_widget(p, area);
            }
        }
    }
}

fn hint_line(f: &mut Frame, s: &State, theme: &Theme, area: Rect) {
    let mut spans = Vec::new();
    let mut used = 0usize;
    for a in context_actions(s) {
        let key = s.keymap.hint(a);
        if key.is_empty() {
            continue;
        }
        let label = s.cat.get(&format!("hint.{}", a.name())).to_string();
        let w = text::width(&key) + text::width(&label) + 4;
        if used + w > area.width as usize {
            break;
        }
        used += w;
        spans.push(Span::styled(format!(" <{key}>"), theme.accent()));
        spans.push(Span::styled(format!(" {label}"), theme.muted()));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}
