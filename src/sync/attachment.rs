//! After discovery, per region: which network interfaces carry some but not all of a set's groups. One paged
//! describe per region with a set of two groups or more (none otherwise); read-only, and a failure is a
//! warning, never a failed run.

use std::collections::{BTreeMap, BTreeSet};

use futures::future::join_all;

use crate::deadline::Budget;
use crate::domain::attachment::{PartlyAttached, partly_attached};
use crate::domain::security_groups::SetKey;
use crate::ports::NetworkInterfaces;
use crate::report::FailedRegion;

use super::Limit;
use super::discover::FoundSet;

/// Per region, the group ids of each set that could be attached in part (two groups or more).
pub(super) type SetGroups = BTreeMap<String, BTreeMap<SetKey, BTreeSet<String>>>;

/// The sets worth checking, per region.
pub(super) fn set_groups(sets: &[FoundSet]) -> SetGroups {
    let mut regions = SetGroups::new();
    for set in sets.iter().filter(|s| s.groups.len() > 1) {
        let ids = set.groups.iter().map(|g| g.id.clone()).collect();
        regions
            .entry(set.key.region.clone())
            .or_default()
            .insert(set.key.clone(), ids);
    }
    regions
}

/// What the check found: the interfaces of each set attached in part, and the regions it could not read.
#[derive(Default)]
pub(super) struct Attachment {
    pub(super) partly: BTreeMap<SetKey, Vec<PartlyAttached>>,
    pub(super) unchecked: Vec<FailedRegion>,
}

/// Check every region of `account` concurrently (each a unit of `limit`), within the deadline.
pub(super) async fn check_attachment(
    ec2: &impl NetworkInterfaces,
    account: Option<&str>,
    regions: SetGroups,
    budget: Budget,
    limit: &Limit,
) -> Attachment {
    let checks = regions.into_iter().map(|(region, sets)| async move {
        let _unit = limit.acquire().await;
        let ids: BTreeSet<String> = sets.values().flatten().cloned().collect();
        let what = || format!("DescribeNetworkInterfaces in {region}");
        let found = budget.bound(what, ec2.interfaces_with_groups(&region, &ids)).await;
        (region, sets, found)
    });
    let mut attachment = Attachment::default();
    for (region, sets, found) in join_all(checks).await {
        let interfaces = match found {
            Ok(interfaces) => interfaces,
            Err(e) => {
                tracing::warn!(
                    account = account.unwrap_or("own"),
                    region,
                    error = %e,
                    "cannot tell whether the sets are attached whole; syncing anyway"
                );
                attachment
                    .unchecked
                    .push(FailedRegion::new(account, &region, "network interfaces", &e));
                continue;
            }
        };
        for (key, groups) in sets {
            let partly = partly_attached(&groups, &interfaces);
            for p in &partly {
                tracing::warn!(
                    set = %key,
                    interface = %p.interface,
                    attachment = %p.attachment,
                    missing = %p.missing.join(","),
                    "set attached only in part: the CloudFront ranges of the missing groups are blocked there"
                );
            }
            if !partly.is_empty() {
                attachment.partly.insert(key, partly);
            }
        }
    }
    attachment
}
