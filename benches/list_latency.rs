//! List latency at fleet scale: 100,000 certificates over 100 users, 100,000 monitors,
//! 10,000 servers and 1,000,000 audit_logs rows; the first page of every list (as admin and as
//! one user) and the filters by status and by expiry window (ordered by expiry), timed through
//! the service layer exactly as the CLI and console call it. Prints min / median / p95 / max.
//!
//! ```text
//! scripts/testbed up && eval "$(scripts/testbed env)"
//! cargo bench --bench list_latency                    # MariaDB (CERTDECK_TEST_MYSQL_URL) + SQLite
//! CERTDECK_BENCH_BACKENDS=mysql cargo bench --bench list_latency
//! ```
//!
//! `CERTDECK_BENCH_MYSQL_URL` (a server URL without database) overrides the test bed's URL. The
//! seeded MariaDB database `certdeck_t_bench` (a name the test bed's user may create) is kept and reused by the next run when its row
//! counts match (`CERTDECK_BENCH_RESEED=1` rebuilds it). The target is < 20 ms per first page.

use std::time::Instant;

use certdeck::crypto::{Keyring, MasterKey};
use certdeck::domain::{CertificateStatus, UserRole};
use certdeck::service::{Actor, ClientInfo, Services};
use certdeck::store::audit::AuditFilter;
use certdeck::store::certificates::{CertFilter, CertOrder};
use certdeck::store::monitoring::MonitorFilter;
use certdeck::store::servers::ServerFilter;
use certdeck::store::users::UserFilter;
use certdeck::store::{migrate, Db, Page, PoolSettings};
use chrono::{Duration as Days, Utc};
use sqlx::AssertSqlSafe;

const USERS: i64 = 100;
const CERTS: i64 = 100_000;
const MONITORS: i64 = 100_000;
const SERVERS: i64 = 10_000;
const AUDIT: i64 = 1_000_000;
const RUNS: usize = 200;
const TARGET_MS: f64 = 20.0;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let backends = std::env::var("CERTDECK_BENCH_BACKENDS").unwrap_or_else(|_| "mysql,sqlite".into());
    let mut failed = false;
    for backend in backends.split(',').map(str::trim) {
        let (db, label, _dir) = match backend {
            "mysql" => match mysql_db().await {
                Some(db) => (db, "MariaDB", None),
                None => {
                    eprintln!("MariaDB: CERTDECK_TEST_MYSQL_URL is not set (scripts/testbed up; eval \"$(scripts/testbed env)\"); skipped");
                    continue;
                }
            },
            "sqlite" => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}", dir.path().join("bench.db").display());
                (
                    Db::connect(&url, &PoolSettings::default()).await.expect("open SQLite"),
                    "SQLite",
                    Some(dir),
                )
            }
            other => panic!("unknown backend {other}: use mysql and/or sqlite"),
        };
        failed |= run(&db, label).await;
        db.close().await;
    }
    if failed {
        println!("\nsome lists missed the {TARGET_MS} ms target (see above)");
    }
}

async fn mysql_db() -> Option<Db> {
    let admin = std::env::var("CERTDECK_TEST_MYSQL_URL")
        .ok()
        .filter(|u| !u.is_empty())?;
    let admin = admin.trim_end_matches('/');
    let Db::MySql(p) = Db::connect(admin, &PoolSettings::default())
        .await
        .expect("connect to MariaDB")
    else {
        unreachable!()
    };
    let reseed = std::env::var("CERTDECK_BENCH_RESEED").is_ok_and(|v| v == "1");
    if reseed {
        sqlx::query("DROP DATABASE IF EXISTS certdeck_t_bench")
            .execute(&p)
            .await
            .expect("drop bench database");
    }
    sqlx::query("CREATE DATABASE IF NOT EXISTS certdeck_t_bench CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        .execute(&p)
        .await
        .expect("create the database certdeck_t_bench");
    p.close().await;
    let settings = PoolSettings {
        max_connections: 4,
        ..Default::default()
    };
    Some(
        Db::connect(&format!("{admin}/certdeck_t_bench"), &settings)
            .await
            .expect("connect to certdeck_t_bench"),
    )
}

async fn exec(db: &Db, sql: String) {
    match db {
        Db::MySql(p) => sqlx::query(AssertSqlSafe(sql)).execute(p).await.map(|_| ()),
        Db::Sqlite(p) => sqlx::query(AssertSqlSafe(sql)).execute(p).await.map(|_| ()),
    }
    .expect("seed statement");
}

async fn count(db: &Db, table: &str) -> i64 {
    let sql = format!("SELECT COUNT(*) FROM {table}");
    match db {
        Db::MySql(p) => sqlx::query_scalar(AssertSqlSafe(sql)).fetch_one(p).await,
        Db::Sqlite(p) => sqlx::query_scalar(AssertSqlSafe(sql)).fetch_one(p).await,
    }
    .unwrap_or(-1)
}

/// Inserts `total` rows built by `row(i)` in multi-row statements of `batch`.
async fn insert_rows(db: &Db, head: &str, total: i64, batch: i64, row: impl Fn(i64) -> String) {
    let mut i = 0;
    while i < total {
        let end = (i + batch).min(total);
        let values: Vec<String> = (i..end).map(&row).collect();
        exec(db, format!("{head} VALUES {}", values.join(","))).await;
        i = end;
    }
}

/// A deterministic pseudo-random number for row `i` (splitmix64).
fn mix(i: i64, salt: u64) -> u64 {
    let mut z = (i as u64).wrapping_add(salt).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

async fn seed(db: &Db, label: &str) {
    let counts = (
        count(db, "users").await,
        count(db, "certificates").await,
        count(db, "audit_logs").await,
    );
    if counts == (USERS, CERTS, AUDIT) {
        println!("{label}: reusing the seeded data ({USERS} users, {CERTS} certificates, {AUDIT} audit rows)");
        return;
    }
    assert!(
        counts.0 <= 0,
        "{label}: the bench database holds other data ({counts:?}); rerun with CERTDECK_BENCH_RESEED=1"
    );
    let t0 = Instant::now();
    let now = Utc::now().naive_utc();
    let at = |secs: i64| (now + Days::seconds(secs)).format("'%Y-%m-%d %H:%M:%S'").to_string();
    // One real argon2id hash: the bench users never log in, but the column holds a valid value.
    let hash = certdeck::crypto::password::hash_password("bench-password").expect("hash");
    insert_rows(
        db,
        "INSERT INTO users (username, email, password_hash, role, status)",
        USERS,
        100,
        |i| {
            let role = if i == 0 { "admin" } else { "user" };
            format!("('bench{i}', 'bench{i}@example.com', '{hash}', '{role}', 'active')")
        },
    )
    .await;
    const STATUSES: [&str; 5] = ["issued", "issued", "issued", "expired", "pending"];
    insert_rows(
        db,
        "INSERT INTO certificates (user_id, name, domains, main_domain, issuer, certificate_type, encryption_type, \
         status, issued_at, expires_at, auto_renew, renew_before_days, created_at)",
        CERTS,
        1000,
        |i| {
            let user = i % USERS + 1;
            let r = mix(i, 1);
            let status = STATUSES[(r % 5) as usize];
            // expiry spread over -60 .. +395 days
            let expires = -60 * 86_400 + (r >> 8) as i64 % (455 * 86_400);
            let domain = format!("www{i}.tenant{user}.example.com");
            format!(
                "({user}, 'cert {i}', '[\"{domain}\"]', '{domain}', 'Bench CA', 'single', 'ECC', '{status}', {}, {}, 1, 30, {})",
                at(expires - 90 * 86_400),
                at(expires),
                at(-((r >> 20) as i64 % (365 * 86_400)))
            )
        },
    )
    .await;
    insert_rows(
        db,
        "INSERT INTO servers (user_id, name, hostname, port, server_type, auth_type, username, status)",
        SERVERS,
        1000,
        |i| {
            let user = i % USERS + 1;
            let ty = if i % 3 == 0 { "apache" } else { "nginx" };
            format!("({user}, 'web {i}', 'web{i}.tenant{user}.example.com', 22, '{ty}', 'key', 'deploy', 'active')")
        },
    )
    .await;
    insert_rows(
        db,
        "INSERT INTO monitors (user_id, name, monitor_type, target_id, domain, port, check_interval, is_active, \
         next_check_at, status)",
        MONITORS,
        1000,
        |i| {
            let user = i % USERS + 1;
            let status = ["ok", "ok", "ok", "warning", "error", "unknown"][(mix(i, 2) % 6) as usize];
            format!(
                "({user}, 'www{i}', 'certificate', {}, 'www{i}.tenant{user}.example.com', 443, 86400, 1, {}, '{status}')",
                i + 1,
                at((mix(i, 3) % 86_400) as i64)
            )
        },
    )
    .await;
    const ACTIONS: [&str; 6] = [
        "certificate.import",
        "certificate.update",
        "server.create",
        "monitor.update",
        "auth.login",
        "setting.update",
    ];
    insert_rows(
        db,
        "INSERT INTO audit_logs (user_id, action, resource_type, resource_id, details, ip_address, user_agent, created_at)",
        AUDIT,
        5000,
        |i| {
            let r = mix(i, 4);
            let action = ACTIONS[(r % 6) as usize];
            let resource = action.split('.').next().unwrap_or("certificate");
            // ordered in time like a real log: row i is i * 30 s after the first
            format!(
                "({}, '{action}', '{resource}', {}, '{{\"bench\":{i}}}', '10.0.{}.{}', 'certdeck/0.1.0 (xterm)', {})",
                (r >> 8) as i64 % USERS + 1,
                (r >> 16) as i64 % CERTS + 1,
                (r >> 24) % 250,
                (r >> 32) % 250,
                at((i - AUDIT) * 30)
            )
        },
    )
    .await;
    if let Db::MySql(p) = db {
        for t in ["users", "certificates", "servers", "monitors", "audit_logs"] {
            sqlx::query(AssertSqlSafe(format!("ANALYZE TABLE {t}")))
                .execute(p)
                .await
                .expect("analyze");
        }
    } else if let Db::Sqlite(p) = db {
        sqlx::query("ANALYZE").execute(p).await.expect("analyze");
    }
    println!("{label}: seeded in {:.1} s", t0.elapsed().as_secs_f64());
}

struct Stats {
    min: f64,
    median: f64,
    p95: f64,
    max: f64,
}

fn stats(mut ms: Vec<f64>) -> Stats {
    ms.sort_by(f64::total_cmp);
    let at = |q: f64| ms[((ms.len() - 1) as f64 * q).round() as usize];
    Stats {
        min: ms[0],
        median: at(0.5),
        p95: at(0.95),
        max: ms[ms.len() - 1],
    }
}

/// Times `f` RUNS times after a warm-up; returns the stats and the row count it returned.
async fn time<F, Fut>(f: F) -> (Stats, usize)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = usize>,
{
    let mut rows = 0;
    for _ in 0..10 {
        rows = f().await;
    }
    let mut ms = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let t = Instant::now();
        rows = f().await;
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    (stats(ms), rows)
}

/// Runs every list as admin and as one user; true if any median missed the target.
async fn run(db: &Db, label: &str) -> bool {
    migrate::migrate(db).await.expect("migrate");
    seed(db, label).await;
    let svc = Services::new(
        db.clone(),
        Keyring::single(MasterKey::generate()),
        ClientInfo::from_env(),
    );
    let admin = Actor {
        user_id: 1,
        username: "bench0".into(),
        role: UserRole::Admin,
        read_only: false,
    };
    let user = Actor {
        user_id: 42,
        username: "bench41".into(),
        role: UserRole::User,
        read_only: false,
    };
    let page = Page::first(50);
    let now = Utc::now();
    let window = CertFilter {
        expires_from: Some(now),
        expires_to: Some(now + Days::days(30)),
        order: CertOrder::Expiry,
        ..Default::default()
    };
    let issued = CertFilter {
        status: Some(CertificateStatus::Issued),
        ..Default::default()
    };
    let issued_by_expiry = CertFilter {
        status: Some(CertificateStatus::Issued),
        expires_from: Some(now),
        order: CertOrder::Expiry,
        ..Default::default()
    };
    let last_week = AuditFilter {
        since: Some(now - Days::days(7)),
        ..Default::default()
    };

    println!("\n{label}: first page of 50 rows, {RUNS} runs each (ms)");
    println!(
        "  {:<52} {:>7} {:>7} {:>7} {:>7} {:>5}",
        "list", "min", "median", "p95", "max", "rows"
    );
    let mut missed = false;
    for (who, actor) in [("admin", &admin), ("user", &user)] {
        // Lists are held to the target; aggregates (dashboard counts) are only reported.
        macro_rules! case {
            ($name:expr, $call:expr) => {
                case!(list $name, $call)
            };
            ($kind:ident $name:expr, $call:expr) => {{
                let (s, rows) = time(|| async { $call.await.expect($name).len() }).await;
                let is_list = stringify!($kind) == "list";
                let flag = match (is_list, s.median > TARGET_MS) {
                    (true, true) => "  MISSED",
                    (false, _) => "  (aggregate, not a list)",
                    _ => "",
                };
                missed |= is_list && s.median > TARGET_MS;
                println!(
                    "  {:<52} {:>7.2} {:>7.2} {:>7.2} {:>7.2} {:>5}{flag}",
                    format!("{who}: {}", $name),
                    s.min,
                    s.median,
                    s.p95,
                    s.max,
                    rows
                );
            }};
        }
        case!(
            "certificates, newest",
            svc.cert_list(actor, &CertFilter::default(), page)
        );
        case!("certificates, status=issued", svc.cert_list(actor, &issued, page));
        case!(
            "certificates, expiring in 30 days, by expiry",
            svc.cert_list(actor, &window, page)
        );
        case!(
            "certificates, issued + not expired, by expiry",
            svc.cert_list(actor, &issued_by_expiry, page)
        );
        case!("certificates, page 10 (keyset)", async {
            // ids are spread round-robin over the users: page 10 of one user starts 10 * 50 * USERS ids down
            let before = if actor.is_admin() {
                CERTS - 10 * 50
            } else {
                CERTS - 10 * 50 * USERS
            };
            svc.cert_list(
                actor,
                &CertFilter::default(),
                Page {
                    before_id: Some(before),
                    limit: 50,
                },
            )
            .await
        });
        case!(aggregate "certificate counts by status (dashboard)", svc.cert_counts(actor));
        case!(
            "monitors, newest",
            svc.monitor_list(actor, &MonitorFilter::default(), page)
        );
        case!(
            "servers, newest",
            svc.server_list(actor, &ServerFilter::default(), page)
        );
        case!(
            "audit log, newest",
            svc.audit_list(actor, &AuditFilter::default(), page)
        );
        case!("audit log, last 7 days", svc.audit_list(actor, &last_week, page));
        case!(
            "audit log, action=certificate.import",
            svc.audit_list(
                actor,
                &AuditFilter {
                    action: Some("certificate.import".into()),
                    ..Default::default()
                },
                page
            )
        );
        if actor.is_admin() {
            case!("users, newest", svc.user_list(actor, &UserFilter::default(), page));
        }
    }
    missed
}
