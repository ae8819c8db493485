//! One run over the accounts of an OU (`ACCOUNTS=ou-…`) against moto's AWS Organizations and STS: nested OUs,
//! a closed (suspended) account, an excluded one, an account outside the OU, an account that joins between two
//! runs of the same function, and an OU that does not exist.

mod common;
#[path = "common/organizations.rs"]
mod organizations;

use aws_sdk_ec2::Client;
use cloudfront_sg_sync::Error;
use cloudfront_sg_sync::adapters::accounts::{AwsOrganization, with_loader};
use cloudfront_sg_sync::adapters::aws::loader;
use cloudfront_sg_sync::adapters::ec2::Ec2;
use cloudfront_sg_sync::adapters::ip_sets::WafIpSets;
use cloudfront_sg_sync::adapters::source::HttpSource;
use cloudfront_sg_sync::domain::ip_ranges::Scope;
use cloudfront_sg_sync::handler::App;
use common::proxy::{FaultProxy, Faults};
use common::*;
use organizations::Org;

/// One tagged GLOBAL https group in us-east-1 of `account`.
async fn tagged(moto: &Moto, account: &str) -> (Client, String) {
    let client = moto.client_in(account, "us-east-1").await;
    let vpc = create_vpc(&client, "10.0.0.0/16").await;
    let group = tagged_group(&client, &vpc, "web", Scope::Global, "https").await;
    (client, group)
}

async fn app(
    moto: &Moto,
    server: &FileServer,
    vars: &[(&str, &str)],
) -> App<HttpSource, Ec2, WafIpSets, AwsOrganization> {
    let mut all = vec![
        ("AWS_REGION", "us-east-1"),
        // One group per account: GLOBAL IPv6 (32 ranges) fits moto's 60 rules.
        ("IP_VERSIONS", "ipv6"),
        ("MAX_RULES_PER_GROUP", "60"),
        ("IP_RANGES_URL", server.url.as_str()),
    ];
    all.extend_from_slice(vars);
    let config = config(&all);
    let (accounts, organization) = with_loader(&config, loader().endpoint_url(&moto.endpoint).test_credentials()).await;
    App {
        notifications: cloudfront_sg_sync::ports::NoNotifications,
        source: HttpSource::new(&config).unwrap(),
        config,
        accounts,
        organization,
    }
}

#[tokio::test]
async fn an_ou_syncs_its_active_accounts_nested_ous_included_and_an_account_that_joins_on_the_next_run() {
    let moto = Moto::start();
    let server = FileServer::start(Reply::Body(fixture(NEWEST))).await;
    let org = Org::create(&moto.endpoint).await;
    let prod = org.unit(&org.root, "prod").await;
    let web = org.unit(&prod, "web").await;
    let sandbox = org.unit(&org.root, "sandbox").await;
    let direct = org.account(&prod, "direct").await;
    let nested = org.account(&web, "nested").await;
    let closed = org.account(&web, "closed").await;
    let excluded = org.account(&prod, "excluded").await;
    let outside = org.account(&sandbox, "outside").await;
    org.close(&closed).await;
    let mut groups = std::collections::BTreeMap::new();
    for id in [&direct, &nested, &closed, &excluded, &outside] {
        groups.insert(id.clone(), tagged(&moto, id).await);
    }
    let app = app(&moto, &server, &[("ACCOUNTS", &prod), ("EXCLUDE_ACCOUNTS", &excluded)]).await;
    let summary = app.handle(&schedule(), None).await.unwrap();

    let newest = selection(&fixture(NEWEST));
    let wanted: std::collections::BTreeSet<_> = newest
        .ranges(Scope::Global)
        .iter()
        .filter(|c| c.to_string().contains(':'))
        .copied()
        .collect();
    // Exactly the wanted ranges, each once.
    let held = |rules: Vec<_>| {
        (
            rules.len(),
            rules.into_iter().collect::<std::collections::BTreeSet<_>>(),
        )
    };
    for id in [&direct, &nested] {
        let (client, group) = &groups[id];
        assert_eq!(
            held(managed(client, group, 443).await),
            (wanted.len(), wanted.clone()),
            "{id} synced"
        );
    }
    for id in [&closed, &excluded, &outside] {
        let (client, group) = &groups[id];
        assert!(managed(client, group, 443).await.is_empty(), "{id} untouched");
    }
    let mut expected = vec![
        (direct.clone(), prod.clone(), "synced", None),
        (nested.clone(), prod.clone(), "synced", None),
        (closed.clone(), prod.clone(), "skipped", Some("suspended".to_owned())),
        (
            excluded.clone(),
            prod.clone(),
            "skipped",
            Some("excluded (EXCLUDE_ACCOUNTS)".to_owned()),
        ),
    ];
    expected.sort();
    let said: Vec<_> = summary
        .accounts
        .iter()
        .map(|a| {
            (
                a.account.clone(),
                a.entry.to_string(),
                a.status.as_str(),
                a.reason.clone(),
            )
        })
        .collect();
    assert_eq!(said, expected);

    // An account that joins the OU is synced by the same function on its next run, with no change of settings.
    let joined = org.account(&web, "joined").await;
    let (client, group) = tagged(&moto, &joined).await;
    let again = app.handle(&schedule(), None).await.unwrap();
    assert_eq!(held(managed(&client, &group, 443).await), (wanted.len(), wanted));
    assert_eq!(again.account_counts(), (3, 0, 2));
}

#[tokio::test]
async fn an_ou_that_does_not_exist_fails_the_run_before_any_call_to_ec2_naming_it() {
    let moto = Moto::start();
    let server = FileServer::start(Reply::Body(fixture(NEWEST))).await;
    let org = Org::create(&moto.endpoint).await;
    let prod = org.unit(&org.root, "prod").await;
    let member = org.account(&prod, "member").await;
    let (client, group) = tagged(&moto, &member).await;
    let missing = format!("{}-zzzzzzzz", &prod[..prod.rfind('-').unwrap()]);
    let proxy = FaultProxy::start(&moto.endpoint, Faults::default()).await;
    let mut app = app(&moto, &server, &[("ACCOUNTS", &format!("{prod},{missing}"))]).await;
    let (accounts, organization) =
        with_loader(&app.config, loader().endpoint_url(&proxy.endpoint).test_credentials()).await;
    (app.accounts, app.organization) = (accounts, organization);

    let e = app.handle(&schedule(), None).await.unwrap_err();
    assert!(matches!(e, Error::AccountsUnresolved { .. }), "{e:?}");
    let text = e.to_string();
    assert!(
        text.contains(&format!("ACCOUNTS entry {missing} cannot be listed")),
        "{text}"
    );
    assert!(text.contains("ParentNotFoundException"), "{text}");
    let actions: std::collections::BTreeSet<String> = proxy.calls().into_iter().map(|c| c.action).collect();
    assert!(
        actions
            .iter()
            .all(|a| a == "ListChildren" || a == "ListAccountsForParent"),
        "only Organizations was called: {actions:?}"
    );
    assert!(managed(&client, &group, 443).await.is_empty());
}
