//! Table pages: the `/` filter's `key:value` terms become the store's indexed filters, rows are
//! projected to the pane's columns (no PEM, no config text), and the keyset cursor continues
//! the list.

use chrono::{Duration, NaiveDate, TimeZone, Utc};

use super::effects::Query;
use super::paged::PAGE_SIZE;
use super::resources::{status_tone, Cell, Cursor, Kind, Order, Row};
use super::theme::Tone;
use crate::errors::{ServiceError, ServiceResult};
use crate::service::{Actor, Services};
use crate::store::audit::AuditFilter;
use crate::store::certificates::{CertFilter, CertOrder};
use crate::store::monitoring::MonitorFilter;
use crate::store::servers::ServerFilter;
use crate::store::tasks::TaskFilter;
use crate::store::users::UserFilter;
use crate::store::Page;

/// One fetched page: the rows passing the filter, how many the store returned, and the cursor
/// after the last of them (None when the list is whole).
pub type Fetched = (Vec<Row>, usize, Option<Cursor>);

fn parse<T: std::str::FromStr>(key: &str, v: &str) -> ServiceResult<T>
where
    T::Err: std::fmt::Display,
{
    v.parse::<T>().map_err(|e| ServiceError::invalid(key, e.to_string()))
}

/// The term `key` of the filter, parsed (None when absent).
fn term<T: std::str::FromStr>(q: &Query, key: &str) -> ServiceResult<Option<T>>
where
    T::Err: std::fmt::Display,
{
    q.term(key).map(|v| parse(key, v)).transpose()
}

fn yes(key: &str, v: &str) -> ServiceResult<bool> {
    match v.to_ascii_lowercase().as_str() {
        "yes" | "true" | "1" | "on" => Ok(true),
        "no" | "false" | "0" | "off" => Ok(false),
        _ => Err(ServiceError::invalid(key, format!("'{v}' is not yes or no"))),
    }
}

fn when(key: &str, v: &str) -> ServiceResult<chrono::DateTime<Utc>> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(v) {
        return Ok(t.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(v, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| Utc.from_utc_datetime(&t))
        .ok_or_else(|| ServiceError::invalid(key, format!("'{v}' is not a date (YYYY-MM-DD)")))
}

fn id_page(start: Option<Cursor>) -> Page {
    Page {
        before_id: match start {
            Some(Cursor::Id(id)) => Some(id),
            _ => None,
        },
        limit: PAGE_SIZE,
    }
}

fn text(s: impl Into<String>) -> Cell {
    Cell::Text(s.into())
}

fn opt(s: &Option<String>) -> Cell {
    Cell::Text(s.clone().unwrap_or_default())
}

fn status(s: &str) -> Cell {
    Cell::Status(s.to_string(), status_tone(s))
}

fn target(t: &Option<String>, id: Option<i64>) -> Cell {
    match (t, id) {
        (Some(t), Some(id)) => text(format!("{t} #{id}")),
        (Some(t), None) => text(t.clone()),
        _ => text(""),
    }
}

fn finish(rows: Vec<Row>, q: &Query, paged: bool) -> Fetched {
    let fetched = rows.len();
    let end = if paged { rows.last().map(|r| r.cursor) } else { None };
    (rows.into_iter().filter(|r| q.keeps(r)).collect(), fetched, end)
}

/// Fetches one page of `kind`.
pub async fn load(
    svc: &Services,
    actor: &Actor,
    kind: Kind,
    q: &Query,
    start: Option<Cursor>,
) -> ServiceResult<Fetched> {
    let page = id_page(start);
    let now = Utc::now();
    Ok(match kind {
        Kind::Certificates => {
            let mut f = CertFilter {
                status: term(q, "status")?,
                certificate_type: term(q, "type")?,
                ..Default::default()
            };
            if let Some(v) = q.term("domain") {
                f.main_domain = Some(v.to_ascii_lowercase());
            }
            if let Some(v) = q.term("expires_within") {
                let days: i64 = parse("expires_within", v.trim_end_matches('d'))?;
                f.expires_to = Some(now + Duration::days(days));
            }
            if q.order == Order::Expiry {
                f.order = CertOrder::Expiry;
                if let Some(Cursor::Expiry(t, id)) = start {
                    f.after_expiry = Some((t, id));
                }
            }
            let rows = svc.cert_list(actor, &f, page).await?;
            let rows = rows
                .iter()
                .map(|c| {
                    let mut r = Row::new(
                        c.id,
                        vec![
                            text(c.id.to_string()),
                            text(c.main_domain.clone()),
                            opt(&c.name),
                            status(c.status.as_str()),
                            text(c.certificate_type.as_str()),
                            Cell::Time(c.expires_at),
                            Cell::Rel(c.expires_at, true),
                            Cell::Bool(c.auto_renew),
                        ],
                    );
                    if q.order == Order::Expiry {
                        if let Some(t) = c.expires_at {
                            r.cursor = Cursor::Expiry(t, c.id);
                        }
                    }
                    r
                })
                .collect();
            finish(rows, q, true)
        }
        Kind::Servers => {
            let mut f = ServerFilter {
                status: term(q, "status")?,
                server_type: term(q, "type")?,
                ..Default::default()
            };
            if let Some(v) = q.term("hostname") {
                f.hostname = Some(v.to_ascii_lowercase());
            }
            f.group_id = term(q, "group")?;
            let rows = svc
                .server_list(actor, &f, page)
                .await?
                .iter()
                .map(|s| {
                    Row::new(
                        s.id,
                        vec![
                            text(s.id.to_string()),
                            opt(&s.name),
                            text(s.hostname.clone()),
                            text(s.port.to_string()),
                            text(s.server_type.as_str()),
                            text(s.auth_type.as_str()),
                            status(s.status.as_str()),
                            Cell::Rel(s.last_check_at, false),
                        ],
                    )
                })
                .collect();
            finish(rows, q, true)
        }
        Kind::Groups => {
            let rows = svc
                .group_list(actor, page)
                .await?
                .iter()
                .map(|g| {
                    Row::new(
                        g.id,
                        vec![
                            text(g.id.to_string()),
                            text(g.name.clone()),
                            opt(&g.description),
                            text(g.server_count.to_string()),
                        ],
                    )
                })
                .collect();
            finish(rows, q, true)
        }
        Kind::Monitors => {
            let mut f = MonitorFilter {
                status: term(q, "status")?,
                monitor_type: term(q, "type")?,
                ..Default::default()
            };
            if let Some(v) = q.term("active") {
                f.is_active = Some(yes("active", v)?);
            }
            let rows = svc
                .monitor_list(actor, &f, page)
                .await?
                .iter()
                .map(|m| {
                    let tgt = match (&m.domain, m.target_id) {
                        (Some(d), _) => format!("{d}:{}", m.port.unwrap_or(443)),
                        (None, Some(id)) => format!("#{id}"),
                        _ => String::new(),
                    };
                    Row::new(
                        m.id,
                        vec![
                            text(m.id.to_string()),
                            text(m.name.clone()),
                            text(m.monitor_type.as_str()),
                            text(tgt),
                            status(m.status.as_str()),
                            Cell::Bool(m.is_active),
                            Cell::Rel(m.last_check_at, false),
                            opt(&m.status_message),
                        ],
                    )
                    .active(m.is_active)
                })
                .collect();
            finish(rows, q, true)
        }
        Kind::Alerts => {
            let t = term(q, "type")?;
            let rows = svc
                .alert_list(actor, t, page)
                .await?
                .iter()
                .map(|a| {
                    Row::new(
                        a.id,
                        vec![
                            text(a.id.to_string()),
                            text(a.name.clone()),
                            text(a.alert_type.as_str()),
                            text(format!("{} {}", a.condition_type.as_str(), a.condition_value)),
                            text(a.monitor_id.map(|m| format!("#{m}")).unwrap_or_else(|| "*".into())),
                            status(a.severity.as_str()),
                            Cell::Bool(a.is_active),
                        ],
                    )
                    .active(a.is_active)
                })
                .collect();
            finish(rows, q, true)
        }
        Kind::History => {
            let open_only = q.term("open").map(|v| yes("open", v)).transpose()?.unwrap_or(false);
            let rows = svc
                .alert_history(actor, open_only, page)
                .await?
                .iter()
                .map(|h| {
                    let state = if h.is_resolved { "resolved" } else { "open" };
                    Row::new(
                        h.id,
                        vec![
                            text(h.id.to_string()),
                            text(format!("#{}", h.alert_id)),
                            text(format!("#{}", h.monitor_id)),
                            status(h.severity.as_str()),
                            text(h.message.clone()),
                            status(state),
                            Cell::Rel(Some(h.created_at), false),
                        ],
                    )
                    .active(!h.is_resolved)
                })
                .collect();
            finish(rows, q, true)
        }
        Kind::Channels => {
            let rows = svc
                .channel_list(actor, page)
                .await?
                .iter()
                .map(|c| {
                    Row::new(
                        c.id,
                        vec![
                            text(c.id.to_string()),
                            text(c.name.clone()),
                            text(c.channel_type.as_str()),
                            Cell::Bool(c.is_active),
                            Cell::Time(Some(c.created_at)),
                        ],
                    )
                    .active(c.is_active)
                })
                .collect();
            finish(rows, q, true)
        }
        Kind::Tasks => {
            let f = TaskFilter {
                status: term(q, "status")?,
                task_type: term(q, "type")?,
                ..Default::default()
            };
            let rows = svc
                .task_list(actor, &f, page)
                .await?
                .iter()
                .map(|t| {
                    Row::new(
                        t.id,
                        vec![
                            text(t.id.to_string()),
                            text(t.task_type.as_str()),
                            status(t.status.as_str()),
                            Cell::Progress(t.progress),
                            target(&t.target_type, t.target_id),
                            Cell::Rel(Some(t.scheduled_at), false),
                            opt(&t.error_message),
                        ],
                    )
                })
                .collect();
            finish(rows, q, true)
        }
        Kind::Schedules => {
            let rows = svc
                .schedule_list(actor)
                .await?
                .iter()
                .map(|s| {
                    Row::new(
                        s.id,
                        vec![
                            text(s.id.to_string()),
                            text(s.name.clone()),
                            text(s.task_type.as_str()),
                            text(s.cron_expression.clone()),
                            Cell::Bool(s.is_active),
                            Cell::Rel(s.next_run_at, false),
                            Cell::Rel(s.last_run_at, false),
                        ],
                    )
                    .active(s.is_active)
                })
                .collect();
            finish(rows, q, false)
        }
        Kind::Settings => {
            let rows = svc
                .settings_list(actor)
                .await?
                .iter()
                .map(|s| {
                    Row::new(
                        s.id,
                        vec![
                            text(s.setting_key.clone()),
                            opt(&s.setting_value),
                            text(s.setting_type.as_str()),
                            opt(&s.description),
                        ],
                    )
                })
                .collect();
            finish(rows, q, false)
        }
        Kind::Preferences => {
            let rows = svc
                .user_settings_list(actor)
                .await?
                .iter()
                .map(|s| {
                    Row::new(
                        s.id,
                        vec![
                            text(s.setting_key.clone()),
                            opt(&s.setting_value),
                            text(s.setting_type.as_str()),
                            Cell::Rel(Some(s.updated_at), false),
                        ],
                    )
                })
                .collect();
            finish(rows, q, false)
        }
        Kind::Users => {
            let f = UserFilter {
                status: term(q, "status")?,
                role: term(q, "role")?,
            };
            let rows = svc
                .user_list(actor, &f, page)
                .await?
                .iter()
                .map(|u| {
                    Row::new(
                        u.id,
                        vec![
                            text(u.id.to_string()),
                            text(u.username.clone()),
                            text(u.email.clone()),
                            text(u.role.as_str()),
                            status(u.status.as_str()),
                            Cell::Rel(u.last_login_at, false),
                        ],
                    )
                    .active(u.status.as_str() == "active")
                })
                .collect();
            finish(rows, q, true)
        }
        Kind::ApiKeys => {
            let rows = svc
                .apikey_list(actor, page)
                .await?
                .iter()
                .map(|k| {
                    Row::new(
                        k.id,
                        vec![
                            text(k.id.to_string()),
                            text(k.key_name.clone()),
                            text(k.api_key.clone()),
                            text(format!("#{}", k.user_id)),
                            status(k.status.as_str()),
                            Cell::Rel(k.expires_at, true),
                            Cell::Rel(k.last_used_at, false),
                        ],
                    )
                    .active(k.status.as_str() == "active")
                })
                .collect();
            finish(rows, q, true)
        }
        Kind::Audit => {
            let mut f = AuditFilter::default();
            if let Some(v) = q.term("user") {
                f.user_id = Some(match v.parse::<i64>() {
                    Ok(id) => id,
                    Err(_) => svc.user_get(actor, v).await?.id,
                });
            }
            f.action = q.term("action").map(str::to_string);
            f.resource_type = q.term("resource").map(str::to_string);
            f.resource_id = term(q, "id")?;
            if let Some(v) = q.term("since") {
                f.since = Some(when("since", v)?);
            }
            if let Some(v) = q.term("until") {
                f.until = Some(when("until", v)?);
            }
            let rows = svc
                .audit_list(actor, &f, page)
                .await?
                .iter()
                .map(|a| {
                    Row::new(
                        a.id,
                        vec![
                            Cell::Time(Some(a.created_at)),
                            text(a.user_id.map(|u| format!("#{u}")).unwrap_or_else(|| "system".into())),
                            text(a.action.clone()),
                            target(&a.resource_type, a.resource_id),
                            opt(&a.ip_address),
                            text(a.details.as_ref().map(|d| d.0.to_string()).unwrap_or_default()),
                        ],
                    )
                })
                .collect();
            finish(rows, q, true)
        }
    })
}

/// The tone of a cell for drawing.
pub fn tone_of(c: &Cell) -> Tone {
    match c {
        Cell::Status(_, t) => *t,
        _ => Tone::Normal,
    }
}
