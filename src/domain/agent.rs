//! When a token server's pull agent counts as silent. Pure: the monitor check, the console and
//! the CLI feed it the agent's last check-in and interval and show what comes out.

use chrono::{DateTime, Duration, Utc};

/// The interval an agent is assumed to run at before it has reported its own (the
/// `server_agents.interval_seconds` default).
pub const DEFAULT_INTERVAL_SECONDS: i32 = 300;

/// The shortest grace an agent gets past its interval, in seconds.
pub const MIN_GRACE_SECONDS: i64 = 60;

/// Why an agent counts as silent (see [`silence`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Silence {
    /// The agent has not checked in at all since the server was added. A new server is not down:
    /// its monitor reports a warning, and the server's status is left as it is.
    NotYetCheckedIn,
    /// The agent checked in last at `last_checkin` and was due again by `deadline` (its interval
    /// plus the grace, [`grace_seconds`]): the server is down (its monitor reports an error, the
    /// server turns `error` and its `server_down` rules fire).
    Overdue {
        /// The last check-in.
        last_checkin: DateTime<Utc>,
        /// The last check-in plus the interval plus the grace.
        deadline: DateTime<Utc>,
    },
}

impl Silence {
    /// Whether this silence makes the server down (`Overdue`), not merely new.
    pub fn is_down(&self) -> bool {
        matches!(self, Silence::Overdue { .. })
    }
}

/// The agent's state as one word for faces and JSON: `checking_in` (not silent), `silent`
/// ([`Silence::Overdue`]) or `not_checked_in` ([`Silence::NotYetCheckedIn`]).
pub fn state_key(s: Option<Silence>) -> &'static str {
    match s {
        None => "checking_in",
        Some(Silence::Overdue { .. }) => "silent",
        Some(Silence::NotYetCheckedIn) => "not_checked_in",
    }
}

/// The grace past an agent's interval before it counts as silent: half the interval, at least
/// [`MIN_GRACE_SECONDS`] (60 s). A negative interval counts as 0.
pub fn grace_seconds(interval_seconds: i64) -> i64 {
    (interval_seconds.max(0) / 2).max(MIN_GRACE_SECONDS)
}

/// The time by which an agent that checked in at `last_checkin` must check in again:
/// `last_checkin + interval + grace`.
pub fn deadline(last_checkin: DateTime<Utc>, interval_seconds: i64) -> DateTime<Utc> {
    let interval = interval_seconds.max(0);
    last_checkin + Duration::seconds(interval.saturating_add(grace_seconds(interval)))
}

/// The silence rule of a token server's agent, at `now`:
///
/// - no check-in at all yet → [`Silence::NotYetCheckedIn`] (a warning: the agent has not checked
///   in since the server was added);
/// - `now - last_checkin > interval + grace`, where `grace = max(60 s, interval / 2)` →
///   [`Silence::Overdue`] (the server is down);
/// - otherwise `None`: the agent is checking in. Exactly at the deadline it still is; a check-in
///   stamped in the future (clock skew) counts as fresh.
///
/// `interval_seconds` is the interval the agent reported at its last check-in (300 s, the
/// default, until it reported one). For example an agent running every 300 s has a grace of
/// 150 s and is silent once its last check-in is more than 450 s old; one running every 60 s
/// has the minimum grace of 60 s and is silent after 120 s.
pub fn silence(last_checkin: Option<DateTime<Utc>>, interval_seconds: i64, now: DateTime<Utc>) -> Option<Silence> {
    let Some(last) = last_checkin else {
        return Some(Silence::NotYetCheckedIn);
    };
    let due = deadline(last, interval_seconds);
    (now > due).then_some(Silence::Overdue {
        last_checkin: last,
        deadline: due,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(secs: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 3, 19, 0, 0).unwrap() + Duration::seconds(secs)
    }

    #[test]
    fn the_grace_is_half_the_interval_and_at_least_a_minute() {
        assert_eq!(grace_seconds(300), 150);
        assert_eq!(grace_seconds(3600), 1800);
        assert_eq!(grace_seconds(121), 60);
        assert_eq!(grace_seconds(60), 60);
        assert_eq!(grace_seconds(0), 60);
        assert_eq!(grace_seconds(-5), 60);
    }

    #[test]
    fn an_agent_that_never_checked_in_is_new_not_down() {
        let s = silence(None, 300, t(0)).unwrap();
        assert_eq!(s, Silence::NotYetCheckedIn);
        assert!(!s.is_down());
        assert_eq!(state_key(Some(s)), "not_checked_in");
        assert_eq!(state_key(None), "checking_in");
    }

    #[test]
    fn an_agent_is_silent_only_past_its_interval_plus_the_grace() {
        // Every 300 s: due by 450 s after its last check-in.
        assert_eq!(silence(Some(t(0)), 300, t(300)), None, "on time");
        assert_eq!(silence(Some(t(0)), 300, t(449)), None, "within the grace");
        assert_eq!(silence(Some(t(0)), 300, t(450)), None, "exactly at the deadline");
        let s = silence(Some(t(0)), 300, t(451)).unwrap();
        assert_eq!(
            s,
            Silence::Overdue {
                last_checkin: t(0),
                deadline: t(450)
            }
        );
        assert!(s.is_down());
        assert_eq!(state_key(Some(s)), "silent");
        // Every 60 s: the minimum grace of 60 s.
        assert_eq!(silence(Some(t(0)), 60, t(120)), None);
        assert!(silence(Some(t(0)), 60, t(121)).is_some_and(|s| s.is_down()));
        // Every 2 h: an hour of grace.
        assert_eq!(silence(Some(t(0)), 7200, t(10_800)), None);
        assert!(silence(Some(t(0)), 7200, t(10_801)).is_some());
    }

    #[test]
    fn a_check_in_from_the_future_is_fresh_and_a_bad_interval_gets_the_minimum() {
        assert_eq!(silence(Some(t(30)), 300, t(0)), None);
        assert_eq!(deadline(t(0), -10), t(60));
        assert_eq!(silence(Some(t(0)), 0, t(60)), None);
        assert!(silence(Some(t(0)), 0, t(61)).is_some());
    }
}
