//! The accounts of a run: every entry of `ACCOUNTS` made into accounts at the start of the run (an OU's tree
//! read as it is found: each OU as soon as its parent is listed), [`crate::domain::organization::members`] deciding which are
//! synced and which skipped, and the ports of each account synced. A listing that fails stops the run before
//! any write, naming the entry.

use std::collections::VecDeque;

use futures::stream::{FuturesUnordered, StreamExt};

use crate::config::Config;
use crate::domain::organization::{self, AccountEntry, Members, OrgAccount};
use crate::error::{Error, Result};
use crate::ports::{Account, Connect, Organization};

/// The accounts of a run: who they are, and the ports of those found in the organization that were not known
/// at start ([`RunAccounts::of`] adds the known ones).
pub struct RunAccounts<G, W> {
    /// For each account synced, the entry that brought it in; beside them, the accounts skipped and why.
    /// Empty when `ACCOUNTS` is: the run is of the known accounts (the function's own).
    pub members: Members,
    /// The accounts found that were not known, connected.
    pub joined: Vec<Account<G, W>>,
}

impl<G, W> RunAccounts<G, W> {
    /// Every account of the run: those of `known` that are members (all of them when `ACCOUNTS` is empty), then
    /// the joined ones.
    pub fn of<'a>(&'a self, known: &'a [Account<G, W>]) -> Vec<&'a Account<G, W>> {
        let is_member = |a: &&Account<G, W>| match &a.id {
            Some(id) => self.members.synced.contains_key(id),
            None => self.members.synced.is_empty(),
        };
        known.iter().filter(is_member).chain(&self.joined).collect()
    }
}

/// The accounts this run syncs: `ACCOUNTS` listed (see [`members`]), and each account synced that is not in
/// `known` connected.
pub async fn run_accounts<G, W, O>(
    config: &Config,
    organization: &O,
    known: &[Account<G, W>],
) -> Result<RunAccounts<G, W>>
where
    O: Organization + Connect<G, W>,
{
    if config.accounts.is_empty() {
        return Ok(RunAccounts {
            members: Members::default(),
            joined: Vec::new(),
        });
    }
    let members = members(config, organization).await?;
    let mut joined = Vec::new();
    for id in members.synced.keys() {
        if !known.iter().any(|a| a.id.as_deref() == Some(id)) {
            joined.push(organization.connect(id).await?);
        }
    }
    Ok(RunAccounts { members, joined })
}

/// Every entry of `ACCOUNTS` listed at once, then made into the accounts to sync and to skip.
pub async fn members(config: &Config, organization: &impl Organization) -> Result<Members> {
    let listings = config.accounts.iter().map(|entry| async move {
        match listed(config, organization, entry).await {
            Ok(accounts) => Ok((entry.clone(), accounts)),
            Err(e) => Err(Error::AccountsUnresolved {
                entry: entry.to_string(),
                error: Box::new(e),
            }),
        }
    });
    let listed = futures::future::try_join_all(listings).await?;
    let members = organization::members(&listed, &config.exclude_accounts);
    for (entry, accounts) in &listed {
        tracing::info!(entry = %entry, accounts = accounts.len(), "listed the accounts of an ACCOUNTS entry");
    }
    for (account, (entry, reason)) in &members.skipped {
        tracing::info!(account, entry = %entry, reason = %reason, "account skipped");
    }
    tracing::info!(
        synced = members.synced.len(),
        skipped = members.skipped.len(),
        "the run's accounts"
    );
    Ok(members)
}

/// The accounts `entry` holds: an account id is taken as it is (not looked up).
async fn listed(config: &Config, organization: &impl Organization, entry: &AccountEntry) -> Result<Vec<OrgAccount>> {
    match entry {
        AccountEntry::Account(id) => Ok(vec![OrgAccount::active(id.clone())]),
        AccountEntry::Organization => organization.all_accounts().await,
        AccountEntry::Unit(id) | AccountEntry::Root(id) => under(config, organization, id).await,
    }
}

/// One read of an OU (or root) while walking the tree: its accounts, or the OUs right under it.
enum Read {
    Accounts(Vec<OrgAccount>),
    Units(Vec<String>),
}

/// Every account under `top`, nested OUs included. Each OU's accounts and the OUs under it are two reads, and an
/// OU is read as soon as its parent's list of OUs comes back (at most `MAX_CONCURRENCY` reads at a time): the
/// walk takes the pages of ListChildren down the deepest path, plus one OU's pages of ListAccountsForParent,
/// not every level's slowest OU one after another.
async fn under(config: &Config, organization: &impl Organization, top: &str) -> Result<Vec<OrgAccount>> {
    let read = |unit: String, accounts: bool| async move {
        match accounts {
            true => organization.accounts_under(&unit).await.map(Read::Accounts),
            false => organization.units_under(&unit).await.map(Read::Units),
        }
    };
    let mut waiting = VecDeque::from([(top.to_owned(), false), (top.to_owned(), true)]);
    let mut reading = FuturesUnordered::new();
    let mut accounts = Vec::new();
    loop {
        while reading.len() < config.max_concurrency.max(1) {
            let Some((unit, of_accounts)) = waiting.pop_front() else {
                break;
            };
            reading.push(read(unit, of_accounts));
        }
        match reading.next().await {
            None => return Ok(accounts),
            Some(Err(e)) => return Err(e),
            Some(Ok(Read::Accounts(held))) => accounts.extend(held),
            // Its OUs' lists of OUs first: the walk goes deeper while their accounts are read.
            Some(Ok(Read::Units(units))) => {
                waiting.extend(units.iter().map(|u| (u.clone(), false)));
                waiting.extend(units.into_iter().map(|u| (u, true)));
            }
        }
    }
}
