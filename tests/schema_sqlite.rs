//! The SQLite schema after `migrate`, held to the design document (transcribed by hand in
//! `tests/design/mod.rs`): the same tables, column names in the same order, NOT NULL-ness,
//! defaults, indexed columns (names prefixed `<table>_`), foreign keys, and the CHECKs and
//! triggers that stand in for ENUM / VARCHAR(n) / BOOLEAN / JSON / ON UPDATE.

mod common;
mod design;

use std::collections::BTreeMap;

use certdeck::store::{migrate, Db};
use sqlx::sqlite::SqlitePool;
use sqlx::Row;

use common::report;
use design::{Column, Index};

fn pool(db: &Db) -> &SqlitePool {
    match db {
        Db::Sqlite(p) => p,
        Db::MySql(_) => panic!("schema_sqlite needs a SQLite database"),
    }
}

/// The SQLite declared type for a design column (see migrations/README.md).
fn sqlite_type(c: &Column) -> &'static str {
    if c.ty.starts_with("bigint") || c.ty.starts_with("int") || c.ty.starts_with("tinyint") {
        "INTEGER"
    } else {
        "TEXT"
    }
}

/// The SQLite `dflt_value` for a design column (MariaDB spelling → SQLite spelling).
fn sqlite_default(c: &Column) -> Option<String> {
    match c.default {
        None | Some("NULL") => None,
        Some(design::CURRENT_TIMESTAMP) => Some("CURRENT_TIMESTAMP".into()),
        Some(d) => Some(d.to_string()),
    }
}

/// The CHECK text our SQLite dialect must carry for a design column, if any.
fn sqlite_check(c: &Column) -> Option<String> {
    let n = c.name;
    if let Some(list) = c.ty.strip_prefix("enum(").and_then(|s| s.strip_suffix(')')) {
        Some(format!("{n} IN ({})", list.replace("','", "', '")))
    } else if let Some(len) = c.ty.strip_prefix("varchar(").and_then(|s| s.strip_suffix(')')) {
        Some(format!("length({n}) <= {len}"))
    } else if c.ty == design::BOOLEAN {
        Some(format!("{n} IN (0, 1)"))
    } else if c.is_json() {
        Some(format!("json_valid({n})"))
    } else {
        None
    }
}

struct LiveColumn {
    name: String,
    ty: String,
    not_null: bool,
    default: Option<String>,
    pk: bool,
}

struct LiveIndex {
    columns: Vec<String>,
    unique: bool,
    origin: String,
    partial: bool,
}

async fn columns(p: &SqlitePool, table: &str) -> Vec<LiveColumn> {
    sqlx::query("SELECT name, type, \"notnull\", dflt_value, pk FROM pragma_table_info(?) ORDER BY cid")
        .bind(table)
        .fetch_all(p)
        .await
        .unwrap()
        .into_iter()
        .map(|r| LiveColumn {
            name: r.get(0),
            ty: r.get(1),
            not_null: r.get::<i64, _>(2) != 0,
            default: r.get(3),
            pk: r.get::<i64, _>(4) != 0,
        })
        .collect()
}

async fn indexes(p: &SqlitePool, table: &str) -> BTreeMap<String, LiveIndex> {
    let mut out = BTreeMap::new();
    let list = sqlx::query("SELECT name, \"unique\", origin, partial FROM pragma_index_list(?)")
        .bind(table)
        .fetch_all(p)
        .await
        .unwrap();
    for r in list {
        let name: String = r.get(0);
        let columns: Vec<String> = sqlx::query_scalar("SELECT name FROM pragma_index_info(?) ORDER BY seqno")
            .bind(&name)
            .fetch_all(p)
            .await
            .unwrap();
        out.insert(
            name,
            LiveIndex {
                columns,
                unique: r.get::<i64, _>(1) != 0,
                origin: r.get(2),
                partial: r.get::<i64, _>(3) != 0,
            },
        );
    }
    out
}

fn show_index(i: &Index) -> String {
    format!("{}({})", if i.unique { "UNIQUE " } else { "" }, i.columns.join(", "))
}

fn show_live_index(i: &LiveIndex) -> String {
    format!(
        "{}({}) origin {}{}",
        if i.unique { "UNIQUE " } else { "" },
        i.columns.join(", "),
        i.origin,
        if i.partial { " partial" } else { "" }
    )
}

fn compare_column(out: &mut Vec<String>, tn: &str, want: &Column, got: &LiveColumn, ddl: &str) {
    let at = format!("{tn}.{}", want.name);
    let not_null = got.not_null || got.pk; // INTEGER PRIMARY KEY is the rowid: never NULL
    if not_null == want.nullable {
        out.push(format!(
            "{at}: NOT NULL expected {}, actual {}",
            !want.nullable, not_null
        ));
    }
    if got.ty != sqlite_type(want) {
        out.push(format!(
            "{at}: type expected {} (design {}), actual {}",
            sqlite_type(want),
            want.ty,
            got.ty
        ));
    }
    let dflt = sqlite_default(want);
    if got.default != dflt {
        out.push(format!("{at}: default expected {:?}, actual {:?}", dflt, got.default));
    }
    if got.pk != (want.extra == "auto_increment") {
        out.push(format!(
            "{at}: PRIMARY KEY expected {}, actual {}",
            want.extra == "auto_increment",
            got.pk
        ));
    }
    if let Some(check) = sqlite_check(want) {
        if !ddl.contains(&check) {
            out.push(format!(
                "{at}: CHECK ({check}) expected (design {}), not found in the table's DDL",
                want.ty
            ));
        }
    }
}

fn compare_index(out: &mut Vec<String>, tn: &str, want: &Index, name: &str, got: &LiveIndex) {
    let cols: Vec<&str> = got.columns.iter().map(String::as_str).collect();
    if cols != want.columns || got.unique != want.unique || got.partial || got.origin != "c" {
        out.push(format!(
            "{tn}.{}: index {name} expected {}, actual {}",
            want.name,
            show_index(want),
            show_live_index(got)
        ));
    }
}

/// Every difference between the SQLite schema and the design. FK-backing indexes are always
/// required (SQLite creates none by itself); the other listed additions only with
/// `require_additions` (the latest version), otherwise they are merely allowed.
async fn schema_differences(p: &SqlitePool, require_additions: bool) -> Vec<String> {
    let mut out = Vec::new();
    let objects: Vec<(String, String, String, Option<String>)> = sqlx::query_as(
        "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name",
    )
    .fetch_all(p)
    .await
    .unwrap();

    for (kind, name, _, _) in objects.iter().filter(|o| o.0 == "table" || o.0 == "view") {
        if design::table(name).is_none() && !design::EXTRA_TABLES.contains(&name.as_str()) {
            out.push(format!("{kind} {name}: not in the design and not a listed addition"));
        }
    }

    for want in design::TABLES {
        let tn = want.name;
        let Some((_, _, _, ddl)) = objects.iter().find(|o| o.0 == "table" && o.1 == tn) else {
            out.push(format!("table {tn} (design {}): missing", want.section));
            continue;
        };
        let ddl = ddl.clone().unwrap_or_default();

        // Columns: names in design order, then listed additions.
        let got = columns(p, tn).await;
        for c in want.columns {
            match got.iter().find(|g| g.name == c.name) {
                Some(g) => compare_column(&mut out, tn, c, g, &ddl),
                None => out.push(format!("{tn}.{}: column missing (design {})", c.name, c.ty)),
            }
        }
        if require_additions {
            for (_, c) in design::EXTRA_COLUMNS.iter().filter(|(t, _)| *t == tn) {
                if !got.iter().any(|g| g.name == c.name) {
                    out.push(format!("{tn}.{}: listed addition missing", c.name));
                }
            }
        }
        for g in &got {
            if want.column(&g.name).is_none() {
                match design::extra_column(tn, &g.name) {
                    Some(c) => {
                        // ALTER TABLE ADD COLUMN: its CHECK (if any) is in the DDL too.
                        compare_column(&mut out, tn, c, g, &ddl)
                    }
                    None => out.push(format!("{tn}.{}: column not in the design (type {})", g.name, g.ty)),
                }
            }
        }
        let want_order: Vec<&str> = want.columns.iter().map(|c| c.name).collect();
        let got_order: Vec<&str> = got
            .iter()
            .map(|c| c.name.as_str())
            .filter(|n| want.column(n).is_some())
            .collect();
        if got_order.len() == want_order.len() && got_order != want_order {
            out.push(format!(
                "table {tn}: column order expected [{}], actual [{}]",
                want_order.join(", "),
                got_order.join(", ")
            ));
        }

        // Indexes: `<table>_<design name>`; the primary key is the rowid (checked above).
        let live = indexes(p, tn).await;
        let expected: Vec<&Index> = want
            .indexes
            .iter()
            .filter(|i| i.name != "PRIMARY")
            .chain(design::EXTRA_INDEXES.iter().filter(|(t, _)| *t == tn).map(|(_, i)| i))
            .collect();
        for i in &expected {
            let name = format!("{tn}_{}", i.name);
            let required =
                require_additions || i.name.starts_with("fk_") || want.indexes.iter().any(|d| d.name == i.name);
            match live.get(&name) {
                Some(g) => compare_index(&mut out, tn, i, &name, g),
                None if required => out.push(format!(
                    "{tn}.{}: index {name} missing (expected {})",
                    i.name,
                    show_index(i)
                )),
                None => {}
            }
        }
        for (name, g) in &live {
            if !expected.iter().any(|i| format!("{tn}_{}", i.name) == *name) {
                out.push(format!(
                    "{tn}: index {name} not in the design (actual {})",
                    show_live_index(g)
                ));
            }
        }

        // Foreign keys: same column → same referenced table/column, no ON DELETE/UPDATE action.
        let fks: Vec<(String, String, String, String, String)> = sqlx::query_as(
            "SELECT \"from\", \"table\", \"to\", on_update, on_delete FROM pragma_foreign_key_list(?) ORDER BY id, seq",
        )
        .bind(tn)
        .fetch_all(p)
        .await
        .unwrap();
        for f in want.foreign_keys {
            match fks.iter().find(|g| g.0 == f.column) {
                None => out.push(format!(
                    "{tn}.{}: foreign key {} missing (expected REFERENCES {}({}))",
                    f.column, f.name, f.ref_table, f.ref_column
                )),
                Some(g) => {
                    if (g.1.as_str(), g.2.as_str()) != (f.ref_table, f.ref_column) {
                        out.push(format!(
                            "{tn}.{}: foreign key {} expected REFERENCES {}({}), actual REFERENCES {}({})",
                            f.column, f.name, f.ref_table, f.ref_column, g.1, g.2
                        ));
                    }
                    if g.3 != "NO ACTION" || g.4 != "NO ACTION" {
                        out.push(format!(
                            "{tn}.{}: foreign key {} expected no ON UPDATE/ON DELETE action, actual {}/{}",
                            f.column, f.name, g.3, g.4
                        ));
                    }
                }
            }
            if !ddl.contains(&format!("CONSTRAINT {} FOREIGN KEY", f.name)) {
                out.push(format!(
                    "{tn}.{}: foreign key not named {} in the DDL",
                    f.column, f.name
                ));
            }
        }
        for g in &fks {
            if !want.foreign_keys.iter().any(|f| f.column == g.0) {
                out.push(format!(
                    "{tn}.{}: foreign key not in the design (REFERENCES {}({}))",
                    g.0, g.1, g.2
                ));
            }
        }

        // Triggers: `<table>_touch_updated_at` exactly where the design has ON UPDATE.
        let trigger = format!("{tn}_touch_updated_at");
        let has_on_update = want.columns.iter().any(|c| c.on_update());
        let triggers: Vec<&str> = objects
            .iter()
            .filter(|o| o.0 == "trigger" && o.2 == tn)
            .map(|o| o.1.as_str())
            .collect();
        if has_on_update && !triggers.contains(&trigger.as_str()) {
            out.push(format!(
                "{tn}.updated_at: trigger {trigger} missing (design: ON UPDATE CURRENT_TIMESTAMP)"
            ));
        }
        for t in triggers {
            if !(has_on_update && t == trigger) {
                out.push(format!("{tn}: trigger {t} not expected"));
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn migrated_sqlite_schema_matches_the_design_document() {
    common::init();
    design::self_check();
    let t = common::sqlite().await;
    let p = pool(&t.db);
    for extra in design::EXTRA_TABLES {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?")
            .bind(extra)
            .fetch_one(p)
            .await
            .unwrap();
        assert_eq!(n, 1, "table {extra} missing after migrate");
    }
    let diffs = schema_differences(p, true).await;
    assert!(diffs.is_empty(), "{}", report(&diffs));
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_schema_check_reports_deviations_by_name() {
    common::init();
    let t = common::sqlite().await;
    let p = pool(&t.db);
    for sql in [
        "ALTER TABLE users ADD COLUMN nickname TEXT",
        "CREATE INDEX servers_idx_rogue ON servers (name)",
        "DROP INDEX certificates_idx_expires_at",
        "DROP TRIGGER settings_touch_updated_at",
        "CREATE TABLE rogue_table (id INTEGER PRIMARY KEY)",
    ] {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(p)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    let all = report(&schema_differences(p, true).await);
    for needle in [
        "users.nickname: column not in the design",
        "servers: index servers_idx_rogue not in the design",
        "certificates.idx_expires_at: index certificates_idx_expires_at missing",
        "settings.updated_at: trigger settings_touch_updated_at missing",
        "table rogue_table: not in the design",
    ] {
        assert!(
            all.contains(needle),
            "expected a difference containing {needle:?}; got {all}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_schema_still_matches_the_design_after_rollbacks_and_remigration() {
    common::init();
    let t = common::sqlite().await;
    let p = pool(&t.db);
    assert_eq!(
        migrate::rollback(&t.db, 6).await.unwrap(),
        vec![19, 18, 17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7]
    );
    let diffs = schema_differences(p, false).await;
    assert!(diffs.is_empty(), "at version 6: {}", report(&diffs));
    let diffs = schema_differences(p, true).await;
    assert!(
        diffs
            .iter()
            .any(|d| d.starts_with("users.failed_login_count: listed addition missing"))
            && diffs
                .iter()
                .any(|d| d.starts_with("servers.idx_user_status: index servers_idx_user_status missing")),
        "U7 must remove the V7 additions: {}",
        report(&diffs)
    );
    assert_eq!(
        migrate::migrate(&t.db).await.unwrap(),
        vec![7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19]
    );
    let diffs = schema_differences(p, true).await;
    assert!(diffs.is_empty(), "after V7 again: {}", report(&diffs));
    assert_eq!(
        migrate::rollback(&t.db, 0).await.unwrap(),
        vec![19, 18, 17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1]
    );
    assert_eq!(
        migrate::migrate(&t.db).await.unwrap(),
        vec![1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19]
    );
    let diffs = schema_differences(p, true).await;
    assert!(diffs.is_empty(), "after rollback to 0 and migrate: {}", report(&diffs));
}

async fn insert_user(p: &SqlitePool, username: &str, role: &str) -> Result<i64, sqlx::Error> {
    sqlx::query("INSERT INTO users (username, email, password_hash, role) VALUES (?, ?, 'x', ?)")
        .bind(username)
        .bind(format!("{username}@example.test"))
        .bind(role)
        .execute(p)
        .await
        .map(|r| r.last_insert_rowid())
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_enum_check_refuses_values_outside_the_design_list() {
    common::init();
    let t = common::sqlite().await;
    let p = pool(&t.db);
    for bad in ["root", "ADMIN", ""] {
        let e = insert_user(p, &format!("u_{bad}"), bad)
            .await
            .expect_err(&format!("role {bad:?} must be refused"));
        assert!(e.to_string().contains("CHECK constraint failed"), "role {bad:?}: {e}");
    }
    for good in ["admin", "user", "api"] {
        insert_user(p, &format!("u_{good}"), good)
            .await
            .unwrap_or_else(|e| panic!("role {good}: {e}"));
    }
    // The default is the design's.
    let id =
        sqlx::query("INSERT INTO users (username, email, password_hash) VALUES ('dflt', 'dflt@example.test', 'x')")
            .execute(p)
            .await
            .unwrap()
            .last_insert_rowid();
    let (role, status): (String, String) = sqlx::query_as("SELECT role, status FROM users WHERE id = ?")
        .bind(id)
        .fetch_one(p)
        .await
        .unwrap();
    assert_eq!((role.as_str(), status.as_str()), ("user", "active"));
    // An UPDATE is held to the same CHECK.
    let e = sqlx::query("UPDATE users SET status = 'banned' WHERE id = ?")
        .bind(id)
        .execute(p)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("CHECK constraint failed"), "{e}");
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_checks_refuse_overlong_varchar_non_boolean_and_invalid_json() {
    common::init();
    let t = common::sqlite().await;
    let p = pool(&t.db);
    // VARCHAR(50): 50 characters fit, 51 do not.
    insert_user(p, &"a".repeat(50), "user")
        .await
        .expect("50 characters fit VARCHAR(50)");
    let e = insert_user(p, &"b".repeat(51), "user")
        .await
        .expect_err("51 characters exceed VARCHAR(50)");
    assert!(e.to_string().contains("CHECK constraint failed"), "{e}");
    // BOOLEAN: only 0/1.
    let e = sqlx::query("UPDATE settings SET is_system = 2 WHERE id = 1")
        .execute(p)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("CHECK constraint failed"), "{e}");
    // JSON: must be valid; NULL is fine where the design allows it.
    let e = sqlx::query("INSERT INTO audit_logs (action, details) VALUES ('x', '{not json')")
        .execute(p)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("CHECK constraint failed"), "{e}");
    sqlx::query("INSERT INTO audit_logs (action, details) VALUES ('x', NULL)")
        .execute(p)
        .await
        .unwrap();
    sqlx::query("INSERT INTO audit_logs (action, details) VALUES ('x', '{\"a\": 1}')")
        .execute(p)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_updated_at_trigger_refreshes_on_update_unless_set_explicitly() {
    common::init();
    let t = common::sqlite().await;
    let p = pool(&t.db);
    const OLD: &str = "2001-02-03 04:05:06";
    let now: String = sqlx::query_scalar("SELECT CURRENT_TIMESTAMP")
        .fetch_one(p)
        .await
        .unwrap();

    let user = insert_user(p, "touchy", "user").await.unwrap();
    // A seeded settings row, too (a second table with its own trigger).
    let setting: i64 = sqlx::query_scalar("SELECT id FROM settings WHERE setting_key = 'system.timezone'")
        .fetch_one(p)
        .await
        .unwrap();

    for (table, id, set_other) in [
        (
            "users",
            user,
            "UPDATE users SET full_name = 'Touchy McTouch' WHERE id = ?",
        ),
        (
            "settings",
            setting,
            "UPDATE settings SET setting_value = 'Europe/Paris' WHERE id = ?",
        ),
    ] {
        let get = format!("SELECT updated_at FROM {table} WHERE id = ?");
        let read = |id: i64| {
            let get = get.clone();
            async move {
                sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(get))
                    .bind(id)
                    .fetch_one(p)
                    .await
                    .unwrap()
            }
        };
        // 1. Setting updated_at explicitly keeps the given value (the trigger does not fire).
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE {table} SET updated_at = ? WHERE id = ?"
        )))
        .bind(OLD)
        .bind(id)
        .execute(p)
        .await
        .unwrap();
        assert_eq!(read(id).await, OLD, "{table}: an explicit updated_at must be kept");
        // 2. Updating another column refreshes it to the current time.
        sqlx::query(sqlx::AssertSqlSafe(set_other))
            .bind(id)
            .execute(p)
            .await
            .unwrap();
        let after = read(id).await;
        assert_ne!(after, OLD, "{table}: the trigger did not refresh updated_at");
        assert!(
            after >= now,
            "{table}: updated_at {after} is not the current time (>= {now})"
        );
        assert_eq!(
            after.len(),
            19,
            "{table}: updated_at {after:?} is not YYYY-MM-DD HH:MM:SS"
        );
    }
}
