//! What a view needs from the service: the first load of a view, the follow of a task's log,
//! and the re-read of what is shown (polling and `refresh`). Used by the key and reply handlers
//! and by `update` itself.

use crate::tui::effects::{Effect, Query};
use crate::tui::model::Kind;
use crate::tui::state::{State, View};

/// Fetches what the top view is missing.
pub fn load_view(s: &mut State) -> Vec<Effect> {
    let h = s.table_height();
    match s.view() {
        View::Dashboard => {
            if s.dashboard.pending.is_none() {
                let req = s.request();
                s.dashboard.pending = Some(req);
                return vec![Effect::LoadDashboard { req }];
            }
            vec![]
        }
        View::Table(t) => {
            let Ok(query) = Query::parse(t.kind, t.order, &t.filter) else {
                return vec![];
            };
            let kind = t.kind;
            let needs: Vec<_> = t
                .paged
                .needed(h)
                .into_iter()
                .filter(|n| !t.pending.iter().any(|(p, _)| *p == n.page))
                .collect();
            let mut out = fetch_pages(s, kind, &query, needs);
            out.extend(follow_tail(s));
            out
        }
        View::Detail(d) => {
            if d.pending.is_some() {
                return vec![];
            }
            let (kind, id) = (d.kind, d.id);
            let tail = (d.logs_pending.is_none()).then(|| d.logs.last().map(|l| l.id).unwrap_or(0));
            let req = s.request();
            let mut out = vec![Effect::LoadDetail { req, kind, id }];
            let mut log_req = None;
            if let (Kind::Tasks, Some(after)) = (kind, tail) {
                let r = s.request();
                out.push(Effect::LoadLogs {
                    req: r,
                    task: id,
                    after,
                });
                log_req = Some(r);
            }
            if let View::Detail(d) = s.view_mut() {
                d.pending = Some(req);
                if log_req.is_some() {
                    d.logs_pending = log_req;
                }
            }
            out
        }
    }
}

/// Follows the log of the task selected in the tasks pane: a new selection starts a new tail;
/// otherwise the lines after the last one seen are fetched (one fetch at a time).
pub fn follow_tail(s: &mut State) -> Vec<Effect> {
    if !s.shows_tail() {
        return vec![];
    }
    let View::Table(t) = s.view() else {
        return vec![];
    };
    let Some(task) = t.paged.selected().map(|r| r.id) else {
        return vec![];
    };
    let after = match &t.tail {
        Some(tail) if tail.task == task => {
            if tail.pending.is_some() {
                return vec![];
            }
            tail.lines.last().map(|l| l.id).unwrap_or(0)
        }
        _ => 0,
    };
    let req = s.request();
    if let View::Table(t) = s.view_mut() {
        match &mut t.tail {
            Some(tail) if tail.task == task => tail.pending = Some(req),
            _ => {
                t.tail = Some(crate::tui::state::LogTail {
                    task,
                    lines: Vec::new(),
                    pending: Some(req),
                })
            }
        }
    }
    vec![Effect::LoadLogs { req, task, after }]
}

/// Fetches pages of the top table, each marked in flight under its request id.
pub(super) fn fetch_pages(
    s: &mut State,
    kind: Kind,
    query: &Query,
    needs: Vec<crate::tui::paged::Need>,
) -> Vec<Effect> {
    let mut out = Vec::new();
    for n in needs {
        let req = s.request();
        if let View::Table(t) = s.view_mut() {
            t.pending.push((n.page, req));
        }
        out.push(Effect::LoadPage {
            req,
            kind,
            query: query.clone(),
            page: n.page,
            start: n.start,
        });
    }
    out
}

/// Re-reads what the top view shows (polling and `refresh`): the loaded pages of a table, a
/// detail, the dashboard. Skipped while a read of the same view is in flight.
pub fn refresh(s: &mut State) -> Vec<Effect> {
    match s.view() {
        View::Table(t) => {
            if !t.pending.is_empty() {
                return vec![];
            }
            let Ok(query) = Query::parse(t.kind, t.order, &t.filter) else {
                return vec![];
            };
            let kind = t.kind;
            let mut loaded = t.paged.loaded();
            if loaded.is_empty() {
                return load_view(s);
            }
            loaded.sort_by_key(|n| n.page);
            fetch_pages(s, kind, &query, loaded)
        }
        _ => load_view(s),
    }
}
