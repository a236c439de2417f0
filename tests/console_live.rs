//! The console's change polling against the real backends: another process's change to a row
//! shows in the table's change mark; a user's mark counts only that user's rows.

mod common;

use certdeck::service::servers::ServerInput;
use certdeck::store::changes::Watched;
use chrono::{Duration, Utc};
use common::World;

fn server(host: &str) -> ServerInput {
    ServerInput {
        hostname: Some(host.into()),
        username: Some("deploy".into()),
        password: Some("pw-123456".into()),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_change_by_another_process_moves_the_mark_and_owners_see_only_their_rows() {
    for t in common::both().await {
        let w = World::new(&t).await;
        let l = w.label;
        let since = Utc::now() - Duration::seconds(5);
        let before = w.s.changes_since(&w.admin, Watched::Servers, since).await.unwrap();
        assert_eq!(before.rows, 0, "[{l}] nothing yet");
        let row = w.s.server_create(&w.admin, &server("poll1.example.com")).await.unwrap();
        let seen = w.s.changes_since(&w.admin, Watched::Servers, since).await.unwrap();
        assert_eq!((seen.rows, seen.max_id), (1, Some(row.id)), "[{l}]");
        assert_eq!(
            w.s.changes_since(&w.admin, Watched::Servers, since).await.unwrap(),
            seen,
            "[{l}] no change, same mark"
        );
        // DATETIME has one-second resolution: a later second makes the change visible.
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        let other = common::services(&t);
        other
            .server_update(
                &w.admin,
                row.id,
                &ServerInput {
                    name: Some("renamed elsewhere".into()),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let after = w.s.changes_since(&w.admin, Watched::Servers, since).await.unwrap();
        assert_ne!(after, seen, "[{l}] the update moved the mark");
        assert!(after.latest > seen.latest, "[{l}] {after:?} vs {seen:?}");
        // Polling from the last change's second still sees that row (no change is lost at
        // the second's edge).
        let edge =
            w.s.changes_since(&w.admin, Watched::Servers, after.latest.unwrap())
                .await
                .unwrap();
        assert_eq!(edge.rows, 1, "[{l}]");
        // Alice's poll does not count the admin's server.
        let alice = w.s.changes_since(&w.alice, Watched::Servers, since).await.unwrap();
        assert_eq!(alice.rows, 0, "[{l}]");
        w.s.server_create(&w.alice, &server("alice.example.com")).await.unwrap();
        let alice = w.s.changes_since(&w.alice, Watched::Servers, since).await.unwrap();
        assert_eq!(alice.rows, 1, "[{l}]");
        // The audit log is watched by its creation time.
        let audit = w.s.changes_since(&w.admin, Watched::Audit, since).await.unwrap();
        assert!(audit.rows >= 3, "[{l}] {audit:?}");
    }
}

fn expiring_in(domain: &str, days: i64) -> certdeck::service::certificates::ImportInput {
    let kp = rcgen::KeyPair::generate().expect("key");
    let mut params = rcgen::CertificateParams::new(vec![domain.to_string()]).expect("params");
    let t = Utc::now() + Duration::days(days);
    params.not_after = rcgen::date_time_ymd(
        t.format("%Y").to_string().parse().unwrap(),
        t.format("%m").to_string().parse().unwrap(),
        t.format("%d").to_string().parse().unwrap(),
    );
    let cert = params.self_signed(&kp).expect("self-sign");
    certdeck::service::certificates::ImportInput {
        certificate: cert.pem().into_bytes(),
        private_key: kp.serialize_pem().into_bytes(),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_dashboard_counts_expiries_by_window_and_week_per_owner() {
    for t in common::both().await {
        let w = World::new(&t).await;
        let l = w.label;
        for (d, days) in [
            ("a.example.com", 3),
            ("b.example.com", 20),
            ("c.example.com", 60),
            ("d.example.com", 200),
        ] {
            w.s.cert_import(&w.admin, &expiring_in(d, days)).await.unwrap();
        }
        w.s.cert_import(&w.alice, &expiring_in("alice.example.com", 3))
            .await
            .unwrap();
        let d = w.s.dashboard(&w.admin).await.unwrap();
        assert_eq!(d.expiries.within, [2, 3, 4], "[{l}] 7/30/90 days, all users");
        // Expiry at midnight UTC of day N lands in week (N-1)/7 or N/7 depending on the hour.
        assert_eq!(
            d.expiries.weekly.iter().sum::<i64>(),
            4,
            "[{l}] {:?}",
            d.expiries.weekly
        );
        assert_eq!(d.expiries.weekly[0], 2, "[{l}] {:?}", d.expiries.weekly);
        let issued: i64 = d
            .certificates
            .iter()
            .filter(|(s, _)| s == "issued")
            .map(|(_, n)| n)
            .sum();
        assert_eq!(issued, 5, "[{l}]");
        let a = w.s.dashboard(&w.alice).await.unwrap();
        assert_eq!(a.expiries.within, [1, 1, 1], "[{l}] alice sees her own only");
        assert!(a.tasks.is_empty() && a.open_alerts.is_empty(), "[{l}]");
    }
}
