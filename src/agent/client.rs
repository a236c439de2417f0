//! The agent's HTTP client for `/api/v1/agent/…`: rustls (the process's ring provider) trusting
//! the system's roots or only `--ca`, the token as bearer, and every response body read within
//! a bound (a hostile or broken API cannot fill the agent's memory).

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::config::AgentConfig;
use crate::domain::agent_wire::{AgentChallenge, AgentMaterial, AgentWork, ChallengeReport, Checkin, DeployReport};

/// Bytes of a response body the agent reads at most.
pub const MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;

/// A failed call: what happened, and whether the API answered at all (a refusal is not worth
/// a quick retry; a network failure is).
#[derive(Debug, Clone)]
pub struct CallError {
    /// What went wrong, naming the route.
    pub msg: String,
    /// The HTTP status, when the API answered.
    pub status: Option<u16>,
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.msg)
    }
}

/// The API, as the agent of one server calls it.
pub struct ApiClient {
    http: reqwest::Client,
    base: url::Url,
    token: zeroize::Zeroizing<String>,
}

impl ApiClient {
    /// A client for `config`'s URL and token (`timeout` per request; the long poll adds its wait).
    pub fn new(config: &AgentConfig, timeout: Duration) -> Result<ApiClient, String> {
        let mut b = crate::engine::http::client_builder(timeout);
        if let Some(ca) = &config.ca {
            let pem = std::fs::read(ca).map_err(|e| format!("--ca {}: {e}", ca.display()))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| format!("--ca {}: not a PEM certificate: {e}", ca.display()))?;
            if certs.is_empty() {
                return Err(format!("--ca {}: no certificate in it", ca.display()));
            }
            b = b.tls_certs_only(certs);
        }
        let http = b
            .user_agent(concat!("certdeck-agent/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        let mut base = url::Url::parse(&config.url).map_err(|e| format!("url: {e}"))?;
        if !base.path().ends_with('/') {
            let p = format!("{}/", base.path());
            base.set_path(&p);
        }
        Ok(ApiClient {
            http,
            base,
            token: zeroize::Zeroizing::new(config.token.clone()),
        })
    }

    fn url(&self, path: &str) -> Result<url::Url, CallError> {
        self.base.join(path).map_err(|e| CallError {
            msg: format!("{path}: {e}"),
            status: None,
        })
    }

    async fn send<T: DeserializeOwned>(
        &self,
        req: reqwest::RequestBuilder,
        what: &str,
    ) -> Result<Option<T>, CallError> {
        let res = req
            .bearer_auth(self.token.as_str())
            .send()
            .await
            .map_err(|e| CallError {
                msg: format!("{what}: {}", error_chain(&e)),
                status: None,
            })?;
        let status = res.status();
        let body = read_bounded(res, what).await?;
        if !status.is_success() {
            let detail = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.get("detail").and_then(|d| d.as_str()).map(str::to_string))
                .unwrap_or_else(|| String::from_utf8_lossy(&body).chars().take(300).collect());
            return Err(CallError {
                msg: format!("{what}: the API answered {}: {detail}", status.as_u16()),
                status: Some(status.as_u16()),
            });
        }
        if status == reqwest::StatusCode::NO_CONTENT || body.is_empty() {
            return Ok(None);
        }
        serde_json::from_slice(&body).map(Some).map_err(|e| CallError {
            msg: format!("{what}: the API's answer is not what the agent understands: {e}"),
            status: Some(status.as_u16()),
        })
    }

    async fn post<B: Serialize, T: DeserializeOwned>(&self, path: &str, body: &B) -> Result<Option<T>, CallError> {
        let req = self.http.post(self.url(path)?).json(body);
        self.send(req, &format!("POST /{path}")).await
    }

    async fn get<T: DeserializeOwned>(&self, path: &str, extra: Option<Duration>) -> Result<Option<T>, CallError> {
        let mut req = self.http.get(self.url(path)?);
        if let Some(wait) = extra {
            req = req.timeout(wait + Duration::from_secs(15));
        }
        self.send(req, &format!("GET /{path}")).await
    }

    /// Checks in; answers with the server entry and the work waiting.
    pub async fn checkin(&self, c: &Checkin) -> Result<AgentWork, CallError> {
        self.post("api/v1/agent/checkin", c).await?.ok_or_else(|| CallError {
            msg: "POST /api/v1/agent/checkin: empty answer".into(),
            status: None,
        })
    }

    /// Reports what discovery found.
    pub async fn discovery<B: Serialize>(&self, body: &B) -> Result<(), CallError> {
        self.post::<_, serde_json::Value>("api/v1/agent/discovery", body)
            .await
            .map(|_| ())
    }

    /// The certificate and key of one deployment of this server.
    pub async fn material(&self, deployment_id: i64) -> Result<AgentMaterial, CallError> {
        let path = format!("api/v1/agent/deployments/{deployment_id}/material");
        self.get(&path, None).await?.ok_or_else(|| CallError {
            msg: format!("GET /{path}: empty answer"),
            status: None,
        })
    }

    /// Reports how an install ended.
    pub async fn report(&self, deployment_id: i64, r: &DeployReport) -> Result<(), CallError> {
        self.post::<_, serde_json::Value>(&format!("api/v1/agent/deployments/{deployment_id}/report"), r)
            .await
            .map(|_| ())
    }

    /// Challenge files waiting, waiting up to `wait` for one (the long poll).
    pub async fn challenges(&self, wait: Duration) -> Result<Vec<AgentChallenge>, CallError> {
        let path = format!("api/v1/agent/challenges?wait={}", wait.as_secs());
        Ok(self.get(&path, Some(wait)).await?.unwrap_or_default())
    }

    /// Reports a challenge file placed or removed (or why not).
    pub async fn challenge_report(&self, id: i64, r: &ChallengeReport) -> Result<(), CallError> {
        self.post::<_, serde_json::Value>(&format!("api/v1/agent/challenges/{id}/report"), r)
            .await
            .map(|_| ())
    }
}

/// Reads at most [`MAX_RESPONSE_BYTES`] of a response body.
async fn read_bounded(mut res: reqwest::Response, what: &str) -> Result<Vec<u8>, CallError> {
    let mut body = Vec::new();
    while let Some(chunk) = res.chunk().await.map_err(|e| CallError {
        msg: format!("{what}: reading the answer: {}", error_chain(&e)),
        status: None,
    })? {
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(CallError {
                msg: format!(
                    "{what}: the answer is larger than {} MiB: refused",
                    MAX_RESPONSE_BYTES >> 20
                ),
                status: None,
            });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// An error with its causes (reqwest's top-level message hides the TLS or connect reason).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        src = c.source();
    }
    s
}
