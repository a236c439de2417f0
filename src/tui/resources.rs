//! The resources the console browses: one generic table per kind (k9s style), with its columns,
//! `:` aliases, the filters pushed to SQL, the orders the store can page by, and the row actions.

use chrono::{DateTime, Utc};

use super::action::{Action, Danger};
use super::theme::Tone;

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

const fn col(key: &'static str, min: u16, grow: u16) -> Column {
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

impl Kind {
    /// Every kind, in menu order.
    pub const ALL: &'static [Kind] = &[
        Kind::Certificates,
        Kind::Servers,
        Kind::Groups,
        Kind::Monitors,
        Kind::Alerts,
        Kind::History,
        Kind::Channels,
        Kind::Tasks,
        Kind::Schedules,
        Kind::Settings,
        Kind::Preferences,
        Kind::Users,
        Kind::ApiKeys,
        Kind::Audit,
    ];

    /// The `:` command and its aliases (first = canonical).
    pub fn commands(self) -> &'static [&'static str] {
        match self {
            Kind::Certificates => &["certificates", "certs", "cert", "crt"],
            Kind::Servers => &["servers", "srv", "server"],
            Kind::Groups => &["groups", "grp", "group"],
            Kind::Monitors => &["monitors", "mon", "monitor"],
            Kind::Alerts => &["alerts", "rules", "alert"],
            Kind::History => &["history", "fired", "hist"],
            Kind::Channels => &["channels", "chan", "channel"],
            Kind::Tasks => &["tasks", "task", "queue"],
            Kind::Schedules => &["schedules", "cron", "sched"],
            Kind::Settings => &["settings", "set"],
            Kind::Preferences => &["preferences", "prefs", "me"],
            Kind::Users => &["users", "user", "usr"],
            Kind::ApiKeys => &["apikeys", "keys", "apikey"],
            Kind::Audit => &["audit", "log", "audits"],
        }
    }

    /// The kind of a `:` command or alias.
    pub fn from_command(s: &str) -> Option<Kind> {
        let s = s.trim().to_ascii_lowercase();
        Kind::ALL.iter().copied().find(|k| k.commands().contains(&s.as_str()))
    }

    /// Catalog key of the pane title.
    pub fn title_key(self) -> &'static str {
        match self {
            Kind::Certificates => "pane.certificates",
            Kind::Servers => "pane.servers",
            Kind::Groups => "pane.groups",
            Kind::Monitors => "pane.monitors",
            Kind::Alerts => "pane.alerts",
            Kind::History => "pane.history",
            Kind::Channels => "pane.channels",
            Kind::Tasks => "pane.tasks",
            Kind::Schedules => "pane.schedules",
            Kind::Settings => "pane.settings",
            Kind::Preferences => "pane.preferences",
            Kind::Users => "pane.users",
            Kind::ApiKeys => "pane.apikeys",
            Kind::Audit => "pane.audit",
        }
    }

    /// Only admins see this pane.
    pub fn admin_only(self) -> bool {
        matches!(self, Kind::Users)
    }

    /// The table's columns.
    pub fn columns(self) -> &'static [Column] {
        match self {
            Kind::Certificates => {
                const C: &[Column] = &[
                    col("id", 6, 0),
                    col("domain", 18, 4),
                    col("name", 10, 2),
                    col("status", 8, 0),
                    col("type", 12, 0),
                    col("expires", 16, 0),
                    col("left", 10, 0),
                    col("auto_renew", 6, 0),
                ];
                C
            }
            Kind::Servers => {
                const C: &[Column] = &[
                    col("id", 6, 0),
                    col("name", 12, 2),
                    col("hostname", 16, 3),
                    col("port", 5, 0),
                    col("type", 7, 0),
                    col("auth", 8, 0),
                    col("status", 8, 0),
                    col("checked", 10, 0),
                ];
                C
            }
            Kind::Groups => {
                const C: &[Column] = &[
                    col("id", 6, 0),
                    col("name", 16, 2),
                    col("description", 20, 4),
                    col("servers", 8, 0),
                ];
                C
            }
            Kind::Monitors => {
                const C: &[Column] = &[
                    col("id", 6, 0),
                    col("name", 14, 2),
                    col("type", 11, 0),
                    col("target", 16, 3),
                    col("status", 8, 0),
                    col("active", 6, 0),
                    col("checked", 10, 0),
                    col("message", 12, 3),
                ];
                C
            }
            Kind::Alerts => {
                const C: &[Column] = &[
                    col("id", 6, 0),
                    col("name", 14, 3),
                    col("type", 17, 0),
                    col("condition", 14, 1),
                    col("monitor", 7, 0),
                    col("severity", 8, 0),
                    col("active", 6, 0),
                ];
                C
            }
            Kind::History => {
                const C: &[Column] = &[
                    col("id", 6, 0),
                    col("rule", 6, 0),
                    col("monitor", 7, 0),
                    col("severity", 8, 0),
                    col("message", 20, 5),
                    col("state", 9, 0),
                    col("fired", 10, 0),
                ];
                C
            }
            Kind::Channels => {
                const C: &[Column] = &[
                    col("id", 6, 0),
                    col("name", 16, 3),
                    col("type", 8, 0),
                    col("active", 6, 0),
                    col("created", 16, 0),
                ];
                C
            }
            Kind::Tasks => {
                const C: &[Column] = &[
                    col("id", 6, 0),
                    col("type", 18, 1),
                    col("status", 9, 0),
                    col("progress", 12, 1),
                    col("target", 12, 1),
                    col("scheduled", 10, 0),
                    col("error", 12, 4),
                ];
                C
            }
            Kind::Schedules => {
                const C: &[Column] = &[
                    col("id", 6, 0),
                    col("name", 16, 3),
                    col("type", 17, 0),
                    col("cron", 14, 1),
                    col("active", 6, 0),
                    col("next_run", 10, 0),
                    col("last_run", 10, 0),
                ];
                C
            }
            Kind::Settings => {
                const C: &[Column] = &[
                    col("key", 26, 2),
                    col("value", 16, 3),
                    col("type", 7, 0),
                    col("description", 20, 4),
                ];
                C
            }
            Kind::Preferences => {
                const C: &[Column] = &[
                    col("key", 20, 2),
                    col("value", 20, 3),
                    col("type", 7, 0),
                    col("updated", 10, 0),
                ];
                C
            }
            Kind::Users => {
                const C: &[Column] = &[
                    col("id", 6, 0),
                    col("username", 12, 2),
                    col("email", 18, 3),
                    col("role", 6, 0),
                    col("status", 8, 0),
                    col("last_login", 10, 0),
                ];
                C
            }
            Kind::ApiKeys => {
                const C: &[Column] = &[
                    col("id", 6, 0),
                    col("name", 14, 2),
                    col("key", 20, 2),
                    col("owner", 6, 0),
                    col("status", 8, 0),
                    col("expires", 10, 0),
                    col("last_used", 10, 0),
                ];
                C
            }
            Kind::Audit => {
                const C: &[Column] = &[
                    col("time", 16, 0),
                    col("user", 6, 0),
                    col("action", 18, 2),
                    col("resource", 14, 1),
                    col("ip", 12, 0),
                    col("details", 16, 4),
                ];
                C
            }
        }
    }

    /// The orders this kind can page by.
    pub fn orders(self) -> &'static [Order] {
        match self {
            Kind::Certificates => &[Order::Newest, Order::Expiry],
            _ => &[Order::Newest],
        }
    }

    /// `key:value` filter terms pushed to SQL (each backed by an index), for help and validation.
    pub fn sql_filters(self) -> &'static [&'static str] {
        match self {
            Kind::Certificates => &["status", "type", "domain", "expires_within"],
            Kind::Servers => &["status", "type", "hostname", "group"],
            Kind::Monitors => &["status", "type", "active"],
            Kind::Alerts => &["type"],
            Kind::History => &["open"],
            Kind::Tasks => &["status", "type"],
            Kind::Users => &["status", "role"],
            Kind::Audit => &["user", "action", "resource", "id", "since", "until"],
            _ => &[],
        }
    }

    /// The actions on a row of this kind, beyond open / create / edit.
    pub fn row_actions(self) -> &'static [Action] {
        match self {
            Kind::Certificates => &[
                Action::Edit,
                Action::Delete,
                Action::ShowPem,
                Action::Deploy,
                Action::Renew,
                Action::Revoke,
            ],
            Kind::Servers => &[
                Action::Edit,
                Action::Delete,
                Action::Check,
                Action::TrustHostKey,
                Action::Deploy,
            ],
            Kind::Groups => &[Action::Edit, Action::Delete],
            Kind::Monitors => &[Action::Edit, Action::Toggle, Action::Delete, Action::Check],
            Kind::Alerts => &[Action::Edit, Action::Toggle, Action::Delete],
            Kind::History => &[Action::Resolve, Action::Acknowledge],
            Kind::Channels => &[Action::Edit, Action::Toggle, Action::Delete, Action::TestChannel],
            Kind::Tasks => &[Action::Retry, Action::CancelTask],
            Kind::Schedules => &[Action::Edit, Action::Toggle, Action::RunNow],
            Kind::Settings => &[Action::Edit],
            Kind::Preferences => &[Action::Edit, Action::Delete],
            Kind::Users => &[Action::Edit, Action::Toggle, Action::Delete],
            Kind::ApiKeys => &[Action::Toggle, Action::Delete],
            Kind::Audit => &[],
        }
    }

    /// Whether `create` opens a form on this pane.
    pub fn can_create(self) -> bool {
        !matches!(self, Kind::History | Kind::Tasks | Kind::Audit)
    }

    /// The table polled for changes made by other processes.
    pub fn watched(self) -> crate::store::changes::Watched {
        use crate::store::changes::Watched as W;
        match self {
            Kind::Certificates => W::Certificates,
            Kind::Servers => W::Servers,
            Kind::Groups => W::Groups,
            Kind::Monitors => W::Monitors,
            Kind::Alerts => W::Alerts,
            Kind::History => W::AlertHistory,
            Kind::Channels => W::Channels,
            Kind::Tasks => W::Tasks,
            Kind::Schedules => W::Schedules,
            Kind::Settings => W::Settings,
            Kind::Preferences => W::UserSettings,
            Kind::Users => W::Users,
            Kind::ApiKeys => W::ApiKeys,
            Kind::Audit => W::Audit,
        }
    }

    /// Whether the list comes whole (small tables the store does not page).
    pub fn unpaged(self) -> bool {
        matches!(self, Kind::Schedules | Kind::Settings | Kind::Preferences)
    }
}

/// The danger of an action on a row: delete, disable and cancel ask to confirm.
pub fn danger(action: Action, row_is_active: bool) -> Danger {
    match action {
        // A deploy changes what production servers serve: ask first.
        // A revocation cannot be undone; a renewal replaces what the servers will be given.
        Action::Delete | Action::CancelTask | Action::Deploy | Action::Revoke | Action::Renew => Danger::Dangerous,
        Action::Toggle if row_is_active => Danger::Dangerous,
        _ => Danger::Safe,
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_alias_names_one_kind() {
        let mut seen = std::collections::HashSet::new();
        for k in Kind::ALL {
            for c in k.commands() {
                assert!(seen.insert(*c), "alias {c} used twice");
                assert_eq!(Kind::from_command(c), Some(*k));
            }
        }
        assert_eq!(Kind::from_command("srv"), Some(Kind::Servers));
        assert_eq!(Kind::from_command("nope"), None);
    }
}
