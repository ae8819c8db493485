//! What a run answers, as data: the [`Summary`] of a sync (JSON for the Lambda and `--json`) and the report of
//! each target. Built by [`crate::sync`].
//!
//! - `text.rs`: how a person reads them (the CLI's text and brief), each rendered from the data.
//! - `commands.rs`: the reports of `adopt`, `remove` and `unmark`.

mod commands;
mod text;

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::domain::attachment::PartlyAttached;
use crate::domain::cidr::{Cidr, IpVersion};
use crate::domain::ip_ranges::Scope;
use crate::domain::organization::{AccountEntry, Members};
use crate::domain::security_groups::{ForgedMark, GroupPlan, SetKey};
use crate::domain::{NotSynced, TargetKind};
use crate::error::{Error, Result};
use crate::ports::{TaggedIpSet, WafScope};

pub use commands::{MarkReport, RemovalReport, UnmanagedSet};

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
}
