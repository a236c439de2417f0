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

#[path = "common/fleet.rs"]
mod fleet;
use fleet::*;

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
