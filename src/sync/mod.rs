//! One run, end to end: fetch and verify the file, find the sets, check and plan each, apply, summarize.
//!
//! The handler and the CLI both call [`run`]. It is the one place that wires the [ports](crate::ports) it is
//! given to the pure core ([`crate::domain::security_groups`]): everything it decides is decided there.
//!
//! - [`fetch`](fetch_verified): download, MD5, the late and the lagging file.
//! - `discover`: the tagged groups of every region, formed into sets, and the prefix lists they reference.
//! - `apply`: a set's writes in safe order, within the deadline.
//! - [`adopt`]: hand rules left by AWS's Python sample over to the sync.
//! - `attached`: which network interfaces carry only some of a set's groups (beside the sync, read-only).
//! - `lists`: customer-managed prefix lists, the second target (beside the sets).
//! - `ip_sets`: WAF IP sets, the third target (beside the sets and lists).
//! - [`audit`]: the origin audit (read-only): distributions, load balancers and their groups, judged by
//!   [`crate::domain::audit`].

mod adopt;
mod apply;
mod attached;
mod audit;
#[cfg(test)]
mod audit_tests;
mod discover;
mod fetch;
#[cfg(test)]
mod history_tests;
mod ip_sets;
#[cfg(test)]
mod ip_sets_tests;
mod prefix_lists;
#[cfg(test)]
mod prefix_lists_tests;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};

use futures::future::join_all;
use tokio::sync::{Semaphore, SemaphorePermit};
use tokio::time::Instant;

use crate::config::Config;
use crate::deadline::{Backoff, Budget};
use crate::domain::cidr::{Cidr, IpVersion};
use crate::domain::event::Trigger;
use crate::domain::ip_ranges::{Scope, Selection};
use crate::domain::security_groups::{
    self, AppliedMark, PrefixListWeights, Quota, RuleSource, Seen, SetKey, SetPlan, Written,
};
use crate::error::{Error, Result};
use crate::ports::{Account, IpSets, NetworkInterfaces, PrefixLists, RangesSource, SecurityGroups, WafScope};
use crate::report::{FailedRegion, IpSetReport, ListReport, NEAR_FULL, SetReport, SetStatus, SkippedGroup, Summary};

pub use adopt::adopt;
pub use audit::audit;
pub use fetch::fetch_verified;

use apply::apply;
use attached::{Attachment, check_attachment, set_groups};
use discover::{Discovered, FoundSet, discover, reform};
use ip_sets::{IpSetsRead, read_ip_sets, sync_ip_sets};
use prefix_lists::{ListsRead, read_lists, sync_lists};

/// Guard against a format change wiping every rule: a selection with no range at all, while sets exist, stops
/// the run before any write anywhere. (Each set is also guarded per IP version: [`security_groups::check_not_emptied`].)
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
/// a unit is one region's reads of one account, or one target's sync (a set, a prefix list, an IP set), or one
/// region's attachment check. A unit makes its calls one after another, except a region's reads, which go at
/// once (its groups, its prefix lists, its WAF IP sets: other APIs, which EC2 and WAF throttle each on its
/// own).
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
pub async fn run<G: SecurityGroups + NetworkInterfaces + PrefixLists, W: IpSets>(
    config: &Config,
    trigger: &Trigger,
    source: &impl RangesSource,
    accounts: &[Account<G, W>],
    deadline: Option<Instant>,
) -> Result<Summary> {
    let started = Instant::now();
    let budget = Budget::new(deadline, config.deadline_margin);
    let retries = || accounts.iter().map(|a| a.ec2.retries()).sum::<u64>();
    let retries_before = retries();
    let (selection, late) = fetch_verified(config, trigger, source, budget).await?;
    log_selection(&selection);

    let limit = Limit::new(config.max_concurrency);
    let services = config.service_names();
    let shared = Shared {
        config,
        selection: &selection,
        services: &services,
        budget,
        limit: &limit,
    };
    let shared = &shared;
    let found = join_all(accounts.iter().map(|a| {
        let beside = move |region| read_targets(shared, a, region);
        discover(config, a, budget, &limit, beside)
    }))
    .await;
    check_selection(config, &selection, found.iter().map(|d| d.sets.len()).sum())?;
    let outcomes = join_all(accounts.iter().zip(found).map(|(a, d)| sync_account(shared, a, d))).await;
    let mut summary = Summary {
        sync_token: selection.sync_token,
        create_date: selection.create_date.clone(),
        service: services.clone(),
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
        summary.prefix_lists.extend(outcome.lists);
        summary.ip_sets.extend(outcome.ip_sets);
        summary.skipped_groups.extend(outcome.skipped_groups);
        summary.failed_regions.extend(outcome.failed_regions);
        summary.attachment_unchecked.extend(outcome.unchecked);
    }
    summary.replans = summary.sets.iter().map(|r| r.replans).sum::<usize>()
        + summary.entry_changes().map(|c| c.replans).sum::<usize>();
    summary.ec2_retries = retries() - retries_before;
    summary.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    Ok(summary)
}

/// What one account's prefix lists or WAF IP sets gave: the reports of the regions read, and the regions whose
/// read failed.
pub(super) struct ByRegion<R> {
    reports: Vec<R>,
    failed_regions: Vec<FailedRegion>,
}

impl<R> Default for ByRegion<R> {
    fn default() -> Self {
        ByRegion {
            reports: Vec::new(),
            failed_regions: Vec::new(),
        }
    }
}

impl<R> FromIterator<std::result::Result<Vec<R>, FailedRegion>> for ByRegion<R> {
    /// Each region's reports, or its failure, in order.
    fn from_iter<I: IntoIterator<Item = std::result::Result<Vec<R>, FailedRegion>>>(regions: I) -> Self {
        let mut by_region = ByRegion::default();
        for region in regions {
            match region {
                Ok(reports) => by_region.reports.extend(reports),
                Err(failed) => by_region.failed_regions.push(failed),
            }
        }
        by_region
    }
}

/// A region whose `targets` (prefix lists, WAF IP sets) could not be read: logged, and named in the summary.
pub(super) fn unreadable(account: Option<&str>, region: &str, targets: &str, e: &Error) -> FailedRegion {
    tracing::error!(account = account.unwrap_or("own"), region, targets, error = %e, "cannot read a region's targets");
    FailedRegion {
        account: account.map(str::to_owned),
        region: region.to_owned(),
        error: e.to_string(),
    }
}

/// What every account of a run shares.
struct Shared<'a> {
    config: &'a Config,
    selection: &'a Selection,
    /// `SERVICE`, as our rule and entry descriptions name it.
    services: &'a str,
    budget: Budget,
    limit: &'a Limit,
}

/// What one account's part of the run gave.
struct AccountOutcome {
    reports: Vec<SetReport>,
    lists: Vec<ListReport>,
    ip_sets: Vec<IpSetReport>,
    skipped_groups: Vec<SkippedGroup>,
    failed_regions: Vec<FailedRegion>,
    unchecked: Vec<FailedRegion>,
}

/// What a region's unit reads beside its groups: its tagged prefix lists, and its tagged WAF IP sets (scope
/// `REGIONAL`; with the first region, scope `CLOUDFRONT` too, which lives in us-east-1).
struct TargetsRead {
    lists: ListsRead,
    ip_sets: Vec<IpSetsRead>,
}

/// Read the prefix lists and WAF IP sets of `region` at once (one call's time: other APIs than the groups').
async fn read_targets<'a, G: PrefixLists, W: IpSets>(
    shared: &Shared<'a>,
    account: &Account<G, W>,
    region: &'a str,
) -> TargetsRead {
    let first = shared.config.regions.first().is_some_and(|r| r == region);
    let scopes = shared
        .config
        .ip_set_scopes()
        .into_iter()
        .filter(|(r, waf_scope)| match waf_scope {
            WafScope::Regional => r == region,
            WafScope::Cloudfront => first,
        });
    let ip_sets = scopes.map(|(r, waf_scope)| read_ip_sets(shared, &account.waf, r, waf_scope));
    let (lists, ip_sets) = futures::join!(read_lists(shared, &account.ec2, region), join_all(ip_sets));
    TargetsRead { lists, ip_sets }
}

/// Sync the sets found in one account with its own ports, and check their attachment; beside them, sync the
/// prefix lists and WAF IP sets read with its regions (none when its credentials could not be had: the
/// account already failed, named, once).
async fn sync_account<G: SecurityGroups + NetworkInterfaces + PrefixLists, W: IpSets>(
    shared: &Shared<'_>,
    account: &Account<G, W>,
    found: Discovered<TargetsRead>,
) -> AccountOutcome {
    let Discovered {
        sets,
        skipped_groups,
        failed_regions,
        prefix_lists,
        beside,
    } = found;
    let context = SetContext {
        config: shared.config,
        selection: shared.selection,
        description_service: shared.services,
        prefix_lists: &prefix_lists,
        budget: shared.budget,
        limit: shared.limit,
        ec2: &account.ec2,
    };
    let (lists, ip_sets): (Vec<_>, Vec<_>) = beside.into_iter().map(|t| (t.lists, t.ip_sets)).unzip();
    let lists = sync_lists(shared, account, lists);
    let ip_sets = sync_ip_sets(shared, account, ip_sets.into_iter().flatten().collect());
    let ((reports, unchecked), lists, ip_sets) =
        futures::join!(sync_and_check(&context, account.id.as_deref(), sets), lists, ip_sets);
    let mut failed_regions: Vec<FailedRegion> = failed_regions
        .into_iter()
        .map(|(region, e)| FailedRegion {
            account: account.id.clone(),
            region,
            error: e.to_string(),
        })
        .collect();
    failed_regions.extend(lists.failed_regions);
    failed_regions.extend(ip_sets.failed_regions);
    AccountOutcome {
        reports,
        lists: lists.reports,
        ip_sets: ip_sets.reports,
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
    description_service: &'a str,
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

/// Whether a target (`name`: a set, a prefix list, an IP set) holds a newer file than this run's, by the mark it
/// carries: it is then left as it is (never backwards: a late or replayed event, a stale copy of the file, a
/// schedule racing a notification). Logged.
pub(super) fn holds_newer(applied: Option<&AppliedMark>, selection: &Selection, name: &str) -> bool {
    let Some(applied) = applied.filter(|m| m.sync_token > selection.sync_token) else {
        return false;
    };
    tracing::warn!(
        resource = name,
        applied_sync_token = applied.sync_token,
        file_sync_token = selection.sync_token,
        "the target holds a newer file than this one; leaving it as it is"
    );
    true
}

/// Check, plan and (unless a dry run) apply one set, then record the file applied. Never fails as a whole: the
/// report carries the error.
async fn sync_set<G: SecurityGroups>(context: &SetContext<'_, G>, set: FoundSet) -> SetReport {
    let mut report = new_report(&set);
    if holds_newer(set.applied.as_ref(), context.selection, &format!("set {}", set.key)) {
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

/// Sync the set and make sure it ends exact. After a round that wrote, the set is read back and planned again:
/// another writer (a second run, an operator) may have changed it between our read and our writes without any
/// write of ours failing, e.g. by placing a range we also placed in another group. When a write fails because
/// the set changed, it is read back the same way. Our successful writes are facts: a read-back that shows
/// less of them lags (EC2 is eventually consistent) and is read again, with backoff, before anything is
/// planned from it. A read-back that still needs writes is a re-plan, up to `REPLAN_ATTEMPTS`. Groups deleted
/// during the run drop out of the set, which syncs with the groups left. Every round plans from what EC2 holds
/// then, so the safety rules hold through each.
async fn converge<G: SecurityGroups>(
    cx: &SetContext<'_, G>,
    set: &FoundSet,
    report: &mut SetReport,
) -> Result<SetStatus> {
    let mut current = set.clone();
    let mut wrote = false;
    let mut read_back = ReadBack::No;
    loop {
        let mut written = Written::default();
        match sync_round(cx, &current, report, read_back, &mut written).await {
            Ok(Round::Settled) if cx.config.dry_run => return Ok(SetStatus::InSync),
            Ok(Round::Settled) => break,
            Ok(Round::Planned) => return Ok(SetStatus::Planned),
            Ok(Round::Wrote) => {
                wrote = true;
                read_back = ReadBack::AfterWrites;
            }
            Err(e) if is_conflict(&e) && report.replans < cx.config.replan_attempts => {
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
            return Ok(SetStatus::Gone);
        };
        current = found;
    }
    let mark = AppliedMark::of(cx.selection.sync_token, cx.selection.ranges(set.key.scope));
    record_applied(cx.ec2, &current, &mark, cx.budget).await?;
    tracing::info!(set = %set.key, added = report.added, removed = report.removed, unchanged = report.unchanged, replans = report.replans, "set synced");
    let changed = wrote || report.added + report.removed > 0;
    Ok(if changed { SetStatus::Synced } else { SetStatus::InSync })
}

/// The first pause before a set is read back again when its read lags our writes; then 1 s, then 2 s.
const LAG_FIRST_PAUSE: std::time::Duration = std::time::Duration::from_millis(500);
/// The longest pause between two reads of a lagging set.
const LAG_MAX_PAUSE: std::time::Duration = std::time::Duration::from_secs(2);
/// How long a lagging read is waited out (0.5 + 1 + 2 s of pauses, and the reads) before the set is planned
/// from what it shows.
const LAG_MAX_WAIT: std::time::Duration = std::time::Duration::from_secs(4);

/// The set `current` read back (by the `group-id` filter: a deleted group is absent, not an error) after a
/// round that made `written`: read again with backoff while the read lags those writes; `None` when none of
/// its groups is left in it.
async fn read_back_set<G: SecurityGroups>(
    cx: &SetContext<'_, G>,
    current: &FoundSet,
    written: &Written,
) -> Result<Option<FoundSet>> {
    let key = &current.key;
    let ids: Vec<String> = current.groups.iter().map(|g| g.id.clone()).collect();
    let mut backoff = Backoff::new(LAG_FIRST_PAUSE, LAG_MAX_PAUSE, LAG_MAX_WAIT);
    loop {
        let what = || format!("DescribeSecurityGroups of set {key}");
        let groups = cx.budget.bound(what, cx.ec2.groups_by_id(&key.region, &ids)).await?;
        let Some(found) = reform(key, groups) else {
            return Ok(None);
        };
        if security_groups::seen_after(&current.groups, written, &found.groups) != Seen::Lags {
            return Ok(Some(found));
        }
        if !backoff.pause(cx.budget).await {
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
    context: &SetContext<'_, G>,
    set: &FoundSet,
    report: &mut SetReport,
    read_back: ReadBack,
    written: &mut Written,
) -> Result<Round> {
    let key = &set.key;
    let plan = plan_checked(context, set, context.selection.ranges(key.scope))?;
    if read_back != ReadBack::AfterWrites {
        // Read back after our writes, the plan counts what we added as held.
        report.unchanged = plan.unchanged;
    }
    report.room_left = plan.room_left.clone();
    report.near_full = warn_if_near_full(key, &plan);
    if plan.changes.is_empty() {
        return Ok(Round::Settled);
    }
    if read_back == ReadBack::AfterWrites {
        if report.replans >= context.config.replan_attempts {
            return Err(Error::Unsettled {
                set: key.to_string(),
                replans: report.replans,
            });
        }
        report.replans += 1;
        tracing::warn!(set = %key, round = report.replans, added = plan.added, removed = plan.removed, "read back after our writes, the set differs from the file (another writer?); re-planning it");
    }
    report.changes = plan.changes.clone();
    if context.config.dry_run {
        (report.added, report.removed) = (plan.added, plan.removed);
        tracing::info!(set = %key, added = plan.added, removed = plan.removed, unchanged = plan.unchanged, "dry run: planned");
        return Ok(Round::Planned);
    }
    let description = security_groups::rule_description(key.scope, context.description_service);
    let applied = apply(context.ec2, key, &plan, &description, context.budget).await;
    report.added += applied.added;
    report.removed += applied.removed;
    *written = applied.written;
    match applied.error {
        Some(e) => Err(e),
        None => Ok(Round::Wrote),
    }
}

/// The guard and the plan of one set.
fn plan_checked<G>(context: &SetContext<'_, G>, set: &FoundSet, wanted: &BTreeSet<Cidr>) -> Result<SetPlan> {
    security_groups::check_not_emptied(
        &set.key,
        &context.selection.versions(),
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
    security_groups::plan_set(&set.key, wanted, &set.groups, quota)
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
