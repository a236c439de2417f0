//! What every resource module implements ([`Resource`]) and what its service calls get
//! ([`Cx`]): the contract, apart from the registry in `mod.rs` that names every resource.

use futures::future::BoxFuture;

use super::values::Values;
use crate::errors::{ServiceError, ServiceResult};
use crate::service::query::Watched;
use crate::service::{Actor, Services};
use crate::tui::action::Action;
use crate::tui::effects::Reply;
use crate::tui::form::{Form, FormOp};
use crate::tui::model::{Column, Cursor, Fetched, Kind, Order, Query};
use crate::tui::state::{Detail, Link};

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
