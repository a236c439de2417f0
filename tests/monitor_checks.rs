//! Monitor checks end to end (service → prober → store → alert rules) against the test bed's
//! real nginx serving certificates made here: a domain monitor whose site turns expired and
//! back fires one alert and resolves it; a certificate monitor reports drift when a host serves
//! another certificate than the one certdeck holds; queued `monitor_check` tasks check a batch.

mod common;

use certdeck::domain::{
    AlertType, AuthType, ConditionType, MonitorStatus, MonitorType, Severity, TaskStatus, UserRole,
};
use certdeck::service::certificates::{DeploymentInput, ImportInput};
use certdeck::service::monitoring::{AlertInput, MonitorInput};
use certdeck::service::servers::ServerInput;
use certdeck::service::tasks::Runners;
use common::nginx_pki::*;
use common::{count, make_user, services};

static BED_LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn rand_name(prefix: &str) -> String {
    format!("{prefix}{:08x}.monitor.test", rand::random::<u32>())
}

fn serve(bed: &Nginx, pki: &Pki, name: &str, l: &(Vec<u8>, String, String)) -> Site {
    make_site(bed, name, &format!("{}{}", l.1, pki.int_pem), &l.2, None, "")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_domain_monitor_fires_one_alert_when_its_site_expires_and_resolves_it_when_fixed() {
    let Some(bed) = bed() else { return };
    let _g = BED_LOCK.lock().await;
    let t = common::sqlite().await;
    let s = services(&t);
    let (_, a) = make_user(&s, &t, None, "ops", UserRole::Admin).await;
    let pki = pki();
    let name = rand_name("d");
    let good = leaf(&pki, &[name.as_str()], -1, 60);
    let site = serve(&bed, &pki, &name, &good);
    wait_served(&bed, &pki, &name, &good.0).await;

    let m = s
        .monitor_create(
            &a,
            &MonitorInput {
                name: Some("shop".into()),
                monitor_type: Some(MonitorType::Domain),
                domain: Some(name.clone()),
                port: Some(i64::from(bed.port)),
                connect_address: Some("127.0.0.1".into()),
                trust_bundle_pem: Some(pki.root_pem.clone()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    s.alert_create(
        &a,
        &AlertInput {
            name: Some("broken certificates".into()),
            alert_type: Some(AlertType::CertificateError),
            condition_type: Some(ConditionType::StatusChange),
            condition_value: Some("error".into()),
            severity: Some(Severity::Error),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let o = s.monitor_check_now(&a, m.id).await.unwrap();
    assert_eq!(o.status, MonitorStatus::Ok, "{o:?}");
    assert!(
        o.message.contains("TLSv1.3") && o.message.contains("valid for"),
        "{o:?}"
    );
    let row = s.monitor_get(&a, m.id).await.unwrap();
    assert!(row.last_check_at.is_some() && row.status == MonitorStatus::Ok);
    let hosts = &row.last_result.as_ref().unwrap().0["hosts"];
    assert_eq!(hosts[0]["chain_length"], 2, "{hosts}");
    assert_eq!(count(&t.db, "SELECT COUNT(*) FROM alert_history").await, 0);

    // The site now serves an expired certificate: one alert, not one per check.
    let expired = leaf(&pki, &[name.as_str()], -90, -3);
    drop(site);
    let site = serve(&bed, &pki, &name, &expired);
    wait_served(&bed, &pki, &name, &expired.0).await;
    let o = s.monitor_check_now(&a, m.id).await.unwrap();
    assert_eq!(o.status, MonitorStatus::Error, "{o:?}");
    assert!(o.message.contains("expired 3 days ago"), "{o:?}");
    assert!(
        o.alerts.iter().any(|x| x.contains("'broken certificates' fired")),
        "{o:?}"
    );
    // Every rule that fires opens one alert: the user's default rules (expiry at 30/7/1 days,
    // certificate errors) and this one.
    let opened = count(&t.db, "SELECT COUNT(*) FROM alert_history WHERE is_resolved = 0").await;
    assert_eq!(opened, o.alerts.len() as i64, "{o:?}");
    assert!(opened >= 2, "{o:?}");
    let o2 = s.monitor_check_now(&a, m.id).await.unwrap();
    assert_eq!(o2.status, MonitorStatus::Error);
    assert!(o2.alerts.is_empty(), "no second alert, no reminder yet: {o2:?}");
    assert_eq!(
        count(&t.db, "SELECT COUNT(*) FROM alert_history").await,
        opened,
        "no new rows"
    );
    // Past the re-notify interval: a reminder for each open alert, except the acknowledged one.
    common::exec(
        &t.db,
        "UPDATE alert_history SET last_notified_at = '2000-01-01 00:00:00'",
    )
    .await;
    let o_remind = s.monitor_check_now(&a, m.id).await.unwrap();
    assert_eq!(
        o_remind
            .alerts
            .iter()
            .filter(|x| x.contains("still open: reminder"))
            .count() as i64,
        opened,
        "{o_remind:?}"
    );
    let first: i64 = common::scalar(&t.db, "SELECT MIN(id) FROM alert_history", ()).await;
    s.alert_acknowledge(&a, first).await.unwrap();
    assert!(s
        .alert_acknowledge(&a, first)
        .await
        .unwrap_err()
        .to_string()
        .contains("already acknowledged"));
    common::exec(
        &t.db,
        "UPDATE alert_history SET last_notified_at = '2000-01-01 00:00:00'",
    )
    .await;
    let o_ack = s.monitor_check_now(&a, m.id).await.unwrap();
    assert_eq!(
        o_ack
            .alerts
            .iter()
            .filter(|x| x.contains("still open: reminder"))
            .count() as i64,
        opened - 1,
        "no reminder for the acknowledged alert: {o_ack:?}"
    );
    assert_eq!(s.monitor_get(&a, m.id).await.unwrap().consecutive_failures, 4);

    // Fixed: the alert resolves by itself.
    drop(site);
    let _site = serve(&bed, &pki, &name, &good);
    wait_served(&bed, &pki, &name, &good.0).await;
    let o3 = s.monitor_check_now(&a, m.id).await.unwrap();
    assert_eq!(o3.status, MonitorStatus::Ok, "{o3:?}");
    assert_eq!(
        o3.alerts.iter().filter(|x| x.contains("resolved")).count() as i64,
        opened,
        "{o3:?}"
    );
    assert_eq!(count(&t.db, "SELECT COUNT(*) FROM alert_history").await, opened);
    assert_eq!(
        count(
            &t.db,
            "SELECT COUNT(*) FROM alert_history WHERE is_resolved = 1 AND resolved_at IS NOT NULL"
        )
        .await,
        opened
    );
    assert_eq!(s.monitor_get(&a, m.id).await.unwrap().consecutive_failures, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_certificate_monitor_reports_a_host_serving_another_certificate_as_drift() {
    let Some(bed) = bed() else { return };
    let _g = BED_LOCK.lock().await;
    let t = common::sqlite().await;
    let s = services(&t);
    let (_, a) = make_user(&s, &t, None, "ops", UserRole::Admin).await;
    let pki = pki();
    let name = rand_name("c");
    let held = leaf(&pki, &[name.as_str()], -1, 80);
    let old = leaf(&pki, &[name.as_str()], -30, 50);
    let cert = s
        .cert_import(
            &a,
            &ImportInput {
                certificate: format!("{}{}", held.1, pki.int_pem).into_bytes(),
                private_key: held.2.clone().into_bytes(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let server = s
        .server_create(
            &a,
            &ServerInput {
                name: Some("web1".into()),
                hostname: Some("127.0.0.1".into()),
                port: Some(22),
                auth_type: Some(AuthType::Password),
                username: Some("deploy".into()),
                password: Some("unused".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    s.deployment_create_with(
        &a,
        cert.id,
        server.id,
        &DeploymentInput {
            deploy_path: "/etc/ssl/shop.pem".into(),
            verify_host: Some("127.0.0.1".into()),
            verify_sni: Some(name.clone()),
            verify_port: Some(i64::from(bed.port)),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let m = s
        .monitor_create(
            &a,
            &MonitorInput {
                name: Some("shop certificate".into()),
                monitor_type: Some(MonitorType::Certificate),
                target_id: Some(cert.id),
                trust_bundle_pem: Some(pki.root_pem.clone()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    // The host still serves the previous certificate: renewed but not deployed.
    let site = serve(&bed, &pki, &name, &old);
    wait_served(&bed, &pki, &name, &old.0).await;
    let o = s.monitor_check_now(&a, m.id).await.unwrap();
    assert_eq!(o.status, MonitorStatus::Warning, "{o:?}");
    assert!(
        o.message.contains(&format!("web1 (127.0.0.1:{})", bed.port)) && o.message.contains("renewed but not deployed"),
        "{o:?}"
    );
    // Deployed: no drift.
    drop(site);
    let _site = serve(&bed, &pki, &name, &held);
    wait_served(&bed, &pki, &name, &held.0).await;
    let o = s.monitor_check_now(&a, m.id).await.unwrap();
    assert_eq!(o.status, MonitorStatus::Ok, "{o:?}");
    assert!(!o.message.contains("drift"), "{o:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn due_monitors_are_queued_in_batches_and_checked_by_the_task() {
    let Some(bed) = bed() else { return };
    let _g = BED_LOCK.lock().await;
    for t in common::both().await {
        let l = t.label();
        let s = services(&t);
        let (_, a) = make_user(&s, &t, None, "ops", UserRole::Admin).await;
        let pki = pki();
        let name = rand_name("b");
        let good = leaf(&pki, &[name.as_str()], -1, 60);
        let _site = serve(&bed, &pki, &name, &good);
        wait_served(&bed, &pki, &name, &good.0).await;
        let add = |n: &str, domain: &str, port: u16| MonitorInput {
            name: Some(n.into()),
            monitor_type: Some(MonitorType::Domain),
            domain: Some(domain.into()),
            port: Some(i64::from(port)),
            connect_address: (domain != "nonexistent.invalid").then(|| "127.0.0.1".to_string()),
            trust_bundle_pem: Some(pki.root_pem.clone()),
            ..Default::default()
        };
        let ok = s.monitor_create(&a, &add("ok", &name, bed.port)).await.unwrap();
        let refused = s.monitor_create(&a, &add("refused", &name, 18469)).await.unwrap();
        let dns = s
            .monitor_create(&a, &add("dns", "nonexistent.invalid", 443))
            .await
            .unwrap();
        let tasks = s.monitors_tick(2, 5).await.unwrap();
        assert_eq!(tasks.len(), 2, "[{l}] 3 due monitors in batches of 2");
        assert!(
            s.monitors_tick(2, 5).await.unwrap().is_empty(),
            "[{l}] not queued twice"
        );
        for id in &tasks {
            s.task_run_here(&a, *id, &Runners::builtin()).await.unwrap();
            let d = s.task_get(&a, *id).await.unwrap();
            assert_eq!(d.task.status, TaskStatus::Completed, "[{l}] {:?}", d.task.error_message);
        }
        let status = |id: i64| {
            let s = &s;
            let a = &a;
            async move { s.monitor_get(a, id).await.unwrap() }
        };
        assert_eq!(status(ok.id).await.status, MonitorStatus::Ok, "[{l}]");
        let r = status(refused.id).await;
        assert_eq!(r.status, MonitorStatus::Error, "[{l}]");
        assert!(
            r.status_message.as_deref().unwrap_or("").contains("refused"),
            "[{l}] {r:?}"
        );
        let d = status(dns.id).await;
        assert!(
            d.status_message.as_deref().unwrap_or("").contains("does not resolve"),
            "[{l}] {d:?}"
        );
        assert!(
            d.next_check_at.is_some_and(|n| n > chrono::Utc::now()),
            "[{l}] next check ahead"
        );
    }
}
