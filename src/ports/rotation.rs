//! The ports through which the rotation of the origin secret reads and changes the secret (Secrets Manager) and
//! what uses it: the distributions that send it and the checks at their origins that require it (ALB listener
//! rules, web ACLs). The adapters live in the CLI crate (`cli/src/adapters/`), with the rotation function's
//! binary, so that their SDKs stay out of the sync function's zip.

use std::collections::BTreeMap;
use std::future::Future;

use crate::domain::origin_side::Secret;
use crate::domain::rotation::OriginSecret;
use crate::error::Result;

/// The stage of the version every reader gets.
pub const CURRENT: &str = "AWSCURRENT";
/// The stage of the version a rotation is making.
pub const PENDING: &str = "AWSPENDING";

/// A secret as Secrets Manager describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretVersions {
    /// Its ARN.
    pub arn: String,
    /// Its name.
    pub name: String,
    /// Whether rotation is turned on for it.
    pub rotation_enabled: bool,
    /// Each version (its id, the rotation's token) with its stages.
    pub stages: BTreeMap<String, Vec<String>>,
}

impl SecretVersions {
    /// The version that holds `stage`.
    pub fn version_at(&self, stage: &str) -> Option<&str> {
        (self.stages.iter())
            .find(|(_, stages)| stages.iter().any(|s| s == stage))
            .map(|(id, _)| id.as_str())
    }

    /// Whether `version` holds `stage`.
    pub fn holds(&self, version: &str, stage: &str) -> bool {
        self.stages.get(version).is_some_and(|s| s.iter().any(|x| x == stage))
    }
}

/// Where the origin secret lives.
pub trait SecretStore: Send + Sync {
    /// The secret `id` (name or ARN): whether rotation is on, its versions and their stages.
    fn describe(&self, id: &str) -> impl Future<Output = Result<SecretVersions>> + Send;

    /// The value of version `version` of `id`, as stored; `None` when it holds none (a pending version Secrets
    /// Manager made empty).
    fn value(&self, id: &str, version: &str) -> impl Future<Output = Result<Option<String>>> + Send;

    /// Store `value` as version `version` of `id`, staged `AWSPENDING`.
    fn put_pending(&self, id: &str, version: &str, value: &OriginSecret) -> impl Future<Output = Result<()>> + Send;

    /// Move `AWSCURRENT` of `id` to `version`, from `from` (which becomes `AWSPREVIOUS`).
    fn make_current(&self, id: &str, version: &str, from: &str) -> impl Future<Output = Result<()>> + Send;
}

/// A distribution that takes part in a rotation, as read now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretDistribution {
    /// `E…`.
    pub id: String,
    /// `Deployed` or `InProgress`.
    pub status: String,
    /// Its custom origins that send the header, each with the value it sends.
    pub origins: Vec<SendingOrigin>,
}

/// A custom origin that sends the secret's header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendingOrigin {
    /// The origin's domain name (a load balancer's DNS name, when it is one).
    pub domain_name: String,
    /// The value it sends.
    pub value: Secret,
}

/// What sends the secret: the distributions tagged for it.
pub trait SecretSenders: Send + Sync {
    /// Every distribution tagged [`crate::domain::rotation::ORIGIN_SECRET_TAG`] with one of `names` (the secret's
    /// name or ARN), with its custom origins that send `header`.
    fn tagged(&self, names: &[&str], header: &str) -> impl Future<Output = Result<Vec<SecretDistribution>>> + Send;

    /// Make every custom origin of distribution `id` that sends `header` with the value `from` send `to` instead
    /// (one UpdateDistribution at the ETag read, read again when another writer changed it). Whether it changed
    /// anything.
    fn send(&self, id: &str, header: &str, from: &Secret, to: &Secret) -> impl Future<Output = Result<bool>> + Send;
}

/// A listener rule of a load balancer that compares the header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderRule {
    /// Its ARN.
    pub arn: String,
    /// The values its `http-header` condition on the header compares.
    pub values: Vec<Secret>,
}

/// What requires the secret at the origins: the listener rules and web ACLs of load balancers.
pub trait SecretChecks: Send + Sync {
    /// The load balancers of `region`: each one's DNS name and ARN.
    fn named_load_balancers(&self, region: &str) -> impl Future<Output = Result<Vec<(String, String)>>> + Send;

    /// The listener rules of load balancer `arn` with an `http-header` condition on `header`.
    fn header_rules(
        &self,
        region: &str,
        arn: &str,
        header: &str,
    ) -> impl Future<Output = Result<Vec<HeaderRule>>> + Send;

    /// Make rule `rule`'s condition on `header` compare exactly `values` (its other conditions kept).
    fn set_rule_values(
        &self,
        region: &str,
        rule: &str,
        header: &str,
        values: &[Secret],
    ) -> impl Future<Output = Result<()>> + Send;

    /// The name of the web ACL associated with load balancer `arn`, when it compares `header` with exactly
    /// `value` (a plan's read).
    fn acl_checking(
        &self,
        region: &str,
        arn: &str,
        header: &str,
        value: &Secret,
    ) -> impl Future<Output = Result<Option<String>>> + Send;

    /// Make the web ACL associated with load balancer `arn` (if any) accept `to` beside `from` wherever it
    /// accepts exactly `from` on `header` (`keep_from`: widen), or accept only `to` where it accepts both (narrow).
    /// Whether it changed anything.
    fn accept_in_acl(
        &self,
        region: &str,
        arn: &str,
        header: &str,
        values: (&Secret, &Secret),
        keep_from: bool,
    ) -> impl Future<Output = Result<bool>> + Send;
}
