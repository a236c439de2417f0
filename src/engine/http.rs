//! The one constructor of every outgoing HTTP client (notification webhooks and SMS gateways,
//! DNS vendor APIs, ACME certificate-chain fetches): rustls with the process-wide ring
//! provider, timeouts, and a redirect policy that follows a redirect only to the same scheme,
//! host and port. A redirect elsewhere (another host, https → http) is an error naming both
//! places, so a target that passed certdeck's checks cannot bounce a request — with its
//! secrets in headers or body — to somewhere else.

use std::time::Duration;

/// Redirects followed at most.
pub const MAX_REDIRECTS: usize = 5;

/// Scheme, host and port of a URL, for messages.
fn origin(u: &url::Url) -> String {
    match (u.host_str(), u.port_or_known_default()) {
        (Some(h), Some(p)) => format!("{}://{h}:{p}", u.scheme()),
        (Some(h), None) => format!("{}://{h}", u.scheme()),
        _ => u.scheme().to_string(),
    }
}

/// Whether `to` has the same scheme, host and port as `from`.
pub fn same_origin(from: &url::Url, to: &url::Url) -> bool {
    from.scheme() == to.scheme()
        && from.host() == to.host()
        && from.port_or_known_default() == to.port_or_known_default()
}

/// Follows a redirect only to the origin of the first request, at most [`MAX_REDIRECTS`] times.
pub fn redirect_policy() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let Some(first) = attempt.previous().first().cloned() else {
            return attempt.stop();
        };
        if !same_origin(&first, attempt.url()) {
            let msg = format!(
                "refused a redirect from {} to {}: certdeck follows redirects only to the same scheme, host and port",
                origin(&first),
                origin(attempt.url())
            );
            return attempt.error(msg);
        }
        if attempt.previous().len() > MAX_REDIRECTS {
            return attempt.error(format!("more than {MAX_REDIRECTS} redirects"));
        }
        attempt.follow()
    })
}

/// A client builder with certdeck's user agent, `timeout` per request, a 10 s connect timeout
/// and [`redirect_policy`]; callers add only what is theirs (an extra trust root).
pub fn client_builder(timeout: Duration) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(Duration::from_secs(10).min(timeout))
        .user_agent(concat!("certdeck/", env!("CARGO_PKG_VERSION")))
        .redirect(redirect_policy())
}

/// Addresses a host name connects to, resolved and checked by the caller: the client uses
/// them instead of resolving the name again, so an answer that changes between the check and
/// the connection (DNS rebinding) cannot lead the request elsewhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinnedHost {
    /// The host name as it appears in the URL.
    pub host: String,
    /// Its checked addresses (the URL's port is used).
    pub addrs: Vec<std::net::SocketAddr>,
}

/// [`client_builder`] with `pin`'s addresses for its host, built.
pub fn client_pinned(timeout: Duration, pin: Option<&PinnedHost>) -> Result<reqwest::Client, String> {
    let mut b = client_builder(timeout);
    if let Some(p) = pin.filter(|p| !p.addrs.is_empty()) {
        b = b.resolve_to_addrs(&p.host, &p.addrs);
    }
    b.build().map_err(|e| format!("HTTP client: {e}"))
}

/// [`client_builder`], built.
pub fn client(timeout: Duration) -> Result<reqwest::Client, String> {
    client_builder(timeout).build().map_err(|e| format!("HTTP client: {e}"))
}
