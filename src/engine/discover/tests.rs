//! Discovery on the local file system (the agent's way) and the validation of what an agent
//! sends.

use std::time::Duration;

use super::walk::parent_dir;
use super::*;
use crate::domain::webconf::Flavor;
use crate::domain::{ConfigType, ServerType};
use crate::engine::deploy::local::LocalTransport;

#[test]
fn os_release_and_versions() {
    let (n, v) = parse_os_release(
        "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nID=debian\n",
    );
    assert_eq!((n.as_deref(), v.as_deref()), (Some("Debian GNU/Linux"), Some("12")));
    assert_eq!(
        parse_web_version("nginx version: nginx/1.22.1\n").as_deref(),
        Some("nginx/1.22.1")
    );
    assert_eq!(
        parse_web_version("Server version: Apache/2.4.62 (Debian)\nServer built:   2024-07-01\n").as_deref(),
        Some("Apache/2.4.62 (Debian)")
    );
    assert_eq!(parse_web_version("bash: nginx: command not found"), None);
    assert_eq!(parent_dir("/etc/nginx/nginx.conf"), "/etc/nginx");
    assert_eq!(parent_dir("/nginx.conf"), "/");
}

#[tokio::test]
async fn a_local_probe_reads_the_os_and_keeps_the_configured_type_when_nothing_answers() {
    let t = LocalTransport::new(Duration::from_secs(20));
    let facts = probe_host(&t, ServerType::Other).await.unwrap();
    let os = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
    assert_eq!((facts.os_type.clone(), facts.os_version.clone()), parse_os_release(&os));
    assert_eq!(
        facts.kind(ServerType::Other),
        facts.server_type.unwrap_or(ServerType::Other)
    );
    facts.validate().unwrap();
}

fn cert_pem(name: &str) -> (String, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec![name.to_string()]).unwrap();
    let cert = params.self_signed(&key).unwrap();
    (cert.pem(), crate::domain::certpem::sha256_hex(cert.der()))
}

#[tokio::test]
async fn a_local_discovery_follows_includes_and_reads_certificates() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_str().unwrap().to_string();
    let (pem, sha) = cert_pem("A.Local.Test");
    std::fs::write(dir.path().join("a.crt"), &pem).unwrap();
    std::fs::create_dir(dir.path().join("sites")).unwrap();
    let main = format!("{root}/nginx.conf");
    std::fs::write(
        &main,
        format!("events {{}}\nhttp {{\n  include {root}/sites/*.conf;\n  include {root}/missing/*.conf;\n}}\n"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("sites/a.conf"),
        format!(
            "server {{\n  listen 443 ssl;\n  server_name a.local.test www.a.local.test;\n  \
             ssl_certificate {root}/a.crt;\n  ssl_certificate_key {root}/a.key;\n  root /srv/a;\n}}\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("sites/b.conf"),
        "server {\n  listen 443 ssl;\n  server_name b.local.test;\n  ssl_certificate /dev/zero;\n}\n\
         server {\n  listen 80;\n  server_name plain.local.test;\n}\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("sites/ignored.txt"), "garbage {").unwrap();
    let fs = LocalConfigFs::new(Duration::from_secs(5));
    let d = discover(&fs, Flavor::Nginx, Some(&main)).await.unwrap();
    let paths: Vec<&str> = d.configs.iter().map(|c| c.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            main.clone(),
            format!("{root}/sites/a.conf"),
            format!("{root}/sites/b.conf")
        ]
    );
    assert!(d
        .configs
        .iter()
        .all(|c| c.config_type == ConfigType::Nginx && c.content.is_some()));
    assert!(d.warnings.is_empty(), "{:?}", d.warnings);
    assert_eq!(d.sites.len(), 3);
    let a = &d.sites[0];
    assert_eq!(a.names, ["a.local.test", "www.a.local.test"]);
    assert_eq!((a.port, a.tls, a.line), (Some(443), true, 1));
    assert_eq!(a.document_root.as_deref(), Some("/srv/a"));
    let c = a.cert.as_ref().expect("certificate read");
    assert_eq!(
        (c.sans.clone(), c.sha256.clone()),
        (vec!["a.local.test".to_string()], sha)
    );
    assert!(a.cert_error.is_none());
    let b = &d.sites[1];
    assert!(b.cert.is_none());
    assert!(
        b.cert_error
            .as_deref()
            .unwrap()
            .contains("character device, not a regular file"),
        "{:?}",
        b.cert_error
    );
    assert!(!d.sites[2].tls);
    d.validate().unwrap();
    // The wire form round-trips.
    let back: Discovery = serde_json::from_str(&serde_json::to_string(&d).unwrap()).unwrap();
    assert_eq!(back, d);

    // No main config: a warning, nothing found.
    let d = discover(&fs, Flavor::Apache, Some(&format!("{root}/none.conf")))
        .await
        .unwrap();
    assert!(d.configs.is_empty() && d.sites.is_empty());
    assert_eq!(
        d.warnings,
        [format!(
            "no Apache main config found (tried {root}/none.conf); set the server's config root"
        )]
    );

    // Bounds stop the discovery, naming the bound and the file.
    std::fs::write(&main, format!("http {{ include {root}/big.conf; }}\n")).unwrap();
    std::fs::write(dir.path().join("big.conf"), vec![b'#'; 5 * 1024 * 1024]).unwrap();
    let e = discover(&fs, Flavor::Nginx, Some(&main)).await.unwrap_err().to_string();
    assert_eq!(
        e,
        format!("{root}/big.conf is larger than 4 MiB, the limit of one config file (MAX_FILE_BYTES)")
    );
    std::fs::write(&main, "http { include /dev/zero; }\n").unwrap();
    let e = discover(&fs, Flavor::Nginx, Some(&main)).await.unwrap_err().to_string();
    assert!(e.contains("/dev/zero is a character device, not a regular file"), "{e}");
}

#[test]
fn validate_refuses_what_does_not_fit_naming_the_bound() {
    let site = DiscoveredSite {
        config_path: "/etc/nginx/nginx.conf".into(),
        line: 3,
        names: vec!["a.test".into()],
        ..Default::default()
    };
    let config = DiscoveredConfig {
        config_type: ConfigType::Nginx,
        path: "/etc/nginx/nginx.conf".into(),
        content: Some("events {}".into()),
        note: None,
    };
    let ok = Discovery {
        configs: vec![config.clone()],
        sites: vec![site.clone()],
        warnings: vec![],
    };
    ok.validate().unwrap();
    let fails = |d: Discovery, want: &str| {
        let e = d.validate().unwrap_err();
        assert!(e.contains(want), "{e} (wanted {want})");
    };
    let mut d = ok.clone();
    d.configs = vec![config.clone(); MAX_FILES + 1];
    fails(d, "(MAX_FILES)");
    let mut d = ok.clone();
    d.sites = vec![site.clone(); MAX_SITES + 1];
    fails(d, "(MAX_SITES)");
    let mut d = ok.clone();
    d.configs[0].content = Some("#".repeat(CONFIG_CONTENT_MAX + 1));
    fails(d, "(CONFIG_CONTENT_MAX)");
    let mut d = ok.clone();
    d.configs[0].path = "/".repeat(256);
    fails(d, "the path is longer than 255 characters");
    let mut d = ok.clone();
    d.sites[0].names = vec!["n".into(); MAX_NAMES + 1];
    fails(d, "(MAX_NAMES)");
    let mut d = ok.clone();
    d.sites[0].names = vec!["n".repeat(200); 400];
    fails(d, "(TEXT_COLUMN_MAX)");
    let mut d = ok.clone();
    d.sites[0].document_root = Some("d".repeat(501));
    fails(d, "document_root is longer than 500 characters");
    let mut d = ok.clone();
    d.sites[0].line = u32::MAX;
    fails(d, "out of range");
    let mut d = ok.clone();
    d.sites[0].cert = Some(SiteCert {
        subject: "CN=a".into(),
        sans: vec![],
        issuer: "CN=a".into(),
        serial: "01".into(),
        not_after: chrono::Utc::now(),
        sha256: "XYZ".into(),
    });
    fails(d, "sha256");
    let mut d = ok.clone();
    d.warnings = vec!["w".into(); MAX_WARNINGS + 1];
    fails(d, "(MAX_WARNINGS)");
}
