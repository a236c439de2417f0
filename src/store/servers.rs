//! `servers`, `server_configs`, `server_groups` and `server_group_mappings`.

use chrono::{DateTime, Utc};
use sqlx::{AssertSqlSafe, FromRow};

use super::audit::{insert_in, NewAudit};
use super::users::LastId;
use super::{Arg, Db, Page, Where};
use crate::domain::{AuthType, ConfigType, PrivilegeMode, ServerStatus, ServerType};
use crate::{bind_args, on_db};

/// Columns of a server list row (no secrets).
pub(crate) const SERVER_COLS: &str =
    "id, user_id, name, hostname, port, server_type, os_type, os_version, web_server_version, \
    auth_type, username, status, last_check_at, created_at, updated_at, \
    password_encrypted IS NOT NULL AS has_password, private_key_encrypted IS NOT NULL AS has_private_key, \
    token_encrypted IS NOT NULL AS has_token, key_passphrase_encrypted IS NOT NULL AS has_key_passphrase, \
    host_key_fingerprint, jump_server_id, privilege_mode, test_command, reload_command, verify_port, config_root";

/// A `servers` row without its secret columns (those are read only by [`get_server_secrets`]).
#[derive(Debug, Clone, FromRow, serde::Serialize, schemars::JsonSchema)]
pub struct ServerRow {
    /// Id.
    pub id: i64,
    /// Owner.
    pub user_id: i64,
    /// Display name.
    pub name: Option<String>,
    /// Host name or IP.
    pub hostname: String,
    /// SSH port.
    pub port: i32,
    /// Web server kind.
    #[sqlx(try_from = "String")]
    pub server_type: ServerType,
    /// OS name (probe).
    pub os_type: Option<String>,
    /// OS version (probe).
    pub os_version: Option<String>,
    /// Web server version (probe).
    pub web_server_version: Option<String>,
    /// How certdeck authenticates.
    #[sqlx(try_from = "String")]
    pub auth_type: AuthType,
    /// SSH user.
    pub username: Option<String>,
    /// Status.
    #[sqlx(try_from = "String")]
    pub status: ServerStatus,
    /// Last probe.
    pub last_check_at: Option<DateTime<Utc>>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Updated.
    pub updated_at: DateTime<Utc>,
    /// A password is stored.
    pub has_password: bool,
    /// A private key is stored.
    pub has_private_key: bool,
    /// A token is stored.
    pub has_token: bool,
    /// A private key passphrase is stored.
    pub has_key_passphrase: bool,
    /// The trusted SSH host key (`SHA256:…`), once accepted.
    pub host_key_fingerprint: Option<String>,
    /// Reach this server through that server (ProxyJump).
    pub jump_server_id: Option<i64>,
    /// `none` or `sudo` (test and reload run as `sudo -n …`).
    #[sqlx(try_from = "String")]
    pub privilege_mode: PrivilegeMode,
    /// Config test command (default by server type).
    pub test_command: Option<String>,
    /// Reload command (default by server type).
    pub reload_command: Option<String>,
    /// TLS port that deploy verification connects to (default 443).
    pub verify_port: Option<i32>,
    /// Main web server config file (default by server type).
    pub config_root: Option<String>,
}

/// The sealed secret columns of a server.
#[derive(Clone, FromRow)]
pub struct ServerSecrets {
    /// Sealed password.
    pub password_encrypted: Option<String>,
    /// Sealed private key.
    pub private_key_encrypted: Option<String>,
    /// Sealed token.
    pub token_encrypted: Option<String>,
    /// Sealed private key passphrase.
    pub key_passphrase_encrypted: Option<String>,
}

impl std::fmt::Debug for ServerSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerSecrets(…)")
    }
}

/// Values of a new server (secrets already sealed).
#[derive(Debug, Clone)]
pub struct NewServer {
    /// Owner.
    pub user_id: i64,
    /// Name.
    pub name: Option<String>,
    /// Host.
    pub hostname: String,
    /// Port.
    pub port: i32,
    /// Type.
    pub server_type: ServerType,
    /// Auth type.
    pub auth_type: AuthType,
    /// SSH user.
    pub username: Option<String>,
    /// Status.
    pub status: ServerStatus,
    /// Sealed password.
    pub password_encrypted: Option<String>,
    /// Sealed key.
    pub private_key_encrypted: Option<String>,
    /// Sealed token.
    pub token_encrypted: Option<String>,
    /// Sealed key passphrase.
    pub key_passphrase_encrypted: Option<String>,
    /// Jump server.
    pub jump_server_id: Option<i64>,
    /// Privilege mode.
    pub privilege_mode: PrivilegeMode,
    /// Custom config test command.
    pub test_command: Option<String>,
    /// Custom reload command.
    pub reload_command: Option<String>,
    /// Verify port.
    pub verify_port: Option<i32>,
    /// Main config path.
    pub config_root: Option<String>,
}

/// Inserts a server with an audit row; returns its id.
/// `sealed` fills the secret columns once the row has its id (it is bound into the envelopes).
pub async fn insert_server(
    db: &Db,
    s: &NewServer,
    sealed: Vec<super::secrets::SealOnInsert>,
    audit: &NewAudit,
) -> Result<i64, sqlx::Error> {
    crate::in_tx!(db, tx => {
        let id = sqlx::query(
            "INSERT INTO servers (user_id, name, hostname, port, server_type, auth_type, username, status, \
             password_encrypted, private_key_encrypted, token_encrypted, key_passphrase_encrypted, jump_server_id, \
             privilege_mode, test_command, reload_command, verify_port, config_root) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(s.user_id).bind(&s.name).bind(&s.hostname).bind(s.port).bind(s.server_type.as_str())
        .bind(s.auth_type.as_str()).bind(&s.username).bind(s.status.as_str())
        .bind(&s.password_encrypted).bind(&s.private_key_encrypted).bind(&s.token_encrypted)
        .bind(&s.key_passphrase_encrypted).bind(s.jump_server_id).bind(s.privilege_mode.as_str())
        .bind(&s.test_command).bind(&s.reload_command).bind(s.verify_port).bind(&s.config_root)
        .execute(&mut **tx).await?.last_id();
        super::secrets::seal_inserted!(&mut **tx, id, sealed);
        insert_in!(&mut **tx, &audit.clone().with_resource_id(id));
        Ok::<i64, sqlx::Error>(id)
    })
}

/// A server by id.
pub async fn get_server(db: &Db, id: i64) -> Result<Option<ServerRow>, sqlx::Error> {
    let sql = format!("SELECT {SERVER_COLS} FROM servers WHERE id = ?");
    on_db!(db, p => sqlx::query_as::<_, ServerRow>(AssertSqlSafe(sql)).bind(id).fetch_optional(p).await)
}

/// A server's sealed secrets.
pub async fn get_server_secrets(db: &Db, id: i64) -> Result<Option<ServerSecrets>, sqlx::Error> {
    on_db!(db, p => sqlx::query_as::<_, ServerSecrets>(
        "SELECT password_encrypted, private_key_encrypted, token_encrypted, key_passphrase_encrypted FROM servers WHERE id = ?")
        .bind(id).fetch_optional(p).await)
}

/// Sets only a server's `status` (and `updated_at`), not `last_check_at` (the time of the last
/// SSH check or agent check-in). With `unless_checkin_after`, nothing changes when the server's
/// agent checked in after that time (a check-in racing the caller wins). `false` when nothing
/// changed (the server already had that status, or is gone).
pub async fn set_status(
    db: &Db,
    id: i64,
    status: ServerStatus,
    unless_checkin_after: Option<DateTime<Utc>>,
) -> Result<bool, sqlx::Error> {
    let n = super::now();
    match unless_checkin_after {
        Some(t) => on_db!(db, p => sqlx::query(
            "UPDATE servers SET status = ?, updated_at = ? WHERE id = ? AND status <> ? AND NOT EXISTS \
             (SELECT 1 FROM server_agents a WHERE a.server_id = ? AND a.last_checkin_at > ?)")
            .bind(status.as_str()).bind(n).bind(id).bind(status.as_str()).bind(id).bind(super::ts(t))
            .execute(p).await.map(|r| r.rows_affected() == 1)),
        None => {
            on_db!(db, p => sqlx::query("UPDATE servers SET status = ?, updated_at = ? WHERE id = ? AND status <> ?")
            .bind(status.as_str()).bind(n).bind(id).bind(status.as_str())
            .execute(p).await.map(|r| r.rows_affected() == 1))
        }
    }
}

/// `(id, user_id)` of the servers among `ids` (at most 1000) whose auth type is `token`.
pub async fn token_server_owners(db: &Db, ids: &[i64]) -> Result<Vec<(i64, i64)>, sqlx::Error> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let list: Vec<String> = ids.iter().take(1000).map(|i| i.to_string()).collect();
    let sql = format!(
        "SELECT id, user_id FROM servers WHERE auth_type = 'token' AND id IN ({})",
        list.join(",")
    );
    on_db!(db, p => sqlx::query_as::<_, (i64, i64)>(AssertSqlSafe(sql)).fetch_all(p).await)
}

/// Filters of the server list.
#[derive(Debug, Clone, Default)]
pub struct ServerFilter {
    /// Owner scope (None = all).
    pub user_id: Option<i64>,
    /// Status.
    pub status: Option<ServerStatus>,
    /// Server type.
    pub server_type: Option<ServerType>,
    /// Exact hostname.
    pub hostname: Option<String>,
    /// Member of this group.
    pub group_id: Option<i64>,
}

/// A page of servers, newest first.
pub async fn list_servers(db: &Db, f: &ServerFilter, page: Page) -> Result<Vec<ServerRow>, sqlx::Error> {
    let mut w = Where::new();
    w.before("id", &page);
    w.and_opt("user_id = ?", f.user_id, Arg::I64);
    w.and_opt("status = ?", f.status, |v| Arg::Str(v.as_str().into()));
    w.and_opt("server_type = ?", f.server_type, |v| Arg::Str(v.as_str().into()));
    w.and_opt("hostname = ?", f.hostname.clone(), Arg::Str);
    w.and_opt(
        "id IN (SELECT server_id FROM server_group_mappings WHERE group_id = ?)",
        f.group_id,
        Arg::I64,
    );
    let sql = format!(
        "SELECT {SERVER_COLS} FROM servers{} ORDER BY id DESC LIMIT {}",
        w.sql(),
        page.size()
    );
    on_db!(db, p => bind_args!(sqlx::query_as::<_, ServerRow>(AssertSqlSafe(sql)), w.args.clone()).fetch_all(p).await)
}

/// Deletes a server with its configs and group memberships (refused by the database while
/// deployments reference it).
pub async fn delete_server(db: &Db, id: i64, audit: &NewAudit) -> Result<bool, sqlx::Error> {
    super::audited::delete_by_id(
        db,
        "servers",
        id,
        &[
            "DELETE FROM server_sites WHERE server_id = ?",
            "DELETE FROM server_configs WHERE server_id = ?",
            "UPDATE servers SET jump_server_id = NULL WHERE jump_server_id = ?",
            "DELETE FROM server_group_mappings WHERE server_id = ?",
        ],
        audit,
    )
    .await
}

/// Number of deployments that use a server.
pub async fn count_server_deployments(db: &Db, id: i64) -> Result<i64, sqlx::Error> {
    on_db!(db, p => sqlx::query_scalar("SELECT COUNT(*) FROM certificate_deployments WHERE server_id = ?").bind(id).fetch_one(p).await)
}

// ---------------------------------------------------------------- server_configs

/// A `server_configs` row (content omitted in lists).
#[derive(Debug, Clone, FromRow, serde::Serialize, schemars::JsonSchema)]
pub struct ServerConfigRow {
    /// Id.
    pub id: i64,
    /// Server.
    pub server_id: i64,
    /// Kind of file.
    #[sqlx(try_from = "String")]
    pub config_type: ConfigType,
    /// Path on the server.
    pub config_path: String,
    /// Content (None in lists, or when too large to store).
    pub config_content: Option<String>,
    /// Still present at the last discovery.
    pub is_active: bool,
    /// Why there is no content (a file over the 64 KB column), if so.
    pub note: Option<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Updated.
    pub updated_at: DateTime<Utc>,
}

/// The configs of a server, without content.
pub async fn list_server_configs(db: &Db, server_id: i64) -> Result<Vec<ServerConfigRow>, sqlx::Error> {
    on_db!(db, p => sqlx::query_as::<_, ServerConfigRow>(
        "SELECT id, server_id, config_type, config_path, NULL AS config_content, is_active, note, created_at, updated_at \
         FROM server_configs WHERE server_id = ? ORDER BY config_path")
        .bind(server_id).fetch_all(p).await)
}

/// One config with content.
pub async fn get_server_config(db: &Db, id: i64) -> Result<Option<ServerConfigRow>, sqlx::Error> {
    on_db!(db, p => sqlx::query_as::<_, ServerConfigRow>(
        "SELECT id, server_id, config_type, config_path, config_content, is_active, note, created_at, updated_at \
         FROM server_configs WHERE id = ?")
        .bind(id).fetch_optional(p).await)
}

// ---------------------------------------------------------------- server_groups

/// A `server_groups` row with its member count.
#[derive(Debug, Clone, FromRow, serde::Serialize, schemars::JsonSchema)]
pub struct GroupRow {
    /// Id.
    pub id: i64,
    /// Owner.
    pub user_id: i64,
    /// Name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Updated.
    pub updated_at: DateTime<Utc>,
    /// Number of member servers.
    pub server_count: i64,
}

const GROUP_COLS: &str = "g.id, g.user_id, g.name, g.description, g.created_at, g.updated_at, \
    (SELECT COUNT(*) FROM server_group_mappings m WHERE m.group_id = g.id) AS server_count";

/// Inserts a group with an audit row; returns its id.
pub async fn insert_group(
    db: &Db,
    user_id: i64,
    name: &str,
    description: Option<&str>,
    audit: &NewAudit,
) -> Result<i64, sqlx::Error> {
    crate::in_tx!(db, tx => {
        let id = sqlx::query("INSERT INTO server_groups (user_id, name, description) VALUES (?, ?, ?)")
            .bind(user_id).bind(name).bind(description).execute(&mut **tx).await?.last_id();
        insert_in!(&mut **tx, &audit.clone().with_resource_id(id));
        Ok::<i64, sqlx::Error>(id)
    })
}

/// A group by id.
pub async fn get_group(db: &Db, id: i64) -> Result<Option<GroupRow>, sqlx::Error> {
    let sql = format!("SELECT {GROUP_COLS} FROM server_groups g WHERE g.id = ?");
    on_db!(db, p => sqlx::query_as::<_, GroupRow>(AssertSqlSafe(sql)).bind(id).fetch_optional(p).await)
}

/// A page of groups, newest first.
pub async fn list_groups(db: &Db, user_id: Option<i64>, page: Page) -> Result<Vec<GroupRow>, sqlx::Error> {
    let mut w = Where::new();
    w.before("g.id", &page);
    w.and_opt("g.user_id = ?", user_id, Arg::I64);
    let sql = format!(
        "SELECT {GROUP_COLS} FROM server_groups g{} ORDER BY g.id DESC LIMIT {}",
        w.sql(),
        page.size()
    );
    on_db!(db, p => bind_args!(sqlx::query_as::<_, GroupRow>(AssertSqlSafe(sql)), w.args.clone()).fetch_all(p).await)
}

/// Deletes a group and its memberships.
pub async fn delete_group(db: &Db, id: i64, audit: &NewAudit) -> Result<bool, sqlx::Error> {
    super::audited::delete_by_id(
        db,
        "server_groups",
        id,
        &["DELETE FROM server_group_mappings WHERE group_id = ?"],
        audit,
    )
    .await
}

/// Adds a server to a group (a duplicate is a unique violation on `idx_server_group`).
pub async fn add_mapping(db: &Db, server_id: i64, group_id: i64, audit: &NewAudit) -> Result<i64, sqlx::Error> {
    crate::in_tx!(db, tx => {
        let id = sqlx::query("INSERT INTO server_group_mappings (server_id, group_id) VALUES (?, ?)")
            .bind(server_id).bind(group_id).execute(&mut **tx).await?.last_id();
        insert_in!(&mut **tx, audit);
        Ok::<i64, sqlx::Error>(id)
    })
}

/// Removes a server from a group; returns whether it was a member.
pub async fn remove_mapping(db: &Db, server_id: i64, group_id: i64, audit: &NewAudit) -> Result<bool, sqlx::Error> {
    crate::in_tx!(db, tx => {
        let n = sqlx::query("DELETE FROM server_group_mappings WHERE server_id = ? AND group_id = ?")
            .bind(server_id).bind(group_id).execute(&mut **tx).await?.rows_affected();
        if n > 0 {
            insert_in!(&mut **tx, audit);
        }
        Ok::<bool, sqlx::Error>(n > 0)
    })
}

/// The groups a server belongs to.
pub async fn groups_of_server(db: &Db, server_id: i64) -> Result<Vec<GroupRow>, sqlx::Error> {
    let sql = format!(
        "SELECT {GROUP_COLS} FROM server_groups g JOIN server_group_mappings sm ON sm.group_id = g.id \
         WHERE sm.server_id = ? ORDER BY g.name"
    );
    on_db!(db, p => sqlx::query_as::<_, GroupRow>(AssertSqlSafe(sql)).bind(server_id).fetch_all(p).await)
}
