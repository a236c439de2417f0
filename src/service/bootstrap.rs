//! Opening the service layer: connect, migrate (or check), load and verify the master key,
//! re-seal secrets of older versions bound to their place (once), and create the first admin
//! when asked to.

use std::path::{Path, PathBuf};

use crate::crypto::{Keyring, MasterKey, SecretError};
use crate::domain::UserRole;
use crate::errors::{ServiceError, ServiceResult};
use crate::store::migrate::{self, MigrationError};
use crate::store::{meta, users as user_store, Db, PoolSettings};

use super::users::UserInput;
use super::{ClientInfo, Services};

/// Where the master key comes from.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// `CERTDECK_MASTER_KEY`: base64 keys, comma separated, first is primary.
    Env(String),
    /// A key file (created with mode 0600 on first start against a database without a key).
    File(PathBuf),
}

/// How to open the services.
#[derive(Debug, Clone)]
pub struct OpenOptions {
    /// Database URL.
    pub database_url: String,
    /// Apply pending migrations (false = `--no-migrate`: refuse if any are pending).
    pub migrate: bool,
    /// Master key source.
    pub key: KeySource,
    /// Pool limits.
    pub pool: PoolSettings,
    /// Client identity for audit rows.
    pub client: ClientInfo,
}

/// Errors of opening, each with what to do.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The database could not be reached.
    #[error("cannot open database {url}: {source}")]
    Connect {
        /// Redacted URL.
        url: String,
        /// Cause.
        source: sqlx::Error,
    },
    /// Migration problem.
    #[error(transparent)]
    Migration(#[from] MigrationError),
    /// Master key problem.
    #[error("master key: {0}")]
    Key(String),
    /// Database error.
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
}

impl From<SecretError> for OpenError {
    fn from(e: SecretError) -> Self {
        OpenError::Key(e.to_string())
    }
}

/// Connects, migrates or checks the schema, and verifies the master key against the database.
pub async fn open(opts: &OpenOptions) -> Result<Services, OpenError> {
    let db = Db::connect(&opts.database_url, &opts.pool)
        .await
        .map_err(|source| OpenError::Connect {
            url: crate::store::redact_url(&opts.database_url),
            source,
        })?;
    if opts.migrate {
        migrate::migrate(&db).await?;
    } else {
        migrate::check(&db, true).await?;
    }
    let keyring = load_keyring(&db, &opts.key).await?;
    let services = Services::new(db, keyring, opts.client.clone());
    // Once per database: secrets written before the place binding are re-sealed in place.
    services
        .secrets_bind_places()
        .await
        .map_err(|e| OpenError::Key(format!("binding the stored secrets to their place: {e}")))?;
    Ok(services)
}

/// Loads the keyring and proves it matches the database's key check value. The first host on
/// an empty database stores its key's check value; later hosts must hold the same key.
pub async fn load_keyring(db: &Db, source: &KeySource) -> Result<Keyring, OpenError> {
    let stored = meta::get(db, meta::MASTER_KEY_CHECK).await?;
    let mut ring = match source {
        KeySource::Env(text) => {
            Keyring::parse(text).map_err(|e| OpenError::Key(format!("CERTDECK_MASTER_KEY: {e}")))?
        }
        KeySource::File(path) if path.exists() => Keyring::read_file(path)?,
        KeySource::File(path) => {
            if let Some(kcv) = &stored {
                return Err(OpenError::Key(format!(
                    "this database's secrets are sealed with key {} but the key file {} does not exist. \
                     Copy the key file from a host that uses this database (mode 0600), or set CERTDECK_MASTER_KEY; \
                     a new key is never created for a database that already has one",
                    &kcv[..8.min(kcv.len())],
                    path.display()
                )));
            }
            let ring = Keyring::single(MasterKey::generate());
            ring.write_file(path)?;
            tracing::info!(path = %path.display(), "created a new master key file");
            ring
        }
    };
    match stored {
        Some(kcv) => {
            if !ring.promote(&kcv) {
                return Err(OpenError::Key(format!(
                    "the master key ({}) does not match this database's key ({}): use the key file or CERTDECK_MASTER_KEY \
                     of the hosts that share this database",
                    key_ids(&ring),
                    &kcv[..8.min(kcv.len())]
                )));
            }
        }
        None => {
            let kcv = ring.primary().check_value();
            if !meta::insert_if_absent(db, meta::MASTER_KEY_CHECK, &kcv).await? {
                // Another host stored its key first: ours must match it.
                let winner = meta::get(db, meta::MASTER_KEY_CHECK).await?.unwrap_or_default();
                if !ring.promote(&winner) {
                    return Err(OpenError::Key(format!(
                        "another host initialised this database with key {} first; copy its key here",
                        &winner[..8.min(winner.len())]
                    )));
                }
            }
        }
    }
    Ok(ring)
}

fn key_ids(ring: &Keyring) -> String {
    ring.keys().iter().map(|k| k.key_id()).collect::<Vec<_>>().join(", ")
}

/// Whether the database has an admin user.
pub async fn has_admin(services: &Services) -> ServiceResult<bool> {
    Ok(user_store::count_admins(services.db()).await? > 0)
}

/// Creates the first admin (`admin`) with a generated one-time password, if no admin exists.
/// Returns the password, which the caller shows once and never logs.
pub async fn create_initial_admin(services: &Services, email: &str) -> ServiceResult<Option<String>> {
    if has_admin(services).await? {
        return Ok(None);
    }
    let input = UserInput {
        username: "admin".into(),
        email: email.into(),
        password: None,
        role: UserRole::Admin,
        ..Default::default()
    };
    match services.user_create(None, &input).await {
        Ok((_, pw)) => Ok(pw),
        // Another process created it at the same moment.
        Err(ServiceError::Conflict(_)) if has_admin(services).await? => Ok(None),
        Err(e) => Err(e),
    }
}

/// The default key file path inside a data dir.
pub fn default_key_file(data_dir: &Path) -> PathBuf {
    data_dir.join("master.key")
}
