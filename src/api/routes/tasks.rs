//! `/api/v1/tasks`: list (the CLI's filter terms), show (with attempts and lease), cancel,
//! retry, the log as paged JSON, and the log followed live as Server-Sent Events.
//!
//! The stream (`GET /api/v1/tasks/{id}/logs/stream`) checks at its start that the caller may
//! see the task (another user's task is a 404 like everywhere else), then sends:
//!
//! - `event: status` with the task row (status, progress, error) at the start and whenever its
//!   status or progress changes;
//! - `event: log` per log line after the `Last-Event-ID` header (or `?after=`), `id:` being the
//!   line's id so a reconnecting client resumes where it stopped, data the line as JSON;
//! - `event: end` with the task row once the task is completed, failed or cancelled and every
//!   line before that was sent; then the stream closes.
//!
//! It polls the service every 400 ms and wakes early on this process's task events (a
//! scheduler in the same process), reads at most [`ROWS_PER_POLL`] lines per round, sends
//! keep-alive comments while idle, stops as soon as the client goes away, and closes after
//! [`MAX_STREAM`] (reconnect with `Last-Event-ID` to go on).

use std::collections::{BTreeMap, VecDeque};
use std::convert::Infallible;
use std::time::Duration;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures::stream::{self, BoxStream, StreamExt};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use tokio::time::Instant;

use crate::api::auth::Caller;
use crate::api::cursor::{paged, Paged};
use crate::api::list::ListQuery;
use crate::api::openapi::{Api, Op};
use crate::api::problem::{ApiResult, Id, Params, Problem};
use crate::domain::TaskStatus;
use crate::service::query::{ListFilter, TaskFilter};
use crate::service::tasks::TaskDetail;
use crate::service::views::{TaskLogRow, TaskRow};
use crate::service::{Actor, Services, WorkerEvent};

const LIST: &str = "tasks";

/// Log lines read per round of the stream at most (the next round follows at once when full).
pub const ROWS_PER_POLL: i64 = 200;
/// How often the stream looks at the task when no event wakes it.
pub const POLL_EVERY: Duration = Duration::from_millis(400);
/// A stream is closed after this long (the client reconnects with `Last-Event-ID`).
pub const MAX_STREAM: Duration = Duration::from_secs(30 * 60);
/// Keep-alive comments are sent after this long without an event.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// The largest page of `GET /api/v1/tasks/{id}/logs`.
pub const MAX_LOG_PAGE: i64 = 1000;

/// Registers the routes.
pub fn routes(api: &mut Api) {
    api.add(
        Op::get("/api/v1/tasks", "listTasks")
            .tag("tasks")
            .summary("List tasks (those the caller created or whose target it owns; all for an admin), newest first")
            .query::<crate::api::list::ListParams>()
            .filter(TaskFilter::KEYS)
            .ok::<Paged<TaskRow>>(200, "A page of tasks"),
        list,
    );
    api.add(
        Op::get("/api/v1/tasks/{id}", "getTask")
            .tag("tasks")
            .summary("One task with its attempts and lease")
            .ok::<TaskDetail>(200, "The task"),
        show,
    );
    api.add(
        Op::post("/api/v1/tasks/{id}/cancel", "cancelTask")
            .tag("tasks")
            .summary("Cancel a pending task, or ask a running one to stop at its next step")
            .ok::<TaskRow>(200, "The task after the cancellation"),
        cancel,
    );
    api.add(
        Op::post("/api/v1/tasks/{id}/retry", "retryTask")
            .tag("tasks")
            .summary("Queue a failed or cancelled task again with fresh attempts")
            .ok::<TaskRow>(202, "The task, pending again"),
        retry,
    );
    api.add(
        Op::get("/api/v1/tasks/{id}/logs", "taskLogs")
            .tag("tasks")
            .summary("The task's log lines after line `after`, oldest first")
            .query::<LogParams>()
            .ok::<LogPage>(200, "A page of log lines"),
        logs,
    );
    api.add(
        Op::get("/api/v1/tasks/{id}/logs/stream", "streamTaskLogs")
            .tag("tasks")
            .summary("Follow the task live as Server-Sent Events until it ends")
            .describe(
                "Events: `status` (data: the task row) at the start and on every status or progress change; \
                 `log` (id: the line's id, data: the line) for each log line after the `Last-Event-ID` header \
                 or `after`; `end` (data: the task row, final status) when the task is completed, failed or \
                 cancelled, after its last line; `error` (data: a problem document) if the task can no longer \
                 be read. Keep-alive comments every 15 s while idle. The server closes a stream after 30 \
                 minutes: reconnect with `Last-Event-ID` to go on.",
            )
            .query::<StreamParams>()
            .ok_text(200, "text/event-stream", "The event stream"),
        stream_logs,
    );
}

async fn list(c: Caller, Params(raw): Params<BTreeMap<String, String>>) -> ApiResult<Json<Paged<TaskRow>>> {
    let q = ListQuery::parse(LIST, raw, &[])?;
    let f: TaskFilter = q.filter()?;
    let rows = c.services.task_list(&c.actor, &f, q.page).await?;
    Ok(Json(paged(LIST, &q.page, rows, |r| r.id)))
}

async fn show(c: Caller, Id(id): Id) -> ApiResult<Json<TaskDetail>> {
    Ok(Json(c.services.task_get(&c.actor, id).await?))
}

async fn cancel(c: Caller, Id(id): Id) -> ApiResult<Json<TaskRow>> {
    Ok(Json(c.services.task_cancel(&c.actor, id).await?))
}

async fn retry(c: Caller, Id(id): Id) -> ApiResult<(StatusCode, Json<TaskRow>)> {
    Ok((StatusCode::ACCEPTED, Json(c.services.task_retry(&c.actor, id).await?)))
}

/// Paging of a task's log.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LogParams {
    /// Lines after this line id (default 0: from the first line); pass the `next_after` of the
    /// previous page.
    pub after: Option<i64>,
    /// Lines per page, 1 to 1000 (default 200).
    pub limit: Option<i64>,
}

/// A page of log lines.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct LogPage {
    /// The lines, oldest first.
    pub items: Vec<TaskLogRow>,
    /// Pass as `after` for the lines that follow (the last line's id; unchanged when the page is
    /// empty).
    pub next_after: i64,
    /// Whether more lines were already there beyond this page.
    pub more: bool,
}

fn check_after(after: Option<i64>) -> ApiResult<i64> {
    match after {
        None => Ok(0),
        Some(a) if a >= 0 => Ok(a),
        Some(a) => Err(Problem::invalid(
            "after",
            format!("after {a}: give a log line id (0 or more)"),
        )),
    }
}

async fn logs(c: Caller, Id(id): Id, Params(p): Params<LogParams>) -> ApiResult<Json<LogPage>> {
    let after = check_after(p.after)?;
    let limit = match p.limit {
        None => ROWS_PER_POLL,
        Some(n) if (1..=MAX_LOG_PAGE).contains(&n) => n,
        Some(n) => {
            return Err(Problem::invalid(
                "limit",
                format!("limit {n} is out of range: give 1 to {MAX_LOG_PAGE}"),
            ))
        }
    };
    let items = c.services.task_logs(&c.actor, id, after, limit).await?;
    let next_after = items.last().map_or(after, |l| l.id);
    let more = items.len() as i64 >= limit;
    Ok(Json(LogPage {
        items,
        next_after,
        more,
    }))
}

/// Where a stream starts.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StreamParams {
    /// Send the lines after this line id (default 0: every line); the `Last-Event-ID` header,
    /// when given, wins.
    pub after: Option<i64>,
}

/// The first line id to send after: the `Last-Event-ID` header, else `after`.
fn stream_start(headers: &HeaderMap, after: Option<i64>) -> ApiResult<i64> {
    match headers.get("last-event-id") {
        Some(v) => {
            let bad = || {
                Problem::bad_request("Last-Event-ID must be the id of a log line this stream sent")
                    .with_field("Last-Event-ID")
            };
            let text = v.to_str().map_err(|_| bad())?.trim();
            if text.is_empty() {
                return check_after(after);
            }
            text.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(bad)
        }
        None => check_after(after),
    }
}

async fn stream_logs(
    c: Caller,
    Id(id): Id,
    headers: HeaderMap,
    Params(p): Params<StreamParams>,
) -> ApiResult<Response> {
    let after = stream_start(&headers, p.after)?;
    // Subscribe before the first read so no event between the two is missed.
    let events = c.services.subscribe();
    let first = c.services.task_get(&c.actor, id).await?.task;
    let follow = Follow {
        services: c.services,
        actor: c.actor,
        task_id: id,
        after,
        last: None,
        first: Some(first),
        events,
        queued: VecDeque::new(),
        done: false,
        deadline: Instant::now() + MAX_STREAM,
    };
    let s: BoxStream<'static, Result<Event, Infallible>> = stream::unfold(follow, |mut f| async move {
        let ev = f.next_event().await?;
        Some((Ok(ev), f))
    })
    .boxed();
    let mut res = Sse::new(s)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE).text("keep-alive"))
        .into_response();
    // Proxies such as nginx must pass events on as they come.
    res.headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}

/// The state of one followed task.
struct Follow {
    services: Services,
    actor: Actor,
    task_id: i64,
    /// The id of the last line sent.
    after: i64,
    /// The status and progress last sent.
    last: Option<(TaskStatus, i32)>,
    /// The row read at the start (sent as the first status event).
    first: Option<TaskRow>,
    events: broadcast::Receiver<WorkerEvent>,
    queued: VecDeque<Event>,
    done: bool,
    deadline: Instant,
}

fn is_final(s: TaskStatus) -> bool {
    matches!(s, TaskStatus::Completed | TaskStatus::Failed | TaskStatus::Cancelled)
}

fn json_event(name: &str, data: &impl Serialize) -> Event {
    Event::default()
        .event(name)
        .json_data(data)
        .unwrap_or_else(|_| Event::default().event(name).data("{}"))
}

impl Follow {
    /// The next event to send; `None` ends the stream.
    async fn next_event(&mut self) -> Option<Event> {
        loop {
            if let Some(ev) = self.queued.pop_front() {
                return Some(ev);
            }
            if self.done || Instant::now() >= self.deadline {
                return None;
            }
            if !self.poll().await {
                self.wait().await;
            }
        }
    }

    /// One round: the task's status first, then its new lines (so that a final status read here
    /// comes with every line written before it). Queues what is new; false when nothing was.
    async fn poll(&mut self) -> bool {
        let task = match self.first.take() {
            Some(t) => t,
            None => match self.services.task_get(&self.actor, self.task_id).await {
                Ok(d) => d.task,
                Err(e) => return self.fail(e.into()),
            },
        };
        let lines = match self
            .services
            .task_logs(&self.actor, self.task_id, self.after, ROWS_PER_POLL)
            .await
        {
            Ok(l) => l,
            Err(e) => return self.fail(e.into()),
        };
        let full = lines.len() as i64 >= ROWS_PER_POLL;
        let mut any = !lines.is_empty();
        let now = (task.status, task.progress);
        if self.last != Some(now) && !is_final(task.status) {
            self.queued.push_back(json_event("status", &task));
            self.last = Some(now);
            any = true;
        }
        for l in lines {
            self.after = l.id;
            self.queued.push_back(json_event("log", &l).id(l.id.to_string()));
        }
        if is_final(task.status) && !full {
            self.queued.push_back(json_event("end", &task));
            self.done = true;
            any = true;
        }
        any
    }

    /// Queues an `error` event and ends the stream.
    fn fail(&mut self, p: Problem) -> bool {
        self.queued.push_back(json_event("error", &p));
        self.done = true;
        true
    }

    /// Waits for the next poll: a task event of this task in this process, or the poll interval.
    async fn wait(&mut self) {
        let sleep = tokio::time::sleep(POLL_EVERY);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                _ = &mut sleep => return,
                ev = self.events.recv() => match ev {
                    Ok(WorkerEvent::Task(t)) if t == self.task_id => return,
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(_)) => return,
                    Err(broadcast::error::RecvError::Closed) => {
                        (&mut sleep).await;
                        return;
                    }
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stream_starts_after_last_event_id_else_after() {
        let mut h = HeaderMap::new();
        assert_eq!(stream_start(&h, None).unwrap(), 0);
        assert_eq!(stream_start(&h, Some(7)).unwrap(), 7);
        assert_eq!(stream_start(&h, Some(-1)).unwrap_err().field.as_deref(), Some("after"));
        h.insert("last-event-id", HeaderValue::from_static("42"));
        assert_eq!(stream_start(&h, Some(7)).unwrap(), 42);
        h.insert("last-event-id", HeaderValue::from_static("x"));
        assert_eq!(
            stream_start(&h, None).unwrap_err().field.as_deref(),
            Some("Last-Event-ID")
        );
    }
}
