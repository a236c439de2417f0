//! Tests on real certbot and acme.sh files and their mapping.

use super::mapping::map_key;
use super::*;

const CERTBOT_WEBROOT: &str = "\
# renew_before_expiry = 30 days
version = 2.11.0
archive_dir = /etc/letsencrypt/archive/example.com
cert = /etc/letsencrypt/live/example.com/cert.pem
privkey = /etc/letsencrypt/live/example.com/privkey.pem
chain = /etc/letsencrypt/live/example.com/chain.pem
fullchain = /etc/letsencrypt/live/example.com/fullchain.pem

# Options used in the renewal process
[renewalparams]
account = 0123456789abcdef0123456789abcdef
authenticator = webroot
webroot_path = /var/www/html,
server = https://acme-staging-v02.api.letsencrypt.org/directory
key_type = ecdsa
reuse_key = True
preferred_chain = \"ISRG Root X1\"
deploy_hook = systemctl reload nginx
[[webroot_map]]
example.com = /var/www/html
www.example.com = /var/www/www
";

fn presets() -> Vec<(String, String)> {
    [
        ("letsencrypt", "https://acme-v02.api.letsencrypt.org/directory"),
        (
            "letsencrypt-staging",
            "https://acme-staging-v02.api.letsencrypt.org/directory",
        ),
        ("zerossl", "https://acme.zerossl.com/v2/DV90"),
    ]
    .iter()
    .map(|(k, u)| (k.to_string(), u.to_string()))
    .collect()
}

#[test]
fn certbot_webroot_lineage_parses_and_maps() {
    let l = parse_certbot_renewal(
        "example.com",
        "/etc/letsencrypt/renewal/example.com.conf",
        CERTBOT_WEBROOT,
    );
    assert_eq!(
        l.files.cert.as_deref(),
        Some("/etc/letsencrypt/live/example.com/cert.pem")
    );
    assert_eq!(
        l.files.key.as_deref(),
        Some("/etc/letsencrypt/live/example.com/privkey.pem")
    );
    assert_eq!(l.authenticator.as_deref(), Some("webroot"));
    assert_eq!(l.webroots, vec!["/var/www/html", "/var/www/www"]);
    assert_eq!(l.account.as_deref(), Some("0123456789abcdef0123456789abcdef"));
    assert_eq!(l.reuse_key, Some(true));
    assert_eq!(l.preferred_chain.as_deref(), Some("ISRG Root X1"));
    assert_eq!(l.hooks, vec!["deploy_hook"]);
    let m = map_settings(&l, &presets());
    assert!(m.complete(), "{m:?}");
    assert_eq!(m.ca.as_deref(), Some("letsencrypt-staging"));
    assert!(m.ca_known);
    assert_eq!(m.challenge.as_ref().unwrap().challenge_type(), "http-01");
    assert!(matches!(&m.challenge, Some(MappedChallenge::Http01Webroot { webroots }) if webroots.len() == 2));
    assert_eq!(m.key_type.as_deref(), Some("ec256"));
    assert!(m.key_reuse);
    assert!(m.unmapped.is_empty(), "{:?}", m.unmapped);
}

#[test]
fn certbot_dns_rsa_and_unknown_server() {
    let text = "cert = /x/cert.pem\nprivkey = /x/privkey.pem\n[renewalparams]\n\
            authenticator = certbot-dns-cloudflare:dns-cloudflare\n\
            dns_cloudflare_credentials = /root/.secrets/cf.ini\n\
            server = https://ca.internal.example/acme/directory\nrsa_key_size = 4096\nreuse_key = False\n";
    let l = parse_certbot_renewal("a", "/r/a.conf", text);
    assert_eq!(l.authenticator.as_deref(), Some("dns-cloudflare"));
    assert_eq!(
        l.dns_credentials,
        vec!["dns_cloudflare_credentials = /root/.secrets/cf.ini"]
    );
    let m = map_settings(&l, &presets());
    assert_eq!(m.key_type.as_deref(), Some("rsa4096"));
    assert!(!m.key_reuse);
    assert_eq!(m.ca.as_deref(), Some("https://ca.internal.example/acme/directory"));
    assert!(!m.ca_known);
    assert_eq!(
        m.challenge,
        Some(MappedChallenge::Dns01 {
            plugin: "dns-cloudflare".into(),
            vendor: "Cloudflare".into()
        })
    );
    // An own CA with that directory is preferred.
    let mut cas = vec![(
        "internal".to_string(),
        "https://ca.internal.example/acme/directory/".to_string(),
    )];
    cas.extend(presets());
    assert_eq!(map_settings(&l, &cas).ca.as_deref(), Some("internal"));
}

#[test]
fn certbot_unmappable_settings_are_listed() {
    let text = "[renewalparams]\nauthenticator = manual\nkey_type = ecdsa\nelliptic_curve = secp521r1\n\
            server = http://insecure.example/dir\n";
    let m = map_settings(&parse_certbot_renewal("a", "/r/a.conf", text), &presets());
    assert!(!m.complete());
    assert!(m.ca.is_none() && m.challenge.is_none() && m.key_type.is_none());
    assert_eq!(m.unmapped.len(), 3, "{:?}", m.unmapped);
    assert!(m.unmapped.iter().any(|u| u.contains("secp521r1")));
    assert!(m.unmapped.iter().any(|u| u.contains("manual")));
    // Standalone; no server means Let's Encrypt; RSA 1024 refused.
    let m = map_settings(
        &parse_certbot_renewal(
            "b",
            "/r/b.conf",
            "[renewalparams]\nauthenticator = standalone\nrsa_key_size = 1024\n",
        ),
        &presets(),
    );
    assert_eq!(m.ca.as_deref(), Some("letsencrypt"));
    assert_eq!(m.challenge, Some(MappedChallenge::Http01Standalone));
    assert!(m.key_type.is_none() && m.unmapped[0].contains("1024"));
}

#[test]
fn certbot_accounts_and_regr() {
    assert_eq!(
        certbot_account_dir("https://acme-staging-v02.api.letsencrypt.org/directory", "abc").as_deref(),
        Some("accounts/acme-staging-v02.api.letsencrypt.org/directory/abc")
    );
    assert_eq!(
        certbot_account_dir("https://localhost:14000/dir", "x").as_deref(),
        Some("accounts/localhost:14000/dir/x")
    );
    assert!(certbot_account_dir("https://a.example/d", "../x").is_none());
    let regr =
        r#"{"body": {"contact": ["tel:+1", "mailto:ops@example.com"], "status": "valid"}, "uri": "https://x/acct/1"}"#;
    assert_eq!(certbot_regr_email(regr).as_deref(), Some("ops@example.com"));
    assert!(certbot_regr_email(r#"{"body": {}}"#).is_none());
    assert!(certbot_regr_email("not json").is_none());
}

const ACMESH_ECC: &str = "\
Le_Domain='example.org'
Le_Alt='www.example.org,api.example.org'
Le_Webroot='dns_cf'
Le_PreHook=''
Le_PostHook=''
Le_RenewHook=''
Le_API='https://acme-v02.api.letsencrypt.org/directory'
Le_Keylength='ec-256'
Le_OrderFinalize='https://acme-v02.api.letsencrypt.org/acme/finalize/1/2'
Le_LinkCert='https://acme-v02.api.letsencrypt.org/acme/cert/abc'
Le_RealFullChainPath='/etc/nginx/ssl/example.org.pem'
Le_ReloadCmd='__ACME_BASE64__START_c3lzdGVtY3RsIHJlbG9hZCBuZ2lueA==__ACME_BASE64__END_'
SAVED_CF_Token='secret-token-value'
Le_NextRenewTime='1735689600'
";

#[test]
fn acmesh_ecc_dns_lineage_parses_and_maps() {
    let l = parse_acmesh_conf("/root/.acme.sh/example.org_ecc", ACMESH_ECC);
    assert_eq!(l.name, "example.org");
    assert_eq!(l.config_path, "/root/.acme.sh/example.org_ecc/example.org.conf");
    assert_eq!(l.domains, vec!["example.org", "www.example.org", "api.example.org"]);
    assert_eq!(
        l.files.cert.as_deref(),
        Some("/root/.acme.sh/example.org_ecc/example.org.cer")
    );
    assert_eq!(
        l.files.key.as_deref(),
        Some("/root/.acme.sh/example.org_ecc/example.org.key")
    );
    assert_eq!(l.files.chain.as_deref(), Some("/root/.acme.sh/example.org_ecc/ca.cer"));
    assert_eq!(l.hooks, vec!["Le_ReloadCmd"]);
    assert_eq!(l.installed_copies.len(), 1);
    assert_eq!(l.dns_credentials, vec!["SAVED_CF_Token"]);
    assert!(
        !format!("{l:?}").contains("secret-token-value"),
        "credential values are never kept"
    );
    let m = map_settings(&l, &presets());
    assert!(m.complete());
    assert_eq!(m.ca.as_deref(), Some("letsencrypt"));
    assert_eq!(m.key_type.as_deref(), Some("ec256"));
    assert!(m.key_reuse);
    assert_eq!(
        m.challenge,
        Some(MappedChallenge::Dns01 {
            plugin: "dns_cf".into(),
            vendor: "Cloudflare".into()
        })
    );
}

#[test]
fn acmesh_variants() {
    let m = |conf: &str, dir: &str| map_settings(&parse_acmesh_conf(dir, conf), &presets());
    let r = m("Le_Domain='a.example'\nLe_Alt='no'\nLe_Webroot='/var/www/a'\nLe_API='https://acme.zerossl.com/v2/DV90'\nLe_Keylength='3072'\nLe_ForceNewDomainKey='1'\n", "/h/a.example");
    assert_eq!(r.ca.as_deref(), Some("zerossl"));
    assert_eq!(r.key_type.as_deref(), Some("rsa3072"));
    assert!(!r.key_reuse);
    assert_eq!(
        r.challenge,
        Some(MappedChallenge::Http01Webroot {
            webroots: vec!["/var/www/a".into()]
        })
    );
    let r = m("Le_Domain='b.example'\nLe_Webroot='no'\nLe_API='https://acme-v01.api.letsencrypt.org/directory'\nLe_Keylength='ec-384'\n", "/h/b.example_ecc");
    assert_eq!(r.challenge, Some(MappedChallenge::Http01Standalone));
    assert_eq!(r.key_type.as_deref(), Some("ec384"));
    assert_eq!(r.ca.as_deref(), Some("letsencrypt"));
    assert!(r.unmapped[0].contains("v1"));
    let r = m(
        "Le_Domain='c.example'\nLe_Webroot='alpn'\nLe_Keylength='ec-521'\n",
        "/h/c.example_ecc",
    );
    assert!(r.ca.is_none() && r.challenge.is_none() && r.key_type.is_none());
    assert_eq!(r.unmapped.len(), 3, "{:?}", r.unmapped);
    // No Le_Keylength: the _ecc suffix means P-256.
    let l = parse_acmesh_conf("/h/d.example_ecc", "Le_Domain='d.example'\n");
    assert_eq!(map_key(&l).unwrap(), "ec256");
    assert_eq!(
        acmesh_account_email("#x\nACCOUNT_EMAIL='me@example.net'\nAUTO_UPGRADE='1'\n").as_deref(),
        Some("me@example.net")
    );
    assert_eq!(
        parse_shell_assignments("A='it'\\''s'\nB=\"q\"\nexport C=plain\n# D=x\n"),
        vec![
            ("A".to_string(), "it's".to_string()),
            ("B".into(), "q".into()),
            ("C".into(), "plain".into())
        ]
    );
}

#[test]
fn tool_names_and_vendors() {
    assert_eq!("acme.sh".parse::<AcmeTool>().unwrap(), AcmeTool::AcmeSh);
    assert_eq!("Certbot".parse::<AcmeTool>().unwrap(), AcmeTool::Certbot);
    assert!("lego".parse::<AcmeTool>().is_err());
    assert_eq!(dns_vendor("dns_ali"), "Alibaba Cloud DNS");
    assert_eq!(dns_vendor("dns-rfc2136"), "RFC 2136 (nsupdate/TSIG)");
    assert_eq!(dns_vendor("dns_unknownhost"), "dns_unknownhost");
}
