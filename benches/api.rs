//! The HTTP API under load, at fleet scale: 100,000 certificates on MariaDB (the fleet data set
//! of `list_latency`, seeded once and reused), a real `--serve-api` server over TLS in this
//! process, and `wrk` (Debian's package) as the load generator with 64 connections. Prints, per
//! route and credential, requests/s and the latency percentiles wrk measured.
//!
//! ```text
//! scripts/testbed up && eval "$(scripts/testbed env)"
//! cargo bench --bench api                     # CERTDECK_BENCH_SECONDS=20 by default
//! ```
//!
//! Targets (issue 16): first page of the certificate list p99 < 20 ms at 64 concurrent clients,
//! and ≥ 2,000 requests/s for `GET /api/v1/certificates/{id}`, on this 2-core machine. Run it
//! alone: the server, MariaDB and wrk share the cores.

use std::process::Command;
use std::sync::Arc;

use certdeck::crypto::{Keyring, MasterKey};
use certdeck::service::{ClientInfo, Services};
use certdeck::store::migrate;

#[path = "common/fleet.rs"]
mod fleet;
#[path = "common/tls_server.rs"]
mod tls_server;

struct Run {
    name: String,
    rps: f64,
    p50: f64,
    p99: f64,
    errors: u64,
}

/// Milliseconds from wrk's "5.12ms" / "830.00us" / "1.20s".
fn ms(v: &str) -> f64 {
    let num = |s: &str| s.parse::<f64>().unwrap_or(f64::NAN);
    if let Some(x) = v.strip_suffix("us") {
        num(x) / 1000.0
    } else if let Some(x) = v.strip_suffix("ms") {
        num(x)
    } else if let Some(x) = v.strip_suffix('s') {
        num(x) * 1000.0
    } else {
        f64::NAN
    }
}

fn wrk(name: &str, url: &str, credential: &str, seconds: u64) -> Run {
    let out = Command::new("wrk")
        .args(["-t2", "-c64", &format!("-d{seconds}s"), "--latency", "-H"])
        .arg(format!("Authorization: Bearer {credential}"))
        .arg(url)
        .output()
        .expect("wrk (apt install wrk; scripts/testbed up installs it)");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut run = Run {
        name: name.to_string(),
        rps: f64::NAN,
        p50: f64::NAN,
        p99: f64::NAN,
        errors: 0,
    };
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["50%", v] => run.p50 = ms(v),
            ["99%", v] => run.p99 = ms(v),
            ["Requests/sec:", v] => run.rps = v.parse().unwrap_or(f64::NAN),
            ["Non-2xx", "or", "3xx", "responses:", n] => run.errors = n.parse().unwrap_or(0),
            _ => {}
        }
    }
    if run.rps.is_nan() {
        eprintln!("wrk printed:\n{text}\n{}", String::from_utf8_lossy(&out.stderr));
    }
    run
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let seconds: u64 = std::env::var("CERTDECK_BENCH_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let Some(db) = fleet::mysql_db().await else {
        eprintln!("MariaDB: CERTDECK_TEST_MYSQL_URL is not set (scripts/testbed up; eval \"$(scripts/testbed env)\"); nothing measured");
        return;
    };
    migrate::migrate(&db).await.expect("migrate");
    fleet::seed(&db, "MariaDB").await;
    let services = Services::new(
        db.clone(),
        Keyring::single(MasterKey::generate()),
        ClientInfo::default(),
    );

    // A session and an API key of the admin bench0 (every certificate is visible to it).
    let (admin, session) = services
        .login("bench0", fleet::BENCH_PASSWORD)
        .await
        .expect("bench0 logs in");
    let (row, secret) = services
        .apikey_create(
            &admin,
            &format!("bench-{}", std::process::id()),
            Some(1),
            certdeck::domain::ApiKeyPermissions::Read,
            None,
        )
        .await
        .expect("API key");
    let api_key = format!("{}:{secret}", row.api_key);

    // The server: TLS with a throwaway certificate, no rate limits (the load is one address).
    let server = tls_server::start(services.clone()).await;
    let port = server.port;
    let base = format!("https://127.0.0.1:{port}");
    // A certificate of bench0 itself (row i belongs to user i % USERS + 1): an API key acts with the
    // api role, which sees its own user's rows only, even for an admin's key.
    let id = fleet::CERTS / 2 + 1;

    let runs = Arc::new(std::sync::Mutex::new(Vec::new()));
    for (name, path, cred) in [
        (
            "GET /api/v1/certificates (first page, session)",
            "/api/v1/certificates".to_string(),
            session.access_token.clone(),
        ),
        (
            "GET /api/v1/certificates/{id} (session)",
            format!("/api/v1/certificates/{id}"),
            session.access_token.clone(),
        ),
        (
            "GET /api/v1/certificates/{id} (API key)",
            format!("/api/v1/certificates/{id}"),
            api_key.clone(),
        ),
        (
            "GET /api/v1/certificates?status=expired (API key)",
            "/api/v1/certificates?status=expired".to_string(),
            api_key.clone(),
        ),
    ] {
        let url = format!("{base}{path}");
        let r = tokio::task::spawn_blocking(move || wrk(name, &url, &cred, seconds))
            .await
            .expect("wrk ran");
        runs.lock().expect("lock").push(r);
    }
    server.stop().await;

    println!(
        "\nHTTP API over TLS, 64 connections (wrk -t2 -c64 -d{seconds}s), {} certificates on MariaDB",
        fleet::CERTS
    );
    println!(
        "{:<52} {:>10} {:>9} {:>9} {:>7}",
        "route (credential)", "req/s", "p50 ms", "p99 ms", "errors"
    );
    for r in runs.lock().expect("lock").iter() {
        println!(
            "{:<52} {:>10.0} {:>9.2} {:>9.2} {:>7}",
            r.name, r.rps, r.p50, r.p99, r.errors
        );
    }
    println!("targets: first page p99 < 20 ms; GET by id >= 2,000 req/s");
}
