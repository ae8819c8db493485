//! Test support: in-memory implementations of the ports, for fast tests of [`crate::sync`] with no emulator.
//! Calls can be delayed (on tokio's clock, so tests pause time) and failed with an EC2 error code.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use crate::domain::attachment::Interface;
use crate::domain::cidr::{Cidr, IpVersion};
use crate::domain::ip_ranges::Scope;
use crate::domain::ip_sets::IpSet;
use crate::domain::prefix_lists::{ENTRIES_PER_CALL, Entry, List, Modification};
use crate::domain::security_groups::{
    AppliedMark, Group, PrefixListWeights, Rule, RuleProtocol, RuleSource, SYNC_TOKEN_TAG,
};
use crate::error::{Error, Result};
use crate::ports::{
    IpSets, ListAt, ListState, NetworkInterfaces, OriginGroups, PortRules, PrefixLists, RangesSource, SecurityGroups,
    TaggedGroup, TaggedIpSet, TaggedList, WafScope,
};

/// What the fake was asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Op {
    Describe,
    Authorize,
    Revoke,
    Tag,
    PrefixLists,
    Interfaces,
    /// DescribeManagedPrefixLists of the tagged lists of a region (and their entries).
    Lists,
    /// DescribeManagedPrefixLists of one list, for its state.
    ListState,
    /// DescribeManagedPrefixLists and entries of one list, read again.
    ListRead,
    /// ModifyManagedPrefixList of entries.
    Modify,
    /// ModifyManagedPrefixList of MaxEntries.
    Grow,
    /// ListIPSets (with tags and addresses) of a region and WAF scope.
    IpSets,
    /// GetIPSet of one IP set, read again.
    IpSetRead,
    /// UpdateIPSet.
    IpSetUpdate,
    /// DescribeSecurityGroups of a load balancer's groups, every rule (the audit).
    OriginGroups,
    /// DescribeManagedPrefixLists of AWS's CloudFront lists (the audit).
    CloudFrontLists,
}

/// A WAF IP set held in memory.
#[derive(Debug, Clone)]
pub struct FakeIpSet {
    pub region: String,
    pub waf_scope: WafScope,
    pub tags: BTreeMap<String, String>,
    pub family: IpVersion,
    pub description: Option<String>,
    pub addresses: BTreeSet<Cidr>,
    /// Its lock token: every change moves it on.
    pub lock: u64,
}

/// A customer-managed prefix list held in memory, in us-east-1.
#[derive(Debug, Clone)]
pub struct FakeList {
    pub tags: BTreeMap<String, String>,
    pub family: IpVersion,
    pub max_entries: usize,
    pub version: i64,
    pub state: String,
    pub entries: Vec<Entry>,
    /// Looks at its state still answering `modify-in-progress` after a write.
    pub busy_looks: usize,
    /// Its `StateMessage`.
    pub message: Option<String>,
}

/// One call, when it started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub op: Op,
    pub region: String,
    pub group: Option<String>,
    pub at: Instant,
}

/// A security group held in memory.
#[derive(Debug, Clone, Default)]
pub struct FakeGroup {
    pub region: String,
    pub vpc: String,
    pub tags: BTreeMap<String, String>,
    pub rules: Vec<Rule>,
}

/// Another writer's change, made just before a call of ours, which then fails with `code` (or succeeds).
struct Interference {
    op: Op,
    group: String,
    /// The group the other writer changes.
    into: String,
    rules: Vec<Rule>,
    code: Option<String>,
}

#[derive(Default)]
struct State {
    groups: BTreeMap<String, FakeGroup>,
    calls: Vec<Call>,
    fail: Vec<(Op, Option<String>, String)>,
    interference: Vec<Interference>,
    latency: BTreeMap<Op, Duration>,
    weights: PrefixListWeights,
    interfaces: Vec<(String, Interface)>,
    lists: BTreeMap<String, FakeList>,
    /// Looks at a list's state that answer `modify-in-progress` after each write.
    busy_after_write: usize,
    /// Before the next modification of a list: another writer's entries, which move its version on.
    list_interference: Vec<(String, Vec<Entry>)>,
    /// WAF IP sets by name.
    ip_sets: BTreeMap<String, FakeIpSet>,
    /// Before the next update of an IP set: another writer's addresses, which move its lock token on.
    ip_set_interference: Vec<(String, BTreeSet<Cidr>)>,
    /// Reads of a group (or list) just written that still show it as before the write (EC2's eventual
    /// consistency).
    lag_reads: usize,
    /// Per group written: its rules before the write, and the reads left that show them.
    stale_groups: BTreeMap<String, (Vec<Rule>, usize)>,
    /// Per list written: the list before the write, and the reads left that show it.
    stale_lists: BTreeMap<String, (FakeList, usize)>,
    /// When a call of this kind starts: the group, list or IP set deleted first (once each).
    doomed: Vec<(Op, String)>,
    /// The next write to this list ends in `modify-failed` with this `StateMessage`.
    list_failure: Option<(String, String)>,
}

/// An in-memory [`SecurityGroups`]: EC2's behaviour at the port (idempotent writes that count what they
/// changed), with recorded calls, injected failures and latency. Clones share the state, so a test keeps one
/// to look at while the run holds another.
#[derive(Default, Clone)]
pub struct FakeEc2 {
    state: Arc<Mutex<State>>,
}

impl FakeEc2 {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Add a group tagged for the sync: `Name` of `scope`, `AutoUpdate=true`, `Protocol=https`.
    pub fn add_set_group(&self, id: &str, vpc: &str, scope: Scope) {
        let tags = [
            ("Name", scope.tag_value()),
            ("AutoUpdate", "true"),
            ("Protocol", "https"),
        ];
        self.add_group(id, vpc, &tags);
    }

    /// Add a group with these tags, in us-east-1.
    pub fn add_group(&self, id: &str, vpc: &str, tags: &[(&str, &str)]) {
        let group = FakeGroup {
            region: "us-east-1".into(),
            vpc: vpc.into(),
            tags: tags.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
            rules: Vec::new(),
        };
        self.state().groups.insert(id.to_owned(), group);
    }

    /// Put rules in a group as they are (hand-made ones, or ours from an earlier run).
    pub fn add_rules(&self, id: &str, rules: impl IntoIterator<Item = Rule>) {
        if let Some(g) = self.state().groups.get_mut(id) {
            g.rules.extend(rules);
        }
    }

    /// Answer `op` (on `group`, or any) with the EC2 error `code`.
    pub fn fail(&self, op: Op, group: Option<&str>, code: &str) {
        self.state().fail.push((op, group.map(str::to_owned), code.to_owned()));
    }

    /// Before the next `op` on `group`: another writer adds `rules` to it, and our call fails with `code` (as
    /// EC2 answers a write the group no longer has room for, or a duplicate). Once.
    pub fn interfere(&self, op: Op, group: &str, rules: Vec<Rule>, code: &str) {
        self.interfere_with(op, group, group, rules, Some(code));
    }

    /// Before the next `op` on `group`: another writer adds `rules` to `into`, and our call succeeds (as
    /// when two runs place the same range in different groups of a set). Once.
    pub fn meanwhile(&self, op: Op, group: &str, into: &str, rules: Vec<Rule>) {
        self.interfere_with(op, group, into, rules, None);
    }

    fn interfere_with(&self, op: Op, group: &str, into: &str, rules: Vec<Rule>, code: Option<&str>) {
        self.state().interference.push(Interference {
            op,
            group: group.to_owned(),
            into: into.to_owned(),
            rules,
            code: code.map(str::to_owned),
        });
    }

    /// Delay every `op` by `latency`.
    pub fn delay(&self, op: Op, latency: Duration) {
        self.state().latency.insert(op, latency);
    }

    /// The weights `prefix_list_weights` answers.
    pub fn set_weights(&self, weights: PrefixListWeights) {
        self.state().weights = weights;
    }

    /// Add a network interface in us-east-1 carrying `groups`, attached to `attachment`.
    pub fn add_interface(&self, id: &str, attachment: &str, groups: &[&str]) {
        let interface = Interface {
            id: id.to_owned(),
            attachment: attachment.to_owned(),
            groups: groups.iter().map(|g| (*g).to_owned()).collect(),
        };
        self.state().interfaces.push(("us-east-1".to_owned(), interface));
    }

    /// Add a prefix list with these tags, family, size and entries (version 1, `create-complete`).
    pub fn add_list(
        &self,
        id: &str,
        tags: &[(&str, &str)],
        family: IpVersion,
        max_entries: usize,
        entries: Vec<Entry>,
    ) {
        let list = FakeList {
            tags: tags.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
            family,
            max_entries,
            version: 1,
            state: "create-complete".into(),
            entries,
            busy_looks: 0,
            message: None,
        };
        self.state().lists.insert(id.to_owned(), list);
    }

    /// A list as it is now.
    pub fn list(&self, id: &str) -> Option<FakeList> {
        self.state().lists.get(id).cloned()
    }

    /// Set a list's state (`modify-in-progress`, …) and how many looks at it still answer so.
    pub fn set_list_state(&self, id: &str, state: &str, looks: usize) {
        if let Some(l) = self.state().lists.get_mut(id) {
            l.state = state.to_owned();
            l.busy_looks = looks;
        }
    }

    /// After each write to a list, `looks` looks at its state answer `modify-in-progress` before it settles.
    pub fn busy_after_write(&self, looks: usize) {
        self.state().busy_after_write = looks;
    }

    /// Before the next modification of list `id`: another writer adds `entries`, moving its version on (so our
    /// call, made at the version we read, fails with `PrefixListVersionMismatch`). Once.
    pub fn interfere_with_list(&self, id: &str, entries: Vec<Entry>) {
        self.state().list_interference.push((id.to_owned(), entries));
    }

    /// The calls made so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.state().calls.clone()
    }

    /// The calls of `op`.
    pub fn calls_of(&self, op: Op) -> Vec<Call> {
        self.calls().into_iter().filter(|c| c.op == op).collect()
    }

    /// The CIDRs our rules let in on `port` in `group`.
    pub fn ours(&self, group: &str, port: u16) -> BTreeSet<Cidr> {
        self.state().groups.get(group).map_or_else(BTreeSet::new, |g| {
            g.rules
                .iter()
                .filter_map(Rule::ours)
                .filter(|(_, p)| *p == port)
                .map(|(c, _)| c)
                .collect()
        })
    }

    /// A tag of a group.
    pub fn tag(&self, group: &str, key: &str) -> Option<String> {
        self.state().groups.get(group)?.tags.get(key).cloned()
    }

    /// After every write, the next `reads` reads of the group or list written still show it as it was before
    /// the write: EC2's reads may lag its writes.
    pub fn lag_reads(&self, reads: usize) {
        self.state().lag_reads = reads;
    }

    /// When the next call of `op` starts, the group, list or IP set `id` (an IP set by name) is deleted first.
    pub fn delete_before(&self, op: Op, id: &str) {
        self.state().doomed.push((op, id.to_owned()));
    }

    /// A write changed group `id`, which held `before`: the next reads show `before` (a read already lagging
    /// keeps showing the older state).
    fn after_group_write(state: &mut State, id: &str, before: Vec<Rule>) {
        let lag = state.lag_reads;
        if lag > 0 {
            state.stale_groups.entry(id.to_owned()).or_insert((before, 0)).1 = lag;
        }
    }

    /// A write to list `id` is about to be made: remember it as it is, for the lagging reads.
    fn before_list_write(state: &mut State, id: &str) {
        let (lag, Some(l)) = (state.lag_reads, state.lists.get(id)) else {
            return;
        };
        let list = l.clone();
        if lag > 0 {
            state.stale_lists.entry(id.to_owned()).or_insert((list, 0)).1 = lag;
        }
    }

    /// Group `id`'s rules as a read shows them now: as before the last write while that read lags.
    fn rules_seen(state: &mut State, id: &str, rules: &[Rule]) -> Vec<Rule> {
        match state.stale_groups.get_mut(id) {
            Some((stale, left)) if *left > 0 => {
                *left -= 1;
                stale.clone()
            }
            _ => {
                state.stale_groups.remove(id);
                rules.to_vec()
            }
        }
    }

    /// List `id` as a read shows it now: as before the last write while that read lags.
    fn list_seen(state: &mut State, id: &str) -> Option<FakeList> {
        match state.stale_lists.get_mut(id) {
            Some((stale, left)) if *left > 0 => {
                *left -= 1;
                Some(stale.clone())
            }
            _ => {
                state.stale_lists.remove(id);
                state.lists.get(id).cloned()
            }
        }
    }

    /// Record the call, wait its latency, then answer the injected failure if any.
    async fn enter(&self, op: Op, region: &str, group: Option<&str>) -> Result<()> {
        let (latency, code) = {
            let mut state = self.state();
            state.calls.push(Call {
                op,
                region: region.to_owned(),
                group: group.map(str::to_owned),
                at: Instant::now(),
            });
            if let Some(i) = state.doomed.iter().position(|(o, _)| *o == op) {
                let (_, id) = state.doomed.remove(i);
                state.groups.remove(&id);
                state.lists.remove(&id);
                state.ip_sets.remove(&id);
            }
            let interfering = state
                .interference
                .iter()
                .position(|i| i.op == op && Some(i.group.as_str()) == group);
            let interference = interfering.map(|i| state.interference.remove(i));
            let code = state
                .fail
                .iter()
                .find(|(o, g, _)| *o == op && (g.is_none() || g.as_deref() == group))
                .map(|(_, _, code)| code.clone());
            let code = match interference {
                Some(i) => {
                    if let Some(g) = state.groups.get_mut(&i.into) {
                        g.rules.extend(i.rules);
                    }
                    i.code
                }
                None => code,
            };
            (state.latency.get(&op).copied(), code)
        };
        if let Some(latency) = latency {
            tokio::time::sleep(latency).await;
        }
        match code {
            None => Ok(()),
            Some(code) => Err(Error::Ec2 {
                operation: "fake",
                region: region.to_owned(),
                group: group.map(str::to_owned),
                message: format!("{code} injected by the fake"),
                code,
            }),
        }
    }
}

impl FakeEc2 {
    /// The tagged groups of `region` (only `ids`, if given) as a read shows them now.
    fn read_groups(&self, region: &str, ids: Option<&[String]>) -> Vec<TaggedGroup> {
        let mut state = self.state();
        let groups: Vec<(String, FakeGroup)> = state
            .groups
            .iter()
            .filter(|(id, g)| g.region == region && ids.is_none_or(|ids| ids.contains(id)))
            .map(|(id, g)| (id.clone(), g.clone()))
            .collect();
        let tagged = groups.into_iter().filter_map(|(id, g)| {
            Some(TaggedGroup {
                region: g.region.clone(),
                vpc: g.vpc.clone(),
                scope: is_tagged(&g)?,
                protocol: g.tags.get("Protocol").cloned(),
                mark: g.tags.get(SYNC_TOKEN_TAG).and_then(|v| AppliedMark::parse(v)),
                group: Group {
                    rules: Self::rules_seen(&mut state, &id, &g.rules),
                    id,
                },
            })
        });
        tagged.collect()
    }
}

/// EC2's answer to a write on a group that is gone.
fn group_gone(region: &str, group: &str) -> Error {
    Error::Ec2 {
        operation: "fake",
        region: region.to_owned(),
        group: Some(group.to_owned()),
        code: "InvalidGroup.NotFound".to_owned(),
        message: format!("The security group '{group}' does not exist"),
    }
}

/// One of our tcp rules.
pub fn our_rule(cidr: Cidr, port: u16, description: &str) -> Rule {
    Rule {
        protocol: RuleProtocol::Tcp,
        from_port: Some(i32::from(port)),
        to_port: Some(i32::from(port)),
        source: RuleSource::Cidr(cidr),
        description: Some(description.to_owned()),
    }
}

fn is_tagged(g: &FakeGroup) -> Option<Scope> {
    let scope = g.tags.get("Name").and_then(|v| Scope::from_tag_value(v))?;
    (g.tags.get("AutoUpdate").map(String::as_str) == Some("true")).then_some(scope)
}

impl OriginGroups for FakeEc2 {
    async fn groups_with_rules(&self, region: &str, ids: &BTreeSet<String>) -> Result<Vec<Group>> {
        self.enter(Op::OriginGroups, region, None).await?;
        let state = self.state();
        let groups = ids.iter().filter_map(|id| {
            let g = state.groups.get(id).filter(|g| g.region == region)?;
            Some(Group {
                id: id.clone(),
                rules: g.rules.clone(),
            })
        });
        Ok(groups.collect())
    }

    async fn cloudfront_prefix_lists(&self, region: &str) -> Result<BTreeSet<String>> {
        self.enter(Op::CloudFrontLists, region, None).await?;
        Ok(BTreeSet::from(["pl-cloudfront".to_owned()]))
    }
}

impl SecurityGroups for FakeEc2 {
    async fn tagged_groups(&self, region: &str) -> Result<Vec<TaggedGroup>> {
        self.enter(Op::Describe, region, None).await?;
        Ok(self.read_groups(region, None))
    }

    async fn groups_by_id(&self, region: &str, ids: &[String]) -> Result<Vec<TaggedGroup>> {
        self.enter(Op::Describe, region, None).await?;
        Ok(self.read_groups(region, Some(ids)))
    }

    async fn authorize(&self, rules: &PortRules<'_>) -> Result<usize> {
        self.enter(Op::Authorize, rules.region, Some(rules.group)).await?;
        let mut state = self.state();
        let Some(g) = state.groups.get_mut(rules.group) else {
            return Err(group_gone(rules.region, rules.group));
        };
        let before = g.rules.clone();
        let mut added = 0;
        for cidr in rules.cidrs {
            if !g.rules.iter().any(|r| r.ours() == Some((*cidr, rules.port))) {
                g.rules.push(our_rule(*cidr, rules.port, rules.description));
                added += 1;
            }
        }
        if added > 0 {
            Self::after_group_write(&mut state, rules.group, before);
        }
        Ok(added)
    }

    async fn set_descriptions(&self, rules: &PortRules<'_>) -> Result<()> {
        self.enter(Op::Authorize, rules.region, Some(rules.group)).await?;
        if let Some(g) = self.state().groups.get_mut(rules.group) {
            let port = Some(i32::from(rules.port));
            for rule in &mut g.rules {
                let adopted = matches!(rule.source, RuleSource::Cidr(c) if rules.cidrs.contains(&c));
                if adopted && rule.from_port == port && rule.to_port == port {
                    rule.description = Some(rules.description.to_owned());
                }
            }
        }
        Ok(())
    }

    async fn revoke(&self, region: &str, group: &str, rules: &BTreeMap<u16, BTreeSet<Cidr>>) -> Result<usize> {
        self.enter(Op::Revoke, region, Some(group)).await?;
        let mut state = self.state();
        let Some(g) = state.groups.get_mut(group) else {
            return Err(group_gone(region, group));
        };
        let before = g.rules.clone();
        g.rules.retain(|r| {
            !r.ours()
                .is_some_and(|(c, p)| rules.get(&p).is_some_and(|cs| cs.contains(&c)))
        });
        let revoked = before.len() - g.rules.len();
        if revoked > 0 {
            Self::after_group_write(&mut state, group, before);
        }
        Ok(revoked)
    }

    async fn prefix_list_weights(&self, region: &str, _ids: &BTreeSet<String>) -> Result<PrefixListWeights> {
        self.enter(Op::PrefixLists, region, None).await?;
        Ok(self.state().weights.clone())
    }

    async fn mark_applied(&self, region: &str, groups: &[String], mark: &AppliedMark) -> Result<()> {
        self.enter(Op::Tag, region, groups.first().map(String::as_str)).await?;
        let mut state = self.state();
        for id in groups {
            if let Some(g) = state.groups.get_mut(id) {
                g.tags.insert(SYNC_TOKEN_TAG.to_owned(), mark.to_string());
            }
        }
        Ok(())
    }
}

impl NetworkInterfaces for FakeEc2 {
    async fn interfaces_with_groups(&self, region: &str, groups: &BTreeSet<String>) -> Result<Vec<Interface>> {
        self.enter(Op::Interfaces, region, None).await?;
        let state = self.state();
        let carrying = state
            .interfaces
            .iter()
            .filter(|(r, i)| r == region && !i.groups.is_disjoint(groups))
            .map(|(_, i)| i.clone());
        Ok(carrying.collect())
    }
}

fn tagged_list(region: &str, id: &str, l: &FakeList) -> Option<TaggedList> {
    let scope = l.tags.get("Name").and_then(|v| Scope::from_tag_value(v))?;
    (l.tags.get("AutoUpdate").map(String::as_str) == Some("true")).then(|| TaggedList {
        region: region.to_owned(),
        scope,
        version: l.version,
        state: l.state.clone(),
        mark: l.tags.get(SYNC_TOKEN_TAG).and_then(|v| AppliedMark::parse(v)),
        list: List {
            id: id.to_owned(),
            family: l.family,
            max_entries: l.max_entries,
            entries: l.entries.clone(),
        },
    })
}

impl FakeEc2 {
    /// EC2's checks of a modification of `list`, and another writer's change when one is due.
    fn check_modify(&self, list: ListAt<'_>) -> Result<()> {
        let mut state = self.state();
        if let Some(i) = state.list_interference.iter().position(|(id, _)| id == list.id) {
            let (_, entries) = state.list_interference.remove(i);
            if let Some(l) = state.lists.get_mut(list.id) {
                l.entries.extend(entries);
                l.version += 1;
            }
        }
        let l = state.lists.get(list.id);
        let code = match l {
            None => Some("InvalidPrefixListID.NotFound"),
            Some(l) if l.state.ends_with("-in-progress") => Some("IncorrectState"),
            Some(l) if l.version != list.version => Some("PrefixListVersionMismatch"),
            Some(_) => None,
        };
        code.map_or(Ok(()), |code| {
            Err(Error::Ec2 {
                operation: "fake",
                region: list.region.to_owned(),
                group: Some(list.id.to_owned()),
                message: format!("{code} from the fake"),
                code: code.to_owned(),
            })
        })
    }

    /// The next write to list `id` ends in `modify-failed`, EC2 saying `message` as its `StateMessage`.
    pub fn fail_next_list_write(&self, id: &str, message: &str) {
        self.state().list_failure = Some((id.to_owned(), message.to_owned()));
    }

    /// A write was applied to list `id`: it is busy for the looks configured, then settles.
    fn written(state: &mut State, id: &str, state_after: &str) {
        if state.list_failure.as_ref().is_some_and(|(l, _)| l == id) {
            let message = state.list_failure.take().map(|(_, m)| m);
            if let Some(l) = state.lists.get_mut(id) {
                (l.state, l.message) = ("modify-failed".to_owned(), message);
            }
            return;
        }
        let busy = state.busy_after_write;
        if let Some(l) = state.lists.get_mut(id) {
            l.version += 1;
            l.state = if busy > 0 {
                "modify-in-progress".into()
            } else {
                state_after.to_owned()
            };
            l.busy_looks = busy;
        }
    }
}

impl PrefixLists for FakeEc2 {
    async fn tagged_lists(&self, region: &str) -> Result<Vec<TaggedList>> {
        self.enter(Op::Lists, region, None).await?;
        let state = self.state();
        let tagged = state.lists.iter().filter_map(|(id, l)| tagged_list(region, id, l));
        Ok(tagged.collect())
    }

    async fn modify(&self, list: ListAt<'_>, change: &Modification, description: &str) -> Result<i64> {
        self.enter(Op::Modify, list.region, Some(list.id)).await?;
        assert!(change.add.len() <= ENTRIES_PER_CALL && change.remove.len() <= ENTRIES_PER_CALL);
        self.check_modify(list)?;
        let mut state = self.state();
        Self::before_list_write(&mut state, list.id);
        if let Some(l) = state.lists.get_mut(list.id) {
            l.entries.retain(|e| !change.remove.contains(&e.cidr));
            l.entries.extend(change.add.iter().map(|c| Entry {
                cidr: *c,
                description: Some(description.to_owned()),
            }));
            assert!(l.entries.len() <= l.max_entries, "{} over MaxEntries", list.id);
        }
        Self::written(&mut state, list.id, "modify-complete");
        Ok(list.version + 1)
    }

    async fn set_max_entries(&self, list: ListAt<'_>, max_entries: usize) -> Result<i64> {
        self.enter(Op::Grow, list.region, Some(list.id)).await?;
        self.check_modify(list)?;
        let mut state = self.state();
        Self::before_list_write(&mut state, list.id);
        if let Some(l) = state.lists.get_mut(list.id) {
            l.max_entries = max_entries;
        }
        Self::written(&mut state, list.id, "modify-complete");
        Ok(list.version + 1)
    }

    async fn state(&self, region: &str, id: &str) -> Result<ListState> {
        self.enter(Op::ListState, region, Some(id)).await?;
        let mut state = self.state();
        if let Some(stale) = state
            .stale_lists
            .get(id)
            .filter(|(_, left)| *left > 0)
            .map(|(l, _)| l.clone())
        {
            Self::list_seen(&mut state, id);
            return Ok(ListState {
                state: stale.state,
                version: stale.version,
                message: stale.message,
            });
        }
        let Some(l) = state.lists.get_mut(id) else {
            return Ok(ListState::default());
        };
        let seen = |l: &FakeList| ListState {
            state: l.state.clone(),
            version: l.version,
            message: l.message.clone(),
        };
        if l.busy_looks > 0 {
            l.busy_looks -= 1;
            return Ok(seen(l));
        }
        if l.state.ends_with("-in-progress") {
            l.state = l.state.replace("-in-progress", "-complete");
        }
        Ok(seen(l))
    }

    async fn mark_applied(&self, region: &str, id: &str, mark: &AppliedMark) -> Result<()> {
        self.enter(Op::Tag, region, Some(id)).await?;
        let mut state = self.state();
        let Some(l) = state.lists.get_mut(id) else {
            return Err(Error::Ec2 {
                operation: "CreateTags",
                region: region.to_owned(),
                group: Some(id.to_owned()),
                code: "InvalidPrefixListID.NotFound".to_owned(),
                message: "gone".to_owned(),
            });
        };
        l.tags.insert(SYNC_TOKEN_TAG.to_owned(), mark.to_string());
        Ok(())
    }

    async fn list(&self, region: &str, id: &str) -> Result<Option<TaggedList>> {
        self.enter(Op::ListRead, region, Some(id)).await?;
        let mut state = self.state();
        Ok(Self::list_seen(&mut state, id).and_then(|l| tagged_list(region, id, &l)))
    }
}

impl FakeEc2 {
    /// Add a WAF IP set `name` (its id `id-<name>`) with these tags, version and addresses.
    pub fn add_ip_set(
        &self,
        name: &str,
        (region, waf_scope): (&str, WafScope),
        tags: &[(&str, &str)],
        family: IpVersion,
        addresses: BTreeSet<Cidr>,
    ) {
        let set = FakeIpSet {
            region: region.to_owned(),
            waf_scope,
            tags: tags.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
            family,
            description: Some(format!("{name} set")),
            addresses,
            lock: 1,
        };
        self.state().ip_sets.insert(name.to_owned(), set);
    }

    /// An IP set as it is now.
    pub fn ip_set(&self, name: &str) -> Option<FakeIpSet> {
        self.state().ip_sets.get(name).cloned()
    }

    /// Before the next update of IP set `name`: another writer replaces its addresses with `addresses`, moving
    /// its lock token on (so our update, made with the token we read, fails with `WAFOptimisticLockException`).
    /// Once per call of this.
    pub fn interfere_with_ip_set(&self, name: &str, addresses: BTreeSet<Cidr>) {
        self.state().ip_set_interference.push((name.to_owned(), addresses));
    }

    /// [`FakeEc2::enter`] for a WAF call: an injected failure is a WAF error.
    async fn enter_waf(&self, op: Op, region: &str, name: Option<&str>) -> Result<()> {
        self.enter(op, region, name).await.map_err(|e| match e {
            Error::Ec2 {
                region,
                group,
                code,
                message,
                ..
            } => Error::Waf {
                operation: "fake",
                region,
                ip_set: group,
                code,
                message,
            },
            other => other,
        })
    }
}

fn tagged_ip_set(name: &str, s: &FakeIpSet) -> Option<TaggedIpSet> {
    let scope = s.tags.get("Name").and_then(|v| Scope::from_tag_value(v))?;
    (s.tags.get("AutoUpdate").map(String::as_str) == Some("true")).then(|| TaggedIpSet {
        region: s.region.clone(),
        waf_scope: s.waf_scope,
        scope,
        lock_token: s.lock.to_string(),
        arn: format!("arn:aws:wafv2:{}:000000000000:ipset/{name}", s.region),
        mark: s.tags.get(SYNC_TOKEN_TAG).and_then(|v| AppliedMark::parse(v)),
        set: IpSet {
            name: name.to_owned(),
            id: format!("id-{name}"),
            family: s.family,
            description: s.description.clone(),
            addresses: s.addresses.clone(),
        },
    })
}

impl IpSets for FakeEc2 {
    async fn tagged_ip_sets(&self, region: &str, waf_scope: WafScope) -> Result<Vec<TaggedIpSet>> {
        self.enter_waf(Op::IpSets, region, None).await?;
        let state = self.state();
        let of_scope = state
            .ip_sets
            .iter()
            .filter(|(_, s)| s.region == region && s.waf_scope == waf_scope);
        Ok(of_scope.filter_map(|(name, s)| tagged_ip_set(name, s)).collect())
    }

    async fn ip_set(&self, tagged: &TaggedIpSet) -> Result<Option<TaggedIpSet>> {
        self.enter_waf(Op::IpSetRead, &tagged.region, Some(&tagged.set.name))
            .await?;
        let state = self.state();
        let name = &tagged.set.name;
        Ok(state.ip_sets.get(name).and_then(|s| tagged_ip_set(name, s)))
    }

    async fn update(&self, tagged: &TaggedIpSet, addresses: &BTreeSet<Cidr>) -> Result<()> {
        let name = &tagged.set.name;
        self.enter_waf(Op::IpSetUpdate, &tagged.region, Some(name)).await?;
        let mut state = self.state();
        let interference = state.ip_set_interference.iter().position(|(n, _)| n == name);
        let interference = interference.map(|i| state.ip_set_interference.remove(i));
        let Some(set) = state.ip_sets.get_mut(name) else {
            return Err(waf_error(tagged, "WAFNonexistentItemException"));
        };
        if let Some((_, theirs)) = interference {
            set.addresses = theirs;
            set.lock += 1;
        }
        if set.lock.to_string() != tagged.lock_token {
            return Err(waf_error(tagged, "WAFOptimisticLockException"));
        }
        assert!(
            addresses.iter().all(|c| c.version() == set.family),
            "{name}: another family"
        );
        set.addresses = addresses.clone();
        set.lock += 1;
        Ok(())
    }

    async fn mark_applied(&self, tagged: &TaggedIpSet, mark: &AppliedMark) -> Result<()> {
        let name = &tagged.set.name;
        self.enter_waf(Op::Tag, &tagged.region, Some(name)).await?;
        let mut state = self.state();
        let Some(set) = state.ip_sets.get_mut(name) else {
            return Err(waf_error(tagged, "WAFNonexistentItemException"));
        };
        set.tags.insert(SYNC_TOKEN_TAG.to_owned(), mark.to_string());
        Ok(())
    }
}

fn waf_error(tagged: &TaggedIpSet, code: &str) -> Error {
    Error::Waf {
        operation: "UpdateIPSet",
        region: tagged.region.clone(),
        ip_set: Some(tagged.set.name.clone()),
        code: code.to_owned(),
        message: format!("{code} from the fake"),
    }
}

/// A source that answers each fetch with the next body of a queue (the last one again once it is empty).
pub struct FakeSource {
    bodies: Mutex<VecDeque<Vec<u8>>>,
    fetches: Mutex<Vec<Instant>>,
}

impl FakeSource {
    pub fn new(bodies: impl IntoIterator<Item = Vec<u8>>) -> FakeSource {
        FakeSource {
            bodies: Mutex::new(bodies.into_iter().collect()),
            fetches: Mutex::new(Vec::new()),
        }
    }

    /// When each fetch happened.
    pub fn fetches(&self) -> Vec<Instant> {
        self.fetches.lock().map(|f| f.clone()).unwrap_or_default()
    }
}

impl RangesSource for FakeSource {
    async fn fetch(&self) -> Result<Vec<u8>> {
        if let Ok(mut f) = self.fetches.lock() {
            f.push(Instant::now());
        }
        let mut bodies = self.bodies.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let body = if bodies.len() > 1 {
            bodies.pop_front()
        } else {
            bodies.front().cloned()
        };
        Ok(body.unwrap_or_default())
    }

    fn location(&self) -> &str {
        "memory"
    }
}
