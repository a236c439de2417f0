//! `certdeck_meta`: small facts about the installation (e.g. the master key check value).

use crate::on_db;

use super::Db;

/// The key under which the master key check value is stored.
pub const MASTER_KEY_CHECK: &str = "master_key_check";

/// Reads a meta value.
pub async fn get(db: &Db, key: &str) -> Result<Option<String>, sqlx::Error> {
    on_db!(db, p => sqlx::query_scalar::<_, Option<String>>("SELECT meta_value FROM certdeck_meta WHERE meta_key = ?")
        .bind(key).fetch_optional(p).await)
    .map(Option::flatten)
}

/// Inserts a meta value only if the key is absent; returns whether it was inserted.
/// Two hosts racing to set the first key: exactly one wins, the other reads the winner's.
pub async fn insert_if_absent(db: &Db, key: &str, value: &str) -> Result<bool, sqlx::Error> {
    let sql = match db {
        Db::MySql(_) => "INSERT IGNORE INTO certdeck_meta (meta_key, meta_value) VALUES (?, ?)",
        Db::Sqlite(_) => "INSERT OR IGNORE INTO certdeck_meta (meta_key, meta_value) VALUES (?, ?)",
    };
    let n = on_db!(db, p => sqlx::query(sql).bind(key).bind(value).execute(p).await?.rows_affected());
    Ok(n > 0)
}

/// Sets a meta value (inserted, or replaced when present).
pub async fn set(db: &Db, key: &str, value: &str) -> Result<(), sqlx::Error> {
    let sql = match db {
        Db::MySql(_) => "INSERT INTO certdeck_meta (meta_key, meta_value) VALUES (?, ?) ON DUPLICATE KEY UPDATE meta_value = VALUES(meta_value)",
        Db::Sqlite(_) => "INSERT INTO certdeck_meta (meta_key, meta_value) VALUES (?, ?) ON CONFLICT (meta_key) DO UPDATE SET meta_value = excluded.meta_value",
    };
    on_db!(db, p => sqlx::query(sql).bind(key).bind(value).execute(p).await.map(|_| ()))
}
