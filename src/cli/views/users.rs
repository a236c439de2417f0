//! Views of users, API keys and the caller.

use super::{opt, when, FieldsView, TableView};
use crate::domain::ApiKeyPermissions;
use crate::service::views::{ApiKeyRow, UserRow};
use crate::service::Actor;

impl TableView for UserRow {
    const HEADERS: &'static [&'static str] = &["ID", "USERNAME", "EMAIL", "ROLE", "STATUS", "LAST LOGIN"];
    fn cells(&self) -> Vec<String> {
        vec![
            self.id.to_string(),
            self.username.clone(),
            self.email.clone(),
            self.role.to_string(),
            self.status.to_string(),
            when(self.last_login_at),
        ]
    }
}

impl FieldsView for UserRow {
    fn fields(&self) -> Vec<(&'static str, String)> {
        vec![
            ("id", self.id.to_string()),
            ("username", self.username.clone()),
            ("email", self.email.clone()),
            ("full name", opt(&self.full_name)),
            ("phone", opt(&self.phone)),
            ("role", self.role.to_string()),
            ("status", self.status.to_string()),
            ("failed logins", self.failed_login_count.to_string()),
            ("last login", when(self.last_login_at)),
            ("created", when(Some(self.created_at))),
        ]
    }
}

impl TableView for ApiKeyRow {
    const HEADERS: &'static [&'static str] = &[
        "ID",
        "NAME",
        "API KEY",
        "USER",
        "STATUS",
        "PERMISSIONS",
        "EXPIRES",
        "LAST USED",
    ];
    fn cells(&self) -> Vec<String> {
        vec![
            self.id.to_string(),
            self.key_name.clone(),
            self.api_key.clone(),
            self.user_id.to_string(),
            self.status.to_string(),
            self.permissions.to_string(),
            when(self.expires_at),
            when(self.last_used_at),
        ]
    }
}

/// A new API key with its secret (shown once): JSON, or the three lines of text.
pub fn apikey_created(json: bool, row: &ApiKeyRow, secret: &str) -> String {
    if json {
        return super::json_text(
            &serde_json::json!({"id": row.id, "api_key": row.api_key, "permissions": row.permissions, "secret": secret, "credential": format!("{}:{secret}", row.api_key)}),
        )
        .map(|s| s + "\n")
        .unwrap_or_default();
    }
    format!(
        "created API key {} (id {}, {})\nsecret, shown only now: {secret}\nuse it as: CERTDECK_API_KEY={}:{secret}\n",
        row.api_key,
        row.id,
        permissions_words(row.permissions),
        row.api_key
    )
}

/// What a key's permissions allow, in words.
fn permissions_words(p: ApiKeyPermissions) -> &'static str {
    match p {
        ApiKeyPermissions::Read => "read-only: it may list, show and export public certificates, never write",
        ApiKeyPermissions::ReadWrite => "read-write: it may do everything its user may",
    }
}

/// `whoami`: JSON, or `name (role, id N)` (`, read-only` for a read-only API key).
pub fn whoami(json: bool, a: &Actor) -> String {
    if json {
        return super::json_text(
            &serde_json::json!({"user_id": a.user_id, "username": a.username, "role": a.role, "read_only": a.read_only}),
        )
        .map(|s| s + "\n")
        .unwrap_or_default();
    }
    let read_only = if a.read_only { ", read-only" } else { "" };
    format!("{} ({}{read_only}, id {})\n", a.username, a.role, a.user_id)
}

#[cfg(test)]
mod tests {
    use super::super::testing::t0;
    use super::*;
    use crate::domain::{ApiKeyPermissions, ApiKeyStatus, UserRole, UserStatus};

    fn user() -> UserRow {
        UserRow {
            id: 2,
            username: "bob".into(),
            email: "bob@example.com".into(),
            password_hash: "$argon2id$secret-hash".into(),
            full_name: None,
            phone: None,
            role: UserRole::User,
            status: UserStatus::Active,
            last_login_at: Some(t0()),
            failed_login_count: 0,
            must_change_password: false,
            created_at: t0(),
            updated_at: t0(),
        }
    }

    fn key() -> ApiKeyRow {
        ApiKeyRow {
            id: 4,
            user_id: 2,
            key_name: "ci".into(),
            api_key: "cdk_abc".into(),
            secret_hash: "$argon2id$hash".into(),
            status: ApiKeyStatus::Active,
            permissions: ApiKeyPermissions::ReadWrite,
            expires_at: None,
            last_used_at: None,
            created_at: t0(),
            updated_at: t0(),
        }
    }

    #[test]
    fn user_views_never_show_the_password_hash() {
        assert_eq!(
            super::super::table(&[user()]).render(),
            "ID  USERNAME  EMAIL            ROLE  STATUS  LAST LOGIN\n2   bob       bob@example.com  user  active  2026-01-02 03:04\n"
        );
        let text = super::super::render_fields(&user().fields());
        assert!(text.starts_with("id             2\nusername       bob\n"), "{text}");
        let json = super::super::json_text(&user()).unwrap();
        assert!(!json.contains("argon2"), "{json}");
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&json).unwrap()["role"],
            "user"
        );
    }

    #[test]
    fn api_key_views() {
        assert_eq!(
            super::super::table(&[key()]).render(),
            "ID  NAME  API KEY  USER  STATUS  PERMISSIONS  EXPIRES  LAST USED\n4   ci    cdk_abc  2     active  read-write   -        -\n"
        );
        assert!(!super::super::json_text(&[key()]).unwrap().contains("argon2"));
        assert_eq!(
            apikey_created(false, &key(), "s3"),
            "created API key cdk_abc (id 4, read-write: it may do everything its user may)\nsecret, shown only now: s3\n\
             use it as: CERTDECK_API_KEY=cdk_abc:s3\n"
        );
        let v: serde_json::Value = serde_json::from_str(&apikey_created(true, &key(), "s3")).unwrap();
        assert_eq!(v["credential"], "cdk_abc:s3");
        assert_eq!(v["permissions"], "read-write");
        let mut a = Actor {
            user_id: 2,
            username: "bob".into(),
            role: UserRole::Api,
            read_only: false,
        };
        assert_eq!(whoami(false, &a), "bob (api, id 2)\n");
        a.read_only = true;
        assert_eq!(whoami(false, &a), "bob (api, read-only, id 2)\n");
        let v: serde_json::Value = serde_json::from_str(&whoami(true, &a)).unwrap();
        assert_eq!(v["read_only"], true);
        let read_only = ApiKeyRow {
            permissions: ApiKeyPermissions::Read,
            ..key()
        };
        assert!(apikey_created(false, &read_only, "s3").starts_with(
            "created API key cdk_abc (id 4, read-only: it may list, show and export public certificates, never write)\n"
        ));
        let v: serde_json::Value = serde_json::from_str(&super::super::json_text(&[read_only]).unwrap()).unwrap();
        assert_eq!(v[0]["permissions"], "read");
    }
}
