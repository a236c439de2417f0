//! A process-local memory of API-key secrets already verified, so that a busy key does not pay
//! an argon2id verification (tens of milliseconds, on purpose) on every request.
//!
//! Only the status checks are skipped, never the others: every request still reads the key row
//! (status, expiry, owner), so revoking or disabling a key takes effect at once. An entry holds
//! the SHA-256 of the secret (compared in constant time) and the stored hash it was verified
//! against: a changed hash, a wrong secret or an entry older than [`TTL`] means a full
//! verification again. It also throttles `last_used_at` writes to one a minute per key.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A verified secret is trusted without argon2 for this long.
pub const TTL: Duration = Duration::from_secs(300);
/// `last_used_at` is written at most this often per key by one process.
pub const TOUCH_EVERY: Duration = Duration::from_secs(60);
/// At most this many keys are remembered (the cache is cleared when full).
const MAX_ENTRIES: usize = 10_000;

struct Entry {
    stored_hash: String,
    digest: [u8; 32],
    verified_at: Instant,
    touched_at: Option<Instant>,
}

/// The cache of verified key secrets.
#[derive(Default)]
pub struct KeyCache {
    entries: Mutex<HashMap<i64, Entry>>,
}

impl std::fmt::Debug for KeyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyCache").finish_non_exhaustive()
    }
}

fn digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

impl KeyCache {
    /// Whether `secret` is the secret of key `id` whose stored hash is `stored_hash`: from memory
    /// when it was verified recently against the same hash, else by `verify` (argon2id).
    pub fn verify(&self, id: i64, secret: &str, stored_hash: &str, verify: impl FnOnce() -> bool) -> bool {
        let d = digest(secret);
        {
            let map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(e) = map.get(&id) {
                if e.stored_hash == stored_hash && e.verified_at.elapsed() < TTL && bool::from(e.digest.ct_eq(&d)) {
                    return true;
                }
            }
        }
        if !verify() {
            return false;
        }
        let mut map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        let touched_at = map.get(&id).and_then(|e| e.touched_at);
        map.insert(
            id,
            Entry {
                stored_hash: stored_hash.to_string(),
                digest: d,
                verified_at: Instant::now(),
                touched_at,
            },
        );
        true
    }

    /// Whether this process should write `last_used_at` for key `id` now (and notes that it did).
    pub fn should_touch(&self, id: i64) -> bool {
        let mut map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        match map.get_mut(&id) {
            Some(e) if e.touched_at.is_some_and(|t| t.elapsed() < TOUCH_EVERY) => false,
            Some(e) => {
                e.touched_at = Some(Instant::now());
                true
            }
            None => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_verified_secret_is_remembered_only_for_the_same_hash_and_secret() {
        let c = KeyCache::default();
        let mut calls = 0;
        assert!(c.verify(1, "s3cret", "hashA", || {
            calls += 1;
            true
        }));
        assert!(c.verify(1, "s3cret", "hashA", || unreachable!("remembered")));
        assert!(
            !c.verify(1, "wrong", "hashA", || false),
            "another secret is verified again"
        );
        assert!(
            !c.verify(1, "s3cret", "hashB", || false),
            "a changed stored hash is verified again"
        );
        assert!(!c.verify(2, "s3cret", "hashA", || false), "per key");
        assert_eq!(calls, 1);
        assert!(c.should_touch(1));
        assert!(!c.should_touch(1), "once a minute");
    }
}
