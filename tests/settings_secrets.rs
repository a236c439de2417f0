//! System and user settings, secrets at rest, the master key check and key rotation, through
//! the service layer, on every backend of `common::both()` (SQLite always, MariaDB when
//! `CERTDECK_TEST_MYSQL_URL` is set).

mod common;

use std::collections::BTreeSet;

use certdeck::crypto::secretbox::sealed_len;
use certdeck::crypto::{Keyring, MasterKey};
use certdeck::domain::{ApiKeyPermissions, AuthType, ChannelType, SettingType, UserRole, UserStatus};
use certdeck::errors::ServiceError;
use certdeck::service::bootstrap::{self, KeySource};
use certdeck::service::certificates::ImportInput;
use certdeck::service::servers::ServerInput;
use certdeck::service::settings::{validate_value, REGISTRY};
use certdeck::service::{Actor, Services};
use certdeck::store::audit::{AuditFilter, AuditRow};
use certdeck::store::secrets::SealedColumn;
use certdeck::store::{meta, Db, Page};
use common::{
    assert_err, audit_all, audit_count, count, exec_with, make_user, services, services_with, squash, text_with,
    vfield, TestDb, IP, PW, UA,
};
use serde_json::json;

const SERVER_PW: &str = "ssh-Pa55word-for-web1";
const HOOK_SECRET: &str = "whsec_9f8e7d6c5b4a39281706";

fn b64(key: &MasterKey) -> String {
    key.to_base64().to_string()
}

/// Services whose key was loaded (and its check value stored) the way `open` does it.
async fn keyed_services(t: &TestDb, key: &MasterKey) -> Services {
    let ring = bootstrap::load_keyring(&t.db, &KeySource::Env(b64(key)))
        .await
        .unwrap_or_else(|e| panic!("[{}] load_keyring: {e}", t.label()));
    services_with(t, ring)
}

async fn setting_value(s: &Services, a: &Actor, key: &str) -> Option<String> {
    s.setting_get(a, key)
        .await
        .unwrap_or_else(|e| panic!("get {key}: {e}"))
        .setting_value
}

// ------------------------------------------------------------------ system settings

#[tokio::test(flavor = "multi_thread")]
async fn the_settings_registry_and_the_seeded_settings_table_agree_exactly() {
    let reg_keys: BTreeSet<&str> = REGISTRY.iter().map(|d| d.key).collect();
    assert_eq!(reg_keys.len(), REGISTRY.len(), "registry keys are unique");
    for d in REGISTRY {
        validate_value(d.key, d.setting_type, d.default)
            .unwrap_or_else(|e| panic!("the default of {} fails its own validation: {e}", d.key));
    }
    for t in common::both().await {
        let l = t.label();
        let rows = certdeck::store::settings::list(&t.db).await.unwrap();
        let db_keys: BTreeSet<&str> = rows.iter().map(|r| r.setting_key.as_str()).collect();
        assert_eq!(db_keys.len(), rows.len(), "[{l}] duplicate keys in the table");
        let missing: Vec<_> = reg_keys.difference(&db_keys).collect();
        let extra: Vec<_> = db_keys.difference(&reg_keys).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "[{l}] not seeded: {missing:?}; not registered: {extra:?}"
        );
        for d in REGISTRY {
            let r = rows.iter().find(|r| r.setting_key == d.key).unwrap();
            assert_eq!(r.setting_type, d.setting_type, "[{l}] type of {}", d.key);
            assert_eq!(r.is_system, d.is_system, "[{l}] is_system of {}", d.key);
            assert_eq!(
                r.description.as_deref(),
                Some(d.description),
                "[{l}] description of {}",
                d.key
            );
            assert_eq!(
                r.setting_value.as_deref(),
                Some(d.default),
                "[{l}] default of {}",
                d.key
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn setting_values_are_validated_by_type_and_every_change_is_audited_with_old_and_new() {
    for t in common::both().await {
        let l = t.label();
        let s = services(&t);
        let (_, admin) = make_user(&s, &t, None, "root", UserRole::Admin).await;

        let refused: &[(&str, &str)] = &[
            ("monitor.default_port", "abc"),
            ("monitor.default_port", "70000"),
            ("monitor.default_port", ""),
            ("auth.max_failed_logins", "abc"),
            ("auth.max_failed_logins", "-1"),
            ("auth.max_failed_logins", "2.5"),
            ("auth.access_token_ttl_seconds", "NaN"),
            ("auth.access_token_ttl_seconds", "inf"),
            ("system.timezone", "Mars/Olympus"),
            ("system.timezone", "UTC+2"),
            ("certificate.default_key_type", "DSA"),
            ("acme.default_directory_url", "ftp://acme.example.com/dir"),
            ("acme.default_contact_email", "not an email"),
        ];
        for (key, value) in refused {
            let before = setting_value(&s, &admin, key).await;
            let audits = audit_count(&t.db).await;
            let e = assert_err!(
                s.setting_set(&admin, key, value, None).await,
                ServiceError::Validation { .. },
                "[{l}] {key} = {value:?}"
            );
            assert_eq!(vfield(&e), *key, "[{l}] the error names the key: {e}");
            assert_eq!(
                setting_value(&s, &admin, key).await,
                before,
                "[{l}] {key} unchanged after a refusal"
            );
            assert_eq!(audit_count(&t.db).await, audits, "[{l}] a refusal writes no audit row");
        }

        // A valid change, audited with old and new value.
        let row = s
            .setting_set(&admin, "monitor.default_port", "8443", None)
            .await
            .unwrap();
        assert_eq!(row.setting_value.as_deref(), Some("8443"), "[{l}]");
        s.setting_set(&admin, "auth.max_failed_logins", "3", None)
            .await
            .unwrap();
        let updates: Vec<AuditRow> = audit_all(&s, &admin)
            .await
            .into_iter()
            .filter(|r| r.action == "setting.update")
            .collect();
        assert_eq!(updates.len(), 2, "[{l}] two updates audited");
        let d = &updates[1].details.as_ref().unwrap().0;
        assert_eq!(
            (&d["key"], &d["old"], &d["new"]),
            (&json!("monitor.default_port"), &json!("443"), &json!("8443")),
            "[{l}] {d}"
        );
        let d = &updates[0].details.as_ref().unwrap().0;
        assert_eq!(
            (&d["key"], &d["old"], &d["new"]),
            (&json!("auth.max_failed_logins"), &json!("5"), &json!("3")),
            "[{l}] {d}"
        );
        for r in &updates {
            assert_eq!(
                (r.user_id, r.ip_address.as_deref(), r.user_agent.as_deref()),
                (Some(admin.user_id), Some(IP), Some(UA)),
                "[{l}]"
            );
        }

        // Booleans: created by an admin with a type, then only true/false.
        let audits = audit_count(&t.db).await;
        let e = assert_err!(
            s.setting_set(&admin, "custom.flag", "yes", Some(SettingType::Boolean))
                .await,
            ServiceError::Validation { .. },
            "[{l}] create a boolean as 'yes'"
        );
        assert_eq!(vfield(&e), "custom.flag", "[{l}]");
        assert_err!(
            s.setting_get(&admin, "custom.flag").await,
            ServiceError::NotFound { .. },
            "[{l}] not created"
        );
        assert_eq!(audit_count(&t.db).await, audits, "[{l}]");
        let row = s
            .setting_set(&admin, "custom.flag", "true", Some(SettingType::Boolean))
            .await
            .unwrap();
        assert_eq!(
            (row.setting_type, row.is_system, row.setting_value.as_deref()),
            (SettingType::Boolean, false, Some("true")),
            "[{l}]"
        );
        for bad in ["yes", "1", "TRUE", ""] {
            assert_err!(
                s.setting_set(&admin, "custom.flag", bad, None).await,
                ServiceError::Validation { .. },
                "[{l}] boolean = {bad:?}"
            );
            assert_eq!(
                setting_value(&s, &admin, "custom.flag").await.as_deref(),
                Some("true"),
                "[{l}] unchanged"
            );
        }
        s.setting_set(&admin, "custom.flag", "false", None).await.unwrap();
        assert_eq!(
            setting_value(&s, &admin, "custom.flag").await.as_deref(),
            Some("false"),
            "[{l}]"
        );
        // The type given when updating an existing key does not change the stored type.
        assert_err!(
            s.setting_set(&admin, "custom.flag", "abc", Some(SettingType::String))
                .await,
            ServiceError::Validation { .. },
            "[{l}] retyping an existing key by passing a type"
        );

        let e = assert_err!(
            s.setting_set(&admin, "custom.json", "{not json", Some(SettingType::Json))
                .await,
            ServiceError::Validation { .. },
            "[{l}] invalid JSON"
        );
        assert_eq!(vfield(&e), "custom.json", "[{l}]");
        assert_err!(
            s.setting_set(&admin, "custom.unknown", "1", None).await,
            ServiceError::NotFound { .. },
            "[{l}] an unknown key without a type"
        );

        let creates: Vec<AuditRow> = audit_all(&s, &admin)
            .await
            .into_iter()
            .filter(|r| r.action == "setting.create")
            .collect();
        assert_eq!(creates.len(), 1, "[{l}]");
        let d = &creates[0].details.as_ref().unwrap().0;
        assert_eq!(
            (&d["key"], &d["value"], &d["type"]),
            (&json!("custom.flag"), &json!("true"), &json!("boolean")),
            "[{l}] {d}"
        );
        let updates = audit_all(&s, &admin)
            .await
            .into_iter()
            .filter(|r| r.action == "setting.update")
            .count();
        assert_eq!(updates, 3, "[{l}] the boolean change is audited too");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn only_admins_change_settings_and_built_in_settings_are_never_deleted() {
    for t in common::both().await {
        let l = t.label();
        let s = services(&t);
        let (_, admin) = make_user(&s, &t, None, "root", UserRole::Admin).await;
        let (_, bob) = make_user(&s, &t, Some(&admin), "bob", UserRole::User).await;

        // Non-admins may read every setting …
        assert_eq!(
            s.settings_list(&bob).await.unwrap().len(),
            REGISTRY.len(),
            "[{l}] bob reads the settings"
        );
        // … but change none: the settings table is system-wide, whether or not is_system is set
        // (per-user preferences live in user_settings).
        let audits = audit_count(&t.db).await;
        for (key, value) in [
            ("auth.max_failed_logins", "1000"),
            ("monitor.default_port", "8080"),
            ("certificate.renew_before_days", "5"),
        ] {
            let sys = s.setting_get(&bob, key).await.unwrap().is_system;
            let before = setting_value(&s, &bob, key).await;
            assert_err!(
                s.setting_set(&bob, key, value, None).await,
                ServiceError::Forbidden(_),
                "[{l}] bob sets {key} (is_system={sys})"
            );
            assert_eq!(setting_value(&s, &bob, key).await, before, "[{l}] {key} unchanged");
        }
        assert_err!(
            s.setting_set(&bob, "bob.pref", "x", Some(SettingType::String)).await,
            ServiceError::Forbidden(_),
            "[{l}] bob creates a system-wide key"
        );
        assert_err!(
            s.setting_get(&bob, "bob.pref").await,
            ServiceError::NotFound { .. },
            "[{l}]"
        );
        assert_eq!(audit_count(&t.db).await, audits, "[{l}] refusals write no audit rows");

        // Built-in settings (system or not) are never deleted, not even by an admin.
        for key in [
            "auth.max_failed_logins",
            "system.timezone",
            "monitor.default_port",
            "acme.default_contact_email",
        ] {
            assert_err!(
                s.setting_delete(&admin, key).await,
                ServiceError::Forbidden(_),
                "[{l}] delete {key}"
            );
            assert!(s.setting_get(&admin, key).await.is_ok(), "[{l}] {key} still there");
        }
        assert_eq!(
            count(&t.db, "SELECT COUNT(*) FROM settings").await,
            REGISTRY.len() as i64,
            "[{l}]"
        );

        // An admin creates a key of its own and deletes it; bob can do neither.
        let row = s
            .setting_set(&admin, "custom.note", "hello", Some(SettingType::String))
            .await
            .unwrap();
        assert_eq!((row.setting_type, row.is_system), (SettingType::String, false), "[{l}]");
        assert_err!(
            s.setting_delete(&bob, "custom.note").await,
            ServiceError::Forbidden(_),
            "[{l}] bob deletes"
        );
        assert_err!(
            s.setting_set(&bob, "custom.note", "bye", None).await,
            ServiceError::Forbidden(_),
            "[{l}] bob changes an admin-created key"
        );
        s.setting_delete(&admin, "custom.note")
            .await
            .unwrap_or_else(|e| panic!("[{l}] delete custom.note: {e}"));
        assert_err!(
            s.setting_get(&admin, "custom.note").await,
            ServiceError::NotFound { .. },
            "[{l}] gone"
        );
        assert_err!(
            s.setting_delete(&admin, "custom.note").await,
            ServiceError::NotFound { .. },
            "[{l}] deleted twice"
        );
        let del: Vec<AuditRow> = audit_all(&s, &admin)
            .await
            .into_iter()
            .filter(|r| r.action == "setting.delete")
            .collect();
        assert_eq!(del.len(), 1, "[{l}]");
        assert_eq!(del[0].details.as_ref().unwrap().0["key"], "custom.note", "[{l}]");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn changed_auth_settings_take_effect() {
    for t in common::both().await {
        let l = t.label();
        let s = services(&t);
        let (_, admin) = make_user(&s, &t, None, "root", UserRole::Admin).await;
        make_user(&s, &t, Some(&admin), "bob", UserRole::User).await;
        s.setting_set(&admin, "auth.max_failed_logins", "2", None)
            .await
            .unwrap();
        s.setting_set(&admin, "auth.access_token_ttl_seconds", "600", None)
            .await
            .unwrap();

        let before = chrono::Utc::now();
        let (_, sess) = s.login("bob", PW).await.unwrap();
        let ttl = (sess.access_expires_at - before).num_seconds();
        assert!((590..=610).contains(&ttl), "[{l}] access token lives 600 s: {ttl}");

        let e = assert_err!(
            s.login("bob", "wrong password 1").await,
            ServiceError::Unauthenticated(_),
            "[{l}] failure 1"
        );
        assert!(
            !e.to_string().contains("locked"),
            "[{l}] one failure of two does not lock: {e}"
        );
        assert_eq!(
            s.user_get(&admin, "bob").await.unwrap().status,
            UserStatus::Active,
            "[{l}] active after 1 of 2 failures"
        );
        let e = assert_err!(
            s.login("bob", "wrong password 2").await,
            ServiceError::Unauthenticated(_),
            "[{l}] failure 2"
        );
        assert!(
            e.to_string().contains("locked"),
            "[{l}] locked after 2 with the setting at 2: {e}"
        );
        assert_eq!(
            s.user_get(&admin, "bob").await.unwrap().status,
            UserStatus::Locked,
            "[{l}]"
        );
    }
}

// ------------------------------------------------------------------ user settings

#[tokio::test(flavor = "multi_thread")]
async fn user_settings_are_private_and_upserted() {
    for t in common::both().await {
        let l = t.label();
        let s = services(&t);
        let (_, admin) = make_user(&s, &t, None, "root", UserRole::Admin).await;
        let (_, bob) = make_user(&s, &t, Some(&admin), "bob", UserRole::User).await;
        let (_, alice) = make_user(&s, &t, Some(&admin), "alice", UserRole::User).await;
        let view = |rows: Vec<certdeck::store::settings::UserSettingRow>| {
            rows.into_iter()
                .map(|r| (r.setting_key, r.setting_value.unwrap_or_default(), r.setting_type))
                .collect::<Vec<_>>()
        };

        s.user_setting_set(&bob, "ui.theme", "dark", SettingType::String)
            .await
            .unwrap();
        assert_eq!(
            view(s.user_settings_list(&bob).await.unwrap()),
            vec![("ui.theme".to_string(), "dark".to_string(), SettingType::String)],
            "[{l}] set"
        );
        s.user_setting_set(&bob, "ui.theme", "light", SettingType::String)
            .await
            .unwrap();
        assert_eq!(
            view(s.user_settings_list(&bob).await.unwrap()),
            vec![("ui.theme".to_string(), "light".to_string(), SettingType::String)],
            "[{l}] overwritten in place, not duplicated"
        );
        let e = assert_err!(
            s.user_setting_set(&bob, "ui.page_size", "abc", SettingType::Number)
                .await,
            ServiceError::Validation { .. },
            "[{l}] number = abc"
        );
        assert_eq!(vfield(&e), "ui.page_size", "[{l}]");
        assert_err!(
            s.user_setting_set(&bob, "  ", "x", SettingType::String).await,
            ServiceError::Validation { .. },
            "[{l}] empty key"
        );
        s.user_setting_set(&bob, "ui.page_size", "50", SettingType::Number)
            .await
            .unwrap();
        assert_eq!(count(&t.db, "SELECT COUNT(*) FROM user_settings").await, 2, "[{l}]");

        // alice sees none of bob's, and her own key of the same name is independent.
        assert!(
            s.user_settings_list(&alice).await.unwrap().is_empty(),
            "[{l}] alice sees bob's settings"
        );
        s.user_setting_set(&alice, "ui.theme", "solarized", SettingType::String)
            .await
            .unwrap();
        assert_eq!(
            view(s.user_settings_list(&alice).await.unwrap()),
            vec![("ui.theme".to_string(), "solarized".to_string(), SettingType::String)],
            "[{l}]"
        );
        let bobs = view(s.user_settings_list(&bob).await.unwrap());
        assert_eq!(
            bobs[1],
            ("ui.theme".to_string(), "light".to_string(), SettingType::String),
            "[{l}] bob's theme kept"
        );
        // Not even an admin's list shows other users' settings.
        assert!(
            s.user_settings_list(&admin).await.unwrap().is_empty(),
            "[{l}] admin's own list"
        );

        // alice cannot delete bob's key; bob deletes his own.
        assert_err!(
            s.user_setting_delete(&alice, "ui.page_size").await,
            ServiceError::NotFound { .. },
            "[{l}] alice deletes bob's"
        );
        s.user_setting_delete(&bob, "ui.theme").await.unwrap();
        assert_eq!(
            view(s.user_settings_list(&bob).await.unwrap()),
            vec![("ui.page_size".to_string(), "50".to_string(), SettingType::Number)],
            "[{l}] after delete"
        );
        assert_err!(
            s.user_setting_delete(&bob, "ui.theme").await,
            ServiceError::NotFound { .. },
            "[{l}] deleted twice"
        );
        assert_eq!(
            s.user_settings_list(&alice).await.unwrap().len(),
            1,
            "[{l}] alice's theme kept"
        );

        let mine = s
            .audit_list(
                &bob,
                &AuditFilter {
                    resource_type: Some("user_setting".into()),
                    ..Default::default()
                },
                Page::default(),
            )
            .await
            .unwrap();
        let actions: Vec<&str> = mine.iter().map(|r| r.action.as_str()).collect();
        assert_eq!(
            actions,
            vec![
                "user_setting.delete",
                "user_setting.set",
                "user_setting.set",
                "user_setting.set"
            ],
            "[{l}]"
        );
    }
}

// ------------------------------------------------------------------ secrets at rest

#[tokio::test(flavor = "multi_thread")]
async fn server_passwords_are_sealed_and_too_long_ones_are_refused() {
    for t in common::both().await {
        let l = t.label();
        let key = MasterKey::generate();
        let s = keyed_services(&t, &key).await;
        let (_, admin) = make_user(&s, &t, None, "root", UserRole::Admin).await;
        let (_, bob) = make_user(&s, &t, Some(&admin), "bob", UserRole::User).await;
        let input = |pw: &str| ServerInput {
            hostname: Some("web1.example.com".into()),
            username: Some("deploy".into()),
            password: Some(pw.into()),
            auth_type: Some(AuthType::Password),
            ..Default::default()
        };

        let server = s
            .server_create(&bob, &input(SERVER_PW))
            .await
            .unwrap_or_else(|e| panic!("[{l}] server: {e}"));
        assert!(
            server.has_password && !server.has_private_key && !server.has_token,
            "[{l}]"
        );
        let stored = text_with(&t.db, "SELECT password_encrypted FROM servers WHERE id = ?", server.id).await;
        assert!(
            stored.starts_with(&format!("v2:{}:", key.key_id())),
            "[{l}] an envelope of our key: {stored}"
        );
        assert!(!stored.contains(SERVER_PW), "[{l}] plaintext in the column");
        assert_eq!(
            &*Keyring::single(key.clone())
                .open_string(&SealedColumn::ServerPassword.place(server.id), &stored)
                .unwrap(),
            SERVER_PW,
            "[{l}] opens to the plaintext"
        );
        for r in audit_all(&s, &admin).await {
            assert!(
                !serde_json::to_string(&r).unwrap().contains(SERVER_PW),
                "[{l}] audit {} holds the password",
                r.action
            );
        }

        // The longest password that fits VARCHAR(255) once sealed round-trips (no truncation);
        // one byte more, and a 200-character one, are refused before anything is written.
        let max = (0..255).rev().find(|n| sealed_len(*n) <= 255).unwrap();
        let longest = "p".repeat(max);
        let ok = s
            .server_create(&bob, &input(&longest))
            .await
            .unwrap_or_else(|e| panic!("[{l}] {max}-byte password: {e}"));
        let stored = text_with(&t.db, "SELECT password_encrypted FROM servers WHERE id = ?", ok.id).await;
        assert_eq!(stored.len(), sealed_len(max), "[{l}] stored in full");
        assert_eq!(
            &*s.keyring()
                .open_string(&SealedColumn::ServerPassword.place(ok.id), &stored)
                .unwrap(),
            longest.as_str(),
            "[{l}]"
        );

        for n in [max + 1, 200] {
            let servers = count(&t.db, "SELECT COUNT(*) FROM servers").await;
            let audits = audit_count(&t.db).await;
            let e = assert_err!(
                s.server_create(&bob, &input(&"p".repeat(n))).await,
                ServiceError::Validation { .. },
                "[{l}] {n}-character password"
            );
            assert_eq!(vfield(&e), "password", "[{l}] {e}");
            assert!(
                e.to_string().contains(&format!("at most {max} bytes")),
                "[{l}] says what fits: {e}"
            );
            assert_eq!(
                count(&t.db, "SELECT COUNT(*) FROM servers").await,
                servers,
                "[{l}] no row created"
            );
            assert_eq!(audit_count(&t.db).await, audits, "[{l}] no audit row");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn channel_secrets_are_sealed_in_the_config_and_revealed_only_on_request() {
    for t in common::both().await {
        let l = t.label();
        let key = MasterKey::generate();
        let s = keyed_services(&t, &key).await;
        let (_, admin) = make_user(&s, &t, None, "root", UserRole::Admin).await;
        let (_, bob) = make_user(&s, &t, Some(&admin), "bob", UserRole::User).await;
        let (_, alice) = make_user(&s, &t, Some(&admin), "alice", UserRole::User).await;

        let url = "https://hooks.example.com/certdeck";
        let ch = s
            .channel_create(
                &bob,
                "ops hook",
                ChannelType::Webhook,
                &json!({"url": url, "secret": HOOK_SECRET}),
            )
            .await
            .unwrap_or_else(|e| panic!("[{l}] channel: {e}"));
        assert_eq!(ch.secret_fields, vec!["secret", "url"], "[{l}]");
        assert!(ch.secrets.is_none(), "[{l}] create does not echo secrets");
        assert!(ch.settings.get("url").is_none(), "[{l}] a webhook URL is sealed too");
        assert!(
            ch.settings.get("secret").is_none(),
            "[{l}] the secret is not a plain setting"
        );

        let raw = text_with(
            &t.db,
            "SELECT CAST(config AS CHAR) FROM alert_channels WHERE id = ?",
            ch.id,
        )
        .await;
        assert!(
            !raw.contains(HOOK_SECRET),
            "[{l}] plaintext secret in the stored config: {raw}"
        );
        let config: serde_json::Value = serde_json::from_str(&raw).unwrap();
        let env = config["secrets"]
            .as_str()
            .unwrap_or_else(|| panic!("[{l}] secrets is an envelope string: {raw}"));
        assert!(env.starts_with(&format!("v2:{}:", key.key_id())), "[{l}] {env}");
        let opened: serde_json::Value = serde_json::from_slice(
            &s.keyring()
                .open(&SealedColumn::ChannelSecrets.place(ch.id), env)
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            opened,
            json!({"secret": HOOK_SECRET, "url": url}),
            "[{l}] the envelope holds the secret fields"
        );

        let hidden = s.channel_get(&bob, ch.id, false).await.unwrap();
        assert_eq!(hidden.secret_fields, vec!["secret", "url"], "[{l}] names only");
        assert!(hidden.secrets.is_none(), "[{l}]");
        assert!(
            !serde_json::to_string(&hidden).unwrap().contains(HOOK_SECRET),
            "[{l}] serialised view leaks"
        );
        let listed = s.channel_list(&bob, Page::default()).await.unwrap();
        assert!(
            !serde_json::to_string(&listed).unwrap().contains(HOOK_SECRET),
            "[{l}] list leaks"
        );

        let shown = s.channel_get(&bob, ch.id, true).await.unwrap();
        assert_eq!(
            shown.secrets,
            Some(json!({"secret": HOOK_SECRET, "url": url})),
            "[{l}] reveal shows the value"
        );
        assert_err!(
            s.channel_get(&alice, ch.id, true).await,
            ServiceError::NotFound { .. },
            "[{l}] alice reveals bob's"
        );

        // A script (api role) may use the channel but not reveal its secrets.
        let (k, secret) = s
            .apikey_create(&bob, "ci", None, ApiKeyPermissions::ReadWrite, None)
            .await
            .unwrap();
        let api = s
            .authenticate_api_key(&format!("{}:{secret}", k.api_key))
            .await
            .unwrap();
        assert_err!(
            s.channel_get(&api, ch.id, true).await,
            ServiceError::Forbidden(_),
            "[{l}] api reveals"
        );
        assert!(s.channel_get(&api, ch.id, false).await.is_ok(), "[{l}] api reads names");

        for r in audit_all(&s, &admin).await {
            assert!(
                !serde_json::to_string(&r).unwrap().contains(HOOK_SECRET),
                "[{l}] audit {} holds the secret",
                r.action
            );
        }
    }
}

// ------------------------------------------------------------------ key check

#[tokio::test(flavor = "multi_thread")]
async fn the_database_remembers_its_key_and_refuses_any_other() {
    for t in common::both().await {
        let l = t.label();
        let k1 = MasterKey::generate();
        let k2 = MasterKey::generate();
        assert_eq!(
            meta::get(&t.db, meta::MASTER_KEY_CHECK).await.unwrap(),
            None,
            "[{l}] fresh database has no key"
        );

        let ring = bootstrap::load_keyring(&t.db, &KeySource::Env(b64(&k1))).await.unwrap();
        assert_eq!(ring.primary().check_value(), k1.check_value(), "[{l}]");
        assert_eq!(
            meta::get(&t.db, meta::MASTER_KEY_CHECK).await.unwrap(),
            Some(k1.check_value()),
            "[{l}] check value stored"
        );
        bootstrap::load_keyring(&t.db, &KeySource::Env(b64(&k1)))
            .await
            .unwrap_or_else(|e| panic!("[{l}] the same key again: {e}"));

        let e = bootstrap::load_keyring(&t.db, &KeySource::Env(b64(&k2)))
            .await
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("does not match"),
            "[{l}] a different key is refused with a clear message: {e}"
        );
        assert!(
            e.contains(&k2.key_id()) && e.contains(&k1.key_id()),
            "[{l}] names both key ids: {e}"
        );
        assert_eq!(
            meta::get(&t.db, meta::MASTER_KEY_CHECK).await.unwrap(),
            Some(k1.check_value()),
            "[{l}] unchanged"
        );

        // A keyring holding both (new first) is accepted, with the database's key made primary.
        let both_keys = format!("{},{}", b64(&k2), b64(&k1));
        let ring = bootstrap::load_keyring(&t.db, &KeySource::Env(both_keys))
            .await
            .unwrap();
        assert_eq!(
            ring.primary().check_value(),
            k1.check_value(),
            "[{l}] the database's key seals"
        );

        let e = bootstrap::load_keyring(&t.db, &KeySource::Env("not base64 !!".into()))
            .await
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("CERTDECK_MASTER_KEY"),
            "[{l}] a bad key names its source: {e}"
        );

        // A missing key file is never replaced by a new key on a database that has one.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        let e = bootstrap::load_keyring(&t.db, &KeySource::File(path.clone()))
            .await
            .unwrap_err()
            .to_string();
        assert!(
            e.to_lowercase().contains("copy the key file"),
            "[{l}] tells to copy the key file: {e}"
        );
        assert!(e.contains(&path.display().to_string()), "[{l}] names the path: {e}");
        assert!(!path.exists(), "[{l}] no key file was created");
        assert!(!path.with_extension("tmp").exists(), "[{l}] no temp key file left");

        // The right key in a file works.
        Keyring::single(k1.clone()).write_file(&path).unwrap();
        let ring = bootstrap::load_keyring(&t.db, &KeySource::File(path.clone()))
            .await
            .unwrap();
        assert_eq!(ring.primary().check_value(), k1.check_value(), "[{l}]");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fresh_database_gets_a_new_private_key_file() {
    for t in common::both().await {
        let l = t.label();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("conf").join("master.key");
        let ring = bootstrap::load_keyring(&t.db, &KeySource::File(path.clone()))
            .await
            .unwrap_or_else(|e| panic!("[{l}] first start with a key file path: {e}"));
        assert!(path.exists(), "[{l}] key file created");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "[{l}] key file mode {mode:o}");
        }
        let from_file = Keyring::read_file(&path).unwrap();
        assert_eq!(
            from_file.primary().check_value(),
            ring.primary().check_value(),
            "[{l}] file holds the key in use"
        );
        assert_eq!(
            meta::get(&t.db, meta::MASTER_KEY_CHECK).await.unwrap(),
            Some(ring.primary().check_value()),
            "[{l}] the database remembers it"
        );
        let again = bootstrap::load_keyring(&t.db, &KeySource::File(path.clone()))
            .await
            .unwrap();
        assert_eq!(
            again.primary().check_value(),
            ring.primary().check_value(),
            "[{l}] second start reuses the file"
        );
        assert!(
            bootstrap::load_keyring(&t.db, &KeySource::Env(b64(&MasterKey::generate())))
                .await
                .is_err(),
            "[{l}] another key is refused afterwards"
        );
    }
}

// ------------------------------------------------------------------ rotation

/// A server password, an imported certificate key and a channel secret, owned by `owner`.
struct Sealed {
    server_id: i64,
    cert_id: i64,
    channel_id: i64,
    key_pem: String,
}

async fn seal_three(s: &Services, t: &TestDb, owner: &Actor) -> Sealed {
    let l = t.label();
    let server = s
        .server_create(
            owner,
            &ServerInput {
                hostname: Some("web1.example.com".into()),
                username: Some("deploy".into()),
                password: Some(SERVER_PW.into()),
                auth_type: Some(AuthType::Password),
                ..Default::default()
            },
        )
        .await
        .unwrap_or_else(|e| panic!("[{l}] server: {e}"));
    let ck = rcgen::generate_simple_self_signed(vec!["a.example.com".into()]).unwrap();
    let key_pem = ck.signing_key.serialize_pem();
    let cert = s
        .cert_import(
            owner,
            &ImportInput {
                certificate: ck.cert.pem().into_bytes(),
                private_key: key_pem.clone().into_bytes(),
                ..Default::default()
            },
        )
        .await
        .unwrap_or_else(|e| panic!("[{l}] import: {e}"));
    let ch = s
        .channel_create(
            owner,
            "ops hook",
            ChannelType::Webhook,
            &json!({"url": "https://hooks.example.com/certdeck", "secret": HOOK_SECRET}),
        )
        .await
        .unwrap_or_else(|e| panic!("[{l}] channel: {e}"));
    Sealed {
        server_id: server.id,
        cert_id: cert.id,
        channel_id: ch.id,
        key_pem,
    }
}

/// The three stored values: server password envelope, certificate key envelope, channel config.
async fn stored_three(db: &Db, x: &Sealed) -> [String; 3] {
    [
        text_with(db, "SELECT password_encrypted FROM servers WHERE id = ?", x.server_id).await,
        text_with(
            db,
            "SELECT private_key_encrypted FROM certificates WHERE id = ?",
            x.cert_id,
        )
        .await,
        text_with(
            db,
            "SELECT CAST(config AS CHAR) FROM alert_channels WHERE id = ?",
            x.channel_id,
        )
        .await,
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn rotation_reseals_every_secret_under_the_new_key() {
    for t in common::both().await {
        let l = t.label();
        let old = MasterKey::generate();
        let new = MasterKey::generate();
        let s = keyed_services(&t, &old).await;
        let (_, admin) = make_user(&s, &t, None, "root", UserRole::Admin).await;
        let (_, bob) = make_user(&s, &t, Some(&admin), "bob", UserRole::User).await;
        let x = seal_three(&s, &t, &bob).await;
        let before = stored_three(&t.db, &x).await;

        assert_err!(
            s.secrets_rotate(Some(&bob), &new).await,
            ServiceError::Forbidden(_),
            "[{l}] bob rotates"
        );
        assert_eq!(
            stored_three(&t.db, &x).await,
            before,
            "[{l}] a refused rotation changes nothing"
        );
        assert_eq!(
            meta::get(&t.db, meta::MASTER_KEY_CHECK).await.unwrap(),
            Some(old.check_value()),
            "[{l}]"
        );

        let report = s
            .secrets_rotate(Some(&admin), &new)
            .await
            .unwrap_or_else(|e| panic!("[{l}] rotate: {e}"));
        assert_eq!(report.values, 3, "[{l}] three values re-encrypted: {report:?}");
        assert_eq!(
            (report.new_key_id.as_str(), report.old_key_id.as_str()),
            (new.key_id().as_str(), old.key_id().as_str()),
            "[{l}]"
        );
        assert_eq!(
            meta::get(&t.db, meta::MASTER_KEY_CHECK).await.unwrap(),
            Some(new.check_value()),
            "[{l}] the database's key check value is the new key's"
        );
        let after = stored_three(&t.db, &x).await;
        let new_prefix = format!("v2:{}:", new.key_id());
        assert!(
            after[0].starts_with(&new_prefix) && after[1].starts_with(&new_prefix),
            "[{l}] {after:?}"
        );
        let cfg: serde_json::Value = serde_json::from_str(&after[2]).unwrap();
        assert!(
            cfg["secrets"].as_str().unwrap().starts_with(&new_prefix),
            "[{l}] channel envelope: {cfg}"
        );
        assert_eq!(cfg["settings"], json!({}), "[{l}] channel settings kept (none plain)");
        for v in &after {
            assert!(
                !v.contains(SERVER_PW) && !v.contains(HOOK_SECRET) && !v.contains("PRIVATE KEY"),
                "[{l}] plaintext after rotation"
            );
        }

        // Only the new key opens them now.
        let s_new = services_with(&t, Keyring::single(new.clone()));
        assert_eq!(
            &*s_new
                .keyring()
                .open_string(&SealedColumn::ServerPassword.place(x.server_id), &after[0])
                .unwrap(),
            SERVER_PW,
            "[{l}] server password"
        );
        let export = s_new
            .cert_export(&bob, x.cert_id, true)
            .await
            .unwrap_or_else(|e| panic!("[{l}] export with new key: {e}"));
        assert_eq!(
            squash(export.private_key_pem.as_deref().unwrap()),
            squash(&x.key_pem),
            "[{l}] certificate key"
        );
        let ch = s_new
            .channel_get(&bob, x.channel_id, true)
            .await
            .unwrap_or_else(|e| panic!("[{l}] channel with new key: {e}"));
        assert_eq!(
            ch.secrets,
            Some(json!({"secret": HOOK_SECRET, "url": "https://hooks.example.com/certdeck"})),
            "[{l}] channel secret"
        );

        let s_old = services_with(&t, Keyring::single(old.clone()));
        let e = s_old
            .keyring()
            .open(&SealedColumn::ServerPassword.place(x.server_id), &after[0])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("not in the keyring"),
            "[{l}] old key on the server password: {e}"
        );
        let e = assert_err!(
            s_old.cert_export(&bob, x.cert_id, true).await,
            ServiceError::Internal(_),
            "[{l}] old key exports"
        );
        assert!(e.to_string().contains("not in the keyring"), "[{l}] clear error: {e}");
        let e = assert_err!(
            s_old.channel_get(&bob, x.channel_id, true).await,
            ServiceError::Internal(_),
            "[{l}] old key reveals"
        );
        assert!(e.to_string().contains("not in the keyring"), "[{l}] clear error: {e}");

        // Hosts must now come up with the new key.
        let e = bootstrap::load_keyring(&t.db, &KeySource::Env(b64(&old)))
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("does not match"), "[{l}] old key refused at start: {e}");
        bootstrap::load_keyring(&t.db, &KeySource::Env(b64(&new)))
            .await
            .unwrap_or_else(|e| panic!("[{l}] new key at start: {e}"));

        // The stale services (old key) cannot rotate again and damage nothing trying.
        assert!(
            s.secrets_rotate(Some(&admin), &MasterKey::generate()).await.is_err(),
            "[{l}] stale rotation"
        );
        assert_eq!(
            stored_three(&t.db, &x).await,
            after,
            "[{l}] a failed rotation changes nothing"
        );
        assert_eq!(
            meta::get(&t.db, meta::MASTER_KEY_CHECK).await.unwrap(),
            Some(new.check_value()),
            "[{l}]"
        );

        let rot: Vec<AuditRow> = audit_all(&s_new, &admin)
            .await
            .into_iter()
            .filter(|r| r.action == "secrets.rotate")
            .collect();
        assert_eq!(rot.len(), 1, "[{l}] one rotation audited");
        let d = &rot[0].details.as_ref().unwrap().0;
        assert_eq!(
            (&d["values"], &d["new_key_id"]),
            (&json!(3), &json!(new.key_id())),
            "[{l}] {d}"
        );
        assert_eq!(rot[0].user_id, Some(admin.user_id), "[{l}]");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_key_gets_an_error_never_garbage() {
    for t in common::both().await {
        let l = t.label();
        let key = MasterKey::generate();
        let s = keyed_services(&t, &key).await;
        let (_, admin) = make_user(&s, &t, None, "root", UserRole::Admin).await;
        let (_, bob) = make_user(&s, &t, Some(&admin), "bob", UserRole::User).await;
        let x = seal_three(&s, &t, &bob).await;
        let [server_env, cert_env, _] = stored_three(&t.db, &x).await;

        let wrong = services(&t);
        assert!(
            wrong
                .keyring()
                .open(&SealedColumn::ServerPassword.place(x.server_id), &server_env)
                .is_err(),
            "[{l}] server password with a wrong key"
        );
        let e = assert_err!(
            wrong.cert_export(&bob, x.cert_id, true).await,
            ServiceError::Internal(_),
            "[{l}] wrong key exports"
        );
        assert!(e.to_string().contains("keyring"), "[{l}] says the key is wrong: {e}");
        assert!(!e.to_string().contains("PRIVATE KEY"), "[{l}]");
        assert_err!(
            wrong.channel_get(&bob, x.channel_id, true).await,
            ServiceError::Internal(_),
            "[{l}] wrong key reveals"
        );
        // Listed without names or values, with the reason (so it can be repaired or deleted).
        let listed = wrong.channel_get(&bob, x.channel_id, false).await.unwrap();
        assert!(
            listed.secret_fields.is_empty() && listed.secrets_error.as_deref().is_some_and(|e| e.contains("keyring")),
            "[{l}] wrong key lists the reason: {listed:?}"
        );
        // The certificate itself needs no key.
        let plain = wrong.cert_export(&bob, x.cert_id, false).await.unwrap();
        assert!(
            plain.private_key_pem.is_none() && plain.certificate_pem.contains("BEGIN CERTIFICATE"),
            "[{l}]"
        );

        // An altered envelope that still names the right key id fails authentication instead of
        // decrypting to garbage; a value that is no envelope at all is reported as such. The
        // altered character is one in the middle of the base64 body: the last one may carry
        // padding bits, and changing it could make the body undecodable instead of altered.
        let mut forged: Vec<char> = cert_env.chars().collect();
        let mid = forged.len() / 2;
        forged[mid] = if forged[mid] == 'A' { 'B' } else { 'A' };
        let forged: String = forged.into_iter().collect();
        let set_key = "UPDATE certificates SET private_key_encrypted = ? WHERE id = ?";
        for (stored, what, reason) in [
            (forged.as_str(), "tampered envelope", "failed authentication"),
            ("hunter2", "not an envelope", "not a certdeck envelope"),
        ] {
            exec_with(&t.db, set_key, (stored, x.cert_id)).await;
            let e = assert_err!(
                s.cert_export(&bob, x.cert_id, true).await,
                ServiceError::Internal(_),
                "[{l}] {what}"
            );
            assert!(e.to_string().contains(reason), "[{l}] {e}");
        }

        // Put it back: the right key still opens it.
        exec_with(&t.db, set_key, (&cert_env, x.cert_id)).await;
        let export = s.cert_export(&bob, x.cert_id, true).await.unwrap();
        assert_eq!(
            squash(export.private_key_pem.as_deref().unwrap()),
            squash(&x.key_pem),
            "[{l}]"
        );
    }
}
