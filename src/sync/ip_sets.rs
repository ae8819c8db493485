//! AWS WAF IP sets, the third target. Per account, the tagged IP sets of every region of `REGIONS` (scope
//! `REGIONAL`) and, with `WAF_CLOUDFRONT_SCOPE`, of us-east-1 (scope `CLOUDFRONT`, with the first region) are
//! read in the regions' units, beside their groups (`discover`), and synced by the one run of a target
//! (`target`). Each is planned by [`crate::domain::ip_sets`] (wholly managed: it
//! ends holding exactly the wanted CIDRs of its IP version) and rewritten in one UpdateIPSet at the lock token
//! it was read with. Another writer's change (`WAFOptimisticLockException`) re-reads and re-plans the set, up
//! to `REPLAN_ATTEMPTS`; then it fails alone.

use super::target::{Context, Target, answered, sync_all};
use crate::domain::TargetKind;
use crate::domain::ip_ranges::{Scope, Selection};
use crate::domain::ip_sets::{self, IpSetPlan, MAX_ADDRESSES};
use crate::domain::security_groups::{AppliedMark, MarkTag};
use crate::error::{Error, Result};
use crate::ports::{IpSets, TaggedIpSet};
use crate::report::{IpSetReport, TargetStatus};

/// WAF's answer when the lock token is stale: another writer changed the set since it was read.
const CONFLICTS: [&str; 1] = ["WAFOptimisticLockException"];

/// WAF's answer about an IP set that was deleted.
const GONE: [&str; 1] = ["WAFNonexistentItemException"];

pub(super) fn is_conflict(error: &Error) -> bool {
    answered(error, &CONFLICTS)
}

/// Sync every WAF IP set of an account found tagged for the sync (per region and scope read), each a unit of
/// the run's limit. Reports come back by region, scope and name.
pub(super) async fn sync_ip_sets<W: IpSets>(
    cx: &Context<'_, W>,
    file: &Selection,
    found: Vec<Vec<TaggedIpSet>>,
) -> Vec<IpSetReport> {
    let mut reports = sync_all(cx, file, found.into_iter().flatten().collect()).await;
    reports.sort_by_key(|r| (r.target.region.clone(), r.waf_scope, r.name.clone()));
    reports
}

impl<W: IpSets> Target<W> for TaggedIpSet {
    type Report = IpSetReport;

    fn report(&self, account: Option<&str>) -> IpSetReport {
        IpSetReport::new(account.map(str::to_owned), self)
    }

    fn holds_newer(&self, file: &Selection, report: &mut IpSetReport) -> bool {
        let target = format!("{}/{}", self.waf_scope.as_str(), self.set.name);
        let name = report.name();
        super::entry_holds_newer(&mut report.changes, (&target, self.mark.as_ref()), &name, file)
    }

    async fn converge(
        self,
        cx: &Context<'_, W>,
        file: &Selection,
        report: &mut IpSetReport,
    ) -> Result<(TargetStatus, TaggedIpSet)> {
        converge(cx, file, self, report).await
    }

    /// Tag the IP set with this run's file, unless it carries that mark already.
    async fn record_applied(&self, cx: &Context<'_, W>, file: &Selection, report: &IpSetReport) -> Result<()> {
        let mark = AppliedMark::of(file.sync_token, file.ranges(self.scope));
        if self.mark.as_ref().and_then(MarkTag::mark) == Some(&mark) {
            return Ok(());
        }
        let what = || format!("TagResource on {}", report.name());
        cx.bound(what, cx.port.mark_applied(self, &mark)).await
    }
}

/// Bring the IP set to the file: plan, update at the lock token read; after another writer's change, read it
/// again and re-plan, up to `REPLAN_ATTEMPTS`. Returns the status and the set as last read; an IP set deleted
/// during the run is `Gone`.
async fn converge<W: IpSets>(
    cx: &Context<'_, W>,
    file: &Selection,
    mut tagged: TaggedIpSet,
    report: &mut IpSetReport,
) -> Result<(TargetStatus, TaggedIpSet)> {
    let name = report.name();
    let mut first = true;
    loop {
        let plan = plan(cx, file, &tagged, &name)?;
        if first {
            report.changes.unchanged = plan.unchanged;
            first = false;
        }
        if plan.is_empty() {
            break;
        }
        report.changes.add.extend(&plan.add);
        report.changes.remove.extend(&plan.remove);
        if cx.config().dry_run {
            (report.changes.added, report.changes.removed) = (plan.add.len(), plan.remove.len());
            tracing::info!(ip_set = %name, added = plan.add.len(), removed = plan.remove.len(), unchanged = plan.unchanged, "dry run: planned");
            return Ok((TargetStatus::Planned, tagged));
        }
        log_removals(file, &plan, &name);
        let what = || format!("UpdateIPSet of {name}");
        match cx.bound(what, cx.port.update(&tagged, &plan.addresses)).await {
            Ok(()) => {
                report.changes.added += plan.add.len();
                report.changes.removed += plan.remove.len();
                break;
            }
            Err(e) if is_gone(&e) => return Ok((gone(&name), tagged)),
            Err(e) if is_conflict(&e) && report.changes.replans < cx.config().replan_attempts => {
                report.changes.replans += 1;
                tracing::warn!(ip_set = %name, round = report.changes.replans, cause = %e, "the WAF IP set changed during the run (another writer?); re-reading and re-planning it");
                let what = || format!("GetIPSet of {name}");
                match cx.bound(what, cx.port.ip_set(&tagged)).await? {
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
    answered(error, &GONE)
}

/// The IP set went away during the run: said, and not a failure.
fn gone(name: &str) -> TargetStatus {
    tracing::warn!(ip_set = %name, "the WAF IP set was deleted during the run; leaving it");
    TargetStatus::Gone
}

/// The guard, then the plan of the set as read.
fn plan<W>(cx: &Context<'_, W>, file: &Selection, tagged: &TaggedIpSet, name: &str) -> Result<IpSetPlan> {
    let wanted = file.ranges(tagged.scope);
    let versions = &cx.config().filter.versions;
    ip_sets::check_not_emptied(&tagged.set, &file.versions(), versions)
        .map_err(|held| Error::emptied(TargetKind::WafIpSet, name, tagged.set.family, held))?;
    ip_sets::plan_ip_set(&tagged.set, wanted).map_err(|too_many| Error::IpSetTooMany {
        ip_set: name.to_owned(),
        needed: too_many.needed,
        max: MAX_ADDRESSES,
    })
}

/// Say which addresses an update removes that are no CloudFront range at all (someone else's): a tagged IP set
/// is wholly managed.
fn log_removals(file: &Selection, plan: &IpSetPlan, name: &str) {
    let cloudfront = |c| Scope::ALL.iter().any(|s| file.ranges(*s).contains(c));
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
