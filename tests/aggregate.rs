//! Aggregation (`AGGREGATE`) on moto with the newest real file: every target (security groups, a prefix list,
//! a WAF IP set) gets the merged CIDRs, and
//! switching it off and on again converges, each group authorizing before it revokes.

mod common;
#[path = "common/waf.rs"]
mod waf;

use std::collections::BTreeSet;

use cloudfront_sg_sync::domain::cidr::{Cidr, IpVersion};
use cloudfront_sg_sync::domain::ip_ranges::Scope;
use common::proxy::{FaultProxy, Faults};
use common::*;
use waf::{app, create, held};

const TAGGED_G: [(&str, &str); 2] = [("Name", "cloudfront_g"), ("AutoUpdate", "true")];

fn ipv4(cidrs: &BTreeSet<Cidr>) -> BTreeSet<Cidr> {
    cidrs
        .iter()
        .filter(|c| c.version() == IpVersion::Ipv4)
        .copied()
        .collect()
}

/// In each set (`sets`: its groups), every revocation arrived after every authorization of the set was answered:
/// no group of a set lost a range before the set held its replacement.
fn authorized_before_revoking(calls: &[common::proxy::Call], sets: &[&[String]]) {
    let revoked = calls
        .iter()
        .filter(|c| c.action == "RevokeSecurityGroupIngress")
        .count();
    assert!(revoked > 0, "the run revoked nothing: no order to check");
    for groups in sets {
        let of_set = |action: &'static str| {
            calls
                .iter()
                .filter(move |c| c.action == action && c.group.as_ref().is_some_and(|g| groups.contains(g)))
        };
        let authorized = of_set("AuthorizeSecurityGroupIngress").filter_map(|c| c.done).max();
        let first_revoke = of_set("RevokeSecurityGroupIngress").map(|c| c.at).min();
        if let (Some(authorized), Some(revoked)) = (authorized, first_revoke) {
            assert!(
                authorized <= revoked,
                "{groups:?}: a revocation before the set's authorizations were answered"
            );
        }
    }
}

/// One run on the newest file's notification, with `AGGREGATE` as given.
async fn run(w: &World, aggregate: &str) -> cloudfront_sg_sync::report::Summary {
    let event = notification_for(&fixture(NEWEST));
    app(w, &[("AGGREGATE", aggregate)])
        .await
        .handle(&event, None)
        .await
        .unwrap()
}

#[tokio::test]
async fn every_target_gets_the_fewest_cidrs_and_switching_either_way_converges_authorizing_first() {
    let mut w = world(NEWEST, 5, 4).await;
    let list = sized_list(&w.client, "IPv4", &TAGGED_G, 200, &[]).await;
    let waf_client = waf::waf(&w.moto.endpoint).await;
    let regional = aws_sdk_wafv2::types::Scope::Regional;
    let ip_set = create(&waf_client, "g4", regional.clone(), false, &TAGGED_G, &[]).await;
    let ip_set_holds = || async { held(&waf_client, "g4", regional.clone(), &ip_set).await.0 };
    let proxy = FaultProxy::start(&w.moto.endpoint, Faults::default()).await;
    w.endpoint = proxy.endpoint.clone();
    let (published, expected) = (selection(&fixture(NEWEST)), aggregated(&fixture(NEWEST)));
    let merged = |scope| expected.ranges(scope).clone();

    let first = run(&w, "true").await;
    assert_eq!(w.state(&w.global).await, merged(Scope::Global));
    assert_eq!(w.state(&w.regional).await, merged(Scope::Regional));
    assert_eq!(
        (ipv4(&merged(Scope::Global)).len(), merged(Scope::Global).len()),
        (97, 128)
    );
    assert_eq!(
        first.added(),
        128 + 83 + 97 + 97,
        "the sets' rules, the list's entries, the IP set's addresses"
    );
    let entries: BTreeSet<Cidr> = list_entries(&w.client, &list).await.into_keys().collect();
    assert_eq!(entries, ipv4(&merged(Scope::Global)));
    assert_eq!(ip_set_holds().await, ipv4(&merged(Scope::Global)));

    // Off: every range as published; the merged CIDRs that are not published go, after the ranges are in.
    proxy.clear();
    let off = run(&w, "false").await;
    assert_eq!(w.state(&w.global).await, *published.ranges(Scope::Global));
    assert_eq!(w.state(&w.regional).await, *published.ranges(Scope::Regional));
    let entries: BTreeSet<Cidr> = list_entries(&w.client, &list).await.into_keys().collect();
    assert_eq!(entries, ipv4(published.ranges(Scope::Global)));
    assert_eq!(ip_set_holds().await, ipv4(published.ranges(Scope::Global)));
    let changed = |from: &BTreeSet<Cidr>, to: &BTreeSet<Cidr>| to.difference(from).count();
    let (g, r) = (Scope::Global, Scope::Regional);
    let added = changed(&merged(g), published.ranges(g)) + changed(&merged(r), published.ranges(r));
    let list_added = changed(&ipv4(&merged(g)), &ipv4(published.ranges(g)));
    assert_eq!(off.added(), added + 2 * list_added, "the sets, the list and the IP set");
    assert!(off.removed() > 0 && off.failures().is_empty());
    authorized_before_revoking(&proxy.calls(), &[&w.global, &w.regional]);

    // On again: back to the merged CIDRs, in the same order; then nothing to do.
    proxy.clear();
    run(&w, "true").await;
    assert_eq!(w.state(&w.global).await, merged(Scope::Global));
    assert_eq!(w.state(&w.regional).await, merged(Scope::Regional));
    assert_eq!(ip_set_holds().await, ipv4(&merged(Scope::Global)));
    authorized_before_revoking(&proxy.calls(), &[&w.global, &w.regional]);
    proxy.clear();
    let again = run(&w, "true").await;
    assert_eq!((again.added(), again.removed(), proxy.rule_writes().len()), (0, 0, 0));
}
