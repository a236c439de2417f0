//! argon2id password and API-secret hashing.

use argon2::{Argon2, PasswordHasher, PasswordVerifier};

/// Hashes a password with argon2id and a fresh random salt (PHC string).
pub fn hash_password(password: &str) -> Result<String, String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| format!("password hashing failed: {e}"))
}

/// Checks a password against a PHC hash; a malformed hash counts as a mismatch.
pub fn verify_password(password: &str, hash: &str) -> bool {
    Argon2::default().verify_password(password.as_bytes(), hash).is_ok()
}

/// A random password for a new account: 20 characters from an unambiguous alphabet.
pub fn generate_password() -> String {
    use rand::RngExt;
    const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    (0..20)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_differ_per_salt() {
        let a = hash_password("s3cret-pass").unwrap();
        let b = hash_password("s3cret-pass").unwrap();
        assert!(a.starts_with("$argon2id$"));
        assert_ne!(a, b);
        assert!(verify_password("s3cret-pass", &a));
        assert!(!verify_password("wrong", &a));
        assert!(!verify_password("s3cret-pass", "not a hash"));
        assert_eq!(generate_password().len(), 20);
    }
}
