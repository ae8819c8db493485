//! Prefix lists against moto: the adapter (tagged lists found with their entries, untagged ones not, a
//! modification at the list's version), and whole runs of the function on real files. Moto does not enforce
//! `CurrentVersion` nor model MaxEntries changes: conflicts, the 100-entry cap, `modify-in-progress` and growth are
//! covered in memory (`src/sync/prefix_lists_tests.rs`).

mod common;

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;

use aws_sdk_ec2::Client;
use cloudfront_sg_sync::Error;
use cloudfront_sg_sync::domain::cidr::{Cidr, IpVersion};
use cloudfront_sg_sync::domain::ip_ranges::Scope;
use cloudfront_sg_sync::domain::prefix_lists::{Entry, Modification};
use cloudfront_sg_sync::domain::security_groups::DESCRIPTION_PREFIX;
use cloudfront_sg_sync::ports::{ListAt, PrefixLists};
use cloudfront_sg_sync::report::{ListReport, Summary, TargetStatus};
use common::*;

fn c(s: &str) -> Cidr {
    s.parse().unwrap()
}

const TAGGED_G: [(&str, &str); 2] = [("Name", "cloudfront_g"), ("AutoUpdate", "true")];
const TAGGED_R: [(&str, &str); 2] = [("Name", "cloudfront_r"), ("AutoUpdate", "true")];

/// A prefix list of at most 10 entries with these tags and entries (cidr, description).
async fn prefix_list(client: &Client, family: &str, tags: &[(&str, &str)], entries: &[(&str, &str)]) -> String {
    sized_list(client, family, tags, 10, entries).await
}

#[tokio::test]
async fn tagged_lists_are_read_with_their_entries_and_modified_at_their_version() {
    let moto = Moto::start();
    let client = moto.client("us-east-1").await;
    let ours = format!("{DESCRIPTION_PREFIX}: CLOUDFRONT GLOBAL");
    let tagged = TAGGED_G;
    let v4 = prefix_list(
        &client,
        "IPv4",
        &tagged,
        &[("10.0.0.0/24", &ours), ("192.0.2.0/24", "office")],
    )
    .await;
    let v6 = prefix_list(&client, "IPv6", &tagged, &[]).await;
    prefix_list(&client, "IPv4", &[("Name", "cloudfront_g")], &[]).await;
    let config = config(&[("AWS_REGION", "us-east-1")]);
    let ec2 = groups_at(&moto.endpoint, &config).await;

    let mut lists = ec2.tagged_lists("us-east-1").await.unwrap().tagged;
    lists.sort_by_key(|l| l.list.family);
    let ids: Vec<&str> = lists.iter().map(|l| l.list.id.as_str()).collect();
    assert_eq!(
        ids,
        [v4.as_str(), v6.as_str()],
        "the list without AutoUpdate is not read"
    );
    let list = &lists[0];
    assert_eq!(
        (list.scope, list.list.family, list.list.max_entries),
        (Scope::Global, IpVersion::Ipv4, 10)
    );
    let entries: BTreeSet<(Cidr, bool)> = list.list.entries.iter().map(|e| (e.cidr, e.ours())).collect();
    assert_eq!(entries, [(c("10.0.0.0/24"), true), (c("192.0.2.0/24"), false)].into());

    let change = Modification {
        add: [c("10.0.1.0/24")].into(),
        remove: [c("10.0.0.0/24")].into(),
    };
    let at = ListAt {
        region: "us-east-1",
        id: &v4,
        version: list.version,
    };
    let version = ec2.modify(at, &change, &ours).await.unwrap();
    assert_eq!(version, list.version + 1);
    let after = ec2.tagged_lists("us-east-1").await.unwrap().tagged;
    let after = after.iter().find(|l| l.list.id == v4).unwrap();
    let mut entries = after.list.entries.clone();
    entries.sort_by_key(|e| e.cidr);
    assert_eq!(
        entries,
        [
            Entry {
                cidr: c("10.0.1.0/24"),
                description: Some(ours.clone())
            },
            Entry {
                cidr: c("192.0.2.0/24"),
                description: Some("office".into())
            },
        ]
    );
    let now = ec2.state("us-east-1", &v4).await.unwrap().version;
    assert_eq!(now, version);
}

fn report<'a>(summary: &'a Summary, id: &str) -> &'a ListReport {
    summary.prefix_lists.iter().find(|l| l.target.id == id).unwrap()
}

#[tokio::test]
async fn lists_fill_from_empty_with_their_scope_and_family_keep_hand_made_entries_and_a_repeat_modifies_nothing() {
    let w = world(NEWEST, 0, 0).await;
    let global_v4 = wanted(NEWEST, Scope::Global, IpVersion::Ipv4);
    let by_hand = global_v4.first().unwrap().to_string();
    let hand_made = [(by_hand.as_str(), "office"), ("192.0.2.0/24", "office")];
    let g4 = sized_list(&w.client, "IPv4", &TAGGED_G, 200, &hand_made).await;
    let g6 = sized_list(&w.client, "IPv6", &TAGGED_G, 50, &[]).await;
    let r4 = sized_list(&w.client, "IPv4", &TAGGED_R, 200, &[]).await;
    let untagged = sized_list(&w.client, "IPv4", &[("Name", "cloudfront_g")], 200, &[]).await;

    let app = w.app(&[]).await;
    let summary = app.handle(&notification_for(&fixture(NEWEST)), None).await.unwrap();
    let g4_now = list_entries(&w.client, &g4).await;
    let mut expected: BTreeSet<Cidr> = global_v4.clone();
    expected.insert(c("192.0.2.0/24"));
    assert_eq!(g4_now.keys().copied().collect::<BTreeSet<_>>(), expected);
    assert_eq!(
        g4_now[&c(&by_hand)],
        "office",
        "a hand-made entry keeps its description"
    );
    assert_eq!(g4_now[&c("192.0.2.0/24")], "office");
    let g6_now: BTreeSet<Cidr> = list_entries(&w.client, &g6).await.into_keys().collect();
    assert_eq!(g6_now, wanted(NEWEST, Scope::Global, IpVersion::Ipv6));
    let r4_now: BTreeSet<Cidr> = list_entries(&w.client, &r4).await.into_keys().collect();
    assert_eq!(r4_now, wanted(NEWEST, Scope::Regional, IpVersion::Ipv4));
    assert!(list_entries(&w.client, &untagged).await.is_empty());
    assert!(summary.prefix_lists.iter().all(|l| l.target.id != untagged));

    let g4_report = report(&summary, &g4);
    assert_eq!(
        (
            g4_report.changes.status,
            g4_report.changes.added,
            g4_report.changes.unchanged,
            g4_report.room_left
        ),
        (TargetStatus::Synced, global_v4.len() - 1, 1, 200 - global_v4.len() - 1)
    );
    // At most 100 entries a call.
    let calls: usize = [global_v4.len() - 1, g6_now.len(), r4_now.len()]
        .iter()
        .map(|n| n.div_ceil(100))
        .sum();
    assert_eq!(app.accounts[0].ec2.list_modifies.load(Ordering::SeqCst), calls);

    let app = w.app(&[]).await;
    let again = app.handle(&notification_for(&fixture(NEWEST)), None).await.unwrap();
    assert!(
        again
            .prefix_lists
            .iter()
            .all(|l| l.changes.status == TargetStatus::InSync),
        "{again:?}"
    );
    let ec2 = &app.accounts[0].ec2;
    assert_eq!(ec2.list_modifies.load(Ordering::SeqCst), 0);
    assert_eq!(
        ec2.list_describes.load(Ordering::SeqCst),
        1,
        "one describe for the region"
    );
}

#[tokio::test]
async fn a_list_too_small_fails_alone_and_is_left_exactly_as_it_was() {
    let w = world(NEWEST, 0, 0).await;
    let global_v4 = wanted(NEWEST, Scope::Global, IpVersion::Ipv4);
    let small = sized_list(&w.client, "IPv4", &TAGGED_G, 100, &[("192.0.2.0/24", "office")]).await;
    let r4 = sized_list(&w.client, "IPv4", &TAGGED_R, 200, &[]).await;
    let before = list_entries(&w.client, &small).await;

    let err = w.notify(NEWEST).await.unwrap_err();
    let needed = global_v4.len() + 1;
    let text = err.to_string();
    assert!(
        text.contains(&format!("prefix list us-east-1/{small} needs {needed} entries"))
            && text.contains("MaxEntries is 100"),
        "{text}"
    );
    assert!(
        matches!(
            err,
            Error::SetsFailed {
                lists_failed: 1,
                lists: 2,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(list_entries(&w.client, &small).await, before);
    let r4_now: BTreeSet<Cidr> = list_entries(&w.client, &r4).await.into_keys().collect();
    assert_eq!(
        r4_now,
        wanted(NEWEST, Scope::Regional, IpVersion::Ipv4),
        "the other list synced"
    );
}

#[tokio::test]
async fn a_real_change_modifies_each_list_by_exactly_what_changed_in_one_call() {
    let w = world(PAIR_A_OLD, 0, 0).await;
    let g4 = sized_list(&w.client, "IPv4", &TAGGED_G, 200, &[]).await;
    let r4 = sized_list(&w.client, "IPv4", &TAGGED_R, 200, &[]).await;
    w.notify(PAIR_A_OLD).await.unwrap();

    w.server.set(Reply::Body(fixture(PAIR_A_NEW)));
    let app = w.app(&[]).await;
    let summary = app.handle(&notification_for(&fixture(PAIR_A_NEW)), None).await.unwrap();
    let old = wanted(PAIR_A_OLD, Scope::Global, IpVersion::Ipv4);
    let new = wanted(PAIR_A_NEW, Scope::Global, IpVersion::Ipv4);
    let g4_now: BTreeSet<Cidr> = list_entries(&w.client, &g4).await.into_keys().collect();
    assert_eq!(g4_now, new);
    let list = report(&summary, &g4);
    assert_eq!(
        (list.changes.added, list.changes.removed),
        (new.difference(&old).count(), old.difference(&new).count())
    );
    assert_eq!((list.changes.added, list.changes.removed), (6, 3));
    assert_eq!(report(&summary, &r4).changes.status, TargetStatus::InSync);
    assert_eq!(
        app.accounts[0].ec2.list_modifies.load(Ordering::SeqCst),
        1,
        "adds and removes in one call"
    );
}

/// Let tcp `port` in from prefix list `list` on `group` (a hand-made rule).
async fn allow_from_list(client: &Client, group: &str, list: &str, port: i32) {
    let permission = aws_sdk_ec2::types::IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(port)
        .to_port(port)
        .prefix_list_ids(aws_sdk_ec2::types::PrefixListId::builder().prefix_list_id(list).build())
        .build();
    let request = client
        .authorize_security_group_ingress()
        .group_id(group)
        .ip_permissions(permission);
    request.send().await.unwrap();
}

#[tokio::test]
async fn a_tagged_list_a_rule_opens_ssh_to_is_refused_by_name_and_syncs_once_the_rule_is_gone() {
    let w = world(NEWEST, 0, 0).await;
    let g4 = sized_list(&w.client, "IPv4", &TAGGED_G, 200, &[]).await;
    let bastion = create_group(&w.client, &w.vpc, "bastion", &[]).await;
    let web = create_group(&w.client, &w.vpc, "web", &[]).await;
    allow_from_list(&w.client, &web, &g4, 443).await;
    allow_from_list(&w.client, &bastion, &g4, 22).await;

    let err = w.notify(NEWEST).await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains(&format!(
            "prefix list us-east-1/{g4} is referenced by rules that open what CloudFront never connects to ({bastion} tcp 22)"
        )),
        "{text}"
    );
    assert!(
        list_entries(&w.client, &g4).await.is_empty(),
        "nothing written to the list"
    );

    let permission = aws_sdk_ec2::types::IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(22)
        .to_port(22)
        .prefix_list_ids(aws_sdk_ec2::types::PrefixListId::builder().prefix_list_id(&g4).build())
        .build();
    let revoke = w
        .client
        .revoke_security_group_ingress()
        .group_id(&bastion)
        .ip_permissions(permission);
    revoke.send().await.unwrap();
    let summary = w.notify(NEWEST).await.unwrap();
    assert_eq!(report(&summary, &g4).changes.status, TargetStatus::Synced);
    let held: BTreeSet<Cidr> = list_entries(&w.client, &g4).await.into_keys().collect();
    assert_eq!(held, wanted(NEWEST, Scope::Global, IpVersion::Ipv4));
}
