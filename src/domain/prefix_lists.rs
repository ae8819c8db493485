//! Planning for customer-managed prefix lists as a target (pure): which entries a list gets and loses, whether
//! it can hold them, and the ModifyManagedPrefixList calls that get it there.
//!
//! Ownership is as with rules: an entry whose description starts with [`DESCRIPTION_PREFIX`] is ours and the
//! only kind ever removed; a hand-made entry stays, and counts as present when its CIDR is wanted. A list gets
//! the wanted CIDRs of its own address family only.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::domain::cidr::{Cidr, IpVersion};
use crate::domain::security_groups::{DESCRIPTION_PREFIX, Group, RuleSource, opens_beyond_cloudfront};

/// The most entries ModifyManagedPrefixList takes to add, and to remove, in one call (`AddEntry.N` and
/// `RemoveEntry.N`: 100 items each, per EC2's API reference).
pub const ENTRIES_PER_CALL: usize = 100;

/// One entry of a prefix list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Its CIDR.
    pub cidr: Cidr,
    /// Its description, if any.
    pub description: Option<String>,
}

impl Entry {
    /// Whether this tool added it.
    pub fn ours(&self) -> bool {
        self.description
            .as_deref()
            .is_some_and(|d| d.starts_with(DESCRIPTION_PREFIX))
    }
}

/// A prefix list as read: the part of it the plan needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct List {
    /// `pl-…`.
    pub id: String,
    /// Its address family.
    pub family: IpVersion,
    /// How many entries it may hold.
    pub max_entries: usize,
    /// Its entries.
    pub entries: Vec<Entry>,
}

/// What a list gets and loses.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ListPlan {
    /// Wanted CIDRs it does not hold yet.
    pub add: BTreeSet<Cidr>,
    /// Our entries whose CIDR is no longer wanted.
    pub remove: BTreeSet<Cidr>,
    /// Wanted CIDRs it already holds (ours or hand-made).
    pub unchanged: usize,
    /// `MaxEntries` to raise the list to first, when it is too small and growing is allowed (a call of its own:
    /// EC2 does not change a list's size and its entries in one call).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grow_to: Option<usize>,
    /// Free entries once the plan is applied.
    pub room_left: usize,
}

/// Why a list cannot be planned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TooSmall {
    /// The entries it would need: the wanted CIDRs of its family and its hand-made entries.
    pub needed: usize,
    /// What it may hold.
    pub max_entries: usize,
}

/// Plan `list` against `wanted` (both address families; the list takes its own). A list too small for its
/// wanted CIDRs plus its hand-made entries is [`TooSmall`], unless `grow` allows raising its `MaxEntries` to
/// exactly what it needs (every security group that references the list counts `MaxEntries` rules).
pub fn plan_list(list: &List, wanted: &BTreeSet<Cidr>, grow: bool) -> Result<ListPlan, TooSmall> {
    let wanted: BTreeSet<Cidr> = wanted.iter().filter(|c| c.version() == list.family).copied().collect();
    let held: BTreeSet<Cidr> = list.entries.iter().map(|e| e.cidr).collect();
    let hand_made: BTreeSet<Cidr> = list.entries.iter().filter(|e| !e.ours()).map(|e| e.cidr).collect();
    let remove: BTreeSet<Cidr> = list
        .entries
        .iter()
        .filter(|e| e.ours() && !wanted.contains(&e.cidr))
        .map(|e| e.cidr)
        .collect();
    let add: BTreeSet<Cidr> = wanted.difference(&held).copied().collect();
    let needed = wanted.union(&hand_made).count();
    let grow_to = match needed > list.max_entries {
        false => None,
        true if grow => Some(needed),
        true => {
            return Err(TooSmall {
                needed,
                max_entries: list.max_entries,
            });
        }
    };
    let max_entries = grow_to.unwrap_or(list.max_entries);
    Ok(ListPlan {
        unchanged: wanted.intersection(&held).count(),
        room_left: max_entries - needed,
        add,
        remove,
        grow_to,
    })
}

/// The empty-selection guard of one list (as [`crate::domain::security_groups::check_not_emptied`] is for a set): when the list's
/// family is selected but the **file** has no range of it at all (`present`: the versions it has, any scope)
/// while the list holds entries of ours, a cut or reformatted file must not remove them: `Err` with how many it
/// holds. A family only the list's scope lost is a real change, applied; a family not selected is not guarded
/// (switching it off removes our entries).
pub fn check_not_emptied(
    list: &List,
    present: &BTreeSet<IpVersion>,
    selected: &BTreeSet<IpVersion>,
) -> Result<(), usize> {
    let ours = list.entries.iter().filter(|e| e.ours()).count();
    guard_family(list.family, present, selected, ours)
}

/// The empty guard of a target that holds one IP version (a prefix list, a WAF IP set): `Err(held)` when
/// `family` is selected, the file has no range of it in any scope (`present` lacks it), and the target holds
/// `held > 0` entries the sync would remove.
pub fn guard_family(
    family: IpVersion,
    present: &BTreeSet<IpVersion>,
    selected: &BTreeSet<IpVersion>,
    held: usize,
) -> Result<(), usize> {
    if held == 0 || !selected.contains(&family) || present.contains(&family) {
        return Ok(());
    }
    Err(held)
}

/// One ModifyManagedPrefixList call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Modification {
    /// Entries added.
    pub add: BTreeSet<Cidr>,
    /// Entries removed.
    pub remove: BTreeSet<Cidr>,
}

/// The calls that apply `plan` to a list holding `held` entries of at most `max_entries` (after any growth), at
/// most [`ENTRIES_PER_CALL`] adds and removes each, as few as that allows. Adds come first: a remove joins an
/// earlier call only when the list would otherwise have no room for that call's adds (a call is applied whole);
/// the others join the last call that adds, and what does not fit follows it. No call leaves the list over
/// `max_entries`.
pub fn modifications(plan: &ListPlan, held: usize, max_entries: usize) -> Vec<Modification> {
    let mut adds: Vec<Cidr> = plan.add.iter().copied().collect();
    let mut removes: Vec<Cidr> = plan.remove.iter().copied().collect();
    let mut size = held;
    let mut calls = Vec::new();
    while !adds.is_empty() {
        let room = max_entries.saturating_sub(size);
        // Removes in this call only as far as the adds need the room.
        let short = adds.len().min(ENTRIES_PER_CALL).saturating_sub(room);
        let remove: BTreeSet<Cidr> = removes.drain(..short.min(removes.len())).collect();
        let n = adds.len().min(ENTRIES_PER_CALL).min(room + remove.len());
        if n == 0 {
            // Only for a plan that does not fit `max_entries`, which `plan_list` never gives.
            break;
        }
        let add: BTreeSet<Cidr> = adds.drain(..n).collect();
        size = size + add.len() - remove.len();
        calls.push(Modification { add, remove });
    }
    // The last call that adds also removes as many as it may: the removes never precede an add.
    if let Some(last) = calls.last_mut() {
        let more = (ENTRIES_PER_CALL - last.remove.len()).min(removes.len());
        last.remove.extend(removes.drain(..more));
    }
    for chunk in removes.chunks(ENTRIES_PER_CALL) {
        calls.push(Modification {
            add: BTreeSet::new(),
            remove: chunk.iter().copied().collect(),
        });
    }
    calls
}

/// The inbound rules of `groups` that reference list `id` and open what CloudFront never connects to, each as
/// `sg-… tcp 22`. Whoever may tag the list would open them to every CloudFront address, so such a list is left
/// as it is (as a group tagged `Protocol=22` is skipped).
pub fn unsafe_references(id: &str, groups: &[Group]) -> Vec<String> {
    let referencing = |g: &'_ Group| {
        let rules = g
            .rules
            .iter()
            .filter(|r| r.source == RuleSource::PrefixList(id.to_owned()));
        rules
            .filter_map(opens_beyond_cloudfront)
            .map(|what| format!("{} {what}", g.id))
            .collect::<Vec<_>>()
    };
    groups.iter().flat_map(referencing).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(i: usize) -> Cidr {
        format!("10.{}.{}.0/24", i / 256, i % 256).parse().unwrap()
    }

    fn ours(cidr: Cidr) -> Entry {
        Entry {
            cidr,
            description: Some(format!("{DESCRIPTION_PREFIX}: CLOUDFRONT GLOBAL")),
        }
    }

    fn hand_made(cidr: Cidr) -> Entry {
        Entry {
            cidr,
            description: Some("office".into()),
        }
    }

    fn list(max_entries: usize, entries: Vec<Entry>) -> List {
        List {
            id: "pl-1".into(),
            family: IpVersion::Ipv4,
            max_entries,
            entries,
        }
    }

    #[test]
    fn a_list_gets_the_wanted_cidrs_of_its_family_and_loses_only_our_stale_entries() {
        let v6: Cidr = "2600:9000::/28".parse().unwrap();
        let wanted: BTreeSet<Cidr> = [v4(1), v4(2), v4(3), v6].into();
        let l = list(10, vec![ours(v4(1)), ours(v4(9)), hand_made(v4(2)), hand_made(v4(8))]);
        let plan = plan_list(&l, &wanted, false).unwrap();
        assert_eq!(plan.add, [v4(3)].into(), "the IPv6 range is not for an IPv4 list");
        assert_eq!(plan.remove, [v4(9)].into(), "the hand-made 10.0.8.0/24 stays");
        assert_eq!(plan.unchanged, 2, "ours and the hand-made wanted one");
        assert_eq!((plan.grow_to, plan.room_left), (None, 10 - 4));
    }

    #[test]
    fn a_list_too_small_for_the_wanted_and_hand_made_entries_fails_with_the_size_it_needs_unless_it_may_grow() {
        let wanted: BTreeSet<Cidr> = (0..5).map(v4).collect();
        let l = list(5, vec![hand_made(v4(100))]);
        assert_eq!(
            plan_list(&l, &wanted, false),
            Err(TooSmall {
                needed: 6,
                max_entries: 5
            })
        );
        let grown = plan_list(&l, &wanted, true).unwrap();
        assert_eq!((grown.grow_to, grown.room_left, grown.add.len()), (Some(6), 0, 5));
    }

    #[test]
    fn a_file_without_ranges_of_the_lists_family_may_not_empty_it_unless_the_family_is_switched_off() {
        let only_v6: BTreeSet<IpVersion> = [IpVersion::Ipv6].into();
        let both: BTreeSet<IpVersion> = IpVersion::ALL.into();
        let holding = list(10, vec![ours(v4(1)), ours(v4(2)), hand_made(v4(3))]);
        assert_eq!(check_not_emptied(&holding, &only_v6, &both), Err(2));
        let hand_made_only = list(10, vec![hand_made(v4(3))]);
        assert_eq!(check_not_emptied(&hand_made_only, &only_v6, &both), Ok(()));
        assert_eq!(check_not_emptied(&holding, &only_v6, &only_v6), Ok(()));
        assert_eq!(check_not_emptied(&holding, &both, &both), Ok(()));
    }

    #[test]
    fn a_list_whose_scope_lost_every_range_of_its_family_is_emptied_when_the_file_still_has_that_family() {
        // Pair C: the regional IPv6 ranges went away while GLOBAL IPv6 ones remain.
        let both: BTreeSet<IpVersion> = IpVersion::ALL.into();
        let regional_v6: Cidr = "2600:9000:5200::/48".parse().unwrap();
        let holding = List {
            id: "pl-r6".into(),
            family: IpVersion::Ipv6,
            max_entries: 20,
            entries: vec![ours(regional_v6)],
        };
        assert_eq!(check_not_emptied(&holding, &both, &both), Ok(()));
        let wanted_now: BTreeSet<Cidr> = [v4(1)].into();
        let plan = plan_list(&holding, &wanted_now, false).unwrap();
        assert_eq!(
            (plan.add.len(), plan.remove, plan.unchanged),
            (0, [regional_v6].into(), 0)
        );
    }

    #[test]
    fn an_up_to_date_list_plans_nothing() {
        let wanted: BTreeSet<Cidr> = (0..3).map(v4).collect();
        let l = list(3, wanted.iter().map(|c| ours(*c)).collect());
        let plan = plan_list(&l, &wanted, false).unwrap();
        assert!(plan.add.is_empty() && plan.remove.is_empty());
        assert!(modifications(&plan, 3, 3).is_empty());
    }

    /// Apply `calls` to `size` entries, checking each call's caps and the list's size after it.
    fn sizes(calls: &[Modification], mut size: usize, max_entries: usize) -> Vec<usize> {
        calls
            .iter()
            .map(|c| {
                assert!(c.add.len() <= ENTRIES_PER_CALL && c.remove.len() <= ENTRIES_PER_CALL);
                size = size + c.add.len() - c.remove.len();
                assert!(size <= max_entries, "{size} over {max_entries}");
                size
            })
            .collect()
    }

    /// A plan adding `adds` new CIDRs and removing `removes` of ours; its calls for a list of `held` entries of at
    /// most `max_entries`, as (adds, removes) per call.
    fn calls_of(adds: usize, removes: usize, held: usize, max_entries: usize) -> (ListPlan, Vec<Modification>) {
        let plan = ListPlan {
            add: (0..adds).map(v4).collect(),
            remove: (1000..1000 + removes).map(v4).collect(),
            ..ListPlan::default()
        };
        let calls = modifications(&plan, held, max_entries);
        (plan, calls)
    }

    fn shape(calls: &[Modification]) -> Vec<(usize, usize)> {
        calls.iter().map(|c| (c.add.len(), c.remove.len())).collect()
    }

    #[test]
    fn adds_come_first_in_calls_of_at_most_100_and_removes_join_the_last_one_then_follow() {
        let (_, calls) = calls_of(250, 150, 150, 400);
        assert_eq!(shape(&calls), [(100, 0), (100, 0), (50, 100), (0, 50)]);
        assert_eq!(sizes(&calls, 150, 400), [250, 350, 300, 250]);
        // A small change is one call.
        let (_, calls) = calls_of(6, 3, 130, 400);
        assert_eq!(shape(&calls), [(6, 3)]);
        let (_, calls) = calls_of(0, 3, 130, 400);
        assert_eq!(shape(&calls), [(0, 3)]);
    }

    #[test]
    fn a_full_list_removes_in_the_same_call_only_what_its_adds_need() {
        // 10 held, 13 allowed: 3 adds fit, the other 3 need the 3 removes in the same call.
        let (plan, calls) = calls_of(6, 3, 10, 13);
        assert_eq!(shape(&calls), [(6, 3)]);
        assert_eq!(sizes(&calls, 10, 13), [13]);
        // Nothing else added or removed: every CIDR exactly once.
        let added: BTreeSet<Cidr> = calls.iter().flat_map(|c| c.add.clone()).collect();
        assert_eq!(added, plan.add);
    }

    /// A rule of `protocol` on `from`..=`to` (`None`: all ports) from prefix list `list`.
    fn rule_from(list: &str, protocol: &str, ports: Option<(i32, i32)>) -> crate::domain::security_groups::Rule {
        use crate::domain::security_groups::{Rule, RuleProtocol};
        Rule {
            protocol: RuleProtocol::from_ec2(protocol),
            from_port: ports.map(|p| p.0),
            to_port: ports.map(|p| p.1),
            source: RuleSource::PrefixList(list.into()),
            description: None,
        }
    }

    #[test]
    fn a_list_is_unsafe_where_a_rule_referencing_it_opens_a_port_cloudfront_never_uses() {
        let group = |id: &str, rules| Group { id: id.into(), rules };
        let groups = [
            group(
                "sg-1",
                vec![
                    rule_from("pl-1", "tcp", Some((443, 443))),
                    rule_from("pl-1", "tcp", Some((80, 80))),
                    rule_from("pl-1", "tcp", Some((1024, 65535))),
                    rule_from("pl-1", "6", Some((8443, 8443))),
                    rule_from("pl-1", "tcp", Some((22, 22))),
                ],
            ),
            group(
                "sg-2",
                vec![
                    rule_from("pl-1", "-1", None),
                    rule_from("pl-1", "tcp", Some((80, 443))),
                    rule_from("pl-1", "tcp", Some((1023, 1024))),
                    rule_from("pl-1", "udp", Some((443, 443))),
                    rule_from("pl-1", "icmp", Some((-1, -1))),
                    rule_from("pl-1", "tcp", Some((0, 65535))),
                    rule_from("pl-2", "tcp", Some((22, 22))),
                ],
            ),
            group("sg-3", vec![rule_from("pl-2", "-1", None)]),
        ];
        assert_eq!(
            unsafe_references("pl-1", &groups),
            [
                "sg-1 tcp 22",
                "sg-2 all traffic",
                "sg-2 tcp 80-443",
                "sg-2 tcp 1023-1024",
                "sg-2 udp 443",
                "sg-2 icmp -1",
                "sg-2 tcp 0-65535"
            ]
        );
        assert_eq!(unsafe_references("pl-3", &groups), Vec::<String>::new());
        let safe = [group("sg-4", vec![rule_from("pl-1", "tcp", Some((443, 443)))])];
        assert!(unsafe_references("pl-1", &safe).is_empty());
    }
}
