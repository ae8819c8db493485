//! `unmark`: clear the record of the file applied (the tag `cloudfront-sg-sync:synctoken`) from every set,
//! prefix list and WAF IP set of the accounts and regions given. A target that recorded a file no real one
//! reaches (one whose `syncToken` lies in the future, applied before the function refused such files) refuses
//! every real file as older; once cleared, the next run syncs it and records the real file. Read-only unless
//! `apply`.

use crate::config::Config;
use crate::domain::TargetKind;
use crate::domain::security_groups::MarkTag;
use crate::error::Result;
use crate::ports::{Account, IpSets, PrefixLists, SecurityGroups, TaggedIpSet};
use crate::report::MarkReport;

use super::discover::{Discovered, Reads};
use super::{Offline, account_targets};

/// A target that records a file applied, and how to clear it.
enum Marked {
    /// A set's groups that carry a record (region, ids).
    Groups(String, Vec<String>),
    /// A prefix list (region, id).
    List(String, String),
    /// A WAF IP set.
    IpSet(Box<TaggedIpSet>),
}

/// Every target of `accounts` in the configured regions that records a file applied, with that file's
/// `syncToken`; with `apply`, the record is removed from each (one call per set, list or IP set). A region or
/// account that cannot be read fails the command before anything of it is cleared.
pub async fn unmark<G: SecurityGroups + PrefixLists, W: IpSets>(
    config: &Config,
    accounts: &[Account<G, W>],
    apply: bool,
) -> Result<Vec<MarkReport>> {
    let offline = Offline::new(config);
    let run = offline.run(config);
    let mut reports = Vec::new();
    for account in accounts {
        let targets = account_targets(&run, account, Reads::All).await?;
        for (mut report, target) in marked(account.id.as_deref(), targets) {
            if apply {
                let cleared = clear(account, &target).await;
                report.cleared = cleared.is_ok();
                report.error = cleared.err().map(|e| e.to_string());
            }
            reports.push(report);
        }
    }
    Ok(reports)
}

/// The targets of one account (`id`) that record a file applied.
fn marked(id: Option<&str>, targets: Discovered) -> Vec<(MarkReport, Marked)> {
    let mut marked = Vec::new();
    for set in targets.sets {
        let Some(mark) = set.recorded() else { continue };
        let report = MarkReport::new(
            TargetKind::SecurityGroupSet,
            id,
            &set.key.region,
            set.key.to_string(),
            mark,
        );
        marked.push((report, Marked::Groups(set.key.region.clone(), set.marked_groups())));
    }
    for list in targets.lists.into_iter().flat_map(|(_, lists)| lists) {
        let Some(mark) = list.mark.as_ref().and_then(MarkTag::mark) else {
            continue;
        };
        let report = MarkReport::new(TargetKind::PrefixList, id, &list.region, list.list.id.clone(), mark);
        marked.push((report, Marked::List(list.region, list.list.id)));
    }
    for set in targets.ip_sets.into_iter().flatten() {
        let Some(mark) = set.mark.as_ref().and_then(MarkTag::mark) else {
            continue;
        };
        let name = format!("{}/{}", set.waf_scope.as_str(), set.set.name);
        let report = MarkReport::new(TargetKind::WafIpSet, id, &set.region, name, mark);
        marked.push((report, Marked::IpSet(Box::new(set))));
    }
    marked
}

/// Remove the record from one target.
async fn clear<G: SecurityGroups + PrefixLists, W: IpSets>(account: &Account<G, W>, target: &Marked) -> Result<()> {
    match target {
        Marked::Groups(region, groups) => SecurityGroups::clear_mark(&account.ec2, region, groups).await,
        Marked::List(region, id) => PrefixLists::clear_mark(&account.ec2, region, id).await,
        Marked::IpSet(set) => account.waf.clear_mark(set).await,
    }
}
