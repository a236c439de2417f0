//! The one error type of the service boundary, shared by every face.

use thiserror::Error;

/// What went wrong with an operation, in words that tell the operator what to do next.
#[derive(Debug, Error)]
pub enum ServiceError {
    /// The row does not exist, or the actor may not see it (both look the same from outside).
    #[error("{resource} {id} not found")]
    NotFound {
        /// Kind of resource, e.g. `server`.
        resource: &'static str,
        /// The id or name that was looked up.
        id: String,
    },
    /// The actor is known but may not do this.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// Input was refused; nothing was changed.
    #[error("invalid {field}: {reason}")]
    Validation {
        /// The field (or flag) that holds the bad value.
        field: String,
        /// Why it was refused and what is accepted.
        reason: String,
    },
    /// The change conflicts with existing data (a unique value taken, a row still referenced).
    #[error("conflict: {0}")]
    Conflict(String),
    /// Authentication failed or is needed.
    #[error("{0}")]
    Unauthenticated(String),
    /// The password was right but is a one-time password: the login must set a new one
    /// (`Services::login_with_new_password`) before anything else works.
    #[error("{0}")]
    PasswordChangeRequired(String),
    /// A remote peer failed (database server, network).
    #[error("remote error: {0}")]
    Remote(String),
    /// A bug or an unexpected state; details are in the log file.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ServiceError {
    /// A validation error for `field`.
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        ServiceError::Validation {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// A not-found error.
    pub fn not_found(resource: &'static str, id: impl ToString) -> Self {
        ServiceError::NotFound {
            resource,
            id: id.to_string(),
        }
    }

    /// Exit code of a row not found (or not visible).
    pub const EXIT_NOT_FOUND: i32 = 3;
    /// Exit code of a refusal: not authenticated, a password to change first, or forbidden.
    pub const EXIT_DENIED: i32 = 4;
    /// Exit code of a conflict with existing data.
    pub const EXIT_CONFLICT: i32 = 5;
    /// Exit code of refused input.
    pub const EXIT_INVALID: i32 = 6;
    /// Exit code of a remote peer's failure (database server, SSH, ACME, DNS, network).
    pub const EXIT_REMOTE: i32 = 7;

    /// The exit code a CLI uses for this error (the one mapping; documented in the README):
    /// 3 not found, 4 unauthenticated or forbidden, 5 conflict, 6 invalid input, 7 remote
    /// failure, 1 internal.
    pub fn exit_code(&self) -> i32 {
        match self {
            ServiceError::NotFound { .. } => Self::EXIT_NOT_FOUND,
            ServiceError::Forbidden(_) | ServiceError::Unauthenticated(_) | ServiceError::PasswordChangeRequired(_) => {
                Self::EXIT_DENIED
            }
            ServiceError::Conflict(_) => Self::EXIT_CONFLICT,
            ServiceError::Validation { .. } => Self::EXIT_INVALID,
            ServiceError::Remote(_) => Self::EXIT_REMOTE,
            ServiceError::Internal(_) => 1,
        }
    }
}

/// Field names behind the design's unique indexes, so a violation can name what is taken.
const UNIQUE_INDEX_FIELDS: &[(&str, &str)] = &[
    ("idx_username", "username"),
    ("idx_email", "email"),
    ("idx_api_key", "api key"),
    ("idx_setting_key", "setting key"),
    ("idx_user_setting", "user setting key"),
    ("idx_server_group", "server group membership"),
    ("idx_cert_server", "deployment of this certificate to this server"),
    ("idx_alert_channel", "binding of this alert to this channel"),
    ("users.username", "username"),
    ("users.email", "email"),
    ("api_keys.api_key", "api key"),
    ("settings.setting_key", "setting key"),
    ("user_settings.user_id, user_settings.setting_key", "user setting key"),
    (
        "server_group_mappings.server_id, server_group_mappings.group_id",
        "server group membership",
    ),
    (
        "certificate_deployments.certificate_id, certificate_deployments.server_id",
        "deployment of this certificate to this server",
    ),
    (
        "alert_channel_bindings.alert_id, alert_channel_bindings.channel_id",
        "binding of this alert to this channel",
    ),
];

impl From<sqlx::Error> for ServiceError {
    fn from(err: sqlx::Error) -> Self {
        match &err {
            sqlx::Error::RowNotFound => ServiceError::Internal("row vanished during the operation".into()),
            sqlx::Error::Database(db) => {
                let msg = db.message().to_string();
                if db.is_unique_violation() {
                    let field = UNIQUE_INDEX_FIELDS
                        .iter()
                        .find(|(needle, _)| msg.contains(needle))
                        .map(|(_, f)| *f)
                        .unwrap_or("value");
                    return ServiceError::Conflict(format!("that {field} is already taken"));
                }
                if db.is_foreign_key_violation() {
                    return ServiceError::Conflict(
                        "the row is referenced by other rows (or references a missing one); remove those first".into(),
                    );
                }
                if db.is_check_violation() {
                    return ServiceError::invalid("value", format!("refused by the database: {msg}"));
                }
                tracing::error!(error = %msg, "database error");
                ServiceError::Internal(format!("database error: {msg}"))
            }
            sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::Tls(_) | sqlx::Error::PoolClosed => {
                ServiceError::Remote(format!("database unreachable: {err}"))
            }
            _ => {
                tracing::error!(error = %err, "database error");
                ServiceError::Internal(format!("database error: {err}"))
            }
        }
    }
}

/// Result of a service call.
pub type ServiceResult<T> = Result<T, ServiceError>;
