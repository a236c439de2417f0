//! A token server's monitor watches its pull agent instead of the SSH port: an agent that never
//! checked in is a warning (a new server is not down); one silent past its interval plus the
//! grace makes the monitor `error`, turns the server `error` (its last check-in time kept) and
//! fires a `server_down` rule exactly once across checks; a fresh check-in resolves it. The
//! console's and the CLI's view of the agent (`server_agent`, `server_agents`) is owner-checked.
//! The web port is probed by a fake prober (the thing tested is the agent's silence). On
//! SQLite, and on MariaDB when the test bed is up.

mod common;

use std::sync::Arc;

use certdeck::domain::{AlertType, AuthType, ConditionType, MonitorStatus, ServerStatus, Severity, UserRole};
use certdeck::engine::probe::{ProbeReport, ProbeTarget, Prober};
use certdeck::engine::BoxFut;
use certdeck::errors::ServiceError;
use certdeck::service::monitoring::AlertInput;
use certdeck::service::servers::ServerInput;
use certdeck::service::{Actor, Services};
use certdeck::store::{agents, discovery};
use common::{count_with, make_user, services, TestDb};

/// A web server that always answers TLS.
struct UpProber;

impl Prober for UpProber {
    fn probe<'a>(&'a self, _t: &'a ProbeTarget) -> BoxFut<'a, ProbeReport> {
        let report = ProbeReport {
            address: Some("127.0.0.1:8443".parse().unwrap()),
            protocol: Some("TLSv1.3".into()),
            ..ProbeReport::empty()
        };
        Box::pin(async move { report })
    }
}

async fn token_server(s: &Services, a: &Actor, l: &str, name: &str) -> i64 {
    s.server_create(
        a,
        &ServerInput {
            name: Some(name.into()),
            hostname: Some("127.0.0.1".into()),
            auth_type: Some(AuthType::Token),
            token: Some(format!("agent-token-{name}-0123456789abcdef")),
            verify_port: Some(8443),
            ..Default::default()
        },
    )
    .await
    .unwrap_or_else(|e| panic!("[{l}] token server: {e}"))
    .id
}

async fn server_monitor(t: &TestDb, server: i64) -> i64 {
    common::scalar(
        &t.db,
        "SELECT id FROM monitors WHERE monitor_type = 'server' AND target_id = ?",
        server,
    )
    .await
}

/// Alerts of the rule named `agent down`: (all, unresolved).
async fn agent_down_alerts(t: &TestDb) -> (i64, i64) {
    let all = common::count(
        &t.db,
        "SELECT COUNT(*) FROM alert_history h JOIN alerts a ON a.id = h.alert_id WHERE a.name = 'agent down'",
    )
    .await;
    let open = common::count(
        &t.db,
        "SELECT COUNT(*) FROM alert_history h JOIN alerts a ON a.id = h.alert_id \
         WHERE a.name = 'agent down' AND h.is_resolved = 0",
    )
    .await;
    (all, open)
}

async fn server_status(s: &Services, a: &Actor, id: i64) -> ServerStatus {
    s.server_get(a, id).await.unwrap().status
}

/// Makes the agent's last check-in `secs` seconds old; returns it as stored (UTC, seconds).
async fn age_checkin(t: &TestDb, server: i64, secs: i64) -> String {
    let at = (chrono::Utc::now() - chrono::Duration::seconds(secs))
        .format("%Y-%m-%d %H:%M:%S")
        .to_string();
    let n = common::exec_with(
        &t.db,
        "UPDATE server_agents SET last_checkin_at = ? WHERE server_id = ?",
        (at.as_str(), server),
    )
    .await;
    assert_eq!(n, 1, "[{}] one agent row", t.label());
    at
}

/// A check-in as the check-in service records it.
async fn check_in(t: &TestDb, server: i64) {
    agents::record_checkin(&t.db, server, "0.4.0", 300, Some("10.0.0.5"))
        .await
        .unwrap();
    discovery::record_check(&t.db, server, ServerStatus::Active, None)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_silent_agent_turns_its_server_error_and_fires_one_server_down_alert_until_it_checks_in() {
    for t in common::both().await {
        let l = t.label();
        let s = services(&t).with_prober(Arc::new(UpProber));
        let (_, a) = make_user(&s, &t, None, "ops", UserRole::Admin).await;
        let id = token_server(&s, &a, l, "edge-1").await;
        let m = server_monitor(&t, id).await;
        s.alert_create(
            &a,
            &AlertInput {
                name: Some("agent down".into()),
                alert_type: Some(AlertType::ServerDown),
                condition_type: Some(ConditionType::StatusChange),
                condition_value: Some("error".into()),
                severity: Some(Severity::Critical),
                ..Default::default()
            },
        )
        .await
        .unwrap_or_else(|e| panic!("[{l}] rule: {e}"));

        // Added, never checked in: a warning, not down.
        let o = s.monitor_check_now(&a, m).await.unwrap();
        assert_eq!(o.status, MonitorStatus::Warning, "[{l}] {o:?}");
        assert!(
            o.message
                .contains("the agent has not checked in yet since the server was added"),
            "[{l}] {o:?}"
        );
        assert!(
            !o.message.contains("SSH"),
            "[{l}] no SSH check for a token server: {o:?}"
        );
        assert!(o.message.contains("web server answers TLS"), "[{l}] {o:?}");
        assert_eq!(server_status(&s, &a, id).await, ServerStatus::Active, "[{l}]");
        assert_eq!(agent_down_alerts(&t).await, (0, 0), "[{l}]");
        let row = s.monitor_get(&a, m).await.unwrap();
        assert_eq!(
            row.last_result.as_ref().unwrap().0["agent"]["state"],
            "not_checked_in",
            "[{l}] {:?}",
            row.last_result
        );

        // Checked in: ok.
        check_in(&t, id).await;
        let o = s.monitor_check_now(&a, m).await.unwrap();
        assert_eq!(o.status, MonitorStatus::Ok, "[{l}] {o:?}");
        assert!(
            o.message.contains("agent checked in")
                && o.message
                    .contains("checks in every 300 s; last from 10.0.0.5, version 0.4.0"),
            "[{l}] {o:?}"
        );

        // Within the grace (300 s + 150 s): still fine.
        age_checkin(&t, id, 400).await;
        let o = s.monitor_check_now(&a, m).await.unwrap();
        assert_eq!(o.status, MonitorStatus::Ok, "[{l}] {o:?}");
        assert_eq!(agent_down_alerts(&t).await, (0, 0), "[{l}]");

        // Silent past the interval plus the grace: error, the server turns error, one alert.
        let last_check_before = s.server_get(&a, id).await.unwrap().last_check_at;
        let at = age_checkin(&t, id, 3600).await;
        let o = s.monitor_check_now(&a, m).await.unwrap();
        assert_eq!(o.status, MonitorStatus::Error, "[{l}] {o:?}");
        assert!(
            o.message.contains(&format!(
                "agent silent since {at} UTC (checks in every 300 s; last from 10.0.0.5, version 0.4.0)"
            )),
            "[{l}] {o:?}"
        );
        assert!(o.alerts.iter().any(|x| x.contains("'agent down' fired")), "[{l}] {o:?}");
        let srv = s.server_get(&a, id).await.unwrap();
        assert_eq!(srv.status, ServerStatus::Error, "[{l}]");
        assert_eq!(
            srv.last_check_at, last_check_before,
            "[{l}] last_check_at stays the last check-in"
        );
        assert_eq!(agent_down_alerts(&t).await, (1, 1), "[{l}]");

        // Still silent: the same alert, not a second one.
        let o = s.monitor_check_now(&a, m).await.unwrap();
        assert_eq!(o.status, MonitorStatus::Error, "[{l}] {o:?}");
        assert!(!o.alerts.iter().any(|x| x.contains("fired")), "[{l}] {o:?}");
        assert_eq!(agent_down_alerts(&t).await, (1, 1), "[{l}] one alert across two checks");
        assert_eq!(s.monitor_get(&a, m).await.unwrap().consecutive_failures, 2, "[{l}]");

        // A fresh check-in: the server is active again and the next check resolves the alert.
        check_in(&t, id).await;
        assert_eq!(server_status(&s, &a, id).await, ServerStatus::Active, "[{l}]");
        let o = s.monitor_check_now(&a, m).await.unwrap();
        assert_eq!(o.status, MonitorStatus::Ok, "[{l}] {o:?}");
        assert!(
            o.alerts.iter().any(|x| x.contains("'agent down' resolved")),
            "[{l}] {o:?}"
        );
        assert_eq!(agent_down_alerts(&t).await, (1, 0), "[{l}]");
        assert_eq!(server_status(&s, &a, id).await, ServerStatus::Active, "[{l}]");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_inactive_server_is_left_inactive_and_a_racing_check_in_wins() {
    for t in common::both().await {
        let l = t.label();
        let s = services(&t).with_prober(Arc::new(UpProber));
        let (_, a) = make_user(&s, &t, None, "ops", UserRole::Admin).await;
        let id = token_server(&s, &a, l, "edge-2").await;
        let m = server_monitor(&t, id).await;
        check_in(&t, id).await;
        age_checkin(&t, id, 3600).await;
        common::exec_with(&t.db, "UPDATE servers SET status = 'inactive' WHERE id = ?", id).await;
        let o = s.monitor_check_now(&a, m).await.unwrap();
        assert_eq!(o.status, MonitorStatus::Error, "[{l}] the monitor still says so: {o:?}");
        assert_eq!(
            server_status(&s, &a, id).await,
            ServerStatus::Inactive,
            "[{l}] the operator's status"
        );

        // The store's guard: a check-in after the time the caller saw wins.
        common::exec_with(&t.db, "UPDATE servers SET status = 'active' WHERE id = ?", id).await;
        let seen = chrono::Utc::now() - chrono::Duration::seconds(7200);
        let changed = certdeck::store::servers::set_status(&t.db, id, ServerStatus::Error, Some(seen))
            .await
            .unwrap();
        assert!(!changed, "[{l}] the agent checked in after what the caller saw");
        assert_eq!(server_status(&s, &a, id).await, ServerStatus::Active, "[{l}]");
        let seen = chrono::Utc::now() - chrono::Duration::seconds(60);
        assert!(
            certdeck::store::servers::set_status(&t.db, id, ServerStatus::Error, Some(seen))
                .await
                .unwrap(),
            "[{l}]"
        );
        assert!(
            !certdeck::store::servers::set_status(&t.db, id, ServerStatus::Error, None)
                .await
                .unwrap(),
            "[{l}] already error: nothing changes"
        );
        assert_eq!(
            count_with(
                &t.db,
                "SELECT COUNT(*) FROM servers WHERE id = ? AND status = 'error'",
                id
            )
            .await,
            1,
            "[{l}]"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_agent_view_is_the_owners_and_null_for_ssh_servers() {
    for t in common::both().await {
        let l = t.label();
        let s = services(&t);
        let (_, admin) = make_user(&s, &t, None, "ops", UserRole::Admin).await;
        let (_, alice) = make_user(&s, &t, Some(&admin), "alice", UserRole::User).await;
        let (_, bob) = make_user(&s, &t, Some(&admin), "bob", UserRole::User).await;
        let fresh = token_server(&s, &alice, l, "edge-a").await;
        let seen = token_server(&s, &alice, l, "edge-b").await;
        let ssh = s
            .server_create(
                &alice,
                &ServerInput {
                    hostname: Some("web1.example.com".into()),
                    username: Some("deploy".into()),
                    password: Some("ssh-pass".into()),
                    ..Default::default()
                },
            )
            .await
            .unwrap()
            .id;
        check_in(&t, seen).await;

        let a = s.server_agent(&alice, fresh).await.unwrap().expect("a token server");
        assert_eq!(
            (
                a.server_id,
                a.interval_seconds,
                a.last_checkin_at,
                a.agent_version.clone()
            ),
            (fresh, 300, None, None),
            "[{l}] never checked in: no check-in, the default interval"
        );
        let b = s.server_agent(&alice, seen).await.unwrap().unwrap();
        assert_eq!(b.agent_version.as_deref(), Some("0.4.0"), "[{l}]");
        assert_eq!(b.last_address.as_deref(), Some("10.0.0.5"), "[{l}]");
        assert!(b.last_checkin_at.is_some(), "[{l}]");
        assert!(
            s.server_agent(&alice, ssh).await.unwrap().is_none(),
            "[{l}] not a token server"
        );
        assert!(
            s.server_agent(&admin, seen).await.unwrap().is_some(),
            "[{l}] an admin sees all"
        );
        assert!(
            matches!(s.server_agent(&bob, seen).await, Err(ServiceError::NotFound { .. })),
            "[{l}] another user's server does not exist for bob"
        );

        let all = s.server_agents(&alice, &[fresh, seen, ssh, 999_999]).await.unwrap();
        let mut keys: Vec<i64> = all.keys().copied().collect();
        keys.sort_unstable();
        assert_eq!(keys, vec![fresh, seen], "[{l}] token servers only");
        assert_eq!(all[&seen].agent_version.as_deref(), Some("0.4.0"), "[{l}]");
        assert!(all[&fresh].last_checkin_at.is_none(), "[{l}]");
        assert!(
            s.server_agents(&bob, &[fresh, seen]).await.unwrap().is_empty(),
            "[{l}] bob sees none of alice's agents"
        );
        assert_eq!(s.server_agents(&admin, &[seen]).await.unwrap().len(), 1, "[{l}]");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_silent_agent_makes_its_server_monitor_due_at_once_and_only_once() {
    for t in common::both().await {
        let l = t.label();
        let s = services(&t).with_prober(Arc::new(UpProber));
        let (_, a) = make_user(&s, &t, None, "ops", UserRole::Admin).await;
        let id = token_server(&s, &a, l, "edge-due").await;
        let m = server_monitor(&t, id).await;
        check_in(&t, id).await;
        // The monitor's own next check is a day away.
        let later = (chrono::Utc::now() + chrono::Duration::days(1))
            .format("%Y-%m-%d %H:%M:%S")
            .to_string();
        common::exec_with(
            &t.db,
            "UPDATE monitors SET next_check_at = ? WHERE id = ?",
            (later.as_str(), m),
        )
        .await;
        // Checking in on time: nothing is made due.
        assert_eq!(s.agents_overdue_tick().await.unwrap(), 0, "[{l}] fresh agent");
        // Silent for 20 minutes (interval 300 s plus a grace of 150 s: due by 450 s).
        age_checkin(&t, id, 1200).await;
        assert_eq!(s.agents_overdue_tick().await.unwrap(), 1, "[{l}] silent agent");
        let tasks = s.monitors_tick(50, 10).await.unwrap();
        assert_eq!(tasks.len(), 1, "[{l}] one monitor_check task queued for it");
        // Once the check turned the server error, it is not made due again each round.
        s.monitor_check_now(&a, m).await.unwrap();
        assert_eq!(server_status(&s, &a, id).await, ServerStatus::Error, "[{l}]");
        assert_eq!(s.agents_overdue_tick().await.unwrap(), 0, "[{l}] already error");
    }
}
