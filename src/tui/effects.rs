//! Effects: the work `update` asks for (service calls), and the replies that come back.
//! `update` only describes them; `exec` runs them on tokio tasks.

use super::form::{Form, FormKind};
use super::model::{Cursor, Detail, Kind, Link, LogLine, Row};
pub use super::model::{Query, Redacted};
use crate::service::dashboard::Dashboard;
use crate::service::query::ChangeMark;
use crate::service::Actor;

/// Work for the effect runner.
#[derive(Debug, Clone)]
pub enum Effect {
    /// Resume the saved session, if it is still valid.
    Resume {
        /// Request id.
        req: u64,
    },
    /// Log in and save the session.
    Login {
        /// Request id.
        req: u64,
        /// Username.
        username: String,
        /// Password.
        password: Redacted<String>,
        /// The new password that replaces a one-time password.
        new_password: Option<Redacted<String>>,
    },
    /// Revoke and forget the session.
    Logout {
        /// Request id.
        req: u64,
    },
    /// Read the user's `language` and `timezone` settings.
    LoadPreferences {
        /// Request id.
        req: u64,
    },
    /// Fetch one page of a table.
    LoadPage {
        /// Request id.
        req: u64,
        /// What.
        kind: Kind,
        /// Filters and order.
        query: Query,
        /// Page number.
        page: usize,
        /// Its start cursor.
        start: Option<Cursor>,
    },
    /// Ask whether rows of a table changed since a time (polling).
    Poll {
        /// Request id.
        req: u64,
        /// Which table.
        kind: Kind,
        /// Changes at or after this time.
        since: chrono::DateTime<chrono::Utc>,
    },
    /// Fetch a row's detail.
    LoadDetail {
        /// Request id.
        req: u64,
        /// What.
        kind: Kind,
        /// Which.
        id: i64,
    },
    /// Fetch a task's log lines after `after`.
    LoadLogs {
        /// Request id.
        req: u64,
        /// Task.
        task: i64,
        /// Last line seen.
        after: i64,
    },
    /// Read the dashboard.
    LoadDashboard {
        /// Request id.
        req: u64,
    },
    /// Build an edit form from the current row.
    OpenEdit {
        /// Request id.
        req: u64,
        /// What.
        kind: Kind,
        /// Which.
        id: i64,
    },
    /// Submit a form.
    Submit {
        /// Request id.
        req: u64,
        /// What it does.
        form: FormKind,
        /// Field values by name (secrets among them).
        values: Redacted<Vec<(&'static str, String)>>,
    },
    /// Run an action on a row (delete, toggle, run now, retry, cancel, resolve, show PEM).
    RowAction {
        /// Request id.
        req: u64,
        /// The action.
        action: super::action::Action,
        /// On what.
        kind: Kind,
        /// Which.
        id: i64,
        /// A linked row of `id` to unlink instead (delete in a detail's table tab).
        link: Option<(Link, i64)>,
        /// The confirmed value, for actions that show one before asking (a host key).
        arg: Option<String>,
    },
    /// Import servers from the operator's `~/.ssh/config`.
    ImportSsh {
        /// Request id.
        req: u64,
    },
}

/// What comes back from an effect.
#[derive(Debug, Clone)]
pub enum Reply {
    /// A session is open.
    LoggedIn(Actor),
    /// No valid saved session: ask.
    NeedLogin(Option<String>),
    /// Login refused (the service's message: wrong password, locked…).
    LoginFailed(String),
    /// The password was right but is one-time: ask for a new one.
    PasswordChangeRequired(String),
    /// Logged out.
    LoggedOut,
    /// The user's language and timezone settings.
    Preferences(Option<String>, Option<String>),
    /// A page of rows.
    Page {
        /// Page number.
        page: usize,
        /// Rows that passed the filter.
        rows: Vec<Row>,
        /// Rows the store returned.
        fetched: usize,
        /// Cursor after the last returned row.
        end: Option<Cursor>,
    },
    /// What a poll saw.
    Changes(ChangeMark),
    /// A detail.
    Detail(Box<Detail>),
    /// Task log lines.
    Logs(Vec<LogLine>),
    /// Dashboard figures.
    Dashboard(Box<Dashboard>),
    /// A form to open.
    FormReady(Box<Form>),
    /// An action or form succeeded.
    Done(Note),
    /// A secret to show once: its title's catalog key, what was done, the secret.
    Secret(&'static str, Note, Redacted<String>),
    /// A value to confirm before the action runs with it: the host key a server presents.
    AskHostKey {
        /// Server id.
        id: i64,
        /// What the question shows.
        label: String,
        /// The fingerprint that will be trusted.
        presented: String,
    },
    /// A report to read (title catalog key, what was done, the text).
    Report(&'static str, Note, String),
    /// A failure: the field it is about (forms), and the message.
    Failed(Option<String>, String),
}

/// A result for the flash line, in catalog terms: `key` formats `{what}` (a catalog noun) and
/// `{name}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Note {
    /// Catalog key of the sentence (`done.created`…).
    pub key: &'static str,
    /// Catalog key of the noun (`noun.server`…).
    pub what: &'static str,
    /// The row's name or id.
    pub name: String,
}

impl Note {
    /// The sentence in the catalog's language.
    pub fn render(&self, cat: &super::i18n::Catalog) -> String {
        cat.fmt(self.key, &[("what", cat.get(self.what)), ("name", &self.name)])
    }
}
