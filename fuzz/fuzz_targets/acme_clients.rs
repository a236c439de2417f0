//! Fuzzes the certbot and acme.sh readers (`certdeck::domain::acme_clients`), which read files
//! that other ACME clients left on a managed server (fetched over SFTP by `cert migrate`).
//!
//! The input (lossily decoded as UTF-8) is read as a certbot renewal file (configobj), as an
//! acme.sh `<domain>.conf` and `account.conf`, and as a certbot `regr.json`; the lineages are
//! then mapped onto certdeck's settings. Nothing may panic, and the documented promises hold:
//! acme.sh credentials are reported by name only (`SAVED_*`, never a value), every requested
//! domain appears once, and certbot's lineage name and config path are the ones given.

#![no_main]

use certdeck::domain::acme_clients::{
    acmesh_account_email, acmesh_dir_domain, certbot_account_dir, certbot_regr_email, map_settings, parse_acmesh_conf,
    parse_certbot_renewal, parse_shell_assignments, saved_credential_names, ConfigObj,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let cas = [
        ("own".to_string(), "https://acme.example.test/directory".to_string()),
        (
            "letsencrypt".to_string(),
            "https://acme-v02.api.letsencrypt.org/directory".to_string(),
        ),
    ];

    // certbot
    let obj = ConfigObj::parse(&text);
    for (section, key, _) in &obj.entries {
        let _ = obj.get(section, key);
        let _ = obj.section(section).count();
    }
    let certbot = parse_certbot_renewal("fuzz.example", "/etc/letsencrypt/renewal/fuzz.example.conf", &text);
    assert_eq!(certbot.name, "fuzz.example");
    assert_eq!(certbot.config_path, "/etc/letsencrypt/renewal/fuzz.example.conf");
    if let (Some(server), Some(account)) = (&certbot.server, &certbot.account) {
        let _ = certbot_account_dir(server, account);
    }
    let _ = certbot_regr_email(&text);
    let _ = map_settings(&certbot, &cas);

    // acme.sh
    let assignments = parse_shell_assignments(&text);
    for (k, _) in &assignments {
        assert!(
            !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "key {k:?}"
        );
    }
    let names = saved_credential_names(&assignments);
    for n in &names {
        assert!(n.starts_with("SAVED_"), "{n:?} is not a SAVED_ name");
    }
    for dir in ["/root/.acme.sh/fuzz.example", "/root/.acme.sh/fuzz.example_ecc"] {
        let l = parse_acmesh_conf(dir, &text);
        assert_eq!(l.dns_credentials, names, "credentials by name only");
        let mut seen = std::collections::HashSet::new();
        for d in &l.domains {
            assert!(seen.insert(d), "domain {d:?} twice");
        }
        assert!(!l.domains.is_empty());
        let file_domain = acmesh_dir_domain(dir.rsplit('/').next().unwrap_or(dir));
        assert_eq!(l.config_path, format!("{dir}/{file_domain}.conf"));
        let _ = map_settings(&l, &cas);
    }
    let _ = acmesh_account_email(&text);
    // The text as a lineage directory name.
    let _ = acmesh_dir_domain(&text);
});
