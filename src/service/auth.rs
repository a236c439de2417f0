//! Authentication: password login with lockout, sessions (access + refresh tokens stored as
//! hashes in `user_tokens`), and API keys for scripts.

use chrono::{DateTime, Duration, Utc};

use crate::crypto::{password, token};
use crate::domain::{ApiKeyPermissions, ApiKeyStatus, TokenType, UserRole, UserStatus};
use crate::errors::{ServiceError, ServiceResult};
use crate::store::users::{self as store, NewToken, UserRow};

use super::{Actor, Services};

/// A session: the two bearer tokens (held by the client only) and who they belong to.
#[derive(Clone, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct Session {
    /// User id.
    pub user_id: i64,
    /// Username.
    pub username: String,
    /// Access token (1 h by default).
    pub access_token: String,
    /// Its expiry.
    pub access_expires_at: DateTime<Utc>,
    /// Refresh token (30 d by default).
    pub refresh_token: String,
    /// Its expiry.
    pub refresh_expires_at: DateTime<Utc>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("username", &self.username)
            .field("access_expires_at", &self.access_expires_at)
            .finish_non_exhaustive()
    }
}

const BAD_LOGIN: &str = "invalid username or password";

fn dummy_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| password::hash_password("certdeck timing equaliser").unwrap_or_default())
}

impl Services {
    /// Logs in with a password. Five failures in a row (setting `auth.max_failed_logins`)
    /// lock the account until an admin unlocks it.
    ///
    /// An account whose password is one-time (the first admin's, one an admin set) is refused
    /// with [`ServiceError::PasswordChangeRequired`] once the password is verified: log in with
    /// [`Services::login_with_new_password`] instead.
    pub async fn login(&self, username: &str, password_text: &str) -> ServiceResult<(Actor, Session)> {
        let user = self.verify_login(username, password_text).await?;
        if user.must_change_password {
            return Err(ServiceError::PasswordChangeRequired(format!(
                "the password of {} is a one-time password: set a new one to log in \
                 (`certdeck login` asks for it; scripts: --password-stdin --new-password-stdin)",
                user.username
            )));
        }
        self.finish_login(&user).await
    }

    /// Logs in with the current (typically one-time) password and replaces it with
    /// `new_password` in the same step; the only way in for an account whose password must change.
    pub async fn login_with_new_password(
        &self,
        username: &str,
        password_text: &str,
        new_password: &str,
    ) -> ServiceResult<(Actor, Session)> {
        let user = self.replace_password(username, password_text, new_password).await?;
        self.finish_login(&user).await
    }

    /// Replaces a user's password given the current one (with the lockout counter, like a
    /// login), without opening a session: what the first login does before it logs in.
    /// The new password is the user's own: it no longer has to change.
    pub async fn replace_password(
        &self,
        username: &str,
        password_text: &str,
        new_password: &str,
    ) -> ServiceResult<UserRow> {
        let user = self.verify_login(username, password_text).await?;
        if new_password == password_text {
            return Err(ServiceError::invalid(
                "new password",
                "must differ from the current (one-time) password",
            ));
        }
        self.set_password_of(None, &user, new_password, false).await?;
        store::get_user(self.db(), user.id)
            .await?
            .ok_or_else(|| ServiceError::Unauthenticated(BAD_LOGIN.into()))
    }

    /// Checks a username and password (with the lockout counter) and returns the user.
    async fn verify_login(&self, username: &str, password_text: &str) -> ServiceResult<UserRow> {
        let Some(user) = store::get_user_by_name(self.db(), username.trim()).await? else {
            // Same work as a real check, so timing does not reveal which usernames exist.
            let _ = password::verify_password(password_text, dummy_hash());
            let audit = self.audit(
                None,
                "auth.login_failed",
                "user",
                None,
                serde_json::json!({"username": username, "reason": "unknown user"}),
            )?;
            crate::store::audit::insert(self.db(), &audit).await?;
            return Err(ServiceError::Unauthenticated(BAD_LOGIN.into()));
        };
        self.check_can_log_in(&user)?;
        if !password::verify_password(password_text, &user.password_hash) {
            let max = self.setting_number("auth.max_failed_logins").await?.clamp(1, 1000) as i32;
            let count = store::record_failed_login(self.db(), user.id, max).await?;
            let audit = self.audit(
                None,
                "auth.login_failed",
                "user",
                Some(user.id),
                serde_json::json!({"username": user.username, "failed_in_a_row": count}),
            )?;
            crate::store::audit::insert(self.db(), &audit).await?;
            if count >= max {
                return Err(ServiceError::Unauthenticated(format!(
                    "{BAD_LOGIN}; the account is now locked after {count} failed logins in a row: an admin must unlock it (`certdeck user unlock {}`)",
                    user.username
                )));
            }
            return Err(ServiceError::Unauthenticated(BAD_LOGIN.into()));
        }
        Ok(user)
    }

    async fn finish_login(&self, user: &UserRow) -> ServiceResult<(Actor, Session)> {
        store::record_login(self.db(), user.id).await?;
        let actor = Actor {
            user_id: user.id,
            username: user.username.clone(),
            role: user.role,
            read_only: false,
        };
        let session = self.issue_session(&actor, "auth.login").await?;
        Ok((actor, session))
    }

    fn check_can_log_in(&self, user: &UserRow) -> ServiceResult<()> {
        match user.status {
            UserStatus::Locked => Err(ServiceError::Unauthenticated(format!(
                "account {} is locked after too many failed logins: an admin must unlock it (`certdeck user unlock {}`)",
                user.username, user.username
            ))),
            UserStatus::Inactive => Err(ServiceError::Unauthenticated(format!("account {} is inactive: ask an admin to activate it", user.username))),
            UserStatus::Active if user.role == UserRole::Api => Err(ServiceError::Forbidden(
                "api users cannot log in interactively: use CERTDECK_API_KEY=<key>:<secret>".into(),
            )),
            UserStatus::Active => Ok(()),
        }
    }

    /// Creates a fresh access + refresh pair for an actor.
    pub(crate) async fn issue_session(&self, actor: &Actor, action: &str) -> ServiceResult<Session> {
        let now = Utc::now();
        let access_ttl = self
            .setting_number("auth.access_token_ttl_seconds")
            .await?
            .clamp(60, 86_400 * 7);
        let refresh_ttl = self
            .setting_number("auth.refresh_token_ttl_seconds")
            .await?
            .clamp(300, 86_400 * 365);
        let access = token::generate_token();
        let refresh = token::generate_token();
        let s = Session {
            user_id: actor.user_id,
            username: actor.username.clone(),
            access_expires_at: now + Duration::seconds(access_ttl),
            refresh_expires_at: now + Duration::seconds(refresh_ttl),
            access_token: access,
            refresh_token: refresh,
        };
        let mk = |t: TokenType, tok: &str, exp| NewToken {
            user_id: actor.user_id,
            token_type: t,
            token_hash: token::token_hash(tok),
            expires_at: exp,
            client_ip: self.client.ip.clone(),
            user_agent: self.client.user_agent.clone(),
        };
        let tokens = [
            mk(TokenType::Access, &s.access_token, s.access_expires_at),
            mk(TokenType::Refresh, &s.refresh_token, s.refresh_expires_at),
        ];
        let audit = self.audit(
            Some(actor),
            action,
            "user",
            Some(actor.user_id),
            serde_json::json!({"username": actor.username}),
        )?;
        store::insert_tokens(self.db(), &tokens, &audit).await?;
        Ok(s)
    }

    async fn user_for_token(&self, tok: &str, ty: TokenType) -> ServiceResult<UserRow> {
        let expired =
            || ServiceError::Unauthenticated("session expired or revoked: log in again (`certdeck login`)".into());
        let row = store::get_token_by_hash(self.db(), &token::token_hash(tok))
            .await?
            .ok_or_else(expired)?;
        if row.token_type != ty || row.is_revoked || row.expires_at <= Utc::now() {
            return Err(expired());
        }
        let user = store::get_user(self.db(), row.user_id).await?.ok_or_else(expired)?;
        self.check_can_log_in(&user)?;
        if user.must_change_password {
            return Err(ServiceError::PasswordChangeRequired(format!(
                "the password of {} was reset to a one-time password: log in again and set a new one (`certdeck login`)",
                user.username
            )));
        }
        Ok(user)
    }

    /// The actor of a valid access token.
    pub async fn authenticate(&self, access_token: &str) -> ServiceResult<Actor> {
        let user = self.user_for_token(access_token, TokenType::Access).await?;
        Ok(Actor {
            user_id: user.id,
            username: user.username,
            role: user.role,
            read_only: false,
        })
    }

    /// Exchanges a valid refresh token for a new session; the old pair is revoked.
    pub async fn refresh_session(&self, old: &Session) -> ServiceResult<(Actor, Session)> {
        let user = self.user_for_token(&old.refresh_token, TokenType::Refresh).await?;
        // Revoking the refresh token is the claim: of two concurrent refreshes only one wins.
        let claimed = store::revoke_tokens(self.db(), &[token::token_hash(&old.refresh_token)]).await?;
        if claimed != 1 {
            return Err(ServiceError::Unauthenticated(
                "this session was already refreshed or revoked: run `certdeck login`".into(),
            ));
        }
        store::revoke_tokens(self.db(), &[token::token_hash(&old.access_token)]).await?;
        let actor = Actor {
            user_id: user.id,
            username: user.username,
            role: user.role,
            read_only: false,
        };
        let s = self.issue_session(&actor, "auth.refresh").await?;
        Ok((actor, s))
    }

    /// Revokes a session's tokens.
    pub async fn logout(&self, s: &Session) -> ServiceResult<()> {
        let n = store::revoke_tokens(
            self.db(),
            &[token::token_hash(&s.access_token), token::token_hash(&s.refresh_token)],
        )
        .await?;
        if n > 0 {
            let audit = self.audit(
                None,
                "auth.logout",
                "user",
                Some(s.user_id),
                serde_json::json!({"username": s.username}),
            )?;
            crate::store::audit::insert(self.db(), &audit.with_user_if_none(s.user_id)).await?;
        }
        Ok(())
    }

    /// The actor of an API key `<api_key>:<secret>`: the key's user with the api role's limits.
    pub async fn authenticate_api_key(&self, credential: &str) -> ServiceResult<Actor> {
        let bad = || {
            ServiceError::Unauthenticated(
                "invalid API key: CERTDECK_API_KEY must be <api_key>:<secret> of an active key".into(),
            )
        };
        let (key, secret) = credential.trim().split_once(':').ok_or_else(bad)?;
        let row = store::get_api_key_by_key(self.db(), key).await?.ok_or_else(bad)?;
        if !self.key_cache.verify(row.id, secret, &row.secret_hash, || {
            password::verify_password(secret, &row.secret_hash)
        }) {
            return Err(bad());
        }
        match row.status {
            ApiKeyStatus::Active => {}
            s => return Err(ServiceError::Unauthenticated(format!("API key {} is {s}", row.api_key))),
        }
        if row.expires_at.is_some_and(|e| e <= Utc::now()) {
            return Err(ServiceError::Unauthenticated(format!(
                "API key {} has expired",
                row.api_key
            )));
        }
        let user = store::get_user(self.db(), row.user_id).await?.ok_or_else(bad)?;
        if user.status != UserStatus::Active {
            return Err(ServiceError::Unauthenticated(format!(
                "the owner of API key {} is {}",
                row.api_key, user.status
            )));
        }
        if self.key_cache.should_touch(row.id) {
            store::touch_api_key(self.db(), row.id).await?;
        }
        Ok(Actor {
            user_id: user.id,
            username: user.username,
            role: UserRole::Api,
            read_only: row.permissions == ApiKeyPermissions::Read,
        })
    }
}
