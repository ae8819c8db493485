//! Test support: in-memory implementations of the ports, for fast tests of [`crate::sync`] with no emulator.
//! Calls can be delayed (on tokio's clock, so tests pause time) and failed with an EC2 error code.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use crate::attachment::Interface;
use crate::cidr::Cidr;
use crate::error::{Error, Result};
use crate::ip_ranges::Scope;
use crate::plan::{AppliedMark, Group, PrefixListWeights, Rule, RuleProtocol, RuleSource, SYNC_TOKEN_TAG};
use crate::ports::{NetworkInterfaces, PortRules, RangesSource, SecurityGroups, TaggedGroup};

/// What the fake was asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Op {
    Describe,
    Authorize,
    Revoke,
    Tag,
    PrefixLists,
    Interfaces,
}

/// One call, when it started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub op: Op,
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

    /// Record the call, wait its latency, then answer the injected failure if any.
    async fn enter(&self, op: Op, region: &str, group: Option<&str>) -> Result<()> {
        let (latency, code) = {
            let mut state = self.state();
            state.calls.push(Call {
                op,
                group: group.map(str::to_owned),
                at: Instant::now(),
            });
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

impl SecurityGroups for FakeEc2 {
    async fn tagged_groups(&self, region: &str) -> Result<Vec<TaggedGroup>> {
        self.enter(Op::Describe, region, None).await?;
        let state = self.state();
        let tagged = state
            .groups
            .iter()
            .filter(|(_, g)| g.region == region)
            .filter_map(|(id, g)| {
                Some(TaggedGroup {
                    region: g.region.clone(),
                    vpc: g.vpc.clone(),
                    scope: is_tagged(g)?,
                    protocol: g.tags.get("Protocol").cloned(),
                    mark: g.tags.get(SYNC_TOKEN_TAG).and_then(|v| AppliedMark::parse(v)),
                    group: Group {
                        id: id.clone(),
                        rules: g.rules.clone(),
                    },
                })
            });
        Ok(tagged.collect())
    }

    async fn groups_by_id(&self, region: &str, ids: &[String]) -> Result<Vec<TaggedGroup>> {
        let all = self.tagged_groups(region).await?;
        Ok(all.into_iter().filter(|g| ids.contains(&g.group.id)).collect())
    }

    async fn authorize(&self, rules: &PortRules<'_>) -> Result<usize> {
        self.enter(Op::Authorize, rules.region, Some(rules.group)).await?;
        let mut state = self.state();
        let Some(g) = state.groups.get_mut(rules.group) else {
            return Ok(0);
        };
        let mut added = 0;
        for cidr in rules.cidrs {
            if !g.rules.iter().any(|r| r.ours() == Some((*cidr, rules.port))) {
                g.rules.push(our_rule(*cidr, rules.port, rules.description));
                added += 1;
            }
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
            return Ok(0);
        };
        let before = g.rules.len();
        g.rules.retain(|r| {
            !r.ours()
                .is_some_and(|(c, p)| rules.get(&p).is_some_and(|cs| cs.contains(&c)))
        });
        Ok(before - g.rules.len())
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
