//! The small builders every resource module uses to project its service rows into the console's
//! cells, rows, tabs and notes (the types themselves are in `tui::model`).

use crate::errors::{ServiceError, ServiceResult};
pub use crate::service::query::Page;
use crate::tui::effects::{Note, Reply};
pub use crate::tui::model::{col, Body, Cell, Column, Cursor, Fetched, Order, Query, Row, Tab};
use crate::tui::paged::PAGE_SIZE;
use crate::tui::theme::Tone;

/// Keeps the rows passing the filter's substring part; `paged` lists continue after the last
/// returned row.
pub fn finish(rows: Vec<Row>, q: &Query, paged: bool) -> Fetched {
    let fetched = rows.len();
    let end = if paged { rows.last().map(|r| r.cursor) } else { None };
    (rows.into_iter().filter(|r| q.keeps(r)).collect(), fetched, end)
}

/// The tone of a status word.
pub fn status_tone(s: &str) -> Tone {
    match s {
        "issued" | "ok" | "active" | "completed" | "deployed" | "verified" | "resolved" => Tone::Ok,
        "pending" | "warning" | "inactive" | "unknown" | "cancelled" => Tone::Warn,
        "expired" | "error" | "failed" | "revoked" | "locked" | "critical" | "open" => Tone::Error,
        "running" | "info" => Tone::Info,
        _ => Tone::Normal,
    }
}

/// The tone of a cell for drawing.
pub fn tone_of(c: &Cell) -> Tone {
    match c {
        Cell::Status(_, t) => *t,
        _ => Tone::Normal,
    }
}

/// A text cell.
pub fn text(s: impl Into<String>) -> Cell {
    Cell::Text(s.into())
}

/// A text cell of an optional value (empty when none; tables).
pub fn opt(s: &Option<String>) -> Cell {
    Cell::Text(s.clone().unwrap_or_default())
}

/// A text cell of an optional value ("-" when none; details).
pub fn or_dash(s: &Option<String>) -> Cell {
    Cell::Text(s.clone().unwrap_or_else(|| "-".into()))
}

/// A status word, toned.
pub fn status(s: &str) -> Cell {
    Cell::Status(s.to_string(), status_tone(s))
}

/// A `type #id` target cell (empty when none).
pub fn target(t: &Option<String>, id: Option<i64>) -> Cell {
    match (t, id) {
        (Some(t), Some(id)) => text(format!("{t} #{id}")),
        (Some(t), None) => text(t.clone()),
        _ => text(""),
    }
}

/// A labelled field of a detail (label under `field.`).
pub fn field(label: &str, c: Cell) -> (String, Cell) {
    (format!("field.{label}"), c)
}

/// Pretty JSON of an optional JSON column (empty when none).
pub fn json(v: &Option<sqlx::types::Json<serde_json::Value>>) -> String {
    v.as_ref()
        .map(|j| serde_json::to_string_pretty(&j.0).unwrap_or_default())
        .unwrap_or_default()
}

/// The overview tab of a detail.
pub fn overview(fields: Vec<(String, Cell)>) -> Tab {
    Tab {
        links: None,
        key: "tab.overview",
        body: Body::Fields(fields),
    }
}

/// A tab without linked rows.
pub fn tab(key: &'static str, body: Body) -> Tab {
    Tab { links: None, key, body }
}

/// A result for the flash line: `key` formats `what` (a catalog noun) and `name`.
pub fn note(key: &'static str, what: &'static str, name: &str) -> Note {
    Note {
        key,
        what,
        name: name.to_string(),
    }
}

/// An action or form that succeeded.
pub fn done(key: &'static str, what: &'static str, name: &str) -> ServiceResult<Reply> {
    Ok(Reply::Done(note(key, what, name)))
}

/// The sentence of a toggle's outcome.
pub fn on_off(active: bool) -> &'static str {
    if active {
        "done.enabled"
    } else {
        "done.disabled"
    }
}

/// The row with this id among a page fetched just below it (lists without a get by id).
pub fn exact<T>(rows: Vec<T>, id: i64, get_id: impl Fn(&T) -> i64, what: &'static str) -> ServiceResult<T> {
    rows.into_iter()
        .find(|r| get_id(r) == id)
        .ok_or_else(|| ServiceError::not_found(what, id))
}

/// The page holding at most the row `id` (the first row below `id + 1`).
pub fn one(id: i64) -> Page {
    Page {
        before_id: Some(id.saturating_add(1)),
        limit: 1,
    }
}

/// The page of a table starting at `start`.
pub fn id_page(start: Option<Cursor>) -> Page {
    Page {
        before_id: match start {
            Some(Cursor::Id(id)) => Some(id),
            _ => None,
        },
        limit: PAGE_SIZE,
    }
}
