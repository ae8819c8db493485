//! The accounts of a run from `ACCOUNTS` entries that are OUs, roots or the organization, against the in-memory
//! organization: nested OUs, skipped accounts, exclusions, bad entries, and each level of OUs read at once.

use std::collections::BTreeSet;
use std::time::Duration;

use tokio::time::Instant;

use super::tests::{config, doc};
use crate::domain::ip_ranges::Scope;
use crate::error::Error;
use crate::handler::App;
use crate::testing::{FakeOrganization, FakeSource, Op};

const ROOT: &str = "r-ab12";
const PROD: &str = "ou-ab12-prod0001";
const WEB: &str = "ou-ab12-web00001";
const API: &str = "ou-ab12-api00001";
const SANDBOX: &str = "ou-ab12-sand0001";

/// root ─ prod ─ web (1111, 2222 suspended) ─ api (3333)
///      │      └ 4444
///      └ sandbox (5555)
/// Every account has one tagged GLOBAL group.
fn organization(latency: Duration) -> FakeOrganization {
    tree(FakeOrganization::with_latency(latency))
}

/// The tree of [`organization`] in `org`.
fn tree(mut org: FakeOrganization) -> FakeOrganization {
    org.add_unit(ROOT, PROD);
    org.add_unit(ROOT, SANDBOX);
    org.add_unit(PROD, WEB);
    org.add_unit(WEB, API);
    for (parent, id, status) in [
        (WEB, "111111111111", "ACTIVE"),
        (WEB, "222222222222", "SUSPENDED"),
        (API, "333333333333", "ACTIVE"),
        (PROD, "444444444444", "ACTIVE"),
        (SANDBOX, "555555555555", "ACTIVE"),
    ] {
        org.add_account(parent, id, status)
            .add_set_group("sg-1", "vpc-1", Scope::Global);
    }
    org
}

fn app(
    org: FakeOrganization,
    vars: &[(&str, &str)],
) -> App<FakeSource, crate::testing::FakeEc2, crate::ports::NoIpSets, FakeOrganization> {
    App {
        notifications: crate::ports::NoNotifications,
        config: config(vars),
        source: FakeSource::new([doc(2, &["11.0.1.0/24"], &[])]),
        accounts: Vec::new(),
        organization: org,
    }
}

/// A scheduled event, as EventBridge sends it.
pub(super) fn schedule() -> serde_json::Value {
    serde_json::json!({"detail-type": "Scheduled Event", "source": "aws.events", "detail": {}})
}

#[tokio::test]
async fn an_ou_syncs_every_active_account_under_it_nested_ous_included_and_counts_the_rest_as_skipped() {
    let app = app(
        organization(Duration::ZERO),
        &[("ACCOUNTS", PROD), ("EXCLUDE_ACCOUNTS", "444444444444")],
    );
    let summary = app.handle(&schedule(), None).await.unwrap();

    let synced: BTreeSet<_> = summary.sets.iter().filter_map(|s| s.key.account.clone()).collect();
    assert_eq!(synced, BTreeSet::from(["111111111111".into(), "333333333333".into()]));
    for id in ["111111111111", "333333333333"] {
        assert_eq!(app.organization.ec2[id].ours("sg-1", 443).len(), 1, "{id}");
    }
    for id in ["222222222222", "444444444444", "555555555555"] {
        assert!(app.organization.ec2[id].calls().is_empty(), "{id} is never tried");
    }
    let accounts: Vec<String> = summary.accounts.iter().map(|a| a.to_string()).collect();
    assert_eq!(
        accounts,
        [
            format!("account 111111111111 (from {PROD}): synced\n"),
            format!("account 222222222222 (from {PROD}): skipped, suspended\n"),
            format!("account 333333333333 (from {PROD}): synced\n"),
            format!("account 444444444444 (from {PROD}): skipped, excluded (EXCLUDE_ACCOUNTS)\n"),
        ]
    );
    assert_eq!(summary.account_counts(), (2, 0, 2));
    assert!(summary.to_string().contains("accounts: 2 synced, 0 failed, 2 skipped"));
    let json = serde_json::to_value(&summary).unwrap();
    assert_eq!(json["accounts"][1]["status"], "skipped");
    assert_eq!(json["accounts"][1]["entry"], PROD);
    assert_eq!(json["accounts"][1]["reason"], "suspended");
}

#[tokio::test]
async fn entries_mix_freely_and_an_account_is_synced_once_with_the_entry_named_first() {
    let app = app(
        organization(Duration::ZERO),
        &[("ACCOUNTS", &format!("{WEB},555555555555,{ROOT}"))],
    );
    let summary = app.handle(&schedule(), None).await.unwrap();
    let from: Vec<(String, String)> = summary
        .accounts
        .iter()
        .map(|a| (a.account.clone(), a.entry.to_string()))
        .collect();
    assert_eq!(
        from,
        [
            ("111111111111".into(), WEB.into()),
            ("222222222222".into(), WEB.into()),
            ("333333333333".into(), WEB.into()),
            ("444444444444".into(), ROOT.into()),
            ("555555555555".into(), "555555555555".into()),
        ]
    );
    assert_eq!(summary.sets.len(), 4, "every active account once");
    assert_eq!(app.organization.ec2["111111111111"].calls_of(Op::Authorize).len(), 1);
}

#[tokio::test]
async fn the_organization_is_every_account_listed_by_list_accounts() {
    let app = app(organization(Duration::ZERO), &[("ACCOUNTS", "organization")]);
    let summary = app.handle(&schedule(), None).await.unwrap();
    assert_eq!(summary.account_counts(), (4, 0, 1));
    let operations: BTreeSet<_> = app.organization.calls().into_iter().map(|c| c.0).collect();
    assert_eq!(operations, BTreeSet::from(["ListAccounts"]));
}

#[tokio::test]
async fn an_ou_that_does_not_exist_fails_the_run_before_any_write_naming_it() {
    let missing = "ou-ab12-gone0001";
    let app = app(
        organization(Duration::ZERO),
        &[("ACCOUNTS", &format!("{PROD},{missing}"))],
    );
    let e = app.handle(&schedule(), None).await.unwrap_err();
    assert!(matches!(e, Error::AccountsUnresolved { .. }), "{e:?}");
    assert_eq!(e.kind(), "AccountsUnresolved");
    let text = e.to_string();
    assert!(
        text.contains(&format!("ACCOUNTS entry {missing} cannot be listed")),
        "{text}"
    );
    assert!(text.contains("ParentNotFoundException"), "{text}");
    assert!(
        app.organization.ec2.values().all(|ec2| ec2.calls().is_empty()),
        "no account was touched"
    );
    assert!(app.source.fetches().is_empty(), "not even the file was fetched");
}

#[tokio::test]
async fn a_failed_account_is_counted_failed_while_the_others_sync() {
    let org = organization(Duration::ZERO);
    org.ec2["333333333333"].fail(Op::Describe, None, "AccessDenied");
    let app = app(org, &[("ACCOUNTS", PROD)]);
    let summary = app.handle(&schedule(), None).await.unwrap_err();
    let Error::SetsFailed { messages, .. } = summary else {
        panic!("{summary:?}");
    };
    assert!(
        messages.iter().any(|m| m.contains("account 333333333333")),
        "{messages:?}"
    );
    assert_eq!(app.organization.ec2["111111111111"].ours("sg-1", 443).len(), 1);
}

#[tokio::test(start_paused = true)]
async fn each_level_of_ous_is_read_at_once() {
    let app = app(organization(Duration::from_millis(100)), &[("ACCOUNTS", ROOT)]);
    let started = Instant::now();
    let members = super::members(&app.config, &app.organization).await.unwrap();
    assert_eq!(members.synced.len(), 4);
    // root, then prod and sandbox, then web, then api: 4 levels, each one call time (its accounts and its
    // OUs at once).
    assert_eq!(started.elapsed(), Duration::from_millis(400));
    assert_eq!(app.organization.calls().len(), 2 * 5, "two calls per OU and root");
}

#[tokio::test(start_paused = true)]
async fn an_ou_is_read_as_soon_as_its_parent_is_listed_not_after_its_whole_level() {
    // Every OU's accounts take 3 pages (300 ms); its list of OUs one (100 ms).
    let paged = tree(FakeOrganization::with_account_pages(Duration::from_millis(100), 3));
    let app = app(paged, &[("ACCOUNTS", ROOT)]);
    let started = Instant::now();
    let members = super::members(&app.config, &app.organization).await.unwrap();
    assert_eq!(members.synced.len(), 4);
    // api is listed after three lists of OUs (root, prod, web: 300 ms), then its accounts' 3 pages: 600 ms.
    // Level by level, each level would wait for its slowest accounts: 4 × 300 ms.
    assert_eq!(started.elapsed(), Duration::from_millis(600));
    let api = app
        .organization
        .calls()
        .into_iter()
        .find(|(op, parent, _)| *op == "ListAccountsForParent" && parent == API);
    assert_eq!(api.map(|(_, _, at)| at - started), Some(Duration::from_millis(300)));
}
