//! The CLI's failure type and its exit codes.
//!
//! | code | meaning |
//! |------|---------|
//! | 0 | success |
//! | 1 | the operation failed (a task or check that did not succeed, a local file error, an internal error) |
//! | 2 | usage: a bad command line (clap), or a missing `--yes` / target flag |
//! | 3 | not found (or not visible to you) |
//! | 4 | not logged in, authentication failed, or forbidden for your role |
//! | 5 | conflict with existing data (a name taken, a row still referenced) |
//! | 6 | invalid input: a value was refused, nothing was changed |
//! | 7 | a remote peer failed (database server, SSH, ACME CA, DNS, network) |
//!
//! `certdeck health` keeps its own codes (0 ok, 1 degraded, 2 down). The mapping of service
//! errors lives in [`ServiceError::exit_code`]; the CLI's own failures are classified here.

use crate::errors::ServiceError;

/// Exit code: the operation failed (or an internal error).
pub const EXIT_FAILURE: i32 = 1;
/// Exit code: usage error (the same code clap uses).
pub const EXIT_USAGE: i32 = 2;
/// Exit code: not found.
pub const EXIT_NOT_FOUND: i32 = ServiceError::EXIT_NOT_FOUND;
/// Exit code: not logged in, authentication failed, or forbidden.
pub const EXIT_DENIED: i32 = ServiceError::EXIT_DENIED;
/// Exit code: conflict with existing data.
pub const EXIT_CONFLICT: i32 = ServiceError::EXIT_CONFLICT;
/// Exit code: invalid input.
pub const EXIT_INVALID: i32 = ServiceError::EXIT_INVALID;
/// Exit code: a remote peer failed.
pub const EXIT_REMOTE: i32 = ServiceError::EXIT_REMOTE;

/// Why a command failed; its message follows `error: ` on stderr and its kind picks the exit code.
#[derive(Debug)]
pub enum CliError {
    /// A service operation failed; its kind picks the code ([`ServiceError::exit_code`]).
    Service(ServiceError),
    /// The command line cannot run as given (exit 2).
    Usage(String),
    /// A value on the command line or standard input was refused before reaching the service (exit 6).
    Invalid(String),
    /// Not logged in, or the session does not allow this (exit 4).
    Denied(String),
    /// The operation ran and did not succeed, or a local failure (exit 1).
    Failed(String),
}

impl CliError {
    /// The process exit code for this failure.
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Service(e) => e.exit_code(),
            CliError::Usage(_) => EXIT_USAGE,
            CliError::Invalid(_) => EXIT_INVALID,
            CliError::Denied(_) => EXIT_DENIED,
            CliError::Failed(_) => EXIT_FAILURE,
        }
    }
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CliError::Service(e) => write!(f, "{e}"),
            CliError::Usage(m) | CliError::Invalid(m) | CliError::Denied(m) | CliError::Failed(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for CliError {}

impl From<ServiceError> for CliError {
    fn from(e: ServiceError) -> Self {
        CliError::Service(e)
    }
}

impl From<String> for CliError {
    fn from(m: String) -> Self {
        CliError::Failed(m)
    }
}

impl From<&str> for CliError {
    fn from(m: &str) -> Self {
        CliError::Failed(m.to_string())
    }
}

/// Result of a CLI handler.
pub type CliResult<T> = Result<T, CliError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_its_documented_code() {
        let cases = [
            (CliError::from(ServiceError::not_found("server", 9)), 3),
            (ServiceError::Forbidden("x".into()).into(), 4),
            (ServiceError::Unauthenticated("x".into()).into(), 4),
            (ServiceError::PasswordChangeRequired("x".into()).into(), 4),
            (ServiceError::Conflict("x".into()).into(), 5),
            (ServiceError::invalid("port", "x").into(), 6),
            (ServiceError::Remote("x".into()).into(), 7),
            (ServiceError::Internal("x".into()).into(), 1),
            (CliError::Usage("x".into()), 2),
            (CliError::Invalid("x".into()), 6),
            (CliError::Denied("x".into()), 4),
            (CliError::Failed("x".into()), 1),
        ];
        for (e, code) in cases {
            assert_eq!(e.exit_code(), code, "{e:?}");
        }
    }

    #[test]
    fn the_message_is_the_service_message() {
        let e = CliError::from(ServiceError::not_found("server", 9));
        assert_eq!(e.to_string(), "server 9 not found");
    }
}
