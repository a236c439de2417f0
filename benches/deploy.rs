//! Deploy one certificate to 20 server entries as one group, on the test bed's sshd and nginx.
//! Prints, asserts nothing about time:
//!
//! (a) the group: 20 server entries (all the bed's sshd, distinct deploy paths, one nginx site
//!     each) in one group, one managed certificate whose SANs cover the 20 names; the timed part
//!     is `deploy_enqueue(.., DeployTarget::Group(..))` + `task_run_here` (upload, back up, swap,
//!     one config test, one reload, 20 verifying handshakes). 5 runs, alternating between two
//!     certificates so each run really changes the served serial; every site is checked to serve
//!     the new serial after each run (untimed). min / median / max of the wall time, and the
//!     per-entry `ms` of the task result (target: the group in under 3 s). Then, not counted:
//!     one more run with the task log polled every 5 ms and the first site handshaken every
//!     10 ms (a timeline: staging, config test, reload, verification, bookkeeping), and the
//!     pieces of one entry's step timed alone (SSH connect, first channel, exec, SFTP, a log line);
//! (b) the same change by hand on one host with OpenSSH tools, as an operator would do it:
//!     scp of the certificate and key to temporary names, `ssh mv -f`, `ssh sudo -n nginx -t`,
//!     `ssh sudo -n nginx -s reload`, then `openssl s_client` until the new serial is served;
//!     median of 5 runs, and 20 × that for comparison.
//!
//! Needs the test bed (`scripts/testbed up`; `eval "$(scripts/testbed env)"`) and root (it writes
//! nginx site files and reloads nginx directly); without the bed it says so and exits 0. It
//! shares the bed's nginx with tests/ssh_deploy.rs: run it alone (a test's deliberately broken
//! site makes a reload here fail). Its sites and files are removed at the end, also on a panic.
//!
//! ```text
//! cargo bench --bench deploy --features testkit
//! ```

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use certdeck::crypto::{Keyring, MasterKey};
use certdeck::domain::certpem::serial_hex;
use certdeck::domain::{AuthType, LogLevel, PrivilegeMode, ServerType, TaskStatus, UserRole};
use certdeck::engine::tls_peek;
use certdeck::service::certificates::{DeploymentInput, ImportInput};
use certdeck::service::deploy::DeployTarget;
use certdeck::service::servers::ServerInput;
use certdeck::service::tasks::Runners;
use certdeck::service::users::UserInput;
use certdeck::service::{Actor, ClientInfo, Services};
use certdeck::store::{migrate, Db, PoolSettings};

/// Server entries (and nginx sites) in the group.
const ENTRIES: usize = 20;
/// Timed group deploys.
const RUNS: usize = 5;
/// Timed hand-run deploys to one host.
const HAND_RUNS: usize = 5;
/// The group's target wall time.
const TARGET_S: f64 = 3.0;

/// The test bed's sshd and nginx, from `scripts/testbed env`.
struct Bed {
    host: String,
    port: u16,
    user: String,
    key: String,
    host_fp: String,
    conf: String,
    sites: PathBuf,
    certs: PathBuf,
    tls_port: u16,
    test_cmd: String,
    reload_cmd: String,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn bed() -> Option<Bed> {
    Some(Bed {
        host: env("CERTDECK_TEST_SSH_HOST")?,
        port: env("CERTDECK_TEST_SSH_PORT")?.parse().ok()?,
        user: env("CERTDECK_TEST_SSH_USER")?,
        key: env("CERTDECK_TEST_SSH_KEY")?,
        host_fp: env("CERTDECK_TEST_SSH_HOSTKEY_SHA256")?,
        conf: env("CERTDECK_TEST_NGINX_CONF")?,
        sites: env("CERTDECK_TEST_NGINX_SITES")?.into(),
        certs: env("CERTDECK_TEST_NGINX_CERTS")?.into(),
        tls_port: env("CERTDECK_TEST_NGINX_PORT")?.parse().ok()?,
        test_cmd: env("CERTDECK_TEST_NGINX_TEST_CMD")?,
        reload_cmd: env("CERTDECK_TEST_NGINX_RELOAD_CMD")?,
    })
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let Some(bed) = bed() else {
        println!(
            "deploy bench skipped: the sshd/nginx test bed is not up \
             (scripts/testbed up; eval \"$(scripts/testbed env)\"; then run the bench again)"
        );
        return;
    };
    let tag = format!("{:08x}", rand::random::<u32>());
    let names: Vec<String> = (0..ENTRIES).map(|i| format!("b{i}-{tag}.bench.test")).collect();

    // ------------------------------------------------------------------ setup (not timed)
    let t_setup = Instant::now();
    let mut sites = Sites {
        list: Vec::new(),
        reload: format!("/usr/sbin/{}", bed.reload_cmd),
    };
    for name in &names {
        let (c, k) = make_cert(std::slice::from_ref(name));
        sites.list.push(make_site(&bed, name, &c, &k));
    }
    sh(&sites.reload);
    for s in &sites.list {
        wait_served(bed.tls_port, &s.name, &s.old_serial).await;
    }

    let dir = tempfile::tempdir().expect("temp dir");
    let db = Db::connect(
        &format!("sqlite://{}", dir.path().join("certdeck.db").display()),
        &PoolSettings::default(),
    )
    .await
    .expect("open SQLite");
    migrate::migrate(&db).await.expect("migrate");
    let svc = Services::new(
        db.clone(),
        Keyring::single(MasterKey::generate()),
        ClientInfo::default(),
    );
    let (row, _) = svc
        .user_create(
            None,
            &UserInput {
                username: "ops".into(),
                email: "ops@example.com".into(),
                password: Some("correct horse battery".into()),
                role: UserRole::Admin,
                ..Default::default()
            },
        )
        .await
        .expect("create the admin");
    let a = Actor {
        user_id: row.id,
        username: row.username.clone(),
        role: row.role,
        read_only: false,
    };

    let private_key = std::fs::read_to_string(&bed.key).expect("read the bed's ed25519 key");
    let group = svc
        .group_create(&a, &format!("bench-{tag}"), None)
        .await
        .expect("group");
    let mut servers = Vec::new();
    for i in 0..ENTRIES {
        let input = ServerInput {
            name: Some(format!("bench-{i}-{tag}")),
            hostname: Some(bed.host.clone()),
            port: Some(i64::from(bed.port)),
            server_type: Some(ServerType::Nginx),
            username: Some(bed.user.clone()),
            auth_type: Some(AuthType::Key),
            private_key: Some(private_key.clone()),
            privilege_mode: Some(PrivilegeMode::Sudo),
            test_command: Some(bed.test_cmd.clone()),
            reload_command: Some(bed.reload_cmd.clone()),
            config_root: Some(bed.conf.clone()),
            verify_port: Some(i64::from(bed.tls_port)),
            ..Default::default()
        };
        let srv = svc.server_create(&a, &input).await.expect("add server");
        svc.server_trust_host_key(&a, srv.id, &bed.host_fp)
            .await
            .expect("trust the host key");
        svc.group_add_server(&a, group.id, srv.id)
            .await
            .expect("join the group");
        servers.push(srv.id);
    }
    // Two managed certificates for all 20 names, each bound to the 20 entries.
    let mut managed = Vec::new();
    for _ in 0..2 {
        let (c, k) = make_cert(&names);
        let id = svc
            .cert_import(
                &a,
                &ImportInput {
                    certificate: c.as_bytes().to_vec(),
                    private_key: k.as_bytes().to_vec(),
                    ..Default::default()
                },
            )
            .await
            .expect("import")
            .id;
        for (site, srv) in sites.list.iter().zip(&servers) {
            svc.deployment_create_with(
                &a,
                id,
                *srv,
                &DeploymentInput {
                    deploy_path: site.cert.display().to_string(),
                    key_path: Some(site.key.display().to_string()),
                    verify_sni: Some(site.name.clone()),
                    verify_port: Some(i64::from(bed.tls_port)),
                    ..Default::default()
                },
            )
            .await
            .expect("deployment");
        }
        managed.push((id, pem_serial(&c), c, k));
    }
    println!(
        "set up {ENTRIES} nginx sites, {ENTRIES} server entries on {}:{} in one group, 2 certificates × {ENTRIES} deployments in {:.1} s",
        bed.host,
        bed.port,
        t_setup.elapsed().as_secs_f64()
    );

    // ------------------------------------------------------------------ (a) the group deploy
    let g = Group {
        svc: &svc,
        a: &a,
        id: group.id,
        sites: &sites.list,
        port: bed.tls_port,
    };
    let mut walls = Vec::new();
    let mut entry_ms = Vec::new();
    let mut steps = Vec::new();
    let mut tails = Vec::new();
    println!("\n(a) group deploy of one certificate to {ENTRIES} entries, {RUNS} runs:");
    for run in 0..RUNS {
        let (cert, serial, _, _) = &managed[run % 2];
        let (wall, ms) = g.deploy(*cert, serial, &format!("run {}", run + 1)).await;
        // The entries of one physical host run one after the other and each `ms` runs from the
        // entry's start to the end of the group: the drop from one entry to the next is what the
        // entry itself took (connect, auth, SFTP, execs); the last one adds the shared tail.
        let run_steps: Vec<f64> = ms.windows(2).map(|w| w[0] - w[1]).collect();
        let tail = ms[ms.len() - 1];
        println!(
            "    run {}: {:.2} s  serial {}  entry ms: median {:.0} (max {:.0}, last {:.0})  step per entry: median {:.0} ms",
            run + 1,
            wall,
            short(serial),
            median(&ms),
            ms.iter().copied().fold(0.0, f64::max),
            tail,
            median(&run_steps)
        );
        walls.push(wall);
        entry_ms.extend(ms);
        steps.extend(run_steps);
        tails.push(tail);
    }
    // The index in `managed` of the certificate the sites serve now.
    let mut served = (RUNS - 1) % 2;

    // One more run, not counted, to see where the time goes: the task's log lines are polled
    // from the database every 5 ms (their stored times have whole seconds only) and the first
    // site is handshaken every 10 ms throughout. The polling costs some CPU.
    served = (served + 1) % 2;
    let (cert, serial, _, _) = &managed[served];
    let stop = Arc::new(AtomicBool::new(false));
    let t0 = Instant::now();
    let tls = tokio::spawn(first_served(
        bed.tls_port,
        sites.list[0].name.clone(),
        serial.clone(),
        t0,
        stop.clone(),
    ));
    let logs = tokio::spawn(watch_log(db.clone(), t0, stop.clone()));
    let (wall, _) = g.deploy(*cert, serial, "diagnostic run").await;
    stop.store(true, Ordering::Relaxed);
    let (seen, old_until) = tls.await.expect("handshake watcher");
    let lines = logs.await.expect("log watcher");
    let at = |needle: &str, last: bool| {
        let mut it = lines.iter().filter(|(_, m)| m.contains(needle)).map(|(t, _)| *t);
        if last {
            it.next_back()
        } else {
            it.next()
        }
    };
    let fmt = |t: Option<f64>| t.map_or("?".to_string(), |t| format!("{t:.3} s"));
    println!("    diagnostic run (not counted): {wall:.2} s; seen from the task log (5 ms polls) and a TLS watcher:");
    println!(
        "      first upload {} · first swap {} · last swap {} ({ENTRIES} entries one after the other)",
        fmt(at("uploaded", false)),
        fmt(at("swapped into", false)),
        fmt(at("swapped into", true))
    );
    println!(
        "      config test ok {} · reload ok {} · watcher (site 1, every 10 ms): new serial first served {}, \
         old one still served now and then until {}",
        fmt(at("config test ok", false)),
        fmt(at("reload ok", false)),
        fmt(seen),
        fmt(old_until)
    );
    println!(
        "      first entry recorded deployed {} · last {} · task done {wall:.3} s  \
         (verify = reload ok → first; then per entry: prune backups exec + outcome + log line)",
        fmt(at("is served", false)),
        fmt(at("is served", true))
    );

    // The pieces of an entry's step, on the first entry (not counted): SSH connect (TCP, key
    // exchange, key auth); the first channel on the new connection (an exec of `true` on half of
    // the connections, the SFTP channel with a stat on the other half: the deploy opens SFTP
    // first); then, on the open connection, an exec of `true`, an exec of a file command (cp + rm,
    // as the backup and the swap are), an SFTP channel with a stat and an SFTP upload of the
    // certificate (create, write, close, chmod); and one task log line written to the SQLite
    // database (the deploy logs several per entry).
    let srv = svc.server_get(&a, servers[0]).await.expect("server");
    let cert_path = sites.list[0].cert.display().to_string();
    let scratch = format!("{cert_path}.bench-piece");
    let (mut connect, mut first_exec, mut first_sftp) = (Vec::new(), Vec::new(), Vec::new());
    let (mut builtin, mut filecmd, mut sftp, mut upload, mut logline) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let ms_since = |t: Instant| t.elapsed().as_secs_f64() * 1000.0;
    for i in 0..10 {
        let t = Instant::now();
        let session = svc.ssh_connect(&srv).await.expect("connect");
        connect.push(ms_since(t));
        let t = Instant::now();
        if i % 2 == 0 {
            session.run("true").await.expect("exec");
            first_exec.push(ms_since(t));
        } else {
            let f = session.sftp().await.expect("sftp");
            f.stat(&cert_path).await.expect("stat");
            first_sftp.push(ms_since(t));
        }
        let t = Instant::now();
        session.run("true").await.expect("exec");
        builtin.push(ms_since(t));
        let t = Instant::now();
        session
            .run(&format!("cp -p {cert_path} {scratch} && rm -f {scratch}"))
            .await
            .expect("exec");
        filecmd.push(ms_since(t));
        let t = Instant::now();
        let f = session.sftp().await.expect("sftp");
        f.stat(&cert_path).await.expect("stat");
        sftp.push(ms_since(t));
        let t = Instant::now();
        f.write(&scratch, managed[0].2.as_bytes(), 0o644).await.expect("upload");
        upload.push(ms_since(t));
        f.remove(&scratch).await.expect("remove");
        drop(f);
        session.close().await;
    }
    let last_task: i64 = match &db {
        Db::Sqlite(p) => sqlx::query_scalar("SELECT MAX(id) FROM tasks")
            .fetch_one(p)
            .await
            .expect("task id"),
        Db::MySql(_) => unreachable!("the bench runs on SQLite"),
    };
    for _ in 0..20 {
        let t = Instant::now();
        certdeck::store::queue::system_log(&db, last_task, LogLevel::Info, "bench: timing one log line")
            .await
            .expect("log line");
        logline.push(ms_since(t));
    }
    println!(
        "    pieces (medians, not counted): SSH connect + key auth {:.1} ms; first channel on a new connection: \
         exec `true` {:.1} ms, SFTP + stat {:.1} ms;",
        median(&connect),
        median(&first_exec),
        median(&first_sftp)
    );
    println!(
        "      later on the connection: exec `true` {:.1} ms, exec cp + rm {:.1} ms, SFTP channel + stat {:.1} ms, \
         SFTP upload {:.1} ms; one task log line (SQLite) {:.1} ms",
        median(&builtin),
        median(&filecmd),
        median(&sftp),
        median(&upload),
        median(&logline)
    );

    // ------------------------------------------------------------------ (b) by hand, one host
    println!(
        "\n(b) by hand on one host (scp + ssh mv + ssh nginx -t + ssh reload + openssl s_client), {HAND_RUNS} runs:"
    );
    let site = &sites.list[0];
    let stage = tempfile::tempdir().expect("temp dir");
    let mut hand = Vec::new();
    for run in 0..HAND_RUNS {
        // The certificate the site does not serve now.
        served = (served + 1) % 2;
        let (_, serial, c, k) = &managed[served];
        let secs = by_hand(&bed, site, stage.path(), c, k, serial);
        println!("    run {}: {secs:.2} s  serial {}", run + 1, short(serial));
        hand.push(secs);
    }

    // ------------------------------------------------------------------ summary
    let (wmin, wmed, wmax) = (
        walls.iter().copied().fold(f64::INFINITY, f64::min),
        median(&walls),
        walls.iter().copied().fold(0.0, f64::max),
    );
    let hand_med = median(&hand);
    println!(
        "\nsummary (certdeck {} on {}:{}):",
        env!("CARGO_PKG_VERSION"),
        bed.host,
        bed.port
    );
    println!("    group of {ENTRIES}: median {wmed:.2} s ({wmin:.2} .. {wmax:.2})");
    println!(
        "    per host (certdeck, inside the group): median {:.0} ms (task result ms: entry start → group end)",
        median(&entry_ms)
    );
    println!(
        "        own step per entry (connect + auth + SFTP + execs): median {:.0} ms; shared tail (last entry: its step + test + reload + {ENTRIES} handshakes + bookkeeping): median {:.0} ms",
        median(&steps),
        median(&tails)
    );
    println!(
        "        group wall / {ENTRIES}: {:.0} ms per entry",
        wmed * 1000.0 / ENTRIES as f64
    );
    println!(
        "    by hand, one host: median {hand_med:.2} s → {ENTRIES} hosts ≈ {:.1} s",
        hand_med * ENTRIES as f64
    );
    println!(
        "    target < {TARGET_S:.0} s: {}",
        if wmed < TARGET_S { "met" } else { "not met" }
    );

    db.close().await;
    drop(sites);
}

// ---------------------------------------------------------------------------------------------
// The group deploy.

/// The bench's group and what its deploys are checked against.
struct Group<'a> {
    svc: &'a Services,
    a: &'a Actor,
    id: i64,
    sites: &'a [Site],
    port: u16,
}

impl Group<'_> {
    /// Enqueues the group deploy of `cert` and runs it here (timed); checks that it completed
    /// and that every site serves `serial` (untimed). Returns the wall seconds and each entry's
    /// `ms` from the task result.
    async fn deploy(&self, cert: i64, serial: &str, what: &str) -> (f64, Vec<f64>) {
        let (svc, a) = (self.svc, self.a);
        let t0 = Instant::now();
        let task = svc
            .deploy_enqueue(a, cert, DeployTarget::Group(self.id))
            .await
            .expect("enqueue");
        let ran = svc.task_run_here(a, task.id, &Runners::builtin()).await.expect("run");
        let wall = t0.elapsed().as_secs_f64();
        assert!(ran.is_some(), "{what}: the task ran here");
        let d = svc.task_get(a, task.id).await.expect("task");
        assert_eq!(
            d.task.status,
            TaskStatus::Completed,
            "{what}: {:?}",
            d.task.error_message
        );
        for s in self.sites {
            let got = served_serial(self.port, &s.name).await;
            assert_eq!(got, serial, "{what}: {} serves the new serial", s.name);
        }
        let result = d.task.result.as_ref().map(|j| j.0.clone()).unwrap_or_default();
        let ms: Vec<f64> = result["hosts"]
            .as_array()
            .map(|hs| hs.iter().filter_map(|h| h["ms"].as_f64()).collect())
            .unwrap_or_default();
        assert_eq!(ms.len(), ENTRIES, "{what}: one result per entry: {result}");
        (wall, ms)
    }
}

/// Handshakes with `sni` every 10 ms until `stop` is set: the seconds from `t0` at which
/// `serial` was first served, and the last time after that at which another serial still was
/// (nginx's old and new workers both accept for a while after a reload).
async fn first_served(
    port: u16,
    sni: String,
    serial: String,
    t0: Instant,
    stop: Arc<AtomicBool>,
) -> (Option<f64>, Option<f64>) {
    let (mut first_new, mut last_old) = (None, None);
    while !stop.load(Ordering::Relaxed) {
        if let Ok(der) = tls_peek::served_leaf("127.0.0.1", port, &sni, Duration::from_secs(5)).await {
            let t = t0.elapsed().as_secs_f64();
            if serial_hex(&der).as_deref() == Some(serial.as_str()) {
                first_new.get_or_insert(t);
            } else if first_new.is_some() {
                last_old = Some(t);
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    (first_new, last_old)
}

/// The task log lines written from now on, each with the seconds from `t0` at which a 5 ms
/// poll first saw it; until `stop` is set (one last poll then).
async fn watch_log(db: Db, t0: Instant, stop: Arc<AtomicBool>) -> Vec<(f64, String)> {
    let Db::Sqlite(p) = db else {
        unreachable!("the bench runs on SQLite")
    };
    let mut after: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM task_logs")
        .fetch_one(&p)
        .await
        .expect("task_logs");
    let mut seen = Vec::new();
    loop {
        let done = stop.load(Ordering::Relaxed);
        let rows: Vec<(i64, String)> = sqlx::query_as("SELECT id, message FROM task_logs WHERE id > ? ORDER BY id")
            .bind(after)
            .fetch_all(&p)
            .await
            .expect("task_logs");
        let t = t0.elapsed().as_secs_f64();
        for (id, m) in rows {
            after = id;
            seen.push((t, m));
        }
        if done {
            return seen;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// The hand-run deploy.

fn ssh_opts(bed: &Bed) -> Vec<String> {
    [
        "-i",
        &bed.key,
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "BatchMode=yes",
        "-o",
        "LogLevel=ERROR",
    ]
    .iter()
    .map(ToString::to_string)
    .collect()
}

fn run_ok(cmd: &mut Command, what: &str) {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

fn ssh(bed: &Bed, remote: &str) {
    run_ok(
        Command::new("ssh")
            .args(ssh_opts(bed))
            .arg("-p")
            .arg(bed.port.to_string())
            .arg(format!("{}@{}", bed.user, bed.host))
            .arg(remote),
        &format!("ssh {remote}"),
    );
}

/// One deploy of `cert`/`key` to `site` by hand; returns the seconds it took.
fn by_hand(bed: &Bed, site: &Site, stage: &Path, cert: &str, key: &str, serial: &str) -> f64 {
    let file = |p: &Path| p.file_name().unwrap().to_string_lossy().to_string();
    let (cert_new, key_new) = (
        format!("{}.hand-new", file(&site.cert)),
        format!("{}.hand-new", file(&site.key)),
    );
    std::fs::write(stage.join(&cert_new), cert).unwrap();
    std::fs::write(stage.join(&key_new), key).unwrap();
    let certs = bed.certs.display().to_string();
    let t0 = Instant::now();
    run_ok(
        Command::new("scp")
            .args(ssh_opts(bed))
            .arg("-q")
            .arg("-P")
            .arg(bed.port.to_string())
            .arg(stage.join(&cert_new))
            .arg(stage.join(&key_new))
            .arg(format!("{}@{}:{certs}/", bed.user, bed.host)),
        "scp",
    );
    ssh(
        bed,
        &format!(
            "chmod 600 {certs}/{key_new} && mv -f {certs}/{cert_new} {} && mv -f {certs}/{key_new} {}",
            site.cert.display(),
            site.key.display()
        ),
    );
    ssh(bed, &format!("sudo -n {}", bed.test_cmd));
    ssh(bed, &format!("sudo -n {}", bed.reload_cmd));
    // Handshake until the new serial is served.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = Command::new("openssl")
            .args(["s_client", "-connect"])
            .arg(format!("127.0.0.1:{}", bed.tls_port))
            .arg("-servername")
            .arg(&site.name)
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .expect("openssl s_client");
        let got = certdeck::domain::certpem::certificates_der(&out.stdout)
            .ok()
            .and_then(|v| v.into_iter().next())
            .and_then(|der| serial_hex(&der));
        if got.as_deref() == Some(serial) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} never served {serial} (by hand)",
            site.name
        );
        std::thread::sleep(Duration::from_millis(25));
    }
    t0.elapsed().as_secs_f64()
}

// ---------------------------------------------------------------------------------------------
// Sites on the bed's nginx.

/// One nginx site of the bench: its config and the certificate and key it serves.
struct Site {
    name: String,
    conf: PathBuf,
    cert: PathBuf,
    key: PathBuf,
    old_serial: String,
}

/// The bench's sites; removed (with every file named after them: backups, temporaries) and
/// nginx reloaded when dropped, also on a panic.
struct Sites {
    list: Vec<Site>,
    reload: String,
}

impl Drop for Sites {
    fn drop(&mut self) {
        if self.list.is_empty() {
            return;
        }
        let mut removed = 0;
        for s in &self.list {
            let _ = std::fs::remove_file(&s.conf);
            let stem = s.cert.file_stem().unwrap().to_string_lossy().to_string();
            if let Some(dir) = s.cert.parent() {
                for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                    if e.file_name().to_string_lossy().starts_with(&format!("{stem}.")) {
                        removed += usize::from(std::fs::remove_file(e.path()).is_ok());
                    }
                }
            }
        }
        let _ = Command::new("sh").arg("-c").arg(&self.reload).status();
        println!(
            "\ncleaned up: {} site configs and {removed} certificate/key/backup files removed, nginx reloaded",
            self.list.len()
        );
    }
}

fn sh(cmd: &str) {
    let st = Command::new("sh").arg("-c").arg(cmd).status().expect("sh");
    assert!(st.success(), "{cmd}");
}

fn deploy_uid() -> String {
    let out = Command::new("id")
        .args(["-u", "deploy"])
        .output()
        .expect("id -u deploy");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn write_owned(path: &Path, text: &str, mode: u32) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    sh(&format!(
        "chown {} {p} && chmod {mode:o} {p}",
        deploy_uid(),
        p = path.display()
    ));
}

/// The site for `name` serving `cert`/`key` (nginx is reloaded by the caller).
fn make_site(bed: &Bed, name: &str, cert: &str, key: &str) -> Site {
    let stem = name.replace('.', "-");
    let cert_path = bed.certs.join(format!("{stem}.crt"));
    let key_path = bed.certs.join(format!("{stem}.key"));
    write_owned(&cert_path, cert, 0o644);
    write_owned(&key_path, key, 0o600);
    let conf = bed.sites.join(format!("{stem}.conf"));
    std::fs::write(
        &conf,
        format!(
            "server {{\n  listen 127.0.0.1:{port} ssl;\n  server_name {name};\n  ssl_certificate {c};\n  ssl_certificate_key {k};\n}}\n",
            port = bed.tls_port,
            c = cert_path.display(),
            k = key_path.display()
        ),
    )
    .expect("write the site config");
    Site {
        name: name.into(),
        conf,
        cert: cert_path,
        key: key_path,
        old_serial: pem_serial(cert),
    }
}

// ---------------------------------------------------------------------------------------------
// Certificates and handshakes.

/// A self-signed certificate and key for `names` (rcgen), as PEM.
fn make_cert(names: &[String]) -> (String, String) {
    let kp = rcgen::KeyPair::generate().expect("key");
    let params = rcgen::CertificateParams::new(names.to_vec()).expect("params");
    let cert = params.self_signed(&kp).expect("self-sign");
    (cert.pem(), kp.serialize_pem())
}

fn pem_serial(pem: &str) -> String {
    let der = certdeck::domain::certpem::certificates_der(pem.as_bytes())
        .expect("PEM")
        .remove(0);
    serial_hex(&der).expect("serial")
}

async fn served_serial(port: u16, sni: &str) -> String {
    let der = tls_peek::served_leaf("127.0.0.1", port, sni, Duration::from_secs(5))
        .await
        .expect("handshake");
    serial_hex(&der).expect("serial")
}

async fn wait_served(port: u16, sni: &str, serial: &str) {
    for _ in 0..100 {
        if let Ok(der) = tls_peek::served_leaf("127.0.0.1", port, sni, Duration::from_secs(5)).await {
            if serial_hex(&der).as_deref() == Some(serial) {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{sni} on {port} never served {serial}");
}

fn median(v: &[f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// The first 12 hex digits of a serial, for the per-run lines.
fn short(serial: &str) -> &str {
    &serial[..serial.len().min(12)]
}
