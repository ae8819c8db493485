//! WAF IP sets against moto: whole runs of the function on real files, through the real `aws-sdk-wafv2`
//! adapter (ListIPSets, ListTagsForResource, GetIPSet, UpdateIPSet with lock tokens). Lock conflicts are also
//! covered in memory (`src/sync/ip_sets_tests.rs`) and with mocked WAF answers (`tests/ec2_mocked.rs`).

mod common;
#[path = "common/waf.rs"]
mod waf;

use std::collections::BTreeSet;

use aws_sdk_wafv2::types::Scope as ApiScope;
use cloudfront_sg_sync::adapters::ip_sets::WafIpSets;
use cloudfront_sg_sync::domain::cidr::IpVersion;
use cloudfront_sg_sync::domain::ip_ranges::Scope;
use cloudfront_sg_sync::ports::{IpSets, WafScope};
use cloudfront_sg_sync::report::{IpSetReport, Summary, TargetStatus};
use common::proxy::{FaultProxy, Faults};
use common::*;
use waf::*;

const TAGGED_G: [(&str, &str); 2] = [("Name", "cloudfront_g"), ("AutoUpdate", "true")];
const TAGGED_R: [(&str, &str); 2] = [("Name", "cloudfront_r"), ("AutoUpdate", "true")];

async fn run(w: &World, file: &str) -> Summary {
    w.server.set(Reply::Body(fixture(file)));
    app(w, &[])
        .await
        .handle(&notification_for(&fixture(file)), None)
        .await
        .unwrap()
}

fn report<'a>(summary: &'a Summary, name: &str) -> &'a IpSetReport {
    summary.ip_sets.iter().find(|s| s.name == name).unwrap()
}

#[tokio::test]
async fn tagged_ip_sets_fill_from_scratch_lose_stale_addresses_and_a_repeat_updates_nothing() {
    let mut w = world(NEWEST, 0, 0).await;
    let client = waf(&w.endpoint).await;
    // The function's calls go through a proxy that counts them (BENCHMARKS: WAF calls per run).
    let proxy = FaultProxy::start(&w.moto.endpoint, Faults::default()).await;
    w.endpoint = proxy.endpoint.clone();
    let regional = ApiScope::Regional;
    let g4 = create(&client, "g4", regional.clone(), false, &TAGGED_G, &["192.0.2.0/24"]).await;
    let g6 = create(&client, "g6", regional.clone(), true, &TAGGED_G, &[]).await;
    let r4 = create(&client, "r4", regional.clone(), false, &TAGGED_R, &[]).await;
    let untagged = create(
        &client,
        "untagged",
        regional.clone(),
        false,
        &[("Name", "cloudfront_g")],
        &["198.51.100.0/24"],
    )
    .await;
    let edge = create(&client, "edge", ApiScope::Cloudfront, false, &TAGGED_G, &[]).await;

    let summary = run(&w, NEWEST).await;
    let global_v4 = wanted(NEWEST, Scope::Global, IpVersion::Ipv4);
    let (g4_now, g4_token) = held(&client, "g4", regional.clone(), &g4).await;
    assert_eq!(g4_now, global_v4, "the stale address is gone");
    assert_eq!(
        held(&client, "g6", regional.clone(), &g6).await.0,
        wanted(NEWEST, Scope::Global, IpVersion::Ipv6)
    );
    assert_eq!(
        held(&client, "r4", regional.clone(), &r4).await.0,
        wanted(NEWEST, Scope::Regional, IpVersion::Ipv4)
    );
    assert_eq!(
        held(&client, "edge", ApiScope::Cloudfront, &edge).await.0,
        global_v4,
        "CLOUDFRONT scope"
    );
    let (untouched, _) = held(&client, "untagged", regional.clone(), &untagged).await;
    assert_eq!(untouched, BTreeSet::from(["198.51.100.0/24".parse().unwrap()]));

    assert_eq!(summary.ip_sets.len(), 4, "{summary}");
    let g4_report = report(&summary, "g4");
    assert_eq!(
        (
            g4_report.changes.status,
            g4_report.changes.added,
            g4_report.changes.removed
        ),
        (TargetStatus::Synced, global_v4.len(), 1)
    );
    assert_eq!(report(&summary, "edge").waf_scope, WafScope::Cloudfront);
    // Per scope (REGIONAL, and CLOUDFRONT with us-east-1): one ListIPSets; one ListTagsForResource per IP set of
    // the scope (4 + 1); one GetIPSet per tagged set (4); one UpdateIPSet and one TagResource per changed set.
    let counts = |proxy: &FaultProxy| {
        let count = |action: &str| proxy.calls().iter().filter(|c| c.action == action).count();
        [
            "ListIPSets",
            "ListTagsForResource",
            "GetIPSet",
            "UpdateIPSet",
            "TagResource",
        ]
        .map(count)
    };
    assert_eq!(counts(&proxy), [2, 5, 4, 4, 4], "the first run");

    proxy.clear();
    let again = run(&w, NEWEST).await;
    assert_eq!(counts(&proxy), [2, 5, 4, 0, 0], "in sync: reads only");
    assert!(
        again.ip_sets.iter().all(|s| s.changes.status == TargetStatus::InSync),
        "{again}"
    );
    assert_eq!(
        held(&client, "g4", regional, &g4).await.1,
        g4_token,
        "no update: the lock token did not move"
    );
}

#[tokio::test]
async fn a_real_change_lands_exactly_in_one_update() {
    let w = world(PAIR_A_OLD, 0, 0).await;
    let client = waf(&w.endpoint).await;
    let g4 = create(&client, "g4", ApiScope::Regional, false, &TAGGED_G, &[]).await;
    run(&w, PAIR_A_OLD).await;
    let (_, token) = held(&client, "g4", ApiScope::Regional, &g4).await;

    let summary = run(&w, PAIR_A_NEW).await;
    let old = wanted(PAIR_A_OLD, Scope::Global, IpVersion::Ipv4);
    let new = wanted(PAIR_A_NEW, Scope::Global, IpVersion::Ipv4);
    let (now, token_now) = held(&client, "g4", ApiScope::Regional, &g4).await;
    assert_eq!(now, new);
    let g4_report = report(&summary, "g4");
    assert_eq!((g4_report.changes.added, g4_report.changes.removed), (6, 3));
    assert_eq!(
        (g4_report.changes.added, g4_report.changes.removed),
        (new.difference(&old).count(), old.difference(&new).count())
    );
    assert_ne!(token_now, token, "one update");
}

#[tokio::test]
async fn an_ip_set_written_by_someone_else_after_our_read_is_read_again_and_rewritten() {
    // The adapter's side of a lock conflict against moto: an update at a stale token is refused with WAF's
    // code, which the sync treats as a conflict (the whole re-plan is covered in memory).
    let w = world(NEWEST, 0, 0).await;
    let client = waf(&w.endpoint).await;
    create(&client, "g4", ApiScope::Regional, false, &TAGGED_G, &[]).await;
    let base = w.app(&[]).await;
    let loader = cloudfront_sg_sync::adapters::aws::loader()
        .endpoint_url(&w.endpoint)
        .test_credentials();
    let adapter = WafIpSets::with_loader(&base.config, loader).await;
    let tagged = adapter
        .tagged_ip_sets("us-east-1", WafScope::Regional)
        .await
        .unwrap()
        .tagged;
    let ours = tagged.into_iter().next().unwrap();
    let theirs = adapter.ip_set(&ours).await.unwrap().unwrap();
    adapter
        .update(&theirs, &BTreeSet::from(["203.0.113.0/24".parse().unwrap()]))
        .await
        .unwrap();
    let err = adapter.update(&ours, &BTreeSet::new()).await.unwrap_err();
    assert!(err.to_string().contains("WAFOptimisticLockException"), "{err}");
    let again = adapter.ip_set(&ours).await.unwrap().unwrap();
    assert_eq!(again.set.addresses, BTreeSet::from(["203.0.113.0/24".parse().unwrap()]));
    assert_ne!(again.lock_token, ours.lock_token);
    adapter.update(&again, &BTreeSet::new()).await.unwrap();
}

#[tokio::test]
async fn targets_whose_auto_update_is_not_exactly_true_are_named_with_the_value_and_left_alone() {
    let w = world(NEWEST, 0, 0).await;
    let near = |name, auto: &'static str| [("Name", name), ("AutoUpdate", auto), ("Protocol", "https")];
    let group_true = create_group(&w.client, &w.vpc, "near", &near("cloudfront_g", "True")).await;
    let group_none = create_group(
        &w.client,
        &w.vpc,
        "none",
        &[("Name", "cloudfront_r"), ("Protocol", "https")],
    )
    .await;
    let list = sized_list(
        &w.client,
        "IPv4",
        &[("Name", "cloudfront_r"), ("AutoUpdate", "false")],
        10,
        &[],
    )
    .await;
    let client = waf(&w.endpoint).await;
    create(
        &client,
        "yes",
        ApiScope::Regional,
        false,
        &[("Name", "cloudfront_g"), ("AutoUpdate", "yes")],
        &[],
    )
    .await;
    // Tagged for the sync: synced as ever.
    create(&client, "g4", ApiScope::Regional, false, &TAGGED_G, &[]).await;

    let summary = run(&w, NEWEST).await;
    let named: BTreeSet<(String, Option<String>)> = summary
        .not_synced
        .iter()
        .map(|n| (n.id.clone(), n.auto_update.clone()))
        .collect();
    let expected: BTreeSet<(String, Option<String>)> = [
        (group_true.clone(), Some("True".to_owned())),
        (group_none.clone(), None),
        (list.clone(), Some("false".to_owned())),
        ("REGIONAL/yes".to_owned(), Some("yes".to_owned())),
    ]
    .into_iter()
    .collect();
    assert_eq!(named, expected);
    let text = summary.to_string();
    assert!(
        text.contains(&format!(
            "not synced: security group {group_true} in us-east-1 (Name=cloudfront_g): AutoUpdate=\"True\"; only AutoUpdate=\"true\" syncs it\n"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "not synced: prefix list {list} in us-east-1 (Name=cloudfront_r): AutoUpdate=\"false\""
        )),
        "{text}"
    );
    assert!(managed(&w.client, &group_true, 443).await.is_empty(), "left alone");
    assert!(managed(&w.client, &group_none, 443).await.is_empty(), "left alone");
    assert_eq!(report(&summary, "g4").changes.status, TargetStatus::Synced);
    assert!(
        summary.sets.is_empty() && summary.prefix_lists.is_empty(),
        "no group or list is tagged for the sync"
    );
    assert!(
        summary.failures().is_empty(),
        "never a failure: {:?}",
        summary.failures()
    );
    let json = serde_json::to_value(&summary).unwrap();
    assert_eq!(json["not_synced"].as_array().map(Vec::len), Some(4));
}
