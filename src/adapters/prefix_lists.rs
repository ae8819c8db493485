//! Customer-managed prefix lists: [`PrefixLists`] over `aws-sdk-ec2`, on the clients of [`Ec2`].

use aws_sdk_ec2::operation::modify_managed_prefix_list::builders::ModifyManagedPrefixListFluentBuilder;
use aws_sdk_ec2::types::{AddPrefixListEntry, ManagedPrefixList, RemovePrefixListEntry};

use std::collections::BTreeSet;

use super::ec2::{Ec2, filter, mark_of, name_tag_filter, tag_value};
use super::security_groups::rules_of;
use crate::domain::cidr::{Cidr, IpVersion};
use crate::domain::ip_ranges::Scope;
use crate::domain::prefix_lists::{Entry, List, Modification};
use crate::domain::security_groups::{AppliedMark, Group, SYNC_TOKEN_TAG};
use crate::domain::{NotSynced, TargetKind, auto_update_on};
use crate::error::Result;
use crate::ports::{Found, ListAt, ListState, PrefixLists, TaggedList};

/// A list with a `Name` of ours whose `AutoUpdate` is not `true`, as the run names it.
fn not_synced(region: &str, list: &ManagedPrefixList) -> Option<NotSynced> {
    let (tags, id) = (list.tags(), list.prefix_list_id().unwrap_or_default());
    let kind = TargetKind::PrefixList;
    NotSynced::of(kind, region, id, tag_value(tags, "Name"), tag_value(tags, "AutoUpdate"))
}

/// The list as the core sees it, without its entries yet; `None` when it lacks an id or the tags (`Name` checked
/// again, `AutoUpdate` here only).
fn tagged_list(region: &str, list: &ManagedPrefixList) -> Option<TaggedList> {
    let tags = list.tags();
    let scope = tag_value(tags, "Name").and_then(Scope::from_tag_value)?;
    if !auto_update_on(tag_value(tags, "AutoUpdate")) {
        return None;
    }
    let family = match list.address_family() {
        Some(f) if f.eq_ignore_ascii_case("IPv6") => IpVersion::Ipv6,
        _ => IpVersion::Ipv4,
    };
    let id = list.prefix_list_id()?;
    Some(TaggedList {
        region: region.to_owned(),
        scope,
        version: list.version().unwrap_or(0),
        state: list.state().map(|s| s.as_str().to_owned()).unwrap_or_default(),
        mark: mark_of(tag_value(tags, SYNC_TOKEN_TAG)),
        list: List {
            id: id.to_owned(),
            family,
            max_entries: list.max_entries().and_then(|n| usize::try_from(n).ok()).unwrap_or(0),
            entries: Vec::new(),
        },
    })
}

impl Ec2 {
    /// List `id` as EC2 describes it now; `None` when it is gone. By the `prefix-list-id` filter: a list deleted
    /// since is absent, not an error (`PrefixListIds` fails the call).
    async fn describe_list(&self, region: &str, id: &str) -> Result<Option<ManagedPrefixList>> {
        let output = self
            .call("DescribeManagedPrefixLists", region, Some(id), |c, o| {
                c.describe_managed_prefix_lists()
                    .filters(filter("prefix-list-id", [id]))
                    .customize()
                    .config_override(o)
                    .send()
            })
            .await?;
        Ok(output.prefix_lists.and_then(|lists| lists.into_iter().next()))
    }

    /// Every entry of list `id`, all pages. An entry whose CIDR cannot be read is left out (it is not ours).
    async fn entries(&self, region: &str, id: &str) -> Result<Vec<Entry>> {
        let entries = self
            .pages(
                "GetManagedPrefixListEntries",
                region,
                |c, o, token| {
                    let request = c.get_managed_prefix_list_entries().prefix_list_id(id).max_results(100);
                    request.set_next_token(token).customize().config_override(o).send()
                },
                |page| page.next_token(),
                |page| page.entries,
            )
            .await?;
        Ok(entries
            .iter()
            .filter_map(|e| {
                Some(Entry {
                    cidr: e.cidr()?.parse::<Cidr>().ok()?,
                    description: e.description().map(str::to_owned),
                })
            })
            .collect())
    }

    /// One ModifyManagedPrefixList of `list` at its version, the rest of the request from `request`: the
    /// version it made, or `otherwise` when EC2 does not say.
    async fn modify_list(
        &self,
        list: ListAt<'_>,
        request: impl FnOnce(ModifyManagedPrefixListFluentBuilder) -> ModifyManagedPrefixListFluentBuilder,
        otherwise: i64,
    ) -> Result<i64> {
        let ListAt { region, id, version } = list;
        let output = self
            .call("ModifyManagedPrefixList", region, Some(id), |c, o| {
                let r = c
                    .modify_managed_prefix_list()
                    .prefix_list_id(id)
                    .current_version(version);
                request(r).customize().config_override(o).send()
            })
            .await?;
        Ok(output
            .prefix_list()
            .and_then(ManagedPrefixList::version)
            .unwrap_or(otherwise))
    }
}

impl PrefixLists for Ec2 {
    async fn tagged_lists(&self, region: &str) -> Result<Found<TaggedList>> {
        // One tag filter; `AutoUpdate` is checked here (a list whose `AutoUpdate` is not `true` is named as not
        // synced; moto also fails a describe with two tag filters that both exclude a list).
        let lists = self
            .prefix_lists_where(region, vec![name_tag_filter()], Some(100))
            .await?;
        let mut found = Found {
            tagged: lists.iter().filter_map(|l| tagged_list(region, l)).collect(),
            not_synced: lists.iter().filter_map(|l| not_synced(region, l)).collect(),
        };
        for tagged in &mut found.tagged {
            tagged.list.entries = self.entries(region, &tagged.list.id).await?;
        }
        Ok(found)
    }

    async fn list(&self, region: &str, id: &str) -> Result<Option<TaggedList>> {
        let Some(mut tagged) = self
            .describe_list(region, id)
            .await?
            .and_then(|l| tagged_list(region, &l))
        else {
            return Ok(None);
        };
        tagged.list.entries = self.entries(region, id).await?;
        Ok(Some(tagged))
    }

    async fn modify(&self, list: ListAt<'_>, change: &Modification, description: &str) -> Result<i64> {
        let version = list.version;
        let adds: Vec<AddPrefixListEntry> = change
            .add
            .iter()
            .map(|c| {
                AddPrefixListEntry::builder()
                    .cidr(c.to_string())
                    .description(description)
                    .build()
            })
            .collect();
        let removes: Vec<RemovePrefixListEntry> = change
            .remove
            .iter()
            .map(|c| RemovePrefixListEntry::builder().cidr(c.to_string()).build())
            .collect();
        let request =
            |r: ModifyManagedPrefixListFluentBuilder| r.set_add_entries(Some(adds)).set_remove_entries(Some(removes));
        self.modify_list(list, request, version + 1).await
    }

    async fn set_max_entries(&self, list: ListAt<'_>, max_entries: usize) -> Result<i64> {
        let max_entries = i32::try_from(max_entries).unwrap_or(i32::MAX);
        self.modify_list(list, |r| r.max_entries(max_entries), list.version)
            .await
    }

    async fn state(&self, region: &str, id: &str) -> Result<ListState> {
        let Some(list) = self.describe_list(region, id).await? else {
            return Ok(ListState::default());
        };
        Ok(ListState {
            state: list.state().map(|s| s.as_str().to_owned()).unwrap_or_default(),
            version: list.version().unwrap_or(0),
            message: list.state_message().filter(|m| !m.is_empty()).map(str::to_owned),
        })
    }

    async fn clear_mark(&self, region: &str, id: &str) -> Result<()> {
        self.delete_mark_tags(region, &[id.to_owned()]).await
    }

    async fn mark_applied(&self, region: &str, id: &str, mark: &AppliedMark) -> Result<()> {
        self.create_mark_tags(region, &[id.to_owned()], mark).await
    }

    /// Every group of the region, all pages, kept when a rule references one of `lists`: one paged call that
    /// every EC2 (and emulator) answers, with the permission the function has (`ec2:DescribeSecurityGroups`).
    async fn groups_referencing(&self, region: &str, lists: &BTreeSet<String>) -> Result<Vec<Group>> {
        let all = self.security_groups_where(region, Vec::new()).await?;
        let groups = all.iter().filter_map(|sg| {
            let rules = rules_of(sg.ip_permissions());
            let id = sg.group_id()?.to_owned();
            rules
                .iter()
                .any(|r| r.from_any_list(lists))
                .then_some(Group { id, rules })
        });
        Ok(groups.collect())
    }
}
