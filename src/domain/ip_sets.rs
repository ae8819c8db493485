//! Planning for AWS WAF IP sets as a target (pure): what a set gets and loses, and whether it can hold it.
//!
//! Unlike a security group or a prefix list, a WAF IP set has no per-address description to mark what this tool
//! added, so a tagged IP set is **wholly managed**: after a sync it holds exactly the wanted CIDRs of its own
//! IP version, and any other address is removed. `UpdateIPSet` replaces the whole list, so one call applies a
//! plan of any size.

use std::collections::BTreeSet;

use crate::domain::cidr::{Cidr, IpVersion};

/// The most addresses one IP set may hold (AWS WAF's quota per IP set).
pub const MAX_ADDRESSES: usize = 10_000;

/// An IP set as read: the part of it the plan needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpSet {
    /// Its name (WAF addresses an IP set by name, scope and id).
    pub name: String,
    /// Its id.
    pub id: String,
    /// Its `IPAddressVersion`: it gets the wanted ranges of this version only.
    pub family: IpVersion,
    /// Its description, kept as it is by every update (an update without one would clear it).
    pub description: Option<String>,
    /// Its addresses, canonical.
    pub addresses: BTreeSet<Cidr>,
}

/// What an IP set gets and loses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpSetPlan {
    /// Wanted CIDRs it does not hold yet.
    pub add: BTreeSet<Cidr>,
    /// Addresses it holds that are not wanted (whoever added them).
    pub remove: BTreeSet<Cidr>,
    /// Wanted CIDRs it already holds.
    pub unchanged: usize,
    /// Every address it holds after the update: the wanted CIDRs of its version.
    pub addresses: BTreeSet<Cidr>,
}

impl IpSetPlan {
    /// Nothing to write.
    pub fn is_empty(&self) -> bool {
        self.add.is_empty() && self.remove.is_empty()
    }
}

/// Why an IP set cannot be planned: it would hold more than [`MAX_ADDRESSES`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TooMany {
    /// The wanted CIDRs of its version.
    pub needed: usize,
}

/// Plan `set` against `wanted` (both IP versions; the set takes its own).
pub fn plan_ip_set(set: &IpSet, wanted: &BTreeSet<Cidr>) -> Result<IpSetPlan, TooMany> {
    let addresses: BTreeSet<Cidr> = wanted.iter().filter(|c| c.version() == set.family).copied().collect();
    if addresses.len() > MAX_ADDRESSES {
        return Err(TooMany {
            needed: addresses.len(),
        });
    }
    Ok(IpSetPlan {
        add: addresses.difference(&set.addresses).copied().collect(),
        remove: set.addresses.difference(&addresses).copied().collect(),
        unchanged: addresses.intersection(&set.addresses).count(),
        addresses,
    })
}

/// The empty-selection guard of one IP set (as [`crate::domain::prefix_lists::check_not_emptied`] is for a list): when
/// its version is selected but the **file** has no range of it in any scope (`present` lacks it) while the set
/// holds addresses, a cut or reformatted file must not empty it: `Err` with how many it holds. Every address
/// counts (the set is wholly managed). A version only the set's scope lost is a real change, applied.
pub fn check_not_emptied(
    set: &IpSet,
    present: &BTreeSet<IpVersion>,
    selected: &BTreeSet<IpVersion>,
) -> Result<(), usize> {
    crate::domain::prefix_lists::guard_family(set.family, present, selected, set.addresses.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cidrs(list: &[&str]) -> BTreeSet<Cidr> {
        list.iter().map(|c| c.parse().unwrap()).collect()
    }

    fn set(family: IpVersion, addresses: &[&str]) -> IpSet {
        IpSet {
            name: "cloudfront".into(),
            id: "id-1".into(),
            family,
            description: None,
            addresses: cidrs(addresses),
        }
    }

    const WANTED: [&str; 4] = ["13.32.0.0/15", "52.84.0.0/15", "2600:9000::/28", "2a04:4e42::/32"];

    /// The plan of a set of `family` holding `addresses`, against [`WANTED`].
    fn plan(family: IpVersion, addresses: &[&str]) -> IpSetPlan {
        plan_ip_set(&set(family, addresses), &cidrs(&WANTED)).unwrap()
    }

    #[test]
    fn an_ipv4_set_gets_the_ipv4_ranges_only_and_loses_every_address_not_wanted() {
        let plan = plan(IpVersion::Ipv4, &["13.32.0.0/15", "198.51.100.7/32"]);
        assert_eq!(plan.add, cidrs(&["52.84.0.0/15"]));
        assert_eq!(
            plan.remove,
            cidrs(&["198.51.100.7/32"]),
            "a hand-added address is removed too"
        );
        assert_eq!(plan.unchanged, 1);
        assert_eq!(plan.addresses, cidrs(&["13.32.0.0/15", "52.84.0.0/15"]));
    }

    #[test]
    fn an_ipv6_set_gets_the_ipv6_ranges_only() {
        let plan = plan(IpVersion::Ipv6, &[]);
        assert_eq!(plan.add, cidrs(&["2600:9000::/28", "2a04:4e42::/32"]));
        assert!(plan.remove.is_empty());
    }

    #[test]
    fn a_set_already_holding_its_ranges_needs_nothing() {
        let plan = plan(IpVersion::Ipv4, &["52.84.0.0/15", "13.32.0.0/15"]);
        assert!(plan.is_empty());
        assert_eq!(plan.unchanged, 2);
    }

    #[test]
    fn more_wanted_ranges_than_an_ip_set_holds_is_refused() {
        let many: BTreeSet<Cidr> = (0..=MAX_ADDRESSES as u32)
            .map(|i| format!("10.{}.{}.0/24", i / 256, i % 256).parse().unwrap())
            .collect();
        assert_eq!(
            plan_ip_set(&set(IpVersion::Ipv4, &[]), &many),
            Err(TooMany {
                needed: MAX_ADDRESSES + 1
            })
        );
    }

    #[test]
    fn the_guard_refuses_to_empty_a_set_of_a_version_the_file_lacks_and_lets_an_empty_one_be() {
        let both = BTreeSet::from([IpVersion::Ipv4, IpVersion::Ipv6]);
        let only_v6 = BTreeSet::from([IpVersion::Ipv6]);
        assert_eq!(
            check_not_emptied(&set(IpVersion::Ipv4, &["13.32.0.0/15"]), &only_v6, &both),
            Err(1)
        );
        assert_eq!(check_not_emptied(&set(IpVersion::Ipv4, &[]), &only_v6, &both), Ok(()));
        assert_eq!(
            check_not_emptied(&set(IpVersion::Ipv4, &["13.32.0.0/15"]), &only_v6, &only_v6),
            Ok(()),
            "a version switched off is emptied on purpose"
        );
    }

    #[test]
    fn an_ip_set_whose_scope_lost_its_version_is_emptied_when_the_file_still_has_that_version() {
        let both = BTreeSet::from([IpVersion::Ipv4, IpVersion::Ipv6]);
        let regional_v6 = set(IpVersion::Ipv6, &["2600:9000:5200::/48"]);
        assert_eq!(check_not_emptied(&regional_v6, &both, &both), Ok(()));
        let plan = plan_ip_set(&regional_v6, &cidrs(&["13.32.0.0/15"])).unwrap();
        assert_eq!((plan.add.len(), plan.remove.len(), plan.addresses.len()), (0, 1, 0));
    }
}
