//! Cron schedules: management (system schedules are admin-only; users own theirs, scoped to
//! their own rows), next runs in the `system.timezone`, and firing: each due schedule fires
//! once across every scheduler, then runs its scan (`certificate_check`, `server_check`) or its
//! own job (`cleanup`; `backup` is not in this build and records that it did not run).

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::{Actor, Services};
use crate::domain::{CronExpr, ScheduleType, TaskType, TimeZoneName};
use crate::errors::{ServiceError, ServiceResult};
use crate::store::audit::NewAudit;
use crate::store::queue::{self, NewTask};
use crate::store::schedules::{self as store, NewSchedule, ScheduleChanges, ScheduleRow};

/// Input of a new or edited schedule (also the JSON body of `POST /api/v1/schedules`).
#[derive(Debug, Clone, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleInput {
    /// Name (1–100 characters).
    pub name: Option<String>,
    /// Kind.
    pub task_type: Option<ScheduleType>,
    /// 5- or 6-field cron expression.
    pub cron_expression: Option<String>,
    /// Parameters (a JSON object).
    pub params: Option<Value>,
    /// A system schedule (no owner; admin only; covers every user's rows).
    #[serde(default)]
    pub system: bool,
}

/// What one firing of a schedule did.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct FiringReport {
    /// The schedule.
    pub schedule_id: i64,
    /// Its kind.
    pub task_type: ScheduleType,
    /// Ok or the error.
    pub ok: bool,
    /// Counts and details (also in the audit row).
    pub details: Value,
}

/// Tasks a scan enqueues per firing at most (the rest come with the next firing).
const SCAN_LIMIT: i64 = 5_000;

impl Services {
    /// The timezone cron fields are read in (`system.timezone`).
    pub async fn schedule_timezone(&self) -> ServiceResult<TimeZoneName> {
        let text = crate::store::settings::get(self.db(), "system.timezone")
            .await?
            .and_then(|r| r.setting_value)
            .unwrap_or_else(|| "UTC".into());
        TimeZoneName::parse(&text).map_err(|e| ServiceError::Internal(format!("setting system.timezone: {e}")))
    }

    fn ensure_schedule_access(&self, actor: &Actor, row: &ScheduleRow) -> ServiceResult<()> {
        match row.created_by {
            Some(owner) => super::ensure_owner(actor, owner, "schedule", row.id),
            None if actor.is_admin() => Ok(()),
            None => Err(ServiceError::not_found("schedule", row.id)),
        }
    }

    /// Schedules the actor may see: its own; an admin sees all, system ones included.
    pub async fn schedule_list(&self, actor: &Actor) -> ServiceResult<Vec<ScheduleRow>> {
        Ok(store::list_schedules(self.db(), actor.scope()).await?)
    }

    /// A schedule the actor may see.
    pub async fn schedule_get(&self, actor: &Actor, id: i64) -> ServiceResult<ScheduleRow> {
        let row = store::get_schedule(self.db(), id)
            .await?
            .ok_or_else(|| ServiceError::not_found("schedule", id))?;
        self.ensure_schedule_access(actor, &row)?;
        Ok(row)
    }

    /// Adds a schedule.
    pub async fn schedule_add(&self, actor: &Actor, input: &ScheduleInput) -> ServiceResult<ScheduleRow> {
        actor.require_not_api("manage schedules")?;
        let name = input.name.as_deref().map(str::trim).unwrap_or_default();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(ServiceError::invalid("name", "must be 1 to 100 characters"));
        }
        let task_type = input
            .task_type
            .ok_or_else(|| ServiceError::invalid("task_type", "is required"))?;
        if matches!(task_type, ScheduleType::Backup | ScheduleType::Cleanup) && !input.system {
            return Err(ServiceError::invalid(
                "system",
                format!("{task_type} works on the whole database: it can only be a system schedule"),
            ));
        }
        if input.system {
            actor.require_admin("add system schedules")?;
        }
        let cron = super::field(
            "cron_expression",
            CronExpr::parse(input.cron_expression.as_deref().unwrap_or_default()),
        )?;
        let params = check_params(task_type, &input.params)?;
        let tz = self.schedule_timezone().await?;
        let next = cron.next_after_in(Utc::now(), &tz);
        let new = NewSchedule {
            name: name.to_string(),
            task_type,
            cron_expression: cron.as_str().to_string(),
            params: Some(params),
            is_active: true,
            next_run_at: next,
            created_by: (!input.system).then_some(actor.user_id),
        };
        let audit = self.audit(
            Some(actor),
            "schedule.create",
            "schedule",
            None,
            json!({"name": new.name, "type": task_type, "cron": new.cron_expression, "system": input.system}),
        )?;
        let id = store::insert_schedule(self.db(), &new, &audit).await?;
        self.schedule_get(actor, id).await
    }

    /// Changes a schedule's name, cron expression or parameters (a new expression replans it).
    pub async fn schedule_edit(&self, actor: &Actor, id: i64, input: &ScheduleInput) -> ServiceResult<ScheduleRow> {
        actor.require_not_api("manage schedules")?;
        let row = self.schedule_get(actor, id).await?;
        let mut c = ScheduleChanges::default();
        if let Some(n) = input.name.as_deref().map(str::trim) {
            if n.is_empty() || n.chars().count() > 100 {
                return Err(ServiceError::invalid("name", "must be 1 to 100 characters"));
            }
            c.name = Some(n.to_string());
        }
        if let Some(text) = &input.cron_expression {
            let cron = super::field("cron_expression", CronExpr::parse(text))?;
            let tz = self.schedule_timezone().await?;
            if row.is_active {
                c.next_run_at = Some(cron.next_after_in(Utc::now(), &tz));
            }
            c.cron_expression = Some(cron.as_str().to_string());
        }
        if input.params.is_some() {
            c.params = Some(check_params(row.task_type, &input.params)?);
        }
        let audit = self.audit(
            Some(actor),
            "schedule.update",
            "schedule",
            Some(id),
            json!({"name": c.name, "cron": c.cron_expression, "params_changed": c.params.is_some()}),
        )?;
        store::update_schedule(self.db(), id, &c, &audit).await?;
        self.schedule_get(actor, id).await
    }

    /// Enables or disables a schedule (enabling plans its next run).
    pub async fn schedule_set_active(&self, actor: &Actor, id: i64, active: bool) -> ServiceResult<ScheduleRow> {
        actor.require_not_api("manage schedules")?;
        let row = self.schedule_get(actor, id).await?;
        let next = if active {
            let cron = CronExpr::parse(&row.cron_expression).map_err(ServiceError::Internal)?;
            cron.next_after_in(Utc::now(), &self.schedule_timezone().await?)
        } else {
            None
        };
        let c = ScheduleChanges {
            is_active: Some(active),
            next_run_at: Some(next),
            ..Default::default()
        };
        let action = if active { "schedule.enable" } else { "schedule.disable" };
        let audit = self.audit(Some(actor), action, "schedule", Some(id), json!({"name": row.name}))?;
        store::update_schedule(self.db(), id, &c, &audit).await?;
        self.schedule_get(actor, id).await
    }

    /// Makes an active schedule due now: the next scheduler tick fires it (once).
    pub async fn schedule_run_now(&self, actor: &Actor, id: i64) -> ServiceResult<ScheduleRow> {
        actor.require_not_api("manage schedules")?;
        let row = self.schedule_get(actor, id).await?;
        if !row.is_active {
            return Err(ServiceError::Conflict(format!(
                "schedule {id} is disabled: enable it first (`certdeck schedule enable {id}`)"
            )));
        }
        let c = ScheduleChanges {
            next_run_at: Some(Some(Utc::now())),
            ..Default::default()
        };
        let audit = self.audit(
            Some(actor),
            "schedule.run_now",
            "schedule",
            Some(id),
            json!({"name": row.name}),
        )?;
        store::update_schedule(self.db(), id, &c, &audit).await?;
        self.schedule_get(actor, id).await
    }

    /// The scheduler's tick: plans schedules without a next run, then fires every due one that
    /// this process wins, and runs it.
    pub async fn schedules_tick(&self) -> ServiceResult<Vec<FiringReport>> {
        let tz = self.schedule_timezone().await?;
        let now = Utc::now();
        for row in store::unplanned(self.db()).await? {
            if let Ok(cron) = CronExpr::parse(&row.cron_expression) {
                if let Some(next) = cron.next_after_in(now, &tz) {
                    store::plan(self.db(), row.id, next).await?;
                }
            }
        }
        let mut reports = Vec::new();
        for row in store::due(self.db()).await? {
            let Some(seen) = row.next_run_at else { continue };
            let Ok(cron) = CronExpr::parse(&row.cron_expression) else {
                tracing::warn!(schedule = row.id, "schedule has an invalid cron expression; skipped");
                continue;
            };
            // A schedule that was due long ago (scheduler down) fires once, then moves on.
            let Some(next) = cron.next_after_in(now, &tz) else {
                continue;
            };
            if !store::claim_firing(self.db(), row.id, seen, next).await? {
                continue; // another scheduler fired it
            }
            reports.push(self.run_schedule(&row).await);
        }
        Ok(reports)
    }

    /// Queues due monitors as `monitor_check` tasks of up to `per_task` monitors each, at most
    /// `max_tasks` tasks per call (the rest on the next tick). Returns the task ids.
    pub async fn monitors_tick(&self, per_task: usize, max_tasks: usize) -> ServiceResult<Vec<i64>> {
        // Silent agents are checked now, whatever their monitor's interval.
        if let Err(e) = self.agents_overdue_tick().await {
            tracing::warn!("finding silent agents failed: {e}");
        }
        Ok(store::enqueue_due_monitors(self.db(), per_task, max_tasks).await?)
    }

    async fn run_schedule(&self, row: &ScheduleRow) -> FiringReport {
        let started = std::time::Instant::now();
        let result = match row.task_type {
            ScheduleType::CertificateCheck => self.certificate_check(row.created_by).await,
            ScheduleType::ServerCheck => self.server_check_all(row.created_by).await,
            ScheduleType::Cleanup => self.cleanup().await,
            ScheduleType::Backup => self.backup_scheduled(row.params.as_ref().map(|p| &p.0)).await,
        };
        let (ok, mut details) = match result {
            Ok(d) => (true, d),
            Err(e) => (false, json!({"error": e.to_string()})),
        };
        details["duration_ms"] = json!(started.elapsed().as_millis() as u64);
        details["schedule"] = json!(row.name);
        let audit = NewAudit {
            user_id: row.created_by,
            action: format!("schedule.run.{}", row.task_type),
            resource_type: Some("schedule".into()),
            resource_id: Some(row.id),
            details: Some(details.clone()),
            ip_address: None,
            user_agent: None,
        };
        if let Err(e) = crate::store::audit::insert(self.db(), &audit).await {
            tracing::warn!(schedule = row.id, "cannot record the schedule run: {e}");
        }
        if ok {
            tracing::info!(schedule = row.id, r#type = %row.task_type, %details, "schedule ran");
        } else {
            tracing::warn!(schedule = row.id, r#type = %row.task_type, %details, "schedule run failed");
        }
        FiringReport {
            schedule_id: row.id,
            task_type: row.task_type,
            ok,
            details,
        }
    }

    /// Queues a system task; `false` when an open task already does its work.
    async fn enqueue_system(&self, t: TaskType, kind: &str, id: i64, priority: i32) -> ServiceResult<bool> {
        // The same one-open-task rule as a face's enqueue: an open issue, renewal or deploy of
        // the target is returned instead of queuing its work twice.
        let new = NewTask::system(t, priority, Some((kind, id)));
        Ok(matches!(
            self.task_enqueue_once(&new, &Default::default(), None).await?,
            queue::Enqueued::New(_)
        ))
    }

    /// `certificate_check`: expire what expired, refresh the CAs' renewal windows (RFC 9773),
    /// queue due renewals and stale deployments.
    async fn certificate_check(&self, owner: Option<i64>) -> ServiceResult<Value> {
        let expired = store::mark_expired_certificates(self.db(), owner).await?;
        let ari = self.ari_refresh(owner, 200).await?;
        let mut renewals = 0;
        for id in store::renewals_due(self.db(), owner, SCAN_LIMIT).await? {
            if self
                .enqueue_system(TaskType::CertificateRenew, "certificate", id, 7)
                .await?
            {
                renewals += 1;
            }
        }
        let mut deploys = 0;
        for id in store::stale_deployments(self.db(), owner, SCAN_LIMIT).await? {
            if self
                .enqueue_system(TaskType::CertificateDeploy, "deployment", id, 6)
                .await?
            {
                deploys += 1;
            }
        }
        Ok(
            json!({"expired": expired, "renewal_info_checked": ari, "renewals_queued": renewals, "deploys_queued": deploys}),
        )
    }

    /// `server_check`: one check task per server that is not disabled.
    async fn server_check_all(&self, owner: Option<i64>) -> ServiceResult<Value> {
        let mut queued = 0;
        for id in store::servers_to_check(self.db(), owner, 100_000).await? {
            self.enqueue_system(TaskType::ServerCheck, "server", id, 3).await?;
            queued += 1;
        }
        Ok(json!({"checks_queued": queued}))
    }

    /// `cleanup`: retention from the `retention.*` settings.
    async fn cleanup(&self) -> ServiceResult<Value> {
        let days = |n: i64| Utc::now() - chrono::Duration::days(n.max(1));
        let task_logs = self.setting_number("retention.task_logs_days").await?;
        let audit = self.setting_number("retention.audit_logs_days").await?;
        let alerts = self.setting_number("retention.alert_history_days").await?;
        let counts = store::cleanup(self.db(), days(task_logs), days(audit), days(alerts)).await?;
        Ok(json!({
            "deleted": counts,
            "retention_days": {"task_logs": task_logs, "audit_logs": audit, "alert_history": alerts},
        }))
    }
}

/// A schedule's parameters: a JSON object with only the keys its kind reads (`backup`: `dir`,
/// a path, and `keep`, a count; the others read none).
fn check_params(t: ScheduleType, p: &Option<Value>) -> ServiceResult<Value> {
    let obj = match p {
        None => return Ok(json!({})),
        Some(Value::Object(o)) => o,
        Some(_) => return Err(ServiceError::invalid("params", "must be a JSON object")),
    };
    let allowed: &[&str] = match t {
        ScheduleType::Backup => &["dir", "keep"],
        _ => &[],
    };
    for (k, v) in obj {
        if !allowed.contains(&k.as_str()) {
            return Err(ServiceError::invalid(
                format!("params.{k}"),
                format!("is not a parameter of a {t} schedule"),
            ));
        }
        let ok = match k.as_str() {
            "dir" => v.as_str().is_some_and(|d| !d.trim().is_empty()),
            "keep" => v.as_u64().is_some_and(|n| n >= 1),
            _ => true,
        };
        if !ok {
            return Err(ServiceError::invalid(
                format!("params.{k}"),
                if k == "dir" {
                    "must be a directory path"
                } else {
                    "must be a whole number, at least 1"
                },
            ));
        }
    }
    Ok(Value::Object(obj.clone()))
}

/// When a schedule fires next after `after` (for displays and tests).
pub fn next_run(cron: &str, after: DateTime<Utc>, tz: &TimeZoneName) -> Option<DateTime<Utc>> {
    CronExpr::parse(cron).ok()?.next_after_in(after, tz)
}
