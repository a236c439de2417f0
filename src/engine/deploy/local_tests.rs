//! The local transport: file modes and bounds, command bounds and timeouts, and the whole
//! deploy transaction over [`LocalHosts`] against files in a temporary directory, verified by
//! a TLS server that serves the pair on disk at each handshake.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use zeroize::Zeroizing;

use super::*;
use crate::domain::certpem::serial_hex;
use crate::domain::LogLevel;
use crate::engine::deploy::{DeploySettings, DeploySink, Deployer, HostCommand, Material, Outcome};

fn mode_of(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

#[tokio::test]
async fn a_write_sets_the_mode_exactly_even_over_an_existing_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("key.pem");
    std::fs::write(&p, b"old").unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
    let f = LocalFiles::new(Duration::from_secs(5));
    let path = p.to_str().unwrap();
    f.write(path, b"secret", 0o600).await.unwrap();
    assert_eq!(mode_of(&p), 0o600);
    assert_eq!(std::fs::read(&p).unwrap(), b"secret");
    // A new file gets its mode whatever the umask would leave of it.
    let n = dir.path().join("new.pem");
    f.write(n.to_str().unwrap(), b"x", 0o666).await.unwrap();
    assert_eq!(mode_of(&n), 0o666);
    let st = f.stat(path).await.unwrap().expect("exists");
    assert_eq!((st.size, st.mode, st.is_dir), (6, 0o600, false));
}

#[tokio::test]
async fn stat_follows_symlinks_and_reads_are_bounded_to_regular_files() {
    let dir = tempfile::tempdir().unwrap();
    let f = LocalFiles::new(Duration::from_secs(5));
    let p = dir.path().join("a.conf");
    std::fs::write(&p, vec![b'#'; 100]).unwrap();
    let path = p.to_str().unwrap();
    assert_eq!(f.read(path, 100).await.unwrap().map(|d| d.len()), Some(100));
    assert!(f.read(path, 99).await.unwrap().is_none(), "one byte over the bound");
    // Symlinks are followed; a dangling one and a path through a file do not exist.
    let l = dir.path().join("link");
    std::os::unix::fs::symlink(&p, &l).unwrap();
    assert_eq!(f.stat(l.to_str().unwrap()).await.unwrap().unwrap().size, 100);
    let dangling = dir.path().join("dangling");
    std::os::unix::fs::symlink(dir.path().join("gone"), &dangling).unwrap();
    assert!(f.stat(dangling.to_str().unwrap()).await.unwrap().is_none());
    assert!(f.stat(&format!("{path}/below")).await.unwrap().is_none());
    assert!(f.stat(dir.path().to_str().unwrap()).await.unwrap().unwrap().is_dir);
    // A device, a FIFO and a directory are refused by type, never opened for reading.
    let e = f.read("/dev/zero", 10).await.unwrap_err();
    assert!(e.msg.contains("not a regular file (character device)"), "{e}");
    let fifo = dir.path().join("fifo");
    let st = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(st.success());
    let e = f.read(fifo.to_str().unwrap(), 10).await.unwrap_err();
    assert!(e.msg.contains("(FIFO)"), "{e}");
    assert!(matches!(
        f.read_bounded(dir.path().to_str().unwrap(), 10).await.unwrap(),
        Bounded::NotRegular("directory")
    ));
    let e = f.read(&format!("{path}.missing"), 10).await.unwrap_err();
    assert!(e.msg.contains("[local] stat"), "{e}");
    // Listings are sorted and bounded.
    std::fs::write(dir.path().join("b.conf"), b"").unwrap();
    let names = f.list(dir.path().to_str().unwrap()).await.unwrap();
    assert_eq!(names, ["a.conf", "b.conf", "dangling", "fifo", "link"]);
    let big = dir.path().join("big");
    std::fs::create_dir(&big).unwrap();
    for i in 0..=DIR_ENTRIES_MAX {
        std::fs::write(big.join(format!("n{i}")), b"").unwrap();
    }
    match f.list(big.to_str().unwrap()).await {
        Err(Ok(m)) => assert!(m.contains("(DIR_ENTRIES_MAX)"), "{m}"),
        other => panic!("expected the listing bound, got {other:?}"),
    }
    assert!(matches!(f.list(&format!("{path}.none")).await, Err(Err(_))));
}

#[tokio::test]
async fn command_output_is_bounded_and_a_slow_command_is_killed_with_its_group() {
    let t = LocalTransport::new(Duration::from_secs(30));
    let out = t.exec("echo hi; echo oops >&2; exit 3").await.unwrap();
    assert_eq!(
        (out.code, out.stdout.as_str(), out.stderr.as_str()),
        (3, "hi\n", "oops\n")
    );
    let e = t.run("echo bad >&2; exit 2").await.unwrap_err();
    assert_eq!(e.msg, "[local] command `echo bad >&2; exit 2` exited with 2: bad");
    // The sbin directories are on PATH.
    let out = t.exec("echo \"$PATH\"").await.unwrap();
    assert!(
        out.stdout.contains("/usr/sbin") && out.stdout.contains("/sbin"),
        "{}",
        out.stdout
    );
    // Long but finite output: the tail is kept.
    let out = t
        .exec("head -c 300000 /dev/zero | tr '\\0' y; echo; echo last >&2")
        .await
        .unwrap();
    assert!(out.truncated);
    assert_eq!(out.stdout.len(), crate::engine::ssh::COMMAND_OUTPUT_KEEP + "…".len());
    assert_eq!(out.stderr, "last\n");
    // Output without end: stopped at the bound, on stdout and on stderr.
    let e = t.exec("yes").await.unwrap_err();
    assert!(
        e.msg.contains("`yes` printed more than 4 MiB") && e.msg.contains("COMMAND_OUTPUT_MAX"),
        "{e}"
    );
    let e = t.run("yes oops >&2").await.unwrap_err();
    assert!(e.msg.contains("printed more than 4 MiB"), "{e}");
    // A command past the timeout: killed, with the children it started.
    let dir = tempfile::tempdir().unwrap();
    let mark = dir.path().join("mark");
    let short = LocalTransport::new(Duration::from_secs(1));
    let cmd = format!("(sleep 3; touch {}) & sleep 30", mark.display());
    let started = std::time::Instant::now();
    let e = short.exec(&cmd).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    assert_eq!(e.msg, format!("[local] command: timed out after 1 s: {cmd}"));
    assert!(e.transient);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(!mark.exists(), "the background child was killed with the group");
    // A background process that keeps the pipes open does not hold a finished command.
    let started = std::time::Instant::now();
    let out = t.exec("sleep 5 & echo started").await.unwrap();
    assert_eq!((out.code, out.stdout.as_str()), (0, "started\n"));
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
}

/// Serves whatever pair is on disk, read at each handshake (a web server after its reload).
#[derive(Debug)]
struct PairOnDisk {
    cert: PathBuf,
    key: PathBuf,
}

impl ResolvesServerCert for PairOnDisk {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let chain = std::fs::read(&self.cert).ok()?;
        let key = Zeroizing::new(std::fs::read(&self.key).ok()?);
        let certs: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(&chain).collect::<Result<_, _>>().ok()?;
        let key = PrivateKeyDer::from_pem_slice(&key).ok()?;
        let signing = rustls::crypto::ring::default_provider()
            .key_provider
            .load_private_key(key)
            .ok()?;
        Some(Arc::new(CertifiedKey::new(certs, signing)))
    }
}

/// A TLS listener on loopback serving the pair at `cert`/`key`; its port.
async fn serve_pair(cert: PathBuf, key: PathBuf) -> u16 {
    let cfg = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(PairOnDisk { cert, key }));
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let _ = acceptor.accept(tcp).await;
            });
        }
    });
    port
}

/// A certificate for `local.test` with this serial: (full chain PEM, key PEM, serial hex).
fn pair(serial: u8) -> (Vec<u8>, Vec<u8>, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["local.test".to_string()]).unwrap();
    params.serial_number = Some(rcgen::SerialNumber::from(vec![0x10, serial]));
    let cert = params.self_signed(&key).unwrap();
    let serial = serial_hex(cert.der()).unwrap();
    (cert.pem().into_bytes(), key.serialize_pem().into_bytes(), serial)
}

/// Collects log lines and outcomes.
#[derive(Default)]
struct Sink {
    lines: Mutex<Vec<String>>,
}

impl DeploySink for Sink {
    type Error = ();

    fn log<'a>(&'a self, level: LogLevel, message: &'a str) -> BoxFut<'a, Result<(), ()>> {
        self.lines.lock().unwrap().push(format!("{level}: {message}"));
        Box::pin(async { Ok(()) })
    }

    fn checkpoint(&self) -> BoxFut<'_, Result<(), ()>> {
        Box::pin(async { Ok(()) })
    }

    fn finished<'a>(&'a self, _outcome: &'a Outcome) -> BoxFut<'a, Result<(), ()>> {
        Box::pin(async { Ok(()) })
    }
}

fn entry(dir: &Path, port: u16, test: &str) -> Entry {
    let cmd = |c: &str| {
        Some(HostCommand {
            shown: c.to_string(),
            run: c.to_string(),
        })
    };
    Entry {
        id: 7,
        server_id: 1,
        label: "local".into(),
        cert_path: dir.join("site.crt").to_str().unwrap().to_string(),
        key_path: dir.join("site.key").to_str().unwrap().to_string(),
        test: cmd(test),
        reload: cmd("true"),
        verify: ("127.0.0.1".into(), port, "local.test".into()),
        recorded_deployed: false,
        refused: None,
    }
}

/// The names in `dir`, sorted.
fn names_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread")]
async fn a_local_deploy_swaps_verifies_and_rolls_back_byte_for_byte() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let (crt, key) = (dir.path().join("site.crt"), dir.path().join("site.key"));
    let (old_crt, old_key, old_serial) = pair(1);
    std::fs::write(&crt, &old_crt).unwrap();
    std::fs::write(&key, &old_key).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o640)).unwrap();
    let port = serve_pair(crt.clone(), key.clone()).await;
    let hosts = LocalHosts::new(Duration::from_secs(10));
    let deployer = Deployer::new(DeploySettings {
        verify_timeout: Duration::from_secs(5),
        retry_check_timeout: Duration::from_secs(1),
    });
    let (new_crt, new_key, new_serial) = pair(2);
    let m = Material {
        fullchain: new_crt.clone(),
        key: Zeroizing::new(new_key.clone()),
        serial: new_serial.clone(),
    };

    // A failing config test: everything is put back exactly as it was.
    let sink = Sink::default();
    let out = deployer
        .deploy_host(&hosts, &sink, vec![entry(dir.path(), port, "false")], &m)
        .await
        .unwrap();
    let log = sink.lines.lock().unwrap().join("\n");
    let e = out[0].error.as_deref().expect("failed");
    assert!(
        e.starts_with("config test failed: [local] command `false` exited with 1"),
        "{e}\n{log}"
    );
    assert!(
        e.contains(&format!("the old certificate (serial {old_serial}) is served again")),
        "{e}\n{log}"
    );
    assert_eq!(std::fs::read(&crt).unwrap(), old_crt, "certificate byte-identical");
    assert_eq!(std::fs::read(&key).unwrap(), old_key, "key byte-identical");
    assert_eq!(mode_of(&key), 0o640, "the key's mode is back too");
    // The backups of the old pair stay (as over SSH); no temporary file, no record is left.
    let backup = format!("certdeck-bak-7-{old_serial}");
    let after = [
        "site.crt".to_string(),
        format!("site.crt.{backup}"),
        "site.key".to_string(),
        format!("site.key.{backup}"),
    ];
    assert_eq!(names_in(dir.path()), after);

    // A passing test: swapped, reloaded, verified by the handshake.
    let sink = Sink::default();
    let out = deployer
        .deploy_host(&hosts, &sink, vec![entry(dir.path(), port, "true")], &m)
        .await
        .unwrap();
    let log = sink.lines.lock().unwrap().join("\n");
    assert!(out[0].error.is_none(), "{:?}\n{log}", out[0].error);
    assert_eq!(std::fs::read(&crt).unwrap(), new_crt);
    assert_eq!(std::fs::read(&key).unwrap(), new_key);
    assert_eq!((mode_of(&crt), mode_of(&key)), (0o644, 0o600));
    let leaf = hosts
        .served_leaf("127.0.0.1", port, "local.test", Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(serial_hex(&leaf).as_deref(), Some(new_serial.as_str()));
    // The previous pair is kept as the backup; nothing else is left.
    assert_eq!(names_in(dir.path()), after);
    assert_eq!(
        std::fs::read(dir.path().join(format!("site.crt.{backup}"))).unwrap(),
        old_crt
    );
    assert!(log.contains("local: config test ok: true"), "{log}");
}
