//! The dashboard: certificates by status, expiries within 7/30/90 days and per week for 13
//! weeks, monitors, open alerts, tasks and live schedulers.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Bar, BarChart, Paragraph};
use ratatui::Frame;

use super::widgets::block;
use crate::tui::resources::status_tone;
use crate::tui::state::State;
use crate::tui::text;
use crate::tui::theme::{Theme, Tone};

fn counts<'a>(s: &State, theme: &Theme, rows: &[(String, i64)], width: u16) -> Vec<Line<'a>> {
    if rows.is_empty() {
        return vec![Line::from(Span::styled(
            format!(" {}", s.cat.get("dash.none")),
            theme.muted(),
        ))];
    }
    let w = (width as usize).saturating_sub(8).max(6);
    rows.iter()
        .map(|(k, n)| {
            Line::from(vec![
                Span::styled(format!(" {}", text::fit(k, w)), theme.tone(status_tone(k))),
                Span::styled(format!("{n:>6}"), theme.base()),
            ])
        })
        .collect()
}

/// Draws the dashboard.
pub fn draw(f: &mut Frame, s: &State, theme: &Theme, area: Rect) {
    let Some(d) = &s.dashboard.data else {
        f.render_widget(
            Paragraph::new(s.cat.get("table.loading").to_string()).style(theme.muted()),
            area,
        );
        return;
    };
    let [top, chart, bottom] =
        Layout::vertical([Constraint::Length(7), Constraint::Min(6), Constraint::Length(6)]).areas(area);
    let [c1, c2, c3, c4] = Layout::horizontal([Constraint::Ratio(1, 4); 4]).areas(top);

    let b = block(theme, s.cat.get("dash.certificates").to_string());
    let inner = b.inner(c1);
    f.render_widget(b, c1);
    f.render_widget(Paragraph::new(counts(s, theme, &d.certificates, inner.width)), inner);

    let b = block(theme, s.cat.get("dash.expiring").to_string());
    let inner = b.inner(c2);
    f.render_widget(b, c2);
    let tones = [Tone::Error, Tone::Warn, Tone::Info];
    let labels = ["dash.within_7", "dash.within_30", "dash.within_90"];
    let lines: Vec<Line> = labels
        .iter()
        .zip(d.expiries.within)
        .zip(tones)
        .map(|((l, n), t)| {
            let w = (inner.width as usize).saturating_sub(8).max(6);
            Line::from(vec![
                Span::styled(format!(" {}", text::fit(s.cat.get(l), w)), theme.muted()),
                Span::styled(format!("{n:>6}"), if n > 0 { theme.tone(t) } else { theme.base() }),
            ])
        })
        .collect();
    f.render_widget(Paragraph::new(lines), inner);

    let b = block(theme, s.cat.get("dash.monitors").to_string());
    let inner = b.inner(c3);
    f.render_widget(b, c3);
    f.render_widget(Paragraph::new(counts(s, theme, &d.monitors, inner.width)), inner);

    let b = block(theme, s.cat.get("dash.alerts").to_string());
    let inner = b.inner(c4);
    f.render_widget(b, c4);
    let mut lines = counts(s, theme, &d.open_alerts, inner.width);
    // Alerts nobody hears about are the failure this tool exists to prevent: say so here.
    let gap = if d.channels == 0 {
        Some(s.cat.get("dash.no_channel").to_string())
    } else if d.rules_without_channel > 0 {
        Some(
            s.cat
                .fmt("dash.unbound_rules", &[("n", &d.rules_without_channel.to_string())]),
        )
    } else {
        None
    };
    if let Some(g) = gap {
        lines.push(Line::from(Span::styled(
            format!(" {}", text::fit(&g, (inner.width as usize).saturating_sub(1))),
            theme.tone(Tone::Warn),
        )));
    }
    f.render_widget(Paragraph::new(lines), inner);

    // Expiries per week for the next 13 weeks.
    let b = block(theme, s.cat.get("dash.weekly").to_string());
    let inner = b.inner(chart);
    f.render_widget(b, chart);
    let bar_width = ((inner.width.saturating_sub(13)) / 13).clamp(1, 8);
    let bars: Vec<Bar> = d
        .expiries
        .weekly
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let tone = match i {
                0 => Tone::Error,
                1..=3 => Tone::Warn,
                _ => Tone::Info,
            };
            Bar::default()
                .value((*n).max(0) as u64)
                .label(Line::from(s.cat.fmt("dash.week", &[("n", &(i + 1).to_string())])))
                .style(theme.tone(tone))
        })
        .collect();
    let chart_widget = BarChart::default()
        .data(ratatui::widgets::BarGroup::default().bars(&bars))
        .bar_width(bar_width)
        .bar_gap(1)
        .value_style(theme.selected())
        .label_style(theme.muted());
    f.render_widget(chart_widget, inner);

    let [b1, b2] = Layout::horizontal([Constraint::Ratio(1, 2); 2]).areas(bottom);
    let b = block(theme, s.cat.get("dash.tasks").to_string());
    let inner = b.inner(b1);
    f.render_widget(b, b1);
    f.render_widget(Paragraph::new(counts(s, theme, &d.tasks, inner.width)), inner);

    let b = block(theme, s.cat.get("dash.schedulers").to_string());
    let inner = b.inner(b2);
    f.render_widget(b, b2);
    let alive_after = s.now - chrono::Duration::seconds(90);
    let mut lines = Vec::new();
    let alive: Vec<_> = d
        .schedulers
        .iter()
        .filter(|r| r.stopped_at.is_none() && r.heartbeat_at >= alive_after)
        .collect();
    lines.push(Line::from(Span::styled(
        format!(" {}", s.cat.fmt("dash.alive", &[("n", &alive.len().to_string())])),
        theme.tone(if alive.is_empty() { Tone::Warn } else { Tone::Ok }),
    )));
    for r in alive.iter().take(inner.height.saturating_sub(1) as usize) {
        lines.push(Line::from(Span::styled(
            format!(
                " {} ({}, {}) {}",
                r.hostname,
                r.mode,
                r.pid,
                text::relative(r.heartbeat_at, s.now, &s.cat)
            ),
            theme.muted(),
        )));
    }
    f.render_widget(Paragraph::new(lines), inner);
}
