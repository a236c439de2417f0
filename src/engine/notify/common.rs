//! What every notification channel works with: the message ([`Notification`], its severity and
//! status), how a delivery went ([`DeliveryOutcome`], [`DeliveryError`]), and the helpers the
//! channels share (escaping, truncation, redaction, URL checks, the bounded HTTP send). The
//! channel modules and the dispatch in `mod.rs` build on this module; it imports none of them.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::Serialize;

/// How bad it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
    Critical,
}

impl Severity {
    /// `info`, `warning`, `error`, `critical`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether the alert starts (or repeats) or is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertStatus {
    Firing,
    Resolved,
}

impl AlertStatus {
    /// `firing`, `resolved`.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::Firing => "firing",
            AlertStatus::Resolved => "resolved",
        }
    }
}

/// One thing to tell people about. Every channel renders it in its own format.
#[derive(Debug, Clone)]
pub struct Notification {
    /// Short title, e.g. "Certificate expires soon".
    pub title: String,
    pub severity: Severity,
    pub status: AlertStatus,
    /// The certificate's name in certdeck.
    pub certificate: Option<String>,
    /// The server / endpoint (`host:port`) the alert is about.
    pub host: Option<String>,
    /// The domain (a certificate's main name).
    pub domain: Option<String>,
    /// Days until the certificate expires (negative: expired that many days ago).
    pub days_left: Option<i64>,
    /// What the operator should do, in a sentence or two.
    pub what_to_do: String,
    /// More facts, shown as a list (`issuer: …`, `serial: …`).
    pub details: Vec<(String, String)>,
    pub occurred_at: DateTime<Utc>,
    pub alert_id: Option<i64>,
    pub history_id: Option<i64>,
    /// The monitor (check) that raised it.
    pub monitor: Option<String>,
    /// A link to more (console URL, runbook).
    pub link: Option<String>,
}

impl Notification {
    /// What the alert is about: the domain, else the certificate, else the host.
    pub fn target(&self) -> Option<&str> {
        self.domain
            .as_deref()
            .or(self.certificate.as_deref())
            .or(self.host.as_deref())
            .filter(|s| !s.is_empty())
    }

    /// "example.com expires in 3 days" (with days left and a target), else the title.
    pub fn headline(&self) -> String {
        match (self.target(), self.days_left) {
            (Some(t), Some(d)) if d > 1 => format!("{t} expires in {d} days"),
            (Some(t), Some(1)) => format!("{t} expires in 1 day"),
            (Some(t), Some(0)) => format!("{t} expires today"),
            (Some(t), Some(-1)) => format!("{t} expired 1 day ago"),
            (Some(t), Some(d)) => format!("{t} expired {} days ago", -d),
            (Some(t), None) if !self.title.contains(t) => format!("{}: {t}", self.title),
            _ => self.title.clone(),
        }
    }

    /// `[certdeck] ERROR example.com expires in 3 days` / `[certdeck] RESOLVED example.com …`.
    pub fn subject(&self) -> String {
        let tag = match self.status {
            AlertStatus::Resolved => "RESOLVED".to_string(),
            AlertStatus::Firing => self.severity.as_str().to_uppercase(),
        };
        one_line(&format!("[certdeck] {tag} {}", self.headline()))
    }

    /// The facts as (label, value) rows, in display order (details last).
    pub fn facts(&self) -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = Vec::new();
        let mut push = |k: &str, val: Option<String>| {
            if let Some(val) = val.filter(|s| !s.is_empty()) {
                v.push((k.to_string(), val));
            }
        };
        push("Status", Some(self.status.as_str().to_string()));
        push("Severity", Some(self.severity.as_str().to_string()));
        push("Certificate", self.certificate.clone());
        push("Domain", self.domain.clone());
        push("Host", self.host.clone());
        push("Days left", self.days_left.map(|d| d.to_string()));
        push("Monitor", self.monitor.clone());
        push(
            "Occurred at",
            Some(self.occurred_at.format("%Y-%m-%d %H:%M:%S UTC").to_string()),
        );
        push("Alert", self.alert_id.map(|i| format!("#{i}")));
        push("History", self.history_id.map(|i| format!("#{i}")));
        v.extend(self.details.iter().cloned());
        v
    }

    /// The readable plain-text body (e-mail text part, SMS gateways, generic `message`).
    pub fn text_body(&self) -> String {
        let mut s = format!("{}\n\n", self.headline());
        if !self.what_to_do.is_empty() {
            s.push_str(&format!("What to do: {}\n\n", self.what_to_do));
        }
        let width = self.facts().iter().map(|(k, _)| k.chars().count()).max().unwrap_or(0);
        for (k, v) in self.facts() {
            s.push_str(&format!("{:width$}  {v}\n", format!("{k}:"), width = width + 1));
        }
        if let Some(l) = &self.link {
            s.push_str(&format!("\n{l}\n"));
        }
        s.push_str("\n-- \ncertdeck\n");
        s
    }

    /// Markdown (WeCom, DingTalk, ServerChan): a heading, what to do, the facts as a list.
    pub fn markdown(&self) -> String {
        let mut s = format!("### {}\n\n", md_escape(&self.subject()));
        if !self.what_to_do.is_empty() {
            s.push_str(&format!("**What to do:** {}\n\n", md_escape(&self.what_to_do)));
        }
        for (k, v) in self.facts() {
            s.push_str(&format!("- **{}:** {}\n", md_escape(&k), md_escape(&v)));
        }
        if let Some(l) = &self.link {
            s.push_str(&format!("\n[Open in certdeck]({l})\n"));
        }
        s
    }

    /// One short line for SMS: subject, then what to do; at most `max` characters.
    pub fn short_text(&self, max: usize) -> String {
        let mut s = self.subject();
        if !self.what_to_do.is_empty() {
            s.push_str(". ");
            s.push_str(&one_line(&self.what_to_do));
        }
        truncate_chars(&s, max)
    }
}

/// A delivery the far side accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryOutcome {
    /// HTTP status, or the SMTP reply code to the message.
    pub status_code: Option<u16>,
    /// The start of the answer (≤ 300 characters, secrets removed).
    pub response_excerpt: String,
}

/// A delivery that failed; `transient`: trying again later may work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryError {
    pub transient: bool,
    pub message: String,
}

impl DeliveryError {
    /// Bad configuration or a refusal that a retry does not fix.
    pub fn permanent(message: impl Into<String>) -> Self {
        DeliveryError {
            transient: false,
            message: message.into(),
        }
    }
    /// Network trouble, timeouts, 5xx, 429: a retry may work.
    pub fn transient(message: impl Into<String>) -> Self {
        DeliveryError {
            transient: true,
            message: message.into(),
        }
    }
}

impl fmt::Display for DeliveryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({})",
            self.message,
            if self.transient { "transient" } else { "permanent" }
        )
    }
}

impl std::error::Error for DeliveryError {}

/// Newlines and tabs become spaces (subjects, titles).
pub(crate) fn one_line(s: &str) -> String {
    s.split(['\r', '\n', '\t'])
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// At most `max` characters (an ellipsis marks a cut).
pub(crate) fn truncate_chars(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// At most `max` bytes, cut at a character boundary.
pub(crate) fn truncate_bytes(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max.saturating_sub('…'.len_utf8());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

pub(crate) fn md_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '_' | '`' | '[' | ']' | '<' | '>' | '#') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

pub(crate) fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Replaces every non-empty secret (and its percent-encoded form) in `s` by `<redacted>`.
pub(crate) fn redact(s: &str, secrets: &[&str]) -> String {
    let mut out = s.to_string();
    for sec in secrets.iter().filter(|x| x.len() >= 3) {
        out = out.replace(sec, "<redacted>");
        let enc = crate::engine::dnsapi::percent_encode(sec);
        if enc != *sec {
            out = out.replace(&enc, "<redacted>");
        }
    }
    out
}

/// `scheme://host[:port]` of a URL, for messages (paths and queries may hold keys).
pub(crate) fn url_origin(u: &str) -> String {
    match url::Url::parse(u) {
        Ok(p) => match (p.host_str(), p.port()) {
            (Some(h), Some(port)) => format!("{}://{h}:{port}", p.scheme()),
            (Some(h), None) => format!("{}://{h}", p.scheme()),
            _ => format!("{}:", p.scheme()),
        },
        Err(_) => "<invalid URL>".to_string(),
    }
}

/// Whether a URL's host is the loopback (127.0.0.0/8, ::1, localhost).
pub(crate) fn is_loopback(u: &url::Url) -> bool {
    match u.host() {
        Some(url::Host::Ipv4(a)) => a.is_loopback(),
        Some(url::Host::Ipv6(a)) => a.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// Parses `url`: http(s) only; `https_required` refuses http:// unless `allow_http` and the
/// host is the loopback.
pub(crate) fn check_url(
    what: &str,
    raw: &str,
    https_required: bool,
    allow_http: bool,
) -> Result<url::Url, DeliveryError> {
    if raw.trim().is_empty() {
        return Err(DeliveryError::permanent(format!("{what}: the URL is empty")));
    }
    let u = url::Url::parse(raw.trim()).map_err(|e| DeliveryError::permanent(format!("{what}: invalid URL ({e})")))?;
    match u.scheme() {
        "https" => {}
        "http" if !https_required => {}
        "http" if allow_http && is_loopback(&u) => {}
        "http" if allow_http => {
            return Err(DeliveryError::permanent(format!(
                "{what} requires https://: allow_http permits http:// only to a loopback host (127.0.0.1, ::1, localhost), not {}",
                url_origin(raw)
            )))
        }
        "http" => {
            return Err(DeliveryError::permanent(format!(
                "{what} requires an https:// URL (got {})",
                url_origin(raw)
            )))
        }
        s => return Err(DeliveryError::permanent(format!("{what}: unsupported URL scheme {s}:// (http/https only)"))),
    }
    if u.host_str().is_none_or(str::is_empty) {
        return Err(DeliveryError::permanent(format!("{what}: the URL has no host")));
    }
    Ok(u)
}

/// What a vendor said inside a 2xx answer: `Err((transient, message))` when it refused.
pub(crate) type BodyCheck = fn(&str) -> Result<(), (bool, String)>;

/// The parts of a request URL that may carry a key, to remove from what the far side says
/// back (a refusal that quotes the request line): every query value (as sent and decoded) and
/// every path segment of 8 characters or more.
pub(crate) fn url_secrets(u: &url::Url) -> Vec<String> {
    let raw_values = u
        .query()
        .unwrap_or_default()
        .split('&')
        .filter_map(|pair| pair.split_once('=').map(|(_, v)| v.to_string()));
    let decoded_values = u.query_pairs().map(|(_, v)| v.into_owned());
    let segments = u
        .path_segments()
        .into_iter()
        .flatten()
        .filter(|s| s.len() >= 8)
        .map(str::to_string);
    let mut out: Vec<String> = raw_values
        .chain(decoded_values)
        .chain(segments)
        .filter(|v| v.len() >= 3)
        .collect();
    // Longest first, so a value is removed whole before a part of it is.
    out.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
    out.dedup();
    out
}

/// Sends a request and classifies the answer: transport errors and timeouts, 429 and 5xx are
/// transient; other non-2xx permanent; a 2xx is then passed to `check` (vendors that answer
/// 200 with an error code). Messages and excerpts have `secrets` and the key-bearing parts of
/// the request URL ([`url_secrets`]) removed, and never hold the URL.
pub(crate) async fn send_http(
    what: &str,
    req: reqwest::RequestBuilder,
    secrets: &[&str],
    check: Option<BodyCheck>,
) -> Result<DeliveryOutcome, DeliveryError> {
    let (client, built) = req.build_split();
    let built = match built {
        Ok(r) => r,
        Err(e) => {
            return Err(DeliveryError::permanent(redact(
                &format!("{what}: bad request: {}", e.without_url()),
                secrets,
            )))
        }
    };
    let from_url = url_secrets(built.url());
    let all: Vec<&str> = secrets
        .iter()
        .copied()
        .chain(from_url.iter().map(String::as_str))
        .collect();
    let secrets = all.as_slice();
    let resp = match client.execute(built).await {
        Ok(r) => r,
        Err(e) => {
            let e = e.without_url();
            let kind = if e.is_timeout() {
                "timed out"
            } else if e.is_connect() {
                "could not connect"
            } else if e.is_builder() {
                return Err(DeliveryError::permanent(redact(
                    &format!("{what}: bad request: {e}"),
                    secrets,
                )));
            } else {
                "request failed"
            };
            let mut msg = format!("{what}: {kind}: {e}");
            let mut src = std::error::Error::source(&e);
            while let Some(s) = src {
                msg.push_str(&format!(": {s}"));
                src = s.source();
            }
            return Err(DeliveryError::transient(redact(&msg, secrets)));
        }
    };
    let status = resp.status();
    let body = resp.text().await.unwrap_or_default();
    let excerpt = redact(&truncate_chars(body.trim(), 300), secrets);
    let code = status.as_u16();
    if status.is_success() {
        if let Some(check) = check {
            if let Err((transient, m)) = check(&body) {
                let msg = redact(&format!("{what}: HTTP {code} but the service refused: {m}"), secrets);
                return Err(DeliveryError {
                    transient,
                    message: msg,
                });
            }
        }
        return Ok(DeliveryOutcome {
            status_code: Some(code),
            response_excerpt: excerpt,
        });
    }
    let msg = format!("{what}: HTTP {code}: {excerpt}");
    if code == 429 || status.is_server_error() {
        Err(DeliveryError::transient(msg))
    } else {
        Err(DeliveryError::permanent(msg))
    }
}
