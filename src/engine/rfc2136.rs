//! dns-01 through RFC 2136 dynamic updates signed with TSIG (hmac-sha256/384/512), sent to the
//! zone's primary server (BIND, Knot, PowerDNS…). Records are added next to any others at the
//! name and removed by exact value afterwards. The dns-01 solver (`engine::dns01`) checks
//! that the zone's servers show them.

use std::net::SocketAddr;
use std::time::Duration;

use hickory_net::client::{Client, ClientHandle};
use hickory_net::proto::op::ResponseCode;
use hickory_net::proto::rr::rdata::tsig::TsigAlgorithm;
use hickory_net::proto::rr::rdata::TXT;
use hickory_net::proto::rr::{DNSClass, Name, RData, Record, RecordSet, RecordType, TSigner};
use hickory_net::runtime::TokioRuntimeProvider;
use hickory_net::udp::UdpClientStream;
use zeroize::Zeroizing;

use super::acme::BoxFut;
use super::dns01::fqdn;
use super::dnsapi::DnsRecords;

/// Settings of an RFC 2136 server.
#[derive(Clone)]
pub struct Rfc2136 {
    /// The primary server, `host:port`.
    pub server: SocketAddr,
    /// The zone updated (its apex, e.g. `example.com`).
    pub zone: String,
    /// TSIG key name.
    pub key_name: String,
    /// `hmac-sha256`, `hmac-sha384` or `hmac-sha512`.
    pub algorithm: String,
    /// The TSIG secret, base64.
    pub secret_b64: Zeroizing<String>,
    /// TTL of the TXT records.
    pub ttl: u32,
}

impl Rfc2136 {
    fn signer(&self) -> Result<TSigner, String> {
        use base64::Engine;
        let alg = match self.algorithm.to_ascii_lowercase().as_str() {
            "hmac-sha256" => TsigAlgorithm::HmacSha256,
            "hmac-sha384" => TsigAlgorithm::HmacSha384,
            "hmac-sha512" => TsigAlgorithm::HmacSha512,
            other => {
                return Err(format!(
                    "TSIG algorithm {other} is not supported: use hmac-sha256, hmac-sha384 or hmac-sha512"
                ))
            }
        };
        let key = base64::engine::general_purpose::STANDARD
            .decode(self.secret_b64.trim())
            .map_err(|_| "the TSIG secret is not base64".to_string())?;
        TSigner::new(key, alg, fqdn(&self.key_name)?, 300).map_err(|e| format!("TSIG key: {e}"))
    }

    async fn client(&self, signed: bool) -> Result<Client<TokioRuntimeProvider>, String> {
        let signer = if signed { Some(self.signer()?) } else { None };
        let stream = UdpClientStream::builder(self.server, TokioRuntimeProvider::default())
            .with_timeout(Some(Duration::from_secs(5)))
            .with_signer(signer)
            .build();
        let (client, bg) = Client::<TokioRuntimeProvider>::from_sender(stream);
        tokio::spawn(bg);
        Ok(client)
    }

    fn zone_of(&self, record: &str) -> Result<Name, String> {
        let zone = fqdn(&self.zone)?;
        let name = fqdn(record)?;
        if !zone.zone_of(&name) {
            return Err(format!("{record} is not in the zone {} this server updates", self.zone));
        }
        Ok(zone)
    }

    /// A transport error of a signed update, in words: a server that rejects the signature
    /// answers with a short (unsigned or truncated) TSIG that the client cannot check.
    fn update_error(&self, e: impl std::fmt::Display) -> String {
        let raw = e.to_string();
        if raw.contains("TSIG") || raw.contains("HMAC") || raw.contains("BADSIG") || raw.contains("BADKEY") {
            format!(
                "{} did not accept the TSIG signature of key {} ({}): check the key name, secret and algorithm [{raw}]",
                self.server, self.key_name, self.algorithm
            )
        } else {
            format!("update to {}: {raw}", self.server)
        }
    }

    fn rrset(name: &Name, value: &str, ttl: u32) -> RecordSet {
        let mut r = Record::from_rdata(name.clone(), ttl, RData::TXT(TXT::new(vec![value.to_string()])));
        r.dns_class = DNSClass::IN;
        RecordSet::from(r)
    }

    /// Adds a TXT value at `name` (other values there are kept).
    pub async fn add_txt(&self, name: &str, value: &str) -> Result<(), String> {
        let zone = self.zone_of(name)?;
        let mut c = self.client(true).await?;
        let r = c
            .append(Self::rrset(&fqdn(name)?, value, self.ttl), zone, false)
            .await
            .map_err(|e| self.update_error(e))?;
        match r.metadata.response_code {
            ResponseCode::NoError => Ok(()),
            ResponseCode::Refused | ResponseCode::NotAuth => Err(format!(
                "{} refused the update of {name} ({}): is key {} allowed to update the zone {}?",
                self.server, r.metadata.response_code, self.key_name, self.zone
            )),
            code => Err(format!("{} refused the update of {name}: {code}", self.server)),
        }
    }

    /// Removes the TXT value `value` at `name`.
    pub async fn delete_txt(&self, name: &str, value: &str) -> Result<(), String> {
        let zone = self.zone_of(name)?;
        let mut c = self.client(true).await?;
        let r = c
            .delete_by_rdata(Self::rrset(&fqdn(name)?, value, 0), zone)
            .await
            .map_err(|e| self.update_error(e))?;
        match r.metadata.response_code {
            ResponseCode::NoError => Ok(()),
            code => Err(format!("{} refused removing {name}: {code}", self.server)),
        }
    }

    /// The TXT values at `name`, asked of the server itself.
    pub async fn txt_values(&self, name: &str) -> Result<Vec<String>, String> {
        let mut c = self.client(false).await?;
        let r = c
            .query(fqdn(name)?, DNSClass::IN, RecordType::TXT)
            .await
            .map_err(|e| format!("query {name} at {}: {e}", self.server))?;
        Ok(super::dns01::txt_values_in(&r.answers, None))
    }
}

impl DnsRecords for Rfc2136 {
    fn describe(&self) -> String {
        format!("RFC 2136 at {} (zone {})", self.server, self.zone)
    }

    fn add_txt<'a>(&'a self, fqdn: &'a str, value: &'a str) -> BoxFut<'a, Result<(), String>> {
        Box::pin(Rfc2136::add_txt(self, fqdn, value))
    }

    fn delete_txt<'a>(&'a self, fqdn: &'a str, value: &'a str) -> BoxFut<'a, Result<(), String>> {
        Box::pin(Rfc2136::delete_txt(self, fqdn, value))
    }

    fn primary_server(&self) -> Option<SocketAddr> {
        Some(self.server)
    }
}
