//! The service's list vocabulary: filters, pages, and one parser for filter terms shared by every
//! face (the console's filter line, the CLI's flags and, next, the HTTP API's query string).
//!
//! The filter structs are defined next to the SQL that honours them (`store/`) and re-exported
//! here as the service's own: a face names `service::query::CertFilter`, never `store::…`. Faces
//! build them from [`Terms`] through [`ListFilter::from_terms`], so that a term means the same in
//! every face (a domain or hostname is matched lower-cased, a day count may end in `d`, a date is
//! RFC 3339 or `YYYY-MM-DD`).

use std::str::FromStr;

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};

use crate::errors::{ServiceError, ServiceResult};

pub use crate::store::audit::AuditFilter;
pub use crate::store::certificates::{CertFilter, CertOrder};
pub use crate::store::changes::{ChangeMark, Watched};
pub use crate::store::monitoring::MonitorFilter;
pub use crate::store::servers::ServerFilter;
pub use crate::store::tasks::TaskFilter;
pub use crate::store::users::UserFilter;
pub use crate::store::Page;

/// A parsed filter: `key:value` terms (answered by the database) and free text (kept by the face
/// as a substring match over what it shows; `!text` drops matching rows instead).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Terms {
    pairs: Vec<(String, String)>,
    text: Option<(String, bool)>,
}

impl FromStr for Terms {
    type Err = std::convert::Infallible;

    /// Parses a filter line: `status:issued type:wildcard example` or `!example`. Keys are
    /// lower-cased; a word with no key (or starting with `!`) is free text.
    fn from_str(line: &str) -> Result<Terms, Self::Err> {
        let mut t = Terms::default();
        let mut words = Vec::new();
        for w in line.split_whitespace() {
            match w.split_once(':') {
                Some((k, v)) if !k.is_empty() && !k.starts_with('!') => {
                    t.pairs.push((k.to_ascii_lowercase(), v.to_string()));
                }
                _ => words.push(w),
            }
        }
        let text = words.join(" ");
        if let Some(rest) = text.strip_prefix('!') {
            if !rest.is_empty() {
                t.text = Some((rest.to_lowercase(), true));
            }
        } else if !text.is_empty() {
            t.text = Some((text.to_lowercase(), false));
        }
        Ok(t)
    }
}

impl Terms {
    /// Adds `key:value` when `value` is given (how the CLI turns its flags into terms).
    pub fn with(mut self, key: &str, value: Option<impl ToString>) -> Terms {
        if let Some(v) = value {
            self.pairs.push((key.to_ascii_lowercase(), v.to_string()));
        }
        self
    }

    /// These terms without any `key:` term.
    pub fn without(mut self, key: &str) -> Terms {
        self.pairs.retain(|(k, _)| k != key);
        self
    }

    /// The `key:value` terms in the order given.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    /// The free text, lower-cased, and whether it is inverted (`!text`).
    pub fn text(&self) -> Option<(&str, bool)> {
        self.text.as_ref().map(|(t, inv)| (t.as_str(), *inv))
    }

    /// The raw value of term `key` (the last one given wins).
    pub fn raw(&self, key: &str) -> Option<&str> {
        self.pairs.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// The first key not in `known`, if any.
    pub fn unknown_key(&self, known: &[&str]) -> Option<&str> {
        self.pairs.iter().map(|(k, _)| k.as_str()).find(|k| !known.contains(k))
    }

    /// Refuses keys outside `known` with a message that lists the known ones.
    pub fn check_keys(&self, known: &[&str]) -> ServiceResult<()> {
        match self.unknown_key(known) {
            None => Ok(()),
            Some(k) if known.is_empty() => Err(ServiceError::invalid(
                "filter",
                format!("unknown term '{k}:': this list takes no filter terms"),
            )),
            Some(k) => Err(ServiceError::invalid(
                "filter",
                format!("unknown term '{k}:' (known: {})", known.join(", ")),
            )),
        }
    }

    /// Term `key` parsed as `T` (None when absent).
    pub fn get<T: FromStr>(&self, key: &str) -> ServiceResult<Option<T>>
    where
        T::Err: std::fmt::Display,
    {
        self.raw(key)
            .map(|v| v.parse::<T>().map_err(|e| ServiceError::invalid(key, e.to_string())))
            .transpose()
    }

    /// Term `key` as a yes/no value (`yes|true|1|on`, `no|false|0|off`).
    pub fn yes(&self, key: &str) -> ServiceResult<Option<bool>> {
        self.raw(key).map(|v| yes_no(key, v)).transpose()
    }

    /// Term `key` as a name matched lower-cased (domains, hostnames).
    pub fn name(&self, key: &str) -> Option<String> {
        self.raw(key).map(|v| v.trim().to_ascii_lowercase())
    }

    /// Term `key` as a day count (`30` or `30d`).
    pub fn days(&self, key: &str) -> ServiceResult<Option<i64>> {
        self.raw(key)
            .map(|v| {
                v.trim_end_matches('d')
                    .parse::<i64>()
                    .map_err(|e| ServiceError::invalid(key, e.to_string()))
            })
            .transpose()
    }

    /// Term `key` as a time: RFC 3339 or `YYYY-MM-DD` (midnight UTC).
    pub fn time(&self, key: &str) -> ServiceResult<Option<DateTime<Utc>>> {
        self.raw(key).map(|v| parse_time(key, v)).transpose()
    }
}

fn yes_no(key: &str, v: &str) -> ServiceResult<bool> {
    match v.to_ascii_lowercase().as_str() {
        "yes" | "true" | "1" | "on" => Ok(true),
        "no" | "false" | "0" | "off" => Ok(false),
        _ => Err(ServiceError::invalid(key, format!("'{v}' is not yes or no"))),
    }
}

/// Parses a time given as RFC 3339 or `YYYY-MM-DD` (midnight UTC); `field` names it in the error.
pub fn parse_time(field: &str, v: &str) -> ServiceResult<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(v) {
        return Ok(t.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(v, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| Utc.from_utc_datetime(&t))
        .ok_or_else(|| ServiceError::invalid(field, format!("'{v}' is not a time (use RFC 3339 or YYYY-MM-DD)")))
}

/// A list filter built from [`Terms`]: the keys it understands and how each is read.
pub trait ListFilter: Sized {
    /// The term keys, in the order a face offers them.
    const KEYS: &'static [&'static str];

    /// Builds the filter; an unknown key or a bad value is a validation error naming the term.
    /// `now` anchors relative terms such as `expires_within`.
    fn from_terms(terms: &Terms, now: DateTime<Utc>) -> ServiceResult<Self>;
}

impl ListFilter for CertFilter {
    const KEYS: &'static [&'static str] = &["status", "type", "domain", "expires_within"];

    fn from_terms(t: &Terms, now: DateTime<Utc>) -> ServiceResult<Self> {
        t.check_keys(Self::KEYS)?;
        Ok(CertFilter {
            status: t.get("status")?,
            certificate_type: t.get("type")?,
            main_domain: t.name("domain"),
            expires_to: t.days("expires_within")?.map(|d| now + Duration::days(d)),
            ..Default::default()
        })
    }
}

impl ListFilter for ServerFilter {
    const KEYS: &'static [&'static str] = &["status", "type", "hostname", "group"];

    fn from_terms(t: &Terms, _now: DateTime<Utc>) -> ServiceResult<Self> {
        t.check_keys(Self::KEYS)?;
        Ok(ServerFilter {
            user_id: None,
            status: t.get("status")?,
            server_type: t.get("type")?,
            hostname: t.name("hostname"),
            group_id: t.get("group")?,
        })
    }
}

impl ListFilter for MonitorFilter {
    const KEYS: &'static [&'static str] = &["status", "type", "active"];

    fn from_terms(t: &Terms, _now: DateTime<Utc>) -> ServiceResult<Self> {
        t.check_keys(Self::KEYS)?;
        Ok(MonitorFilter {
            user_id: None,
            status: t.get("status")?,
            monitor_type: t.get("type")?,
            is_active: t.yes("active")?,
        })
    }
}

impl ListFilter for TaskFilter {
    const KEYS: &'static [&'static str] = &["status", "type"];

    fn from_terms(t: &Terms, _now: DateTime<Utc>) -> ServiceResult<Self> {
        t.check_keys(Self::KEYS)?;
        Ok(TaskFilter {
            visible_to: None,
            status: t.get("status")?,
            task_type: t.get("type")?,
        })
    }
}

impl ListFilter for UserFilter {
    const KEYS: &'static [&'static str] = &["status", "role"];

    fn from_terms(t: &Terms, _now: DateTime<Utc>) -> ServiceResult<Self> {
        t.check_keys(Self::KEYS)?;
        Ok(UserFilter {
            status: t.get("status")?,
            role: t.get("role")?,
        })
    }
}

impl ListFilter for AuditFilter {
    const KEYS: &'static [&'static str] = &["user", "action", "resource", "id", "since", "until"];

    /// `user:` must be an id here; [`crate::service::Services::audit_filter`] also takes a name.
    fn from_terms(t: &Terms, _now: DateTime<Utc>) -> ServiceResult<Self> {
        t.check_keys(Self::KEYS)?;
        Ok(AuditFilter {
            user_id: t.get("user")?,
            action: t.raw("action").map(str::to_string),
            resource_type: t.raw("resource").map(str::to_string),
            resource_id: t.get("id")?,
            since: t.time("since")?,
            until: t.time("until")?,
        })
    }
}

/// The keys of the alert-rule list (`type:` a rule type).
pub const ALERT_KEYS: &[&str] = &["type"];
/// The keys of the alert-history (fired alerts) list (`open:yes` for unresolved only,
/// `open:no` for resolved only).
pub const HISTORY_KEYS: &[&str] = &["open"];

/// The filter of the alert-rule list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertFilter {
    /// Only rules of this type.
    pub alert_type: Option<crate::domain::AlertType>,
}

impl ListFilter for AlertFilter {
    const KEYS: &'static [&'static str] = ALERT_KEYS;

    fn from_terms(t: &Terms, _now: DateTime<Utc>) -> ServiceResult<Self> {
        t.check_keys(Self::KEYS)?;
        Ok(AlertFilter {
            alert_type: t.get("type")?,
        })
    }
}

/// The filter of the fired-alert (alert history) list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HistoryFilter {
    /// `Some(true)`: only open (unresolved) alerts; `Some(false)`: only resolved ones.
    pub open: Option<bool>,
}

impl ListFilter for HistoryFilter {
    const KEYS: &'static [&'static str] = HISTORY_KEYS;

    fn from_terms(t: &Terms, _now: DateTime<Utc>) -> ServiceResult<Self> {
        t.check_keys(Self::KEYS)?;
        Ok(HistoryFilter { open: t.yes("open")? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{CertificateStatus, CertificateType};

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
    }

    #[test]
    fn a_filter_line_splits_into_terms_and_text() {
        let t: Terms = "Status:issued  example Org".parse().unwrap();
        assert_eq!(t.pairs(), &[("status".to_string(), "issued".to_string())]);
        assert_eq!(t.text(), Some(("example org", false)));
        let t: Terms = "!staging".parse().unwrap();
        assert_eq!(t.text(), Some(("staging", true)));
        assert!(t.pairs().is_empty());
    }

    #[test]
    fn the_console_line_and_the_cli_flags_give_the_same_certificate_filter() {
        let line: Terms = "status:issued type:wildcard domain:Example.COM expires_within:30d"
            .parse()
            .unwrap();
        let flags = Terms::default()
            .with("status", Some("issued"))
            .with("type", Some("wildcard"))
            .with("domain", Some("Example.COM"))
            .with("expires_within", Some(30));
        for t in [line, flags] {
            let f = CertFilter::from_terms(&t, now()).unwrap();
            assert_eq!(f.status, Some(CertificateStatus::Issued));
            assert_eq!(f.certificate_type, Some(CertificateType::Wildcard));
            assert_eq!(f.main_domain.as_deref(), Some("example.com"));
            assert_eq!(f.expires_to, Some(now() + Duration::days(30)));
        }
    }

    #[test]
    fn unknown_keys_and_bad_values_name_the_term() {
        let e = CertFilter::from_terms(&"colour:red".parse().unwrap(), now()).unwrap_err();
        assert!(e.to_string().contains("unknown term 'colour:'"), "{e}");
        assert!(e.to_string().contains("expires_within"), "{e}");
        let e = CertFilter::from_terms(&"status:shiny".parse().unwrap(), now()).unwrap_err();
        assert!(e.to_string().starts_with("invalid status:"), "{e}");
        let e = MonitorFilter::from_terms(&"active:maybe".parse().unwrap(), now()).unwrap_err();
        assert!(e.to_string().contains("'maybe' is not yes or no"), "{e}");
        let e = AuditFilter::from_terms(&"since:yesterday".parse().unwrap(), now()).unwrap_err();
        assert!(e.to_string().contains("is not a time"), "{e}");
    }

    #[test]
    fn hostnames_match_lower_cased_and_dates_take_both_forms() {
        let f = ServerFilter::from_terms(&"hostname:Web1.Example.NET group:3".parse().unwrap(), now()).unwrap();
        assert_eq!(f.hostname.as_deref(), Some("web1.example.net"));
        assert_eq!(f.group_id, Some(3));
        let f =
            AuditFilter::from_terms(&"since:2026-02-01 until:2026-03-01T12:00:00Z".parse().unwrap(), now()).unwrap();
        assert_eq!(f.since, Some(Utc.with_ymd_and_hms(2026, 2, 1, 0, 0, 0).unwrap()));
        assert_eq!(f.until, Some(Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()));
    }
}
