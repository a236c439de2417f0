//! Migration from certbot and acme.sh (`cert migrate`): realistic directories of both clients
//! (rcgen certificates under an intermediate, RSA 2048 and ECDSA P-256 keys, certbot's live/ →
//! archive/ symlinks and account regr.json, acme.sh's ECC lineage and account.conf) are migrated
//! on SQLite and MariaDB through the service layer; once more over SSH from the test bed's sshd.

mod common;

use std::path::Path;
use std::sync::OnceLock;

use certdeck::domain::acme_clients::{AcmeTool, MappedChallenge};
use certdeck::domain::certpem;
use certdeck::domain::{AuthType, EncryptionType, ServerType};
use certdeck::errors::ServiceError;
use certdeck::service::acme_migrate::{MigrateOutcome, MigrateReport, MigrateSource};
use certdeck::service::certificates::CertChanges;
use certdeck::service::servers::ServerInput;
use certdeck::store::acme::get_issuance;
use chrono::{DateTime, Utc};
use common::{assert_err, audit_rows, count, World};

const STAGING: &str = "https://acme-staging-v02.api.letsencrypt.org/directory";
const PRODUCTION: &str = "https://acme-v02.api.letsencrypt.org/directory";
const ACCOUNT: &str = "4f3c2b1a0e9d8c7b6a5f4e3d2c1b0a99";
const CF_TOKEN: &str = "cf-token-must-never-be-shown-0123456789";

// ------------------------------------------------------------------ PKI

/// A root, an intermediate it signed, and the intermediate as issuer of leaves.
struct Pki {
    inter_pem: String,
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
}

const INTER_CN: &str = "(STAGING) Counterfeit Certdeck E9";

fn pki() -> &'static Pki {
    static P: OnceLock<Pki> = OnceLock::new();
    P.get_or_init(|| {
        let dn = |cn: &str| {
            let mut d = rcgen::DistinguishedName::new();
            d.push(rcgen::DnType::CommonName, cn);
            d.push(rcgen::DnType::OrganizationName, "certdeck tests");
            d
        };
        let root_kp = rcgen::KeyPair::generate().unwrap();
        let mut root = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        root.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        root.distinguished_name = dn("(STAGING) Pretend Certdeck Root X9");
        let root_issuer = rcgen::Issuer::new(root, root_kp);
        let inter_kp = rcgen::KeyPair::generate().unwrap();
        let mut inter = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        inter.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(0));
        inter.distinguished_name = dn(INTER_CN);
        let inter_cert = inter.signed_by(&inter_kp, &root_issuer).unwrap();
        Pki {
            inter_pem: inter_cert.pem(),
            issuer: rcgen::Issuer::new(inter, inter_kp),
        }
    })
}

/// A leaf for `names` signed by the intermediate, expiring in 60 days: (cert PEM, not after).
fn leaf(names: &[&str], key: &rcgen::KeyPair) -> (String, DateTime<Utc>) {
    let mut p = rcgen::CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    let now = Utc::now().timestamp();
    let epoch = rcgen::date_time_ymd(1970, 1, 1);
    p.not_before = epoch + std::time::Duration::from_secs((now - 30 * 86_400) as u64);
    p.not_after = epoch + std::time::Duration::from_secs((now + 60 * 86_400) as u64);
    p.distinguished_name = rcgen::DistinguishedName::new();
    p.distinguished_name.push(rcgen::DnType::CommonName, names[0]);
    let c = p.signed_by(key, &pki().issuer).unwrap();
    (c.pem(), DateTime::from_timestamp(now + 60 * 86_400, 0).unwrap())
}

/// An RSA 2048 key (PKCS#8 PEM), made once per binary (openssl when present: fast).
fn rsa_pem() -> &'static str {
    static K: OnceLock<String> = OnceLock::new();
    K.get_or_init(|| {
        let out = std::process::Command::new("openssl")
            .args(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"])
            .output();
        match out {
            Ok(o) if o.status.success() => String::from_utf8(o.stdout).unwrap(),
            _ => {
                use certdeck::engine::acme::{CertKey, KeySpec};
                CertKey::generate(KeySpec::Rsa(2048)).unwrap().pem().to_string()
            }
        }
    })
}

fn rsa_key() -> rcgen::KeyPair {
    rcgen::KeyPair::from_pkcs8_pem_and_sign_algo(rsa_pem(), &rcgen::PKCS_RSA_SHA256).unwrap()
}

fn der_of(pem: &str) -> Vec<u8> {
    certpem::pem_blocks(pem.as_bytes()).unwrap().remove(0).der
}

// ------------------------------------------------------------------ directories

fn write(p: &Path, text: &str) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn symlink(target: &str, link: &Path) {
    std::fs::create_dir_all(link.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(target, link).unwrap();
}

/// What a lineage was made from.
struct Made {
    cert_pem: String,
    key_pem: String,
    not_after: DateTime<Utc>,
}

/// A certbot lineage in `local` (a config dir), whose renewal conf names paths under `recorded`
/// (where the tree will be read). Without `with_key`, privkey is missing.
fn certbot_lineage(local: &Path, recorded: &str, name: &str, names: &[&str], with_key: bool) -> Made {
    let key_pem = rsa_pem().to_string();
    let (cert_pem, not_after) = leaf(names, &rsa_key());
    let arch = local.join("archive").join(name);
    write(&arch.join("cert1.pem"), &cert_pem);
    write(&arch.join("chain1.pem"), &pki().inter_pem);
    write(&arch.join("fullchain1.pem"), &format!("{cert_pem}{}", pki().inter_pem));
    if with_key {
        write(&arch.join("privkey1.pem"), &key_pem);
    }
    for f in ["cert", "chain", "fullchain", "privkey"] {
        symlink(
            &format!("../../archive/{name}/{f}1.pem"),
            &local.join("live").join(name).join(format!("{f}.pem")),
        );
    }
    let live = format!("{recorded}/live/{name}");
    let webroot_map: String = names.iter().map(|n| format!("{n} = /var/www/example\n")).collect();
    write(
        &local.join("renewal").join(format!("{name}.conf")),
        &format!(
            "# renew_before_expiry = 30 days\nversion = 2.11.0\narchive_dir = {recorded}/archive/{name}\n\
             cert = {live}/cert.pem\nprivkey = {live}/privkey.pem\nchain = {live}/chain.pem\nfullchain = {live}/fullchain.pem\n\n\
             # Options used in the renewal process\n[renewalparams]\naccount = {ACCOUNT}\nauthenticator = webroot\n\
             webroot_path = /var/www/example,\nserver = {STAGING}\nkey_type = rsa\nrsa_key_size = 2048\n\
             preferred_chain = (STAGING) Pretend Pear X1\n[[webroot_map]]\n{webroot_map}"
        ),
    );
    write(
        &local.join(format!(
            "accounts/acme-staging-v02.api.letsencrypt.org/directory/{ACCOUNT}/regr.json"
        )),
        r#"{"body": {"contact": ["mailto:certbot-owner@example.com"], "status": "valid"}, "uri": "https://acme-staging-v02.api.letsencrypt.org/acme/acct/1"}"#,
    );
    Made {
        cert_pem,
        key_pem,
        not_after,
    }
}

/// An acme.sh home in `local` with one ECC lineage answered through dns_cf, read under `recorded`.
fn acmesh_home(local: &Path, recorded: &str, domain: &str, alt: &str) -> Made {
    let kp = rcgen::KeyPair::generate().unwrap();
    let key_pem = kp.serialize_pem();
    let (cert_pem, not_after) = leaf(&[domain, alt], &kp);
    let d = local.join(format!("{domain}_ecc"));
    write(&d.join(format!("{domain}.cer")), &cert_pem);
    write(&d.join(format!("{domain}.key")), &key_pem);
    write(&d.join("ca.cer"), &pki().inter_pem);
    write(&d.join("fullchain.cer"), &format!("{cert_pem}{}", pki().inter_pem));
    write(
        &d.join(format!("{domain}.csr")),
        "-----BEGIN CERTIFICATE REQUEST-----\n-----END CERTIFICATE REQUEST-----\n",
    );
    write(
        &d.join(format!("{domain}.conf")),
        &format!(
            "Le_Domain='{domain}'\nLe_Alt='{alt}'\nLe_Webroot='dns_cf'\nLe_PreHook=''\nLe_PostHook=''\nLe_RenewHook=''\n\
             Le_API='{PRODUCTION}'\nLe_Keylength='ec-256'\nLe_OrderFinalize='{PRODUCTION}/finalize/1'\n\
             Le_CertCreateTime='1700000000'\nLe_NextRenewTime='1705000000'\n\
             Le_RealFullChainPath='/etc/nginx/ssl/{domain}.pem'\n\
             Le_ReloadCmd='__ACME_BASE64__START_c3lzdGVtY3RsIHJlbG9hZCBuZ2lueA==__ACME_BASE64__END_'\n"
        ),
    );
    write(
        &local.join("account.conf"),
        &format!(
            "LOG_FILE='{recorded}/acme.sh.log'\nACCOUNT_EMAIL='acme-owner@example.org'\nSAVED_CF_Token='{CF_TOKEN}'\n\
             SAVED_CF_Account_ID='0123abcd'\nUPGRADE_HASH='x'\n"
        ),
    );
    write(&local.join("acme.sh"), "#!/usr/bin/env sh\n");
    std::fs::create_dir_all(local.join("ca/acme-v02.api.letsencrypt.org/directory")).unwrap();
    std::fs::create_dir_all(local.join("deploy")).unwrap();
    Made {
        cert_pem,
        key_pem,
        not_after,
    }
}

fn source(tool: AcmeTool, dir: &Path) -> MigrateSource {
    MigrateSource {
        tool,
        dir: dir.display().to_string(),
        server_id: None,
    }
}

fn lineage<'a>(r: &'a MigrateReport, name: &str) -> &'a certdeck::service::acme_migrate::LineageReport {
    r.lineages
        .iter()
        .find(|l| l.name == name)
        .unwrap_or_else(|| panic!("no lineage {name} in {r:#?}"))
}

/// The stored certificate matches what the lineage was made from: names, issuer, expiry, key.
async fn check_imported(w: &World, id: i64, m: &Made, names: &[&str], enc: EncryptionType) {
    let l = w.label;
    let c = w.s.cert_get(&w.admin, id).await.unwrap();
    assert_eq!(c.domain_list(), names, "[{l}]");
    assert_eq!(c.main_domain, names[0], "[{l}]");
    assert_eq!(c.issuer.as_deref(), Some(INTER_CN), "[{l}]");
    assert_eq!(c.encryption_type, enc, "[{l}]");
    assert_eq!(
        c.expires_at.map(|t| t.timestamp()),
        Some(m.not_after.timestamp()),
        "[{l}]"
    );
    assert!(
        !c.auto_renew,
        "[{l}] the old client still renews it until told otherwise"
    );
    let e = w.s.cert_export(&w.admin, id, true).await.unwrap();
    let key = e.private_key_pem.expect("key");
    assert_eq!(
        der_of(&key),
        der_of(&m.key_pem),
        "[{l}] the key decrypts to the lineage's key"
    );
    assert_eq!(der_of(&e.certificate_pem), der_of(&m.cert_pem), "[{l}]");
    assert_eq!(
        e.chain_pem.as_deref().map(der_of),
        Some(der_of(&pki().inter_pem)),
        "[{l}] chain"
    );
    certpem::parse_bundle(
        e.certificate_pem.as_bytes(),
        key.as_bytes(),
        e.chain_pem.as_deref().map(str::as_bytes),
    )
    .unwrap_or_else(|e| panic!("[{l}] the stored key matches the certificate: {e:?}"));
}

// ------------------------------------------------------------------ tests

#[tokio::test(flavor = "multi_thread")]
async fn certbot_and_acmesh_directories_are_migrated_once_with_their_renewal_settings() {
    for t in common::both().await {
        let w = World::new(&t).await;
        let l = w.label;
        let tmp = tempfile::tempdir().unwrap();
        let le = tmp.path().join("letsencrypt");
        let le_s = le.display().to_string();
        let made = certbot_lineage(&le, &le_s, "example.com", &["example.com", "www.example.com"], true);
        certbot_lineage(&le, &le_s, "broken.example", &["broken.example"], false);

        // certbot
        let r =
            w.s.acme_migrate(&w.admin, &source(AcmeTool::Certbot, &le))
                .await
                .unwrap();
        assert_eq!(r.lineages.len(), 2, "[{l}] {r:#?}");
        assert_eq!(r.count(MigrateOutcome::Imported), 1, "[{l}] {r:#?}");
        let ex = lineage(&r, "example.com");
        assert_eq!(ex.outcome, MigrateOutcome::Imported, "[{l}] {ex:#?}");
        let id = ex.certificate_id.unwrap();
        check_imported(&w, id, &made, &["example.com", "www.example.com"], EncryptionType::Rsa).await;
        let iss = get_issuance(w.db(), id)
            .await
            .unwrap()
            .expect("issuance settings stored");
        assert_eq!(iss.ca, "letsencrypt-staging", "[{l}]");
        assert_eq!(iss.directory_url, STAGING, "[{l}]");
        assert_eq!(iss.challenge_type, "http-01", "[{l}]");
        assert_eq!(iss.key_type, "rsa2048", "[{l}]");
        assert!(!iss.key_reuse, "[{l}]");
        assert_eq!(
            iss.preferred_chain.as_deref(),
            Some("(STAGING) Pretend Pear X1"),
            "[{l}]"
        );
        assert_eq!(
            iss.contact_email, "certbot-owner@example.com",
            "[{l}] from the certbot account"
        );
        assert!(iss.dns_provider_id.is_none() && iss.account_id.is_none(), "[{l}]");
        let ren = ex.renewal.as_ref().unwrap();
        assert!(ren.stored, "[{l}]");
        assert_eq!(ren.webroots, vec!["/var/www/example"], "[{l}]");
        assert!(
            !ex.renewable,
            "[{l}] a webroot on this host is not one certdeck writes into"
        );
        assert!(
            ex.not_renewable_reason
                .as_deref()
                .unwrap()
                .contains("webroot /var/www/example"),
            "[{l}] {ex:#?}"
        );
        assert!(
            ex.todo.iter().any(|t| t.contains("recorded in the report only"))
                && get_issuance(w.db(), ex.certificate_id.unwrap())
                    .await
                    .unwrap()
                    .unwrap()
                    .webroot
                    .is_none(),
            "[{l}] {:#?}",
            ex.todo
        );
        let broken = lineage(&r, "broken.example");
        assert_eq!(broken.outcome, MigrateOutcome::Failed, "[{l}]");
        assert!(broken.certificate_id.is_none(), "[{l}]");
        let err = broken.error.as_deref().unwrap();
        assert!(
            err.contains("private key") && err.contains("privkey.pem"),
            "[{l}] {err}"
        );
        let migrated = audit_rows(&w, "certificate.migrate").await;
        assert_eq!(migrated.len(), 1, "[{l}]");
        assert_eq!(migrated[0].resource_id, Some(id), "[{l}]");
        assert_eq!(migrated[0].user_id, Some(w.admin.user_id), "[{l}]");
        assert_eq!(audit_rows(&w, "certificate.import").await.len(), 1, "[{l}]");

        // acme.sh
        let home = tmp.path().join("acme.sh-home");
        let hs = home.display().to_string();
        let made_sh = acmesh_home(&home, &hs, "example.org", "www.example.org");
        let r2 =
            w.s.acme_migrate(&w.admin, &source(AcmeTool::AcmeSh, &home))
                .await
                .unwrap();
        assert_eq!(
            r2.lineages.len(),
            1,
            "[{l}] ca/, deploy/ and files are no lineages: {r2:#?}"
        );
        let org = lineage(&r2, "example.org");
        assert_eq!(org.outcome, MigrateOutcome::Imported, "[{l}] {org:#?}");
        let id2 = org.certificate_id.unwrap();
        check_imported(
            &w,
            id2,
            &made_sh,
            &["example.org", "www.example.org"],
            EncryptionType::Ecc,
        )
        .await;
        let iss2 = get_issuance(w.db(), id2)
            .await
            .unwrap()
            .expect("issuance settings stored");
        assert_eq!(
            (
                iss2.ca.as_str(),
                iss2.directory_url.as_str(),
                iss2.challenge_type.as_str(),
                iss2.key_type.as_str()
            ),
            ("letsencrypt", PRODUCTION, "dns-01", "ec256"),
            "[{l}]"
        );
        assert!(iss2.key_reuse, "[{l}] acme.sh keeps the key unless forced");
        assert_eq!(iss2.contact_email, "acme-owner@example.org", "[{l}] from account.conf");
        assert!(!org.renewable, "[{l}]");
        assert!(matches!(
            &org.renewal.as_ref().unwrap().challenge,
            Some(MappedChallenge::Dns01 { plugin, vendor }) if plugin == "dns_cf" && vendor == "Cloudflare"
        ));
        let todo = org.todo.join("\n");
        assert!(
            todo.contains("DNS provider for Cloudflare") && todo.contains("dns_cf") && todo.contains("SAVED_CF_Token"),
            "[{l}] the unmapped dns_cf credentials are listed: {todo}"
        );
        assert!(
            todo.contains("/etc/nginx/ssl/example.org.pem"),
            "[{l}] installed copy: {todo}"
        );
        let json = serde_json::to_string(&r2).unwrap();
        assert!(
            !json.contains(CF_TOKEN) && !json.contains("0123abcd"),
            "[{l}] credential values never appear"
        );

        // A second run imports nothing new and writes nothing.
        let certs = count(w.db(), "SELECT COUNT(*) FROM certificates").await;
        let audits = common::audit_count(w.db()).await;
        let again =
            w.s.acme_migrate(&w.admin, &source(AcmeTool::Certbot, &le))
                .await
                .unwrap();
        assert_eq!(
            lineage(&again, "example.com").outcome,
            MigrateOutcome::AlreadyPresent,
            "[{l}]"
        );
        assert_eq!(lineage(&again, "example.com").certificate_id, Some(id), "[{l}]");
        assert_eq!(again.count(MigrateOutcome::Imported), 0, "[{l}]");
        let again2 =
            w.s.acme_migrate(&w.admin, &source(AcmeTool::AcmeSh, &home))
                .await
                .unwrap();
        assert_eq!(
            lineage(&again2, "example.org").outcome,
            MigrateOutcome::AlreadyPresent,
            "[{l}]"
        );
        assert_eq!(count(w.db(), "SELECT COUNT(*) FROM certificates").await, certs, "[{l}]");
        assert_eq!(
            count(w.db(), "SELECT COUNT(*) FROM certificate_issuance").await,
            2,
            "[{l}]"
        );
        assert_eq!(common::audit_count(w.db()).await, audits, "[{l}]");

        // Migrated settings make automatic renewal available (an import without them does not).
        let c =
            w.s.cert_update(
                &w.admin,
                id,
                &CertChanges {
                    auto_renew: Some(true),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert!(c.auto_renew, "[{l}]");

        // Files of the certdeck host are an admin's to read; other users give a server.
        let e = assert_err!(
            w.s.acme_migrate(&w.alice, &source(AcmeTool::Certbot, &le)).await,
            ServiceError::Forbidden(_),
            "[{l}] a user reading the host's files"
        );
        assert!(e.to_string().contains("--server"), "[{l}] {e}");
        let e = assert_err!(
            w.s.acme_migrate(&w.admin, &source(AcmeTool::Certbot, &home)).await,
            ServiceError::Validation { .. },
            "[{l}] not a certbot dir"
        );
        assert!(e.to_string().contains("renewal/"), "[{l}] {e}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_broken_lineage_is_reported_and_changes_nothing() {
    for t in common::both().await {
        let w = World::new(&t).await;
        let l = w.label;
        let tmp = tempfile::tempdir().unwrap();
        let le = tmp.path().join("le");
        certbot_lineage(
            &le,
            &le.display().to_string(),
            "nokey.example",
            &["nokey.example"],
            false,
        );
        // acme.sh: a key that is not the certificate's.
        let home = tmp.path().join("acme");
        acmesh_home(
            &home,
            &home.display().to_string(),
            "mismatch.example",
            "www.mismatch.example",
        );
        write(
            &home.join("mismatch.example_ecc/mismatch.example.key"),
            &rcgen::KeyPair::generate().unwrap().serialize_pem(),
        );
        let certs = count(w.db(), "SELECT COUNT(*) FROM certificates").await;
        let audits = common::audit_count(w.db()).await;
        let r =
            w.s.acme_migrate(&w.admin, &source(AcmeTool::Certbot, &le))
                .await
                .unwrap();
        let b = lineage(&r, "nokey.example");
        assert_eq!(b.outcome, MigrateOutcome::Failed, "[{l}]");
        assert!(
            b.error.as_deref().unwrap().contains("private key file is missing"),
            "[{l}] {b:#?}"
        );
        let r =
            w.s.acme_migrate(&w.admin, &source(AcmeTool::AcmeSh, &home))
                .await
                .unwrap();
        let b = lineage(&r, "mismatch.example");
        assert_eq!(b.outcome, MigrateOutcome::Failed, "[{l}]");
        assert!(b.error.as_deref().unwrap().contains("does not match"), "[{l}] {b:#?}");
        assert_eq!(count(w.db(), "SELECT COUNT(*) FROM certificates").await, certs, "[{l}]");
        assert_eq!(
            count(w.db(), "SELECT COUNT(*) FROM certificate_issuance").await,
            0,
            "[{l}]"
        );
        assert_eq!(common::audit_count(w.db()).await, audits, "[{l}] no audit row either");
    }
}

// ------------------------------------------------------------------ over SSH

#[tokio::test(flavor = "multi_thread")]
async fn a_certbot_directory_is_migrated_from_a_server_over_sftp() {
    let Some(b) = common::bed::sshd() else { return };
    let t = common::sqlite().await;
    let w = World::new(&t).await;
    let server =
        w.s.server_create(
            &w.admin,
            &ServerInput {
                name: Some("migrate-bed".into()),
                hostname: Some(b.host.clone()),
                port: Some(i64::from(b.port)),
                server_type: Some(ServerType::Nginx),
                username: Some(b.user.clone()),
                auth_type: Some(AuthType::Key),
                private_key: Some(std::fs::read_to_string(&b.key).unwrap()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    w.s.server_trust_host_key(&w.admin, server.id, &b.host_fp)
        .await
        .unwrap();
    let server = w.s.server_get(&w.admin, server.id).await.unwrap();

    // The tree is made here and unpacked in the SSH user's home (tar keeps live/'s symlinks).
    let remote = format!("certdeck-migrate-{:08x}/letsencrypt", rand::random::<u32>());
    let session = w.s.ssh_connect(&server).await.unwrap();
    let home = session.run("pwd").await.unwrap().stdout.trim().to_string();
    let remote_abs = format!("{home}/{remote}");
    let tmp = tempfile::tempdir().unwrap();
    let made = certbot_lineage(
        tmp.path(),
        &remote_abs,
        "ssh.example",
        &["ssh.example", "www.ssh.example"],
        true,
    );
    certbot_lineage(
        tmp.path(),
        &remote_abs,
        "root-only.example",
        &["root-only.example"],
        true,
    );
    // A renewal file whose webroot climbs out of the document root (issue 14 §7): it gets the
    // checks of a typed webroot, so certdeck never writes challenge files there.
    certbot_lineage(
        tmp.path(),
        &remote_abs,
        "hostile-webroot.example",
        &["hostile-webroot.example"],
        true,
    );
    let conf = tmp.path().join("renewal/hostile-webroot.example.conf");
    let text = std::fs::read_to_string(&conf)
        .unwrap()
        .replace("/var/www/example", "/var/www/example/../../../etc/cron.d");
    std::fs::write(&conf, text).unwrap();
    let tar = std::process::Command::new("tar")
        .args(["-cf", "-", "-C"])
        .arg(tmp.path())
        .arg(".")
        .output()
        .unwrap();
    assert!(tar.status.success());
    let out = session
        .exec_with_input(
            &format!("mkdir -p {remote_abs} && tar -xf - -C {remote_abs} && chmod 000 {remote_abs}/archive/root-only.example/privkey1.pem"),
            Some(&tar.stdout),
        )
        .await
        .unwrap();
    assert_eq!(out.code, 0, "unpack: {}", out.stderr);

    let r =
        w.s.acme_migrate(
            &w.admin,
            &MigrateSource {
                tool: AcmeTool::Certbot,
                dir: remote.clone(),
                server_id: Some(server.id),
            },
        )
        .await;
    let _ = session
        .exec(&format!("rm -rf {}", remote_abs.trim_end_matches("/letsencrypt")))
        .await;
    session.close().await;
    let r = r.unwrap();
    assert_eq!(r.server_id, Some(server.id));
    let ok = lineage(&r, "ssh.example");
    assert_eq!(ok.outcome, MigrateOutcome::Imported, "{ok:#?}");
    let id = ok.certificate_id.unwrap();
    check_imported(&w, id, &made, &["ssh.example", "www.ssh.example"], EncryptionType::Rsa).await;
    let iss = get_issuance(w.db(), id).await.unwrap().unwrap();
    assert_eq!(
        (iss.ca.as_str(), iss.challenge_type.as_str(), iss.key_type.as_str()),
        ("letsencrypt-staging", "http-01", "rsa2048")
    );
    assert_eq!(iss.contact_email, "certbot-owner@example.com");
    // Read from a server with one webroot: certdeck renews through that webroot over SSH.
    assert_eq!(
        (iss.http_server_id, iss.webroot.as_deref(), iss.http_listen.as_deref()),
        (Some(server.id), Some("/var/www/example"), None)
    );
    assert!(ok.renewable, "{ok:#?}");
    assert!(!ok.todo.iter().any(|t| t.contains("webroot")), "{:#?}", ok.todo);
    let notes = w.s.cert_notes(&w.admin, id).await.unwrap().unwrap();
    assert!(notes.contains("migrate-bed"), "{notes}");
    // A key only root may read: reported with the user and the path, nothing stored.
    let denied = lineage(&r, "root-only.example");
    assert_eq!(denied.outcome, MigrateOutcome::Failed);
    let e = denied.error.as_deref().unwrap();
    assert!(
        e.contains("cannot read") && e.contains(&format!("SSH user {}", b.user)) && e.contains("privkey.pem"),
        "{e}"
    );
    // The hostile webroot: imported, but no webroot stored and the reason said.
    let hostile = lineage(&r, "hostile-webroot.example");
    assert_eq!(hostile.outcome, MigrateOutcome::Imported, "{hostile:#?}");
    let iss = get_issuance(w.db(), hostile.certificate_id.unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((iss.http_server_id, iss.webroot.as_deref()), (None, None), "{iss:?}");
    assert!(!hostile.renewable, "{hostile:#?}");
    let why = hostile.not_renewable_reason.as_deref().unwrap_or_default();
    assert!(why.contains("webroot") && why.contains("'..'"), "{why}");
    assert_eq!(count(w.db(), "SELECT COUNT(*) FROM certificates").await, 2);
}
