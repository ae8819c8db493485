//! The organization's OUs and accounts, through `aws-sdk-organizations` ([`Organization`]): with the caller's
//! own credentials (the management account, or a delegated administrator), or through `ORGANIZATION_ROLE_ARN`
//! (a read-only role in the management account). Every call reads all its pages, one after another (the API
//! has no other way); the walk of an OU's tree reads each OU as soon as its parent is listed ([`crate::sync`]).

use aws_config::SdkConfig;
use aws_config::sts::AssumeRoleProvider;
use aws_sdk_organizations::Client;
use aws_sdk_organizations::config::{IdentityCache, SharedCredentialsProvider};
use aws_sdk_organizations::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_organizations::types::{Account, ChildType};

use super::aws::{NoRetryWhenUnreachable, every_page, service_error};
use crate::config::Config;
use crate::domain::organization::OrgAccount;
use crate::error::{Error, Result};
use crate::ports::Organization;

/// [`Organization`] over the real AWS Organizations API (or anything at `AWS_ENDPOINT_URL`, such as moto).
#[derive(Debug, Clone)]
pub struct OrgAccounts {
    client: Client,
}

impl OrgAccounts {
    /// A client with `shared`'s credentials, or (with `ORGANIZATION_ROLE_ARN`) with that role's, assumed once
    /// and refreshed before it expires.
    pub async fn from_shared(config: &Config, shared: &SdkConfig) -> OrgAccounts {
        let mut builder = aws_sdk_organizations::config::Builder::from(shared).retry_classifier(NoRetryWhenUnreachable);
        if let Some(arn) = &config.organization_role_arn {
            let role = AssumeRoleProvider::builder(arn)
                .session_name(&config.session_name)
                .region(aws_config::Region::new(config.sts_region.clone()))
                .configure(shared)
                .build()
                .await;
            builder = builder
                .credentials_provider(SharedCredentialsProvider::new(role))
                .identity_cache(IdentityCache::lazy().build());
        }
        OrgAccounts {
            client: Client::from_conf(builder.build()),
        }
    }
}

impl Organization for OrgAccounts {
    async fn units_under(&self, parent: &str) -> Result<Vec<String>> {
        let page = |token| async move {
            let request = self.client.list_children().parent_id(parent);
            let request = request.child_type(ChildType::OrganizationalUnit).set_next_token(token);
            request.send().await.map_err(|e| failed("ListChildren", parent, &e))
        };
        let children = every_page(page, |p| p.next_token(), |p| p.children).await?;
        Ok(children.into_iter().filter_map(|c| c.id).collect())
    }

    async fn accounts_under(&self, parent: &str) -> Result<Vec<OrgAccount>> {
        let page = |token| async move {
            let request = self.client.list_accounts_for_parent().parent_id(parent);
            let sent = request.set_next_token(token).send().await;
            sent.map_err(|e| failed("ListAccountsForParent", parent, &e))
        };
        let accounts = every_page(page, |p| p.next_token(), |p| p.accounts).await?;
        Ok(accounts.iter().filter_map(org_account).collect())
    }

    async fn all_accounts(&self) -> Result<Vec<OrgAccount>> {
        let page = |token| async move {
            let sent = self.client.list_accounts().set_next_token(token).send().await;
            sent.map_err(|e| failed("ListAccounts", "the organization", &e))
        };
        let accounts = every_page(page, |p| p.next_token(), |p| p.accounts).await?;
        Ok(accounts.iter().filter_map(org_account).collect())
    }
}

/// An account as the core sees it: its id and its state (`State`, else the older `Status`; neither: unknown,
/// so never synced).
fn org_account(account: &Account) -> Option<OrgAccount> {
    #[allow(deprecated)]
    let status = match (account.state(), account.status()) {
        (Some(state), _) => state.as_str().to_owned(),
        (None, Some(status)) => status.as_str().to_owned(),
        (None, None) => "UNKNOWN".to_owned(),
    };
    Some(OrgAccount {
        id: account.id()?.to_owned(),
        status,
    })
}

/// What Organizations answered a failed call (credentials that could not be had included), naming what was
/// listed.
fn failed<E>(operation: &'static str, parent: &str, error: &SdkError<E>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let organization = |code, message| Error::Organization {
        operation,
        parent: parent.to_owned(),
        code,
        message,
    };
    match service_error(error, organization) {
        Error::Credentials { code, message, .. } => organization(
            code,
            format!(
                "{message} (no credentials for AWS Organizations: check ORGANIZATION_ROLE_ARN, or the caller's own credentials)"
            ),
        ),
        other => other,
    }
}
