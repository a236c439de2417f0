//! The monitor prober (`engine::probe`) against the test bed's nginx. Prints figures, asserts
//! nothing about time:
//!
//! (a) 2,000 endpoints = 500 SNI names × 4 ports: one nginx site serving a wildcard certificate
//!     for `*.bench.probe.test` (ECDSA P-256 leaf + intermediate of a test CA made with rcgen) with
//!     `server_name *.bench.probe.test;` on the bed's TLS port and on 127.0.0.1:18471–18473.
//!     At each concurrency (64, 200 and 256): the wall time of `Prober::probe_many` over the 2,000
//!     targets (full probe: connect, handshake, chain capture, x509 analysis, trust check with the
//!     test root as trust bundle) and of a bare rustls baseline over the same 2,000 endpoints
//!     (tokio-rustls `TlsConnector`, one shared config with resumption disabled so every
//!     connection is a full handshake, a verifier that accepts any chain but checks the
//!     handshake signature, `buffer_unordered`); endpoints/s of each and full / baseline
//!     (target ≥ 70 %). An extra baseline row skips the handshake signature check too
//!     (a verifier that is a no-op throughout), for reference. Each figure is the median of
//!     3 runs, after one warm-up run of each.
//! (b) `openssl s_time -connect 127.0.0.1:18443 -new -time 5` (the bed's default server) and the
//!     same on 127.0.0.1:18471 (the bench's wildcard certificate), for reference: its
//!     connections/s line.
//! (c) memory for 10,000 monitors: 10,000 `ProbeTarget`s (2,500 names × 4 ports, each with its
//!     own copy of the trust bundle, as the service would hold them) and the `ProbeReport`s of a
//!     10,000-probe run at concurrency 256, kept; the process's peak RSS (VmHWM) and RSS before
//!     and after (target: peak < 100 MB).
//!
//! Needs the test bed (`scripts/testbed up nginx`; `eval "$(scripts/testbed env)"`) and root (it
//! writes a site file into the bed's sites directory and reloads nginx); without the bed it says
//! so and exits 0. The site and its certificate and key are removed (and nginx reloaded) at the
//! end, also on a panic. Note the bed's nginx runs one worker with `worker_connections 256`:
//! concurrency 256 sits at that limit, so failures there are counted and shown, not hidden.
//!
//! ```text
//! cargo bench --bench probe --features testkit
//! ```

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use certdeck::engine::probe::{ProbeReport, ProbeTarget, Prober, TlsProber};
use futures::StreamExt;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use sha2::Digest;

/// Extra listen ports of the bench's site (besides the bed's TLS port).
const EXTRA_PORTS: [u16; 3] = [18471, 18472, 18473];
/// SNI names per port for the throughput runs (× 4 ports = 2,000 endpoints).
const NAMES: usize = 500;
/// Names per port for the memory run (× 4 ports = 10,000 monitors).
const MEM_NAMES: usize = 2_500;
/// 200: just under the bed nginx's `worker_connections 256` (one worker), where 256 is at it.
const CONCURRENCIES: [usize; 3] = [64, 200, 256];
const RUNS: usize = 3;
const MEM_CONCURRENCY: usize = 256;
/// full / baseline target.
const TARGET_RATIO: f64 = 0.70;
const TARGET_MB: f64 = 100.0;
const DOMAIN: &str = "bench.probe.test";

struct Bed {
    sites: PathBuf,
    certs: PathBuf,
    port: u16,
    reload: String,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn bed() -> Option<Bed> {
    Some(Bed {
        sites: env("CERTDECK_TEST_NGINX_SITES")?.into(),
        certs: env("CERTDECK_TEST_NGINX_CERTS")?.into(),
        port: env("CERTDECK_TEST_NGINX_PORT")?.parse().ok()?,
        reload: format!("/usr/sbin/{}", env("CERTDECK_TEST_NGINX_RELOAD_CMD")?),
    })
}

/// The bench's site; its files removed and nginx reloaded on drop (also on a panic).
struct Site {
    files: Vec<PathBuf>,
    reload: String,
}

impl Drop for Site {
    fn drop(&mut self) {
        let mut removed = 0;
        for f in &self.files {
            removed += usize::from(std::fs::remove_file(f).is_ok());
        }
        let ok = Command::new("sh")
            .arg("-c")
            .arg(&self.reload)
            .status()
            .is_ok_and(|s| s.success());
        println!(
            "\ncleaned up: {removed} files (site config, certificate, key) removed, nginx reloaded{}",
            if ok { "" } else { " (reload FAILED)" }
        );
    }
}

fn sh(cmd: &str) {
    let st = Command::new("sh").arg("-c").arg(cmd).status().expect("sh");
    assert!(st.success(), "{cmd}");
}

fn offset(days: i64) -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc() + time::Duration::days(days)
}

fn ca_params(cn: &str) -> CertificateParams {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name.push(DnType::CommonName, cn);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p.not_before = offset(-30);
    p.not_after = offset(365);
    p
}

/// (root PEM, chain PEM = leaf + intermediate, leaf key PEM, leaf DER).
fn wildcard_pki() -> (String, String, String, Vec<u8>) {
    let root_key = KeyPair::generate().unwrap();
    let root_params = ca_params("certdeck probe bench root");
    let root = root_params.self_signed(&root_key).unwrap();
    let root_issuer = Issuer::new(root_params, root_key);
    let int_key = KeyPair::generate().unwrap();
    let int_params = ca_params("certdeck probe bench intermediate");
    let int = int_params.signed_by(&int_key, &root_issuer).unwrap();
    let int_issuer = Issuer::new(int_params, int_key);
    let wildcard = format!("*.{DOMAIN}");
    let mut p = CertificateParams::new(vec![wildcard.clone()]).unwrap();
    p.distinguished_name.push(DnType::CommonName, wildcard);
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    p.not_before = offset(-1);
    p.not_after = offset(90);
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = p.signed_by(&leaf_key, &int_issuer).unwrap();
    (
        root.pem(),
        format!("{}{}", leaf.pem(), int.pem()),
        leaf_key.serialize_pem(),
        leaf.der().to_vec(),
    )
}

fn make_site(bed: &Bed, chain_pem: &str, key_pem: &str) -> Site {
    let stem = "bench-probe-wildcard";
    let cert = bed.certs.join(format!("{stem}.crt"));
    let key = bed.certs.join(format!("{stem}.key"));
    let conf = bed.sites.join(format!("{stem}.conf"));
    std::fs::write(&cert, chain_pem).unwrap();
    std::fs::write(&key, key_pem).unwrap();
    sh(&format!("chmod 600 {}", key.display()));
    let mut listen = format!("  listen 127.0.0.1:{} ssl;\n", bed.port);
    for p in EXTRA_PORTS {
        listen.push_str(&format!("  listen 127.0.0.1:{p} ssl;\n"));
    }
    std::fs::write(
        &conf,
        format!(
            "# certdeck benches/probe.rs (removed when the bench ends)\nserver {{\n{listen}  server_name *.{DOMAIN};\n  ssl_certificate {c};\n  ssl_certificate_key {k};\n  location / {{ return 200 \"probe bench\\n\"; }}\n}}\n",
            c = cert.display(),
            k = key.display()
        ),
    )
    .unwrap();
    let site = Site {
        files: vec![conf, cert, key],
        reload: bed.reload.clone(),
    };
    sh(&bed.reload);
    site
}

fn ports(bed: &Bed) -> Vec<u16> {
    std::iter::once(bed.port).chain(EXTRA_PORTS).collect()
}

fn target(port: u16, sni: String, trust: &str) -> ProbeTarget {
    ProbeTarget {
        connect_host: "127.0.0.1".into(),
        port,
        sni,
        trust_pem: Some(trust.to_string()),
        connect_timeout: Duration::from_secs(5),
        handshake_timeout: Duration::from_secs(10),
        warn_days: 30,
        error_days: 7,
        resolved: None,
    }
}

/// `names` SNI names on each port, interleaved (name-major) so consecutive targets hit all ports.
fn targets(bed: &Bed, names: usize, trust: &str) -> Vec<ProbeTarget> {
    let ports = ports(bed);
    let mut v = Vec::with_capacity(names * ports.len());
    for i in 0..names {
        for &p in &ports {
            v.push(target(p, format!("m{i}.{DOMAIN}"), trust));
        }
    }
    v
}

/// Waits until every port serves the bench's leaf three probes in a row (old workers answer for
/// a moment after a reload).
async fn wait_served(bed: &Bed, root_pem: &str, leaf_der: &[u8]) {
    let want: String = sha2::Sha256::digest(leaf_der)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    for port in ports(bed) {
        let t = target(port, format!("ready.{DOMAIN}"), root_pem);
        let mut streak = 0;
        for _ in 0..100 {
            let r = prober().probe(&t).await;
            streak = if r.chain.first().is_some_and(|c| c.sha256_hex == want) && r.findings.is_empty() {
                streak + 1
            } else {
                0
            };
            if streak == 3 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(streak, 3, "nginx does not serve the bench certificate on port {port}");
    }
}

// ---------------------------------------------------------------------------------------------
// The bare rustls baseline.

/// Accepts any chain; checks the handshake signature unless `check_sig` is false.
#[derive(Debug)]
struct AcceptAny {
    provider: Arc<rustls::crypto::CryptoProvider>,
    check_sig: bool,
}

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        if !self.check_sig {
            return Ok(HandshakeSignatureValid::assertion());
        }
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        if !self.check_sig {
            return Ok(HandshakeSignatureValid::assertion());
        }
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

fn baseline_connector(check_sig: bool) -> tokio_rustls::TlsConnector {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAny { provider, check_sig }))
        .with_no_client_auth();
    // Every connection a full handshake, as the prober (a fresh config per probe) and s_time -new.
    cfg.resumption = rustls::client::Resumption::disabled();
    tokio_rustls::TlsConnector::from(Arc::new(cfg))
}

/// Connect + handshake to every target; (ok, failed).
async fn baseline(conn: &tokio_rustls::TlsConnector, targets: &[ProbeTarget], concurrency: usize) -> (usize, usize) {
    let oks: Vec<bool> = futures::stream::iter(targets)
        .map(|t| {
            let conn = conn.clone();
            async move {
                let Ok(tcp) = tokio::net::TcpStream::connect(("127.0.0.1", t.port)).await else {
                    return false;
                };
                let Ok(name) = ServerName::try_from(t.sni.clone()) else {
                    return false;
                };
                matches!(
                    tokio::time::timeout(t.handshake_timeout, conn.connect(name, tcp)).await,
                    Ok(Ok(_))
                )
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let ok = oks.iter().filter(|b| **b).count();
    (ok, oks.len() - ok)
}

/// (ok, failed, first failure summary) of a probe run.
fn tally(reports: &[ProbeReport]) -> (usize, usize, Option<String>) {
    let clean = |r: &&ProbeReport| r.findings.is_empty() && !r.chain.is_empty();
    let ok = reports.iter().filter(clean).count();
    let first = reports.iter().find(|r| !clean(r)).map(|r| r.summary());
    (ok, reports.len() - ok, first)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

// ---------------------------------------------------------------------------------------------
// Memory.

/// (VmHWM, VmRSS) in MB from /proc/self/status.
fn mem() -> (f64, f64) {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb = |key: &str| -> f64 {
        s.lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|n| n.parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    };
    (kb("VmHWM:") / 1024.0, kb("VmRSS:") / 1024.0)
}

// ---------------------------------------------------------------------------------------------
// openssl s_time.

/// s_time's connections/user sec line and its "N connections in T real seconds" line.
fn s_time_real(port: u16) -> (String, String) {
    let out = Command::new("openssl")
        .args(["s_time", "-connect", &format!("127.0.0.1:{port}"), "-new", "-time", "5"])
        .output();
    let Ok(o) = out else {
        return ("openssl not installed".into(), String::new());
    };
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    let user = text
        .lines()
        .find(|l| l.contains("connections/user sec"))
        .map(|l| l.trim().to_string())
        .unwrap_or_else(|| format!("no connections/s line (exit {})", o.status));
    let real = text
        .lines()
        .find(|l| l.contains("real seconds"))
        .map(|l| l.trim().to_string())
        .unwrap_or_default();
    (user, real)
}

/// One prober for the whole run (it keeps the trust verifiers it builds, as the services' does).
fn prober() -> &'static TlsProber {
    static P: std::sync::OnceLock<TlsProber> = std::sync::OnceLock::new();
    P.get_or_init(TlsProber::new)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (hwm0, rss0) = mem();
    let Some(bed) = bed() else {
        println!(
            "probe bench skipped: the nginx test bed is not up \
             (scripts/testbed up nginx; eval \"$(scripts/testbed env)\"; then run the bench again)"
        );
        return;
    };
    let (root_pem, chain_pem, key_pem, leaf_der) = wildcard_pki();
    let site = make_site(&bed, &chain_pem, &key_pem);
    wait_served(&bed, &root_pem, &leaf_der).await;
    let ports = ports(&bed);
    println!(
        "site: *.{DOMAIN} (ECDSA P-256 leaf + intermediate, test root as trust bundle) on 127.0.0.1 ports {ports:?}"
    );

    // ------------------------------------------------------------------ (a) throughput
    let tg = targets(&bed, NAMES, &root_pem);
    let n = tg.len();
    println!(
        "\n(a) {n} endpoints = {NAMES} SNI names × {} ports; median of {RUNS} runs after a warm-up\n",
        ports.len()
    );
    let base_sig = baseline_connector(true);
    let base_nosig = baseline_connector(false);
    struct Row {
        conc: usize,
        full: f64,
        base: f64,
        nosig: f64,
        full_fail: usize,
        base_fail: usize,
        nosig_fail: usize,
        first_fail: Option<String>,
    }
    let mut rows = Vec::new();
    for &conc in &CONCURRENCIES {
        // warm-up
        let _ = prober().probe_many(tg.clone(), conc).await;
        let _ = baseline(&base_sig, &tg, conc).await;
        let (mut full, mut base, mut nosig) = (Vec::new(), Vec::new(), Vec::new());
        let (mut full_fail, mut base_fail, mut nosig_fail) = (0, 0, 0);
        let mut first_fail = None;
        for _ in 0..RUNS {
            let t0 = Instant::now();
            let reports = prober().probe_many(tg.clone(), conc).await;
            full.push(t0.elapsed().as_secs_f64());
            let (_, f, first) = tally(&reports);
            full_fail += f;
            first_fail = first_fail.or(first);

            let t0 = Instant::now();
            let (_, f) = baseline(&base_sig, &tg, conc).await;
            base.push(t0.elapsed().as_secs_f64());
            base_fail += f;

            let t0 = Instant::now();
            let (_, f) = baseline(&base_nosig, &tg, conc).await;
            nosig.push(t0.elapsed().as_secs_f64());
            nosig_fail += f;
        }
        rows.push(Row {
            conc,
            full: median(full),
            base: median(base),
            nosig: median(nosig),
            full_fail,
            base_fail,
            nosig_fail,
            first_fail,
        });
    }
    println!(
        "{:>5} | {:>22} | {:>22} | {:>9} | {:>22}",
        "conc", "full probe_many", "baseline (sig checked)", "full/base", "baseline (no-op verif.)"
    );
    println!("{}", "-".repeat(93));
    for r in &rows {
        let eps = |s: f64| n as f64 / s;
        let ratio = eps(r.full) / eps(r.base);
        println!(
            "{:>5} | {:>7.0}/s {:>6.3} s {:>3}F | {:>7.0}/s {:>6.3} s {:>3}F | {:>6.1} % {} | {:>7.0}/s {:>6.3} s {:>3}F",
            r.conc,
            eps(r.full),
            r.full,
            r.full_fail,
            eps(r.base),
            r.base,
            r.base_fail,
            ratio * 100.0,
            if ratio >= TARGET_RATIO { "✓" } else { "✗" },
            eps(r.nosig),
            r.nosig,
            r.nosig_fail,
        );
    }
    println!(
        "(endpoints/s, median wall time for {n} endpoints, F = failed endpoints over the {RUNS} timed runs; target full ≥ {:.0} % of baseline)",
        TARGET_RATIO * 100.0
    );
    let mut failures = false;
    for r in &rows {
        if let Some(f) = &r.first_fail {
            println!("  first probe failure at concurrency {}: {f}", r.conc);
            failures = true;
        }
    }

    if failures {
        println!(
            "  (the bed's nginx has one worker with worker_connections 256: at that many connections it \
             closes some (error.log: \"worker_connections are not enough\"); failed endpoints end early)"
        );
    }

    // ------------------------------------------------------------------ (b) openssl s_time
    println!("\n(b) openssl s_time -connect 127.0.0.1:PORT -new -time 5");
    for (port, what) in [(bed.port, "bed's default server"), (EXTRA_PORTS[0], "bench wildcard")] {
        let (user, real) = s_time_real(port);
        println!("  {port} ({what}): {user}");
        if !real.is_empty() {
            println!("  {:>5} {:>width$}  {real}", "", "", width = what.len() + 3);
        }
    }

    // ------------------------------------------------------------------ (c) memory
    println!(
        "\n(c) memory for {} monitors (concurrency {MEM_CONCURRENCY})",
        MEM_NAMES * ports.len()
    );
    let (hwm1, rss1) = mem();
    let mem_targets = targets(&bed, MEM_NAMES, &root_pem);
    let (hwm2, rss2) = mem();
    let t0 = Instant::now();
    let reports = prober().probe_many(mem_targets.clone(), MEM_CONCURRENCY).await;
    let took = t0.elapsed().as_secs_f64();
    let (hwm3, rss3) = mem();
    let (ok, failed, first) = tally(&reports);
    println!("  {:<46} {:>10} {:>10}", "", "VmHWM", "VmRSS");
    println!("  {:<46} {:>7.1} MB {:>7.1} MB", "process start", hwm0, rss0);
    println!(
        "  {:<46} {:>7.1} MB {:>7.1} MB",
        "before (after (a) and (b))", hwm1, rss1
    );
    println!(
        "  {:<46} {:>7.1} MB {:>7.1} MB",
        format!("{} ProbeTargets built", mem_targets.len()),
        hwm2,
        rss2
    );
    println!(
        "  {:<46} {:>7.1} MB {:>7.1} MB",
        format!("+ {} ProbeReports kept ({ok} ok, {failed} failed)", reports.len()),
        hwm3,
        rss3
    );
    println!(
        "  the 10,000-probe run: {took:.2} s ({:.0} endpoints/s); peak RSS {hwm3:.1} MB: {} (target < {TARGET_MB:.0} MB)",
        reports.len() as f64 / took,
        if hwm3 < TARGET_MB { "✓" } else { "✗" }
    );
    if let Some(f) = first {
        println!("  first failure: {f}");
    }
    drop(reports);
    drop(mem_targets);
    drop(site);
}
