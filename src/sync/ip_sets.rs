//! AWS WAF IP sets, the third target. Per account, the tagged IP sets of every region of `REGIONS` (scope
//! `REGIONAL`) and, with `WAF_CLOUDFRONT_SCOPE`, of us-east-1 (scope `CLOUDFRONT`, with the first region) are
//! read in the regions' units, beside their groups. Each is planned by [`crate::domain::ip_sets`] (wholly managed: it
//! ends holding exactly the wanted CIDRs of its IP version) and rewritten in one UpdateIPSet at the lock token
//! it was read with. Another writer's change (`WAFOptimisticLockException`) re-reads and re-plans the set, up
//! to `REPLAN_ATTEMPTS`; then it fails alone.

use futures::future::join_all;

use super::{ByRegion, Shared, unreadable};
use crate::domain::ip_ranges::Scope;
use crate::domain::ip_sets::{self, IpSetPlan, MAX_ADDRESSES};
use crate::domain::security_groups::{AppliedMark, MarkTag};
use crate::error::{Error, Result};
use crate::ports::{Account, Found, IpSets, TaggedIpSet, WafScope};
use crate::report::{IpSetReport, TargetStatus};

/// WAF's answer when the lock token is stale: another writer changed the set since it was read.
const LOCK_CONFLICT: &str = "WAFOptimisticLockException";

pub(super) fn is_conflict(error: &Error) -> bool {
    matches!(error, Error::Waf { code, .. } if code == LOCK_CONFLICT)
}

/// One read of tagged WAF IP sets: where (region and scope), and what it found or why it failed.
pub(super) type IpSetsRead = ((String, WafScope), Result<Found<TaggedIpSet>>);

/// The tagged IP sets of `waf_scope` in `region` (ListIPSets, every page, then their tags and addresses),
/// within the deadline: read in a region's unit, beside its groups.
pub(super) async fn read_ip_sets(
    shared: &Shared<'_>,
    waf: &impl IpSets,
    region: String,
    waf_scope: WafScope,
) -> IpSetsRead {
    let what = || format!("ListIPSets {} in {region}", waf_scope.as_str());
    let read = shared.budget.bound(what, waf.tagged_ip_sets(&region, waf_scope)).await;
    ((region, waf_scope), read)
}

/// Sync every WAF IP set of `account` that `reads` (as [`read_ip_sets`] gave them) found tagged for the sync,
/// each set a unit of the run's limit. Reports come back by region, scope and name.
pub(super) async fn sync_ip_sets<G, W: IpSets>(
    shared: &Shared<'_>,
    account: &Account<G, W>,
    reads: Vec<IpSetsRead>,
) -> ByRegion<IpSetReport> {
    let label = account.id.as_deref().unwrap_or("own");
    let regions = reads.into_iter().map(|((region, waf_scope), read)| async move {
        match read {
            Ok(Found { tagged, not_synced }) => {
                tracing::info!(
                    account = label,
                    region,
                    waf_scope = waf_scope.as_str(),
                    ip_sets = tagged.len(),
                    not_synced = not_synced.len(),
                    "found tagged WAF IP sets"
                );
                let reports = join_all(tagged.into_iter().map(|s| sync_ip_set(shared, account, s))).await;
                Ok((reports, not_synced))
            }
            Err(e) => Err(unreadable(account.id.as_deref(), &region, "WAF IP sets", &e)),
        }
    });
    let mut by_region: ByRegion<IpSetReport> = join_all(regions).await.into_iter().collect();
    let key = |r: &IpSetReport| (r.target.region.clone(), r.waf_scope, r.name.clone());
    by_region.reports.sort_by_key(key);
    by_region
}

/// Check, plan and (unless a dry run) update one IP set, as a unit of the run's limit, then record the file
/// applied on it. An IP set that holds a newer file is left as it is. Never fails as a whole: the report
/// carries the error.
async fn sync_ip_set<G, W: IpSets>(shared: &Shared<'_>, account: &Account<G, W>, tagged: TaggedIpSet) -> IpSetReport {
    let _unit = shared.limit.acquire().await;
    let mut report = IpSetReport::new(account.id.clone(), &tagged);
    let name = report.name();
    let target = format!("{}/{}", tagged.waf_scope.as_str(), tagged.set.name);
    if super::entry_holds_newer(
        &mut report.changes,
        (&target, tagged.mark.as_ref()),
        &name,
        shared.selection,
    ) {
        report.changes.status = TargetStatus::OlderFile;
        return report;
    }
    let synced = match converge(shared, &account.waf, tagged, &mut report).await {
        Ok((status @ (TargetStatus::Synced | TargetStatus::InSync), now)) if !shared.config.dry_run => {
            record_applied(shared, &account.waf, &now, &report.name())
                .await
                .map(|()| status)
        }
        other => other.map(|(status, _)| status),
    };
    match synced {
        Ok(status) => report.changes.status = status,
        Err(e) => {
            tracing::error!(ip_set = %report.name(), error = %e, "WAF IP set not synced");
            report.changes.error = Some(e.to_string());
        }
    }
    report
}

/// Tag the IP set with this run's file, unless it carries that mark already.
async fn record_applied<W: IpSets>(shared: &Shared<'_>, waf: &W, tagged: &TaggedIpSet, name: &str) -> Result<()> {
    let mark = AppliedMark::of(shared.selection.sync_token, shared.selection.ranges(tagged.scope));
    if tagged.mark.as_ref().and_then(MarkTag::mark) == Some(&mark) {
        return Ok(());
    }
    let what = || format!("TagResource on {name}");
    shared.budget.bound(what, waf.mark_applied(tagged, &mark)).await
}

/// WAF's answer about an IP set that was deleted.
const GONE: &str = "WAFNonexistentItemException";

/// Bring the IP set to the file: plan, update at the lock token read; after another writer's change, read it
/// again and re-plan, up to `REPLAN_ATTEMPTS`. Returns the status and the set as last read; an IP set deleted
/// during the run is `Gone`.
async fn converge<W: IpSets>(
    shared: &Shared<'_>,
    waf: &W,
    mut tagged: TaggedIpSet,
    report: &mut IpSetReport,
) -> Result<(TargetStatus, TaggedIpSet)> {
    let name = report.name();
    let mut first = true;
    loop {
        let plan = plan(shared, &tagged, &name)?;
        if first {
            report.changes.unchanged = plan.unchanged;
            first = false;
        }
        if plan.is_empty() {
            break;
        }
        report.changes.add.extend(&plan.add);
        report.changes.remove.extend(&plan.remove);
        if shared.config.dry_run {
            (report.changes.added, report.changes.removed) = (plan.add.len(), plan.remove.len());
            tracing::info!(ip_set = %name, added = plan.add.len(), removed = plan.remove.len(), unchanged = plan.unchanged, "dry run: planned");
            return Ok((TargetStatus::Planned, tagged));
        }
        log_removals(shared, &plan, &name);
        let what = || format!("UpdateIPSet of {name}");
        match shared.budget.bound(what, waf.update(&tagged, &plan.addresses)).await {
            Ok(()) => {
                report.changes.added += plan.add.len();
                report.changes.removed += plan.remove.len();
                break;
            }
            Err(e) if is_gone(&e) => return Ok((gone(&name), tagged)),
            Err(e) if is_conflict(&e) && report.changes.replans < shared.config.replan_attempts => {
                report.changes.replans += 1;
                tracing::warn!(ip_set = %name, round = report.changes.replans, cause = %e, "the WAF IP set changed during the run (another writer?); re-reading and re-planning it");
                let what = || format!("GetIPSet of {name}");
                match shared.budget.bound(what, waf.ip_set(&tagged)).await? {
                    Some(again) => tagged = again,
                    None => return Ok((gone(&name), tagged)),
                }
            }
            Err(e) => return Err(e),
        }
    }
    tracing::info!(ip_set = %name, added = report.changes.added, removed = report.changes.removed, unchanged = report.changes.unchanged, replans = report.changes.replans, "WAF IP set synced");
    let status = match report.changes.changed() {
        true => TargetStatus::Synced,
        false => TargetStatus::InSync,
    };
    Ok((status, tagged))
}

fn is_gone(error: &Error) -> bool {
    matches!(error, Error::Waf { code, .. } if code == GONE)
}

/// The IP set went away during the run: said, and not a failure.
fn gone(name: &str) -> TargetStatus {
    tracing::warn!(ip_set = %name, "the WAF IP set was deleted during the run; leaving it");
    TargetStatus::Gone
}

/// The guard, then the plan of the set as read.
fn plan(shared: &Shared<'_>, tagged: &TaggedIpSet, name: &str) -> Result<IpSetPlan> {
    let wanted = shared.selection.ranges(tagged.scope);
    let versions = &shared.config.filter.versions;
    ip_sets::check_not_emptied(&tagged.set, &shared.selection.versions(), versions).map_err(|held| {
        Error::EmptyRanges {
            target: format!("WAF IP set {name}"),
            version: tagged.set.family.as_str(),
            held,
            previous_token: None,
        }
    })?;
    ip_sets::plan_ip_set(&tagged.set, wanted).map_err(|too_many| Error::IpSetTooMany {
        ip_set: name.to_owned(),
        needed: too_many.needed,
        max: MAX_ADDRESSES,
    })
}

/// Say which addresses an update removes that are no CloudFront range at all (someone else's): a tagged IP set
/// is wholly managed.
fn log_removals(shared: &Shared<'_>, plan: &IpSetPlan, name: &str) {
    let cloudfront = |c| Scope::ALL.iter().any(|s| shared.selection.ranges(*s).contains(c));
    let foreign: Vec<String> = plan
        .remove
        .iter()
        .filter(|c| !cloudfront(c))
        .map(ToString::to_string)
        .collect();
    if !foreign.is_empty() {
        tracing::warn!(ip_set = %name, addresses = ?foreign, "removing addresses that are not CloudFront ranges: a WAF IP set tagged for the sync is wholly managed, it holds CloudFront's ranges only");
    }
}
