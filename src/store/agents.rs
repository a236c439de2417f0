//! `server_agents` (a token server's agent: its check-ins and when its token was shown) and
//! `agent_challenges` (http-01 files an agent places for a certificate request).

use chrono::{DateTime, Utc};
use sqlx::FromRow;

use super::{now, Db};
use crate::on_db;

/// What certdeck knows of a token server's agent.
#[derive(Debug, Clone, Default, FromRow, serde::Serialize, schemars::JsonSchema)]
pub struct AgentRow {
    /// The server.
    pub server_id: i64,
    /// The version the agent reported at its last check-in.
    pub agent_version: Option<String>,
    /// Seconds between the agent's runs, as it reported them.
    pub interval_seconds: i32,
    /// The last check-in.
    pub last_checkin_at: Option<DateTime<Utc>>,
    /// The source address of the last check-in.
    pub last_address: Option<String>,
    /// When the current token was shown (`None`: not shown since it was set).
    pub token_shown_at: Option<DateTime<Utc>>,
}

const AGENT_COLS: &str = "server_id, agent_version, interval_seconds, last_checkin_at, last_address, token_shown_at";

/// The agent row of a server, if its agent ever checked in or its token was shown.
pub async fn get(db: &Db, server_id: i64) -> Result<Option<AgentRow>, sqlx::Error> {
    let sql = format!("SELECT {AGENT_COLS} FROM server_agents WHERE server_id = ?");
    on_db!(db, p => sqlx::query_as::<_, AgentRow>(sqlx::AssertSqlSafe(sql)).bind(server_id).fetch_optional(p).await)
}

/// The agent rows of these servers.
pub async fn get_many(db: &Db, server_ids: &[i64]) -> Result<Vec<AgentRow>, sqlx::Error> {
    if server_ids.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<String> = server_ids.iter().take(1000).map(|i| i.to_string()).collect();
    let sql = format!(
        "SELECT {AGENT_COLS} FROM server_agents WHERE server_id IN ({})",
        ids.join(",")
    );
    on_db!(db, p => sqlx::query_as::<_, AgentRow>(sqlx::AssertSqlSafe(sql)).fetch_all(p).await)
}

/// Makes sure the server has an agent row (so the updates below have one to change).
async fn ensure(db: &Db, server_id: i64) -> Result<(), sqlx::Error> {
    let sql = match db {
        Db::MySql(_) => "INSERT IGNORE INTO server_agents (server_id) VALUES (?)",
        Db::Sqlite(_) => "INSERT OR IGNORE INTO server_agents (server_id) VALUES (?)",
    };
    on_db!(db, p => sqlx::query(sql).bind(server_id).execute(p).await.map(|_| ()))
}

/// Records a check-in: the agent's version, its interval and the source address.
pub async fn record_checkin(
    db: &Db,
    server_id: i64,
    version: &str,
    interval_seconds: i32,
    address: Option<&str>,
) -> Result<(), sqlx::Error> {
    let n = now();
    let sql = match db {
        Db::MySql(_) => {
            "INSERT INTO server_agents (server_id, agent_version, interval_seconds, last_checkin_at, last_address) \
             VALUES (?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE agent_version = VALUES(agent_version), \
             interval_seconds = VALUES(interval_seconds), last_checkin_at = VALUES(last_checkin_at), \
             last_address = VALUES(last_address)"
        }
        Db::Sqlite(_) => {
            "INSERT INTO server_agents (server_id, agent_version, interval_seconds, last_checkin_at, last_address) \
             VALUES (?, ?, ?, ?, ?) ON CONFLICT (server_id) DO UPDATE SET agent_version = excluded.agent_version, \
             interval_seconds = excluded.interval_seconds, last_checkin_at = excluded.last_checkin_at, \
             last_address = excluded.last_address"
        }
    };
    on_db!(db, p => sqlx::query(sql).bind(server_id).bind(version).bind(interval_seconds).bind(n).bind(address)
        .execute(p).await.map(|_| ()))
}

/// Marks the server's current token as shown (`true`) or not yet shown (`false`, a new token).
pub async fn set_token_shown(db: &Db, server_id: i64, shown: bool) -> Result<(), sqlx::Error> {
    ensure(db, server_id).await?;
    let at = shown.then(now);
    on_db!(db, p => sqlx::query("UPDATE server_agents SET token_shown_at = ? WHERE server_id = ?")
        .bind(at).bind(server_id).execute(p).await.map(|_| ()))
}

/// Marks the token shown only if it was not: `false` when it already was (another caller won).
pub async fn claim_token_display(db: &Db, server_id: i64) -> Result<bool, sqlx::Error> {
    ensure(db, server_id).await?;
    on_db!(db, p => sqlx::query(
        "UPDATE server_agents SET token_shown_at = ? WHERE server_id = ? AND token_shown_at IS NULL")
        .bind(now()).bind(server_id).execute(p).await.map(|r| r.rows_affected() == 1))
}

/// A challenge file an agent places (`place`), has placed (`placed`), is to remove (`remove`),
/// has removed (`removed`) or could not place (`failed`).
#[derive(Debug, Clone, FromRow, serde::Serialize, schemars::JsonSchema)]
pub struct ChallengeRow {
    /// Id.
    pub id: i64,
    /// The token server whose agent places it.
    pub server_id: i64,
    /// The document root the file goes under (`/.well-known/acme-challenge/<token>`).
    pub webroot: String,
    /// The challenge token (the file name).
    pub token: String,
    /// The file's content.
    pub key_authorization: String,
    /// place, placed, remove, removed or failed.
    pub state: String,
    /// Why the agent could not place it.
    pub error: Option<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

const CHALLENGE_COLS: &str = "id, server_id, webroot, token, key_authorization, state, error, created_at, updated_at";

/// Queues a challenge file for the server's agent; returns its id.
pub async fn insert_challenge(
    db: &Db,
    server_id: i64,
    webroot: &str,
    token: &str,
    key_authorization: &str,
) -> Result<i64, sqlx::Error> {
    let n = now();
    let q =
        "INSERT INTO agent_challenges (server_id, webroot, token, key_authorization, state, created_at, updated_at) \
             VALUES (?, ?, ?, ?, 'place', ?, ?)";
    on_db!(db, p => sqlx::query(q).bind(server_id).bind(webroot).bind(token).bind(key_authorization).bind(n).bind(n)
        .execute(p).await.map(|r| super::users::LastId::last_id(&r)))
}

/// The challenges of a server waiting for its agent (to place or to remove), oldest first.
pub async fn pending_challenges(db: &Db, server_id: i64) -> Result<Vec<ChallengeRow>, sqlx::Error> {
    let sql = format!(
        "SELECT {CHALLENGE_COLS} FROM agent_challenges WHERE server_id = ? AND state IN ('place', 'remove') \
         ORDER BY id LIMIT 100"
    );
    on_db!(db, p => sqlx::query_as::<_, ChallengeRow>(sqlx::AssertSqlSafe(sql)).bind(server_id).fetch_all(p).await)
}

/// Whether the server has challenges waiting for its agent (the long poll's cheap check).
pub async fn has_pending_challenges(db: &Db, server_id: i64) -> Result<bool, sqlx::Error> {
    on_db!(db, p => sqlx::query_scalar::<_, i64>(
        "SELECT COUNT(*) FROM agent_challenges WHERE server_id = ? AND state IN ('place', 'remove')")
        .bind(server_id).fetch_one(p).await.map(|n| n > 0))
}

/// The challenges with these ids.
pub async fn challenges(db: &Db, ids: &[i64]) -> Result<Vec<ChallengeRow>, sqlx::Error> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let list: Vec<String> = ids.iter().take(1000).map(|i| i.to_string()).collect();
    let sql = format!(
        "SELECT {CHALLENGE_COLS} FROM agent_challenges WHERE id IN ({})",
        list.join(",")
    );
    on_db!(db, p => sqlx::query_as::<_, ChallengeRow>(sqlx::AssertSqlSafe(sql)).fetch_all(p).await)
}

/// Moves a challenge of this server from state `from` to `to` (with an error); `false` when it
/// is not in `from` (or not this server's).
pub async fn set_challenge_state(
    db: &Db,
    id: i64,
    server_id: i64,
    from: &[&str],
    to: &str,
    error: Option<&str>,
) -> Result<bool, sqlx::Error> {
    let states: Vec<String> = from.iter().map(|s| format!("'{}'", s.replace('\'', ""))).collect();
    let sql = format!(
        "UPDATE agent_challenges SET state = ?, error = ?, updated_at = ? WHERE id = ? AND server_id = ? AND state IN ({})",
        states.join(",")
    );
    on_db!(db, p => sqlx::query(sqlx::AssertSqlSafe(sql)).bind(to).bind(error).bind(now()).bind(id).bind(server_id)
        .execute(p).await.map(|r| r.rows_affected() == 1))
}

/// Removes settled challenges older than `before` (kept a while for the record).
pub async fn prune_challenges(db: &Db, before: DateTime<Utc>) -> Result<u64, sqlx::Error> {
    on_db!(db, p => sqlx::query(
        "DELETE FROM agent_challenges WHERE state IN ('removed', 'failed') AND updated_at < ?")
        .bind(super::ts(before)).execute(p).await.map(|r| r.rows_affected()))
}

/// Token servers still `active` whose agent's last check-in is older than `before`, with it and
/// their interval: candidates for silence (the caller applies the rule), at most 1000.
pub async fn quiet_active(db: &Db, before: DateTime<Utc>) -> Result<Vec<(i64, DateTime<Utc>, i32)>, sqlx::Error> {
    on_db!(db, p => sqlx::query_as::<_, (i64, DateTime<Utc>, i32)>(
        "SELECT a.server_id, a.last_checkin_at, a.interval_seconds FROM server_agents a \
         JOIN servers s ON s.id = a.server_id \
         WHERE s.auth_type = 'token' AND s.status = 'active' AND a.last_checkin_at IS NOT NULL \
         AND a.last_checkin_at < ? ORDER BY a.last_checkin_at LIMIT 1000")
        .bind(super::ts(before)).fetch_all(p).await)
}

/// Makes the active server monitors of these servers due now (a silent agent is checked at
/// once instead of at the monitor's next interval); the number made due.
pub async fn make_server_monitors_due(db: &Db, server_ids: &[i64]) -> Result<u64, sqlx::Error> {
    if server_ids.is_empty() {
        return Ok(0);
    }
    let ids: Vec<String> = server_ids.iter().take(1000).map(|i| i.to_string()).collect();
    let sql = format!(
        "UPDATE monitors SET next_check_at = ? WHERE monitor_type = 'server' AND is_active = TRUE \
         AND (next_check_at IS NULL OR next_check_at > ?) AND target_id IN ({})",
        ids.join(",")
    );
    let n = now();
    on_db!(db, p => sqlx::query(sqlx::AssertSqlSafe(sql)).bind(n).bind(n).execute(p).await.map(|r| r.rows_affected()))
}

/// A token server as its agent's credential check reads it, in one query: the server, its
/// sealed token, and what its agent reported at its last check-in.
#[derive(FromRow)]
pub struct AgentAuthRow {
    /// The server.
    #[sqlx(flatten)]
    pub server: crate::store::servers::ServerRow,
    /// The sealed token.
    pub token_encrypted: Option<String>,
    /// The agent version of the last check-in.
    pub prior_version: Option<String>,
    /// The source address of the last check-in.
    pub prior_address: Option<String>,
}

impl std::fmt::Debug for AgentAuthRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentAuthRow")
            .field("server", &self.server.id)
            .finish_non_exhaustive()
    }
}

/// The server `id` with its sealed token and its agent's last report.
pub async fn auth_row(db: &Db, id: i64) -> Result<Option<AgentAuthRow>, sqlx::Error> {
    let sql = format!(
        "SELECT {}, token_encrypted, a.agent_version AS prior_version, a.last_address AS prior_address \
         FROM servers LEFT JOIN server_agents a ON a.server_id = servers.id WHERE servers.id = ?",
        crate::store::servers::SERVER_COLS
    );
    on_db!(db, p => sqlx::query_as::<_, AgentAuthRow>(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(p).await)
}

/// Records a check-in in one transaction: the agent (version, interval, address, time) and the
/// server (status, `last_check_at`, the host facts given).
pub async fn checkin(
    db: &Db,
    server_id: i64,
    version: &str,
    interval_seconds: i32,
    address: Option<&str>,
    status: crate::domain::ServerStatus,
    facts: &crate::store::discovery::ProbeFacts,
) -> Result<(), sqlx::Error> {
    let n = now();
    let upsert = match db {
        Db::MySql(_) => {
            "INSERT INTO server_agents (server_id, agent_version, interval_seconds, last_checkin_at, last_address) \
             VALUES (?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE agent_version = VALUES(agent_version), \
             interval_seconds = VALUES(interval_seconds), last_checkin_at = VALUES(last_checkin_at), \
             last_address = VALUES(last_address)"
        }
        Db::Sqlite(_) => {
            "INSERT INTO server_agents (server_id, agent_version, interval_seconds, last_checkin_at, last_address) \
             VALUES (?, ?, ?, ?, ?) ON CONFLICT (server_id) DO UPDATE SET agent_version = excluded.agent_version, \
             interval_seconds = excluded.interval_seconds, last_checkin_at = excluded.last_checkin_at, \
             last_address = excluded.last_address"
        }
    };
    // The server row first: the agent row's foreign key then finds it locked by this
    // transaction already (the other order deadlocks two check-ins of one server on InnoDB:
    // both take the key's shared lock, then both want the row).
    crate::in_tx!(db, tx => {
        sqlx::query(
            "UPDATE servers SET status = ?, last_check_at = ?, os_type = COALESCE(?, os_type), \
             os_version = COALESCE(?, os_version), web_server_version = COALESCE(?, web_server_version), \
             server_type = COALESCE(?, server_type), updated_at = ? WHERE id = ?")
            .bind(status.as_str()).bind(n).bind(&facts.os_type).bind(&facts.os_version).bind(&facts.web_server_version)
            .bind(facts.server_type.map(|t| t.as_str())).bind(n).bind(server_id)
            .execute(&mut **tx).await?;
        sqlx::query(upsert).bind(server_id).bind(version).bind(interval_seconds).bind(n).bind(address)
            .execute(&mut **tx).await?;
        Ok(())
    })
}

/// The servers with challenge files waiting for their agent (one query for every agent
/// long-polling in a process), at most 10,000.
pub async fn servers_with_pending_challenges(db: &Db) -> Result<std::collections::BTreeSet<i64>, sqlx::Error> {
    on_db!(db, p => sqlx::query_scalar::<_, i64>(
        "SELECT DISTINCT server_id FROM agent_challenges WHERE state IN ('place', 'remove') LIMIT 10000")
        .fetch_all(p).await.map(|v| v.into_iter().collect()))
}
