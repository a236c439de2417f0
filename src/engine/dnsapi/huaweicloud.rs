//! Huawei Cloud DNS (`dns.myhuaweicloud.com`, API v2) with AK/SK signing (APIG
//! "SDK-HMAC-SHA256"). The zone is the longest of the account's public zones
//! (`GET /v2/zones?type=public`) that the name ends with.
//!
//! Huawei keeps all values of a name and type in one record set (`records`, each TXT value
//! in double quotes) and refuses a second record set with the same name, type and line. So a
//! value added at a name that already has a TXT record set is appended to it with
//! `PUT /v2/zones/{zone}/recordsets/{id}` (wildcard + apex share `_acme-challenge.<domain>`),
//! and removing one value of several rewrites the set without it; the set is deleted only when
//! its last value goes. The read-modify-write is serialized per instance.

use std::sync::Mutex;

use serde_json::{json, Value};
use zeroize::Zeroizing;

use super::common::{
    base_url, hex, hmac_sha256, host_header, longest_zone, norm, percent_encode, sha256_hex, transport, unquote,
    DnsRecords,
};
use crate::engine::acme::BoxFut;

/// Huawei Cloud DNS's global endpoint (public zones).
pub const DEFAULT_ENDPOINT: &str = "https://dns.myhuaweicloud.com";
/// TTL of the TXT records (Huawei's default; 1–2147483647 are accepted).
pub const DEFAULT_TTL: u32 = 300;
const ALGORITHM: &str = "SDK-HMAC-SHA256";
const PAGE: usize = 500;

/// Huawei Cloud DNS through an IAM access key (AK/SK).
pub struct HuaweiCloud {
    client: reqwest::Client,
    /// API base URL (default [`DEFAULT_ENDPOINT`]).
    pub endpoint: String,
    access_key_id: Zeroizing<String>,
    secret_access_key: Zeroizing<String>,
    /// TTL of the TXT record sets written.
    pub ttl: u32,
    /// The account's public zones `(name, id)`, listed once.
    zones: Mutex<Option<Vec<(String, String)>>>,
    /// One read-modify-write of a record set at a time.
    write: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for HuaweiCloud {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HuaweiCloud")
            .field("endpoint", &self.endpoint)
            .field("access_key_id", &"<redacted>")
            .field("secret_access_key", &"<redacted>")
            .field("ttl", &self.ttl)
            .finish()
    }
}

/// The canonical URI: each path segment percent-encoded, always ending with `/`.
pub fn canonical_uri(path: &str) -> String {
    let mut uri = path.split('/').map(percent_encode).collect::<Vec<_>>().join("/");
    if !uri.starts_with('/') {
        uri.insert(0, '/');
    }
    if !uri.ends_with('/') {
        uri.push('/');
    }
    uri
}

/// The canonical query: `key=value` pairs percent-encoded, sorted, joined with `&`.
pub fn canonical_query(query: &[(&str, &str)]) -> String {
    let mut pairs: Vec<(String, String)> = query
        .iter()
        .map(|(k, v)| (percent_encode(k), percent_encode(v)))
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// What of a request is signed.
#[derive(Debug, Clone, Copy)]
pub struct Signed<'a> {
    pub method: &'a str,
    /// The path, unencoded (`/v2/zones/{id}/recordsets`).
    pub path: &'a str,
    /// Query parameters, unencoded.
    pub query: &'a [(&'a str, &'a str)],
    /// The signed headers with their values as sent (must include `host` and `x-sdk-date`).
    pub headers: &'a [(&'a str, &'a str)],
    pub body: &'a [u8],
}

/// The canonical request and the signed-headers list:
/// `method\nURI\nquery\n<name:value\n per header, sorted>\n<names;…>\n<hex sha256(body)>`.
pub fn canonical_request(req: &Signed<'_>) -> (String, String) {
    let mut hs: Vec<(String, String)> = req
        .headers
        .iter()
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    hs.sort();
    let canonical_headers: String = hs.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
    let signed_headers = hs.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>().join(";");
    let request = format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        req.method.to_ascii_uppercase(),
        canonical_uri(req.path),
        canonical_query(req.query),
        canonical_headers,
        signed_headers,
        sha256_hex(req.body)
    );
    (request, signed_headers)
}

/// `SDK-HMAC-SHA256\n<X-Sdk-Date>\n<hex sha256(canonical request)>`.
pub fn string_to_sign(sdk_date: &str, canonical_request: &str) -> String {
    format!("{ALGORITHM}\n{sdk_date}\n{}", sha256_hex(canonical_request.as_bytes()))
}

/// Hex HMAC-SHA256 of the string to sign, keyed with the SK.
pub fn signature(secret_access_key: &str, string_to_sign: &str) -> String {
    hex(&hmac_sha256(secret_access_key.as_bytes(), string_to_sign.as_bytes()))
}

/// The `Authorization` header: `SDK-HMAC-SHA256 Access=AK, SignedHeaders=…, Signature=…`.
pub fn authorization(access_key_id: &str, secret_access_key: &str, req: &Signed<'_>, sdk_date: &str) -> String {
    let (request, signed_headers) = canonical_request(req);
    let sig = signature(secret_access_key, &string_to_sign(sdk_date, &request));
    format!("{ALGORITHM} Access={access_key_id}, SignedHeaders={signed_headers}, Signature={sig}")
}

/// A TXT record set: id and its values without quotes.
struct RecordSet {
    id: String,
    values: Vec<String>,
}

fn quoted(values: &[String]) -> Vec<String> {
    values.iter().map(|v| format!("\"{v}\"")).collect()
}

impl HuaweiCloud {
    pub fn new(
        client: reqwest::Client,
        endpoint: Option<String>,
        access_key_id: Zeroizing<String>,
        secret_access_key: Zeroizing<String>,
        ttl: Option<u32>,
    ) -> Self {
        Self {
            client,
            endpoint: base_url(endpoint, DEFAULT_ENDPOINT),
            access_key_id,
            secret_access_key,
            ttl: ttl.unwrap_or(DEFAULT_TTL),
            zones: Mutex::new(None),
            write: tokio::sync::Mutex::new(()),
        }
    }

    /// A signed request; a non-2xx answer becomes `Huawei Cloud: code message`.
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<Value>,
    ) -> Result<Value, String> {
        let base = reqwest::Url::parse(&self.endpoint)
            .map_err(|e| format!("Huawei Cloud: bad endpoint {}: {e}", self.endpoint))?;
        let host = host_header(&base);
        let full_path = format!("{}{path}", base.path().trim_end_matches('/'));
        let body = match body {
            Some(b) => serde_json::to_vec(&b).map_err(|e| format!("Huawei Cloud: {e}"))?,
            None => Vec::new(),
        };
        let sdk_date = chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
        let signed = Signed {
            method: method.as_str(),
            path: &full_path,
            query,
            headers: &[
                ("Content-Type", "application/json"),
                ("Host", &host),
                ("X-Sdk-Date", &sdk_date),
            ],
            body: &body,
        };
        let auth = authorization(&self.access_key_id, &self.secret_access_key, &signed, &sdk_date);
        let qs = canonical_query(query);
        let mut url = format!("{}{}", self.endpoint.trim_end_matches('/'), path);
        if !qs.is_empty() {
            url = format!("{url}?{qs}");
        }
        let resp = self
            .client
            .request(method, url)
            .header("Content-Type", "application/json")
            .header("X-Sdk-Date", &sdk_date)
            .header("Authorization", auth)
            .body(body)
            .send()
            .await
            .map_err(|e| transport("Huawei Cloud", e))?;
        let status = resp.status();
        let text = resp.text().await.map_err(|e| transport("Huawei Cloud", e))?;
        let body: Value = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::Null)
        };
        if status.is_success() {
            return Ok(body);
        }
        let code = body
            .get("code")
            .or_else(|| body.get("error_code"))
            .and_then(Value::as_str)
            .unwrap_or("");
        let msg = body
            .get("message")
            .or_else(|| body.get("error_msg"))
            .and_then(Value::as_str)
            .unwrap_or("");
        if code.is_empty() && msg.is_empty() {
            Err(format!("Huawei Cloud: HTTP {status}"))
        } else {
            Err(format!("Huawei Cloud: {code} {msg}").trim_end().to_string())
        }
    }

    async fn list_zones(&self) -> Result<Vec<(String, String)>, String> {
        let mut zones = Vec::new();
        loop {
            let offset = zones.len().to_string();
            let limit = PAGE.to_string();
            let resp = self
                .call(
                    reqwest::Method::GET,
                    "/v2/zones",
                    &[("type", "public"), ("limit", &limit), ("offset", &offset)],
                    None,
                )
                .await?;
            let listed = resp.get("zones").and_then(Value::as_array).cloned().unwrap_or_default();
            for z in &listed {
                if let (Some(name), Some(id)) = (
                    z.get("name").and_then(Value::as_str),
                    z.get("id").and_then(Value::as_str),
                ) {
                    zones.push((norm(name), id.to_string()));
                }
            }
            let total = resp
                .pointer("/metadata/total_count")
                .and_then(Value::as_u64)
                .unwrap_or(0);
            if listed.is_empty() || zones.len() as u64 >= total {
                return Ok(zones);
            }
        }
    }

    /// The id of the public zone hosting `fqdn` (listed once; again if a name is not found).
    async fn zone_id(&self, fqdn: &str) -> Result<String, String> {
        let cached = self.zones.lock().expect("zone cache").clone();
        if let Some(zones) = cached {
            if let Some((_, id)) = longest_zone(fqdn, &zones) {
                return Ok(id.clone());
            }
        }
        let zones = self.list_zones().await?;
        let found = longest_zone(fqdn, &zones).map(|(_, id)| id.clone());
        *self.zones.lock().expect("zone cache") = Some(zones);
        found.ok_or_else(|| format!("Huawei Cloud: no public zone of this account hosts {fqdn}"))
    }

    /// The TXT record set named exactly `fqdn` (the API's `name` filter is a fuzzy match).
    async fn txt_set(&self, zone: &str, fqdn: &str) -> Result<Option<RecordSet>, String> {
        let name = format!("{fqdn}.");
        let path = format!("/v2/zones/{zone}/recordsets");
        let mut seen = 0usize;
        loop {
            let offset = seen.to_string();
            let limit = PAGE.to_string();
            let resp = self
                .call(
                    reqwest::Method::GET,
                    &path,
                    &[("type", "TXT"), ("name", &name), ("limit", &limit), ("offset", &offset)],
                    None,
                )
                .await?;
            let sets = resp
                .get("recordsets")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            seen += sets.len();
            for s in &sets {
                let same_name = s.get("name").and_then(Value::as_str).map(norm).as_deref() == Some(fqdn);
                let txt = s.get("type").and_then(Value::as_str) == Some("TXT");
                if let (true, true, Some(id)) = (same_name, txt, s.get("id").and_then(Value::as_str)) {
                    let values = s
                        .get("records")
                        .and_then(Value::as_array)
                        .map(|r| {
                            r.iter()
                                .filter_map(Value::as_str)
                                .map(|v| unquote(v).to_string())
                                .collect()
                        })
                        .unwrap_or_default();
                    return Ok(Some(RecordSet {
                        id: id.to_string(),
                        values,
                    }));
                }
            }
            let total = resp
                .pointer("/metadata/total_count")
                .and_then(Value::as_u64)
                .unwrap_or(0);
            if sets.is_empty() || seen as u64 >= total {
                return Ok(None);
            }
        }
    }

    async fn put_values(&self, zone: &str, fqdn: &str, set: &str, values: &[String]) -> Result<(), String> {
        let body = json!({"name": format!("{fqdn}."), "type": "TXT", "ttl": self.ttl, "records": quoted(values)});
        self.call(
            reqwest::Method::PUT,
            &format!("/v2/zones/{zone}/recordsets/{set}"),
            &[],
            Some(body),
        )
        .await
        .map(|_| ())
    }
}

impl DnsRecords for HuaweiCloud {
    fn describe(&self) -> String {
        "Huawei Cloud DNS".to_string()
    }

    fn add_txt<'a>(&'a self, fqdn: &'a str, value: &'a str) -> BoxFut<'a, Result<(), String>> {
        Box::pin(async move {
            let fqdn = norm(fqdn);
            let zone = self.zone_id(&fqdn).await?;
            let _write = self.write.lock().await;
            match self.txt_set(&zone, &fqdn).await? {
                Some(set) if set.values.iter().any(|v| v == value) => Ok(()),
                Some(set) => {
                    let mut values = set.values;
                    values.push(value.to_string());
                    self.put_values(&zone, &fqdn, &set.id, &values).await
                }
                None => {
                    let body = json!({
                        "name": format!("{fqdn}."),
                        "type": "TXT",
                        "ttl": self.ttl,
                        "records": quoted(&[value.to_string()]),
                    });
                    self.call(
                        reqwest::Method::POST,
                        &format!("/v2/zones/{zone}/recordsets"),
                        &[],
                        Some(body),
                    )
                    .await
                    .map(|_| ())
                }
            }
        })
    }

    fn delete_txt<'a>(&'a self, fqdn: &'a str, value: &'a str) -> BoxFut<'a, Result<(), String>> {
        Box::pin(async move {
            let fqdn = norm(fqdn);
            let zone = self.zone_id(&fqdn).await?;
            let _write = self.write.lock().await;
            let Some(set) = self.txt_set(&zone, &fqdn).await? else {
                return Ok(());
            };
            if !set.values.iter().any(|v| v == value) {
                return Ok(());
            }
            let rest: Vec<String> = set.values.into_iter().filter(|v| v != value).collect();
            if rest.is_empty() {
                self.call(
                    reqwest::Method::DELETE,
                    &format!("/v2/zones/{zone}/recordsets/{}", set.id),
                    &[],
                    None,
                )
                .await
                .map(|_| ())
            } else {
                self.put_values(&zone, &fqdn, &set.id, &rest).await
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Huawei Cloud's published signing example ("API Request Signing Guide", signing
    /// algorithm; https://support.huaweicloud.com/intl/en-us/devg-apisign/api-sign-algorithm-002.html
    /// (canonical request of `GET /v1/77b6a44cba5143ab91d13ab9a8ff44fd/vpcs?limit=2&marker=…`),
    /// …-003.html (string to sign, hash `b25362e6…cd7a`) and …-004.html (signature with SK
    /// `MFyfvK41ba2giqM7Uio6PznpdUKGpownRZlmVmHc`: `7be66680…6ebe`)).
    #[test]
    fn published_vector_vpc_list() {
        let (request, signed) = canonical_request(&Signed {
            method: "GET",
            path: "/v1/77b6a44cba5143ab91d13ab9a8ff44fd/vpcs",
            query: &[("marker", "13551d6b-755d-4757-b956-536f674975c0"), ("limit", "2")],
            headers: &[
                ("Content-Type", "application/json"),
                ("Host", "service.region.example.com"),
                ("X-Sdk-Date", "20191115T033655Z"),
            ],
            body: b"",
        });
        assert_eq!(signed, "content-type;host;x-sdk-date");
        let sts = string_to_sign("20191115T033655Z", &request);
        assert_eq!(
            sts,
            "SDK-HMAC-SHA256\n20191115T033655Z\nb25362e603ee30f4f25e7858e8a7160fd36e803bb2dfe206278659d71a9bcd7a"
        );
        assert_eq!(
            signature("MFyfvK41ba2giqM7Uio6PznpdUKGpownRZlmVmHc", &sts),
            "7be6668032f70418fcc22abc52071e57aff61b84a1d2381bb430d6870f4f6ebe"
        );
        assert_eq!(
            authorization(
                "QTWAOYTTINDUT2QVKYUC",
                "MFyfvK41ba2giqM7Uio6PznpdUKGpownRZlmVmHc",
                &Signed {
                    method: "GET",
                    path: "/v1/77b6a44cba5143ab91d13ab9a8ff44fd/vpcs",
                    query: &[("limit", "2"), ("marker", "13551d6b-755d-4757-b956-536f674975c0")],
                    headers: &[
                        ("content-type", "application/json"),
                        ("host", "service.region.example.com"),
                        ("x-sdk-date", "20191115T033655Z"),
                    ],
                    body: b"",
                },
                "20191115T033655Z",
            ),
            "SDK-HMAC-SHA256 Access=QTWAOYTTINDUT2QVKYUC, SignedHeaders=content-type;host;x-sdk-date, \
             Signature=7be6668032f70418fcc22abc52071e57aff61b84a1d2381bb430d6870f4f6ebe"
        );
    }

    #[test]
    fn canonical_uri_ends_with_slash() {
        assert_eq!(canonical_uri("/v2/zones"), "/v2/zones/");
        assert_eq!(canonical_uri("/v2/zones/"), "/v2/zones/");
        assert_eq!(canonical_uri(""), "/");
    }
}
