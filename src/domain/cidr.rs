//! CIDR blocks in canonical form.
//!
//! EC2 stores a rule's CIDR with the host bits cleared (`10.0.0.1/8` becomes `10.0.0.0/8`) and IPv6 in its
//! compressed lower-case form, so both sides of a comparison must be canonical or a sync would re-add what is
//! already there.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// IPv4 or IPv6: EC2 counts its rules quota separately for each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum IpVersion {
    /// IPv4: `prefixes` / `ip_prefix`.
    Ipv4,
    /// IPv6: `ipv6_prefixes` / `ipv6_prefix`.
    Ipv6,
}

impl IpVersion {
    /// Both, in order.
    pub const ALL: [IpVersion; 2] = [IpVersion::Ipv4, IpVersion::Ipv6];

    /// `ipv4` or `ipv6`, as settings and messages write it.
    pub fn as_str(self) -> &'static str {
        match self {
            IpVersion::Ipv4 => "ipv4",
            IpVersion::Ipv6 => "ipv6",
        }
    }
}

impl fmt::Display for IpVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A canonical CIDR block: network address with host bits cleared, and a prefix length.
///
/// Ordered IPv4 before IPv6, then by address, then by length, so sets of CIDRs iterate deterministically.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Cidr {
    /// An IPv4 network and its prefix length.
    V4(Ipv4Addr, u8),
    /// An IPv6 network and its prefix length.
    V6(Ipv6Addr, u8),
}

/// Why a string is not a CIDR block.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{input:?} is not a CIDR block: {reason}")]
pub struct CidrError {
    /// The text given.
    pub input: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl Cidr {
    /// IPv4 or IPv6.
    pub fn version(&self) -> IpVersion {
        match self {
            Cidr::V4(..) => IpVersion::Ipv4,
            Cidr::V6(..) => IpVersion::Ipv6,
        }
    }
}

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let err = |reason| CidrError {
            input: input.to_owned(),
            reason,
        };
        let (addr, len) = input.split_once('/').ok_or_else(|| err("no '/'"))?;
        if len.is_empty() || len.len() > 3 || !len.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err("the prefix length is not a number"));
        }
        let len: u8 = len.parse().map_err(|_| err("the prefix length is not a number"))?;
        match addr.parse::<IpAddr>().map_err(|_| err("not an IP address"))? {
            IpAddr::V4(a) => {
                if len > 32 {
                    return Err(err("the prefix length is over 32"));
                }
                let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
                Ok(Cidr::V4(Ipv4Addr::from(u32::from(a) & mask), len))
            }
            IpAddr::V6(a) => {
                if len > 128 {
                    return Err(err("the prefix length is over 128"));
                }
                let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
                Ok(Cidr::V6(Ipv6Addr::from(u128::from(a) & mask), len))
            }
        }
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cidr::V4(a, l) => write!(f, "{a}/{l}"),
            Cidr::V6(a, l) => write!(f, "{a}/{l}"),
        }
    }
}

impl serde::Serialize for Cidr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Cidr {
        s.parse().unwrap()
    }

    #[test]
    fn host_bits_are_cleared_like_ec2_does() {
        assert_eq!(c("10.1.2.3/8").to_string(), "10.0.0.0/8");
        assert_eq!(c("56.125.47.0/32").to_string(), "56.125.47.0/32");
        assert_eq!(c("0.0.0.0/0").to_string(), "0.0.0.0/0");
        assert_eq!(c("2600:9000:6000::1/36").to_string(), "2600:9000:6000::/36");
        assert_eq!(c("2600:9000:5300:0000::/56").to_string(), "2600:9000:5300::/56");
        assert_eq!(c("::/0").to_string(), "::/0");
    }

    #[test]
    fn upper_case_ipv6_is_canonicalized_to_lower_case() {
        assert_eq!(c("2600:9000:DDD::/48").to_string(), "2600:9000:ddd::/48");
        assert_eq!(c("2600:9000:DDD::/48"), c("2600:9000:ddd::/48"));
    }

    #[test]
    fn malformed_cidrs_are_rejected_with_the_input_named() {
        for bad in [
            "",
            "10.0.0.0",
            "10.0.0.0/",
            "10.0.0.0/33",
            "10.0.0/8",
            "10.0.0.0/-1",
            "10.0.0.0/+8",
            "10.0.0.0/8/8",
            "::/129",
            "abc/8",
            "10.0.0.0/0008",
            " 10.0.0.0/8",
        ] {
            let err = bad.parse::<Cidr>().unwrap_err();
            assert_eq!(err.input, bad);
        }
    }

    #[test]
    fn ipv4_sorts_before_ipv6_and_by_address() {
        let mut v = [c("2600::/32"), c("13.0.0.0/8"), c("3.0.0.0/8"), c("3.0.0.0/16")];
        v.sort();
        let s: Vec<String> = v.iter().map(ToString::to_string).collect();
        assert_eq!(s, ["3.0.0.0/8", "3.0.0.0/16", "13.0.0.0/8", "2600::/32"]);
    }
}
