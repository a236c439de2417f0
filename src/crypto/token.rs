//! Random bearer tokens and API key ids; only their SHA-256 is stored.

use crate::domain::certpem::{hex, sha256_hex};
use base64::Engine;

/// A random URL-safe token with 256 bits of entropy.
pub fn generate_token() -> String {
    use rand::RngExt;
    let bytes: [u8; 32] = rand::rng().random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A public API key id: `cdk_` and 24 lower-case hex characters.
pub fn generate_api_key_id() -> String {
    use rand::RngExt;
    let bytes: [u8; 12] = rand::rng().random();
    format!("cdk_{}", hex(&bytes))
}

/// The stored form of a high-entropy token: hex SHA-256. (Tokens are random, so a slow hash
/// adds nothing and a fast one allows an indexed lookup.)
pub fn token_hash(token: &str) -> String {
    sha256_hex(token.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_hash_stably() {
        let a = generate_token();
        assert_ne!(a, generate_token());
        assert_eq!(token_hash(&a), token_hash(&a));
        assert_eq!(token_hash(&a).len(), 64);
        assert!(generate_api_key_id().starts_with("cdk_"));
    }
}
