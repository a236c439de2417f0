//! Every sealed value in the database: the one list of sealed columns (and so of the places
//! each envelope is bound to), sealing of new rows once their id is known, and for key rotation
//! and the start-up re-seal: read them all, write them back re-sealed, in one transaction.

use sqlx::{AssertSqlSafe, FromRow};

use crate::crypto::Place;

use super::audit::{insert_in, NewAudit};
use super::meta::MASTER_KEY_CHECK;
use super::Db;

/// Where a sealed value lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealedColumn {
    /// `servers.password_encrypted`.
    ServerPassword,
    /// `servers.private_key_encrypted`.
    ServerPrivateKey,
    /// `servers.token_encrypted`.
    ServerToken,
    /// `servers.key_passphrase_encrypted`.
    ServerKeyPassphrase,
    /// `certificates.private_key_encrypted`.
    CertificateKey,
    /// `acme_cas.eab_hmac_encrypted`.
    CaEabHmac,
    /// `acme_accounts.credentials_encrypted`.
    AcmeAccount,
    /// `dns_providers.secrets_encrypted`.
    DnsProviderSecrets,
    /// `alert_channels.config` → `secrets` (a JSON column holding the envelope in a field).
    ChannelSecrets,
}

impl SealedColumn {
    /// Every sealed column.
    pub const ALL: [SealedColumn; 9] = [
        SealedColumn::ServerPassword,
        SealedColumn::ServerPrivateKey,
        SealedColumn::ServerToken,
        SealedColumn::ServerKeyPassphrase,
        SealedColumn::CertificateKey,
        SealedColumn::CaEabHmac,
        SealedColumn::AcmeAccount,
        SealedColumn::DnsProviderSecrets,
        SealedColumn::ChannelSecrets,
    ];

    /// The table and the stored column.
    pub fn table_column(self) -> (&'static str, &'static str) {
        match self {
            SealedColumn::ServerPassword => ("servers", "password_encrypted"),
            SealedColumn::ServerPrivateKey => ("servers", "private_key_encrypted"),
            SealedColumn::ServerToken => ("servers", "token_encrypted"),
            SealedColumn::ServerKeyPassphrase => ("servers", "key_passphrase_encrypted"),
            SealedColumn::CertificateKey => ("certificates", "private_key_encrypted"),
            SealedColumn::CaEabHmac => ("acme_cas", "eab_hmac_encrypted"),
            SealedColumn::AcmeAccount => ("acme_accounts", "credentials_encrypted"),
            SealedColumn::DnsProviderSecrets => ("dns_providers", "secrets_encrypted"),
            SealedColumn::ChannelSecrets => ("alert_channels", "config"),
        }
    }

    /// Whether the envelope sits in the `secrets` field of a JSON column.
    pub fn in_json(self) -> bool {
        self == SealedColumn::ChannelSecrets
    }

    /// The place an envelope of this column in row `id` is bound to.
    pub fn place(self, id: i64) -> Place<'static> {
        let (table, column) = self.table_column();
        let column = if self.in_json() { "config.secrets" } else { column };
        Place::new(table, column, id)
    }
}

/// A sealing closure: from the new row's id to the stored text (an envelope, or for
/// [`SealedColumn::ChannelSecrets`] the whole config JSON).
type SealFn = Box<dyn FnOnce(i64) -> Result<String, String> + Send>;

/// A secret of a new row, sealed inside the INSERT's transaction once the row has its id (the
/// id is part of the envelope's associated data, so it cannot be sealed before). Until then
/// the column holds NULL (or a placeholder), which no reader ever sees.
pub struct SealOnInsert {
    column: SealedColumn,
    seal: SealFn,
}

impl std::fmt::Debug for SealOnInsert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SealOnInsert({:?})", self.column)
    }
}

impl SealOnInsert {
    /// `seal` turns the new row's id into the value stored in `column`.
    pub fn new(column: SealedColumn, seal: impl FnOnce(i64) -> Result<String, String> + Send + 'static) -> Self {
        SealOnInsert {
            column,
            seal: Box::new(seal),
        }
    }

    /// The column it fills.
    pub fn column(&self) -> SealedColumn {
        self.column
    }

    /// The stored text for row `id`.
    pub fn seal(self, id: i64) -> Result<(&'static str, &'static str, String), sqlx::Error> {
        let (table, column) = self.column.table_column();
        let v = (self.seal)(id).map_err(sqlx::Error::Protocol)?;
        Ok((table, column, v))
    }
}

/// Inside an INSERT's transaction: seals and writes each pending secret of row `$id`.
macro_rules! seal_inserted {
    ($conn:expr, $id:expr, $pending:expr) => {{
        for p in $pending {
            let (table, column, value) = p.seal($id)?;
            let sql = format!("UPDATE {table} SET {column} = ? WHERE id = ?");
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(value)
                .bind($id)
                .execute($conn)
                .await?;
        }
    }};
}
pub(crate) use seal_inserted;

/// One sealed value: the row and the stored text (an envelope, or the channel config JSON).
#[derive(Clone, FromRow)]
pub struct SealedValue {
    /// Row id.
    pub id: i64,
    /// Stored text.
    pub value: String,
}

impl std::fmt::Debug for SealedValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SealedValue(id={})", self.id)
    }
}

/// Every non-null value of a sealed column.
pub async fn read_all(db: &Db, col: SealedColumn) -> Result<Vec<SealedValue>, sqlx::Error> {
    let (table, column) = col.table_column();
    let sql = format!("SELECT id, CAST({column} AS CHAR) AS value FROM {table} WHERE {column} IS NOT NULL ORDER BY id");
    crate::on_db!(db, p => sqlx::query_as::<_, SealedValue>(AssertSqlSafe(sql)).fetch_all(p).await)
}

/// Writes re-sealed values and the new key check value in one transaction. Each update is
/// guarded by the old value, so a value changed meanwhile makes the whole rotation fail.
pub async fn write_all(
    db: &Db,
    updates: &[(SealedColumn, i64, String, String)],
    new_check_value: &str,
    old_check_value: &str,
    audit: &NewAudit,
) -> Result<Result<(), String>, sqlx::Error> {
    crate::in_tx!(db, tx => {
        let n = sqlx::query("UPDATE certdeck_meta SET meta_value = ? WHERE meta_key = ? AND meta_value = ?")
            .bind(new_check_value).bind(MASTER_KEY_CHECK).bind(old_check_value)
            .execute(&mut **tx).await?.rows_affected();
        if n != 1 {
            return Ok::<Result<(), String>, sqlx::Error>(Err("the database's key check value changed during rotation (another host rotated?)".into()));
        }
        for (col, id, old, new) in updates {
            let (table, column) = col.table_column();
            let sql = format!("UPDATE {table} SET {column} = ? WHERE id = ? AND CAST({column} AS CHAR) = ?");
            let n = sqlx::query(AssertSqlSafe(sql)).bind(new).bind(id).bind(old).execute(&mut **tx).await?.rows_affected();
            if n != 1 {
                return Err(sqlx::Error::Protocol(format!("{table}.{column} of row {id} changed during rotation; nothing was rotated")));
            }
        }
        insert_in!(&mut **tx, audit);
        Ok(Ok(()))
    })
}

/// Writes values re-sealed in place (same key: the start-up re-seal of unbound or plaintext
/// values), each guarded by its old value; a row changed meanwhile is left alone (counted out).
/// Returns how many rows were written.
pub async fn write_resealed(db: &Db, updates: &[(SealedColumn, i64, String, String)]) -> Result<u64, sqlx::Error> {
    crate::in_tx!(db, tx => {
        let mut written = 0u64;
        for (col, id, old, new) in updates {
            let (table, column) = col.table_column();
            let sql = format!("UPDATE {table} SET {column} = ? WHERE id = ? AND CAST({column} AS CHAR) = ?");
            written += sqlx::query(AssertSqlSafe(sql)).bind(new).bind(id).bind(old).execute(&mut **tx).await?.rows_affected();
        }
        Ok::<u64, sqlx::Error>(written)
    })
}

/// Rewrites the details of audit entries with one of `actions` through `redact` (which returns
/// whether it changed them), in one transaction; returns how many entries changed.
pub async fn redact_audit_details(
    db: &Db,
    actions: &[&str],
    redact: &(dyn Fn(&mut serde_json::Value) -> bool + Sync),
) -> Result<usize, sqlx::Error> {
    let marks = vec!["?"; actions.len()].join(", ");
    let sql = format!(
        "SELECT id, CAST(details AS CHAR) AS value FROM audit_logs WHERE action IN ({marks}) AND details IS NOT NULL ORDER BY id"
    );
    let rows: Vec<SealedValue> = crate::on_db!(db, p => {
        let mut q = sqlx::query_as::<_, SealedValue>(AssertSqlSafe(sql));
        for a in actions {
            q = q.bind(*a);
        }
        q.fetch_all(p).await
    })?;
    let mut changed = Vec::new();
    for r in rows {
        let Ok(mut v) = serde_json::from_str::<serde_json::Value>(&r.value) else {
            continue;
        };
        if redact(&mut v) {
            changed.push((r.id, v.to_string()));
        }
    }
    if changed.is_empty() {
        return Ok(0);
    }
    crate::in_tx!(db, tx => {
        for (id, details) in &changed {
            sqlx::query("UPDATE audit_logs SET details = ? WHERE id = ?").bind(details).bind(id).execute(&mut **tx).await?;
        }
        Ok::<(), sqlx::Error>(())
    })?;
    Ok(changed.len())
}
