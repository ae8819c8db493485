//! What a run answers: the [`Summary`] of a sync (JSON for the Lambda and `--json`, text for the CLI) and the
//! report of `adopt`. Plain data, built by [`crate::sync`].

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Serialize;

use crate::domain::attachment::PartlyAttached;
use crate::domain::cidr::{Cidr, IpVersion};
use crate::domain::ip_ranges::Scope;
use crate::domain::organization::{AccountEntry, Members};
use crate::domain::security_groups::{AppliedMark, ForgedMark, GroupPlan, SetKey, Unmanaged};
use crate::domain::{NotSynced, TargetKind};
use crate::error::{Error, Result};
use crate::ports::{TaggedIpSet, WafScope};

/// A set more than this full (after the sync) logs a warning: AWS has grown these lists by half before.
pub const NEAR_FULL: f64 = 0.8;

/// What a run did, as the invocation answers it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    /// The `syncToken` of the file applied.
    pub sync_token: u64,
    /// The file's `createDate`, if it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub create_date: Option<String>,
    /// The services selected (`SERVICE`).
    pub service: String,
    /// The IP versions selected (`IP_VERSIONS`).
    pub ip_versions: String,
    /// The regions read (`REGIONS`, or the default region): a misspelt setting shows here.
    pub regions: Vec<String>,
    /// `notification` or `schedule`.
    pub trigger: &'static str,
    /// The notification was older than the file, which was applied anyway.
    pub late_notification: bool,
    /// Nothing was written (`DRY_RUN`).
    pub dry_run: bool,
    /// Every set found, in key order.
    pub sets: Vec<SetReport>,
    /// Every prefix list tagged for the sync, by account, region and id.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub prefix_lists: Vec<ListReport>,
    /// Every WAF IP set tagged for the sync, by account, region, scope and name.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ip_sets: Vec<IpSetReport>,
    /// Tagged groups that could not be synced (for example a bad `Protocol` tag).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skipped_groups: Vec<SkippedGroup>,
    /// Regions whose groups could not be read.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failed_regions: Vec<FailedRegion>,
    /// Regions whose network interfaces could not be read, so whether their sets are attached whole is not
    /// known. A warning: the sync itself is not affected.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attachment_unchecked: Vec<FailedRegion>,
    /// Targets tagged `Name=cloudfront_g|cloudfront_r` whose `AutoUpdate` is not exactly `true`: not synced,
    /// each named with the value found (a near miss such as `True` shows). Never a failure.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_synced: Vec<NotSynced>,
    /// Every account of `ACCOUNTS` (listed, or found under an OU, a root or the organization): the entry that
    /// brought it in, and whether it was synced, failed or skipped. Empty: the function's own account.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub accounts: Vec<AccountReport>,
    /// AWS calls (EC2 and WAF) retried after throttling or a transient error.
    pub api_retries: u64,
    /// Sets re-read and re-planned after a write conflict with another writer, over every set.
    pub replans: usize,
    /// Wall time of the run.
    pub duration_ms: u64,
    /// Change notifications that could not be published (`NOTIFY_TOPIC_ARN`; 0 or 1): logged, never a failure
    /// of the sync.
    pub notifications_failed: usize,
}

/// What happened to one set.
#[derive(Debug, Clone, Serialize)]
pub struct SetReport {
    /// Which set: region, VPC, scope, protocol and port.
    #[serde(flatten)]
    pub key: SetKey,
    /// Its groups, sorted.
    pub groups: Vec<String>,
    /// CIDRs authorized (planned, in a dry run).
    pub added: usize,
    /// Rules revoked (planned, in a dry run).
    pub removed: usize,
    /// Wanted CIDRs that were already present.
    pub unchanged: usize,
    /// The `syncToken` of the file applied to the set before this run (its groups' tag), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_sync_token: Option<u64>,
    /// Times the set was re-read and re-planned because another writer changed it during the run.
    pub replans: usize,
    /// Free rule slots per IP version after the sync.
    pub room_left: BTreeMap<IpVersion, usize>,
    /// Per IP version, rules its groups hold beyond `MAX_RULES_PER_GROUP` (the setting is below what EC2 lets
    /// them hold: raise it to the account's quota).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub over_quota: BTreeMap<IpVersion, usize>,
    /// More than [`NEAR_FULL`] of the slots of an IP version are used.
    pub near_full: bool,
    /// The share of its fullest IP version's rule slots in use, in percent (every rule of its groups counts).
    pub percent_full: u32,
    /// What became of the set.
    pub status: TargetStatus,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The planned changes, per group.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub changes: BTreeMap<String, GroupPlan>,
    /// Network interfaces that carry some but not all of the set's groups: the ranges of the missing groups
    /// are blocked there. A warning, not a failure.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub partly_attached: Vec<PartlyAttached>,
    /// Groups of the set that were deleted (or lost their tags) during the run: the set was re-formed from the
    /// groups left and synced with them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub gone_groups: Vec<String>,
    /// Marks of its groups not trusted (ahead of the clock, or unreadable): counted as absent, and replaced with
    /// the file applied unless the set failed or the run is dry.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub forged_marks: Vec<ForgedMark>,
}

impl SetReport {
    /// A report of `key` with nothing done yet (status failed until something better is known).
    pub fn new(key: SetKey, groups: Vec<String>, previous_sync_token: Option<u64>) -> SetReport {
        SetReport {
            key,
            groups,
            added: 0,
            removed: 0,
            unchanged: 0,
            previous_sync_token,
            replans: 0,
            room_left: BTreeMap::new(),
            over_quota: BTreeMap::new(),
            near_full: false,
            percent_full: 0,
            status: TargetStatus::Failed,
            error: None,
            changes: BTreeMap::new(),
            partly_attached: Vec::new(),
            gone_groups: Vec::new(),
            forged_marks: Vec::new(),
        }
    }
}

/// What a run did to a target that is one list of CIDRs of one family, wholly rewritten by its own calls: a
/// customer-managed prefix list or a WAF IP set. Flattened into each one's report.
#[derive(Debug, Clone, Serialize)]
pub struct EntryChanges {
    /// Entries added (planned, in a dry run).
    pub added: usize,
    /// Entries removed (planned, in a dry run).
    pub removed: usize,
    /// Wanted CIDRs it already held.
    pub unchanged: usize,
    /// Times it was re-read and re-planned because another writer changed it during the run.
    pub replans: usize,
    /// The `syncToken` of the file applied to it before this run (its tag), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_sync_token: Option<u64>,
    /// What became of it.
    pub status: TargetStatus,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The CIDRs added (planned, in a dry run).
    #[serde(skip_serializing_if = "BTreeSet::is_empty")]
    pub add: BTreeSet<Cidr>,
    /// The CIDRs removed (planned, in a dry run).
    #[serde(skip_serializing_if = "BTreeSet::is_empty")]
    pub remove: BTreeSet<Cidr>,
    /// Its mark, if it was not trusted (ahead of the clock, or unreadable): counted as absent, and replaced with
    /// the file applied unless it failed or the run is dry.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub forged_marks: Vec<ForgedMark>,
}

impl Default for EntryChanges {
    /// Nothing done yet: failed until something better is known.
    fn default() -> EntryChanges {
        EntryChanges {
            added: 0,
            removed: 0,
            unchanged: 0,
            replans: 0,
            previous_sync_token: None,
            status: TargetStatus::Failed,
            error: None,
            add: BTreeSet::new(),
            remove: BTreeSet::new(),
            forged_marks: Vec::new(),
        }
    }
}

impl EntryChanges {
    /// Anything added or removed.
    pub fn changed(&self) -> bool {
        self.added + self.removed > 0
    }

    /// `status: +added -removed =unchanged`, as the target's line says it.
    fn counts(&self) -> String {
        counts(self.status, self.added, self.removed, self.unchanged)
    }

    /// The lines under the target's line: each CIDR added and removed, then its notes.
    fn write_details(&self, f: &mut fmt::Formatter<'_>, id: &str) -> fmt::Result {
        for (sign, cidrs) in [('+', &self.add), ('-', &self.remove)] {
            for cidr in cidrs {
                writeln!(f, "  {id} {sign} {cidr}")?;
            }
        }
        self.write_notes(f)
    }

    /// What the brief keeps under the target's line: a forged mark, then the error.
    fn write_notes(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_forged(f, &self.forged_marks, self.status)?;
        write_error(f, self.error.as_deref())
    }
}

/// `status: +added -removed =unchanged`; a target kept for a newer file was not planned: its status alone.
fn counts(status: TargetStatus, added: usize, removed: usize, unchanged: usize) -> String {
    match status {
        TargetStatus::OlderFile => status.as_str().to_owned(),
        _ => format!("{}: +{added} -{removed} ={unchanged}", status.as_str()),
    }
}

/// Which list or IP set an entry report is of: the fields both kinds share.
#[derive(Debug, Clone, Serialize)]
pub struct EntryTarget {
    /// A prefix list or a WAF IP set.
    pub kind: TargetKind,
    /// Its account, when the run syncs listed accounts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// Its region (for a WAF IP set, the region it was read in: us-east-1 for the `CLOUDFRONT` scope).
    pub region: String,
    /// `pl-…`, or the IP set's id.
    pub id: String,
    /// The `Name` tag: which ranges it holds.
    pub scope: Scope,
    /// Its address family: it gets the wanted ranges of this IP version only.
    pub family: IpVersion,
}

impl EntryTarget {
    /// `[account/]place`, as logs and errors name it.
    fn named(&self, place: String) -> String {
        match &self.account {
            Some(account) => format!("{account}/{place}"),
            None => place,
        }
    }
}

/// `part` of `whole`, in percent, rounded.
pub fn percent(part: usize, whole: usize) -> u32 {
    let share = (part as f64 * 100.0 / whole.max(1) as f64).round();
    share.clamp(0.0, f64::from(u32::MAX)) as u32
}

/// What happened to one customer-managed prefix list.
#[derive(Debug, Clone, Serialize)]
pub struct ListReport {
    /// Which list (kind `prefix-list`).
    #[serde(flatten)]
    pub target: EntryTarget,
    /// Its `MaxEntries` as read.
    pub max_entries: usize,
    /// `MaxEntries` it was raised to (`PREFIX_LIST_GROW`; planned, in a dry run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grew_to: Option<usize>,
    /// Free entries after the sync.
    pub room_left: usize,
    /// What the run did to its entries (only ours are removed; hand-made ones stay).
    #[serde(flatten)]
    pub changes: EntryChanges,
}

impl ListReport {
    /// The share of its `MaxEntries` (or what it grew to) in use, in percent.
    pub fn percent_full(&self) -> u32 {
        let size = self.grew_to.unwrap_or(self.max_entries);
        match size {
            0 => 0,
            size => percent(size.saturating_sub(self.room_left), size),
        }
    }
    /// A report of list `id` with nothing done yet (status failed until something better is known).
    pub fn new(account: Option<String>, region: &str, id: &str, scope: Scope, family: IpVersion) -> ListReport {
        ListReport {
            target: EntryTarget {
                kind: TargetKind::PrefixList,
                account,
                region: region.to_owned(),
                id: id.to_owned(),
                scope,
                family,
            },
            max_entries: 0,
            grew_to: None,
            room_left: 0,
            changes: EntryChanges::default(),
        }
    }

    /// `[account/]region/pl-…`, as logs and errors name it.
    pub fn name(&self) -> String {
        self.target.named(format!("{}/{}", self.target.region, self.target.id))
    }
}

impl ListReport {
    /// The list's line: where, what, its status and counts.
    fn write_line(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let grew = self
            .grew_to
            .map(|n| format!(", MaxEntries {} -> {n}", self.max_entries))
            .unwrap_or_default();
        writeln!(
            f,
            "{} prefix list {} {}: {} room left: {}{grew}",
            self.name(),
            self.target.scope,
            self.target.family,
            self.changes.counts(),
            self.room_left,
        )
    }
}

impl fmt::Display for ListReport {
    /// The list's line, its changes, its notes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_line(f)?;
        self.changes.write_details(f, &self.target.id)
    }
}

/// What happened to one WAF IP set.
#[derive(Debug, Clone, Serialize)]
pub struct IpSetReport {
    /// Which IP set (kind `waf-ip-set`; its `IPAddressVersion` as the family).
    #[serde(flatten)]
    pub target: EntryTarget,
    /// `REGIONAL` or `CLOUDFRONT`.
    pub waf_scope: WafScope,
    /// Its name.
    pub name: String,
    /// What the run did to its addresses (every address not wanted is removed: the set is wholly managed).
    #[serde(flatten)]
    pub changes: EntryChanges,
}

impl IpSetReport {
    /// A report of `tagged` with nothing done yet (status failed until something better is known).
    pub fn new(account: Option<String>, tagged: &TaggedIpSet) -> IpSetReport {
        IpSetReport {
            target: EntryTarget {
                kind: TargetKind::WafIpSet,
                account,
                region: tagged.region.clone(),
                id: tagged.set.id.clone(),
                scope: tagged.scope,
                family: tagged.set.family,
            },
            waf_scope: tagged.waf_scope,
            name: tagged.set.name.clone(),
            changes: EntryChanges::default(),
        }
    }

    /// `[account/]region/SCOPE/name`, as logs and errors name it.
    pub fn name(&self) -> String {
        self.target.named(format!(
            "{}/{}/{}",
            self.target.region,
            self.waf_scope.as_str(),
            self.name
        ))
    }
}

impl IpSetReport {
    /// The IP set's line: where, what, its status and counts.
    fn write_line(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} WAF IP set {} {}: {}",
            self.name(),
            self.target.scope,
            self.target.family,
            self.changes.counts(),
        )
    }
}

impl fmt::Display for IpSetReport {
    /// The IP set's line, its changes, its notes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_line(f)?;
        self.changes.write_details(f, &self.name)
    }
}

/// What became of a target: a set, a prefix list or a WAF IP set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetStatus {
    /// Nothing to do.
    InSync,
    /// Changes made.
    Synced,
    /// Dry run: changes computed, nothing written.
    Planned,
    /// The set already holds a newer file than this one: left as it was (a late or replayed event, or a
    /// lagging copy of the file). Not a failure.
    OlderFile,
    /// Deleted (or its tags removed) during the run: nothing left to sync. Not a failure.
    Gone,
    /// Left as it was, or partly changed: see `error`.
    Failed,
}

impl TargetStatus {
    /// How the text summary says it.
    pub fn as_str(self) -> &'static str {
        match self {
            TargetStatus::InSync => "in sync",
            TargetStatus::Synced => "synced",
            TargetStatus::Planned => "planned",
            TargetStatus::OlderFile => "kept: holds a newer file",
            TargetStatus::Gone => "gone: deleted during the run",
            TargetStatus::Failed => "failed",
        }
    }
}

/// A tagged group that could not be put in a set.
#[derive(Debug, Clone, Serialize)]
pub struct SkippedGroup {
    /// Its account, when the run syncs listed accounts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// Its region.
    pub region: String,
    /// Its id.
    pub group: String,
    /// Why, and what to change.
    pub reason: String,
}

/// A region whose targets could not be read (or whose interfaces could not be, for the attachment check).
#[derive(Debug, Clone, Serialize)]
pub struct FailedRegion {
    /// The account, when the run syncs listed accounts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// The region.
    pub region: String,
    /// What could not be read there for this cause (`security groups`, `prefix lists`, `WAF IP sets`).
    pub reads: Vec<String>,
    /// Why: what EC2, WAF or STS answered (the same cause of several reads said once).
    pub error: String,
    /// The error's type (`NoCredentials`, `Ec2Error`, …).
    pub kind: &'static str,
}

/// One account of a run over `ACCOUNTS`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountReport {
    /// Its id.
    pub account: String,
    /// The entry of `ACCOUNTS` that brought it in (the first that holds it).
    pub entry: AccountEntry,
    /// Synced, failed or skipped.
    pub status: AccountStatus,
    /// Why it was skipped: `excluded (EXCLUDE_ACCOUNTS)`, `suspended`, `pending closure`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// What became of one account of a run over `ACCOUNTS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountStatus {
    /// Nothing of it failed.
    Synced,
    /// A region, set, prefix list or IP set of it failed.
    Failed,
    /// Not synced: excluded, suspended or pending closure (see the report's `reason`).
    Skipped,
}

impl AccountStatus {
    /// `synced`, `failed` or `skipped`, as the text and the JSON say it.
    pub fn as_str(self) -> &'static str {
        match self {
            AccountStatus::Synced => "synced",
            AccountStatus::Failed => "failed",
            AccountStatus::Skipped => "skipped",
        }
    }
}

impl fmt::Display for AccountStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for AccountReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "account {} (from {}): {}", self.account, self.entry, self.status)?;
        match &self.reason {
            Some(reason) => writeln!(f, ", {reason}"),
            None => writeln!(f),
        }
    }
}

/// `region of account …`, or the region alone (the function's own account).
pub fn place(account: Option<&str>, region: &str) -> String {
    match account {
        Some(account) => format!("{region} of account {account}"),
        None => region.to_owned(),
    }
}

impl FailedRegion {
    /// `reads` of `region` (of `account`, if any) failed with `error`.
    pub fn new(account: Option<&str>, region: &str, reads: &str, error: &Error) -> FailedRegion {
        FailedRegion {
            account: account.map(str::to_owned),
            region: region.to_owned(),
            reads: vec![reads.to_owned()],
            error: error.cause(),
            kind: error.kind(),
        }
    }

    /// Where: the account (if any) and the region.
    pub fn place(&self) -> String {
        place(self.account.as_deref(), &self.region)
    }

    /// `region us-east-1 (security groups, prefix lists): why`, after the account if any.
    pub fn message(&self) -> String {
        self.message_of(&[&self.region])
    }

    /// As [`FailedRegion::message`], for `regions` that failed alike (`regions eu-west-1, us-east-1 (…): why`).
    fn message_of(&self, regions: &[&str]) -> String {
        let noun = if regions.len() > 1 { "regions" } else { "region" };
        let place = place(self.account.as_deref(), &regions.join(", "));
        format!("{noun} {place} ({}): {}", self.reads.join(", "), self.error)
    }

    /// The regions of `failed`, one per account, region and cause: reads that failed alike are said once.
    pub fn merged(failed: impl IntoIterator<Item = FailedRegion>) -> Vec<FailedRegion> {
        let mut merged: Vec<FailedRegion> = Vec::new();
        for region in failed {
            let same = |m: &&mut FailedRegion| {
                (&m.account, &m.region, &m.error) == (&region.account, &region.region, &region.error)
            };
            match merged.iter_mut().find(|m| same(m)) {
                Some(m) => {
                    for read in region.reads {
                        if !m.reads.contains(&read) {
                            m.reads.push(read);
                        }
                    }
                }
                None => merged.push(region),
            }
        }
        merged
    }
}

impl SkippedGroup {
    /// Where: the account (if any) and the region.
    pub fn place(&self) -> String {
        place(self.account.as_deref(), &self.region)
    }
}

impl Summary {
    /// One message per failed set, failed prefix list, failed WAF IP set, skipped group and unreadable region, in
    /// that order.
    pub fn failures(&self) -> Vec<String> {
        let sets = self.sets.iter().filter_map(|s| s.error.clone());
        let lists = self.prefix_lists.iter().filter_map(|l| l.changes.error.clone());
        let ip_sets = self.ip_sets.iter().filter_map(|s| s.changes.error.clone());
        let groups = self
            .skipped_groups
            .iter()
            .map(|g| format!("group {} in {} skipped: {}", g.group, g.place(), g.reason));
        let regions = self.failed_regions.iter().map(FailedRegion::message);
        sets.chain(lists).chain(ip_sets).chain(groups).chain(regions).collect()
    }

    /// `Err(SetsFailed)` if anything failed, so the invocation answers an error (after the summary is logged).
    pub fn into_result(self) -> Result<Summary> {
        let messages = self.failures();
        if messages.is_empty() {
            return Ok(self);
        }
        Err(Error::SetsFailed {
            sets_failed: self.sets.iter().filter(|s| s.error.is_some()).count(),
            sets: self.sets.len(),
            lists_failed: self.prefix_lists.iter().filter(|l| l.changes.error.is_some()).count(),
            lists: self.prefix_lists.len(),
            ip_sets_failed: self.ip_sets.iter().filter(|s| s.changes.error.is_some()).count(),
            ip_sets: self.ip_sets.len(),
            groups_skipped: self.skipped_groups.len(),
            // A region whose groups, lists and IP sets all failed to read is one region.
            regions_failed: self
                .failed_regions
                .iter()
                .map(|r| (&r.account, &r.region))
                .collect::<BTreeSet<_>>()
                .len(),
            kind: self.failure_kind(),
            messages,
        })
    }

    /// The errorType of a run where something failed: what failed when it is one thing, else `TargetsFailed`.
    fn failure_kind(&self) -> &'static str {
        let regions = self.failed_regions.iter().map(|r| match r.kind {
            kind @ ("NoCredentials" | "CredentialsError") => kind,
            _ => "RegionsUnreadable",
        });
        let targets = [
            (self.sets.iter().any(|s| s.error.is_some()), "SetsFailed"),
            (
                self.prefix_lists.iter().any(|l| l.changes.error.is_some()),
                "PrefixListsFailed",
            ),
            (self.ip_sets.iter().any(|s| s.changes.error.is_some()), "IpSetsFailed"),
            (!self.skipped_groups.is_empty(), "GroupsSkipped"),
        ];
        let kinds: BTreeSet<&'static str> = (targets.into_iter())
            .filter_map(|(failed, kind)| failed.then_some(kind))
            .chain(regions)
            .collect();
        match (kinds.len(), kinds.first()) {
            (1, Some(kind)) => kind,
            _ => "TargetsFailed",
        }
    }

    /// CIDRs authorized over every set, and entries added over every prefix list and WAF IP set.
    pub fn added(&self) -> usize {
        self.sets.iter().map(|s| s.added).sum::<usize>() + self.entry_changes().map(|c| c.added).sum::<usize>()
    }

    /// Rules revoked over every set, and entries removed over every prefix list and WAF IP set.
    pub fn removed(&self) -> usize {
        self.sets.iter().map(|s| s.removed).sum::<usize>() + self.entry_changes().map(|c| c.removed).sum::<usize>()
    }

    /// Record who the run's accounts were (`members`), each synced one `failed` if anything of it failed.
    pub fn set_accounts(&mut self, members: &Members) {
        let failed: BTreeSet<&str> = self
            .sets
            .iter()
            .filter(|s| s.error.is_some())
            .filter_map(|s| s.key.account.as_deref())
            .chain(
                self.prefix_lists
                    .iter()
                    .map(|l| (&l.target, &l.changes))
                    .chain(self.ip_sets.iter().map(|s| (&s.target, &s.changes)))
                    .filter(|(_, c)| c.error.is_some())
                    .filter_map(|(t, _)| t.account.as_deref()),
            )
            .chain(self.failed_regions.iter().filter_map(|r| r.account.as_deref()))
            .collect();
        let synced = members.synced.iter().map(|(account, entry)| AccountReport {
            account: account.clone(),
            entry: entry.clone(),
            status: if failed.contains(account.as_str()) {
                AccountStatus::Failed
            } else {
                AccountStatus::Synced
            },
            reason: None,
        });
        let skipped = members.skipped.iter().map(|(account, (entry, reason))| AccountReport {
            account: account.clone(),
            entry: entry.clone(),
            status: AccountStatus::Skipped,
            reason: Some(reason.to_string()),
        });
        self.accounts = synced.chain(skipped).collect();
        self.accounts.sort_by(|a, b| a.account.cmp(&b.account));
    }

    /// How many accounts were synced, failed and skipped.
    pub fn account_counts(&self) -> (usize, usize, usize) {
        let count = |status| self.accounts.iter().filter(|a| a.status == status).count();
        (
            count(AccountStatus::Synced),
            count(AccountStatus::Failed),
            count(AccountStatus::Skipped),
        )
    }

    /// Every mark the run did not trust, with where it was (`[account/]region`).
    pub fn forged_marks(&self) -> impl Iterator<Item = (String, &ForgedMark)> {
        let sets = self.sets.iter().flat_map(|s| {
            let place = place(s.key.account.as_deref(), &s.key.region);
            s.forged_marks.iter().map(move |m| (place.clone(), m))
        });
        let lists = self.prefix_lists.iter().map(|l| (&l.target, &l.changes));
        let entries = lists.chain(self.ip_sets.iter().map(|s| (&s.target, &s.changes)));
        let entries = entries.flat_map(|(t, c)| {
            let place = place(t.account.as_deref(), &t.region);
            c.forged_marks.iter().map(move |m| (place.clone(), m))
        });
        sets.chain(entries)
    }

    /// What the run did to every prefix list and WAF IP set.
    pub fn entry_changes(&self) -> impl Iterator<Item = &EntryChanges> {
        let lists = self.prefix_lists.iter().map(|l| &l.changes);
        lists.chain(self.ip_sets.iter().map(|s| &s.changes))
    }

    fn write_header(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = if self.dry_run { "plan" } else { "sync" };
        let date = self
            .create_date
            .as_deref()
            .map(|d| format!(" ({d})"))
            .unwrap_or_default();
        let late = if self.late_notification {
            ", newer than the notification"
        } else {
            ""
        };
        writeln!(
            f,
            "{what} of {} ({}) syncToken {}{date}{late}, in {}",
            self.service,
            self.ip_versions,
            self.sync_token,
            self.regions.join(",")
        )?;
        if self.sets.is_empty() && self.failed_regions.is_empty() {
            writeln!(
                f,
                "no tagged security groups found in {} (Name=cloudfront_g|cloudfront_r, AutoUpdate=true)",
                self.regions.join(",")
            )?;
        }
        Ok(())
    }
}

impl Summary {
    /// The plan or result in brief: the header, one line per target (the first line of its report, which says
    /// its status and counts) and its error if any, then what was skipped or unreadable; no per-CIDR lines.
    pub fn brief(&self) -> String {
        Brief(self).to_string()
    }
}

/// A summary in brief (see [`Summary::brief`]).
struct Brief<'a>(&'a Summary);

impl fmt::Display for Brief<'_> {
    /// Each target's line and notes (a forged mark, the error), from the data: no per-CIDR line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let summary = self.0;
        summary.write_header(f)?;
        for set in &summary.sets {
            set.write_line(f)?;
            set.write_notes(f)?;
        }
        for list in &summary.prefix_lists {
            list.write_line(f)?;
            list.changes.write_notes(f)?;
        }
        for ip_set in &summary.ip_sets {
            ip_set.write_line(f)?;
            ip_set.changes.write_notes(f)?;
        }
        summary.write_trailer(f)
    }
}

impl fmt::Display for Summary {
    /// A plan or a result a person can read: one line per set, then each group's changes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_header(f)?;
        self.sets.iter().try_for_each(|s| write!(f, "{s}"))?;
        self.prefix_lists.iter().try_for_each(|l| write!(f, "{l}"))?;
        self.ip_sets.iter().try_for_each(|s| write!(f, "{s}"))?;
        let mut synced = self.accounts.iter().filter(|a| a.status == AccountStatus::Synced);
        synced.try_for_each(|a| write!(f, "{a}"))?;
        self.write_trailer(f)
    }
}

impl Summary {
    fn write_trailer(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.accounts.is_empty() {
            let mut others = self.accounts.iter().filter(|a| a.status != AccountStatus::Synced);
            others.try_for_each(|a| write!(f, "{a}"))?;
            let (synced, failed, skipped) = self.account_counts();
            writeln!(f, "accounts: {synced} synced, {failed} failed, {skipped} skipped")?;
        }
        for g in &self.skipped_groups {
            writeln!(f, "skipped {} in {}: {}", g.group, g.place(), g.reason)?;
        }
        // Regions that failed alike (an endpoint nobody answers at, no credentials) are one line.
        let mut alike: Vec<(&FailedRegion, Vec<&str>)> = Vec::new();
        for r in &self.failed_regions {
            let same = |(first, _): &&mut (&FailedRegion, Vec<&str>)| {
                (&first.account, &first.reads, &first.error) == (&r.account, &r.reads, &r.error)
            };
            match alike.iter_mut().find(|a| same(a)) {
                Some((_, regions)) => regions.push(&r.region),
                None => alike.push((r, vec![&r.region])),
            }
        }
        for (r, regions) in alike {
            writeln!(f, "failed {}", r.message_of(&regions))?;
        }
        for r in &self.attachment_unchecked {
            writeln!(f, "warning: attachment not checked in {}: {}", r.place(), r.error)?;
        }
        for n in &self.not_synced {
            writeln!(f, "{}", n.line())?;
        }
        Ok(())
    }
}

impl SetReport {
    /// The set's line: its key, its groups, its status and counts.
    fn write_line(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let room: Vec<String> = self.room_left.iter().map(|(v, n)| format!("{v} {n}")).collect();
        // A set kept, or failed before it was planned, has no room counted: unknown, not zero.
        let room = match room.is_empty() {
            true => "unknown".to_owned(),
            false => room.join(", "),
        };
        writeln!(
            f,
            "{} [{}] {} room left: {room}",
            self.key,
            self.groups.join(","),
            counts(self.status, self.added, self.removed, self.unchanged),
        )
    }

    /// The lines under the set's line, one each: its warnings (attached in part, over the quota, near full), a
    /// group gone, its forged marks, its error.
    fn write_notes(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for p in &self.partly_attached {
            writeln!(
                f,
                "  warning: {} ({}) lacks {}: the set is attached only in part, its ranges there are blocked",
                p.interface,
                p.attachment,
                p.missing.join(",")
            )?;
        }
        for (version, over) in &self.over_quota {
            writeln!(
                f,
                "  warning: over its quota: its groups hold {over} {version} rule(s) beyond MAX_RULES_PER_GROUP; set it to your account's rules per security group (Service Quotas)"
            )?;
        }
        if self.near_full {
            writeln!(
                f,
                "  warning: {}% full: add a group with the same tags before CloudFront publishes more ranges",
                self.percent_full
            )?;
        }
        if !self.gone_groups.is_empty() {
            writeln!(
                f,
                "  note: {} went away during the run; the set was synced with the groups left",
                self.gone_groups.join(",")
            )?;
        }
        write_forged(f, &self.forged_marks, self.status)?;
        write_error(f, self.error.as_deref())
    }
}

impl fmt::Display for SetReport {
    /// The set's line, its groups' changes, its warnings and notes, its error.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_line(f)?;
        let port = self.key.port;
        for (group, p) in &self.changes {
            let adds = p.authorize.iter().map(|c| ('+', *c, port, ""));
            let revokes = p
                .revoke
                .iter()
                .flat_map(|(port, cidrs)| cidrs.iter().map(move |c| ('-', *c, *port, "")));
            let after = p
                .authorize_after_revoke
                .iter()
                .map(|c| ('+', *c, port, " (after the revokes)"));
            for (sign, cidr, port, note) in adds.chain(revokes).chain(after) {
                writeln!(f, "  {group} {sign} {cidr} tcp/{port}{note}")?;
            }
        }
        self.write_notes(f)
    }
}

/// A warning line per forged mark of a target: the value it carried, why it was not trusted, and what became
/// of it (replaced when the target synced; kept by a dry run or a failure).
fn write_forged(f: &mut fmt::Formatter<'_>, forged: &[ForgedMark], status: TargetStatus) -> fmt::Result {
    let fate = match status {
        TargetStatus::Synced | TargetStatus::InSync => "replaced with the file applied",
        TargetStatus::Planned => "would be replaced (dry run)",
        _ => "not replaced yet",
    };
    for m in forged {
        writeln!(
            f,
            "  warning: forged mark on {}: {:?} ({}): not trusted, {fate}; who may tag it? (README: Who may tag)",
            m.target, m.value, m.reason
        )?;
    }
    Ok(())
}

/// The error line of a set, if it has one.
fn write_error(f: &mut fmt::Formatter<'_>, error: Option<&str>) -> fmt::Result {
    match error {
        Some(e) => writeln!(f, "  error: {e}"),
        None => Ok(()),
    }
}

/// What a target holds of ours, and what `remove` took back (see [`crate::sync::remove`]).
#[derive(Debug, Clone, Serialize)]
pub struct RemovalReport {
    /// A security group set, a prefix list or a WAF IP set.
    pub kind: TargetKind,
    /// Its account, when the run names accounts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// Its region.
    pub region: String,
    /// The set (region/vpc/scope/protocol), the list's id, or the IP set's scope and name.
    pub target: String,
    /// Rules, entries or addresses of ours it holds (an IP set's every address).
    pub held: usize,
    /// How many were removed (with `--apply`).
    pub removed: usize,
    /// Everything was removed and the record of the file applied cleared.
    pub done: bool,
    /// Why not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl RemovalReport {
    /// A target holding `held` of ours, nothing removed yet.
    pub fn new(kind: TargetKind, account: Option<&str>, region: &str, target: String, held: usize) -> RemovalReport {
        RemovalReport {
            kind,
            account: account.map(str::to_owned),
            region: region.to_owned(),
            target,
            held,
            removed: 0,
            done: false,
            error: None,
        }
    }

    /// Record how the removal ended.
    pub fn finish(&mut self, outcome: Result<()>) {
        self.done = outcome.is_ok();
        self.error = outcome.err().map(|e| e.to_string());
    }
}

impl fmt::Display for RemovalReport {
    /// `[account/]region kind target: N of ours: removed | to remove (--apply removes them)`, and the error.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let account = self.account.as_deref().map(|a| format!("{a}/")).unwrap_or_default();
        let done = match (self.done, &self.error) {
            (true, _) => format!("{} removed, record cleared", self.removed),
            (false, Some(e)) => format!("{} removed, then: {e}", self.removed),
            (false, None) => "to remove (--apply removes them)".to_owned(),
        };
        let (region, kind, target, held) = (&self.region, self.kind, &self.target, self.held);
        writeln!(f, "{account}{region} {kind} {target}: {held} of ours: {done}")
    }
}

/// A target that records a file applied (see [`crate::sync::unmark`]).
#[derive(Debug, Clone, Serialize)]
pub struct MarkReport {
    /// A security group set, a prefix list or a WAF IP set.
    pub kind: TargetKind,
    /// Its account, when the run names accounts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// Its region.
    pub region: String,
    /// The set (region/vpc/scope/protocol), the list's id, or the IP set's scope and name.
    pub target: String,
    /// The `syncToken` it records.
    pub sync_token: u64,
    /// The record was removed.
    pub cleared: bool,
    /// Why it could not be removed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl MarkReport {
    /// A target recording `mark`, not cleared yet.
    pub fn new(
        kind: TargetKind,
        account: Option<&str>,
        region: &str,
        target: String,
        mark: &AppliedMark,
    ) -> MarkReport {
        MarkReport {
            kind,
            account: account.map(str::to_owned),
            region: region.to_owned(),
            target,
            sync_token: mark.sync_token,
            cleared: false,
            error: None,
        }
    }
}

impl fmt::Display for MarkReport {
    /// `[account/]region kind target: syncToken N: cleared | kept (--apply clears it)`, and the error.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let account = self.account.as_deref().map(|a| format!("{a}/")).unwrap_or_default();
        let done = match (self.cleared, &self.error) {
            (true, _) => "cleared".to_owned(),
            (false, Some(e)) => format!("not cleared: {e}"),
            (false, None) => "recorded (--apply clears it)".to_owned(),
        };
        let target = &self.target;
        writeln!(
            f,
            "{account}{} {} {target}: syncToken {}: {done}",
            self.region, self.kind, self.sync_token
        )
    }
}

/// Rules on a set's port that this tool did not create, per group (see [`crate::sync::adopt`]).
#[derive(Debug, Clone, Serialize)]
pub struct UnmanagedSet {
    /// Which set.
    #[serde(flatten)]
    pub key: SetKey,
    /// Per group with any, its unmanaged rules on the port.
    pub groups: BTreeMap<String, Unmanaged>,
    /// The adoptable rules were given our description.
    pub adopted: bool,
    /// Why adopting failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl fmt::Display for UnmanagedSet {
    /// The set, then each unmanaged rule and what becomes (or became) of it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.key)?;
        if self.groups.is_empty() {
            writeln!(f, "  no unmanaged rules on the port")?;
        }
        let adoptable = if self.adopted {
            "adopted (a CloudFront range)"
        } else {
            "adoptable (a CloudFront range)"
        };
        for (group, u) in &self.groups {
            let notes = u.adoptable.iter().map(|c| (c, adoptable));
            let others = u.other.iter().map(|c| (c, "left alone (not a CloudFront range)"));
            for (cidr, note) in notes.chain(others) {
                writeln!(f, "  {group} {cidr}: {note}")?;
            }
        }
        write_error(f, self.error.as_deref())
    }
}
