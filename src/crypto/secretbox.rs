//! AES-256-GCM envelopes for secrets at rest.
//!
//! An envelope is `v2:<key id>:<base64url(nonce ‖ ciphertext ‖ tag)>`: versioned, with a random
//! 96-bit nonce per value and the id of the key that sealed it, so a keyring can hold the old
//! and the new key during a rotation. The key id is the first 8 hex characters of the key check
//! value (KCV), which the database stores so that every host on one database proves it holds
//! the same key before it writes anything.
//!
//! A `v2` envelope is bound to its [`Place`] (table, column, row id) as AEAD associated data:
//! copied into another row or column it fails authentication instead of opening there. `v1`
//! envelopes (no binding, written by certdeck before the binding existed) are opened only by
//! [`Keyring::open_legacy`], which the start-up data migration uses to re-seal them in place.

use std::fmt;
use std::path::{Path, PathBuf};

use aes_gcm::aead::{Aead, Generate, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine;
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, Zeroizing};

const PREFIX: &str = "v2";
const LEGACY_PREFIX: &str = "v1";
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Errors of sealing and opening secrets.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The value is not an envelope this version understands.
    #[error("stored secret is not a certdeck envelope (corrupted, or written by another tool)")]
    Malformed,
    /// No key in the keyring has the envelope's key id.
    #[error("stored secret was sealed with key {0}, which is not in the keyring: is CERTDECK_MASTER_KEY / the key file the one this database uses?")]
    UnknownKey(String),
    /// Authentication failed: wrong key, tampered value, or a value copied from another place.
    #[error("stored secret of {0} failed authentication (wrong master key, or the value was altered or copied there from another row or column)")]
    Tampered(String),
    /// A `v1` envelope (not bound to its place) where only bound ones are accepted.
    #[error("stored secret of {0} is an unbound v1 envelope: certdeck re-seals those once at start (`certdeck db migrate`); a v1 value that appears later was copied in and is refused")]
    Unbound(String),
    /// The sealed value does not fit its column.
    #[error("secret is too long: {len} bytes sealed to {sealed} characters, more than the column's {max}; about {plain_max} bytes fit")]
    TooLong {
        /// Plaintext length.
        len: usize,
        /// Sealed length.
        sealed: usize,
        /// Column limit.
        max: usize,
        /// Largest plaintext that fits.
        plain_max: usize,
    },
    /// The master key text is invalid.
    #[error("invalid master key: {0}")]
    BadKey(String),
    /// Reading or writing the key file failed.
    #[error("key file {path}: {source}")]
    Io {
        /// The key file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// One 256-bit master key. Zeroed on drop; never printed by `Debug`.
#[derive(Clone)]
pub struct MasterKey {
    bytes: Zeroizing<[u8; 32]>,
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MasterKey({})", self.key_id())
    }
}

impl MasterKey {
    /// A new random key.
    pub fn generate() -> Self {
        let key = Key::<Aes256Gcm>::generate();
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(key.as_slice());
        MasterKey {
            bytes: Zeroizing::new(bytes),
        }
    }

    /// Parses the base64 (standard or URL-safe) text form of a key.
    pub fn from_base64(text: &str) -> Result<Self, SecretError> {
        let t = text.trim();
        let mut decoded = base64::engine::general_purpose::STANDARD
            .decode(t)
            .or_else(|_| B64.decode(t.trim_end_matches('=')))
            .map_err(|_| SecretError::BadKey("not base64".into()))?;
        if decoded.len() != 32 {
            let n = decoded.len();
            decoded.zeroize();
            return Err(SecretError::BadKey(format!("{n} bytes, expected 32")));
        }
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(&decoded);
        decoded.zeroize();
        Ok(MasterKey {
            bytes: Zeroizing::new(bytes),
        })
    }

    /// The base64 text form (for the key file; handle as a secret).
    pub fn to_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(*self.bytes))
    }

    /// The key check value stored in the database: 16 hex characters.
    pub fn check_value(&self) -> String {
        let mut h = Sha256::new();
        h.update(b"certdeck key check value v1");
        h.update(*self.bytes);
        crate::domain::certpem::hex(&h.finalize()[..8])
    }

    /// The key id carried by envelopes: the first 8 hex characters of the check value.
    pub fn key_id(&self) -> String {
        self.check_value()[..8].to_string()
    }

    fn cipher(&self) -> Aes256Gcm {
        let key: Key<Aes256Gcm> = (*self.bytes).into();
        Aes256Gcm::new(&key)
    }
}

/// Where a sealed value lives: bound into its envelope as AEAD associated data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Place<'a> {
    /// Table.
    pub table: &'a str,
    /// Column (or `column.field` for a value inside a JSON column).
    pub column: &'a str,
    /// Row id.
    pub row: i64,
}

impl<'a> Place<'a> {
    /// The place `table.column` of row `row`.
    pub fn new(table: &'a str, column: &'a str, row: i64) -> Self {
        Place { table, column, row }
    }

    fn aad(&self) -> Vec<u8> {
        format!("certdeck-secret-v2\0{}\0{}\0{}", self.table, self.column, self.row).into_bytes()
    }
}

impl fmt::Display for Place<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{} of row {}", self.table, self.column, self.row)
    }
}

/// The keys this process holds: the primary seals, every key opens what it sealed.
#[derive(Clone, Debug)]
pub struct Keyring {
    keys: Vec<MasterKey>,
}

impl Keyring {
    /// A keyring of one key.
    pub fn single(key: MasterKey) -> Self {
        Keyring { keys: vec![key] }
    }

    /// A keyring from base64 keys separated by commas, whitespace or newlines; the first is primary.
    pub fn parse(text: &str) -> Result<Self, SecretError> {
        let keys = text
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .flat_map(|l| l.split(|c: char| c == ',' || c.is_whitespace()))
            .filter(|s| !s.is_empty())
            .map(MasterKey::from_base64)
            .collect::<Result<Vec<_>, _>>()?;
        if keys.is_empty() {
            return Err(SecretError::BadKey("no key found".into()));
        }
        Ok(Keyring { keys })
    }

    /// Reads a key file.
    pub fn read_file(path: &Path) -> Result<Self, SecretError> {
        let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|source| SecretError::Io {
            path: path.to_path_buf(),
            source,
        })?);
        Keyring::parse(&text)
    }

    /// Writes the keyring to `path` with mode 0600 (atomically: temp file, then rename).
    pub fn write_file(&self, path: &Path) -> Result<(), SecretError> {
        let io = |source| SecretError::Io {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.exists()) {
            crate::fsutil::private_dir(dir).map_err(io)?;
        }
        let mut text = Zeroizing::new(String::from(
            "# certdeck master key(s): the first line seals, every line opens. Keep this file secret.\n",
        ));
        for k in &self.keys {
            text.push_str(&k.to_base64());
            text.push('\n');
        }
        crate::fsutil::write_private(path, text.as_bytes()).map_err(io)?;
        Ok(())
    }

    /// The key that seals new values.
    pub fn primary(&self) -> &MasterKey {
        &self.keys[0]
    }

    /// All keys, primary first.
    pub fn keys(&self) -> &[MasterKey] {
        &self.keys
    }

    /// Makes the key with this check value primary; false when no key matches.
    pub fn promote(&mut self, check_value: &str) -> bool {
        match self.keys.iter().position(|k| k.check_value() == check_value) {
            Some(i) => {
                let k = self.keys.remove(i);
                self.keys.insert(0, k);
                true
            }
            None => false,
        }
    }

    /// A keyring with `key` as the new primary and the current keys after it.
    pub fn with_new_primary(&self, key: MasterKey) -> Keyring {
        let mut keys = vec![key];
        keys.extend(self.keys.iter().cloned());
        Keyring { keys }
    }

    /// Seals a secret under the primary key, bound to `place`.
    pub fn seal(&self, place: &Place<'_>, plaintext: &[u8]) -> String {
        let key = self.primary();
        let nonce = Nonce::generate();
        let aad = place.aad();
        let ct = key
            .cipher()
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            .expect("AES-GCM encryption of an in-memory buffer cannot fail");
        let mut raw = Vec::with_capacity(12 + ct.len());
        raw.extend_from_slice(nonce.as_slice());
        raw.extend_from_slice(&ct);
        format!("{PREFIX}:{}:{}", key.key_id(), B64.encode(raw))
    }

    /// Seals a secret bound to `place` that must fit a column of `max` characters, refusing
    /// longer values.
    pub fn seal_for_column(&self, place: &Place<'_>, plaintext: &[u8], max: usize) -> Result<String, SecretError> {
        check_fits(plaintext.len(), max)?;
        Ok(self.seal(place, plaintext))
    }

    fn decrypt(
        &self,
        envelope: &str,
        prefix: &str,
        aad: &[u8],
        place: &str,
    ) -> Result<Zeroizing<Vec<u8>>, SecretError> {
        let mut parts = envelope.splitn(3, ':');
        let (Some(p), Some(kid), Some(body)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(SecretError::Malformed);
        };
        if p != prefix {
            return Err(if p == LEGACY_PREFIX {
                SecretError::Unbound(place.to_string())
            } else {
                SecretError::Malformed
            });
        }
        let key = self
            .keys
            .iter()
            .find(|k| k.key_id() == kid)
            .ok_or_else(|| SecretError::UnknownKey(kid.to_string()))?;
        let raw = B64.decode(body).map_err(|_| SecretError::Malformed)?;
        if raw.len() < 12 + 16 {
            return Err(SecretError::Malformed);
        }
        let (nonce, ct) = raw.split_at(12);
        let nonce = Nonce::try_from(nonce).map_err(|_| SecretError::Malformed)?;
        key.cipher()
            .decrypt(&nonce, Payload { msg: ct, aad })
            .map(Zeroizing::new)
            .map_err(|_| SecretError::Tampered(place.to_string()))
    }

    /// Opens an envelope sealed for `place`. An envelope sealed for another place (copied from
    /// another row or column), altered, or unbound (`v1`) is an error, never garbage.
    pub fn open(&self, place: &Place<'_>, envelope: &str) -> Result<Zeroizing<Vec<u8>>, SecretError> {
        self.decrypt(envelope, PREFIX, &place.aad(), &place.to_string())
    }

    /// Opens an envelope sealed for `place` holding UTF-8 text.
    pub fn open_string(&self, place: &Place<'_>, envelope: &str) -> Result<Zeroizing<String>, SecretError> {
        utf8(self.open(place, envelope)?)
    }

    /// Opens an unbound `v1` envelope (written before the place binding). Only the start-up
    /// migration that re-seals such values in place uses this.
    pub fn open_legacy(&self, envelope: &str) -> Result<Zeroizing<Vec<u8>>, SecretError> {
        self.decrypt(envelope, LEGACY_PREFIX, &[], "a v1 envelope")
    }

    /// Whether an envelope is an unbound `v1` one.
    pub fn is_legacy(envelope: &str) -> bool {
        envelope.starts_with("v1:")
    }

    /// Whether an envelope was sealed by the primary key (rotation skips those).
    pub fn is_sealed_by_primary(&self, envelope: &str) -> bool {
        envelope
            .split(':')
            .nth(1)
            .is_some_and(|kid| kid == self.primary().key_id())
    }
}

fn utf8(bytes: Zeroizing<Vec<u8>>) -> Result<Zeroizing<String>, SecretError> {
    String::from_utf8(bytes.to_vec())
        .map(Zeroizing::new)
        .map_err(|_| SecretError::Malformed)
}

/// Refuses a plaintext of `len` bytes whose envelope would not fit a column of `max` characters.
pub fn check_fits(len: usize, max: usize) -> Result<(), SecretError> {
    let sealed = sealed_len(len);
    if sealed > max {
        let plain_max = (0..=max).rev().find(|n| sealed_len(*n) <= max).unwrap_or(0);
        return Err(SecretError::TooLong {
            len,
            sealed,
            max,
            plain_max,
        });
    }
    Ok(())
}

/// The length of an envelope for a plaintext of `n` bytes.
pub fn sealed_len(n: usize) -> usize {
    PREFIX.len() + 1 + 8 + 1 + (12 + n + 16).div_ceil(3) * 4 - pad_of(12 + n + 16)
}

fn pad_of(n: usize) -> usize {
    match n % 3 {
        0 => 0,
        1 => 2,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HERE: Place<'static> = Place {
        table: "servers",
        column: "password_encrypted",
        row: 7,
    };

    #[test]
    fn seal_open_round_trip_and_wrong_key_is_a_clear_error() {
        let ring = Keyring::single(MasterKey::generate());
        let a = ring.seal(&HERE, b"hunter2");
        let b = ring.seal(&HERE, b"hunter2");
        assert_ne!(a, b, "a fresh nonce per value");
        assert_eq!(&*ring.open_string(&HERE, &a).unwrap(), "hunter2");
        assert!(!a.contains("hunter2"));

        let other = Keyring::single(MasterKey::generate());
        assert!(matches!(other.open(&HERE, &a), Err(SecretError::UnknownKey(_))));

        // Same key id but altered body: authentication fails, never garbage.
        let mut tampered = a.clone();
        let last = tampered.pop().unwrap();
        tampered.push(if last == 'A' { 'B' } else { 'A' });
        assert!(matches!(
            ring.open(&HERE, &tampered),
            Err(SecretError::Tampered(_) | SecretError::Malformed)
        ));
        assert!(matches!(ring.open(&HERE, "plain text"), Err(SecretError::Malformed)));
    }

    #[test]
    fn a_value_opens_only_at_its_place() {
        let ring = Keyring::single(MasterKey::generate());
        let a = ring.seal(&HERE, b"hunter2");
        for other in [
            Place::new("servers", "password_encrypted", 8),
            Place::new("servers", "token_encrypted", 7),
            Place::new("certificates", "password_encrypted", 7),
        ] {
            let e = ring.open(&other, &a).unwrap_err();
            assert!(matches!(e, SecretError::Tampered(_)), "{e}");
            assert!(e.to_string().contains(&other.to_string()), "{e}");
            assert!(e.to_string().contains("copied"), "{e}");
        }
    }

    #[test]
    fn legacy_envelopes_open_only_through_open_legacy() {
        let ring = Keyring::single(MasterKey::generate());
        let legacy = legacy_seal(&ring, b"old");
        assert!(Keyring::is_legacy(&legacy));
        assert_eq!(&*ring.open_legacy(&legacy).unwrap(), b"old");
        assert!(matches!(ring.open(&HERE, &legacy), Err(SecretError::Unbound(_))));
        let bound = ring.seal(&HERE, b"new");
        assert!(!Keyring::is_legacy(&bound));
        assert!(matches!(ring.open_legacy(&bound), Err(SecretError::Malformed)));
    }

    /// A `v1` envelope as certdeck wrote it before the place binding.
    fn legacy_seal(ring: &Keyring, plaintext: &[u8]) -> String {
        let key = ring.primary();
        let nonce = Nonce::generate();
        let ct = key.cipher().encrypt(&nonce, plaintext).unwrap();
        let mut raw = nonce.to_vec();
        raw.extend_from_slice(&ct);
        format!("v1:{}:{}", key.key_id(), B64.encode(raw))
    }

    #[test]
    fn rotation_keyring_opens_old_values_and_seals_with_new() {
        let old = Keyring::single(MasterKey::generate());
        let sealed_old = old.seal(&HERE, b"x");
        let ring = old.with_new_primary(MasterKey::generate());
        assert_eq!(&*ring.open(&HERE, &sealed_old).unwrap(), b"x");
        assert!(!ring.is_sealed_by_primary(&sealed_old));
        assert!(ring.is_sealed_by_primary(&ring.seal(&HERE, b"y")));
    }

    #[test]
    fn column_limit_is_exact() {
        let ring = Keyring::single(MasterKey::generate());
        for n in 0..200 {
            assert_eq!(ring.seal(&HERE, &vec![b'a'; n]).len(), sealed_len(n), "n={n}");
        }
        let err = ring.seal_for_column(&HERE, &[b'a'; 200], 255).unwrap_err();
        let SecretError::TooLong { plain_max, .. } = err else {
            panic!("{err}")
        };
        assert!(ring.seal_for_column(&HERE, &vec![b'a'; plain_max], 255).is_ok());
        assert!(ring.seal_for_column(&HERE, &vec![b'a'; plain_max + 1], 255).is_err());
        assert!((140..=160).contains(&plain_max));
    }

    #[test]
    fn key_file_round_trip_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        let ring = Keyring::single(MasterKey::generate());
        ring.write_file(&path).unwrap();
        let back = Keyring::read_file(&path).unwrap();
        assert_eq!(back.primary().check_value(), ring.primary().check_value());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        assert!(format!("{:?}", ring).contains("MasterKey("));
        assert!(!format!("{:?}", ring).contains(&*ring.primary().to_base64()));
    }
}
