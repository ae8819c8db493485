//! The reports of the commands that act on the targets beside the sync: `remove` (what a target holds of ours,
//! and what was taken back), `unmark` (the record of the file applied) and `adopt` (rules this tool did not
//! create).

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use super::text::write_error;
use crate::domain::TargetKind;
use crate::domain::security_groups::{AppliedMark, SetKey, Unmanaged};
use crate::error::Result;

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
