//! The real handler and adapter against `moto_server`, on real ip-ranges.json snapshots served over loopback.
//!
//! moto counts IPv4 and IPv6 rules together against 60, so these tests run with `MAX_RULES_PER_GROUP=30`.

mod common;

use std::collections::BTreeSet;

use cloudfront_sg_sync::Error;
use cloudfront_sg_sync::domain::cidr::{Cidr, IpVersion};
use cloudfront_sg_sync::domain::ip_ranges::Scope;
use cloudfront_sg_sync::report::TargetStatus;
use common::*;

#[tokio::test]
async fn first_sync_from_empty_groups_authorizes_every_range_in_both_ip_versions() {
    let w = world(NEWEST, 4, 4).await;
    let app = w.app(&[]).await;
    let summary = app.handle(&notification_for(&fixture(NEWEST)), None).await.unwrap();

    let wanted = selection(&fixture(NEWEST));
    assert_eq!(w.state(&w.global).await, *wanted.ranges(Scope::Global));
    assert_eq!(w.state(&w.regional).await, *wanted.ranges(Scope::Regional));
    let v6 = w
        .state(&w.global)
        .await
        .iter()
        .filter(|c| c.version() == IpVersion::Ipv6)
        .count();
    assert_eq!(v6, 32);

    assert_eq!(summary.sync_token, 1_787_411_825);
    assert!(!summary.late_notification);
    assert_eq!(summary.sets.len(), 2);
    let g = &summary.sets[0];
    assert_eq!(
        (g.key.scope, g.added, g.removed, g.unchanged, g.status),
        (Scope::Global, 150, 0, 0, TargetStatus::Synced)
    );
    assert_eq!(g.room_left[&IpVersion::Ipv4], 120 - 118);
    assert_eq!(g.room_left[&IpVersion::Ipv6], 120 - 32);
    // One authorize per group, no revoke.
    assert_eq!(
        app.accounts[0].ec2.authorizes.load(std::sync::atomic::Ordering::SeqCst),
        8
    );
    assert_eq!(app.accounts[0].ec2.revokes.load(std::sync::atomic::Ordering::SeqCst), 0);
}

#[tokio::test]
async fn the_same_notification_again_writes_nothing() {
    let w = world(NEWEST, 4, 4).await;
    let event = notification_for(&fixture(NEWEST));
    w.app(&[]).await.handle(&event, None).await.unwrap();
    let before_g = w.state(&w.global).await;

    let again = w.app(&[]).await;
    let summary = again.handle(&event, None).await.unwrap();
    assert_eq!(again.accounts[0].ec2.writes(), 0);
    assert_eq!(
        again.accounts[0]
            .ec2
            .describes
            .load(std::sync::atomic::Ordering::SeqCst),
        1
    );
    assert!(
        summary
            .sets
            .iter()
            .all(|s| s.status == TargetStatus::InSync && s.added == 0 && s.removed == 0)
    );
    assert_eq!(summary.sets[0].unchanged, 150);
    assert_eq!(w.state(&w.global).await, before_g);
    assert_eq!(
        again.accounts[0]
            .ec2
            .tag_writes
            .load(std::sync::atomic::Ordering::SeqCst),
        0
    );
}

/// The value of the tag recording the file applied, on `group`.
async fn applied_tag(w: &World, group: &str) -> Option<String> {
    let out = w
        .client
        .describe_security_groups()
        .group_ids(group)
        .send()
        .await
        .unwrap();
    out.security_groups()[0]
        .tags()
        .iter()
        .find(|t| t.key() == Some(cloudfront_sg_sync::domain::security_groups::SYNC_TOKEN_TAG))
        .and_then(|t| t.value().map(str::to_owned))
}

#[tokio::test]
async fn the_file_applied_is_tagged_on_every_group_and_an_older_file_is_then_refused() {
    let w = world(PAIR_A_NEW, 4, 4).await;
    let app = w.app(&[]).await;
    let summary = app.handle(&schedule(), None).await.unwrap();
    assert_eq!(
        app.accounts[0].ec2.tag_writes.load(std::sync::atomic::Ordering::SeqCst),
        2,
        "one per set"
    );
    for g in &w.global {
        assert_eq!(applied_tag(&w, g).await.as_deref(), Some("1763416705 ipv4 ipv6"), "{g}");
    }
    for g in &w.regional {
        assert_eq!(applied_tag(&w, g).await.as_deref(), Some("1763416705 ipv4"), "{g}");
    }
    assert!(summary.sets.iter().all(|s| s.previous_sync_token.is_none()));

    // A scheduled run served an older copy (a lagging CDN edge): every set keeps the newer file.
    w.server.set(Reply::Body(fixture(PAIR_A_OLD)));
    let app = w.app(&[]).await;
    let summary = app.handle(&schedule(), None).await.unwrap();
    assert_eq!(
        (
            app.accounts[0].ec2.writes(),
            app.accounts[0].ec2.tag_writes.load(std::sync::atomic::Ordering::SeqCst)
        ),
        (0, 0)
    );
    for set in &summary.sets {
        assert_eq!(set.status, TargetStatus::OlderFile, "{set:?}");
        assert_eq!(set.previous_sync_token, Some(1_763_416_705));
    }
    let new = selection(&fixture(PAIR_A_NEW));
    assert_eq!(w.state(&w.global).await, *new.ranges(Scope::Global));
    assert_eq!(w.state(&w.regional).await, *new.ranges(Scope::Regional));

    // The newer file again: in sync, nothing written.
    w.server.set(Reply::Body(fixture(PAIR_A_NEW)));
    let app = w.app(&[]).await;
    let summary = app.handle(&schedule(), None).await.unwrap();
    assert!(summary.sets.iter().all(|s| s.status == TargetStatus::InSync));
    assert_eq!(
        (
            app.accounts[0].ec2.writes(),
            app.accounts[0].ec2.tag_writes.load(std::sync::atomic::Ordering::SeqCst)
        ),
        (0, 0)
    );
}

#[tokio::test]
async fn a_file_older_than_its_notification_is_fetched_again_until_the_new_one_is_published() {
    let w = world(PAIR_A_OLD, 4, 4).await;
    let app = w.app(&[("LAGGING_FILE_WAIT_SECONDS", "20")]).await;
    let event = notification_for(&fixture(PAIR_A_NEW));
    // Published once the function has fetched the old file (not after a guessed time): its next fetch, 5 s
    // later, finds the new one.
    let publish_later = async {
        while w.server.requests() == 0 {
            tokio::task::yield_now().await;
        }
        w.server.set(Reply::Body(fixture(PAIR_A_NEW)));
    };
    let (summary, ()) = tokio::join!(app.handle(&event, None), publish_later);
    let summary = summary.unwrap();
    assert!(!summary.late_notification);
    assert_eq!(summary.sync_token, 1_763_416_705);
    assert_eq!(w.server.requests(), 2, "fetched again once, after 5 s");
    assert_eq!(
        w.state(&w.global).await,
        *selection(&fixture(PAIR_A_NEW)).ranges(Scope::Global)
    );
}

#[tokio::test]
async fn ipv6_only_with_regional_sets_syncs_the_global_sets() {
    // CloudFront has no regional IPv6 range: the regional sets are simply in sync, not an error.
    let w = world(NEWEST, 4, 4).await;
    let summary = w
        .app(&[("IP_VERSIONS", "ipv6")])
        .await
        .handle(&schedule(), None)
        .await
        .unwrap();
    let global = w.state(&w.global).await;
    assert_eq!(global.len(), 32);
    assert!(global.iter().all(|c| c.version() == IpVersion::Ipv6));
    assert_eq!(
        (summary.sets[0].status, summary.sets[1].status),
        (TargetStatus::Synced, TargetStatus::InSync)
    );
    assert!(w.state(&w.regional).await.is_empty());
}

#[tokio::test]
async fn a_file_without_ipv6_prefixes_does_not_revoke_the_ipv6_rules_held() {
    let w = world(NEWEST, 4, 4).await;
    w.app(&[]).await.handle(&schedule(), None).await.unwrap();
    let before = w.state(&w.global).await;

    // The same file, a newer syncToken, and no ipv6_prefixes list at all.
    let mut doc: serde_json::Value = serde_json::from_slice(&fixture(NEWEST)).unwrap();
    doc.as_object_mut().unwrap().remove("ipv6_prefixes");
    doc["syncToken"] = serde_json::json!("1790000000");
    doc["createDate"] = serde_json::json!("2026-09-21-14-13-20");
    w.server.set(Reply::Body(serde_json::to_vec(&doc).unwrap()));
    let app = w.app(&[]).await;
    let summary = app.handle(&schedule(), None).await.unwrap_err();
    assert_eq!(summary.kind(), "SetsFailed");
    assert!(summary.to_string().contains("no ipv6 range at all"), "{summary}");
    assert!(
        summary.to_string().contains("holds 32 of our ipv6 rule(s)"),
        "{summary}"
    );
    // No rule written anywhere; the one write is the regional set's record of the file (it held no IPv6).
    let ec2 = &app.accounts[0].ec2;
    let tags = ec2.tag_writes.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!((ec2.rule_writes(), tags, ec2.writes()), (0, 1, 1));
    assert_eq!(w.state(&w.global).await, before);
}

#[tokio::test]
async fn a_real_consecutive_change_writes_only_to_the_groups_that_change() {
    let w = world(PAIR_A_OLD, 4, 4).await;
    w.notify(PAIR_A_OLD).await.unwrap();

    w.server.set(Reply::Body(fixture(PAIR_A_NEW)));
    let app = w.app(&[]).await;
    let summary = app.handle(&notification_for(&fixture(PAIR_A_NEW)), None).await.unwrap();

    let new = selection(&fixture(PAIR_A_NEW));
    assert_eq!(w.state(&w.global).await, *new.ranges(Scope::Global));
    assert_eq!(w.state(&w.regional).await, *new.ranges(Scope::Regional));
    let g = &summary.sets[0];
    assert_eq!((g.added, g.removed), (6, 3));
    assert_eq!(summary.sets[1].status, TargetStatus::InSync);
    let touched = app.accounts[0].ec2.touched();
    assert!(
        !touched.is_empty() && touched.iter().all(|t| w.global.contains(t)),
        "{touched:?}"
    );
    // The removed CIDRs are gone, the added ones there.
    let state = w.state(&w.global).await;
    for gone in ["23.228.226.0/24", "23.228.227.0/24", "23.228.237.0/24"] {
        assert!(!state.contains(&gone.parse().unwrap()), "{gone}");
    }
    for added in ["23.228.216.0/24", "23.228.225.0/24"] {
        assert!(state.contains(&added.parse().unwrap()), "{added}");
    }
}

#[tokio::test]
async fn a_late_notification_applies_the_newer_file_with_a_warning_flag() {
    let w = world(PAIR_A_NEW, 4, 4).await;
    let app = w.app(&[]).await;
    let summary = app.handle(&notification_for(&fixture(PAIR_A_OLD)), None).await.unwrap();
    assert!(summary.late_notification);
    assert_eq!(summary.sync_token, 1_763_416_705);
    assert_eq!(
        w.state(&w.global).await,
        *selection(&fixture(PAIR_A_NEW)).ranges(Scope::Global)
    );
}

#[tokio::test]
async fn an_md5_mismatch_with_a_file_that_is_not_newer_writes_nothing() {
    let w = world(PAIR_A_OLD, 4, 4).await;
    let app = w.app(&[]).await;
    // The notification announces the newer file, but the server still serves the older one.
    let err = app
        .handle(&notification_for(&fixture(PAIR_A_NEW)), None)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Md5Mismatch { .. }), "{err:?}");
    assert!(err.to_string().contains("ec6149435b60255ae72f1e8654db95fe"), "{err}");
    assert_eq!(app.accounts[0].ec2.writes(), 0);
    assert!(w.state(&w.global).await.is_empty());
}

#[tokio::test]
async fn every_bad_input_is_an_error_and_writes_nothing() {
    let w = world(NEWEST, 4, 4).await;
    let good = notification_for(&fixture(NEWEST));
    let newest = fixture(NEWEST);
    let cases: Vec<(Reply, serde_json::Value, &str)> = vec![
        (Reply::Status(404), good.clone(), "DownloadFailed"),
        (Reply::Status(500), good.clone(), "DownloadFailed"),
        (Reply::Redirect("http://elsewhere.invalid/ip-ranges.json".into()), good.clone(), "DownloadFailed"),
        (Reply::Truncated { body: newest[..1000].to_vec(), declared: newest.len() }, good.clone(), "DownloadFailed"),
        (Reply::Body(b"<html>not json</html>".to_vec()), schedule(), "InvalidIpRanges"),
        (
            Reply::Body(br#"{"syncToken": "1790000000", "prefixes": [], "ipv6_prefixes": []}"#.to_vec()),
            schedule(),
            "EmptySelection",
        ),
        (
            Reply::Body(br#"{"syncToken": "1790000000", "prefixes": [{"ip_prefix": "13.32.0.0/33", "region": "GLOBAL", "service": "CLOUDFRONT"}]}"#.to_vec()),
            schedule(),
            "InvalidIpRanges",
        ),
        (Reply::Body(newest.clone()), serde_json::json!({}), "UnsupportedEvent"),
        (Reply::Body(newest.clone()), sns_event(serde_json::json!("{}")), "InvalidNotification"),
    ];
    for (reply, event, kind) in cases {
        w.server.set(reply.clone());
        let app = w.app(&[]).await;
        let err = app.handle(&event, None).await.unwrap_err();
        assert_eq!(err.kind(), kind, "{reply:?}: {err}");
        assert_eq!(app.accounts[0].ec2.writes(), 0, "{reply:?}");
    }
    assert!(w.state(&w.global).await.is_empty());
    assert!(w.state(&w.regional).await.is_empty());
}

#[tokio::test]
async fn a_body_over_the_size_cap_is_refused() {
    let w = world(NEWEST, 4, 4).await;
    let app = w.app(&[("DOWNLOAD_MAX_BYTES", "1000000")]).await;
    let err = app.handle(&notification_for(&fixture(NEWEST)), None).await.unwrap_err();
    assert!(matches!(err, Error::TooLarge { limit: 1_000_000, .. }), "{err:?}");
    assert_eq!(app.accounts[0].ec2.writes(), 0);
}

#[tokio::test]
async fn hand_made_rules_and_groups_not_tagged_for_us_are_never_touched() {
    // Hand-made rules take room too: a fifth group holds what they displace.
    let w = world(NEWEST, 5, 4).await;
    let c = &w.client;
    let other = create_group(c, &w.vpc, "app", &[]).await;
    add_hand_made_rules(c, &w.global[0], &other).await;
    // A wanted CloudFront range already open by hand on 443 counts as present.
    let cf: Cidr = "13.32.0.0/15".parse().unwrap();
    c.authorize_security_group_ingress()
        .group_id(&w.global[1])
        .ip_permissions(
            aws_sdk_ec2::types::IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(443)
                .to_port(443)
                .ip_ranges(
                    aws_sdk_ec2::types::IpRange::builder()
                        .cidr_ip(cf.to_string())
                        .description("by hand")
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let untagged = create_group(c, &w.vpc, "untagged", &[("Name", "cloudfront_g")]).await;
    let off = create_group(
        c,
        &w.vpc,
        "off",
        &[("Name", "cloudfront_g"), ("AutoUpdate", "false"), ("Protocol", "https")],
    )
    .await;
    // tag-value would match this one: cloudfront_g is a value, but not of the Name key.
    let loose = create_group(
        c,
        &w.vpc,
        "loose",
        &[("Role", "cloudfront_g"), ("AutoUpdate", "true"), ("Protocol", "https")],
    )
    .await;
    let upper = create_group(
        c,
        &w.vpc,
        "upper",
        &[("Name", "cloudfront_g"), ("AutoUpdate", "True"), ("Protocol", "https")],
    )
    .await;
    let mut before = Vec::new();
    for g in [&w.global[0], &untagged, &off, &loose, &upper, &other] {
        before.push(rules(c, g).await);
    }

    let summary = w.notify(NEWEST).await.unwrap();

    // The hand-made rules are all still there, and the untagged groups are exactly as they were.
    let after_first = rules(c, &w.global[0]).await;
    assert!(
        before[0].is_subset(&after_first),
        "hand-made rules of a synced group were touched"
    );
    for (g, b) in [&untagged, &off, &loose, &upper, &other].iter().zip(&before[1..]) {
        assert_eq!(&rules(c, g).await, b, "{g} changed");
    }
    // The hand-made CloudFront rule is not duplicated by ours.
    let ours = w.state(&w.global).await;
    assert!(!ours.contains(&cf));
    let mut wanted = selection(&fixture(NEWEST)).ranges(Scope::Global).clone();
    assert!(wanted.remove(&cf), "the hand-made rule's range is a CloudFront one");
    assert_eq!(ours, wanted, "every other wanted range, ours");
    assert_eq!(summary.sets[0].unchanged, 1);
    assert_eq!(summary.sets[0].groups, w.global);
}

#[tokio::test]
async fn each_vpc_and_region_gets_its_own_full_copy() {
    let w = world(NEWEST, 4, 0).await;
    let vpc2 = create_vpc(&w.client, "10.1.0.0/16").await;
    let mut g2 = Vec::new();
    for i in 0..4 {
        g2.push(tagged_group(&w.client, &vpc2, &format!("v2-{i}"), Scope::Global, "https").await);
    }
    let eu = w.moto.client("eu-west-1").await;
    let vpc3 = create_vpc(&eu, "10.2.0.0/16").await;
    let mut g3 = Vec::new();
    for i in 0..4 {
        g3.push(tagged_group(&eu, &vpc3, &format!("eu-{i}"), Scope::Global, "443").await);
    }
    let summary = w
        .app(&[("REGIONS", "us-east-1,eu-west-1")])
        .await
        .handle(&notification_for(&fixture(NEWEST)), None)
        .await
        .unwrap();
    let wanted = selection(&fixture(NEWEST));
    let want = wanted.ranges(Scope::Global);
    assert_eq!(w.state(&w.global).await, *want);
    assert_eq!(set_state(&w.client, &g2, 443, 30).await, *want);
    assert_eq!(set_state(&eu, &g3, 443, 30).await, *want);
    let regions: BTreeSet<(String, String)> = summary
        .sets
        .iter()
        .map(|s| (s.key.region.clone(), s.key.vpc.clone()))
        .collect();
    assert_eq!(regions.len(), 3);
}

#[tokio::test]
async fn a_set_too_small_fails_alone_and_is_left_exactly_as_it_was() {
    let w = world(NEWEST, 4, 0).await;
    let vpc2 = create_vpc(&w.client, "10.1.0.0/16").await;
    let small = tagged_group(&w.client, &vpc2, "small", Scope::Global, "https").await;
    add_hand_made_rules(&w.client, &small, &w.global[0]).await;
    let before = rules(&w.client, &small).await;

    let err = w.notify(NEWEST).await.unwrap_err();
    let Error::SetsFailed {
        sets_failed,
        sets,
        lists: 0,
        groups_skipped,
        regions_failed,
        ref messages,
        ..
    } = err
    else {
        panic!("{err:?}")
    };
    assert_eq!((sets_failed, sets, groups_skipped, regions_failed), (1, 2, 0, 0));
    assert!(
        messages[0].contains(&vpc2) && messages[0].contains("more group(s)"),
        "{messages:?}"
    );
    assert_eq!(rules(&w.client, &small).await, before);
    assert_eq!(
        w.state(&w.global).await,
        *selection(&fixture(NEWEST)).ranges(Scope::Global)
    );
}

#[tokio::test]
async fn switching_off_ipv6_revokes_only_our_ipv6_rules() {
    let w = world(NEWEST, 4, 0).await;
    w.notify(NEWEST).await.unwrap();
    let summary = w
        .app(&[("IP_VERSIONS", "ipv4")])
        .await
        .handle(&schedule(), None)
        .await
        .unwrap();
    assert_eq!(summary.sets[0].removed, 32);
    let state = w.state(&w.global).await;
    assert!(state.iter().all(|c| c.version() == IpVersion::Ipv4));
    assert_eq!(state.len(), 118);
}

#[tokio::test]
async fn dry_run_plans_and_writes_nothing() {
    let w = world(NEWEST, 4, 4).await;
    let app = w.app(&[("DRY_RUN", "true")]).await;
    let summary = app.handle(&notification_for(&fixture(NEWEST)), None).await.unwrap();
    assert_eq!(app.accounts[0].ec2.writes(), 0);
    assert!(summary.dry_run);
    assert_eq!(summary.sets[0].status, TargetStatus::Planned);
    assert_eq!(summary.sets[0].added, 150);
    assert!(w.state(&w.global).await.is_empty());
}

#[tokio::test]
async fn a_group_with_a_bad_protocol_tag_is_reported_and_the_others_sync() {
    let w = world(NEWEST, 4, 0).await;
    let bad = create_group(
        &w.client,
        &w.vpc,
        "bad",
        &[("Name", "cloudfront_g"), ("AutoUpdate", "true"), ("Protocol", "ftp")],
    )
    .await;
    let err = w.notify(NEWEST).await.unwrap_err();
    assert!(
        err.to_string().contains(&bad) && err.to_string().contains("\"ftp\""),
        "{err}"
    );
    assert!(rules(&w.client, &bad).await.is_empty());
    assert_eq!(
        w.state(&w.global).await,
        *selection(&fixture(NEWEST)).ranges(Scope::Global)
    );
}

#[tokio::test]
async fn a_group_tagged_for_a_port_cloudfront_never_uses_is_skipped_and_nothing_is_opened() {
    // Anyone allowed to tag could otherwise open SSH (or SMB) to every CloudFront address.
    let w = world(NEWEST, 4, 0).await;
    let mut skipped = Vec::new();
    for port in ["22", "445", "1023"] {
        let tags = [("Name", "cloudfront_g"), ("AutoUpdate", "true"), ("Protocol", port)];
        skipped.push(create_group(&w.client, &w.vpc, &format!("port-{port}"), &tags).await);
    }
    let allowed = [("Name", "cloudfront_g"), ("AutoUpdate", "true"), ("Protocol", "8443")];
    let high = create_group(&w.client, &w.vpc, "port-8443", &allowed).await;
    assert!(rules(&w.client, &high).await.is_empty());
    let err = w.notify(NEWEST).await.unwrap_err();
    for (group, port) in skipped.iter().zip(["22", "445", "1023"]) {
        let said = format!("names port {port}, which CloudFront never connects to");
        assert!(
            err.to_string().contains(group) && err.to_string().contains(&said),
            "{err}"
        );
        assert!(
            rules(&w.client, group).await.is_empty(),
            "nothing opened on port {port}"
        );
    }
    // A port from 1024 up is a set of its own (one group: too small for the GLOBAL ranges, and said so).
    let text = err.to_string();
    assert!(
        !text.contains(&format!("group {high} in")) && text.contains("cloudfront_g/8443"),
        "{err}"
    );
    assert_eq!(
        w.state(&w.global).await,
        *selection(&fixture(NEWEST)).ranges(Scope::Global)
    );
}

#[tokio::test]
async fn an_older_snapshot_after_a_newer_one_converges_both_ways() {
    // 2021 → 2026: blocks split and merged, IPv6 grew; then back.
    let w = world(OLDEST, 4, 4).await;
    w.app(&[]).await.handle(&schedule(), None).await.unwrap();
    assert_eq!(
        w.state(&w.regional).await,
        *selection(&fixture(OLDEST)).ranges(Scope::Regional)
    );
    w.server.set(Reply::Body(fixture(NEWEST)));
    w.app(&[]).await.handle(&schedule(), None).await.unwrap();
    assert_eq!(
        w.state(&w.global).await,
        *selection(&fixture(NEWEST)).ranges(Scope::Global)
    );
    assert_eq!(
        w.state(&w.regional).await,
        *selection(&fixture(NEWEST)).ranges(Scope::Regional)
    );
}

/// A network interface in a new subnet of the world's VPC, carrying `groups`, described as `description`.
async fn interface(w: &World, cidr: &str, groups: &[String], description: &str) -> String {
    let subnet = w
        .client
        .create_subnet()
        .vpc_id(&w.vpc)
        .cidr_block(cidr)
        .send()
        .await
        .unwrap();
    let subnet = subnet.subnet().unwrap().subnet_id().unwrap();
    let eni = w
        .client
        .create_network_interface()
        .subnet_id(subnet)
        .set_groups(Some(groups.to_vec()))
        .description(description)
        .send()
        .await
        .unwrap();
    eni.network_interface()
        .unwrap()
        .network_interface_id()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_load_balancer_carrying_part_of_a_set_is_reported_and_whole_or_unattached_sets_are_not() {
    let w = world(NEWEST, 4, 4).await;
    // A third set, on http, that nothing carries.
    for i in 0..4 {
        tagged_group(&w.client, &w.vpc, &format!("cf-g-http-{i}"), Scope::Global, "http").await;
    }
    // Three of the four GLOBAL https groups on a load balancer's interface. (moto answers a `group-id` filter
    // of many values only with interfaces whose groups are all among them, where EC2 answers any interface
    // carrying one: an interface with a group of its own is covered by the mocked tests.)
    let part = w.global[..3].to_vec();
    let balancer = interface(&w, "10.0.1.0/24", &part, "ELB app/web/50dc6c495c0c9188").await;
    // Every regional group on an instance's interface.
    interface(&w, "10.0.2.0/24", &w.regional, "").await;

    let app = w.app(&[]).await;
    let summary = app.handle(&notification_for(&fixture(NEWEST)), None).await.unwrap();

    assert_eq!(summary.sets.len(), 3);
    for set in &summary.sets {
        assert_eq!(
            set.status,
            TargetStatus::Synced,
            "a warning does not stop the sync: {set:?}"
        );
        let partly = &set.partly_attached;
        match (set.key.scope, set.key.port) {
            (Scope::Global, 443) => {
                assert_eq!(partly.len(), 1, "{partly:?}");
                assert_eq!(partly[0].interface, balancer);
                assert_eq!(partly[0].attachment, "load balancer app/web/50dc6c495c0c9188");
                assert_eq!(partly[0].missing, [w.global[3].clone()]);
            }
            _ => assert_eq!(partly, &[], "{}", set.key),
        }
    }
    assert_eq!(
        app.accounts[0]
            .ec2
            .interface_describes
            .load(std::sync::atomic::Ordering::SeqCst),
        1,
        "one describe for the region"
    );
    let json = serde_json::to_value(&summary).unwrap();
    let reported: Vec<&serde_json::Value> = json["sets"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s.get("partly_attached"))
        .collect();
    assert_eq!(
        reported,
        [&serde_json::json!([{
            "interface": balancer,
            "attachment": "load balancer app/web/50dc6c495c0c9188",
            "missing": [w.global[3]],
        }])]
    );

    // `make demo` prints this answer with scripts/show_summary.py: it reads the real fields.
    let answer = std::env::temp_dir().join(format!("summary-{balancer}.json"));
    std::fs::write(&answer, serde_json::to_vec(&summary).unwrap()).unwrap();
    let shown = std::process::Command::new("python3")
        .arg(repo_file("scripts/show_summary.py"))
        .arg(&answer)
        .output()
        .expect("python3 runs scripts/show_summary.py");
    let _ = std::fs::remove_file(&answer);
    let text = String::from_utf8_lossy(&shown.stdout);
    assert!(
        shown.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&shown.stderr)
    );
    assert!(
        text.contains(&format!("us-east-1/{}/cloudfront_g/https", w.vpc)),
        "{text}"
    );
    let warning = format!(
        "warning: {balancer} (load balancer app/web/50dc6c495c0c9188) carries part of cloudfront_g/https but not {}",
        w.global[3]
    );
    assert!(text.contains(&warning), "{text}");
}

#[tokio::test]
async fn a_max_rules_per_group_above_the_accounts_quota_names_the_quota_and_is_not_re_planned() {
    // moto's quota is 60 rules per group; one group would take every GLOBAL range of both versions.
    let w = world(NEWEST, 1, 0).await;
    let wanted = selection(&fixture(NEWEST));
    assert!(
        wanted.ranges(Scope::Global).len() > 60,
        "the file needs more than the quota"
    );
    let app = w.app(&[("MAX_RULES_PER_GROUP", "200")]).await;
    let summary = app.handle(&notification_for(&fixture(NEWEST)), None).await;
    let Err(err) = summary else {
        panic!("the set cannot be synced past the quota")
    };
    let text = err.to_string();
    for named in [w.global[0].as_str(), "MAX_RULES_PER_GROUP (200)", "L-0EA8095F"] {
        assert!(text.contains(named), "{named} not in {text}");
    }
    assert!(!text.contains("another writer?"), "{text}");
    let Error::SetsFailed { messages, .. } = err else {
        panic!()
    };
    assert_eq!(messages.len(), 1, "{messages:?}");
}
