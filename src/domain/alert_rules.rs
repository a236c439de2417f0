//! When an alert rule fires, from what a monitor check observed. Pure: the service feeds the
//! observation and stores what comes out.
//!
//! Rules (`alerts.alert_type` / `condition_type` / `condition_value`):
//! - `certificate_expiry` / `days_before` / `N`: fires when the certificate has N days or fewer
//!   left (also once it has expired).
//! - `server_down` / `status_change` / `warning|error`: a server monitor whose status is at
//!   least that bad.
//! - `certificate_error` / `status_change` / `warning|error`: a certificate or domain monitor
//!   whose status is at least that bad.
//! - any type / `value_threshold` / `<metric><op><number>`: the grammar is
//!   `metric ::= days_left | consecutive_failures`, `op ::= < | <= | > | >=`, `number` a
//!   decimal (e.g. `days_left<=7`, `consecutive_failures>=3`); spaces are allowed between parts.

use super::{AlertType, ConditionType, MonitorStatus, MonitorType};

/// What one check of a monitor found.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    /// The monitor's type.
    pub monitor_type: MonitorType,
    /// Its status after the check.
    pub status: MonitorStatus,
    /// Days until the (served or held) certificate expires; negative once expired.
    pub days_left: Option<i64>,
    /// Failed checks in a row, this one included.
    pub consecutive_failures: i64,
    /// What the check found, in one line.
    pub summary: String,
}

/// A parsed `value_threshold` condition.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Threshold {
    /// `days_left` or `consecutive_failures`.
    pub metric: Metric,
    /// The comparison.
    pub op: Op,
    /// The number compared with.
    pub value: f64,
}

/// A value a threshold compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// Days until expiry.
    DaysLeft,
    /// Failed checks in a row.
    ConsecutiveFailures,
}

/// A comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl Threshold {
    /// Parses `<metric><op><number>` (see the module documentation).
    pub fn parse(s: &str) -> Result<Threshold, String> {
        let t: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        let (metric, rest) = if let Some(r) = t.strip_prefix("days_left") {
            (Metric::DaysLeft, r)
        } else if let Some(r) = t.strip_prefix("consecutive_failures") {
            (Metric::ConsecutiveFailures, r)
        } else {
            return Err(format!(
                "'{s}': write <metric><op><number> with metric days_left or consecutive_failures, e.g. days_left<=7"
            ));
        };
        let (op, num) = if let Some(n) = rest.strip_prefix("<=") {
            (Op::Le, n)
        } else if let Some(n) = rest.strip_prefix(">=") {
            (Op::Ge, n)
        } else if let Some(n) = rest.strip_prefix('<') {
            (Op::Lt, n)
        } else if let Some(n) = rest.strip_prefix('>') {
            (Op::Gt, n)
        } else {
            return Err(format!("'{s}': the comparison must be <, <=, > or >="));
        };
        let value: f64 = num
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite())
            .ok_or_else(|| format!("'{s}': '{num}' is not a number"))?;
        Ok(Threshold { metric, op, value })
    }

    /// The canonical spelling (`days_left<=7`).
    pub fn canonical(&self) -> String {
        let m = match self.metric {
            Metric::DaysLeft => "days_left",
            Metric::ConsecutiveFailures => "consecutive_failures",
        };
        let o = match self.op {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
        };
        format!("{m}{o}{}", self.value)
    }

    fn holds(&self, o: &Observation) -> bool {
        let v = match self.metric {
            Metric::DaysLeft => match o.days_left {
                Some(d) => d as f64,
                None => return false,
            },
            Metric::ConsecutiveFailures => o.consecutive_failures as f64,
        };
        match self.op {
            Op::Lt => v < self.value,
            Op::Le => v <= self.value,
            Op::Gt => v > self.value,
            Op::Ge => v >= self.value,
        }
    }
}

fn rank(s: MonitorStatus) -> u8 {
    match s {
        MonitorStatus::Ok => 0,
        MonitorStatus::Unknown => 1,
        MonitorStatus::Warning => 2,
        MonitorStatus::Error => 3,
    }
}

/// Whether a rule fires on an observation, and the alert's message when it does. A rule that
/// does not apply to this kind of monitor (a `server_down` rule on a domain monitor) never fires.
pub fn fires(
    alert_type: AlertType,
    condition: ConditionType,
    value: &str,
    subject: &str,
    o: &Observation,
) -> Option<String> {
    let applies = match alert_type {
        AlertType::ServerDown => o.monitor_type == MonitorType::Server,
        AlertType::CertificateError | AlertType::CertificateExpiry => o.monitor_type != MonitorType::Server,
    };
    if !applies {
        return None;
    }
    match condition {
        ConditionType::DaysBefore => {
            let n: i64 = value.trim().parse().ok()?;
            let d = o.days_left?;
            (d <= n).then(|| {
                if d < 0 {
                    format!("{subject}: the certificate has expired")
                } else {
                    format!("{subject}: the certificate expires in {d} day(s) (alert at {n})")
                }
            })
        }
        ConditionType::StatusChange => {
            let want: MonitorStatus = value.trim().parse().ok()?;
            (rank(o.status) >= rank(want) && o.status != MonitorStatus::Unknown && o.status != MonitorStatus::Ok)
                .then(|| format!("{subject}: {}", o.summary))
        }
        ConditionType::ValueThreshold => {
            let t = Threshold::parse(value).ok()?;
            t.holds(o)
                .then(|| format!("{subject}: {} ({})", t.canonical(), o.summary))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(t: MonitorType, s: MonitorStatus, days: Option<i64>, fails: i64) -> Observation {
        Observation {
            monitor_type: t,
            status: s,
            days_left: days,
            consecutive_failures: fails,
            summary: "certificate expired 2 days ago".into(),
        }
    }

    #[test]
    fn thresholds_parse_in_the_documented_grammar_and_refuse_the_rest() {
        let t = Threshold::parse(" days_left <= 7 ").unwrap();
        assert_eq!((t.metric, t.op, t.value), (Metric::DaysLeft, Op::Le, 7.0));
        assert_eq!(t.canonical(), "days_left<=7");
        assert_eq!(Threshold::parse("consecutive_failures>=3").unwrap().op, Op::Ge);
        assert_eq!(Threshold::parse("days_left>30").unwrap().op, Op::Gt);
        for bad in ["uptime<3", "days_left=7", "days_left<=seven", "days_left<=inf", ""] {
            assert!(Threshold::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn expiry_rules_fire_at_the_threshold_and_on_expired_certificates() {
        let d = |days| obs(MonitorType::Domain, MonitorStatus::Warning, Some(days), 0);
        let f = |o: &Observation| {
            fires(
                AlertType::CertificateExpiry,
                ConditionType::DaysBefore,
                "14",
                "a.test",
                o,
            )
        };
        assert!(f(&d(15)).is_none());
        assert!(f(&d(14)).unwrap().contains("expires in 14 day(s)"));
        assert!(f(&d(-2)).unwrap().contains("has expired"));
        assert!(
            f(&obs(MonitorType::Domain, MonitorStatus::Error, None, 1)).is_none(),
            "no certificate seen"
        );
    }

    #[test]
    fn status_rules_apply_to_their_kind_of_monitor_only() {
        let down = obs(MonitorType::Server, MonitorStatus::Error, None, 2);
        assert!(fires(
            AlertType::ServerDown,
            ConditionType::StatusChange,
            "error",
            "web1",
            &down
        )
        .is_some());
        assert!(fires(
            AlertType::ServerDown,
            ConditionType::StatusChange,
            "warning",
            "web1",
            &down
        )
        .is_some());
        let warn = obs(MonitorType::Server, MonitorStatus::Warning, None, 0);
        assert!(fires(
            AlertType::ServerDown,
            ConditionType::StatusChange,
            "error",
            "web1",
            &warn
        )
        .is_none());
        let cert = obs(MonitorType::Certificate, MonitorStatus::Error, Some(3), 1);
        assert!(fires(AlertType::ServerDown, ConditionType::StatusChange, "error", "c", &cert).is_none());
        assert!(fires(
            AlertType::CertificateError,
            ConditionType::StatusChange,
            "error",
            "c",
            &cert
        )
        .is_some());
        let ok = obs(MonitorType::Certificate, MonitorStatus::Ok, Some(80), 0);
        assert!(fires(
            AlertType::CertificateError,
            ConditionType::StatusChange,
            "warning",
            "c",
            &ok
        )
        .is_none());
    }

    #[test]
    fn value_thresholds_compare_the_named_metric() {
        let o = obs(MonitorType::Domain, MonitorStatus::Error, Some(5), 3);
        let f = |v| fires(AlertType::CertificateError, ConditionType::ValueThreshold, v, "d", &o);
        assert!(f("consecutive_failures>=3").is_some());
        assert!(f("consecutive_failures>3").is_none());
        assert!(f("days_left<5").is_none());
        assert!(f("days_left<=5").unwrap().contains("days_left<=5"));
    }
}
