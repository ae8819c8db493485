//! Aggregation (`AGGREGATE`, on by default): the smallest list of CIDRs that covers exactly the addresses of
//! the ranges selected, per IP version. Nested prefixes are dropped and two halves of one prefix become that
//! prefix, until no two can merge: nothing more and nothing less is covered, in fewer rules, entries and
//! addresses.
//!
//! Pure. The result is unique: a list of prefixes in which none overlaps another and no two are the halves of
//! one is the list of the largest prefixes the addresses hold, and no shorter list covers them exactly.

use std::collections::BTreeSet;

use ipnet::IpNet;

use crate::domain::cidr::Cidr;

/// The smallest set of CIDRs covering exactly the addresses of `cidrs` (IPv4 and IPv6 apart): `ipnet`'s
/// aggregation, which merges the address ranges and splits them into the largest prefixes.
pub fn aggregate(cidrs: &BTreeSet<Cidr>) -> BTreeSet<Cidr> {
    let nets: Vec<IpNet> = cidrs.iter().map(Cidr::net).collect();
    IpNet::aggregate(&nets).into_iter().map(Cidr::of_net).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A prefix as numbers, for the oracle: its first address, its length, and the width of its addresses (32
    /// or 128). Written apart from `ipnet`.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    struct Block {
        start: u128,
        len: u8,
        width: u8,
    }

    impl Block {
        fn of(cidr: &Cidr) -> Block {
            match *cidr {
                Cidr::V4(address, len) => Block {
                    start: u128::from(u32::from(address)),
                    len,
                    width: 32,
                },
                Cidr::V6(address, len) => Block {
                    start: u128::from(address),
                    len,
                    width: 128,
                },
            }
        }

        /// The host bits of a prefix of length `len`, set.
        fn host_mask(&self, len: u8) -> u128 {
            match u32::from(self.width - len) {
                128 => u128::MAX,
                bits => (1u128 << bits) - 1,
            }
        }

        /// Its last address.
        fn last(self) -> u128 {
            self.start | self.host_mask(self.len)
        }

        /// Whether every address of `other` is one of its own (the same IP version).
        fn covers(self, other: Block) -> bool {
            self.width == other.width
                && self.len <= other.len
                && self.start <= other.start
                && other.last() <= self.last()
        }

        /// The prefix of which it is the lower half and `high` the upper half, if they are.
        fn merged_with(self, high: Block) -> Option<Block> {
            let halves = self.width == high.width && self.len == high.len && self.len > 0;
            let parent = Block {
                len: self.len.wrapping_sub(1),
                ..self
            };
            let aligned = halves && self.start & parent.host_mask(parent.len) == 0;
            (aligned && high.start == self.last() + 1).then_some(parent)
        }
    }

    fn set(cidrs: &[&str]) -> BTreeSet<Cidr> {
        cidrs.iter().map(|c| c.parse().unwrap()).collect()
    }

    #[test]
    fn adjacent_halves_merge_up_as_far_as_they_go_and_nested_prefixes_are_dropped() {
        let cidrs = set(&[
            "10.0.0.0/24",
            "10.0.1.0/24",
            "10.0.2.0/23",
            "10.0.3.0/24",
            "10.0.0.128/25",
        ]);
        assert_eq!(aggregate(&cidrs), set(&["10.0.0.0/22"]));
    }

    #[test]
    fn neighbours_that_are_not_halves_of_one_prefix_stay_apart() {
        // 10.0.1.0/24 and 10.0.2.0/24 touch, but no /23 holds both.
        let cidrs = set(&[
            "10.0.1.0/24",
            "10.0.2.0/24",
            "2600:9000:1100::/40",
            "2600:9000:1200::/40",
        ]);
        assert_eq!(aggregate(&cidrs), cidrs);
    }

    #[test]
    fn ipv4_and_ipv6_never_merge_and_whole_spaces_are_handled() {
        let cidrs = set(&["0.0.0.0/1", "128.0.0.0/1", "::/1", "8000::/1"]);
        assert_eq!(aggregate(&cidrs), set(&["0.0.0.0/0", "::/0"]));
        assert_eq!(aggregate(&set(&["0.0.0.0/0", "10.0.0.0/8"])), set(&["0.0.0.0/0"]));
        assert_eq!(aggregate(&BTreeSet::new()), BTreeSet::new());
    }

    /// A reproducible stream of numbers (SplitMix64).
    struct Numbers(u64);

    impl Numbers {
        fn next(&mut self, below: u64) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            (z ^ (z >> 31)) % below
        }
    }

    /// Random IPv4 prefixes in 10.0.0.0/16 (/16 to /28: they often nest and neighbour), some IPv6 ones.
    fn random_set(numbers: &mut Numbers) -> BTreeSet<Cidr> {
        let count = numbers.next(40);
        (0..count)
            .map(|_| match numbers.next(4) {
                0 => format!("2600:9000:{:x}::/{}", numbers.next(16), 32 + numbers.next(17)),
                _ => format!(
                    "10.0.{}.{}/{}",
                    numbers.next(256),
                    numbers.next(256),
                    16 + numbers.next(13)
                ),
            })
            .map(|text| text.parse().unwrap())
            .collect()
    }

    /// Whether `address` (a number of `width` bits) is in any of `cidrs`.
    fn held(cidrs: &BTreeSet<Cidr>, address: u128, width: u8) -> bool {
        let one = Block {
            start: address,
            len: width,
            width,
        };
        cidrs.iter().map(Block::of).any(|b| b.covers(one))
    }

    /// The addresses where what two sets of prefixes hold can change: each prefix's first and last address, and
    /// the addresses right around them. Two unions of prefixes that agree on all of them are equal.
    fn probes(sets: [&BTreeSet<Cidr>; 2]) -> BTreeSet<(u128, u8)> {
        let blocks = sets.into_iter().flatten().map(Block::of);
        let edges = blocks.flat_map(|b| [b.start, b.last()].map(|a| (a, b.width)));
        let around = edges.flat_map(|(a, w)| [a.wrapping_sub(1), a, a.wrapping_add(1)].map(|a| (a, w)));
        around
            .filter(|(a, w)| *w == 128 || *a <= u128::from(u32::MAX))
            .collect()
    }

    /// What aggregation must give for `cidrs`: the same addresses, no prefix overlapping another, none that
    /// could merge with another, and no more prefixes than before.
    fn assert_exact_and_minimal(cidrs: &BTreeSet<Cidr>, merged: &BTreeSet<Cidr>) {
        assert!(merged.len() <= cidrs.len());
        for (address, width) in probes([cidrs, merged]) {
            assert_eq!(
                held(cidrs, address, width),
                held(merged, address, width),
                "{address:x} in {cidrs:?} → {merged:?}"
            );
        }
        let blocks: Vec<Block> = merged.iter().map(Block::of).collect();
        for (i, a) in blocks.iter().enumerate() {
            for b in &blocks[i + 1..] {
                assert!(!a.covers(*b) && !b.covers(*a), "{a:?} and {b:?} overlap in {merged:?}");
                assert_eq!(a.merged_with(*b), None, "{a:?} and {b:?} could merge in {merged:?}");
            }
        }
    }

    #[test]
    fn every_bundled_real_file_aggregates_exactly_and_the_newest_drops_to_97_83_and_31() {
        use crate::domain::cidr::IpVersion;
        use crate::domain::ip_ranges::{Filter, Scope, parse};
        use std::io::Read;

        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
        files.retain(|p| p.extension().is_some_and(|e| e == "gz"));
        files.sort();
        assert_eq!(files.len(), 8);
        let filter = Filter::new(&["CLOUDFRONT"], &IpVersion::ALL);
        let mut newest = Vec::new();
        for file in &files {
            let mut bytes = Vec::new();
            let gz = std::fs::File::open(file).unwrap();
            flate2::read::GzDecoder::new(gz).read_to_end(&mut bytes).unwrap();
            let exact = parse(&bytes, &filter).unwrap();
            let merged = parse(&bytes, &filter.clone().aggregated()).unwrap();
            newest.clear();
            for scope in Scope::ALL {
                assert_exact_and_minimal(exact.ranges(scope), merged.ranges(scope));
                for version in IpVersion::ALL {
                    let count = |s: &BTreeSet<Cidr>| s.iter().filter(|c| c.version() == version).count();
                    newest.push((scope, version, count(exact.ranges(scope)), count(merged.ranges(scope))));
                }
            }
        }
        // The newest file (sorted last), as the quota math of docs/targets.md gives it.
        let newest: Vec<(usize, usize)> = newest.iter().map(|(_, _, e, m)| (*e, *m)).collect();
        assert_eq!(newest[..3], [(118, 97), (32, 31), (93, 83)]);
    }

    #[test]
    fn by_property_the_same_addresses_no_overlap_and_nothing_left_to_merge() {
        let mut numbers = Numbers(7);
        for _ in 0..5000 {
            let cidrs = random_set(&mut numbers);
            assert_exact_and_minimal(&cidrs, &aggregate(&cidrs));
        }
    }
}
