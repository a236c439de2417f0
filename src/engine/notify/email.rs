//! E-mail over SMTP (lettre, rustls): a multipart/alternative message (plain text + HTML).

use std::fmt;
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::common::{html_escape, DeliveryError, DeliveryOutcome, Notification};

/// How the SMTP connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// No TLS at all (a relay on the loopback / a trusted network).
    Plain,
    /// Plain connect, then STARTTLS; refuses to go on without it.
    StartTls,
    /// TLS from the first byte (port 465).
    ImplicitTls,
}

/// An SMTP channel.
#[derive(Clone)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    /// With `password`: AUTH PLAIN or LOGIN, whichever the server offers.
    pub username: Option<String>,
    pub password: Option<String>,
    /// `alerts@example.com` or `certdeck <alerts@example.com>`.
    pub from: String,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    /// PEM certificate(s) to trust besides the public roots (a private CA).
    pub trust_pem: Option<String>,
    /// Connect / command timeout.
    pub timeout: Duration,
    /// Permit AUTH (username and password) over a connection without TLS to a host that is not
    /// the loopback (a relay on a trusted network). Default false: such a channel is refused.
    pub allow_plaintext_auth: bool,
}

impl fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("from", &self.from)
            .field("to", &self.to)
            .field("cc", &self.cc)
            .field("trust_pem", &self.trust_pem.as_ref().map(|_| "<pem>"))
            .field("timeout", &self.timeout)
            .field("allow_plaintext_auth", &self.allow_plaintext_auth)
            .finish()
    }
}

fn parse_address(what: &str, a: &str) -> Result<Address, DeliveryError> {
    a.trim()
        .parse::<Address>()
        .map_err(|e| DeliveryError::permanent(format!("invalid {what} address '{}': {e}", a.trim())))
}

impl SmtpSettings {
    /// An SMTP channel with a 30 s timeout, no authentication, no extra trust.
    pub fn new(host: &str, port: u16, security: SmtpSecurity, from: &str, to: &[&str]) -> Self {
        SmtpSettings {
            host: host.to_string(),
            port,
            security,
            username: None,
            password: None,
            from: from.to_string(),
            to: to.iter().map(|s| s.to_string()).collect(),
            cc: Vec::new(),
            trust_pem: None,
            timeout: Duration::from_secs(30),
            allow_plaintext_auth: false,
        }
    }

    /// Checks host, port, addresses, credentials and the trusted PEM.
    pub fn validate(&self) -> Result<(), DeliveryError> {
        self.mailboxes().map(|_| ())?;
        if self.host.trim().is_empty() {
            return Err(DeliveryError::permanent("SMTP: the host is empty"));
        }
        if self.port == 0 {
            return Err(DeliveryError::permanent("SMTP: the port is 0"));
        }
        match (self.username.as_deref(), self.password.as_deref()) {
            (Some(""), _) => return Err(DeliveryError::permanent("SMTP: the username is empty")),
            (Some(_), None) => return Err(DeliveryError::permanent("SMTP: a username but no password")),
            (None, Some(_)) => return Err(DeliveryError::permanent("SMTP: a password but no username")),
            _ => {}
        }
        if self.security == SmtpSecurity::Plain
            && self.username.is_some()
            && !self.allow_plaintext_auth
            && !is_loopback_host(&self.host)
        {
            return Err(DeliveryError::permanent(format!(
                "SMTP: refusing to send the password in clear text to {}: use security starttls or tls, \
                 or set allow_plaintext_auth on the channel if the network to that relay is trusted",
                self.host.trim()
            )));
        }
        self.certificates().map(|_| ())
    }

    fn mailboxes(&self) -> Result<(Mailbox, Vec<Address>, Vec<Address>), DeliveryError> {
        let from = self
            .from
            .trim()
            .parse::<Mailbox>()
            .map_err(|e| DeliveryError::permanent(format!("invalid From address '{}': {e}", self.from.trim())))?;
        if self.to.iter().all(|s| s.trim().is_empty()) {
            return Err(DeliveryError::permanent("no recipient: the To list is empty"));
        }
        let to = self
            .to
            .iter()
            .filter(|s| !s.trim().is_empty())
            .map(|a| parse_address("To", a))
            .collect::<Result<Vec<_>, _>>()?;
        let cc = self
            .cc
            .iter()
            .filter(|s| !s.trim().is_empty())
            .map(|a| parse_address("Cc", a))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((from, to, cc))
    }

    fn certificates(&self) -> Result<Vec<Certificate>, DeliveryError> {
        let Some(pem) = self.trust_pem.as_deref().filter(|p| !p.trim().is_empty()) else {
            return Ok(Vec::new());
        };
        const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
        let blocks: Vec<String> = pem.split(BEGIN).skip(1).map(|b| format!("{BEGIN}{b}")).collect();
        if blocks.is_empty() {
            return Err(DeliveryError::permanent(
                "SMTP: the trusted CA holds no PEM certificate",
            ));
        }
        blocks
            .iter()
            .map(|b| {
                Certificate::from_pem(b.as_bytes()).map_err(|e| {
                    DeliveryError::permanent(format!("SMTP: the trusted CA is not a valid PEM certificate: {e}"))
                })
            })
            .collect()
    }

    /// The message as it is sent: multipart/alternative, text first, HTML second.
    pub fn build_message(&self, n: &Notification) -> Result<Message, DeliveryError> {
        let (from, to, cc) = self.mailboxes()?;
        let mut b = Message::builder().from(from).subject(n.subject()).date_now();
        for a in to {
            b = b.to(Mailbox::new(None, a));
        }
        for a in cc {
            b = b.cc(Mailbox::new(None, a));
        }
        let body = MultiPart::alternative()
            .singlepart(
                SinglePart::builder()
                    .header(ContentType::TEXT_PLAIN)
                    .body(n.text_body()),
            )
            .singlepart(SinglePart::builder().header(ContentType::TEXT_HTML).body(html_body(n)));
        b.multipart(body)
            .map_err(|e| DeliveryError::permanent(format!("SMTP: cannot build the message: {e}")))
    }

    fn transport(&self) -> Result<AsyncSmtpTransport<Tokio1Executor>, DeliveryError> {
        let tls = || -> Result<TlsParameters, DeliveryError> {
            let mut p = TlsParameters::builder(self.host.trim().to_string());
            for c in self.certificates()? {
                p = p.add_root_certificate(c);
            }
            p.build_rustls()
                .map_err(|e| DeliveryError::permanent(format!("SMTP: TLS setup: {e}")))
        };
        let tls = match self.security {
            SmtpSecurity::Plain => Tls::None,
            SmtpSecurity::StartTls => Tls::Required(tls()?),
            SmtpSecurity::ImplicitTls => Tls::Wrapper(tls()?),
        };
        let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(self.host.trim())
            .port(self.port)
            .timeout(Some(self.timeout))
            .tls(tls);
        if let (Some(u), Some(p)) = (&self.username, &self.password) {
            b = b
                .credentials(Credentials::new(u.clone(), p.clone()))
                .authentication(vec![Mechanism::Plain, Mechanism::Login]);
        }
        Ok(b.build())
    }

    /// Sends the notification to every To and Cc address.
    pub async fn send(&self, n: &Notification) -> Result<DeliveryOutcome, DeliveryError> {
        self.validate()?;
        let msg = self.build_message(n)?;
        let t = self.transport()?;
        let secrets: Vec<&str> = self.password.as_deref().into_iter().collect();
        match t.send(msg).await {
            Ok(r) => Ok(DeliveryOutcome {
                status_code: r.code().to_string().parse().ok(),
                response_excerpt: super::common::truncate_chars(&r.message().collect::<Vec<_>>().join(" "), 300),
            }),
            Err(e) => {
                // 4xx replies, network trouble and timeouts may pass; 5xx replies (bad
                // recipient, authentication refused) and TLS failures (untrusted certificate,
                // no STARTTLS) and client errors (no AUTH mechanism in common) do not
                let transient = !(e.is_permanent() || e.is_tls() || e.is_client() || tls_failure(&e));
                let mut msg = format!("SMTP {}:{}: {e}", self.host.trim(), self.port);
                let mut src = std::error::Error::source(&e);
                while let Some(s) = src {
                    let t = s.to_string();
                    if !msg.contains(&t) {
                        msg.push_str(&format!(": {t}"));
                    }
                    src = s.source();
                }
                Err(DeliveryError {
                    transient,
                    message: super::common::redact(&msg, &secrets),
                })
            }
        }
    }
}

/// Whether `host` names the loopback: 127.0.0.0/8, ::1 or `localhost` (no name is resolved).
fn is_loopback_host(host: &str) -> bool {
    let h = host.trim().trim_start_matches('[').trim_end_matches(']');
    if h.eq_ignore_ascii_case("localhost") {
        return true;
    }
    match h.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(a)) => a.is_loopback(),
        Ok(std::net::IpAddr::V6(a)) => a.is_loopback() || a.to_ipv4_mapped().is_some_and(|v| v.is_loopback()),
        Err(_) => false,
    }
}

/// Whether a rustls error (a certificate the server shows that we do not trust, a handshake
/// failure) is somewhere in the error's chain: lettre reports those as connection errors.
fn tls_failure(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cur {
        if c.downcast_ref::<rustls::Error>().is_some() {
            return true;
        }
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            if io
                .get_ref()
                .is_some_and(|i| i.downcast_ref::<rustls::Error>().is_some())
            {
                return true;
            }
        }
        cur = c.source();
    }
    false
}

/// The HTML part: heading, what to do, a table of facts, the link.
fn html_body(n: &Notification) -> String {
    let color = match (n.status, n.severity) {
        (super::common::AlertStatus::Resolved, _) => "#2e7d32",
        (_, super::common::Severity::Info) => "#1565c0",
        (_, super::common::Severity::Warning) => "#ef6c00",
        _ => "#c62828",
    };
    let mut s = String::from("<!DOCTYPE html>\n<html><body style=\"font-family:sans-serif\">\n");
    s.push_str(&format!(
        "<h2 style=\"color:{color}\">{}</h2>\n",
        html_escape(&n.headline())
    ));
    if !n.what_to_do.is_empty() {
        s.push_str(&format!(
            "<p><strong>What to do:</strong> {}</p>\n",
            html_escape(&n.what_to_do)
        ));
    }
    s.push_str("<table cellpadding=\"4\">\n");
    for (k, v) in n.facts() {
        s.push_str(&format!(
            "<tr><th align=\"left\">{}</th><td>{}</td></tr>\n",
            html_escape(&k),
            html_escape(&v)
        ));
    }
    s.push_str("</table>\n");
    if let Some(l) = &n.link {
        s.push_str(&format!("<p><a href=\"{0}\">{0}</a></p>\n", html_escape(l)));
    }
    s.push_str("<p style=\"color:#777\">certdeck</p>\n</body></html>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> SmtpSettings {
        SmtpSettings::new(
            "127.0.0.1",
            25,
            SmtpSecurity::Plain,
            "certdeck <alerts@example.test>",
            &["ops@example.test"],
        )
    }

    #[test]
    fn address_errors_are_specific() {
        let mut s = settings();
        s.to = vec!["ops@example.test".into(), "not an address".into()];
        assert!(s
            .validate()
            .unwrap_err()
            .message
            .starts_with("invalid To address 'not an address'"));
        let mut s = settings();
        s.cc = vec!["x@".into()];
        assert!(s.validate().unwrap_err().message.starts_with("invalid Cc address 'x@'"));
        let mut s = settings();
        s.from = "nobody".into();
        assert!(s
            .validate()
            .unwrap_err()
            .message
            .starts_with("invalid From address 'nobody'"));
        let mut s = settings();
        s.to.clear();
        assert_eq!(s.validate().unwrap_err().message, "no recipient: the To list is empty");
        let mut s = settings();
        s.username = Some("u".into());
        assert_eq!(s.validate().unwrap_err().message, "SMTP: a username but no password");
        let mut s = settings();
        s.trust_pem = Some("garbage".into());
        assert!(!s.validate().unwrap_err().transient);
    }

    #[test]
    fn plaintext_auth_is_for_the_loopback_or_an_explicit_allowance() {
        let mut s = settings();
        s.username = Some("u".into());
        s.password = Some("p".into());
        assert!(s.validate().is_ok(), "loopback");
        s.host = "mail.example.test".into();
        let e = s.validate().unwrap_err();
        assert!(e.message.contains("allow_plaintext_auth"), "{}", e.message);
        assert!(!e.transient);
        s.allow_plaintext_auth = true;
        assert!(s.validate().is_ok());
        s.allow_plaintext_auth = false;
        s.security = SmtpSecurity::StartTls;
        assert!(s.validate().is_ok(), "TLS protects the password");
        s.security = SmtpSecurity::Plain;
        s.username = None;
        s.password = None;
        assert!(s.validate().is_ok(), "no AUTH, nothing to protect");
        for h in ["localhost", "127.0.0.2", "::1", "[::1]"] {
            assert!(is_loopback_host(h), "{h}");
        }
        for h in ["127.0.0.1.example.test", "10.0.0.1", "localhost.example.test"] {
            assert!(!is_loopback_host(h), "{h}");
        }
    }

    #[test]
    fn debug_hides_the_password() {
        let mut s = settings();
        s.username = Some("u".into());
        s.password = Some("hunter2-secret".into());
        assert!(!format!("{s:?}").contains("hunter2-secret"));
    }
}
