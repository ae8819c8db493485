//! The fake of [`SecurityGroups`]: groups in memory, EC2's behaviour at the port (idempotent writes that count
//! what they changed; a write to a group that is gone answers `InvalidGroup.NotFound`), another writer's
//! changes made just before a call of ours, and reads that lag writes.

use std::collections::{BTreeMap, BTreeSet};

use super::{FakeEc2, Op};
use crate::domain::cidr::Cidr;
use crate::domain::ip_ranges::Scope;
use crate::domain::security_groups::{
    AppliedMark, Group, MarkTag, PrefixListWeights, Rule, RuleProtocol, RuleSource, SYNC_TOKEN_TAG,
};
use crate::domain::{NotSynced, TargetKind, auto_update_on};
use crate::error::{Error, Result};
use crate::ports::{Found, PortRules, SecurityGroups, TaggedGroup};

/// A security group held in memory.
#[derive(Debug, Clone, Default)]
pub struct FakeGroup {
    pub region: String,
    pub vpc: String,
    pub tags: BTreeMap<String, String>,
    pub rules: Vec<Rule>,
}

/// Another writer's change, made just before a call of ours, which then fails with `code` (or succeeds).
pub(super) struct Interference {
    pub(super) op: Op,
    pub(super) group: String,
    /// The group the other writer changes.
    pub(super) into: String,
    pub(super) rules: Vec<Rule>,
    pub(super) code: Option<String>,
}

impl FakeEc2 {
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

    /// The weights `prefix_list_weights` answers.
    pub fn set_weights(&self, weights: PrefixListWeights) {
        self.state().weights = weights;
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

    /// A tag of a group, a prefix list (by id) or an IP set (by name).
    pub fn tag(&self, target: &str, key: &str) -> Option<String> {
        let mut state = self.state();
        let state = &mut *state;
        let tags = (state.groups.get_mut(target).map(|g| &mut g.tags))
            .or_else(|| state.lists.get_mut(target).map(|l| &mut l.tags))
            .or_else(|| state.ip_sets.get_mut(target).map(|s| &mut s.tags));
        tags?.get(key).cloned()
    }

    /// Set a tag of a group, a prefix list (by id) or an IP set (by name), as any tagger may.
    pub fn set_tag(&self, target: &str, key: &str, value: &str) {
        let mut state = self.state();
        let state = &mut *state;
        let tags = (state.groups.get_mut(target).map(|g| &mut g.tags))
            .or_else(|| state.lists.get_mut(target).map(|l| &mut l.tags))
            .or_else(|| state.ip_sets.get_mut(target).map(|s| &mut s.tags));
        tags.expect("no such target").insert(key.to_owned(), value.to_owned());
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
                mark: g.tags.get(SYNC_TOKEN_TAG).map(|v| MarkTag::read(v)),
                group: Group {
                    rules: state.stale_groups.read(&id).unwrap_or_else(|| g.rules.clone()),
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
    auto_update_on(g.tags.get("AutoUpdate").map(String::as_str)).then_some(scope)
}

impl SecurityGroups for FakeEc2 {
    async fn tagged_groups(&self, region: &str) -> Result<Found<TaggedGroup>> {
        self.enter(Op::Describe, region, None).await?;
        let state = self.state();
        let not_synced = state
            .groups
            .iter()
            .filter(|(_, g)| g.region == region)
            .filter_map(|(id, g)| {
                let tag = |key: &str| g.tags.get(key).map(String::as_str);
                NotSynced::of(TargetKind::SecurityGroupSet, region, id, tag("Name"), tag("AutoUpdate"))
            });
        let not_synced = not_synced.collect();
        drop(state);
        Ok(Found {
            tagged: self.read_groups(region, None),
            not_synced,
        })
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
            let lag = state.lag_reads;
            state.stale_groups.written(rules.group, before, lag);
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
            let lag = state.lag_reads;
            state.stale_groups.written(group, before, lag);
        }
        Ok(revoked)
    }

    async fn prefix_list_weights(&self, region: &str, _ids: &BTreeSet<String>) -> Result<PrefixListWeights> {
        self.enter(Op::PrefixLists, region, None).await?;
        Ok(self.state().weights.clone())
    }

    async fn clear_mark(&self, region: &str, groups: &[String]) -> Result<()> {
        self.enter(Op::Untag, region, groups.first().map(String::as_str))
            .await?;
        let mut state = self.state();
        for id in groups {
            if let Some(g) = state.groups.get_mut(id) {
                g.tags.remove(SYNC_TOKEN_TAG);
            }
        }
        Ok(())
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
