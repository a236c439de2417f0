//! The console's plain data, below every other console module: the kinds of resources, table
//! columns, orders, cursors, cells and rows, a parsed filter, detail tabs and log lines. Effects,
//! forms, the page window, the state and the resources all build on these; none of them is
//! imported from here.

use chrono::{DateTime, Utc};

use crate::service::query::Terms;
use crate::tui::theme::Tone;

/// A kind of resource, one table pane each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Certificates.
    Certificates,
    /// Servers.
    Servers,
    /// Server groups.
    Groups,
    /// TLS monitors.
    Monitors,
    /// Alert rules.
    Alerts,
    /// Notification channels.
    Channels,
    /// Fired alerts.
    History,
    /// The task queue.
    Tasks,
    /// Cron schedules.
    Schedules,
    /// System settings.
    Settings,
    /// The user's own settings.
    Preferences,
    /// Users (admin).
    Users,
    /// API keys.
    ApiKeys,
    /// The audit log.
    Audit,
}

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

/// One section of a detail view.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// Label/value pairs (labels are catalog keys).
    Fields(Vec<(String, Cell)>),
    /// A small table: catalog keys of the columns, then rows.
    Table(Vec<&'static str>, Vec<Vec<Cell>>),
    /// Text (PEM, config, JSON).
    Text(String),
}

/// Rows linked to the detail's row, listed in one of its tabs, that the detail can unlink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// A certificate's deployment (id = deployment).
    Deployment,
    /// An alert rule's channel binding (id = channel).
    Binding,
    /// A group's member server (id = server).
    GroupMember,
    /// A server's group (id = group).
    ServerGroup,
    /// A site discovered on a server (id = site).
    Site,
}

/// A tab of a detail view.
#[derive(Debug, Clone, PartialEq)]
pub struct Tab {
    /// The linked rows of a table tab, in row order, and what they are.
    pub links: Option<(Link, Vec<i64>)>,
    /// Catalog key of the tab's name.
    pub key: &'static str,
    /// Its content.
    pub body: Body,
}

/// The loaded detail of one row.
#[derive(Debug, Clone, PartialEq)]
pub struct Detail {
    /// Heading (a name or domain).
    pub title: String,
    /// Whether the row is active (decides whether toggle disables, which asks first).
    pub active: bool,
    /// Tabs.
    pub tabs: Vec<Tab>,
}

/// A task log line.
#[derive(Debug, Clone, PartialEq)]
pub struct LogLine {
    /// Log row id.
    pub id: i64,
    /// When.
    pub at: DateTime<Utc>,
    /// Level.
    pub level: String,
    /// Message.
    pub message: String,
}

/// A parsed `/` filter: the service's [`Terms`] (`key:value` terms for SQL, parsed by the same
/// parser as the CLI's), the rest matched as a substring of what the table shows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Query {
    /// The order.
    pub order: Order,
    /// The terms and the free text.
    pub terms: Terms,
}

impl Query {
    /// Parses a filter line for `kind`: `status:issued type:wildcard example` or `!example`. A
    /// key the pane does not filter by is the error.
    pub fn parse(kind: Kind, order: Order, line: &str) -> Result<Query, String> {
        let terms: Terms = match line.parse() {
            Ok(t) => t,
            Err(never) => match never {},
        };
        if let Some(k) = terms.unknown_key(kind.sql_filters()) {
            return Err(k.to_string());
        }
        Ok(Query { order, terms })
    }

    /// The term `key`, if given.
    pub fn term(&self, key: &str) -> Option<&str> {
        self.terms.raw(key)
    }

    /// Whether a row passes the substring part.
    pub fn keeps(&self, row: &Row) -> bool {
        match self.terms.text() {
            None => true,
            Some((needle, invert)) => row.matches(needle) != invert,
        }
    }
}

/// A value that `Debug` output never shows (passwords, form values, secrets shown once).
#[derive(Clone, PartialEq, Eq)]
pub struct Redacted<T>(pub T);

impl<T> std::fmt::Debug for Redacted<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}
