//! Drawing pieces shared by every part of the screen: bordered blocks, centring, clearing, the
//! input line, cell text and style, and the actions the hint line and the menu offer.

use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};
use ratatui::Frame;

use crate::tui::action::Action;
use crate::tui::model::Cell;
use crate::tui::state::{State, View};
use crate::tui::text;
use crate::tui::theme::{Theme, Tone};

/// A rectangle of `w`×`h` centered in `area` (clipped to it).
pub fn center(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

/// A one-line text input with its cursor.
pub fn input_line(f: &mut Frame, theme: &Theme, area: Rect, prompt: &str, input: &tui_input::Input, mask: bool) {
    let width = area.width.saturating_sub(text::width(prompt) as u16 + 1) as usize;
    let scroll = input.visual_scroll(width);
    let shown: String = if mask {
        "•".repeat(input.value().chars().count())
    } else {
        input.value().to_string()
    };
    let visible: String = shown.chars().skip(scroll).collect();
    let line = Line::from(vec![
        Span::styled(prompt.to_string(), theme.accent()),
        Span::styled(text::truncate(&visible, width), theme.base()),
    ]);
    f.render_widget(Paragraph::new(line), area);
    let x = area.x + text::width(prompt) as u16 + (input.visual_cursor().saturating_sub(scroll)) as u16;
    f.set_cursor_position((x.min(area.x + area.width.saturating_sub(1)), area.y));
}

/// The actions the hint bar and help list for the current view.
pub fn context_actions(s: &State) -> Vec<Action> {
    let mut v = vec![Action::Help, Action::Command];
    match s.view() {
        View::Dashboard => v.extend([Action::Refresh, Action::Logout, Action::Quit]),
        View::Table(t) => {
            v.extend([Action::Open, Action::Filter]);
            if t.kind.orders().len() > 1 {
                v.push(Action::Sort);
            }
            if t.kind.can_create() {
                v.push(Action::Create);
            }
            v.extend(t.kind.row_actions().iter().copied());
            v.extend([Action::Back, Action::Refresh]);
        }
        View::Detail(d) => {
            v.extend([Action::NextTab, Action::PrevTab]);
            if d.kind.resource().creates_in_detail() {
                v.push(Action::Create);
            }
            v.extend(d.kind.row_actions().iter().copied());
            v.extend([Action::Back, Action::Refresh]);
        }
    }
    v.retain(|a| s.allowed(*a));
    v
}

/// Renders a cell as text in `width` columns.
pub fn cell_text(s: &State, c: &Cell, width: usize) -> String {
    let t = match c {
        Cell::Text(t) | Cell::Status(t, _) => t.clone(),
        Cell::Time(Some(t)) => text::local_time(*t, s.tz),
        Cell::Rel(Some(t), _) => text::relative(*t, s.now, &s.cat),
        Cell::Time(None) | Cell::Rel(None, _) => "-".into(),
        Cell::Bool(b) => s.cat.get(if *b { "value.yes" } else { "value.no" }).to_string(),
        Cell::Progress(p) => {
            let p = (*p).clamp(0, 100) as usize;
            let bar = width.saturating_sub(5).min(10);
            let filled = p * bar / 100;
            format!("{}{} {p:>3}%", "█".repeat(filled), "░".repeat(bar - filled))
        }
    };
    text::fit(&t, width)
}

/// The style of a cell.
pub fn cell_style(s: &State, theme: &Theme, c: &Cell) -> Style {
    match c {
        Cell::Status(_, t) => theme.tone(*t),
        Cell::Rel(Some(t), true) => {
            let days = (*t - s.now).num_days();
            theme.tone(if days < 7 {
                Tone::Error
            } else if days < 30 {
                Tone::Warn
            } else {
                Tone::Ok
            })
        }
        Cell::Progress(_) => theme.tone(Tone::Info),
        Cell::Time(_) | Cell::Rel(..) => theme.muted(),
        _ => theme.base(),
    }
}

/// A bordered block with a title.
pub fn block<'a>(theme: &Theme, title: String) -> Block<'a> {
    Block::default()
        .borders(Borders::ALL)
        .border_style(theme.muted())
        .title(Span::styled(format!(" {title} "), theme.accent()))
}

/// Clears an area for a popup.
pub fn clear(f: &mut Frame, area: Rect) {
    f.render_widget(Clear, area);
}
