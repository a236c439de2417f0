//! SMS: a configurable HTTP gateway, or Aliyun SMS (dysmsapi `SendSms`, RPC signature v1).
//! The text is the notification's short form, at most [`MAX_SMS_CHARS`] characters.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde_json::Value;

use super::common::{check_url, send_http, url_origin, DeliveryError, DeliveryOutcome, Notification};
use crate::engine::dnsapi::aliyun::{canonical_query, signature};
use crate::engine::dnsapi::percent_encode;

/// The longest SMS text sent (characters).
pub const MAX_SMS_CHARS: usize = 300;
/// Aliyun SMS's endpoint.
pub const ALIYUN_SMS_ENDPOINT: &str = "https://dysmsapi.aliyuncs.com";
const ALIYUN_SMS_VERSION: &str = "2017-05-25";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpMethod {
    Get,
    Post,
}

/// An SMS channel.
#[derive(Debug, Clone)]
pub enum SmsSettings {
    Gateway(SmsGateway),
    Aliyun(AliyunSms),
}

/// A generic HTTP SMS gateway. Placeholders `{phone}` `{message}` `{title}` `{severity}` are
/// replaced in the URL (percent-encoded) and in the body: JSON-string-escaped when the content
/// type mentions `json`, percent-encoded for `application/x-www-form-urlencoded`, as they are
/// otherwise. One request per phone number.
#[derive(Clone)]
pub struct SmsGateway {
    pub url: String,
    pub method: HttpMethod,
    /// POST body template (ignored for GET).
    pub body_template: String,
    /// Content type of the POST body (default `application/json`).
    pub content_type: Option<String>,
    /// E.g. `("Authorization", "Bearer …")`: the value is a secret.
    pub auth_header: Option<(String, String)>,
    pub phones: Vec<String>,
    pub timeout: Duration,
    /// The checked addresses of the URL's host (set by the service).
    pub pin: Option<crate::engine::http::PinnedHost>,
}

impl fmt::Debug for SmsGateway {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmsGateway")
            .field("url", &url_origin(&self.url))
            .field("method", &self.method)
            .field("body_template", &self.body_template)
            .field("content_type", &self.content_type)
            .field(
                "auth_header",
                &self.auth_header.as_ref().map(|(k, _)| (k.as_str(), "<redacted>")),
            )
            .field("phones", &self.phones)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Aliyun SMS (`SendSms`): a signed GET to dysmsapi with every phone number at once.
#[derive(Clone)]
pub struct AliyunSms {
    /// Default [`ALIYUN_SMS_ENDPOINT`]; another (http:// to a loopback host) for tests.
    pub endpoint: String,
    pub access_key_id: String,
    pub access_key_secret: String,
    /// The approved signature name (`SignName`).
    pub sign_name: String,
    /// The approved template (`TemplateCode`, `SMS_…`).
    pub template_code: String,
    /// `TemplateParam` JSON with placeholders, e.g. `{"message":"{message}"}` (the default);
    /// the values are JSON-escaped.
    pub template_param: String,
    pub phones: Vec<String>,
    pub region_id: String,
    pub timeout: Duration,
    /// The checked addresses of the endpoint's host (set by the service).
    pub pin: Option<crate::engine::http::PinnedHost>,
}

impl fmt::Debug for AliyunSms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AliyunSms")
            .field("endpoint", &url_origin(&self.endpoint))
            .field("access_key_id", &"<redacted>")
            .field("access_key_secret", &"<redacted>")
            .field("sign_name", &self.sign_name)
            .field("template_code", &self.template_code)
            .field("template_param", &self.template_param)
            .field("phones", &self.phones)
            .field("region_id", &self.region_id)
            .finish()
    }
}

#[derive(Clone, Copy)]
enum Escape {
    None,
    Url,
    Json,
}

/// Replaces the placeholders in `template`.
pub fn render_template(template: &str, phone: &str, n: &Notification, escape_json: bool) -> String {
    render(
        template,
        phone,
        n,
        if escape_json { Escape::Json } else { Escape::None },
    )
}

fn render(template: &str, phone: &str, n: &Notification, esc: Escape) -> String {
    let message = n.short_text(MAX_SMS_CHARS);
    let title = n.headline();
    let e = |s: &str| match esc {
        Escape::None => s.to_string(),
        Escape::Url => percent_encode(s),
        Escape::Json => {
            let q = serde_json::to_string(s).expect("JSON");
            q[1..q.len() - 1].to_string()
        }
    };
    // one pass, so a value that contains "{phone}" is not replaced again
    let mut out = String::with_capacity(template.len() + message.len());
    let mut rest = template;
    while let Some(i) = rest.find('{') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let rep = [
            ("{phone}", phone),
            ("{message}", message.as_str()),
            ("{title}", title.as_str()),
            ("{severity}", n.severity.as_str()),
        ]
        .into_iter()
        .find(|(k, _)| tail.starts_with(k));
        match rep {
            Some((k, v)) => {
                out.push_str(&e(v));
                rest = &tail[k.len()..];
            }
            None => {
                out.push('{');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn check_phones(phones: &[String]) -> Result<(), DeliveryError> {
    if phones.iter().all(|p| p.trim().is_empty()) {
        return Err(DeliveryError::permanent("SMS: no phone number"));
    }
    for p in phones.iter().filter(|p| !p.trim().is_empty()) {
        let digits = p.trim().strip_prefix('+').unwrap_or(p.trim());
        if digits.len() < 5 || digits.len() > 20 || !digits.chars().all(|c| c.is_ascii_digit()) {
            return Err(DeliveryError::permanent(format!(
                "SMS: invalid phone number '{}' (digits, an optional leading +)",
                p.trim()
            )));
        }
    }
    Ok(())
}

impl SmsSettings {
    pub fn validate(&self) -> Result<(), DeliveryError> {
        match self {
            SmsSettings::Gateway(g) => g.validate(),
            SmsSettings::Aliyun(a) => a.validate(),
        }
    }
    pub async fn send(&self, n: &Notification) -> Result<DeliveryOutcome, DeliveryError> {
        match self {
            SmsSettings::Gateway(g) => g.send(n).await,
            SmsSettings::Aliyun(a) => a.send(n).await,
        }
    }
}

impl SmsGateway {
    pub fn validate(&self) -> Result<(), DeliveryError> {
        check_url(
            "SMS gateway",
            &self
                .url
                .replace("{phone}", "0")
                .replace("{message}", "m")
                .replace("{title}", "t")
                .replace("{severity}", "s"),
            false,
            false,
        )?;
        check_phones(&self.phones)?;
        if self.method == HttpMethod::Post && self.body_template.trim().is_empty() {
            return Err(DeliveryError::permanent(
                "SMS gateway: POST with an empty body template",
            ));
        }
        if let Some((k, v)) = &self.auth_header {
            reqwest::header::HeaderName::from_bytes(k.as_bytes())
                .map_err(|_| DeliveryError::permanent(format!("SMS gateway: invalid auth header name '{k}'")))?;
            if v.is_empty() {
                return Err(DeliveryError::permanent(
                    "SMS gateway: the auth header's value (secret) is empty",
                ));
            }
            reqwest::header::HeaderValue::from_str(v)
                .map_err(|_| DeliveryError::permanent(format!("SMS gateway: invalid value for header '{k}'")))?;
        }
        Ok(())
    }

    /// One request per phone; the first failure stops (earlier phones got theirs).
    pub async fn send(&self, n: &Notification) -> Result<DeliveryOutcome, DeliveryError> {
        self.validate()?;
        let client =
            crate::engine::http::client_pinned(self.timeout, self.pin.as_ref()).map_err(DeliveryError::permanent)?;
        let secrets: Vec<&str> = self.auth_header.as_ref().map(|(_, v)| v.as_str()).into_iter().collect();
        let ct = self
            .content_type
            .clone()
            .unwrap_or_else(|| "application/json".to_string());
        let esc = if ct.contains("json") {
            Escape::Json
        } else if ct.contains("x-www-form-urlencoded") {
            Escape::Url
        } else {
            Escape::None
        };
        let mut last = None;
        for phone in self.phones.iter().map(|p| p.trim()).filter(|p| !p.is_empty()) {
            let url = render(&self.url, phone, n, Escape::Url);
            let mut req = match self.method {
                HttpMethod::Get => client.get(&url),
                HttpMethod::Post => client.post(&url).header("Content-Type", ct.as_str()).body(render(
                    &self.body_template,
                    phone,
                    n,
                    esc,
                )),
            };
            if let Some((k, v)) = &self.auth_header {
                req = req.header(k.as_str(), v.as_str());
            }
            last = Some(send_http("SMS gateway", req, &secrets, None).await?);
        }
        Ok(last.expect("validated: at least one phone"))
    }
}

impl AliyunSms {
    /// Aliyun SMS at the public endpoint, region cn-hangzhou, template param `{"message":…}`.
    pub fn new(
        access_key_id: &str,
        access_key_secret: &str,
        sign_name: &str,
        template_code: &str,
        phones: &[&str],
    ) -> Self {
        AliyunSms {
            endpoint: ALIYUN_SMS_ENDPOINT.to_string(),
            access_key_id: access_key_id.to_string(),
            access_key_secret: access_key_secret.to_string(),
            sign_name: sign_name.to_string(),
            template_code: template_code.to_string(),
            template_param: r#"{"message":"{message}"}"#.to_string(),
            phones: phones.iter().map(|s| s.to_string()).collect(),
            region_id: "cn-hangzhou".to_string(),
            timeout: Duration::from_secs(15),
            pin: None,
        }
    }

    pub fn validate(&self) -> Result<(), DeliveryError> {
        // https, or http to the loopback (tests): the query carries a signature, not the secret
        check_url("Aliyun SMS", &self.endpoint, true, true)?;
        if self.access_key_id.trim().is_empty() {
            return Err(DeliveryError::permanent("Aliyun SMS: the AccessKey ID is missing"));
        }
        if self.access_key_secret.is_empty() {
            return Err(DeliveryError::permanent("Aliyun SMS: the AccessKey secret is missing"));
        }
        if self.sign_name.trim().is_empty() {
            return Err(DeliveryError::permanent(
                "Aliyun SMS: the signature name (SignName) is missing",
            ));
        }
        if self.template_code.trim().is_empty() {
            return Err(DeliveryError::permanent(
                "Aliyun SMS: the template code (TemplateCode) is missing",
            ));
        }
        check_phones(&self.phones)?;
        let probe = self
            .template_param
            .replace("{message}", "m")
            .replace("{title}", "t")
            .replace("{severity}", "s")
            .replace("{phone}", "0");
        match serde_json::from_str::<Value>(&probe) {
            Ok(Value::Object(_)) => Ok(()),
            _ => Err(DeliveryError::permanent(
                "Aliyun SMS: the template parameters are not a JSON object",
            )),
        }
    }

    /// The signed query of `SendSms` (common parameters, action parameters, `Signature`).
    pub fn signed_query(&self, n: &Notification, timestamp: &str, nonce: &str) -> String {
        let phones: Vec<&str> = self.phones.iter().map(|p| p.trim()).filter(|p| !p.is_empty()).collect();
        let mut p: BTreeMap<String, String> = BTreeMap::new();
        for (k, v) in [
            ("Action", "SendSms"),
            ("Version", ALIYUN_SMS_VERSION),
            ("Format", "JSON"),
            ("AccessKeyId", self.access_key_id.trim()),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureVersion", "1.0"),
            ("SignatureNonce", nonce),
            ("Timestamp", timestamp),
            ("RegionId", self.region_id.as_str()),
            ("SignName", self.sign_name.trim()),
            ("TemplateCode", self.template_code.trim()),
        ] {
            p.insert(k.to_string(), v.to_string());
        }
        p.insert("PhoneNumbers".into(), phones.join(","));
        p.insert(
            "TemplateParam".into(),
            render(
                &self.template_param,
                phones.first().copied().unwrap_or(""),
                n,
                Escape::Json,
            ),
        );
        let sig = signature("GET", &p, &self.access_key_secret);
        p.insert("Signature".into(), sig);
        canonical_query(&p)
    }

    pub async fn send(&self, n: &Notification) -> Result<DeliveryOutcome, DeliveryError> {
        self.validate()?;
        let client =
            crate::engine::http::client_pinned(self.timeout, self.pin.as_ref()).map_err(DeliveryError::permanent)?;
        let ts = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
        let nonce = format!("{:032x}", rand::random::<u128>());
        let url = format!(
            "{}/?{}",
            self.endpoint.trim().trim_end_matches('/'),
            self.signed_query(n, &ts, &nonce)
        );
        let secrets = [self.access_key_secret.as_str()];
        send_http("Aliyun SMS", client.get(url), &secrets, Some(aliyun_check)).await
    }
}

fn aliyun_check(body: &str) -> Result<(), (bool, String)> {
    let v: Value = serde_json::from_str(body).map_err(|_| (false, "the answer is not JSON".to_string()))?;
    match v.get("Code").and_then(Value::as_str) {
        Some("OK") => Ok(()),
        Some(c) => {
            let transient = c.contains("LIMIT_CONTROL") || c.starts_with("Throttling") || c == "ServiceUnavailable";
            Err((
                transient,
                format!("{c}: {}", v.get("Message").and_then(Value::as_str).unwrap_or("")),
            ))
        }
        None => Err((false, "no Code in the answer".to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::dnsapi::aliyun::string_to_sign;

    /// Aliyun SMS's documented signature example (SendSms, AccessKeySecret testSecret):
    /// https://help.aliyun.com/document_detail/56189.html ("HTTP协议及签名", signature
    /// zJDF+Lrzhj/ThnlvIToysFRq6t4=).
    #[test]
    fn published_sendsms_vector() {
        let mut p: BTreeMap<String, String> = BTreeMap::new();
        for (k, v) in [
            ("AccessKeyId", "testId"),
            ("Action", "SendSms"),
            ("Format", "XML"),
            ("OutId", "123"),
            ("PhoneNumbers", "15300000001"),
            ("RegionId", "cn-hangzhou"),
            ("SignName", "阿里云短信测试专用"),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureNonce", "45e25e9b-0a6f-4070-8c85-2956eda1b466"),
            ("SignatureVersion", "1.0"),
            ("TemplateCode", "SMS_71390007"),
            ("TemplateParam", r#"{"customer":"test"}"#),
            ("Timestamp", "2017-07-12T02:42:19Z"),
            ("Version", "2017-05-25"),
        ] {
            p.insert(k.into(), v.into());
        }
        assert!(string_to_sign("GET", &p)
            .starts_with("GET&%2F&AccessKeyId%3DtestId%26Action%3DSendSms%26Format%3DXML%26OutId%3D123"));
        assert_eq!(signature("GET", &p, "testSecret"), "zJDF+Lrzhj/ThnlvIToysFRq6t4=");
    }

    #[test]
    fn template_escaping() {
        let mut n = crate::engine::notify::tests::sample();
        n.what_to_do = "say \"hi\" & {phone}".into();
        let j = render_template(
            r#"{"to":"{phone}","text":"{message}","sev":"{severity}"}"#,
            "+8613800000000",
            &n,
            true,
        );
        let v: Value = serde_json::from_str(&j).unwrap();
        assert_eq!(v["to"], "+8613800000000");
        assert_eq!(v["sev"], "error");
        assert!(v["text"].as_str().unwrap().ends_with("say \"hi\" & {phone}"));
        assert!(!render("a={message}", "1", &n, Escape::Url).contains(' '));
        assert_eq!(
            render("{x}{title}", "1", &n, Escape::None),
            "{x}example.com expires in 3 days"
        );
    }

    #[test]
    fn aliyun_errors_and_debug() {
        let mut a = AliyunSms::new("id", "", "sig", "SMS_1", &["13800000000"]);
        assert_eq!(
            a.validate().unwrap_err().message,
            "Aliyun SMS: the AccessKey secret is missing"
        );
        a.access_key_secret = "very-secret-value".into();
        assert!(a.validate().is_ok());
        assert!(!format!("{a:?}").contains("very-secret-value"));
        a.phones = vec!["12ab".into()];
        assert!(a
            .validate()
            .unwrap_err()
            .message
            .contains("invalid phone number '12ab'"));
    }
}
