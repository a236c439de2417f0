//! Views of tasks, task logs, schedules and the scheduler's health.

use super::{opt, render_fields, when, FieldsView, Table, TableView};
use crate::service::tasks::{Health, TaskDetail};
use crate::service::views::{ScheduleRow, SchedulerRow, TaskLogRow, TaskRow};

impl TableView for TaskRow {
    const HEADERS: &'static [&'static str] = &[
        "ID",
        "TYPE",
        "STATUS",
        "PRI",
        "TARGET",
        "PROGRESS",
        "SCHEDULED",
        "ERROR",
    ];
    fn cells(&self) -> Vec<String> {
        let target = match (&self.target_type, self.target_id) {
            (Some(tt), Some(id)) => format!("{tt} #{id}"),
            _ => "-".into(),
        };
        vec![
            self.id.to_string(),
            self.task_type.to_string(),
            self.status.to_string(),
            self.priority.to_string(),
            target,
            format!("{}%", self.progress),
            when(Some(self.scheduled_at)),
            opt(&self.error_message),
        ]
    }
}

impl FieldsView for TaskDetail {
    fn fields(&self) -> Vec<(&'static str, String)> {
        let r = &self.task;
        vec![
            ("id", r.id.to_string()),
            ("type", r.task_type.to_string()),
            ("status", r.status.to_string()),
            ("priority", r.priority.to_string()),
            (
                "target",
                format!(
                    "{} {}",
                    opt(&r.target_type),
                    r.target_id.map_or("-".into(), |t| format!("#{t}"))
                ),
            ),
            ("progress", format!("{}%", r.progress)),
            (
                "attempts",
                format!("{} of {}", self.queue.attempts, self.queue.max_attempts),
            ),
            ("scheduled", when(Some(r.scheduled_at))),
            ("started", when(r.started_at)),
            ("completed", when(r.completed_at)),
            ("worker", opt(&self.queue.locked_by)),
            ("lease until", when(self.queue.lease_expires_at)),
            ("params", r.params.as_ref().map_or("-".into(), |p| p.0.to_string())),
            ("result", r.result.as_ref().map_or("-".into(), |p| p.0.to_string())),
            ("error", opt(&r.error_message)),
        ]
    }
}

/// A task log line as `task logs` prints it: JSON (one object a line), or
/// `date time  level  message  data`.
pub fn log_line(json: bool, l: &TaskLogRow) -> String {
    if json {
        return serde_json::to_string(l).unwrap_or_default();
    }
    let data = l.data.as_ref().map_or(String::new(), |d| format!("  {}", d.0));
    format!(
        "{}  {:<7}  {}{data}",
        l.created_at.format("%Y-%m-%d %H:%M:%S"),
        l.log_level,
        l.message
    )
}

/// A last log line of a followed task that just ended (without its data).
pub fn log_line_final(l: &TaskLogRow) -> String {
    format!(
        "{}  {:<7}  {}",
        l.created_at.format("%Y-%m-%d %H:%M:%S"),
        l.log_level,
        l.message
    )
}

/// A log line of a task the command ran itself (time of day only; on stderr).
pub fn log_line_short(l: &TaskLogRow) -> String {
    format!("{}  {:<7}  {}", l.created_at.format("%H:%M:%S"), l.log_level, l.message)
}

impl TableView for ScheduleRow {
    const HEADERS: &'static [&'static str] = &["ID", "NAME", "TYPE", "CRON", "ACTIVE", "OWNER", "LAST RUN", "NEXT RUN"];
    fn cells(&self) -> Vec<String> {
        vec![
            self.id.to_string(),
            self.name.clone(),
            self.task_type.to_string(),
            self.cron_expression.clone(),
            self.is_active.to_string(),
            self.created_by.map_or("system".into(), |u| format!("user #{u}")),
            when(self.last_run_at),
            when(self.next_run_at),
        ]
    }
}

/// One schedule after a change: `schedule ID 'NAME' (type, cron): active, next run …`.
pub fn schedule_line(row: &ScheduleRow) -> String {
    format!(
        "schedule {} '{}' ({}, {}): {}, next run {}",
        row.id,
        row.name,
        row.task_type,
        row.cron_expression,
        if row.is_active { "active" } else { "disabled" },
        when(row.next_run_at)
    )
}

impl TableView for SchedulerRow {
    const HEADERS: &'static [&'static str] = &["WORKER", "MODE", "SLOTS", "VERSION", "STARTED", "HEARTBEAT", "STOPPED"];
    fn cells(&self) -> Vec<String> {
        vec![
            self.worker_id.clone(),
            self.mode.clone(),
            self.concurrency.to_string(),
            self.version.clone(),
            when(Some(self.started_at)),
            self.heartbeat_at.format("%Y-%m-%d %H:%M:%S").to_string(),
            when(self.stopped_at),
        ]
    }
}

/// `health` as text: the verdict and queue, the reasons, and the schedulers seen.
pub fn health_text(h: &Health) -> String {
    let q = &h.queue;
    let mut out = render_fields(&[
        ("status", format!("{:?}", h.level).to_lowercase()),
        (
            "schedulers",
            format!("{} live of {} seen", h.live_schedulers, h.schedulers.len()),
        ),
        ("due tasks", q.due.to_string()),
        ("oldest due", when(q.oldest_due_at)),
        ("scheduled later", q.scheduled.to_string()),
        ("running", q.running.to_string()),
        ("expired leases", q.expired_leases.to_string()),
        ("failed (24 h)", q.failed_24h.to_string()),
    ]);
    for r in &h.reasons {
        out.push_str(&format!("- {r}\n"));
    }
    if !h.schedulers.is_empty() {
        let t: Table = super::table(&h.schedulers);
        out.push_str(&t.render_counted());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::testing::t0;
    use super::*;
    use crate::domain::{LogLevel, ScheduleType, TaskStatus, TaskType};

    fn task() -> TaskRow {
        TaskRow {
            id: 9,
            task_type: TaskType::ServerCheck,
            status: TaskStatus::Failed,
            priority: 5,
            target_type: Some("server".into()),
            target_id: Some(7),
            params: None,
            result: None,
            error_message: Some("TCP connect failed".into()),
            progress: 0,
            scheduled_at: t0(),
            started_at: None,
            completed_at: None,
            created_by: Some(1),
            created_at: t0(),
            updated_at: t0(),
        }
    }

    #[test]
    fn the_task_table() {
        assert_eq!(
            super::super::table(&[task()]).render(),
            "ID  TYPE          STATUS  PRI  TARGET     PROGRESS  SCHEDULED         ERROR\n\
             9   server_check  failed  5    server #7  0%        2026-01-02 03:04  TCP connect failed\n"
        );
        let v = serde_json::to_value([task()]).unwrap();
        assert_eq!(v[0]["status"], "failed");
        assert_eq!(v[0]["target_id"], 7);
    }

    #[test]
    fn log_lines() {
        let l = TaskLogRow {
            id: 1,
            task_id: 9,
            log_level: LogLevel::Info,
            message: "connecting".into(),
            data: Some(sqlx::types::Json(serde_json::json!({"port": 22}))),
            created_at: t0(),
        };
        assert_eq!(
            log_line(false, &l),
            "2026-01-02 03:04:05  info  connecting  {\"port\":22}"
        );
        assert_eq!(log_line_final(&l), "2026-01-02 03:04:05  info  connecting");
        assert_eq!(log_line_short(&l), "03:04:05  info  connecting");
        let v: serde_json::Value = serde_json::from_str(&log_line(true, &l)).unwrap();
        assert_eq!(v["message"], "connecting");
    }

    #[test]
    fn schedule_views() {
        let s = ScheduleRow {
            id: 1,
            name: "nightly".into(),
            task_type: ScheduleType::Backup,
            cron_expression: "0 3 * * *".into(),
            params: None,
            is_active: true,
            last_run_at: None,
            next_run_at: Some(t0()),
            created_by: None,
            created_at: t0(),
            updated_at: t0(),
        };
        assert_eq!(
            super::super::table(std::slice::from_ref(&s)).render(),
            "ID  NAME     TYPE    CRON       ACTIVE  OWNER   LAST RUN  NEXT RUN\n\
             1   nightly  backup  0 3 * * *  true    system  -         2026-01-02 03:04\n"
        );
        assert_eq!(
            schedule_line(&s),
            "schedule 1 'nightly' (backup, 0 3 * * *): active, next run 2026-01-02 03:04"
        );
    }
}
