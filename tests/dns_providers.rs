//! The dns-01 DNS hosting providers (Cloudflare, Aliyun DNS, DNSPod, Huawei Cloud DNS) against
//! local fakes of their APIs: a tiny HTTP/1.1 server per test that speaks the vendor's wire
//! format, checks every request's authentication on its own (Aliyun's and Huawei's signatures
//! and DNSPod's TC3 signature are recomputed here from the request as received, with this
//! file's own implementation of the published algorithms), keeps zones in memory and answers
//! with the vendor's errors. Every assertion is on the fake's zones, not on what the client
//! says it did.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};

use base64::Engine;
use certdeck::engine::dnsapi::{self, DnsRecords};
use hmac::Mac;
use serde_json::{json, Value};
use sha2::Digest;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

// ---------------------------------------------------------------------------------------------
// The fake's world
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq)]
enum Vendor {
    Cloudflare,
    Aliyun,
    Dnspod,
    Huawei,
}

/// A record (Cloudflare, Aliyun, DNSPod: one value) or a record set (Huawei: its values).
#[derive(Clone, Debug, PartialEq)]
struct Rec {
    id: String,
    /// Full name, lowercase, no trailing dot.
    name: String,
    rtype: String,
    /// Values as published, without TXT quotes.
    values: Vec<String>,
    ttl: u64,
}

#[derive(Clone, Debug, PartialEq)]
struct Zone {
    id: String,
    name: String,
    records: Vec<Rec>,
}

struct World {
    vendor: Vendor,
    zones: Vec<Zone>,
    next_id: u64,
    nonces: HashSet<String>,
}

impl World {
    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }
    fn zone_by_id(&mut self, id: &str) -> Option<&mut Zone> {
        self.zones.iter_mut().find(|z| z.id == id)
    }
    fn zone_by_name(&mut self, name: &str) -> Option<&mut Zone> {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        self.zones.iter_mut().find(|z| z.name == name)
    }
}

type Shared = Arc<Mutex<World>>;

const CF_TOKEN: &str = "cf-good-token-7f3a9c";
const ALI_ID: &str = "LTAI5tTestAccessKeyId";
const ALI_SECRET: &str = "ali-good-secret-2b8e71";
const TC_ID: &str = "AKIDtestSecretId0123456789";
const TC_KEY: &str = "tc-good-secret-key-5d0c4a";
const HW_AK: &str = "HWTESTACCESSKEY01234";
const HW_SK: &str = "hw-good-secret-key-9e1f22";
const WRONG: &str = "wrong-secret-value-31415";

fn seed(vendor: Vendor, zones: &[&str]) -> World {
    let mut w = World {
        vendor,
        zones: Vec::new(),
        next_id: 1000,
        nonces: HashSet::new(),
    };
    for name in zones {
        let id = match vendor {
            Vendor::Cloudflare => format!("cfzone{:04}", w.id()),
            Vendor::Huawei => format!("ff8080825b8fc86c{:04}", w.id()),
            Vendor::Aliyun | Vendor::Dnspod => w.id().to_string(),
        };
        let mut zone = Zone {
            id,
            name: name.to_string(),
            records: Vec::new(),
        };
        let www = w.id().to_string();
        zone.records.push(Rec {
            id: www,
            name: format!("www.{name}"),
            rtype: "A".into(),
            values: vec!["192.0.2.1".into()],
            ttl: 3600,
        });
        let spf = w.id().to_string();
        zone.records.push(Rec {
            id: spf,
            name: name.to_string(),
            rtype: "TXT".into(),
            values: vec!["v=spf1 -all".into()],
            ttl: 3600,
        });
        w.zones.push(zone);
    }
    w
}

/// The TXT values published at `fqdn` in zone `zone`, sorted.
fn txt(world: &Shared, zone: &str, fqdn: &str) -> Vec<String> {
    let w = world.lock().unwrap();
    let z = w.zones.iter().find(|z| z.name == zone).expect("zone");
    let mut v: Vec<String> = z
        .records
        .iter()
        .filter(|r| r.rtype == "TXT" && r.name == fqdn)
        .flat_map(|r| r.values.clone())
        .collect();
    v.sort();
    v
}

/// The records (or record sets) at `fqdn` in `zone`.
fn records_at(world: &Shared, zone: &str, fqdn: &str) -> Vec<Rec> {
    let w = world.lock().unwrap();
    let z = w.zones.iter().find(|z| z.name == zone).expect("zone");
    z.records.iter().filter(|r| r.name == fqdn).cloned().collect()
}

fn zones(world: &Shared) -> Vec<Zone> {
    world.lock().unwrap().zones.clone()
}

// ---------------------------------------------------------------------------------------------
// A tiny HTTP/1.1 server
// ---------------------------------------------------------------------------------------------

struct Req {
    method: String,
    path: String,
    raw_query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Req {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    fn query(&self) -> Vec<(String, String)> {
        self.raw_query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (pct_decode(k), pct_decode(v))
            })
            .collect()
    }
    fn q(&self, key: &str) -> Option<String> {
        self.query().into_iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

fn pct_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                let h = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz");
                out.push(u8::from_str_radix(h, 16).unwrap_or(b'?'));
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap()
}

async fn read_request(sock: &mut tokio::net::TcpStream) -> Option<Req> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p;
        }
        let n = sock.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_string();
    let target = first.next()?.to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < len {
        let n = sock.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    let (path, raw_query) = match target.split_once('?') {
        Some((p, q)) => (p.to_string(), q.to_string()),
        None => (target.clone(), String::new()),
    };
    Some(Req {
        method,
        path,
        raw_query,
        headers,
        body,
    })
}

/// Starts the fake of `vendor` with `zone_names`; returns its base URL and its world.
async fn start(vendor: Vendor, zone_names: &[&str]) -> (String, Shared) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let world: Shared = Arc::new(Mutex::new(seed(vendor, zone_names)));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let w = world.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let w = w.clone();
            tokio::spawn(async move {
                let Some(req) = read_request(&mut sock).await else {
                    return;
                };
                let (status, body) = {
                    let mut world = w.lock().unwrap();
                    match world.vendor {
                        Vendor::Cloudflare => cloudflare(&mut world, &req),
                        Vendor::Aliyun => aliyun(&mut world, &req),
                        Vendor::Dnspod => dnspod(&mut world, &req),
                        Vendor::Huawei => huawei(&mut world, &req),
                    }
                };
                let body = body.to_string();
                let resp = format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(resp.as_bytes()).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    (format!("http://{addr}"), world)
}

// ---------------------------------------------------------------------------------------------
// This file's own implementations of the published algorithms (used to check requests)
// ---------------------------------------------------------------------------------------------

fn hmac256(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
    m.update(data);
    m.finalize().into_bytes().to_vec()
}

fn hexs(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn sha256hex(b: &[u8]) -> String {
    hexs(&sha2::Sha256::digest(b))
}

/// RFC 3986: only A-Z a-z 0-9 - _ . ~ stay literal.
fn rfc3986(s: &str) -> String {
    s.bytes()
        .map(|c| {
            if c.is_ascii_alphanumeric() || b"-_.~".contains(&c) {
                (c as char).to_string()
            } else {
                format!("%{c:02X}")
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Cloudflare v4
// ---------------------------------------------------------------------------------------------

fn cf_err(status: u16, code: u64, message: &str) -> (u16, Value) {
    (
        status,
        json!({"success": false, "errors": [{"code": code, "message": message}], "messages": [], "result": null}),
    )
}

fn cf_ok(result: Value) -> (u16, Value) {
    (
        200,
        json!({"success": true, "errors": [], "messages": [], "result": result}),
    )
}

fn cf_record(zone: &Zone, r: &Rec) -> Value {
    // Cloudflare returns TXT content in quotes.
    json!({"id": r.id, "zone_id": zone.id, "zone_name": zone.name, "name": r.name, "type": r.rtype,
           "content": format!("\"{}\"", r.values[0]), "ttl": r.ttl})
}

fn cloudflare(w: &mut World, req: &Req) -> (u16, Value) {
    if req.header("authorization") != Some(&format!("Bearer {CF_TOKEN}")) {
        return cf_err(403, 9109, "Invalid access token");
    }
    let parts: Vec<&str> = req.path.trim_start_matches('/').split('/').collect();
    match (req.method.as_str(), parts.as_slice()) {
        ("GET", ["zones"]) => {
            let name = req.q("name").unwrap_or_default();
            let found: Vec<Value> = w
                .zones
                .iter()
                .filter(|z| name.is_empty() || z.name == name)
                .map(|z| json!({"id": z.id, "name": z.name, "status": "active"}))
                .collect();
            cf_ok(Value::Array(found))
        }
        ("GET", ["zones", zid, "dns_records"]) => {
            let Some(zone) = w.zone_by_id(zid) else {
                return cf_err(
                    404,
                    7003,
                    "Could not route to /zones, perhaps your object identifier is invalid?",
                );
            };
            let (t, n) = (req.q("type"), req.q("name"));
            let found: Vec<Value> = zone
                .records
                .iter()
                .filter(|r| t.as_deref().is_none_or(|t| r.rtype == t) && n.as_deref().is_none_or(|n| r.name == n))
                .map(|r| cf_record(zone, r))
                .collect();
            cf_ok(Value::Array(found))
        }
        ("POST", ["zones", zid, "dns_records"]) => {
            if !req.header("content-type").unwrap_or("").starts_with("application/json") {
                return cf_err(400, 6003, "Invalid request headers");
            }
            let b = req.json();
            let id = format!("cfrec{:06}", w.id());
            let Some(zone) = w.zone_by_id(zid) else {
                return cf_err(404, 7003, "Could not route");
            };
            let (Some(t), Some(name), Some(content), Some(ttl)) = (
                b["type"].as_str(),
                b["name"].as_str(),
                b["content"].as_str(),
                b["ttl"].as_u64(),
            ) else {
                return cf_err(400, 9005, "Content for TXT record is invalid.");
            };
            if name != zone.name && !name.ends_with(&format!(".{}", zone.name)) {
                return cf_err(400, 9007, "Record name is not in the zone.");
            }
            if zone
                .records
                .iter()
                .any(|r| r.rtype == t && r.name == name && r.values[0] == content)
            {
                return cf_err(400, 81058, "An identical record already exists.");
            }
            let rec = Rec {
                id,
                name: name.into(),
                rtype: t.into(),
                values: vec![content.into()],
                ttl,
            };
            let v = cf_record(zone, &rec);
            zone.records.push(rec);
            cf_ok(v)
        }
        ("DELETE", ["zones", zid, "dns_records", rid]) => {
            let Some(zone) = w.zone_by_id(zid) else {
                return cf_err(404, 7003, "Could not route");
            };
            let before = zone.records.len();
            zone.records.retain(|r| r.id != *rid);
            if zone.records.len() == before {
                return cf_err(404, 81044, "Record does not exist.");
            }
            cf_ok(json!({"id": rid}))
        }
        _ => cf_err(400, 7000, "No route for that URI"),
    }
}

// ---------------------------------------------------------------------------------------------
// Aliyun DNS (RPC, signature v1)
// ---------------------------------------------------------------------------------------------

fn ali_err(status: u16, code: &str, message: &str) -> (u16, Value) {
    (
        status,
        json!({"RequestId": "F00D-REQ", "Code": code, "Message": message, "HostId": "alidns.aliyuncs.com"}),
    )
}

/// Recomputes the signature of the query as received (the published algorithm, written
/// out plainly here).
fn ali_expected_signature(params: &BTreeMap<String, String>, secret: &str) -> String {
    let canonical: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{}={}", rfc3986(k), rfc3986(v)))
        .collect();
    let sts = format!("GET&%2F&{}", rfc3986(&canonical.join("&")));
    let mut m = hmac::Hmac::<sha1::Sha1>::new_from_slice(format!("{secret}&").as_bytes()).unwrap();
    m.update(sts.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(m.finalize().into_bytes())
}

fn aliyun(w: &mut World, req: &Req) -> (u16, Value) {
    if req.method != "GET" || req.path != "/" {
        return ali_err(
            404,
            "InvalidAction.NotFound",
            "Specified api is not found, please check your url and method.",
        );
    }
    let mut p: BTreeMap<String, String> = req.query().into_iter().collect();
    let Some(sig) = p.remove("Signature") else {
        return ali_err(400, "MissingSignature", "Signature is mandatory for this action.");
    };
    for (k, v) in [
        ("Format", "JSON"),
        ("Version", "2015-01-09"),
        ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureVersion", "1.0"),
    ] {
        if p.get(k).map(String::as_str) != Some(v) {
            return ali_err(400, "InvalidParameter", &format!("{k} is invalid."));
        }
    }
    if p.get("AccessKeyId").map(String::as_str) != Some(ALI_ID) {
        return ali_err(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.");
    }
    let ts = p.get("Timestamp").cloned().unwrap_or_default();
    match chrono::NaiveDateTime::parse_from_str(&ts, "%Y-%m-%dT%H:%M:%SZ") {
        Ok(t) if (chrono::Utc::now().naive_utc() - t).num_seconds().abs() < 900 => {}
        _ => {
            return ali_err(
                400,
                "InvalidTimeStamp.Format",
                "Specified time stamp or date value is not well formatted.",
            )
        }
    }
    if sig != ali_expected_signature(&p, ALI_SECRET) {
        return ali_err(
            400,
            "SignatureDoesNotMatch",
            "Specified signature is not matched with our calculation.",
        );
    }
    let nonce = p.get("SignatureNonce").cloned().unwrap_or_default();
    if nonce.is_empty() || !w.nonces.insert(nonce) {
        return ali_err(400, "SignatureNonceUsed", "Specified signature nonce was used already.");
    }
    let get = |k: &str| p.get(k).cloned().unwrap_or_default();
    match get("Action").as_str() {
        "DescribeDomains" => {
            let size: usize = get("PageSize").parse().unwrap_or(20);
            let page: usize = get("PageNumber").parse().unwrap_or(1);
            let all: Vec<Value> = w
                .zones
                .iter()
                .map(|z| json!({"DomainName": z.name, "DomainId": format!("dom-{}", z.id)}))
                .collect();
            let slice: Vec<Value> = all.iter().skip((page - 1) * size).take(size).cloned().collect();
            (
                200,
                json!({"RequestId": "R", "TotalCount": all.len(), "PageNumber": page, "PageSize": size, "Domains": {"Domain": slice}}),
            )
        }
        "AddDomainRecord" => {
            let id = w.id().to_string();
            let Some(zone) = w.zone_by_name(&get("DomainName")) else {
                return ali_err(
                    400,
                    "InvalidDomainName.NoExist",
                    "The specified domain name does not exist.",
                );
            };
            let rr = get("RR");
            let name = if rr == "@" {
                zone.name.clone()
            } else {
                format!("{rr}.{}", zone.name)
            };
            let ttl: u64 = get("TTL").parse().unwrap_or(600);
            if ttl < 600 {
                return ali_err(
                    400,
                    "DomainRecordTTLInvalid",
                    "The TTL is not allowed for this edition.",
                );
            }
            let (t, v) = (get("Type"), get("Value"));
            if zone
                .records
                .iter()
                .any(|r| r.name == name && r.rtype == t && r.values[0] == v)
            {
                return ali_err(400, "DomainRecordDuplicate", "The DNS record already exists.");
            }
            zone.records.push(Rec {
                id: id.clone(),
                name,
                rtype: t,
                values: vec![v],
                ttl,
            });
            (200, json!({"RequestId": "R", "RecordId": id}))
        }
        "DescribeSubDomainRecords" => {
            let sub = get("SubDomain").to_ascii_lowercase();
            let t = p.get("Type").cloned();
            let zone = match p.get("DomainName") {
                Some(d) => w.zones.iter().find(|z| &z.name == d),
                // Without DomainName the real API guesses the domain from SubDomain.
                None => w
                    .zones
                    .iter()
                    .filter(|z| sub.ends_with(&z.name))
                    .max_by_key(|z| z.name.len()),
            };
            let Some(zone) = zone else {
                return ali_err(
                    400,
                    "InvalidDomainName.NoExist",
                    "The specified domain name does not exist.",
                );
            };
            let found: Vec<Value> = zone
                .records
                .iter()
                .filter(|r| r.name == sub && t.as_ref().is_none_or(|t| &r.rtype == t))
                .map(|r| {
                    let rr = if r.name == zone.name { "@".to_string() } else { r.name.trim_end_matches(&format!(".{}", zone.name)).to_string() };
                    json!({"RecordId": r.id, "RR": rr, "Type": r.rtype, "Value": r.values[0], "TTL": r.ttl, "DomainName": zone.name, "Line": "default", "Status": "ENABLE"})
                })
                .collect();
            (
                200,
                json!({"RequestId": "R", "TotalCount": found.len(), "PageNumber": 1, "PageSize": 100, "DomainRecords": {"Record": found}}),
            )
        }
        "DeleteDomainRecord" => {
            let id = get("RecordId");
            for z in &mut w.zones {
                if let Some(i) = z.records.iter().position(|r| r.id == id) {
                    z.records.remove(i);
                    return (200, json!({"RequestId": "R", "RecordId": id}));
                }
            }
            ali_err(
                400,
                "DomainRecordNotBelongToUser",
                "The DNS record does not exist or does not belong to the user.",
            )
        }
        _ => ali_err(
            404,
            "InvalidAction.NotFound",
            "Specified api is not found, please check your url and method.",
        ),
    }
}

// ---------------------------------------------------------------------------------------------
// DNSPod (Tencent Cloud API 3.0, TC3-HMAC-SHA256)
// ---------------------------------------------------------------------------------------------

fn tc_err(code: &str, message: &str) -> (u16, Value) {
    (
        200,
        json!({"Response": {"Error": {"Code": code, "Message": message}, "RequestId": "tc-req"}}),
    )
}

fn tc_ok(mut v: Value) -> (u16, Value) {
    v["RequestId"] = json!("tc-req");
    (200, json!({"Response": v}))
}

/// Checks the TC3-HMAC-SHA256 Authorization against the request as received.
fn tc_check(req: &Req) -> Result<(), (u16, Value)> {
    let auth = req.header("authorization").unwrap_or("");
    let rest = auth
        .strip_prefix("TC3-HMAC-SHA256 ")
        .ok_or_else(|| tc_err("AuthFailure.InvalidAuthorization", "Authorization is invalid."))?;
    let mut fields = BTreeMap::new();
    for part in rest.split(", ") {
        if let Some((k, v)) = part.split_once('=') {
            fields.insert(k.to_string(), v.to_string());
        }
    }
    let cred = fields.get("Credential").cloned().unwrap_or_default();
    let cparts: Vec<&str> = cred.split('/').collect();
    if cparts.len() != 4 || cparts[3] != "tc3_request" {
        return Err(tc_err("AuthFailure.InvalidAuthorization", "Credential is invalid."));
    }
    if cparts[0] != TC_ID {
        return Err(tc_err(
            "AuthFailure.SecretIdNotFound",
            "The SecretId is not found, please ensure that your SecretId exists.",
        ));
    }
    let ts: i64 = req.header("x-tc-timestamp").and_then(|t| t.parse().ok()).unwrap_or(0);
    if (chrono::Utc::now().timestamp() - ts).abs() > 300 {
        return Err(tc_err("AuthFailure.SignatureExpire", "Signature expired."));
    }
    let date = chrono::DateTime::from_timestamp(ts, 0)
        .unwrap()
        .format("%Y-%m-%d")
        .to_string();
    let (cdate, service) = (cparts[1], cparts[2]);
    let signed = fields.get("SignedHeaders").cloned().unwrap_or_default();
    if cdate != date || service != "dnspod" || signed != "content-type;host" {
        return Err(tc_err(
            "AuthFailure.SignatureFailure",
            "The provided credentials could not be validated (scope).",
        ));
    }
    let canonical = format!(
        "{}\n/\n{}\ncontent-type:{}\nhost:{}\n\n{signed}\n{}",
        req.method,
        req.raw_query,
        req.header("content-type").unwrap_or("").to_ascii_lowercase(),
        req.header("host").unwrap_or("").to_ascii_lowercase(),
        sha256hex(&req.body)
    );
    let sts = format!(
        "TC3-HMAC-SHA256\n{ts}\n{cdate}/{service}/tc3_request\n{}",
        sha256hex(canonical.as_bytes())
    );
    let k = hmac256(
        &hmac256(
            &hmac256(format!("TC3{TC_KEY}").as_bytes(), cdate.as_bytes()),
            service.as_bytes(),
        ),
        b"tc3_request",
    );
    if fields.get("Signature").map(String::as_str) != Some(hexs(&hmac256(&k, sts.as_bytes())).as_str()) {
        return Err(tc_err(
            "AuthFailure.SignatureFailure",
            "The provided credentials could not be validated. Please check your signature is correct.",
        ));
    }
    Ok(())
}

fn dnspod(w: &mut World, req: &Req) -> (u16, Value) {
    if req.method != "POST" || req.path != "/" {
        return tc_err("UnsupportedOperation", "POST / only");
    }
    if let Err(e) = tc_check(req) {
        return e;
    }
    if req.header("x-tc-version") != Some("2021-03-23") {
        return tc_err("InvalidParameterValue", "The Version is invalid.");
    }
    let b = req.json();
    let s = |k: &str| b[k].as_str().unwrap_or("").to_string();
    match req.header("x-tc-action").unwrap_or("") {
        "DescribeDomainList" => {
            let offset = b["Offset"].as_u64().unwrap_or(0) as usize;
            let limit = b["Limit"].as_u64().unwrap_or(20) as usize;
            let list: Vec<Value> = w
                .zones
                .iter()
                .skip(offset)
                .take(limit)
                .map(|z| json!({"DomainId": z.id.parse::<u64>().unwrap(), "Name": z.name, "Status": "ENABLE"}))
                .collect();
            let n = w.zones.len();
            tc_ok(json!({"DomainCountInfo": {"DomainTotal": n, "AllTotal": n}, "DomainList": list}))
        }
        "CreateRecord" => {
            let id = w.id();
            let Some(zone) = w.zone_by_name(&s("Domain")) else {
                return tc_err("InvalidParameterValue.DomainNotExists", "The domain does not exist.");
            };
            if s("RecordLine") != "默认" {
                return tc_err("InvalidParameter.RecordLineInvalid", "The record line is invalid.");
            }
            let ttl = b["TTL"].as_u64().unwrap_or(600);
            if ttl < 600 {
                return tc_err(
                    "InvalidParameter.DomainRecordTTLInvalid",
                    "The TTL is out of range for this plan.",
                );
            }
            let sub = s("SubDomain");
            let name = if sub == "@" {
                zone.name.clone()
            } else {
                format!("{sub}.{}", zone.name)
            };
            zone.records.push(Rec {
                id: id.to_string(),
                name,
                rtype: s("RecordType"),
                values: vec![s("Value")],
                ttl,
            });
            tc_ok(json!({"RecordId": id}))
        }
        "DescribeRecordList" => {
            let Some(zone) = w.zone_by_name(&s("Domain")) else {
                return tc_err("InvalidParameterValue.DomainNotExists", "The domain does not exist.");
            };
            let sub = b["Subdomain"].as_str().map(str::to_string);
            let t = b["RecordType"].as_str().map(str::to_string);
            let zname = zone.name.clone();
            let list: Vec<Value> = zone
                .records
                .iter()
                .map(|r| (if r.name == zname { "@".to_string() } else { r.name.trim_end_matches(&format!(".{zname}")).to_string() }, r))
                .filter(|(n, r)| sub.as_ref().is_none_or(|s| s == n) && t.as_ref().is_none_or(|t| &r.rtype == t))
                .map(|(n, r)| json!({"RecordId": r.id.parse::<u64>().unwrap(), "Name": n, "Type": r.rtype, "Value": r.values[0], "TTL": r.ttl, "Line": "默认"}))
                .collect();
            if list.is_empty() {
                return tc_err("ResourceNotFound.NoDataOfRecord", "记录列表为空。");
            }
            let n = list.len();
            tc_ok(json!({"RecordCountInfo": {"TotalCount": n, "ListCount": n}, "RecordList": list}))
        }
        "DeleteRecord" => {
            let Some(zone) = w.zone_by_name(&s("Domain")) else {
                return tc_err("InvalidParameterValue.DomainNotExists", "The domain does not exist.");
            };
            let id = b["RecordId"].as_u64().map(|i| i.to_string()).unwrap_or_default();
            let before = zone.records.len();
            zone.records.retain(|r| r.id != id);
            if zone.records.len() == before {
                return tc_err("InvalidParameter.RecordIdInvalid", "The record ID is invalid.");
            }
            tc_ok(json!({}))
        }
        _ => tc_err("InvalidAction", "The action is not found."),
    }
}

// ---------------------------------------------------------------------------------------------
// Huawei Cloud DNS (v2, AK/SK SDK-HMAC-SHA256)
// ---------------------------------------------------------------------------------------------

fn hw_err(status: u16, code: &str, message: &str) -> (u16, Value) {
    (status, json!({"code": code, "message": message}))
}

fn apigw_err(message: &str) -> (u16, Value) {
    (
        401,
        json!({"error_msg": message, "error_code": "APIGW.0301", "request_id": "hw-req"}),
    )
}

/// Checks the SDK-HMAC-SHA256 Authorization against the request as received.
fn hw_check(req: &Req) -> Result<(), (u16, Value)> {
    let auth = req.header("authorization").unwrap_or("");
    let rest = auth
        .strip_prefix("SDK-HMAC-SHA256 ")
        .ok_or_else(|| apigw_err("Incorrect IAM authentication information: Authorization format incorrect"))?;
    let mut fields = BTreeMap::new();
    for part in rest.split(", ") {
        if let Some((k, v)) = part.split_once('=') {
            fields.insert(k.to_string(), v.to_string());
        }
    }
    if fields.get("Access").map(String::as_str) != Some(HW_AK) {
        return Err(apigw_err("Incorrect IAM authentication information: ak not found"));
    }
    let date = req.header("x-sdk-date").unwrap_or("");
    match chrono::NaiveDateTime::parse_from_str(date, "%Y%m%dT%H%M%SZ") {
        Ok(t) if (chrono::Utc::now().naive_utc() - t).num_seconds().abs() < 900 => {}
        _ => {
            return Err(apigw_err(
                "Incorrect IAM authentication information: x-sdk-date is invalid",
            ))
        }
    }
    let signed = fields.get("SignedHeaders").cloned().unwrap_or_default();
    let names: Vec<&str> = signed.split(';').collect();
    if !names.contains(&"host") || !names.contains(&"x-sdk-date") {
        return Err(apigw_err(
            "Incorrect IAM authentication information: host and x-sdk-date must be signed",
        ));
    }
    let mut uri = req
        .path
        .split('/')
        .map(|s| rfc3986(&pct_decode(s)))
        .collect::<Vec<_>>()
        .join("/");
    if !uri.ends_with('/') {
        uri.push('/');
    }
    let mut q: Vec<(String, String)> = req.query().iter().map(|(k, v)| (rfc3986(k), rfc3986(v))).collect();
    q.sort();
    let query = q.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&");
    let headers: String = names
        .iter()
        .map(|n| format!("{n}:{}\n", req.header(n).unwrap_or("").trim()))
        .collect();
    let canonical = format!(
        "{}\n{uri}\n{query}\n{headers}\n{signed}\n{}",
        req.method,
        sha256hex(&req.body)
    );
    let sts = format!("SDK-HMAC-SHA256\n{date}\n{}", sha256hex(canonical.as_bytes()));
    if fields.get("Signature").map(String::as_str) != Some(hexs(&hmac256(HW_SK.as_bytes(), sts.as_bytes())).as_str()) {
        return Err(apigw_err(
            "Incorrect IAM authentication information: verify aksk signature fail",
        ));
    }
    Ok(())
}

fn hw_set(zone: &Zone, r: &Rec) -> Value {
    let records: Vec<String> = r.values.iter().map(|v| format!("\"{v}\"")).collect();
    json!({"id": r.id, "name": format!("{}.", r.name), "type": r.rtype, "ttl": r.ttl, "records": records,
           "zone_id": zone.id, "zone_name": format!("{}.", zone.name), "status": "ACTIVE"})
}

/// TXT values in a record set must each be in double quotes; returns them unquoted.
fn hw_values(b: &Value) -> Result<Vec<String>, (u16, Value)> {
    let recs = b["records"]
        .as_array()
        .ok_or_else(|| hw_err(400, "DNS.0303", "The records is invalid."))?;
    recs.iter()
        .map(|v| {
            let s = v.as_str().unwrap_or("");
            match s.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
                Some(inner) if s.len() >= 2 => Ok(inner.to_string()),
                _ => Err(hw_err(
                    400,
                    "DNS.0303",
                    "Record value of TXT type must be enclosed in double quotation marks.",
                )),
            }
        })
        .collect()
}

fn huawei(w: &mut World, req: &Req) -> (u16, Value) {
    if let Err(e) = hw_check(req) {
        return e;
    }
    let parts: Vec<&str> = req.path.trim_start_matches('/').split('/').collect();
    let page = |total: usize| -> (usize, usize) {
        (
            req.q("offset").and_then(|o| o.parse().ok()).unwrap_or(0),
            req.q("limit").and_then(|l| l.parse().ok()).unwrap_or(total),
        )
    };
    match (req.method.as_str(), parts.as_slice()) {
        ("GET", ["v2", "zones"]) => {
            let (offset, limit) = page(w.zones.len());
            let list: Vec<Value> = w
                .zones
                .iter()
                .skip(offset)
                .take(limit)
                .map(|z| json!({"id": z.id, "name": format!("{}.", z.name), "zone_type": "public", "status": "ACTIVE"}))
                .collect();
            (200, json!({"zones": list, "metadata": {"total_count": w.zones.len()}}))
        }
        ("GET", ["v2", "zones", zid, "recordsets"]) => {
            let Some(zone) = w.zones.iter().find(|z| z.id == *zid) else {
                return hw_err(404, "DNS.0101", "The zone does not exist.");
            };
            let (name, t) = (req.q("name"), req.q("type"));
            // The real API's `name` is a fuzzy (substring) match.
            let all: Vec<&Rec> = zone
                .records
                .iter()
                .filter(|r| {
                    name.as_ref()
                        .is_none_or(|n| format!("{}.", r.name).contains(n.as_str()))
                        && t.as_ref().is_none_or(|t| &r.rtype == t)
                })
                .collect();
            let (offset, limit) = page(all.len());
            let list: Vec<Value> = all.iter().skip(offset).take(limit).map(|r| hw_set(zone, r)).collect();
            (200, json!({"recordsets": list, "metadata": {"total_count": all.len()}}))
        }
        ("POST", ["v2", "zones", zid, "recordsets"]) => {
            let b = req.json();
            let id = format!("2c9eb155{:08}", w.id());
            let Some(zone) = w.zone_by_id(zid) else {
                return hw_err(404, "DNS.0101", "The zone does not exist.");
            };
            let name = b["name"].as_str().unwrap_or("");
            let Some(name) = name.strip_suffix('.') else {
                return hw_err(400, "DNS.0304", "The name must end with a dot.");
            };
            if name != zone.name && !name.ends_with(&format!(".{}", zone.name)) {
                return hw_err(400, "DNS.0304", "The name is not in the zone.");
            }
            let t = b["type"].as_str().unwrap_or("").to_string();
            let values = match hw_values(&b) {
                Ok(v) => v,
                Err(e) => return e,
            };
            if zone.records.iter().any(|r| r.name == name && r.rtype == t) {
                return hw_err(
                    400,
                    "DNS.0312",
                    "Attribute 'name' conflicts with an existing record set of the same type.",
                );
            }
            let rec = Rec {
                id,
                name: name.into(),
                rtype: t,
                values,
                ttl: b["ttl"].as_u64().unwrap_or(300),
            };
            let v = hw_set(zone, &rec);
            zone.records.push(rec);
            (202, v)
        }
        ("PUT", ["v2", "zones", zid, "recordsets", rid]) => {
            let b = req.json();
            let values = match hw_values(&b) {
                Ok(v) => v,
                Err(e) => return e,
            };
            let Some(zone) = w.zone_by_id(zid) else {
                return hw_err(404, "DNS.0101", "The zone does not exist.");
            };
            let zc = zone.clone();
            let Some(r) = zone.records.iter_mut().find(|r| r.id == *rid) else {
                return hw_err(404, "DNS.0301", "The record set does not exist.");
            };
            r.values = values;
            if let Some(ttl) = b["ttl"].as_u64() {
                r.ttl = ttl;
            }
            let v = hw_set(&zc, r);
            (202, v)
        }
        ("DELETE", ["v2", "zones", zid, "recordsets", rid]) => {
            let Some(zone) = w.zone_by_id(zid) else {
                return hw_err(404, "DNS.0101", "The zone does not exist.");
            };
            let before = zone.records.len();
            zone.records.retain(|r| r.id != *rid);
            if zone.records.len() == before {
                return hw_err(404, "DNS.0301", "The record set does not exist.");
            }
            (202, json!({"id": rid}))
        }
        _ => hw_err(
            404,
            "APIGW.0101",
            "The API does not exist or has not been published in the environment.",
        ),
    }
}

// ---------------------------------------------------------------------------------------------
// Providers under test
// ---------------------------------------------------------------------------------------------

fn provider_type(v: Vendor) -> &'static str {
    match v {
        Vendor::Cloudflare => "cloudflare",
        Vendor::Aliyun => "aliyun",
        Vendor::Dnspod => "dnspod",
        Vendor::Huawei => "huaweicloud",
    }
}

fn good_secrets(v: Vendor) -> Value {
    match v {
        Vendor::Cloudflare => json!({"api_token": CF_TOKEN}),
        Vendor::Aliyun => json!({"access_key_id": ALI_ID, "access_key_secret": ALI_SECRET}),
        Vendor::Dnspod => json!({"secret_id": TC_ID, "secret_key": TC_KEY}),
        Vendor::Huawei => json!({"access_key_id": HW_AK, "secret_access_key": HW_SK}),
    }
}

/// The same credentials with the secret part wrong.
fn wrong_secrets(v: Vendor) -> Value {
    match v {
        Vendor::Cloudflare => json!({"api_token": WRONG}),
        Vendor::Aliyun => json!({"access_key_id": ALI_ID, "access_key_secret": WRONG}),
        Vendor::Dnspod => json!({"secret_id": TC_ID, "secret_key": WRONG}),
        Vendor::Huawei => json!({"access_key_id": HW_AK, "secret_access_key": WRONG}),
    }
}

fn default_ttl(v: Vendor) -> u64 {
    match v {
        Vendor::Cloudflare => 60,
        Vendor::Aliyun | Vendor::Dnspod => 600,
        Vendor::Huawei => 300,
    }
}

fn provider(v: Vendor, endpoint: &str, secrets: &Value) -> Box<dyn DnsRecords> {
    dnsapi::build(provider_type(v), &json!({"endpoint": endpoint}), secrets).expect("build")
}

// ---------------------------------------------------------------------------------------------
// Scenarios, run for each vendor
// ---------------------------------------------------------------------------------------------

/// A TXT record is added (with the vendor's TTL) and deleted; the zone ends as it began and
/// a second delete of the absent record is no error.
async fn add_then_delete(v: Vendor) {
    let (endpoint, world) = start(v, &["example.com"]).await;
    let before = zones(&world);
    let p = provider(v, &endpoint, &good_secrets(v));
    let name = "_acme-challenge.example.com";
    p.add_txt(name, "tok-abc_123").await.unwrap();
    assert_eq!(txt(&world, "example.com", name), ["tok-abc_123"]);
    let recs = records_at(&world, "example.com", name);
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].ttl, default_ttl(v));
    p.delete_txt(name, "tok-abc_123").await.unwrap();
    assert!(txt(&world, "example.com", name).is_empty());
    assert_eq!(zones(&world), before, "other records untouched, nothing left behind");
    p.delete_txt(name, "tok-abc_123").await.unwrap();
    assert_eq!(zones(&world), before);
}

/// Wildcard + apex: two values at one name, then one deleted: the other stays.
async fn two_values_then_delete_one(v: Vendor) {
    let (endpoint, world) = start(v, &["example.com"]).await;
    let before = zones(&world);
    let p = provider(v, &endpoint, &good_secrets(v));
    let name = "_acme-challenge.example.com";
    p.add_txt(name, "wildcard-token").await.unwrap();
    p.add_txt(name, "apex-token").await.unwrap();
    assert_eq!(txt(&world, "example.com", name), ["apex-token", "wildcard-token"]);
    // Huawei keeps both values in one record set; the others publish two records.
    let expected_sets = if v == Vendor::Huawei { 1 } else { 2 };
    assert_eq!(records_at(&world, "example.com", name).len(), expected_sets);
    p.delete_txt(name, "wildcard-token").await.unwrap();
    assert_eq!(txt(&world, "example.com", name), ["apex-token"]);
    p.delete_txt(name, "apex-token").await.unwrap();
    assert_eq!(zones(&world), before);
}

/// With zones example.com and sub.example.com, a name under sub.example.com goes to that zone
/// and one under xsub.example.com to example.com.
async fn longest_suffix(v: Vendor) {
    let (endpoint, world) = start(v, &["example.com", "sub.example.com"]).await;
    let before = zones(&world);
    let p = provider(v, &endpoint, &good_secrets(v));
    p.add_txt("_acme-challenge.sub.example.com", "in-sub").await.unwrap();
    p.add_txt("_acme-challenge.xsub.example.com", "in-parent")
        .await
        .unwrap();
    p.add_txt("_acme-challenge.www.sub.example.com", "deep").await.unwrap();
    assert_eq!(
        txt(&world, "sub.example.com", "_acme-challenge.sub.example.com"),
        ["in-sub"]
    );
    assert_eq!(
        txt(&world, "sub.example.com", "_acme-challenge.www.sub.example.com"),
        ["deep"]
    );
    assert_eq!(
        txt(&world, "example.com", "_acme-challenge.xsub.example.com"),
        ["in-parent"]
    );
    assert!(txt(&world, "example.com", "_acme-challenge.sub.example.com").is_empty());
    let parent = zones(&world).into_iter().find(|z| z.name == "example.com").unwrap();
    assert_eq!(parent.records.len(), 3, "only the xsub record joined example.com");
    p.delete_txt("_acme-challenge.sub.example.com", "in-sub").await.unwrap();
    p.delete_txt("_acme-challenge.xsub.example.com", "in-parent")
        .await
        .unwrap();
    p.delete_txt("_acme-challenge.www.sub.example.com", "deep")
        .await
        .unwrap();
    assert_eq!(zones(&world), before);
}

/// A wrong secret: the vendor's error code and message come back, no secret in the text,
/// and the zone is unchanged.
async fn wrong_credentials(v: Vendor, code: &str, message: &str) {
    let (endpoint, world) = start(v, &["example.com"]).await;
    let before = zones(&world);
    let p = provider(v, &endpoint, &wrong_secrets(v));
    let err = p.add_txt("_acme-challenge.example.com", "tok").await.unwrap_err();
    assert!(err.contains(code), "{err}");
    assert!(err.contains(message), "{err}");
    for secret in [WRONG, CF_TOKEN, ALI_SECRET, TC_KEY, HW_SK] {
        assert!(!err.contains(secret), "secret in {err}");
    }
    let err = p.delete_txt("_acme-challenge.example.com", "tok").await.unwrap_err();
    assert!(err.contains(code), "{err}");
    assert_eq!(zones(&world), before);
}

/// Each required secret, missing or empty, is refused by `build` naming the field.
fn missing_secret(v: Vendor) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let spec = dnsapi::PROVIDERS
        .iter()
        .find(|s| s.provider_type == provider_type(v))
        .expect("in PROVIDERS");
    let good = good_secrets(v);
    let keys: Vec<&str> = good.as_object().unwrap().keys().map(String::as_str).collect();
    let mut declared: Vec<&str> = spec.secrets.to_vec();
    declared.sort();
    assert_eq!(declared, keys, "PROVIDERS lists the secrets build takes");
    let settings = json!({"endpoint": "http://127.0.0.1:9"});
    for key in spec.secrets {
        let mut s = good.clone();
        s.as_object_mut().unwrap().remove(*key);
        let err = dnsapi::build(spec.provider_type, &settings, &s).err().expect("refused");
        assert!(err.contains(key) && err.contains("missing"), "{err}");
        s[*key] = json!("");
        let err = dnsapi::build(spec.provider_type, &settings, &s).err().expect("refused");
        assert!(err.contains(key) && err.contains("empty"), "{err}");
        for secret in [CF_TOKEN, ALI_SECRET, TC_KEY, HW_SK] {
            assert!(!err.contains(secret), "secret in {err}");
        }
    }
    assert!(dnsapi::build(spec.provider_type, &settings, &good).is_ok());
}

macro_rules! vendor_tests {
    ($m:ident, $v:expr, $code:expr, $msg:expr) => {
        mod $m {
            use super::*;
            #[tokio::test]
            async fn add_then_delete() {
                super::add_then_delete($v).await
            }
            #[tokio::test]
            async fn two_values_then_delete_one() {
                super::two_values_then_delete_one($v).await
            }
            #[tokio::test]
            async fn zone_by_longest_suffix() {
                super::longest_suffix($v).await
            }
            #[tokio::test]
            async fn wrong_credentials() {
                super::wrong_credentials($v, $code, $msg).await
            }
            #[test]
            fn missing_secret() {
                super::missing_secret($v)
            }
        }
    };
}

vendor_tests!(cloudflare, Vendor::Cloudflare, "9109", "Invalid access token");
vendor_tests!(
    aliyun,
    Vendor::Aliyun,
    "SignatureDoesNotMatch",
    "Specified signature is not matched"
);
vendor_tests!(
    dnspod,
    Vendor::Dnspod,
    "AuthFailure.SignatureFailure",
    "could not be validated"
);
vendor_tests!(huaweicloud, Vendor::Huawei, "APIGW.0301", "verify aksk signature fail");
