//! `adopt`: hand the rules left by AWS's Python sample over to the sync.

use std::collections::BTreeMap;

use crate::config::Config;
use crate::deadline::Budget;
use crate::domain::event::Trigger;
use crate::domain::ip_ranges::Selection;
use crate::domain::security_groups;
use crate::error::Result;
use crate::ports::{Account, IpSets, PortRules, PrefixLists, RangesSource, SecurityGroups};
use crate::report::UnmanagedSet;

use super::discover::{FoundSet, Reads};
use super::fetch::fetch_verified;
use super::{Offline, account_targets};

/// List the rules on each set's port that this tool did not create (for example those left by AWS's Python
/// sample). With `apply`, the ones whose CIDR is a wanted CloudFront range are adopted: their description is
/// set to ours, so later syncs manage them (and revoke them when CloudFront drops the range). Rules for other
/// CIDRs are listed and left alone. No rule is added or removed, so no traffic is cut off.
pub async fn adopt<G: SecurityGroups + PrefixLists, W: IpSets>(
    config: &Config,
    source: &impl RangesSource,
    accounts: &[Account<G, W>],
    apply: bool,
) -> Result<Vec<UnmanagedSet>> {
    let (selection, _) = fetch_verified(config, &Trigger::Scheduled, source, Budget::unbounded()).await?;
    let offline = Offline::new(config);
    let run = offline.run(config);
    let mut out = Vec::new();
    for account in accounts {
        let found = account_targets(&run, account, Reads::Groups).await?;
        out.extend(adopt_account(config, &selection, &account.ec2, found.sets, apply).await);
    }
    Ok(out)
}

/// The unmanaged rules of one account's sets, adopted with `apply`.
async fn adopt_account(
    config: &Config,
    selection: &Selection,
    ec2: &impl SecurityGroups,
    sets: Vec<FoundSet>,
    apply: bool,
) -> Vec<UnmanagedSet> {
    let description = |set: &FoundSet| security_groups::rule_description(set.key.scope, &config.service_names());
    let mut out = Vec::new();
    for set in sets {
        let wanted = selection.ranges(set.key.scope);
        let groups: BTreeMap<String, security_groups::Unmanaged> = set
            .groups
            .iter()
            .map(|g| (g.id.clone(), security_groups::unmanaged(set.key.port, wanted, g)))
            .filter(|(_, u)| !u.adoptable.is_empty() || !u.other.is_empty())
            .collect();
        let mut report = UnmanagedSet {
            key: set.key.clone(),
            groups,
            adopted: false,
            error: None,
        };
        if apply {
            match adopt_set(ec2, &report, &description(&set)).await {
                Ok(()) => report.adopted = true,
                Err(e) => report.error = Some(e.to_string()),
            }
        }
        out.push(report);
    }
    out
}

/// Give the adoptable rules of each group of a set our description, group by group; stop at the first error.
async fn adopt_set(ec2: &impl SecurityGroups, set: &UnmanagedSet, description: &str) -> Result<()> {
    for (group, unmanaged) in set.groups.iter().filter(|(_, u)| !u.adoptable.is_empty()) {
        let rules = PortRules {
            region: &set.key.region,
            group,
            port: set.key.port,
            cidrs: &unmanaged.adoptable,
            description,
        };
        ec2.set_descriptions(&rules).await?;
    }
    Ok(())
}
