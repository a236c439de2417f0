//! Rate limits per credential and per source address: token buckets held in this process; a
//! refused request gets 429 and `Retry-After`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::problem::Problem;

/// Buckets not touched for this long are dropped (they would be full again anyway).
const IDLE: Duration = Duration::from_secs(600);

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Token buckets keyed by credential and by source address.
#[derive(Debug)]
pub struct RateLimiter {
    per_key: u32,
    per_address: u32,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    /// Limits of `per_key` and `per_address` requests per second (0 = none), bursts of twice that.
    pub fn new(per_key: u32, per_address: u32) -> Self {
        RateLimiter {
            per_key,
            per_address,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes a token for credential `key`; a problem with `Retry-After` when none is left.
    pub fn check_key(&self, key: &str) -> Result<(), Problem> {
        self.take(&format!("k:{key}"), self.per_key, Instant::now())
            .map_err(|wait| {
                Problem::too_many(
                    format!(
                        "too many requests with this credential (limit {} per second)",
                        self.per_key
                    ),
                    wait,
                )
            })
    }

    /// Takes a token for source address `addr`.
    pub fn check_address(&self, addr: &str) -> Result<(), Problem> {
        self.take(&format!("a:{addr}"), self.per_address, Instant::now())
            .map_err(|wait| {
                Problem::too_many(
                    format!("too many requests from {addr} (limit {} per second)", self.per_address),
                    wait,
                )
            })
    }

    /// One token from bucket `name` refilled at `rate` per second; `Err(seconds to wait)`.
    fn take(&self, name: &str, rate: u32, now: Instant) -> Result<(), u64> {
        if rate == 0 {
            return Ok(());
        }
        let rate = f64::from(rate);
        let burst = rate * 2.0;
        let mut map = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > 100_000 {
            map.retain(|_, b| now.duration_since(b.at) < IDLE);
        }
        let b = map.entry(name.to_string()).or_insert(Bucket { tokens: burst, at: now });
        let refill = now.duration_since(b.at).as_secs_f64() * rate;
        b.tokens = (b.tokens + refill).min(burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - b.tokens) / rate).ceil() as u64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_a_burst_then_asks_to_wait_and_refills() {
        let l = RateLimiter::new(2, 0);
        let t0 = Instant::now();
        for _ in 0..4 {
            assert!(l.take("k", 2, t0).is_ok());
        }
        assert_eq!(l.take("k", 2, t0), Err(1));
        assert!(l.take("k", 2, t0 + Duration::from_millis(600)).is_ok());
        assert!(l.take("other", 2, t0).is_ok());
        assert!(l.take("k", 0, t0).is_ok());
    }
}
