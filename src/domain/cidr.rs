//! CIDR ranges and lists of them (`10.0.0.0/8, fd00::/8, 192.0.2.7`), for the admin-set
//! allow/deny lists that limit where user-made targets may point. IPv4-mapped IPv6 addresses
//! (`::ffff:169.254.169.254`) are matched as the IPv4 address they carry.

use std::fmt;
use std::net::IpAddr;

/// One network: an address and a prefix length (a bare address is a /32 or /128).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    prefix: u8,
}

/// An IPv4-mapped IPv6 address as its IPv4 address; others unchanged.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

impl Cidr {
    /// Parses `a.b.c.d/n`, `x::y/n` or a bare address; host bits must be zero.
    pub fn parse(raw: &str) -> Result<Cidr, String> {
        let s = raw.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let net: IpAddr = addr
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .map_err(|_| format!("'{s}' is not an IP address or CIDR range (e.g. 10.0.0.0/8, fe80::/10)"))?;
        let net = canonical(net);
        let max = if net.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => match p.parse::<u8>() {
                Ok(n) if n <= max => n,
                _ => return Err(format!("'{s}': the prefix length must be 0 to {max}")),
            },
        };
        let c = Cidr { net, prefix };
        if c.masked(net) != net {
            return Err(format!(
                "'{s}' has bits set after the prefix: did you mean {}/{prefix}?",
                c.masked(net)
            ));
        }
        Ok(c)
    }

    fn masked(&self, ip: IpAddr) -> IpAddr {
        match ip {
            IpAddr::V4(a) => {
                let m = if self.prefix == 0 {
                    0
                } else {
                    u32::MAX << (32 - u32::from(self.prefix))
                };
                IpAddr::V4((u32::from(a) & m).into())
            }
            IpAddr::V6(a) => {
                let m = if self.prefix == 0 {
                    0
                } else {
                    u128::MAX << (128 - u32::from(self.prefix))
                };
                IpAddr::V6((u128::from(a) & m).into())
            }
        }
    }

    /// Whether `ip` lies in this network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        ip.is_ipv4() == self.net.is_ipv4() && self.masked(ip) == self.net
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.net, self.prefix)
    }
}

/// A list of networks, written comma or whitespace separated; empty is allowed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CidrList(Vec<Cidr>);

impl CidrList {
    /// Parses a list; every entry must be valid.
    pub fn parse(raw: &str) -> Result<CidrList, String> {
        raw.split(|c: char| c == ',' || c.is_whitespace())
            .filter(|s| !s.is_empty())
            .map(Cidr::parse)
            .collect::<Result<Vec<_>, _>>()
            .map(CidrList)
    }

    /// Whether the list has no entry.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The first network of the list that holds `ip`.
    pub fn matching(&self, ip: IpAddr) -> Option<&Cidr> {
        self.0.iter().find(|c| c.contains(ip))
    }
}

impl fmt::Display for CidrList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&parts.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ranges_match_and_mapped_addresses_count_as_ipv4() {
        let l = CidrList::parse("169.254.0.0/16, fe80::/10 10.1.2.3").unwrap();
        assert!(l.matching(ip("169.254.169.254")).is_some());
        assert!(l.matching(ip("::ffff:169.254.169.254")).is_some());
        assert!(l.matching(ip("fe80::1")).is_some());
        assert!(l.matching(ip("10.1.2.3")).is_some());
        assert!(l.matching(ip("10.1.2.4")).is_none());
        assert!(l.matching(ip("127.0.0.1")).is_none());
        assert!(CidrList::parse("0.0.0.0/0").unwrap().matching(ip("8.8.8.8")).is_some());
        assert!(CidrList::parse("0.0.0.0/0").unwrap().matching(ip("::1")).is_none());
        assert!(CidrList::parse("").unwrap().is_empty());
    }

    #[test]
    fn bad_entries_are_named() {
        assert!(CidrList::parse("10.0.0.0/33").unwrap_err().contains("0 to 32"));
        assert!(CidrList::parse("10.0.0.1/8").unwrap_err().contains("10.0.0.0/8"));
        assert!(CidrList::parse("example.com").unwrap_err().contains("not an IP"));
    }
}
