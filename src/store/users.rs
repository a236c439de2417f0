//! `users`, `api_keys` and `user_tokens`.

use chrono::{DateTime, Utc};
use sqlx::{AssertSqlSafe, FromRow};

use super::{now, ts, Arg, Db, Page, Sets, Where};
use crate::domain::{ApiKeyPermissions, ApiKeyStatus, TokenType, UserRole, UserStatus};
use crate::{bind_args, on_db};

const USER_COLS: &str = "id, username, email, password_hash, full_name, phone, role, status, last_login_at, \
    failed_login_count, must_change_password, created_at, updated_at";

/// A `users` row.
#[derive(Clone, FromRow, serde::Serialize, schemars::JsonSchema)]
pub struct UserRow {
    /// Id.
    pub id: i64,
    /// Login name.
    pub username: String,
    /// E-mail.
    pub email: String,
    /// argon2id PHC hash (never serialised).
    #[serde(skip)]
    pub password_hash: String,
    /// Full name.
    pub full_name: Option<String>,
    /// Phone (SMS alerts go here).
    pub phone: Option<String>,
    /// Role.
    #[sqlx(try_from = "String")]
    pub role: UserRole,
    /// Status.
    #[sqlx(try_from = "String")]
    pub status: UserStatus,
    /// Last successful login.
    pub last_login_at: Option<DateTime<Utc>>,
    /// Consecutive failed logins.
    pub failed_login_count: i32,
    /// The password is a one-time password (set by an admin or at bootstrap): the next login
    /// must replace it before anything else works.
    pub must_change_password: bool,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Updated.
    pub updated_at: DateTime<Utc>,
}

impl std::fmt::Debug for UserRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserRow")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("role", &self.role)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

/// Values of a new user.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// Login name.
    pub username: String,
    /// E-mail.
    pub email: String,
    /// argon2id hash.
    pub password_hash: String,
    /// Full name.
    pub full_name: Option<String>,
    /// Phone.
    pub phone: Option<String>,
    /// Role.
    pub role: UserRole,
    /// Whether the password is one-time (replaced at the first login).
    pub must_change_password: bool,
}

/// A default alert rule created with a new user (rules need a `user_id`).
#[derive(Debug, Clone)]
pub struct DefaultAlert {
    /// Rule name.
    pub name: String,
    /// Alert type.
    pub alert_type: crate::domain::AlertType,
    /// Condition type.
    pub condition_type: crate::domain::ConditionType,
    /// Condition value.
    pub condition_value: String,
    /// Severity.
    pub severity: crate::domain::Severity,
}

/// Inserts a user with its default alert rules and an audit row, in one transaction.
pub async fn create_user(
    db: &Db,
    u: &NewUser,
    alerts: &[DefaultAlert],
    audit: &super::audit::NewAudit,
) -> Result<i64, sqlx::Error> {
    crate::in_tx!(db, tx => {
        let id = sqlx::query(
            "INSERT INTO users (username, email, password_hash, full_name, phone, role, must_change_password) VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&u.username).bind(&u.email).bind(&u.password_hash).bind(&u.full_name).bind(&u.phone).bind(u.role.as_str())
        .bind(u.must_change_password)
        .execute(&mut **tx).await?.last_id();
        for a in alerts {
            sqlx::query("INSERT INTO alerts (user_id, name, alert_type, condition_type, condition_value, severity) VALUES (?, ?, ?, ?, ?, ?)")
                .bind(id).bind(&a.name).bind(a.alert_type.as_str()).bind(a.condition_type.as_str())
                .bind(&a.condition_value).bind(a.severity.as_str())
                .execute(&mut **tx).await?;
        }
        super::audit::insert_in!(&mut **tx, &audit.clone().with_resource_id(id).with_user_if_none(id));
        Ok::<i64, sqlx::Error>(id)
    })
}

/// The id of the row a single-row INSERT created, on either backend.
pub trait LastId {
    /// The new row's id.
    fn last_id(&self) -> i64;
}

impl LastId for sqlx::mysql::MySqlQueryResult {
    fn last_id(&self) -> i64 {
        self.last_insert_id() as i64
    }
}

impl LastId for sqlx::sqlite::SqliteQueryResult {
    fn last_id(&self) -> i64 {
        self.last_insert_rowid()
    }
}

/// A user by id.
pub async fn get_user(db: &Db, id: i64) -> Result<Option<UserRow>, sqlx::Error> {
    let sql = format!("SELECT {USER_COLS} FROM users WHERE id = ?");
    on_db!(db, p => sqlx::query_as::<_, UserRow>(AssertSqlSafe(sql)).bind(id).fetch_optional(p).await)
}

/// A user by username.
pub async fn get_user_by_name(db: &Db, username: &str) -> Result<Option<UserRow>, sqlx::Error> {
    let sql = format!("SELECT {USER_COLS} FROM users WHERE username = ?");
    on_db!(db, p => sqlx::query_as::<_, UserRow>(AssertSqlSafe(sql)).bind(username).fetch_optional(p).await)
}

/// Filters of the user list.
#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    /// Only this status.
    pub status: Option<UserStatus>,
    /// Only this role.
    pub role: Option<UserRole>,
}

/// A page of users, newest first.
pub async fn list_users(db: &Db, f: &UserFilter, page: Page) -> Result<Vec<UserRow>, sqlx::Error> {
    let mut w = Where::new();
    w.before("id", &page);
    w.and_opt("status = ?", f.status, |s| Arg::Str(s.as_str().into()));
    w.and_opt("role = ?", f.role, |s| Arg::Str(s.as_str().into()));
    let sql = format!(
        "SELECT {USER_COLS} FROM users{} ORDER BY id DESC LIMIT {}",
        w.sql(),
        page.size()
    );
    on_db!(db, p => bind_args!(sqlx::query_as::<_, UserRow>(AssertSqlSafe(sql)), w.args.clone()).fetch_all(p).await)
}

/// Number of active admins.
pub async fn count_active_admins(db: &Db) -> Result<i64, sqlx::Error> {
    on_db!(db, p => sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE role = 'admin' AND status = 'active'").fetch_one(p).await)
}

/// Number of users in any role and status.
pub async fn count_users(db: &Db) -> Result<i64, sqlx::Error> {
    on_db!(db, p => sqlx::query_scalar("SELECT COUNT(*) FROM users").fetch_one(p).await)
}

/// Number of admins in any status.
pub async fn count_admins(db: &Db) -> Result<i64, sqlx::Error> {
    on_db!(db, p => sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE role = 'admin'").fetch_one(p).await)
}

/// Editable user fields; `None` leaves a field unchanged.
#[derive(Debug, Clone, Default)]
pub struct UserChanges {
    /// E-mail.
    pub email: Option<String>,
    /// Full name (`Some(None)` clears).
    pub full_name: Option<Option<String>>,
    /// Phone (`Some(None)` clears).
    pub phone: Option<Option<String>>,
    /// Role.
    pub role: Option<UserRole>,
    /// Status.
    pub status: Option<UserStatus>,
    /// New password hash.
    pub password_hash: Option<String>,
    /// Whether the password is one-time (must be replaced at the next login).
    pub must_change_password: Option<bool>,
    /// Reset the failed-login counter.
    pub reset_failed_logins: bool,
}

/// Applies changes to a user with an audit row; returns whether the user exists.
pub async fn update_user(
    db: &Db,
    id: i64,
    c: &UserChanges,
    audit: &super::audit::NewAudit,
) -> Result<bool, sqlx::Error> {
    let mut sets = Sets::new();
    sets.set_opt("email", c.email.clone(), Arg::Str)
        .set_opt("full_name", c.full_name.clone(), Arg::from)
        .set_opt("phone", c.phone.clone(), Arg::from)
        .set_opt("role", c.role, |v| Arg::Str(v.as_str().into()))
        .set_opt("status", c.status, |v| Arg::Str(v.as_str().into()))
        .set_opt("password_hash", c.password_hash.clone(), Arg::Str)
        .set_opt("must_change_password", c.must_change_password, Arg::Bool);
    if c.reset_failed_logins {
        sets.raw("failed_login_count = 0");
    }
    super::audited::update_by_id(db, "users", id, &sets, audit).await
}

/// Records a failed login: increments the counter and locks at `max`; returns the new count.
pub async fn record_failed_login(db: &Db, id: i64, max: i32) -> Result<i32, sqlx::Error> {
    on_db!(db, p => {
        sqlx::query(
            // MySQL evaluates SET left to right (later terms see earlier assignments), SQLite uses
            // the old row: put the status first so both read the count before the increment.
            "UPDATE users SET status = CASE WHEN failed_login_count + 1 >= ? AND status = 'active' THEN 'locked' ELSE status END, \
             failed_login_count = failed_login_count + 1 \
             WHERE id = ?",
        )
        .bind(max)
        .bind(id)
        .execute(p)
        .await?;
        sqlx::query_scalar::<_, i32>("SELECT failed_login_count FROM users WHERE id = ?").bind(id).fetch_one(p).await
    })
}

/// Records a successful login.
pub async fn record_login(db: &Db, id: i64) -> Result<(), sqlx::Error> {
    on_db!(db, p => sqlx::query("UPDATE users SET failed_login_count = 0, last_login_at = ? WHERE id = ?")
        .bind(now()).bind(id).execute(p).await.map(|_| ()))?;
    Ok(())
}

/// Deletes a user and the rows that only make sense with it (tokens, keys, settings).
/// Fails with a foreign-key error while the user still owns servers, certificates, etc.
pub async fn delete_user(db: &Db, id: i64, audit: &super::audit::NewAudit) -> Result<bool, sqlx::Error> {
    crate::in_tx!(db, tx => {
        for sql in [
            "DELETE FROM user_tokens WHERE user_id = ?",
            "DELETE FROM api_keys WHERE user_id = ?",
            "DELETE FROM user_settings WHERE user_id = ?",
            "DELETE FROM alert_channel_bindings WHERE alert_id IN (SELECT id FROM alerts WHERE user_id = ?)",
            "DELETE FROM alert_history WHERE alert_id IN (SELECT id FROM alerts WHERE user_id = ?)",
            "DELETE FROM alerts WHERE user_id = ?",
        ] {
            sqlx::query(sql).bind(id).execute(&mut **tx).await?;
        }
        let n = sqlx::query("DELETE FROM users WHERE id = ?").bind(id).execute(&mut **tx).await?.rows_affected();
        super::audit::insert_in!(&mut **tx, audit);
        Ok::<bool, sqlx::Error>(n > 0)
    })
}

// ---------------------------------------------------------------- api_keys

const KEY_COLS: &str =
    "id, user_id, key_name, api_key, secret_hash, status, permissions, expires_at, last_used_at, created_at, updated_at";

/// An `api_keys` row.
#[derive(Clone, FromRow, serde::Serialize, schemars::JsonSchema)]
pub struct ApiKeyRow {
    /// Id.
    pub id: i64,
    /// Owner.
    pub user_id: i64,
    /// Name.
    pub key_name: String,
    /// Public key id.
    pub api_key: String,
    /// argon2id hash of the secret (never serialised).
    #[serde(skip)]
    pub secret_hash: String,
    /// Status.
    #[sqlx(try_from = "String")]
    pub status: ApiKeyStatus,
    /// What the key may do (V18): `read` or `read-write`.
    #[sqlx(try_from = "String")]
    pub permissions: ApiKeyPermissions,
    /// Expiry.
    pub expires_at: Option<DateTime<Utc>>,
    /// Last use.
    pub last_used_at: Option<DateTime<Utc>>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Updated.
    pub updated_at: DateTime<Utc>,
}

impl std::fmt::Debug for ApiKeyRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKeyRow")
            .field("id", &self.id)
            .field("api_key", &self.api_key)
            .field("status", &self.status)
            .field("permissions", &self.permissions)
            .finish_non_exhaustive()
    }
}

/// Values of a new API key.
#[derive(Clone)]
pub struct NewApiKey<'a> {
    /// Owner.
    pub user_id: i64,
    /// Name.
    pub name: &'a str,
    /// Public key id.
    pub api_key: &'a str,
    /// argon2id hash of the secret.
    pub secret_hash: &'a str,
    /// What the key may do.
    pub permissions: ApiKeyPermissions,
    /// Expiry.
    pub expires_at: Option<DateTime<Utc>>,
}

/// Inserts an API key; returns its id.
pub async fn insert_api_key(db: &Db, k: &NewApiKey<'_>, audit: &super::audit::NewAudit) -> Result<i64, sqlx::Error> {
    crate::in_tx!(db, tx => {
        let id = sqlx::query("INSERT INTO api_keys (user_id, key_name, api_key, secret_hash, permissions, expires_at) VALUES (?, ?, ?, ?, ?, ?)")
            .bind(k.user_id).bind(k.name).bind(k.api_key).bind(k.secret_hash).bind(k.permissions.as_str()).bind(k.expires_at.map(ts))
            .execute(&mut **tx).await?.last_id();
        super::audit::insert_in!(&mut **tx, &audit.clone().with_resource_id(id));
        Ok::<i64, sqlx::Error>(id)
    })
}

/// An API key by its public id.
pub async fn get_api_key_by_key(db: &Db, api_key: &str) -> Result<Option<ApiKeyRow>, sqlx::Error> {
    let sql = format!("SELECT {KEY_COLS} FROM api_keys WHERE api_key = ?");
    on_db!(db, p => sqlx::query_as::<_, ApiKeyRow>(AssertSqlSafe(sql)).bind(api_key).fetch_optional(p).await)
}

/// An API key by id.
pub async fn get_api_key(db: &Db, id: i64) -> Result<Option<ApiKeyRow>, sqlx::Error> {
    let sql = format!("SELECT {KEY_COLS} FROM api_keys WHERE id = ?");
    on_db!(db, p => sqlx::query_as::<_, ApiKeyRow>(AssertSqlSafe(sql)).bind(id).fetch_optional(p).await)
}

/// A page of API keys, optionally of one user.
pub async fn list_api_keys(db: &Db, user_id: Option<i64>, page: Page) -> Result<Vec<ApiKeyRow>, sqlx::Error> {
    let mut w = Where::new();
    w.before("id", &page);
    w.and_opt("user_id = ?", user_id, Arg::I64);
    let sql = format!(
        "SELECT {KEY_COLS} FROM api_keys{} ORDER BY id DESC LIMIT {}",
        w.sql(),
        page.size()
    );
    on_db!(db, p => bind_args!(sqlx::query_as::<_, ApiKeyRow>(AssertSqlSafe(sql)), w.args.clone()).fetch_all(p).await)
}

/// Sets an API key's status.
pub async fn set_api_key_status(
    db: &Db,
    id: i64,
    status: ApiKeyStatus,
    audit: &super::audit::NewAudit,
) -> Result<(), sqlx::Error> {
    crate::in_tx!(db, tx => {
        sqlx::query("UPDATE api_keys SET status = ? WHERE id = ?").bind(status.as_str()).bind(id).execute(&mut **tx).await?;
        super::audit::insert_in!(&mut **tx, audit);
        Ok::<(), sqlx::Error>(())
    })
}

/// How long `last_used_at` is left alone after it was written: a busy key writes its row at
/// most once per this many seconds, not on every request.
pub const API_KEY_TOUCH_INTERVAL_SECS: i64 = 60;

/// Marks an API key used now, unless `last_used_at` was already set less than
/// [`API_KEY_TOUCH_INTERVAL_SECS`] ago. Returns whether the row was written.
pub async fn touch_api_key(db: &Db, id: i64) -> Result<bool, sqlx::Error> {
    let now = Utc::now();
    let stale_before = ts(now - chrono::Duration::seconds(API_KEY_TOUCH_INTERVAL_SECS));
    let n = on_db!(db, p => sqlx::query(
        "UPDATE api_keys SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)",
    )
    .bind(ts(now))
    .bind(id)
    .bind(stale_before)
    .execute(p)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n > 0)
}

// ---------------------------------------------------------------- user_tokens

const TOKEN_COLS: &str =
    "id, user_id, token_type, token_hash, expires_at, client_ip, user_agent, is_revoked, created_at, updated_at";

/// A `user_tokens` row (the token itself is never stored, only its hash).
#[derive(Debug, Clone, FromRow, serde::Serialize, schemars::JsonSchema)]
pub struct TokenRow {
    /// Id.
    pub id: i64,
    /// Owner.
    pub user_id: i64,
    /// Access or refresh.
    #[sqlx(try_from = "String")]
    pub token_type: TokenType,
    /// SHA-256 of the token.
    #[serde(skip)]
    pub token_hash: String,
    /// Expiry.
    pub expires_at: DateTime<Utc>,
    /// Client IP at creation.
    pub client_ip: Option<String>,
    /// Client user agent at creation.
    pub user_agent: Option<String>,
    /// Revoked.
    pub is_revoked: bool,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Updated.
    pub updated_at: DateTime<Utc>,
}

/// A new token to store.
#[derive(Debug, Clone)]
pub struct NewToken {
    /// Owner.
    pub user_id: i64,
    /// Type.
    pub token_type: TokenType,
    /// Hash.
    pub token_hash: String,
    /// Expiry.
    pub expires_at: DateTime<Utc>,
    /// Client IP.
    pub client_ip: Option<String>,
    /// User agent.
    pub user_agent: Option<String>,
}

/// Stores tokens (an access + refresh pair) in one transaction, with an audit row.
pub async fn insert_tokens(
    db: &Db,
    tokens: &[NewToken],
    audit: &super::audit::NewAudit,
) -> Result<Vec<i64>, sqlx::Error> {
    crate::in_tx!(db, tx => {
        let mut ids = Vec::new();
        for t in tokens {
            let id = sqlx::query("INSERT INTO user_tokens (user_id, token_type, token_hash, expires_at, client_ip, user_agent) VALUES (?, ?, ?, ?, ?, ?)")
                .bind(t.user_id).bind(t.token_type.as_str()).bind(&t.token_hash).bind(ts(t.expires_at))
                .bind(&t.client_ip).bind(&t.user_agent)
                .execute(&mut **tx).await?.last_id();
            ids.push(id);
        }
        super::audit::insert_in!(&mut **tx, audit);
        Ok::<Vec<i64>, sqlx::Error>(ids)
    })
}

/// A token row by hash.
pub async fn get_token_by_hash(db: &Db, hash: &str) -> Result<Option<TokenRow>, sqlx::Error> {
    let sql = format!("SELECT {TOKEN_COLS} FROM user_tokens WHERE token_hash = ?");
    on_db!(db, p => sqlx::query_as::<_, TokenRow>(AssertSqlSafe(sql)).bind(hash).fetch_optional(p).await)
}

/// Revokes tokens by hash; returns how many were revoked.
pub async fn revoke_tokens(db: &Db, hashes: &[String]) -> Result<u64, sqlx::Error> {
    let mut n = 0;
    for h in hashes {
        n += on_db!(db, p => sqlx::query("UPDATE user_tokens SET is_revoked = TRUE WHERE token_hash = ? AND is_revoked = FALSE")
            .bind(h).execute(p).await?.rows_affected());
    }
    Ok(n)
}

/// Revokes every live token of a user (password change, lock, delete).
pub async fn revoke_user_tokens(db: &Db, user_id: i64) -> Result<u64, sqlx::Error> {
    Ok(
        on_db!(db, p => sqlx::query("UPDATE user_tokens SET is_revoked = TRUE WHERE user_id = ? AND is_revoked = FALSE")
        .bind(user_id).execute(p).await?.rows_affected()),
    )
}
