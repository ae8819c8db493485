//! One run, end to end: fetch and verify the file, find the sets, plan, apply, summarize.
//!
//! The handler and the CLI both call [`run`]. Its two I/O boundaries are the [`RangesSource`] and the
//! [`SecurityGroups`] it is given; everything between them is the pure core.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use futures::StreamExt;
use futures::future::join_all;
use serde::Serialize;
use tokio::time::Instant;

use crate::cidr::{Cidr, IpVersion};
use crate::config::Config;
use crate::deadline::Budget;
use crate::ec2::{SecurityGroups, TaggedGroup};
use crate::error::{Error, Result};
use crate::event::Trigger;
use crate::ip_ranges::{self, Scope, Selection};
use crate::plan::{self, AppliedMark, Group, GroupPlan, PrefixListWeights, Quota, RuleSource, SetKey, SetPlan};
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
    /// The `syncToken` of the file applied to the set before this run (its groups' tag), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_synctoken: Option<u64>,
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
    /// The set already holds a newer file than this one: left as it was (a late or replayed event, or a
    /// lagging copy of the file). Not a failure.
    OlderFile,
    /// Left as it was, or partly changed: see `error`.
    Failed,
}

impl SetStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SetStatus::InSync => "in sync",
            SetStatus::Synced => "synced",
            SetStatus::Planned => "planned",
            SetStatus::OlderFile => "kept: holds a newer file",
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
/// newer than the notification (it came late). A file older than the notification is a copy the CDN has not
/// refreshed yet: it is fetched again, with backoff, for up to `LAGGING_FILE_WAIT_SECONDS` and while the
/// deadline allows, before failing. Returns the selection and whether the notification was late.
pub async fn fetch_verified(
    config: &Config,
    trigger: &Trigger,
    source: &impl RangesSource,
    budget: Budget,
) -> Result<(Selection, bool)> {
    let mut waited = Duration::ZERO;
    let mut pause = LAGGING_FILE_FIRST_PAUSE;
    loop {
        let body = budget
            .bound(|| format!("download of {}", source.location()), source.fetch())
            .await?;
        let error = match verify(config, trigger, &body)? {
            Verified::Apply { selection, late } => return Ok((selection, late)),
            Verified::Lagging(error) => error,
        };
        let pause_now = pause.min(config.lagging_file_wait.saturating_sub(waited));
        if pause_now.is_zero() || !budget.allows(pause_now) {
            return Err(error);
        }
        tracing::warn!(
            error = %error,
            waited_s = waited.as_secs(),
            pause_s = pause_now.as_secs(),
            "the file published is older than the notification; fetching it again"
        );
        tokio::time::sleep(pause_now).await;
        waited += pause_now;
        pause *= 2;
    }
}

/// The first pause before fetching a lagging file again; each next pause doubles.
const LAGGING_FILE_FIRST_PAUSE: Duration = Duration::from_secs(5);

enum Verified {
    Apply {
        selection: Selection,
        late: bool,
    },
    /// Older than the notification: may be fetched again.
    Lagging(Error),
}

/// Check one fetched body against the trigger.
fn verify(config: &Config, trigger: &Trigger, body: &[u8]) -> Result<Verified> {
    let md5 = ip_ranges::md5_hex(body);
    let selection = ip_ranges::parse(body, &config.filter)?;
    let Trigger::Notification(notification) = trigger else {
        tracing::info!(
            md5,
            synctoken = selection.sync_token,
            "scheduled run: applying the file published now"
        );
        return Ok(Verified::Apply { selection, late: false });
    };
    if md5 == notification.md5 {
        tracing::info!(md5, synctoken = selection.sync_token, "MD5 matches the notification");
        return Ok(Verified::Apply { selection, late: false });
    }
    if selection.sync_token > notification.synctoken {
        tracing::warn!(
            notified_synctoken = notification.synctoken,
            file_synctoken = selection.sync_token,
            notified_md5 = %notification.md5,
            md5,
            "the notification came late: a newer file is published; applying it"
        );
        return Ok(Verified::Apply { selection, late: true });
    }
    let error = Error::Md5Mismatch {
        expected: notification.md5.clone(),
        actual: md5,
        notified_token: notification.synctoken,
        file_token: selection.sync_token,
    };
    if selection.sync_token < notification.synctoken {
        Ok(Verified::Lagging(error))
    } else {
        Err(error)
    }
}

/// A set found in EC2, ready to plan.
struct FoundSet {
    key: SetKey,
    groups: Vec<Group>,
    /// The newest file applied to the set, from its groups' tags.
    applied: Option<AppliedMark>,
    /// Groups whose tag does not carry `applied` (none, older, or a group new to the set).
    marks: BTreeMap<String, Option<AppliedMark>>,
}

/// Group the tagged groups into sets; groups with an unusable `Protocol` tag are skipped and reported.
fn form_sets(groups: Vec<TaggedGroup>) -> (Vec<FoundSet>, Vec<SkippedGroup>) {
    let mut sets: BTreeMap<SetKey, Vec<TaggedGroup>> = BTreeMap::new();
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
            region: g.region.clone(),
            vpc: g.vpc.clone(),
            scope: g.scope,
            port,
        };
        sets.entry(key).or_default().push(g);
    }
    let sets = sets
        .into_iter()
        .map(|(key, tagged)| {
            let applied = plan::applied_mark(tagged.iter().map(|g| g.mark.as_ref())).cloned();
            let marks = tagged.iter().map(|g| (g.group.id.clone(), g.mark.clone())).collect();
            FoundSet {
                key,
                groups: tagged.into_iter().map(|g| g.group).collect(),
                applied,
                marks,
            }
        })
        .collect();
    (sets, skipped)
}

/// The sets of every configured region, the groups skipped and the regions that could not be read, with
/// their errors.
struct Discovered {
    sets: Vec<FoundSet>,
    skipped_groups: Vec<SkippedGroup>,
    failed_regions: Vec<(String, Error)>,
    /// Per region, the weights of the prefix lists its groups reference, or why they could not be read.
    prefix_lists: BTreeMap<String, std::result::Result<PrefixListWeights, String>>,
}

/// Read the tagged groups of every region, concurrently, and form the sets.
async fn discover(config: &Config, ec2: &impl SecurityGroups, budget: Budget) -> Discovered {
    let found = join_all(config.regions.iter().map(|region| async move {
        let groups = budget
            .bound(
                || format!("DescribeSecurityGroups in {region}"),
                ec2.tagged_groups(region),
            )
            .await?;
        let weights = prefix_list_weights(ec2, region, &groups, budget).await;
        Ok::<_, Error>((groups, weights))
    }))
    .await;
    let mut tagged = Vec::new();
    let mut failed_regions = Vec::new();
    let mut prefix_lists = BTreeMap::new();
    for (region, result) in config.regions.iter().zip(found) {
        match result {
            Ok((groups, weights)) => {
                tracing::info!(region, groups = groups.len(), "found tagged security groups");
                tagged.extend(groups);
                prefix_lists.insert(region.clone(), weights);
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
        prefix_lists,
    }
}

/// The weights of the prefix lists `groups` reference: one DescribeManagedPrefixLists for the region, none
/// when no group references a list. A failure only touches the sets that hold a reference.
async fn prefix_list_weights(
    ec2: &impl SecurityGroups,
    region: &str,
    groups: &[TaggedGroup],
    budget: Budget,
) -> std::result::Result<PrefixListWeights, String> {
    let ids: BTreeSet<String> = groups
        .iter()
        .flat_map(|g| &g.group.rules)
        .filter_map(|r| match &r.source {
            RuleSource::PrefixList(id) => Some(id.clone()),
            _ => None,
        })
        .collect();
    if ids.is_empty() {
        return Ok(PrefixListWeights::new());
    }
    budget
        .bound(
            || format!("DescribeManagedPrefixLists in {region}"),
            ec2.prefix_list_weights(region, &ids),
        )
        .await
        .map_err(|e| {
            tracing::error!(region, error = %e, "cannot read the sizes of referenced prefix lists");
            e.to_string()
        })
}

/// Guard against a format change wiping every rule: a selection with no range at all, while sets exist, stops
/// the run before any write anywhere. (Each set is also guarded per IP version: [`plan::check_not_emptied`].)
fn check_selection(config: &Config, selection: &Selection, sets: &[FoundSet]) -> Result<()> {
    if sets.is_empty() || Scope::ALL.iter().any(|s| !selection.ranges(*s).is_empty()) {
        return Ok(());
    }
    Err(Error::EmptySelection {
        service: config.service_names(),
        versions: config.version_names(),
        sets: sets.len(),
    })
}

fn log_selection(selection: &Selection) {
    for scope in Scope::ALL {
        let ranges = selection.ranges(scope);
        tracing::info!(
            scope = %scope,
            ipv4 = ranges.iter().filter(|c| c.version() == IpVersion::Ipv4).count(),
            ipv6 = ranges.iter().filter(|c| c.version() == IpVersion::Ipv6).count(),
            "selected ranges"
        );
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
    let budget = Budget::new(deadline, config.deadline_margin);
    let retries_before = ec2.retries();
    let (selection, late) = fetch_verified(config, trigger, source, budget).await?;
    log_selection(&selection);

    let Discovered {
        sets,
        skipped_groups,
        failed_regions,
        prefix_lists,
    } = discover(config, ec2, budget).await;
    check_selection(config, &selection, &sets)?;

    // Regions run concurrently; within a region, at most MAX_CONCURRENCY sets at a time (EC2 throttles per
    // account and region).
    let mut by_region: BTreeMap<String, Vec<FoundSet>> = BTreeMap::new();
    for set in sets {
        by_region.entry(set.key.region.clone()).or_default().push(set);
    }
    let context = SetContext {
        config,
        selection: &selection,
        description_service: config.service_names(),
        prefix_lists: &prefix_lists,
        budget,
    };
    let context = &context;
    let regions = by_region.into_values().map(|sets| {
        futures::stream::iter(sets)
            .map(|set| sync_set(context, ec2, set))
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

/// What every set of a run shares.
struct SetContext<'a> {
    config: &'a Config,
    selection: &'a Selection,
    description_service: String,
    prefix_lists: &'a BTreeMap<String, std::result::Result<PrefixListWeights, String>>,
    budget: Budget,
}

impl SetContext<'_> {
    /// The weights of the prefix lists of the set's region (empty when the set references none).
    fn weights(&self, set: &FoundSet) -> std::result::Result<PrefixListWeights, String> {
        let references = set
            .groups
            .iter()
            .flat_map(|g| &g.rules)
            .any(|r| matches!(r.source, RuleSource::PrefixList(_)));
        match self.prefix_lists.get(&set.key.region) {
            Some(Err(e)) if references => Err(e.clone()),
            Some(Ok(weights)) => Ok(weights.clone()),
            _ => Ok(PrefixListWeights::new()),
        }
    }
}

/// A report for `set` with nothing done yet.
fn new_report(set: &FoundSet) -> SetReport {
    let key = &set.key;
    let mut group_ids: Vec<String> = set.groups.iter().map(|g| g.id.clone()).collect();
    group_ids.sort();
    SetReport {
        region: key.region.clone(),
        vpc: key.vpc.clone(),
        name: key.scope,
        protocol: key.protocol(),
        port: key.port,
        groups: group_ids,
        added: 0,
        removed: 0,
        unchanged: 0,
        previous_synctoken: set.applied.as_ref().map(|m| m.sync_token),
        room_left: BTreeMap::new(),
        near_full: false,
        status: SetStatus::Failed,
        error: None,
        changes: BTreeMap::new(),
    }
}

/// Check, plan and (unless a dry run) apply one set, then record the file applied. Never fails as a whole: the
/// report carries the error.
async fn sync_set(context: &SetContext<'_>, ec2: &impl SecurityGroups, set: FoundSet) -> SetReport {
    let mut report = new_report(&set);
    let key = &set.key;
    let wanted = context.selection.ranges(key.scope);
    if let Some(applied) = set
        .applied
        .as_ref()
        .filter(|m| m.sync_token > context.selection.sync_token)
    {
        tracing::warn!(
            set = %key,
            applied_synctoken = applied.sync_token,
            file_synctoken = context.selection.sync_token,
            "the set holds a newer file than this one; leaving it as it is"
        );
        report.status = SetStatus::OlderFile;
        return report;
    }
    let plan = match plan_checked(context, &set, wanted) {
        Ok(plan) => plan,
        Err(e) => {
            tracing::error!(set = %key, error = %e, "set cannot be synced; left as it was");
            report.error = Some(e.to_string());
            return report;
        }
    };
    report.unchanged = plan.unchanged;
    report.room_left = plan.room_left.clone();
    report.near_full = warn_if_near_full(key, &plan);
    report.changes = plan.changes.clone();
    if context.config.dry_run {
        report.added = plan.added;
        report.removed = plan.removed;
        report.status = if plan.changes.is_empty() {
            SetStatus::InSync
        } else {
            SetStatus::Planned
        };
        tracing::info!(set = %key, added = plan.added, removed = plan.removed, unchanged = plan.unchanged, "dry run: planned");
        return report;
    }
    if !plan.changes.is_empty() {
        let description = plan::rule_description(key.scope, &context.description_service);
        let applied = apply(ec2, key, &plan, &description, context.budget).await;
        report.added = applied.added;
        report.removed = applied.removed;
        if let Some(e) = applied.error {
            tracing::error!(set = %key, added = applied.added, removed = applied.removed, error = %e, "set partly synced");
            report.error = Some(e.to_string());
            return report;
        }
    }
    let mark = AppliedMark::of(context.selection.sync_token, wanted);
    if let Err(e) = record_applied(ec2, &set, &mark, context.budget).await {
        tracing::error!(set = %key, error = %e, "ranges synced, but the syncToken tag could not be written");
        report.error = Some(e.to_string());
        return report;
    }
    report.status = if plan.changes.is_empty() {
        tracing::info!(set = %key, unchanged = plan.unchanged, "set in sync");
        SetStatus::InSync
    } else {
        tracing::info!(set = %key, added = report.added, removed = report.removed, unchanged = plan.unchanged, "set synced");
        SetStatus::Synced
    };
    report
}

/// The guard and the plan of one set.
fn plan_checked(context: &SetContext<'_>, set: &FoundSet, wanted: &BTreeSet<Cidr>) -> Result<SetPlan> {
    plan::check_not_emptied(
        &set.key,
        wanted,
        &context.config.filter.versions,
        &set.groups,
        set.applied.as_ref(),
    )?;
    let weights = context.weights(set).map_err(|reason| Error::PrefixListSizes {
        set: set.key.to_string(),
        reason,
    })?;
    let quota = Quota {
        max_rules: context.config.max_rules_per_group,
        prefix_lists: &weights,
    };
    plan::plan_set(&set.key, wanted, &set.groups, quota)
}

/// Log a warning when the set is more than [`NEAR_FULL`]; returns whether it is.
fn warn_if_near_full(key: &SetKey, plan: &SetPlan) -> bool {
    let fullness = plan.fullness();
    let near_full = fullness > NEAR_FULL;
    if near_full {
        tracing::warn!(
            set = %key,
            percent_full = (fullness * 100.0).round(),
            room_left_ipv4 = plan.room_left.get(&IpVersion::Ipv4).copied().unwrap_or(0),
            room_left_ipv6 = plan.room_left.get(&IpVersion::Ipv6).copied().unwrap_or(0),
            "set is more than 80% full: add a group before AWS grows the list"
        );
    }
    near_full
}

/// Tag the set's groups that do not carry `mark` yet (one call for them all; none when every group does).
async fn record_applied(ec2: &impl SecurityGroups, set: &FoundSet, mark: &AppliedMark, budget: Budget) -> Result<()> {
    let stale: Vec<String> = set
        .marks
        .iter()
        .filter(|(_, m)| m.as_ref() != Some(mark))
        .map(|(group, _)| group.clone())
        .collect();
    if stale.is_empty() {
        return Ok(());
    }
    budget
        .bound(
            || format!("CreateTags on the groups of set {}", set.key),
            ec2.mark_applied(&set.key.region, &stale, mark),
        )
        .await
}

#[derive(Default)]
struct Applied {
    added: usize,
    removed: usize,
    error: Option<Error>,
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
    let region = key.region.as_str();
    match phase {
        Phase::Authorize => ec2
            .authorize(region, group, key.port, &plan.authorize, description)
            .await
            .map(|()| (plan.authorize.len(), 0)),
        Phase::Revoke => ec2.revoke(region, group, &plan.revoke).await.map(|n| (0, n)),
        Phase::AuthorizeAfterRevoke => ec2
            .authorize(region, group, key.port, &plan.authorize_after_revoke, description)
            .await
            .map(|()| (plan.authorize_after_revoke.len(), 0)),
    }
}

/// The writes of a set, in safe order: every authorization, then (only if all succeeded) the revocations,
/// then the authorizations that needed the room they free. No write starts within the deadline margin, and
/// none runs past it.
async fn apply(ec2: &impl SecurityGroups, key: &SetKey, plan: &SetPlan, description: &str, budget: Budget) -> Applied {
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
                    group,
                    budget.bound(what, write(ec2, key, group, p, phase, description)).await,
                )
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
    let budget = Budget::unbounded();
    let (selection, _) = fetch_verified(config, &Trigger::Scheduled, source, budget).await?;
    let mut found = discover(config, ec2, budget).await;
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
