//! The generic table pane and the detail pane.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Row as TRow, Table, Tabs};
use ratatui::Frame;

use super::widgets::{block, cell_style, cell_text};
use crate::tui::resources::Column;
use crate::tui::state::{Body, DetailView, LogLine, State, TableView};
use crate::tui::text;
use crate::tui::theme::{Theme, Tone};

/// Column widths for `avail` columns: minimums first (dropping trailing columns that do not
/// fit), then the spare width shared by `grow`.
pub fn widths(cols: &[Column], avail: u16) -> Vec<u16> {
    let mut n = cols.len();
    while n > 1 && cols[..n].iter().map(|c| c.min + 1).sum::<u16>() > avail {
        n -= 1;
    }
    let mins: u16 = cols[..n].iter().map(|c| c.min + 1).sum();
    let spare = avail.saturating_sub(mins);
    let grow: u16 = cols[..n].iter().map(|c| c.grow).sum();
    cols[..n]
        .iter()
        .map(|c| c.min + (spare * c.grow).checked_div(grow).unwrap_or(0))
        .collect()
}

/// Draws a table pane: only the visible rows are built.
pub fn draw_table(f: &mut Frame, s: &State, theme: &Theme, t: &TableView, area: Rect) {
    let area = if s.shows_tail() {
        let [table, tail] =
            Layout::vertical([Constraint::Min(3), Constraint::Length(crate::tui::state::TAIL_ROWS)]).areas(area);
        draw_tail(f, s, theme, t, tail);
        table
    } else {
        area
    };
    let mut title = s.cat.get(t.kind.title_key()).to_string();
    if t.kind.orders().len() > 1 {
        title = format!("{title} ({})", s.cat.get(t.order.key()));
    }
    let b = block(theme, title);
    let inner = b.inner(area);
    f.render_widget(b, area);
    let cols = t.kind.columns();
    let w = widths(cols, inner.width);
    let header = TRow::new(
        cols.iter()
            .zip(&w)
            .map(|(c, w)| text::fit(s.cat.get(&format!("col.{}", c.key)), *w as usize)),
    )
    .style(theme.header());
    let height = inner.height.saturating_sub(1) as usize;
    let mut rows = Vec::with_capacity(height);
    for abs in t.paged.offset..t.paged.offset + height {
        let selected = abs == t.paged.cursor;
        let row = match t.paged.row(abs) {
            Some(r) => TRow::new(r.cells.iter().zip(&w).map(|(c, w)| {
                let style = if selected {
                    theme.selected()
                } else {
                    cell_style(s, theme, c)
                };
                ratatui::widgets::Cell::from(Span::styled(cell_text(s, c, *w as usize), style))
            })),
            None if abs < t.paged.known_len() || (!t.paged.is_complete() && abs == t.paged.known_len()) => {
                TRow::new([Span::styled(s.cat.get("table.loading").to_string(), theme.muted())])
            }
            None => break,
        };
        rows.push(if selected { row.style(theme.selected()) } else { row });
    }
    let empty = rows.is_empty();
    let table = Table::new(rows, w.iter().map(|x| Constraint::Length(*x)))
        .header(header)
        .column_spacing(1);
    f.render_widget(table, inner);
    if empty && t.paged.is_complete() {
        let msg = match &t.error {
            Some(e) => Span::styled(e.clone(), theme.tone(Tone::Error)),
            None if !t.filter.is_empty() => Span::styled(s.cat.get("table.no_match").to_string(), theme.muted()),
            None => Span::styled(s.cat.get("table.empty").to_string(), theme.muted()),
        };
        let area = Rect {
            y: inner.y + 2,
            height: 1,
            ..inner
        };
        f.render_widget(Paragraph::new(msg), area);
    } else if let (Some(e), true) = (&t.error, empty) {
        let area = Rect {
            y: inner.y + 2,
            height: 1,
            ..inner
        };
        f.render_widget(Paragraph::new(Span::styled(e.clone(), theme.tone(Tone::Error))), area);
    }
}

/// The newest log lines of the selected task, under the tasks table.
fn draw_tail(f: &mut Frame, s: &State, theme: &Theme, t: &TableView, area: Rect) {
    let title = match &t.tail {
        Some(tail) => s.cat.fmt("tasks.tail", &[("id", &tail.task.to_string())]),
        None => s.cat.get("tasks.tail_none").to_string(),
    };
    let b = block(theme, title);
    let inner = b.inner(area);
    f.render_widget(b, area);
    let lines = t.tail.as_ref().map(|x| x.lines.as_slice()).unwrap_or(&[]);
    if lines.is_empty() {
        f.render_widget(Paragraph::new(s.cat.get("detail.no_logs")).style(theme.muted()), inner);
        return;
    }
    f.render_widget(
        Paragraph::new(log_lines(s, theme, lines, inner.height as usize, 0)),
        inner,
    );
}

/// The last `height` log lines (skipping the newest `scroll`), as styled lines.
fn log_lines<'a>(s: &State, theme: &Theme, lines: &'a [LogLine], height: usize, scroll: usize) -> Vec<Line<'a>> {
    let start = lines.len().saturating_sub(height + scroll);
    lines
        .iter()
        .skip(start)
        .take(height)
        .map(|l| {
            let tone = crate::tui::resources::status_tone(match l.level.as_str() {
                "error" => "error",
                "warning" => "warning",
                _ => "",
            });
            Line::from(vec![
                Span::styled(format!("{} ", text::local_time(l.at, s.tz)), theme.muted()),
                Span::styled(format!("{:<7} ", l.level), theme.tone(tone)),
                Span::raw(l.message.as_str()),
            ])
        })
        .collect()
}

/// Draws a detail pane with its tabs.
pub fn draw_detail(f: &mut Frame, s: &State, theme: &Theme, d: &DetailView, area: Rect) {
    let title = d
        .data
        .as_ref()
        .map(|x| x.title.clone())
        .unwrap_or_else(|| format!("#{}", d.id));
    let b = block(theme, format!("{} › {title}", s.cat.get(d.kind.title_key())));
    let inner = b.inner(area);
    f.render_widget(b, area);
    let Some(data) = &d.data else {
        let msg = match &d.error {
            Some(e) => Span::styled(e.clone(), theme.tone(Tone::Error)),
            None => Span::styled(s.cat.get("table.loading").to_string(), theme.muted()),
        };
        f.render_widget(Paragraph::new(msg), inner);
        return;
    };
    let [tabs_area, body] = Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(inner);
    let tabs = Tabs::new(data.tabs.iter().map(|t| s.cat.get(t.key).to_string()))
        .select(d.tab)
        .style(theme.muted())
        .highlight_style(theme.selected());
    f.render_widget(tabs, tabs_area);
    let Some(tab) = data.tabs.get(d.tab) else {
        return;
    };
    if tab.key == "tab.logs" {
        if d.logs.is_empty() {
            f.render_widget(Paragraph::new(s.cat.get("detail.no_logs")).style(theme.muted()), body);
            return;
        }
        // Follow the tail unless scrolled.
        let shown = log_lines(s, theme, &d.logs, body.height as usize, d.scroll as usize);
        f.render_widget(Paragraph::new(shown), body);
        return;
    }
    match &tab.body {
        Body::Fields(fields) => {
            let label_w = fields
                .iter()
                .map(|(k, _)| text::width(s.cat.get(k)))
                .max()
                .unwrap_or(8)
                .min(28);
            let value_w = (body.width as usize).saturating_sub(label_w + 3);
            let lines: Vec<Line> = fields
                .iter()
                .skip(d.scroll as usize)
                .map(|(k, c)| {
                    Line::from(vec![
                        Span::styled(format!(" {} ", text::fit(s.cat.get(k), label_w)), theme.muted()),
                        Span::styled(cell_text(s, c, value_w).trim_end().to_string(), cell_style(s, theme, c)),
                    ])
                })
                .collect();
            f.render_widget(Paragraph::new(lines), body);
        }
        Body::Table(cols, rows) => {
            if rows.is_empty() {
                f.render_widget(Paragraph::new(s.cat.get("table.empty")).style(theme.muted()), body);
                return;
            }
            let columns: Vec<Column> = cols
                .iter()
                .map(|k| Column {
                    key: k,
                    min: 6,
                    grow: 1,
                })
                .collect();
            let w = widths(&columns, body.width);
            let header = TRow::new(
                cols.iter()
                    .zip(&w)
                    .map(|(c, w)| text::fit(s.cat.get(&format!("col.{c}")), *w as usize)),
            )
            .style(theme.header());
            // The selected row (d.scroll) stays in view.
            let sel = d.scroll as usize;
            let visible = body.height.saturating_sub(1).max(1) as usize;
            let first = sel.saturating_sub(visible - 1);
            let trows: Vec<TRow> = rows
                .iter()
                .enumerate()
                .skip(first)
                .map(|(i, r)| {
                    let row = TRow::new(r.iter().zip(&w).map(|(c, w)| {
                        let style = if i == sel {
                            theme.selected()
                        } else {
                            cell_style(s, theme, c)
                        };
                        ratatui::widgets::Cell::from(Span::styled(cell_text(s, c, *w as usize), style))
                    }));
                    if i == sel {
                        row.style(theme.selected())
                    } else {
                        row
                    }
                })
                .collect();
            let table = Table::new(trows, w.iter().map(|x| Constraint::Length(*x)))
                .header(header)
                .column_spacing(1);
            f.render_widget(table, body);
        }
        Body::Text(t) => {
            let p = Paragraph::new(t.as_str()).scroll((d.scroll, 0)).style(theme.base());
            f.render_widget(p, body);
        }
    }
}
