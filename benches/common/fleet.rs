//! The fleet data set of the benchmarks: 100 users, 100,000 certificates, 10,000 servers,
//! 100,000 monitors and 1,000,000 audit rows, seeded once into the MariaDB database
//! `certdeck_t_bench` (kept and reused while its row counts match; `CERTDECK_BENCH_RESEED=1`
//! rebuilds it) or a SQLite file. User `bench0` is an admin with the password
//! [`BENCH_PASSWORD`]; the others are users.
#![allow(dead_code)]

use std::time::Instant;

use certdeck::store::{Db, PoolSettings};
use chrono::{Duration as Days, Utc};
use sqlx::AssertSqlSafe;

/// The password of every bench user.
pub const BENCH_PASSWORD: &str = "bench-password";
pub const USERS: i64 = 100;
pub const CERTS: i64 = 100_000;
pub const MONITORS: i64 = 100_000;
pub const SERVERS: i64 = 10_000;
pub const AUDIT: i64 = 1_000_000;

pub async fn mysql_db() -> Option<Db> {
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

pub async fn exec(db: &Db, sql: String) {
    match db {
        Db::MySql(p) => sqlx::query(AssertSqlSafe(sql)).execute(p).await.map(|_| ()),
        Db::Sqlite(p) => sqlx::query(AssertSqlSafe(sql)).execute(p).await.map(|_| ()),
    }
    .expect("seed statement");
}

pub async fn count(db: &Db, table: &str) -> i64 {
    let sql = format!("SELECT COUNT(*) FROM {table}");
    match db {
        Db::MySql(p) => sqlx::query_scalar(AssertSqlSafe(sql)).fetch_one(p).await,
        Db::Sqlite(p) => sqlx::query_scalar(AssertSqlSafe(sql)).fetch_one(p).await,
    }
    .unwrap_or(-1)
}

/// Inserts `total` rows built by `row(i)` in multi-row statements of `batch`.
pub async fn insert_rows(db: &Db, head: &str, total: i64, batch: i64, row: impl Fn(i64) -> String) {
    let mut i = 0;
    while i < total {
        let end = (i + batch).min(total);
        let values: Vec<String> = (i..end).map(&row).collect();
        exec(db, format!("{head} VALUES {}", values.join(","))).await;
        i = end;
    }
}

/// A deterministic pseudo-random number for row `i` (splitmix64).
pub fn mix(i: i64, salt: u64) -> u64 {
    let mut z = (i as u64).wrapping_add(salt).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

pub async fn seed(db: &Db, label: &str) {
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
    let hash = certdeck::crypto::password::hash_password(BENCH_PASSWORD).expect("hash");
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
