//! How a server monitor reaches its server, and what certdeck sees of token servers' pull
//! agents: the SSH port of an SSH server; the agent rows for the console and the CLI
//! ([`Services::server_agent`], [`Services::server_agents`]); and the agent's freshness, which
//! replaces the SSH-port check in a token server's monitor: an agent silent past its interval
//! plus the grace ([`crate::domain::agent::silence`]) makes the monitor `error`, turns the
//! server `error` and so fires its `server_down` rules; an agent that has not checked in yet
//! since the server was added is a warning only.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::{Actor, Services};
use crate::domain::agent::{silence, state_key, Silence, DEFAULT_INTERVAL_SECONDS};
use crate::domain::{AuthType, MonitorStatus, ServerStatus};
use crate::errors::ServiceResult;
use crate::store::agents::{self, AgentRow};
use crate::store::servers::{self as servers, ServerRow};

/// What a server monitor found about how certdeck reaches the server: the SSH port, or for a
/// token server its agent's check-ins.
#[derive(Debug, Clone)]
pub(super) struct Reach {
    /// The finding's status.
    pub status: MonitorStatus,
    /// One line for the monitor's message.
    pub line: String,
    /// The member of the check's result JSON that holds `detail` (`ssh` or `agent`).
    pub key: &'static str,
    /// The detail for the result JSON.
    pub detail: Value,
}

/// The agent row of a token server that has none yet: never checked in, the default interval.
fn unseen(server_id: i64) -> AgentRow {
    AgentRow {
        server_id,
        interval_seconds: DEFAULT_INTERVAL_SECONDS,
        ..Default::default()
    }
}

/// "checks in every 300 s; last from 10.0.0.5, version 0.3.1" (parts not known are left out).
fn facts(a: &AgentRow) -> String {
    let mut s = format!("checks in every {} s", a.interval_seconds);
    let from = a.last_address.as_deref().map(|x| format!("last from {x}"));
    let version = a.agent_version.as_deref().map(|v| format!("version {v}"));
    let tail: Vec<String> = from.into_iter().chain(version).collect();
    if !tail.is_empty() {
        s.push_str("; ");
        s.push_str(&tail.join(", "));
    }
    s
}

/// A UTC time with seconds, as the monitor's message gives it.
fn utc(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// The SSH port of a server that is not a token server: `None` when it accepts a TCP connection
/// within `timeout`, else an error finding.
pub(super) async fn ssh_reach(server: &ServerRow, timeout: std::time::Duration) -> Option<Reach> {
    let ssh = (server.hostname.as_str(), server.port.clamp(1, 65_535) as u16);
    let line = match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(ssh)).await {
        Ok(Ok(_)) => return None,
        Ok(Err(e)) => format!("SSH port {}:{} unreachable: {e}", ssh.0, ssh.1),
        Err(_) => format!("SSH port {}:{} did not answer in {} s", ssh.0, ssh.1, timeout.as_secs()),
    };
    Some(Reach {
        status: MonitorStatus::Error,
        detail: json!(line),
        line,
        key: "ssh",
    })
}

/// The worse of two monitor statuses (ok < unknown < warning < error).
pub(super) fn worse(a: MonitorStatus, b: MonitorStatus) -> MonitorStatus {
    let rank = |s: MonitorStatus| match s {
        MonitorStatus::Ok => 0,
        MonitorStatus::Unknown => 1,
        MonitorStatus::Warning => 2,
        MonitorStatus::Error => 3,
    };
    if rank(b) > rank(a) {
        b
    } else {
        a
    }
}

impl Services {
    /// Makes the server monitors of token servers whose agent has fallen silent (by the
    /// [`silence`] rule) due now, so the scheduler's next monitor round checks them: the server
    /// turns `error` and its `server_down` rules fire within a housekeeping round of the
    /// deadline, not at the monitor's own interval (a day by default). A server already `error`
    /// (or `inactive`) is not made due again. Returns how many monitors were made due.
    pub async fn agents_overdue_tick(&self) -> ServiceResult<u64> {
        let now = Utc::now();
        let quiet = agents::quiet_active(
            self.db(),
            now - chrono::Duration::seconds(crate::domain::agent::MIN_GRACE_SECONDS),
        )
        .await?;
        let silent: Vec<i64> = quiet
            .into_iter()
            .filter(|(_, last, interval)| {
                matches!(
                    silence(Some(*last), i64::from(*interval), now),
                    Some(Silence::Overdue { .. })
                )
            })
            .map(|(id, _, _)| id)
            .collect();
        Ok(agents::make_server_monitors_due(self.db(), &silent).await?)
    }

    /// The agent of a server visible to the actor: `None` for a server that is not a token
    /// server; for a token server whose agent never checked in, a row without check-in (and the
    /// default interval).
    pub async fn server_agent(&self, actor: &Actor, server_id: i64) -> ServiceResult<Option<AgentRow>> {
        let s = self.server_get(actor, server_id).await?;
        if s.auth_type != AuthType::Token {
            return Ok(None);
        }
        Ok(Some(
            agents::get(self.db(), server_id)
                .await?
                .unwrap_or_else(|| unseen(server_id)),
        ))
    }

    /// The agents of the token servers among `server_ids` (at most 1000) that the actor may see,
    /// by server id (for lists; other servers are absent, as are ids not visible to the actor).
    pub async fn server_agents(&self, actor: &Actor, server_ids: &[i64]) -> ServiceResult<HashMap<i64, AgentRow>> {
        let visible: Vec<i64> = servers::token_server_owners(self.db(), server_ids)
            .await?
            .into_iter()
            .filter(|(_, owner)| actor.is_admin() || *owner == actor.user_id)
            .map(|(id, _)| id)
            .collect();
        let mut out: HashMap<i64, AgentRow> = visible.iter().map(|id| (*id, unseen(*id))).collect();
        for row in agents::get_many(self.db(), &visible).await? {
            out.insert(row.server_id, row);
        }
        Ok(out)
    }

    /// The agent's freshness of a token server at `now`, for its monitor. An overdue agent also
    /// turns the server `error` (only its status: `last_check_at` stays the last check-in; an
    /// `inactive` server is left as the operator set it; a check-in racing this check wins).
    pub(super) async fn agent_reach(&self, server: &ServerRow, now: DateTime<Utc>) -> ServiceResult<Reach> {
        let a = agents::get(self.db(), server.id)
            .await?
            .unwrap_or_else(|| unseen(server.id));
        let interval = i64::from(a.interval_seconds);
        let mut detail = json!({
            "last_checkin_at": a.last_checkin_at,
            "interval_seconds": a.interval_seconds,
            "address": a.last_address,
            "version": a.agent_version,
        });
        let found = silence(a.last_checkin_at, interval, now);
        let (status, line) = match found {
            Some(Silence::NotYetCheckedIn) => (
                MonitorStatus::Warning,
                format!(
                    "the agent has not checked in yet since the server was added (expected every {} s)",
                    a.interval_seconds
                ),
            ),
            Some(Silence::Overdue { last_checkin, deadline }) => {
                if server.status != ServerStatus::Inactive {
                    servers::set_status(self.db(), server.id, ServerStatus::Error, Some(last_checkin)).await?;
                }
                detail["deadline"] = json!(deadline);
                (
                    MonitorStatus::Error,
                    format!("agent silent since {} ({})", utc(last_checkin), facts(&a)),
                )
            }
            None => {
                let age = a.last_checkin_at.map_or(0, |t| (now - t).num_seconds().max(0));
                (
                    MonitorStatus::Ok,
                    format!("agent checked in {age} s ago ({})", facts(&a)),
                )
            }
        };
        detail["state"] = json!(state_key(found));
        Ok(Reach {
            status,
            line,
            key: "agent",
            detail,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_facts_leave_out_what_is_not_known() {
        let mut a = unseen(3);
        assert_eq!(facts(&a), "checks in every 300 s");
        a.last_address = Some("10.0.0.5".into());
        assert_eq!(facts(&a), "checks in every 300 s; last from 10.0.0.5");
        a.agent_version = Some("0.4.0".into());
        a.interval_seconds = 60;
        assert_eq!(facts(&a), "checks in every 60 s; last from 10.0.0.5, version 0.4.0");
    }
}
