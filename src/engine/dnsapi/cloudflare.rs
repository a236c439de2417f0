//! Cloudflare (API v4) with a scoped API token (`Authorization: Bearer`). The zone hosting a
//! name is found by asking `GET /zones?name=` for the name and then each parent, longest first;
//! records are added with `POST /zones/{id}/dns_records` and removed by listing the TXT records
//! at the name and deleting the one whose content is the value.

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::{json, Value};
use zeroize::Zeroizing;

use super::common::{base_url, norm, transport, unquote, DnsRecords};
use crate::engine::acme::BoxFut;

/// Cloudflare's API base.
pub const DEFAULT_ENDPOINT: &str = "https://api.cloudflare.com/client/v4";
/// TTL of the TXT records (1 would be "automatic", i.e. 300; 60 is the minimum).
pub const DEFAULT_TTL: u32 = 60;

/// Cloudflare DNS through an API token with Zone:Read and DNS:Edit.
pub struct Cloudflare {
    client: reqwest::Client,
    /// API base URL (default [`DEFAULT_ENDPOINT`]).
    pub endpoint: String,
    api_token: Zeroizing<String>,
    /// TTL of the TXT records added.
    pub ttl: u32,
    /// Zone id per candidate zone name (`None`: no such zone), for this instance's life.
    zones: Mutex<HashMap<String, Option<String>>>,
}

impl std::fmt::Debug for Cloudflare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cloudflare")
            .field("endpoint", &self.endpoint)
            .field("api_token", &"<redacted>")
            .field("ttl", &self.ttl)
            .finish()
    }
}

impl Cloudflare {
    pub fn new(
        client: reqwest::Client,
        endpoint: Option<String>,
        api_token: Zeroizing<String>,
        ttl: Option<u32>,
    ) -> Self {
        Self {
            client,
            endpoint: base_url(endpoint, DEFAULT_ENDPOINT),
            api_token,
            ttl: ttl.unwrap_or(DEFAULT_TTL),
            zones: Mutex::new(HashMap::new()),
        }
    }

    /// Sends a request and opens Cloudflare's envelope: `result` on success, the errors'
    /// codes and messages otherwise.
    async fn call(&self, req: reqwest::RequestBuilder) -> Result<Value, String> {
        let resp = req
            .bearer_auth(self.api_token.as_str())
            .send()
            .await
            .map_err(|e| transport("Cloudflare", e))?;
        let status = resp.status();
        let body: Value = match resp.json().await {
            Ok(v) => v,
            Err(_) => return Err(format!("Cloudflare: HTTP {status} without a JSON answer")),
        };
        if body.get("success").and_then(Value::as_bool) == Some(true) {
            return Ok(body.get("result").cloned().unwrap_or(Value::Null));
        }
        Err(envelope_error(&body, status))
    }

    /// The id of the zone hosting `fqdn`: the longest of the name and its parents that
    /// Cloudflare knows.
    async fn zone_id(&self, fqdn: &str) -> Result<String, String> {
        let fqdn = norm(fqdn);
        let labels: Vec<&str> = fqdn.split('.').collect();
        for i in 0..labels.len().saturating_sub(1) {
            let candidate = labels[i..].join(".");
            let cached = self.zones.lock().expect("zone cache").get(&candidate).cloned();
            let id = match cached {
                Some(id) => id,
                None => {
                    let result = self
                        .call(
                            self.client
                                .get(format!("{}/zones", self.endpoint))
                                .query(&[("name", candidate.as_str())]),
                        )
                        .await?;
                    let id = result
                        .as_array()
                        .and_then(|zones| {
                            zones.iter().find(|z| {
                                z.get("name").and_then(Value::as_str).map(norm).as_deref() == Some(&candidate)
                            })
                        })
                        .and_then(|z| z.get("id").and_then(Value::as_str))
                        .map(str::to_string);
                    self.zones
                        .lock()
                        .expect("zone cache")
                        .insert(candidate.clone(), id.clone());
                    id
                }
            };
            if let Some(id) = id {
                return Ok(id);
            }
        }
        Err(format!("Cloudflare: no zone of this account hosts {fqdn}"))
    }

    /// The TXT records at `fqdn`: `(id, content without quotes)`.
    async fn txt_records(&self, zone: &str, fqdn: &str) -> Result<Vec<(String, String)>, String> {
        let result = self
            .call(
                self.client
                    .get(format!("{}/zones/{zone}/dns_records", self.endpoint))
                    .query(&[("type", "TXT"), ("name", fqdn), ("per_page", "100")]),
            )
            .await?;
        Ok(result
            .as_array()
            .map(|records| {
                records
                    .iter()
                    .filter(|r| r.get("name").and_then(Value::as_str).map(norm).as_deref() == Some(fqdn))
                    .filter_map(|r| {
                        Some((
                            r.get("id")?.as_str()?.to_string(),
                            unquote(r.get("content")?.as_str()?).to_string(),
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default())
    }
}

/// `Cloudflare: 9109 Invalid access token` (all errors, `; `-separated).
fn envelope_error(body: &Value, status: reqwest::StatusCode) -> String {
    let errors: Vec<String> = body
        .get("errors")
        .and_then(Value::as_array)
        .map(|errs| {
            errs.iter()
                .map(|e| {
                    let code = e.get("code").map(|c| c.to_string()).unwrap_or_default();
                    let msg = e.get("message").and_then(Value::as_str).unwrap_or("");
                    format!("{code} {msg}").trim().to_string()
                })
                .collect()
        })
        .unwrap_or_default();
    if errors.is_empty() {
        format!("Cloudflare: HTTP {status}")
    } else {
        format!("Cloudflare: {}", errors.join("; "))
    }
}

impl DnsRecords for Cloudflare {
    fn describe(&self) -> String {
        "Cloudflare".to_string()
    }

    fn add_txt<'a>(&'a self, fqdn: &'a str, value: &'a str) -> BoxFut<'a, Result<(), String>> {
        Box::pin(async move {
            let fqdn = norm(fqdn);
            let zone = self.zone_id(&fqdn).await?;
            let body = json!({"type": "TXT", "name": fqdn, "content": value, "ttl": self.ttl});
            match self
                .call(
                    self.client
                        .post(format!("{}/zones/{zone}/dns_records", self.endpoint))
                        .json(&body),
                )
                .await
            {
                Ok(_) => Ok(()),
                // 81058: "An identical record already exists." — what was asked for is there.
                Err(e) if e.starts_with("Cloudflare: 81058") => Ok(()),
                Err(e) => Err(e),
            }
        })
    }

    fn delete_txt<'a>(&'a self, fqdn: &'a str, value: &'a str) -> BoxFut<'a, Result<(), String>> {
        Box::pin(async move {
            let fqdn = norm(fqdn);
            let zone = self.zone_id(&fqdn).await?;
            for (id, content) in self.txt_records(&zone, &fqdn).await? {
                if content == value {
                    self.call(
                        self.client
                            .delete(format!("{}/zones/{zone}/dns_records/{id}", self.endpoint)),
                    )
                    .await?;
                }
            }
            Ok(())
        })
    }
}
