//! Which accounts a run syncs: the entries of `ACCOUNTS` (an account id, an OU, a root, the whole organization),
//! what AWS Organizations listed under each, and `EXCLUDE_ACCOUNTS`, made into the accounts to sync (each with
//! the entry that brought it in) and the accounts skipped (with why).
//!
//! Pure: the listing is done by [`crate::sync`] through the [`crate::ports::Organization`] port.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Serialize;

/// One entry of `ACCOUNTS` (or of the CLI's `--accounts`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AccountEntry {
    /// A 12-digit account id: that account, as it is (it is not looked up in the organization).
    Account(String),
    /// An organizational unit (`ou-…`): every ACTIVE account under it, nested OUs included.
    Unit(String),
    /// A root (`r-…`): every ACTIVE account under it.
    Root(String),
    /// `organization`: every ACTIVE account of the organization.
    Organization,
}

impl AccountEntry {
    /// Read one entry (surrounding spaces ignored); the error says what an entry may be.
    pub fn parse(text: &str) -> Result<AccountEntry, String> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("organization") {
            return Ok(AccountEntry::Organization);
        }
        if text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(AccountEntry::Account(text.to_owned()));
        }
        if text.strip_prefix("ou-").is_some_and(is_unit_body) {
            return Ok(AccountEntry::Unit(text.to_owned()));
        }
        if text.strip_prefix("r-").is_some_and(is_root_body) {
            return Ok(AccountEntry::Root(text.to_owned()));
        }
        Err("not an account id (12 digits), an OU id (ou-xxxx-yyyyyyyy), a root id (r-xxxx) or `organization`".into())
    }

    /// Whether the organization must be asked which accounts this entry holds.
    pub fn needs_organization(&self) -> bool {
        !matches!(self, AccountEntry::Account(_))
    }
}

/// `xxxx-yyyyyyyy`: 4 to 32 lower-case letters or digits (the root's part), a dash, 8 to 32 more (AWS's
/// pattern `^ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}$`).
fn is_unit_body(body: &str) -> bool {
    let Some((root, unit)) = body.split_once('-') else {
        return false;
    };
    is_root_body(root) && (8..=32).contains(&unit.len()) && unit.bytes().all(is_id_byte)
}

/// 4 to 32 lower-case letters or digits (AWS's pattern `^r-[0-9a-z]{4,32}$`).
fn is_root_body(body: &str) -> bool {
    (4..=32).contains(&body.len()) && body.bytes().all(is_id_byte)
}

fn is_id_byte(b: u8) -> bool {
    b.is_ascii_digit() || b.is_ascii_lowercase()
}

impl fmt::Display for AccountEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AccountEntry::Account(id) | AccountEntry::Unit(id) | AccountEntry::Root(id) => f.write_str(id),
            AccountEntry::Organization => f.write_str("organization"),
        }
    }
}

impl Serialize for AccountEntry {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// An account as AWS Organizations lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgAccount {
    /// Its 12-digit id.
    pub id: String,
    /// `ACTIVE`, `SUSPENDED`, `PENDING_CLOSURE`: only an ACTIVE account is synced.
    pub status: String,
}

impl OrgAccount {
    /// An account that is synced when listed.
    pub fn active(id: impl Into<String>) -> OrgAccount {
        OrgAccount {
            id: id.into(),
            status: "ACTIVE".to_owned(),
        }
    }
}

/// Why a listed account is not synced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// It is in `EXCLUDE_ACCOUNTS`.
    Excluded,
    /// It is not ACTIVE (suspended, or closing): its role cannot be used.
    NotActive {
        /// What Organizations says it is.
        status: String,
    },
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::Excluded => f.write_str("excluded (EXCLUDE_ACCOUNTS)"),
            SkipReason::NotActive { status } => write!(f, "{}", status.to_ascii_lowercase().replace('_', " ")),
        }
    }
}

/// The accounts of a run: those to sync, each with the `ACCOUNTS` entry that brought it in (the first entry
/// that holds it), and those skipped, each with the entry and why.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Members {
    /// Account id → the entry that brought it in.
    pub synced: BTreeMap<String, AccountEntry>,
    /// Account id → the entry that brought it in, and why it is not synced.
    pub skipped: BTreeMap<String, (AccountEntry, SkipReason)>,
}

/// The accounts to sync and to skip, from what each entry of `ACCOUNTS` holds (in the order of `ACCOUNTS`) and
/// `EXCLUDE_ACCOUNTS`. An account held by several entries is counted once, with the first; an account that is
/// ACTIVE in one listing is synced even if another listing (made a moment earlier) saw it otherwise.
pub fn members(listed: &[(AccountEntry, Vec<OrgAccount>)], exclude: &BTreeSet<String>) -> Members {
    let mut members = Members::default();
    for (entry, accounts) in listed {
        for account in accounts {
            if members.synced.contains_key(&account.id) {
                continue;
            }
            let skip = match account.status.as_str() {
                _ if exclude.contains(&account.id) => Some(SkipReason::Excluded),
                "ACTIVE" => None,
                status => Some(SkipReason::NotActive {
                    status: status.to_owned(),
                }),
            };
            match skip {
                Some(reason) => {
                    members
                        .skipped
                        .entry(account.id.clone())
                        .or_insert_with(|| (entry.clone(), reason));
                }
                None => {
                    members.skipped.remove(&account.id);
                    members.synced.insert(account.id.clone(), entry.clone());
                }
            }
        }
    }
    members
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(text: &str) -> AccountEntry {
        AccountEntry::parse(text).unwrap()
    }

    #[test]
    fn every_kind_of_entry_is_read_and_said_back_as_written() {
        for (text, expected) in [
            ("111111111111", AccountEntry::Account("111111111111".into())),
            ("ou-ab12-cd34ef56", AccountEntry::Unit("ou-ab12-cd34ef56".into())),
            ("r-ab12", AccountEntry::Root("r-ab12".into())),
            ("organization", AccountEntry::Organization),
            (" Organization ", AccountEntry::Organization),
        ] {
            let parsed = entry(text);
            assert_eq!(parsed, expected, "{text}");
            assert_eq!(parsed.to_string(), text.trim().to_ascii_lowercase());
        }
        assert!(!entry("111111111111").needs_organization());
        assert!(entry("r-ab12").needs_organization());
    }

    #[test]
    fn a_malformed_entry_is_refused_with_what_an_entry_may_be() {
        for text in [
            "ou-nope",
            "12345",
            "ou-ab12",
            "ou-AB12-cd34ef56",
            "r-ab",
            "r-",
            "orgs",
            "",
            "1111111111111",
            "ou-ab12-cd34",
        ] {
            let e = AccountEntry::parse(text).unwrap_err();
            assert!(e.contains("OU id (ou-xxxx-yyyyyyyy)"), "{text}: {e}");
        }
    }

    fn account(id: &str, status: &str) -> OrgAccount {
        OrgAccount {
            id: id.into(),
            status: status.into(),
        }
    }

    #[test]
    fn active_accounts_are_synced_with_the_first_entry_that_holds_them() {
        let unit = entry("ou-ab12-cd34ef56");
        let root = entry("r-ab12");
        let listed = [
            (unit.clone(), vec![account("111111111111", "ACTIVE")]),
            (
                root.clone(),
                vec![account("111111111111", "ACTIVE"), account("222222222222", "ACTIVE")],
            ),
        ];
        let m = members(&listed, &BTreeSet::new());
        assert_eq!(
            m.synced,
            BTreeMap::from([("111111111111".into(), unit), ("222222222222".into(), root)])
        );
        assert!(m.skipped.is_empty());
    }

    #[test]
    fn excluded_suspended_and_closing_accounts_are_skipped_with_why() {
        let org = AccountEntry::Organization;
        let listed = [(
            org.clone(),
            vec![
                account("111111111111", "ACTIVE"),
                account("222222222222", "SUSPENDED"),
                account("333333333333", "PENDING_CLOSURE"),
                account("444444444444", "ACTIVE"),
            ],
        )];
        let m = members(&listed, &BTreeSet::from(["444444444444".to_owned()]));
        assert_eq!(m.synced.keys().collect::<Vec<_>>(), ["111111111111"]);
        let why: Vec<String> = m.skipped.values().map(|(_, r)| r.to_string()).collect();
        assert_eq!(why, ["suspended", "pending closure", "excluded (EXCLUDE_ACCOUNTS)"]);
        assert!(m.skipped.values().all(|(e, _)| *e == org));
    }

    #[test]
    fn an_excluded_account_named_by_id_is_skipped_too() {
        let id = entry("111111111111");
        let listed = [(id.clone(), vec![OrgAccount::active("111111111111")])];
        let m = members(&listed, &BTreeSet::from(["111111111111".to_owned()]));
        assert!(m.synced.is_empty());
        assert_eq!(m.skipped["111111111111"], (id, SkipReason::Excluded));
    }

    #[test]
    fn an_account_active_in_one_listing_is_synced_whatever_another_said() {
        let listed = [
            (entry("r-ab12"), vec![account("111111111111", "SUSPENDED")]),
            (entry("111111111111"), vec![OrgAccount::active("111111111111")]),
        ];
        let m = members(&listed, &BTreeSet::new());
        assert_eq!(m.synced["111111111111"], entry("111111111111"));
        assert!(m.skipped.is_empty());
    }
}
