//! The session file shared by the faces (CLI and console): the tokens of `certdeck login`, kept in a 0600
//! file in the config dir, one entry per database, like `gh auth login`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sha2::Digest;

use crate::service::auth::Session;
use crate::service::{Actor, Services};

/// What a saved session gave.
#[derive(Debug)]
pub enum Resumed {
    /// A valid session (refreshed and saved again when the access token had expired).
    Actor(Actor),
    /// No session saved for this database.
    None,
    /// The saved session no longer works (it was removed): whose it was, and why.
    Expired {
        /// The session's user.
        username: String,
        /// The service's reason.
        reason: String,
    },
}

/// The session file.
pub struct SessionStore {
    path: PathBuf,
}

#[derive(Default, serde::Serialize, serde::Deserialize)]
struct SessionFile {
    #[serde(default)]
    sessions: BTreeMap<String, Session>,
}

/// The key of a database in the session file (a hash of its URL without password).
pub fn database_key(url: &str) -> String {
    let redacted = crate::service::views::redact_url(url);
    crate::domain::certpem::hex(&sha2::Sha256::digest(redacted.as_bytes())[..12])
}

impl SessionStore {
    /// The store in `config_dir`.
    pub fn new(config_dir: &Path) -> Self {
        SessionStore {
            path: config_dir.join("session.json"),
        }
    }

    fn read(&self) -> SessionFile {
        std::fs::read_to_string(&self.path)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default()
    }

    fn write(&self, f: &SessionFile) -> std::io::Result<()> {
        // A config dir made here is private; an existing one is the operator's choice.
        if let Some(dir) = self.path.parent().filter(|d| !d.exists()) {
            crate::fsutil::private_dir(dir)?;
        }
        crate::fsutil::write_private(
            &self.path,
            serde_json::to_string_pretty(f).unwrap_or_default().as_bytes(),
        )
    }

    /// The session for a database.
    pub fn get(&self, db_key: &str) -> Option<Session> {
        self.read().sessions.remove(db_key)
    }

    /// Saves the session for a database.
    pub fn put(&self, db_key: &str, s: &Session) -> std::io::Result<()> {
        let mut f = self.read();
        f.sessions.insert(db_key.to_string(), s.clone());
        self.write(&f)
    }

    /// Forgets the session for a database.
    pub fn remove(&self, db_key: &str) -> std::io::Result<()> {
        let mut f = self.read();
        if f.sessions.remove(db_key).is_some() {
            self.write(&f)?;
        }
        Ok(())
    }

    /// Resumes the saved session of a database: its access token while valid, else a refresh
    /// (saved); a session that works no more is forgotten.
    pub async fn resume(&self, svc: &Services, db_key: &str) -> std::io::Result<Resumed> {
        let Some(session) = self.get(db_key) else {
            return Ok(Resumed::None);
        };
        if session.access_expires_at > chrono::Utc::now() {
            if let Ok(a) = svc.authenticate(&session.access_token).await {
                return Ok(Resumed::Actor(a));
            }
        }
        match svc.refresh_session(&session).await {
            Ok((a, fresh)) => {
                self.put(db_key, &fresh)?;
                Ok(Resumed::Actor(a))
            }
            Err(e) => {
                let _ = self.remove(db_key);
                Ok(Resumed::Expired {
                    username: session.username,
                    reason: e.to_string(),
                })
            }
        }
    }
}
