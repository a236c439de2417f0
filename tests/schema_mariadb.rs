//! The live MariaDB schema after `migrate`, read from information_schema, held to the design
//! document as transcribed by hand in `tests/design/mod.rs`.
//!
//! Needs `CERTDECK_TEST_MYSQL_URL` (skips without it, fails in CI).

mod common;
mod design;

use std::collections::BTreeMap;
use std::fmt::Display;

use certdeck::store::{migrate, Db};
use sqlx::mysql::MySqlPool;
use sqlx::Row;

use common::report;
use design::{Column, Index, JSON, ON_UPDATE};

const ENGINE: &str = "InnoDB";
const COLLATION: &str = "utf8mb4_unicode_ci";
const JSON_COLLATION: &str = "utf8mb4_bin";

#[derive(Debug, Clone)]
struct LiveColumn {
    name: String,
    ty: String,
    nullable: bool,
    default: Option<String>,
    extra: String,
    collation: Option<String>,
}

#[derive(Debug, Clone, Default)]
struct LiveIndex {
    columns: Vec<String>,
    unique: bool,
    prefix: bool,
}

#[derive(Debug, Clone)]
struct LiveFk {
    column: String,
    ref_table: String,
    ref_column: String,
    update_rule: String,
    delete_rule: String,
}

#[derive(Debug, Clone, Default)]
struct LiveTable {
    kind: String,
    engine: Option<String>,
    collation: Option<String>,
    columns: Vec<LiveColumn>,
    indexes: BTreeMap<String, LiveIndex>,
    fks: BTreeMap<String, LiveFk>,
    checks: Vec<(String, String)>,
}

struct Live {
    mariadb: bool,
    tables: BTreeMap<String, LiveTable>,
}

/// MySQL 8 reports some things differently (see migrations/README.md); map them to MariaDB's
/// spelling so one transcription serves both. (Only MariaDB is exercised by the test bed.)
fn normalize_mysql8(c: &mut LiveColumn) {
    c.ty = match c.ty.as_str() {
        "bigint" => "bigint(20)".into(),
        "int" => "int(11)".into(),
        "json" => JSON.into(),
        t => t.to_string(),
    };
    c.extra = match c.extra.as_str() {
        "DEFAULT_GENERATED" => String::new(),
        "DEFAULT_GENERATED on update CURRENT_TIMESTAMP" => ON_UPDATE.into(),
        e => e.to_string(),
    };
    let stringy = ["enum", "varchar", "char", "text"].iter().any(|p| c.ty.starts_with(p));
    c.default = match c.default.take() {
        None if c.nullable => Some("NULL".into()),
        Some(d) if d == "CURRENT_TIMESTAMP" => Some(design::CURRENT_TIMESTAMP.into()),
        Some(d) if stringy => Some(format!("'{d}'")),
        d => d,
    };
}

async fn read_live(pool: &MySqlPool) -> Live {
    let version: String = sqlx::query_scalar("SELECT VERSION()").fetch_one(pool).await.unwrap();
    let mariadb = version.to_lowercase().contains("mariadb");
    let mut tables: BTreeMap<String, LiveTable> = BTreeMap::new();

    for r in sqlx::query(
        "SELECT TABLE_NAME, TABLE_TYPE, ENGINE, TABLE_COLLATION FROM information_schema.TABLES \
         WHERE TABLE_SCHEMA = DATABASE()",
    )
    .fetch_all(pool)
    .await
    .unwrap()
    {
        let t = tables.entry(r.get::<String, _>(0)).or_default();
        t.kind = r.get(1);
        t.engine = r.get(2);
        t.collation = r.get(3);
    }

    for r in sqlx::query(
        "SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT, EXTRA, COLLATION_NAME \
         FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME, ORDINAL_POSITION",
    )
    .fetch_all(pool)
    .await
    .unwrap()
    {
        let mut c = LiveColumn {
            name: r.get(1),
            ty: r.get(2),
            nullable: r.get::<String, _>(3) == "YES",
            default: r.get(4),
            extra: r.get(5),
            collation: r.get(6),
        };
        if !mariadb {
            normalize_mysql8(&mut c);
        }
        tables.entry(r.get::<String, _>(0)).or_default().columns.push(c);
    }

    for r in sqlx::query(
        "SELECT TABLE_NAME, INDEX_NAME, COLUMN_NAME, CAST(NON_UNIQUE AS SIGNED), CAST(SUB_PART AS SIGNED) \
         FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() \
         ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX",
    )
    .fetch_all(pool)
    .await
    .unwrap()
    {
        let t = tables.entry(r.get::<String, _>(0)).or_default();
        let i = t.indexes.entry(r.get::<String, _>(1)).or_default();
        i.columns.push(r.get(2));
        i.unique = r.get::<i64, _>(3) == 0;
        i.prefix |= r.get::<Option<i64>, _>(4).is_some();
    }

    for r in sqlx::query(
        "SELECT k.TABLE_NAME, k.CONSTRAINT_NAME, k.COLUMN_NAME, k.REFERENCED_TABLE_NAME, k.REFERENCED_COLUMN_NAME, \
                rc.UPDATE_RULE, rc.DELETE_RULE \
         FROM information_schema.KEY_COLUMN_USAGE k \
         JOIN information_schema.REFERENTIAL_CONSTRAINTS rc \
           ON rc.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA AND rc.TABLE_NAME = k.TABLE_NAME \
          AND rc.CONSTRAINT_NAME = k.CONSTRAINT_NAME \
         WHERE k.TABLE_SCHEMA = DATABASE() AND k.REFERENCED_TABLE_NAME IS NOT NULL \
         ORDER BY k.TABLE_NAME, k.CONSTRAINT_NAME, k.ORDINAL_POSITION",
    )
    .fetch_all(pool)
    .await
    .unwrap()
    {
        let t = tables.entry(r.get::<String, _>(0)).or_default();
        let name: String = r.get(1);
        let fk = LiveFk {
            column: r.get(2),
            ref_table: r.get(3),
            ref_column: r.get(4),
            update_rule: r.get(5),
            delete_rule: r.get(6),
        };
        if let Some(prev) = t.fks.get_mut(&name) {
            // A multi-column FK: the design has none, so make it visible in the message.
            prev.column = format!("{}, {}", prev.column, fk.column);
            prev.ref_column = format!("{}, {}", prev.ref_column, fk.ref_column);
        } else {
            t.fks.insert(name, fk);
        }
    }

    for r in sqlx::query(
        "SELECT TABLE_NAME, CONSTRAINT_NAME, CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS \
         WHERE CONSTRAINT_SCHEMA = DATABASE() ORDER BY TABLE_NAME, CONSTRAINT_NAME",
    )
    .fetch_all(pool)
    .await
    .unwrap()
    {
        tables
            .entry(r.get::<String, _>(0))
            .or_default()
            .checks
            .push((r.get(1), r.get(2)));
    }

    Live { mariadb, tables }
}

fn show_opt(v: &Option<impl Display>) -> String {
    match v {
        Some(v) => format!("`{v}`"),
        None => "(none)".into(),
    }
}

fn show_index(i: &Index) -> String {
    format!("{}({})", if i.unique { "UNIQUE " } else { "" }, i.columns.join(", "))
}

fn show_live_index(i: &LiveIndex) -> String {
    format!(
        "{}({}){}",
        if i.unique { "UNIQUE " } else { "" },
        i.columns.join(", "),
        if i.prefix { " with prefix length" } else { "" }
    )
}

fn show_column(c: &Column) -> String {
    format!(
        "{} {}{}{}",
        c.ty,
        if c.nullable { "NULL" } else { "NOT NULL" },
        c.default.map(|d| format!(" DEFAULT {d}")).unwrap_or_default(),
        if c.extra.is_empty() {
            String::new()
        } else {
            format!(" {}", c.extra)
        }
    )
}

fn show_live_column(c: &LiveColumn) -> String {
    format!(
        "{} {}{}{}",
        c.ty,
        if c.nullable { "NULL" } else { "NOT NULL" },
        c.default.as_ref().map(|d| format!(" DEFAULT {d}")).unwrap_or_default(),
        if c.extra.is_empty() {
            String::new()
        } else {
            format!(" {}", c.extra)
        }
    )
}

/// The collation a column of this type must have.
fn expected_collation(ty: &str, mariadb: bool) -> Option<&'static str> {
    if ty == JSON {
        mariadb.then_some(JSON_COLLATION)
    } else if ["varchar", "char", "text", "enum", "mediumtext", "tinytext"]
        .iter()
        .any(|p| ty.starts_with(p))
    {
        Some(COLLATION)
    } else {
        None
    }
}

fn compare_column(out: &mut Vec<String>, table: &str, want: &Column, got: &LiveColumn, mariadb: bool) {
    let at = format!("{table}.{}", want.name);
    if want.ty != got.ty {
        out.push(format!("{at}: COLUMN_TYPE expected `{}`, actual `{}`", want.ty, got.ty));
    }
    if want.nullable != got.nullable {
        out.push(format!(
            "{at}: IS_NULLABLE expected {}, actual {}",
            if want.nullable { "YES" } else { "NO" },
            if got.nullable { "YES" } else { "NO" }
        ));
    }
    if want.default != got.default.as_deref() {
        out.push(format!(
            "{at}: COLUMN_DEFAULT expected {}, actual {}",
            show_opt(&want.default),
            show_opt(&got.default)
        ));
    }
    if want.extra != got.extra {
        out.push(format!("{at}: EXTRA expected `{}`, actual `{}`", want.extra, got.extra));
    }
    let coll = expected_collation(want.ty, mariadb);
    if coll != got.collation.as_deref() {
        out.push(format!(
            "{at}: COLLATION_NAME expected {}, actual {}",
            show_opt(&coll),
            show_opt(&got.collation)
        ));
    }
}

fn compare_index(out: &mut Vec<String>, table: &str, want: &Index, got: &LiveIndex) {
    let cols: Vec<&str> = got.columns.iter().map(String::as_str).collect();
    if cols != want.columns || want.unique != got.unique || got.prefix {
        out.push(format!(
            "{table}.{}: index expected {}, actual {}",
            want.name,
            show_index(want),
            show_live_index(got)
        ));
    }
}

/// Every difference between the live schema and the design (plus the listed additions). With
/// `require_additions`, a listed addition that is missing counts as a difference too (the
/// schema at the latest version); without, additions are merely allowed (older versions).
fn compare(live: &Live, require_additions: bool) -> Vec<String> {
    let mut out = Vec::new();
    let mariadb = live.mariadb;

    for (name, t) in &live.tables {
        if design::table(name).is_none() && !design::EXTRA_TABLES.contains(&name.as_str()) {
            out.push(format!(
                "table {name}: not in the design and not a listed addition ({} with columns {})",
                t.kind,
                t.columns.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ")
            ));
        }
    }

    for want in design::TABLES {
        let tn = want.name;
        let Some(got) = live.tables.get(tn) else {
            out.push(format!("table {tn} (design {}): missing", want.section));
            continue;
        };
        if got.kind != "BASE TABLE" {
            out.push(format!(
                "table {tn}: TABLE_TYPE expected `BASE TABLE`, actual `{}`",
                got.kind
            ));
        }
        if got.engine.as_deref() != Some(ENGINE) {
            out.push(format!(
                "table {tn}: ENGINE expected `{ENGINE}`, actual {}",
                show_opt(&got.engine)
            ));
        }
        if got.collation.as_deref() != Some(COLLATION) {
            out.push(format!(
                "table {tn}: TABLE_COLLATION expected `{COLLATION}`, actual {}",
                show_opt(&got.collation)
            ));
        }

        // Columns: each design column, then anything else.
        for c in want.columns {
            match got.columns.iter().find(|g| g.name == c.name) {
                Some(g) => compare_column(&mut out, tn, c, g, mariadb),
                None => out.push(format!("{tn}.{}: column missing (expected {})", c.name, show_column(c))),
            }
        }
        for g in &got.columns {
            if want.column(&g.name).is_some() {
                continue;
            }
            match design::extra_column(tn, &g.name) {
                Some(c) => compare_column(&mut out, tn, c, g, mariadb),
                None => out.push(format!(
                    "{tn}.{}: column not in the design and not a listed addition (actual {})",
                    g.name,
                    show_live_column(g)
                )),
            }
        }
        if require_additions {
            for (_, c) in design::EXTRA_COLUMNS.iter().filter(|(t, _)| *t == tn) {
                if !got.columns.iter().any(|g| g.name == c.name) {
                    out.push(format!(
                        "{tn}.{}: listed addition missing (expected {})",
                        c.name,
                        show_column(c)
                    ));
                }
            }
            for (_, i) in design::EXTRA_INDEXES.iter().filter(|(t, _)| *t == tn) {
                if !got.indexes.contains_key(i.name) {
                    out.push(format!(
                        "{tn}.{}: listed addition index missing (expected {})",
                        i.name,
                        show_index(i)
                    ));
                }
            }
        }
        let want_order: Vec<&str> = want.columns.iter().map(|c| c.name).collect();
        let got_order: Vec<&str> = got
            .columns
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

        // Indexes.
        for i in want.indexes {
            match got.indexes.get(i.name) {
                Some(g) => compare_index(&mut out, tn, i, g),
                None => out.push(format!("{tn}.{}: index missing (expected {})", i.name, show_index(i))),
            }
        }
        for (name, g) in &got.indexes {
            if want.indexes.iter().any(|i| i.name == name) {
                continue;
            }
            match design::extra_index(tn, name) {
                Some(i) => compare_index(&mut out, tn, i, g),
                None => out.push(format!(
                    "{tn}.{name}: index not in the design and not a listed addition (actual {})",
                    show_live_index(g)
                )),
            }
        }

        // Foreign keys.
        for f in want.foreign_keys {
            let Some(g) = got.fks.get(f.name) else {
                out.push(format!(
                    "{tn}.{}: foreign key {} missing (expected {} REFERENCES {}({}))",
                    f.column, f.name, f.column, f.ref_table, f.ref_column
                ));
                continue;
            };
            if (g.column.as_str(), g.ref_table.as_str(), g.ref_column.as_str()) != (f.column, f.ref_table, f.ref_column)
            {
                out.push(format!(
                    "{tn}.{}: foreign key {} expected {} REFERENCES {}({}), actual {} REFERENCES {}({})",
                    f.column, f.name, f.column, f.ref_table, f.ref_column, g.column, g.ref_table, g.ref_column
                ));
            }
            // The design gives no ON DELETE/ON UPDATE clause: the default, RESTRICT.
            for (what, rule) in [("ON DELETE", &g.delete_rule), ("ON UPDATE", &g.update_rule)] {
                if rule != "RESTRICT" && rule != "NO ACTION" {
                    out.push(format!(
                        "{tn}.{}: foreign key {} {what} expected RESTRICT, actual {rule}",
                        f.column, f.name
                    ));
                }
            }
        }
        for (name, g) in &got.fks {
            if !want.foreign_keys.iter().any(|f| f.name == name) {
                out.push(format!(
                    "{tn}.{}: foreign key {name} not in the design (REFERENCES {}({}))",
                    g.column, g.ref_table, g.ref_column
                ));
            }
        }

        // CHECK constraints: on MariaDB exactly one json_valid per JSON column, nothing else.
        let json_cols: Vec<&str> = want.columns.iter().filter(|c| c.is_json()).map(|c| c.name).collect();
        // certdeck's own JSON columns (present only from their version on) may carry theirs.
        let allowed_json: Vec<&str> = design::EXTRA_COLUMNS
            .iter()
            .filter(|(t, c)| *t == tn && c.is_json())
            .map(|(_, c)| c.name)
            .chain(json_cols.iter().copied())
            .collect();
        let is_json_check = |clause: &str, col: &str| {
            let c = clause.replace(' ', "").to_lowercase();
            c == format!("json_valid(`{col}`)") || c == format!("json_valid({col})")
        };
        if mariadb {
            for col in &json_cols {
                if !got.checks.iter().any(|(_, clause)| is_json_check(clause, col)) {
                    out.push(format!(
                        "{tn}.{col}: JSON column has no json_valid CHECK (checks: {:?})",
                        got.checks
                    ));
                }
            }
        }
        for (name, clause) in &got.checks {
            if !allowed_json.iter().any(|col| is_json_check(clause, col)) {
                out.push(format!("{tn}: CHECK constraint {name} ({clause}) not in the design"));
            }
        }
    }
    out
}

/// Reads the live schema of `db` and returns every difference from the design.
async fn schema_differences(db: &Db, require_additions: bool) -> Vec<String> {
    let Db::MySql(pool) = db else {
        panic!("schema_mariadb needs a MariaDB/MySQL database")
    };
    compare(&read_live(pool).await, require_additions)
}

#[tokio::test(flavor = "multi_thread")]
async fn migrated_mariadb_schema_matches_the_design_document() {
    common::init();
    design::self_check();
    let Some(t) = common::mysql().await else { return };
    let live = read_live(match &t.db {
        Db::MySql(p) => p,
        Db::Sqlite(_) => unreachable!(),
    })
    .await;
    // Our own additions exist (they are allowed, and migrate must have created them).
    for extra in design::EXTRA_TABLES {
        assert!(live.tables.contains_key(*extra), "table {extra} missing after migrate");
    }
    let diffs = compare(&live, true);
    assert!(diffs.is_empty(), "{}", report(&diffs));
}

#[tokio::test(flavor = "multi_thread")]
async fn mariadb_schema_still_matches_the_design_after_rollbacks_and_remigration() {
    common::init();
    let Some(t) = common::mysql().await else { return };
    // At 6 (U8, U7 undone): the design tables unchanged, FK-backing indexes still in place.
    assert_eq!(
        migrate::rollback(&t.db, 6).await.unwrap(),
        vec![19, 18, 17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7]
    );
    let diffs = schema_differences(&t.db, false).await;
    assert!(diffs.is_empty(), "at version 6: {}", report(&diffs));
    let diffs = schema_differences(&t.db, true).await;
    assert!(
        diffs
            .iter()
            .any(|d| d.starts_with("users.failed_login_count: listed addition missing"))
            && diffs
                .iter()
                .any(|d| d.starts_with("servers.idx_user_status: listed addition index missing")),
        "U7 must remove the V7 additions: {}",
        report(&diffs)
    );
    // Back to 7, then all the way down and up again: the very same schema.
    assert_eq!(
        migrate::migrate(&t.db).await.unwrap(),
        vec![7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19]
    );
    let diffs = schema_differences(&t.db, true).await;
    assert!(diffs.is_empty(), "after V7 again: {}", report(&diffs));
    assert_eq!(
        migrate::rollback(&t.db, 0).await.unwrap(),
        vec![19, 18, 17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1]
    );
    assert_eq!(
        migrate::migrate(&t.db).await.unwrap(),
        vec![1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19]
    );
    let diffs = schema_differences(&t.db, true).await;
    assert!(diffs.is_empty(), "after rollback to 0 and migrate: {}", report(&diffs));
}

#[tokio::test(flavor = "multi_thread")]
async fn schema_check_reports_a_widened_varchar_as_table_dot_column() {
    common::init();
    let Some(t) = common::mysql().await else { return };
    let Db::MySql(p) = &t.db else { unreachable!() };
    sqlx::query("ALTER TABLE users MODIFY phone VARCHAR(30)")
        .execute(p)
        .await
        .unwrap();
    let diffs = schema_differences(&t.db, true).await;
    assert_eq!(
        diffs,
        vec!["users.phone: COLUMN_TYPE expected `varchar(20)`, actual `varchar(30)`".to_string()],
        "{}",
        report(&diffs)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn schema_check_reports_extra_missing_and_changed_objects_by_name() {
    common::init();
    let Some(t) = common::mysql().await else { return };
    let Db::MySql(p) = &t.db else { unreachable!() };
    for sql in [
        "ALTER TABLE users ADD COLUMN nickname VARCHAR(20)",
        "ALTER TABLE servers ADD INDEX idx_rogue (name)",
        "ALTER TABLE certificates DROP INDEX idx_expires_at",
        "ALTER TABLE monitors MODIFY port INT NOT NULL DEFAULT 443",
        "ALTER TABLE settings ALTER setting_type SET DEFAULT 'number'",
        "ALTER TABLE users DROP INDEX idx_email, ADD UNIQUE INDEX idx_email (email, username)",
        "ALTER TABLE task_logs CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci",
        "ALTER TABLE alerts DROP FOREIGN KEY fk_alerts_monitor",
        "CREATE TABLE rogue_table (id INT PRIMARY KEY) ENGINE=InnoDB",
    ] {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(p)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    let diffs = schema_differences(&t.db, true).await;
    let all = report(&diffs);
    for needle in [
        "users.nickname: column not in the design",
        "servers.idx_rogue: index not in the design",
        "certificates.idx_expires_at: index missing",
        "monitors.port: IS_NULLABLE expected YES, actual NO",
        "settings.setting_type: COLUMN_DEFAULT expected `'string'`, actual `'number'`",
        "users.idx_email: index expected UNIQUE (email), actual UNIQUE (email, username)",
        "table task_logs: TABLE_COLLATION expected `utf8mb4_unicode_ci`, actual `utf8mb4_general_ci`",
        "task_logs.message: COLLATION_NAME expected `utf8mb4_unicode_ci`, actual `utf8mb4_general_ci`",
        "alerts.monitor_id: foreign key fk_alerts_monitor missing",
        "table rogue_table: not in the design",
    ] {
        assert!(
            all.contains(needle),
            "expected a difference containing {needle:?}; got {all}"
        );
    }
}
