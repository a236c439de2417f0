//! Reading the audit log: admins see everything, users their own actions.

use crate::errors::ServiceResult;
use crate::store::audit::{self as store, AuditFilter, AuditRow};
use crate::store::Page;

use super::query::{ListFilter, Terms};
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

impl Services {
    /// The audit filter for `terms`, where `user:` may be a user's id or name (looked up as the
    /// actor may see it).
    pub async fn audit_filter(
        &self,
        actor: &Actor,
        terms: &Terms,
        now: chrono::DateTime<chrono::Utc>,
    ) -> ServiceResult<AuditFilter> {
        let mut f = AuditFilter::from_terms(&terms.clone().without("user"), now)?;
        if let Some(who) = terms.raw("user") {
            f.user_id = Some(match who.parse::<i64>() {
                Ok(id) => id,
                Err(_) => self.user_get(actor, who).await?.id,
            });
        }
        Ok(f)
    }
}
