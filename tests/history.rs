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
use cloudfront_sg_sync::report::{SetStatus, Summary};
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
        rules: ec2.writes(),
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
fn statuses(summary: &Summary) -> Vec<SetStatus> {
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
            statuses(&summary).iter().all(|s| *s == SetStatus::OlderFile),
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
        assert!(statuses(&summary).iter().all(|s| *s == SetStatus::OlderFile), "{older}");
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
                .all(|s| matches!(s, SetStatus::Synced | SetStatus::InSync))
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
        (SetStatus::Synced, vec![doomed.clone()]),
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
        (SetStatus::InSync, 5)
    );
}
