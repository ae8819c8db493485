//! The fake of [`Organization`] and [`Connect`]: a tree of OUs and accounts, every call logged with when it
//! started, each taking `latency` on tokio's clock; every account connected is one of a given set of fakes.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use super::FakeEc2;
use crate::domain::organization::OrgAccount;
use crate::error::{Error, Result};
use crate::ports::{Account, Connect, NoIpSets, Organization};

/// An organization: what each parent (root or OU) holds.
#[derive(Default)]
pub struct FakeOrganization {
    units: BTreeMap<String, Vec<String>>,
    accounts: BTreeMap<String, Vec<OrgAccount>>,
    /// Each account's EC2 (a connected account gets a clone: the same state).
    pub ec2: BTreeMap<String, FakeEc2>,
    latency: Duration,
    /// The pages of each ListAccountsForParent, read one after another (each `latency`).
    account_pages: u32,
    calls: Mutex<Vec<(&'static str, String, Instant)>>,
}

impl FakeOrganization {
    /// Every call takes `latency`.
    pub fn with_latency(latency: Duration) -> FakeOrganization {
        FakeOrganization {
            latency,
            account_pages: 1,
            ..FakeOrganization::default()
        }
    }

    /// As [`FakeOrganization::with_latency`], each parent's accounts in `pages` pages (as AWS's 20 a page).
    pub fn with_account_pages(latency: Duration, pages: u32) -> FakeOrganization {
        FakeOrganization {
            account_pages: pages,
            ..FakeOrganization::with_latency(latency)
        }
    }

    /// OU (or root) `parent` holds OU `unit`.
    pub fn add_unit(&mut self, parent: &str, unit: &str) {
        self.units.entry(parent.to_owned()).or_default().push(unit.to_owned());
        self.accounts.entry(unit.to_owned()).or_default();
        self.units.entry(unit.to_owned()).or_default();
    }

    /// `parent` holds account `id`, in `status`, with its own EC2.
    pub fn add_account(&mut self, parent: &str, id: &str, status: &str) -> FakeEc2 {
        self.units.entry(parent.to_owned()).or_default();
        let account = OrgAccount {
            id: id.to_owned(),
            status: status.to_owned(),
        };
        self.accounts.entry(parent.to_owned()).or_default().push(account);
        self.ec2.entry(id.to_owned()).or_default().clone()
    }

    /// Every call: (operation, parent, when it started).
    pub fn calls(&self) -> Vec<(&'static str, String, Instant)> {
        self.calls.lock().map(|c| c.clone()).unwrap_or_default()
    }

    async fn call(&self, operation: &'static str, parent: &str, pages: u32) -> Result<()> {
        if let Ok(mut calls) = self.calls.lock() {
            calls.push((operation, parent.to_owned(), Instant::now()));
        }
        tokio::time::sleep(self.latency * pages).await;
        match parent == "the organization" || self.units.contains_key(parent) {
            true => Ok(()),
            false => Err(Error::Organization {
                operation,
                parent: parent.to_owned(),
                code: "ParentNotFoundException".to_owned(),
                message: "The parent does not exist.".to_owned(),
            }),
        }
    }
}

impl Organization for FakeOrganization {
    async fn units_under(&self, parent: &str) -> Result<Vec<String>> {
        self.call("ListChildren", parent, 1).await?;
        Ok(self.units.get(parent).cloned().unwrap_or_default())
    }

    async fn accounts_under(&self, parent: &str) -> Result<Vec<OrgAccount>> {
        self.call("ListAccountsForParent", parent, self.account_pages.max(1))
            .await?;
        Ok(self.accounts.get(parent).cloned().unwrap_or_default())
    }

    async fn all_accounts(&self) -> Result<Vec<OrgAccount>> {
        self.call("ListAccounts", "the organization", 1).await?;
        Ok(self.accounts.values().flatten().cloned().collect())
    }
}

impl Connect<FakeEc2, NoIpSets> for FakeOrganization {
    async fn connect(&self, id: &str) -> Result<Account<FakeEc2>> {
        Ok(Account {
            id: Some(id.to_owned()),
            ..Account::own(self.ec2.get(id).cloned().unwrap_or_default())
        })
    }
}
