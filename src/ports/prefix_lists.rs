//! The port through which a run reads and changes customer-managed prefix lists tagged for the sync (a second
//! target beside security groups; see [`crate::domain::prefix_lists`]). The adapter is [`crate::adapters::prefix_lists`].

use std::collections::BTreeSet;
use std::future::Future;

use super::Found;
use crate::domain::ip_ranges::Scope;
use crate::domain::prefix_lists::{List, Modification};
use crate::domain::security_groups::{AppliedMark, Group, MarkTag};
use crate::error::Result;

/// A prefix list tagged `AutoUpdate=true` and `Name=cloudfront_g|cloudfront_r`, with its entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaggedList {
    /// Its region.
    pub region: String,
    /// The `Name` tag: which ranges it holds.
    pub scope: Scope,
    /// Its version: every modification names it, and fails if another writer changed the list since.
    pub version: i64,
    /// Its state (`create-complete`, `modify-in-progress`, …).
    pub state: String,
    /// Its [`crate::domain::security_groups::SYNC_TOKEN_TAG`] tag: the file last applied to it, once trusted (an
    /// older file is refused).
    pub mark: Option<MarkTag>,
    /// Its id, family, size and entries.
    pub list: List,
}

/// A list's state as a describe shows it now.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListState {
    /// `create-complete`, `modify-in-progress`, `modify-failed`, …; empty when the list is gone.
    pub state: String,
    /// Its version.
    pub version: i64,
    /// EC2's `StateMessage`: why a modification failed (for example the resources that cannot take a new size).
    pub message: Option<String>,
}

/// Where prefix lists live.
pub trait PrefixLists: Send + Sync {
    /// Every prefix list in `region` tagged for the sync (all pages), each with all its entries; and those with
    /// a `Name` of ours that are not (their entries not read).
    fn tagged_lists(&self, region: &str) -> impl Future<Output = Result<Found<TaggedList>>> + Send;

    /// Add and remove entries of `list` (added entries get `description`). Returns the new version.
    fn modify(
        &self,
        list: ListAt<'_>,
        change: &Modification,
        description: &str,
    ) -> impl Future<Output = Result<i64>> + Send;

    /// Raise `list`'s `MaxEntries` (a call of its own: EC2 does not change size and entries together).
    /// Returns the version EC2 answers: a resize makes no new one (versions count entry changes only).
    fn set_max_entries(&self, list: ListAt<'_>, max_entries: usize) -> impl Future<Output = Result<i64>> + Send;

    /// List `id` as it is now: its state, version and state message (to wait out `modify-in-progress`).
    fn state(&self, region: &str, id: &str) -> impl Future<Output = Result<ListState>> + Send;

    /// Remove from list `id` the record of the file applied (`cloudfront-sg-sync unmark`).
    fn clear_mark(&self, region: &str, id: &str) -> impl Future<Output = Result<()>> + Send;

    /// Record on list `id` the file applied to it, as the [`crate::domain::security_groups::SYNC_TOKEN_TAG`] tag.
    fn mark_applied(&self, region: &str, id: &str, mark: &AppliedMark) -> impl Future<Output = Result<()>> + Send;

    /// List `id` read again with its entries (to re-plan after another writer changed it); `None` when it is
    /// gone or no longer tagged for the sync.
    fn list(&self, region: &str, id: &str) -> impl Future<Output = Result<Option<TaggedList>>> + Send;

    /// Every security group of `region` with an inbound rule that references one of `lists`, with its rules
    /// (what filling a list opens).
    fn groups_referencing(
        &self,
        region: &str,
        lists: &BTreeSet<String>,
    ) -> impl Future<Output = Result<Vec<Group>>> + Send;
}

/// A list to write to, at the version the write was planned from.
#[derive(Debug, Clone, Copy)]
pub struct ListAt<'a> {
    /// The list's region.
    pub region: &'a str,
    /// `pl-…`.
    pub id: &'a str,
    /// The version read: the write fails if another writer changed the list since.
    pub version: i64,
}
