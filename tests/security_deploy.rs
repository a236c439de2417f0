//! Issue 14 §5 and §8: a deploy never destroys a key or leaves a mixed pair, and what certdeck
//! reports is what the server does. Each attack is played against the test bed's real OpenSSH,
//! nginx and Apache; each test ends with the config test passing and the expected pair served.
//! The tests share the bed's one nginx and one Apache, so they hold [`BED_LOCK`] (and nextest
//! runs this binary in the `webservers` group).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use certdeck::domain::{AuthType, DeploymentStatus, PrivilegeMode, ServerType, TaskStatus, UserRole};
use certdeck::errors::ServiceError;
use certdeck::service::certificates::{DeploymentInput, ImportInput};
use certdeck::service::deploy::DeployTarget;
use certdeck::service::servers::ServerInput;
use certdeck::service::tasks::Runners;
use certdeck::service::{Actor, Services};
use certdeck::store::servers::ServerRow;
use common::bed::{bed, pair_matches, pem_serial, served_serial, sh, wait_served, write_tls_site, Bed, Web};
use common::TestDb;
use common::{make_user, services_with};

static BED_LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

struct W {
    s: Services,
    a: Actor,
    bed: Bed,
    t: TestDb,
}

async fn world() -> Option<W> {
    let bed = bed()?;
    let t = common::sqlite().await;
    let s = services_with(&t, common::keyring());
    let (_, a) = make_user(&s, &t, None, "ops", UserRole::Admin).await;
    Some(W { s, a, bed, t })
}

fn rand_suffix() -> String {
    format!("{:08x}", rand::random::<u32>())
}

/// A server entry for the bed's sshd that runs `kind`'s commands (host key trusted).
async fn add_server(w: &W, kind: ServerType) -> ServerRow {
    let b = &w.bed;
    let webc = if kind == ServerType::Apache {
        &b.apache
    } else {
        &b.nginx
    };
    let input = ServerInput {
        name: Some(format!("deploy-sec-{kind}-{}", rand_suffix())),
        hostname: Some(b.host.clone()),
        port: Some(i64::from(b.port)),
        server_type: Some(kind),
        username: Some(b.user.clone()),
        privilege_mode: Some(PrivilegeMode::Sudo),
        test_command: Some(webc.test_cmd.clone()),
        reload_command: Some(webc.reload_cmd.clone()),
        config_root: Some(webc.conf.clone()),
        verify_port: Some(i64::from(webc.port)),
        auth_type: Some(AuthType::Key),
        private_key: Some(std::fs::read_to_string(&b.key).unwrap()),
        ..Default::default()
    };
    let row = w.s.server_create(&w.a, &input).await.expect("add server");
    w.s.server_trust_host_key(&w.a, row.id, &b.host_fp)
        .await
        .expect("trust");
    w.s.server_get(&w.a, row.id).await.unwrap()
}

/// A self-signed certificate and key for `names` (rcgen), as PEM.
fn make_cert(names: &[&str]) -> (String, String) {
    let kp = rcgen::KeyPair::generate().expect("key");
    let params =
        rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).expect("params");
    let cert = params.self_signed(&kp).expect("self-sign");
    (cert.pem(), kp.serialize_pem())
}

fn write_owned(path: &Path, text: &str, mode: u32) {
    std::fs::write(path, text).unwrap();
    sh(&format!("chown deploy {p} && chmod {mode:o} {p}", p = path.display()));
}

/// The web server accepts its config (the next deploy is not blocked by this one).
fn config_test_passes(web: &Web) {
    sh(&format!("/usr/sbin/{}", web.test_cmd));
}

/// A TLS site on the bed's nginx or Apache for `name` whose config names `cert` and `key`;
/// on drop its config and every file of this test (named with its stem) go, and it reloads.
struct Site {
    conf: PathBuf,
    stem: String,
    dir: PathBuf,
    reload: String,
}

impl Drop for Site {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.conf);
        if let Ok(rd) = std::fs::read_dir(&self.dir) {
            for e in rd.flatten() {
                if e.file_name().to_string_lossy().starts_with(&self.stem) {
                    let _ = Command::new("rm").arg("-rf").arg(e.path()).status();
                }
            }
        }
        let _ = Command::new("sh").arg("-c").arg(&self.reload).status();
    }
}

/// Writes the site's config naming `cert` and `key` (files written by the caller) and reloads.
fn make_site(web: &Web, apache: bool, name: &str, stem: &str, cert: &Path, key: &Path) -> Site {
    let conf = write_tls_site(web, apache, name, stem, cert, key);
    Site {
        conf,
        stem: stem.to_string(),
        dir: web.certs.clone(),
        reload: format!("/usr/sbin/{}", web.reload_cmd),
    }
}

/// A site for `name` serving a fresh certificate at `<stem>.crt` / `<stem>.key` in the web
/// server's certs dir; returns it with the paths and the PEMs served.
struct Served {
    site: Site,
    cert: PathBuf,
    key: PathBuf,
    cert_pem: String,
    key_pem: String,
}

async fn served_site(web: &Web, apache: bool, name: &str) -> Served {
    let stem = name.replace('.', "-");
    let (c, k) = make_cert(&[name]);
    let cert = web.certs.join(format!("{stem}.crt"));
    let key = web.certs.join(format!("{stem}.key"));
    write_owned(&cert, &c, 0o644);
    write_owned(&key, &k, 0o600);
    let site = make_site(web, apache, name, &stem, &cert, &key);
    wait_served(web.port, name, &pem_serial(&c)).await;
    Served {
        site,
        cert,
        key,
        cert_pem: c,
        key_pem: k,
    }
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

async fn deployment(w: &W, cert: i64, srv: &ServerRow, path: &Path, key: Option<&Path>, sni: &str, port: u16) -> i64 {
    w.s.deployment_create_with(
        &w.a,
        cert,
        srv.id,
        &DeploymentInput {
            deploy_path: path.display().to_string(),
            key_path: key.map(|k| k.display().to_string()),
            verify_sni: Some(sni.into()),
            verify_port: Some(i64::from(port)),
            auto_deploy: true,
            ..Default::default()
        },
    )
    .await
    .expect("deployment add")
    .id
}

async fn deploy(w: &W, cert: i64, target: DeployTarget) -> (certdeck::service::tasks::TaskDetail, String) {
    let t = w.s.deploy_enqueue(&w.a, cert, target).await.unwrap();
    run(w, t.id).await
}

async fn run(w: &W, id: i64) -> (certdeck::service::tasks::TaskDetail, String) {
    let r = w.s.task_run_here(&w.a, id, &Runners::builtin()).await.expect("run");
    assert!(r.is_some(), "the task ran here");
    let d = w.s.task_get(&w.a, id).await.unwrap();
    let log =
        w.s.task_logs(&w.a, id, 0, 1000)
            .await
            .unwrap()
            .iter()
            .map(|l| l.message.clone())
            .collect::<Vec<_>>()
            .join("\n");
    (d, log)
}

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
}

fn read_s(p: &Path) -> String {
    String::from_utf8_lossy(&read(p)).into_owned()
}

/// The files in the certs dir that belong to this test (named with the site's stem).
fn files_of(site: &Site) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(&site.dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with(&site.stem))
        .collect();
    v.sort();
    v
}

// ------------------------------------------------------------------ §5

/// A shared key file that existed before (the config pairs it with another certificate) is
/// backed up although no certificate existed at the deploy path, and comes back byte for byte
/// when the deploy fails; the certificate file, new, is removed again.
#[tokio::test(flavor = "multi_thread")]
async fn a_shared_key_file_survives_a_failing_deploy_byte_for_byte() {
    let Some(w) = world().await else { return };
    let _g = BED_LOCK.lock().await;
    let web = w.bed.nginx.clone();
    let name = format!("deploy-shared{}.nginx.test", rand_suffix());
    let old = served_site(&web, false, &name).await;
    let key_before = read(&old.key);
    // A new certificate path, and the key path the site already uses for its own certificate:
    // after the swap nginx pairs its old certificate with the new key, and its test fails.
    let new_path = web.certs.join(format!("{}-new.crt", old.site.stem));
    let (new_c, new_k) = make_cert(&[&name]);
    let cert = import(&w, &new_c, &new_k).await;
    let srv = add_server(&w, ServerType::Nginx).await;
    let dep = deployment(&w, cert, &srv, &new_path, Some(&old.key), &name, web.port).await;

    let (d, log) = deploy(&w, cert, DeployTarget::Server(srv.id)).await;
    assert_eq!(d.task.status, TaskStatus::Failed, "{log}");
    let row = w.s.deployment_get(&w.a, dep).await.unwrap();
    assert_eq!(row.status, DeploymentStatus::Failed);
    let msg = row.error_message.unwrap_or_default();
    assert!(
        msg.contains("config test failed") && msg.contains("rolled back"),
        "{msg}"
    );
    assert_eq!(
        read(&old.key),
        key_before,
        "the shared key is back byte for byte:\n{log}"
    );
    assert!(
        !new_path.exists(),
        "the certificate file that did not exist is removed again"
    );
    assert_eq!(read_s(&old.cert), old.cert_pem, "the site's certificate is untouched");
    assert!(pair_matches(&old.cert, &old.key));
    assert!(
        files_of(&old.site)
            .iter()
            .all(|f| !f.contains("certdeck-new") && !f.contains("certdeck-txn")),
        "no temporary file or transaction record left: {:?}",
        files_of(&old.site)
    );
    config_test_passes(&web);
    assert_eq!(served_serial(web.port, &name).await, pem_serial(&old.cert_pem));
    assert!(!log.contains("PRIVATE KEY"), "no key material in logs");
}

/// A key path equal to the certificate path is refused when the deployment is added (given or
/// derived from a `.key` certificate path), and at deploy time for a row that has one.
#[tokio::test(flavor = "multi_thread")]
async fn a_key_path_equal_to_the_certificate_path_is_refused() {
    let Some(w) = world().await else { return };
    let _g = BED_LOCK.lock().await;
    let web = w.bed.nginx.clone();
    let name = format!("deploy-same{}.nginx.test", rand_suffix());
    let old = served_site(&web, false, &name).await;
    let (new_c, new_k) = make_cert(&[&name]);
    let cert = import(&w, &new_c, &new_k).await;
    let srv = add_server(&w, ServerType::Nginx).await;

    let given =
        w.s.deployment_create_with(
            &w.a,
            cert,
            srv.id,
            &DeploymentInput {
                deploy_path: old.cert.display().to_string(),
                key_path: Some(old.cert.display().to_string()),
                ..Default::default()
            },
        )
        .await;
    assert!(
        matches!(&given, Err(ServiceError::Validation { field, .. }) if field == "key_path"),
        "{given:?}"
    );
    // A certificate path ending in .key derives the key path: the same file.
    let derived =
        w.s.deployment_create_with(
            &w.a,
            cert,
            srv.id,
            &DeploymentInput {
                deploy_path: old.key.display().to_string(),
                ..Default::default()
            },
        )
        .await;
    let err = derived.expect_err("a derived key path equal to the certificate path is refused");
    assert!(err.to_string().contains("is the certificate path itself"), "{err}");
    assert!(w.s.deployment_list(&w.a, Some(cert), None).await.unwrap().is_empty());

    // A row that has one anyway (written before this check existed) is refused by the deploy.
    let dep = deployment(&w, cert, &srv, &old.cert, Some(&old.key), &name, web.port).await;
    common::exec_with(
        &w.t.db,
        "UPDATE certificate_deployments SET key_path = deploy_path WHERE id = ?",
        dep,
    )
    .await;
    let (d, log) = deploy(&w, cert, DeployTarget::Server(srv.id)).await;
    assert_eq!(d.task.status, TaskStatus::Failed, "{log}");
    let row = w.s.deployment_get(&w.a, dep).await.unwrap();
    let msg = row.error_message.unwrap_or_default();
    assert!(msg.contains("the key path is the certificate path"), "{msg}");
    assert_eq!(read_s(&old.cert), old.cert_pem, "nothing written");
    assert_eq!(read_s(&old.key), old.key_pem, "nothing written");
    assert!(!log.contains("uploaded"), "nothing uploaded:\n{log}");
    config_test_passes(&web);
    assert_eq!(served_serial(web.port, &name).await, pem_serial(&old.cert_pem));
}

/// When the key cannot be put in place after the certificate was (here: the key lives in a
/// sticky directory and belongs to root, so the SSH user may not rename over it), the same
/// remote command puts the certificate back: never a new certificate with the old key.
#[tokio::test(flavor = "multi_thread")]
async fn a_failed_key_swap_puts_the_certificate_back() {
    let Some(w) = world().await else { return };
    let _g = BED_LOCK.lock().await;
    let web = w.bed.nginx.clone();
    let name = format!("deploy-half{}.nginx.test", rand_suffix());
    let stem = name.replace('.', "-");
    let (old_c, old_k) = make_cert(&[&name]);
    let cert_path = web.certs.join(format!("{stem}.crt"));
    write_owned(&cert_path, &old_c, 0o644);
    let locked = web.certs.join(format!("{stem}-locked"));
    std::fs::create_dir(&locked).unwrap();
    sh(&format!("chmod 1777 {}", locked.display()));
    let key_path = locked.join("site.key");
    std::fs::write(&key_path, &old_k).unwrap();
    sh(&format!("chmod 0644 {}", key_path.display()));
    let site = make_site(&web, false, &name, &stem, &cert_path, &key_path);
    wait_served(web.port, &name, &pem_serial(&old_c)).await;

    let (new_c, new_k) = make_cert(&[&name]);
    let cert = import(&w, &new_c, &new_k).await;
    let srv = add_server(&w, ServerType::Nginx).await;
    let dep = deployment(&w, cert, &srv, &cert_path, Some(&key_path), &name, web.port).await;
    let (d, log) = deploy(&w, cert, DeployTarget::Server(srv.id)).await;
    assert_eq!(d.task.status, TaskStatus::Failed, "{log}");
    let msg =
        w.s.deployment_get(&w.a, dep)
            .await
            .unwrap()
            .error_message
            .unwrap_or_default();
    assert!(
        msg.contains("could not put the key in place") && msg.contains("certificate was put back"),
        "{msg}"
    );
    assert_eq!(read_s(&cert_path), old_c, "the certificate is put back:\n{log}");
    assert_eq!(read_s(&key_path), old_k, "the key is untouched");
    assert!(pair_matches(&cert_path, &key_path), "never a mixed pair");
    config_test_passes(&web);
    assert_eq!(served_serial(web.port, &name).await, pem_serial(&old_c));
    drop(site);
}

/// A rollback puts back the files that existed and removes only those that did not: here the
/// certificate existed and the key path is new (the config keeps its own key, so the test fails).
#[tokio::test(flavor = "multi_thread")]
async fn a_rollback_removes_only_the_files_that_did_not_exist() {
    let Some(w) = world().await else { return };
    let _g = BED_LOCK.lock().await;
    let web = w.bed.nginx.clone();
    let name = format!("deploy-only{}.nginx.test", rand_suffix());
    let old = served_site(&web, false, &name).await;
    let new_key = web.certs.join(format!("{}-other.key", old.site.stem));
    let (new_c, new_k) = make_cert(&[&name]);
    let cert = import(&w, &new_c, &new_k).await;
    let srv = add_server(&w, ServerType::Nginx).await;
    let before = files_of(&old.site);
    let dep = deployment(&w, cert, &srv, &old.cert, Some(&new_key), &name, web.port).await;
    let (d, log) = deploy(&w, cert, DeployTarget::Server(srv.id)).await;
    assert_eq!(d.task.status, TaskStatus::Failed, "{log}");
    let msg =
        w.s.deployment_get(&w.a, dep)
            .await
            .unwrap()
            .error_message
            .unwrap_or_default();
    assert!(msg.contains("is served again"), "{msg}");
    assert!(log.contains("removed (it did not exist before)"), "{log}");
    assert_eq!(read_s(&old.cert), old.cert_pem, "the certificate that existed is back");
    assert_eq!(read_s(&old.key), old.key_pem, "the site's own key is untouched");
    assert!(!new_key.exists(), "the key that did not exist is removed");
    // Left: the files that were there, plus the backup of the certificate that existed.
    let after: Vec<String> = files_of(&old.site)
        .into_iter()
        .filter(|f| !f.contains(".certdeck-bak-"))
        .collect();
    assert_eq!(after, before);
    config_test_passes(&web);
    assert_eq!(served_serial(web.port, &name).await, pem_serial(&old.cert_pem));
}

/// A site whose certificate and key paths are symbolic links to shared files (certbot's
/// `live/` links): a failing deploy puts the links back (not copies of what they pointed to),
/// and the shared files are untouched byte for byte.
#[tokio::test(flavor = "multi_thread")]
async fn a_rollback_puts_symbolic_links_back_as_links() {
    let Some(w) = world().await else { return };
    let _g = BED_LOCK.lock().await;
    let web = w.bed.nginx.clone();
    let name = format!("deploy-link{}.nginx.test", rand_suffix());
    let stem = name.replace('.', "-");
    let (c, k) = make_cert(&[&name]);
    let (shared_c, shared_k) = (
        web.certs.join(format!("{stem}-shared.crt")),
        web.certs.join(format!("{stem}-shared.key")),
    );
    write_owned(&shared_c, &c, 0o644);
    write_owned(&shared_k, &k, 0o600);
    let (link_c, link_k) = (
        web.certs.join(format!("{stem}.crt")),
        web.certs.join(format!("{stem}.key")),
    );
    let target_c = PathBuf::from(format!("{stem}-shared.crt"));
    let target_k = PathBuf::from(format!("{stem}-shared.key"));
    std::os::unix::fs::symlink(&target_c, &link_c).unwrap();
    std::os::unix::fs::symlink(&target_k, &link_k).unwrap();
    let site = make_site(&web, false, &name, &stem, &link_c, &link_k);
    wait_served(web.port, &name, &pem_serial(&c)).await;

    let (new_c, new_k) = make_cert(&[&name]);
    let cert = import(&w, &new_c, &new_k).await;
    let srv = add_server(&w, ServerType::Nginx).await;
    // The config test fails after the swap: everything is rolled back.
    let failing = ServerInput {
        test_command: Some("false".into()),
        ..Default::default()
    };
    w.s.server_update(&w.a, srv.id, &failing).await.unwrap();
    let dep = deployment(&w, cert, &srv, &link_c, Some(&link_k), &name, web.port).await;
    let (d, log) = deploy(&w, cert, DeployTarget::Server(srv.id)).await;
    assert_eq!(d.task.status, TaskStatus::Failed, "{log}");
    let msg =
        w.s.deployment_get(&w.a, dep)
            .await
            .unwrap()
            .error_message
            .unwrap_or_default();
    assert!(msg.contains("rolled back"), "{msg}");
    for (link, target) in [(&link_c, &target_c), (&link_k, &target_k)] {
        let meta = std::fs::symlink_metadata(link).unwrap();
        assert!(
            meta.file_type().is_symlink(),
            "{} is a link again, not a copy:\n{log}",
            link.display()
        );
        assert_eq!(&std::fs::read_link(link).unwrap(), target);
    }
    assert_eq!(read_s(&shared_c), c, "the shared certificate is untouched");
    assert_eq!(read_s(&shared_k), k, "the shared key is untouched");
    config_test_passes(&web);
    assert_eq!(served_serial(web.port, &name).await, pem_serial(&c));
    drop(site);
}

// ------------------------------------------------------------------ §8

/// Killed right after the swap in an earlier attempt (played here by hand: the new pair is on
/// disk, nginx was never reloaded, and the row already says deployed with the new serial): the
/// retry asks the server by a handshake, deploys again and reloads, and only then says deployed.
#[tokio::test(flavor = "multi_thread")]
async fn a_retry_decides_from_a_handshake_not_from_the_row() {
    let Some(w) = world().await else { return };
    let _g = BED_LOCK.lock().await;
    let web = w.bed.nginx.clone();
    let name = format!("deploy-retry{}.nginx.test", rand_suffix());
    let old = served_site(&web, false, &name).await;
    let (new_c, new_k) = make_cert(&[&name]);
    let cert = import(&w, &new_c, &new_k).await;
    let srv = add_server(&w, ServerType::Nginx).await;
    let dep = deployment(&w, cert, &srv, &old.cert, Some(&old.key), &name, web.port).await;
    let task =
        w.s.deploy_enqueue(&w.a, cert, DeployTarget::Server(srv.id))
            .await
            .unwrap();
    // The state an attempt killed after the swap leaves when the row was already `deployed`
    // with this serial (a deploy of the same certificate before, undone by hand since).
    write_owned(&old.cert, &new_c, 0o644);
    write_owned(&old.key, &new_k, 0o600);
    common::exec_with(
        &w.t.db,
        "UPDATE certificate_deployments SET status = 'deployed', deployed_serial = ? WHERE id = ?",
        (pem_serial(&new_c).as_str(), dep),
    )
    .await;
    common::exec_with(&w.t.db, "UPDATE tasks SET attempts = 1 WHERE id = ?", task.id).await;
    assert_eq!(served_serial(web.port, &name).await, pem_serial(&old.cert_pem));

    let (d, log) = run(&w, task.id).await;
    assert_eq!(d.queue.attempts, 2, "this run was the retry");
    assert_eq!(d.task.status, TaskStatus::Completed, "{log}");
    assert!(log.contains("does not serve it"), "the retry asked the server:\n{log}");
    assert!(log.contains("reload ok"), "the retry reloaded:\n{log}");
    assert_eq!(
        served_serial(web.port, &name).await,
        pem_serial(&new_c),
        "deployed means served:\n{log}"
    );
    assert!(pair_matches(&old.cert, &old.key));
    config_test_passes(&web);

    // A retry that finds the new certificate really served does nothing again.
    let task =
        w.s.deploy_enqueue(&w.a, cert, DeployTarget::Server(srv.id))
            .await
            .unwrap();
    common::exec_with(&w.t.db, "UPDATE tasks SET attempts = 1 WHERE id = ?", task.id).await;
    let (d, log) = run(&w, task.id).await;
    assert_eq!(d.task.status, TaskStatus::Completed, "{log}");
    assert!(log.contains("checked by a TLS handshake"), "{log}");
    assert!(!log.contains("uploaded"), "{log}");
}

/// An nginx and an Apache entry on one SSH host and port each get their own config test and
/// reload: both deployed, both served.
#[tokio::test(flavor = "multi_thread")]
async fn nginx_and_apache_entries_on_one_host_are_both_tested_and_reloaded() {
    let Some(w) = world().await else { return };
    let _g = BED_LOCK.lock().await;
    let (nginx, apache) = (w.bed.nginx.clone(), w.bed.apache.clone());
    let n_name = format!("deploy-mix{}.nginx.test", rand_suffix());
    let a_name = format!("deploy-mix{}.apache.test", rand_suffix());
    let n_old = served_site(&nginx, false, &n_name).await;
    let a_old = served_site(&apache, true, &a_name).await;
    let (new_c, new_k) = make_cert(&[&n_name, &a_name]);
    let cert = import(&w, &new_c, &new_k).await;
    let n_srv = add_server(&w, ServerType::Nginx).await;
    let a_srv = add_server(&w, ServerType::Apache).await;
    deployment(&w, cert, &n_srv, &n_old.cert, Some(&n_old.key), &n_name, nginx.port).await;
    deployment(&w, cert, &a_srv, &a_old.cert, Some(&a_old.key), &a_name, apache.port).await;

    let (d, log) = deploy(&w, cert, DeployTarget::All).await;
    assert_eq!(d.task.status, TaskStatus::Completed, "{log}");
    for cmd in [&nginx.test_cmd, &nginx.reload_cmd, &apache.test_cmd, &apache.reload_cmd] {
        assert!(log.contains(&format!("ok: {cmd}")), "{cmd} ran:\n{log}");
    }
    for row in w.s.deployment_list(&w.a, Some(cert), None).await.unwrap() {
        assert_eq!(row.status, DeploymentStatus::Deployed, "{row:?}");
    }
    let serial = pem_serial(&new_c);
    assert_eq!(served_serial(nginx.port, &n_name).await, serial);
    assert_eq!(served_serial(apache.port, &a_name).await, serial);
    assert!(pair_matches(&n_old.cert, &n_old.key) && pair_matches(&a_old.cert, &a_old.key));
    config_test_passes(&nginx);
    config_test_passes(&apache);
}

/// Entries that share a reload are rolled back together when one fails, and each says why.
#[tokio::test(flavor = "multi_thread")]
async fn entries_rolled_back_with_a_failing_one_each_say_why() {
    let Some(w) = world().await else { return };
    let _g = BED_LOCK.lock().await;
    let web = w.bed.nginx.clone();
    let good_name = format!("deploy-why{}.nginx.test", rand_suffix());
    let bad_name = format!("deploy-whybad{}.nginx.test", rand_suffix());
    let good = served_site(&web, false, &good_name).await;
    let bad = served_site(&web, false, &bad_name).await;
    let (new_c, new_k) = make_cert(&[&good_name, &bad_name]);
    let cert = import(&w, &new_c, &new_k).await;
    let srv = add_server(&w, ServerType::Nginx).await;
    let srv2 = add_server(&w, ServerType::Nginx).await;
    let g = deployment(&w, cert, &srv, &good.cert, Some(&good.key), &good_name, web.port).await;
    // Verified on a name no site serves: this entry's verification fails.
    let b = deployment(&w, cert, &srv2, &bad.cert, Some(&bad.key), "nowhere.invalid", web.port).await;
    std::env::set_var("CERTDECK_DEPLOY_VERIFY_TIMEOUT", "3");
    let (d, log) = deploy(&w, cert, DeployTarget::All).await;
    std::env::remove_var("CERTDECK_DEPLOY_VERIFY_TIMEOUT");
    assert_eq!(d.task.status, TaskStatus::Failed, "{log}");
    let g = w.s.deployment_get(&w.a, g).await.unwrap();
    let b = w.s.deployment_get(&w.a, b).await.unwrap();
    let (ge, be) = (g.error_message.unwrap_or_default(), b.error_message.unwrap_or_default());
    assert!(be.contains("verify failed"), "{be}");
    assert!(
        ge.contains("rolled back with the other entries sharing its reload") && ge.contains("verify failed"),
        "{ge}"
    );
    assert!(ge.contains("is served again"), "{ge}");
    assert_eq!(read_s(&good.cert), good.cert_pem);
    assert_eq!(read_s(&bad.cert), bad.cert_pem);
    config_test_passes(&web);
    assert_eq!(served_serial(web.port, &good_name).await, pem_serial(&good.cert_pem));
}

/// A second certificate on the same server (or another entry of the same machine) and path is
/// refused with a specific error, also through the key file; `--replace` replaces, audited.
#[tokio::test(flavor = "multi_thread")]
async fn a_second_deployment_on_the_same_server_and_path_is_refused() {
    let Some(w) = world().await else { return };
    let _g = BED_LOCK.lock().await;
    let web = w.bed.nginx.clone();
    let name = format!("deploy-dup{}.nginx.test", rand_suffix());
    let old = served_site(&web, false, &name).await;
    let (a_c, a_k) = make_cert(&[&name]);
    let (b_c, b_k) = make_cert(&[&name]);
    let cert_a = import(&w, &a_c, &a_k).await;
    let cert_b = import(&w, &b_c, &b_k).await;
    let srv = add_server(&w, ServerType::Nginx).await;
    let same_machine = add_server(&w, ServerType::Apache).await;
    let dep_a = deployment(&w, cert_a, &srv, &old.cert, Some(&old.key), &name, web.port).await;

    let input = |path: &Path, key: &Path, replace: bool| DeploymentInput {
        deploy_path: path.display().to_string(),
        key_path: Some(key.display().to_string()),
        verify_sni: Some(name.clone()),
        verify_port: Some(i64::from(web.port)),
        replace,
        ..Default::default()
    };
    let other_key = web.certs.join(format!("{}-b.key", old.site.stem));
    let other_cert = web.certs.join(format!("{}-b.crt", old.site.stem));
    for (srv_id, path, key, says) in [
        (srv.id, &old.cert, &other_key, "already has certificate"),
        (same_machine.id, &old.cert, &other_key, "already has certificate"),
        (srv.id, &other_cert, &old.key, "is already the key file of deployment"),
    ] {
        let r =
            w.s.deployment_create_with(&w.a, cert_b, srv_id, &input(path, key, false))
                .await;
        match r {
            Err(ServiceError::Conflict(m)) => {
                assert!(m.contains(says) && m.contains(&format!("deployment {dep_a}")), "{m}");
                assert!(m.contains("--replace"), "{m}");
            }
            other => panic!("refused, not {other:?}"),
        }
    }
    assert!(w.s.deployment_list(&w.a, Some(cert_b), None).await.unwrap().is_empty());
    assert_eq!(w.s.deployment_get(&w.a, dep_a).await.unwrap().certificate_id, cert_a);

    // Replaced explicitly: the old binding goes (audited), the new one deploys.
    let dep_b =
        w.s.deployment_create_with(&w.a, cert_b, srv.id, &input(&old.cert, &old.key, true))
            .await
            .expect("replace");
    assert!(
        w.s.deployment_get(&w.a, dep_a).await.is_err(),
        "the old binding is gone"
    );
    let audited = common::count_with(
        &w.t.db,
        "SELECT COUNT(*) FROM audit_logs WHERE action = 'deployment.replace' AND resource_id = ?",
        dep_a,
    )
    .await;
    assert_eq!(audited, 1);
    let (d, log) = deploy(&w, cert_b, DeployTarget::Server(srv.id)).await;
    assert_eq!(d.task.status, TaskStatus::Completed, "{log}");
    assert_eq!(
        w.s.deployment_get(&w.a, dep_b.id).await.unwrap().status,
        DeploymentStatus::Deployed
    );
    assert!(pair_matches(&old.cert, &old.key));
    config_test_passes(&web);
    assert_eq!(served_serial(web.port, &name).await, pem_serial(&b_c));
}

/// An attempt that stops right after its swap (its future dropped, as a killed worker would)
/// leaves the new pair on disk and its transaction record; when the retry fails, it restores
/// what existed before the first attempt (from that record), not the half-done state it found.
#[tokio::test(flavor = "multi_thread")]
async fn a_failing_retry_restores_what_existed_before_the_interrupted_attempt() {
    let Some(w) = world().await else { return };
    let _g = BED_LOCK.lock().await;
    let web = w.bed.nginx.clone();
    let name = format!("deploy-crash{}.nginx.test", rand_suffix());
    let old = served_site(&web, false, &name).await;
    let (new_c, new_k) = make_cert(&[&name]);
    let cert = import(&w, &new_c, &new_k).await;
    let srv = add_server(&w, ServerType::Nginx).await;
    let dep = deployment(&w, cert, &srv, &old.cert, Some(&old.key), &name, web.port).await;
    let task =
        w.s.deploy_enqueue(&w.a, cert, DeployTarget::Server(srv.id))
            .await
            .unwrap();

    std::env::set_var("CERTDECK_TESTKIT_PAUSE_AFTER_SWAP_MS", "60000");
    let runners = Runners::builtin();
    let attempt = w.s.task_run_here(&w.a, task.id, &runners);
    let swapped = async {
        loop {
            let logs = w.s.task_logs(&w.a, task.id, 0, 1000).await.unwrap();
            if logs.iter().any(|l| l.message.contains("swapped into")) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::select! {
        r = attempt => panic!("the attempt should stop at the swap: {:?}", r.map(|_| ())),
        _ = tokio::time::timeout(Duration::from_secs(30), swapped) => {}
    }
    std::env::remove_var("CERTDECK_TESTKIT_PAUSE_AFTER_SWAP_MS");
    assert_eq!(read_s(&old.cert), new_c, "the first attempt swapped");
    assert!(pair_matches(&old.cert, &old.key), "never a mixed pair on disk");
    assert!(
        files_of(&old.site).iter().any(|f| f.contains(".certdeck-txn-")),
        "a transaction record: {:?}",
        files_of(&old.site)
    );
    assert_eq!(served_serial(web.port, &name).await, pem_serial(&old.cert_pem));

    // The retry's config test fails; the lease runs out and the reaper puts the task back.
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
    common::exec_with(
        &w.t.db,
        "UPDATE tasks SET lease_expires_at = '2000-01-01 00:00:00', max_attempts = 2 WHERE id = ?",
        task.id,
    )
    .await;
    w.s.task_reap().await.unwrap();
    let (d, log) = run(&w, task.id).await;
    assert_eq!(d.queue.attempts, 2, "this run was the retry:\n{log}");
    assert_eq!(d.task.status, TaskStatus::Failed, "{log}");
    assert!(log.contains("interrupted"), "{log}");
    let msg =
        w.s.deployment_get(&w.a, dep)
            .await
            .unwrap()
            .error_message
            .unwrap_or_default();
    assert!(
        msg.contains("site check failed") && msg.contains("is served again"),
        "{msg}"
    );
    assert_eq!(
        read_s(&old.cert),
        old.cert_pem,
        "the certificate from before the first attempt"
    );
    assert_eq!(read_s(&old.key), old.key_pem, "the key from before the first attempt");
    assert!(
        files_of(&old.site)
            .iter()
            .all(|f| !f.contains(".certdeck-txn-") && !f.contains(".certdeck-new-")),
        "{:?}",
        files_of(&old.site)
    );
    config_test_passes(&web);
    assert_eq!(served_serial(web.port, &name).await, pem_serial(&old.cert_pem));
}

/// `deployment add --replace` is the command line's way to replace a binding explicitly.
#[test]
fn deployment_add_takes_replace_on_the_command_line() {
    use clap::Parser;
    let args = ["certdeck", "deployment", "add", "1", "2", "--path", "/etc/ssl/a.pem"];
    let plain = certdeck::cli::Cli::try_parse_from(args).unwrap();
    assert!(format!("{:?}", plain.command).contains("replace: false"));
    let replace = certdeck::cli::Cli::try_parse_from(args.iter().copied().chain(["--replace"])).unwrap();
    assert!(format!("{:?}", replace.command).contains("replace: true"));
}

/// The duplicate check finds the entries of one machine (host name in any case, same SSH port)
/// on both backends, and leaves another machine's same path alone.
#[tokio::test(flavor = "multi_thread")]
async fn the_duplicate_check_matches_one_machine_on_both_backends() {
    common::init();
    for t in common::both().await {
        let s = services_with(&t, common::keyring());
        let (_, a) = make_user(&s, &t, None, "ops", UserRole::Admin).await;
        let server = |host: &str, port: i64, kind: ServerType| ServerInput {
            name: Some(format!("{host}-{port}-{kind}")),
            hostname: Some(host.into()),
            port: Some(port),
            server_type: Some(kind),
            auth_type: Some(AuthType::Password),
            username: Some("deploy".into()),
            password: Some("unused".into()),
            ..Default::default()
        };
        let nginx = s
            .server_create(&a, &server("Web1.example.test", 22, ServerType::Nginx))
            .await
            .unwrap();
        let apache = s
            .server_create(&a, &server("web1.example.test", 22, ServerType::Apache))
            .await
            .unwrap();
        let elsewhere = s
            .server_create(&a, &server("web1.example.test", 2222, ServerType::Nginx))
            .await
            .unwrap();
        let mut certs = Vec::new();
        for _ in 0..2 {
            let (c, k) = make_cert(&["shop.example.test"]);
            let id = s
                .cert_import(
                    &a,
                    &ImportInput {
                        certificate: c.into_bytes(),
                        private_key: k.into_bytes(),
                        ..Default::default()
                    },
                )
                .await
                .unwrap()
                .id;
            certs.push(id);
        }
        let first = s
            .deployment_create(&a, certs[0], nginx.id, "/etc/ssl/shop.pem", None, true)
            .await
            .unwrap();
        let r = s
            .deployment_create(&a, certs[1], apache.id, "/etc/ssl/shop.pem", None, true)
            .await;
        match r {
            Err(ServiceError::Conflict(m)) => assert!(m.contains(&format!("deployment {}", first.id)), "{m}"),
            other => panic!("refused on the same machine, not {other:?}"),
        }
        s.deployment_create(&a, certs[1], elsewhere.id, "/etc/ssl/shop.pem", None, true)
            .await
            .expect("another machine's same path is its own file");
    }
}

/// A deployment's explicit verify host is checked against the target policy again when the
/// deploy runs (the policy or the name's addresses may have changed since it was added): the
/// entry is refused before anything on the server changes.
#[tokio::test(flavor = "multi_thread")]
async fn a_verify_host_the_target_policy_now_refuses_stops_the_deploy_before_any_change() {
    let Some(w) = world().await else { return };
    let _g = BED_LOCK.lock().await;
    let web = w.bed.nginx.clone();
    let name = format!("deploy-policy{}.nginx.test", rand_suffix());
    let old = served_site(&web, false, &name).await;
    let (new_c, new_k) = make_cert(&[&name]);
    let cert = import(&w, &new_c, &new_k).await;
    let srv = add_server(&w, ServerType::Nginx).await;
    let dep =
        w.s.deployment_create_with(
            &w.a,
            cert,
            srv.id,
            &DeploymentInput {
                deploy_path: old.cert.display().to_string(),
                key_path: Some(old.key.display().to_string()),
                verify_host: Some("127.0.0.1".into()),
                verify_sni: Some(name.clone()),
                verify_port: Some(i64::from(web.port)),
                ..Default::default()
            },
        )
        .await
        .expect("allowed when added")
        .id;
    // Later an admin denies the loopback range for configured targets.
    w.s.setting_set(&w.a, "security.target_deny_cidrs", "127.0.0.0/8", None)
        .await
        .unwrap();
    let (d, log) = deploy(&w, cert, DeployTarget::Server(srv.id)).await;
    assert_eq!(d.task.status, TaskStatus::Failed, "{log}");
    let row = w.s.deployment_get(&w.a, dep).await.unwrap();
    let msg = row.error_message.unwrap_or_default();
    assert!(
        msg.contains("deployment verify host 127.0.0.1 is refused by the target policy"),
        "{msg}"
    );
    assert!(!log.contains("uploaded"), "nothing uploaded:\n{log}");
    assert_eq!(read_s(&old.cert), old.cert_pem, "nothing written");
    assert_eq!(read_s(&old.key), old.key_pem, "nothing written");
    config_test_passes(&web);
    assert_eq!(served_serial(web.port, &name).await, pem_serial(&old.cert_pem));
}
