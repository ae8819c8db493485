//! Customer-managed prefix lists, the second target. Per account and region the tagged lists are read (one
//! describe, one GetManagedPrefixListEntries per list), in the region's unit beside its groups. Each list is
//! planned by [`crate::domain::prefix_lists`] and modified at the version it was read at, in as few calls as the API
//! allows, waiting out `modify-in-progress` after each. Another writer's change (a version mismatch) re-reads
//! and re-plans the list, up to `REPLAN_ATTEMPTS`; a list too small fails alone and is left as it was.

use std::collections::BTreeSet;
use std::time::Duration;

use futures::future::join_all;

use super::{ByRegion, Shared, unreadable};
use crate::deadline::Backoff;
use crate::domain::cidr::Cidr;
use crate::domain::ip_ranges::Scope;
use crate::domain::prefix_lists::{self, ListPlan, modifications};
use crate::domain::security_groups::{AppliedMark, Group, MarkTag, rule_description};
use crate::error::{Error, Result};
use crate::ports::{Account, Found, ListAt, ListState, PrefixLists, TaggedList};
use crate::report::{ListReport, TargetStatus};

/// The first pause while a list is being modified; each next one doubles, up to [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(500);
/// The longest pause between two looks at a list being modified.
const MAX_PAUSE: Duration = Duration::from_secs(5);
/// The longest wait for one list to settle when the run has no deadline (the CLI).
const MAX_WAIT: Duration = Duration::from_secs(300);

/// The EC2 answers that mean another writer got to the list first: its version moved on, or it is being
/// modified right now.
const CONFLICTS: [&str; 3] = [
    "PrefixListVersionMismatch",
    "IncorrectState",
    "ConcurrentMutationLimitExceeded",
];

fn is_conflict(error: &Error) -> bool {
    match error {
        Error::Ec2 { code, .. } => CONFLICTS.contains(&code.as_str()),
        Error::ListChanged { .. } => true,
        _ => false,
    }
}

/// A list in this state is being changed: wait until it is not.
fn in_progress(state: &str) -> bool {
    state.ends_with("-in-progress")
}

/// A list being deleted (or deleted) is left alone and not reported.
fn deleting(state: &str) -> bool {
    state.starts_with("delete-")
}

/// What every list of an account shares.
struct ListContext<'a, G> {
    shared: &'a Shared<'a>,
    ec2: &'a G,
    account: Option<&'a str>,
}

impl<G> ListContext<'_, G> {
    /// Run `call` within the run's deadline.
    async fn bound<T>(&self, what: impl FnOnce() -> String, call: impl Future<Output = Result<T>>) -> Result<T> {
        self.shared.budget.bound(what, call).await
    }

    fn wanted(&self, tagged: &TaggedList) -> &BTreeSet<Cidr> {
        self.wanted_of(tagged.scope)
    }

    fn wanted_of(&self, scope: Scope) -> &BTreeSet<Cidr> {
        self.shared.selection.ranges(scope)
    }
}

/// One region's read of tagged prefix lists: the region, and what it found or why it failed.
pub(super) type ListsRead = (String, Result<Found<TaggedList>>);

/// The tagged prefix lists of `region` (one DescribeManagedPrefixLists, every page, and their entries), within
/// the deadline: read in the region's unit, beside its groups.
pub(super) async fn read_lists(shared: &Shared<'_>, ec2: &impl PrefixLists, region: &str) -> ListsRead {
    let what = || format!("DescribeManagedPrefixLists in {region}");
    let read = shared.budget.bound(what, ec2.tagged_lists(region)).await;
    (region.to_owned(), read)
}

/// Sync every prefix list of `account` that `reads` (per region, as [`read_lists`] gave them) found tagged for
/// the sync, each list a unit of the run's limit. Reports come back by region and id.
pub(super) async fn sync_lists<G: PrefixLists, W>(
    shared: &Shared<'_>,
    account: &Account<G, W>,
    reads: Vec<ListsRead>,
) -> ByRegion<ListReport> {
    let cx = ListContext {
        shared,
        ec2: &account.ec2,
        account: account.id.as_deref(),
    };
    let cx = &cx;
    let regions = reads.into_iter().map(|(region, read)| async move {
        match read {
            Ok(Found { tagged, not_synced }) => {
                let label = cx.account.unwrap_or("own");
                tracing::info!(
                    account = label,
                    region,
                    lists = tagged.len(),
                    not_synced = not_synced.len(),
                    "found tagged prefix lists"
                );
                let lists: Vec<TaggedList> = tagged.into_iter().filter(|l| !deleting(&l.state)).collect();
                let references = &read_references(cx, &region, &lists).await;
                let reports = join_all(lists.into_iter().map(|l| sync_list(cx, l, references))).await;
                Ok((reports, not_synced))
            }
            Err(e) => Err(unreadable(cx.account, &region, "prefix lists", &e)),
        }
    });
    join_all(regions).await.into_iter().collect()
}

/// The groups of `region` whose rules reference one of `lists` (one paged describe, as a unit of the run's limit;
/// none when there is no list), or why they could not be read: then no list of the region is written.
async fn read_references<G: PrefixLists>(
    cx: &ListContext<'_, G>,
    region: &str,
    lists: &[TaggedList],
) -> std::result::Result<Vec<Group>, String> {
    if lists.is_empty() {
        return Ok(Vec::new());
    }
    let ids: BTreeSet<String> = lists.iter().map(|l| l.list.id.clone()).collect();
    let _unit = cx.shared.limit.acquire().await;
    let what = || format!("DescribeSecurityGroups in {region} (the rules that reference tagged prefix lists)");
    let read = cx.bound(what, cx.ec2.groups_referencing(region, &ids)).await;
    read.map_err(|e| format!("cannot read which rules reference the list, so it was left as it was: {e}"))
}

/// Refuse a list referenced by rules that open what CloudFront never connects to (see
/// [`prefix_lists::unsafe_references`]), or whose referencing rules could not be read.
fn check_references(
    report: &ListReport,
    references: &std::result::Result<Vec<Group>, String>,
) -> std::result::Result<(), String> {
    let groups = references.as_ref().map_err(Clone::clone)?;
    let rules = prefix_lists::unsafe_references(&report.target.id, groups);
    if rules.is_empty() {
        return Ok(());
    }
    let error = Error::ListOpensPorts {
        list: report.name(),
        rules: rules.join(", "),
    };
    tracing::error!(list = %report.name(), error = %error, "prefix list left as it was");
    Err(error.to_string())
}

/// Check, plan and (unless a dry run) modify one list, as a unit of the run's limit, then record the file
/// applied on it. A list that holds a newer file, or that rules opening what CloudFront never uses reference, is
/// left as it is. Never fails as a whole: the report carries the error.
async fn sync_list<G: PrefixLists>(
    cx: &ListContext<'_, G>,
    tagged: TaggedList,
    references: &std::result::Result<Vec<Group>, String>,
) -> ListReport {
    let _unit = cx.shared.limit.acquire().await;
    let mut report = ListReport::new(
        cx.account.map(str::to_owned),
        &tagged.region,
        &tagged.list.id,
        tagged.scope,
        tagged.list.family,
    );
    report.max_entries = tagged.list.max_entries;
    // As read: a list kept, or failed before it was planned, still shows its room.
    report.room_left = tagged.list.max_entries.saturating_sub(tagged.list.entries.len());
    if let Err(error) = check_references(&report, references) {
        report.changes.error = Some(error);
        return report;
    }
    let name = report.name();
    let mark = (tagged.list.id.as_str(), tagged.mark.as_ref());
    if super::entry_holds_newer(&mut report.changes, mark, &name, cx.shared.selection) {
        report.changes.status = TargetStatus::OlderFile;
        return report;
    }
    let (region, id, before) = (tagged.region.clone(), tagged.list.id.clone(), tagged.mark.clone());
    let synced = match converge(cx, tagged, &mut report).await {
        Ok(status @ (TargetStatus::Synced | TargetStatus::InSync)) if !cx.shared.config.dry_run => {
            let mark = AppliedMark::of(cx.shared.selection.sync_token, cx.wanted_of(report.target.scope));
            let what = || format!("CreateTags on {}", report.name());
            let record = cx.ec2.mark_applied(&region, &id, &mark);
            match before.as_ref().and_then(MarkTag::mark) == Some(&mark) {
                true => Ok(status),
                false => cx.bound(what, record).await.map(|()| status),
            }
        }
        other => other,
    };
    match synced {
        Ok(status) => report.changes.status = status,
        Err(e) => {
            tracing::error!(list = %report.name(), added = report.changes.added, removed = report.changes.removed, error = %e, "prefix list not synced");
            report.changes.error = Some(e.to_string());
        }
    }
    report
}

/// How a round of [`converge`] ended.
enum Round {
    /// The list needs nothing.
    Settled,
    /// A dry run planned changes.
    Planned,
    /// The list was grown to this version: read it again and plan its entries at the new size.
    Grown(i64),
    /// Every planned entry was written.
    Written,
    /// The list was deleted under us.
    Gone,
}

/// Bring the list to the file: wait it out while another change is applied, plan, write; re-read and re-plan
/// after another writer's change, up to `REPLAN_ATTEMPTS`. A list deleted during the run is `Gone`.
async fn converge<G: PrefixLists>(
    cx: &ListContext<'_, G>,
    mut tagged: TaggedList,
    report: &mut ListReport,
) -> Result<TargetStatus> {
    let name = report.name();
    let attempts = cx.shared.config.replan_attempts;
    let mut first = true;
    let mut grown = false;
    loop {
        // The version the next read must show at least: ours after a write; a read showing less lags it.
        let mut at_least = tagged.version;
        if in_progress(&tagged.state) {
            match wait_out(cx, &tagged, report, !first, &name).await? {
                Some(version) => at_least = version,
                None => return Ok(gone(&name)),
            }
        } else {
            if grown && tagged.list.max_entries < report.grew_to.unwrap_or_default() {
                check_regrow(&tagged, report, attempts)?;
            }
            match round(cx, &tagged, report, first, &name).await {
                Ok(Round::Settled | Round::Written) => break,
                Ok(Round::Planned) => return Ok(TargetStatus::Planned),
                Ok(Round::Gone) => return Ok(gone(&name)),
                Ok(Round::Grown(version)) => (grown, at_least) = (true, version),
                // Gone, or (a read that lags its creation) not found yet: read again, within the bound.
                Err(e) if (is_gone(&e) || is_conflict(&e)) && report.changes.replans < attempts => {
                    report.changes.replans += 1;
                    tracing::warn!(list = %name, round = report.changes.replans, cause = %e, "the prefix list changed during the run (another writer?); re-reading and re-planning it");
                }
                Err(e) => return Err(e),
            }
            first = false;
        }
        match read_again(cx, &tagged, at_least, &name).await? {
            Some(again) => tagged = again,
            None => return Ok(gone(&name)),
        }
    }
    let changed = report.changes.changed() || report.grew_to.is_some();
    tracing::info!(list = %name, added = report.changes.added, removed = report.changes.removed, unchanged = report.changes.unchanged, replans = report.changes.replans, "prefix list synced");
    Ok(if changed {
        TargetStatus::Synced
    } else {
        TargetStatus::InSync
    })
}

/// Wait out a list found being changed: its version once settled; `None` when it is gone. Found so after a
/// round of ours (`after_ours`), it is another writer's change, counted as a re-plan: with none left, the list
/// fails as busy.
async fn wait_out<G: PrefixLists>(
    cx: &ListContext<'_, G>,
    tagged: &TaggedList,
    report: &mut ListReport,
    after_ours: bool,
    name: &str,
) -> Result<Option<i64>> {
    if after_ours {
        if report.changes.replans >= cx.shared.config.replan_attempts {
            return Err(Error::ListBusy {
                list: name.to_owned(),
                state: tagged.state.clone(),
                version: tagged.version,
                awaited: tagged.version,
                waited: Duration::ZERO,
            });
        }
        report.changes.replans += 1;
    }
    tracing::info!(list = %name, state = %tagged.state, "the prefix list is being changed; waiting");
    Ok(wait_settled(cx, tagged, tagged.version, name)
        .await?
        .map(|state| state.version))
}

/// A list grown in this run reads its old size again: EC2 has not applied the resize yet (or another writer
/// shrank it). Each such round is a re-plan, within `REPLAN_ATTEMPTS`, so a resize that never shows cannot
/// loop.
fn check_regrow(tagged: &TaggedList, report: &mut ListReport, attempts: usize) -> Result<()> {
    let (name, grow_to) = (report.name(), report.grew_to.unwrap_or_default());
    if report.changes.replans >= attempts {
        return Err(Error::ListNotGrown {
            list: name,
            max_entries: tagged.list.max_entries,
            grow_to,
            replans: report.changes.replans,
        });
    }
    report.changes.replans += 1;
    tracing::warn!(list = %name, max_entries = tagged.list.max_entries, grow_to, "the prefix list still reads its old size after the resize; reading it again");
    Ok(())
}

/// Remove every entry of ours from `tagged` (`cloudfront-sg-sync remove`; hand-made entries stay), in as few
/// calls as the API allows, each waited out as a sync's. Returns how many were removed.
pub(super) async fn remove_ours<G: PrefixLists>(
    shared: &Shared<'_>,
    ec2: &G,
    account: Option<&str>,
    tagged: &TaggedList,
) -> Result<usize> {
    let cx = ListContext { shared, ec2, account };
    let list = &tagged.list;
    let mut report = ListReport::new(
        account.map(str::to_owned),
        &tagged.region,
        &list.id,
        tagged.scope,
        list.family,
    );
    let plan = ListPlan {
        remove: list.entries.iter().filter(|e| e.ours()).map(|e| e.cidr).collect(),
        ..ListPlan::default()
    };
    if !plan.remove.is_empty() {
        let name = report.name();
        write(&cx, tagged, &plan, &mut report, &name).await?;
    }
    Ok(report.changes.removed)
}

/// EC2's answer to a write on a list that was deleted.
fn is_gone(error: &Error) -> bool {
    matches!(error, Error::Ec2 { code, .. } if code == "InvalidPrefixListID.NotFound")
}

/// The list went away during the run: said, and not a failure.
fn gone(name: &str) -> TargetStatus {
    tracing::warn!(list = %name, "the prefix list was deleted or lost its tags during the run; leaving it");
    TargetStatus::Gone
}

/// The list read again with its entries, once a read shows at least version `at_least` (EC2's reads may lag
/// its writes: an older version is waited out, never planned from); `None` when it is gone or untagged.
async fn read_again<G: PrefixLists>(
    cx: &ListContext<'_, G>,
    tagged: &TaggedList,
    at_least: i64,
    name: &str,
) -> Result<Option<TaggedList>> {
    let mut backoff = Backoff::new(FIRST_PAUSE, MAX_PAUSE, MAX_WAIT);
    loop {
        let what = || format!("DescribeManagedPrefixLists of {name}");
        let again = cx.bound(what, cx.ec2.list(&tagged.region, &tagged.list.id)).await?;
        match again {
            Some(list) if list.version < at_least && backoff.pause(cx.shared.budget).await => {
                tracing::info!(list = %name, version = list.version, at_least, "the prefix list read does not show our write yet; reading again");
            }
            other => return Ok(other),
        }
    }
}

/// One round: guard, plan and (unless a dry run) write the list as read.
async fn round<G: PrefixLists>(
    cx: &ListContext<'_, G>,
    tagged: &TaggedList,
    report: &mut ListReport,
    first: bool,
    name: &str,
) -> Result<Round> {
    let config = cx.shared.config;
    let wanted = cx.wanted(tagged);
    prefix_lists::check_not_emptied(&tagged.list, &cx.shared.selection.versions(), &config.filter.versions).map_err(
        |held| Error::EmptyRanges {
            target: format!("prefix list {name}"),
            version: tagged.list.family.as_str(),
            held,
            previous_token: None,
        },
    )?;
    let plan = prefix_lists::plan_list(&tagged.list, wanted, config.prefix_list_grow).map_err(|small| {
        Error::ListTooSmall {
            list: name.to_owned(),
            needed: small.needed,
            max_entries: small.max_entries,
        }
    })?;
    if first {
        report.changes.unchanged = plan.unchanged;
    }
    report.room_left = plan.room_left;
    if plan.add.is_empty() && plan.remove.is_empty() && plan.grow_to.is_none() {
        return Ok(Round::Settled);
    }
    report.changes.add.extend(&plan.add);
    report.changes.remove.extend(&plan.remove);
    report.grew_to = plan.grow_to.or(report.grew_to);
    if config.dry_run {
        (report.changes.added, report.changes.removed) = (plan.add.len(), plan.remove.len());
        tracing::info!(list = %name, added = plan.add.len(), removed = plan.remove.len(), unchanged = plan.unchanged, grow_to = plan.grow_to, "dry run: planned");
        return Ok(Round::Planned);
    }
    write(cx, tagged, &plan, report, name).await
}

/// Write `plan` to the list: growing it first, in a call of its own (EC2 does not change a list's size and its
/// entries together), or its entries, each call at the version the last one made.
async fn write<G: PrefixLists>(
    cx: &ListContext<'_, G>,
    tagged: &TaggedList,
    plan: &ListPlan,
    report: &mut ListReport,
    name: &str,
) -> Result<Round> {
    let at = |version| ListAt {
        region: &tagged.region,
        id: &tagged.list.id,
        version,
    };
    let what = || format!("ModifyManagedPrefixList of {name}");
    if let Some(max_entries) = plan.grow_to {
        tracing::warn!(
            list = %name,
            max_entries = tagged.list.max_entries,
            grow_to = max_entries,
            "growing the prefix list (PREFIX_LIST_GROW): every security group that references it counts MaxEntries rules against its quota"
        );
        // A resize makes no new version (AWS documents new versions for added and removed entries only): the
        // list is settled once it leaves `modify-in-progress` at the version it had, or the one EC2 answers.
        let grown = cx
            .bound(what, cx.ec2.set_max_entries(at(tagged.version), max_entries))
            .await?
            .max(tagged.version);
        return Ok(match settled_after_write(cx, tagged, grown, name).await? {
            Some(version) => Round::Grown(version),
            None => Round::Gone,
        });
    }
    let description = rule_description(tagged.scope, cx.shared.services);
    let calls = modifications(plan, tagged.list.entries.len(), tagged.list.max_entries);
    let mut version = tagged.version;
    for (i, call) in calls.iter().enumerate() {
        // Each write makes exactly one new version, whatever the answer says.
        let made = cx
            .bound(what, cx.ec2.modify(at(version), call, &description))
            .await?
            .max(version + 1);
        let Some(settled) = settled_after_write(cx, tagged, made, name).await? else {
            return Ok(Round::Gone);
        };
        report.changes.added += call.add.len();
        report.changes.removed += call.remove.len();
        // Entries make exactly one new version: any other means another writer changed the list after our call.
        let expected = version + 1;
        if settled != expected && i + 1 < calls.len() {
            return Err(Error::ListChanged {
                list: name.to_owned(),
                expected,
                found: settled,
            });
        }
        version = settled;
    }
    Ok(Round::Written)
}

/// Wait for the list to leave the state our write put it in and show at least the version it `made`; `Err`
/// if EC2 did not apply the write (with EC2's state message). Returns its version then; `None` when it is gone.
async fn settled_after_write<G: PrefixLists>(
    cx: &ListContext<'_, G>,
    tagged: &TaggedList,
    made: i64,
    name: &str,
) -> Result<Option<i64>> {
    let Some(state) = wait_settled(cx, tagged, made, name).await? else {
        return Ok(None);
    };
    if state.state.ends_with("-failed") {
        return Err(Error::ListFailed {
            list: name.to_owned(),
            state: state.state,
            message: state.message,
        });
    }
    Ok(Some(state.version))
}

/// Look at the list until it is no longer `…-in-progress` and shows at least version `at_least` (a read that
/// lags our write shows an older one: it is never taken as settled), or has `…-failed`; pausing longer each
/// time, within the deadline (or [`MAX_WAIT`] without one). `None` when it is gone.
async fn wait_settled<G: PrefixLists>(
    cx: &ListContext<'_, G>,
    tagged: &TaggedList,
    at_least: i64,
    name: &str,
) -> Result<Option<ListState>> {
    let mut backoff = Backoff::new(FIRST_PAUSE, MAX_PAUSE, MAX_WAIT);
    loop {
        let what = || format!("DescribeManagedPrefixLists of {name}");
        let state = cx.bound(what, cx.ec2.state(&tagged.region, &tagged.list.id)).await?;
        if state.state.is_empty() {
            return Ok(None);
        }
        let failed = state.state.ends_with("-failed");
        if failed || (!in_progress(&state.state) && state.version >= at_least) {
            return Ok(Some(state));
        }
        let waited_ms = u64::try_from(backoff.waited().as_millis()).unwrap_or(u64::MAX);
        tracing::info!(list = %name, state = %state.state, version = state.version, awaited = at_least, waited_ms, "waiting for the prefix list to settle");
        if !backoff.pause(cx.shared.budget).await {
            return Err(Error::ListBusy {
                list: name.to_owned(),
                state: state.state,
                version: state.version,
                awaited: at_least,
                waited: backoff.waited(),
            });
        }
    }
}
