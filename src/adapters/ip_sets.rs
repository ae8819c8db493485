//! The WAF IP sets tagged for the sync, through `aws-sdk-wafv2` ([`IpSets`]): one client per region of
//! `REGIONS`, and one in us-east-1 when the `CLOUDFRONT` scope is synced, built from the same configuration as
//! the EC2 clients (credentials, endpoint, retries, timeouts, the retry log and its count).
//!
//! WAF lists IP sets without their tags or addresses, so a region costs one ListIPSets per page, one
//! ListTagsForResource per IP set of the scope, and one GetIPSet per tagged set.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use aws_config::SdkConfig;
use aws_sdk_wafv2::Client;
use aws_sdk_wafv2::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_wafv2::types::{IpAddressVersion, IpSetSummary, Scope as ApiScope};

use super::aws::{AccountCredentials, NoRetryWhenUnreachable, RetryLog, service_error, shared_config};
use super::ec2::mark_of;
use crate::config::Config;
use crate::domain::cidr::{Cidr, IpVersion};
use crate::domain::ip_ranges::Scope;
use crate::domain::ip_sets::IpSet;
use crate::domain::security_groups::{AppliedMark, MarkTag, SYNC_TOKEN_TAG};
use crate::domain::{NotSynced, TargetKind, auto_update_on};
use crate::error::{Error, Result};
use crate::ports::{Found, IpSets, TaggedIpSet, WafScope};

/// [`IpSets`] over the real WAF API (or anything at `AWS_ENDPOINT_URL`, such as moto). As with
/// [`super::ec2::Ec2`], the clients are shared by the accounts of a run ([`WafIpSets::of_account`]).
#[derive(Debug, Clone)]
pub struct WafIpSets {
    clients: Arc<BTreeMap<String, Client>>,
    /// The account's credentials, given to every call; `None`: the clients' own.
    credentials: Option<AccountCredentials>,
    retries: Arc<AtomicU64>,
}

impl WafIpSets {
    /// The function's own account's IP sets, from a loader the caller has prepared (tests: an emulator's
    /// endpoint and test credentials), with the production retry and timeout settings. (The function builds its
    /// adapters with [`crate::adapters::accounts`], one per account.)
    pub async fn with_loader(config: &Config, loader: aws_config::ConfigLoader) -> WafIpSets {
        let shared = shared_config(config, loader).await;
        WafIpSets::from_shared(config, &shared, Arc::default(), |_, b| b)
    }

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
                    .retry_classifier(NoRetryWhenUnreachable);
                let client = Client::from_conf(customize(&region, builder).build());
                (region, client)
            })
            .collect();
        WafIpSets {
            clients: Arc::new(clients),
            credentials: None,
            retries,
        }
    }

    /// The IP sets of another account, through the same clients: each call made with `credentials`, its
    /// retries counted in `retries` (that account's EC2 count).
    pub fn of_account(&self, credentials: AccountCredentials, retries: Arc<AtomicU64>) -> WafIpSets {
        WafIpSets {
            clients: self.clients.clone(),
            credentials: Some(credentials),
            retries,
        }
    }

    /// What every call of this account adds to its region's client (as the EC2 adapter's): its credentials and
    /// the retry log counting its retries.
    fn account_config(&self) -> aws_sdk_wafv2::config::Builder {
        let mut config = aws_sdk_wafv2::config::Builder::default().interceptor(RetryLog::counting(&self.retries));
        if let Some(AccountCredentials { provider, cache }) = &self.credentials {
            config.set_credentials_provider(Some(provider.clone()));
            config.set_identity_cache(cache.clone());
        }
        config
    }

    fn client(&self, region: &str) -> Result<&Client> {
        self.clients.get(region).ok_or_else(|| Error::RegionNotConfigured {
            region: region.to_owned(),
        })
    }

    /// Every IP set of `waf_scope` in `region`, all pages.
    async fn summaries(&self, region: &str, waf_scope: WafScope) -> Result<Vec<IpSetSummary>> {
        let mut summaries = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let page = self
                .client(region)?
                .list_ip_sets()
                .scope(api_scope(waf_scope))
                .limit(100)
                .set_next_marker(marker.clone())
                .customize()
                .config_override(self.account_config())
                .send()
                .await
                .map_err(|e| waf_error("ListIPSets", region, None, &e))?;
            let next = page.next_marker().filter(|m| !m.is_empty()).map(str::to_owned);
            let last = page.ip_sets().is_empty() || next.is_none() || next == marker;
            summaries.extend(page.ip_sets().iter().cloned());
            if last {
                return Ok(summaries);
            }
            marker = next;
        }
    }

    /// The `Name` tag's scope of the IP set at `arn` when it is `cloudfront_g|cloudfront_r`, its `AutoUpdate`
    /// tag, and the file last applied to it.
    async fn tagged_scope(&self, region: &str, arn: &str, name: &str) -> Result<Option<IpSetTags>> {
        let output = self
            .client(region)?
            .list_tags_for_resource()
            .resource_arn(arn)
            .limit(100)
            .customize()
            .config_override(self.account_config())
            .send()
            .await
            .map_err(|e| waf_error("ListTagsForResource", region, Some(name), &e))?;
        let tags = output.tag_info_for_resource().map(|t| t.tag_list()).unwrap_or_default();
        let value = |key: &str| tags.iter().find(|t| t.key() == key).map(|t| t.value());
        Ok(value("Name").and_then(Scope::from_tag_value).map(|scope| IpSetTags {
            scope,
            auto_update: value("AutoUpdate").map(str::to_owned),
            mark: mark_of(value(SYNC_TOKEN_TAG)),
        }))
    }

    /// The IP set `name`/`id` with its addresses and lock token; `None` when it is gone.
    async fn read(&self, region: &str, waf_scope: WafScope, name: &str, id: &str) -> Result<Option<(IpSet, String)>> {
        let request = self
            .client(region)?
            .get_ip_set()
            .name(name)
            .scope(api_scope(waf_scope))
            .id(id);
        let output = match request
            .customize()
            .config_override(self.account_config())
            .send()
            .await
            .map_err(|e| waf_error("GetIPSet", region, Some(name), &e))
        {
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

/// The tags of an IP set with a `Name` of ours.
struct IpSetTags {
    scope: Scope,
    auto_update: Option<String>,
    mark: Option<MarkTag>,
}

/// An SDK error with what WAF said (or the credentials failure).
fn waf_error<E>(operation: &'static str, region: &str, ip_set: Option<&str>, error: &SdkError<E>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let ip_set = ip_set.map(str::to_owned);
    let region_name = region.to_owned();
    service_error(error, move |code, message| Error::Waf {
        code,
        message,
        operation,
        region: region_name,
        ip_set,
    })
}

fn api_scope(scope: WafScope) -> ApiScope {
    match scope {
        WafScope::Regional => ApiScope::Regional,
        WafScope::Cloudfront => ApiScope::Cloudfront,
    }
}

impl IpSets for WafIpSets {
    async fn tagged_ip_sets(&self, region: &str, waf_scope: WafScope) -> Result<Found<TaggedIpSet>> {
        let mut found = Found::default();
        for summary in self.summaries(region, waf_scope).await? {
            let (Some(name), Some(id), Some(arn)) = (summary.name(), summary.id(), summary.arn()) else {
                continue;
            };
            let Some(IpSetTags {
                scope,
                auto_update,
                mark,
            }) = self.tagged_scope(region, arn, name).await?
            else {
                continue;
            };
            if !auto_update_on(auto_update.as_deref()) {
                found.not_synced.push(NotSynced {
                    kind: TargetKind::WafIpSet,
                    account: None,
                    region: region.to_owned(),
                    id: format!("{}/{name}", waf_scope.as_str()),
                    scope,
                    auto_update,
                });
                continue;
            }
            if let Some((set, lock_token)) = self.read(region, waf_scope, name, id).await? {
                found.tagged.push(TaggedIpSet {
                    region: region.to_owned(),
                    waf_scope,
                    scope,
                    lock_token,
                    arn: arn.to_owned(),
                    mark,
                    set,
                });
            }
        }
        Ok(found)
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
        self.client(&tagged.region)?
            .update_ip_set()
            .name(&set.name)
            .scope(api_scope(tagged.waf_scope))
            .id(&set.id)
            .set_description(set.description.clone())
            .set_addresses(Some(addresses.iter().map(Cidr::to_string).collect()))
            .lock_token(&tagged.lock_token)
            .customize()
            .config_override(self.account_config())
            .send()
            .await
            .map_err(|e| waf_error("UpdateIPSet", &tagged.region, Some(&set.name), &e))?;
        Ok(())
    }

    async fn clear_mark(&self, tagged: &TaggedIpSet) -> Result<()> {
        self.client(&tagged.region)?
            .untag_resource()
            .resource_arn(&tagged.arn)
            .tag_keys(SYNC_TOKEN_TAG)
            .customize()
            .config_override(self.account_config())
            .send()
            .await
            .map_err(|e| waf_error("UntagResource", &tagged.region, Some(&tagged.set.name), &e))?;
        Ok(())
    }

    async fn mark_applied(&self, tagged: &TaggedIpSet, mark: &AppliedMark) -> Result<()> {
        let tag = aws_sdk_wafv2::types::Tag::builder()
            .key(SYNC_TOKEN_TAG)
            .value(mark.to_string())
            .build()
            .map_err(|e| Error::Waf {
                operation: "TagResource",
                region: tagged.region.clone(),
                ip_set: Some(tagged.set.name.clone()),
                code: "InvalidTag".to_owned(),
                message: e.to_string(),
            })?;
        self.client(&tagged.region)?
            .tag_resource()
            .resource_arn(&tagged.arn)
            .tags(tag)
            .customize()
            .config_override(self.account_config())
            .send()
            .await
            .map_err(|e| waf_error("TagResource", &tagged.region, Some(&tagged.set.name), &e))?;
        Ok(())
    }
}
