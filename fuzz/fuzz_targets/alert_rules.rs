//! Fuzzes the alert-rule grammar and evaluation (`certdeck::domain::alert_rules`): the
//! `condition_value` of a rule is text a user types.
//!
//! The first 9 bytes choose an observation (days left, consecutive failures, monitor status
//! and type); the rest is the condition value. `Threshold::parse` must never panic, an accepted
//! threshold must read back the same from its canonical spelling, and `fires` must never panic
//! for any rule type and condition, nor fire a rule on a monitor type it does not apply to.

#![no_main]

use certdeck::domain::alert_rules::{fires, Observation, Threshold};
use certdeck::domain::{AlertType, ConditionType, MonitorStatus, MonitorType};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 9 {
        return;
    }
    let (head, rest) = data.split_at(9);
    let value = String::from_utf8_lossy(rest);
    let days = i32::from_le_bytes([head[0], head[1], head[2], head[3]]);
    let fails = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
    let monitor_type = MonitorType::ALL[usize::from(head[8] & 0x3) % MonitorType::ALL.len()];
    let status = MonitorStatus::ALL[usize::from((head[8] >> 2) & 0x3) % MonitorStatus::ALL.len()];
    let o = Observation {
        monitor_type,
        status,
        days_left: (head[8] & 0x80 == 0).then_some(i64::from(days)),
        consecutive_failures: i64::from(fails),
        summary: "fuzz".into(),
    };

    if let Ok(t) = Threshold::parse(&value) {
        assert!(t.value.is_finite());
        let again = Threshold::parse(&t.canonical()).expect("the canonical spelling parses");
        assert_eq!(again, t, "canonical round trip of {:?}", t.canonical());
    }
    for &alert_type in AlertType::ALL {
        for &condition in ConditionType::ALL {
            let fired = fires(alert_type, condition, &value, "fuzz.example", &o);
            if fired.is_some() {
                let applies = match alert_type {
                    AlertType::ServerDown => monitor_type == MonitorType::Server,
                    _ => monitor_type != MonitorType::Server,
                };
                assert!(applies, "{alert_type} fired on a {monitor_type} monitor");
            }
        }
    }
});
