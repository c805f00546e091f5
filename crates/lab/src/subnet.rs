//! Choosing a lab's private /24 so that labs never collide with each other or with the host.
//!
//! Labs live in 10.213.0.0/16. A lab's first candidate /24 comes from a hash of its name,
//! then the next ones in turn; a candidate is taken only if no route of the host (any table)
//! and no other lab's recorded subnet overlaps it. `up` holds a lock over choosing and
//! creating the bridge (whose address adds the route), so two labs started together cannot
//! both pick the same /24.

use std::net::Ipv4Addr;

use crate::error::LabError;

/// The second octet of every lab subnet: 10.213.x.0/24.
const LAB_OCTET: u8 = 213;

/// An IPv4 prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Prefix {
    pub addr: Ipv4Addr,
    pub len: u8,
}

impl Prefix {
    /// Parses `a.b.c.d/len` or a bare address (a /32).
    pub fn parse(s: &str) -> Option<Prefix> {
        let (addr, len) = match s.split_once('/') {
            Some((a, l)) => (a, l.parse().ok()?),
            None => (s, 32),
        };
        if len > 32 {
            return None;
        }
        Some(Prefix {
            addr: addr.parse().ok()?,
            len,
        })
    }

    fn mask(self) -> u32 {
        if self.len == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(self.len))
        }
    }

    /// True if the two prefixes share at least one address.
    pub fn overlaps(self, other: Prefix) -> bool {
        let m = self.mask() & other.mask();
        u32::from(self.addr) & m == u32::from(other.addr) & m
    }

    /// The address `host` within this prefix.
    pub fn host(self, host: u8) -> Ipv4Addr {
        Ipv4Addr::from((u32::from(self.addr) & self.mask()) | u32::from(host))
    }
}

impl std::fmt::Display for Prefix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

/// The destinations of `ip -j -4 route show table all`, without default routes (a default
/// route covers everything and conflicts with nothing).
pub fn route_destinations(ip_json: &str) -> Vec<Prefix> {
    let routes: Vec<serde_json::Value> = serde_json::from_str(ip_json.trim()).unwrap_or_default();
    routes
        .iter()
        .filter_map(|r| r.get("dst")?.as_str())
        .filter(|d| *d != "default")
        .filter_map(Prefix::parse)
        .filter(|p| p.len > 0)
        .collect()
}

/// A cheap, stable hash of the lab name (FNV-1a).
fn name_hash(name: &str) -> u32 {
    name.bytes().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// Picks the lab's /24: the first candidate from the name's hash that overlaps neither a
/// host route nor another lab's subnet.
pub fn choose(name: &str, routes: &[Prefix], other_labs: &[Prefix]) -> Result<Prefix, LabError> {
    let start = name_hash(name) % 256;
    (0..256u32)
        .map(|k| Prefix {
            addr: Ipv4Addr::new(10, LAB_OCTET, ((start + k) % 256) as u8, 0),
            len: 24,
        })
        .find(|c| !routes.iter().chain(other_labs).any(|r| r.overlaps(*c)))
        .ok_or(LabError::NoSubnet)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROUTES: &str = r#"[{"dst":"default","gateway":"192.0.2.1","dev":"eth0"},
        {"dst":"192.0.2.0/24","dev":"eth0"},{"type":"local","dst":"127.0.0.1","table":"local"}]"#;

    #[test]
    fn parses_ip_json_routes() {
        let r = route_destinations(ROUTES);
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].to_string(), "192.0.2.0/24");
        assert_eq!(r[1].to_string(), "127.0.0.1/32");
        assert!(route_destinations("").is_empty());
    }

    #[test]
    fn overlap_and_hosts() {
        let a = Prefix::parse("10.213.5.0/24").unwrap();
        assert!(a.overlaps(Prefix::parse("10.0.0.0/8").unwrap()));
        assert!(a.overlaps(Prefix::parse("10.213.5.7").unwrap()));
        assert!(!a.overlaps(Prefix::parse("10.213.6.0/24").unwrap()));
        assert_eq!(a.host(254), Ipv4Addr::new(10, 213, 5, 254));
    }

    #[test]
    fn choice_avoids_routes_and_other_labs() {
        let first = choose("wend", &[], &[]).unwrap();
        let again = choose("wend", &[], &[]).unwrap();
        assert_eq!(first, again);
        let second = choose("wend", &[first], &[]).unwrap();
        assert_ne!(first, second);
        let third = choose("wend", &[first], &[second]).unwrap();
        assert!(third != first && third != second);
        let all = [Prefix::parse("10.213.0.0/16").unwrap()];
        assert!(matches!(choose("wend", &all, &[]), Err(LabError::NoSubnet)));
    }
}
