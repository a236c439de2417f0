//! The resources the console browses: one generic table per kind (k9s style). Each kind has its
//! own module here implementing [`Resource`] — columns, `:` aliases, the filters pushed to SQL,
//! the orders the store can page by, page and detail loading, its forms and their submission,
//! and its row actions — and [`Kind::resource`] is the one registry. What asks to confirm is
//! decided once, by [`danger`].
//!
//! Adding a resource: a `Kind` variant (in `tui/model.rs`, with its place in [`Kind::ALL`] and a line in
//! [`Kind::resource`]), a module implementing [`Resource`], and its catalog keys.

pub mod alerts;
pub mod apikeys;
pub mod audit;
pub mod certificates;
pub mod channels;
mod contract;
pub mod groups;
pub mod history;
mod model;
pub mod monitors;
pub mod preferences;
pub mod schedules;
pub mod servers;
pub mod settings;
pub mod tasks;
pub mod users;
pub mod values;

pub use model::{status_tone, tone_of, Cell, Column, Cursor, Fetched, Order, Row};
pub use servers::import_ssh_config;

use super::action::{Action, Danger};
pub use crate::service::query::Watched;
pub use crate::tui::model::Kind;

pub use contract::{Cx, Resource};

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

    /// The registry: the module that implements this kind.
    pub fn resource(self) -> &'static dyn Resource {
        match self {
            Kind::Certificates => &certificates::Certificates,
            Kind::Servers => &servers::Servers,
            Kind::Groups => &groups::Groups,
            Kind::Monitors => &monitors::Monitors,
            Kind::Alerts => &alerts::Alerts,
            Kind::History => &history::History,
            Kind::Channels => &channels::Channels,
            Kind::Tasks => &tasks::Tasks,
            Kind::Schedules => &schedules::Schedules,
            Kind::Settings => &settings::Settings,
            Kind::Preferences => &preferences::Preferences,
            Kind::Users => &users::Users,
            Kind::ApiKeys => &apikeys::ApiKeys,
            Kind::Audit => &audit::Audit,
        }
    }

    /// The `:` command and its aliases (first = canonical).
    pub fn commands(self) -> &'static [&'static str] {
        self.resource().commands()
    }

    /// The kind of a `:` command or alias.
    pub fn from_command(s: &str) -> Option<Kind> {
        let s = s.trim().to_ascii_lowercase();
        Kind::ALL.iter().copied().find(|k| k.commands().contains(&s.as_str()))
    }

    /// Catalog key of the pane title.
    pub fn title_key(self) -> &'static str {
        self.resource().title_key()
    }

    /// Only admins see this pane.
    pub fn admin_only(self) -> bool {
        self.resource().admin_only()
    }

    /// The table's columns.
    pub fn columns(self) -> &'static [Column] {
        self.resource().columns()
    }

    /// The orders this kind can page by.
    pub fn orders(self) -> &'static [Order] {
        self.resource().orders()
    }

    /// `key:value` filter terms pushed to SQL, for help and validation.
    pub fn sql_filters(self) -> &'static [&'static str] {
        self.resource().sql_filters()
    }

    /// The actions on a row of this kind, beyond open / create / edit.
    pub fn row_actions(self) -> &'static [Action] {
        self.resource().row_actions()
    }

    /// Whether `create` is offered on this pane.
    pub fn can_create(self) -> bool {
        self.resource().can_create()
    }

    /// The table polled for changes made by other processes.
    pub fn watched(self) -> Watched {
        self.resource().watched()
    }
}

/// What a dangerous action would act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// A row of a table or the row of a detail; whether it is active.
    Row {
        /// The row is enabled (so a toggle disables it).
        active: bool,
    },
    /// A linked row listed in a detail (delete unlinks it).
    Link,
    /// A fingerprint a server presented, to be trusted.
    PresentedKey,
}

/// The one place that decides what asks to confirm: delete, disable and cancel; a deploy (it
/// changes what production servers serve), a revocation (it cannot be undone), a renewal (it
/// replaces what the servers will be given); unlinking a listed row; trusting a presented key.
pub fn danger(action: Action, target: Target) -> Danger {
    match (action, target) {
        (_, Target::Link | Target::PresentedKey) => Danger::Dangerous,
        (Action::Delete | Action::CancelTask | Action::Deploy | Action::Revoke | Action::Renew, _) => Danger::Dangerous,
        (Action::Toggle, Target::Row { active: true }) => Danger::Dangerous,
        _ => Danger::Safe,
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

    #[test]
    fn every_kind_is_registered_under_itself() {
        for k in Kind::ALL {
            assert_eq!(k.resource().kind(), *k);
        }
    }

    #[test]
    fn danger_is_decided_once() {
        assert_eq!(danger(Action::Delete, Target::Row { active: false }), Danger::Dangerous);
        assert_eq!(danger(Action::Toggle, Target::Row { active: true }), Danger::Dangerous);
        assert_eq!(danger(Action::Toggle, Target::Row { active: false }), Danger::Safe);
        assert_eq!(danger(Action::Check, Target::Row { active: true }), Danger::Safe);
        assert_eq!(danger(Action::Delete, Target::Link), Danger::Dangerous);
        assert_eq!(danger(Action::TrustHostKey, Target::PresentedKey), Danger::Dangerous);
    }
}
