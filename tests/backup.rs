//! Backup → restore round trips between every pair of backends (SQLite → SQLite, SQLite →
//! MariaDB, MariaDB → SQLite, MariaDB → MariaDB): equal rows in every table, users can log in
//! and sealed secrets open on the restored database; a non-empty target, another master key or
//! a damaged file is refused and changes nothing.

mod common;

use std::io::Write;

use certdeck::domain::{ChannelType, ScheduleType};
use certdeck::errors::ServiceError;
use certdeck::service::schedules::ScheduleInput;
use certdeck::service::servers::ServerInput;
use certdeck::service::Services;
use certdeck::store::backup;
use certdeck::store::Db;
use common::{TestDb, World};
use serde_json::json;

/// Every table's rows as the export writes them (header and trailer left out).
async fn snapshot(db: &Db) -> Vec<String> {
    let mut buf = Vec::new();
    backup::export(db, 8, &mut buf).await.unwrap();
    let text = String::from_utf8(buf).unwrap();
    let lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines[1..lines.len() - 1].to_vec()
}

async fn count(db: &Db, table: &str) -> i64 {
    certdeck::on_db!(db, p => sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}"))).fetch_one(p).await).unwrap()
}

/// A source database with rows in many tables, secrets included.
async fn fill(t: &TestDb) -> (World, i64) {
    let w = World::new(t).await;
    let server =
        w.s.server_create(
            &w.alice,
            &ServerInput {
                hostname: Some("web1.example.com".into()),
                username: Some("deploy".into()),
                password: Some("ssh-S3cret".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    w.s.group_create(&w.alice, "web", None).await.unwrap();
    let ch =
        w.s.channel_create(
            &w.alice,
            "hook",
            ChannelType::Webhook,
            &json!({"url": "https://hooks.example.net/x", "secret": "whsec_backup_test"}),
        )
        .await
        .unwrap();
    w.s.schedule_add(
        &w.alice,
        &ScheduleInput {
            name: Some("mine".into()),
            task_type: Some(ScheduleType::ServerCheck),
            cron_expression: Some("0 4 * * *".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    w.s.task_enqueue(
        &w.alice,
        &certdeck::service::tasks::TaskInput {
            task_type: Some(certdeck::domain::TaskType::ServerCheck),
            target_id: Some(server.id),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    (w, ch.id)
}

async fn round_trip(src: &TestDb, dst: &TestDb) {
    let label = format!("{} → {}", src.label(), dst.label());
    let (w, channel) = fill(src).await;
    let dir = tempfile::tempdir().unwrap();
    let report = w.s.backup_to_dir(dir.path(), 3).await.unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&report.path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "[{label}] the backup file is private");
    }
    assert_eq!(report.rows["users"], 3, "[{label}]");
    // Secrets stay sealed in the file.
    let raw = std::fs::read(&report.path).unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&raw[..]), &mut text).unwrap();
    assert!(
        !text.contains("whsec_backup_test") && !text.contains("ssh-S3cret"),
        "[{label}] no plaintext secret"
    );

    // The same master key on the target host.
    let target = Services::new(dst.db.clone(), w.s.keyring().clone(), Default::default());
    let rows = target.restore_from_file(None, &report.path).await.unwrap();
    assert_eq!(rows, report.rows, "[{label}] every row restored");
    assert_eq!(
        snapshot(&dst.db).await,
        snapshot(&src.db).await,
        "[{label}] equal contents, table by table"
    );
    // It is a working database: logins and secrets work.
    let (alice, _) = target
        .login("alice", common::PW)
        .await
        .unwrap_or_else(|e| panic!("[{label}] login: {e}"));
    let ch = target.channel_get(&alice, channel, true).await.unwrap();
    assert_eq!(
        ch.secrets.unwrap()["secret"],
        "whsec_backup_test",
        "[{label}] secrets open"
    );
    // A second restore into the now non-empty database is refused.
    let before = count(&dst.db, "audit_logs").await;
    let e = target.restore_from_file(None, &report.path).await.unwrap_err();
    assert!(
        matches!(e, ServiceError::Conflict(ref m) if m.contains("empty database")),
        "[{label}] {e:?}"
    );
    assert_eq!(count(&dst.db, "audit_logs").await, before, "[{label}] nothing written");
}

#[tokio::test(flavor = "multi_thread")]
async fn backups_restore_on_either_backend_with_equal_contents() {
    round_trip(&common::sqlite().await, &common::sqlite().await).await;
    if let (Some(a), Some(b)) = (common::mysql().await, common::mysql().await) {
        round_trip(&a, &b).await;
    }
    if let Some(m) = common::mysql().await {
        round_trip(&common::sqlite().await, &m).await;
    }
    if let Some(m) = common::mysql().await {
        round_trip(&m, &common::sqlite().await).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn damaged_backups_and_other_keys_are_refused_and_change_nothing() {
    for t in common::both().await {
        let l = t.label();
        let (w, _) = fill(&t).await;
        let dir = tempfile::tempdir().unwrap();
        let good = w.s.backup_to_file(&dir.path().join("b.jsonl.gz")).await.unwrap();
        assert!(
            w.s.backup_to_file(&good.path).await.is_err(),
            "[{l}] never overwrites a file"
        );

        // Truncated: the trailer is missing.
        let mut text = String::new();
        std::io::Read::read_to_string(
            &mut flate2::read::GzDecoder::new(&std::fs::read(&good.path).unwrap()[..]),
            &mut text,
        )
        .unwrap();
        let cut: String = text
            .lines()
            .take(text.lines().count() - 1)
            .map(|l| format!("{l}\n"))
            .collect();
        let bad = dir.path().join("cut.jsonl.gz");
        let mut gz = flate2::write::GzEncoder::new(std::fs::File::create(&bad).unwrap(), flate2::Compression::fast());
        gz.write_all(cut.as_bytes()).unwrap();
        gz.finish().unwrap();
        let not_gz = dir.path().join("plain.txt");
        std::fs::write(&not_gz, "hello").unwrap();

        let empty = common::sqlite().await;
        let target = Services::new(empty.db.clone(), w.s.keyring().clone(), Default::default());
        for f in [&bad, &not_gz] {
            let e = target.restore_from_file(None, f).await.unwrap_err();
            assert!(matches!(e, ServiceError::Validation { .. }), "[{l}] {f:?}: {e:?}");
            assert_eq!(count(&empty.db, "users").await, 0, "[{l}] nothing restored");
            let seeded = certdeck::service::settings::REGISTRY.len() as i64;
            assert_eq!(count(&empty.db, "settings").await, seeded, "[{l}] seed rows untouched");
        }
        // Another master key: the target already holds its own key check value.
        certdeck::store::meta::insert_if_absent(&empty.db, certdeck::store::meta::MASTER_KEY_CHECK, "other-key-kcv")
            .await
            .unwrap();
        certdeck::store::meta::insert_if_absent(&t.db, certdeck::store::meta::MASTER_KEY_CHECK, "source-kcv")
            .await
            .unwrap();
        let keyed = w.s.backup_to_file(&dir.path().join("keyed.jsonl.gz")).await.unwrap();
        let e = target.restore_from_file(None, &keyed.path).await.unwrap_err();
        assert!(
            matches!(e, ServiceError::Conflict(ref m) if m.contains("master key")),
            "[{l}] {e:?}"
        );
        assert_eq!(count(&empty.db, "users").await, 0, "[{l}]");
        // Only admins (or the local operator) restore.
        let e = target.restore_from_file(Some(&w.alice), &good.path).await.unwrap_err();
        assert!(matches!(e, ServiceError::Forbidden(_)), "[{l}] {e:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_backup_schedule_writes_and_prunes() {
    let t = common::sqlite().await;
    let w = World::new(&t).await;
    let dir = tempfile::tempdir().unwrap();
    let backup =
        w.s.schedule_list(&w.admin)
            .await
            .unwrap()
            .into_iter()
            .find(|s| s.task_type == ScheduleType::Backup)
            .unwrap();
    w.s.schedule_edit(
        &w.admin,
        backup.id,
        &ScheduleInput {
            params: Some(json!({"dir": dir.path(), "keep": 2})),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    for _ in 0..3 {
        w.s.schedule_run_now(&w.admin, backup.id).await.unwrap();
        let fired = w.s.schedules_tick().await.unwrap();
        let f = fired.iter().find(|f| f.schedule_id == backup.id).unwrap();
        assert!(f.ok, "{f:?}");
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await; // file names have 1 s resolution
    }
    let files = std::fs::read_dir(dir.path()).unwrap().count();
    assert_eq!(files, 2, "keeps the newest 2");
}
