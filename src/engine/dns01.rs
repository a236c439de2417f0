//! The dns-01 solver: publishes `_acme-challenge` TXT records through a [`DnsRecords`] host,
//! follows CNAME delegation (the record is written where `_acme-challenge.<domain>` points),
//! and, before the CA is told to validate, asks the zone's authoritative name servers directly
//! until every one of them shows every value. Servers that refuse SOA/NS queries, or a zone
//! whose servers cannot be reached, fall back to the configured resolvers (and say so).

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hickory_net::client::{Client, ClientHandle};
use hickory_net::proto::op::ResponseCode;
use hickory_net::proto::rr::{DNSClass, Name, RData, RecordType};
use hickory_net::runtime::TokioRuntimeProvider;
use hickory_net::udp::UdpClientStream;

use super::acme::{BoxFut, Challenge, ChallengeKind, Solver, Step};
use super::dnsapi::DnsRecords;

/// Where and how long to look for the records.
#[derive(Debug, Clone)]
pub struct Propagation {
    /// Resolvers used to find zones, name servers and CNAMEs (empty: the provider's primary
    /// server if it has one, else `/etc/resolv.conf`).
    pub resolvers: Vec<SocketAddr>,
    /// The port the authoritative servers are asked on (53 but in test beds).
    pub authoritative_port: u16,
    /// How long to wait for every server to show every value.
    pub timeout: Duration,
    /// Pause between rounds.
    pub poll: Duration,
}

impl Default for Propagation {
    fn default() -> Self {
        Propagation {
            resolvers: Vec::new(),
            authoritative_port: 53,
            timeout: Duration::from_secs(120),
            poll: Duration::from_millis(250),
        }
    }
}

impl Propagation {
    fn resolvers(&self, primary: Option<SocketAddr>) -> Vec<SocketAddr> {
        if !self.resolvers.is_empty() {
            return self.resolvers.clone();
        }
        if let Some(p) = primary {
            return vec![p];
        }
        let conf = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        let found: Vec<SocketAddr> = conf
            .lines()
            .filter_map(|l| l.trim().strip_prefix("nameserver"))
            .filter_map(|ip| IpAddr::from_str(ip.trim()).ok())
            .map(|ip| SocketAddr::new(ip, 53))
            .collect();
        if found.is_empty() {
            vec![SocketAddr::from(([127, 0, 0, 1], 53))]
        } else {
            found
        }
    }
}

/// Name servers to ask: (label, address).
type Servers = Vec<(String, SocketAddr)>;

/// A dns-01 solver over any DNS host.
pub struct Dns01Solver {
    /// The DNS host that writes the records.
    pub records: Box<dyn DnsRecords>,
    /// Propagation check settings.
    pub propagation: Propagation,
    /// When set, `_acme-challenge.<domain>` must be a CNAME into this zone (delegation): a
    /// missing CNAME is reported with the exact record to create.
    pub delegation_zone: Option<String>,
    /// Where each challenge's record was written (record name → target), for cleanup.
    written: Mutex<Vec<(String, String)>>,
}

/// `s` as an absolute DNS name.
pub(crate) fn fqdn(s: &str) -> Result<Name, String> {
    let mut n = Name::from_str(s.trim_end_matches('.')).map_err(|e| format!("bad DNS name {s}: {e}"))?;
    n.set_fqdn(true);
    Ok(n)
}

fn plain(n: &Name) -> String {
    n.to_ascii().trim_end_matches('.').to_ascii_lowercase()
}

/// One DNS answer: the response code, answers and authority records.
struct Answer {
    code: ResponseCode,
    answers: Vec<hickory_net::proto::rr::Record>,
    authority: Vec<hickory_net::proto::rr::Record>,
}

async fn ask(server: SocketAddr, name: &Name, rtype: RecordType) -> Result<Answer, String> {
    let stream = UdpClientStream::builder(server, TokioRuntimeProvider::default())
        .with_timeout(Some(Duration::from_secs(3)))
        .build();
    let (mut client, bg) = Client::<TokioRuntimeProvider>::from_sender(stream);
    let task = tokio::spawn(bg);
    let r = client.query(name.clone(), DNSClass::IN, rtype).await;
    task.abort();
    let r = r.map_err(|e| format!("{rtype} {} at {server}: {e}", plain(name)))?;
    Ok(Answer {
        code: r.metadata.response_code,
        answers: r.answers.clone(),
        authority: r.authorities.clone(),
    })
}

/// Asks each resolver in turn until one answers (NOERROR or NXDOMAIN).
async fn resolve(resolvers: &[SocketAddr], name: &Name, rtype: RecordType) -> Result<Answer, String> {
    let mut last = String::from("no resolver configured");
    for r in resolvers {
        match ask(*r, name, rtype).await {
            Ok(a) if matches!(a.code, ResponseCode::NoError | ResponseCode::NXDomain) => return Ok(a),
            Ok(a) => last = format!("{rtype} {} at {r}: {}", plain(name), a.code),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// The TXT values among `records` (only those owned by `name`, when given).
pub(crate) fn txt_values_in(records: &[hickory_net::proto::rr::Record], name: Option<&Name>) -> Vec<String> {
    records
        .iter()
        .filter(|r| name.is_none_or(|n| &r.name == n))
        .filter_map(|r| match &r.data {
            RData::TXT(t) => Some(
                t.txt_data
                    .iter()
                    .map(|p| String::from_utf8_lossy(p).into_owned())
                    .collect(),
            ),
            _ => None,
        })
        .collect()
}

impl Dns01Solver {
    /// A solver writing through `records`.
    pub fn new(records: Box<dyn DnsRecords>, propagation: Propagation, delegation_zone: Option<String>) -> Self {
        Dns01Solver {
            records,
            propagation,
            delegation_zone: delegation_zone.filter(|z| !z.trim().is_empty()),
            written: Mutex::new(Vec::new()),
        }
    }

    /// Where a TXT record for `record` must be written: the end of its CNAME chain, if any.
    pub async fn target_of(&self, record: &str) -> Result<String, String> {
        let resolvers = self.propagation.resolvers(self.records.primary_server());
        let mut name = fqdn(record)?;
        for _ in 0..8 {
            let a = match resolve(&resolvers, &name, RecordType::CNAME).await {
                Ok(a) => a,
                // No answer about CNAMEs: write at the name itself.
                Err(_) => break,
            };
            let next = a.answers.iter().find_map(|r| match &r.data {
                RData::CNAME(c) if r.name == name => Some(c.0.clone()),
                _ => None,
            });
            match next {
                Some(n) => name = n,
                None => break,
            }
        }
        Ok(plain(&name))
    }

    /// The zone apex holding `name`, found by SOA through the resolvers.
    async fn zone_of(&self, resolvers: &[SocketAddr], name: &Name) -> Result<Name, String> {
        let mut cur = name.clone();
        loop {
            let a = resolve(resolvers, &cur, RecordType::SOA).await?;
            if let Some(r) = a
                .answers
                .iter()
                .chain(a.authority.iter())
                .find(|r| r.record_type() == RecordType::SOA)
            {
                return Ok(r.name.clone());
            }
            if cur.num_labels() <= 1 {
                return Err(format!("no SOA found for {}", plain(name)));
            }
            cur = cur.base_name();
        }
    }

    /// The addresses of the zone's authoritative servers.
    async fn authoritative(&self, resolvers: &[SocketAddr], zone: &Name) -> Result<Vec<(String, SocketAddr)>, String> {
        let ns = resolve(resolvers, zone, RecordType::NS).await?;
        let names: Vec<Name> = ns
            .answers
            .iter()
            .filter_map(|r| match &r.data {
                RData::NS(n) => Some(n.0.clone()),
                _ => None,
            })
            .collect();
        let mut out = Vec::new();
        for n in names {
            for t in [RecordType::A, RecordType::AAAA] {
                if let Ok(a) = resolve(resolvers, &n, t).await {
                    for r in &a.answers {
                        let ip = match &r.data {
                            RData::A(a) => IpAddr::V4(a.0),
                            RData::AAAA(a) => IpAddr::V6(a.0),
                            _ => continue,
                        };
                        out.push((plain(&n), SocketAddr::new(ip, self.propagation.authoritative_port)));
                    }
                }
            }
        }
        if out.is_empty() {
            return Err(format!("no address for the name servers of {}", plain(zone)));
        }
        Ok(out)
    }

    /// Whether at least one of `servers` answers for `zone`.
    async fn any_answers(&self, servers: &[(String, SocketAddr)], zone: &Name) -> bool {
        for (_, addr) in servers {
            if let Ok(a) = ask(*addr, zone, RecordType::SOA).await {
                if matches!(a.code, ResponseCode::NoError | ResponseCode::NXDomain) {
                    return true;
                }
            }
        }
        false
    }

    /// Servers to ask when the zone's own cannot be found: the provider's primary, else the
    /// resolvers.
    fn fallback(&self, why: &str, target: &str, resolvers: &[SocketAddr], step: Step<'_>) -> Vec<(String, SocketAddr)> {
        match self.records.primary_server() {
            Some(p) => {
                step(format!("{why}: checking {target} at the primary server {p} instead"));
                vec![(p.to_string(), p)]
            }
            None => {
                step(format!("{why}: checking {target} through the resolvers instead"));
                resolvers.iter().map(|r| (r.to_string(), *r)).collect()
            }
        }
    }

    /// Waits until every authoritative server of each record's zone shows its values
    /// (`wanted`: record name, value).
    pub async fn wait_visible(&self, wanted: &[(String, String)], step: Step<'_>) -> Result<(), String> {
        let resolvers = self.propagation.resolvers(self.records.primary_server());
        let deadline = Instant::now() + self.propagation.timeout;
        // record → (servers to ask, whether they are the authoritative ones)
        let mut plan: Vec<(Name, BTreeSet<String>, Servers)> = Vec::new();
        for (target, _) in wanted {
            let name = fqdn(target)?;
            if plan.iter().any(|(n, _, _)| n == &name) {
                continue;
            }
            let values: BTreeSet<String> = wanted
                .iter()
                .filter(|(t, _)| t == target)
                .map(|(_, v)| v.clone())
                .collect();
            let servers = match self.zone_of(&resolvers, &name).await {
                Ok(zone) => match self.authoritative(&resolvers, &zone).await {
                    Ok(s) if !self.any_answers(&s, &zone).await => self.fallback(
                        &format!(
                            "no name server of {} answers on port {}",
                            plain(&zone),
                            self.propagation.authoritative_port
                        ),
                        target,
                        &resolvers,
                        step,
                    ),
                    Ok(s) => {
                        step(format!(
                            "checking {target} at the authoritative servers of {}: {}",
                            plain(&zone),
                            s.iter()
                                .map(|(n, a)| format!("{n} ({a})"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ));
                        s
                    }
                    Err(e) => self.fallback(&e, target, &resolvers, step),
                },
                Err(e) => self.fallback(&e, target, &resolvers, step),
            };
            plan.push((name, values, servers));
        }
        loop {
            let mut missing = Vec::new();
            for (name, values, servers) in &plan {
                let mut answered = 0;
                for (label, addr) in servers {
                    match ask(*addr, name, RecordType::TXT).await {
                        Ok(a) if matches!(a.code, ResponseCode::NoError | ResponseCode::NXDomain) => {
                            answered += 1;
                            let seen: BTreeSet<String> = txt_values_in(&a.answers, Some(name)).into_iter().collect();
                            if !values.is_subset(&seen) {
                                missing.push(format!("{} at {label}", plain(name)));
                            }
                        }
                        // A server that refuses or times out is skipped while another answers.
                        Ok(_) | Err(_) => {}
                    }
                }
                if answered == 0 {
                    missing.push(format!("{} (no server answered)", plain(name)));
                }
            }
            if missing.is_empty() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "the TXT records are not visible after {} s: {}",
                    self.propagation.timeout.as_secs(),
                    missing.join(", ")
                ));
            }
            tokio::time::sleep(self.propagation.poll).await;
        }
    }
}

impl Solver for Dns01Solver {
    fn kind(&self) -> ChallengeKind {
        ChallengeKind::Dns01
    }

    fn present<'a>(&'a self, challenges: &'a [Challenge], step: Step<'a>) -> BoxFut<'a, Result<(), String>> {
        Box::pin(async move {
            let mut wanted = Vec::new();
            for c in challenges {
                let record = c.record_name();
                let target = self.target_of(&record).await?;
                if target == record {
                    if let Some(zone) = &self.delegation_zone {
                        return Err(format!(
                            "{record} is not delegated yet: create once the record `{record}. CNAME {}.{}.` \
                             and request again",
                            c.domain,
                            zone.trim_end_matches('.')
                        ));
                    }
                } else {
                    step(format!("{record} is a CNAME: writing the TXT record at {target}"));
                }
                if self.records.is_manual() {
                    step(format!(
                        "create the TXT record {target} with the value \"{}\"",
                        c.dns_value
                    ));
                } else {
                    self.records.add_txt(&target, &c.dns_value).await?;
                }
                if let Ok(mut w) = self.written.lock() {
                    w.push((target.clone(), c.dns_value.clone()));
                }
                wanted.push((target, c.dns_value.clone()));
            }
            if !self.records.is_manual() {
                step(format!(
                    "{} TXT record(s) written through {}",
                    wanted.len(),
                    self.records.describe()
                ));
            }
            self.wait_visible(&wanted, step).await?;
            step("every authoritative server shows the records".into());
            Ok(())
        })
    }

    fn cleanup<'a>(&'a self, _challenges: &'a [Challenge], step: Step<'a>) -> BoxFut<'a, Result<(), String>> {
        Box::pin(async move {
            let written: Vec<(String, String)> = self.written.lock().map(|w| w.clone()).unwrap_or_default();
            if self.records.is_manual() {
                if !written.is_empty() {
                    step(format!(
                        "remove the TXT record(s) by hand: {}",
                        written.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", ")
                    ));
                }
                return Ok(());
            }
            let mut errors = Vec::new();
            for (name, value) in &written {
                if let Err(e) = self.records.delete_txt(name, value).await {
                    errors.push(e);
                }
            }
            if errors.is_empty() {
                Ok(())
            } else {
                Err(errors.join("; "))
            }
        })
    }
}

/// The manual "provider": the operator creates the records; the solver shows them and waits
/// until the authoritative servers do.
pub struct ManualDns;

impl DnsRecords for ManualDns {
    fn describe(&self) -> String {
        "manual (the operator creates the records)".into()
    }
    fn add_txt<'a>(&'a self, _fqdn: &'a str, _value: &'a str) -> BoxFut<'a, Result<(), String>> {
        Box::pin(async { Ok(()) })
    }
    fn delete_txt<'a>(&'a self, _fqdn: &'a str, _value: &'a str) -> BoxFut<'a, Result<(), String>> {
        Box::pin(async { Ok(()) })
    }
    fn is_manual(&self) -> bool {
        true
    }
}
