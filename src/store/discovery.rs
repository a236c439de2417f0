//! What a server check found: probe facts on `servers`, one `server_configs` row per config
//! file (upserted by path), and the sites of those files in `server_sites`.

use chrono::{DateTime, Utc};
use sqlx::{AssertSqlSafe, FromRow};

use super::{now, ts_opt, Db};
use crate::domain::{ConfigType, ServerStatus, ServerType};
use crate::on_db;

/// Probe facts of a server.
#[derive(Debug, Clone, Default)]
pub struct ProbeFacts {
    /// OS name.
    pub os_type: Option<String>,
    /// OS version.
    pub os_version: Option<String>,
    /// Web server version line.
    pub web_server_version: Option<String>,
    /// Detected type (None: leave as is).
    pub server_type: Option<ServerType>,
}

/// Records a check: `status` and `last_check_at`, and the probe facts when given.
pub async fn record_check(
    db: &Db,
    id: i64,
    status: ServerStatus,
    facts: Option<&ProbeFacts>,
) -> Result<(), sqlx::Error> {
    let n = now();
    match facts {
        Some(f) => on_db!(db, p => sqlx::query(
            "UPDATE servers SET status = ?, last_check_at = ?, os_type = COALESCE(?, os_type), \
             os_version = COALESCE(?, os_version), web_server_version = COALESCE(?, web_server_version), \
             server_type = COALESCE(?, server_type), updated_at = ? WHERE id = ?")
            .bind(status.as_str()).bind(n).bind(&f.os_type).bind(&f.os_version).bind(&f.web_server_version)
            .bind(f.server_type.map(|t| t.as_str())).bind(n).bind(id)
            .execute(p).await.map(|_| ())),
        None => {
            on_db!(db, p => sqlx::query("UPDATE servers SET status = ?, last_check_at = ?, updated_at = ? WHERE id = ?")
            .bind(status.as_str()).bind(n).bind(n).bind(id).execute(p).await.map(|_| ()))
        }
    }
}

/// One config file as read.
#[derive(Debug, Clone)]
pub struct FoundConfig {
    /// nginx, apache or system.
    pub config_type: ConfigType,
    /// Path on the server.
    pub path: String,
    /// Content, unless too large for the column.
    pub content: Option<String>,
    /// Why there is no content, if so.
    pub note: Option<String>,
}

/// A site as discovered.
#[derive(Debug, Clone, Default, FromRow, serde::Serialize, schemars::JsonSchema)]
pub struct SiteRow {
    /// Id (0 before insert).
    pub id: i64,
    /// Server.
    pub server_id: i64,
    /// File the block is in.
    pub config_path: String,
    /// Line of the block.
    pub line: i32,
    /// JSON array of names.
    pub server_names: String,
    /// Listen values, space separated.
    pub listen: Option<String>,
    /// TLS port.
    pub port: Option<i32>,
    /// Serves TLS.
    pub tls: bool,
    /// Certificate file.
    pub cert_path: Option<String>,
    /// Key file.
    pub key_path: Option<String>,
    /// Chain file.
    pub chain_path: Option<String>,
    /// Document root (nginx `root`, Apache `DocumentRoot`), where http-01 files can go.
    pub document_root: Option<String>,
    /// Subject of the certificate in use.
    pub cert_subject: Option<String>,
    /// JSON array of its SANs.
    pub cert_sans: Option<String>,
    /// Its issuer.
    pub cert_issuer: Option<String>,
    /// Its serial (hex).
    pub cert_serial: Option<String>,
    /// Its expiry.
    pub cert_not_after: Option<DateTime<Utc>>,
    /// SHA-256 of its DER.
    pub cert_sha256: Option<String>,
    /// Why it could not be read.
    pub cert_error: Option<String>,
    /// The managed certificate that is this one.
    pub certificate_id: Option<i64>,
    /// When found.
    pub discovered_at: DateTime<Utc>,
}

impl SiteRow {
    /// The names as a list.
    pub fn names(&self) -> Vec<String> {
        serde_json::from_str(&self.server_names).unwrap_or_default()
    }
}

/// Stores a discovery in one transaction: upserts every file found, marks files no longer found
/// inactive, and replaces the server's sites.
pub async fn save_discovery(
    db: &Db,
    server_id: i64,
    configs: &[FoundConfig],
    sites: &[SiteRow],
) -> Result<(), sqlx::Error> {
    let n = now();
    let upsert = match db {
        Db::MySql(_) => {
            "INSERT INTO server_configs (server_id, config_type, config_path, config_content, note, is_active, updated_at) \
             VALUES (?, ?, ?, ?, ?, TRUE, ?) ON DUPLICATE KEY UPDATE config_type = VALUES(config_type), \
             config_content = VALUES(config_content), note = VALUES(note), is_active = TRUE, updated_at = VALUES(updated_at)"
        }
        Db::Sqlite(_) => {
            "INSERT INTO server_configs (server_id, config_type, config_path, config_content, note, is_active, updated_at) \
             VALUES (?, ?, ?, ?, ?, 1, ?) ON CONFLICT (server_id, config_path) DO UPDATE SET config_type = excluded.config_type, \
             config_content = excluded.config_content, note = excluded.note, is_active = 1, updated_at = excluded.updated_at"
        }
    };
    crate::in_tx!(db, tx => {
        sqlx::query("UPDATE server_configs SET is_active = ? WHERE server_id = ?")
            .bind(false).bind(server_id).execute(&mut **tx).await?;
        for c in configs {
            sqlx::query(AssertSqlSafe(upsert))
                .bind(server_id).bind(c.config_type.as_str()).bind(&c.path).bind(&c.content).bind(&c.note).bind(n)
                .execute(&mut **tx).await?;
        }
        sqlx::query("DELETE FROM server_sites WHERE server_id = ?").bind(server_id).execute(&mut **tx).await?;
        for s in sites {
            sqlx::query(
                "INSERT INTO server_sites (server_id, config_path, line, server_names, listen, port, tls, cert_path, key_path, \
                 chain_path, cert_subject, cert_sans, cert_issuer, cert_serial, cert_not_after, cert_sha256, cert_error, \
                 certificate_id, discovered_at, document_root) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
                .bind(server_id).bind(&s.config_path).bind(s.line).bind(&s.server_names).bind(&s.listen).bind(s.port)
                .bind(s.tls).bind(&s.cert_path).bind(&s.key_path).bind(&s.chain_path).bind(&s.cert_subject)
                .bind(&s.cert_sans).bind(&s.cert_issuer).bind(&s.cert_serial).bind(ts_opt(s.cert_not_after))
                .bind(&s.cert_sha256).bind(&s.cert_error).bind(s.certificate_id).bind(n).bind(&s.document_root)
                .execute(&mut **tx).await?;
        }
        Ok::<(), sqlx::Error>(())
    })
}

const SITE_COLS: &str = "id, server_id, config_path, line, server_names, listen, port, tls, cert_path, key_path, chain_path, \
    cert_subject, cert_sans, cert_issuer, cert_serial, cert_not_after, cert_sha256, cert_error, certificate_id, discovered_at, \
    document_root";

/// The sites of a server, TLS first, by file and line.
pub async fn list_sites(db: &Db, server_id: i64) -> Result<Vec<SiteRow>, sqlx::Error> {
    let sql = format!("SELECT {SITE_COLS} FROM server_sites WHERE server_id = ? ORDER BY tls DESC, config_path, line");
    on_db!(db, p => sqlx::query_as::<_, SiteRow>(AssertSqlSafe(sql)).bind(server_id).fetch_all(p).await)
}

/// One site.
pub async fn get_site(db: &Db, id: i64) -> Result<Option<SiteRow>, sqlx::Error> {
    let sql = format!("SELECT {SITE_COLS} FROM server_sites WHERE id = ?");
    on_db!(db, p => sqlx::query_as::<_, SiteRow>(AssertSqlSafe(sql)).bind(id).fetch_optional(p).await)
}

/// Managed certificates of a user whose main domain is one of `names`: (id, certificate PEM).
pub async fn certs_for_names(
    db: &Db,
    user_id: i64,
    names: &[String],
) -> Result<Vec<(i64, Option<String>)>, sqlx::Error> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let marks = vec!["?"; names.len().min(50)].join(", ");
    let sql = format!(
        "SELECT id, certificate_pem FROM certificates WHERE user_id = ? AND main_domain IN ({marks}) LIMIT 100"
    );
    on_db!(db, p => {
        let mut q = sqlx::query_as::<_, (i64, Option<String>)>(AssertSqlSafe(sql)).bind(user_id);
        for n in names.iter().take(50) {
            q = q.bind(n);
        }
        q.fetch_all(p).await
    })
}
