//! Which accounts a run syncs, each with its own adapters: the function's own account with its own
//! credentials, or (with `ACCOUNTS`) every account listed or found in the organization, through the role
//! `ASSUME_ROLE_NAME` in it.
//!
//! Every account uses the same clients, one per region and service; each call carries its account's
//! credentials. Those come from the SDK's own [`AssumeRoleProvider`], called in the function's region when
//! every account has it enabled (else us-east-1: [`crate::config::Config::sts_region`]). Each account's
//! credentials have their own identity cache ([`AccountCredentials`]), so STS is called once per account and
//! again before they expire (the function keeps its adapters between invocations: an account found in an OU
//! is connected the first time it is found, then kept by [`AwsOrganization`]). What an account costs to keep is
//! its credentials, not clients: 2,000 accounts fit in the function's memory.

use std::collections::BTreeMap;
use std::sync::Arc;

use aws_config::SdkConfig;
use aws_config::sts::AssumeRoleProvider;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider, future};
use aws_sdk_ec2::config::IdentityCache;
use tokio::sync::Mutex;

use super::aws::{AccountCredentials, shared_config};
use super::ec2::Ec2;
use super::ip_sets::WafIpSets;
use super::organization::OrgAccounts;
use crate::config::Config;
use crate::domain::organization::{AccountEntry, OrgAccount};
use crate::error::Result;
use crate::ports::{Account, Connect, Organization};

/// One account's adapters: its EC2 (security groups, network interfaces, prefix lists) and its WAF IP sets.
pub type AwsAccount = Account<Ec2, WafIpSets>;

/// The accounts of `config` known at start (the function's own, or the account ids of `ACCOUNTS`), from a
/// loader the caller has prepared ([`crate::adapters::aws::loader`]; tests: an emulator's endpoint and test
/// credentials, which then assume the member roles).
pub async fn accounts_with_loader(config: &Config, loader: aws_config::ConfigLoader) -> Vec<AwsAccount> {
    with_loader(config, loader).await.0
}

/// The accounts known at start and the organization, from one loader (see [`accounts_with_loader`]). Every
/// account uses the same clients (one per region and service, with the function's own credentials), each call
/// with its account's credentials.
pub async fn with_loader(config: &Config, loader: aws_config::ConfigLoader) -> (Vec<AwsAccount>, AwsOrganization) {
    let (known, organization, _) = with_loader_shared(config, loader).await;
    (known, organization)
}

/// As [`with_loader`], and the SDK configuration they start from (for the function's other clients).
pub async fn with_loader_shared(
    config: &Config,
    loader: aws_config::ConfigLoader,
) -> (Vec<AwsAccount>, AwsOrganization, SdkConfig) {
    let base = shared_config(config, loader).await;
    let ec2 = Ec2::from_shared(config, &base, |_, b| b);
    let waf = WafIpSets::from_shared(config, &base, ec2.retry_count(), |_, b| b);
    let own = Account { id: None, ec2, waf };
    let roles = Arc::new(Roles::of(config, &base));
    let known = match config.accounts.is_empty() {
        true => vec![own.clone()],
        false => (config.accounts.iter())
            .filter_map(|entry| match entry {
                AccountEntry::Account(id) => Some(member(&own, &roles, id)),
                _ => None,
            })
            .collect(),
    };
    let organization = AwsOrganization {
        listing: OrgAccounts::from_shared(config, &base).await,
        own,
        roles,
        joined: Mutex::default(),
    };
    (known, organization, base)
}

/// The SDK configuration of account `id`: `base` with the credentials of its role, in its own cache (the
/// CLI's audit, whose CloudFront and ELBv2 clients are built per account).
pub fn member_config(config: &Config, base: &SdkConfig, id: &str) -> SdkConfig {
    let credentials = role_credentials(&Arc::new(Roles::of(config, base)), id);
    base.to_builder()
        .credentials_provider(credentials)
        .identity_cache(IdentityCache::lazy().build())
        .build()
}

/// Account `id`'s adapters: `own`'s clients, with the credentials of its role.
fn member(own: &AwsAccount, roles: &Arc<Roles>, id: &str) -> AwsAccount {
    let credentials = AccountCredentials::new(role_credentials(roles, id));
    let ec2 = own.ec2.of_account(credentials.clone());
    let waf = own.waf.of_account(credentials, ec2.retry_count());
    Account {
        id: Some(id.to_owned()),
        ec2,
        waf,
    }
}

/// How every account's role is assumed: `ASSUME_ROLE_NAME` (and its external id) with the function's own
/// credentials, through STS in [`Config::sts_region`].
#[derive(Debug)]
struct Roles {
    config: Config,
    base: SdkConfig,
}

impl Roles {
    fn of(config: &Config, base: &SdkConfig) -> Roles {
        Roles {
            config: config.clone(),
            base: base.clone(),
        }
    }
}

/// The credentials of account `id`'s role, asked for by the identity cache that holds them (the account's
/// [`AccountCredentials`], or a member configuration's): once, and again before they expire.
fn role_credentials(roles: &Arc<Roles>, id: &str) -> SharedCredentialsProvider {
    SharedCredentialsProvider::new(RoleCredentials {
        role_arn: roles.config.role_arn(id),
        roles: roles.clone(),
    })
}

/// One account's role, assumed when the identity cache asks. The STS client is built for the call and
/// dropped: kept for each of thousands of accounts, STS clients would weigh more than all else the function
/// holds.
#[derive(Debug)]
struct RoleCredentials {
    role_arn: String,
    roles: Arc<Roles>,
}

impl ProvideCredentials for RoleCredentials {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(async move {
            let Roles { config, base } = self.roles.as_ref();
            let mut role = AssumeRoleProvider::builder(&self.role_arn)
                .session_name(&config.session_name)
                .region(aws_config::Region::new(config.sts_region.clone()))
                .configure(base);
            if let Some(external_id) = &config.assume_role_external_id {
                role = role.external_id(external_id);
            }
            role.build().await.provide_credentials().await
        })
    }
}

/// The organization as a run sees it: its listing ([`OrgAccounts`]), and the adapters of every account found
/// in it, connected the first time it is found and kept.
#[derive(Debug)]
pub struct AwsOrganization {
    listing: OrgAccounts,
    /// The function's own adapters, whose clients every account uses.
    own: AwsAccount,
    roles: Arc<Roles>,
    /// The accounts found so far, each with its credentials (kept: their identity cache partition, so a warm
    /// function assumes each role once an hour, not once a run).
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

impl Connect<Ec2, WafIpSets> for AwsOrganization {
    async fn connect(&self, id: &str) -> Result<AwsAccount> {
        let mut joined = self.joined.lock().await;
        if let Some(account) = joined.get(id) {
            return Ok(account.clone());
        }
        let connected = member(&self.own, &self.roles, id);
        joined.insert(id.to_owned(), connected.clone());
        Ok(connected)
    }
}
