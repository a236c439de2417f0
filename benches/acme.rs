//! ACME issuance with certdeck's engine against the test bed's Pebble, and the same issuances
//! with certbot and lego for comparison. Prints figures, asserts nothing about time:
//!
//! (a) 20 certificates one after the other through dns-01: `AcmeAccount` at the BIND-backed
//!     Pebble (`CERTDECK_TEST_PEBBLE_BIND_DIRECTORY`), `Dns01Solver` over `Rfc2136` (TSIG) with
//!     the propagation check asking the bed's BIND (resolver and authoritative port);
//! (b) 20 one after the other through http-01: the challtestsrv-backed Pebble
//!     (`CERTDECK_TEST_PEBBLE_DIRECTORY`, every name resolves to 127.0.0.1) and
//!     `StandaloneHttp01` on 127.0.0.1:5002, where Pebble validates;
//! (c) 50 through dns-01 at once: one account, 50 tokio tasks (a solver each), wall time and
//!     certificates per second.
//!
//! Every certificate is for one fresh random name (under the bed's zone for dns-01) and a new
//! ECDSA P-256 key; the time of one certificate runs from generating its key to holding the
//! downloaded certificate (order, challenge published and seen, validation, finalize, download,
//! cleanup). The account is made beforehand, untimed. Median and p90 of (a) and (b).
//!
//! Then, unless `CERTDECK_BENCH_ACME_PEERS=0`, `scripts/bench-acme-peers` runs certbot and lego
//! the same way (fresh names, ECDSA P-256, same Pebbles, same BIND) and one table compares them.
//! The peers need `apt-get install certbot python3-certbot-dns-rfc2136 lego`; a missing tool is
//! reported in the table, not an error.
//!
//! The bed's Pebbles run with `PEBBLE_VA_NOSLEEP=1` (scripts/testbed): without it Pebble sleeps
//! up to 15 s before each validation and every figure here would be dominated by that sleep.
//!
//! Needs the test bed (`scripts/testbed up`; `eval "$(scripts/testbed env)"`) and port 5002 free;
//! without the bed it says so and exits 0.
//!
//! ```text
//! cargo bench --bench acme --features testkit
//! CERTDECK_BENCH_ACME_SEQ=3 CERTDECK_BENCH_ACME_CONC=5 CERTDECK_BENCH_ACME_PEERS=0 cargo bench --bench acme --features testkit
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use certdeck::engine::acme::{AcmeAccount, CertKey, KeySpec, OrderOptions};
use certdeck::engine::dns01::{Dns01Solver, Propagation};
use certdeck::engine::http01::StandaloneHttp01;
use certdeck::engine::rfc2136::Rfc2136;

/// Where Pebble validates http-01 (the bed's `httpPort`).
const HTTP01_ADDR: &str = "127.0.0.1:5002";

struct Bed {
    bind_directory: String,
    http_directory: String,
    /// The CA's trust root, PEM.
    ca_pem: String,
    rfc: Rfc2136,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn env_n(name: &str, default: usize) -> usize {
    env(name).and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn bed() -> Option<Bed> {
    Some(Bed {
        bind_directory: env("CERTDECK_TEST_PEBBLE_BIND_DIRECTORY")?,
        http_directory: env("CERTDECK_TEST_PEBBLE_DIRECTORY")?,
        ca_pem: std::fs::read_to_string(env("CERTDECK_TEST_PEBBLE_CA")?).ok()?,
        rfc: Rfc2136 {
            server: env("CERTDECK_TEST_BIND_ADDR")?.parse().ok()?,
            zone: env("CERTDECK_TEST_BIND_ZONE")?,
            key_name: env("CERTDECK_TEST_TSIG_NAME")?,
            algorithm: env("CERTDECK_TEST_TSIG_ALGORITHM")?,
            secret_b64: zeroize::Zeroizing::new(env("CERTDECK_TEST_TSIG_SECRET")?),
            ttl: 60,
        },
    })
}

impl Bed {
    fn solver(&self) -> Dns01Solver {
        Dns01Solver::new(
            Box::new(self.rfc.clone()),
            Propagation {
                resolvers: vec![self.rfc.server],
                authoritative_port: self.rfc.server.port(),
                timeout: Duration::from_secs(60),
                ..Propagation::default()
            },
            None,
        )
    }

    fn dns_name(&self, tag: &str, i: usize) -> String {
        format!("b{i}-{tag}-{:06x}.{}", rand::random::<u32>() & 0xff_ffff, self.rfc.zone)
    }
}

/// Summary of one series: seconds of the successful issuances, and the failures.
#[derive(Default, Clone)]
struct Series {
    secs: Vec<f64>,
    failed: usize,
    first_error: Option<String>,
}

impl Series {
    fn record(&mut self, r: Result<f64, String>) {
        match r {
            Ok(s) => self.secs.push(s),
            Err(e) => {
                self.failed += 1;
                self.first_error.get_or_insert(e);
            }
        }
    }
}

fn quantile(v: &[f64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.partial_cmp(b).unwrap());
    // nearest rank
    let rank = ((q * s.len() as f64).ceil() as usize).clamp(1, s.len());
    s[rank - 1]
}

async fn issue_one(
    account: &AcmeAccount,
    domain: String,
    solver: &dyn certdeck::engine::acme::Solver,
) -> Result<f64, String> {
    let t = Instant::now();
    let key = CertKey::generate(KeySpec::EcP256).map_err(|e| e.to_string())?;
    let issued = account
        .issue(
            std::slice::from_ref(&domain),
            &key,
            solver,
            &OrderOptions::default(),
            &|_| {},
        )
        .await
        .map_err(|e| format!("{domain}: {e}"))?;
    let secs = t.elapsed().as_secs_f64();
    if !issued.cert_pem.contains("BEGIN CERTIFICATE") {
        return Err(format!("{domain}: no certificate in the answer"));
    }
    Ok(secs)
}

fn line(label: &str, s: &Series, n: usize) {
    let ok = s.secs.len();
    println!(
        "    {label}: {ok}/{n} issued  median {:.3} s  p90 {:.3} s  min {:.3} s  max {:.3} s",
        quantile(&s.secs, 0.5),
        quantile(&s.secs, 0.9),
        s.secs.iter().copied().fold(f64::INFINITY, f64::min),
        s.secs.iter().copied().fold(0.0, f64::max),
    );
    if let Some(e) = &s.first_error {
        println!("      first failure: {e}");
    }
}

/// One row of the peers' results, as `scripts/bench-acme-peers` prints them:
/// `result <tool> <challenge> <ok> <n> <median> <p90> <mean>` (seconds, `-` when none succeeded).
struct PeerRow {
    tool: String,
    challenge: String,
    ok: usize,
    n: usize,
    median: String,
    p90: String,
    mean: String,
}

fn run_peers(n: usize) -> (Vec<PeerRow>, Vec<String>) {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/bench-acme-peers");
    let out = std::process::Command::new(&script)
        .arg(n.to_string())
        .stderr(std::process::Stdio::inherit())
        .output();
    let out = match out {
        Ok(o) => o,
        Err(e) => return (Vec::new(), vec![format!("{}: {e}", script.display())]),
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let mut rows = Vec::new();
    let mut notes = Vec::new();
    for l in text.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        match f.first() {
            Some(&"result") if f.len() >= 7 => rows.push(PeerRow {
                tool: f[1].into(),
                challenge: f[2].into(),
                ok: f[3].parse().unwrap_or(0),
                n: f[4].parse().unwrap_or(0),
                median: f[5].into(),
                p90: f[6].into(),
                mean: f.get(7).unwrap_or(&"-").to_string(),
            }),
            Some(&"note") | Some(&"version") => notes.push(l.to_string()),
            _ => {}
        }
    }
    if !out.status.success() {
        notes.push(format!("note {} exited with {}", script.display(), out.status));
    }
    (rows, notes)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let Some(bed) = bed() else {
        println!(
            "acme bench skipped: Pebble / BIND of the test bed are not up \
             (scripts/testbed up; eval \"$(scripts/testbed env)\"; then run the bench again)"
        );
        return;
    };
    let n_seq = env_n("CERTDECK_BENCH_ACME_SEQ", 20);
    let n_conc = env_n("CERTDECK_BENCH_ACME_CONC", 50);
    let peers = env("CERTDECK_BENCH_ACME_PEERS").as_deref() != Some("0");
    let tag = format!("{:06x}", rand::random::<u32>() & 0xff_ffff);
    println!("ACME issuance bench (certdeck engine, ECDSA P-256, one fresh name per certificate, tag {tag})");
    println!(
        "  dns-01: {} + RFC 2136 to {} (zone {}, TSIG {} {})",
        bed.bind_directory, bed.rfc.server, bed.rfc.zone, bed.rfc.key_name, bed.rfc.algorithm
    );
    println!(
        "  http-01: {} + standalone responder on {HTTP01_ADDR}",
        bed.http_directory
    );

    let t = Instant::now();
    let (dns_account, _) = AcmeAccount::create(
        &bed.bind_directory,
        &["bench@example.test".into()],
        None,
        Some(bed.ca_pem.as_str()),
    )
    .await
    .expect("account at the BIND-backed Pebble");
    let (http_account, _) = AcmeAccount::create(
        &bed.http_directory,
        &["bench@example.test".into()],
        None,
        Some(bed.ca_pem.as_str()),
    )
    .await
    .expect("account at the challtestsrv-backed Pebble");
    println!(
        "  two accounts made in {:.2} s (not counted)",
        t.elapsed().as_secs_f64()
    );

    // Warm-up (not counted): one of each, so first-use costs (TLS sessions, lazy statics) stay out.
    let solver = bed.solver();
    issue_one(&dns_account, bed.dns_name(&tag, 9999), &solver)
        .await
        .expect("warm-up dns-01 issuance");
    let responder = StandaloneHttp01::bind(HTTP01_ADDR.parse::<SocketAddr>().unwrap())
        .await
        .unwrap_or_else(|e| panic!("{e} (a test or certbot/lego holds the port?)"));
    issue_one(&http_account, format!("w-{tag}.bench.test"), &responder)
        .await
        .expect("warm-up http-01 issuance");

    // One more of each, not counted: when each step of the engine was reported, to see where
    // the time of a certificate goes (the engine polls the order with a 50 ms, ×2 backoff).
    for (label, account, solver, name) in [
        (
            "dns-01",
            &dns_account,
            &solver as &dyn certdeck::engine::acme::Solver,
            bed.dns_name(&tag, 9998),
        ),
        (
            "http-01",
            &http_account,
            &responder as &dyn certdeck::engine::acme::Solver,
            format!("s-{tag}.bench.test"),
        ),
    ] {
        let t = Instant::now();
        let steps = std::sync::Mutex::new(Vec::new());
        let key = CertKey::generate(KeySpec::EcP256).expect("key");
        let keyed = t.elapsed().as_secs_f64();
        account
            .issue(&[name], &key, solver, &OrderOptions::default(), &|s| {
                steps.lock().unwrap().push((t.elapsed().as_secs_f64(), s))
            })
            .await
            .expect("timeline issuance");
        let total = t.elapsed().as_secs_f64();
        println!(
            "  {label} timeline of one certificate (not counted): key {:.0} ms",
            keyed * 1000.0
        );
        for (at, s) in steps.into_inner().unwrap() {
            let s: String = s.chars().take(90).collect();
            println!("    {:>7.0} ms  {s}", at * 1000.0);
        }
        println!("    {:>7.0} ms  (returned)", total * 1000.0);
    }

    // ------------------------------------------------------------------ (a) dns-01, sequential
    println!("\n(a) {n_seq} certificates one after the other, dns-01 through RFC 2136:");
    let mut dns_seq = Series::default();
    for i in 0..n_seq {
        // a solver per certificate, as the service makes one per order
        let solver = bed.solver();
        dns_seq.record(issue_one(&dns_account, bed.dns_name(&tag, i), &solver).await);
    }
    line("certdeck dns-01", &dns_seq, n_seq);

    // ------------------------------------------------------------------ (b) http-01, sequential
    println!("\n(b) {n_seq} certificates one after the other, http-01 (standalone responder):");
    let mut http_seq = Series::default();
    for i in 0..n_seq {
        let name = format!("h{i}-{tag}-{:06x}.bench.test", rand::random::<u32>() & 0xff_ffff);
        http_seq.record(issue_one(&http_account, name, &responder).await);
    }
    line("certdeck http-01", &http_seq, n_seq);
    drop(responder);
    tokio::time::sleep(Duration::from_millis(100)).await; // the port is free for the peers

    // ------------------------------------------------------------------ (c) dns-01, concurrent
    println!("\n(c) {n_conc} certificates at once, dns-01 through RFC 2136, one account, {n_conc} tokio tasks:");
    let account = Arc::new(dns_account);
    let bed = Arc::new(bed);
    let t0 = Instant::now();
    let tasks: Vec<_> = (0..n_conc)
        .map(|i| {
            let account = account.clone();
            let bed = bed.clone();
            let name = bed.dns_name(&format!("c{tag}"), i);
            tokio::spawn(async move {
                let solver = bed.solver();
                issue_one(&account, name, &solver).await
            })
        })
        .collect();
    let mut conc = Series::default();
    for t in tasks {
        conc.record(t.await.unwrap_or_else(|e| Err(format!("task: {e}"))));
    }
    let wall = t0.elapsed().as_secs_f64();
    let rate = conc.secs.len() as f64 / wall;
    println!(
        "    certdeck dns-01 ×{n_conc}: {}/{n_conc} issued in {wall:.2} s wall = {rate:.2} certificates/s; \
         per certificate: median {:.2} s, p90 {:.2} s, max {:.2} s",
        conc.secs.len(),
        quantile(&conc.secs, 0.5),
        quantile(&conc.secs, 0.9),
        conc.secs.iter().copied().fold(0.0, f64::max)
    );
    if let Some(e) = &conc.first_error {
        println!("      first failure: {e} ({} failed)", conc.failed);
    }

    // ------------------------------------------------------------------ (d) certbot and lego
    let (peer_rows, notes) = if peers {
        println!("\n(d) certbot and lego, {n_seq} certificates each way (scripts/bench-acme-peers):");
        tokio::task::spawn_blocking(move || run_peers(n_seq))
            .await
            .expect("peers")
    } else {
        (
            Vec::new(),
            vec!["note peers skipped (CERTDECK_BENCH_ACME_PEERS=0)".to_string()],
        )
    };

    // ------------------------------------------------------------------ the table
    println!("\nSeconds per certificate (wall clock, sequential; certbot/lego: one process per certificate;");
    println!("lego-pi0: RFC2136_POLLING_INTERVAL=0, lego: its default 2 s, slept once before the first check)");
    println!(
        "  {:<10} {:<9} {:>7} {:>9} {:>9} {:>9}",
        "client", "challenge", "issued", "median s", "p90 s", "mean s"
    );
    let row = |tool: &str, ch: &str, s: &Series, n: usize| {
        println!(
            "  {:<10} {:<9} {:>7} {:>9.3} {:>9.3} {:>9.3}",
            tool,
            ch,
            format!("{}/{n}", s.secs.len()),
            quantile(&s.secs, 0.5),
            quantile(&s.secs, 0.9),
            s.secs.iter().sum::<f64>() / s.secs.len() as f64
        )
    };
    row("certdeck", "dns-01", &dns_seq, n_seq);
    row("certdeck", "http-01", &http_seq, n_seq);
    for r in &peer_rows {
        println!(
            "  {:<10} {:<9} {:>7} {:>9} {:>9} {:>9}",
            r.tool,
            r.challenge,
            format!("{}/{}", r.ok, r.n),
            r.median,
            r.p90,
            r.mean
        );
    }
    println!(
        "  concurrent: certdeck dns-01 ×{n_conc}, one account: {}/{n_conc} in {wall:.2} s = {rate:.2} certificates/s",
        conc.secs.len()
    );
    for n in notes {
        println!("  {n}");
    }
}
