//! http-01 through a token server's pull agent: the challenge files are queued for the agent
//! (`agent_challenges`), which places them under the server's document root when it next asks
//! (a looping agent long-polls, so within about a second; a timer-driven one at its next run),
//! and the order waits for them — a bounded time: twice the agent's interval plus 30 s, at
//! most [`MAX_WAIT`], 120 s for an agent that never checked in.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::Services;
use crate::engine::acme::{BoxFut, Challenge, ChallengeKind, Solver, Step};
use crate::engine::http01::check_webroot_and_tokens;
use crate::store::agents as store;

/// The longest an order waits for an agent to place its challenge files.
pub const MAX_WAIT: Duration = Duration::from_secs(900);

/// The wait for an agent that reported `interval_seconds` (none: it never checked in).
pub fn placement_wait(interval_seconds: Option<i32>) -> Duration {
    match interval_seconds {
        Some(i) => {
            (Duration::from_secs(u64::try_from(i.max(1)).unwrap_or(1)) * 2 + Duration::from_secs(30)).min(MAX_WAIT)
        }
        None => Duration::from_secs(120),
    }
}

/// The solver: challenge files placed by the agent of one token server.
pub struct WebrootViaAgent {
    svc: Services,
    server_id: i64,
    label: String,
    webroot: String,
    wait: Duration,
    ids: Mutex<Vec<i64>>,
}

impl WebrootViaAgent {
    /// A solver for `webroot` on the token server `server_id` (its agent's interval sets the wait).
    pub async fn new(svc: &Services, server_id: i64, label: String, webroot: String) -> Result<Self, String> {
        let interval = store::get(svc.db(), server_id)
            .await
            .map_err(|e| e.to_string())?
            .filter(|a| a.last_checkin_at.is_some())
            .map(|a| a.interval_seconds);
        Ok(WebrootViaAgent {
            svc: svc.clone(),
            server_id,
            label,
            webroot,
            wait: placement_wait(interval),
            ids: Mutex::default(),
        })
    }

    fn ids(&self) -> Vec<i64> {
        self.ids.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

impl Solver for WebrootViaAgent {
    fn kind(&self) -> ChallengeKind {
        ChallengeKind::Http01
    }

    fn present<'a>(&'a self, challenges: &'a [Challenge], step: Step<'a>) -> BoxFut<'a, Result<(), String>> {
        Box::pin(async move {
            check_webroot_and_tokens(&self.webroot, challenges)?;
            let db = self.svc.db();
            let mut ids = Vec::new();
            for c in challenges {
                let id = store::insert_challenge(db, self.server_id, &self.webroot, &c.token, &c.key_authorization)
                    .await
                    .map_err(|e| e.to_string())?;
                ids.push(id);
            }
            if let Ok(mut v) = self.ids.lock() {
                v.extend(ids.iter().copied());
            }
            step(format!(
                "{} challenge file(s) queued for the pull agent of {} (under {}); waiting up to {} s for it to place them",
                ids.len(),
                self.label,
                self.webroot,
                self.wait.as_secs()
            ));
            let deadline = Instant::now() + self.wait;
            loop {
                let rows = store::challenges(db, &ids).await.map_err(|e| e.to_string())?;
                if let Some(f) = rows.iter().find(|r| r.state == "failed") {
                    return Err(format!(
                        "the pull agent of {} could not place the challenge file under {}: {}",
                        self.label,
                        self.webroot,
                        f.error.as_deref().unwrap_or("no reason given")
                    ));
                }
                if rows.len() == ids.len() && rows.iter().all(|r| r.state == "placed") {
                    step(format!("the pull agent of {} placed the challenge file(s)", self.label));
                    return Ok(());
                }
                if Instant::now() >= deadline {
                    for id in &ids {
                        let _ = store::set_challenge_state(
                            db,
                            *id,
                            self.server_id,
                            &["place"],
                            "failed",
                            Some("not placed in time"),
                        )
                        .await;
                    }
                    let seen = store::get(db, self.server_id)
                        .await
                        .ok()
                        .flatten()
                        .and_then(|a| a.last_checkin_at)
                        .map(|t| format!("its last check-in was {}", t.format("%Y-%m-%d %H:%M:%S UTC")))
                        .unwrap_or_else(|| "it never checked in".into());
                    return Err(format!(
                        "the pull agent of {} did not place the challenge files within {} s ({seen}); \
                         is `certdeck agent run` running there?",
                        self.label,
                        self.wait.as_secs()
                    ));
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        })
    }

    fn cleanup<'a>(&'a self, _challenges: &'a [Challenge], _step: Step<'a>) -> BoxFut<'a, Result<(), String>> {
        Box::pin(async move {
            let db = self.svc.db();
            for id in self.ids() {
                store::set_challenge_state(db, id, self.server_id, &["place", "placed"], "remove", None)
                    .await
                    .map_err(|e| e.to_string())?;
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_follows_the_agents_interval_within_bounds() {
        assert_eq!(placement_wait(Some(5)), Duration::from_secs(40));
        assert_eq!(placement_wait(Some(300)), Duration::from_secs(630));
        assert_eq!(placement_wait(Some(3600)), MAX_WAIT);
        assert_eq!(placement_wait(None), Duration::from_secs(120));
    }
}
