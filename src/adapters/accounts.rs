//! Which accounts a run syncs, each with its own EC2 adapter: the function's own account with its own
//! credentials, or (with `ACCOUNTS`) every account listed or found in the organization, through the role
//! `ASSUME_ROLE_NAME` in it.
//!
//! The role's credentials come from the SDK's own [`AssumeRoleProvider`], called in the function's region when
//! every account has it enabled (else us-east-1: [`crate::config::Config::sts_region`]);
//! each account has its own identity cache, shared by its regional clients, so STS is called once per account
//! and the credentials are refreshed before they expire (the function keeps its clients between invocations:
//! an account found in an OU is connected the first time it is found, then kept by [`AwsOrganization`]).

use std::collections::BTreeMap;

use aws_config::SdkConfig;
use aws_config::sts::AssumeRoleProvider;
use aws_sdk_ec2::config::{IdentityCache, SharedCredentialsProvider};
use tokio::sync::Mutex;

use super::aws::{loader, shared_config};
use super::ec2::Ec2Groups;
use super::ip_sets::WafIpSets;
use super::organization::OrgAccounts;
use crate::config::Config;
use crate::domain::organization::{AccountEntry, OrgAccount};
use crate::error::Result;
use crate::ports::{Account, Connect, Organization};

/// One account's adapters: its EC2 (security groups, network interfaces, prefix lists) and its WAF IP sets.
pub type AwsAccount = Account<Ec2Groups, WafIpSets>;

/// The accounts of `config` known at start (the function's own, or the account ids of `ACCOUNTS`), with the
/// default credential chain and one HTTPS client for all (see [`loader`]).
pub async fn accounts(config: &Config) -> Vec<AwsAccount> {
    accounts_with_loader(config, loader()).await
}

/// As [`accounts`], from a loader the caller has prepared (tests: an emulator's endpoint and test
/// credentials, which then assume the member roles).
pub async fn accounts_with_loader(config: &Config, loader: aws_config::ConfigLoader) -> Vec<AwsAccount> {
    with_loader(config, loader).await.0
}

/// The accounts known at start and the organization, from one loader (see [`accounts_with_loader`]).
pub async fn with_loader(config: &Config, loader: aws_config::ConfigLoader) -> (Vec<AwsAccount>, AwsOrganization) {
    let base = shared_config(config, loader).await;
    let known = match config.accounts.is_empty() {
        true => vec![account(config, None, &base)],
        false => {
            let mut known = Vec::new();
            for entry in &config.accounts {
                if let AccountEntry::Account(id) = entry {
                    known.push(account(config, Some(id), &member_config(config, &base, id).await));
                }
            }
            known
        }
    };
    let organization = AwsOrganization {
        listing: OrgAccounts::from_shared(config, &base).await,
        config: config.clone(),
        base,
        joined: Mutex::default(),
    };
    (known, organization)
}

/// The SDK configuration of account `id`: `base` with the credentials of its role, in its own cache.
pub async fn member_config(config: &Config, base: &SdkConfig, id: &str) -> SdkConfig {
    let mut role = AssumeRoleProvider::builder(config.role_arn(id))
        .session_name(&config.session_name)
        .region(aws_config::Region::new(config.sts_region.clone()))
        .configure(base);
    if let Some(external_id) = &config.assume_role_external_id {
        role = role.external_id(external_id);
    }
    base.to_builder()
        .credentials_provider(SharedCredentialsProvider::new(role.build().await))
        .identity_cache(IdentityCache::lazy().build())
        .build()
}

/// The adapters of account `id` (`None`: the function's own), with the credentials of `shared`.
fn account(config: &Config, id: Option<&String>, shared: &SdkConfig) -> AwsAccount {
    let ec2 = Ec2Groups::from_shared(config, shared, |_, b| b);
    let waf = WafIpSets::from_shared(config, shared, ec2.retry_count(), |_, b| b);
    Account {
        id: id.cloned(),
        ec2,
        waf,
    }
}

/// The organization as a run sees it: its listing ([`OrgAccounts`]), and the adapters of every account found
/// in it, connected the first time it is found and kept.
#[derive(Debug)]
pub struct AwsOrganization {
    listing: OrgAccounts,
    config: Config,
    base: SdkConfig,
    joined: Mutex<BTreeMap<String, AwsAccount>>,
}

impl Organization for AwsOrganization {
    async fn units_under(&self, parent: &str) -> Result<Vec<String>> {
        self.listing.units_under(parent).await
    }

    async fn accounts_under(&self, parent: &str) -> Result<Vec<OrgAccount>> {
        self.listing.accounts_under(parent).await
    }

    async fn all_accounts(&self) -> Result<Vec<OrgAccount>> {
        self.listing.all_accounts().await
    }
}

impl Connect<Ec2Groups, WafIpSets> for AwsOrganization {
    async fn connect(&self, id: &str) -> Result<AwsAccount> {
        let mut joined = self.joined.lock().await;
        if let Some(account) = joined.get(id) {
            return Ok(account.clone());
        }
        let id = id.to_owned();
        let connected = account(
            &self.config,
            Some(&id),
            &member_config(&self.config, &self.base, &id).await,
        );
        joined.insert(id, connected.clone());
        Ok(connected)
    }
}
