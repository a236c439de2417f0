//! Alert rules (conditions checked on each monitor result) and alert history: resolve and
//! acknowledge.

use crate::domain::{AlertType, ConditionType, MonitorStatus, Severity};
use crate::errors::{ServiceError, ServiceResult};
use crate::store::monitoring::{self as store, AlertRow, HistoryRow, NewAlert};
use crate::store::{Arg, Page, Sets};

use crate::service::{ensure_owner, ensure_same_owner, opt_text, Actor, Services};

/// Input of an alert rule.
#[derive(Debug, Clone, Default)]
pub struct AlertInput {
    /// Name.
    pub name: Option<String>,
    /// Type.
    pub alert_type: Option<AlertType>,
    /// Monitor (None = all of the owner's).
    pub monitor_id: Option<i64>,
    /// Condition type.
    pub condition_type: Option<ConditionType>,
    /// Condition value.
    pub condition_value: Option<String>,
    /// Severity.
    pub severity: Option<Severity>,
    /// Enabled.
    pub is_active: Option<bool>,
}

impl Services {
    fn check_condition(t: AlertType, c: ConditionType, v: &str) -> ServiceResult<String> {
        let v = v.trim();
        crate::domain::check_len("condition_value", v, 50)?;
        match c {
            ConditionType::DaysBefore => {
                if t != AlertType::CertificateExpiry {
                    return Err(ServiceError::invalid(
                        "condition_type",
                        "days_before applies only to certificate_expiry alerts",
                    ));
                }
                match v.parse::<i64>() {
                    Ok(d) if (0..=365).contains(&d) => Ok(d.to_string()),
                    _ => Err(ServiceError::invalid(
                        "condition_value",
                        format!("'{v}' must be a number of days, 0 to 365"),
                    )),
                }
            }
            ConditionType::StatusChange => match v.parse::<MonitorStatus>() {
                Ok(s) => Ok(s.as_str().to_string()),
                Err(e) => Err(ServiceError::invalid("condition_value", e.to_string())),
            },
            ConditionType::ValueThreshold => crate::domain::alert_rules::Threshold::parse(v)
                .map(|t| t.canonical())
                .map_err(|e| ServiceError::invalid("condition_value", e)),
        }
    }

    /// Creates an alert rule owned by the actor.
    pub async fn alert_create(&self, actor: &Actor, input: &AlertInput) -> ServiceResult<AlertRow> {
        let name = opt_text("name", input.name.as_deref(), 100)?
            .ok_or_else(|| ServiceError::invalid("name", "is required"))?;
        let t = input
            .alert_type
            .ok_or_else(|| ServiceError::invalid("type", "is required"))?;
        let c = input
            .condition_type
            .ok_or_else(|| ServiceError::invalid("condition", "is required"))?;
        let v = Self::check_condition(t, c, input.condition_value.as_deref().unwrap_or_default())?;
        if let Some(m) = input.monitor_id {
            let mon = self.monitor_get(actor, m).await?;
            ensure_same_owner(
                actor.user_id,
                mon.user_id,
                "an alert rule cannot watch another user's monitor",
            )?;
        }
        let new = NewAlert {
            user_id: actor.user_id,
            name,
            alert_type: t,
            monitor_id: input.monitor_id,
            condition_type: c,
            condition_value: v,
            severity: input.severity.unwrap_or(Severity::Warning),
            is_active: input.is_active.unwrap_or(true),
        };
        let audit = self.audit(Some(actor), "alert.create", "alert", None, serde_json::json!({
            "name": new.name, "type": t, "condition": c, "value": new.condition_value, "severity": new.severity, "monitor_id": new.monitor_id,
        }))?;
        let id = store::insert_alert(self.db(), &new, &audit).await?;
        self.alert_get(actor, id).await
    }

    /// An alert rule visible to the actor.
    pub async fn alert_get(&self, actor: &Actor, id: i64) -> ServiceResult<AlertRow> {
        let row = store::get_alert(self.db(), id)
            .await?
            .ok_or_else(|| ServiceError::not_found("alert", id))?;
        ensure_owner(actor, row.user_id, "alert", id)?;
        Ok(row)
    }

    /// A page of alert rules.
    pub async fn alert_list(
        &self,
        actor: &Actor,
        alert_type: Option<AlertType>,
        page: Page,
    ) -> ServiceResult<Vec<AlertRow>> {
        Ok(store::list_alerts(self.db(), actor.scope(), alert_type, page).await?)
    }

    /// Edits an alert rule.
    pub async fn alert_update(&self, actor: &Actor, id: i64, input: &AlertInput) -> ServiceResult<AlertRow> {
        let row = self.alert_get(actor, id).await?;
        let t = input.alert_type.unwrap_or(row.alert_type);
        let c = input.condition_type.unwrap_or(row.condition_type);
        let v = Self::check_condition(t, c, input.condition_value.as_deref().unwrap_or(&row.condition_value))?;
        let mut sets = Sets::new();
        if let Some(n) = &input.name {
            sets.set(
                "name",
                Arg::Str(
                    opt_text("name", Some(n), 100)?.ok_or_else(|| ServiceError::invalid("name", "cannot be empty"))?,
                ),
            );
        }
        sets.set("alert_type", Arg::Str(t.as_str().into()))
            .set("condition_type", Arg::Str(c.as_str().into()))
            .set("condition_value", Arg::Str(v));
        if let Some(s) = input.severity {
            sets.set("severity", Arg::Str(s.as_str().into()));
        }
        if let Some(a) = input.is_active {
            sets.set("is_active", Arg::Bool(a));
        }
        if let Some(m) = input.monitor_id {
            let mon = self.monitor_get(actor, m).await?;
            ensure_same_owner(
                row.user_id,
                mon.user_id,
                "an alert rule cannot watch another user's monitor",
            )?;
            sets.set("monitor_id", Arg::I64(m));
        }
        let audit = self.audit(Some(actor), "alert.update", "alert", Some(id), serde_json::json!({
            "name": input.name, "type": t, "condition": c, "severity": input.severity, "is_active": input.is_active, "monitor_id": input.monitor_id,
        }))?;
        crate::store::audited::update_by_id(self.db(), "alerts", id, &sets, &audit).await?;
        self.alert_get(actor, id).await
    }

    /// Deletes an alert rule with its bindings and history.
    pub async fn alert_delete(&self, actor: &Actor, id: i64) -> ServiceResult<()> {
        let row = self.alert_get(actor, id).await?;
        let audit = self.audit(
            Some(actor),
            "alert.delete",
            "alert",
            Some(id),
            serde_json::json!({"name": row.name}),
        )?;
        store::delete_alert(self.db(), id, &audit).await?;
        Ok(())
    }

    /// Fired alerts (the actor's), newest first.
    pub async fn alert_history(
        &self,
        actor: &Actor,
        unresolved_only: bool,
        page: Page,
    ) -> ServiceResult<Vec<HistoryRow>> {
        Ok(store::list_history(self.db(), actor.scope(), unresolved_only, page).await?)
    }

    /// Marks a fired alert resolved.
    pub async fn alert_resolve(&self, actor: &Actor, history_id: i64) -> ServiceResult<HistoryRow> {
        let h = store::get_history(self.db(), history_id)
            .await?
            .ok_or_else(|| ServiceError::not_found("alert history", history_id))?;
        self.alert_get(actor, h.alert_id)
            .await
            .map_err(|_| ServiceError::not_found("alert history", history_id))?;
        if h.is_resolved {
            return Err(ServiceError::Conflict(format!(
                "alert {history_id} is already resolved"
            )));
        }
        let audit = self.audit(
            Some(actor),
            "alert.resolve",
            "alert_history",
            Some(history_id),
            serde_json::json!({"alert_id": h.alert_id}),
        )?;
        store::resolve_history(self.db(), history_id, &audit).await?;
        store::get_history(self.db(), history_id)
            .await?
            .ok_or_else(|| ServiceError::not_found("alert history", history_id))
    }

    /// Acknowledges an open alert: someone is on it. It stays open (and resolves by itself when
    /// the condition clears) but sends no reminders.
    pub async fn alert_acknowledge(&self, actor: &Actor, history_id: i64) -> ServiceResult<HistoryRow> {
        actor.require_not_api("acknowledge alerts")?;
        let h = store::get_history(self.db(), history_id)
            .await?
            .ok_or_else(|| ServiceError::not_found("alert history", history_id))?;
        self.alert_get(actor, h.alert_id)
            .await
            .map_err(|_| ServiceError::not_found("alert history", history_id))?;
        if h.is_resolved {
            return Err(ServiceError::Conflict(format!(
                "alert {history_id} is already resolved"
            )));
        }
        let audit = self.audit(
            Some(actor),
            "alert.acknowledge",
            "alert_history",
            Some(history_id),
            serde_json::json!({"alert_id": h.alert_id}),
        )?;
        if !crate::store::monitor_checks::acknowledge(self.db(), history_id, actor.user_id, &audit).await? {
            return Err(ServiceError::Conflict(format!(
                "alert {history_id} is already acknowledged"
            )));
        }
        store::get_history(self.db(), history_id)
            .await?
            .ok_or_else(|| ServiceError::not_found("alert history", history_id))
    }
}
