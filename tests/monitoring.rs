//! Monitors, alert rules, notification channels, their bindings, alert history and the audit
//! trail of all of these, through the service layer, on every backend of `common::both()`
//! (SQLite always, MariaDB when `CERTDECK_TEST_MYSQL_URL` is set).

mod common;

use std::collections::BTreeSet;

use certdeck::domain::{AlertType, AuthType, ChannelType, ConditionType, MonitorStatus, MonitorType, Severity};
use certdeck::errors::ServiceError;
use certdeck::service::certificates::ImportInput;
use certdeck::service::monitoring::{AlertInput, ChannelView, MonitorInput};
use certdeck::service::servers::ServerInput;
use certdeck::service::Actor;
use certdeck::store::audit::{AuditFilter, AuditRow};
use certdeck::store::monitoring::{AlertRow, MonitorFilter, MonitorRow};
use certdeck::store::Page;
use chrono::{Duration, Utc};
use common::{
    assert_err, audit_all, audit_count, audit_rows, count, count_with, exec_with, ids, sorted, text_with, vfield, World,
};
use serde_json::{json, Value};

const SMTP_PW: &str = "smtp-S3cret-pw-4711";
const SMTP_PW2: &str = "smtp-N3w-secret-0815";
const HOOK_SECRET: &str = "whsec_9f8e7d6c5b4a39281706";
const SLACK_URL: &str = "https://hooks.slack.com/services/T0001/B0002/XyZsecretPart123";

// ------------------------------------------------------------------ harness helpers

/// Asserts exactly one audit row of `action` about `resource_id` (None: the newest row of that
/// action), by `user_id`, of `resource_type`; returns it.
async fn assert_audited(
    w: &World,
    action: &str,
    resource_type: &str,
    resource_id: Option<i64>,
    user_id: i64,
) -> AuditRow {
    let rows: Vec<AuditRow> = audit_rows(w, action)
        .await
        .into_iter()
        .filter(|r| resource_id.is_none() || r.resource_id == resource_id)
        .collect();
    if resource_id.is_some() {
        assert_eq!(
            rows.len(),
            1,
            "[{}] expected one '{action}' audit row for resource {resource_id:?}, got {rows:?}",
            w.label
        );
    }
    let r = rows
        .first()
        .unwrap_or_else(|| panic!("[{}] no '{action}' audit row", w.label))
        .clone();
    assert_eq!(r.user_id, Some(user_id), "[{}] '{action}' actor", w.label);
    assert_eq!(
        r.resource_type.as_deref(),
        Some(resource_type),
        "[{}] '{action}' resource type",
        w.label
    );
    r
}

/// Records a fired alert in the history, the way the alert engine does.
async fn add_history(w: &World, alert_id: i64, monitor_id: i64, severity: &str, message: &str) {
    exec_with(
        w.db(),
        "INSERT INTO alert_history (alert_id, monitor_id, severity, message) VALUES (?, ?, ?, ?)",
        ((alert_id, monitor_id), (severity, message)),
    )
    .await;
}

fn details_text(r: &AuditRow) -> String {
    r.details.as_ref().map(|d| d.0.to_string()).unwrap_or_default()
}

// ------------------------------------------------------------------ fixtures

fn domain_monitor(name: &str, domain: &str) -> MonitorInput {
    MonitorInput {
        name: Some(name.into()),
        monitor_type: Some(MonitorType::Domain),
        domain: Some(domain.into()),
        ..Default::default()
    }
}

async fn monitor(w: &World, actor: &Actor, input: &MonitorInput) -> MonitorRow {
    w.s.monitor_create(actor, input)
        .await
        .unwrap_or_else(|e| panic!("[{}] create monitor {input:?}: {e}", w.label))
}

async fn certificate(w: &World, actor: &Actor, name: &str) -> i64 {
    let kp = rcgen::KeyPair::generate().expect("key");
    let mut params = rcgen::CertificateParams::new(vec![name.to_string()]).expect("params");
    params.not_after = rcgen::date_time_ymd(2030, 1, 1);
    let cert = params.self_signed(&kp).expect("self-sign");
    w.s.cert_import(
        actor,
        &ImportInput {
            certificate: cert.pem().into_bytes(),
            private_key: kp.serialize_pem().into_bytes(),
            ..Default::default()
        },
    )
    .await
    .unwrap_or_else(|e| panic!("[{}] import {name}: {e}", w.label))
    .id
}

fn expiry_alert(name: &str, days: &str) -> AlertInput {
    AlertInput {
        name: Some(name.into()),
        alert_type: Some(AlertType::CertificateExpiry),
        condition_type: Some(ConditionType::DaysBefore),
        condition_value: Some(days.into()),
        ..Default::default()
    }
}

async fn alert(w: &World, actor: &Actor, input: &AlertInput) -> AlertRow {
    w.s.alert_create(actor, input)
        .await
        .unwrap_or_else(|e| panic!("[{}] create alert {input:?}: {e}", w.label))
}

fn webhook_config() -> Value {
    json!({"url": "https://hooks.example.com/certdeck", "secret": HOOK_SECRET, "flavor": "generic"})
}

fn email_config() -> Value {
    json!({
        "to": "ops@example.com, oncall@example.com",
        "smtp_host": "smtp.example.com",
        "smtp_port": 587,
        "username": "certdeck",
        "password": SMTP_PW,
    })
}

async fn channel(w: &World, actor: &Actor, name: &str, t: ChannelType, config: &Value) -> ChannelView {
    w.s.channel_create(actor, name, t, config)
        .await
        .unwrap_or_else(|e| panic!("[{}] create channel {name}: {e}", w.label))
}

// ------------------------------------------------------------------ monitors

#[tokio::test(flavor = "multi_thread")]
async fn domain_monitors_normalise_idn_refuse_wildcards_and_take_defaults_from_settings() {
    for t in common::both().await {
        let w = World::new(&t).await;
        let l = w.label;
        let m = monitor(&w, &w.alice, &domain_monitor("books", "Bücher.Example.")).await;
        assert_eq!(m.user_id, w.alice.user_id, "[{l}] owner");
        assert_eq!(m.monitor_type, MonitorType::Domain, "[{l}]");
        assert_eq!(
            m.domain.as_deref(),
            Some("xn--bcher-kva.example"),
            "[{l}] IDN to punycode"
        );
        assert_eq!(m.target_id, None, "[{l}] a domain monitor has no target row");
        assert_eq!(m.port, Some(443), "[{l}] default port");
        assert_eq!(m.check_interval, 86_400, "[{l}] default interval");
        assert!(m.is_active, "[{l}] active by default");
        assert!(m.next_check_at.is_some(), "[{l}] an active monitor is scheduled");
        assert_eq!(m.status, MonitorStatus::Unknown, "[{l}] not checked yet");
        assert_audited(&w, "monitor.create", "monitor", Some(m.id), w.alice.user_id).await;

        let refusals: Vec<(&str, MonitorInput, &str)> = vec![
            ("wildcard", domain_monitor("wild", "*.example.com"), "domain"),
            (
                "no domain",
                MonitorInput {
                    domain: None,
                    ..domain_monitor("none", "x")
                },
                "domain",
            ),
            ("single label", domain_monitor("local", "localhost"), "domain"),
            (
                "no name",
                MonitorInput {
                    name: None,
                    ..domain_monitor("", "a.example.com")
                },
                "name",
            ),
            (
                "no type",
                MonitorInput {
                    monitor_type: None,
                    ..domain_monitor("t", "a.example.com")
                },
                "monitor_type",
            ),
            (
                "interval 59",
                MonitorInput {
                    check_interval: Some(59),
                    ..domain_monitor("fast", "a.example.com")
                },
                "check_interval",
            ),
            (
                "port 0",
                MonitorInput {
                    port: Some(0),
                    ..domain_monitor("p", "a.example.com")
                },
                "port",
            ),
        ];
        for (what, input, field) in refusals {
            let monitors = count(w.db(), "SELECT COUNT(*) FROM monitors").await;
            let audits = audit_count(w.db()).await;
            let e = assert_err!(
                w.s.monitor_create(&w.alice, &input).await,
                ServiceError::Validation { .. },
                "[{l}] {what}"
            );
            assert_eq!(vfield(&e), field, "[{l}] {what}: {e}");
            if what == "wildcard" {
                assert!(e.to_string().contains("wildcard"), "[{l}] {e}");
            }
            assert_eq!(
                count(w.db(), "SELECT COUNT(*) FROM monitors").await,
                monitors,
                "[{l}] {what}: monitors rows"
            );
            assert_eq!(audit_count(w.db()).await, audits, "[{l}] {what}: audit rows");
        }

        // Explicit values win over the defaults.
        let explicit = monitor(
            &w,
            &w.alice,
            &MonitorInput {
                port: Some(8443),
                check_interval: Some(3600),
                is_active: Some(false),
                ..domain_monitor("alt", "alt.example.com")
            },
        )
        .await;
        assert_eq!((explicit.port, explicit.check_interval), (Some(8443), 3600), "[{l}]");
        assert!(
            !explicit.is_active && explicit.next_check_at.is_none(),
            "[{l}] a disabled monitor is not scheduled"
        );

        // The defaults are read from the settings, not hard-coded.
        w.s.setting_set(&w.admin, "monitor.default_port", "8443", None)
            .await
            .unwrap();
        w.s.setting_set(&w.admin, "monitor.default_check_interval", "600", None)
            .await
            .unwrap();
        let m2 = monitor(&w, &w.alice, &domain_monitor("later", "later.example.com")).await;
        assert_eq!(
            (m2.port, m2.check_interval),
            (Some(8443), 600),
            "[{l}] defaults follow the settings"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn certificate_and_server_monitors_watch_only_the_owners_rows() {
    for t in common::both().await {
        let w = World::new(&t).await;
        let l = w.label;
        let cert = certificate(&w, &w.alice, "shop.example.com").await;
        let m = monitor(
            &w,
            &w.alice,
            &MonitorInput {
                name: Some("shop cert".into()),
                monitor_type: Some(MonitorType::Certificate),
                target_id: Some(cert),
                ..Default::default()
            },
        )
        .await;
        assert_eq!(
            (m.monitor_type, m.target_id),
            (MonitorType::Certificate, Some(cert)),
            "[{l}]"
        );

        let audits = audit_count(w.db()).await;
        let of = |target: Option<i64>| MonitorInput {
            name: Some("x".into()),
            monitor_type: Some(MonitorType::Certificate),
            target_id: target,
            ..Default::default()
        };
        assert_err!(
            w.s.monitor_create(&w.bob, &of(Some(cert))).await,
            ServiceError::NotFound { .. },
            "[{l}] bob watches alice's certificate"
        );
        let e = assert_err!(
            w.s.monitor_create(&w.admin, &of(Some(cert))).await,
            ServiceError::Forbidden(_),
            "[{l}] admin's monitor on alice's certificate"
        );
        assert!(e.to_string().contains("another user"), "[{l}] {e}");
        assert_err!(
            w.s.monitor_create(&w.alice, &of(Some(999_999))).await,
            ServiceError::NotFound { .. },
            "[{l}] unknown certificate"
        );
        let e = assert_err!(
            w.s.monitor_create(&w.alice, &of(None)).await,
            ServiceError::Validation { .. },
            "[{l}] no target"
        );
        assert_eq!(vfield(&e), "target_id", "[{l}]");

        let srv =
            w.s.server_create(
                &w.alice,
                &ServerInput {
                    hostname: Some("web1.example.com".into()),
                    auth_type: Some(AuthType::Password),
                    username: Some("deploy".into()),
                    password: Some("ssh-password-1".into()),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        // The server got its own monitor when it was created.
        let monitors = count(w.db(), "SELECT COUNT(*) FROM monitors").await;
        let srv_input = MonitorInput {
            name: Some("web1".into()),
            monitor_type: Some(MonitorType::Server),
            target_id: Some(srv.id),
            ..Default::default()
        };
        assert_err!(
            w.s.monitor_create(&w.bob, &srv_input).await,
            ServiceError::NotFound { .. },
            "[{l}] bob watches alice's server"
        );
        assert_err!(
            w.s.monitor_create(&w.admin, &srv_input).await,
            ServiceError::Forbidden(_),
            "[{l}] admin watches alice's server"
        );
        assert_eq!(
            count(w.db(), "SELECT COUNT(*) FROM monitors").await,
            monitors,
            "[{l}] refusals added monitors"
        );
        assert_eq!(
            audit_count(w.db()).await,
            audits + 2,
            "[{l}] only server.create and its monitor's monitor.create were audited"
        );
        let sm = monitor(&w, &w.alice, &srv_input).await;
        assert_eq!(
            (sm.monitor_type, sm.target_id),
            (MonitorType::Server, Some(srv.id)),
            "[{l}]"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_domain_given_to_a_certificate_monitor_is_validated_like_any_domain() {
    // Every backend is checked before failing, so the report shows how each one behaves.
    let mut problems = Vec::new();
    for t in common::both().await {
        let w = World::new(&t).await;
        let l = w.label;
        let cert = certificate(&w, &w.alice, "shop.example.com").await;
        let with_domain = |d: &str| MonitorInput {
            name: Some("shop cert".into()),
            monitor_type: Some(MonitorType::Certificate),
            target_id: Some(cert),
            domain: Some(d.into()),
            ..Default::default()
        };
        // Invalid names are refused as the domain, on every backend alike, and nothing is stored.
        let long = format!("{}.example.com", vec!["a".repeat(60); 5].join("."));
        for (what, d) in [
            ("a hostname with a space", "bad host!"),
            ("a URL", "https://shop.example.com/"),
            ("300 characters", long.as_str()),
        ] {
            let monitors = count(w.db(), "SELECT COUNT(*) FROM monitors").await;
            match w.s.monitor_create(&w.alice, &with_domain(d)).await {
                Err(ServiceError::Validation { field, .. }) if field == "domain" => {
                    let after = count(w.db(), "SELECT COUNT(*) FROM monitors").await;
                    assert_eq!(after, monitors, "[{l}] {what}: a refused monitor was stored");
                }
                Err(e) => problems.push(format!("[{l}] {what} as a certificate monitor's domain: got error {e:?}, expected a validation error of 'domain'")),
                Ok(m) => problems.push(format!("[{l}] {what} as a certificate monitor's domain was accepted and stored as {:?}", m.domain)),
            }
        }
        // A valid name is normalised the same way as for a domain monitor.
        let m = monitor(&w, &w.alice, &with_domain("Shop.Bücher.Example")).await;
        if m.domain.as_deref() != Some("shop.xn--bcher-kva.example") {
            problems.push(format!(
                "[{l}] a certificate monitor's domain 'Shop.Bücher.Example' was stored as {:?}, expected the punycode form shop.xn--bcher-kva.example",
                m.domain
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[tokio::test(flavor = "multi_thread")]
async fn monitors_can_be_retimed_disabled_enabled_and_deleted() {
    for t in common::both().await {
        let w = World::new(&t).await;
        let l = w.label;
        let m = monitor(&w, &w.alice, &domain_monitor("shop", "shop.example.com")).await;
        let upd = |i: MonitorInput| {
            let s = w.s.clone();
            let a = w.alice.clone();
            async move { s.monitor_update(&a, m.id, &i).await }
        };

        let audits = audit_count(w.db()).await;
        let e = assert_err!(
            upd(MonitorInput {
                check_interval: Some(59),
                ..Default::default()
            })
            .await,
            ServiceError::Validation { .. },
            "[{l}] interval 59"
        );
        assert_eq!(vfield(&e), "check_interval", "[{l}]");
        let e = assert_err!(
            upd(MonitorInput {
                check_interval: Some(31 * 86_400 + 1),
                ..Default::default()
            })
            .await,
            ServiceError::Validation { .. },
            "[{l}] interval over 31 days"
        );
        assert_eq!(vfield(&e), "check_interval", "[{l}]");
        let e = assert_err!(
            upd(MonitorInput {
                port: Some(70_000),
                ..Default::default()
            })
            .await,
            ServiceError::Validation { .. },
            "[{l}] port"
        );
        assert_eq!(vfield(&e), "port", "[{l}]");
        assert_err!(
            upd(MonitorInput {
                domain: Some("other.example.com".into()),
                ..Default::default()
            })
            .await,
            ServiceError::Validation { .. },
            "[{l}] changing the target"
        );
        assert_err!(
            w.s.monitor_update(
                &w.bob,
                m.id,
                &MonitorInput {
                    check_interval: Some(600),
                    ..Default::default()
                }
            )
            .await,
            ServiceError::NotFound { .. },
            "[{l}] bob retimes alice's monitor"
        );
        let same = w.s.monitor_get(&w.alice, m.id).await.unwrap();
        assert_eq!(
            (same.check_interval, same.port, same.domain.as_deref()),
            (86_400, Some(443), Some("shop.example.com")),
            "[{l}] unchanged"
        );
        assert_eq!(audit_count(w.db()).await, audits, "[{l}] refusals were audited");

        let retimed = upd(MonitorInput {
            check_interval: Some(3600),
            name: Some("shop (hourly)".into()),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|e| panic!("[{l}] retime: {e}"));
        assert_eq!(
            (retimed.check_interval, retimed.name.as_str()),
            (3600, "shop (hourly)"),
            "[{l}]"
        );
        assert_audited(&w, "monitor.update", "monitor", Some(m.id), w.alice.user_id).await;

        let off = upd(MonitorInput {
            is_active: Some(false),
            ..Default::default()
        })
        .await
        .unwrap();
        assert!(!off.is_active, "[{l}] disabled");
        let inactive =
            w.s.monitor_list(
                &w.alice,
                &MonitorFilter {
                    is_active: Some(false),
                    ..Default::default()
                },
                Page::default(),
            )
            .await
            .unwrap();
        assert_eq!(sorted(ids(&inactive, |r| r.id)), vec![m.id], "[{l}] listed as inactive");
        // Forget the schedule while disabled; enabling must schedule it again.
        exec_with(w.db(), "UPDATE monitors SET next_check_at = NULL WHERE id = ?", m.id).await;
        let before_enable = Utc::now() - Duration::seconds(2);
        let on = upd(MonitorInput {
            is_active: Some(true),
            ..Default::default()
        })
        .await
        .unwrap();
        assert!(on.is_active, "[{l}] enabled");
        let next = on
            .next_check_at
            .unwrap_or_else(|| panic!("[{l}] an enabled monitor must be scheduled"));
        assert!(
            next >= before_enable && next <= Utc::now() + Duration::seconds(2),
            "[{l}] scheduled now, got {next}"
        );

        // Alerts bound to the monitor fall back to all monitors; its history goes with it.
        let rule = alert(
            &w,
            &w.alice,
            &AlertInput {
                monitor_id: Some(m.id),
                ..expiry_alert("shop expiry", "14")
            },
        )
        .await;
        add_history(&w, rule.id, m.id, "warning", "expires soon").await;
        assert_err!(
            w.s.monitor_delete(&w.bob, m.id).await,
            ServiceError::NotFound { .. },
            "[{l}] bob deletes it"
        );
        w.s.monitor_delete(&w.alice, m.id)
            .await
            .unwrap_or_else(|e| panic!("[{l}] delete: {e}"));
        assert_err!(
            w.s.monitor_get(&w.alice, m.id).await,
            ServiceError::NotFound { .. },
            "[{l}] deleted"
        );
        assert_eq!(
            w.s.alert_get(&w.alice, rule.id).await.unwrap().monitor_id,
            None,
            "[{l}] rule detached"
        );
        assert_eq!(
            count_with(w.db(), "SELECT COUNT(*) FROM alert_history WHERE monitor_id = ?", m.id).await,
            0,
            "[{l}] history"
        );
        assert_audited(&w, "monitor.delete", "monitor", Some(m.id), w.alice.user_id).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn monitor_lists_filter_by_status_type_and_owner() {
    for t in common::both().await {
        let w = World::new(&t).await;
        let l = w.label;
        let cert = certificate(&w, &w.alice, "c.example.com").await;
        let d1 = monitor(&w, &w.alice, &domain_monitor("d1", "d1.example.com")).await;
        // Every certificate gets its monitor when it is created.
        let c1 =
            w.s.monitor_list(
                &w.alice,
                &MonitorFilter {
                    monitor_type: Some(MonitorType::Certificate),
                    ..Default::default()
                },
                Page::default(),
            )
            .await
            .unwrap()
            .into_iter()
            .find(|m| m.target_id == Some(cert))
            .expect("the certificate's own monitor");
        let d2 = monitor(
            &w,
            &w.alice,
            &MonitorInput {
                is_active: Some(false),
                ..domain_monitor("d2", "d2.example.com")
            },
        )
        .await;
        let b1 = monitor(&w, &w.bob, &domain_monitor("b1", "b1.example.com")).await;
        // A check (the scheduler's job) set d1's status.
        let n = exec_with(
            w.db(),
            "UPDATE monitors SET status = 'ok' WHERE id = ? AND user_id = ?",
            (d1.id, w.alice.user_id),
        )
        .await;
        assert_eq!(n, 1, "[{l}]");

        let list = |a: &Actor, f: MonitorFilter| {
            let s = w.s.clone();
            let a = a.clone();
            async move { sorted(ids(&s.monitor_list(&a, &f, Page::default()).await.unwrap(), |r| r.id)) }
        };
        let by_status = |status: MonitorStatus| MonitorFilter {
            status: Some(status),
            ..Default::default()
        };
        let by_type = |monitor_type: MonitorType| MonitorFilter {
            monitor_type: Some(monitor_type),
            ..Default::default()
        };
        let all = MonitorFilter::default;
        let cases = [
            (&w.alice, all(), vec![d1.id, c1.id, d2.id], "own monitors"),
            (&w.admin, all(), vec![d1.id, c1.id, d2.id, b1.id], "admin sees all"),
            (&w.bob, all(), vec![b1.id], "bob's"),
            (
                &w.bob,
                MonitorFilter {
                    user_id: Some(w.alice.user_id),
                    ..Default::default()
                },
                vec![b1.id],
                "bob cannot widen his scope",
            ),
            (&w.alice, by_status(MonitorStatus::Ok), vec![d1.id], "status ok"),
            (
                &w.alice,
                by_status(MonitorStatus::Unknown),
                vec![c1.id, d2.id],
                "status unknown",
            ),
            (&w.alice, by_status(MonitorStatus::Error), vec![], "status error"),
            (
                &w.alice,
                by_type(MonitorType::Domain),
                vec![d1.id, d2.id],
                "type domain",
            ),
            (
                &w.alice,
                by_type(MonitorType::Certificate),
                vec![c1.id],
                "type certificate",
            ),
            (
                &w.alice,
                MonitorFilter {
                    is_active: Some(true),
                    ..by_type(MonitorType::Domain)
                },
                vec![d1.id],
                "active domain monitors",
            ),
        ];
        for (actor, filter, expected, what) in cases {
            assert_eq!(list(actor, filter).await, sorted(expected), "[{l}] {what}");
        }
        assert_err!(
            w.s.monitor_get(&w.bob, d1.id).await,
            ServiceError::NotFound { .. },
            "[{l}] bob gets alice's monitor"
        );
    }
}

// ------------------------------------------------------------------ alert rules

#[tokio::test(flavor = "multi_thread")]
async fn alert_rules_check_their_conditions() {
    for t in common::both().await {
        let w = World::new(&t).await;
        let l = w.label;
        let a = alert(&w, &w.alice, &expiry_alert("expiry in 14 days", " 14 ")).await;
        assert_eq!(a.user_id, w.alice.user_id, "[{l}]");
        assert_eq!(
            (a.alert_type, a.condition_type),
            (AlertType::CertificateExpiry, ConditionType::DaysBefore),
            "[{l}]"
        );
        assert_eq!(a.condition_value, "14", "[{l}] trimmed value");
        assert_eq!(a.severity, Severity::Warning, "[{l}] default severity");
        assert!(a.is_active && a.monitor_id.is_none(), "[{l}] {a:?}");
        assert_audited(&w, "alert.create", "alert", Some(a.id), w.alice.user_id).await;

        let st = alert(
            &w,
            &w.alice,
            &AlertInput {
                name: Some("server down".into()),
                alert_type: Some(AlertType::ServerDown),
                condition_type: Some(ConditionType::StatusChange),
                condition_value: Some("error".into()),
                severity: Some(Severity::Critical),
                ..Default::default()
            },
        )
        .await;
        assert_eq!(
            (st.condition_value.as_str(), st.severity),
            ("error", Severity::Critical),
            "[{l}]"
        );

        let down = |c: ConditionType, v: &str| AlertInput {
            name: Some("x".into()),
            alert_type: Some(AlertType::ServerDown),
            condition_type: Some(c),
            condition_value: Some(v.into()),
            ..Default::default()
        };
        let refusals: Vec<(&str, AlertInput, &str)> = vec![
            (
                "days_before on server_down",
                down(ConditionType::DaysBefore, "7"),
                "condition_type",
            ),
            ("days_before 400", expiry_alert("x", "400"), "condition_value"),
            ("days_before -1", expiry_alert("x", "-1"), "condition_value"),
            ("days_before text", expiry_alert("x", "soon"), "condition_value"),
            (
                "status_change to a non-status",
                down(ConditionType::StatusChange, "exploded"),
                "condition_value",
            ),
            (
                "threshold not a number",
                down(ConditionType::ValueThreshold, "lots"),
                "condition_value",
            ),
            (
                "threshold infinite",
                down(ConditionType::ValueThreshold, "days_left<inf"),
                "condition_value",
            ),
            (
                "threshold on an unknown metric",
                down(ConditionType::ValueThreshold, "uptime>3"),
                "condition_value",
            ),
            (
                "threshold without a comparison",
                down(ConditionType::ValueThreshold, "7"),
                "condition_value",
            ),
            (
                "no name",
                AlertInput {
                    name: None,
                    ..expiry_alert("x", "1")
                },
                "name",
            ),
        ];
        for (what, input, field) in refusals {
            let alerts = count(w.db(), "SELECT COUNT(*) FROM alerts").await;
            let audits = audit_count(w.db()).await;
            let e = assert_err!(
                w.s.alert_create(&w.alice, &input).await,
                ServiceError::Validation { .. },
                "[{l}] {what}"
            );
            assert_eq!(vfield(&e), field, "[{l}] {what}: {e}");
            assert_eq!(
                count(w.db(), "SELECT COUNT(*) FROM alerts").await,
                alerts,
                "[{l}] {what}: alerts rows"
            );
            assert_eq!(audit_count(w.db()).await, audits, "[{l}] {what}: audit rows");
        }
        let e = assert_err!(
            w.s.alert_create(&w.alice, &down(ConditionType::StatusChange, "exploded"))
                .await,
            ServiceError::Validation { .. },
            "[{l}] status value"
        );
        assert!(
            e.to_string().contains("ok, warning, error, unknown"),
            "[{l}] should list the monitor statuses: {e}"
        );

        // Monitors of another owner.
        let bm = monitor(&w, &w.bob, &domain_monitor("b", "b.example.com")).await;
        assert_err!(
            w.s.alert_create(
                &w.alice,
                &AlertInput {
                    monitor_id: Some(bm.id),
                    ..expiry_alert("x", "3")
                }
            )
            .await,
            ServiceError::NotFound { .. },
            "[{l}] alice's rule on bob's monitor"
        );
        assert_err!(
            w.s.alert_create(
                &w.admin,
                &AlertInput {
                    monitor_id: Some(bm.id),
                    ..expiry_alert("x", "3")
                }
            )
            .await,
            ServiceError::Forbidden(_),
            "[{l}] admin's rule on bob's monitor"
        );

        // Update.
        let am = monitor(&w, &w.alice, &domain_monitor("a", "a.example.com")).await;
        let u =
            w.s.alert_update(
                &w.alice,
                a.id,
                &AlertInput {
                    name: Some("expiry in 7 days".into()),
                    condition_value: Some("7".into()),
                    severity: Some(Severity::Error),
                    monitor_id: Some(am.id),
                    is_active: Some(false),
                    ..Default::default()
                },
            )
            .await
            .unwrap_or_else(|e| panic!("[{l}] update: {e}"));
        assert_eq!(u.name, "expiry in 7 days", "[{l}]");
        assert_eq!(u.condition_value, "7", "[{l}]");
        assert_eq!(u.severity, Severity::Error, "[{l}]");
        assert_eq!(u.monitor_id, Some(am.id), "[{l}]");
        assert!(!u.is_active, "[{l}]");
        assert_audited(&w, "alert.update", "alert", Some(a.id), w.alice.user_id).await;
        let audits = audit_count(w.db()).await;
        let e = assert_err!(
            w.s.alert_update(
                &w.alice,
                a.id,
                &AlertInput {
                    alert_type: Some(AlertType::ServerDown),
                    ..Default::default()
                }
            )
            .await,
            ServiceError::Validation { .. },
            "[{l}] turning a days_before rule into server_down"
        );
        assert_eq!(vfield(&e), "condition_type", "[{l}]");
        assert_err!(
            w.s.alert_update(
                &w.bob,
                a.id,
                &AlertInput {
                    name: Some("mine".into()),
                    ..Default::default()
                }
            )
            .await,
            ServiceError::NotFound { .. },
            "[{l}] bob edits alice's rule"
        );
        assert_eq!(
            w.s.alert_get(&w.alice, a.id).await.unwrap().alert_type,
            AlertType::CertificateExpiry,
            "[{l}] unchanged"
        );
        assert_eq!(audit_count(w.db()).await, audits, "[{l}] refusals audited");

        // Delete removes the rule's bindings (the channel stays).
        let ch = channel(&w, &w.alice, "hook", ChannelType::Webhook, &webhook_config()).await;
        w.s.binding_create(&w.alice, a.id, ch.id).await.unwrap();
        assert_eq!(
            count_with(
                w.db(),
                "SELECT COUNT(*) FROM alert_channel_bindings WHERE alert_id = ?",
                a.id
            )
            .await,
            1,
            "[{l}]"
        );
        add_history(&w, a.id, am.id, "error", "fired").await;
        assert_err!(
            w.s.alert_delete(&w.bob, a.id).await,
            ServiceError::NotFound { .. },
            "[{l}] bob deletes it"
        );
        w.s.alert_delete(&w.alice, a.id)
            .await
            .unwrap_or_else(|e| panic!("[{l}] delete: {e}"));
        assert_err!(
            w.s.alert_get(&w.alice, a.id).await,
            ServiceError::NotFound { .. },
            "[{l}] deleted"
        );
        assert_eq!(
            count_with(
                w.db(),
                "SELECT COUNT(*) FROM alert_channel_bindings WHERE alert_id = ?",
                a.id
            )
            .await,
            0,
            "[{l}] bindings"
        );
        assert_eq!(
            count_with(w.db(), "SELECT COUNT(*) FROM alert_history WHERE alert_id = ?", a.id).await,
            0,
            "[{l}] history"
        );
        assert!(
            w.s.channel_get(&w.alice, ch.id, false).await.is_ok(),
            "[{l}] the channel stays"
        );
        assert_audited(&w, "alert.delete", "alert", Some(a.id), w.alice.user_id).await;

        // Lists are scoped; new users start with the default rules.
        let alice_rules = w.s.alert_list(&w.alice, None, Page::first(100)).await.unwrap();
        assert!(alice_rules.iter().all(|r| r.user_id == w.alice.user_id), "[{l}] scope");
        assert!(alice_rules.iter().any(|r| r.id == st.id), "[{l}] lists her rule");
        let downs =
            w.s.alert_list(&w.alice, Some(AlertType::ServerDown), Page::first(100))
                .await
                .unwrap();
        assert!(
            downs.iter().all(|r| r.alert_type == AlertType::ServerDown) && downs.iter().any(|r| r.id == st.id),
            "[{l}] type filter"
        );
        assert!(
            w.s.alert_list(&w.bob, None, Page::first(100))
                .await
                .unwrap()
                .iter()
                .all(|r| r.id != st.id),
            "[{l}] bob"
        );
    }
}

// ------------------------------------------------------------------ channels

#[tokio::test(flavor = "multi_thread")]
async fn channels_refuse_missing_or_invalid_settings() {
    for t in common::both().await {
        let w = World::new(&t).await;
        let l = w.label;
        let mut no_to = email_config();
        no_to.as_object_mut().unwrap().remove("to");
        let mut no_host = email_config();
        no_host.as_object_mut().unwrap().remove("smtp_host");
        let with = |base: Value, k: &str, v: Value| {
            let mut c = base;
            c[k] = v;
            c
        };
        let cases: Vec<(&str, &str, ChannelType, Value, &str)> = vec![
            ("email without to", "e", ChannelType::Email, no_to, "config.to"),
            (
                "email without smtp_host",
                "e",
                ChannelType::Email,
                no_host,
                "config.smtp_host",
            ),
            (
                "email with empty smtp_host",
                "e",
                ChannelType::Email,
                with(email_config(), "smtp_host", json!("")),
                "config.smtp_host",
            ),
            (
                "email to a non-address",
                "e",
                ChannelType::Email,
                with(email_config(), "to", json!("not-an-address")),
                "config.to",
            ),
            (
                "email list with a bad address",
                "e",
                ChannelType::Email,
                with(email_config(), "to", json!(["ops@example.com", "bad@"])),
                "config.to",
            ),
            (
                "email to a number",
                "e",
                ChannelType::Email,
                with(email_config(), "to", json!(42)),
                "config.to",
            ),
            (
                "email smtp_port 70000",
                "e",
                ChannelType::Email,
                with(email_config(), "smtp_port", json!(70000)),
                "config.smtp_port",
            ),
            (
                "webhook without url",
                "h",
                ChannelType::Webhook,
                json!({"secret": HOOK_SECRET}),
                "config.url",
            ),
            (
                "webhook ftp url",
                "h",
                ChannelType::Webhook,
                json!({"url": "ftp://files.example.com/x"}),
                "config.url",
            ),
            (
                "webhook non-url",
                "h",
                ChannelType::Webhook,
                json!({"url": "hooks.example.com/x"}),
                "config.url",
            ),
            (
                "slack without webhook_url",
                "s",
                ChannelType::Slack,
                json!({"channel": "#ops"}),
                "config.webhook_url",
            ),
            (
                "slack bad webhook_url",
                "s",
                ChannelType::Slack,
                json!({"webhook_url": "javascript:alert(1)"}),
                "config.webhook_url",
            ),
            (
                "config not an object",
                "h",
                ChannelType::Webhook,
                json!(["https://hooks.example.com"]),
                "config",
            ),
            ("blank name", " ", ChannelType::Webhook, webhook_config(), "name"),
        ];
        for (what, name, ty, config, field) in cases {
            let channels = count(w.db(), "SELECT COUNT(*) FROM alert_channels").await;
            let audits = audit_count(w.db()).await;
            let e = assert_err!(
                w.s.channel_create(&w.alice, name, ty, &config).await,
                ServiceError::Validation { .. },
                "[{l}] {what}"
            );
            assert_eq!(vfield(&e), field, "[{l}] {what}: {e}");
            assert_eq!(
                count(w.db(), "SELECT COUNT(*) FROM alert_channels").await,
                channels,
                "[{l}] {what}: channel rows"
            );
            assert_eq!(audit_count(w.db()).await, audits, "[{l}] {what}: audit rows");
        }
        // Valid variants are accepted.
        channel(&w, &w.alice, "mail", ChannelType::Email, &email_config()).await;
        channel(
            &w,
            &w.alice,
            "mail list",
            ChannelType::Email,
            &with(email_config(), "to", json!(["a@example.com", "b@bücher.example"])),
        )
        .await;
        channel(
            &w,
            &w.alice,
            "hook",
            ChannelType::Webhook,
            &json!({"url": "http://10.0.0.5:8080/hook"}),
        )
        .await;
        assert_eq!(count(w.db(), "SELECT COUNT(*) FROM alert_channels").await, 3, "[{l}]");
        // An update is validated the same way and changes nothing when refused.
        let ch = channel(&w, &w.alice, "hook2", ChannelType::Webhook, &webhook_config()).await;
        let e = assert_err!(
            w.s.channel_update(
                &w.alice,
                ch.id,
                Some("renamed"),
                Some(&json!({"url": "ftp://x.example"})),
                None
            )
            .await,
            ServiceError::Validation { .. },
            "[{l}] update with a bad url"
        );
        assert_eq!(vfield(&e), "config.url", "[{l}]");
        let same = w.s.channel_get(&w.alice, ch.id, true).await.unwrap();
        assert_eq!(same.name, "hook2", "[{l}] name unchanged after a refused update");
        assert_eq!(
            same.secrets.as_ref().map(|s| &s["url"]),
            Some(&json!("https://hooks.example.com/certdeck")),
            "[{l}]"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn channel_secrets_are_sealed_hidden_and_revealed_only_on_request() {
    for t in common::both().await {
        let w = World::new(&t).await;
        let l = w.label;
        let mail = channel(&w, &w.alice, "mail", ChannelType::Email, &email_config()).await;
        let hook = channel(&w, &w.alice, "hook", ChannelType::Webhook, &webhook_config()).await;
        let slack = channel(
            &w,
            &w.alice,
            "slack",
            ChannelType::Slack,
            &json!({"webhook_url": SLACK_URL, "channel": "#ops"}),
        )
        .await;
        let secrets = [SMTP_PW, HOOK_SECRET, SLACK_URL];

        for (id, secret_key, secret, setting_key) in [
            (mail.id, "password", SMTP_PW, "smtp_host"),
            (hook.id, "secret", HOOK_SECRET, "flavor"),
            (slack.id, "webhook_url", SLACK_URL, "channel"),
        ] {
            // Raw row: settings without the secret, secrets a sealed envelope.
            let raw = text_with(
                w.db(),
                "SELECT CAST(config AS CHAR) FROM alert_channels WHERE id = ?",
                id,
            )
            .await;
            assert!(
                !raw.contains(secret),
                "[{l}] channel {id}: the stored config holds the secret in clear: {raw}"
            );
            let v: Value =
                serde_json::from_str(&raw).unwrap_or_else(|e| panic!("[{l}] stored config is not JSON ({raw}): {e}"));
            let settings = v["settings"]
                .as_object()
                .unwrap_or_else(|| panic!("[{l}] no settings object in {raw}"));
            assert!(
                !settings.contains_key(secret_key),
                "[{l}] {secret_key} left in settings: {raw}"
            );
            assert!(
                settings.contains_key(setting_key),
                "[{l}] {setting_key} should stay a plain setting: {raw}"
            );
            let envelope = v["secrets"]
                .as_str()
                .unwrap_or_else(|| panic!("[{l}] secrets is not a string: {raw}"));
            assert!(envelope.starts_with("v2:"), "[{l}] secrets envelope '{envelope}'");

            // Shown without reveal: names only.
            let shown = w.s.channel_get(&w.alice, id, false).await.unwrap();
            assert!(shown.secrets.is_none(), "[{l}] secrets shown without reveal");
            assert!(
                shown.secret_fields.contains(&secret_key.to_string()),
                "[{l}] secret field names {:?}",
                shown.secret_fields
            );
            assert!(
                shown.settings.get(secret_key).is_none(),
                "[{l}] {secret_key} in the shown settings"
            );
            let json = serde_json::to_string(&shown).unwrap();
            assert!(!json.contains(secret), "[{l}] shown channel leaks the secret: {json}");
            let debug = format!("{shown:?}");
            assert!(
                !debug.contains(secret),
                "[{l}] Debug of the shown channel leaks the secret"
            );

            // Revealed on request.
            let revealed = w.s.channel_get(&w.alice, id, true).await.unwrap();
            assert_eq!(
                revealed.secrets.as_ref().and_then(|s| s.get(secret_key)),
                Some(&json!(secret)),
                "[{l}] reveal"
            );
            assert_err!(
                w.s.channel_get(&w.bob, id, true).await,
                ServiceError::NotFound { .. },
                "[{l}] bob reveals alice's channel"
            );
        }
        // The list never reveals.
        let list = w.s.channel_list(&w.alice, Page::default()).await.unwrap();
        assert_eq!(
            sorted(ids(&list, |c| c.id)),
            sorted(vec![mail.id, hook.id, slack.id]),
            "[{l}] alice's channels"
        );
        let list_json = serde_json::to_string(&list).unwrap();
        for s in secrets {
            assert!(!list_json.contains(s), "[{l}] the list leaks {s}");
        }
        assert!(list.iter().all(|c| c.secrets.is_none()), "[{l}]");
        assert!(
            w.s.channel_list(&w.bob, Page::default()).await.unwrap().is_empty(),
            "[{l}] bob sees none"
        );
        assert_eq!(
            w.s.channel_list(&w.admin, Page::default()).await.unwrap().len(),
            3,
            "[{l}] admin sees all"
        );

        // A new secret replaces the old one, sealed again.
        let mut cfg = email_config();
        cfg["password"] = json!(SMTP_PW2);
        let upd =
            w.s.channel_update(&w.alice, mail.id, Some("mail (new)"), Some(&cfg), Some(false))
                .await
                .unwrap();
        assert_eq!(upd.name, "mail (new)", "[{l}]");
        assert!(!upd.is_active && upd.secrets.is_none(), "[{l}] {upd:?}");
        let raw = text_with(
            w.db(),
            "SELECT CAST(config AS CHAR) FROM alert_channels WHERE id = ?",
            mail.id,
        )
        .await;
        assert!(
            !raw.contains(SMTP_PW2) && !raw.contains(SMTP_PW),
            "[{l}] updated config in clear: {raw}"
        );
        let revealed = w.s.channel_get(&w.alice, mail.id, true).await.unwrap();
        assert_eq!(
            revealed.secrets.unwrap()["password"],
            json!(SMTP_PW2),
            "[{l}] the new secret"
        );
        w.s.channel_delete(&w.alice, hook.id).await.unwrap();

        // No audit row mentions a secret value.
        for r in audit_all(&w.s, &w.admin).await {
            let d = details_text(&r);
            for s in [SMTP_PW, SMTP_PW2, HOOK_SECRET, SLACK_URL] {
                assert!(
                    !d.contains(s),
                    "[{l}] audit row {} ({}) holds a secret: {d}",
                    r.id,
                    r.action
                );
            }
        }
        let created = assert_audited(&w, "channel.create", "alert_channel", Some(mail.id), w.alice.user_id).await;
        assert!(
            details_text(&created).contains("smtp.example.com"),
            "[{l}] create details keep the settings"
        );
        assert_audited(&w, "channel.update", "alert_channel", Some(mail.id), w.alice.user_id).await;
        assert_audited(&w, "channel.delete", "alert_channel", Some(hook.id), w.alice.user_id).await;
    }
}

// ------------------------------------------------------------------ bindings

#[tokio::test(flavor = "multi_thread")]
async fn bindings_connect_rules_and_channels_of_one_owner() {
    for t in common::both().await {
        let w = World::new(&t).await;
        let l = w.label;
        let a = alert(&w, &w.alice, &expiry_alert("soon", "10")).await;
        let ch = channel(&w, &w.alice, "hook", ChannelType::Webhook, &webhook_config()).await;
        let ch2 = channel(&w, &w.alice, "mail", ChannelType::Email, &email_config()).await;
        let bob_ch = channel(&w, &w.bob, "bob hook", ChannelType::Webhook, &webhook_config()).await;

        w.s.binding_create(&w.alice, a.id, ch.id)
            .await
            .unwrap_or_else(|e| panic!("[{l}] bind: {e}"));
        w.s.binding_create(&w.alice, a.id, ch2.id).await.unwrap();
        let b = w.s.binding_list(&w.alice, a.id).await.unwrap();
        assert_eq!(
            b.iter().map(|r| r.channel_id).collect::<BTreeSet<_>>(),
            BTreeSet::from([ch.id, ch2.id]),
            "[{l}] bindings"
        );
        assert!(b.iter().all(|r| r.alert_id == a.id), "[{l}]");
        let first = b.iter().find(|r| r.channel_id == ch.id).unwrap();
        assert_audited(
            &w,
            "binding.create",
            "alert_channel_binding",
            Some(first.id),
            w.alice.user_id,
        )
        .await;

        let rows = count(w.db(), "SELECT COUNT(*) FROM alert_channel_bindings").await;
        let audits = audit_count(w.db()).await;
        let e = assert_err!(
            w.s.binding_create(&w.alice, a.id, ch.id).await,
            ServiceError::Conflict(_),
            "[{l}] bind twice"
        );
        assert!(e.to_string().contains("already"), "[{l}] {e}");
        assert_err!(
            w.s.binding_create(&w.alice, a.id, bob_ch.id).await,
            ServiceError::NotFound { .. },
            "[{l}] alice binds bob's channel"
        );
        assert_err!(
            w.s.binding_create(&w.bob, a.id, bob_ch.id).await,
            ServiceError::NotFound { .. },
            "[{l}] bob binds alice's rule"
        );
        let e = assert_err!(
            w.s.binding_create(&w.admin, a.id, bob_ch.id).await,
            ServiceError::Forbidden(_),
            "[{l}] admin binds alice's rule to bob's channel"
        );
        assert!(e.to_string().contains("same user"), "[{l}] {e}");
        assert_err!(
            w.s.binding_list(&w.bob, a.id).await,
            ServiceError::NotFound { .. },
            "[{l}] bob lists alice's bindings"
        );
        assert_eq!(
            count(w.db(), "SELECT COUNT(*) FROM alert_channel_bindings").await,
            rows,
            "[{l}] refusals added rows"
        );
        assert_eq!(audit_count(w.db()).await, audits, "[{l}] refusals wrote audit rows");

        // The rule is about owners: an admin may bind two rows of bob's.
        let bob_rule = alert(&w, &w.bob, &expiry_alert("bob soon", "5")).await;
        w.s.binding_create(&w.admin, bob_rule.id, bob_ch.id)
            .await
            .unwrap_or_else(|e| panic!("[{l}] admin binds bob's rule to bob's channel: {e}"));

        assert_err!(
            w.s.binding_delete(&w.bob, a.id, ch.id).await,
            ServiceError::NotFound { .. },
            "[{l}] bob unbinds"
        );
        w.s.binding_delete(&w.alice, a.id, ch.id)
            .await
            .unwrap_or_else(|e| panic!("[{l}] unbind: {e}"));
        assert_eq!(
            sorted(ids(&w.s.binding_list(&w.alice, a.id).await.unwrap(), |r| r.channel_id)),
            vec![ch2.id],
            "[{l}] after unbind"
        );
        assert_err!(
            w.s.binding_delete(&w.alice, a.id, ch.id).await,
            ServiceError::NotFound { .. },
            "[{l}] unbind twice"
        );
        assert_eq!(
            audit_rows(&w, "binding.delete").await.len(),
            1,
            "[{l}] one binding.delete row"
        );

        // Deleting a channel removes its bindings.
        w.s.channel_delete(&w.alice, ch2.id).await.unwrap();
        assert!(
            w.s.binding_list(&w.alice, a.id).await.unwrap().is_empty(),
            "[{l}] channel delete removes bindings"
        );
    }
}

// ------------------------------------------------------------------ alert history

#[tokio::test(flavor = "multi_thread")]
async fn fired_alerts_are_listed_for_their_owner_and_resolved_once() {
    for t in common::both().await {
        let w = World::new(&t).await;
        let l = w.label;
        let m = monitor(&w, &w.alice, &domain_monitor("shop", "shop.example.com")).await;
        let a = alert(&w, &w.alice, &expiry_alert("soon", "10")).await;
        add_history(&w, a.id, m.id, "critical", "shop.example.com expires in 1 day").await;
        let h_id = count(w.db(), "SELECT MAX(id) FROM alert_history").await;

        let open = w.s.alert_history(&w.alice, true, Page::default()).await.unwrap();
        assert_eq!(sorted(ids(&open, |r| r.id)), vec![h_id], "[{l}] alice's open alerts");
        assert_eq!(open[0].severity, Severity::Critical, "[{l}]");
        assert_eq!(open[0].message, "shop.example.com expires in 1 day", "[{l}]");
        assert!(!open[0].is_resolved && open[0].resolved_at.is_none(), "[{l}]");
        assert!(
            w.s.alert_history(&w.bob, true, Page::default())
                .await
                .unwrap()
                .is_empty(),
            "[{l}] bob sees none"
        );
        assert!(
            w.s.alert_history(&w.bob, false, Page::default())
                .await
                .unwrap()
                .is_empty(),
            "[{l}] bob sees none at all"
        );
        assert_eq!(
            sorted(ids(
                &w.s.alert_history(&w.admin, true, Page::default()).await.unwrap(),
                |r| r.id
            )),
            vec![h_id],
            "[{l}] admin"
        );

        let audits = audit_count(w.db()).await;
        assert_err!(
            w.s.alert_resolve(&w.bob, h_id).await,
            ServiceError::NotFound { .. },
            "[{l}] bob resolves alice's alert"
        );
        assert_eq!(audit_count(w.db()).await, audits, "[{l}] bob's attempt audited");
        assert_eq!(
            w.s.alert_history(&w.alice, true, Page::default()).await.unwrap().len(),
            1,
            "[{l}] still open"
        );

        let before = Utc::now() - Duration::seconds(2);
        let r =
            w.s.alert_resolve(&w.alice, h_id)
                .await
                .unwrap_or_else(|e| panic!("[{l}] resolve: {e}"));
        assert!(r.is_resolved, "[{l}] resolved");
        let at = r.resolved_at.unwrap_or_else(|| panic!("[{l}] resolved_at not set"));
        assert!(
            at >= before && at <= Utc::now() + Duration::seconds(2),
            "[{l}] resolved_at {at}"
        );
        assert_audited(&w, "alert.resolve", "alert_history", Some(h_id), w.alice.user_id).await;
        assert!(
            w.s.alert_history(&w.alice, true, Page::default())
                .await
                .unwrap()
                .is_empty(),
            "[{l}] no longer open"
        );
        let all = w.s.alert_history(&w.alice, false, Page::default()).await.unwrap();
        assert_eq!(
            sorted(ids(&all, |r| r.id)),
            vec![h_id],
            "[{l}] still in the full history"
        );
        assert!(all[0].is_resolved, "[{l}]");

        let e = assert_err!(
            w.s.alert_resolve(&w.alice, h_id).await,
            ServiceError::Conflict(_),
            "[{l}] resolve twice"
        );
        assert!(e.to_string().contains("already resolved"), "[{l}] {e}");
        assert_err!(
            w.s.alert_resolve(&w.alice, h_id + 1000).await,
            ServiceError::NotFound { .. },
            "[{l}] unknown id"
        );
    }
}

// ------------------------------------------------------------------ audit trail

#[tokio::test(flavor = "multi_thread")]
async fn every_monitoring_change_is_audited_with_its_action_and_resource() {
    for t in common::both().await {
        let w = World::new(&t).await;
        let l = w.label;
        let me = &w.alice;
        let m = monitor(&w, me, &domain_monitor("shop", "shop.example.com")).await;
        w.s.monitor_update(
            me,
            m.id,
            &MonitorInput {
                check_interval: Some(600),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let a = alert(&w, me, &expiry_alert("soon", "10")).await;
        w.s.alert_update(
            me,
            a.id,
            &AlertInput {
                severity: Some(Severity::Critical),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let ch = channel(&w, me, "hook", ChannelType::Webhook, &webhook_config()).await;
        w.s.channel_update(me, ch.id, Some("hook 2"), None, None).await.unwrap();
        w.s.binding_create(me, a.id, ch.id).await.unwrap();
        let binding_id = w.s.binding_list(me, a.id).await.unwrap()[0].id;
        w.s.binding_delete(me, a.id, ch.id).await.unwrap();
        w.s.channel_delete(me, ch.id).await.unwrap();
        w.s.alert_delete(me, a.id).await.unwrap();
        w.s.monitor_delete(me, m.id).await.unwrap();

        for (action, rtype, id) in [
            ("monitor.create", "monitor", Some(m.id)),
            ("monitor.update", "monitor", Some(m.id)),
            ("monitor.delete", "monitor", Some(m.id)),
            ("alert.create", "alert", Some(a.id)),
            ("alert.update", "alert", Some(a.id)),
            ("alert.delete", "alert", Some(a.id)),
            ("channel.create", "alert_channel", Some(ch.id)),
            ("channel.update", "alert_channel", Some(ch.id)),
            ("channel.delete", "alert_channel", Some(ch.id)),
            ("binding.create", "alert_channel_binding", Some(binding_id)),
            ("binding.delete", "alert_channel_binding", None),
        ] {
            assert_audited(&w, action, rtype, id, me.user_id).await;
        }
        let mine: Vec<String> =
            w.s.audit_list(me, &AuditFilter::default(), Page::first(100))
                .await
                .unwrap()
                .into_iter()
                .map(|r| r.action)
                .filter(|a| !a.starts_with("auth.") && !a.starts_with("session."))
                .collect();
        assert_eq!(
            mine.iter().rev().cloned().collect::<Vec<_>>(),
            vec![
                "monitor.create",
                "monitor.update",
                "alert.create",
                "alert.update",
                "channel.create",
                "channel.update",
                "binding.create",
                "binding.delete",
                "channel.delete",
                "alert.delete",
                "monitor.delete",
            ],
            "[{l}] alice's audit trail, oldest first"
        );
        let unbind = audit_rows(&w, "binding.delete").await;
        assert_eq!(
            details_text(&unbind[0]),
            json!({"alert_id": a.id, "channel_id": ch.id}).to_string(),
            "[{l}] unbind details"
        );
        for r in audit_all(&w.s, &w.admin).await {
            assert!(
                !details_text(&r).contains(HOOK_SECRET),
                "[{l}] audit row {} ({}) holds the webhook secret",
                r.id,
                r.action
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn channels_the_sender_would_refuse_are_refused_when_added_and_change_nothing() {
    for t in common::both().await {
        let w = World::new(&t).await;
        let l = w.label;
        let before = count(w.db(), "SELECT COUNT(*) FROM alert_channels").await;
        let cases: Vec<(ChannelType, Value, &str)> = vec![
            (
                ChannelType::Email,
                json!({"smtp_host": "smtp.example.com", "to": "ops@example.com", "from": "not an address"}),
                "From",
            ),
            (
                ChannelType::Wechat,
                json!({"webhook_url": "http://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k"}),
                "https",
            ),
            (
                ChannelType::Wechat,
                json!({"webhook_url": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send"}),
                "key",
            ),
            (
                ChannelType::Slack,
                json!({"webhook_url": "http://hooks.slack.com/services/T/B/X", "allow_http": true}),
                "loopback",
            ),
        ];
        for (ty, settings, fragment) in cases {
            let e =
                w.s.channel_create(&w.alice, "bad", ty, &settings)
                    .await
                    .expect_err("refused");
            assert!(matches!(e, ServiceError::Validation { .. }), "[{l}] {ty:?}: {e:?}");
            assert!(e.to_string().contains(fragment), "[{l}] {ty:?}: {e}");
            assert!(!e.to_string().contains("key=k"), "[{l}] no secret in the error: {e}");
        }
        assert_eq!(
            count(w.db(), "SELECT COUNT(*) FROM alert_channels").await,
            before,
            "[{l}]"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_dashboard_counts_rules_that_notify_nobody() {
    for t in common::both().await {
        let w = World::new(&t).await;
        let l = w.label;
        let d = w.s.dashboard(&w.alice).await.unwrap();
        let rules = w.s.alert_list(&w.alice, None, Page::default()).await.unwrap();
        assert!(!rules.is_empty(), "[{l}] every user starts with rules");
        assert_eq!((d.channels, d.rules_without_channel), (0, rules.len() as i64), "[{l}]");
        let c =
            w.s.channel_create(
                &w.alice,
                "hook",
                ChannelType::Webhook,
                &json!({"url": "https://hooks.example.com/x"}),
            )
            .await
            .unwrap();
        w.s.binding_create(&w.alice, rules[0].id, c.id).await.unwrap();
        let d = w.s.dashboard(&w.alice).await.unwrap();
        assert_eq!(
            (d.channels, d.rules_without_channel),
            (1, rules.len() as i64 - 1),
            "[{l}]"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_certificate_and_a_server_bring_their_monitor_and_take_it_with_them() {
    for t in common::both().await {
        let w = World::new(&t).await;
        let l = w.label;
        let cert = certificate(&w, &w.alice, "own.example.com").await;
        let of_cert = "SELECT COUNT(*) FROM monitors WHERE monitor_type = 'certificate' AND target_id = ?";
        assert_eq!(
            common::count_with(w.db(), of_cert, cert).await,
            1,
            "[{l}] created with it"
        );
        w.s.cert_delete(&w.alice, cert).await.unwrap();
        assert_eq!(
            common::count_with(w.db(), of_cert, cert).await,
            0,
            "[{l}] removed with it"
        );
        let srv =
            w.s.server_create(
                &w.alice,
                &ServerInput {
                    hostname: Some("web9.example.com".into()),
                    auth_type: Some(AuthType::Password),
                    username: Some("deploy".into()),
                    password: Some("ssh-password-9".into()),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let of_srv = "SELECT COUNT(*) FROM monitors WHERE monitor_type = 'server' AND target_id = ?";
        assert_eq!(common::count_with(w.db(), of_srv, srv.id).await, 1, "[{l}]");
        w.s.server_delete(&w.alice, srv.id).await.unwrap();
        assert_eq!(common::count_with(w.db(), of_srv, srv.id).await, 0, "[{l}]");
    }
}
