//! CIDR blocks in canonical form.
//!
//! EC2 stores a rule's CIDR with the host bits cleared (`10.0.0.1/8` becomes `10.0.0.0/8`) and IPv6 in its
//! compressed lower-case form, so both sides of a comparison must be canonical or a sync would re-add what is
//! already there.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

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

    /// Why CloudFront could never publish this range, or `None`: broader than [`MIN_PREFIX_V4`] /
    /// [`MIN_PREFIX_V6`] (over 170 real files since 2017 its broadest were a /14 and a /28), or overlapping
    /// special-use space ([`SPECIAL_USE`]: private, loopback, link-local, shared, multicast, reserved). Applied,
    /// such a range would open every target to addresses no edge of CloudFront holds.
    pub fn never_published(&self) -> Option<String> {
        let (min, len) = match self {
            Cidr::V4(_, len) => (MIN_PREFIX_V4, *len),
            Cidr::V6(_, len) => (MIN_PREFIX_V6, *len),
        };
        if len < min {
            return Some(format!("broader than /{min}"));
        }
        // Two prefixes overlap exactly when one holds the other.
        let net = self.net();
        SPECIAL_USE
            .iter()
            .find(|(block, _)| net.contains(&block.net()) || block.net().contains(&net))
            .map(|(block, what)| format!("overlaps {what} space {block}"))
    }

    /// The prefix, as `ipnet` holds it.
    pub fn net(&self) -> IpNet {
        match *self {
            // A length past the width (no parsed CIDR has one) is taken as the width.
            Cidr::V4(address, len) => IpNet::V4(Ipv4Net::new(address, len.min(32)).unwrap_or_default()),
            Cidr::V6(address, len) => IpNet::V6(Ipv6Net::new(address, len.min(128)).unwrap_or_default()),
        }
    }

    /// `net` with its host bits cleared.
    pub fn of_net(net: IpNet) -> Cidr {
        match net.trunc() {
            IpNet::V4(n) => Cidr::V4(n.network(), n.prefix_len()),
            IpNet::V6(n) => Cidr::V6(n.network(), n.prefix_len()),
        }
    }
}

/// The shortest IPv4 prefix a published range may have (see [`Cidr::never_published`]).
pub const MIN_PREFIX_V4: u8 = 8;

/// The shortest IPv6 prefix a published range may have (see [`Cidr::never_published`]).
pub const MIN_PREFIX_V6: u8 = 16;

/// Address space no public service is reachable at (IANA's special-purpose registries): a published range
/// that overlaps any of it is refused. The documentation ranges (192.0.2.0/24, 2001:db8::/32, …) are not here:
/// harmless on the Internet, and the tests use them.
pub const SPECIAL_USE: [(Cidr, &str); 13] = [
    (v4(0, 8), "\"this network\""),
    (v4(10, 8), "private-use"),
    (Cidr::V4(Ipv4Addr::new(100, 64, 0, 0), 10), "shared (carrier-grade NAT)"),
    (v4(127, 8), "loopback"),
    (Cidr::V4(Ipv4Addr::new(169, 254, 0, 0), 16), "link-local"),
    (Cidr::V4(Ipv4Addr::new(172, 16, 0, 0), 12), "private-use"),
    (Cidr::V4(Ipv4Addr::new(192, 168, 0, 0), 16), "private-use"),
    (v4(224, 4), "multicast"),
    (v4(240, 4), "reserved"),
    (v6(0, 8), "reserved (loopback, unspecified, IPv4-mapped)"),
    (v6(0xfc00, 7), "unique-local"),
    (v6(0xfe80, 10), "link-local"),
    (v6(0xff00, 8), "multicast"),
];

/// `first.0.0.0/len`.
const fn v4(first: u8, len: u8) -> Cidr {
    Cidr::V4(Ipv4Addr::new(first, 0, 0, 0), len)
}

/// `first::/len`.
const fn v6(first: u16, len: u8) -> Cidr {
    Cidr::V6(Ipv6Addr::new(first, 0, 0, 0, 0, 0, 0, 0), len)
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
        let address = addr.parse::<IpAddr>().map_err(|_| err("not an IP address"))?;
        let net = IpNet::new(address, len).map_err(|_| match address {
            IpAddr::V4(_) => err("the prefix length is over 32"),
            IpAddr::V6(_) => err("the prefix length is over 128"),
        })?;
        Ok(Cidr::of_net(net))
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

    #[test]
    fn ranges_cloudfront_never_publishes_are_named_and_its_real_ones_pass() {
        for (range, why) in [
            ("0.0.0.0/0", "broader than /8"),
            ("::/0", "broader than /16"),
            ("16.0.0.0/4", "broader than /8"),
            ("2600::/12", "broader than /16"),
            ("10.0.0.0/8", "overlaps private-use space 10.0.0.0/8"),
            ("127.0.0.0/8", "overlaps loopback space 127.0.0.0/8"),
            ("172.20.0.0/16", "overlaps private-use space 172.16.0.0/12"),
            ("100.0.0.0/8", "overlaps shared (carrier-grade NAT) space 100.64.0.0/10"),
            ("239.255.255.0/24", "overlaps multicast space 224.0.0.0/4"),
            ("fc00::/7", "broader than /16"),
            ("fd12:3456::/32", "overlaps unique-local space fc00::/7"),
            (
                "::1/128",
                "overlaps reserved (loopback, unspecified, IPv4-mapped) space ::/8",
            ),
            ("fe80::/64", "overlaps link-local space fe80::/10"),
            ("ff02::/16", "overlaps multicast space ff00::/8"),
        ] {
            assert_eq!(c(range).never_published().as_deref(), Some(why), "{range}");
        }
        // CloudFront's broadest real prefixes, its neighbours of special space, and the documentation ranges.
        for range in [
            "13.32.0.0/15",
            "2600:9000::/28",
            "11.0.0.0/8",
            "100.128.0.0/9",
            "172.32.0.0/11",
            "223.255.255.0/24",
            "192.0.2.0/24",
            "2001:db8::/32",
            "fbff::/16",
            "fec0::/16",
        ] {
            assert_eq!(c(range).never_published(), None, "{range}");
        }
    }

    /// Whether `a` is special-use, by the standard library's predicates (and the prefixes it has none for).
    fn special_v4(a: Ipv4Addr) -> bool {
        let [first, second, ..] = a.octets();
        a.is_private()
            || a.is_loopback()
            || a.is_link_local()
            || a.is_multicast()
            || first == 0
            || first >= 240
            || (first == 100 && second & 0xc0 == 64)
    }

    fn special_v6(a: Ipv6Addr) -> bool {
        a.segments()[0] >> 8 == 0 || a.is_unique_local() || a.is_unicast_link_local() || a.is_multicast()
    }

    /// The oracle: every special IPv4 block is a union of /16s and every IPv6 one of /16s, so a range of at
    /// least the minimum length overlaps special space exactly when the first address of one of its /16s (or
    /// its own, when it is longer) is special.
    fn refused_by_oracle(cidr: &Cidr) -> bool {
        match *cidr {
            Cidr::V4(_, len) if len < 8 => true,
            Cidr::V6(_, len) if len < 16 => true,
            Cidr::V4(a, len) => {
                let sixteens = 1u32 << 16u8.saturating_sub(len);
                (0..sixteens).any(|i| special_v4(Ipv4Addr::from(u32::from(a) + (i << 16))))
            }
            Cidr::V6(a, _) => special_v6(a),
        }
    }

    #[test]
    fn by_property_a_range_is_refused_exactly_when_too_broad_or_touching_special_space() {
        let mut seed = 0x5EED_u64;
        let mut next = |below: u64| {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (seed >> 33) % below
        };
        let firsts_v6 = [
            0x0000, 0x00ff, 0x2600, 0xfbff, 0xfc00, 0xfdff, 0xfe80, 0xfebf, 0xfec0, 0xff00,
        ];
        let (mut refused, mut passed) = (0, 0);
        for _ in 0..20_000 {
            let cidr = if next(2) == 0 {
                let address = Ipv4Addr::from(u32::try_from(next(1 << 32)).unwrap());
                c(&format!("{address}/{}", next(33)))
            } else {
                let first = firsts_v6[usize::try_from(next(10)).unwrap()] + u16::try_from(next(2)).unwrap();
                c(&format!("{first:x}:{:x}::/{}", next(1 << 16), next(129)))
            };
            let oracle = refused_by_oracle(&cidr);
            assert_eq!(cidr.never_published().is_some(), oracle, "{cidr}");
            if oracle { refused += 1 } else { passed += 1 }
        }
        assert!(
            refused > 1000 && passed > 1000,
            "both outcomes drawn: {refused} refused, {passed} passed"
        );
    }
}
