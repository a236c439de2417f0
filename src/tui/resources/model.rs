//! What a resource's table and detail are made of: columns, orders, keyset cursors, cells and
//! rows, and the small builders every resource module uses to project its service rows.

use chrono::{DateTime, Utc};

use crate::errors::{ServiceError, ServiceResult};
pub use crate::service::query::Page;
use crate::tui::effects::{Note, Query, Reply};
use crate::tui::paged::PAGE_SIZE;
use crate::tui::state::{Body, Tab};
use crate::tui::theme::Tone;

/// A column of a table.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    /// Catalog key under `col.`.
    pub key: &'static str,
    /// Minimum width in columns.
    pub min: u16,
    /// Share of the spare width.
    pub grow: u16,
}

/// A column: catalog key (under `col.`), minimum width, share of the spare width.
pub const fn col(key: &'static str, min: u16, grow: u16) -> Column {
    Column { key, min, grow }
}

/// An order the store can page by (keyset, index-backed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Order {
    /// Newest first (primary key).
    #[default]
    Newest,
    /// Soonest expiry first (`idx_expires_at`).
    Expiry,
}

impl Order {
    /// Catalog key of the order's name.
    pub fn key(self) -> &'static str {
        match self {
            Order::Newest => "sort.newest",
            Order::Expiry => "sort.expiry",
        }
    }
}

/// A keyset position in a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cursor {
    /// Rows with an id below this.
    Id(i64),
    /// Rows after (expires_at, id).
    Expiry(DateTime<Utc>, i64),
}

/// One value of a row, rendered at draw time (times in the user's zone, relative times from now).
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// Text as is.
    Text(String),
    /// A status word with its tone.
    Status(String, Tone),
    /// A point in time, shown in the user's timezone ("-" when none).
    Time(Option<DateTime<Utc>>),
    /// A point in time relative to now ("in 12 d", "3 h ago"), toned by closeness when `expiry`.
    Rel(Option<DateTime<Utc>>, bool),
    /// Yes / no.
    Bool(bool),
    /// A 0–100 progress gauge.
    Progress(i32),
}

impl Cell {
    /// Plain text for filtering (times as RFC 3339 dates).
    pub fn search_text(&self) -> String {
        match self {
            Cell::Text(s) | Cell::Status(s, _) => s.to_lowercase(),
            Cell::Time(Some(t)) | Cell::Rel(Some(t), _) => t.format("%Y-%m-%d").to_string(),
            Cell::Bool(b) => if *b { "yes" } else { "no" }.into(),
            Cell::Progress(p) => format!("{p}%"),
            _ => String::new(),
        }
    }
}

/// A row projection: the id, the cells of the table's columns and the keyset cursor after it.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Primary key.
    pub id: i64,
    /// One cell per column.
    pub cells: Vec<Cell>,
    /// The cursor that continues the list after this row.
    pub cursor: Cursor,
    /// Whether the row is enabled (None: the kind has no such flag).
    pub active: Option<bool>,
}

impl Row {
    /// A row keyed by id.
    pub fn new(id: i64, cells: Vec<Cell>) -> Row {
        Row {
            id,
            cells,
            cursor: Cursor::Id(id),
            active: None,
        }
    }

    /// The same row with its enabled flag.
    pub fn active(mut self, a: bool) -> Row {
        self.active = Some(a);
        self
    }

    /// Whether the row matches a lower-case substring.
    pub fn matches(&self, needle: &str) -> bool {
        self.id.to_string() == needle || self.cells.iter().any(|c| c.search_text().contains(needle))
    }
}

/// One fetched page: the rows passing the filter, how many the store returned, and the cursor
/// after the last of them (None when the list is whole).
pub type Fetched = (Vec<Row>, usize, Option<Cursor>);

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
