//! The only place with SQL. One module per table group; one query text for MySQL/MariaDB and
//! SQLite (both use `?` placeholders), branching only where the dialects differ.
//!
//! Timestamps are UTC. Every timestamp is bound through [`ts`], which truncates to whole seconds
//! and binds a `NaiveDateTime`: MySQL stores it in a DATETIME, SQLite as `YYYY-MM-DD HH:MM:SS`,
//! the same text `DEFAULT CURRENT_TIMESTAMP` writes, so text comparisons stay correct.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};
use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

pub mod acme;
pub mod agents;
pub mod audit;
pub mod audited;
pub mod backup;
pub mod certificates;
pub mod changes;
pub mod dashboard;
pub mod discovery;

pub mod meta;
pub mod metrics;
pub mod migrate;
pub mod monitor_checks;
pub mod monitoring;
pub mod notifications;
pub mod queue;
pub mod schedulers;
pub mod schedules;
pub mod secrets;
pub mod servers;

pub mod settings;
pub mod tasks;

pub mod users;

/// Runs `$body` with `$pool` bound to the concrete pool of either backend. The body is
/// compiled once per backend, so one query text serves both.
#[macro_export]
#[doc(hidden)]
macro_rules! on_db {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            $crate::store::Db::MySql($pool) => $body,
            $crate::store::Db::Sqlite($pool) => $body,
        }
    };
}

/// Runs `$body` inside one transaction on either backend; `$tx` is `&mut Transaction`.
/// The transaction commits when the body returns `Ok`, and rolls back otherwise.
#[macro_export]
#[doc(hidden)]
macro_rules! in_tx {
    ($db:expr, $tx:ident => $body:expr) => {
        match $db {
            $crate::store::Db::MySql(pool) => {
                let mut tx = pool.begin().await?;
                let $tx = &mut tx;
                let out = $body;
                if out.is_ok() {
                    tx.commit().await?;
                }
                out
            }
            $crate::store::Db::Sqlite(pool) => {
                // IMMEDIATE takes the write lock up front: a deferred transaction that reads and
                // then writes fails with "database is locked" when another writer got in between.
                let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                let $tx = &mut tx;
                let out = $body;
                if out.is_ok() {
                    tx.commit().await?;
                }
                out
            }
        }
    };
}

/// Which database engine a [`Db`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// MySQL 8.0+ or MariaDB 10.6+.
    MySql,
    /// SQLite (embedded default).
    Sqlite,
}

/// A connection pool to one of the two supported backends.
#[derive(Clone, Debug)]
pub enum Db {
    /// MySQL / MariaDB.
    MySql(MySqlPool),
    /// SQLite.
    Sqlite(SqlitePool),
}

/// Pool limits.
#[derive(Debug, Clone)]
pub struct PoolSettings {
    /// Maximum open connections.
    pub max_connections: u32,
    /// How long to wait for a free connection (and for connecting).
    pub acquire_timeout: Duration,
    /// Accept a MySQL server on another host without a verified TLS connection (config
    /// `database_allow_unverified_tls`); see [`check_mysql_transport`].
    pub allow_unverified_tls: bool,
}

impl Default for PoolSettings {
    fn default() -> Self {
        PoolSettings {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(10),
            allow_unverified_tls: false,
        }
    }
}

impl Db {
    /// Connects to `url`: `mysql://user:pass@host:port/db?ssl-mode=VERIFY_IDENTITY&ssl-ca=…`,
    /// `sqlite://path` or `sqlite::memory:`. A missing SQLite file is created.
    pub async fn connect(url: &str, settings: &PoolSettings) -> Result<Db, sqlx::Error> {
        if url.starts_with("mysql://") || url.starts_with("mariadb://") {
            let url = url.replacen("mariadb://", "mysql://", 1);
            check_mysql_transport(&url, settings.allow_unverified_tls)
                .map_err(|e| sqlx::Error::Configuration(e.into()))?;
            let opts = MySqlConnectOptions::from_str(&url)?.charset("utf8mb4");
            let pool = MySqlPoolOptions::new()
                .max_connections(settings.max_connections)
                .acquire_timeout(settings.acquire_timeout)
                .idle_timeout(Some(Duration::from_secs(300)))
                .connect_with(opts)
                .await?;
            Ok(Db::MySql(pool))
        } else if url.starts_with("sqlite:") {
            let memory = url.contains(":memory:") || url.contains("mode=memory");
            let opts = SqliteConnectOptions::from_str(url)?;
            if !memory {
                // sqlx would create the file under the umask (0644): create it 0600 first, and
                // narrow an older, wider one. SQLite gives its -wal and -shm files the mode of
                // the database file.
                let file = opts.get_filename().to_path_buf();
                if file.parent().is_some_and(Path::is_dir) {
                    crate::fsutil::private_file(&file).map_err(|e| {
                        sqlx::Error::Configuration(format!("cannot create {}: {e}", file.display()).into())
                    })?;
                    for ext in ["-wal", "-shm"] {
                        let side = PathBuf::from(format!("{}{ext}", file.display()));
                        if side.exists() {
                            let _ = crate::fsutil::private_file(&side);
                        }
                    }
                }
            }
            let opts = opts
                .create_if_missing(true)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10))
                .journal_mode(if memory {
                    SqliteJournalMode::Memory
                } else {
                    SqliteJournalMode::Wal
                })
                .synchronous(SqliteSynchronous::Normal);
            let pool = SqlitePoolOptions::new()
                .max_connections(if memory { 1 } else { settings.max_connections.max(1) })
                .acquire_timeout(settings.acquire_timeout)
                .connect_with(opts)
                .await?;
            Ok(Db::Sqlite(pool))
        } else {
            Err(sqlx::Error::Configuration(
                format!(
                    "unsupported database URL '{}': use mysql://… or sqlite://…",
                    redact_url(url)
                )
                .into(),
            ))
        }
    }

    /// The backend of this pool.
    pub fn backend(&self) -> Backend {
        match self {
            Db::MySql(_) => Backend::MySql,
            Db::Sqlite(_) => Backend::Sqlite,
        }
    }

    /// Closes the pool.
    pub async fn close(&self) {
        crate::on_db!(self, p => p.close().await)
    }
}

/// Refuses a MySQL URL that reaches a server on another host without a verified TLS
/// connection: whoever sits on the path could read every secret sealed for the fleet's
/// operations and rewrite rows (a deployment's `test_command` runs on the fleet). Allowed:
/// `ssl-mode=VERIFY_CA` or `VERIFY_IDENTITY`, a Unix socket (`socket=`), a loopback host
/// (127.0.0.0/8, ::1, `localhost`), or `allow_unverified` (the operator's explicit opt-out).
pub fn check_mysql_transport(url: &str, allow_unverified: bool) -> Result<(), String> {
    let u = url::Url::parse(url).map_err(|e| format!("invalid database URL: {e}"))?;
    let verified = u.query_pairs().any(|(k, v)| {
        matches!(k.as_ref(), "ssl-mode" | "sslmode")
            && matches!(v.to_ascii_uppercase().as_str(), "VERIFY_CA" | "VERIFY_IDENTITY")
    });
    let socket = u.query_pairs().any(|(k, _)| k == "socket");
    // mysql:// is not a special scheme to `url`: its host is opaque text, IP or not.
    let host = u
        .host_str()
        .unwrap_or_default()
        .trim_start_matches('[')
        .trim_end_matches(']');
    let local = host.is_empty()
        || host.eq_ignore_ascii_case("localhost")
        || match host.parse::<std::net::IpAddr>() {
            Ok(std::net::IpAddr::V4(a)) => a.is_loopback(),
            Ok(std::net::IpAddr::V6(a)) => a.is_loopback() || a.to_ipv4_mapped().is_some_and(|v| v.is_loopback()),
            Err(_) => false,
        };
    if verified || socket || local {
        return Ok(());
    }
    if allow_unverified {
        tracing::warn!(
            url = %redact_url(url),
            "database_allow_unverified_tls: the MySQL server's identity is not verified"
        );
        return Ok(());
    }
    Err(format!(
        "refusing database URL {}: the server is on another host and the connection does not verify its TLS certificate. \
         Add ?ssl-mode=VERIFY_IDENTITY&ssl-ca=/path/to/ca.pem (or ssl-mode=VERIFY_CA) to the URL, \
         or accept the risk with database_allow_unverified_tls = true in config.toml \
         (or CERTDECK_DATABASE_ALLOW_UNVERIFIED_TLS=true)",
        redact_url(url)
    ))
}

/// A URL with its password replaced by `***`, for messages and logs.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

/// The stored form of a timestamp: UTC, whole seconds.
pub fn ts(t: DateTime<Utc>) -> NaiveDateTime {
    let n = t.naive_utc();
    n - chrono::Duration::nanoseconds(i64::from(n.and_utc().timestamp_subsec_nanos()))
}

/// [`ts`] for optional values.
pub fn ts_opt(t: Option<DateTime<Utc>>) -> Option<NaiveDateTime> {
    t.map(ts)
}

/// Now, as stored.
pub fn now() -> NaiveDateTime {
    ts(Utc::now())
}

/// A keyset page request: rows with id below `before_id` (newest first), at most `limit`.
#[derive(Debug, Clone, Copy)]
pub struct Page {
    /// Only rows with `id < before_id`; `None` for the first page.
    pub before_id: Option<i64>,
    /// Page size (clamped to 1..=1000).
    pub limit: i64,
}

impl Default for Page {
    fn default() -> Self {
        Page {
            before_id: None,
            limit: 50,
        }
    }
}

impl Page {
    /// The first page of `limit` rows.
    pub fn first(limit: i64) -> Self {
        Page { before_id: None, limit }
    }

    /// The cursor bound: `i64::MAX` when none.
    pub fn cursor(&self) -> i64 {
        self.before_id.unwrap_or(i64::MAX)
    }

    /// The clamped limit.
    pub fn size(&self) -> i64 {
        self.limit.clamp(1, 1000)
    }
}

/// A bound value of a dynamically built query (filters and keyset pages).
#[derive(Debug, Clone)]
pub enum Arg {
    /// An integer.
    I64(i64),
    /// A text value.
    Str(String),
    /// A timestamp (bound as [`ts`]).
    Time(NaiveDateTime),
    /// A boolean.
    Bool(bool),
    /// SQL NULL.
    Null,
}

impl From<Option<String>> for Arg {
    fn from(v: Option<String>) -> Self {
        v.map(Arg::Str).unwrap_or(Arg::Null)
    }
}

/// The SET list of an UPDATE under construction.
#[derive(Debug, Default, Clone)]
pub struct Sets {
    parts: Vec<String>,
    /// The values to bind, in order.
    pub args: Vec<Arg>,
}

impl Sets {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// `col = ?` with a value.
    pub fn set(&mut self, col: &str, arg: Arg) -> &mut Self {
        self.parts.push(format!("{col} = ?"));
        self.args.push(arg);
        self
    }

    /// `col = ?` when `value` is present.
    pub fn set_opt<T>(&mut self, col: &str, value: Option<T>, to_arg: impl FnOnce(T) -> Arg) -> &mut Self {
        if let Some(v) = value {
            self.set(col, to_arg(v));
        }
        self
    }

    /// A raw assignment such as `failed_login_count = 0`.
    pub fn raw(&mut self, assignment: &str) -> &mut Self {
        self.parts.push(assignment.to_string());
        self
    }

    /// Whether nothing is set.
    pub fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }

    /// The assignments, comma separated.
    pub fn sql(&self) -> String {
        self.parts.join(", ")
    }
}

/// A WHERE clause under construction: conditions joined by AND, with their bound values.
#[derive(Debug, Default, Clone)]
pub struct Where {
    conds: Vec<String>,
    /// The values to bind, in order.
    pub args: Vec<Arg>,
}

impl Where {
    /// An empty clause.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a condition with its values.
    pub fn and(&mut self, cond: &str, args: impl IntoIterator<Item = Arg>) -> &mut Self {
        self.conds.push(cond.to_string());
        self.args.extend(args);
        self
    }

    /// Adds `cond` only when `value` is present.
    pub fn and_opt<T>(&mut self, cond: &str, value: Option<T>, to_arg: impl FnOnce(T) -> Arg) -> &mut Self {
        if let Some(v) = value {
            self.and(cond, [to_arg(v)]);
        }
        self
    }

    /// Adds the keyset bound `col < before_id` of a page after the first. The first page has no
    /// bound at all: a sentinel `id < i64::MAX` makes MariaDB pick a range plan and filesort.
    pub fn before(&mut self, col: &str, page: &Page) -> &mut Self {
        self.and_opt(&format!("{col} < ?"), page.before_id, Arg::I64)
    }

    /// The clause text, `WHERE …` or empty.
    pub fn sql(&self) -> String {
        if self.conds.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.conds.join(" AND "))
        }
    }
}

/// Binds a list of [`Arg`]s to a query or query_as, in order.
#[macro_export]
#[doc(hidden)]
macro_rules! bind_args {
    ($q:expr, $args:expr) => {{
        let mut q = $q;
        for a in $args {
            q = match a {
                $crate::store::Arg::I64(v) => q.bind(v),
                $crate::store::Arg::Str(v) => q.bind(v),
                $crate::store::Arg::Time(v) => q.bind(v),
                $crate::store::Arg::Bool(v) => q.bind(v),
                $crate::store::Arg::Null => q.bind(None::<String>),
            };
        }
        q
    }};
}
