//! Find the tagged groups of every region of an account, form them into sets, and weigh the prefix lists they
//! reference.

use std::collections::{BTreeMap, BTreeSet};

use futures::future::join_all;

use crate::config::Config;
use crate::deadline::Budget;
use crate::domain::NotSynced;
use crate::domain::security_groups::{
    self, AppliedMark, BadProtocol, ForgedMark, Group, MarkTag, PrefixListWeights, RuleSource, SetKey,
    port_of_protocol_tag, protocol_problem,
};
use crate::error::Error;
use crate::ports::{Account, Found, SecurityGroups, TaggedGroup};
use crate::report::SkippedGroup;

use super::Limit;

/// A set found in EC2, ready to plan.
#[derive(Debug, Clone)]
pub(super) struct FoundSet {
    pub(super) key: SetKey,
    pub(super) groups: Vec<Group>,
    /// The newest file applied to the set, from its groups' trusted marks.
    pub(super) applied: Option<AppliedMark>,
    /// Each group's mark tag, as read (none, older, forged, or a group new to the set).
    pub(super) marks: BTreeMap<String, Option<MarkTag>>,
    /// The marks of its groups not trusted (see [`crate::domain::security_groups::trusted_mark`]).
    pub(super) forged: Vec<ForgedMark>,
}

impl FoundSet {
    /// The groups that carry a mark tag (any).
    pub(super) fn marked_groups(&self) -> Vec<String> {
        let marked = self.marks.iter().filter(|(_, m)| m.is_some());
        marked.map(|(group, _)| group.clone()).collect()
    }

    /// The newest mark its groups carry, trusted or not (what `unmark` lists).
    pub(super) fn recorded(&self) -> Option<&AppliedMark> {
        self.marks.values().flatten().filter_map(MarkTag::mark).max()
    }

    /// A set of `groups`, its marks judged now.
    fn new(key: SetKey, tagged: Vec<TaggedGroup>) -> FoundSet {
        let judged: Vec<_> = tagged
            .iter()
            .map(|g| super::judge_mark(&g.group.id, g.mark.as_ref()))
            .collect();
        let applied = security_groups::applied_mark(judged.iter().map(|(trusted, _)| *trusted)).cloned();
        let forged = judged.into_iter().filter_map(|(_, forged)| forged).collect();
        FoundSet {
            key,
            marks: tagged.iter().map(|g| (g.group.id.clone(), g.mark.clone())).collect(),
            groups: tagged.into_iter().map(|g| g.group).collect(),
            applied,
            forged,
        }
    }
}

/// Group the tagged groups of `account` into sets; groups with an unusable `Protocol` tag are skipped and
/// reported.
pub(super) fn form_sets(account: Option<&str>, groups: Vec<TaggedGroup>) -> (Vec<FoundSet>, Vec<SkippedGroup>) {
    let mut sets: BTreeMap<SetKey, Vec<TaggedGroup>> = BTreeMap::new();
    let mut skipped = Vec::new();
    for g in groups {
        let port = g
            .protocol
            .as_deref()
            .map_or(Err(BadProtocol::Unreadable), port_of_protocol_tag);
        let port = match port {
            Ok(port) => port,
            Err(bad) => {
                let reason = protocol_problem(g.protocol.as_deref(), bad);
                tracing::warn!(region = %g.region, group = %g.group.id, %reason, "skipping tagged group");
                skipped.push(SkippedGroup {
                    account: account.map(str::to_owned),
                    region: g.region,
                    group: g.group.id,
                    reason,
                });
                continue;
            }
        };
        let key = SetKey {
            account: account.map(str::to_owned),
            region: g.region.clone(),
            vpc: g.vpc.clone(),
            scope: g.scope,
            port,
        };
        sets.entry(key).or_default().push(g);
    }
    let sets = sets
        .into_iter()
        .map(|(key, tagged)| FoundSet::new(key, tagged))
        .collect();
    (sets, skipped)
}

/// The set `key` as `groups` (its groups, re-read) form it now; `None` when none of them is in it any more.
pub(super) fn reform(key: &SetKey, groups: Vec<TaggedGroup>) -> Option<FoundSet> {
    form_sets(key.account.as_deref(), groups)
        .0
        .into_iter()
        .find(|s| &s.key == key)
}

/// The sets of every configured region of an account, the groups skipped and the regions that could not be
/// read, with their errors.
pub(super) struct Discovered<T> {
    pub(super) sets: Vec<FoundSet>,
    pub(super) skipped_groups: Vec<SkippedGroup>,
    pub(super) failed_regions: Vec<(String, Error)>,
    /// Per region, the weights of the prefix lists its groups reference, or why they could not be read.
    pub(super) prefix_lists: BTreeMap<String, std::result::Result<PrefixListWeights, String>>,
    /// What was read beside the groups of each region (see [`discover`]), in region order; nothing when the
    /// account's credentials could not be had.
    pub(super) beside: Vec<T>,
    /// Groups with a `Name` of ours whose `AutoUpdate` is not `true`.
    pub(super) not_synced: Vec<NotSynced>,
}

/// A region's tagged groups and the weights of the prefix lists they reference.
type RegionGroups = Result<(Found<TaggedGroup>, std::result::Result<PrefixListWeights, String>), Error>;

/// Read the tagged groups of every region of `account`, and form the sets. Each region is one unit of `limit`,
/// which also reads what `beside` reads there (the sync: the region's prefix lists and WAF IP sets), at once
/// with the groups: other APIs, which EC2 and WAF throttle each on its own, so the unit takes one call's time,
/// not three. Then, if the groups reference prefix lists, their sizes (one more call).
///
/// The first region's groups are read first, alone: that gets the account's credentials (its role, one STS
/// call). Then the rest of its unit and the other regions go at once. If the credentials cannot be had,
/// nothing else is tried and the account fails once.
pub(super) async fn discover<'a, G: SecurityGroups, W, T, F: Future<Output = T>>(
    config: &'a Config,
    account: &Account<G, W>,
    budget: Budget,
    limit: &Limit,
    beside: impl Fn(&'a str) -> F,
) -> Discovered<T> {
    let (found, besides) = read_regions(config, &account.ec2, budget, limit, beside).await;
    let label = account.id.as_deref().unwrap_or("own");
    let mut tagged = Vec::new();
    let mut not_synced = Vec::new();
    let mut failed_regions = Vec::new();
    let mut prefix_lists = BTreeMap::new();
    for (region, result) in config.regions.iter().zip(found) {
        match result {
            Ok((found, weights)) => {
                tracing::info!(
                    account = label,
                    region,
                    groups = found.tagged.len(),
                    not_synced = found.not_synced.len(),
                    "found tagged security groups"
                );
                tagged.extend(found.tagged);
                not_synced.extend(of_account(account.id.as_deref(), found.not_synced));
                prefix_lists.insert(region.clone(), weights);
            }
            Err(e) => {
                tracing::error!(account = label, region, error = %e, "cannot read the security groups of a region");
                failed_regions.push((region.clone(), e));
            }
        }
    }
    let (sets, skipped_groups) = form_sets(account.id.as_deref(), tagged);
    Discovered {
        sets,
        skipped_groups,
        failed_regions,
        prefix_lists,
        beside: besides,
        not_synced,
    }
}

/// `not_synced`, each named with `account`.
pub(super) fn of_account(account: Option<&str>, not_synced: Vec<NotSynced>) -> impl Iterator<Item = NotSynced> {
    not_synced.into_iter().map(move |n| NotSynced {
        account: account.map(str::to_owned),
        ..n
    })
}

/// Each region's groups (with the weights of the lists they reference) and what `beside` read there, in region
/// order: the first region's groups first and alone (the account's credentials), then the rest at once. When the
/// credentials cannot be had, only that failure, and nothing read beside.
async fn read_regions<'a, G: SecurityGroups, T, F: Future<Output = T>>(
    config: &'a Config,
    ec2: &G,
    budget: Budget,
    limit: &Limit,
    beside: impl Fn(&'a str) -> F,
) -> (Vec<RegionGroups>, Vec<T>) {
    let Some((first, others)) = config.regions.split_first() else {
        return (Vec::new(), Vec::new());
    };
    let unit = limit.acquire().await;
    let groups = match bound_groups(ec2, first, budget).await {
        Err(e @ (Error::Credentials { .. } | Error::NoCredentials)) => return (vec![Err(e)], Vec::new()),
        groups => groups,
    };
    let first_rest = async {
        let _unit = unit;
        let read = beside(first).await;
        (with_weights(ec2, first, groups, budget).await, read)
    };
    let others = join_all(others.iter().map(|region| async {
        let _unit = limit.acquire().await;
        let (groups, read) = futures::join!(bound_groups(ec2, region, budget), beside(region));
        (with_weights(ec2, region, groups, budget).await, read)
    }));
    let (first_read, others) = futures::join!(first_rest, others);
    std::iter::once(first_read).chain(others).unzip()
}

/// One region's tagged groups, within the deadline.
async fn bound_groups(ec2: &impl SecurityGroups, region: &str, budget: Budget) -> Result<Found<TaggedGroup>, Error> {
    budget
        .bound(
            || format!("DescribeSecurityGroups in {region}"),
            ec2.tagged_groups(region),
        )
        .await
}

/// `groups` read, with the weights of the prefix lists they reference.
async fn with_weights(
    ec2: &impl SecurityGroups,
    region: &str,
    groups: Result<Found<TaggedGroup>, Error>,
    budget: Budget,
) -> RegionGroups {
    let groups = groups?;
    let weights = prefix_list_weights(ec2, region, &groups.tagged, budget).await;
    Ok((groups, weights))
}

/// The weights of the prefix lists `groups` reference: one DescribeManagedPrefixLists for the region, none
/// when no group references a list. A failure only touches the sets that hold a reference.
async fn prefix_list_weights(
    ec2: &impl SecurityGroups,
    region: &str,
    groups: &[TaggedGroup],
    budget: Budget,
) -> std::result::Result<PrefixListWeights, String> {
    let ids: BTreeSet<String> = groups
        .iter()
        .flat_map(|g| &g.group.rules)
        .filter_map(|r| match &r.source {
            RuleSource::PrefixList(id) => Some(id.clone()),
            _ => None,
        })
        .collect();
    if ids.is_empty() {
        return Ok(PrefixListWeights::new());
    }
    budget
        .bound(
            || format!("DescribeManagedPrefixLists in {region}"),
            ec2.prefix_list_weights(region, &ids),
        )
        .await
        .map_err(|e| {
            tracing::error!(region, error = %e, "cannot read the sizes of referenced prefix lists");
            e.to_string()
        })
}
