//! Shared test harness: a fresh, migrated database per test on each backend.
//!
//! MariaDB comes from `scripts/testbed` (`CERTDECK_TEST_MYSQL_URL`, a user that may create
//! `certdeck_t…` databases). Each test gets its own database, cloned from a template that is
//! migrated once per test binary. With `CERTDECK_TEST_REQUIRE_PEERS=1` (set by scripts/test in
//! CI) a missing MariaDB fails the test instead of skipping it.
#![allow(dead_code)]

/// Asserts that a result is an error of the given variant and returns the error.
#[allow(unused_macros)]
macro_rules! assert_err {
    ($res:expr, $pat:pat, $($ctx:tt)+) => {
        match $res {
            Err(e @ $pat) => e,
            Err(other) => panic!("{}: expected {}, got error {other:?} ({other})", format!($($ctx)+), stringify!($pat)),
            Ok(v) => panic!("{}: expected {}, got Ok({v:?})", format!($($ctx)+), stringify!($pat)),
        }
    };
}
#[allow(unused_imports)]
pub(crate) use assert_err;

pub mod api;
pub mod bed;
pub mod cli;
pub mod nginx_pki;
pub mod pebble_bind;
mod world;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Once;

use certdeck::crypto::{Keyring, MasterKey};
use certdeck::store::{migrate, Db, PoolSettings};
use sqlx::{AssertSqlSafe, MySql, Sqlite};
use tokio::sync::OnceCell;

#[allow(unused_imports)]
pub use world::*;

static PROVIDER: Once = Once::new();
static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Installs the ring provider once per test binary.
pub fn init() {
    PROVIDER.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// Whether a missing peer must fail the test (CI).
pub fn peers_required() -> bool {
    std::env::var("CERTDECK_TEST_REQUIRE_PEERS").is_ok_and(|v| v == "1")
        || std::env::var("CI").is_ok_and(|v| v == "true")
}

/// The MariaDB admin URL (no database), or None when the test bed is not up (panics in CI).
pub fn mysql_url() -> Option<String> {
    match std::env::var("CERTDECK_TEST_MYSQL_URL") {
        Ok(u) if !u.is_empty() => Some(u.trim_end_matches('/').to_string()),
        _ => {
            assert!(
                !peers_required(),
                "CERTDECK_TEST_MYSQL_URL is not set but peers are required: run the suite with scripts/test"
            );
            eprintln!("SKIP: CERTDECK_TEST_MYSQL_URL not set (start scripts/testbed up and eval scripts/testbed env)");
            None
        }
    }
}

/// A unique name for this test's database.
pub fn unique_name(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let r: u32 = rand_u32();
    format!("{prefix}_{}_{n}_{r:08x}", std::process::id())
}

fn rand_u32() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64,
    );
    h.finish() as u32
}

/// A test database that is dropped when the value goes out of scope.
pub struct TestDb {
    /// The pool.
    pub db: Db,
    /// The URL that reaches it.
    pub url: String,
    mysql_name: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    /// The backend name, for assertion messages.
    pub fn label(&self) -> &'static str {
        match self.db {
            Db::MySql(_) => "mariadb",
            Db::Sqlite(_) => "sqlite",
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let (Some(name), Some(admin)) = (self.mysql_name.take(), mysql_url()) {
            // A fresh connection on a fresh runtime: the test's own runtime may be single-threaded
            // and is blocked here, so the test's pool cannot be driven (or closed) from this thread.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async move {
                    use sqlx::Connection;
                    let Ok(mut c) = sqlx::MySqlConnection::connect(&admin).await else {
                        return;
                    };
                    let _ = sqlx::query("SET SESSION lock_wait_timeout = 10").execute(&mut c).await;
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS `{name}`")))
                        .execute(&mut c)
                        .await;
                    let _ = c.close().await;
                });
            })
            .join();
        }
    }
}

/// An empty (unmigrated) MariaDB database, or None when MariaDB is not available.
pub async fn empty_mysql() -> Option<TestDb> {
    init();
    let admin = mysql_url()?;
    let name = unique_name("certdeck_t");
    let Db::MySql(p) = Db::connect(&admin, &PoolSettings::default())
        .await
        .expect("connect to the test bed's MariaDB")
    else {
        unreachable!()
    };
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
    )))
    .execute(&p)
    .await
    .expect("create test database");
    p.close().await;
    let url = format!("{admin}/{name}");
    let db = Db::connect(
        &url,
        &PoolSettings {
            max_connections: 5,
            ..Default::default()
        },
    )
    .await
    .expect("connect to the test database");
    Some(TestDb {
        db,
        url,
        mysql_name: Some(name),
        _dir: None,
    })
}

/// An empty (unmigrated) SQLite database file.
pub async fn empty_sqlite() -> TestDb {
    init();
    sqlite_in(tempfile::tempdir().unwrap()).await
}

/// The SQLite database `certdeck.db` in `dir` (created when missing).
async fn sqlite_in(dir: tempfile::TempDir) -> TestDb {
    let url = format!("sqlite://{}", dir.path().join("certdeck.db").display());
    let db = Db::connect(&url, &PoolSettings::default()).await.unwrap();
    TestDb {
        db,
        url,
        mysql_name: None,
        _dir: Some(dir),
    }
}

/// A fresh, fully migrated MariaDB database (None when MariaDB is not available).
pub async fn mysql() -> Option<TestDb> {
    let t = empty_mysql().await?;
    migrate::migrate(&t.db).await.expect("migrate MariaDB");
    Some(t)
}

static SQLITE_TEMPLATE: OnceCell<(tempfile::TempDir, std::path::PathBuf)> = OnceCell::const_new();

/// A fresh, fully migrated SQLite database (a copy of a template migrated once per binary).
pub async fn sqlite() -> TestDb {
    init();
    let (_, template) = SQLITE_TEMPLATE
        .get_or_init(|| async {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("template.db");
            let db = Db::connect(&format!("sqlite://{}", path.display()), &PoolSettings::default())
                .await
                .unwrap();
            migrate::migrate(&db).await.expect("migrate SQLite template");
            if let Db::Sqlite(p) = &db {
                sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(p).await.unwrap();
            }
            db.close().await;
            (dir, path)
        })
        .await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(template, dir.path().join("certdeck.db")).unwrap();
    sqlite_in(dir).await
}

/// Both backends: SQLite always, MariaDB when available.
pub async fn both() -> Vec<TestDb> {
    let mut v = vec![sqlite().await];
    if let Some(m) = mysql().await {
        v.push(m);
    }
    v
}

/// A keyring for tests.
pub fn keyring() -> Keyring {
    Keyring::single(MasterKey::generate())
}

// ------------------------------------------------------------------ raw SQL

/// A value bound to a `?` placeholder of a test query.
#[derive(Debug, Clone)]
pub enum Arg {
    Int(i64),
    Text(String),
}

/// The placeholder values of a test query: none (`()`), one value, or a pair.
pub trait Args {
    fn args(self) -> Vec<Arg>;
}

impl Args for () {
    fn args(self) -> Vec<Arg> {
        Vec::new()
    }
}

impl Args for i64 {
    fn args(self) -> Vec<Arg> {
        vec![Arg::Int(self)]
    }
}

impl Args for &str {
    fn args(self) -> Vec<Arg> {
        vec![Arg::Text(self.to_string())]
    }
}

impl Args for &String {
    fn args(self) -> Vec<Arg> {
        self.as_str().args()
    }
}

impl<A: Args, B: Args> Args for (A, B) {
    fn args(self) -> Vec<Arg> {
        let mut v = self.0.args();
        v.extend(self.1.args());
        v
    }
}

/// Binds `$args` (a `&[Arg]`) in order to the sqlx query `$q`.
macro_rules! bind_all {
    ($q:expr, $args:expr) => {{
        let mut q = $q;
        for a in $args {
            q = match a {
                Arg::Int(i) => q.bind(*i),
                Arg::Text(s) => q.bind(s.clone()),
            };
        }
        q
    }};
}

/// A value both backends can decode from a query result.
pub trait Scalar:
    Send
    + Unpin
    + sqlx::Type<MySql>
    + for<'r> sqlx::Decode<'r, MySql>
    + sqlx::Type<Sqlite>
    + for<'r> sqlx::Decode<'r, Sqlite>
{
}

impl<T> Scalar for T where
    T: Send
        + Unpin
        + sqlx::Type<MySql>
        + for<'r> sqlx::Decode<'r, MySql>
        + sqlx::Type<Sqlite>
        + for<'r> sqlx::Decode<'r, Sqlite>
{
}

/// The one value of the one row `sql` returns with `args` bound.
pub async fn scalar<T: Scalar>(db: &Db, sql: &str, args: impl Args) -> T {
    let args = args.args();
    let r = certdeck::on_db!(db, p => bind_all!(sqlx::query_scalar::<_, T>(AssertSqlSafe(sql.to_string())), &args).fetch_one(p).await);
    r.unwrap_or_else(|e| panic!("{sql} {args:?}: {e}"))
}

/// The first column of every row `sql` returns with `args` bound.
pub async fn scalars<T: Scalar>(db: &Db, sql: &str, args: impl Args) -> Vec<T> {
    let args = args.args();
    let r = certdeck::on_db!(db, p => bind_all!(sqlx::query_scalar::<_, T>(AssertSqlSafe(sql.to_string())), &args).fetch_all(p).await);
    r.unwrap_or_else(|e| panic!("{sql} {args:?}: {e}"))
}

/// Runs a statement with `args` bound; returns the rows changed.
pub async fn exec_with(db: &Db, sql: &str, args: impl Args) -> u64 {
    let args = args.args();
    let r = certdeck::on_db!(db, p => bind_all!(sqlx::query(AssertSqlSafe(sql.to_string())), &args).execute(p).await.map(|r| r.rows_affected()));
    r.unwrap_or_else(|e| panic!("{sql} {args:?}: {e}"))
}

/// Runs a statement without parameters; returns the rows changed.
pub async fn exec(db: &Db, sql: &str) -> u64 {
    exec_with(db, sql, ()).await
}

/// A `SELECT COUNT(*) …` without parameters.
pub async fn count(db: &Db, sql: &str) -> i64 {
    scalar(db, sql, ()).await
}

/// A `SELECT COUNT(*) … WHERE … = ?` about one id.
pub async fn count_with(db: &Db, sql: &str, id: i64) -> i64 {
    scalar(db, sql, id).await
}

/// One text value of the row with this id.
pub async fn text_with(db: &Db, sql: &str, id: i64) -> String {
    scalar(db, sql, id).await
}

/// Every text value `sql` returns.
pub async fn strings(db: &Db, sql: &str) -> Vec<String> {
    scalars(db, sql, ()).await
}

/// Row count of the audit log.
pub async fn audit_count(db: &Db) -> i64 {
    count(db, "SELECT COUNT(*) FROM audit_logs").await
}

// ------------------------------------------------------------------ small helpers

/// Whitespace-insensitive text (PEM encoders differ in line endings).
pub fn squash(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

/// The ids of `rows`, in their order.
pub fn ids<T>(rows: &[T], id: impl Fn(&T) -> i64) -> Vec<i64> {
    rows.iter().map(id).collect()
}

/// `v`, sorted.
pub fn sorted(mut v: Vec<i64>) -> Vec<i64> {
    v.sort();
    v
}

/// Schema differences from the design document, one a line, for an assertion message.
pub fn report(diffs: &[String]) -> String {
    format!(
        "{} difference(s) from the design:\n  {}",
        diffs.len(),
        diffs.join("\n  ")
    )
}

/// The body of an HTTPS GET verified against the CA in the PEM file `ca_pem` (Pebble's
/// management API).
pub async fn https_get(url: &str, ca_pem: &str) -> String {
    let rest = url.trim_start_matches("https://");
    let (hostport, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_string()), |(h, p)| (h, format!("/{p}")));
    let mut roots = rustls::RootCertStore::empty();
    for der in certdeck::domain::certpem::certificates_der(std::fs::read(ca_pem).unwrap().as_slice()).unwrap() {
        roots.add(rustls::pki_types::CertificateDer::from(der)).unwrap();
    }
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let cfg = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let host = hostport.rsplit_once(':').map_or(hostport, |(h, _)| h).to_string();
    let tcp = tokio::net::TcpStream::connect(hostport).await.unwrap();
    let mut tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(cfg))
        .connect(rustls::pki_types::ServerName::try_from(host).unwrap(), tcp)
        .await
        .unwrap();
    tls.write_all(format!("GET {path} HTTP/1.1\r\nHost: {hostport}\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = Vec::new();
    let _ = tls.read_to_end(&mut out).await;
    let text = String::from_utf8_lossy(&out).to_string();
    text.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default()
}
