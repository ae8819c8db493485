//! `remove`: take back everything the function added, for an uninstall: every rule of ours from the tagged
//! sets, every entry of ours from the tagged prefix lists, every address from the tagged WAF IP sets (they are
//! wholly managed), and the record of the file applied on each. Hand-made rules and entries stay. Read-only
//! unless `apply`. What depends on these targets loses CloudFront's ranges: run it last.

use std::collections::BTreeSet;

use crate::config::Config;
use crate::deadline::Budget;
use crate::domain::ip_ranges::Selection;
use crate::domain::security_groups::our_rules;
use crate::error::{Error, Result};
use crate::ports::{Account, IpSets, PrefixLists, SecurityGroups, TaggedIpSet};
use crate::report::RemovalReport;

use super::discover::{FoundSet, discover};
use super::prefix_lists::remove_ours;
use super::{Limit, Shared};

/// What every target of `accounts` in the configured regions holds of ours; with `apply`, removed, and the
/// record of the file applied cleared. A region or account that cannot be read fails the command before
/// anything of it is removed.
pub async fn remove<G: SecurityGroups + PrefixLists, W: IpSets>(
    config: &Config,
    accounts: &[Account<G, W>],
    apply: bool,
) -> Result<Vec<RemovalReport>> {
    let limit = Limit::new(config.max_concurrency);
    let selection = Selection {
        sync_token: 0,
        create_date: None,
        ranges: Default::default(),
    };
    let services = config.service_names();
    let shared = Shared {
        config,
        selection: &selection,
        services: &services,
        budget: Budget::unbounded(),
        limit: &limit,
    };
    let mut reports = Vec::new();
    for account in accounts {
        let mut found = discover(config, account, Budget::unbounded(), &limit, |_| async {}).await;
        if !found.failed_regions.is_empty() {
            return Err(found.failed_regions.swap_remove(0).1);
        }
        for set in &found.sets {
            reports.push(remove_from_set(account, set, apply).await);
        }
        reports.extend(remove_from_lists(&shared, account, apply).await?);
        reports.extend(remove_from_ip_sets(config, account, apply).await?);
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
        "security-group-set",
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
            let marked: Vec<String> = set
                .marks
                .iter()
                .filter(|(_, m)| m.is_some())
                .map(|(g, _)| g.clone())
                .collect();
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

/// Remove every entry of ours from each tagged prefix list, then clear its record.
async fn remove_from_lists<G: PrefixLists, W>(
    shared: &Shared<'_>,
    account: &Account<G, W>,
    apply: bool,
) -> Result<Vec<RemovalReport>> {
    let mut reports = Vec::new();
    for region in &shared.config.regions {
        for tagged in account.ec2.tagged_lists(region).await? {
            let held = tagged.list.entries.iter().filter(|e| e.ours()).count();
            let id = tagged.list.id.clone();
            let mut report = RemovalReport::new("prefix-list", account.id.as_deref(), region, id.clone(), held);
            if apply {
                let done = async {
                    report.removed = remove_ours(shared, &account.ec2, account.id.as_deref(), &tagged).await?;
                    match tagged.mark.is_some() {
                        true => PrefixLists::clear_mark(&account.ec2, region, &id).await,
                        false => Ok(()),
                    }
                };
                let outcome = done.await;
                report.finish(outcome);
            }
            reports.push(report);
        }
    }
    Ok(reports)
}

/// Empty each tagged WAF IP set (at its lock token; read again once if another writer moved it), then clear
/// its record.
async fn remove_from_ip_sets<G, W: IpSets>(
    config: &Config,
    account: &Account<G, W>,
    apply: bool,
) -> Result<Vec<RemovalReport>> {
    let mut reports = Vec::new();
    for (region, waf_scope) in config.ip_set_scopes() {
        for tagged in account.waf.tagged_ip_sets(&region, waf_scope).await? {
            let name = format!("{}/{}", waf_scope.as_str(), tagged.set.name);
            let held = tagged.set.addresses.len();
            let mut report = RemovalReport::new("waf-ip-set", account.id.as_deref(), &region, name, held);
            if apply {
                let done = empty_ip_set(&account.waf, &tagged).await;
                report.removed = if done.is_ok() { held } else { 0 };
                report.finish(done);
            }
            reports.push(report);
        }
    }
    Ok(reports)
}

/// WAF's answer when the lock token is stale.
const LOCK_CONFLICT: &str = "WAFOptimisticLockException";

async fn empty_ip_set<W: IpSets>(waf: &W, tagged: &TaggedIpSet) -> Result<()> {
    let empty = BTreeSet::new();
    if !tagged.set.addresses.is_empty() {
        match waf.update(tagged, &empty).await {
            Err(Error::Waf { code, .. }) if code == LOCK_CONFLICT => {
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
