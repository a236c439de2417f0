//! Configuration: defaults, overlaid by `config.toml`, then `CERTDECK_*` environment variables,
//! then command-line flags.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The settings of one run.
#[derive(Debug, Clone)]
pub struct Config {
    /// Database URL (`sqlite://…` default in the data dir, or `mysql://…`).
    pub database_url: String,
    /// Console theme name.
    pub theme: String,
    /// Console keymap name.
    pub keymap: String,
    /// Log level filter (tracing EnvFilter syntax).
    pub log_level: String,
    /// Master key file.
    pub master_key_path: PathBuf,
    /// Data dir (database, key file, logs).
    pub data_dir: PathBuf,
    /// Config dir (config.toml, session).
    pub config_dir: PathBuf,
    /// Database pool size.
    pub max_connections: u32,
    /// Console language (`en`, `zh-CN`); None: the user's setting, else `LANG`.
    pub language: Option<String>,
    /// Where the console's tasks run: `embedded` (in the console) or `external` (a
    /// `--serve-scheduler` daemon). Default: embedded for SQLite, external for MySQL.
    pub scheduler: String,
    /// Accept a MySQL server on another host without `ssl-mode=VERIFY_CA|VERIFY_IDENTITY`
    /// (`database_allow_unverified_tls`; default false: such a URL is refused).
    pub database_allow_unverified_tls: bool,
}

/// The file form of the configuration; every field optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Database URL.
    pub database_url: Option<String>,
    /// Theme.
    pub theme: Option<String>,
    /// Keymap.
    pub keymap: Option<String>,
    /// Log level.
    pub log_level: Option<String>,
    /// Master key file.
    pub master_key_path: Option<PathBuf>,
    /// Pool size.
    pub max_connections: Option<u32>,
    /// Console language.
    pub language: Option<String>,
    /// `embedded` or `external`.
    pub scheduler: Option<String>,
    /// Accept an unverified TLS connection to a MySQL server on another host.
    pub database_allow_unverified_tls: Option<bool>,
}

/// Values given on the command line.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    /// `--config`.
    pub config_path: Option<PathBuf>,
    /// `--database-url`.
    pub database_url: Option<String>,
}

/// A configuration problem.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {0}: {1}")]
    Read(PathBuf, std::io::Error),
    /// The file is not valid.
    #[error("config file {0} is invalid: {1}")]
    Parse(PathBuf, String),
    /// An environment variable has a bad value.
    #[error("environment variable {0}: {1}")]
    Env(String, String),
    /// No home directory to place files in.
    #[error("cannot find a home directory for certdeck's files: set CERTDECK_DATA_DIR and CERTDECK_CONFIG_DIR")]
    NoDirs,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

impl Config {
    /// Loads the configuration for this process.
    pub fn load(o: &Overrides) -> Result<Config, ConfigError> {
        let dirs = directories::ProjectDirs::from("", "", "certdeck");
        let data_dir = env("CERTDECK_DATA_DIR")
            .map(PathBuf::from)
            .or_else(|| dirs.as_ref().map(|d| d.data_dir().to_path_buf()))
            .ok_or(ConfigError::NoDirs)?;
        let config_dir = env("CERTDECK_CONFIG_DIR")
            .map(PathBuf::from)
            .or_else(|| dirs.as_ref().map(|d| d.config_dir().to_path_buf()))
            .ok_or(ConfigError::NoDirs)?;
        // A file named by --config or CERTDECK_CONFIG must exist; the default one may not.
        let explicit = o
            .config_path
            .clone()
            .or_else(|| env("CERTDECK_CONFIG").map(PathBuf::from));
        let path = explicit.clone().unwrap_or_else(|| config_dir.join("config.toml"));
        let file = if path.exists() || explicit.is_some() {
            read_file(&path)?
        } else {
            ConfigFile::default()
        };
        let default_db = format!("sqlite://{}", data_dir.join("certdeck.db").display());
        let database_url = o
            .database_url
            .clone()
            .or_else(|| env("CERTDECK_DATABASE_URL"))
            .or(file.database_url)
            .unwrap_or(default_db);
        let default_sqlite = database_url.starts_with("sqlite:");
        let database_allow_unverified_tls = match env("CERTDECK_DATABASE_ALLOW_UNVERIFIED_TLS") {
            Some(v) => match v.trim().to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" | "on" => true,
                "0" | "false" | "no" | "off" => false,
                _ => {
                    return Err(ConfigError::Env(
                        "CERTDECK_DATABASE_ALLOW_UNVERIFIED_TLS".into(),
                        format!("'{v}' is not true or false"),
                    ))
                }
            },
            None => file.database_allow_unverified_tls.unwrap_or(false),
        };
        Ok(Config {
            database_url,
            theme: env("CERTDECK_THEME").or(file.theme).unwrap_or_else(|| "default".into()),
            keymap: env("CERTDECK_KEYMAP")
                .or(file.keymap)
                .unwrap_or_else(|| "default".into()),
            log_level: env("CERTDECK_LOG_LEVEL")
                .or(file.log_level)
                .unwrap_or_else(|| "info".into()),
            master_key_path: env("CERTDECK_MASTER_KEY_FILE")
                .map(PathBuf::from)
                .or(file.master_key_path)
                .unwrap_or_else(|| data_dir.join("master.key")),
            max_connections: file.max_connections.unwrap_or(10).clamp(1, 200),
            language: env("CERTDECK_LANG").or(file.language),
            scheduler: env("CERTDECK_SCHEDULER").or(file.scheduler).unwrap_or_else(|| {
                if default_sqlite {
                    "embedded".into()
                } else {
                    "external".into()
                }
            }),
            database_allow_unverified_tls,
            data_dir,
            config_dir,
        })
    }

    /// The database pool settings of this configuration.
    pub fn pool_settings(&self) -> crate::store::PoolSettings {
        crate::store::PoolSettings {
            max_connections: self.max_connections,
            allow_unverified_tls: self.database_allow_unverified_tls,
            ..Default::default()
        }
    }

    /// Whether the database is the embedded SQLite.
    pub fn is_sqlite(&self) -> bool {
        self.database_url.starts_with("sqlite:")
    }
}

fn read_file(path: &Path) -> Result<ConfigFile, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read(path.to_path_buf(), e))?;
    toml::from_str(&text).map_err(|e| ConfigError::Parse(path.to_path_buf(), e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_values_apply_and_unknown_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(&p, "database_url = \"mysql://u:p@h/db\"\nlog_level = \"debug\"\n").unwrap();
        let f = read_file(&p).unwrap();
        assert_eq!(f.database_url.as_deref(), Some("mysql://u:p@h/db"));
        std::fs::write(&p, "databse_url = \"x\"\n").unwrap();
        let err = read_file(&p).unwrap_err().to_string();
        assert!(err.contains("databse_url"), "{err}");
    }
}
