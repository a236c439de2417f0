//! `settings` (system-wide) and `user_settings` (per user).

use chrono::{DateTime, Utc};
use sqlx::{AssertSqlSafe, FromRow};

use super::audit::{insert_in, NewAudit};
use super::Db;
use crate::domain::SettingType;
use crate::on_db;

/// A `settings` row.
#[derive(Debug, Clone, FromRow, serde::Serialize, schemars::JsonSchema)]
pub struct SettingRow {
    /// Id.
    pub id: i64,
    /// Key.
    pub setting_key: String,
    /// Value as text.
    pub setting_value: Option<String>,
    /// Type of the value.
    #[sqlx(try_from = "String")]
    pub setting_type: SettingType,
    /// Description.
    pub description: Option<String>,
    /// Only admins change it; never deleted.
    pub is_system: bool,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Updated.
    pub updated_at: DateTime<Utc>,
}

const SETTING_COLS: &str =
    "id, setting_key, setting_value, setting_type, description, is_system, created_at, updated_at";

/// Every system setting, by key.
pub async fn list(db: &Db) -> Result<Vec<SettingRow>, sqlx::Error> {
    let sql = format!("SELECT {SETTING_COLS} FROM settings ORDER BY setting_key");
    on_db!(db, p => sqlx::query_as::<_, SettingRow>(AssertSqlSafe(sql)).fetch_all(p).await)
}

/// One system setting.
pub async fn get(db: &Db, key: &str) -> Result<Option<SettingRow>, sqlx::Error> {
    let sql = format!("SELECT {SETTING_COLS} FROM settings WHERE setting_key = ?");
    on_db!(db, p => sqlx::query_as::<_, SettingRow>(AssertSqlSafe(sql)).bind(key).fetch_optional(p).await)
}

/// Sets a system setting's value.
pub async fn set_value(db: &Db, key: &str, value: &str, audit: &NewAudit) -> Result<bool, sqlx::Error> {
    crate::in_tx!(db, tx => {
        let n = sqlx::query("UPDATE settings SET setting_value = ? WHERE setting_key = ?")
            .bind(value).bind(key).execute(&mut **tx).await?.rows_affected();
        insert_in!(&mut **tx, audit);
        Ok::<bool, sqlx::Error>(n > 0)
    })
}

/// Inserts a new (non-system) setting.
pub async fn insert(
    db: &Db,
    key: &str,
    value: &str,
    ty: SettingType,
    description: Option<&str>,
    audit: &NewAudit,
) -> Result<(), sqlx::Error> {
    crate::in_tx!(db, tx => {
        sqlx::query("INSERT INTO settings (setting_key, setting_value, setting_type, description, is_system) VALUES (?, ?, ?, ?, FALSE)")
            .bind(key).bind(value).bind(ty.as_str()).bind(description).execute(&mut **tx).await?;
        insert_in!(&mut **tx, audit);
        Ok::<(), sqlx::Error>(())
    })
}

/// Deletes a non-system setting; returns whether one was deleted.
pub async fn delete_non_system(db: &Db, key: &str, audit: &NewAudit) -> Result<bool, sqlx::Error> {
    crate::in_tx!(db, tx => {
        let n = sqlx::query("DELETE FROM settings WHERE setting_key = ? AND is_system = FALSE")
            .bind(key).execute(&mut **tx).await?.rows_affected();
        if n > 0 {
            insert_in!(&mut **tx, audit);
        }
        Ok::<bool, sqlx::Error>(n > 0)
    })
}

/// A `user_settings` row.
#[derive(Debug, Clone, FromRow, serde::Serialize, schemars::JsonSchema)]
pub struct UserSettingRow {
    /// Id.
    pub id: i64,
    /// Owner.
    pub user_id: i64,
    /// Key.
    pub setting_key: String,
    /// Value.
    pub setting_value: Option<String>,
    /// Type.
    #[sqlx(try_from = "String")]
    pub setting_type: SettingType,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Updated.
    pub updated_at: DateTime<Utc>,
}

const USER_SETTING_COLS: &str = "id, user_id, setting_key, setting_value, setting_type, created_at, updated_at";

/// A user's settings.
pub async fn list_user(db: &Db, user_id: i64) -> Result<Vec<UserSettingRow>, sqlx::Error> {
    let sql = format!("SELECT {USER_SETTING_COLS} FROM user_settings WHERE user_id = ? ORDER BY setting_key");
    on_db!(db, p => sqlx::query_as::<_, UserSettingRow>(AssertSqlSafe(sql)).bind(user_id).fetch_all(p).await)
}

/// Sets (insert or update) a user setting.
pub async fn upsert_user(
    db: &Db,
    user_id: i64,
    key: &str,
    value: &str,
    ty: SettingType,
    audit: &NewAudit,
) -> Result<(), sqlx::Error> {
    let sql = match db {
        Db::MySql(_) => "INSERT INTO user_settings (user_id, setting_key, setting_value, setting_type) VALUES (?, ?, ?, ?) \
                         ON DUPLICATE KEY UPDATE setting_value = VALUES(setting_value), setting_type = VALUES(setting_type)",
        Db::Sqlite(_) => "INSERT INTO user_settings (user_id, setting_key, setting_value, setting_type) VALUES (?, ?, ?, ?) \
                          ON CONFLICT (user_id, setting_key) DO UPDATE SET setting_value = excluded.setting_value, setting_type = excluded.setting_type",
    };
    crate::in_tx!(db, tx => {
        sqlx::query(sql).bind(user_id).bind(key).bind(value).bind(ty.as_str()).execute(&mut **tx).await?;
        insert_in!(&mut **tx, audit);
        Ok::<(), sqlx::Error>(())
    })
}

/// Deletes a user setting.
pub async fn delete_user(db: &Db, user_id: i64, key: &str, audit: &NewAudit) -> Result<bool, sqlx::Error> {
    crate::in_tx!(db, tx => {
        let n = sqlx::query("DELETE FROM user_settings WHERE user_id = ? AND setting_key = ?")
            .bind(user_id).bind(key).execute(&mut **tx).await?.rows_affected();
        if n > 0 {
            insert_in!(&mut **tx, audit);
        }
        Ok::<bool, sqlx::Error>(n > 0)
    })
}
