//! The resources the console browses: one generic table per kind (k9s style). Each kind has its
//! own module here implementing [`Resource`] — columns, `:` aliases, the filters pushed to SQL,
//! the orders the store can page by, page and detail loading, its forms and their submission,
//! and its row actions — and [`Kind::resource`] is the one registry. What asks to confirm is
//! decided once, by [`danger`].
//!
//! Adding a resource: a `Kind` variant (with its place in [`Kind::ALL`] and a line in
//! [`Kind::resource`]), a module implementing [`Resource`], and its catalog keys.

pub mod alerts;
pub mod apikeys;
pub mod audit;
pub mod certificates;
pub mod channels;
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

use futures::future::BoxFuture;

use super::action::{Action, Danger};
use super::effects::Reply;
use super::form::{Form, FormOp};
use super::state::{Detail, Link};
use crate::errors::{ServiceError, ServiceResult};
pub use crate::service::query::Watched;
use crate::service::{Actor, Services};
pub use crate::tui::model::Kind;
use crate::tui::model::Query;
use values::Values;

/// Who asks, and the service that answers: what a resource's service calls need.
#[derive(Clone, Copy)]
pub struct Cx<'a> {
    /// The service layer.
    pub svc: &'a Services,
    /// The logged-in user.
    pub actor: &'a Actor,
}

/// What a face of the console needs of one kind of resource. The static parts are read by
/// `update` and `ui` (pure); the async parts run in the effect runner.
pub trait Resource: Sync {
    /// The kind this implements.
    fn kind(&self) -> Kind;
    /// The `:` command and its aliases (first = canonical).
    fn commands(&self) -> &'static [&'static str];
    /// Catalog key of the pane title.
    fn title_key(&self) -> &'static str;
    /// Only admins see this pane.
    fn admin_only(&self) -> bool {
        false
    }
    /// The table's columns.
    fn columns(&self) -> &'static [Column];
    /// The orders this kind can page by.
    fn orders(&self) -> &'static [Order] {
        &[Order::Newest]
    }
    /// `key:value` filter terms pushed to SQL (each backed by an index), for help and
    /// validation.
    fn sql_filters(&self) -> &'static [&'static str] {
        &[]
    }
    /// The actions on a row of this kind, beyond open / create / edit.
    fn row_actions(&self) -> &'static [Action] {
        &[]
    }
    /// Whether `create` is offered on this pane.
    fn can_create(&self) -> bool {
        true
    }
    /// Whether `create` in a row's detail adds a linked row (shown in the detail's hints).
    fn creates_in_detail(&self) -> bool {
        false
    }
    /// The table polled for changes made by other processes.
    fn watched(&self) -> Watched;
    /// Whether the list comes whole (small tables the store does not page).
    fn unpaged(&self) -> bool {
        false
    }
    /// The create form; `parent` is the row whose detail is open. None when there is none.
    fn create_form(&self, _parent: Option<i64>) -> Option<Form> {
        None
    }
    /// Fetches one page of the table.
    fn load_page<'a>(
        &'a self,
        cx: Cx<'a>,
        q: &'a Query,
        start: Option<Cursor>,
    ) -> BoxFuture<'a, ServiceResult<Fetched>>;
    /// Loads the detail of one row.
    fn load_detail<'a>(&'a self, cx: Cx<'a>, id: i64) -> BoxFuture<'a, ServiceResult<Detail>>;
    /// The edit form of a row, filled from the stored row.
    fn edit_form<'a>(&'a self, _cx: Cx<'a>, _id: i64) -> BoxFuture<'a, ServiceResult<Form>> {
        let kind = self.kind();
        Box::pin(async move { Err(ServiceError::Conflict(format!("{kind:?} rows cannot be edited"))) })
    }
    /// Submits one of this resource's forms.
    fn submit<'a>(&'a self, _cx: Cx<'a>, op: FormOp, _v: &'a Values) -> BoxFuture<'a, ServiceResult<Reply>> {
        let kind = self.kind();
        Box::pin(async move { Err(ServiceError::Conflict(format!("{kind:?} has no form {op:?}"))) })
    }
    /// Runs a row action on row `id`, or on a linked row of its detail (`link`: unlink, import).
    fn row_action<'a>(
        &'a self,
        _cx: Cx<'a>,
        action: Action,
        _id: i64,
        _link: Option<(Link, i64)>,
        _arg: Option<String>,
    ) -> BoxFuture<'a, ServiceResult<Reply>> {
        let e = self.not_applicable(action);
        Box::pin(async move { Err(e) })
    }
    /// The error of an action this kind does not have.
    fn not_applicable(&self, action: Action) -> ServiceError {
        ServiceError::Conflict(format!("{} does not apply to {:?}", action.name(), self.kind()))
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
