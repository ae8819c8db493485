//! One run, end to end: fetch and verify the file, find the sets, plan, apply, summarize.
//!
//! The handler and the CLI both call [`run`]. Its two I/O boundaries are the [`RangesSource`] and the
//! [`SecurityGroups`] it is given; everything between them is the pure core.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use futures::StreamExt;
use futures::future::join_all;
use serde::Serialize;

use crate::cidr::{Cidr, IpVersion};
use crate::config::Config;
use crate::ec2::{SecurityGroups, TaggedGroup};
use crate::error::{Error, Result};
use crate::event::Trigger;
use crate::ip_ranges::{self, Scope, Selection};
use crate::plan::{self, Group, GroupPlan, SetKey, SetPlan};
use crate::source::RangesSource;

/// A set more than this full (after the sync) logs a warning: AWS has grown these lists by half before.
pub const NEAR_FULL: f64 = 0.8;

/// What a run did, as the invocation answers it.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// The `syncToken` of the file applied.
    pub synctoken: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub create_date: Option<String>,
    pub service: String,
    pub ip_versions: String,
    pub trigger: &'static str,
    /// The notification was older than the file, which was applied anyway.
    pub late_notification: bool,
    pub dry_run: bool,
    pub sets: Vec<SetReport>,
    /// Tagged groups that could not be synced (for example a bad `Protocol` tag).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skipped_groups: Vec<SkippedGroup>,
    /// Regions whose groups could not be read.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failed_regions: Vec<FailedRegion>,
    /// EC2 calls retried after throttling or a transient error.
    pub ec2_retries: u64,
    pub duration_ms: u64,
}

/// What happened to one set.
#[derive(Debug, Clone, Serialize)]
pub struct SetReport {
    pub region: String,
    pub vpc: String,
    pub name: Scope,
    pub protocol: String,
    pub port: u16,
    pub groups: Vec<String>,
    /// CIDRs authorized (planned, in a dry run).
    pub added: usize,
    /// Rules revoked (planned, in a dry run).
    pub removed: usize,
    /// Wanted CIDRs that were already present.
    pub unchanged: usize,
    /// Free rule slots per IP version after the sync.
    pub room_left: BTreeMap<IpVersion, usize>,
    /// More than [`NEAR_FULL`] of the slots of an IP version are used.
    pub near_full: bool,
    pub status: SetStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The planned changes, per group.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub changes: BTreeMap<String, GroupPlan>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SetStatus {
    /// Nothing to do.
    InSync,
    /// Changes made.
    Synced,
    /// Dry run: changes computed, nothing written.
    Planned,
    /// Left as it was, or partly changed: see `error`.
    Failed,
}

impl SetStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SetStatus::InSync => "in sync",
            SetStatus::Synced => "synced",
            SetStatus::Planned => "planned",
            SetStatus::Failed => "failed",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct SkippedGroup {
    pub region: String,
    pub group: String,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct FailedRegion {
    pub region: String,
    pub error: String,
}

impl Summary {
    /// How many sets, skipped groups and regions failed.
    pub fn failures(&self) -> Vec<String> {
        let sets = self.sets.iter().filter_map(|s| s.error.clone());
        let groups = self
            .skipped_groups
            .iter()
            .map(|g| format!("group {} in {} skipped: {}", g.group, g.region, g.reason));
        let regions = self.failed_regions.iter().map(|r| r.error.clone());
        sets.chain(groups).chain(regions).collect()
    }

    /// `Err(SetsFailed)` if anything failed, so the invocation answers an error (after the summary is logged).
    pub fn into_result(self) -> Result<Summary> {
        let messages = self.failures();
        if messages.is_empty() {
            return Ok(self);
        }
        Err(Error::SetsFailed {
            failed: messages.len(),
            total: self.sets.len() + self.skipped_groups.len() + self.failed_regions.len(),
            messages,
        })
    }

    pub fn added(&self) -> usize {
        self.sets.iter().map(|s| s.added).sum()
    }

    pub fn removed(&self) -> usize {
        self.sets.iter().map(|s| s.removed).sum()
    }
}

/// Fetch the file and decide whether to apply it: the MD5 must match the notification, or the file must be
/// newer than the notification (it came late). Returns the selection and whether the notification was late.
pub async fn fetch_verified(
    config: &Config,
    trigger: &Trigger,
    source: &impl RangesSource,
) -> Result<(Selection, bool)> {
    let body = source.fetch().await?;
    let md5 = ip_ranges::md5_hex(&body);
    let selection = ip_ranges::parse(&body, &config.filter)?;
    drop(body);
    let Trigger::Notification(notification) = trigger else {
        tracing::info!(
            md5,
            synctoken = selection.sync_token,
            "scheduled run: applying the file published now"
        );
        return Ok((selection, false));
    };
    if md5 == notification.md5 {
        tracing::info!(md5, synctoken = selection.sync_token, "MD5 matches the notification");
        return Ok((selection, false));
    }
    if selection.sync_token > notification.synctoken {
        tracing::warn!(
            notified_synctoken = notification.synctoken,
            file_synctoken = selection.sync_token,
            notified_md5 = %notification.md5,
            md5,
            "the notification came late: a newer file is published; applying it"
        );
        return Ok((selection, true));
    }
    Err(Error::Md5Mismatch {
        expected: notification.md5.clone(),
        actual: md5,
        notified_token: notification.synctoken,
        file_token: selection.sync_token,
    })
}

/// A set found in EC2, ready to plan.
struct FoundSet {
    key: SetKey,
    groups: Vec<Group>,
}

/// Group the tagged groups into sets; groups with an unusable `Protocol` tag are skipped and reported.
fn form_sets(groups: Vec<TaggedGroup>) -> (Vec<FoundSet>, Vec<SkippedGroup>) {
    let mut sets: BTreeMap<SetKey, Vec<Group>> = BTreeMap::new();
    let mut skipped = Vec::new();
    for g in groups {
        let Some(port) = g.protocol.as_deref().and_then(plan::port_of_protocol_tag) else {
            let reason = match &g.protocol {
                None => "no Protocol tag (expected http, https or a port number)".to_owned(),
                Some(v) => format!("Protocol tag {v:?} is not http, https or a port number"),
            };
            tracing::warn!(region = %g.region, group = %g.group.id, %reason, "skipping tagged group");
            skipped.push(SkippedGroup {
                region: g.region,
                group: g.group.id,
                reason,
            });
            continue;
        };
        let key = SetKey {
            region: g.region,
            vpc: g.vpc,
            scope: g.scope,
            port,
        };
        sets.entry(key).or_default().push(g.group);
    }
    let sets = sets.into_iter().map(|(key, groups)| FoundSet { key, groups }).collect();
    (sets, skipped)
}

/// The sets of every configured region, the groups skipped and the regions that could not be read, with
/// their errors.
struct Discovered {
    sets: Vec<FoundSet>,
    skipped_groups: Vec<SkippedGroup>,
    failed_regions: Vec<(String, Error)>,
}

/// Read the tagged groups of every region, concurrently, and form the sets.
async fn discover(config: &Config, ec2: &impl SecurityGroups) -> Discovered {
    let found = join_all(config.regions.iter().map(|r| ec2.tagged_groups(r))).await;
    let mut tagged = Vec::new();
    let mut failed_regions = Vec::new();
    for (region, result) in config.regions.iter().zip(found) {
        match result {
            Ok(groups) => {
                tracing::info!(region, groups = groups.len(), "found tagged security groups");
                tagged.extend(groups);
            }
            Err(e) => {
                tracing::error!(region, error = %e, "cannot read the security groups of a region");
                failed_regions.push((region.clone(), e));
            }
        }
    }
    let (sets, skipped_groups) = form_sets(tagged);
    Discovered {
        sets,
        skipped_groups,
        failed_regions,
    }
}

/// Run one sync. Errors that stop everything before any write (event, download, MD5, document, empty
/// selection) are `Err`; failures of single sets, groups or regions are in the summary
/// (see [`Summary::into_result`]).
pub async fn run(
    config: &Config,
    trigger: &Trigger,
    source: &impl RangesSource,
    ec2: &impl SecurityGroups,
    deadline: Option<Instant>,
) -> Result<Summary> {
    let started = Instant::now();
    let retries_before = ec2.retries();
    let (selection, late) = fetch_verified(config, trigger, source).await?;
    for scope in Scope::ALL {
        let ranges = selection.ranges(scope);
        tracing::info!(
            scope = %scope,
            ipv4 = ranges.iter().filter(|c| c.version() == IpVersion::Ipv4).count(),
            ipv6 = ranges.iter().filter(|c| c.version() == IpVersion::Ipv6).count(),
            "selected ranges"
        );
    }

    let Discovered {
        sets,
        skipped_groups,
        failed_regions,
    } = discover(config, ec2).await;

    // Guard against a format change wiping every rule: before any write anywhere.
    for scope in Scope::ALL {
        let users = sets.iter().filter(|s| s.key.scope == scope).count();
        if users > 0 && selection.ranges(scope).is_empty() {
            return Err(Error::EmptySelection {
                service: config.service_names(),
                scope: scope.describe(),
                versions: config.version_names(),
                sets: users,
            });
        }
    }

    // Regions run concurrently; within a region, at most MAX_CONCURRENCY sets at a time (EC2 throttles per
    // account and region).
    let mut by_region: BTreeMap<String, Vec<FoundSet>> = BTreeMap::new();
    for set in sets {
        by_region.entry(set.key.region.clone()).or_default().push(set);
    }
    let service = config.service_names();
    let regions = by_region.into_values().map(|sets| {
        futures::stream::iter(sets)
            .map(|set| {
                let wanted = selection.ranges(set.key.scope);
                let description = plan::rule_description(set.key.scope, &service);
                async move { sync_set(config, ec2, set, wanted, &description, deadline).await }
            })
            .buffer_unordered(config.max_concurrency)
            .collect::<Vec<SetReport>>()
    });
    let mut reports: Vec<SetReport> = join_all(regions).await.into_iter().flatten().collect();
    reports.sort_by(|a, b| (&a.region, &a.vpc, a.name, a.port).cmp(&(&b.region, &b.vpc, b.name, b.port)));

    Ok(Summary {
        synctoken: selection.sync_token.to_string(),
        create_date: selection.create_date.clone(),
        service: config.service_names(),
        ip_versions: config.version_names(),
        trigger: match trigger {
            Trigger::Notification(_) => "notification",
            Trigger::Scheduled => "schedule",
        },
        late_notification: late,
        dry_run: config.dry_run,
        sets: reports,
        skipped_groups,
        failed_regions: failed_regions
            .into_iter()
            .map(|(region, e)| FailedRegion {
                region,
                error: e.to_string(),
            })
            .collect(),
        ec2_retries: ec2.retries() - retries_before,
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    })
}

/// Plan and (unless a dry run) apply one set. Never fails as a whole: the report carries the error.
async fn sync_set(
    config: &Config,
    ec2: &impl SecurityGroups,
    set: FoundSet,
    wanted: &BTreeSet<Cidr>,
    description: &str,
    deadline: Option<Instant>,
) -> SetReport {
    let key = set.key;
    let mut group_ids: Vec<String> = set.groups.iter().map(|g| g.id.clone()).collect();
    group_ids.sort();
    let mut report = SetReport {
        region: key.region.clone(),
        vpc: key.vpc.clone(),
        name: key.scope,
        protocol: key.protocol(),
        port: key.port,
        groups: group_ids,
        added: 0,
        removed: 0,
        unchanged: 0,
        room_left: BTreeMap::new(),
        near_full: false,
        status: SetStatus::Failed,
        error: None,
        changes: BTreeMap::new(),
    };
    let plan = match plan::plan_set(&key, wanted, &set.groups, config.max_rules_per_group) {
        Ok(plan) => plan,
        Err(e) => {
            tracing::error!(set = %key, error = %e, "set cannot be synced; left as it was");
            report.error = Some(e.to_string());
            return report;
        }
    };
    report.unchanged = plan.unchanged;
    report.room_left = plan.room_left.clone();
    let fullness = plan.fullness();
    report.near_full = fullness > NEAR_FULL;
    if report.near_full {
        tracing::warn!(
            set = %key,
            percent_full = (fullness * 100.0).round(),
            room_left_ipv4 = plan.room_left.get(&IpVersion::Ipv4).copied().unwrap_or(0),
            room_left_ipv6 = plan.room_left.get(&IpVersion::Ipv6).copied().unwrap_or(0),
            "set is more than 80% full: add a group before AWS grows the list"
        );
    }
    if plan.changes.is_empty() {
        report.status = SetStatus::InSync;
        tracing::info!(set = %key, unchanged = plan.unchanged, "set in sync");
        return report;
    }
    report.changes = plan.changes.clone();
    if config.dry_run {
        report.added = plan.added;
        report.removed = plan.removed;
        report.status = SetStatus::Planned;
        tracing::info!(set = %key, added = plan.added, removed = plan.removed, unchanged = plan.unchanged, "dry run: planned");
        return report;
    }
    let applied = apply(config, ec2, &key, &plan, description, deadline).await;
    report.added = applied.added;
    report.removed = applied.removed;
    match applied.error {
        None => {
            report.status = SetStatus::Synced;
            tracing::info!(set = %key, added = applied.added, removed = applied.removed, unchanged = plan.unchanged, "set synced");
        }
        Some(e) => {
            tracing::error!(set = %key, added = applied.added, removed = applied.removed, error = %e, "set partly synced");
            report.error = Some(e.to_string());
        }
    }
    report
}

#[derive(Default)]
struct Applied {
    added: usize,
    removed: usize,
    error: Option<Error>,
}

/// The writes of a set, in safe order: every authorization, then (only if all succeeded) the revocations,
/// then the authorizations that needed the room they free. No write starts within the deadline margin.
async fn apply(
    config: &Config,
    ec2: &impl SecurityGroups,
    key: &SetKey,
    plan: &SetPlan,
    description: &str,
    deadline: Option<Instant>,
) -> Applied {
    let mut applied = Applied::default();
    let region = key.region.as_str();
    let pending_writes = |from_phase: usize| -> usize {
        plan.changes
            .values()
            .map(|p| {
                [
                    !p.authorize.is_empty(),
                    !p.revoke.is_empty(),
                    !p.authorize_after_revoke.is_empty(),
                ]
                .iter()
                .skip(from_phase)
                .filter(|x| **x)
                .count()
            })
            .sum()
    };
    for phase in 0..3 {
        if let Some(deadline) = deadline {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining <= config.deadline_margin && pending_writes(phase) > 0 {
                applied.error = Some(Error::Deadline {
                    set: key.to_string(),
                    pending: pending_writes(phase),
                    remaining,
                });
                return applied;
            }
        }
        let calls = plan.changes.iter().map(|(group, p)| async move {
            let result = match phase {
                0 if !p.authorize.is_empty() => ec2
                    .authorize(region, group, key.port, &p.authorize, description)
                    .await
                    .map(|_| (p.authorize.len(), 0)),
                1 if !p.revoke.is_empty() => ec2.revoke(region, group, &p.revoke).await.map(|_| (0, p.revoked())),
                2 if !p.authorize_after_revoke.is_empty() => ec2
                    .authorize(region, group, key.port, &p.authorize_after_revoke, description)
                    .await
                    .map(|_| (p.authorize_after_revoke.len(), 0)),
                _ => Ok((0, 0)),
            };
            (group, result)
        });
        let mut first_error = None;
        for (group, result) in join_all(calls).await {
            match result {
                Ok((added, removed)) => {
                    applied.added += added;
                    applied.removed += removed;
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

impl std::fmt::Display for Summary {
    /// A plan or a result a person can read: one line per set, then each group's changes.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = if self.dry_run { "plan" } else { "sync" };
        writeln!(
            f,
            "{what} of {} ({}) syncToken {}{}{}",
            self.service,
            self.ip_versions,
            self.synctoken,
            self.create_date
                .as_deref()
                .map(|d| format!(" ({d})"))
                .unwrap_or_default(),
            if self.late_notification {
                ", newer than the notification"
            } else {
                ""
            },
        )?;
        if self.sets.is_empty() {
            writeln!(
                f,
                "no tagged security groups found (Name=cloudfront_g|cloudfront_r, AutoUpdate=true)"
            )?;
        }
        for s in &self.sets {
            let room: Vec<String> = s.room_left.iter().map(|(v, n)| format!("{v} {n}")).collect();
            writeln!(
                f,
                "{}/{}/{}/{} [{}] {}: +{} -{} ={} room left: {}",
                s.region,
                s.vpc,
                s.name,
                s.protocol,
                s.groups.join(","),
                s.status.as_str(),
                s.added,
                s.removed,
                s.unchanged,
                room.join(", "),
            )?;
            for (group, p) in &s.changes {
                for cidr in &p.authorize {
                    writeln!(f, "  {group} + {cidr} tcp/{}", s.port)?;
                }
                for (port, cidrs) in &p.revoke {
                    for cidr in cidrs {
                        writeln!(f, "  {group} - {cidr} tcp/{port}")?;
                    }
                }
                for cidr in &p.authorize_after_revoke {
                    writeln!(f, "  {group} + {cidr} tcp/{} (after the revokes)", s.port)?;
                }
            }
            if let Some(e) = &s.error {
                writeln!(f, "  error: {e}")?;
            }
        }
        for g in &self.skipped_groups {
            writeln!(f, "skipped {} in {}: {}", g.group, g.region, g.reason)?;
        }
        for r in &self.failed_regions {
            writeln!(f, "failed region {}: {}", r.region, r.error)?;
        }
        Ok(())
    }
}

/// Rules on a set's port that this tool did not create, per group (see [`adopt`]).
#[derive(Debug, Clone, Serialize)]
pub struct UnmanagedSet {
    pub region: String,
    pub vpc: String,
    pub name: Scope,
    pub protocol: String,
    pub groups: BTreeMap<String, plan::Unmanaged>,
    /// The adoptable rules were given our description.
    pub adopted: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// List the rules on each set's port that this tool did not create (for example those left by AWS's Python
/// sample). With `apply`, the ones whose CIDR is a wanted CloudFront range are adopted: their description is
/// set to ours, so later syncs manage them (and revoke them when CloudFront drops the range). Rules for other
/// CIDRs are listed and left alone. No rule is added or removed, so no traffic is cut off.
pub async fn adopt(
    config: &Config,
    source: &impl RangesSource,
    ec2: &impl SecurityGroups,
    apply: bool,
) -> Result<Vec<UnmanagedSet>> {
    let (selection, _) = fetch_verified(config, &Trigger::Scheduled, source).await?;
    let mut found = discover(config, ec2).await;
    if !found.failed_regions.is_empty() {
        let (_, error) = found.failed_regions.swap_remove(0);
        return Err(error);
    }
    let mut out = Vec::new();
    for set in found.sets {
        let wanted = selection.ranges(set.key.scope);
        let groups: BTreeMap<String, plan::Unmanaged> = set
            .groups
            .iter()
            .map(|g| (g.id.clone(), plan::unmanaged(set.key.port, wanted, g)))
            .filter(|(_, u)| !u.adoptable.is_empty() || !u.other.is_empty())
            .collect();
        let mut report = UnmanagedSet {
            region: set.key.region.clone(),
            vpc: set.key.vpc.clone(),
            name: set.key.scope,
            protocol: set.key.protocol(),
            groups,
            adopted: false,
            error: None,
        };
        if apply {
            let description = plan::rule_description(set.key.scope, &config.service_names());
            let mut result = Ok(());
            for (group, unmanaged) in report.groups.iter().filter(|(_, u)| !u.adoptable.is_empty()) {
                result = ec2
                    .set_descriptions(&set.key.region, group, set.key.port, &unmanaged.adoptable, &description)
                    .await;
                if result.is_err() {
                    break;
                }
            }
            match result {
                Ok(()) => report.adopted = true,
                Err(e) => report.error = Some(e.to_string()),
            }
        }
        out.push(report);
    }
    Ok(out)
}
