//! A standalone http-01 responder: listens on an address of this host and answers
//! `GET /.well-known/acme-challenge/<token>` with the key authorization, for names that point
//! here. Anything else gets 404. It runs only while an order is being validated.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::acme::{BoxFut, Challenge, ChallengeKind, Solver, Step};

/// Checks an ACME challenge token before it is used as a file name or a path: 1 to 256
/// characters of the base64url alphabet (`A-Z a-z 0-9 - _`, RFC 8555 §8.3), so a CA (or anyone
/// answering in its place) cannot name a file outside the challenge directory.
pub fn check_token(token: &str) -> Result<(), String> {
    if token.is_empty() || token.len() > 256 {
        return Err(format!(
            "the CA sent a challenge token of {} characters; refusing it (1 to 256 expected)",
            token.len()
        ));
    }
    if let Some(c) = token
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
    {
        return Err(format!(
            "the CA sent a challenge token with '{}', outside the base64url alphabet; refusing it",
            c.escape_debug()
        ));
    }
    Ok(())
}

/// Checks a webroot (absolute, no `..`) and every challenge token before files are named
/// after them.
pub fn check_webroot_and_tokens(webroot: &str, challenges: &[Challenge]) -> Result<(), String> {
    crate::domain::acme_clients::check_webroot(webroot).map_err(|e| format!("webroot refused: {e}"))?;
    for c in challenges {
        check_token(&c.token)?;
    }
    Ok(())
}

/// The responder: bound on [`StandaloneHttp01::bind`], stopped on drop.
pub struct StandaloneHttp01 {
    addr: SocketAddr,
    tokens: Arc<Mutex<HashMap<String, String>>>,
    task: JoinHandle<()>,
}

impl StandaloneHttp01 {
    /// Binds `addr` (e.g. `0.0.0.0:80`, or a high port behind a redirect) and starts answering.
    pub async fn bind(addr: SocketAddr) -> Result<StandaloneHttp01, String> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| format!("cannot listen on {addr} for http-01: {e}"))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let tokens: Arc<Mutex<HashMap<String, String>>> = Arc::default();
        let map = tokens.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    continue;
                };
                let map = map.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    let mut n = 0;
                    // Read the request head (the request line is all we need).
                    while n < buf.len() {
                        match tokio::time::timeout(std::time::Duration::from_secs(5), sock.read(&mut buf[n..])).await {
                            Ok(Ok(0)) | Err(_) | Ok(Err(_)) => break,
                            Ok(Ok(k)) => {
                                n += k;
                                if buf[..n].windows(4).any(|w| w == b"\r\n\r\n") {
                                    break;
                                }
                            }
                        }
                    }
                    let head = String::from_utf8_lossy(&buf[..n]);
                    let path = head.lines().next().and_then(|l| {
                        let mut p = l.split_whitespace();
                        (p.next() == Some("GET")).then(|| p.next()).flatten()
                    });
                    let body = path
                        .and_then(|p| p.strip_prefix("/.well-known/acme-challenge/"))
                        .and_then(|t| map.lock().ok().and_then(|m| m.get(t).cloned()));
                    let resp = match body {
                        Some(b) => format!(
                            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{b}",
                            b.len()
                        ),
                        None => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_string(),
                    };
                    let _ = sock.write_all(resp.as_bytes()).await;
                    let _ = sock.shutdown().await;
                });
            }
        });
        Ok(StandaloneHttp01 { addr, tokens, task })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for StandaloneHttp01 {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Solver for StandaloneHttp01 {
    fn kind(&self) -> ChallengeKind {
        ChallengeKind::Http01
    }

    fn present<'a>(&'a self, challenges: &'a [Challenge], _step: Step<'a>) -> BoxFut<'a, Result<(), String>> {
        Box::pin(async move {
            for c in challenges {
                check_token(&c.token)?;
            }
            let mut m = self.tokens.lock().map_err(|_| "poisoned".to_string())?;
            for c in challenges {
                m.insert(c.token.clone(), c.key_authorization.clone());
            }
            Ok(())
        })
    }

    fn cleanup<'a>(&'a self, challenges: &'a [Challenge], _step: Step<'a>) -> BoxFut<'a, Result<(), String>> {
        Box::pin(async move {
            let mut m = self.tokens.lock().map_err(|_| "poisoned".to_string())?;
            for c in challenges {
                m.remove(&c.token);
            }
            Ok(())
        })
    }
}

/// http-01 through a web server's document root over SSH: the key authorization is written to
/// `<webroot>/.well-known/acme-challenge/<token>` (mode 0644) and removed afterwards.
pub struct WebrootOverSsh {
    /// The connection to the web server.
    pub session: super::ssh::SshSession,
    /// The document root serving the names (absolute path).
    pub webroot: String,
    /// Retry a file command with `sudo -n` when it fails as the login user.
    pub sudo: bool,
}

impl WebrootOverSsh {
    fn dir(&self) -> String {
        format!("{}/.well-known/acme-challenge", self.webroot.trim_end_matches('/'))
    }

    /// Runs `command` as the login user; when that fails and sudo is allowed, once more with
    /// every part under `sudo -n` (a webroot owned by root).
    async fn run_file_command(&self, parts: &[String], input: Option<&[u8]>) -> Result<(), String> {
        let plain = parts.join(" && ");
        let out = self
            .session
            .exec_with_input(&plain, input)
            .await
            .map_err(|e| e.to_string())?;
        if out.code == 0 {
            return Ok(());
        }
        if !self.sudo {
            return Err(format!("`{plain}` on {}: {}", self.session.label(), out.excerpt(300)));
        }
        let sudo = parts
            .iter()
            .map(|p| format!("sudo -n {p}"))
            .collect::<Vec<_>>()
            .join(" && ");
        let again = self
            .session
            .exec_with_input(&sudo, input)
            .await
            .map_err(|e| e.to_string())?;
        if again.code == 0 {
            Ok(())
        } else {
            Err(format!(
                "`{plain}` on {}: {}; with sudo: {}",
                self.session.label(),
                out.excerpt(200),
                again.excerpt(200)
            ))
        }
    }
}

impl Solver for WebrootOverSsh {
    fn kind(&self) -> ChallengeKind {
        ChallengeKind::Http01
    }

    fn present<'a>(&'a self, challenges: &'a [Challenge], step: Step<'a>) -> BoxFut<'a, Result<(), String>> {
        use super::ssh::shell_quote as q;
        Box::pin(async move {
            check_webroot_and_tokens(&self.webroot, challenges)?;
            let dir = self.dir();
            self.run_file_command(&[format!("mkdir -p {}", q(&dir))], None).await?;
            for c in challenges {
                let file = q(&format!("{dir}/{}", c.token));
                self.run_file_command(
                    &[format!("tee {file} >/dev/null"), format!("chmod 0644 {file}")],
                    Some(c.key_authorization.as_bytes()),
                )
                .await?;
            }
            step(format!(
                "{} challenge file(s) written under {dir} on {}",
                challenges.len(),
                self.session.label()
            ));
            Ok(())
        })
    }

    fn cleanup<'a>(&'a self, challenges: &'a [Challenge], _step: Step<'a>) -> BoxFut<'a, Result<(), String>> {
        use super::ssh::shell_quote as q;
        Box::pin(async move {
            let dir = self.dir();
            // Only tokens that passed the check were written; never join another into a path.
            let files: Vec<String> = challenges
                .iter()
                .filter(|c| check_token(&c.token).is_ok())
                .map(|c| q(&format!("{dir}/{}", c.token)))
                .collect();
            if files.is_empty() {
                return Ok(());
            }
            self.run_file_command(&[format!("rm -f {}", files.join(" "))], None)
                .await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::check_token;

    #[test]
    fn tokens_are_base64url_and_bounded() {
        assert!(check_token("LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0").is_ok());
        for bad in ["", "../../etc/passwd", "a/b", "a b", "tok\n", "x.y", "%2e%2e"] {
            assert!(check_token(bad).is_err(), "{bad:?}");
        }
        assert!(check_token(&"a".repeat(257)).is_err());
        assert!(check_token(&"a".repeat(256)).is_ok());
    }
}
