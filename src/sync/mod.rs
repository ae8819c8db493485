//! One run, end to end: fetch and verify the file, find the sets, check and plan each, apply, summarize.
//!
//! The handler and the CLI both call [`run`]. It is the one place that wires the [ports](crate::ports) it is
//! given to the pure core ([`crate::domain::security_groups`]): everything it decides is decided there.
//!
//! - [`fetch`](fetch_verified): download, MD5, the late and the lagging file.
//! - `discover`: every region read once, in one unit, for every kind of target (groups, prefix lists, WAF IP
//!   sets); the groups formed into sets, and the prefix lists they reference weighed.
//! - `target`: the one run of a target, whatever its kind (a unit of the limit, the mark judged, converge, the
//!   file recorded, the error in the report), and the context every target of an account shares.
//! - `security_groups`: the first kind: each set planned, written (by `apply`, in safe order, within the
//!   deadline), read back and re-planned until exact.
//! - `prefix_lists`: customer-managed prefix lists, the second kind.
//! - `ip_sets`: WAF IP sets, the third kind.
//! - [`run_accounts`]: the accounts of `ACCOUNTS` (OUs, roots, the organization read at the start of every
//!   run), each with its ports.
//! - `attachment`: which network interfaces carry only some of a set's groups (beside the sync, read-only).
//! - [`adopt`]: hand rules left by AWS's Python sample over to the sync.
//! - [`remove`]: take back every rule, entry and address of ours, for an uninstall.
//! - [`unmark`]: clear the record of the file applied from every target (a file from the future, applied
//!   before such files were refused).
//! - [`rotate`]: one step of the rotation of the origin secret (the second function's, and the CLI's
//!   `rotate-origin-secret`).
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
mod rotation;
#[cfg(test)]
mod rotation_tests;
mod security_groups;
mod target;
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
use crate::ports::{Account, IpSets, NetworkInterfaces, PrefixLists, RangesSource, SecurityGroups};
use crate::report::{EntryChanges, FailedRegion, IpSetReport, ListReport, SetReport, SkippedGroup, Summary};

pub use adopt::adopt;
pub use audit::{audit, audit_accounts};
pub use fetch::fetch_verified;
pub use notification::{notify, outcome, stopped};
pub use organization::{RunAccounts, members, run_accounts};
pub use remove::remove;
pub use rotation::{RotationPlan, RotationPorts, RotationRequest, StepReport, plan_rotation, rotate, rotate_now};
pub use unmark::unmark;

use attachment::{Attachment, check_attachment, set_groups};
use discover::{Discovered, FoundSet, Reads, Weights, discover};
use ip_sets::sync_ip_sets;
use prefix_lists::sync_lists;
use security_groups::sync_sets;
use target::{Context, Run};

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

    /// Wait for a unit's turn; the unit runs while the permit is held. (The semaphore is never closed, so every
    /// wait ends with a permit; a closed one would admit no unit.)
    pub(super) async fn acquire(&self) -> SemaphorePermit<'_> {
        match self.0.acquire().await {
            Ok(permit) => permit,
            Err(_) => std::future::pending().await,
        }
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
    let run = Run {
        config,
        services: &services,
        budget,
        limit: &limit,
    };
    let found = join_all(accounts.iter().map(|a| discover(&run, a, Reads::All))).await;
    check_selection(config, &selection, found.iter().map(|d| d.sets.len()).sum())?;
    let outcomes = join_all(
        accounts
            .iter()
            .zip(found)
            .map(|(a, d)| sync_account(&run, &selection, a, d)),
    )
    .await;
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
    outcomes.into_iter().for_each(|o| o.add_to(&mut summary));
    summary.not_synced.sort();
    summary.replans = summary.sets.iter().map(|r| r.replans).sum::<usize>()
        + summary.entry_changes().map(|c| c.replans).sum::<usize>();
    summary.api_retries = retries() - retries_before;
    summary.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    Ok(summary)
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

impl AccountOutcome {
    /// Add the account's reports to the run's.
    fn add_to(self, summary: &mut Summary) {
        summary.sets.extend(self.reports);
        summary.prefix_lists.extend(self.lists);
        summary.ip_sets.extend(self.ip_sets);
        summary.skipped_groups.extend(self.skipped_groups);
        summary.failed_regions.extend(self.failed_regions);
        summary.attachment_unchecked.extend(self.unchecked);
        summary.not_synced.extend(self.not_synced);
    }
}

/// The shared pieces of a command that reads and changes the targets but applies no file (`unmark`, `remove`,
/// `adopt`): no deadline, the run's bound on concurrent work.
struct Offline {
    services: String,
    limit: Limit,
}

impl Offline {
    fn new(config: &Config) -> Offline {
        Offline {
            services: config.service_names(),
            limit: Limit::new(config.max_concurrency),
        }
    }

    fn run<'a>(&'a self, config: &'a Config) -> Run<'a> {
        Run {
            config,
            services: &self.services,
            budget: Budget::unbounded(),
            limit: &self.limit,
        }
    }
}

/// Every target of `account` in the configured regions, read as a run reads them. The first read that fails
/// fails it: `unmark` and `remove` act on a whole account or on none of it.
async fn account_targets<G: SecurityGroups + PrefixLists, W: IpSets>(
    run: &Run<'_>,
    account: &Account<G, W>,
    reads: Reads,
) -> Result<Discovered> {
    let mut found = discover(run, account, reads).await;
    match found.first_failure() {
        Some(e) => Err(e),
        None => Ok(found),
    }
}

/// Sync the targets found in one account with its own ports, and check the sets' attachment (nothing when its
/// credentials could not be had: the account already failed, named, once).
async fn sync_account<G: SecurityGroups + NetworkInterfaces + PrefixLists, W: IpSets>(
    run: &Run<'_>,
    file: &Selection,
    account: &Account<G, W>,
    mut found: Discovered,
) -> AccountOutcome {
    let id = account.id.as_deref();
    let ec2 = Context {
        run,
        port: &account.ec2,
        account: id,
    };
    let waf = Context {
        run,
        port: &account.waf,
        account: id,
    };
    let failed_regions = found.failed_regions(id);
    let sets = sync_and_check(&ec2, file, std::mem::take(&mut found.sets), &found.weights);
    let lists = sync_lists(&ec2, file, std::mem::take(&mut found.lists));
    let ip_sets = sync_ip_sets(&waf, file, std::mem::take(&mut found.ip_sets));
    let ((reports, unchecked), lists, ip_sets) = futures::join!(sets, lists, ip_sets);
    AccountOutcome {
        not_synced: found.not_synced,
        reports,
        lists,
        ip_sets,
        skipped_groups: found.skipped_groups,
        failed_regions,
        unchecked,
    }
}

/// Sync every set and, beside it, look up the sets attached only in part: the reports carry what was found, and
/// the regions whose interfaces could not be read come back apart.
async fn sync_and_check<G: SecurityGroups + NetworkInterfaces>(
    cx: &Context<'_, G>,
    file: &Selection,
    sets: Vec<FoundSet>,
    weights: &BTreeMap<String, Weights>,
) -> (Vec<SetReport>, Vec<FailedRegion>) {
    let to_check = set_groups(&sets);
    let (mut reports, Attachment { mut partly, unchecked }) = futures::join!(
        sync_sets(cx, file, sets, weights),
        check_attachment(cx.port, cx.account, to_check, cx.run.budget, cx.run.limit)
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
