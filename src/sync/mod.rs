//! One run, end to end: fetch and verify the file, find the sets, check and plan each, apply, summarize.
//!
//! The handler and the CLI both call [`run`]. It is the one place that wires the [ports](crate::ports) it is
//! given to the pure core ([`crate::plan`]): everything it decides is decided there.
//!
//! - [`fetch`](fetch_verified): download, MD5, the late and the lagging file.
//! - `discover`: the tagged groups of every region, formed into sets, and the prefix lists they reference.
//! - `apply`: a set's writes in safe order, within the deadline.
//! - [`adopt`]: hand rules left by AWS's Python sample over to the sync.
//! - `attached`: which network interfaces carry only some of a set's groups (beside the sync, read-only).

mod adopt;
mod apply;
mod attached;
mod discover;
mod fetch;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};

use futures::future::join_all;
use tokio::sync::{Semaphore, SemaphorePermit};
use tokio::time::Instant;

use crate::cidr::{Cidr, IpVersion};
use crate::config::Config;
use crate::deadline::Budget;
use crate::error::{Error, Result};
use crate::event::Trigger;
use crate::ip_ranges::{Scope, Selection};
use crate::plan::{self, AppliedMark, PrefixListWeights, Quota, RuleSource, SetKey, SetPlan};
use crate::ports::{Account, NetworkInterfaces, RangesSource, SecurityGroups};
use crate::report::{FailedRegion, NEAR_FULL, SetReport, SetStatus, SkippedGroup, Summary};

pub use adopt::adopt;
pub use fetch::fetch_verified;

use apply::apply;
use attached::{Attachment, check_attachment, set_groups};
use discover::{Discovered, FoundSet, discover, reform};

/// Guard against a format change wiping every rule: a selection with no range at all, while sets exist, stops
/// the run before any write anywhere. (Each set is also guarded per IP version: [`plan::check_not_emptied`].)
fn check_selection(config: &Config, selection: &Selection, sets: usize) -> Result<()> {
    if sets == 0 || Scope::ALL.iter().any(|s| !selection.ranges(*s).is_empty()) {
        return Ok(());
    }
    Err(Error::EmptySelection {
        service: config.service_names(),
        versions: config.version_names(),
        sets,
    })
}

fn log_selection(selection: &Selection) {
    for scope in Scope::ALL {
        let ranges = selection.ranges(scope);
        tracing::info!(
            scope = %scope,
            ipv4 = ranges.iter().filter(|c| c.version() == IpVersion::Ipv4).count(),
            ipv6 = ranges.iter().filter(|c| c.version() == IpVersion::Ipv6).count(),
            "selected ranges"
        );
    }
}

/// The bound on concurrent work over the whole run (`MAX_CONCURRENCY`), shared by every account and region:
/// a unit is one region's reads of one account, or one set's sync. A unit makes its calls one after another,
/// so at most that many EC2 calls are in flight at once.
pub(super) struct Limit(Semaphore);

impl Limit {
    fn new(units: usize) -> Limit {
        Limit(Semaphore::new(units))
    }

    /// Wait for a unit's turn; the unit runs while the permit is held. (The semaphore is never closed: `None`
    /// cannot happen, and would only let the unit run unbounded.)
    pub(super) async fn acquire(&self) -> Option<SemaphorePermit<'_>> {
        self.0.acquire().await.ok()
    }
}

/// Run one sync over `accounts` (one [`Account::own`] unless `ACCOUNTS` lists some). Errors that stop everything
/// before any write (event, download, MD5, document, empty selection) are `Err`; failures of single sets,
/// groups, regions or accounts are in the summary (see [`Summary::into_result`]).
pub async fn run<G: SecurityGroups + NetworkInterfaces>(
    config: &Config,
    trigger: &Trigger,
    source: &impl RangesSource,
    accounts: &[Account<G>],
    deadline: Option<Instant>,
) -> Result<Summary> {
    let started = Instant::now();
    let budget = Budget::new(deadline, config.deadline_margin);
    let retries = || accounts.iter().map(|a| a.ec2.retries()).sum::<u64>();
    let retries_before = retries();
    let (selection, late) = fetch_verified(config, trigger, source, budget).await?;
    log_selection(&selection);

    let limit = Limit::new(config.max_concurrency);
    let found = join_all(accounts.iter().map(|a| discover(config, a, budget, &limit))).await;
    check_selection(config, &selection, found.iter().map(|d| d.sets.len()).sum())?;
    let shared = Shared {
        config,
        selection: &selection,
        budget,
        limit: &limit,
    };
    let outcomes = join_all(accounts.iter().zip(found).map(|(a, d)| sync_account(&shared, a, d))).await;
    let mut summary = Summary {
        sync_token: selection.sync_token,
        create_date: selection.create_date.clone(),
        service: config.service_names(),
        ip_versions: config.version_names(),
        trigger: match trigger {
            Trigger::Notification(_) => "notification",
            Trigger::Scheduled => "schedule",
        },
        late_notification: late,
        dry_run: config.dry_run,
        ..Summary::default()
    };
    for outcome in outcomes {
        summary.sets.extend(outcome.reports);
        summary.skipped_groups.extend(outcome.skipped_groups);
        summary.failed_regions.extend(outcome.failed_regions);
        summary.attachment_unchecked.extend(outcome.unchecked);
    }
    summary.replans = summary.sets.iter().map(|r| r.replans).sum();
    summary.ec2_retries = retries() - retries_before;
    summary.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    Ok(summary)
}

/// What every account of a run shares.
struct Shared<'a> {
    config: &'a Config,
    selection: &'a Selection,
    budget: Budget,
    limit: &'a Limit,
}

/// What one account's part of the run gave.
struct AccountOutcome {
    reports: Vec<SetReport>,
    skipped_groups: Vec<SkippedGroup>,
    failed_regions: Vec<FailedRegion>,
    unchecked: Vec<FailedRegion>,
}

/// Sync the sets found in one account with its own ports, and check their attachment.
async fn sync_account<G: SecurityGroups + NetworkInterfaces>(
    shared: &Shared<'_>,
    account: &Account<G>,
    found: Discovered,
) -> AccountOutcome {
    let Discovered {
        sets,
        skipped_groups,
        failed_regions,
        prefix_lists,
    } = found;
    let context = SetContext {
        config: shared.config,
        selection: shared.selection,
        description_service: shared.config.service_names(),
        prefix_lists: &prefix_lists,
        budget: shared.budget,
        limit: shared.limit,
        ec2: &account.ec2,
    };
    let (reports, unchecked) = sync_and_check(&context, account.id.as_deref(), sets).await;
    let failed_regions = failed_regions
        .into_iter()
        .map(|(region, e)| FailedRegion {
            account: account.id.clone(),
            region,
            error: e.to_string(),
        })
        .collect();
    AccountOutcome {
        reports,
        skipped_groups,
        failed_regions,
        unchecked,
    }
}

/// Sync every set and, beside it, look up the sets attached only in part: the reports carry what was found, and
/// the regions whose interfaces could not be read come back apart.
async fn sync_and_check<G: SecurityGroups + NetworkInterfaces>(
    context: &SetContext<'_, G>,
    account: Option<&str>,
    sets: Vec<FoundSet>,
) -> (Vec<SetReport>, Vec<FailedRegion>) {
    let to_check = set_groups(&sets);
    let (mut reports, Attachment { mut partly, unchecked }) = futures::join!(
        sync_sets(context, sets),
        check_attachment(context.ec2, account, to_check, context.budget, context.limit)
    );
    for report in &mut reports {
        report.partly_attached = partly.remove(&report.key).unwrap_or_default();
    }
    (reports, unchecked)
}

/// Sync every set, each a unit of the run's [`Limit`]. The reports come back in key order.
async fn sync_sets<G: SecurityGroups>(context: &SetContext<'_, G>, sets: Vec<FoundSet>) -> Vec<SetReport> {
    let mut reports = join_all(sets.into_iter().map(|set| async move {
        let _unit = context.limit.acquire().await;
        sync_set(context, set).await
    }))
    .await;
    reports.sort_by(|a, b| a.key.cmp(&b.key));
    reports
}

/// What every set of an account shares.
struct SetContext<'a, G> {
    config: &'a Config,
    selection: &'a Selection,
    description_service: String,
    prefix_lists: &'a BTreeMap<String, std::result::Result<PrefixListWeights, String>>,
    budget: Budget,
    limit: &'a Limit,
    ec2: &'a G,
}

impl<G> SetContext<'_, G> {
    /// The weights of the prefix lists of the set's region (empty when the set references none).
    fn weights(&self, set: &FoundSet) -> std::result::Result<PrefixListWeights, String> {
        let references = set
            .groups
            .iter()
            .flat_map(|g| &g.rules)
            .any(|r| matches!(r.source, RuleSource::PrefixList(_)));
        match self.prefix_lists.get(&set.key.region) {
            Some(Err(e)) if references => Err(e.clone()),
            Some(Ok(weights)) => Ok(weights.clone()),
            _ => Ok(PrefixListWeights::new()),
        }
    }
}

/// A report for `set` with nothing done yet.
fn new_report(set: &FoundSet) -> SetReport {
    let mut groups: Vec<String> = set.groups.iter().map(|g| g.id.clone()).collect();
    groups.sort();
    SetReport::new(set.key.clone(), groups, set.applied.as_ref().map(|m| m.sync_token))
}

/// Check, plan and (unless a dry run) apply one set, then record the file applied. Never fails as a whole: the
/// report carries the error.
async fn sync_set<G: SecurityGroups>(context: &SetContext<'_, G>, set: FoundSet) -> SetReport {
    let mut report = new_report(&set);
    if let Some(applied) = set
        .applied
        .as_ref()
        .filter(|m| m.sync_token > context.selection.sync_token)
    {
        tracing::warn!(
            set = %set.key,
            applied_sync_token = applied.sync_token,
            file_sync_token = context.selection.sync_token,
            "the set holds a newer file than this one; leaving it as it is"
        );
        report.status = SetStatus::OlderFile;
        return report;
    }
    match converge(context, &set, &mut report).await {
        Ok(status) => report.status = status,
        Err(e) => {
            tracing::error!(set = %set.key, added = report.added, removed = report.removed, error = %e, "set not synced");
            report.error = Some(e.to_string());
        }
    }
    report
}

/// The EC2 answers that mean a group is not as planned: another writer (a second run, an operator) changed the
/// set between our read and our write. Moto answers the limit error where EC2 answers a duplicate.
const CONFLICTS: [&str; 4] = [
    "RulesPerSecurityGroupLimitExceeded",
    "InvalidPermission.Duplicate",
    "InvalidPermission.NotFound",
    "InvalidGroup.NotFound",
];

fn is_conflict(error: &Error) -> bool {
    matches!(error, Error::Ec2 { code, .. } if CONFLICTS.contains(&code.as_str()))
}

/// Sync the set, and when a write finds it changed by another writer, re-read its groups and re-plan, up to
/// `REPLAN_ATTEMPTS` rounds. Every round plans from what EC2 holds then, so the safety rules hold through each.
async fn converge<G: SecurityGroups>(
    cx: &SetContext<'_, G>,
    set: &FoundSet,
    report: &mut SetReport,
) -> Result<SetStatus> {
    let mut reread: Option<FoundSet> = None;
    loop {
        let current = reread.as_ref().unwrap_or(set);
        let error = match converge_once(cx, current, report).await {
            Err(e) if is_conflict(&e) && report.replans < cx.config.replan_attempts => e,
            other => return other,
        };
        report.replans += 1;
        tracing::warn!(set = %set.key, round = report.replans, cause = %error, "the set changed during the run (another writer?); re-reading and re-planning it");
        let ids: Vec<String> = set.groups.iter().map(|g| g.id.clone()).collect();
        let what = || format!("DescribeSecurityGroups of set {}", set.key);
        let groups = cx
            .budget
            .bound(what, cx.ec2.groups_by_id(&set.key.region, &ids))
            .await?;
        // Every group of the set lost its tags or is gone: nothing left to sync.
        reread = Some(reform(&set.key, groups).ok_or(error)?);
    }
}

/// One round: plan the set and make its writes (none in a dry run), adding to the report's counts; then
/// record the file applied. Returns the set's status, or why it is not synced.
async fn converge_once<G: SecurityGroups>(
    context: &SetContext<'_, G>,
    set: &FoundSet,
    report: &mut SetReport,
) -> Result<SetStatus> {
    let key = &set.key;
    let wanted = context.selection.ranges(key.scope);
    let plan = plan_checked(context, set, wanted)?;
    report.unchanged = plan.unchanged;
    report.room_left = plan.room_left.clone();
    report.near_full = warn_if_near_full(key, &plan);
    report.changes = plan.changes.clone();
    let in_sync = plan.changes.is_empty();
    if context.config.dry_run {
        (report.added, report.removed) = (plan.added, plan.removed);
        tracing::info!(set = %key, added = plan.added, removed = plan.removed, unchanged = plan.unchanged, "dry run: planned");
        return Ok(if in_sync { SetStatus::InSync } else { SetStatus::Planned });
    }
    if !in_sync {
        let description = plan::rule_description(key.scope, &context.description_service);
        let applied = apply(context.ec2, key, &plan, &description, context.budget).await;
        report.added += applied.added;
        report.removed += applied.removed;
        if let Some(e) = applied.error {
            return Err(e);
        }
    }
    let mark = AppliedMark::of(context.selection.sync_token, wanted);
    record_applied(context.ec2, set, &mark, context.budget).await?;
    tracing::info!(set = %key, added = report.added, removed = report.removed, unchanged = plan.unchanged, "set synced");
    let changed = report.added + report.removed > 0 || !in_sync;
    Ok(if changed { SetStatus::Synced } else { SetStatus::InSync })
}

/// The guard and the plan of one set.
fn plan_checked<G>(context: &SetContext<'_, G>, set: &FoundSet, wanted: &BTreeSet<Cidr>) -> Result<SetPlan> {
    plan::check_not_emptied(
        &set.key,
        wanted,
        &context.config.filter.versions,
        &set.groups,
        set.applied.as_ref(),
    )?;
    let weights = context.weights(set).map_err(|reason| Error::PrefixListSizes {
        set: set.key.to_string(),
        reason,
    })?;
    let quota = Quota {
        max_rules: context.config.max_rules_per_group,
        prefix_lists: &weights,
    };
    plan::plan_set(&set.key, wanted, &set.groups, quota)
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

/// Tag the set's groups that do not carry `mark` yet (one call for them all; none when every group does).
async fn record_applied(ec2: &impl SecurityGroups, set: &FoundSet, mark: &AppliedMark, budget: Budget) -> Result<()> {
    let stale: Vec<String> = set
        .marks
        .iter()
        .filter(|(_, m)| m.as_ref() != Some(mark))
        .map(|(group, _)| group.clone())
        .collect();
    if stale.is_empty() {
        return Ok(());
    }
    budget
        .bound(
            || format!("CreateTags on the groups of set {}", set.key),
            ec2.mark_applied(&set.key.region, &stale, mark),
        )
        .await
}
