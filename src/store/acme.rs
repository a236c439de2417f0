//! `acme_cas`, `acme_accounts`, `dns_providers` and `certificate_issuance` (V11).

use chrono::{DateTime, Utc};
use sqlx::FromRow;

use super::audit::{insert_in, NewAudit};
use super::secrets::SealOnInsert;
use super::users::LastId;
use super::{now, Db};
use crate::on_db;

/// A custom CA of a user.
#[derive(Debug, Clone, FromRow, serde::Serialize, schemars::JsonSchema)]
pub struct CaRow {
    /// Id.
    pub id: i64,
    /// Owner.
    pub user_id: i64,
    /// Name (unique per user).
    pub name: String,
    /// ACME directory URL.
    pub directory_url: String,
    /// Needs External Account Binding.
    pub eab_required: bool,
    /// Extra trust root for the directory's TLS (PEM), for private CAs.
    pub trust_root_pem: Option<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// External Account Binding key id.
    pub eab_kid: Option<String>,
    /// Sealed EAB HMAC key.
    #[serde(skip)]
    pub eab_hmac_encrypted: Option<String>,
}

/// Adds a custom CA.
/// `sealed`: the secrets sealed once the row has its id (the EAB HMAC key).
pub async fn insert_ca(db: &Db, c: &CaRow, sealed: Vec<SealOnInsert>, audit: &NewAudit) -> Result<i64, sqlx::Error> {
    crate::in_tx!(db, tx => {
        let id = sqlx::query("INSERT INTO acme_cas (user_id, name, directory_url, eab_required, trust_root_pem, eab_kid, eab_hmac_encrypted) \
            VALUES (?, ?, ?, ?, ?, ?, ?)")
            .bind(c.user_id).bind(&c.name).bind(&c.directory_url).bind(c.eab_required).bind(&c.trust_root_pem)
            .bind(&c.eab_kid).bind(&c.eab_hmac_encrypted)
            .execute(&mut **tx).await?.last_id();
        super::secrets::seal_inserted!(&mut **tx, id, sealed);
        insert_in!(&mut **tx, &audit.clone().with_resource_id(id));
        Ok::<i64, sqlx::Error>(id)
    })
}

/// A user's custom CAs.
pub async fn list_cas(db: &Db, user_id: i64) -> Result<Vec<CaRow>, sqlx::Error> {
    on_db!(db, p => sqlx::query_as::<_, CaRow>(
        "SELECT id, user_id, name, directory_url, eab_required, trust_root_pem, created_at, eab_kid, eab_hmac_encrypted \
         FROM acme_cas WHERE user_id = ? ORDER BY name")
        .bind(user_id).fetch_all(p).await)
}

/// An ACME account (credentials sealed).
#[derive(Clone, FromRow)]
pub struct AccountRow {
    /// Id.
    pub id: i64,
    /// Owner.
    pub user_id: i64,
    /// Directory URL.
    pub directory_url: String,
    /// Contact e-mail.
    pub contact_email: String,
    /// The account URL at the CA.
    pub account_url: String,
    /// Sealed credentials JSON.
    pub credentials_encrypted: String,
}

impl std::fmt::Debug for AccountRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountRow")
            .field("id", &self.id)
            .field("account_url", &self.account_url)
            .finish_non_exhaustive()
    }
}

/// The account of (user, directory, contact), if one was created.
pub async fn find_account(
    db: &Db,
    user_id: i64,
    directory: &str,
    email: &str,
) -> Result<Option<AccountRow>, sqlx::Error> {
    on_db!(db, p => sqlx::query_as::<_, AccountRow>(
        "SELECT id, user_id, directory_url, contact_email, account_url, credentials_encrypted FROM acme_accounts \
         WHERE user_id = ? AND directory_url = ? AND contact_email = ?")
        .bind(user_id).bind(directory).bind(email).fetch_optional(p).await)
}

/// Stores a new account; `None` when another process stored one for the same key first.
/// `sealed` fills `credentials_encrypted` once the row has its id.
pub async fn insert_account(
    db: &Db,
    a: &AccountRow,
    eab_kid: Option<&str>,
    sealed: Vec<SealOnInsert>,
    audit: &NewAudit,
) -> Result<Option<i64>, sqlx::Error> {
    let r = crate::in_tx!(db, tx => {
        let id = sqlx::query(
            "INSERT INTO acme_accounts (user_id, directory_url, contact_email, account_url, credentials_encrypted, eab_kid, tos_agreed_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?)")
            .bind(a.user_id).bind(&a.directory_url).bind(&a.contact_email).bind(&a.account_url)
            .bind(&a.credentials_encrypted).bind(eab_kid).bind(now())
            .execute(&mut **tx).await?.last_id();
        super::secrets::seal_inserted!(&mut **tx, id, sealed);
        insert_in!(&mut **tx, &audit.clone().with_resource_id(id));
        Ok::<i64, sqlx::Error>(id)
    });
    match r {
        Ok(id) => Ok(Some(id)),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(None),
        Err(e) => Err(e),
    }
}

/// A DNS provider (secrets sealed).
#[derive(Clone, FromRow, serde::Serialize, schemars::JsonSchema)]
pub struct DnsProviderRow {
    /// Id.
    pub id: i64,
    /// Owner.
    pub user_id: i64,
    /// Name.
    pub name: String,
    /// `rfc2136`.
    pub provider_type: String,
    /// Plain settings (JSON).
    #[schemars(with = "Option<serde_json::Value>")]
    pub settings: Option<sqlx::types::Json<serde_json::Value>>,
    /// Sealed secrets JSON.
    #[serde(skip)]
    pub secrets_encrypted: Option<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
}

impl std::fmt::Debug for DnsProviderRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DnsProviderRow")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("provider_type", &self.provider_type)
            .finish_non_exhaustive()
    }
}

const PROVIDER_COLS: &str = "id, user_id, name, provider_type, settings, secrets_encrypted, created_at";

/// Adds a DNS provider.
/// `sealed` fills `secrets_encrypted` once the row has its id.
pub async fn insert_provider(
    db: &Db,
    p: &DnsProviderRow,
    sealed: Vec<SealOnInsert>,
    audit: &NewAudit,
) -> Result<i64, sqlx::Error> {
    crate::in_tx!(db, tx => {
        let id = sqlx::query("INSERT INTO dns_providers (user_id, name, provider_type, settings, secrets_encrypted) VALUES (?, ?, ?, ?, ?)")
            .bind(p.user_id).bind(&p.name).bind(&p.provider_type).bind(&p.settings).bind(&p.secrets_encrypted)
            .execute(&mut **tx).await?.last_id();
        super::secrets::seal_inserted!(&mut **tx, id, sealed);
        insert_in!(&mut **tx, &audit.clone().with_resource_id(id));
        Ok::<i64, sqlx::Error>(id)
    })
}

/// One DNS provider.
pub async fn get_provider(db: &Db, id: i64) -> Result<Option<DnsProviderRow>, sqlx::Error> {
    let sql = format!("SELECT {PROVIDER_COLS} FROM dns_providers WHERE id = ?");
    on_db!(db, p => sqlx::query_as::<_, DnsProviderRow>(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(p).await)
}

/// A user's DNS providers (all for `None`).
pub async fn list_providers(db: &Db, user_id: Option<i64>) -> Result<Vec<DnsProviderRow>, sqlx::Error> {
    let sql = format!("SELECT {PROVIDER_COLS} FROM dns_providers WHERE (? IS NULL OR user_id = ?) ORDER BY name");
    on_db!(db, p => sqlx::query_as::<_, DnsProviderRow>(sqlx::AssertSqlSafe(sql)).bind(user_id).bind(user_id).fetch_all(p).await)
}

/// How a certificate is obtained.
#[derive(Debug, Clone, FromRow, serde::Serialize, schemars::JsonSchema)]
pub struct IssuanceRow {
    /// The certificate.
    pub certificate_id: i64,
    /// CA preset key or custom CA name.
    pub ca: String,
    /// Directory URL.
    pub directory_url: String,
    /// Account contact.
    pub contact_email: String,
    /// The account used (once created).
    pub account_id: Option<i64>,
    /// `dns-01` or `http-01`.
    pub challenge_type: String,
    /// DNS provider for dns-01.
    pub dns_provider_id: Option<i64>,
    /// Address of the standalone http-01 listener.
    pub http_listen: Option<String>,
    /// `ec256`, `rsa3072`, …
    pub key_type: String,
    /// Keep the key on renewal.
    pub key_reuse: bool,
    /// ACME profile.
    pub profile: Option<String>,
    /// Preferred chain (issuer CN).
    pub preferred_chain: Option<String>,
    /// http-01 through this server's webroot over SSH (instead of a local listener).
    pub http_server_id: Option<i64>,
    /// The webroot on that server (the challenge file goes under `.well-known/acme-challenge/`).
    pub webroot: Option<String>,
}

/// Stores how a certificate is obtained (replacing what was there).
pub async fn upsert_issuance(db: &Db, i: &IssuanceRow) -> Result<(), sqlx::Error> {
    crate::in_tx!(db, tx => {
        sqlx::query("DELETE FROM certificate_issuance WHERE certificate_id = ?").bind(i.certificate_id).execute(&mut **tx).await?;
        sqlx::query(
            "INSERT INTO certificate_issuance (certificate_id, ca, directory_url, contact_email, account_id, challenge_type, \
             dns_provider_id, http_listen, key_type, key_reuse, profile, preferred_chain, http_server_id, webroot) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
            .bind(i.certificate_id).bind(&i.ca).bind(&i.directory_url).bind(&i.contact_email).bind(i.account_id)
            .bind(&i.challenge_type).bind(i.dns_provider_id).bind(&i.http_listen).bind(&i.key_type).bind(i.key_reuse)
            .bind(&i.profile).bind(&i.preferred_chain).bind(i.http_server_id).bind(&i.webroot)
            .execute(&mut **tx).await?;
        Ok::<(), sqlx::Error>(())
    })
}

/// How a certificate is obtained, if set up.
pub async fn get_issuance(db: &Db, certificate_id: i64) -> Result<Option<IssuanceRow>, sqlx::Error> {
    on_db!(db, p => sqlx::query_as::<_, IssuanceRow>(
        "SELECT certificate_id, ca, directory_url, contact_email, account_id, challenge_type, dns_provider_id, http_listen, \
         key_type, key_reuse, profile, preferred_chain, http_server_id, webroot FROM certificate_issuance WHERE certificate_id = ?")
        .bind(certificate_id).fetch_optional(p).await)
}

/// The CA's renewal window for a certificate (RFC 9773), as last fetched.
#[derive(Debug, Clone, Default, FromRow, serde::Serialize, schemars::JsonSchema)]
pub struct AriState {
    /// Start of the suggested window.
    pub ari_window_start: Option<DateTime<Utc>>,
    /// End of the suggested window.
    pub ari_window_end: Option<DateTime<Utc>>,
    /// The moment chosen in the window (renewal is due from then on).
    pub ari_renew_at: Option<DateTime<Utc>>,
    /// When to ask the CA again (its Retry-After).
    pub ari_next_check_at: Option<DateTime<Utc>>,
    /// The CA's explanation of the window, if any.
    pub ari_explanation_url: Option<String>,
}

/// Reads the renewal-information state of a certificate.
pub async fn get_ari(db: &Db, certificate_id: i64) -> Result<Option<AriState>, sqlx::Error> {
    on_db!(db, p => sqlx::query_as::<_, AriState>(
        "SELECT ari_window_start, ari_window_end, ari_renew_at, ari_next_check_at, ari_explanation_url \
         FROM certificate_issuance WHERE certificate_id = ?")
        .bind(certificate_id).fetch_optional(p).await)
}

/// Stores the renewal-information state of a certificate.
pub async fn set_ari(db: &Db, certificate_id: i64, a: &AriState) -> Result<(), sqlx::Error> {
    on_db!(db, p => sqlx::query(
        "UPDATE certificate_issuance SET ari_window_start = ?, ari_window_end = ?, ari_renew_at = ?, \
         ari_next_check_at = ?, ari_explanation_url = ? WHERE certificate_id = ?")
        .bind(super::ts_opt(a.ari_window_start)).bind(super::ts_opt(a.ari_window_end))
        .bind(super::ts_opt(a.ari_renew_at)).bind(super::ts_opt(a.ari_next_check_at))
        .bind(&a.ari_explanation_url).bind(certificate_id)
        .execute(p).await.map(|_| ()))
}

/// Issued, auto-renewed ACME certificates whose renewal information is due to be (re)fetched.
pub async fn ari_checks_due(db: &Db, owner: Option<i64>, limit: i64) -> Result<Vec<i64>, sqlx::Error> {
    on_db!(db, p => sqlx::query_scalar::<_, i64>(
        "SELECT c.id FROM certificates c JOIN certificate_issuance i ON i.certificate_id = c.id \
         WHERE c.status = 'issued' AND c.auto_renew = TRUE AND c.expires_at IS NOT NULL \
         AND (i.ari_next_check_at IS NULL OR i.ari_next_check_at <= ?) AND (? IS NULL OR c.user_id = ?) \
         ORDER BY c.expires_at LIMIT ?")
        .bind(now()).bind(owner).bind(owner).bind(limit).fetch_all(p).await)
}

/// Records the account an issuance uses.
pub async fn set_issuance_account(db: &Db, certificate_id: i64, account_id: i64) -> Result<(), sqlx::Error> {
    on_db!(db, p => sqlx::query("UPDATE certificate_issuance SET account_id = ? WHERE certificate_id = ?")
        .bind(account_id).bind(certificate_id).execute(p).await.map(|_| ()))
}

/// Adds a `dns_challenges` row (pending); returns its id.
pub async fn insert_challenge(
    db: &Db,
    certificate_id: i64,
    domain: &str,
    challenge_type: &str,
    record_name: &str,
    record_type: &str,
    record_value: &str,
) -> Result<i64, sqlx::Error> {
    on_db!(db, p => sqlx::query(
        "INSERT INTO dns_challenges (certificate_id, domain, challenge_type, record_name, record_type, record_value) VALUES (?, ?, ?, ?, ?, ?)")
        .bind(certificate_id).bind(domain).bind(challenge_type).bind(record_name).bind(record_type).bind(record_value)
        .execute(p).await.map(|r| r.last_id()))
}

/// Marks challenge rows verified or failed.
pub async fn finish_challenges(db: &Db, ids: &[i64], verified: bool) -> Result<(), sqlx::Error> {
    let n = now();
    for id in ids {
        on_db!(db, p => sqlx::query(
            "UPDATE dns_challenges SET status = ?, verified_at = CASE WHEN ? THEN ? ELSE verified_at END WHERE id = ?")
            .bind(if verified { "verified" } else { "failed" }).bind(verified).bind(n).bind(id)
            .execute(p).await.map(|_| ()))?;
    }
    Ok(())
}
