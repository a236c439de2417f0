//! Tencent Cloud DNSPod (API 3.0, `dnspod.tencentcloudapi.com`, version 2021-03-23), signed
//! with TC3-HMAC-SHA256. The zone is the longest of the account's domains
//! (`DescribeDomainList`) that the name ends with; records are added with `CreateRecord` and
//! removed by `DescribeRecordList` + `DeleteRecord`.

use std::sync::Mutex;

use serde_json::{json, Value};
use zeroize::Zeroizing;

use super::common::{
    base_url, hex, hmac_sha256, host_header, longest_zone, norm, relative_name, sha256_hex, transport, unquote,
    DnsRecords,
};
use crate::engine::acme::BoxFut;

/// DNSPod's API 3.0 endpoint.
pub const DEFAULT_ENDPOINT: &str = "https://dnspod.tencentcloudapi.com";
/// TTL of the TXT records: 600 is the free plan's minimum.
pub const DEFAULT_TTL: u32 = 600;
const SERVICE: &str = "dnspod";
const VERSION: &str = "2021-03-23";
const CONTENT_TYPE: &str = "application/json; charset=utf-8";
/// `DescribeDomainList` / `DescribeRecordList` page size (the API's maximum).
const PAGE: u64 = 3000;

/// DNSPod through a Tencent Cloud API key (SecretId/SecretKey).
pub struct Dnspod {
    client: reqwest::Client,
    /// API base URL (default [`DEFAULT_ENDPOINT`]).
    pub endpoint: String,
    secret_id: Zeroizing<String>,
    secret_key: Zeroizing<String>,
    /// TTL of the TXT records added.
    pub ttl: u32,
    /// The account's domains `(name, id)`, listed once.
    zones: Mutex<Option<Vec<(String, String)>>>,
}

impl std::fmt::Debug for Dnspod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dnspod")
            .field("endpoint", &self.endpoint)
            .field("secret_id", &"<redacted>")
            .field("secret_key", &"<redacted>")
            .field("ttl", &self.ttl)
            .finish()
    }
}

/// The TC3-HMAC-SHA256 `Authorization` of a POST to `/` with `content-type` and `host` signed:
/// canonical request → string to sign (`TC3-HMAC-SHA256\n<timestamp>\n<date>/<service>/tc3_request\n<hash>`)
/// → key chain `"TC3"+SecretKey` → date → service → `tc3_request` → hex HMAC.
pub fn tc3_authorization(
    secret_id: &str,
    secret_key: &str,
    service: &str,
    host: &str,
    content_type: &str,
    payload: &[u8],
    timestamp: i64,
) -> String {
    let date = chrono::DateTime::from_timestamp(timestamp, 0)
        .unwrap_or_default()
        .format("%Y-%m-%d")
        .to_string();
    let canonical_request = format!(
        "POST\n/\n\ncontent-type:{}\nhost:{}\n\ncontent-type;host\n{}",
        content_type.trim().to_ascii_lowercase(),
        host.trim().to_ascii_lowercase(),
        sha256_hex(payload)
    );
    let scope = format!("{date}/{service}/tc3_request");
    let string_to_sign = format!(
        "TC3-HMAC-SHA256\n{timestamp}\n{scope}\n{}",
        sha256_hex(canonical_request.as_bytes())
    );
    let k_date = hmac_sha256(format!("TC3{secret_key}").as_bytes(), date.as_bytes());
    let k_service = hmac_sha256(&k_date, service.as_bytes());
    let k_signing = hmac_sha256(&k_service, b"tc3_request");
    let signature = hex(&hmac_sha256(&k_signing, string_to_sign.as_bytes()));
    format!("TC3-HMAC-SHA256 Credential={secret_id}/{scope}, SignedHeaders=content-type;host, Signature={signature}")
}

impl Dnspod {
    pub fn new(
        client: reqwest::Client,
        endpoint: Option<String>,
        secret_id: Zeroizing<String>,
        secret_key: Zeroizing<String>,
        ttl: Option<u32>,
    ) -> Self {
        Self {
            client,
            endpoint: base_url(endpoint, DEFAULT_ENDPOINT),
            secret_id,
            secret_key,
            ttl: ttl.unwrap_or(DEFAULT_TTL),
            zones: Mutex::new(None),
        }
    }

    /// Calls `action`; returns `Response`, or `Response.Error` as `DNSPod: Code Message`.
    async fn call(&self, action: &str, params: Value) -> Result<Value, String> {
        let url = reqwest::Url::parse(&format!("{}/", self.endpoint))
            .map_err(|e| format!("DNSPod: bad endpoint {}: {e}", self.endpoint))?;
        let payload = serde_json::to_vec(&params).map_err(|e| format!("DNSPod: {e}"))?;
        let timestamp = chrono::Utc::now().timestamp();
        let authorization = tc3_authorization(
            &self.secret_id,
            &self.secret_key,
            SERVICE,
            &host_header(&url),
            CONTENT_TYPE,
            &payload,
            timestamp,
        );
        let resp = self
            .client
            .post(url)
            .header("Content-Type", CONTENT_TYPE)
            .header("X-TC-Action", action)
            .header("X-TC-Version", VERSION)
            .header("X-TC-Timestamp", timestamp.to_string())
            .header("Authorization", authorization)
            .body(payload)
            .send()
            .await
            .map_err(|e| transport("DNSPod", e))?;
        let status = resp.status();
        let body: Value = resp
            .json()
            .await
            .map_err(|_| format!("DNSPod: {action}: HTTP {status} without a JSON answer"))?;
        let response = body.get("Response").cloned().unwrap_or(Value::Null);
        if let Some(err) = response.get("Error") {
            let code = err.get("Code").and_then(Value::as_str).unwrap_or("");
            let msg = err.get("Message").and_then(Value::as_str).unwrap_or("");
            return Err(format!("DNSPod: {code} {msg}").trim_end().to_string());
        }
        if !status.is_success() || response.is_null() {
            return Err(format!("DNSPod: {action}: HTTP {status}"));
        }
        Ok(response)
    }

    async fn list_zones(&self) -> Result<Vec<(String, String)>, String> {
        let mut zones = Vec::new();
        loop {
            let resp = self
                .call("DescribeDomainList", json!({"Offset": zones.len(), "Limit": PAGE}))
                .await?;
            let listed = resp
                .get("DomainList")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for d in &listed {
                if let Some(name) = d.get("Name").and_then(Value::as_str) {
                    let id = d.get("DomainId").map(|i| i.to_string()).unwrap_or_default();
                    zones.push((norm(name), id));
                }
            }
            let total = resp
                .pointer("/DomainCountInfo/AllTotal")
                .or_else(|| resp.pointer("/DomainCountInfo/DomainTotal"))
                .and_then(Value::as_u64)
                .unwrap_or(0);
            if listed.is_empty() || zones.len() as u64 >= total {
                return Ok(zones);
            }
        }
    }

    /// The domain hosting `fqdn` (listed once per instance; again if a name is not found).
    async fn zone(&self, fqdn: &str) -> Result<String, String> {
        let cached = self.zones.lock().expect("zone cache").clone();
        if let Some(zones) = cached {
            if let Some((name, _)) = longest_zone(fqdn, &zones) {
                return Ok(name.clone());
            }
        }
        let zones = self.list_zones().await?;
        let found = longest_zone(fqdn, &zones).map(|(name, _)| name.clone());
        *self.zones.lock().expect("zone cache") = Some(zones);
        found.ok_or_else(|| format!("DNSPod: no domain of this account hosts {fqdn}"))
    }
}

impl DnsRecords for Dnspod {
    fn describe(&self) -> String {
        "DNSPod".to_string()
    }

    fn add_txt<'a>(&'a self, fqdn: &'a str, value: &'a str) -> BoxFut<'a, Result<(), String>> {
        Box::pin(async move {
            let zone = self.zone(fqdn).await?;
            let sub = relative_name(fqdn, &zone);
            let params = json!({
                "Domain": zone,
                "SubDomain": sub,
                "RecordType": "TXT",
                "RecordLine": "默认",
                "Value": value,
                "TTL": self.ttl,
            });
            self.call("CreateRecord", params).await.map(|_| ())
        })
    }

    fn delete_txt<'a>(&'a self, fqdn: &'a str, value: &'a str) -> BoxFut<'a, Result<(), String>> {
        Box::pin(async move {
            let zone = self.zone(fqdn).await?;
            let sub = relative_name(fqdn, &zone);
            let params = json!({"Domain": zone, "Subdomain": sub, "RecordType": "TXT", "Limit": PAGE});
            let records = match self.call("DescribeRecordList", params).await {
                Ok(resp) => resp
                    .get("RecordList")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default(),
                // No record at all at the name: nothing to delete.
                Err(e) if e.starts_with("DNSPod: ResourceNotFound.NoDataOfRecord") => Vec::new(),
                Err(e) => return Err(e),
            };
            for r in records {
                let matches = r.get("Type").and_then(Value::as_str) == Some("TXT")
                    && r.get("Name")
                        .and_then(Value::as_str)
                        .map(str::to_ascii_lowercase)
                        .as_deref()
                        == Some(&sub)
                    && r.get("Value").and_then(Value::as_str).map(unquote) == Some(value);
                if let (true, Some(id)) = (matches, r.get("RecordId").and_then(Value::as_u64)) {
                    self.call("DeleteRecord", json!({"Domain": zone, "RecordId": id}))
                        .await?;
                }
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tencent Cloud's published example of signature method v3 ("签名方法 v3" / "Signature v3"
    /// of API 3.0, the same page in every product's API docs, e.g. DNSPod's
    /// https://cloud.tencent.com/document/api/1427/56189 and
    /// https://www.tencentcloud.com/document/product/382/40467; text checked against the stored
    /// copy of Tencent's docs, tencentyun/qcloud-documents): CVM `DescribeInstances`, SecretKey
    /// `Gu5t9xGARNpq86cd98joQYCN3EXAMPLE`, timestamp 1551113065, hashed canonical request
    /// `5ffe6a04…d7031`, signature `72e494ea…25168`. The doc has shown the SecretId both as
    /// `AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE` and masked; it is not part of the signature.
    #[test]
    fn published_vector_cvm_describe_instances() {
        let payload = r#"{"Limit": 1, "Filters": [{"Values": ["\u672a\u547d\u540d"], "Name": "instance-name"}]}"#;
        assert_eq!(
            sha256_hex(payload.as_bytes()),
            "35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064"
        );
        let auth = tc3_authorization(
            "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE",
            "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE",
            "cvm",
            "cvm.tencentcloudapi.com",
            "application/json; charset=utf-8",
            payload.as_bytes(),
            1551113065,
        );
        assert_eq!(
            auth,
            "TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE/2019-02-25/cvm/tc3_request, \
             SignedHeaders=content-type;host, \
             Signature=72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"
        );
    }
}
