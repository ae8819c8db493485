//! The port through which a run asks AWS Organizations which accounts an `ACCOUNTS` entry holds (see
//! [`crate::domain::organization`]). The adapter is [`crate::adapters::organization`].

use std::future::Future;

use super::Account;
use crate::domain::organization::OrgAccount;
use crate::error::{Error, Result};

/// Where the organization's OUs and accounts are listed. Every call reads all pages.
pub trait Organization: Send + Sync {
    /// The ids of the OUs directly under `parent` (a root or an OU): `ListChildren`.
    fn units_under(&self, parent: &str) -> impl Future<Output = Result<Vec<String>>> + Send;

    /// The accounts directly under `parent` (a root or an OU): `ListAccountsForParent`.
    fn accounts_under(&self, parent: &str) -> impl Future<Output = Result<Vec<OrgAccount>>> + Send;

    /// Every account of the organization: `ListAccounts`.
    fn all_accounts(&self) -> impl Future<Output = Result<Vec<OrgAccount>>> + Send;
}

/// Where the ports of an account come from when a run finds it in the organization (an account that joined an
/// OU since the function started): built once and kept, its credentials refreshed before they expire.
pub trait Connect<G, W>: Send + Sync {
    /// The ports of account `id`, through its role.
    fn connect(&self, id: &str) -> impl Future<Output = Result<Account<G, W>>> + Send;
}

/// No organization: every account of a run is one given (an account id of `ACCOUNTS`, or the function's own).
/// An entry that needs the organization fails the run, named.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoOrganization;

impl NoOrganization {
    fn refuse<T>(operation: &'static str, parent: &str) -> Result<T> {
        Err(Error::Organization {
            operation,
            parent: parent.to_owned(),
            code: "NotConfigured".to_owned(),
            message: "this run was given no AWS Organizations client".to_owned(),
        })
    }
}

impl Organization for NoOrganization {
    async fn units_under(&self, parent: &str) -> Result<Vec<String>> {
        NoOrganization::refuse("ListChildren", parent)
    }

    async fn accounts_under(&self, parent: &str) -> Result<Vec<OrgAccount>> {
        NoOrganization::refuse("ListAccountsForParent", parent)
    }

    async fn all_accounts(&self) -> Result<Vec<OrgAccount>> {
        NoOrganization::refuse("ListAccounts", "the organization")
    }
}

impl<G: Send, W: Send> Connect<G, W> for NoOrganization {
    async fn connect(&self, id: &str) -> Result<Account<G, W>> {
        NoOrganization::refuse("connect", id)
    }
}
