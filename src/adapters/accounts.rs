//! Which accounts a run syncs, each with its own EC2 adapter: the function's own account with its own
//! credentials, or (with `ACCOUNTS`) every listed account through the role `ASSUME_ROLE_NAME` in it.
//!
//! The role's credentials come from the SDK's own [`AssumeRoleProvider`], called in the function's region when
//! every account has it enabled (else us-east-1: [`crate::config::Config::sts_region`]);
//! each account has its own identity cache, shared by its regional clients, so STS is called once per account
//! and the credentials are refreshed before they expire (the function keeps its clients between invocations).

use aws_config::sts::AssumeRoleProvider;
use aws_sdk_ec2::config::{IdentityCache, SharedCredentialsProvider};

use super::aws::{loader, shared_config};
use super::ec2::Ec2Groups;
use super::ip_sets::WafIpSets;
use crate::config::Config;
use crate::ports::Account;

/// One account's adapters: its EC2 (security groups, network interfaces, prefix lists) and its WAF IP sets.
pub type AwsAccount = Account<Ec2Groups, WafIpSets>;

/// The accounts of `config`, with the default credential chain and one HTTPS client for all (see [`loader`]).
pub async fn accounts(config: &Config) -> Vec<AwsAccount> {
    accounts_with_loader(config, loader()).await
}

/// As [`accounts`], from a loader the caller has prepared (tests: an emulator's endpoint and test
/// credentials, which then assume the member roles).
pub async fn accounts_with_loader(config: &Config, loader: aws_config::ConfigLoader) -> Vec<AwsAccount> {
    let base = shared_config(config, loader).await;
    if config.accounts.is_empty() {
        return vec![account(config, None, &base)];
    }
    let mut accounts = Vec::with_capacity(config.accounts.len());
    for id in &config.accounts {
        let mut role = AssumeRoleProvider::builder(config.role_arn(id))
            .session_name(&config.session_name)
            .region(aws_config::Region::new(config.sts_region.clone()))
            .configure(&base);
        if let Some(external_id) = &config.assume_role_external_id {
            role = role.external_id(external_id);
        }
        let member = base
            .to_builder()
            .credentials_provider(SharedCredentialsProvider::new(role.build().await))
            .identity_cache(IdentityCache::lazy().build())
            .build();
        accounts.push(account(config, Some(id), &member));
    }
    accounts
}

/// The adapters of account `id` (`None`: the function's own), with the credentials of `shared`.
fn account(config: &Config, id: Option<&String>, shared: &aws_config::SdkConfig) -> AwsAccount {
    let ec2 = Ec2Groups::from_shared(config, shared, |_, b| b);
    let waf = WafIpSets::from_shared(config, shared, ec2.retry_count(), |_, b| b);
    Account {
        id: id.cloned(),
        ec2,
        waf,
    }
}
