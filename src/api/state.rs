//! What every handler can reach: the services, the limits and the API's own knobs.

use std::sync::Arc;
use std::time::Duration;

use super::rate::RateLimiter;
use crate::service::Services;

/// The API's own knobs (command-line flags of `--serve-api`).
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Largest accepted request body in bytes.
    pub max_body_bytes: usize,
    /// Time limit for producing a response (streams, once started, are not cut by it).
    pub request_timeout: Duration,
    /// Requests per second allowed per credential (0 = no limit); bursts of twice that.
    pub rate_per_key: u32,
    /// Requests per second allowed per source address (0 = no limit); bursts of twice that.
    pub rate_per_address: u32,
    /// Whether `/metrics` answers without a credential (else an admin's credential is needed).
    pub metrics_public: bool,
    /// At most this many per-certificate series on `/metrics` (soonest expiry first).
    pub metrics_max_certificates: usize,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            max_body_bytes: 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            rate_per_key: 50,
            rate_per_address: 100,
            metrics_public: false,
            metrics_max_certificates: 10_000,
        }
    }
}

/// What every handler can reach: the services (as the server process, before a caller is
/// known), the limits and the config.
#[derive(Clone)]
pub struct ApiState {
    /// The services of this process; handlers use [`Caller::services`] instead (it carries the
    /// client's address and user agent into audit rows).
    pub services: Services,
    /// Rate limits.
    pub limiter: Arc<RateLimiter>,
    /// Config.
    pub config: Arc<ApiConfig>,
}

impl ApiState {
    /// State over `services` with `config`.
    pub fn new(services: Services, config: ApiConfig) -> Self {
        ApiState {
            limiter: Arc::new(RateLimiter::new(config.rate_per_key, config.rate_per_address)),
            services,
            config: Arc::new(config),
        }
    }
}
