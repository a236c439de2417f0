//! Users and API keys.

use chrono::{Duration, Utc};

use crate::crypto::{password, token};
use crate::domain::{
    AlertType, ApiKeyPermissions, ApiKeyStatus, ConditionType, Email, Severity, UserRole, UserStatus, Username,
};
use crate::errors::{ServiceError, ServiceResult};
use crate::store::users::{self as store, ApiKeyRow, DefaultAlert, NewUser, UserChanges, UserFilter, UserRow};
use crate::store::Page;

use super::{field, opt_text, Actor, Services};

/// Input of a new user.
#[derive(Debug, Clone)]
pub struct UserInput {
    /// Login name.
    pub username: String,
    /// E-mail.
    pub email: String,
    /// Password; None generates one (returned once).
    pub password: Option<String>,
    /// Full name.
    pub full_name: Option<String>,
    /// Phone (for SMS alerts).
    pub phone: Option<String>,
    /// Role.
    pub role: UserRole,
}

impl Default for UserInput {
    fn default() -> Self {
        UserInput {
            username: String::new(),
            email: String::new(),
            password: None,
            full_name: None,
            phone: None,
            role: UserRole::User,
        }
    }
}

/// The `password_hash` of an account without a password (api users): no password verifies
/// against it, since it is not a PHC string.
pub const NO_PASSWORD: &str = "!";

/// Minimum password length.
pub const MIN_PASSWORD_LEN: usize = 10;

fn check_password(pw: &str) -> ServiceResult<()> {
    if pw.chars().count() < MIN_PASSWORD_LEN {
        return Err(ServiceError::invalid(
            "password",
            format!("must be at least {MIN_PASSWORD_LEN} characters"),
        ));
    }
    if pw.len() > 1024 {
        return Err(ServiceError::invalid("password", "must be at most 1024 bytes"));
    }
    Ok(())
}

fn check_phone(phone: Option<&str>) -> ServiceResult<Option<String>> {
    let p = opt_text("phone", phone, 20)?;
    if let Some(p) = &p {
        if !p
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '+' | '-' | ' ' | '(' | ')'))
            || !p.chars().any(|c| c.is_ascii_digit())
        {
            return Err(ServiceError::invalid(
                "phone",
                format!("'{p}' is not a phone number (digits, +, -, spaces)"),
            ));
        }
    }
    Ok(p)
}

/// The alert rules every new user starts with: expiry at 30/7/1 days with rising severity,
/// certificate errors and servers going down.
pub fn default_alert_rules() -> Vec<DefaultAlert> {
    let rule = |name: &str, t, c, v: &str, s| DefaultAlert {
        name: name.into(),
        alert_type: t,
        condition_type: c,
        condition_value: v.into(),
        severity: s,
    };
    vec![
        rule(
            "Certificate expires in 30 days",
            AlertType::CertificateExpiry,
            ConditionType::DaysBefore,
            "30",
            Severity::Warning,
        ),
        rule(
            "Certificate expires in 7 days",
            AlertType::CertificateExpiry,
            ConditionType::DaysBefore,
            "7",
            Severity::Error,
        ),
        rule(
            "Certificate expires in 1 day",
            AlertType::CertificateExpiry,
            ConditionType::DaysBefore,
            "1",
            Severity::Critical,
        ),
        rule(
            "Certificate error",
            AlertType::CertificateError,
            ConditionType::StatusChange,
            "error",
            Severity::Error,
        ),
        rule(
            "Server down",
            AlertType::ServerDown,
            ConditionType::StatusChange,
            "error",
            Severity::Critical,
        ),
    ]
}

/// The profile fields a face may edit; `None` leaves a field unchanged. Role and status are for
/// admins. There is no password here: it changes only through `user_set_password`.
#[derive(Debug, Clone, Default)]
pub struct UserEdit {
    /// E-mail.
    pub email: Option<String>,
    /// Full name (`Some(None)` clears).
    pub full_name: Option<Option<String>>,
    /// Phone (`Some(None)` clears).
    pub phone: Option<Option<String>>,
    /// Role.
    pub role: Option<UserRole>,
    /// Status (activating a user also clears its failed-login count).
    pub status: Option<UserStatus>,
}

impl Services {
    /// Creates a user (admin only). Returns the user and, when none was given, the generated
    /// one-time password.
    pub async fn user_create(
        &self,
        actor: Option<&Actor>,
        input: &UserInput,
    ) -> ServiceResult<(UserRow, Option<String>)> {
        if let Some(a) = actor {
            a.require_not_api("manage users")?;
            a.require_admin("create users")?;
        }
        let username = field("username", Username::parse(&input.username))?;
        let email = field("email", Email::parse(&input.email))?;
        let full_name = opt_text("full_name", input.full_name.as_deref(), 100)?;
        let phone = check_phone(input.phone.as_deref())?;
        // An api user has no password (it cannot log in; it works through API keys). Any other
        // password made here is one-time: its owner replaces it at the first login.
        let (pw, generated) = match (&input.password, input.role) {
            (Some(_), UserRole::Api) => {
                return Err(ServiceError::invalid(
                    "password",
                    "api users have no password: they authenticate with API keys (`certdeck apikey create NAME --user USER`)",
                ))
            }
            (None, UserRole::Api) => (None, None),
            (Some(p), _) => {
                check_password(p)?;
                (Some(p.clone()), None)
            }
            (None, _) => {
                let p = password::generate_password();
                (Some(p.clone()), Some(p))
            }
        };
        if store::get_user_by_name(self.db(), username.as_str()).await?.is_some() {
            return Err(ServiceError::Conflict(format!(
                "username '{}' is already taken",
                username.as_str()
            )));
        }
        let hash = match &pw {
            Some(pw) => password::hash_password(pw).map_err(ServiceError::Internal)?,
            None => NO_PASSWORD.to_string(),
        };
        let new = NewUser {
            username: username.as_str().to_string(),
            email: email.as_str().to_string(),
            password_hash: hash,
            full_name,
            phone,
            role: input.role,
            must_change_password: pw.is_some(),
        };
        let audit = self.audit(
            actor,
            "user.create",
            "user",
            None,
            serde_json::json!({"username": new.username, "email": new.email, "role": new.role}),
        )?;
        let id = store::create_user(self.db(), &new, &default_alert_rules(), &audit).await?;
        let row = store::get_user(self.db(), id)
            .await?
            .ok_or_else(|| ServiceError::Internal("user vanished".into()))?;
        Ok((row, generated))
    }

    /// Resolves a user by id or username, visible to the actor (admins see all, others themselves).
    pub async fn user_get(&self, actor: &Actor, who: &str) -> ServiceResult<UserRow> {
        let row = match who.parse::<i64>() {
            Ok(id) => store::get_user(self.db(), id).await?,
            Err(_) => store::get_user_by_name(self.db(), who.trim()).await?,
        }
        .ok_or_else(|| ServiceError::not_found("user", who))?;
        if !actor.is_admin() && row.id != actor.user_id {
            return Err(ServiceError::not_found("user", who));
        }
        Ok(row)
    }

    /// A page of users (admin only).
    pub async fn user_list(&self, actor: &Actor, filter: &UserFilter, page: Page) -> ServiceResult<Vec<UserRow>> {
        actor.require_not_api("manage users")?;
        actor.require_admin("list users")?;
        Ok(store::list_users(self.db(), filter, page).await?)
    }

    /// Changes a user's profile; role and status only by an admin, never leaving no active admin.
    /// Passwords change only through [`Services::user_set_password`].
    pub async fn user_update(&self, actor: &Actor, who: &str, edit: &UserEdit) -> ServiceResult<UserRow> {
        actor.require_not_api("manage users")?;
        let row = self.user_get(actor, who).await?;
        let mut c = UserChanges {
            email: edit.email.clone(),
            full_name: edit.full_name.clone(),
            phone: edit.phone.clone(),
            role: edit.role,
            status: edit.status,
            ..Default::default()
        };
        if c.role.is_some() || c.status.is_some() {
            actor.require_admin("change a user's role, status or password this way")?;
        }
        if let Some(e) = &c.email {
            c.email = Some(field("email", Email::parse(e))?.as_str().to_string());
        }
        if let Some(n) = &c.full_name {
            c.full_name = Some(opt_text("full_name", n.as_deref(), 100)?);
        }
        if let Some(p) = &c.phone {
            c.phone = Some(check_phone(p.as_deref())?);
        }
        let demotes = row.role == UserRole::Admin
            && row.status == UserStatus::Active
            && (c.role.is_some_and(|r| r != UserRole::Admin) || c.status.is_some_and(|s| s != UserStatus::Active));
        if demotes && store::count_active_admins(self.db()).await? <= 1 {
            return Err(ServiceError::Conflict(format!(
                "{} is the only active admin; make another user admin first",
                row.username
            )));
        }
        // Activating a user (unlocking one included) starts its failed-login count afresh.
        if c.status == Some(UserStatus::Active) && row.status != UserStatus::Active {
            c.reset_failed_logins = true;
        }
        // An api user has no password: becoming one drops it (and its sessions, below).
        let to_api = c.role == Some(UserRole::Api) && row.role != UserRole::Api;
        if to_api {
            c.password_hash = Some(NO_PASSWORD.into());
            c.must_change_password = Some(false);
        }
        let audit = self.audit(
            Some(actor),
            "user.update",
            "user",
            Some(row.id),
            serde_json::json!({
                "username": row.username, "email": c.email, "role": c.role, "status": c.status,
                "full_name": c.full_name, "phone": c.phone,
            }),
        )?;
        store::update_user(self.db(), row.id, &c, &audit).await?;
        if to_api || c.status.is_some_and(|s| s != UserStatus::Active) {
            store::revoke_user_tokens(self.db(), row.id).await?;
        }
        store::get_user(self.db(), row.id)
            .await?
            .ok_or_else(|| ServiceError::not_found("user", who))
    }

    /// Sets a password: an admin for anyone, a user for itself with its current password.
    /// Every session of the user is revoked.
    pub async fn user_set_password(
        &self,
        actor: &Actor,
        who: &str,
        current: Option<&str>,
        new_password: &str,
    ) -> ServiceResult<()> {
        actor.require_not_api("change passwords")?;
        let row = self.user_get(actor, who).await?;
        if row.role == UserRole::Api {
            return Err(ServiceError::invalid(
                "password",
                format!(
                    "{} is an api user: api users have no password, they use API keys",
                    row.username
                ),
            ));
        }
        if !actor.is_admin() {
            let ok = current.is_some_and(|c| password::verify_password(c, &row.password_hash));
            if !ok {
                return Err(ServiceError::Unauthenticated("the current password is wrong".into()));
            }
        }
        // An admin setting another user's password resets it: a one-time password again.
        let one_time = row.id != actor.user_id;
        self.set_password_of(Some(actor), &row, new_password, one_time).await
    }

    pub(crate) async fn set_password_of(
        &self,
        actor: Option<&Actor>,
        row: &UserRow,
        new_password: &str,
        one_time: bool,
    ) -> ServiceResult<()> {
        check_password(new_password)?;
        let hash = password::hash_password(new_password).map_err(ServiceError::Internal)?;
        let audit = self.audit(
            actor,
            "user.password",
            "user",
            Some(row.id),
            serde_json::json!({"username": row.username, "one_time": one_time}),
        )?;
        store::update_user(
            self.db(),
            row.id,
            &UserChanges {
                password_hash: Some(hash),
                must_change_password: Some(one_time),
                ..Default::default()
            },
            &audit,
        )
        .await?;
        store::revoke_user_tokens(self.db(), row.id).await?;
        Ok(())
    }

    /// Unlocks a locked user. `actor = None` is the local operator (database and key access),
    /// for a locked sole admin.
    pub async fn user_unlock(&self, actor: Option<&Actor>, username: &str) -> ServiceResult<UserRow> {
        if let Some(a) = actor {
            a.require_not_api("manage users")?;
            a.require_admin("unlock users")?;
        }
        let row = store::get_user_by_name(self.db(), username.trim())
            .await?
            .ok_or_else(|| ServiceError::not_found("user", username))?;
        if row.status != UserStatus::Locked && row.failed_login_count == 0 {
            return Err(ServiceError::Conflict(format!(
                "{} is not locked (status {})",
                row.username, row.status
            )));
        }
        let audit = self.audit(
            actor,
            "user.unlock",
            "user",
            Some(row.id),
            serde_json::json!({"username": row.username, "local": actor.is_none()}),
        )?;
        let status = (row.status == UserStatus::Locked).then_some(UserStatus::Active);
        store::update_user(
            self.db(),
            row.id,
            &UserChanges {
                status,
                reset_failed_logins: true,
                ..Default::default()
            },
            &audit,
        )
        .await?;
        store::get_user(self.db(), row.id)
            .await?
            .ok_or_else(|| ServiceError::not_found("user", username))
    }

    /// Deletes a user (admin only; not oneself; not the last admin; refused while it owns resources).
    pub async fn user_delete(&self, actor: &Actor, who: &str) -> ServiceResult<()> {
        actor.require_not_api("manage users")?;
        actor.require_admin("delete users")?;
        let row = self.user_get(actor, who).await?;
        if row.id == actor.user_id {
            return Err(ServiceError::Conflict("you cannot delete yourself".into()));
        }
        if row.role == UserRole::Admin && store::count_admins(self.db()).await? <= 1 {
            return Err(ServiceError::Conflict("cannot delete the last admin".into()));
        }
        let audit = self.audit(
            Some(actor),
            "user.delete",
            "user",
            Some(row.id),
            serde_json::json!({"username": row.username}),
        )?;
        match store::delete_user(self.db(), row.id, &audit).await {
            Ok(_) => Ok(()),
            Err(e) if matches!(&e, sqlx::Error::Database(d) if d.is_foreign_key_violation()) => {
                Err(ServiceError::Conflict(format!(
                    "{} still owns servers, certificates, monitors, channels or tasks: delete or reassign them first",
                    row.username
                )))
            }
            Err(e) => Err(e.into()),
        }
    }

    // ------------------------------------------------------------ API keys

    /// Creates an API key for the actor (or, for an admin, for another user). Returns the row
    /// and the secret, shown once: the caller authenticates with `<api_key>:<secret>`.
    /// `permissions`: `Read` keys may only read; `ReadWrite` keys may do what their user may
    /// (within the api role's limits).
    pub async fn apikey_create(
        &self,
        actor: &Actor,
        name: &str,
        expires_in_days: Option<i64>,
        permissions: ApiKeyPermissions,
        for_user: Option<&str>,
    ) -> ServiceResult<(ApiKeyRow, String)> {
        actor.require_not_api("manage API keys")?;
        let owner = match for_user {
            Some(u) => self.user_get(actor, u).await?,
            None => store::get_user(self.db(), actor.user_id)
                .await?
                .ok_or_else(|| ServiceError::not_found("user", actor.user_id))?,
        };
        let name = name.trim();
        if name.is_empty() {
            return Err(ServiceError::invalid("name", "is required"));
        }
        crate::domain::check_len("name", name, 50)?;
        let expires_at = match expires_in_days {
            Some(d) if !(1..=3650).contains(&d) => {
                return Err(ServiceError::invalid("expires", "must be 1 to 3650 days"))
            }
            Some(d) => Some(Utc::now() + Duration::days(d)),
            None => None,
        };
        let key = token::generate_api_key_id();
        let secret = token::generate_token();
        let hash = password::hash_password(&secret).map_err(ServiceError::Internal)?;
        let audit = self.audit(
            Some(actor),
            "apikey.create",
            "api_key",
            None,
            serde_json::json!({"name": name, "api_key": key, "user": owner.username, "permissions": permissions, "expires_at": expires_at}),
        )?;
        let id = store::insert_api_key(
            self.db(),
            &store::NewApiKey {
                user_id: owner.id,
                name,
                api_key: &key,
                secret_hash: &hash,
                permissions,
                expires_at,
            },
            &audit,
        )
        .await?;
        let row = store::get_api_key(self.db(), id)
            .await?
            .ok_or_else(|| ServiceError::Internal("api key vanished".into()))?;
        Ok((row, secret))
    }

    /// The actor's API keys (an admin: all, or one user's).
    pub async fn apikey_list(&self, actor: &Actor, page: Page) -> ServiceResult<Vec<ApiKeyRow>> {
        Ok(store::list_api_keys(self.db(), actor.scope(), page).await?)
    }

    async fn apikey_owned(&self, actor: &Actor, key_or_id: &str) -> ServiceResult<ApiKeyRow> {
        let row = match key_or_id.parse::<i64>() {
            Ok(id) => store::get_api_key(self.db(), id).await?,
            Err(_) => store::get_api_key_by_key(self.db(), key_or_id.trim()).await?,
        }
        .ok_or_else(|| ServiceError::not_found("api key", key_or_id))?;
        super::ensure_owner(actor, row.user_id, "api key", row.id)?;
        Ok(row)
    }

    /// Sets an API key's status: `inactive` can be re-enabled, `revoked` is final.
    pub async fn apikey_set_status(
        &self,
        actor: &Actor,
        key_or_id: &str,
        status: ApiKeyStatus,
    ) -> ServiceResult<ApiKeyRow> {
        actor.require_not_api("manage API keys")?;
        let row = self.apikey_owned(actor, key_or_id).await?;
        if row.status == ApiKeyStatus::Revoked && status != ApiKeyStatus::Revoked {
            return Err(ServiceError::Conflict(format!(
                "API key {} is revoked; revocation is final, create a new key",
                row.api_key
            )));
        }
        let audit = self.audit(
            Some(actor),
            &format!("apikey.{status}"),
            "api_key",
            Some(row.id),
            serde_json::json!({"api_key": row.api_key, "from": row.status, "to": status}),
        )?;
        store::set_api_key_status(self.db(), row.id, status, &audit).await?;
        self.apikey_owned(actor, &row.id.to_string()).await
    }
}
