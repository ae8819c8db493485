//! Security groups, the first target: each set found is a unit of the run's limit, checked (never backwards,
//! the empty guard), planned by [`crate::domain::security_groups`], written by `apply` in safe order, read back
//! (waiting out reads that lag our writes) and re-planned until EC2 holds it exact, then marked with the file
//! applied.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::apply::apply;
use super::discover::{FoundSet, Weights, reform};
use super::target::{Context, Target, answered, sync_all};
use crate::deadline::Backoff;
use crate::domain::cidr::IpVersion;
use crate::domain::ip_ranges::Selection;
use crate::domain::security_groups::{
    self, AppliedMark, MarkTag, PrefixListWeights, Quota, RuleSource, Seen, SetKey, SetPlan, Written,
};
use crate::error::{Error, Result};
use crate::ports::SecurityGroups;
use crate::report::{NEAR_FULL, SetReport, TargetStatus};

/// One set found, and the weights of the prefix lists its region's groups reference.
pub(super) struct SetUnit {
    set: FoundSet,
    weights: Weights,
}

/// Sync every set, each a unit of the run's limit; `weights` per region. The reports come back in key order.
pub(super) async fn sync_sets<G: SecurityGroups>(
    cx: &Context<'_, G>,
    file: &Selection,
    sets: Vec<FoundSet>,
    weights: &BTreeMap<String, Weights>,
) -> Vec<SetReport> {
    let units = sets.into_iter().map(|set| SetUnit {
        weights: weights_of(&set, weights),
        set,
    });
    let mut reports = sync_all(cx, file, units.collect()).await;
    reports.sort_by(|a, b| a.key.cmp(&b.key));
    reports
}

/// The weights of the prefix lists of the set's region (empty when the set references none; their failure only
/// when it does).
fn weights_of(set: &FoundSet, weights: &BTreeMap<String, Weights>) -> Weights {
    let references = set
        .groups
        .iter()
        .flat_map(|g| &g.rules)
        .any(|r| matches!(r.source, RuleSource::PrefixList(_)));
    match weights.get(&set.key.region) {
        Some(Err(e)) if references => Err(e.clone()),
        Some(Ok(weights)) => Ok(weights.clone()),
        _ => Ok(PrefixListWeights::new()),
    }
}

impl<G: SecurityGroups> Target<G> for SetUnit {
    type Report = SetReport;

    /// A report for the set with nothing done yet (its forged marks, judged as the set was formed, logged).
    fn report(&self, _account: Option<&str>) -> SetReport {
        let set = &self.set;
        let mut groups: Vec<String> = set.groups.iter().map(|g| g.id.clone()).collect();
        groups.sort();
        let mut report = SetReport::new(set.key.clone(), groups, set.applied.as_ref().map(|m| m.sync_token));
        super::warn_forged(&set.forged);
        report.forged_marks = set.forged.clone();
        report
    }

    fn holds_newer(&self, file: &Selection, _report: &mut SetReport) -> bool {
        super::holds_newer(self.set.applied.as_ref(), file, &format!("set {}", self.set.key))
    }

    async fn converge(
        self,
        cx: &Context<'_, G>,
        file: &Selection,
        report: &mut SetReport,
    ) -> Result<(TargetStatus, Self)> {
        let (status, set) = converge(cx, file, &self, report).await?;
        Ok((status, SetUnit { set, ..self }))
    }

    /// Tag the set's groups that do not carry this run's mark yet (one call for them all; none when every group
    /// does).
    async fn record_applied(&self, cx: &Context<'_, G>, file: &Selection, _report: &SetReport) -> Result<()> {
        let set = &self.set;
        let mark = AppliedMark::of(file.sync_token, file.ranges(set.key.scope));
        let stale: Vec<String> = set
            .marks
            .iter()
            .filter(|(_, m)| m.as_ref().and_then(MarkTag::mark) != Some(&mark))
            .map(|(group, _)| group.clone())
            .collect();
        if stale.is_empty() {
            return Ok(());
        }
        let what = || format!("CreateTags on the groups of set {}", set.key);
        cx.bound(what, cx.port.mark_applied(&set.key.region, &stale, &mark))
            .await
    }
}

/// EC2's answer when a group holds as many rules as the account's quota allows. Another writer's rules can fill
/// a group between our read and our write (and moto answers it where EC2 answers a duplicate), so it is a
/// conflict only when the group read back holds more rules than we planned from; else it is the quota.
const RULES_LIMIT: &str = "RulesPerSecurityGroupLimitExceeded";

/// The EC2 answers that mean a group is not as planned: another writer (a second run, an operator) changed the
/// set between our read and our write.
const CONFLICTS: [&str; 4] = [
    RULES_LIMIT,
    "InvalidPermission.Duplicate",
    "InvalidPermission.NotFound",
    "InvalidGroup.NotFound",
];

fn is_conflict(error: &Error) -> bool {
    answered(error, &CONFLICTS)
}

/// Sync the set and make sure it ends exact. After a round that wrote, the set is read back and planned again:
/// another writer (a second run, an operator) may have changed it between our read and our writes without any
/// write of ours failing, e.g. by placing a range we also placed in another group. When a write fails because
/// the set changed, it is read back the same way. Our successful writes are facts: a read-back that shows
/// less of them lags (EC2 is eventually consistent) and is read again, with backoff, before anything is
/// planned from it. A read-back that still needs writes is a re-plan, up to `REPLAN_ATTEMPTS`. Groups deleted
/// during the run drop out of the set, which syncs with the groups left. Every round plans from what EC2 holds
/// then, so the safety rules hold through each.
async fn converge<G: SecurityGroups>(
    cx: &Context<'_, G>,
    file: &Selection,
    unit: &SetUnit,
    report: &mut SetReport,
) -> Result<(TargetStatus, FoundSet)> {
    let set = &unit.set;
    let mut current = set.clone();
    let mut wrote = false;
    let mut read_back = ReadBack::No;
    loop {
        let mut written = Written::default();
        match sync_round(cx, (file, &unit.weights), &current, report, (read_back, &mut written)).await {
            Ok(Round::Settled) => break,
            Ok(Round::Planned) => return Ok((TargetStatus::Planned, current)),
            Ok(Round::Wrote) => {
                wrote = true;
                read_back = ReadBack::AfterWrites;
            }
            Err(e) if quota_reached(cx, &current, &written, &e).await? => {
                return Err(Error::RulesQuota {
                    set: set.key.to_string(),
                    group: limited_group(&e).unwrap_or_default().to_owned(),
                    max_rules: cx.config().max_rules_per_group,
                });
            }
            Err(e) if is_conflict(&e) && report.replans < cx.config().replan_attempts => {
                report.replans += 1;
                read_back = ReadBack::AfterConflict;
                tracing::warn!(set = %set.key, round = report.replans, cause = %e, "the set changed during the run (another writer?); re-reading and re-planning it");
            }
            Err(e) => return Err(e),
        }
        let found = read_back_set(cx, &current, &written).await?;
        let left: BTreeSet<&str> = found.iter().flat_map(|f| &f.groups).map(|g| g.id.as_str()).collect();
        let gone: Vec<String> = current
            .groups
            .iter()
            .map(|g| g.id.clone())
            .filter(|id| !left.contains(id.as_str()))
            .collect();
        if !gone.is_empty() {
            tracing::warn!(set = %set.key, groups = ?gone, "groups of the set were deleted or lost their tags during the run; syncing it with the groups left");
            report.gone_groups.extend(gone);
        }
        // Every group of the set is gone: nothing left to sync.
        let Some(found) = found else {
            return Ok((TargetStatus::Gone, current));
        };
        current = found;
    }
    tracing::info!(set = %set.key, added = report.added, removed = report.removed, unchanged = report.unchanged, replans = report.replans, "set synced");
    let changed = wrote || report.added + report.removed > 0;
    let status = match changed {
        true => TargetStatus::Synced,
        false => TargetStatus::InSync,
    };
    Ok((status, current))
}

/// The group EC2 refused more rules for, when `error` is that answer.
fn limited_group(error: &Error) -> Option<&str> {
    match error {
        Error::Ec2 { code, group, .. } if code == RULES_LIMIT => group.as_deref(),
        _ => None,
    }
}

/// Whether EC2 refused more rules for a group of `set` because of the account's quota: the group read back
/// (one describe) holds no more rules than the plan found in it with the round's own writes (`written`), so no
/// other writer filled it.
async fn quota_reached<G: SecurityGroups>(
    cx: &Context<'_, G>,
    set: &FoundSet,
    written: &Written,
    error: &Error,
) -> Result<bool> {
    let Some(group) = limited_group(error) else {
        return Ok(false);
    };
    let Some(planned_from) = set.groups.iter().find(|g| g.id == group) else {
        return Ok(false);
    };
    let what = || format!("DescribeSecurityGroups of {group}");
    let now = cx
        .bound(what, cx.port.groups_by_id(&set.key.region, &[group.to_owned()]))
        .await?;
    let now = now.into_iter().map(|t| t.group).find(|g| g.id == group);
    Ok(now.is_some_and(|now| security_groups::filled_by_no_other(planned_from, written, &now)))
}

/// The first pause before a set is read back again when its read lags our writes; then 1 s, then 2 s.
const LAG_FIRST_PAUSE: Duration = Duration::from_millis(500);

/// The longest pause between two reads of a lagging set.
const LAG_MAX_PAUSE: Duration = Duration::from_secs(2);

/// How long a lagging read is waited out (0.5 + 1 + 2 s of pauses, and the reads) before the set is planned
/// from what it shows.
const LAG_MAX_WAIT: Duration = Duration::from_secs(4);

/// The set `current` read back (by the `group-id` filter: a deleted group is absent, not an error) after a
/// round that made `written`: read again with backoff while the read lags those writes; `None` when none of
/// its groups is left in it.
async fn read_back_set<G: SecurityGroups>(
    cx: &Context<'_, G>,
    current: &FoundSet,
    written: &Written,
) -> Result<Option<FoundSet>> {
    let key = &current.key;
    let ids: Vec<String> = current.groups.iter().map(|g| g.id.clone()).collect();
    let mut backoff = Backoff::new(LAG_FIRST_PAUSE, LAG_MAX_PAUSE, LAG_MAX_WAIT);
    loop {
        let what = || format!("DescribeSecurityGroups of set {key}");
        let groups = cx.bound(what, cx.port.groups_by_id(&key.region, &ids)).await?;
        let Some(found) = reform(key, groups) else {
            return Ok(None);
        };
        if security_groups::seen_after(&current.groups, written, &found.groups) != Seen::Lags {
            return Ok(Some(found));
        }
        if !backoff.pause(cx.run.budget).await {
            tracing::warn!(set = %key, waited_ms = u64::try_from(backoff.waited().as_millis()).unwrap_or(u64::MAX), "the set read back still does not show our writes; planning from it");
            return Ok(Some(found));
        }
        tracing::info!(set = %key, "the set read back does not show our writes yet (EC2's reads may lag its writes); reading it again");
    }
}

/// Why a round of [`converge`] plans a set read back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReadBack {
    /// It does not: the first round plans the set as discovered.
    No,
    /// Our writes succeeded: a round that still finds writes to make is a re-plan.
    AfterWrites,
    /// A write failed because the set changed: the re-plan is already counted.
    AfterConflict,
}

/// How a round of [`converge`] ended.
enum Round {
    /// The set needs no write.
    Settled,
    /// A dry run planned writes.
    Planned,
    /// Writes were made: read the set back.
    Wrote,
}

/// One round: plan the set and make its writes (none in a dry run), adding to the report's counts and to
/// `written` (the writes that succeeded, also when another failed). A round on a set read back that still
/// needs writes is a re-plan: it fails the set when none is left.
async fn sync_round<G: SecurityGroups>(
    cx: &Context<'_, G>,
    (file, weights): (&Selection, &Weights),
    set: &FoundSet,
    report: &mut SetReport,
    (read_back, written): (ReadBack, &mut Written),
) -> Result<Round> {
    let key = &set.key;
    let config = cx.config();
    let plan = plan_checked(cx, (file, weights), set)?;
    // Read back after our writes, the plan counts what we added as held: held before the run is the rest.
    match read_back {
        ReadBack::No => report.unchanged = plan.unchanged,
        ReadBack::AfterConflict => report.unchanged = plan.unchanged.saturating_sub(report.added),
        ReadBack::AfterWrites => {}
    }
    report.room_left = plan.room_left.clone();
    report.over_quota = plan.over_quota.clone();
    if !plan.over_quota.is_empty() {
        tracing::warn!(set = %key, over_quota = ?plan.over_quota, max_rules = config.max_rules_per_group, "the set's groups hold more rules than MAX_RULES_PER_GROUP: set it to the account's quota");
    }
    report.near_full = warn_if_near_full(key, &plan);
    report.percent_full = (plan.fullness() * 100.0).round().clamp(0.0, 100.0) as u32;
    if plan.changes.is_empty() {
        return Ok(Round::Settled);
    }
    if read_back == ReadBack::AfterWrites {
        if report.replans >= config.replan_attempts {
            return Err(Error::Unsettled {
                set: key.to_string(),
                replans: report.replans,
            });
        }
        report.replans += 1;
        tracing::warn!(set = %key, round = report.replans, added = plan.added, removed = plan.removed, "read back after our writes, the set differs from the file (another writer?); re-planning it");
    }
    report.changes = plan.changes.clone();
    if config.dry_run {
        (report.added, report.removed) = (plan.added, plan.removed);
        tracing::info!(set = %key, added = plan.added, removed = plan.removed, unchanged = plan.unchanged, "dry run: planned");
        return Ok(Round::Planned);
    }
    let description = security_groups::rule_description(key.scope, cx.run.services);
    let applied = apply(cx.port, key, &plan, &description, cx.run.budget).await;
    report.added += applied.added;
    report.removed += applied.removed;
    *written = applied.written;
    match applied.error {
        Some(e) => Err(e),
        None => Ok(Round::Wrote),
    }
}

/// The guard and the plan of one set.
fn plan_checked<G>(cx: &Context<'_, G>, (file, weights): (&Selection, &Weights), set: &FoundSet) -> Result<SetPlan> {
    let config = cx.config();
    security_groups::check_not_emptied(
        &set.key,
        &file.versions(),
        &config.filter.versions,
        &set.groups,
        set.applied.as_ref(),
    )?;
    let weights = weights.as_ref().map_err(|reason| Error::PrefixListSizes {
        set: set.key.to_string(),
        reason: reason.clone(),
    })?;
    let quota = Quota {
        max_rules: config.max_rules_per_group,
        prefix_lists: weights,
    };
    security_groups::plan_set(&set.key, file.ranges(set.key.scope), &set.groups, quota)
}

/// Log a warning when the set is more than [`NEAR_FULL`]; returns whether it is.
fn warn_if_near_full(key: &SetKey, plan: &SetPlan) -> bool {
    let fullness = plan.fullness();
    let near_full = fullness > NEAR_FULL;
    if near_full {
        tracing::warn!(
            set = %key,
            percent_full = (fullness * 100.0).round(),
            room_left_ipv4 = plan.room_left.get(&IpVersion::Ipv4).copied().unwrap_or(0),
            room_left_ipv6 = plan.room_left.get(&IpVersion::Ipv6).copied().unwrap_or(0),
            "set is more than 80% full: add a group before AWS grows the list"
        );
    }
    near_full
}
