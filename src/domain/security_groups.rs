//! Decide, for one set of security groups, which rules to authorize and which to revoke.
//!
//! Pure: the wanted CIDRs and the groups' current rules in, a [`SetPlan`] out. No I/O, no SDK types.
//!
//! Rules of the game:
//! - A rule is *ours* when it is tcp, one port, one CIDR, and its description begins with
//!   [`DESCRIPTION_PREFIX`]. Only ours are ever revoked.
//! - A wanted CIDR is *present* when one of the set's groups holds it as our rule on the set's port, or as a
//!   hand-made rule (any description) that lets tcp to that port in from exactly that CIDR.
//! - Existing rules stay where they are. Missing CIDRs fill the group with the most room first, so a change
//!   touches as few groups as possible. Our copies of a CIDR beyond the first in a set are revoked.
//! - Each group holds at most `max_rules` ingress rules per IP version, counting every rule it has: a rule that
//!   references a security group counts 1 for both versions; one that references a prefix list counts the list's
//!   weight (a customer-managed list's `MaxEntries`, an AWS-managed list's documented weight) for the list's
//!   own IP version, as EC2 counts it.
//! - Authorizations come before revocations. Only when a group has no room until its stale rules are revoked
//!   is a CIDR placed in the *after revoke* phase.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::domain::cidr::{Cidr, IpVersion};
use crate::domain::ip_ranges::{MAX_AHEAD_SECS, Scope};
use crate::error::{Error, Result};

/// Every rule this tool creates has a description that starts with this.
pub const DESCRIPTION_PREFIX: &str = "cloudfront-sg-sync";

/// The description of the rules created for `scope` and `service`.
pub fn rule_description(scope: Scope, service: &str) -> String {
    format!("{DESCRIPTION_PREFIX}: {service} {}", scope.describe())
}

/// The ports CloudFront connects to an origin on: 80, 443 and 1024-65535 (CloudFront's origin settings accept
/// no other HTTP or HTTPS port). A `Protocol` tag naming any other port (22, 445…) would open it to every
/// CloudFront address for nothing, so such a group is skipped.
pub fn cloudfront_connects_to(port: u16) -> bool {
    port == 80 || port == 443 || port >= 1024
}

/// What a rule opens that CloudFront never connects to, or `None`: all traffic, a protocol other than tcp, or a
/// tcp port outside 80, 443 and 1024-65535. Said as `tcp 20-25`, `udp 53`, `all traffic`.
pub fn opens_beyond_cloudfront(rule: &Rule) -> Option<String> {
    let ports = match (rule.from_port, rule.to_port) {
        (Some(from), Some(to)) if from == to => format!("{from}"),
        (Some(from), Some(to)) => format!("{from}-{to}"),
        _ => "all ports".to_owned(),
    };
    match &rule.protocol {
        RuleProtocol::All => Some("all traffic".to_owned()),
        RuleProtocol::Other(protocol) => Some(format!("{protocol} {ports}")),
        RuleProtocol::Tcp => {
            let from = rule.from_port.unwrap_or(0).clamp(0, 65_535);
            let to = rule.to_port.unwrap_or(65_535).clamp(from, 65_535);
            let below = (from..=to.min(1023)).filter_map(|p| u16::try_from(p).ok());
            let mut beyond = below.filter(|p| !cloudfront_connects_to(*p));
            beyond.next().map(|_| format!("tcp {ports}"))
        }
    }
}

/// Why a group's `Protocol` tag cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadProtocol {
    /// Neither `http`, `https` nor a port number (1-65535).
    Unreadable,
    /// A port CloudFront never connects to (see [`cloudfront_connects_to`]).
    NotCloudFront(u16),
}

/// What is wrong with a group's `Protocol` tag (`None`: it has none), said for the summary and the log.
pub fn protocol_problem(value: Option<&str>, bad: BadProtocol) -> String {
    const EXPECTED: &str = "http, https, 80, 443 or a port from 1024 to 65535";
    match (value, bad) {
        (None, _) => format!("no Protocol tag (expected {EXPECTED})"),
        (Some(v), BadProtocol::Unreadable) => format!("Protocol tag {v:?} is not {EXPECTED}"),
        (Some(v), BadProtocol::NotCloudFront(port)) => format!(
            "Protocol tag {v:?} names port {port}, which CloudFront never connects to (it uses 80, 443 and 1024-65535): nothing is opened"
        ),
    }
}

/// The port that a group's `Protocol` tag names: `http` (80), `https` (443) or a port number CloudFront connects
/// to ([`cloudfront_connects_to`]).
pub fn port_of_protocol_tag(value: &str) -> std::result::Result<u16, BadProtocol> {
    let port = match value.to_ascii_lowercase().as_str() {
        "http" => 80,
        "https" => 443,
        digits if !digits.is_empty() && digits.len() <= 5 && digits.bytes().all(|b| b.is_ascii_digit()) => {
            digits.parse().ok().filter(|p| *p != 0).ok_or(BadProtocol::Unreadable)?
        }
        _ => return Err(BadProtocol::Unreadable),
    };
    match cloudfront_connects_to(port) {
        true => Ok(port),
        false => Err(BadProtocol::NotCloudFront(port)),
    }
}

/// The IP protocol of a rule, as EC2 reports it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum RuleProtocol {
    /// `tcp` or `6`.
    Tcp,
    /// `-1`: all protocols, all ports.
    All,
    /// udp, icmp, a protocol number...
    Other(String),
}

impl RuleProtocol {
    /// Parse EC2's `IpProtocol` (`tcp`, `6`, `-1`, `udp`...).
    pub fn from_ec2(value: &str) -> RuleProtocol {
        match value {
            "tcp" | "6" => RuleProtocol::Tcp,
            "-1" | "all" => RuleProtocol::All,
            other => RuleProtocol::Other(other.to_owned()),
        }
    }
}

/// Where a rule lets traffic in from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum RuleSource {
    /// An IPv4 or IPv6 block.
    Cidr(Cidr),
    /// A security group reference (or a source EC2 sent that we cannot read): counts 1 against both IP
    /// versions' quota.
    Reference(String),
    /// A managed prefix list reference (`pl-…`): counts the list's weight against the quota of its IP version.
    PrefixList(String),
}

/// How much a referenced prefix list weighs in a security group's rules quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrefixListWeight {
    /// The list's address family: it counts against this IP version's quota only.
    pub version: IpVersion,
    /// Rules it counts as: a customer-managed list's `MaxEntries`, an AWS-managed list's weight.
    pub weight: usize,
}

/// The weights of the prefix lists a region's groups reference, by id.
pub type PrefixListWeights = BTreeMap<String, PrefixListWeight>;

/// The documented weights of AWS-managed prefix lists (VPC User Guide, "AWS-managed prefix list weight"), by
/// name with the region replaced by `*`. EC2 does not return them: `MaxEntries` is only set on
/// customer-managed lists.
const AWS_MANAGED_WEIGHTS: &[(&str, usize)] = &[
    ("com.amazonaws.global.cloudfront.origin-facing", 55),
    ("com.amazonaws.global.ipv6.cloudfront.origin-facing", 55),
    ("com.amazonaws.*.dynamodb", 1),
    ("com.amazonaws.*.ec2-instance-connect", 2),
    ("com.amazonaws.*.ipv6.ec2-instance-connect", 2),
    ("com.amazonaws.global.groundstation", 5),
    ("com.amazonaws.*.route53-healthchecks", 25),
    ("com.amazonaws.*.ipv6.route53-healthchecks", 25),
    ("com.amazonaws.*.s3", 1),
    ("com.amazonaws.*.s3express", 6),
    ("com.amazonaws.*.vpc-lattice", 10),
    ("com.amazonaws.*.ipv6.vpc-lattice", 10),
];

/// The weight of a prefix list in a security group: the documented weight of an AWS-managed list (by name),
/// else the list's `MaxEntries`. `None` when neither is known.
pub fn prefix_list_weight(name: &str, max_entries: Option<usize>) -> Option<usize> {
    let documented = AWS_MANAGED_WEIGHTS.iter().find_map(|(pattern, weight)| {
        let (head, tail) = pattern.split_once('*').unwrap_or((pattern, ""));
        let region = name.strip_prefix(head).and_then(|rest| rest.strip_suffix(tail));
        let matches = if pattern.contains('*') {
            region.is_some_and(|r| !r.is_empty() && !r.contains('.'))
        } else {
            name == *pattern
        };
        matches.then_some(*weight)
    });
    documented.or(max_entries)
}

/// One ingress rule: one source, as EC2 counts rules.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Rule {
    /// Its IP protocol.
    pub protocol: RuleProtocol,
    /// First port (none for all-traffic rules).
    pub from_port: Option<i32>,
    /// Last port.
    pub to_port: Option<i32>,
    /// Where it lets traffic in from.
    pub source: RuleSource,
    /// Its description, which marks our rules.
    pub description: Option<String>,
}

impl Rule {
    /// Whether its source is one of the prefix lists `lists`.
    pub fn from_any_list(&self, lists: &BTreeSet<String>) -> bool {
        matches!(&self.source, RuleSource::PrefixList(id) if lists.contains(id))
    }

    /// The CIDR of a rule this tool created (tcp, one port, one CIDR, our description), with its port.
    pub fn ours(&self) -> Option<(Cidr, u16)> {
        let (port, cidr) = self.single_port()?;
        let ours = self
            .description
            .as_deref()
            .is_some_and(|d| d.starts_with(DESCRIPTION_PREFIX));
        ours.then_some((cidr, port))
    }

    /// The port and CIDR of a single-port tcp rule from one CIDR, whoever made it: the rule EC2 calls a
    /// duplicate when it is authorized again.
    pub fn single_port(&self) -> Option<(u16, Cidr)> {
        let RuleSource::Cidr(cidr) = self.source else {
            return None;
        };
        let port = u16::try_from(self.from_port?).ok()?;
        (self.protocol == RuleProtocol::Tcp && self.to_port == self.from_port).then_some((port, cidr))
    }

    /// Whether this rule lets tcp to `port` in from exactly `cidr`.
    fn admits(&self, cidr: Cidr, port: u16) -> bool {
        self.source == RuleSource::Cidr(cidr) && self.covers(port)
    }

    /// Whether this rule lets tcp to `port` in, from its source: a tcp rule whose range holds the port, or an
    /// all-traffic rule.
    pub fn covers(&self, port: u16) -> bool {
        match self.protocol {
            RuleProtocol::All => true,
            RuleProtocol::Tcp => {
                let port = i32::from(port);
                self.from_port.is_some_and(|f| f <= port) && self.to_port.is_some_and(|t| port <= t)
            }
            RuleProtocol::Other(_) => false,
        }
    }

    /// How many rules of `version`'s quota this rule takes; `Err` with the prefix list's id when it references
    /// a list whose weight is unknown.
    fn weight(&self, version: IpVersion, lists: &PrefixListWeights) -> std::result::Result<usize, String> {
        match &self.source {
            RuleSource::Cidr(c) => Ok(usize::from(c.version() == version)),
            RuleSource::Reference(_) => Ok(1),
            RuleSource::PrefixList(id) => match lists.get(id) {
                Some(list) if list.version == version => Ok(list.weight),
                Some(_) => Ok(0),
                None => Err(id.clone()),
            },
        }
    }
}

/// A security group as the sync sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// `sg-…`.
    pub id: String,
    /// Its ingress rules, one per source.
    pub rules: Vec<Rule>,
}

/// The identity of a set: groups with the same account, region, VPC, `Name` and port share one copy of the
/// ranges.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SetKey {
    /// The account, when the run syncs listed accounts (`ACCOUNTS`); `None`: the function's own.
    pub account: Option<String>,
    /// The region.
    pub region: String,
    /// The VPC.
    pub vpc: String,
    /// The `Name` tag: which ranges it holds.
    pub scope: Scope,
    /// The port of its `Protocol` tag.
    pub port: u16,
}

impl SetKey {
    /// `http`, `https` or the port number, as the `Protocol` tag says it.
    pub fn protocol(&self) -> String {
        match self.port {
            80 => "http".into(),
            443 => "https".into(),
            p => p.to_string(),
        }
    }
}

impl serde::Serialize for SetKey {
    /// `account` (when there is one), `region`, `vpc`, `scope` (the `Name` tag), `protocol` and `port`.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut out = serializer.serialize_struct("SetKey", 6)?;
        match &self.account {
            Some(account) => out.serialize_field("account", account)?,
            None => out.skip_field("account")?,
        }
        out.serialize_field("region", &self.region)?;
        out.serialize_field("vpc", &self.vpc)?;
        out.serialize_field("scope", &self.scope)?;
        out.serialize_field("protocol", &self.protocol())?;
        out.serialize_field("port", &self.port)?;
        out.end()
    }
}

impl fmt::Display for SetKey {
    /// `[account/]region/vpc/scope/protocol`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(account) = &self.account {
            write!(f, "{account}/")?;
        }
        write!(f, "{}/{}/{}/{}", self.region, self.vpc, self.scope, self.protocol())
    }
}

/// The changes to one group.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct GroupPlan {
    /// Authorized first.
    #[serde(skip_serializing_if = "BTreeSet::is_empty")]
    pub authorize: BTreeSet<Cidr>,
    /// Revoked once every authorization of the set has been made, per port.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub revoke: BTreeMap<u16, BTreeSet<Cidr>>,
    /// Authorized after the revocations, because the group has no room before them.
    #[serde(skip_serializing_if = "BTreeSet::is_empty")]
    pub authorize_after_revoke: BTreeSet<Cidr>,
}

impl GroupPlan {
    /// How many rules are revoked.
    pub fn revoked(&self) -> usize {
        self.revoke.values().map(BTreeSet::len).sum()
    }

    /// No write for this group.
    pub fn is_empty(&self) -> bool {
        self.authorize.is_empty() && self.revoke.is_empty() && self.authorize_after_revoke.is_empty()
    }
}

/// What to do to one set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SetPlan {
    /// Per group id, only the groups that change.
    pub changes: BTreeMap<String, GroupPlan>,
    /// Wanted CIDRs to be authorized.
    pub added: usize,
    /// Our rules to be revoked (stale CIDRs, other ports, second copies).
    pub removed: usize,
    /// Wanted CIDRs already present.
    pub unchanged: usize,
    /// Free rule slots per IP version once the plan is applied.
    pub room_left: BTreeMap<IpVersion, usize>,
    /// Per IP version, the rules the set's groups hold beyond `max_rules` (only versions with some): the quota
    /// set is lower than what EC2 lets the groups hold.
    pub over_quota: BTreeMap<IpVersion, usize>,
    /// Rule slots per IP version: groups × `max_rules`.
    pub capacity: usize,
}

impl SetPlan {
    /// Share of the set's rule slots in use once applied, for the fullest IP version.
    pub fn fullness(&self) -> f64 {
        if self.capacity == 0 {
            return 1.0;
        }
        let least_room = self.room_left.values().copied().min().unwrap_or(self.capacity);
        (self.capacity - least_room) as f64 / self.capacity as f64
    }
}

/// Rules of a group on a port that this tool did not create: tcp, exactly that port, one CIDR.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Unmanaged {
    /// Their CIDR is a wanted range: they can be adopted.
    pub adoptable: BTreeSet<Cidr>,
    /// Any other CIDR: left alone.
    pub other: BTreeSet<Cidr>,
}

/// Sort a group's unmanaged single-port rules on `port` into adoptable (wanted CIDR) and other.
pub fn unmanaged(port: u16, wanted: &BTreeSet<Cidr>, group: &Group) -> Unmanaged {
    let mut out = Unmanaged::default();
    for rule in &group.rules {
        let RuleSource::Cidr(cidr) = rule.source else { continue };
        let on_port = rule.protocol == RuleProtocol::Tcp
            && rule.from_port == Some(i32::from(port))
            && rule.to_port == Some(i32::from(port));
        if on_port && rule.ours().is_none() {
            if wanted.contains(&cidr) {
                &mut out.adoptable
            } else {
                &mut out.other
            }
            .insert(cidr);
        }
    }
    out
}

/// The rules quota a set is planned within.
#[derive(Debug, Clone, Copy)]
pub struct Quota<'a> {
    /// Ingress rules a group may hold per IP version.
    pub max_rules: usize,
    /// The weights of the prefix lists the set's groups reference.
    pub prefix_lists: &'a PrefixListWeights,
}

impl Quota<'static> {
    /// `max_rules` per group per IP version, for groups that reference no prefix list.
    pub fn new(max_rules: usize) -> Quota<'static> {
        static NONE: PrefixListWeights = BTreeMap::new();
        Quota {
            max_rules,
            prefix_lists: &NONE,
        }
    }
}

/// Free rule slots of one group for one IP version.
#[derive(Debug, Clone, Copy)]
struct Room {
    /// Index of the group in id order.
    group: usize,
    /// Free before any revoke.
    now: usize,
    /// Freed by this group's planned revokes.
    freed: usize,
    /// Rules it holds beyond the quota (`MAX_RULES_PER_GROUP` lower than what EC2 let it hold).
    over: usize,
}

/// Plan one set: `groups` are its groups (any order), `wanted` the CIDRs it must hold on `key.port`.
pub fn plan_set(key: &SetKey, wanted: &BTreeSet<Cidr>, groups: &[Group], quota: Quota<'_>) -> Result<SetPlan> {
    let mut groups: Vec<&Group> = groups.iter().collect();
    groups.sort_by(|a, b| a.id.cmp(&b.id));

    let (mut changes, held) = stale_rules(key, wanted, &groups);
    let missing: BTreeSet<Cidr> = wanted
        .iter()
        .filter(|c| !held.contains(c) && !admitted_by_hand(key, &groups, **c))
        .copied()
        .collect();

    let mut room_left = BTreeMap::new();
    let mut over_quota = BTreeMap::new();
    for version in IpVersion::ALL {
        let missing: Vec<Cidr> = missing.iter().filter(|c| c.version() == version).copied().collect();
        let rooms = rooms(key, &groups, &changes, version, quota)?;
        let over: usize = rooms.iter().map(|r| r.over).sum();
        if over > 0 {
            over_quota.insert(version, over);
        }
        let total: usize = rooms.iter().map(|r| r.now + r.freed).sum();
        if missing.len() > total {
            let needed = missing.len() - total;
            return Err(Error::SetTooSmall {
                set: key.to_string(),
                version: version.as_str(),
                needed,
                groups: groups.len(),
                max_rules: quota.max_rules,
                more_groups: needed.div_ceil(quota.max_rules.max(1)),
            });
        }
        room_left.insert(version, total - missing.len());
        place(&mut changes, &groups, &rooms, missing);
    }

    changes.retain(|_, plan| !plan.is_empty());
    let added = missing.len();
    Ok(SetPlan {
        removed: changes.values().map(GroupPlan::revoked).sum(),
        changes: changes.into_iter().map(|(id, plan)| (id.to_owned(), plan)).collect(),
        added,
        unchanged: wanted.len() - added,
        room_left,
        over_quota,
        capacity: groups.len() * quota.max_rules,
    })
}

/// Our rules to revoke (stale CIDRs, other ports, second copies) per group, and the wanted CIDRs we hold: the
/// first copy found, in group id order, stays.
fn stale_rules<'g>(
    key: &SetKey,
    wanted: &BTreeSet<Cidr>,
    groups: &[&'g Group],
) -> (BTreeMap<&'g str, GroupPlan>, BTreeSet<Cidr>) {
    let mut changes: BTreeMap<&str, GroupPlan> = BTreeMap::new();
    let mut held: BTreeSet<Cidr> = BTreeSet::new();
    for group in groups {
        for (cidr, port) in group.rules.iter().filter_map(Rule::ours) {
            if port == key.port && wanted.contains(&cidr) && held.insert(cidr) {
                continue;
            }
            let plan = changes.entry(&group.id).or_default();
            plan.revoke.entry(port).or_default().insert(cidr);
        }
    }
    (changes, held)
}

/// Every rule of ours in `group`, per port (what `cloudfront-sg-sync remove` revokes; hand-made rules stay).
pub fn our_rules(group: &Group) -> BTreeMap<u16, BTreeSet<Cidr>> {
    let mut rules: BTreeMap<u16, BTreeSet<Cidr>> = BTreeMap::new();
    for (cidr, port) in group.rules.iter().filter_map(Rule::ours) {
        rules.entry(port).or_default().insert(cidr);
    }
    rules
}

/// Whether a rule we did not create already lets `cidr` in on the set's port.
fn admitted_by_hand(key: &SetKey, groups: &[&Group], cidr: Cidr) -> bool {
    groups
        .iter()
        .any(|g| g.rules.iter().any(|r| r.ours().is_none() && r.admits(cidr, key.port)))
}

/// Each group's room for `version`, in group id order.
fn rooms(
    key: &SetKey,
    groups: &[&Group],
    changes: &BTreeMap<&str, GroupPlan>,
    version: IpVersion,
    quota: Quota<'_>,
) -> Result<Vec<Room>> {
    groups
        .iter()
        .enumerate()
        .map(|(index, g)| {
            let mut used = 0;
            for rule in &g.rules {
                used += rule
                    .weight(version, quota.prefix_lists)
                    .map_err(|prefix_list| Error::PrefixListUnknown {
                        set: key.to_string(),
                        group: g.id.clone(),
                        prefix_list,
                    })?;
            }
            let revoked = changes.get(g.id.as_str()).map_or(0, |p| {
                p.revoke.values().flatten().filter(|c| c.version() == version).count()
            });
            let now = quota.max_rules.saturating_sub(used);
            Ok(Room {
                group: index,
                now,
                freed: quota.max_rules.saturating_sub(used - revoked) - now,
                over: used.saturating_sub(quota.max_rules),
            })
        })
        .collect()
}

/// Spread `missing` over the groups: the room that needs no revoke first, the group with the most room first
/// (ties by group id), then the room the revokes free.
fn place<'g>(changes: &mut BTreeMap<&'g str, GroupPlan>, groups: &[&'g Group], rooms: &[Room], missing: Vec<Cidr>) {
    let mut todo = missing.into_iter();
    for after_revoke in [false, true] {
        let mut order: Vec<(usize, usize)> = rooms
            .iter()
            .map(|r| (if after_revoke { r.freed } else { r.now }, r.group))
            .collect();
        order.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        for (room, index) in order {
            let plan = changes.entry(&groups[index].id).or_default();
            let target = if after_revoke {
                &mut plan.authorize_after_revoke
            } else {
                &mut plan.authorize
            };
            target.extend(todo.by_ref().take(room));
        }
    }
}

/// The writes of a round that EC2 answered with success, per group: the (port, CIDR) authorized and revoked.
/// They are facts: a read that shows less of them lags, it does not contradict them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Written {
    /// Rules authorized, per group.
    pub authorized: BTreeMap<String, BTreeSet<(u16, Cidr)>>,
    /// Rules revoked, per group.
    pub revoked: BTreeMap<String, BTreeSet<(u16, Cidr)>>,
}

impl Written {
    /// Nothing was written.
    pub fn is_empty(&self) -> bool {
        self.authorized
            .values()
            .chain(self.revoked.values())
            .all(BTreeSet::is_empty)
    }
}

/// Whether `now` (a group read after EC2 refused it more rules) holds no more rules than it was planned from
/// (`planned_from`) with the round's own successful writes to it: no other writer filled it, so the refusal is the
/// account's rules quota, not a conflict.
pub fn filled_by_no_other(planned_from: &Group, written: &Written, now: &Group) -> bool {
    let ours = |writes: &BTreeMap<String, BTreeSet<(u16, Cidr)>>| writes.get(&now.id).map_or(0, BTreeSet::len);
    let expected = (planned_from.rules.len() + ours(&written.authorized)).saturating_sub(ours(&written.revoked));
    now.rules.len() <= expected
}

/// What a read of a set after our writes shows, against the set as planned and what was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// Every write of ours, and nothing else changed.
    Reflects,
    /// Part of our writes only, and nothing we did not do: the read lags them (EC2 is eventually consistent).
    Lags,
    /// A change we did not make (another writer, a person): plan again from it.
    Changed,
}

/// How the groups read `now` compare with the groups as planned (`before`) and our successful writes. Groups
/// gone from `now` are left out (the set is re-formed without them). Only single-port tcp CIDR rules can be
/// ours; any other rule must be as it was.
pub fn seen_after(before: &[Group], written: &Written, now: &[Group]) -> Seen {
    let none = BTreeSet::new();
    let mut seen = Seen::Reflects;
    for group in now {
        let Some(was) = before.iter().find(|b| b.id == group.id) else {
            return Seen::Changed;
        };
        let (was_singles, was_others) = split_rules(was);
        let (singles, others) = split_rules(group);
        let authorized = written.authorized.get(&group.id).unwrap_or(&none);
        let revoked = written.revoked.get(&group.id).unwrap_or(&none);
        let after: BTreeSet<(u16, Cidr)> = was_singles
            .union(authorized)
            .filter(|r| !revoked.contains(r))
            .copied()
            .collect();
        if others != was_others {
            return Seen::Changed;
        }
        if singles == after {
            continue;
        }
        let within = singles
            .iter()
            .all(|r| was_singles.contains(r) || authorized.contains(r));
        let kept = was_singles.iter().all(|r| revoked.contains(r) || singles.contains(r));
        if !(within && kept) {
            return Seen::Changed;
        }
        seen = Seen::Lags;
    }
    seen
}

/// A group's single-port tcp CIDR rules as (port, CIDR), and its other rules.
fn split_rules(group: &Group) -> (BTreeSet<(u16, Cidr)>, BTreeSet<&Rule>) {
    let mut singles = BTreeSet::new();
    let mut others = BTreeSet::new();
    for rule in &group.rules {
        match rule.single_port() {
            Some(single) => singles.insert(single),
            None => others.insert(rule),
        };
    }
    (singles, others)
}

/// The tag, on each group of a set, that records the file last applied to the set (see [`AppliedMark`]).
pub const SYNC_TOKEN_TAG: &str = "cloudfront-sg-sync:synctoken";

/// What a set last had applied: the file's `syncToken` and the IP versions it had ranges of for the set's
/// scope. Written as the [`SYNC_TOKEN_TAG`] tag, `1787411825 ipv4 ipv6`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct AppliedMark {
    /// The file's `syncToken`.
    pub sync_token: u64,
    /// The IP versions the file had ranges of, for the set's scope.
    pub versions: BTreeSet<IpVersion>,
}

impl AppliedMark {
    /// The mark of `wanted` (the set's ranges) from the file with `sync_token`.
    pub fn of(sync_token: u64, wanted: &BTreeSet<Cidr>) -> AppliedMark {
        AppliedMark {
            sync_token,
            versions: wanted.iter().map(Cidr::version).collect(),
        }
    }

    /// Read a tag value; `None` if it is not one we wrote.
    pub fn parse(value: &str) -> Option<AppliedMark> {
        let mut words = value.split(' ');
        let sync_token = crate::domain::ip_ranges::parse_sync_token(words.next()?)?;
        let versions = words
            .map(|w| IpVersion::ALL.into_iter().find(|v| v.as_str() == w))
            .collect::<Option<BTreeSet<IpVersion>>>()?;
        Some(AppliedMark { sync_token, versions })
    }
}

impl fmt::Display for AppliedMark {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.sync_token)?;
        self.versions.iter().try_for_each(|v| write!(f, " {v}"))
    }
}

/// The [`SYNC_TOKEN_TAG`] tag as a target carries it: a mark we could have written, or a value we never write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MarkTag {
    /// A readable mark (trusted only once judged against the clock: see [`trusted_mark`]).
    Mark(AppliedMark),
    /// A value that is not a mark.
    Unreadable(String),
}

impl MarkTag {
    /// Read a tag's value.
    pub fn read(value: &str) -> MarkTag {
        AppliedMark::parse(value).map_or_else(|| MarkTag::Unreadable(value.to_owned()), MarkTag::Mark)
    }

    /// The mark, if the value is one (trusted or not).
    pub fn mark(&self) -> Option<&AppliedMark> {
        match self {
            MarkTag::Mark(mark) => Some(mark),
            MarkTag::Unreadable(_) => None,
        }
    }
}

impl fmt::Display for MarkTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MarkTag::Mark(mark) => write!(f, "{mark}"),
            MarkTag::Unreadable(value) => f.write_str(value),
        }
    }
}

/// A mark the run does not trust (see [`trusted_mark`]): it counts as absent, the file is applied and the mark
/// is overwritten with it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ForgedMark {
    /// The group, prefix list or IP set that carries it.
    pub target: String,
    /// The tag's value.
    pub value: String,
    /// Why it is not trusted.
    pub reason: String,
}

/// The mark of `target` the run may trust at `now` (Unix seconds), or why not. No real file is from the future
/// (files are refused more than [`MAX_AHEAD_SECS`] ahead of the clock), so a mark further ahead was written by
/// someone else: trusted, it would make every real file look older and freeze the target. A value we never
/// write is no mark either. Both count as absent.
pub fn trusted_mark<'a>(
    target: &str,
    tag: Option<&'a MarkTag>,
    now: u64,
) -> std::result::Result<Option<&'a AppliedMark>, ForgedMark> {
    let forged = |reason: String| ForgedMark {
        target: target.to_owned(),
        value: tag.map(ToString::to_string).unwrap_or_default(),
        reason,
    };
    match tag {
        None => Ok(None),
        Some(MarkTag::Unreadable(_)) => Err(forged("not a mark this tool writes".to_owned())),
        Some(MarkTag::Mark(mark)) if mark.sync_token > now.saturating_add(MAX_AHEAD_SECS) => Err(forged(format!(
            "{} s ahead of the clock; no real file is",
            mark.sync_token - now
        ))),
        Some(MarkTag::Mark(mark)) => Ok(Some(mark)),
    }
}

/// The newest mark among a set's groups (a group added to the set later has none, or an older one).
pub fn applied_mark<'a>(marks: impl IntoIterator<Item = Option<&'a AppliedMark>>) -> Option<&'a AppliedMark> {
    marks.into_iter().flatten().max()
}

/// The empty-selection guard of one set, per IP version: a selected version of which the **file** has no
/// range at all, in any scope (`present`, see [`crate::domain::ip_ranges::Selection::versions`]), while the set holds
/// our rules of that version or the file applied before had ranges of it, is refused: a cut or reformatted
/// file must not revoke them. A version the set's scope lost while the file still has ranges of it elsewhere
/// is a real change, applied (revocations included); a version simply empty, where the set holds nothing of
/// ours, is in sync.
pub fn check_not_emptied(
    key: &SetKey,
    present: &BTreeSet<IpVersion>,
    selected: &BTreeSet<IpVersion>,
    groups: &[Group],
    applied: Option<&AppliedMark>,
) -> Result<()> {
    for version in selected.difference(present) {
        let held = groups
            .iter()
            .flat_map(|g| g.rules.iter().filter_map(Rule::ours))
            .filter(|(c, _)| c.version() == *version)
            .count();
        let before = applied.filter(|m| m.versions.contains(version));
        if held > 0 || before.is_some() {
            return Err(Error::EmptyRanges {
                target: format!("set {key}"),
                version: version.as_str(),
                held,
                previous_token: before.map(|m| m.sync_token),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Cidr {
        s.parse().unwrap()
    }

    fn key() -> SetKey {
        SetKey {
            account: None,
            region: "us-east-1".into(),
            vpc: "vpc-1".into(),
            scope: Scope::Global,
            port: 443,
        }
    }

    fn ours(cidr: &str, port: i32) -> Rule {
        Rule {
            protocol: RuleProtocol::Tcp,
            from_port: Some(port),
            to_port: Some(port),
            source: RuleSource::Cidr(c(cidr)),
            description: Some(rule_description(Scope::Global, "CLOUDFRONT")),
        }
    }

    fn hand_made(protocol: RuleProtocol, from: Option<i32>, to: Option<i32>, cidr: &str) -> Rule {
        Rule {
            protocol,
            from_port: from,
            to_port: to,
            source: RuleSource::Cidr(c(cidr)),
            description: Some("office".into()),
        }
    }

    fn reference(id: &str) -> Rule {
        Rule {
            protocol: RuleProtocol::Tcp,
            from_port: Some(443),
            to_port: Some(443),
            source: RuleSource::Reference(id.into()),
            description: None,
        }
    }

    fn quota(max_rules: usize) -> Quota<'static> {
        Quota::new(max_rules)
    }

    fn group(id: &str, rules: Vec<Rule>) -> Group {
        Group { id: id.into(), rules }
    }

    /// `n` distinct IPv4 /24s starting at 10.0.`start`.0.
    fn v4(start: usize, n: usize) -> BTreeSet<Cidr> {
        (start..start + n)
            .map(|i| c(&format!("10.{}.{}.0/24", i / 256, i % 256)))
            .collect()
    }

    /// The CIDRs revoked on port 443 (asserting none on another port).
    fn revoked(plan: &GroupPlan) -> BTreeSet<Cidr> {
        assert!(plan.revoke.keys().all(|p| *p == 443), "{plan:?}");
        plan.revoke.get(&443).cloned().unwrap_or_default()
    }

    fn set(cidrs: &[&str]) -> BTreeSet<Cidr> {
        cidrs.iter().map(|s| c(s)).collect()
    }

    #[test]
    fn protocol_tags_map_to_ports_cloudfront_connects_to() {
        assert_eq!(port_of_protocol_tag("http"), Ok(80));
        assert_eq!(port_of_protocol_tag("https"), Ok(443));
        assert_eq!(port_of_protocol_tag("HTTPS"), Ok(443));
        assert_eq!(port_of_protocol_tag("8443"), Ok(8443));
        assert_eq!(port_of_protocol_tag("1024"), Ok(1024));
        assert_eq!(port_of_protocol_tag("65535"), Ok(65535));
        for bad in ["", "0", "65536", "ftp", "443 ", "-1", "100000", "http2"] {
            assert_eq!(port_of_protocol_tag(bad), Err(BadProtocol::Unreadable), "{bad}");
        }
        for port in [1, 22, 25, 81, 442, 444, 445, 1023] {
            let tag = port.to_string();
            assert_eq!(
                port_of_protocol_tag(&tag),
                Err(BadProtocol::NotCloudFront(port)),
                "{port}"
            );
        }
        let said = protocol_problem(Some("22"), BadProtocol::NotCloudFront(22));
        assert!(said.contains("port 22, which CloudFront never connects to"), "{said}");
        assert!(protocol_problem(None, BadProtocol::Unreadable).starts_with("no Protocol tag"));
    }

    #[test]
    fn first_sync_fills_the_group_with_most_room_then_the_next() {
        let wanted = v4(0, 100);
        let groups = [
            group("sg-b", vec![]),
            group(
                "sg-a",
                vec![hand_made(RuleProtocol::Tcp, Some(22), Some(22), "192.0.2.0/24")],
            ),
        ];
        let plan = plan_set(&key(), &wanted, &groups, quota(60)).unwrap();
        assert_eq!(plan.changes["sg-b"].authorize.len(), 60);
        assert_eq!(plan.changes["sg-a"].authorize.len(), 40);
        assert!(
            plan.changes
                .values()
                .all(|p| p.revoke.is_empty() && p.authorize_after_revoke.is_empty())
        );
        assert_eq!((plan.added, plan.removed, plan.unchanged), (100, 0, 0));
        assert_eq!(plan.room_left[&IpVersion::Ipv4], 19);
        assert_eq!(plan.room_left[&IpVersion::Ipv6], 120);
    }

    #[test]
    fn placement_is_deterministic_whatever_the_input_order() {
        let wanted = v4(0, 100);
        let [a, b] = [["sg-1", "sg-2"], ["sg-2", "sg-1"]]
            .map(|ids| plan_set(&key(), &wanted, &ids.map(|id| group(id, vec![])), quota(60)).unwrap());
        assert_eq!(a, b);
        assert_eq!(a.changes["sg-1"].authorize.len(), 60);
    }

    #[test]
    fn a_synced_set_plans_nothing() {
        let wanted = set(&["13.32.0.0/15", "2600:9000::/28"]);
        let groups = [group(
            "sg-1",
            vec![ours("13.32.0.0/15", 443), ours("2600:9000::/28", 443)],
        )];
        let plan = plan_set(&key(), &wanted, &groups, quota(60)).unwrap();
        assert!(plan.changes.is_empty());
        assert_eq!((plan.added, plan.removed, plan.unchanged), (0, 0, 2));
    }

    #[test]
    fn existing_rules_stay_and_new_ranges_go_where_the_room_is() {
        let wanted: BTreeSet<Cidr> = v4(0, 12);
        let mut full: Vec<Rule> = v4(0, 9).iter().map(|c| ours(&c.to_string(), 443)).collect();
        full.push(ours("10.9.9.0/24", 443)); // stale
        let groups = [group("sg-1", full), group("sg-2", vec![ours("10.0.9.0/24", 443)])];
        let plan = plan_set(&key(), &wanted, &groups, quota(10)).unwrap();
        assert_eq!(revoked(&plan.changes["sg-1"]), set(&["10.9.9.0/24"]));
        assert!(plan.changes["sg-1"].authorize.is_empty());
        assert_eq!(plan.changes["sg-2"].authorize, set(&["10.0.10.0/24", "10.0.11.0/24"]));
        assert_eq!((plan.added, plan.removed, plan.unchanged), (2, 1, 10));
    }

    #[test]
    fn only_our_rules_are_revoked_and_hand_made_rules_count_as_present() {
        let wanted = set(&["13.32.0.0/15", "52.84.0.0/15", "2600:9000::/28"]);
        let mut other_port = ours("13.32.0.0/15", 80);
        other_port.description = Some(format!("{DESCRIPTION_PREFIX}: old http"));
        let groups = [group(
            "sg-1",
            vec![
                hand_made(RuleProtocol::Tcp, Some(443), Some(443), "13.32.0.0/15"),
                hand_made(RuleProtocol::All, None, None, "2600:9000::/28"),
                hand_made(RuleProtocol::Tcp, Some(22), Some(22), "198.51.100.0/24"),
                hand_made(RuleProtocol::Tcp, Some(443), Some(443), "203.0.113.0/24"),
                hand_made(RuleProtocol::Other("udp".into()), Some(443), Some(443), "52.84.0.0/15"),
                reference("sg-other"),
                other_port,
                ours("198.18.0.0/15", 443),
            ],
        )];
        let plan = plan_set(&key(), &wanted, &groups, quota(60)).unwrap();
        let p = &plan.changes["sg-1"];
        assert_eq!(p.authorize, set(&["52.84.0.0/15"]));
        assert_eq!(
            p.revoke,
            BTreeMap::from([(80, set(&["13.32.0.0/15"])), (443, set(&["198.18.0.0/15"]))])
        );
        assert_eq!((plan.added, plan.removed, plan.unchanged), (1, 2, 2));
    }

    #[test]
    fn a_tcp_port_range_covering_the_port_counts_as_present() {
        let wanted = set(&["13.32.0.0/15"]);
        let groups = [group(
            "sg-1",
            vec![hand_made(RuleProtocol::Tcp, Some(0), Some(65535), "13.32.0.0/15")],
        )];
        assert!(
            plan_set(&key(), &wanted, &groups, quota(60))
                .unwrap()
                .changes
                .is_empty()
        );
    }

    #[test]
    fn second_copies_of_a_cidr_in_a_set_are_revoked() {
        let wanted = set(&["13.32.0.0/15"]);
        let groups = [
            group("sg-2", vec![ours("13.32.0.0/15", 443)]),
            group("sg-1", vec![ours("13.32.0.0/15", 443)]),
        ];
        let plan = plan_set(&key(), &wanted, &groups, quota(60)).unwrap();
        assert_eq!(plan.changes.len(), 1);
        assert_eq!(revoked(&plan.changes["sg-2"]), set(&["13.32.0.0/15"]));
        assert_eq!((plan.added, plan.removed, plan.unchanged), (0, 1, 1));
    }

    #[test]
    fn quota_is_counted_per_ip_version_with_references_counting_for_both() {
        // 3 slots: one reference leaves 2 for IPv4 and 2 for IPv6.
        let wanted = set(&["10.0.0.0/24", "10.0.1.0/24", "2600::/32", "2601::/32"]);
        let plan = plan_set(&key(), &wanted, &[group("sg-1", vec![reference("sg-x")])], quota(3)).unwrap();
        assert_eq!(plan.changes["sg-1"].authorize, wanted);
        assert_eq!(plan.room_left[&IpVersion::Ipv4], 0);
        assert_eq!(plan.room_left[&IpVersion::Ipv6], 0);
        assert!((plan.fullness() - 1.0).abs() < f64::EPSILON);

        let too_many = set(&["10.0.0.0/24", "10.0.1.0/24", "10.0.2.0/24"]);
        let err = plan_set(&key(), &too_many, &[group("sg-1", vec![reference("sg-x")])], quota(3)).unwrap_err();
        assert_short_of_one_ipv4(&err);
        assert!(matches!(err, Error::SetTooSmall { more_groups: 1, .. }), "{err:?}");
    }

    /// The error says the set lacks exactly one IPv4 rule.
    fn assert_short_of_one_ipv4(err: &Error) {
        let short = matches!(
            err,
            Error::SetTooSmall {
                version: "ipv4",
                needed: 1,
                ..
            }
        );
        assert!(short, "{err:?}");
    }

    fn list_ref(id: &str) -> Rule {
        Rule {
            source: RuleSource::PrefixList(id.into()),
            ..reference("unused")
        }
    }

    #[test]
    fn a_prefix_list_reference_counts_its_weight_for_its_own_ip_version() {
        // 60 slots; a customer-managed IPv4 list of MaxEntries 50 leaves 10 IPv4 slots and all 60 IPv6 ones.
        let lists = PrefixListWeights::from([
            (
                "pl-v4".to_string(),
                PrefixListWeight {
                    version: IpVersion::Ipv4,
                    weight: 50,
                },
            ),
            (
                "pl-cf6".to_string(),
                PrefixListWeight {
                    version: IpVersion::Ipv6,
                    weight: 55,
                },
            ),
        ]);
        let quota = Quota {
            max_rules: 60,
            prefix_lists: &lists,
        };
        let groups = [group("sg-1", vec![list_ref("pl-v4")])];
        let plan = plan_set(&key(), &v4(0, 10), &groups, quota).unwrap();
        assert_eq!(plan.room_left[&IpVersion::Ipv4], 0);
        assert_eq!(plan.room_left[&IpVersion::Ipv6], 60);

        assert_short_of_one_ipv4(&plan_set(&key(), &v4(0, 11), &groups, quota).unwrap_err());
        // AWS's IPv6 CloudFront list weighs 55 against IPv6 only.
        let groups = [group("sg-1", vec![list_ref("pl-cf6")])];
        let plan = plan_set(&key(), &v4(0, 60), &groups, quota).unwrap();
        assert_eq!(plan.room_left[&IpVersion::Ipv6], 5);
    }

    #[test]
    fn a_prefix_list_of_unknown_size_fails_the_set_naming_the_list() {
        let groups = [group("sg-1", vec![list_ref("pl-gone")])];
        let err = plan_set(&key(), &v4(0, 1), &groups, quota(60)).unwrap_err();
        assert!(
            matches!(&err, Error::PrefixListUnknown { group, prefix_list, .. } if group == "sg-1" && prefix_list == "pl-gone"),
            "{err:?}"
        );
    }

    #[test]
    fn aws_managed_lists_weigh_their_documented_weight_and_others_their_max_entries() {
        assert_eq!(
            prefix_list_weight("com.amazonaws.global.cloudfront.origin-facing", None),
            Some(55)
        );
        assert_eq!(
            prefix_list_weight("com.amazonaws.global.ipv6.cloudfront.origin-facing", Some(1)),
            Some(55)
        );
        assert_eq!(prefix_list_weight("com.amazonaws.eu-west-1.s3", None), Some(1));
        assert_eq!(prefix_list_weight("com.amazonaws.eu-west-1.s3express", None), Some(6));
        assert_eq!(
            prefix_list_weight("com.amazonaws.us-east-1.ipv6.route53-healthchecks", None),
            Some(25)
        );
        assert_eq!(prefix_list_weight("my-office", Some(20)), Some(20));
        assert_eq!(prefix_list_weight("com.amazonaws.us-east-1.new-service", None), None);
    }

    #[test]
    fn an_empty_version_is_refused_only_where_we_hold_rules_or_the_last_file_had_ranges() {
        let selected = BTreeSet::from(IpVersion::ALL);
        let only_v4 = set(&["13.32.0.0/15"]);
        let file_v4 = BTreeSet::from([IpVersion::Ipv4]);
        let holding_v6 = [group(
            "sg-1",
            vec![ours("13.32.0.0/15", 443), ours("2600:9000::/28", 443)],
        )];
        let err = check_not_emptied(&key(), &file_v4, &selected, &holding_v6, None).unwrap_err();
        assert!(
            matches!(
                err,
                Error::EmptyRanges {
                    version: "ipv6",
                    held: 1,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("nothing was written"), "{err}");

        // Nothing of ours for IPv6 and no earlier file with IPv6 ranges: simply in sync.
        let holding_v4 = [group("sg-1", vec![ours("13.32.0.0/15", 443)])];
        check_not_emptied(&key(), &file_v4, &selected, &holding_v4, None).unwrap();
        let v4_mark = AppliedMark::of(5, &only_v4);
        check_not_emptied(&key(), &file_v4, &selected, &holding_v4, Some(&v4_mark)).unwrap();

        // The file applied before had IPv6 ranges: refused even with no rule of ours held (hand-made ones).
        let both_mark = AppliedMark::of(5, &set(&["13.32.0.0/15", "2600:9000::/28"]));
        let err = check_not_emptied(&key(), &file_v4, &selected, &holding_v4, Some(&both_mark)).unwrap_err();
        assert!(
            matches!(
                err,
                Error::EmptyRanges {
                    previous_token: Some(5),
                    held: 0,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("syncToken 5"), "{err}");

        // A version that is not selected is not guarded: switching it off revokes our rules of it.
        let v4_only = BTreeSet::from([IpVersion::Ipv4]);
        check_not_emptied(&key(), &file_v4, &v4_only, &holding_v6, Some(&both_mark)).unwrap();
    }

    #[test]
    fn a_scope_that_lost_every_range_of_a_version_is_applied_while_the_file_has_that_version_elsewhere() {
        // Pair C, 2024-05-29: no regional IPv6 range left, GLOBAL IPv6 ones still listed.
        let selected = BTreeSet::from(IpVersion::ALL);
        let regional = SetKey {
            scope: Scope::Regional,
            ..key()
        };
        let holding = [group(
            "sg-1",
            vec![ours("13.32.0.0/15", 443), ours("2600:9000:5200::/48", 443)],
        )];
        let mark = AppliedMark::of(5, &set(&["13.32.0.0/15", "2600:9000:5200::/48"]));
        check_not_emptied(&regional, &selected, &selected, &holding, Some(&mark)).unwrap();
        let plan = plan_set(&regional, &set(&["13.32.0.0/15"]), &holding, quota(60)).unwrap();
        assert_eq!(revoked(&plan.changes["sg-1"]), set(&["2600:9000:5200::/48"]));
        assert_eq!((plan.added, plan.removed, plan.unchanged), (0, 1, 1));
    }

    fn written(authorized: &[(&str, &str)], revoked: &[(&str, &str)]) -> Written {
        let per_group = |rules: &[(&str, &str)]| {
            let mut map: BTreeMap<String, BTreeSet<(u16, Cidr)>> = BTreeMap::new();
            for (group, cidr) in rules {
                map.entry((*group).to_owned()).or_default().insert((443, c(cidr)));
            }
            map
        };
        Written {
            authorized: per_group(authorized),
            revoked: per_group(revoked),
        }
    }

    #[test]
    fn a_read_showing_every_write_reflects_it_and_one_showing_part_of_them_lags() {
        let before = [
            group("sg-1", vec![ours("10.0.0.0/24", 443), reference("sg-x")]),
            group("sg-2", vec![]),
        ];
        let w = written(
            &[("sg-1", "10.0.1.0/24"), ("sg-2", "10.0.2.0/24")],
            &[("sg-1", "10.0.0.0/24")],
        );
        let after = [
            group("sg-1", vec![ours("10.0.1.0/24", 443), reference("sg-x")]),
            group("sg-2", vec![ours("10.0.2.0/24", 443)]),
        ];
        assert_eq!(seen_after(&before, &w, &after), Seen::Reflects);
        // The read is still the one before the writes, or shows one group's writes only.
        assert_eq!(seen_after(&before, &w, &before), Seen::Lags);
        let half = [after[0].clone(), before[1].clone()];
        assert_eq!(seen_after(&before, &w, &half), Seen::Lags);
        // A group gone from the read is left out: the set is re-formed without it.
        assert_eq!(seen_after(&before, &w, &after[..1]), Seen::Reflects);
    }

    #[test]
    fn a_read_showing_a_change_we_did_not_make_is_a_change() {
        let before = [group("sg-1", vec![ours("10.0.0.0/24", 443)])];
        let w = written(&[("sg-1", "10.0.1.0/24")], &[]);
        let foreign_rule = [group(
            "sg-1",
            vec![
                ours("10.0.0.0/24", 443),
                ours("10.0.1.0/24", 443),
                ours("10.9.0.0/24", 443),
            ],
        )];
        assert_eq!(seen_after(&before, &w, &foreign_rule), Seen::Changed);
        let foreign_revoke = [group("sg-1", vec![ours("10.0.1.0/24", 443)])];
        assert_eq!(seen_after(&before, &w, &foreign_revoke), Seen::Changed);
        let foreign_reference = [group(
            "sg-1",
            vec![ours("10.0.0.0/24", 443), ours("10.0.1.0/24", 443), reference("sg-y")],
        )];
        assert_eq!(seen_after(&before, &w, &foreign_reference), Seen::Changed);
        let new_group = [before[0].clone(), group("sg-9", vec![])];
        assert_eq!(seen_after(&before, &w, &new_group), Seen::Changed);
        assert!(written(&[], &[]).is_empty() && !w.is_empty());
    }

    #[test]
    fn applied_marks_round_trip_and_the_newest_wins() {
        let mark = AppliedMark::of(1_787_411_825, &set(&["13.32.0.0/15", "2600:9000::/28"]));
        assert_eq!(mark.to_string(), "1787411825 ipv4 ipv6");
        assert_eq!(AppliedMark::parse("1787411825 ipv4 ipv6"), Some(mark.clone()));
        assert_eq!(
            AppliedMark::parse("1787411825"),
            Some(AppliedMark {
                sync_token: 1_787_411_825,
                versions: BTreeSet::new()
            })
        );
        for bad in ["", "x", "12 ipv5", "-1 ipv4", "12  ipv4"] {
            assert_eq!(AppliedMark::parse(bad), None, "{bad}");
        }
        let older = AppliedMark::parse("1700000000 ipv4").unwrap();
        assert_eq!(applied_mark([Some(&older), None, Some(&mark)]), Some(&mark));
        assert_eq!(applied_mark([None, None]), None);
    }

    #[test]
    fn a_set_that_cannot_hold_its_ranges_says_how_many_groups_it_needs() {
        let err = plan_set(
            &key(),
            &v4(0, 211),
            &[group("sg-1", vec![]), group("sg-2", vec![])],
            quota(60),
        )
        .unwrap_err();
        let Error::SetTooSmall {
            needed,
            groups,
            more_groups,
            ref set,
            ..
        } = err
        else {
            panic!("{err:?}");
        };
        assert_eq!((needed, groups, more_groups), (91, 2, 2));
        assert_eq!(set, "us-east-1/vpc-1/cloudfront_g/https");
        assert!(err.to_string().contains("add 2 more group(s)"), "{err}");
    }

    #[test]
    fn groups_holding_more_rules_than_the_quota_set_are_reported_over_it() {
        // MAX_RULES_PER_GROUP 5 over groups holding 30 rules each: in sync, but over the quota given.
        let rules: Vec<Rule> = v4(0, 30).iter().map(|c| ours(&c.to_string(), 443)).collect();
        let groups = [group("sg-1", rules)];
        let plan = plan_set(&key(), &v4(0, 30), &groups, quota(5)).unwrap();
        assert!(plan.changes.is_empty());
        assert_eq!(plan.over_quota, BTreeMap::from([(IpVersion::Ipv4, 25)]));
        assert_eq!(plan.room_left[&IpVersion::Ipv4], 0);
        let within = plan_set(&key(), &v4(0, 30), &groups, quota(30)).unwrap();
        assert!(within.over_quota.is_empty());
    }

    #[test]
    fn a_full_group_authorizes_after_its_stale_rules_are_revoked() {
        // 4 slots, all used: 3 still wanted, 1 stale. One new CIDR can only go in after the revoke.
        let wanted = set(&["10.0.0.0/24", "10.0.1.0/24", "10.0.2.0/24", "10.0.3.0/24"]);
        let rules = ["10.0.0.0/24", "10.0.1.0/24", "10.0.2.0/24", "10.9.0.0/24"]
            .map(|s| ours(s, 443))
            .to_vec();
        let plan = plan_set(&key(), &wanted, &[group("sg-1", rules)], quota(4)).unwrap();
        let p = &plan.changes["sg-1"];
        assert!(p.authorize.is_empty());
        assert_eq!(revoked(p), set(&["10.9.0.0/24"]));
        assert_eq!(p.authorize_after_revoke, set(&["10.0.3.0/24"]));
        assert_eq!(plan.room_left[&IpVersion::Ipv4], 0);
    }

    #[test]
    fn new_ranges_prefer_room_that_needs_no_revoke_first() {
        let wanted = set(&["10.0.0.0/24", "10.0.1.0/24"]);
        let groups = [group("sg-1", vec![ours("10.9.0.0/24", 443)]), group("sg-2", vec![])];
        let plan = plan_set(&key(), &wanted, &groups, quota(1)).unwrap();
        assert_eq!(plan.changes["sg-2"].authorize, set(&["10.0.0.0/24"]));
        assert_eq!(plan.changes["sg-1"].authorize_after_revoke, set(&["10.0.1.0/24"]));
        assert_eq!(revoked(&plan.changes["sg-1"]), set(&["10.9.0.0/24"]));
    }

    #[test]
    fn an_empty_wanted_set_revokes_only_our_rules() {
        let groups = [group(
            "sg-1",
            vec![
                ours("10.0.0.0/24", 443),
                hand_made(RuleProtocol::Tcp, Some(443), Some(443), "10.1.0.0/24"),
            ],
        )];
        let plan = plan_set(&key(), &BTreeSet::new(), &groups, quota(60)).unwrap();
        assert_eq!(revoked(&plan.changes["sg-1"]), set(&["10.0.0.0/24"]));
        assert_eq!(plan.removed, 1);
    }

    #[test]
    fn unmanaged_rules_on_the_port_are_adoptable_only_for_wanted_cidrs() {
        let g = group(
            "sg-1",
            vec![
                hand_made(RuleProtocol::Tcp, Some(443), Some(443), "13.32.0.0/15"),
                hand_made(RuleProtocol::Tcp, Some(443), Some(443), "198.51.100.0/24"),
                hand_made(RuleProtocol::Tcp, Some(443), Some(443), "2600:9000::/28"),
                hand_made(RuleProtocol::Tcp, Some(80), Some(80), "52.84.0.0/15"),
                hand_made(RuleProtocol::Tcp, Some(0), Some(65535), "52.84.0.0/15"),
                hand_made(RuleProtocol::All, None, None, "52.84.0.0/15"),
                ours("10.0.0.0/24", 443),
                reference("sg-2"),
            ],
        );
        let wanted = set(&["13.32.0.0/15", "52.84.0.0/15", "2600:9000::/28", "10.0.0.0/24"]);
        let u = unmanaged(443, &wanted, &g);
        assert_eq!(u.adoptable, set(&["13.32.0.0/15", "2600:9000::/28"]));
        assert_eq!(u.other, set(&["198.51.100.0/24"]));
    }

    #[test]
    fn a_refused_group_that_holds_no_more_than_planned_with_our_writes_was_filled_by_no_other_writer() {
        let group = |cidrs: &[&str]| Group {
            id: "sg-1".into(),
            rules: cidrs.iter().map(|c| ours(c, 443)).collect(),
        };
        let planned_from = group(&["11.0.0.0/24", "11.0.1.0/24"]);
        let mut written = Written::default();
        written
            .authorized
            .insert("sg-1".into(), BTreeSet::from([(443, c("11.0.2.0/24"))]));
        // Our one authorization landed before the refusal: 3 rules is what we made.
        let ours_only = group(&["11.0.0.0/24", "11.0.1.0/24", "11.0.2.0/24"]);
        assert!(filled_by_no_other(&planned_from, &written, &ours_only));
        // A fourth rule came from someone else: a conflict, re-planned.
        let filled = group(&["11.0.0.0/24", "11.0.1.0/24", "11.0.2.0/24", "11.0.3.0/24"]);
        assert!(!filled_by_no_other(&planned_from, &written, &filled));
        // A revocation of ours made room, which another writer took back.
        written
            .revoked
            .insert("sg-1".into(), BTreeSet::from([(443, c("11.0.0.0/24"))]));
        assert!(!filled_by_no_other(&planned_from, &written, &filled));
        assert!(filled_by_no_other(
            &planned_from,
            &written,
            &group(&["11.0.1.0/24", "11.0.2.0/24"])
        ));
    }

    #[test]
    fn our_rules_are_every_rule_of_ours_per_port_and_no_hand_made_one() {
        let g = group(
            "sg-1",
            vec![
                ours("10.0.0.0/24", 443),
                ours("10.0.1.0/24", 80),
                hand_made(RuleProtocol::Tcp, Some(443), Some(443), "10.0.2.0/24"),
                reference("sg-2"),
            ],
        );
        assert_eq!(
            our_rules(&g),
            BTreeMap::from([(80, set(&["10.0.1.0/24"])), (443, set(&["10.0.0.0/24"]))])
        );
    }

    #[test]
    fn rules_with_other_descriptions_or_shapes_are_not_ours() {
        let mut no_desc = ours("10.0.0.0/24", 443);
        no_desc.description = None;
        let mut prefix_inside = ours("10.0.0.0/24", 443);
        prefix_inside.description = Some("managed by cloudfront-sg-sync".into());
        let mut range = ours("10.0.0.0/24", 443);
        range.to_port = Some(444);
        let mut all = ours("10.0.0.0/24", 443);
        all.protocol = RuleProtocol::All;
        for rule in [no_desc, prefix_inside, range, all, reference("sg-1")] {
            assert_eq!(rule.ours(), None, "{rule:?}");
        }
        assert_eq!(ours("10.0.0.0/24", 443).ours(), Some((c("10.0.0.0/24"), 443)));
    }

    #[test]
    fn a_mark_is_trusted_up_to_max_ahead_secs_past_the_clock_and_never_when_unreadable() {
        let now = 1_787_411_825;
        let tag = |value: &str| MarkTag::read(value);
        let at_limit = tag(&format!("{} ipv4", now + MAX_AHEAD_SECS));
        assert_eq!(trusted_mark("sg-1", Some(&at_limit), now), Ok(at_limit.mark()));
        assert_eq!(trusted_mark("sg-1", None, now), Ok(None));
        let past = tag("1634058796 ipv4 ipv6");
        assert_eq!(trusted_mark("sg-1", Some(&past), now), Ok(past.mark()));
        for (value, reason) in [
            (
                format!("{} ipv4", now + MAX_AHEAD_SECS + 1),
                "3601 s ahead of the clock; no real file is",
            ),
            (
                "9999999999".to_owned(),
                "8212588174 s ahead of the clock; no real file is",
            ),
            ("latest".to_owned(), "not a mark this tool writes"),
            ("1787411825 ipv5".to_owned(), "not a mark this tool writes"),
            (String::new(), "not a mark this tool writes"),
        ] {
            let forged = trusted_mark("pl-1", Some(&tag(&value)), now).unwrap_err();
            assert_eq!(
                forged,
                ForgedMark {
                    target: "pl-1".into(),
                    value: value.clone(),
                    reason: reason.into()
                },
                "{value}"
            );
        }
    }
}
