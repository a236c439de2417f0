//! Cron schedules on both backends: validation, next runs in `system.timezone`, a due schedule
//! fires once however many schedulers tick at the same moment, and what each kind of run does
//! (certificate_check, server_check, cleanup, backup).

mod common;

use certdeck::domain::ScheduleType;
use certdeck::errors::ServiceError;
use certdeck::service::schedules::ScheduleInput;
use certdeck::service::servers::ServerInput;
use certdeck::store::Db;
use chrono::{Duration, Timelike, Utc};
use common::World;
use serde_json::json;
use sqlx::AssertSqlSafe;

async fn count(db: &Db, sql: &str) -> i64 {
    certdeck::on_db!(db, p => sqlx::query_scalar::<_, i64>(AssertSqlSafe(sql.to_string())).fetch_one(p).await)
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

async fn exec(db: &Db, sql: &str) {
    certdeck::on_db!(db, p => sqlx::query(AssertSqlSafe(sql.to_string())).execute(p).await.map(|_| ()))
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

fn input(name: &str, t: ScheduleType, cron: &str) -> ScheduleInput {
    ScheduleInput {
        name: Some(name.into()),
        task_type: Some(t),
        cron_expression: Some(cron.into()),
        ..Default::default()
    }
}

fn stamp(t: chrono::DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_schedules_are_refused_and_add_nothing() {
    for t in common::both().await {
        let w = World::new(&t).await;
        let l = w.label;
        let before = count(&t.db, "SELECT COUNT(*) FROM scheduled_tasks").await;
        for (i, field) in [
            (input("x", ScheduleType::ServerCheck, "61 * * * *"), "cron_expression"),
            (input("x", ScheduleType::ServerCheck, "* * *"), "cron_expression"),
            (input("", ScheduleType::ServerCheck, "0 3 * * *"), "name"),
            (
                ScheduleInput {
                    params: Some(json!("x")),
                    ..input("x", ScheduleType::ServerCheck, "0 3 * * *")
                },
                "params",
            ),
            (input("x", ScheduleType::Cleanup, "0 3 * * *"), "system"),
        ] {
            let e = w.s.schedule_add(&w.alice, &i).await.unwrap_err();
            assert_eq!(common::vfield(&e), field, "[{l}] {e}");
        }
        let system = ScheduleInput {
            system: true,
            ..input("x", ScheduleType::Cleanup, "0 3 * * *")
        };
        let e = w.s.schedule_add(&w.alice, &system).await.unwrap_err();
        assert!(
            matches!(e, ServiceError::Forbidden(_)),
            "[{l}] only admins add system schedules: {e:?}"
        );
        assert_eq!(
            count(&t.db, "SELECT COUNT(*) FROM scheduled_tasks").await,
            before,
            "[{l}] nothing added"
        );
        // The timezone setting takes IANA names only.
        assert!(
            w.s.setting_set(&w.admin, "system.timezone", "Mars/Olympus", None)
                .await
                .is_err(),
            "[{l}]"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn next_runs_follow_the_configured_timezone() {
    for t in common::both().await {
        let w = World::new(&t).await;
        let l = w.label;
        w.s.setting_set(&w.admin, "system.timezone", "Europe/Berlin", None)
            .await
            .unwrap();
        let row =
            w.s.schedule_add(&w.alice, &input("nightly", ScheduleType::CertificateCheck, "0 3 * * *"))
                .await
                .unwrap();
        let next = row.next_run_at.expect("planned");
        // 03:00 in Berlin is 02:00 UTC in winter and 01:00 UTC in summer.
        let berlin_offset = if (4..=9).contains(&next.format("%m").to_string().parse::<u32>().unwrap()) {
            1
        } else {
            2
        };
        assert_eq!((next.hour(), next.minute()), (berlin_offset, 0), "[{l}] {next}");
        assert!(
            next > Utc::now() && next <= Utc::now() + Duration::days(1),
            "[{l}] {next}"
        );
        // Disabled: no next run; enabled again: planned again.
        let off = w.s.schedule_set_active(&w.alice, row.id, false).await.unwrap();
        assert!(!off.is_active && off.next_run_at.is_none(), "[{l}]");
        let on = w.s.schedule_set_active(&w.alice, row.id, true).await.unwrap();
        assert_eq!(on.next_run_at, Some(next), "[{l}]");
        // Others do not see it; the admin does.
        assert!(w.s.schedule_get(&w.bob, row.id).await.is_err(), "[{l}]");
        assert!(w.s.schedule_get(&w.admin, row.id).await.is_ok(), "[{l}]");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_due_schedule_fires_once_across_schedulers_and_queues_each_check_once() {
    for t in common::both().await {
        let w = World::new(&t).await;
        let l = w.label;
        for (i, status) in ["active", "error", "inactive"].iter().enumerate() {
            let s =
                w.s.server_create(
                    &w.alice,
                    &ServerInput {
                        hostname: Some(format!("web{i}.example.com")),
                        username: Some("deploy".into()),
                        password: Some("ssh-password".into()),
                        ..Default::default()
                    },
                )
                .await
                .unwrap();
            exec(
                &t.db,
                &format!("UPDATE servers SET status = '{status}' WHERE id = {}", s.id),
            )
            .await;
        }
        // A token server is left to the pull agent: never checked over SSH.
        w.s.server_create(
            &w.alice,
            &ServerInput {
                hostname: Some("agent.example.com".into()),
                auth_type: Some(certdeck::domain::AuthType::Token),
                token: Some("agent-token".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        // bob's server is outside alice's schedule.
        w.s.server_create(
            &w.bob,
            &ServerInput {
                hostname: Some("bob.example.com".into()),
                username: Some("deploy".into()),
                password: Some("pw".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let row =
            w.s.schedule_add(&w.alice, &input("checks", ScheduleType::ServerCheck, "0 3 * * *"))
                .await
                .unwrap();
        w.s.schedule_run_now(&w.alice, row.id).await.unwrap();
        // Three schedulers tick at once.
        let (a, b, c) = tokio::join!(w.s.schedules_tick(), w.s.schedules_tick(), w.s.schedules_tick());
        let fired: Vec<_> = [a.unwrap(), b.unwrap(), c.unwrap()].concat();
        let mine: Vec<_> = fired.iter().filter(|f| f.schedule_id == row.id).collect();
        assert_eq!(mine.len(), 1, "[{l}] fired once: {fired:?}");
        assert!(mine[0].ok, "[{l}] {:?}", mine[0]);
        assert_eq!(
            mine[0].details["checks_queued"],
            json!(2),
            "[{l}] active + error, not inactive, not token, not bob's"
        );
        let queued = "SELECT COUNT(*) FROM tasks WHERE task_type = 'server_check' AND status = 'pending'";
        assert_eq!(count(&t.db, queued).await, 2, "[{l}]");
        let after = w.s.schedule_get(&w.alice, row.id).await.unwrap();
        assert!(
            after.last_run_at.is_some() && after.next_run_at.unwrap() > Utc::now(),
            "[{l}] {after:?}"
        );
        assert!(
            w.s.schedules_tick()
                .await
                .unwrap()
                .iter()
                .all(|f| f.schedule_id != row.id),
            "[{l}] not due again"
        );
        // Run again while the checks are still queued: nothing is queued twice.
        w.s.schedule_run_now(&w.alice, row.id).await.unwrap();
        let again = w.s.schedules_tick().await.unwrap();
        assert_eq!(
            again.iter().find(|f| f.schedule_id == row.id).unwrap().details["checks_queued"],
            json!(0),
            "[{l}]"
        );
        assert_eq!(count(&t.db, queued).await, 2, "[{l}]");
        let audited = count(
            &t.db,
            "SELECT COUNT(*) FROM audit_logs WHERE action = 'schedule.run.server_check'",
        )
        .await;
        assert_eq!(audited, 2, "[{l}] each run is audited");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn certificate_check_expires_renews_and_redeploys_what_is_due() {
    for t in common::both().await {
        let w = World::new(&t).await;
        let l = w.label;
        let uid = w.alice.user_id;
        let now = Utc::now();
        let server =
            w.s.server_create(
                &w.alice,
                &ServerInput {
                    hostname: Some("web.example.com".into()),
                    username: Some("deploy".into()),
                    password: Some("pw".into()),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        // (name, status, expires in days, auto_renew)
        let certs = [
            ("gone", "issued", -2, true),
            ("soon", "issued", 10, true),
            ("manual", "issued", 10, false),
            ("later", "issued", 90, true),
            // Imported, not obtained here: nothing to renew it with.
            ("imported", "issued", 10, true),
        ];
        for (name, status, days, auto) in certs {
            exec(
                &t.db,
                &format!(
                    "INSERT INTO certificates (user_id, name, domains, main_domain, certificate_type, status, issued_at, expires_at, \
                     auto_renew, renew_before_days) VALUES ({uid}, '{name}', '[\"{name}.example.com\"]', '{name}.example.com', \
                     'single', '{status}', '{}', '{}', {}, 30)",
                    stamp(now - Duration::days(60)),
                    stamp(now + Duration::days(days)),
                    i32::from(auto)
                ),
            )
            .await;
        }
        exec(
            &t.db,
            "INSERT INTO certificate_issuance (certificate_id, ca, directory_url, contact_email, challenge_type, key_type) \
             SELECT id, 'letsencrypt', 'https://acme.example/dir', 'ops@example.com', 'dns-01', 'ec256' \
             FROM certificates WHERE name <> 'imported'",
        )
        .await;
        let later = count(&t.db, "SELECT id FROM certificates WHERE name = 'later'").await;
        // Deployed before the certificate was (re)issued: stale. Another deployed after: current.
        exec(
            &t.db,
            &format!(
                "INSERT INTO certificate_deployments (certificate_id, server_id, deploy_path, status, auto_deploy, last_deploy_at) \
                 VALUES ({later}, {}, '/etc/ssl/later', 'deployed', 1, '{}')",
                server.id,
                stamp(now - Duration::days(90))
            ),
        )
        .await;
        let row =
            w.s.schedule_add(&w.alice, &input("certs", ScheduleType::CertificateCheck, "0 3 * * *"))
                .await
                .unwrap();
        w.s.schedule_run_now(&w.alice, row.id).await.unwrap();
        let fired = w.s.schedules_tick().await.unwrap();
        let f = fired.iter().find(|f| f.schedule_id == row.id).unwrap();
        assert!(f.ok, "[{l}] {f:?}");
        assert_eq!(f.details["expired"], json!(1), "[{l}] {f:?}");
        // gone (expired, auto_renew) and soon are in their window; manual and later are not, and
        // imported has no issuance settings.
        assert_eq!(f.details["renewals_queued"], json!(2), "[{l}] {f:?}");
        assert_eq!(f.details["deploys_queued"], json!(1), "[{l}] {f:?}");
        let status = count(
            &t.db,
            "SELECT COUNT(*) FROM certificates WHERE name = 'gone' AND status = 'expired'",
        )
        .await;
        assert_eq!(status, 1, "[{l}]");
        let renew_targets = count(
            &t.db,
            "SELECT COUNT(*) FROM tasks t JOIN certificates c ON c.id = t.target_id \
             WHERE t.task_type = 'certificate_renew' AND t.target_type = 'certificate' AND c.name IN ('gone', 'soon')",
        )
        .await;
        assert_eq!(renew_targets, 2, "[{l}]");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn cleanup_keeps_what_retention_allows_and_a_backup_without_a_directory_fails_on_record() {
    for t in common::both().await {
        let w = World::new(&t).await;
        let l = w.label;
        let old = stamp(Utc::now() - Duration::days(400));
        let recent = stamp(Utc::now() - Duration::days(2));
        for at in [&old, &recent] {
            exec(
                &t.db,
                &format!("INSERT INTO audit_logs (action, created_at) VALUES ('test.row', '{at}')"),
            )
            .await;
        }
        let schedules = w.s.schedule_list(&w.admin).await.unwrap();
        let id_of = |ty: ScheduleType| schedules.iter().find(|s| s.task_type == ty).map(|s| s.id).unwrap();
        let (cleanup, backup) = (id_of(ScheduleType::Cleanup), id_of(ScheduleType::Backup));
        assert!(
            w.s.schedule_run_now(&w.alice, cleanup).await.is_err(),
            "[{l}] system schedules are the admin's"
        );
        w.s.schedule_run_now(&w.admin, cleanup).await.unwrap();
        w.s.schedule_run_now(&w.admin, backup).await.unwrap();
        let fired = w.s.schedules_tick().await.unwrap();
        let c = fired.iter().find(|f| f.schedule_id == cleanup).unwrap();
        assert!(c.ok, "[{l}] {c:?}");
        assert_eq!(c.details["deleted"]["audit_logs"], json!(1), "[{l}] {c:?}");
        assert_eq!(
            count(&t.db, "SELECT COUNT(*) FROM audit_logs WHERE action = 'test.row'").await,
            1,
            "[{l}]"
        );
        let b = fired.iter().find(|f| f.schedule_id == backup).unwrap();
        assert!(
            !b.ok,
            "[{l}] no data dir, no backup.directory: never a fake success: {b:?}"
        );
        assert!(
            b.details["error"].as_str().unwrap().contains("backup.directory"),
            "[{l}] {b:?}"
        );
        let audited = count(
            &t.db,
            "SELECT COUNT(*) FROM audit_logs WHERE action = 'schedule.run.backup'",
        )
        .await;
        assert_eq!(audited, 1, "[{l}] the failed run is on record");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn due_monitors_are_queued_in_batches_once_across_schedulers() {
    for t in common::both().await {
        let w = World::new(&t).await;
        let l = w.label;
        let uid = w.alice.user_id;
        let values: Vec<String> = (0..250)
            .map(|i| format!("({uid}, 'm{i}', 'domain', 'm{i}.example.com', 443, 3600, 1)"))
            .collect();
        exec(
            &t.db,
            &format!(
                "INSERT INTO monitors (user_id, name, monitor_type, domain, port, check_interval, is_active) VALUES {}",
                values.join(", ")
            ),
        )
        .await;
        // One disabled monitor is never queued.
        exec(&t.db, "UPDATE monitors SET is_active = 0 WHERE name = 'm0'").await;
        let (a, b, c) = tokio::join!(
            w.s.monitors_tick(100, 20),
            w.s.monitors_tick(100, 20),
            w.s.monitors_tick(100, 20)
        );
        let tasks: Vec<i64> = [a.unwrap(), b.unwrap(), c.unwrap()].concat();
        assert_eq!(tasks.len(), 3, "[{l}] 249 monitors in tasks of at most 100: {tasks:?}");
        let mut seen = std::collections::HashSet::new();
        for id in &tasks {
            let task = certdeck::store::tasks::get_task(&t.db, *id).await.unwrap().unwrap();
            let ids = task.params.unwrap().0["monitor_ids"].as_array().unwrap().clone();
            assert!(ids.len() <= 100, "[{l}]");
            for m in ids {
                assert!(seen.insert(m.as_i64().unwrap()), "[{l}] monitor {m} queued twice");
            }
        }
        assert_eq!(seen.len(), 249, "[{l}]");
        assert!(
            w.s.monitors_tick(100, 20).await.unwrap().is_empty(),
            "[{l}] not due again for an hour"
        );
        let later = count(
            &t.db,
            "SELECT COUNT(*) FROM monitors WHERE is_active = 1 AND next_check_at IS NOT NULL",
        )
        .await;
        assert_eq!(later, 249, "[{l}] each got its next check time");
    }
}
