//! The migration runner (`certdeck::store::migrate`) on both backends: SQLite always, MariaDB
//! when `CERTDECK_TEST_MYSQL_URL` is set. Every test starts from an EMPTY database and runs the
//! shipped migrations itself.

mod common;
mod design;

use std::collections::BTreeSet;

use certdeck::store::migrate::{self, MigrationError, Script};
use certdeck::store::Db;
use common::{count, exec, TestDb};

const LATEST: i64 = 19;
/// Every shipped version.
const VERSIONS: &[i64] = &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19];
/// Settings rows at the latest version: V6 seeds 20, V13 adds the 3 dns-01 settings, V14 2 more, V16 1,
/// V17 the 2 target-policy settings.
const SETTINGS_AT_LATEST: i64 = 28;
const HISTORY: &str = "certdeck_schema_history";

/// Empty databases: SQLite, plus MariaDB when available.
async fn empty_dbs() -> Vec<TestDb> {
    let mut v = vec![common::empty_sqlite().await];
    if let Some(m) = common::empty_mysql().await {
        v.push(m);
    }
    v
}

/// Empty databases already migrated to the latest version (asserted).
async fn migrated_dbs() -> Vec<TestDb> {
    let dbs = empty_dbs().await;
    for t in &dbs {
        let applied = migrate::migrate(&t.db)
            .await
            .unwrap_or_else(|e| panic!("[{}] migrate: {e}", t.label()));
        assert_eq!(
            applied,
            VERSIONS.to_vec(),
            "[{}] migrate on an empty database",
            t.label()
        );
    }
    dbs
}

/// The tables of the database, sorted (SQLite's internal `sqlite_*` tables left out).
async fn tables(db: &Db) -> BTreeSet<String> {
    let r = match db {
        Db::MySql(p) => {
            sqlx::query_scalar::<_, String>(
                "SELECT CAST(TABLE_NAME AS CHAR) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()",
            )
            .fetch_all(p)
            .await
        }
        Db::Sqlite(p) => {
            sqlx::query_scalar::<_, String>(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
            )
            .fetch_all(p)
            .await
        }
    };
    r.unwrap().into_iter().collect()
}

async fn has_column(db: &Db, table: &str, column: &str) -> bool {
    let n = match db {
        Db::MySql(p) => sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND COLUMN_NAME = ?",
        )
        .bind(table)
        .bind(column)
        .fetch_one(p)
        .await,
        Db::Sqlite(p) => sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM pragma_table_info(?) WHERE name = ?")
            .bind(table)
            .bind(column)
            .fetch_one(p)
            .await,
    };
    n.unwrap() > 0
}

fn design_tables() -> BTreeSet<String> {
    design::TABLES.iter().map(|t| t.name.to_string()).collect()
}

/// Every design table plus certdeck_meta and the history table: the schema at version 7.
fn full_table_set() -> BTreeSet<String> {
    let mut s = design_tables();
    s.extend(design::EXTRA_TABLES.iter().map(|t| t.to_string()));
    s
}

async fn assert_at_latest(t: &TestDb) {
    let l = t.label();
    assert_eq!(
        migrate::current_version(&t.db).await.unwrap(),
        LATEST,
        "[{l}] current_version"
    );
    assert_eq!(
        tables(&t.db).await,
        full_table_set(),
        "[{l}] tables at version {LATEST}"
    );
    assert!(
        has_column(&t.db, "users", "failed_login_count").await,
        "[{l}] users.failed_login_count (V7)"
    );
    migrate::check(&t.db, true)
        .await
        .unwrap_or_else(|e| panic!("[{l}] check(require_current) at latest: {e}"));
}

#[tokio::test(flavor = "multi_thread")]
async fn fresh_database_migrates_1_to_7_and_a_second_migrate_applies_nothing() {
    common::init();
    for t in empty_dbs().await {
        let l = t.label();
        assert_eq!(migrate::latest_version(t.db.backend()), LATEST, "[{l}] latest_version");
        assert_eq!(
            migrate::current_version(&t.db).await.unwrap(),
            0,
            "[{l}] empty database is at 0"
        );
        let before = migrate::status(&t.db).await.unwrap();
        assert_eq!(before.len(), VERSIONS.len(), "[{l}] status lists every shipped version");
        assert!(
            before.iter().all(|s| !s.applied && s.checksum_ok.is_none() && !s.dirty),
            "[{l}] {before:?}"
        );

        let applied = migrate::migrate(&t.db).await.unwrap();
        assert_eq!(applied, (1..=LATEST).collect::<Vec<_>>(), "[{l}] first migrate");
        assert_at_latest(&t).await;

        let status = migrate::status(&t.db).await.unwrap();
        assert_eq!(
            status.iter().map(|s| s.version).collect::<Vec<_>>(),
            (1..=LATEST).collect::<Vec<_>>(),
            "[{l}]"
        );
        for s in &status {
            assert!(s.applied, "[{l}] V{} applied: {s:?}", s.version);
            assert_eq!(s.checksum_ok, Some(true), "[{l}] V{} checksum_ok: {s:?}", s.version);
            assert!(!s.dirty, "[{l}] V{} dirty: {s:?}", s.version);
            assert!(
                s.installed_on.as_deref().is_some_and(|d| d.starts_with("20")),
                "[{l}] V{} installed_on: {s:?}",
                s.version
            );
            assert!(!s.description.is_empty(), "[{l}] V{} description", s.version);
        }
        assert_eq!(
            count(&t.db, &format!("SELECT COUNT(*) FROM {HISTORY} WHERE success = TRUE")).await,
            VERSIONS.len() as i64,
            "[{l}]"
        );

        let again = migrate::migrate(&t.db).await.unwrap();
        assert!(again.is_empty(), "[{l}] second migrate applied {again:?}");
        assert_eq!(
            count(&t.db, &format!("SELECT COUNT(*) FROM {HISTORY}")).await,
            VERSIONS.len() as i64,
            "[{l}] history rows"
        );
        assert_eq!(
            count(&t.db, "SELECT COUNT(*) FROM settings").await,
            SETTINGS_AT_LATEST,
            "[{l}] V6 did not run twice"
        );
        assert_at_latest(&t).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn rollback_to_zero_drops_every_design_table_and_migrate_restores_them() {
    common::init();
    for t in migrated_dbs().await {
        let l = t.label();
        let reverted = migrate::rollback(&t.db, 0)
            .await
            .unwrap_or_else(|e| panic!("[{l}] rollback 0: {e}"));
        assert_eq!(reverted, (1..=LATEST).rev().collect::<Vec<_>>(), "[{l}] rollback to 0");
        // Only the (now empty) history table is left.
        assert_eq!(
            tables(&t.db).await,
            BTreeSet::from([HISTORY.to_string()]),
            "[{l}] tables after rollback to 0"
        );
        assert_eq!(
            count(&t.db, &format!("SELECT COUNT(*) FROM {HISTORY}")).await,
            0,
            "[{l}] history after rollback 0"
        );
        assert_eq!(migrate::current_version(&t.db).await.unwrap(), 0, "[{l}]");
        assert!(
            migrate::status(&t.db).await.unwrap().iter().all(|s| !s.applied),
            "[{l}] status after rollback 0"
        );
        if let Db::Sqlite(p) = &t.db {
            let left: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM sqlite_master WHERE type IN ('index', 'trigger', 'view') AND name NOT LIKE 'sqlite_%'",
            )
            .fetch_one(p)
            .await
            .unwrap();
            assert_eq!(left, 0, "[{l}] indexes/triggers left after rollback to 0");
        }

        let applied = migrate::migrate(&t.db).await.unwrap();
        assert_eq!(
            applied,
            (1..=LATEST).collect::<Vec<_>>(),
            "[{l}] migrate after rollback 0"
        );
        assert_at_latest(&t).await;
        assert_eq!(
            count(&t.db, "SELECT COUNT(*) FROM settings").await,
            SETTINGS_AT_LATEST,
            "[{l}] seed settings restored"
        );
        assert_eq!(
            count(&t.db, "SELECT COUNT(*) FROM scheduled_tasks").await,
            4,
            "[{l}] seed tasks restored"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn rollback_to_5_undoes_seed_data_and_extensions_and_migrate_reapplies_6_and_7() {
    common::init();
    for t in migrated_dbs().await {
        let l = t.label();
        let reverted = migrate::rollback(&t.db, 5)
            .await
            .unwrap_or_else(|e| panic!("[{l}] rollback 5: {e}"));
        assert_eq!(reverted, (6..=LATEST).rev().collect::<Vec<_>>(), "[{l}] rollback to 5");
        assert_eq!(migrate::current_version(&t.db).await.unwrap(), 5, "[{l}]");
        let mut at5 = design_tables();
        at5.insert(HISTORY.to_string());
        assert_eq!(
            tables(&t.db).await,
            at5,
            "[{l}] tables at version 5 (certdeck_meta gone)"
        );
        assert!(
            !has_column(&t.db, "users", "failed_login_count").await,
            "[{l}] U7 drops users.failed_login_count"
        );
        assert_eq!(
            count(&t.db, "SELECT COUNT(*) FROM settings").await,
            0,
            "[{l}] U6 removes the seed settings"
        );
        assert_eq!(
            count(&t.db, "SELECT COUNT(*) FROM scheduled_tasks").await,
            0,
            "[{l}] U6 removes the seed tasks"
        );
        let status = migrate::status(&t.db).await.unwrap();
        assert_eq!(
            status
                .iter()
                .filter(|s| s.applied)
                .map(|s| s.version)
                .collect::<Vec<_>>(),
            vec![1, 2, 3, 4, 5],
            "[{l}] {status:?}"
        );

        let applied = migrate::migrate(&t.db).await.unwrap();
        assert_eq!(
            applied,
            (6..=LATEST).collect::<Vec<_>>(),
            "[{l}] migrate after rollback 5"
        );
        assert_at_latest(&t).await;
        assert_eq!(
            count(&t.db, "SELECT COUNT(*) FROM settings").await,
            SETTINGS_AT_LATEST,
            "[{l}]"
        );
        assert_eq!(count(&t.db, "SELECT COUNT(*) FROM scheduled_tasks").await, 4, "[{l}]");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn rollback_and_remigrate_keep_user_rows_in_tables_the_undo_does_not_drop() {
    common::init();
    for t in migrated_dbs().await {
        let l = t.label();
        let db = &t.db;
        // Rows of an admin's real use, in tables that U7 alters (users, servers, certificates,
        // audit_logs) and in tables U6 deletes seed rows from (settings, scheduled_tasks).
        exec(db, "INSERT INTO users (username, email, password_hash, role, failed_login_count) VALUES ('ops', 'ops@example.test', 'h', 'admin', 3)").await;
        exec(
            db,
            "INSERT INTO servers (user_id, hostname) SELECT id, 'web1.example.test' FROM users WHERE username = 'ops'",
        )
        .await;
        exec(db, "INSERT INTO certificates (user_id, domains, main_domain, certificate_type, status, expires_at) SELECT id, '[\"example.test\"]', 'example.test', 'single', 'issued', '2030-01-01 00:00:00' FROM users WHERE username = 'ops'").await;
        exec(
            db,
            "INSERT INTO audit_logs (user_id, action) SELECT id, 'user.create' FROM users WHERE username = 'ops'",
        )
        .await;
        exec(
            db,
            "INSERT INTO settings (setting_key, setting_value) VALUES ('custom.banner', 'hello')",
        )
        .await;
        exec(
            db,
            "UPDATE settings SET setting_value = 'Europe/Paris' WHERE setting_key = 'system.timezone'",
        )
        .await;
        exec(db, "INSERT INTO scheduled_tasks (name, task_type, cron_expression, created_by) SELECT 'Ops check', 'server_check', '0 0 * * * *', id FROM users WHERE username = 'ops'").await;

        let rows = |db: &'_ Db| {
            let db = db.clone();
            async move {
                (
                    count(
                        &db,
                        "SELECT COUNT(*) FROM users WHERE username = 'ops' AND role = 'admin'",
                    )
                    .await,
                    count(&db, "SELECT COUNT(*) FROM servers WHERE hostname = 'web1.example.test'").await,
                    count(
                        &db,
                        "SELECT COUNT(*) FROM certificates WHERE main_domain = 'example.test' AND status = 'issued'",
                    )
                    .await,
                    count(&db, "SELECT COUNT(*) FROM audit_logs WHERE action = 'user.create'").await,
                    count(
                        &db,
                        "SELECT COUNT(*) FROM settings WHERE setting_key = 'custom.banner' AND setting_value = 'hello'",
                    )
                    .await,
                    count(&db, "SELECT COUNT(*) FROM scheduled_tasks WHERE name = 'Ops check'").await,
                )
            }
        };
        let all_there = (1, 1, 1, 1, 1, 1);
        assert_eq!(rows(db).await, all_there, "[{l}] rows before rollback");

        // Down to 6 (U8, U7): every row stays, the seed data too.
        assert_eq!(
            migrate::rollback(db, 6).await.unwrap(),
            (7..=LATEST).rev().collect::<Vec<_>>(),
            "[{l}]"
        );
        assert_eq!(rows(db).await, all_there, "[{l}] rows after rollback to 6");
        assert_eq!(
            count(db, "SELECT COUNT(*) FROM settings").await,
            21,
            "[{l}] 20 seed + 1 own setting after rollback to 6"
        );
        assert_eq!(count(db, "SELECT COUNT(*) FROM scheduled_tasks").await, 5, "[{l}]");
        assert_eq!(
            count(db, "SELECT COUNT(*) FROM settings WHERE setting_key = 'system.timezone' AND setting_value = 'Europe/Paris'").await,
            1,
            "[{l}] a changed seed setting survives U7"
        );
        assert_eq!(
            migrate::migrate(db).await.unwrap(),
            (7..=LATEST).collect::<Vec<_>>(),
            "[{l}]"
        );
        assert_eq!(rows(db).await, all_there, "[{l}] rows after re-migrating 7");
        // The column came back with its default: its old value (3) is gone, as documented by U7.
        assert_eq!(
            count(db, "SELECT failed_login_count FROM users WHERE username = 'ops'").await,
            0,
            "[{l}]"
        );

        // Down to 5 (U7, U6): U6 removes exactly the seed rows, not the admin's own.
        assert_eq!(
            migrate::rollback(db, 5).await.unwrap(),
            (6..=LATEST).rev().collect::<Vec<_>>(),
            "[{l}]"
        );
        assert_eq!(rows(db).await, all_there, "[{l}] rows after rollback to 5");
        assert_eq!(
            count(db, "SELECT COUNT(*) FROM settings").await,
            1,
            "[{l}] only the own setting is left at 5"
        );
        assert_eq!(
            count(db, "SELECT COUNT(*) FROM scheduled_tasks").await,
            1,
            "[{l}] only the own task is left at 5"
        );
        assert_eq!(
            migrate::migrate(db).await.unwrap(),
            (6..=LATEST).collect::<Vec<_>>(),
            "[{l}]"
        );
        assert_eq!(rows(db).await, all_there, "[{l}] rows after re-migrating 6 and 7");
        assert_eq!(
            count(db, "SELECT COUNT(*) FROM settings").await,
            SETTINGS_AT_LATEST + 1,
            "[{l}] seeds + 1 own"
        );
        assert_eq!(count(db, "SELECT COUNT(*) FROM scheduled_tasks").await, 5, "[{l}]");
        assert_at_latest(&t).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_edited_applied_migration_is_refused_by_check_migrate_and_rollback() {
    common::init();
    for t in migrated_dbs().await {
        let l = t.label();
        let other = vec![0xABu8; 48];
        let r = certdeck::on_db!(&t.db, p => sqlx::query("UPDATE certdeck_schema_history SET checksum = ? WHERE version = 3")
            .bind(&other)
            .execute(p)
            .await
            .map(|r| r.rows_affected()));
        assert_eq!(r.unwrap(), 1, "[{l}]");

        let e = migrate::check(&t.db, false)
            .await
            .expect_err("check must refuse an edited migration");
        assert!(matches!(e, MigrationError::Edited(3)), "[{l}] check: {e:?}");
        let msg = e.to_string();
        assert!(
            msg.contains("V3") && msg.contains("script has changed"),
            "[{l}] message: {msg}"
        );

        let e = migrate::migrate(&t.db)
            .await
            .expect_err("migrate must refuse an edited migration");
        assert!(matches!(e, MigrationError::Edited(3)), "[{l}] migrate: {e:?}");
        let e = migrate::rollback(&t.db, 2)
            .await
            .expect_err("rollback must refuse an edited migration");
        assert!(matches!(e, MigrationError::Edited(3)), "[{l}] rollback: {e:?}");

        let status = migrate::status(&t.db).await.unwrap();
        for s in &status {
            assert_eq!(
                s.checksum_ok,
                Some(s.version != 3),
                "[{l}] V{} checksum_ok: {s:?}",
                s.version
            );
        }
        // Nothing was changed by the refused calls.
        assert_at_latest_schema_only(&t).await;
    }
}

/// Like [`assert_at_latest`] without `check` (which is expected to fail in the caller).
async fn assert_at_latest_schema_only(t: &TestDb) {
    let l = t.label();
    assert_eq!(migrate::current_version(&t.db).await.unwrap(), LATEST, "[{l}]");
    assert_eq!(tables(&t.db).await, full_table_set(), "[{l}]");
    assert_eq!(
        count(&t.db, "SELECT COUNT(*) FROM settings").await,
        SETTINGS_AT_LATEST,
        "[{l}]"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_database_migrated_by_a_newer_certdeck_is_refused_with_upgrade_advice() {
    common::init();
    for t in migrated_dbs().await {
        let l = t.label();
        let r = certdeck::on_db!(&t.db, p => sqlx::query(
            "INSERT INTO certdeck_schema_history (version, description, success, checksum, execution_time) VALUES (99, 'from the future', ?, ?, 0)",
        )
        .bind(true)
        .bind(vec![1u8; 48])
        .execute(p)
        .await
        .map(|_| ()));
        r.unwrap();

        assert_eq!(migrate::current_version(&t.db).await.unwrap(), 99, "[{l}]");
        let e = migrate::check(&t.db, false)
            .await
            .expect_err("check must refuse a newer database");
        assert!(
            matches!(e, MigrationError::NewerDatabase { db: 99, ours: LATEST }),
            "[{l}] check: {e:?}"
        );
        let msg = e.to_string();
        assert!(
            msg.contains("99") && msg.contains("newer certdeck") && msg.contains("Upgrade"),
            "[{l}] message: {msg}"
        );
        let e = migrate::check(&t.db, true).await.unwrap_err();
        assert!(
            matches!(e, MigrationError::NewerDatabase { db: 99, ours: LATEST }),
            "[{l}] check(true): {e:?}"
        );
        let e = migrate::migrate(&t.db).await.unwrap_err();
        assert!(
            matches!(e, MigrationError::NewerDatabase { db: 99, ours: LATEST }),
            "[{l}] migrate: {e:?}"
        );
        let e = migrate::rollback(&t.db, 5).await.unwrap_err();
        assert!(
            matches!(e, MigrationError::NewerDatabase { db: 99, ours: LATEST }),
            "[{l}] rollback: {e:?}"
        );

        let status = migrate::status(&t.db).await.unwrap();
        let unknown = status
            .iter()
            .find(|s| s.version == 99)
            .expect("status lists the unknown version");
        assert!(unknown.applied && unknown.checksum_ok.is_none(), "[{l}] {unknown:?}");
        assert_eq!(tables(&t.db).await, full_table_set(), "[{l}] nothing changed");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn check_requiring_current_reports_pending_on_a_database_at_version_5() {
    common::init();
    for t in empty_dbs().await {
        let l = t.label();
        let first5: Vec<Script> = migrate::scripts(t.db.backend())
            .iter()
            .filter(|s| s.version <= 5)
            .copied()
            .collect();
        assert_eq!(first5.len(), 5, "[{l}]");
        migrate::migrate_scripts(&t.db, &first5)
            .await
            .unwrap_or_else(|e| panic!("[{l}] V1..V5: {e}"));
        assert_eq!(migrate::current_version(&t.db).await.unwrap(), 5, "[{l}]");

        migrate::check(&t.db, false)
            .await
            .unwrap_or_else(|e| panic!("[{l}] check(false) at 5: {e}"));
        let e = migrate::check(&t.db, true)
            .await
            .expect_err("check(true) at 5 must report pending migrations");
        assert!(
            matches!(e, MigrationError::Pending { db: 5, ours: LATEST }),
            "[{l}] {e:?}"
        );
        let msg = e.to_string();
        assert!(msg.contains("certdeck db migrate"), "[{l}] message: {msg}");

        assert_eq!(
            migrate::migrate(&t.db).await.unwrap(),
            (6..=LATEST).collect::<Vec<_>>(),
            "[{l}] migrate from 5"
        );
        assert_at_latest(&t).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn seed_data_is_25_settings_4_system_scheduled_tasks_and_no_users() {
    common::init();
    for t in migrated_dbs().await {
        let l = t.label();
        let db = &t.db;
        assert_eq!(
            count(db, "SELECT COUNT(*) FROM settings").await,
            SETTINGS_AT_LATEST,
            "[{l}] settings"
        );
        assert_eq!(
            count(db, "SELECT COUNT(DISTINCT setting_key) FROM settings").await,
            SETTINGS_AT_LATEST,
            "[{l}] distinct keys"
        );
        assert_eq!(count(db, "SELECT COUNT(*) FROM users").await, 0, "[{l}] no users");
        assert_eq!(count(db, "SELECT COUNT(*) FROM alerts").await, 0, "[{l}] no alerts");
        assert_eq!(
            count(db, "SELECT COUNT(*) FROM scheduled_tasks").await,
            4,
            "[{l}] scheduled_tasks"
        );
        assert_eq!(
            count(db, "SELECT COUNT(*) FROM scheduled_tasks WHERE created_by IS NULL AND is_active = TRUE AND next_run_at IS NULL").await,
            4,
            "[{l}] seed tasks: created_by NULL, active, next_run_at left to the scheduler"
        );
        let crons: BTreeSet<String> = certdeck::on_db!(db, p => sqlx::query_scalar::<_, String>(
            "SELECT cron_expression FROM scheduled_tasks",
        )
        .fetch_all(p)
        .await)
        .unwrap()
        .into_iter()
        .collect();
        let want: BTreeSet<String> = ["0 0 3 * * *", "0 30 */6 * * *", "0 0 2 * * *", "0 0 4 * * 0"]
            .into_iter()
            .map(String::from)
            .collect();
        assert_eq!(crons, want, "[{l}] cron expressions");
        // Every seeded cron expression parses as the 6-field (seconds-first) form the scheduler uses.
        for c in &crons {
            assert_eq!(c.split_whitespace().count(), 6, "[{l}] {c:?} has 6 fields");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn rollback_refuses_a_target_outside_0_to_the_current_version() {
    common::init();
    for t in migrated_dbs().await {
        let l = t.label();
        for bad in [-1, LATEST + 1, 99] {
            let e = migrate::rollback(&t.db, bad).await.expect_err("bad target");
            assert!(
                matches!(e, MigrationError::BadTarget(v) if v == bad),
                "[{l}] rollback({bad}): {e:?}"
            );
        }
        // Rolling back to the current version is a no-op.
        assert!(migrate::rollback(&t.db, LATEST).await.unwrap().is_empty(), "[{l}]");
        assert_at_latest(&t).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_migration_marked_failed_in_the_history_makes_the_database_dirty() {
    common::init();
    for t in migrated_dbs().await {
        let l = t.label();
        exec(
            &t.db,
            "UPDATE certdeck_schema_history SET success = FALSE WHERE version = 7",
        )
        .await;
        let e = migrate::check(&t.db, false).await.expect_err("dirty");
        assert!(matches!(e, MigrationError::Dirty(7)), "[{l}] check: {e:?}");
        assert!(e.to_string().contains("dirty"), "[{l}] {e}");
        let e = migrate::migrate(&t.db).await.expect_err("dirty");
        assert!(matches!(e, MigrationError::Dirty(7)), "[{l}] migrate: {e:?}");
        let status = migrate::status(&t.db).await.unwrap();
        assert!(
            status.iter().any(|s| s.version == 7 && s.dirty && !s.applied),
            "[{l}] {status:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_script_failing_part_way_is_rolled_back_on_sqlite_and_marked_dirty_on_mariadb() {
    common::init();
    const BROKEN: &[Script] = &[Script {
        version: 1,
        description: "broken",
        up: "-- V1: a good statement then a bad one\nCREATE TABLE half_done (id INTEGER NOT NULL);\nCREATE TABLE broken (;\n",
        down: "-- U1\nDROP TABLE IF EXISTS half_done;\n",
    }];
    for t in empty_dbs().await {
        let l = t.label();
        let e = migrate::migrate_scripts(&t.db, BROKEN)
            .await
            .expect_err("a broken script must fail");
        assert!(matches!(e, MigrationError::Other(_)), "[{l}] {e:?}");
        match t.db {
            Db::Sqlite(_) => {
                // One transaction: nothing of it stays, no history row.
                assert!(
                    !tables(&t.db).await.contains("half_done"),
                    "[{l}] half-applied script left a table"
                );
                assert_eq!(
                    count(&t.db, &format!("SELECT COUNT(*) FROM {HISTORY}")).await,
                    0,
                    "[{l}]"
                );
                migrate::check(&t.db, false).await.unwrap();
            }
            Db::MySql(_) => {
                // DDL commits implicitly: the first table stays and the version is marked dirty.
                assert!(
                    tables(&t.db).await.contains("half_done"),
                    "[{l}] expected the implicit commit"
                );
                let e = migrate::check(&t.db, false).await.expect_err("dirty");
                assert!(matches!(e, MigrationError::Dirty(1)), "[{l}] {e:?}");
                let e = migrate::migrate(&t.db).await.expect_err("dirty");
                assert!(matches!(e, MigrationError::Dirty(1)), "[{l}] {e:?}");
            }
        }
    }
}

/// `db status` and `db migrate` through the service (`SchemaAdmin`): status lists every
/// migration as pending on an empty database, migrate applies what is pending and leaves one audit row saying so, and a
/// second migrate has nothing to apply and writes nothing.
#[tokio::test]
async fn schema_status_and_migrate_are_service_operations_and_migrate_is_audited() {
    use certdeck::service::schema::SchemaAdmin;
    use certdeck::service::ClientInfo;
    for t in empty_dbs().await {
        let l = t.label();
        let admin = SchemaAdmin::connect(&t.url, &Default::default(), ClientInfo::default())
            .await
            .unwrap();
        let st = admin.status().await.unwrap();
        assert_eq!(st.migrations.len(), VERSIONS.len(), "[{l}]");
        assert!(st.migrations.iter().all(|m| !m.applied), "[{l}]");
        let report = admin.migrate().await.unwrap();
        assert_eq!(report.applied, VERSIONS.to_vec(), "[{l}]");
        assert_eq!(report.version, LATEST, "[{l}]");
        let audited = "SELECT COUNT(*) FROM audit_logs WHERE action = 'schema.migrate' AND user_id IS NULL";
        assert_eq!(count(&t.db, audited).await, 1, "[{l}]");
        let again = admin.migrate().await.unwrap();
        assert!(again.applied.is_empty(), "[{l}]");
        assert_eq!(count(&t.db, audited).await, 1, "[{l}] nothing applied, nothing audited");
        assert_eq!(admin.status().await.unwrap().problem, None, "[{l}]");
        admin.close().await;
    }
}
