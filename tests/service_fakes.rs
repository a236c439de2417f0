//! The services with fake engines (no network): a monitor check whose [`Prober`] returns an
//! expiring certificate records the warning and fires the expiry rule; an outbox whose
//! [`Notifier`] fails once (transiently) and then succeeds retries the delivery once and records
//! it sent once. On SQLite, and on MariaDB when the test bed is up.

mod common;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use certdeck::domain::certpem;
use certdeck::domain::{AlertType, ChannelType, ConditionType, MonitorStatus, MonitorType, Severity, UserRole};
use certdeck::engine::notify::{ChannelConfig, DeliveryError, DeliveryOutcome, Notification, Notifier};
use certdeck::engine::probe::{date_and_key_findings, ProbeReport, ProbeTarget, Prober};
use certdeck::engine::BoxFut;
use certdeck::service::monitoring::{AlertInput, MonitorInput};
use certdeck::service::{Actor, Services};
use common::nginx_pki::{leaf, pki};
use common::{count, make_user, services, TestDb};
use serde_json::json;

/// Serves one fixed leaf certificate at every target and remembers what it was asked.
struct FakeProber {
    leaf_der: Vec<u8>,
    asked: Mutex<Vec<ProbeTarget>>,
}

impl Prober for FakeProber {
    fn probe<'a>(&'a self, t: &'a ProbeTarget) -> BoxFut<'a, ProbeReport> {
        self.asked.lock().unwrap().push(t.clone());
        let now = chrono::Utc::now();
        let chain = vec![certpem::summarize(&self.leaf_der, now).expect("the fake's leaf parses")];
        let findings = date_and_key_findings(&chain, now, t.warn_days, t.error_days);
        let report = ProbeReport {
            address: Some("127.0.0.1:8443".parse().unwrap()),
            protocol: Some("TLSv1.3".into()),
            chain,
            findings,
            ..ProbeReport::empty()
        };
        Box::pin(async move { report })
    }
}

/// Answers each delivery with the next scripted result and remembers what it was given.
#[derive(Default)]
struct FakeNotifier {
    script: Mutex<VecDeque<Result<DeliveryOutcome, DeliveryError>>>,
    sent: Mutex<Vec<(String, String)>>,
}

impl Notifier for FakeNotifier {
    fn deliver<'a>(
        &'a self,
        channel: &'a ChannelConfig,
        n: &'a Notification,
    ) -> BoxFut<'a, Result<DeliveryOutcome, DeliveryError>> {
        let kind = match channel {
            ChannelConfig::Email(_) => "email",
            ChannelConfig::Webhook(_) => "webhook",
            ChannelConfig::Sms(_) => "sms",
        };
        self.sent.lock().unwrap().push((kind.to_string(), n.title.clone()));
        let next = self
            .script
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or_else(|| Err(DeliveryError::permanent("the fake has no more answers")));
        Box::pin(async move { next })
    }
}

const DOMAIN: &str = "shop.fake.test";

/// An admin's services over `t` with the fakes, a domain monitor of [`DOMAIN`] (trusting
/// `trust`) and a certificate-expiry rule (30 days) bound to one webhook channel, checked once.
async fn world(
    t: &TestDb,
    trust: &str,
    prober: Arc<FakeProber>,
    notifier: Arc<FakeNotifier>,
) -> (Services, Actor, i64) {
    let s = services(t).with_prober(prober).with_notifier(notifier);
    let (_, a) = make_user(&s, t, None, "ops", UserRole::Admin).await;
    let hook = s
        .channel_create(
            &a,
            "ops hook",
            ChannelType::Webhook,
            &json!({"url": "http://127.0.0.1:9/hook", "allow_http": true}),
        )
        .await
        .unwrap_or_else(|e| panic!("[{}] channel: {e}", t.label()));
    let m = s
        .monitor_create(
            &a,
            &MonitorInput {
                name: Some("shop".into()),
                monitor_type: Some(MonitorType::Domain),
                domain: Some(DOMAIN.into()),
                port: Some(8443),
                connect_address: Some("127.0.0.1".into()),
                trust_bundle_pem: Some(trust.into()),
                ..Default::default()
            },
        )
        .await
        .unwrap_or_else(|e| panic!("[{}] monitor: {e}", t.label()));
    let rule = s
        .alert_create(
            &a,
            &AlertInput {
                name: Some("shop expires".into()),
                alert_type: Some(AlertType::CertificateExpiry),
                monitor_id: Some(m.id),
                condition_type: Some(ConditionType::DaysBefore),
                condition_value: Some("30".into()),
                severity: Some(Severity::Warning),
                ..Default::default()
            },
        )
        .await
        .unwrap_or_else(|e| panic!("[{}] rule: {e}", t.label()));
    s.binding_create(&a, rule.id, hook.id).await.unwrap();
    s.monitor_check_now(&a, m.id)
        .await
        .unwrap_or_else(|e| panic!("[{}] check: {e}", t.label()));
    (s, a, m.id)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_monitor_check_records_what_the_prober_saw_and_fires_the_expiry_rule() {
    let pki = pki();
    let (der, _, _) = leaf(&pki, &[DOMAIN], -60, 20);
    for t in common::both().await {
        let l = t.label();
        let prober = Arc::new(FakeProber {
            leaf_der: der.clone(),
            asked: Mutex::default(),
        });
        let (s, a, monitor_id) = world(&t, &pki.root_pem, prober.clone(), Arc::default()).await;

        let asked = prober.asked.lock().unwrap().clone();
        assert_eq!(asked.len(), 1, "[{l}] one probe for one domain monitor");
        assert_eq!(
            (asked[0].connect_host.as_str(), asked[0].port, asked[0].sni.as_str()),
            ("127.0.0.1", 8443, DOMAIN),
            "[{l}]"
        );
        assert_eq!(
            asked[0].trust_pem.as_deref().map(str::trim),
            Some(pki.root_pem.trim()),
            "[{l}] the monitor's trust bundle"
        );
        assert_eq!(
            (asked[0].warn_days, asked[0].error_days),
            (30, 7),
            "[{l}] the settings' thresholds"
        );

        let row = s.monitor_get(&a, monitor_id).await.unwrap();
        assert_eq!(row.status, MonitorStatus::Warning, "[{l}] {:?}", row.last_result);
        let host = &row.last_result.as_ref().unwrap().0["hosts"][0];
        assert_eq!(
            host["leaf"]["serial"],
            json!(certpem::serial_hex(&der).unwrap()),
            "[{l}] {host}"
        );
        assert_eq!(host["leaf"]["sha256"], json!(certpem::sha256_hex(&der)), "[{l}] {host}");
        let days = host["leaf"]["days_left"].as_i64().unwrap();
        assert!((19..=20).contains(&days), "[{l}] {host}");
        assert_eq!(host["findings"][0]["kind"], "Expiring", "[{l}] {host}");
        assert_eq!(host["findings"][0]["severity"], "Warning", "[{l}] {host}");

        assert_eq!(
            count(
                &t.db,
                "SELECT COUNT(*) FROM alert_history h JOIN alerts a ON a.id = h.alert_id WHERE a.name = 'shop expires'"
            )
            .await,
            1,
            "[{l}] the rule fired once"
        );
        let msg: String = common::scalar(
            &t.db,
            "SELECT h.message FROM alert_history h JOIN alerts a ON a.id = h.alert_id WHERE a.name = 'shop expires'",
            (),
        )
        .await;
        assert!(msg.contains(DOMAIN) && msg.contains("(alert at 30)"), "[{l}] {msg}");
        assert_eq!(
            count(&t.db, "SELECT COUNT(*) FROM alert_deliveries WHERE status = 'pending'").await,
            1,
            "[{l}] one notification queued for the bound channel"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_delivery_that_fails_transiently_is_retried_once_and_recorded_once() {
    let pki = pki();
    let (der, _, _) = leaf(&pki, &[DOMAIN], -60, 20);
    for t in common::both().await {
        let l = t.label();
        let prober = Arc::new(FakeProber {
            leaf_der: der.clone(),
            asked: Mutex::default(),
        });
        let notifier = Arc::new(FakeNotifier::default());
        notifier.script.lock().unwrap().extend([
            Err(DeliveryError::transient("gateway busy")),
            Ok(DeliveryOutcome {
                status_code: Some(202),
                response_excerpt: "queued".into(),
            }),
        ]);
        let (s, _, _) = world(&t, &pki.root_pem, prober, notifier.clone()).await;

        let r = s.outbox_run(100).await.unwrap();
        assert_eq!((r.sent, r.retrying, r.failed), (0, 1, 0), "[{l}] {r:?}");
        assert_eq!(notifier.sent.lock().unwrap().len(), 1, "[{l}]");
        assert_eq!(
            count(
                &t.db,
                "SELECT COUNT(*) FROM alert_deliveries WHERE status = 'pending' AND attempts = 1 AND response_excerpt = 'gateway busy'"
            )
            .await,
            1,
            "[{l}] the failure is recorded on the delivery"
        );

        // Not due yet: nothing is sent meanwhile.
        let r = s.outbox_run(100).await.unwrap();
        assert_eq!((r.sent, r.retrying, r.failed), (0, 0, 0), "[{l}] {r:?}");
        assert_eq!(notifier.sent.lock().unwrap().len(), 1, "[{l}]");

        // Its backoff has passed.
        let id: i64 = common::scalar(&t.db, "SELECT id FROM alert_deliveries", ()).await;
        certdeck::store::notifications::delivery_retry(
            &t.db,
            id,
            1,
            chrono::Utc::now() - chrono::Duration::seconds(5),
            "gateway busy",
        )
        .await
        .unwrap();
        let r = s.outbox_run(100).await.unwrap();
        assert_eq!((r.sent, r.retrying, r.failed), (1, 0, 0), "[{l}] {r:?}");
        let r = s.outbox_run(100).await.unwrap();
        assert_eq!((r.sent, r.retrying, r.failed), (0, 0, 0), "[{l}] sent once: {r:?}");

        let sent = notifier.sent.lock().unwrap().clone();
        assert_eq!(
            sent,
            vec![
                ("webhook".to_string(), "shop expires".to_string()),
                ("webhook".to_string(), "shop expires".to_string())
            ],
            "[{l}] one retry of the one delivery"
        );
        assert_eq!(count(&t.db, "SELECT COUNT(*) FROM alert_deliveries").await, 1, "[{l}]");
        assert_eq!(
            count(
                &t.db,
                "SELECT COUNT(*) FROM alert_deliveries WHERE status = 'sent' AND attempts = 2 AND response_excerpt = 'queued'"
            )
            .await,
            1,
            "[{l}] recorded sent once, after two attempts"
        );
    }
}
