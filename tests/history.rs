//! CloudFront's real history against moto: every real snapshot the repo carries, in date order, through two
//! sets of security groups, two prefix lists and two WAF IP sets (exact state after each file, writes counted);
//! then the same files in the orders that go backwards (nothing written); pairs A and B in both orders on the
//! lists and IP sets; a group deleted between discovery and the first write. Lagging reads are in
//! `tests/faults.rs` (moto's reads never lag).

mod common;
#[path = "common/waf.rs"]
mod waf;

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;

use aws_sdk_ec2::Client;
use aws_sdk_wafv2::types::Scope as ApiScope;
use cloudfront_sg_sync::domain::cidr::{Cidr, IpVersion};
use cloudfront_sg_sync::domain::ip_ranges::Scope;
use cloudfront_sg_sync::report::{Summary, TargetStatus};
use common::*;
use waf::*;

/// Every bundled real snapshot, in date order (pair C, pair A and pair B among them).
const HISTORY: [&str; 8] = [
    "ip-ranges-2021-10-12-17-13-16.json",
    "ip-ranges-2024-05-28-20-33-10.json",
    "ip-ranges-2024-05-29-15-53-09.json",
    "ip-ranges-2024-07-09-02-03-09.json",
    "ip-ranges-2025-11-17-20-08-21.json",
    "ip-ranges-2025-11-17-21-58-25.json",
    "ip-ranges-2026-08-22-11-57-05.json",
    "ip-ranges-2026-08-22-15-17-05.json",
];

const TAGGED_G: [(&str, &str); 2] = [("Name", "cloudfront_g"), ("AutoUpdate", "true")];
const TAGGED_R: [(&str, &str); 2] = [("Name", "cloudfront_r"), ("AutoUpdate", "true")];

/// The targets beside the world's sets: a GLOBAL IPv4 and a regional IPv6 prefix list, a GLOBAL IPv4 and a
/// regional IPv6 WAF IP set (the regional IPv6 ones are those pair C empties).
struct Targets {
    waf: aws_sdk_wafv2::Client,
    g4_list: String,
    r6_list: String,
    g4_set: String,
    r6_set: String,
}

async fn targets(w: &World) -> Targets {
    let waf = waf(&w.endpoint).await;
    Targets {
        g4_list: sized_list(&w.client, "IPv4", &TAGGED_G, 200, &[]).await,
        r6_list: sized_list(&w.client, "IPv6", &TAGGED_R, 40, &[]).await,
        g4_set: create(&waf, "g4", ApiScope::Regional, false, &TAGGED_G, &[]).await,
        r6_set: create(&waf, "r6", ApiScope::Regional, true, &TAGGED_R, &[]).await,
        waf,
    }
}

/// The CIDRs of prefix list `id`.
async fn list_cidrs(client: &Client, id: &str) -> BTreeSet<Cidr> {
    list_entries(client, id).await.into_keys().collect()
}

/// Writes of one run: rule calls, list modifications, file marks; and the IP sets' lock tokens after it.
#[derive(Debug, PartialEq, Eq)]
struct Writes {
    rules: usize,
    lists: usize,
    marks: usize,
}

/// Serve `file` and run the function on its notification, with the WAF adapter: the summary and the writes.
async fn replay(w: &World, file: &str) -> (Summary, Writes) {
    w.server.set(Reply::Body(fixture(file)));
    let app = app(w, &[]).await;
    let summary = app.handle(&notification_for(&fixture(file)), None).await.unwrap();
    let ec2 = &app.accounts[0].ec2;
    let writes = Writes {
        rules: ec2.rule_writes(),
        lists: ec2.list_modifies.load(Ordering::SeqCst),
        marks: ec2.tag_writes.load(Ordering::SeqCst),
    };
    (summary, writes)
}

/// Every target holds exactly `file`'s ranges of its scope and family.
async fn assert_exact(w: &World, t: &Targets, file: &str) {
    let both = |scope| -> BTreeSet<Cidr> { IpVersion::ALL.iter().flat_map(|v| wanted(file, scope, *v)).collect() };
    assert_eq!(w.state(&w.global).await, both(Scope::Global), "{file}: GLOBAL set");
    assert_eq!(
        w.state(&w.regional).await,
        both(Scope::Regional),
        "{file}: regional set"
    );
    let g4 = wanted(file, Scope::Global, IpVersion::Ipv4);
    let r6 = wanted(file, Scope::Regional, IpVersion::Ipv6);
    assert_eq!(list_cidrs(&w.client, &t.g4_list).await, g4, "{file}: GLOBAL IPv4 list");
    assert_eq!(
        list_cidrs(&w.client, &t.r6_list).await,
        r6,
        "{file}: regional IPv6 list"
    );
    let regional = ApiScope::Regional;
    assert_eq!(
        held(&t.waf, "g4", regional.clone(), &t.g4_set).await.0,
        g4,
        "{file}: IP set g4"
    );
    assert_eq!(held(&t.waf, "r6", regional, &t.r6_set).await.0, r6, "{file}: IP set r6");
}

/// The statuses of every target of a run: sets, lists, IP sets.
fn statuses(summary: &Summary) -> Vec<TargetStatus> {
    let sets = summary.sets.iter().map(|s| s.status);
    let entries = summary.entry_changes().map(|c| c.status);
    sets.chain(entries).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nine_years_of_real_files_in_order_keep_every_target_exact_and_older_files_write_nothing() {
    let w = world(HISTORY[0], 5, 4).await;
    let t = targets(&w).await;
    let mut table = Vec::new();
    for file in HISTORY {
        let (summary, writes) = replay(&w, file).await;
        assert!(summary.failures().is_empty(), "{file}: {:?}", summary.failures());
        assert_eq!(statuses(&summary).len(), 6, "{file}: two sets, two lists, two IP sets");
        assert_exact(&w, &t, file).await;
        table.push((file, writes, summary.added(), summary.removed()));
    }
    for (file, writes, added, removed) in &table {
        println!("{file}: {writes:?}, +{added} -{removed}");
    }
    // Pair C (2024-05-28 -> 2024-05-29): the regional IPv6 scope empties and is applied on every target.
    let (_, pair_c, added, removed) = &table[2];
    assert!(
        pair_c.rules > 0 && pair_c.lists == 1 && (*added, *removed) == (1, 19 * 3),
        "{pair_c:?} +{added} -{removed}"
    );
    // Pair B: a new syncToken, no CloudFront change: no rule or entry written, only the marks.
    let (_, pair_b, _, _) = &table[7];
    assert_eq!((pair_b.rules, pair_b.lists), (0, 0), "{pair_b:?}");

    // Backwards: every older file after the newest is refused by every target, and writes nothing at all.
    let tokens = |t: &Targets| {
        let waf = t.waf.clone();
        let (g4, r6) = (t.g4_set.clone(), t.r6_set.clone());
        async move {
            let regional = ApiScope::Regional;
            (
                held(&waf, "g4", regional.clone(), &g4).await.1,
                held(&waf, "r6", regional, &r6).await.1,
            )
        }
    };
    let locks = tokens(&t).await;
    for file in HISTORY.iter().rev().skip(1) {
        let (summary, writes) = replay(&w, file).await;
        assert!(
            statuses(&summary).iter().all(|s| *s == TargetStatus::OlderFile),
            "{file}: {:?}",
            statuses(&summary)
        );
        assert_eq!(
            writes,
            Writes {
                rules: 0,
                lists: 0,
                marks: 0
            },
            "{file}"
        );
        assert!(summary.failures().is_empty(), "{file}");
    }
    assert_eq!(tokens(&t).await, locks, "no IP set updated");
    assert_exact(&w, &t, HISTORY[7]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pairs_a_and_b_in_both_orders_never_take_a_list_or_ip_set_backwards() {
    for (older, newer) in [(HISTORY[4], HISTORY[5]), (HISTORY[6], HISTORY[7])] {
        // Newer first, then the older: kept, nothing written.
        let w = world(newer, 0, 0).await;
        let t = targets(&w).await;
        replay(&w, newer).await;
        let (summary, writes) = replay(&w, older).await;
        assert!(
            statuses(&summary).iter().all(|s| *s == TargetStatus::OlderFile),
            "{older}"
        );
        assert_eq!((writes.lists, writes.marks), (0, 0));
        let g4 = wanted(newer, Scope::Global, IpVersion::Ipv4);
        assert_eq!(list_cidrs(&w.client, &t.g4_list).await, g4);
        assert_eq!(held(&t.waf, "g4", ApiScope::Regional, &t.g4_set).await.0, g4);

        // Older first, then the newer: both applied in turn.
        let w = world(older, 0, 0).await;
        let t = targets(&w).await;
        replay(&w, older).await;
        let (summary, _) = replay(&w, newer).await;
        assert!(
            statuses(&summary)
                .iter()
                .all(|s| matches!(s, TargetStatus::Synced | TargetStatus::InSync))
        );
        assert_eq!(list_cidrs(&w.client, &t.g4_list).await, g4);
        assert_eq!(held(&t.waf, "g4", ApiScope::Regional, &t.g4_set).await.0, g4);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_deleted_between_discovery_and_the_first_write_drops_out_and_the_set_syncs_in_the_same_run() {
    let w = world(NEWEST, 6, 0).await;
    let doomed = w.global[5].clone();
    let app = w.app(&[]).await;
    *app.accounts[0].ec2.delete_before_first_write.lock().unwrap() = Some((w.client.clone(), doomed.clone()));
    let summary = app.handle(&schedule(), None).await.unwrap();
    let set = &summary.sets[0];
    assert_eq!(
        (set.status, set.gone_groups.clone()),
        (TargetStatus::Synced, vec![doomed.clone()]),
        "{summary}"
    );
    let left: Vec<String> = w.global[..5].to_vec();
    let global: BTreeSet<Cidr> = IpVersion::ALL
        .iter()
        .flat_map(|v| wanted(NEWEST, Scope::Global, *v))
        .collect();
    assert_eq!(w.state(&left).await, global);

    // The next run finds the five groups left and has nothing to do.
    let again = w.app(&[]).await.handle(&schedule(), None).await.unwrap();
    assert_eq!(
        (again.sets[0].status, again.sets[0].groups.len()),
        (TargetStatus::InSync, 5)
    );
}

/// `file` with `entry` (a JSON object) first in its list `list` (`prefixes` or `ipv6_prefixes`), the rest byte
/// for byte as AWS served it.
fn with_entry(file: &[u8], list: &str, entry: &str) -> Vec<u8> {
    let text = String::from_utf8(file.to_vec()).unwrap();
    let opening = format!("\"{list}\": [\n");
    assert!(text.contains(&opening), "{list}");
    text.replacen(&opening, &format!("{opening}    {entry},\n"), 1)
        .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_file_with_a_matching_md5_or_on_a_schedule_writes_nothing_to_any_target() {
    let w = world(HISTORY[6], 5, 4).await;
    let t = targets(&w).await;
    replay(&w, HISTORY[6]).await;
    let regional = ApiScope::Regional;
    let locks = (
        held(&t.waf, "g4", regional.clone(), &t.g4_set).await.1,
        held(&t.waf, "r6", regional.clone(), &t.r6_set).await.1,
    );
    let newest = fixture(HISTORY[7]);
    let entry = |field: &str, range: &str, region: &str| {
        format!(
            r#"{{"{field}": "{range}", "region": "{region}", "service": "CLOUDFRONT", "network_border_group": "{region}"}}"#
        )
    };
    let cases = [
        ("prefixes", entry("ip_prefix", "0.0.0.0/0", "GLOBAL"), "0.0.0.0/0"),
        ("prefixes", entry("ip_prefix", "16.0.0.0/4", "GLOBAL"), "16.0.0.0/4"),
        ("prefixes", entry("ip_prefix", "10.0.0.0/8", "us-east-1"), "10.0.0.0/8"),
        ("prefixes", entry("ip_prefix", "127.0.0.0/8", "GLOBAL"), "127.0.0.0/8"),
        ("ipv6_prefixes", entry("ipv6_prefix", "::/0", "GLOBAL"), "::/0"),
        (
            "ipv6_prefixes",
            entry("ipv6_prefix", "fc00::/7", "us-east-1"),
            "fc00::/7",
        ),
    ];
    for (list, entry, range) in cases {
        let tampered = with_entry(&newest, list, &entry);
        w.server.set(Reply::Body(tampered.clone()));
        // Its notification carries the tampered file's own MD5: the MD5 proves nothing about the ranges.
        let md5 = cloudfront_sg_sync::domain::ip_ranges::md5_hex(&tampered);
        for event in [notification("1787411825", &md5), schedule()] {
            let app = app(&w, &[]).await;
            let err = app.handle(&event, None).await.unwrap_err();
            assert_eq!(err.kind(), "ImplausibleRange", "{range}: {err}");
            let text = err.to_string();
            assert!(text.contains(range) && text.contains("syncToken 1787411825"), "{text}");
            let ec2 = &app.accounts[0].ec2;
            let writes = (
                ec2.rule_writes(),
                ec2.list_modifies.load(Ordering::SeqCst),
                ec2.tag_writes.load(Ordering::SeqCst),
            );
            assert_eq!(writes, (0, 0, 0), "{range}: rules, list modifications, marks");
        }
    }
    let after = (
        held(&t.waf, "g4", regional.clone(), &t.g4_set).await.1,
        held(&t.waf, "r6", regional, &t.r6_set).await.1,
    );
    assert_eq!(after, locks, "no IP set updated");
    assert_exact(&w, &t, HISTORY[6]).await;
}

/// The mark tag of a group or prefix list.
async fn ec2_mark(client: &Client, id: &str) -> Option<String> {
    let filter = aws_sdk_ec2::types::Filter::builder()
        .name("resource-id")
        .values(id)
        .build();
    let out = client.describe_tags().filters(filter).send().await.unwrap();
    let tag = out
        .tags()
        .iter()
        .find(|t| t.key() == Some("cloudfront-sg-sync:synctoken"));
    tag.and_then(|t| t.value()).map(str::to_owned)
}

/// Tag a group or prefix list with the mark `value`, as anyone allowed `ec2:CreateTags` may.
async fn forge_ec2(client: &Client, id: &str, value: &str) {
    let tag = aws_sdk_ec2::types::Tag::builder()
        .key("cloudfront-sg-sync:synctoken")
        .value(value)
        .build();
    client.create_tags().resources(id).tags(tag).send().await.unwrap();
}

/// The ARN of IP set `name`/`id` (REGIONAL).
async fn ip_set_arn(waf: &aws_sdk_wafv2::Client, name: &str, id: &str) -> String {
    let out = waf
        .get_ip_set()
        .name(name)
        .scope(ApiScope::Regional)
        .id(id)
        .send()
        .await
        .unwrap();
    out.ip_set().unwrap().arn().to_owned()
}

/// The mark tag of an IP set.
async fn waf_mark(waf: &aws_sdk_wafv2::Client, arn: &str) -> Option<String> {
    let out = waf.list_tags_for_resource().resource_arn(arn).send().await.unwrap();
    let tags = out.tag_info_for_resource().map(|t| t.tag_list()).unwrap_or_default();
    let tag = tags.iter().find(|t| t.key() == "cloudfront-sg-sync:synctoken");
    tag.map(|t| t.value().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_marks_on_a_group_a_prefix_list_and_an_ip_set_are_overridden_with_the_real_file_and_reported() {
    let w = world(HISTORY[5], 5, 4).await;
    let t = targets(&w).await;
    replay(&w, HISTORY[5]).await;
    // One group of the GLOBAL set, the GLOBAL list and the GLOBAL IP set carry a mark from the future; the
    // regional list one that is no mark at all.
    forge_ec2(&w.client, &w.global[2], "9999999999 ipv4 ipv6").await;
    forge_ec2(&w.client, &t.g4_list, "4102444800 ipv4").await;
    forge_ec2(&w.client, &t.r6_list, "newest").await;
    let g4_arn = ip_set_arn(&t.waf, "g4", &t.g4_set).await;
    let tag = aws_sdk_wafv2::types::Tag::builder()
        .key("cloudfront-sg-sync:synctoken")
        .value("9999999999 ipv4")
        .build()
        .unwrap();
    t.waf
        .tag_resource()
        .resource_arn(&g4_arn)
        .tags(tag)
        .send()
        .await
        .unwrap();

    let (summary, _) = replay(&w, HISTORY[6]).await;
    assert!(summary.failures().is_empty(), "{:?}", summary.failures());
    assert!(
        !statuses(&summary).contains(&TargetStatus::OlderFile),
        "no target frozen: {:?}",
        statuses(&summary)
    );
    assert_exact(&w, &t, HISTORY[6]).await;
    let forged: BTreeSet<(String, String)> = (summary.forged_marks())
        .map(|(_, m)| (m.target.clone(), m.value.clone()))
        .collect();
    let expected: BTreeSet<(String, String)> = [
        (w.global[2].clone(), "9999999999 ipv4 ipv6"),
        (t.g4_list.clone(), "4102444800 ipv4"),
        (t.r6_list.clone(), "newest"),
        ("REGIONAL/g4".to_owned(), "9999999999 ipv4"),
    ]
    .into_iter()
    .map(|(target, value)| (target, value.to_owned()))
    .collect();
    assert_eq!(forged, expected);
    // Every mark now records the real file applied (syncToken 1787399825).
    let marks = [
        ec2_mark(&w.client, &w.global[2]).await,
        ec2_mark(&w.client, &t.g4_list).await,
        ec2_mark(&w.client, &t.r6_list).await,
        waf_mark(&t.waf, &g4_arn).await,
    ];
    for mark in &marks {
        assert!(
            mark.as_deref().is_some_and(|m| m.starts_with("1787399825 ")),
            "{marks:?}"
        );
    }

    // The next run trusts the marks it wrote: nothing forged, nothing to do.
    let (again, writes) = replay(&w, HISTORY[6]).await;
    assert_eq!(again.forged_marks().count(), 0);
    assert_eq!((writes.rules, writes.lists, writes.marks), (0, 0, 0));
}
