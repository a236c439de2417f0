//! Every sealed value in the database, for key rotation: read them all, write them back
//! re-sealed, and store the new key check value, in one transaction.

use sqlx::{AssertSqlSafe, FromRow};

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
    /// `certificates.private_key_encrypted`.
    CertificateKey,
    /// `alert_channels.config` → `secrets`.
    ChannelSecrets,
}

impl SealedColumn {
    /// Every sealed column.
    pub const ALL: [SealedColumn; 5] = [
        SealedColumn::ServerPassword,
        SealedColumn::ServerPrivateKey,
        SealedColumn::ServerToken,
        SealedColumn::CertificateKey,
        SealedColumn::ChannelSecrets,
    ];

    fn table_column(self) -> (&'static str, &'static str) {
        match self {
            SealedColumn::ServerPassword => ("servers", "password_encrypted"),
            SealedColumn::ServerPrivateKey => ("servers", "private_key_encrypted"),
            SealedColumn::ServerToken => ("servers", "token_encrypted"),
            SealedColumn::CertificateKey => ("certificates", "private_key_encrypted"),
            SealedColumn::ChannelSecrets => ("alert_channels", "config"),
        }
    }
}

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
