//! Newtypes that parse at the edge: once a value has one of these types it is valid.

use std::fmt;
use std::net::IpAddr;

/// Why a value was refused.
pub type ParseError = String;

/// A DNS name for a certificate: IDN converted to punycode, lower case, optionally a wildcard
/// (`*.` as the whole leftmost label, followed by at least two labels).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, schemars::JsonSchema)]
#[serde(transparent)]
pub struct DomainName(String);

impl DomainName {
    /// Parses and normalises a domain name (Unicode names become punycode).
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        let trimmed = input.trim().trim_end_matches('.');
        if trimmed.is_empty() {
            return Err("a domain name is required".into());
        }
        let (wildcard, rest) = match trimmed.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, trimmed),
        };
        if rest.contains('*') {
            return Err(format!(
                "'{input}': a wildcard is allowed only as the whole leftmost label, as in *.example.com"
            ));
        }
        let ascii = idna::domain_to_ascii(rest)
            .map_err(|_| format!("'{input}' is not a valid internationalised domain name"))?;
        check_dns_labels(&ascii).map_err(|e| format!("'{input}': {e}"))?;
        let labels = ascii.split('.').count();
        if labels < 2 {
            return Err(format!("'{input}' needs at least two labels, as in example.com"));
        }
        let name = if wildcard { format!("*.{ascii}") } else { ascii };
        if name.len() > 253 {
            return Err(format!("'{input}' is longer than 253 characters"));
        }
        Ok(DomainName(name))
    }

    /// Whether this is a wildcard name.
    pub fn is_wildcard(&self) -> bool {
        self.0.starts_with("*.")
    }

    /// The normalised (ASCII) form.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DomainName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn check_dns_labels(ascii: &str) -> Result<(), String> {
    if ascii.len() > 253 {
        return Err("longer than 253 characters".into());
    }
    for label in ascii.split('.') {
        if label.is_empty() {
            return Err("has an empty label (two dots in a row?)".into());
        }
        if label.len() > 63 {
            return Err(format!("label '{label}' is longer than 63 characters"));
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(format!("label '{label}' may hold only letters, digits and '-'"));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(format!("label '{label}' may not start or end with '-'"));
        }
    }
    Ok(())
}

/// A host to connect to: an IP address or a DNS hostname (IDN converted to punycode).
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, schemars::JsonSchema)]
#[serde(transparent)]
pub struct Hostname(String);

impl Hostname {
    /// Parses an IP address or a hostname (a single label such as `localhost` is allowed).
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        let t = input.trim();
        if t.is_empty() {
            return Err("a hostname or IP address is required".into());
        }
        let unbracketed = t.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = unbracketed.parse::<IpAddr>() {
            return Ok(Hostname(ip.to_string()));
        }
        let ascii = idna::domain_to_ascii(t.trim_end_matches('.'))
            .map_err(|_| format!("'{input}' is neither an IP address nor a valid hostname"))?;
        if ascii.is_empty() {
            return Err(format!("'{input}' is neither an IP address nor a valid hostname"));
        }
        check_dns_labels(&ascii).map_err(|e| format!("'{input}': {e}"))?;
        Ok(Hostname(ascii))
    }

    /// The normalised form.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Hostname {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A TCP port, 1–65535.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, schemars::JsonSchema)]
#[serde(transparent)]
pub struct Port(u16);

impl Port {
    /// Checks the range 1–65535.
    pub fn new(value: i64) -> Result<Self, ParseError> {
        if (1..=65535).contains(&value) {
            Ok(Port(value as u16))
        } else {
            Err(format!("port {value} is out of range (1-65535)"))
        }
    }

    /// The port number.
    pub fn get(self) -> u16 {
        self.0
    }
}

/// An e-mail address (`local@domain`, domain checked like a DNS name, IDN to punycode).
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, schemars::JsonSchema)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    /// Parses an e-mail address.
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        let t = input.trim();
        let (local, domain) = t
            .rsplit_once('@')
            .ok_or_else(|| format!("'{input}' is not an e-mail address (no '@')"))?;
        if local.is_empty() || local.len() > 64 || local.chars().any(|c| c.is_whitespace() || c == '@') {
            return Err(format!("'{input}' has an invalid part before '@'"));
        }
        let domain_ascii = idna::domain_to_ascii(domain).map_err(|_| format!("'{input}' has an invalid domain"))?;
        check_dns_labels(&domain_ascii).map_err(|e| format!("'{input}': domain {e}"))?;
        let email = format!("{local}@{domain_ascii}");
        if email.len() > 100 {
            return Err(format!("'{input}' is longer than 100 characters"));
        }
        Ok(Email(email))
    }

    /// The normalised form.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An absolute `http` or `https` URL.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
#[serde(transparent)]
pub struct HttpUrl(String);

impl HttpUrl {
    /// Parses an absolute http(s) URL with a host.
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        let url = url::Url::parse(input.trim()).map_err(|e| format!("'{input}' is not a URL: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("'{input}': only http and https URLs are accepted"));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(format!("'{input}' has no host"));
        }
        Ok(HttpUrl(url.to_string()))
    }

    /// The URL text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A cron expression of 5 fields (minute first) or 6 fields (seconds first).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
#[serde(transparent)]
pub struct CronExpr(String);

/// An IANA timezone name, e.g. `Europe/Berlin` (the `system.timezone` setting).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeZoneName(chrono_tz::Tz);

impl TimeZoneName {
    /// Parses an IANA name (`UTC`, `Europe/Berlin`, `America/New_York`).
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        input
            .trim()
            .parse::<chrono_tz::Tz>()
            .map(TimeZoneName)
            .map_err(|_| format!("'{input}' is not an IANA timezone name (e.g. UTC, Europe/Berlin)"))
    }

    /// UTC.
    pub fn utc() -> Self {
        TimeZoneName(chrono_tz::UTC)
    }

    /// The name.
    pub fn name(&self) -> &'static str {
        self.0.name()
    }
}

impl CronExpr {
    /// Parses a 5- or 6-field cron expression.
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        let t = input.split_whitespace().collect::<Vec<_>>().join(" ");
        let fields = t.split(' ').filter(|f| !f.is_empty()).count();
        if !(5..=6).contains(&fields) {
            return Err(format!(
                "'{input}' has {fields} fields; use 5 (min hour dom month dow) or 6 (sec min hour dom month dow)"
            ));
        }
        Self::schedule_of(&t).map_err(|e| format!("'{input}': {e}"))?;
        Ok(CronExpr(t))
    }

    fn schedule_of(text: &str) -> Result<croner::Cron, croner::errors::CronError> {
        croner::parser::CronParser::builder()
            .seconds(croner::parser::Seconds::Optional)
            .year(croner::parser::Year::Disallowed)
            .build()
            .parse(text)
    }

    /// The next time this expression fires strictly after `after`, read in UTC.
    pub fn next_after(&self, after: chrono::DateTime<chrono::Utc>) -> Option<chrono::DateTime<chrono::Utc>> {
        self.next_after_in(after, &TimeZoneName::utc())
    }

    /// The next time this expression fires strictly after `after`, with its fields read as wall
    /// clock time in `tz` (so `0 3 * * *` is 03:00 local, across DST changes; a time skipped
    /// by a spring-forward gap fires at the next valid time).
    pub fn next_after_in(
        &self,
        after: chrono::DateTime<chrono::Utc>,
        tz: &TimeZoneName,
    ) -> Option<chrono::DateTime<chrono::Utc>> {
        Self::schedule_of(&self.0)
            .ok()?
            .find_next_occurrence(&after.with_timezone(&tz.0), false)
            .ok()
            .map(|t| t.with_timezone(&chrono::Utc))
    }

    /// The expression text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A login name: 3–50 characters of letters, digits, `.`, `_` and `-`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, schemars::JsonSchema)]
#[serde(transparent)]
pub struct Username(String);

impl Username {
    /// Parses a username.
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        let t = input.trim();
        if t.len() < 3 || t.len() > 50 {
            return Err(format!("'{input}' must be 3 to 50 characters long"));
        }
        if !t
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        {
            return Err(format!("'{input}' may hold only letters, digits, '.', '_' and '-'"));
        }
        Ok(Username(t.to_string()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Checks a free-text value against a column's character limit.
pub fn check_len(field: &str, value: &str, max: usize) -> Result<(), crate::errors::ServiceError> {
    if value.chars().count() > max {
        return Err(crate::errors::ServiceError::invalid(
            field,
            format!("is longer than {max} characters"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn domain_names_normalise_idn_and_check_wildcards() {
        assert_eq!(DomainName::parse("Example.COM.").unwrap().as_str(), "example.com");
        assert_eq!(
            DomainName::parse("bücher.example").unwrap().as_str(),
            "xn--bcher-kva.example"
        );
        assert!(DomainName::parse("*.example.com").unwrap().is_wildcard());
        assert!(DomainName::parse("a.*.example.com").is_err());
        assert!(DomainName::parse("*.com").is_err());
        assert!(DomainName::parse("localhost").is_err());
        assert!(DomainName::parse("-bad.example.com").is_err());
        assert!(DomainName::parse("exa mple.com").is_err());
        assert!(DomainName::parse(&format!("{}.com", "a".repeat(64))).is_err());
    }

    #[test]
    fn ports_hosts_emails_urls_crons() {
        assert!(Port::new(0).is_err());
        assert!(Port::new(65536).is_err());
        assert_eq!(Port::new(22).unwrap().get(), 22);
        assert_eq!(Hostname::parse("[::1]").unwrap().as_str(), "::1");
        assert_eq!(Hostname::parse("web-1").unwrap().as_str(), "web-1");
        assert!(Hostname::parse("bad host").is_err());
        assert_eq!(Email::parse("Ops@Example.com").unwrap().as_str(), "Ops@example.com");
        assert!(Email::parse("nobody").is_err());
        assert!(HttpUrl::parse("ftp://x.example").is_err());
        assert!(HttpUrl::parse("https://acme.example/directory").is_ok());
        assert!(CronExpr::parse("0 3 * * *").is_ok());
        assert!(CronExpr::parse("0 0 3 * * *").is_ok());
        assert!(CronExpr::parse("* * *").is_err());
        assert!(CronExpr::parse("0 0 3 * * * 2030").is_err());
        assert!(CronExpr::parse("61 * * * *").is_err());
        let c = CronExpr::parse("0 0 3 * * *").unwrap();
        let t = chrono::DateTime::parse_from_rfc3339("2026-01-01T04:00:00Z")
            .unwrap()
            .to_utc();
        assert_eq!(c.next_after(t).unwrap().to_rfc3339(), "2026-01-02T03:00:00+00:00");
    }

    proptest! {
        #[test]
        fn parsers_never_panic(s in ".{0,300}") {
            let _ = DomainName::parse(&s);
            let _ = Hostname::parse(&s);
            let _ = Email::parse(&s);
            let _ = HttpUrl::parse(&s);
            let _ = CronExpr::parse(&s);
        }

        #[test]
        fn parsed_domains_reparse_to_themselves(s in "[a-z0-9]{1,20}(\\.[a-z0-9]{1,20}){1,3}") {
            let d = DomainName::parse(&s).unwrap();
            prop_assert_eq!(DomainName::parse(d.as_str()).unwrap(), d);
        }
    }

    #[test]
    fn cron_fields_are_wall_clock_time_in_the_timezone_across_dst() {
        use chrono::TimeZone;
        let berlin = TimeZoneName::parse("Europe/Berlin").unwrap();
        assert!(TimeZoneName::parse("Mars/Olympus").is_err());
        let at3 = CronExpr::parse("0 3 * * *").unwrap();
        let utc = |y, m, d, h, min| chrono::Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap();
        // Winter (UTC+1): 03:00 local is 02:00 UTC. Summer (UTC+2, from 29 March 2026): 01:00 UTC.
        assert_eq!(
            at3.next_after_in(utc(2026, 3, 27, 12, 0), &berlin),
            Some(utc(2026, 3, 28, 2, 0))
        );
        assert_eq!(
            at3.next_after_in(utc(2026, 3, 28, 12, 0), &berlin),
            Some(utc(2026, 3, 29, 1, 0))
        );
        // Back to winter on 25 October 2026.
        assert_eq!(
            at3.next_after_in(utc(2026, 10, 24, 12, 0), &berlin),
            Some(utc(2026, 10, 25, 2, 0))
        );
        // 02:30 does not exist on 29 March (02:00 jumps to 03:00): it does not fire twice or at a
        // wrong day's time; the next run is after the gap, on that day.
        let at230 = CronExpr::parse("30 2 * * *").unwrap();
        let next = at230.next_after_in(utc(2026, 3, 28, 12, 0), &berlin).unwrap();
        assert!(next > utc(2026, 3, 29, 0, 0) && next < utc(2026, 3, 30, 0, 0), "{next}");
        // UTC reads the fields as UTC.
        assert_eq!(at3.next_after(utc(2026, 3, 28, 12, 0)), Some(utc(2026, 3, 29, 3, 0)));
    }
}
