//! Requesting certificates end to end (service → task → engine → store) against the test bed's
//! BIND-backed Pebble, with dns-01 through an RFC 2136 DNS provider, on SQLite and MariaDB.

mod common;

use certdeck::domain::{CertificateStatus, CertificateType, EncryptionType, TaskStatus, UserRole};
use certdeck::service::acme::RequestInput;
use certdeck::service::servers::ServerInput;
use certdeck::service::tasks::Runners;
use common::pebble_bind::{bed, world};
use common::{make_user, services};

#[tokio::test(flavor = "multi_thread")]
async fn a_wildcard_certificate_is_requested_issued_through_rfc2136_and_stored_with_its_challenges() {
    let Some(b) = bed() else { return };
    for t in common::both().await {
        let l = t.label();
        let (s, a, p) = world(&t, &b).await;
        let tested = s.dns_provider_test(&a, p.id).await.unwrap();
        assert!(
            tested.contains("removed")
                && tested.contains(&format!("authoritative servers of {}: ns.", b.settings.zone)),
            "[{l}] {tested}"
        );
        let listed = format!("{:?}", s.dns_provider_list(&a).await.unwrap());
        assert!(!listed.contains(&b.secret), "[{l}] the secret is never shown");

        let apex = format!("i{:08x}.{}", rand::random::<u32>(), b.settings.zone);
        let req = RequestInput {
            domains: vec![format!("*.{apex}"), apex.clone()],
            ca: "pebble".into(),
            email: Some("certs@example.test".into()),
            key: Some("ec384".into()),
            challenge: "dns-01".into(),
            dns_provider_id: Some(p.id),
            ..Default::default()
        };
        let (cert, task) = s.cert_request(&a, &req).await.unwrap();
        assert_eq!(cert.status, CertificateStatus::Pending, "[{l}]");
        assert_eq!(cert.certificate_type, CertificateType::Wildcard, "[{l}]");
        // An auto-deploy binding made before issuance gets a deploy task after it.
        let srv = s
            .server_create(
                &a,
                &ServerInput {
                    hostname: Some("web.example.test".into()),
                    username: Some("deploy".into()),
                    password: Some("pw".into()),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        s.deployment_create(&a, cert.id, srv.id, "/etc/ssl/w.pem", None, true)
            .await
            .unwrap();

        let r = s.task_run_here(&a, task.id, &Runners::builtin()).await.unwrap();
        assert!(r.is_some(), "[{l}]");
        let d = s.task_get(&a, task.id).await.unwrap();
        let logs: Vec<String> = s
            .task_logs(&a, task.id, 0, 100)
            .await
            .unwrap()
            .into_iter()
            .map(|x| x.message)
            .collect();
        assert_eq!(
            d.task.status,
            TaskStatus::Completed,
            "[{l}] {:?}\n{}",
            d.task.error_message,
            logs.join("\n")
        );
        for step in [
            "created the ACME account",
            "order created",
            "in place",
            "finalized",
            "issued by",
        ] {
            assert!(logs.iter().any(|m| m.contains(step)), "[{l}] step {step}: {logs:?}");
        }
        let c = s.cert_get(&a, cert.id).await.unwrap();
        assert_eq!(c.status, CertificateStatus::Issued, "[{l}]");
        assert_eq!(c.encryption_type, EncryptionType::Ecc, "[{l}]");
        assert!(c.issuer.as_deref().unwrap_or("").contains("Pebble"), "[{l}] {c:?}");
        assert!(c.expires_at.is_some() && c.issued_at.is_some(), "[{l}]");
        let ex = s.cert_export(&a, cert.id, true).await.unwrap();
        assert!(
            ex.fullchain_pem.matches("BEGIN CERTIFICATE").count() >= 2,
            "[{l}] leaf + chain"
        );
        assert!(ex.private_key_pem.unwrap().contains("PRIVATE KEY"), "[{l}]");
        let ch = s
            .cert_challenges(&a, cert.id, certdeck::store::Page::first(10))
            .await
            .unwrap();
        assert_eq!(ch.len(), 2, "[{l}] one row per authorization: {ch:?}");
        assert!(
            ch.iter()
                .all(|r| r.status.as_str() == "verified" && r.record_type == "TXT"),
            "[{l}] {ch:?}"
        );
        assert!(ch.iter().any(|r| r.domain == format!("*.{apex}")), "[{l}] {ch:?}");
        let deploys = common::count(
            &t.db,
            "SELECT COUNT(*) FROM tasks WHERE task_type = 'certificate_deploy' AND status = 'pending'",
        )
        .await;
        assert_eq!(deploys, 1, "[{l}] the auto deploy is queued");

        // A second certificate reuses the account of (CA, contact).
        let (c2, t2) = s
            .cert_request(
                &a,
                &RequestInput {
                    domains: vec![format!("two.{apex}")],
                    key: Some("rsa2048".into()),
                    ..req.clone()
                },
            )
            .await
            .unwrap();
        s.task_run_here(&a, t2.id, &Runners::builtin()).await.unwrap();
        assert_eq!(
            s.cert_get(&a, c2.id).await.unwrap().status,
            CertificateStatus::Issued,
            "[{l}]"
        );
        assert_eq!(
            common::count(&t.db, "SELECT COUNT(*) FROM acme_accounts").await,
            1,
            "[{l}]"
        );
        let stored = common::strings(&t.db, "SELECT credentials_encrypted FROM acme_accounts").await;
        assert!(!stored[0].contains("key_pkcs8"), "[{l}] account credentials are sealed");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_requests_are_refused_before_anything_is_written_and_a_failed_order_marks_the_certificate() {
    let Some(b) = bed() else { return };
    let t = common::sqlite().await;
    let (s, a, p) = world(&t, &b).await;
    let base = RequestInput {
        domains: vec!["a.example.test".into()],
        ca: "pebble".into(),
        challenge: "dns-01".into(),
        dns_provider_id: Some(p.id),
        ..Default::default()
    };
    for (what, input, field) in [
        (
            "wildcard over http-01",
            RequestInput {
                domains: vec!["*.example.test".into()],
                challenge: "http-01".into(),
                ..base.clone()
            },
            "challenge",
        ),
        (
            "unknown CA",
            RequestInput {
                ca: "nope".into(),
                ..base.clone()
            },
            "ca",
        ),
        (
            "EAB CA",
            RequestInput {
                ca: "zerossl".into(),
                ..base.clone()
            },
            "ca",
        ),
        (
            "no provider",
            RequestInput {
                dns_provider_id: None,
                ..base.clone()
            },
            "dns_provider",
        ),
        (
            "bad key",
            RequestInput {
                key: Some("rsa1024".into()),
                ..base.clone()
            },
            "key",
        ),
        (
            "bad name",
            RequestInput {
                domains: vec!["not a name".into()],
                ..base.clone()
            },
            "domain",
        ),
    ] {
        let e = s.cert_request(&a, &input).await.expect_err(what);
        assert_eq!(common::vfield(&e), field, "{what}: {e}");
    }
    assert_eq!(
        common::count(&t.db, "SELECT COUNT(*) FROM certificates").await,
        0,
        "nothing written"
    );
    assert_eq!(common::count(&t.db, "SELECT COUNT(*) FROM tasks").await, 0);

    // A name outside the provider's zone: the order fails, clearly, and the certificate shows it.
    let (cert, task) = s
        .cert_request(
            &a,
            &RequestInput {
                domains: vec![format!("x{:08x}.elsewhere.test", rand::random::<u32>())],
                ..base.clone()
            },
        )
        .await
        .unwrap();
    s.task_run_here(&a, task.id, &Runners::builtin()).await.unwrap();
    let d = s.task_get(&a, task.id).await.unwrap();
    assert_eq!(d.task.status, TaskStatus::Failed);
    assert!(d.task.error_message.unwrap_or_default().contains("not in the zone"));
    assert_eq!(s.cert_get(&a, cert.id).await.unwrap().status, CertificateStatus::Error);
    let ch = s
        .cert_challenges(&a, cert.id, certdeck::store::Page::first(10))
        .await
        .unwrap();
    assert!(ch.iter().all(|r| r.status.as_str() == "failed"), "{ch:?}");
    // The certificate's own monitor records the failure and its certificate_error rule fires.
    let m: i64 = common::scalar(
        &t.db,
        "SELECT id FROM monitors WHERE monitor_type = 'certificate' AND target_id = ?",
        cert.id,
    )
    .await;
    let mon = s.monitor_get(&a, m).await.unwrap();
    assert_eq!(mon.status, certdeck::domain::MonitorStatus::Error);
    assert!(
        mon.status_message.as_deref().unwrap_or("").contains("issuance failed"),
        "{mon:?}"
    );
    let fired = common::strings(&t.db, "SELECT message FROM alert_history").await;
    assert!(
        fired.len() == 1 && fired[0].contains("issuance failed") && fired[0].contains("not in the zone"),
        "{fired:?}"
    );
    let log: Vec<String> = s
        .task_logs(&a, task.id, 0, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.message)
        .collect();
    assert!(log.iter().any(|l| l.contains("'Certificate error' fired")), "{log:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_requested_certificate_is_renewed_the_same_way_and_then_revoked_at_the_ca() {
    let Some(b) = bed() else { return };
    let Ok(mgmt) = std::env::var("CERTDECK_TEST_PEBBLE_BIND_MGMT") else {
        return;
    };
    let ca_path = std::env::var("CERTDECK_TEST_PEBBLE_CA").unwrap();
    let t = common::sqlite().await;
    let (s, a, p) = world(&t, &b).await;
    let name = format!("n{:08x}.{}", rand::random::<u32>(), b.settings.zone);
    let (cert, task) = s
        .cert_request(
            &a,
            &RequestInput {
                domains: vec![name.clone()],
                ca: "pebble".into(),
                key: Some("rsa2048".into()),
                challenge: "dns-01".into(),
                dns_provider_id: Some(p.id),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    s.task_run_here(&a, task.id, &Runners::builtin()).await.unwrap();
    let first = s.cert_export(&a, cert.id, true).await.unwrap();
    // An imported certificate has nothing here to renew or revoke it with.
    let (ic, ik) = {
        let kp = rcgen::KeyPair::generate().unwrap();
        let c = rcgen::CertificateParams::new(vec!["imported.example.test".to_string()])
            .unwrap()
            .self_signed(&kp)
            .unwrap();
        (c.pem(), kp.serialize_pem())
    };
    let imported = s
        .cert_import(
            &a,
            &certdeck::service::certificates::ImportInput {
                certificate: ic.into_bytes(),
                private_key: ik.into_bytes(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let e = s.cert_renew(&a, imported.id).await.expect_err("imported");
    assert!(e.to_string().contains("not obtained through ACME here"), "{e}");
    let e = s
        .cert_revoke(&a, imported.id, "superseded")
        .await
        .expect_err("imported");
    assert!(e.to_string().contains("not obtained through ACME here"), "{e}");

    let rt = s.cert_renew(&a, cert.id).await.unwrap();
    s.task_run_here(&a, rt.id, &Runners::builtin()).await.unwrap();
    let d = s.task_get(&a, rt.id).await.unwrap();
    assert_eq!(d.task.status, TaskStatus::Completed, "{:?}", d.task.error_message);
    let second = s.cert_export(&a, cert.id, true).await.unwrap();
    assert_ne!(first.certificate_pem, second.certificate_pem, "a new certificate");
    assert_ne!(
        first.private_key_pem, second.private_key_pem,
        "with a new key (no key reuse)"
    );
    let c = s.cert_get(&a, cert.id).await.unwrap();
    assert_eq!(
        (c.status, c.encryption_type),
        (CertificateStatus::Issued, EncryptionType::Rsa)
    );
    let logs: Vec<String> = s
        .task_logs(&a, rt.id, 0, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|x| x.message)
        .collect();
    assert!(logs.iter().any(|m| m.starts_with("renewing ")), "{logs:?}");

    // Revoke at the CA: Pebble reports the certificate revoked; the row says so.
    let e = s.cert_revoke(&a, cert.id, "because").await.expect_err("bad reason");
    assert_eq!(common::vfield(&e), "reason");
    let c = s.cert_revoke(&a, cert.id, "superseded").await.unwrap();
    assert_eq!(c.status, CertificateStatus::Revoked);
    let der = certdeck::domain::certpem::certificates_der(second.certificate_pem.as_bytes())
        .unwrap()
        .remove(0);
    let serial = certdeck::domain::certpem::serial_hex(&der).unwrap();
    let st = common::https_get(&format!("{mgmt}/cert-status-by-serial/{serial}"), &ca_path).await;
    assert!(st.contains("Revoked"), "Pebble says: {st}");
    let again = s.cert_revoke(&a, cert.id, "superseded").await.expect_err("twice");
    assert!(again.to_string().contains("already revoked"), "{again}");
}

fn certdeck(home: &std::path::Path, args: &[&str], stdin: Option<&str>) -> std::process::Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_certdeck"));
    cmd.args(args)
        .env("CERTDECK_DATA_DIR", home.join("data"))
        .env("CERTDECK_CONFIG_DIR", home.join("config"))
        .env_remove("CERTDECK_DATABASE_URL")
        .env_remove("CERTDECK_API_KEY")
        .env_remove("CERTDECK_MASTER_KEY")
        .env_remove("CERTDECK_TESTKIT_COUNT_FILE");
    common::cli::output(&mut cmd, stdin)
}

#[test]
fn the_cli_requests_a_certificate_through_a_dns_provider_and_revokes_it() {
    let Some(b) = bed() else { return };
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let ca_file = std::env::var("CERTDECK_TEST_PEBBLE_CA").unwrap();
    let run = |args: &[&str], stdin: Option<&str>| {
        let o = certdeck(h, args, stdin);
        let out = String::from_utf8_lossy(&o.stdout).into_owned();
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert!(o.status.success(), "certdeck {args:?} failed:\n{out}\n{err}");
        (out, err)
    };
    // First run: the admin is made with a one-time password, replaced at the first login.
    let first = certdeck(h, &["server", "list"], None);
    let err = String::from_utf8_lossy(&first.stderr);
    assert!(
        !first.status.success(),
        "a first run without a terminal stops until the password is chosen: {err}"
    );
    common::cli::first_login(&common::cli::one_time_password(&err), |args, stdin| {
        certdeck(h, args, stdin)
    });
    let (out, _) = run(&["ca", "list"], None);
    assert!(out.contains("letsencrypt-staging") && out.contains("zerossl"), "{out}");
    run(
        &[
            "ca",
            "add",
            "pebble",
            "--directory",
            &b.directory,
            "--trust-root",
            &ca_file,
        ],
        None,
    );
    let (out, _) = run(
        &[
            "dns-provider",
            "add",
            "bind",
            "--server",
            &b.settings.server,
            "--zone",
            &b.settings.zone,
            "--key-name",
            &b.settings.key_name,
            "--algorithm",
            &b.settings.algorithm,
        ],
        Some(&format!("{}\n", b.secret)),
    );
    assert!(out.contains("added DNS provider bind (id 1, rfc2136)"), "{out}");
    let (out, _) = run(&["dns-provider", "list"], None);
    assert!(!out.contains(&b.secret), "the secret is not listed: {out}");
    let (out, _) = run(&["dns-provider", "test", "1"], None);
    assert!(out.contains("removed TXT _certdeck-test."), "{out}");
    let name = format!("c{:08x}.{}", rand::random::<u32>(), b.settings.zone);
    let (out, err) = run(
        &[
            "cert",
            "request",
            "--domain",
            &name,
            "--ca",
            "pebble",
            "--dns-provider",
            "1",
            "--key",
            "ec384",
            "--email",
            "ops@example.test",
        ],
        None,
    );
    assert!(out.contains("is issued: issued by Pebble"), "{out}\n{err}");
    assert!(
        err.contains("finalized with the CSR"),
        "the ACME steps are printed: {err}"
    );
    let (out, _) = run(&["cert", "show", "1", "--json"], None);
    assert!(
        out.contains("\"status\": \"issued\"") || out.contains("\"status\":\"issued\""),
        "{out}"
    );
    let (out, _) = run(&["cert", "revoke", "1", "--reason", "cessationOfOperation"], None);
    assert!(out.contains("revoked at its CA"), "{out}");
    let wild = certdeck(
        h,
        &[
            "cert",
            "request",
            "--domain",
            "*.x.example.test",
            "--challenge",
            "http-01",
        ],
        None,
    );
    let err = String::from_utf8_lossy(&wild.stderr);
    assert!(
        !wild.status.success() && err.contains("a wildcard name needs dns-01"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_ca_that_requires_external_account_binding_gets_an_account_with_the_stored_eab_credentials() {
    let Some(b) = bed() else { return };
    let get = |n: &str| std::env::var(n).ok().filter(|v| !v.is_empty());
    let (Some(dir), Some(kid), Some(hmac)) = (
        get("CERTDECK_TEST_PEBBLE_EAB_DIRECTORY"),
        get("CERTDECK_TEST_EAB_KID"),
        get("CERTDECK_TEST_EAB_HMAC"),
    ) else {
        assert!(!common::peers_required(), "pebble-eab is not up but peers are required");
        return;
    };
    let t = common::sqlite().await;
    let s = services(&t);
    let (_, a) = make_user(&s, &t, None, "ops", UserRole::Admin).await;
    let p = s
        .dns_provider_add_rfc2136(&a, "bind", &b.settings, &b.secret)
        .await
        .unwrap();
    let req = |ca: &str| RequestInput {
        domains: vec![format!("e{:08x}.{}", rand::random::<u32>(), b.settings.zone)],
        ca: ca.into(),
        challenge: "dns-01".into(),
        dns_provider_id: Some(p.id),
        ..Default::default()
    };
    // Declared as needing EAB but without credentials: refused before anything is written.
    s.ca_add(&a, "eab-missing", &dir, Some(&b.ca_pem), true, None)
        .await
        .unwrap();
    let e = s
        .cert_request(&a, &req("eab-missing"))
        .await
        .expect_err("no EAB credentials");
    assert!(e.to_string().contains("External Account Binding"), "{e}");
    // A bad HMAC key is refused at `ca add`.
    let e = s
        .ca_add(
            &a,
            "eab-bad",
            &dir,
            Some(&b.ca_pem),
            true,
            Some((kid.as_str(), "not base64!")),
        )
        .await
        .expect_err("bad hmac");
    assert_eq!(common::vfield(&e), "eab_hmac");
    // Without EAB the CA refuses the account: the order fails with its problem document.
    s.ca_add(&a, "eab-off", &dir, Some(&b.ca_pem), false, None)
        .await
        .unwrap();
    let (_, t1) = s.cert_request(&a, &req("eab-off")).await.unwrap();
    s.task_run_here(&a, t1.id, &Runners::builtin()).await.unwrap();
    let d = s.task_get(&a, t1.id).await.unwrap();
    assert_eq!(d.task.status, TaskStatus::Failed);
    assert!(
        d.task
            .error_message
            .unwrap_or_default()
            .contains("externalAccountRequired"),
        "the CA's own problem type"
    );
    // With the stored key id and HMAC key, the account is created and the certificate issued.
    let view = s
        .ca_add(
            &a,
            "eab",
            &dir,
            Some(&b.ca_pem),
            false,
            Some((kid.as_str(), hmac.as_str())),
        )
        .await
        .unwrap();
    assert_eq!((view.eab_required, view.eab_kid.as_deref()), (true, Some(kid.as_str())));
    let (c, t2) = s.cert_request(&a, &req("eab")).await.unwrap();
    s.task_run_here(&a, t2.id, &Runners::builtin()).await.unwrap();
    let d = s.task_get(&a, t2.id).await.unwrap();
    assert_eq!(d.task.status, TaskStatus::Completed, "{:?}", d.task.error_message);
    assert_eq!(s.cert_get(&a, c.id).await.unwrap().status, CertificateStatus::Issued);
    let kids = common::strings(&t.db, "SELECT eab_kid FROM acme_accounts WHERE eab_kid IS NOT NULL").await;
    assert_eq!(kids, vec![kid.clone()]);
    let sealed = common::strings(&t.db, "SELECT eab_hmac_encrypted FROM acme_cas WHERE name = 'eab'").await;
    assert!(!sealed[0].contains(&hmac), "the HMAC key is sealed");
}

#[tokio::test(flavor = "multi_thread")]
async fn dns_providers_of_every_type_keep_their_secrets_sealed_and_bad_input_changes_nothing() {
    use serde_json::{json, Map, Value};
    common::init();
    let obj = |v: Value| -> Map<String, Value> { v.as_object().unwrap().clone() };
    for t in common::both().await {
        let l = t.label();
        let s = services(&t);
        let (_, a) = make_user(&s, &t, None, "ops", UserRole::Admin).await;
        let token = "cf-token-that-must-never-show-0123456789";
        let cf = s
            .dns_provider_add(
                &a,
                "cf",
                "cloudflare",
                &obj(json!({"zone": "example.com", "endpoint": "http://127.0.0.1:9/client/v4"})),
                &obj(json!({"api_token": token})),
            )
            .await
            .unwrap_or_else(|e| panic!("[{l}] {e}"));
        assert_eq!(cf.provider_type, "cloudflare");
        let stored: String =
            common::scalar(&t.db, "SELECT secrets_encrypted FROM dns_providers WHERE id = ?", cf.id).await;
        assert!(!stored.contains(token), "[{l}] the token is sealed at rest");
        let listed = format!("{:?}", s.dns_provider_list(&a).await.unwrap());
        assert!(!listed.contains(token), "[{l}] never listed");
        let manual = s
            .dns_provider_add(
                &a,
                "by-hand",
                "manual",
                &obj(json!({"delegation_zone": "acme.example.net"})),
                &Map::new(),
            )
            .await
            .unwrap();
        assert!(
            manual.secrets_encrypted.is_none(),
            "[{l}] a manual provider keeps no secret"
        );
        let e = s.dns_provider_test(&a, manual.id).await.unwrap_err();
        assert!(e.to_string().contains("manual"), "[{l}] {e}");

        let before = common::count(&t.db, "SELECT COUNT(*) FROM dns_providers").await;
        let cases: Vec<(&str, Value, Value, &str)> = vec![
            ("aliyun", json!({}), json!({"access_key_id": "AK"}), "secret"),
            (
                "cloudflare",
                json!({"colour": "blue"}),
                json!({"api_token": "x"}),
                "colour",
            ),
            (
                "dnspod",
                json!({}),
                json!({"secret_id": "a", "secret_key": "b", "extra": "c"}),
                "extra",
            ),
            ("huaweicloud", json!({"zone": "not a zone!"}), json!({}), "zone"),
            ("route53", json!({}), json!({}), "type"),
            ("manual", json!({}), json!({"api_token": "x"}), "api_token"),
        ];
        for (ty, set, sec, field) in cases {
            let e = s
                .dns_provider_add(&a, &format!("bad-{ty}"), ty, &obj(set), &obj(sec))
                .await
                .expect_err(ty);
            assert_eq!(common::vfield(&e), field, "[{l}] {ty}: {e}");
        }
        let missing = s
            .dns_provider_add(&a, "ali", "aliyun", &Map::new(), &obj(json!({"access_key_id": "AK"})))
            .await
            .unwrap_err()
            .to_string();
        assert!(
            missing.contains("access_key_secret"),
            "[{l}] names the missing secret: {missing}"
        );
        assert_eq!(
            common::count(&t.db, "SELECT COUNT(*) FROM dns_providers").await,
            before,
            "[{l}] refused providers are not stored"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_imported_certificate_is_set_up_for_renewal_and_renewed_with_its_own_key() {
    let Some(b) = bed() else { return };
    for t in common::both().await {
        let l = t.label();
        let (s, a, p) = world(&t, &b).await;
        let apex = format!("m{:08x}.{}", rand::random::<u32>(), b.settings.zone);
        let names = vec![format!("*.{apex}"), apex.clone()];
        let kp = rcgen::KeyPair::generate().unwrap();
        let pem = rcgen::CertificateParams::new(names.clone())
            .unwrap()
            .self_signed(&kp)
            .unwrap()
            .pem();
        let imported = s
            .cert_import(
                &a,
                &certdeck::service::certificates::ImportInput {
                    certificate: pem.clone().into_bytes(),
                    private_key: kp.serialize_pem().into_bytes(),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let setup = |challenge: &str, provider: Option<i64>| RequestInput {
            ca: "pebble".into(),
            key: Some("ec256".into()),
            challenge: challenge.into(),
            dns_provider_id: provider,
            key_reuse: true,
            ..Default::default()
        };
        // Its names decide: a wildcard cannot be renewed through http-01.
        let e = s
            .cert_renewal_setup(&a, imported.id, &setup("http-01", None))
            .await
            .unwrap_err();
        assert_eq!(common::vfield(&e), "challenge", "[{l}] {e}");
        assert!(
            certdeck::store::acme::get_issuance(&t.db, imported.id)
                .await
                .unwrap()
                .is_none(),
            "[{l}] nothing stored"
        );
        let iss = s
            .cert_renewal_setup(&a, imported.id, &setup("dns-01", Some(p.id)))
            .await
            .unwrap();
        assert_eq!((iss.challenge_type.as_str(), iss.key_reuse), ("dns-01", true), "[{l}]");
        let task = s.cert_renew(&a, imported.id).await.unwrap();
        s.task_run_here(&a, task.id, &Runners::builtin()).await.unwrap();
        let d = s.task_get(&a, task.id).await.unwrap();
        assert_eq!(d.task.status, TaskStatus::Completed, "[{l}] {:?}", d.task.error_message);
        let c = s.cert_get(&a, imported.id).await.unwrap();
        assert_eq!(c.status, CertificateStatus::Issued, "[{l}]");
        assert_eq!(c.domain_list(), names, "[{l}] the same names");
        assert!(
            c.issuer.as_deref().unwrap_or_default().contains("Pebble"),
            "[{l}] {:?}",
            c.issuer
        );
        let after = s.cert_export(&a, imported.id, true).await.unwrap();
        assert_ne!(after.certificate_pem, pem, "[{l}] a new certificate");
        // Key reuse: the CA certified the key that was imported.
        let der = certdeck::domain::certpem::certificates_der(after.certificate_pem.as_bytes()).unwrap();
        let facts = certdeck::domain::certpem::cert_facts(&der[0]).unwrap();
        let key = certdeck::domain::certpem::pem_blocks(kp.serialize_pem().as_bytes()).unwrap();
        assert_eq!(
            certdeck::domain::certpem::key_public_part(&key[0].label, &key[0].der).unwrap(),
            facts.public_key,
            "[{l}] the imported key was reused"
        );
        let log = s.task_logs(&a, task.id, 0, 100).await.unwrap();
        assert!(
            log.iter().any(|m| m.message.contains("reusing the certificate's key")),
            "[{l}] {log:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_aliyun_sms_channel_keeps_its_key_secret_sealed_and_needs_it() {
    common::init();
    for t in common::both().await {
        let l = t.label();
        let s = services(&t);
        let (_, a) = make_user(&s, &t, None, "ops", UserRole::Admin).await;
        let base = serde_json::json!({"flavor": "aliyun", "access_key_id": "LTAI-test", "sign_name": "certdeck",
            "template_code": "SMS_1", "phones": ["13800000000"]});
        let e = s
            .channel_create(&a, "sms", certdeck::domain::ChannelType::Sms, &base)
            .await
            .unwrap_err();
        assert!(
            e.to_string().contains("access_key_secret") || e.to_string().contains("secret"),
            "[{l}] {e}"
        );
        let mut ok = base.clone();
        ok["access_key_secret"] = "aliyun-secret-value-0123".into();
        let c = s
            .channel_create(&a, "sms", certdeck::domain::ChannelType::Sms, &ok)
            .await
            .unwrap();
        assert!(
            c.secret_fields.contains(&"access_key_secret".to_string()),
            "[{l}] {c:?}"
        );
        let stored: String = common::scalar(&t.db, "SELECT config FROM alert_channels WHERE id = ?", c.id).await;
        assert!(!stored.contains("aliyun-secret-value-0123"), "[{l}] sealed at rest");
    }
}
