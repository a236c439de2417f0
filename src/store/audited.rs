//! Changes of one row by id that carry their audit row in the same transaction: the generic
//! update and delete every table module uses.

use super::audit::{self, NewAudit};
use super::{Arg, Db, Sets};

/// Updates one row by id with an audit row in the same transaction; returns whether the row exists.
pub async fn update_by_id(db: &Db, table: &str, id: i64, sets: &Sets, audit: &NewAudit) -> Result<bool, sqlx::Error> {
    let exists_sql = format!("SELECT COUNT(*) FROM {table} WHERE id = ?");
    if sets.is_empty() {
        let n: i64 =
            crate::on_db!(db, p => sqlx::query_scalar(sqlx::AssertSqlSafe(exists_sql)).bind(id).fetch_one(p).await)?;
        return Ok(n > 0);
    }
    let sql = format!("UPDATE {table} SET {} WHERE id = ?", sets.sql());
    let mut args = sets.args.clone();
    args.push(Arg::I64(id));
    crate::in_tx!(db, tx => {
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(exists_sql)).bind(id).fetch_one(&mut **tx).await?;
        if n > 0 {
            crate::bind_args!(sqlx::query(sqlx::AssertSqlSafe(sql)), args).execute(&mut **tx).await?;
            audit::insert_in!(&mut **tx, audit);
        }
        Ok::<bool, sqlx::Error>(n > 0)
    })
}

/// Deletes one row by id after running `dependents` (each `DELETE … WHERE x = ?` bound to the
/// id), with an audit row, in one transaction; returns whether the row existed.
pub async fn delete_by_id(
    db: &Db,
    table: &str,
    id: i64,
    dependents: &[&str],
    audit: &NewAudit,
) -> Result<bool, sqlx::Error> {
    let sql = format!("DELETE FROM {table} WHERE id = ?");
    crate::in_tx!(db, tx => {
        for d in dependents {
            sqlx::query(sqlx::AssertSqlSafe(*d)).bind(id).execute(&mut **tx).await?;
        }
        let n = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).execute(&mut **tx).await?.rows_affected();
        if n > 0 {
            audit::insert_in!(&mut **tx, audit);
        }
        Ok::<bool, sqlx::Error>(n > 0)
    })
}
