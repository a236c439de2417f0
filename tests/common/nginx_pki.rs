//! Shared helpers of the tests that serve certificates from the test bed's nginx: the bed's
//! nginx settings, a site written into its sites directory (removed on drop), and a small PKI
//! (root → intermediate → leaves) made with rcgen.

use std::path::PathBuf;
use std::process::Command;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};

#[derive(Clone)]
pub struct Nginx {
    pub sites: PathBuf,
    pub certs: PathBuf,
    pub port: u16,
    pub reload: String,
}

pub use super::bed::env;

pub fn bed() -> Option<Nginx> {
    super::init();
    let b = (|| {
        Some(Nginx {
            sites: env("CERTDECK_TEST_NGINX_SITES")?.into(),
            certs: env("CERTDECK_TEST_NGINX_CERTS")?.into(),
            port: env("CERTDECK_TEST_NGINX_PORT")?.parse().ok()?,
            reload: format!("/usr/sbin/{}", env("CERTDECK_TEST_NGINX_RELOAD_CMD")?),
        })
    })();
    if b.is_none() {
        assert!(
            !super::peers_required(),
            "the nginx test bed is not up but peers are required: run the suite with scripts/test"
        );
        eprintln!("SKIP: nginx test bed not up (scripts/testbed up nginx; eval \"$(scripts/testbed env)\")");
    }
    b
}

pub fn sh(cmd: &str) {
    let st = Command::new("sh").arg("-c").arg(cmd).status().unwrap();
    assert!(st.success(), "{cmd}");
}

/// A site on the bed's nginx; removed (and nginx reloaded) on drop.
pub struct Site {
    files: Vec<PathBuf>,
    reload: String,
}

impl Drop for Site {
    fn drop(&mut self) {
        for f in &self.files {
            let _ = std::fs::remove_file(f);
        }
        let _ = Command::new("sh").arg("-c").arg(&self.reload).status();
    }
}

/// Writes `chain_pem` + `key_pem` and a server block for `name`; `listen` defaults to the bed's
/// TLS port on 127.0.0.1; `extra` goes into the server block.
pub fn make_site(bed: &Nginx, name: &str, chain_pem: &str, key_pem: &str, listen: Option<&str>, extra: &str) -> Site {
    let stem = format!("probe-{}", name.replace('.', "-"));
    let cert = bed.certs.join(format!("{stem}.crt"));
    let key = bed.certs.join(format!("{stem}.key"));
    let conf = bed.sites.join(format!("{stem}.conf"));
    std::fs::write(&cert, chain_pem).unwrap();
    std::fs::write(&key, key_pem).unwrap();
    sh(&format!("chmod 600 {}", key.display()));
    let listen = listen
        .map(str::to_string)
        .unwrap_or_else(|| format!("127.0.0.1:{}", bed.port));
    std::fs::write(
        &conf,
        format!(
            "server {{\n  listen {listen} ssl;\n  server_name {name};\n  ssl_certificate {c};\n  ssl_certificate_key {k};\n{extra}\n  location / {{ return 200 \"{name}\\n\"; }}\n}}\n",
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

pub fn offset(days: i64) -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc() + time::Duration::days(days)
}

/// A root CA, an intermediate under it, and leaves under the intermediate.
pub struct Pki {
    pub root_pem: String,
    pub int_pem: String,
    pub int_issuer: Issuer<'static, KeyPair>,
}

pub const ROOT_CN: &str = "certdeck probe test root";
pub const INT_CN: &str = "certdeck probe test intermediate";

pub fn ca_params(cn: &str) -> CertificateParams {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name.push(DnType::CommonName, cn);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p.not_before = offset(-365);
    p.not_after = offset(365);
    p
}

pub fn pki() -> Pki {
    let root_key = KeyPair::generate().unwrap();
    let root_params = ca_params(ROOT_CN);
    let root = root_params.self_signed(&root_key).unwrap();
    let root_issuer = Issuer::new(root_params, root_key);
    let int_key = KeyPair::generate().unwrap();
    let int_params = ca_params(INT_CN);
    let int = int_params.signed_by(&int_key, &root_issuer).unwrap();
    Pki {
        root_pem: root.pem(),
        int_pem: int.pem(),
        int_issuer: Issuer::new(int_params, int_key),
    }
}

pub fn leaf_params(names: &[&str], from_days: i64, to_days: i64) -> CertificateParams {
    let mut p = CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    p.distinguished_name.push(DnType::CommonName, names[0]);
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    p.not_before = offset(from_days);
    p.not_after = offset(to_days);
    p
}

/// A leaf for `names` valid from now+`from_days` to now+`to_days`: (DER, PEM, key PEM).
pub fn leaf(pki: &Pki, names: &[&str], from_days: i64, to_days: i64) -> (Vec<u8>, String, String) {
    let key = KeyPair::generate().unwrap();
    let c = leaf_params(names, from_days, to_days)
        .signed_by(&key, &pki.int_issuer)
        .unwrap();
    (c.der().to_vec(), c.pem(), key.serialize_pem())
}

/// Waits until nginx serves `leaf_der` for `name` on the bed's port three probes in a row (old
/// workers answer for a moment after a reload); panics after 10 s.
pub async fn wait_served(bed: &Nginx, pki: &Pki, name: &str, leaf_der: &[u8]) {
    use certdeck::engine::probe::Prober;
    let want = certdeck::domain::certpem::sha256_hex(leaf_der);
    let prober = certdeck::engine::probe::TlsProber::new();
    let t = certdeck::engine::probe::ProbeTarget {
        connect_host: "127.0.0.1".into(),
        port: bed.port,
        sni: name.into(),
        trust_pem: Some(pki.root_pem.clone()),
        connect_timeout: std::time::Duration::from_secs(3),
        handshake_timeout: std::time::Duration::from_secs(5),
        warn_days: 30,
        error_days: 7,
        resolved: None,
    };
    let mut streak = 0;
    for _ in 0..100 {
        let r = prober.probe(&t).await;
        streak = if r.chain.first().is_some_and(|c| c.sha256_hex == want) {
            streak + 1
        } else {
            0
        };
        if streak == 3 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("nginx does not serve the expected certificate for {name}");
}
