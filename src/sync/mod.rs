//! One run, end to end: fetch and verify the file, find the sets, check and plan each, apply, summarize.
//!
//! The handler and the CLI both call [`run`]. It is the one place that wires the [ports](crate::ports) it is
//! given to the pure core ([`crate::domain::security_groups`]): everything it decides is decided there.
//!
//! - [`fetch`](fetch_verified): download, MD5, the late and the lagging file.
//! - `discover`: the tagged groups of every region, formed into sets, and the prefix lists they reference.
//! - `security_groups`: each set checked, planned, written (by `apply`, in safe order, within the deadline),
//!   read back and re-planned until exact, then marked with the file applied.
//! - `prefix_lists`: customer-managed prefix lists, the second target (beside the sets).
//! - `ip_sets`: WAF IP sets, the third target (beside the sets and lists).
//! - [`run_accounts`]: the accounts of `ACCOUNTS` (OUs, roots, the organization read at the start of every
//!   run), each with its ports.
//! - `attachment`: which network interfaces carry only some of a set's groups (beside the sync, read-only).
//! - [`adopt`]: hand rules left by AWS's Python sample over to the sync.
//! - [`remove`]: take back every rule, entry and address of ours, for an uninstall.
//! - [`unmark`]: clear the record of the file applied from every target (a file from the future, applied
//!   before such files were refused).
//! - [`audit`]: the origin audit (read-only): distributions, load balancers and their groups, judged by
//!   [`crate::domain::audit`].

mod adopt;
mod apply;
mod attachment;
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
mod notification;
#[cfg(test)]
mod notification_tests;
mod organization;
#[cfg(test)]
mod organization_tests;
mod prefix_lists;
#[cfg(test)]
mod prefix_lists_tests;
mod remove;
mod security_groups;
#[cfg(test)]
mod tests;
mod unmark;

use std::borrow::Borrow;
use std::collections::BTreeMap;

use futures::future::join_all;
use tokio::sync::{Semaphore, SemaphorePermit};
use tokio::time::Instant;

use crate::config::Config;
use crate::deadline::Budget;
use crate::domain::NotSynced;
use crate::domain::cidr::IpVersion;
use crate::domain::event::Trigger;
use crate::domain::ip_ranges::{Scope, Selection};
use crate::domain::security_groups::{AppliedMark, ForgedMark, MarkTag};
use crate::error::{Error, Result};
use crate::ports::{
    Account, IpSets, NetworkInterfaces, PrefixLists, RangesSource, SecurityGroups, TaggedIpSet, TaggedList, WafScope,
};
use crate::report::{EntryChanges, FailedRegion, IpSetReport, ListReport, SetReport, SkippedGroup, Summary};

pub use adopt::adopt;
pub use audit::{audit, audit_accounts};
pub use fetch::fetch_verified;
pub use notification::{notify, outcome, stopped};
pub use organization::{RunAccounts, members, run_accounts};
pub use remove::remove;
pub use unmark::unmark;

use attachment::{Attachment, check_attachment, set_groups};
use discover::{Discovered, FoundSet, discover};
use ip_sets::{IpSetsRead, read_ip_sets, sync_ip_sets};
use prefix_lists::{ListsRead, read_lists, sync_lists};
use security_groups::{SetContext, sync_sets};

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
    accounts: &[impl Borrow<Account<G, W>> + Sync],
    deadline: Option<Instant>,
) -> Result<Summary> {
    let accounts: Vec<&Account<G, W>> = accounts.iter().map(Borrow::borrow).collect();
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
        regions: config.regions.clone(),
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
        summary.not_synced.extend(outcome.not_synced);
    }
    summary.not_synced.sort();
    summary.replans = summary.sets.iter().map(|r| r.replans).sum::<usize>()
        + summary.entry_changes().map(|c| c.replans).sum::<usize>();
    summary.api_retries = retries() - retries_before;
    summary.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    Ok(summary)
}

/// What one account's prefix lists or WAF IP sets gave: the reports of the regions read, and the regions whose
/// read failed.
pub(super) struct ByRegion<R> {
    reports: Vec<R>,
    failed_regions: Vec<FailedRegion>,
    /// The targets of the kind with a `Name` of ours that are not synced.
    not_synced: Vec<NotSynced>,
}

impl<R> Default for ByRegion<R> {
    fn default() -> Self {
        ByRegion {
            reports: Vec::new(),
            failed_regions: Vec::new(),
            not_synced: Vec::new(),
        }
    }
}

/// What one region gave: the reports of its targets and those not synced, or its failure.
pub(super) type RegionOutcome<R> = std::result::Result<(Vec<R>, Vec<NotSynced>), FailedRegion>;

impl<R> FromIterator<RegionOutcome<R>> for ByRegion<R> {
    /// Each region's reports, or its failure, in order.
    fn from_iter<I: IntoIterator<Item = RegionOutcome<R>>>(regions: I) -> Self {
        let mut by_region = ByRegion::default();
        for region in regions {
            match region {
                Ok((reports, not_synced)) => {
                    by_region.reports.extend(reports);
                    by_region.not_synced.extend(not_synced);
                }
                Err(failed) => by_region.failed_regions.push(failed),
            }
        }
        by_region
    }
}

/// A region whose `targets` (prefix lists, WAF IP sets) could not be read: logged, and named in the summary.
pub(super) fn unreadable(account: Option<&str>, region: &str, targets: &str, e: &Error) -> FailedRegion {
    tracing::error!(account = account.unwrap_or("own"), region, targets, error = %e, "cannot read a region's targets");
    FailedRegion::new(account, region, targets, e)
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
    not_synced: Vec<NotSynced>,
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

/// The shared pieces of a command that reads and changes the targets but applies no file (`unmark`, `remove`):
/// no selection, no deadline, the run's bound on concurrent work.
struct Offline {
    selection: Selection,
    services: String,
    limit: Limit,
}

impl Offline {
    fn new(config: &Config) -> Offline {
        Offline {
            selection: Selection {
                sync_token: 0,
                create_date: None,
                ranges: BTreeMap::new(),
            },
            services: config.service_names(),
            limit: Limit::new(config.max_concurrency),
        }
    }

    fn shared<'a>(&'a self, config: &'a Config) -> Shared<'a> {
        Shared {
            config,
            selection: &self.selection,
            services: &self.services,
            budget: Budget::unbounded(),
            limit: &self.limit,
        }
    }
}

/// Every target of one account in the configured regions.
struct AccountTargets {
    sets: Vec<FoundSet>,
    lists: Vec<TaggedList>,
    ip_sets: Vec<TaggedIpSet>,
}

/// Every target of `account`, read as a run reads them (its sets, and beside each region's groups its prefix
/// lists and WAF IP sets). The first region that cannot be read fails it: `unmark` and `remove` act on a whole
/// account or on none of it.
async fn account_targets<G: SecurityGroups + PrefixLists, W: IpSets>(
    shared: &Shared<'_>,
    account: &Account<G, W>,
) -> Result<AccountTargets> {
    let beside = |region| read_targets(shared, account, region);
    let mut found = discover(shared.config, account, shared.budget, shared.limit, beside).await;
    if !found.failed_regions.is_empty() {
        return Err(found.failed_regions.swap_remove(0).1);
    }
    let mut targets = AccountTargets {
        sets: found.sets,
        lists: Vec::new(),
        ip_sets: Vec::new(),
    };
    for read in found.beside {
        targets.lists.extend(read.lists.1?.tagged);
        for (_, ip_sets) in read.ip_sets {
            targets.ip_sets.extend(ip_sets?.tagged);
        }
    }
    Ok(targets)
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
        not_synced,
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
    let groups_failed = (failed_regions.into_iter())
        .map(|(region, e)| FailedRegion::new(account.id.as_deref(), &region, "security groups", &e));
    let failed_regions = FailedRegion::merged(groups_failed.chain(lists.failed_regions).chain(ip_sets.failed_regions));
    let others = lists.not_synced.into_iter().chain(ip_sets.not_synced);
    let not_synced = not_synced
        .into_iter()
        .chain(discover::of_account(account.id.as_deref(), others.collect()));
    AccountOutcome {
        not_synced: not_synced.collect(),
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

/// The clock, in Unix seconds (0 if it is before 1970).
pub(super) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The mark of `target` (a group, a prefix list, an IP set) the run trusts now, and the forged one it does not:
/// see [`crate::domain::security_groups::trusted_mark`].
pub(super) fn judge_mark<'a>(target: &str, tag: Option<&'a MarkTag>) -> (Option<&'a AppliedMark>, Option<ForgedMark>) {
    match crate::domain::security_groups::trusted_mark(target, tag, unix_now()) {
        Ok(trusted) => (trusted, None),
        Err(forged) => (None, Some(forged)),
    }
}

/// Log the forged marks of a target as its report takes them.
pub(super) fn warn_forged<'a>(forged: impl IntoIterator<Item = &'a ForgedMark>) {
    for f in forged {
        tracing::warn!(target = %f.target, value = %f.value, reason = %f.reason, "a mark of the file applied that cannot be true (forged?): counted as absent; the file is applied and the mark replaced");
    }
}

/// Judge the mark of a prefix list or IP set (`target` in its region; `name` in logs) whose report is
/// `changes`: record the trusted mark's token and the forged one there; whether the target holds a newer file
/// (then it is left as it is).
pub(super) fn entry_holds_newer(
    changes: &mut EntryChanges,
    (target, tag): (&str, Option<&MarkTag>),
    name: &str,
    selection: &Selection,
) -> bool {
    let (trusted, forged) = judge_mark(target, tag);
    changes.previous_sync_token = trusted.map(|m| m.sync_token);
    warn_forged(&forged);
    changes.forged_marks.extend(forged);
    holds_newer(trusted, selection, name)
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
