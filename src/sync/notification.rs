//! The run's change notification: what the summary (or the error that stopped the run) says, made into one
//! message ([`crate::domain::notification`]) and published once. A publish that fails is logged and counted
//! (`NotificationsFailed`); it never fails the sync.

use std::collections::BTreeSet;
use std::time::Duration;

use tokio::time::Instant;

use crate::domain::TargetKind;
use crate::domain::notification::{self, BODY_MAX, RunOutcome, TargetChange};
use crate::error::Error;
use crate::ports::Notifications;
use crate::report::{EntryTarget, SetReport, Summary};

/// The longest a publish may take (and no longer than the invocation has left): an SNS that does not answer
/// must not hold the function.
pub const PUBLISH_TIMEOUT: Duration = Duration::from_secs(10);

/// Publish the message of the run `outcome` tells, if it has one, before `deadline`; whether a publish failed.
/// Without a topic, `outcome` is not even called.
pub async fn notify(
    notifications: &impl Notifications,
    outcome: impl FnOnce() -> RunOutcome,
    deadline: Option<Instant>,
) -> bool {
    if !notifications.enabled() {
        return false;
    }
    let Some(message) = notification::message(&outcome(), BODY_MAX) else {
        tracing::info!("nothing changed and nothing failed: no notification");
        return false;
    };
    let left = deadline.map_or(PUBLISH_TIMEOUT, |d| d.saturating_duration_since(Instant::now()));
    let published = tokio::time::timeout(left.min(PUBLISH_TIMEOUT), notifications.publish(&message)).await;
    let error = match published {
        Ok(Ok(())) => {
            tracing::info!(subject = %message.subject, status = message.status.as_str(), "notification published");
            return false;
        }
        Ok(Err(e)) => e.to_string(),
        Err(_) => format!("no answer within {} s", left.min(PUBLISH_TIMEOUT).as_secs_f32()),
    };
    tracing::error!(error, subject = %message.subject, "cannot publish the notification");
    true
}

/// What `summary` tells of its run: every target that gained or lost a CIDR, and every failure.
pub fn outcome(summary: &Summary) -> RunOutcome {
    let sets = summary.sets.iter().map(set_change);
    let lists = (summary.prefix_lists.iter()).map(|l| {
        let name = format!("{} {}", l.target.scope.tag_value(), l.target.family);
        entry_change(&l.target, name, &l.changes.add, &l.changes.remove)
    });
    let ip_sets = summary.ip_sets.iter().map(|s| {
        let name = format!(
            "{}, {} {} {}",
            s.name,
            s.waf_scope.as_str(),
            s.target.scope.tag_value(),
            s.target.family
        );
        entry_change(&s.target, name, &s.changes.add, &s.changes.remove)
    });
    RunOutcome {
        changes: sets.chain(lists).chain(ip_sets).collect(),
        failures: summary.failures(),
        forged_marks: (summary.forged_marks())
            .map(|(place, m)| format!("{place} {}: {:?} ({})", m.target, m.value, m.reason))
            .collect(),
        sync_token: summary.sync_token,
        create_date: summary.create_date.clone(),
        dry_run: summary.dry_run,
    }
}

/// A run stopped by `error` before it could sync (a file refused, the organization not listed): one failure.
pub fn stopped(error: &Error) -> RunOutcome {
    RunOutcome {
        failures: vec![format!("the run stopped: {error}")],
        ..RunOutcome::default()
    }
}

/// A set's CIDRs authorized (before or after the revocations) and revoked, over its groups.
fn set_change(set: &SetReport) -> TargetChange {
    let plans = set.changes.values();
    let added = plans
        .clone()
        .flat_map(|p| p.authorize.iter().chain(&p.authorize_after_revoke));
    let removed = plans.flat_map(|p| p.revoke.values().flatten());
    let key = &set.key;
    TargetChange {
        account: key.account.clone(),
        region: key.region.clone(),
        kind: TargetKind::SecurityGroupSet,
        id: set.groups.join(","),
        name: format!("{} {} port {}", key.vpc, key.scope.tag_value(), key.port),
        added: added.copied().collect(),
        removed: removed.copied().collect(),
    }
}

/// A prefix list's or an IP set's change.
fn entry_change(
    target: &EntryTarget,
    name: String,
    added: &BTreeSet<crate::domain::cidr::Cidr>,
    removed: &BTreeSet<crate::domain::cidr::Cidr>,
) -> TargetChange {
    TargetChange {
        account: target.account.clone(),
        region: target.region.clone(),
        kind: target.kind,
        id: target.id.clone(),
        name,
        added: added.clone(),
        removed: removed.clone(),
    }
}
