//! Issue 14 §2: a hostile server cannot exhaust the scheduler. Each attack is played against the
//! test bed's real OpenSSH: the `deploy` user's home holds the hostile files and a server's
//! config root points at them. Each check must end with the specific error (naming the bound
//! and the file), in bounded memory, and leave what the last good check stored untouched.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use certdeck::domain::{AuthType, ServerStatus, ServerType, TaskStatus, TaskType, UserRole};
use certdeck::engine::ssh::DIR_ENTRIES_MAX;
use certdeck::engine::ssh::{
    HostKeyPolicy, SshAuth, SshError, SshSession, SshTarget, SshTimeouts, Stage, COMMAND_OUTPUT_KEEP,
};
use certdeck::service::certificates::{DeploymentInput, ImportInput};
use certdeck::service::deploy::DeployTarget;
use certdeck::service::servers::ServerInput;
use certdeck::service::tasks::{Runners, TaskDetail, TaskInput};
use certdeck::service::{Actor, Services};
use certdeck::store::servers::ServerRow;
use common::bed::{env, sshd, Sshd};
use common::{make_user, services_with};
use zeroize::Zeroizing;

/// A directory in the SSH user's home, owned by it, removed on drop.
struct Home {
    dir: PathBuf,
}

impl Home {
    fn new(user: &str) -> Home {
        let home = Command::new("sh")
            .arg("-c")
            .arg(format!("getent passwd {user} | cut -d: -f6"))
            .output()
            .unwrap();
        let home = String::from_utf8_lossy(&home.stdout).trim().to_string();
        assert!(!home.is_empty(), "no home for {user}");
        let dir = Path::new(&home).join(format!("bounds-{:08x}", rand::random::<u32>()));
        std::fs::create_dir_all(&dir).unwrap();
        let h = Home { dir };
        h.own(&h.dir);
        h
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }

    fn own(&self, p: &Path) {
        let st = Command::new("chown")
            .arg("-R")
            .arg(env("CERTDECK_TEST_SSH_USER").unwrap_or_else(|| "deploy".into()))
            .arg(p)
            .status()
            .unwrap();
        assert!(st.success());
    }

    fn write(&self, name: &str, text: &[u8]) -> String {
        let p = self.dir.join(name);
        std::fs::write(&p, text).unwrap();
        self.own(&p);
        p.display().to_string()
    }
}

impl Drop for Home {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

struct W {
    s: Services,
    a: Actor,
    _t: common::TestDb,
}

async fn world() -> W {
    let t = common::sqlite().await;
    let s = services_with(&t, common::keyring());
    let (_, a) = make_user(&s, &t, None, "ops", UserRole::Admin).await;
    W { s, a, _t: t }
}

/// An nginx server on the bed whose config root is `root`, host key trusted.
async fn add_server(w: &W, bed: &Sshd, root: &str, kind: ServerType) -> ServerRow {
    let row =
        w.s.server_create(
            &w.a,
            &ServerInput {
                name: Some(format!("bounds-{:08x}", rand::random::<u32>())),
                hostname: Some(bed.host.clone()),
                port: Some(i64::from(bed.port)),
                server_type: Some(kind),
                username: Some(bed.user.clone()),
                auth_type: Some(AuthType::Key),
                private_key: Some(std::fs::read_to_string(&bed.key).unwrap()),
                config_root: Some(root.to_string()),
                test_command: Some("true".into()),
                reload_command: Some("true".into()),
                ..Default::default()
            },
        )
        .await
        .expect("add server");
    w.s.server_trust_host_key(&w.a, row.id, &bed.host_fp)
        .await
        .expect("trust");
    w.s.server_get(&w.a, row.id).await.unwrap()
}

async fn run(w: &W, task: i64) -> TaskDetail {
    let r = w.s.task_run_here(&w.a, task, &Runners::builtin()).await.expect("run");
    assert!(r.is_some(), "the task ran here");
    w.s.task_get(&w.a, task).await.unwrap()
}

async fn check(w: &W, server: i64) -> TaskDetail {
    let t =
        w.s.task_enqueue(
            &w.a,
            &TaskInput {
                task_type: Some(TaskType::ServerCheck),
                target_id: Some(server),
                max_attempts: Some(1),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    run(w, t.id).await
}

async fn task_log(w: &W, id: i64) -> String {
    w.s.task_logs(&w.a, id, 0, 1000)
        .await
        .unwrap()
        .iter()
        .map(|l| l.message.clone())
        .collect::<Vec<_>>()
        .join("\n")
}

/// A self-signed certificate and key for `name`, as PEM.
fn make_cert(name: &str) -> (String, String) {
    let kp = rcgen::KeyPair::generate().expect("key");
    let params = rcgen::CertificateParams::new(vec![name.to_string()]).expect("params");
    let cert = params.self_signed(&kp).expect("self-sign");
    (cert.pem(), kp.serialize_pem())
}

/// Peak resident memory of this process (each test is its own process under nextest).
fn peak_rss_mib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb / 1024)
}

/// What a check stored: (config paths, (site names, certificate serial)).
async fn stored(w: &W, server: i64) -> (Vec<String>, Vec<(Vec<String>, Option<String>)>) {
    let mut configs: Vec<String> =
        w.s.server_configs(&w.a, server)
            .await
            .unwrap()
            .into_iter()
            .filter(|c| c.is_active)
            .map(|c| c.config_path)
            .collect();
    configs.sort();
    let sites =
        w.s.server_sites(&w.a, server)
            .await
            .unwrap()
            .into_iter()
            .map(|s| (s.names(), s.cert_serial.clone()))
            .collect();
    (configs, sites)
}

/// Plays `conf` as the server's main config: the check fails naming `expect`, and what the
/// last good check stored stays.
async fn refused(w: &W, home: &Home, srv: &ServerRow, conf: &[u8], expect: &[&str]) -> String {
    let before = stored(w, srv.id).await;
    home.write("nginx.conf", conf);
    let d = check(w, srv.id).await;
    let log = task_log(w, d.task.id).await;
    assert_eq!(d.task.status, TaskStatus::Failed, "{log}");
    let msg = d.task.error_message.clone().unwrap_or_default();
    for e in expect {
        assert!(msg.contains(e), "{e:?} not in {msg:?}");
    }
    assert!(!msg.contains("timed out"), "ended by the bound, not the timeout: {msg}");
    assert_eq!(stored(w, srv.id).await, before, "the last good discovery stays");
    let r = w.s.server_get(&w.a, srv.id).await.unwrap();
    assert_eq!(r.status, ServerStatus::Error);
    msg
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_configs_end_at_a_named_bound_and_leave_the_last_good_discovery() {
    let Some(bed) = sshd() else { return };
    let w = world().await;
    let home = Home::new(&bed.user);
    let main = home.path("nginx.conf");
    let (cert, key) = make_cert("good.bounds.test");
    let crt = home.write("good.crt", cert.as_bytes());
    let key = home.write("good.key", key.as_bytes());
    let good = format!(
        "events {{}}\nhttp {{\n  server {{\n    listen 443 ssl;\n    server_name good.bounds.test;\n    ssl_certificate {crt};\n    ssl_certificate_key {key};\n  }}\n}}\n"
    );
    home.write("nginx.conf", good.as_bytes());
    let srv = add_server(&w, &bed, &main, ServerType::Nginx).await;
    let d = check(&w, srv.id).await;
    assert_eq!(
        d.task.status,
        TaskStatus::Completed,
        "{}",
        task_log(&w, d.task.id).await
    );
    let (configs, sites) = stored(&w, srv.id).await;
    assert_eq!(configs, std::slice::from_ref(&main));
    assert_eq!(sites.len(), 1);
    assert_eq!(sites[0].0, ["good.bounds.test"]);
    assert!(sites[0].1.is_some(), "the certificate was read");

    // The reported attack: nginx.conf includes itself twice, plus 100k directives (300 KB).
    // Includes last: every load parses the 100k directives before it includes itself again.
    let directives = "a;\n".repeat(100_000);
    let tail = format!("{directives}include {main};\ninclude {main};\n");
    let msg = refused(
        &w,
        &home,
        &srv,
        tail.as_bytes(),
        &["more than 200000 directives parsed over all loads", &main],
    )
    .await;
    assert!(msg.contains("discovery on"), "{msg}");
    // Includes first: loads nest until the depth bound.
    let head = format!("include {main};\ninclude {main};\n{directives}");
    refused(
        &w,
        &home,
        &srv,
        head.as_bytes(),
        &["includes nested more than 16 deep", &main],
    )
    .await;

    // /dev/zero and a FIFO are never read (a FIFO would block the SFTP server's open).
    refused(
        &w,
        &home,
        &srv,
        b"http { include /dev/zero; }\n",
        &["/dev/zero is a character device, not a regular file"],
    )
    .await;
    let fifo = home.path("fifo.conf");
    let st = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(st.success());
    home.own(Path::new(&fifo));
    refused(
        &w,
        &home,
        &srv,
        format!("http {{ include {fifo}; }}\n").as_bytes(),
        &[&format!("{fifo} is a FIFO, not a regular file")],
    )
    .await;
    std::fs::remove_file(&fifo).unwrap();

    // A 10 MB config: past the per-file bound, whatever the server says its size is.
    let mut big = b"events {}\n".to_vec();
    big.extend(std::iter::repeat_n(b'#', 10 * 1024 * 1024));
    refused(
        &w,
        &home,
        &srv,
        &big,
        &[
            &main,
            "larger than 4 MiB, the limit of one config file (MAX_FILE_BYTES)",
        ],
    )
    .await;

    // Many files just under the per-file bound: past the total.
    let part = vec![b'#'; 4 * 1024 * 1024 - 100];
    for i in 0..9 {
        home.write(&format!("part{i}.conf"), &part);
    }
    let parts = home.path("part*.conf");
    refused(
        &w,
        &home,
        &srv,
        format!("http {{ include {parts}; }}\n").as_bytes(),
        &["more than 32 MiB read from the server (MAX_TOTAL_BYTES)", "part"],
    )
    .await;
    for i in 0..9 {
        let _ = std::fs::remove_file(home.path(&format!("part{i}.conf")));
    }

    // Include patterns cost SFTP round trips: their number is bounded too.
    let many: String = (0..2001)
        .map(|i| format!("include {}/none-{i}.conf;\n", home.dir.display()))
        .collect();
    refused(
        &w,
        &home,
        &srv,
        many.as_bytes(),
        &["more than 2000 distinct include patterns (MAX_PATTERNS)", &main],
    )
    .await;

    // A directory of more names than a listing may hold: its include fails the check (the
    // listing is read batch by batch and stopped, not collected whole).
    let big = home.dir.join("big");
    std::fs::create_dir_all(&big).unwrap();
    for i in 0..=DIR_ENTRIES_MAX {
        std::fs::write(big.join(format!("n{i}")), b"").unwrap();
    }
    home.own(&big);
    refused(
        &w,
        &home,
        &srv,
        format!("http {{ include {}/*.conf; }}\n", big.display()).as_bytes(),
        &[
            &format!("more than {DIR_ENTRIES_MAX} entries"),
            "(DIR_ENTRIES_MAX)",
            &big.display().to_string(),
        ],
    )
    .await;
    std::fs::remove_dir_all(&big).unwrap();

    // A certificate path on /dev/zero: the site is found, its certificate refused.
    let zero = "http {\n  server {\n    listen 443 ssl;\n    server_name zero.bounds.test;\n    ssl_certificate /dev/zero;\n  }\n}\n";
    home.write("nginx.conf", zero.as_bytes());
    let d = check(&w, srv.id).await;
    assert_eq!(
        d.task.status,
        TaskStatus::Completed,
        "{}",
        task_log(&w, d.task.id).await
    );
    let sites = w.s.server_sites(&w.a, srv.id).await.unwrap();
    let site = sites
        .iter()
        .find(|s| s.names() == ["zero.bounds.test"])
        .expect("the site is found");
    assert_eq!(site.cert_path.as_deref(), Some("/dev/zero"));
    let e = site.cert_error.as_deref().unwrap_or("");
    assert!(e.contains("character device, not a regular file"), "{e}");
    assert!(site.cert_subject.is_none());

    let peak = peak_rss_mib();
    assert!(peak < 1024, "peak RSS {peak} MiB: reading stays bounded");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_command_that_prints_forever_is_stopped_at_the_output_bound() {
    let Some(bed) = sshd() else { return };
    let target = SshTarget {
        label: "bounds".into(),
        host: bed.host.clone(),
        port: bed.port,
        user: bed.user.clone(),
        auth: SshAuth::Key {
            pem: Zeroizing::new(std::fs::read_to_string(&bed.key).unwrap()),
            passphrase: None,
        },
        host_key: HostKeyPolicy::Pinned(bed.host_fp.clone()),
        jump: None,
    };
    let s = SshSession::connect(&target, SshTimeouts::default())
        .await
        .expect("connect");
    let e = s.exec("yes").await.expect_err("stopped");
    assert!(matches!(e, SshError::Limit { .. }), "{e}");
    assert_eq!(e.stage(), Stage::Command);
    let m = e.to_string();
    assert!(m.contains("`yes` printed more than 4 MiB"), "{m}");
    assert!(m.contains("COMMAND_OUTPUT_MAX") && m.contains("y | y"), "{m}");
    // Stderr too, and through `run`.
    let e = s.run("yes oops >&2").await.expect_err("stopped");
    assert!(e.to_string().contains("printed more than 4 MiB"), "{e}");
    // Long but finite output: the tail is kept, the cut noted; the session is still usable.
    let out = s
        .exec("head -c 300000 /dev/zero | tr '\\0' y; echo; echo last line >&2; exit 3")
        .await
        .expect("ends");
    assert_eq!(out.code, 3);
    assert!(out.truncated);
    assert!(out.stdout.starts_with('…') && out.stdout.len() <= COMMAND_OUTPUT_KEEP + 4);
    assert_eq!(out.stderr.trim(), "last line");
    let ok = s.exec("echo still here").await.expect("the session survives");
    assert_eq!(ok.stdout.trim(), "still here");
    assert!(!ok.truncated);
    s.close().await;
    let peak = peak_rss_mib();
    assert!(peak < 1024, "peak RSS {peak} MiB");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deploy_whose_config_test_prints_forever_fails_on_the_bound_and_rolls_back() {
    let Some(bed) = sshd() else { return };
    let w = world().await;
    let home = Home::new(&bed.user);
    let srv = add_server(&w, &bed, &home.path("nginx.conf"), ServerType::Other).await;
    w.s.server_update(
        &w.a,
        srv.id,
        &ServerInput {
            test_command: Some("yes".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let (cert, key) = make_cert("yes.bounds.test");
    let imported =
        w.s.cert_import(
            &w.a,
            &ImportInput {
                certificate: cert.into_bytes(),
                private_key: key.into_bytes(),
                ..Default::default()
            },
        )
        .await
        .expect("import");
    let crt = home.path("site.crt");
    let dep =
        w.s.deployment_create_with(
            &w.a,
            imported.id,
            srv.id,
            &DeploymentInput {
                deploy_path: crt.clone(),
                key_path: Some(home.path("site.key")),
                auto_deploy: true,
                ..Default::default()
            },
        )
        .await
        .expect("deployment")
        .id;
    let t =
        w.s.deploy_enqueue(&w.a, imported.id, DeployTarget::Server(srv.id))
            .await
            .unwrap();
    let d = run(&w, t.id).await;
    let log = task_log(&w, t.id).await;
    assert_eq!(d.task.status, TaskStatus::Failed, "{log}");
    let row = w.s.deployment_get(&w.a, dep).await.unwrap();
    let msg = row.error_message.unwrap_or_default();
    assert!(msg.contains("config test failed"), "{msg}");
    assert!(msg.contains("yes` printed more than 4 MiB"), "{msg}");
    assert!(msg.contains("rolled back"), "{msg}");
    assert!(
        !Path::new(&crt).exists(),
        "the file that did not exist before is gone again"
    );
    let peak = peak_rss_mib();
    assert!(peak < 1024, "peak RSS {peak} MiB");
}
