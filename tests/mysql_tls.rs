//! MySQL/MariaDB over TLS: the URL's `ssl-mode`/`ssl-ca` are honoured with rustls, the server
//! certificate is verified against the test CA, and a TLS-only account cannot connect in clear.

mod common;

use certdeck::service::bootstrap::{self, KeySource, OpenOptions};
use certdeck::service::ClientInfo;
use certdeck::store::{migrate, Db, PoolSettings};

fn tls_env() -> Option<(String, String)> {
    let url = std::env::var("CERTDECK_TEST_MYSQL_TLS_URL")
        .ok()
        .filter(|s| !s.is_empty());
    let ca = std::env::var("CERTDECK_TEST_MYSQL_CA").ok().filter(|s| !s.is_empty());
    match (url, ca) {
        (Some(u), Some(c)) => Some((u, c)),
        _ => {
            assert!(
                !common::peers_required(),
                "CERTDECK_TEST_MYSQL_TLS_URL/CA not set but peers are required: run scripts/test"
            );
            eprintln!("SKIP: MariaDB TLS test bed not configured");
            None
        }
    }
}

#[tokio::test]
async fn tls_connection_is_verified_encrypted_and_runs_the_whole_open_path() {
    common::init();
    let Some((tls_url, ca)) = tls_env() else { return };
    // A fresh database, created by the ordinary test account; the TLS account may use it too.
    let Some(t) = common::empty_mysql().await else { return };
    let db_name = t.url.rsplit('/').next().unwrap().to_string();
    let url = format!("{tls_url}/{db_name}?ssl-mode=VERIFY_IDENTITY&ssl-ca={ca}");

    let db = Db::connect(&url, &PoolSettings::default())
        .await
        .expect("TLS connection with a verified server certificate");
    let Db::MySql(pool) = &db else { panic!("expected MySQL") };
    let (_, cipher): (String, String) = sqlx::query_as("SHOW SESSION STATUS LIKE 'Ssl_cipher'")
        .fetch_one(pool)
        .await
        .unwrap();
    let (_, version): (String, String) = sqlx::query_as("SHOW SESSION STATUS LIKE 'Ssl_version'")
        .fetch_one(pool)
        .await
        .unwrap();
    assert!(!cipher.is_empty(), "the session is not encrypted");
    assert!(
        version.starts_with("TLSv1.2") || version.starts_with("TLSv1.3"),
        "TLS version {version}"
    );
    db.close().await;

    // The whole open path (migrate + key check) works over TLS.
    let dir = tempfile::tempdir().unwrap();
    let opts = OpenOptions {
        database_url: url.clone(),
        migrate: true,
        key: KeySource::File(dir.path().join("master.key")),
        pool: PoolSettings::default(),
        client: ClientInfo::default(),
    };
    let s = bootstrap::open(&opts).await.expect("open over TLS");
    assert_eq!(
        migrate::current_version(s.db()).await.unwrap(),
        migrate::latest_version(s.db().backend())
    );
    s.db().close().await;
}

#[tokio::test]
async fn tls_only_account_is_refused_without_tls_and_a_wrong_ca_is_refused() {
    common::init();
    let Some((tls_url, ca)) = tls_env() else { return };
    let Some(t) = common::empty_mysql().await else { return };
    let db_name = t.url.rsplit('/').next().unwrap().to_string();

    let clear = Db::connect(
        &format!("{tls_url}/{db_name}?ssl-mode=DISABLED"),
        &PoolSettings::default(),
    )
    .await;
    assert!(clear.is_err(), "a REQUIRE SSL account connected without TLS");

    // A CA that did not sign the server certificate: verification fails.
    let dir = tempfile::tempdir().unwrap();
    let other_ca = dir.path().join("other-ca.pem");
    let kp = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["other test ca".to_string()]).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    std::fs::write(&other_ca, params.self_signed(&kp).unwrap().pem()).unwrap();
    let wrong = Db::connect(
        &format!("{tls_url}/{db_name}?ssl-mode=VERIFY_CA&ssl-ca={}", other_ca.display()),
        &PoolSettings {
            acquire_timeout: std::time::Duration::from_secs(5),
            ..Default::default()
        },
    )
    .await;
    assert!(wrong.is_err(), "a server certificate from another CA was accepted");
    // And the right CA works with the same account (so the refusals above are about TLS).
    let ok = Db::connect(
        &format!("{tls_url}/{db_name}?ssl-mode=VERIFY_CA&ssl-ca={ca}"),
        &PoolSettings::default(),
    )
    .await;
    assert!(ok.is_ok(), "{:?}", ok.err());
}
