//! Users, authentication, sessions and API keys through the service layer, on every backend of
//! `common::both()` (SQLite always, MariaDB when `CERTDECK_TEST_MYSQL_URL` is set).
//!
//! argon2 is deliberately slow (each hash or check ~50–100 ms), so every test creates only a
//! handful of users and logs in only as often as the behaviour under test needs.

mod common;

use certdeck::crypto::token::token_hash;
use certdeck::domain::{
    AlertType, ApiKeyPermissions, ApiKeyStatus, AuthType, ConditionType, Severity, UserRole, UserStatus,
};
use certdeck::errors::ServiceError;
use certdeck::service::bootstrap;
use certdeck::service::query::UserFilter;
use certdeck::service::servers::ServerInput;
use certdeck::service::users::UserEdit;
use certdeck::service::users::UserInput;
use certdeck::store::audit::{AuditFilter, AuditRow};
use certdeck::store::{Db, Page};
use common::{assert_err, audit_all, count, exec_with, make_user, services, strings, vfield, IP, PW, UA};

const WRONG: &str = "wrong horse battery";

/// Row counts of the tables a user creation touches.
async fn user_counts(db: &Db) -> (i64, i64, i64) {
    (
        count(db, "SELECT COUNT(*) FROM users").await,
        count(db, "SELECT COUNT(*) FROM audit_logs").await,
        count(db, "SELECT COUNT(*) FROM alerts").await,
    )
}

// ------------------------------------------------------------------ first admin

#[tokio::test(flavor = "multi_thread")]
async fn first_admin_is_created_once_and_its_password_is_hashed_and_never_audited() {
    for t in common::both().await {
        let l = t.label();
        let s = services(&t);
        assert!(
            !bootstrap::has_admin(&s).await.unwrap(),
            "[{l}] fresh database has no admin"
        );

        let pw = bootstrap::create_initial_admin(&s, "admin@example.com")
            .await
            .unwrap_or_else(|e| panic!("[{l}] create_initial_admin: {e}"))
            .unwrap_or_else(|| panic!("[{l}] the first call must return the one-time password"));
        assert_eq!(pw.chars().count(), 20, "[{l}] generated password length");
        assert!(bootstrap::has_admin(&s).await.unwrap(), "[{l}] admin exists now");

        let again = bootstrap::create_initial_admin(&s, "second@example.com").await.unwrap();
        assert!(
            again.is_none(),
            "[{l}] the second call must not create or reveal anything"
        );
        assert_eq!(
            count(&t.db, "SELECT COUNT(*) FROM users").await,
            1,
            "[{l}] exactly one user"
        );

        // The one-time password works once, to set the admin's own.
        assert_err!(
            s.login("admin", &pw).await,
            ServiceError::PasswordChangeRequired(_),
            "[{l}] a one-time password alone does not log in"
        );
        let (admin, session) = s
            .login_with_new_password("admin", &pw, "the admin's own password")
            .await
            .unwrap_or_else(|e| panic!("[{l}] login with the one-time password: {e}"));
        assert_eq!(admin.username, "admin", "[{l}]");
        assert_eq!(admin.role, UserRole::Admin, "[{l}]");
        assert_eq!(s.authenticate(&session.access_token).await.unwrap(), admin, "[{l}]");

        // A failed attempt that contains the real password must not put it in the log either.
        let e = assert_err!(
            s.login("admin", &format!("{pw}x")).await,
            ServiceError::Unauthenticated(_),
            "[{l}] typo"
        );
        assert!(!e.to_string().contains(&pw), "[{l}] error message leaks the password");

        let hash = strings(&t.db, "SELECT password_hash FROM users WHERE username = 'admin'").await;
        assert_eq!(hash.len(), 1, "[{l}]");
        assert!(
            hash[0].starts_with("$argon2id$"),
            "[{l}] stored hash is argon2id: {}",
            hash[0]
        );
        assert!(!hash[0].contains(&pw), "[{l}] stored hash contains the password");

        let rows = audit_all(&s, &admin).await;
        let actions: Vec<&str> = rows.iter().map(|r| r.action.as_str()).collect();
        for want in ["user.create", "auth.login", "auth.login_failed"] {
            assert!(actions.contains(&want), "[{l}] audit has {want}: {actions:?}");
        }
        for r in &rows {
            let text = serde_json::to_string(r).unwrap();
            assert!(
                !text.contains(&pw),
                "[{l}] audit row {} ({}) contains the password: {text}",
                r.id,
                r.action
            );
        }
        // And on the raw column too (not only through the service's view of it).
        for d in strings(
            &t.db,
            "SELECT CAST(details AS CHAR) FROM audit_logs WHERE details IS NOT NULL",
        )
        .await
        {
            assert!(!d.contains(&pw), "[{l}] raw audit details contain the password: {d}");
        }
        let create = rows.iter().find(|r| r.action == "user.create").unwrap();
        let d = &create.details.as_ref().expect("details").0;
        assert_eq!(d["username"], "admin", "[{l}] {d}");
        assert_eq!(d["role"], "admin", "[{l}] {d}");
        assert_eq!(
            create.user_id,
            Some(admin.user_id),
            "[{l}] the first admin creates itself"
        );
    }
}

// ------------------------------------------------------------------ default alert rules

#[tokio::test(flavor = "multi_thread")]
async fn new_users_start_with_the_five_default_alert_rules() {
    for t in common::both().await {
        let l = t.label();
        let s = services(&t);
        let (_, admin) = make_user(&s, &t, None, "root", UserRole::Admin).await;
        let (bob_row, _) = make_user(&s, &t, Some(&admin), "bob", UserRole::User).await;
        let (bob, _) = s
            .login("bob", PW)
            .await
            .unwrap_or_else(|e| panic!("[{l}] login bob: {e}"));
        assert_eq!(bob.user_id, bob_row.id, "[{l}]");

        let rules = s.alert_list(&bob, None, Page::default()).await.unwrap();
        assert_eq!(rules.len(), 5, "[{l}] bob sees exactly his own 5 rules: {rules:?}");
        assert!(
            rules
                .iter()
                .all(|r| r.user_id == bob.user_id && r.is_active && r.monitor_id.is_none()),
            "[{l}] {rules:?}"
        );

        let mut expiry: Vec<(i64, Severity, ConditionType)> = rules
            .iter()
            .filter(|r| r.alert_type == AlertType::CertificateExpiry)
            .map(|r| (r.condition_value.parse::<i64>().unwrap(), r.severity, r.condition_type))
            .collect();
        expiry.sort_by_key(|e| std::cmp::Reverse(e.0));
        assert_eq!(
            expiry,
            vec![
                (30, Severity::Warning, ConditionType::DaysBefore),
                (7, Severity::Error, ConditionType::DaysBefore),
                (1, Severity::Critical, ConditionType::DaysBefore),
            ],
            "[{l}] expiry rules"
        );
        let of = |t: AlertType| rules.iter().filter(|r| r.alert_type == t).count();
        assert_eq!(of(AlertType::CertificateError), 1, "[{l}] certificate_error rules");
        assert_eq!(of(AlertType::ServerDown), 1, "[{l}] server_down rules");

        let only_expiry = s
            .alert_list(&bob, Some(AlertType::CertificateExpiry), Page::default())
            .await
            .unwrap();
        assert_eq!(only_expiry.len(), 3, "[{l}] type filter");

        // The admin got its own five, and sees both users' rules.
        assert_eq!(
            s.alert_list(&admin, None, Page::default()).await.unwrap().len(),
            10,
            "[{l}] admin sees all"
        );
        assert_eq!(count(&t.db, "SELECT COUNT(*) FROM alerts").await, 10, "[{l}]");
    }
}

// ------------------------------------------------------------------ lockout

#[tokio::test(flavor = "multi_thread")]
async fn five_wrong_passwords_lock_the_account_until_an_admin_or_the_local_operator_unlocks_it() {
    for t in common::both().await {
        let l = t.label();
        let s = services(&t);
        let (_, admin) = make_user(&s, &t, None, "root", UserRole::Admin).await;
        make_user(&s, &t, Some(&admin), "bob", UserRole::User).await;
        let (_, carol) = make_user(&s, &t, Some(&admin), "carol", UserRole::User).await;
        let (sr, ar) = (&s, &admin);
        let bob_row = move || async move { sr.user_get(ar, "bob").await.unwrap() };

        // A success resets the counter.
        for _ in 0..2 {
            let e = assert_err!(
                s.login("bob", WRONG).await,
                ServiceError::Unauthenticated(_),
                "[{l}] wrong password"
            );
            assert!(!e.to_string().contains("locked"), "[{l}] not locked yet: {e}");
        }
        assert_eq!(bob_row().await.failed_login_count, 2, "[{l}] two failures counted");
        s.login("bob", PW)
            .await
            .unwrap_or_else(|e| panic!("[{l}] login after 2 failures: {e}"));
        let r = bob_row().await;
        assert_eq!(r.failed_login_count, 0, "[{l}] a successful login resets the counter");
        assert!(r.last_login_at.is_some(), "[{l}] last_login_at set");

        // Four failures: still active; the fifth locks.
        for i in 1..=4 {
            let e = assert_err!(
                s.login("bob", WRONG).await,
                ServiceError::Unauthenticated(_),
                "[{l}] failure {i}"
            );
            assert!(
                !e.to_string().contains("locked"),
                "[{l}] failure {i} must not lock yet: {e}"
            );
        }
        let r = bob_row().await;
        assert_eq!(
            (r.status, r.failed_login_count),
            (UserStatus::Active, 4),
            "[{l}] after 4 failures"
        );
        let e = assert_err!(
            s.login("bob", WRONG).await,
            ServiceError::Unauthenticated(_),
            "[{l}] failure 5"
        );
        let msg = e.to_string();
        assert!(
            msg.contains("locked"),
            "[{l}] the 5th failure says the account is locked: {msg}"
        );
        assert!(
            msg.contains("certdeck user unlock"),
            "[{l}] and how to unlock it: {msg}"
        );
        assert_eq!(bob_row().await.status, UserStatus::Locked, "[{l}] status locked");

        // Even the right password is refused now.
        let e = assert_err!(
            s.login("bob", PW).await,
            ServiceError::Unauthenticated(_),
            "[{l}] right password while locked"
        );
        assert!(e.to_string().contains("locked"), "[{l}] {e}");

        // A non-admin cannot unlock.
        assert_err!(
            s.user_unlock(Some(&carol), "bob").await,
            ServiceError::Forbidden(_),
            "[{l}] carol unlocks bob"
        );
        assert_eq!(
            bob_row().await.status,
            UserStatus::Locked,
            "[{l}] still locked after a refused unlock"
        );

        // The admin unlocks.
        let r = s
            .user_unlock(Some(&admin), "bob")
            .await
            .unwrap_or_else(|e| panic!("[{l}] admin unlock: {e}"));
        assert_eq!(
            (r.status, r.failed_login_count),
            (UserStatus::Active, 0),
            "[{l}] unlocked row"
        );
        s.login("bob", PW)
            .await
            .unwrap_or_else(|e| panic!("[{l}] login after admin unlock: {e}"));
        assert_err!(
            s.user_unlock(Some(&admin), "bob").await,
            ServiceError::Conflict(_),
            "[{l}] unlocking an unlocked user"
        );

        // Lock again, then the local operator (no actor) unlocks.
        for _ in 0..5 {
            let _ = s.login("bob", WRONG).await;
        }
        assert_eq!(bob_row().await.status, UserStatus::Locked, "[{l}] locked again");
        let r = s
            .user_unlock(None, "bob")
            .await
            .unwrap_or_else(|e| panic!("[{l}] local unlock: {e}"));
        assert_eq!(
            (r.status, r.failed_login_count),
            (UserStatus::Active, 0),
            "[{l}] locally unlocked row"
        );
        s.login("bob", PW)
            .await
            .unwrap_or_else(|e| panic!("[{l}] login after local unlock: {e}"));

        let unlocks: Vec<AuditRow> = audit_all(&s, &admin)
            .await
            .into_iter()
            .filter(|r| r.action == "user.unlock")
            .collect();
        assert_eq!(unlocks.len(), 2, "[{l}] two unlocks audited");
        let local = &unlocks[0]; // newest first
        assert_eq!(local.user_id, None, "[{l}] the local unlock has no acting user");
        assert_eq!(local.details.as_ref().unwrap().0["local"], true, "[{l}]");
        assert_eq!(
            unlocks[1].user_id,
            Some(admin.user_id),
            "[{l}] the admin unlock names the admin"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn inactive_users_and_api_role_users_cannot_log_in() {
    for t in common::both().await {
        let l = t.label();
        let s = services(&t);
        let (_, admin) = make_user(&s, &t, None, "root", UserRole::Admin).await;
        make_user(&s, &t, Some(&admin), "dave", UserRole::User).await;
        make_user(&s, &t, Some(&admin), "robot", UserRole::Api).await;

        let (_, sess) = s.login("dave", PW).await.unwrap();
        let changes = UserEdit {
            status: Some(UserStatus::Inactive),
            ..Default::default()
        };
        s.user_update(&admin, "dave", &changes)
            .await
            .unwrap_or_else(|e| panic!("[{l}] deactivate: {e}"));
        let e = assert_err!(
            s.login("dave", PW).await,
            ServiceError::Unauthenticated(_),
            "[{l}] inactive login"
        );
        assert!(e.to_string().contains("inactive"), "[{l}] says why: {e}");
        assert_err!(
            s.authenticate(&sess.access_token).await,
            ServiceError::Unauthenticated(_),
            "[{l}] sessions of a deactivated user end"
        );

        let changes = UserEdit {
            status: Some(UserStatus::Active),
            ..Default::default()
        };
        s.user_update(&admin, "dave", &changes).await.unwrap();
        s.login("dave", PW)
            .await
            .unwrap_or_else(|e| panic!("[{l}] login after reactivation: {e}"));

        let e = assert_err!(
            s.login("robot", PW).await,
            ServiceError::Forbidden(_),
            "[{l}] api role login"
        );
        assert!(
            e.to_string().contains("CERTDECK_API_KEY"),
            "[{l}] tells what to use instead: {e}"
        );
        let tokens = count(
            &t.db,
            "SELECT COUNT(*) FROM user_tokens WHERE user_id = (SELECT id FROM users WHERE username = 'robot')",
        )
        .await;
        assert_eq!(tokens, 0, "[{l}] no session issued to an api user");
    }
}

// ------------------------------------------------------------------ sessions

#[tokio::test(flavor = "multi_thread")]
async fn sessions_store_only_hashes_refresh_rotates_and_logout_or_expiry_ends_them() {
    for t in common::both().await {
        let l = t.label();
        let s = services(&t);
        let (_, admin) = make_user(&s, &t, None, "root", UserRole::Admin).await;
        make_user(&s, &t, Some(&admin), "bob", UserRole::User).await;

        let before = chrono::Utc::now();
        let (bob, sess) = s.login("bob", PW).await.unwrap();
        assert!(!sess.access_token.is_empty() && !sess.refresh_token.is_empty(), "[{l}]");
        assert_ne!(sess.access_token, sess.refresh_token, "[{l}]");
        let access_ttl = (sess.access_expires_at - before).num_seconds();
        let refresh_ttl = (sess.refresh_expires_at - before).num_seconds();
        assert!(
            (3590..=3610).contains(&access_ttl),
            "[{l}] access lives 1 h: {access_ttl}"
        );
        assert!(
            (2_591_990..=2_592_010).contains(&refresh_ttl),
            "[{l}] refresh lives 30 d: {refresh_ttl}"
        );

        assert_eq!(
            s.authenticate(&sess.access_token).await.unwrap(),
            bob,
            "[{l}] access token gives the actor"
        );
        assert_err!(
            s.authenticate(&sess.refresh_token).await,
            ServiceError::Unauthenticated(_),
            "[{l}] a refresh token is no access token"
        );
        assert_err!(
            s.authenticate("not-a-token").await,
            ServiceError::Unauthenticated(_),
            "[{l}] garbage token"
        );

        let stored = strings(&t.db, "SELECT token_hash FROM user_tokens").await;
        assert_eq!(stored.len(), 2, "[{l}] one access + one refresh row");
        for h in &stored {
            assert_ne!(h, &sess.access_token, "[{l}] access token stored in clear");
            assert_ne!(h, &sess.refresh_token, "[{l}] refresh token stored in clear");
            assert!(
                !h.contains(&sess.access_token) && !h.contains(&sess.refresh_token),
                "[{l}]"
            );
        }
        assert!(
            stored.contains(&token_hash(&sess.access_token)),
            "[{l}] access hash stored"
        );
        assert!(
            stored.contains(&token_hash(&sess.refresh_token)),
            "[{l}] refresh hash stored"
        );
        assert_eq!(
            strings(&t.db, "SELECT client_ip FROM user_tokens").await,
            vec![IP, IP],
            "[{l}]"
        );
        assert_eq!(
            strings(&t.db, "SELECT user_agent FROM user_tokens").await,
            vec![UA, UA],
            "[{l}]"
        );

        // Refresh: a new pair; the old pair is dead.
        let (again, sess2) = s
            .refresh_session(&sess)
            .await
            .unwrap_or_else(|e| panic!("[{l}] refresh: {e}"));
        assert_eq!(again, bob, "[{l}]");
        assert_ne!(sess2.access_token, sess.access_token, "[{l}] new access token");
        assert_ne!(sess2.refresh_token, sess.refresh_token, "[{l}] new refresh token");
        assert_err!(
            s.authenticate(&sess.access_token).await,
            ServiceError::Unauthenticated(_),
            "[{l}] old access token after refresh"
        );
        assert_err!(
            s.refresh_session(&sess).await,
            ServiceError::Unauthenticated(_),
            "[{l}] refresh token reused"
        );
        assert_eq!(
            s.authenticate(&sess2.access_token).await.unwrap(),
            bob,
            "[{l}] new access token works"
        );

        // Logout revokes both tokens.
        s.logout(&sess2).await.unwrap();
        let e = assert_err!(
            s.authenticate(&sess2.access_token).await,
            ServiceError::Unauthenticated(_),
            "[{l}] after logout"
        );
        assert!(e.to_string().contains("log in again"), "[{l}] says what to do: {e}");
        assert_err!(
            s.refresh_session(&sess2).await,
            ServiceError::Unauthenticated(_),
            "[{l}] refresh after logout"
        );
        let logouts = audit_all(&s, &admin)
            .await
            .into_iter()
            .filter(|r| r.action == "auth.logout")
            .count();
        assert_eq!(logouts, 1, "[{l}] logout audited once");
        s.logout(&sess2).await.unwrap();
        let logouts = audit_all(&s, &admin)
            .await
            .into_iter()
            .filter(|r| r.action == "auth.logout")
            .count();
        assert_eq!(logouts, 1, "[{l}] a second logout of the same session changes nothing");

        // An expired access token is refused; its refresh token still works.
        let (_, sess3) = s.login("bob", PW).await.unwrap();
        let n = exec_with(
            &t.db,
            "UPDATE user_tokens SET expires_at = '2000-01-01 00:00:00' WHERE token_hash = ?",
            &token_hash(&sess3.access_token),
        )
        .await;
        assert_eq!(n, 1, "[{l}] expired the access token row");
        assert_err!(
            s.authenticate(&sess3.access_token).await,
            ServiceError::Unauthenticated(_),
            "[{l}] expired access"
        );
        let (_, sess4) = s
            .refresh_session(&sess3)
            .await
            .unwrap_or_else(|e| panic!("[{l}] refresh after access expiry: {e}"));
        assert_eq!(s.authenticate(&sess4.access_token).await.unwrap(), bob, "[{l}]");

        // An expired refresh token is refused too.
        exec_with(
            &t.db,
            "UPDATE user_tokens SET expires_at = '2000-01-01 00:00:00' WHERE token_hash = ?",
            &token_hash(&sess4.refresh_token),
        )
        .await;
        assert_err!(
            s.refresh_session(&sess4).await,
            ServiceError::Unauthenticated(_),
            "[{l}] expired refresh"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refresh_token_is_single_use_even_when_two_clients_race() {
    for t in common::both().await {
        let l = t.label();
        let s = services(&t);
        let (_, admin) = make_user(&s, &t, None, "root", UserRole::Admin).await;
        make_user(&s, &t, Some(&admin), "bob", UserRole::User).await;
        // A stolen refresh token replayed at the same moment as the real client's refresh:
        // only one of them may get a session. (Several rounds: the interleaving is up to the
        // scheduler, and every round must hold.)
        for round in 1..=5 {
            let (_, sess) = s.login("bob", PW).await.unwrap();
            let (a, b) = tokio::join!(s.refresh_session(&sess), s.refresh_session(&sess));
            let won = [a.is_ok(), b.is_ok()].iter().filter(|ok| **ok).count();
            assert_eq!(
                won,
                1,
                "[{l}] round {round}: one refresh token gave {won} sessions (a: {:?}, b: {:?})",
                a.as_ref().map(|x| &x.1).map_err(|e| e.to_string()),
                b.as_ref().map(|x| &x.1).map_err(|e| e.to_string())
            );
            for r in [&a, &b] {
                if let Err(e) = r {
                    assert!(
                        matches!(e, ServiceError::Unauthenticated(_)),
                        "[{l}] round {round}: the loser is told to log in: {e:?}"
                    );
                }
            }
            let live = count(&t.db, "SELECT COUNT(*) FROM user_tokens WHERE is_revoked = FALSE").await;
            assert_eq!(live, 2, "[{l}] round {round}: exactly one live access + refresh pair");
            let winner = a.or(b).unwrap().1;
            s.logout(&winner).await.unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn changing_a_password_revokes_sessions_and_users_need_their_current_password() {
    for t in common::both().await {
        let l = t.label();
        let s = services(&t);
        let (_, admin) = make_user(&s, &t, None, "root", UserRole::Admin).await;
        make_user(&s, &t, Some(&admin), "bob", UserRole::User).await;
        let (bob, sess) = s.login("bob", PW).await.unwrap();
        let hash_sql = "SELECT password_hash FROM users WHERE username = 'bob'";
        let hash0 = strings(&t.db, hash_sql).await;
        const NEW: &str = "a brand new passphrase";

        assert_err!(
            s.user_set_password(&bob, "bob", None, NEW).await,
            ServiceError::Unauthenticated(_),
            "[{l}] own change without the current password"
        );
        assert_err!(
            s.user_set_password(&bob, "bob", Some(WRONG), NEW).await,
            ServiceError::Unauthenticated(_),
            "[{l}] own change with a wrong current password"
        );
        let e = assert_err!(
            s.user_set_password(&bob, "bob", Some(PW), "short").await,
            ServiceError::Validation { .. },
            "[{l}] too short a new password"
        );
        assert_eq!(vfield(&e), "password", "[{l}]");
        assert_err!(
            s.user_set_password(&bob, "root", Some(PW), NEW).await,
            ServiceError::NotFound { .. },
            "[{l}] bob changing the admin's password"
        );
        assert_eq!(
            strings(&t.db, hash_sql).await,
            hash0,
            "[{l}] refusals leave the hash unchanged"
        );
        assert_eq!(
            s.authenticate(&sess.access_token).await.unwrap(),
            bob,
            "[{l}] refusals keep the session"
        );

        s.user_set_password(&bob, "bob", Some(PW), NEW)
            .await
            .unwrap_or_else(|e| panic!("[{l}] own change with the right current password: {e}"));
        assert_err!(
            s.authenticate(&sess.access_token).await,
            ServiceError::Unauthenticated(_),
            "[{l}] old session after change"
        );
        assert_err!(
            s.refresh_session(&sess).await,
            ServiceError::Unauthenticated(_),
            "[{l}] old refresh after change"
        );
        assert_err!(
            s.login("bob", PW).await,
            ServiceError::Unauthenticated(_),
            "[{l}] old password"
        );
        let (_, sess2) = s
            .login("bob", NEW)
            .await
            .unwrap_or_else(|e| panic!("[{l}] new password: {e}"));

        // An admin resets it without knowing it; bob's sessions end again.
        s.user_set_password(&admin, "bob", None, PW)
            .await
            .unwrap_or_else(|e| panic!("[{l}] admin reset: {e}"));
        assert_err!(
            s.authenticate(&sess2.access_token).await,
            ServiceError::Unauthenticated(_),
            "[{l}] session after admin reset"
        );
        // The reset password is one-time: bob sets his own at the next login.
        assert_err!(
            s.login("bob", PW).await,
            ServiceError::PasswordChangeRequired(_),
            "[{l}] login after admin reset"
        );
        s.login_with_new_password("bob", PW, NEW)
            .await
            .unwrap_or_else(|e| panic!("[{l}] login after admin reset: {e}"));

        let changes: Vec<AuditRow> = audit_all(&s, &admin)
            .await
            .into_iter()
            .filter(|r| r.action == "user.password")
            .collect();
        // root and bob replaced their one-time passwords (2), bob changed his (1), the admin
        // reset it (1, one-time again) and bob replaced that at his next login (1).
        assert_eq!(changes.len(), 5, "[{l}] five password changes audited");
        let one_time = changes
            .iter()
            .filter(|r| r.details.as_ref().is_some_and(|d| d.0["one_time"] == true))
            .count();
        assert_eq!(one_time, 1, "[{l}] only the admin's reset is one-time");
        for r in &changes {
            let text = serde_json::to_string(r).unwrap();
            assert!(
                !text.contains(NEW) && !text.contains(PW),
                "[{l}] audit holds a password: {text}"
            );
        }
    }
}

// ------------------------------------------------------------------ API keys

#[tokio::test(flavor = "multi_thread")]
async fn api_keys_authenticate_scripts_with_the_api_roles_limits() {
    for t in common::both().await {
        let l = t.label();
        let s = services(&t);
        let (_, admin) = make_user(&s, &t, None, "root", UserRole::Admin).await;
        let (_, bob) = make_user(&s, &t, Some(&admin), "bob", UserRole::User).await;

        let (key, secret) = s
            .apikey_create(&admin, "ci", None, ApiKeyPermissions::ReadWrite, None)
            .await
            .unwrap_or_else(|e| panic!("[{l}] create key: {e}"));
        assert!(key.api_key.starts_with("cdk_"), "[{l}] {}", key.api_key);
        assert_eq!(
            (key.user_id, key.status),
            (admin.user_id, ApiKeyStatus::Active),
            "[{l}]"
        );
        assert!(key.last_used_at.is_none() && key.expires_at.is_none(), "[{l}]");
        let stored = strings(&t.db, "SELECT secret_hash FROM api_keys").await;
        assert!(
            stored[0].starts_with("$argon2id$") && !stored[0].contains(&secret),
            "[{l}] secret stored hashed"
        );

        let cred = format!("{}:{}", key.api_key, secret);
        let api = s
            .authenticate_api_key(&cred)
            .await
            .unwrap_or_else(|e| panic!("[{l}] authenticate key: {e}"));
        assert_eq!(
            api.role,
            UserRole::Api,
            "[{l}] even an admin's key acts with the api role"
        );
        assert_eq!((api.user_id, api.username.as_str()), (admin.user_id, "root"), "[{l}]");
        let listed = s.apikey_list(&admin, Page::default()).await.unwrap();
        let row = listed.iter().find(|k| k.id == key.id).unwrap();
        assert!(row.last_used_at.is_some(), "[{l}] last_used_at set by use");

        assert_err!(
            s.authenticate_api_key(&format!("{}:{}", key.api_key, "x".repeat(43)))
                .await,
            ServiceError::Unauthenticated(_),
            "[{l}] wrong secret"
        );
        assert_err!(
            s.authenticate_api_key(&key.api_key).await,
            ServiceError::Unauthenticated(_),
            "[{l}] no secret"
        );
        assert_err!(
            s.authenticate_api_key(&format!("cdk_000000000000000000000000:{secret}"))
                .await,
            ServiceError::Unauthenticated(_),
            "[{l}] unknown key"
        );

        // The api role may not administer, even for an admin's key.
        let counts = user_counts(&t.db).await;
        let input = UserInput {
            username: "mallory".into(),
            email: "mallory@example.com".into(),
            password: Some(PW.into()),
            role: UserRole::Admin,
            ..Default::default()
        };
        assert_err!(
            s.user_create(Some(&api), &input).await,
            ServiceError::Forbidden(_),
            "[{l}] api creates a user"
        );
        assert_err!(
            s.user_list(&api, &UserFilter::default(), Page::default()).await,
            ServiceError::Forbidden(_),
            "[{l}] api lists users"
        );
        assert_err!(
            s.setting_set(&api, "auth.max_failed_logins", "1000", None).await,
            ServiceError::Forbidden(_),
            "[{l}] api changes a system setting"
        );
        assert_err!(
            s.apikey_create(&api, "more", None, ApiKeyPermissions::ReadWrite, None)
                .await,
            ServiceError::Forbidden(_),
            "[{l}] api creates a key"
        );
        assert_err!(
            s.apikey_set_status(&api, &key.api_key, ApiKeyStatus::Revoked).await,
            ServiceError::Forbidden(_),
            "[{l}] api manages keys"
        );
        assert_eq!(
            user_counts(&t.db).await,
            counts,
            "[{l}] refused api calls change nothing"
        );
        assert_eq!(count(&t.db, "SELECT COUNT(*) FROM api_keys").await, 1, "[{l}]");
        assert_eq!(
            s.setting_number("auth.max_failed_logins").await.unwrap(),
            5,
            "[{l}] setting unchanged"
        );

        // inactive → refused, re-enabled → works.
        let r = s
            .apikey_set_status(&admin, &key.api_key, ApiKeyStatus::Inactive)
            .await
            .unwrap();
        assert_eq!(r.status, ApiKeyStatus::Inactive, "[{l}]");
        let e = assert_err!(
            s.authenticate_api_key(&cred).await,
            ServiceError::Unauthenticated(_),
            "[{l}] inactive key"
        );
        assert!(e.to_string().contains("inactive"), "[{l}] {e}");
        s.apikey_set_status(&admin, &key.id.to_string(), ApiKeyStatus::Active)
            .await
            .unwrap();
        s.authenticate_api_key(&cred)
            .await
            .unwrap_or_else(|e| panic!("[{l}] re-enabled key: {e}"));

        // revoked is final.
        s.apikey_set_status(&admin, &key.api_key, ApiKeyStatus::Revoked)
            .await
            .unwrap();
        assert_err!(
            s.authenticate_api_key(&cred).await,
            ServiceError::Unauthenticated(_),
            "[{l}] revoked key"
        );
        assert_err!(
            s.apikey_set_status(&admin, &key.api_key, ApiKeyStatus::Active).await,
            ServiceError::Conflict(_),
            "[{l}] re-enabling a revoked key"
        );
        assert_err!(
            s.apikey_set_status(&admin, &key.api_key, ApiKeyStatus::Inactive).await,
            ServiceError::Conflict(_),
            "[{l}] un-revoking to inactive"
        );
        assert_err!(
            s.authenticate_api_key(&cred).await,
            ServiceError::Unauthenticated(_),
            "[{l}] still revoked"
        );

        // An expired key is refused.
        let (short, short_secret) = s
            .apikey_create(&bob, "nightly", Some(1), ApiKeyPermissions::ReadWrite, None)
            .await
            .unwrap();
        let exp = short.expires_at.expect("expiry set");
        let days = (exp - chrono::Utc::now()).num_hours();
        assert!((23..=24).contains(&days), "[{l}] expires in a day: {exp}");
        let bob_cred = format!("{}:{}", short.api_key, short_secret);
        let bob_api = s.authenticate_api_key(&bob_cred).await.unwrap();
        assert_eq!((bob_api.user_id, bob_api.role), (bob.user_id, UserRole::Api), "[{l}]");
        exec_with(
            &t.db,
            "UPDATE api_keys SET expires_at = '2000-01-01 00:00:00' WHERE api_key = ?",
            &short.api_key,
        )
        .await;
        let e = assert_err!(
            s.authenticate_api_key(&bob_cred).await,
            ServiceError::Unauthenticated(_),
            "[{l}] expired key"
        );
        assert!(e.to_string().contains("expired"), "[{l}] {e}");

        // Owners: bob sees only his keys and cannot touch the admin's.
        let bobs = s.apikey_list(&bob, Page::default()).await.unwrap();
        assert_eq!(
            bobs.iter().map(|k| k.id).collect::<Vec<_>>(),
            vec![short.id],
            "[{l}] bob's keys"
        );
        assert_err!(
            s.apikey_set_status(&bob, &key.id.to_string(), ApiKeyStatus::Revoked)
                .await,
            ServiceError::NotFound { .. },
            "[{l}] bob revokes the admin's key"
        );
        assert_err!(
            s.apikey_create(&bob, "for root", None, ApiKeyPermissions::ReadWrite, Some("root"))
                .await,
            ServiceError::NotFound { .. },
            "[{l}] bob creates a key for the admin"
        );
        let e = assert_err!(
            s.apikey_create(&bob, "  ", None, ApiKeyPermissions::ReadWrite, None)
                .await,
            ServiceError::Validation { .. },
            "[{l}] empty name"
        );
        assert_eq!(vfield(&e), "name", "[{l}]");
        let e = assert_err!(
            s.apikey_create(&bob, "x", Some(0), ApiKeyPermissions::ReadWrite, None)
                .await,
            ServiceError::Validation { .. },
            "[{l}] 0 days"
        );
        assert_eq!(vfield(&e), "expires", "[{l}]");

        // A key of a deactivated user stops working.
        let (k2, s2) = s
            .apikey_create(&bob, "other", None, ApiKeyPermissions::ReadWrite, None)
            .await
            .unwrap();
        let changes = UserEdit {
            status: Some(UserStatus::Inactive),
            ..Default::default()
        };
        s.user_update(&admin, "bob", &changes).await.unwrap();
        assert_err!(
            s.authenticate_api_key(&format!("{}:{s2}", k2.api_key)).await,
            ServiceError::Unauthenticated(_),
            "[{l}] key of an inactive user"
        );
    }
}

// ------------------------------------------------------------------ validation

#[tokio::test(flavor = "multi_thread")]
async fn invalid_user_input_is_refused_with_the_field_and_changes_nothing() {
    for t in common::both().await {
        let l = t.label();
        let s = services(&t);
        let (_, admin) = make_user(&s, &t, None, "root", UserRole::Admin).await;
        make_user(&s, &t, Some(&admin), "bob", UserRole::User).await;
        let input = |username: &str, email: &str, password: &str| UserInput {
            username: username.into(),
            email: email.into(),
            password: Some(password.into()),
            ..Default::default()
        };

        let cases: Vec<(&str, UserInput, Option<&str>)> = vec![
            ("duplicate username", input("bob", "bob2@example.com", PW), None),
            (
                "duplicate username with spaces around",
                input("  bob ", "bob3@example.com", PW),
                None,
            ),
            ("duplicate e-mail", input("robert", "bob@example.com", PW), None),
            ("invalid e-mail", input("erin", "not-an-email", PW), Some("email")),
            (
                "e-mail with a space",
                input("erin", "erin @example.com", PW),
                Some("email"),
            ),
            (
                "short password",
                input("erin", "erin@example.com", "short"),
                Some("password"),
            ),
            (
                "username with spaces",
                input("erin smith", "erin@example.com", PW),
                Some("username"),
            ),
            (
                "too short a username",
                input("e", "erin@example.com", PW),
                Some("username"),
            ),
            (
                "bad phone",
                UserInput {
                    phone: Some("call me".into()),
                    ..input("erin", "erin@example.com", PW)
                },
                Some("phone"),
            ),
        ];
        for (what, inp, field) in cases {
            let before = user_counts(&t.db).await;
            let r = s.user_create(Some(&admin), &inp).await;
            match field {
                None => {
                    let e = assert_err!(r, ServiceError::Conflict(_), "[{l}] {what}");
                    assert!(e.to_string().contains("taken"), "[{l}] {what}: says what is taken: {e}");
                }
                Some(f) => {
                    let e = assert_err!(r, ServiceError::Validation { .. }, "[{l}] {what}");
                    assert_eq!(vfield(&e), f, "[{l}] {what}: {e}");
                }
            }
            assert_eq!(
                user_counts(&t.db).await,
                before,
                "[{l}] {what}: users/audit_logs/alerts unchanged"
            );
        }
        let names = s
            .user_list(&admin, &UserFilter::default(), Page::default())
            .await
            .unwrap();
        let mut names: Vec<String> = names.into_iter().map(|u| u.username).collect();
        names.sort();
        assert_eq!(names, vec!["bob", "root"], "[{l}] no stray users");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn usernames_and_emails_are_unique_regardless_of_case_on_every_backend() {
    // The MariaDB schema (utf8mb4_unicode_ci) makes `bob` and `Bob` the same username and
    // `bob@example.com` and `Bob@example.com` the same e-mail; every backend must agree, or a
    // SQLite installation accepts users that MariaDB refuses (and cannot be moved to it).
    for t in common::both().await {
        let l = t.label();
        let s = services(&t);
        let (_, admin) = make_user(&s, &t, None, "root", UserRole::Admin).await;
        make_user(&s, &t, Some(&admin), "bob", UserRole::User).await;
        for (what, username, email) in [
            ("username in another case", "Bob", "robert@example.com"),
            ("e-mail in another case", "robert", "Bob@Example.com"),
        ] {
            let before = user_counts(&t.db).await;
            let inp = UserInput {
                username: username.into(),
                email: email.into(),
                password: Some(PW.into()),
                ..Default::default()
            };
            assert_err!(
                s.user_create(Some(&admin), &inp).await,
                ServiceError::Conflict(_),
                "[{l}] {what}"
            );
            assert_eq!(user_counts(&t.db).await, before, "[{l}] {what}: nothing written");
        }
    }
}

// ------------------------------------------------------------------ authorization

#[tokio::test(flavor = "multi_thread")]
async fn users_see_only_themselves_and_the_last_admin_is_protected() {
    for t in common::both().await {
        let l = t.label();
        let s = services(&t);
        let (root_row, root) = make_user(&s, &t, None, "root", UserRole::Admin).await;
        let (bob_row, bob) = make_user(&s, &t, Some(&root), "bob", UserRole::User).await;
        let (carol_row, _) = make_user(&s, &t, Some(&root), "carol", UserRole::User).await;

        // Visibility.
        assert_eq!(
            s.user_get(&bob, "bob").await.unwrap().id,
            bob_row.id,
            "[{l}] bob sees himself"
        );
        assert_eq!(
            s.user_get(&bob, &bob_row.id.to_string()).await.unwrap().id,
            bob_row.id,
            "[{l}]"
        );
        for who in [
            "carol".to_string(),
            carol_row.id.to_string(),
            "root".into(),
            root_row.id.to_string(),
        ] {
            assert_err!(
                s.user_get(&bob, &who).await,
                ServiceError::NotFound { .. },
                "[{l}] bob looks at {who}"
            );
        }
        assert_err!(
            s.user_get(&bob, "nobody").await,
            ServiceError::NotFound { .. },
            "[{l}] unknown user"
        );
        assert_err!(
            s.user_list(&bob, &UserFilter::default(), Page::default()).await,
            ServiceError::Forbidden(_),
            "[{l}] bob lists users"
        );
        assert_eq!(
            s.user_list(&root, &UserFilter::default(), Page::default())
                .await
                .unwrap()
                .len(),
            3,
            "[{l}]"
        );

        // No self-promotion, no deleting others.
        let promote = UserEdit {
            role: Some(UserRole::Admin),
            ..Default::default()
        };
        assert_err!(
            s.user_update(&bob, "bob", &promote).await,
            ServiceError::Forbidden(_),
            "[{l}] bob makes himself admin"
        );
        assert_eq!(
            s.user_get(&root, "bob").await.unwrap().role,
            UserRole::User,
            "[{l}] bob is still a user"
        );
        assert_err!(
            s.user_delete(&bob, "carol").await,
            ServiceError::Forbidden(_),
            "[{l}] bob deletes carol"
        );
        // A profile change of his own is fine.
        let own = UserEdit {
            full_name: Some(Some("Bob Builder".into())),
            ..Default::default()
        };
        assert_eq!(
            s.user_update(&bob, "bob", &own).await.unwrap().full_name.as_deref(),
            Some("Bob Builder"),
            "[{l}]"
        );

        // The only active admin cannot be demoted, deactivated or locked, nor delete itself.
        let counts = user_counts(&t.db).await;
        for (what, c) in [
            (
                "demote",
                UserEdit {
                    role: Some(UserRole::User),
                    ..Default::default()
                },
            ),
            (
                "deactivate",
                UserEdit {
                    status: Some(UserStatus::Inactive),
                    ..Default::default()
                },
            ),
            (
                "lock",
                UserEdit {
                    status: Some(UserStatus::Locked),
                    ..Default::default()
                },
            ),
        ] {
            assert_err!(
                s.user_update(&root, "root", &c).await,
                ServiceError::Conflict(_),
                "[{l}] {what} the only admin"
            );
        }
        assert_err!(
            s.user_delete(&root, "root").await,
            ServiceError::Conflict(_),
            "[{l}] the admin deletes itself"
        );
        let r = s.user_get(&root, "root").await.unwrap();
        assert_eq!(
            (r.role, r.status),
            (UserRole::Admin, UserStatus::Active),
            "[{l}] root unchanged"
        );
        assert_eq!(user_counts(&t.db).await, counts, "[{l}] refusals write nothing");

        // A second admin that is inactive does not count as an active admin.
        let (_, ops) = make_user(&s, &t, Some(&root), "ops", UserRole::Admin).await;
        let off = UserEdit {
            status: Some(UserStatus::Inactive),
            ..Default::default()
        };
        s.user_update(&root, "ops", &off)
            .await
            .unwrap_or_else(|e| panic!("[{l}] deactivate a second admin: {e}"));
        let demote = UserEdit {
            role: Some(UserRole::User),
            ..Default::default()
        };
        assert_err!(
            s.user_update(&root, "root", &demote).await,
            ServiceError::Conflict(_),
            "[{l}] demote root while the other admin is inactive"
        );
        let on = UserEdit {
            status: Some(UserStatus::Active),
            ..Default::default()
        };
        s.user_update(&root, "ops", &on).await.unwrap();

        // With two active admins one may be demoted; an actor that still holds the old admin
        // role (a stale session) then cannot delete the last admin.
        s.user_update(&root, "ops", &demote)
            .await
            .unwrap_or_else(|e| panic!("[{l}] demote ops: {e}"));
        assert!(ops.is_admin(), "[{l}] the stale actor still says admin");
        let e = assert_err!(
            s.user_delete(&ops, "root").await,
            ServiceError::Conflict(_),
            "[{l}] delete the last admin"
        );
        assert!(e.to_string().contains("last admin"), "[{l}] {e}");
        assert!(s.user_get(&root, "root").await.is_ok(), "[{l}] root survives");

        // A user that owns a server cannot be deleted; one that owns nothing can.
        let server = ServerInput {
            hostname: Some("web1.example.com".into()),
            username: Some("deploy".into()),
            password: Some("ssh password 1".into()),
            auth_type: Some(AuthType::Password),
            ..Default::default()
        };
        s.server_create(&bob, &server).await.unwrap();
        assert_err!(
            s.user_delete(&root, "bob").await,
            ServiceError::Conflict(_),
            "[{l}] delete a user owning a server"
        );
        assert!(s.user_get(&root, "bob").await.is_ok(), "[{l}] bob survives");
        s.user_delete(&root, "carol")
            .await
            .unwrap_or_else(|e| panic!("[{l}] delete carol: {e}"));
        assert_err!(
            s.user_get(&root, "carol").await,
            ServiceError::NotFound { .. },
            "[{l}] carol gone"
        );
        let carol_alerts = count(
            &t.db,
            &format!("SELECT COUNT(*) FROM alerts WHERE user_id = {}", carol_row.id),
        )
        .await;
        assert_eq!(carol_alerts, 0, "[{l}] carol's default alert rules went with her");
        assert_err!(
            s.login("carol", PW).await,
            ServiceError::Unauthenticated(_),
            "[{l}] deleted user logs in"
        );
    }
}

// ------------------------------------------------------------------ audit

#[tokio::test(flavor = "multi_thread")]
async fn audit_rows_name_the_user_the_client_address_and_agent() {
    for t in common::both().await {
        let l = t.label();
        let s = services(&t);
        let (_, root) = make_user(&s, &t, None, "root", UserRole::Admin).await;
        let (bob_row, _) = make_user(&s, &t, Some(&root), "bob", UserRole::User).await;
        let (bob, _) = s.login("bob", PW).await.unwrap();
        let email = UserEdit {
            email: Some("robert@example.com".into()),
            ..Default::default()
        };
        s.user_update(&root, "bob", &email).await.unwrap();
        let _ = s.login("bob", WRONG).await;

        let filter = AuditFilter {
            resource_type: Some("user".into()),
            resource_id: Some(bob_row.id),
            ..Default::default()
        };
        let rows = s.audit_list(&root, &filter, Page::default()).await.unwrap();
        let actions: Vec<&str> = rows.iter().map(|r| r.action.as_str()).collect();
        assert_eq!(
            actions,
            vec![
                "auth.login_failed",
                "user.update",
                "auth.login",
                "user.password",
                "user.create"
            ],
            "[{l}] bob's history, newest first (he replaced his one-time password first)"
        );
        let now = chrono::Utc::now();
        for r in &rows {
            assert_eq!(r.ip_address.as_deref(), Some(IP), "[{l}] {} ip", r.action);
            assert_eq!(r.user_agent.as_deref(), Some(UA), "[{l}] {} agent", r.action);
            let d = &r
                .details
                .as_ref()
                .unwrap_or_else(|| panic!("[{l}] {} has details", r.action))
                .0;
            assert_eq!(d["username"], "bob", "[{l}] {} details name bob: {d}", r.action);
            assert!(
                (now - r.created_at).num_seconds().abs() < 120,
                "[{l}] {} created_at {}",
                r.action,
                r.created_at
            );
        }
        let by = |a: &str| rows.iter().find(|r| r.action == a).unwrap().user_id;
        assert_eq!(by("user.create"), Some(root.user_id), "[{l}] the creator is the actor");
        assert_eq!(by("user.update"), Some(root.user_id), "[{l}] the editor is the actor");
        assert_eq!(by("auth.login"), Some(bob.user_id), "[{l}] bob logged in");
        let upd = rows.iter().find(|r| r.action == "user.update").unwrap();
        assert_eq!(
            upd.details.as_ref().unwrap().0["email"],
            "robert@example.com",
            "[{l}] the change is recorded"
        );

        // bob's own audit view holds only his own actions.
        let mine = s
            .audit_list(&bob, &AuditFilter::default(), Page::default())
            .await
            .unwrap();
        assert!(!mine.is_empty(), "[{l}]");
        assert!(
            mine.iter().all(|r| r.user_id == Some(bob.user_id)),
            "[{l}] bob sees only his rows: {mine:?}"
        );
    }
}
