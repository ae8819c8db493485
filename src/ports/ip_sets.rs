//! The port through which a run reads and rewrites the AWS WAF IP sets tagged for the sync (a third target; see
//! [`crate::domain::ip_sets`]). The adapter is [`crate::adapters::ip_sets`].

use std::collections::BTreeSet;
use std::future::Future;

use serde::Serialize;

use super::Found;
use crate::domain::cidr::Cidr;
use crate::domain::ip_ranges::Scope;
use crate::domain::ip_sets::IpSet;
use crate::domain::security_groups::{AppliedMark, MarkTag};
use crate::error::Result;

/// Where a WAF IP set can be used: by the web ACLs of regional resources (ALB, API Gateway, App Runner,
/// Cognito…) of its region, or by CloudFront distributions (such sets live in us-east-1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum WafScope {
    /// `REGIONAL`.
    Regional,
    /// `CLOUDFRONT`.
    Cloudfront,
}

impl WafScope {
    /// Where every `CLOUDFRONT` IP set lives.
    pub const CLOUDFRONT_REGION: &'static str = "us-east-1";

    /// As the WAF API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            WafScope::Regional => "REGIONAL",
            WafScope::Cloudfront => "CLOUDFRONT",
        }
    }
}

/// A WAF IP set tagged `AutoUpdate=true` and `Name=cloudfront_g|cloudfront_r`, with its addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaggedIpSet {
    /// The region it was read in (us-east-1 for a `CLOUDFRONT` set).
    pub region: String,
    /// `REGIONAL` or `CLOUDFRONT`.
    pub waf_scope: WafScope,
    /// The `Name` tag: which ranges it holds.
    pub scope: Scope,
    /// The token an update must name: it fails if another writer changed the set since.
    pub lock_token: String,
    /// Its ARN (tags are set by ARN).
    pub arn: String,
    /// Its [`crate::domain::security_groups::SYNC_TOKEN_TAG`] tag: the file last applied to it, once trusted (an
    /// older file is refused).
    pub mark: Option<MarkTag>,
    /// Its name, id, version, description and addresses.
    pub set: IpSet,
}

/// Where WAF IP sets live.
pub trait IpSets: Send + Sync {
    /// Every IP set of `waf_scope` in `region` tagged for the sync (all pages), each with its addresses; and
    /// those with a `Name` of ours that are not (their addresses not read).
    fn tagged_ip_sets(
        &self,
        region: &str,
        waf_scope: WafScope,
    ) -> impl Future<Output = Result<Found<TaggedIpSet>>> + Send;

    /// `tagged` read again (after another writer changed it): its addresses and lock token now, its tags as
    /// they were; `None` when it is gone.
    fn ip_set(&self, tagged: &TaggedIpSet) -> impl Future<Output = Result<Option<TaggedIpSet>>> + Send;

    /// Replace every address of `tagged` with `addresses`, at its lock token (its description kept).
    fn update(&self, tagged: &TaggedIpSet, addresses: &BTreeSet<Cidr>) -> impl Future<Output = Result<()>> + Send;

    /// Remove from `tagged` the record of the file applied (`cloudfront-sg-sync unmark`).
    fn clear_mark(&self, tagged: &TaggedIpSet) -> impl Future<Output = Result<()>> + Send;

    /// Record on `tagged` the file applied to it, as the [`crate::domain::security_groups::SYNC_TOKEN_TAG`] tag.
    fn mark_applied(&self, tagged: &TaggedIpSet, mark: &AppliedMark) -> impl Future<Output = Result<()>> + Send;
}

/// The IP sets of a run that does not look for any (the `adopt` command, and tests of the other targets).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoIpSets;

impl IpSets for NoIpSets {
    async fn tagged_ip_sets(&self, _region: &str, _waf_scope: WafScope) -> Result<Found<TaggedIpSet>> {
        Ok(Found::default())
    }

    async fn ip_set(&self, _tagged: &TaggedIpSet) -> Result<Option<TaggedIpSet>> {
        Ok(None)
    }

    async fn update(&self, _tagged: &TaggedIpSet, _addresses: &BTreeSet<Cidr>) -> Result<()> {
        Ok(())
    }

    async fn mark_applied(&self, _tagged: &TaggedIpSet, _mark: &AppliedMark) -> Result<()> {
        Ok(())
    }

    async fn clear_mark(&self, _tagged: &TaggedIpSet) -> Result<()> {
        Ok(())
    }
}
