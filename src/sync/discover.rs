//! Read every target of an account, region by region (one unit of the run's limit reads a region's groups,
//! prefix lists and WAF IP sets together), form the groups into sets, and weigh the prefix lists they
//! reference.

use std::collections::{BTreeMap, BTreeSet};

use futures::future::join_all;

use crate::deadline::Budget;
use crate::domain::NotSynced;
use crate::domain::security_groups::{
    self, AppliedMark, BadProtocol, ForgedMark, Group, MarkTag, PrefixListWeights, RuleSource, SetKey,
    port_of_protocol_tag, protocol_problem,
};
use crate::error::Error;
use crate::ports::{
    Account, Found, IpSets, PrefixLists, SecurityGroups, TaggedGroup, TaggedIpSet, TaggedList, WafScope,
};
use crate::report::{FailedRegion, SkippedGroup};

use super::target::Run;

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

/// Which targets a region's read looks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Reads {
    /// The security groups alone (`adopt`).
    Groups,
    /// Every kind of target: groups, prefix lists, WAF IP sets.
    All,
}

/// A region's tagged groups and the weights of the prefix lists they reference.
type RegionGroups = Result<(Found<TaggedGroup>, Weights), Error>;

/// The weights of the prefix lists a region's groups reference, or why they could not be read.
pub(super) type Weights = std::result::Result<PrefixListWeights, String>;

/// One read of tagged WAF IP sets: where (region and scope), and what it found or why it failed.
pub(super) type IpSetsRead = ((String, WafScope), Result<Found<TaggedIpSet>, Error>);

/// One region of an account as its unit read it.
pub(super) struct RegionRead {
    region: String,
    groups: RegionGroups,
    /// Its tagged prefix lists; `None` when not looked for.
    lists: Option<Result<Found<TaggedList>, Error>>,
    /// Its tagged WAF IP sets, one read per scope read with the region.
    ip_sets: Vec<IpSetsRead>,
}

/// Every target of an account in the configured regions, as read: its sets formed, the groups skipped, the
/// targets named but not synced, and what could not be read.
pub(super) struct Discovered {
    pub(super) sets: Vec<FoundSet>,
    pub(super) skipped_groups: Vec<SkippedGroup>,
    /// Per region, the weights of the prefix lists its groups reference, or why they could not be read.
    pub(super) weights: BTreeMap<String, Weights>,
    /// The tagged prefix lists, per region read.
    pub(super) lists: Vec<(String, Vec<TaggedList>)>,
    /// The tagged WAF IP sets, per region and scope read.
    pub(super) ip_sets: Vec<Vec<TaggedIpSet>>,
    /// Targets with a `Name` of ours whose `AutoUpdate` is not `true`, named with their account.
    pub(super) not_synced: Vec<NotSynced>,
    /// The reads that failed: region, what (`security groups`, `prefix lists`, `WAF IP sets`), and why; the
    /// groups' first, then the lists', then the IP sets'.
    pub(super) failed: Vec<(String, &'static str, Error)>,
}

impl Discovered {
    /// The reads that failed, as the summary names them.
    pub(super) fn failed_regions(&mut self, account: Option<&str>) -> Vec<FailedRegion> {
        let failed = std::mem::take(&mut self.failed).into_iter();
        FailedRegion::merged(failed.map(|(region, what, e)| FailedRegion::new(account, &region, what, &e)))
    }

    /// The first read that failed, if any: `unmark` and `remove` act on a whole account or on none of it.
    pub(super) fn first_failure(&mut self) -> Option<Error> {
        (!self.failed.is_empty()).then(|| self.failed.swap_remove(0).2)
    }
}

/// Read every target of `account` (see [`read_account`]) and form its sets.
pub(super) async fn discover<G: SecurityGroups + PrefixLists, W: IpSets>(
    run: &Run<'_>,
    account: &Account<G, W>,
    reads: Reads,
) -> Discovered {
    let regions = read_account(run, account, reads).await;
    let id = account.id.as_deref();
    let mut found = Discovered {
        sets: Vec::new(),
        skipped_groups: Vec::new(),
        weights: BTreeMap::new(),
        lists: Vec::new(),
        ip_sets: Vec::new(),
        not_synced: Vec::new(),
        failed: Vec::new(),
    };
    let (mut groups, mut lists_failed, mut ip_sets_failed) = (Vec::new(), Vec::new(), Vec::new());
    for read in regions {
        let region = read.region;
        match read.groups {
            Ok((tagged, weights)) => {
                groups.extend(found.take(id, &region, "security groups", tagged));
                found.weights.insert(region.clone(), weights);
            }
            Err(e) => found.failed.push((region.clone(), "security groups", e)),
        }
        match read.lists {
            Some(Ok(tagged)) => {
                let lists = found.take(id, &region, "prefix lists", tagged);
                found.lists.push((region.clone(), lists));
            }
            Some(Err(e)) => lists_failed.push((region.clone(), "prefix lists", e)),
            None => {}
        }
        for ((region, waf_scope), read) in read.ip_sets {
            match read {
                Ok(tagged) => {
                    let what = match waf_scope {
                        WafScope::Regional => "WAF IP sets (REGIONAL)",
                        WafScope::Cloudfront => "WAF IP sets (CLOUDFRONT)",
                    };
                    let ip_sets = found.take(id, &region, what, tagged);
                    found.ip_sets.push(ip_sets);
                }
                Err(e) => ip_sets_failed.push((region, "WAF IP sets", e)),
            }
        }
    }
    found.failed.extend(lists_failed.into_iter().chain(ip_sets_failed));
    (found.sets, found.skipped_groups) = form_sets(id, groups);
    found
}

impl Discovered {
    /// The targets `found` in `region` tagged for the sync, logged; those not synced kept, named with `account`.
    fn take<T>(&mut self, account: Option<&str>, region: &str, what: &str, found: Found<T>) -> Vec<T> {
        tracing::info!(
            account = account.unwrap_or("own"),
            region,
            targets = what,
            tagged = found.tagged.len(),
            not_synced = found.not_synced.len(),
            "found tagged targets"
        );
        self.not_synced.extend(of_account(account, found.not_synced));
        found.tagged
    }
}

/// `not_synced`, each named with `account`.
pub(super) fn of_account(account: Option<&str>, not_synced: Vec<NotSynced>) -> impl Iterator<Item = NotSynced> {
    not_synced.into_iter().map(move |n| NotSynced {
        account: account.map(str::to_owned),
        ..n
    })
}

/// Every region of `account` as its unit read it, in region order. Each region is one unit of the run's limit,
/// which reads its groups and, with [`Reads::All`], its prefix lists and WAF IP sets at once: other APIs, which
/// EC2 and WAF throttle each on its own, so the unit takes one call's time, not three. Then, if the groups
/// reference prefix lists, their sizes (one more call).
///
/// The first region's groups are read first, alone: that gets the account's credentials (its role, one STS
/// call). Then the rest of its unit and the other regions go at once. If the credentials cannot be had,
/// nothing else is tried and the account fails once.
async fn read_account<G: SecurityGroups + PrefixLists, W: IpSets>(
    run: &Run<'_>,
    account: &Account<G, W>,
    reads: Reads,
) -> Vec<RegionRead> {
    let Some((first, others)) = run.config.regions.split_first() else {
        return Vec::new();
    };
    let unit = run.limit.acquire().await;
    let groups = match bound_groups(&account.ec2, first, run.budget).await {
        Err(e @ (Error::Credentials { .. } | Error::NoCredentials)) => {
            return vec![RegionRead {
                region: first.clone(),
                groups: Err(e),
                lists: None,
                ip_sets: Vec::new(),
            }];
        }
        groups => groups,
    };
    let first_rest = async {
        let _unit = unit;
        read_region(run, account, first, groups, reads).await
    };
    let others = join_all(others.iter().map(|region| async {
        let _unit = run.limit.acquire().await;
        let groups = bound_groups(&account.ec2, region, run.budget);
        let (groups, beside) = futures::join!(groups, read_beside(run, account, region, reads));
        with_beside(run, &account.ec2, region, groups, beside).await
    }));
    let (first_read, others) = futures::join!(first_rest, others);
    std::iter::once(first_read).chain(others).collect()
}

/// What a region's unit reads beside its groups.
type Beside = (Option<Result<Found<TaggedList>, Error>>, Vec<IpSetsRead>);

/// The rest of a region's unit once its groups are read.
async fn read_region<G: SecurityGroups + PrefixLists, W: IpSets>(
    run: &Run<'_>,
    account: &Account<G, W>,
    region: &str,
    groups: Result<Found<TaggedGroup>, Error>,
    reads: Reads,
) -> RegionRead {
    let beside = read_beside(run, account, region, reads).await;
    with_beside(run, &account.ec2, region, groups, beside).await
}

/// A region's read: its groups with the weights of the lists they reference, and what was read beside them.
async fn with_beside(
    run: &Run<'_>,
    ec2: &impl SecurityGroups,
    region: &str,
    groups: Result<Found<TaggedGroup>, Error>,
    (lists, ip_sets): Beside,
) -> RegionRead {
    RegionRead {
        region: region.to_owned(),
        groups: with_weights(ec2, region, groups, run.budget).await,
        lists,
        ip_sets,
    }
}

/// The prefix lists and WAF IP sets of `region` (scope `REGIONAL`; with the first region, scope `CLOUDFRONT`
/// too, which lives in us-east-1), at once, within the deadline; nothing unless `reads` is [`Reads::All`].
async fn read_beside<G: PrefixLists, W: IpSets>(
    run: &Run<'_>,
    account: &Account<G, W>,
    region: &str,
    reads: Reads,
) -> Beside {
    if reads == Reads::Groups {
        return (None, Vec::new());
    }
    let first = run.config.regions.first().is_some_and(|r| r == region);
    let scopes = run
        .config
        .ip_set_scopes()
        .into_iter()
        .filter(|(r, waf_scope)| match waf_scope {
            WafScope::Regional => r == region,
            WafScope::Cloudfront => first,
        });
    let ip_sets = scopes.map(|(region, waf_scope)| async move {
        let what = || format!("ListIPSets {} in {region}", waf_scope.as_str());
        let read = run.bound(what, account.waf.tagged_ip_sets(&region, waf_scope)).await;
        ((region, waf_scope), read)
    });
    let what = || format!("DescribeManagedPrefixLists in {region}");
    let lists = run.bound(what, account.ec2.tagged_lists(region));
    let (lists, ip_sets) = futures::join!(lists, join_all(ip_sets));
    (Some(lists), ip_sets)
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
