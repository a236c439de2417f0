//! The test bed's BIND-backed Pebble and BIND itself as an RFC 2136 DNS provider, as
//! `scripts/testbed env` describes them, and a world set up to request certificates there.

use certdeck::domain::UserRole;
use certdeck::service::acme::Rfc2136Settings;

use super::bed::env;
use super::{make_user, services};

/// The BIND-backed Pebble (directory, trust root) and BIND's RFC 2136 settings and TSIG secret.
pub struct Bed {
    pub directory: String,
    pub ca_pem: String,
    pub settings: Rfc2136Settings,
    pub secret: String,
}

/// The bed, or `None` (the test skips) when BIND or pebble-bind is not up; with peers required
/// (`CERTDECK_TEST_REQUIRE_PEERS=1` or CI) the test fails instead.
pub fn bed() -> Option<Bed> {
    super::init();
    let b = (|| {
        Some(Bed {
            directory: env("CERTDECK_TEST_PEBBLE_BIND_DIRECTORY")?,
            ca_pem: std::fs::read_to_string(env("CERTDECK_TEST_PEBBLE_CA")?).ok()?,
            settings: Rfc2136Settings {
                server: env("CERTDECK_TEST_BIND_ADDR")?,
                zone: env("CERTDECK_TEST_BIND_ZONE")?,
                key_name: env("CERTDECK_TEST_TSIG_NAME")?,
                algorithm: env("CERTDECK_TEST_TSIG_ALGORITHM")?,
            },
            secret: env("CERTDECK_TEST_TSIG_SECRET")?,
        })
    })();
    if b.is_none() {
        assert!(
            !super::peers_required(),
            "BIND / pebble-bind are not up but peers are required: run the suite with scripts/test"
        );
        eprintln!("SKIP: BIND / pebble-bind not up");
    }
    b
}

/// Services, an admin, the BIND-backed Pebble as CA `pebble` and BIND as DNS provider `bind`.
pub async fn world(
    t: &super::TestDb,
    b: &Bed,
) -> (
    certdeck::service::Services,
    certdeck::service::Actor,
    certdeck::store::acme::DnsProviderRow,
) {
    let s = services(t);
    let (_, a) = make_user(&s, t, None, "ops", UserRole::Admin).await;
    s.ca_add(&a, "pebble", &b.directory, Some(&b.ca_pem), false, None)
        .await
        .unwrap();
    let p = s
        .dns_provider_add_rfc2136(&a, "bind", &b.settings, &b.secret)
        .await
        .unwrap();
    // dns-01 finds the zone's name servers through BIND and asks them on BIND's port.
    let port = b.settings.server.rsplit(':').next().unwrap().to_string();
    s.setting_set(&a, "acme.dns_resolvers", &b.settings.server, None)
        .await
        .unwrap();
    s.setting_set(&a, "acme.dns_authoritative_port", &port, None)
        .await
        .unwrap();
    (s, a, p)
}
