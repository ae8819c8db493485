//! The port through which the sync reads and changes security groups. SDK-free: the adapter
//! ([`crate::adapters::ec2`]) turns EC2's types into these.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;

use super::Found;
use crate::domain::cidr::Cidr;
use crate::domain::ip_ranges::Scope;
use crate::domain::security_groups::{AppliedMark, Group, MarkTag, PrefixListWeights};
use crate::error::Result;

/// A tagged security group found in a region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaggedGroup {
    /// The region.
    pub region: String,
    /// The VPC.
    pub vpc: String,
    /// The `Name` tag: which ranges it holds.
    pub scope: Scope,
    /// The `Protocol` tag's value, if any.
    pub protocol: Option<String>,
    /// Its [`crate::domain::security_groups::SYNC_TOKEN_TAG`] tag: the file last applied to the group's set, once
    /// trusted.
    pub mark: Option<MarkTag>,
    /// Its id and rules.
    pub group: Group,
}

/// Tcp rules on one port of one group, from each of some CIDRs, with one description.
#[derive(Debug, Clone, Copy)]
pub struct PortRules<'a> {
    /// The group's region.
    pub region: &'a str,
    /// The group's id.
    pub group: &'a str,
    /// The tcp port.
    pub port: u16,
    /// One rule per CIDR.
    pub cidrs: &'a BTreeSet<Cidr>,
    /// The rules' description.
    pub description: &'a str,
}

/// The port the sync uses to read and change security groups.
pub trait SecurityGroups: Send + Sync {
    /// Every group in `region` tagged `Name=cloudfront_g|cloudfront_r` and `AutoUpdate=true`, all pages; and
    /// those with such a `Name` whose `AutoUpdate` is anything else (see [`crate::domain::auto_update_on`]).
    fn tagged_groups(&self, region: &str) -> impl Future<Output = Result<Found<TaggedGroup>>> + Send;

    /// The groups `ids` of `region` as they are now (one describe), as [`SecurityGroups::tagged_groups`] reads
    /// them: a group that lost its tags or is gone is left out. Re-reads a set after a write conflict.
    fn groups_by_id(&self, region: &str, ids: &[String]) -> impl Future<Output = Result<Vec<TaggedGroup>>> + Send;

    /// Authorize the rules, in one call where possible. Returns how many were authorized: rules that already
    /// exist (added by another writer) are not counted.
    fn authorize(&self, rules: &PortRules<'_>) -> impl Future<Output = Result<usize>> + Send;

    /// Give existing rules the description (adopting them).
    fn set_descriptions(&self, rules: &PortRules<'_>) -> impl Future<Output = Result<()>> + Send;

    /// EC2 calls retried so far (throttling, transient errors).
    fn retries(&self) -> u64 {
        0
    }

    /// Revoke our tcp rules, per port, in one call where possible. Returns how many were revoked: rules
    /// already gone (revoked by another writer) are not counted.
    fn revoke(
        &self,
        region: &str,
        group: &str,
        rules: &BTreeMap<u16, BTreeSet<Cidr>>,
    ) -> impl Future<Output = Result<usize>> + Send;

    /// The weights of the prefix lists `ids` in `region`, one describe for all of them. Lists EC2 does not
    /// return, or whose weight it does not tell, are left out.
    fn prefix_list_weights(
        &self,
        region: &str,
        ids: &BTreeSet<String>,
    ) -> impl Future<Output = Result<PrefixListWeights>> + Send;

    /// Remove from `groups` the record of the file applied (`cloudfront-sg-sync unmark`).
    fn clear_mark(&self, region: &str, groups: &[String]) -> impl Future<Output = Result<()>> + Send;

    /// Record on `groups` (one set's) the file applied to them, as the [`crate::domain::security_groups::SYNC_TOKEN_TAG`] tag.
    fn mark_applied(
        &self,
        region: &str,
        groups: &[String],
        mark: &AppliedMark,
    ) -> impl Future<Output = Result<()>> + Send;
}
