//! Cryptography the service needs: the secret box for values at rest, password hashing and
//! session/API tokens. Engines never see the master key; the service opens what it needs.

pub mod password;
pub mod secretbox;
pub mod token;

pub use secretbox::{Keyring, MasterKey, Place, SecretError};
