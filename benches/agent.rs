//! The pull agent's load on the API: 1,000 token servers on MariaDB, a real `--serve-api`
//! server over TLS in this process, and `wrk` (64 connections) posting check-ins, each with the
//! token of a random one of the 1,000 servers (a Lua script picks it). Prints check-ins/s and
//! the latency percentiles wrk measured; then one agent's whole run with no work waiting
//! (probe the host, check in, discover the bed's nginx config, report it), timed 20 times.
//!
//! ```text
//! scripts/testbed up && eval "$(scripts/testbed env)"
//! cargo bench --bench agent                   # CERTDECK_BENCH_SECONDS=20 by default
//! ```
//!
//! Target (issue 17): ≥ 1,000 check-ins/s on this 2-core machine. Run it alone: the server,
//! MariaDB and wrk share the cores.

use std::process::Command;
use std::time::Instant;

use certdeck::agent::config::AgentConfig;
use certdeck::agent::run::Agent;
use certdeck::crypto::{Keyring, MasterKey};
use certdeck::domain::{AuthType, ServerType, UserRole};
use certdeck::service::servers::ServerInput;
use certdeck::service::{Actor, ClientInfo, Services};
use certdeck::store::{migrate, Db, PoolSettings};

#[path = "common/tls_server.rs"]
mod tls_server;

/// Token servers simulated.
const AGENTS: usize = 1000;

/// A fresh database for this bench on the bed's MariaDB.
async fn fresh_db() -> Option<Db> {
    let admin = std::env::var("CERTDECK_TEST_MYSQL_URL")
        .ok()
        .filter(|u| !u.is_empty())?;
    let admin = admin.trim_end_matches('/').to_string();
    let Db::MySql(p) = Db::connect(&admin, &PoolSettings::default())
        .await
        .expect("connect to MariaDB")
    else {
        unreachable!()
    };
    sqlx::query("DROP DATABASE IF EXISTS certdeck_t_agent_bench")
        .execute(&p)
        .await
        .expect("drop");
    sqlx::query("CREATE DATABASE certdeck_t_agent_bench CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        .execute(&p)
        .await
        .expect("create");
    p.close().await;
    Some(
        Db::connect(&format!("{admin}/certdeck_t_agent_bench"), &PoolSettings::default())
            .await
            .expect("connect to certdeck_t_agent_bench"),
    )
}

struct Run {
    rps: f64,
    p50: String,
    p99: String,
    non2xx: u64,
}

fn wrk(script: &std::path::Path, url: &str, seconds: u64) -> Run {
    let out = Command::new("wrk")
        .args(["-t2", "-c64", &format!("-d{seconds}s"), "--latency", "-s"])
        .arg(script)
        .arg(url)
        .output()
        .expect("wrk (apt install wrk; scripts/testbed up installs it)");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut run = Run {
        rps: f64::NAN,
        p50: "?".into(),
        p99: "?".into(),
        non2xx: 0,
    };
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["50%", v] => run.p50 = v.to_string(),
            ["99%", v] => run.p99 = v.to_string(),
            ["Requests/sec:", v] => run.rps = v.parse().unwrap_or(f64::NAN),
            ["Non-2xx", "or", "3xx", "responses:", n] => run.non2xx = n.parse().unwrap_or(0),
            _ => {}
        }
    }
    if run.rps.is_nan() {
        eprintln!("wrk printed:\n{text}\n{}", String::from_utf8_lossy(&out.stderr));
    }
    for line in text.lines().filter(|l| l.starts_with("first non-200")) {
        println!("{line}");
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
    let Some(db) = fresh_db().await else {
        eprintln!("MariaDB: CERTDECK_TEST_MYSQL_URL is not set (scripts/testbed up; eval \"$(scripts/testbed env)\"); nothing measured");
        return;
    };
    migrate::migrate(&db).await.expect("migrate");
    let services = Services::new(
        db.clone(),
        Keyring::single(MasterKey::generate()),
        ClientInfo::default(),
    );
    certdeck::service::bootstrap::create_initial_admin(&services, "admin@localhost")
        .await
        .expect("admin");
    let admin = certdeck::store::users::get_user_by_name(&db, "admin")
        .await
        .expect("admin row")
        .expect("admin exists");
    let actor = Actor {
        user_id: admin.id,
        username: admin.username.clone(),
        role: UserRole::Admin,
        read_only: false,
    };
    let nginx_conf = std::env::var("CERTDECK_TEST_NGINX_CONF").ok();

    // The fleet of token servers and their tokens.
    let t0 = Instant::now();
    let mut tokens = Vec::with_capacity(AGENTS);
    for i in 0..AGENTS {
        let row = services
            .server_create(
                &actor,
                &ServerInput {
                    hostname: Some(format!("agent-{i}.bench.test")),
                    auth_type: Some(AuthType::Token),
                    server_type: Some(ServerType::Nginx),
                    config_root: nginx_conf.clone(),
                    ..Default::default()
                },
            )
            .await
            .expect("token server");
        let t = services.server_token(&actor, row.id, false).await.expect("token");
        tokens.push(t.token.to_string());
    }
    println!("{AGENTS} token servers made in {:.1} s", t0.elapsed().as_secs_f64());

    // The server: TLS with a throwaway certificate, no rate limits (the load is one address).
    let server = tls_server::start(services.clone()).await;
    let port = server.port;

    // wrk: each request a check-in with a random server's token.
    let list: Vec<String> = tokens.iter().map(|t| format!("\"{t}\"")).collect();
    let dir = tempfile::tempdir().expect("temp dir");
    let script = dir.path().join("checkin.lua");
    std::fs::write(
        &script,
        format!(
            "local tokens = {{{}}}\n\
             local body = '{{\"agent_version\":\"bench\",\"interval_seconds\":300,\"os_type\":\"Debian GNU/Linux\",\"os_version\":\"12\",\"server_type\":\"nginx\",\"web_server_version\":\"nginx/1.22.1\"}}'\n\
             request = function()\n\
               local t = tokens[math.random(#tokens)]\n\
               return wrk.format(\"POST\", \"/api/v1/agent/checkin\", {{[\"Authorization\"] = \"Bearer \" .. t, [\"Content-Type\"] = \"application/json\"}}, body)\n\
             end\n\
             local said = false\n\
             response = function(status, headers, body)\n\
               if status ~= 200 and not said then said = true; print(\"first non-200: \" .. status .. \" \" .. body) end\n\
             end\n",
            list.join(",")
        ),
    )
    .expect("write script");
    let url = format!("https://127.0.0.1:{port}");
    let (s2, u2) = (script.clone(), url.clone());
    let run = tokio::task::spawn_blocking(move || wrk(&s2, &u2, seconds))
        .await
        .expect("wrk ran");

    // One agent's run with no work, timed.
    let config = AgentConfig {
        url: format!("https://localhost:{port}"),
        ca: Some(server.cert_path.clone()),
        token: tokens[0].clone(),
        interval_seconds: 300,
        allowed_dirs: Vec::new(),
        test_command: None,
        reload_command: None,
    };
    let agent = Agent::new(config).expect("agent");
    let mut times = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        let sum = agent.run_once().await.expect("agent run");
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        assert!(sum.failed.is_empty());
    }
    times.sort_by(|a, b| a.total_cmp(b));
    server.stop().await;

    println!("\nAgent check-ins over TLS, {AGENTS} token servers on MariaDB, wrk -t2 -c64 -d{seconds}s");
    println!(
        "check-ins/s {:>8.0}   p50 {:>8}   p99 {:>8}   non-2xx {}",
        run.rps, run.p50, run.p99, run.non2xx
    );
    println!(
        "one agent run with no work ({}): median {:.1} ms, p90 {:.1} ms, max {:.1} ms (20 runs)",
        if nginx_conf.is_some() {
            "probe, check-in, discovery of the bed's nginx, report"
        } else {
            "probe, check-in; no nginx config set"
        },
        times[times.len() / 2],
        times[times.len() * 9 / 10],
        times[times.len() - 1]
    );
    println!("target: >= 1,000 check-ins/s");
}
