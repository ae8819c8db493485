//! `remove`: take back everything the function added, for an uninstall: every rule of ours from the tagged
//! sets, every entry of ours from the tagged prefix lists, every address from the tagged WAF IP sets (they are
//! wholly managed), and the record of the file applied on each. Hand-made rules and entries stay. Read-only
//! unless `apply`. What depends on these targets loses CloudFront's ranges: run it last.

use std::collections::BTreeSet;

use crate::config::Config;
use crate::domain::TargetKind;
use crate::domain::security_groups::our_rules;
use crate::error::Result;
use crate::ports::{Account, IpSets, PrefixLists, SecurityGroups, TaggedIpSet, TaggedList};
use crate::report::RemovalReport;

use super::discover::{FoundSet, Reads};
use super::prefix_lists::remove_ours;
use super::target::{Context, Run};
use super::{Offline, account_targets, ip_sets};

/// What every target of `accounts` in the configured regions holds of ours; with `apply`, removed, and the
/// record of the file applied cleared. A region or account that cannot be read fails the command before
/// anything of it is removed.
pub async fn remove<G: SecurityGroups + PrefixLists, W: IpSets>(
    config: &Config,
    accounts: &[Account<G, W>],
    apply: bool,
) -> Result<Vec<RemovalReport>> {
    let offline = Offline::new(config);
    let run = offline.run(config);
    let mut reports = Vec::new();
    for account in accounts {
        let targets = account_targets(&run, account, Reads::All).await?;
        for set in &targets.sets {
            reports.push(remove_from_set(account, set, apply).await);
        }
        for list in targets.lists.iter().flat_map(|(_, lists)| lists) {
            reports.push(remove_from_list(&run, account, list, apply).await);
        }
        for ip_set in targets.ip_sets.iter().flatten() {
            reports.push(remove_from_ip_set(account, ip_set, apply).await);
        }
    }
    Ok(reports)
}

/// Revoke every rule of ours from a set's groups (one call per group), then clear their record.
async fn remove_from_set<G: SecurityGroups, W>(account: &Account<G, W>, set: &FoundSet, apply: bool) -> RemovalReport {
    let region = &set.key.region;
    let held: usize = set
        .groups
        .iter()
        .map(|g| our_rules(g).values().map(BTreeSet::len).sum::<usize>())
        .sum();
    let mut report = RemovalReport::new(
        TargetKind::SecurityGroupSet,
        account.id.as_deref(),
        region,
        set.key.to_string(),
        held,
    );
    if apply {
        let done = async {
            for group in &set.groups {
                let rules = our_rules(group);
                if !rules.is_empty() {
                    report.removed += account.ec2.revoke(region, &group.id, &rules).await?;
                }
            }
            let marked = set.marked_groups();
            match marked.is_empty() {
                true => Ok(()),
                false => SecurityGroups::clear_mark(&account.ec2, region, &marked).await,
            }
        };
        let outcome = done.await;
        report.finish(outcome);
    }
    report
}

/// Remove every entry of ours from a tagged prefix list, then clear its record.
async fn remove_from_list<G: PrefixLists, W>(
    run: &Run<'_>,
    account: &Account<G, W>,
    tagged: &TaggedList,
    apply: bool,
) -> RemovalReport {
    let held = tagged.list.entries.iter().filter(|e| e.ours()).count();
    let (region, id) = (&tagged.region, &tagged.list.id);
    let mut report = RemovalReport::new(TargetKind::PrefixList, account.id.as_deref(), region, id.clone(), held);
    if apply {
        let done = async {
            let cx = Context {
                run,
                port: &account.ec2,
                account: account.id.as_deref(),
            };
            report.removed = remove_ours(&cx, tagged).await?;
            match tagged.mark.is_some() {
                true => PrefixLists::clear_mark(&account.ec2, region, id).await,
                false => Ok(()),
            }
        };
        let outcome = done.await;
        report.finish(outcome);
    }
    report
}

/// Empty a tagged WAF IP set (at its lock token; read again once if another writer moved it), then clear its
/// record.
async fn remove_from_ip_set<G, W: IpSets>(account: &Account<G, W>, tagged: &TaggedIpSet, apply: bool) -> RemovalReport {
    let name = format!("{}/{}", tagged.waf_scope.as_str(), tagged.set.name);
    let held = tagged.set.addresses.len();
    let mut report = RemovalReport::new(TargetKind::WafIpSet, account.id.as_deref(), &tagged.region, name, held);
    if apply {
        let done = empty_ip_set(&account.waf, tagged).await;
        report.removed = if done.is_ok() { held } else { 0 };
        report.finish(done);
    }
    report
}

async fn empty_ip_set<W: IpSets>(waf: &W, tagged: &TaggedIpSet) -> Result<()> {
    let empty = BTreeSet::new();
    if !tagged.set.addresses.is_empty() {
        match waf.update(tagged, &empty).await {
            Err(e) if ip_sets::is_conflict(&e) => {
                if let Some(again) = waf.ip_set(tagged).await? {
                    waf.update(&again, &empty).await?;
                }
            }
            other => other?,
        }
    }
    match tagged.mark.is_some() {
        true => waf.clear_mark(tagged).await,
        false => Ok(()),
    }
}
