//! Where data mart connections may go. Link-local and cloud metadata addresses are never
//! reachable, whatever the operator allows; within the rest, only the networks the operator
//! lists (by default all of them, so that a data mart on the same machine works out of the box;
//! the operations guide recommends a narrow list).

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;

/// Networks no data mart may reach: link-local (where cloud metadata services live), the
/// metadata addresses outside it, "this host" and multicast.
const NEVER: &[&str] = &[
    "169.254.0.0/16",
    "fe80::/10",
    "100.100.100.200/32",
    "fd00:ec2::254/128",
    "0.0.0.0/8",
    "::/128",
    "224.0.0.0/4",
    "255.255.255.255/32",
    "ff00::/8",
];

/// The networks data marts may reach.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkPolicy {
    allowed: Vec<IpNet>,
}

impl Default for NetworkPolicy {
    /// Every address but the ones never allowed.
    fn default() -> Self {
        Self {
            allowed: vec![
                IpNet::from_str("0.0.0.0/0").unwrap_or_default(),
                IpNet::from_str("::/0").unwrap_or_default(),
            ],
        }
    }
}

impl FromStr for NetworkPolicy {
    type Err = String;
    /// A comma-separated list of CIDR networks (a bare address is one host).
    fn from_str(s: &str) -> Result<Self, String> {
        let mut allowed = Vec::new();
        for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let net = IpNet::from_str(item)
                .or_else(|_| IpAddr::from_str(item).map(IpNet::from))
                .map_err(|_| {
                    format!("{item:?} is not a network (CIDR, e.g. 10.0.0.0/8) or an address")
                })?;
            allowed.push(net);
        }
        if allowed.is_empty() {
            return Err("list at least one network".into());
        }
        Ok(Self { allowed })
    }
}

impl fmt::Display for NetworkPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list: Vec<String> = self.allowed.iter().map(ToString::to_string).collect();
        f.write_str(&list.join(","))
    }
}

/// Whether an address is one no data mart may ever reach.
pub fn never_reachable(ip: IpAddr) -> bool {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    NEVER
        .iter()
        .filter_map(|n| IpNet::from_str(n).ok())
        .any(|n| n.contains(&ip))
}

impl NetworkPolicy {
    /// Whether a data mart may connect to `ip`.
    pub fn allows(&self, ip: IpAddr) -> bool {
        if never_reachable(ip) {
            return false;
        }
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        self.allowed.iter().any(|n| n.contains(&ip))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
    }

    #[test]
    fn metadata_and_link_local_are_never_reachable() {
        let everything = NetworkPolicy::default();
        for bad in [
            "169.254.169.254",
            "169.254.0.1",
            "fe80::1",
            "::ffff:169.254.169.254",
            "100.100.100.200",
            "fd00:ec2::254",
            "0.0.0.0",
            "::",
            "224.0.0.1",
        ] {
            assert!(!everything.allows(ip(bad)), "{bad}");
        }
        for good in [
            "127.0.0.1",
            "10.1.2.3",
            "::1",
            "2001:db8::1",
            "192.168.0.10",
        ] {
            assert!(everything.allows(ip(good)), "{good}");
        }
        let all_v4: NetworkPolicy = "0.0.0.0/0".parse().unwrap_or_default();
        assert!(!all_v4.allows(ip("169.254.169.254")));
    }

    #[test]
    fn an_operator_list_narrows_the_reachable_networks() {
        let narrow: NetworkPolicy = "10.0.0.0/8, 192.168.1.5".parse().unwrap_or_default();
        assert!(narrow.allows(ip("10.200.0.1")));
        assert!(narrow.allows(ip("192.168.1.5")));
        assert!(!narrow.allows(ip("192.168.1.6")));
        assert!(!narrow.allows(ip("127.0.0.1")));
        assert!(narrow.allows(ip("::ffff:10.0.0.1")));
        assert_eq!(narrow.to_string(), "10.0.0.0/8,192.168.1.5/32");
        assert!("".parse::<NetworkPolicy>().is_err());
        assert!("10.0.0.0/33".parse::<NetworkPolicy>().is_err());
        assert!("example.com".parse::<NetworkPolicy>().is_err());
    }
}
