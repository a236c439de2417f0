//! Reading the audit log: admins see everything, users their own actions.

use crate::errors::ServiceResult;
use crate::store::audit::{self as store, AuditFilter, AuditRow};
use crate::store::Page;

use super::{Actor, Services};

impl Services {
    /// A page of audit rows matching the filter, newest first.
    pub async fn audit_list(&self, actor: &Actor, filter: &AuditFilter, page: Page) -> ServiceResult<Vec<AuditRow>> {
        let mut f = filter.clone();
        if !actor.is_admin() {
            f.user_id = Some(actor.user_id);
        }
        Ok(store::list(self.db(), &f, page).await?)
    }
}
