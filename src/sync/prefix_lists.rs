//! Customer-managed prefix lists, the second target. Per account and region the tagged lists are read (one
//! describe, one GetManagedPrefixListEntries per list), in the region's unit beside its groups (`discover`),
//! and synced by the one run of a target (`target`). Each list is
//! planned by [`crate::domain::prefix_lists`] and modified at the version it was read at, in as few calls as the API
//! allows, waiting out `modify-in-progress` after each. Another writer's change (a version mismatch) re-reads
//! and re-plans the list, up to `REPLAN_ATTEMPTS`; a list too small fails alone and is left as it was.

use std::collections::BTreeSet;
use std::time::Duration;

use futures::future::join_all;

use super::target::{Context, Target, answered, sync_all};
use crate::deadline::Backoff;
use crate::domain::TargetKind;
use crate::domain::ip_ranges::Selection;
use crate::domain::prefix_lists::{self, ListPlan, modifications};
use crate::domain::security_groups::{AppliedMark, Group, MarkTag, rule_description};
use crate::error::{Error, Result};
use crate::ports::{ListAt, ListState, PrefixLists, TaggedList};
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

/// EC2's answer to a write on a list that was deleted.
const GONE: [&str; 1] = ["InvalidPrefixListID.NotFound"];

fn is_conflict(error: &Error) -> bool {
    matches!(error, Error::ListChanged { .. }) || answered(error, &CONFLICTS)
}

fn is_gone(error: &Error) -> bool {
    answered(error, &GONE)
}

/// A list in this state is being changed: wait until it is not.
fn in_progress(state: &str) -> bool {
    state.ends_with("-in-progress")
}

/// A list being deleted (or deleted) is left alone and not reported.
fn deleting(state: &str) -> bool {
    state.starts_with("delete-")
}

/// The groups of a region whose rules reference one of its tagged lists, or why they could not be read.
type References = std::result::Result<Vec<Group>, String>;

/// One tagged list, and the rules of its region that reference a tagged list.
struct ListUnit<'a> {
    tagged: TaggedList,
    references: &'a References,
}

/// Sync every prefix list of an account found tagged for the sync (per region read), each list a unit of the
/// run's limit. Reports come back by region, in the order read.
pub(super) async fn sync_lists<G: PrefixLists>(
    cx: &Context<'_, G>,
    file: &Selection,
    found: Vec<(String, Vec<TaggedList>)>,
) -> Vec<ListReport> {
    let regions = found.into_iter().map(|(region, lists)| async move {
        let lists: Vec<TaggedList> = lists.into_iter().filter(|l| !deleting(&l.state)).collect();
        let references = &read_references(cx, &region, &lists).await;
        let units = lists.into_iter().map(|tagged| ListUnit { tagged, references });
        sync_all(cx, file, units.collect()).await
    });
    join_all(regions).await.into_iter().flatten().collect()
}

/// The groups of `region` whose rules reference one of `lists` (one paged describe, as a unit of the run's limit;
/// none when there is no list), or why they could not be read: then no list of the region is written.
async fn read_references<G: PrefixLists>(cx: &Context<'_, G>, region: &str, lists: &[TaggedList]) -> References {
    if lists.is_empty() {
        return Ok(Vec::new());
    }
    let ids: BTreeSet<String> = lists.iter().map(|l| l.list.id.clone()).collect();
    let _unit = cx.run.limit.acquire().await;
    let what = || format!("DescribeSecurityGroups in {region} (the rules that reference tagged prefix lists)");
    let read = cx.bound(what, cx.port.groups_referencing(region, &ids)).await;
    read.map_err(|e| format!("cannot read which rules reference the list, so it was left as it was: {e}"))
}

impl<G: PrefixLists> Target<G> for ListUnit<'_> {
    type Report = ListReport;

    fn report(&self, account: Option<&str>) -> ListReport {
        let tagged = &self.tagged;
        let list = &tagged.list;
        let mut report = ListReport::new(
            account.map(str::to_owned),
            &tagged.region,
            &list.id,
            tagged.scope,
            list.family,
        );
        report.max_entries = list.max_entries;
        // As read: a list kept, or failed before it was planned, still shows its room.
        report.room_left = list.max_entries.saturating_sub(list.entries.len());
        report
    }

    /// Refuse a list referenced by rules that open what CloudFront never connects to (see
    /// [`prefix_lists::unsafe_references`]), or whose referencing rules could not be read.
    fn refused(&self, report: &ListReport) -> Option<String> {
        let groups = match self.references {
            Ok(groups) => groups,
            Err(e) => return Some(e.clone()),
        };
        let rules = prefix_lists::unsafe_references(&report.target.id, groups);
        if rules.is_empty() {
            return None;
        }
        let error = Error::ListOpensPorts {
            list: report.name(),
            rules: rules.join(", "),
        };
        tracing::error!(list = %report.name(), error = %error, "prefix list left as it was");
        Some(error.to_string())
    }

    fn holds_newer(&self, file: &Selection, report: &mut ListReport) -> bool {
        let mark = (self.tagged.list.id.as_str(), self.tagged.mark.as_ref());
        let name = report.name();
        super::entry_holds_newer(&mut report.changes, mark, &name, file)
    }

    async fn converge(
        self,
        cx: &Context<'_, G>,
        file: &Selection,
        report: &mut ListReport,
    ) -> Result<(TargetStatus, Self)> {
        let status = converge(cx, file, self.tagged.clone(), report).await?;
        Ok((status, self))
    }

    /// Tag the list with this run's file, unless it carried that mark when read.
    async fn record_applied(&self, cx: &Context<'_, G>, file: &Selection, report: &ListReport) -> Result<()> {
        let tagged = &self.tagged;
        let mark = AppliedMark::of(file.sync_token, file.ranges(tagged.scope));
        if tagged.mark.as_ref().and_then(MarkTag::mark) == Some(&mark) {
            return Ok(());
        }
        let what = || format!("CreateTags on {}", report.name());
        cx.bound(what, cx.port.mark_applied(&tagged.region, &tagged.list.id, &mark))
            .await
    }
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
    cx: &Context<'_, G>,
    file: &Selection,
    mut tagged: TaggedList,
    report: &mut ListReport,
) -> Result<TargetStatus> {
    let name = report.name();
    let attempts = cx.config().replan_attempts;
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
            match round(cx, file, &tagged, report, first, &name).await {
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
    cx: &Context<'_, G>,
    tagged: &TaggedList,
    report: &mut ListReport,
    after_ours: bool,
    name: &str,
) -> Result<Option<i64>> {
    if after_ours {
        if report.changes.replans >= cx.config().replan_attempts {
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
pub(super) async fn remove_ours<G: PrefixLists>(cx: &Context<'_, G>, tagged: &TaggedList) -> Result<usize> {
    let list = &tagged.list;
    let mut report = ListReport::new(
        cx.account.map(str::to_owned),
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
        write(cx, tagged, &plan, &mut report, &name).await?;
    }
    Ok(report.changes.removed)
}

/// The list went away during the run: said, and not a failure.
fn gone(name: &str) -> TargetStatus {
    tracing::warn!(list = %name, "the prefix list was deleted or lost its tags during the run; leaving it");
    TargetStatus::Gone
}

/// The list read again with its entries, once a read shows at least version `at_least` (EC2's reads may lag
/// its writes: an older version is waited out, never planned from); `None` when it is gone or untagged.
async fn read_again<G: PrefixLists>(
    cx: &Context<'_, G>,
    tagged: &TaggedList,
    at_least: i64,
    name: &str,
) -> Result<Option<TaggedList>> {
    let mut backoff = Backoff::new(FIRST_PAUSE, MAX_PAUSE, MAX_WAIT);
    loop {
        let what = || format!("DescribeManagedPrefixLists of {name}");
        let again = cx.bound(what, cx.port.list(&tagged.region, &tagged.list.id)).await?;
        match again {
            Some(list) if list.version < at_least && backoff.pause(cx.run.budget).await => {
                tracing::info!(list = %name, version = list.version, at_least, "the prefix list read does not show our write yet; reading again");
            }
            other => return Ok(other),
        }
    }
}

/// One round: guard, plan and (unless a dry run) write the list as read.
async fn round<G: PrefixLists>(
    cx: &Context<'_, G>,
    file: &Selection,
    tagged: &TaggedList,
    report: &mut ListReport,
    first: bool,
    name: &str,
) -> Result<Round> {
    let config = cx.config();
    let wanted = file.ranges(tagged.scope);
    prefix_lists::check_not_emptied(&tagged.list, &file.versions(), &config.filter.versions)
        .map_err(|held| Error::emptied(TargetKind::PrefixList, name, tagged.list.family, held))?;
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
    cx: &Context<'_, G>,
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
            .bound(what, cx.port.set_max_entries(at(tagged.version), max_entries))
            .await?
            .max(tagged.version);
        return Ok(match settled_after_write(cx, tagged, grown, name).await? {
            Some(version) => Round::Grown(version),
            None => Round::Gone,
        });
    }
    let description = rule_description(tagged.scope, cx.run.services);
    let calls = modifications(plan, tagged.list.entries.len(), tagged.list.max_entries);
    let mut version = tagged.version;
    for (i, call) in calls.iter().enumerate() {
        // Each write makes exactly one new version, whatever the answer says.
        let made = cx
            .bound(what, cx.port.modify(at(version), call, &description))
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
    cx: &Context<'_, G>,
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
    cx: &Context<'_, G>,
    tagged: &TaggedList,
    at_least: i64,
    name: &str,
) -> Result<Option<ListState>> {
    let mut backoff = Backoff::new(FIRST_PAUSE, MAX_PAUSE, MAX_WAIT);
    loop {
        let what = || format!("DescribeManagedPrefixLists of {name}");
        let state = cx.bound(what, cx.port.state(&tagged.region, &tagged.list.id)).await?;
        if state.state.is_empty() {
            return Ok(None);
        }
        let failed = state.state.ends_with("-failed");
        if failed || (!in_progress(&state.state) && state.version >= at_least) {
            return Ok(Some(state));
        }
        let waited_ms = u64::try_from(backoff.waited().as_millis()).unwrap_or(u64::MAX);
        tracing::info!(list = %name, state = %state.state, version = state.version, awaited = at_least, waited_ms, "waiting for the prefix list to settle");
        if !backoff.pause(cx.run.budget).await {
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
