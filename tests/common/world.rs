//! Service-level harness: services over a test database, users and their actors, the audit log.

use certdeck::crypto::Keyring;
use certdeck::domain::UserRole;
use certdeck::errors::ServiceError;
use certdeck::service::bootstrap;
use certdeck::service::users::UserInput;
use certdeck::service::{Actor, ClientInfo, Services};
use certdeck::store::audit::{AuditFilter, AuditRow};
use certdeck::store::users::UserRow;
use certdeck::store::{Db, Page};

use super::TestDb;

/// The client address of [`client`].
pub const IP: &str = "203.0.113.9";
/// The user agent of [`client`].
pub const UA: &str = "certdeck/test (xterm)";
/// The password of every user made by [`make_user`].
pub const PW: &str = "correct horse battery";

/// A client with an address and a user agent (for the audit trail).
pub fn client() -> ClientInfo {
    ClientInfo {
        ip: Some(IP.into()),
        user_agent: Some(UA.into()),
    }
}

/// Services over `t` with `keyring`, called by [`client`].
pub fn services_with(t: &TestDb, keyring: Keyring) -> Services {
    Services::new(t.db.clone(), keyring, client())
}

/// Services over `t` with a fresh keyring, called by [`client`].
pub fn services(t: &TestDb) -> Services {
    services_with(t, super::keyring())
}

/// The field and reason of a validation error.
pub fn validation(e: &ServiceError) -> (&str, &str) {
    match e {
        ServiceError::Validation { field, reason } => (field, reason),
        other => panic!("expected a validation error, got {other:?}"),
    }
}

/// The field of a validation error.
pub fn vfield(e: &ServiceError) -> &str {
    validation(e).0
}

/// The actor of a user row.
pub fn actor_of(row: &UserRow) -> Actor {
    Actor {
        user_id: row.id,
        username: row.username.clone(),
        role: row.role,
        read_only: false,
    }
}

/// The one-time password [`make_user`] gives a user before its first login replaces it with [`PW`].
pub const ONE_TIME_PW: &str = "one-time password 1";

/// Replaces a one-time password at the first login, as its owner does (`certdeck login` asks
/// for the new one); returns the session's actor.
pub async fn first_login(s: &Services, label: &str, name: &str, one_time: &str, new: &str) -> Actor {
    let (actor, _) = s
        .login_with_new_password(name, one_time, new)
        .await
        .unwrap_or_else(|e| panic!("[{label}] first login of {name}: {e}"));
    actor
}

/// Creates a user (by `by`, or locally when None) whose password is [`PW`] and returns its row
/// and actor: created with a one-time password, which the user then replaces (as the first
/// login does, without opening a session). An api user has no password at all.
pub async fn make_user(s: &Services, t: &TestDb, by: Option<&Actor>, name: &str, role: UserRole) -> (UserRow, Actor) {
    let api = role == UserRole::Api;
    let (row, generated) = s
        .user_create(
            by,
            &UserInput {
                username: name.into(),
                email: format!("{name}@example.com"),
                password: (!api).then(|| ONE_TIME_PW.into()),
                role,
                ..Default::default()
            },
        )
        .await
        .unwrap_or_else(|e| panic!("[{}] create user {name}: {e}", t.label()));
    assert!(generated.is_none(), "[{}] a given password is not replaced", t.label());
    let row = if api {
        row
    } else {
        s.replace_password(name, ONE_TIME_PW, PW)
            .await
            .unwrap_or_else(|e| panic!("[{}] replace the one-time password of {name}: {e}", t.label()))
    };
    let a = actor_of(&row);
    (row, a)
}

/// An admin (the first admin, logged in) and two ordinary users (made by the admin, logged in
/// with [`PW`]) on fresh services over one backend.
pub struct World {
    pub s: Services,
    pub label: &'static str,
    pub admin: Actor,
    pub alice: Actor,
    pub bob: Actor,
}

impl World {
    pub async fn new(t: &TestDb) -> World {
        let label = t.label();
        let s = Services::new(t.db.clone(), super::keyring(), ClientInfo::default());
        let pw = bootstrap::create_initial_admin(&s, "admin@example.com")
            .await
            .unwrap_or_else(|e| panic!("[{label}] create admin: {e}"))
            .unwrap_or_else(|| panic!("[{label}] a fresh database must get a first admin"));
        let admin = first_login(&s, label, "admin", &pw, PW).await;
        let alice = logged_in_user(&s, t, &admin, "alice").await;
        let bob = logged_in_user(&s, t, &admin, "bob").await;
        World {
            s,
            label,
            admin,
            alice,
            bob,
        }
    }

    pub fn db(&self) -> &Db {
        self.s.db()
    }
}

/// Logs `name` in and returns the session's actor.
pub async fn login(s: &Services, label: &str, name: &str, password: &str) -> Actor {
    let (actor, _) = s
        .login(name, password)
        .await
        .unwrap_or_else(|e| panic!("[{label}] login {name}: {e}"));
    actor
}

/// Makes an ordinary user (by `admin`) and logs it in.
async fn logged_in_user(s: &Services, t: &TestDb, admin: &Actor, name: &str) -> Actor {
    make_user(s, t, Some(admin), name, UserRole::User).await;
    login(s, t.label(), name, PW).await
}

/// Every audit row, newest first (read as `admin`).
pub async fn audit_all(s: &Services, admin: &Actor) -> Vec<AuditRow> {
    s.audit_list(admin, &AuditFilter::default(), Page::first(1000))
        .await
        .expect("audit list")
}

/// The audit rows of one action, newest first (read as the admin).
pub async fn audit_rows(w: &World, action: &str) -> Vec<AuditRow> {
    w.s.audit_list(
        &w.admin,
        &AuditFilter {
            action: Some(action.into()),
            ..Default::default()
        },
        Page::first(1000),
    )
    .await
    .unwrap_or_else(|e| panic!("[{}] audit list: {e}", w.label))
}
