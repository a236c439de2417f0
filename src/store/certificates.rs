//! `certificates`, `certificate_deployments` and `dns_challenges`.

use chrono::{DateTime, Utc};
use sqlx::{AssertSqlSafe, FromRow};

use super::audit::{insert_in, NewAudit};
use super::users::LastId;
use super::{ts, ts_opt, Arg, Db, Page, Where};
use crate::domain::{
    CertificateStatus, CertificateType, ChallengeStatus, ChallengeType, DeploymentStatus, EncryptionType,
};
use crate::{bind_args, on_db};

/// List projection columns: no PEM, no key.
const LIST_COLS: &str = "id, user_id, name, domains, main_domain, issuer, certificate_type, encryption_type, status, \
    issued_at, expires_at, auto_renew, renew_before_days, last_renewal_at, created_at, updated_at";

/// A certificate as listed (no PEM and no key).
#[derive(Debug, Clone, FromRow, serde::Serialize, schemars::JsonSchema)]
pub struct CertificateRow {
    /// Id.
    pub id: i64,
    /// Owner.
    pub user_id: i64,
    /// Name.
    pub name: Option<String>,
    /// Domains, a JSON array of strings.
    pub domains: String,
    /// Main domain.
    pub main_domain: String,
    /// Issuer CN (else O).
    pub issuer: Option<String>,
    /// Type.
    #[sqlx(try_from = "String")]
    pub certificate_type: CertificateType,
    /// Key algorithm.
    #[sqlx(try_from = "String")]
    pub encryption_type: EncryptionType,
    /// Status.
    #[sqlx(try_from = "String")]
    pub status: CertificateStatus,
    /// Not before.
    pub issued_at: Option<DateTime<Utc>>,
    /// Not after.
    pub expires_at: Option<DateTime<Utc>>,
    /// Renew automatically.
    pub auto_renew: bool,
    /// Days before expiry to renew.
    pub renew_before_days: i32,
    /// Last renewal.
    pub last_renewal_at: Option<DateTime<Utc>>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Updated.
    pub updated_at: DateTime<Utc>,
}

impl CertificateRow {
    /// The domains as a list.
    pub fn domain_list(&self) -> Vec<String> {
        serde_json::from_str(&self.domains).unwrap_or_else(|_| vec![self.main_domain.clone()])
    }
}

/// The PEM material and notes of a certificate.
#[derive(Clone, FromRow)]
pub struct CertificateMaterial {
    /// Leaf certificate PEM.
    pub certificate_pem: Option<String>,
    /// Sealed private key PEM.
    pub private_key_encrypted: Option<String>,
    /// Chain PEM.
    pub chain_pem: Option<String>,
    /// Notes.
    pub notes: Option<String>,
}

impl std::fmt::Debug for CertificateMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateMaterial")
            .field("has_certificate", &self.certificate_pem.is_some())
            .field("has_private_key", &self.private_key_encrypted.is_some())
            .finish_non_exhaustive()
    }
}

/// Values of a new certificate row.
#[derive(Debug, Clone)]
pub struct NewCertificate {
    /// Owner.
    pub user_id: i64,
    /// Name.
    pub name: Option<String>,
    /// Domains JSON.
    pub domains: String,
    /// Main domain.
    pub main_domain: String,
    /// Issuer.
    pub issuer: Option<String>,
    /// Type.
    pub certificate_type: CertificateType,
    /// Key algorithm.
    pub encryption_type: EncryptionType,
    /// Status.
    pub status: CertificateStatus,
    /// PEM material.
    pub material: CertificateMaterial,
    /// Not before.
    pub issued_at: Option<DateTime<Utc>>,
    /// Not after.
    pub expires_at: Option<DateTime<Utc>>,
    /// Auto renew.
    pub auto_renew: bool,
    /// Renew window.
    pub renew_before_days: i32,
}

/// Inserts a certificate with an audit row; returns its id.
/// `sealed` fills the key column once the row has its id (it is bound into the envelope).
pub async fn insert(
    db: &Db,
    c: &NewCertificate,
    sealed: Vec<super::secrets::SealOnInsert>,
    audit: &NewAudit,
) -> Result<i64, sqlx::Error> {
    crate::in_tx!(db, tx => {
        let id = sqlx::query(
            "INSERT INTO certificates (user_id, name, domains, main_domain, issuer, certificate_type, encryption_type, status, \
             certificate_pem, private_key_encrypted, chain_pem, issued_at, expires_at, auto_renew, renew_before_days, notes) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(c.user_id).bind(&c.name).bind(&c.domains).bind(&c.main_domain).bind(&c.issuer)
        .bind(c.certificate_type.as_str()).bind(c.encryption_type.as_str()).bind(c.status.as_str())
        .bind(&c.material.certificate_pem).bind(&c.material.private_key_encrypted).bind(&c.material.chain_pem)
        .bind(ts_opt(c.issued_at)).bind(ts_opt(c.expires_at)).bind(c.auto_renew).bind(c.renew_before_days)
        .bind(&c.material.notes)
        .execute(&mut **tx).await?.last_id();
        super::secrets::seal_inserted!(&mut **tx, id, sealed);
        insert_in!(&mut **tx, &audit.clone().with_resource_id(id));
        Ok::<i64, sqlx::Error>(id)
    })
}

/// A certificate by id (list projection).
pub async fn get(db: &Db, id: i64) -> Result<Option<CertificateRow>, sqlx::Error> {
    let sql = format!("SELECT {LIST_COLS} FROM certificates WHERE id = ?");
    on_db!(db, p => sqlx::query_as::<_, CertificateRow>(AssertSqlSafe(sql)).bind(id).fetch_optional(p).await)
}

/// A certificate's PEM material.
pub async fn get_material(db: &Db, id: i64) -> Result<Option<CertificateMaterial>, sqlx::Error> {
    on_db!(db, p => sqlx::query_as::<_, CertificateMaterial>(
        "SELECT certificate_pem, private_key_encrypted, chain_pem, notes FROM certificates WHERE id = ?")
        .bind(id).fetch_optional(p).await)
}

/// Order of the certificate list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CertOrder {
    /// Newest first (keyset on id).
    #[default]
    Newest,
    /// Soonest expiry first (keyset on expires_at, id); rows without expiry are left out.
    Expiry,
}

/// Filters of the certificate list, each backed by an index.
#[derive(Debug, Clone, Default)]
pub struct CertFilter {
    /// Owner scope (None = all).
    pub user_id: Option<i64>,
    /// Status.
    pub status: Option<CertificateStatus>,
    /// Type.
    pub certificate_type: Option<CertificateType>,
    /// Main domain exact match.
    pub main_domain: Option<String>,
    /// Expires at or after.
    pub expires_from: Option<DateTime<Utc>>,
    /// Expires before.
    pub expires_to: Option<DateTime<Utc>>,
    /// Order.
    pub order: CertOrder,
    /// Expiry-order cursor: rows after (expires_at, id).
    pub after_expiry: Option<(DateTime<Utc>, i64)>,
}

/// A page of certificates.
pub async fn list(db: &Db, f: &CertFilter, page: Page) -> Result<Vec<CertificateRow>, sqlx::Error> {
    let mut w = Where::new();
    w.and_opt("user_id = ?", f.user_id, Arg::I64);
    w.and_opt("status = ?", f.status, |v| Arg::Str(v.as_str().into()));
    w.and_opt("certificate_type = ?", f.certificate_type, |v| {
        Arg::Str(v.as_str().into())
    });
    w.and_opt("main_domain = ?", f.main_domain.clone(), Arg::Str);
    w.and_opt("expires_at >= ?", f.expires_from, |t| Arg::Time(ts(t)));
    w.and_opt("expires_at < ?", f.expires_to, |t| Arg::Time(ts(t)));
    let order = match f.order {
        CertOrder::Newest => {
            w.before("id", &page);
            "id DESC"
        }
        CertOrder::Expiry => {
            w.and("expires_at IS NOT NULL", []);
            if let Some((t, id)) = f.after_expiry {
                w.and(
                    "(expires_at > ? OR (expires_at = ? AND id > ?))",
                    [Arg::Time(ts(t)), Arg::Time(ts(t)), Arg::I64(id)],
                );
            }
            "expires_at ASC, id ASC"
        }
    };
    let sql = format!(
        "SELECT {LIST_COLS} FROM certificates{} ORDER BY {order} LIMIT {}",
        w.sql(),
        page.size()
    );
    on_db!(db, p => bind_args!(sqlx::query_as::<_, CertificateRow>(AssertSqlSafe(sql)), w.args.clone()).fetch_all(p).await)
}

/// Counts by status (dashboard), optionally of one user.
pub async fn count_by_status(db: &Db, user_id: Option<i64>) -> Result<Vec<(String, i64)>, sqlx::Error> {
    let mut w = Where::new();
    w.and_opt("user_id = ?", user_id, Arg::I64);
    let sql = format!(
        "SELECT status, COUNT(*) FROM certificates{} GROUP BY status ORDER BY status",
        w.sql()
    );
    on_db!(db, p => bind_args!(sqlx::query_as::<_, (String, i64)>(AssertSqlSafe(sql)), w.args.clone()).fetch_all(p).await)
}

/// Stores what an order produced: material, issuer, validity and status `issued`.
pub async fn set_issued(
    db: &Db,
    id: i64,
    material: &CertificateMaterial,
    issuer: Option<&str>,
    issued_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    on_db!(db, p => sqlx::query(
        "UPDATE certificates SET certificate_pem = ?, chain_pem = ?, private_key_encrypted = ?, issuer = ?, issued_at = ?, \
         expires_at = ?, status = 'issued', updated_at = ? WHERE id = ?")
        .bind(&material.certificate_pem).bind(&material.chain_pem).bind(&material.private_key_encrypted).bind(issuer)
        .bind(ts(issued_at)).bind(ts(expires_at)).bind(super::now()).bind(id)
        .execute(p).await.map(|_| ()))
}

/// Sets a certificate's status (e.g. `error` after a failed order).
pub async fn set_status(db: &Db, id: i64, status: CertificateStatus) -> Result<(), sqlx::Error> {
    on_db!(db, p => sqlx::query("UPDATE certificates SET status = ?, updated_at = ? WHERE id = ?")
        .bind(status.as_str()).bind(super::now()).bind(id).execute(p).await.map(|_| ()))
}

/// Deletes a certificate with its DNS challenges (refused while deployments reference it).
pub async fn delete(db: &Db, id: i64, audit: &NewAudit) -> Result<bool, sqlx::Error> {
    super::audited::delete_by_id(
        db,
        "certificates",
        id,
        &[
            "DELETE FROM dns_challenges WHERE certificate_id = ?",
            "DELETE FROM certificate_issuance WHERE certificate_id = ?",
        ],
        audit,
    )
    .await
}

// ---------------------------------------------------------------- certificate_deployments

/// A `certificate_deployments` row.
#[derive(Debug, Clone, FromRow, serde::Serialize, schemars::JsonSchema)]
pub struct DeploymentRow {
    /// Id.
    pub id: i64,
    /// Certificate.
    pub certificate_id: i64,
    /// Server.
    pub server_id: i64,
    /// Where the fullchain goes.
    pub deploy_path: String,
    /// The web server config that uses it.
    pub config_path: Option<String>,
    /// Status.
    #[sqlx(try_from = "String")]
    pub status: DeploymentStatus,
    /// Deploy again after each renewal.
    pub auto_deploy: bool,
    /// Last deploy.
    pub last_deploy_at: Option<DateTime<Utc>>,
    /// Last error.
    pub error_message: Option<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Updated.
    pub updated_at: DateTime<Utc>,
    /// Where the private key goes (default: the certificate path with `.key`).
    pub key_path: Option<String>,
    /// Host the deploy verification connects to (default: the server's hostname).
    pub verify_host: Option<String>,
    /// SNI name of the verification handshake (default: the certificate's main domain).
    pub verify_sni: Option<String>,
    /// Port of the verification handshake (default: the server's verify port, else 443).
    pub verify_port: Option<i32>,
    /// Serial (hex) of the certificate last deployed here.
    pub deployed_serial: Option<String>,
}

const DEPLOY_COLS: &str =
    "id, certificate_id, server_id, deploy_path, config_path, status, auto_deploy, last_deploy_at, \
    error_message, created_at, updated_at, key_path, verify_host, verify_sni, verify_port, deployed_serial";

/// Values of a new deployment binding.
#[derive(Debug, Clone, Default)]
pub struct NewDeployment {
    /// Certificate.
    pub certificate_id: i64,
    /// Server.
    pub server_id: i64,
    /// Fullchain path.
    pub deploy_path: String,
    /// Config that references it.
    pub config_path: Option<String>,
    /// Key path.
    pub key_path: Option<String>,
    /// Verify host.
    pub verify_host: Option<String>,
    /// Verify SNI.
    pub verify_sni: Option<String>,
    /// Verify port.
    pub verify_port: Option<i32>,
    /// Deploy after renewals.
    pub auto_deploy: bool,
}

/// Inserts a deployment binding; returns its id.
pub async fn insert_deployment(db: &Db, d: &NewDeployment, audit: &NewAudit) -> Result<i64, sqlx::Error> {
    crate::in_tx!(db, tx => {
        let id = sqlx::query("INSERT INTO certificate_deployments (certificate_id, server_id, deploy_path, config_path, \
            auto_deploy, key_path, verify_host, verify_sni, verify_port) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
            .bind(d.certificate_id).bind(d.server_id).bind(&d.deploy_path).bind(&d.config_path).bind(d.auto_deploy)
            .bind(&d.key_path).bind(&d.verify_host).bind(&d.verify_sni).bind(d.verify_port)
            .execute(&mut **tx).await?.last_id();
        insert_in!(&mut **tx, &audit.clone().with_resource_id(id));
        Ok::<i64, sqlx::Error>(id)
    })
}

/// A deployment by id.
pub async fn get_deployment(db: &Db, id: i64) -> Result<Option<DeploymentRow>, sqlx::Error> {
    let sql = format!("SELECT {DEPLOY_COLS} FROM certificate_deployments WHERE id = ?");
    on_db!(db, p => sqlx::query_as::<_, DeploymentRow>(AssertSqlSafe(sql)).bind(id).fetch_optional(p).await)
}

/// Deployments of a certificate or of a server.
pub async fn list_deployments(
    db: &Db,
    certificate_id: Option<i64>,
    server_id: Option<i64>,
) -> Result<Vec<DeploymentRow>, sqlx::Error> {
    let mut w = Where::new();
    w.and_opt("certificate_id = ?", certificate_id, Arg::I64);
    w.and_opt("server_id = ?", server_id, Arg::I64);
    let sql = format!(
        "SELECT {DEPLOY_COLS} FROM certificate_deployments{} ORDER BY id DESC LIMIT 1000",
        w.sql()
    );
    on_db!(db, p => bind_args!(sqlx::query_as::<_, DeploymentRow>(AssertSqlSafe(sql)), w.args.clone()).fetch_all(p).await)
}

/// A page of the deployments of a certificate and/or a server, newest first.
pub async fn list_deployments_page(
    db: &Db,
    certificate_id: Option<i64>,
    server_id: Option<i64>,
    page: Page,
) -> Result<Vec<DeploymentRow>, sqlx::Error> {
    let mut w = Where::new();
    w.before("id", &page);
    w.and_opt("certificate_id = ?", certificate_id, Arg::I64);
    w.and_opt("server_id = ?", server_id, Arg::I64);
    let sql = format!(
        "SELECT {DEPLOY_COLS} FROM certificate_deployments{} ORDER BY id DESC LIMIT {}",
        w.sql(),
        page.size()
    );
    on_db!(db, p => bind_args!(sqlx::query_as::<_, DeploymentRow>(AssertSqlSafe(sql)), w.args.clone()).fetch_all(p).await)
}

/// Deployments to every server entry on one machine (host name, case-insensitive, and SSH port).
pub async fn list_deployments_on_host(db: &Db, hostname: &str, port: i32) -> Result<Vec<DeploymentRow>, sqlx::Error> {
    let sql = format!(
        "SELECT {DEPLOY_COLS} FROM certificate_deployments WHERE server_id IN \
         (SELECT id FROM servers WHERE LOWER(hostname) = ? AND port = ?) ORDER BY id LIMIT 10000"
    );
    on_db!(db, p => sqlx::query_as::<_, DeploymentRow>(AssertSqlSafe(sql)).bind(hostname.to_lowercase()).bind(port).fetch_all(p).await)
}

/// Records the outcome of a deploy run: `deployed` (with the serial now served and the time) or
/// `failed` with the error.
pub async fn set_deployment_outcome(
    db: &Db,
    id: i64,
    status: DeploymentStatus,
    error: Option<&str>,
    serial: Option<&str>,
) -> Result<(), sqlx::Error> {
    let now = super::now();
    let deployed = status == DeploymentStatus::Deployed;
    on_db!(db, p => sqlx::query(
        "UPDATE certificate_deployments SET status = ?, error_message = ?, \
         deployed_serial = CASE WHEN ? THEN ? ELSE deployed_serial END, \
         last_deploy_at = CASE WHEN ? THEN ? ELSE last_deploy_at END WHERE id = ?")
        .bind(status.as_str()).bind(error).bind(deployed).bind(serial).bind(deployed).bind(now).bind(id)
        .execute(p).await.map(|_| ()))
}

/// Hands a deployment to its server's pull agent: status `pending` with no error (the agent
/// installs it at its next check-in and reports the outcome).
pub async fn set_deployment_pending(db: &Db, id: i64) -> Result<(), sqlx::Error> {
    let now = super::now();
    on_db!(db, p => sqlx::query(
        "UPDATE certificate_deployments SET status = 'pending', error_message = NULL, updated_at = ? WHERE id = ?")
        .bind(now).bind(id)
        .execute(p).await.map(|_| ()))
}

/// Forgets what the deployments of a server say was deployed (status back to `pending`, no
/// serial, no error): the server now names another machine, where none of it was done.
pub async fn reset_deployments_of_server(db: &Db, server_id: i64) -> Result<u64, sqlx::Error> {
    let now = super::now();
    on_db!(db, p => sqlx::query(
        "UPDATE certificate_deployments SET status = 'pending', deployed_serial = NULL, error_message = NULL, \
         updated_at = ? WHERE server_id = ?")
        .bind(now).bind(server_id)
        .execute(p).await.map(|r| r.rows_affected()))
}

/// Deletes a deployment binding.
pub async fn delete_deployment(db: &Db, id: i64, audit: &NewAudit) -> Result<bool, sqlx::Error> {
    super::audited::delete_by_id(db, "certificate_deployments", id, &[], audit).await
}

// ---------------------------------------------------------------- dns_challenges

/// A `dns_challenges` row.
#[derive(Debug, Clone, FromRow, serde::Serialize, schemars::JsonSchema)]
pub struct ChallengeRow {
    /// Id.
    pub id: i64,
    /// Certificate.
    pub certificate_id: i64,
    /// Domain.
    pub domain: String,
    /// Challenge kind.
    #[sqlx(try_from = "String")]
    pub challenge_type: ChallengeType,
    /// Record name.
    pub record_name: String,
    /// Record type.
    pub record_type: String,
    /// Record value.
    pub record_value: String,
    /// Status.
    #[sqlx(try_from = "String")]
    pub status: ChallengeStatus,
    /// Verified at.
    pub verified_at: Option<DateTime<Utc>>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Updated.
    pub updated_at: DateTime<Utc>,
}

/// The challenges of a certificate, newest first.
pub async fn list_challenges(db: &Db, certificate_id: i64, page: Page) -> Result<Vec<ChallengeRow>, sqlx::Error> {
    let sql = format!(
        "SELECT id, certificate_id, domain, challenge_type, record_name, record_type, record_value, status, verified_at, \
         created_at, updated_at FROM dns_challenges WHERE certificate_id = ? AND id < ? ORDER BY id DESC LIMIT {}",
        page.size()
    );
    on_db!(db, p => sqlx::query_as::<_, ChallengeRow>(AssertSqlSafe(sql)).bind(certificate_id).bind(page.cursor()).fetch_all(p).await)
}
