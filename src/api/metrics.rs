//! `/metrics`: a [`MetricsSnapshot`] in the Prometheus text exposition format, version 0.0.4
//! (`Content-Type: text/plain; version=0.0.4; charset=utf-8`).
//!
//! Every family has `# HELP` and `# TYPE` lines (also when it has no sample), every name starts
//! with `certdeck_`, label values are escaped (backslash, double quote, line feed) and histogram
//! buckets are cumulative, in ascending `le` order, ending with `+Inf`. Units follow
//! Prometheus' base units (seconds), so `promtool check metrics` finds nothing to lint: the time
//! a certificate has left is `certdeck_certificate_time_left_seconds` (divide by 86400 for days).

use std::fmt::Write as _;

use crate::service::metrics::{LabelCount, MetricsSnapshot};

/// The `Content-Type` of the rendered text.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Renders `s` in the text exposition format.
pub fn render(s: &MetricsSnapshot) -> String {
    let mut o = Out(String::with_capacity(4096 + s.certificates.len() * 256));

    o.family(
        "certdeck_certificate_not_after_seconds",
        "gauge",
        "Not-after time of a certificate, in seconds since the Unix epoch (at most certdeck_certificate_series_limit certificates, soonest expiry first; revoked ones and those without an expiry are left out).",
    );
    for c in &s.certificates {
        let id = c.id.to_string();
        o.sample(
            "certdeck_certificate_not_after_seconds",
            &[("id", &id), ("domain", &c.domain), ("status", &c.status)],
            &int(c.not_after.timestamp()),
        );
    }
    o.family(
        "certdeck_certificate_time_left_seconds",
        "gauge",
        "Seconds until a certificate expires, at scrape time (negative once expired; divide by 86400 for days). Same certificates as certdeck_certificate_not_after_seconds.",
    );
    for c in &s.certificates {
        let id = c.id.to_string();
        o.sample(
            "certdeck_certificate_time_left_seconds",
            &[("id", &id), ("domain", &c.domain), ("status", &c.status)],
            &int((c.not_after - s.at).num_seconds()),
        );
    }
    o.family(
        "certdeck_certificate_series_limit",
        "gauge",
        "Most certificates that get a series of their own (--metrics-max-certificates).",
    );
    o.sample(
        "certdeck_certificate_series_limit",
        &[],
        &s.certificate_series_limit.to_string(),
    );
    o.family(
        "certdeck_certificate_series_dropped",
        "gauge",
        "Certificates with an expiry left without a series of their own by certdeck_certificate_series_limit (those expiring last).",
    );
    o.sample(
        "certdeck_certificate_series_dropped",
        &[],
        &s.certificate_series_dropped.to_string(),
    );

    o.counts(
        "certdeck_certificates",
        "Certificates by status.",
        "status",
        &s.certificates_by_status,
    );
    o.counts(
        "certdeck_monitors",
        "Monitors by status.",
        "status",
        &s.monitors_by_status,
    );
    o.counts(
        "certdeck_alerts_open",
        "Fired alerts not yet resolved, by severity.",
        "severity",
        &s.open_alerts_by_severity,
    );

    o.family("certdeck_tasks", "gauge", "Tasks by status and type.");
    for t in &s.tasks {
        o.sample(
            "certdeck_tasks",
            &[("status", &t.status), ("type", &t.task_type)],
            &t.count.to_string(),
        );
    }

    o.family(
        "certdeck_task_duration_seconds",
        "histogram",
        "Run time (completed_at - started_at, whole seconds) of finished tasks (completed or failed), by type.",
    );
    for h in &s.task_durations {
        for (le, n) in &h.buckets {
            o.sample(
                "certdeck_task_duration_seconds_bucket",
                &[("type", &h.task_type), ("le", &float(*le))],
                &n.to_string(),
            );
        }
        o.sample(
            "certdeck_task_duration_seconds_bucket",
            &[("type", &h.task_type), ("le", "+Inf")],
            &h.count.to_string(),
        );
        o.sample(
            "certdeck_task_duration_seconds_sum",
            &[("type", &h.task_type)],
            &float(h.sum),
        );
        o.sample(
            "certdeck_task_duration_seconds_count",
            &[("type", &h.task_type)],
            &h.count.to_string(),
        );
    }

    o.counts(
        "certdeck_deployments",
        "Certificate deployments (certificate on a server) by status of their last run.",
        "status",
        &s.deployments_by_status,
    );

    o.family(
        "certdeck_issuance_total",
        "counter",
        "Finished issuances (type certificate_issue) and renewals (certificate_renew) by outcome (the task's final status: completed, failed or cancelled).",
    );
    for i in &s.issuance {
        o.sample(
            "certdeck_issuance_total",
            &[("type", &i.task_type), ("outcome", &i.outcome)],
            &i.count.to_string(),
        );
    }

    o.family(
        "certdeck_scheduler_last_heartbeat_seconds",
        "gauge",
        "Last heartbeat of a scheduler, in seconds since the Unix epoch (schedulers seen within the last 24 hours).",
    );
    for b in &s.schedulers {
        o.sample(
            "certdeck_scheduler_last_heartbeat_seconds",
            &[("worker", &b.worker)],
            &int(b.last_heartbeat.timestamp()),
        );
    }
    o.family(
        "certdeck_scheduler_stopped",
        "gauge",
        "1 when a scheduler stopped cleanly, 0 while it runs (or died: then its heartbeat grows old).",
    );
    for b in &s.schedulers {
        o.sample(
            "certdeck_scheduler_stopped",
            &[("worker", &b.worker)],
            if b.stopped { "1" } else { "0" },
        );
    }

    o.family(
        "certdeck_outbox_pending",
        "gauge",
        "Notification deliveries waiting to be sent (due or to be retried).",
    );
    o.sample("certdeck_outbox_pending", &[], &s.outbox_pending.to_string());
    o.family(
        "certdeck_outbox_oldest_pending_age_seconds",
        "gauge",
        "Age of the oldest pending notification delivery, in seconds (0 when none is pending).",
    );
    let age = s.outbox_oldest_pending.map_or(0, |t| (s.at - t).num_seconds().max(0));
    o.sample("certdeck_outbox_oldest_pending_age_seconds", &[], &int(age));
    o.0
}

/// The text under construction.
struct Out(String);

impl Out {
    /// The `# HELP` and `# TYPE` lines of a family.
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.0, "# TYPE {name} {kind}");
    }

    /// One sample line; `value` is already formatted.
    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: &str) {
        self.0.push_str(name);
        if !labels.is_empty() {
            self.0.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.0.push(',');
                }
                let _ = write!(self.0, "{k}=\"{}\"", escape_label(v));
            }
            self.0.push('}');
        }
        self.0.push(' ');
        self.0.push_str(value);
        self.0.push('\n');
    }

    /// A gauge family with one label, one sample per value.
    fn counts(&mut self, name: &str, help: &str, label: &str, rows: &[LabelCount]) {
        self.family(name, "gauge", help);
        for (v, n) in rows {
            self.sample(name, &[(label, v)], &n.to_string());
        }
    }
}

/// A label value as the format wants it: `\` → `\\`, `"` → `\"`, line feed → `\n`.
fn escape_label(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for ch in v.chars() {
        match ch {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

/// Help text as the format wants it: `\` → `\\`, line feed → `\n`.
fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

fn int(v: i64) -> String {
    v.to_string()
}

/// A float as Prometheus reads it (`+Inf`, `-Inf`, `NaN` spelled out).
fn float(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone, Utc};

    use super::*;
    use crate::service::metrics::{CertificateExpiry, IssuanceCount, SchedulerBeat, TaskCount, TaskDurations};

    fn snapshot() -> MetricsSnapshot {
        let at = Utc.with_ymd_and_hms(2026, 12, 3, 12, 0, 0).unwrap();
        MetricsSnapshot {
            at,
            certificates: vec![
                CertificateExpiry {
                    id: 7,
                    domain: "soon.example.com".into(),
                    status: "issued".into(),
                    not_after: at + Duration::days(3),
                },
                CertificateExpiry {
                    id: 8,
                    domain: "we\"ird\\na\nme.example".into(),
                    status: "expired".into(),
                    not_after: at - Duration::seconds(90),
                },
            ],
            certificate_series_limit: 2,
            certificate_series_dropped: 5,
            certificates_by_status: vec![("issued".into(), 1), ("expired".into(), 1)],
            monitors_by_status: vec![("ok".into(), 3), ("error".into(), 0)],
            open_alerts_by_severity: vec![("critical".into(), 2)],
            tasks: vec![TaskCount {
                status: "completed".into(),
                task_type: "monitor_check".into(),
                count: 4,
            }],
            task_durations: vec![
                TaskDurations {
                    task_type: "monitor_check".into(),
                    buckets: vec![(0.1, 1), (0.5, 1), (1.0, 2), (600.0, 3)],
                    sum: 12.0,
                    count: 4,
                },
                TaskDurations {
                    task_type: "certificate_issue".into(),
                    buckets: vec![(0.1, 0), (0.5, 0), (1.0, 0), (600.0, 0)],
                    sum: 0.0,
                    count: 0,
                },
            ],
            deployments_by_status: vec![("deployed".into(), 1), ("failed".into(), 2)],
            issuance: vec![IssuanceCount {
                task_type: "certificate_renew".into(),
                outcome: "failed".into(),
                count: 1,
            }],
            schedulers: vec![SchedulerBeat {
                worker: "host:12:ab".into(),
                last_heartbeat: at - Duration::seconds(5),
                stopped: false,
            }],
            outbox_pending: 2,
            outbox_oldest_pending: Some(at - Duration::seconds(42)),
        }
    }

    fn lines_of<'a>(text: &'a str, prefix: &str) -> Vec<&'a str> {
        text.lines().filter(|l| l.starts_with(prefix)).collect()
    }

    #[test]
    fn label_values_escape_backslash_quote_and_newline() {
        assert_eq!(escape_label(r#"a\b"c"#), r#"a\\b\"c"#);
        assert_eq!(escape_label("x\ny"), "x\\ny");
        let text = render(&snapshot());
        let line = lines_of(&text, "certdeck_certificate_time_left_seconds{id=\"8\"")[0];
        assert_eq!(
            line,
            r#"certdeck_certificate_time_left_seconds{id="8",domain="we\"ird\\na\nme.example",status="expired"} -90"#
        );
        assert!(
            text.lines().all(|l| l.starts_with("# ") || l.starts_with("certdeck_")),
            "no raw line feed inside a label value"
        );
    }

    #[test]
    fn every_family_has_help_and_type_before_its_samples_and_the_certdeck_prefix() {
        let text = render(&snapshot());
        let mut typed: Vec<(String, String)> = Vec::new();
        let mut helped: Vec<String> = Vec::new();
        for l in text.lines() {
            if let Some(rest) = l.strip_prefix("# HELP ") {
                helped.push(rest.split(' ').next().unwrap().to_string());
            } else if let Some(rest) = l.strip_prefix("# TYPE ") {
                let mut f = rest.split(' ');
                let (name, kind) = (f.next().unwrap(), f.next().unwrap());
                assert_eq!(
                    helped.last().map(String::as_str),
                    Some(name),
                    "HELP right before TYPE of {name}"
                );
                assert!(typed.iter().all(|(n, _)| n != name), "{name} is declared once");
                typed.push((name.to_string(), kind.to_string()));
            } else {
                let name = l.split(['{', ' ']).next().unwrap();
                assert!(name.starts_with("certdeck_"), "{l}");
                let (family, kind) = typed.last().expect("a sample after a TYPE line");
                let ok = match kind.as_str() {
                    "histogram" => [
                        format!("{family}_bucket"),
                        format!("{family}_sum"),
                        format!("{family}_count"),
                    ]
                    .contains(&name.to_string()),
                    _ => name == family,
                };
                assert!(ok, "sample {l} belongs to the family above it ({family})");
            }
        }
        for want in [
            "certdeck_certificate_not_after_seconds",
            "certdeck_certificate_time_left_seconds",
            "certdeck_certificate_series_limit",
            "certdeck_certificate_series_dropped",
            "certdeck_certificates",
            "certdeck_monitors",
            "certdeck_alerts_open",
            "certdeck_tasks",
            "certdeck_task_duration_seconds",
            "certdeck_deployments",
            "certdeck_issuance_total",
            "certdeck_scheduler_last_heartbeat_seconds",
            "certdeck_scheduler_stopped",
            "certdeck_outbox_pending",
            "certdeck_outbox_oldest_pending_age_seconds",
        ] {
            assert!(typed.iter().any(|(n, _)| n == want), "family {want} is declared");
        }
        assert!(typed.contains(&("certdeck_issuance_total".into(), "counter".into())));
        assert!(typed.contains(&("certdeck_task_duration_seconds".into(), "histogram".into())));
    }

    #[test]
    fn histogram_buckets_are_cumulative_ascending_and_end_with_inf() {
        let text = render(&snapshot());
        let buckets = lines_of(&text, "certdeck_task_duration_seconds_bucket{type=\"monitor_check\"");
        assert_eq!(
            buckets,
            vec![
                r#"certdeck_task_duration_seconds_bucket{type="monitor_check",le="0.1"} 1"#,
                r#"certdeck_task_duration_seconds_bucket{type="monitor_check",le="0.5"} 1"#,
                r#"certdeck_task_duration_seconds_bucket{type="monitor_check",le="1"} 2"#,
                r#"certdeck_task_duration_seconds_bucket{type="monitor_check",le="600"} 3"#,
                r#"certdeck_task_duration_seconds_bucket{type="monitor_check",le="+Inf"} 4"#,
            ]
        );
        assert_eq!(
            lines_of(&text, "certdeck_task_duration_seconds_sum{type=\"monitor_check\"}"),
            vec![r#"certdeck_task_duration_seconds_sum{type="monitor_check"} 12"#]
        );
        assert_eq!(
            lines_of(&text, "certdeck_task_duration_seconds_count{type=\"monitor_check\"}"),
            vec![r#"certdeck_task_duration_seconds_count{type="monitor_check"} 4"#]
        );
        // A type with no finished task still has its zero buckets, +Inf last.
        let empty = lines_of(
            &text,
            "certdeck_task_duration_seconds_bucket{type=\"certificate_issue\"",
        );
        assert_eq!(empty.len(), 5);
        assert!(empty[4].ends_with(r#"le="+Inf"} 0"#));
        // Per type, the lines of one histogram are contiguous: buckets, then sum, then count.
        let all: Vec<&str> = lines_of(&text, "certdeck_task_duration_seconds");
        assert_eq!(all.len(), 2 * 7);
        assert!(all[5].starts_with("certdeck_task_duration_seconds_sum{type=\"monitor_check\"}"));
        assert!(all[6].starts_with("certdeck_task_duration_seconds_count{type=\"monitor_check\"}"));
    }

    #[test]
    fn values_are_relative_to_the_snapshot_time() {
        let s = snapshot();
        let text = render(&s);
        assert!(text.contains(&format!(
            "certdeck_certificate_not_after_seconds{{id=\"7\",domain=\"soon.example.com\",status=\"issued\"}} {}\n",
            (s.at + Duration::days(3)).timestamp()
        )));
        assert!(text.contains(
            "certdeck_certificate_time_left_seconds{id=\"7\",domain=\"soon.example.com\",status=\"issued\"} 259200\n"
        ));
        assert!(text.contains("certdeck_certificate_series_dropped 5\n"));
        assert!(text.contains("certdeck_certificate_series_limit 2\n"));
        assert!(text.contains("certdeck_outbox_pending 2\n"));
        assert!(text.contains("certdeck_outbox_oldest_pending_age_seconds 42\n"));
        assert!(text.contains("certdeck_alerts_open{severity=\"critical\"} 2\n"));
        assert!(text.contains("certdeck_tasks{status=\"completed\",type=\"monitor_check\"} 4\n"));
        assert!(text.contains("certdeck_issuance_total{type=\"certificate_renew\",outcome=\"failed\"} 1\n"));
        assert!(text.contains(&format!(
            "certdeck_scheduler_last_heartbeat_seconds{{worker=\"host:12:ab\"}} {}\n",
            (s.at - Duration::seconds(5)).timestamp()
        )));
        assert!(text.contains("certdeck_scheduler_stopped{worker=\"host:12:ab\"} 0\n"));
        assert!(text.ends_with('\n'));
    }

    #[test]
    fn an_empty_outbox_has_age_zero_and_floats_spell_infinities() {
        let mut s = snapshot();
        s.outbox_oldest_pending = None;
        s.outbox_pending = 0;
        let text = render(&s);
        assert!(text.contains("certdeck_outbox_oldest_pending_age_seconds 0\n"));
        assert_eq!(float(f64::INFINITY), "+Inf");
        assert_eq!(float(f64::NEG_INFINITY), "-Inf");
        assert_eq!(float(f64::NAN), "NaN");
        assert_eq!(float(0.5), "0.5");
        assert_eq!(escape_help("a\\b\nc"), "a\\\\b\\nc");
    }
}
