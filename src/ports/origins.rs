//! The ports through which the origin audit reads CloudFront distributions, load balancers, and the security
//! groups in front of them. Read-only. The CloudFront and ELBv2 adapters live in the CLI crate (`cli/`), so their
//! SDKs stay out of the Lambda function; the EC2 one is [`crate::adapters::origin_groups`].

use std::collections::BTreeSet;
use std::future::Future;

use crate::domain::audit::{Distribution, LoadBalancer};
use crate::domain::origin_side::{Listener, WebAcl};
use crate::domain::security_groups::Group;
use crate::error::Result;

/// Where the account's CloudFront distributions live.
pub trait Distributions: Send + Sync {
    /// Every distribution, all pages, in the order CloudFront lists them.
    fn distributions(&self) -> impl Future<Output = Result<Vec<Distribution>>> + Send;
}

/// Where load balancers live (Elastic Load Balancing v2: ALBs and NLBs), and what they require of a request:
/// their listeners and rules, and the web ACL associated with them (AWS WAF).
pub trait LoadBalancers: Send + Sync {
    /// Every application and network load balancer of `region`, all pages (without listeners or web ACL).
    fn load_balancers(&self, region: &str) -> impl Future<Output = Result<Vec<LoadBalancer>>> + Send;

    /// The listeners of the load balancer `arn` of `region`, each with its rules other than the default.
    fn listeners(&self, region: &str, arn: &str) -> impl Future<Output = Result<Vec<Listener>>> + Send;

    /// The web ACL associated with the load balancer `arn` of `region`, if any.
    fn web_acl(&self, region: &str, arn: &str) -> impl Future<Output = Result<Option<WebAcl>>> + Send;
}

/// What the audit reads of security groups beyond the tagged sets.
pub trait OriginGroups: Send + Sync {
    /// The groups `ids` of `region` with every ingress rule, whatever their tags. A group that does not exist
    /// is an error (a load balancer's groups cannot be deleted while it uses them).
    fn groups_with_rules(
        &self,
        region: &str,
        ids: &BTreeSet<String>,
    ) -> impl Future<Output = Result<Vec<Group>>> + Send;

    /// The ids of AWS's managed CloudFront prefix lists in `region` ([`crate::domain::audit::CLOUDFRONT_PREFIX_LISTS`]).
    fn cloudfront_prefix_lists(&self, region: &str) -> impl Future<Output = Result<BTreeSet<String>>> + Send;
}
