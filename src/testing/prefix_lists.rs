//! The fake of [`PrefixLists`]: customer-managed lists with versions (a write at a stale one is refused), a
//! state that stays `modify-in-progress` for some looks, another writer's entries, a write EC2 fails
//! (`modify-failed` with a `StateMessage`), and reads that lag writes.

use std::collections::{BTreeMap, BTreeSet};

use super::{FakeEc2, Op, State};
use crate::domain::cidr::IpVersion;
use crate::domain::ip_ranges::Scope;
use crate::domain::prefix_lists::{ENTRIES_PER_CALL, Entry, List, Modification};
use crate::domain::security_groups::{AppliedMark, Group, MarkTag, SYNC_TOKEN_TAG};
use crate::domain::{NotSynced, TargetKind, auto_update_on};
use crate::error::{Error, Result};
use crate::ports::{Found, ListAt, ListState, PrefixLists, TaggedList};

/// A customer-managed prefix list held in memory, in us-east-1.
#[derive(Debug, Clone)]
pub struct FakeList {
    pub tags: BTreeMap<String, String>,
    pub family: IpVersion,
    pub max_entries: usize,
    pub version: i64,
    pub state: String,
    pub entries: Vec<Entry>,
    /// Looks at its state still answering `modify-in-progress` after a write.
    pub busy_looks: usize,
    /// Its `StateMessage`.
    pub message: Option<String>,
}

impl FakeEc2 {
    /// Add a prefix list with these tags, family, size and entries (version 1, `create-complete`).
    pub fn add_list(
        &self,
        id: &str,
        tags: &[(&str, &str)],
        family: IpVersion,
        max_entries: usize,
        entries: Vec<Entry>,
    ) {
        let list = FakeList {
            tags: tags.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
            family,
            max_entries,
            version: 1,
            state: "create-complete".into(),
            entries,
            busy_looks: 0,
            message: None,
        };
        self.state().lists.insert(id.to_owned(), list);
    }

    /// A list as it is now.
    pub fn list(&self, id: &str) -> Option<FakeList> {
        self.state().lists.get(id).cloned()
    }

    /// Set a list's state (`modify-in-progress`, …) and how many looks at it still answer so.
    pub fn set_list_state(&self, id: &str, state: &str, looks: usize) {
        if let Some(l) = self.state().lists.get_mut(id) {
            l.state = state.to_owned();
            l.busy_looks = looks;
        }
    }

    /// After each write to a list, `looks` looks at its state answer `modify-in-progress` before it settles.
    /// Answer every resize without applying it: MaxEntries stays as it was.
    pub fn ignore_resizes(&self) {
        self.state().ignore_resizes = true;
    }

    pub fn busy_after_write(&self, looks: usize) {
        self.state().busy_after_write = looks;
    }

    /// Before the next modification of list `id`: another writer adds `entries`, moving its version on (so our
    /// call, made at the version we read, fails with `PrefixListVersionMismatch`). Once.
    pub fn interfere_with_list(&self, id: &str, entries: Vec<Entry>) {
        self.state().list_interference.push((id.to_owned(), entries));
    }

    /// A write to list `id` is about to be made: remember it as it is, for the lagging reads.
    fn before_list_write(state: &mut State, id: &str) {
        if let Some(list) = state.lists.get(id).cloned() {
            let lag = state.lag_reads;
            state.stale_lists.written(id, list, lag);
        }
    }
}

fn tagged_list(region: &str, id: &str, l: &FakeList) -> Option<TaggedList> {
    let scope = l.tags.get("Name").and_then(|v| Scope::from_tag_value(v))?;
    auto_update_on(l.tags.get("AutoUpdate").map(String::as_str)).then(|| TaggedList {
        region: region.to_owned(),
        scope,
        version: l.version,
        state: l.state.clone(),
        mark: l.tags.get(SYNC_TOKEN_TAG).map(|v| MarkTag::read(v)),
        list: List {
            id: id.to_owned(),
            family: l.family,
            max_entries: l.max_entries,
            entries: l.entries.clone(),
        },
    })
}

impl FakeEc2 {
    /// EC2's checks of a modification of `list`, and another writer's change when one is due.
    fn check_modify(&self, list: ListAt<'_>) -> Result<()> {
        let mut state = self.state();
        if let Some(i) = state.list_interference.iter().position(|(id, _)| id == list.id) {
            let (_, entries) = state.list_interference.remove(i);
            if let Some(l) = state.lists.get_mut(list.id) {
                l.entries.extend(entries);
                l.version += 1;
            }
        }
        let l = state.lists.get(list.id);
        let code = match l {
            None => Some("InvalidPrefixListID.NotFound"),
            Some(l) if l.state.ends_with("-in-progress") => Some("IncorrectState"),
            Some(l) if l.version != list.version => Some("PrefixListVersionMismatch"),
            Some(_) => None,
        };
        code.map_or(Ok(()), |code| {
            Err(Error::Ec2 {
                operation: "fake",
                region: list.region.to_owned(),
                group: Some(list.id.to_owned()),
                message: format!("{code} from the fake"),
                code: code.to_owned(),
            })
        })
    }

    /// The next write to list `id` ends in `modify-failed`, EC2 saying `message` as its `StateMessage`.
    pub fn fail_next_list_write(&self, id: &str, message: &str) {
        self.state().list_failure = Some((id.to_owned(), message.to_owned()));
    }

    /// A write was applied to list `id`: it is busy for the looks configured, then settles.
    fn written(state: &mut State, id: &str, state_after: &str) {
        if state.list_failure.as_ref().is_some_and(|(l, _)| l == id) {
            let message = state.list_failure.take().map(|(_, m)| m);
            if let Some(l) = state.lists.get_mut(id) {
                (l.state, l.message) = ("modify-failed".to_owned(), message);
            }
            return;
        }
        let busy = state.busy_after_write;
        if let Some(l) = state.lists.get_mut(id) {
            l.version += 1;
            l.state = if busy > 0 {
                "modify-in-progress".into()
            } else {
                state_after.to_owned()
            };
            l.busy_looks = busy;
        }
    }
}

impl PrefixLists for FakeEc2 {
    async fn tagged_lists(&self, region: &str) -> Result<Found<TaggedList>> {
        self.enter(Op::Lists, region, None).await?;
        let state = self.state();
        let not_synced = state.lists.iter().filter_map(|(id, l)| {
            let tag = |key: &str| l.tags.get(key).map(String::as_str);
            NotSynced::of(TargetKind::PrefixList, region, id, tag("Name"), tag("AutoUpdate"))
        });
        Ok(Found {
            tagged: state
                .lists
                .iter()
                .filter_map(|(id, l)| tagged_list(region, id, l))
                .collect(),
            not_synced: not_synced.collect(),
        })
    }

    async fn modify(&self, list: ListAt<'_>, change: &Modification, description: &str) -> Result<i64> {
        self.enter(Op::Modify, list.region, Some(list.id)).await?;
        assert!(change.add.len() <= ENTRIES_PER_CALL && change.remove.len() <= ENTRIES_PER_CALL);
        self.check_modify(list)?;
        let mut state = self.state();
        Self::before_list_write(&mut state, list.id);
        if let Some(l) = state.lists.get_mut(list.id) {
            l.entries.retain(|e| !change.remove.contains(&e.cidr));
            l.entries.extend(change.add.iter().map(|c| Entry {
                cidr: *c,
                description: Some(description.to_owned()),
            }));
            assert!(l.entries.len() <= l.max_entries, "{} over MaxEntries", list.id);
        }
        Self::written(&mut state, list.id, "modify-complete");
        Ok(list.version + 1)
    }

    async fn set_max_entries(&self, list: ListAt<'_>, max_entries: usize) -> Result<i64> {
        self.enter(Op::Grow, list.region, Some(list.id)).await?;
        self.check_modify(list)?;
        let mut state = self.state();
        Self::before_list_write(&mut state, list.id);
        let applied = !state.ignore_resizes;
        if let Some(l) = state.lists.get_mut(list.id).filter(|_| applied) {
            l.max_entries = max_entries;
        }
        // A resize makes no new version (AWS documents versions for entries only; moto agrees).
        Self::written(&mut state, list.id, "modify-complete");
        if let Some(l) = state.lists.get_mut(list.id) {
            l.version = list.version;
        }
        Ok(list.version)
    }

    async fn state(&self, region: &str, id: &str) -> Result<ListState> {
        self.enter(Op::ListState, region, Some(id)).await?;
        let mut state = self.state();
        if let Some(stale) = state.stale_lists.read(id) {
            return Ok(ListState {
                state: stale.state,
                version: stale.version,
                message: stale.message,
            });
        }
        let Some(l) = state.lists.get_mut(id) else {
            return Ok(ListState::default());
        };
        let seen = |l: &FakeList| ListState {
            state: l.state.clone(),
            version: l.version,
            message: l.message.clone(),
        };
        if l.busy_looks > 0 {
            l.busy_looks -= 1;
            return Ok(seen(l));
        }
        if l.state.ends_with("-in-progress") {
            l.state = l.state.replace("-in-progress", "-complete");
        }
        Ok(seen(l))
    }

    async fn groups_referencing(&self, region: &str, lists: &BTreeSet<String>) -> Result<Vec<Group>> {
        self.enter(Op::ListReferences, region, None).await?;
        let state = self.state();
        let groups = (state.groups.iter())
            .filter(|(_, g)| g.region == region && g.rules.iter().any(|r| r.from_any_list(lists)))
            .map(|(id, g)| Group {
                id: id.clone(),
                rules: g.rules.clone(),
            });
        Ok(groups.collect())
    }

    async fn clear_mark(&self, region: &str, id: &str) -> Result<()> {
        self.enter(Op::Untag, region, Some(id)).await?;
        if let Some(l) = self.state().lists.get_mut(id) {
            l.tags.remove(SYNC_TOKEN_TAG);
        }
        Ok(())
    }

    async fn mark_applied(&self, region: &str, id: &str, mark: &AppliedMark) -> Result<()> {
        self.enter(Op::Tag, region, Some(id)).await?;
        let mut state = self.state();
        let Some(l) = state.lists.get_mut(id) else {
            return Err(Error::Ec2 {
                operation: "CreateTags",
                region: region.to_owned(),
                group: Some(id.to_owned()),
                code: "InvalidPrefixListID.NotFound".to_owned(),
                message: "gone".to_owned(),
            });
        };
        l.tags.insert(SYNC_TOKEN_TAG.to_owned(), mark.to_string());
        Ok(())
    }

    async fn list(&self, region: &str, id: &str) -> Result<Option<TaggedList>> {
        self.enter(Op::ListRead, region, Some(id)).await?;
        let mut state = self.state();
        let seen = state.stale_lists.read(id).or_else(|| state.lists.get(id).cloned());
        Ok(seen.and_then(|l| tagged_list(region, id, &l)))
    }
}
