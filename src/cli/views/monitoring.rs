//! Views of monitors, alert rules, fired alerts and notification channels.

use super::{opt, when, FieldsView, TableView};
use crate::service::monitor_check::CheckOutcome;
use crate::service::monitoring::ChannelView;
use crate::service::views::{AlertRow, BindingRow, HistoryRow, MonitorRow};

impl TableView for MonitorRow {
    const HEADERS: &'static [&'static str] = &[
        "ID",
        "NAME",
        "TYPE",
        "TARGET",
        "PORT",
        "EVERY",
        "ACTIVE",
        "STATUS",
        "NEXT CHECK",
    ];
    fn cells(&self) -> Vec<String> {
        let target = self
            .domain
            .clone()
            .or(self.target_id.map(|t| format!("#{t}")))
            .unwrap_or_else(|| "-".into());
        vec![
            self.id.to_string(),
            self.name.clone(),
            self.monitor_type.to_string(),
            target,
            self.port.map(|p| p.to_string()).unwrap_or_default(),
            format!("{}s", self.check_interval),
            self.is_active.to_string(),
            self.status.to_string(),
            when(self.next_check_at),
        ]
    }
}

impl FieldsView for MonitorRow {
    fn fields(&self) -> Vec<(&'static str, String)> {
        vec![
            ("id", self.id.to_string()),
            ("name", self.name.clone()),
            ("type", self.monitor_type.to_string()),
            (
                "target",
                self.target_id.map(|t| t.to_string()).unwrap_or_else(|| "-".into()),
            ),
            ("domain", opt(&self.domain)),
            ("port", self.port.map(|p| p.to_string()).unwrap_or_else(|| "-".into())),
            ("interval", format!("{}s", self.check_interval)),
            ("active", self.is_active.to_string()),
            ("status", format!("{} {}", self.status, opt(&self.status_message))),
            ("last check", when(self.last_check_at)),
            ("next check", when(self.next_check_at)),
        ]
    }
}

/// `monitor check` as text: the verdict, then one line per alert it raised.
pub fn check_text(id: i64, o: &CheckOutcome) -> String {
    let mut out = format!("monitor {id}: {} — {}\n", o.status.as_str(), o.message);
    for line in &o.alerts {
        out.push_str(&format!("  {line}\n"));
    }
    out
}

impl TableView for AlertRow {
    const HEADERS: &'static [&'static str] = &["ID", "NAME", "TYPE", "CONDITION", "SEVERITY", "MONITOR", "ACTIVE"];
    fn cells(&self) -> Vec<String> {
        vec![
            self.id.to_string(),
            self.name.clone(),
            self.alert_type.to_string(),
            format!("{} {}", self.condition_type, self.condition_value),
            self.severity.to_string(),
            self.monitor_id.map(|m| m.to_string()).unwrap_or_else(|| "all".into()),
            self.is_active.to_string(),
        ]
    }
}

/// `alert show`: a rule and the channels it notifies.
pub struct AlertDetail {
    /// The rule.
    pub alert: AlertRow,
    /// Its channel bindings.
    pub bindings: Vec<BindingRow>,
}

impl serde::Serialize for AlertDetail {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serde_json::json!({"alert": self.alert, "bindings": self.bindings}).serialize(s)
    }
}

impl FieldsView for AlertDetail {
    fn fields(&self) -> Vec<(&'static str, String)> {
        let r = &self.alert;
        vec![
            ("id", r.id.to_string()),
            ("name", r.name.clone()),
            ("type", r.alert_type.to_string()),
            ("condition", format!("{} {}", r.condition_type, r.condition_value)),
            ("severity", r.severity.to_string()),
            (
                "monitor",
                r.monitor_id.map(|m| m.to_string()).unwrap_or_else(|| "all".into()),
            ),
            ("active", r.is_active.to_string()),
            (
                "channels",
                self.bindings
                    .iter()
                    .map(|x| x.channel_id.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
        ]
    }
}

impl TableView for HistoryRow {
    const HEADERS: &'static [&'static str] = &["ID", "ALERT", "MONITOR", "SEVERITY", "WHEN", "RESOLVED", "MESSAGE"];
    fn cells(&self) -> Vec<String> {
        vec![
            self.id.to_string(),
            self.alert_id.to_string(),
            self.monitor_id.to_string(),
            self.severity.to_string(),
            when(Some(self.created_at)),
            if self.is_resolved {
                when(self.resolved_at)
            } else {
                "open".into()
            },
            self.message.clone(),
        ]
    }
}

impl TableView for ChannelView {
    const HEADERS: &'static [&'static str] = &["ID", "NAME", "TYPE", "ACTIVE", "SECRETS"];
    fn cells(&self) -> Vec<String> {
        vec![
            self.id.to_string(),
            self.name.clone(),
            self.channel_type.to_string(),
            self.is_active.to_string(),
            match &self.secrets_error {
                Some(_) => "(unreadable: see channel show)".to_string(),
                None => self.secret_fields.join(", "),
            },
        ]
    }
}

impl FieldsView for ChannelView {
    fn fields(&self) -> Vec<(&'static str, String)> {
        let mut f = vec![
            ("id", self.id.to_string()),
            ("name", self.name.clone()),
            ("type", self.channel_type.to_string()),
            ("active", self.is_active.to_string()),
            ("settings", self.settings.to_string()),
            ("secret fields", self.secret_fields.join(", ")),
        ];
        if let Some(e) = &self.secrets_error {
            f.push(("secrets error", e.clone()));
        }
        if let Some(sec) = &self.secrets {
            f.push(("secrets", sec.to_string()));
        }
        f
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::t0;
    use super::*;
    use crate::domain::{AlertType, ChannelType, ConditionType, MonitorStatus, MonitorType, Severity};

    fn monitor() -> MonitorRow {
        MonitorRow {
            id: 3,
            user_id: 1,
            name: "site".into(),
            monitor_type: MonitorType::Domain,
            target_id: None,
            domain: Some("example.com".into()),
            port: Some(443),
            check_interval: 3600,
            is_active: true,
            last_check_at: None,
            next_check_at: Some(t0()),
            status: MonitorStatus::Ok,
            status_message: None,
            created_at: t0(),
            updated_at: t0(),
            connect_address: None,
            trust_bundle_pem: None,
            consecutive_failures: 0,
            last_result: None,
        }
    }

    #[test]
    fn monitor_views() {
        assert_eq!(
            super::super::table(&[monitor()]).render(),
            "ID  NAME  TYPE    TARGET       PORT  EVERY  ACTIVE  STATUS  NEXT CHECK\n\
             3   site  domain  example.com  443   3600s  true    ok      2026-01-02 03:04\n"
        );
        let f = monitor().fields();
        assert!(f.contains(&("status", "ok -".to_string())), "{f:?}");
        let o = CheckOutcome {
            monitor_id: 3,
            status: MonitorStatus::Warning,
            message: "expires in 5 days".into(),
            alerts: vec!["fired rule 2".into()],
        };
        assert_eq!(
            check_text(3, &o),
            "monitor 3: warning — expires in 5 days\n  fired rule 2\n"
        );
    }

    #[test]
    fn alert_and_channel_views() {
        let a = AlertRow {
            id: 2,
            user_id: 1,
            name: "soon".into(),
            alert_type: AlertType::CertificateExpiry,
            monitor_id: None,
            condition_type: ConditionType::DaysBefore,
            condition_value: "7".into(),
            severity: Severity::Warning,
            is_active: true,
            created_at: t0(),
            updated_at: t0(),
        };
        assert_eq!(
            super::super::table(std::slice::from_ref(&a)).render(),
            "ID  NAME  TYPE                CONDITION      SEVERITY  MONITOR  ACTIVE\n\
             2   soon  certificate_expiry  days_before 7  warning   all      true\n"
        );
        let d = AlertDetail {
            alert: a,
            bindings: vec![],
        };
        assert_eq!(serde_json::to_value(&d).unwrap()["alert"]["name"], "soon");
        let c = ChannelView {
            id: 1,
            user_id: 1,
            name: "hook".into(),
            channel_type: ChannelType::Webhook,
            is_active: true,
            settings: serde_json::json!({"url": "https://x"}),
            secret_fields: vec!["secret".into()],
            secrets: None,
            secrets_error: None,
            created_at: t0(),
        };
        assert_eq!(
            super::super::table(std::slice::from_ref(&c)).render(),
            "ID  NAME  TYPE     ACTIVE  SECRETS\n1   hook  webhook  true    secret\n"
        );
        let v = serde_json::to_value(&c).unwrap();
        assert!(v["secrets"].is_null(), "no secret values unless revealed: {v}");
    }
}
