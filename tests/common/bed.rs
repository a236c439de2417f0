//! The test bed's OpenSSH, nginx and Apache as `scripts/testbed env` describes them.
//!
//! [`sshd`] is for tests that need only the sshd, [`bed`] for those that also deploy to the
//! bed's nginx and Apache. Each returns `None` (the test skips) when its peers are not up, and
//! fails the test instead when peers are required (`CERTDECK_TEST_REQUIRE_PEERS=1` or CI).
//! The helpers at the end check what the web servers serve.

use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use certdeck::domain::certpem::serial_hex;
use certdeck::engine::tls_peek;

/// An environment variable, `None` when it is unset or empty.
pub fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The bed's sshd (`CERTDECK_TEST_SSH_*`; `scripts/testbed` exports them all together).
#[derive(Clone)]
pub struct Sshd {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: String,
    /// An unencrypted ed25519 key file.
    pub key: String,
    /// An RSA key file in the old PEM format.
    pub key_pem: String,
    /// An ed25519 key file encrypted with [`Sshd::key_pass`].
    pub key_enc: String,
    pub key_pass: String,
    /// The sshd's host key fingerprint, `SHA256:…`.
    pub host_fp: String,
}

/// The bed's nginx or Apache (`CERTDECK_TEST_NGINX_*` / `CERTDECK_TEST_APACHE_*`).
#[derive(Clone)]
pub struct Web {
    pub conf: String,
    pub sites: PathBuf,
    pub certs: PathBuf,
    pub port: u16,
    pub test_cmd: String,
    pub reload_cmd: String,
}

/// The bed's sshd with its nginx and Apache; derefs to the [`Sshd`].
#[derive(Clone)]
pub struct Bed {
    pub ssh: Sshd,
    pub nginx: Web,
    pub apache: Web,
}

impl Deref for Bed {
    type Target = Sshd;

    fn deref(&self) -> &Sshd {
        &self.ssh
    }
}

fn sshd_env() -> Option<Sshd> {
    Some(Sshd {
        host: env("CERTDECK_TEST_SSH_HOST")?,
        port: env("CERTDECK_TEST_SSH_PORT")?.parse().ok()?,
        user: env("CERTDECK_TEST_SSH_USER")?,
        password: env("CERTDECK_TEST_SSH_PASSWORD")?,
        key: env("CERTDECK_TEST_SSH_KEY")?,
        key_pem: env("CERTDECK_TEST_SSH_KEY_PEM")?,
        key_enc: env("CERTDECK_TEST_SSH_KEY_ENC")?,
        key_pass: env("CERTDECK_TEST_SSH_KEY_PASSPHRASE")?,
        host_fp: env("CERTDECK_TEST_SSH_HOSTKEY_SHA256")?,
    })
}

/// The web server whose variables start with `prefix`, e.g. `CERTDECK_TEST_NGINX`.
pub fn web(prefix: &str) -> Option<Web> {
    Some(Web {
        conf: env(&format!("{prefix}_CONF"))?,
        sites: env(&format!("{prefix}_SITES"))?.into(),
        certs: env(&format!("{prefix}_CERTS"))?.into(),
        port: env(&format!("{prefix}_PORT"))?.parse().ok()?,
        test_cmd: env(&format!("{prefix}_TEST_CMD"))?,
        reload_cmd: env(&format!("{prefix}_RELOAD_CMD"))?,
    })
}

/// `found`, or (after failing the test if peers are required) `None` with a SKIP line.
fn or_skip<T>(found: Option<T>, what: &str) -> Option<T> {
    if found.is_none() {
        assert!(
            !super::peers_required(),
            "the {what} test bed is not up but peers are required: run the suite with scripts/test"
        );
        eprintln!("SKIP: {what} test bed not up (scripts/testbed up; eval \"$(scripts/testbed env)\")");
    }
    found
}

/// The bed's sshd, or `None` (the test skips) when it is not up.
pub fn sshd() -> Option<Sshd> {
    super::init();
    or_skip(sshd_env(), "sshd")
}

/// The bed's sshd, nginx and Apache, or `None` (the test skips) when one is not up.
pub fn bed() -> Option<Bed> {
    super::init();
    let b = (|| {
        Some(Bed {
            ssh: sshd_env()?,
            nginx: web("CERTDECK_TEST_NGINX")?,
            apache: web("CERTDECK_TEST_APACHE")?,
        })
    })();
    or_skip(b, "sshd/nginx/apache")
}

/// Runs `cmd` with `sh -c`; it must succeed.
pub fn sh(cmd: &str) {
    let st = Command::new("sh").arg("-c").arg(cmd).status().unwrap();
    assert!(st.success(), "{cmd}");
}

/// Writes the bed's web server a TLS site for `name` on its port, with the certificate and key
/// files given (written by the caller), and reloads it. Returns the config file's path.
pub fn write_tls_site(web: &Web, apache: bool, name: &str, stem: &str, cert: &Path, key: &Path) -> PathBuf {
    let conf = web.sites.join(format!("{stem}.conf"));
    let text = if apache {
        format!(
            "<VirtualHost 127.0.0.1:{port}>\n  ServerName {name}\n  SSLEngine on\n  SSLCertificateFile {c}\n  SSLCertificateKeyFile {k}\n</VirtualHost>\n",
            port = web.port,
            c = cert.display(),
            k = key.display()
        )
    } else {
        format!(
            "server {{\n  listen 127.0.0.1:{port} ssl;\n  server_name {name};\n  ssl_certificate {c};\n  ssl_certificate_key {k};\n}}\n",
            port = web.port,
            c = cert.display(),
            k = key.display()
        )
    };
    std::fs::write(&conf, text).unwrap();
    sh(&format!("/usr/sbin/{}", web.reload_cmd));
    conf
}

/// The serial (hex) of the first certificate in `pem`.
pub fn pem_serial(pem: &str) -> String {
    let der = certdeck::domain::certpem::certificates_der(pem.as_bytes())
        .unwrap()
        .remove(0);
    serial_hex(&der).unwrap()
}

/// Whether the key file `key` is the private key of the certificate file `cert`.
pub fn pair_matches(cert: &Path, key: &Path) -> bool {
    use certdeck::domain::certpem;
    let read = |p: &Path| std::fs::read(p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()));
    let c = certpem::certificates_der(&read(cert)).unwrap().remove(0);
    let facts = certpem::cert_facts(&c).unwrap();
    let blocks = certpem::pem_blocks(&read(key)).unwrap();
    let k = certpem::key_public_part(&blocks[0].label, &blocks[0].der).unwrap();
    facts.public_key == k
}

/// The serial (hex) of the leaf the web server on `127.0.0.1:port` serves for `sni`.
pub async fn served_serial(port: u16, sni: &str) -> String {
    let der = tls_peek::served_leaf("127.0.0.1", port, sni, Duration::from_secs(5))
        .await
        .expect("handshake");
    serial_hex(&der).unwrap()
}

/// Waits until `serial` is served on every handshake for 0.3 s: after a reload (nginx) or a
/// graceful restart (Apache) the old workers may still answer for a moment.
pub async fn wait_served(port: u16, sni: &str, serial: &str) {
    let mut since: Option<std::time::Instant> = None;
    for _ in 0..200 {
        let ok = match tls_peek::served_leaf("127.0.0.1", port, sni, Duration::from_secs(5)).await {
            Ok(der) => serial_hex(&der).as_deref() == Some(serial),
            Err(_) => false,
        };
        match (ok, since) {
            (true, Some(t)) if t.elapsed() >= Duration::from_millis(300) => return,
            (true, None) => since = Some(std::time::Instant::now()),
            (true, Some(_)) => {}
            (false, _) => since = None,
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    panic!("{sni} on {port} never served {serial} steadily");
}
