//! The WAF IP sets tagged for the sync, through `aws-sdk-wafv2` ([`IpSets`]): one client per region of
//! `REGIONS`, and one in us-east-1 when the `CLOUDFRONT` scope is synced, built from the same configuration as
//! the EC2 clients (credentials, endpoint, retries, timeouts, the retry log and its count).
//!
//! WAF lists IP sets without their tags or addresses, so a region costs one ListIPSets per page, one
//! ListTagsForResource per IP set of the scope, and one GetIPSet per tagged set.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use aws_config::SdkConfig;
use aws_sdk_wafv2::Client;
use aws_sdk_wafv2::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_wafv2::types::{IpAddressVersion, IpSetSummary, Scope as ApiScope};

use super::ec2::{RetryLog, answer};
use crate::cidr::{Cidr, IpVersion};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::ip_ranges::Scope;
use crate::ip_set::IpSet;
use crate::ports::{IpSets, TaggedIpSet, WafScope};

/// [`IpSets`] over the real WAF API (or anything at `AWS_ENDPOINT_URL`, such as moto).
#[derive(Debug, Clone)]
pub struct WafIpSets {
    clients: BTreeMap<String, Client>,
}

impl WafIpSets {
    /// One client per region the run reads IP sets in, from `shared`; retries are logged and counted in
    /// `retries` (the account's EC2 adapter's count, so the summary has one). `customize` may add to each
    /// region's client configuration (tests: a mocked HTTP answer interceptor).
    pub fn from_shared(
        config: &Config,
        shared: &SdkConfig,
        retries: Arc<AtomicU64>,
        customize: impl Fn(&str, aws_sdk_wafv2::config::Builder) -> aws_sdk_wafv2::config::Builder,
    ) -> WafIpSets {
        let clients = config
            .ip_set_regions()
            .into_iter()
            .map(|region| {
                let builder = aws_sdk_wafv2::config::Builder::from(shared)
                    .region(aws_config::Region::new(region.clone()))
                    .interceptor(RetryLog {
                        retries: retries.clone(),
                    });
                let client = Client::from_conf(customize(&region, builder).build());
                (region, client)
            })
            .collect();
        WafIpSets { clients }
    }

    /// One WAF call in `region`, its error carrying what WAF said.
    async fn call<T, E, F>(
        &self,
        operation: &'static str,
        region: &str,
        ip_set: Option<&str>,
        send: impl FnOnce(&Client) -> F,
    ) -> Result<T>
    where
        F: Future<Output = std::result::Result<T, SdkError<E>>>,
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let client = self.clients.get(region).ok_or_else(|| Error::RegionNotConfigured {
            region: region.to_owned(),
        })?;
        send(client).await.map_err(|e| match answer(operation, region, &e) {
            Ok((code, message)) => Error::Waf {
                operation,
                region: region.to_owned(),
                ip_set: ip_set.map(str::to_owned),
                code,
                message,
            },
            Err(credentials) => credentials,
        })
    }

    /// Every IP set of `waf_scope` in `region`, all pages.
    async fn summaries(&self, region: &str, waf_scope: WafScope) -> Result<Vec<IpSetSummary>> {
        let mut summaries = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let page = self
                .call("ListIPSets", region, None, |c| {
                    c.list_ip_sets()
                        .scope(api_scope(waf_scope))
                        .limit(100)
                        .set_next_marker(marker.clone())
                        .send()
                })
                .await?;
            let next = page.next_marker().filter(|m| !m.is_empty()).map(str::to_owned);
            let last = page.ip_sets().is_empty() || next.is_none() || next == marker;
            summaries.extend(page.ip_sets().iter().cloned());
            if last {
                return Ok(summaries);
            }
            marker = next;
        }
    }

    /// The `Name` tag's scope of the IP set at `arn` when it is tagged for the sync (`AutoUpdate=true` and
    /// `Name=cloudfront_g|cloudfront_r`, exactly).
    async fn tagged_scope(&self, region: &str, arn: &str, name: &str) -> Result<Option<Scope>> {
        let output = self
            .call("ListTagsForResource", region, Some(name), |c| {
                c.list_tags_for_resource().resource_arn(arn).limit(100).send()
            })
            .await?;
        let tags = output.tag_info_for_resource().map(|t| t.tag_list()).unwrap_or_default();
        let value = |key: &str| tags.iter().find(|t| t.key() == key).map(|t| t.value());
        if value("AutoUpdate") != Some("true") {
            return Ok(None);
        }
        Ok(value("Name").and_then(Scope::from_tag_value))
    }

    /// The IP set `name`/`id` with its addresses and lock token; `None` when it is gone.
    async fn read(&self, region: &str, waf_scope: WafScope, name: &str, id: &str) -> Result<Option<(IpSet, String)>> {
        let output = self
            .call("GetIPSet", region, Some(name), |c| {
                c.get_ip_set().name(name).scope(api_scope(waf_scope)).id(id).send()
            })
            .await;
        let output = match output {
            Err(Error::Waf { code, .. }) if code == "WAFNonexistentItemException" => return Ok(None),
            other => other?,
        };
        let (Some(set), Some(lock_token)) = (output.ip_set(), output.lock_token()) else {
            return Ok(None);
        };
        let family = match set.ip_address_version() {
            IpAddressVersion::Ipv6 => IpVersion::Ipv6,
            _ => IpVersion::Ipv4,
        };
        let addresses = set
            .addresses()
            .iter()
            .filter_map(|a| match a.parse::<Cidr>() {
                Ok(cidr) => Some(cidr),
                Err(e) => {
                    tracing::warn!(ip_set = name, address = %a, error = %e, "an address of the IP set is not understood; it is left as it is");
                    None
                }
            })
            .collect();
        let ip_set = IpSet {
            name: set.name().to_owned(),
            id: set.id().to_owned(),
            family,
            description: set.description().map(str::to_owned),
            addresses,
        };
        Ok(Some((ip_set, lock_token.to_owned())))
    }
}

fn api_scope(scope: WafScope) -> ApiScope {
    match scope {
        WafScope::Regional => ApiScope::Regional,
        WafScope::Cloudfront => ApiScope::Cloudfront,
    }
}

impl IpSets for WafIpSets {
    async fn tagged_ip_sets(&self, region: &str, waf_scope: WafScope) -> Result<Vec<TaggedIpSet>> {
        let mut tagged = Vec::new();
        for summary in self.summaries(region, waf_scope).await? {
            let (Some(name), Some(id), Some(arn)) = (summary.name(), summary.id(), summary.arn()) else {
                continue;
            };
            let Some(scope) = self.tagged_scope(region, arn, name).await? else {
                continue;
            };
            if let Some((set, lock_token)) = self.read(region, waf_scope, name, id).await? {
                tagged.push(TaggedIpSet {
                    region: region.to_owned(),
                    waf_scope,
                    scope,
                    lock_token,
                    set,
                });
            }
        }
        Ok(tagged)
    }

    async fn ip_set(&self, tagged: &TaggedIpSet) -> Result<Option<TaggedIpSet>> {
        let read = self
            .read(&tagged.region, tagged.waf_scope, &tagged.set.name, &tagged.set.id)
            .await?;
        Ok(read.map(|(set, lock_token)| TaggedIpSet {
            lock_token,
            set,
            ..tagged.clone()
        }))
    }

    async fn update(&self, tagged: &TaggedIpSet, addresses: &BTreeSet<Cidr>) -> Result<()> {
        let set = &tagged.set;
        self.call("UpdateIPSet", &tagged.region, Some(&set.name), |c| {
            c.update_ip_set()
                .name(&set.name)
                .scope(api_scope(tagged.waf_scope))
                .id(&set.id)
                .set_description(set.description.clone())
                .set_addresses(Some(addresses.iter().map(Cidr::to_string).collect()))
                .lock_token(&tagged.lock_token)
                .send()
        })
        .await?;
        Ok(())
    }
}
