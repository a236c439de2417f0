//! SSH against the test bed's real OpenSSH, nginx and Apache: authentication, host-key trust,
//! probe and discovery, deploy with verification, rollback, a kill in the middle of a deploy,
//! and failures that name their stage. The tests share one nginx and one Apache, so they hold
//! [`BED_LOCK`] (and nextest runs this binary in a one-thread group).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use certdeck::domain::{AuthType, DeploymentStatus, PrivilegeMode, ServerStatus, ServerType, TaskStatus, UserRole};
use certdeck::engine::ssh::{HostKeyPolicy, SshAuth, SshError, SshSession, SshTarget, SshTimeouts, Stage};
use certdeck::service::certificates::{DeploymentInput, ImportInput};
use certdeck::service::deploy::DeployTarget;
use certdeck::service::onboarding::ImportDefaults;
use certdeck::service::servers::ServerInput;
use certdeck::service::tasks::{Runners, TaskInput};
use certdeck::service::{Actor, Services};
use certdeck::store::servers::ServerRow;
use common::bed::{bed, env, pair_matches, pem_serial, served_serial, sh, wait_served, write_tls_site, Bed, Web};
use common::TestDb;
use common::{make_user, services_with};
use zeroize::Zeroizing;

static BED_LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

struct W {
    s: Services,
    a: Actor,
    bed: Bed,
    _t: TestDb,
}

async fn world_on(t: TestDb, bed: Bed) -> W {
    let s = services_with(&t, common::keyring());
    let (_, a) = make_user(&s, &t, None, "ops", UserRole::Admin).await;
    W { s, a, bed, _t: t }
}

async fn world() -> Option<W> {
    let bed = bed()?;
    Some(world_on(common::sqlite().await, bed).await)
}

fn read(p: &str) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("read {p}: {e}"))
}

/// A server entry on the bed (host key trusted unless `trust` is false).
async fn add_server(w: &W, auth: &str, kind: ServerType, trust: bool) -> ServerRow {
    let b = &w.bed;
    let webc = if kind == ServerType::Apache {
        &b.apache
    } else {
        &b.nginx
    };
    let mut input = ServerInput {
        name: Some(format!("bed-{auth}-{}", rand_suffix())),
        hostname: Some(b.host.clone()),
        port: Some(i64::from(b.port)),
        server_type: Some(kind),
        username: Some(b.user.clone()),
        privilege_mode: Some(PrivilegeMode::Sudo),
        test_command: Some(webc.test_cmd.clone()),
        reload_command: Some(webc.reload_cmd.clone()),
        config_root: Some(webc.conf.clone()),
        verify_port: Some(i64::from(webc.port)),
        ..Default::default()
    };
    match auth {
        "password" => {
            input.auth_type = Some(AuthType::Password);
            input.password = Some(b.password.clone());
        }
        "ed25519" => {
            input.auth_type = Some(AuthType::Key);
            input.private_key = Some(read(&b.key));
        }
        "rsa-pem" => {
            input.auth_type = Some(AuthType::Key);
            input.private_key = Some(read(&b.key_pem));
        }
        "encrypted" => {
            input.auth_type = Some(AuthType::Key);
            input.private_key = Some(read(&b.key_enc));
            input.key_passphrase = Some(b.key_pass.clone());
        }
        "wrong-password" => {
            input.auth_type = Some(AuthType::Password);
            input.password = Some("not-the-password".into());
        }
        other => panic!("auth {other}"),
    }
    let row = w.s.server_create(&w.a, &input).await.expect("add server");
    if trust {
        w.s.server_trust_host_key(&w.a, row.id, &b.host_fp)
            .await
            .expect("trust");
    }
    w.s.server_get(&w.a, row.id).await.unwrap()
}

fn rand_suffix() -> String {
    format!("{:08x}", rand::random::<u32>())
}

/// A self-signed certificate and key for `name` (rcgen), as PEM.
fn make_cert(name: &str) -> (String, String) {
    let kp = rcgen::KeyPair::generate().expect("key");
    let params = rcgen::CertificateParams::new(vec![name.to_string()]).expect("params");
    let cert = params.self_signed(&kp).expect("self-sign");
    (cert.pem(), kp.serialize_pem())
}

fn deploy_uid() -> String {
    let out = Command::new("id").args(["-u", "deploy"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A TLS site on the bed's nginx or Apache for `name`, serving `cert`; returns the paths of
/// its (cert, key) and a closure-free cleanup handle.
struct Site {
    conf: PathBuf,
    cert: PathBuf,
    key: PathBuf,
    reload: String,
}

impl Drop for Site {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.conf);
        if let Some(dir) = self.cert.parent() {
            if let Ok(rd) = std::fs::read_dir(dir) {
                let stem = self.cert.file_stem().unwrap().to_string_lossy().to_string();
                for e in rd.flatten() {
                    if e.file_name().to_string_lossy().starts_with(&stem) {
                        let _ = std::fs::remove_file(e.path());
                    }
                }
            }
        }
        let _ = Command::new("sh").arg("-c").arg(&self.reload).status();
    }
}

fn write_owned(path: &Path, text: &str, mode: u32) {
    std::fs::write(path, text).unwrap();
    sh(&format!(
        "chown {} {} && chmod {:o} {}",
        deploy_uid(),
        path.display(),
        mode,
        path.display()
    ));
}

/// Creates the site with `cert`/`key` on disk (`key_file` lets the config name another key).
fn make_site(web: &Web, apache: bool, name: &str, cert: &str, key: &str, key_file: Option<&Path>) -> Site {
    let stem = name.replace('.', "-");
    let cert_path = web.certs.join(format!("{stem}.crt"));
    let key_path = web.certs.join(format!("{stem}.key"));
    write_owned(&cert_path, cert, 0o644);
    write_owned(&key_path, key, 0o600);
    let conf = write_tls_site(web, apache, name, &stem, &cert_path, key_file.unwrap_or(&key_path));
    Site {
        conf,
        cert: cert_path,
        key: key_path,
        reload: format!("/usr/sbin/{}", web.reload_cmd),
    }
}

/// A site for `name` serving a fresh self-signed certificate steadily; returns it with that
/// certificate's PEM.
async fn served_site(web: &Web, apache: bool, name: &str) -> (Site, String) {
    let (old_c, old_k) = make_cert(name);
    let site = make_site(web, apache, name, &old_c, &old_k, None);
    wait_served(web.port, name, &pem_serial(&old_c)).await;
    (site, old_c)
}

async fn import(w: &W, cert: &str, key: &str) -> i64 {
    w.s.cert_import(
        &w.a,
        &ImportInput {
            certificate: cert.as_bytes().to_vec(),
            private_key: key.as_bytes().to_vec(),
            ..Default::default()
        },
    )
    .await
    .expect("import")
    .id
}

async fn run_task(w: &W, id: i64) -> certdeck::service::tasks::TaskDetail {
    let r = w.s.task_run_here(&w.a, id, &Runners::builtin()).await.expect("run");
    assert!(r.is_some(), "the task ran here");
    w.s.task_get(&w.a, id).await.unwrap()
}

async fn check(w: &W, server: i64) -> certdeck::service::tasks::TaskDetail {
    let t =
        w.s.task_enqueue(
            &w.a,
            &TaskInput {
                task_type: Some(certdeck::domain::TaskType::ServerCheck),
                target_id: Some(server),
                max_attempts: Some(1),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    run_task(w, t.id).await
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

// ------------------------------------------------------------------ connections

#[tokio::test(flavor = "multi_thread")]
async fn password_and_every_key_format_authenticate_and_a_wrong_password_is_refused() {
    let Some(w) = world().await else { return };
    let _g = BED_LOCK.lock().await;
    for auth in ["password", "ed25519", "rsa-pem", "encrypted"] {
        let srv = add_server(&w, auth, ServerType::Nginx, true).await;
        let session = w.s.ssh_connect(&srv).await.unwrap_or_else(|e| panic!("{auth}: {e}"));
        let out = session.run("id -un").await.unwrap();
        assert_eq!(out.stdout.trim(), w.bed.user, "{auth}");
        assert_eq!(session.host_key_fingerprint(), w.bed.host_fp, "{auth}");
        session.close().await;
    }
    let bad = add_server(&w, "wrong-password", ServerType::Nginx, true).await;
    let e = w.s.ssh_connect(&bad).await.err().expect("refused");
    let msg = e.to_string();
    assert!(msg.contains("authentication as deploy failed"), "{msg}");
    assert!(
        !msg.contains("not-the-password"),
        "the password is never in a message: {msg}"
    );
    // The check task records the failure on the server.
    let d = check(&w, bad.id).await;
    assert_eq!(d.task.status, TaskStatus::Failed);
    assert!(d.task.error_message.unwrap().contains("authentication"));
    assert_eq!(w.s.server_get(&w.a, bad.id).await.unwrap().status, ServerStatus::Error);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_host_key_is_shown_then_stored_once_trusted_and_a_changed_one_is_refused() {
    let Some(w) = world().await else { return };
    let _g = BED_LOCK.lock().await;
    let srv = add_server(&w, "password", ServerType::Nginx, false).await;
    // First contact: refused, with the fingerprint to check.
    let e = w.s.ssh_connect(&srv).await.err().expect("untrusted");
    assert!(e.to_string().contains(&w.bed.host_fp), "{e}");
    assert!(e.to_string().contains("not trusted yet"), "{e}");
    let seen = w.s.server_host_key(&w.a, srv.id).await.unwrap();
    assert_eq!(
        (seen.presented.as_str(), seen.stored.as_deref()),
        (w.bed.host_fp.as_str(), None)
    );
    // A wrong expectation is refused and stores nothing.
    let bad =
        w.s.server_trust_host_key(&w.a, srv.id, "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
            .await;
    assert!(bad.is_err());
    assert_eq!(w.s.server_get(&w.a, srv.id).await.unwrap().host_key_fingerprint, None);
    w.s.server_trust_host_key(&w.a, srv.id, &w.bed.host_fp).await.unwrap();
    let srv = w.s.server_get(&w.a, srv.id).await.unwrap();
    assert_eq!(srv.host_key_fingerprint.as_deref(), Some(w.bed.host_fp.as_str()));
    w.s.ssh_connect(&srv).await.expect("trusted").close().await;
    // The key "changes" (another key stored): refused, naming both.
    let other = "SHA256:0000000000000000000000000000000000000000000";
    common::exec_with(
        &w._t.db,
        "UPDATE servers SET host_key_fingerprint = ? WHERE id = ?",
        (other, srv.id),
    )
    .await;
    let srv = w.s.server_get(&w.a, srv.id).await.unwrap();
    let e = w.s.ssh_connect(&srv).await.err().expect("changed key refused");
    let msg = e.to_string();
    assert!(msg.contains("man-in-the-middle"), "{msg}");
    assert!(
        msg.contains(other) && msg.contains(&w.bed.host_fp),
        "both fingerprints: {msg}"
    );
    // trust-hostkey accepts the new one, once confirmed.
    let c = w.s.server_trust_host_key(&w.a, srv.id, &w.bed.host_fp).await.unwrap();
    assert_eq!(c.stored.as_deref(), Some(other));
    let srv = w.s.server_get(&w.a, srv.id).await.unwrap();
    w.s.ssh_connect(&srv).await.expect("trusted again").close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_is_reached_through_a_jump_server() {
    let Some(w) = world().await else { return };
    let _g = BED_LOCK.lock().await;
    let jump = add_server(&w, "ed25519", ServerType::Nginx, true).await;
    let mut input = ServerInput {
        name: Some("behind".into()),
        hostname: Some(w.bed.host.clone()),
        port: Some(i64::from(w.bed.port)),
        auth_type: Some(AuthType::Password),
        username: Some(w.bed.user.clone()),
        password: Some(w.bed.password.clone()),
        jump_server_id: Some(jump.id),
        ..Default::default()
    };
    let inner = w.s.server_create(&w.a, &input).await.unwrap();
    w.s.server_trust_host_key(&w.a, inner.id, &w.bed.host_fp).await.unwrap();
    let inner = w.s.server_get(&w.a, inner.id).await.unwrap();
    let s = w.s.ssh_connect(&inner).await.expect("through the jump server");
    assert_eq!(s.run("echo ok").await.unwrap().stdout.trim(), "ok");
    s.close().await;
    // A loop is refused.
    input.jump_server_id = Some(inner.id);
    let e = w.s.server_update(&w.a, jump.id, &input).await.expect_err("loop");
    assert!(e.to_string().contains("loop"), "{e}");
}

#[tokio::test(flavor = "multi_thread")]
async fn refused_unreachable_and_slow_commands_fail_naming_the_stage() {
    let Some(bed) = bed() else { return };
    let t = SshTimeouts {
        connect: Duration::from_secs(2),
        auth: Duration::from_secs(5),
        command: Duration::from_secs(1),
    };
    let target = |host: &str, port: u16| SshTarget {
        label: "t".into(),
        host: host.into(),
        port,
        user: bed.user.clone(),
        auth: SshAuth::Password(Zeroizing::new(bed.password.clone())),
        host_key: HostKeyPolicy::Pinned(bed.host_fp.clone()),
        jump: None,
    };
    let e = SshSession::connect(&target("127.0.0.1", 1), t).await.err().unwrap();
    assert_eq!(e.stage(), Stage::Tcp, "{e}");
    assert!(e.to_string().contains("TCP connect to 127.0.0.1:1 failed"), "{e}");
    // TEST-NET-1 is never routed: the connect times out.
    let e = SshSession::connect(&target("192.0.2.1", 22), t).await.err().unwrap();
    assert!(matches!(e, SshError::Timeout { .. } | SshError::Tcp { .. }), "{e}");
    assert!(matches!(e.stage(), Stage::Tcp), "{e}");
    let e = SshSession::connect(&target("no-such-host.invalid", 22), t)
        .await
        .err()
        .unwrap();
    assert_eq!(e.stage(), Stage::Dns, "{e}");
    // A command that outlives its timeout; a command that fails shows its exit code and stderr.
    let s = SshSession::connect(&target(&bed.host, bed.port), t)
        .await
        .expect("connect");
    let e = s.run("sleep 5").await.err().unwrap();
    assert_eq!(e.stage(), Stage::Command, "{e}");
    assert!(e.to_string().contains("timed out after 1 s: sleep 5"), "{e}");
    let e = s.run("echo oops >&2; exit 3").await.err().unwrap();
    assert!(e.to_string().contains("exited with 3: oops"), "{e}");
    s.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn token_servers_are_not_reached_over_ssh() {
    let Some(w) = world().await else { return };
    let srv =
        w.s.server_create(
            &w.a,
            &ServerInput {
                hostname: Some("agent.example.com".into()),
                auth_type: Some(AuthType::Token),
                token: Some("tok-123".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let e = w.s.ssh_connect(&srv).await.err().unwrap();
    assert!(e.to_string().contains("reserved for the pull agent"), "{e}");
}

// ------------------------------------------------------------------ probe and discovery

#[tokio::test(flavor = "multi_thread")]
async fn the_check_fills_versions_and_discovers_nginx_and_apache_sites() {
    let Some(bed) = bed() else { return };
    let _g = BED_LOCK.lock().await;
    for t in common::both().await {
        let l = t.label();
        let w = world_on(t, bed.clone()).await;
        let ngx = add_server(&w, "ed25519", ServerType::Nginx, true).await;
        let d = check(&w, ngx.id).await;
        assert_eq!(
            d.task.status,
            TaskStatus::Completed,
            "[{l}] {:?} {}",
            d.task.error_message,
            task_log(&w, d.task.id).await
        );
        let r = w.s.server_get(&w.a, ngx.id).await.unwrap();
        assert_eq!(r.status, ServerStatus::Active, "[{l}]");
        assert!(
            r.web_server_version.as_deref().unwrap_or("").starts_with("nginx/"),
            "[{l}] {r:?}"
        );
        assert!(
            r.os_type.is_some() && r.os_version.is_some() && r.last_check_at.is_some(),
            "[{l}] {r:?}"
        );
        let sites = w.s.server_sites(&w.a, ngx.id).await.unwrap();
        let disc = sites
            .iter()
            .find(|s| s.names().contains(&"discover.nginx.test".to_string()))
            .expect("discover site");
        assert!(disc.tls, "[{l}]");
        assert_eq!(
            disc.names(),
            vec!["discover.nginx.test", "www.discover.nginx.test"],
            "[{l}]"
        );
        assert_eq!(disc.port, Some(i32::from(bed.nginx.port)), "[{l}]");
        let certs = bed.nginx.certs.display().to_string();
        assert_eq!(
            disc.cert_path.as_deref(),
            Some(format!("{certs}/discover.crt").as_str()),
            "[{l}]"
        );
        assert_eq!(
            disc.key_path.as_deref(),
            Some(format!("{certs}/discover.key").as_str()),
            "[{l}]"
        );
        assert_eq!(
            disc.cert_subject.as_deref(),
            Some("discover.nginx.test"),
            "[{l}] {disc:?}"
        );
        assert!(disc.cert_serial.is_some() && disc.cert_not_after.is_some(), "[{l}]");
        let plain = sites
            .iter()
            .find(|s| s.names() == vec!["plain.nginx.test"])
            .expect("plain site");
        assert!(!plain.tls && plain.cert_path.is_none(), "[{l}]");
        let configs = w.s.server_configs(&w.a, ngx.id).await.unwrap();
        assert!(
            configs.iter().any(|c| c.config_path == bed.nginx.conf && c.is_active),
            "[{l}] {configs:?}"
        );
        let site_conf = format!("{}/discover.conf", bed.nginx.sites.display());
        assert!(configs.iter().any(|c| c.config_path == site_conf), "[{l}]");

        // Rediscovery: a new file gets a row; once gone, its row stays, inactive (no duplicates).
        // It is over the 64 KB column: stored without content, with a note, its site still found.
        let extra = bed.nginx.sites.join(format!("zz-extra-{}.conf", rand_suffix()));
        let padding = "# padding padding padding padding padding padding padding padding\n".repeat(1100);
        std::fs::write(
            &extra,
            format!("{padding}server {{\n  listen 127.0.0.1:18081;\n  server_name extra.nginx.test;\n}}\n"),
        )
        .unwrap();
        check(&w, ngx.id).await;
        let big =
            w.s.server_configs(&w.a, ngx.id)
                .await
                .unwrap()
                .into_iter()
                .find(|c| c.config_path == extra.display().to_string())
                .expect("the large file has a row");
        let big = w.s.server_config_get(&w.a, big.id).await.unwrap();
        assert!(big.config_content.is_none(), "[{l}]");
        assert!(big.note.as_deref().unwrap_or("").contains("64 KB"), "[{l}] {big:?}");
        assert!(w
            .s
            .server_sites(&w.a, ngx.id)
            .await
            .unwrap()
            .iter()
            .any(|s| s.names() == vec!["extra.nginx.test"]));
        std::fs::remove_file(&extra).unwrap();
        let d = check(&w, ngx.id).await;
        assert_eq!(d.task.status, TaskStatus::Completed, "[{l}]");
        let configs = w.s.server_configs(&w.a, ngx.id).await.unwrap();
        let rows: Vec<_> = configs
            .iter()
            .filter(|c| c.config_path == extra.display().to_string())
            .collect();
        assert_eq!(rows.len(), 1, "[{l}] one row per file");
        assert!(!rows[0].is_active, "[{l}] gone → inactive");
        assert_eq!(
            configs.iter().filter(|c| c.config_path == bed.nginx.conf).count(),
            1,
            "[{l}] rediscovery updates"
        );
        assert!(w
            .s
            .server_sites(&w.a, ngx.id)
            .await
            .unwrap()
            .iter()
            .all(|s| !s.names().contains(&"extra.nginx.test".to_string())));

        let apa = add_server(&w, "password", ServerType::Apache, true).await;
        let d = check(&w, apa.id).await;
        assert_eq!(
            d.task.status,
            TaskStatus::Completed,
            "[{l}] {}",
            task_log(&w, d.task.id).await
        );
        let r = w.s.server_get(&w.a, apa.id).await.unwrap();
        assert!(
            r.web_server_version.as_deref().unwrap_or("").starts_with("Apache/"),
            "[{l}] {r:?}"
        );
        let sites = w.s.server_sites(&w.a, apa.id).await.unwrap();
        let disc = sites
            .iter()
            .find(|s| s.names().first().map(String::as_str) == Some("discover.apache.test"))
            .expect("apache site");
        assert!(disc.tls, "[{l}]");
        assert!(disc.names().contains(&"www.discover.apache.test".to_string()), "[{l}]");
        assert!(
            disc.cert_path
                .as_deref()
                .unwrap_or("")
                .starts_with(&bed.apache.certs.display().to_string()),
            "[{l}]"
        );
        assert_eq!(
            disc.cert_subject.as_deref(),
            Some("discover.apache.test"),
            "[{l}] {disc:?}"
        );
    }
}

// ------------------------------------------------------------------ deploy

async fn deployment_for(w: &W, cert: i64, srv: &ServerRow, site: &Site, name: &str, web: &Web) -> i64 {
    w.s.deployment_create_with(
        &w.a,
        cert,
        srv.id,
        &DeploymentInput {
            deploy_path: site.cert.display().to_string(),
            key_path: Some(site.key.display().to_string()),
            verify_sni: Some(name.into()),
            verify_port: Some(i64::from(web.port)),
            auto_deploy: true,
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .id
}

fn mode_of(p: &Path) -> u32 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(p).unwrap().mode() & 0o777
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deploy_to_nginx_and_to_apache_serves_the_new_serial() {
    let Some(w) = world().await else { return };
    let _g = BED_LOCK.lock().await;
    for (apache, kind) in [(false, ServerType::Nginx), (true, ServerType::Apache)] {
        let web = if apache {
            w.bed.apache.clone()
        } else {
            w.bed.nginx.clone()
        };
        let name = format!("d{}.{}.test", rand_suffix(), if apache { "apache" } else { "nginx" });
        let (site, old_c) = served_site(&web, apache, &name).await;
        let (new_c, new_k) = make_cert(&name);
        let cert = import(&w, &new_c, &new_k).await;
        let srv = add_server(&w, "ed25519", kind, true).await;
        let dep = deployment_for(&w, cert, &srv, &site, &name, &web).await;

        let plan = w.s.deploy_plan(&w.a, cert, DeployTarget::Server(srv.id)).await.unwrap();
        assert_eq!(plan.len(), 1);
        assert!(
            plan[0]
                .commands
                .iter()
                .any(|c| c.starts_with("sudo -n ") && c.contains(&web.reload_cmd)),
            "{:?}",
            plan[0]
        );
        assert_eq!(
            served_serial(web.port, &name).await,
            pem_serial(&old_c),
            "a plan changes nothing"
        );

        let t =
            w.s.deploy_enqueue(&w.a, cert, DeployTarget::Server(srv.id))
                .await
                .unwrap();
        let d = run_task(&w, t.id).await;
        assert_eq!(
            d.task.status,
            TaskStatus::Completed,
            "{kind}: {:?}\n{}",
            d.task.error_message,
            task_log(&w, t.id).await
        );
        assert_eq!(
            served_serial(web.port, &name).await,
            pem_serial(&new_c),
            "{kind}: the new certificate is served (old serial {}); log:\n{}",
            pem_serial(&old_c),
            task_log(&w, t.id).await
        );
        let row = w.s.deployment_get(&w.a, dep).await.unwrap();
        assert_eq!(row.status, DeploymentStatus::Deployed, "{kind}");
        assert_eq!(row.deployed_serial.as_deref(), Some(pem_serial(&new_c).as_str()));
        assert!(row.last_deploy_at.is_some());
        assert_eq!(
            (mode_of(&site.cert), mode_of(&site.key)),
            (0o644, 0o600),
            "{kind}: modes"
        );
        assert!(pair_matches(&site.cert, &site.key));
        // The backup of what was served before is kept, named by deployment and old serial.
        let bak = PathBuf::from(format!(
            "{}.certdeck-bak-{dep}-{}",
            site.cert.display(),
            pem_serial(&old_c)
        ));
        assert_eq!(std::fs::read_to_string(&bak).unwrap(), old_c, "{kind}: backup");
        let log = task_log(&w, t.id).await;
        for step in [
            "uploaded",
            "backed up",
            "swapped",
            "config test ok",
            "reload ok",
            "is served",
        ] {
            assert!(log.contains(step), "{kind}: step {step} logged:\n{log}");
        }
        assert!(!log.contains("PRIVATE KEY"), "no key material in logs");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_config_test_failure_after_the_swap_rolls_back_and_the_old_certificate_stays_served() {
    let Some(w) = world().await else { return };
    let _g = BED_LOCK.lock().await;
    let web = w.bed.nginx.clone();
    let name = format!("rb{}.nginx.test", rand_suffix());
    // The config names the key at site.key, but the deployment writes the key elsewhere: after
    // the swap the config pairs the new certificate with the old key, and `nginx -t` fails.
    let (site, old_c) = served_site(&web, false, &name).await;
    let (new_c, new_k) = make_cert(&name);
    let cert = import(&w, &new_c, &new_k).await;
    let srv = add_server(&w, "password", ServerType::Nginx, true).await;
    let other_key = web.certs.join(format!(
        "{}-elsewhere.key",
        site.cert.file_stem().unwrap().to_string_lossy()
    ));
    let dep =
        w.s.deployment_create_with(
            &w.a,
            cert,
            srv.id,
            &DeploymentInput {
                deploy_path: site.cert.display().to_string(),
                key_path: Some(other_key.display().to_string()),
                verify_sni: Some(name.clone()),
                verify_port: Some(i64::from(web.port)),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .id;
    let t =
        w.s.deploy_enqueue(&w.a, cert, DeployTarget::Server(srv.id))
            .await
            .unwrap();
    let d = run_task(&w, t.id).await;
    assert_eq!(d.task.status, TaskStatus::Failed, "{}", task_log(&w, t.id).await);
    let row = w.s.deployment_get(&w.a, dep).await.unwrap();
    assert_eq!(row.status, DeploymentStatus::Failed);
    let msg = row.error_message.unwrap_or_default();
    assert!(msg.contains("config test failed"), "{msg}");
    assert!(msg.contains("rolled back"), "{msg}");
    assert!(msg.contains("is served again"), "{msg}");
    assert_eq!(
        std::fs::read_to_string(&site.cert).unwrap(),
        old_c,
        "old certificate restored"
    );
    assert!(!other_key.exists(), "a file that did not exist before is removed again");
    assert!(pair_matches(&site.cert, &site.key));
    assert_eq!(
        served_serial(web.port, &name).await,
        pem_serial(&old_c),
        "old serial still served"
    );
    // nginx accepts its config again (the next deploy is not blocked by this one).
    sh(&format!("/usr/sbin/{}", web.test_cmd));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_group_deploy_reports_per_host_and_one_failure_does_not_stop_the_others() {
    let Some(w) = world().await else { return };
    let _g = BED_LOCK.lock().await;
    let web = w.bed.nginx.clone();
    let name = format!("g{}.nginx.test", rand_suffix());
    let (site, _) = served_site(&web, false, &name).await;
    let (new_c, new_k) = make_cert(&name);
    let cert = import(&w, &new_c, &new_k).await;
    let group = w.s.group_create(&w.a, "edge", None).await.unwrap();
    let good = add_server(&w, "ed25519", ServerType::Nginx, true).await;
    let broken = add_server(&w, "password", ServerType::Nginx, true).await;
    w.s.group_add_server(&w.a, group.id, good.id).await.unwrap();
    w.s.group_add_server(&w.a, group.id, broken.id).await.unwrap();
    deployment_for(&w, cert, &good, &site, &name, &web).await;
    let bad =
        w.s.deployment_create(&w.a, cert, broken.id, "/nonexistent-dir/x.crt", None, true)
            .await
            .unwrap();
    let t =
        w.s.deploy_enqueue(&w.a, cert, DeployTarget::Group(group.id))
            .await
            .unwrap();
    let d = run_task(&w, t.id).await;
    assert_eq!(d.task.status, TaskStatus::Failed);
    let err = d.task.error_message.unwrap();
    assert!(err.contains("1 of 2 deployment(s) failed"), "{err}");
    assert!(
        err.contains("/nonexistent-dir/x.crt"),
        "the failing host says why: {err}"
    );
    assert_eq!(
        served_serial(web.port, &name).await,
        pem_serial(&new_c),
        "the good host got it"
    );
    let bad = w.s.deployment_get(&w.a, bad.id).await.unwrap();
    assert_eq!(bad.status, DeploymentStatus::Failed);
    assert!(bad.error_message.unwrap().contains("SFTP"));
}

#[tokio::test(flavor = "multi_thread")]
async fn killing_the_worker_mid_deploy_never_leaves_a_mismatched_pair() {
    let Some(bed) = bed() else { return };
    let _g = BED_LOCK.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let t = common::sqlite().await;
    let url = t.url.clone();
    let keyring = common::keyring();
    let key_file = dir.path().join("master.key");
    keyring.write_file(&key_file).unwrap();
    let s = services_with(&t, keyring);
    let (_, a) = make_user(&s, &t, None, "ops", UserRole::Admin).await;
    let w = W {
        s,
        a,
        bed: bed.clone(),
        _t: t,
    };

    let web = bed.nginx.clone();
    let name = format!("k{}.nginx.test", rand_suffix());
    let (site, old_c) = served_site(&web, false, &name).await;
    let (new_c, new_k) = make_cert(&name);
    let cert = import(&w, &new_c, &new_k).await;
    let srv = add_server(&w, "ed25519", ServerType::Nginx, true).await;
    deployment_for(&w, cert, &srv, &site, &name, &web).await;
    let task =
        w.s.deploy_enqueue(&w.a, cert, DeployTarget::Server(srv.id))
            .await
            .unwrap();

    // A daemon that stops for a while right after the swap; killed there with SIGKILL.
    let log = std::fs::File::create(dir.path().join("daemon.log")).unwrap();
    let mut daemon = Command::new(env!("CARGO_BIN_EXE_certdeck"))
        .arg("--database-url")
        .arg(&url)
        .arg("--serve-scheduler")
        .env("CERTDECK_DATA_DIR", dir.path().join("data"))
        .env("CERTDECK_CONFIG_DIR", dir.path().join("config"))
        .env("CERTDECK_MASTER_KEY", std::fs::read_to_string(&key_file).unwrap())
        .env("CERTDECK_TESTKIT_PAUSE_AFTER_SWAP_MS", "30000")
        .env_remove("CERTDECK_DATABASE_URL")
        .env_remove("CERTDECK_TESTKIT_COUNT_FILE")
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let mut swapped = false;
    for _ in 0..300 {
        if task_log(&w, task.id).await.contains("swapped into") {
            swapped = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = Command::new("kill").arg("-KILL").arg(daemon.id().to_string()).status();
    let _ = daemon.wait();
    assert!(
        swapped,
        "the daemon reached the swap: {}",
        std::fs::read_to_string(dir.path().join("daemon.log")).unwrap_or_default()
    );
    // Killed between swap and reload: the files on disk are a matching pair, the old one is served.
    assert!(pair_matches(&site.cert, &site.key), "never a mismatched pair on disk");
    assert_eq!(served_serial(web.port, &name).await, pem_serial(&old_c));
    // The lease runs out; the reaper puts the task back; the retry finishes the job.
    common::exec_with(
        &w._t.db,
        "UPDATE tasks SET lease_expires_at = '2000-01-01 00:00:00' WHERE id = ?",
        task.id,
    )
    .await;
    w.s.task_reap().await.unwrap();
    let d = run_task(&w, task.id).await;
    assert_eq!(d.task.status, TaskStatus::Completed, "{}", task_log(&w, task.id).await);
    assert_eq!(d.queue.attempts, 2);
    assert_eq!(served_serial(web.port, &name).await, pem_serial(&new_c));
    assert!(pair_matches(&site.cert, &site.key));
}

// ------------------------------------------------------------------ onboarding

#[tokio::test(flavor = "multi_thread")]
async fn servers_are_imported_from_an_ssh_config_and_a_csv_file_with_a_report_per_line() {
    let Some(w) = world().await else { return };
    let cfg = format!(
        "Host bastion\n  HostName {h}\n  Port {p}\n  User deploy\n  IdentityFile {k}\n\nHost web1\n  HostName 10.0.0.11\n  User deploy\n  ProxyJump bastion\n\nHost web2\n  HostName 10.0.0.12\n  ProxyJump nowhere\n\nHost *\n  ServerAliveInterval 30\n",
        h = w.bed.host,
        p = w.bed.port,
        k = w.bed.key
    );
    let rep =
        w.s.servers_import_ssh_config(&w.a, &cfg, &ImportDefaults::default())
            .await
            .unwrap();
    let by = |n: &str| {
        rep.iter()
            .find(|l| l.name == n)
            .unwrap_or_else(|| panic!("{n} in {rep:?}"))
            .clone()
    };
    let bastion = by("bastion").added.expect("bastion added");
    let web1 = by("web1").added.expect("web1 added");
    assert_eq!(by("bastion").line, 1);
    assert_eq!(by("web1").line, 7);
    assert!(by("web2").skipped.unwrap().contains("ProxyJump nowhere"));
    let r = w.s.server_get(&w.a, web1).await.unwrap();
    assert_eq!(
        (r.jump_server_id, r.auth_type, r.has_private_key),
        (Some(bastion), AuthType::Key, false)
    );
    let b = w.s.server_get(&w.a, bastion).await.unwrap();
    assert!(b.has_private_key && b.port == i32::from(w.bed.port));
    // Again: nothing added twice.
    let again =
        w.s.servers_import_ssh_config(&w.a, &cfg, &ImportDefaults::default())
            .await
            .unwrap();
    assert!(again.iter().all(|l| l.added.is_none()), "{again:?}");

    let csv = "hostname,name,port,username,auth_type,server_type,privilege_mode,jump\n\
               10.0.1.1,app1,22,deploy,key,apache,sudo,bastion\n\
               10.0.1.2,app2,70000,deploy,key,nginx,none,\n\
               10.0.1.3,app3,22,deploy,password,nginx,none,\n\
               10.0.1.4,app4,2222,deploy,key,nginx,none,\n";
    let rep =
        w.s.servers_import_csv(&w.a, csv, &ImportDefaults::default())
            .await
            .unwrap();
    assert_eq!(rep.len(), 4, "{rep:?}");
    assert!(rep[0].added.is_some() && rep[3].added.is_some(), "{rep:?}");
    assert!(rep[1].skipped.as_deref().unwrap().contains("port"), "{rep:?}");
    assert!(rep[2].skipped.as_deref().unwrap().contains("password"), "{rep:?}");
    assert_eq!((rep[0].line, rep[1].line, rep[2].line), (2, 3, 4));
    let app1 = w.s.server_get(&w.a, rep[0].added.unwrap()).await.unwrap();
    assert_eq!(
        (app1.server_type, app1.privilege_mode, app1.jump_server_id),
        (ServerType::Apache, PrivilegeMode::Sudo, Some(bastion))
    );
    let e =
        w.s.servers_import_csv(&w.a, "host,name\nx,y\n", &ImportDefaults::default())
            .await
            .err()
            .unwrap();
    assert!(e.to_string().contains("unknown column 'host'"), "{e}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_discovered_site_is_imported_or_bound_in_one_step() {
    let Some(w) = world().await else { return };
    let _g = BED_LOCK.lock().await;
    let srv = add_server(&w, "ed25519", ServerType::Nginx, true).await;
    let d = check(&w, srv.id).await;
    assert_eq!(d.task.status, TaskStatus::Completed);
    let sites = w.s.server_sites(&w.a, srv.id).await.unwrap();
    let disc = sites
        .iter()
        .find(|s| s.names().contains(&"discover.nginx.test".to_string()))
        .unwrap();
    // Import what the site serves: the certificate, and a deployment where it was found.
    let (cert, dep) = w.s.site_import(&w.a, disc.id).await.unwrap();
    assert_eq!(cert.main_domain, "discover.nginx.test");
    assert_eq!(Some(dep.deploy_path.clone()), disc.cert_path);
    assert_eq!(dep.key_path, disc.key_path);
    assert_eq!(dep.verify_sni.as_deref(), Some("discover.nginx.test"));
    assert_eq!(dep.verify_port, Some(i32::from(w.bed.nginx.port)));
    // The next check recognises the site's certificate as the managed one.
    check(&w, srv.id).await;
    let sites = w.s.server_sites(&w.a, srv.id).await.unwrap();
    let disc = sites
        .iter()
        .find(|s| s.names().contains(&"discover.nginx.test".to_string()))
        .unwrap();
    assert_eq!(disc.certificate_id, Some(cert.id));
    // Bind another managed certificate to the default site in one step.
    let local = sites
        .iter()
        .find(|s| s.names() == vec!["localhost"])
        .expect("default site");
    let (c, k) = make_cert("localhost");
    let other = import(&w, &c, &k).await;
    let dep = w.s.site_bind(&w.a, local.id, other).await.unwrap();
    assert_eq!(Some(dep.deploy_path), local.cert_path);
    // A plain site has no certificate to bind to.
    let plain = sites.iter().find(|s| !s.tls).unwrap();
    let e = w.s.site_bind(&w.a, plain.id, other).await.unwrap_err();
    assert!(e.to_string().contains("no certificate file"), "{e}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_operators_ssh_agent_authenticates_key_servers_without_a_stored_key() {
    let Some(w) = world().await else { return };
    let _g = BED_LOCK.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("agent.sock");
    let mut agent = Command::new("ssh-agent")
        .args(["-D", "-a"])
        .arg(&sock)
        .stdout(Stdio::null())
        .spawn()
        .expect("ssh-agent");
    for _ in 0..50 {
        if sock.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let added = Command::new("ssh-add")
        .arg(&w.bed.key)
        .env("SSH_AUTH_SOCK", &sock)
        .status()
        .unwrap();
    assert!(added.success());
    // Only this test in the binary reads SSH_AUTH_SOCK.
    std::env::set_var("SSH_AUTH_SOCK", &sock);
    let srv =
        w.s.server_create(
            &w.a,
            &ServerInput {
                hostname: Some(w.bed.host.clone()),
                port: Some(i64::from(w.bed.port)),
                auth_type: Some(AuthType::Key),
                username: Some(w.bed.user.clone()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(!srv.has_private_key);
    w.s.server_trust_host_key(&w.a, srv.id, &w.bed.host_fp).await.unwrap();
    let srv = w.s.server_get(&w.a, srv.id).await.unwrap();
    let s = w.s.ssh_connect(&srv).await.expect("agent auth");
    assert_eq!(s.run("id -un").await.unwrap().stdout.trim(), w.bed.user);
    s.close().await;
    std::env::remove_var("SSH_AUTH_SOCK");
    let e = w.s.ssh_connect(&srv).await.err().expect("no agent");
    assert!(e.to_string().contains("ssh-agent"), "{e}");
    let _ = agent.kill();
    let _ = agent.wait();
}

#[tokio::test(flavor = "multi_thread")]
async fn an_other_type_server_uses_its_own_commands_and_rolls_back_when_its_test_fails() {
    let Some(w) = world().await else { return };
    let _g = BED_LOCK.lock().await;
    let web = w.bed.nginx.clone();
    let name = format!("o{}.nginx.test", rand_suffix());
    let (site, _) = served_site(&web, false, &name).await;
    // No defaults for `other`: the operator's own commands, with sudo written out.
    let srv =
        w.s.server_create(
            &w.a,
            &ServerInput {
                hostname: Some(w.bed.host.clone()),
                port: Some(i64::from(w.bed.port)),
                server_type: Some(ServerType::Other),
                auth_type: Some(AuthType::Key),
                username: Some(w.bed.user.clone()),
                private_key: Some(read(&w.bed.key)),
                test_command: Some(format!("test -s {}", site.cert.display())),
                reload_command: Some(format!("sudo -n {}", web.reload_cmd)),
                verify_port: Some(i64::from(web.port)),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    w.s.server_trust_host_key(&w.a, srv.id, &w.bed.host_fp).await.unwrap();
    let srv = w.s.server_get(&w.a, srv.id).await.unwrap();
    let plan = w.s.deploy_plan(&w.a, 0, DeployTarget::All).await;
    assert!(plan.is_err(), "no certificate 0");
    let (c1, k1) = make_cert(&name);
    let cert1 = import(&w, &c1, &k1).await;
    deployment_for(&w, cert1, &srv, &site, &name, &web).await;
    let t =
        w.s.deploy_enqueue(&w.a, cert1, DeployTarget::Server(srv.id))
            .await
            .unwrap();
    let d = run_task(&w, t.id).await;
    assert_eq!(d.task.status, TaskStatus::Completed, "{}", task_log(&w, t.id).await);
    assert_eq!(served_serial(web.port, &name).await, pem_serial(&c1));
    let log = task_log(&w, t.id).await;
    assert!(log.contains("config test ok: test -s"), "{log}");

    // The operator's test now fails: the next deploy is rolled back to what it replaced.
    w.s.server_update(
        &w.a,
        srv.id,
        &ServerInput {
            test_command: Some("echo 'site check failed' >&2; exit 4".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let (c2, k2) = make_cert(&name);
    let cert2 = import(&w, &c2, &k2).await;
    // The site's files belong to the first binding: the new certificate replaces it explicitly
    // (a second deployment writing the same files is refused).
    let dep2 =
        w.s.deployment_create_with(
            &w.a,
            cert2,
            srv.id,
            &DeploymentInput {
                deploy_path: site.cert.display().to_string(),
                key_path: Some(site.key.display().to_string()),
                verify_sni: Some(name.clone()),
                verify_port: Some(i64::from(web.port)),
                replace: true,
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .id;
    let t =
        w.s.deploy_enqueue(&w.a, cert2, DeployTarget::Server(srv.id))
            .await
            .unwrap();
    let d = run_task(&w, t.id).await;
    assert_eq!(d.task.status, TaskStatus::Failed);
    let row = w.s.deployment_get(&w.a, dep2).await.unwrap();
    let msg = row.error_message.unwrap_or_default();
    assert!(msg.contains("exited with 4: site check failed"), "{msg}");
    assert!(msg.contains("rolled back"), "{msg}");
    assert_eq!(
        std::fs::read_to_string(&site.cert).unwrap(),
        c1,
        "the certificate it replaced is back"
    );
    assert!(pair_matches(&site.cert, &site.key));
    assert_eq!(served_serial(web.port, &name).await, pem_serial(&c1));
}

// ------------------------------------------------------------------ http-01 through a webroot

/// An nginx site on Pebble's http-01 port (5002) serving `root`; removed (and nginx reloaded)
/// on drop.
struct ChallengeSite {
    conf: PathBuf,
    reload: String,
}

impl Drop for ChallengeSite {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.conf);
        let _ = Command::new("sh").arg("-c").arg(&self.reload).status();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn http01_writes_the_challenge_into_the_discovered_nginx_webroot_over_ssh_and_removes_it() {
    let Some(w) = world().await else { return };
    let (Some(directory), Some(ca)) = (env("CERTDECK_TEST_PEBBLE_DIRECTORY"), env("CERTDECK_TEST_PEBBLE_CA")) else {
        assert!(!common::peers_required(), "Pebble is not up but peers are required");
        return;
    };
    let _g = BED_LOCK.lock().await;
    let web = &w.bed.nginx;
    // A webroot the deploy user owns, served by nginx where Pebble validates (port 5002; the
    // challtestsrv DNS answers 127.0.0.1 for every name).
    let webroot = std::env::temp_dir().join(format!("certdeck-webroot-{}", rand_suffix()));
    std::fs::create_dir_all(&webroot).unwrap();
    sh(&format!(
        "chown {} {} && chmod 755 {}",
        deploy_uid(),
        webroot.display(),
        webroot.display()
    ));
    let site = ChallengeSite {
        conf: web.sites.join("acme-http01.conf"),
        reload: format!("/usr/sbin/{}", web.reload_cmd),
    };
    let domain = format!("h{}.test", rand_suffix());
    std::fs::write(
        &site.conf,
        format!(
            "server {{\n  listen 127.0.0.1:5002;\n  server_name {domain} www.{domain};\n  root {}/;\n}}\n",
            webroot.display()
        ),
    )
    .unwrap();
    sh(&site.reload);

    let server = add_server(&w, "ed25519", ServerType::Nginx, true).await;
    w.s.ca_add(&w.a, "pebble", &directory, Some(&read(&ca)), false, None)
        .await
        .unwrap();
    // The check discovers the site and its document root: the request needs no --webroot.
    assert_eq!(check(&w, server.id).await.task.status, TaskStatus::Completed);
    let e =
        w.s.cert_request(
            &w.a,
            &certdeck::service::acme::RequestInput {
                domains: vec![format!("other-{domain}")],
                ca: "pebble".into(),
                challenge: "http-01".into(),
                http_server_id: Some(server.id),
                ..Default::default()
            },
        )
        .await
        .expect_err("no site serves it");
    assert!(
        e.to_string().contains(&format!(
            "no discovered site on server {} serves other-{domain}",
            server.name.as_deref().unwrap()
        )),
        "{e}"
    );
    let (cert, task) =
        w.s.cert_request(
            &w.a,
            &certdeck::service::acme::RequestInput {
                domains: vec![domain.clone(), format!("www.{domain}")],
                ca: "pebble".into(),
                email: Some("ops@example.test".into()),
                key: Some("ec256".into()),
                challenge: "http-01".into(),
                http_server_id: Some(server.id),
                ..Default::default()
            },
        )
        .await
        .expect("request");
    let t = run_task(&w, task.id).await;
    let log = task_log(&w, task.id).await;
    assert_eq!(t.task.status, TaskStatus::Completed, "{log}");
    assert!(
        log.contains(&format!(
            "2 challenge file(s) written under {}/.well-known/acme-challenge",
            webroot.display()
        )),
        "{log}"
    );
    let issued = w.s.cert_get(&w.a, cert.id).await.unwrap();
    assert_eq!(issued.status, certdeck::domain::CertificateStatus::Issued);
    // Pebble fetched every token from nginx (its access log), and the files are gone again.
    let rows = w.s.cert_challenges(&w.a, cert.id, Default::default()).await.unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");
    let access = std::fs::read_to_string(Path::new(&web.conf).with_file_name("access.log")).unwrap();
    for r in &rows {
        assert_eq!(
            (r.record_type.as_str(), r.status.to_string().as_str()),
            ("HTTP", "verified"),
            "{r:?}"
        );
        assert!(
            access.contains(&format!("GET {} HTTP/1.1\" 200", r.record_name)),
            "nginx served {} to the CA",
            r.record_name
        );
    }
    let left: Vec<_> = std::fs::read_dir(webroot.join(".well-known/acme-challenge"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "challenge files removed: {left:?}");
    drop(site);
    let _ = std::fs::remove_dir_all(&webroot);
}
