//! Where security groups live: the second I/O boundary, an adapter over `aws-sdk-ec2`.
//!
//! [`SecurityGroups`] is the port the sync uses; [`Ec2Groups`] implements it with one SDK client per region,
//! built once. It turns SDK types into the core's [`Group`]/[`Rule`] and SDK errors into [`Error::Ec2`] with
//! the code and message EC2 sent.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_ec2::Client;
use aws_sdk_ec2::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_ec2::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ec2::types::{Filter, IpPermission, IpRange, Ipv6Range, SecurityGroup, Tag};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::retries::RequestAttempts;
use aws_smithy_types::error::display::DisplayErrorContext;

use crate::cidr::{Cidr, IpVersion};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::ip_ranges::Scope;
use crate::plan::{
    self, AppliedMark, Group, PrefixListWeight, PrefixListWeights, Rule, RuleProtocol, RuleSource, SYNC_TOKEN_TAG,
};

/// A tagged security group found in a region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaggedGroup {
    pub region: String,
    pub vpc: String,
    pub scope: Scope,
    /// The `Protocol` tag's value, if any.
    pub protocol: Option<String>,
    /// The file last applied to the group's set, from its [`SYNC_TOKEN_TAG`] tag.
    pub mark: Option<AppliedMark>,
    pub group: Group,
}

/// The port the sync uses to read and change security groups.
pub trait SecurityGroups: Send + Sync {
    /// Every group in `region` tagged `Name=cloudfront_g|cloudfront_r` and `AutoUpdate=true`, all pages.
    fn tagged_groups(&self, region: &str) -> impl Future<Output = Result<Vec<TaggedGroup>>> + Send;

    /// Authorize tcp `port` from each of `cidrs`, with `description`, in one call where possible.
    fn authorize(
        &self,
        region: &str,
        group: &str,
        port: u16,
        cidrs: &BTreeSet<Cidr>,
        description: &str,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Set the description of existing tcp rules on `port` from `cidrs` (adopting them).
    fn set_descriptions(
        &self,
        region: &str,
        group: &str,
        port: u16,
        cidrs: &BTreeSet<Cidr>,
        description: &str,
    ) -> impl Future<Output = Result<()>> + Send;

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

    /// Record on `groups` (one set's) the file applied to them, as the [`SYNC_TOKEN_TAG`] tag.
    fn mark_applied(
        &self,
        region: &str,
        groups: &[String],
        mark: &AppliedMark,
    ) -> impl Future<Output = Result<()>> + Send;
}

/// [`SecurityGroups`] over the real EC2 API (or anything at `AWS_ENDPOINT_URL`, such as moto).
#[derive(Debug, Clone)]
pub struct Ec2Groups {
    clients: BTreeMap<String, Client>,
    retries: Arc<AtomicU64>,
}

/// Logs every retried EC2 call and counts them, so throttling shows in the logs and the summary.
#[derive(Debug)]
struct RetryLog {
    retries: Arc<AtomicU64>,
}

impl Intercept for RetryLog {
    fn name(&self) -> &'static str {
        "cloudfront-sg-sync retry log"
    }

    fn read_before_attempt(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> std::result::Result<(), BoxError> {
        let attempt = cfg.load::<RequestAttempts>().map_or(1, RequestAttempts::attempts);
        if attempt > 1 {
            self.retries.fetch_add(1, Ordering::Relaxed);
            let operation = cfg.load::<Metadata>().map_or("unknown", Metadata::name);
            tracing::warn!(
                operation,
                attempt,
                "retrying an EC2 call after throttling or a transient error"
            );
        }
        Ok(())
    }
}

const DUPLICATE: &str = "InvalidPermission.Duplicate";
const NOT_FOUND: &str = "InvalidPermission.NotFound";

impl Ec2Groups {
    /// Build one client per configured region from the default credential chain. No network I/O happens here.
    pub async fn new(config: &Config) -> Ec2Groups {
        Ec2Groups::with_loader(config, aws_config::defaults(BehaviorVersion::latest())).await
    }

    /// As [`Ec2Groups::new`], from a loader the caller has prepared (tests: an emulator's endpoint and test
    /// credentials). The retry and timeout settings are ours.
    pub async fn with_loader(config: &Config, loader: aws_config::ConfigLoader) -> Ec2Groups {
        let first = config.regions.first().cloned().unwrap_or_else(|| "us-east-1".into());
        let shared = loader
            .region(aws_config::Region::new(first))
            .retry_config(retry_config(config))
            .timeout_config(timeout_config())
            .load()
            .await;
        let retries = Arc::new(AtomicU64::new(0));
        let clients = config
            .regions
            .iter()
            .map(|region| {
                let conf = aws_sdk_ec2::config::Builder::from(&shared)
                    .region(aws_config::Region::new(region.clone()))
                    .interceptor(RetryLog {
                        retries: retries.clone(),
                    })
                    .build();
                (region.clone(), Client::from_conf(conf))
            })
            .collect();
        Ec2Groups { clients, retries }
    }

    /// Use prepared clients (tests: mocked HTTP).
    pub fn from_clients(clients: BTreeMap<String, Client>) -> Ec2Groups {
        Ec2Groups {
            clients,
            retries: Arc::default(),
        }
    }

    fn client(&self, region: &str) -> Result<&Client> {
        self.clients.get(region).ok_or_else(|| Error::Ec2 {
            operation: "client",
            region: region.to_owned(),
            group: None,
            code: "NoClient".into(),
            message: "no client was built for this region".into(),
        })
    }
}

/// Throttling (`RequestLimitExceeded`) and transient errors are retried with exponential backoff and jitter,
/// `EC2_MAX_ATTEMPTS` times in all: the SDK's default of 3 does not converge at 30% throttling.
pub fn retry_config(config: &Config) -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(config.ec2_max_attempts)
        .with_initial_backoff(Duration::from_millis(100))
        .with_max_backoff(Duration::from_secs(5))
}

/// A dropped or stalled connection fails the attempt (and is retried) instead of hanging the run.
pub fn timeout_config() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(5))
        .operation_attempt_timeout(Duration::from_secs(20))
        .build()
}

/// An SDK error with what EC2 said: its code and message, or the transport error's chain.
fn ec2_error<E>(operation: &'static str, region: &str, group: Option<&str>, error: &SdkError<E>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let (code, message) = match error.code() {
        Some(code) => (code.to_owned(), error.message().unwrap_or("").to_owned()),
        None => ("Unknown".to_owned(), DisplayErrorContext(error).to_string()),
    };
    Error::Ec2 {
        operation,
        region: region.to_owned(),
        group: group.map(str::to_owned),
        code,
        message,
    }
}

fn code_of(error: &Error) -> Option<&str> {
    match error {
        Error::Ec2 { code, .. } => Some(code),
        _ => None,
    }
}

/// The group's applied mark; an unreadable one is logged and ignored.
fn mark_of(region: &str, group: &str, value: Option<&str>) -> Option<AppliedMark> {
    let value = value?;
    let mark = AppliedMark::parse(value);
    if mark.is_none() {
        tracing::warn!(region, group, tag = SYNC_TOKEN_TAG, value, "ignoring an unreadable tag");
    }
    mark
}

fn tag<'a>(group: &'a SecurityGroup, key: &str) -> Option<&'a str> {
    group
        .tags()
        .iter()
        .find(|t| t.key() == Some(key))
        .and_then(|t| t.value())
}

/// EC2's rules, one [`Rule`] per source, as EC2 counts them.
fn rules_of(permissions: &[IpPermission]) -> Vec<Rule> {
    let mut rules = Vec::new();
    for p in permissions {
        let rule = |source: RuleSource, description: Option<&str>| Rule {
            protocol: RuleProtocol::from_ec2(p.ip_protocol().unwrap_or("-1")),
            from_port: p.from_port(),
            to_port: p.to_port(),
            source,
            description: description.map(str::to_owned),
        };
        let cidr = |text: Option<&str>| match text.map(str::parse::<Cidr>) {
            Some(Ok(c)) => RuleSource::Cidr(c),
            // Unreadable: keep it as a rule that counts and is never ours.
            _ => RuleSource::Reference(text.unwrap_or("").to_owned()),
        };
        rules.extend(p.ip_ranges().iter().map(|r| rule(cidr(r.cidr_ip()), r.description())));
        rules.extend(
            p.ipv6_ranges()
                .iter()
                .map(|r| rule(cidr(r.cidr_ipv6()), r.description())),
        );
        rules.extend(p.prefix_list_ids().iter().map(|r| {
            rule(
                RuleSource::PrefixList(r.prefix_list_id().unwrap_or("").to_owned()),
                r.description(),
            )
        }));
        rules.extend(p.user_id_group_pairs().iter().map(|r| {
            rule(
                RuleSource::Reference(r.group_id().unwrap_or("").to_owned()),
                r.description(),
            )
        }));
    }
    rules
}

/// One tcp permission for `port` holding `cidrs`, IPv4 and IPv6 together.
fn permission(port: u16, cidrs: &BTreeSet<Cidr>, description: Option<&str>) -> IpPermission {
    let mut builder = IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(i32::from(port))
        .to_port(i32::from(port));
    for cidr in cidrs {
        let text = cidr.to_string();
        builder = match cidr.version() {
            IpVersion::Ipv4 => builder.ip_ranges(
                IpRange::builder()
                    .cidr_ip(text)
                    .set_description(description.map(str::to_owned))
                    .build(),
            ),
            IpVersion::Ipv6 => builder.ipv6_ranges(
                Ipv6Range::builder()
                    .cidr_ipv6(text)
                    .set_description(description.map(str::to_owned))
                    .build(),
            ),
        };
    }
    builder.build()
}

impl Ec2Groups {
    async fn authorize_call(
        &self,
        region: &str,
        group: &str,
        port: u16,
        cidrs: &BTreeSet<Cidr>,
        description: &str,
    ) -> Result<()> {
        self.client(region)?
            .authorize_security_group_ingress()
            .group_id(group)
            .ip_permissions(permission(port, cidrs, Some(description)))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| ec2_error("AuthorizeSecurityGroupIngress", region, Some(group), &e))
    }

    async fn revoke_call(&self, region: &str, group: &str, rules: &BTreeMap<u16, BTreeSet<Cidr>>) -> Result<usize> {
        let permissions = rules
            .iter()
            .map(|(port, cidrs)| permission(*port, cidrs, None))
            .collect();
        let output = self
            .client(region)?
            .revoke_security_group_ingress()
            .group_id(group)
            .set_ip_permissions(Some(permissions))
            .send()
            .await
            .map_err(|e| ec2_error("RevokeSecurityGroupIngress", region, Some(group), &e))?;
        let requested: usize = rules.values().map(BTreeSet::len).sum();
        let unknown: usize = output
            .unknown_ip_permissions()
            .iter()
            .map(|p| p.ip_ranges().len() + p.ipv6_ranges().len())
            .sum();
        if unknown > 0 {
            // Already gone, by a concurrent run or a person: that is the state we want, but not our doing.
            tracing::info!(region, group, unknown, "rules to revoke were already gone");
        }
        Ok(requested.saturating_sub(unknown))
    }
}

impl SecurityGroups for Ec2Groups {
    fn retries(&self) -> u64 {
        self.retries.load(Ordering::Relaxed)
    }

    async fn tagged_groups(&self, region: &str) -> Result<Vec<TaggedGroup>> {
        let client = self.client(region)?;
        let mut pages = client
            .describe_security_groups()
            .filters(
                Filter::builder()
                    .name("tag:Name")
                    .values(Scope::Global.tag_value())
                    .values(Scope::Regional.tag_value())
                    .build(),
            )
            .filters(Filter::builder().name("tag:AutoUpdate").values("true").build())
            .max_results(1000)
            .into_paginator()
            .send();
        let mut found = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| ec2_error("DescribeSecurityGroups", region, None, &e))?;
            for sg in page.security_groups() {
                // The filters already did this; checking again costs nothing and guards a loose emulator.
                let scope = tag(sg, "Name").and_then(Scope::from_tag_value);
                let (Some(scope), Some("true"), Some(id)) = (scope, tag(sg, "AutoUpdate"), sg.group_id()) else {
                    continue;
                };
                found.push(TaggedGroup {
                    region: region.to_owned(),
                    vpc: sg.vpc_id().unwrap_or("no-vpc").to_owned(),
                    scope,
                    protocol: tag(sg, "Protocol").map(str::to_owned),
                    mark: mark_of(region, id, tag(sg, SYNC_TOKEN_TAG)),
                    group: Group {
                        id: id.to_owned(),
                        rules: rules_of(sg.ip_permissions()),
                    },
                });
            }
        }
        Ok(found)
    }

    async fn authorize(
        &self,
        region: &str,
        group: &str,
        port: u16,
        cidrs: &BTreeSet<Cidr>,
        description: &str,
    ) -> Result<()> {
        match self.authorize_call(region, group, port, cidrs, description).await {
            Err(e) if code_of(&e) == Some(DUPLICATE) && cidrs.len() > 1 => {
                // A concurrent run added some of them, and EC2 refused the whole batch: go one by one.
                tracing::info!(region, group, "some rules already exist; authorizing one by one");
                for cidr in cidrs {
                    match self
                        .authorize_call(region, group, port, &BTreeSet::from([*cidr]), description)
                        .await
                    {
                        Err(e) if code_of(&e) == Some(DUPLICATE) => {}
                        other => other?,
                    }
                }
                Ok(())
            }
            Err(e) if code_of(&e) == Some(DUPLICATE) => Ok(()),
            other => other,
        }
    }

    async fn set_descriptions(
        &self,
        region: &str,
        group: &str,
        port: u16,
        cidrs: &BTreeSet<Cidr>,
        description: &str,
    ) -> Result<()> {
        self.client(region)?
            .update_security_group_rule_descriptions_ingress()
            .group_id(group)
            .ip_permissions(permission(port, cidrs, Some(description)))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| ec2_error("UpdateSecurityGroupRuleDescriptionsIngress", region, Some(group), &e))
    }

    async fn revoke(&self, region: &str, group: &str, rules: &BTreeMap<u16, BTreeSet<Cidr>>) -> Result<usize> {
        match self.revoke_call(region, group, rules).await {
            Err(e) if code_of(&e) == Some(NOT_FOUND) => {
                tracing::info!(
                    region,
                    group,
                    "some rules to revoke are already gone; revoking one by one"
                );
                let mut revoked = 0;
                for (port, cidrs) in rules {
                    for cidr in cidrs {
                        let one = BTreeMap::from([(*port, BTreeSet::from([*cidr]))]);
                        match self.revoke_call(region, group, &one).await {
                            Err(e) if code_of(&e) == Some(NOT_FOUND) => {}
                            other => revoked += other?,
                        }
                    }
                }
                Ok(revoked)
            }
            other => other,
        }
    }

    async fn prefix_list_weights(&self, region: &str, ids: &BTreeSet<String>) -> Result<PrefixListWeights> {
        let client = self.client(region)?;
        let mut pages = client
            .describe_managed_prefix_lists()
            .filters(
                Filter::builder()
                    .name("prefix-list-id")
                    .set_values(Some(ids.iter().cloned().collect()))
                    .build(),
            )
            .max_results(100)
            .into_paginator()
            .send();
        let mut weights = PrefixListWeights::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| ec2_error("DescribeManagedPrefixLists", region, None, &e))?;
            for list in page.prefix_lists() {
                let (Some(id), Some(family)) = (list.prefix_list_id(), list.address_family()) else {
                    continue;
                };
                let version = if family.eq_ignore_ascii_case("IPv6") {
                    IpVersion::Ipv6
                } else {
                    IpVersion::Ipv4
                };
                let max_entries = list.max_entries().and_then(|n| usize::try_from(n).ok());
                match plan::prefix_list_weight(list.prefix_list_name().unwrap_or(""), max_entries) {
                    Some(weight) => {
                        weights.insert(id.to_owned(), PrefixListWeight { version, weight });
                    }
                    None => tracing::warn!(region, prefix_list = id, "prefix list has no known weight"),
                }
            }
        }
        Ok(weights)
    }

    async fn mark_applied(&self, region: &str, groups: &[String], mark: &AppliedMark) -> Result<()> {
        self.client(region)?
            .create_tags()
            .set_resources(Some(groups.to_vec()))
            .tags(Tag::builder().key(SYNC_TOKEN_TAG).value(mark.to_string()).build())
            .send()
            .await
            .map(|_| ())
            .map_err(|e| ec2_error("CreateTags", region, groups.first().map(String::as_str), &e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ec2::types::{PrefixListId, UserIdGroupPair};

    #[test]
    fn every_source_of_a_permission_is_one_rule() {
        let p = IpPermission::builder()
            .ip_protocol("tcp")
            .from_port(443)
            .to_port(443)
            .ip_ranges(
                IpRange::builder()
                    .cidr_ip("13.32.0.0/15")
                    .description("cloudfront-sg-sync: x")
                    .build(),
            )
            .ip_ranges(IpRange::builder().cidr_ip("not a cidr").build())
            .ipv6_ranges(Ipv6Range::builder().cidr_ipv6("2600:9000::/28").build())
            .prefix_list_ids(PrefixListId::builder().prefix_list_id("pl-1").build())
            .user_id_group_pairs(UserIdGroupPair::builder().group_id("sg-1").build())
            .build();
        let all = IpPermission::builder()
            .ip_protocol("-1")
            .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
            .build();
        let rules = rules_of(&[p, all]);
        assert_eq!(rules.len(), 6);
        assert_eq!(rules[0].ours(), Some(("13.32.0.0/15".parse().unwrap(), 443)));
        assert_eq!(rules[1].source, RuleSource::Reference("not a cidr".into()));
        assert_eq!(rules[3].source, RuleSource::PrefixList("pl-1".into()));
        assert_eq!(rules[4].source, RuleSource::Reference("sg-1".into()));
        assert_eq!(
            (rules[5].protocol.clone(), rules[5].from_port),
            (RuleProtocol::All, None)
        );
    }

    #[test]
    fn one_permission_carries_both_ip_versions() {
        let cidrs: BTreeSet<Cidr> = ["13.32.0.0/15", "2600:9000::/28"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        let p = permission(443, &cidrs, Some("cloudfront-sg-sync: t"));
        assert_eq!(
            (p.ip_protocol(), p.from_port(), p.to_port()),
            (Some("tcp"), Some(443), Some(443))
        );
        assert_eq!(p.ip_ranges()[0].cidr_ip(), Some("13.32.0.0/15"));
        assert_eq!(p.ipv6_ranges()[0].cidr_ipv6(), Some("2600:9000::/28"));
        assert_eq!(p.ipv6_ranges()[0].description(), Some("cloudfront-sg-sync: t"));
    }
}
