//! The EC2 clients of a run, one per region, built once and shared by every account (each call carries its
//! account's credentials): [`Ec2`] is the adapter of every EC2-backed
//! port ([`crate::ports::SecurityGroups`] in [`super::security_groups`], [`crate::ports::PrefixLists`] in
//! [`super::prefix_lists`], [`crate::ports::NetworkInterfaces`] in [`super::network_interfaces`], the audit's
//! [`crate::ports::OriginGroups`] in [`super::origin_groups`]). Here: its construction, one call with EC2's error
//! ([`Error::Ec2`] with the code and message EC2 sent), the describe by group id, the tag recording the file
//! applied, and the describe filters and tags they share.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use aws_config::SdkConfig;
use aws_sdk_ec2::Client;
use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ec2::types::{Filter, ManagedPrefixList, SecurityGroup, Tag};

use super::aws::{AccountCredentials, NoRetryWhenUnreachable, RetryLog, every_page, service_error, shared_config};
use crate::config::Config;
use crate::domain::ip_ranges::Scope;
use crate::domain::security_groups::{AppliedMark, MarkTag, SYNC_TOKEN_TAG};
use crate::error::{Error, Result};

/// An account's EC2: the adapter of every EC2-backed port, over the real EC2 API (or anything at
/// `AWS_ENDPOINT_URL`, such as moto). The clients, one per region, are shared by the accounts of a run
/// ([`Ec2::of_account`]): a client weighs some 15 KB, and a run over 2,000 accounts × 4 regions would
/// otherwise keep 8,000 of them.
#[derive(Debug, Clone)]
pub struct Ec2 {
    clients: Arc<BTreeMap<String, Client>>,
    /// The account's credentials and their identity cache, given to every call; `None`: the clients' own.
    credentials: Option<AccountCredentials>,
    pub(super) retries: Arc<AtomicU64>,
}

/// The most values EC2 takes in one describe filter.
pub(super) const FILTER_VALUES: usize = 200;

impl Ec2 {
    /// The function's own account's groups, from a loader the caller has prepared (tests: an emulator's endpoint
    /// and test credentials). The retry and timeout settings and the retry log are ours. (The function builds
    /// its adapters with [`crate::adapters::accounts`], one per account.)
    pub async fn with_loader(config: &Config, loader: aws_config::ConfigLoader) -> Ec2 {
        Ec2::with_customizer(config, loader, |_, builder| builder).await
    }

    /// The one construction path: as [`Ec2::with_loader`], and `customize` may add to each region's
    /// client configuration (tests: a mocked HTTP answer interceptor), so a mocked client is the production one.
    pub async fn with_customizer(
        config: &Config,
        loader: aws_config::ConfigLoader,
        customize: impl Fn(&str, aws_sdk_ec2::config::Builder) -> aws_sdk_ec2::config::Builder,
    ) -> Ec2 {
        Ec2::from_shared(config, &shared_config(config, loader).await, customize)
    }

    /// One client per configured region, from `shared` (its credentials, endpoint, retry and timeout settings).
    pub fn from_shared(
        config: &Config,
        shared: &SdkConfig,
        customize: impl Fn(&str, aws_sdk_ec2::config::Builder) -> aws_sdk_ec2::config::Builder,
    ) -> Ec2 {
        let retries = Arc::new(AtomicU64::new(0));
        let clients = config
            .regions
            .iter()
            .map(|region| {
                let builder = aws_sdk_ec2::config::Builder::from(shared)
                    .region(aws_config::Region::new(region.clone()))
                    .retry_classifier(NoRetryWhenUnreachable);
                (region.clone(), Client::from_conf(customize(region, builder).build()))
            })
            .collect();
        Ec2 {
            clients: Arc::new(clients),
            credentials: None,
            retries,
        }
    }

    /// The EC2 of another account, through the same clients: each call made with `credentials` (its role's),
    /// its retries counted apart.
    pub fn of_account(&self, credentials: AccountCredentials) -> Ec2 {
        Ec2 {
            clients: self.clients.clone(),
            credentials: Some(credentials),
            retries: Arc::default(),
        }
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
            let ids = filter("group-id", chunk.iter().map(String::as_str));
            groups.extend(self.security_groups_where(region, vec![ids]).await?);
        }
        Ok(groups)
    }

    /// Tag `resources` (groups of one set, or one prefix list) with the file applied to them.
    pub(super) async fn create_mark_tags(&self, region: &str, resources: &[String], mark: &AppliedMark) -> Result<()> {
        self.call("CreateTags", region, resources.first().map(String::as_str), |c, o| {
            c.create_tags()
                .set_resources(Some(resources.to_vec()))
                .tags(Tag::builder().key(SYNC_TOKEN_TAG).value(mark.to_string()).build())
                .customize()
                .config_override(o)
                .send()
        })
        .await
        .map(|_| ())
    }

    /// Remove from `resources` the tag recording the file applied (any value).
    pub(super) async fn delete_mark_tags(&self, region: &str, resources: &[String]) -> Result<()> {
        self.call("DeleteTags", region, resources.first().map(String::as_str), |c, o| {
            c.delete_tags()
                .set_resources(Some(resources.to_vec()))
                .tags(Tag::builder().key(SYNC_TOKEN_TAG).build())
                .customize()
                .config_override(o)
                .send()
        })
        .await
        .map(|_| ())
    }

    /// What every call of this account adds to its region's client: the account's credentials and the retry
    /// log counting its retries (`send` hands it to the operation's `config_override`).
    fn account_config(&self) -> aws_sdk_ec2::config::Builder {
        let mut config = aws_sdk_ec2::config::Builder::default().interceptor(RetryLog::counting(&self.retries));
        if let Some(AccountCredentials { provider, cache }) = &self.credentials {
            config.set_credentials_provider(Some(provider.clone()));
            config.set_identity_cache(cache.clone());
        }
        config
    }

    /// One EC2 call in `region`, its error carrying what EC2 said: `send(client, account_config)`.
    pub(super) async fn call<T, E, F>(
        &self,
        operation: &'static str,
        region: &str,
        group: Option<&str>,
        send: impl FnOnce(&Client, aws_sdk_ec2::config::Builder) -> F,
    ) -> Result<T>
    where
        F: Future<Output = std::result::Result<T, SdkError<E>>>,
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        send(self.client(region)?, self.account_config())
            .await
            .map_err(|e| ec2_error(operation, region, group, &e))
    }

    /// The items of every page of a paged EC2 call (as [`Ec2::call`], one page after another):
    /// `send(client, account_config, token)` asks for the page after `token`, `next` reads the next token,
    /// `items` takes a page's items.
    pub(super) async fn pages<T, I, E, F>(
        &self,
        operation: &'static str,
        region: &str,
        send: impl Fn(&Client, aws_sdk_ec2::config::Builder, Option<String>) -> F,
        next: impl Fn(&T) -> Option<&str>,
        items: impl FnMut(T) -> Option<Vec<I>>,
    ) -> Result<Vec<I>>
    where
        F: Future<Output = std::result::Result<T, SdkError<E>>>,
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let send = &send;
        every_page(
            |token| self.call(operation, region, None, move |c, o| send(c, o, token)),
            next,
            items,
        )
        .await
    }

    /// Every security group of `region` that matches all of `filters`, all pages of 1,000.
    pub(super) async fn security_groups_where(&self, region: &str, filters: Vec<Filter>) -> Result<Vec<SecurityGroup>> {
        let send = |c: &Client, o, token| {
            let request = c.describe_security_groups().set_filters(Some(filters.clone()));
            request
                .max_results(1000)
                .set_next_token(token)
                .customize()
                .config_override(o)
                .send()
        };
        self.pages(
            "DescribeSecurityGroups",
            region,
            send,
            |p| p.next_token(),
            |p| p.security_groups,
        )
        .await
    }

    /// Every managed prefix list of `region` that matches all of `filters`, all pages of `page_size` (`None`:
    /// EC2's default).
    pub(super) async fn prefix_lists_where(
        &self,
        region: &str,
        filters: Vec<Filter>,
        page_size: Option<i32>,
    ) -> Result<Vec<ManagedPrefixList>> {
        let send = |c: &Client, o, token| {
            let request = c.describe_managed_prefix_lists().set_filters(Some(filters.clone()));
            request
                .set_max_results(page_size)
                .set_next_token(token)
                .customize()
                .config_override(o)
                .send()
        };
        self.pages(
            "DescribeManagedPrefixLists",
            region,
            send,
            |p| p.next_token(),
            |p| p.prefix_lists,
        )
        .await
    }
}

/// An SDK error with what EC2 said: its code and message, or the transport error's chain.
fn ec2_error<E>(operation: &'static str, region: &str, group: Option<&str>, error: &SdkError<E>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let group = group.map(str::to_owned);
    service_error(error, |code, message| Error::Ec2 {
        operation,
        region: region.to_owned(),
        group,
        code,
        message,
    })
}

pub(super) fn code_of(error: &Error) -> Option<&str> {
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

/// A target's mark tag (a group's, a prefix list's, a WAF IP set's), as read: the sync judges whether to trust it.
pub(super) fn mark_of(value: Option<&str>) -> Option<MarkTag> {
    value.map(MarkTag::read)
}

/// The value of the tag `key` among `tags`.
pub(super) fn tag_value<'a>(tags: &'a [Tag], key: &str) -> Option<&'a str> {
    tags.iter().find(|t| t.key() == Some(key)).and_then(|t| t.value())
}
