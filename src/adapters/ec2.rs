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

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_ec2::Client;
use aws_sdk_ec2::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_ec2::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ec2::types::{Filter, IpPermission, IpRange, Ipv6Range, ManagedPrefixList, SecurityGroup, Tag};
use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::{ConnectorBuilder, tls};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::retries::RequestAttempts;
use aws_smithy_types::error::ErrorMetadata;
use aws_smithy_types::error::display::DisplayErrorContext;

use crate::config::Config;
use crate::domain::cidr::{Cidr, IpVersion};
use crate::domain::ip_ranges::Scope;
use crate::domain::security_groups::{
    self, AppliedMark, Group, PrefixListWeight, PrefixListWeights, Rule, RuleProtocol, RuleSource, SYNC_TOKEN_TAG,
};
use crate::error::{Error, Result};
use crate::ports::{PortRules, SecurityGroups, TaggedGroup};

/// [`SecurityGroups`] over the real EC2 API (or anything at `AWS_ENDPOINT_URL`, such as moto).
#[derive(Debug, Clone)]
pub struct Ec2Groups {
    clients: BTreeMap<String, Client>,
    retries: Arc<AtomicU64>,
}

/// Logs every retried AWS call (EC2 and WAF alike) and counts them, so throttling shows in the logs and the
/// summary.
#[derive(Debug)]
pub(super) struct RetryLog {
    retries: Arc<AtomicU64>,
}

impl RetryLog {
    /// A log whose retries are counted in `retries`.
    pub(super) fn counting(retries: &Arc<AtomicU64>) -> RetryLog {
        RetryLog {
            retries: retries.clone(),
        }
    }
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
                "retrying an AWS call after throttling or a transient error"
            );
        }
        Ok(())
    }
}

/// The most values EC2 takes in one describe filter.
pub(super) const FILTER_VALUES: usize = 200;

const DUPLICATE: &str = "InvalidPermission.Duplicate";
const NOT_FOUND: &str = "InvalidPermission.NotFound";

impl Ec2Groups {
    /// The function's own account's groups, from a loader the caller has prepared (tests: an emulator's endpoint
    /// and test credentials). The retry and timeout settings and the retry log are ours. (The function builds
    /// its adapters with [`crate::adapters::accounts`], one per account.)
    pub async fn with_loader(config: &Config, loader: aws_config::ConfigLoader) -> Ec2Groups {
        Ec2Groups::with_customizer(config, loader, |_, builder| builder).await
    }

    /// The one construction path: as [`Ec2Groups::with_loader`], and `customize` may add to each region's
    /// client configuration (tests: a mocked HTTP answer interceptor), so a mocked client is the production one.
    pub async fn with_customizer(
        config: &Config,
        loader: aws_config::ConfigLoader,
        customize: impl Fn(&str, aws_sdk_ec2::config::Builder) -> aws_sdk_ec2::config::Builder,
    ) -> Ec2Groups {
        Ec2Groups::from_shared(config, &shared_config(config, loader).await, customize)
    }

    /// One client per configured region, from `shared` (its credentials, endpoint, retry and timeout settings).
    pub fn from_shared(
        config: &Config,
        shared: &SdkConfig,
        customize: impl Fn(&str, aws_sdk_ec2::config::Builder) -> aws_sdk_ec2::config::Builder,
    ) -> Ec2Groups {
        let retries = Arc::new(AtomicU64::new(0));
        let clients = config
            .regions
            .iter()
            .map(|region| {
                let builder = aws_sdk_ec2::config::Builder::from(shared)
                    .region(aws_config::Region::new(region.clone()))
                    .interceptor(RetryLog::counting(&retries));
                (region.clone(), Client::from_conf(customize(region, builder).build()))
            })
            .collect();
        Ec2Groups { clients, retries }
    }

    /// The count of retried calls, to share with the account's other adapters.
    pub(super) fn retry_count(&self) -> Arc<AtomicU64> {
        self.retries.clone()
    }

    fn client(&self, region: &str) -> Result<&Client> {
        self.clients.get(region).ok_or_else(|| Error::RegionNotConfigured {
            region: region.to_owned(),
        })
    }

    /// The groups `ids` of `region` that still exist, every page of one DescribeSecurityGroups per
    /// [`FILTER_VALUES`] ids. By the `group-id` filter: a group deleted since is simply absent (`GroupIds` fails
    /// the whole call with `InvalidGroup.NotFound`).
    pub(super) async fn describe_groups(&self, region: &str, ids: &[String]) -> Result<Vec<SecurityGroup>> {
        let mut groups = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(FILTER_VALUES) {
            let pages = self
                .call("DescribeSecurityGroups", region, None, |c| {
                    let request = c
                        .describe_security_groups()
                        .filters(filter("group-id", chunk.iter().map(String::as_str)))
                        .max_results(1000);
                    request.into_paginator().send().try_collect()
                })
                .await?;
            groups.extend(
                pages
                    .into_iter()
                    .flat_map(|page| page.security_groups.unwrap_or_default()),
            );
        }
        Ok(groups)
    }

    /// The (port, CIDR) of every single-port tcp rule `group` holds now, whoever made it: what EC2 answers a
    /// duplicate (or a rule not found) about.
    async fn single_port_rules(&self, region: &str, group: &str) -> Result<BTreeSet<(u16, Cidr)>> {
        let groups = self.describe_groups(region, &[group.to_owned()]).await?;
        let rules = groups.iter().flat_map(|sg| rules_of(sg.ip_permissions()));
        Ok(rules.filter_map(|r| r.single_port()).collect())
    }

    /// Tag `resources` (groups of one set, or one prefix list) with the file applied to them.
    pub(super) async fn create_mark_tags(&self, region: &str, resources: &[String], mark: &AppliedMark) -> Result<()> {
        self.call("CreateTags", region, resources.first().map(String::as_str), |c| {
            c.create_tags()
                .set_resources(Some(resources.to_vec()))
                .tags(Tag::builder().key(SYNC_TOKEN_TAG).value(mark.to_string()).build())
                .send()
        })
        .await
        .map(|_| ())
    }

    /// One EC2 call in `region`, its error carrying what EC2 said.
    pub(super) async fn call<T, E, F>(
        &self,
        operation: &'static str,
        region: &str,
        group: Option<&str>,
        send: impl FnOnce(&Client) -> F,
    ) -> Result<T>
    where
        F: Future<Output = std::result::Result<T, SdkError<E>>>,
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        send(self.client(region)?)
            .await
            .map_err(|e| ec2_error(operation, region, group, &e))
    }
}

/// The loader every client of the function and the CLI starts from: the SDK's defaults (credential chain,
/// endpoint from the environment) with one HTTPS client for them all. Without it each client (one per account,
/// region and service) builds its own: its own TLS setup, which parses every root certificate, and its own
/// connection pool, so no connection to a regional endpoint is reused from one account to the next. (Tests
/// that answer with a mocked HTTP client set theirs.)
pub fn loader() -> aws_config::ConfigLoader {
    aws_config::defaults(BehaviorVersion::latest()).http_client(https_client())
}

/// The SDK's default HTTPS client (rustls with aws-lc, a proxy from the environment), made once: its connectors
/// (one per timeout setting) and their connection pools are shared by every client configured with it.
fn https_client() -> SharedHttpClient {
    aws_smithy_http_client::Builder::new().build_with_connector_fn(|settings, components| {
        let rustls = tls::Provider::Rustls(tls::rustls_provider::CryptoMode::AwsLc);
        let mut connector = ConnectorBuilder::default().tls_provider(rustls);
        connector.set_connector_settings(settings.cloned());
        connector.set_sleep_impl(components.and_then(RuntimeComponents::sleep_impl));
        connector.set_proxy_config(Some(ProxyConfig::from_env()));
        connector.build()
    })
}

/// The SDK configuration every client starts from: `loader`'s credentials and endpoint, in the first configured
/// region, with our retry and timeout settings (STS too, for an account's role).
pub async fn shared_config(config: &Config, loader: aws_config::ConfigLoader) -> SdkConfig {
    let first = config.regions.first().cloned().unwrap_or_else(|| "us-east-1".into());
    loader
        .region(aws_config::Region::new(first))
        .retry_config(retry_config(config))
        .timeout_config(timeout_config())
        .load()
        .await
}

/// Throttling (`RequestLimitExceeded`) and transient errors are retried with exponential backoff and jitter,
/// `EC2_MAX_ATTEMPTS` times in all: the SDK's default of 3 does not converge at 30% throttling.
fn retry_config(config: &Config) -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(config.ec2_max_attempts)
        .with_initial_backoff(Duration::from_millis(100))
        .with_max_backoff(Duration::from_secs(5))
}

/// A dropped or stalled connection fails the attempt (and is retried) instead of hanging the run.
fn timeout_config() -> TimeoutConfig {
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
    let group = group.map(str::to_owned);
    service_error(operation, region, error, |code, message| Error::Ec2 {
        operation,
        region: region.to_owned(),
        group,
        code,
        message,
    })
}

/// What an AWS service answered a failed call, as `answered(code, message)`: its code and message, or
/// (`Unknown`) the transport error's chain; [`Error::Credentials`] when the call's credentials could not be had.
pub fn service_error<E>(
    operation: &'static str,
    region: &str,
    error: &SdkError<E>,
    answered: impl FnOnce(String, String) -> Error,
) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match (error.code(), credentials_failure(error)) {
        (Some(code), _) => answered(code.to_owned(), error.message().unwrap_or("").to_owned()),
        (None, Some((code, message))) => Error::Credentials {
            operation,
            region: region.to_owned(),
            code,
            message,
        },
        (None, None) => answered("Unknown".to_owned(), DisplayErrorContext(error).to_string()),
    }
}

/// When a call failed because its credentials could not be loaded (an account's role that cannot be assumed):
/// the code and message STS answered, or the credentials error itself.
fn credentials_failure(error: &(dyn std::error::Error + 'static)) -> Option<(String, String)> {
    let mut source = error.source();
    let mut failure = None;
    while let Some(e) = source {
        if failure.is_none() && e.is::<CredentialsError>() {
            failure = Some(("CredentialsError".to_owned(), DisplayErrorContext(e).to_string()));
        }
        let answered = e
            .downcast_ref::<ErrorMetadata>()
            .and_then(|m| m.code().map(|c| (c, m.message())));
        if let (Some(_), Some((code, message))) = (&failure, answered) {
            return Some((code.to_owned(), message.unwrap_or("").to_owned()));
        }
        source = e.source();
    }
    failure
}

fn code_of(error: &Error) -> Option<&str> {
    match error {
        Error::Ec2 { code, .. } => Some(code),
        _ => None,
    }
}

/// The `Name` tag filter every tagged describe uses: `cloudfront_g` or `cloudfront_r`.
pub(super) fn name_tag_filter() -> Filter {
    filter("tag:Name", Scope::ALL.map(Scope::tag_value))
}

/// A describe filter: `name` is any of `values`.
pub(super) fn filter<'a>(name: &str, values: impl IntoIterator<Item = &'a str>) -> Filter {
    let values = values.into_iter().map(str::to_owned).collect();
    Filter::builder().name(name).set_values(Some(values)).build()
}

/// A group EC2 returned for the tag filters, as the core sees it. The filters already checked the tags; checking
/// again costs nothing and guards a loose emulator.
fn tagged_group(region: &str, sg: &SecurityGroup) -> Option<TaggedGroup> {
    let scope = tag(sg, "Name").and_then(Scope::from_tag_value)?;
    let id = sg.group_id()?;
    (tag(sg, "AutoUpdate") == Some("true")).then(|| TaggedGroup {
        region: region.to_owned(),
        vpc: sg.vpc_id().unwrap_or("no-vpc").to_owned(),
        scope,
        protocol: tag(sg, "Protocol").map(str::to_owned),
        mark: mark_of(region, id, tag(sg, SYNC_TOKEN_TAG)),
        group: Group {
            id: id.to_owned(),
            rules: rules_of(sg.ip_permissions()),
        },
    })
}

/// A prefix list's id and weight; `None` (logged) when neither its name nor `MaxEntries` tells the weight.
fn weight_of(region: &str, list: &ManagedPrefixList) -> Option<(String, PrefixListWeight)> {
    let id = list.prefix_list_id()?;
    let version = match list.address_family() {
        Some(family) if family.eq_ignore_ascii_case("IPv6") => IpVersion::Ipv6,
        _ => IpVersion::Ipv4,
    };
    let max_entries = list.max_entries().and_then(|n| usize::try_from(n).ok());
    let Some(weight) = security_groups::prefix_list_weight(list.prefix_list_name().unwrap_or(""), max_entries) else {
        tracing::warn!(region, prefix_list = id, "prefix list has no known weight");
        return None;
    };
    Some((id.to_owned(), PrefixListWeight { version, weight }))
}

/// A target's applied mark (a group's, a prefix list's, a WAF IP set's); an unreadable one is logged and
/// ignored.
pub(super) fn mark_of(region: &str, target: &str, value: Option<&str>) -> Option<AppliedMark> {
    let value = value?;
    let mark = AppliedMark::parse(value);
    if mark.is_none() {
        tracing::warn!(
            region,
            target,
            tag = SYNC_TOKEN_TAG,
            value,
            "ignoring an unreadable tag"
        );
    }
    mark
}

fn tag<'a>(group: &'a SecurityGroup, key: &str) -> Option<&'a str> {
    tag_value(group.tags(), key)
}

/// The value of the tag `key` among `tags`.
pub(super) fn tag_value<'a>(tags: &'a [Tag], key: &str) -> Option<&'a str> {
    tags.iter().find(|t| t.key() == Some(key)).and_then(|t| t.value())
}

/// EC2's rules, one [`Rule`] per source, as EC2 counts them.
pub(super) fn rules_of(permissions: &[IpPermission]) -> Vec<Rule> {
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

/// Rules per port, as the write calls take them.
type Rules = BTreeMap<u16, BTreeSet<Cidr>>;

/// What a batch refused with a tolerated answer still needs, once the group is read again.
#[derive(Debug, Clone, Copy)]
enum Needs {
    /// Authorize: the rules the group does not hold.
    Missing,
    /// Revoke: the rules the group still holds.
    Held,
}

impl Ec2Groups {
    /// Send `rules` as one batch. EC2 answers a batch all or nothing: when it refuses it with `tolerated` (a
    /// duplicate, a rule already gone: another writer got there first), read the group again and send one
    /// batch of what is still `needed`. Only when that read shows no progress (it lags) or the second batch is
    /// refused too, send the rules one at a time, skipping those refused with `tolerated`. Returns how many
    /// rules were changed.
    async fn batch_or_reread<F, Fut>(
        &self,
        rules: &Rules,
        (tolerated, needed): (&'static str, Needs),
        (region, group): (&str, &str),
        call: F,
    ) -> Result<usize>
    where
        F: Fn(Rules) -> Fut,
        Fut: Future<Output = Result<usize>>,
    {
        let count = |rules: &Rules| rules.values().map(BTreeSet::len).sum::<usize>();
        match call(rules.clone()).await {
            Err(e) if code_of(&e) == Some(tolerated) && count(rules) > 1 => {}
            Err(e) if code_of(&e) == Some(tolerated) => return Ok(0),
            other => return other,
        }
        let held = self.single_port_rules(region, group).await?;
        let mut left = rules.clone();
        for (port, cidrs) in &mut left {
            cidrs.retain(|c| held.contains(&(*port, *c)) == matches!(needed, Needs::Held));
        }
        left.retain(|_, cidrs| !cidrs.is_empty());
        tracing::info!(
            region,
            group,
            code = tolerated,
            batch = count(rules),
            still_needed = count(&left),
            "batch refused; read the group again"
        );
        if left.is_empty() {
            return Ok(0);
        }
        if count(&left) < count(rules) {
            match call(left.clone()).await {
                Err(e) if code_of(&e) == Some(tolerated) => {}
                other => return other,
            }
        }
        one_at_a_time(&left, tolerated, call).await
    }
}

/// Send each rule of `rules` alone, skipping those refused with `tolerated`. Returns how many were changed.
async fn one_at_a_time<F, Fut>(rules: &Rules, tolerated: &'static str, call: F) -> Result<usize>
where
    F: Fn(Rules) -> Fut,
    Fut: Future<Output = Result<usize>>,
{
    let singles: Vec<(u16, Cidr)> = rules
        .iter()
        .flat_map(|(port, cidrs)| cidrs.iter().map(|cidr| (*port, *cidr)))
        .collect();
    let mut changed = 0;
    for (port, cidr) in singles {
        match call(Rules::from([(port, BTreeSet::from([cidr]))])).await {
            Err(e) if code_of(&e) == Some(tolerated) => {}
            other => changed += other?,
        }
    }
    Ok(changed)
}

/// The tcp permissions for `rules`, one per port, IPv4 and IPv6 together.
fn permissions(rules: &Rules, description: Option<&str>) -> Vec<IpPermission> {
    rules
        .iter()
        .map(|(port, cidrs)| permission(*port, cidrs, description))
        .collect()
}

impl SecurityGroups for Ec2Groups {
    fn retries(&self) -> u64 {
        self.retries.load(Ordering::Relaxed)
    }

    async fn tagged_groups(&self, region: &str) -> Result<Vec<TaggedGroup>> {
        let pages = self
            .call("DescribeSecurityGroups", region, None, |c| {
                let request = c
                    .describe_security_groups()
                    .filters(name_tag_filter())
                    .filters(filter("tag:AutoUpdate", ["true"]))
                    .max_results(1000);
                request.into_paginator().send().try_collect()
            })
            .await?;
        let groups = pages.iter().flat_map(|page| page.security_groups());
        Ok(groups.filter_map(|sg| tagged_group(region, sg)).collect())
    }

    async fn groups_by_id(&self, region: &str, ids: &[String]) -> Result<Vec<TaggedGroup>> {
        let groups = self.describe_groups(region, ids).await?;
        Ok(groups.iter().filter_map(|sg| tagged_group(region, sg)).collect())
    }

    async fn authorize(&self, rules: &PortRules<'_>) -> Result<usize> {
        let PortRules {
            region,
            group,
            description,
            ..
        } = *rules;
        let batch = Rules::from([(rules.port, rules.cidrs.clone())]);
        let tolerated = (DUPLICATE, Needs::Missing);
        self.batch_or_reread(&batch, tolerated, (region, group), |batch| async move {
            let count = batch.values().map(BTreeSet::len).sum();
            self.call("AuthorizeSecurityGroupIngress", region, Some(group), |c| {
                c.authorize_security_group_ingress()
                    .group_id(group)
                    .set_ip_permissions(Some(permissions(&batch, Some(description))))
                    .send()
            })
            .await
            .map(|_| count)
        })
        .await
    }

    async fn set_descriptions(&self, rules: &PortRules<'_>) -> Result<()> {
        let permission = permission(rules.port, rules.cidrs, Some(rules.description));
        self.call(
            "UpdateSecurityGroupRuleDescriptionsIngress",
            rules.region,
            Some(rules.group),
            |c| {
                c.update_security_group_rule_descriptions_ingress()
                    .group_id(rules.group)
                    .ip_permissions(permission)
                    .send()
            },
        )
        .await
        .map(|_| ())
    }

    async fn revoke(&self, region: &str, group: &str, rules: &Rules) -> Result<usize> {
        let tolerated = (NOT_FOUND, Needs::Held);
        self.batch_or_reread(rules, tolerated, (region, group), |rules| async move {
            let output = self
                .call("RevokeSecurityGroupIngress", region, Some(group), |c| {
                    c.revoke_security_group_ingress()
                        .group_id(group)
                        .set_ip_permissions(Some(permissions(&rules, None)))
                        .send()
                })
                .await?;
            let requested: usize = rules.values().map(BTreeSet::len).sum();
            let unknown: usize = output
                .unknown_ip_permissions()
                .iter()
                .map(|p| p.ip_ranges().len() + p.ipv6_ranges().len())
                .sum();
            if unknown > 0 {
                // Already gone, by another writer or a person: the state we want, but not our doing.
                tracing::info!(region, group, unknown, "rules to revoke were already gone");
            }
            Ok(requested.saturating_sub(unknown))
        })
        .await
    }

    async fn prefix_list_weights(&self, region: &str, ids: &BTreeSet<String>) -> Result<PrefixListWeights> {
        let pages = self
            .call("DescribeManagedPrefixLists", region, None, |c| {
                let ids = ids.iter().map(String::as_str);
                let request = c
                    .describe_managed_prefix_lists()
                    .filters(filter("prefix-list-id", ids))
                    .max_results(100);
                request.into_paginator().send().try_collect()
            })
            .await?;
        let lists = pages.iter().flat_map(|page| page.prefix_lists());
        Ok(lists.filter_map(|list| weight_of(region, list)).collect())
    }

    async fn mark_applied(&self, region: &str, groups: &[String], mark: &AppliedMark) -> Result<()> {
        self.create_mark_tags(region, groups, mark).await
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
                    .description(format!("{}: x", security_groups::DESCRIPTION_PREFIX))
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
        let description = format!("{}: t", security_groups::DESCRIPTION_PREFIX);
        let p = permission(443, &cidrs, Some(&description));
        assert_eq!(
            (p.ip_protocol(), p.from_port(), p.to_port()),
            (Some("tcp"), Some(443), Some(443))
        );
        assert_eq!(p.ip_ranges()[0].cidr_ip(), Some("13.32.0.0/15"));
        assert_eq!(p.ipv6_ranges()[0].cidr_ipv6(), Some("2600:9000::/28"));
        assert_eq!(p.ipv6_ranges()[0].description(), Some(description.as_str()));
    }
}
