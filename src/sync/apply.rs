//! A set's writes, in safe order and within the deadline.

use std::collections::BTreeSet;
use std::time::Duration;

use futures::future::join_all;

use crate::deadline::Budget;
use crate::domain::cidr::Cidr;
use crate::domain::security_groups::{GroupPlan, SetKey, SetPlan, Written};
use crate::error::{Error, Result};
use crate::ports::{PortRules, SecurityGroups};

#[derive(Default)]
pub(super) struct Applied {
    pub(super) added: usize,
    pub(super) removed: usize,
    /// The writes EC2 answered with success: what a read-back must show.
    pub(super) written: Written,
    pub(super) error: Option<Error>,
}

/// The three kinds of writes of a set, in the order they are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Every authorization that has room now.
    Authorize,
    /// Our stale rules: only once every authorization succeeded, so no wanted range is ever lost.
    Revoke,
    /// The authorizations that need the room the revocations free.
    AuthorizeAfterRevoke,
}

impl Phase {
    const ALL: [Phase; 3] = [Phase::Authorize, Phase::Revoke, Phase::AuthorizeAfterRevoke];

    /// Whether `plan` has a write of this phase.
    fn has_write(self, plan: &GroupPlan) -> bool {
        match self {
            Phase::Authorize => !plan.authorize.is_empty(),
            Phase::Revoke => !plan.revoke.is_empty(),
            Phase::AuthorizeAfterRevoke => !plan.authorize_after_revoke.is_empty(),
        }
    }

    /// Record `plan`'s write of this phase to `group`, which succeeded, in `written`.
    fn record(self, written: &mut Written, group: &str, port: u16, plan: &GroupPlan) {
        let singles = |cidrs: &BTreeSet<Cidr>| cidrs.iter().map(|c| (port, *c)).collect::<Vec<_>>();
        let (into, rules) = match self {
            Phase::Authorize => (&mut written.authorized, singles(&plan.authorize)),
            Phase::AuthorizeAfterRevoke => (&mut written.authorized, singles(&plan.authorize_after_revoke)),
            Phase::Revoke => {
                let revoked = plan.revoke.iter().flat_map(|(p, cidrs)| cidrs.iter().map(|c| (*p, *c)));
                (&mut written.revoked, revoked.collect())
            }
        };
        into.entry(group.to_owned()).or_default().extend(rules);
    }

    /// Write calls of this phase and the later ones.
    fn pending_from(self, plan: &SetPlan) -> usize {
        Phase::ALL
            .iter()
            .filter(|p| **p as u8 >= self as u8)
            .map(|p| plan.changes.values().filter(|g| p.has_write(g)).count())
            .sum()
    }
}

/// One write of a phase for one group: (added, removed).
async fn write(
    ec2: &impl SecurityGroups,
    key: &SetKey,
    group: &str,
    plan: &GroupPlan,
    phase: Phase,
    description: &str,
) -> Result<(usize, usize)> {
    let rules = |cidrs| PortRules {
        region: &key.region,
        group,
        port: key.port,
        cidrs,
        description,
    };
    match phase {
        Phase::Authorize => ec2.authorize(&rules(&plan.authorize)).await.map(|n| (n, 0)),
        Phase::Revoke => ec2.revoke(&key.region, group, &plan.revoke).await.map(|n| (0, n)),
        Phase::AuthorizeAfterRevoke => ec2
            .authorize(&rules(&plan.authorize_after_revoke))
            .await
            .map(|n| (n, 0)),
    }
}

/// The writes of a set, in safe order: every authorization, then (only if all succeeded) the revocations,
/// then the authorizations that needed the room they free. No write starts within the deadline margin, and
/// none runs past it.
pub(super) async fn apply(
    ec2: &impl SecurityGroups,
    key: &SetKey,
    plan: &SetPlan,
    description: &str,
    budget: Budget,
) -> Applied {
    let mut applied = Applied::default();
    for phase in Phase::ALL {
        let pending = phase.pending_from(plan);
        if pending > 0 && !budget.allows(Duration::ZERO) {
            applied.error = Some(Error::Deadline {
                set: key.to_string(),
                pending,
                remaining: budget.until_deadline().unwrap_or_default(),
            });
            return applied;
        }
        let calls = plan
            .changes
            .iter()
            .filter(|(_, p)| phase.has_write(p))
            .map(|(group, p)| async move {
                let what = || format!("{phase:?} on {group} in {}", key.region);
                (
                    (group, p),
                    budget.bound(what, write(ec2, key, group, p, phase, description)).await,
                )
            });
        let mut first_error = None;
        for ((group, p), result) in join_all(calls).await {
            match result {
                Ok((added, removed)) => {
                    applied.added += added;
                    applied.removed += removed;
                    phase.record(&mut applied.written, group, key.port, p);
                }
                Err(e) => {
                    tracing::error!(set = %key, group = %group, error = %e, "write failed");
                    first_error.get_or_insert(e);
                }
            }
        }
        if let Some(e) = first_error {
            // Stop at the first failed phase: after a failed authorization nothing is revoked, so no wanted
            // range is ever lost; after a failed revocation the authorizations made still stand.
            applied.error = Some(e);
            return applied;
        }
    }
    applied
}
