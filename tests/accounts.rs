//! One run over many accounts (`ACCOUNTS`), each through its role, against moto (credentials from an assumed
//! role act in the role's account) behind the fault proxy, which counts the STS and EC2 calls and can refuse
//! one account's AssumeRole.

mod common;

use aws_sdk_ec2::Client;
use cloudfront_sg_sync::Error;
use cloudfront_sg_sync::adapters::accounts::accounts_with_loader;
use cloudfront_sg_sync::adapters::aws::loader;
use cloudfront_sg_sync::adapters::ec2::Ec2;
use cloudfront_sg_sync::adapters::ip_sets::WafIpSets;
use cloudfront_sg_sync::adapters::source::HttpSource;
use cloudfront_sg_sync::domain::event::Trigger;
use cloudfront_sg_sync::domain::ip_ranges::Scope;
use cloudfront_sg_sync::handler::App;
use cloudfront_sg_sync::report::TargetStatus;
use cloudfront_sg_sync::sync;
use common::proxy::{FaultProxy, Faults};
use common::*;

const A: &str = "111111111111";
const B: &str = "222222222222";
/// Listed, with nothing tagged.
const C: &str = "333333333333";
const REGIONS: [&str; 2] = ["us-east-1", "eu-west-1"];

/// One region of a member account: a VPC with a GLOBAL and a regional https set of 4 groups each.
struct MemberRegion {
    client: Client,
    global: Vec<String>,
    regional: Vec<String>,
}

async fn member_region(moto: &Moto, account: &str, region: &str) -> MemberRegion {
    let client = moto.client_in(account, region).await;
    let vpc = create_vpc(&client, "10.0.0.0/16").await;
    let mut global = Vec::new();
    let mut regional = Vec::new();
    for i in 0..4 {
        global.push(tagged_group(&client, &vpc, &format!("g-{i}"), Scope::Global, "https").await);
        regional.push(tagged_group(&client, &vpc, &format!("r-{i}"), Scope::Regional, "https").await);
    }
    MemberRegion {
        client,
        global,
        regional,
    }
}

/// Two member accounts with sets in both regions, a third listed with nothing, and a set in the function's
/// own account that is not listed.
struct Organization {
    moto: Moto,
    server: FileServer,
    members: Vec<MemberRegion>,
    own_group: String,
    own_client: Client,
}

async fn organization() -> Organization {
    let moto = Moto::start();
    let server = FileServer::start(Reply::Body(fixture(NEWEST))).await;
    let mut members = Vec::new();
    for account in [A, B] {
        for region in REGIONS {
            members.push(member_region(&moto, account, region).await);
        }
    }
    let own_client = moto.client("us-east-1").await;
    let vpc = create_vpc(&own_client, "10.0.0.0/16").await;
    let own_group = tagged_group(&own_client, &vpc, "own", Scope::Global, "https").await;
    Organization {
        moto,
        server,
        members,
        own_group,
        own_client,
    }
}

impl Organization {
    /// The function, configured for the three accounts, its calls through `endpoint`.
    async fn app(&self, endpoint: &str) -> App<HttpSource, Ec2, WafIpSets> {
        let config = config(&[
            ("AWS_REGION", "us-east-1"),
            ("REGIONS", &REGIONS.join(",")),
            ("ACCOUNTS", &[A, B, C].join(",")),
            ("MAX_RULES_PER_GROUP", MAX),
            ("IP_RANGES_URL", self.server.url.as_str()),
        ]);
        let loader = loader().endpoint_url(endpoint).test_credentials();
        let accounts = accounts_with_loader(&config, loader).await;
        App {
            notifications: cloudfront_sg_sync::ports::NoNotifications,
            organization: cloudfront_sg_sync::ports::NoOrganization,
            source: HttpSource::new(&config).unwrap(),
            config,
            accounts,
        }
    }

    /// Whether every set of the first `n` member regions holds exactly the wanted ranges.
    async fn assert_synced(&self, members: std::ops::Range<usize>) {
        let newest = selection(&fixture(NEWEST));
        for m in &self.members[members] {
            assert_eq!(
                set_state(&m.client, &m.global, 443, 30).await,
                *newest.ranges(Scope::Global)
            );
            assert_eq!(
                set_state(&m.client, &m.regional, 443, 30).await,
                *newest.ranges(Scope::Regional)
            );
        }
    }
}

#[tokio::test]
async fn one_run_syncs_every_listed_account_and_region_through_its_role_and_nothing_else() {
    let org = organization().await;
    let proxy = FaultProxy::start(&org.moto.endpoint, Faults::default()).await;
    let app = org.app(&proxy.endpoint).await;
    let summary = app.handle(&schedule(), None).await.unwrap();

    // 2 accounts × 2 regions × 2 sets; the third account has nothing tagged and is no failure.
    assert_eq!(summary.sets.len(), 8);
    for set in &summary.sets {
        assert!([Some(A), Some(B)].contains(&set.key.account.as_deref()), "{}", set.key);
        assert_eq!(set.status, TargetStatus::Synced, "{}", set.key);
    }
    org.assert_synced(0..4).await;
    // The function's own account is not listed: its tagged group is untouched.
    assert!(managed(&org.own_client, &org.own_group, 443).await.is_empty());
    let json = serde_json::to_value(&summary).unwrap();
    assert_eq!(json["sets"][0]["account"], A);

    // One AssumeRole per account per run, in the function's region.
    let assumed: Vec<String> = proxy
        .calls()
        .iter()
        .filter(|c| c.action == "AssumeRole")
        .filter_map(|c| c.group.clone())
        .collect();
    assert_eq!(assumed.len(), 3, "{assumed:?}");
    for account in [A, B, C] {
        let role = format!("arn:aws:iam::{account}:role/cloudfront-sg-sync");
        assert_eq!(assumed.iter().filter(|r| **r == role).count(), 1, "{assumed:?}");
    }

    // The repeat run of the same (warm) function writes nothing, and assumes no role again: each account's
    // credentials are still in its cache.
    proxy.clear();
    let again = app.handle(&schedule(), None).await.unwrap();
    assert_eq!(proxy.writes().len(), 0);
    assert!(again.sets.iter().all(|s| s.status == TargetStatus::InSync));
    let calls = proxy.calls();
    assert!(!calls.is_empty());
    assert!(
        calls.iter().all(|c| c.action != "AssumeRole"),
        "{:?}",
        calls.iter().map(|c| &c.action).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn an_account_whose_role_cannot_be_assumed_fails_alone_and_is_named() {
    let org = organization().await;
    let denied = format!("arn:aws:iam::{B}:role/cloudfront-sg-sync");
    let faults = Faults {
        fail: Some(("AssumeRole".into(), Some(denied.clone()), "AccessDenied".into())),
        ..Faults::default()
    };
    let proxy = FaultProxy::start(&org.moto.endpoint, faults).await;
    let err = org
        .app(&proxy.endpoint)
        .await
        .handle(&schedule(), None)
        .await
        .unwrap_err();

    let Error::SetsFailed {
        sets,
        regions_failed,
        messages,
        ..
    } = &err
    else {
        panic!("{err:?}");
    };
    assert_eq!((*sets, *regions_failed), (4, 1), "A's 4 sets synced; B failed once");
    assert_eq!(err.kind(), "CredentialsError");
    assert_eq!(
        messages,
        &[format!(
            "region eu-west-1 of account {B} (security groups): cannot get AWS credentials: AccessDenied: \
             injected by the fault proxy; none of the account's regions is read (a listed account: check that its \
             role exists and trusts the caller; else the caller's own credentials: AWS_PROFILE, the environment, \
             the function's role)"
        )]
    );
    // B's role was tried once, and none of its regions was read after that.
    let tried = proxy
        .calls()
        .iter()
        .filter(|c| c.group.as_deref() == Some(denied.as_str()))
        .count();
    assert_eq!(tried, 1);
    org.assert_synced(0..2).await;
    for m in &org.members[2..4] {
        for g in m.global.iter().chain(&m.regional) {
            assert!(managed(&m.client, g, 443).await.is_empty(), "B's group {g} untouched");
        }
    }
    assert!(
        proxy.rule_writes().iter().all(|c| c.group.as_ref().is_some_and(|g| {
            org.members[..2]
                .iter()
                .any(|m| m.global.contains(g) || m.regional.contains(g))
        })),
        "every write went to account A"
    );
}

/// Every SDK client of a run (one per account, region and service, and each account's STS) shares one HTTPS
/// client, so one pool of connections: they are reused from one account to the next.
#[tokio::test]
async fn every_client_of_a_run_shares_one_pool_of_connections() {
    let server = FileServer::start(Reply::Body(fixture(NEWEST))).await;
    // The proxy answers every call itself: nothing is forwarded (to a port nobody listens on).
    let faults = Faults {
        answer_reads: true,
        answer_writes: true,
        ..Faults::default()
    };
    let proxy = FaultProxy::start("http://127.0.0.1:9", faults).await;
    let config = config(&[
        ("AWS_REGION", "us-east-1"),
        ("REGIONS", &REGIONS.join(",")),
        ("ACCOUNTS", &[A, B, C].join(",")),
        ("MAX_CONCURRENCY", "1"),
        ("SERVICE", "CLOUDFRONT_ORIGIN_FACING"),
        ("IP_VERSIONS", "ipv6"),
        ("IP_RANGES_URL", server.url.as_str()),
    ]);
    let loader = loader().endpoint_url(&proxy.endpoint).test_credentials();
    let accounts = accounts_with_loader(&config, loader).await;
    let source = HttpSource::new(&config).unwrap();
    let summary = sync::run(&config, &Trigger::Scheduled, &source, &accounts, None)
        .await
        .unwrap();

    // The proxy's one tagged group in each of 3 accounts × 2 regions, synced.
    assert_eq!(summary.sets.len(), 6);
    assert!(summary.failures().is_empty(), "{:?}", summary.failures());
    // Per account: its role, per region its groups, prefix lists and IP sets, the CLOUDFRONT IP sets, and per
    // set its authorization, read-back and CreateTags.
    let (calls, connections) = (proxy.calls().len(), proxy.connections());
    assert_eq!(calls, 3 * (1 + 2 * 3 + 1 + 2 * 3));
    // One unit at a time, and a region's reads (groups, prefix lists, IP sets of two scopes) at once: at most 4
    // calls in flight (a connection may be back in the pool a moment after its answer: 5). With an HTTPS client
    // of their own, the clients open one connection each: 18.
    assert!(connections <= 5, "{connections} connections for {calls} calls");
}
